//! The CNI network: a valid configuration in the configuration directory
//! (read by the daemon's own loader, `cradle_cni::config`, which runs no
//! plugin), and every plugin it names (`ipam` ones included) in the plugin
//! directories.

use std::path::{Path, PathBuf};

use cradle_cni::config::{NetworkConfig, config_files, find_network_config, load_file};

use super::report::{Check, Status};

/// What to do when no network is configured.
fn install_fix(dir: &Path) -> String {
    format!(
        "install a network configuration in {}, e.g. Cradle's cni/conf/10-cradle.conflist \
         (cradle-bridge, host-local, portmap, loopback); until then pods get only loopback \
         and the node is NetworkReady=false",
        dir.display()
    )
}

/// The network configuration the daemon would load, or why none is valid
/// (each file's reason).
pub fn config(conf_dir: &Path) -> Check {
    const NAME: &str = "cni config";
    let files = match config_files(conf_dir) {
        Ok(Some(files)) => files,
        Ok(None) => {
            return Check::new(
                NAME,
                Status::Fail,
                format!("{} does not exist", conf_dir.display()),
                install_fix(conf_dir),
            );
        }
        Err(e) => {
            return Check::new(
                NAME,
                Status::Fail,
                e.to_string(),
                "make it readable by root",
            );
        }
    };
    match find_network_config(conf_dir) {
        Ok(Some(network)) if !cradle_cni::version::is_supported(&network.cni_version) => {
            Check::new(
                NAME,
                Status::Fail,
                format!(
                    "{}: cniVersion {} is not supported",
                    network.source.display(),
                    network.cni_version
                ),
                "write the configuration in cniVersion 0.3.0 or later (1.0.0 or 1.1.0)",
            )
        }
        Ok(Some(network)) => Check::ok(
            NAME,
            format!(
                "{}: network {:?} (cniVersion {})",
                network.source.display(),
                network.name,
                network.cni_version
            ),
        ),
        Ok(None) if files.is_empty() => Check::new(
            NAME,
            Status::Fail,
            format!(
                "no network configuration (*.conflist, *.conf, *.json) in {}",
                conf_dir.display()
            ),
            install_fix(conf_dir),
        ),
        Ok(None) => {
            let reasons: Vec<String> = files
                .iter()
                .filter_map(|f| load_file(f).err().map(|e| format!("{}: {e}", f.display())))
                .collect();
            Check::new(
                NAME,
                Status::Fail,
                format!("no valid network configuration: {}", reasons.join("; ")),
                "fix or replace the files named",
            )
        }
        Err(e) => Check::new(
            NAME,
            Status::Fail,
            e.to_string(),
            "make it readable by root",
        ),
    }
}

/// Every plugin type the configuration names: each plugin's `type` and its
/// `ipam.type`, in order, once each.
pub fn plugin_types(network: &NetworkConfig) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for plugin in &network.plugins {
        let ipam = plugin
            .config
            .get("ipam")
            .and_then(|i| i.get("type"))
            .and_then(|t| t.as_str());
        for t in std::iter::once(plugin.plugin_type.as_str()).chain(ipam) {
            if !types.iter().any(|known| known == t) {
                types.push(t.to_string());
            }
        }
    }
    types
}

/// The configuration's plugins are executables in `bin_dirs`.
pub fn plugins(conf_dir: &Path, bin_dirs: &[PathBuf]) -> Check {
    const NAME: &str = "cni plugins";
    let Ok(Some(network)) = find_network_config(conf_dir) else {
        return Check::new(
            NAME,
            Status::Warn,
            "not checked: no valid network configuration",
            "see cni config",
        );
    };
    let dirs = std::env::join_paths(bin_dirs)
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let types = plugin_types(&network);
    let missing: Vec<&String> = types
        .iter()
        .filter(|t| cradle_cni::exec::find_plugin(t, bin_dirs).is_err())
        .collect();
    if missing.is_empty() {
        return Check::ok(NAME, format!("{} found in {dirs}", types.join(", ")));
    }
    let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
    Check::new(
        NAME,
        Status::Fail,
        format!(
            "{} (named by {}) not found in {dirs}: pods cannot get a network",
            names.join(", "),
            network.source.display()
        ),
        format!(
            "install them (the containernetworking-plugins package, and cradle-bridge from \
             Cradle's build) into one of {dirs}, or set cni_bin_dirs in cradled's config"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"{"cniVersion":"1.0.0","name":"podnet","plugins":[
        {"type":"bridge","ipam":{"type":"host-local"}},{"type":"portmap"}]}"#;

    fn executable(dir: &Path, name: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_missing_or_empty_dir_fails_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let absent = config(&dir.path().join("absent"));
        assert_eq!(absent.status, Status::Fail);
        assert!(absent.detail.contains("does not exist"), "{absent:?}");
        let empty = config(dir.path());
        assert_eq!(empty.status, Status::Fail);
        assert!(
            empty.detail.contains("no network configuration"),
            "{empty:?}"
        );
        assert!(empty.fix.contains("10-cradle.conflist"), "{empty:?}");
        assert_eq!(plugins(dir.path(), &[]).status, Status::Warn);
    }

    #[test]
    fn invalid_files_are_named_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("10-broken.conflist"), "{nope").unwrap();
        let check = config(dir.path());
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.detail.contains("10-broken.conflist: not JSON"),
            "{check:?}"
        );
    }

    #[test]
    fn plugins_and_ipam_plugins_must_be_in_the_bin_dirs() {
        let conf = tempfile::tempdir().unwrap();
        std::fs::write(conf.path().join("10-pod.conflist"), LIST).unwrap();
        assert_eq!(config(conf.path()).status, Status::Ok);
        let bin = tempfile::tempdir().unwrap();
        executable(bin.path(), "bridge");
        let dirs = [bin.path().to_path_buf()];
        let check = plugins(conf.path(), &dirs);
        assert_eq!(check.status, Status::Fail);
        assert!(check.detail.starts_with("host-local, portmap"), "{check:?}");
        assert!(check.fix.contains("cni_bin_dirs"), "{check:?}");
        executable(bin.path(), "host-local");
        executable(bin.path(), "portmap");
        let check = plugins(conf.path(), &dirs);
        assert_eq!(check.status, Status::Ok, "{check:?}");
        assert!(
            check.detail.starts_with("bridge, host-local, portmap"),
            "{check:?}"
        );
    }
}
