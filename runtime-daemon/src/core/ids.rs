//! Object ids: 64 random hex characters, resolved from unique prefixes.
//!
//! crictl users type short prefixes of ids (as with containerd); [`resolve`]
//! turns such a prefix into the one full id it names, or explains why not.
//! The managers take a [`ContainerId`] or a [`SandboxId`], made from the
//! CRI's strings at the service boundary once validated, so a sandbox id
//! cannot be passed where a container id is meant.

use crate::core::error::{Error, Result};
use rand::RngCore;
use std::fmt;

/// Defines a typed id: a string the type system tells apart from others.
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id (or a unique prefix of one) as the CRI names it.
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            /// The id as a string, for the index, paths and messages.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

typed_id!(
    /// The id of a container, or a unique prefix of one.
    ContainerId
);
typed_id!(
    /// The id of a pod sandbox, or a unique prefix of one.
    SandboxId
);

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
    fn typed_ids_show_the_id_they_wrap() {
        let id = ContainerId::new("abc");
        assert_eq!((id.as_str(), id.to_string().as_str()), ("abc", "abc"));
        assert_eq!(SandboxId::new(String::from("s")).as_ref(), "s");
    }

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
