//! One crate's module tree, read from its root file by following `mod`
//! declarations (`#[path]` included), and every path each module's code
//! names, flattened (`use crate::{a::B, c::{self, D}}` gives three).
//!
//! Code behind `#[cfg(test)]` is a leaf the check ignores: a module file
//! declared behind it (or that starts with `#![cfg(test)]`), an inline
//! test module, and a test-only item (`#[cfg(test)] use ...;`).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::lexer::{Tok, Token, tokenize};

/// A module's path from the crate root (`["containers", "monitor"]`).
pub type ModPath = Vec<String>;

/// Where a module lives and whether only tests compile it.
#[derive(Debug, Clone)]
pub struct Module {
    /// The file holding it (an inline module's is its parent's file).
    pub file: PathBuf,
    /// Declared behind `#[cfg(test)]`, itself or an ancestor.
    pub test: bool,
}

/// One path named in a module's code, as written (groups flattened).
#[derive(Debug, Clone)]
pub struct Reference {
    /// The module whose code names it (inline modules included).
    pub module: ModPath,
    /// Its segments, from `crate`, `super`, `self` or a bare first name.
    pub path: Vec<String>,
    /// The line its first segment is on.
    pub line: usize,
    /// That line's text, trimmed, for the report.
    pub line_text: String,
}

/// A crate: its modules and the paths their (non-test) code names.
#[derive(Debug, Default)]
pub struct CrateTree {
    /// Every module reachable from the root, test modules included.
    pub modules: BTreeMap<ModPath, Module>,
    /// Paths named outside test code.
    pub references: Vec<Reference>,
}

/// Reads the crate whose root file is `root` (`lib.rs`, `main.rs`, a bin).
pub fn load_crate(root: &Path) -> io::Result<CrateTree> {
    let mut tree = CrateTree::default();
    tree.modules.insert(
        Vec::new(),
        Module {
            file: root.to_path_buf(),
            test: false,
        },
    );
    let mut queue = vec![(root.to_path_buf(), Vec::new(), false)];
    while let Some((file, module, test)) = queue.pop() {
        let source = std::fs::read_to_string(&file)?;
        let tokens = tokenize(&source);
        let lines: Vec<&str> = source.lines().collect();
        let child_dir = if module.is_empty() || file.file_name() == Some("mod.rs".as_ref()) {
            parent(&file)
        } else {
            let stem = file.file_stem().unwrap_or_default();
            parent(&file).join(stem)
        };
        let mut walker = Walker {
            tokens: &tokens,
            lines: &lines,
            file: &file,
            tree: &mut tree,
            queue: &mut queue,
        };
        let scope = Scope {
            module,
            child_dir,
            inline: false,
            test,
        };
        walker.walk(0, tokens.len(), scope);
    }
    Ok(tree)
}

fn parent(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Where the walker is: which module, where its child files live.
#[derive(Debug, Clone)]
struct Scope {
    module: ModPath,
    child_dir: PathBuf,
    /// Inside an inline `mod x { ... }` of the file.
    inline: bool,
    test: bool,
}

/// The attributes seen since the last item.
#[derive(Debug, Default)]
struct Pending {
    test: bool,
    path: Option<String>,
}

struct Walker<'a> {
    tokens: &'a [Token],
    lines: &'a [&'a str],
    file: &'a Path,
    tree: &'a mut CrateTree,
    queue: &'a mut Vec<(PathBuf, ModPath, bool)>,
}

/// Keywords that start an item a `#[cfg(test)]` can switch off.
const ITEM_KEYWORDS: [&str; 13] = [
    "use", "fn", "const", "static", "struct", "enum", "union", "impl", "trait", "type", "async",
    "unsafe", "extern",
];

