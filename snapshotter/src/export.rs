//! Exporting an image as an OCI image layout tarball (what
//! [`ImageStore::import_tar`] and `skopeo copy oci-archive:` read).
//!
//! The layout holds the image manifest (the platform one, not the index it
//! was pulled through), config and compressed layers exactly as stored, so
//! digests survive a round trip. One `index.json` entry per tag carries the
//! names (`io.containerd.image.name`, `org.opencontainers.image.ref.name`).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;

use crate::ImageStore;
use crate::content::ContentStore;
use crate::digest::Digest;
use crate::error::Error;
use crate::reference::ImageRef;
use crate::store::ImageRecord;

impl ImageStore {
    /// Writes image `reference_or_id` (anything [`ImageStore::resolve`]
    /// accepts) to `writer` as an OCI layout tar; returns the writer. The
    /// image cannot be removed while this runs.
    pub async fn export<W: Write + Send + 'static>(
        &self,
        reference_or_id: &str,
        writer: W,
    ) -> Result<W, Error> {
        let _gc = self.gc.read().await;
        let record = self
            .records
            .find(reference_or_id)
            .ok_or_else(|| Error::NotFound(reference_or_id.to_string()))?;
        let content = self.content.clone();
        tokio::task::spawn_blocking(move || write_layout(&content, &record, writer))
            .await
            .map_err(|e| Error::Task(format!("export: {e}")))?
    }
}

fn write_layout<W: Write>(
    content: &ContentStore,
    record: &ImageRecord,
    writer: W,
) -> Result<W, Error> {
    let manifest_digest = record
        .manifest_digests
        .last()
        .ok_or_else(|| Error::BadImage {
            reference: record.image.id.clone(),
            what: "record",
            reason: "no manifest recorded".into(),
        })?;
    let manifest_bytes = content.read(manifest_digest)?;
    let media_type = serde_json::from_slice::<serde_json::Value>(&manifest_bytes)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_string))
        .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into());
    let descriptor = |annotations: serde_json::Value| {
        let mut d = serde_json::json!({
            "mediaType": media_type,
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
        });
        if !annotations.is_null() {
            d["annotations"] = annotations;
        }
        d
    };
    let mut manifests: Vec<serde_json::Value> = record
        .image
        .repo_tags
        .iter()
        .filter_map(|t| ImageRef::parse(t).ok().map(|r| (t, r)))
        .map(|(t, r)| {
            descriptor(serde_json::json!({
                "io.containerd.image.name": t,
                "org.opencontainers.image.ref.name": r.tag.unwrap_or_default(),
            }))
        })
        .collect();
    if manifests.is_empty() {
        manifests.push(descriptor(serde_json::Value::Null));
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": manifests}).to_string();

    let mut tar = tar::Builder::new(writer);
    let tar_err = |e| Error::io("export archive", e);
    append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(tar_err)?;
    append_bytes(&mut tar, "index.json", index.as_bytes()).map_err(tar_err)?;
    let mut blobs: BTreeSet<&Digest> = BTreeSet::new();
    blobs.insert(manifest_digest);
    blobs.insert(&record.config_digest);
    blobs.extend(&record.layer_blobs);
    for digest in blobs {
        let path = content.path(digest);
        let mut file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let size = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        let mut header = header(size);
        tar.append_data(
            &mut header,
            format!("blobs/sha256/{}", digest.hex()),
            &mut file,
        )
        .map_err(|e| Error::io(&path, e))?;
    }
    tar.into_inner().map_err(tar_err)
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    tar.append_data(&mut header(bytes.len() as u64), path, bytes)
}
