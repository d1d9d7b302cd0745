//! Fault points of a pod's network set-up, for the daemon's crash tests.
//!
//! The client does not decide what happens at a fault point: the daemon
//! (in debug builds) installs a hook that aborts the process when the point
//! is the one its crash test names (`cradle-daemon`'s `fault` module lists
//! every step). Without a hook, as in release builds and in this crate's
//! own tests, a point does nothing.

use std::sync::OnceLock;

/// What runs at each point: given the step's name.
pub type Hook = fn(&'static str);

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Installs the hook; only the first call counts (one per process).
pub fn set_hook(hook: Hook) {
    let _ = HOOK.set(hook);
}

/// Reached step `step` of a CNI call.
pub(crate) fn point(step: &'static str) {
    if let Some(hook) = HOOK.get() {
        hook(step);
    }
}
