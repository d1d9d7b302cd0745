//! Clients other than Go's and Rust's reach the CRI socket: grpc C-core
//! (Python's grpcio) sends the percent-encoded socket path as `:authority`,
//! which h2 alone resets with PROTOCOL_ERROR (issue 11, item 4).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::process::Command;

use anyhow::{Context, ensure};
use cradle_tests::{Daemon, repo_root, skip, skip_unless_ready};

/// Whether python3 has grpcio (hack/install-deps.sh installs it).
fn grpcio_missing() -> Option<String> {
    let ok = Command::new("python3")
        .args(["-c", "import grpc"])
        .output()
        .is_ok_and(|o| o.status.success());
    (!ok).then(|| "python3 has no grpcio (run hack/install-deps.sh)".to_string())
}

#[test]
fn a_python_grpcio_client_is_served_without_overriding_the_authority() {
    skip_unless_ready!(false);
    if let Some(reason) = grpcio_missing() {
        skip(reason);
        return;
    }
    let daemon = Daemon::start().expect("cradled");
    if let Err(e) = python_version(&daemon) {
        panic!("{e:#}\n--- cradled log ---\n{}", daemon.log());
    }
}

fn python_version(daemon: &Daemon) -> anyhow::Result<()> {
    let output = Command::new("python3")
        .arg(repo_root().join("tests/clients/grpc_version.py"))
        .arg(daemon.socket())
        .output()
        .context("running python3")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "grpcio Version failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    ensure!(lines == ["cradle", "v1"], "Version reply {lines:?}");
    Ok(())
}
