//! One recorded request sent to Cradle over the CRI, and the facts of its
//! answer in the shape `hack/kubelet-replay/convert.py` records them.

use anyhow::bail;
use cradle_proto::cri;
use serde_json::{Value, json};
use tonic::Code;

use super::protojson::decode;
use crate::client::Cri;

/// Cradle's answer: its gRPC code, message and the facts that matter.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The gRPC status code (`Ok` on success).
    pub code: Code,
    /// The status message; empty on success.
    pub message: String,
    /// The response values the replay compares, shaped as the fixture's.
    pub facts: Value,
}

impl Answer {
    fn ok(facts: Value) -> Self {
        Answer {
            code: Code::Ok,
            message: String::new(),
            facts,
        }
    }
    fn err(status: tonic::Status) -> Self {
        Answer {
            code: status.code(),
            message: status.message().to_string(),
            facts: Value::Null,
        }
    }
}

/// RPCs Cradle does not implement yet, sent by name with an empty body (a
/// runtime that does not implement the method answers Unimplemented before
/// reading it).
const NEWER_RUNTIME_RPCS: &[&str] = &["UpdatePodSandboxResources"];

/// Sends `/runtime.v1.RuntimeService/<method>` with an empty message.
async fn send_by_name(cri: &Cri, method: &str) -> anyhow::Result<Answer> {
    let mut grpc = tonic::client::Grpc::new(cri.channel.clone());
    grpc.ready().await?;
    let path: tonic::codegen::http::uri::PathAndQuery =
        format!("/runtime.v1.RuntimeService/{method}").parse()?;
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    Ok(
        match grpc.unary(tonic::Request::new(()), path, codec).await {
            Ok(_) => Answer::ok(json!({})),
            Err(status) => Answer::err(status),
        },
    )
}

fn container_state(state: i32) -> &'static str {
    cri::ContainerState::try_from(state).map_or("?", |s| s.as_str_name())
}

fn sandbox_state(state: i32) -> &'static str {
    cri::PodSandboxState::try_from(state).map_or("?", |s| s.as_str_name())
}

/// Decodes `$request` as `$ty`, calls `$client.$rpc` and turns the response
/// into facts with `$facts`.
macro_rules! unary {
    ($client:expr, $rpc:ident, $ty:ty, $request:expr) => {
        unary!($client, $rpc, $ty, $request, |_r| json!({}))
    };
    ($client:expr, $rpc:ident, $ty:ty, $request:expr, |$r:ident| $facts:expr) => {{
        let req: $ty = decode($request)?;
        match $client.$rpc(req).await {
            Ok(resp) => {
                let $r = resp.into_inner();
                let facts: Value = $facts;
                Answer::ok(facts)
            }
            Err(status) => Answer::err(status),
        }
    }};
}

