//! The checker on small made-up crates in a temp dir: a circle is found and
//! named with its lines, a parent's re-export is not a false circle, test
//! modules are left out, and grouped imports resolve to each file.

use std::path::{Path, PathBuf};

use crate::check_workspace;
use crate::graph;
use crate::modules::load_crate;

/// A throwaway workspace with one member `a`, removed on drop.
struct Workspace(PathBuf);

impl Workspace {
    fn new(name: &str, files: &[(&str, &str)]) -> Self {
        let dir =
            std::env::temp_dir().join(format!("cradle-architecture-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Cargo.toml"), "[workspace]\nmembers = [\"a\"]\n").unwrap();
        std::fs::create_dir_all(dir.join("a/src")).unwrap();
        std::fs::write(dir.join("a/Cargo.toml"), "[package]\nname = \"a\"\n").unwrap();
        for (path, text) in files {
            let file = dir.join("a/src").join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        Workspace(dir)
    }

    fn circles(&self) -> Vec<String> {
        check_workspace(&self.0).0
    }

    /// `(from, to)` file names relative to `a/src`, for every edge.
    fn edges(&self) -> Vec<(String, String)> {
        let src = self.0.join("a/src");
        let tree = load_crate(&src.join("lib.rs")).unwrap();
        let short = |p: &Path| p.strip_prefix(&src).unwrap().display().to_string();
        graph::edges(&tree)
            .iter()
            .map(|e| (short(&e.from), short(&e.to)))
            .collect()
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_circle_is_named_with_the_lines_that_make_it() {
    let ws = Workspace::new(
        "circle",
        &[
            ("lib.rs", "mod a;\nmod b;\n"),
            ("a.rs", "//! a\n\nuse crate::b::B;\npub fn g() {}\n"),
            ("b.rs", "pub struct B;\nfn f() {\n    crate::a::g()\n}\n"),
        ],
    );
    let circles = ws.circles();
    assert_eq!(circles.len(), 1, "{circles:#?}");
    let circle = &circles[0];
    assert!(
        circle.starts_with("a/src/a.rs -> a/src/b.rs -> a/src/a.rs"),
        "{circle}"
    );
    assert!(
        circle.contains("a/src/a.rs:3: use crate::b::B;"),
        "{circle}"
    );
    assert!(circle.contains("a/src/b.rs:3: crate::a::g()"), "{circle}");
}

#[test]
fn a_parent_reexport_is_not_a_circle_but_importing_it_back_is() {
    let sibling = Workspace::new(
        "reexport",
        &[
            (
                "lib.rs",
                "pub mod containers;\npub use containers::Record;\n",
            ),
            (
                "containers/mod.rs",
                "mod monitor;\nmod record;\npub use record::Record;\n\
                 pub fn start() { monitor::watch() }\n",
            ),
            ("containers/record.rs", "pub struct Record;\n"),
            (
                "containers/monitor.rs",
                "use super::record::Record;\npub fn watch() {}\n",
            ),
        ],
    );
    assert!(sibling.circles().is_empty(), "{:#?}", sibling.circles());
    let edges = sibling.edges();
    assert!(edges.contains(&("containers/mod.rs".into(), "containers/monitor.rs".into())));
    assert!(edges.contains(&(
        "containers/monitor.rs".into(),
        "containers/record.rs".into()
    )));
    assert!(edges.contains(&("lib.rs".into(), "containers/mod.rs".into())));

    let parent = Workspace::new(
        "from-parent",
        &[
            ("lib.rs", "pub mod containers;\n"),
            (
                "containers/mod.rs",
                "mod monitor;\nmod record;\npub use record::Record;\n\
                 pub fn start() { monitor::watch() }\n",
            ),
            ("containers/record.rs", "pub struct Record;\n"),
            (
                "containers/monitor.rs",
                "use super::Record;\npub fn watch() {}\n",
            ),
        ],
    );
    let circles = parent.circles();
    assert_eq!(circles.len(), 1, "{circles:#?}");
    assert!(circles[0].starts_with(
        "a/src/containers/mod.rs -> a/src/containers/monitor.rs -> a/src/containers/mod.rs"
    ));
}

#[test]
fn test_modules_comments_and_strings_make_no_edges() {
    let ws = Workspace::new(
        "tests",
        &[
            ("lib.rs", "mod a;\nmod b;\n"),
            (
                "a.rs",
                "pub struct A;\n#[cfg(test)]\nmod tests {\n    use crate::b::B;\n}\n\
                 #[cfg(test)]\n#[path = \"a_tests.rs\"]\nmod file_tests;\n\
                 #[cfg(test)]\npub(crate) use crate::b::B;\n\
                 // crate::b::B\nconst S: &str = \"crate::b::B\";\n",
            ),
            ("a_tests.rs", "use super::*;\nuse crate::b::B;\n"),
            ("b.rs", "pub struct B;\nuse crate::a::A;\n"),
        ],
    );
    assert!(ws.circles().is_empty(), "{:#?}", ws.circles());
    assert_eq!(ws.edges(), [("b.rs".to_string(), "a.rs".to_string())]);
}

#[test]
fn grouped_and_nested_imports_reach_each_file() {
    let ws = Workspace::new(
        "groups",
        &[
            ("lib.rs", "mod x;\nmod z;\nmod user;\n"),
            ("x/mod.rs", "pub mod y;\n"),
            ("x/y.rs", "pub struct Y;\n"),
            ("z.rs", "pub struct Z;\n"),
            (
                "user.rs",
                "use crate::{\n    x::{self, y::Y},\n    z::Z as Zed,\n};\n",
            ),
        ],
    );
    let mut edges = ws.edges();
    edges.sort();
    assert_eq!(
        edges,
        [
            ("user.rs".to_string(), "x/mod.rs".to_string()),
            ("user.rs".to_string(), "x/y.rs".to_string()),
            ("user.rs".to_string(), "z.rs".to_string()),
        ]
    );
}
