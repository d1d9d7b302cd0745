//! `cradlectl`: a small CRI client for poking at a running `cradled` (or any
//! CRI runtime) without crictl. Answers print as JSON. `images import`,
//! `images export` and the progress line of `pull` go through cradled's admin
//! socket (root only), since the image store is not reachable over the CRI.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use cradle_daemon::admin;
use cradle_proto::cri;
use cradle_proto::cri::image_service_client::ImageServiceClient;
use cradle_proto::cri::runtime_service_client::RuntimeServiceClient;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tonic::transport::{Channel, Endpoint};

/// A CRI client for cradled.
#[derive(Debug, Parser)]
#[command(name = "cradlectl", version, about)]
struct Args {
    /// CRI socket path.
    #[arg(long, default_value = "/run/cradle/cradle.sock")]
    socket: PathBuf,
    /// cradled's admin socket (`<state-dir>/admin.sock`), for image import,
    /// export and pull progress.
    #[arg(long, default_value = "/run/cradle/admin.sock")]
    admin_socket: PathBuf,
    #[command(subcommand)]
    command: Command,
}

/// `cradlectl images <action>`; no action lists the images.
#[derive(Debug, Subcommand)]
enum ImagesCommand {
    /// Import the images of an OCI layout directory or an OCI layout /
    /// docker-archive tarball (plain, gzip or zstd); prints them.
    Import { file: PathBuf },
    /// Export an image (reference or id) as an OCI layout tarball.
    Export { image: String, file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runtime name and versions.
    Version,
    /// Runtime conditions (verbose).
    Info,
    /// Pull an image; prints its id. Shows download progress on stderr when
    /// it is a terminal.
    Pull { image: String },
    /// List images, or import / export image archives.
    Images {
        #[command(subcommand)]
        action: Option<ImagesCommand>,
    },
    /// Image status.
    Inspecti { image: String },
    /// Remove an image.
    Rmi { image: String },
    /// Run a pod sandbox; prints its id.
    Runp(RunPod),
    /// List pod sandboxes.
    Pods,
    /// Pod sandbox status.
    Inspectp { id: String },
    /// Stop a pod sandbox.
    Stopp { id: String },
    /// Remove a pod sandbox.
    Rmp { id: String },
    /// Create a container in a pod; prints its id. The pod's config is read back
    /// from the runtime (its status), so only the pod id is needed.
    Create(CreateContainer),
    /// Start a container.
    Start { id: String },
    /// Stop a container.
    Stop {
        id: String,
        #[arg(long, short, default_value_t = 10)]
        timeout: i64,
    },
    /// Remove a container.
    Rm { id: String },
    /// List containers.
    Ps,
    /// Container status.
    Inspect { id: String },
    /// Resource usage of running containers.
    Stats,
    /// Change a container's CPU and memory limits.
    Update {
        id: String,
        #[arg(long, default_value_t = 0)]
        memory: i64,
        #[arg(long, default_value_t = 0)]
        cpu_shares: i64,
        #[arg(long, default_value_t = 0)]
        cpu_quota: i64,
    },
    /// Follow container lifecycle events (one JSON line each) until interrupted.
    Events,
    /// Run a command in a container and print its output.
    Exec {
        id: String,
        #[arg(long, default_value_t = 0)]
        timeout: i64,
        #[arg(last = true)]
        cmd: Vec<String>,
    },
}

/// `cradlectl runp`: the pod's metadata and the few settings a test pod needs.
#[derive(Debug, clap::Args)]
struct RunPod {
    #[arg(long)]
    name: String,
    #[arg(long, default_value = "default")]
    namespace: String,
    #[arg(long, default_value = "")]
    uid: String,
    #[arg(long, default_value_t = 0)]
    attempt: u32,
    #[arg(long, default_value = "")]
    hostname: String,
    #[arg(long, default_value = "")]
    log_dir: String,
    #[arg(long, default_value = "")]
    cgroup_parent: String,
    /// Use the node's network namespace.
    #[arg(long)]
    host_network: bool,
    #[arg(long, default_value = "")]
    runtime_handler: String,
    /// `key=value`, repeatable.
    #[arg(long = "label")]
    labels: Vec<String>,
}

/// `cradlectl create`: the container's name, image, log and command.
#[derive(Debug, clap::Args)]
struct CreateContainer {
    pod: String,
    #[arg(long)]
    name: String,
    #[arg(long)]
    image: String,
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

async fn connect(socket: PathBuf) -> anyhow::Result<Channel> {
    // The URI is a placeholder: the connector ignores it and dials the socket.
    Endpoint::try_from("http://[::1]:50051")?
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    cradle_daemon::platform::sockets::connect(&socket).await?,
                ))
            }
        }))
        .await
        .context("connecting to the CRI socket")
}

