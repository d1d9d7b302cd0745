//! Whether a test may run on this host, and what a skip means.
//!
//! Cradle's tests need root (namespaces, mounts, cgroups) and a few tools
//! (docker-registry, skopeo, runc, the CNI plugins). A developer without
//! them sees the test skip with the reason; CI sets
//! [`REQUIRE_ALL`](REQUIRE_ALL_VAR) so that a skip fails the test instead, and
//! a missing install step can never turn CI green.
//!
//! A test that depends on what the *host* offers (a cgroup controller, a
//! kernel feature) does not skip: it detects the host's capability and
//! asserts the behaviour for that case, the refusal included.

use std::fmt::Display;

/// Set (to anything but `0` or empty) by `.ci/run`: every skip fails.
pub const REQUIRE_ALL_VAR: &str = "CRADLE_TESTS_REQUIRE_ALL";

/// Whether skips are failures in this run.
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Records that the calling test cannot run here; the caller then returns.
/// Under [`REQUIRE_ALL_VAR`] this panics instead, failing the test.
#[track_caller]
pub fn skip(reason: impl Display) {
    let at = std::panic::Location::caller();
    if require_all() {
        panic!("{at}: would skip ({reason}), and {REQUIRE_ALL_VAR} forbids skipping");
    }
    eprintln!("SKIPPED ({at}): {reason}");
}

/// True when running as root; otherwise [`skip`]s and returns false.
#[track_caller]
pub fn root_or_skip() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        skip("needs root (namespaces, mounts, cgroups)");
    }
    root
}

/// True when every path in `tools` exists; otherwise [`skip`]s naming the
/// first missing one and returns false.
#[track_caller]
pub fn tools_or_skip(tools: &[&str]) -> bool {
    match tools.iter().find(|t| !std::path::Path::new(t).exists()) {
        Some(missing) => {
            skip(format!("{missing} is missing (run hack/install-deps.sh)"));
            false
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_all_reads_the_variable() {
        // The variable is process-wide: test both cases in one test.
        // SAFETY: no other test of this crate reads or writes the environment.
        unsafe { std::env::set_var(REQUIRE_ALL_VAR, "1") };
        assert!(require_all());
        assert!(std::panic::catch_unwind(|| skip("a reason")).is_err());
        // SAFETY: as above, no other thread touches the environment.
        unsafe { std::env::set_var(REQUIRE_ALL_VAR, "0") };
        assert!(!require_all());
        skip("a reason");
        // SAFETY: as above, no other thread touches the environment.
        unsafe { std::env::remove_var(REQUIRE_ALL_VAR) };
        assert!(!require_all());
        assert!(tools_or_skip(&["/"]));
        assert!(!tools_or_skip(&["/no/such/tool"]));
    }
}
