//! Pod networking end to end over the CRI socket: a CNI configuration in the
//! daemon's own conf dir (loopback + cradle-bridge on a bridge and private
//! subnet only this test uses + Debian's portmap), two pods whose IPs
//! PodSandboxStatus reports (also after a daemon restart) and which reach
//! each other (ExecSync `ping` from busybox), a hostPort on 127.0.0.1 that
//! reaches a busybox httpd in a pod, PodSandboxStats with the pod's
//! interface counters, and afterwards no veth, bridge port,
//! IP allocation, cache entry or netns pin left; the bridge is removed at
//! the end. Traffic stays on the test's bridge and the host's loopback.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use cradle_tests::network::TestNetwork;
use cradle_tests::steps::{
    container_config, create_and_start, exec, leak_scope, pod_config, pull, remove_everything,
    run_pod, stop_and_remove_container, stop_and_remove_pod,
};
use cradle_tests::{CgroupParent, Cri, Daemon, Registry, leaks, skip_unless_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_get_ips_reach_each_other_and_a_host_port_and_leave_nothing() {
    skip_unless_ready!(true);
    for needed in [
        "/usr/lib/cni/loopback",
        "/usr/lib/cni/portmap",
        "/usr/sbin/iptables",
    ] {
        if !Path::new(needed).exists() {
            cradle_tests::skip(format!("{needed} is missing (run hack/install-deps.sh)"));
            return;
        }
    }
    let cgroup = CgroupParent::new();
    let registry = Registry::start().expect("registry");
    let net = TestNetwork::new("e2enet", "te", 213).expect("test network");
    let mut daemon = Daemon::start_with_config(&net.daemon_config()).expect("cradled");
    net.write_conflist(
        &daemon.cni_conf_dir(),
        serde_json::json!({"ipMasq": false, "hairpinMode": true}),
    )
    .expect("conflist");
    let mut cri = daemon.connect().await.expect("connect");
    let result = scenario(&mut cri, &mut daemon, &registry, &cgroup, &net).await;
    if let Err(e) = result {
        let mut cri = daemon.connect().await.expect("connect");
        remove_everything(&mut cri).await;
        panic!("{e:#}");
    }
    let bridge = Path::new("/sys/class/net").join(&net.bridge.0);
    drop(net.bridge);
    assert!(!bridge.exists(), "bridge {} still exists", bridge.display());
    let errors = cgroup.remove();
    assert!(errors.is_empty(), "cgroup parent removal: {errors:?}");
}

async fn scenario(
    cri: &mut Cri,
    daemon: &mut Daemon,
    registry: &Registry,
    cgroup: &CgroupParent,
    net: &TestNetwork,
) -> anyhow::Result<()> {
    let image = registry.image_ref();
    pull(cri, &image).await?;
    let host_port: i32 = 20000 + i32::from(rand::random::<u16>() % 10000);

    let mut config_a = pod_config(daemon, cgroup)?;
    config_a.port_mappings = vec![cri::PortMapping {
        protocol: cri::Protocol::Tcp as i32,
        container_port: 80,
        host_port,
        host_ip: "127.0.0.1".into(),
    }];
    let config_b = pod_config(daemon, cgroup)?;
    let pod_a = run_pod(cri, &config_a).await?;
    let pod_b = run_pod(cri, &config_b).await?;
    let ip_a = pod_ip(cri, &pod_a).await?;
    let ip_b = pod_ip(cri, &pod_b).await?;
    ensure!(ip_a != ip_b, "both pods got {ip_a}");
    for ip in [&ip_a, &ip_b] {
        ensure!(
            ip.starts_with(&net.subnet_prefix),
            "pod IP {ip} is not in {}0/24",
            net.subnet_prefix
        );
    }

    let httpd = container_config(
        &image,
        "web",
        &[
            "sh",
            "-c",
            "mkdir -p /www && echo hello from the pod > /www/index.html && exec httpd -f -p 80 -h /www",
        ],
    );
    let web = create_and_start(cri, &pod_a, &config_a, httpd).await?;
    let sleeper = container_config(&image, "client", &["sleep", "3600"]);
    let client = create_and_start(cri, &pod_b, &config_b, sleeper).await?;

    let (code, out) = exec(cri, &client, &["ping", "-c1", "-W1", &ip_a]).await?;
    ensure!(code == 0, "pod b cannot ping pod a ({ip_a}): {out}");
    let (code, out) = exec(cri, &web, &["ping", "-c1", "-W1", &ip_b]).await?;
    ensure!(code == 0, "pod a cannot ping pod b ({ip_b}): {out}");

    let body = http_get_with_retries(&format!("127.0.0.1:{host_port}")).await;
    ensure!(
        body.as_deref()
            .is_some_and(|b| b.contains("hello from the pod")),
        "hostPort 127.0.0.1:{host_port} → httpd in pod a: {body:?}"
    );

    // PodSandboxStats: the pod's interface counters, processes, containers.
    let stats = cri
        .runtime
        .pod_sandbox_stats(cri::PodSandboxStatsRequest {
            pod_sandbox_id: pod_a.clone(),
        })
        .await
        .context("PodSandboxStats")?
        .into_inner()
        .stats
        .and_then(|s| s.linux)
        .context("no linux pod stats")?;
    let eth0 = stats
        .network
        .and_then(|n| n.default_interface)
        .context("no default interface")?;
    ensure!(
        eth0.name == "eth0" && eth0.rx_bytes.is_some_and(|b| b.value > 0),
        "eth0 counters: {eth0:?}"
    );
    let processes = stats.process.and_then(|p| p.process_count).map(|c| c.value);
    ensure!(
        processes.is_some_and(|n| n >= 2),
        "process count {processes:?}"
    );
    ensure!(
        stats.containers.len() == 1 && stats.memory.and_then(|m| m.usage_bytes).is_some(),
        "containers/memory in pod stats"
    );
    let listed = cri
        .runtime
        .list_pod_sandbox_stats(cri::ListPodSandboxStatsRequest::default())
        .await?
        .into_inner()
        .stats;
    ensure!(
        listed.len() == 2,
        "ListPodSandboxStats: {} pods",
        listed.len()
    );

    // The IPs survive a daemon restart.
    daemon.restart()?;
    *cri = daemon.connect().await?;
    ensure!(
        pod_ip(cri, &pod_a).await? == ip_a,
        "pod a's IP changed after a restart"
    );

    for id in [&web, &client] {
        stop_and_remove_container(cri, id).await?;
    }
    for id in [&pod_a, &pod_b] {
        stop_and_remove_pod(cri, id).await?;
    }
    let ids = [
        pod_a.as_str(),
        pod_b.as_str(),
        web.as_str(),
        client.as_str(),
    ];
    leaks::assert_none(&leak_scope(daemon, &ids));
    let left = leaks::network(
        &net.bridge.0,
        &net.name,
        &[&pod_a, &pod_b],
        &net.ipam_dir,
        &daemon.root().join("cni"),
    );
    ensure!(left.is_empty(), "network leaks:\n  {}", left.join("\n  "));
    let rules = Command::new("iptables-save").args(["-t", "nat"]).output()?;
    let rules = String::from_utf8_lossy(&rules.stdout);
    ensure!(
        !rules.contains(&format!("--dport {host_port}")),
        "portmap rules left for port {host_port}"
    );
    Ok(())
}

/// PodSandboxStatus's primary IP (an error when empty).
async fn pod_ip(cri: &mut Cri, id: &str) -> anyhow::Result<String> {
    let status = cri
        .runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: false,
        })
        .await
        .context("PodSandboxStatus")?
        .into_inner()
        .status
        .context("no status")?;
    let ip = status.network.map(|n| n.ip).unwrap_or_default();
    if ip.is_empty() {
        bail!("pod {id} reports no IP");
    }
    Ok(ip)
}

/// `GET /` with up to 50 tries 100 ms apart (httpd may still be starting).
async fn http_get_with_retries(addr: &str) -> Option<String> {
    for _ in 0..50 {
        let addr = addr.to_string();
        let got = tokio::task::spawn_blocking(move || http_get(&addr))
            .await
            .ok()
            .flatten();
        if got.is_some() {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn http_get(addr: &str) -> Option<String> {
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    let timeout = Duration::from_secs(1);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout * 2)).ok()?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    body.contains("200").then_some(body)
}
