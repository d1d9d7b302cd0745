//! What a test left behind on the machine.
//!
//! After a test removed everything it created, nothing may remain that its
//! temp dirs or object ids name: no mount (overlay rootfs, namespace pin, bind
//! mount), no path under its dirs named by an id (bundles, snapshots, shim and
//! runtime state, namespace pin files), no cgroup dir named by an id in any
//! hierarchy, and no process whose command line mentions them.

use std::path::{Path, PathBuf};

/// What to look for.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    /// The test's temp dirs (daemon root, state dir…).
    pub dirs: Vec<PathBuf>,
    /// Pod sandbox and container ids.
    pub ids: Vec<String>,
    /// Processes allowed to mention them (the running daemon itself).
    pub exclude_pids: Vec<i32>,
}

/// Every leak found, one human-readable line each; empty when clean.
pub fn find(scope: &Scope) -> Vec<String> {
    let mut leaks = Vec::new();
    leaks.extend(mounts(scope));
    for dir in &scope.dirs {
        walk(dir, 0, 12, &mut |path| {
            if names_an_id(path, &scope.ids) {
                leaks.push(format!("path left behind: {}", path.display()));
            }
        });
    }
    for hierarchy in crate::cgroup::hierarchies() {
        walk(&hierarchy, 0, 8, &mut |path| {
            if path.is_dir() && names_an_id(path, &scope.ids) {
                leaks.push(format!("cgroup left behind: {}", path.display()));
            }
        });
    }
    leaks.extend(processes(scope));
    leaks
}

/// Panics with the list when [`find`] reports anything.
pub fn assert_none(scope: &Scope) {
    let leaks = find(scope);
    assert!(leaks.is_empty(), "leaks:\n  {}", leaks.join("\n  "));
}

fn mentions(text: &str, scope: &Scope) -> bool {
    scope
        .dirs
        .iter()
        .any(|d| text.contains(d.to_string_lossy().as_ref()))
        || scope
            .ids
            .iter()
            .any(|id| !id.is_empty() && text.contains(id.as_str()))
}

fn mounts(scope: &Scope) -> Vec<String> {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return vec!["cannot read /proc/self/mountinfo".into()];
    };
    mountinfo
        .lines()
        .filter(|line| mentions(line, scope))
        .map(|line| format!("mount left behind: {line}"))
        .collect()
}

fn processes(scope: &Scope) -> Vec<String> {
    let pids = mentioning_processes(scope);
    pids.into_iter()
        .map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            format!("process left behind: pid {pid}: {}", cmdline.trim_end())
        })
        .collect()
}

/// Pids (other than ours and the excluded ones) whose command line mentions
/// the scope's dirs or ids.
pub fn mentioning_processes(scope: &Scope) -> Vec<i32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if u32::try_from(pid).ok() == Some(me) || scope.exclude_pids.contains(&pid) {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue; // exited meanwhile
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if mentions(&cmdline, scope) {
            out.push(pid);
        }
    }
    out
}

fn names_an_id(path: &Path, ids: &[String]) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    ids.iter()
        .any(|id| !id.is_empty() && name.contains(id.as_str()))
}

/// Depth-first over `dir`, not following symlinks nor crossing into /proc.
fn walk(dir: &Path, depth: usize, max_depth: usize, visit: &mut dyn FnMut(&Path)) {
    if depth > max_depth {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        visit(&path);
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&path, depth + 1, max_depth, visit);
        }
    }
}

/// What a test's pod network left behind on the host: ports still enslaved
/// to the test's bridge, host veths `cradle-bridge` would have made for the
/// pods (named from network name and pod id, so found even when detached
/// from the bridge), IP allocation files in the IPAM data dir, and CNI
/// result cache entries. Netns pins are mounts, which [`find`] reports.
pub fn network(
    bridge: &str,
    network_name: &str,
    pod_ids: &[&str],
    ipam_data_dir: &Path,
    cni_cache_dir: &Path,
) -> Vec<String> {
    let mut leaks = Vec::new();
    let brif = Path::new("/sys/class/net").join(bridge).join("brif");
    for port in std::fs::read_dir(&brif).into_iter().flatten().flatten() {
        leaks.push(format!(
            "bridge port left behind: {} on {bridge}",
            port.file_name().to_string_lossy()
        ));
    }
    for id in pod_ids {
        let veth = cradle_cni::plugin::ops::host_veth_name(network_name, id, "eth0");
        if Path::new("/sys/class/net").join(&veth).exists() {
            leaks.push(format!("veth left behind: {veth} (pod {id})"));
        }
    }
    walk(ipam_data_dir, 0, 3, &mut |path| {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.parse::<std::net::IpAddr>().is_ok()) {
            leaks.push(format!("IP allocation left behind: {}", path.display()));
        }
    });
    walk(&cni_cache_dir.join("results"), 0, 1, &mut |path| {
        leaks.push(format!("CNI cache entry left behind: {}", path.display()));
    });
    leaks
}

/// iptables and ip6tables rules (every table) that mention any of
/// `needles`: pod and container ids (the comments `cradle-bridge` and
/// portmap write name them) or pod addresses (pass `"<ip>/"` so that
/// `10.0.0.1` does not match `10.0.0.12`). One line per rule. Rules are
/// read with `iptables-save`; a missing binary reads as no rules.
pub fn iptables_rules(needles: &[&str]) -> Vec<String> {
    let mut leaks = Vec::new();
    for binary in ["iptables-save", "ip6tables-save"] {
        let Ok(out) = std::process::Command::new(binary).output() else {
            continue;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.starts_with('-') && needles.iter().any(|n| !n.is_empty() && line.contains(n)) {
                leaks.push(format!("iptables rule left behind: {line}"));
            }
        }
    }
    leaks
}
