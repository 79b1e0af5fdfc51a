//! The cache key of a statement text: a small lexer (PostgreSQL's token rules, much simplified)
//! that replaces every literal by a placeholder byte, drops comments, collapses whitespace and
//! lower-cases unquoted words, so that texts differing only in literal values, spacing, comments
//! or keyword case share one parse. Nothing is allocated besides the key itself.
//!
//! Two texts get the same key only if PostgreSQL's parser sees the same token sequence with
//! literals of the same class in the same places; the class keeps apart what the grammar itself
//! tells apart (an integer that fits in `int4` is an ICONST, a larger one an FCONST; a string is
//! not a number). Literal contents that the *lexer* may reject (`E'…'` escapes, `U&'…'`) are kept
//! verbatim or not cached at all. What is not preserved: the rare value checks inside the
//! grammar (e.g. `float(0)`), so a text that would fail there may be routed like its valid twin;
//! the node it reaches reports the error.

/// Integer literal that fits in `int4` (the lexer's ICONST).
const SMALL_INT: u8 = 1;
/// Any other numeric literal (FCONST: decimal point, exponent, or too large).
const NUMERIC: u8 = 2;
/// `'…'`, `N'…'` (after the `n`), with `''` escapes and newline continuation.
const STRING: u8 = 3;
/// `$$…$$` or `$tag$…$tag$`.
const DOLLAR: u8 = 4;
/// `B'…'`.
const BITS: u8 = 5;
/// `X'…'`.
const HEX: u8 = 6;

/// The normalized key of `sql`, or `None` when the text must not be shared with any other text
/// (an unterminated literal or comment, a `U&` literal, a control character outside literals).
pub(crate) fn normalize_key(sql: &str) -> Option<Vec<u8>> {
    let b = sql.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut space = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if is_space(c) {
            space = true;
            i += 1;
            continue;
        }
        if c == b'-' && next == Some(b'-') {
            i = line_end(b, i);
            space = true;
            continue;
        }
        if c == b'/' && next == Some(b'*') {
            i = block_comment_end(b, i)?;
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(b' ');
        }
        space = false;
        i = match c {
            b'\'' => {
                out.push(STRING);
                string_end(b, i, Quoting::Standard)?
            }
            b'"' => {
                let end = quoted_ident_end(b, i)?;
                out.extend_from_slice(&b[i..end]);
                end
            }
            b'$' => dollar(b, i, &mut out)?,
            b'0'..=b'9' => number(b, i, &mut out),
            b'.' if next.is_some_and(|d| d.is_ascii_digit()) => number(b, i, &mut out),
            _ if is_ident_start(c) => word(b, i, &mut out)?,
            _ if c < b' ' || c == 0x7f => return None,
            _ => {
                out.push(c);
                i + 1
            }
        };
    }
    Some(out)
}

/// PostgreSQL's `space`: ` \t\n\r\f\v`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident_cont(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == b'$'
}

/// Index of the newline ending the `--` comment at `i` (or the end of the text).
fn line_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .map_or(b.len(), |p| i + p)
}

/// Index after the (nestable) `/* … */` comment at `i`.
fn block_comment_end(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j + 1 < b.len() {
        match (b[j], b[j + 1]) {
            (b'/', b'*') => {
                depth += 1;
                j += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => j += 1,
        }
    }
    None
}

/// How the inside of a quoted literal is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// `'…'`: `''` is a quote.
    Standard,
    /// `E'…'`: `''` is a quote, and a backslash escapes the next character.
    Escape,
    /// `B'…'`, `X'…'`: no escapes at all.
    Bits,
}

/// Index after the quoted literal whose opening quote is at `i`, including the parts joined to
/// it by PostgreSQL's quote continuation (whitespace containing a newline, then a quote).
fn string_end(b: &[u8], i: usize, quoting: Quoting) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match *b.get(j)? {
            b'\'' if quoting != Quoting::Bits && b.get(j + 1) == Some(&b'\'') => j += 2,
            b'\'' => match continuation(b, j + 1) {
                Some(quote) => j = quote + 1,
                None => return Some(j + 1),
            },
            b'\\' if quoting == Quoting::Escape => j += 2,
            _ => j += 1,
        }
    }
}

/// The index of the quote continuing a literal that closed just before `j`: only spaces, `--`
/// comments and at least one newline in between (scan.l's `quotecontinue`).
fn continuation(b: &[u8], mut j: usize) -> Option<usize> {
    let mut newline = false;
    loop {
        match b.get(j) {
            Some(b'\n' | b'\r') => {
                newline = true;
                j += 1;
            }
            Some(&c) if is_space(c) => j += 1,
            Some(b'-') if b.get(j + 1) == Some(&b'-') => j = line_end(b, j),
            Some(b'\'') if newline => return Some(j),
            _ => return None,
        }
    }
}

