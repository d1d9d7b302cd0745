//! The configuration reference rendered twice: as the commented
//! `config.toml` `cradled --print-default-config` prints (every key at
//! its default, the keys without one commented out with an example), and
//! as `docs/config.md`. Defaults come from [`Config::default`] itself,
//! serialized, so neither can say another value than the daemon uses.

use super::Config;
use super::locate::dotted;
use super::reference::{Entry, REFERENCE, Type};

/// What the rendered file does with the example lines (keys without a
/// default, and the tables by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Examples {
    /// Commented out, as printed: the file parses to the defaults.
    Commented,
    /// Left in: the file sets every key there is.
    Active,
}

/// The widest comment line of the rendered file.
const WIDTH: usize = 79;

/// The path of `entry` with every `<name>` segment replaced by its
/// example name (`runtime_handlers.runc.root`).
pub fn instantiate(entry: &Entry) -> Vec<String> {
    let segments = entry.segments();
    segments
        .iter()
        .enumerate()
        .map(|(i, segment)| {
            if segment.starts_with('<') {
                let name_key = segments[..=i].join(".");
                REFERENCE
                    .iter()
                    .find(|e| e.key == name_key)
                    .and_then(|e| e.example)
                    .unwrap_or(segment)
                    .to_string()
            } else {
                segment.to_string()
            }
        })
        .collect()
}

/// The defaults, serialized: [`Config::default`] plus one table of each
/// kind by name (at its example name, as the daemon fills it in when the
/// table is given empty), so the defaults of their keys are known too.
/// Keys whose default is absent (`None`) are not in it.
pub fn defaults() -> toml::Table {
    let mut text = String::new();
    for entry in REFERENCE.iter().filter(|e| e.is_name()) {
        text.push_str(&format!("[{}]\n", dotted(&instantiate(entry))));
    }
    let config = toml::from_str::<Config>(&text).unwrap_or_default();
    toml::Table::try_from(&config).unwrap_or_default()
}

/// The value at `path` of `table`.
pub fn lookup<'a, S: AsRef<str>>(table: &'a toml::Table, path: &[S]) -> Option<&'a toml::Value> {
    let (last, parents) = path.split_last()?;
    let mut table = table;
    for segment in parents {
        table = table.get(segment.as_ref())?.as_table()?;
    }
    table.get(last.as_ref())
}

/// The entries directly below `parent` (`""`: the top level).
fn children(parent: &str) -> impl Iterator<Item = &'static Entry> + '_ {
    REFERENCE
        .iter()
        .filter(move |e| match e.key.rsplit_once('.') {
            Some((up, _)) => up == parent,
            None => parent.is_empty(),
        })
}

/// A key's line in the file is an example, not its default: it is below
/// a table by name, or has no default.
fn is_example(entry: &Entry, defaults: &toml::Table) -> bool {
    entry.key.contains('<') || lookup(defaults, &instantiate(entry)).is_none()
}

/// The value shown for a key: its example where it is one, else its default.
fn shown_value(entry: &Entry, defaults: &toml::Table) -> Option<String> {
    let default = lookup(defaults, &instantiate(entry)).map(toml::Value::to_string);
    if is_example(entry, defaults) {
        entry.example.map(str::to_string).or(default)
    } else {
        default
    }
}

/// The commented `config.toml` of the defaults.
pub fn default_config(examples: Examples) -> String {
    let defaults = defaults();
    let mut out = String::new();
    comment(
        &mut out,
        "The configuration of cradled, the Cradle CRI daemon: \
         /etc/cradle/config.toml, or the file --config names. Every key is shown \
         at its built-in default; keys without one are commented out, with an \
         example. Flags override the file. Printed by `cradled \
         --print-default-config`; docs/config.md documents the same keys.",
    );
    table_body(&mut out, "", examples, &defaults);
    out
}

