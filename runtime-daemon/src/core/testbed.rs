//! A daemon context for the managers' tests without root: metadata and
//! image stores in a temp dir, and the platform seams replaced by the
//! recording fakes of [`crate::platform::fakes`], sharing one journal.
//! Also what the pod, container and runtime tests all build on it: the
//! configs a kubelet sends, sandboxes and containers planted in the store
//! as a daemon (or CreateContainer) left them, and readers of the store and
//! the journal.

use crate::containers::{ContainerManager, ContainerRecord, ContainerState};
use crate::core::config::Config;
use crate::core::context::{Context, Platform};
use crate::core::ids::{ContainerId, SandboxId};
use crate::core::store::Kind;
use crate::platform::fakes::{FakeNetwork, FakePinner, FakeShims, Journal};
use crate::pods::{SandboxRecord, SandboxState};
use cradle_proto::cri;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The image every planted container runs: one no image store holds.
const ABSENT_IMAGE: &str = "example.com/absent:1";

/// A pod's config as the kubelet sends it: name, uid and namespace only.
pub fn pod_config(name: &str) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        }),
        ..Default::default()
    }
}

/// A container's config on an image no store holds.
pub fn container_config(name: &str) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: ABSENT_IMAGE.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Waits (bounded) until container `id` is in `state`; its record then.
pub async fn until_state(
    containers: &ContainerManager,
    id: &ContainerId,
    state: ContainerState,
) -> ContainerRecord {
    for _ in 0..500 {
        let record = containers.get(id).unwrap();
        if record.state == state {
            return record;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "container never reached {state:?}: {:?}",
        containers.get(id).unwrap()
    );
}

/// A context over fakes, and the handles to steer and inspect them.
pub struct TestBed {
    /// Holds the root and state dirs.
    pub dir: tempfile::TempDir,
    /// The context the managers under test share.
    pub ctx: Arc<Context>,
    /// Every platform call, in order.
    pub journal: Arc<Journal>,
    /// The fake shims.
    pub shims: Arc<FakeShims>,
    /// The fake CNI network.
    pub network: Arc<FakeNetwork>,
}

impl TestBed {
    /// A fresh root and state dir with no object.
    pub fn new() -> Self {
        Self::configured(|_| {})
    }

    /// As [`TestBed::new`], with `edit` applied to the configuration.
    pub fn configured(edit: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = Arc::new(Journal::default());
        let shims = Arc::new(FakeShims::new(Arc::clone(&journal)));
        let network = Arc::new(FakeNetwork::new(Arc::clone(&journal)));
        let ctx = Self::context(&dir, &journal, &shims, &network, edit);
        TestBed {
            dir,
            ctx,
            journal,
            shims,
            network,
        }
    }

    fn context(
        dir: &tempfile::TempDir,
        journal: &Arc<Journal>,
        shims: &Arc<FakeShims>,
        network: &Arc<FakeNetwork>,
        edit: impl FnOnce(&mut Config),
    ) -> Arc<Context> {
        let mut config = Config {
            socket: dir.path().join("cradle.sock"),
            root: dir.path().join("root"),
            state_dir: dir.path().join("state"),
            cni_conf_dir: dir.path().join("cni"),
            shim_path: Some(PathBuf::from("/nonexistent/cradle-shim")),
            // The lost-shim path runs `<runtime> delete --force`: one that
            // succeeds and touches nothing.
            oci_runtime_path: Some(PathBuf::from("/bin/true")),
            default_cgroup_parent: "/cradle-unit-test".into(),
            cdi_spec_dirs: Vec::new(),
            ..Config::default()
        };
        edit(&mut config);
        let platform = Platform {
            shims: Arc::clone(shims) as _,
            namespaces: Arc::new(FakePinner::new(Arc::clone(journal))),
            network: Arc::clone(network) as _,
            apparmor: Arc::new(crate::platform::apparmor::NoAppArmor),
        };
        Arc::new(Context::open_with(config, platform).expect("context over fakes"))
    }

    /// How many entries `sub` (relative to the temp dir) holds.
    pub fn entries(&self, sub: &str) -> usize {
        std::fs::read_dir(self.dir.path().join(sub))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// The platform calls made for object `id`, with the id dropped.
    pub fn steps(&self, id: impl AsRef<str>) -> Vec<String> {
        let id = id.as_ref();
        self.journal
            .calls()
            .into_iter()
            .filter(|c| c.contains(id))
            .map(|c| c.replace(&format!(" {id}"), ""))
            .collect()
    }

    /// Every record of `kind` in the store, with its id.
    pub fn stored<R: DeserializeOwned>(&self, kind: Kind) -> Vec<(String, R)> {
        self.ctx.store.load_all(kind).unwrap()
    }

    /// The stored record of container `id`, if any.
    pub fn stored_container(&self, id: &ContainerId) -> Option<ContainerRecord> {
        self.stored(Kind::Container)
            .into_iter()
            .find(|(k, _)| k == id.as_str())
            .map(|(_, r)| r)
    }

    /// Stores `record` of `kind` under `id` and makes its shim dir.
    fn plant<R: Serialize>(&self, kind: Kind, id: &str, record: &R, shim_dir: &Path) {
        self.ctx.store.put(kind, id, record).unwrap();
        std::fs::create_dir_all(shim_dir).unwrap();
    }

    /// A container of `sandbox` in `state` in the store, with its shim
    /// dir: what CreateContainer (and Start), or a daemon before a
    /// restart, left.
    pub fn plant_container(
        &self,
        sandbox: &SandboxId,
        name: &str,
        state: ContainerState,
    ) -> ContainerId {
        let id = ContainerId::new(crate::core::ids::generate());
        let record = ContainerRecord {
            id: id.to_string(),
            sandbox_id: sandbox.to_string(),
            config: container_config(name),
            image_name: ABSENT_IMAGE.into(),
            image_id: "sha256:absent".into(),
            state,
            created_at: crate::core::time::now_ns(),
            started_at: 0,
            finished_at: 0,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            log_path: None,
            dir: self.ctx.container_dir(&id),
            shim_dir: self.ctx.shim_dir(&id),
            runtime_handler: "cradle-oci".into(),
            stop_signal: libc::SIGTERM,
            cgroup_path: format!("/cradle-unit-test/{id}"),
            user: None,
            start_error: None,
        };
        self.plant(Kind::Container, id.as_str(), &record, &record.shim_dir);
        id
    }

    /// A ready sandbox in the store, with its shim dir and a pinned network
    /// namespace (`attached` to the CNI network or not), as RunPodSandbox
    /// records it.
    pub fn plant_sandbox(&self, name: &str, attached: bool) -> SandboxId {
        let id = SandboxId::new(crate::core::ids::generate());
        let record = SandboxRecord {
            id: id.to_string(),
            config: pod_config(name),
            runtime_handler: String::new(),
            state: SandboxState::Ready,
            created_at: crate::core::time::now_ns(),
            pins: crate::platform::namespaces::Pins {
                dir: self.ctx.ns_dir(&id),
                net: Some(self.ctx.ns_dir(&id).join("net")),
                ..Default::default()
            },
            shim_dir: self.ctx.shim_dir(&id),
            cgroup_path: format!("/cradle-unit-test/{id}"),
            ips: Vec::new(),
            network_attached: attached,
        };
        self.plant(Kind::Sandbox, id.as_str(), &record, &record.shim_dir);
        id
    }
}
