//! End to end against a real registry: a `docker-registry` on 127.0.0.1, an
//! OCI image built here (busybox from the host), pushed with skopeo, pulled
//! through `ImageStore`, mounted as a rootfs, run with chroot, removed.
//! Needs root, docker-registry and skopeo; skips with a message otherwise.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{Registry, count, sha256};
use cradle_snapshotter::{Error, ImageStore, RegistryConfig};

fn usable() -> bool {
    if !nix::unistd::geteuid().is_root() {
        cradle_testkit::skip("needs root");
        return false;
    }
    for tool in [
        "/usr/bin/docker-registry",
        "/usr/bin/skopeo",
        "/usr/bin/busybox",
    ] {
        if !Path::new(tool).exists() {
            cradle_testkit::skip(format!("{tool} not installed"));
            return false;
        }
    }
    true
}

/// Detaches a mount on drop, so a failing test leaves nothing mounted.
struct Unmount(PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A gzip layer: returns (compressed blob, diff id).
fn layer(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> (Vec<u8>, String) {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    (gz.finish().unwrap(), sha256(&tar))
}

fn append(
    b: &mut tar::Builder<Vec<u8>>,
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    data: &[u8],
    link: Option<&str>,
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    h.set_size(data.len() as u64);
    if let Some(l) = link {
        h.set_link_name(l).unwrap();
    }
    b.append_data(&mut h, path, data).unwrap();
}

struct Built {
    config_digest: String,
    diff_ids: Vec<String>,
    size: u64,
}

/// Writes an OCI image layout with two layers: busybox, then a file that
/// replaces one of the first layer's.
/// With `multi_platform`, `latest` is an image index whose linux/amd64 entry
/// is that image (next to a linux/arm64 decoy).
fn build_layout(dir: &Path, multi_platform: bool) -> Built {
    build_layout_with(dir, multi_platform, false)
}

/// With `wrong_diff_id`, the config names a diff id the second layer does not have.
fn build_layout_with(dir: &Path, multi_platform: bool, wrong_diff_id: bool) -> Built {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = sha256(bytes);
        fs::write(blobs.join(&d[7..]), bytes).unwrap();
        d
    };
    let busybox = fs::read("/usr/bin/busybox").unwrap();
    let (l1, d1) = layer(|b| {
        append(b, "bin/", tar::EntryType::Directory, 0o755, b"", None);
        append(
            b,
            "bin/busybox",
            tar::EntryType::Regular,
            0o755,
            &busybox,
            None,
        );
        append(
            b,
            "bin/sh",
            tar::EntryType::Symlink,
            0o777,
            b"",
            Some("busybox"),
        );
        append(b, "etc/", tar::EntryType::Directory, 0o755, b"", None);
        append(
            b,
            "etc/version",
            tar::EntryType::Regular,
            0o644,
            b"1\n",
            None,
        );
        append(
            b,
            "etc/obsolete",
            tar::EntryType::Regular,
            0o644,
            b"old\n",
            None,
        );
    });
    let (l2, d2) = layer(|b| {
        append(b, "etc/", tar::EntryType::Directory, 0o755, b"", None);
        append(
            b,
            "etc/version",
            tar::EntryType::Regular,
            0o644,
            b"2\n",
            None,
        );
        append(
            b,
            "etc/.wh.obsolete",
            tar::EntryType::Regular,
            0o644,
            b"",
            None,
        );
    });
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/",
                   "User": "0:0", "StopSignal": "SIGTERM", "Labels": {"test": "cradle"}},
        "rootfs": {"type": "layers", "diff_ids": [d1, if wrong_diff_id { d1.clone() } else { d2.clone() }]},
    })
    .to_string();
    let desc = |media: &str, bytes: &[u8], digest: &str| serde_json::json!({"mediaType": media, "digest": digest, "size": bytes.len()});
    let config_digest = put(config.as_bytes());
    let (l1d, l2d) = (put(&l1), put(&l2));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", config.as_bytes(), &config_digest),
        "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", &l1, &l1d),
                   desc("application/vnd.oci.image.layer.v1.tar+gzip", &l2, &l2d)],
    })
    .to_string();
    let manifest_digest = put(manifest.as_bytes());
    let mut top = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                     "digest": manifest_digest, "size": manifest.len()});
    if multi_platform {
        let arm_config = config.replace("amd64", "arm64");
        let arm_config_digest = put(arm_config.as_bytes());
        let arm_manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": desc("application/vnd.oci.image.config.v1+json", arm_config.as_bytes(), &arm_config_digest),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", &l1, &l1d),
                       desc("application/vnd.oci.image.layer.v1.tar+gzip", &l2, &l2d)],
        })
        .to_string();
        let arm_digest = put(arm_manifest.as_bytes());
        let image_index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm_digest,
                 "size": arm_manifest.len(), "platform": {"architecture": "arm64", "os": "linux"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                 "size": manifest.len(), "platform": {"architecture": "amd64", "os": "linux"}},
            ],
        })
        .to_string();
        let index_digest = put(image_index.as_bytes());
        top = serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json",
                                 "digest": index_digest, "size": image_index.len()});
    }
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "latest"});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [top]});
    fs::write(dir.join("index.json"), index.to_string()).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    Built {
        config_digest,
        diff_ids: vec![d1, d2],
        size: (config.len() + l1.len() + l2.len()) as u64,
    }
}

