//! Real kubelet requests: what a stock kubelet v1.36.2 sent over the CRI for
//! a range of pod shapes (recorded in front of containerd 1.6.20, kept as
//! fixtures in `tests/fixtures/kubelet-v1.36/`, see docs/kubelet-replay.md),
//! replayed against cradled, one test per scenario. Each call must end as
//! it did under containerd, or as the table below says and why.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use cradle_tests::image_variant::variant_layout;
use cradle_tests::replay::{Difference, Expect, Node, Replay, always};
use cradle_tests::steps::{leak_scope, remove_everything};
use cradle_tests::{
    CgroupParent, Daemon, Registry, World, leaks, skip_unless_ready, test_image_layout,
};
use serde_json::Value;

/// Where Cradle answers differently from containerd 1.6, and why.
const DIFFERENCES: &[Difference] = &[
    Difference {
        scenario: "*",
        method: "RuntimeConfig",
        when: always,
        cradle: Expect::Ok,
        why: "containerd 1.6 has no RuntimeConfig (Unimplemented); Cradle reports its cgroup \
              driver (CGROUPFS), which a v1.36 kubelet then uses instead of its own flag",
    },
    Difference {
        scenario: "k-image-volume",
        method: "CreateContainer",
        when: has_image_volume,
        cradle: Expect::Ok,
        why: "containerd 1.6 cannot mount image volumes (\"failed to mkdir \\\"\\\"\"); Cradle \
              mounts them read-only, subPath included",
    },
    Difference {
        scenario: "m-runtimeclass",
        method: "RunPodSandbox",
        when: crun_pod_where_crun_is_installed,
        cradle: Expect::Ok,
        why: "containerd runs the pause container with the pod's runtime, and crun refused the \
              recording host (cgroups in hybrid mode); Cradle's pause is its own shim, so the \
              pod runs and its containers would end as ContainerCannotRun with crun's reason \
              (tests/tests/runtime_handlers_e2e.rs). Without crun installed Cradle refuses the \
              handler, as the recording's runtime failed",
    },
];

/// A pod on RuntimeClass handler `crun`, on a host where crun is a
/// handler (installed: found in PATH, as cradled finds it).
fn crun_pod_where_crun_is_installed(request: &Value) -> bool {
    let installed = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("crun").is_file()));
    request["runtime_handler"] == "crun" && installed
}

/// A mount of an image (`host_path` empty, `image` set): an image volume.
fn has_image_volume(request: &Value) -> bool {
    mounts(request).any(|m| m["image"]["image"].as_str().is_some_and(|i| !i.is_empty()))
}

fn mounts(request: &Value) -> impl Iterator<Item = &Value> {
    request["config"]["mounts"].as_array().into_iter().flatten()
}

/// The registries the recorded pods pull from, all served by the test's.
const MIRRORED: &[&str] = &["registry.k8s.io", "gcr.io", "docker.io"];

/// The registry with the test image under every name the scenario's
/// recorded runtime had, and cradled with the recorded registries mirrored
/// to it.
async fn world(scenario: &str) -> anyhow::Result<World> {
    let cgroup = CgroupParent::new();
    let registry = Registry::start()?;
    let (header, _) = cradle_tests::replay::fixture::load(scenario)?;
    let layout = test_image_layout()?;
    for image in &header.images {
        for tag in &image.repo_tags {
            let name = MIRRORED
                .iter()
                .find_map(|host| tag.strip_prefix(&format!("{host}/")))
                .ok_or_else(|| anyhow::anyhow!("{tag}: not from a mirrored registry"))?;
            if name.contains("busybox") {
                registry.push_layout(&layout, name)?;
            } else {
                registry.push_layout(server_stand_in()?.path(), name)?;
            }
        }
    }
    let mut config = String::new();
    for host in MIRRORED {
        config.push_str(&format!(
            "[registry.hosts.{host:?}]\nmirrors = [\"http://{}\"]\n",
            registry.host()
        ));
    }
    let daemon = Daemon::start_with_config(&config)?;
    let cri = daemon.connect().await?;
    Ok(World {
        cri,
        daemon,
        registry,
        cgroup,
    })
}

/// The stand-in for an image other than busybox (httpd, nginx…): the test
/// image with a default command that, like a server's, runs until it is
/// stopped. As pid 1 without a handler it ignores SIGTERM and is killed at
/// the end of the grace period, as the recorded httpd was (exit 137).
fn server_stand_in() -> anyhow::Result<tempfile::TempDir> {
    variant_layout(|config| {
        config.insert(
            "Cmd".into(),
            serde_json::json!(["sh", "-c", "while true; do sleep 1; done"]),
        );
    })
}

/// Replays `scenario`, removes whatever the recording left running, and
/// checks nothing of it is left behind.
async fn replay(scenario: &str, shared_host_path: bool) {
    skip_unless_ready!(true);
    let mut w = world(scenario).await.expect("world");
    let node = Node::new(&w.daemon, &w.cgroup, shared_host_path).expect("node");
    let result = run(&mut w, &node, scenario).await;
    w.finish_with_log(result).await;
}

async fn run(w: &mut World, node: &Node, scenario: &str) -> anyhow::Result<()> {
    let mut replay = Replay::new(&mut w.cri, node, scenario, DIFFERENCES);
    let outcome = replay.run().await;
    for note in &replay.notes {
        eprintln!("{scenario}: {note}");
    }
    eprintln!("{scenario}: {} calls sent", replay.calls_sent);
    let made = replay.made().to_vec();
    outcome?;
    remove_everything(&mut w.cri).await;
    let ids: Vec<&str> = made.iter().map(String::as_str).collect();
    let leaks = leaks::find(&leak_scope(&w.daemon, &ids));
    anyhow::ensure!(leaks.is_empty(), "leaks:\n  {}", leaks.join("\n  "));
    Ok(())
}

macro_rules! scenarios {
    ($($test:ident => $scenario:literal $(, $shared:literal)?;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            replay($scenario, false $(|| $shared)?).await;
        }
    )*};
}

// `c-volumes` ran with the host path on a shared mount; `c0` without.
scenarios! {
    startup_standalone => "00-startup-standalone";
    startup_cluster => "00-startup-cluster";
    besteffort_probes => "a-besteffort-probes";
    qos_classes => "b-qos";
    volumes_createcontainer_error => "c0-volumes-createcontainer-error";
    volumes => "c-volumes", true;
    security_context => "d-securitycontext";
    apparmor_supplemental_groups_policy => "d2-apparmor-sgpolicy";
    host_namespaces => "e-hostns";
    init_sidecar_hooks => "f-init-sidecar-hooks";
    restart_and_oom => "g-restart-oom";
    liveness_failure => "g2-liveness-failure";
    streaming => "h-streaming";
    in_place_resize => "i-resize";
    user_namespaces_refused_by_the_kubelet => "j-userns";
    user_namespaces_with_patched_status => "j2-userns-fake-features";
    image_volumes => "k-image-volume";
    idle_then_graceful_delete => "l-idle-delete";
    cluster_idle_then_delete => "l2-cluster-idle-delete";
    runtime_classes => "m-runtimeclass";
    image_pull_errors => "n-image-pull-errors";
    shutdown_cluster => "99-shutdown-cluster";
}
