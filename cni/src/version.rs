//! CNI spec versions: which verbs a configuration's `cniVersion` allows.
//!
//! CHECK came with 0.4.0, STATUS and GC with 1.1.0; a runtime must not send
//! a verb to a network whose declared version predates it.

/// A parsed `major.minor.patch` version; missing parts count as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SpecVersion(pub u32, pub u32, pub u32);

impl SpecVersion {
    /// Parses `1.0.0`, `0.4` or `1`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        let mut next = || -> Option<u32> {
            match parts.next() {
                Some(p) => p.parse().ok(),
                None => Some(0),
            }
        };
        let version = SpecVersion(next()?, next()?, next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(version)
    }
}

/// The oldest version this client speaks: 0.3.x results have the 0.4.0
/// shape, and many deployed configurations still declare 0.3.1 (they get
/// ADD and DEL, not CHECK).
pub const OLDEST: SpecVersion = SpecVersion(0, 3, 0);
const CHECK_SINCE: SpecVersion = SpecVersion(0, 4, 0);
const STATUS_GC_SINCE: SpecVersion = SpecVersion(1, 1, 0);

/// Whether a network of this `cniVersion` may receive CHECK.
pub fn supports_check(version: &str) -> bool {
    SpecVersion::parse(version).is_some_and(|v| v >= CHECK_SINCE)
}

/// Whether a network of this `cniVersion` may receive STATUS and GC.
pub fn supports_status_and_gc(version: &str) -> bool {
    SpecVersion::parse(version).is_some_and(|v| v >= STATUS_GC_SINCE)
}

/// Whether this client can drive a network of this `cniVersion` at all.
pub fn is_supported(version: &str) -> bool {
    SpecVersion::parse(version).is_some_and(|v| v >= OLDEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_missing_parts_as_zero() {
        assert_eq!(SpecVersion::parse("1.1.0"), Some(SpecVersion(1, 1, 0)));
        assert_eq!(SpecVersion::parse("0.4"), Some(SpecVersion(0, 4, 0)));
        assert_eq!(SpecVersion::parse("x"), None);
        assert_eq!(SpecVersion::parse("1.0.0.0"), None);
    }

    #[test]
    fn verbs_follow_the_spec_version_that_introduced_them() {
        assert!(!supports_check("0.3.1"));
        assert!(supports_check("0.4.0"));
        assert!(supports_check("1.0.0"));
        assert!(!supports_status_and_gc("1.0.0"));
        assert!(supports_status_and_gc("1.1.0"));
        assert!(is_supported("0.3.1"));
        assert!(!is_supported("0.2.0"));
        assert!(is_supported("1.1.0"));
    }
}
