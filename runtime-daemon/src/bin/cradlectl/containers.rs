//! Container commands: `create`, `start`, `stop`, `rm`, `ps` (a table),
//! `inspect`, `update` and the non-interactive `exec`.

use crate::connect::Runtime;
use crate::images::image_spec;
use crate::kv::pairs;
use crate::output::{self, Format};
use crate::table::{self, Table};
use cradle_proto::cri;

/// `cradlectl create`: the container's name, image, log and command.
#[derive(Debug, clap::Args)]
pub struct CreateContainer {
    /// The pod to create it in.
    pod: String,
    /// The container's name.
    #[arg(long)]
    name: String,
    /// Its image (reference or id).
    #[arg(long)]
    image: String,
    /// Its log path, relative to the pod's log directory.
    #[arg(long, default_value = "")]
    log_path: String,
    /// The pod's log directory (CRI passes the sandbox config again).
    #[arg(long, default_value = "")]
    log_dir: String,
    /// `KEY=VALUE`, repeatable.
    #[arg(long = "env")]
    envs: Vec<String>,
    /// The command (replaces the image entrypoint).
    #[arg(last = true)]
    command: Vec<String>,
}

/// `create`: prints the container's id.
pub async fn create(rt: &mut Runtime, container: CreateContainer) -> anyhow::Result<()> {
    let envs = pairs(&container.envs)?
        .into_iter()
        .map(|(key, value)| cri::KeyValue {
            key,
            value: value.into_bytes(),
        })
        .collect();
    let config = cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: container.name,
            attempt: 0,
        }),
        image: image_spec(container.image),
        command: container.command,
        envs,
        log_path: container.log_path,
        ..Default::default()
    };
    let sandbox_config = cri::PodSandboxConfig {
        log_directory: container.log_dir,
        ..Default::default()
    };
    let request = cri::CreateContainerRequest {
        pod_sandbox_id: container.pod,
        config: Some(config),
        sandbox_config: Some(sandbox_config),
    };
    output::line(
        &rt.create_container(request)
            .await?
            .into_inner()
            .container_id,
    )
}

/// `start`.
pub async fn start(rt: &mut Runtime, id: String) -> anyhow::Result<()> {
    rt.start_container(cri::StartContainerRequest { container_id: id })
        .await?;
    Ok(())
}

/// `stop`.
pub async fn stop(rt: &mut Runtime, id: String, timeout: i64) -> anyhow::Result<()> {
    rt.stop_container(cri::StopContainerRequest {
        container_id: id,
        timeout,
    })
    .await?;
    Ok(())
}

/// `rm`.
pub async fn remove(rt: &mut Runtime, id: String) -> anyhow::Result<()> {
    rt.remove_container(cri::RemoveContainerRequest { container_id: id })
        .await?;
    Ok(())
}

/// A container state as crictl shows it: `Running`, `Exited`, ...
pub fn state_name(state: i32) -> &'static str {
    match cri::ContainerState::try_from(state) {
        Ok(cri::ContainerState::ContainerCreated) => "Created",
        Ok(cri::ContainerState::ContainerRunning) => "Running",
        Ok(cri::ContainerState::ContainerExited) => "Exited",
        _ => "Unknown",
    }
}

/// The image column: the reference the container was created from; a bare
/// digest or id is shortened.
fn image_name(container: &cri::Container) -> String {
    let image = container
        .image
        .as_ref()
        .map(|spec| spec.image.as_str())
        .filter(|image| !image.is_empty())
        .unwrap_or(&container.image_ref);
    if image.starts_with("sha256:") {
        table::short_id(image)
    } else {
        image.to_string()
    }
}

/// The containers table.
pub fn containers_table(containers: &[cri::Container]) -> Table {
    let mut table = Table::new(&[
        "CONTAINER",
        "IMAGE",
        "CREATED",
        "STATE",
        "NAME",
        "ATTEMPT",
        "POD ID",
    ]);
    for container in containers {
        let metadata = container.metadata.clone().unwrap_or_default();
        table.row(vec![
            table::short_id(&container.id),
            image_name(container),
            table::age(container.created_at),
            state_name(container.state).into(),
            metadata.name,
            metadata.attempt.to_string(),
            table::short_id(&container.pod_sandbox_id),
        ]);
    }
    table
}

/// `ps`: running containers, or all of them with `all`.
pub async fn list(rt: &mut Runtime, all: bool, format: Format) -> anyhow::Result<()> {
    let filter = (!all).then(|| cri::ContainerFilter {
        state: Some(cri::ContainerStateValue {
            state: cri::ContainerState::ContainerRunning as i32,
        }),
        ..Default::default()
    });
    let mut answer = rt
        .list_containers(cri::ListContainersRequest { filter })
        .await?
        .into_inner();
    // Newest first, as crictl.
    answer
        .containers
        .sort_by_key(|c| std::cmp::Reverse(c.created_at));
    match format {
        Format::Table => output::raw(&containers_table(&answer.containers).render()),
        _ => output::document(&answer, format, Format::Json),
    }
}

/// `inspect`: the container status with its verbose info parsed.
pub async fn status(rt: &mut Runtime, id: String, format: Format) -> anyhow::Result<()> {
    let request = cri::ContainerStatusRequest {
        container_id: id,
        verbose: true,
    };
    let answer = rt.container_status(request).await?.into_inner();
    let value = output::with_info(&answer, &answer.info)?;
    output::document(&value, format, Format::Json)
}

/// `update`'s limits.
#[derive(Debug, clap::Args)]
pub struct Update {
    /// The container.
    id: String,
    /// Memory limit in bytes (0: unchanged).
    #[arg(long, default_value_t = 0)]
    memory: i64,
    /// CPU shares (0: unchanged).
    #[arg(long, default_value_t = 0)]
    cpu_shares: i64,
    /// CPU CFS quota (0: unchanged).
    #[arg(long, default_value_t = 0)]
    cpu_quota: i64,
}

/// `update`: the container's memory limit and CPU shares and quota.
pub async fn update(rt: &mut Runtime, update: Update) -> anyhow::Result<()> {
    let request = cri::UpdateContainerResourcesRequest {
        container_id: update.id,
        linux: Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: update.memory,
            cpu_shares: update.cpu_shares,
            cpu_quota: update.cpu_quota,
            ..Default::default()
        }),
        ..Default::default()
    };
    rt.update_container_resources(request).await?;
    Ok(())
}

/// `exec` without a terminal: the command's stdout, stderr and exit code.
pub async fn exec_sync(
    rt: &mut Runtime,
    id: String,
    timeout: i64,
    cmd: Vec<String>,
) -> anyhow::Result<()> {
    let request = cri::ExecSyncRequest {
        container_id: id,
        cmd,
        timeout,
    };
    let out = rt.exec_sync(request).await?.into_inner();
    output::line(&String::from_utf8_lossy(&out.stdout))?;
    output::line(&format!("stderr: {}", String::from_utf8_lossy(&out.stderr)))?;
    output::line(&format!("exit code: {}", out.exit_code))
}
