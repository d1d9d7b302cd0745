//! The container process: args, env, cwd, user, terminal, capabilities.
//!
//! The merge rules are the kubelet's and containerd's, so an image behaves the
//! same here as on any other node.

use std::collections::HashSet;

use cradle_proto::cri;
use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilitiesBuilder, Process, User, UserBuilder,
};

use super::input::SpecInput;
use crate::core::error::SpecError;

/// PATH when neither the image nor the config sets one (containerd's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// containerd's and CRI-O's 14 default capabilities of a non-privileged container.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Every capability the spec format knows: what `add: ["ALL"]` grants.
const ALL_CAPABILITIES: [&str; 41] = [
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETGID",
    "SETFCAP",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
];

/// Capability names by number, in the kernel's order (`linux/capability.h`).
const KERNEL_ORDER: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The capabilities of a `/proc/<pid>/status` mask (`CapBnd:` …) that the
/// spec format knows; bits beyond them (newer kernels) are left out.
pub fn capabilities_from_mask(mask: u64) -> Capabilities {
    KERNEL_ORDER
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1u64 << bit) != 0)
        .filter_map(|(_, name)| parse_capability(name).ok())
        .collect()
}

pub(super) fn build_process(input: &SpecInput<'_>) -> Result<Process, SpecError> {
    let config = input.config;
    let security = config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref());
    let resources = config.linux.as_ref().and_then(|l| l.resources.as_ref());

    let mut process = Process::default();
    process.set_terminal(Some(config.tty));
    process.set_args(Some(args(config, input.image)?));
    process.set_env(Some(env(config, input.image, &input.sandbox.hostname)));
    process.set_cwd(cwd(config, input.image).into());
    process.set_user(user(input.image, security, &input.resolved.users)?);
    process.set_capabilities(Some(capabilities(
        security,
        input.resolved.current_capabilities.as_ref(),
    )?));
    process.set_no_new_privileges(Some(security.is_some_and(|s| s.no_new_privs)));
    // No rlimits: the container inherits the shim's, as with containerd.
    process.set_rlimits(None);
    let oom_score_adj = resources
        .map(|r| i32::try_from(r.oom_score_adj))
        .transpose()
        .map_err(|_| SpecError::build("oom_score_adj is out of range"))?;
    process.set_oom_score_adj(
        oom_score_adj.map(|adj| adj.max(input.resolved.oom_score_adj_floor.unwrap_or(adj))),
    );
    process.set_apparmor_profile(super::security::apparmor_in_spec(
        security,
        input.resolved.apparmor_profile.as_deref(),
    )?);
    process.set_selinux_label(None);
    Ok(process)
}

/// The kubelet's rule: `command` replaces the image Entrypoint and drops its
/// Cmd; `args` replace Cmd.
pub(super) fn args(
    config: &cri::ContainerConfig,
    image: &cradle_snapshotter::ImageConfig,
) -> Result<Vec<String>, SpecError> {
    let args: Vec<String> = if !config.command.is_empty() {
        config.command.iter().chain(&config.args).cloned().collect()
    } else {
        let tail = if config.args.is_empty() {
            &image.cmd
        } else {
            &config.args
        };
        image.entrypoint.iter().chain(tail).cloned().collect()
    };
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(args)
}

/// HOSTNAME, then the image's env, then the config's; a later `KEY=` replaces
/// an earlier one in place. PATH is added when nobody set it.
pub(super) fn env(
    config: &cri::ContainerConfig,
    image: &cradle_snapshotter::ImageConfig,
    hostname: &str,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut set = |entry: String| {
        let key = entry.split('=').next().unwrap_or_default().to_string();
        match out
            .iter_mut()
            .find(|e| e.split('=').next() == Some(key.as_str()))
        {
            Some(existing) => *existing = entry,
            None => out.push(entry),
        }
    };
    if !hostname.is_empty() {
        set(format!("HOSTNAME={hostname}"));
    }
    for entry in &image.env {
        set(entry.clone());
    }
    for kv in &config.envs {
        // Validation refused values that are not UTF-8 (cri::validate).
        set(format!("{}={}", kv.key, String::from_utf8_lossy(&kv.value)));
    }
    if !out.iter().any(|e| e.starts_with("PATH=")) {
        out.push(format!("PATH={DEFAULT_PATH}"));
    }
    out
}

