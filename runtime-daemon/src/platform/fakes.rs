//! Recording fakes of the platform seams ([`super::shims`],
//! [`super::pinning`], [`super::networking`]), so the managers' logic is
//! tested without root, a shim binary or CNI plugins. Every fake writes its
//! calls into one shared [`Journal`], in order ("pin <sandbox>", "attach
//! <sandbox>", "spawn sandbox <id>", "kill <id> <signal>", ...), and fails
//! any step the test names with [`Journal::fail`].

use super::cni::NetworkError;
use super::namespaces::{NsError, PinRequest, Pins};
use super::networking::PodNetworking;
use super::pinning::NamespacePinner;
use super::shim_error::{Result, ShimError};
use super::shims::{Shim, Shims};
use crate::core::ids::{SandboxId, ShimId};
use async_trait::async_trait;
use cradle_cni::PodNetwork;
use cradle_proto::shim::{ExitRecord, ProcessStatus, ShimState};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Nanoseconds since the epoch, as the shims stamp their records (the
/// core's clock, without naming the core).
fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Locks `mutex`, whatever a panicking test left in it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The calls of every fake, in order, and the steps told to fail.
#[derive(Debug, Default)]
pub struct Journal {
    calls: Mutex<Vec<String>>,
    failing: Mutex<HashSet<String>>,
}

impl Journal {
    /// Records `call`; `Err` when its step (the first word) is told to fail.
    fn enter(&self, call: String) -> std::result::Result<(), String> {
        let step = call.split(' ').next().unwrap_or_default().to_string();
        lock(&self.calls).push(call.clone());
        if lock(&self.failing).contains(&step) {
            Err(format!("injected failure of {call}"))
        } else {
            Ok(())
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }

    /// The calls whose step is one of `steps`, in order.
    pub fn only(&self, steps: &[&str]) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| steps.iter().any(|s| c.split(' ').next() == Some(s)))
            .collect()
    }

    /// The step (first word) of every call so far, in order.
    pub fn verbs(&self) -> Vec<String> {
        self.calls()
            .iter()
            .filter_map(|c| c.split(' ').next())
            .map(str::to_string)
            .collect()
    }

    /// Forgets the calls so far.
    pub fn clear(&self) {
        lock(&self.calls).clear();
    }

    /// Makes every later call of `step` ("spawn", "attach", "pin", ...) fail.
    pub fn fail(&self, step: &str) {
        lock(&self.failing).insert(step.to_string());
    }

    /// Lets `step` succeed again.
    pub fn heal(&self, step: &str) {
        lock(&self.failing).remove(step);
    }
}

/// The id a pin directory or a pinned namespace belongs to (`.../ns/<id>[/net]`).
fn sandbox_of(path: &Path) -> String {
    let dir = if matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("net" | "ipc" | "uts")
    ) {
        path.parent().unwrap_or(path)
    } else {
        path
    };
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Pins as plain files: `pin` creates `<dir>/{net,ipc,uts}` as asked,
/// `unpin` deletes them, so what is left on disk can be checked too.
#[derive(Debug)]
pub struct FakePinner {
    journal: Arc<Journal>,
}

impl FakePinner {
    /// A pinner recording into `journal`.
    pub fn new(journal: Arc<Journal>) -> Self {
        FakePinner { journal }
    }
}

impl NamespacePinner for FakePinner {
    fn pin(&self, dir: &Path, request: &PinRequest) -> std::result::Result<Pins, NsError> {
        let io = |op, path: &Path, source| NsError::Io {
            op,
            path: path.to_path_buf(),
            source,
        };
        self.journal
            .enter(format!("pin {}", sandbox_of(dir)))
            .map_err(|e| io("pinning", dir, std::io::Error::other(e)))?;
        std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
        let mut pins = Pins {
            dir: dir.to_path_buf(),
            ..Pins::default()
        };
        for (kind, wanted, slot) in [
            ("net", request.net, &mut pins.net),
            ("ipc", request.ipc, &mut pins.ipc),
            ("uts", request.uts, &mut pins.uts),
        ] {
            if wanted {
                let path = dir.join(kind);
                std::fs::write(&path, "").map_err(|e| io("creating pin file", &path, e))?;
                *slot = Some(path);
            }
        }
        Ok(pins)
    }

