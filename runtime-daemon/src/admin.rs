//! The admin socket: what `cradlectl` needs from the image store that the CRI
//! does not offer (importing and exporting image archives for air-gapped
//! nodes, the progress of running downloads, and the garbage collection of
//! unused images, [`gc`]). cradlectl cannot open the
//! store itself, because cradled holds its database lock.
//!
//! The socket is `<state-dir>/admin.sock`, mode 0600 (root only), and peers
//! of another user are refused. A client
//! writes one [`Request`] as a single line of JSON and reads one [`Response`]
//! line back; a connection may carry several pairs in sequence. Paths in
//! requests must be absolute: the daemon's working directory is not the
//! client's.

pub mod gc;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixStream;

use crate::core::context::Context;
use crate::runtime::Runtime;
use gc::GcOutcome;

/// File name of the admin socket inside the daemon's state directory.
pub const SOCKET_FILE: &str = "admin.sock";

/// A request from cradlectl to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Import every image of an OCI layout directory or an OCI layout /
    /// docker-archive tarball at `path` (absolute).
    Import {
        /// The layout directory or tarball to read.
        path: PathBuf,
    },
    /// Write `image` (a reference or id) as an OCI layout tar to `path`
    /// (absolute; its parent must exist).
    Export {
        /// The image to write: a reference or an id.
        image: String,
        /// Where the tar goes.
        path: PathBuf,
    },
    /// The blob downloads running now.
    Downloads,
    /// Remove the images no container uses, then the blobs and layer
    /// snapshots no image references ([`gc::collect`]).
    Gc {
        /// Only say what would be removed.
        #[serde(default)]
        dry_run: bool,
    },
}

/// The daemon's answer to one [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// The import stored these images.
    Imported {
        /// Each image stored, with the tags it got.
        images: Vec<ImportedImage>,
    },
    /// The export wrote its tar.
    Exported {
        /// The tar written (the request's path).
        path: PathBuf,
    },
    /// The answer to [`Request::Downloads`].
    Downloads {
        /// The downloads running when the request arrived.
        downloads: Vec<Download>,
    },
    /// The answer to [`Request::Gc`].
    Gc {
        /// What was (or would be) removed and kept.
        outcome: GcOutcome,
    },
    /// The request failed; cradlectl prints the message.
    Error {
        /// What went wrong, with its causes.
        message: String,
    },
}

/// One image an import stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedImage {
    /// The image id (its config digest).
    pub id: String,
    /// The tags the archive named for it.
    pub repo_tags: Vec<String>,
}

/// One blob download in progress (the wire form of the snapshotter's
/// `DownloadProgress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Download {
    /// The reference being pulled (the first pull, when shared).
    pub image: String,
    /// The blob's digest.
    pub layer: String,
    /// Bytes received so far.
    pub received: u64,
    /// The blob's size from its descriptor.
    pub size: u64,
}

/// Why the admin server could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The socket could not be bound, or its stale file removed, or its mode set.
    #[error("admin socket {path}: {source}")]
    Socket {
        /// The socket path that could not be prepared or bound.
        path: PathBuf,
        /// The I/O error that stopped it.
        source: std::io::Error,
    },
}

/// Encodes a message as one line of JSON (with its newline).
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    Ok(line)
}

/// Decodes one line of JSON.
pub fn decode<T: for<'de> Deserialize<'de>>(line: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(line.trim_end())
}

/// The running admin server; [`AdminServer::stop`] ends it and removes the socket.
pub struct AdminServer {
    path: PathBuf,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl AdminServer {
    /// Binds `path` (replacing a stale socket), restricts it to root and serves
    /// requests against the image store and containers of `runtime` until
    /// stopped.
    pub fn start(path: &Path, runtime: Arc<Runtime>) -> Result<Self, AdminError> {
        let err = |source| AdminError::Socket {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        let listener = crate::platform::sockets::bind(path).map_err(err)?;
        use std::os::unix::fs::PermissionsExt as _;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            // Undo the bind: a socket others could reach must not stay.
            let _ = std::fs::remove_file(path);
            return Err(err(e));
        }
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) if same_user(&stream) => {
                            tokio::spawn(serve_connection(stream, Arc::clone(&runtime)));
                        }
                        Ok(_) => tracing::warn!("admin socket: refused a peer of another user"),
                        Err(e) => tracing::warn!("admin socket accept: {e}"),
                    },
                }
            }
        });
        Ok(AdminServer {
            path: path.to_path_buf(),
            stop,
            task,
        })
    }

    /// Stops accepting and removes the socket.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("removing {}: {e}", self.path.display());
        }
    }
}

/// Whether the peer runs as the daemon's own user (root in production).
/// The socket's mode already says so; this also covers the moment between
/// bind and chmod, when the socket still had the umask's mode.
fn same_user(stream: &UnixStream) -> bool {
    stream
        .peer_cred()
        .is_ok_and(|cred| cred.uid() == nix::unistd::geteuid().as_raw())
}

