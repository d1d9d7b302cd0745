//! Variants of the test image: the same busybox layer under another image
//! config (a STOPSIGNAL, a USER…), as an OCI layout of their own for
//! [`crate::Registry::push_layout`]. Built from the base layout, without
//! Docker or hack/ changes.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The test image with `edit` applied to its config (see [`variant_layout`]),
/// pushed to `registry` as `name_tag`; its reference.
pub fn push_variant(
    registry: &crate::registry::Registry,
    name_tag: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> anyhow::Result<String> {
    let layout = variant_layout(edit)?;
    registry.push_layout(layout.path(), name_tag)
}

/// An OCI layout in a temp dir (removed on drop) whose image is the test
/// image with `edit` applied to its config's `config` object (the part
/// holding `Cmd`, `Env`, `StopSignal`, `User`…).
pub fn variant_layout(
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> anyhow::Result<tempfile::TempDir> {
    let base = crate::registry::test_image_layout()?;
    let parent = base.parent().context("layout dir has no parent")?;
    let out = tempfile::Builder::new()
        .prefix("variant-oci-")
        .tempdir_in(parent)?;
    let blobs = out.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;

    let index: Value = read_json(&base.join("index.json"))?;
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .context("index without a manifest")?;
    let mut manifest: Value = read_json(&blob_path(&base, manifest_digest)?)?;
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .context("manifest without a config")?
        .to_string();
    let mut config: Value = read_json(&blob_path(&base, &config_digest)?)?;
    let inner = config
        .get_mut("config")
        .and_then(Value::as_object_mut)
        .context("image config without a config object")?;
    edit(inner);

    for layer in manifest["layers"].as_array().context("no layers")? {
        let digest = layer["digest"].as_str().context("layer without digest")?;
        let (from, to) = (blob_path(&base, digest)?, blob_path(out.path(), digest)?);
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
        }
    }
    let (digest, size) = put_blob(out.path(), &serde_json::to_vec(&config)?)?;
    manifest["config"]["digest"] = digest.into();
    manifest["config"]["size"] = size.into();
    let (digest, size) = put_blob(out.path(), &serde_json::to_vec(&manifest)?)?;
    let mut index = index;
    index["manifests"][0]["digest"] = digest.into();
    index["manifests"][0]["size"] = size.into();
    std::fs::write(out.path().join("index.json"), serde_json::to_vec(&index)?)?;
    std::fs::copy(base.join("oci-layout"), out.path().join("oci-layout"))?;
    Ok(out)
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// `blobs/sha256/<hex>` of `sha256:<hex>` in `layout`.
fn blob_path(layout: &Path, digest: &str) -> anyhow::Result<std::path::PathBuf> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .with_context(|| format!("not a sha256 digest: {digest}"))?;
    Ok(layout.join("blobs/sha256").join(hex))
}

/// Stores `bytes` as a blob; returns its digest and size.
fn put_blob(layout: &Path, bytes: &[u8]) -> anyhow::Result<(String, u64)> {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    std::fs::write(blob_path(layout, &digest)?, bytes)?;
    Ok((digest, u64::try_from(bytes.len())?))
}
