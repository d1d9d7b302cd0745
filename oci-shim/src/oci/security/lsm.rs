//! AppArmor and SELinux settings: `process.apparmorProfile`,
//! `process.selinuxLabel` and `linux.mountLabel`. Never dropped: applied
//! where the LSM they name is enabled, refused at create (naming the
//! setting) where it is not, as a container that asked for confinement
//! must not run unconfined.
//!
//! The process's profile or label is written to its `exec` attribute just
//! before the credentials change, so it takes effect at execve (as runc);
//! the mount label becomes a `context=` option of the spec's filesystem
//! mounts (bind mounts keep the label of their source).

use std::path::{Path, PathBuf};

use crate::oci::error::{OciError, Result};
use crate::oci::syscall::Syscall;
use crate::spec::{Linux, Mount, Process};

/// Which LSMs this host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Host {
    pub apparmor: bool,
    pub selinux: bool,
}

impl Host {
    /// AppArmor: the module says `Y`; SELinux: selinuxfs is mounted.
    pub(crate) fn detect() -> Host {
        let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.trim_start().starts_with('Y'));
        let selinux = Path::new("/sys/fs/selinux/enforce").exists();
        Host { apparmor, selinux }
    }
}

/// What the init writes before execve: `(attribute file, value)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ExecAttr(pub Option<(PathBuf, String)>);

/// Decides, for `host` with its attribute files under `attr_dir`
/// (`/proc/self/attr`), what to write; refuses a setting whose LSM is
/// not enabled.
pub(crate) fn plan(
    process: &Process,
    linux: &Linux,
    host: Host,
    attr_dir: &Path,
) -> Result<ExecAttr> {
    let refuse = |setting: &str, lsm: &str| {
        Err(OciError::Unsupported(format!(
            "{setting} is set but {lsm} is not enabled on this host; \
             refusing to run the container unconfined"
        )))
    };
    let profile = process
        .apparmor_profile
        .as_deref()
        .filter(|p| !p.is_empty());
    let label = process.selinux_label.as_deref().filter(|l| !l.is_empty());
    if linux.mount_label.as_deref().is_some_and(|l| !l.is_empty()) && !host.selinux {
        return refuse("linux.mountLabel", "SELinux");
    }
    match (profile, label) {
        (Some(_), Some(_)) => Err(OciError::Unsupported(
            "process.apparmorProfile and process.selinuxLabel together: \
             one exec attribute, one LSM"
                .into(),
        )),
        (Some(_), None) if !host.apparmor => refuse("process.apparmorProfile", "AppArmor"),
        (None, Some(_)) if !host.selinux => refuse("process.selinuxLabel", "SELinux"),
        (Some(p), None) => {
            // The per-LSM file since Linux 5.8; the shared one before.
            let own = attr_dir.join("apparmor/exec");
            let file = if own.exists() {
                own
            } else {
                attr_dir.join("exec")
            };
            Ok(ExecAttr(Some((file, format!("exec {p}")))))
        }
        (None, Some(l)) => Ok(ExecAttr(Some((attr_dir.join("exec"), l.to_string())))),
        (None, None) => Ok(ExecAttr(None)),
    }
}

/// The exec'd process's confinement, as runc decides it: `--apparmor` /
/// `--process-label` first, then the process's own setting, then the
/// container's (an exec never escapes the profile or label its container
/// runs under just by not naming one). Unlike runc, the flags also apply
/// over a `--process` file: runc ignores them there, which drops a
/// security setting the caller asked for.
pub(crate) fn inherit(
    p: &mut Process,
    container: Option<&Process>,
    apparmor: Option<&str>,
    label: Option<&str>,
) {
    fn pick(flag: Option<&str>, own: Option<String>, theirs: Option<&String>) -> Option<String> {
        let set = |s: &String| !s.is_empty();
        flag.filter(|f| !f.is_empty())
            .map(str::to_string)
            .or(own.filter(set))
            .or_else(|| theirs.filter(|s| set(s)).cloned())
    }
    p.apparmor_profile = pick(
        apparmor,
        p.apparmor_profile.take(),
        container.and_then(|c| c.apparmor_profile.as_ref()),
    );
    p.selinux_label = pick(
        label,
        p.selinux_label.take(),
        container.and_then(|c| c.selinux_label.as_ref()),
    );
}

/// Adds `context="<label>"` to every mount that is not a bind mount
/// (only called when SELinux is enabled: [`plan`] refused otherwise).
pub(crate) fn label_mounts(mounts: &mut [Mount], label: &str) {
    for m in mounts {
        let opts = m.options.get_or_insert_with(Vec::new);
        let bind =
            m.typ.as_deref() == Some("bind") || opts.iter().any(|o| o == "bind" || o == "rbind");
        if !bind {
            opts.push(format!("context=\"{label}\""));
        }
    }
}

