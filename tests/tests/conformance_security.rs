//! critest's "Security Context" group (Linux), first half, re-expressed over
//! our CRI socket: namespace options, users and groups, read-only rootfs,
//! privileged, capabilities, masked and read-only paths (the profiles half
//! is conformance_security_profiles.rs). critest's nginx
//! image becomes busybox `sleep` with a unique argument, `ipcs` (missing
//! from our busybox) becomes /proc/sysvipc/shm. One daemon for the area, a
//! pod per case, every case run and reported.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

#[path = "../src/conformance.rs"]
mod conformance;

use anyhow::{Context, ensure};
use conformance::{World, expect_log, log_file, security};
use cradle_proto::cri;
use cradle_tests::skip_unless_ready;

use cri::NamespaceMode::{Container, Node, Pod};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critest_security_context() {
    skip_unless_ready!(true);
    let mut w = World::new().await;
    let mut failures = Vec::new();
    let f = &mut failures;

    // ---- NamespaceOption ----
    w.case("runtime should support HostPID", f, async |w| {
        let ns = options(Node, Pod, Pod);
        let (pod_id, pod) = ns_pod(w, &ns).await?;
        let first = ns_container(w, &ns, &["sleep", "4001"]);
        let first = w.run(&pod_id, &pod, first).await?;
        let own = w.exec_ok(&first, &["sh", "-c", "pidof sleep"]).await?;
        let second = ns_container(w, &ns, &["sleep", "1000"]);
        let second = w.run(&pod_id, &pod, second).await?;
        let seen = w
            .exec_ok(&second, &["sh", "-c", "pidof sleep || true"])
            .await?;
        let own = own.split_whitespace().next().context("no pid of sleep")?;
        ensure!(
            seen.split_whitespace().any(|p| p == own),
            "host pid {own} not seen from a hostPID container: {seen:?}"
        );
        w.remove_pod(&pod_id).await
    })
    .await;
    for (name, mode) in [
        ("runtime should support HostIpc is true", Node),
        ("runtime should support HostIpc is false", Pod),
    ] {
        w.case(name, f, async |w| {
            let segment = HostShm::new()?;
            let ns = options(Pod, mode, Pod);
            let (pod_id, pod) = ns_pod(w, &ns).await?;
            let config = ns_container(w, &ns, conformance::PAUSE);
            let id = w.run(&pod_id, &pod, config).await?;
            let table = w.exec_ok(&id, &["cat", "/proc/sysvipc/shm"]).await?;
            let seen = table
                .lines()
                .skip(1)
                .any(|l| l.split_whitespace().nth(1) == Some(segment.0.as_str()));
            ensure!(
                seen == (mode == Node),
                "host segment {} seen: {seen} (mode {mode:?})",
                segment.0
            );
            w.remove_pod(&pod_id).await
        })
        .await;
    }
    w.case("runtime should support PodPID", f, async |w| {
        let ns = cri::NamespaceOption {
            pid: Pod as i32,
            ..Default::default()
        };
        let (pod_id, pod) = ns_pod(w, &ns).await?;
        let config = ns_container(w, &ns, &["sleep", "4002"]);
        let id = w.run(&pod_id, &pod, config).await?;
        let init = w.exec_ok(&id, &["cat", "/proc/1/cmdline"]).await?;
        ensure!(
            !init.contains("4002"),
            "pid 1 of a POD container is {init:?}"
        );
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case("runtime should support ContainerPID", f, async |w| {
        let ns = cri::NamespaceOption {
            pid: Container as i32,
            ..Default::default()
        };
        let (pod_id, pod) = ns_pod(w, &ns).await?;
        let config = ns_container(w, &ns, &["sleep", "4003"]);
        let id = w.run(&pod_id, &pod, config).await?;
        let init = w.exec_ok(&id, &["cat", "/proc/1/cmdline"]).await?;
        ensure!(
            init.contains("4003"),
            "pid 1 of a CONTAINER container is {init:?}"
        );
        w.remove_pod(&pod_id).await
    })
    .await;
    for (name, host) in [
        ("runtime should support HostNetwork is true", true),
        ("runtime should support HostNetwork is false", false),
    ] {
        w.case(name, f, async |w| {
            let listener = std::net::TcpListener::bind("0.0.0.0:0")?;
            let port = listener.local_addr()?.port();
            let ns = options(Pod, Pod, if host { Node } else { Pod });
            let (pod_id, pod) = ns_pod(w, &ns).await?;
            let config = ns_container(w, &ns, &["sh", "-c", "netstat -ln"]);
            let log = log_file(&pod, &config);
            w.run_to_exit(&pod_id, &pod, config).await?;
            let content = std::fs::read_to_string(&log)?;
            let seen = content.contains(&format!(":{port} "));
            ensure!(seen == host, "host port {port} seen: {seen}:\n{content}");
            drop(listener);
            w.remove_pod(&pod_id).await
        })
        .await;
    }

    // ---- bucket: users, groups, rootfs, privileges, paths ----
    w.case("runtime should support SupplementalGroups", f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let mut config = w.container_config("container-with-SupplementalGroups-test-", &[]);
        security(&mut config).supplemental_groups = vec![1234, 5678];
        let id = w.run(&pod_id, &pod, config).await?;
        let groups = w.exec_ok(&id, &["id", "-G"]).await?;
        let groups: Vec<&str> = groups.split_whitespace().collect();
        ensure!(
            groups.contains(&"1234") && groups.contains(&"5678"),
            "{groups:?}"
        );
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case("runtime should support RunAsUser", f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let mut config = w.container_config("container-with-RunAsUser-test-", &[]);
        security(&mut config).run_as_user = Some(cri::Int64Value { value: 1001 });
        let id = w.run(&pod_id, &pod, config).await?;
        ensure!(w.exec_ok(&id, &["id", "-u"]).await? == "1001\n");
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case("runtime should support RunAsUserName", f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let mut config = w.container_config("container-with-RunAsUserName-test-", &[]);
        security(&mut config).run_as_username = "nobody".into();
        let id = w.run(&pod_id, &pod, config).await?;
        ensure!(w.exec_ok(&id, &["id", "-nu"]).await? == "nobody\n");
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case("runtime should support RunAsGroup", f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let cmd = ["sh", "-c", "echo $(id -u):$(id -g)"];
        let mut config = w.container_config("container-with-RunAsGroup-test-", &cmd);
        let sc = security(&mut config);
        sc.run_as_user = Some(cri::Int64Value { value: 1001 });
        sc.run_as_group = Some(cri::Int64Value { value: 1002 });
        let log = log_file(&pod, &config);
        w.run_to_exit(&pod_id, &pod, config).await?;
        expect_log(&log, "stdout", "1001:1002\n")?;
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case(
        "should return error if RunAsGroup is set without RunAsUser",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let cmd = ["sh", "-c", "echo $(id -u):$(id -g)"];
            let mut config =
                w.container_config("container-with-RunAsGroup-without-RunAsUser-", &cmd);
            security(&mut config).run_as_group = Some(cri::Int64Value { value: 1002 });
            let created = w.try_create(&pod_id, &pod, config).await;
            ensure!(created.is_err(), "RunAsGroup without RunAsUser accepted");
            w.remove_pod(&pod_id).await
        },
    )
    .await;
    for readonly in [false, true] {
        let name = format!("runtime should support that ReadOnlyRootfs is {readonly}");
        w.case(&name, f, async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let cmd = [
                "sh",
                "-c",
                "touch test.go && [ -f test.go ] && echo 'Found'",
            ];
            let mut config = w.container_config("container-with-ReadOnlyRootfs-test-", &cmd);
            security(&mut config).readonly_rootfs = readonly;
            let log = log_file(&pod, &config);
            w.run_to_exit(&pod_id, &pod, config).await?;
            if readonly {
                expect_log(&log, "stderr", "touch: test.go: Read-only file system\n")?;
            } else {
                expect_log(&log, "stdout", "Found\n")?;
            }
            w.remove_pod(&pod_id).await
        })
        .await;
    }
    for privileged in [true, false] {
        let name = format!("runtime should support Privileged is {privileged}");
        w.case(&name, f, async |w| {
            let mut pod = w.pod_config("create-Privileged-PodSandbox-for-container-")?;
            pod.linux
                .get_or_insert_with(Default::default)
                .security_context = Some(cri::LinuxSandboxSecurityContext {
                privileged,
                ..Default::default()
            });
            let pod_id = w.run_pod(&pod).await?;
            let mut config = w.container_config("container-with-isPrivileged-test-", &[]);
            security(&mut config).privileged = privileged;
            let id = w.run(&pod_id, &pod, config).await?;
            check_network_management(w, &id, privileged).await?;
            w.remove_pod(&pod_id).await
        })
        .await;
    }
    w.case("runtime should support adding capability", f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let config = caps_container(w, &["NET_ADMIN"], &[]);
        let id = w.run(&pod_id, &pod, config).await?;
        check_network_management(w, &id, true).await?;
        let config = w.container_config("container-with-notCapability-test-", &[]);
        let id = w.run(&pod_id, &pod, config).await?;
        check_network_management(w, &id, false).await?;
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case("runtime should support dropping capability", f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let config = caps_container(w, &[], &["NET_RAW"]);
        let id = w.run(&pod_id, &pod, config).await?;
        let (out, err) = w.exec_fails(&id, &["ping", "127.0.0.1"]).await?;
        ensure!(
            !out.is_empty() && err.contains("permission denied"),
            "ping without NET_RAW: stdout {out:?}, stderr {err:?}"
        );
        w.remove_pod(&pod_id).await
    })
    .await;
    for (name, add, drop, zero) in [
        (
            "runtime should support adding ALL capabilities",
            &["ALL"][..],
            &[][..],
            false,
        ),
        (
            "runtime should support dropping ALL capabilities",
            &[],
            &["ALL"],
            true,
        ),
    ] {
        let case = async |w: &mut World| {
            let (pod_id, pod) = w.default_pod().await?;
            let config = caps_container(w, add, drop);
            let id = w.run(&pod_id, &pod, config).await?;
            let status = w.exec_ok(&id, &["cat", "/proc/self/status"]).await?;
            let bnd = status
                .lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .context("no CapBnd")?;
            ensure!((bnd.trim() == "0000000000000000") == zero, "CapBnd {bnd:?}");
            w.remove_pod(&pod_id).await
        };
        w.case(name, f, case).await;
    }
    let name = "runtime should support MaskedPaths";
    w.case(name, f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let mut config = w.container_config("container-with-maskedpaths", &[]);
        security(&mut config).masked_paths = vec!["/bin/ls".into()];
        let id = w.run(&pod_id, &pod, config).await?;
        // critest runs `sh -c ls`; Debian's busybox shell runs its own
        // applets in-process (standalone shell), so the masked file itself
        // is executed here: the launcher refuses it (it is /dev/null now).
        let (_, err) = w.exec_fails(&id, &["/bin/ls"]).await?;
        ensure!(err.contains("\"/bin/ls\""), "stderr {err:?}");
        let listing = w.exec_ok(&id, &["/bin/sh", "-c", "ls -l /bin/ls"]).await?;
        ensure!(
            listing.starts_with('c'),
            "/bin/ls is not masked: {listing:?}"
        );
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case("runtime should support ReadonlyPaths", f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let mut config = w.container_config("container-with-readonlypaths", &[]);
        security(&mut config).readonly_paths = vec!["/tmp".into()];
        let id = w.run(&pod_id, &pod, config).await?;
        let (_, err) = w.exec_fails(&id, &["touch", "/tmp/test"]).await?;
        ensure!(
            err == "touch: /tmp/test: Read-only file system\n",
            "stderr {err:?}"
        );
        w.remove_pod(&pod_id).await
    })
    .await;

    w.finish(failures).await;
}

fn options(
    pid: cri::NamespaceMode,
    ipc: cri::NamespaceMode,
    network: cri::NamespaceMode,
) -> cri::NamespaceOption {
    cri::NamespaceOption {
        pid: pid as i32,
        ipc: ipc as i32,
        network: network as i32,
        ..Default::default()
    }
}

/// critest's createNamespacePodSandbox.
async fn ns_pod(
    w: &mut World,
    ns: &cri::NamespaceOption,
) -> anyhow::Result<(String, cri::PodSandboxConfig)> {
    let mut pod = w.pod_config("NamespaceOption-PodSandbox-")?;
    pod.dns_config = Some(Default::default());
    pod.linux
        .get_or_insert_with(Default::default)
        .security_context = Some(cri::LinuxSandboxSecurityContext {
        namespace_options: Some(ns.clone()),
        ..Default::default()
    });
    let id = w.run_pod(&pod).await?;
    Ok((id, pod))
}

fn ns_container(w: &World, ns: &cri::NamespaceOption, cmd: &[&str]) -> cri::ContainerConfig {
    let mut config = w.container_config("namespace-container-", cmd);
    security(&mut config).namespace_options = Some(ns.clone());
    config
}

fn caps_container(w: &World, add: &[&str], drop: &[&str]) -> cri::ContainerConfig {
    let mut config = w.container_config("container-with-capability-test-", &[]);
    security(&mut config).capabilities = Some(cri::Capability {
        add_capabilities: add.iter().map(|s| s.to_string()).collect(),
        drop_capabilities: drop.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    });
    config
}

/// critest's checkNetworkManagement: `brctl addbr` works iff manageable.
async fn check_network_management(w: &mut World, id: &str, manageable: bool) -> anyhow::Result<()> {
    let (code, out, err) = w.exec(id, &["brctl", "addbr", "foobar"], 30).await?;
    ensure!(
        (code == 0) == manageable,
        "brctl addbr exited {code} (manageable: {manageable}): {out:?} {err:?}"
    );
    Ok(())
}

/// A System V shared memory segment on the host (`ipcmk -M`), removed on drop.
struct HostShm(String);

impl HostShm {
    fn new() -> anyhow::Result<HostShm> {
        let out = std::process::Command::new("ipcmk")
            .args(["-M", "1048576"])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let id = text
            .trim()
            .trim_start_matches("Shared memory id: ")
            .to_string();
        ensure!(out.status.success() && !id.is_empty(), "ipcmk: {out:?}");
        Ok(HostShm(id))
    }
}

impl Drop for HostShm {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ipcrm")
            .args(["-m", &self.0])
            .status();
    }
}
