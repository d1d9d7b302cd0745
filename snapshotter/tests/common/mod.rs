//! Shared by the registry tests: a loopback `docker-registry` (optionally with
//! htpasswd auth and TLS from a test CA), images built in memory and pushed
//! with oci-client (so any manifest shape and layer compression can be
//! tested), a byte-counting TCP proxy that can stall or cut a connection
//! (`proxy`), a token service (`token`), and store helpers. Everything is
//! cleaned up on drop.
#![allow(dead_code)]

pub mod proxy;
pub mod token;

#[allow(unused_imports)] // Not every test binary uses the proxy.
pub use proxy::{Fault, Proxy};

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cradle_snapshotter::{ImageStore, RegistrySettings};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const USER: &str = "cradle";
pub const PASSWORD: &str = "s3cret-pw";

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Root and docker-registry are needed; skips with a message otherwise.
pub fn usable() -> bool {
    if !nix::unistd::geteuid().is_root() {
        cradle_testkit::skip("needs root");
        return false;
    }
    if !Path::new("/usr/bin/docker-registry").exists() {
        cradle_testkit::skip("/usr/bin/docker-registry not installed");
        return false;
    }
    true
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(ip: &str, port: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect((ip, port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "registry did not start: {}",
            fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How a test registry is protected.
#[derive(Default)]
pub struct Options {
    /// Require `USER`/`PASSWORD` (htpasswd, bcrypt).
    pub htpasswd: bool,
    /// Serve HTTPS with a certificate for 127.0.0.1 signed by a fresh CA;
    /// the CA's PEM is written to `<dir>/ca.pem`.
    pub tls: bool,
    /// Accept manifests whose layers name `http://127.0.0.1…` URLs.
    pub allow_urls: bool,
    /// Require tokens from this realm, signed by the cert in this bundle.
    pub token: Option<(String, PathBuf)>,
    /// Listen on [::1] instead of 127.0.0.1.
    pub ipv6: bool,
}

/// A registry process, killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub ca: Option<PathBuf>,
    ipv6: bool,
}

impl Registry {
    pub fn start(dir: &Path) -> Registry {
        Self::start_with(dir, Options::default())
    }

    pub fn start_with(dir: &Path, opts: Options) -> Registry {
        let dir = dir.join(format!("registry-{}", free_port()));
        fs::create_dir_all(&dir).unwrap();
        let (ip, port) = if opts.ipv6 {
            ("::1", free_port_v6())
        } else {
            ("127.0.0.1", free_port())
        };
        let addr = if opts.ipv6 {
            format!("\"[::1]:{port}\"")
        } else {
            format!("127.0.0.1:{port}")
        };
        let storage = dir.join("storage");
        fs::create_dir(&storage).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        let mut ca = None;
        if opts.tls {
            let (cert, key, ca_pem) = test_certificates();
            fs::write(dir.join("cert.pem"), cert).unwrap();
            fs::write(dir.join("key.pem"), key).unwrap();
            fs::write(dir.join("ca.pem"), ca_pem).unwrap();
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.join("cert.pem").display(),
                dir.join("key.pem").display()
            );
            ca = Some(dir.join("ca.pem"));
        }
        if opts.htpasswd {
            let hash = bcrypt::hash(PASSWORD, 4).unwrap();
            fs::write(dir.join("htpasswd"), format!("{USER}:{hash}\n")).unwrap();
            config += &format!(
                "auth:\n  htpasswd:\n    realm: cradle-test\n    path: {}\n",
                dir.join("htpasswd").display()
            );
        }
        if let Some((realm, bundle)) = &opts.token {
            config += &format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                token::SERVICE,
                token::ISSUER,
                bundle.display()
            );
        }
        if opts.allow_urls {
            config += "validation:\n  manifests:\n    urls:\n      allow:\n        - ^http://127\\.0\\.0\\.1\n";
        }
        let config_path = dir.join("registry.yml");
        fs::write(&config_path, config).unwrap();
        let log_path = dir.join("registry.log");
        let log = fs::File::create(&log_path).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let registry = Registry {
            child,
            port,
            ca,
            ipv6: opts.ipv6,
        };
        wait_for_port(ip, port, &log_path);
        registry
    }

    pub fn host(&self) -> String {
        if self.ipv6 {
            format!("[::1]:{}", self.port)
        } else {
            format!("127.0.0.1:{}", self.port)
        }
    }
}

/// A free TCP port on [::1].
pub fn free_port_v6() -> u16 {
    TcpListener::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True when the loopback interface has ::1 (tests on [::1] skip otherwise).
pub fn has_ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// `host/repo:tag` as an oci-client reference; IPv6 literal hosts
/// (`[::1]:5000`), which its parser refuses, are set directly.
pub fn client_ref(host: &str, repo: &str, tag: &str) -> oci_client::Reference {
    if host.starts_with('[') {
        oci_client::Reference::with_tag(host.to_string(), repo.to_string(), tag.to_string())
    } else {
        format!("{host}/{repo}:{tag}").parse().unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (server cert PEM, server key PEM, CA cert PEM) for 127.0.0.1.
fn test_certificates() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "cradle test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    (cert.pem(), key.serialize_pem(), ca.pem())
}

/// A layer: its blob, media type and diff id.
#[derive(Clone)]
pub struct Layer {
    pub blob: Vec<u8>,
    pub media_type: String,
    pub diff_id: String,
    /// Where else the blob can be fetched (foreign layers); a layer with
    /// URLs is not pushed to the registry.
    pub urls: Vec<String>,
}

/// A tar of regular files `(path, content)` (parents created as needed).
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o755);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip_layer(tar: &[u8]) -> Layer {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(tar).unwrap();
    Layer {
        blob: gz.finish().unwrap(),
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        diff_id: sha256(tar),
        urls: Vec::new(),
    }
}

pub fn zstd_layer(tar: &[u8]) -> Layer {
    Layer {
        blob: zstd::encode_all(tar, 3).unwrap(),
        media_type: "application/vnd.oci.image.layer.v1.tar+zstd".into(),
        diff_id: sha256(tar),
        urls: Vec::new(),
    }
}

/// An image: config, layers and the manifest that names them.
#[derive(Clone)]
pub struct TestImage {
    pub config: Vec<u8>,
    pub config_digest: String,
    pub layers: Vec<Layer>,
    pub manifest: Vec<u8>,
    pub manifest_type: &'static str,
    pub manifest_digest: String,
}

impl TestImage {
    /// OCI media types, or Docker schema 2 ones with `docker`.
    pub fn new(layers: Vec<Layer>, arch: &str, docker: bool) -> TestImage {
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "Labels": {"arch": arch}},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        })
        .to_string()
        .into_bytes();
        let config_digest = sha256(&config);
        let (manifest_type, config_type) = if docker {
            (
                DOCKER_MANIFEST,
                "application/vnd.docker.container.image.v1+json",
            )
        } else {
            (OCI_MANIFEST, "application/vnd.oci.image.config.v1+json")
        };
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
            "layers": layers.iter().map(|l| {
                let mut d = serde_json::json!({
                    "mediaType": l.media_type, "digest": sha256(&l.blob), "size": l.blob.len()});
                if !l.urls.is_empty() { d["urls"] = serde_json::json!(l.urls); }
                d
            }).collect::<Vec<_>>(),
        })
        .to_string()
        .into_bytes();
        TestImage {
            manifest_digest: sha256(&manifest),
            config,
            config_digest,
            layers,
            manifest,
            manifest_type,
        }
    }

    /// The size the store reports: config plus compressed layers.
    pub fn size(&self) -> u64 {
        (self.config.len() + self.layers.iter().map(|l| l.blob.len()).sum::<usize>()) as u64
    }
}

