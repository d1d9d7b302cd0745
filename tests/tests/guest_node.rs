//! End to end through cradled on the node people run: cgroup v2 (unified),
//! systemd as init and AppArmor enabled. This machine is none of those, so
//! these tests run in the guest of hack/vm/ (hack/vm/test.sh runs this
//! binary with `--ignored`): each is `#[ignore]`d here and starts by
//! asserting that the host is such a node, failing (not skipping) where it
//! is not.
//!
//! - The cgroupfs driver on v2: a container's limits in its own cgroup
//!   files (memory.max, cpu.max, and pids.max from the CRI's `unified`
//!   map), the controllers enabled in its parent, ContainerStats and
//!   ListPodSandboxStats read from v2 files, UpdateContainerResources
//!   changing memory.max and cpu.max, and an OOM kill reported as
//!   OOMKilled.
//! - The systemd driver (`cgroup_driver = "systemd"`): RuntimeConfig says
//!   so, the container runs in the transient unit `cri-cradle-<id>.scope`
//!   under the pod's slice, active with its memory limit as a unit
//!   property, and gone after RemoveContainer.
//! - AppArmor: RuntimeDefault (and nothing asked) runs the container
//!   confined by `cri-cradle-default`, as `/proc/<pid>/attr/current` says
//!   from the node and from inside; Unconfined is `unconfined`; a
//!   Localhost profile loaded on the node confines the container and
//!   enforces its rules; one that is not loaded is refused as
//!   InvalidArgument naming the field and the profile, creating nothing.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    cgroup_driver, container_config, create, create_and_start, exec, list_containers,
    memory_hog_config, pod_config, pull, remove_pod_and_check_leaks, run_pod,
    stop_and_remove_container, stop_and_remove_pod, update_resources, wait_for_state,
};
use cradle_tests::{Cri, World, random_suffix};

const MIB: i64 = 1 << 20;

/// TCG runs the guest's kernel work tens of times slower than a host.
const SLOW: Duration = Duration::from_secs(120);

// ---- the node ---------------------------------------------------------------

/// Panics unless this host is a cgroup v2 + systemd + AppArmor node with
/// what the harness needs: these tests must not pass by doing nothing.
fn assert_guest_node() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the guest node tests run as root (hack/vm/test.sh)"
    );
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let v2 = mountinfo.lines().any(|line| {
        let Some((left, right)) = line.split_once(" - ") else {
            return false;
        };
        left.split_whitespace().nth(4) == Some("/sys/fs/cgroup")
            && right.split_whitespace().next() == Some("cgroup2")
    });
    assert!(
        v2,
        "not a cgroup v2 node: /sys/fs/cgroup is not a cgroup2 mount"
    );
    let controllers = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap();
    for controller in ["cpu", "memory", "pids", "io"] {
        assert!(
            controllers.split_whitespace().any(|c| c == controller),
            "cgroup v2 without the {controller} controller: {controllers}"
        );
    }
    let init = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    assert!(
        init.trim() == "systemd" && Path::new("/run/systemd/system").is_dir(),
        "PID 1 is {init:?}, not a running systemd"
    );
    let apparmor =
        std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").unwrap_or_default();
    assert!(
        apparmor.starts_with('Y') && Path::new("/sys/kernel/security/apparmor/profiles").exists(),
        "AppArmor is not enabled on this node"
    );
    if let Some(reason) = cradle_tests::skip_reason(true) {
        panic!("the guest lacks what the harness needs: {reason}");
    }
}

/// The cgroup v2 directory of the container's init, from /proc/<pid>/cgroup.
async fn cgroup_dir(cri: &mut Cri, id: &str) -> anyhow::Result<PathBuf> {
    let pid = init_pid(cri, id).await?;
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let rel = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .with_context(|| format!("no v2 line in /proc/{pid}/cgroup: {cgroup}"))?;
    Ok(Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/')))
}

/// The container's init pid, from ContainerStatus's verbose info.
async fn init_pid(cri: &mut Cri, id: &str) -> anyhow::Result<u64> {
    let info = cri
        .runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: id.into(),
            verbose: true,
        })
        .await
        .context("ContainerStatus verbose")?
        .into_inner()
        .info;
    let info: serde_json::Value =
        serde_json::from_str(info.get("info").context("no verbose info")?)?;
    info["pid"]
        .as_u64()
        .filter(|p| *p > 0)
        .with_context(|| format!("no pid in the verbose info: {info}"))
}

