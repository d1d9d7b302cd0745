//! Image volumes through the store: images pulled from a real registry on
//! 127.0.0.1 mounted read-only for a container (every layer visible, writes
//! refused with EROFS), the images kept from removal while mounted, taken
//! apart by `remove_rootfs` (also after the store is opened again, as by a
//! restarted daemon), and an absent image reported as NotFound.
//! Needs root and docker-registry.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use cradle_snapshotter::{Error, RegistrySettings};

fn is_mounted(target: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let t = target.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(&*t))
}

/// Detaches the volumes on drop, so a failing test leaves nothing mounted.
struct Unmount(Vec<std::path::PathBuf>);
impl Drop for Unmount {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_volumes_are_read_only_keep_their_images_and_go_with_the_container() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let layered = TestImage::new(
        (0..3u8)
            .map(|i| gzip_layer(&tar_of(&[(&format!("layer{i}"), &[b'0' + i])])))
            .collect(),
        "amd64",
        false,
    );
    let single = TestImage::new(
        vec![gzip_layer(&tar_of(&[("only", b"one")]))],
        "amd64",
        false,
    );
    push(&registry.host(), "vol", "layered", &layered, false, false).await;
    push(&registry.host(), "vol", "single", &single, false, false).await;
    let store = open_store(tmp.path(), RegistrySettings::default());
    let layered = store
        .pull(&format!("{}/vol:layered", registry.host()), None)
        .await
        .unwrap();
    let single = store
        .pull(&format!("{}/vol:single", registry.host()), None)
        .await
        .unwrap();
    let base = store.snapshots_dir().join("volumes/ctr-vol");
    let _unmount = Unmount(vec![base.join("0/fs"), base.join("1/fs")]);

    let a = store
        .mount_image_volume("ctr-vol", "0", &layered.id)
        .unwrap();
    // By reference as well as by id.
    let b = store
        .mount_image_volume("ctr-vol", "1", &format!("{}/vol:single", registry.host()))
        .unwrap();
    for i in 0..3u8 {
        assert_eq!(fs::read(a.join(format!("layer{i}"))).unwrap(), [b'0' + i]);
    }
    assert_eq!(fs::read_to_string(b.join("only")).unwrap(), "one");
    for v in [&a, &b] {
        let err = fs::write(v.join("new"), "x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(nix::libc::EROFS), "{err}");
    }
    for image in [&layered, &single] {
        let removal = store.remove(&image.id).await;
        assert!(
            matches!(&removal, Err(Error::ImageInUse { container, .. }) if container == "ctr-vol"),
            "{removal:?}"
        );
    }
    // A restarted daemon opens the store again: the volumes are found from
    // the disk, and still keep their images.
    drop(store);
    let store = open_store(tmp.path(), RegistrySettings::default());
    assert!(matches!(
        store.remove(&single.id).await,
        Err(Error::ImageInUse { .. })
    ));
    assert_eq!(
        store.rootfs_containers().unwrap(),
        vec!["ctr-vol".to_string()]
    );
    assert!(matches!(
        store.mount_image_volume("ctr-vol", "2", "sha256:0123456789abcdef0123"),
        Err(Error::NotFound(_))
    ));

    // The container had no rootfs mounted at this target: volumes still go.
    store
        .remove_rootfs("ctr-vol", &tmp.path().join("no-rootfs"))
        .unwrap();
    assert!(!is_mounted(&a) && !is_mounted(&b));
    assert!(!base.exists());
    assert!(store.rootfs_containers().unwrap().is_empty());
    store.remove(&layered.id).await.unwrap();
    store.remove(&single.id).await.unwrap();
    assert_eq!(count(&store.snapshots_dir().join("layers")), 0);
}
