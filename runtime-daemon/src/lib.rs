//! `cradled`, Cradle's CRI runtime daemon.
//!
//! This crate owns the node-facing side of Cradle. Every container and every
//! pod's pause process is owned by a `cradle-shim`, which outlives the
//! daemon; only short-lived exec processes (ExecSync, streaming exec) are
//! started by the daemon itself, through the OCI runtime's `exec`. Images
//! come from `cradle-snapshotter`, network configuration from `cradle-cni`.
//!
//! The modules form layers that only import downward:
//!
//! - services: the CRI v1 gRPC services the kubelet calls ([`cri`]:
//!   protocol mapping and validation only), their gRPC wiring ([`server`]),
//!   the streaming adapter for exec, attach and port-forward ([`streaming`]),
//!   the root-only admin socket of `cradlectl` ([`admin`]) and the optional
//!   Prometheus endpoint ([`metrics`]);
//! - managers: the pod sandbox and container managers, each owning its
//!   records and lifecycle state machine ([`pods`], [`containers`]), the
//!   image operations ([`images`]), and on top of them [`runtime`], which
//!   sequences what spans several managers and runs the recovery and the
//!   sweep at start;
//! - shared core ([`core`]): the context of narrow handles the managers
//!   share, the crash-safe metadata store, the indexes, names, events,
//!   errors, ids, configuration;
//! - platform adapters ([`platform`]: shim client, namespaces, CNI,
//!   sockets, reaper) and the cgroup, /proc and statvfs readers
//!   ([`stats`]).
//!
//! The CRI handlers are thin; the managers hold the logic and are driven
//! directly by the tests.

pub mod admin;
pub mod containers;
pub mod core;
pub mod cri;
pub mod images;
pub mod metrics;
pub mod platform;
pub mod pods;
pub mod runtime;
pub mod server;
pub mod stats;
pub mod streaming;

pub use crate::core::error::Error;