fn read(dir: &Path, file: &str) -> anyhow::Result<String> {
    let path = dir.join(file);
    Ok(std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_string())
}

fn limits(memory_mib: i64, cpu_quota: i64) -> cri::LinuxContainerResources {
    cri::LinuxContainerResources {
        cpu_period: 100_000,
        cpu_quota,
        memory_limit_in_bytes: memory_mib * MIB,
        ..Default::default()
    }
}

/// The CPU time (ns) and working set (bytes) a container's or a pod's
/// stats report, where they report them.
fn cpu_and_working_set(
    cpu: Option<cri::CpuUsage>,
    memory: Option<cri::MemoryUsage>,
) -> (Option<u64>, Option<u64>) {
    (
        cpu.and_then(|c| c.usage_core_nano_seconds).map(|v| v.value),
        memory.and_then(|m| m.working_set_bytes).map(|v| v.value),
    )
}

// ---- the cgroupfs driver on v2 ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs in the cgroup v2 + systemd + AppArmor guest (hack/vm/test.sh)"]
async fn guest_pod_on_cgroup_v2_with_the_cgroupfs_driver() {
    assert_guest_node();
    let mut w = World::start().await;
    let result = cgroupfs_on_v2(&mut w).await;
    w.finish_with_log(result).await;
}

async fn cgroupfs_on_v2(w: &mut World) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let image = w.registry.image_ref();
    pull(cri, &image).await?;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;

    // Limits, and pids.max through the CRI's cgroup v2 `unified` map.
    let mut config = container_config(&image, "limited", &["sleep", "3600"]);
    let mut resources = limits(64, 50_000);
    resources.unified.insert("pids.max".into(), "64".into());
    config.linux.get_or_insert_with(Default::default).resources = Some(resources);
    let id = create_and_start(cri, &pod_id, &pod, config).await?;
    let dir = cgroup_dir(cri, &id).await?;
    let parent = Path::new("/sys/fs/cgroup").join(w.cgroup.path().trim_start_matches('/'));
    ensure!(
        dir.starts_with(&parent) && dir.ends_with(&id),
        "the container's cgroup {} is not {}/…/{id}",
        dir.display(),
        parent.display()
    );
    ensure!(read(&dir, "memory.max")? == (64 * MIB).to_string());
    ensure!(read(&dir, "cpu.max")? == "50000 100000");
    ensure!(read(&dir, "pids.max")? == "64");
    let enabled = read(dir.parent().context("parent")?, "cgroup.subtree_control")?;
    for controller in ["cpu", "memory", "pids"] {
        ensure!(
            enabled.split_whitespace().any(|c| c == controller),
            "{controller} not enabled in the parent's subtree_control: {enabled}"
        );
    }

    // Stats from the v2 files: some CPU spent (the exec runs in the
    // container's cgroup) and memory in use, as the files say.
    let (code, out) = exec(
        cri,
        &id,
        &["sh", "-c", "i=0; while [ $i -lt 200 ]; do i=$((i+1)); done"],
    )
    .await?;
    ensure!(code == 0, "exec: {out}");
    let cpu_stat = read(&dir, "cpu.stat")?;
    ensure!(cpu_stat.starts_with("usage_usec "), "cpu.stat: {cpu_stat}");
    ensure!(read(&dir, "memory.current")?.parse::<u64>()? > 0);
    ensure!(read(&dir, "pids.current")?.parse::<u64>()? > 0);
    let stats = container_stats(cri, &id).await?;
    let (cpu, memory) = cpu_and_working_set(stats.cpu, stats.memory);
    ensure!(
        cpu.is_some_and(|v| v > 0) && memory.is_some_and(|v| v > 0),
        "ContainerStats: cpu {cpu:?} working set {memory:?}"
    );
    let pod_stats = pod_stats(cri, &pod_id).await?;
    let linux = pod_stats.linux.context("PodSandboxStats without linux")?;
    let (pod_cpu, pod_memory) = cpu_and_working_set(linux.cpu, linux.memory);
    ensure!(
        pod_cpu.is_some_and(|v| v > 0) && pod_memory.is_some_and(|v| v > 0),
        "PodSandboxStats: cpu {pod_cpu:?} working set {pod_memory:?}"
    );
    ensure!(
        linux
            .containers
            .iter()
            .any(|c| c.attributes.as_ref().is_some_and(|a| a.id == id)),
        "the pod's stats do not list its container"
    );

    // UpdateContainerResources on v2 (the kubelet's in-place resize).
    update_resources(cri, &id, limits(96, 20_000)).await?;
    ensure!(read(&dir, "memory.max")? == (96 * MIB).to_string());
    ensure!(read(&dir, "cpu.max")? == "20000 100000");

    // Past memory.max: the kernel kills it, memory.events says so.
    let mut hog = memory_hog_config(&image);
    hog.linux.get_or_insert_with(Default::default).resources = Some(limits(16, 0));
    let hog = create_and_start(cri, &pod_id, &pod, hog).await?;
    let exited = wait_for_state(cri, &hog, cri::ContainerState::ContainerExited, SLOW).await?;
    ensure!(
        exited.reason == "OOMKilled" && exited.exit_code == 137,
        "OOM: reason {:?} exit {}",
        exited.reason,
        exited.exit_code
    );

    remove_pod_and_check_leaks(cri, &w.daemon, &pod_id, &[id.clone(), hog]).await?;
    ensure!(!dir.exists(), "{} left after removal", dir.display());
    Ok(())
}

