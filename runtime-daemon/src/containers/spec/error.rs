//! The builder's error.

/// Why a spec could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("container has no command: neither config.command/args nor the image's entrypoint/cmd")]
    NoCommand,
    #[error("{0}")]
    Build(String),
}

impl SpecError {
    /// A rule the builder cannot honour, in words.
    pub(super) fn build(message: impl Into<String>) -> Self {
        SpecError::Build(message.into())
    }
}
