//! Importing images for air-gapped nodes: an OCI image layout (directory or
//! tarball) or a docker-archive tarball (`docker save`: `manifest.json` plus
//! config and layer files).
//!
//! Every blob is copied into the content store through a verifying ingest
//! (OCI layouts name their digests; docker-archive files are hashed first),
//! then the image is unpacked and recorded exactly as a pulled one. Images
//! are named by the layout's `io.containerd.image.name` annotation (or a
//! `org.opencontainers.image.ref.name` that is a full reference), or by the
//! archive's `RepoTags`; an unnamed image is known by its id only.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use oci_client::manifest::{OciImageIndex, OciImageManifest};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::archive::{Scratch, open_inside};
use crate::content::ContentStore;
use crate::digest::Digest;
use crate::error::Error;
use crate::image::Image;
use crate::platform;
use crate::reference::ImageRef;
use crate::registry::{Fetched, is_index, is_layer_type};
use crate::{ImageStore, Names};

const CONTAINERD_NAME: &str = "io.containerd.image.name";
const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One image found in the archive, its blobs in the content store.
struct Found {
    reference: String,
    names: Names,
    fetched: Fetched,
}

impl ImageStore {
    /// Imports every image of an OCI image layout directory, or of a tarball
    /// (plain, gzip or zstd) holding an OCI layout or a docker-archive.
    /// Returns the images, named as the archive names them.
    pub async fn import_path(&self, path: &Path) -> Result<Vec<Image>, Error> {
        let name = path.display().to_string();
        if path.is_dir() {
            let _gc = self.gc.read().await;
            let (content, dir) = (self.content.clone(), path.to_path_buf());
            let found = blocking(move || load_dir(&content, &dir, &name)).await?;
            return self.commit_found(found).await;
        }
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        self.import_tar(file, &name).await
    }

    /// Imports the images of a tar stream (see [`ImageStore::import_path`]);
    /// `name` names it in errors.
    pub async fn import_tar<R: Read + Send + 'static>(
        &self,
        reader: R,
        name: &str,
    ) -> Result<Vec<Image>, Error> {
        let _gc = self.gc.read().await;
        let content = self.content.clone();
        let name = name.to_string();
        let found = blocking(move || {
            let scratch = Scratch::extract(content.ingest_dir(), reader, &name)?;
            load_dir(&content, scratch.root(), &name)
        })
        .await?;
        self.commit_found(found).await
    }

    async fn commit_found(&self, found: Vec<Found>) -> Result<Vec<Image>, Error> {
        let mut images = Vec::new();
        for f in found {
            let image = self
                .commit_fetched(&f.reference, f.names, f.fetched)
                .await?;
            tracing::info!(reference = f.reference, id = %image.id, "image imported");
            images.push(image);
        }
        Ok(images)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(format!("import: {e}")))?
}

fn bad(source: &str, reason: impl Into<String>) -> Error {
    Error::BadArchive {
        source_name: source.to_string(),
        reason: reason.into(),
    }
}

/// Reads an extracted archive or a layout directory.
fn load_dir(content: &ContentStore, dir: &Path, source: &str) -> Result<Vec<Found>, Error> {
    let found = if dir.join("index.json").is_file() {
        oci_layout(content, dir, source)?
    } else if dir.join("manifest.json").is_file() {
        docker_archive(content, dir, source)?
    } else {
        return Err(bad(
            source,
            "neither an OCI layout (index.json) nor a docker-archive (manifest.json)",
        ));
    };
    if found.is_empty() {
        return Err(bad(source, "it holds no image"));
    }
    Ok(found)
}

#[derive(Deserialize)]
struct LayoutIndex {
    manifests: Vec<LayoutEntry>,
}

#[derive(Deserialize)]
struct LayoutEntry {
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn read_json<T: serde::de::DeserializeOwned>(
    dir: &Path,
    rel: &str,
    source: &str,
) -> Result<T, Error> {
    let mut bytes = Vec::new();
    open_inside(dir, rel, source)?
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(dir.join(rel), e))?;
    serde_json::from_slice(&bytes).map_err(|e| bad(source, format!("{rel}: {e}")))
}

