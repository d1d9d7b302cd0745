//! CRI v1 (`runtime.v1`): the messages, clients and servers generated from
//! `cri/runtime/v1/api.proto` by `build.rs` (feature `cri`).
//!
//! The definition is Cradle's own copy, wire-compatible with `k8s.io/cri-api`
//! (see its header), so fields a newer kubelet sends reach the daemon instead
//! of being dropped as unknown.

mod auth_debug;
mod env_value;

pub use generated::*;

/// The generated code, kept apart so the lint allowances below cover it alone.
// Generated code: its docs are the .proto's comments, which do not cover
// every item, and its shape is prost's and tonic's, not ours.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::nursery)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/runtime.v1.rs"));
}
