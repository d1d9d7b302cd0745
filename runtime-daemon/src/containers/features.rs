//! What each runtime handler can do, from its `features` document (the
//! OCI runtime-spec's `<runtime> features`), probed once per binary.
//!
//! Today one feature decides anything: recursive read-only mounts (`rro`),
//! which need both the runtime (it lists `rro` among its mount options) and
//! the kernel (`mount_setattr(2)`, Linux 5.12). CreateContainer refuses a
//! `recursive_read_only` mount on a handler without it, and Status reports
//! it per handler, as containerd does, so the kubelet knows before it asks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How long `<runtime> features` may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Probed answers, per runtime binary.
#[derive(Debug, Default)]
pub struct HandlerFeatures {
    rro: Mutex<HashMap<PathBuf, bool>>,
}

impl HandlerFeatures {
    /// Whether containers of the runtime `binary` can have recursive
    /// read-only mounts. A runtime that cannot say (missing, failing, no
    /// `features` command) cannot.
    pub async fn recursive_read_only(&self, binary: &Path) -> bool {
        if let Some(known) = self.lock().get(binary) {
            return *known;
        }
        let supported = kernel_has_mount_setattr() && runtime_lists_rro(binary).await;
        self.lock().insert(binary.to_path_buf(), supported);
        supported
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, bool>> {
        self.rro.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `<binary> features` lists `rro` among its mount options.
async fn runtime_lists_rro(binary: &Path) -> bool {
    let run = tokio::process::Command::new(binary)
        .arg("features")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(PROBE_TIMEOUT, run).await {
        Ok(Ok(out)) if out.status.success() => mount_options_have_rro(&out.stdout),
        other => {
            tracing::info!(runtime = %binary.display(), "no features document: {other:?}");
            false
        }
    }
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

    #[tokio::test]
    async fn a_runtime_without_features_has_none_and_is_asked_once() {
        let features = HandlerFeatures::default();
        let missing = Path::new("/nonexistent/runtime");
        assert!(!features.recursive_read_only(missing).await);
        assert!(!features.recursive_read_only(Path::new("/bin/false")).await);
        assert_eq!(features.lock().len(), 2);
    }
}
