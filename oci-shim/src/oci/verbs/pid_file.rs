//! `--pid-file`, written as runc writes it.

use std::path::Path;

use crate::oci::error::{OciError, Result};

/// Writes the pid file atomically, as runc does (callers poll for it).
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("tmp-cradle-oci");
    std::fs::write(&tmp, pid.to_string()).map_err(|e| OciError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| OciError::io("rename", path, e))
}