fn push_client(tls: bool) -> oci_client::Client {
    oci_client::Client::new(ClientConfig {
        protocol: if tls {
            ClientProtocol::Https
        } else {
            ClientProtocol::Http
        },
        accept_invalid_certificates: true,
        ..Default::default()
    })
}

fn push_auth(htpasswd: bool) -> RegistryAuth {
    if htpasswd {
        RegistryAuth::Basic(USER.into(), PASSWORD.into())
    } else {
        RegistryAuth::Anonymous
    }
}

/// Pushes the image's blobs and manifest as `host/repo:tag`.
pub async fn push(host: &str, repo: &str, tag: &str, image: &TestImage, tls: bool, auth: bool) {
    let client = push_client(tls);
    let reference = client_ref(host, repo, tag);
    client
        .auth(
            &reference,
            &push_auth(auth),
            oci_client::RegistryOperation::Push,
        )
        .await
        .unwrap();
    let mut blobs = vec![image.config.clone()];
    blobs.extend(
        image
            .layers
            .iter()
            .filter(|l| l.urls.is_empty())
            .map(|l| l.blob.clone()),
    );
    // A few at a time: images of hundreds of layers push in seconds.
    use futures::StreamExt;
    let pushes: Vec<_> = blobs
        .into_iter()
        .map(|blob| {
            let (client, reference) = (&client, &reference);
            async move {
                let digest = sha256(&blob);
                client.push_blob(reference, blob, &digest).await.unwrap();
            }
        })
        .collect();
    futures::stream::iter(pushes)
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    push_manifest(&client, &reference, &image.manifest, image.manifest_type).await;
}

