//! What each runtime handler can do, from its `features` document (the
//! OCI runtime-spec's `<runtime> features`, run with the handler's root and
//! flags) and the kernel, probed once per handler and cached.
//!
//! Two features decide anything:
//! - recursive read-only mounts (`rro`), which need both the runtime (it
//!   lists `rro` among its mount options) and the kernel
//!   (`mount_setattr(2)`, Linux 5.12). CreateContainer refuses a
//!   `recursive_read_only` mount on a handler without it;
//! - user namespaces, which need the runtime (`linux.namespaces` holds
//!   `user` and `linux.mountExtensions.idmap.enabled` is true) and the
//!   kernel (an overlay like a container's rootfs can be id-mapped,
//!   [`crate::platform::idmap_probe`]).
//!
//! Status reports both per handler, as containerd does, so the kubelet
//! knows before it asks.

use crate::core::handlers::Handler;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// How long `<runtime> features` may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one handler's `features` document says it supports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeFeatures {
    /// `mountOptions` holds `rro`.
    pub rro: bool,
    /// `linux.namespaces` holds `user` and id-mapped mounts are enabled.
    pub user_namespaces: bool,
}

impl RuntimeFeatures {
    /// Reads a features document; one that cannot be read supports nothing.
    pub fn parse(features_json: &[u8]) -> RuntimeFeatures {
        RuntimeFeatures {
            rro: mount_options_have_rro(features_json),
            user_namespaces: supports_userns(features_json),
        }
    }
}

/// Probed answers, per handler name, and the kernel's, once.
#[derive(Debug, Default)]
pub struct HandlerFeatures {
    runtimes: tokio::sync::Mutex<HashMap<String, RuntimeFeatures>>,
    idmap_overlay: tokio::sync::OnceCell<bool>,
}

impl HandlerFeatures {
    /// Whether containers of `handler` can have recursive read-only
    /// mounts. A runtime that cannot say (missing, failing, no `features`
    /// command) cannot.
    pub async fn recursive_read_only(&self, handler: &Handler) -> bool {
        kernel_has_mount_setattr() && self.runtime(handler).await.rro
    }

    /// Whether pods of `handler` can have their own user namespace: the
    /// runtime says so and the kernel id-maps an overlay made under
    /// `scratch` (on the filesystem of the snapshots).
    pub async fn user_namespaces(&self, handler: &Handler, scratch: &Path) -> bool {
        if !self.runtime(handler).await.user_namespaces {
            return false;
        }
        let scratch = scratch.to_path_buf();
        *self
            .idmap_overlay
            .get_or_init(|| async move {
                tokio::task::spawn_blocking(move || {
                    crate::platform::idmap_probe::overlay_supports_idmap(&scratch)
                })
                .await
                .unwrap_or(false)
            })
            .await
    }

    /// The handler's features document, read once.
    async fn runtime(&self, handler: &Handler) -> RuntimeFeatures {
        let mut known = self.runtimes.lock().await;
        if let Some(features) = known.get(&handler.name) {
            return *features;
        }
        let features = probe_runtime(handler).await;
        known.insert(handler.name.clone(), features);
        features
    }
}

/// `<binary> --root R [flags] features`, parsed; nothing when it fails.
async fn probe_runtime(handler: &Handler) -> RuntimeFeatures {
    let run = handler
        .command()
        .arg("features")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(PROBE_TIMEOUT, run).await {
        Ok(Ok(out)) if out.status.success() => RuntimeFeatures::parse(&out.stdout),
        other => {
            tracing::info!(
                handler = %handler.name,
                runtime = %handler.binary.display(),
                "no features document: {other:?}"
            );
            RuntimeFeatures::default()
        }
    }
}

/// Whether a features document says the runtime makes user namespaces
/// and id-mapped mounts.
pub fn supports_userns(features_json: &[u8]) -> bool {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(features_json) else {
        return false;
    };
    let linux = &doc["linux"];
    let user_ns = linux["namespaces"]
        .as_array()
        .is_some_and(|ns| ns.iter().any(|n| n == "user"));
    let idmap = linux["mountExtensions"]["idmap"]["enabled"].as_bool() == Some(true);
    user_ns && idmap
}

/// Whether a features document's `mountOptions` holds `rro`.
pub fn mount_options_have_rro(features_json: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(features_json)
        .ok()
        .and_then(|doc| {
            doc.get("mountOptions")?
                .as_array()
                .map(|opts| opts.iter().any(|o| o == "rro"))
        })
        .unwrap_or(false)
}

