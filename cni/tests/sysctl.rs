//! Pod sysctls land in the pod's namespace only.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use common::{Netns, is_root};

#[test]
fn net_sysctls_apply_in_the_pod_namespace_only() {
    if !is_root("net_sysctls_apply_in_the_pod_namespace_only") {
        return;
    }
    let pod = Netns::new();
    let host_before =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    let value = if host_before.trim() == "80" {
        "81"
    } else {
        "80"
    };
    cradle_cni::sysctl::apply_net_sysctls(
        &pod.path,
        &[("net.ipv4.ip_unprivileged_port_start".into(), value.into())],
    )
    .unwrap();
    let (_, inside) = pod.exec(&["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]);
    assert_eq!(inside.trim(), value);
    let host_after =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    assert_eq!(host_after, host_before);
    let err = cradle_cni::sysctl::apply_net_sysctls(
        &pod.path,
        &[("net.ipv4.no_such_key".into(), "1".into())],
    )
    .unwrap_err();
    assert!(err.to_string().contains("net.ipv4.no_such_key"), "{err}");
}
