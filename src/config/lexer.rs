//! The pgpool.conf tokenizer and parse loop (spec/config.md §2.1–§2.4): pgpool's token classes
//! with longest-match rules, the optional `=`, any token accepted as a value, `#` comments,
//! `include` (relative to the including file, at most 10 levels deep) and pgpool's syntax-error
//! wording. It yields `(key, value, line)` items; it knows nothing about parameters.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, Diag, Level};

/// pgpool's token types, numbered as pgpool prints them in the parse-error DETAIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Eof = 0,
    Key = 1,
    Integer = 2,
    Real = 3,
    String = 4,
    UnquotedString = 5,
    Equals = 6,
    Eol = 7,
    ParseError = 8,
}

/// One `key = value` line of a configuration file, after include expansion.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: String,
    /// The value text; a quoted string has its outer quotes removed and nothing else unescaped.
    pub value: String,
    pub line: usize,
    pub file: PathBuf,
}

/// Deepest `include` nesting accepted.
pub const MAX_INCLUDE_DEPTH: usize = 10;

fn is_letter(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_letter_or_digit(c: u8) -> bool {
    is_letter(c) || c.is_ascii_digit()
}

/// Length of the longest match of `STRING = ' ( [^'\n] | \\. )* '` at the start of `s`
/// (which begins with a quote), or 0. Both readings of a backslash are explored, as flex does.
fn string_len(s: &[u8]) -> usize {
    // reach[k]: the scanner can be inside the string just before byte k.
    let mut reach = vec![false; s.len() + 1];
    reach[1] = true;
    let mut best = 0;
    for k in 1..s.len() {
        if !reach[k] {
            continue;
        }
        match s[k] {
            b'\'' => best = best.max(k + 1),
            b'\n' => {}
            c => {
                reach[k + 1] = true;
                if c == b'\\' && k + 1 < s.len() && s[k + 1] != b'\n' {
                    reach[k + 2] = true;
                }
            }
        }
    }
    best
}

/// Length of `INTEGER = SIGN? ( DIGIT+ | 0x HEXDIGIT+ ) UNIT_LETTER*` at the start of `s`, or 0.
fn integer_len(s: &[u8]) -> usize {
    let sign = usize::from(matches!(s.first(), Some(b'+' | b'-')));
    let units = |from: usize| {
        from + s[from..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .count()
    };
    let digits = s[sign..].iter().take_while(|c| c.is_ascii_digit()).count();
    let dec = if digits > 0 { units(sign + digits) } else { 0 };
    let hex = if s.get(sign) == Some(&b'0') && s.get(sign + 1) == Some(&b'x') {
        let h = s[sign + 2..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        if h > 0 {
            units(sign + 2 + h)
        } else {
            0
        }
    } else {
        0
    };
    dec.max(hex)
}

/// Length of `REAL = SIGN? DIGIT* "." DIGIT* ( [Ee] SIGN? DIGIT+ )?` at the start of `s`, or 0.
fn real_len(s: &[u8]) -> usize {
    let mut i = usize::from(matches!(s.first(), Some(b'+' | b'-')));
    i += s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if s.get(i) != Some(&b'.') {
        return 0;
    }
    i += 1;
    i += s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if matches!(s.get(i), Some(b'e' | b'E')) {
        let mut k = i + 1;
        if matches!(s.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let d = s[k..].iter().take_while(|c| c.is_ascii_digit()).count();
        if d > 0 {
            i = k + d;
        }
    }
    i
}

/// A token: its type and the byte range of its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// The tokenizer over one file's bytes. White space and comments are skipped; every `\n` is an
/// EOL token and advances the line counter.
pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    /// Current line, 1-based, as pgpool counts it (incremented when an EOL is scanned).
    pub line: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a [u8]) -> Lexer<'a> {
        Lexer {
            src,
            pos: 0,
            line: 1,
        }
    }

    /// The text of a token.
    pub fn text(&self, t: Token) -> &'a [u8] {
        &self.src[t.start..t.end]
    }

    /// The next token (`Tok::Eof` at the end).
    pub fn next_token(&mut self) -> Token {
        loop {
            let s = &self.src[self.pos..];
            let Some(&c) = s.first() else {
                return Token {
                    tok: Tok::Eof,
                    start: self.pos,
                    end: self.pos,
                };
            };
            if c == b'\n' {
                self.line += 1;
                return self.take(Tok::Eol, 1);
            }
            if matches!(c, b' ' | b'\t' | b'\r') {
                self.pos += s
                    .iter()
                    .take_while(|c| matches!(c, b' ' | b'\t' | b'\r'))
                    .count();
                continue;
            }
            if c == b'#' {
                self.pos += s.iter().take_while(|&&c| c != b'\n').count();
                continue;
            }
            // Candidates in rule order; the longest wins, the earlier on a tie.
            let key = if is_letter(c) {
                1 + s[1..]
                    .iter()
                    .take_while(|&&c| is_letter_or_digit(c))
                    .count()
            } else {
                0
            };
            let string = if c == b'\'' { string_len(s) } else { 0 };
            let unquoted = if is_letter(c) {
                1 + s[1..]
                    .iter()
                    .take_while(|&&c| {
                        is_letter_or_digit(c) || matches!(c, b'-' | b'.' | b'_' | b':' | b'/')
                    })
                    .count()
            } else {
                0
            };
            let candidates = [
                (Tok::Key, key),
                (Tok::String, string),
                (Tok::UnquotedString, unquoted),
                (Tok::Integer, integer_len(s)),
                (Tok::Real, real_len(s)),
                (Tok::Equals, usize::from(c == b'=')),
            ];
            let mut best = (Tok::ParseError, 0);
            for (tok, len) in candidates {
                if len > best.1 {
                    best = (tok, len);
                }
            }
            if best.1 == 0 {
                // Any other single character; a UTF-8 sequence counts byte by byte in flex,
                // but bytes >= 0x80 are letters so they never get here.
                return self.take(Tok::ParseError, 1);
            }
            return self.take(best.0, best.1);
        }
    }

    fn take(&mut self, tok: Tok, len: usize) -> Token {
        let t = Token {
            tok,
            start: self.pos,
            end: self.pos + len,
        };
        self.pos += len;
        t
    }
}

