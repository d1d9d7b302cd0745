//! The container's root filesystem: the rootfs bind and pivot, the spec's
//! mounts confined to the rootfs, /dev, id-mapped mounts and masked paths.

pub(crate) mod confined;
pub(crate) mod copyup;
pub(crate) mod devices;
pub(crate) mod idmap;
pub(crate) mod mountapi;
pub(crate) mod mounts;
pub(crate) mod pivot;