/// Pushes `layout:latest` to `reference` with skopeo (all platforms); returns
/// the digest the registry has for it.
fn push(tmp: &Path, layout: &Path, reference: &str) -> String {
    let digest_file = tmp.join("pushed-digest");
    let push = Command::new("/usr/bin/skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--all",
            "--quiet",
            "--dest-tls-verify=false",
        ])
        .arg("--digestfile")
        .arg(&digest_file)
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("docker://{reference}"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        push.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&push.stderr)
    );
    fs::read_to_string(&digest_file).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_mount_run_and_remove_an_image_from_a_local_registry() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let layout = tmp.path().join("layout");
    let built = build_layout(&layout, false);
    let reference = format!("127.0.0.1:{}/busybox:latest", registry.port);
    let manifest_digest = push(tmp.path(), &layout, &reference);

    let root = tmp.path().join("root");
    let db = Arc::new(redb::Database::create(tmp.path().join("meta.redb")).unwrap());
    let store = ImageStore::open(&root, db.clone(), RegistryConfig::default()).unwrap();
    let image = store.pull(&reference, None).await.unwrap();

    assert_eq!(image.id, built.config_digest);
    assert_eq!(image.repo_tags, vec![reference.clone()]);
    assert_eq!(
        image.repo_digests,
        vec![format!(
            "127.0.0.1:{}/busybox@{manifest_digest}",
            registry.port
        )]
    );
    assert_eq!(image.layers, built.diff_ids);
    assert_eq!(image.size, built.size);
    assert_eq!(image.config.cmd, vec!["/bin/sh"]);
    assert_eq!(image.config.env, vec!["PATH=/bin"]);
    assert_eq!(image.config.user.as_deref(), Some("0:0"));
    assert_eq!(
        image.config.labels.get("test").map(String::as_str),
        Some("cradle")
    );
    let usage = store.fs_usage();
    assert!(
        usage.used_bytes > built.size && usage.inodes_used >= 7,
        "{usage:?}"
    );
    let layer1 = store
        .snapshots_dir()
        .join("layers")
        .join(&built.diff_ids[0][7..])
        .join("fs");
    assert!(layer1.join("bin/busybox").is_file());

    // Pulling again changes nothing; every way of naming it resolves.
    assert_eq!(store.pull(&reference, None).await.unwrap(), image);
    assert_eq!(store.list(), vec![image.clone()]);
    for name in [
        image.id.clone(),
        image.id[7..].to_string(),
        image.id[7..19].to_string(),
        image.repo_digests[0].clone(),
    ] {
        assert_eq!(
            store.resolve(&name).as_ref(),
            Some(&image),
            "resolve({name})"
        );
    }

    // Mount and run it.
    let target = tmp.path().join("rootfs");
    fs::create_dir(&target).unwrap();
    let _unmount = Unmount(target.clone());
    store.mount_rootfs("ctr-e2e", &image.id, &target).unwrap();
    let run = Command::new("/usr/sbin/chroot")
        .arg(&target)
        .args([
            "/bin/sh",
            "-c",
            "/bin/busybox cat /etc/version && /bin/busybox ls /etc && echo written > /new",
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout), "2\nversion\n");
    assert!(!layer1.join("new").exists());
    let removal = store.remove(&image.id).await;
    assert!(
        matches!(removal, Err(Error::ImageInUse { .. })),
        "{removal:?}"
    );
    store.remove_rootfs("ctr-e2e", &target).unwrap();
    assert_eq!(count(&target), 0);

    // Records survive a reopen.
    drop(store);
    let store = ImageStore::open(&root, db, RegistryConfig::default()).unwrap();
    assert_eq!(store.resolve(&reference), Some(image.clone()));

    store.remove(&reference).await.unwrap();
    assert!(store.list().is_empty());
    assert_eq!(store.fs_usage().used_bytes, 0);
    assert_eq!(count(&root.join("content/blobs/sha256")), 0);
    assert_eq!(count(&store.snapshots_dir().join("layers")), 0);
    assert_eq!(count(&store.snapshots_dir().join("containers")), 0);
    store.remove(&reference).await.unwrap();
}

