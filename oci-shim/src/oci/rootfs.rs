//! The container's root filesystem, in the order the init sets it up:
//! [`prepare`] (propagation, the rootfs bind), [`mounts`] (the spec's
//! mounts, each destination opened through [`confined`] so no symlink
//! leads out of the rootfs; options parsed there, recursive attributes and
//! id-mapped trees through [`mountapi`] and [`idmap`], `tmpcopyup` by
//! [`copyup`]), [`devices`] (/dev), [`pivot`] (the root switch), then
//! [`masked_paths`]. [`mountinfo`] reads the mount table.

pub(crate) mod confined;
pub(crate) mod copyup;
pub(crate) mod devices;
pub(crate) mod idmap;
pub(crate) mod masked_paths;
pub(crate) mod mountapi;
pub(crate) mod mountinfo;
pub(crate) mod mounts;
pub(crate) mod pivot;
pub(crate) mod prepare;
