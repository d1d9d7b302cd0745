//! Masquerade for traffic leaving the pod subnet (`ipMasq: true`), with
//! iptables in the namespace the plugin runs in. Each rule carries a comment
//! naming the network and container, so DEL removes exactly its own rules
//! and a DEL of rules already gone succeeds.

use super::cidr::Cidr;
use super::error::PluginError;
use super::error::code;
use std::net::IpAddr;
use std::process::Command;

/// The rule that masquerades `ip`'s traffic to anywhere outside `subnet`.
fn rule(ip: IpAddr, subnet: &Cidr, network: &str, id: &str) -> Vec<String> {
    let host = if ip.is_ipv6() { 128 } else { 32 };
    let comment = format!("cradle-bridge: {network} {id}");
    let mut rule: Vec<String> = vec!["POSTROUTING".into(), "-s".into(), format!("{ip}/{host}")];
    rule.extend(["!".into(), "-d".into(), subnet.network().to_string()]);
    rule.extend(["-m".into(), "comment".into(), "--comment".into(), comment]);
    rule.extend(["-j".into(), "MASQUERADE".into()]);
    rule
}

fn iptables(ip: IpAddr, action: &str, rule: &[String]) -> Result<bool, PluginError> {
    let binary = if ip.is_ipv6() {
        "ip6tables"
    } else {
        "iptables"
    };
    let out = Command::new(binary)
        .args(["-w", "5", "-t", "nat", action])
        .args(rule)
        .output()
        .map_err(|e| {
            PluginError::new(
                code::IPTABLES,
                format!("ipMasq needs {binary}, which could not be run: {e}"),
            )
        })?;
    if out.status.success() {
        return Ok(true);
    }
    // -C and -D exit 1 when the rule does not exist.
    if out.status.code() == Some(1) && action != "-A" {
        return Ok(false);
    }
    Err(PluginError::new(
        code::IPTABLES,
        format!(
            "{binary} {action}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    ))
}

/// Installs the masquerade rule for `ip` unless it is already there.
pub fn add(ip: IpAddr, subnet: &Cidr, network: &str, id: &str) -> Result<(), PluginError> {
    let rule = rule(ip, subnet, network, id);
    if !iptables(ip, "-C", &rule)? {
        iptables(ip, "-A", &rule)?;
    }
    Ok(())
}

/// Removes the rule (every copy, bounded); absent is fine.
pub fn del(ip: IpAddr, subnet: &Cidr, network: &str, id: &str) -> Result<(), PluginError> {
    let rule = rule(ip, subnet, network, id);
    for _ in 0..8 {
        if !iptables(ip, "-D", &rule)? {
            break;
        }
    }
    Ok(())
}

/// Whether the rule is installed.
pub fn exists(ip: IpAddr, subnet: &Cidr, network: &str, id: &str) -> Result<bool, PluginError> {
    iptables(ip, "-C", &rule(ip, subnet, network, id))
}
