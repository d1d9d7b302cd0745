//! [`SandboxManager`]: the owner of every sandbox record, in memory and in
//! the store. Each lifecycle verb lives in its own module beside this one.

use super::record::SandboxRecord;
use crate::core::context::Context;
use crate::core::error::Result;
use crate::core::ids::SandboxId;
use crate::core::index::{Entry, Index};
use crate::core::names::NameIndex;
use crate::core::store::Kind;
use std::sync::Arc;

/// Owns every sandbox.
pub struct SandboxManager {
    pub(super) ctx: Arc<Context>,
    pub(super) index: Index<SandboxId, SandboxRecord>,
    pub(super) names: Arc<NameIndex>,
}

impl SandboxManager {
    /// A manager of no sandbox yet (recovery restores the known ones).
    pub fn new(ctx: Arc<Context>) -> Self {
        SandboxManager {
            ctx,
            index: Index::new(),
            names: NameIndex::new("sandbox"),
        }
    }

    /// The full id named by `id_or_prefix`.
    pub fn resolve(&self, id_or_prefix: &SandboxId) -> Result<SandboxId> {
        self.index.get(id_or_prefix).map(|(id, _)| id)
    }

    /// The entry of one sandbox (for its membership lock).
    pub fn entry(&self, id_or_prefix: &SandboxId) -> Result<Arc<Entry<SandboxRecord>>> {
        self.index.get(id_or_prefix).map(|(_, e)| e)
    }

    /// A snapshot of one sandbox.
    pub fn get(&self, id_or_prefix: &SandboxId) -> Result<SandboxRecord> {
        self.index.get(id_or_prefix).map(|(_, e)| e.snapshot())
    }

    /// One sandbox's record, shared (no copy).
    pub fn get_shared(&self, id_or_prefix: &SandboxId) -> Result<Arc<SandboxRecord>> {
        self.index.get(id_or_prefix).map(|(_, e)| e.shared())
    }

    /// Snapshots of every sandbox (from memory).
    pub fn list(&self) -> Vec<SandboxRecord> {
        self.index.all().iter().map(|e| e.snapshot()).collect()
    }

    /// Every sandbox's record, shared (no copy): what the list and stats
    /// RPCs read.
    pub fn list_shared(&self) -> Vec<Arc<SandboxRecord>> {
        self.index.all().iter().map(|e| e.shared()).collect()
    }

    /// Re-registers a loaded record (recovery).
    pub fn restore(&self, record: SandboxRecord) {
        if let Some(name) = SandboxRecord::name_key(&record.config) {
            self.names.restore(&name, &record.id);
        }
        let id = record.typed_id();
        self.index.insert(&id, Entry::new(record));
    }

    /// Writes a record through to the store and memory (recovery updates).
    pub fn save(&self, record: &SandboxRecord) -> Result<()> {
        self.ctx.store.put(Kind::Sandbox, &record.id, record)?;
        if let Ok((_, entry)) = self.index.get(&record.typed_id()) {
            entry.update(|r| *r = record.clone());
        }
        Ok(())
    }
}
