//! The bundle every OCI launcher is measured on: a rootfs holding only a
//! static busybox, and the config `runc spec` writes, edited to run
//! `busybox true` without a terminal. Built once per run in a temp dir.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// A bundle directory (removed on drop with its temp dir).
pub struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The static busybox to put in the rootfs: `$BUSYBOX`, or the host's.
pub fn find_busybox() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BUSYBOX") {
        return Some(PathBuf::from(p));
    }
    ["/usr/bin/busybox", "/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Rewrites `runc spec`'s config: run `args`, no terminal.
pub fn edit_config(config: &mut serde_json::Value, args: &[&str]) -> anyhow::Result<()> {
    let process = config
        .get_mut("process")
        .and_then(|p| p.as_object_mut())
        .context("config.json without a process object")?;
    process.insert("args".into(), serde_json::json!(args));
    process.insert("terminal".into(), serde_json::Value::Bool(false));
    Ok(())
}

/// Builds the bundle in a new temp dir under `/tmp`; `runc` writes the spec.
pub fn build(runc: &Path, busybox: &Path) -> anyhow::Result<Bundle> {
    let dir = tempfile::Builder::new()
        .prefix("cradle-bench-bundle-")
        .tempdir_in("/tmp")?;
    let rootfs = dir.path().join("rootfs");
    for sub in ["usr/bin", "bin", "proc", "sys", "dev", "tmp", "etc"] {
        std::fs::create_dir_all(rootfs.join(sub))?;
    }
    let target = rootfs.join("usr/bin/busybox");
    std::fs::copy(busybox, &target).with_context(|| format!("copying {}", busybox.display()))?;
    let out = Command::new(runc)
        .arg("spec")
        .arg("--bundle")
        .arg(dir.path())
        .output()
        .with_context(|| format!("running {} spec", runc.display()))?;
    if !out.status.success() {
        bail!(
            "{} spec: {}",
            runc.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let config_path = dir.path().join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&config_path)?)?;
    edit_config(&mut config, &["/usr/bin/busybox", "true"])?;
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;
    Ok(Bundle { dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_edit_sets_args_and_turns_the_terminal_off() {
        let mut c = serde_json::json!({"ociVersion": "1.0.2", "process": {"terminal": true, "args": ["sh"], "cwd": "/"}});
        edit_config(&mut c, &["/usr/bin/busybox", "true"]).unwrap();
        assert_eq!(
            c["process"]["args"],
            serde_json::json!(["/usr/bin/busybox", "true"])
        );
        assert_eq!(c["process"]["terminal"], serde_json::json!(false));
        assert_eq!(c["process"]["cwd"], serde_json::json!("/"));
    }

    #[test]
    fn config_without_process_is_refused() {
        let mut c = serde_json::json!({"ociVersion": "1.0.2"});
        assert!(edit_config(&mut c, &["true"]).is_err());
    }
}
