//! Image volume sub paths (CRI `Mount.image_sub_path`) and the image
//! volume's image in ContainerStatus, end to end over the CRI socket.
//!
//! A second image (the busybox test image under another config) mounted
//! at `/img` with sub path `bin` shows the image's `/bin` there, read-only;
//! ContainerStatus reports the mount with `image.image_ref` = the id
//! PullImage returned. A sub path that is missing, a file, or climbs out
//! with `..` is InvalidArgument naming the field, and leaves no container,
//! mount or directory behind (the name is free again). RemoveImage of the
//! volume's image is FailedPrecondition naming the container and the
//! volume, after a daemon restart too, and succeeds once the container is
//! removed. Ends with the leak check.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::image_variant::push_variant;
use cradle_tests::steps::{
    container_config, container_status, create_and_start, exec, leak_scope, list_containers,
    pod_config, pull, remove_image, run_pod, stop_and_remove_container, stop_and_remove_pod,
    try_create,
};
use cradle_tests::{Cri, World, leaks, skip_unless_ready};
use std::path::Path;

async fn container_count(cri: &mut Cri) -> anyhow::Result<usize> {
    Ok(list_containers(cri).await?.len())
}

/// The kubelet's image volume mount: `host_path` empty, read-only.
fn image_mount(dest: &str, image: &str, sub_path: &str) -> cri::Mount {
    cri::Mount {
        container_path: dest.into(),
        readonly: true,
        image: Some(cri::ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        image_sub_path: sub_path.into(),
        ..Default::default()
    }
}

/// RemoveImage of `image` is refused, naming container `id` and its volume.
async fn refused_for_the_volume(cri: &mut Cri, image: &str, id: &str) -> anyhow::Result<()> {
    let refused = remove_image(cri, image)
        .await
        .err()
        .context("an image under a volume was removed")?;
    ensure!(
        refused.code() == tonic::Code::FailedPrecondition
            && refused.message().contains(id)
            && refused.message().contains("/img"),
        "RemoveImage: {refused:?}"
    );
    Ok(())
}

/// Entries of `dir` (none when it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_volume_sub_path_mounts_a_directory_of_the_image_and_refuses_the_rest() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = sub_path(&mut w).await;
    w.finish_with_log(result).await;
}

async fn sub_path(w: &mut World) -> anyhow::Result<()> {
    let variant = push_variant(&w.registry, "subpath:latest", |config| {
        config.insert("Env".into(), serde_json::json!(["VARIANT=subpath"]));
    })?;
    let image = w.registry.image_ref();
    let root = w.daemon.root();
    let cri = &mut w.cri;
    pull(cri, &image).await?;
    let variant_id = pull(cri, &variant).await?;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;

    // Refused, each before a container exists; nothing left behind.
    for (sub, says) in [
        ("not-existing", "does not exist"),
        ("bin/busybox", "not a directory"),
        ("../etc", "without \"..\""),
    ] {
        let mut config = container_config(&image, "reader", &["sleep", "3600"]);
        config.mounts = vec![image_mount("/img", &variant_id, sub)];
        let status = try_create(cri, &pod_id, &pod, config)
            .await
            .err()
            .with_context(|| format!("sub path {sub:?} was accepted"))?;
        ensure!(
            status.code() == tonic::Code::InvalidArgument
                && status.message().contains("image_sub_path")
                && status.message().contains(says),
            "sub path {sub:?}: {status:?}"
        );
        ensure!(
            container_count(cri).await? == 0,
            "sub path {sub:?} left a container"
        );
        let volumes = entries(&root.join("snapshots/volumes"));
        let containers = entries(&root.join("containers"));
        ensure!(
            volumes.is_empty() && containers.is_empty(),
            "sub path {sub:?} left volumes {volumes:?}, containers {containers:?}"
        );
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        ensure!(
            !mountinfo.contains(&*root.join("snapshots/volumes").to_string_lossy()),
            "sub path {sub:?} left a volume mounted"
        );
    }

    // The image's /bin at /img, under the name the refusals left free.
    let mut config = container_config(&image, "reader", &["sleep", "3600"]);
    config.mounts = vec![image_mount("/img", &variant_id, "bin")];
    let id = create_and_start(cri, &pod_id, &pod, config).await?;
    let (code, out) = exec(cri, &id, &["ls", "/img"]).await?;
    ensure!(
        code == 0 && out.lines().any(|l| l == "busybox"),
        "ls /img: exit {code}: {out}"
    );
    let (code, out) = exec(
        cri,
        &id,
        &["sh", "-c", "test -e /img/etc || test -e /img/bin"],
    )
    .await?;
    ensure!(code != 0, "the whole image is mounted, not its bin: {out}");
    let (code, out) = exec(cri, &id, &["/img/busybox", "true"]).await?;
    ensure!(code == 0, "running a binary of the sub path: {out}");
    let (code, out) = exec(cri, &id, &["touch", "/img/new"]).await?;
    ensure!(
        code != 0 && out.contains("Read-only file system"),
        "writing to the sub path: exit {code}: {out}"
    );
    let status = container_status(cri, &id).await?;
    let mount = status
        .mounts
        .iter()
        .find(|m| m.container_path == "/img")
        .with_context(|| format!("ContainerStatus.mounts: {:?}", status.mounts))?;
    let spec = mount.image.as_ref().context("the mount's image")?;
    ensure!(
        spec.image == variant_id && spec.image_ref == variant_id && mount.image_sub_path == "bin",
        "ContainerStatus mount: {mount:?}"
    );

    // The volume's image stays while the container is there, restart or not.
    refused_for_the_volume(cri, &variant, &id).await?;
    w.daemon.restart()?;
    w.cri = w.daemon.connect().await?;
    refused_for_the_volume(&mut w.cri, &variant, &id)
        .await
        .context("after a restart")?;
    let cri = &mut w.cri;
    let status = container_status(cri, &id).await?;
    ensure!(
        status
            .mounts
            .iter()
            .any(|m| m.image.as_ref().is_some_and(|i| i.image_ref == variant_id)),
        "image_ref after a restart: {:?}",
        status.mounts
    );

    stop_and_remove_container(cri, &id).await?;
    remove_image(cri, &variant_id)
        .await
        .context("RemoveImage once the container is gone")?;
    stop_and_remove_pod(cri, &pod_id).await?;
    leaks::assert_none(&leak_scope(&w.daemon, &[&id, &pod_id]));
    Ok(())
}