/// Why a parse failed: the error plus any WARNING that precedes it (a missing include file).
#[derive(Debug, Clone, PartialEq)]
pub struct ParseFailure {
    pub warnings: Vec<Diag>,
    pub error: ConfigError,
}

fn syntax_error(path: &Path, line: usize, text: &[u8], tok: Tok) -> ConfigError {
    ConfigError::invalid(format!(
        "syntax error in configuration file \"{}\"",
        path.display()
    ))
    .with_detail(Some(format!(
        "parse error at line {line} '{}' token = {}",
        String::from_utf8_lossy(text),
        tok as u8
    )))
}

/// The WARNING pgpool logs when a configuration file cannot be opened.
pub fn could_not_open(path: &Path) -> Diag {
    Diag::new(
        Level::Warning,
        format!("could not open configuration file: \"{}\"", path.display()),
    )
    .with_detail("using default configuration parameter values")
}

/// The file an `include` of `value` in the file `including` names. A relative value is joined
/// to the including file's directory the way pgpool joins them (PostgreSQL's old
/// `join_path_components`): leading `./` are dropped and each leading `../` removes the
/// directory's last component; nothing else is normalised.
fn include_target(including: &Path, value: &str) -> PathBuf {
    if value.starts_with('/') {
        return PathBuf::from(value);
    }
    let mut dir = including
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .to_path_buf();
    let mut rest = value;
    loop {
        if let Some(r) = rest.strip_prefix("./") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("../") {
            dir.pop();
            rest = r;
        } else {
            break;
        }
    }
    dir.join(rest)
}

