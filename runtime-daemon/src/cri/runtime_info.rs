//! Version, Status and RuntimeConfig.

use super::CriService;
use crate::core::error::Chain;
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
            if let Err(e) = self.runtime.ctx.images() {
                info.insert(
                    "imageStore".to_string(),
                    serde_json::json!({ "error": e.chain().to_string() }).to_string(),
                );
            }
        }
        let mut runtime_handlers = Vec::new();
        for name in ["", "cradle-oci", "runc"] {
            let containers = &self.runtime.containers;
            runtime_handlers.push(cri::RuntimeHandler {
                name: name.to_string(),
                features: Some(cri::RuntimeHandlerFeatures {
                    // Probed from `<runtime> features` and the kernel, once.
                    recursive_read_only_mounts: containers.supports_recursive_read_only(name).await,
                    user_namespaces: false,
                }),
            });
        }
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

    pub(crate) fn runtime_config_impl(&self) -> cri::RuntimeConfigResponse {
        cri::RuntimeConfigResponse {
            linux: Some(cri::LinuxRuntimeConfiguration {
                cgroup_driver: cri::CgroupDriver::Cgroupfs as i32,
            }),
        }
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
