//! RunPodSandbox: reserve the name, pin namespaces, write the pod's files,
//! attach the network, start the pause shim, persist. Every step is undone
//! if a later one fails.

use super::files;
use super::manager::SandboxManager;
use super::pause_args::PauseArgs;
use super::record::{SandboxRecord, SandboxState};
use super::remove::remove_pins;
use crate::core::context::Context;
use crate::core::error::{Error, Result};
use crate::core::fault;
use crate::core::fsutil::remove_dir;
use crate::core::ids::SandboxId;
use crate::core::index::Entry;
use crate::core::store::Kind;
use crate::platform::cni;
use crate::platform::namespaces::{PinRequest, Pins};
use crate::platform::shims::Shim;
use cradle_proto::cri;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl SandboxManager {
    /// RunPodSandbox, with a `config` the CRI layer has validated (metadata
    /// with a name): reserve the name, pin namespaces, start the pause shim,
    /// persist. Every step is undone if a later one fails.
    pub async fn run(&self, config: cri::PodSandboxConfig, handler: &str) -> Result<SandboxId> {
        let handler = self.ctx.runtime_handler(handler)?;
        let name = SandboxRecord::name_key(&config).unwrap_or_default();
        let id = SandboxId::new(crate::core::ids::generate());
        crate::core::log_span::record(crate::core::log_span::POD_ID, id.as_str());
        // `<parent>/<id>`, or `<slice>:cri-cradle:<id>` under systemd, whose
        // parent must be a slice: checked here, before anything is created.
        let cgroup_path = self.ctx.cgroups_path(&config, id.as_str())?;
        let reservation = self.names.reserve(&name, id.as_str())?;
        fault::point("run_pod.name_reserved");
        let mut undo = Undo::default();
        match self.build(&id, &config, &cgroup_path, &mut undo).await {
            Ok(built) => {
                let record = SandboxRecord {
                    id: id.to_string(),
                    config,
                    runtime_handler: handler.name.clone(),
                    state: SandboxState::Ready,
                    created_at: crate::core::time::now_ns(),
                    pins: built.pins,
                    shim_dir: built.shim_dir,
                    cgroup_path,
                    network_attached: built.ips.is_some(),
                    ips: built.ips.unwrap_or_default(),
                };
                if let Err(e) = self.ctx.store.put(Kind::Sandbox, id.as_str(), &record) {
                    undo.run(&id, &self.ctx).await;
                    return Err(e.into());
                }
                fault::point("run_pod.recorded");
                self.index.insert(&id, Entry::new(record));
                reservation.commit();
                tracing::info!(name, handler = %handler.name, "pod sandbox ready");
                Ok(id)
            }
            Err(e) => {
                // The error itself is logged once, where it goes back to the client.
                tracing::info!(name, "RunPodSandbox failed: undoing its steps");
                undo.run(&id, &self.ctx).await;
                Err(e)
            }
        }
    }

    /// The steps of RunPodSandbox, in order, each registering its undo.
    async fn build(
        &self,
        id: &SandboxId,
        config: &cri::PodSandboxConfig,
        cgroup_path: &str,
        undo: &mut Undo,
    ) -> Result<Built> {
        let ns_options = config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.clone())
            .unwrap_or_default();
        let host_network = ns_options.network == cri::NamespaceMode::Node as i32;
        let sysctls = checked_sysctls(config, &ns_options, host_network)?;
        let userns = super::userns::shim_args(config, &self.ctx.config.root)?;
        let request = PinRequest {
            net: !host_network,
            ipc: ns_options.ipc != cri::NamespaceMode::Node as i32,
            // A host-network pod keeps the node's hostname, as with containerd.
            uts: !host_network,
            hostname: config.hostname.clone(),
        };
        let pins = self.pin_namespaces(id, request, undo).await?;
        self.write_files(id, config, host_network, undo)?;
        let ips = match &pins.net {
            Some(netns) => self.attach_network(id, netns, config, undo).await?,
            None => None,
        };
        if let (Some(netns), false) = (&pins.net, sysctls.is_empty()) {
            self.apply_net_sysctls(id, netns, sysctls).await?;
        }
        let shim_dir = self
            .start_pause(id, &pins, (cgroup_path, userns), undo)
            .await?;
        Ok(Built {
            pins,
            shim_dir,
            ips,
        })
    }

    /// Pins the pod's namespaces under its ns dir.
    async fn pin_namespaces(
        &self,
        id: &SandboxId,
        request: PinRequest,
        undo: &mut Undo,
    ) -> Result<Pins> {
        let ns_dir = self.ctx.ns_dir(id);
        let pinner = Arc::clone(&self.ctx.namespaces);
        let pins = crate::core::log_span::spawn_blocking(move || pinner.pin(&ns_dir, &request))
            .await
            .map_err(|e| Error::task("namespace", e))?
            .map_err(|source| Error::Namespaces {
                id: id.to_string(),
                source,
            })?;
        undo.pins = Some(pins.clone());
        fault::point("run_pod.namespaces_pinned");
        Ok(pins)
    }

    /// Writes the pod's hostname, hosts and resolv.conf.
    fn write_files(
        &self,
        id: &SandboxId,
        config: &cri::PodSandboxConfig,
        host_network: bool,
        undo: &mut Undo,
    ) -> Result<()> {
        let files_dir = self.ctx.sandbox_dir(id);
        undo.files_dir = Some(files_dir.clone());
        files::write_sandbox_files(&files_dir, config, host_network)
            .map_err(|e| Error::io(&files_dir, e))?;
        fault::point("run_pod.files_written");
        Ok(())
    }

    /// CNI ADD in the pinned network namespace: the pod's IPs, or `None`
    /// when no network is configured.
    async fn attach_network(
        &self,
        id: &SandboxId,
        netns: &Path,
        config: &cri::PodSandboxConfig,
        undo: &mut Undo,
    ) -> Result<Option<Vec<String>>> {
        let net_err = |source| Error::Network {
            id: id.to_string(),
            source,
        };
        let pod = cni::pod_network(id, netns, config).map_err(net_err)?;
        let (network, q) = (Arc::clone(&self.ctx.network), pod.clone());
        let ips = crate::core::log_span::spawn_blocking(move || network.attach(&q))
            .await
            .map_err(|e| Error::task("network", e))?
            .map_err(net_err)?;
        if ips.is_some() {
            undo.network = Some(pod);
        }
        fault::point("run_pod.network_attached");
        Ok(ips)
    }

    /// Writes the pod's `net.*` sysctls (nothing to undo: they die with
    /// the namespace).
    async fn apply_net_sysctls(
        &self,
        id: &SandboxId,
        netns: &Path,
        sysctls: Vec<(String, String)>,
    ) -> Result<()> {
        let (network, netns) = (Arc::clone(&self.ctx.network), netns.to_path_buf());
        crate::core::log_span::spawn_blocking(move || network.apply_sysctls(&netns, &sysctls))
            .await
            .map_err(|e| Error::task("sysctl", e))?
            .map_err(|source| Error::Network {
                id: id.to_string(),
                source,
            })?;
        fault::point("run_pod.sysctls_applied");
        Ok(())
    }

    /// Starts the pause shim in the pinned namespaces (the node's where a
    /// namespace is not pinned); returns its state dir.
    async fn start_pause(
        &self,
        id: &SandboxId,
        pins: &Pins,
        (cgroup_path, userns): (&str, Vec<OsString>),
        undo: &mut Undo,
    ) -> Result<PathBuf> {
        let shim_dir = self.ctx.shim_dir(id);
        std::fs::create_dir_all(&shim_dir).map_err(|e| Error::io(&shim_dir, e))?;
        undo.shim_dir = Some(shim_dir.clone());
        let args = PauseArgs {
            id,
            shim_dir: &shim_dir,
            pins,
            cgroup_path,
            driver: self.ctx.handlers.driver(),
            userns,
        }
        .command_line();
        let shim_id = id.shim();
        let shim = (self.ctx.shims.spawn(&shim_id, &shim_dir, args).await)
            .map_err(Error::of_shim(&shim_id))?;
        undo.shim = Some(shim);
        fault::point("run_pod.shim_started");
        Ok(shim_dir)
    }
}

