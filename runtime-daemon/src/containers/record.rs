//! The persisted record of one container.

use super::stop_signal::cri_signal;
use crate::core::events::ContainerEvent;
use crate::core::ids::{ContainerId, SandboxId};
use crate::core::log_span;
use cradle_proto::cri;
use cradle_proto::shim::ExitRecord;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The annotation carrying the pod spec's terminationMessagePath.
pub const TERMINATION_PATH_ANNOTATION: &str = "io.kubernetes.container.terminationMessagePath";
/// The kubelet's default termination message path.
pub const DEFAULT_TERMINATION_PATH: &str = "/dev/termination-log";
/// At most this much of the termination message is kept (the kubelet's limit).
pub const MAX_TERMINATION_MESSAGE: u64 = 4096;
/// The reason of a container whose process could not be started
/// (containerd's `errorStartReason`).
pub const REASON_CANNOT_RUN: &str = "ContainerCannotRun";
/// Its exit code (containerd's `errorStartExitCode`).
pub const EXIT_CODE_CANNOT_RUN: i32 = 128;

/// CRI container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerState {
    /// Created (the shim holds the process, not yet started).
    Created,
    /// Started and not yet seen to exit.
    Running,
    /// The process ended (or could not run, or was lost); final.
    Exited,
    /// The CRI's unknown state; the daemon records none today, it is kept
    /// so every CRI state has a counterpart.
    Unknown,
}

impl ContainerState {
    /// The CRI enum value reported for this state.
    pub fn to_cri(self) -> cri::ContainerState {
        match self {
            ContainerState::Created => cri::ContainerState::ContainerCreated,
            ContainerState::Running => cri::ContainerState::ContainerRunning,
            ContainerState::Exited => cri::ContainerState::ContainerExited,
            ContainerState::Unknown => cri::ContainerState::ContainerUnknown,
        }
    }
}

/// Everything the daemon keeps about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// The container id the daemon generated.
    pub id: String,
    /// The id of the pod sandbox it belongs to.
    pub sandbox_id: String,
    /// The CreateContainer request's config, as received, except that
    /// each image volume's `image.image_ref` holds the id of the image it
    /// mounts (`sha256:<config digest>`), resolved at create: what
    /// ContainerStatus reports, and what keeps that image from removal,
    /// across restarts too.
    pub config: cri::ContainerConfig,
    /// The image as the kubelet named it.
    pub image_name: String,
    /// `sha256:<config digest>`.
    pub image_id: String,
    /// Where the container is in its lifecycle.
    pub state: ContainerState,
    /// When CreateContainer made it (ns since the epoch).
    pub created_at: i64,
    /// When its process started (ns since the epoch; 0 if it never ran).
    pub started_at: i64,
    /// When it ended (ns since the epoch; 0 while not exited).
    pub finished_at: i64,
    /// The process's exit code once exited.
    pub exit_code: i32,
    /// A one-word reason for the exit (`Completed`, `Error`, `OOMKilled`,
    /// `REASON_CANNOT_RUN`, `Unknown`), for ContainerStatus.
    pub reason: String,
    /// The human-readable detail of the exit, for ContainerStatus.
    pub message: String,
    /// Full path of the CRI log file, if the kubelet asked for one.
    pub log_path: Option<PathBuf>,
    /// `<root>/containers/<id>`; the bundle is `bundle/` below it.
    pub dir: PathBuf,
    /// The state dir of the shim serving the container (its socket and logs).
    pub shim_dir: PathBuf,
    /// Handler name (`cradle-oci`, `runc`).
    pub runtime_handler: String,
    /// Signal number StopContainer sends first: the config's stop_signal,
    /// else the image's STOPSIGNAL, else SIGTERM (`stop_signal::stop_signal`).
    pub stop_signal: i32,
    /// The container's cgroup (`<parent>/<id>`), relative to each hierarchy's root.
    #[serde(default)]
    pub cgroup_path: String,
    /// The identity the process starts with (uid, gid, groups), as resolved
    /// at create, for ContainerStatus.user.
    #[serde(default)]
    pub user: Option<cri::ContainerUser>,
    /// Why the OCI runtime could not create the process (e.g. the command
    /// is not in the image). CreateContainer still succeeds, as with
    /// containerd (which runs the runtime only at start); StartContainer
    /// then fails and the container ends as `REASON_CANNOT_RUN`.
    #[serde(default)]
    pub start_error: Option<String>,
}