    fn unpin(&self, pins: &Pins) -> std::result::Result<(), NsError> {
        self.journal
            .enter(format!("unpin {}", sandbox_of(&pins.dir)))
            .map_err(|e| NsError::Io {
                op: "unpinning",
                path: pins.dir.clone(),
                source: std::io::Error::other(e),
            })?;
        for path in [&pins.net, &pins.ipc, &pins.uts].into_iter().flatten() {
            let _ = std::fs::remove_file(path);
        }
        let _ = std::fs::remove_dir(&pins.dir);
        Ok(())
    }
}

/// A CNI network that hands out one address per attached pod, or (when
/// unconfigured) leaves pods on loopback only.
#[derive(Debug)]
pub struct FakeNetwork {
    journal: Arc<Journal>,
    attached: Mutex<BTreeSet<String>>,
    cached: Mutex<HashMap<String, Vec<String>>>,
    unconfigured: Mutex<bool>,
}

impl FakeNetwork {
    /// A configured network recording into `journal`.
    pub fn new(journal: Arc<Journal>) -> Self {
        FakeNetwork {
            journal,
            attached: Mutex::default(),
            cached: Mutex::default(),
            unconfigured: Mutex::new(false),
        }
    }

    /// The sandboxes attached now.
    pub fn attached(&self) -> Vec<String> {
        lock(&self.attached).iter().cloned().collect()
    }

    /// Marks `sandbox` attached (as a daemon before a restart left it),
    /// with `ips` in the result cache.
    pub fn plant(&self, sandbox: &SandboxId, ips: &[&str]) {
        lock(&self.attached).insert(sandbox.to_string());
        let ips = ips.iter().map(|ip| ip.to_string()).collect();
        lock(&self.cached).insert(sandbox.to_string(), ips);
    }

    /// Removes the CNI configuration: pods keep only loopback.
    pub fn unconfigure(&self) {
        *lock(&self.unconfigured) = true;
    }

    fn enter(&self, call: String) -> std::result::Result<(), NetworkError> {
        self.journal
            .enter(call.clone())
            .map_err(|e| NetworkError::Port(call, e))
    }
}

/// The address the fake network gives to a pod.
pub const POD_IP: &str = "10.88.0.7";

impl PodNetworking for FakeNetwork {
    fn attach(&self, pod: &PodNetwork) -> std::result::Result<Option<Vec<String>>, NetworkError> {
        self.enter(format!("attach {}", pod.sandbox_id))?;
        if *lock(&self.unconfigured) {
            return Ok(None);
        }
        lock(&self.attached).insert(pod.sandbox_id.clone());
        let ips = vec![POD_IP.to_string()];
        lock(&self.cached).insert(pod.sandbox_id.clone(), ips.clone());
        Ok(Some(ips))
    }

    fn detach(&self, pod: &PodNetwork) -> std::result::Result<(), NetworkError> {
        self.enter(format!("detach {}", pod.sandbox_id))?;
        lock(&self.attached).remove(&pod.sandbox_id);
        lock(&self.cached).remove(&pod.sandbox_id);
        Ok(())
    }

    fn apply_sysctls(
        &self,
        netns: &Path,
        sysctls: &[(String, String)],
    ) -> std::result::Result<(), NetworkError> {
        let keys: Vec<&str> = sysctls.iter().map(|(k, _)| k.as_str()).collect();
        self.enter(format!("sysctls {} {}", sandbox_of(netns), keys.join(",")))
    }

    fn cached_ips(
        &self,
        sandbox_id: &SandboxId,
    ) -> std::result::Result<Option<Vec<String>>, NetworkError> {
        self.enter(format!("cached_ips {sandbox_id}"))?;
        Ok(lock(&self.cached).get(sandbox_id.as_str()).cloned())
    }

    fn gc(&self, live_sandboxes: &[String]) -> std::result::Result<(), NetworkError> {
        self.enter(format!("gc {}", live_sandboxes.join(",")))?;
        lock(&self.attached).retain(|id| live_sandboxes.contains(id));
        Ok(())
    }

    fn status(&self) -> std::result::Result<Option<()>, NetworkError> {
        self.enter("status".to_string())?;
        Ok((!*lock(&self.unconfigured)).then_some(()))
    }
}

