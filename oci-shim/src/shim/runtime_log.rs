//! What the OCI runtime logged about the container after its start.
//!
//! Between `start` and the process's own code there is one step that can
//! still fail: the init's execve (E2BIG for an environment over the
//! kernel's limit, ENOENT, EACCES…). `start` has returned by then, so the
//! init can only log the error (to the runtime's `--log`, which the shim
//! gives it) and exit 127. The shim notes where that log ended at start
//! and, when the process exits with an error, takes the last error logged
//! since as the exit's message, so the container's status says why.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// At most this much of the log is read after the mark.
const MAX_READ: u64 = 64 << 10;

/// The log's current length: where the errors of this start begin.
pub fn mark(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The last error the runtime logged after `mark`, empty if none. Reads
/// runc's text format (`level=error msg="…"`, as cradle-oci and runc
/// write it) and its JSON format (`"level":"error"`).
pub fn last_error_since(path: &Path, mark: u64) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    if file.seek(SeekFrom::Start(mark)).is_err() {
        return String::new();
    }
    let mut text = String::new();
    if file.take(MAX_READ).read_to_string(&mut text).is_err() {
        return String::new();
    }
    text.lines()
        .rev()
        .find_map(error_message)
        .unwrap_or_default()
}

fn error_message(line: &str) -> Option<String> {
    if line.trim_start().starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        if value.get("level")?.as_str()? != "error" {
            return None;
        }
        return Some(value.get("msg")?.as_str()?.to_string());
    }
    if !line.contains("level=error") {
        return None;
    }
    let (_, quoted) = line.split_once("msg=")?;
    let quoted = quoted.trim();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(quoted);
    Some(inner.replace("\\\"", "\"").replace("\\\\", "\\"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_error_after_the_mark_is_taken_in_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runtime.log");
        std::fs::write(&log, "time=\"t\" level=error msg=\"before start\"\n").unwrap();
        let at = mark(&log);
        assert_eq!(last_error_since(&log, at), "");
        let mut text = std::fs::read_to_string(&log).unwrap();
        text.push_str("time=\"t\" level=warning msg=\"a warning\"\n");
        text.push_str(
            "time=\"t\" level=error msg=\"exec \\\"/bin/true\\\": E2BIG: Argument list too long\"\n",
        );
        std::fs::write(&log, &text).unwrap();
        assert_eq!(
            last_error_since(&log, at),
            "exec \"/bin/true\": E2BIG: Argument list too long"
        );
        text.push_str("{\"level\":\"error\",\"msg\":\"json said\",\"time\":\"t\"}\n");
        std::fs::write(&log, &text).unwrap();
        assert_eq!(last_error_since(&log, at), "json said");
        assert_eq!(last_error_since(&dir.path().join("none"), 0), "");
    }
}
