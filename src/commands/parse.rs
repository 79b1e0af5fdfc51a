//! Recognising the statements pgpool answers itself in a simple-query string: `SHOW pool_*`,
//! `PGPOOL SHOW`, `PGPOOL SET` and `PGPOOL RESET` (spec/sql-commands.md §1, §3–§5). Only the
//! first statement is examined, tokens follow PostgreSQL's lexer (white space, `--` and nested
//! `/* */` comments, identifiers lower-cased unless double-quoted and truncated to 63 bytes,
//! standard / `E''` / dollar-quoted strings). A statement that does not parse is not
//! intercepted: it goes to PostgreSQL, which reports the syntax error, as pgpool does.
//!
//! This runs for every simple query, so `intercept` looks at the first keyword without
//! allocating and gives up at once unless it is `SHOW` or `PGPOOL`.

/// A statement pgpool answers without asking a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intercept {
    /// `SHOW pool_*`.
    Show(ShowPool),
    /// `PGPOOL SHOW <name> | ALL`.
    PgpoolShow(Target),
    /// `PGPOOL SET <name> {TO|=} <value>[, ...] | DEFAULT`.
    PgpoolSet { name: String, value: SetValue },
    /// `PGPOOL RESET <name> | ALL`.
    PgpoolReset(Target),
}

/// Which `SHOW pool_*` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowPool {
    Status,
    Nodes,
    Processes,
    Pools,
    Version,
    Cache,
    HealthCheckStats,
    BackendStats,
}

