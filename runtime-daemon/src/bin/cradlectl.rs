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
    Runp {
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
    },
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
    Create {
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
    },
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
        Command::Pull { image } => {
            let request = cri::PullImageRequest {
                image: image_spec(image),
                ..Default::default()
            };
            line(&pull(&mut img, request, &args.admin_socket).await?)
        }
        Command::Images { .. } => print(
            &img.list_images(cri::ListImagesRequest::default())
                .await?
                .into_inner(),
        ),
        Command::Inspecti { image } => {
            let request = cri::ImageStatusRequest {
                image: image_spec(image),
                verbose: false,
            };
            print(&img.image_status(request).await?.into_inner())
        }
        Command::Rmi { image } => {
            img.remove_image(cri::RemoveImageRequest {
                image: image_spec(image),
            })
            .await?;
            Ok(())
        }
        Command::Runp {
            name,
            namespace,
            uid,
            attempt,
            hostname,
            log_dir,
            cgroup_parent,
            host_network,
            runtime_handler,
            labels,
        } => {
            let uid = if uid.is_empty() {
                format!("{name}-uid")
            } else {
                uid
            };
            let network = if host_network {
                cri::NamespaceMode::Node
            } else {
                cri::NamespaceMode::Pod
            };
            let config = cri::PodSandboxConfig {
                metadata: Some(cri::PodSandboxMetadata {
                    name,
                    uid,
                    namespace,
                    attempt,
                }),
                hostname,
                log_directory: log_dir,
                labels: pairs(&labels)?,
                linux: Some(cri::LinuxPodSandboxConfig {
                    cgroup_parent,
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
                runtime_handler,
            };
            line(
                &rt.run_pod_sandbox(request)
                    .await?
                    .into_inner()
                    .pod_sandbox_id,
            )
        }
        Command::Pods => print(
            &rt.list_pod_sandbox(cri::ListPodSandboxRequest::default())
                .await?
                .into_inner(),
        ),
        Command::Inspectp { id } => {
            let request = cri::PodSandboxStatusRequest {
                pod_sandbox_id: id,
                verbose: false,
            };
            print(&rt.pod_sandbox_status(request).await?.into_inner())
        }
        Command::Stopp { id } => {
            rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: id })
                .await?;
            Ok(())
        }
        Command::Rmp { id } => {
            rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id })
                .await?;
            Ok(())
        }
        Command::Create {
            pod,
            name,
            image,
            log_path,
            log_dir,
            envs,
            command,
        } => {
            let envs = pairs(&envs)?
                .into_iter()
                .map(|(key, value)| cri::KeyValue { key, value })
                .collect();
            let config = cri::ContainerConfig {
                metadata: Some(cri::ContainerMetadata { name, attempt: 0 }),
                image: image_spec(image),
                command,
                envs,
                log_path,
                ..Default::default()
            };
            let sandbox_config = cri::PodSandboxConfig {
                log_directory: log_dir,
                ..Default::default()
            };
            let request = cri::CreateContainerRequest {
                pod_sandbox_id: pod,
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
        Command::Start { id } => {
            rt.start_container(cri::StartContainerRequest { container_id: id })
                .await?;
            Ok(())
        }
        Command::Stop { id, timeout } => {
            rt.stop_container(cri::StopContainerRequest {
                container_id: id,
                timeout,
            })
            .await?;
            Ok(())
        }
        Command::Rm { id } => {
            rt.remove_container(cri::RemoveContainerRequest { container_id: id })
                .await?;
            Ok(())
        }
        Command::Ps => print(
            &rt.list_containers(cri::ListContainersRequest::default())
                .await?
                .into_inner(),
        ),
        Command::Stats => print(
            &rt.list_container_stats(cri::ListContainerStatsRequest::default())
                .await?
                .into_inner(),
        ),
        Command::Update {
            id,
            memory,
            cpu_shares,
            cpu_quota,
        } => {
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
        Command::Events => {
            let mut stream = rt
                .get_container_events(cri::GetEventsRequest {})
                .await?
                .into_inner();
            while let Some(event) = stream.message().await? {
                line(&serde_json::to_string(&event)?)?;
            }
            Ok(())
        }
        Command::Exec { id, timeout, cmd } => {
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
        Command::Inspect { id } => {
            let request = cri::ContainerStatusRequest {
                container_id: id,
                verbose: false,
            };
            print(&rt.container_status(request).await?.into_inner())
        }
    }
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
