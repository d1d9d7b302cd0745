//! Image volumes and CDI devices, end to end over the CRI socket.
//!
//! Image volumes (CRI `Mount.image`): a second image (the test image under
//! another config) mounted at `/vol` of a container shows the image's files
//! and refuses writes (EROFS); the image cannot be removed while the volume
//! shows it; the mount survives a daemon restart and goes with the
//! container; an absent volume image is NotFound and leaves nothing.
//!
//! CDI: a spec file the test writes in its own CDI directory (the daemon's
//! `cdi_spec_dirs`) exposes /dev/null as `/dev/cradle-test0` with an env
//! var, a mount, an additional group and a createRuntime hook; containers
//! asking through `CDI_devices` or a
//! `cdi.k8s.io/*` annotation see them all; an unknown device is
//! InvalidArgument naming it. Each test has its own daemon, registry and
//! cgroup parent, and ends with the leak check.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use cradle_tests::image_variant::push_variant;
use cradle_tests::steps::{
    container_config, container_status, create_and_start, exec, leak_scope, pod_config, pull,
    remove_image, remove_pod_and_check_leaks, run_pod, stop_and_remove_container,
    stop_and_remove_pod, try_create,
};
use cradle_tests::{World, leaks, skip_unless_ready};

fn image_mount(dest: &str, image: &str) -> cri::Mount {
    cri::Mount {
        container_path: dest.into(),
        readonly: true,
        image: Some(cri::ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_volume_is_read_only_keeps_its_image_and_goes_with_the_container() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = image_volume(&mut w).await;
    w.finish_with_log(result).await;
}

async fn image_volume(w: &mut World) -> anyhow::Result<()> {
    let variant = push_variant(&w.registry, "volume:latest", |config| {
        config.insert("Env".into(), serde_json::json!(["VARIANT=volume"]));
    })?;
    let image = w.registry.image_ref();
    let cri = &mut w.cri;
    pull(cri, &image).await?;
    let variant_id = pull(cri, &variant).await?;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;

    // An absent image (after a good volume was mounted): NotFound naming
    // it, the good one taken apart again (the leak check at the end sees
    // any mount under the daemon's dirs), the name reusable.
    let mut config = container_config(&image, "reader", &["sleep", "3600"]);
    config.mounts = vec![
        image_mount("/good", &variant_id),
        image_mount("/vol", "127.0.0.1:1/absent:latest"),
    ];
    let status = try_create(cri, &pod_id, &pod, config.clone())
        .await
        .err()
        .context("a volume of an absent image was accepted")?;
    ensure!(
        status.code() == tonic::Code::NotFound && status.message().contains("absent"),
        "absent volume image: {status:?}"
    );

    // The kubelet names the volume image by the ref PullImage returned.
    config.mounts = vec![image_mount("/vol", &variant_id)];
    let id = create_and_start(cri, &pod_id, &pod, config).await?;
    let check =
        "test -x /vol/bin/busybox && head -1 /vol/etc/passwd && grep ' /vol ' /proc/self/mounts";
    let (code, out) = exec(cri, &id, &["sh", "-c", check]).await?;
    ensure!(code == 0, "reading the volume: {out}");
    ensure!(out.starts_with("root:x:0:0:"), "volume content: {out}");
    let mount_line = out.lines().find(|l| l.contains(" /vol ")).unwrap_or("");
    ensure!(
        mount_line
            .split(' ')
            .nth(3)
            .is_some_and(|o| o.split(',').any(|x| x == "ro")),
        "the volume is not mounted read-only: {out}"
    );
    let (code, out) = exec(cri, &id, &["sh", "-c", "echo x > /vol/new"]).await?;
    ensure!(
        code != 0 && out.contains("Read-only file system"),
        "writing to the volume: exit {code}: {out}"
    );
    let status = container_status(cri, &id).await?;
    ensure!(
        status.mounts.iter().any(|m| m.container_path == "/vol"
            && m.image.as_ref().is_some_and(|i| i.image == variant_id)),
        "ContainerStatus.mounts: {:?}",
        status.mounts
    );

    // The image stays while the volume shows it, across a restart too.
    let refused = remove_image(cri, &variant_id)
        .await
        .err()
        .context("an image under a volume was removed")?;
    ensure!(
        refused.code() == tonic::Code::FailedPrecondition,
        "RemoveImage of a volume's image: {refused:?}"
    );
    w.daemon.restart()?;
    w.cri = w.daemon.connect().await?;
    let cri = &mut w.cri;
    let refused = remove_image(cri, &variant).await;
    ensure!(
        refused
            .as_ref()
            .is_err_and(|s| s.code() == tonic::Code::FailedPrecondition),
        "RemoveImage after a restart: {refused:?}"
    );
    let (code, out) = exec(cri, &id, &["cat", "/vol/etc/group"]).await?;
    ensure!(
        code == 0 && out.starts_with("root:x:0:"),
        "after restart: {out}"
    );

    stop_and_remove_container(cri, &id).await?;
    remove_image(cri, &variant_id)
        .await
        .context("RemoveImage once no volume shows it")?;
    stop_and_remove_pod(cri, &pod_id).await?;
    leaks::assert_none(&leak_scope(&w.daemon, &[&id, &pod_id]));
    Ok(())
}

/// A CDI spec exposing /dev/null as /dev/cradle-test0, with an env var, a
/// read-only mount of `share`, an additional group and a createRuntime hook
/// appending the container's state to `hook_log`.
fn cdi_spec(share: &std::path::Path, hook_log: &std::path::Path) -> String {
    let append = format!(
        "cat >> {}; echo >> {}",
        hook_log.display(),
        hook_log.display()
    );
    serde_json::json!({
        "cdiVersion": "0.7.0",
        "kind": "cradle.test/dev",
        "devices": [{
            "name": "null0",
            "containerEdits": {
                "env": ["CRADLE_CDI=null0"],
                "deviceNodes": [{"path": "/dev/cradle-test0", "hostPath": "/dev/null"}],
                "mounts": [{
                    "hostPath": share.display().to_string(),
                    "containerPath": "/cdi-share",
                    "options": ["rbind", "ro"]
                }],
                "hooks": [{
                    "hookName": "createRuntime",
                    "path": "/bin/sh",
                    "args": ["sh", "-c", append]
                }],
                "additionalGids": [4242]
            }
        }]
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdi_device_brings_its_node_env_and_mount() {
    skip_unless_ready!(true);
    let cdi_dir = tempfile::Builder::new()
        .prefix("cradle-cdi-")
        .tempdir()
        .expect("cdi dir");
    let share = cdi_dir.path().join("share");
    std::fs::create_dir(&share).expect("share dir");
    std::fs::write(share.join("hello"), "from the host\n").expect("share file");
    // A malformed file beside it is skipped, not fatal.
    std::fs::write(cdi_dir.path().join("broken.yaml"), "cdiVersion: [").expect("broken");
    let hook_log = cdi_dir.path().join("hook.log");
    std::fs::write(
        cdi_dir.path().join("test.json"),
        cdi_spec(&share, &hook_log),
    )
    .expect("spec");
    let config = format!(
        "cdi_spec_dirs = [{:?}]\n",
        cdi_dir.path().display().to_string()
    );
    let mut w = World::start_with_config(&config).await;
    let result = cdi(&mut w, &hook_log).await;
    w.finish_with_log(result).await;
}

async fn cdi(w: &mut World, hook_log: &std::path::Path) -> anyhow::Result<()> {
    let image = w.registry.image_ref();
    let cri = &mut w.cri;
    pull(cri, &image).await?;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;

    let mut unknown = container_config(&image, "unknown", &["sleep", "3600"]);
    unknown.cdi_devices = vec![cri::CdiDevice {
        name: "cradle.test/dev=nope".into(),
    }];
    let status = try_create(cri, &pod_id, &pod, unknown)
        .await
        .err()
        .context("an unknown CDI device was accepted")?;
    ensure!(
        status.code() == tonic::Code::InvalidArgument
            && status.message().contains("cradle.test/dev=nope"),
        "unknown CDI device: {status:?}"
    );

    let mut by_field = container_config(&image, "by-field", &["sleep", "3600"]);
    by_field.cdi_devices = vec![cri::CdiDevice {
        name: "cradle.test/dev=null0".into(),
    }];
    let mut by_annotation = container_config(&image, "by-annotation", &["sleep", "3600"]);
    by_annotation
        .annotations
        .insert("cdi.k8s.io/test".into(), "cradle.test/dev=null0".into());
    let mut ids = Vec::new();
    for config in [by_field, by_annotation] {
        let id = create_and_start(cri, &pod_id, &pod, config).await?;
        ids.push(id.clone());
        let script = "test -c /dev/cradle-test0 && echo x > /dev/cradle-test0 && \
                      echo \"env=$CRADLE_CDI\" && cat /cdi-share/hello && \
                      ! touch /cdi-share/new 2>/dev/null";
        let (code, out) = exec(cri, &id, &["sh", "-c", script]).await?;
        if code != 0 {
            bail!("inside the CDI container: exit {code}: {out}");
        }
        ensure!(
            out.contains("env=null0") && out.contains("from the host"),
            "CDI edits not seen: {out}"
        );
        let (_, stat) = exec(cri, &id, &["stat", "-c", "%t:%T", "/dev/cradle-test0"]).await?;
        ensure!(stat.trim() == "1:3", "device numbers: {stat}");
        let (_, groups) = exec(cri, &id, &["grep", "^Groups:", "/proc/self/status"]).await?;
        ensure!(
            groups.split_whitespace().any(|g| g == "4242"),
            "additional gid: {groups}"
        );
        let log = std::fs::read_to_string(hook_log).unwrap_or_default();
        ensure!(
            log.contains(&id),
            "the createRuntime hook did not run for {id}: {log:?}"
        );
    }
    remove_pod_and_check_leaks(cri, &w.daemon, &pod_id, &ids).await
}
