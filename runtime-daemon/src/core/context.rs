//! The daemon's shared context: what every manager needs (configuration,
//! metadata store, image store, binaries, the event broadcast) and where each
//! object's directories live. It knows no manager: pods and containers
//! receive it, never the other way round.
//!
//! The platform is reached through the seams it holds ([`Platform`]: shims,
//! namespace pins, CNI, AppArmor): [`Context::open`] puts the real adapters there,
//! tests put recording fakes ([`Context::open_with`]).

use crate::core::config::Config;
use crate::core::error::{Chain, Error, Result};
use crate::core::events::Events;
use crate::core::handlers::{self, Handler, HandlerSettings, Handlers};
use crate::core::ids::{ContainerId, SandboxId, ShimId};
use crate::core::store::Store;
use crate::platform::apparmor::AppArmorHost;
use crate::platform::cgroup_host::CgroupHost;
use crate::platform::cni::CniPaths;
use crate::platform::networking::{CniNetworking, PodNetworking};
use crate::platform::pinning::{KernelPinner, NamespacePinner};
use crate::platform::shims::{ShimBinary, Shims};
use cradle_proto::cri;
use cradle_snapshotter::ImageStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The parent of pods without one under the systemd driver, unless
/// `default_cgroup_parent` names a slice.
const SYSTEMD_DEFAULT_SLICE: &str = "system.slice";

/// What every manager shares.
pub struct Context {
    /// The effective configuration the daemon started with.
    pub config: Config,
    /// The metadata store of pods and containers.
    pub store: Store,
    /// The image store, or why it did not open (kept typed: its cause
    /// reaches every image RPC's status).
    images: std::result::Result<Arc<ImageStore>, Arc<cradle_snapshotter::Error>>,
    /// The `cradle-shim` binary.
    pub shim_bin: PathBuf,
    /// The `cradle-oci` binary (Cradle's launcher).
    pub oci_bin: PathBuf,
    /// The RuntimeClass handlers, resolved at start, and the host's cgroups.
    pub handlers: Handlers,
    /// Container lifecycle events for GetContainerEvents.
    pub events: Events,
    /// The node's pod CIDR, from UpdateRuntimeConfig (for CNI config templates).
    pub pod_cidr: std::sync::RwLock<String>,
    /// Starts and reaches the shims of pods and containers.
    pub shims: Arc<dyn Shims>,
    /// Pins and unpins pods' namespaces.
    pub namespaces: Arc<dyn NamespacePinner>,
    /// Attaches pods to the node's network and detaches them.
    pub network: Arc<dyn PodNetworking>,
    /// The node's AppArmor: whether profiles apply, which are loaded.
    pub apparmor: Arc<dyn AppArmorHost>,
}

/// The platform adapters the managers call through: the real ones in the
/// daemon, fakes in tests.
pub struct Platform {
    /// Starts and reaches the shims.
    pub shims: Arc<dyn Shims>,
    /// Pins and unpins pods' namespaces.
    pub namespaces: Arc<dyn NamespacePinner>,
    /// Attaches pods to the network and detaches them.
    pub network: Arc<dyn PodNetworking>,
    /// The node's AppArmor.
    pub apparmor: Arc<dyn AppArmorHost>,
}

impl Context {
    /// Opens the metadata store and the image store under `config.root`. An image
    /// store that fails to open leaves the daemon up, answering image RPCs with the
    /// reason (Unavailable), so pods and status keep working.
    pub fn open(config: Config) -> Result<Self> {
        let (shim_bin, _) = binaries(&config);
        let platform = Platform {
            shims: Arc::new(ShimBinary::new(shim_bin)),
            namespaces: Arc::new(KernelPinner),
            network: Arc::new(CniNetworking::new(cni_paths(&config))),
            apparmor: crate::platform::apparmor::node(),
        };
        Self::open_with(config, platform)
    }

