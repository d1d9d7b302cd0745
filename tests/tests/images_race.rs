//! RemoveImage racing CreateContainer over the CRI socket, many rounds on
//! one image: the create either succeeds with an intact rootfs (the
//! container runs busybox from it, and the removal is refused as in use) or
//! fails with NotFound (the removal won); never a container whose rootfs
//! lacks layers. Meanwhile ImageFsInfo reports the writable layers in
//! `container_filesystems`. Root only; skipped with a message elsewhere.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, pod_config, pull, run_pod, stop_and_remove_container, stop_and_remove_pod,
    wait_for_state,
};
use cradle_tests::{CgroupParent, Cri, Daemon, Registry, World, skip_unless_ready};

const ROUNDS: usize = 10;
/// How long the removal waits after the create was sent, per round.
const STAGGER_MS: [u64; 10] = [0, 1, 2, 4, 6, 8, 12, 16, 30, 60];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_image_racing_create_container_never_leaves_a_broken_rootfs() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = race(&mut w.cri, &w.daemon, &w.registry, &w.cgroup).await;
    w.finish_with_log(result).await;
}

async fn remove_image(mut cri: Cri, image: String) -> Result<(), tonic::Status> {
    cri.image
        .remove_image(cri::RemoveImageRequest {
            image: Some(cri::ImageSpec {
                image,
                ..Default::default()
            }),
        })
        .await
        .map(|_| ())
}

async fn create(
    mut cri: Cri,
    pod_id: String,
    pod: cri::PodSandboxConfig,
    config: cri::ContainerConfig,
) -> Result<String, tonic::Status> {
    cri.runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod_id,
            config: Some(config),
            sandbox_config: Some(pod),
        })
        .await
        .map(|r| r.into_inner().container_id)
}

async fn container_fs_used(cri: &mut Cri) -> anyhow::Result<u64> {
    let info = cri
        .image
        .image_fs_info(cri::ImageFsInfoRequest {})
        .await
        .context("ImageFsInfo")?
        .into_inner();
    let fs = info
        .container_filesystems
        .first()
        .context("ImageFsInfo without container_filesystems")?;
    ensure!(
        fs.fs_id.as_ref().map(|f| f.mountpoint.as_str())
            == info
                .image_filesystems
                .first()
                .and_then(|i| i.fs_id.as_ref())
                .map(|f| f.mountpoint.as_str()),
        "writable layers reported on another filesystem: {info:?}"
    );
    Ok(fs.used_bytes.as_ref().map(|u| u.value).unwrap_or(0))
}

async fn race(
    cri: &mut Cri,
    daemon: &Daemon,
    registry: &Registry,
    cgroup: &CgroupParent,
) -> anyhow::Result<()> {
    let image = registry.image_ref();
    let pod = pod_config(daemon, cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;
    let (mut created, mut removed) = (0, 0);
    for round in 0..ROUNDS {
        pull(cri, &image).await?;
        let name = format!("race-{round}");
        // Writes 256 KiB into its writable layer, then checks the image's
        // files are all there.
        let config = container_config(
            &image,
            &name,
            &[
                "sh",
                "-c",
                "dd if=/dev/zero of=/written bs=64k count=4 2>/dev/null && test -x /bin/busybox && ls /bin/sh /etc >/dev/null",
            ],
        );
        let creating = tokio::spawn(create(cri.clone(), pod_id.clone(), pod.clone(), config));
        // Staggered starts: early rounds let the removal win, later ones the
        // create, the ones between land in each other's critical sections.
        tokio::time::sleep(Duration::from_millis(STAGGER_MS[round % STAGGER_MS.len()])).await;
        let removal = remove_image(cri.clone(), image.clone()).await;
        match creating.await? {
            Ok(id) => {
                created += 1;
                match &removal {
                    Err(s) if s.code() == tonic::Code::FailedPrecondition => {}
                    other => {
                        bail!("round {round}: container created but RemoveImage gave {other:?}")
                    }
                }
                cri.runtime
                    .start_container(cri::StartContainerRequest {
                        container_id: id.clone(),
                    })
                    .await
                    .with_context(|| format!("round {round}: StartContainer"))?;
                let status = wait_for_state(
                    cri,
                    &id,
                    cri::ContainerState::ContainerExited,
                    Duration::from_secs(30),
                )
                .await?;
                ensure!(
                    status.exit_code == 0,
                    "round {round}: rootfs incomplete, exit {} ({})",
                    status.exit_code,
                    status.message
                );
                let used = container_fs_used(cri).await?;
                ensure!(used >= 256 << 10, "round {round}: container fs used {used}");
                stop_and_remove_container(cri, &id).await?;
            }
            Err(s) if s.code() == tonic::Code::NotFound => {
                removed += 1;
                removal.with_context(|| {
                    format!("round {round}: create NotFound but RemoveImage failed")
                })?;
            }
            Err(s) => bail!("round {round}: CreateContainer failed otherwise: {s:?}"),
        }
    }
    eprintln!("{created} creates won, {removed} removals won");
    stop_and_remove_pod(cri, &pod_id).await?;
    Ok(())
}
