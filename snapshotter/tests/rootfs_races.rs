//! Races between image removal, garbage collection, pulls and rootfs
//! mounts, run many times against a real registry on 127.0.0.1: a mount
//! racing a removal either gets an intact rootfs (every layer visible, and
//! the removal is refused as in use) or fails with NotFound, never a rootfs
//! with missing layers; GC racing a pull never deletes what the pull writes.
//! Also: a mounted container's writable-layer usage, cached and summed.
//! Needs root and docker-registry.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use cradle_snapshotter::{Error, ImageStore, RegistrySettings};

const ROUNDS: usize = 25;

/// Detaches a mount on drop, so a failing test leaves nothing mounted.
struct Unmount(PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Three layers, each with its own file `layer<i>` holding `i`.
fn three_layer_image(tag: u8) -> TestImage {
    let layers = (0..3u8)
        .map(|i| {
            let content = format!("{i}-{tag}");
            gzip_layer(&tar_of(&[(&format!("layer{i}"), content.as_bytes())]))
        })
        .collect();
    TestImage::new(layers, "amd64", false)
}

/// Every layer's file is visible through the mount at `target`.
fn assert_intact(target: &Path, tag: u8) {
    for i in 0..3 {
        let got = fs::read_to_string(target.join(format!("layer{i}")))
            .unwrap_or_else(|e| panic!("layer {i} missing from the rootfs: {e}"));
        assert_eq!(got, format!("{i}-{tag}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_racing_removal_gets_an_intact_rootfs_or_not_found() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let img = three_layer_image(1);
    push(&registry.host(), "race", "v1", &img, false, false).await;
    let reference = format!("{}/race:v1", registry.host());
    let store = Arc::new(open_store(tmp.path(), RegistrySettings::default()));
    let target = tmp.path().join("rootfs");
    fs::create_dir(&target).unwrap();
    let _unmount = Unmount(target.clone());
    let (mut mounted, mut refused) = (0, 0);

    for round in 0..ROUNDS {
        let image = store.pull(&reference, None).await.unwrap();
        let id = image.id.clone();
        let (s, t, i) = (store.clone(), target.clone(), id.clone());
        let mount = tokio::task::spawn_blocking(move || s.mount_rootfs("ctr-race", &i, &t));
        // Lets either side go first, differently each round.
        if round % 2 == 0 {
            tokio::task::yield_now().await;
        }
        let removal = store.remove(&id).await;
        match mount.await.unwrap() {
            Ok(()) => {
                mounted += 1;
                assert_intact(&target, 1);
                assert!(
                    matches!(removal, Err(Error::ImageInUse { .. })),
                    "round {round}: removal {removal:?} while mounted"
                );
                store.remove_rootfs("ctr-race", &target).unwrap();
                store.remove(&id).await.unwrap();
            }
            Err(Error::NotFound(_)) => {
                refused += 1;
                removal.unwrap();
            }
            Err(e) => panic!("round {round}: mount failed otherwise: {e}"),
        }
        assert!(store.list().is_empty());
        assert_eq!(count(&store.snapshots_dir().join("layers")), 0);
        assert_eq!(count(&store.snapshots_dir().join("containers")), 0);
    }
    eprintln!("{mounted} mounted first, {refused} refused as removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_racing_pulls_never_deletes_what_they_write() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let img = three_layer_image(2);
    push(&registry.host(), "race", "v2", &img, false, false).await;
    let reference = format!("{}/race:v2", registry.host());
    let store = Arc::new(open_store(tmp.path(), RegistrySettings::default()));
    let target = tmp.path().join("rootfs");
    fs::create_dir(&target).unwrap();
    let _unmount = Unmount(target.clone());

    for round in 0..ROUNDS {
        let (s, r) = (store.clone(), reference.clone());
        let pull = tokio::spawn(async move { s.pull(&r, None).await });
        if round % 2 == 0 {
            tokio::task::yield_now().await;
        }
        store.gc().await.unwrap();
        let image = pull.await.unwrap().unwrap();
        // Once more after the pull committed: nothing it owns is garbage.
        store.gc().await.unwrap();
        store.mount_rootfs("ctr-gc", &image.id, &target).unwrap();
        assert_intact(&target, 2);
        store.remove_rootfs("ctr-gc", &target).unwrap();
        store.remove(&image.id).await.unwrap();
        assert_eq!(count(&tmp.path().join("root/content/blobs/sha256")), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writable_usage_counts_what_a_container_writes_and_sums_over_containers() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let img = three_layer_image(3);
    push(&registry.host(), "usage", "v1", &img, false, false).await;
    let store: ImageStore = open_store(tmp.path(), RegistrySettings::default());
    let image = store
        .pull(&format!("{}/usage:v1", registry.host()), None)
        .await
        .unwrap();
    let targets: Vec<PathBuf> = (0..2).map(|i| tmp.path().join(format!("r{i}"))).collect();
    let _guards: Vec<Unmount> = targets.iter().map(|t| Unmount(t.clone())).collect();
    for (i, t) in targets.iter().enumerate() {
        fs::create_dir(t).unwrap();
        store
            .mount_rootfs(&format!("ctr-{i}"), &image.id, t)
            .unwrap();
    }
    let fresh = store.writable_usage("ctr-0").unwrap();
    assert_eq!(fresh.inodes, 1, "{fresh:?}");
    fs::create_dir(targets[1].join("data")).unwrap();
    fs::write(targets[1].join("data/big"), vec![7u8; 1 << 20]).unwrap();
    let written = store.writable_usage("ctr-1").unwrap();
    assert!(written.bytes >= 1 << 20, "{written:?}");
    assert_eq!(written.inodes, 3, "{written:?}");
    // Image layers are not counted as writable.
    assert!(written.bytes < 2 << 20, "{written:?}");
    let total = store.writable_fs_usage().unwrap();
    assert_eq!(total.used_bytes, fresh.bytes + written.bytes);
    assert_eq!(total.inodes_used, 4);

    for (i, t) in targets.iter().enumerate() {
        store.remove_rootfs(&format!("ctr-{i}"), t).unwrap();
    }
    assert!(matches!(
        store.writable_usage("ctr-0"),
        Err(Error::NoWritableLayer(_))
    ));
    assert_eq!(store.writable_fs_usage().unwrap().used_bytes, 0);
}