impl ShowPool {
    /// The name after `SHOW`, as the client must write it (after lower-casing).
    pub fn name(self) -> &'static str {
        match self {
            ShowPool::Status => "pool_status",
            ShowPool::Nodes => "pool_nodes",
            ShowPool::Processes => "pool_processes",
            ShowPool::Pools => "pool_pools",
            ShowPool::Version => "pool_version",
            ShowPool::Cache => "pool_cache",
            ShowPool::HealthCheckStats => "pool_health_check_stats",
            ShowPool::BackendStats => "pool_backend_stats",
        }
    }

    const ALL: [ShowPool; 8] = [
        ShowPool::Status,
        ShowPool::Nodes,
        ShowPool::Processes,
        ShowPool::Pools,
        ShowPool::Version,
        ShowPool::Cache,
        ShowPool::HealthCheckStats,
        ShowPool::BackendStats,
    ];

    fn from_name(name: &str) -> Option<ShowPool> {
        ShowPool::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The object of `PGPOOL SHOW` / `PGPOOL RESET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The keyword `ALL` (unquoted).
    All,
    /// A parameter, indexed parameter or group name (lower-cased unless it was quoted).
    Name(String),
}

/// The right-hand side of `PGPOOL SET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetValue {
    /// `TO DEFAULT` / `= DEFAULT`.
    Default,
    /// The value list flattened as PostgreSQL's SET does: items joined with `", "`.
    Value(String),
}

/// Recognise an intercepted statement at the start of `sql` (the body of a `Q` message, with or
/// without its terminating NUL). Non-matching queries are rejected before any allocation.
pub fn intercept(sql: &[u8]) -> Option<Intercept> {
    let start = skip_blank(sql, 0)?;
    let word = ident_run(sql, start);
    let first = &sql[start..start + word];
    let is_show = first.eq_ignore_ascii_case(b"show");
    if !is_show && !first.eq_ignore_ascii_case(b"pgpool") {
        return None;
    }
    // Check the identifier really ended there (`shower` is not `show`): ident_run already took
    // the whole identifier, so only the full parse remains.
    let mut p = Parser {
        lx: Lexer {
            s: sql,
            pos: start + word,
        },
    };
    if is_show {
        p.show_pool()
    } else {
        p.pgpool()
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

/// One PostgreSQL token, as far as these statements need them.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// Identifier or keyword; `text` lower-cased unless `quoted`.
    Ident {
        text: String,
        quoted: bool,
    },
    /// String constant (any quoting style), already unescaped.
    Str(String),
    /// Integer constant that fits i32, flattened as `%d`.
    Int(i32),
    /// Any other numeric constant, as written.
    Num(String),
    /// A single-character operator or punctuation: `= , ; + - .`; anything else is `?`.
    Op(u8),
    End,
}

/// PostgreSQL's NAMEDATALEN - 1.
const MAX_IDENT: usize = 63;

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Length of the identifier characters at `pos` (0 if none starts there).
fn ident_run(s: &[u8], pos: usize) -> usize {
    match s.get(pos) {
        Some(&b) if is_ident_start(b) => {
            1 + s[pos + 1..]
                .iter()
                .take_while(|&&b| is_ident_cont(b))
                .count()
        }
        _ => 0,
    }
}

/// Skip white space and comments from `pos`; `None` on an unterminated `/*` comment.
/// A NUL byte ends the text.
fn skip_blank(s: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        match s.get(pos) {
            Some(&b) if is_space(b) => pos += 1,
            Some(b'-') if s.get(pos + 1) == Some(&b'-') => {
                while let Some(&b) = s.get(pos) {
                    if b == b'\n' || b == b'\r' || b == 0 {
                        break;
                    }
                    pos += 1;
                }
            }
            Some(b'/') if s.get(pos + 1) == Some(&b'*') => {
                let mut depth = 1usize;
                pos += 2;
                while depth > 0 {
                    match (s.get(pos), s.get(pos + 1)) {
                        (Some(b'/'), Some(b'*')) => {
                            depth += 1;
                            pos += 2;
                        }
                        (Some(b'*'), Some(b'/')) => {
                            depth -= 1;
                            pos += 2;
                        }
                        (Some(0) | None, _) => return None,
                        _ => pos += 1,
                    }
                }
            }
            _ => return Some(pos),
        }
    }
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

/// The lexer met something PostgreSQL would reject or these statements never contain.
#[derive(Debug)]
struct LexError;

impl<'a> Lexer<'a> {
    fn peek_byte(&self, off: usize) -> Option<u8> {
        self.s.get(self.pos + off).copied().filter(|&b| b != 0)
    }

    fn next(&mut self) -> Result<Tok, LexError> {
        self.pos = skip_blank(self.s, self.pos).ok_or(LexError)?;
        let Some(b) = self.peek_byte(0) else {
            return Ok(Tok::End);
        };
        match b {
            b'\'' => {
                self.pos += 1;
                self.quoted_string(false).map(Tok::Str)
            }
            b'e' | b'E' if self.peek_byte(1) == Some(b'\'') => {
                self.pos += 2;
                self.quoted_string(true).map(Tok::Str)
            }
            // Bit strings, hex strings, national and Unicode-escaped strings never form a
            // valid value here.
            b'b' | b'B' | b'x' | b'X' | b'n' | b'N' if self.peek_byte(1) == Some(b'\'') => {
                Err(LexError)
            }
            b'u' | b'U' if self.peek_byte(1) == Some(b'&') => Err(LexError),
            b'"' => self.quoted_ident(),
            b'$' => self.dollar_string().map(Tok::Str),
            b'0'..=b'9' => self.number(),
            b'.' if self.peek_byte(1).is_some_and(|c| c.is_ascii_digit()) => self.number(),
            _ if is_ident_start(b) => {
                let n = ident_run(self.s, self.pos);
                let raw = &self.s[self.pos..self.pos + n];
                self.pos += n;
                Ok(Tok::Ident {
                    text: ident_text(raw, true),
                    quoted: false,
                })
            }
            b',' | b';' | b'.' | b'(' | b')' | b'[' | b']' | b':' => {
                self.pos += 1;
                Ok(Tok::Op(b))
            }
            _ if is_op_char(b) => Ok(Tok::Op(self.operator())),
            _ => Err(LexError),
        }
    }

    /// An operator run, trimmed as PostgreSQL trims it; returns the byte for a one-character
    /// operator, `?` for anything longer.
    fn operator(&mut self) -> u8 {
        let start = self.pos;
        let mut end = start;
        while let Some(&c) = self.s.get(end) {
            if !is_op_char(c) {
                break;
            }
            // A comment start ends the operator (the first byte never starts one: the
            // caller skipped comments).
            if end > start
                && matches!(
                    (c, self.s.get(end + 1)),
                    (b'-', Some(b'-')) | (b'/', Some(b'*'))
                )
            {
                break;
            }
            end += 1;
        }
        let op = &self.s[start..end];
        let mut n = op.len();
        if n > 1 && !op.iter().any(|c| b"~!@#%^&|`?".contains(c)) {
            while n > 1 && matches!(op[n - 1], b'+' | b'-') {
                n -= 1;
            }
        }
        self.pos = start + n.max(1);
        if n == 1 {
            op[0]
        } else {
            b'?'
        }
    }

    /// After the opening quote: `'...'` with `''`, or with backslash escapes when `escapes`.
    /// Adjacent literals separated by white space containing a newline are concatenated.
    fn quoted_string(&mut self, escapes: bool) -> Result<String, LexError> {
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek_byte(0) else {
                return Err(LexError);
            };
            self.pos += 1;
            match c {
                b'\'' if self.peek_byte(0) == Some(b'\'') => {
                    out.push(b'\'');
                    self.pos += 1;
                }
                b'\'' => {
                    if !self.continues_string() {
                        break;
                    }
                }
                b'\\' if escapes => self.escape(&mut out)?,
                _ => out.push(c),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// After a closing quote: white space with a newline and another `'` continue the literal.
    fn continues_string(&mut self) -> bool {
        let mut p = self.pos;
        let mut newline = false;
        while let Some(&c) = self.s.get(p) {
            if !is_space(c) {
                break;
            }
            newline |= c == b'\n' || c == b'\r';
            p += 1;
        }
        if newline && self.s.get(p) == Some(&b'\'') {
            self.pos = p + 1;
            true
        } else {
            false
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), LexError> {
        let c = self.peek_byte(0).ok_or(LexError)?;
        self.pos += 1;
        match c {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.peek_byte(0) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' if self.peek_byte(0).is_some_and(|d| d.is_ascii_hexdigit()) => {
                let mut v = 0u32;
                for _ in 0..2 {
                    match self.peek_byte(0).and_then(|d| (d as char).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                out.push(v as u8);
            }
            b'u' | b'U' => {
                let len = if c == b'u' { 4 } else { 8 };
                let mut v = 0u32;
                for _ in 0..len {
                    let d = self
                        .peek_byte(0)
                        .and_then(|d| (d as char).to_digit(16))
                        .ok_or(LexError)?;
                    v = v.checked_mul(16).ok_or(LexError)? + d;
                    self.pos += 1;
                }
                let ch = char::from_u32(v).ok_or(LexError)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => out.push(c),
        }
        Ok(())
    }

    fn quoted_ident(&mut self) -> Result<Tok, LexError> {
        self.pos += 1;
        let mut raw: Vec<u8> = Vec::new();
        loop {
            let c = self.peek_byte(0).ok_or(LexError)?;
            self.pos += 1;
            if c == b'"' {
                if self.peek_byte(0) == Some(b'"') {
                    raw.push(b'"');
                    self.pos += 1;
                } else {
                    break;
                }
            } else {
                raw.push(c);
            }
        }
        if raw.is_empty() {
            // zero-length delimited identifier
            return Err(LexError);
        }
        Ok(Tok::Ident {
            text: ident_text(&raw, false),
            quoted: true,
        })
    }

    /// `$tag$ ... $tag$`; `$1` (a parameter) or an unterminated string is an error.
    fn dollar_string(&mut self) -> Result<String, LexError> {
        let start = self.pos;
        let mut p = start + 1;
        if self.s.get(p).is_some_and(|&c| is_ident_start(c)) {
            p += 1;
            while self
                .s
                .get(p)
                .is_some_and(|&c| is_ident_start(c) || c.is_ascii_digit())
            {
                p += 1;
            }
        }
        if self.s.get(p) != Some(&b'$') {
            return Err(LexError);
        }
        let delim = &self.s[start..=p];
        let body_start = p + 1;
        let body = &self.s[body_start..];
        let end = body
            .windows(delim.len())
            .position(|w| w == delim)
            .ok_or(LexError)?;
        if body[..end].contains(&0) {
            return Err(LexError);
        }
        self.pos = body_start + end + delim.len();
        Ok(String::from_utf8_lossy(&body[..end]).into_owned())
    }

    fn number(&mut self) -> Result<Tok, LexError> {
        let start = self.pos;
        let digits = |s: &[u8], mut p: usize| {
            while s.get(p).is_some_and(|c| c.is_ascii_digit()) {
                p += 1;
            }
            p
        };
        let mut p = digits(self.s, start);
        let mut float = false;
        // `1..2` lexes as `1` `..`; a single `.` belongs to the number.
        if self.s.get(p) == Some(&b'.') && self.s.get(p + 1) != Some(&b'.') {
            float = true;
            p = digits(self.s, p + 1);
        }
        if matches!(self.s.get(p), Some(b'e' | b'E')) {
            let mut q = p + 1;
            if matches!(self.s.get(q), Some(b'+' | b'-')) {
                q += 1;
            }
            if self.s.get(q).is_some_and(|c| c.is_ascii_digit()) {
                float = true;
                p = digits(self.s, q);
            } else {
                return Err(LexError);
            }
        }
        // `5min` is "trailing junk" for PostgreSQL (and a syntax error for older parsers).
        if self.s.get(p).is_some_and(|&c| is_ident_start(c)) {
            return Err(LexError);
        }
        self.pos = p;
        let text = std::str::from_utf8(&self.s[start..p]).map_err(|_| LexError)?;
        if !float {
            if let Ok(v) = text.parse::<i32>() {
                return Ok(Tok::Int(v));
            }
        }
        Ok(Tok::Num(text.to_owned()))
    }
}

fn is_op_char(b: u8) -> bool {
    b"~!@#^&|`?+-*/%<>=".contains(&b)
}

/// Identifier text: ASCII-lower-cased when `fold`, truncated to 63 bytes at a char boundary.
fn ident_text(raw: &[u8], fold: bool) -> String {
    let mut s = String::from_utf8_lossy(raw).into_owned();
    if fold {
        s.make_ascii_lowercase();
    }
    if s.len() > MAX_IDENT {
        let mut cut = MAX_IDENT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// PostgreSQL's reserved keywords: never a column/variable name, never a bare SET value
/// (except TRUE, FALSE, ON, which the grammar accepts as values).
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// Keywords allowed as a value word but not as a variable name (`type_func_name_keyword`).
const TYPE_FUNC_NAME: &[&str] = &[
    "authorization",
    "binary",
    "collation",
    "concurrently",
    "cross",
    "current_schema",
    "freeze",
    "full",
    "ilike",
    "inner",
    "is",
    "isnull",
    "join",
    "left",
    "like",
    "natural",
    "notnull",
    "outer",
    "overlaps",
    "right",
    "similar",
    "tablesample",
    "verbose",
];

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser<'a> {
    lx: Lexer<'a>,
}

impl Parser<'_> {
    fn tok(&mut self) -> Option<Tok> {
        self.lx.next().ok()
    }

    /// The statement must end here: `;` (what follows is another statement) or the end.
    fn at_end(&mut self) -> bool {
        matches!(self.tok(), Some(Tok::End | Tok::Op(b';')))
    }

    /// `SHOW <name>` after the `SHOW` keyword.
    fn show_pool(&mut self) -> Option<Intercept> {
        let (name, next) = self.var_name()?;
        if !matches!(next, Tok::End | Tok::Op(b';')) {
            return None;
        }
        ShowPool::from_name(&name).map(Intercept::Show)
    }

    /// Everything after the `PGPOOL` keyword.
    fn pgpool(&mut self) -> Option<Intercept> {
        let Tok::Ident {
            text,
            quoted: false,
        } = self.tok()?
        else {
            return None;
        };
        match text.as_str() {
            "show" => self.target().map(Intercept::PgpoolShow),
            "reset" => self.target().map(Intercept::PgpoolReset),
            "set" => self.set(),
            _ => None,
        }
    }

    /// `ALL` or a variable name, then the end of the statement.
    fn target(&mut self) -> Option<Target> {
        let save = self.lx.pos;
        if let Tok::Ident {
            text,
            quoted: false,
        } = self.tok()?
        {
            if text == "all" {
                return self.at_end().then_some(Target::All);
            }
        }
        self.lx.pos = save;
        let (name, next) = self.var_name()?;
        matches!(next, Tok::End | Tok::Op(b';')).then_some(Target::Name(name))
    }

    /// `var_name: ColId ('.' ColId)*`; returns the name and the token after it.
    fn var_name(&mut self) -> Option<(String, Tok)> {
        let mut name = col_id(self.tok()?)?;
        loop {
            match self.tok()? {
                Tok::Op(b'.') => {
                    name.push('.');
                    name.push_str(&col_id(self.tok()?)?);
                }
                t => return Some((name, t)),
            }
        }
    }

    fn set(&mut self) -> Option<Intercept> {
        let (name, next) = self.var_name()?;
        match next {
            Tok::Op(b'=') => {}
            Tok::Ident {
                text,
                quoted: false,
            } if text == "to" => {}
            _ => return None,
        }
        let save = self.lx.pos;
        if let Tok::Ident {
            text,
            quoted: false,
        } = self.tok()?
        {
            if text == "default" {
                return self.at_end().then_some(Intercept::PgpoolSet {
                    name,
                    value: SetValue::Default,
                });
            }
        }
        self.lx.pos = save;
        let mut items: Vec<String> = Vec::new();
        loop {
            items.push(self.var_value()?);
            match self.tok()? {
                Tok::Op(b',') => continue,
                Tok::End | Tok::Op(b';') => break,
                _ => return None,
            }
        }
        Some(Intercept::PgpoolSet {
            name,
            value: SetValue::Value(items.join(", ")),
        })
    }

    /// `var_value: TRUE | FALSE | ON | NonReservedWord | Sconst | [+-] number`, flattened.
    fn var_value(&mut self) -> Option<String> {
        match self.tok()? {
            Tok::Ident { text, quoted: true } => Some(text),
            Tok::Ident {
                text,
                quoted: false,
            } => {
                if matches!(text.as_str(), "true" | "false" | "on")
                    || !RESERVED.contains(&text.as_str())
                {
                    Some(text)
                } else {
                    None
                }
            }
            Tok::Str(s) => Some(s),
            Tok::Int(v) => Some(v.to_string()),
            Tok::Num(s) => Some(s),
            Tok::Op(b'+') => match self.tok()? {
                Tok::Int(v) => Some(v.to_string()),
                Tok::Num(s) => Some(s),
                _ => None,
            },
            Tok::Op(b'-') => match self.tok()? {
                Tok::Int(v) => Some((-i64::from(v)).to_string()),
                Tok::Num(s) => Some(format!("-{s}")),
                _ => None,
            },
            _ => None,
        }
    }
}

/// `ColId`: an identifier that is not a reserved or type/function-name keyword (quoted ones
/// always qualify).
fn col_id(t: Tok) -> Option<String> {
    match t {
        Tok::Ident { text, quoted: true } => Some(text),
        Tok::Ident {
            text,
            quoted: false,
        } => {
            let reserved =
                RESERVED.contains(&text.as_str()) || TYPE_FUNC_NAME.contains(&text.as_str());
            (!reserved).then_some(text)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Target {
        Target::Name(s.to_owned())
    }

    fn set(n: &str, v: &str) -> Option<Intercept> {
        Some(Intercept::PgpoolSet {
            name: n.to_owned(),
            value: SetValue::Value(v.to_owned()),
        })
    }

    #[test]
    fn show_pool_names_case_insensitive_and_only_the_eight() {
        assert_eq!(
            intercept(b"SHOW POOL_NODES"),
            Some(Intercept::Show(ShowPool::Nodes))
        );
        assert_eq!(
            intercept(b"show pool_nodes;"),
            Some(Intercept::Show(ShowPool::Nodes))
        );
        assert_eq!(
            intercept(b"  \n\tShow pool_version ;\0"),
            Some(Intercept::Show(ShowPool::Version))
        );
        for s in ShowPool::ALL {
            let q = format!("show {}", s.name());
            assert_eq!(intercept(q.as_bytes()), Some(Intercept::Show(s)), "{q}");
        }
        assert_eq!(
            intercept(b"show \"pool_status\""),
            Some(Intercept::Show(ShowPool::Status))
        );
        assert_eq!(intercept(b"show \"POOL_NODES\""), None);
        assert_eq!(intercept(b"show pool_foo"), None);
        assert_eq!(intercept(b"show search_path"), None);
        assert_eq!(intercept(b"show all"), None);
        assert_eq!(intercept(b"show pool_nodes.x"), None);
        assert_eq!(intercept(b"show pool_nodes x"), None);
        assert_eq!(intercept(b"showpool_nodes"), None);
        assert_eq!(intercept(b"select 1"), None);
        assert_eq!(intercept(b""), None);
    }

    #[test]
    fn only_the_first_statement_counts_and_comments_are_skipped() {
        assert_eq!(
            intercept(b"show pool_nodes; select 1"),
            Some(Intercept::Show(ShowPool::Nodes))
        );
        assert_eq!(intercept(b"select 1; show pool_nodes"), None);
        assert_eq!(
            intercept(b"/* a /* nested */ comment */ -- line\n SHOW /*x*/ pool_pools -- end"),
            Some(Intercept::Show(ShowPool::Pools))
        );
        assert_eq!(intercept(b"/* unterminated show pool_nodes"), None);
        assert_eq!(intercept(b"show pool_nodes /* unterminated"), None);
    }

    #[test]
    fn pgpool_show_and_reset() {
        assert_eq!(
            intercept(b"PGPOOL SHOW port"),
            Some(Intercept::PgpoolShow(name("port")))
        );
        assert_eq!(
            intercept(b"pgpool show ALL;"),
            Some(Intercept::PgpoolShow(Target::All))
        );
        assert_eq!(
            intercept(b"pgpool show \"all\""),
            Some(Intercept::PgpoolShow(name("all")))
        );
        assert_eq!(
            intercept(b"pgpool show \"delegate_IP\""),
            Some(Intercept::PgpoolShow(name("delegate_IP")))
        );
        assert_eq!(
            intercept(b"pgpool show Delegate_IP"),
            Some(Intercept::PgpoolShow(name("delegate_ip")))
        );
        assert_eq!(
            intercept(b"pgpool show a.b"),
            Some(Intercept::PgpoolShow(name("a.b")))
        );
        assert_eq!(
            intercept(b"pgpool reset all"),
            Some(Intercept::PgpoolReset(Target::All))
        );
        assert_eq!(
            intercept(b"pgpool reset client_idle_limit"),
            Some(Intercept::PgpoolReset(name("client_idle_limit")))
        );
        assert_eq!(intercept(b"pgpool show"), None);
        assert_eq!(intercept(b"pgpool show port port"), None);
        assert_eq!(intercept(b"pgpool show select"), None);
        assert_eq!(intercept(b"pgpool show 'port'"), None);
        assert_eq!(intercept(b"pgpool"), None);
        assert_eq!(intercept(b"pgpool frobnicate"), None);
        assert_eq!(intercept(b"pgpool set cache delete 'select 1'"), None);
    }

    #[test]
    fn long_identifiers_are_truncated_to_63_bytes() {
        let long = "a".repeat(70);
        let q = format!("pgpool show {long}");
        assert_eq!(
            intercept(q.as_bytes()),
            Some(Intercept::PgpoolShow(name(&"a".repeat(63))))
        );
    }

    #[test]
    fn pgpool_set_values_are_flattened_like_postgres() {
        assert_eq!(
            intercept(b"PGPOOL SET client_idle_limit = 350"),
            set("client_idle_limit", "350")
        );
        assert_eq!(
            intercept(b"pgpool set client_idle_limit to '5min'"),
            set("client_idle_limit", "5min")
        );
        assert_eq!(
            intercept(b"pgpool set log_min_messages TO DEBUG1"),
            set("log_min_messages", "debug1")
        );
        assert_eq!(
            intercept(b"pgpool set x = \"MixedCase\""),
            set("x", "MixedCase")
        );
        assert_eq!(intercept(b"pgpool set x = on"), set("x", "on"));
        assert_eq!(intercept(b"pgpool set x = off"), set("x", "off"));
        assert_eq!(intercept(b"pgpool set x = TRUE"), set("x", "true"));
        assert_eq!(
            intercept(b"pgpool set x = a, 'b c', 3"),
            set("x", "a, b c, 3")
        );
        assert_eq!(intercept(b"pgpool set x = -5"), set("x", "-5"));
        assert_eq!(intercept(b"pgpool set x =-5"), set("x", "-5"));
        assert_eq!(intercept(b"pgpool set x = +5"), set("x", "5"));
        assert_eq!(intercept(b"pgpool set x = 005"), set("x", "5"));
        assert_eq!(intercept(b"pgpool set x = 1.50"), set("x", "1.50"));
        assert_eq!(intercept(b"pgpool set x = -1.5"), set("x", "-1.5"));
        assert_eq!(
            intercept(b"pgpool set x = 99999999999"),
            set("x", "99999999999")
        );
        assert_eq!(intercept(b"pgpool set x = 'it''s'"), set("x", "it's"));
        assert_eq!(
            intercept(b"pgpool set x = E'a\\tb\\x41\\101'"),
            set("x", "a\tbAA")
        );
        assert_eq!(intercept(b"pgpool set x = $$a'b$$"), set("x", "a'b"));
        assert_eq!(intercept(b"pgpool set x = $t$a$$b$t$"), set("x", "a$$b"));
        assert_eq!(intercept(b"pgpool set x = 'a'\n  'b'"), set("x", "ab"));
        assert_eq!(intercept(b"pgpool set x = verbose"), set("x", "verbose"));
        assert_eq!(
            intercept(b"pgpool set x to default"),
            Some(Intercept::PgpoolSet {
                name: "x".into(),
                value: SetValue::Default
            })
        );
        assert_eq!(
            intercept(b"pgpool set x = DEFAULT;"),
            Some(Intercept::PgpoolSet {
                name: "x".into(),
                value: SetValue::Default
            })
        );
    }

    #[test]
    fn unparsable_pgpool_statements_are_not_intercepted() {
        for q in [
            "pgpool set client_idle_limit = 5min",
            "pgpool set x",
            "pgpool set x =",
            "pgpool set x = ",
            "pgpool set x == 1",
            "pgpool set x = 1,",
            "pgpool set x = default, 1",
            "pgpool set x = select",
            "pgpool set x = null",
            "pgpool set x = 'unterminated",
            "pgpool set x = $1",
            "pgpool set x = B'101'",
            "pgpool set x = U&'a'",
            "pgpool set x = 1 2",
            "pgpool set x = \"\"",
            "pgpool set select = 1",
            "pgpool set x = $$open",
        ] {
            assert_eq!(intercept(q.as_bytes()), None, "{q}");
        }
    }

    #[test]
    fn nul_ends_the_text() {
        assert_eq!(
            intercept(b"show pool_nodes\0garbage"),
            Some(Intercept::Show(ShowPool::Nodes))
        );
        assert_eq!(intercept(b"pgpool set x = 'a\0b'"), None);
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = intercept(&bytes);
            }

            #[test]
            fn never_panics_after_a_valid_prefix(
                prefix in prop::sample::select(vec!["show ", "pgpool show ", "pgpool set x = ", "pgpool set x to ", "pgpool reset ", "PGPOOL "]),
                tail in "[ -~\\n\\t\\x00-\\x1f\\u{80}-\\u{10ffff}]{0,60}",
            ) {
                let q = format!("{prefix}{tail}");
                let _ = intercept(q.as_bytes());
            }

            #[test]
            fn set_integer_round_trips(v in any::<i32>()) {
                let q = format!("pgpool set n = {v}");
                prop_assert_eq!(intercept(q.as_bytes()), Some(Intercept::PgpoolSet { name: "n".into(), value: SetValue::Value(v.to_string()) }));
            }

            #[test]
            fn quoted_strings_round_trip(s in "[^'\\x00]{0,40}") {
                let q = format!("pgpool set n = '{s}'");
                prop_assert_eq!(intercept(q.as_bytes()), Some(Intercept::PgpoolSet { name: "n".into(), value: SetValue::Value(s.clone()) }));
            }
        }
    }
}
