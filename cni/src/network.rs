//! The CNI client: one network configuration, run against pods.
//!
//! [`CniNetwork`] drives a configuration list the way libcni does: ADD runs
//! the plugins in order, each getting the previous one's result as
//! `prevResult`; DEL runs them in reverse from the cached result; CHECK,
//! STATUS and GC run where the list's `cniVersion` allows them. Every call
//! is synchronous (the daemon calls from a blocking thread) and each plugin
//! call has a deadline.

use crate::cache::{CacheEntry, CacheError, KIND, ResultCache};
use crate::config::{self, NetworkConfig, PluginConfig};
pub use crate::error::CniError;
use crate::exec;
use crate::types::{NetworkResult, PodNetwork};
use crate::version;
use crate::wire::{join_args, list_json, parse_result, plugin_stdin};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default deadline of one plugin call.
pub const DEFAULT_PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// One attachment that is still in use, for GC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The sandbox id (`CNI_CONTAINERID`).
    pub container_id: String,
    /// The interface in the pod (`CNI_IFNAME`).
    pub ifname: String,
}

/// A loaded network configuration with where to find its plugins and where
/// to cache results.
#[derive(Debug, Clone)]
pub struct CniNetwork {
    config: NetworkConfig,
    bin_dirs: Vec<PathBuf>,
    cache: ResultCache,
    timeout: Duration,
}

impl CniNetwork {
    /// The lexically first valid configuration in `conf_dir`, or `None`.
    /// Cheap (a directory read and a few small parses), so the daemon may
    /// call it on every `Status` to notice a configuration appearing.
    pub fn load(
        conf_dir: &Path,
        bin_dirs: &[PathBuf],
        cache_dir: &Path,
    ) -> Result<Option<Self>, CniError> {
        match config::find_network_config(conf_dir)? {
            Some(config) => Ok(Some(Self::from_config(config, bin_dirs, cache_dir)?)),
            None => Ok(None),
        }
    }

    /// Wraps an already parsed configuration.
    pub fn from_config(
        config: NetworkConfig,
        bin_dirs: &[PathBuf],
        cache_dir: &Path,
    ) -> Result<Self, CniError> {
        if !version::is_supported(&config.cni_version) {
            return Err(CniError::UnsupportedVersion {
                network: config.name,
                version: config.cni_version,
            });
        }
        Ok(CniNetwork {
            config,
            bin_dirs: bin_dirs.to_vec(),
            cache: ResultCache::new(cache_dir),
            timeout: DEFAULT_PLUGIN_TIMEOUT,
        })
    }

    /// Sets the deadline of each plugin call.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The configuration the network runs, for status reporting.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// The network's name, the first part of every cache key.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// CNI ADD: attaches the pod. On any failure the plugins that ran are
    /// undone with a DEL before the error returns, so nothing is left behind.
    /// A pod already attached (cached) is refused untouched: the undo of a
    /// second ADD would otherwise tear down the working first one.
    pub fn setup(&self, pod: &PodNetwork) -> Result<NetworkResult, CniError> {
        if self
            .cache
            .read(self.name(), &pod.sandbox_id, &pod.ifname)?
            .is_some()
        {
            return Err(CniError::AlreadyAttached {
                network: self.name().to_string(),
                container_id: pod.sandbox_id.clone(),
                ifname: pod.ifname.clone(),
            });
        }
        let caps = pod.capability_args();
        let args = pod.cni_args();
        let netns = pod.netns.to_string_lossy().into_owned();
        let mut prev: Option<Value> = None;
        for plugin in &self.config.plugins {
            let run = self.invoke(&Call {
                command: "ADD",
                plugin,
                prev: prev.as_ref(),
                caps: &caps,
                args: &args,
                pod,
                netns: &netns,
            });
            match run.and_then(|out| parse_result(&out, plugin, self.name(), "ADD")) {
                Ok(result) => prev = Some(result),
                Err(e) => {
                    self.undo_failed_add(pod, prev.as_ref(), &caps, &args, &netns);
                    return Err(e);
                }
            }
        }
        crate::fault::point("run_pod.network_added");
        let result = prev.unwrap_or_else(|| json!({"cniVersion": self.config.cni_version}));
        let entry = CacheEntry {
            kind: KIND.to_string(),
            container_id: pod.sandbox_id.clone(),
            if_name: pod.ifname.clone(),
            network_name: self.config.name.clone(),
            netns: netns.clone(),
            config: list_json(&self.config),
            cni_args: args.clone(),
            capability_args: caps.clone(),
            result: result.clone(),
        };
        if let Err(e) = self.cache.write(&entry) {
            self.undo_failed_add(pod, Some(&result), &caps, &args, &netns);
            return Err(e.into());
        }
        Ok(NetworkResult::from_raw(result))
    }

