//! Manifest shapes and layer formats against a real registry on 127.0.0.1:
//! zstd, gzip and uncompressed layers; Docker schema 2 manifests and
//! manifest lists; an image of 260 layers mounted as one overlay rootfs.
//! Needs root and docker-registry.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;
use cradle_snapshotter::RegistrySettings;

/// Detaches a mount on drop, so a failing test leaves nothing mounted.
struct Unmount(PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_gzip_and_plain_layers_unpack_into_one_rootfs() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let plain_tar = tar_of(&[("plain", b"p")]);
    let plain = Layer {
        diff_id: sha256(&plain_tar),
        blob: plain_tar,
        media_type: "application/vnd.oci.image.layer.v1.tar".into(),
        urls: Vec::new(),
    };
    let img = TestImage::new(
        vec![
            gzip_layer(&tar_of(&[("gz", b"g"), ("shared", b"gzip")])),
            zstd_layer(&tar_of(&[("zst", b"z"), ("shared", b"zstd")])),
            plain,
        ],
        "amd64",
        false,
    );
    push(&registry.host(), "formats", "v1", &img, false, false).await;
    let store = open_store(tmp.path(), RegistrySettings::default());
    let pulled = store
        .pull(&format!("{}/formats:v1", registry.host()), None)
        .await
        .unwrap();
    assert_eq!(pulled.layers.len(), 3);

    let target = tmp.path().join("rootfs");
    fs::create_dir(&target).unwrap();
    let _unmount = Unmount(target.clone());
    store
        .mount_rootfs("ctr-formats", &pulled.id, &target)
        .unwrap();
    for (file, content) in [
        ("gz", "g"),
        ("zst", "z"),
        ("plain", "p"),
        ("shared", "zstd"),
    ] {
        assert_eq!(fs::read_to_string(target.join(file)).unwrap(), content);
    }
    store.remove_rootfs("ctr-formats", &target).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_manifest_list_resolves_to_the_node_platform() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let layer = || gzip_layer(&tar_of(&[("f", b"x")]));
    let arm = TestImage::new(vec![layer()], "arm", true);
    let arm64 = TestImage::new(vec![layer()], "arm64", true);
    let amd64 = TestImage::new(vec![layer()], "amd64", true);
    let index_digest = push_index(
        &registry.host(),
        "multi",
        "v1",
        &[
            (&arm, "arm", Some("v7")),
            (&arm64, "arm64", Some("v8")),
            (&amd64, "amd64", None),
        ],
        true,
    )
    .await;
    let store = open_store(tmp.path(), RegistrySettings::default());
    let name = format!("{}/multi", registry.host());
    let pulled = store.pull(&format!("{name}:v1"), None).await.unwrap();
    let expected = match std::env::consts::ARCH {
        "aarch64" => &arm64,
        _ => &amd64,
    };
    assert_eq!(pulled.id, expected.config_digest);
    assert_eq!(pulled.repo_digests, vec![format!("{name}@{index_digest}")]);

    // A Docker schema 2 manifest pulled directly.
    let by_digest = format!("{name}@{}", expected.manifest_digest);
    let direct = store.pull(&by_digest, None).await.unwrap();
    assert_eq!(direct.id, pulled.id);
}

/// Past what one page of mount options holds even with short fd names.
const LAYERS: usize = 260;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_of_260_layers_mounts_as_one_overlay() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let layers: Vec<Layer> = (0..LAYERS)
        .map(|i| {
            let name = format!("layer-{i:03}");
            let top = format!("{i}");
            gzip_layer(&tar_of(&[
                (&name, name.as_bytes()),
                ("top", top.as_bytes()),
            ]))
        })
        .collect();
    let img = TestImage::new(layers, "amd64", false);
    push(&registry.host(), "tall", "v1", &img, false, false).await;
    let store = open_store(tmp.path(), RegistrySettings::default());
    let pulled = store
        .pull(&format!("{}/tall:v1", registry.host()), None)
        .await
        .unwrap();
    assert_eq!(pulled.layers.len(), LAYERS);
    // Neither the plain lowerdir list nor one of /proc/self/fd/N names
    // fits in one page of mount options: this takes fsconfig's lowerdir+.
    let one_path = store
        .snapshots_dir()
        .join("layers")
        .join("x".repeat(64))
        .join("fs");
    assert!(one_path.to_string_lossy().len() * LAYERS > 4096);
    assert!("/proc/self/fd/NNN:".len() * LAYERS > 4096);

    let target = tmp.path().join("rootfs");
    fs::create_dir(&target).unwrap();
    let _unmount = Unmount(target.clone());
    store.mount_rootfs("ctr-tall", &pulled.id, &target).unwrap();
    for i in 0..LAYERS {
        let name = format!("layer-{i:03}");
        assert_eq!(fs::read_to_string(target.join(&name)).unwrap(), name);
    }
    assert_eq!(
        fs::read_to_string(target.join("top")).unwrap(),
        (LAYERS - 1).to_string()
    );
    fs::write(target.join("written"), "w").unwrap();
    store.remove_rootfs("ctr-tall", &target).unwrap();
    assert_eq!(count(&target), 0);
    assert_eq!(count(&store.snapshots_dir().join("containers")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_distributable_layer_missing_from_the_registry_comes_from_its_urls() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start_with(
        tmp.path(),
        Options {
            allow_urls: true,
            ..Default::default()
        },
    );
    // The foreign blob lives only on another server.
    let elsewhere = Registry::start(tmp.path());
    let mut foreign = gzip_layer(&tar_of(&[("licensed", b"base")]));
    let holder = TestImage::new(vec![foreign.clone()], "amd64", false);
    push(&elsewhere.host(), "base", "v1", &holder, false, false).await;
    foreign.media_type = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip".into();
    foreign.urls = vec![format!(
        "http://{}/v2/base/blobs/{}",
        elsewhere.host(),
        sha256(&foreign.blob)
    )];
    let img = TestImage::new(
        vec![foreign, gzip_layer(&tar_of(&[("app", b"a")]))],
        "amd64",
        false,
    );
    push(&registry.host(), "app", "v1", &img, false, false).await;

    let store = open_store(tmp.path(), RegistrySettings::default());
    let pulled = store
        .pull(&format!("{}/app:v1", registry.host()), None)
        .await
        .unwrap();
    assert_eq!(pulled.id, img.config_digest);
    assert_eq!(pulled.layers.len(), 2);
}
