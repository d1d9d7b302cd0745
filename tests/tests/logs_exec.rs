//! CRI logs and ExecSync edge cases over the CRI socket: partial and long
//! lines read back byte for byte from the CRI log file, a rotation by
//! rename + ReopenContainerLog under load that loses no line, and an
//! ExecSync timeout that answers DeadlineExceeded and leaves no process
//! behind. One daemon, one registry, one pod per runtime handler that can
//! run containers on this host (cradle-oci, runc, crun where installed).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, create_and_start, pod_config, pull, remove_pod_and_check_leaks, run_pod_on,
    runnable_handlers, wait_for_state,
};
use cradle_tests::{CgroupParent, Cri, Daemon, Registry, World, skip_unless_ready};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_keep_every_byte_across_rotation_and_exec_timeouts_kill() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = on_every_handler(&mut w).await;
    w.finish(result).await;
}

async fn on_every_handler(w: &mut World) -> anyhow::Result<()> {
    for handler in runnable_handlers(&mut w.cri).await? {
        scenario(&mut w.cri, &w.daemon, &w.registry, &w.cgroup, &handler)
            .await
            .with_context(|| format!("handler {handler:?}"))?;
    }
    Ok(())
}

/// The stdout stream rebuilt from CRI log files: `P` content as is, `F`
/// content plus a newline. Every line must have the CRI shape.
fn rebuild(files: &[&Path], stream: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    for file in files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for line in text.lines() {
            let mut fields = line.splitn(4, ' ');
            let (Some(ts), Some(s), Some(tag), Some(content)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                // An empty F line has no content field after the tag's space.
                bail!("malformed CRI log line {line:?}");
            };
            ensure!(
                ts.len() >= 20 && ts.as_bytes()[10] == b'T',
                "timestamp {ts:?}"
            );
            if s != stream {
                continue;
            }
            match tag {
                "P" => out.push_str(content),
                "F" => {
                    out.push_str(content);
                    out.push('\n');
                }
                other => bail!("tag {other:?} in {line:?}"),
            }
        }
    }
    Ok(out)
}

async fn scenario(
    cri: &mut Cri,
    daemon: &Daemon,
    registry: &Registry,
    cgroup: &CgroupParent,
    handler: &str,
) -> anyhow::Result<()> {
    let image = registry.image_ref();
    pull(cri, &image).await?;
    let pod = pod_config(daemon, cgroup)?;
    let log_dir = Path::new(&pod.log_directory).to_path_buf();
    let pod_id = run_pod_on(cri, &pod, handler).await?;
    let mut ids = Vec::new();

    // A partial line completed later, then a 100 000-byte line.
    let writer = container_config(
        &image,
        "writer",
        &[
            "sh",
            "-c",
            "printf 'abc'; sleep 0.3; printf 'def\\nnext\\n'; head -c 100000 /dev/zero | tr '\\000' x; echo",
        ],
    );
    let writer = create_and_start(cri, &pod_id, &pod, writer).await?;
    ids.push(writer.clone());
    wait_for_state(
        cri,
        &writer,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(20),
    )
    .await?;
    let got = rebuild(&[&log_dir.join("writer.log")], "stdout")?;
    let expected = format!("abcdef\nnext\n{}\n", "x".repeat(100_000));
    ensure!(
        got == expected,
        "log rebuilt to {} bytes, expected {}; starts {:?}",
        got.len(),
        expected.len(),
        &got[..got.len().min(40)]
    );

    // 400 numbered lines while the log is rotated twice.
    let counter = container_config(
        &image,
        "counter",
        &[
            "sh",
            "-c",
            "i=1; while [ $i -le 400 ]; do echo line-$i; i=$((i+1)); usleep 2000; done",
        ],
    );
    let counter = create_and_start(cri, &pod_id, &pod, counter).await?;
    ids.push(counter.clone());
    let log = log_dir.join("counter.log");
    let mut rotated = Vec::new();
    for n in 1..=2 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let old = log_dir.join(format!("counter.log.{n}"));
        std::fs::rename(&log, &old)?;
        rotated.push(old);
        cri.runtime
            .reopen_container_log(cri::ReopenContainerLogRequest {
                container_id: counter.clone(),
            })
            .await
            .context("ReopenContainerLog")?;
    }
    wait_for_state(
        cri,
        &counter,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(30),
    )
    .await?;
    let mut files: Vec<&Path> = rotated.iter().map(|p| p.as_path()).collect();
    files.push(&log);
    let got = rebuild(&files, "stdout")?;
    let expected: String = (1..=400).map(|i| format!("line-{i}\n")).collect();
    ensure!(
        got == expected,
        "lines lost or reordered across rotation:\n{got}"
    );
    ensure!(
        std::fs::metadata(&log)?.len() > 0,
        "nothing written after the last reopen"
    );

    // ExecSync past its timeout: DeadlineExceeded, and the process is gone.
    let sleeper = container_config(&image, "sleeper", &["sleep", "3600"]);
    let sleeper = create_and_start(cri, &pod_id, &pod, sleeper).await?;
    ids.push(sleeper.clone());
    let err = cri
        .runtime
        .exec_sync(cri::ExecSyncRequest {
            container_id: sleeper.clone(),
            cmd: vec!["sleep".into(), "4242".into()],
            timeout: 1,
        })
        .await
        .expect_err("ExecSync should time out");
    ensure!(
        err.code() == Code::DeadlineExceeded,
        "ExecSync timeout: {err:?}"
    );
    let ps = cri
        .runtime
        .exec_sync(cri::ExecSyncRequest {
            container_id: sleeper.clone(),
            cmd: vec!["ps".into(), "-o".into(), "args".into()],
            timeout: 10,
        })
        .await?
        .into_inner();
    let ps = String::from_utf8_lossy(&ps.stdout);
    ensure!(
        !ps.contains("4242"),
        "the timed-out process is still there:\n{ps}"
    );

    remove_pod_and_check_leaks(cri, daemon, &pod_id, &ids).await
}
