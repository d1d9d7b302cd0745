//! Streaming (Exec/PortForward/Attach) helpers for the end-to-end tests: the
//! independent clients of tests/clients (a Go SPDY client on Debian's
//! spdystream, Python's websocket-client) located or built once, and a bounded
//! way to run them, and the CRI calls that mint streaming URLs.

use anyhow::Context;
use cradle_proto::cri;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::client::Cri;
use std::time::Duration;

#[path = "streaming_attach.rs"]
pub mod attach;
#[path = "streaming_forward.rs"]
pub mod forward;
#[path = "streaming_tty.rs"]
pub mod tty;

/// The Go SPDY client built by tests/clients/setup.sh (None: cannot build here).
pub fn spdy_client() -> Option<PathBuf> {
    static CLIENT: OnceLock<Option<PathBuf>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let out = std::env::temp_dir().join("cradle-test-clients");
            let bin = out.join("spdyclient");
            let status = Command::new("sh")
                .arg(crate::paths::repo_root().join("tests/clients/setup.sh"))
                .env("OUT", &out)
                .stdout(Stdio::null())
                .status();
            match status {
                Ok(s) if s.success() && bin.exists() => Some(bin),
                _ => None,
            }
        })
        .clone()
}

/// tests/clients/ws_client.py when python3 has websocket-client (None: missing).
pub fn ws_client() -> Option<PathBuf> {
    let ok = Command::new("python3")
        .args(["-c", "import websocket"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| crate::paths::repo_root().join("tests/clients/ws_client.py"))
}

/// How long one client run may take before it is killed (a hung session
/// must fail the test, not hang it).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `program args…` with `stdin` as its input; killed after
/// [`CLIENT_TIMEOUT`]. Blocking: call from `spawn_blocking`.
pub fn run_client(program: &PathBuf, args: &[String], stdin: &[u8]) -> anyhow::Result<Output> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        let data = stdin.to_vec();
        std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut input, &data);
        });
    }
    // Collect output while it runs (a full pipe would stall the client).
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(CLIENT_TIMEOUT) {
        Ok(output) => Ok(output?),
        Err(_) => {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let out = rx.recv()?;
            let stderr = out.map(|o| o.stderr).unwrap_or_default();
            anyhow::bail!(
                "{} {args:?} still running after {CLIENT_TIMEOUT:?}; stderr: {}",
                program.display(),
                String::from_utf8_lossy(&stderr)
            );
        }
    }
}

/// Async wrapper of [`run_client`].
pub async fn client(program: PathBuf, args: Vec<String>, stdin: Vec<u8>) -> anyhow::Result<Output> {
    tokio::task::spawn_blocking(move || run_client(&program, &args, &stdin)).await?
}

/// Host processes whose command line contains `needle` (`/proc/*/cmdline`
/// with NULs turned into spaces). A zombie's command line is empty: to prove a
/// process was reaped, watch its `/proc/<pid>` disappear instead.
pub fn host_processes_with(needle: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(needle).then_some(pid)
        })
        .collect()
}

/// Owned strings of `list`.
pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Exec over the CRI: the streaming URL (stderr unless tty).
pub async fn exec_url(
    cri: &mut Cri,
    id: &str,
    cmd: &[&str],
    stdin: bool,
    tty: bool,
) -> anyhow::Result<String> {
    let resp = cri
        .runtime
        .exec(cri::ExecRequest {
            container_id: id.into(),
            cmd: args(cmd),
            tty,
            stdin,
            stdout: true,
            stderr: !tty,
        })
        .await
        .with_context(|| format!("Exec {cmd:?}"))?;
    Ok(resp.into_inner().url)
}

/// PortForward over the CRI: the streaming URL.
pub async fn forward_url(cri: &mut Cri, pod_id: &str, port: i32) -> anyhow::Result<String> {
    let resp = cri
        .runtime
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: pod_id.into(),
            port: vec![port],
        })
        .await
        .context("PortForward")?;
    Ok(resp.into_inner().url)
}

/// Bytes as (lossy) text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A random number below 65536.
pub fn rand_u16() -> u32 {
    u32::from_str_radix(&crate::names::random_suffix()[..4], 16).unwrap_or(0)
}
