//! Fetching an image from a registry into the content store.
//!
//! oci-client speaks the distribution protocol (auth challenges, redirects);
//! this module decides what to fetch and verifies every byte: the manifest
//! (and index) against the pinned digest, every blob against its descriptor
//! while it streams into the content store. Blobs already present are not
//! downloaded again; layers download concurrently, a few at a time.

use futures::{StreamExt, TryStreamExt};
use oci_client::Client;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageIndex, OciImageManifest,
};
use oci_client::secrets::RegistryAuth;

use crate::content::{ContentStore, Ingest};
use crate::digest::Digest;
use crate::reference::{ImageRef, is_loopback_registry};
use crate::{Credentials, Error, RegistryConfig};

/// Layers downloaded at the same time by one pull.
const MAX_CONCURRENT_LAYERS: usize = 3;
/// Bytes gathered before one disk write.
const WRITE_BATCH: usize = 1 << 20;
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
/// Longest silence between two reads of a response.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

const MANIFEST_TYPES: &[&str] = &[
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// An image whose manifest, config and layers are all in the content store.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The digest the reference resolved to (the index's when there is one):
    /// what `repo_digests` records.
    pub top_digest: Digest,
    /// The manifest and, if pulled through one, the index.
    pub manifest_digests: Vec<Digest>,
    pub config_digest: Digest,
    pub config_size: u64,
    /// Compressed layer blobs with their sizes, bottom first.
    pub layers: Vec<(Digest, u64)>,
}

/// Fetches `image` for linux/amd64 into `content`.
pub async fn fetch(
    content: &ContentStore,
    image: &ImageRef,
    registries: &RegistryConfig,
    auth: Option<Credentials>,
) -> Result<Fetched, Error> {
    let mut plain_http = registries.insecure_registries.clone();
    if is_loopback_registry(&image.registry) {
        plain_http.push(image.registry.clone());
    }
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(plain_http),
        platform_resolver: Some(Box::new(oci_client::client::linux_amd64_resolver)),
        // A registry that stops answering fails the pull instead of hanging it.
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        ..Default::default()
    });
    let auth = match auth {
        Some(c) if !c.username.is_empty() => RegistryAuth::Basic(c.username, c.password),
        _ => RegistryAuth::Anonymous,
    };
    let reference = image.to_client_ref();
    let registry_err = |source| Error::Registry {
        reference: image.to_string(),
        source,
    };
    let bad = |what: &'static str, reason: String| Error::BadImage {
        reference: image.to_string(),
        what,
        reason,
    };

    // The manifest the reference names: an image manifest or an index.
    let (top_bytes, _) = client
        .pull_manifest_raw(&reference, &auth, MANIFEST_TYPES)
        .await
        .map_err(registry_err)?;
    let top_digest = Digest::of(&top_bytes);
    if let Some(pinned) = &image.digest
        && pinned != &top_digest
    {
        return Err(Error::DigestMismatch {
            object: format!("manifest of {image}"),
            expected: pinned.to_string(),
            actual: top_digest.to_string(),
        });
    }
    content.write_all(&top_digest, &top_bytes)?;
    let mut manifest_digests = vec![top_digest.clone()];

    let manifest_bytes = if is_index(&top_bytes) {
        let index: OciImageIndex =
            serde_json::from_slice(&top_bytes).map_err(|e| bad("index", e.to_string()))?;
        let chosen = oci_client::client::linux_amd64_resolver(&index.manifests)
            .ok_or_else(|| bad("index", "no linux/amd64 manifest".into()))?;
        let chosen = Digest::parse(&chosen)?;
        let by_digest = reference.clone_with_digest(chosen.to_string());
        let (bytes, _) = client
            .pull_manifest_raw(&by_digest, &auth, MANIFEST_TYPES)
            .await
            .map_err(registry_err)?;
        content.write_all(&chosen, &bytes)?;
        manifest_digests.push(chosen);
        bytes
    } else {
        top_bytes
    };
    let manifest: OciImageManifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| bad("manifest", e.to_string()))?;

    let config_digest = Digest::parse(&manifest.config.digest)?;
    if !content.contains(&config_digest) {
        let mut bytes = Vec::new();
        client
            .pull_blob(&reference, &manifest.config, &mut bytes)
            .await
            .map_err(registry_err)?;
        content.write_all(&config_digest, &bytes)?;
    }

    for layer in &manifest.layers {
        if !is_layer_type(&layer.media_type) {
            return Err(bad(
                "manifest",
                format!("unsupported layer media type {:?}", layer.media_type),
            ));
        }
    }
    // Futures collected first: a closure inside the stream type would make the
    // pull future not provably Send.
    let downloads: Vec<_> = manifest
        .layers
        .iter()
        .map(|desc| fetch_blob(&client, content, &reference, desc, image))
        .collect();
    let layers = futures::stream::iter(downloads)
        .buffered(MAX_CONCURRENT_LAYERS)
        .try_collect::<Vec<_>>()
        .await?;

    Ok(Fetched {
        top_digest,
        manifest_digests,
        config_digest,
        config_size: u64::try_from(manifest.config.size).unwrap_or(0),
        layers,
    })
}

