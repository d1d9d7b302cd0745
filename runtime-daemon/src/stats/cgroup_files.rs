//! One cgroup's files, found alike under cgroup v1 (a hierarchy per
//! controller) and v2 (one hierarchy): the lookup both [`super::cgroup`]
//! (usage) and [`super::detail`] (the counters beyond usage) read through.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cradle_cgroupfs::Hierarchy;
use cradle_cgroupfs::read::{keyed_file, u64_file};

/// The files of the cgroup at one path, under one cgroup root.
pub struct CgroupFiles<'a> {
    hierarchy: Cow<'a, Hierarchy>,
    cgroup_path: &'a str,
}

impl<'a> CgroupFiles<'a> {
    /// The cgroup at `cgroup_path` (e.g. `/kubepods/pod1/<id>`) under
    /// `root` (v2 when `root` holds `cgroup.controllers`).
    pub fn at(root: &Path, cgroup_path: &'a str) -> Self {
        CgroupFiles {
            hierarchy: Cow::Owned(Hierarchy::by_files(root)),
            cgroup_path,
        }
    }

    /// The cgroup at `cgroup_path` in a hierarchy already looked up (on
    /// cgroup v1 the lookup lists the root's controller mounts: a pass
    /// over many cgroups does it once, not once per file).
    pub fn in_hierarchy(hierarchy: &'a Hierarchy, cgroup_path: &'a str) -> Self {
        CgroupFiles {
            hierarchy: Cow::Borrowed(hierarchy),
            cgroup_path,
        }
    }

    /// Whether the root is the unified (v2) hierarchy.
    pub fn is_v2(&self) -> bool {
        self.hierarchy.is_v2()
    }

    /// The path of file `name` of `controller`; `None` where the
    /// controller has no hierarchy.
    pub fn path(&self, controller: &str, name: &str) -> Option<PathBuf> {
        self.hierarchy
            .controller_dir(controller, self.cgroup_path)
            .map(|dir| dir.join(name))
    }

    /// A `key value` file's entries; empty when it cannot be read.
    pub fn keyed(&self, controller: &str, name: &str) -> HashMap<String, u64> {
        self.path(controller, name)
            .map(|f| keyed_file(&f))
            .unwrap_or_default()
    }

    /// A one-number file's value; `None` when it cannot be read.
    pub fn number(&self, controller: &str, name: &str) -> Option<u64> {
        self.path(controller, name).and_then(|f| u64_file(&f))
    }
}
