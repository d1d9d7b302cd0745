//! One end-to-end test's world: a registry with the test image, a daemon in
//! a fresh temp dir, a CRI client to it and a cgroup parent for its pods;
//! and the epilogue every such test ends with.

use crate::cgroup::CgroupParent;
use crate::client::Cri;
use crate::daemon::Daemon;
use crate::registry::Registry;
use crate::steps::remove_everything;

/// A registry, a daemon, a client and a cgroup parent, started together.
/// The fields drop in declaration order: the client, then the daemon, the
/// registry and last the cgroup parent.
pub struct World {
    /// The client connected to the daemon.
    pub cri: Cri,
    /// cradled, in its own temp dir.
    pub daemon: Daemon,
    /// docker-registry serving the test image.
    pub registry: Registry,
    /// The cgroup the test's pods go under.
    pub cgroup: CgroupParent,
}

impl World {
    /// Starts everything with the daemon's default (empty) config.
    pub async fn start() -> World {
        World::start_with_config("").await
    }

    /// Starts everything with `config_toml` as the daemon's config file.
    pub async fn start_with_config(config_toml: &str) -> World {
        World::start_with(Daemon::start_with_config(config_toml)).await
    }

    /// Starts everything with a daemon whose state dir is
    /// [`crate::LONG_STATE_DIR`] bytes long.
    pub async fn start_with_long_state_dir() -> World {
        World::start_with(Daemon::start_with_long_state_dir("")).await
    }

    #[allow(
        clippy::expect_used,
        reason = "a World exists only in tests; failing to start one fails the test"
    )]
    async fn start_with(daemon: anyhow::Result<Daemon>) -> World {
        let cgroup = CgroupParent::new();
        let registry = Registry::start().expect("registry");
        let daemon = daemon.expect("cradled");
        let cri = daemon.connect().await.expect("connect");
        World {
            cri,
            daemon,
            registry,
            cgroup,
        }
    }

    /// Cleans up after a failed scenario (then panics with its error), and
    /// removes the cgroup parent, asserting that nothing was left in it.
    pub async fn finish(self, result: anyhow::Result<()>) {
        self.end(result, false).await;
    }

    /// [`World::finish`], with the daemon's log in the panic message.
    pub async fn finish_with_log(self, result: anyhow::Result<()>) {
        self.end(result, true).await;
    }

    async fn end(mut self, result: anyhow::Result<()>, with_log: bool) {
        if let Err(e) = result {
            remove_everything(&mut self.cri).await;
            if with_log {
                panic!("{e:#}\n--- cradled log ---\n{}", self.daemon.log());
            }
            panic!("{e:#}");
        }
        let errors = self.cgroup.remove();
        assert!(errors.is_empty(), "cgroup parent removal: {errors:?}");
    }
}
