//! critest's Linux container groups: "Container Mount Propagation", "Container
//! OOM", "Container Mount Readonly", "Image Volume" and "Multiple Containers", re-expressed
//! over our CRI socket (critest's httpd image becomes busybox httpd). One
//! daemon for the area, a pod per case, every case run and reported.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

#[path = "../src/conformance.rs"]
mod conformance;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::ensure;
use conformance::{World, eventually, http_get_eventually, pod_ip};
use cradle_proto::cri;
use cradle_tests::skip_unless_ready;
use cri::MountPropagation::{
    PropagationBidirectional as Bidirectional, PropagationHostToContainer as HostToContainer,
    PropagationPrivate as Private,
};
use nix::mount::{MntFlags, MsFlags, mount, umount2};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critest_mount_propagation_oom_readonly_mounts_and_multiple_containers() {
    skip_unless_ready!(true);
    let mut w = World::new().await;
    let mut failures = Vec::new();
    let f = &mut failures;

    // ---- Container Mount Propagation ----
    for (name, propagation) in [
        (
            "mount with 'rprivate' should not support propagation",
            Private,
        ),
        (
            "mount with 'rshared': host to container and back",
            Bidirectional,
        ),
        (
            "mount with 'rslave': from host to container",
            HostToContainer,
        ),
    ] {
        w.case(name, f, async |w| {
            let dirs = PropagationDirs::new(propagation != Private)?;
            let result = propagation_case(w, &dirs, propagation).await;
            drop(dirs);
            result
        })
        .await;
    }

    // ---- Container OOM ----
    w.case(
        "should terminate with exitCode 137 and reason OOMKilled",
        f,
        async |w| {
            let (pod_id, pod) = privileged_pod(w).await?;
            let mut config = w.container_config(
                "OOM-test-",
                &["sh", "-c", "dd if=/dev/zero of=/dev/null bs=20M"],
            );
            config.linux = Some(cri::LinuxContainerConfig {
                resources: Some(cri::LinuxContainerResources {
                    memory_limit_in_bytes: 15 << 20,
                    memory_swap_limit_in_bytes: 15 << 20,
                    ..Default::default()
                }),
                ..Default::default()
            });
            let status = w.run_to_exit(&pod_id, &pod, config).await?;
            ensure!(
                status.reason == "OOMKilled" && status.exit_code == 137,
                "reason {:?}, exit code {}",
                status.reason,
                status.exit_code
            );
            w.remove_pod(&pod_id).await
        },
    )
    .await;

    // ---- Container Mount Readonly ----
    let rro = supports_rro(&mut w).await;
    for recursive in [false, true] {
        let name = if recursive {
            "should support recursive readonly mounts"
        } else {
            "should support non-recursive readonly mounts"
        };
        w.case(name, f, async |w| {
            ensure!(
                !recursive || rro,
                "Status says the default handler has no rro"
            );
            let (pod_id, pod) = privileged_pod(w).await?;
            let host = TmpfsDir::new()?;
            let mut config = w.container_config("test-mount-", &[]);
            config.mounts = vec![cri::Mount {
                host_path: host.path(),
                container_path: "/mnt".into(),
                readonly: true,
                recursive_read_only: recursive,
                selinux_relabel: true,
                ..Default::default()
            }];
            let id = w.run(&pod_id, &pod, config).await?;
            ensure!(w.status(&id).await?.mounts.len() == 1, "status mounts");
            if recursive {
                let check = r#"touch /mnt/tmpfs/foo 2>&1 | grep -q "Read-only file system""#;
                w.exec_ok(&id, &["sh", "-c", check]).await?;
            } else {
                w.exec_ok(&id, &["touch", "/mnt/tmpfs/file"]).await?;
            }
            w.remove_pod(&pod_id).await
        })
        .await;
    }
    for (name, readonly, propagation) in [
        (
            "should reject a recursive readonly mount with PROPAGATION_HOST_TO_CONTAINER",
            true,
            HostToContainer,
        ),
        (
            "should reject a recursive readonly mount with PROPAGATION_BIDIRECTIONAL",
            true,
            Bidirectional,
        ),
        (
            "should reject a recursive readonly mount with ReadOnly: false",
            false,
            Private,
        ),
    ] {
        w.case(name, f, async |w| {
            let (pod_id, pod) = privileged_pod(w).await?;
            let host = TmpfsDir::new()?;
            let mut config = w.container_config("test-mount-", &[]);
            config.mounts = vec![cri::Mount {
                host_path: host.path(),
                container_path: "/mnt".into(),
                readonly,
                recursive_read_only: true,
                selinux_relabel: true,
                propagation: propagation as i32,
                ..Default::default()
            }];
            let created = w.try_create(&pod_id, &pod, config).await;
            ensure!(created.is_err(), "invalid rro mount accepted: {created:?}");
            w.remove_pod(&pod_id).await
        })
        .await;
    }

    // ---- Image Volume [Feature:ImageVolume] ----
    w.case(
        "should return image digest in ContainerStatus mounts",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let image = w.image.clone();
            let image_ref = w.pull(&image).await?;
            let mut config = w.container_config("image-volume-digest-test-", &[]);
            config.mounts = vec![image_volume(&image_ref, &image, true)];
            let id = w.create(&pod_id, &pod, config).await?;
            let status = w.status(&id).await?;
            let mount = status
                .mounts
                .iter()
                .find(|m| m.container_path == "/mnt/image-volume");
            let reported = mount.and_then(|m| m.image.as_ref()).map(|i| &i.image_ref);
            ensure!(
                reported == Some(&image_ref),
                "image_ref {reported:?}, pulled {image_ref}: {:?}",
                status.mounts
            );
            w.remove_pod(&pod_id).await
        },
    )
    .await;
    w.case(
        "image volume: mounted, read-only, not noexec",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let image = w.image.clone();
            let image_ref = w.pull(&image).await?;
            let mut config = w.container_config("image-volume-mount-test-", &[]);
            config.mounts = vec![image_volume(&image_ref, &image, true)];
            let id = w.run(&pod_id, &pod, config).await?;
            w.exec_ok(&id, &["ls", "-A", "/mnt/image-volume/bin/sh"])
                .await?;
            w.exec_fails(&id, &["touch", "/mnt/image-volume/test-write"])
                .await?;
            w.exec_ok(&id, &["/mnt/image-volume/bin/ls", "/mnt/image-volume"])
                .await?;
            w.remove_pod(&pod_id).await
        },
    )
    .await;
    w.case(
        "should reject Image Volume with Readonly set to false",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let image = w.image.clone();
            let image_ref = w.pull(&image).await?;
            let mut config = w.container_config("image-volume-readonly-test-", &[]);
            config.mounts = vec![image_volume(&image_ref, &image, false)];
            let created = w.try_create(&pod_id, &pod, config).await;
            ensure!(created.is_err(), "a writable image volume was accepted");
            w.remove_pod(&pod_id).await
        },
    )
    .await;

    // subPath
    w.case("should succeed when using a valid subPath", f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let image = w.image.clone();
        let image_ref = w.pull(&image).await?;
        let mut config = w.container_config("image-volume-subpath-test-", &[]);
        let mut mount = image_volume(&image_ref, &image, true);
        mount.image_sub_path = "etc".into();
        config.mounts = vec![mount];
        let id = w.run(&pod_id, &pod, config).await?;
        w.exec_ok(&id, &["ls", "/mnt/image-volume"]).await?;
        w.exec_fails(&id, &["ls", "/mnt/image-volume/etc/passwd"])
            .await?;
        w.exec_ok(&id, &["ls", "/mnt/image-volume/passwd"]).await?;
        w.remove_pod(&pod_id).await
    })
    .await;
    w.case(
        "should fail when subPath does not exist in the image",
        f,
        async |w| {
            let (pod_id, pod) = w.default_pod().await?;
            let image = w.image.clone();
            let image_ref = w.pull(&image).await?;
            let mut config = w.container_config("image-volume-subpath-fail-test-", &[]);
            let mut mount = image_volume(&image_ref, &image, true);
            mount.image_sub_path = "not-existing".into();
            config.mounts = vec![mount];
            let created = w.try_create(&pod_id, &pod, config).await;
            // critest takes Unimplemented, or Unknown "failed to mkdir", as
            // no support at all: a real refusal is neither.
            ensure!(
                created
                    .as_ref()
                    .is_err_and(|s| s.code() == tonic::Code::InvalidArgument),
                "a missing subPath: {created:?}"
            );
            w.remove_pod(&pod_id).await
        },
    )
    .await;

    // ---- Multiple Containers ----
    w.case("multiple containers: network, log and exec", f, async |w| {
        let mut pod = w.pod_config("PodSandbox-for-multi-container-test-")?;
        pod.port_mappings = vec![cri::PortMapping {
            container_port: 80,
            ..Default::default()
        }];
        let pod_id = w.run_pod(&pod).await?;
        let httpd_cmd = ["sh", "-c", "echo httpd starting; mkdir -p /www && echo it works > /www/index.html && exec httpd -f -p 80 -h /www"];
        let httpd = w.container_config("httpd", &httpd_cmd);
        let httpd = w.run(&pod_id, &pod, httpd).await?;
        let busybox = w.container_config("busybox", &["sh", "-c", "echo hello World; sleep 1000"]);
        let busybox = w.run(&pod_id, &pod, busybox).await?;
        // should support network
        let ip = pod_ip(w, &pod_id).await?;
        let page = http_get_eventually(&format!("{ip}:80")).await?;
        ensure!(page.starts_with("HTTP/1.") && page.contains(" 200 "), "{page:?}");
        // should support container log
        for (id, text) in [(&httpd, "httpd"), (&busybox, "hello World")] {
            let path = PathBuf::from(w.status(id).await?.log_path);
            eventually(Duration::from_secs(30), async || {
                let content = std::fs::read_to_string(&path).unwrap_or_default();
                ensure!(content.contains(text), "{} lacks {text:?}", path.display());
                Ok(())
            })
            .await?;
        }
        // should support container exec
        ensure!(w.exec_ok(&httpd, &["echo", "httpd"]).await? == "httpd\n");
        ensure!(w.exec_ok(&busybox, &["echo", "busybox"]).await? == "busybox\n");
        w.remove_pod(&pod_id).await
    })
    .await;

    w.finish(failures).await;
}

