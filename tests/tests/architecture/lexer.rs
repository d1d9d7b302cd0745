//! Just enough of a Rust lexer for the import-circle check: identifiers,
//! `::`, punctuation and literals with their line numbers, and nothing from
//! comments (doc comments included) or inside string literals, so a path
//! written in prose or in a message never counts as an import.

/// What a token is; literals keep their text (a `#[path = "..."]` needs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An identifier or keyword (`r#name` arrives as `name`).
    Ident(String),
    /// `::`.
    PathSep,
    /// Any other punctuation character.
    Punct(char),
    /// A string, char or number literal (for strings: the unescaped-enough body).
    Lit(String),
    /// A lifetime or loop label.
    Lifetime,
}

/// A token and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its line in the file.
    pub line: usize,
}

impl Token {
    /// True for the identifier `name`.
    pub fn is_ident(&self, name: &str) -> bool {
        matches!(&self.tok, Tok::Ident(i) if i == name)
    }

    /// True for the punctuation character `c`.
    pub fn is_punct(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }

    /// The identifier's text, if it is one.
    pub fn ident(&self) -> Option<&str> {
        match &self.tok {
            Tok::Ident(i) => Some(i),
            _ => None,
        }
    }
}

/// Splits `source` into tokens, dropping whitespace and comments.
pub fn tokenize(source: &str) -> Vec<Token> {
    Lexer {
        chars: source.chars().collect(),
        at: 0,
        line: 1,
        out: Vec::new(),
    }
    .run()
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
    line: usize,
    out: Vec<Token>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    /// Moves past one character, counting lines.
    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn push(&mut self, tok: Tok, line: usize) {
        self.out.push(Token { tok, line });
    }

    fn run(mut self) -> Vec<Token> {
        while let Some(c) = self.peek(0) {
            let line = self.line;
            match c {
                _ if c.is_whitespace() => {
                    self.bump();
                }
                '/' if self.peek(1) == Some('/') => self.line_comment(),
                '/' if self.peek(1) == Some('*') => self.block_comment(),
                '"' => {
                    self.bump();
                    let body = self.quoted('"');
                    self.push(Tok::Lit(body), line);
                }
                '\'' => self.quote_or_lifetime(line),
                ':' if self.peek(1) == Some(':') => {
                    self.bump();
                    self.bump();
                    self.push(Tok::PathSep, line);
                }
                _ if c.is_ascii_digit() => {
                    let text = self.word();
                    self.push(Tok::Lit(text), line);
                }
                _ if c == '_' || c.is_alphabetic() => self.ident_or_prefixed_literal(line),
                _ => {
                    self.bump();
                    self.push(Tok::Punct(c), line);
                }
            }
        }
        self.out
    }

    fn line_comment(&mut self) {
        while let Some(c) = self.peek(0) {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    /// `/* ... */`, nested as Rust allows.
    fn block_comment(&mut self) {
        self.bump();
        self.bump();
        let mut depth = 1;
        while depth > 0 {
            match (self.peek(0), self.peek(1)) {
                (Some('/'), Some('*')) => {
                    self.bump();
                    self.bump();
                    depth += 1;
                }
                (Some('*'), Some('/')) => {
                    self.bump();
                    self.bump();
                    depth -= 1;
                }
                (Some(_), _) => {
                    self.bump();
                }
                (None, _) => break,
            }
        }
    }

    /// The body of a literal whose opening `close` was consumed, up to and
    /// past the closing one; backslash escapes are skipped over.
    fn quoted(&mut self, close: char) -> String {
        let mut body = String::new();
        while let Some(c) = self.bump() {
            if c == '\\' {
                if let Some(escaped) = self.bump() {
                    body.push('\\');
                    body.push(escaped);
                }
            } else if c == close {
                break;
            } else {
                body.push(c);
            }
        }
        body
    }

    /// A raw string after its prefix: `#`* `"` ... `"` `#`*.
    fn raw_string(&mut self) -> String {
        let mut hashes = 0;
        while self.peek(0) == Some('#') {
            self.bump();
            hashes += 1;
        }
        self.bump(); // the opening quote
        let mut body = String::new();
        while let Some(c) = self.bump() {
            if c == '"' && (0..hashes).all(|i| self.peek(i) == Some('#')) {
                for _ in 0..hashes {
                    self.bump();
                }
                break;
            }
            body.push(c);
        }
        body
    }

    /// `'x'`, `'\n'` (char literals) or `'a` (a lifetime or label).
    fn quote_or_lifetime(&mut self, line: usize) {
        self.bump();
        let is_char = self.peek(0) == Some('\\') || self.peek(1) == Some('\'');
        if is_char {
            let body = self.quoted('\'');
            self.push(Tok::Lit(body), line);
        } else {
            self.word();
            self.push(Tok::Lifetime, line);
        }
    }

    /// Identifier characters from here on.
    fn word(&mut self) -> String {
        let mut text = String::new();
        while let Some(c) = self.peek(0) {
            if c == '_' || c.is_alphanumeric() {
                text.push(c);
                self.bump();
            } else {
                break;
            }
        }
        text
    }

    /// An identifier, or the prefix of `b"..."`, `r#"..."#`, `b'x'`, `r#ident`.
    fn ident_or_prefixed_literal(&mut self, line: usize) {
        let word = self.word();
        let next = self.peek(0);
        let raw = matches!(word.as_str(), "r" | "br" | "cr");
        if raw && (next == Some('"') || (next == Some('#') && self.raw_string_ahead())) {
            let body = self.raw_string();
            self.push(Tok::Lit(body), line);
        } else if matches!(word.as_str(), "b" | "c") && next == Some('"') {
            self.bump();
            let body = self.quoted('"');
            self.push(Tok::Lit(body), line);
        } else if word == "b" && next == Some('\'') {
            self.bump();
            let body = self.quoted('\'');
            self.push(Tok::Lit(body), line);
        } else if word == "r" && next == Some('#') {
            self.bump();
            let name = self.word();
            self.push(Tok::Ident(name), line);
        } else {
            self.push(Tok::Ident(word), line);
        }
    }

    /// After `r`: `#`s then a quote (a raw string), not `#ident`.
    fn raw_string_ahead(&self) -> bool {
        let mut i = 0;
        while self.peek(i) == Some('#') {
            i += 1;
        }
        self.peek(i) == Some('"')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(source: &str) -> Vec<String> {
        tokenize(source)
            .into_iter()
            .filter_map(|t| t.ident().map(str::to_string))
            .collect()
    }

    #[test]
    fn comments_and_strings_hide_their_contents() {
        let source = "/// crate::a::B\n// crate::c\n/* crate::d /* nested */ crate::e */\n\
                      let s = \"crate::f\"; let r = r#\"crate::\"g\"#; x";
        assert_eq!(idents(source), ["let", "s", "let", "r", "x"]);
    }

    #[test]
    fn chars_lifetimes_and_lines() {
        let tokens = tokenize("fn f<'a>(c: char) {\n let q = '\\''; let z = 'z';\n crate::x }");
        let crate_line = tokens.iter().find(|t| t.is_ident("crate")).map(|t| t.line);
        assert_eq!(crate_line, Some(3));
        assert!(tokens.iter().any(|t| t.tok == Tok::Lifetime));
        assert!(tokens.iter().any(|t| t.tok == Tok::PathSep));
    }
}
