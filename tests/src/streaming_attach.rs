//! The attach cases of the streaming end-to-end test (output only, and with
//! stdin to a stdin_once container), with the Go SPDY and Python WebSocket
//! clients.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use cradle_proto::cri;

use super::{args, client, text};
use crate::client::Cri;
use crate::steps::{container_config, create_and_start, wait_for_state};

/// Attach (output only) with the SPDY client to a container that prints
/// "waiting" until told to go: once the client has seen "waiting" it is
/// attached; then the container's last words on stdout and stderr reach it,
/// and its exit ends the session with success.
pub async fn attach_case(
    cri: &mut Cri,
    pod: &cri::PodSandboxConfig,
    pod_id: &str,
    image: &str,
    spdy: &Path,
) -> anyhow::Result<String> {
    let script = "i=0; while [ ! -e /tmp/go ] && [ $i -lt 600 ]; do echo waiting; i=$((i+1)); sleep 0.1; done; echo attached out; echo attached err >&2";
    let talker = create_and_start(
        cri,
        pod_id,
        pod,
        container_config(image, "talker", &["sh", "-c", script]),
    )
    .await?;
    let url = cri
        .runtime
        .attach(cri::AttachRequest {
            container_id: talker.clone(),
            stdout: true,
            stderr: true,
            ..Default::default()
        })
        .await
        .context("Attach")?
        .into_inner()
        .url;
    let mut child = std::process::Command::new(spdy)
        .args(["exec", &url, "-stdout", "-stderr"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("client stdout")?;
    let stderr = child.stderr.take().context("client stderr")?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let err_text = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut { stderr }, &mut text);
        text
    });
    let outcome = async {
        let first = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await;
        ensure!(
            matches!(&first, Ok(Some(line)) if line == "waiting"),
            "attach saw {first:?}"
        );
        cri.runtime
            .exec_sync(cri::ExecSyncRequest {
                container_id: talker.clone(),
                cmd: args(&["touch", "/tmp/go"]),
                timeout: 10,
            })
            .await
            .context("ExecSync touch")?;
        let mut rest = Vec::new();
        while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            rest.push(line);
        }
        ensure!(
            rest.last().map(String::as_str) == Some("attached out"),
            "attach output ended with {:?}",
            rest.last()
        );
        Ok(())
    }
    .await;
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await?;
    outcome?;
    let err_text = err_text.join().unwrap_or_default();
    ensure!(
        err_text.contains("attached err"),
        "attach stderr: {err_text:?}"
    );
    ensure!(
        status.is_some_and(|s| s.success()),
        "attach client ended with {status:?}: {err_text}"
    );
    Ok(talker)
}

/// Attach with stdin (SPDY client, or WebSocket v5 with `websocket`) to a
/// container created with stdin and stdin_once that reads one line: the line
/// reaches it, its answer reaches the client, and the end of the client's
/// stdin closes the container's, which exits 0.
pub async fn attach_stdin_case(
    cri: &mut Cri,
    pod: &cri::PodSandboxConfig,
    pod_id: &str,
    image: &str,
    spdy: &Path,
    ws: &Path,
    websocket: bool,
) -> anyhow::Result<String> {
    let name = if websocket { "reader-ws" } else { "reader" };
    let mut config = container_config(
        image,
        name,
        &["sh", "-c", "read line; echo got:$line; cat; echo eof"],
    );
    config.stdin = true;
    config.stdin_once = true;
    let reader = create_and_start(cri, pod_id, pod, config).await?;
    let url = cri
        .runtime
        .attach(cri::AttachRequest {
            container_id: reader.clone(),
            stdin: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        })
        .await
        .context("Attach with stdin")?
        .into_inner()
        .url;
    let out = if websocket {
        client(
            "python3".into(),
            vec![
                ws.display().to_string(),
                "exec".into(),
                url,
                "v5.channel.k8s.io".into(),
                "--stdin".into(),
            ],
            b"x\n".to_vec(),
        )
        .await?
    } else {
        client(
            spdy.to_path_buf(),
            args(&["exec", &url, "-stdin", "-stdout", "-stderr"]),
            b"x\n".to_vec(),
        )
        .await?
    };
    ensure!(
        out.status.success(),
        "attach with stdin ({name}): {out:?} {}",
        text(&out.stderr)
    );
    ensure!(
        text(&out.stdout) == "got:x\neof\n",
        "attach with stdin ({name}) saw {out:?}"
    );
    let status = wait_for_state(
        cri,
        &reader,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(20),
    )
    .await?;
    ensure!(status.exit_code == 0, "{name} exited with {status:?}");
    Ok(reader)
}
