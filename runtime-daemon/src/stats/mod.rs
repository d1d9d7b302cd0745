//! Every file the daemon reads to say what containers and pods use: cgroup
//! files (through `cradle-cgroupfs`, shared with the launcher), `/proc`
//! and statvfs. The CRI layer (`cri/stats.rs`, `cri/sandbox_stats.rs`,
//! `cri/metrics.rs`) only maps these plain samples to CRI messages; nothing
//! here knows the CRI types.
//!
//! [`sample`] has one function per container and per pod returning a plain
//! struct (for the one-object RPCs); [`snapshot`] samples every running
//! container and ready pod in one pass, which [`cache`] keeps for a short
//! while and computes once for concurrent callers (the list RPCs); the
//! other modules each
//! read one source: [`cgroup`] (usage and process counts), [`detail`] (the
//! cAdvisor-style counters beyond usage), both through [`cgroup_files`] (a
//! cgroup's files under v1 or v2), [`process`] (a cgroup's tasks in
//! `/proc`, a container's init pid), [`network`] (`/proc/<pid>/net/dev`),
//! [`filesystem`] (statvfs of the writable layers' filesystem), [`bundle`]
//! (a container's OCI spec) and [`cpu`] (usage into a rate).

pub mod bundle;
pub mod cache;
pub mod cgroup;
pub mod cgroup_files;
pub mod cpu;
pub mod detail;
pub mod filesystem;
pub mod network;
pub mod process;
pub mod sample;
pub mod snapshot;

pub use cpu::CpuTracker;

/// The stats pass the list stats RPCs share ([`cache`], [`snapshot`]).
pub type StatsCache = cache::SingleFlight<snapshot::Snapshot>;
