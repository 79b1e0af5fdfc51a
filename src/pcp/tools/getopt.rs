//! The two `getopt_long`s pgpool's programs are built with, so that ours accept and reject
//! exactly what pgpool's do and say it in the same words: GNU's (`getopt`: the pcp tools,
//! pg_md5, pg_enc — argument permutation, clustered short options, unique-prefix long options,
//! glibc's error messages) and the BSD-derived one pgpool bundles for the server itself
//! (`getopt_bundled`: `pgpool` — no permutation, exact long names, its own messages).

/// Whether a long option takes an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasArg {
    No,
    Required,
}

/// One long option: name, argument, the short option it stands for.
pub type LongOpt = (&'static str, HasArg, char);

/// One parsed item in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An option (short or long) and its argument.
    Opt(char, Option<String>),
    /// A bad option; the text is glibc's message (without the program name prefix).
    Bad(String),
}

/// Parse `args` (without argv[0]) against the short option string (`"n:h:p:"` style) and the
/// long options. Returns the options in order and the positional arguments (permuted to the end,
/// as GNU getopt does; `--` ends the options).
pub fn getopt(args: &[String], short: &str, long: &[LongOpt]) -> (Vec<Item>, Vec<String>) {
    let mut items = Vec::new();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let exact = long.iter().find(|o| o.0 == name);
            let candidates: Vec<&LongOpt> = long.iter().filter(|o| o.0.starts_with(name)).collect();
            let opt = match exact {
                Some(o) => o,
                None if candidates.is_empty() => {
                    items.push(Item::Bad(format!("unrecognized option '--{name}'")));
                    continue;
                }
                None => {
                    let first = candidates[0];
                    if candidates.iter().all(|c| c.1 == first.1 && c.2 == first.2) {
                        first
                    } else {
                        let list: Vec<String> =
                            candidates.iter().map(|c| format!("'--{}'", c.0)).collect();
                        items.push(Item::Bad(format!(
                            "option '--{name}' is ambiguous; possibilities: {}",
                            list.join(" ")
                        )));
                        continue;
                    }
                }
            };
            match (opt.1, inline) {
                (HasArg::No, Some(_)) => items.push(Item::Bad(format!(
                    "option '--{}' doesn't allow an argument",
                    opt.0
                ))),
                (HasArg::No, None) => items.push(Item::Opt(opt.2, None)),
                (HasArg::Required, Some(v)) => items.push(Item::Opt(opt.2, Some(v))),
                (HasArg::Required, None) => {
                    if i < args.len() {
                        items.push(Item::Opt(opt.2, Some(args[i].clone())));
                        i += 1;
                    } else {
                        items.push(Item::Bad(format!(
                            "option '--{}' requires an argument",
                            opt.0
                        )));
                    }
                }
            }
            continue;
        }
        if a.len() < 2 || !a.starts_with('-') {
            positional.push(a.clone());
            continue;
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            k += 1;
            let spec = short.char_indices().find(|&(_, s)| s == c && s != ':');
            let Some((pos, _)) = spec else {
                items.push(Item::Bad(format!("invalid option -- '{c}'")));
                continue;
            };
            let takes_arg = short[pos + c.len_utf8()..].starts_with(':');
            if !takes_arg {
                items.push(Item::Opt(c, None));
                continue;
            }
            let rest: String = chars[k..].iter().collect();
            if !rest.is_empty() {
                items.push(Item::Opt(c, Some(rest)));
            } else if i < args.len() {
                items.push(Item::Opt(c, Some(args[i].clone())));
                i += 1;
            } else {
                items.push(Item::Bad(format!("option requires an argument -- '{c}'")));
            }
            break;
        }
    }
    (items, positional)
}

