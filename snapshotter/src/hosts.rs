//! Registry settings: per-host mirrors, plain HTTP, custom CAs, credentials
//! file, download limits.
//!
//! Modelled on containerd's `hosts.toml`, flattened into the daemon's TOML:
//!
//! ```toml
//! [registry]
//! credentials_file = "/etc/cradle/auth.json"   # docker config.json format
//! credential_helpers_dir = "/usr/local/bin"     # docker-credential-* (default: PATH)
//! stall_timeout_secs = 60
//! max_concurrent_downloads = 3
//! [registry.hosts."docker.io"]
//! mirrors = ["mirror.local:5000"]              # tried in order, then docker.io
//!                                              # (a URL's http:// or https:// is honoured)
//! [registry.hosts."mirror.local:5000"]
//! plain_http = true
//! [registry.hosts."registry.corp:443"]
//! ca = "/etc/cradle/certs/corp-ca.pem"         # PEM, trusted for this host only
//! ```
//!
//! This module only turns settings into the ordered list of [`Endpoint`]s a
//! pull tries; speaking to them is `registry`'s job.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::reference::is_loopback_registry;

/// Default for [`RegistrySettings::max_concurrent_downloads`].
pub const DEFAULT_MAX_CONCURRENT_DOWNLOADS: usize = 3;
/// Default for [`RegistrySettings::stall_timeout_secs`].
pub const DEFAULT_STALL_TIMEOUT_SECS: u64 = 60;

/// Everything about where and how to pull: the daemon's `[registry]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrySettings {
    /// Hosts spoken to over plain HTTP (same as `plain_http` in `hosts`).
    /// Loopback registries are too, unless they have a `hosts` entry.
    pub insecure_registries: Vec<String>,
    /// A docker `config.json` whose `auths` supply credentials for hosts the
    /// request's `AuthConfig` does not cover. Read at each pull, so edits
    /// apply without a restart.
    pub credentials_file: Option<PathBuf>,
    /// Where the `docker-credential-<name>` helpers named by the credentials
    /// file's `credHelpers` and `credsStore` are; unset: the daemon's `PATH`.
    pub credential_helpers_dir: Option<PathBuf>,
    /// Per registry host (`host` or `host:port`, `docker.io` for Docker Hub).
    pub hosts: BTreeMap<String, HostConfig>,
    /// Layers one pull downloads at the same time.
    pub max_concurrent_downloads: usize,
    /// A download that receives no byte for this long is cancelled.
    pub stall_timeout_secs: u64,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            insecure_registries: Vec::new(),
            credentials_file: None,
            credential_helpers_dir: None,
            hosts: BTreeMap::new(),
            max_concurrent_downloads: DEFAULT_MAX_CONCURRENT_DOWNLOADS,
            stall_timeout_secs: DEFAULT_STALL_TIMEOUT_SECS,
        }
    }
}

impl From<RegistryConfig> for RegistrySettings {
    fn from(c: RegistryConfig) -> Self {
        RegistrySettings {
            insecure_registries: c.insecure_registries,
            ..Default::default()
        }
    }
}

/// Where and how to pull: the original, minimal form of
/// [`RegistrySettings`] (which [`crate::ImageStore::open`] also accepts).
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// Registry hosts (`host` or `host:port`) spoken to over plain HTTP.
    /// Loopback registries (`127.0.0.1`, `localhost`, `[::1]`) always are;
    /// IPv6 literal hosts are written in brackets (`[::1]:5000/image:tag`).
    pub insecure_registries: Vec<String>,
}

/// Settings of one registry host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostConfig {
    /// Hosts serving the same content (`host:port`, or a URL whose
    /// `http://`/`https://` decides the protocol), tried in order before
    /// this one. A mirror's other connection settings come from its own
    /// `hosts` entry.
    pub mirrors: Vec<String>,
    /// Speak plain HTTP to this host.
    pub plain_http: bool,
    /// A PEM file of CA certificates trusted (in addition to the system's)
    /// for this host.
    pub ca: Option<PathBuf>,
    /// Accept any certificate (testing only).
    pub skip_verify: bool,
}

/// One place to pull from, with how to connect to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host` or `host:port`.
    pub host: String,
    /// Speak plain HTTP to it.
    pub plain_http: bool,
    /// A PEM file of extra CA certificates trusted for it.
    pub ca: Option<PathBuf>,
    /// Accept any certificate from it (testing only).
    pub skip_verify: bool,
    /// False for the image's own registry.
    pub is_mirror: bool,
}

impl RegistrySettings {
    /// The stall timeout as a duration (at least one second).
    pub fn stall_timeout(&self) -> Duration {
        Duration::from_secs(self.stall_timeout_secs.max(1))
    }

