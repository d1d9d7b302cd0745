//! A container's OCI bundle as the launcher was given it: its
//! `config.json`, which ContainerStatus(verbose) reports as `runtimeSpec`.

use std::path::Path;

/// The bundle's `config.json` as JSON; `Null` when it is gone or unreadable.
pub fn runtime_spec(bundle: &Path) -> serde_json::Value {
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_is_read_or_null() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(runtime_spec(dir.path()), serde_json::Value::Null);
        std::fs::write(dir.path().join("config.json"), r#"{"ociVersion":"1.2.0"}"#).unwrap();
        assert_eq!(runtime_spec(dir.path())["ociVersion"], "1.2.0");
    }
}
