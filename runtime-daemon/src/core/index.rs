//! In-memory index of one kind of object (sandboxes or containers).
//!
//! Each object is an [`Entry`]: its record behind a short-held lock that list
//! and status RPCs read, and an operation lock that serializes the slow
//! lifecycle operations on that one object (shim calls, mounts). The index map
//! itself is only ever locked for a lookup, an insert or a remove, so lists
//! never wait behind a slow operation.

use crate::core::error::Result;
use crate::core::ids;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// One object: its record and its operation lock.
#[derive(Debug)]
pub struct Entry<R> {
    record: RwLock<R>,
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
            record: RwLock::new(record),
            op: tokio::sync::Mutex::new(()),
            members: tokio::sync::RwLock::new(()),
            removed: AtomicBool::new(false),
        })
    }

    /// A copy of the current record.
    pub fn snapshot(&self) -> R {
        self.record
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Changes the record in place (never across an await) and returns the new copy.
    pub fn update(&self, change: impl FnOnce(&mut R)) -> R {
        let mut record = self.record.write().unwrap_or_else(|e| e.into_inner());
        change(&mut record);
        record.clone()
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

/// All objects of one kind, by full id.
#[derive(Debug)]
pub struct Index<R> {
    kind: &'static str,
    map: RwLock<HashMap<String, Arc<Entry<R>>>>,
}

impl<R: Clone> Index<R> {
    /// An empty index; `kind` (`sandbox`, `container`) names it in errors.
    pub fn new(kind: &'static str) -> Self {
        Index {
            kind,
            map: RwLock::new(HashMap::new()),
        }
    }

    /// Adds `entry` under its full `id` (replacing any entry of that id).
    pub fn insert(&self, id: &str, entry: Arc<Entry<R>>) {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), entry);
    }

    /// Forgets the object of full `id`; a missing id is not an error.
    pub fn remove(&self, id: &str) {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// The object named by a full id or unique prefix.
    pub fn get(&self, id_or_prefix: &str) -> Result<(String, Arc<Entry<R>>)> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let id = ids::resolve(self.kind, id_or_prefix, map.keys())?;
        let entry = map
            .get(&id)
            .cloned()
            .ok_or_else(|| crate::core::error::Error::NotFound {
                kind: self.kind,
                id: id.clone(),
            })?;
        Ok((id, entry))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_unique_prefix_finds_the_entry() {
        let index = Index::new("container");
        index.insert("abcdef", Entry::new(1u32));
        index.insert("abd000", Entry::new(2u32));
        let (id, entry) = index.get("abc").unwrap();
        assert_eq!(id, "abcdef");
        assert_eq!(entry.snapshot(), 1);
        assert!(index.get("ab").is_err());
        index.remove("abcdef");
        assert!(matches!(
            index.get("abc"),
            Err(crate::core::error::Error::NotFound { .. })
        ));
    }

    #[test]
    fn update_changes_the_snapshot() {
        let entry = Entry::new(1u32);
        assert_eq!(entry.update(|r| *r += 1), 2);
        assert_eq!(entry.snapshot(), 2);
    }
}
