//! critest's "Security Context" group (Linux), second half, re-expressed
//! over our CRI socket: SupplementalGroupsPolicy Merge and Strict (an image
//! layer with its own /etc/group), NoNewPrivs (a setuid program printing its
//! effective uid, critest's nonewprivs image), seccomp profiles
//! (Unconfined, RuntimeDefault, Localhost, privileged ignoring them) and
//! what a node without user-namespace support answers. One daemon for the
//! area, a pod per case, every case run and reported.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

#[path = "../src/conformance.rs"]
mod conformance;

use anyhow::{Context, ensure};
use conformance::{World, expect_log, layers, log_file, security};
use cradle_proto::cri;
use cradle_tests::skip_unless_ready;

use cri::NamespaceMode::Pod;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critest_security_context_profiles() {
    skip_unless_ready!(true);
    let mut w = World::new().await;
    let mut failures = Vec::new();
    let f = &mut failures;

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
