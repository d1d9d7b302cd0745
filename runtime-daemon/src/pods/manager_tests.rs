//! The sandbox manager's logic against the platform fakes, without root:
//! the order RunPodSandbox builds a pod in, how each failure unwinds, and
//! Stop's and Remove's steps and idempotence.

use super::*;
use crate::core::error::Error;
use crate::core::ids::SandboxId;
use crate::core::store::Kind;
use crate::core::testbed::{self, TestBed};
use crate::platform::fakes::POD_IP;
use cradle_proto::cri;

/// The kubelet's config of pod `name`, with the pod's own hostname.
fn pod_config(name: &str) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        hostname: name.into(),
        ..testbed::pod_config(name)
    }
}

/// A test bed and a sandbox manager over it.
fn bed_and_manager() -> (TestBed, SandboxManager) {
    let bed = TestBed::new();
    let pods = SandboxManager::new(bed.ctx.clone());
    (bed, pods)
}

fn host_network(mut config: cri::PodSandboxConfig) -> cri::PodSandboxConfig {
    let linux = config.linux.get_or_insert_with(Default::default);
    let security = linux.security_context.get_or_insert_with(Default::default);
    security.namespace_options = Some(cri::NamespaceOption {
        network: cri::NamespaceMode::Node as i32,
        ..Default::default()
    });
    config
}

fn with_sysctl(mut config: cri::PodSandboxConfig, key: &str) -> cri::PodSandboxConfig {
    let linux = config.linux.get_or_insert_with(Default::default);
    linux.sysctls.insert(key.into(), "1".into());
    config
}

/// A test bed whose manager runs pod "web", the journal cleared after.
async fn bed_with_a_ready_pod() -> (TestBed, SandboxManager, SandboxId) {
    let (bed, pods) = bed_and_manager();
    let id = pods.run(pod_config("web"), "").await.unwrap();
    bed.journal.clear();
    (bed, pods, id)
}

/// Runs pod `config` with platform step `step` failing; the bed, the
/// manager and the error the run ended in.
async fn run_failing_at(
    step: &str,
    config: cri::PodSandboxConfig,
) -> (TestBed, SandboxManager, Error) {
    let (bed, pods) = bed_and_manager();
    bed.journal.fail(step);
    let err = pods.run(config, "").await.unwrap_err();
    (bed, pods, err)
}

/// Nothing of any sandbox is left on disk, in the store or in memory.
fn assert_nothing_left(bed: &TestBed, pods: &SandboxManager) {
    assert_eq!(bed.entries("state/ns"), 0, "namespace pins left");
    assert_eq!(bed.entries("state/shims"), 0, "shim dirs left");
    assert_eq!(bed.entries("root/sandboxes"), 0, "sandbox files left");
    assert!(pods.list().is_empty());
    let stored: Vec<(String, SandboxRecord)> = bed.stored(Kind::Sandbox);
    assert!(stored.is_empty());
    assert!(bed.network.attached().is_empty(), "CNI attachments left");
}

#[tokio::test]
async fn run_pins_attaches_and_spawns_the_pause_in_that_order_and_records_the_pod() {
    let (bed, pods) = bed_and_manager();
    let id = pods.run(pod_config("web"), "").await.unwrap();
    assert_eq!(bed.steps(&id), ["pin", "attach", "spawn sandbox"]);
    let record = pods.get(&id).unwrap();
    assert_eq!(record.state, SandboxState::Ready);
    assert_eq!(record.ips, [POD_IP]);
    assert!(record.network_attached);
    assert!(record.pins.net.is_some() && record.pins.ipc.is_some() && record.pins.uts.is_some());
    let stored: Vec<(String, SandboxRecord)> = bed.stored(Kind::Sandbox);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, id);
    let hostname = std::fs::read_to_string(bed.ctx.sandbox_dir(&id).join("hostname")).unwrap();
    assert_eq!(hostname, "web\n");
}

#[tokio::test]
async fn net_sysctls_are_written_after_cni_add_and_before_the_pause() {
    let (bed, pods) = bed_and_manager();
    let config = with_sysctl(pod_config("web"), "net.ipv4.ip_unprivileged_port_start");
    let id = pods.run(config, "").await.unwrap();
    assert_eq!(
        bed.steps(&id),
        [
            "pin",
            "attach",
            "sysctls net.ipv4.ip_unprivileged_port_start",
            "spawn sandbox"
        ]
    );
}

#[tokio::test]
async fn a_host_network_pod_pins_no_network_and_calls_no_cni() {
    let (bed, pods) = bed_and_manager();
    let id = pods
        .run(host_network(pod_config("node")), "")
        .await
        .unwrap();
    assert_eq!(bed.steps(&id), ["pin", "spawn sandbox"]);
    let record = pods.get(&id).unwrap();
    assert!(record.pins.net.is_none() && record.pins.uts.is_none());
    assert!(record.pins.ipc.is_some());
    assert!(!record.network_attached);
    assert!(record.ips.is_empty());
}

#[tokio::test]
async fn net_sysctls_on_the_node_network_are_refused_before_anything_is_built() {
    let (bed, pods) = bed_and_manager();
    let config = with_sysctl(host_network(pod_config("node")), "net.ipv4.ip_forward");
    let err = pods.run(config, "").await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(bed.journal.calls().is_empty(), "{:?}", bed.journal.calls());
    assert_nothing_left(&bed, &pods);
}

