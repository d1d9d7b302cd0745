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
        let parsed = grammar::parse(&rest).map_err(|reason| invalid(reason.into()))?;
        let (registry, repository) = grammar::split_domain(parsed.name);
        if repository.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid("repository name must be lowercase".into()));
        }
        if repository.len() > grammar::NAME_TOTAL_LENGTH_MAX {
            return Err(invalid(format!(
                "repository name must not be more than {} characters",
                grammar::NAME_TOTAL_LENGTH_MAX
            )));
        }
        let digest = parsed
            .digest
            .map(|d| Digest::parse(d).map_err(|e| invalid(e.to_string())))
            .transpose()?;
        let tag = match (parsed.tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(ImageRef {
            registry: ipv6_host.unwrap_or(registry),
            repository,
            tag,
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

/// The distribution reference grammar (`name[:tag][@digest]`, as
/// distribution/reference's regular expression says), checked by hand: the
/// regular expression oci-client compiles for it kept over 7 MiB of the
/// daemon's heap for good after the first pull (issue 17).
mod grammar {
    /// Longest repository name (`library/busybox`) allowed.
    pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
    /// Longest tag allowed.
    const TAG_MAX: usize = 128;

    /// A reference's parts, as written.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Parts<'a> {
        /// `[domain/]path`, not yet normalized.
        pub name: &'a str,
        /// The tag, if given.
        pub tag: Option<&'a str>,
        /// `algorithm:hex`, if given.
        pub digest: Option<&'a str>,
    }

    /// Splits and checks `reference`; the error says which part is wrong.
    pub fn parse(reference: &str) -> Result<Parts<'_>, &'static str> {
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (reference, None),
        };
        if digest.is_some_and(|d| !is_digest(d)) {
            return Err("invalid checksum digest format");
        }
        // A ':' after the last '/' can only start the tag: the name has one
        // only in its domain's port, and a domain is followed by a '/'.
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
                (&rest[..colon], Some(&rest[colon + 1..]))
            }
            _ => (rest, None),
        };
        if tag.is_some_and(|t| !is_tag(t)) {
            return Err("invalid tag format");
        }
        if !is_name(name) {
            return Err("invalid reference format");
        }
        Ok(Parts { name, tag, digest })
    }

    /// `[domain/]component(/component)*`.
    fn is_name(name: &str) -> bool {
        let mut components = name.split('/');
        let Some(first) = components.next() else {
            return false;
        };
        let rest: Vec<&str> = components.collect();
        if rest.is_empty() {
            return is_path_component(first);
        }
        (is_domain(first) || is_path_component(first)) && rest.iter().all(|c| is_path_component(c))
    }

    /// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
    fn is_path_component(c: &str) -> bool {
        let b = c.as_bytes();
        let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &c[start..i];
            let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
            if !ok {
                return false;
            }
        }
        true
    }

    /// `host[:port]`, the host dot-separated labels of letters, digits and
    /// inner hyphens.
    fn is_domain(d: &str) -> bool {
        let (host, port) = match d.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (d, None),
        };
        let label = |l: &str| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        };
        host.split('.').all(label)
            && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|x| x.is_ascii_digit()))
    }

    /// `[\w][\w.-]{0,127}`.
    fn is_tag(t: &str) -> bool {
        let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
        let b = t.as_bytes();
        !b.is_empty()
            && b.len() <= TAG_MAX
            && word(b[0])
            && b.iter().all(|x| word(*x) || *x == b'.' || *x == b'-')
    }

    /// `algorithm:hex`, the algorithm letter-led components joined by
    /// `-_+.`, the hex at least 32 digits.
    fn is_digest(d: &str) -> bool {
        let Some((algorithm, hex)) = d.split_once(':') else {
            return false;
        };
        let component = |c: &str| {
            let b = c.as_bytes();
            !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
        };
        algorithm.split(['-', '_', '+', '.']).all(component)
            && hex.len() >= 32
            && hex.bytes().all(|x| x.is_ascii_hexdigit())
    }

    /// Registry and repository of a checked name, normalized as Docker
    /// does: no domain means Docker Hub, whose single-component names are
    /// under `library/`.
    pub fn split_domain(name: &str) -> (String, String) {
        let (domain, remainder) = match name.split_once('/') {
            Some((left, right))
                if left.contains('.') || left.contains(':') || left == "localhost" =>
            {
                (left, right)
            }
            _ => ("docker.io", name),
        };
        let domain = if domain == "index.docker.io" {
            "docker.io"
        } else {
            domain
        };
        let remainder = if domain == "docker.io" && !remainder.contains('/') {
            format!("library/{remainder}")
        } else {
            remainder.to_string()
        };
        (domain.to_string(), remainder)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn names_tags_and_digests_split_as_the_grammar_says() {
            let hex = "a".repeat(64);
            let with_digest = format!("h.io:5000/a/b:t@sha256:{hex}");
            let p = parse(&with_digest).unwrap();
            assert_eq!(p.name, "h.io:5000/a/b");
            assert_eq!(p.tag, Some("t"));
            assert_eq!(p.digest, Some(format!("sha256:{hex}").as_str()));
            // No '/': the colon starts a tag, never a port.
            assert_eq!(parse("test.com:5000").unwrap().tag, Some("5000"));
            assert_eq!(parse("h:5000/x").unwrap().tag, None);
            for good in [
                "a",
                "a-b",
                "a--b",
                "a__b",
                "a.b_c",
                "Host.Example/x",
                "localhost:1/x_y",
                "a/b/c:v1.0-rc_1",
            ] {
                assert!(parse(good).is_ok(), "{good:?} refused");
            }
            for bad in [
                "",
                "a b",
                "-a",
                "a-",
                "a___b",
                "a..b",
                "a/",
                "/a",
                "a//b",
                "A",
                "-h/x",
                "h:/x",
                "h:p/x",
                "a:",
                "a:-t",
                "a:t/x",
                "a@sha256:abc",
                "a@:0123456789abcdef0123456789abcdef",
                "a@1sha:0123456789abcdef0123456789abcdef",
            ] {
                assert!(parse(bad).is_err(), "{bad:?} accepted");
            }
            assert!(parse(&format!("a:{}", "t".repeat(128))).is_ok());
            assert!(parse(&format!("a:{}", "t".repeat(129))).is_err());
        }

        #[test]
        fn the_same_references_as_oci_clients_regular_expression() {
            let hex = "0123456789abcdef".repeat(4);
            let inputs = [
                "busybox".to_string(),
                "busybox:1.36".into(),
                "team/app:v1".into(),
                "quay.io/org/app".into(),
                "registry.k8s.io/pause:3.10".into(),
                "127.0.0.1:5000/x/y_z:t".into(),
                "localhost:5000/a".into(),
                "index.docker.io/x".into(),
                format!("busybox@sha256:{hex}"),
                format!("h.io/a:t@sha256:{hex}"),
                "a--b/c__d.e".into(),
                "UPPER/case".into(),
                "test.com:tag".into(),
                "a b".into(),
                "a:".into(),
                "a@sha256:abc".into(),
                "-a/b".into(),
                "h:/x".into(),
                "a/".into(),
                "a___b".into(),
            ];
            for input in &inputs {
                let theirs = input.parse::<oci_client::Reference>();
                let ours = parse(input).map(|p| (split_domain(p.name), p.tag, p.digest));
                match (&theirs, &ours) {
                    (Ok(r), Ok(((registry, repository), tag, digest))) => {
                        assert_eq!(r.registry(), registry, "{input}");
                        assert_eq!(r.repository(), repository, "{input}");
                        let tag = tag.or(digest.is_none().then_some("latest"));
                        assert_eq!(r.tag(), tag, "{input}");
                        assert_eq!(r.digest(), *digest, "{input}");
                    }
                    (Err(_), Err(_)) => {}
                    _ => panic!("{input:?}: oci-client {theirs:?}, ours {ours:?}"),
                }
            }
        }

        #[test]
        fn domains_are_normalized_as_docker_does() {
            let s = |n| split_domain(n);
            assert_eq!(s("busybox"), ("docker.io".into(), "library/busybox".into()));
            assert_eq!(s("team/app"), ("docker.io".into(), "team/app".into()));
            assert_eq!(
                s("index.docker.io/x"),
                ("docker.io".into(), "library/x".into())
            );
            assert_eq!(s("localhost/x"), ("localhost".into(), "x".into()));
            assert_eq!(s("h:5/x/y"), ("h:5".into(), "x/y".into()));
        }
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
