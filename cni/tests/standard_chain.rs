//! The standard chain — loopback, a bridge plugin, portmap — through the
//! client, once with Debian's `bridge` + `host-local` and once with
//! `cradle-bridge`: two pods reach each other and the gateway, a hostPort on
//! 127.0.0.1 reaches a busybox httpd in a pod, and nothing is left after.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use common::lab::Lab;
use common::{Netns, assert_no_host_leaks, has_debian_plugin, http_get, is_root};
use cradle_cni::PortMapping;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};

/// A process killed and reaped on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scenario(octet: u8, plugins: &[&str], main: impl Fn(&Lab) -> Value) {
    let lab = Lab::new(octet, plugins);
    let portmap = has_debian_plugin("portmap");
    let mut chain = vec![json!({"type": "loopback"}), main(&lab)];
    if portmap {
        chain
            .push(json!({"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}));
    }
    lab.write_conflist("1.0.0", "crchain", Value::Array(chain));
    let (a, b) = (Netns::new(), Netns::new());
    let names = [lab.host.name.clone(), a.name.clone(), b.name.clone()];
    {
        let _in = lab.host.enter();
        let client = lab.client();
        let mut pa = lab.pod(&a);
        pa.port_mappings = vec![PortMapping {
            host_port: 18080,
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: String::new(),
        }];
        let pb = lab.pod(&b);
        let ipa = client.setup(&pa).unwrap().primary_ip().unwrap();
        let ipb = client.setup(&pb).unwrap().primary_ip().unwrap();
        assert_ne!(ipa, ipb);
        assert!(a.ping(&ipb.to_string()), "a cannot reach b");
        assert!(b.ping(&ipa.to_string()), "b cannot reach a");
        assert!(b.ping(&lab.gateway), "b cannot reach the gateway");
        // (Debian's portmap fails CHECK of a pod with mappings on hosts
        // without ip6tables nat chains — an upstream bug — so CHECK b.)
        client.check(&pb).unwrap();

        if portmap {
            let www = lab.tmp.path().join("www");
            std::fs::create_dir_all(&www).unwrap();
            std::fs::write(www.join("index.html"), "hello from the pod\n").unwrap();
            let httpd = Reaped(
                Command::new("ip")
                    .args([
                        "netns", "exec", &a.name, "busybox", "httpd", "-f", "-p", "80", "-h",
                    ])
                    .arg(&www)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            // Direct first (bounded retries while httpd starts), then
            // through the hostPort on the lab host's loopback.
            let direct = format!("{ipa}:80");
            let mut answered = false;
            for _ in 0..40 {
                if http_get(Some(&b), &direct).is_some_and(|r| r.contains("hello from the pod")) {
                    answered = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            assert!(answered, "httpd in pod a never answered");
            let out = http_get(None, "127.0.0.1:18080");
            assert!(
                out.as_deref()
                    .is_some_and(|r| r.contains("hello from the pod")),
                "hostPort on 127.0.0.1: {out:?}"
            );
            drop(httpd);
        }

        client.teardown(&pa).unwrap();
        client.teardown(&pb).unwrap();
        client.teardown(&pa).unwrap();
        lab.assert_clean();
        if portmap {
            let rules = lab.host.exec(&["iptables-save", "-t", "nat"]).1;
            assert!(!rules.contains("18080"), "portmap rules left: {rules}");
        }
    }
    drop((a, b, lab));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_no_host_leaks(&refs);
}

#[test]
fn debian_bridge_host_local_and_portmap_work_through_the_client() {
    if !is_root("debian_bridge_host_local_and_portmap_work_through_the_client") {
        return;
    }
    if !has_debian_plugin("bridge") || !has_debian_plugin("host-local") {
        cradle_testkit::skip("containernetworking-plugins not installed");
        return;
    }
    scenario(
        21,
        &["bridge", "host-local", "loopback", "portmap"],
        |lab| json!({"type": "bridge", "bridge": lab.bridge, "isGateway": true, "hairpinMode": true, "ipam": lab.ipam()}),
    );
}

#[test]
fn cradle_bridge_with_loopback_and_portmap_works_through_the_client() {
    if !is_root("cradle_bridge_with_loopback_and_portmap_works_through_the_client") {
        return;
    }
    scenario(
        22,
        &["cradle-bridge", "loopback", "portmap"],
        |lab| json!({"type": "cradle-bridge", "bridge": lab.bridge, "hairpinMode": true, "ipam": lab.ipam()}),
    );
}

#[test]
fn bandwidth_capability_reaches_debians_bandwidth_plugin() {
    if !is_root("bandwidth_capability_reaches_debians_bandwidth_plugin") {
        return;
    }
    if !has_debian_plugin("bandwidth") {
        cradle_testkit::skip("no bandwidth plugin");
        return;
    }
    let lab = Lab::new(23, &["cradle-bridge", "bandwidth"]);
    lab.write_conflist(
        "1.0.0",
        "crbw",
        json!([
            {"type": "cradle-bridge", "bridge": lab.bridge, "ipam": lab.ipam()},
            {"type": "bandwidth", "capabilities": {"bandwidth": true}}
        ]),
    );
    let a = Netns::new();
    let _in = lab.host.enter();
    let client = lab.client();
    let mut pod = lab.pod(&a);
    pod.bandwidth = Some(cradle_cni::Bandwidth {
        ingress_rate: 1_000_000,
        ingress_burst: 100_000,
        egress_rate: 1_000_000,
        egress_burst: 100_000,
    });
    client.setup(&pod).unwrap();
    let veth = lab
        .host_ports()
        .into_iter()
        .find(|l| l.starts_with("crv"))
        .unwrap();
    let (_, qdisc) = lab.host.exec(&["tc", "qdisc", "show", "dev", &veth]);
    assert!(qdisc.contains("tbf"), "no shaping on {veth}: {qdisc}");
    client.teardown(&pod).unwrap();
    lab.assert_clean();
}
