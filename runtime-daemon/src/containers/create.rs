//! CreateContainer: image → rootfs → bundle → shim, undone in reverse on failure.

use super::manager::ContainerManager;
use super::record::{ContainerRecord, ContainerState};
use super::spec::{Resolved, SandboxNamespaces, SpecInput, UserNsJoin, build_spec, security};
use super::stop_signal::stop_signal;
use super::users::UserDb;
use crate::core::error::{Error, Result};
use crate::core::fault;
use crate::core::fsutil::remove_dir;
use crate::core::handlers::Handler;
use crate::core::ids::ContainerId;
use crate::core::index::Entry;
use crate::core::store::Kind;
use crate::platform::apparmor::AppArmorHost;
use crate::platform::cgroup_host::CgroupVersion;
use crate::platform::shims::Shim;
use crate::pods::{SandboxRecord, SandboxState};
use cradle_proto::cri;
use cradle_snapshotter::{IdMapping, ImageStore};
use oci_spec::runtime::Spec;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl ContainerManager {
    /// CreateContainer in `sandbox`, with a `config` the CRI layer has
    /// validated (metadata with a name, an image).
    pub async fn create(
        &self,
        sandbox: &SandboxRecord,
        mut config: cri::ContainerConfig,
    ) -> Result<ContainerId> {
        let image_name = config
            .image
            .as_ref()
            .map(|i| i.image.clone())
            .filter(|i| !i.is_empty())
            .ok_or_else(|| Error::InvalidArgument("config.image.image is required".into()))?;
        if sandbox.state != SandboxState::Ready {
            return Err(Error::FailedPrecondition(format!(
                "pod sandbox {} is not ready",
                sandbox.id
            )));
        }
        let handler = self.ctx.runtime_handler(&sandbox.runtime_handler)?;
        let log_path = super::log_path::confined(&sandbox.config.log_directory, &config.log_path)?;
        let id = ContainerId::new(crate::core::ids::generate());
        crate::core::log_span::record(crate::core::log_span::CONTAINER_ID, id.as_str());
        let name = ContainerRecord::name_key(&sandbox.typed_id(), &config).unwrap_or_default();
        let reservation = self.names.reserve(&name, id.as_str())?;
        let images = self.ctx.images()?;
        let image = images
            .resolve(&image_name)
            .ok_or_else(|| Error::ImageNotFound(image_name.clone()))?;
        super::image_volumes::resolve_images(&images, &mut config.mounts)?;

        let mut record = ContainerRecord {
            id: id.to_string(),
            sandbox_id: sandbox.id.clone(),
            image_name,
            image_id: image.id.clone(),
            state: ContainerState::Created,
            created_at: crate::core::time::now_ns(),
            started_at: 0,
            finished_at: 0,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            log_path,
            dir: self.ctx.container_dir(&id),
            shim_dir: self.ctx.shim_dir(&id),
            runtime_handler: handler.name.clone(),
            stop_signal: stop_signal(config.stop_signal, image.config.stop_signal.as_deref()),
            cgroup_path: self.ctx.cgroups_path(&sandbox.config, id.as_str())?,
            user: None,
            start_error: None,
            config,
        };
        let mut undo = Undo::default();
        let built = self
            .build(&record, sandbox, &image, &images, &handler, &mut undo)
            .await;
        let persisted = built.and_then(|built| {
            record.user = Some(built.user);
            record.start_error = built.start_error;
            Ok(self.ctx.store.put(Kind::Container, id.as_str(), &record)?)
        });
        if let Err(e) = persisted {
            // The error itself is logged once, where it goes back to the client.
            tracing::info!(name, "CreateContainer failed: undoing its steps");
            undo.run(&id, &images).await;
            return Err(e);
        }
        fault::point("create.recorded");
        self.ctx
            .events
            .emit(record.event(cri::ContainerEventType::ContainerCreatedEvent));
        self.index.insert(&id, Entry::new(record));
        reservation.commit();
        tracing::info!(name, "container created");
        Ok(id)
    }

    /// The steps of CreateContainer, in order, each registering its undo:
    /// the rootfs, the mounts, the spec, the bundle, the shim.
    #[allow(clippy::too_many_arguments)]
    async fn build(
        &self,
        record: &ContainerRecord,
        sandbox: &SandboxRecord,
        image: &cradle_snapshotter::Image,
        images: &Arc<ImageStore>,
        handler: &Handler,
        undo: &mut Undo,
    ) -> Result<Built> {
        let apparmor = apparmor_profile(&self.ctx.apparmor, &record.config).await?;
        let user_ns = self.pod_user_ns(&record.config, sandbox).await?;
        let rootfs = mount_rootfs(record, image, images, user_ns.as_ref(), undo).await?;
        let mut config = self.with_pod_mounts(record, sandbox, images).await?;
        if let Some(user_ns) = &user_ns {
            // The pod's files come after the kubelet's mounts.
            let cri_mounts = &record.config.mounts;
            let ours = |i: usize| i >= cri_mounts.len();
            let image_volume = |i: usize| cri_mounts.get(i).is_some_and(|m| m.image.is_some());
            super::userns::idmap_mounts(&mut config.mounts, ours, image_volume, user_ns);
        }
        let spec = self
            .spec(
                record,
                sandbox,
                image,
                config.clone(),
                &rootfs,
                handler,
                (apparmor, user_ns),
            )
            .await?;
        let user = spec_user(&spec);
        write_bundle(record, &spec)?;
        let start_error = self.start_shim(record, &config, handler, undo).await?;
        Ok(Built { user, start_error })
    }

    /// The container's config with the pod's hostname, hosts and
    /// resolv.conf as extra CRI mounts, and its image volumes mounted as
    /// read-only binds of the store's mounts (taken apart by remove_rootfs,
    /// registered as the rootfs's undo).
    async fn with_pod_mounts(
        &self,
        record: &ContainerRecord,
        sandbox: &SandboxRecord,
        images: &Arc<ImageStore>,
    ) -> Result<cri::ContainerConfig> {
        let mut config = record.config.clone();
        let extra =
            crate::pods::files::sandbox_mounts(&self.ctx.sandbox_dir(&sandbox.typed_id()), &config);
        config.mounts.extend(extra);
        if config.mounts.iter().any(|m| m.image.is_some()) {
            let (images, cid, mut mounts) = (
                Arc::clone(images),
                record.typed_id(),
                std::mem::take(&mut config.mounts),
            );
            config.mounts = crate::core::log_span::spawn_blocking(move || {
                super::image_volumes::mount_all(&images, &cid, &mut mounts).map(|()| mounts)
            })
            .await
            .map_err(|e| Error::task("image volume", e))??;
        }
        Ok(config)
    }

    /// The OCI spec of the container: what the host resolves (users,
    /// devices, CDI, the pid namespace, the handler's features), then the
    /// builder, then the host side of the mount propagation asked for.
    #[allow(clippy::too_many_arguments)]
    async fn spec(
        &self,
        record: &ContainerRecord,
        sandbox: &SandboxRecord,
        image: &cradle_snapshotter::Image,
        mut config: cri::ContainerConfig,
        rootfs: &Path,
        handler: &Handler,
        (apparmor, user_ns): (Option<String>, Option<UserNsJoin>),
    ) -> Result<Spec> {
        let mut resolved = {
            let (config, rootfs) = (config.clone(), rootfs.to_path_buf());
            let cdi_dirs = self.ctx.config.cdi_spec_dirs.clone();
            crate::core::log_span::spawn_blocking(move || {
                resolve_inputs(&config, &rootfs, &cdi_dirs)
            })
            .await
            .map_err(|e| Error::task("resolve", e))??
        };
        resolved.pid_ns = self.pid_namespace(&config, sandbox).await?;
        resolved.apparmor_profile = apparmor;
        resolved.user_ns = user_ns;
        resolved.cgroup_v2 = self.ctx.handlers.host().version == CgroupVersion::V2;
        if let Some(resources) = config.linux.as_mut().and_then(|l| l.resources.as_mut()) {
            let launcher = handler.binary == self.ctx.oci_bin;
            super::hugetlb::drop_unenforceable_zero_limits(&handler.name, launcher, resources);
        }
        if config.mounts.iter().any(|m| m.recursive_read_only) {
            resolved.recursive_read_only = self.features.recursive_read_only(handler).await;
        }
        let namespaces = SandboxNamespaces {
            net: sandbox.pins.net.clone(),
            ipc: sandbox.pins.ipc.clone(),
            uts: sandbox.pins.uts.clone(),
        };
        let spec = build_spec(&SpecInput {
            resolved: &resolved,
            container_id: &record.id,
            config: &config,
            sandbox: &sandbox.config,
            image: &image.config,
            rootfs,
            namespaces: &namespaces,
            cgroups_path: &record.cgroup_path,
        })?;
        // The host side of the propagation asked for, once the request
        // itself is known to be valid (the builder checks it).
        super::propagation::check(&config.mounts).map_err(Error::FailedPrecondition)?;
        Ok(spec)
    }

    /// Starts the container's shim, which runs the runtime's create. A
    /// create the runtime refuses is not a failure here: the container
    /// exists and fails at StartContainer, as with containerd (the refusal
    /// is returned).
    async fn start_shim(
        &self,
        record: &ContainerRecord,
        config: &cri::ContainerConfig,
        handler: &Handler,
        undo: &mut Undo,
    ) -> Result<Option<String>> {
        let id = record.typed_id();
        std::fs::create_dir_all(&record.shim_dir).map_err(|e| Error::io(&record.shim_dir, e))?;
        undo.shim_dir = Some(record.shim_dir.clone());
        let runtime_root = &handler.root;
        std::fs::create_dir_all(runtime_root).map_err(|e| Error::io(runtime_root, e))?;
        let mut args: Vec<OsString> = vec![
            "container".into(),
            "--id".into(),
            id.as_str().into(),
            "--bundle".into(),
            record.bundle().into(),
            "--runtime".into(),
            handler.binary.clone().into(),
            "--runtime-root".into(),
            runtime_root.into(),
            "--state-dir".into(),
            record.shim_dir.clone().into(),
        ];
        for flag in handler.global_args() {
            args.push("--runtime-arg".into());
            args.push(flag);
        }
        if let Some(log_path) = &record.log_path {
            args.push("--log-path".into());
            args.push(log_path.into());
        }
        // Attach feeds the container's stdin through the shim.
        if config.stdin {
            args.push("--stdin".into());
            if config.stdin_once {
                args.push("--stdin-once".into());
            }
        }
        let shim_id = id.shim();
        let spawned = self.ctx.shims.spawn(&shim_id, &record.shim_dir, args).await;
        match spawned.map_err(Error::of_shim(&shim_id)) {
            Ok(shim) => {
                undo.shim = Some(shim);
                fault::point("create.shim_started");
                Ok(None)
            }
            // The runtime refused to create the process: the container
            // exists and fails at StartContainer, as with containerd.
            Err(refused @ Error::CreateRefused { .. }) => {
                let why = refused.chain().to_string();
                tracing::warn!("the OCI runtime cannot create the process: {why}");
                Ok(Some(why))
            }
            Err(e) => Err(e),
        }
    }
}

