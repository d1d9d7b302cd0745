//! The daemon's side of the streaming server (the `cradle-streaming` crate
//! speaks the protocols): the [`cradle_streaming::StreamingBackend`] over the
//! daemon's containers and pods ([`backend`]), its exec through the OCI
//! runtime ([`exec`]) and attach through the shim ([`attach`]), and how
//! daemon errors reach a streaming client ([`error`]).

pub mod attach;
pub mod backend;
pub mod error;
pub mod exec;
