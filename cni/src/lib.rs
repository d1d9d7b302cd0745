//! Pod networking for Cradle.
//!
//! This crate owns the node's side of the Container Network Interface: finding
//! and validating the network configuration in the CNI config directory
//! (`/etc/cni/net.d`), and creating, pinning and removing pod network
//! namespaces. Running plugins (ADD/DEL/CHECK) and Cradle's own bridge plugin
//! come with the networking issue. It knows nothing of CRI or containers beyond
//! the identity the CNI spec passes to plugins.

pub mod config;
