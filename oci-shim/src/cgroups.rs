//! The cgroup library shared by `cradle-oci` (containers) and `cradle-shim`
//! (the pod's pause process).
//!
//! A [`Cgroup`] is a path relative to the cgroup root (`/kubepods/pod1/abc`)
//! plus the hierarchy detected on this host: unified v2 when
//! `/sys/fs/cgroup` is a cgroup2 mount, otherwise v1 with one mount per
//! controller under `/sys/fs/cgroup/<name>`. A hybrid host also has a
//! cgroup2 mount at `/sys/fs/cgroup/unified`; when it carries controllers
//! (hugetlb, on some hosts, is only there) the cgroup is made, joined and
//! removed there too, and the limits of those controllers go there (see
//! docs/cgroups.md). Without controllers it is ignored.
//!
//! With the systemd driver ([`Cgroup::systemd`]) the cgroup is a
//! transient scope unit systemd makes ([`systemd`]); the files are then
//! written the same way, in the scope's directory.
//!
//! The library only writes cgroup files (and, for v2 device rules, loads
//! and attaches an eBPF program, and with the systemd driver asks systemd
//! over D-Bus); it never kills processes or logs.
//!
//! Where the hierarchies are ([`Hierarchy`], [`CGROUP_ROOT`]) is
//! `cradle-cgroupfs`'s, shared with the daemon's stat readers.

mod blockio;
mod bpf;
mod convert;
mod devfilter;
mod error;
mod freezer;
mod fs;
mod hugetlb;
mod rdma;
pub mod systemd;
mod v1;
mod v2;

use std::path::PathBuf;

use cradle_cgroupfs::has_controller;
use cradle_cgroupfs::parse::keyed_value;

use crate::spec::LinuxResources;

pub use convert::{shares_to_weight, swap_v2};
pub use cradle_cgroupfs::{CGROUP_ROOT, Hierarchy};
pub use error::CgroupError;

/// One cgroup (a directory in every v1 controller, or one v2 directory),
/// and the systemd scope that owns it under the systemd driver.
#[derive(Debug, Clone)]
pub struct Cgroup {
    path: String,
    hierarchy: Hierarchy,
    systemd: Option<systemd::Scope>,
}

impl Cgroup {
    /// A handle on `path` (absolute, no `..`) in the host's hierarchy.
    /// Nothing is created until [`Cgroup::create`].
    pub fn new(path: &str) -> Result<Self, CgroupError> {
        Self::with_hierarchy(path, Hierarchy::detect()?)
    }

    /// A handle on `path` in an explicitly given hierarchy.
    pub fn with_hierarchy(path: &str, hierarchy: Hierarchy) -> Result<Self, CgroupError> {
        Ok(Cgroup {
            path: validate_path(path)?,
            hierarchy,
            systemd: None,
        })
    }

    /// The systemd driver's cgroup for container `id`: the scope its
    /// `cgroupsPath` (`slice:prefix:name`) names, in the host's hierarchy.
    /// Refused where systemd is not running. Nothing is created until
    /// [`Cgroup::create`], which needs [`Cgroup::with_init_pid`] first.
    pub fn systemd(cgroups_path: &str, id: &str) -> Result<Self, CgroupError> {
        systemd::check_host()?;
        let scope = systemd::Scope::new(cgroups_path, id)?;
        let mut cg = Self::new(scope.unit().cgroup_path())?;
        cg.systemd = Some(scope);
        Ok(cg)
    }

    /// The cgroup of a container created with the systemd driver, from
    /// what its state recorded: the cgroup path and the scope unit.
    pub fn in_systemd_scope(path: &str, unit: &str) -> Result<Self, CgroupError> {
        let mut cg = Self::new(path)?;
        cg.systemd = Some(systemd::Scope::existing(unit, cg.path())?);
        Ok(cg)
    }

    /// The same cgroup, created for the container's init `pid`: a systemd
    /// scope starts with its first process in it. No change for cgroupfs.
    pub fn with_init_pid(&self, pid: i32) -> Self {
        let mut cg = self.clone();
        if let (Some(scope), Ok(pid)) = (cg.systemd.take(), u32::try_from(pid)) {
            cg.systemd = Some(scope.with_init_pid(pid));
        }
        cg
    }

    /// The systemd scope unit that owns the cgroup (systemd driver only).
    pub fn systemd_unit(&self) -> Option<&str> {
        self.systemd.as_ref().map(|s| s.unit().name())
    }