/// config.working_dir, else the image's WorkingDir, else `/`.
pub(super) fn cwd(
    config: &cri::ContainerConfig,
    image: &cradle_snapshotter::ImageConfig,
) -> String {
    if !config.working_dir.is_empty() {
        return config.working_dir.clone();
    }
    match &image.working_dir {
        Some(dir) if !dir.is_empty() => dir.clone(),
        _ => "/".to_string(),
    }
}

/// The container's identity, containerd's rules: the image's `USER`
/// (`name`, `uid`, `name:group`, `uid:gid`, names looked up in the image's
/// /etc/passwd and /etc/group), then run_as_user (gid from its passwd entry,
/// else 0) or run_as_username (which must exist), then run_as_group. The
/// additional gids are the primary gid, then (policy Merge) the groups that
/// list the user as a member in the image's /etc/group, then the
/// configured supplemental groups; policy Strict skips the image's groups.
pub(super) fn user(
    image: &cradle_snapshotter::ImageConfig,
    security: Option<&cri::LinuxContainerSecurityContext>,
    db: &crate::containers::users::UserDb,
) -> Result<User, SpecError> {
    let mut identity = Identity {
        uid: 0,
        gid: 0,
        username: db.user_by_uid(0).map(|u| u.name.clone()),
    };
    if let Some(image_user) = image.user.as_deref().filter(|u| !u.is_empty()) {
        identity = image_identity(image_user, db)?;
    }
    let mut strict = false;
    let mut configured = Vec::new();
    if let Some(security) = security {
        run_as(&mut identity, security, db)?;
        strict = strict_groups(security)?;
        for g in &security.supplemental_groups {
            configured.push(id(*g, "supplemental_groups")?);
        }
    }
    let Identity { uid, gid, username } = identity;
    let mut additional = vec![gid];
    if !strict && let Some(name) = &username {
        additional.extend(
            db.groups
                .iter()
                .filter(|g| g.name != *name && g.members.iter().any(|m| m == name))
                .map(|g| g.gid),
        );
    }
    additional.extend(configured);
    let mut seen = HashSet::new();
    additional.retain(|g| seen.insert(*g));
    UserBuilder::default()
        .uid(uid)
        .gid(gid)
        .additional_gids(additional)
        .build()
        .map_err(|e| SpecError::oci("user", e))
}

/// Who the process runs as, while [`user`] works it out.
struct Identity {
    uid: u32,
    gid: u32,
    /// The user's name in the image's /etc/passwd, for its groups.
    username: Option<String>,
}

/// The image's `USER` (`name`, `uid`, `name:group`, `uid:gid`), names
/// looked up in the image's /etc/passwd and /etc/group.
fn image_identity(
    image_user: &str,
    db: &crate::containers::users::UserDb,
) -> Result<Identity, SpecError> {
    let (u, g) = match image_user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (image_user, None),
    };
    let mut identity = match u.parse::<u32>() {
        Ok(n) => {
            let entry = db.user_by_uid(n);
            Identity {
                uid: n,
                gid: entry.map_or(0, |e| e.gid),
                username: entry.map(|e| e.name.clone()),
            }
        }
        Err(_) => {
            let entry = db.user_by_name(u).ok_or_else(|| {
                SpecError::build(format!(
                    "image user {u:?} is not in the image's /etc/passwd"
                ))
            })?;
            Identity {
                uid: entry.uid,
                gid: entry.gid,
                username: Some(entry.name.clone()),
            }
        }
    };
    if let Some(g) = g.filter(|g| !g.is_empty()) {
        identity.gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                db.group_by_name(g)
                    .ok_or_else(|| {
                        SpecError::build(format!(
                            "image group {g:?} is not in the image's /etc/group"
                        ))
                    })?
                    .gid
            }
        };
    }
    Ok(identity)
}

/// run_as_user (gid from its passwd entry, else 0) or run_as_username
/// (which must exist), then run_as_group, over the image's identity.
fn run_as(
    identity: &mut Identity,
    security: &cri::LinuxContainerSecurityContext,
    db: &crate::containers::users::UserDb,
) -> Result<(), SpecError> {
    if let Some(v) = &security.run_as_user {
        let uid = id(v.value, "run_as_user")?;
        let entry = db.user_by_uid(uid);
        *identity = Identity {
            uid,
            gid: entry.map_or(0, |e| e.gid),
            username: entry.map(|e| e.name.clone()),
        };
    } else if !security.run_as_username.is_empty() {
        let name = &security.run_as_username;
        let entry = db.user_by_name(name).ok_or_else(|| {
            SpecError::build(format!(
                "run_as_username {name:?} is not in the image's /etc/passwd"
            ))
        })?;
        *identity = Identity {
            uid: entry.uid,
            gid: entry.gid,
            username: Some(entry.name.clone()),
        };
    }
    if let Some(v) = &security.run_as_group {
        identity.gid = id(v.value, "run_as_group")?;
    }
    Ok(())
}

