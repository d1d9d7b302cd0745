//! In-memory index of one kind of object (sandboxes or containers).
//!
//! Each object is an [`Entry`]: its record behind a short-held lock that list
//! and status RPCs read, and an operation lock that serializes the slow
//! lifecycle operations on that one object (shim calls, mounts). The index map
//! itself is only ever locked for a lookup, an insert or a remove, so lists
//! never wait behind a slow operation.
//!
//! crictl users type short prefixes of ids (as with containerd); [`resolve`]
//! turns such a prefix into the one full id it names, or explains why not,
//! and [`Index::get`] answers with the typed full id.

use crate::core::error::{Error, Result};
use crate::core::ids::TypedId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// One object: its record and its operation lock.
#[derive(Debug)]
pub struct Entry<R> {
    /// Shared, so list and stats paths take a reference, not a deep copy
    /// of configs with their labels, annotations, mounts and envs.
    record: RwLock<Arc<R>>,
    /// Held across one lifecycle operation of this object.
    pub op: tokio::sync::Mutex<()>,
    /// For sandboxes: held shared while a container is created in it, exclusive
    /// while it is stopped or removed, so no container slips in past a stop.
    pub members: tokio::sync::RwLock<()>,
    removed: AtomicBool,
}

impl<R: Clone> Entry<R> {
    /// A new, unlocked entry holding `record`.
    pub fn new(record: R) -> Arc<Self> {
        Arc::new(Entry {
            record: RwLock::new(Arc::new(record)),
            op: tokio::sync::Mutex::new(()),
            members: tokio::sync::RwLock::new(()),
            removed: AtomicBool::new(false),
        })
    }

    /// A copy of the current record.
    pub fn snapshot(&self) -> R {
        R::clone(&self.shared())
    }

    /// The current record, shared: a reference count, no copy (what list
    /// and stats paths read). Later updates do not show in it.
    pub fn shared(&self) -> Arc<R> {
        Arc::clone(&self.record.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Changes the record (never across an await) and returns the new copy.
    /// A record some reader still shares is copied first, so the reader's
    /// view stays as it was.
    pub fn update(&self, change: impl FnOnce(&mut R)) -> R {
        let mut record = self.record.write().unwrap_or_else(|e| e.into_inner());
        change(Arc::make_mut(&mut record));
        R::clone(&record)
    }

    /// Marks the object as removed, so late writers (exit monitors) leave the store alone.
    pub fn mark_removed(&self) {
        self.removed.store(true, Ordering::SeqCst);
    }

    /// Whether the object was removed (its record must not be written back).
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::SeqCst)
    }
}

/// All objects of one kind (the kind of id `I`), by full id.
#[derive(Debug)]
pub struct Index<I, R> {
    map: RwLock<HashMap<String, Arc<Entry<R>>>>,
    kind: std::marker::PhantomData<I>,
}

impl<I: TypedId, R: Clone> Index<I, R> {
    /// An empty index; `I::KIND` (`sandbox`, `container`) names it in errors.
    pub fn new() -> Self {
        Index {
            map: RwLock::new(HashMap::new()),
            kind: std::marker::PhantomData,
        }
    }

    /// Adds `entry` under its full `id` (replacing any entry of that id).
    pub fn insert(&self, id: &I, entry: Arc<Entry<R>>) {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.text().to_string(), entry);
    }

    /// Forgets the object of full `id`; a missing id is not an error.
    pub fn remove(&self, id: &I) {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id.text());
    }

    /// The object named by a full id or unique prefix, with its full id.
    pub fn get(&self, id_or_prefix: &I) -> Result<(I, Arc<Entry<R>>)> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let id = resolve(I::KIND, id_or_prefix.text(), map.keys())?;
        let entry = map.get(&id).cloned().ok_or_else(|| Error::NotFound {
            kind: I::KIND,
            id: id.clone(),
        })?;
        Ok((I::wrap(id), entry))
    }

    /// Every object, in no particular order.
    pub fn all(&self) -> Vec<Arc<Entry<R>>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// Resolves `prefix` against `ids`: an exact match wins, otherwise the single id
/// starting with it. Empty prefixes are invalid; none → `NotFound`, several → ambiguous.
pub fn resolve<'a, I>(kind: &'static str, prefix: &str, ids: I) -> Result<String>
where
    I: IntoIterator<Item = &'a String>,
{
    if prefix.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{kind} id must not be empty"
        )));
    }
    let mut found: Option<&String> = None;
    for id in ids {
        if id == prefix {
            return Ok(id.clone());
        }
        if id.starts_with(prefix) {
            if found.is_some() {
                return Err(Error::AmbiguousId {
                    kind,
                    prefix: prefix.to_string(),
                });
            }
            found = Some(id);
        }
    }
    found.cloned().ok_or_else(|| Error::NotFound {
        kind,
        id: prefix.to_string(),
    })
}

impl<I: TypedId, R: Clone> Default for Index<I, R> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ids::ContainerId;

    #[test]
    fn lookup_by_unique_prefix_finds_the_entry() {
        let index = Index::<ContainerId, u32>::new();
        let id = ContainerId::new;
        index.insert(&id("abcdef"), Entry::new(1u32));
        index.insert(&id("abd000"), Entry::new(2u32));
        let (found, entry) = index.get(&id("abc")).unwrap();
        assert_eq!(found, id("abcdef"));
        assert_eq!(entry.snapshot(), 1);
        assert!(index.get(&id("ab")).is_err());
        index.remove(&id("abcdef"));
        assert!(matches!(
            index.get(&id("abc")),
            Err(crate::core::error::Error::NotFound { .. })
        ));
    }

    #[test]
    fn update_changes_the_snapshot() {
        let entry = Entry::new(1u32);
        assert_eq!(entry.update(|r| *r += 1), 2);
        assert_eq!(entry.snapshot(), 2);
    }

    #[test]
    fn a_shared_record_keeps_its_view_across_updates() {
        let entry = Entry::new(vec![1u32]);
        let before = entry.shared();
        entry.update(|r| r.push(2));
        assert_eq!(*before, vec![1]);
        assert_eq!(*entry.shared(), vec![1, 2]);
        assert_eq!(entry.snapshot(), vec![1, 2]);
    }

    #[test]
    fn unique_prefix_resolves_to_full_id() {
        let ids = vec!["abc123".to_string(), "abd456".to_string()];
        assert_eq!(resolve("container", "abc", &ids).unwrap(), "abc123");
        assert_eq!(resolve("container", "abd456", &ids).unwrap(), "abd456");
    }

    #[test]
    fn ambiguous_prefix_is_rejected() {
        let ids = vec!["abc123".to_string(), "abd456".to_string()];
        assert!(matches!(
            resolve("container", "ab", &ids),
            Err(Error::AmbiguousId { .. })
        ));
    }

    #[test]
    fn unknown_prefix_is_not_found_and_empty_is_invalid() {
        let ids = vec!["abc123".to_string()];
        assert!(matches!(
            resolve("sandbox", "ff", &ids),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            resolve("sandbox", "", &ids),
            Err(Error::InvalidArgument(_))
        ));
    }
}
