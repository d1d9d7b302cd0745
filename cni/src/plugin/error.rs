//! The plugin's error in the spec's shape (a code, a message, details) and
//! the spec's codes, apart from the plugin's steps so each of them can
//! name it without importing the plugin's entry point.

use serde_json::json;

/// A failure in the spec's error shape: a code, a message and details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// One of [`code`]'s values.
    pub code: u32,
    /// A one-line message for the runtime's log.
    pub msg: String,
    /// More context; may be empty.
    pub details: String,
}

/// The spec's well-known error codes.
pub mod code {
    /// The runtime's `cniVersion` is not one the plugin speaks.
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    /// The configuration has a field the plugin does not support.
    pub const UNSUPPORTED_FIELD: u32 = 2;
    /// A `CNI_*` variable is missing or malformed.
    pub const INVALID_ENVIRONMENT: u32 = 4;
    /// Reading or writing a file (the IPAM store, the netns) failed.
    pub const IO_FAILURE: u32 = 5;
    /// stdin (or `prevResult`) does not parse.
    pub const DECODE_FAILURE: u32 = 6;
    /// The configuration parses but its values are unusable.
    pub const INVALID_CONFIG: u32 = 7;
    /// Plugin-specific codes start at 100: a netlink request failed.
    pub const NETLINK: u32 = 100;
    /// CHECK found the attachment differs from its result.
    pub const CHECK_FAILED: u32 = 101;
    /// Adding or removing a masquerade rule failed.
    pub const IPTABLES: u32 = 102;
}

impl PluginError {
    /// An error with `code` and `msg`, no details.
    pub fn new(code: u32, msg: impl Into<String>) -> Self {
        PluginError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }
    /// [`code::INVALID_CONFIG`].
    pub fn config(msg: impl Into<String>) -> Self {
        Self::new(code::INVALID_CONFIG, msg)
    }
    /// [`code::DECODE_FAILURE`].
    pub fn decode(msg: impl Into<String>) -> Self {
        Self::new(code::DECODE_FAILURE, msg)
    }
    /// [`code::INVALID_ENVIRONMENT`].
    pub fn env(msg: impl Into<String>) -> Self {
        Self::new(code::INVALID_ENVIRONMENT, msg)
    }
    /// [`code::IO_FAILURE`] with a message of its own.
    pub fn io_msg(msg: impl Into<String>) -> Self {
        Self::new(code::IO_FAILURE, msg)
    }
    /// [`code::IO_FAILURE`]: `what` failed with `e`.
    pub fn io(what: String, e: std::io::Error) -> Self {
        Self::new(code::IO_FAILURE, format!("{what}: {e}"))
    }
    /// [`code::CHECK_FAILED`].
    pub fn check(msg: impl Into<String>) -> Self {
        Self::new(code::CHECK_FAILED, msg)
    }

    /// The error JSON printed on stdout.
    pub fn to_json(&self, cni_version: &str) -> String {
        let version = if cni_version.is_empty() {
            "1.1.0"
        } else {
            cni_version
        };
        json!({"cniVersion": version, "code": self.code, "msg": self.msg, "details": self.details})
            .to_string()
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.msg)
    }
}

impl std::error::Error for PluginError {}
