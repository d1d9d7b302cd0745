//! Image references: parsing and normalization.
//!
//! Every reference the store records or compares is normalized the way the
//! kubelet and containerd do it (`busybox` → `docker.io/library/busybox:latest`),
//! so `resolve("busybox")` finds what `pull("docker.io/library/busybox")` stored.

use crate::digest::{Digest, is_hex};
use crate::error::Error;

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `docker.io`, `127.0.0.1:5000`, `registry.example.com`.
    pub registry: String,
    /// `library/busybox`, `team/app`.
    pub repository: String,
    /// The tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// The digest when the reference pins one.
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// Parses `reference`, applying Docker's normalization rules.
    pub fn parse(reference: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidReference {
            reference: reference.to_string(),
            reason,
        };
        if reference.is_empty() {
            return Err(invalid("empty reference".into()));
        }
        if reference.starts_with("sha256:") || (reference.len() == 64 && is_hex(reference)) {
            return Err(invalid("an image id is not a pullable reference".into()));
        }
        // The distribution grammar has no IPv6 literal hosts (`[::1]:5000/x`):
        // split one off and parse the rest under a placeholder host.
        let (ipv6_host, rest) = match split_ipv6_host(reference) {
            Some(Ok((host, rest))) => (Some(host), format!("{IPV6_PLACEHOLDER}/{rest}")),
            Some(Err(reason)) => return Err(invalid(reason)),
            None => (None, reference.to_string()),
        };
        let parsed: oci_client::Reference = rest
            .parse()
            .map_err(|e: oci_client::ParseError| invalid(e.to_string()))?;
        if parsed.repository().bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid("repository name must be lowercase".into()));
        }
        let digest = parsed
            .digest()
            .map(|d| Digest::parse(d).map_err(|e| invalid(e.to_string())))
            .transpose()?;
        Ok(ImageRef {
            registry: ipv6_host.unwrap_or_else(|| parsed.registry().to_string()),
            repository: parsed.repository().to_string(),
            tag: parsed.tag().map(str::to_string),
            digest,
        })
    }

    /// `registry/repository`, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The normalized tag reference (`name:tag`), if the reference has a tag.
    pub fn tagged(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name()))
    }

    /// The digest reference `name@digest` for `digest`.
    pub fn with_digest(&self, digest: &Digest) -> String {
        format!("{}@{digest}", self.name())
    }

    /// The reference in the form oci-client pulls: by digest when pinned.
    pub(crate) fn to_client_ref(&self) -> oci_client::Reference {
        match &self.digest {
            Some(d) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                d.to_string(),
            ),
            None => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                self.tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        }
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Stands in for an IPv6 literal host while the rest of a reference parses.
const IPV6_PLACEHOLDER: &str = "ipv6-literal.invalid";

/// `[addr]` or `[addr]:port` at the start of `reference`, followed by `/`:
/// `Some(Ok((host, rest after the slash)))`; `None` when the reference does
/// not start with `[`.
fn split_ipv6_host(reference: &str) -> Option<Result<(String, &str), String>> {
    let inner_and_rest = reference.strip_prefix('[')?;
    Some((|| {
        let (addr, after) = inner_and_rest
            .split_once(']')
            .ok_or("unterminated [ in the registry host")?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{addr:?} is not an IPv6 address"))?;
        let (port, rest) = after
            .split_once('/')
            .ok_or("a registry host needs a repository after it")?;
        if !port.is_empty() {
            let digits = port
                .strip_prefix(':')
                .ok_or_else(|| format!("unexpected {port:?} after the IPv6 host"))?;
            digits
                .parse::<u16>()
                .map_err(|_| format!("bad port {digits:?}"))?;
        }
        Ok((format!("[{addr}]{port}"), rest))
    })())
}

/// True for a loopback registry host (with or without port), which is always
/// spoken to over plain HTTP.
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        // [::1]:5000 or [::1]
        rest.split(']').next().unwrap_or(rest)
    } else {
        registry.split(':').next().unwrap_or(registry)
    };
    host == "localhost"
        || host.parse::<std::net::Ipv6Addr>().is_ok_and(|ip| {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        })
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_name_normalizes_to_docker_hub_library_latest() {
        let r = ImageRef::parse("busybox").unwrap();
        assert_eq!(r.tagged().unwrap(), "docker.io/library/busybox:latest");
        assert_eq!(r.name(), "docker.io/library/busybox");
    }

    #[test]
    fn user_repo_on_docker_hub_keeps_namespace() {
        let r = ImageRef::parse("team/app:1.2").unwrap();
        assert_eq!(r.tagged().unwrap(), "docker.io/team/app:1.2");
    }

    #[test]
    fn host_port_repo_tag_is_kept() {
        let r = ImageRef::parse("127.0.0.1:5000/busybox:v1").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "busybox");
        assert_eq!(r.tagged().unwrap(), "127.0.0.1:5000/busybox:v1");
    }

    #[test]
    fn ipv6_literal_registry_hosts_parse_with_port_tag_and_digest() {
        let r = ImageRef::parse("[::1]:5000/busybox:v1").unwrap();
        assert_eq!(r.registry, "[::1]:5000");
        assert_eq!(r.repository, "busybox");
        assert_eq!(r.tagged().unwrap(), "[::1]:5000/busybox:v1");
        let r = ImageRef::parse("[fd00::1]/team/app").unwrap();
        assert_eq!(r.registry, "[fd00::1]");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        let hex = "b".repeat(64);
        let r = ImageRef::parse(&format!("[::1]:5000/x:t@sha256:{hex}")).unwrap();
        assert_eq!(r.digest.as_ref().unwrap().hex(), hex);
        assert_eq!(r.to_string(), format!("[::1]:5000/x:t@sha256:{hex}"));
        // Round trip through Display, as records compare references.
        assert_eq!(ImageRef::parse(&r.to_string()).unwrap(), r);
        let c = r.to_client_ref();
        assert_eq!(c.registry(), "[::1]:5000");
        for bad in [
            "[::1:5000/x",
            "[zz::1]:5000/x",
            "[::1]:port/x",
            "[::1]:5000",
            "[::1]x/y",
            "[::1]:5000/UPPER",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn localhost_is_a_registry_host() {
        let r = ImageRef::parse("localhost/app").unwrap();
        assert_eq!(r.tagged().unwrap(), "localhost/app:latest");
    }

    #[test]
    fn digest_reference_has_no_tag() {
        let hex = "a".repeat(64);
        let r = ImageRef::parse(&format!("busybox@sha256:{hex}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_ref().unwrap().hex(), hex);
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/busybox@sha256:{hex}")
        );
    }

    #[test]
    fn invalid_references_are_rejected() {
        for bad in ["", "UPPER/case", "busybox@sha256:abc", "a b"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn loopback_registries_are_detected() {
        assert!(is_loopback_registry("127.0.0.1:5000"));
        assert!(is_loopback_registry("localhost"));
        assert!(is_loopback_registry("localhost:5000"));
        assert!(is_loopback_registry("[::1]:5000"));
        assert!(is_loopback_registry("[::1]"));
        assert!(is_loopback_registry("[0:0:0:0:0:0:0:1]:5000"));
        assert!(is_loopback_registry("[::ffff:127.0.0.1]:5000"));
        assert!(!is_loopback_registry("[fd00::1]:5000"));
        assert!(!is_loopback_registry("[::2]:5000"));
        assert!(!is_loopback_registry("docker.io"));
        assert!(!is_loopback_registry("10.0.0.1:5000"));
    }
}
