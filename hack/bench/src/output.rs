//! Where reports go: a table or JSON on stdout, and optionally a JSON file.

use std::path::PathBuf;

/// The report destinations chosen on the command line.
pub struct Output {
    pub json: bool,
    pub json_out: Option<PathBuf>,
}

/// Writes `value` as JSON to the file (if any), then prints it as JSON or
/// as `table` renders it.
pub fn print<T: serde::Serialize>(
    out: &Output,
    value: &T,
    table: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if let Some(path) = &out.json_out {
        std::fs::write(path, serde_json::to_string_pretty(value)?)?;
    }
    if out.json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", table(value));
    }
    Ok(())
}