#[tokio::test]
async fn without_a_cni_configuration_the_pod_has_loopback_only_and_stop_detaches_nothing() {
    let bed = TestBed::new();
    bed.network.unconfigure();
    let pods = SandboxManager::new(bed.ctx.clone());
    let id = pods.run(pod_config("lo"), "").await.unwrap();
    let record = pods.get(&id).unwrap();
    assert!(!record.network_attached);
    assert!(record.ips.is_empty());
    bed.journal.clear();
    pods.stop(&SandboxId::new(id.clone())).await.unwrap();
    assert_eq!(bed.steps(&id), ["kill 9", "wait"]);
}

#[tokio::test]
async fn an_unknown_runtime_handler_is_refused_before_anything_is_built() {
    let (bed, pods) = bed_and_manager();
    let err = pods.run(pod_config("web"), "kata").await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(bed.journal.calls().is_empty());
}

#[tokio::test]
async fn a_failing_pause_spawn_unwinds_cni_add_and_the_pins_and_frees_the_name() {
    let (bed, pods, err) = run_failing_at("spawn", pod_config("web")).await;
    assert!(matches!(err, Error::Shim { .. }), "{err:?}");
    let verbs = bed.journal.verbs();
    assert_eq!(verbs, ["pin", "attach", "spawn", "detach", "unpin"]);
    assert_nothing_left(&bed, &pods);
    // The name is free again: a retry is not AlreadyExists.
    bed.journal.heal("spawn");
    pods.run(pod_config("web"), "").await.unwrap();
}

#[tokio::test]
async fn a_failing_cni_add_unpins_without_a_cni_del_and_frees_the_name() {
    let (bed, pods, err) = run_failing_at("attach", pod_config("web")).await;
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    let verbs = bed.journal.verbs();
    assert_eq!(verbs, ["pin", "attach", "unpin"]);
    assert_nothing_left(&bed, &pods);
    bed.journal.heal("attach");
    pods.run(pod_config("web"), "").await.unwrap();
}

#[tokio::test]
async fn a_failing_sysctl_write_unwinds_cni_add_and_the_pins() {
    let config = with_sysctl(pod_config("web"), "net.ipv4.ip_forward");
    let (bed, pods, err) = run_failing_at("sysctls", config).await;
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    let verbs = bed.journal.verbs();
    assert_eq!(verbs, ["pin", "attach", "sysctls", "detach", "unpin"]);
    assert_nothing_left(&bed, &pods);
}

#[tokio::test]
async fn a_failing_pin_builds_nothing_else() {
    let (bed, pods, err) = run_failing_at("pin", pod_config("web")).await;
    assert!(matches!(err, Error::Namespaces { .. }), "{err:?}");
    let calls = bed.journal.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_nothing_left(&bed, &pods);
}

#[tokio::test]
async fn a_second_pod_of_the_same_name_is_already_exists_and_builds_nothing() {
    let (bed, pods, first) = bed_with_a_ready_pod().await;
    let err = pods.run(pod_config("web"), "").await.unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { ref owner, .. } if *owner == first),
        "{err:?}"
    );
    assert!(bed.journal.calls().is_empty());
    assert_eq!(pods.list().len(), 1);
}

#[tokio::test]
async fn stop_detaches_the_network_then_kills_the_pause_and_is_idempotent() {
    let (bed, pods, id) = bed_with_a_ready_pod().await;
    let sid = SandboxId::new(id.clone());
    pods.stop(&sid).await.unwrap();
    assert_eq!(bed.steps(&id), ["detach", "kill 9", "wait"]);
    let record = pods.get(&id).unwrap();
    assert_eq!(record.state, SandboxState::NotReady);
    assert!(!record.network_attached);
    let stored: Vec<(String, SandboxRecord)> = bed.stored(Kind::Sandbox);
    assert_eq!(stored[0].1.state, SandboxState::NotReady);
    bed.journal.clear();
    pods.stop(&sid).await.unwrap();
    assert!(bed.journal.calls().is_empty(), "{:?}", bed.journal.calls());
}

#[tokio::test]
async fn a_failing_cni_del_at_stop_keeps_the_pod_attached_so_a_retry_detaches() {
    let (bed, pods) = bed_and_manager();
    let id = pods.run(pod_config("web"), "").await.unwrap();
    let sid = SandboxId::new(id.clone());
    bed.journal.fail("detach");
    let err = pods.stop(&sid).await.unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    let record = pods.get(&id).unwrap();
    assert!(record.network_attached);
    assert_eq!(record.state, SandboxState::Ready);
    assert!(bed.shims.is_serving(&id));
    bed.journal.heal("detach");
    bed.journal.clear();
    pods.stop(&sid).await.unwrap();
    assert_eq!(bed.steps(&id), ["detach", "kill 9", "wait"]);
    assert!(bed.network.attached().is_empty());
}

#[tokio::test]
async fn stop_and_remove_of_an_unknown_pod_succeed_without_a_call() {
    let (bed, pods) = bed_and_manager();
    let sid = SandboxId::new("0123456789abcdef");
    pods.stop(&sid).await.unwrap();
    pods.remove(&sid).await.unwrap();
    assert!(bed.journal.calls().is_empty());
}

#[tokio::test]
async fn remove_stops_deletes_the_pause_shim_unpins_and_forgets_the_pod() {
    let (bed, pods, id) = bed_with_a_ready_pod().await;
    let sid = SandboxId::new(id.clone());
    pods.remove(&sid).await.unwrap();
    assert_eq!(
        bed.steps(&id),
        ["detach", "kill 9", "wait", "delete force", "unpin"]
    );
    assert_nothing_left(&bed, &pods);
    assert!(matches!(pods.get(&id), Err(Error::NotFound { .. })));
    // Idempotent, and the name is free for the next attempt.
    pods.remove(&sid).await.unwrap();
    pods.run(pod_config("web"), "").await.unwrap();
}
