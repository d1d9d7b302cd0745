//! The tty cases of the streaming end-to-end test: a tty container's output
//! in its CRI log (as stdout), Attach to a tty container with stdin through
//! the Go SPDY client and the Python WebSocket client (typed input answered,
//! `stty size` showing the client's resize), and Attach with tty refused for
//! a container created without one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use tonic::Code;

use super::{args, client, text};
use crate::client::Cri;
use crate::steps::{container_config, create_and_start, has_log_line, wait_for_state};

/// The script of the tty containers: answers each typed line; `size` waits
/// (bounded) for a size (the resize may land after the line; until then
/// busybox's `stty size` fails on the 0-row terminal, or prints "0 0"),
/// `quit` exits 0.
const ANSWERING_SHELL: &str = "while read line; do case \"$line\" in \
    size) n=0; while s=$(stty size 2>/dev/null); { [ -z \"$s\" ] || [ \"$s\" = '0 0' ]; } && [ $n -lt 50 ]; do n=$((n+1)); sleep 0.1; done; \
          echo \"size:$s\";; \
    quit) exit 0;; \
    *) echo \"got:$line\";; esac; done";

/// A tty container (without stdin) logs its terminal output as stdout.
pub async fn tty_output_is_logged(
    cri: &mut Cri,
    pod: &cri::PodSandboxConfig,
    pod_id: &str,
    image: &str,
) -> anyhow::Result<String> {
    let mut config = container_config(
        image,
        "tty-logger",
        &[
            "sh",
            "-c",
            "[ -t 1 ] && echo tty-logged; echo tty-stderr >&2",
        ],
    );
    config.tty = true;
    let id = create_and_start(cri, pod_id, pod, config).await?;
    let status = wait_for_state(
        cri,
        &id,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(20),
    )
    .await?;
    ensure!(status.exit_code == 0, "tty-logger exited with {status:?}");
    let log = log_path(pod, "tty-logger");
    // A terminal ends lines with CR LF; the log keeps the bytes, as
    // containerd's does (`has_log_line` reads lines without the CR).
    let raw = std::fs::read_to_string(&log).unwrap_or_default();
    ensure!(raw.contains("tty-logged\r\n"), "{raw:?}");
    for line in ["tty-logged", "tty-stderr"] {
        ensure!(
            has_log_line(&log, "stdout", line)?,
            "no stdout {line:?} in {}:\n{}",
            log.display(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    Ok(id)
}

/// Attach with tty and stdin to a tty container: the typed lines reach it,
/// its answers and `stty size` (the client's size) come back, and `quit`
/// ends it with exit 0. `websocket` picks the Python client (v5), else SPDY.
pub async fn tty_attach_round_trip(
    cri: &mut Cri,
    pod: &cri::PodSandboxConfig,
    pod_id: &str,
    image: &str,
    spdy: &Path,
    ws: &Path,
    websocket: bool,
) -> anyhow::Result<String> {
    let name = if websocket { "tty-ws" } else { "tty-spdy" };
    let mut config = container_config(image, name, &["sh", "-c", ANSWERING_SHELL]);
    config.tty = true;
    config.stdin = true;
    let id = create_and_start(cri, pod_id, pod, config).await?;
    let url = cri
        .runtime
        .attach(cri::AttachRequest {
            container_id: id.clone(),
            stdin: true,
            stdout: true,
            stderr: false,
            tty: true,
        })
        .await
        .context("Attach with tty")?
        .into_inner()
        .url;
    let input = b"hello\nsize\nquit\n".to_vec();
    let (out, want_size) = if websocket {
        let argv = vec![
            ws.display().to_string(),
            "exec".into(),
            url,
            "v5.channel.k8s.io".into(),
            "--stdin".into(),
            "--resize".into(),
            "100x30".into(),
        ];
        (client("python3".into(), argv, input).await?, "size:30 100")
    } else {
        let argv = args(&[
            "exec", &url, "-stdin", "-stdout", "-tty", "-width", "91", "-height", "17",
        ]);
        (
            client(PathBuf::from(spdy), argv, input).await?,
            "size:17 91",
        )
    };
    let shown = text(&out.stdout);
    ensure!(
        out.status.success(),
        "tty attach ({name}): {out:?} {}",
        text(&out.stderr)
    );
    ensure!(
        shown.contains("got:hello") && shown.contains(want_size),
        "tty attach ({name}) showed {shown:?}"
    );
    let status = wait_for_state(
        cri,
        &id,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(20),
    )
    .await?;
    ensure!(status.exit_code == 0, "{name} exited with {status:?}");
    ensure!(
        has_log_line(&log_path(pod, name), "stdout", "got:hello")?,
        "{name}'s log lacks its answer"
    );
    Ok(id)
}

/// Attach with tty to a container created without one is refused.
pub async fn tty_attach_to_a_plain_container_is_refused(
    cri: &mut Cri,
    running: &str,
) -> anyhow::Result<()> {
    let refused = cri
        .runtime
        .attach(cri::AttachRequest {
            container_id: running.into(),
            stdout: true,
            tty: true,
            ..Default::default()
        })
        .await;
    let Err(err) = refused else {
        bail!("Attach with tty to a container without one got a URL");
    };
    ensure!(
        err.code() == Code::FailedPrecondition && err.message().contains("tty"),
        "tty attach to a plain container: {err:?}"
    );
    Ok(())
}

/// Where `container_config` puts the log of container `name` of `pod`.
fn log_path(pod: &cri::PodSandboxConfig, name: &str) -> PathBuf {
    Path::new(&pod.log_directory).join(format!("{name}.log"))
}
