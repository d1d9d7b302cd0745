//! Pod networking for Cradle.
//!
//! This crate owns the node's side of the Container Network Interface. Today
//! that is finding and validating the network configuration in the CNI config
//! directory (`/etc/cni/net.d`, see [`config`]), which decides the CRI
//! `NetworkReady` condition. Running plugins (ADD/DEL/CHECK/STATUS with the
//! result cache) and Cradle's own bridge plugin come with the networking issue;
//! the pod namespaces themselves are created and pinned by the daemon
//! (`cradle-daemon`'s `pods::namespaces`). It knows nothing of CRI or
//! containers beyond the identity the CNI spec passes to plugins.

pub mod config;