impl ContainerRecord {
    /// The reserved name: one container per (sandbox, name, attempt).
    pub fn name_key(sandbox_id: &SandboxId, config: &cri::ContainerConfig) -> Option<String> {
        let m = config.metadata.as_ref()?;
        Some(format!("{sandbox_id}_{}_{}", m.name, m.attempt))
    }

    /// The span of work on this container: its id and name, its pod's id,
    /// and its pod's `namespace/name` when the caller knows it (see
    /// [`crate::core::log_span`]).
    pub fn log_span(&self, pod_name: Option<&str>) -> tracing::Span {
        log_span::container(
            Some(&self.id),
            log_span::container_name(self.config.metadata.as_ref()),
            Some(&self.sandbox_id),
            pod_name,
        )
    }

    /// The container's id, typed (the record keeps it as stored text).
    pub fn typed_id(&self) -> ContainerId {
        ContainerId::new(&self.id)
    }

    /// The id of the container's sandbox, typed.
    pub fn typed_sandbox_id(&self) -> SandboxId {
        SandboxId::new(&self.sandbox_id)
    }

    /// The OCI bundle dir (`config.json` and `rootfs/`).
    pub fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    /// The container's root filesystem inside its bundle.
    pub fn rootfs(&self) -> PathBuf {
        self.bundle().join("rootfs")
    }

    /// Records how the process ended (idempotent: the first exit wins).
    pub fn apply_exit(&mut self, exit: &ExitRecord) {
        if self.state == ContainerState::Exited {
            return;
        }
        self.state = ContainerState::Exited;
        self.exit_code = exit.exit_code;
        self.finished_at = exit.exited_at_ns;
        if !exit.message.is_empty() {
            self.message = exit.message.clone();
        }
        self.reason = if exit.oom_killed {
            "OOMKilled"
        } else if exit.exit_code == 0 {
            "Completed"
        } else {
            "Error"
        }
        .to_string();
    }

    /// The host file behind the container's termination message path (the
    /// kubelet mounts it at `io.kubernetes.container.terminationMessagePath`,
    /// `/dev/termination-log` by default).
    pub fn termination_log(&self) -> Option<PathBuf> {
        let dest = self
            .config
            .annotations
            .get(TERMINATION_PATH_ANNOTATION)
            .map(String::as_str)
            .unwrap_or(DEFAULT_TERMINATION_PATH);
        self.config
            .mounts
            .iter()
            .find(|m| m.container_path == dest && !m.host_path.is_empty())
            .map(|m| PathBuf::from(&m.host_path))
    }

    /// Marks the container exited because its process could not be
    /// started; `started_at` stays 0 (it never ran). Idempotent.
    pub fn apply_cannot_run(&mut self, message: &str) {
        if self.state == ContainerState::Exited {
            return;
        }
        self.state = ContainerState::Exited;
        self.exit_code = EXIT_CODE_CANNOT_RUN;
        self.finished_at = crate::core::time::now_ns();
        self.reason = REASON_CANNOT_RUN.to_string();
        self.message = message.to_string();
    }

    /// Marks the container exited when nobody knows how it ended (one whose
    /// process could never be created ended as `REASON_CANNOT_RUN`).
    pub fn apply_lost(&mut self, message: &str) {
        if self.state == ContainerState::Exited {
            return;
        }
        if let Some(why) = self.start_error.clone() {
            self.apply_cannot_run(&why);
            return;
        }
        self.state = ContainerState::Exited;
        self.exit_code = 255;
        self.finished_at = crate::core::time::now_ns();
        self.reason = "Unknown".to_string();
        self.message = message.to_string();
    }

    /// How this container uses image `image_id`, if it does: as its
    /// rootfs, or as the image volume at a path (for RemoveImage's
    /// refusal).
    pub fn image_use(&self, image_id: &str) -> Option<String> {
        if self.image_id == image_id {
            return Some("its rootfs".to_string());
        }
        self.config
            .mounts
            .iter()
            .find(|m| m.image.as_ref().is_some_and(|i| i.image_ref == image_id))
            .map(|m| format!("its image volume at {}", m.container_path))
    }

