//! One file per `cradle-oci` verb. Each is thin: it checks its arguments
//! and the container's state, then calls into `super::process`,
//! `super::rootfs` and `super::security`.

pub mod create;
pub mod delete;
pub mod exec;
pub mod features;
pub mod kill;
pub mod pause;
mod pid_file;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;
