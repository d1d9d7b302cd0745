//! The CDI edits applied to a built OCI spec, as the CDI library's
//! `ContainerEdits.Apply`: env replaces same-named variables; a device node
//! replaces one at the same path, takes the process's uid/gid when it names
//! none (and the process is not root), and is allowed in the device cgroup;
//! a mount replaces one at the same destination and the mounts are
//! re-sorted parents first; hooks are added to their phase; additional gids
//! (0 excepted) join the process's groups.

use std::path::Component;

use oci_spec::runtime::{Linux, LinuxDeviceCgroupBuilder, Process, Spec};

use super::edits::{CdiEdits, CdiError};

/// Applies `edits` to `spec` (which must have a process and a linux
/// section): the process's env and groups, the device nodes and their
/// cgroup rules, the mounts, the hooks.
pub fn apply(spec: &mut Spec, edits: &CdiEdits) -> Result<(), CdiError> {
    if edits.is_empty() {
        return Ok(());
    }
    let (uid, gid) = spec
        .process()
        .as_ref()
        .map(|p| (p.user().uid(), p.user().gid()))
        .unwrap_or_default();
    if let Some(process) = spec.process_mut() {
        apply_process(process, edits);
    }
    if let Some(linux) = spec.linux_mut() {
        apply_devices(linux, edits, uid, gid)?;
    }
    if !edits.mounts.is_empty() {
        apply_mounts(spec, edits);
    }
    if !edits.hooks.is_empty() {
        apply_hooks(spec, edits)?;
    }
    Ok(())
}

/// An error of the edits themselves, in words.
fn build(message: String) -> CdiError {
    CdiError::Build {
        from: "edits".into(),
        message,
    }
}

/// Env replaces same-named variables; additional gids (0 excepted) join
/// the process's groups.
fn apply_process(process: &mut Process, edits: &CdiEdits) {
    let mut env = process.env().clone().unwrap_or_default();
    for var in &edits.env {
        let key = var.split_once('=').map_or(var.as_str(), |(k, _)| k);
        match env
            .iter_mut()
            .find(|e| e.split_once('=').is_some_and(|(k, _)| k == key))
        {
            Some(existing) => *existing = var.clone(),
            None => env.push(var.clone()),
        }
    }
    process.set_env(Some(env));
    let user = process.user_mut();
    let mut gids = user.additional_gids().clone().unwrap_or_default();
    for g in edits.additional_gids.iter().filter(|g| **g != 0) {
        if !gids.contains(g) {
            gids.push(*g);
        }
    }
    user.set_additional_gids((!gids.is_empty()).then_some(gids));
}

/// A device node replaces one at the same path, takes the process's
/// `uid`/`gid` when it names none (and the process is not root), and is
/// allowed in the device cgroup when it gives an access.
fn apply_devices(linux: &mut Linux, edits: &CdiEdits, uid: u32, gid: u32) -> Result<(), CdiError> {
    let mut devices = linux.devices().clone().unwrap_or_default();
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut rules = resources.devices().clone().unwrap_or_default();
    for d in &edits.devices {
        let mut node = d.node.clone();
        if node.uid().is_none() && uid > 0 {
            node.set_uid(Some(uid));
        }
        if node.gid().is_none() && gid > 0 {
            node.set_gid(Some(gid));
        }
        devices.retain(|existing| existing.path() != node.path());
        if let Some(access) = &d.access {
            let rule = LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(node.typ())
                .major(node.major())
                .minor(node.minor())
                .access(access.as_str())
                .build()
                .map_err(|e| build(format!("device rule for {}: {e}", node.path().display())))?;
            rules.push(rule);
        }
        devices.push(node);
    }
    resources.set_devices(Some(rules));
    linux.set_resources(Some(resources));
    linux.set_devices((!devices.is_empty()).then_some(devices));
    Ok(())
}

/// A mount replaces one at the same destination; the mounts are re-sorted
/// parents first.
fn apply_mounts(spec: &mut Spec, edits: &CdiEdits) {
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for m in &edits.mounts {
        mounts.retain(|existing| existing.destination() != m.destination());
        mounts.push(m.clone());
    }
    // Stable: equal depths keep their order, as the CDI library's sort.
    mounts.sort_by_key(|m| {
        m.destination()
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .count()
    });
    spec.set_mounts(Some(mounts));
}

/// Hooks are added to their phase; an unknown phase is refused.
fn apply_hooks(spec: &mut Spec, edits: &CdiEdits) -> Result<(), CdiError> {
    let mut hooks = spec.hooks().clone().unwrap_or_default();
    for (phase, hook) in &edits.hooks {
        let list = match phase.as_str() {
            "prestart" => hooks.prestart().clone(),
            "createRuntime" => hooks.create_runtime().clone(),
            "createContainer" => hooks.create_container().clone(),
            "startContainer" => hooks.start_container().clone(),
            "poststart" => hooks.poststart().clone(),
            "poststop" => hooks.poststop().clone(),
            other => return Err(build(format!("unknown hook phase {other:?}"))),
        };
        let mut list = list.unwrap_or_default();
        list.push(hook.clone());
        #[allow(deprecated)]
        match phase.as_str() {
            "prestart" => hooks.set_prestart(Some(list)),
            "createRuntime" => hooks.set_create_runtime(Some(list)),
            "createContainer" => hooks.set_create_container(Some(list)),
            "startContainer" => hooks.set_start_container(Some(list)),
            "poststart" => hooks.set_poststart(Some(list)),
            _ => hooks.set_poststop(Some(list)),
        };
    }
    spec.set_hooks(Some(hooks));
    Ok(())
}
