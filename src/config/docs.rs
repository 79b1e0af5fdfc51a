//! `docs/configuration.md`, the configuration reference, generated from the parameter table:
//! one Markdown table per group (name, type, default, context, range or values, description).
//! A unit test keeps the file equal to [`render`].

use std::fmt::Write;

use super::params::{Kind, Param, ALIAS, FREE_DEFAULT, GROUPS, PARAMS};
use super::sample::default_text;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn type_text(p: &Param) -> String {
    let mut t = p.kind.type_name().to_owned();
    if let Kind::Int { unit, .. } = p.kind {
        if !unit.as_str().is_empty() {
            let _ = write!(t, " ({})", unit.as_str());
        }
    }
    if let Kind::List { sep, .. } = p.kind {
        let _ = write!(t, " (`{sep}`-separated)");
    }
    t
}

fn range_text(p: &Param) -> String {
    match p.kind {
        Kind::Int { min, max, .. } => {
            let fmt = |v: i64| match v {
                v if v == i32::MAX as i64 => "2147483647".to_owned(),
                v if v == i64::MAX => "2^63-1".to_owned(),
                v if p.name == "unix_socket_permissions" => format!("{v:04o}"),
                v => v.to_string(),
            };
            format!("{} … {}", fmt(min), fmt(max))
        }
        Kind::Real { min, max, .. } => format!("{min} … {max:e}"),
        Kind::Enum { values, .. } => values
            .iter()
            .filter(|v| !v.hidden)
            .map(|v| v.name)
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

fn name_text(p: &Param) -> String {
    if p.is_indexed() {
        let free = if p.has(FREE_DEFAULT) {
            " (and index-free default)"
        } else {
            ""
        };
        format!("`{}`*N* (N = 0…{}){free}", p.name, p.array - 1)
    } else {
        format!("`{}`", p.name)
    }
}

/// The whole reference page.
pub fn render() -> String {
    let mut s = String::from(
        "# Configuration reference\n\n\
         <!-- Generated from src/config/params.rs by config::docs::render(); do not edit. -->\n\n\
         Every parameter pgpool-rs reads from `pgpool.conf`, as pgpool-II 4.6 defines it.\n\
         Context: **start** = read at start-up only (a reload keeps the old value and logs that a\n\
         restart is needed); **reload** = re-read on reload (`pgpool reload`, SIGHUP,\n\
         `pcp_reload_config`); **session** = also changeable per session with `PGPOOL SET`.\n\
         Time parameters accept the units `us`, `ms`, `s`, `min`, `h`, `d`; size parameters `B`,\n\
         `kB`, `MB`, `GB`, `TB`. Relative paths are relative to the directory of `pgpool.conf`.\n",
    );
    for &g in GROUPS {
        let _ = write!(
            s,
            "\n## {}\n\n| Name | Type | Default | Context | Range / values | Description |\n|---|---|---|---|---|---|\n",
            g.title()
        );
        for p in PARAMS.iter().filter(|p| p.group == g) {
            let default = match p.kind {
                Kind::Str(None) | Kind::List { default: None, .. } => "(unset)".to_owned(),
                _ => format!("`{}`", default_text(p)),
            };
            let mut desc = p.desc.to_owned();
            if p.has(ALIAS) {
                desc.push_str(" Hidden from `PGPOOL SHOW ALL`.");
            }
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                name_text(p),
                cell(&type_text(p)),
                cell(&default),
                p.context.as_str(),
                cell(&range_text(p)),
                cell(&desc)
            );
        }
    }
    s
}