/// Mounts the container's rootfs from its image, inside its bundle dir
/// (both registered as undos; remove_rootfs is idempotent, so it also
/// cleans up a half-done mount).
async fn mount_rootfs(
    record: &ContainerRecord,
    image: &cradle_snapshotter::Image,
    images: &Arc<ImageStore>,
    user_ns: Option<&UserNsJoin>,
    undo: &mut Undo,
) -> Result<PathBuf> {
    let rootfs = record.rootfs();
    undo.dir = Some(record.dir.clone());
    std::fs::create_dir_all(&rootfs).map_err(|e| Error::io(&rootfs, e))?;
    undo.rootfs = Some(rootfs.clone());
    let (images, id, image_id, target) = (
        Arc::clone(images),
        record.id.clone(),
        image.id.clone(),
        rootfs.clone(),
    );
    // In the pod's user namespace: its root owns the writable layer.
    let root =
        |maps: &[cri::IdMapping]| maps.iter().find(|m| m.container_id == 0).map(|m| m.host_id);
    let mapped = user_ns.and_then(|u| Some((u.path.clone(), root(&u.uids)?, root(&u.gids)?)));
    crate::core::log_span::spawn_blocking(move || {
        let mapping = mapped.as_ref().map(|(userns, uid, gid)| IdMapping {
            userns,
            root_uid: *uid,
            root_gid: *gid,
        });
        images.mount_rootfs_mapped(&id, &image_id, &target, mapping.as_ref())
    })
    .await
    .map_err(|e| Error::task("rootfs", e))??;
    fault::point("create.rootfs_mounted");
    Ok(rootfs)
}

