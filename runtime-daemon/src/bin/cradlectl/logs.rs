//! `logs`: a container's log file in the CRI format (`<RFC3339Nano>
//! stdout|stderr F|P <text>`), partial lines joined, printed as text
//! (stderr lines to stderr); `--tail N`, and `-f` to follow the file until
//! the container exits, reopening it by path when it is rotated.

use crate::connect::Runtime;
use anyhow::Context as _;
use cradle_proto::cri;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often `-f` looks for new lines and at the container's state.
const POLL: Duration = Duration::from_millis(200);

/// `cradlectl logs` options.
#[derive(Debug, clap::Args)]
pub struct Logs {
    /// The container.
    id: String,
    /// Follow the log until the container exits (or Ctrl-C).
    #[arg(long, short)]
    follow: bool,
    /// Only the last N lines.
    #[arg(long)]
    tail: Option<usize>,
    /// Prefix each line with its timestamp.
    #[arg(long, short)]
    timestamps: bool,
}

/// Which stream a line was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The container's stdout.
    Stdout,
    /// The container's stderr.
    Stderr,
}

/// One full log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The RFC 3339 time of its last part.
    pub time: String,
    /// Its stream.
    pub stream: Stream,
    /// The text, without the newline.
    pub text: String,
}

/// Turns CRI log lines into full lines, joining `P` (partial) parts to the
/// `F` that ends them, per stream.
#[derive(Debug, Default)]
pub struct Parser {
    partial_out: String,
    partial_err: String,
}

impl Parser {
    /// Feeds one line of the file (no newline); a full line comes out when
    /// it ends. A line not in the CRI format is passed through as stdout.
    pub fn feed(&mut self, line: &str) -> Option<Entry> {
        let Some((time, stream, full, text)) = split(line) else {
            return Some(Entry {
                time: String::new(),
                stream: Stream::Stdout,
                text: line.to_string(),
            });
        };
        let partial = match stream {
            Stream::Stdout => &mut self.partial_out,
            Stream::Stderr => &mut self.partial_err,
        };
        partial.push_str(text);
        full.then(|| Entry {
            time: time.to_string(),
            stream,
            text: std::mem::take(partial),
        })
    }

    /// What is left of unfinished partial lines, at the end of the log.
    pub fn rest(&mut self) -> Vec<Entry> {
        [
            (Stream::Stdout, &mut self.partial_out),
            (Stream::Stderr, &mut self.partial_err),
        ]
        .into_iter()
        .filter(|(_, text)| !text.is_empty())
        .map(|(stream, text)| Entry {
            time: String::new(),
            stream,
            text: std::mem::take(text),
        })
        .collect()
    }
}

/// `time stream tag text` → its parts (the tag's first `:` field is `P` or
/// `F`).
fn split(line: &str) -> Option<(&str, Stream, bool, &str)> {
    let (time, rest) = line.split_once(' ')?;
    let (stream, rest) = rest.split_once(' ')?;
    let (tag, text) = rest.split_once(' ').unwrap_or((rest, ""));
    let stream = match stream {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    let full = match tag.split(':').next() {
        Some("F") => true,
        Some("P") => false,
        _ => return None,
    };
    Some((time, stream, full, text))
}

/// Writes entries to stdout / stderr.
struct Printer {
    timestamps: bool,
}

impl Printer {
    fn print(&self, entry: &Entry) -> anyhow::Result<()> {
        let text = if self.timestamps && !entry.time.is_empty() {
            format!("{} {}\n", entry.time, entry.text)
        } else {
            format!("{}\n", entry.text)
        };
        match entry.stream {
            Stream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())
                    .and_then(|()| out.flush())
                    .context("writing to stdout")
            }
            Stream::Stderr => {
                let mut err = std::io::stderr().lock();
                err.write_all(text.as_bytes())
                    .and_then(|()| err.flush())
                    .context("writing to stderr")
            }
        }
    }
}

/// An open log file and what was read of it: whole lines are handed out,
/// an unfinished last line waits for its newline.
struct Reader {
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
}

impl Reader {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            pending: Vec::new(),
        })
    }

    /// The whole lines written since the last call.
    fn lines(&mut self) -> anyhow::Result<Vec<String>> {
        self.file
            .read_to_end(&mut self.pending)
            .with_context(|| format!("reading {}", self.path.display()))?;
        let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return Ok(Vec::new());
        };
        let rest = self.pending.split_off(end + 1);
        let done = std::mem::replace(&mut self.pending, rest);
        Ok(String::from_utf8_lossy(&done)
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// Whether the path now names another file (rotated: renamed away and
    /// recreated) or ours was truncated (copytruncate).
    fn replaced(&mut self) -> bool {
        let Ok(ours) = self.file.metadata() else {
            return true;
        };
        let Ok(position) = self.file.stream_position() else {
            return true;
        };
        match std::fs::metadata(&self.path) {
            Ok(now) => now.ino() != ours.ino() || now.dev() != ours.dev() || ours.len() < position,
            // Not there (between a rename and the new file): keep ours.
            Err(_) => false,
        }
    }

    /// Opens the file at the path again, from its start.
    fn reopen(&mut self) -> anyhow::Result<()> {
        let file =
            File::open(&self.path).with_context(|| format!("reopening {}", self.path.display()))?;
        self.file = file;
        self.pending.clear();
        self.file.seek(SeekFrom::Start(0))?;
        Ok(())
    }
}