impl Walker<'_> {
    fn tok(&self, i: usize) -> Option<&Token> {
        self.tokens.get(i)
    }

    /// Scans tokens `start..end`, all in the module `scope`.
    fn walk(&mut self, start: usize, end: usize, mut scope: Scope) {
        let tokens = self.tokens;
        let mut pending = Pending::default();
        let mut i = start;
        while i < end {
            let Some(token) = tokens.get(i) else { break };
            if token.is_punct('#') {
                i = self.attribute(i, &mut pending, &mut scope);
                continue;
            }
            if token.is_ident("pub") {
                i += 1;
                if self.tok(i).is_some_and(|t| t.is_punct('(')) {
                    i = self.matching(i, '(', ')').map_or(end, |close| close + 1);
                }
                continue;
            }
            if token.is_ident("mod")
                && let Some(next) = self.module(i, &pending, &scope)
            {
                i = next;
                pending = Pending::default();
                continue;
            }
            if pending.test && token.ident().is_some_and(|k| ITEM_KEYWORDS.contains(&k)) {
                i = self.end_of_item(i, end);
                pending = Pending::default();
                continue;
            }
            pending = Pending::default();
            if self.starts_path(i) {
                let (paths, next) = self.path_tree(i);
                if !scope.test {
                    for path in paths {
                        self.reference(&scope, path, token.line);
                    }
                }
                i = next.max(i + 1);
                continue;
            }
            i += 1;
        }
    }

    fn reference(&mut self, scope: &Scope, path: Vec<String>, line: usize) {
        let line_text = self
            .lines
            .get(line.saturating_sub(1))
            .map(|l| l.trim().to_string())
            .unwrap_or_default();
        self.tree.references.push(Reference {
            module: scope.module.clone(),
            path,
            line,
            line_text,
        });
    }

    /// `#[...]` or `#![...]` at `i`: notes `cfg(test)` and `path = "..."`;
    /// returns the index after it.
    fn attribute(&mut self, i: usize, pending: &mut Pending, scope: &mut Scope) -> usize {
        let inner = self.tok(i + 1).is_some_and(|t| t.is_punct('!'));
        let open = if inner { i + 2 } else { i + 1 };
        if !self.tok(open).is_some_and(|t| t.is_punct('[')) {
            return i + 1;
        }
        let Some(close) = self.matching(open, '[', ']') else {
            return self.tokens.len();
        };
        let body = &self.tokens[open + 1..close];
        let test = body.first().is_some_and(|t| t.is_ident("cfg"))
            && body.get(1).is_some_and(|t| t.is_punct('('))
            && cfg_implies_test(&body[2..]).0;
        if inner {
            if test {
                scope.test = true;
                if let Some(module) = self.tree.modules.get_mut(&scope.module) {
                    module.test = true;
                }
            }
        } else {
            pending.test |= test;
            if let [first, eq, value, ..] = body
                && first.is_ident("path")
                && eq.is_punct('=')
                && let Tok::Lit(path) = &value.tok
            {
                pending.path = Some(path.clone());
            }
        }
        close + 1
    }

    /// `mod name;` or `mod name { ... }` at `i`: records the module (and
    /// walks an inline one); returns the index after it.
    fn module(&mut self, i: usize, pending: &Pending, scope: &Scope) -> Option<usize> {
        let name = self.tok(i + 1)?.ident()?.to_string();
        let after = self.tok(i + 2)?;
        let mut path = scope.module.clone();
        path.push(name.clone());
        let test = scope.test || pending.test;
        if after.is_punct(';') {
            if let Some(file) = self.module_file(&name, pending, scope) {
                self.tree.modules.insert(
                    path.clone(),
                    Module {
                        file: file.clone(),
                        test,
                    },
                );
                self.queue.push((file, path, test));
            }
            return Some(i + 3);
        }
        if after.is_punct('{') {
            let close = self.matching(i + 2, '{', '}')?;
            self.tree.modules.insert(
                path.clone(),
                Module {
                    file: self.file.to_path_buf(),
                    test,
                },
            );
            let inner = Scope {
                module: path,
                child_dir: scope.child_dir.join(&name),
                inline: true,
                test,
            };
            self.walk(i + 3, close, inner);
            return Some(close + 1);
        }
        None
    }

    /// The file of `mod name;`: `#[path]` relative to this file's directory
    /// (or, inside an inline module, to the inline module's), else
    /// `name.rs` or `name/mod.rs`. `None` when neither exists (a module of
    /// another platform).
    fn module_file(&self, name: &str, pending: &Pending, scope: &Scope) -> Option<PathBuf> {
        if let Some(path) = &pending.path {
            let base = if scope.inline {
                scope.child_dir.clone()
            } else {
                parent(self.file)
            };
            let file = base.join(path);
            return file.is_file().then_some(file);
        }
        [
            scope.child_dir.join(format!("{name}.rs")),
            scope.child_dir.join(name).join("mod.rs"),
        ]
        .into_iter()
        .find(|f| f.is_file())
    }

    /// The index of the bracket closing the one at `open`.
    fn matching(&self, open: usize, left: char, right: char) -> Option<usize> {
        let mut depth = 0usize;
        for (i, token) in self.tokens.iter().enumerate().skip(open) {
            if token.is_punct(left) {
                depth += 1;
            } else if token.is_punct(right) {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
        }
        None
    }

    /// The index after the item starting at `i`: past its `;` or its body's
    /// closing brace, or at the bracket that closes what holds it.
    fn end_of_item(&self, i: usize, end: usize) -> usize {
        let mut depth = 0i32;
        for j in i..end {
            let Some(token) = self.tok(j) else { break };
            match token.tok {
                Tok::Punct('{' | '(' | '[') => depth += 1,
                Tok::Punct(c @ ('}' | ')' | ']')) => {
                    depth -= 1;
                    if depth < 0 {
                        return j;
                    }
                    if depth == 0 && c == '}' {
                        return j + 1;
                    }
                }
                Tok::Punct(';') if depth == 0 => return j + 1,
                _ => {}
            }
        }
        end
    }

    /// A path begins here: a name followed by `::`, not itself after `::`,
    /// `.` or `in` (`pub(in crate::x)` names a scope, not a dependency).
    fn starts_path(&self, i: usize) -> bool {
        let named = self.tok(i).is_some_and(|t| t.ident().is_some());
        let joined = self.tok(i + 1).is_some_and(|t| t.tok == Tok::PathSep);
        let continued = i > 0
            && self
                .tok(i - 1)
                .is_some_and(|t| t.tok == Tok::PathSep || t.is_punct('.') || t.is_ident("in"));
        named && joined && !continued
    }

    /// The path (or use tree) starting at `i`, flattened, and the index after it.
    fn path_tree(&self, i: usize) -> (Vec<Vec<String>>, usize) {
        let mut segments = Vec::new();
        let mut i = i;
        loop {
            match self.tok(i).map(|t| &t.tok) {
                Some(Tok::Ident(name)) => {
                    segments.push(name.clone());
                    i += 1;
                    if self.tok(i).is_some_and(|t| t.tok == Tok::PathSep) {
                        i += 1;
                        continue;
                    }
                    if self.tok(i).is_some_and(|t| t.is_ident("as")) {
                        i += 2;
                    }
                    return (vec![segments], i);
                }
                Some(Tok::Punct('*')) => return (vec![segments], i + 1),
                Some(Tok::Punct('{')) => {
                    let mut paths = Vec::new();
                    i += 1;
                    while let Some(token) = self.tok(i) {
                        if token.is_punct('}') {
                            i += 1;
                            break;
                        }
                        if token.is_punct(',') {
                            i += 1;
                            continue;
                        }
                        let (inner, next) = self.path_tree(i);
                        for tail in inner {
                            let mut path = segments.clone();
                            path.extend(tail);
                            paths.push(path);
                        }
                        i = next.max(i + 1);
                    }
                    return (paths, i);
                }
                _ => return (vec![segments], i),
            }
        }
    }
}

