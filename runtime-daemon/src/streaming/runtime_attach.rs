//! Attach for the streaming server: the container's stdout/stderr from now
//! on, read from its shim's attach socket (frames of
//! [`cradle_proto::shim::attach_frame`]) and written to the client's streams,
//! until the container exits (the shim closes the socket) or the client
//! leaves (the future is dropped; the container is not touched). Stdin and
//! tty are not supported yet: the CRI handler refuses them.

use super::StreamError;
use super::backend::{AttachRequest, BoxedWriter, StreamIo};
use super::runtime_exec::daemon_error;
use crate::runtime::Runtime;
use cradle_proto::shim::{ATTACH_HEADER_LEN, ATTACH_SOCKET_FILE, ATTACH_STDERR, ATTACH_STDOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest frame accepted from a shim (it sends chunks of at most 32 KiB).
const MAX_FRAME: usize = 1024 * 1024;

/// Streams the output of `req.container_id`'s main process to `io`.
pub async fn attach(
    runtime: &Runtime,
    req: AttachRequest,
    io: StreamIo,
) -> Result<(), StreamError> {
    let record = runtime
        .containers
        .get(&req.container_id)
        .map_err(daemon_error)?;
    let socket = record.shim_dir.join(ATTACH_SOCKET_FILE);
    let conn = tokio::net::UnixStream::connect(&socket)
        .await
        .map_err(|e| {
            StreamError::Backend(format!(
                "attaching to container {} ({}): {e}",
                record.id,
                socket.display()
            ))
        })?;
    copy_frames(conn, io.stdout, io.stderr).await
}

/// Writes each frame's payload to its stream until EOF; closes both streams.
/// A stream the client did not ask for (or closed) discards its frames.
pub async fn copy_frames(
    mut conn: impl tokio::io::AsyncRead + Unpin,
    mut stdout: Option<BoxedWriter>,
    mut stderr: Option<BoxedWriter>,
) -> Result<(), StreamError> {
    let mut header = [0u8; ATTACH_HEADER_LEN];
    let mut payload = Vec::new();
    loop {
        match conn.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.into()),
        }
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if len > MAX_FRAME {
            return Err(StreamError::Backend(format!(
                "attach frame of {len} bytes from the shim"
            )));
        }
        payload.resize(len, 0);
        conn.read_exact(&mut payload).await?;
        let target = match header[0] {
            ATTACH_STDOUT => &mut stdout,
            ATTACH_STDERR => &mut stderr,
            _ => continue,
        };
        if let Some(writer) = target.as_mut()
            && writer.write_all(&payload).await.is_err()
        {
            *target = None;
        }
    }
    for writer in [stdout, stderr].into_iter().flatten() {
        let mut writer = writer;
        let _ = writer.shutdown().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cradle_proto::shim::attach_frame;

    #[tokio::test]
    async fn frames_reach_their_streams_and_both_end_at_eof() {
        let mut input = attach_frame(ATTACH_STDOUT, b"hello ");
        input.extend(attach_frame(ATTACH_STDERR, b"oops"));
        input.extend(attach_frame(ATTACH_STDOUT, b"world"));
        let (out_w, mut out_r) = tokio::io::duplex(1024);
        let (err_w, mut err_r) = tokio::io::duplex(1024);
        copy_frames(&input[..], Some(Box::new(out_w)), Some(Box::new(err_w)))
            .await
            .unwrap();
        let mut out = String::new();
        out_r.read_to_string(&mut out).await.unwrap();
        let mut err = String::new();
        err_r.read_to_string(&mut err).await.unwrap();
        assert_eq!((out.as_str(), err.as_str()), ("hello world", "oops"));
    }

    #[tokio::test]
    async fn a_stream_not_asked_for_is_skipped_and_a_truncated_frame_is_an_error() {
        let mut input = attach_frame(ATTACH_STDERR, b"unwanted");
        input.extend(attach_frame(ATTACH_STDOUT, b"kept"));
        let (out_w, mut out_r) = tokio::io::duplex(1024);
        copy_frames(&input[..], Some(Box::new(out_w)), None)
            .await
            .unwrap();
        let mut out = String::new();
        out_r.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "kept");
        let truncated = &attach_frame(ATTACH_STDOUT, b"abcdef")[..8];
        assert!(copy_frames(truncated, None, None).await.is_err());
    }
}
