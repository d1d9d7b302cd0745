//! The configuration reference (`core/config/reference.rs`) against the
//! configuration structs: every field of every table has an entry and
//! every entry a field, types and defaults agree, the printed default file
//! parses back to the defaults (and, its examples uncommented, sets every
//! key), and `docs/config.md` says what the reference says. After changing
//! the reference, `CRADLE_BLESS=1 cargo test -p cradle-daemon --test
//! config_reference` rewrites the doc.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use cradle_daemon::core::config::Config;
use cradle_daemon::core::config::reference::{Entry, REFERENCE, Type};
use cradle_daemon::core::config::render::{self, Examples, defaults, instantiate, lookup};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md")
}

fn parse(text: &str) -> Result<Config, String> {
    Config::from_toml(text, Path::new("probe.toml")).map_err(|e| e.to_string())
}

/// A TOML header for `path` (segments quoted).
fn header(path: &[String]) -> String {
    let quoted: Vec<String> = path
        .iter()
        .map(|s| toml::Value::String(s.clone()).to_string())
        .collect();
    format!("[{}]\n", quoted.join("."))
}

/// The entry's parent key (`""` at the top).
fn parent(entry: &Entry) -> &'static str {
    entry.key.rsplit_once('.').map_or("", |(up, _)| up)
}