/// Whether the kernel has `mount_setattr(2)`: called with an invalid
/// descriptor it fails with EBADF (or EINVAL), without it with ENOSYS.
fn kernel_has_mount_setattr() -> bool {
    // SAFETY: mount_setattr with dirfd -1, an empty path, no flags and a
    // null attribute of size 0 reads and changes nothing: it can only fail.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            c"".as_ptr(),
            0,
            std::ptr::null::<libc::c_void>(),
            0usize,
        )
    };
    rc == -1 && std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rro_is_read_from_the_mount_options() {
        assert!(mount_options_have_rro(
            br#"{"ociVersionMax":"1.2.0","mountOptions":["ro","rro","rbind"]}"#
        ));
        assert!(!mount_options_have_rro(
            br#"{"mountOptions":["ro","rbind"]}"#
        ));
        assert!(!mount_options_have_rro(br#"{"hooks":[]}"#));
        assert!(!mount_options_have_rro(b"not json"));
    }

    #[test]
    fn this_kernel_has_mount_setattr() {
        // Every kernel the project supports (5.12+) has it.
        assert!(kernel_has_mount_setattr());
    }

    /// `runc features` of runc 1.1.5 (Debian 12), abridged: user
    /// namespaces but no idmap mount extension.
    const RUNC_1_1: &[u8] = br#"{"ociVersionMin":"1.0.0","ociVersionMax":"1.0.2-dev",
        "mountOptions":["bind","rbind","ro"],
        "linux":{"namespaces":["cgroup","ipc","mount","network","pid","user","uts"]}}"#;

    /// `runc features` of runc 1.2: both, and `rro`.
    const RUNC_1_2: &[u8] = br#"{"ociVersionMax":"1.2.0","mountOptions":["rro","ro"],
        "linux":{"namespaces":["mount","user"],
        "mountExtensions":{"idmap":{"enabled":true}}}}"#;

    #[test]
    fn user_namespaces_need_the_namespace_and_idmap_mounts() {
        assert_eq!(
            RuntimeFeatures::parse(RUNC_1_1),
            RuntimeFeatures {
                rro: false,
                user_namespaces: false
            }
        );
        assert_eq!(
            RuntimeFeatures::parse(RUNC_1_2),
            RuntimeFeatures {
                rro: true,
                user_namespaces: true
            }
        );
        assert!(!supports_userns(
            br#"{"linux":{"namespaces":["mount"],"mountExtensions":{"idmap":{"enabled":true}}}}"#
        ));
        assert!(!supports_userns(
            br#"{"linux":{"namespaces":["user"],"mountExtensions":{"idmap":{"enabled":false}}}}"#
        ));
        assert!(!supports_userns(b"{}"));
    }

    fn handler(name: &str, binary: &str) -> Handler {
        Handler {
            name: name.into(),
            binary: binary.into(),
            root: "/nonexistent/root".into(),
            systemd_cgroup: false,
            extra_args: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_runtime_without_features_has_none_and_is_asked_once() {
        let features = HandlerFeatures::default();
        let missing = handler("missing", "/nonexistent/runtime");
        assert!(!features.recursive_read_only(&missing).await);
        assert!(
            !features
                .user_namespaces(&missing, Path::new("/nonexistent"))
                .await
        );
        let failing = handler("failing", "/bin/false");
        assert!(!features.recursive_read_only(&failing).await);
        assert_eq!(features.runtimes.lock().await.len(), 2);
    }

    #[tokio::test]
    async fn installed_runtimes_report_what_their_features_say() {
        for name in ["runc", "crun"] {
            let Some(binary) = crate::core::handlers::find_in_path(name) else {
                continue;
            };
            let dir = tempfile::tempdir().unwrap();
            let h = Handler {
                root: dir.path().to_path_buf(),
                ..handler(name, &binary.to_string_lossy())
            };
            let out = std::process::Command::new(&binary)
                .arg("--root")
                .arg(dir.path())
                .arg("features")
                .output()
                .unwrap();
            let expected = if out.status.success() {
                RuntimeFeatures::parse(&out.stdout)
            } else {
                RuntimeFeatures::default()
            };
            let features = HandlerFeatures::default();
            assert_eq!(features.runtime(&h).await, expected, "{name}");
            if !expected.user_namespaces {
                assert!(!features.user_namespaces(&h, dir.path()).await, "{name}");
            }
        }
    }
}
