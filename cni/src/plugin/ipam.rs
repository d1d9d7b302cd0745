//! Address allocation compatible with the host-local IPAM plugin's store, so
//! either plugin (or an operator with `ls`) can read the other's state:
//! under `<dataDir>/<network>/` one file per allocated address, named by the
//! address and holding `<container id>\r\n<ifname>`, a
//! `last_reserved_ip.<range set>` file for round-robin allocation, and a
//! `lock` file held with `flock` for the whole of every operation so that
//! concurrent plugin processes never hand out one address twice.

use super::cidr::{offset, to_u128};
use super::conf::Range;
use super::error::PluginError;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// One allocated address with the range it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// The pod's address.
    pub ip: IpAddr,
    /// The prefix length of its subnet.
    pub prefix: u8,
    /// The range's gateway, the pod's next hop.
    pub gateway: IpAddr,
}

/// The store of one network, locked while this value lives.
pub struct Store {
    dir: PathBuf,
    _lock: Flock<File>,
}

const LINE_BREAK: &str = "\r\n";

impl Store {
    /// Opens (creating) the network's directory and takes its lock.
    pub fn lock(dir: &Path) -> Result<Store, PluginError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| PluginError::io(format!("creating {}", dir.display()), e))?;
        let path = dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| PluginError::io(format!("opening {}", path.display()), e))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| PluginError::io(format!("locking {}", path.display()), e.into()))?;
        Ok(Store {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// Allocates one address from each range set for `id`/`ifname`. An
    /// attachment that already holds addresses gets them back (a retried
    /// ADD). `requested` addresses are honoured when they fall in a set.
    /// On failure nothing stays allocated.
    pub fn allocate(
        &self,
        sets: &[Vec<Range>],
        id: &str,
        ifname: &str,
        requested: &[IpAddr],
    ) -> Result<Vec<Allocation>, PluginError> {
        let held = self.held_by(id, ifname)?;
        let mut out: Vec<Allocation> = Vec::new();
        for (index, set) in sets.iter().enumerate() {
            let found = held.iter().find_map(|ip| {
                set.iter()
                    .find(|r| r.subnet.contains(*ip))
                    .map(|r| (*ip, r))
            });
            let result = match found {
                Some((ip, range)) => Ok(allocation(ip, range)),
                None => self.allocate_in_set(index, set, id, ifname, requested),
            };
            match result {
                Ok(a) => out.push(a),
                Err(e) => {
                    for a in &out {
                        let _ = std::fs::remove_file(self.dir.join(a.ip.to_string()));
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    fn allocate_in_set(
        &self,
        index: usize,
        set: &[Range],
        id: &str,
        ifname: &str,
        requested: &[IpAddr],
    ) -> Result<Allocation, PluginError> {
        if let Some((ip, range)) = requested
            .iter()
            .find_map(|ip| set.iter().find(|r| in_range(r, *ip)).map(|r| (*ip, r)))
        {
            if ip == range.gateway || !self.reserve(ip, id, ifname)? {
                return Err(PluginError::io_msg(format!(
                    "requested address {ip} is not available"
                )));
            }
            return Ok(allocation(ip, range));
        }
        let last_file = self.dir.join(format!("last_reserved_ip.{index}"));
        let last: Option<IpAddr> = std::fs::read_to_string(&last_file)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        // Walk every range of the set once, starting after the last
        // reserved address (round robin, as host-local does).
        let start_range = last
            .and_then(|ip| set.iter().position(|r| in_range(r, ip)))
            .unwrap_or(0);
        for step in 0..=set.len() {
            let range = &set[(start_range + step) % set.len()];
            let size = to_u128(range.end) - to_u128(range.start) + 1;
            let begin = match last {
                Some(ip) if step == 0 && in_range(range, ip) => {
                    to_u128(ip) - to_u128(range.start) + 1
                }
                _ => 0,
            };
            // Bounded by the range size; a /16 is 65k cheap stat calls at most.
            for i in 0..size {
                let Some(ip) = offset(range.start, (begin + i) % size) else {
                    continue;
                };
                if ip == range.gateway {
                    continue;
                }
                if self.reserve(ip, id, ifname)? {
                    let _ = std::fs::write(&last_file, ip.to_string());
                    return Ok(allocation(ip, range));
                }
            }
        }
        Err(PluginError::io_msg(format!(
            "no IP addresses available in range set {}",
            set.iter()
                .map(|r| format!("{}-{}", r.start, r.end))
                .collect::<Vec<_>>()
                .join(",")
        )))
    }

    /// Creates the address's file exclusively; false when it exists.
    fn reserve(&self, ip: IpAddr, id: &str, ifname: &str) -> Result<bool, PluginError> {
        let path = self.dir.join(ip.to_string());
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                let written = file.write_all(format!("{id}{LINE_BREAK}{ifname}").as_bytes());
                if let Err(e) = written {
                    let _ = std::fs::remove_file(&path);
                    return Err(PluginError::io(format!("writing {}", path.display()), e));
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(PluginError::io(format!("creating {}", path.display()), e)),
        }
    }

    /// Every allocation as (address, container id, ifname).
    fn entries(&self) -> Result<Vec<(IpAddr, String, String)>, PluginError> {
        let dir = std::fs::read_dir(&self.dir)
            .map_err(|e| PluginError::io(format!("reading {}", self.dir.display()), e))?;
        let mut out = Vec::new();
        for entry in dir.filter_map(Result::ok) {
            let Some(ip) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<IpAddr>().ok())
            else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let mut lines = text.split(LINE_BREAK);
            let id = lines.next().unwrap_or_default().trim().to_string();
            let ifname = lines.next().unwrap_or_default().trim().to_string();
            out.push((ip, id, ifname));
        }
        Ok(out)
    }

    /// The addresses held by `id` on `ifname` (an entry without an ifname,
    /// from old host-local versions, matches any).
    pub fn held_by(&self, id: &str, ifname: &str) -> Result<Vec<IpAddr>, PluginError> {
        Ok(self
            .entries()?
            .into_iter()
            .filter(|(_, i, f)| i == id && (f.is_empty() || f == ifname))
            .map(|(ip, _, _)| ip)
            .collect())
    }

    /// Releases everything `id`/`ifname` holds; returns what was released.
    /// Releasing nothing is fine (DEL is idempotent).
    pub fn release(&self, id: &str, ifname: &str) -> Result<Vec<IpAddr>, PluginError> {
        let held = self.held_by(id, ifname)?;
        for ip in &held {
            let path = self.dir.join(ip.to_string());
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(PluginError::io(format!("removing {}", path.display()), e));
            }
        }
        Ok(held)
    }

    /// The attachments (container id, ifname) holding addresses that are
    /// not in `keep`, each once.
    pub fn stale_attachments(
        &self,
        keep: &[(String, String)],
    ) -> Result<Vec<(String, String)>, PluginError> {
        let mut stale: Vec<(String, String)> = Vec::new();
        for (_, id, ifname) in self.entries()? {
            let kept = keep
                .iter()
                .any(|(k_id, k_if)| *k_id == id && (ifname.is_empty() || *k_if == ifname));
            let attachment = (id, ifname);
            if !kept && !stale.contains(&attachment) {
                stale.push(attachment);
            }
        }
        Ok(stale)
    }
}

fn in_range(range: &Range, ip: IpAddr) -> bool {
    range.subnet.contains(ip)
        && to_u128(ip) >= to_u128(range.start)
        && to_u128(ip) <= to_u128(range.end)
}

fn allocation(ip: IpAddr, range: &Range) -> Allocation {
    Allocation {
        ip,
        prefix: range.subnet.prefix,
        gateway: range.gateway,
    }
}

#[cfg(test)]
mod tests {
    use super::super::conf::RangeConf;
    use super::*;

    fn set(subnet: &str, start: Option<&str>, end: Option<&str>) -> Vec<Range> {
        vec![
            Range::from_conf(&RangeConf {
                subnet: subnet.into(),
                range_start: start.map(|s| s.parse().unwrap()),
                range_end: end.map(|s| s.parse().unwrap()),
                gateway: None,
            })
            .unwrap(),
        ]
    }

    #[test]
    fn allocations_skip_the_gateway_are_distinct_and_persist_in_host_local_format() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::lock(tmp.path()).unwrap();
        let sets = vec![set("10.244.9.0/24", None, None)];
        let a = store.allocate(&sets, "c1", "eth0", &[]).unwrap();
        let b = store.allocate(&sets, "c2", "eth0", &[]).unwrap();
        assert_eq!(a[0].ip.to_string(), "10.244.9.2");
        assert_eq!(b[0].ip.to_string(), "10.244.9.3");
        assert_eq!(a[0].gateway.to_string(), "10.244.9.1");
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("10.244.9.2")).unwrap(),
            "c1\r\neth0"
        );
        // A retried ADD gets the same address back.
        assert_eq!(store.allocate(&sets, "c1", "eth0", &[]).unwrap(), a);
    }

    #[test]
    fn release_frees_the_address_and_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::lock(tmp.path()).unwrap();
        let sets = vec![set("10.244.9.0/24", None, None)];
        let a = store.allocate(&sets, "c1", "eth0", &[]).unwrap();
        assert_eq!(store.release("c1", "eth0").unwrap(), vec![a[0].ip]);
        assert!(store.release("c1", "eth0").unwrap().is_empty());
        assert!(!tmp.path().join("10.244.9.2").exists());
    }

    #[test]
    fn an_exhausted_range_is_an_error_and_round_robin_reuses_freed_addresses() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::lock(tmp.path()).unwrap();
        let sets = vec![set(
            "10.244.9.0/24",
            Some("10.244.9.10"),
            Some("10.244.9.11"),
        )];
        store.allocate(&sets, "c1", "eth0", &[]).unwrap();
        store.allocate(&sets, "c2", "eth0", &[]).unwrap();
        let err = store.allocate(&sets, "c3", "eth0", &[]).unwrap_err();
        assert!(err.msg.contains("no IP addresses available"), "{}", err.msg);
        store.release("c1", "eth0").unwrap();
        let again = store.allocate(&sets, "c3", "eth0", &[]).unwrap();
        assert_eq!(again[0].ip.to_string(), "10.244.9.10");
    }

    #[test]
    fn requested_addresses_are_reserved_or_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::lock(tmp.path()).unwrap();
        let sets = vec![set("10.244.9.0/24", None, None)];
        let want: IpAddr = "10.244.9.77".parse().unwrap();
        assert_eq!(
            store.allocate(&sets, "c1", "eth0", &[want]).unwrap()[0].ip,
            want
        );
        assert!(store.allocate(&sets, "c2", "eth0", &[want]).is_err());
    }

    #[test]
    fn dual_stack_allocates_one_address_per_set_and_unwinds_on_failure() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::lock(tmp.path()).unwrap();
        let full = set("fd00::/120", Some("fd00::5"), Some("fd00::5"));
        let sets = vec![set("10.244.9.0/24", None, None), full];
        let a = store.allocate(&sets, "c1", "eth0", &[]).unwrap();
        assert_eq!(a.len(), 2);
        assert!(store.allocate(&sets, "c2", "eth0", &[]).is_err());
        assert!(store.held_by("c2", "eth0").unwrap().is_empty());
    }

    #[test]
    fn gc_finds_the_attachments_not_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::lock(tmp.path()).unwrap();
        let sets = vec![set("10.244.9.0/24", None, None)];
        store.allocate(&sets, "c1", "eth0", &[]).unwrap();
        store.allocate(&sets, "c2", "eth0", &[]).unwrap();
        let stale = store
            .stale_attachments(&[("c1".into(), "eth0".into())])
            .unwrap();
        assert_eq!(stale, vec![("c2".to_string(), "eth0".to_string())]);
    }
}