/// critest's image volume at /mnt/image-volume.
fn image_volume(image_ref: &str, image: &str, readonly: bool) -> cri::Mount {
    cri::Mount {
        container_path: "/mnt/image-volume".into(),
        readonly,
        image: Some(cri::ImageSpec {
            image: image_ref.into(),
            user_specified_image: image.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A privileged pod, as critest's createPrivilegedPodSandbox.
async fn privileged_pod(w: &mut World) -> anyhow::Result<(String, cri::PodSandboxConfig)> {
    let mut pod = w.pod_config("create-Privileged-PodSandbox-for-container-")?;
    pod.linux
        .get_or_insert_with(Default::default)
        .security_context = Some(cri::LinuxSandboxSecurityContext {
        privileged: true,
        ..Default::default()
    });
    let id = w.run_pod(&pod).await?;
    Ok((id, pod))
}

async fn propagation_case(
    w: &mut World,
    dirs: &PropagationDirs,
    propagation: cri::MountPropagation,
) -> anyhow::Result<()> {
    let (pod_id, pod) = privileged_pod(w).await?;
    let source = dirs.mnt_source.display().to_string();
    let mut config = w.container_config("mount-propagation-test-", &[]);
    config.linux = Some(cri::LinuxContainerConfig {
        security_context: Some(cri::LinuxContainerSecurityContext {
            privileged: true,
            ..Default::default()
        }),
        ..Default::default()
    });
    config.mounts = vec![cri::Mount {
        host_path: source.clone(),
        container_path: source.clone(),
        propagation: propagation as i32,
        ..Default::default()
    }];
    let id = w.create(&pod_id, &pod, config).await?;
    let mounts = w.status(&id).await?.mounts;
    ensure!(mounts.len() == 1, "status mounts {mounts:?}");
    let m = &mounts[0];
    ensure!(
        m.container_path == source
            && m.host_path == source
            && !m.readonly
            && !m.selinux_relabel
            && m.propagation == propagation as i32,
        "status mount {m:?}"
    );
    w.start(&id).await?;
    w.wait_state(&id, cri::ContainerState::ContainerRunning)
        .await?;
    // A mount made on the host after the start.
    mount(
        Some(&dirs.src_dir),
        &dirs.mnt_point,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )?;
    let point = dirs.mnt_point.display().to_string();
    let seen = w.exec_ok(&id, &["ls", "-A", &point]).await?;
    match propagation {
        Private => ensure!(seen.is_empty(), "host mount reached an rprivate volume"),
        _ => ensure!(!seen.is_empty(), "host mount did not reach the container"),
    }
    // A mount made in the container.
    let inner = dirs.mnt_source.join("containerMntPoint");
    let inner_s = inner.display().to_string();
    w.exec_ok(&id, &["sh", "-c", &format!("mkdir -p {inner_s}")])
        .await?;
    w.exec_ok(&id, &["sh", "-c", &format!("mount --bind /etc {inner_s}")])
        .await?;
    let on_host = std::fs::read_dir(&inner)?.count();
    let _ = umount2(&inner, MntFlags::MNT_DETACH);
    w.remove_pod(&pod_id).await?;
    match propagation {
        Bidirectional => ensure!(on_host > 0, "container mount did not reach the host"),
        _ => ensure!(on_host == 0, "container mount reached the host"),
    }
    Ok(())
}

/// critest's host dirs for the propagation test: `<tmp>/mnt` bind-mounted
/// on itself (rshared or rprivate), `<tmp>/mnt/propagationMnt` where the
/// host later mounts `<tmp>/propagationSrcDir`. Unmounted on drop.
struct PropagationDirs {
    tmp: tempfile::TempDir,
    mnt_source: PathBuf,
    mnt_point: PathBuf,
    src_dir: PathBuf,
}

impl PropagationDirs {
    fn new(shared: bool) -> anyhow::Result<Self> {
        let tmp = tempfile::Builder::new().prefix("test").tempdir()?;
        let mnt_source = tmp.path().join("mnt");
        let mnt_point = mnt_source.join("propagationMnt");
        let src_dir = tmp.path().join("propagationSrcDir");
        std::fs::create_dir_all(&mnt_point)?;
        std::fs::create_dir_all(&src_dir)?;
        std::fs::write(src_dir.join("flagFile"), "")?;
        let dirs = PropagationDirs {
            tmp,
            mnt_source,
            mnt_point,
            src_dir,
        };
        let none = None::<&str>;
        let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
        mount(Some(&dirs.mnt_source), &dirs.mnt_source, none, bind, none)?;
        let kind = if shared {
            MsFlags::MS_SHARED
        } else {
            MsFlags::MS_PRIVATE
        };
        mount(none, &dirs.mnt_source, none, kind | MsFlags::MS_REC, none)?;
        Ok(dirs)
    }
}

impl Drop for PropagationDirs {
    fn drop(&mut self) {
        let _ = umount2(&self.mnt_point, MntFlags::MNT_DETACH);
        let _ = umount2(&self.mnt_source, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir_all(self.tmp.path());
    }
}

/// A temp dir holding `tmpfs/` with a tmpfs mounted on it (critest's
/// createHostPathForRROMount); unmounted and removed on drop.
struct TmpfsDir(tempfile::TempDir);

impl TmpfsDir {
    fn new() -> anyhow::Result<Self> {
        let dir = TmpfsDir(tempfile::Builder::new().prefix("test").tempdir()?);
        let point = dir.0.path().join("tmpfs");
        std::fs::create_dir(&point)?;
        mount(
            Some("none"),
            &point,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )?;
        Ok(dir)
    }

    fn path(&self) -> String {
        self.0.path().display().to_string()
    }
}

impl Drop for TmpfsDir {
    fn drop(&mut self) {
        let _ = umount2(&self.0.path().join("tmpfs"), MntFlags::MNT_DETACH);
    }
}

/// Whether Status advertises recursive read-only mounts for the default handler.
async fn supports_rro(w: &mut World) -> bool {
    let Ok(status) = w
        .cri
        .runtime
        .status(cri::StatusRequest { verbose: false })
        .await
    else {
        return false;
    };
    status.into_inner().runtime_handlers.iter().any(|h| {
        h.name.is_empty()
            && h.features
                .as_ref()
                .is_some_and(|f| f.recursive_read_only_mounts)
    })
}
