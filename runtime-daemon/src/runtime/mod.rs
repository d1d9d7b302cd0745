//! The daemon's shared context and the operations that span pods and containers.
//!
//! [`Context`] holds what every manager needs (configuration, metadata store,
//! image store, binaries); [`Runtime`] owns the two managers and sequences the
//! operations that touch both (stopping a pod stops its containers first,
//! creating a container reads its pod).

use crate::config::Config;
use crate::containers::ContainerManager;
use crate::error::{Error, Result};
use crate::pods::SandboxManager;
use crate::store::Store;
use cradle_proto::cri;
use cradle_snapshotter::ImageStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What every manager shares.
pub struct Context {
    pub config: Config,
    pub store: Store,
    images: std::result::Result<Arc<ImageStore>, String>,
    /// The `cradle-shim` binary.
    pub shim_bin: PathBuf,
    /// The `cradle-oci` binary (the default runtime handler).
    pub oci_bin: PathBuf,
    /// Container lifecycle events for GetContainerEvents.
    pub events: crate::events::Events,
    /// The node's pod CIDR, from UpdateRuntimeConfig (for CNI config templates).
    pub pod_cidr: std::sync::RwLock<String>,
}

impl Context {
    /// Opens the metadata store and the image store under `config.root`. An image
    /// store that fails to open leaves the daemon up, answering image RPCs with the
    /// reason (Unavailable), so pods and status keep working.
    pub fn open(config: Config) -> Result<Self> {
        let store = Store::open(&config.root)?;
        let images =
            match ImageStore::open(&config.root, store.database(), config.registry_settings()) {
                Ok(images) => Ok(Arc::new(images)),
                Err(e) => {
                    tracing::error!("image store unavailable: {e}");
                    Err(e.to_string())
                }
            };
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("/usr/local/bin"));
        let shim_bin = config
            .shim_path
            .clone()
            .unwrap_or_else(|| exe_dir.join("cradle-shim"));
        let oci_bin = config
            .oci_runtime_path
            .clone()
            .unwrap_or_else(|| exe_dir.join("cradle-oci"));
        for dir in [config.state_dir.join("shims"), config.state_dir.join("ns")] {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        Ok(Context {
            config,
            store,
            images,
            shim_bin,
            oci_bin,
            events: crate::events::Events::default(),
            pod_cidr: std::sync::RwLock::new(String::new()),
        })
    }

    /// The image store, or why it is unavailable.
    pub fn images(&self) -> Result<Arc<ImageStore>> {
        self.images
            .as_ref()
            .map(Arc::clone)
            .map_err(|e| Error::ImagesUnavailable(e.clone()))
    }

    /// State dir of the shim serving object `id`.
    pub fn shim_dir(&self, id: &str) -> PathBuf {
        self.config.state_dir.join("shims").join(id)
    }

    /// Directory of the namespace pins of sandbox `id`.
    pub fn ns_dir(&self, id: &str) -> PathBuf {
        self.config.state_dir.join("ns").join(id)
    }

    /// CNI configuration, plugin and result-cache locations.
    pub fn cni_paths(&self) -> crate::pods::network::CniPaths {
        crate::pods::network::CniPaths {
            conf_dir: self.config.cni_conf_dir.clone(),
            bin_dirs: self.config.cni_bin_dirs.clone(),
            cache_dir: self.config.root.join("cni"),
        }
    }

    /// Persistent directory of sandbox `id` (hostname, hosts, resolv.conf).
    pub fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.config.root.join("sandboxes").join(id)
    }

    /// Persistent directory of container `id` (its bundle lives below).
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.config.root.join("containers").join(id)
    }

    /// Resolves a RuntimeClass handler to (name, binary): `""` and `cradle-oci` →
    /// our launcher, `runc` → `runc` from PATH; anything else is refused.
    pub fn runtime_handler(&self, handler: &str) -> Result<(String, PathBuf)> {
        match handler {
            "" | "cradle-oci" => Ok(("cradle-oci".to_string(), self.oci_bin.clone())),
            "runc" => Ok(("runc".to_string(), PathBuf::from("runc"))),
            other => Err(Error::InvalidArgument(format!(
                "runtime_handler {other:?} is not configured (known: \"\", \"cradle-oci\", \"runc\")"
            ))),
        }
    }

    /// Cgroup parent of a pod: the kubelet's, or the configured default.
    pub fn cgroup_parent(&self, config: &cri::PodSandboxConfig) -> String {
        let parent = config
            .linux
            .as_ref()
            .map(|l| l.cgroup_parent.trim_end_matches('/').to_string())
            .unwrap_or_default();
        if parent.is_empty() {
            self.config
                .default_cgroup_parent
                .trim_end_matches('/')
                .to_string()
        } else {
            parent
        }
    }
}

