//! cradle-oci as the runc of Debian's containerd 1.6: `containerd-shim-runc-v2`
//! with `BinaryName = <cradle-oci>` runs a whole pod lifecycle over the CRI
//! (pull, RunPodSandbox, create + start, log line, ExecSync, update, stop,
//! status, remove), and the same scenario under real runc (a second handler
//! of the same containerd) must end the same way: same exit codes and
//! reasons, and a container whose command does not exist fails to start
//! the way it does under runc, with the runtime's own reason in the message
//! (read by the shim from cradle-oci's `--log-format json` log).
//!
//! Pods use the host network: a pod network under containerd needs a CNI
//! bridge with IPAM on the host (containerd refuses a sandbox whose CNI
//! result has no eth0 address), which tests containerd's CNI handling, not
//! the OCI runtime; the runtime's part (joining a namespace by path) is the
//! same for every namespace and is exercised by the pid/ipc/uts ones.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use cradle_tests::containerd::{CTR, Containerd, Handler, containerd_missing};
use cradle_tests::steps::{container_config, container_status, create, exec, has_log_line, pull};
use cradle_tests::streaming::{args, client, exec_url, spdy_client, text};
use cradle_tests::{CgroupParent, Cri, Registry, leaks, random_suffix, skip_unless_ready};

const CRADLE: &str = "cradle-oci";
const RUNC: &str = "runc-reference";
const RUNC_BIN: &str = "/usr/sbin/runc";
const MIB: i64 = 1 << 20;

/// The cradle-oci under test: `CRADLE_OCI_BIN` (the build that ships) or
/// cargo's `target/<profile>/cradle-oci`.
fn cradle_oci() -> anyhow::Result<std::path::PathBuf> {
    let bin = match std::env::var_os("CRADLE_OCI_BIN") {
        Some(p) => p.into(),
        None => cradle_tests::target_bin_dir()?.join("cradle-oci"),
    };
    ensure!(
        bin.exists(),
        "{} is missing: run cargo build --workspace --bins",
        bin.display()
    );
    Ok(bin)
}

/// What one handler's run of the scenario saw, to compare with runc's.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// runc's default (the shim passes no `--no-new-keyring`): the
    /// container's init joined a new session keyring `_ses.<id>`.
    session_keyring: bool,
    exec_stdout: String,
    exec_failure_code: i32,
    /// ExecSync of a command that does not exist: exit code or error
    /// code, and whether the answer names the command.
    exec_missing_command: String,
    /// What `ctr task ps`, `pause`, `resume` saw (the shim's `ps --format
    /// json`, `pause`, `resume`, which the CRI never calls).
    shim_verbs: String,
    /// Exec with a tty through containerd's streaming server (`exec
    /// --process F --console-socket S --detach`): its output, or why not.
    tty_exec: String,
    memory_limit: String,
    stopped: (i32, String),
    missing_command: MissingCommand,
    /// A `tty: true` container (`create --console-socket`): its log lines.
    tty: Vec<String>,
}

#[derive(Debug)]
struct MissingCommand {
    start_code: tonic::Code,
    state: i32,
    exit_code: i32,
    reason: String,
    /// Not compared (the runtime's own words); shown when the runs differ.
    #[allow(dead_code)]
    message: String,
}

