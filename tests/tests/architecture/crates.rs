//! The crates to check: the workspace members named in the root
//! `Cargo.toml` and, in each, its crate roots (the library and every
//! binary; a binary's `crate::` means its own modules).

use std::io;
use std::path::{Path, PathBuf};

/// The member directories listed in `[workspace] members` (a trailing
/// `/*` expands to the directories under it).
pub fn workspace_members(workspace: &Path) -> io::Result<Vec<PathBuf>> {
    let manifest = std::fs::read_to_string(workspace.join("Cargo.toml"))?;
    let mut members = Vec::new();
    for name in string_array(&manifest, "workspace", "members") {
        match name.strip_suffix("/*") {
            Some(dir) => {
                for entry in std::fs::read_dir(workspace.join(dir))? {
                    let path = entry?.path();
                    if path.join("Cargo.toml").is_file() {
                        members.push(path);
                    }
                }
            }
            None => members.push(workspace.join(name)),
        }
    }
    members.sort();
    Ok(members)
}

/// The root files of a member's crates: `src/lib.rs`, `src/main.rs`,
/// `src/bin/*.rs`, `src/bin/*/main.rs` and any `path` of a `[lib]` or
/// `[[bin]]` section.
pub fn crate_roots(member: &Path) -> io::Result<Vec<PathBuf>> {
    let src = member.join("src");
    let mut roots = vec![src.join("lib.rs"), src.join("main.rs")];
    if let Ok(entries) = std::fs::read_dir(src.join("bin")) {
        for entry in entries {
            let path = entry?.path();
            roots.push(if path.is_dir() {
                path.join("main.rs")
            } else {
                path
            });
        }
    }
    let manifest = std::fs::read_to_string(member.join("Cargo.toml"))?;
    roots.extend(target_paths(&manifest).into_iter().map(|p| member.join(p)));
    roots.retain(|root| root.is_file() && root.extension().is_some_and(|e| e == "rs"));
    roots.sort();
    roots.dedup();
    Ok(roots)
}

/// The quoted strings of `key = [...]` in `[section]` (the array may span lines).
fn string_array(manifest: &str, section: &str, key: &str) -> Vec<String> {
    let mut current = String::new();
    let mut collecting = false;
    let mut text = String::new();
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if !collecting {
            if line.starts_with('[') {
                current = line.trim_matches(['[', ']']).to_string();
                continue;
            }
            let starts = line.split_once('=').is_some_and(|(k, _)| k.trim() == key);
            if current == section && starts {
                collecting = true;
            }
        }
        if collecting {
            text.push_str(line);
            text.push('\n');
            if line.contains(']') {
                break;
            }
        }
    }
    quoted_strings(&text)
}

/// The `path = "..."` values of `[lib]` and `[[bin]]` sections.
fn target_paths(manifest: &str) -> Vec<String> {
    let mut in_target = false;
    let mut paths = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_target = line == "[lib]" || line == "[[bin]]";
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && in_target
            && key.trim() == "path"
        {
            paths.extend(quoted_strings(value));
        }
    }
    paths
}

fn quoted_strings(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_over_several_lines_and_bin_paths() {
        let manifest = "[workspace]\nresolver = \"3\"\nmembers = [\"a\",\n  \"b/c\", # the c\n]\n\
                        exclude = [\"fuzz\"]\n";
        assert_eq!(string_array(manifest, "workspace", "members"), ["a", "b/c"]);
        let manifest =
            "[package]\nname = \"x\"\n\n[[bin]]\nname = \"y\"\npath = \"src/bin/y.rs\"\n";
        assert_eq!(target_paths(manifest), ["src/bin/y.rs"]);
    }
}