/// The pod and container managers and the operations spanning both.
pub struct Runtime {
    pub ctx: Arc<Context>,
    pub pods: SandboxManager,
    pub containers: ContainerManager,
    /// Previous CPU samples, for usage rates.
    pub cpu: crate::stats::CpuTracker,
}

impl Runtime {
    /// Opens the stores, recovers the state of every known object and sweeps
    /// what no record owns.
    pub async fn start(config: Config) -> Result<Arc<Self>> {
        // Some steps are the image store's and the CNI client's: they report
        // them to our fault points.
        #[cfg(debug_assertions)]
        {
            cradle_snapshotter::fault::set_hook(crate::fault::point);
            cradle_cni::fault::set_hook(crate::fault::point);
        }
        let ctx = Arc::new(Context::open(config)?);
        let runtime = Arc::new(Runtime {
            pods: SandboxManager::new(Arc::clone(&ctx)),
            containers: ContainerManager::new(Arc::clone(&ctx)),
            cpu: crate::stats::CpuTracker::default(),
            ctx,
        });
        crate::recovery::recover(&runtime).await?;
        crate::sweep::sweep(&runtime).await;
        // Content and layers left by interrupted pulls (none run yet).
        if let Ok(images) = runtime.ctx.images()
            && let Err(e) = images.gc().await
        {
            tracing::warn!("image store gc: {e}");
        }
        Ok(runtime)
    }

    /// RunPodSandbox.
    pub async fn run_pod_sandbox(
        &self,
        config: cri::PodSandboxConfig,
        handler: &str,
    ) -> Result<String> {
        self.pods.run(config, handler).await
    }

    /// StopPodSandbox: its containers first, then the pause process. Unknown: Ok.
    pub async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let entry = match self.pods.entry(id) {
            Ok(entry) => entry,
            Err(Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let _members = entry.members.write().await;
        let id = entry.snapshot().id;
        for container in self.containers.ids_in_sandbox(&id) {
            self.containers.stop(&container, 0).await?;
        }
        self.pods.stop(&id).await
    }

    /// RemovePodSandbox: stop, remove its containers, then the pod. Unknown: Ok.
    pub async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let entry = match self.pods.entry(id) {
            Ok(entry) => entry,
            Err(Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let _members = entry.members.write().await;
        let id = entry.snapshot().id;
        // Stop the whole pod first (containers, network, pause), as StopPodSandbox.
        for container in self.containers.ids_in_sandbox(&id) {
            self.containers.stop(&container, 0).await?;
        }
        self.pods.stop(&id).await?;
        for container in self.containers.ids_in_sandbox(&id) {
            self.containers.remove(&container).await?;
        }
        self.pods.remove(&id).await
    }

    /// CreateContainer in a ready sandbox; the sandbox cannot be stopped meanwhile.
    pub async fn create_container(
        &self,
        sandbox_id: &str,
        config: cri::ContainerConfig,
    ) -> Result<String> {
        if sandbox_id.is_empty() {
            return Err(Error::InvalidArgument(
                "pod_sandbox_id must not be empty".into(),
            ));
        }
        let entry = self.pods.entry(sandbox_id)?;
        let _members = entry.members.read().await;
        let sandbox = entry.snapshot();
        if entry.is_removed() {
            return Err(Error::NotFound {
                kind: "sandbox",
                id: sandbox.id,
            });
        }
        self.containers.create(&sandbox, config).await
    }
}