/// Streams one blob into the content store unless it is already there.
async fn fetch_blob(
    client: &Client,
    content: &ContentStore,
    reference: &oci_client::Reference,
    desc: &OciDescriptor,
    image: &ImageRef,
) -> Result<(Digest, u64), Error> {
    let digest = Digest::parse(&desc.digest)?;
    let size = u64::try_from(desc.size).unwrap_or(0);
    if content.contains(&digest) {
        return Ok((digest, size));
    }
    let registry_err = |source| Error::Registry {
        reference: image.to_string(),
        source,
    };
    let mut stream = client
        .pull_blob_stream(reference, desc)
        .await
        .map_err(registry_err)?;
    // Disk writes (and the final fsync) run on blocking threads, a batch at a
    // time, so a slow disk does not stall the runtime's workers.
    let mut ingest = content.ingest(&digest)?;
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::io(content.path(&digest), e))?;
        batch.extend_from_slice(&chunk);
        if batch.len() >= WRITE_BATCH {
            ingest = write_batch(ingest, std::mem::take(&mut batch), &digest).await?;
        }
    }
    ingest = write_batch(ingest, batch, &digest).await?;
    tokio::task::spawn_blocking(move || ingest.commit())
        .await
        .map_err(|e| Error::Task(format!("commit of {digest}: {e}")))??;
    tracing::debug!(%digest, size, "layer downloaded");
    Ok((digest, size))
}

/// Appends `batch` to `ingest` on a blocking thread.
async fn write_batch(mut ingest: Ingest, batch: Vec<u8>, digest: &Digest) -> Result<Ingest, Error> {
    if batch.is_empty() {
        return Ok(ingest);
    }
    tokio::task::spawn_blocking(move || ingest.write(&batch).map(|()| ingest))
        .await
        .map_err(|e| Error::Task(format!("download of {digest}: {e}")))?
}

/// True when the manifest bytes are an OCI index or a Docker manifest list.
fn is_index(bytes: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(p) => {
            matches!(
                p.media_type.as_deref(),
                Some(OCI_IMAGE_INDEX_MEDIA_TYPE) | Some(IMAGE_MANIFEST_LIST_MEDIA_TYPE)
            ) || (p.media_type.is_none() && p.manifests.is_some())
        }
        Err(_) => false,
    }
}

/// Tar layers, compressed with gzip or not (what `unpack` reads).
fn is_layer_type(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_manifest_media_types_are_told_apart() {
        assert!(is_index(
            br#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
        ));
        assert!(is_index(br#"{"schemaVersion":2,"manifests":[]}"#));
        assert!(!is_index(
            br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#
        ));
        assert!(!is_layer_type(
            "application/vnd.oci.image.layer.v1.tar+zstd"
        ));
    }

    /// The HTTPS path must have a TLS provider: a connection error, not a panic.
    #[tokio::test]
    async fn https_client_reports_connection_errors() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::Https,
            ..Default::default()
        });
        let reference: oci_client::Reference =
            format!("127.0.0.1:{port}/x:latest").parse().unwrap();
        let result = client
            .pull_manifest_raw(&reference, &RegistryAuth::Anonymous, MANIFEST_TYPES)
            .await;
        assert!(result.is_err());
    }
}
