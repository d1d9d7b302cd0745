//! Attach for the streaming server: the container's stdout/stderr from now
//! on, read from its shim's attach socket (frames of
//! [`cradle_proto::shim::attach_frame`]) and written to the client's streams,
//! until the container exits (the shim closes the socket) or the client
//! leaves (the future is dropped; the container is not touched). With stdin
//! (the CRI handler allows it only for containers created with stdin), the
//! client's input goes to the shim as stdin frames, ended by an empty frame at
//! the client's EOF (with stdin_once the shim then closes the container's
//! stdin). A tty container's shim serves its terminal: its output arrives as
//! stdout frames, the client's stdin goes to the terminal, and the client's
//! resize events become [`ATTACH_RESIZE`] frames (sent only to tty
//! containers, whose shims understand them).

use super::error::daemon_error;
use crate::core::ids::ContainerId;
use crate::runtime::Runtime;
use cradle_proto::shim::{
    ATTACH_HEADER_LEN, ATTACH_RESIZE, ATTACH_SOCKET_FILE, ATTACH_STDERR, ATTACH_STDIN,
    ATTACH_STDOUT, attach_frame, resize_payload,
};
use cradle_streaming::{AttachRequest, BoxedWriter, StreamError, StreamIo, TerminalSize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Largest stdin chunk sent to the shim in one frame.
const STDIN_CHUNK: usize = 32 * 1024;

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
        .get(&ContainerId::new(&req.container_id))
        .map_err(daemon_error)?;
    let socket = record.shim_dir.join(ATTACH_SOCKET_FILE);
    let conn = crate::platform::sockets::connect(&socket)
        .await
        .map_err(|e| {
            StreamError::Backend(format!(
                "attaching to container {} ({}): {e}",
                record.id,
                socket.display()
            ))
        })?;
    let (from_shim, to_shim) = conn.into_split();
    let stdin = io.stdin.filter(|_| req.stdin);
    // Resizes only mean something to a terminal (the CRI handler allows tty
    // only for tty containers).
    let resize = io.resize.filter(|_| record.config.tty);
    let output = copy_frames(from_shim, io.stdout, io.stderr);
    if stdin.is_none() && resize.is_none() {
        return output.await;
    }
    // Output decides when the session ends; the client's input may end first.
    let input = send_input(stdin, resize, to_shim);
    tokio::pin!(output, input);
    let mut input_done = false;
    loop {
        tokio::select! {
            result = &mut output => return result,
            result = &mut input, if !input_done => {
                input_done = true;
                if let Err(e) = result {
                    tracing::debug!(container_id = %record.id, "attach input: {e}");
                }
            }
        }
    }
}

/// Sends the client's stdin (if any) as stdin frames, ended by an empty
/// frame at its EOF, and its terminal sizes (if any) as resize frames, in
/// the order they come, until both have ended.
pub async fn send_input(
    stdin: Option<impl AsyncRead + Unpin>,
    mut resize: Option<mpsc::Receiver<TerminalSize>>,
    mut shim: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    let mut stdin = stdin;
    let mut buf = vec![0u8; STDIN_CHUNK];
    while stdin.is_some() || resize.is_some() {
        tokio::select! {
            read = read_some(&mut stdin, &mut buf) => {
                let n = read?;
                shim.write_all(&attach_frame(ATTACH_STDIN, &buf[..n])).await?;
                if n == 0 {
                    stdin = None;
                }
            }
            size = next_size(&mut resize) => match size {
                Some(size) => {
                    let payload = resize_payload(size.width, size.height);
                    shim.write_all(&attach_frame(ATTACH_RESIZE, &payload)).await?;
                }
                None => resize = None,
            },
        }
        shim.flush().await?;
    }
    Ok(())
}

/// Reads from `stdin`; never resolves once it is gone.
async fn read_some(
    stdin: &mut Option<impl AsyncRead + Unpin>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match stdin {
        Some(stdin) => stdin.read(buf).await,
        None => std::future::pending().await,
    }
}

/// The next size from `resize` (`None` at its end); never resolves once it is gone.
async fn next_size(resize: &mut Option<mpsc::Receiver<TerminalSize>>) -> Option<TerminalSize> {
    match resize {
        Some(resize) => resize.recv().await,
        None => std::future::pending().await,
    }
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
    async fn stdin_goes_out_as_frames_ended_by_an_empty_one() {
        let mut sent = Vec::new();
        send_input(Some(&b"x\n"[..]), None, &mut sent)
            .await
            .unwrap();
        let mut want = attach_frame(ATTACH_STDIN, b"x\n");
        want.extend(attach_frame(ATTACH_STDIN, b""));
        assert_eq!(sent, want);
    }

    #[tokio::test]
    async fn resizes_go_out_as_resize_frames_until_the_client_stops_sending_them() {
        let (tx, rx) = mpsc::channel(4);
        tx.send(TerminalSize {
            width: 91,
            height: 17,
        })
        .await
        .unwrap();
        drop(tx);
        let mut sent = Vec::new();
        send_input(None::<&[u8]>, Some(rx), &mut sent)
            .await
            .unwrap();
        assert_eq!(sent, attach_frame(ATTACH_RESIZE, &resize_payload(91, 17)));
    }

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