/// The user the spec runs the process as, as the CRI reports it.
fn spec_user(spec: &Spec) -> cri::ContainerUser {
    spec.process()
        .as_ref()
        .map(|p| p.user())
        .map(|u| cri::ContainerUser {
            linux: Some(cri::LinuxContainerUser {
                uid: i64::from(u.uid()),
                gid: i64::from(u.gid()),
                supplemental_groups: u
                    .additional_gids()
                    .iter()
                    .flatten()
                    .map(|g| i64::from(*g))
                    .collect(),
            }),
        })
        .unwrap_or_default()
}

/// Writes the spec as the bundle's `config.json`.
fn write_bundle(record: &ContainerRecord, spec: &Spec) -> Result<()> {
    let config_path = record.bundle().join("config.json");
    let json = serde_json::to_vec_pretty(spec).map_err(|source| Error::Encode {
        what: "the OCI spec".to_string(),
        source,
    })?;
    std::fs::write(&config_path, json).map_err(|e| Error::io(&config_path, e))?;
    fault::point("create.bundle_written");
    Ok(())
}

/// What [`ContainerManager::build`] made of a container.
struct Built {
    user: cri::ContainerUser,
    start_error: Option<String>,
}

impl ContainerManager {
    /// The pid namespace a container joins: for TARGET the running target
    /// container's (same pod only), for POD the pause process's when it has
    /// one of its own (else `None`: a private one, with a warning).
    async fn pid_namespace(
        &self,
        config: &cri::ContainerConfig,
        sandbox: &SandboxRecord,
    ) -> Result<Option<PathBuf>> {
        let options = config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.as_ref());
        let Some(options) = options else {
            return Ok(None);
        };
        if options.pid == cri::NamespaceMode::Target as i32 {
            let target = self
                .get(&ContainerId::new(&options.target_id))
                .map_err(|_| {
                    Error::InvalidArgument(format!(
                        "pid namespace target {:?} is not a known container",
                        options.target_id
                    ))
                })?;
            if target.sandbox_id != sandbox.id || target.state != ContainerState::Running {
                return Err(Error::FailedPrecondition(format!(
                    "pid namespace target {} must be running in pod {}",
                    target.id, sandbox.id
                )));
            }
            let shim = self
                .ctx
                .shims
                .connect(&target.typed_id().shim(), &target.shim_dir);
            let state = shim.state().await.map_err(Error::of_shim(shim.id()))?;
            return Ok(Some(PathBuf::from(format!("/proc/{}/ns/pid", state.pid))));
        }
        if options.pid == cri::NamespaceMode::Pod as i32 {
            let shim = self
                .ctx
                .shims
                .connect(&sandbox.typed_id().shim(), &sandbox.shim_dir);
            let state = shim.state().await.map_err(Error::of_shim(shim.id()))?;
            let pause = PathBuf::from(format!("/proc/{}/ns/pid", state.pid));
            let own = std::fs::read_link("/proc/self/ns/pid").ok();
            if std::fs::read_link(&pause).ok() != own {
                return Ok(Some(pause));
            }
            tracing::warn!(
                "the pause process shares the node's pid namespace: pid mode POD gets a private one"
            );
        }
        Ok(None)
    }
}