async fn push_manifest(
    client: &oci_client::Client,
    reference: &oci_client::Reference,
    bytes: &[u8],
    media_type: &str,
) {
    client
        .push_manifest_raw(
            reference,
            bytes.to_vec(),
            http::HeaderValue::from_str(media_type).unwrap(),
        )
        .await
        .unwrap();
}

/// Pushes each image by digest and an index (or Docker manifest list with
/// `docker`) naming them with `(arch, variant)` platforms as `repo:tag`.
/// Returns the index digest.
pub async fn push_index(
    host: &str,
    repo: &str,
    tag: &str,
    images: &[(&TestImage, &str, Option<&str>)],
    docker: bool,
) -> String {
    for (image, _, _) in images {
        push(
            host,
            repo,
            &image.manifest_digest[7..19],
            image,
            false,
            false,
        )
        .await;
    }
    let index_type = if docker { DOCKER_LIST } else { OCI_INDEX };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": index_type,
        "manifests": images.iter().map(|(img, arch, variant)| {
            let mut platform = serde_json::json!({"os": "linux", "architecture": arch});
            if let Some(v) = variant { platform["variant"] = serde_json::json!(v); }
            serde_json::json!({"mediaType": img.manifest_type, "digest": img.manifest_digest,
                               "size": img.manifest.len(), "platform": platform})
        }).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes();
    let client = push_client(false);
    let reference = client_ref(host, repo, tag);
    push_manifest(&client, &reference, &index, index_type).await;
    sha256(&index)
}

/// Writes `img` as an OCI layout directory named `name` (full reference).
pub fn write_layout(dir: &Path, img: &TestImage, name: &str) {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let mut all = vec![img.config.clone(), img.manifest.clone()];
    all.extend(img.layers.iter().map(|l| l.blob.clone()));
    for b in all {
        fs::write(blobs.join(&sha256(&b)[7..]), b).unwrap();
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": img.manifest_type, "digest": img.manifest_digest, "size": img.manifest.len(),
        "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "v1"}}]});
    fs::write(dir.join("index.json"), index.to_string()).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// A store in `<dir>/root` with its own database.
pub fn open_store(dir: &Path, settings: RegistrySettings) -> ImageStore {
    let db = Arc::new(redb::Database::create(dir.join("meta.redb")).unwrap());
    ImageStore::open(&dir.join("root"), db, settings).unwrap()
}

/// Entries of `dir` (0 when it does not exist).
pub fn count(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}
