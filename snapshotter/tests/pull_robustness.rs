//! Pull robustness through a fault-injecting proxy in front of a real
//! registry on 127.0.0.1: concurrent pulls share one download; a stalled
//! download is cancelled after the stall timeout; a connection cut mid-layer
//! fails cleanly; both leave no visible blob or half-unpacked layer, only the
//! blob's partial file in the ingest dir, and the next pull resumes it with a
//! range request (or starts over when the registry ignores or refuses the
//! range, or the partial is corrupt); a full disk fails with ENOSPC and leaves nothing.
//! Needs root and docker-registry.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use cradle_snapshotter::{Error, HostConfig, RegistrySettings};

/// A layer of incompressible bytes (so its blob is as big as its content).
fn big_image(bytes: usize) -> TestImage {
    let mut data = vec![0u8; bytes];
    let mut x: u32 = 0x1234_5678;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    TestImage::new(
        vec![gzip_layer(&tar_of(&[("blob", &data)]))],
        "amd64",
        false,
    )
}

/// Settings that reach `proxy_host` over plain HTTP (it has its own entry).
fn settings(proxy_host: &str, stall_secs: u64) -> RegistrySettings {
    let mut s = RegistrySettings {
        stall_timeout_secs: stall_secs,
        ..Default::default()
    };
    s.hosts.insert(
        proxy_host.to_string(),
        HostConfig {
            plain_http: true,
            ..Default::default()
        },
    );
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_of_one_image_share_its_download() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let img = big_image(4 << 20);
    push(&registry.host(), "big", "v1", &img, false, false).await;
    let proxy = Proxy::start(registry.port);
    let store = open_store(tmp.path(), settings(&proxy.host(), 30));
    let reference = format!("{}/big:v1", proxy.host());

    let (a, b) = tokio::join!(store.pull(&reference, None), store.pull(&reference, None));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    let layer = img.layers[0].blob.len() as u64;
    let carried = proxy.bytes.load(Ordering::SeqCst);
    assert!(
        carried > layer && carried < layer + layer / 2,
        "{carried} bytes carried for a {layer}-byte layer: downloaded twice?"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_download_shows_its_progress_is_cancelled_and_a_later_pull_resumes_it() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let img = big_image(2 << 20);
    push(&registry.host(), "big", "v1", &img, false, false).await;
    let proxy = Proxy::start(registry.port);
    *proxy.fault.lock().unwrap() = Some((256 << 10, Fault::Stall));
    let store = open_store(tmp.path(), settings(&proxy.host(), 1));
    let reference = format!("{}/big:v1", proxy.host());

    let started = Instant::now();
    let pulling = store.pull(&reference, None);
    tokio::pin!(pulling);
    // While it stalls, the download shows what it has received.
    let layer = sha256(&img.layers[0].blob);
    let seen = loop {
        tokio::select! {
            r = &mut pulling => panic!("pull ended before progress was seen: {r:?}"),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        if let Some(row) = store.downloads().into_iter().find(|d| d.layer == layer)
            && row.received > 0
        {
            break row;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no progress seen"
        );
    };
    assert_eq!(seen.size, img.layers[0].blob.len() as u64);
    assert!(seen.received <= 256 << 10, "{seen:?}");
    let err = pulling.await.unwrap_err();
    assert!(matches!(err, Error::Stalled { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(store.downloads().is_empty());
    let kept = assert_only_a_partial_layer(tmp.path(), &img);
    assert!(kept <= 256 << 10, "{kept} bytes kept");
    assert!(store.list().is_empty());

    *proxy.fault.lock().unwrap() = None;
    let pulled = store.pull(&reference, None).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);
    assert_eq!(count(&tmp.path().join("root/content/ingest")), 0);
}

/// A store behind a proxy to a registry holding a 2 MiB single-layer image,
/// after a pull cut after 256 KiB: `(tmp, registry, proxy, image, store,
/// reference, bytes kept in the partial)`.
async fn after_a_cut_pull() -> (
    tempfile::TempDir,
    Registry,
    Proxy,
    TestImage,
    cradle_snapshotter::ImageStore,
    String,
    u64,
) {
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let img = big_image(2 << 20);
    push(&registry.host(), "big", "v1", &img, false, false).await;
    let proxy = Proxy::start(registry.port);
    *proxy.fault.lock().unwrap() = Some((256 << 10, Fault::Cut));
    let store = open_store(tmp.path(), settings(&proxy.host(), 30));
    let reference = format!("{}/big:v1", proxy.host());

    let err = store.pull(&reference, None).await.unwrap_err();
    assert!(
        matches!(err, Error::Download { .. } | Error::Registry { .. }),
        "{err}"
    );
    assert!(store.list().is_empty());
    let kept = assert_only_a_partial_layer(tmp.path(), &img);
    *proxy.fault.lock().unwrap() = None;
    proxy.bytes.store(0, Ordering::SeqCst);
    proxy.ranges.lock().unwrap().clear();
    (tmp, registry, proxy, img, store, reference, kept)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cut_mid_layer_keeps_a_partial_and_the_next_pull_fetches_only_the_rest() {
    if !usable() {
        return;
    }
    let (tmp, _registry, proxy, img, store, reference, kept) = after_a_cut_pull().await;
    assert!(kept > 0, "nothing kept of the cut download");

    let pulled = store.pull(&reference, None).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);
    let layer = img.layers[0].blob.len() as u64;
    let carried = proxy.bytes.load(Ordering::SeqCst);
    // The rest of the layer plus manifest, config and headers, not the layer
    // again.
    assert!(
        carried < layer - kept + (64 << 10),
        "{carried} bytes carried for the {} missing of a {layer}-byte layer",
        layer - kept
    );
    assert!(
        proxy
            .ranges
            .lock()
            .unwrap()
            .contains(&format!("bytes={kept}-")),
        "no range request from {kept}: {:?}",
        proxy.ranges.lock().unwrap()
    );
    assert_eq!(count(&tmp.path().join("root/content/ingest")), 0);
    // Unpacked from the replayed partial plus the rest: the layer is whole.
    let fs_dir = tmp
        .path()
        .join("root/snapshots/layers")
        .join(&img.layers[0].diff_id[7..])
        .join("fs/blob");
    assert_eq!(std::fs::metadata(fs_dir).unwrap().len(), 2 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_ignoring_ranges_makes_the_resumed_download_start_over() {
    if !usable() {
        return;
    }
    let (tmp, _registry, proxy, img, store, reference, _kept) = after_a_cut_pull().await;
    proxy.strip_range.store(true, Ordering::SeqCst);

    let pulled = store.pull(&reference, None).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);
    let layer = img.layers[0].blob.len() as u64;
    assert!(proxy.bytes.load(Ordering::SeqCst) > layer);
    assert_eq!(count(&tmp.path().join("root/content/ingest")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_refusing_the_range_makes_the_pull_start_over() {
    if !usable() {
        return;
    }
    let (tmp, _registry, proxy, img, store, reference, kept) = after_a_cut_pull().await;
    proxy.spoil_range.store(true, Ordering::SeqCst);

    let pulled = store.pull(&reference, None).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);
    let ranges = proxy.ranges.lock().unwrap().clone();
    assert_eq!(
        ranges,
        vec![format!("bytes={kept}-"), "bytes=0-".to_string()],
        "resume (answered 416), then from the start"
    );
    assert_eq!(count(&tmp.path().join("root/content/ingest")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_partial_fails_its_digest_and_the_pull_downloads_the_blob_again() {
    if !usable() {
        return;
    }
    let (tmp, _registry, proxy, img, store, reference, kept) = after_a_cut_pull().await;
    let partial = partial_path(tmp.path(), &img);
    std::fs::write(&partial, vec![0x5a; kept as usize]).unwrap();

    let pulled = store.pull(&reference, None).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);
    let layer = img.layers[0].blob.len() as u64;
    // The resumed rest, then the whole layer once more.
    assert!(proxy.bytes.load(Ordering::SeqCst) > layer);
    let ranges = proxy.ranges.lock().unwrap().clone();
    assert!(ranges.contains(&format!("bytes={kept}-")), "{ranges:?}");
    assert!(ranges.contains(&"bytes=0-".to_string()), "{ranges:?}");
    assert_eq!(count(&tmp.path().join("root/content/ingest")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_download_survives_reopening_the_store_and_resumes() {
    if !usable() {
        return;
    }
    let (tmp, _registry, proxy, img, store, reference, kept) = after_a_cut_pull().await;
    drop(store);
    let settings = settings(&proxy.host(), 30);
    let store = open_store(tmp.path(), settings);
    assert_eq!(assert_only_a_partial_layer(tmp.path(), &img), kept);
    store.pull(&reference, None).await.unwrap();
    assert!(
        proxy
            .ranges
            .lock()
            .unwrap()
            .contains(&format!("bytes={kept}-")),
        "{:?}",
        proxy.ranges.lock().unwrap()
    );
}

fn partial_path(dir: &std::path::Path, img: &TestImage) -> std::path::PathBuf {
    let layer = sha256(&img.layers[0].blob);
    dir.join("root/content/ingest")
        .join(format!("{}.partial", &layer[7..]))
}

/// The layer blob is not visible, no temp snapshot is left, and the ingest
/// dir holds only the layer's partial download; returns its length.
fn assert_only_a_partial_layer(dir: &std::path::Path, img: &TestImage) -> u64 {
    let root = dir.join("root/content");
    let layer = sha256(&img.layers[0].blob);
    assert!(!root.join("blobs/sha256").join(&layer[7..]).exists());
    assert_eq!(count(&root.join("ingest")), 1, "more than the partial left");
    assert_eq!(count(&dir.join("root/snapshots/layers")), 0);
    let len = std::fs::metadata(partial_path(dir, img)).unwrap().len();
    assert!(len < img.layers[0].blob.len() as u64);
    len
}

/// Unmounts on drop, so a failing test leaves nothing mounted.
struct Unmount(std::path::PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_fails_the_pull_with_enospc_and_leaves_nothing_after_gc() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let img = big_image(3 << 20);
    push(&registry.host(), "big", "v1", &img, false, false).await;
    let small = tmp.path().join("small");
    std::fs::create_dir(&small).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &small,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    )
    .unwrap();
    let _unmount = Unmount(small.clone());
    let db = std::sync::Arc::new(redb::Database::create(tmp.path().join("meta.redb")).unwrap());
    let root = small.join("root");
    let store =
        cradle_snapshotter::ImageStore::open(&root, db, RegistrySettings::default()).unwrap();

    let err = store
        .pull(&format!("{}/big:v1", registry.host()), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert!(store.list().is_empty());
    assert_eq!(count(&root.join("content/ingest")), 0);
    store.gc().await.unwrap();
    assert_eq!(count(&root.join("content/blobs/sha256")), 0);
    assert_eq!(count(&root.join("snapshots/layers")), 0);
}
