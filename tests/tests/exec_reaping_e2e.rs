//! Nothing Cradle starts is left unreaped. An ExecSync that times out kills
//! the exec'd process and lets its parent reap it, so not even a zombie is
//! left for the container to see (critest's "should support execSync with
//! timeout" finds zombies with `pgrep`); and shims, which detach from the
//! daemon, are reaped when they exit instead of staying zombies of a PID 1
//! that may never reap (as on the CI machine).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::time::Duration;

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, create_and_start, exec, pod_config, pull, remove_pod_and_check_leaks, run_pod,
};
use cradle_tests::{World, skip_unless_ready};
use tonic::Code;

/// How long the daemon may take to notice that a shim exited and reap it.
const REAP_WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_sync_timeout_and_exited_shims_leave_no_process_or_zombie() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = scenario(&mut w).await;
    w.finish_with_log(result).await;
}

async fn scenario(w: &mut World) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let image = w.registry.image_ref();
    pull(cri, &image).await?;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;
    // `sleep` as the container's init never reaps: an exec'd process
    // orphaned inside the container would stay there as a zombie.
    let sleeper = container_config(&image, "sleeper", &["sleep", "3600"]);
    let sleeper = create_and_start(cri, &pod_id, &pod, sleeper).await?;
    let shims = shims_of(&[&pod_id, &sleeper]);
    ensure!(
        shims.len() == 2,
        "expected a shim for the pod and one for the container, found {shims:?}"
    );
    // Detached shims are adopted by the daemon, which reaps them, never
    // by the host's init, which may not.
    let daemon = w.daemon.pid().context("the daemon's pid")?;
    ensure!(
        shims.iter().all(|shim| shim.ppid == daemon),
        "shims not adopted by the daemon (pid {daemon}): {shims:?}"
    );
    let shims: Vec<i32> = shims.iter().map(|shim| shim.pid).collect();

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
    // Every process of the container's pid namespace, zombies included
    // (a zombie has no command line, so `ps -o args` would not show it).
    let (code, stats) = exec(
        cri,
        &sleeper,
        &["sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null"],
    )
    .await?;
    ensure!(code == 0, "reading the container's /proc: {stats}");
    let left: Vec<&str> = stats
        .lines()
        .filter(|line| line.contains("(sleep)") && !line.starts_with("1 "))
        .collect();
    ensure!(
        left.is_empty(),
        "the timed-out exec is still in the container: {left:?}"
    );

    remove_pod_and_check_leaks(cri, &w.daemon, &pod_id, &[sleeper]).await?;
    wait_until_reaped(&shims).await
}

/// The live `cradle-shim` processes whose command line names one of `ids`.
fn shims_of(ids: &[&str]) -> Vec<Process> {
    processes()
        .into_iter()
        .filter(|p| p.comm == "cradle-shim" && p.state != 'Z')
        .filter(|p| ids.iter().any(|id| p.cmdline.contains(id)))
        .collect()
}

/// Waits until none of `pids` is a `cradle-shim`, live or zombie (a reused
/// pid is someone else's); fails naming those still there after [`REAP_WAIT`].
/// Only their parent, the daemon, can have reaped them.
async fn wait_until_reaped(pids: &[i32]) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + REAP_WAIT;
    loop {
        let left: Vec<Process> = processes()
            .into_iter()
            .filter(|p| p.comm == "cradle-shim" && pids.contains(&p.pid))
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "shims not reaped after their container and pod were removed: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug)]
struct Process {
    pid: i32,
    comm: String,
    state: char,
    ppid: i32,
    cmdline: String,
}

/// Every process of the host, read from `/proc/<pid>/stat` and `cmdline`.
fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            parse_stat(pid, &stat, &cmdline)
        })
        .collect()
}

/// `pid (comm) state ppid …`; comm may hold spaces and parentheses.
fn parse_stat(pid: i32, stat: &str, cmdline: &[u8]) -> Option<Process> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some(Process {
        pid,
        comm,
        state,
        ppid,
        cmdline: String::from_utf8_lossy(cmdline).replace('\0', " "),
    })
}

#[test]
fn stat_lines_parse_with_odd_command_names() {
    let p = parse_stat(7, "7 (a (b) c) Z 1 7 7 0", b"").expect("parsed");
    assert_eq!((p.comm.as_str(), p.state, p.ppid), ("a (b) c", 'Z', 1));
}