    /// Where to pull images of `registry` from: its mirrors in order, then
    /// the registry itself.
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .host(registry)
            .map(|h| h.mirrors.clone())
            .unwrap_or_default()
            .iter()
            .map(|m| split_scheme(m))
            .filter(|(host, _)| *host != registry)
            .map(|(host, scheme)| {
                let mut endpoint = self.endpoint(host, true);
                // A scheme in the mirror's URL says how to speak to it.
                match scheme {
                    Some(Scheme::Http) => endpoint.plain_http = true,
                    Some(Scheme::Https) => endpoint.plain_http = false,
                    None => {}
                }
                endpoint
            })
            .collect();
        out.push(self.endpoint(registry, false));
        out
    }

    fn host(&self, host: &str) -> Option<&HostConfig> {
        self.hosts.get(host).or_else(|| {
            let hub = ["docker.io", "index.docker.io", "registry-1.docker.io"];
            if hub.contains(&host) {
                hub.iter().find_map(|h| self.hosts.get(*h))
            } else {
                None
            }
        })
    }

    /// A host with its own `hosts` entry is spoken to as that entry says;
    /// without one, loopback hosts and `insecure_registries` are plain HTTP.
    fn endpoint(&self, host: &str, is_mirror: bool) -> Endpoint {
        let configured = self.host(host);
        let cfg = configured.cloned().unwrap_or_default();
        Endpoint {
            host: host.to_string(),
            plain_http: cfg.plain_http
                || (configured.is_none() && is_loopback_registry(host))
                || self.insecure_registries.iter().any(|h| h == host),
            ca: cfg.ca,
            skip_verify: cfg.skip_verify,
            is_mirror,
        }
    }
}

/// The scheme a mirror was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

/// `http://host:port/path` → (`host:port`, Some(Http)); a bare `host:port`
/// → (itself, None). Mirrors may be written either way (containerd's
/// `hosts.toml` uses URLs).
fn split_scheme(mirror: &str) -> (&str, Option<Scheme>) {
    let (rest, scheme) = if let Some(r) = mirror.strip_prefix("http://") {
        (r, Some(Scheme::Http))
    } else if let Some(r) = mirror.strip_prefix("https://") {
        (r, Some(Scheme::Https))
    } else {
        (mirror, None)
    };
    (rest.split('/').next().unwrap_or(rest), scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_load_from_the_daemon_toml_shape() {
        #[derive(Deserialize)]
        struct Daemon {
            registry: RegistrySettings,
        }
        let d: Daemon = toml::from_str(
            r#"
            [registry]
            credentials_file = "/etc/cradle/auth.json"
            stall_timeout_secs = 5
            [registry.hosts."docker.io"]
            mirrors = ["m1:5000", "m2"]
            [registry.hosts."m1:5000"]
            plain_http = true
            [registry.hosts."m2"]
            ca = "/ca.pem"
            "#,
        )
        .unwrap();
        let s = d.registry;
        assert_eq!(s.max_concurrent_downloads, DEFAULT_MAX_CONCURRENT_DOWNLOADS);
        assert_eq!(s.stall_timeout(), Duration::from_secs(5));
        let eps = s.endpoints("docker.io");
        let hosts: Vec<_> = eps.iter().map(|e| e.host.as_str()).collect();
        assert_eq!(hosts, ["m1:5000", "m2", "docker.io"]);
        assert!(eps[0].plain_http && eps[0].is_mirror);
        assert_eq!(eps[1].ca.as_deref(), Some(std::path::Path::new("/ca.pem")));
        assert!(!eps[1].plain_http);
        assert!(!eps[2].is_mirror && !eps[2].plain_http);
    }

    #[test]
    fn mirrors_written_as_urls_take_their_scheme() {
        let mut s = RegistrySettings::default();
        s.hosts.insert(
            "docker.io".into(),
            HostConfig {
                mirrors: vec![
                    "http://m1.lan:5000".into(),
                    "https://m2.lan/v2/".into(),
                    "http://[::1]:5001".into(),
                ],
                ..Default::default()
            },
        );
        let eps = s.endpoints("docker.io");
        let hosts: Vec<_> = eps.iter().map(|e| e.host.as_str()).collect();
        assert_eq!(hosts, ["m1.lan:5000", "m2.lan", "[::1]:5001", "docker.io"]);
        assert!(eps[0].plain_http && !eps[1].plain_http && eps[2].plain_http);
        assert!(eps[..3].iter().all(|e| e.is_mirror));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<RegistrySettings>("mirorrs = []").is_err());
    }

    #[test]
    fn loopback_and_insecure_hosts_are_plain_http() {
        let s = RegistrySettings::from(RegistryConfig {
            insecure_registries: vec!["reg.lan:5000".into()],
        });
        assert!(s.endpoints("reg.lan:5000")[0].plain_http);
        assert!(s.endpoints("127.0.0.1:5000")[0].plain_http);
        assert!(!s.endpoints("quay.io")[0].plain_http);
        assert!(s.endpoints("[::1]:5000")[0].plain_http);
        assert!(!s.endpoints("[fd00::1]:5000")[0].plain_http);
        // An explicit entry (e.g. a CA for a loopback TLS registry) wins.
        let mut s = s;
        s.hosts.insert(
            "127.0.0.1:5443".into(),
            HostConfig {
                ca: Some("/ca.pem".into()),
                ..Default::default()
            },
        );
        assert!(!s.endpoints("127.0.0.1:5443")[0].plain_http);
        s.hosts.insert(
            "[::1]:5443".into(),
            HostConfig {
                mirrors: vec!["[::1]:6000".into()],
                ..Default::default()
            },
        );
        let eps = s.endpoints("[::1]:5443");
        assert_eq!(eps[0].host, "[::1]:6000");
        assert!(eps[0].plain_http && !eps[1].plain_http);
    }
}
