//! Where warnings and errors go: runc's `--log FILE` / `--log-format`, or
//! stderr. A process-wide sink is fine: the launcher is single-threaded,
//! and forked children inherit the open file.

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `time="…" level=warning msg="…"`, as runc's text format.
    Text,
    /// One JSON object per line: `{"level":…,"msg":…,"time":…}`.
    Json,
}

struct Sink {
    file: Option<Mutex<File>>,
    format: Format,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Sets the log destination once, at start-up; `None` means stderr.
pub fn init(file: Option<File>, format: Format) {
    let _ = SINK.set(Sink {
        file: file.map(Mutex::new),
        format,
    });
}

/// Logs a warning (never fails).
pub fn warn(msg: &str) {
    write("warning", msg);
}

/// Logs an error (never fails).
pub fn error(msg: &str) {
    write("error", msg);
}

fn write(level: &str, msg: &str) {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let format = SINK.get().map_or(Format::Text, |s| s.format);
    let line = match format {
        Format::Json => serde_json::json!({"level": level, "msg": msg, "time": time}).to_string(),
        Format::Text => format!("time={time:?} level={level} msg={msg:?}"),
    };
    match SINK.get().and_then(|s| s.file.as_ref()) {
        Some(f) => {
            if let Ok(mut f) = f.lock() {
                let _ = writeln!(f, "{line}");
            }
        }
        None => {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}
