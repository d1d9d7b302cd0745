//! SPDY tunneled through a WebSocket, as client-go's
//! `NewSPDYOverWebsocketDialer` (kubectl and critest with
//! `-websocket-portforward`) speaks it: the client asks for a WebSocket
//! with the subprotocol `SPDY/3.1+` + a SPDY protocol (for port-forward
//! `SPDY/3.1+portforward.k8s.io`), then both sides write the raw SPDY byte
//! stream as WebSocket binary messages, each message any chunk of it.
//!
//! [`byte_stream`] turns the WebSocket back into a byte stream for the SPDY
//! code, which then serves the session as over a plain upgraded connection.
//! A text message breaks the tunnel (client-go refuses them too); a Close
//! frame from the client is the stream's end, and the end of the SPDY
//! session closes the WebSocket with a normal Close frame.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, frame::coding::CloseCode};

/// The subprotocol prefix that asks for a SPDY tunnel.
pub const PREFIX: &str = "SPDY/3.1+";

/// Bytes buffered between the WebSocket and the SPDY session, each way.
const BUFFER: usize = 256 * 1024;
/// The most SPDY bytes sent in one WebSocket message.
const CHUNK: usize = 32 * 1024;

/// The SPDY protocol inside a tunneling subprotocol, if `protocol` is one.
pub fn inner_protocol(protocol: &str) -> Option<&str> {
    protocol.strip_prefix(PREFIX).filter(|p| !p.is_empty())
}

/// Serves the WebSocket handshake's upgraded connection `io` as a tunnel and
/// returns the byte stream it carries; the tunnel runs in a task of its own
/// until either side ends.
pub async fn byte_stream<IO>(io: IO) -> DuplexStream
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (ours, theirs) = tokio::io::duplex(BUFFER);
    tokio::spawn(carry(ws, theirs));
    ours
}

/// Copies binary messages into `bytes` and what `bytes` yields into binary
/// messages, until the client closes, breaks the tunnel, or the SPDY side
/// ends.
async fn carry<IO>(ws: WebSocketStream<IO>, bytes: DuplexStream)
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sink, mut messages) = ws.split();
    let (mut from_spdy, mut to_spdy) = tokio::io::split(bytes);
    let inbound = async {
        while let Some(message) = messages.next().await {
            match message {
                Ok(Message::Binary(data)) => {
                    if to_spdy.write_all(&data).await.is_err() {
                        break;
                    }
                }
                // Pings are answered by the WebSocket layer itself.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Close(_)) => break,
                Ok(Message::Text(_)) => {
                    tracing::debug!("SPDY tunnel: text message from the client, closing");
                    break;
                }
                Err(e) => {
                    tracing::debug!("SPDY tunnel: {e}");
                    break;
                }
            }
        }
        // EOF for the SPDY session.
        let _ = to_spdy.shutdown().await;
    };
    let outbound = async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match from_spdy.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = Bytes::copy_from_slice(&buf[..n]);
                    if sink.send(Message::Binary(chunk)).await.is_err() {
                        return;
                    }
                }
            }
        }
        let close = Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }));
        let _ = sink.send(close).await;
        let _ = sink.close().await;
    };
    // The session is over when the SPDY side stops writing (it ended) or
    // the client went away; whichever comes first ends the other.
    tokio::select! {
        () = outbound => {}
        () = inbound => {}
    }
    // Sends what the WebSocket layer still owes (the answer to a Close).
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prefixed_protocols_are_tunnels() {
        assert_eq!(
            inner_protocol("SPDY/3.1+portforward.k8s.io"),
            Some("portforward.k8s.io")
        );
        assert_eq!(inner_protocol("SPDY/3.1+"), None);
        assert_eq!(inner_protocol("portforward.k8s.io"), None);
        assert_eq!(inner_protocol("v4.channel.k8s.io"), None);
    }

    #[tokio::test]
    async fn binary_messages_carry_the_byte_stream_both_ways() {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let mut bytes = byte_stream(server_io).await;
        let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;

        // Two messages from the client are one byte stream for SPDY.
        client.send(Message::binary(b"hel".to_vec())).await.unwrap();
        client.send(Message::binary(b"lo".to_vec())).await.unwrap();
        let mut got = [0u8; 5];
        bytes.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");

        // What SPDY writes reaches the client as binary messages.
        bytes.write_all(b"world").await.unwrap();
        let mut echoed = Vec::new();
        while echoed.len() < 5 {
            match client.next().await {
                Some(Ok(Message::Binary(data))) => echoed.extend_from_slice(&data),
                other => panic!("expected a binary message, got {other:?}"),
            }
        }
        assert_eq!(echoed, b"world");

        // The end of the SPDY session closes the WebSocket normally.
        drop(bytes);
        match client.next().await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Normal),
            other => panic!("expected a Close frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_close_from_the_client_ends_the_byte_stream() {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let mut bytes = byte_stream(server_io).await;
        let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        client.send(Message::binary(b"x".to_vec())).await.unwrap();
        client.close(None).await.unwrap();
        let mut rest = Vec::new();
        bytes.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"x");
    }
}
