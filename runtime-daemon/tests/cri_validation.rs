//! The CRI service driven directly (no socket, no shim): status answers,
//! validation and the gRPC codes the kubelet branches on.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use common::{Harness, container_config, pod_config, run_request};
use cradle_proto::cri;
use cradle_proto::cri::image_service_server::ImageService;
use cradle_proto::cri::runtime_service_server::RuntimeService;
use std::path::Path;
use tonic::{Code, Request};

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
        .checkpoint_container(Request::new(Default::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert!(err.message().contains("CheckpointContainer"));
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_rpcs_describe_what_they_return() {
    let h = Harness::new();
    let svc = h.service(Path::new("/bin/false")).await;
    let descriptors = svc
        .list_metric_descriptors(Request::new(Default::default()))
        .await
        .unwrap()
        .into_inner()
        .descriptors;
    assert!(
        descriptors
            .iter()
            .any(|d| d.name == "container_memory_working_set_bytes")
    );
    // No pods: no metrics, and no error.
    let metrics = svc
        .list_pod_sandbox_metrics(Request::new(Default::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(metrics.pod_metrics.is_empty());
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
