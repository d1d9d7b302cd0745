//! critest's "Streaming" and "Networking" groups, re-expressed over our CRI
//! socket. Streams go through the independent SPDY client of tests/clients
//! (critest's transport); critest's nginx becomes busybox httpd for the
//! network cases and a busybox `nc` echo server for port-forward (our SPDY
//! client checks an echo rather than an HTTP page). Host ports are free
//! ports picked at run time instead of critest's fixed 12000-12003.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

#[path = "../src/conformance.rs"]
mod conformance;

use std::time::Duration;

use anyhow::{Context, ensure};
use conformance::{World, eventually, http_get_eventually, pod_ip};
use cradle_proto::cri;
use cradle_tests::skip_unless_ready;
use cradle_tests::streaming::{args, client, exec_url, spdy_client, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critest_streaming_and_networking() {
    skip_unless_ready!(true);
    let Some(spdy) = spdy_client() else {
        cradle_tests::skip("the SPDY test client cannot be built (tests/clients/setup.sh)");
        return;
    };
    let mut w = World::new().await;
    let mut failures = Vec::new();
    let f = &mut failures;

    // ---- Streaming ----
    w.case(
        "runtime should support exec with tty=false and stdin=false",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let config = w.container_config("container-for-exec-test", &[]);
            let id = w.run(&pod_id, &pod, config).await?;
            let url = exec_url(&mut w.cri, &id, &["echo", "-n", "hello"], false, false).await?;
            let out = client(
                spdy.clone(),
                args(&["exec", &url, "-stdout", "-stderr"]),
                vec![],
            )
            .await?;
            ensure!(out.status.success(), "exec: {out:?}");
            ensure!(out.stdout == b"hello", "stdout {:?}", text(&out.stdout));
            ensure!(
                container_stderr(&out).is_empty(),
                "stderr {:?}",
                text(&out.stderr)
            );
            w.remove_pod(&pod_id).await
        },
    )
    .await;
    w.case(
        "runtime should support exec with tty=true and stdin=true",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let config = w.container_config("container-for-exec-test", &[]);
            let id = w.run(&pod_id, &pod, config).await?;
            let url = exec_url(&mut w.cri, &id, &["echo", "-n", "hello"], true, true).await?;
            let out = client(
                spdy.clone(),
                args(&["exec", &url, "-stdin", "-stdout", "-tty"]),
                vec![],
            )
            .await?;
            ensure!(out.status.success(), "exec: {out:?}");
            ensure!(
                text(&out.stdout).contains("hello"),
                "stdout {:?}",
                text(&out.stdout)
            );
            w.remove_pod(&pod_id).await
        },
    )
    .await;
    w.case("runtime should support attach", f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let mut config = w.container_config("container-for-attach-test", &["/bin/sh"]);
        config.stdin = true;
        config.stdin_once = true;
        let id = w.run(&pod_id, &pod, config).await?;
        let url = w
            .cri
            .runtime
            .attach(cri::AttachRequest {
                container_id: id.clone(),
                stdin: true,
                stdout: true,
                stderr: true,
                tty: false,
            })
            .await
            .context("Attach")?
            .into_inner()
            .url;
        let out = client(
            spdy.clone(),
            args(&["exec", &url, "-stdin", "-stdout", "-stderr"]),
            b"echo -n hello\n".to_vec(),
        )
        .await?;
        ensure!(
            out.stdout == b"hello",
            "attach stdout {:?}: {out:?}",
            text(&out.stdout)
        );
        ensure!(
            container_stderr(&out).is_empty(),
            "attach stderr {:?}",
            text(&out.stderr)
        );
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case("runtime should support portforward", f, async |w| {
        let mut pod = w.pod_config("create-PodSandbox-with-port-mapping")?;
        pod.port_mappings = vec![cri::PortMapping {
            container_port: 80,
            ..Default::default()
        }];
        let pod_id = w.run_pod(&pod).await?;
        let config = w.container_config(
            "container-for-portforward-test",
            &["nc", "-ll", "-p", "80", "-e", "cat"],
        );
        w.run(&pod_id, &pod, config).await?;
        forward_echo(w, &spdy, &pod_id, 80).await?;
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case(
        "runtime should support portforward in host network",
        f,
        async |w| {
            let port = free_port()?;
            let mut pod = w.pod_config("create-PodSandbox-with-port-mapping")?;
            pod.port_mappings = vec![cri::PortMapping {
                container_port: i32::from(port),
                ..Default::default()
            }];
            pod.linux
                .get_or_insert_with(Default::default)
                .security_context = Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: cri::NamespaceMode::Node as i32,
                    ..Default::default()
                }),
                ..Default::default()
            });
            let pod_id = w.run_pod(&pod).await?;
            let listen = format!("127.0.0.1:{port}");
            let config = w.container_config(
                "container-for-host-net-portforward-test",
                &["nc", "-ll", "-p", &port.to_string(), "-e", "cat"],
            );
            w.run(&pod_id, &pod, config).await?;
            eventually(Duration::from_secs(10), async || {
                std::net::TcpStream::connect(&listen)?;
                Ok(())
            })
            .await?;
            forward_echo(w, &spdy, &pod_id, port).await?;
            w.remove_pod(&pod_id).await
        },
    )
    .await;

    // ---- Networking ----
    w.case("runtime should support DNS config", f, async |w| {
        let mut pod = w.pod_config("create-PodSandbox-with-DNS-config")?;
        pod.dns_config = Some(cri::DnsConfig {
            servers: vec!["10.10.10.10".into()],
            searches: vec!["google.com".into()],
            options: vec!["ndots:8".into()],
        });
        let pod_id = w.run_pod(&pod).await?;
        let config = w.container_config("container-for-DNS-config-test-", &[]);
        let id = w.run(&pod_id, &pod, config).await?;
        let conf = w.exec_ok(&id, &["cat", "/etc/resolv.conf"]).await?;
        for line in [
            "nameserver 10.10.10.10",
            "search google.com",
            "options ndots:8",
        ] {
            ensure!(conf.contains(line), "resolv.conf lacks {line:?}: {conf:?}");
        }
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case("runtime should support set hostname", f, async |w| {
        let mut pod = w.pod_config("create-PodSandbox-with-hostname")?;
        pod.hostname = "test-hostname".into();
        let pod_id = w.run_pod(&pod).await?;
        let config = w.container_config("container-for-hostname-test-", &[]);
        let id = w.run(&pod_id, &pod, config).await?;
        let name = w.exec_ok(&id, &["hostname"]).await?;
        ensure!(
            name.trim().eq_ignore_ascii_case("test-hostname"),
            "hostname {name:?}"
        );
        w.remove_pod(&pod_id).await
    })
    .await;
    for host_port in [false, true] {
        let name = if host_port {
            "port mapping with host port and container port"
        } else {
            "port mapping with only container port"
        };
        w.case(name, f, async |w| {
            let port = if host_port {
                i32::from(free_port()?)
            } else {
                0
            };
            let mut pod = w.pod_config("create-PodSandbox-with-port-mapping")?;
            pod.port_mappings = vec![cri::PortMapping {
                container_port: 80,
                host_port: port,
                ..Default::default()
            }];
            let pod_id = w.run_pod(&pod).await?;
            let config = w.container_config("container-for-container-port", WEB_SERVER);
            w.run(&pod_id, &pod, config).await?;
            let addr = if host_port {
                format!("127.0.0.1:{port}")
            } else {
                format!("{}:80", pod_ip(w, &pod_id).await?)
            };
            let page = http_get_eventually(&addr).await?;
            ensure!(
                page.starts_with("HTTP/1.") && page.contains(" 200 "),
                "{addr}: {page:?}"
            );
            w.remove_pod(&pod_id).await
        })
        .await;
    }

    w.finish(failures).await;
}

/// busybox httpd serving a main page on port 80 in the foreground.
const WEB_SERVER: &[&str] = &[
    "sh",
    "-c",
    "mkdir -p /www && echo it works > /www/index.html && exec httpd -f -p 80 -h /www",
];

/// Port-forward to `port` of the pod through the SPDY client: 4 KiB must
/// come back unchanged from the pod's echo server (retried while it starts).
async fn forward_echo(
    w: &mut World,
    spdy: &std::path::Path,
    pod_id: &str,
    port: u16,
) -> anyhow::Result<()> {
    let mut last = None;
    for _ in 0..20 {
        // critest asks with no ports in the request: the stream says which.
        let url = w
            .cri
            .runtime
            .port_forward(cri::PortForwardRequest {
                pod_sandbox_id: pod_id.into(),
                port: vec![],
            })
            .await
            .context("PortForward without ports")?
            .into_inner()
            .url;
        let out = client(
            spdy.to_path_buf(),
            args(&[
                "portforward",
                &url,
                "-port",
                &port.to_string(),
                "-size",
                "4096",
            ]),
            vec![],
        )
        .await?;
        if out.status.success() && text(&out.stdout).starts_with("ok") {
            return Ok(());
        }
        last = Some(out);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    anyhow::bail!("port-forward to {port}: {last:?}")
}

/// What the container wrote to stderr: the client's stderr less the
/// `STATUS <json>` line the client itself prints for the v4 exit status.
fn container_stderr(out: &std::process::Output) -> String {
    text(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("STATUS "))
        .collect()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
