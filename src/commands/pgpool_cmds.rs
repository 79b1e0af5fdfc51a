//! `PGPOOL SHOW`, `PGPOOL SET` and `PGPOOL RESET` (spec/sql-commands.md §3–§5): which result
//! shape each form has and which CommandComplete tag it ends with. The values, their formatting
//! and the validation of changes belong to the configuration (`SessionConfig`).

use super::result::{command_complete, ResultSet};
use super::{CommandError, SessionConfig, SetValue, Target};

const ITEM_VALUE_DESCRIPTION: [&str; 3] = ["item", "value", "description"];

fn rows3(rows: Vec<super::Row3>) -> Vec<u8> {
    let mut rs = ResultSet::new(&ITEM_VALUE_DESCRIPTION);
    for (item, value, desc) in rows {
        rs.row(&[item, value, desc]);
    }
    rs.finish()
}

/// `PGPOOL SHOW ALL | <name>`: a group or indexed base name gives item/value/description rows,
/// a scalar (or indexed name with its index) one column named as requested.
pub fn show(target: &Target, cfg: &dyn SessionConfig) -> Vec<u8> {
    match target {
        Target::All => rows3(cfg.show_all()),
        Target::Name(name) => {
            if let Some(rows) = cfg.show_group(name) {
                return rows3(rows);
            }
            match cfg.show(name) {
                Some(value) => {
                    let mut rs = ResultSet::new(&[name.as_str()]);
                    rs.row(&[value]);
                    rs.finish()
                }
                None => {
                    CommandError::new(format!("config variable \"{name}\" not found")).to_reply()
                }
            }
        }
    }
}

/// `PGPOOL SET name {TO|=} value | DEFAULT` → CommandComplete `SET`.
pub fn set(name: &str, value: &SetValue, cfg: &mut dyn SessionConfig) -> Vec<u8> {
    let r = match value {
        SetValue::Default => cfg.reset_session(name),
        SetValue::Value(v) => cfg.set_session(name, v),
    };
    match r {
        Ok(()) => command_complete("SET"),
        Err(e) => e.to_reply(),
    }
}

/// `PGPOOL RESET name` → `SET`; `PGPOOL RESET ALL` → `RESET`.
pub fn reset(target: &Target, cfg: &mut dyn SessionConfig) -> Vec<u8> {
    match target {
        Target::All => {
            cfg.reset_all_session();
            command_complete("RESET")
        }
        Target::Name(name) => match cfg.reset_session(name) {
            Ok(()) => command_complete("SET"),
            Err(e) => e.to_reply(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeConfig;
    use super::super::result;
    use super::*;

    fn name(s: &str) -> Target {
        Target::Name(s.into())
    }

    fn one_value(col: &str, v: &str) -> Vec<u8> {
        let mut rs = ResultSet::new(&[col]);
        rs.row(&[v]);
        rs.finish()
    }

    #[test]
    fn show_scalar_is_one_column_named_as_requested() {
        let cfg = FakeConfig::new();
        assert_eq!(show(&name("port"), &cfg), one_value("port", "9999"));
        assert_eq!(
            show(&name("backend_port1"), &cfg),
            one_value("backend_port1", "5433")
        );
    }

    #[test]
    fn show_unknown_is_pgpools_error() {
        let cfg = FakeConfig::new();
        assert_eq!(
            show(&name("nosuch"), &cfg),
            result::error("config variable \"nosuch\" not found", None, None)
        );
    }

    #[test]
    fn show_group_and_all_are_item_value_description() {
        let cfg = FakeConfig::new();
        let out = show(&name("backend_hostname"), &cfg);
        let mut rs = ResultSet::new(&ITEM_VALUE_DESCRIPTION);
        rs.row(&[
            "backend_hostname0",
            "/tmp",
            "hostname or IP address of PostgreSQL backend.",
        ]);
        rs.row(&[
            "backend_hostname1",
            "localhost",
            "hostname or IP address of PostgreSQL backend.",
        ]);
        assert_eq!(out, rs.finish());
        let all = show(&Target::All, &cfg);
        let tag = format!("SELECT {}\0", cfg.values.len());
        assert!(all.windows(tag.len()).any(|w| w == tag.as_bytes()));
    }

    #[test]
    fn set_then_reset_round_trip() {
        let mut cfg = FakeConfig::new();
        assert_eq!(
            set(
                "client_idle_limit",
                &SetValue::Value("350".into()),
                &mut cfg
            ),
            command_complete("SET")
        );
        assert_eq!(cfg.values["client_idle_limit"], "350");
        assert_eq!(
            set("client_idle_limit", &SetValue::Default, &mut cfg),
            command_complete("SET")
        );
        assert_eq!(cfg.values["client_idle_limit"], "0");
        set(
            "log_min_messages",
            &SetValue::Value("debug1".into()),
            &mut cfg,
        );
        assert_eq!(
            reset(&name("log_min_messages"), &mut cfg),
            command_complete("SET")
        );
        assert_eq!(cfg.values["log_min_messages"], "warning");
        set("client_idle_limit", &SetValue::Value("5".into()), &mut cfg);
        set(
            "log_min_messages",
            &SetValue::Value("debug1".into()),
            &mut cfg,
        );
        assert_eq!(reset(&Target::All, &mut cfg), command_complete("RESET"));
        assert_eq!(cfg.values["client_idle_limit"], "0");
        assert_eq!(cfg.values["log_min_messages"], "warning");
    }

    #[test]
    fn set_errors_carry_message_and_hint() {
        let mut cfg = FakeConfig::new();
        assert_eq!(
            set("port", &SetValue::Value("1".into()), &mut cfg),
            result::error(
                "invalid Context, value for parameter \"port\" cannot be changed",
                None,
                None
            )
        );
        let out = set(
            "client_idle_limit",
            &SetValue::Value("abc".into()),
            &mut cfg,
        );
        assert!(out.windows(2).any(|w| w == b"\0H"), "hint field present");
        assert!(out.ends_with(b"Z\0\0\0\x05I"));
        assert_eq!(
            reset(&name("nosuch"), &mut cfg),
            result::error(
                "unrecognized configuration parameter \"nosuch\"",
                None,
                None
            )
        );
    }
}
