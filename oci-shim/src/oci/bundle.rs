//! The bundle's `config.json`, loaded and checked for what every verb
//! that reads it needs (a process with args, a root).

use std::path::Path;

use crate::oci::error::{OciError, Result};
use crate::spec::Spec;

/// Loads and checks `<bundle>/config.json`.
pub fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path).map_err(|e| OciError::Spec {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let spec: Spec = serde_json::from_slice(&data).map_err(|e| OciError::Spec {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let bad = |reason: &str| OciError::Spec {
        path: path.clone(),
        reason: reason.to_string(),
    };
    let process = spec.process.as_ref().ok_or_else(|| bad("no process"))?;
    if process.args.as_ref().is_none_or(|a| a.is_empty()) {
        return Err(bad("process.args is empty"));
    }
    if spec.root.is_none() {
        return Err(bad("no root"));
    }
    Ok(spec)
}
