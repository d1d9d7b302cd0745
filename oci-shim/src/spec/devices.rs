//! `linux.devices` and the device types cgroup device rules share: a file of
//! its own, so `linux` and `resources` both import it without importing each
//! other.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One entry of `linux.devices`: a node to make in `/dev`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxDevice {
    /// Inside the container.
    #[serde(default)]
    pub path: PathBuf,
    /// Node kind (required).
    #[serde(rename = "type")]
    pub typ: LinuxDeviceType,
    /// Device major number.
    #[serde(default)]
    pub major: i64,
    /// Device minor number.
    #[serde(default)]
    pub minor: i64,
    /// Permission bits (0666 when absent).
    pub file_mode: Option<u32>,
    /// Owner.
    pub uid: Option<u32>,
    /// Group.
    pub gid: Option<u32>,
}

/// A device `type`: `c`har, `b`lock, `u`nbuffered char, `p`ipe, or `a`ll
/// (in cgroup rules only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinuxDeviceType {
    #[default]
    /// All device types (`a`), in cgroup device rules only.
    A,
    /// A block device (`b`).
    B,
    /// A character device (`c`).
    C,
    /// An unbuffered character device (`u`).
    U,
    /// A FIFO (`p`).
    P,
}

impl LinuxDeviceType {
    /// The letter, as the spec and the v1 devices files write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "a",
            Self::B => "b",
            Self::C => "c",
            Self::U => "u",
            Self::P => "p",
        }
    }
}
