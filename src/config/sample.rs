//! `conf/pgpool.conf.sample`, generated from the parameter table: every parameter commented
//! out with its default and a one-line description, grouped as in the documentation, plus
//! example entries for the numbered families. A unit test keeps the file equal to [`render`].

use std::fmt::Write;

use super::params::{Group, Kind, Param, Unit, ALIAS, FREE_DEFAULT, GROUPS, PARAMS};
use super::value;

/// The default written the way a user would write it in pgpool.conf.
pub fn default_text(p: &Param) -> String {
    match p.kind {
        Kind::Bool(b) => if b { "on" } else { "off" }.into(),
        Kind::Int { default, unit, .. } => match p.name {
            "unix_socket_permissions" | "log_file_mode" => format!("{default:04o}"),
            _ if p.has(FREE_DEFAULT) || unit == Unit::None => default.to_string(),
            _ => value::display_with_unit(default, unit),
        },
        Kind::Real { default, .. } => default.to_string(),
        Kind::Str(d) | Kind::List { default: d, .. } => format!("'{}'", d.unwrap_or("")),
        Kind::Enum { default, .. } => format!("'{default}'"),
    }
}

/// Example slot-0 entries for the numbered families.
fn example(name: &str) -> &'static str {
    match name {
        "backend_hostname" => "'localhost'",
        "backend_port" => "5432",
        "backend_weight" => "1",
        "backend_data_directory" => "'/var/lib/postgresql/data'",
        "backend_flag" => "'ALLOW_TO_FAILOVER'",
        "backend_application_name" => "'server0'",
        "hostname" | "heartbeat_hostname" => "'host0'",
        "wd_port" => "9000",
        "pgpool_port" => "9999",
        "heartbeat_port" => "9694",
        _ => "''",
    }
}

fn group_note(g: Group) -> Option<&'static str> {
    match g {
        Group::Backends => Some(
            "Numbered 0..127; a slot exists when backend_portN is set. Values need quotes\n\
             # unless they are a single word or number (IP addresses and paths must be quoted).",
        ),
        Group::HealthCheck => Some(
            "The index-free form is the default of every node; health_check_periodN etc.\n\
             # override it for node N. The index-free form takes no units.",
        ),
        Group::Watchdog => {
            Some("hostnameN, wd_portN, pgpool_portN: one entry per pgpool node id (0..127).")
        }
        Group::Lifecheck => Some(
            "heartbeat_*N: one entry per pgpool node id; the local id's entry is the receive port.",
        ),
        _ => None,
    }
}

/// `text` as `# ` comment lines wrapped at 96 columns.
fn comment(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.len() + 1 + word.len() > 96 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// The whole sample file.
pub fn render() -> String {
    let mut s = String::new();
    s.push_str(
        "# ----------------------------\n\
         # pgpool-rs configuration file (pgpool-II 4.6 compatible)\n\
         # ----------------------------\n\
         #\n\
         # Generated from the parameter table (src/config/params.rs) by config::sample::render();\n\
         # do not edit by hand.\n\
         #\n\
         # Syntax: one \"name = value\" per line (the '=' is optional); '#' starts a comment.\n\
         # Quote a value with single quotes unless it is one word or number: IP addresses,\n\
         # paths starting with '/', lists and values with spaces must be quoted.\n\
         # Parameter names are case-sensitive; boolean and enum values are not.\n\
         # Time values take units us, ms, s, min, h, d; sizes take B, kB, MB, GB, TB.\n\
         # \"include = 'file'\" reads another file (relative to this one).\n\
         #\n\
         # Context: (start) = read at start-up only; (reload) = re-read on reload;\n\
         # (session) = also changeable with PGPOOL SET.\n",
    );
    for &g in GROUPS {
        let _ = write!(
            s,
            "\n#------------------------------------------------------------------------------\n\
             # {}\n\
             #------------------------------------------------------------------------------\n",
            g.title().to_uppercase()
        );
        if let Some(note) = group_note(g) {
            let _ = writeln!(s, "\n# {note}");
        }
        for p in PARAMS.iter().filter(|p| p.group == g && !p.has(ALIAS)) {
            s.push('\n');
            s.push_str(&comment(&format!("{} ({})", p.desc, p.context.as_str())));
            if p.is_indexed() {
                if p.has(FREE_DEFAULT) {
                    let _ = writeln!(s, "#{} = {}", p.name, default_text(p));
                    let _ = writeln!(s, "#{}0 = {}", p.name, default_text(p));
                } else {
                    let _ = writeln!(s, "#{}0 = {}", p.name, example(p.name));
                }
            } else {
                let _ = writeln!(s, "#{} = {}", p.name, default_text(p));
            }
        }
    }
    s
}
