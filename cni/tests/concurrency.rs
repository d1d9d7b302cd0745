//! Fifty pods added and deleted at once through cradle-bridge: the IPAM lock
//! must never hand out one address twice, concurrent bridge creation must
//! not fail, and nothing may be left afterwards.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use common::lab::Lab;
use common::{Netns, assert_no_host_leaks, ipam_files, is_root};
use serde_json::json;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Barrier;

const PODS: usize = 50;

#[test]
fn concurrent_adds_and_dels_give_unique_ips_and_leave_nothing() {
    if !is_root("concurrent_adds_and_dels_give_unique_ips_and_leave_nothing") {
        return;
    }
    let lab = Lab::new(31, &["cradle-bridge"]);
    lab.write_conflist(
        "1.0.0",
        "crconc",
        json!([{"type": "cradle-bridge", "bridge": lab.bridge, "ipam": lab.ipam()}]),
    );
    let pods: Vec<Netns> = (0..PODS).map(|_| Netns::new()).collect();
    let mut names: Vec<String> = pods.iter().map(|p| p.name.clone()).collect();
    names.push(lab.host.name.clone());
    let added = Barrier::new(PODS);
    let ips: Vec<IpAddr> = std::thread::scope(|scope| {
        let workers: Vec<_> = pods
            .iter()
            .map(|netns| {
                let (lab, added) = (&lab, &added);
                scope.spawn(move || {
                    let _in = lab.host.enter();
                    let client = lab.client();
                    let pod = lab.pod(netns);
                    let ip = client.setup(&pod).map(|r| r.primary_ip());
                    // Every pod exists at once before any is deleted.
                    added.wait();
                    client.teardown(&pod).unwrap();
                    ip.unwrap().unwrap()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let unique: HashSet<_> = ips.iter().collect();
    assert_eq!(unique.len(), PODS, "duplicate IPs: {ips:?}");
    assert!(ipam_files(&lab.data_dir).is_empty());
    lab.assert_clean();
    drop(pods);
    drop(lab);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_no_host_leaks(&refs);
}
