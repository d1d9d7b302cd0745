//! The `-o/--output` format and the few ways an answer is written out: a
//! human table (the default), JSON or YAML of the CRI response.

use anyhow::Context as _;
use serde::Serialize;
use std::collections::HashMap;

/// How answers are printed (`-o table|json|yaml`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Column-aligned tables for lists; YAML (or JSON for `inspect*`) for
    /// single documents.
    #[default]
    Table,
    /// Pretty JSON of the CRI response.
    Json,
    /// YAML of the CRI response.
    Yaml,
}

/// Writes one line to stdout; a closed pipe (`| head`) is an error, not a panic.
pub fn line(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    writeln!(std::io::stdout().lock(), "{text}").context("writing to stdout")
}

/// Writes `text` as is (it carries its own newlines).
pub fn raw(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to stdout")
}

/// Pretty JSON of `value`.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    line(&serde_json::to_string_pretty(value)?)
}

/// YAML of `value`.
pub fn yaml<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    raw(&serde_yaml_ng::to_string(value)?)
}

/// A single document (not a list): JSON or YAML as asked; `table` falls
/// back to `table_as`.
pub fn document<T: Serialize + ?Sized>(
    value: &T,
    format: Format,
    table_as: Format,
) -> anyhow::Result<()> {
    match (format, table_as) {
        (Format::Json, _) | (Format::Table, Format::Json) => json(value),
        _ => yaml(value),
    }
}

/// `value` (a status response) as JSON with its verbose `info` map's values
/// parsed: the runtime puts JSON documents there as strings; a value that is
/// not JSON stays a string.
pub fn with_info<T: Serialize>(
    value: &T,
    info: &HashMap<String, String>,
) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(value)?;
    if let Some(object) = value.as_object_mut() {
        let parsed: serde_json::Map<String, serde_json::Value> = info
            .iter()
            .map(|(key, text)| {
                let parsed = serde_json::from_str(text)
                    .unwrap_or_else(|_| serde_json::Value::String(text.clone()));
                (key.clone(), parsed)
            })
            .collect();
        object.insert("info".into(), serde_json::Value::Object(parsed));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_values_are_parsed_when_they_are_json() {
        #[derive(Serialize)]
        struct Status {
            id: &'static str,
            info: HashMap<String, String>,
        }
        let info = HashMap::from([
            ("info".to_string(), r#"{"pid":42,"ok":true}"#.to_string()),
            ("note".to_string(), "not json".to_string()),
        ]);
        let status = Status {
            id: "c1",
            info: info.clone(),
        };
        let value = with_info(&status, &info).unwrap();
        assert_eq!(value["id"], "c1");
        assert_eq!(value["info"]["info"]["pid"], 42);
        assert_eq!(value["info"]["info"]["ok"], true);
        assert_eq!(value["info"]["note"], "not json");
    }
}
