//! From paths to a graph of files, and its circles.
//!
//! An edge A -> B exists when A's code names a path that resolves to a
//! module whose file is B: `crate::x::y::Z` to the deepest module of
//! `x::y` that exists, `super::Z` to the parent, `self::c::Z` (or a bare
//! `c::Z` naming a child module) to the child. Each circle is reported as
//! `a.rs -> b.rs -> a.rs` with the line that makes each edge.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use crate::modules::{CrateTree, ModPath, Reference};

/// One import between two files, with the first line that makes it.
#[derive(Debug, Clone)]
pub struct Edge {
    /// The file whose code names the path.
    pub from: PathBuf,
    /// The file of the module the path resolves to.
    pub to: PathBuf,
    /// The reference (its line and text).
    pub by: Reference,
}

/// The edges of one crate: at most one per pair of files (the first line).
pub fn edges(tree: &CrateTree) -> Vec<Edge> {
    let mut first: BTreeMap<(PathBuf, PathBuf), Edge> = BTreeMap::new();
    for reference in &tree.references {
        let Some(from) = tree.modules.get(&reference.module) else {
            continue;
        };
        let Some(target) = resolve(tree, &reference.module, &reference.path) else {
            continue;
        };
        let Some(to) = tree.modules.get(&target) else {
            continue;
        };
        if from.test || to.test || from.file == to.file {
            continue;
        }
        let key = (from.file.clone(), to.file.clone());
        let edge = Edge {
            from: from.file.clone(),
            to: to.file.clone(),
            by: reference.clone(),
        };
        first
            .entry(key)
            .and_modify(|e| {
                if reference.line < e.by.line {
                    *e = edge.clone();
                }
            })
            .or_insert(edge);
    }
    first.into_values().collect()
}

/// The module a path named in `module` resolves to, if it names one of
/// this crate's: the deepest existing module along the path.
pub fn resolve(tree: &CrateTree, module: &ModPath, path: &[String]) -> Option<ModPath> {
    let (mut current, rest): (ModPath, &[String]) = match path.first()?.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (module.clone(), &path[1..]),
        "super" => {
            let ups = path.iter().take_while(|s| *s == "super").count();
            let keep = module.len().checked_sub(ups)?;
            (module[..keep].to_vec(), &path[ups..])
        }
        child => {
            let mut candidate = module.clone();
            candidate.push(child.to_string());
            if !tree.modules.contains_key(&candidate) {
                return None;
            }
            (module.clone(), path)
        }
    };
    for segment in rest {
        if segment == "self" {
            continue;
        }
        current.push(segment.clone());
        if !tree.modules.contains_key(&current) {
            current.pop();
            break;
        }
    }
    Some(current)
}

/// Every circle among `edges`, each as its edges in order: for each edge
/// inside a strongly connected set of files, the shortest circle through
/// it (so every edge that closes a circle is shown), without repeats.
pub fn cycles(edges: &[Edge]) -> Vec<Vec<Edge>> {
    let mut next: BTreeMap<&Path, BTreeMap<&Path, &Edge>> = BTreeMap::new();
    for edge in edges {
        next.entry(&edge.from).or_default().insert(&edge.to, edge);
    }
    let mut found: BTreeSet<Vec<PathBuf>> = BTreeSet::new();
    let mut result = Vec::new();
    for edge in edges {
        // A path back from the edge's end to its start closes a circle.
        let Some(back) = shortest_path(&next, &edge.to, &edge.from) else {
            continue;
        };
        let mut files: Vec<PathBuf> = vec![edge.from.clone()];
        files.extend(back.iter().map(|f| f.to_path_buf()));
        files.pop(); // the start again
        let key = rotate_to_smallest(files);
        if !found.insert(key.clone()) {
            continue;
        }
        let circle: Vec<Edge> = (0..key.len())
            .filter_map(|i| {
                let (a, b) = (&key[i], &key[(i + 1) % key.len()]);
                next.get(a.as_path())?
                    .get(b.as_path())
                    .map(|e| (*e).clone())
            })
            .collect();
        result.push(circle);
    }
    result
}

/// The files from `start` to `goal` along edges, both included.
fn shortest_path<'a>(
    next: &BTreeMap<&'a Path, BTreeMap<&'a Path, &Edge>>,
    start: &'a Path,
    goal: &'a Path,
) -> Option<Vec<&'a Path>> {
    let mut came_from: BTreeMap<&Path, &Path> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    let mut seen = BTreeSet::from([start]);
    while let Some(file) = queue.pop_front() {
        if file == goal {
            let mut path = vec![goal];
            let mut at = goal;
            while let Some(prev) = came_from.get(at) {
                path.push(prev);
                at = prev;
            }
            path.reverse();
            return Some(path);
        }
        for to in next.get(file).into_iter().flat_map(|m| m.keys()) {
            if seen.insert(to) {
                came_from.insert(to, file);
                queue.push_back(to);
            }
        }
    }
    None
}

fn rotate_to_smallest(mut files: Vec<PathBuf>) -> Vec<PathBuf> {
    if let Some(smallest) = (0..files.len()).min_by_key(|i| &files[*i]) {
        files.rotate_left(smallest);
    }
    files
}

/// `a.rs -> b.rs -> a.rs`, then one line per edge: where it is made.
pub fn describe(circle: &[Edge], workspace: &Path) -> String {
    let short = |p: &Path| p.strip_prefix(workspace).unwrap_or(p).display().to_string();
    let mut files: Vec<String> = circle.iter().map(|e| short(&e.from)).collect();
    if let Some(first) = files.first().cloned() {
        files.push(first);
    }
    let mut text = files.join(" -> ");
    for edge in circle {
        let written = edge.by.path.join("::");
        text.push_str(&format!(
            "\n    {}:{}: {}",
            short(&edge.from),
            edge.by.line,
            edge.by.line_text
        ));
        if !edge.by.line_text.replace(' ', "").contains(&written) {
            text.push_str(&format!("  [{written}]"));
        }
    }
    text
}