fn oci_layout(content: &ContentStore, dir: &Path, source: &str) -> Result<Vec<Found>, Error> {
    let index: LayoutIndex = read_json(dir, "index.json", source)?;
    let mut out = Vec::new();
    for entry in index.manifests {
        let top = Digest::parse(&entry.digest)?;
        store_known(content, dir, &top, source)?;
        let top_bytes = content.read(&top)?;
        let mut manifest_digests = vec![top.clone()];
        let manifest_digest = if is_index(&top_bytes) {
            let nested: OciImageIndex = serde_json::from_slice(&top_bytes)
                .map_err(|e| bad(source, format!("index {top}: {e}")))?;
            let chosen = platform::choose_for_host(&nested.manifests).ok_or_else(|| {
                bad(
                    source,
                    format!("index {top} has no linux/{} image", platform::host_arch()),
                )
            })?;
            let chosen = Digest::parse(&chosen)?;
            store_known(content, dir, &chosen, source)?;
            manifest_digests.push(chosen.clone());
            chosen
        } else {
            top.clone()
        };
        let manifest: OciImageManifest =
            serde_json::from_slice(&content.read(&manifest_digest)?)
                .map_err(|e| bad(source, format!("manifest {manifest_digest}: {e}")))?;
        let config_digest = Digest::parse(&manifest.config.digest)?;
        store_known(content, dir, &config_digest, source)?;
        let mut layers = Vec::new();
        for layer in &manifest.layers {
            if !is_layer_type(&layer.media_type) {
                return Err(bad(
                    source,
                    format!("unsupported layer media type {:?}", layer.media_type),
                ));
            }
            let d = Digest::parse(&layer.digest)?;
            let size = store_known(content, dir, &d, source)?;
            layers.push((d, size));
        }
        let name = entry
            .annotations
            .get(CONTAINERD_NAME)
            .or_else(|| {
                entry
                    .annotations
                    .get(OCI_REF_NAME)
                    .filter(|n| n.contains('/'))
            })
            .and_then(|n| ImageRef::parse(n).ok());
        let names = Names {
            tags: name
                .as_ref()
                .and_then(ImageRef::tagged)
                .into_iter()
                .collect(),
            digests: name.iter().map(|n| n.with_digest(&top)).collect(),
        };
        out.push(Found {
            reference: name.map_or_else(|| top.to_string(), |n| n.to_string()),
            names,
            fetched: Fetched {
                top_digest: top,
                manifest_digests,
                config_size: u64::try_from(manifest.config.size).unwrap_or(0),
                config_digest,
                layers,
            },
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn docker_archive(content: &ContentStore, dir: &Path, source: &str) -> Result<Vec<Found>, Error> {
    let entries: Vec<ArchiveEntry> = read_json(dir, "manifest.json", source)?;
    let mut out = Vec::new();
    for entry in entries {
        let (config_digest, config_size) = store_unknown(content, dir, &entry.config, source)?;
        let mut layers = Vec::new();
        let mut descriptors = Vec::new();
        for rel in &entry.layers {
            let (d, size) = store_unknown(content, dir, rel, source)?;
            let mut magic = [0u8; 2];
            let gzip = File::open(content.path(&d))
                .and_then(|mut f| f.read_exact(&mut magic))
                .is_ok()
                && magic == [0x1f, 0x8b];
            let media_type = if gzip {
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            } else {
                "application/vnd.docker.image.rootfs.diff.tar"
            };
            descriptors
                .push(serde_json::json!({"mediaType": media_type, "digest": d, "size": size}));
            layers.push((d, size));
        }
        // The archive has no manifest; write the Docker schema 2 one that
        // describes it, so the image exports like any other.
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "digest": config_digest, "size": config_size},
            "layers": descriptors,
        })
        .to_string();
        let manifest_digest = Digest::of(manifest.as_bytes());
        content.write_all(&manifest_digest, manifest.as_bytes())?;
        let refs: Vec<ImageRef> = entry
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| ImageRef::parse(t))
            .collect::<Result<_, _>>()?;
        out.push(Found {
            reference: refs
                .first()
                .map_or_else(|| config_digest.to_string(), |r| r.to_string()),
            names: Names {
                tags: refs.iter().filter_map(ImageRef::tagged).collect(),
                digests: Vec::new(),
            },
            fetched: Fetched {
                top_digest: manifest_digest.clone(),
                manifest_digests: vec![manifest_digest],
                config_digest,
                config_size,
                layers,
            },
        });
    }
    Ok(out)
}

/// Copies `blobs/sha256/<hex>` of a layout into the store, verified.
fn store_known(
    content: &ContentStore,
    dir: &Path,
    digest: &Digest,
    source: &str,
) -> Result<u64, Error> {
    let rel = format!("blobs/sha256/{}", digest.hex());
    let file = open_inside(dir, &rel, source)?;
    let size = file
        .metadata()
        .map_err(|e| Error::io(dir.join(&rel), e))?
        .len();
    if !content.contains(digest) {
        copy_in(content, file, digest)?;
    }
    Ok(size)
}

/// Copies a file whose digest the archive does not name into the store.
fn store_unknown(
    content: &ContentStore,
    dir: &Path,
    rel: &str,
    source: &str,
) -> Result<(Digest, u64), Error> {
    let mut hasher = Sha256::new();
    let size = io::copy(&mut open_inside(dir, rel, source)?, &mut hasher)
        .map_err(|e| Error::io(dir.join(rel), e))?;
    let digest = Digest::from_hasher(hasher);
    if !content.contains(&digest) {
        copy_in(content, open_inside(dir, rel, source)?, &digest)?;
    }
    Ok((digest, size))
}

fn copy_in(content: &ContentStore, mut file: File, digest: &Digest) -> Result<(), Error> {
    let mut ingest = content.ingest(digest)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(content.path(digest), e))?;
        if n == 0 {
            break;
        }
        ingest.write(&buf[..n])?;
    }
    ingest.commit()
}
