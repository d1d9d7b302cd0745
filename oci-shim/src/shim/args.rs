//! The command line, a fixed contract with `cradled`.
//!
//! ```text
//! cradle-shim container --id ID --bundle DIR --runtime PATH --runtime-root DIR --state-dir DIR [--log-path FILE] [--stdin [--stdin-once]]
//! cradle-shim sandbox   --id ID --state-dir DIR --netns PATH --ipcns PATH --utsns PATH [--cgroup CGROUP_PATH]
//! ```

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// `cradle-shim`'s arguments.
#[derive(Debug, Parser)]
#[command(
    name = "cradle-shim",
    version,
    about = "Cradle's per-container monitor"
)]
pub struct Cli {
    #[command(subcommand)]
    pub mode: Mode,
}

/// What the shim watches.
#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Create a container with an OCI runtime and watch its init.
    Container(ContainerArgs),
    /// Run the built-in pause process of a pod sandbox and watch it.
    Sandbox(SandboxArgs),
}

/// Arguments of `cradle-shim container`.
#[derive(Debug, Clone, Args)]
pub struct ContainerArgs {
    /// Container id, passed to the runtime.
    #[arg(long)]
    pub id: String,
    /// OCI bundle directory (holds `config.json`).
    #[arg(long)]
    pub bundle: PathBuf,
    /// OCI runtime binary (`cradle-oci`, `runc`, `crun`).
    #[arg(long)]
    pub runtime: PathBuf,
    /// The runtime's `--root` state directory.
    #[arg(long)]
    pub runtime_root: PathBuf,
    /// The shim's own state directory (socket, pid files, exit record).
    #[arg(long)]
    pub state_dir: PathBuf,
    /// CRI log file; without it the container's output is drained and dropped.
    #[arg(long)]
    pub log_path: Option<PathBuf>,
    /// Give the init a stdin pipe that attach clients write to (else /dev/null).
    /// A tty container (`process.terminal` in its spec) reads its terminal
    /// instead, and attach clients write to that.
    #[arg(long)]
    pub stdin: bool,
    /// Close that pipe when the first attach that carried stdin ends (a
    /// terminal is never closed this way, as with containerd).
    #[arg(long, requires = "stdin")]
    pub stdin_once: bool,
}

/// Arguments of `cradle-shim sandbox`.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Pod sandbox id.
    #[arg(long)]
    pub id: String,
    /// The shim's own state directory (socket, pid files, exit record).
    #[arg(long)]
    pub state_dir: PathBuf,
    /// Pinned network namespace to join.
    #[arg(long)]
    pub netns: PathBuf,
    /// Pinned IPC namespace to join.
    #[arg(long)]
    pub ipcns: PathBuf,
    /// Pinned UTS namespace to join.
    #[arg(long)]
    pub utsns: PathBuf,
    /// Pod cgroup path (relative to each hierarchy's root) for the pause process.
    #[arg(long)]
    pub cgroup: Option<String>,
}
