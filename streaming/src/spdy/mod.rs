//! SPDY/3.1, written for the one job Kubernetes gives it: carrying the
//! remotecommand and portforward streams of an upgraded HTTP/1.1 connection.
//! Layers: [`frame`] (wire layout), [`headers`] (zlib header blocks with the
//! SPDY dictionary), [`conn`] (a server connection: streams, flow control,
//! PING, GOAWAY), then the protocols on top: [`exec`] and [`portforward`].

pub mod conn;
pub mod dictionary;
pub mod exec;
pub mod frame;
pub mod headers;
pub mod portforward;

/// The `Upgrade` token of the handshake.
pub const UPGRADE: &str = "SPDY/3.1";
