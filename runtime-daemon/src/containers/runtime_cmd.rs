//! Direct calls of the OCI runtime, for when no shim is left to make them.
//!
//! Normally every runtime command goes through the container's shim. When the
//! shim died (killed, or lost with a crash), its container's runtime state and
//! cgroup would outlive it; RemoveContainer then runs
//! `<runtime> --root R delete --force <id>` itself.

use std::path::Path;
use std::time::Duration;

/// How long a forced delete may take.
const DELETE_TIMEOUT: Duration = Duration::from_secs(30);

/// `<binary> --root <root> delete --force <id>`. A container the runtime does
/// not know counts as deleted.
pub async fn force_delete(binary: &Path, root: &Path, id: &str) -> Result<(), String> {
    if !root.join(id).exists() {
        return Ok(());
    }
    let run = tokio::process::Command::new(binary)
        .arg("--root")
        .arg(root)
        .args(["delete", "--force", id])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(DELETE_TIMEOUT, run)
        .await
        .map_err(|_| format!("{} delete --force {id} timed out", binary.display()))?
        .map_err(|e| format!("running {} delete: {e}", binary.display()))?;
    if output.status.success() || !root.join(id).exists() {
        Ok(())
    } else {
        Err(format!(
            "{} delete --force {id}: {}: {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