async fn serve_connection(stream: UnixStream, runtime: Arc<Runtime>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!("admin connection: {e}");
                return;
            }
        };
        let response = match decode::<Request>(&line) {
            Ok(request) => handle(&runtime, request).await,
            Err(e) => Response::Error {
                message: format!("malformed request: {e}"),
            },
        };
        let bytes = match encode(&response) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!("encoding an admin response: {e}");
                return;
            }
        };
        if write.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

/// Answers one request; every failure becomes [`Response::Error`].
pub async fn handle(runtime: &Runtime, request: Request) -> Response {
    let ctx = &runtime.ctx;
    let result = match request {
        Request::Import { path } => import(ctx, &path).await,
        Request::Export { image, path } => export(ctx, &image, &path).await,
        Request::Downloads => downloads(ctx),
        Request::Gc { dry_run } => gc::collect(runtime, dry_run)
            .await
            .map(|outcome| Response::Gc { outcome }),
    };
    result.unwrap_or_else(|message| Response::Error { message })
}

fn require_absolute(path: &Path) -> Result<(), String> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(format!("{}: the path must be absolute", path.display()))
    }
}

async fn import(ctx: &Context, path: &Path) -> Result<Response, String> {
    require_absolute(path)?;
    let store = ctx.images().map_err(|e| e.chain().to_string())?;
    let images = store
        .import_path(path)
        .await
        .map_err(|e| format!("importing {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), count = images.len(), "imported images");
    Ok(Response::Imported {
        images: images
            .into_iter()
            .map(|i| ImportedImage {
                id: i.id,
                repo_tags: i.repo_tags,
            })
            .collect(),
    })
}

/// Exports into a temporary file next to `path` and renames it into place,
/// so `path` is never a partial archive; the temporary file is removed on
/// every failure.
async fn export(ctx: &Context, image: &str, path: &Path) -> Result<Response, String> {
    require_absolute(path)?;
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if parent.is_dir() => (parent, name),
        _ => {
            return Err(format!(
                "exporting {image} to {}: the parent directory does not exist",
                path.display()
            ));
        }
    };
    let store = ctx.images().map_err(|e| e.chain().to_string())?;
    let temp = parent.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        crate::core::ids::generate().get(..12).unwrap_or("0")
    ));
    let fail = |what: String| {
        let _ = std::fs::remove_file(&temp);
        format!("exporting {image} to {}: {what}", path.display())
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(|e| format!("exporting {image}: creating {}: {e}", temp.display()))?;
    let file = match store.export(image, file).await {
        Ok(file) => file,
        Err(e) => return Err(fail(e.to_string())),
    };
    let synced = tokio::task::spawn_blocking(move || file.sync_all()).await;
    match synced {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(fail(e.to_string())),
        Err(e) => return Err(fail(e.to_string())),
    }
    std::fs::rename(&temp, path).map_err(|e| fail(e.to_string()))?;
    tracing::info!(image, path = %path.display(), "exported image");
    Ok(Response::Exported {
        path: path.to_path_buf(),
    })
}

