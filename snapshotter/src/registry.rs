//! Fetching an image from a registry into the content store.
//!
//! oci-client speaks the distribution protocol (auth challenges, redirects);
//! this module decides what to fetch and verifies every byte: the manifest
//! (and index) against the pinned digest, every blob against its descriptor
//! while it streams into the content store. Blobs already present are not
//! downloaded again; layers download concurrently, a few at a time, and a
//! blob another pull is downloading is waited for, not fetched twice. Each
//! endpoint (mirrors first, then the registry) gets its own client, because
//! protocol, CA and credentials are per host. A download that receives
//! nothing for the stall timeout is cancelled, and its ingest file deleted.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use oci_client::Client;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageIndex, OciImageManifest,
};
use oci_client::secrets::RegistryAuth;

use crate::auth::{self, AuthConfig, CredentialsFile};
use crate::content::{ContentStore, Ingest};
use crate::digest::Digest;
use crate::hosts::{Endpoint, RegistrySettings};
use crate::inflight::InFlight;
use crate::reference::ImageRef;
use crate::{Error, platform};

/// Bytes gathered before one disk write.
const WRITE_BATCH: usize = 1 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How often a running download logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

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

/// What one pull needs besides the image reference.
pub struct Pull<'a> {
    pub content: &'a ContentStore,
    pub settings: &'a RegistrySettings,
    pub auth: Option<&'a AuthConfig>,
    /// Shared by all pulls of the store: one download per digest at a time.
    pub inflight: &'a InFlight,
}

