//! The runtime layer against the platform fakes, without root: the
//! operations spanning pods and containers, the recovery at start
//! (reattaching to live shims, ending what lost its shim) and the sweep of
//! what no record owns.

use super::*;
use crate::containers::{ContainerRecord, ContainerState};
use crate::core::store::Kind;
use crate::core::testbed::{TestBed, pod_config, until_state};
use crate::pods::{SandboxRecord, SandboxState};
use cradle_proto::shim::ProcessStatus;

fn runtime(bed: &TestBed) -> Runtime {
    Runtime {
        pods: SandboxManager::new(bed.ctx.clone()),
        containers: ContainerManager::new(bed.ctx.clone()),
        images: ImageManager::new(bed.ctx.clone()),
        cpu: crate::stats::CpuTracker::default(),
        ctx: bed.ctx.clone(),
    }
}

/// A ready pod with one running container, known to the runtime, whose
/// shims serve: what RunPodSandbox, CreateContainer and Start left.
async fn pod_with_a_running_container(bed: &TestBed, rt: &Runtime) -> (SandboxId, ContainerId) {
    let sandbox = rt.pods.run(pod_config("web"), "").await.unwrap();
    let container = bed.plant_container(&sandbox, "app", ContainerState::Running);
    bed.shims.plant(&container, ProcessStatus::Running);
    rt.containers
        .restore(bed.stored_container(&container).unwrap());
    (sandbox, container)
}

#[tokio::test]
async fn stop_pod_sandbox_stops_its_containers_before_the_network_and_the_pause() {
    let bed = TestBed::new();
    let rt = runtime(&bed);
    let (sandbox, container) = pod_with_a_running_container(&bed, &rt).await;
    bed.journal.clear();
    rt.stop_pod_sandbox(&SandboxId::new(sandbox.clone()))
        .await
        .unwrap();
    let calls = bed.journal.calls();
    assert_eq!(
        calls,
        [
            format!("kill {container} 9"),
            format!("wait {container}"),
            format!("detach {sandbox}"),
            format!("kill {sandbox} 9"),
            format!("wait {sandbox}"),
        ]
    );
    assert_eq!(
        rt.containers.get(&container).unwrap().state,
        ContainerState::Exited
    );
    // Idempotent.
    bed.journal.clear();
    rt.stop_pod_sandbox(&SandboxId::new(sandbox)).await.unwrap();
    assert!(bed.journal.calls().is_empty(), "{:?}", bed.journal.calls());
}

#[tokio::test]
async fn remove_pod_sandbox_removes_its_containers_then_the_pod() {
    let bed = TestBed::new();
    let rt = runtime(&bed);
    let (sandbox, container) = pod_with_a_running_container(&bed, &rt).await;
    rt.remove_pod_sandbox(&SandboxId::new(sandbox.clone()))
        .await
        .unwrap();
    assert!(rt.containers.list().is_empty());
    assert!(rt.pods.list().is_empty());
    let deletes = bed.journal.only(&["delete", "unpin"]);
    assert_eq!(
        deletes,
        [
            format!("delete {container} force"),
            format!("delete {sandbox} force"),
            format!("unpin {sandbox}"),
        ]
    );
    assert!(bed.stored::<ContainerRecord>(Kind::Container).is_empty());
    // Unknown now: Ok.
    rt.remove_pod_sandbox(&SandboxId::new(sandbox))
        .await
        .unwrap();
}

