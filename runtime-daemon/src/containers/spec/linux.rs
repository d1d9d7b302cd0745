//! The `linux` section: namespaces, cgroup path and resources, the device
//! cgroup allow list, masked and read-only paths.

use std::path::Path;

use cradle_proto::cri;
use oci_spec::runtime::{
    Linux, LinuxCpuBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxResources, LinuxResourcesBuilder,
};

use super::input::SpecInput;
use crate::core::error::SpecError;

/// containerd's default masked paths.
pub const DEFAULT_MASKED_PATHS: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// containerd's default read-only paths.
pub const DEFAULT_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Character devices every container may use (containerd's
/// `WithDefaultUnixDevices`): type, major, minor (`None` = any), access.
const ALLOWED_DEVICES: [(i64, Option<i64>, &str); 10] = [
    (1, Some(3), "rwm"),    // /dev/null
    (1, Some(8), "rwm"),    // /dev/random
    (1, Some(7), "rwm"),    // /dev/full
    (5, Some(0), "rwm"),    // /dev/tty
    (1, Some(5), "rwm"),    // /dev/zero
    (1, Some(9), "rwm"),    // /dev/urandom
    (5, Some(1), "rwm"),    // /dev/console
    (136, None, "rwm"),     // /dev/pts/*
    (5, Some(2), "rwm"),    // /dev/ptmx
    (10, Some(200), "rwm"), // /dev/net/tun
];

pub(super) fn build_linux(
    input: &SpecInput<'_>,
    rootfs_propagation: Option<String>,
) -> Result<Linux, SpecError> {
    let linux_config = input.config.linux.as_ref();
    let security = linux_config.and_then(|l| l.security_context.as_ref());

    let mut linux = Linux::default();
    linux.set_namespaces(Some(namespaces(input, security)?));
    linux.set_cgroups_path(Some(cgroups_path(input.cgroups_path)?.into()));
    let privileged = security.is_some_and(|s| s.privileged);
    let mut resources = resources(linux_config.and_then(|l| l.resources.as_ref()))?;
    let devices = &input.resolved.devices;
    let mut rules = resources.devices().clone().unwrap_or_default();
    if privileged {
        // Every device, as containerd's WithPrivileged.
        rules = vec![device_rule(true, None, None, None, "rwm")?];
    } else {
        for d in devices {
            rules.push(device_rule(
                true,
                Some(d.node.typ()),
                Some(d.node.major()),
                Some(d.node.minor()),
                &d.access,
            )?);
        }
    }
    resources.set_devices(Some(rules));
    linux.set_resources(Some(resources));
    linux.set_devices(
        (!devices.is_empty()).then(|| devices.iter().map(|d| d.node.clone()).collect()),
    );
    linux.set_rootfs_propagation(rootfs_propagation);
    // A privileged container sees /proc and /sys unmasked and writable.
    let (masked, readonly) = if privileged {
        (Vec::new(), Vec::new())
    } else {
        (
            paths(security.map(|s| &s.masked_paths), &DEFAULT_MASKED_PATHS),
            paths(security.map(|s| &s.readonly_paths), &DEFAULT_READONLY_PATHS),
        )
    };
    linux.set_masked_paths(Some(masked));
    linux.set_readonly_paths(Some(readonly));
    // The pod's IPC sysctls, written in the pod's IPC namespace it joins.
    linux.set_sysctl(
        crate::platform::sysctls::container_sysctls(input.sandbox, input.namespaces.ipc.is_some())
            .map_err(SpecError::Sysctl)?,
    );
    // Joined by path, the pod's user namespace has its maps already; they
    // are written down too, for runtimes that check them and for the
    // id-mapped mounts that name none of their own.
    let user_ns = input.resolved.user_ns.as_ref();
    let maps = |m: Option<&Vec<cri::IdMapping>>| m.map(|m| super::userns::oci_mappings(m));
    linux.set_uid_mappings(maps(user_ns.map(|u| &u.uids)).transpose()?);
    linux.set_gid_mappings(maps(user_ns.map(|u| &u.gids)).transpose()?);
    // Seccomp is set by the caller (it depends on the final capabilities).
    linux.set_seccomp(None);
    Ok(linux)
}

/// The kubelet's list when it sends one, else containerd's defaults.
fn paths(given: Option<&Vec<String>>, defaults: &[&str]) -> Vec<String> {
    match given {
        Some(list) if !list.is_empty() => list.clone(),
        _ => defaults.iter().map(|p| p.to_string()).collect(),
    }
}

/// An absolute cgroupfs path without `..`, or the systemd driver's
/// `<slice>:<prefix>:<name>` (`core::handlers::cgroups_path`).
fn cgroups_path(path: &str) -> Result<&str, SpecError> {
    if let [slice, prefix, name] = path.split(':').collect::<Vec<_>>()[..]
        && crate::core::handlers::is_slice_name(slice)
        && [prefix, name]
            .iter()
            .all(|part| !part.is_empty() && !part.contains('/') && *part != "..")
    {
        return Ok(path);
    }
    let p = Path::new(path);
    if !p.is_absolute() || path.split('/').any(|c| c == "..") {
        return Err(SpecError::build(format!(
            "cgroups path {path:?} must be absolute without \"..\", or <slice>:<prefix>:<name>"
        )));
    }
    Ok(path)
}

/// pid: new unless NODE; mount: new; net/ipc/uts: the sandbox's pins, or the
/// host's (left out) when the sandbox has none; user: the pod's, when it
/// has one of its own (the node's otherwise, left out).
pub(super) fn namespaces(
    input: &SpecInput<'_>,
    security: Option<&cri::LinuxContainerSecurityContext>,
) -> Result<Vec<LinuxNamespace>, SpecError> {
    let pid_mode = security
        .and_then(|s| s.namespace_options.as_ref())
        .map(|o| o.pid)
        .unwrap_or_default();
    let mut out = Vec::new();
    match cri::NamespaceMode::try_from(pid_mode) {
        Ok(cri::NamespaceMode::Node) => {}
        Ok(cri::NamespaceMode::Container) => out.push(ns(LinuxNamespaceType::Pid, None)?),
        // POD joins the pod's shared pid namespace when the daemon found one
        // (the pause process's own); without it each container gets its own.
        Ok(cri::NamespaceMode::Pod) => out.push(ns(
            LinuxNamespaceType::Pid,
            input.resolved.pid_ns.as_deref(),
        )?),
        Ok(cri::NamespaceMode::Target) => match &input.resolved.pid_ns {
            Some(path) => out.push(ns(LinuxNamespaceType::Pid, Some(path))?),
            None => {
                return Err(SpecError::build(
                    "pid namespace mode TARGET: the target container's namespace was not found",
                ));
            }
        },
        Err(_) => {
            return Err(SpecError::build(format!(
                "unknown pid namespace mode {pid_mode}"
            )));
        }
    }
    out.push(ns(LinuxNamespaceType::Mount, None)?);
    let joined = [
        (LinuxNamespaceType::Network, &input.namespaces.net),
        (LinuxNamespaceType::Ipc, &input.namespaces.ipc),
        (LinuxNamespaceType::Uts, &input.namespaces.uts),
    ];
    for (typ, path) in joined {
        if let Some(path) = path {
            out.push(ns(typ, Some(path))?);
        }
    }
    if let Some(user) = &input.resolved.user_ns {
        out.push(ns(LinuxNamespaceType::User, Some(&user.path))?);
    }
    // On a v2 node a container sees its own cgroup at /sys/fs/cgroup, as
    // containerd's and CRI-O's do; a privileged one keeps the node's view
    // (containerd's rule). v1 keeps the node's namespace, as both do.
    let privileged = security.is_some_and(|s| s.privileged);
    if input.resolved.cgroup_v2 && !privileged {
        out.push(ns(LinuxNamespaceType::Cgroup, None)?);
    }
    Ok(out)
}

fn ns(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<LinuxNamespace, SpecError> {
    let builder = LinuxNamespaceBuilder::default().typ(typ);
    let builder = match path {
        Some(p) => builder.path(p.to_path_buf()),
        None => builder,
    };
    builder
        .build()
        .map_err(|e| SpecError::oci(format!("namespace {typ}"), e))
}

/// The device allow list and the CRI resources (zero means unset).
pub(super) fn resources(
    r: Option<&cri::LinuxContainerResources>,
) -> Result<LinuxResources, SpecError> {
    let err = |what: &str, e: oci_spec::OciSpecError| SpecError::oci(what, e);
    let mut builder = LinuxResourcesBuilder::default().devices(devices()?);
    if let Some(r) = r {
        let mut cpu = LinuxCpuBuilder::default();
        if r.cpu_shares > 0 {
            cpu = cpu.shares(positive(r.cpu_shares, "cpu_shares")?);
        }
        if r.cpu_quota != 0 {
            cpu = cpu.quota(r.cpu_quota);
        }
        if r.cpu_period > 0 {
            cpu = cpu.period(positive(r.cpu_period, "cpu_period")?);
        }
        if !r.cpuset_cpus.is_empty() {
            cpu = cpu.cpus(r.cpuset_cpus.clone());
        }
        if !r.cpuset_mems.is_empty() {
            cpu = cpu.mems(r.cpuset_mems.clone());
        }
        builder = builder.cpu(cpu.build().map_err(|e| err("cpu", e))?);

        let mut memory = LinuxMemoryBuilder::default();
        if r.memory_limit_in_bytes > 0 {
            memory = memory.limit(r.memory_limit_in_bytes);
        }
        if r.memory_swap_limit_in_bytes > 0 {
            memory = memory.swap(r.memory_swap_limit_in_bytes);
        }
        builder = builder.memory(memory.build().map_err(|e| err("memory", e))?);

        if !r.hugepage_limits.is_empty() {
            let limits = r
                .hugepage_limits
                .iter()
                .map(|h| {
                    LinuxHugepageLimitBuilder::default()
                        .page_size(h.page_size.clone())
                        .limit(i64::try_from(h.limit).unwrap_or(i64::MAX))
                        .build()
                        .map_err(|e| err("hugepage limit", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            builder = builder.hugepage_limits(limits);
        }
        if !r.unified.is_empty() {
            builder = builder.unified(r.unified.clone());
        }
    }
    builder.build().map_err(|e| err("resources", e))
}

fn positive(value: i64, field: &str) -> Result<u64, SpecError> {
    u64::try_from(value).map_err(|_| SpecError::build(format!("{field} {value} is negative")))
}

/// One device cgroup rule (`None`: any type, major or minor).
fn device_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> Result<LinuxDeviceCgroup, SpecError> {
    let mut rule = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access)
        .typ(typ.unwrap_or(LinuxDeviceType::A));
    if let Some(major) = major {
        rule = rule.major(major);
    }
    if let Some(minor) = minor {
        rule = rule.minor(minor);
    }
    rule.build().map_err(|e| SpecError::oci("device rule", e))
}

/// Deny everything, then allow the default character devices.
fn devices() -> Result<Vec<LinuxDeviceCgroup>, SpecError> {
    let err = |e: oci_spec::OciSpecError| SpecError::oci("device rule", e);
    let mut out = vec![
        LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .map_err(err)?,
    ];
    for (major, minor, access) in ALLOWED_DEVICES {
        let rule = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(major)
            .access(access);
        let rule = match minor {
            Some(minor) => rule.minor(minor),
            None => rule,
        };
        out.push(rule.build().map_err(err)?);
    }
    Ok(out)
}
