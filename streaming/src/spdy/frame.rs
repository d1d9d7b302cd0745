//! SPDY/3.1 frame codec: the binary layout of every frame, without header
//! compression (header blocks travel here as compressed bytes; [`super::headers`]
//! turns them into name/value pairs, because zlib state spans the connection).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// SPDY version spoken on the wire.
pub const VERSION: u16 = 3;
/// FLAG_FIN on DATA, SYN_STREAM, SYN_REPLY and HEADERS: the sender's half is done.
pub const FLAG_FIN: u8 = 0x01;
/// Largest frame payload we accept (the length field has 24 bits; bigger
/// frames than this are a protocol abuse, not a real client).
pub const MAX_FRAME_LEN: usize = 1 << 24;
/// SETTINGS id of the initial per-stream window.
pub const SETTINGS_INITIAL_WINDOW_SIZE: u32 = 7;
/// RST_STREAM status: the peer broke the protocol on this stream.
pub const RST_PROTOCOL_ERROR: u32 = 1;
/// RST_STREAM status: the stream is no longer needed.
pub const RST_CANCEL: u32 = 5;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

/// One SPDY frame. Header blocks are the compressed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Data {
        stream_id: u32,
        flags: u8,
        data: Bytes,
    },
    SynStream {
        stream_id: u32,
        associated_id: u32,
        priority: u8,
        flags: u8,
        header_block: Bytes,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        header_block: Bytes,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings {
        flags: u8,
        entries: Vec<(u8, u32, u32)>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        header_block: Bytes,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    /// A control frame type we do not know; SPDY says to ignore it.
    Unknown {
        frame_type: u16,
    },
}

/// Malformed input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    #[error("frame of type {frame_type} too short ({len} bytes)")]
    Short { frame_type: u16, len: usize },
    #[error("frame of {0} bytes exceeds the limit")]
    TooLong(usize),
}

const STREAM_ID_MASK: u32 = 0x7fff_ffff;

/// Decodes one frame from the front of `buf` if it is complete, consuming it.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = ((buf[5] as usize) << 16) | ((buf[6] as usize) << 8) | buf[7] as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLong(len));
    }
    if buf.len() < 8 + len {
        buf.reserve(8 + len - buf.len());
        return Ok(None);
    }
    let mut head = buf.split_to(8);
    let payload = buf.split_to(len).freeze();
    let first = head.get_u32();
    let flags = head[0];
    if first & 0x8000_0000 == 0 {
        return Ok(Some(Frame::Data {
            stream_id: first & STREAM_ID_MASK,
            flags,
            data: payload,
        }));
    }
    let version = ((first >> 16) & 0x7fff) as u16;
    if version != VERSION {
        return Err(FrameError::Version(version));
    }
    let frame_type = (first & 0xffff) as u16;
    decode_control(frame_type, flags, payload).map(Some)
}

/// Decodes a control frame's payload (its version already checked). It
/// stays one function: a single `match` over the frame types, each arm a few
/// lines reading that type's fields in wire order, is the clearest form of
/// the SPDY/3.1 frame table.
fn decode_control(frame_type: u16, flags: u8, mut payload: Bytes) -> Result<Frame, FrameError> {
    let len = payload.len();
    let need = |n: usize| {
        if len < n {
            Err(FrameError::Short { frame_type, len })
        } else {
            Ok(())
        }
    };
    let frame = match frame_type {
        TYPE_SYN_STREAM => {
            need(10)?;
            let stream_id = payload.get_u32() & STREAM_ID_MASK;
            let associated_id = payload.get_u32() & STREAM_ID_MASK;
            let priority = payload.get_u8() >> 5;
            let _slot = payload.get_u8();
            Frame::SynStream {
                stream_id,
                associated_id,
                priority,
                flags,
                header_block: payload,
            }
        }
        TYPE_SYN_REPLY | TYPE_HEADERS => {
            need(4)?;
            let stream_id = payload.get_u32() & STREAM_ID_MASK;
            if frame_type == TYPE_SYN_REPLY {
                Frame::SynReply {
                    stream_id,
                    flags,
                    header_block: payload,
                }
            } else {
                Frame::Headers {
                    stream_id,
                    flags,
                    header_block: payload,
                }
            }
        }
        TYPE_RST_STREAM => {
            need(8)?;
            Frame::RstStream {
                stream_id: payload.get_u32() & STREAM_ID_MASK,
                status: payload.get_u32(),
            }
        }
        TYPE_SETTINGS => {
            need(4)?;
            decode_settings(flags, payload).ok_or(FrameError::Short { frame_type, len })?
        }
        TYPE_PING => {
            need(4)?;
            Frame::Ping {
                id: payload.get_u32(),
            }
        }
        TYPE_GOAWAY => {
            need(8)?;
            Frame::GoAway {
                last_good_id: payload.get_u32() & STREAM_ID_MASK,
                status: payload.get_u32(),
            }
        }
        TYPE_WINDOW_UPDATE => {
            need(8)?;
            Frame::WindowUpdate {
                stream_id: payload.get_u32() & STREAM_ID_MASK,
                delta: payload.get_u32() & STREAM_ID_MASK,
            }
        }
        other => Frame::Unknown { frame_type: other },
    };
    Ok(frame)
}

/// A SETTINGS payload of at least 4 bytes: the entry count, then that many
/// (flags, id, value) entries; `None` when the payload is short of them.
fn decode_settings(flags: u8, mut payload: Bytes) -> Option<Frame> {
    let n = payload.get_u32() as usize;
    if payload.len() < n.saturating_mul(8) {
        return None;
    }
    let entries = (0..n)
        .map(|_| {
            let word = payload.get_u32();
            ((word >> 24) as u8, word & 0x00ff_ffff, payload.get_u32())
        })
        .collect();
    Some(Frame::Settings { flags, entries })
}