/// Whether the supplemental groups policy is Strict (the image's groups
/// are skipped) rather than Merge.
fn strict_groups(security: &cri::LinuxContainerSecurityContext) -> Result<bool, SpecError> {
    match cri::SupplementalGroupsPolicy::try_from(security.supplemental_groups_policy) {
        Ok(cri::SupplementalGroupsPolicy::Merge) => Ok(false),
        Ok(cri::SupplementalGroupsPolicy::Strict) => Ok(true),
        Err(_) => Err(SpecError::build(format!(
            "unknown supplemental_groups_policy {}",
            security.supplemental_groups_policy
        ))),
    }
}

fn id(value: i64, field: &str) -> Result<u32, SpecError> {
    u32::try_from(value).map_err(|_| SpecError::build(format!("{field} {value} is out of range")))
}

fn parse_capability(name: &str) -> Result<Capability, SpecError> {
    // Capability's Deserialize accepts both "NET_ADMIN" and "CAP_NET_ADMIN".
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| SpecError::build(format!("unknown capability {name:?}")))
}

/// The default set, then containerd's order: add ALL, drop ALL, add each,
/// drop each. Bounding, effective and permitted get the result; inheritable
/// and ambient stay empty (CVE-2022-24769) unless ambient ones are asked for.
/// ALL is every capability the runtime holds (`current`), as containerd's
/// `WithAllCurrentCapabilities`: one the node withholds (CAP_SYS_RESOURCE
/// here) would make the runtime refuse the container.
pub(super) fn effective_capabilities(
    caps: Option<&cri::Capability>,
    current: Option<&Capabilities>,
) -> Result<(Capabilities, Capabilities), SpecError> {
    let mut set: Capabilities = DEFAULT_CAPABILITIES.into_iter().collect();
    let mut ambient = HashSet::new();
    if let Some(caps) = caps {
        let is_all = |c: &String| c.eq_ignore_ascii_case("ALL");
        if caps.add_capabilities.iter().any(is_all) {
            set.extend(all_capabilities(current)?);
        }
        if caps.drop_capabilities.iter().any(is_all) {
            set.clear();
        }
        for name in caps.add_capabilities.iter().filter(|c| !is_all(c)) {
            set.insert(parse_capability(name)?);
        }
        for name in caps.drop_capabilities.iter().filter(|c| !is_all(c)) {
            set.remove(&parse_capability(name)?);
        }
        for name in &caps.add_ambient_capabilities {
            let cap = parse_capability(name)?;
            set.insert(cap);
            ambient.insert(cap);
        }
    }
    Ok((set, ambient))
}

/// Every capability the runtime holds (`current`), or without it every
/// capability the spec format knows.
fn all_capabilities(current: Option<&Capabilities>) -> Result<Capabilities, SpecError> {
    match current {
        Some(current) => Ok(current.clone()),
        None => ALL_CAPABILITIES
            .iter()
            .map(|c| parse_capability(c))
            .collect(),
    }
}

/// A privileged container gets every capability the runtime itself holds
/// (`current`: the daemon's bounding set), as containerd's
/// `WithAllCurrentCapabilities`: asking for one the runtime lacks (say,
/// CAP_SYS_RESOURCE in a restricted node) makes runc fail the start.
/// Without `current`, every capability the spec format knows.
fn capabilities(
    security: Option<&cri::LinuxContainerSecurityContext>,
    current: Option<&Capabilities>,
) -> Result<oci_spec::runtime::LinuxCapabilities, SpecError> {
    let (set, ambient) = if security.is_some_and(|s| s.privileged) {
        (all_capabilities(current)?, Default::default())
    } else {
        effective_capabilities(security.and_then(|s| s.capabilities.as_ref()), current)?
    };
    LinuxCapabilitiesBuilder::default()
        .bounding(set.clone())
        .effective(set.clone())
        .permitted(set)
        .inheritable(ambient.clone())
        .ambient(ambient)
        .build()
        .map_err(|e| SpecError::oci("capabilities", e))
}
