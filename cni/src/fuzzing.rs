//! Entry points for the fuzz targets (`fuzz/`) and the seed-corpus replay
//! tests: what a plugin's stdout reaches, without running a plugin.
//!
//! Not an API: hidden from the docs, and it changes with the parsers.

use crate::config::PluginConfig;
use crate::error::CniError;
use crate::types::NetworkResult;

/// A plugin's stdout after a successful ADD, as the client reads it: the
/// result object checked (`wire::parse_result`), then summarised into the
/// pod's addresses ([`NetworkResult::from_raw`]).
pub fn parse_add_result(stdout: &[u8]) -> Result<NetworkResult, CniError> {
    let plugin = PluginConfig {
        plugin_type: "fuzz".to_string(),
        config: serde_json::Value::Null,
    };
    let raw = crate::wire::parse_result(stdout, &plugin, "fuzz", "ADD")?;
    Ok(NetworkResult::from_raw(raw))
}

/// A failed plugin's stdout, as the client reads it: the spec's error
/// object when it is one (`exec::plugin_error`).
pub fn parse_error(stdout: &[u8]) -> Option<crate::exec::ExecError> {
    crate::exec::plugin_error(stdout)
}

/// Reads `stdout` as a successful ADD's and as a failed plugin's output,
/// and panics if the pod's addresses break what the kubelet relies on:
/// no loopback, each once, IPv4 before IPv6, the first one primary.
pub fn check_plugin_output(stdout: &[u8]) {
    if let Ok(result) = parse_add_result(stdout) {
        let ips = &result.ips;
        assert!(ips.iter().all(|ip| !ip.is_loopback()), "loopback pod IP");
        for (i, ip) in ips.iter().enumerate() {
            assert!(!ips[i + 1..].contains(ip), "pod IP {ip} twice");
        }
        assert!(
            ips.windows(2).all(|w| !(w[0].is_ipv6() && w[1].is_ipv4())),
            "IPv6 before IPv4"
        );
        assert_eq!(result.primary_ip(), ips.first().copied());
    }
    if let Some(e) = parse_error(stdout) {
        let _ = e.to_string();
    }
}