fn print<T: Serialize>(value: &T) -> anyhow::Result<()> {
    line(&serde_json::to_string_pretty(value)?)
}

/// Writes one line to stdout; a closed pipe (`| head`) is an error, not a panic.
fn line(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    writeln!(std::io::stdout().lock(), "{text}").context("writing to stdout")
}

fn pairs(items: &[String]) -> anyhow::Result<HashMap<String, String>> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("{item:?} is not key=value"))
        })
        .collect()
}

fn image_spec(image: String) -> Option<cri::ImageSpec> {
    Some(cri::ImageSpec {
        image,
        ..Default::default()
    })
}

/// Sends one request to the admin socket and returns the answer; an error
/// answer becomes an error.
async fn ask_admin(socket: &Path, request: &admin::Request) -> anyhow::Result<admin::Response> {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let stream = cradle_daemon::platform::sockets::connect(socket)
        .await
        .with_context(|| format!("connecting to the admin socket {}", socket.display()))?;
    let (read, mut write) = stream.into_split();
    write.write_all(&admin::encode(request)?).await?;
    let line = tokio::io::BufReader::new(read)
        .lines()
        .next_line()
        .await?
        .with_context(|| format!("{} closed without answering", socket.display()))?;
    match admin::decode(&line)? {
        admin::Response::Error { message } => anyhow::bail!("{message}"),
        response => Ok(response),
    }
}

/// `path` made absolute against our working directory (the daemon's differs).
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

async fn images_action(admin_socket: &Path, action: ImagesCommand) -> anyhow::Result<()> {
    match action {
        ImagesCommand::Import { file } => {
            let path = absolute(&file)?;
            anyhow::ensure!(
                path.exists(),
                "{}: no such file or directory",
                path.display()
            );
            match ask_admin(admin_socket, &admin::Request::Import { path }).await? {
                admin::Response::Imported { images } => print(&images),
                other => anyhow::bail!("unexpected answer {other:?}"),
            }
        }
        ImagesCommand::Export { image, file } => {
            let path = absolute(&file)?;
            match ask_admin(admin_socket, &admin::Request::Export { image, path }).await? {
                admin::Response::Exported { path } => line(&path.display().to_string()),
                other => anyhow::bail!("unexpected answer {other:?}"),
            }
        }
    }
}

/// One progress line for the running downloads: layers, bytes, percent.
fn progress_line(downloads: &[admin::Download]) -> String {
    let received: u64 = downloads.iter().map(|d| d.received).sum();
    let size: u64 = downloads.iter().map(|d| d.size).sum();
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let percent = (received * 100).checked_div(size).unwrap_or(0);
    format!(
        "downloading {} layer(s): {:.1} / {:.1} MiB ({percent}%)",
        downloads.len(),
        mib(received),
        mib(size)
    )
}