/// Fetches `image` for this node's platform into the content store, from
/// the first of its endpoints (mirrors, then the registry) that serves it.
pub async fn fetch(pull: &Pull<'_>, image: &ImageRef) -> Result<Fetched, Error> {
    let file = match &pull.settings.credentials_file {
        Some(path) => Some(CredentialsFile::load(path)?),
        None => None,
    };
    let endpoints = pull.settings.endpoints(&image.registry);
    let mut last = None;
    for endpoint in &endpoints {
        let auth = auth::for_host(pull.auth, file.as_ref(), &endpoint.host, &image.registry)?;
        match fetch_from(pull, image, endpoint, &auth).await {
            Ok(fetched) => {
                if endpoint.is_mirror {
                    tracing::info!(image = %image, mirror = %endpoint.host, "pulled through mirror");
                }
                return Ok(fetched);
            }
            Err(e) if endpoint.is_mirror => {
                tracing::warn!(image = %image, mirror = %endpoint.host, error = %e, "mirror failed, trying the next endpoint");
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    // The registry itself is always the last endpoint, so this is unreachable
    // in practice; answer with what the last mirror said.
    Err(last.unwrap_or_else(|| Error::Task(format!("pull of {image}: no endpoint"))))
}

/// One client per endpoint: protocol, CA and verification are per host.
fn client_for(endpoint: &Endpoint, settings: &RegistrySettings) -> Result<Client, Error> {
    let mut extra_root_certificates = Vec::new();
    if let Some(ca) = &endpoint.ca {
        let data = std::fs::read(ca).map_err(|e| Error::io(ca, e))?;
        extra_root_certificates.push(Certificate {
            encoding: CertificateEncoding::Pem,
            data,
        });
    }
    let config = ClientConfig {
        protocol: if endpoint.plain_http {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        extra_root_certificates,
        accept_invalid_certificates: endpoint.skip_verify,
        platform_resolver: Some(Box::new(platform::choose_for_host)),
        // A registry that stops answering fails the pull instead of hanging it.
        connect_timeout: Some(CONNECT_TIMEOUT),
        // Longer than the stall timeout, so a stalled blob reports as such.
        read_timeout: Some(settings.stall_timeout() + Duration::from_secs(5)),
        ..Default::default()
    };
    Client::try_from(config).map_err(|source| Error::Registry {
        reference: endpoint.host.clone(),
        source,
    })
}

/// Maps a registry failure, calling out refused credentials.
fn registry_error(image: &ImageRef, host: &str, source: OciDistributionError) -> Error {
    match source {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => Error::Unauthorized {
            reference: image.to_string(),
            host: host.to_string(),
            reason: source.to_string(),
        },
        OciDistributionError::RegistryError { ref envelope, .. }
            if envelope
                .errors
                .iter()
                .any(|e| format!("{:?}", e.code).contains("Unauthorized")) =>
        {
            Error::Unauthorized {
                reference: image.to_string(),
                host: host.to_string(),
                reason: source.to_string(),
            }
        }
        source => Error::Registry {
            reference: image.to_string(),
            source,
        },
    }
}

async fn fetch_from(
    pull: &Pull<'_>,
    image: &ImageRef,
    endpoint: &Endpoint,
    auth: &RegistryAuth,
) -> Result<Fetched, Error> {
    let client = client_for(endpoint, pull.settings)?;
    let content = pull.content;
    let mut reference = image.to_client_ref();
    if endpoint.is_mirror {
        reference.set_mirror_registry(endpoint.host.clone());
    }
    let registry_err = |source| registry_error(image, &endpoint.host, source);
    let bad = |what: &'static str, reason: String| Error::BadImage {
        reference: image.to_string(),
        what,
        reason,
    };

    // The manifest the reference names: an image manifest or an index.
    let (top_bytes, _) = client
        .pull_manifest_raw(&reference, auth, MANIFEST_TYPES)
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
        let chosen = platform::choose_for_host(&index.manifests).ok_or_else(|| {
            bad(
                "index",
                format!("no linux/{} manifest", platform::host_arch()),
            )
        })?;
        let chosen = Digest::parse(&chosen)?;
        let by_digest = reference.clone_with_digest(chosen.to_string());
        let (bytes, _) = client
            .pull_manifest_raw(&by_digest, auth, MANIFEST_TYPES)
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
        .map(|desc| fetch_blob(&client, pull, &reference, desc, image, &endpoint.host))
        .collect();
    let layers = futures::stream::iter(downloads)
        .buffered(pull.settings.max_concurrent_downloads.max(1))
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

/// Streams one blob into the content store unless it is already there (or
/// another pull is fetching it: then this one waits and reuses it).
async fn fetch_blob(
    client: &Client,
    pull: &Pull<'_>,
    reference: &oci_client::Reference,
    desc: &OciDescriptor,
    image: &ImageRef,
    host: &str,
) -> Result<(Digest, u64), Error> {
    let content = pull.content;
    let digest = Digest::parse(&desc.digest)?;
    let size = u64::try_from(desc.size).unwrap_or(0);
    let _claim = pull.inflight.claim(&digest).await;
    if content.contains(&digest) {
        return Ok((digest, size));
    }
    let stall = pull.settings.stall_timeout();
    let mut stream = client
        .pull_blob_stream(reference, desc)
        .await
        .map_err(|e| registry_error(image, host, e))?;
    // Disk writes (and the final fsync) run on blocking threads, a batch at a
    // time, so a slow disk does not stall the runtime's workers. The ingest
    // file is deleted if anything below fails or the pull is dropped.
    let mut ingest = content.ingest(&digest)?;
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    let started = Instant::now();
    let mut last_report = started;
    let mut received: u64 = 0;
    loop {
        let next = tokio::time::timeout(stall, stream.next())
            .await
            .map_err(|_| Error::Stalled {
                reference: image.to_string(),
                digest: digest.to_string(),
                received,
                secs: stall.as_secs(),
            })?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| Error::Download {
            reference: image.to_string(),
            digest: digest.to_string(),
            received,
            source: e,
        })?;
        received += chunk.len() as u64;
        batch.extend_from_slice(&chunk);
        if batch.len() >= WRITE_BATCH {
            ingest = write_batch(ingest, std::mem::take(&mut batch), &digest).await?;
        }
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            tracing::info!(image = %image, layer = %digest, received, size, rate_mib_s = rate(received, started), "downloading");
        }
    }
    ingest = write_batch(ingest, batch, &digest).await?;
    let d = digest.clone();
    tokio::task::spawn_blocking(move || ingest.commit())
        .await
        .map_err(|e| Error::Task(format!("commit of {d}: {e}")))??;
    tracing::info!(image = %image, layer = %digest, bytes = received, secs = started.elapsed().as_secs_f64(), rate_mib_s = rate(received, started), "layer downloaded");
    Ok((digest, size))
}

/// MiB/s since `started`, rounded to 0.1.
fn rate(bytes: u64, started: Instant) -> f64 {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    (bytes as f64 / (1024.0 * 1024.0) / secs * 10.0).round() / 10.0
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
pub(crate) fn is_index(bytes: &[u8]) -> bool {
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

/// Tar layers, uncompressed or compressed with gzip or zstd (what `unpack`
/// reads), including the non-distributable ("foreign") kinds: those are
/// asked of the registry first and, if it lacks them, of the descriptor's
/// `urls` (oci-client does this, sending no credentials there, as the spec
/// and CVE-2020-15157 require).
pub(crate) fn is_layer_type(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar"
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
        assert!(is_layer_type("application/vnd.oci.image.layer.v1.tar+zstd"));
        assert!(!is_layer_type("application/vnd.oci.image.config.v1+json"));
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
