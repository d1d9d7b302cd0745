//! Name reservations: one owner per pod or container name.
//!
//! A create first reserves its name; the [`Reservation`] guard releases it on
//! drop unless the create committed it, so a failed or abandoned create never
//! leaves a stale name behind (containerd's "failed to reserve container name").

use crate::core::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A set of reserved names, each mapped to the id that owns it.
#[derive(Debug)]
pub struct NameIndex {
    kind: &'static str,
    names: Mutex<HashMap<String, String>>,
}

impl NameIndex {
    /// An empty index for objects of `kind` ("sandbox", "container").
    pub fn new(kind: &'static str) -> Arc<Self> {
        Arc::new(NameIndex {
            kind,
            names: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, String>> {
        // A poisoned map is still consistent: every critical section is one insert or remove.
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves `name` for `id`; `AlreadyExists` when another id holds it.
    pub fn reserve(self: &Arc<Self>, name: &str, id: &str) -> Result<Reservation> {
        let mut names = self.lock();
        if let Some(owner) = names.get(name) {
            return Err(Error::AlreadyExists {
                kind: self.kind,
                name: name.to_string(),
                owner: owner.clone(),
            });
        }
        names.insert(name.to_string(), id.to_string());
        Ok(Reservation {
            index: Arc::clone(self),
            name: name.to_string(),
            committed: false,
        })
    }

    /// Re-registers a name at recovery, without a guard.
    pub fn restore(&self, name: &str, id: &str) {
        self.lock().insert(name.to_string(), id.to_string());
    }

    /// Releases `name` if `id` holds it.
    pub fn release(&self, name: &str, id: &str) {
        let mut names = self.lock();
        if names.get(name).map(String::as_str) == Some(id) {
            names.remove(name);
        }
    }

    /// Whether `name` is reserved.
    pub fn contains(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }
}

/// A held name; released on drop unless [`Reservation::commit`] was called.
#[derive(Debug)]
pub struct Reservation {
    index: Arc<NameIndex>,
    name: String,
    committed: bool,
}

impl Reservation {
    /// Keeps the name reserved past this guard (the object now exists).
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.committed {
            self.index.lock().remove(&self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_reservation_of_a_name_is_refused() {
        let index = NameIndex::new("sandbox");
        let first = index.reserve("pod_a", "1").unwrap();
        assert!(matches!(
            index.reserve("pod_a", "2"),
            Err(Error::AlreadyExists { .. })
        ));
        first.commit();
        assert!(index.contains("pod_a"));
    }

    #[test]
    fn dropped_reservation_releases_the_name() {
        let index = NameIndex::new("container");
        {
            let _held = index.reserve("c", "1").unwrap();
            assert!(index.contains("c"));
        }
        assert!(!index.contains("c"));
        index.reserve("c", "2").unwrap().commit();
        index.release("c", "1");
        assert!(index.contains("c"), "release by a non-owner is ignored");
        index.release("c", "2");
        assert!(!index.contains("c"));
    }
}
