//! Image references: parsing and normalization.
//!
//! Every reference the store records or compares is normalized the way the
//! kubelet and containerd do it (`busybox` → `docker.io/library/busybox:latest`),
//! so `resolve("busybox")` finds what `pull("docker.io/library/busybox")` stored.

use crate::Error;
use crate::digest::Digest;

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
        let parsed: oci_client::Reference = reference
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
            registry: parsed.registry().to_string(),
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
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// True when `s` is non-empty lowercase hex (an image id or id prefix).
pub fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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
        assert!(!is_loopback_registry("docker.io"));
        assert!(!is_loopback_registry("10.0.0.1:5000"));
    }
}
