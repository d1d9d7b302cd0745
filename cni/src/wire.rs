//! The wire format between the client and a plugin: the stdin object
//! (libcni's per-plugin config with `name`, `cniVersion`, `prevResult`,
//! `runtimeConfig`), `CNI_ARGS`, and the check of a plugin's stdout.

use crate::config::{NetworkConfig, PluginConfig};
use crate::error::CniError;
use serde_json::{Map, Value, json};

/// `CNI_ARGS`: `K=V` pairs joined by `;`.
pub(crate) fn join_args(args: &[(String, String)]) -> String {
    args.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// The configuration list as JSON (for the cache).
pub(crate) fn list_json(config: &NetworkConfig) -> Value {
    json!({
        "cniVersion": config.cni_version,
        "name": config.name,
        "plugins": config.plugins.iter().map(|p| p.config.clone()).collect::<Vec<_>>(),
    })
}

/// One plugin's stdin, as libcni builds it: the plugin's own object with the
/// list's `name` and `cniVersion`, the previous result, and `runtimeConfig`
/// holding the capability arguments the plugin declared in `capabilities`.
pub(crate) fn plugin_stdin(
    config: &NetworkConfig,
    plugin: &PluginConfig,
    prev: Option<&Value>,
    caps: &Map<String, Value>,
    valid_attachments: Option<Value>,
) -> Vec<u8> {
    let mut object = plugin.config.as_object().cloned().unwrap_or_default();
    object.insert("name".into(), Value::String(config.name.clone()));
    object.insert(
        "cniVersion".into(),
        Value::String(config.cni_version.clone()),
    );
    if let Some(prev) = prev {
        object.insert("prevResult".into(), prev.clone());
    }
    let declared = object
        .get("capabilities")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut runtime = Map::new();
    for (name, value) in caps {
        if declared.get(name).and_then(Value::as_bool) == Some(true) {
            runtime.insert(name.clone(), value.clone());
        }
    }
    if !runtime.is_empty() {
        object.insert("runtimeConfig".into(), Value::Object(runtime));
    }
    if let Some(valid) = valid_attachments {
        object.insert("cni.dev/valid-attachments".into(), valid);
    }
    serde_json::to_vec(&Value::Object(object)).unwrap_or_default()
}

pub(crate) fn parse_result(
    out: &[u8],
    plugin: &PluginConfig,
    network: &str,
    command: &'static str,
) -> Result<Value, CniError> {
    let bad = |reason: String| CniError::BadResult {
        plugin: plugin.plugin_type.clone(),
        network: network.to_string(),
        command,
        reason,
    };
    let value: Value = serde_json::from_slice(out).map_err(|e| bad(format!("not JSON: {e}")))?;
    if !value.is_object() {
        return Err(bad("not a JSON object".into()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use std::path::Path;

    fn list(plugins: Value) -> NetworkConfig {
        let text = json!({"cniVersion":"1.0.0","name":"net","plugins":plugins}).to_string();
        config::parse(text.as_bytes(), true, Path::new("t")).unwrap()
    }

    #[test]
    fn plugin_stdin_carries_name_version_prev_result_and_declared_capabilities_only() {
        let config = list(json!([{"type":"portmap","capabilities":{"portMappings":true}}]));
        let mut caps = Map::new();
        caps.insert("portMappings".into(), json!([{"hostPort":1}]));
        caps.insert("bandwidth".into(), json!({"ingressRate":1}));
        let prev = json!({"ips":[]});
        let stdin = plugin_stdin(&config, &config.plugins[0], Some(&prev), &caps, None);
        let value: Value = serde_json::from_slice(&stdin).unwrap();
        assert_eq!(value["name"], "net");
        assert_eq!(value["cniVersion"], "1.0.0");
        assert_eq!(value["prevResult"], prev);
        assert_eq!(
            value["runtimeConfig"],
            json!({"portMappings":[{"hostPort":1}]})
        );
    }

    #[test]
    fn cni_args_are_semicolon_separated_pairs() {
        let args = vec![
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "x".to_string()),
        ];
        assert_eq!(join_args(&args), "A=1;B=x");
    }
}
