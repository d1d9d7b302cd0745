//! Version, Status and RuntimeConfig.

use super::CriService;
use crate::core::error::Chain;
use crate::core::handlers::CgroupDriver;
use cradle_proto::cri;
use std::collections::HashMap;

/// The CRI API version we speak.
pub const RUNTIME_API_VERSION: &str = "v1";
/// Our runtime name.
pub const RUNTIME_NAME: &str = "cradle";

impl CriService {
    pub(crate) fn version_impl(&self) -> cri::VersionResponse {
        cri::VersionResponse {
            version: "0.1.0".to_string(),
            runtime_name: RUNTIME_NAME.to_string(),
            runtime_version: env!("CARGO_PKG_VERSION").to_string(),
            runtime_api_version: RUNTIME_API_VERSION.to_string(),
        }
    }

    /// Status: NetworkReady from the CNI configuration and, for 1.1.0+
    /// configurations, the plugins' own CNI STATUS answer.
    pub(crate) async fn status_impl(&self, verbose: bool) -> cri::StatusResponse {
        let config = &self.runtime.ctx.config;
        let network = std::sync::Arc::clone(&self.runtime.ctx.network);
        let ready = tokio::task::spawn_blocking(move || network.status())
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| Chain(&e).to_string()));
        let network_condition = match &ready {
            Ok(Some(())) => condition("NetworkReady", true, "", ""),
            Ok(None) => condition(
                "NetworkReady",
                false,
                "NetworkPluginNotReady",
                "Network plugin returns error: cni plugin not initialized",
            ),
            Err(e) => condition(
                "NetworkReady",
                false,
                "NetworkPluginNotReady",
                &format!("Network plugin returns error: {e}"),
            ),
        };
        let mut info = HashMap::new();
        if verbose {
            let network = cradle_cni::config::find_network_config(&config.cni_conf_dir);
            info.insert(
                "config".to_string(),
                serde_json::to_string(config).unwrap_or_default(),
            );
            let cni = match &network {
                Ok(Some(net)) => serde_json::to_string(net).unwrap_or_default(),
                Ok(None) => "null".to_string(),
                Err(e) => serde_json::json!({ "error": e.to_string() }).to_string(),
            };
            info.insert("cniconfig".to_string(), cni);
            let cidr = self
                .runtime
                .ctx
                .pod_cidr
                .read()
                .map(|c| c.clone())
                .unwrap_or_default();
            info.insert("podCIDR".to_string(), serde_json::json!(cidr).to_string());
            info.insert("cgroup".to_string(), self.cgroup_info());
            info.insert("runtimeHandlers".to_string(), self.handlers_info());
            if let Err(e) = self.runtime.ctx.images() {
                info.insert(
                    "imageStore".to_string(),
                    serde_json::json!({ "error": e.chain().to_string() }).to_string(),
                );
            }
        }
        let runtime_handlers = self.runtime_handlers().await;
        cri::StatusResponse {
            status: Some(cri::RuntimeStatus {
                conditions: vec![condition("RuntimeReady", true, "", ""), network_condition],
            }),
            info,
            runtime_handlers,
            features: Some(cri::RuntimeFeatures {
                // Strict and Merge are both honoured (containers::spec::process).
                supplemental_groups_policy: true,
                // No user namespaces yet, so none with the host's network.
                user_namespaces_host_network: false,
            }),
        }
    }

    /// UpdateRuntimeConfig: the kubelet hands over the node's pod CIDR. Nothing
    /// consumes it until CNI config templating exists; it is kept and shown by
    /// `Status(verbose)`.
    pub(crate) fn update_runtime_config_impl(&self, req: cri::UpdateRuntimeConfigRequest) {
        let cidr = req
            .runtime_config
            .and_then(|c| c.network_config)
            .map(|n| n.pod_cidr)
            .unwrap_or_default();
        if cidr.is_empty() {
            return;
        }
        tracing::info!(pod_cidr = %cidr, "pod CIDR updated");
        *self
            .runtime
            .ctx
            .pod_cidr
            .write()
            .unwrap_or_else(|e| e.into_inner()) = cidr;
    }

    /// RuntimeConfig: the configured `cgroup_driver`, which the kubelet
    /// (1.28+, KubeletCgroupDriverFromCRI) adopts as its own.
    pub(crate) fn runtime_config_impl(&self) -> cri::RuntimeConfigResponse {
        let driver = match self.runtime.ctx.handlers.driver() {
            CgroupDriver::Cgroupfs => cri::CgroupDriver::Cgroupfs,
            CgroupDriver::Systemd => cri::CgroupDriver::Systemd,
        };
        cri::RuntimeConfigResponse {
            linux: Some(cri::LinuxRuntimeConfiguration {
                cgroup_driver: driver as i32,
            }),
        }
    }

    /// Every configured handler, then `""` for the default, each with the
    /// features its `features` document and the kernel give (probed once).
    async fn runtime_handlers(&self) -> Vec<cri::RuntimeHandler> {
        let handlers = &self.runtime.ctx.handlers;
        let containers = &self.runtime.containers;
        let names = handlers
            .names()
            .map(str::to_string)
            .chain(std::iter::once(String::new()));
        let mut listed = Vec::new();
        for name in names {
            let features = cri::RuntimeHandlerFeatures {
                recursive_read_only_mounts: containers.supports_recursive_read_only(&name).await,
                user_namespaces: containers.supports_user_namespaces(&name).await,
            };
            listed.push(cri::RuntimeHandler {
                name,
                features: Some(features),
            });
        }
        listed
    }

    /// `info["cgroup"]`: the host's hierarchy, the driver, whether systemd runs.
    fn cgroup_info(&self) -> String {
        let handlers = &self.runtime.ctx.handlers;
        let host = handlers.host();
        serde_json::json!({
            "version": host.version,
            "driver": handlers.driver(),
            "systemd": host.systemd,
        })
        .to_string()
    }

    /// `info["runtimeHandlers"]`: each handler's binary, root and flags,
    /// and the default.
    fn handlers_info(&self) -> String {
        let handlers = &self.runtime.ctx.handlers;
        let all: Vec<_> = handlers.all().map(|h| h.as_ref()).collect();
        serde_json::json!({ "default": handlers.default_name(), "handlers": all }).to_string()
    }
}

fn condition(kind: &str, status: bool, reason: &str, message: &str) -> cri::RuntimeCondition {
    cri::RuntimeCondition {
        r#type: kind.to_string(),
        status,
        reason: reason.to_string(),
        message: message.to_string(),
    }
}
