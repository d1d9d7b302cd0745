//! Shared harness for Cradle's end-to-end tests.
//!
//! The tests drive a real `cradled` (the binary built in this workspace's
//! target directory) over its CRI socket, pull from a real registry on
//! 127.0.0.1, and run real pods. This crate owns the pieces every such test
//! needs, each a guard that cleans up on drop, even when the test fails:
//! [`Registry`] (docker-registry + the busybox test image), [`Daemon`]
//! (cradled in a fresh temp dir, restartable on the same dirs), [`Cri`] (the
//! gRPC clients over the unix socket), [`CgroupParent`] and [`leaks`] (what a
//! test left behind: mounts, namespace pins, state paths, cgroups, processes),
//! [`image_variant`] (the test image under another config, e.g. a
//! STOPSIGNAL) and [`mounts`] (shared host mounts, as the kubelet's volume
//! dirs are); [`World`] starts the usual registry + daemon + client +
//! cgroup parent together and ends a test with the usual clean-up;
//! [`containerd`] runs Debian's containerd with cradle-oci as its runc;
//! [`replay`] replays a recorded kubelet's CRI calls.
//! It never talks to anything but loopback.

mod cgroup;
mod client;
pub mod containerd;
pub mod cradlectl;
mod daemon;
pub mod image_variant;
pub mod leaks;
pub mod mounts;
mod names;
pub mod network;
mod paths;
mod registry;
pub mod replay;
pub mod steps;
pub mod streaming;
mod world;

pub use cgroup::CgroupParent;
pub use client::Cri;
pub use daemon::{Daemon, LONG_STATE_DIR};
pub use names::random_suffix;
pub use paths::{repo_root, target_bin_dir};
pub use registry::{Registry, TEST_IMAGE, test_image_layout};
pub use world::World;

use std::path::Path;

/// Why the end-to-end tests cannot run here, if they cannot: they need root
/// (namespaces, mounts, cgroups) and, when `needs_registry`, docker-registry
/// and skopeo. CI installs everything and sets `CRADLE_TESTS_REQUIRE_ALL`,
/// under which a skip fails the test (`cradle_testkit::skip`).
pub fn skip_reason(needs_registry: bool) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("end-to-end tests need root".into());
    }
    if needs_registry {
        for tool in [registry::DOCKER_REGISTRY, registry::SKOPEO] {
            if !Path::new(tool).exists() {
                return Some(format!("{tool} is missing (run hack/install-deps.sh)"));
            }
        }
    }
    None
}

/// Skips the calling test (returns early) with a message when
/// [`skip_reason`] says so; fails it instead under `CRADLE_TESTS_REQUIRE_ALL`.
#[macro_export]
macro_rules! skip_unless_ready {
    ($needs_registry:expr) => {
        if let Some(reason) = $crate::skip_reason($needs_registry) {
            $crate::skip(reason);
            return;
        }
    };
}

pub use cradle_testkit::skip;
