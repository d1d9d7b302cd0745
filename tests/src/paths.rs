//! Where the workspace is and where cargo put the binaries the tests run
//! against (cradled, cradle-shim, cradle-oci, cradle-bridge).

use std::path::{Path, PathBuf};

/// The workspace root (for `hack/` scripts).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `target/<profile>/`, where cargo put the binaries this test runs against:
/// the test executable lives in `target/<profile>/deps/`.
pub fn target_bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow::anyhow!("cannot locate the target dir from {}", exe.display()))
}
