//! `cradled`, Cradle's CRI runtime daemon.
//!
//! This crate owns the node-facing side of Cradle: the CRI v1 gRPC services the
//! kubelet calls ([`cri`]), the pod sandbox and container managers that hold the
//! lifecycle state machines ([`pods`], [`containers`]), the crash-safe metadata
//! store ([`store`]), the client of the per-container shims ([`shim_client`]) and
//! the recovery that reattaches to live shims after a restart ([`recovery`]),
//! and the HTTP server that carries exec, attach and port-forward sessions over
//! SPDY/3.1 and WebSocket ([`streaming`]), and the root-only admin socket
//! through which `cradlectl` imports and exports image archives and follows
//! pull progress ([`admin`]). Every container and every pod's
//! pause process is owned by a `cradle-shim`, which outlives the daemon; only
//! short-lived exec processes (ExecSync, streaming exec) are started by the
//! daemon itself, through the OCI runtime's `exec`. Images
//! come from `cradle-snapshotter`, network configuration from `cradle-cni`.
//! The CRI handlers are thin (validation and status mapping); the managers hold
//! the logic and are driven directly by the tests.

pub mod admin;
pub mod config;
pub mod containers;
pub mod cri;
pub mod error;
pub mod events;
pub mod fault;
/// Streaming parsers' checks for the fuzz targets and the corpus replay tests.
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod images;
pub mod index;
pub mod names;
pub mod pods;
pub mod reaper;
pub mod recovery;
pub mod runtime;
pub mod server;
pub mod shim_client;
pub mod sockets;
pub mod stats;
pub mod store;
pub mod streaming;
pub mod sweep;
pub mod time;

pub use error::Error;