/// Reads what the spec builder needs from the node and the image: the
/// image's users (confined to `rootfs`), a Localhost seccomp profile, the
/// device nodes, the CDI devices' edits (from the spec files in
/// `cdi_dirs`); creates missing host paths of bind mounts.
fn resolve_inputs(
    config: &cri::ContainerConfig,
    rootfs: &Path,
    cdi_dirs: &[PathBuf],
) -> Result<Resolved> {
    let security = config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref());
    // The kubelet expects a missing host path to become a directory (its
    // DirectoryOrCreate and unset volume types), as containerd does; it
    // stays, like the kubelet's own volume directories.
    for m in config.mounts.iter().filter(|m| !m.host_path.is_empty()) {
        let path = Path::new(&m.host_path);
        if std::fs::symlink_metadata(path).is_err() {
            std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        }
    }
    let users = UserDb::read(rootfs).map_err(|e| Error::Other {
        context: "reading the image's users and groups".to_string(),
        source: Box::new(e),
    })?;
    let localhost_seccomp = match security::seccomp_choice(security)? {
        security::SeccompChoice::Localhost(path) => {
            let bytes = std::fs::read(&path).map_err(|e| {
                Error::InvalidArgument(format!("seccomp Localhost profile {path}: {e}"))
            })?;
            Some(serde_json::from_slice(&bytes).map_err(|e| {
                Error::InvalidArgument(format!("seccomp Localhost profile {path}: {e}"))
            })?)
        }
        _ => None,
    };
    let privileged = security.is_some_and(|s| s.privileged);
    let devices = super::devices::resolve(config, privileged)
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let cdi =
        super::cdi::resolve(cdi_dirs, config).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    Ok(Resolved {
        users,
        localhost_seccomp,
        devices,
        pid_ns: None,
        recursive_read_only: false,
        current_capabilities: own_bounding_set(),
        cdi,
        oom_score_adj_floor: oom_score_adj_floor(),
        apparmor_profile: None,
        user_ns: None,
        cgroup_v2: false,
    })
}

