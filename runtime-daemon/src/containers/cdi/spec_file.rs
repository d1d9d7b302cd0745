//! One CDI spec file (`cdiVersion` 0.3.0 to 0.8.0, and 1.0.0), JSON or
//! YAML, parsed strictly (an unknown field makes the file malformed, as
//! the CDI library's strict parsing does) and validated.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use super::names;

/// The spec versions this runtime reads.
pub const VERSIONS: [&str; 7] = [
    "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0",
];

/// A parsed and validated spec file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpecFile {
    pub cdi_version: String,
    /// `vendor.com/class`.
    pub kind: String,
    /// Metadata for tools, not an edit: nothing of it reaches the container.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub devices: Vec<DeviceSpec>,
    /// Edits applied once when any device of this file is injected.
    #[serde(default)]
    pub container_edits: ContainerEdits,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceSpec {
    pub name: String,
    /// Metadata for tools, not an edit.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub container_edits: ContainerEdits,
}

/// What injecting a device (or any device of a spec) changes in the
/// container's OCI spec.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerEdits {
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub device_nodes: Vec<DeviceNode>,
    #[serde(default)]
    pub mounts: Vec<MountSpec>,
    #[serde(default)]
    pub hooks: Vec<HookSpec>,
    /// Parsed so that a spec using it is refused by name, not ignored.
    #[serde(default)]
    pub intel_rdt: Option<serde_json::Value>,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
    /// Parsed so that a spec using it is refused by name, not ignored.
    #[serde(default)]
    pub net_devices: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceNode {
    /// Where the node appears in the container.
    pub path: String,
    /// The host node it is made after (`path` when empty).
    #[serde(default)]
    pub host_path: String,
    /// `c`, `b`, `u` or `p`; looked up on the host when empty.
    #[serde(default, rename = "type")]
    pub typ: String,
    #[serde(default)]
    pub major: i64,
    #[serde(default)]
    pub minor: i64,
    #[serde(default)]
    pub file_mode: Option<u32>,
    /// Device cgroup access, `rwm` when empty.
    #[serde(default)]
    pub permissions: String,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MountSpec {
    pub host_path: String,
    pub container_path: String,
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default, rename = "type")]
    pub typ: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HookSpec {
    pub hook_name: String,
    pub path: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub timeout: Option<i64>,
}

/// The OCI hook phases a CDI hook may name.
pub const HOOK_NAMES: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Reads and validates the spec file at `path` (YAML unless it ends in
/// `.json`; JSON is YAML too, but serde_json's errors are clearer).
pub fn read(path: &Path) -> Result<SpecFile, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let spec: SpecFile = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())?
    } else {
        serde_yaml_ng::from_slice(&bytes).map_err(|e| e.to_string())?
    };
    spec.validate()?;
    Ok(spec)
}

impl SpecFile {
    /// The CDI library's rules: a known version, a valid kind, at least one
    /// device, valid and unique device names, each device with edits, and
    /// every edit well formed.
    pub fn validate(&self) -> Result<(), String> {
        if !VERSIONS.contains(&self.cdi_version.as_str()) {
            return Err(format!(
                "cdiVersion {:?} is not one of {}",
                self.cdi_version,
                VERSIONS.join(", ")
            ));
        }
        names::check_kind(&self.kind)?;
        let required = self.required_version();
        let declared = VERSIONS.iter().position(|v| *v == self.cdi_version);
        if declared < VERSIONS.iter().position(|v| *v == required) {
            return Err(format!(
                "uses features of cdiVersion {required} but declares {}",
                self.cdi_version
            ));
        }
        if self.devices.is_empty() {
            return Err("no devices".into());
        }
        self.container_edits.validate()?;
        let mut seen = HashSet::new();
        for d in &self.devices {
            names::check_device_name(&d.name)?;
            if !seen.insert(d.name.as_str()) {
                return Err(format!("device {:?} defined twice", d.name));
            }
            if d.container_edits.is_empty() {
                return Err(format!("device {:?} has no container edits", d.name));
            }
            d.container_edits
                .validate()
                .map_err(|e| format!("device {:?}: {e}", d.name))?;
        }
        Ok(())
    }
}

impl SpecFile {
    /// The oldest spec version that has every feature this file uses (the
    /// CDI library's `MinimumRequiredVersion`).
    fn required_version(&self) -> &'static str {
        let edits: Vec<&ContainerEdits> = std::iter::once(&self.container_edits)
            .chain(self.devices.iter().map(|d| &d.container_edits))
            .collect();
        let class_has_dot = self
            .kind
            .split_once('/')
            .is_some_and(|(_, class)| class.contains('.'));
        if edits.iter().any(|e| !e.net_devices.is_empty()) {
            "1.0.0"
        } else if edits
            .iter()
            .any(|e| e.intel_rdt.is_some() || !e.additional_gids.is_empty())
        {
            "0.7.0"
        } else if !self.annotations.is_empty()
            || self.devices.iter().any(|d| !d.annotations.is_empty())
            || class_has_dot
        {
            "0.6.0"
        } else if self
            .devices
            .iter()
            .any(|d| d.name.starts_with(|c: char| c.is_ascii_digit()))
            || edits
                .iter()
                .any(|e| e.device_nodes.iter().any(|n| !n.host_path.is_empty()))
        {
            "0.5.0"
        } else if edits
            .iter()
            .any(|e| e.mounts.iter().any(|m| !m.typ.is_empty()))
        {
            "0.4.0"
        } else {
            "0.3.0"
        }
    }
}

impl ContainerEdits {
    pub fn is_empty(&self) -> bool {
        self.env.is_empty()
            && self.device_nodes.is_empty()
            && self.mounts.is_empty()
            && self.hooks.is_empty()
            && self.intel_rdt.is_none()
            && self.additional_gids.is_empty()
            && self.net_devices.is_empty()
    }

    fn validate(&self) -> Result<(), String> {
        for e in &self.env {
            if e.split_once('=').is_none_or(|(k, _)| k.is_empty()) {
                return Err(format!("env {e:?} is not KEY=VALUE"));
            }
        }
        for d in &self.device_nodes {
            if !d.path.starts_with('/') {
                return Err(format!("device node path {:?} is not absolute", d.path));
            }
            if !matches!(d.typ.as_str(), "" | "b" | "c" | "u" | "p") {
                return Err(format!("device node {}: type {:?}", d.path, d.typ));
            }
            if !d.permissions.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
                return Err(format!(
                    "device node {}: permissions {:?} must be made of r, w and m",
                    d.path, d.permissions
                ));
            }
        }
        for m in &self.mounts {
            if m.host_path.is_empty() {
                return Err(format!("mount {:?}: hostPath is empty", m.container_path));
            }
            if !m.container_path.starts_with('/') {
                return Err(format!(
                    "mount containerPath {:?} is not absolute",
                    m.container_path
                ));
            }
        }
        for h in &self.hooks {
            if !HOOK_NAMES.contains(&h.hook_name.as_str()) {
                return Err(format!("hook {:?}: unknown hookName", h.hook_name));
            }
            if h.path.is_empty() {
                return Err(format!("{} hook without a path", h.hook_name));
            }
        }
        Ok(())
    }
}
