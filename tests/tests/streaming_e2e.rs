//! Exec, Attach and PortForward over the CRI socket and the streaming
//! server, with independent clients (Go SPDY on spdystream, Python
//! websocket-client) against real containers: exit codes 0 and 42, a stdin
//! echo round trip, a tty with its size, 20 parallel sessions, 20 MB of
//! stdout, a tty over WebSocket too, a client killed mid-exec (the process is killed and reaped),
//! attach to a container's output, port-forward to an echo server in the pod
//! (and to a closed port; and in a host-network pod), and the gRPC errors of unknown and stopped
//! containers and of attach with stdin to a container created without it;
//! attach with stdin (SPDY and WebSocket) to a stdin_once container (its input reaches `read`,
//! the end of the attach closes its stdin, it exits 0); tty containers: the
//! terminal's output in the CRI log as stdout, attach with tty over SPDY and
//! WebSocket (typed lines answered, `stty size` shows the client's resize),
//! tty attach refused for a container without one; 100 MiB each way through
//! port-forward to the pod's echo server over SPDY and WebSocket (counts and
//! SHA-256 checked); port-forward with SPDY tunneled through a WebSocket
//! (`SPDY/3.1+portforward.k8s.io`, as critest's `-websocket-portforward`). One daemon (its state dir 200 bytes long, past
//! any unix socket path), one registry, one pod (and a host-network one).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, create_and_start, leak_scope, pod_config, pull, run_pod,
    stop_and_remove_container, stop_and_remove_pod, wait_for_state,
};
use cradle_tests::streaming::{
    args, attach, client, exec_url, forward, forward_url, host_processes_with, rand_u16,
    spdy_client, text, tty, ws_client,
};
use cradle_tests::{CgroupParent, Cri, Daemon, Registry, World, leaks, skip_unless_ready};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_attach_and_port_forward_work_with_spdy_and_websocket_clients() {
    skip_unless_ready!(true);
    let (Some(spdy), Some(ws)) = (spdy_client(), ws_client()) else {
        cradle_tests::skip("streaming clients missing (tests/clients/setup.sh)");
        return;
    };
    // A state dir far longer than a unix socket path: the shim's, attach's
    // and console sockets below it (tty containers, tty exec) must work.
    let mut w = World::start_with_long_state_dir().await;
    let clients = Clients { spdy, ws };
    let result = scenario(&mut w.cri, &w.daemon, &w.registry, &w.cgroup, &clients).await;
    w.finish_with_log(result).await;
}

struct Clients {
    spdy: std::path::PathBuf,
    ws: std::path::PathBuf,
}