fn downloads(ctx: &Context) -> Result<Response, String> {
    let store = ctx.images().map_err(|e| e.chain().to_string())?;
    Ok(Response::Downloads {
        downloads: store
            .downloads()
            .into_iter()
            .map(|d| Download {
                image: d.image,
                layer: d.layer,
                received: d.received,
                size: d.size,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::Config;

    /// A runtime over a context in `dir`, with no pods or containers.
    fn context(dir: &Path) -> Arc<Runtime> {
        let config = Config {
            root: dir.join("root"),
            state_dir: dir.join("state"),
            ..Config::default()
        };
        let ctx = Arc::new(Context::open(config).expect("context"));
        Arc::new(Runtime {
            pods: crate::pods::SandboxManager::new(Arc::clone(&ctx)),
            containers: crate::containers::ContainerManager::new(Arc::clone(&ctx)),
            images: crate::images::ImageManager::new(Arc::clone(&ctx)),
            cpu: crate::stats::CpuTracker::default(),
            ctx,
        })
    }

    async fn ask(socket: &Path, request: &Request) -> Response {
        let stream = UnixStream::connect(socket).await.expect("connect");
        let (read, mut write) = stream.into_split();
        write
            .write_all(&encode(request).expect("encode"))
            .await
            .expect("write");
        let line = BufReader::new(read)
            .lines()
            .next_line()
            .await
            .expect("read")
            .expect("a line");
        decode(&line).expect("decode")
    }

    #[test]
    fn requests_and_responses_round_trip_as_one_json_line() {
        let request = Request::Export {
            image: "busybox".into(),
            path: "/tmp/x.tar".into(),
        };
        let line = encode(&request).expect("encode");
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        let text = String::from_utf8(line).expect("utf8");
        assert!(text.contains(r#""op":"export""#), "{text}");
        assert_eq!(decode::<Request>(&text).expect("decode"), request);
        let response = Response::Downloads {
            downloads: vec![Download {
                image: "a".into(),
                layer: "sha256:0".into(),
                received: 1,
                size: 2,
            }],
        };
        let text = String::from_utf8(encode(&response).expect("encode")).expect("utf8");
        assert_eq!(decode::<Response>(&text).expect("decode"), response);
    }

    #[tokio::test]
    async fn socket_is_root_only_answers_and_is_removed_on_stop() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = context(dir.path());
        let socket = dir.path().join(SOCKET_FILE);
        std::fs::write(&socket, b"stale").expect("stale file");
        let server = AdminServer::start(&socket, ctx).expect("start");
        let mode = std::fs::metadata(&socket)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            ask(&socket, &Request::Downloads).await,
            Response::Downloads { downloads: vec![] }
        );
        server.stop().await;
        assert!(!socket.exists(), "socket left behind");
    }

    #[tokio::test]
    async fn malformed_request_is_answered_with_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join(SOCKET_FILE);
        let server = AdminServer::start(&socket, context(dir.path())).expect("start");
        let stream = UnixStream::connect(&socket).await.expect("connect");
        let (read, mut write) = stream.into_split();
        write
            .write_all(b"{\"op\":\"nope\"}\n")
            .await
            .expect("write");
        let line = BufReader::new(read)
            .lines()
            .next_line()
            .await
            .expect("read");
        let response: Response = decode(&line.expect("a line")).expect("decode");
        assert!(
            matches!(&response, Response::Error { message } if message.contains("malformed")),
            "{response:?}"
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn import_of_a_junk_file_fails_naming_it_and_stores_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = context(dir.path());
        let junk = dir.path().join("junk.tar");
        std::fs::write(&junk, b"not an archive at all").expect("junk");
        let response = handle(&ctx, Request::Import { path: junk.clone() }).await;
        assert!(
            matches!(&response, Response::Error { message } if message.contains("junk.tar")),
            "{response:?}"
        );
        assert!(ctx.ctx.images().expect("store").list().is_empty());
    }

    #[tokio::test]
    async fn relative_paths_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = context(dir.path());
        let response = handle(
            &ctx,
            Request::Import {
                path: "image.tar".into(),
            },
        )
        .await;
        assert!(
            matches!(&response, Response::Error { message } if message.contains("absolute")),
            "{response:?}"
        );
    }

    #[tokio::test]
    async fn export_refuses_a_missing_parent_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = context(dir.path());
        let missing = dir.path().join("no-such-dir").join("out.tar");
        let response = handle(
            &ctx,
            Request::Export {
                image: "busybox".into(),
                path: missing,
            },
        )
        .await;
        assert!(
            matches!(&response, Response::Error { message } if message.contains("parent directory")),
            "{response:?}"
        );
        // An unknown image fails after the temporary file was created: it must go.
        let out = dir.path().join("out").join("image.tar");
        std::fs::create_dir(dir.path().join("out")).expect("mkdir");
        let response = handle(
            &ctx,
            Request::Export {
                image: "absent:latest".into(),
                path: out.clone(),
            },
        )
        .await;
        assert!(
            matches!(&response, Response::Error { message } if message.contains("absent")),
            "{response:?}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path().join("out"))
            .expect("read_dir")
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
    #[test]
    fn gc_requests_default_to_a_real_run_and_answers_round_trip() {
        assert_eq!(
            decode::<Request>(r#"{"op":"gc"}"#).expect("decode"),
            Request::Gc { dry_run: false }
        );
        let text = String::from_utf8(encode(&Request::Gc { dry_run: true }).expect("encode"))
            .expect("utf8");
        assert!(text.contains(r#""op":"gc""#), "{text}");
        assert_eq!(
            decode::<Request>(&text).expect("decode"),
            Request::Gc { dry_run: true }
        );
        let response = Response::Gc {
            outcome: GcOutcome {
                dry_run: true,
                removed: vec![gc::GcImage {
                    id: "sha256:1".into(),
                    repo_tags: vec!["a:1".into()],
                    size: 3,
                }],
                kept: vec![gc::KeptImage {
                    id: "sha256:2".into(),
                    repo_tags: vec![],
                    reason: "container c (rootfs)".into(),
                }],
                blobs: vec![cradle_snapshotter::Collected {
                    digest: "sha256:3".into(),
                    bytes: 4096,
                }],
                snapshots: vec![],
                bytes: 4096,
            },
        };
        let text = String::from_utf8(encode(&response).expect("encode")).expect("utf8");
        assert_eq!(decode::<Response>(&text).expect("decode"), response);
    }

    #[tokio::test]
    async fn gc_of_an_empty_store_answers_over_the_socket_and_removes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join(SOCKET_FILE);
        let runtime = context(dir.path());
        let server = AdminServer::start(&socket, Arc::clone(&runtime)).expect("start");
        for dry_run in [true, false] {
            assert_eq!(
                ask(&socket, &Request::Gc { dry_run }).await,
                Response::Gc {
                    outcome: GcOutcome {
                        dry_run,
                        ..GcOutcome::default()
                    }
                }
            );
        }
        server.stop().await;
    }
}