fn table_body(out: &mut String, table: &str, examples: Examples, defaults: &toml::Table) {
    for entry in children(table).filter(|e| !e.ty.is_table()) {
        out.push('\n');
        let mut doc = entry.doc.to_string();
        if let Some(flag) = entry.flag {
            doc.push_str(&format!(" Flag: {flag}."));
        }
        comment(out, &doc);
        let value = shown_value(entry, defaults).unwrap_or_default();
        let name = entry.segments().last().copied().unwrap_or_default();
        let line = format!("{name} = {value}\n");
        let commented = is_example(entry, defaults) && examples == Examples::Commented;
        out.push_str(if commented { "# " } else { "" });
        out.push_str(&line);
    }
    for entry in children(table).filter(|e| e.ty.is_table()) {
        out.push('\n');
        comment(out, entry.doc);
        if entry.ty == Type::Table {
            let commented = entry.key.contains('<') && examples == Examples::Commented;
            let header = format!("[{}]\n", dotted(&instantiate(entry)));
            out.push_str(if commented { "# " } else { "" });
            out.push_str(&header);
        }
        table_body(out, entry.key, examples, defaults);
    }
}

/// `text` as `#` comment lines of at most [`WIDTH`] columns.
fn comment(out: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > WIDTH && line.len() > 1 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

/// `docs/config.md`: the keys table by table, then the default file.
pub fn markdown() -> String {
    let defaults = defaults();
    let mut out = String::from(
        "# Configuration reference\n\n\
         `cradled` reads `/etc/cradle/config.toml` (a missing default file means the\n\
         built-in defaults; a missing `--config FILE` is an error). Command-line flags\n\
         override the file, and the file overrides the built-in defaults. An unknown key,\n\
         a value of the wrong type or a value this host cannot use stops the daemon at\n\
         start, naming the key and its line; `cradled --validate-config FILE` runs the\n\
         same checks without starting, and `cradled --print-default-config` prints the\n\
         commented file of the defaults shown at the end of this page.\n\n\
         This page is generated from `runtime-daemon/src/core/config/reference.rs`,\n\
         checked against the configuration structs by\n\
         `runtime-daemon/tests/config_reference.rs`; rewrite it with\n\
         `CRADLE_BLESS=1 cargo test -p cradle-daemon --test config_reference`.\n",
    );
    out.push_str(
        "\n## Flags\n\n| flag | what |\n|---|---|\n\
         | `--config FILE` | the configuration file (default `/etc/cradle/config.toml`) |\n\
         | `--print-default-config` | print the commented file of the defaults and exit |\n\
         | `--validate-config FILE` | check FILE as the daemon would at start, print `FILE: ok` or the errors, exit 0 or 1 |\n",
    );
    for entry in REFERENCE.iter().filter(|e| e.flag.is_some()) {
        out.push_str(&format!(
            "| `{}` | sets `{}` |\n",
            entry.flag.unwrap_or_default(),
            entry.key
        ));
    }
    markdown_section(&mut out, None, &defaults);
    out.push_str(
        "\n## The default file\n\n\
         What `cradled --print-default-config` prints:\n\n```toml\n",
    );
    out.push_str(&default_config(Examples::Commented));
    out.push_str("```\n");
    out
}

fn markdown_section(out: &mut String, table: Option<&Entry>, defaults: &toml::Table) {
    let parent = table.map_or("", |t| t.key);
    let leaves: Vec<&Entry> = children(parent).filter(|e| !e.ty.is_table()).collect();
    match table {
        None => out.push_str("\n## Top-level keys\n"),
        Some(entry) => {
            let title = match entry.ty {
                Type::Table => format!("`[{}]`", entry.key),
                _ => format!("`{}`", entry.key),
            };
            out.push_str(&format!("\n## {title}\n\n{}", entry.doc));
            if entry.is_name() {
                out.push_str(&format!(" Example: `[{}]`.", dotted(&instantiate(entry))));
            }
            out.push('\n');
        }
    }
    if !leaves.is_empty() {
        out.push_str("\n| key | type | default | description |\n|---|---|---|---|\n");
    }
    for entry in leaves {
        let default = match lookup(defaults, &instantiate(entry)) {
            Some(value) => format!("`{value}`"),
            None => "none".to_string(),
        };
        let mut doc = entry.doc.to_string();
        if let (true, Some(example)) = (is_example(entry, defaults), entry.example) {
            doc.push_str(&format!(" Example: `{example}`."));
        }
        if let Some(flag) = entry.flag {
            doc.push_str(&format!(" Flag: `{flag}`."));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            entry.key,
            entry.ty.describe(),
            default,
            doc.replace('|', "\\|")
        ));
    }
    for entry in children(parent).filter(|e| e.ty.is_table()) {
        markdown_section(out, Some(entry), defaults);
    }
}
