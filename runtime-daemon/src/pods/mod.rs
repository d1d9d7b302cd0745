//! The pod sandbox manager.
//!
//! A sandbox is a set of pinned namespaces (see [`namespaces`]), a CNI
//! attachment with the pod's `net.*` sysctls applied after it (see
//! [`network`]), and a pause process run by its own `cradle-shim`, inside
//! the pod cgroup. The pod's other (IPC) sysctls are checked here and
//! applied by each container's spec (`containers::spec::sysctls`). RunPodSandbox builds them in that order and unwinds in
//! reverse on failure; Stop ends the
//! pause process; Remove deletes the shim and the pins. Containers are the
//! container manager's business: [`crate::runtime::Runtime`] stops and removes
//! them before it calls in here.

pub mod files;
pub mod namespaces;
pub mod network;
mod record;

pub use record::{SandboxRecord, SandboxState};

use crate::error::{Error, Result};
use crate::fault;
use crate::index::{Entry, Index};
use crate::names::NameIndex;
use crate::runtime::Context;
use crate::shim_client::ShimClient;
use crate::store::Kind;
use cradle_proto::cri;
use namespaces::{PinRequest, Pins};
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a killed pause process may take to be reaped.
const PAUSE_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Owns every sandbox.
pub struct SandboxManager {
    ctx: Arc<Context>,
    index: Index<SandboxRecord>,
    names: Arc<NameIndex>,
}

impl SandboxManager {
    pub fn new(ctx: Arc<Context>) -> Self {
        SandboxManager {
            ctx,
            index: Index::new("sandbox"),
            names: NameIndex::new("sandbox"),
        }
    }

    /// The full id named by `id_or_prefix`.
    pub fn resolve(&self, id_or_prefix: &str) -> Result<String> {
        self.index.get(id_or_prefix).map(|(id, _)| id)
    }

    /// The entry of one sandbox (for its membership lock).
    pub fn entry(&self, id_or_prefix: &str) -> Result<Arc<Entry<SandboxRecord>>> {
        self.index.get(id_or_prefix).map(|(_, e)| e)
    }

    /// A snapshot of one sandbox.
    pub fn get(&self, id_or_prefix: &str) -> Result<SandboxRecord> {
        self.index.get(id_or_prefix).map(|(_, e)| e.snapshot())
    }

    /// Snapshots of every sandbox (from memory).
    pub fn list(&self) -> Vec<SandboxRecord> {
        self.index.all().iter().map(|e| e.snapshot()).collect()
    }

    /// Re-registers a loaded record (recovery).
    pub fn restore(&self, record: SandboxRecord) {
        if let Some(name) = SandboxRecord::name_key(&record.config) {
            self.names.restore(&name, &record.id);
        }
        let id = record.id.clone();
        self.index.insert(&id, Entry::new(record));
    }

    /// Writes a record through to the store and memory (recovery updates).
    pub fn save(&self, record: &SandboxRecord) -> Result<()> {
        self.ctx.store.put(Kind::Sandbox, &record.id, record)?;
        if let Ok((_, entry)) = self.index.get(&record.id) {
            entry.update(|r| *r = record.clone());
        }
        Ok(())
    }

