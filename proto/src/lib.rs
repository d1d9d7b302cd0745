//! Wire protocols of Cradle.
//!
//! This crate owns every message that crosses a process boundary: the CRI v1
//! bindings the kubelet speaks ([`cri`], generated from Cradle's own copy of the
//! CRI definition, `cri/runtime/v1/api.proto`) and the small protocol between `cradled` and each
//! `cradle-shim` ([`shim`]), whose sockets [`sockpath`] reaches at any path
//! length. It holds types and framing only; no I/O policy, no
//! async runtime, so both the tokio daemon and the synchronous shim can use it.

pub mod shim;
pub mod sockpath;

#[cfg(feature = "cri")]
pub mod cri;
