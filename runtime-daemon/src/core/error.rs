//! The managers' error type and its mapping to gRPC status codes.
//!
//! The managers speak in [`Error`]; only the CRI boundary turns it into a
//! [`tonic::Status`], so the kubelet sees `NotFound`, `InvalidArgument`,
//! `AlreadyExists` where it branches on them.

use std::path::PathBuf;

/// Everything the pod and container managers can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("{kind} {id:?} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{kind} id prefix {prefix:?} is ambiguous")]
    AmbiguousId { kind: &'static str, prefix: String },
    #[error("{kind} name {name:?} is already reserved by {owner}")]
    AlreadyExists {
        kind: &'static str,
        name: String,
        owner: String,
    },
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    DeadlineExceeded(String),
    #[error("image {0:?} not found")]
    ImageNotFound(String),
    #[error("image store: {0}")]
    Image(#[from] cradle_snapshotter::Error),
    #[error("image store is unavailable: {0}")]
    ImagesUnavailable(String),
    #[error("building the OCI spec: {0}")]
    Spec(#[from] SpecError),
    #[error("shim {id}: {message}")]
    Shim { id: String, message: String },
    /// The OCI runtime refused to create the container's process (the shim
    /// said so with its exit status): the container fails at Start as
    /// `ContainerCannotRun`.
    #[error("OCI runtime create failed: {message}")]
    CreateRefused { id: String, message: String },
    #[error("pod network of sandbox {id}: {message}")]
    Network { id: String, message: String },
    #[error("namespaces of sandbox {id}: {message}")]
    Namespaces { id: String, message: String },
    #[error("metadata store: {0}")]
    Store(#[from] crate::core::store::StoreError),
    #[error("I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// An I/O error naming the path it happened at.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A shim error naming the object the shim serves.
    pub fn shim(id: &str, message: impl Into<String>) -> Self {
        Error::Shim {
            id: id.to_string(),
            message: message.into(),
        }
    }
}

/// Why the container manager's spec builder could not build an OCI spec
/// (kept here, beside the [`Error`] that wraps it, so the core needs no
/// manager).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("container has no command: neither config.command/args nor the image's entrypoint/cmd")]
    NoCommand,
    #[error("{0}")]
    Build(String),
}

impl SpecError {
    /// A rule the builder cannot honour, in words.
    pub(crate) fn build(message: impl Into<String>) -> Self {
        SpecError::Build(message.into())
    }
}

/// Shorthand for the managers' results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        let message = err.to_string();
        match err {
            Error::InvalidArgument(_) | Error::AmbiguousId { .. } => {
                tonic::Status::invalid_argument(message)
            }
            Error::NotFound { .. } | Error::ImageNotFound(_) => tonic::Status::not_found(message),
            Error::AlreadyExists { .. } => tonic::Status::already_exists(message),
            Error::FailedPrecondition(_) => tonic::Status::failed_precondition(message),
            Error::DeadlineExceeded(_) => tonic::Status::deadline_exceeded(message),
            Error::ImagesUnavailable(_) => tonic::Status::unavailable(message),
            Error::Image(
                cradle_snapshotter::Error::NotFound(_)
                | cradle_snapshotter::Error::NoWritableLayer(_),
            ) => tonic::Status::not_found(message),
            Error::Image(
                cradle_snapshotter::Error::InvalidReference { .. }
                | cradle_snapshotter::Error::BadCredentials(_)
                | cradle_snapshotter::Error::BadArchive { .. },
            ) => tonic::Status::invalid_argument(message),
            Error::Image(cradle_snapshotter::Error::Unauthorized { .. }) => {
                tonic::Status::permission_denied(message)
            }
            Error::Image(cradle_snapshotter::Error::Stalled { .. }) => {
                tonic::Status::deadline_exceeded(message)
            }
            Error::Image(cradle_snapshotter::Error::Download { .. }) => {
                tonic::Status::unavailable(message)
            }
            Error::Image(
                cradle_snapshotter::Error::ImageInUse { .. }
                | cradle_snapshotter::Error::TooManyLayers { .. },
            ) => tonic::Status::failed_precondition(message),
            Error::Image(cradle_snapshotter::Error::Unimplemented(_)) => {
                tonic::Status::unimplemented(message)
            }
            Error::Spec(SpecError::NoCommand) => tonic::Status::invalid_argument(message),
            _ => tonic::Status::internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_maps_to_grpc_not_found() {
        let status = tonic::Status::from(Error::NotFound {
            kind: "container",
            id: "abc".into(),
        });
        assert_eq!(status.code(), tonic::Code::NotFound);
        assert!(status.message().contains("abc"));
    }

    #[test]
    fn duplicate_name_maps_to_already_exists() {
        let status = tonic::Status::from(Error::AlreadyExists {
            kind: "sandbox",
            name: "n".into(),
            owner: "x".into(),
        });
        assert_eq!(status.code(), tonic::Code::AlreadyExists);
    }

    #[test]
    fn snapshotter_refusals_map_to_their_codes() {
        let too_many =
            tonic::Status::from(Error::Image(cradle_snapshotter::Error::TooManyLayers {
                image: "img".into(),
                layers: 501,
                reason: "overlayfs stacks at most 500".into(),
            }));
        assert_eq!(too_many.code(), tonic::Code::FailedPrecondition);
        assert!(too_many.message().contains("501"));
        let no_layer = tonic::Status::from(Error::Image(
            cradle_snapshotter::Error::NoWritableLayer("c1".into()),
        ));
        assert_eq!(no_layer.code(), tonic::Code::NotFound);
    }
}
