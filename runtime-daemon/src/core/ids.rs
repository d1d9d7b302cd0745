//! Object ids: 64 random hex characters, resolved from unique prefixes.
//!
//! The managers take a [`ContainerId`] or a [`SandboxId`], made from the
//! CRI's strings at the service boundary once validated, so a sandbox id
//! cannot be passed where a container id is meant; crictl users type short
//! prefixes of ids (as with containerd), which the index resolves to the
//! typed full id. The shim client serves both kinds of object and takes a
//! [`ShimId`], which either converts into.
//!
//! This file imports nothing of the crate, so the platform adapters can
//! name the ids without depending on the rest of the core.

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

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        /// A stored record's id (text) names the same object as a typed one.
        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

/// An id the index keeps objects under: one kind of object's id.
pub trait TypedId: Clone + fmt::Display {
    /// The kind of object, as errors name it ("container", "sandbox").
    const KIND: &'static str;

    /// Wraps a full id (or a prefix) of this kind.
    fn wrap(id: String) -> Self;

    /// The id as a string.
    fn text(&self) -> &str;
}

typed_id!(
    /// The id of a container, or a unique prefix of one.
    ContainerId
);
typed_id!(
    /// The id of a pod sandbox, or a unique prefix of one.
    SandboxId
);
typed_id!(
    /// The id of the object a shim serves: a container, or a pod (its
    /// pause process). Only for the shim's paths and messages.
    ShimId
);

impl TypedId for ContainerId {
    const KIND: &'static str = "container";

    fn wrap(id: String) -> Self {
        ContainerId(id)
    }

    fn text(&self) -> &str {
        &self.0
    }
}

impl TypedId for SandboxId {
    const KIND: &'static str = "sandbox";

    fn wrap(id: String) -> Self {
        SandboxId(id)
    }

    fn text(&self) -> &str {
        &self.0
    }
}

impl ContainerId {
    /// The id of this container's shim.
    pub fn shim(&self) -> ShimId {
        ShimId(self.0.clone())
    }
}

impl SandboxId {
    /// The id of this pod's shim (of its pause process).
    pub fn shim(&self) -> ShimId {
        ShimId(self.0.clone())
    }
}

impl From<&ContainerId> for ShimId {
    fn from(id: &ContainerId) -> Self {
        id.shim()
    }
}

impl From<&SandboxId> for ShimId {
    fn from(id: &SandboxId) -> Self {
        id.shim()
    }
}

/// A fresh id: 32 random bytes as 64 lowercase hex characters.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
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
}
