//! The bundle every OCI launcher is measured on: a rootfs holding only a
//! static busybox, and the config `runc spec` writes, edited to run
//! `busybox true` without a terminal, optionally with cradled's
//! RuntimeDefault seccomp profile (as the kubelet's pods run by default).
//! Built once per run in a temp dir.

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

/// Adds `linux.seccomp`: cradled's RuntimeDefault profile for the config's
/// effective capabilities, with the architectures cradled lists (on
/// x86_64: x86_64, x86 and x32), so the launcher compiles and installs
/// the filter a RuntimeDefault pod gets.
pub fn add_runtime_default_seccomp(config: &mut serde_json::Value) -> anyhow::Result<()> {
    let effective = config
        .pointer("/process/capabilities/effective")
        .cloned()
        .unwrap_or_else(|| serde_json::json!([]));
    let caps: oci_spec::runtime::Capabilities =
        serde_json::from_value(effective).context("process.capabilities.effective")?;
    let profile = cradle_daemon::containers::spec::seccomp_default::profile(&caps)?;
    let linux = config
        .get_mut("linux")
        .and_then(|l| l.as_object_mut())
        .context("config.json without a linux object")?;
    linux.insert("seccomp".into(), serde_json::to_value(profile)?);
    Ok(())
}

/// Builds the bundle in a new temp dir under `/tmp`; `runc` writes the spec.
pub fn build(runc: &Path, busybox: &Path, seccomp: bool) -> anyhow::Result<Bundle> {
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
    if seccomp {
        add_runtime_default_seccomp(&mut config)?;
    }
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
    fn runtime_default_seccomp_is_cradleds_profile_for_the_effective_caps() {
        let mut c = serde_json::json!({
            "process": {"capabilities": {"effective": ["CAP_KILL"]}},
            "linux": {"namespaces": []},
        });
        add_runtime_default_seccomp(&mut c).unwrap();
        let s = &c["linux"]["seccomp"];
        assert_eq!(s["defaultAction"], "SCMP_ACT_ERRNO");
        let rule = |n: &str| {
            s["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["names"].as_array().unwrap().iter().any(|x| x == n))
                .cloned()
        };
        assert_eq!(rule("read").unwrap()["action"], "SCMP_ACT_ALLOW");
        // Without CAP_SYS_ADMIN: no mount, and clone3 fails with ENOSYS.
        assert_eq!(rule("mount"), None);
        assert_eq!(rule("clone3").unwrap()["errnoRet"], 38);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            s["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        assert_eq!(c["linux"]["namespaces"], serde_json::json!([]));
    }

    #[test]
    fn config_without_process_is_refused() {
        let mut c = serde_json::json!({"ociVersion": "1.0.2"});
        assert!(edit_config(&mut c, &["true"]).is_err());
    }
}