/// Parse `args` (without argv[0]) as the `getopt_long` bundled with pgpool (PostgreSQL's port)
/// does for the `pgpool` server: options are read up to the first argument that does not start
/// with `-` (or `-` alone, or after `--`), and everything from there is positional. Long names
/// match exactly (`--name=value` or `--name value`; a value given to an option without one is
/// ignored). Messages: `illegal option -- <x>` (for a long option, everything after `--`) and
/// `option requires an argument -- <x>`. A lone `-` and a `:` in a cluster come back as
/// `Opt('\0')` and `Opt(':')`, options the caller does not know, as that getopt returns them.
pub fn getopt_bundled(args: &[String], short: &str, long: &[LongOpt]) -> (Vec<Item>, Vec<String>) {
    let mut items = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        let Some(body) = a.strip_prefix('-') else {
            break;
        };
        i += 1;
        if body.is_empty() {
            items.push(Item::Opt('\0', None));
            continue;
        }
        if let Some(text) = body.strip_prefix('-') {
            let name = text.split('=').next().unwrap_or_default();
            let Some(opt) = long.iter().find(|o| o.0 == name) else {
                items.push(Item::Bad(format!("illegal option -- {text}")));
                continue;
            };
            let value = match (opt.1, text.split_once('=')) {
                (HasArg::No, _) => None,
                (HasArg::Required, Some((_, v))) => Some(v.to_string()),
                (HasArg::Required, None) if i < args.len() => {
                    i += 1;
                    Some(args[i - 1].clone())
                }
                (HasArg::Required, None) => {
                    items.push(Item::Bad(format!("option requires an argument -- {text}")));
                    continue;
                }
            };
            items.push(Item::Opt(opt.2, value));
            continue;
        }
        for (at, c) in body.char_indices() {
            if c == ':' {
                items.push(Item::Opt(c, None));
                continue;
            }
            let Some(pos) = short.find(c) else {
                items.push(Item::Bad(format!("illegal option -- {c}")));
                continue;
            };
            if !short[pos + c.len_utf8()..].starts_with(':') {
                items.push(Item::Opt(c, None));
                continue;
            }
            let rest = &body[at + c.len_utf8()..];
            if !rest.is_empty() {
                items.push(Item::Opt(c, Some(rest.to_string())));
            } else if i < args.len() {
                items.push(Item::Opt(c, Some(args[i].clone())));
                i += 1;
            } else {
                items.push(Item::Bad(format!("option requires an argument -- {c}")));
            }
            break;
        }
    }
    (items, args[i..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &[LongOpt] = &[
        ("no-password", HasArg::No, 'w'),
        ("node-id", HasArg::Required, 'n'),
        ("port", HasArg::Required, 'p'),
    ];

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn short_long_and_positional() {
        let (items, pos) = getopt(&v(&["-wn1", "x", "--port", "9999", "-p10"]), "n:p:w", LONG);
        assert_eq!(
            items,
            vec![
                Item::Opt('w', None),
                Item::Opt('n', Some("1".into())),
                Item::Opt('p', Some("9999".into())),
                Item::Opt('p', Some("10".into())),
            ]
        );
        assert_eq!(pos, v(&["x"]));
        let (items, _) = getopt(&v(&["--node=3", "--no-p"]), "n:p:w", LONG);
        assert_eq!(
            items,
            vec![Item::Opt('n', Some("3".into())), Item::Opt('w', None)]
        );
    }

    #[test]
    fn glibc_messages() {
        let (items, _) = getopt(&v(&["-x", "--bogus", "--no", "-n"]), "n:w", LONG);
        assert_eq!(
            items,
            vec![
                Item::Bad("invalid option -- 'x'".into()),
                Item::Bad("unrecognized option '--bogus'".into()),
                Item::Bad(
                    "option '--no' is ambiguous; possibilities: '--no-password' '--node-id'".into()
                ),
                Item::Bad("option requires an argument -- 'n'".into()),
            ]
        );
    }

    #[test]
    fn bundled_getopt_stops_at_the_first_word_and_matches_long_names_exactly() {
        const L: &[LongOpt] = &[
            ("config-file", HasArg::Required, 'f'),
            ("debug", HasArg::No, 'd'),
            ("mode", HasArg::Required, 'm'),
        ];
        let (items, pos) = getopt_bundled(
            &v(&["-dn", "-fa", "--mode", "fast", "--debug=1", "stop", "-v"]),
            "df:m:n",
            L,
        );
        assert_eq!(
            items,
            vec![
                Item::Opt('d', None),
                Item::Opt('n', None),
                Item::Opt('f', Some("a".into())),
                Item::Opt('m', Some("fast".into())),
                Item::Opt('d', None),
            ]
        );
        assert_eq!(pos, v(&["stop", "-v"]));
        let (items, pos) = getopt_bundled(
            &v(&["--conf=x", "-c", "--config-file", "--", "-d"]),
            "df:",
            L,
        );
        assert_eq!(
            items,
            vec![
                Item::Bad("illegal option -- conf=x".into()),
                Item::Bad("illegal option -- c".into()),
                Item::Opt('f', Some("--".into())),
                Item::Opt('d', None),
            ]
        );
        assert!(pos.is_empty());
        let (items, pos) = getopt_bundled(&v(&["-d", "--", "-d"]), "df:", L);
        assert_eq!((items, pos), (vec![Item::Opt('d', None)], v(&["-d"])));
        let (items, _) = getopt_bundled(&v(&["-", "-d:", "-f"]), "df:", L);
        assert_eq!(
            items,
            vec![
                Item::Opt('\0', None),
                Item::Opt('d', None),
                Item::Opt(':', None),
                Item::Bad("option requires an argument -- f".into()),
            ]
        );
        let (items, _) = getopt_bundled(&v(&["--config-file"]), "df:", L);
        assert_eq!(
            items,
            vec![Item::Bad(
                "option requires an argument -- config-file".into()
            )]
        );
    }
}
