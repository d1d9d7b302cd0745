//! Which namespaces the container joins (by path) and which it creates.

use std::fs::File;
use std::path::PathBuf;

use nix::sched::CloneFlags;

use crate::oci::error::{OciError, Result};
use crate::oci::syscall::Syscall;
use crate::spec::{LinuxNamespace, LinuxNamespaceType};

/// The namespace part of a spec, decided before any fork.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NsPlan {
    /// Namespaces to join: the others, then the user namespace, the mount
    /// namespace last (see [`join`]).
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
    /// Namespaces to create in the intermediate process (all but cgroup).
    pub unshare: CloneFlags,
    /// A new cgroup namespace, created by the init once it is in its cgroup.
    pub new_cgroup: bool,
    /// A new UTS namespace (the init may set the hostname).
    pub new_uts: bool,
    /// A new pid namespace (or a joined one) : the init is pid 1 there.
    pub has_pid_ns: bool,
    /// A new user namespace: unshared first, then `create` writes its id
    /// maps while the intermediate waits.
    pub new_user: bool,
    /// A user namespace joined by path.
    pub join_user: bool,
    /// A new time namespace: `create` writes its offsets before the init
    /// (the first process to live in it) is forked.
    pub new_time: bool,
}

fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // nix has no constant for CLONE_NEWTIME.
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

fn order(t: LinuxNamespaceType) -> u8 {
    match t {
        LinuxNamespaceType::User => 1,
        LinuxNamespaceType::Mount => 2,
        _ => 0,
    }
}

/// Builds the plan.
pub(crate) fn plan(namespaces: &[LinuxNamespace]) -> Result<NsPlan> {
    let mut p = NsPlan {
        join: Vec::new(),
        unshare: CloneFlags::empty(),
        new_cgroup: false,
        new_uts: false,
        has_pid_ns: false,
        new_user: false,
        join_user: false,
        new_time: false,
    };
    let mut seen = Vec::new();
    for ns in namespaces {
        let t = ns.typ;
        if seen.contains(&t) {
            return Err(OciError::Unsupported(format!("namespace {t} listed twice")));
        }
        seen.push(t);
        match &ns.path {
            Some(path) => {
                p.join_user |= t == LinuxNamespaceType::User;
                p.join.push((t, path.clone()))
            }
            None => match t {
                LinuxNamespaceType::User => p.new_user = true,
                LinuxNamespaceType::Time => {
                    p.new_time = true;
                    p.unshare |= flag(LinuxNamespaceType::Time);
                }
                LinuxNamespaceType::Cgroup => p.new_cgroup = true,
                other => p.unshare |= flag(other),
            },
        }
        match t {
            LinuxNamespaceType::Uts => p.new_uts = ns.path.is_none(),
            LinuxNamespaceType::Pid => p.has_pid_ns = true,
            _ => {}
        }
    }
    p.join.sort_by_key(|(t, _)| order(*t));
    Ok(p)
}

impl NsPlan {
    /// Where the container's mounts are made. As runc: in a new mount
    /// namespace, in one joined by path (shared with whoever else is in
    /// it), or, with no mount namespace listed, in the runtime's own.
    pub(crate) fn mount_ns(&self) -> MountNs {
        if self.unshare.contains(CloneFlags::CLONE_NEWNS) {
            MountNs::New
        } else if self
            .join
            .iter()
            .any(|(t, _)| *t == LinuxNamespaceType::Mount)
        {
            MountNs::Joined
        } else {
            MountNs::Inherited
        }
    }
}

/// The container's mount namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MountNs {
    /// `{"type": "mount"}`: a new one, copied from the runtime's.
    New,
    /// `{"type": "mount", "path": …}`: an existing one.
    Joined,
    /// No mount entry: the runtime's own (the host's). The init then
    /// leaves the propagation of `/` alone, binds the rootfs privately and
    /// chroots (pivot_root would move the host's root); its mounts stay in
    /// this namespace until `delete` detaches them.
    Inherited,
}

/// Joins the namespaces of the plan (opening every path first, since a
/// joined mount namespace may hide the others). Runs in the intermediate.
///
/// As crun, the others are joined before the user namespace while the
/// runtime still holds its capabilities: a pod's network, IPC and UTS
/// namespaces pinned by the node's root belong to the node's user
/// namespace, which a process in the pod's can no longer enter. One that
/// refuses (EPERM: a rootless runtime, which gains its rights only in the
/// user namespace) is joined again after it; the mount namespace is last.
pub(crate) fn join(sys: &impl Syscall, plan: &NsPlan) -> Result<()> {
    let mut files = Vec::new();
    for (t, path) in &plan.join {
        let f = File::open(path).map_err(|e| OciError::io("open namespace", path, e))?;
        files.push((*t, path, f));
    }
    let setns = |t: &LinuxNamespaceType, path: &PathBuf, f: &File| {
        sys.setns(f, flag(*t))
            .map_err(|e| OciError::sys(format!("setns {t} {}", path.display()), e))
    };
    let joins_user = files.iter().any(|(t, _, _)| *t == LinuxNamespaceType::User);
    let mut deferred = Vec::new();
    for (t, path, f) in &files {
        match t {
            LinuxNamespaceType::User | LinuxNamespaceType::Mount => deferred.push((t, path, f)),
            _ if joins_user => match sys.setns(f, flag(*t)) {
                Err(nix::Error::EPERM) => deferred.push((t, path, f)),
                other => {
                    other.map_err(|e| OciError::sys(format!("setns {t} {}", path.display()), e))?
                }
            },
            _ => setns(t, path, f)?,
        }
    }
    for (t, path, f) in deferred {
        setns(t, path, f)?;
    }
    Ok(())
}

