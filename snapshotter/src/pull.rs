//! What one pull shares between the manifest walk (`registry`) and the
//! blob downloads (`download`): the store's parts it writes to, and how a
//! registry's refusal becomes an [`Error`].

use oci_client::errors::{OciDistributionError, OciErrorCode};

use crate::auth::AuthConfig;
use crate::content::ContentStore;
use crate::error::Error;
use crate::hosts::RegistrySettings;
use crate::inflight::InFlight;
use crate::reference::ImageRef;
use crate::snapshots::LayerSnapshots;

/// What one pull needs besides the image reference.
pub struct Pull<'a> {
    pub content: &'a ContentStore,
    pub settings: &'a RegistrySettings,
    pub auth: Option<&'a AuthConfig>,
    /// Shared by all pulls of the store: one download per digest at a time.
    pub inflight: &'a InFlight,
    /// The live download table.
    pub progress: &'a crate::progress::Progress,
    /// Where layers unpack while they download.
    pub layers: &'a LayerSnapshots,
    /// Shared by all pulls of the store: one unpack per diff id at a time.
    pub unpacks: &'a InFlight,
}

/// Maps a registry failure, calling out refused credentials.
pub(crate) fn registry_error(image: &ImageRef, host: &str, source: OciDistributionError) -> Error {
    match source {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => Error::Unauthorized {
            reference: image.to_string(),
            host: host.to_string(),
            reason: source.to_string(),
        },
        OciDistributionError::RegistryError { ref envelope, .. }
            if envelope
                .errors
                .iter()
                .any(|e| format!("{:?}", e.code).contains("Unauthorized")) =>
        {
            Error::Unauthorized {
                reference: image.to_string(),
                host: host.to_string(),
                reason: source.to_string(),
            }
        }
        // The registry answered, and has no such image (or repository).
        OciDistributionError::ImageManifestNotFoundError(_) => Error::NotFound(image.to_string()),
        OciDistributionError::RegistryError { ref envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                )
            }) =>
        {
            Error::NotFound(image.to_string())
        }
        source => Error::Registry {
            reference: image.to_string(),
            source,
        },
    }
}