    fn undo_failed_add(
        &self,
        pod: &PodNetwork,
        prev: Option<&Value>,
        caps: &Map<String, Value>,
        args: &[(String, String)],
        netns: &str,
    ) {
        if let Err(e) = del_chain(self, &self.config, pod, prev, caps, args, netns) {
            tracing::warn!(
                "network {}: DEL after a failed ADD of {}: {e}",
                self.name(),
                pod.sandbox_id
            );
        }
    }

    /// CNI DEL: detaches the pod, from the cached ADD (its configuration,
    /// arguments and result) when there is one. Deleting an attachment that
    /// is already gone succeeds; errors keep the cache entry so a retry can
    /// finish the job.
    ///
    /// When the configuration changed since the ADD (another network name
    /// now comes first), the attachments cached under the old name are
    /// deleted with their own configuration instead.
    pub fn teardown(&self, pod: &PodNetwork) -> Result<(), CniError> {
        let (cached, corrupt) = match self.cache.read(self.name(), &pod.sandbox_id, &pod.ifname) {
            Ok(entry) => (entry, false),
            // A torn entry (crash while writing) must not make the pod
            // impossible to delete: DEL with the current config instead.
            Err(e @ CacheError::Corrupt { .. }) => {
                tracing::warn!("{e}; deleting with the current configuration");
                (None, true)
            }
            Err(e) => return Err(e.into()),
        };
        let netns = netns_if_present(&pod.netns);
        match cached {
            Some(entry) => del_cached(self, &entry, pod, &netns),
            None if !corrupt
                && teardown_cached(&self.bin_dirs, self.cache.root(), pod, self.timeout)? =>
            {
                Ok(())
            }
            None => {
                let result = del_chain(
                    self,
                    &self.config,
                    pod,
                    None,
                    &pod.capability_args(),
                    &pod.cni_args(),
                    &netns,
                );
                match result {
                    Err(e) if netns.is_empty() => {
                        // Nothing was cached and the namespace is gone: the
                        // attachment never completed or is long gone.
                        tracing::debug!("network {}: DEL without cache or netns: {e}", self.name());
                    }
                    Err(e) => return Err(e),
                    Ok(()) => {}
                }
                if corrupt {
                    self.cache
                        .remove(self.name(), &pod.sandbox_id, &pod.ifname)?;
                }
                Ok(())
            }
        }
    }

    /// CNI CHECK: asks every plugin to verify the cached attachment.
    pub fn check(&self, pod: &PodNetwork) -> Result<(), CniError> {
        self.require("CHECK", version::supports_check)?;
        let entry = self
            .cache
            .read(self.name(), &pod.sandbox_id, &pod.ifname)?
            .ok_or_else(|| CniError::NotAttached {
                network: self.name().to_string(),
                container_id: pod.sandbox_id.clone(),
                ifname: pod.ifname.clone(),
            })?;
        let netns = pod.netns.to_string_lossy().into_owned();
        for plugin in &self.config.plugins {
            self.invoke(&Call {
                command: "CHECK",
                plugin,
                prev: Some(&entry.result),
                caps: &entry.capability_args,
                args: &entry.cni_args,
                pod,
                netns: &netns,
            })?;
        }
        Ok(())
    }

    /// CNI STATUS (1.1.0+): whether every plugin is ready for ADDs.
    pub fn status(&self) -> Result<(), CniError> {
        self.require("STATUS", version::supports_status_and_gc)?;
        for plugin in &self.config.plugins {
            let stdin = plugin_stdin(&self.config, plugin, None, &Map::new(), None);
            self.exec(plugin, "STATUS", &self.base_env("STATUS"), &stdin)?;
        }
        Ok(())
    }

