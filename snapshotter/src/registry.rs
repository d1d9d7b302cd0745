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

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use oci_client::Client;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE, OciImageIndex, OciImageManifest,
};
use oci_client::secrets::RegistryAuth;

use crate::auth::{self, CredentialsFile, HostAuth};
use crate::digest::Digest;
use crate::download::{Blob, fetch_blob};
use crate::error::Error;
use crate::hosts::{Endpoint, RegistrySettings};
use crate::oauth;
use crate::platform;
use crate::pull::{Pull, registry_error};
use crate::reference::ImageRef;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

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

/// Fetches `image` for this node's platform into the content store, from
/// the first of its endpoints (mirrors, then the registry) that serves it.
pub async fn fetch(pull: &Pull<'_>, image: &ImageRef) -> Result<Fetched, Error> {
    let file = match &pull.settings.credentials_file {
        Some(path) => Some(CredentialsFile::load(path)?),
        None => None,
    };
    let endpoints = pull.settings.endpoints(&image.registry);
    let mut last = None;
    let mut a_mirror_has_no_such_image = false;
    for endpoint in &endpoints {
        let auth = match endpoint_auth(pull, file.as_ref(), image, endpoint).await {
            Ok(auth) => auth,
            Err(e) if endpoint.is_mirror => {
                tracing::warn!(image = %image, mirror = %endpoint.host, error = %e, "mirror credentials failed, trying the next endpoint");
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        match fetch_from(pull, image, endpoint, &auth).await {
            Ok(fetched) => {
                if endpoint.is_mirror {
                    tracing::info!(image = %image, mirror = %endpoint.host, "pulled through mirror");
                }
                return Ok(fetched);
            }
            Err(e) if endpoint.is_mirror => {
                tracing::warn!(image = %image, mirror = %endpoint.host, error = %e, "mirror failed, trying the next endpoint");
                a_mirror_has_no_such_image |= matches!(e, Error::NotFound(_));
                last = Some(e);
            }
            // A mirror that answered "no such image" says more than a
            // registry that cannot be reached (an offline node): the
            // kubelet gets NotFound, as from containerd.
            Err(e) if a_mirror_has_no_such_image && !matches!(e, Error::NotFound(_)) => {
                tracing::warn!(image = %image, registry = %endpoint.host, error = %e, "registry failed after its mirrors had no such image");
                return Err(Error::NotFound(image.to_string()));
            }
            Err(e) => return Err(e),
        }
    }
    // The registry itself is always the last endpoint, so this is unreachable
    // in practice; answer with what the last mirror said.
    Err(last.unwrap_or_else(|| Error::Task(format!("pull of {image}: no endpoint"))))
}

/// The credentials for `endpoint`, an identity token exchanged for an
/// access token to pull `image`'s repository.
async fn endpoint_auth(
    pull: &Pull<'_>,
    file: Option<&CredentialsFile>,
    image: &ImageRef,
    endpoint: &Endpoint,
) -> Result<RegistryAuth, Error> {
    let helpers = pull.settings.credential_helpers_dir.as_deref();
    match auth::for_host(pull.auth, file, helpers, &endpoint.host, &image.registry).await? {
        HostAuth::Ready(auth) => Ok(auth),
        HostAuth::IdentityToken { username, token } => {
            oauth::exchange(endpoint, &image.repository, &username, &token)
                .await
                .map_err(|e| match e {
                    Error::Unauthorized { host, reason, .. } => Error::Unauthorized {
                        reference: image.to_string(),
                        host,
                        reason,
                    },
                    e => e,
                })
        }
    }
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

/// Fetches `image` from one endpoint: its manifest (through the index when
/// there is one), its config, then its layers.
async fn fetch_from(
    pull: &Pull<'_>,
    image: &ImageRef,
    endpoint: &Endpoint,
    auth: &RegistryAuth,
) -> Result<Fetched, Error> {
    let client = client_for(endpoint, pull.settings)?;
    let mut reference = image.to_client_ref();
    if endpoint.is_mirror {
        reference.set_mirror_registry(endpoint.host.clone());
    }
    let source = Source {
        client,
        reference,
        image,
        endpoint,
        auth,
    };
    let (top_digest, manifest_digests, manifest) = fetch_manifest(pull, &source).await?;
    let (config_digest, diff_ids) = fetch_config(pull, &source, &manifest).await?;
    let layers = fetch_layers(pull, &source, &manifest, diff_ids).await?;
    Ok(Fetched {
        top_digest,
        manifest_digests,
        config_digest,
        config_size: u64::try_from(manifest.config.size).unwrap_or(0),
        layers,
    })
}

/// What every request to one endpoint for one image uses.
struct Source<'a> {
    client: Client,
    /// The image's reference, pointed at the mirror when the endpoint is one.
    reference: oci_client::Reference,
    image: &'a ImageRef,
    endpoint: &'a Endpoint,
    auth: &'a RegistryAuth,
}

impl Source<'_> {
    fn registry_err(&self, source: OciDistributionError) -> Error {
        registry_error(self.image, &self.endpoint.host, source)
    }

    /// The image is malformed: its `what` (index, manifest) is refused.
    fn bad(&self, what: &'static str, reason: String) -> Error {
        Error::BadImage {
            reference: self.image.to_string(),
            what,
            reason,
        }
    }
}

/// The manifest the reference names, checked against a pinned digest; when
/// it is an index, the manifest for this node's platform too. Both go into
/// the content store. Returns the top digest, every manifest digest stored,
/// and the image manifest.
async fn fetch_manifest(
    pull: &Pull<'_>,
    source: &Source<'_>,
) -> Result<(Digest, Vec<Digest>, OciImageManifest), Error> {
    let Source {
        client,
        reference,
        image,
        auth,
        ..
    } = source;
    let content = pull.content;
    // The manifest the reference names: an image manifest or an index.
    let (top_bytes, _) = client
        .pull_manifest_raw(reference, auth, MANIFEST_TYPES)
        .await
        .map_err(|e| source.registry_err(e))?;
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
    crate::fault::point("pull.manifest_fetched");
    let mut manifest_digests = vec![top_digest.clone()];

    let manifest_bytes = if is_index(&top_bytes) {
        let index: OciImageIndex =
            serde_json::from_slice(&top_bytes).map_err(|e| source.bad("index", e.to_string()))?;
        let chosen = platform::choose_for_host(&index.manifests).ok_or_else(|| {
            source.bad(
                "index",
                format!("no linux/{} manifest", platform::host_arch()),
            )
        })?;
        let chosen = Digest::parse(&chosen)?;
        let by_digest = reference.clone_with_digest(chosen.to_string());
        let (bytes, _) = client
            .pull_manifest_raw(&by_digest, auth, MANIFEST_TYPES)
            .await
            .map_err(|e| source.registry_err(e))?;
        content.write_all(&chosen, &bytes)?;
        manifest_digests.push(chosen);
        bytes
    } else {
        top_bytes
    };
    let manifest: OciImageManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| source.bad("manifest", e.to_string()))?;
    Ok((top_digest, manifest_digests, manifest))
}