/// Runs the pull; when stderr is a terminal, redraws a progress line from
/// the admin socket every 200 ms meanwhile (silently none if it is out of
/// reach, e.g. not root).
async fn pull(
    img: &mut ImageServiceClient<Channel>,
    request: cri::PullImageRequest,
    admin_socket: &Path,
) -> anyhow::Result<String> {
    use std::io::{IsTerminal as _, Write as _};
    let terminal = std::io::stderr().is_terminal();
    let pull = img.pull_image(request);
    tokio::pin!(pull);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    let mut drawn = false;
    let result = loop {
        tokio::select! {
            result = &mut pull => break result,
            _ = tick.tick(), if terminal => {
                let asked = tokio::time::timeout(
                    std::time::Duration::from_secs(1),
                    ask_admin(admin_socket, &admin::Request::Downloads),
                )
                .await;
                if let Ok(Ok(admin::Response::Downloads { downloads })) = asked
                    && !downloads.is_empty()
                {
                    let _ = write!(std::io::stderr(), "\r\x1b[K{}", progress_line(&downloads));
                    drawn = true;
                }
            }
        }
    };
    if drawn {
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
    Ok(result?.into_inner().image_ref)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Command::Images {
        action: Some(action),
    } = args.command
    {
        return images_action(&args.admin_socket, action).await;
    }
    let channel = connect(args.socket).await?;
    let mut rt = RuntimeServiceClient::new(channel.clone());
    let mut img = ImageServiceClient::new(channel);
    match args.command {
        Command::Version => print(
            &rt.version(cri::VersionRequest::default())
                .await?
                .into_inner(),
        ),
        Command::Info => print(
            &rt.status(cri::StatusRequest { verbose: true })
                .await?
                .into_inner(),
        ),
        Command::Pull { image } => pull_image(&mut img, image, &args.admin_socket).await,
        Command::Images { .. } => list_images(&mut img).await,
        Command::Inspecti { image } => image_status(&mut img, image).await,
        Command::Rmi { image } => remove_image(&mut img, image).await,
        Command::Runp(pod) => run_pod(&mut rt, pod).await,
        Command::Pods => list_pods(&mut rt).await,
        Command::Inspectp { id } => pod_status(&mut rt, id).await,
        Command::Stopp { id } => stop_pod(&mut rt, id).await,
        Command::Rmp { id } => remove_pod(&mut rt, id).await,
        Command::Create(container) => create_container(&mut rt, container).await,
        Command::Start { id } => start_container(&mut rt, id).await,
        Command::Stop { id, timeout } => stop_container(&mut rt, id, timeout).await,
        Command::Rm { id } => remove_container(&mut rt, id).await,
        Command::Ps => list_containers(&mut rt).await,
        Command::Stats => container_stats(&mut rt).await,
        Command::Update {
            id,
            memory,
            cpu_shares,
            cpu_quota,
        } => update_container(&mut rt, id, memory, cpu_shares, cpu_quota).await,
        Command::Events => follow_events(&mut rt).await,
        Command::Exec { id, timeout, cmd } => exec_sync(&mut rt, id, timeout, cmd).await,
        Command::Inspect { id } => container_status(&mut rt, id).await,
    }
}

/// The CRI runtime service over the socket.
type Runtime = RuntimeServiceClient<Channel>;
/// The CRI image service over the socket.
type Images = ImageServiceClient<Channel>;

/// `pull`: prints the image's id.
async fn pull_image(img: &mut Images, image: String, admin_socket: &Path) -> anyhow::Result<()> {
    let request = cri::PullImageRequest {
        image: image_spec(image),
        ..Default::default()
    };
    line(&pull(img, request, admin_socket).await?)
}

/// `images` without an action.
async fn list_images(img: &mut Images) -> anyhow::Result<()> {
    print(
        &img.list_images(cri::ListImagesRequest::default())
            .await?
            .into_inner(),
    )
}

/// `inspecti`.
async fn image_status(img: &mut Images, image: String) -> anyhow::Result<()> {
    let request = cri::ImageStatusRequest {
        image: image_spec(image),
        verbose: false,
    };
    print(&img.image_status(request).await?.into_inner())
}

/// `rmi`.
async fn remove_image(img: &mut Images, image: String) -> anyhow::Result<()> {
    img.remove_image(cri::RemoveImageRequest {
        image: image_spec(image),
    })
    .await?;
    Ok(())
}

/// `runp`: prints the pod's id.
async fn run_pod(rt: &mut Runtime, pod: RunPod) -> anyhow::Result<()> {
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
    line(
        &rt.run_pod_sandbox(request)
            .await?
            .into_inner()
            .pod_sandbox_id,
    )
}

/// `pods`.
async fn list_pods(rt: &mut Runtime) -> anyhow::Result<()> {
    print(
        &rt.list_pod_sandbox(cri::ListPodSandboxRequest::default())
            .await?
            .into_inner(),
    )
}

/// `inspectp`.
async fn pod_status(rt: &mut Runtime, id: String) -> anyhow::Result<()> {
    let request = cri::PodSandboxStatusRequest {
        pod_sandbox_id: id,
        verbose: false,
    };
    print(&rt.pod_sandbox_status(request).await?.into_inner())
}

/// `stopp`.
async fn stop_pod(rt: &mut Runtime, id: String) -> anyhow::Result<()> {
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: id })
        .await?;
    Ok(())
}

