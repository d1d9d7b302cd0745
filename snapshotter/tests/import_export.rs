//! Air-gapped image transfer: import of OCI layouts (directory and tarball)
//! and docker-archives, export as an OCI layout tar, and round trips through
//! both. Needs root (layer unpack keeps owners).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use cradle_snapshotter::{Error, RegistrySettings};

fn root() -> bool {
    if !nix::unistd::geteuid().is_root() {
        cradle_testkit::skip("needs root");
        return false;
    }
    true
}

fn image() -> TestImage {
    TestImage::new(
        vec![
            gzip_layer(&tar_of(&[("bin/tool", b"#!/bin/sh\n"), ("etc/v", b"1")])),
            zstd_layer(&tar_of(&[("etc/v", b"2")])),
        ],
        "amd64",
        false,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_layout_imports_exports_and_imports_again_with_the_same_digests() {
    if !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = image();
    let layout = tmp.path().join("layout");
    write_layout(&layout, &img, "registry.example/team/app:v1");
    let a = tmp.path().join("a");
    fs::create_dir(&a).unwrap();
    let store = open_store(&a, RegistrySettings::default());
    let imported = store.import_path(&layout).await.unwrap();
    assert_eq!(imported.len(), 1);
    let first = &imported[0];
    assert_eq!(first.id, img.config_digest);
    assert_eq!(first.repo_tags, vec!["registry.example/team/app:v1"]);
    assert_eq!(
        first.repo_digests,
        vec![format!("registry.example/team/app@{}", img.manifest_digest)]
    );
    assert_eq!(first.size, img.size());

    let exported = store
        .export("registry.example/team/app:v1", Vec::new())
        .await
        .unwrap();
    skopeo_reads(tmp.path(), &exported, &img);
    let b = tmp.path().join("b");
    fs::create_dir(&b).unwrap();
    let other = open_store(&b, RegistrySettings::default());
    let again = other
        .import_tar(std::io::Cursor::new(exported.clone()), "export.tar")
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first.id);
    assert_eq!(again[0].repo_tags, first.repo_tags);
    assert_eq!(again[0].layers, first.layers);
    assert_eq!(other.list(), again);
    // Nothing left of the scratch extraction.
    assert_eq!(count(&b.join("root/content/ingest")), 0);

    // The same tarball, gzip-compressed, from a file.
    let gz_path = tmp.path().join("export.tar.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &exported).unwrap();
    fs::write(&gz_path, gz.finish().unwrap()).unwrap();
    let c = tmp.path().join("c");
    fs::create_dir(&c).unwrap();
    let third = open_store(&c, RegistrySettings::default());
    assert_eq!(third.import_path(&gz_path).await.unwrap()[0].id, first.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_archive_imports_with_its_tags_and_exports_as_oci() {
    if !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l1 = tar_of(&[("etc/a", b"a")]);
    let l2 = tar_of(&[("etc/b", b"b")]);
    let config = serde_json::json!({"architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&l1), sha256(&l2), sha256(&l1)]}})
    .to_string();
    let config_name = format!("{}.json", &sha256(config.as_bytes())[7..]);
    let manifest = serde_json::json!([{"Config": config_name, "RepoTags": ["busybox:v1", "example.com/x:y"],
        "Layers": ["one/layer.tar", "two/layer.tar", "three/layer.tar"]}]);
    // docker save writes a symlink for a layer that appears twice.
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8], link: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        match link {
            Some(l) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_link_name(l).unwrap();
            }
            None => h.set_entry_type(tar::EntryType::Regular),
        }
        b.append_data(&mut h, path, data).unwrap();
    };
    add("manifest.json", manifest.to_string().as_bytes(), None);
    add(&config_name, config.as_bytes(), None);
    add("one/layer.tar", &l1, None);
    add("two/layer.tar", &l2, None);
    add("three/layer.tar", b"", Some("../one/layer.tar"));
    let archive = b.into_inner().unwrap();

    let store = open_store(tmp.path(), RegistrySettings::default());
    let imported = store
        .import_tar(std::io::Cursor::new(archive), "saved.tar")
        .await
        .unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].id, sha256(config.as_bytes()));
    assert_eq!(
        imported[0].repo_tags,
        vec!["docker.io/library/busybox:v1", "example.com/x:y"]
    );
    assert!(store.resolve("busybox:v1").is_some());

    let exported = store.export("busybox:v1", Vec::new()).await.unwrap();
    let other_dir = tmp.path().join("other");
    fs::create_dir(&other_dir).unwrap();
    let other = open_store(&other_dir, RegistrySettings::default());
    let again = other
        .import_tar(std::io::Cursor::new(exported), "export.tar")
        .await
        .unwrap();
    assert_eq!(again[0].id, imported[0].id);
    assert_eq!(again[0].layers, imported[0].layers);
}

#[tokio::test]
async fn archive_that_is_no_image_is_refused_and_leaves_nothing() {
    if !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path(), RegistrySettings::default());
    let err = store
        .import_tar(
            std::io::Cursor::new(tar_of(&[("README", b"hello")])),
            "junk.tar",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadArchive { .. }), "{err}");
    assert!(store.list().is_empty());
    assert_eq!(count(&tmp.path().join("root/content/ingest")), 0);
    let err = store.export("missing:v1", Vec::new()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
}

/// skopeo, an independent reader, accepts the export and finds the image.
fn skopeo_reads(dir: &Path, exported: &[u8], img: &TestImage) {
    if !Path::new("/usr/bin/skopeo").exists() {
        cradle_testkit::skip("skopeo not installed: interop check skipped");
        return;
    }
    let file = dir.join("export.tar");
    fs::write(&file, exported).unwrap();
    let out = std::process::Command::new("/usr/bin/skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", file.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, img.manifest);
}