#[tokio::test]
async fn create_container_in_an_unknown_pod_is_not_found() {
    let bed = TestBed::new();
    let rt = runtime(&bed);
    let err = rt
        .create_container(&SandboxId::new("feedface"), cri::ContainerConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(bed.journal.calls().is_empty());
}

#[tokio::test]
async fn recovery_reattaches_live_shims_and_ends_what_lost_its_shim() {
    let bed = TestBed::new();
    let live_pod = bed.plant_sandbox("live", false);
    let dead_pod = bed.plant_sandbox("dead", false);
    bed.shims.plant(&live_pod, ProcessStatus::Running);
    let running = bed.plant_container(&live_pod, "running", ContainerState::Running);
    bed.shims.plant(&running, ProcessStatus::Running);
    let created_now_running = bed.plant_container(&live_pod, "started", ContainerState::Created);
    bed.shims
        .plant(&created_now_running, ProcessStatus::Running);
    let exited_meanwhile = bed.plant_container(&live_pod, "done", ContainerState::Running);
    bed.shims.plant(&exited_meanwhile, ProcessStatus::Exited);
    let orphaned = bed.plant_container(&dead_pod, "orphan", ContainerState::Running);
    let with_record = bed.plant_container(&dead_pod, "left", ContainerState::Running);
    bed.shims.plant(&with_record, ProcessStatus::Running);
    bed.shims.crash(
        &with_record,
        Some(crate::platform::fakes::exit_record(9, None)),
    );

    // A fresh daemon over the same store and shims.
    let rt = runtime(&bed);
    recovery::recover(&rt.ctx, &rt.pods, &rt.containers)
        .await
        .unwrap();

    assert_eq!(rt.pods.get(&live_pod).unwrap().state, SandboxState::Ready);
    assert_eq!(
        rt.pods.get(&dead_pod).unwrap().state,
        SandboxState::NotReady
    );
    let stored: Vec<(String, SandboxRecord)> = bed.stored(Kind::Sandbox);
    let dead = stored.iter().find(|(id, _)| *id == dead_pod).unwrap();
    assert_eq!(dead.1.state, SandboxState::NotReady, "persisted");

    assert_eq!(
        rt.containers.get(&running).unwrap().state,
        ContainerState::Running
    );
    assert_eq!(
        rt.containers.get(&created_now_running).unwrap().state,
        ContainerState::Running
    );
    let done = rt.containers.get(&exited_meanwhile).unwrap();
    assert_eq!((done.state, done.exit_code), (ContainerState::Exited, 3));
    let orphan = rt.containers.get(&orphaned).unwrap();
    assert_eq!(
        (orphan.state, orphan.exit_code),
        (ContainerState::Exited, 255)
    );
    assert_eq!(orphan.reason, "Unknown");
    let left = rt.containers.get(&with_record).unwrap();
    assert_eq!((left.state, left.exit_code), (ContainerState::Exited, 9));

    // The resumed container's exit monitor runs again.
    bed.shims.exit(&running, 0);
    assert_eq!(
        until_state(&rt.containers, &running, ContainerState::Exited)
            .await
            .reason,
        "Completed"
    );
}

#[tokio::test]
async fn recovery_fills_missing_pod_ips_from_the_cni_cache() {
    let bed = TestBed::new();
    let id = bed.plant_sandbox("web", true);
    bed.shims.plant(&id, ProcessStatus::Running);
    bed.network.plant(&id, &["10.1.0.5", "fd00::5"]);
    let rt = runtime(&bed);
    recovery::recover(&rt.ctx, &rt.pods, &rt.containers)
        .await
        .unwrap();
    assert_eq!(rt.pods.get(&id).unwrap().ips, ["10.1.0.5", "fd00::5"]);
    assert_eq!(
        bed.journal.only(&["cached_ips"]),
        [format!("cached_ips {id}")]
    );
}

#[tokio::test]
async fn sweep_takes_apart_what_no_record_owns_and_leaves_the_rest() {
    let bed = TestBed::new();
    let rt = runtime(&bed);
    let kept = rt.pods.run(pod_config("kept"), "").await.unwrap();
    // What a daemon that died mid-RunPodSandbox left: pins with a network
    // namespace, an attachment, a serving shim, the pod's files.
    let orphan = &SandboxId::new("0000orphan");
    let ns = bed.ctx.ns_dir(orphan);
    std::fs::create_dir_all(&ns).unwrap();
    std::fs::write(ns.join("net"), "").unwrap();
    std::fs::write(ns.join("uts"), "").unwrap();
    std::fs::create_dir_all(bed.ctx.shim_dir(orphan)).unwrap();
    std::fs::create_dir_all(bed.ctx.sandbox_dir(orphan)).unwrap();
    bed.shims.plant(orphan, ProcessStatus::Running);
    bed.network.plant(orphan, &["10.88.0.99"]);
    bed.journal.clear();

    sweep::sweep(&rt.ctx, &rt.pods, &rt.containers).await;

    assert_eq!(
        bed.journal.calls(),
        [
            format!("delete {orphan} force"),
            format!("gc {kept}"),
            format!("detach {orphan}"),
            format!("unpin {orphan}"),
        ]
    );
    assert!(!ns.exists());
    assert!(!bed.ctx.shim_dir(orphan).exists());
    assert!(!bed.ctx.sandbox_dir(orphan).exists());
    assert_eq!(bed.network.attached(), std::slice::from_ref(&kept));
    // The recorded pod is untouched.
    assert!(bed.ctx.ns_dir(&kept).exists());
    assert!(bed.ctx.shim_dir(&kept).exists());
    assert!(bed.shims.is_serving(&kept));
}

#[tokio::test]
async fn sweep_keeps_the_pins_of_an_orphan_whose_cni_del_fails() {
    let bed = TestBed::new();
    let rt = runtime(&bed);
    let orphan = &SandboxId::new("0000orphan");
    let ns = bed.ctx.ns_dir(orphan);
    std::fs::create_dir_all(&ns).unwrap();
    std::fs::write(ns.join("net"), "").unwrap();
    bed.journal.fail("detach");
    sweep::sweep(&rt.ctx, &rt.pods, &rt.containers).await;
    assert!(bed.journal.only(&["unpin"]).is_empty());
    assert!(ns.join("net").exists(), "kept for the next start to retry");
}

#[tokio::test]
async fn an_image_volumes_image_stays_in_use_after_recovery() {
    let bed = TestBed::new();
    let pod = bed.plant_sandbox("web", false);
    let id = bed.plant_container(&pod, "app", ContainerState::Exited);
    let mut record = bed.stored_container(&id).unwrap();
    record.config.mounts = vec![cri::Mount {
        container_path: "/img".into(),
        readonly: true,
        image: Some(cri::ImageSpec {
            image: "busybox:volume".into(),
            image_ref: "sha256:volume".into(),
            ..Default::default()
        }),
        image_sub_path: "bin".into(),
        ..Default::default()
    }];
    bed.ctx
        .store
        .put(Kind::Container, id.as_str(), &record)
        .unwrap();

    // A fresh daemon over the same store.
    let rt = runtime(&bed);
    recovery::recover(&rt.ctx, &rt.pods, &rt.containers)
        .await
        .unwrap();

    assert_eq!(
        rt.containers.image_user("sha256:volume"),
        Some(format!("container {id} (its image volume at /img)"))
    );
    assert_eq!(
        rt.containers.image_user("sha256:absent"),
        Some(format!("container {id} (its rootfs)"))
    );
    assert_eq!(rt.containers.image_user("sha256:other"), None);
    let status = rt.containers.get(&id).unwrap().to_status();
    assert_eq!(
        status.mounts[0].image.as_ref().unwrap().image_ref,
        "sha256:volume"
    );
}