/// The last `n` entries of `lines` (all of them for `None`).
pub fn tail(parser: &mut Parser, lines: &[String], n: Option<usize>) -> Vec<Entry> {
    let mut kept = VecDeque::new();
    for line in lines {
        if let Some(entry) = parser.feed(line) {
            kept.push_back(entry);
            if n.is_some_and(|n| kept.len() > n) {
                kept.pop_front();
            }
        }
    }
    kept.into()
}

/// Whether the container has exited (or is gone).
async fn exited(rt: &mut Runtime, id: &str) -> bool {
    let request = cri::ContainerStatusRequest {
        container_id: id.to_string(),
        verbose: false,
    };
    match rt.container_status(request).await {
        Ok(answer) => answer.into_inner().status.is_none_or(|status| {
            status.state == cri::ContainerState::ContainerExited as i32
                || status.state == cri::ContainerState::ContainerUnknown as i32
        }),
        Err(status) => status.code() == tonic::Code::NotFound,
    }
}

/// Prints the full lines written since the last look.
fn print_new(reader: &mut Reader, parser: &mut Parser, printer: &Printer) -> anyhow::Result<()> {
    for line in reader.lines()? {
        if let Some(entry) = parser.feed(&line) {
            printer.print(&entry)?;
        }
    }
    Ok(())
}

/// `logs`.
pub async fn run(rt: &mut Runtime, options: Logs) -> anyhow::Result<()> {
    let status = rt
        .container_status(cri::ContainerStatusRequest {
            container_id: options.id.clone(),
            verbose: false,
        })
        .await?
        .into_inner()
        .status
        .context("the runtime returned no status")?;
    anyhow::ensure!(
        !status.log_path.is_empty(),
        "container {} has no log path",
        options.id
    );
    let id = status.id;
    let path = PathBuf::from(&status.log_path);
    let printer = Printer {
        timestamps: options.timestamps,
    };
    let mut parser = Parser::default();
    let mut reader = Reader::open(&path)?;
    for entry in tail(&mut parser, &reader.lines()?, options.tail) {
        printer.print(&entry)?;
    }
    if options.follow {
        loop {
            // Read the state before draining, so nothing written before the
            // exit is missed.
            let done = exited(rt, &id).await;
            print_new(&mut reader, &mut parser, &printer)?;
            if done {
                break;
            }
            if reader.replaced() {
                // What the runtime wrote to the old file before it let go.
                print_new(&mut reader, &mut parser, &printer)?;
                reader.reopen()?;
                continue;
            }
            tokio::time::sleep(POLL).await;
        }
    }
    for entry in parser.rest() {
        printer.print(&entry)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn partial_lines_join_per_stream() {
        let mut parser = Parser::default();
        let log = lines(
            "2024-01-01T00:00:00.000000001Z stdout P hel\n\
             2024-01-01T00:00:00.000000002Z stderr F oops\n\
             2024-01-01T00:00:00.000000003Z stdout F lo\n\
             2024-01-01T00:00:00.000000004Z stdout F \n\
             not a cri line",
        );
        let entries = tail(&mut parser, &log, None);
        let texts: Vec<(&str, Stream)> = entries
            .iter()
            .map(|e| (e.text.as_str(), e.stream))
            .collect();
        assert_eq!(
            texts,
            [
                ("oops", Stream::Stderr),
                ("hello", Stream::Stdout),
                ("", Stream::Stdout),
                ("not a cri line", Stream::Stdout),
            ]
        );
        assert_eq!(entries[1].time, "2024-01-01T00:00:00.000000003Z");
    }

    #[test]
    fn tail_keeps_the_last_full_lines() {
        let mut parser = Parser::default();
        let log = lines("t stdout F 1\nt stdout F 2\nt stdout P 3\nt stdout F a\nt stdout P x");
        let entries = tail(&mut parser, &log, Some(2));
        let texts: Vec<&str> = entries.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["2", "3a"]);
        assert_eq!(parser.rest()[0].text, "x");
    }

    #[test]
    fn the_reader_waits_for_newlines_and_sees_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, "t stdout F one\nt stdout F tw").unwrap();
        let mut reader = Reader::open(&path).unwrap();
        assert_eq!(reader.lines().unwrap(), ["t stdout F one"]);
        assert!(!reader.replaced());
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"o\n").unwrap();
        assert_eq!(reader.lines().unwrap(), ["t stdout F two"]);
        // Rotated: renamed away, a new file at the path.
        std::fs::rename(&path, dir.path().join("0.log.1")).unwrap();
        assert!(!reader.replaced(), "no file at the path yet");
        std::fs::write(&path, "t stdout F three\n").unwrap();
        assert!(reader.replaced());
        reader.reopen().unwrap();
        assert_eq!(reader.lines().unwrap(), ["t stdout F three"]);
        // Truncated in place.
        std::fs::write(&path, "").unwrap();
        assert!(reader.replaced());
    }
}
