//! `cradlectl exec -i/-t`: the CRI `Exec` rpc, then the session behind its
//! streaming URL through [`cradle_streaming::client`] (the protocol lives
//! there, beside the server it is tested against; this module only wires
//! it to this process's terminal). With `-t` and a terminal on stdin the
//! terminal is raw while the command runs (restored on every way out, see
//! [`terminal::RawMode`]) and its window size is sent at the start and on
//! each SIGWINCH. Our exit code is the command's; SIGINT, SIGTERM, SIGHUP
//! or SIGQUIT end the session with 128 + the signal's number.

mod terminal;

use anyhow::Context as _;
use cradle_proto::cri;
use cradle_proto::cri::runtime_service_client::RuntimeServiceClient;
use cradle_streaming::StreamIo;
use cradle_streaming::client::remote_command;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt as _;
use tonic::transport::Channel;

/// The flags that make `exec` interactive (as crictl's `exec -it`).
#[derive(Debug, clap::Args)]
pub struct Interactive {
    /// Send our stdin to the command (until its end).
    #[arg(long, short = 'i')]
    stdin: bool,
    /// Run the command on a terminal (its stdout and stderr are one stream).
    #[arg(long, short = 't')]
    tty: bool,
    /// An https streaming server's CA certificate (or its own certificate),
    /// PEM.
    #[arg(long, value_name = "PEM")]
    tls_ca: Option<PathBuf>,
}

impl Interactive {
    /// Whether `-i` or `-t` was given (else `exec` runs through ExecSync).
    pub fn wanted(&self) -> bool {
        self.stdin || self.tty
    }
}

/// `exec -i/-t ID -- CMD…`: runs `cmd` in container `id` through the
/// streaming server; exits with its exit code.
pub async fn run(
    rt: &mut RuntimeServiceClient<Channel>,
    id: String,
    cmd: Vec<String>,
    opts: Interactive,
) -> anyhow::Result<()> {
    anyhow::ensure!(!cmd.is_empty(), "no command: exec -it ID -- CMD [ARG...]");
    let request = cri::ExecRequest {
        container_id: id,
        cmd,
        tty: opts.tty,
        stdin: opts.stdin,
        stdout: true,
        stderr: !opts.tty,
    };
    let url = rt.exec(request).await.context("Exec")?.into_inner().url;
    let code = session(&url, &opts).await?;
    if code != 0 {
        // The terminal is restored and the output flushed by now. A code
        // the shell cannot show (over 255, negative) still means failure.
        std::process::exit(code.clamp(1, 255));
    }
    Ok(())
}

/// The streaming session with this process's stdin, stdout and stderr
/// (and terminal); returns the exit code.
async fn session(url: &str, opts: &Interactive) -> anyhow::Result<i32> {
    let mut ending = terminal::EndingSignals::new().context("installing signal handlers")?;
    let raw = if opts.tty && opts.stdin && std::io::stdin().is_terminal() {
        Some(terminal::RawMode::enter().context("putting the terminal in raw mode")?)
    } else {
        None
    };
    let mut io = StreamIo::default();
    if opts.stdin {
        io.stdin = Some(Box::new(stdin_pipe()));
    }
    io.stdout = Some(Box::new(tokio::io::stdout()));
    if !opts.tty {
        io.stderr = Some(Box::new(tokio::io::stderr()));
    }
    let sizes = if opts.tty {
        let sizes = terminal::SizeWatch::start().context("watching the window size")?;
        io.resize = Some(sizes.receiver);
        Some(sizes.task)
    } else {
        None
    };
    let ended = tokio::select! {
        result = remote_command(url, io, opts.tls_ca.as_deref()) => {
            result.context("exec session")
        }
        signal = ending.recv() => Ok(128 + signal),
    };
    if let Some(task) = sizes {
        task.abort();
    }
    drop(raw);
    ended
}

/// Our stdin as an async reader, read by a thread of its own: a blocked
/// read on a terminal must not keep the runtime (and so the process) alive
/// after the session ends, as tokio's stdin would.
fn stdin_pipe() -> tokio::io::DuplexStream {
    use std::io::Read as _;
    let (mut ours, theirs) = tokio::io::duplex(64 * 1024);
    let runtime = tokio::runtime::Handle::current();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if runtime.block_on(ours.write_all(&buf[..n])).is_err() {
                return;
            }
        }
        let _ = runtime.block_on(ours.shutdown());
    });
    theirs
}
