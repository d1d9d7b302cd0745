//! The crash-safe metadata store: one redb database at `<root>/cradle.redb`.
//!
//! Sandboxes and containers are kept as JSON records keyed by id in their own
//! tables, written through on every state change and loaded whole at start.
//! The same database is handed to the image store, which keeps its own tables.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};
use std::path::Path;
use std::sync::Arc;

const SANDBOXES: TableDefinition<&str, &[u8]> = TableDefinition::new("sandboxes");
const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");

/// File name of the database inside the root.
pub const DB_FILE: &str = "cradle.redb";

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("database: {0}")]
    Db(#[from] redb::Error),
    /// A record could not be encoded or decoded as JSON.
    #[error("record {id} in table {table}: {source}")]
    Json {
        /// The table's name (`sandboxes`, `containers`).
        table: &'static str,
        /// The record's key: the object's id.
        id: String,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The root directory could not be created.
    #[error("creating {path}: {source}")]
    Io {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn db_err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Db(e.into())
}

/// Which table a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The `sandboxes` table.
    Sandbox,
    /// The `containers` table.
    Container,
}

impl Kind {
    fn table(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            Kind::Sandbox => SANDBOXES,
            Kind::Container => CONTAINERS,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Sandbox => "sandboxes",
            Kind::Container => "containers",
        }
    }
}

/// The metadata store.
#[derive(Clone)]
pub struct Store {
    db: Arc<redb::Database>,
}

impl Store {
    /// Opens (creating) `<root>/cradle.redb` and its tables.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root).map_err(|source| StoreError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let db = redb::Database::create(root.join(DB_FILE)).map_err(db_err)?;
        let txn = db.begin_write().map_err(db_err)?;
        txn.open_table(SANDBOXES).map_err(db_err)?;
        txn.open_table(CONTAINERS).map_err(db_err)?;
        txn.commit().map_err(db_err)?;
        Ok(Store { db: Arc::new(db) })
    }

    /// The shared database handle (for the image store).
    pub fn database(&self) -> Arc<redb::Database> {
        Arc::clone(&self.db)
    }

    /// Writes (inserts or replaces) one record.
    pub fn put<T: Serialize>(&self, kind: Kind, id: &str, record: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).map_err(|source| StoreError::Json {
            table: kind.name(),
            id: id.to_string(),
            source,
        })?;
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = txn.open_table(kind.table()).map_err(db_err)?;
            table.insert(id, bytes.as_slice()).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    /// Deletes one record; absent is fine.
    pub fn delete(&self, kind: Kind, id: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = txn.open_table(kind.table()).map_err(db_err)?;
            table.remove(id).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    /// Loads every record of a table. A record that no longer parses is skipped
    /// with a warning rather than keeping the daemon from starting.
    pub fn load_all<T: DeserializeOwned>(
        &self,
        kind: Kind,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(kind.table()).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(db_err)? {
            let (key, value) = entry.map_err(db_err)?;
            let id = key.value().to_string();
            match serde_json::from_slice(value.value()) {
                Ok(record) => out.push((id, record)),
                Err(source) => tracing::warn!(
                    "{}",
                    StoreError::Json {
                        table: kind.name(),
                        id,
                        source
                    }
                ),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Rec {
        name: String,
        n: u32,
    }

    #[test]
    fn records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let rec = Rec {
                name: "a".into(),
                n: 1,
            };
            store.put(Kind::Sandbox, "s1", &rec).unwrap();
            store.put(Kind::Container, "c1", &rec).unwrap();
            store.put(Kind::Container, "c2", &rec).unwrap();
            store.delete(Kind::Container, "c2").unwrap();
            store.delete(Kind::Container, "absent").unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let sandboxes: Vec<(String, Rec)> = store.load_all(Kind::Sandbox).unwrap();
        let containers: Vec<(String, Rec)> = store.load_all(Kind::Container).unwrap();
        assert_eq!(sandboxes.len(), 1);
        assert_eq!(sandboxes[0].0, "s1");
        assert_eq!(
            sandboxes[0].1,
            Rec {
                name: "a".into(),
                n: 1
            }
        );
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0].0, "c1");
    }
}