#[tokio::test]
async fn pull_of_a_missing_tag_is_not_found_and_leaves_nothing() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let root = tmp.path().join("root");
    let db = Arc::new(redb::Database::create(tmp.path().join("meta.redb")).unwrap());
    let store = ImageStore::open(&root, db, RegistryConfig::default()).unwrap();
    let err = store
        .pull(&format!("127.0.0.1:{}/nothing:here", registry.port), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    assert!(store.list().is_empty());
    assert_eq!(count(&root.join("content/blobs/sha256")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_by_digest_through_an_index_picks_linux_amd64() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let layout = tmp.path().join("layout");
    let built = build_layout(&layout, true);
    let name = format!("127.0.0.1:{}/multi", registry.port);
    let index_digest = push(tmp.path(), &layout, &format!("{name}:latest"));

    let root = tmp.path().join("root");
    let db = Arc::new(redb::Database::create(tmp.path().join("meta.redb")).unwrap());
    let store = ImageStore::open(&root, db, RegistryConfig::default()).unwrap();
    let by_digest = format!("{name}@{index_digest}");
    let image = store.pull(&by_digest, None).await.unwrap();
    assert_eq!(
        image.id, built.config_digest,
        "the amd64 config, not the arm64 one"
    );
    assert!(image.repo_tags.is_empty());
    assert_eq!(image.repo_digests, vec![by_digest.clone()]);
    assert_eq!(store.resolve(&by_digest), Some(image.clone()));

    // A later pull by tag adds the tag to the same image.
    let tagged = store.pull(&format!("{name}:latest"), None).await.unwrap();
    assert_eq!(tagged.id, image.id);
    assert_eq!(tagged.repo_tags, vec![format!("{name}:latest")]);
    assert_eq!(store.list().len(), 1);

    // A wrong pinned digest is refused.
    let wrong = format!("{name}@sha256:{}", "0".repeat(64));
    assert!(store.pull(&wrong, None).await.is_err());

    store.remove(&image.id).await.unwrap();
    assert_eq!(count(&root.join("content/blobs/sha256")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_not_matching_its_diff_id_fails_the_pull_and_gc_clears_the_downloads() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let layout = tmp.path().join("layout");
    build_layout_with(&layout, false, true);
    let reference = format!("127.0.0.1:{}/liar:latest", registry.port);
    push(tmp.path(), &layout, &reference);

    let root = tmp.path().join("root");
    let db = Arc::new(redb::Database::create(tmp.path().join("meta.redb")).unwrap());
    let store = ImageStore::open(&root, db, RegistryConfig::default()).unwrap();
    let err = store.pull(&reference, None).await.unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(store.list().is_empty());
    assert_eq!(store.fs_usage().used_bytes, 0);
    // No half-unpacked layer is visible under a final name.
    let layers = store.snapshots_dir().join("layers");
    for entry in fs::read_dir(&layers).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with(".tmp-"), "temp dir {name} left behind");
    }
    store.gc().await.unwrap();
    assert_eq!(count(&root.join("content/blobs/sha256")), 0);
    assert_eq!(count(&layers), 0);
}