    fn image_spec(&self) -> cri::ImageSpec {
        let mut spec = self.config.image.clone().unwrap_or_default();
        spec.image = self.image_name.clone();
        spec
    }

    /// The lifecycle event of the transition to `kind` that just happened,
    /// stamped now and carrying the status right after it.
    pub fn event(&self, kind: cri::ContainerEventType) -> ContainerEvent {
        ContainerEvent {
            container_id: self.id.clone(),
            sandbox_id: self.sandbox_id.clone(),
            kind,
            at: crate::core::time::now_ns(),
            status: self.to_status(),
        }
    }

    /// ContainerStatus.status.
    pub fn to_status(&self) -> cri::ContainerStatus {
        cri::ContainerStatus {
            id: self.id.clone(),
            metadata: self.config.metadata.clone(),
            state: self.state.to_cri() as i32,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            exit_code: self.exit_code,
            image: Some(self.image_spec()),
            image_ref: self.image_id.clone(),
            image_id: self.image_id.clone(),
            reason: self.reason.clone(),
            message: self.message.clone(),
            labels: self.config.labels.clone(),
            annotations: self.config.annotations.clone(),
            mounts: self.config.mounts.clone(),
            log_path: self
                .log_path
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            resources: self
                .config
                .linux
                .as_ref()
                .and_then(|l| l.resources.clone())
                .map(|linux| cri::ContainerResources {
                    linux: Some(linux),
                    windows: None,
                }),
            user: self.user.clone(),
            // The signal StopContainer sends, as the kubelet reports it in
            // the pod's status (ContainerStopSignals).
            stop_signal: cri_signal(self.stop_signal) as i32,
        }
    }