/// Index after the `"…"` identifier at `i` (`""` escapes a quote).
fn quoted_ident_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match *b.get(j)? {
            b'"' if b.get(j + 1) == Some(&b'"') => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// `$1` (kept verbatim), a dollar-quoted string (placeholder), or a lone `$`.
fn dollar(b: &[u8], i: usize, out: &mut Vec<u8>) -> Option<usize> {
    let mut j = i + 1;
    if b.get(j).is_some_and(u8::is_ascii_digit) {
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        out.extend_from_slice(&b[i..j]);
        return Some(j);
    }
    while b
        .get(j)
        .is_some_and(|&c| is_ident_start(c) || c.is_ascii_digit())
    {
        j += 1;
    }
    if b.get(j) != Some(&b'$') {
        out.push(b'$');
        return Some(i + 1);
    }
    let tag = &b[i..=j];
    let body = j + 1;
    let close = b[body..].windows(tag.len()).position(|w| w == tag)?;
    out.push(DOLLAR);
    Some(body + close + tag.len())
}

/// A numeric literal at `i`: its class as a placeholder, or the digits verbatim when letters
/// follow (PostgreSQL rejects such "trailing junk"; keeping it verbatim keeps such texts apart).
fn number(b: &[u8], i: usize, out: &mut Vec<u8>) -> usize {
    let radix = match (b[i], b.get(i + 1).map(u8::to_ascii_lowercase)) {
        (b'0', Some(b'x')) => 16,
        (b'0', Some(b'o')) => 8,
        (b'0', Some(b'b')) => 2,
        _ => 10,
    };
    let (end, class) = if radix == 10 {
        decimal(b, i)
    } else {
        match digits(b, i + 2, radix) {
            (end, value) if end > i + 2 => (end, int_class(value)),
            _ => (i + 1, SMALL_INT), // `0x` without digits: `0` then junk
        }
    };
    if b.get(end).is_some_and(|&c| is_ident_start(c)) {
        out.extend_from_slice(&b[i..end]);
    } else {
        out.push(class);
    }
    end
}

/// Digits of `radix` with single `_` separators from `j`: the end and the value (saturated).
fn digits(b: &[u8], mut j: usize, radix: u32) -> (usize, u64) {
    let digit = |c: Option<&u8>| c.and_then(|&c| (c as char).to_digit(radix));
    let mut value = 0u64;
    loop {
        if let Some(d) = digit(b.get(j)) {
            value = value.saturating_mul(radix as u64).saturating_add(d as u64);
            j += 1;
        } else if b.get(j) == Some(&b'_') && j > 0 && digit(b.get(j - 1)).is_some() {
            match digit(b.get(j + 1)) {
                Some(_) => j += 1,
                None => return (j, value),
            }
        } else {
            return (j, value);
        }
    }
}

fn int_class(value: u64) -> u8 {
    if value <= i32::MAX as u64 {
        SMALL_INT
    } else {
        NUMERIC
    }
}

/// `123`, `1_000`, `1.5`, `.5`, `1.`, `1e10`, `1.5E-3`.
fn decimal(b: &[u8], i: usize) -> (usize, u8) {
    let (mut j, value) = digits(b, i, 10);
    let mut class = int_class(value);
    if b.get(j) == Some(&b'.') && b.get(j + 1) != Some(&b'.') {
        class = NUMERIC;
        j = digits(b, j + 1, 10).0;
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(j + 1), Some(b'+' | b'-')));
        if b.get(j + 1 + sign).is_some_and(u8::is_ascii_digit) {
            class = NUMERIC;
            j = digits(b, j + 1 + sign, 10).0;
        }
    }
    (j, class)
}

