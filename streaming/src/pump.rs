//! Byte plumbing shared by the protocols: in-memory pipes between a protocol
//! task and the backend's reader/writer, and the resize-message decoder.

use crate::request::TerminalSize;
use tokio::io::DuplexStream;

/// Buffer of each pipe: the backpressure point between client and process.
pub const PIPE_SIZE: usize = 64 * 1024;
/// Largest chunk moved at once.
pub const CHUNK: usize = 32 * 1024;

/// A pipe: one end for the backend, the other for the protocol task.
pub fn pipe() -> (DuplexStream, DuplexStream) {
    tokio::io::duplex(PIPE_SIZE)
}

/// Takes every complete `{"Width":..,"Height":..}` object from the front of
/// `buf` (clients write them back to back, often newline-separated); an
/// incomplete tail stays for the next read, garbage is dropped.
pub fn take_resizes(buf: &mut Vec<u8>) -> Vec<TerminalSize> {
    let mut sizes = Vec::new();
    let mut consumed = 0;
    let mut iter = serde_json::Deserializer::from_slice(buf).into_iter::<TerminalSize>();
    loop {
        match iter.next() {
            Some(Ok(size)) => {
                sizes.push(size);
                consumed = iter.byte_offset();
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(_)) => {
                consumed = buf.len();
                break;
            }
            None => {
                consumed = buf.len();
                break;
            }
        }
    }
    buf.drain(..consumed);
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizes_are_decoded_across_chunks() {
        let mut buf = br#"{"Width":80,"Height":24}
{"Width":100,"He"#
            .to_vec();
        assert_eq!(
            take_resizes(&mut buf),
            vec![TerminalSize {
                width: 80,
                height: 24
            }]
        );
        buf.extend_from_slice(br#"ight":40}"#);
        assert_eq!(
            take_resizes(&mut buf),
            vec![TerminalSize {
                width: 100,
                height: 40
            }]
        );
        assert!(buf.iter().all(|b| b.is_ascii_whitespace()));
    }
}