/// One fake shim and the process it watches.
#[derive(Debug, Clone)]
struct Process {
    alive: bool,
    status: ProcessStatus,
    started_at: Option<i64>,
    exit: Option<ExitRecord>,
    /// What it left in its state dir (`exit.json`), for a lost shim.
    left: Option<ExitRecord>,
    /// Signals the process ignores.
    ignores: Vec<i32>,
}

/// Every fake shim, shared by the spawner and the connections.
#[derive(Debug, Default)]
struct World {
    processes: Mutex<HashMap<String, Process>>,
    changed: Notify,
}

impl World {
    fn with<T>(&self, id: &str, f: impl FnOnce(Option<&mut Process>) -> T) -> T {
        let mut processes = lock(&self.processes);
        let out = f(processes.get_mut(id));
        drop(processes);
        self.changed.notify_waiters();
        out
    }
}

/// An exit record of a process ended by `signal` (0: exited with `code`).
pub fn exit_record(code: i32, signal: Option<i32>) -> ExitRecord {
    ExitRecord {
        exit_code: code,
        signal,
        exited_at_ns: now_ns(),
        oom_killed: false,
        message: String::new(),
    }
}

/// Shims that live in memory: spawned shims serve at once (a pause is
/// running, a container created), a kill ends the process with 128 +
/// signal, a delete ends the shim. Tests also end processes, crash shims
/// and plant the shims a previous daemon left.
#[derive(Debug)]
pub struct FakeShims {
    journal: Arc<Journal>,
    world: Arc<World>,
}

impl FakeShims {
    /// Shims recording into `journal`.
    pub fn new(journal: Arc<Journal>) -> Self {
        FakeShims {
            journal,
            world: Arc::default(),
        }
    }

    /// Plants a serving shim of `id` whose process is in `status` (what a
    /// daemon before a restart left running).
    pub fn plant(&self, id: impl AsRef<str>, status: ProcessStatus) {
        let process = Process {
            alive: true,
            status,
            started_at: (status != ProcessStatus::Created).then(now_ns),
            exit: (status == ProcessStatus::Exited).then(|| exit_record(3, None)),
            left: None,
            ignores: Vec::new(),
        };
        lock(&self.world.processes).insert(id.as_ref().to_string(), process);
    }

    /// The process of `id` exits with `code` on its own.
    pub fn exit(&self, id: impl AsRef<str>, code: i32) {
        self.world.with(id.as_ref(), |p| {
            if let Some(p) = p {
                p.status = ProcessStatus::Exited;
                p.exit = Some(exit_record(code, None));
            }
        });
    }

    /// The shim of `id` dies (its process may run on), leaving `left` as
    /// its exit record if any.
    pub fn crash(&self, id: impl AsRef<str>, left: Option<ExitRecord>) {
        self.world.with(id.as_ref(), |p| {
            if let Some(p) = p {
                p.alive = false;
                p.left = left;
            }
        });
    }

    /// The process of `id` ignores `signal`.
    pub fn ignore(&self, id: impl AsRef<str>, signal: i32) {
        self.world.with(id.as_ref(), |p| {
            if let Some(p) = p {
                p.ignores.push(signal);
            }
        });
    }

    /// Whether the shim of `id` serves.
    pub fn is_serving(&self, id: impl AsRef<str>) -> bool {
        lock(&self.world.processes)
            .get(id.as_ref())
            .is_some_and(|p| p.alive)
    }

    /// The status of the process of `id`, if a shim of it was ever known.
    pub fn status(&self, id: impl AsRef<str>) -> Option<ProcessStatus> {
        lock(&self.world.processes)
            .get(id.as_ref())
            .map(|p| p.status)
    }

    fn handle(&self, id: &ShimId) -> Box<dyn Shim> {
        Box::new(FakeShim {
            id: id.clone(),
            journal: Arc::clone(&self.journal),
            world: Arc::clone(&self.world),
        })
    }
}

#[async_trait]
impl Shims for FakeShims {
    async fn spawn(
        &self,
        id: &ShimId,
        _state_dir: &Path,
        args: Vec<OsString>,
    ) -> Result<Box<dyn Shim>> {
        let kind = args
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.journal
            .enter(format!("spawn {kind} {id}"))
            .map_err(ShimError::Refused)?;
        self.plant(
            id.as_str(),
            if kind == "sandbox" {
                ProcessStatus::Running
            } else {
                ProcessStatus::Created
            },
        );
        Ok(self.handle(id))
    }