/// Sends `request` (protojson, already rewritten for this node) as `method`.
pub async fn send(cri: &mut Cri, method: &str, request: &Value) -> anyhow::Result<Answer> {
    if NEWER_RUNTIME_RPCS.contains(&method) {
        return send_by_name(cri, method).await;
    }
    let (rt, img) = (&mut cri.runtime, &mut cri.image);
    Ok(match method {
        "Version" => unary!(rt, version, cri::VersionRequest, request),
        "Status" => unary!(rt, status, cri::StatusRequest, request, |r| {
            let conditions = r.status.map(|s| s.conditions).unwrap_or_default();
            let map: serde_json::Map<String, Value> = conditions
                .into_iter()
                .map(|c| (c.r#type, Value::Bool(c.status)))
                .collect();
            json!({ "conditions": map })
        }),
        "RuntimeConfig" => unary!(rt, runtime_config, cri::RuntimeConfigRequest, request),
        "UpdateRuntimeConfig" => unary!(
            rt,
            update_runtime_config,
            cri::UpdateRuntimeConfigRequest,
            request
        ),
        "ImageFsInfo" => unary!(img, image_fs_info, cri::ImageFsInfoRequest, request),
        "ListImages" => unary!(img, list_images, cri::ListImagesRequest, request),
        "ImageStatus" => unary!(img, image_status, cri::ImageStatusRequest, request, |r| {
            match r.image {
                Some(i) => {
                    json!({"present": true, "id": i.id, "repo_tags": i.repo_tags, "repo_digests": i.repo_digests})
                }
                None => json!({"present": false}),
            }
        }),
        "PullImage" => unary!(
            img,
            pull_image,
            cri::PullImageRequest,
            request,
            |r| json!({"image_ref": r.image_ref})
        ),
        "RemoveImage" => unary!(img, remove_image, cri::RemoveImageRequest, request),
        "RunPodSandbox" => unary!(
            rt,
            run_pod_sandbox,
            cri::RunPodSandboxRequest,
            request,
            |r| { json!({"pod_sandbox_id": r.pod_sandbox_id}) }
        ),
        "StopPodSandbox" => unary!(rt, stop_pod_sandbox, cri::StopPodSandboxRequest, request),
        "RemovePodSandbox" => unary!(
            rt,
            remove_pod_sandbox,
            cri::RemovePodSandboxRequest,
            request
        ),
        "PodSandboxStatus" => unary!(
            rt,
            pod_sandbox_status,
            cri::PodSandboxStatusRequest,
            request,
            |r| {
                let s = r.status.unwrap_or_default();
                json!({"id": s.id, "state": sandbox_state(s.state)})
            }
        ),
        "ListPodSandbox" => unary!(rt, list_pod_sandbox, cri::ListPodSandboxRequest, request),
        "CreateContainer" => unary!(
            rt,
            create_container,
            cri::CreateContainerRequest,
            request,
            |r| { json!({"container_id": r.container_id}) }
        ),
        "StartContainer" => unary!(rt, start_container, cri::StartContainerRequest, request),
        "StopContainer" => unary!(rt, stop_container, cri::StopContainerRequest, request),
        "RemoveContainer" => unary!(rt, remove_container, cri::RemoveContainerRequest, request),
        "ListContainers" => unary!(rt, list_containers, cri::ListContainersRequest, request),
        "ContainerStatus" => unary!(
            rt,
            container_status,
            cri::ContainerStatusRequest,
            request,
            |r| {
                let s = r.status.unwrap_or_default();
                json!({"id": s.id, "state": container_state(s.state), "exit_code": s.exit_code, "reason": s.reason})
            }
        ),
        "UpdateContainerResources" => unary!(
            rt,
            update_container_resources,
            cri::UpdateContainerResourcesRequest,
            request
        ),
        "ReopenContainerLog" => unary!(
            rt,
            reopen_container_log,
            cri::ReopenContainerLogRequest,
            request
        ),
        "ExecSync" => unary!(
            rt,
            exec_sync,
            cri::ExecSyncRequest,
            request,
            |r| json!({"exit_code": r.exit_code, "stderr": String::from_utf8_lossy(&r.stderr)})
        ),
        "Exec" => unary!(
            rt,
            exec,
            cri::ExecRequest,
            request,
            |r| json!({"url": !r.url.is_empty()})
        ),
        "Attach" => unary!(
            rt,
            attach,
            cri::AttachRequest,
            request,
            |r| json!({"url": !r.url.is_empty()})
        ),
        "PortForward" => unary!(
            rt,
            port_forward,
            cri::PortForwardRequest,
            request,
            |r| json!({"url": !r.url.is_empty()})
        ),
        "ContainerStats" => unary!(rt, container_stats, cri::ContainerStatsRequest, request),
        "ListContainerStats" => unary!(
            rt,
            list_container_stats,
            cri::ListContainerStatsRequest,
            request
        ),
        "PodSandboxStats" => unary!(rt, pod_sandbox_stats, cri::PodSandboxStatsRequest, request),
        "ListPodSandboxStats" => unary!(
            rt,
            list_pod_sandbox_stats,
            cri::ListPodSandboxStatsRequest,
            request
        ),
        other => bail!("the replay does not know how to send {other}"),
    })
}
