//! UpdateContainerResources: the OCI runtime writes the new limits into the
//! container's cgroup; they are kept in its config.

use super::hugetlb;
use super::manager::ContainerManager;
use super::record::ContainerState;
use super::runtime_cmd;
use super::spec;
use crate::core::error::{Error, Result};
use crate::core::ids::ContainerId;
use cradle_proto::cri;

impl ContainerManager {
    /// UpdateContainerResources: the OCI runtime writes the new limits into
    /// the container's cgroup (`<runtime> update`); they are kept in its config.
    pub async fn update_resources(
        &self,
        id: &ContainerId,
        mut resources: cri::LinuxContainerResources,
    ) -> Result<()> {
        let (id, entry) = self.index.get(id)?;
        let _op = entry.op.lock().await;
        let record = entry.snapshot();
        if !matches!(
            record.state,
            ContainerState::Created | ContainerState::Running
        ) {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is {:?}: its resources cannot change",
                record.state
            )));
        }
        let handler = self.ctx.runtime_handler(&record.runtime_handler)?;
        let launcher = handler.binary == self.ctx.oci_bin;
        hugetlb::drop_unenforceable_zero_limits(&handler.name, launcher, &mut resources);
        let oci = spec::update_resources(&resources)
            .map_err(|e| Error::InvalidArgument(format!("resources of container {id}: {e}")))?;
        let json = serde_json::to_vec(&oci).map_err(|source| Error::Encode {
            what: format!("the resources of container {id}"),
            source,
        })?;
        runtime_cmd::update(&handler, &id, &json)
            .await
            .map_err(|source| Error::ResourceUpdate {
                id: id.to_string(),
                source,
            })?;
        entry.update(|r| {
            r.config
                .linux
                .get_or_insert_with(Default::default)
                .resources = Some(resources);
        });
        self.persist(&entry)?;
        tracing::info!("resources updated");
        Ok(())
    }
}
