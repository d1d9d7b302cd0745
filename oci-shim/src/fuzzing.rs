//! A check for the fuzz targets (`fuzz/`) and the seed-corpus replay test:
//! the CRI log writer ([`crate::shim::logger`]) fed arbitrary output in
//! arbitrary chunks.
//!
//! Not an API: hidden from the docs; nothing of it is linked into the
//! shipped binaries (no binary calls it).

use chrono::{DateTime, SecondsFormat, Utc};

use crate::shim::logger::{MAX_RECORD, Stream, format_chunk};

/// Reads `input` as a clock reading and the chunks a container wrote:
/// `[secs: u32 LE][nanos: u32 LE]` then records of
/// `[stream][len: u16 LE][bytes]` (stream bit 0: stderr). Panics unless
/// every chunk becomes well-formed CRI log lines,
/// `<RFC3339Nano> <stdout|stderr> <P|F> <content>\n`, stamped with the
/// clock, content at most [`MAX_RECORD`] bytes, a `P` record only where
/// a chunk or a long line was cut, and unless each stream's records,
/// joined (`F` adding the newline back), give back what it wrote.
#[allow(
    clippy::expect_used,
    reason = "a fuzz oracle: like its asserts, a failed expect is the finding"
)]
pub fn check_cri_log(input: &[u8]) {
    let Some((clock, mut rest)) = input.split_first_chunk::<8>() else {
        return;
    };
    let secs = u32::from_le_bytes([clock[0], clock[1], clock[2], clock[3]]);
    let nanos = u32::from_le_bytes([clock[4], clock[5], clock[6], clock[7]]) % 1_000_000_000;
    let now = DateTime::<Utc>::from_timestamp(i64::from(secs), nanos).expect("a u32 of seconds");
    let stamp = now.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let mut written = [Vec::new(), Vec::new()];
    let mut logged = [Vec::new(), Vec::new()];
    while let [kind, lo, hi, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (chunk, next) = tail.split_at(len);
        rest = next;
        let (stream, which) = if kind & 1 == 0 {
            (Stream::Stdout, 0)
        } else {
            (Stream::Stderr, 1)
        };
        written[which].extend_from_slice(chunk);
        let out = format_chunk(stream, chunk, now);
        assert_eq!(
            out.is_empty(),
            chunk.is_empty(),
            "records of an empty chunk"
        );
        assert!(
            out.is_empty() || out.ends_with(b"\n"),
            "unterminated record"
        );
        let lines: Vec<&[u8]> = out.split(|b| *b == b'\n').collect();
        let records = &lines[..lines.len() - 1];
        for (i, line) in records.iter().enumerate() {
            let (ts, tail) = split_field(line);
            let (tag, tail) = split_field(tail);
            let (kind, content) = split_field(tail);
            assert_eq!(ts, stamp.as_bytes(), "timestamp");
            let parsed = std::str::from_utf8(ts)
                .ok()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .expect("an RFC 3339 timestamp");
            assert_eq!(parsed, now, "timestamp value");
            assert_eq!(tag, stream.tag().as_bytes(), "stream tag");
            assert!(
                content.len() <= MAX_RECORD,
                "record of {} bytes",
                content.len()
            );
            match kind {
                b"F" => {
                    logged[which].extend_from_slice(content);
                    logged[which].push(b'\n');
                }
                b"P" => {
                    assert!(
                        content.len() == MAX_RECORD || i == records.len() - 1,
                        "a partial record in the middle of a chunk"
                    );
                    logged[which].extend_from_slice(content);
                }
                other => panic!("record tag {other:?}"),
            }
        }
    }
    assert_eq!(logged, written, "records do not give back the output");
}

/// The bytes before the first space and those after it.
fn split_field(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|b| *b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => panic!(
            "record {:?} has too few fields",
            String::from_utf8_lossy(line)
        ),
    }
}
