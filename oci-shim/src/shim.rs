//! `cradle-shim`: the per-container (and per-pod) monitor.
//!
//! One shim runs for every container and for every pod sandbox. It is started
//! by `cradled`, detaches into its own session (so it survives daemon restarts),
//! becomes a child subreaper, and then:
//! - container mode: runs `<runtime> create`, owns the container's stdout and
//!   stderr pipes (or, for a tty container, the pty master the runtime sends
//!   to its console socket) and writes them to the CRI log file, serves
//!   attach clients (output, stdin, terminal resizes), reaps the init;
//! - sandbox mode: forks the built-in pause process inside the pod's pinned
//!   namespaces and cgroup (it re-executes the shim's binary as a bare
//!   `pause` in an empty root, see [`pause`]), and reaps it.
//!
//! In both modes it answers the daemon over the line protocol of
//! [`cradle_proto::shim`] on `<state-dir>/shim.sock`, and records the exit in
//! `<state-dir>/exit.json`. It is single-threaded: one `poll(2)` loop over the
//! socket, the client connections, the stdio pipes and a signalfd.
//!
//! It never links the daemon and never runs an async runtime.

pub mod args;
pub mod attach;
pub mod console;
pub mod container;
pub mod daemonize;
pub mod error;
pub mod logger;
pub mod monitor;
pub mod oom;
pub mod pause;
pub mod pause_image;
pub mod pidns;
pub mod pod_cgroup;
pub mod reaper;
pub mod requests;
pub mod rollback;
pub mod runtime;
pub mod runtime_log;
pub mod sandbox;
pub mod server;
pub mod signals;
pub mod state;
pub mod stdin;
pub mod stdio;

pub use error::ShimError;