/// Parse one file's text; `path` names it in errors and anchors relative includes.
pub fn parse_text(src: &[u8], path: &Path, depth: usize) -> Result<Vec<Item>, ParseFailure> {
    let fail = |error| ParseFailure {
        warnings: Vec::new(),
        error,
    };
    let mut lx = Lexer::new(src);
    let mut items = Vec::new();
    loop {
        let t = lx.next_token();
        match t.tok {
            Tok::Eof => return Ok(items),
            Tok::Eol => continue,
            Tok::Key => {}
            other => return Err(fail(syntax_error(path, lx.line, lx.text(t), other))),
        }
        let key = String::from_utf8_lossy(lx.text(t)).into_owned();
        let mut v = lx.next_token();
        if v.tok == Tok::Equals {
            v = lx.next_token();
        }
        let line = lx.line;
        let raw = lx.text(v);
        let value_bytes = if v.tok == Tok::String {
            &raw[1..raw.len() - 1]
        } else {
            raw
        };
        let value = String::from_utf8_lossy(value_bytes).into_owned();
        if key == "include" {
            if depth >= MAX_INCLUDE_DEPTH {
                // named as written, without a DETAIL (pgpool-II 4.3.5)
                return Err(fail(ConfigError::invalid(format!(
                    "could not open configuration file \"{value}\": maximum nesting depth exceeded"
                ))));
            }
            let target = include_target(path, &value);
            let Ok(text) = std::fs::read(&target) else {
                return Err(ParseFailure {
                    warnings: vec![could_not_open(&target)],
                    error: syntax_error(path, line, raw, v.tok),
                });
            };
            match parse_text(&text, &target, depth + 1) {
                Ok(mut more) => items.append(&mut more),
                Err(e) => return Err(e),
            }
            continue;
        }
        items.push(Item {
            key,
            value,
            line,
            file: path.to_path_buf(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn toks(s: &str) -> Vec<(Tok, String)> {
        let mut lx = Lexer::new(s.as_bytes());
        let mut out = Vec::new();
        loop {
            let t = lx.next_token();
            if t.tok == Tok::Eof {
                return out;
            }
            out.push((t.tok, String::from_utf8_lossy(lx.text(t)).into_owned()));
        }
    }

    fn parse(s: &str) -> Result<Vec<(String, String)>, String> {
        parse_text(s.as_bytes(), Path::new("/x/pgpool.conf"), 0)
            .map(|v| v.into_iter().map(|i| (i.key, i.value)).collect())
            .map_err(|e| format!("{} / {}", e.error, e.error.detail().unwrap_or("")))
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn token_classes_and_longest_match() {
        assert_eq!(toks("on"), vec![(Tok::Key, "on".into())]);
        assert_eq!(toks("a.b"), vec![(Tok::UnquotedString, "a.b".into())]);
        assert_eq!(toks("10min"), vec![(Tok::Integer, "10min".into())]);
        assert_eq!(toks("0x1Fk"), vec![(Tok::Integer, "0x1Fk".into())]);
        assert_eq!(toks("1.5"), vec![(Tok::Real, "1.5".into())]);
        assert_eq!(
            toks("127.0.0.1"),
            vec![
                (Tok::Real, "127.0".into()),
                (Tok::Real, ".0".into()),
                (Tok::Real, ".1".into())
            ]
        );
        assert_eq!(toks("*"), vec![(Tok::ParseError, "*".into())]);
        assert_eq!(toks("'a#b' # c"), vec![(Tok::String, "'a#b'".into())]);
        assert_eq!(toks("'it\\'s'"), vec![(Tok::String, "'it\\'s'".into())]);
        assert_eq!(
            toks("x\n"),
            vec![(Tok::Key, "x".into()), (Tok::Eol, "\n".into())]
        );
    }

    #[test]
    fn parse_loop_accepts_optional_equals_and_any_value_token() {
        assert_eq!(
            parse("a = 1 b 2\nc=3"),
            Ok(vec![kv("a", "1"), kv("b", "2"), kv("c", "3")])
        );
        assert_eq!(
            parse("listen_addresses = *"),
            Ok(vec![kv("listen_addresses", "*")])
        );
        assert_eq!(
            parse("listen_addresses = '*'"),
            Ok(vec![kv("listen_addresses", "*")])
        );
        assert_eq!(parse("x = 'it\\'s'"), Ok(vec![kv("x", "it\\'s")]));
        assert_eq!(parse("x =\ny = 1"), Ok(vec![kv("x", "\n"), kv("y", "1")]));
        assert_eq!(parse("port"), Ok(vec![kv("port", "")]));
        assert_eq!(
            parse("authentication_timeout = 10 s\n"),
            Ok(vec![kv("authentication_timeout", "10"), kv("s", "\n")])
        );
    }

    #[test]
    fn syntax_errors_are_worded_like_pgpool() {
        let pre = "syntax error in configuration file \"/x/pgpool.conf\" / ";
        assert_eq!(
            parse("listen_addresses = 127.0.0.1\n"),
            Err(format!("{pre}parse error at line 1 '.0' token = 3"))
        );
        assert_eq!(
            parse("listen_addresses = 'it''s'\n"),
            Err(format!("{pre}parse error at line 1 ''s'' token = 4"))
        );
        assert_eq!(
            parse("\n\n= 3\n"),
            Err(format!("{pre}parse error at line 3 '=' token = 6"))
        );
    }

    #[test]
    fn include_is_relative_to_the_including_file_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).expect("mkdir");
        std::fs::write(sub.join("inner.conf"), "b = 2\ninclude = 'leaf.conf'\n").expect("write");
        std::fs::write(sub.join("leaf.conf"), "c = 3\n").expect("write");
        let main = dir.path().join("pgpool.conf");
        let text = "a = 1\ninclude = 'sub/inner.conf'\nd = 4\n";
        let items = parse_text(text.as_bytes(), &main, 0).expect("parses");
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "d"]);

        let err = parse_text(b"include = 'nope.conf'\n", &main, 0).unwrap_err();
        assert_eq!(
            err.warnings[0].message,
            format!(
                "could not open configuration file: \"{}\"",
                dir.path().join("nope.conf").display()
            )
        );
        assert_eq!(
            err.error.detail(),
            Some("parse error at line 1 ''nope.conf'' token = 4")
        );

        // a leading `../` climbs from the including file's directory (pgpool-II 4.3.5 names
        // `<dir>/absent.conf`, not `<dir>/sub/../absent.conf`)
        std::fs::write(sub.join("up.conf"), "include = '../absent.conf'\n").expect("write");
        let err = parse_text(b"include = 'sub/up.conf'\n", &main, 0).unwrap_err();
        assert_eq!(
            err.warnings[0].message,
            format!(
                "could not open configuration file: \"{}\"",
                dir.path().join("absent.conf").display()
            )
        );
        assert_eq!(
            err.error.to_string(),
            format!(
                "syntax error in configuration file \"{}\"",
                sub.join("up.conf").display()
            )
        );

        let looping = dir.path().join("loop.conf");
        std::fs::write(&looping, "include = 'loop.conf'\n").expect("write");
        let err = parse_text(b"include = 'loop.conf'\n", &main, 0).unwrap_err();
        assert!(
            err.error
                .to_string()
                .contains("maximum nesting depth exceeded"),
            "{}",
            err.error
        );
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_text(&bytes, Path::new("/nonexistent/dir/x.conf"), 0);
        }

        #[test]
        fn quoted_strings_round_trip(v in "[^'\\\\\n]{0,40}") {
            let text = format!("key = '{v}'\n");
            let items = parse_text(text.as_bytes(), Path::new("x.conf"), 0).expect("parses");
            prop_assert_eq!(items.len(), 1);
            prop_assert_eq!(&items[0].value, &v);
        }

        #[test]
        fn keys_and_plain_values_round_trip(k in "[a-z_][a-z0-9_]{0,20}", n in 0u32..100000) {
            prop_assume!(k != "include");
            let text = format!("{k}={n}");
            let items = parse_text(text.as_bytes(), Path::new("x.conf"), 0).expect("parses");
            prop_assert_eq!(&items[0].key, &k);
            prop_assert_eq!(items[0].value.clone(), n.to_string());
        }
    }
}
