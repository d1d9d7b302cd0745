//! `cradled` killed at every step of a pod's life, then restarted: nothing
//! may be left once the kubelet has retried its call and cleaned up.
//!
//! For each of the daemon's fault points (`cradle_daemon::core::fault::STEPS`,
//! debug builds only), one after the other: a fresh daemon started with
//! `CRADLE_FAULT=<step>` on a fresh pod network (loopback + `cradle-bridge`
//! with masquerade on a private /24 and bridge of its own + portmap), then
//! the kubelet's calls: pull, RunPodSandbox, CreateContainer,
//! StartContainer, StopContainer, RemoveContainer, StopPodSandbox,
//! RemovePodSandbox. The call during which the daemon dies must fail, the
//! daemon must have aborted (SIGABRT, as `kill -9` leaves no chance to clean
//! up either) at that step; it is restarted without the fault and the call
//! is retried as a kubelet would (a sandbox or container the first attempt
//! did make is adopted, as the kubelet finds it by listing), then the rest
//! of the life runs. At the end nothing may be left: no pod or container
//! listed, no mount, netns pin, state file, shim, process or cgroup, no
//! veth or bridge port, no IP reservation in the network's IPAM dir, no
//! CNI cache entry and no iptables rule naming an id or the subnet. The
//! summary prints how many steps were interrupted and recovered.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cradle_daemon::core::fault;
use cradle_proto::cri;
use cradle_tests::network::TestNetwork;
use cradle_tests::steps::{
    self, container_config, leak_scope, list_containers, list_pods, pod_config, pull, run_pod,
};
use cradle_tests::{CgroupParent, Cri, Daemon, Registry, leaks, skip_unless_ready};

/// The daemon and its client, restarted once after the injected crash.
struct Node {
    daemon: Daemon,
    cri: Cri,
    step: &'static str,
    /// The call the daemon died in.
    crashed_in: Option<&'static str>,
}

