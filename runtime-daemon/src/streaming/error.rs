//! How a daemon error reaches a streaming client: a missing container or
//! sandbox stays "not found", anything else is the backend's failure.

use cradle_streaming::StreamError;

/// A daemon error as the streaming server reports it.
pub fn daemon_error(e: crate::core::error::Error) -> StreamError {
    match e {
        crate::core::error::Error::NotFound { .. } => StreamError::NotFound(e.chain().to_string()),
        e => StreamError::Backend(e.chain().to_string()),
    }
}
