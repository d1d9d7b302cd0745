//! critest's "Container" group (basic operations, stats, volumes, logs) and
//! "Image Identifier Consistency", re-expressed over our CRI socket: one
//! daemon for the area, a pod per case as critest does, every case run and
//! reported (PASS/FAIL on stderr) before the test fails.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

#[path = "../src/conformance.rs"]
mod conformance;

use std::time::Duration;

use anyhow::{Context, ensure};
use conformance::{World, eventually, expect_log, log_file, parse_log};
use cradle_proto::cri;
use cradle_tests::skip_unless_ready;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critest_container_basic_stats_volumes_logs_and_image_ids() {
    skip_unless_ready!(true);
    let mut w = World::new().await;
    let mut failures = Vec::new();
    let f = &mut failures;

    // ---- basic operations ----
    w.case("runtime should support creating container", f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let config = w.container_config("container-for-create-", &[]);
        let id = w.create(&pod_id, &pod, config).await?;
        ensure!(listed(w, &id).await?, "created container not listed");
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case("runtime should support starting container", f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let config = w.container_config("container-for-start-test-", &[]);
        w.run(&pod_id, &pod, config).await?;
        w.remove_pod(&pod_id).await
    })
    .await;
    let stopping = async |w: &mut World| {
        let (pod_id, pod) = w.default_pod().await?;
        let config = w.container_config("container-for-stop-test-", &[]);
        let id = w.run(&pod_id, &pod, config).await?;
        w.stop_container(&id).await?;
        w.remove_pod(&pod_id).await
    };
    let name = "runtime should support stopping container";
    w.case(name, f, stopping).await;
    for (name, start, stop_first) in [
        (
            "runtime should support removing created container",
            false,
            false,
        ),
        (
            "runtime should support removing running container",
            true,
            false,
        ),
        (
            "runtime should support removing stopped container",
            true,
            true,
        ),
    ] {
        let removing = async |w: &mut World| {
            let (pod_id, pod) = w.default_pod().await?;
            let config = w.container_config("container-for-remove-", &[]);
            let id = w.create(&pod_id, &pod, config).await?;
            if start {
                w.start(&id).await?;
            }
            if stop_first {
                w.stop_container(&id).await?;
            }
            remove(w, &id).await?;
            ensure!(!listed(w, &id).await?, "removed container still listed");
            w.remove_pod(&pod_id).await
        };
        w.case(name, f, removing).await;
    }
    w.case("runtime should support execSync", f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let config = w.container_config("container-for-execSync-test-", &[]);
        let id = w.run(&pod_id, &pod, config).await?;
        let out = w.exec_ok(&id, &["echo", "-n", "hello"]).await?;
        ensure!(out == "hello", "stdout {out:?}");
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case(
        "runtime should support execSync with timeout",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let config = w.container_config("container-for-execSync-timeout-test-", &[]);
            let id = w.run(&pod_id, &pod, config).await?;
            let timed_out = w
                .cri
                .runtime
                .exec_sync(cri::ExecSyncRequest {
                    container_id: id.clone(),
                    cmd: vec!["sleep".into(), "4321".into()],
                    timeout: 1,
                })
                .await;
            ensure!(
                timed_out.is_err(),
                "ExecSync past its timeout: {timed_out:?}"
            );
            // critest runs `pgrep sleep`; our busybox has no pgrep applet.
            let check = "ps -o args | grep '[s]leep 4321' || true";
            let out = w.exec_ok(&id, &["sh", "-c", check]).await?;
            ensure!(out.trim().is_empty(), "timed-out sleep still runs: {out:?}");
            w.remove_pod(&pod_id).await
        },
    )
    .await;

    // ---- stats ----
    w.case(
        "runtime should support listing container stats",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let config = w.container_config("container-for-stats-", &[]);
            let id = w.create(&pod_id, &pod, config).await?;
            w.start(&id).await?;
            let stats = w
                .cri
                .runtime
                .container_stats(cri::ContainerStatsRequest {
                    container_id: id.clone(),
                })
                .await?
                .into_inner()
                .stats
                .context("no stats")?;
            let attrs = stats.attributes.as_ref().context("no attributes")?;
            ensure!(attrs.id == id, "attributes {attrs:?}");
            let name = &attrs.metadata.as_ref().context("no metadata")?.name;
            ensure!(name.starts_with("container-for-stats-"), "name {name:?}");
            ensure!(stats.cpu.as_ref().is_some_and(|c| c.timestamp != 0), "cpu");
            ensure!(
                stats.memory.as_ref().is_some_and(|m| m.timestamp != 0),
                "memory"
            );
            w.remove_pod(&pod_id).await
        },
    )
    .await;
    w.case(
        "runtime should support listing stats for started containers",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let config = w.container_config("container-for-stats-", &[]);
            let id = w.create(&pod_id, &pod, config).await?;
            w.start(&id).await?;
            let filter = cri::ContainerStatsFilter {
                id: id.clone(),
                ..Default::default()
            };
            ensure!(stat_found(&list_stats(w, Some(filter)).await?, &id));
            w.remove_pod(&pod_id).await
        },
    )
    .await;
    w.case(
        "listing stats for started containers, nil filter",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let config = w.container_config("container-for-stats-with-nil-filter-", &[]);
            let id = w.create(&pod_id, &pod, config).await?;
            w.start(&id).await?;
            ensure!(stat_found(&list_stats(w, None).await?, &id));
            w.remove_pod(&pod_id).await
        },
    )
    .await;
    w.case(
        "listing stats for three created containers, nil filter",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let mut ids = Vec::new();
            for _ in 0..3 {
                let config = w.container_config("container-for-stats-with-nil-filter-", &[]);
                ids.push(w.create(&pod_id, &pod, config).await?);
            }
            for id in &ids {
                w.start(id).await?;
            }
            let stats = list_stats(w, None).await?;
            for id in &ids {
                ensure!(stat_found(&stats, id), "no stats for {id}");
            }
            w.remove_pod(&pod_id).await
        },
    )
    .await;
    w.case(
        "listing stats for containers filtered by labels",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let mut config = w.container_config("container-for-stats-with-labels-", &[]);
            config.labels = [("foo".to_string(), "bar".to_string())].into();
            let id = w.create(&pod_id, &pod, config.clone()).await?;
            w.start(&id).await?;
            let by = |v: &str| cri::ContainerStatsFilter {
                label_selector: [("foo".to_string(), v.to_string())].into(),
                ..Default::default()
            };
            ensure!(stat_found(&list_stats(w, Some(by("bar"))).await?, &id));
            ensure!(!stat_found(&list_stats(w, Some(by("baz"))).await?, &id));
            w.remove_pod(&pod_id).await
        },
    )
    .await;

    // ---- volumes ----
    for symlink in [false, true] {
        let name = if symlink {
            "starting container with volume when host path is a symlink"
        } else {
            "runtime should support starting container with volume"
        };
        w.case(name, f, async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let host = tempfile::Builder::new().prefix("test").tempdir()?;
            std::fs::write(host.path().join("testVolume.file"), "")?;
            let link = host.path().with_extension("symlink");
            let path = if symlink {
                std::os::unix::fs::symlink(host.path(), &link)?;
                link.display().to_string()
            } else {
                host.path().display().to_string()
            };
            let mut config = w.container_config("container-with-volume-test-", &[]);
            config.mounts = vec![cri::Mount {
                host_path: path.clone(),
                container_path: path.clone(),
                selinux_relabel: true,
                ..Default::default()
            }];
            let result = async {
                let id = w.run(&pod_id, &pod, config).await?;
                let out = w.exec_ok(&id, &["ls", "-A", &path]).await?;
                ensure!(!out.is_empty(), "volume {path} is empty in the container");
                w.remove_pod(&pod_id).await
            }
            .await;
            let _ = std::fs::remove_file(&link);
            result
        })
        .await;
    }

    // ---- logs ----
    w.case(
        "runtime should support starting container with log",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let config = w.container_config("container-with-log-test-", &["echo", "hello World"]);
            let log = log_file(&pod, &config);
            w.run_to_exit(&pod_id, &pod, config).await?;
            expect_log(&log, "stdout", "hello World\n")?;
            w.remove_pod(&pod_id).await
        },
    )
    .await;
    w.case(
        "runtime should support reopening container log",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let script = "while true; do echo hello World; sleep 1; done";
            let config = w.container_config("container-reopen-log-test-", &["sh", "-c", script]);
            let log = log_file(&pod, &config);
            let id = w.create(&pod_id, &pod, config).await?;
            w.start(&id).await?;
            eventually(Duration::from_secs(30), async || {
                ensure!(!parse_log(&log)?.is_empty(), "no log yet");
                Ok(())
            })
            .await?;
            let renamed = log.with_extension("log.new");
            std::fs::rename(&log, &renamed)?;
            w.cri
                .runtime
                .reopen_container_log(cri::ReopenContainerLogRequest {
                    container_id: id.clone(),
                })
                .await
                .context("ReopenContainerLog")?;
            ensure!(log.exists(), "no new log file after ReopenContainerLog");
            eventually(Duration::from_secs(30), async || {
                ensure!(!parse_log(&log)?.is_empty(), "nothing in the new log");
                Ok(())
            })
            .await?;
            let old = parse_log(&renamed)?.len();
            tokio::time::sleep(Duration::from_secs(3)).await;
            ensure!(parse_log(&renamed)?.len() == old, "the old log still grows");
            w.remove_pod(&pod_id).await
        },
    )
    .await;

    // ---- Image Identifier Consistency ----
    w.case("same image identifier across all APIs", f, async |w| {
        let image = w.image.clone();
        let image_ref = w.pull(&image).await?;
        let status = w.image_status(&image).await?.context("image absent")?;
        ensure!(
            status.id == image_ref,
            "Image.id {} vs {image_ref}",
            status.id
        );
        let (pod_id, pod) = w.default_pod().await?;
        let mut config = w.container_config("id-consistency-", &[]);
        config.command.clear(); // the image's own entrypoint
        config.image = Some(cri::ImageSpec {
            image: image_ref.clone(),
            user_specified_image: image.clone(),
            ..Default::default()
        });
        let id = w.create(&pod_id, &pod, config).await?;
        w.start(&id).await?;
        let status = w.status(&id).await?;
        ensure!(
            status.image_id == image_ref,
            "ContainerStatus.image_id {:?}",
            status.image_id
        );
        let filter = cri::ContainerFilter {
            id: id.clone(),
            ..Default::default()
        };
        let listed = w.list_containers(filter).await?;
        ensure!(listed.len() == 1, "listed {listed:?}");
        ensure!(
            listed[0].image_id == image_ref,
            "Container.image_id {:?}",
            listed[0].image_id
        );
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case(
        "same image identifier from different registries",
        f,
        async |w| {
            let other = cradle_tests::Registry::start()?;
            let (first, second) = (w.image.clone(), other.image_ref());
            let ref1 = w.pull(&first).await?;
            let ref2 = w.pull(&second).await?;
            ensure!(ref1 == ref2, "image refs differ: {ref1} {ref2}");
            for name in [&first, &second] {
                let id = w.image_status(name).await?.context("absent")?.id;
                ensure!(id == ref1, "ImageStatus({name}).id = {id}");
            }
            let (pod_id, pod) = w.default_pod().await?;
            let mut config = w.container_config("id-consistency-multi-registry-", &[]);
            config.command.clear();
            config.image = Some(cri::ImageSpec {
                image: ref2.clone(),
                user_specified_image: second.clone(),
                ..Default::default()
            });
            let id = w.create(&pod_id, &pod, config).await?;
            w.start(&id).await?;
            let status = w.status(&id).await?;
            ensure!(
                status.image_id == ref1,
                "ContainerStatus.image_id {:?}",
                status.image_id
            );
            w.remove_pod(&pod_id).await
        },
    )
    .await;

    w.finish(failures).await;
}

async fn listed(w: &mut World, id: &str) -> anyhow::Result<bool> {
    let filter = cri::ContainerFilter {
        id: id.into(),
        ..Default::default()
    };
    Ok(w.list_containers(filter).await?.iter().any(|c| c.id == id))
}

async fn remove(w: &mut World, id: &str) -> anyhow::Result<()> {
    w.cri
        .runtime
        .remove_container(cri::RemoveContainerRequest {
            container_id: id.into(),
        })
        .await
        .context("RemoveContainer")?;
    Ok(())
}

async fn list_stats(
    w: &mut World,
    filter: Option<cri::ContainerStatsFilter>,
) -> anyhow::Result<Vec<cri::ContainerStats>> {
    Ok(w.cri
        .runtime
        .list_container_stats(cri::ListContainerStatsRequest { filter })
        .await
        .context("ListContainerStats")?
        .into_inner()
        .stats)
}

fn stat_found(stats: &[cri::ContainerStats], id: &str) -> bool {
    stats
        .iter()
        .any(|s| s.attributes.as_ref().is_some_and(|a| a.id == id))
}