impl Node {
    /// After call `call` failed with `error`: if the daemon died at the
    /// armed step, checks that it aborted there, restarts it without the
    /// fault and returns Ok (the caller retries); else the error.
    async fn recover(&mut self, call: &'static str, error: anyhow::Error) -> anyhow::Result<()> {
        let Some(status) = self.daemon.wait_for_exit(Duration::from_secs(10))? else {
            return Err(error.context(format!("{call} failed with the daemon still up")));
        };
        ensure!(
            self.crashed_in.is_none(),
            "the daemon died again in {call}: {status}"
        );
        ensure!(
            status.signal() == Some(nix::sys::signal::Signal::SIGABRT as i32),
            "the daemon ended with {status} in {call}, not by the injected abort"
        );
        let log = self.daemon.log();
        ensure!(
            log.lines()
                .any(|l| l.contains("aborting at this step") && l.contains(self.step)),
            "the daemon died in {call} but not at step {}",
            self.step
        );
        self.crashed_in = Some(call);
        self.daemon.set_env(fault::ENV, None);
        self.daemon.restart()?;
        self.cri = self.daemon.connect().await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_at_any_step_leaves_nothing_once_the_kubelet_retried() {
    skip_unless_ready!(true);
    if !cfg!(debug_assertions) {
        cradle_tests::skip("fault points exist in debug builds only");
        return;
    }
    for needed in [
        "/usr/lib/cni/loopback",
        "/usr/lib/cni/portmap",
        "/usr/sbin/iptables",
    ] {
        if !Path::new(needed).exists() {
            cradle_tests::skip(format!("{needed} is missing (run hack/install-deps.sh)"));
            return;
        }
    }
    let registry = Registry::start().expect("registry");
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut recovered = 0;
    // `FAULT_STEPS=a,b` runs only those steps (when chasing one failure).
    let only = std::env::var("FAULT_STEPS").ok();
    let steps: Vec<&'static str> = fault::STEPS
        .iter()
        .copied()
        .filter(|s| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|x| x == *s))
        })
        .collect();
    for &step in &steps {
        match one_step(step, &registry).await {
            Ok(call) => {
                recovered += 1;
                eprintln!("[PASS] {step}: died in {call}, recovered, nothing left");
            }
            Err(e) => {
                eprintln!("[FAIL] {step}: {e:#}");
                failures.push(format!("{step}: {e:#}"));
            }
        }
    }
    eprintln!(
        "fault injection: {} steps interrupted, {recovered} recovered leaving nothing, in {:?}",
        steps.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// One step: the life of one pod with the daemon killed at `step`; the
/// call it died in.
async fn one_step(step: &'static str, registry: &Registry) -> anyhow::Result<&'static str> {
    let cgroup = CgroupParent::new();
    let net = TestNetwork::new("faultnet", "tf", 214)?;
    let daemon = Daemon::start_with_env(&net.daemon_config(), &[(fault::ENV, step)])?;
    // ipMasq: the NAT rule a half-made sandbox leaked.
    net.write_conflist(&daemon.cni_conf_dir(), serde_json::json!({"ipMasq": true}))?;
    let cri = daemon.connect().await?;
    let mut node = Node {
        daemon,
        cri,
        step,
        crashed_in: None,
    };
    let ids = match life(&mut node, registry, &cgroup).await {
        Ok(ids) => ids,
        Err(e) => {
            let log = node.daemon.log();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("{e:#}\n  daemon log (end):\n    {}", tail.join("\n    "));
        }
    };
    let crashed_in = node
        .crashed_in
        .with_context(|| format!("the daemon never reached step {step}"))?;
    let left = leftovers(&node, &net, &cgroup, &ids);
    ensure!(
        left.is_empty(),
        "died in {crashed_in}; left behind:\n    {}",
        left.join("\n    ")
    );
    Ok(crashed_in)
}

/// The kubelet's calls for one pod with one container, each retried once
/// after the crash; the pod and container ids seen.
async fn life(
    node: &mut Node,
    registry: &Registry,
    cgroup: &CgroupParent,
) -> anyhow::Result<Vec<String>> {
    let image = registry.image_ref();
    if let Err(e) = pull(&mut node.cri, &image).await {
        node.recover("PullImage", e).await?;
        pull(&mut node.cri, &image).await?;
    }

    let mut config = pod_config(&node.daemon, cgroup)?;
    // A net.* sysctl, so the step that applies them is reached.
    if let Some(linux) = config.linux.as_mut() {
        linux
            .sysctls
            .insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
    }
    let pod = match run_pod(&mut node.cri, &config).await {
        Ok(id) => id,
        Err(e) => {
            node.recover("RunPodSandbox", e).await?;
            adopt_or_run_pod(&mut node.cri, &config).await?
        }
    };

    let container = container_config(&image, "sleeper", &["sleep", "3600"]);
    let ctr = match create(&mut node.cri, &pod, &config, &container).await {
        Ok(id) => id,
        Err(e) => {
            node.recover("CreateContainer", e).await?;
            adopt_or_create(&mut node.cri, &pod, &config, &container).await?
        }
    };

    if let Err(e) = start(&mut node.cri, &ctr).await {
        node.recover("StartContainer", e).await?;
        // Started before the crash: the retry is refused, the container runs.
        if let Err(e) = start(&mut node.cri, &ctr).await {
            let state = container_state(&mut node.cri, &ctr).await?;
            ensure!(
                state == cri::ContainerState::ContainerRunning,
                "StartContainer retried: {e:#}; the container is {state:?}"
            );
        }
    }

    let steps: [(&'static str, Call); 4] = [
        ("StopContainer", Call::StopContainer(&ctr)),
        ("RemoveContainer", Call::RemoveContainer(&ctr)),
        ("StopPodSandbox", Call::StopPod(&pod)),
        ("RemovePodSandbox", Call::RemovePod(&pod)),
    ];
    for (name, call) in steps {
        if let Err(e) = call.make(&mut node.cri).await {
            node.recover(name, e).await?;
            call.make(&mut node.cri).await?;
        }
    }
    // What a kubelet would collect: anything still listed is left over.
    let pods = list_pods(&mut node.cri).await?;
    let containers = list_containers(&mut node.cri).await?;
    ensure!(
        pods.is_empty() && containers.is_empty(),
        "still listed: pods {:?}, containers {:?}",
        pods.iter().map(|p| &p.id).collect::<Vec<_>>(),
        containers.iter().map(|c| &c.id).collect::<Vec<_>>()
    );
    Ok(vec![pod, ctr])
}

/// The idempotent calls after StartContainer: retried as they are.
#[derive(Clone, Copy)]
enum Call<'a> {
    StopContainer(&'a str),
    RemoveContainer(&'a str),
    StopPod(&'a str),
    RemovePod(&'a str),
}

impl Call<'_> {
    async fn make(self, cri: &mut Cri) -> anyhow::Result<()> {
        match self {
            Call::StopContainer(id) => {
                cri.runtime
                    .stop_container(cri::StopContainerRequest {
                        container_id: id.into(),
                        timeout: 0,
                    })
                    .await
                    .context("StopContainer")?;
            }
            Call::RemoveContainer(id) => {
                cri.runtime
                    .remove_container(cri::RemoveContainerRequest {
                        container_id: id.into(),
                    })
                    .await
                    .context("RemoveContainer")?;
            }
            Call::StopPod(id) => {
                cri.runtime
                    .stop_pod_sandbox(cri::StopPodSandboxRequest {
                        pod_sandbox_id: id.into(),
                    })
                    .await
                    .context("StopPodSandbox")?;
            }
            Call::RemovePod(id) => {
                cri.runtime
                    .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                        pod_sandbox_id: id.into(),
                    })
                    .await
                    .context("RemovePodSandbox")?;
            }
        }
        Ok(())
    }
}

/// After a RunPodSandbox cut short: the kubelet lists the pod's sandboxes;
/// a ready one is used, others are stopped and removed and the pod is run
/// again.
async fn adopt_or_run_pod(cri: &mut Cri, config: &cri::PodSandboxConfig) -> anyhow::Result<String> {
    let uid = config.metadata.as_ref().map(|m| m.uid.clone());
    let pods = list_pods(cri).await?;
    for pod in pods
        .into_iter()
        .filter(|p| p.metadata.as_ref().map(|m| m.uid.clone()) == uid)
    {
        if pod.state == cri::PodSandboxState::SandboxReady as i32 {
            return Ok(pod.id);
        }
        for call in [Call::StopPod(&pod.id), Call::RemovePod(&pod.id)] {
            call.make(cri).await?;
        }
    }
    run_pod(cri, config).await
}

/// After a CreateContainer cut short: a container the first attempt made
/// (listed in the pod under the same name) is used, else it is created.
async fn adopt_or_create(
    cri: &mut Cri,
    pod: &str,
    pod_config: &cri::PodSandboxConfig,
    config: &cri::ContainerConfig,
) -> anyhow::Result<String> {
    let listed = cri
        .runtime
        .list_containers(cri::ListContainersRequest {
            filter: Some(cri::ContainerFilter {
                pod_sandbox_id: pod.into(),
                ..Default::default()
            }),
        })
        .await?
        .into_inner()
        .containers;
    if let Some(found) = listed.into_iter().find(|c| c.metadata == config.metadata) {
        return Ok(found.id);
    }
    create(cri, pod, pod_config, config).await
}

async fn create(
    cri: &mut Cri,
    pod: &str,
    pod_config: &cri::PodSandboxConfig,
    config: &cri::ContainerConfig,
) -> anyhow::Result<String> {
    steps::create(cri, pod, pod_config, config.clone()).await
}

async fn start(cri: &mut Cri, id: &str) -> anyhow::Result<()> {
    cri.runtime
        .start_container(cri::StartContainerRequest {
            container_id: id.into(),
        })
        .await
        .context("StartContainer")?;
    Ok(())
}

async fn container_state(cri: &mut Cri, id: &str) -> anyhow::Result<cri::ContainerState> {
    let state = steps::container_status(cri, id).await?.state;
    Ok(cri::ContainerState::try_from(state).unwrap_or(cri::ContainerState::ContainerUnknown))
}

/// Everything of the step left on the node, one line each.
fn leftovers(node: &Node, net: &TestNetwork, cgroup: &CgroupParent, ids: &[String]) -> Vec<String> {
    let daemon = &node.daemon;
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    // Mounts (netns pins, rootfs), processes and paths naming the ids.
    let mut left = leaks::find(&leak_scope(daemon, &id_refs));
    // Veths, bridge ports, IP reservations, CNI cache entries: also those
    // of a sandbox whose id the crash kept from the test.
    left.extend(leaks::network(
        &net.bridge.0,
        &net.name,
        &id_refs,
        &net.ipam_dir,
        &daemon.root().join("cni"),
    ));
    let mut needles = id_refs.clone();
    needles.push(&net.subnet_prefix);
    left.extend(leaks::iptables_rules(&needles));
    // State of objects whose ids nobody learnt: nothing may be listed.
    let state = daemon.state_dir();
    for dir in [
        state.join("shims"),
        state.join("ns"),
        state.join("runtime").join("cradle-oci"),
        daemon.root().join("containers"),
        daemon.root().join("sandboxes"),
    ] {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            left.push(format!("state left behind: {}", entry.path().display()));
        }
    }
    for parent in cgroup.dirs() {
        for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                left.push(format!("cgroup left behind: {}", entry.path().display()));
            }
        }
    }
    left
}
