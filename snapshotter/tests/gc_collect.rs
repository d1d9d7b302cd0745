//! Garbage collection and its dry run: what removing unused images would
//! free is listed without deleting anything, a removal reports what it
//! deleted, and `gc` deletes (and reports) only what no image references.
//! Needs root (layer unpack keeps owners).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use cradle_snapshotter::{GcReport, RegistrySettings};

fn root() -> bool {
    if !nix::unistd::geteuid().is_root() {
        cradle_testkit::skip("needs root");
        return false;
    }
    true
}

fn digests(items: &[cradle_snapshotter::Collected]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|c| c.digest.clone()).collect();
    out.sort();
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Blobs in the content store and layer snapshots on disk.
fn on_disk(dir: &Path) -> (usize, usize) {
    (
        count(&dir.join("root/content/blobs/sha256")),
        count(&dir.join("root/snapshots/layers")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_lists_what_removing_an_image_frees_and_gc_deletes_only_orphans() {
    if !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let shared = gzip_layer(&tar_of(&[("etc/shared", b"both images")]));
    let own = gzip_layer(&tar_of(&[("etc/own", vec![7u8; 64 << 10].as_slice())]));
    let kept = TestImage::new(vec![shared.clone()], "amd64", false);
    let dropped = TestImage::new(vec![shared.clone(), own.clone()], "amd64", false);
    write_layout(&tmp.path().join("kept"), &kept, "registry.example/kept:v1");
    write_layout(
        &tmp.path().join("dropped"),
        &dropped,
        "registry.example/dropped:v1",
    );
    let store = open_store(tmp.path(), RegistrySettings::default());
    store.import_path(&tmp.path().join("kept")).await.unwrap();
    let dropped_id = store
        .import_path(&tmp.path().join("dropped"))
        .await
        .unwrap()[0]
        .id
        .clone();
    // An orphan blob, as an interrupted pull leaves one.
    let orphan = b"left by an interrupted pull".to_vec();
    let orphan_digest = sha256(&orphan);
    fs::write(
        tmp.path()
            .join("root/content/blobs/sha256")
            .join(&orphan_digest[7..]),
        &orphan,
    )
    .unwrap();
    let before = on_disk(tmp.path());

    // Nothing removed: only the orphan.
    let plain = store.gc_dry_run(&[]).await.unwrap();
    assert_eq!(digests(&plain.blobs), std::slice::from_ref(&orphan_digest));
    assert!(plain.snapshots.is_empty(), "{plain:?}");

    // As if `dropped` were removed: its own blobs and layer, never the shared one.
    let plan = store
        .gc_dry_run(&["registry.example/dropped:v1".to_string()])
        .await
        .unwrap();
    assert_eq!(
        digests(&plan.blobs),
        sorted(vec![
            orphan_digest.clone(),
            dropped.config_digest.clone(),
            dropped.manifest_digest.clone(),
            sha256(&own.blob),
        ])
    );
    assert_eq!(digests(&plan.snapshots), std::slice::from_ref(&own.diff_id));
    assert!(
        plan.snapshots[0].bytes >= 64 << 10,
        "the layer's bytes are counted: {plan:?}"
    );
    assert!(plan.bytes() > plan.snapshots[0].bytes);
    assert_eq!(on_disk(tmp.path()), before, "a dry run deleted something");
    assert_eq!(store.list().len(), 2);

    // The removal reports what it deleted: the plan without the orphan.
    let removed = store.remove_collecting(&dropped_id).await.unwrap();
    let mut expected = plan.clone();
    expected.blobs.retain(|c| c.digest != orphan_digest);
    assert_eq!(digests(&removed.blobs), digests(&expected.blobs));
    assert_eq!(digests(&removed.snapshots), digests(&expected.snapshots));
    assert_eq!(removed.bytes(), expected.bytes());
    // Removing it again is no error and frees nothing.
    assert_eq!(
        store.remove_collecting(&dropped_id).await.unwrap(),
        GcReport::default()
    );

    // gc deletes the orphan and nothing `kept` uses.
    let collected = store.gc().await.unwrap();
    assert_eq!(digests(&collected.blobs), [orphan_digest]);
    assert!(collected.snapshots.is_empty());
    assert_eq!(store.gc().await.unwrap(), GcReport::default());
    let target = tmp.path().join("rootfs");
    fs::create_dir(&target).unwrap();
    store
        .mount_rootfs("ctr-kept", "registry.example/kept:v1", &target)
        .unwrap();
    assert_eq!(
        fs::read_to_string(target.join("etc/shared")).unwrap(),
        "both images"
    );
    // An image under a mounted rootfs names its user.
    let kept_id = store.resolve("registry.example/kept:v1").unwrap().id;
    assert_eq!(
        store.image_user(&kept_id).unwrap().as_deref(),
        Some("ctr-kept")
    );
    store.remove_rootfs("ctr-kept", &target).unwrap();
    assert_eq!(store.image_user(&kept_id).unwrap(), None);
}
