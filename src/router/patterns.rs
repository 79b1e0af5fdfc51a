//! The regular expressions of the routing parameters (config.md §3.7): pgpool compiles each item
//! as a POSIX extended, case-insensitive regex anchored with `^`/`$` unless the item already
//! starts/ends with them. An item that does not compile is skipped with a WARNING.
//!
//! We compile with the `regex` crate instead of POSIX `regcomp`. Differences that can matter:
//! * `.` also matches a newline and `^`/`$` only match at the ends of the text (as POSIX without
//!   `REG_NEWLINE`); we set the `s` flag to get that.
//! * Inside a bracket expression a backslash escapes (`[a\]]`); in POSIX it is a literal.
//! * Perl classes (`\d`, `\w`, `\s`), non-greedy repetitions and Unicode case folding are
//!   accepted; POSIX would reject or treat them differently. Backreferences are refused (POSIX
//!   extended regexes have none either).
//! * `\` before punctuation is a literal, as in POSIX (`\;` in the pattern list).

use regex::{Regex, RegexBuilder};

use crate::logger::Severity;

/// Compile one pgpool pattern item; `None` (with a WARNING) when it does not compile.
pub fn compile(param: &str, item: &str) -> Option<Regex> {
    let mut anchored = String::with_capacity(item.len() + 2);
    if !item.starts_with('^') {
        anchored.push('^');
    }
    anchored.push_str(item);
    if !item.ends_with('$') {
        anchored.push('$');
    }
    match RegexBuilder::new(&anchored)
        .case_insensitive(true)
        .dot_matches_new_line(true)
        .build()
    {
        Ok(re) => Some(re),
        Err(e) => {
            let why = e.to_string();
            let why = why.lines().last().unwrap_or("").trim();
            crate::pglog!(
                Severity::Warning,
                "failed to add regex pattern \"{}\" of \"{}\", skipping it: {}",
                item,
                param,
                why
            );
            None
        }
    }
}

/// Compile every item of a list (already split), skipping the invalid ones.
pub fn compile_all(param: &str, items: &[String]) -> Vec<Regex> {
    items
        .iter()
        .filter_map(|item| compile(param, item))
        .collect()
}

/// Does any pattern match the whole of `s`?
pub fn any_match(patterns: &[Regex], s: &str) -> bool {
    patterns.iter().any(|re| re.is_match(s))
}