/// Equal when runc would be indistinguishable: the message is the
/// runtime's own words, so only what it must say is compared.
impl PartialEq for MissingCommand {
    fn eq(&self, o: &Self) -> bool {
        (self.start_code, self.state, self.exit_code, &self.reason)
            == (o.start_code, o.state, o.exit_code, &o.reason)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cradle_oci_runs_as_containerds_runc() {
    skip_unless_ready!(true);
    if let Some(reason) = containerd_missing() {
        cradle_tests::skip(reason);
        return;
    }
    let cgroup = CgroupParent::new();
    let registry = Registry::start().expect("registry");
    let pause = pause_image(&registry).expect("pause image");
    let handlers = [
        Handler {
            name: CRADLE.into(),
            binary: cradle_oci().expect("cradle-oci"),
        },
        Handler {
            name: RUNC.into(),
            binary: RUNC_BIN.into(),
        },
    ];
    let ctd = Containerd::start(&handlers, &pause, &registry.host()).expect("containerd");
    let mut cri = ctd.connect().await.expect("connect");
    let result = async {
        let image = registry.image_ref();
        pull(&mut cri, &image).await?;
        pull(&mut cri, &pause).await?;
        let ours = scenario(&mut cri, &ctd, &cgroup, &image, CRADLE)
            .await
            .context("under cradle-oci")?;
        let theirs = scenario(&mut cri, &ctd, &cgroup, &image, RUNC)
            .await
            .context("under runc")?;
        eprintln!("cradle-oci: {ours:?}\nrunc: {theirs:?}");
        ensure!(
            ours == theirs,
            "cradle-oci and runc differ under containerd:\n cradle-oci: {ours:#?}\n runc: {theirs:#?}"
        );
        Ok::<_, anyhow::Error>(())
    }
    .await;
    if let Err(e) = result {
        remove_all_pods(&mut cri).await;
        panic!("{e:#}\n---- containerd log ----\n{}", ctd.log());
    }
    drop(cri);
    drop(ctd);
    let errors = cgroup.remove();
    assert!(errors.is_empty(), "cgroup parent removal: {errors:?}");
}

/// The pause image containerd's sandboxes run (`hack/bench-image.sh pause`:
/// busybox whose command is a long sleep), pushed to the test registry.
fn pause_image(registry: &Registry) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let layout = dir.path().join("pause");
    let script = cradle_tests::repo_root().join("hack/bench-image.sh");
    let out = std::process::Command::new(&script)
        .arg("pause")
        .arg(&layout)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    ensure!(
        out.status.success(),
        "bench-image.sh pause: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    registry.push_layout(&layout, "pause:latest")
}

/// The whole lifecycle on runtime handler `handler`.
async fn scenario(
    cri: &mut Cri,
    ctd: &Containerd,
    cgroup: &CgroupParent,
    image: &str,
    handler: &str,
) -> anyhow::Result<Outcome> {
    let pod = pod_config(ctd, cgroup)?;
    let pod_id = cri
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(pod.clone()),
            runtime_handler: handler.into(),
        })
        .await
        .context("RunPodSandbox")?
        .into_inner()
        .pod_sandbox_id;
    assert_ran_under(ctd, handler, &pod_id)?;

    let line = format!("hello from {handler}");
    let config = host_net(container_config(
        image,
        "main",
        &["sh", "-c", &format!("echo '{line}'; exec sleep 3600")],
    ));
    let id = create(cri, &pod_id, &pod, config).await?;
    start(cri, &id).await.context("StartContainer")?;
    assert_ran_under(ctd, handler, &id)?;
    let session_keyring = has_session_keyring(&id);
    let log = Path::new(&pod.log_directory).join("main.log");
    wait_for(Duration::from_secs(10), || {
        has_log_line(&log, "stdout", &line)
    })
    .await
    .with_context(|| format!("no {line:?} line in {}", log.display()))?;

    let (code, exec_stdout) = exec(cri, &id, &["echo", "exec output"]).await?;
    ensure!(code == 0, "ExecSync echo exited {code}: {exec_stdout}");
    let (exec_failure_code, _) = exec(cri, &id, &["sh", "-c", "exit 7"]).await?;
    let exec_missing_command = match exec(cri, &id, &["/no-such-command"]).await {
        Ok((code, out)) => format!("exit {code}: {}", out.contains("no-such-command")),
        Err(e) => {
            let status = e.downcast_ref::<tonic::Status>();
            format!(
                "error {:?}: {}",
                status.map(|s| s.code()),
                status.is_some_and(|s| s.message().contains("no-such-command"))
            )
        }
    };
    let shim_verbs = shim_verbs(ctd, &id).await?;
    let tty_exec = tty_exec(cri, &id).await?;

    cri.runtime
        .update_container_resources(cri::UpdateContainerResourcesRequest {
            container_id: id.clone(),
            linux: Some(cri::LinuxContainerResources {
                memory_limit_in_bytes: 96 * MIB,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .context("UpdateContainerResources")?;
    let memory_file = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "/sys/fs/cgroup/memory.max"
    } else {
        "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    };
    let (code, memory_limit) = exec(cri, &id, &["cat", memory_file]).await?;
    ensure!(code == 0, "reading {memory_file}: {memory_limit}");
    let memory_limit = memory_limit.trim().to_string();
    ensure!(
        memory_limit == (96 * MIB).to_string(),
        "{memory_file} is {memory_limit} after the update"
    );

    // sleep as pid 1 of its pid namespace ignores SIGTERM: SIGKILL after 1 s.
    cri.runtime
        .stop_container(cri::StopContainerRequest {
            container_id: id.clone(),
            timeout: 1,
        })
        .await
        .context("StopContainer")?;
    let status = container_status(cri, &id).await?;
    ensure!(
        status.state == cri::ContainerState::ContainerExited as i32,
        "not exited after StopContainer: {status:?}"
    );
    let stopped = (status.exit_code, status.reason.clone());
    remove(cri, &id).await?;

    let missing_command = missing_command(cri, &pod_id, &pod, image).await?;
    let tty = tty_container(cri, &pod_id, &pod, image).await?;

    // Each twice, for idempotence (containerd 1.6 answers NotFound to a
    // StopPodSandbox after the removal, so the rounds are not interleaved).
    for _ in 0..2 {
        cri.runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: pod_id.clone(),
            })
            .await
            .context("StopPodSandbox")?;
    }
    for _ in 0..2 {
        cri.runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: pod_id.clone(),
            })
            .await
            .context("RemovePodSandbox")?;
    }
    assert_no_leaks(ctd, &[&pod_id, &id]).await;
    Ok(Outcome {
        session_keyring,
        exec_stdout,
        exec_failure_code,
        exec_missing_command,
        shim_verbs,
        tty_exec,
        memory_limit,
        stopped,
        missing_command,
        tty,
    })
}