/// The container's AppArmor profile, chosen on the node's AppArmor
/// (`security::apparmor_profile`, which may load the default profile)
/// before anything is created: a profile the node cannot give is
/// InvalidArgument naming the field.
async fn apparmor_profile(
    node: &Arc<dyn AppArmorHost>,
    config: &cri::ContainerConfig,
) -> Result<Option<String>> {
    let node = Arc::clone(node);
    let security = config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.clone());
    crate::core::log_span::spawn_blocking(move || {
        let security = security.as_ref();
        let privileged = security.is_some_and(|s| s.privileged);
        let choice = security::apparmor_choice(security)?;
        security::apparmor_profile(&choice, privileged, node.as_ref())
    })
    .await
    .map_err(|e| Error::task("AppArmor profile", e))?
    .map_err(|e| match e {
        security::AppArmorRefusal::Invalid { .. } => Error::InvalidArgument(e.to_string()),
        security::AppArmorRefusal::Node { .. } => Error::Other {
            context: "AppArmor on the node".to_string(),
            source: Box::new(e),
        },
    })
}

/// The daemon's own `oom_score_adj` when it lacks CAP_SYS_RESOURCE (so the
/// runtime it starts cannot go lower: runc refuses the container, which is
/// why the kubelet's -997 for Guaranteed pods needs the clamp); `None` when
/// it has the capability.
fn oom_score_adj_floor() -> Option<i32> {
    const CAP_SYS_RESOURCE: u32 = 24;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    let effective = u64::from_str_radix(hex.trim(), 16).ok()?;
    if effective & (1 << CAP_SYS_RESOURCE) != 0 {
        return None;
    }
    std::fs::read_to_string("/proc/self/oom_score_adj")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The daemon's capability bounding set (`CapBnd:` of /proc/self/status),
/// which the runtime it starts inherits.
fn own_bounding_set() -> Option<oci_spec::runtime::Capabilities> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
    let mask = u64::from_str_radix(hex.trim(), 16).ok()?;
    Some(super::spec::process::capabilities_from_mask(mask))
}

/// What a failing CreateContainer has to take back, newest first.
#[derive(Default)]
struct Undo {
    dir: Option<PathBuf>,
    rootfs: Option<PathBuf>,
    shim_dir: Option<PathBuf>,
    shim: Option<Box<dyn Shim>>,
}

impl Undo {
    async fn run(self, id: &ContainerId, images: &Arc<ImageStore>) {
        if let Some(shim) = self.shim
            && let Err(e) = shim.delete(true).await.map_err(Error::of_shim(shim.id()))
        {
            tracing::warn!("undo: deleting shim: {}", e.chain());
        }
        if let Some(dir) = self.shim_dir
            && let Err(e) = remove_dir(&dir)
        {
            tracing::warn!("undo: {}", e.chain());
        }
        if let Some(rootfs) = self.rootfs {
            let (images, cid) = (Arc::clone(images), id.to_string());
            let result =
                crate::core::log_span::spawn_blocking(move || images.remove_rootfs(&cid, &rootfs))
                    .await;
            if !matches!(result, Ok(Ok(()))) {
                // Never delete the bundle through a still-mounted overlay.
                tracing::error!("undo: removing rootfs failed, keeping the bundle: {result:?}");
                return;
            }
        }
        if let Some(dir) = self.dir
            && let Err(e) = remove_dir(&dir)
        {
            tracing::warn!("undo: {}", e.chain());
        }
    }
}
