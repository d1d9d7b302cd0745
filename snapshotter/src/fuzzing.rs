//! Entry points for the fuzz targets (`fuzz/`) and the seed-corpus replay
//! tests: the parsers a registry's or an archive's bytes reach, reachable
//! without a registry, a content store or a tokio runtime.
//!
//! Not an API: hidden from the docs, and it changes with the parsers. Each
//! function takes the same steps, in the same order, as the production path
//! it names, so a crash here is a crash there.

use std::io::Read;
use std::path::Path;

use oci_client::manifest::{OciImageIndex, OciImageManifest};

use crate::digest::Digest;
use crate::error::Error;
use crate::platform;
use crate::registry::{is_index, is_layer_type};

pub use crate::unpack::Unpacked;

/// Unpacks a layer blob (plain, gzip or zstd tar) into the existing, empty
/// directory `dest`, as a pull does ([`crate::unpack::unpack_reader`]).
pub fn unpack_layer(reader: impl Read, dest: &Path) -> Result<Unpacked, Error> {
    crate::unpack::unpack_reader(reader, "sha256:fuzz", dest)
}

/// What a manifest (or an index and the manifest it chose) named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedManifest {
    /// An index or manifest list: the digest chosen for this node.
    Index { chosen: Digest },
    /// An image manifest: its config and layer digests.
    Manifest { config: Digest, layers: Vec<Digest> },
}

/// Parses the bytes a registry returned for a reference, as
/// `registry::fetch_from` and `import::oci_layout` do: an index chooses the
/// manifest for this node; a manifest names a config and layers of known
/// media types, every digest validated.
pub fn parse_manifest(bytes: &[u8]) -> Result<ParsedManifest, Error> {
    let bad = |what: &'static str, reason: String| Error::BadImage {
        reference: "fuzz".to_string(),
        what,
        reason,
    };
    if is_index(bytes) {
        let index: OciImageIndex =
            serde_json::from_slice(bytes).map_err(|e| bad("index", e.to_string()))?;
        let chosen = platform::choose_for_host(&index.manifests)
            .ok_or_else(|| bad("index", "no manifest for this node".to_string()))?;
        return Ok(ParsedManifest::Index {
            chosen: Digest::parse(&chosen)?,
        });
    }
    let manifest: OciImageManifest =
        serde_json::from_slice(bytes).map_err(|e| bad("manifest", e.to_string()))?;
    let config = Digest::parse(&manifest.config.digest)?;
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for layer in &manifest.layers {
        if !is_layer_type(&layer.media_type) {
            return Err(bad(
                "manifest",
                format!("unsupported layer media type {:?}", layer.media_type),
            ));
        }
        layers.push(Digest::parse(&layer.digest)?);
    }
    Ok(ParsedManifest::Manifest { config, layers })
}

/// Parses an image config blob ([`crate::image::parse_config`]): the
/// runtime settings and the layers' diff ids.
pub fn parse_config(bytes: &[u8]) -> Result<(crate::image::ImageConfig, Vec<Digest>), Error> {
    let parsed = crate::image::parse_config("fuzz", bytes)?;
    Ok((parsed.config, parsed.diff_ids))
}

/// Unpacks `blob` into `<sandbox>/root` and panics if anything happened
/// outside it: `<sandbox>` must then hold only `root/` and `outside/`,
/// and `outside/canary` (which symlinks in the seeds aim at) must be
/// untouched. A plain tar that unpacks must report the sha256 of all of
/// its bytes as its diff id (the trailer included). `<sandbox>` is
/// emptied and set up here.
#[allow(
    clippy::expect_used,
    reason = "a fuzz oracle: panicking is how it reports, and a sandbox it cannot set up or read must stop the run"
)]
pub fn check_unpack(blob: &[u8], sandbox: &Path) {
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    const CANARY: &[u8] = b"canary: nothing may change me\n";
    if sandbox.exists() {
        fs::remove_dir_all(sandbox).expect("clearing the fuzz sandbox");
    }
    let root = sandbox.join("root");
    let outside = sandbox.join("outside");
    let canary = outside.join("canary");
    fs::create_dir_all(&root).expect("creating the layer root");
    fs::create_dir_all(&outside).expect("creating the canary dir");
    fs::write(&canary, CANARY).expect("writing the canary");
    let before = fs::symlink_metadata(&canary).expect("canary metadata");
    let outside_mode = fs::symlink_metadata(&outside)
        .expect("outside/ metadata")
        .mode();

    let result = unpack_layer(blob, &root);

    let mut names: Vec<_> = fs::read_dir(sandbox)
        .expect("listing the sandbox")
        .map(|e| e.expect("sandbox entry").file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["outside", "root"],
        "an entry escaped the layer root"
    );
    let outside_names: Vec<_> = fs::read_dir(&outside)
        .expect("listing outside/")
        .map(|e| e.expect("outside entry").file_name())
        .collect();
    assert_eq!(outside_names, ["canary"], "outside/ was written to");
    let after = fs::symlink_metadata(&canary).expect("the canary is gone");
    assert!(after.is_file(), "the canary was replaced");
    assert_eq!(
        (
            after.ino(),
            after.mode(),
            after.uid(),
            after.gid(),
            after.nlink()
        ),
        (
            before.ino(),
            before.mode(),
            before.uid(),
            before.gid(),
            before.nlink()
        ),
        "the canary's inode was changed"
    );
    assert_eq!(
        after.mtime(),
        before.mtime(),
        "the canary's mtime was changed"
    );
    assert_eq!(fs::read(&canary).expect("reading the canary"), CANARY);
    let outside_meta = fs::symlink_metadata(&outside).expect("outside/ metadata");
    assert!(
        outside_meta.is_dir() && outside_meta.mode() == outside_mode,
        "outside/ was changed"
    );

    let compressed = blob.starts_with(&[0x1f, 0x8b]) || blob.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    if let (Ok(unpacked), false) = (&result, compressed) {
        assert_eq!(unpacked.diff_id, Digest::of(blob), "diff id of a plain tar");
    }
}

/// Parses `bytes` as a manifest or index and as an image config; panics
/// only if a parser does (every error is a refusal, which is fine).
pub fn check_manifest(bytes: &[u8]) {
    if let Ok(ParsedManifest::Manifest { config, layers }) = parse_manifest(bytes) {
        assert_eq!(config.hex().len(), 64);
        assert!(layers.iter().all(|d| d.hex().len() == 64));
    }
}

/// Parses `bytes` as an image config, and its user as the CRI reports it.
pub fn check_config(bytes: &[u8]) {
    if let Ok((config, diff_ids)) = parse_config(bytes) {
        let _ = config.image_user();
        assert!(diff_ids.iter().all(|d| d.hex().len() == 64));
    }
}