/// `rmp`.
async fn remove_pod(rt: &mut Runtime, id: String) -> anyhow::Result<()> {
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id })
        .await?;
    Ok(())
}

/// `create`: prints the container's id.
async fn create_container(rt: &mut Runtime, container: CreateContainer) -> anyhow::Result<()> {
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
    line(
        &rt.create_container(request)
            .await?
            .into_inner()
            .container_id,
    )
}

/// `start`.
async fn start_container(rt: &mut Runtime, id: String) -> anyhow::Result<()> {
    rt.start_container(cri::StartContainerRequest { container_id: id })
        .await?;
    Ok(())
}

/// `stop`.
async fn stop_container(rt: &mut Runtime, id: String, timeout: i64) -> anyhow::Result<()> {
    rt.stop_container(cri::StopContainerRequest {
        container_id: id,
        timeout,
    })
    .await?;
    Ok(())
}

/// `rm`.
async fn remove_container(rt: &mut Runtime, id: String) -> anyhow::Result<()> {
    rt.remove_container(cri::RemoveContainerRequest { container_id: id })
        .await?;
    Ok(())
}

/// `ps`.
async fn list_containers(rt: &mut Runtime) -> anyhow::Result<()> {
    print(
        &rt.list_containers(cri::ListContainersRequest::default())
            .await?
            .into_inner(),
    )
}

/// `stats`.
async fn container_stats(rt: &mut Runtime) -> anyhow::Result<()> {
    print(
        &rt.list_container_stats(cri::ListContainerStatsRequest::default())
            .await?
            .into_inner(),
    )
}

/// `update`: the container's memory limit and CPU shares and quota.
async fn update_container(
    rt: &mut Runtime,
    id: String,
    memory: i64,
    cpu_shares: i64,
    cpu_quota: i64,
) -> anyhow::Result<()> {
    let request = cri::UpdateContainerResourcesRequest {
        container_id: id,
        linux: Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: memory,
            cpu_shares,
            cpu_quota,
            ..Default::default()
        }),
        ..Default::default()
    };
    rt.update_container_resources(request).await?;
    Ok(())
}

/// `events`: one JSON line per event, until interrupted.
async fn follow_events(rt: &mut Runtime) -> anyhow::Result<()> {
    let mut stream = rt
        .get_container_events(cri::GetEventsRequest {})
        .await?
        .into_inner();
    while let Some(event) = stream.message().await? {
        line(&serde_json::to_string(&event)?)?;
    }
    Ok(())
}

/// `exec`: the command's stdout, stderr and exit code.
async fn exec_sync(
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
    line(&String::from_utf8_lossy(&out.stdout))?;
    line(&format!("stderr: {}", String::from_utf8_lossy(&out.stderr)))?;
    line(&format!("exit code: {}", out.exit_code))
}

/// `inspect`.
async fn container_status(rt: &mut Runtime, id: String) -> anyhow::Result<()> {
    let request = cri::ContainerStatusRequest {
        container_id: id,
        verbose: false,
    };
    print(&rt.container_status(request).await?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_sums_the_layers() {
        let download = |received, size| admin::Download {
            image: "busybox".into(),
            layer: "sha256:0".into(),
            received,
            size,
        };
        let line = progress_line(&[
            download(1024 * 1024, 2 * 1024 * 1024),
            download(0, 2 * 1024 * 1024),
        ]);
        assert_eq!(line, "downloading 2 layer(s): 1.0 / 4.0 MiB (25%)");
        // A zero size (unknown) shows 0%, not a division by zero.
        assert_eq!(
            progress_line(&[download(5, 0)]),
            "downloading 1 layer(s): 0.0 / 0.0 MiB (0%)"
        );
    }
}