    /// The normalised path, always starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The hierarchy this handle writes to.
    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// The directories that make up this cgroup (one per v1 mount and one
    /// in a hybrid host's unified mount with controllers, one in v2).
    pub fn dirs(&self) -> Vec<PathBuf> {
        let rel = self.path.trim_start_matches('/');
        match &self.hierarchy {
            Hierarchy::V1 { mounts, unified } => mounts
                .iter()
                .map(|(_, m)| m.join(rel))
                .chain(unified.iter().map(|u| u.join(rel)))
                .collect(),
            Hierarchy::V2 { root } => vec![root.join(rel)],
        }
    }

    /// Creates the cgroup (and missing parents). v1: in every controller,
    /// copying `cpuset.cpus`/`cpuset.mems` down into each new cpuset
    /// directory; v2 (and a hybrid host's unified mount): enabling the
    /// available controllers along the path.
    ///
    /// Under the systemd driver, systemd first starts the scope with the
    /// init in it; then the same steps make what systemd does not (the v1
    /// controllers it leaves alone, the v2 controllers it does not enable,
    /// such as hugetlb), as runc does.
    pub fn create(&self) -> Result<(), CgroupError> {
        if let Some(scope) = &self.systemd {
            scope.start()?;
        }
        match &self.hierarchy {
            Hierarchy::V1 { mounts, unified } => {
                v1::create(mounts, &self.path)?;
                match unified {
                    Some(u) => v2::create(u, &self.path),
                    None => Ok(()),
                }
            }
            Hierarchy::V2 { root } => v2::create(root, &self.path),
        }
    }

    /// Moves `pid` (and its threads) into the cgroup.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in self.dirs() {
            fs::write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Applies every OCI resource limit: memory, cpu, cpuset, pids, block
    /// I/O, hugepages, rdma, network (v1), unified (v2) and device rules.
    /// A field the host cannot apply (controller not mounted, interface
    /// file missing, no equivalent in this cgroup version) is a
    /// [`CgroupError::Unsupported`] naming it. The one exception is a
    /// hugepage limit that cannot weaken anything (0 pages of a size the
    /// host cannot allocate): skipped, and described in the returned
    /// warnings for the caller to log (docs/cgroups.md).
    ///
    /// Under the systemd driver the limits systemd manages are first given
    /// to the scope as unit properties (so systemd keeps them when it
    /// re-applies its own), then every limit is written as for cgroupfs.
    pub fn apply(&self, resources: &LinuxResources) -> Result<Vec<String>, CgroupError> {
        if let Some(scope) = &self.systemd {
            scope.set_resources(resources, self.hierarchy.is_v2())?;
        }
        match &self.hierarchy {
            Hierarchy::V1 { mounts, unified } => {
                v1::apply(mounts, unified.as_deref(), &self.path, resources)
            }
            Hierarchy::V2 { root } => {
                let dir = root.join(self.path.trim_start_matches('/'));
                let warnings = v2::apply(&dir, resources)?;
                // v2 has no devices files: the rules become an eBPF
                // program that replaces the cgroup's previous one, so
                // callers pass all the rules in one call.
                if let Some(rules) = resources.devices.as_ref().filter(|r| !r.is_empty()) {
                    bpf::install(&dir, &devfilter::program(rules)?)?;
                }
                Ok(warnings)
            }
        }
    }

