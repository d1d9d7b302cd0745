//! Errors of the image store.

/// Everything that can go wrong while pulling, storing or mounting images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("image {0:?} not found")]
    NotFound(String),
    #[error("{0} is not implemented yet")]
    Unimplemented(&'static str),
    #[error("I/O error at {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}