fn control(out: &mut BytesMut, frame_type: u16, flags: u8, len: usize) {
    out.put_u16(0x8000 | VERSION);
    out.put_u16(frame_type);
    out.put_u8(flags);
    put_u24(out, len);
}

fn put_u24(out: &mut BytesMut, len: usize) {
    out.put_u8((len >> 16) as u8);
    out.put_u8((len >> 8) as u8);
    out.put_u8(len as u8);
}

/// Appends the wire form of `frame` to `out`.
pub fn encode(frame: &Frame, out: &mut BytesMut) {
    match frame {
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            out.put_u32(stream_id & STREAM_ID_MASK);
            out.put_u8(*flags);
            put_u24(out, data.len());
            out.put_slice(data);
        }
        Frame::SynStream {
            stream_id,
            associated_id,
            priority,
            flags,
            header_block,
        } => {
            control(out, TYPE_SYN_STREAM, *flags, 10 + header_block.len());
            out.put_u32(stream_id & STREAM_ID_MASK);
            out.put_u32(associated_id & STREAM_ID_MASK);
            out.put_u8(priority << 5);
            out.put_u8(0);
            out.put_slice(header_block);
        }
        Frame::SynReply {
            stream_id,
            flags,
            header_block,
        }
        | Frame::Headers {
            stream_id,
            flags,
            header_block,
        } => {
            let t = if matches!(frame, Frame::SynReply { .. }) {
                TYPE_SYN_REPLY
            } else {
                TYPE_HEADERS
            };
            control(out, t, *flags, 4 + header_block.len());
            out.put_u32(stream_id & STREAM_ID_MASK);
            out.put_slice(header_block);
        }
        Frame::RstStream { stream_id, status } => {
            control(out, TYPE_RST_STREAM, 0, 8);
            out.put_u32(stream_id & STREAM_ID_MASK);
            out.put_u32(*status);
        }
        Frame::Settings { flags, entries } => {
            control(out, TYPE_SETTINGS, *flags, 4 + 8 * entries.len());
            out.put_u32(entries.len() as u32);
            for (f, id, value) in entries {
                out.put_u32(((*f as u32) << 24) | (id & 0x00ff_ffff));
                out.put_u32(*value);
            }
        }
        Frame::Ping { id } => {
            control(out, TYPE_PING, 0, 4);
            out.put_u32(*id);
        }
        Frame::GoAway {
            last_good_id,
            status,
        } => {
            control(out, TYPE_GOAWAY, 0, 8);
            out.put_u32(last_good_id & STREAM_ID_MASK);
            out.put_u32(*status);
        }
        Frame::WindowUpdate { stream_id, delta } => {
            control(out, TYPE_WINDOW_UPDATE, 0, 8);
            out.put_u32(stream_id & STREAM_ID_MASK);
            out.put_u32(delta & STREAM_ID_MASK);
        }
        Frame::Unknown { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frame: Frame) {
        let mut buf = BytesMut::new();
        encode(&frame, &mut buf);
        // Incomplete input waits for more.
        let mut partial = BytesMut::from(&buf[..buf.len() - 1]);
        assert_eq!(decode(&mut partial), Ok(None));
        assert_eq!(decode(&mut buf), Ok(Some(frame)));
        assert!(buf.is_empty());
    }

    #[test]
    fn every_frame_type_round_trips() {
        let block = Bytes::from_static(b"\x78\x01compressed");
        round_trip(Frame::Data {
            stream_id: 5,
            flags: FLAG_FIN,
            data: Bytes::from_static(b"hello"),
        });
        round_trip(Frame::SynStream {
            stream_id: 1,
            associated_id: 0,
            priority: 3,
            flags: FLAG_FIN,
            header_block: block.clone(),
        });
        round_trip(Frame::SynReply {
            stream_id: 1,
            flags: 0,
            header_block: block.clone(),
        });
        round_trip(Frame::Headers {
            stream_id: 3,
            flags: 0,
            header_block: block,
        });
        round_trip(Frame::RstStream {
            stream_id: 7,
            status: RST_CANCEL,
        });
        round_trip(Frame::Settings {
            flags: 0,
            entries: vec![(0, SETTINGS_INITIAL_WINDOW_SIZE, 65536), (1, 4, 100)],
        });
        round_trip(Frame::Ping { id: 2 });
        round_trip(Frame::GoAway {
            last_good_id: 9,
            status: 0,
        });
        round_trip(Frame::WindowUpdate {
            stream_id: 0,
            delta: 1 << 20,
        });
    }

    #[test]
    fn data_frame_layout_is_the_spdy3_one() {
        let mut buf = BytesMut::new();
        encode(
            &Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: Bytes::from_static(b"ab"),
            },
            &mut buf,
        );
        assert_eq!(&buf[..], b"\x00\x00\x00\x03\x01\x00\x00\x02ab");
    }

    #[test]
    fn wrong_version_is_an_error() {
        let mut buf = BytesMut::from(&b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01"[..]);
        assert_eq!(decode(&mut buf), Err(FrameError::Version(2)));
    }

    #[test]
    fn unknown_control_frames_are_skipped() {
        let mut buf = BytesMut::from(&b"\x80\x03\x00\x0a\x00\x00\x00\x02xy"[..]);
        assert_eq!(
            decode(&mut buf),
            Ok(Some(Frame::Unknown { frame_type: 10 }))
        );
        assert!(buf.is_empty());
    }
}