    /// RunPodSandbox: validate, reserve the name, pin namespaces, start the pause
    /// shim, persist. Every step is undone if a later one fails.
    pub async fn run(&self, config: cri::PodSandboxConfig, handler: &str) -> Result<String> {
        let metadata = config
            .metadata
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("config.metadata is required".into()))?;
        if metadata.name.is_empty() {
            return Err(Error::InvalidArgument(
                "config.metadata.name must not be empty".into(),
            ));
        }
        self.ctx.runtime_handler(handler)?;
        let name = SandboxRecord::name_key(&config).unwrap_or_default();
        let id = crate::ids::generate();
        let reservation = self.names.reserve(&name, &id)?;
        fault::point("run_pod.name_reserved");
        let cgroup_path = format!("{}/{}", self.ctx.cgroup_parent(&config), id);
        let mut undo = Undo::default();
        match self.build(&id, &config, &cgroup_path, &mut undo).await {
            Ok(built) => {
                let record = SandboxRecord {
                    id: id.clone(),
                    config,
                    runtime_handler: handler.to_string(),
                    state: SandboxState::Ready,
                    created_at: crate::time::now_ns(),
                    pins: built.pins,
                    shim_dir: built.shim_dir,
                    cgroup_path,
                    network_attached: built.ips.is_some(),
                    ips: built.ips.unwrap_or_default(),
                };
                if let Err(e) = self.ctx.store.put(Kind::Sandbox, &id, &record) {
                    undo.run(&id).await;
                    return Err(e.into());
                }
                fault::point("run_pod.recorded");
                self.index.insert(&id, Entry::new(record));
                reservation.commit();
                tracing::info!(sandbox = %id, name, "pod sandbox ready");
                Ok(id)
            }
            Err(e) => {
                tracing::warn!(sandbox = %id, name, "RunPodSandbox failed: {e}");
                undo.run(&id).await;
                Err(e)
            }
        }
    }

    async fn build(
        &self,
        id: &str,
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
        let sysctls = network::net_sysctls(config);
        if host_network && !sysctls.is_empty() {
            return Err(Error::InvalidArgument(
                "net.* sysctls need the pod's own network namespace, not the node's".into(),
            ));
        }
        for (key, _) in &sysctls {
            cradle_cni::sysctl::proc_path(key)
                .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        }
        // The others go into each container's spec: refuse what no container could apply.
        crate::containers::spec::sysctls::validate(
            config,
            ns_options.ipc != cri::NamespaceMode::Node as i32,
        )
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let request = PinRequest {
            net: !host_network,
            ipc: ns_options.ipc != cri::NamespaceMode::Node as i32,
            // A host-network pod keeps the node's hostname, as with containerd.
            uts: !host_network,
            hostname: config.hostname.clone(),
        };
        let ns_dir = self.ctx.ns_dir(id);
        let pins = tokio::task::spawn_blocking(move || namespaces::pin(&ns_dir, &request))
            .await
            .map_err(|e| Error::Internal(format!("namespace task: {e}")))?
            .map_err(|e| Error::Namespaces {
                id: id.to_string(),
                message: e.to_string(),
            })?;
        undo.pins = Some(pins.clone());
        fault::point("run_pod.namespaces_pinned");

        let files_dir = self.ctx.sandbox_dir(id);
        undo.files_dir = Some(files_dir.clone());
        files::write_sandbox_files(&files_dir, config, host_network)
            .map_err(|e| Error::io(&files_dir, e))?;
        fault::point("run_pod.files_written");

        let ips = match &pins.net {
            Some(netns) => {
                let net_err = |message: String| Error::Network {
                    id: id.to_string(),
                    message,
                };
                let pod =
                    network::pod_network(id, netns, config).map_err(|e| net_err(e.to_string()))?;
                let paths = self.ctx.cni_paths();
                let (p, q) = (paths.clone(), pod.clone());
                let ips = tokio::task::spawn_blocking(move || network::attach(&p, &q))
                    .await
                    .map_err(|e| Error::Internal(format!("network task: {e}")))?
                    .map_err(|e| net_err(e.to_string()))?;
                if ips.is_some() {
                    undo.network = Some((paths, pod));
                }
                fault::point("run_pod.network_attached");
                ips
            }
            None => None,
        };
        if let (Some(netns), false) = (&pins.net, sysctls.is_empty()) {
            let netns = netns.clone();
            tokio::task::spawn_blocking(move || network::apply_sysctls(&netns, &sysctls))
                .await
                .map_err(|e| Error::Internal(format!("sysctl task: {e}")))?
                .map_err(|e| Error::Network {
                    id: id.to_string(),
                    message: e.to_string(),
                })?;
            fault::point("run_pod.sysctls_applied");
        }

        let shim_dir = self.ctx.shim_dir(id);
        std::fs::create_dir_all(&shim_dir).map_err(|e| Error::io(&shim_dir, e))?;
        undo.shim_dir = Some(shim_dir.clone());
        let host_ns = |kind: &str| format!("/proc/{}/ns/{kind}", std::process::id());
        let ns_arg = |pin: &Option<std::path::PathBuf>, kind: &str| -> OsString {
            pin.as_ref()
                .map(|p| p.as_os_str().to_os_string())
                .unwrap_or_else(|| host_ns(kind).into())
        };
        let args: Vec<OsString> = vec![
            "sandbox".into(),
            "--id".into(),
            id.into(),
            "--state-dir".into(),
            shim_dir.as_os_str().into(),
            "--netns".into(),
            ns_arg(&pins.net, "net"),
            "--ipcns".into(),
            ns_arg(&pins.ipc, "ipc"),
            "--utsns".into(),
            ns_arg(&pins.uts, "uts"),
            "--cgroup".into(),
            cgroup_path.into(),
        ];
        let shim = ShimClient::spawn(id, &self.ctx.shim_bin, &shim_dir, args).await?;
        undo.shim = Some(shim);
        fault::point("run_pod.shim_started");
        Ok(Built {
            pins,
            shim_dir,
            ips,
        })
    }

    /// StopPodSandbox (its containers are already stopped): kill the pause process.
    pub async fn stop(&self, id: &str) -> Result<()> {
        let Ok((id, entry)) = self.index.get(id) else {
            return Ok(());
        };
        let _op = entry.op.lock().await;
        let record = entry.snapshot();
        if record.network_attached {
            self.detach_network(&record).await?;
            fault::point("stop_pod.network_detached");
            let record = entry.update(|r| r.network_attached = false);
            self.ctx.store.put(Kind::Sandbox, &id, &record)?;
        }
        if record.state == SandboxState::NotReady {
            return Ok(());
        }
        let shim = ShimClient::new(&id, &record.shim_dir);
        if shim.is_alive().await {
            shim.kill(libc::SIGKILL, false).await?;
            shim.wait(Some(PAUSE_EXIT_TIMEOUT)).await?;
            fault::point("stop_pod.pause_killed");
        }
        let record = entry.update(|r| r.state = SandboxState::NotReady);
        self.ctx.store.put(Kind::Sandbox, &id, &record)?;
        fault::point("stop_pod.recorded");
        tracing::info!(sandbox = %id, "pod sandbox stopped");
        Ok(())
    }

    /// CNI DEL of a sandbox (from the cache when the configuration is gone).
    async fn detach_network(&self, record: &SandboxRecord) -> Result<()> {
        let Some(netns) = &record.pins.net else {
            return Ok(());
        };
        let net_err = |message: String| Error::Network {
            id: record.id.clone(),
            message,
        };
        let pod = network::pod_network(&record.id, netns, &record.config)
            .map_err(|e| net_err(e.to_string()))?;
        let paths = self.ctx.cni_paths();
        tokio::task::spawn_blocking(move || network::detach(&paths, &pod))
            .await
            .map_err(|e| Error::Internal(format!("network task: {e}")))?
            .map_err(|e| net_err(e.to_string()))?;
        tracing::info!(sandbox = %record.id, "pod network detached");
        Ok(())
    }

    /// RemovePodSandbox (its containers are already removed): delete the pause
    /// shim, unpin the namespaces, forget the sandbox. Unknown: Ok.
    pub async fn remove(&self, id: &str) -> Result<()> {
        self.stop(id).await?;
        let Ok((id, entry)) = self.index.get(id) else {
            return Ok(());
        };
        let _op = entry.op.lock().await;
        let record = entry.snapshot();
        let shim = ShimClient::new(&id, &record.shim_dir);
        if shim.is_alive().await {
            shim.delete(true).await?;
            fault::point("remove_pod.shim_deleted");
        }
        remove_pins(&id, &record.pins).await?;
        fault::point("remove_pod.unpinned");
        remove_dir(&record.shim_dir)?;
        remove_dir(&self.ctx.sandbox_dir(&id))?;
        fault::point("remove_pod.dirs_removed");
        self.ctx.store.delete(Kind::Sandbox, &id)?;
        fault::point("remove_pod.forgotten");
        entry.mark_removed();
        self.index.remove(&id);
        if let Some(name) = SandboxRecord::name_key(&record.config) {
            self.names.release(&name, &id);
        }
        tracing::info!(sandbox = %id, "pod sandbox removed");
        Ok(())
    }
}

