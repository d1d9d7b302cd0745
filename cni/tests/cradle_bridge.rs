//! cradle-bridge through the CNI client, as root, in namespaces the tests
//! create: connectivity, DEL, CHECK, the cache across client instances,
//! masquerade, STATUS and GC, and the unwinding of a failed ADD.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use common::lab::Lab;
use common::{Netns, assert_no_host_leaks, ipam_files, is_root};
use cradle_cni::{Attachment, CniNetwork, PodNetwork};
use serde_json::json;

fn bridge_plugin(lab: &Lab, extra: serde_json::Value) -> serde_json::Value {
    let mut plugin = json!({"type": "cradle-bridge", "bridge": lab.bridge, "ipam": lab.ipam()});
    if let (Some(p), Some(e)) = (plugin.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    plugin
}

#[test]
fn two_pods_get_distinct_ips_and_reach_each_other_and_the_gateway() {
    if !is_root("two_pods_get_distinct_ips_and_reach_each_other_and_the_gateway") {
        return;
    }
    let lab = Lab::new(11, &["cradle-bridge", "loopback"]);
    lab.write_conflist(
        "1.0.0",
        "crtest",
        json!([{"type": "loopback"}, bridge_plugin(&lab, json!({}))]),
    );
    let (a, b) = (Netns::new(), Netns::new());
    let names = [lab.host.name.clone(), a.name.clone(), b.name.clone()];
    {
        let _in = lab.host.enter();
        let client = lab.client();
        let (pa, pb) = (lab.pod(&a), lab.pod(&b));
        let ra = client.setup(&pa).unwrap();
        let rb = client.setup(&pb).unwrap();
        let (ipa, ipb) = (ra.primary_ip().unwrap(), rb.primary_ip().unwrap());
        assert_ne!(ipa, ipb);
        assert!(ipa.to_string().starts_with("10.244.11."), "{ipa}");
        assert!(a.links().contains(&"eth0".to_string()));
        assert!(a.ping(&ipb.to_string()), "a cannot reach b");
        assert!(b.ping(&ipa.to_string()), "b cannot reach a");
        assert!(a.ping(&lab.gateway), "a cannot reach the gateway");
        let (_, route) = a.exec(&["ip", "route", "show", "default"]);
        assert!(route.contains(&lab.gateway), "{route}");
        client.check(&pa).unwrap();
        assert_eq!(lab.host_ports().len(), 2);
        assert_eq!(ipam_files(&lab.data_dir).len(), 2);

        client.teardown(&pa).unwrap();
        assert_eq!(lab.host_ports().len(), 1, "a's veth is gone");
        assert_eq!(ipam_files(&lab.data_dir).len(), 1, "a's IP is released");
        assert!(!a.links().contains(&"eth0".to_string()));
        client.teardown(&pa).unwrap();
        client.teardown(&pb).unwrap();
        lab.assert_clean();
    }
    drop((a, b, lab));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_no_host_leaks(&refs);
}

#[test]
fn cache_survives_a_new_client_and_the_config_going_away() {
    if !is_root("cache_survives_a_new_client_and_the_config_going_away") {
        return;
    }
    let lab = Lab::new(12, &["cradle-bridge"]);
    lab.write_conflist("1.0.0", "crtest", json!([bridge_plugin(&lab, json!({}))]));
    let (a, b) = (Netns::new(), Netns::new());
    let _in = lab.host.enter();
    let ra = lab.client().setup(&lab.pod(&a)).unwrap();
    lab.client().setup(&lab.pod(&b)).unwrap();

    // A restarted daemon reads the same result back and can DEL with it.
    let again = lab.client();
    assert_eq!(again.cached_result(&lab.pod(&a)).unwrap(), Some(ra));
    again.teardown(&lab.pod(&a)).unwrap();

    // With no config left, the cache alone is enough to DEL.
    std::fs::remove_file(lab.conf_dir.join("10-test.conflist")).unwrap();
    assert!(
        CniNetwork::load(
            &lab.conf_dir,
            std::slice::from_ref(&lab.bin),
            &lab.cache_dir
        )
        .unwrap()
        .is_none()
    );
    let found = cradle_cni::teardown_cached(
        std::slice::from_ref(&lab.bin),
        &lab.cache_dir,
        &lab.pod(&b),
        cradle_cni::DEFAULT_PLUGIN_TIMEOUT,
    )
    .unwrap();
    assert!(found);
    lab.assert_clean();
}

#[test]
fn del_without_cache_or_netns_is_ok() {
    if !is_root("del_without_cache_or_netns_is_ok") {
        return;
    }
    let lab = Lab::new(13, &["cradle-bridge"]);
    lab.write_conflist("1.0.0", "crtest", json!([bridge_plugin(&lab, json!({}))]));
    let _in = lab.host.enter();
    let pod = PodNetwork::new("f".repeat(64), lab.tmp.path().join("no-such-netns"));
    lab.client().teardown(&pod).unwrap();
    lab.client().teardown(&pod).unwrap();
}

#[test]
fn check_reports_a_missing_interface_and_del_still_cleans_up() {
    if !is_root("check_reports_a_missing_interface_and_del_still_cleans_up") {
        return;
    }
    let lab = Lab::new(14, &["cradle-bridge"]);
    lab.write_conflist("1.0.0", "crtest", json!([bridge_plugin(&lab, json!({}))]));
    let a = Netns::new();
    let _in = lab.host.enter();
    let client = lab.client();
    let pod = lab.pod(&a);
    client.setup(&pod).unwrap();
    client.check(&pod).unwrap();
    a.exec(&["ip", "link", "del", "eth0"]);
    let err = client.check(&pod).unwrap_err().to_string();
    assert!(err.contains("eth0 is missing"), "{err}");
    client.teardown(&pod).unwrap();
    lab.assert_clean();
}

#[test]
fn failed_add_unwinds_completely() {
    if !is_root("failed_add_unwinds_completely") {
        return;
    }
    let lab = Lab::new(15, &["cradle-bridge"]);
    lab.write_conflist("1.0.0", "crtest", json!([bridge_plugin(&lab, json!({}))]));
    let a = Netns::new();
    let (made, out) = a.exec(&[
        "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "crdummy",
    ]);
    assert!(made, "{out}");
    let _in = lab.host.enter();
    let err = lab.client().setup(&lab.pod(&a)).unwrap_err().to_string();
    assert!(err.contains("eth0 already exists"), "{err}");
    assert!(err.contains("cradle-bridge"), "{err}");
    lab.assert_clean();
}

#[test]
fn ip_masq_hairpin_and_mtu_follow_the_config() {
    if !is_root("ip_masq_hairpin_and_mtu_follow_the_config") {
        return;
    }
    let lab = Lab::new(16, &["cradle-bridge"]);
    lab.write_conflist(
        "1.0.0",
        "crtest",
        json!([bridge_plugin(
            &lab,
            json!({"ipMasq": true, "hairpinMode": true})
        )]),
    );
    let a = Netns::new();
    let _in = lab.host.enter();
    let client = lab.client();
    let pod = lab.pod(&a);
    let ip = client.setup(&pod).unwrap().primary_ip().unwrap();
    let rules = lab
        .host
        .exec(&["iptables", "-t", "nat", "-S", "POSTROUTING"])
        .1;
    assert!(rules.contains(&format!("-s {ip}/32")), "{rules}");
    assert!(rules.contains("MASQUERADE"), "{rules}");
    client.check(&pod).unwrap();
    client.teardown(&pod).unwrap();
    let rules = lab
        .host
        .exec(&["iptables", "-t", "nat", "-S", "POSTROUTING"])
        .1;
    assert!(!rules.contains("MASQUERADE"), "{rules}");
    lab.assert_clean();
}

#[test]
fn status_and_gc_on_spec_1_1_0() {
    if !is_root("status_and_gc_on_spec_1_1_0") {
        return;
    }
    let lab = Lab::new(17, &["cradle-bridge"]);
    lab.write_conflist("1.1.0", "crtest", json!([bridge_plugin(&lab, json!({}))]));
    let (a, b) = (Netns::new(), Netns::new());
    let _in = lab.host.enter();
    let client = lab.client();
    client.status().unwrap();
    let (pa, pb) = (lab.pod(&a), lab.pod(&b));
    client.setup(&pa).unwrap();
    client.setup(&pb).unwrap();
    client
        .gc(&[Attachment {
            container_id: pa.sandbox_id.clone(),
            ifname: "eth0".into(),
        }])
        .unwrap();
    assert_eq!(ipam_files(&lab.data_dir).len(), 1, "b's IP was collected");
    assert!(
        !b.links().contains(&"eth0".to_string()),
        "b's veth was deleted"
    );
    assert!(client.cached_result(&pb).unwrap().is_none());
    client.check(&pa).unwrap();
    client.teardown(&pa).unwrap();
    lab.assert_clean();
}

#[test]
fn dual_stack_pods_get_one_address_per_family_and_reach_each_other() {
    if !is_root("dual_stack_pods_get_one_address_per_family_and_reach_each_other") {
        return;
    }
    let lab = Lab::new(18, &["cradle-bridge"]);
    let ipam = json!({
        "type": "host-local",
        "ranges": [[{"subnet": lab.subnet}], [{"subnet": "fd00:244:18::/64"}]],
        "dataDir": lab.data_dir,
    });
    lab.write_conflist(
        "1.0.0",
        "crtest",
        json!([{"type": "cradle-bridge", "bridge": lab.bridge, "ipam": ipam}]),
    );
    let (a, b) = (Netns::new(), Netns::new());
    let _in = lab.host.enter();
    let client = lab.client();
    let (pa, pb) = (lab.pod(&a), lab.pod(&b));
    let ra = client.setup(&pa).unwrap();
    let rb = client.setup(&pb).unwrap();
    assert_eq!(ra.ips.len(), 2, "{:?}", ra.ips);
    assert!(ra.ips[0].is_ipv4() && ra.ips[1].is_ipv6(), "{:?}", ra.ips);
    assert!(a.ping(&rb.ips[1].to_string()), "a cannot reach b over IPv6");
    assert!(a.ping("fd00:244:18::1"), "a cannot reach the IPv6 gateway");
    let (_, route) = a.exec(&["ip", "-6", "route", "show", "default"]);
    assert!(route.contains("fd00:244:18::1"), "{route}");
    client.check(&pa).unwrap();
    client.teardown(&pa).unwrap();
    client.teardown(&pb).unwrap();
    lab.assert_clean();
}

#[test]
fn plugin_gc_removes_attachments_the_runtime_forgot_even_without_cache() {
    if !is_root("plugin_gc_removes_attachments_the_runtime_forgot_even_without_cache") {
        return;
    }
    let lab = Lab::new(19, &["cradle-bridge"]);
    lab.write_conflist(
        "1.1.0",
        "crtest",
        json!([bridge_plugin(&lab, json!({"ipMasq": true}))]),
    );
    let (a, b) = (Netns::new(), Netns::new());
    let _in = lab.host.enter();
    let client = lab.client();
    let (pa, pb) = (lab.pod(&a), lab.pod(&b));
    client.setup(&pa).unwrap();
    client.setup(&pb).unwrap();
    // The runtime lost b's cache entry (say, a crash before it was synced).
    std::fs::remove_file(
        lab.cache_dir
            .join(format!("results/crtest-{}-eth0", pb.sandbox_id)),
    )
    .unwrap();
    client
        .gc(&[Attachment {
            container_id: pa.sandbox_id.clone(),
            ifname: "eth0".into(),
        }])
        .unwrap();
    assert_eq!(ipam_files(&lab.data_dir).len(), 1);
    assert_eq!(lab.host_ports().len(), 1, "b's veth was deleted");
    assert!(!b.links().contains(&"eth0".to_string()));
    let rules = lab
        .host
        .exec(&["iptables", "-t", "nat", "-S", "POSTROUTING"])
        .1;
    assert_eq!(rules.matches("MASQUERADE").count(), 1, "{rules}");
    client.check(&pa).unwrap();
    client.teardown(&pa).unwrap();
    lab.assert_clean();
}

#[test]
fn ip_masq_without_iptables_is_a_clear_error_and_leaves_nothing() {
    if !is_root("ip_masq_without_iptables_is_a_clear_error_and_leaves_nothing") {
        return;
    }
    use std::io::Write;
    let lab = Lab::new(20, &["cradle-bridge"]);
    let a = Netns::new();
    let empty = lab.tmp.path().join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let conf = bridge_plugin(
        &lab,
        json!({"cniVersion": "1.0.0", "name": "crtest", "ipMasq": true}),
    );
    let _in = lab.host.enter();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cradle-bridge"))
        .env_clear()
        .env("PATH", &empty)
        .env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", "c1")
        .env("CNI_NETNS", &a.path)
        .env("CNI_IFNAME", "eth0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        error["msg"]
            .as_str()
            .unwrap()
            .contains("ipMasq needs iptables"),
        "{error}"
    );
    assert!(!a.links().contains(&"eth0".to_string()));
    lab.assert_clean();
}