    /// Garbage collection: DELs every cached attachment of this network not
    /// in `valid`, then (1.1.0+) sends GC with `cni.dev/valid-attachments`
    /// so plugins drop resources of attachments the runtime forgot.
    pub fn gc(&self, valid: &[Attachment]) -> Result<(), CniError> {
        let is_valid = |e: &CacheEntry| {
            valid
                .iter()
                .any(|a| a.container_id == e.container_id && a.ifname == e.if_name)
        };
        let mut first_error = None;
        for entry in self.cache.list()? {
            if entry.network_name != self.config.name || is_valid(&entry) {
                continue;
            }
            let mut pod = PodNetwork::new(entry.container_id.clone(), entry.netns.clone());
            pod.ifname = entry.if_name.clone();
            let netns = netns_if_present(&pod.netns);
            if let Err(e) = del_cached(self, &entry, &pod, &netns) {
                first_error.get_or_insert(e);
            }
        }
        if version::supports_status_and_gc(&self.config.cni_version) {
            let attachments: Vec<Value> = valid
                .iter()
                .map(|a| json!({"containerID": a.container_id, "ifname": a.ifname}))
                .collect();
            for plugin in &self.config.plugins {
                let stdin = plugin_stdin(
                    &self.config,
                    plugin,
                    None,
                    &Map::new(),
                    Some(Value::Array(attachments.clone())),
                );
                if let Err(e) = self.exec(plugin, "GC", &self.base_env("GC"), &stdin) {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The cached ADD result of a pod (for `PodSandboxStatus` after a
    /// restart), `None` when the pod is not attached.
    pub fn cached_result(&self, pod: &PodNetwork) -> Result<Option<NetworkResult>, CniError> {
        Ok(self
            .cache
            .read(self.name(), &pod.sandbox_id, &pod.ifname)?
            .map(|e| NetworkResult::from_raw(e.result)))
    }

    fn require(&self, command: &'static str, allowed: fn(&str) -> bool) -> Result<(), CniError> {
        if allowed(&self.config.cni_version) {
            Ok(())
        } else {
            Err(CniError::UnsupportedCommand {
                network: self.config.name.clone(),
                version: self.config.cni_version.clone(),
                command,
            })
        }
    }

    fn base_env(&self, command: &str) -> Vec<(String, String)> {
        let path = std::env::join_paths(&self.bin_dirs)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        vec![
            ("CNI_COMMAND".to_string(), command.to_string()),
            ("CNI_PATH".to_string(), path),
        ]
    }

    fn invoke(&self, call: &Call<'_>) -> Result<Vec<u8>, CniError> {
        let mut env = self.base_env(call.command);
        env.extend([
            ("CNI_CONTAINERID".to_string(), call.pod.sandbox_id.clone()),
            ("CNI_NETNS".to_string(), call.netns.to_string()),
            ("CNI_IFNAME".to_string(), call.pod.ifname.clone()),
            ("CNI_ARGS".to_string(), join_args(call.args)),
        ]);
        let stdin = plugin_stdin(&self.config, call.plugin, call.prev, call.caps, None);
        self.exec(call.plugin, call.command, &env, &stdin)
    }

    fn exec(
        &self,
        plugin: &PluginConfig,
        command: &'static str,
        env: &[(String, String)],
        stdin: &[u8],
    ) -> Result<Vec<u8>, CniError> {
        let fail = |source| CniError::Plugin {
            plugin: plugin.plugin_type.clone(),
            network: self.config.name.clone(),
            command,
            source: Box::new(source),
        };
        let binary = exec::find_plugin(&plugin.plugin_type, &self.bin_dirs).map_err(fail)?;
        exec::run(&binary, env, stdin, self.timeout).map_err(fail)
    }
}

/// DEL of a pod from the cache alone, for when no configuration is loaded
/// (the directory was emptied after the pod was attached): each cached
/// attachment of `pod` in any network is deleted with the configuration it
/// was added with. Returns whether any was found.
pub fn teardown_cached(
    bin_dirs: &[PathBuf],
    cache_dir: &Path,
    pod: &PodNetwork,
    timeout: Duration,
) -> Result<bool, CniError> {
    let cache = ResultCache::new(cache_dir);
    let entries = cache.find(&pod.sandbox_id, &pod.ifname)?;
    let netns = netns_if_present(&pod.netns);
    for entry in &entries {
        let bytes = serde_json::to_vec(&entry.config).unwrap_or_default();
        let source = PathBuf::from(format!("cache:{}", entry.network_name));
        let config =
            config::parse(&bytes, true, &source).map_err(|reason| CniError::InvalidConfig {
                origin: source,
                reason,
            })?;
        let network = CniNetwork::from_config(config, bin_dirs, cache_dir)?.with_timeout(timeout);
        del_cached(&network, entry, pod, &netns)?;
    }
    Ok(!entries.is_empty())
}

/// The arguments of one per-container plugin call.
struct Call<'a> {
    command: &'static str,
    plugin: &'a PluginConfig,
    prev: Option<&'a Value>,
    caps: &'a Map<String, Value>,
    args: &'a [(String, String)],
    pod: &'a PodNetwork,
    netns: &'a str,
}

/// DEL of a cached attachment with the configuration it was added with.
fn del_cached(
    network: &CniNetwork,
    entry: &CacheEntry,
    pod: &PodNetwork,
    netns: &str,
) -> Result<(), CniError> {
    let bytes = serde_json::to_vec(&entry.config).unwrap_or_default();
    let source = PathBuf::from(format!("cache:{}", entry.network_name));
    let config =
        config::parse(&bytes, true, &source).map_err(|reason| CniError::InvalidConfig {
            origin: source,
            reason,
        })?;
    del_chain(
        network,
        &config,
        pod,
        Some(&entry.result),
        &entry.capability_args,
        &entry.cni_args,
        netns,
    )?;
    network
        .cache
        .remove(&entry.network_name, &entry.container_id, &entry.if_name)?;
    Ok(())
}

/// Runs DEL through `config`'s plugins in reverse order. Every plugin runs
/// even if one fails (so one broken plugin does not leak the others'
/// resources); the first error is returned.
fn del_chain(
    network: &CniNetwork,
    config: &NetworkConfig,
    pod: &PodNetwork,
    prev: Option<&Value>,
    caps: &Map<String, Value>,
    args: &[(String, String)],
    netns: &str,
) -> Result<(), CniError> {
    let mut first_error = None;
    for plugin in config.plugins.iter().rev() {
        let mut env = network.base_env("DEL");
        env.extend([
            ("CNI_CONTAINERID".to_string(), pod.sandbox_id.clone()),
            ("CNI_NETNS".to_string(), netns.to_string()),
            ("CNI_IFNAME".to_string(), pod.ifname.clone()),
            ("CNI_ARGS".to_string(), join_args(args)),
        ]);
        let stdin = plugin_stdin(config, plugin, prev, caps, None);
        if let Err(e) = network.exec(plugin, "DEL", &env, &stdin) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The netns path when it still names a network namespace, else empty
/// (the spec's "no netns"). A pin that was unmounted leaves an empty file
/// behind, which plugins could not enter: that counts as gone too.
fn netns_if_present(netns: &Path) -> String {
    let is_ns = !netns.as_os_str().is_empty()
        && nix::sys::statfs::statfs(netns)
            .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::NSFS_MAGIC);
    if is_ns {
        netns.to_string_lossy().into_owned()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(plugins: Value) -> NetworkConfig {
        let text = json!({"cniVersion":"1.0.0","name":"net","plugins":plugins}).to_string();
        config::parse(text.as_bytes(), true, Path::new("t")).unwrap()
    }

    #[test]
    fn old_spec_versions_are_refused_and_verbs_are_gated() {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = list(json!([{"type":"x"}]));
        config.cni_version = "0.2.0".into();
        assert!(matches!(
            CniNetwork::from_config(config.clone(), &[], tmp.path()),
            Err(CniError::UnsupportedVersion { .. })
        ));
        config.cni_version = "1.0.0".into();
        let network = CniNetwork::from_config(config, &[], tmp.path()).unwrap();
        assert!(matches!(
            network.status(),
            Err(CniError::UnsupportedCommand {
                command: "STATUS",
                ..
            })
        ));
    }
}
