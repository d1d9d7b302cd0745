//! Where a key is in a configuration file's text: the key path a parser
//! error's byte offset falls in, the place a key path is written, and the
//! line of a byte offset. So that an error names the key and the line.

use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// The dotted form of a key path: `registry.hosts."docker.io".mirrors`
/// (segments that are no bare TOML keys quoted).
pub fn dotted<S: AsRef<str>>(path: &[S]) -> String {
    path.iter()
        .map(|segment| {
            let segment = segment.as_ref();
            let bare = !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if bare {
                segment.to_string()
            } else {
                toml::Value::String(segment.to_string()).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The 1-based line of byte `offset` of `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The deepest key path whose key or value holds byte `offset`; `None`
/// when the text does not parse as TOML or no key is there.
pub fn key_at(text: &str, offset: usize) -> Option<Vec<String>> {
    let document = DeTable::parse(text).ok()?;
    let mut best = None;
    search(document.get_ref(), &mut Vec::new(), offset, &mut best);
    best
}

/// Where `path` is written: its key (a table's in its header), or the
/// nearest parent's when the file leaves it out; `None` when not even
/// its top-level key is there or the text does not parse.
pub fn span_of<S: AsRef<str>>(text: &str, path: &[S]) -> Option<Range<usize>> {
    let document = DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut found = None;
    for segment in path {
        let Some((key, value)) = table.get_key_value(segment.as_ref()) else {
            break;
        };
        found = Some(key.span());
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    found
}

fn holds(span: Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || (span.is_empty() && span.start == offset)
}

fn search(
    table: &DeTable<'_>,
    path: &mut Vec<String>,
    offset: usize,
    best: &mut Option<Vec<String>>,
) {
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        if holds(key.span(), offset) || holds(value.span(), offset) {
            let deeper = best.as_ref().is_none_or(|b| b.len() < path.len());
            if deeper {
                *best = Some(path.clone());
            }
        }
        if let DeValue::Table(inner) = value.get_ref() {
            search(inner, path, offset, best);
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "a = 1\n[t.runc]\nx = 2\n\n[t.\"q.z\"]\ny = { z = 4 }\n";

    #[test]
    fn an_offset_names_the_deepest_key_it_is_in() {
        let at = |needle: &str| key_at(TEXT, TEXT.find(needle).unwrap());
        assert_eq!(at("1"), Some(vec!["a".to_string()]));
        assert_eq!(at("x"), Some(vec!["t".into(), "runc".into(), "x".into()]));
        assert_eq!(
            at("4"),
            Some(vec!["t".into(), "q.z".into(), "y".into(), "z".into()])
        );
        assert_eq!(key_at("a = [", 4), None);
    }

    #[test]
    fn a_path_is_found_where_written_or_at_its_nearest_parent() {
        let line = |path: &[&str]| span_of(TEXT, path).map(|s| line_of(TEXT, s.start));
        assert_eq!(line(&["t", "runc", "x"]), Some(3));
        assert_eq!(line(&["t", "q.z", "absent"]), Some(5));
        assert_eq!(line(&["absent"]), None);
    }

    #[test]
    fn dotted_quotes_what_is_no_bare_key() {
        assert_eq!(
            dotted(&["registry", "hosts", "docker.io", "ca"]),
            "registry.hosts.\"docker.io\".ca"
        );
        assert_eq!(
            dotted(&["runtime_handlers", "cradle-oci"]),
            "runtime_handlers.cradle-oci"
        );
    }
}
