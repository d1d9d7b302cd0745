//! What a client may ask for, as the CRI request that minted its URL said:
//! the crate's own copies of the CRI `ExecRequest`, `AttachRequest` and
//! `PortForwardRequest` (same field names), so it needs no CRI types, and the
//! terminal size a tty client sends.

/// What to exec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// The container to run in (a full id).
    pub container_id: String,
    /// The command and its arguments; never empty.
    pub cmd: Vec<String>,
    /// Run on a terminal (stdout and stderr then are one stream).
    pub tty: bool,
    /// The client sends input.
    pub stdin: bool,
    /// The client reads output.
    pub stdout: bool,
    /// The client reads errors (never with `tty`).
    pub stderr: bool,
}

/// What to attach to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachRequest {
    /// The container whose main process to attach to (a full id).
    pub container_id: String,
    /// Attach to its terminal.
    pub tty: bool,
    /// The client sends input.
    pub stdin: bool,
    /// The client reads output.
    pub stdout: bool,
    /// The client reads errors (never with `tty`).
    pub stderr: bool,
}

/// Which pod's ports to forward.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortForwardRequest {
    /// The sandbox whose network namespace the ports are in (a full id).
    pub pod_sandbox_id: String,
    /// The ports a client may forward (the CRI's field name, singular);
    /// empty: any the client names.
    pub port: Vec<i32>,
}

/// A terminal size sent by the client (resize stream or channel 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct TerminalSize {
    /// Columns.
    #[serde(rename = "Width")]
    pub width: u16,
    /// Rows.
    #[serde(rename = "Height")]
    pub height: u16,
}
