//! The CRI service driven directly (no socket), with stand-in shims: validation,
//! status codes, name reservations, idempotence and restart, without needing a
//! registry or an OCI runtime. Pod tests need root (they pin namespaces) and are
//! skipped otherwise.

use cradle_daemon::config::Config;
use cradle_daemon::cri::CriService;
use cradle_daemon::runtime::Runtime;
use cradle_daemon::shim_client::ShimClient;
use cradle_proto::cri;
use cradle_proto::cri::image_service_server::ImageService;
use cradle_proto::cri::runtime_service_server::RuntimeService;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tonic::{Code, Request};

/// A daemon root in a temp dir; unmounts anything left below it on drop, so a
/// failing test leaves no namespace pin behind.
struct Harness {
    dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        Harness {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A shim stand-in: a script that exits with `code` after printing `stderr`.
    fn fake_shim(&self, name: &str, code: i32, stderr: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho '{stderr}' >&2\nexit {code}\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A stand-in that serves the shim protocol (tests/fake_shim.py).
    fn serving_shim(&self) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fake_shim.py")
    }

    fn config(&self, shim: &Path) -> Config {
        Config {
            socket: self.path().join("cradle.sock"),
            root: self.path().join("root"),
            state_dir: self.path().join("state"),
            cni_conf_dir: self.path().join("cni"),
            shim_path: Some(shim.to_path_buf()),
            oci_runtime_path: Some(PathBuf::from("/bin/false")),
            default_cgroup_parent: "/cradle-unit-test".into(),
            ..Config::default()
        }
    }

    async fn service(&self, shim: &Path) -> CriService {
        CriService::new(Runtime::start(self.config(shim)).await.unwrap())
    }

    fn mounts_below(&self) -> Vec<String> {
        let root = self.path().to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&root))
            .collect()
    }

    fn entries(&self, sub: &str) -> usize {
        std::fs::read_dir(self.path().join(sub))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Stand-in shims still running (a failed test): their argv names our dir.
        let root = self.path().to_string_lossy().into_owned();
        for proc_dir in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = proc_dir.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = std::fs::read(proc_dir.path().join("cmdline")).unwrap_or_default();
            if pid != std::process::id() as i32 && String::from_utf8_lossy(&cmdline).contains(&root)
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        for mount in self.mounts_below().into_iter().rev() {
            let _ = nix::mount::umount2(mount.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn pod_config(name: &str) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: format!("{name}-uid"),
            namespace: "test".into(),
            attempt: 0,
        }),
        hostname: name.into(),
        labels: [("app".to_string(), name.to_string())].into(),
        ..Default::default()
    }
}

fn run_request(config: cri::PodSandboxConfig) -> Request<cri::RunPodSandboxRequest> {
    Request::new(cri::RunPodSandboxRequest {
        config: Some(config),
        runtime_handler: String::new(),
    })
}

