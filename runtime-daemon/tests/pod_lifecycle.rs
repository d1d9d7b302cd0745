//! Pod lifecycles through the CRI service with stand-in shims
//! (tests/fake_shim.py speaks the shim protocol): name reservations,
//! idempotence, filters, restart, sweep, unwinding. They pin namespaces, so
//! they need root and are skipped otherwise.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use common::{Harness, container_config, is_root, pod_config, run_request};
use cradle_daemon::core::ids::ShimId;
use cradle_daemon::platform::shim_client::ShimClient;
use cradle_proto::cri;
use cradle_proto::cri::runtime_service_server::RuntimeService;
use std::os::unix::fs::PermissionsExt;
use tonic::{Code, Request};

#[tokio::test(flavor = "multi_thread")]
async fn failed_run_releases_the_name_and_leaves_nothing_behind() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let h = Harness::new();
    let shim = h.fake_shim("failing-shim", 1, "pause exploded");
    let svc = h.service(&shim).await;
    for _ in 0..2 {
        let err = svc
            .run_pod_sandbox(run_request(pod_config("p")))
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Code::Internal,
            "a retry must not hit AlreadyExists: {err:?}"
        );
        assert!(
            err.message().contains("pause exploded"),
            "{}",
            err.message()
        );
    }
    assert!(
        h.mounts_below().is_empty(),
        "pins left: {:?}",
        h.mounts_below()
    );
    assert_eq!(h.entries("state/ns"), 0);
    assert_eq!(h.entries("state/shims"), 0);
    assert_eq!(h.entries("root/sandboxes"), 0);
    let list = svc
        .list_pod_sandbox(Request::new(Default::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(list.items.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn pod_lifecycle_with_duplicates_filters_and_idempotent_removal() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let h = Harness::new();
    // Exits 0 without serving: the pod runs, its pause process is simply absent.
    let shim = h.serving_shim();
    let svc = h.service(&shim).await;
    let id = svc
        .run_pod_sandbox(run_request(pod_config("p")))
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    assert_eq!(id.len(), 64);
    let err = svc
        .run_pod_sandbox(run_request(pod_config("p")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    let other = svc
        .run_pod_sandbox(run_request(pod_config("q")))
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    assert_eq!(
        h.mounts_below().len(),
        6,
        "net, ipc and uts pins of two pods"
    );

    let status = svc
        .pod_sandbox_status(Request::new(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id[..8].into(),
            verbose: false,
        }))
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert_eq!(status.id, id);
    assert_eq!(status.state, cri::PodSandboxState::SandboxReady as i32);
    assert!(status.created_at > 0);

    let list = |filter: cri::PodSandboxFilter| {
        let svc = svc.clone();
        async move {
            let request = Request::new(cri::ListPodSandboxRequest {
                filter: Some(filter),
            });
            let items = svc
                .list_pod_sandbox(request)
                .await
                .unwrap()
                .into_inner()
                .items;
            items.into_iter().map(|p| p.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(list(Default::default()).await.len(), 2);
    let by_label = cri::PodSandboxFilter {
        label_selector: [("app".to_string(), "q".to_string())].into(),
        ..Default::default()
    };
    assert_eq!(list(by_label).await, vec![other.clone()]);
    let by_prefix = cri::PodSandboxFilter {
        id: id[..10].into(),
        ..Default::default()
    };
    assert_eq!(list(by_prefix).await, vec![id.clone()]);

    svc.stop_pod_sandbox(Request::new(cri::StopPodSandboxRequest {
        pod_sandbox_id: id.clone(),
    }))
    .await
    .unwrap();
    let not_ready = cri::PodSandboxFilter {
        state: Some(cri::PodSandboxStateValue {
            state: cri::PodSandboxState::SandboxNotready as i32,
        }),
        ..Default::default()
    };
    assert_eq!(list(not_ready).await, vec![id.clone()]);

    for pod in [&id, &id, &other] {
        svc.remove_pod_sandbox(Request::new(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        }))
        .await
        .unwrap();
    }
    assert!(
        h.mounts_below().is_empty(),
        "pins left: {:?}",
        h.mounts_below()
    );
    assert_eq!(h.entries("state/ns"), 0);
    assert_eq!(h.entries("state/shims"), 0);
    assert_eq!(h.entries("root/sandboxes"), 0);
    // The name is free again.
    let again = svc
        .run_pod_sandbox(run_request(pod_config("p")))
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    svc.remove_pod_sandbox(Request::new(cri::RemovePodSandboxRequest {
        pod_sandbox_id: again,
    }))
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn create_with_an_absent_image_is_not_found_and_releases_the_name() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let h = Harness::new();
    let shim = h.serving_shim();
    let svc = h.service(&shim).await;
    let pod = svc
        .run_pod_sandbox(run_request(pod_config("p")))
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    for _ in 0..2 {
        let err = svc
            .create_container(Request::new(cri::CreateContainerRequest {
                pod_sandbox_id: pod.clone(),
                config: Some(container_config("c", "127.0.0.1:1/absent:latest")),
                sandbox_config: None,
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        assert!(err.message().contains("absent"));
    }
    assert_eq!(h.entries("root/containers"), 0);
    svc.remove_pod_sandbox(Request::new(cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod,
    }))
    .await
    .unwrap();
    assert!(h.mounts_below().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn pods_survive_a_restart_and_a_dead_pause_means_not_ready() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let h = Harness::new();
    let shim = h.serving_shim();
    let id = {
        let svc = h.service(&shim).await;
        svc.run_pod_sandbox(run_request(pod_config("p")))
            .await
            .unwrap()
            .into_inner()
            .pod_sandbox_id
    };
    // The pause shim dies while the daemon is down.
    ShimClient::new(&ShimId::new(&id), &h.path().join("state/shims").join(&id))
        .delete(true)
        .await
        .unwrap();
    let svc = h.service(&shim).await;
    let items = svc
        .list_pod_sandbox(Request::new(Default::default()))
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].id, id);
    assert_eq!(items[0].state, cri::PodSandboxState::SandboxNotready as i32);
    let err = svc
        .run_pod_sandbox(run_request(pod_config("p")))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::AlreadyExists,
        "the name is restored with the record"
    );
    svc.remove_pod_sandbox(Request::new(cri::RemovePodSandboxRequest {
        pod_sandbox_id: id,
    }))
    .await
    .unwrap();
    assert!(h.mounts_below().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn start_sweeps_pins_shim_dirs_and_container_dirs_no_record_owns() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let h = Harness::new();
    let shim = h.serving_shim();
    let kept = {
        let svc = h.service(&shim).await;
        svc.run_pod_sandbox(run_request(pod_config("kept")))
            .await
            .unwrap()
            .into_inner()
            .pod_sandbox_id
    };
    // What a crash in the middle of a create leaves: no record, but pins, dirs.
    let orphan = "0".repeat(64);
    let request = cradle_daemon::platform::namespaces::PinRequest {
        net: true,
        ipc: true,
        uts: true,
        hostname: String::new(),
    };
    cradle_daemon::platform::namespaces::pin(&h.path().join("state/ns").join(&orphan), &request)
        .unwrap();
    std::fs::create_dir_all(h.path().join("state/shims").join(&orphan)).unwrap();
    std::fs::create_dir_all(
        h.path()
            .join("root/containers")
            .join(&orphan)
            .join("bundle/rootfs"),
    )
    .unwrap();
    assert_eq!(h.mounts_below().len(), 6);

    let svc = h.service(&shim).await;
    assert_eq!(h.mounts_below().len(), 3, "only the kept pod's pins remain");
    assert!(!h.path().join("state/ns").join(&orphan).exists());
    assert!(!h.path().join("state/shims").join(&orphan).exists());
    assert!(!h.path().join("root/containers").join(&orphan).exists());
    assert!(h.path().join("state/ns").join(&kept).exists());
    svc.remove_pod_sandbox(Request::new(cri::RemovePodSandboxRequest {
        pod_sandbox_id: kept,
    }))
    .await
    .unwrap();
    assert!(h.mounts_below().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shim_that_exits_0_without_serving_is_an_error_and_leaves_nothing() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let h = Harness::new();
    let shim = h.fake_shim("silent-shim", 0, "");
    let svc = h.service(&shim).await;
    let err = svc
        .run_pod_sandbox(run_request(pod_config("p")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert!(
        err.message().contains("does not answer"),
        "{}",
        err.message()
    );
    assert!(h.mounts_below().is_empty());
    assert_eq!(h.entries("state/ns"), 0);
    assert_eq!(h.entries("state/shims"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_pod_kills_the_pause_shim_and_remove_deletes_it() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let h = Harness::new();
    let shim = h.serving_shim();
    let svc = h.service(&shim).await;
    let id = svc
        .run_pod_sandbox(run_request(pod_config("p")))
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    let client = ShimClient::new(&ShimId::new(&id), &h.path().join("state/shims").join(&id));
    assert!(client.is_alive().await);
    svc.stop_pod_sandbox(Request::new(cri::StopPodSandboxRequest {
        pod_sandbox_id: id.clone(),
    }))
    .await
    .unwrap();
    let state = client.state().await.unwrap();
    assert_eq!(
        state.exit.map(|e| e.signal),
        Some(Some(9)),
        "the pause process got SIGKILL"
    );
    svc.remove_pod_sandbox(Request::new(cri::RemovePodSandboxRequest {
        pod_sandbox_id: id,
    }))
    .await
    .unwrap();
    assert!(!client.is_alive().await, "the shim was deleted");
    assert!(h.mounts_below().is_empty());
    assert_eq!(h.entries("state/shims"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_abandoned_by_its_client_still_unwinds_and_frees_the_name() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let h = Harness::new();
    let shim = h.path().join("slow-failing-shim");
    std::fs::write(&shim, "#!/bin/sh\nsleep 1\necho 'too slow' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let svc = h.service(&shim).await;
    // The client gives up while the pause shim is still starting.
    let abandoned = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        svc.run_pod_sandbox(run_request(pod_config("p"))),
    )
    .await;
    assert!(abandoned.is_err(), "the call should still be running");
    // The operation finishes on its own and unwinds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while (h.entries("state/ns") > 0 || !h.mounts_below().is_empty())
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        h.mounts_below().is_empty(),
        "pins left: {:?}",
        h.mounts_below()
    );
    assert_eq!(h.entries("state/shims"), 0);
    // The name is released just after the pins go: retry briefly while the
    // unwinding finishes.
    let mut err = None;
    for _ in 0..50 {
        let e = svc
            .run_pod_sandbox(run_request(pod_config("p")))
            .await
            .unwrap_err();
        if e.code() != Code::AlreadyExists {
            err = Some(e);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let err = err.expect("the name was never released");
    assert!(
        err.message().contains("too slow"),
        "the retry runs again: {err:?}"
    );
}
