//! Direct calls of the OCI runtime.
//!
//! Normally the lifecycle commands go through the container's shim. When the
//! shim died (killed, or lost with a crash), its container's runtime state and
//! cgroup would outlive it; RemoveContainer then runs
//! `<runtime> --root R [flags] delete --force <id>` itself. New resource limits
//! (`<runtime> update --resources -`) need no process of the container's, so
//! the daemon runs that one directly too: the runtime's cgroup code knows the
//! write order of memory and swap, hugepage files and the v2 names.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::core::error::RuntimeCmdError;
use crate::core::handlers::Handler;
use crate::core::ids::ContainerId;

/// How long a forced delete may take.
const DELETE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an update of a container's limits may take.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(30);

/// `<binary> --root <root> [flags] update --resources - <id>` with the OCI
/// `LinuxResources` JSON on stdin; the runtime's own words on failure.
pub async fn update(
    handler: &Handler,
    id: &ContainerId,
    resources_json: &[u8],
) -> Result<(), RuntimeCmdError> {
    let binary = &handler.binary;
    let mut child = handler
        .command()
        .args(["update", "--resources", "-", id.as_str()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| RuntimeCmdError::Run {
            what: format!("running {} update", binary.display()),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(resources_json)
            .await
            .map_err(|source| RuntimeCmdError::Run {
                what: format!("writing the resources to {} update", binary.display()),
                source,
            })?;
    }
    let output = tokio::time::timeout(UPDATE_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            RuntimeCmdError::TimedOut(format!(
                "{} update {id} did not finish within {UPDATE_TIMEOUT:?}",
                binary.display()
            ))
        })?
        .map_err(|source| RuntimeCmdError::Run {
            what: format!("running {} update", binary.display()),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let said = [output.stderr.as_slice(), output.stdout.as_slice()]
        .iter()
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    Err(RuntimeCmdError::Refused(format!(
        "{} update {id}: {}: {said}",
        binary.display(),
        output.status
    )))
}

/// `<binary> --root <root> [flags] delete --force <id>`. A container the
/// runtime does not know counts as deleted.
pub async fn force_delete(handler: &Handler, id: &ContainerId) -> Result<(), RuntimeCmdError> {
    let (binary, root) = (&handler.binary, &handler.root);
    if !root.join(id.as_str()).exists() {
        return Ok(());
    }
    let run = handler
        .command()
        .args(["delete", "--force", id.as_str()])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(DELETE_TIMEOUT, run)
        .await
        .map_err(|_| {
            RuntimeCmdError::TimedOut(format!(
                "{} delete --force {id} timed out",
                binary.display()
            ))
        })?
        .map_err(|source| RuntimeCmdError::Run {
            what: format!("running {} delete", binary.display()),
            source,
        })?;
    if output.status.success() || !root.join(id.as_str()).exists() {
        Ok(())
    } else {
        Err(RuntimeCmdError::Refused(format!(
            "{} delete --force {id}: {}: {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}
