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

/// Warnings held back instead of written (see [`capture`]).
static CAPTURED: Mutex<Option<Vec<String>>> = Mutex::new(None);

/// From now on, keep warnings in memory instead of writing them. The
/// container's init does this: its stderr is the container's, so its
/// warnings travel to `create` over the sync socket instead.
pub fn capture() {
    if let Ok(mut c) = CAPTURED.lock() {
        *c = Some(Vec::new());
    }
}

/// Returns (and clears) the captured warnings.
pub fn take_captured() -> Vec<String> {
    CAPTURED
        .lock()
        .ok()
        .and_then(|mut c| c.as_mut().map(std::mem::take))
        .unwrap_or_default()
}

/// Sets the log destination once, at start-up; `None` means stderr.
pub fn init(file: Option<File>, format: Format) {
    let _ = SINK.set(Sink {
        file: file.map(Mutex::new),
        format,
    });
}

/// Logs a warning (never fails).
pub fn warn(msg: &str) {
    if let Ok(mut c) = CAPTURED.lock()
        && let Some(list) = c.as_mut()
    {
        list.push(msg.to_string());
        return;
    }
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
