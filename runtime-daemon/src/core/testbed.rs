//! A daemon context for the managers' tests without root: metadata and
//! image stores in a temp dir, and the platform seams replaced by the
//! recording fakes of [`crate::platform::fakes`], sharing one journal.

use crate::core::config::Config;
use crate::core::context::{Context, Platform};
use crate::platform::fakes::{FakeNetwork, FakePinner, FakeShims, Journal};
use std::path::PathBuf;
use std::sync::Arc;

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
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = Arc::new(Journal::default());
        let shims = Arc::new(FakeShims::new(Arc::clone(&journal)));
        let network = Arc::new(FakeNetwork::new(Arc::clone(&journal)));
        let ctx = Self::context(&dir, &journal, &shims, &network);
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
    ) -> Arc<Context> {
        let config = Config {
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
        let platform = Platform {
            shims: Arc::clone(shims) as _,
            namespaces: Arc::new(FakePinner::new(Arc::clone(journal))),
            network: Arc::clone(network) as _,
        };
        Arc::new(Context::open_with(config, platform).expect("context over fakes"))
    }

    /// How many entries `sub` (relative to the temp dir) holds.
    pub fn entries(&self, sub: &str) -> usize {
        std::fs::read_dir(self.dir.path().join(sub))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}