    fn connect(&self, id: &ShimId, _state_dir: &Path) -> Box<dyn Shim> {
        self.handle(id)
    }
}

/// A connection to one fake shim.
#[derive(Debug)]
struct FakeShim {
    id: ShimId,
    journal: Arc<Journal>,
    world: Arc<World>,
}

impl FakeShim {
    /// Records `call`, fails it if told to, and fails it as the real client
    /// does when no shim serves.
    fn enter(&self, call: String) -> Result<()> {
        self.journal.enter(call).map_err(ShimError::Refused)?;
        if lock(&self.world.processes)
            .get(self.id.as_str())
            .is_some_and(|p| p.alive)
        {
            Ok(())
        } else {
            Err(self.gone())
        }
    }

    fn gone(&self) -> ShimError {
        ShimError::Connect {
            socket: PathBuf::from(format!("fake/{}/shim.sock", self.id)),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        }
    }
}

#[async_trait]
impl Shim for FakeShim {
    fn id(&self) -> &ShimId {
        &self.id
    }

    async fn is_alive(&self) -> bool {
        lock(&self.world.processes)
            .get(self.id.as_str())
            .is_some_and(|p| p.alive)
    }

    async fn state(&self) -> Result<ShimState> {
        self.enter(format!("state {}", self.id))?;
        let process = lock(&self.world.processes).get(self.id.as_str()).cloned();
        let process = process.ok_or_else(|| self.gone())?;
        Ok(ShimState {
            pid: 4242,
            status: process.status,
            started_at_ns: process.started_at,
            exit: process.exit,
        })
    }

    async fn start(&self) -> Result<()> {
        self.enter(format!("start {}", self.id))?;
        self.world.with(self.id.as_str(), |p| {
            if let Some(p) = p
                && p.status == ProcessStatus::Created
            {
                p.status = ProcessStatus::Running;
                p.started_at = Some(now_ns());
            }
        });
        Ok(())
    }

    async fn kill(&self, signal: i32, all: bool) -> Result<()> {
        let all = if all { " all" } else { "" };
        self.enter(format!("kill {} {signal}{all}", self.id))?;
        self.world.with(self.id.as_str(), |p| {
            if let Some(p) = p
                && p.status != ProcessStatus::Exited
                && !p.ignores.contains(&signal)
            {
                p.status = ProcessStatus::Exited;
                p.exit = Some(exit_record(128 + signal, Some(signal)));
            }
        });
        Ok(())
    }

    async fn wait(&self, timeout: Option<Duration>) -> Result<ExitRecord> {
        self.enter(format!("wait {}", self.id))?;
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let notified = self.world.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let process = lock(&self.world.processes).get(self.id.as_str()).cloned();
            match process {
                Some(p) if !p.alive => return Err(self.gone()),
                None => return Err(self.gone()),
                Some(p) => {
                    if let (ProcessStatus::Exited, Some(exit)) = (p.status, p.exit) {
                        return Ok(exit);
                    }
                }
            }
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, notified).await.is_err() {
                        return Err(ShimError::TimedOut {
                            request: cradle_proto::shim::Request::Wait,
                            limit: timeout.unwrap_or_default(),
                        });
                    }
                }
                None => notified.await,
            }
        }
    }

    async fn delete(&self, force: bool) -> Result<()> {
        let force = if force { " force" } else { "" };
        self.enter(format!("delete {}{force}", self.id))?;
        self.world.with(self.id.as_str(), |p| {
            if let Some(p) = p {
                p.alive = false;
                if p.status != ProcessStatus::Exited {
                    p.status = ProcessStatus::Exited;
                    p.exit = Some(exit_record(128 + libc::SIGKILL, Some(libc::SIGKILL)));
                }
            }
        });
        Ok(())
    }

    async fn reopen_log(&self) -> Result<()> {
        self.enter(format!("reopen_log {}", self.id))
    }

    fn exit_record(&self) -> Option<ExitRecord> {
        lock(&self.world.processes)
            .get(self.id.as_str())
            .and_then(|p| p.left.clone())
    }
}
