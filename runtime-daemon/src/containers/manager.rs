//! [`ContainerManager`]: the owner of every container record, in memory and
//! in the store. Each lifecycle verb lives in its own module beside this one.

use super::exit;
use super::features;
use super::monitor;
use super::record::ContainerRecord;
use crate::core::context::Context;
use crate::core::error::Result;
use crate::core::ids::{ContainerId, SandboxId};
use crate::core::index::{Entry, Index};
use crate::core::names::NameIndex;
use std::sync::Arc;

/// Owns every container.
pub struct ContainerManager {
    pub(super) ctx: Arc<Context>,
    pub(super) index: Arc<Index<ContainerId, ContainerRecord>>,
    pub(super) names: Arc<NameIndex>,
    pub(super) features: features::HandlerFeatures,
}

impl ContainerManager {
    /// A manager of no container yet (recovery restores the known ones).
    pub fn new(ctx: Arc<Context>) -> Self {
        ContainerManager {
            ctx,
            index: Arc::new(Index::new()),
            names: NameIndex::new("container"),
            features: features::HandlerFeatures::default(),
        }
    }

    /// Whether runtime handler `handler` (and the kernel) can make
    /// recursive read-only mounts; unknown handlers cannot.
    pub async fn supports_recursive_read_only(&self, handler: &str) -> bool {
        match self.ctx.runtime_handler(handler) {
            Ok(handler) => self.features.recursive_read_only(&handler).await,
            Err(_) => false,
        }
    }

    /// Whether pods of runtime handler `handler` (`""`: the default) can
    /// run in their own user namespace: the handler's `features` say so
    /// and the kernel id-maps an overlay on the snapshots' filesystem
    /// (probed once); unknown handlers cannot.
    pub async fn supports_user_namespaces(&self, handler: &str) -> bool {
        match self.ctx.runtime_handler(handler) {
            Ok(handler) => {
                let scratch = &self.ctx.config.root;
                self.features.user_namespaces(&handler, scratch).await
            }
            Err(_) => false,
        }
    }

    /// A snapshot of one container.
    pub fn get(&self, id_or_prefix: &ContainerId) -> Result<ContainerRecord> {
        self.index.get(id_or_prefix).map(|(_, e)| e.snapshot())
    }

    /// One container's record, shared (no copy).
    pub fn get_shared(&self, id_or_prefix: &ContainerId) -> Result<Arc<ContainerRecord>> {
        self.index.get(id_or_prefix).map(|(_, e)| e.shared())
    }

    /// Snapshots of every container (from memory).
    pub fn list(&self) -> Vec<ContainerRecord> {
        self.index.all().iter().map(|e| e.snapshot()).collect()
    }

    /// Every container's record, shared (no copy): what the list and
    /// stats RPCs read.
    pub fn list_shared(&self) -> Vec<Arc<ContainerRecord>> {
        self.index.all().iter().map(|e| e.shared()).collect()
    }

    /// Ids of the containers of one sandbox.
    pub fn ids_in_sandbox(&self, sandbox_id: &SandboxId) -> Vec<ContainerId> {
        self.list_shared()
            .iter()
            .filter(|c| c.sandbox_id == sandbox_id.as_str())
            .map(|c| ContainerId::new(&c.id))
            .collect()
    }

    /// A container using image `image_id` (as its rootfs or an image
    /// volume), in words naming it, for RemoveImage's refusal; `None` when
    /// no record names the image. (The image store also refuses to remove
    /// an image under a mounted rootfs or volume, from its disk.)
    pub fn image_user(&self, image_id: &str) -> Option<String> {
        self.list().iter().find_map(|c| {
            c.image_use(image_id)
                .map(|how| format!("container {} ({how})", c.id))
        })
    }

    /// Re-registers a loaded record (recovery) and returns its entry.
    pub fn restore(&self, record: ContainerRecord) -> Arc<Entry<ContainerRecord>> {
        if let Some(name) = ContainerRecord::name_key(&record.typed_sandbox_id(), &record.config) {
            self.names.restore(&name, &record.id);
        }
        let entry = Entry::new(record.clone());
        self.index.insert(&record.typed_id(), Arc::clone(&entry));
        entry
    }

    /// Writes the entry's record through to the store unless it was removed.
    pub(super) fn persist(&self, entry: &Entry<ContainerRecord>) -> Result<()> {
        exit::persist(&self.ctx, entry)
    }

    /// Starts the exit monitor of a running container.
    pub fn watch(&self, entry: Arc<Entry<ContainerRecord>>) {
        tokio::spawn(monitor::watch(Arc::clone(&self.ctx), entry));
    }
}