/// The pod's `net.*` sysctls, refused when the pod has no network
/// namespace of its own or a key is not a sysctl; the other sysctls
/// (which go into each container's spec) are refused when no container
/// could apply them.
fn checked_sysctls(
    config: &cri::PodSandboxConfig,
    ns_options: &cri::NamespaceOption,
    host_network: bool,
) -> Result<Vec<(String, String)>> {
    let sysctls = cni::net_sysctls(config);
    if host_network && !sysctls.is_empty() {
        return Err(Error::InvalidArgument(
            "net.* sysctls need the pod's own network namespace, not the node's".into(),
        ));
    }
    for (key, _) in &sysctls {
        cradle_cni::sysctl::proc_path(key).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    }
    crate::platform::sysctls::validate(config, ns_options.ipc != cri::NamespaceMode::Node as i32)
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    Ok(sysctls)
}

/// What RunPodSandbox built.
struct Built {
    pins: Pins,
    shim_dir: std::path::PathBuf,
    /// `Some`: attached to the CNI network with these IPs.
    ips: Option<Vec<String>>,
}

/// What a failing RunPodSandbox has to take back, newest first.
#[derive(Default)]
struct Undo {
    pins: Option<Pins>,
    network: Option<cradle_cni::PodNetwork>,
    files_dir: Option<std::path::PathBuf>,
    shim_dir: Option<std::path::PathBuf>,
    shim: Option<Box<dyn Shim>>,
}

impl Undo {
    async fn run(self, id: &SandboxId, ctx: &Context) {
        if let Some(shim) = self.shim
            && let Err(e) = shim.delete(true).await.map_err(Error::of_shim(shim.id()))
        {
            tracing::warn!("undo: deleting pause shim: {}", e.chain());
        }
        if let Some(dir) = self.shim_dir
            && let Err(e) = remove_dir(&dir)
        {
            tracing::warn!("undo: {}", e.chain());
        }
        if let Some(pod) = self.network {
            let network = Arc::clone(&ctx.network);
            let result = crate::core::log_span::spawn_blocking(move || network.detach(&pod)).await;
            if !matches!(result, Ok(Ok(()))) {
                tracing::warn!("undo: CNI DEL failed: {result:?}");
            }
        }
        if let Some(dir) = self.files_dir
            && let Err(e) = remove_dir(&dir)
        {
            tracing::warn!("undo: {}", e.chain());
        }
        if let Some(pins) = self.pins
            && let Err(e) = remove_pins(ctx, id, &pins).await
        {
            tracing::warn!("undo: {}", e.chain());
        }
    }
}