/// Writes the exec attribute (in the init, before the credentials change).
pub(crate) fn apply(sys: &impl Syscall, attr: &ExecAttr) -> Result<()> {
    let Some((file, value)) = &attr.0 else {
        return Ok(());
    };
    sys.write_attr(file, value)
        .map_err(|e| OciError::io("write LSM exec attribute", file, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::syscall::Kernel;

    fn proc_(json: serde_json::Value) -> Process {
        let mut v = serde_json::json!({"user": {"uid": 0, "gid": 0}, "cwd": "/"});
        v.as_object_mut()
            .unwrap()
            .extend(json.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    const NONE: Host = Host {
        apparmor: false,
        selinux: false,
    };

    #[test]
    fn a_setting_whose_lsm_is_not_enabled_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let linux = Linux::default();
        let p = proc_(serde_json::json!({"apparmorProfile": "cradle-default"}));
        let e = plan(&p, &linux, NONE, dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("process.apparmorProfile") && e.contains("AppArmor"),
            "{e}"
        );
        let p = proc_(serde_json::json!({"selinuxLabel": "system_u:system_r:container_t:s0"}));
        let e = plan(&p, &linux, NONE, dir.path()).unwrap_err().to_string();
        assert!(e.contains("process.selinuxLabel"), "{e}");
        let linux: Linux = serde_json::from_value(serde_json::json!({"mountLabel": "x"})).unwrap();
        let e = plan(&proc_(serde_json::json!({})), &linux, NONE, dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.mountLabel"), "{e}");
        assert_eq!(
            plan(
                &proc_(serde_json::json!({})),
                &Linux::default(),
                NONE,
                dir.path()
            )
            .unwrap(),
            ExecAttr(None)
        );
    }

    #[test]
    fn an_enabled_lsm_gets_its_exec_attribute_written() {
        let dir = tempfile::tempdir().unwrap();
        let aa = Host {
            apparmor: true,
            selinux: false,
        };
        let p = proc_(serde_json::json!({"apparmorProfile": "cradle-default"}));
        // Before 5.8 only the shared file exists.
        std::fs::write(dir.path().join("exec"), "").unwrap();
        let attr = plan(&p, &Linux::default(), aa, dir.path()).unwrap();
        apply(&Kernel, &attr).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("exec")).unwrap(),
            "exec cradle-default"
        );
        // The per-LSM file wins where it exists.
        std::fs::create_dir(dir.path().join("apparmor")).unwrap();
        std::fs::write(dir.path().join("apparmor/exec"), "").unwrap();
        apply(
            &Kernel,
            &plan(&p, &Linux::default(), aa, dir.path()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("apparmor/exec")).unwrap(),
            "exec cradle-default"
        );
        let se = Host {
            apparmor: false,
            selinux: true,
        };
        let p = proc_(serde_json::json!({"selinuxLabel": "system_u:system_r:container_t:s0"}));
        apply(
            &Kernel,
            &plan(&p, &Linux::default(), se, dir.path()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("exec")).unwrap(),
            "system_u:system_r:container_t:s0"
        );
        let mut mounts: Vec<Mount> = serde_json::from_value(serde_json::json!([
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind"]}
        ]))
        .unwrap();
        label_mounts(&mut mounts, "system_u:object_r:container_file_t:s0");
        assert_eq!(
            mounts[0].options.as_deref().unwrap(),
            ["context=\"system_u:object_r:container_file_t:s0\""]
        );
        assert_eq!(mounts[1].options.as_deref().unwrap(), ["rbind"]);
    }

    #[test]
    fn an_exec_takes_the_flag_then_its_own_setting_then_the_containers() {
        let container = proc_(serde_json::json!({"apparmorProfile": "container-profile"}));
        // Nothing of its own (an empty string counts as nothing): the container's.
        for own in [
            serde_json::json!({}),
            serde_json::json!({"apparmorProfile": ""}),
        ] {
            let mut p = proc_(own);
            inherit(&mut p, Some(&container), None, None);
            assert_eq!(p.apparmor_profile.as_deref(), Some("container-profile"));
            assert_eq!(p.selinux_label, None);
        }
        let mut p = proc_(serde_json::json!({"apparmorProfile": "own"}));
        inherit(&mut p, Some(&container), None, None);
        assert_eq!(p.apparmor_profile.as_deref(), Some("own"));
        inherit(&mut p, Some(&container), Some("flag"), Some("label_t"));
        assert_eq!(p.apparmor_profile.as_deref(), Some("flag"));
        assert_eq!(p.selinux_label.as_deref(), Some("label_t"));
        let mut p = proc_(serde_json::json!({}));
        inherit(&mut p, None, None, None);
        assert_eq!((p.apparmor_profile, p.selinux_label), (None, None));
    }

    #[test]
    fn an_inherited_profile_is_written_where_enabled_and_refused_where_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("apparmor")).unwrap();
        std::fs::write(dir.path().join("apparmor/exec"), "").unwrap();
        let container = proc_(serde_json::json!({"apparmorProfile": "container-profile"}));
        let mut p = proc_(serde_json::json!({}));
        inherit(&mut p, Some(&container), None, None);
        let aa = Host {
            apparmor: true,
            selinux: false,
        };
        apply(
            &Kernel,
            &plan(&p, &Linux::default(), aa, dir.path()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("apparmor/exec")).unwrap(),
            "exec container-profile"
        );
        let e = plan(&p, &Linux::default(), NONE, dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("process.apparmorProfile"), "{e}");
        let mut p = proc_(serde_json::json!({}));
        inherit(&mut p, None, None, Some("system_u:system_r:container_t:s0"));
        let e = plan(&p, &Linux::default(), aa, dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("process.selinuxLabel") && e.contains("SELinux"),
            "{e}"
        );
    }
}