async fn remove_pins(id: &str, pins: &Pins) -> Result<()> {
    let pins = pins.clone();
    tokio::task::spawn_blocking(move || namespaces::unpin(&pins))
        .await
        .map_err(|e| Error::Internal(format!("namespace task: {e}")))?
        .map_err(|e| Error::Namespaces {
            id: id.to_string(),
            message: e.to_string(),
        })
}

/// Removes a directory tree; absent is fine.
pub(crate) fn remove_dir(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
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
    network: Option<(network::CniPaths, cradle_cni::PodNetwork)>,
    files_dir: Option<std::path::PathBuf>,
    shim_dir: Option<std::path::PathBuf>,
    shim: Option<ShimClient>,
}

impl Undo {
    async fn run(self, id: &str) {
        if let Some(shim) = self.shim
            && let Err(e) = shim.delete(true).await
        {
            tracing::warn!(sandbox = %id, "undo: deleting pause shim: {e}");
        }
        if let Some(dir) = self.shim_dir
            && let Err(e) = remove_dir(&dir)
        {
            tracing::warn!(sandbox = %id, "undo: {e}");
        }
        if let Some((paths, pod)) = self.network {
            let result = tokio::task::spawn_blocking(move || network::detach(&paths, &pod)).await;
            if !matches!(result, Ok(Ok(()))) {
                tracing::warn!(sandbox = %id, "undo: CNI DEL failed: {result:?}");
            }
        }
        if let Some(dir) = self.files_dir
            && let Err(e) = remove_dir(&dir)
        {
            tracing::warn!(sandbox = %id, "undo: {e}");
        }
        if let Some(pins) = self.pins
            && let Err(e) = remove_pins(id, &pins).await
        {
            tracing::warn!(sandbox = %id, "undo: {e}");
        }
    }
}
