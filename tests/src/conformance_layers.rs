//! Test images with one more layer on top of the busybox test image, for
//! the critest cases whose gcr.io images hold files of their own: a user
//! and group database (SupplementalGroupsPolicy) or a setuid program
//! (NoNewPrivs). Built as an OCI layout in a temp dir, without Docker.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One file of the added layer: its path in the image, mode and contents.
pub struct LayerFile<'a> {
    pub path: &'a str,
    pub mode: u32,
    pub contents: &'a [u8],
}

/// The test image plus a layer holding `files`, its config's `config`
/// object edited by `edit`; an OCI layout (tag `latest`) removed on drop.
pub fn layered_layout(
    files: &[LayerFile<'_>],
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> anyhow::Result<tempfile::TempDir> {
    let base = cradle_tests::test_image_layout()?;
    let parent = base.parent().context("layout dir has no parent")?;
    let out = tempfile::Builder::new()
        .prefix("layered-oci-")
        .tempdir_in(parent)?;
    std::fs::create_dir_all(out.path().join("blobs/sha256"))?;
    let (layer_digest, layer_size, diff_id) = build_layer(files)?;
    write_blob_file(out.path(), &layer_digest, &layer_size.1)?;

    let index: Value = read_json(&base.join("index.json"))?;
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .context("index without a manifest")?;
    let mut manifest: Value = read_json(&blob(&base, manifest_digest)?)?;
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .context("manifest without config")?
        .to_string();
    let mut config: Value = read_json(&blob(&base, &config_digest)?)?;
    edit(
        config
            .get_mut("config")
            .and_then(Value::as_object_mut)
            .context("image config without config")?,
    );
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .context("no diff_ids")?
        .push(diff_id.into());
    for layer in manifest["layers"].as_array().context("no layers")? {
        let digest = layer["digest"].as_str().context("layer digest")?;
        std::fs::copy(blob(&base, digest)?, blob(out.path(), digest)?)?;
    }
    manifest["layers"]
        .as_array_mut()
        .context("no layers")?
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest,
            "size": layer_size.0,
        }));
    let (digest, size) = put(out.path(), &serde_json::to_vec(&config)?)?;
    manifest["config"]["digest"] = digest.into();
    manifest["config"]["size"] = size.into();
    let (digest, size) = put(out.path(), &serde_json::to_vec(&manifest)?)?;
    let mut index = index;
    index["manifests"][0]["digest"] = digest.into();
    index["manifests"][0]["size"] = size.into();
    std::fs::write(out.path().join("index.json"), serde_json::to_vec(&index)?)?;
    std::fs::copy(base.join("oci-layout"), out.path().join("oci-layout"))?;
    Ok(out)
}

/// A gzip'd tar of `files` owned by root: (blob digest, (size, bytes), diff id).
fn build_layer(files: &[LayerFile<'_>]) -> anyhow::Result<(String, (u64, Vec<u8>), String)> {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir()?;
    for f in files {
        let path = root.path().join(f.path.trim_start_matches('/'));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, f.contents)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))?;
    }
    let tar = root.path().with_extension("tar");
    let status = Command::new("tar")
        .args([
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--sort=name",
            "-C",
        ])
        .arg(root.path())
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()?;
    if !status.success() {
        bail!("tar: {status}");
    }
    let plain = std::fs::read(&tar)?;
    let _ = std::fs::remove_file(&tar);
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&plain)));
    let mut gz = Command::new("gzip")
        .args(["-n", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut stdin = gz.stdin.take().context("gzip stdin")?;
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &plain));
    let out = gz.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("gzip writer"))??;
    if !out.status.success() {
        bail!("gzip: {}", out.status);
    }
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&out.stdout)));
    let size = u64::try_from(out.stdout.len())?;
    Ok((digest, (size, out.stdout), diff_id))
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_slice(&bytes)?)
}

fn blob(layout: &Path, digest: &str) -> anyhow::Result<std::path::PathBuf> {
    let hex = digest
        .strip_prefix("sha256:")
        .with_context(|| format!("not a sha256 digest: {digest}"))?;
    Ok(layout.join("blobs/sha256").join(hex))
}

fn write_blob_file(layout: &Path, digest: &str, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(std::fs::write(blob(layout, digest)?, bytes)?)
}

fn put(layout: &Path, bytes: &[u8]) -> anyhow::Result<(String, u64)> {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    write_blob_file(layout, &digest, bytes)?;
    Ok((digest, u64::try_from(bytes.len())?))
}

/// A static program printing `Effective uid: <euid>` (critest's nonewprivs
/// image), compiled with the host's gcc; None when gcc or a static libc is
/// missing.
pub fn effective_uid_program() -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().ok()?;
    let src = dir.path().join("euid.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <unistd.h>\nint main(void){printf(\"Effective uid: %d\\n\", (int)geteuid());return 0;}\n",
    )
    .ok()?;
    let bin = dir.path().join("euid");
    let ok = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    if ok { std::fs::read(&bin).ok() } else { None }
}
