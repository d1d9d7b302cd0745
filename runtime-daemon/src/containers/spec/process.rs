//! The container process: args, env, cwd, user, terminal, capabilities.
//!
//! The merge rules are the kubelet's and containerd's, so an image behaves the
//! same here as on any other node.

use std::collections::HashSet;

use cradle_proto::cri;
use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilitiesBuilder, Process, User, UserBuilder,
};

use super::{SpecError, SpecInput};

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
    process.set_user(user(input.image, security)?);
    process.set_capabilities(Some(capabilities(security)?));
    process.set_no_new_privileges(Some(security.is_some_and(|s| s.no_new_privs)));
    // No rlimits: the container inherits the shim's, as with containerd.
    process.set_rlimits(None);
    process.set_oom_score_adj(
        resources
            .map(|r| i32::try_from(r.oom_score_adj))
            .transpose()
            .map_err(|_| SpecError::build("oom_score_adj is out of range"))?,
    );
    process.set_apparmor_profile(None);
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
        set(format!("{}={}", kv.key, kv.value));
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

/// uid/gid from the image's User (numeric `uid[:gid]` only), overridden by
/// the security context's run_as_user/run_as_group; supplemental groups.
pub(super) fn user(
    image: &cradle_snapshotter::ImageConfig,
    security: Option<&cri::LinuxContainerSecurityContext>,
) -> Result<User, SpecError> {
    let (mut uid, mut gid) = (0u32, 0u32);
    if let Some(image_user) = image.user.as_deref().filter(|u| !u.is_empty()) {
        let (u, g) = match image_user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (image_user, None),
        };
        // TODO: names ("nobody", "www-data:www-data") need a lookup in the
        // rootfs's /etc/passwd and /etc/group; until then they run as 0.
        if let Ok(n) = u.parse::<u32>() {
            uid = n;
        } else {
            tracing::warn!(
                user = image_user,
                "image user is a name: not resolved yet, using uid 0"
            );
        }
        if let Some(n) = g.and_then(|g| g.parse::<u32>().ok()) {
            gid = n;
        }
    }
    let mut additional = Vec::new();
    if let Some(security) = security {
        if let Some(v) = &security.run_as_user {
            uid = id(v.value, "run_as_user")?;
        }
        if let Some(v) = &security.run_as_group {
            gid = id(v.value, "run_as_group")?;
        }
        if !security.run_as_username.is_empty() {
            return Err(SpecError::build(format!(
                "run_as_username {:?}: user names are not resolved yet",
                security.run_as_username
            )));
        }
        for g in &security.supplemental_groups {
            additional.push(id(*g, "supplemental_groups")?);
        }
    }
    UserBuilder::default()
        .uid(uid)
        .gid(gid)
        .additional_gids(additional)
        .build()
        .map_err(|e| SpecError::build(format!("user: {e}")))
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
pub(super) fn effective_capabilities(
    caps: Option<&cri::Capability>,
) -> Result<(Capabilities, Capabilities), SpecError> {
    let mut set: Capabilities = DEFAULT_CAPABILITIES.into_iter().collect();
    let mut ambient = HashSet::new();
    if let Some(caps) = caps {
        let is_all = |c: &String| c.eq_ignore_ascii_case("ALL");
        if caps.add_capabilities.iter().any(is_all) {
            for name in ALL_CAPABILITIES {
                set.insert(parse_capability(name)?);
            }
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

fn capabilities(
    security: Option<&cri::LinuxContainerSecurityContext>,
) -> Result<oci_spec::runtime::LinuxCapabilities, SpecError> {
    let (set, ambient) = effective_capabilities(security.and_then(|s| s.capabilities.as_ref()))?;
    LinuxCapabilitiesBuilder::default()
        .bounding(set.clone())
        .effective(set.clone())
        .permitted(set)
        .inheritable(ambient.clone())
        .ambient(ambient)
        .build()
        .map_err(|e| SpecError::build(format!("capabilities: {e}")))
}
