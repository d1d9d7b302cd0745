//! critest's "Security Context" group (Linux), re-expressed over our CRI
//! socket: namespace options, users and groups, read-only rootfs,
//! privileged, capabilities, masked and read-only paths, seccomp profiles,
//! and what a node without user-namespace support answers. critest's nginx
//! image becomes busybox `sleep` with a unique argument, `ipcs` (missing
//! from our busybox) becomes /proc/sysvipc/shm. One daemon for the area, a
//! pod per case, every case run and reported.

#[path = "../src/conformance.rs"]
mod conformance;

use anyhow::{Context, ensure};
use conformance::{World, expect_log, layers, log_file};
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
        if zero {
            w.case(name, f, case).await;
        } else {
            w.case_with_gap(name, GAP_CAPS_WARNING, case).await;
        }
    }
    let name = "runtime should support MaskedPaths";
    w.case_with_gap(name, GAP_SYMLINKED_APPLETS, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let mut config = w.container_config("container-with-maskedpaths", &[]);
        security(&mut config).masked_paths = vec!["/bin/ls".into()];
        let id = w.run(&pod_id, &pod, config).await?;
        let (_, err) = w.exec_fails(&id, &["/bin/sh", "-c", "ls"]).await?;
        ensure!(err == "/bin/sh: ls: Permission denied\n", "stderr {err:?}");
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

    // ---- SupplementalGroupsPolicy (critest skips it unless Status has it) ----
    let policy = w
        .cri
        .runtime
        .status(cri::StatusRequest { verbose: false })
        .await
        .ok()
        .and_then(|s| s.into_inner().features)
        .is_some_and(|f| f.supplemental_groups_policy);
    for strict in [false, true] {
        let name = if strict {
            "SupplementalGroupsPolicy=Strict: image groups are not added"
        } else {
            "SupplementalGroupsPolicy=Merge: image groups are added"
        };
        w.case(name, f, async |w| {
            ensure!(
                policy,
                "Status does not advertise supplemental_groups_policy"
            );
            supplemental_groups_policy_case(w, strict).await
        })
        .await;
    }

    // ---- NoNewPrivs ----
    for (name, nnp, euid) in [
        (
            "should not allow privilege escalation when true",
            true,
            1000,
        ),
        ("should allow privilege escalation when false", false, 0),
    ] {
        w.case(name, f, async |w| {
            let program = layers::effective_uid_program().context("gcc -static failed")?;
            let layout = layers::layered_layout(
                &[layers::LayerFile {
                    path: "/usr/local/bin/euid",
                    mode: 0o4755,
                    contents: &program,
                }],
                |c| {
                    c.insert("Cmd".into(), serde_json::json!(["/usr/local/bin/euid"]));
                },
            )?;
            let image = w.registry.push_layout(layout.path(), "nonewprivs:1.3")?;
            w.pull(&image).await?;
            let (pod_id, pod) = w.default_pod().await?;
            let mut config = w.container_config("alpine-nnp-", &[]);
            config.command.clear();
            config.image = Some(cri::ImageSpec {
                image: image.clone(),
                ..Default::default()
            });
            let sc = security(&mut config);
            sc.no_new_privs = nnp;
            sc.run_as_user = Some(cri::Int64Value { value: 1000 });
            let log = log_file(&pod, &config);
            w.run_to_exit(&pod_id, &pod, config).await?;
            expect_log(&log, "stdout", &format!("Effective uid: {euid}\n"))?;
            w.remove_pod(&pod_id).await
        })
        .await;
    }

    // ---- SeccompProfilePath ----
    let profiles = tempfile::Builder::new()
        .prefix("seccomp-tests")
        .tempdir()
        .expect("dir");
    let block_hostname = profiles.path().join("block-host-name.json");
    let block_chmod = profiles.path().join("block-chmod.json");
    let profile = |names: &str| {
        format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{{"names": [{names}], "action": "SCMP_ACT_ERRNO"}}]}}"#
        )
    };
    std::fs::write(&block_hostname, profile(r#""sethostname""#)).expect("profile");
    std::fs::write(&block_chmod, profile(r#""chmod", "fchmodat""#)).expect("profile");
    let localhost = |path: &std::path::Path| cri::SecurityProfile {
        profile_type: cri::security_profile::ProfileType::Localhost as i32,
        localhost_ref: path.display().to_string(),
    };
    let unconfined = cri::SecurityProfile {
        profile_type: cri::security_profile::ProfileType::Unconfined as i32,
        ..Default::default()
    };
    for (name, profile, mode) in [
        (
            "should support seccomp unconfined on the container",
            Some(unconfined.clone()),
            "0",
        ),
        (
            "should support seccomp default on the container",
            Some(Default::default()),
            "2",
        ),
        ("should support nil profile, which is unconfined", None, "0"),
    ] {
        w.case(name, f, async |w| {
            let (pod_id, id) = seccomp_container(w, profile).await?;
            let out = w
                .exec_ok(&id, &["grep", "Seccomp:", "/proc/self/status"])
                .await?;
            ensure!(out.contains(mode), "Seccomp status {out:?}, want {mode}");
            w.remove_pod(&pod_id).await
        })
        .await;
    }
    w.case(
        "should support seccomp localhost profile on the container",
        f,
        async |w| {
            let (pod_id, id) = seccomp_container(w, Some(localhost(&block_chmod))).await?;
            let (_, err) = w.exec_fails(&id, &["chmod", "400", "/"]).await?;
            ensure!(err.contains("Operation not permitted"), "stderr {err:?}");
            w.remove_pod(&pod_id).await
        },
    )
    .await;
    for (name, profile, privileged, settable) in [
        (
            "should not block setting host name with unconfined seccomp and SYS_ADMIN",
            unconfined.clone(),
            false,
            true,
        ),
        (
            "should support an seccomp profile that blocks setting hostname with SYS_ADMIN",
            localhost(&block_hostname),
            false,
            false,
        ),
        (
            "should ignore a seccomp profile that blocks setting hostname when privileged",
            localhost(&block_hostname),
            true,
            true,
        ),
    ] {
        w.case(name, f, async |w| {
            let mut pod = w.pod_config("seccomp-hostname-")?;
            if privileged {
                pod.linux
                    .get_or_insert_with(Default::default)
                    .security_context = Some(cri::LinuxSandboxSecurityContext {
                    privileged: true,
                    ..Default::default()
                });
            }
            let pod_id = w.run_pod(&pod).await?;
            let mut config = w.container_config(
                "container-with-block-hostname-seccomp-profile-test-",
                &["sleep", "60"],
            );
            let sc = security(&mut config);
            sc.privileged = privileged;
            if !privileged {
                sc.capabilities = Some(cri::Capability {
                    add_capabilities: vec!["SYS_ADMIN".into()],
                    ..Default::default()
                });
            }
            sc.seccomp = Some(profile);
            let id = w.run(&pod_id, &pod, config).await?;
            let (code, out, err) = w.exec(&id, &["hostname", "ANewHostName"], 30).await?;
            ensure!(
                (code == 0) == settable,
                "hostname exited {code}: {out:?} {err:?}"
            );
            w.remove_pod(&pod_id).await
        })
        .await;
    }

    // ---- UserNamespaces: critest skips them unless Status advertises them ----
    w.case(
        "user namespaces: Status and RunPodSandbox agree",
        f,
        async |w| {
            let status = w
                .cri
                .runtime
                .status(cri::StatusRequest { verbose: false })
                .await?
                .into_inner();
            let handler = status
                .runtime_handlers
                .iter()
                .find(|h| h.name.is_empty())
                .context("no default handler")?;
            let supported = handler.features.as_ref().is_some_and(|f| f.user_namespaces);
            let mut pod = w.pod_config("user-namespaces-pod-")?;
            let mapping = vec![cri::IdMapping {
                host_id: 1000,
                container_id: 0,
                length: 100_000,
            }];
            pod.linux
                .get_or_insert_with(Default::default)
                .security_context = Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    userns_options: Some(cri::UserNamespace {
                        mode: Pod as i32,
                        uids: mapping.clone(),
                        gids: mapping,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            });
            let result = w
                .cri
                .runtime
                .run_pod_sandbox(cri::RunPodSandboxRequest {
                    config: Some(pod),
                    runtime_handler: String::new(),
                })
                .await;
            match result {
                Ok(id) if supported => w.remove_pod(&id.into_inner().pod_sandbox_id).await,
                Ok(id) => {
                    w.remove_pod(&id.get_ref().pod_sandbox_id).await?;
                    anyhow::bail!(
                        "a user-namespace pod ran although Status says user_namespaces=false"
                    )
                }
                Err(s) if !supported => {
                    ensure!(
                        s.message().to_lowercase().contains("user"),
                        "unclear refusal: {}",
                        s.message()
                    );
                    Ok(())
                }
                Err(s) => anyhow::bail!("Status advertises user namespaces but: {s}"),
            }
        },
    )
    .await;

    w.finish(failures).await;
}

/// Why `cat /proc/self/status` with ALL capabilities has a non-empty stderr
/// here: root on this node lacks CAP_SYS_RESOURCE, and the launcher's
/// warning about it lands on the exec'd process's stderr.
const GAP_CAPS_WARNING: &str = "oci-shim/src/oci/process.rs (capability setup): the \
     'capabilities the runtime does not hold are not granted' warning is written to \
     the exec'd process's stderr; it belongs in the runtime's log";

/// Why masking /bin/ls masks the shell: our test image's applets are
/// symlinks to /bin/busybox (critest's busybox has hard links), and a
/// mask, like runc's, is a bind mount that follows the symlink.
const GAP_SYMLINKED_APPLETS: &str = "hack/build-test-image.sh links applets with `ln -sf`; \
     critest's busybox image uses hard links, so a masked /bin/ls masks busybox itself";

/// critest's SupplementalGroupsPolicy cases: an image whose /etc/group puts
/// uid 1000 in group 50000; RunAsUser 1000 and SupplementalGroups [1234].
async fn supplemental_groups_policy_case(w: &mut World, strict: bool) -> anyhow::Result<()> {
    let passwd = b"root:x:0:0:root:/root:/bin/sh\ndefault-user:x:1000:1000::/home:/bin/sh\n";
    let group = b"root:x:0:\ndefault-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n";
    let layout = layers::layered_layout(
        &[
            layers::LayerFile {
                path: "/etc/passwd",
                mode: 0o644,
                contents: passwd,
            },
            layers::LayerFile {
                path: "/etc/group",
                mode: 0o644,
                contents: group,
            },
        ],
        |c| {
            c.insert("User".into(), serde_json::json!("1000"));
        },
    )?;
    let image = w
        .registry
        .push_layout(layout.path(), "test-image-predefined-group:latest")?;
    w.pull(&image).await?;
    let (pod_id, pod) = w.default_pod().await?;
    let cmd = ["sh", "-c", "id -G; sleep 3600"];
    let mut config = w.container_config("container-with-SupplementalGroupsPolicy-", &cmd);
    config.image = Some(cri::ImageSpec {
        image: image.clone(),
        ..Default::default()
    });
    let sc = security(&mut config);
    sc.run_as_user = Some(cri::Int64Value { value: 1000 });
    sc.supplemental_groups = vec![1234];
    if strict {
        sc.supplemental_groups_policy = cri::SupplementalGroupsPolicy::Strict as i32;
    }
    let log = log_file(&pod, &config);
    let id = w.run(&pod_id, &pod, config).await?;
    let mut want = vec![1000, 1234];
    if !strict {
        want.push(50000);
    }
    let user = w
        .status(&id)
        .await?
        .user
        .and_then(|u| u.linux)
        .context("no ContainerStatus.user")?;
    let mut groups = user.supplemental_groups.clone();
    groups.sort();
    ensure!(
        user.uid == 1000 && user.gid == 1000 && groups == want,
        "ContainerStatus.user {user:?}"
    );
    let line = want
        .iter()
        .map(|g| g.to_string())
        .collect::<Vec<_>>()
        .join(" ")
        + "\n";
    conformance::eventually(std::time::Duration::from_secs(10), async || {
        expect_log(&log, "stdout", &line)
    })
    .await?;
    let out = w.exec_ok(&id, &["id", "-G"]).await?;
    ensure!(out == line, "exec id -G: {out:?}, want {line:?}");
    w.remove_pod(&pod_id).await
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

fn security(config: &mut cri::ContainerConfig) -> &mut cri::LinuxContainerSecurityContext {
    config
        .linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
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

/// critest's seccompTestContainer: the profile on pod and container.
async fn seccomp_container(
    w: &mut World,
    profile: Option<cri::SecurityProfile>,
) -> anyhow::Result<(String, String)> {
    let mut pod = w.pod_config("seccomp-sandbox-")?;
    pod.linux
        .get_or_insert_with(Default::default)
        .security_context = Some(cri::LinuxSandboxSecurityContext {
        seccomp: profile.clone(),
        ..Default::default()
    });
    let pod_id = w.run_pod(&pod).await?;
    let mut config = w.container_config("seccomp-container-", &[]);
    security(&mut config).seccomp = profile;
    let id = w.run(&pod_id, &pod, config).await?;
    Ok((pod_id, id))
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
