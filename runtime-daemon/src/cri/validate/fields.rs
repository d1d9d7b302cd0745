//! Which rule each field of RunPodSandbox's and CreateContainer's config
//! answers to. Every string that reaches a path, an argument vector, the
//! environment or a file the container reads is checked here, at the
//! service boundary, so a hostile value is refused before anything exists
//! instead of failing halfway (a NUL in a pod name used to surface as an
//! Internal error from the CNI step, after the namespaces were made).

use super::rules::{self, NAME_MAX, NAMESPACE_MAX, PATH_MAX};
use cradle_proto::cri;
use tonic::Status;

/// Every string of a list, each named by its index.
fn each_no_nul(field: &str, values: &[String]) -> Result<(), Status> {
    values
        .iter()
        .enumerate()
        .try_for_each(|(i, v)| rules::no_nul(&format!("{field}[{i}]"), v))
}

/// A path the runtime writes or mounts (no NUL, bounded, maybe relative).
fn path_like(field: &str, value: &str) -> Result<(), Status> {
    rules::no_nul(field, value)?;
    if value.len() > PATH_MAX {
        return Err(Status::invalid_argument(format!(
            "{field}: is {} bytes long, more than {PATH_MAX}",
            value.len()
        )));
    }
    Ok(())
}

/// RunPodSandbox's config, field by field.
pub(crate) fn pod(config: &cri::PodSandboxConfig) -> Result<(), Status> {
    if let Some(m) = &config.metadata {
        rules::name("config.metadata.name", &m.name, NAME_MAX)?;
        rules::name("config.metadata.namespace", &m.namespace, NAMESPACE_MAX)?;
        rules::uid("config.metadata.uid", &m.uid)?;
    }
    rules::hostname("config.hostname", &config.hostname)?;
    if !config.log_directory.is_empty() {
        rules::absolute_path("config.log_directory", &config.log_directory)?;
    }
    rules::string_map("config.labels", &config.labels)?;
    rules::string_map("config.annotations", &config.annotations)?;
    if let Some(dns) = &config.dns_config {
        each_no_nul("config.dns_config.servers", &dns.servers)?;
        each_no_nul("config.dns_config.searches", &dns.searches)?;
        each_no_nul("config.dns_config.options", &dns.options)?;
    }
    for (i, port) in config.port_mappings.iter().enumerate() {
        rules::no_nul(&format!("config.port_mappings[{i}].host_ip"), &port.host_ip)?;
    }
    if let Some(linux) = &config.linux {
        path_like("config.linux.cgroup_parent", &linux.cgroup_parent)?;
        rules::string_map("config.linux.sysctls", &linux.sysctls)?;
    }
    Ok(())
}

/// CreateContainer's config, field by field.
pub(crate) fn container(config: &cri::ContainerConfig) -> Result<(), Status> {
    if let Some(m) = &config.metadata {
        rules::name("config.metadata.name", &m.name, NAME_MAX)?;
    }
    if let Some(image) = &config.image {
        rules::no_nul("config.image.image", &image.image)?;
    }
    each_no_nul("config.command", &config.command)?;
    each_no_nul("config.args", &config.args)?;
    path_like("config.working_dir", &config.working_dir)?;
    for (i, env) in config.envs.iter().enumerate() {
        rules::env_key(&format!("config.envs[{i}].key"), &env.key)?;
        let field = format!("config.envs[{i}].value");
        rules::no_nul(&field, rules::utf8(&field, &env.value)?)?;
    }
    for (i, mount) in config.mounts.iter().enumerate() {
        mount_paths(i, mount)?;
    }
    for (i, device) in config.devices.iter().enumerate() {
        let field = |f: &str| format!("config.devices[{i}].{f}");
        rules::absolute_path(&field("container_path"), &device.container_path)?;
        rules::absolute_path(&field("host_path"), &device.host_path)?;
        rules::no_nul(&field("permissions"), &device.permissions)?;
    }
    for (i, cdi) in config.cdi_devices.iter().enumerate() {
        rules::no_nul(&format!("config.CDI_devices[{i}].name"), &cdi.name)?;
    }
    rules::string_map("config.labels", &config.labels)?;
    rules::string_map("config.annotations", &config.annotations)?;
    if !config.log_path.is_empty() {
        rules::contained_relative_path("config.log_path", &config.log_path)?;
    }
    if let Some(security) = config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
    {
        each_no_nul(
            "config.linux.security_context.masked_paths",
            &security.masked_paths,
        )?;
        each_no_nul(
            "config.linux.security_context.readonly_paths",
            &security.readonly_paths,
        )?;
    }
    Ok(())
}

/// A mount lands at an absolute path in the container, from an absolute
/// host path unless an image volume supplies it.
fn mount_paths(i: usize, mount: &cri::Mount) -> Result<(), Status> {
    rules::absolute_path(
        &format!("config.mounts[{i}].container_path"),
        &mount.container_path,
    )?;
    if mount.image.is_none() {
        rules::absolute_path(&format!("config.mounts[{i}].host_path"), &mount.host_path)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