    /// As [`Context::open`], with the given platform adapters (fakes, in tests).
    /// The handlers are resolved first: a configuration this host cannot
    /// give (the systemd driver without systemd, a missing runtime) is
    /// refused before anything is opened.
    pub fn open_with(config: Config, platform: Platform) -> Result<Self> {
        let (shim_bin, oci_bin) = binaries(&config);
        let handlers = resolve_handlers(&config, &oci_bin, CgroupHost::detect())?;
        let store = Store::open(&config.root)?;
        let images =
            match ImageStore::open(&config.root, store.database(), config.registry_settings()) {
                Ok(images) => Ok(Arc::new(images)),
                Err(e) => {
                    tracing::error!("image store unavailable: {}", Chain(&e));
                    Err(Arc::new(e))
                }
            };
        for dir in [config.state_dir.join("shims"), config.state_dir.join("ns")] {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        Ok(Context {
            config,
            store,
            images,
            shim_bin,
            oci_bin,
            handlers,
            events: Events::default(),
            pod_cidr: std::sync::RwLock::new(String::new()),
            shims: platform.shims,
            namespaces: platform.namespaces,
            network: platform.network,
            apparmor: platform.apparmor,
        })
    }

    /// The image store, or why it is unavailable.
    pub fn images(&self) -> Result<Arc<ImageStore>> {
        self.images
            .as_ref()
            .map(Arc::clone)
            .map_err(|e| Error::ImagesUnavailable(Arc::clone(e)))
    }

    /// State dir of the shim serving object `id`.
    pub fn shim_dir(&self, id: impl Into<ShimId>) -> PathBuf {
        self.config.state_dir.join("shims").join(id.into().as_str())
    }

    /// Directory of the namespace pins of sandbox `id`.
    pub fn ns_dir(&self, id: &SandboxId) -> PathBuf {
        self.config.state_dir.join("ns").join(id.as_str())
    }

    /// CNI configuration, plugin and result-cache locations.
    pub fn cni_paths(&self) -> CniPaths {
        cni_paths(&self.config)
    }

    /// Persistent directory of sandbox `id` (hostname, hosts, resolv.conf).
    pub fn sandbox_dir(&self, id: &SandboxId) -> PathBuf {
        self.config.root.join("sandboxes").join(id.as_str())
    }

    /// Persistent directory of container `id` (its bundle lives below).
    pub fn container_dir(&self, id: &ContainerId) -> PathBuf {
        self.config.root.join("containers").join(id.as_str())
    }

    /// The RuntimeClass handler `name` stands for (`""`: the default);
    /// one not configured is refused naming the configured ones.
    pub fn runtime_handler(&self, name: &str) -> Result<Arc<Handler>> {
        self.handlers.get(name).cloned().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "runtime_handler {name:?} is not configured (configured: {})",
                self.handlers.known()
            ))
        })
    }

    /// The cgroupsPath of object `id` (a container) of the pod `config`:
    /// `<parent>/<id>` under the cgroupfs driver; `<slice>:cri-cradle:<id>`
    /// under systemd, whose parent must be a slice name
    /// (`kubepods-burstable-pod<uid>.slice`), else InvalidArgument naming
    /// the field.
    pub fn cgroups_path(&self, config: &cri::PodSandboxConfig, id: &str) -> Result<String> {
        let parent = self.cgroup_parent(config);
        handlers::cgroups_path(self.handlers.driver(), &parent, id).map_err(Error::InvalidArgument)
    }

    /// Cgroup parent of a pod: the kubelet's, or the configured default
    /// (`system.slice` under systemd when the default is the built-in one).
    pub fn cgroup_parent(&self, config: &cri::PodSandboxConfig) -> String {
        let parent = config
            .linux
            .as_ref()
            .map(|l| l.cgroup_parent.trim_end_matches('/').to_string())
            .unwrap_or_default();
        if !parent.is_empty() {
            return parent;
        }
        let default = self.config.default_cgroup_parent.trim_end_matches('/');
        let systemd = self.handlers.driver() == handlers::CgroupDriver::Systemd;
        if systemd && !handlers::is_slice_name(default) {
            // Only the built-in default gets here (see Handlers::resolve).
            return SYSTEMD_DEFAULT_SLICE.to_string();
        }
        default.to_string()
    }
}

/// The `cradle-shim` and `cradle-oci` binaries: configured, or beside ours.
fn binaries(config: &Config) -> (PathBuf, PathBuf) {
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
    (shim_bin, oci_bin)
}

/// The handlers of `config` on `host`, binaries named without a path
/// looked up in PATH.
pub fn resolve_handlers(
    config: &Config,
    launcher: &Path,
    host: CgroupHost,
) -> std::result::Result<Handlers, handlers::HandlerError> {
    let settings = HandlerSettings {
        configured: &config.runtime_handlers,
        default: &config.default_runtime_handler,
        driver: config.cgroup_driver,
        default_cgroup_parent: &config.default_cgroup_parent,
        state_dir: &config.state_dir,
        launcher,
    };
    Handlers::resolve(settings, host, &handlers::find_in_path)
}

/// CNI configuration, plugin and result-cache locations of `config`.
fn cni_paths(config: &Config) -> CniPaths {
    CniPaths {
        conf_dir: config.cni_conf_dir.clone(),
        bin_dirs: config.cni_bin_dirs.clone(),
        cache_dir: config.root.join("cni"),
    }
}