/// The image config, fetched unless the content store has it. Returns its
/// digest and the layers' diff ids (all `None` when their count does not
/// match the layers': the layers then download without unpacking).
async fn fetch_config(
    pull: &Pull<'_>,
    source: &Source<'_>,
    manifest: &OciImageManifest,
) -> Result<(Digest, Vec<Option<Digest>>), Error> {
    let content = pull.content;
    let config_digest = Digest::parse(&manifest.config.digest)?;
    if !content.contains(&config_digest) {
        let mut bytes = Vec::new();
        source
            .client
            .pull_blob(&source.reference, &manifest.config, &mut bytes)
            .await
            .map_err(|e| source.registry_err(e))?;
        content.write_all(&config_digest, &bytes)?;
    }
    // Known before the layers arrive, so each layer unpacks while it
    // downloads (and an image for another platform is refused up front).
    let config =
        crate::image::parse_config(&source.image.to_string(), &content.read(&config_digest)?)?;
    let diff_ids: Vec<Option<Digest>> = if config.diff_ids.len() == manifest.layers.len() {
        config.diff_ids.into_iter().map(Some).collect()
    } else {
        // The commit reports the mismatch; download without unpacking.
        vec![None; manifest.layers.len()]
    };
    Ok((config_digest, diff_ids))
}

/// Every layer of `manifest` (all of a supported type), a few downloads at
/// a time, each unpacked on the way when its diff id is known. Returns the
/// layers' digests and sizes, bottom first.
async fn fetch_layers(
    pull: &Pull<'_>,
    source: &Source<'_>,
    manifest: &OciImageManifest,
    diff_ids: Vec<Option<Digest>>,
) -> Result<Vec<(Digest, u64)>, Error> {
    for layer in &manifest.layers {
        if !is_layer_type(&layer.media_type) {
            return Err(source.bad(
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
        .zip(diff_ids)
        .map(|(desc, diff_id)| {
            fetch_blob(
                pull,
                Blob {
                    client: &source.client,
                    reference: &source.reference,
                    desc,
                    image: source.image,
                    host: &source.endpoint.host,
                },
                diff_id,
            )
        })
        .collect();
    futures::stream::iter(downloads)
        .buffered(pull.settings.max_concurrent_downloads.max(1))
        .try_collect::<Vec<_>>()
        .await
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