    /// ListContainers item.
    pub fn to_list_item(&self) -> cri::Container {
        cri::Container {
            id: self.id.clone(),
            pod_sandbox_id: self.sandbox_id.clone(),
            metadata: self.config.metadata.clone(),
            image: Some(self.image_spec()),
            image_ref: self.image_id.clone(),
            image_id: self.image_id.clone(),
            state: self.state.to_cri() as i32,
            created_at: self.created_at,
            labels: self.config.labels.clone(),
            annotations: self.config.annotations.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ContainerRecord {
        ContainerRecord {
            id: "c".into(),
            sandbox_id: "s".into(),
            config: cri::ContainerConfig::default(),
            image_name: "busybox".into(),
            image_id: "sha256:00".into(),
            state: ContainerState::Running,
            created_at: 1,
            started_at: 2,
            finished_at: 0,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            log_path: None,
            dir: PathBuf::from("/x"),
            shim_dir: PathBuf::from("/y"),
            runtime_handler: "cradle-oci".into(),
            stop_signal: 15,
            cgroup_path: "/cradle/c".into(),
            user: None,
            start_error: None,
        }
    }

    fn exit(code: i32, oom: bool) -> ExitRecord {
        ExitRecord {
            exit_code: code,
            signal: None,
            exited_at_ns: 5,
            oom_killed: oom,
            message: String::new(),
        }
    }

    #[test]
    fn exit_reasons_follow_code_and_oom() {
        let mut r = record();
        r.apply_exit(&exit(0, false));
        assert_eq!(
            (r.state, r.reason.as_str(), r.finished_at),
            (ContainerState::Exited, "Completed", 5)
        );
        let mut r = record();
        r.apply_exit(&exit(3, false));
        assert_eq!((r.exit_code, r.reason.as_str()), (3, "Error"));
        let mut r = record();
        r.apply_exit(&exit(137, true));
        assert_eq!(r.reason, "OOMKilled");
    }

    #[test]
    fn status_reports_the_stop_signal_stop_container_sends() {
        let mut r = record();
        assert_eq!(r.to_status().stop_signal, cri::Signal::Sigterm as i32);
        r.stop_signal = libc::SIGQUIT;
        assert_eq!(r.to_status().stop_signal, cri::Signal::Sigquit as i32);
        r.stop_signal = 40;
        assert_eq!(r.to_status().stop_signal, cri::Signal::Sigrtminplus6 as i32);
    }

    #[test]
    fn first_exit_wins() {
        let mut r = record();
        r.apply_exit(&exit(3, false));
        r.apply_exit(&exit(0, false));
        r.apply_lost("gone");
        assert_eq!((r.exit_code, r.reason.as_str()), (3, "Error"));
    }

    #[test]
    fn cannot_run_is_exit_128_with_the_runtime_message() {
        let mut r = record();
        r.state = ContainerState::Created;
        r.started_at = 0;
        r.apply_cannot_run("exec: \"nope\": executable file not found in $PATH");
        assert_eq!(
            (r.state, r.exit_code, r.reason.as_str(), r.started_at),
            (ContainerState::Exited, 128, "ContainerCannotRun", 0)
        );
        assert!(r.message.contains("executable file not found"));
        assert!(r.finished_at > 0);
        r.apply_exit(&exit(0, false));
        assert_eq!(r.exit_code, 128, "the first end wins");
    }

    #[test]
    fn termination_log_is_the_mount_at_the_annotated_path() {
        let mut r = record();
        assert_eq!(r.termination_log(), None);
        r.config.mounts = vec![cri::Mount {
            container_path: "/dev/termination-log".into(),
            host_path: "/pods/x/term".into(),
            ..Default::default()
        }];
        assert_eq!(r.termination_log(), Some(PathBuf::from("/pods/x/term")));
        r.config
            .annotations
            .insert(TERMINATION_PATH_ANNOTATION.into(), "/tmp/msg".into());
        assert_eq!(r.termination_log(), None);
    }

    fn image_volume(dest: &str, image: &str, image_ref: &str) -> cri::Mount {
        cri::Mount {
            container_path: dest.into(),
            readonly: true,
            image: Some(cri::ImageSpec {
                image: image.into(),
                image_ref: image_ref.into(),
                ..Default::default()
            }),
            image_sub_path: "bin".into(),
            ..Default::default()
        }
    }

    #[test]
    fn status_mounts_report_each_image_volumes_image_ref() {
        let mut r = record();
        r.config.mounts = vec![
            cri::Mount {
                container_path: "/data".into(),
                host_path: "/srv".into(),
                ..Default::default()
            },
            image_volume("/img", "sha256:aa", "sha256:aa"),
        ];
        let status = r.to_status();
        let img = status
            .mounts
            .iter()
            .find(|m| m.container_path == "/img")
            .and_then(|m| m.image.as_ref())
            .expect("the image volume is reported");
        assert_eq!(
            (img.image.as_str(), img.image_ref.as_str()),
            ("sha256:aa", "sha256:aa")
        );
        assert_eq!(status.mounts[1].image_sub_path, "bin");
        assert!(status.mounts[0].image.is_none());
    }

    #[test]
    fn a_record_reloaded_from_its_json_still_names_its_volumes_image() {
        let mut r = record();
        r.config.mounts = vec![image_volume("/img", "busybox:1", "sha256:bb")];
        let reloaded: ContainerRecord =
            serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(
            reloaded.image_use("sha256:bb").as_deref(),
            Some("its image volume at /img")
        );
        assert_eq!(
            reloaded.image_use("sha256:00").as_deref(),
            Some("its rootfs")
        );
        assert_eq!(reloaded.image_use("sha256:cc"), None);
        assert_eq!(
            reloaded.to_status().mounts[0]
                .image
                .as_ref()
                .map(|i| i.image_ref.as_str()),
            Some("sha256:bb")
        );
    }

    #[test]
    fn an_event_names_the_container_its_pod_and_its_status_after_the_transition() {
        let event = record().event(cri::ContainerEventType::ContainerStartedEvent);
        assert_eq!(event.kind, cri::ContainerEventType::ContainerStartedEvent);
        assert_eq!(
            (event.container_id.as_str(), event.sandbox_id.as_str()),
            ("c", "s")
        );
        assert_eq!(
            event.status.state,
            cri::ContainerState::ContainerRunning as i32
        );
        assert!(event.at > 0);
    }
}