fn container_config(name: &str, image: &str) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        command: vec!["true".into()],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn version_status_and_runtime_config_answer() {
    let h = Harness::new();
    let svc = h.service(Path::new("/bin/false")).await;
    let version = svc
        .version(Request::new(Default::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.runtime_name, "cradle");
    assert_eq!(version.runtime_api_version, "v1");
    assert_eq!(version.version, "0.1.0");

    let status = svc
        .status(Request::new(cri::StatusRequest { verbose: true }))
        .await
        .unwrap()
        .into_inner();
    let conditions = status.status.unwrap().conditions;
    let network = conditions
        .iter()
        .find(|c| c.r#type == "NetworkReady")
        .unwrap();
    assert!(!network.status);
    assert_eq!(network.reason, "NetworkPluginNotReady");
    assert_eq!(
        network.message,
        "Network plugin returns error: cni plugin not initialized"
    );
    assert!(
        conditions
            .iter()
            .any(|c| c.r#type == "RuntimeReady" && c.status)
    );
    assert!(status.info.contains_key("config"));
    assert!(status.runtime_handlers.iter().any(|h| h.name.is_empty()));

    std::fs::create_dir_all(h.path().join("cni")).unwrap();
    std::fs::write(
        h.path().join("cni/10-test.conflist"),
        r#"{"cniVersion":"1.0.0","name":"t","plugins":[{"type":"bridge"}]}"#,
    )
    .unwrap();
    let status = svc
        .status(Request::new(Default::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(status.status.unwrap().conditions.iter().all(|c| c.status));

    let config = svc
        .runtime_config(Request::new(Default::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        config.linux.unwrap().cgroup_driver,
        cri::CgroupDriver::Cgroupfs as i32
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_ids_are_not_found_for_status_and_start_but_ok_for_stop_and_remove() {
    let h = Harness::new();
    let svc = h.service(Path::new("/bin/false")).await;
    let id = "f".repeat(64);
    let err = svc
        .pod_sandbox_status(Request::new(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.clone(),
            verbose: false,
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = svc
        .container_status(Request::new(cri::ContainerStatusRequest {
            container_id: id.clone(),
            verbose: false,
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = svc
        .start_container(Request::new(cri::StartContainerRequest {
            container_id: id.clone(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    svc.stop_container(Request::new(cri::StopContainerRequest {
        container_id: id.clone(),
        timeout: 1,
    }))
    .await
    .unwrap();
    svc.remove_container(Request::new(cri::RemoveContainerRequest {
        container_id: id.clone(),
    }))
    .await
    .unwrap();
    svc.stop_pod_sandbox(Request::new(cri::StopPodSandboxRequest {
        pod_sandbox_id: id.clone(),
    }))
    .await
    .unwrap();
    svc.remove_pod_sandbox(Request::new(cri::RemovePodSandboxRequest {
        pod_sandbox_id: id.clone(),
    }))
    .await
    .unwrap();
    let err = svc
        .create_container(Request::new(cri::CreateContainerRequest {
            pod_sandbox_id: id,
            config: Some(container_config("c", "busybox")),
            sandbox_config: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_fields_and_unknown_handlers_are_invalid_arguments() {
    let h = Harness::new();
    let svc = h.service(Path::new("/bin/false")).await;
    let no_config = cri::RunPodSandboxRequest::default();
    assert_eq!(
        svc.run_pod_sandbox(Request::new(no_config))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    let no_metadata = cri::PodSandboxConfig::default();
    let err = svc
        .run_pod_sandbox(run_request(no_metadata))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("metadata"), "{}", err.message());
    let err = svc
        .run_pod_sandbox(Request::new(cri::RunPodSandboxRequest {
            config: Some(pod_config("p")),
            runtime_handler: "kata".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("runtime_handler"),
        "{}",
        err.message()
    );

    let create = |pod: &str, config: Option<cri::ContainerConfig>| {
        Request::new(cri::CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config,
            sandbox_config: None,
        })
    };
    let err = svc
        .create_container(create("", Some(container_config("c", "busybox"))))
        .await
        .unwrap_err();
    assert!(err.message().contains("pod_sandbox_id"));
    let err = svc.create_container(create("abc", None)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = svc
        .create_container(create("abc", Some(container_config("c", ""))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("image"));
    let err = svc
        .container_status(Request::new(cri::ContainerStatusRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = svc
        .image_status(Request::new(cri::ImageStatusRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread")]
async fn absent_images_are_ok_for_status_and_remove() {
    let h = Harness::new();
    let svc = h.service(Path::new("/bin/false")).await;
    let spec = Some(cri::ImageSpec {
        image: "127.0.0.1:1/absent:latest".into(),
        ..Default::default()
    });
    let status = svc
        .image_status(Request::new(cri::ImageStatusRequest {
            image: spec.clone(),
            verbose: false,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(status.image.is_none());
    svc.remove_image(Request::new(cri::RemoveImageRequest { image: spec }))
        .await
        .unwrap();
    let list = svc
        .list_images(Request::new(Default::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(list.images.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn unbuilt_rpcs_answer_unimplemented_by_name() {
    let h = Harness::new();
    let svc = h.service(Path::new("/bin/false")).await;
    let err = svc
        .port_forward(Request::new(Default::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert!(err.message().contains("PortForward"));
    let err = svc
        .checkpoint_container(Request::new(Default::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_sync_validates_and_needs_a_known_container() {
    let h = Harness::new();
    let svc = h.service(Path::new("/bin/false")).await;
    let request = |id: &str, cmd: &[&str]| {
        Request::new(cri::ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|c| c.to_string()).collect(),
            timeout: 1,
        })
    };
    let err = svc.exec_sync(request("", &["true"])).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = svc.exec_sync(request("abc", &[])).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = svc.exec_sync(request("abc", &["true"])).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_run_releases_the_name_and_leaves_nothing_behind() {
    if !is_root() {
        eprintln!("skipping: needs root");
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
        eprintln!("skipping: needs root");
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
        eprintln!("skipping: needs root");
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
        eprintln!("skipping: needs root");
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
    ShimClient::new(&id, &h.path().join("state/shims").join(&id))
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
        eprintln!("skipping: needs root");
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
    let request = cradle_daemon::pods::namespaces::PinRequest {
        net: true,
        ipc: true,
        uts: true,
        hostname: String::new(),
    };
    cradle_daemon::pods::namespaces::pin(&h.path().join("state/ns").join(&orphan), &request)
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
        eprintln!("skipping: needs root");
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
        eprintln!("skipping: needs root");
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
    let client = ShimClient::new(&id, &h.path().join("state/shims").join(&id));
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
        eprintln!("skipping: needs root");
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
    let err = svc
        .run_pod_sandbox(run_request(pod_config("p")))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("too slow"),
        "the retry runs again: {err:?}"
    );
}
