//! Small filesystem helpers shared by the managers and the start sweep.

use crate::core::error::{Error, Result};
use std::path::Path;

/// Removes a directory tree; absent is fine (removal is idempotent).
pub fn remove_dir(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}
