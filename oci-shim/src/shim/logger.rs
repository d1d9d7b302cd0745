//! The CRI log writer.
//!
//! Every chunk read from the container's stdout or stderr becomes records of
//! the CRI log format the kubelet and critest parse:
//! `<RFC3339Nano UTC> <stdout|stderr> <F|P> <content>\n`. Each complete line
//! is one `F` record (without its newline); a fragment at the end of a chunk
//! is a `P` record, completed by the following record(s).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

use super::ShimError;

/// Which of the container's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The container's standard output.
    Stdout,
    /// The container's standard error.
    Stderr,
}

impl Stream {
    /// The tag in the CRI log format.
    pub fn tag(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Longest content of one record; longer lines are split into `P` records,
/// as containerd does (its `max_container_log_line_size` default).
pub const MAX_RECORD: usize = 16 * 1024;

/// Format one chunk as CRI log records, stamped with `now`.
pub fn format_chunk(stream: Stream, chunk: &[u8], now: DateTime<Utc>) -> Vec<u8> {
    let stamp = now.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let mut out = Vec::with_capacity(chunk.len() + 48);
    let mut rest = chunk;
    while !rest.is_empty() {
        let (content, tag, next) = match rest.iter().position(|b| *b == b'\n') {
            Some(end) if end <= MAX_RECORD => (&rest[..end], "F", &rest[end + 1..]),
            _ if rest.len() > MAX_RECORD => (&rest[..MAX_RECORD], "P", &rest[MAX_RECORD..]),
            _ => (rest, "P", &rest[rest.len()..]),
        };
        out.extend_from_slice(stamp.as_bytes());
        out.push(b' ');
        out.extend_from_slice(stream.tag().as_bytes());
        out.push(b' ');
        out.extend_from_slice(tag.as_bytes());
        out.push(b' ');
        out.extend_from_slice(content);
        out.push(b'\n');
        rest = next;
    }
    out
}

/// The container's CRI log file (or nowhere, when the daemon gave no path).
#[derive(Debug)]
pub struct CriLog {
    path: Option<PathBuf>,
    file: Option<File>,
}

impl CriLog {
    /// Open (creating it and its directory, mode 0640) the log at `path`.
    pub fn open(path: Option<PathBuf>) -> Result<CriLog, ShimError> {
        let file = match &path {
            Some(path) => Some(open_log(path)?),
            None => None,
        };
        Ok(CriLog { path, file })
    }

    /// Write one chunk of `stream` as CRI records.
    pub fn write_chunk(&mut self, stream: Stream, chunk: &[u8]) -> Result<(), ShimError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let records = format_chunk(stream, chunk, Utc::now());
        file.write_all(&records)
            .map_err(ShimError::io("writing the container log"))
    }

    /// Reopen the file at the same path, after the kubelet rotated it.
    pub fn reopen(&mut self) -> Result<(), ShimError> {
        if let Some(path) = &self.path {
            self.file = None;
            self.file = Some(open_log(path)?);
        }
        Ok(())
    }
}

fn open_log(path: &Path) -> Result<File, ShimError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(parent)
            .map_err(ShimError::io(format!("creating {}", parent.display())))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(ShimError::io(format!("opening log {}", path.display())))?;
    Ok(file)
}

/// Remove a log file we created, on a failed start (best effort).
pub fn remove_log(path: &Path) {
    let _ = fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fixed() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 15, 4, 5).unwrap()
            + chrono::Duration::nanoseconds(123_456_789)
    }

    fn text(stream: Stream, chunk: &[u8]) -> String {
        String::from_utf8(format_chunk(stream, chunk, fixed())).unwrap()
    }

    #[test]
    fn complete_lines_become_full_records() {
        assert_eq!(
            text(Stream::Stdout, b"hello\nworld\n"),
            "2026-01-02T15:04:05.123456789Z stdout F hello\n\
             2026-01-02T15:04:05.123456789Z stdout F world\n"
        );
    }

    #[test]
    fn trailing_fragment_becomes_partial_record() {
        assert_eq!(
            text(Stream::Stderr, b"oops\nhalf"),
            "2026-01-02T15:04:05.123456789Z stderr F oops\n\
             2026-01-02T15:04:05.123456789Z stderr P half\n"
        );
    }

    #[test]
    fn empty_line_is_an_empty_full_record() {
        assert_eq!(
            text(Stream::Stdout, b"\n"),
            "2026-01-02T15:04:05.123456789Z stdout F \n"
        );
    }

    #[test]
    fn long_line_is_split_into_partial_records() {
        let mut chunk = vec![b'a'; MAX_RECORD + 10];
        chunk.push(b'\n');
        let out = text(Stream::Stdout, &chunk);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("2026-01-02T15:04:05.123456789Z stdout P aaa"));
        assert_eq!(
            lines[0].len(),
            "2026-01-02T15:04:05.123456789Z stdout P ".len() + MAX_RECORD
        );
        assert_eq!(
            lines[1],
            format!("2026-01-02T15:04:05.123456789Z stdout F {}", "a".repeat(10))
        );
    }

    #[test]
    fn timestamp_keeps_nine_fraction_digits() {
        let whole = Utc.with_ymd_and_hms(2026, 1, 2, 15, 4, 5).unwrap();
        let out = String::from_utf8(format_chunk(Stream::Stdout, b"x\n", whole)).unwrap();
        assert_eq!(out, "2026-01-02T15:04:05.000000000Z stdout F x\n");
    }

    #[test]
    fn log_file_is_created_with_mode_0640_and_appended() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pods/c/0.log");
        let mut log = CriLog::open(Some(path.clone())).unwrap();
        log.write_chunk(Stream::Stdout, b"one\n").unwrap();
        log.reopen().unwrap();
        log.write_chunk(Stream::Stderr, b"two\n").unwrap();
        let content = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = content.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with(" stdout F one"));
        assert!(lines[1].ends_with(" stderr F two"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
}