/// The field names the structs accept in the table at `path`, read from
/// the parser's answer to an unknown key there (`deny_unknown_fields`
/// lists the expected ones).
fn fields_of(path: &[String]) -> BTreeSet<String> {
    let mut text = String::new();
    if !path.is_empty() {
        text.push_str(&header(path));
    }
    text.push_str("__probe__ = 0\n");
    let err = parse(&text).expect_err("an unknown key must be refused");
    assert!(err.contains("unknown field `__probe__`"), "{err}");
    let expected = err
        .split_once(", expected ")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn every_field_has_an_entry_and_every_entry_a_field() {
    let mut tables: Vec<Option<&Entry>> = vec![None];
    tables.extend(REFERENCE.iter().filter(|e| e.ty == Type::Table).map(Some));
    let mut problems = Vec::new();
    for table in tables {
        let (key, path) = match table {
            None => ("", Vec::new()),
            Some(entry) => (entry.key, instantiate(entry)),
        };
        let fields = fields_of(&path);
        assert!(!fields.is_empty(), "no fields found for {key:?}");
        let documented: BTreeSet<String> = REFERENCE
            .iter()
            .filter(|e| parent(e) == key)
            .map(|e| e.segments().last().unwrap().to_string())
            .collect();
        for missing in fields.difference(&documented) {
            problems.push(format!(
                "{key:?} has a key `{missing}` without an entry in reference.rs"
            ));
        }
        for stale in documented.difference(&fields) {
            problems.push(format!(
                "reference.rs documents `{stale}` under {key:?}, which the config does not have"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_reference_is_a_tree_of_tables_with_named_ones_below_tables_by_name() {
    let mut seen = BTreeSet::new();
    for entry in REFERENCE {
        assert!(seen.insert(entry.key), "{} twice", entry.key);
        assert!(!entry.doc.is_empty(), "{} has no doc", entry.key);
        let up = parent(entry);
        if !up.is_empty() {
            let parent_entry = REFERENCE
                .iter()
                .find(|e| e.key == up)
                .unwrap_or_else(|| panic!("{}: no entry for its table {up}", entry.key));
            assert!(
                parent_entry.ty.is_table(),
                "{}: {up} is no table",
                entry.key
            );
            assert_eq!(
                parent_entry.ty == Type::Tables,
                entry.is_name(),
                "{}: the tables by name hold exactly one <name> entry, and nothing else",
                entry.key
            );
        }
        if entry.is_name() {
            assert_eq!(entry.ty, Type::Table, "{}", entry.key);
            assert!(entry.example.is_some(), "{}: no example name", entry.key);
        }
    }
}

/// Whether `value` is of the reference's type `ty`.
fn has_type(ty: Type, value: &toml::Value) -> bool {
    let strings = |v: &toml::Value| {
        v.as_array()
            .is_some_and(|a| a.iter().all(toml::Value::is_str))
    };
    match ty {
        Type::Path | Type::Text | Type::Address | Type::Duration => value.is_str(),
        Type::Choice(choices) => value.as_str().is_some_and(|v| choices.contains(&v)),
        Type::Paths | Type::Texts => strings(value),
        Type::Integer => value.is_integer(),
        Type::Boolean => value.is_bool(),
        Type::Table | Type::Tables => value.is_table(),
    }
}

#[test]
fn defaults_and_examples_are_of_the_documented_type() {
    let defaults = defaults();
    for entry in REFERENCE.iter().filter(|e| !e.ty.is_table()) {
        let default = lookup(&defaults, &instantiate(entry));
        if let Some(default) = default {
            assert!(
                has_type(entry.ty, default),
                "{}: default {default} is no {}",
                entry.key,
                entry.ty.describe()
            );
        }
        let needs_example = default.is_none() || entry.key.contains('<');
        match (needs_example, entry.example) {
            (true, None) if default.is_none() => {
                panic!("{}: no default, so it needs an example", entry.key)
            }
            (false, Some(example)) => panic!(
                "{}: the example {example} is never shown (the default is)",
                entry.key
            ),
            _ => {}
        }
        if let Some(example) = entry.example {
            let value: toml::Table = toml::from_str(&format!("v = {example}")).unwrap();
            assert!(
                has_type(entry.ty, &value["v"]),
                "{}: example {example} is no {}",
                entry.key,
                entry.ty.describe()
            );
        }
    }
    let built_in = toml::Table::try_from(Config::default()).unwrap();
    for entry in REFERENCE.iter().filter(|e| e.ty == Type::Tables) {
        let value = lookup(&built_in, &entry.segments());
        assert!(
            value.is_none_or(|v| v.as_table().is_some_and(toml::Table::is_empty)),
            "{}: the rendering shows tables by name only as commented examples",
            entry.key
        );
    }
}

#[test]
fn each_choice_parses_and_nothing_else_does() {
    for entry in REFERENCE {
        let Type::Choice(choices) = entry.ty else {
            continue;
        };
        let path = instantiate(entry);
        let (name, table) = path.split_last().unwrap();
        let prefix = if table.is_empty() {
            String::new()
        } else {
            header(table)
        };
        for choice in choices {
            let text = format!("{prefix}{name} = \"{choice}\"\n");
            assert!(parse(&text).is_ok(), "{}: {choice} refused", entry.key);
        }
        let text = format!("{prefix}{name} = \"no-such-choice\"\n");
        assert!(
            parse(&text).is_err(),
            "{}: an unlisted value parses",
            entry.key
        );
    }
}

#[test]
fn the_printed_default_config_parses_to_the_defaults() {
    let text = render::default_config(Examples::Commented);
    assert_eq!(parse(&text).unwrap(), Config::default());
}

/// Every key path of `table`, map names replaced by the reference's
/// `<name>` where the reference has a table by name there.
fn key_paths(table: &toml::Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (name, value) in table {
        let by_name = REFERENCE
            .iter()
            .find(|e| e.is_name() && parent(e) == prefix);
        let segment = by_name.map_or(name.as_str(), |e| *e.segments().last().unwrap());
        let key = if prefix.is_empty() {
            segment.to_string()
        } else {
            format!("{prefix}.{segment}")
        };
        out.insert(key.clone());
        if let Some(inner) = value.as_table() {
            key_paths(inner, &key, out);
        }
    }
}

#[test]
fn uncommenting_the_examples_still_parses_and_sets_every_documented_key() {
    let commented = render::default_config(Examples::Commented);
    let active = render::default_config(Examples::Active);
    let (commented_lines, active_lines): (Vec<&str>, Vec<&str>) =
        (commented.lines().collect(), active.lines().collect());
    assert_eq!(commented_lines.len(), active_lines.len());
    for (c, a) in commented_lines.iter().zip(&active_lines) {
        assert!(
            c == a || c.strip_prefix("# ") == Some(a),
            "the examples differ from the printed file only by their `# `:\n{c}\n{a}"
        );
    }
    let config = parse(&active).unwrap();
    assert_ne!(config, Config::default());
    let serialized = toml::Table::try_from(&config).unwrap();
    let mut set = BTreeSet::new();
    key_paths(&serialized, "", &mut set);
    let documented: BTreeSet<String> = REFERENCE.iter().map(|e| e.key.to_string()).collect();
    let undocumented: Vec<_> = set.difference(&documented).collect();
    let unset: Vec<_> = documented.difference(&set).collect();
    assert!(
        undocumented.is_empty() && unset.is_empty(),
        "set without an entry: {undocumented:?}; documented but not set by the examples: {unset:?}"
    );
}

#[test]
fn every_flag_is_a_documented_key_once() {
    let mut flags = BTreeMap::new();
    for entry in REFERENCE {
        if let Some(flag) = entry.flag {
            assert!(flag.starts_with("--"), "{flag}");
            assert!(
                flags.insert(flag, entry.key).is_none(),
                "{flag} twice in reference.rs"
            );
        }
    }
    assert!(flags.contains_key("--socket"));
}

#[test]
fn docs_config_md_says_what_the_reference_says() {
    let rendered = render::markdown();
    if std::env::var_os("CRADLE_BLESS").is_some() {
        std::fs::write(doc_path(), &rendered).unwrap();
        return;
    }
    let written = std::fs::read_to_string(doc_path()).unwrap_or_default();
    assert!(
        written == rendered,
        "docs/config.md is not what reference.rs says: rewrite it with \
         CRADLE_BLESS=1 cargo test -p cradle-daemon --test config_reference"
    );
}
