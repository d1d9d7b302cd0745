//! `cradle-oci state` and `list`: the containers' OCI state documents,
//! read from their on-disk records ([`crate::oci::state`]).

use std::path::Path;

use crate::oci::error::Result;
use crate::oci::state::{ContainerState, Status};

/// `state`: the OCI state document of container `id`.
pub fn state(root: &Path, id: &str) -> Result<serde_json::Value> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root)?;
    Ok(st.oci_json(status))
}

/// `list`: every container under `root` (entries that are not one are
/// skipped) with its status, sorted by id.
pub fn list(root: &Path) -> Result<Vec<(ContainerState, Status)>> {
    let mut states = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if let Ok(st) = ContainerState::load(root, &id) {
                let status = st.status(root)?;
                states.push((st, status));
            }
        }
    }
    states.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    Ok(states)
}
