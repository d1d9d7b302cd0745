//! The import-circle check (issue 13): no source file of any workspace
//! crate may import, through a chain of other files, from itself.
//!
//! Layers only import downward; a child module imports what it needs from
//! the sibling file that defines it (`super::record::ContainerRecord`), not
//! from its parent's re-export, and a parent may re-export from and call
//! into its children. This test reads every member's `src/` (the crates of
//! the root `Cargo.toml`; `fuzz/` is a workspace of its own), builds the
//! graph of files (see `graph.rs` for what an edge is; `mod` declarations
//! are not edges, test modules are leaves and left out) and fails listing
//! every circle with the lines that make it. Crates importing each other
//! need no check: cargo refuses a circle of crates.
//!
//! `cargo test -p cradle-tests --test architecture -- --nocapture` prints
//! the graph's size and every circle. No root, no daemon, std only.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod crates;
mod graph;
mod lexer;
mod modules;
mod synthetic;

use std::path::{Path, PathBuf};

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// Every circle in the crates of `workspace`, described; and how many
/// crates, files and edges were read.
pub fn check_workspace(workspace: &Path) -> (Vec<String>, usize, usize, usize) {
    let mut circles = Vec::new();
    let (mut crates, mut files, mut edges) = (0, 0, 0);
    for member in crates::workspace_members(workspace).expect("reading the members") {
        for root in crates::crate_roots(&member).expect("listing crate roots") {
            let tree = modules::load_crate(&root)
                .unwrap_or_else(|e| panic!("reading the crate at {}: {e}", root.display()));
            let crate_edges = graph::edges(&tree);
            crates += 1;
            files += tree
                .modules
                .values()
                .map(|m| &m.file)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            edges += crate_edges.len();
            for circle in graph::cycles(&crate_edges) {
                circles.push(graph::describe(&circle, workspace));
            }
        }
    }
    (circles, crates, files, edges)
}

#[test]
fn no_import_circle_in_the_workspace() {
    let workspace = workspace_root();
    let (circles, crates, files, edges) = check_workspace(&workspace);
    eprintln!("{crates} crates, {files} files, {edges} imports between files");
    assert!(
        crates >= 6 && files > 50,
        "the walk found too little: {crates} crates, {files} files"
    );
    assert!(
        circles.is_empty(),
        "{} import circle(s); a child imports from the sibling that defines \
         an item, not from its parent, and layers only import downward:\n\n{}",
        circles.len(),
        circles.join("\n\n")
    );
}
