//! Fault injection for crash tests: the daemon aborts at a named step.
//!
//! A kubelet's call can be cut short at any point by `kill -9` of the
//! daemon; what the daemon built so far must then be taken apart at the next
//! start (recovery and the orphan sweep) or by the kubelet's retry. To test
//! that at every step, debug builds read [`ENV`] once: when it names one of
//! the [`STEPS`], the daemon calls [`std::process::abort`] (no unwinding, no
//! destructor, as a SIGKILL) the first time it reaches that step. Release
//! builds compile [`point`] to nothing and ignore the variable.
//!
//! The steps are listed here, in one place, so the end-to-end test
//! (`tests/tests/fault_injection_e2e.rs`) can iterate over all of them. The
//! image store (`cradle-snapshotter`) knows nothing of this module: the
//! daemon hands it [`point`] as its fault hook at start.

/// The environment variable naming the step at which to abort.
pub const ENV: &str = "CRADLE_FAULT";

/// Every fault-injection point, in the order a pod's life reaches them.
/// Each name is `<call>.<what is done when the daemon dies>`.
pub const STEPS: &[&str] = &[
    // PullImage (in the image store).
    "pull.manifest_fetched",
    "pull.blob_fetched",
    "pull.layer_unpacked",
    "pull.recorded",
    // RunPodSandbox.
    "run_pod.name_reserved",
    "run_pod.namespaces_pinned",
    "run_pod.files_written",
    // (in the CNI client: every plugin's ADD ran, the result is not cached yet)
    "run_pod.network_added",
    "run_pod.network_attached",
    "run_pod.sysctls_applied",
    "run_pod.shim_started",
    "run_pod.recorded",
    // CreateContainer.
    "create.rootfs_mounted",
    "create.bundle_written",
    "create.shim_started",
    "create.recorded",
    // StartContainer.
    "start.started",
    "start.recorded",
    // StopContainer.
    "stop.signalled",
    "stop.recorded",
    // RemoveContainer.
    "remove.shim_deleted",
    "remove.rootfs_removed",
    "remove.dirs_removed",
    "remove.forgotten",
    // StopPodSandbox.
    "stop_pod.network_detached",
    "stop_pod.pause_killed",
    "stop_pod.recorded",
    // RemovePodSandbox.
    "remove_pod.shim_deleted",
    "remove_pod.unpinned",
    "remove_pod.dirs_removed",
    "remove_pod.forgotten",
];

/// Aborts the daemon if [`ENV`] names `step` (debug builds only).
#[inline]
pub fn point(step: &'static str) {
    #[cfg(debug_assertions)]
    armed::check(step);
    #[cfg(not(debug_assertions))]
    let _ = step;
}

#[cfg(debug_assertions)]
mod armed {
    use std::sync::OnceLock;

    /// The step named by the environment, read once.
    fn armed() -> Option<&'static str> {
        static ARMED: OnceLock<Option<String>> = OnceLock::new();
        ARMED
            .get_or_init(|| std::env::var(super::ENV).ok().filter(|s| !s.is_empty()))
            .as_deref()
    }

    pub(super) fn check(step: &'static str) {
        debug_assert!(
            super::STEPS.contains(&step),
            "fault point {step:?} is missing from fault::STEPS"
        );
        if armed() == Some(step) {
            tracing::error!(step, "{}: aborting at this step", super::ENV);
            // As after a SIGKILL, no core file is left behind.
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: setrlimit reads the struct it is given, which lives on
            // this frame for the whole call.
            unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for step in STEPS {
            assert!(seen.insert(step), "{step} is listed twice");
            let (call, what) = step.split_once('.').expect("<call>.<what>");
            assert!(!call.is_empty() && !what.is_empty(), "{step}");
        }
    }

    #[test]
    fn an_unarmed_point_returns() {
        // The test process has no CRADLE_FAULT naming this step.
        point("pull.recorded");
    }
}