async fn container_stats(cri: &mut Cri, id: &str) -> anyhow::Result<cri::ContainerStats> {
    cri.runtime
        .container_stats(cri::ContainerStatsRequest {
            container_id: id.into(),
        })
        .await
        .context("ContainerStats")?
        .into_inner()
        .stats
        .context("ContainerStats without stats")
}

async fn pod_stats(cri: &mut Cri, pod_id: &str) -> anyhow::Result<cri::PodSandboxStats> {
    let listed = cri
        .runtime
        .list_pod_sandbox_stats(cri::ListPodSandboxStatsRequest {
            filter: Some(cri::PodSandboxStatsFilter {
                id: pod_id.into(),
                ..Default::default()
            }),
        })
        .await
        .context("ListPodSandboxStats")?
        .into_inner()
        .stats;
    listed
        .into_iter()
        .find(|s| s.attributes.as_ref().is_some_and(|a| a.id == pod_id))
        .context("ListPodSandboxStats does not list the pod")
}

// ---- the systemd driver -----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs in the cgroup v2 + systemd + AppArmor guest (hack/vm/test.sh)"]
async fn guest_pod_with_the_systemd_cgroup_driver() {
    assert_guest_node();
    let mut w = World::start_with_config("cgroup_driver = \"systemd\"\n").await;
    // The kubelet's systemd driver names the pod's slice after its QoS
    // class and uid (dashes escaped, none in ours).
    let slice = format!("kubepods-besteffort-pod{}.slice", random_suffix());
    let result = systemd_driver(&mut w, &slice).await;
    // The slices are systemd's: stop the pod's (its parents stay, as on a node).
    let _ = systemctl(&["stop", &slice]);
    w.finish_with_log(result).await;
}

