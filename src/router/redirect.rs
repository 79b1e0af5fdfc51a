//! The redirect preference lists (`database_`, `app_name_`, `user_redirect_preference_list`,
//! routing.md §5.2): parsing `name:node[(weight)]` entries and finding the first entry whose
//! name pattern matches. What a match means for the node choice is `select.rs`'s business.

use regex::Regex;

use super::patterns;
use crate::logger::Severity;

/// The node part of an entry, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `primary` (exactly, lower case).
    Primary,
    /// `standby` (exactly, lower case): any standby.
    Standby,
    /// Anything else, read like C `atoi`: leading digits, else 0. [FAITHFUL] `Primary` or
    /// `STANDBY` therefore mean node 0; a number that is not a configured node means the
    /// virtual main node.
    Node(i64),
}

/// One `name:node[(weight)]` entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: Regex,
    pub target: Target,
    /// Probability (0..1) of honouring the redirect; 1 when not written.
    pub weight: f64,
}

/// C `atoi`: optional sign and leading decimal digits after white space; 0 when none.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

fn parse_target(node: &str) -> Target {
    match node {
        "primary" => Target::Primary,
        "standby" => Target::Standby,
        other => Target::Node(atoi(other)),
    }
}

/// Parse one entry; `Err` says why it is unusable.
fn parse_entry(param: &str, item: &str) -> Result<Entry, String> {
    // The node part never contains ':' but a name pattern may (`[[:alpha:]]`).
    let (name, rest) = item
        .rsplit_once(':')
        .ok_or_else(|| "no \":\" between name and node".to_string())?;
    let (name, rest) = (name.trim(), rest.trim());
    if name.is_empty() || rest.is_empty() {
        return Err("empty name or node".into());
    }
    let (node, weight) = match rest.find('(') {
        Some(open) => {
            let inner = rest[open + 1..]
                .strip_suffix(')')
                .ok_or_else(|| "weight is not closed by \")\"".to_string())?;
            let w: f64 = inner
                .trim()
                .parse()
                .map_err(|_| format!("invalid weight \"{inner}\""))?;
            if !(0.0..=1.0).contains(&w) {
                return Err(format!("weight {w} is not between 0 and 1"));
            }
            (rest[..open].trim(), w)
        }
        None => (rest, 1.0),
    };
    if node.is_empty() {
        return Err("empty node".into());
    }
    let re = patterns::compile(param, name).ok_or_else(|| "invalid name pattern".to_string())?;
    Ok(Entry {
        name: re,
        target: parse_target(node),
        weight,
    })
}

/// Parse a comma-separated list; unusable entries are skipped with a WARNING.
pub fn parse_list(param: &str, raw: &str) -> Vec<Entry> {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .filter_map(|item| match parse_entry(param, item) {
            Ok(e) => Some(e),
            Err(why) => {
                crate::pglog!(
                    Severity::Warning,
                    "invalid entry \"{}\" in \"{}\", skipping it: {}",
                    item,
                    param,
                    why
                );
                None
            }
        })
        .collect()
}

/// The first entry whose name matches `s` (in list order).
pub fn first_match<'a>(list: &'a [Entry], s: &str) -> Option<&'a Entry> {
    list.iter().find(|e| e.name.is_match(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_with_and_without_weight() {
        let l = parse_list(
            "x",
            "postgres:primary, mydb[01]:1(0.3),mydb2:standby , [[:alpha:]]x:2",
        );
        assert_eq!(l.len(), 4);
        assert_eq!(l[0].target, Target::Primary);
        assert_eq!(l[0].weight, 1.0);
        assert_eq!(l[1].target, Target::Node(1));
        assert_eq!(l[1].weight, 0.3);
        assert!(l[1].name.is_match("MYDB0"));
        assert!(!l[1].name.is_match("mydb0x"));
        assert_eq!(l[2].target, Target::Standby);
        assert!(l[3].name.is_match("ax"));
    }

    #[test]
    fn node_names_are_case_sensitive_and_read_like_atoi() {
        let l = parse_list("x", "a:Primary,b:STANDBY,c:7x,d:junk");
        let t: Vec<Target> = l.iter().map(|e| e.target).collect();
        assert_eq!(
            t,
            [
                Target::Node(0),
                Target::Node(0),
                Target::Node(7),
                Target::Node(0)
            ]
        );
    }

    #[test]
    fn bad_entries_are_skipped() {
        let l = parse_list("x", "nocolon,a:1(2.0),b:1(0.5,c:(0.5),d(:1,ok:1(0)");
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].weight, 0.0);
        assert!(first_match(&l, "OK").is_some());
        assert!(first_match(&l, "d").is_none());
    }
}
