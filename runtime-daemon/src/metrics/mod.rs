//! The optional Prometheus endpoint (`metrics_address` in the
//! configuration, off by default; see docs/metrics.md).
//!
//! [`registry`] holds the metric families and the process-wide handle the
//! hooks record into (nothing while metrics are off); [`endpoint`] serves
//! them over HTTP; [`process`] and [`state`] are collectors asked at each
//! scrape: the daemon's own `process_*` metrics, and pods, containers and
//! shims by state from the managers' indexes.

pub mod endpoint;
pub mod process;
pub mod registry;
pub mod state;
