//! Memory of a runtime's processes, read from /proc: the daemon (given, or
//! found as the owner of its listening socket), its shims (by name, and by a
//! string their command line must contain so another runtime's shims on the
//! same host are not counted), and everything the shims run (pause and
//! container processes, found as the shims' descendants).
//!
//! RSS counts shared pages in full in every process; PSS divides them among
//! the sharers, so PSS sums are the honest total of a group of processes.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

/// Resident and proportional set sizes in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Mem {
    pub rss_kib: u64,
    pub pss_kib: u64,
}

impl std::ops::AddAssign for Mem {
    fn add_assign(&mut self, o: Mem) {
        self.rss_kib += o.rss_kib;
        self.pss_kib += o.pss_kib;
    }
}

/// One process of the table: what the grouping needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub comm: String,
    pub cmdline: String,
}

/// A group of processes and their summed memory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Group {
    pub count: usize,
    pub mem: Mem,
}

/// The runtime's memory at one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    pub daemon: Group,
    pub shims: Group,
    /// Descendants of the shims: pause processes and container processes.
    pub shim_children: Group,
    /// Those of `shim_children` whose command line holds the selector's
    /// `workload_match` (the containers' own processes); empty without one.
    pub workload: Group,
}

/// Which processes are the runtime's.
#[derive(Debug, Clone)]
pub struct Selector {
    pub daemon_pid: Option<i32>,
    /// comm prefixes that mark a shim (`cradle-shim`, `containerd-shim`).
    pub shim_names: Vec<String>,
    /// A shim's command line must contain this (e.g. the runtime's temp dir).
    pub shim_match: Option<String>,
    /// A descendant whose command line contains this is the workload (the
    /// container's process), not the runtime's.
    pub workload_match: Option<String>,
}

/// Parses `/proc/net/unix` and returns the inode of the listening socket
/// bound to `path` (the last column; state 01 = listening, flag 00010000).
pub fn unix_socket_inode(proc_net_unix: &str, path: &str) -> Option<u64> {
    proc_net_unix.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Num RefCount Protocol Flags Type St Inode Path
        if f.len() >= 8 && f[7] == path && f[3] == "00010000" {
            f[6].parse().ok()
        } else {
            None
        }
    })
}

/// The process holding the listening socket at `path`, found through
/// /proc/net/unix and the `socket:[inode]` links in /proc/*/fd.
pub fn socket_owner(path: &Path) -> Option<i32> {
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    let inode = unix_socket_inode(&table, &path.to_string_lossy())?;
    let want = format!("socket:[{inode}]");
    for pid in pids() {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == want.as_str()) {
                return Some(pid);
            }
        }
    }
    None
}

/// Parses `/proc/<pid>/stat`: the comm is in parentheses and may itself hold
/// spaces and parentheses, so the fields after it start at the LAST ')'.
pub fn parse_stat(stat: &str) -> Option<(i32, String, i32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let pid = stat[..open].trim().parse().ok()?;
    let comm = stat[open + 1..close].to_string();
    let mut rest = stat[close + 1..].split_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((pid, comm, ppid))
}

/// Sums the `Rss:` and `Pss:` lines of `/proc/<pid>/smaps_rollup` (or of a
/// whole `smaps`), in KiB.
pub fn parse_smaps_rollup(text: &str) -> Mem {
    let mut m = Mem::default();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let key = f.next();
        let val: u64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        match key {
            Some("Rss:") => m.rss_kib += val,
            Some("Pss:") => m.pss_kib += val,
            _ => {}
        }
    }
    m
}

/// The memory of one process; zero if it is gone (it raced with us).
pub fn mem_of(pid: i32) -> Mem {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .map(|t| parse_smaps_rollup(&t))
        .unwrap_or_default()
}

fn pids() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect()
}

/// Every process now running.
pub fn process_table() -> Vec<Proc> {
    pids()
        .into_iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (pid, comm, ppid) = parse_stat(&stat)?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            Some(Proc {
                pid,
                ppid,
                comm,
                cmdline,
            })
        })
        .collect()
}