    /// Freezes every process of the cgroup (v1 freezer, v2
    /// `cgroup.freeze`) and waits until the kernel says it is frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        freezer::set(&self.hierarchy, &self.path, true)
    }

    /// Thaws the cgroup and waits until it runs again.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        freezer::set(&self.hierarchy, &self.path, false)
    }

    /// True when the cgroup is frozen (false when it does not exist).
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        freezer::is_frozen(&self.hierarchy, &self.path)
    }

    /// The pids in the cgroup (empty when it does not exist).
    pub fn processes(&self) -> Result<Vec<i32>, CgroupError> {
        let dir = match &self.hierarchy {
            Hierarchy::V1 { mounts, .. } => {
                let rel = self.path.trim_start_matches('/');
                let pick = mounts
                    .iter()
                    .find(|(n, _)| has_controller(n, "pids"))
                    .or_else(|| mounts.iter().find(|(n, _)| has_controller(n, "memory")))
                    .or(mounts.first());
                match pick {
                    Some((_, m)) => m.join(rel),
                    None => return Err(CgroupError::NoHierarchy),
                }
            }
            Hierarchy::V2 { root } => root.join(self.path.trim_start_matches('/')),
        };
        let file = dir.join("cgroup.procs");
        let Some(content) = fs::read_optional(&file)? else {
            return Ok(Vec::new());
        };
        content
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                l.trim().parse::<i32>().map_err(|_| CgroupError::Parse {
                    path: file.clone(),
                    content: l.to_string(),
                })
            })
            .collect()
    }

    /// How many times the kernel's OOM killer killed a process of this
    /// cgroup (0 when the cgroup or the counter does not exist).
    pub fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        let rel = self.path.trim_start_matches('/');
        let file = match &self.hierarchy {
            Hierarchy::V1 { mounts, .. } => {
                match mounts.iter().find(|(n, _)| has_controller(n, "memory")) {
                    Some((_, m)) => m.join(rel).join("memory.oom_control"),
                    None => return Ok(0),
                }
            }
            Hierarchy::V2 { root } => root.join(rel).join("memory.events"),
        };
        match fs::read_optional(&file)? {
            Some(content) => Ok(keyed_value(&content, "oom_kill").unwrap_or(0)),
            None => Ok(0),
        }
    }

    /// Removes the cgroup's directories that hold no child cgroup and no
    /// process; a busy one (another container's parent) is left alone.
    pub fn remove_if_empty(&self) {
        for dir in self.dirs() {
            // rmdir of a cgroup with children or tasks fails with EBUSY:
            // then it is still in use, which is no error here.
            let _ = std::fs::remove_dir(&dir);
        }
    }

    /// Removes the directory everywhere (with any child cgroups made under
    /// it), retrying briefly while the kernel still counts exiting
    /// processes. Absent directories are fine. Under the systemd driver
    /// the scope is stopped first (systemd removes its own directories).
    pub fn remove(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        if let Some(scope) = &self.systemd
            && let Err(e) = scope.stop()
        {
            first_err = Some(e);
        }
        for dir in self.dirs() {
            if let Err(e) = fs::remove_tree(&dir)
                && first_err.is_none()
            {
                first_err = Some(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Normalises and checks a cgroup path: absolute, no `..`, no `:` (the
/// systemd driver's `slice:prefix:name` form is not supported here).
fn validate_path(path: &str) -> Result<String, CgroupError> {
    let bad = |reason| CgroupError::InvalidPath {
        path: path.to_string(),
        reason,
    };
    if !path.starts_with('/') {
        return Err(bad("must be absolute"));
    }
    if path.contains(':') {
        return Err(bad(
            "systemd slice paths are not supported by the cgroupfs driver",
        ));
    }
    if path.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(bad("must not contain .."));
    }
    if parts.is_empty() {
        return Err(bad("must not be the root cgroup"));
    }
    Ok(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn path_is_normalised() {
        assert_eq!(validate_path("/a//b/./c/").unwrap(), "/a/b/c");
    }

    #[test]
    fn relative_dotdot_root_and_slice_paths_are_refused() {
        assert!(validate_path("a/b").is_err());
        assert!(validate_path("/a/../b").is_err());
        assert!(validate_path("/").is_err());
        assert!(validate_path("kubepods.slice:cri:abc").is_err());
    }

    fn resources(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    /// The interface files a kernel would provide (writes never create).
    fn touch(dir: &Path, files: &[&str]) {
        for f in files {
            std::fs::write(dir.join(f), "").unwrap();
        }
    }

    fn read(dir: &Path, file: &str) -> String {
        std::fs::read_to_string(dir.join(file)).unwrap()
    }

    #[test]
    fn v2_apply_writes_unified_files() {
        let root = tempfile::tempdir().unwrap();
        let h = Hierarchy::V2 {
            root: root.path().to_path_buf(),
        };
        let cg = Cgroup::with_hierarchy("/pod/c1", h).unwrap();
        cg.create().unwrap();
        touch(
            &root.path().join("pod/c1"),
            &[
                "memory.max",
                "memory.swap.max",
                "memory.low",
                "cpu.weight",
                "cpu.max",
                "cpuset.cpus",
                "cpuset.mems",
                "pids.max",
            ],
        );
        cg.apply(&resources(
            r#"{"memory":{"limit":1048576,"swap":3145728,"reservation":524288},
                "cpu":{"shares":1024,"quota":50000,"period":100000,"cpus":"0-1","mems":"0"},
                "pids":{"limit":-1}}"#,
        ))
        .unwrap();
        let d = root.path().join("pod/c1");
        assert_eq!(read(&d, "memory.max"), "1048576");
        assert_eq!(read(&d, "memory.swap.max"), "2097152");
        assert_eq!(read(&d, "memory.low"), "524288");
        assert_eq!(read(&d, "cpu.weight"), "39");
        assert_eq!(read(&d, "cpu.max"), "50000 100000");
        assert_eq!(read(&d, "cpuset.cpus"), "0-1");
        assert_eq!(read(&d, "pids.max"), "max");
    }

    #[test]
    fn v1_apply_writes_each_controller_and_device_rules() {
        let root = tempfile::tempdir().unwrap();
        let names = ["memory", "cpu,cpuacct", "pids", "devices", "cpuset"];
        let mounts: Vec<(String, PathBuf)> = names
            .iter()
            .map(|n| (n.to_string(), root.path().join(n)))
            .collect();
        for (_, m) in &mounts {
            std::fs::create_dir_all(m).unwrap();
        }
        std::fs::write(root.path().join("cpuset/cpuset.cpus"), "0-3\n").unwrap();
        std::fs::write(root.path().join("cpuset/cpuset.mems"), "0\n").unwrap();
        let cg = Cgroup::with_hierarchy(
            "/k/c",
            Hierarchy::V1 {
                mounts,
                unified: None,
            },
        )
        .unwrap();
        cg.create().unwrap();
        let mem = root.path().join("memory/k/c");
        std::fs::write(mem.join("memory.memsw.limit_in_bytes"), "").unwrap();
        touch(
            &root.path().join("cpu,cpuacct/k/c"),
            &["cpu.shares", "cpu.cfs_quota_us"],
        );
        touch(&root.path().join("pids/k/c"), &["pids.max"]);
        cg.apply(&resources(
            r#"{"memory":{"limit":1048576,"swap":2097152},"cpu":{"shares":512,"quota":20000},
                "pids":{"limit":10},"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3}]}"#,
        ))
        .unwrap();
        assert_eq!(read(&mem, "memory.limit_in_bytes"), "1048576");
        assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "2097152");
        let cpu = root.path().join("cpu,cpuacct/k/c");
        assert_eq!(read(&cpu, "cpu.shares"), "512");
        assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "20000");
        assert_eq!(read(&root.path().join("pids/k/c"), "pids.max"), "10");
        // A plain file keeps only the last write: the allow rule.
        assert_eq!(
            read(&root.path().join("devices/k/c"), "devices.allow"),
            "c 1:3 rwm"
        );
        assert_eq!(
            read(&root.path().join("devices/k/c"), "devices.deny"),
            "a *:* rwm"
        );
        // New cpuset directories inherit cpus and mems from their parent.
        assert_eq!(read(&root.path().join("cpuset/k"), "cpuset.cpus"), "0-3");
        assert_eq!(read(&root.path().join("cpuset/k/c"), "cpuset.mems"), "0");
    }

    #[test]
    fn the_systemd_driver_is_refused_where_systemd_does_not_run() {
        let cg = Cgroup::systemd("kubepods-pod1.slice:cri-cradle:c1", "c1");
        if systemd::systemd_running() {
            let cg = cg.unwrap();
            assert_eq!(
                cg.path(),
                "/kubepods.slice/kubepods-pod1.slice/cri-cradle-c1.scope"
            );
            assert_eq!(cg.systemd_unit(), Some("cri-cradle-c1.scope"));
        } else {
            let e = cg.unwrap_err().to_string();
            assert_eq!(
                e,
                "systemd cgroup driver requested but systemd is not running (no /run/systemd/system)"
            );
        }
    }

    #[test]
    fn a_recorded_scope_keeps_its_unit_and_cgroupfs_has_none() {
        let cg = Cgroup::in_systemd_scope("/system.slice/cri-x.scope", "cri-x.scope").unwrap();
        assert_eq!(cg.systemd_unit(), Some("cri-x.scope"));
        assert_eq!(cg.with_init_pid(42).systemd_unit(), Some("cri-x.scope"));
        assert!(Cgroup::in_systemd_scope("/system.slice/cri-x.scope", "other.scope").is_err());
        let h = Hierarchy::V2 {
            root: "/sys/fs/cgroup".into(),
        };
        assert_eq!(
            Cgroup::with_hierarchy("/a/b", h).unwrap().systemd_unit(),
            None
        );
    }

    #[test]
    fn v1_dirs_cover_every_mount() {
        let h = Hierarchy::V1 {
            mounts: vec![
                ("memory".into(), PathBuf::from("/sys/fs/cgroup/memory")),
                (
                    "cpu,cpuacct".into(),
                    PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"),
                ),
            ],
            unified: None,
        };
        let cg = Cgroup::with_hierarchy("/k/p", h).unwrap();
        assert_eq!(
            cg.dirs(),
            vec![
                PathBuf::from("/sys/fs/cgroup/memory/k/p"),
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/k/p")
            ]
        );
    }
}