async fn scenario(
    cri: &mut Cri,
    daemon: &Daemon,
    registry: &Registry,
    cgroup: &CgroupParent,
    clients: &Clients,
) -> anyhow::Result<()> {
    let image = registry.image_ref();
    pull(cri, &image).await?;
    let pod = pod_config(daemon, cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;
    let sleeper = create_and_start(
        cri,
        &pod_id,
        &pod,
        container_config(&image, "sleeper", &["sleep", "3600"]),
    )
    .await?;
    let echo = create_and_start(
        cri,
        &pod_id,
        &pod,
        container_config(&image, "echo", &["nc", "-ll", "-p", "8080", "-e", "cat"]),
    )
    .await?;

    exec_cases(cri, &sleeper, clients).await?;
    parallel_and_large_exec(cri, &sleeper, clients).await?;
    client_killed_mid_exec(cri, &sleeper, clients).await?;
    port_forward_cases(cri, &pod_id, clients).await?;
    forward::forward_100_mib(cri, &pod_id, 8080, &clients.spdy, &clients.ws).await?;
    error_cases(cri, &sleeper, &pod, &pod_id, &image).await?;
    host_network_forward(cri, daemon, cgroup, &image, clients).await?;
    let (spdy, ws) = (&clients.spdy, &clients.ws);
    let talker = attach::attach_case(cri, &pod, &pod_id, &image, spdy).await?;
    let reader = attach::attach_stdin_case(cri, &pod, &pod_id, &image, spdy, ws, false).await?;
    let ws_reader = attach::attach_stdin_case(cri, &pod, &pod_id, &image, spdy, ws, true).await?;
    let tty_logger = tty::tty_output_is_logged(cri, &pod, &pod_id, &image).await?;
    let tty_spdy = tty::tty_attach_round_trip(cri, &pod, &pod_id, &image, spdy, ws, false).await?;
    let tty_ws = tty::tty_attach_round_trip(cri, &pod, &pod_id, &image, spdy, ws, true).await?;
    tty::tty_attach_to_a_plain_container_is_refused(cri, &sleeper).await?;

    let ids = [
        &pod_id,
        &sleeper,
        &echo,
        &talker,
        &reader,
        &ws_reader,
        &tty_logger,
        &tty_spdy,
        &tty_ws,
    ];
    let scope = leak_scope(daemon, &ids.map(String::as_str));
    stop_and_remove_container(cri, &sleeper).await?;
    stop_and_remove_container(cri, &echo).await?;
    stop_and_remove_container(cri, &talker).await?;
    stop_and_remove_container(cri, &reader).await?;
    stop_and_remove_container(cri, &ws_reader).await?;
    for id in [&tty_logger, &tty_spdy, &tty_ws] {
        stop_and_remove_container(cri, id).await?;
    }
    stop_and_remove_pod(cri, &pod_id).await?;
    leaks::assert_none(&scope);
    Ok(())
}

async fn exec_cases(cri: &mut Cri, id: &str, c: &Clients) -> anyhow::Result<()> {
    // Exit codes, SPDY v4: 42 is reported exactly, 0 is success.
    let url = exec_url(
        cri,
        id,
        &["sh", "-c", "echo out; echo err >&2; exit 42"],
        false,
        false,
    )
    .await?;
    let out = client(
        c.spdy.clone(),
        args(&["exec", &url, "-stdout", "-stderr"]),
        vec![],
    )
    .await?;
    ensure!(out.status.code() == Some(42), "exit 42 over SPDY: {out:?}");
    ensure!(text(&out.stdout) == "out\n", "stdout: {out:?}");
    ensure!(text(&out.stderr).contains("err\n"), "stderr: {out:?}");
    // A prefix of the id resolves.
    let url = exec_url(cri, &id[..12], &["true"], false, false).await?;
    let out = client(
        c.spdy.clone(),
        args(&["exec", &url, "-stdout", "-stderr"]),
        vec![],
    )
    .await?;
    ensure!(out.status.success(), "exit 0 over SPDY: {out:?}");

    // stdin round trip through cat, SPDY and WebSocket v5 (stdin closed by the client).
    let input: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let url = exec_url(cri, id, &["cat"], true, false).await?;
    let out = client(
        c.spdy.clone(),
        args(&["exec", &url, "-stdin", "-stdout", "-stderr"]),
        input.clone(),
    )
    .await?;
    ensure!(
        out.status.success(),
        "cat over SPDY: {:?}",
        text(&out.stderr)
    );
    ensure!(
        out.stdout == input,
        "cat over SPDY echoed {} of {} bytes",
        out.stdout.len(),
        input.len()
    );
    let url = exec_url(cri, id, &["cat"], true, false).await?;
    let out = client(
        "python3".into(),
        vec![
            c.ws.display().to_string(),
            "exec".into(),
            url,
            "v5.channel.k8s.io".into(),
            "--stdin".into(),
        ],
        b"hello websocket\n".to_vec(),
    )
    .await?;
    ensure!(
        out.status.success(),
        "cat over WebSocket: {:?}",
        text(&out.stderr)
    );
    ensure!(
        text(&out.stdout) == "hello websocket\n",
        "WebSocket echo: {out:?}"
    );
    let url = exec_url(cri, id, &["sh", "-c", "exit 42"], false, false).await?;
    let out = client(
        "python3".into(),
        vec![
            c.ws.display().to_string(),
            "exec".into(),
            url,
            "v4.channel.k8s.io".into(),
        ],
        vec![],
    )
    .await?;
    ensure!(
        out.status.code() == Some(42),
        "exit 42 over WebSocket: {out:?}"
    );

    // A tty: the process sees a terminal of the size the client sent (the
    // resize may land just after the start, so the script waits for it;
    // before it, busybox's `stty size` fails on a 0-row terminal rather
    // than printing "0 0").
    let script = "for i in $(seq 50); do s=$(stty size 2>/dev/null); [ -n \"$s\" ] && [ \"$s\" != '0 0' ] && break; sleep 0.1; done; echo size $s; [ -t 0 ] && echo tty";
    let url = exec_url(cri, id, &["sh", "-c", script], true, true).await?;
    let out = client(
        c.spdy.clone(),
        args(&[
            "exec", &url, "-stdin", "-stdout", "-tty", "-width", "91", "-height", "17",
        ]),
        vec![],
    )
    .await?;
    ensure!(out.status.success(), "tty exec: {out:?}");
    let shown = text(&out.stdout);
    let url = exec_url(cri, id, &["sh", "-c", script], true, true).await?;
    let out = client(
        "python3".into(),
        vec![
            c.ws.display().to_string(),
            "exec".into(),
            url,
            "v5.channel.k8s.io".into(),
            "--stdin".into(),
            "--resize".into(),
            "100x30".into(),
        ],
        vec![],
    )
    .await?;
    ensure!(
        out.status.success() && text(&out.stdout).contains("size 30 100"),
        "tty exec over WebSocket: {out:?}"
    );
    ensure!(
        shown.contains("size 17 91") && shown.contains("tty"),
        "tty exec printed {shown:?}"
    );
    Ok(())
}

/// The client is SIGKILLed while `sleep <n>` runs: the exec'd process and the
/// runtime's exec process must disappear from the host (killed AND reaped).
async fn client_killed_mid_exec(cri: &mut Cri, id: &str, c: &Clients) -> anyhow::Result<()> {
    let marker = format!("{}", 100_000 + rand_u16());
    let url = exec_url(
        cri,
        id,
        &["sh", "-c", &format!("echo started; exec sleep {marker}")],
        false,
        false,
    )
    .await?;
    let mut child = std::process::Command::new(&c.spdy)
        .args(["exec", &url, "-stdout", "-stderr"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut stdout = child.stdout.take().context("client stdout")?;
    let started = tokio::task::spawn_blocking(move || {
        let mut buf = [0u8; 8];
        std::io::Read::read(&mut stdout, &mut buf).map(|n| buf[..n].to_vec())
    });
    let started = tokio::time::timeout(Duration::from_secs(30), started).await;
    let pids = host_processes_with(&format!("sleep {marker}"));
    let _ = child.kill();
    let _ = child.wait();
    let started = started.context("exec never started")???;
    ensure!(started.starts_with(b"started"), "exec printed {started:?}");
    ensure!(!pids.is_empty(), "sleep {marker} not found on the host");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let alive: Vec<i32> = pids
            .iter()
            .copied()
            .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
            .collect();
        let runtimes = host_processes_with(&format!("{id} sh -c echo started"));
        if alive.is_empty() && runtimes.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("after the client died: exec'd {alive:?} / runtime {runtimes:?} still there");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And the container saw it go: no `sleep <marker>` in its ps.
    let ps = cri
        .runtime
        .exec_sync(cri::ExecSyncRequest {
            container_id: id.into(),
            cmd: args(&["ps", "-o", "args"]),
            timeout: 10,
        })
        .await?
        .into_inner();
    ensure!(
        !text(&ps.stdout).contains(&marker),
        "still in ps:\n{}",
        text(&ps.stdout)
    );
    Ok(())
}

async fn port_forward_cases(cri: &mut Cri, pod_id: &str, c: &Clients) -> anyhow::Result<()> {
    // The echo server may still be starting: retry the first forward (each
    // URL is one-time), bounded.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let url = forward_url(cri, pod_id, 8080).await?;
        let out = client(
            c.spdy.clone(),
            args(&[
                "portforward",
                &url,
                "-port",
                "8080",
                "-conns",
                "3",
                "-size",
                "1048576",
            ]),
            vec![],
        )
        .await?;
        if out.status.success() && text(&out.stdout).contains("ok 3") {
            break;
        }
        if Instant::now() > deadline {
            bail!("SPDY port-forward to the pod's echo server: {out:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let url = forward_url(cri, &pod_id[..12], 8080).await?;
    let out = client(
        "python3".into(),
        vec![
            c.ws.display().to_string(),
            "portforward".into(),
            url,
            "8080".into(),
            "65536".into(),
        ],
        vec![],
    )
    .await?;
    ensure!(
        out.status.success() && text(&out.stdout).contains("ok"),
        "WebSocket port-forward: {out:?}"
    );
    // SPDY tunneled through a WebSocket (critest's -websocket-portforward,
    // client-go's NewSPDYOverWebsocketDialer): 3 streams of 1 MiB echoed.
    let url = forward_url(cri, pod_id, 8080).await?;
    let out = client(
        c.spdy.clone(),
        args(&[
            "portforward",
            &url,
            "-port",
            "8080",
            "-conns",
            "3",
            "-size",
            "1048576",
            "-websocket",
        ]),
        vec![],
    )
    .await?;
    ensure!(
        out.status.success() && text(&out.stdout).contains("ok 3"),
        "SPDY-over-WebSocket port-forward: {out:?}"
    );
    // Nothing listens on 8081: a clear error on the error stream.
    let url = forward_url(cri, pod_id, 8081).await?;
    let out = client(
        c.spdy.clone(),
        args(&["portforward", &url, "-port", "8081"]),
        vec![],
    )
    .await?;
    ensure!(
        !out.status.success(),
        "port-forward to a closed port succeeded: {out:?}"
    );
    ensure!(
        text(&out.stderr).contains("8081"),
        "closed port error: {:?}",
        text(&out.stderr)
    );
    // The same error through the tunnel.
    let url = forward_url(cri, pod_id, 8081).await?;
    let out = client(
        c.spdy.clone(),
        args(&["portforward", &url, "-port", "8081", "-websocket"]),
        vec![],
    )
    .await?;
    ensure!(
        !out.status.success() && text(&out.stderr).contains("8081"),
        "tunneled port-forward to a closed port: {out:?}"
    );
    Ok(())
}

async fn error_cases(
    cri: &mut Cri,
    running: &str,
    pod: &cri::PodSandboxConfig,
    pod_id: &str,
    image: &str,
) -> anyhow::Result<()> {
    let err = exec_url(cri, "0123456789abcdef-none", &["true"], false, false)
        .await
        .expect_err("Exec on an unknown container");
    let code = err.downcast_ref::<tonic::Status>().map(|s| s.code());
    ensure!(code == Some(Code::NotFound), "unknown container: {err:?}");
    let done =
        create_and_start(cri, pod_id, pod, container_config(image, "done", &["true"])).await?;
    wait_for_state(
        cri,
        &done,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(10),
    )
    .await?;
    let err = exec_url(cri, &done, &["true"], false, false)
        .await
        .expect_err("Exec on an exited container");
    let code = err.downcast_ref::<tonic::Status>().map(|s| s.code());
    ensure!(
        code == Some(Code::FailedPrecondition),
        "exited container: {err:?}"
    );
    let err = cri
        .runtime
        .attach(cri::AttachRequest {
            container_id: done.clone(),
            stdout: true,
            ..Default::default()
        })
        .await
        .expect_err("Attach");
    ensure!(
        err.code() == Code::FailedPrecondition,
        "attach to an exited container: {err:?}"
    );
    let err = cri
        .runtime
        .attach(cri::AttachRequest {
            container_id: running.into(),
            stdin: true,
            stdout: true,
            ..Default::default()
        })
        .await
        .expect_err("Attach with stdin");
    ensure!(
        err.code() == Code::FailedPrecondition && err.message().contains("stdin"),
        "attach with stdin to a container created without it: {err:?}"
    );
    let err = forward_url(cri, "0123456789abcdef-none", 80)
        .await
        .expect_err("PortForward to an unknown pod");
    let code = err.downcast_ref::<tonic::Status>().map(|s| s.code());
    ensure!(code == Some(Code::NotFound), "unknown pod: {err:?}");
    stop_and_remove_container(cri, &done).await?;
    Ok(())
}

/// 20 exec sessions at once, each with its own output and exit code; then
/// 20 MB of stdout through one session without loss.
async fn parallel_and_large_exec(cri: &mut Cri, id: &str, c: &Clients) -> anyhow::Result<()> {
    let mut sessions = Vec::new();
    for i in 0..20 {
        let url = exec_url(
            cri,
            id,
            &["sh", "-c", &format!("echo session {i}; exit {}", 10 + i)],
            false,
            false,
        )
        .await?;
        let run = client(
            c.spdy.clone(),
            args(&["exec", &url, "-stdout", "-stderr"]),
            vec![],
        );
        sessions.push(tokio::spawn(run));
    }
    for (i, session) in sessions.into_iter().enumerate() {
        let out = session.await??;
        ensure!(
            out.status.code() == Some(10 + i as i32)
                && text(&out.stdout) == format!("session {i}\n"),
            "parallel session {i}: {out:?}"
        );
    }
    let url = exec_url(cri, id, &["seq", "1", "2500000"], false, false).await?;
    let out = client(
        c.spdy.clone(),
        args(&["exec", &url, "-stdout", "-stderr"]),
        vec![],
    )
    .await?;
    ensure!(out.status.success(), "seq: {:?}", text(&out.stderr));
    let want: usize = (1..=2_500_000u32).map(|n| n.to_string().len() + 1).sum();
    let lines = out.stdout.iter().filter(|b| **b == b'\n').count();
    ensure!(
        out.stdout.len() == want && lines == 2_500_000 && out.stdout.ends_with(b"\n2500000\n"),
        "large stdout: {} bytes, {lines} lines (want {want} bytes)",
        out.stdout.len()
    );
    Ok(())
}

/// A host-network pod listens in the host's namespace: port-forward connects
/// to 127.0.0.1 there.
async fn host_network_forward(
    cri: &mut Cri,
    daemon: &Daemon,
    cgroup: &CgroupParent,
    image: &str,
    c: &Clients,
) -> anyhow::Result<()> {
    let port = 20_000 + rand_u16() % 20_000;
    let mut pod = pod_config(daemon, cgroup)?;
    if let Some(ns) = pod
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
        .and_then(|s| s.namespace_options.as_mut())
    {
        ns.network = cri::NamespaceMode::Node as i32;
    }
    let pod_id = run_pod(cri, &pod).await?;
    let mut config = container_config(
        image,
        "host-echo",
        &["nc", "-ll", "-p", &port.to_string(), "-e", "cat"],
    );
    if let Some(ns) = config
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
        .and_then(|s| s.namespace_options.as_mut())
    {
        ns.network = cri::NamespaceMode::Node as i32;
    }
    let echo = create_and_start(cri, &pod_id, &pod, config).await?;
    let deadline = Instant::now() + Duration::from_secs(15);
    let result = loop {
        let url = forward_url(cri, &pod_id, port as i32).await?;
        let out = client(
            c.spdy.clone(),
            args(&[
                "portforward",
                &url,
                "-port",
                &port.to_string(),
                "-size",
                "65536",
            ]),
            vec![],
        )
        .await?;
        if out.status.success() {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!("host-network port-forward: {out:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stop_and_remove_container(cri, &echo).await?;
    stop_and_remove_pod(cri, &pod_id).await?;
    result
}