/// A word at `i`: a prefixed string (`E'…'` verbatim, `B'…'`, `X'…'` as placeholders), or an
/// unquoted identifier or keyword, lower-cased as the parser folds it. `U&` literals: no key.
fn word(b: &[u8], i: usize, out: &mut Vec<u8>) -> Option<usize> {
    let c = b[i].to_ascii_lowercase();
    match (c, b.get(i + 1), b.get(i + 2)) {
        (b'e', Some(b'\''), _) => {
            let end = string_end(b, i + 1, Quoting::Escape)?;
            out.extend_from_slice(&b[i..end]);
            return Some(end);
        }
        (b'b', Some(b'\''), _) => {
            out.push(BITS);
            return string_end(b, i + 1, Quoting::Bits);
        }
        (b'x', Some(b'\''), _) => {
            out.push(HEX);
            return string_end(b, i + 1, Quoting::Bits);
        }
        (b'u', Some(b'&'), Some(b'\'' | b'"')) => return None,
        _ => {}
    }
    let j = b[i..]
        .iter()
        .position(|&c| !is_ident_cont(c))
        .map_or(b.len(), |p| i + p);
    let start = out.len();
    out.extend_from_slice(&b[i..j]);
    out[start..].make_ascii_lowercase();
    Some(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sql: &str) -> String {
        let k = normalize_key(sql).expect("cacheable");
        k.iter()
            .map(|&c| match c {
                SMALL_INT => "<i>".to_string(),
                NUMERIC => "<n>".to_string(),
                STRING => "<s>".to_string(),
                DOLLAR => "<d>".to_string(),
                BITS => "<b>".to_string(),
                HEX => "<x>".to_string(),
                c => (c as char).to_string(),
            })
            .collect()
    }

    #[test]
    fn literals_become_placeholders_by_class() {
        assert_eq!(
            key("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;"),
            "select abalance from pgbench_accounts where aid = <i>;"
        );
        assert_eq!(key("select 2147483647, 2147483648"), "select <i>, <n>");
        assert_eq!(
            key("select 1.5, .5, 1., 1e10, 2E-3, 1_000"),
            "select <n>, <n>, <n>, <n>, <n>, <i>"
        );
        assert_eq!(
            key("select 0x1F, 0o17, 0b101, 0xFFFFFFFFF"),
            "select <i>, <i>, <i>, <n>"
        );
        assert_eq!(
            key("select 'it''s', $$a'b$$, $q$ $$ $q$, B'101', x'ff'"),
            "select <s>, <d>, <d>, <b>, <x>"
        );
        assert_eq!(key("select N'abc'"), "select n<s>");
    }

    #[test]
    fn spacing_comments_and_case_do_not_matter() {
        let k = key("SELECT  a\n\tFROM t -- comment\n /* block /* nested */ */ WHERE b=1");
        assert_eq!(k, "select a from t where b=<i>");
        assert_eq!(key("/*x*/ select 1 "), "select <i>");
        assert_eq!(key("select/**/1"), "select <i>");
        assert_eq!(key("a +/**/- b"), "a + - b");
        assert_ne!(key("a +- b"), key("a + - b"));
    }

    #[test]
    fn quoted_identifiers_and_params_stay_verbatim() {
        assert_eq!(
            key(r#"select "A  b""c" from T"#),
            r#"select "A  b""c" from t"#
        );
        assert_eq!(key("select $1, $23 from t"), "select $1, $23 from t");
        assert_eq!(key("select a$b, 1$a$x$a$"), "select a$b, <i><d>");
    }

    #[test]
    fn quote_continuation_needs_a_newline() {
        assert_eq!(key("select 'a'\n  'b'"), "select <s>");
        assert_eq!(key("select 'a' -- c\n'b'"), "select <s>");
        assert_eq!(key("select 'a' 'b'"), "select <s> <s>");
    }

    #[test]
    fn bit_strings_have_no_quote_escape() {
        assert_eq!(key("select B'1''0'"), "select <b><s>");
        assert_eq!(key("select X'1f'\n'2'"), "select <x>");
    }

    #[test]
    fn escape_strings_are_kept_verbatim() {
        assert_eq!(key(r"select E'a\'b', e'\n'"), r"select E'a\'b', e'\n'");
    }

    #[test]
    fn trailing_junk_is_kept_verbatim() {
        assert_eq!(key("select 123abc"), "select 123abc");
        assert_eq!(key("select 1e+"), "select 1e+");
        assert_ne!(key("select 1x"), key("select 1 x"));
    }

    #[test]
    fn some_texts_are_never_shared() {
        assert_eq!(normalize_key("select 'unterminated"), None);
        assert_eq!(normalize_key("select /* unterminated"), None);
        assert_eq!(normalize_key("select $a$ x"), None);
        assert_eq!(normalize_key("select U&'d\\0061t'"), None);
        assert_eq!(normalize_key("select \u{1} 1"), None);
    }

    proptest::proptest! {
        /// Any text, however broken, gets a key or none, without panicking.
        #[test]
        fn never_panics(sql in "[$'\"eEbBxXuUn&0-9._/*+ \n\r\t\\-]{0,40}") {
            let _ = normalize_key(&sql);
        }

        /// Changing the value of a plain integer or string literal never changes the key.
        #[test]
        fn literal_values_do_not_change_the_key(a in 0u32..=i32::MAX as u32, b in "[a-z' ]{0,8}") {
            let sql = format!("select * from t where a = {a} and b = '{}'", b.replace('\'', "''"));
            proptest::prop_assert_eq!(normalize_key(&sql), normalize_key("select * from t where a = 7 and b = 'x'"));
        }
    }

    #[test]
    fn lone_dollar_and_empty_texts() {
        assert_eq!(key("select $a"), "select $a");
        assert_eq!(key(""), "");
        assert_eq!(key(" -- only a comment"), "");
    }
}
