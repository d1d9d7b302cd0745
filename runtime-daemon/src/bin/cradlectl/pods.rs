//! Pod sandbox commands: `runp`, `pods` (a table), `inspectp`, `stopp`, `rmp`.

use crate::connect::Runtime;
use crate::kv::pairs;
use crate::output::{self, Format};
use crate::table::{self, Table};
use cradle_proto::cri;

/// `cradlectl runp`: the pod's metadata and the few settings a test pod needs.
#[derive(Debug, clap::Args)]
pub struct RunPod {
    /// The pod's name.
    #[arg(long)]
    name: String,
    /// Its namespace.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Its uid (default `<name>-uid`).
    #[arg(long, default_value = "")]
    uid: String,
    /// Its attempt.
    #[arg(long, default_value_t = 0)]
    attempt: u32,
    /// Its hostname.
    #[arg(long, default_value = "")]
    hostname: String,
    /// Its log directory.
    #[arg(long, default_value = "")]
    log_dir: String,
    /// Its cgroup parent.
    #[arg(long, default_value = "")]
    cgroup_parent: String,
    /// Use the node's network namespace.
    #[arg(long)]
    host_network: bool,
    /// The runtime handler.
    #[arg(long, default_value = "")]
    runtime_handler: String,
    /// `key=value`, repeatable.
    #[arg(long = "label")]
    labels: Vec<String>,
}

/// `runp`: prints the pod's id.
pub async fn run(rt: &mut Runtime, pod: RunPod) -> anyhow::Result<()> {
    let uid = if pod.uid.is_empty() {
        format!("{}-uid", pod.name)
    } else {
        pod.uid
    };
    let network = if pod.host_network {
        cri::NamespaceMode::Node
    } else {
        cri::NamespaceMode::Pod
    };
    let config = cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: pod.name,
            uid,
            namespace: pod.namespace,
            attempt: pod.attempt,
        }),
        hostname: pod.hostname,
        log_directory: pod.log_dir,
        labels: pairs(&pod.labels)?,
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: pod.cgroup_parent,
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: network as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let request = cri::RunPodSandboxRequest {
        config: Some(config),
        runtime_handler: pod.runtime_handler,
    };
    output::line(
        &rt.run_pod_sandbox(request)
            .await?
            .into_inner()
            .pod_sandbox_id,
    )
}

/// A pod state as crictl shows it: `Ready` / `NotReady`.
pub fn state_name(state: i32) -> &'static str {
    match cri::PodSandboxState::try_from(state) {
        Ok(cri::PodSandboxState::SandboxReady) => "Ready",
        Ok(cri::PodSandboxState::SandboxNotready) => "NotReady",
        Err(_) => "Unknown",
    }
}

/// The pods table.
pub fn pods_table(pods: &[cri::PodSandbox]) -> Table {
    let mut table = Table::new(&[
        "POD ID",
        "CREATED",
        "STATE",
        "NAME",
        "NAMESPACE",
        "ATTEMPT",
        "RUNTIME",
    ]);
    for pod in pods {
        let metadata = pod.metadata.clone().unwrap_or_default();
        let runtime = if pod.runtime_handler.is_empty() {
            "(default)".to_string()
        } else {
            pod.runtime_handler.clone()
        };
        table.row(vec![
            table::short_id(&pod.id),
            table::age(pod.created_at),
            state_name(pod.state).into(),
            metadata.name,
            metadata.namespace,
            metadata.attempt.to_string(),
            runtime,
        ]);
    }
    table
}

/// `pods`.
pub async fn list(rt: &mut Runtime, format: Format) -> anyhow::Result<()> {
    let answer = rt
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await?
        .into_inner();
    match format {
        Format::Table => output::raw(&pods_table(&answer.items).render()),
        _ => output::document(&answer, format, Format::Json),
    }
}

/// `inspectp`: the pod status with its verbose info parsed.
pub async fn status(rt: &mut Runtime, id: String, format: Format) -> anyhow::Result<()> {
    let request = cri::PodSandboxStatusRequest {
        pod_sandbox_id: id,
        verbose: true,
    };
    let answer = rt.pod_sandbox_status(request).await?.into_inner();
    let value = output::with_info(&answer, &answer.info)?;
    output::document(&value, format, Format::Json)
}

/// `stopp`.
pub async fn stop(rt: &mut Runtime, id: String) -> anyhow::Result<()> {
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: id })
        .await?;
    Ok(())
}

/// `rmp`.
pub async fn remove(rt: &mut Runtime, id: String) -> anyhow::Result<()> {
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id })
        .await?;
    Ok(())
}
