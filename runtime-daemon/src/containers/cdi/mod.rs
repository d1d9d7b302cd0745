//! CDI devices (Container Device Interface): the `CDI_devices` of a
//! container config and its `cdi.k8s.io/*` annotations, as containerd
//! injects them.
//!
//! [`resolve`] does the I/O: it reads the spec files of the configured
//! directories (`registry`), finds every requested device (an unknown,
//! malformed or conflicting name is an error naming it) and completes the
//! device nodes from the host (type, numbers and mode of `hostPath`, as the
//! CDI library's `fillMissingInfo`). [`apply`] is pure: it edits the built
//! OCI spec as the CDI library's `ContainerEdits.Apply` does (env, device
//! nodes with their device cgroup rules, mounts, hooks, additional gids).
//! Edits this runtime cannot honour (`intelRdt`, `netDevices`) are refused
//! naming the device, never dropped.

mod apply;
mod edits;
mod names;
mod registry;
mod spec_file;

pub use apply::apply;
pub use edits::{CdiEdits, CdiError, CdiNode};
pub use names::requested;

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use cradle_proto::cri;
use oci_spec::runtime::{
    Hook, HookBuilder, LinuxDeviceBuilder, LinuxDeviceType, Mount, MountBuilder,
};

use spec_file::{DeviceNode, HookSpec, MountSpec};

/// The edits for the CDI devices `config` asks for, read from the spec
/// files in `dirs`; empty when it asks for none. Blocking (reads files).
pub fn resolve(dirs: &[PathBuf], config: &cri::ContainerConfig) -> Result<CdiEdits, CdiError> {
    let names = requested(config);
    if names.is_empty() {
        return Ok(CdiEdits::default());
    }
    let edits = registry::Registry::load(dirs)
        .edits_for(&names)
        .map_err(CdiError::Unresolvable)?;
    let mut out = CdiEdits::default();
    for (from, e) in edits {
        if e.intel_rdt.is_some() {
            return Err(CdiError::Unsupported {
                from,
                what: "intelRdt",
            });
        }
        if !e.net_devices.is_empty() {
            return Err(CdiError::Unsupported {
                from,
                what: "netDevices",
            });
        }
        out.env.extend(e.env);
        for d in &e.device_nodes {
            out.devices.push(node(&from, d)?);
        }
        for m in &e.mounts {
            out.mounts.push(mount(&from, m)?);
        }
        for h in &e.hooks {
            out.hooks.push((h.hook_name.clone(), hook(&from, h)?));
        }
        out.additional_gids.extend(e.additional_gids);
    }
    tracing::debug!(devices = ?names, "CDI devices resolved");
    Ok(out)
}

/// A CDI device node completed from its host node where the spec leaves
/// the type or the numbers out.
fn node(from: &str, d: &DeviceNode) -> Result<CdiNode, CdiError> {
    let err = |message: String| CdiError::Node {
        from: from.to_string(),
        path: d.path.clone(),
        message,
    };
    let host = if d.host_path.is_empty() {
        &d.path
    } else {
        &d.host_path
    };
    let (mut typ, mut major, mut minor, mut mode) = (d.typ.clone(), d.major, d.minor, d.file_mode);
    let complete = !typ.is_empty() && (major != 0 || typ == "p");
    if !complete {
        let meta = std::fs::metadata(host).map_err(|e| err(format!("host node {host}: {e}")))?;
        let ft = meta.file_type();
        let found = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else if ft.is_fifo() {
            "p"
        } else {
            return Err(err(format!("host node {host} is not a device")));
        };
        if typ.is_empty() {
            typ = found.to_string();
        } else if typ != found && !(typ == "u" && found == "c") {
            return Err(err(format!(
                "type {typ:?} but the host node {host} is of type {found:?}"
            )));
        }
        mode = mode.or(Some(meta.mode() & 0o7777));
        if typ != "p" && major == 0 {
            let rdev = meta.rdev();
            major = i64::from(nix::sys::stat::major(rdev) as u32);
            minor = i64::from(nix::sys::stat::minor(rdev) as u32);
        }
    }
    let oci_type = match typ.as_str() {
        "c" => LinuxDeviceType::C,
        "b" => LinuxDeviceType::B,
        "u" => LinuxDeviceType::U,
        _ => LinuxDeviceType::P,
    };
    let mut builder = LinuxDeviceBuilder::default()
        .path(d.path.as_str())
        .typ(oci_type)
        .major(major)
        .minor(minor);
    if let Some(mode) = mode {
        builder = builder.file_mode(mode);
    }
    if let Some(uid) = d.uid {
        builder = builder.uid(uid);
    }
    if let Some(gid) = d.gid {
        builder = builder.gid(gid);
    }
    let node = builder.build().map_err(|e| err(e.to_string()))?;
    let access = (typ != "p").then(|| {
        if d.permissions.is_empty() {
            "rwm".to_string()
        } else {
            d.permissions.clone()
        }
    });
    Ok(CdiNode { node, access })
}

/// A CDI mount; no `type` means a bind mount.
fn mount(from: &str, m: &MountSpec) -> Result<Mount, CdiError> {
    let typ = if m.typ.is_empty() {
        "bind"
    } else {
        m.typ.as_str()
    };
    MountBuilder::default()
        .destination(m.container_path.as_str())
        .source(m.host_path.as_str())
        .typ(typ)
        .options(m.options.clone())
        .build()
        .map_err(|e| CdiError::Build {
            from: from.to_string(),
            message: format!("mount {}: {e}", m.container_path),
        })
}

fn hook(from: &str, h: &HookSpec) -> Result<Hook, CdiError> {
    let mut builder = HookBuilder::default().path(h.path.as_str());
    if !h.args.is_empty() {
        builder = builder.args(h.args.clone());
    }
    if !h.env.is_empty() {
        builder = builder.env(h.env.clone());
    }
    if let Some(timeout) = h.timeout {
        builder = builder.timeout(timeout);
    }
    builder.build().map_err(|e| CdiError::Build {
        from: from.to_string(),
        message: format!("{} hook {}: {e}", h.hook_name, h.path),
    })
}

#[cfg(test)]
mod tests;