/// Unshares the new namespaces, the user namespace first so that it owns
/// the others. Runs in the intermediate, after [`join`].
pub(crate) fn unshare(sys: &impl Syscall, plan: &NsPlan) -> Result<()> {
    if plan.new_user {
        sys.unshare(CloneFlags::CLONE_NEWUSER)
            .map_err(|e| OciError::sys("unshare user namespace", e))?;
    }
    if !plan.unshare.is_empty() {
        sys.unshare(plan.unshare)
            .map_err(|e| OciError::sys(format!("unshare {:?}", plan.unshare), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(json: &str) -> Vec<LinuxNamespace> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn joined_namespaces_are_ordered_user_first_mount_last() {
        let p = plan(&ns(r#"[{"type":"mount"},{"type":"network","path":"/n"},
            {"type":"ipc","path":"/i"},{"type":"pid"},{"type":"cgroup"},{"type":"uts"}]"#))
        .unwrap();
        assert_eq!(p.join.len(), 2);
        assert!(p.unshare.contains(
            CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUTS
        ));
        assert!(!p.unshare.contains(CloneFlags::CLONE_NEWCGROUP));
        assert!(!p.unshare.contains(CloneFlags::CLONE_NEWNET));
        assert!(p.new_cgroup && p.new_uts && p.has_pid_ns);
    }

    #[test]
    fn new_user_and_time_namespaces_are_planned_and_missing_mount_refused() {
        let p = plan(&ns(r#"[{"type":"mount"},{"type":"user"},{"type":"time"}]"#)).unwrap();
        assert!(p.new_user && p.new_time);
        assert!(!p.unshare.contains(CloneFlags::CLONE_NEWUSER));
        assert_eq!(p.mount_ns(), MountNs::New);
    }

    #[test]
    fn a_mount_namespace_is_new_joined_or_the_runtimes() {
        let p = plan(&ns(r#"[{"type":"pid"}]"#)).unwrap();
        assert_eq!(p.mount_ns(), MountNs::Inherited);
        let p = plan(&ns(r#"[{"type":"mount","path":"/proc/1/ns/mnt"}]"#)).unwrap();
        assert_eq!(p.mount_ns(), MountNs::Joined);
        assert!(!p.unshare.contains(CloneFlags::CLONE_NEWNS));
    }

    mod through_the_seam {
        use super::*;
        use crate::oci::syscall::{Call, Recorder};

        fn setns_kinds(log: &[Call]) -> Vec<(CloneFlags, String)> {
            log.iter()
                .filter_map(|c| match c {
                    Call::Setns(t, named) => {
                        Some((*t, named.split(':').next().unwrap_or("").to_string()))
                    }
                    _ => None,
                })
                .collect()
        }

        #[test]
        fn joins_come_first_user_after_the_others_mount_last_then_the_unshares() {
            let p = plan(&ns(r#"[{"type":"mount","path":"/proc/self/ns/mnt"},
                {"type":"ipc","path":"/proc/self/ns/ipc"},
                {"type":"user","path":"/proc/self/ns/user"},
                {"type":"pid"},{"type":"uts"}]"#))
            .unwrap();
            let sys = Recorder::new(std::path::Path::new("/"));
            join(&sys, &p).unwrap();
            unshare(&sys, &p).unwrap();
            let log = sys.log();
            assert_eq!(
                setns_kinds(&log),
                [
                    (CloneFlags::CLONE_NEWIPC, "ipc".to_string()),
                    (CloneFlags::CLONE_NEWUSER, "user".to_string()),
                    (CloneFlags::CLONE_NEWNS, "mnt".to_string()),
                ]
            );
            assert_eq!(
                log[3..],
                [Call::Unshare(
                    CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUTS
                )]
            );
        }

        #[test]
        fn a_new_user_namespace_is_unshared_alone_before_the_others() {
            let p = plan(&ns(
                r#"[{"type":"user"},{"type":"mount"},{"type":"network"},{"type":"cgroup"}]"#,
            ))
            .unwrap();
            let sys = Recorder::new(std::path::Path::new("/"));
            join(&sys, &p).unwrap();
            unshare(&sys, &p).unwrap();
            // The cgroup namespace is the init's, once it is in its cgroup.
            assert_eq!(
                sys.log(),
                [
                    Call::Unshare(CloneFlags::CLONE_NEWUSER),
                    Call::Unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWNET),
                ]
            );
        }

        #[test]
        fn a_spec_that_only_joins_unshares_nothing() {
            let p = plan(&ns(r#"[{"type":"network","path":"/proc/self/ns/net"}]"#)).unwrap();
            let sys = Recorder::new(std::path::Path::new("/"));
            join(&sys, &p).unwrap();
            unshare(&sys, &p).unwrap();
            assert_eq!(
                setns_kinds(&sys.log()),
                [(CloneFlags::CLONE_NEWNET, "net".to_string())]
            );
            assert_eq!(sys.log().len(), 1);
        }

        #[test]
        fn a_missing_namespace_path_fails_before_any_setns() {
            let p = plan(&ns(r#"[{"type":"user","path":"/proc/self/ns/user"},
                {"type":"network","path":"/nonexistent/net"}]"#))
            .unwrap();
            let sys = Recorder::new(std::path::Path::new("/"));
            let e = join(&sys, &p).unwrap_err().to_string();
            assert!(e.contains("/nonexistent/net"), "{e}");
            assert!(sys.log().is_empty());
        }
    }
}
