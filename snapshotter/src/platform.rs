//! The node's platform and the choice of a manifest from an index.
//!
//! An index (or Docker manifest list) names one manifest per platform; the
//! node takes `linux/<its arch>`, preferring the variant it runs (`arm64/v8`,
//! `arm/v7`) and otherwise an entry without a variant, as containerd's
//! platform matcher does.

use oci_client::manifest::ImageIndexEntry;

/// The OCI architecture name of this build's target.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "arm" => "arm",
        other => other,
    }
}

/// The variant this node prefers for its arch, if the arch has variants.
fn host_variant() -> Option<&'static str> {
    match host_arch() {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    }
}

/// The digest of the manifest in `entries` for linux/`arch` (variant
/// `variant`, else one without a variant, else any variant), if any.
pub fn choose(entries: &[ImageIndexEntry], arch: &str, variant: Option<&str>) -> Option<String> {
    let candidates: Vec<&ImageIndexEntry> = entries
        .iter()
        .filter(|e| {
            e.platform
                .as_ref()
                .is_some_and(|p| p.os.to_string() == "linux" && p.architecture.to_string() == arch)
        })
        .collect();
    let variant_of = |e: &ImageIndexEntry| e.platform.as_ref().and_then(|p| p.variant.clone());
    candidates
        .iter()
        .find(|e| variant.is_some() && variant_of(e).as_deref() == variant)
        .or_else(|| candidates.iter().find(|e| variant_of(e).is_none()))
        .or_else(|| candidates.first())
        .map(|e| e.digest.clone())
}

/// [`choose`] for this node.
pub fn choose_for_host(entries: &[ImageIndexEntry]) -> Option<String> {
    choose(entries, host_arch(), host_variant())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(digest: &str, arch: &str, variant: Option<&str>) -> ImageIndexEntry {
        entry_for("linux", digest, arch, variant)
    }

    fn entry_for(os: &str, digest: &str, arch: &str, variant: Option<&str>) -> ImageIndexEntry {
        serde_json::from_value(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest, "size": 1,
            "platform": {"os": os, "architecture": arch, "variant": variant},
        }))
        .unwrap()
    }

    #[test]
    fn the_wanted_variant_wins_then_no_variant() {
        let entries = [
            entry("a", "arm", Some("v6")),
            entry("b", "arm", Some("v7")),
            entry("c", "amd64", None),
            entry("d", "arm64", Some("v8")),
        ];
        assert_eq!(choose(&entries, "arm", Some("v7")).as_deref(), Some("b"));
        assert_eq!(choose(&entries, "arm", Some("v5")).as_deref(), Some("a"));
        assert_eq!(choose(&entries, "amd64", None).as_deref(), Some("c"));
        assert_eq!(choose(&entries, "arm64", Some("v8")).as_deref(), Some("d"));
        assert_eq!(choose(&entries, "s390x", None), None);
    }

    #[test]
    fn entries_for_other_systems_are_skipped() {
        let win = entry_for("windows", "w", "amd64", None);
        assert_eq!(choose(&[win], "amd64", None), None);
    }
}
