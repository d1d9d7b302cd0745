//! Running the `cradlectl` binary against a test [`Daemon`]: its global
//! `--socket` and `--admin-socket` point at the daemon's, with a deadline.

use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::daemon::Daemon;
use crate::paths::target_bin_dir;

/// `cradlectl --socket .. --admin-socket .. <args>` against `daemon`, not
/// yet run (stdin empty, killed when dropped).
pub fn command(daemon: &Daemon, args: &[&str]) -> anyhow::Result<tokio::process::Command> {
    let bin = target_bin_dir()?.join("cradlectl");
    let mut command = tokio::process::Command::new(&bin);
    command
        .arg("--socket")
        .arg(daemon.socket())
        .arg("--admin-socket")
        .arg(daemon.state_dir().join("admin.sock"))
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    Ok(command)
}

/// Runs [`command`] to its end (at most 120 s); its output whatever its
/// exit status.
pub async fn run(daemon: &Daemon, args: &[&str]) -> anyhow::Result<Output> {
    tokio::time::timeout(Duration::from_secs(120), command(daemon, args)?.output())
        .await
        .with_context(|| format!("cradlectl {args:?} timed out"))?
        .with_context(|| format!("running cradlectl {args:?}"))
}

/// Stdout and stderr of `out`, for messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
