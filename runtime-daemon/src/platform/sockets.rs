//! Unix sockets at paths of any length, for the daemon's async side.
//!
//! A path longer than `sun_path` allows (107 bytes; a long `--state-dir`
//! makes the shims' sockets so) is reached as `/proc/self/fd/<dir>/<name>`
//! through its directory ([`cradle_proto::sockpath`], which the shim and
//! the launcher use for their side).

use std::path::Path;

use cradle_proto::sockpath::ShortPath;
use tokio::net::{UnixListener, UnixStream};

/// Connects to the socket at `path`, however long.
pub async fn connect(path: &Path) -> std::io::Result<UnixStream> {
    let short = ShortPath::new(path)?;
    UnixStream::connect(short.as_path()).await
}

/// Binds a listener at `path`, however long.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    UnixListener::bind(ShortPath::new(path)?.as_path())
}