/// Whether a `cfg(...)` predicate (its tokens after the opening
/// parenthesis) holds only under `test`: `test`, `all(.., test, ..)`, or
/// `any(..)` of such; returns the index after the predicate too.
fn cfg_implies_test(tokens: &[Token]) -> (bool, usize) {
    let Some(name) = tokens.first().and_then(Token::ident) else {
        return (false, 1);
    };
    let call = tokens.get(1).is_some_and(|t| t.is_punct('('));
    if !call {
        let mut next = 1;
        if tokens.get(1).is_some_and(|t| t.is_punct('=')) {
            next = 3;
        }
        return (name == "test", next);
    }
    let mut i = 2;
    let mut results = Vec::new();
    while i < tokens.len() {
        if tokens[i].is_punct(')') {
            i += 1;
            break;
        }
        if tokens[i].is_punct(',') {
            i += 1;
            continue;
        }
        let (holds, used) = cfg_implies_test(&tokens[i..]);
        results.push(holds);
        i += used.max(1);
    }
    let holds = match name {
        "all" => results.iter().any(|r| *r),
        "any" => !results.is_empty() && results.iter().all(|r| *r),
        _ => false,
    };
    (holds, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn implies(cfg: &str) -> bool {
        cfg_implies_test(&tokenize(cfg)).0
    }

    #[test]
    fn cfg_predicates() {
        assert!(implies("test"));
        assert!(implies("all(unix, test)"));
        assert!(implies("any(test, all(test, feature = \"x\"))"));
        assert!(!implies("not(test)"));
        assert!(!implies("any(test, feature = \"x\")"));
        assert!(!implies("feature = \"test\""));
    }
}
