//! Checks for the fuzz targets (`fuzz/`) and the seed-corpus replay tests:
//! what a streaming client's bytes reach before any process or socket is
//! involved (SPDY frames and header blocks, WebSocket channel messages).
//!
//! Not an API: hidden from the docs. Each check feeds its input through the
//! parsers in the order a session does and panics when a parser panics,
//! hangs (the fuzzer's timeout) or breaks a property stated below.

use bytes::BytesMut;
use tokio_tungstenite::tungstenite::Message;

use crate::pump::take_resizes;
use crate::spdy::frame::{self, Frame};
use crate::spdy::headers::{self, Compressor, Decompressor};
use crate::websocket::{decode_message, encode_message, query_ports};

/// Reads `input` as the bytes a client sends on an upgraded SPDY/3.1
/// connection, as `spdy::conn`'s read loop does: frames decoded one by one
/// until the input ends or an error closes the connection, every header
/// block through the connection's one zlib stream. Every decoded frame
/// must encode back to itself; every decoded header block must compress
/// and decompress back to itself; names come out lower case.
pub fn check_spdy(input: &[u8]) {
    let mut buf = BytesMut::from(input);
    let mut inflate = Decompressor::new();
    let (mut echo_out, mut echo_in) = (Compressor::new(), Decompressor::new());
    loop {
        let before = buf.len();
        let frame = match frame::decode(&mut buf) {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(_) => return,
        };
        assert!(buf.len() < before, "a frame consumed no bytes");
        if !matches!(frame, Frame::Unknown { .. }) {
            let mut wire = BytesMut::new();
            frame::encode(&frame, &mut wire);
            assert_eq!(frame::decode(&mut wire), Ok(Some(frame.clone())));
            assert!(wire.is_empty(), "re-encoded frame has trailing bytes");
        }
        let block = match &frame {
            Frame::SynStream { header_block, .. }
            | Frame::SynReply { header_block, .. }
            | Frame::Headers { header_block, .. } => header_block,
            _ => continue,
        };
        let Ok(list) = inflate.decompress(block) else {
            return; // the read loop closes the connection here
        };
        assert!(
            list.iter().all(|(n, _)| *n == n.to_ascii_lowercase()),
            "header name not lower case"
        );
        let _ = headers::get(&list, "streamtype");
        let again = echo_out
            .compress(&list)
            .and_then(|b| echo_in.decompress(&b))
            .unwrap_or_else(|e| panic!("our own header block: {e:?}"));
        assert_eq!(again, list, "header block round trip");
    }
}

/// Reads `input` as WebSocket messages a client sends to an exec or
/// port-forward session: records of `[kind][len: u16 LE][payload]`, kind
/// bit 0 a text message (payload read as lossy UTF-8), bit 1 a
/// `base64.channel.k8s.io` session. Each message is decoded as the
/// session does, resize channel payloads go through the resize decoder;
/// a decoded message must encode back to the same channel and bytes
/// (in a base64 session, for channels whose digit is ASCII). The
/// whole input is also read as a `ports=` query.
pub fn check_websocket(input: &[u8]) {
    let _ = query_ports(&String::from_utf8_lossy(input));
    let mut resize_buf = Vec::new();
    let mut rest = input;
    while let [kind, lo, hi, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        let base64 = kind & 2 != 0;
        let msg = if kind & 1 != 0 {
            Message::text(String::from_utf8_lossy(payload).into_owned())
        } else {
            Message::binary(payload.to_vec())
        };
        let Some((channel, data)) = decode_message(base64, msg) else {
            continue;
        };
        // A base64 session sends channel digits as text: only channels
        // whose digit ('0' + channel) is ASCII can be sent back as they came
        // (a binary message may carry any channel byte).
        if !base64 || channel < 0x80 - b'0' {
            let again = decode_message(base64, encode_message(base64, channel, &data));
            assert_eq!(again, Some((channel, data.clone())), "channel round trip");
        }
        if channel == 4 {
            resize_buf.extend_from_slice(&data);
            let _ = take_resizes(&mut resize_buf);
        }
    }
}