/// A container whose command does not exist: StartContainer fails, the
/// container ends exited with the runtime's reason in its message.
async fn missing_command(
    cri: &mut Cri,
    pod_id: &str,
    pod: &cri::PodSandboxConfig,
    image: &str,
) -> anyhow::Result<MissingCommand> {
    let config = host_net(container_config(image, "missing", &["/no-such-command"]));
    let id = create(cri, pod_id, pod, config).await?;
    let Err(refused) = start(cri, &id).await else {
        bail!("a container whose command does not exist started");
    };
    let status = container_status(cri, &id).await?;
    ensure!(
        status.message.contains("no-such-command"),
        "the failure does not name the command: {status:?}"
    );
    ensure!(
        !status
            .message
            .contains("unable to retrieve OCI runtime error"),
        "the shim could not read the runtime's log: {status:?}"
    );
    remove(cri, &id).await?;
    Ok(MissingCommand {
        start_code: refused.code(),
        state: status.state,
        exit_code: status.exit_code,
        reason: status.reason,
        message: status.message,
    })
}

/// A container on a terminal (the shim passes `--console-socket` and
/// copies the pty to the log): the text of its log lines.
async fn tty_container(
    cri: &mut Cri,
    pod_id: &str,
    pod: &cri::PodSandboxConfig,
    image: &str,
) -> anyhow::Result<Vec<String>> {
    let mut config = host_net(container_config(
        image,
        "tty",
        &[
            "sh",
            "-c",
            "[ -t 1 ] && echo stdout is a terminal; exec sleep 3600",
        ],
    ));
    config.tty = true;
    let id = create(cri, pod_id, pod, config).await?;
    start(cri, &id).await.context("StartContainer (tty)")?;
    let log = Path::new(&pod.log_directory).join("tty.log");
    wait_for(Duration::from_secs(10), || {
        has_log_line(&log, "stdout", "stdout is a terminal")
    })
    .await
    .with_context(|| {
        format!(
            "the tty container's log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    })?;
    cri.runtime
        .stop_container(cri::StopContainerRequest {
            container_id: id.clone(),
            timeout: 1,
        })
        .await
        .context("StopContainer (tty)")?;
    remove(cri, &id).await?;
    // `<time> stdout F <text>`: the text.
    Ok(std::fs::read_to_string(&log)?
        .lines()
        .filter_map(|l| l.splitn(4, ' ').nth(3).map(str::to_string))
        .collect())
}

/// Proof that `handler`'s binary ran `id`: its own state file under the
/// runtime root containerd gave it (cradle-oci's state names the init's
/// start time in camelCase, runc's has `init_process_pid`).
fn assert_ran_under(ctd: &Containerd, handler: &str, id: &str) -> anyhow::Result<()> {
    let path = ctd.runtime_root(handler).join(id).join("state.json");
    let state = std::fs::read_to_string(&path)
        .with_context(|| format!("{handler} left no state for {id}: {}", path.display()))?;
    let marker = if handler == CRADLE {
        "\"initStartTime\""
    } else {
        "\"init_process_pid\""
    };
    ensure!(
        state.contains(marker),
        "{} is not {handler}'s state: {state}",
        path.display()
    );
    Ok(())
}

/// The shim's verbs the CRI does not use, through containerd's own client:
/// `ctr task ps` (the runtime's `ps --format json`), `task pause` and
/// `task resume`.
async fn shim_verbs(ctd: &Containerd, id: &str) -> anyhow::Result<String> {
    let ps = ctr(ctd, &["task", "ps", id])?;
    let pids = ps.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
    ctr(ctd, &["task", "pause", id])?;
    let paused = ctr(ctd, &["task", "ls"])?
        .lines()
        .any(|l| l.starts_with(id) && l.contains("PAUSED"));
    ctr(ctd, &["task", "resume", id])?;
    let running = ctr(ctd, &["task", "ls"])?
        .lines()
        .any(|l| l.starts_with(id) && l.contains("RUNNING"));
    Ok(format!(
        "ps: {pids} pid(s), paused: {paused}, resumed: {running}"
    ))
}

/// An Exec with `tty: true` (the shim runs `exec --console-socket`), over
/// containerd's streaming server on 127.0.0.1 with the Go SPDY client of
/// tests/clients (when it cannot be built here, the case says so, for both
/// runtimes alike).
async fn tty_exec(cri: &mut Cri, id: &str) -> anyhow::Result<String> {
    let Some(spdy) = spdy_client() else {
        eprintln!("tty exec not checked: the SPDY client of tests/clients cannot be built");
        return Ok("no SPDY client".into());
    };
    // No stdin: with an empty one the client's EOF makes containerd 1.6
    // close the exec's tty, racing its output (under runc just the same).
    let cmd = ["sh", "-c", "[ -t 1 ] && echo exec on a terminal; sleep 1"];
    let url = exec_url(cri, id, &cmd, false, true).await?;
    let out = client(spdy, args(&["exec", &url, "-stdout", "-tty"]), vec![]).await?;
    ensure!(out.status.success(), "tty exec: {out:?}");
    Ok(text(&out.stdout).trim().to_string())
}

/// `ctr --address <containerd> --namespace k8s.io ARGS`: stdout.
fn ctr(ctd: &Containerd, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(CTR)
        .arg("--address")
        .arg(ctd.socket())
        .args(["--namespace", "k8s.io"])
        .args(args)
        .output()
        .context("running ctr")?;
    ensure!(
        out.status.success(),
        "ctr {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the host's /proc/keys lists the keyring `_ses.<id>`.
fn has_session_keyring(id: &str) -> bool {
    let name = format!("_ses.{id}");
    std::fs::read_to_string("/proc/keys")
        .unwrap_or_default()
        .lines()
        // serial flags usage timeout perm uid gid type description[: summary]
        .any(|l| l.split_whitespace().nth(8).map(|d| d.trim_end_matches(':')) == Some(&name))
}

fn pod_config(ctd: &Containerd, cgroup: &CgroupParent) -> anyhow::Result<cri::PodSandboxConfig> {
    let name = format!("compat-{}", random_suffix());
    let log_directory = ctd.logs_dir().join(&name);
    std::fs::create_dir_all(&log_directory)?;
    Ok(cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name,
            uid: random_suffix(),
            namespace: "cradle-compat".into(),
            attempt: 0,
        }),
        // None: the pod shares the host's UTS namespace with its network,
        // and runc (and cradle-oci) refuse a hostname without a UTS namespace.
        hostname: String::new(),
        log_directory: log_directory.display().to_string(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: cgroup.path().to_string(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn namespaces() -> cri::NamespaceOption {
    cri::NamespaceOption {
        network: cri::NamespaceMode::Node as i32,
        pid: cri::NamespaceMode::Container as i32,
        ipc: cri::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

fn host_net(mut config: cri::ContainerConfig) -> cri::ContainerConfig {
    if let Some(sc) = config
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
    {
        sc.namespace_options = Some(namespaces());
    }
    config
}

async fn start(cri: &mut Cri, id: &str) -> Result<(), tonic::Status> {
    cri.runtime
        .start_container(cri::StartContainerRequest {
            container_id: id.into(),
        })
        .await
        .map(|_| ())
}

/// RemoveContainer, twice: the second must succeed too.
async fn remove(cri: &mut Cri, id: &str) -> anyhow::Result<()> {
    for _ in 0..2 {
        cri.runtime
            .remove_container(cri::RemoveContainerRequest {
                container_id: id.into(),
            })
            .await
            .context("RemoveContainer")?;
    }
    Ok(())
}

async fn wait_for(
    timeout: Duration,
    mut ready: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready().unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("not within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Nothing of the pod left: mounts, state (containerd's, the shim's, the
/// runtime's), cgroups, processes. The shim exits shortly after the pod's
/// removal, so this waits a little before it reports.
async fn assert_no_leaks(ctd: &Containerd, ids: &[&str]) {
    let scope = leaks::Scope {
        dirs: vec![ctd.dir().to_path_buf()],
        ids: ids.iter().map(|s| s.to_string()).collect(),
        exclude_pids: ctd.pid().into_iter().collect(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !leaks::find(&scope).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    leaks::assert_none(&scope);
}

async fn remove_all_pods(cri: &mut Cri) {
    if let Ok(pods) = cri
        .runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
    {
        for pod in pods.into_inner().items {
            let _ = cri
                .runtime
                .stop_pod_sandbox(cri::StopPodSandboxRequest {
                    pod_sandbox_id: pod.id.clone(),
                })
                .await;
            let _ = cri
                .runtime
                .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                    pod_sandbox_id: pod.id,
                })
                .await;
        }
    }
}
