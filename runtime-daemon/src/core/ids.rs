//! Object ids: 64 random hex characters, resolved from unique prefixes.
//!
//! crictl users type short prefixes of ids (as with containerd); [`resolve`]
//! turns such a prefix into the one full id it names, or explains why not.

use crate::core::error::{Error, Result};
use rand::RngCore;

/// A fresh id: 32 random bytes as 64 lowercase hex characters.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Resolves `prefix` against `ids`: an exact match wins, otherwise the single id
/// starting with it. Empty prefixes are invalid; none → `NotFound`, several → ambiguous.
pub fn resolve<'a, I>(kind: &'static str, prefix: &str, ids: I) -> Result<String>
where
    I: IntoIterator<Item = &'a String>,
{
    if prefix.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{kind} id must not be empty"
        )));
    }
    let mut found: Option<&String> = None;
    for id in ids {
        if id == prefix {
            return Ok(id.clone());
        }
        if id.starts_with(prefix) {
            if found.is_some() {
                return Err(Error::AmbiguousId {
                    kind,
                    prefix: prefix.to_string(),
                });
            }
            found = Some(id);
        }
    }
    found.cloned().ok_or_else(|| Error::NotFound {
        kind,
        id: prefix.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_64_hex_and_distinct() {
        let a = generate();
        let b = generate();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn unique_prefix_resolves_to_full_id() {
        let ids = vec!["abc123".to_string(), "abd456".to_string()];
        assert_eq!(resolve("container", "abc", &ids).unwrap(), "abc123");
        assert_eq!(resolve("container", "abd456", &ids).unwrap(), "abd456");
    }

    #[test]
    fn ambiguous_prefix_is_rejected() {
        let ids = vec!["abc123".to_string(), "abd456".to_string()];
        assert!(matches!(
            resolve("container", "ab", &ids),
            Err(Error::AmbiguousId { .. })
        ));
    }

    #[test]
    fn unknown_prefix_is_not_found_and_empty_is_invalid() {
        let ids = vec!["abc123".to_string()];
        assert!(matches!(
            resolve("sandbox", "ff", &ids),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            resolve("sandbox", "", &ids),
            Err(Error::InvalidArgument(_))
        ));
    }
}
