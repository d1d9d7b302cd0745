//! Shared by the streaming_* tests: a fake backend that runs local processes,
//! a server started on loopback, the independent clients (tests/clients), and
//! a network namespace with an echo server for port-forward.

#![allow(dead_code)]

use cradle_streaming::{
    AttachRequest, ExecRequest, StreamError, StreamIo, StreamingBackend, StreamingConfig,
    StreamingServer, connect_in_netns,
};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the fake backend saw.
#[derive(Default)]
pub struct Seen {
    pub cancelled: AtomicUsize,
    pub pids: Mutex<Vec<u32>>,
}

/// Runs exec commands as local child processes (killed when the server drops
/// the exec future); with a tty, prints "<rows> <cols>" of the first resize
/// (as `stty size` would) before running the command. Port-forward goes into
/// `netns`.
pub struct FakeBackend {
    pub seen: Arc<Seen>,
    pub netns: Option<PathBuf>,
}

struct CancelGuard(Arc<Seen>, bool);
impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.1 {
            self.0.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn copy_out(
    from: Option<impl tokio::io::AsyncRead + Unpin>,
    to: Option<cradle_streaming::BoxedWriter>,
) {
    if let (Some(mut from), Some(mut to)) = (from, to) {
        let _ = tokio::io::copy(&mut from, &mut to).await;
        let _ = to.shutdown().await;
    }
}

impl StreamingBackend for FakeBackend {
    async fn exec(&self, req: ExecRequest, io: StreamIo) -> Result<i32, StreamError> {
        let mut guard = CancelGuard(self.seen.clone(), false);
        let StreamIo {
            stdin,
            mut stdout,
            stderr,
            resize,
        } = io;
        if req.tty {
            let mut resize = resize.ok_or_else(|| StreamError::Backend("no resize".into()))?;
            if let (Some(size), Some(out)) = (resize.recv().await, stdout.as_mut()) {
                out.write_all(format!("{} {}\n", size.height, size.width).as_bytes())
                    .await?;
            }
        }
        let mut cmd = tokio::process::Command::new(&req.cmd[0]);
        cmd.args(&req.cmd[1..])
            .kill_on_drop(true)
            .stdin(if stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn()?;
        if let Some(pid) = child.id() {
            self.seen.pids.lock().unwrap().push(pid);
        }
        let child_in = child.stdin.take();
        let feed = async move {
            if let (Some(mut from), Some(mut to)) = (stdin, child_in) {
                let _ = tokio::io::copy(&mut from, &mut to).await;
            }
        };
        let out = copy_out(child.stdout.take(), stdout);
        let err = copy_out(child.stderr.take(), stderr);
        let (status, (), (), ()) = tokio::join!(child.wait(), feed, out, err);
        guard.1 = true;
        let status = status?;
        use std::os::unix::process::ExitStatusExt;
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }

    async fn attach(&self, _req: AttachRequest, io: StreamIo) -> Result<(), StreamError> {
        // The "main process" is an echo of stdin.
        if let (Some(mut i), Some(mut o)) = (io.stdin, io.stdout) {
            let mut buf = vec![0; 4096];
            loop {
                let n = i.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                o.write_all(&buf[..n]).await?;
            }
        }
        Ok(())
    }

    async fn port_forward(
        &self,
        _sandbox_id: &str,
        port: u16,
    ) -> Result<tokio::net::TcpStream, StreamError> {
        let netns = self
            .netns
            .clone()
            .ok_or_else(|| StreamError::NotFound("netns".into()))?;
        connect_in_netns(&netns, port).await
    }
}

/// A server with a fake backend.
pub async fn server(netns: Option<PathBuf>) -> (StreamingServer, Arc<Seen>) {
    server_with(StreamingConfig::default(), netns).await
}

/// A server with a fake backend and `config`.
pub async fn server_with(
    config: StreamingConfig,
    netns: Option<PathBuf>,
) -> (StreamingServer, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let backend = FakeBackend {
        seen: seen.clone(),
        netns,
    };
    let server = StreamingServer::start(config, backend).await.unwrap();
    (server, seen)
}

pub fn exec_req(cmd: &[&str], stdin: bool, tty: bool) -> cradle_streaming::ExecRequest {
    cradle_streaming::ExecRequest {
        container_id: "c1".into(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        tty,
        stdin,
        stdout: true,
        stderr: !tty,
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Go SPDY client, built once by tests/clients/setup.sh (None: skip).
pub fn spdy_client() -> Option<PathBuf> {
    static CLIENT: OnceLock<Option<PathBuf>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let out = std::env::temp_dir().join("cradle-test-clients");
            let bin = out.join("spdyclient");
            let status = Command::new("sh")
                .arg(repo().join("tests/clients/setup.sh"))
                .env("OUT", &out)
                .stdout(std::process::Stdio::null())
                .status();
            match status {
                Ok(s) if s.success() && bin.exists() => Some(bin),
                _ => {
                    cradle_testkit::skip("tests/clients/setup.sh could not build the SPDY client");
                    None
                }
            }
        })
        .clone()
}

/// Python with websocket-client (None: skip).
pub fn ws_client() -> Option<PathBuf> {
    let ok = Command::new("python3")
        .args(["-c", "import websocket"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        cradle_testkit::skip("python3 websocket-client missing (tests/clients/setup.sh)");
        return None;
    }
    Some(repo().join("tests/clients/ws_client.py"))
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A named network namespace with loopback up; deleted on drop.
pub struct Netns {
    pub name: String,
    pub path: PathBuf,
}

impl Netns {
    pub fn new() -> Netns {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "cradle-st-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add {name}");
        let ns = Netns {
            path: PathBuf::from("/run/netns").join(&name),
            name,
        };
        let ok = Command::new("ip")
            .args(["-n", &ns.name, "link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(ok.success());
        ns
    }

    /// Starts an echo server on 127.0.0.1 inside the namespace; returns its port.
    pub fn echo_server(&self) -> u16 {
        let path = self.path.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                std::thread::spawn(move || {
                    let mut r = conn.try_clone().unwrap();
                    let _ = std::io::copy(&mut r, &mut conn);
                    let _ = conn.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        rx.recv().unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs an independent client (`program` with `args`), feeding it `stdin`;
/// returns (exit code, stdout, stderr). A client that hangs fails the test.
pub async fn run_client(
    program: &std::ffi::OsStr,
    args: &[&std::ffi::OsStr],
    stdin: &[u8],
) -> (i32, Vec<u8>, String) {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    tokio::spawn(async move {
        let _ = input.write_all(&data).await;
    });
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("client timed out")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
