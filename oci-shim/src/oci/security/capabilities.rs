//! The container's capabilities: refused at create when the host cannot
//! grant them, the bounding set dropped before the uid change, the other
//! sets set after it.

use std::collections::HashSet;

use caps::{CapSet, Capability as Cap};

use crate::oci::error::{OciError, Result};
use crate::oci::log;
use crate::oci::syscall::Syscall;
use crate::spec::LinuxCapabilities;

/// A spec set as a set (empty when absent). [`check_grantable`] has
/// refused, at create, any capability the kernel or the runtime lacks.
pub(crate) fn to_caps(set: Option<&HashSet<Cap>>) -> Result<HashSet<Cap>> {
    Ok(set.cloned().unwrap_or_default())
}

/// Refuses, naming them, the capabilities of any set that cannot be
/// granted: unknown to this kernel (above `/proc/sys/kernel/cap_last_cap`)
/// or outside the runtime's own bounding set (a host whose root lacks
/// CAP_SYS_RESOURCE, say). As runc and crun: a container that asked for
/// a capability must not run without it, silently or with a warning.
pub(crate) fn check_grantable(caps: &LinuxCapabilities) -> Result<()> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .map_err(|e| OciError::io("read", "/proc/sys/kernel/cap_last_cap", e))?;
    let last: u8 = last.trim().parse().map_err(|_| {
        OciError::Setup(format!("/proc/sys/kernel/cap_last_cap: {:?}", last.trim()))
    })?;
    let bounding = caps::read(None, CapSet::Bounding)
        .map_err(|e| OciError::Setup(format!("read bounding capabilities: {e}")))?;
    ungrantable(caps, last, &bounding)
}

/// [`check_grantable`]'s decision, given the kernel's last capability and
/// the runtime's bounding set.
pub(crate) fn ungrantable(
    caps: &LinuxCapabilities,
    last: u8,
    bounding: &HashSet<Cap>,
) -> Result<()> {
    let sets = [
        ("bounding", &caps.bounding),
        ("effective", &caps.effective),
        ("inheritable", &caps.inheritable),
        ("permitted", &caps.permitted),
        ("ambient", &caps.ambient),
    ];
    let mut refused = Vec::new();
    for (name, set) in sets {
        let mut bad: Vec<String> = set
            .iter()
            .flatten()
            .filter_map(|c| {
                if c.index() > last {
                    Some(format!(
                        "{c} (unknown to this kernel, whose last is {last})"
                    ))
                } else if !bounding.contains(c) {
                    Some(format!("{c} (not in the runtime's bounding set)"))
                } else {
                    None
                }
            })
            .collect();
        bad.sort();
        if !bad.is_empty() {
            refused.push(format!("process.capabilities.{name}: {}", bad.join(", ")));
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(OciError::Unsupported(format!(
            "capabilities this host cannot grant: {}",
            refused.join("; ")
        )))
    }
}

/// Drops from the bounding set every capability the spec does not keep
/// (needs CAP_SETPCAP, so it runs before the uid change).
pub(crate) fn drop_bounding(sys: &impl Syscall, caps: &LinuxCapabilities) -> Result<()> {
    let keep = to_caps(caps.bounding.as_ref())?;
    for cap in caps::all() {
        if !keep.contains(&cap) && sys.cap_has(CapSet::Bounding, cap).unwrap_or(false) {
            sys.cap_drop(CapSet::Bounding, cap)
                .map_err(|e| OciError::Setup(format!("drop {cap} from bounding set: {e}")))?;
        }
    }
    Ok(())
}

/// Sets effective, permitted, inheritable and ambient sets after the uid
/// change (effective first, so it never exceeds permitted).
pub(crate) fn set_capabilities(sys: &impl Syscall, caps: &LinuxCapabilities) -> Result<()> {
    // create has refused what the runtime cannot grant; a set still
    // beyond what this process holds is an error, never a quiet drop.
    let held = sys
        .cap_read(CapSet::Permitted)
        .map_err(|e| OciError::Setup(format!("read permitted capabilities: {e}")))?;
    let effective = to_caps(caps.effective.as_ref())?;
    let permitted = to_caps(caps.permitted.as_ref())?;
    let inheritable = to_caps(caps.inheritable.as_ref())?;
    let ambient = to_caps(caps.ambient.as_ref())?;
    let mut missing: Vec<String> = [&effective, &permitted, &inheritable, &ambient]
        .into_iter()
        .flatten()
        .filter(|c| !held.contains(c))
        .map(|c| c.to_string())
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        return Err(OciError::Setup(format!(
            "capabilities the container's init does not hold: {}",
            missing.join(", ")
        )));
    }
    let set = |which: CapSet, v: &HashSet<Cap>| {
        sys.cap_set(which, v)
            .map_err(|e| OciError::Setup(format!("set {which:?} capabilities: {e}")))
    };
    set(CapSet::Effective, &effective)?;
    set(CapSet::Permitted, &permitted)?;
    set(CapSet::Inheritable, &inheritable)?;
    sys.cap_clear(CapSet::Ambient)
        .map_err(|e| OciError::Setup(format!("clear ambient: {e}")))?;
    // Like runc, an ambient capability that cannot be raised (it must be
    // permitted and inheritable) is a warning, not a failure.
    for cap in ambient {
        if let Err(e) = sys.cap_raise(CapSet::Ambient, cap) {
            log::warn(&format!("cannot raise ambient capability {cap}: {e}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_capability_names_convert() {
        let spec: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_CHOWN", "NET_BIND_SERVICE", "cap_sys_admin"]
        }))
        .unwrap();
        let caps = to_caps(spec.bounding.as_ref()).unwrap();
        assert!(caps.contains(&Cap::CAP_CHOWN));
        assert!(caps.contains(&Cap::CAP_NET_BIND_SERVICE));
        assert!(caps.contains(&Cap::CAP_SYS_ADMIN));
    }

    #[test]
    fn capabilities_the_host_cannot_grant_are_refused_by_name() {
        let spec: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE"],
            "effective": ["CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"]
        }))
        .unwrap();
        let bounding: HashSet<Cap> = [Cap::CAP_CHOWN, Cap::CAP_CHECKPOINT_RESTORE].into();
        let e = ungrantable(&spec, 39, &bounding).unwrap_err().to_string();
        assert!(
            e.contains("process.capabilities.bounding: CAP_SYS_RESOURCE (not in the runtime's bounding set)"),
            "{e}"
        );
        assert!(
            e.contains("process.capabilities.effective: CAP_CHECKPOINT_RESTORE (unknown to this kernel, whose last is 39)"),
            "{e}"
        );
        let all: HashSet<Cap> = caps::all();
        assert!(ungrantable(&spec, 40, &all).is_ok());
    }
}
