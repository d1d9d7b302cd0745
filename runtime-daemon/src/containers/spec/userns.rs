//! The CRI's id mappings as the OCI spec writes them, for the container's
//! user namespace (`linux.uidMappings`) and its id-mapped bind mounts
//! (a mount's `uidMappings`, runtime-spec 1.2).

use cradle_proto::cri;
use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder};

use crate::core::error::SpecError;

/// `{containerID, hostID, size}` for each CRI mapping.
pub(super) fn oci_mappings(maps: &[cri::IdMapping]) -> Result<Vec<LinuxIdMapping>, SpecError> {
    maps.iter()
        .map(|m| {
            LinuxIdMappingBuilder::default()
                .container_id(m.container_id)
                .host_id(m.host_id)
                .size(m.length)
                .build()
                .map_err(|e| SpecError::oci("id mapping", e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_mappings_become_oci_ones_field_by_field() {
        let cri = [cri::IdMapping {
            host_id: 65536,
            container_id: 0,
            length: 65536,
        }];
        let oci = oci_mappings(&cri).unwrap();
        assert_eq!(oci.len(), 1);
        assert_eq!(
            (oci[0].container_id(), oci[0].host_id(), oci[0].size()),
            (0, 65536, 65536)
        );
    }
}