/// The pids of the shims, and of all their descendants (shims excluded).
pub fn classify(table: &[Proc], sel: &Selector) -> (Vec<i32>, Vec<i32>) {
    let shims: Vec<i32> = table
        .iter()
        .filter(|p| Some(p.pid) != sel.daemon_pid)
        .filter(|p| {
            sel.shim_names
                .iter()
                .any(|n| p.comm.starts_with(n.as_str()))
        })
        .filter(|p| {
            sel.shim_match
                .as_ref()
                .is_none_or(|m| p.cmdline.contains(m.as_str()))
        })
        .map(|p| p.pid)
        .collect();
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for p in table {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let shim_set: HashSet<i32> = shims.iter().copied().collect();
    let mut seen = HashSet::new();
    let mut stack: Vec<i32> = shims.clone();
    let mut descendants = Vec::new();
    // Bounded: every pid is visited at most once.
    while let Some(pid) = stack.pop() {
        for &c in children.get(&pid).map(Vec::as_slice).unwrap_or(&[]) {
            if seen.insert(c) {
                if !shim_set.contains(&c) {
                    descendants.push(c);
                }
                stack.push(c);
            }
        }
    }
    (shims, descendants)
}

fn group(pids: &[i32]) -> Group {
    let mut g = Group::default();
    for &pid in pids {
        g.count += 1;
        g.mem += mem_of(pid);
    }
    g
}

/// The descendants whose command line contains `marker`.
pub fn workload(table: &[Proc], descendants: &[i32], marker: Option<&str>) -> Vec<i32> {
    let Some(marker) = marker else {
        return Vec::new();
    };
    let wanted: HashSet<i32> = descendants.iter().copied().collect();
    table
        .iter()
        .filter(|p| wanted.contains(&p.pid) && p.cmdline.contains(marker))
        .map(|p| p.pid)
        .collect()
}

/// Measures the runtime's processes now.
pub fn snapshot(sel: &Selector) -> Snapshot {
    let table = process_table();
    let (shims, descendants) = classify(&table, sel);
    let workload = workload(&table, &descendants, sel.workload_match.as_deref());
    Snapshot {
        daemon: group(&sel.daemon_pid.into_iter().collect::<Vec<_>>()),
        shims: group(&shims),
        shim_children: group(&descendants),
        workload: group(&workload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_socket_inode_is_found_by_path() {
        let t = "Num       RefCount Protocol Flags    Type St Inode Path\n\
                 0000000000000000: 00000003 00000000 00000000 0001 03 111 /run/x.sock\n\
                 0000000000000000: 00000002 00000000 00010000 0001 01 222 /run/x.sock\n\
                 0000000000000000: 00000002 00000000 00010000 0001 01 333 /run/y.sock\n\
                 0000000000000000: 00000002 00000000 00000000 0001 03 444\n";
        assert_eq!(unix_socket_inode(t, "/run/x.sock"), Some(222));
        assert_eq!(unix_socket_inode(t, "/run/z.sock"), None);
    }

    #[test]
    fn stat_with_parentheses_and_spaces_in_comm_parses() {
        let s = "4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 100";
        assert_eq!(parse_stat(s), Some((4242, "my (odd) name".into(), 17)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn smaps_rollup_rss_and_pss_are_read_in_kib() {
        let t = "55d0c0000000-7ffc00000000 ---p 00000000 00:00 0   [rollup]\n\
                 Rss:                3072 kB\nPss:                1500 kB\n\
                 Pss_Anon:            900 kB\nShared_Clean:       1024 kB\n";
        assert_eq!(
            parse_smaps_rollup(t),
            Mem {
                rss_kib: 3072,
                pss_kib: 1500
            }
        );
    }

    fn p(pid: i32, ppid: i32, comm: &str, cmdline: &str) -> Proc {
        Proc {
            pid,
            ppid,
            comm: comm.into(),
            cmdline: cmdline.into(),
        }
    }

    #[test]
    fn shims_are_matched_by_name_and_command_line_and_their_descendants_follow() {
        let table = vec![
            p(1, 0, "init", ""),
            p(10, 1, "cradled", "cradled --root /tmp/a/r"),
            p(20, 1, "cradle-shim", "cradle-shim --state /tmp/a/s/x"),
            p(21, 20, "pause", ""),
            p(22, 21, "sleep", ""),
            p(30, 1, "cradle-shim", "cradle-shim --state /tmp/OTHER/s/y"),
            p(31, 30, "sleep", ""),
            p(
                40,
                1,
                "containerd-shim",
                "containerd-shim-runc-v2 -address /tmp/a/c.sock",
            ),
            p(41, 40, "pause", ""),
        ];
        let sel = Selector {
            daemon_pid: Some(10),
            shim_names: vec!["cradle-shim".into()],
            shim_match: Some("/tmp/a/".into()),
            workload_match: None,
        };
        let (shims, mut desc) = classify(&table, &sel);
        desc.sort();
        assert_eq!(shims, vec![20]);
        assert_eq!(desc, vec![21, 22]);
    }

    #[test]
    fn workload_is_the_descendants_with_the_marker_in_their_command_line() {
        let table = vec![
            p(20, 1, "cradle-shim", "cradle-shim"),
            p(21, 20, "sleep", "/bin/sleep 2147483647 "),
            p(22, 20, "sleep", "sleep 86400 "),
            p(99, 1, "sleep", "sleep 86400 "),
        ];
        assert_eq!(workload(&table, &[21, 22], Some("sleep 86400")), vec![22]);
        assert!(workload(&table, &[21, 22], None).is_empty());
    }
}