async fn systemd_driver(w: &mut World, slice: &str) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let driver = cgroup_driver(cri).await?;
    ensure!(
        driver == Some(cri::CgroupDriver::Systemd as i32),
        "RuntimeConfig cgroup_driver {driver:?}"
    );
    let image = w.registry.image_ref();
    pull(cri, &image).await?;
    let mut pod = pod_config(&w.daemon, &w.cgroup)?;
    pod.linux.get_or_insert_with(Default::default).cgroup_parent = slice.to_string();
    let pod_id = run_pod(cri, &pod).await?;
    // The pause runs in its own scope in the pod's slice.
    let pause_unit = format!("cri-cradle-{pod_id}.scope");
    ensure!(
        unit_property(&pause_unit, "ActiveState")? == "active",
        "the pause's {pause_unit} is not active"
    );
    ensure!(
        unit_property(&pause_unit, "Slice")? == slice,
        "the pause's {pause_unit} is not in {slice}"
    );
    let mut config = container_config(&image, "scoped", &["sleep", "3600"]);
    config.linux.get_or_insert_with(Default::default).resources = Some(limits(64, 50_000));
    let id = create_and_start(cri, &pod_id, &pod, config).await?;

    let unit = format!("cri-cradle-{id}.scope");
    let (ok, status) = systemctl(&["status", "--no-pager", &unit])?;
    ensure!(
        ok && status.contains(&unit),
        "systemctl status {unit}:\n{status}"
    );
    ensure!(
        unit_property(&unit, "ActiveState")? == "active",
        "{unit} is not active"
    );
    ensure!(
        unit_property(&unit, "Slice")? == slice,
        "{unit} is not in {slice}"
    );
    ensure!(
        unit_property(&unit, "MemoryMax")? == (64 * MIB).to_string(),
        "{unit}'s MemoryMax"
    );
    let dir = cgroup_dir(cri, &id).await?;
    ensure!(
        dir.ends_with(format!("{slice}/{unit}")),
        "the container's cgroup {} is not the unit's",
        dir.display()
    );
    ensure!(read(&dir, "memory.max")? == (64 * MIB).to_string());
    ensure!(read(&dir, "cpu.max")? == "50000 100000");
    // The pod's stats find the pause's scope beside the container's: the
    // pause and the sleep.
    let processes = pod_stats(cri, &pod_id)
        .await?
        .linux
        .and_then(|l| l.process)
        .and_then(|p| p.process_count)
        .map(|v| v.value);
    ensure!(
        processes.is_some_and(|n| n >= 2),
        "PodSandboxStats process_count {processes:?}: the pause's scope is not counted"
    );

    stop_and_remove_container(cri, &id).await?;
    let deadline = Instant::now() + SLOW;
    while unit_property(&unit, "ActiveState")? != "inactive" {
        if Instant::now() > deadline {
            bail!("{unit} still there after RemoveContainer");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ensure!(!dir.exists(), "{} left after removal", dir.display());
    stop_and_remove_pod(cri, &pod_id).await?;
    ensure!(
        unit_property(&pause_unit, "ActiveState")? == "inactive",
        "the pause's {pause_unit} still there after RemovePodSandbox"
    );
    cradle_tests::leaks::assert_none(&cradle_tests::steps::leak_scope(&w.daemon, &[&id, &pod_id]));
    Ok(())
}

/// `systemctl args`: (success, stdout and stderr).
fn systemctl(args: &[&str]) -> anyhow::Result<(bool, String)> {
    let out = Command::new("systemctl")
        .args(args)
        .output()
        .context("running systemctl")?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// One property of a unit (`inactive` for a unit systemd does not know).
fn unit_property(unit: &str, property: &str) -> anyhow::Result<String> {
    let (ok, out) = systemctl(&["show", "-p", property, "--value", unit])?;
    ensure!(ok, "systemctl show {unit}: {out}");
    Ok(out.trim().to_string())
}

// ---- AppArmor ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs in the cgroup v2 + systemd + AppArmor guest (hack/vm/test.sh)"]
async fn guest_apparmor_confines_containers_and_refuses_a_profile_not_loaded() {
    assert_guest_node();
    let mut w = World::start().await;
    let profile = TestProfile::load().expect("loading the test's AppArmor profile");
    let result = apparmor(&mut w, &profile.name).await;
    drop(profile);
    w.finish_with_log(result).await;
}

async fn apparmor(w: &mut World, loaded: &str) -> anyhow::Result<()> {
    use cri::security_profile::ProfileType;
    let cri = &mut w.cri;
    let image = w.registry.image_ref();
    pull(cri, &image).await?;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;
    let with = |name: &str, profile: Option<(ProfileType, &str)>| {
        let mut config = container_config(&image, name, &["sleep", "3600"]);
        let security = config
            .linux
            .get_or_insert_with(Default::default)
            .security_context
            .get_or_insert_with(Default::default);
        security.apparmor = profile.map(|(kind, name)| cri::SecurityProfile {
            profile_type: kind as i32,
            localhost_ref: name.into(),
        });
        config
    };
    let mut ids = Vec::new();
    let default = format!("{} (enforce)", "cri-cradle-default");
    for (name, profile, want) in [
        (
            "runtime-default",
            Some((ProfileType::RuntimeDefault, "")),
            default.clone(),
        ),
        ("unset", None, default.clone()),
        (
            "unconfined",
            Some((ProfileType::Unconfined, "")),
            "unconfined".to_string(),
        ),
        (
            "localhost",
            Some((ProfileType::Localhost, loaded)),
            format!("{loaded} (enforce)"),
        ),
    ] {
        let id = create_and_start(cri, &pod_id, &pod, with(name, profile)).await?;
        ids.push(id.clone());
        let pid = init_pid(cri, &id).await?;
        let current = std::fs::read_to_string(format!("/proc/{pid}/attr/current"))?;
        ensure!(
            current.trim_end_matches(['\n', '\0']) == want,
            "{name}: /proc/{pid}/attr/current is {current:?}, want {want:?}"
        );
        // An exec'd process runs under the container's profile too.
        let (code, inside) = exec(cri, &id, &["cat", "/proc/self/attr/current"]).await?;
        ensure!(
            code == 0 && inside.trim_end_matches(['\n', '\0']) == want,
            "{name}: inside, attr/current is {inside:?}"
        );
    }
    // The Localhost profile's own rule is enforced.
    let localhost = ids.last().context("no container")?.clone();
    let (code, out) = exec(
        cri,
        &localhost,
        &["sh", "-c", "echo ok >/tmp/allowed && echo no >/etc/denied"],
    )
    .await?;
    ensure!(
        code != 0 && out.contains("Permission denied"),
        "the Localhost profile's deny rule: exit {code}: {out}"
    );

    // Not loaded: refused before anything is created, naming the field.
    let missing = format!("cradle-e2e-missing-{}", random_suffix());
    let refused = create(
        cri,
        &pod_id,
        &pod,
        with("missing", Some((ProfileType::Localhost, &missing))),
    )
    .await
    .err()
    .context("a Localhost profile that is not loaded was accepted")?;
    let status = refused
        .downcast_ref::<tonic::Status>()
        .context("not a gRPC status")?;
    ensure!(
        status.code() == tonic::Code::InvalidArgument
            && status.message().contains("linux.security_context.apparmor")
            && status.message().contains(&missing),
        "refusal: {status:?}"
    );
    let listed = list_containers(cri).await?;
    ensure!(
        listed.len() == ids.len(),
        "the refused container exists: {listed:?}"
    );

    remove_pod_and_check_leaks(cri, &w.daemon, &pod_id, &ids).await
}

/// A profile the test loads on the node (and unloads on drop): everything
/// allowed but writes under /etc.
struct TestProfile {
    name: String,
    text: String,
}

impl TestProfile {
    fn load() -> anyhow::Result<TestProfile> {
        let name = format!("cradle-e2e-{}", random_suffix());
        let text = format!(
            "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n  \
             file,\n  network,\n  capability,\n  signal,\n  ptrace,\n  unix,\n  umount,\n  \
             deny /etc/** w,\n}}\n"
        );
        parser(&["-r"], &text)?;
        Ok(TestProfile { name, text })
    }
}

impl Drop for TestProfile {
    fn drop(&mut self) {
        if let Err(e) = parser(&["-R"], &self.text) {
            eprintln!("unloading AppArmor profile {}: {e:#}", self.name);
        }
    }
}

/// `apparmor_parser args` with `text` on stdin.
fn parser(args: &[&str], text: &str) -> anyhow::Result<()> {
    let mut child = Command::new("apparmor_parser")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running apparmor_parser")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "apparmor_parser {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
