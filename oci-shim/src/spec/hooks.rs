//! `hooks`: the commands run at each point of the lifecycle.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The hooks of every phase, each run in order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    /// Deprecated by the spec, still run (as runc does) with createRuntime.
    pub prestart: Option<Vec<Hook>>,
    /// Run by `create` in the runtime's namespaces, before pivot_root.
    pub create_runtime: Option<Vec<Hook>>,
    /// Run by the init in the container's namespaces, before pivot_root.
    pub create_container: Option<Vec<Hook>>,
    /// Run by the init just before it execs the process.
    pub start_container: Option<Vec<Hook>>,
    /// Run by `start` once the process runs.
    pub poststart: Option<Vec<Hook>>,
    /// Run by `delete`; failures are only logged.
    pub poststop: Option<Vec<Hook>>,
}

/// One hook command; also kept in the container's state record, for the
/// hooks that run after create (poststart, poststop).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    /// The executable, absolute on the runtime's side (required).
    pub path: PathBuf,
    /// The full argv, `args[0]` included.
    pub args: Option<Vec<String>>,
    /// The whole environment (nothing is inherited).
    pub env: Option<Vec<String>>,
    /// Seconds before the hook is killed; none or non-positive: no limit.
    pub timeout: Option<i64>,
}
