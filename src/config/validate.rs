//! Checks and derived values after the lines are applied (spec/config.md §5): per-value checks of
//! `backend_flagN` and `log_destination`, the reload rules for backend slots (§5.2), and the
//! post-processing of §5.1 (backend slots, `/tmp` for empty host names, pgpool_node_id, watchdog
//! and heartbeat consistency, recovery data directories, quorum vs replication_mode, dynamic
//! spare-children limits).

use super::error::{ConfigError, Diag, Level};
use super::params::MAX_BACKENDS;
use super::{BackendConf, Config, Mode, Value};

const FLAG_ALLOW: &str = "ALLOW_TO_FAILOVER";
const FLAG_DISALLOW: &str = "DISALLOW_TO_FAILOVER";
const FLAG_PRIMARY: &str = "ALWAYS_PRIMARY";

/// Value checks pgpool makes on some string parameters while applying them.
pub fn check_string(base: &str, key: &str, text: &str) -> Result<(), ConfigError> {
    match base {
        "backend_flag" => {
            let (mut allow, mut disallow) = (false, false);
            for word in text.split('|').map(str::trim).filter(|w| !w.is_empty()) {
                match word {
                    FLAG_ALLOW => allow = true,
                    FLAG_DISALLOW => disallow = true,
                    FLAG_PRIMARY => {}
                    other => {
                        return Err(ConfigError::invalid(format!(
                            "invalid configuration for key \"{key}\""
                        ))
                        .with_detail(Some(format!("unknown backend flag:{other}"))))
                    }
                }
            }
            if allow && disallow {
                return Err(ConfigError::invalid(format!(
                    "invalid configuration for key \"{key}\""
                ))
                .with_detail(Some(
                    "cannot set ALLOW_TO_FAILOVER and DISALLOW_TO_FAILOVER at the same time".into(),
                )));
            }
            Ok(())
        }
        "log_destination" => {
            for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                if !word.eq_ignore_ascii_case("stderr") && !word.eq_ignore_ascii_case("syslog") {
                    return Err(ConfigError::invalid(
                        "invalid configuration for \"log_destination\"",
                    )
                    .with_detail(Some(format!("unknown destination :{word}"))));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `backend_flagN` as PGPOOL SHOW prints it: the failover flag, then `|ALWAYS_PRIMARY`.
pub fn normalize_flag(flag: &str) -> String {
    let words: Vec<&str> = flag.split('|').map(str::trim).collect();
    let mut out = String::from(if words.contains(&FLAG_DISALLOW) {
        FLAG_DISALLOW
    } else {
        FLAG_ALLOW
    });
    if words.contains(&FLAG_PRIMARY) {
        out.push('|');
        out.push_str(FLAG_PRIMARY);
    }
    out
}

fn slot_in_use(cfg: &Config, slot: usize) -> bool {
    matches!(cfg.value_at("backend_port", slot), Value::Int(p) if *p != 0)
}

/// Reload rule for one backend-slot value (§5.2). Returns the value to store, or `None` to keep
/// the current one (pgpool refuses silently).
pub fn backend_reload_rule(
    cfg: &Config,
    base: &str,
    slot: usize,
    current: &Value,
    new: Value,
    diags: &mut Vec<Diag>,
) -> Option<Value> {
    match base {
        "backend_hostname" | "backend_port" | "backend_data_directory" => {
            (!slot_in_use(cfg, slot)).then_some(new)
        }
        "backend_weight" => {
            if let (Value::Real(old), Value::Real(n)) = (current, &new) {
                if old != n && slot_in_use(cfg, slot) {
                    diags.push(Diag::new(
                        Level::Log,
                        format!(
                            "backend weight for backend:{slot} changed from {old:.6} to {n:.6}"
                        ),
                    ));
                }
            }
            Some(new)
        }
        "backend_flag" => {
            // ALWAYS_PRIMARY is only ever added by a reload, never cleared (pgpool quirk).
            match (current, new) {
                (Value::Text(Some(old)), Value::Text(Some(n)))
                    if old.split('|').any(|w| w.trim() == FLAG_PRIMARY)
                        && !n.split('|').any(|w| w.trim() == FLAG_PRIMARY) =>
                {
                    Some(Value::Text(Some(format!("{n}|{FLAG_PRIMARY}"))))
                }
                (_, n) => Some(n),
            }
        }
        _ => Some(new),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        _ => 0,
    }
}

fn real(v: &Value) -> f64 {
    match v {
        Value::Real(r) => *r,
        _ => 0.0,
    }
}

/// Read the `pgpool_node_id` file next to pgpool.conf (spec/config.md §7.8).
pub fn read_node_id(cfg: &Config) -> Result<i32, ConfigError> {
    let path = cfg.dir().join("pgpool_node_id");
    let Ok(bytes) = std::fs::read(&path) else {
        return Err(ConfigError::invalid(format!(
            "Pgpool node id file {} does not exist",
            path.display()
        )));
    };
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let first = &first[..first.len().min(7)];
    if first.is_empty() {
        return Err(ConfigError::invalid("pgpool_node_id file is empty"));
    }
    if !first.iter().all(u8::is_ascii_digit) {
        return Err(ConfigError::invalid(
            "pgpool_node_id is not a numeric value",
        ));
    }
    let s = String::from_utf8_lossy(first);
    match s.parse::<i32>() {
        Ok(n) if n < MAX_BACKENDS as i32 => Ok(n),
        _ => Err(ConfigError::invalid(format!(
            "Invalid pgpool node id \"{s}\", must be between 0 and {}",
            MAX_BACKENDS - 1
        ))),
    }
}

/// §5.1 post-processing. `old` is the previous configuration on reload. Errors are FATAL at
/// start-up; on reload the caller logs them as WARNING.
pub fn post_process(
    cfg: &mut Config,
    old: Option<&Config>,
    mode: Mode,
    diags: &mut Vec<Diag>,
) -> Result<(), ConfigError> {
    let _ = old;
    // 1. pgpool_node_id.
    if cfg.get_bool("use_watchdog") {
        let id = read_node_id(cfg)?;
        cfg.set_node_id(Some(id));
    } else {
        cfg.set_node_id(None);
    }

    // 2. Backend slots.
    let mut backends = Vec::new();
    let mut last_used = None;
    for n in 0..MAX_BACKENDS as usize {
        if int(cfg.value_at("backend_port", n)) != 0 {
            last_used = Some(n);
        }
    }
    let mut logged_header = false;
    for n in 0..last_used.map_or(0, |l| l + 1) {
        let port = int(cfg.value_at("backend_port", n));
        if port == 0 {
            backends.push(BackendConf::default());
            continue;
        }
        let mut hostname = text(cfg.value_at("backend_hostname", n));
        if hostname.is_empty() {
            hostname = "/tmp".into();
            let d = Diag::new(Level::Log, "initializing pool configuration").with_detail(format!(
                "empty backend_hostname{n}, use PostgreSQL's default unix socket path (/tmp)"
            ));
            if mode == Mode::Start || !logged_header {
                diags.push(d);
            }
            logged_header = true;
        }
        backends.push(BackendConf {
            hostname,
            port: u16::try_from(port).unwrap_or(0),
            weight: real(cfg.value_at("backend_weight", n)),
            data_directory: text(cfg.value_at("backend_data_directory", n)),
            flag: normalize_flag(&text(cfg.value_at("backend_flag", n))),
            application_name: text(cfg.value_at("backend_application_name", n)),
        });
    }

    // 4. Watchdog: the local node must have a wd_port.
    if let Some(id) = cfg.pgpool_node_id() {
        if int(cfg.value_at("wd_port", id as usize)) <= 0 {
            return Err(
                ConfigError::invalid("invalid watchdog configuration").with_detail(Some(format!(
                    "no watchdog configuration for local pgpool node, pgpool node id: {id}"
                ))),
            );
        }
        // 5. Heartbeat destinations need a host name.
        if cfg.get_enum("wd_lifecheck_method") == "heartbeat" {
            for n in 0..super::params::MAX_WD_IF as usize {
                if n != id as usize
                    && int(cfg.value_at("heartbeat_port", n)) > 0
                    && text(cfg.value_at("heartbeat_hostname", n))
                        .split(';')
                        .all(|h| h.trim().is_empty())
                {
                    return Err(ConfigError::invalid(format!(
                        "heartbeat_hostname{n} is not defined"
                    )));
                }
            }
        }
    }

    // 6. Online recovery needs data directories.
    if (!cfg.get_str("recovery_1st_stage_command").is_empty()
        || !cfg.get_str("recovery_2nd_stage_command").is_empty())
        && backends
            .iter()
            .any(|b| b.in_use() && b.data_directory.is_empty())
    {
        return Err(ConfigError::invalid(
            "invalid configuration, recovery_1st_stage_command and recovery_2nd_stage_command requires backend_data_directory to be set",
        ));
    }
    cfg.set_backends(backends);

    // 7. Quorum failover is not allowed with the legacy replication_mode.
    if cfg.get_bool("failover_when_quorum_exists") && cfg.get_bool("replication_mode") {
        cfg.set_value("failover_when_quorum_exists", Value::Bool(false));
        return Err(ConfigError::invalid(
            "invalid configuration, failover_when_quorum_exists is not allowed in native replication mode",
        ));
    }

    // 8. Dynamic process management limits.
    if cfg.get_enum("process_management_mode") == "dynamic" {
        let min = cfg.get_int("min_spare_children");
        let max = cfg.get_int("max_spare_children");
        let total = cfg.get_int("num_init_children");
        if min >= max {
            return Err(ConfigError::invalid(format!(
                "invalid configuration, max_spare_children:{max} must be greater than min_spare_children:{min}"
            )));
        }
        if max > total {
            return Err(ConfigError::invalid(format!(
                "invalid configuration, max_spare_children:{max} must be less than or equal to num_init_children:{total}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_flags_are_checked_and_normalized() {
        assert!(check_string(
            "backend_flag",
            "backend_flag0",
            "ALWAYS_PRIMARY|DISALLOW_TO_FAILOVER"
        )
        .is_ok());
        let e = check_string("backend_flag", "backend_flag0", "FOO").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid configuration for key \"backend_flag0\""
        );
        assert_eq!(e.detail(), Some("unknown backend flag:FOO"));
        let e = check_string(
            "backend_flag",
            "backend_flag0",
            "ALLOW_TO_FAILOVER|DISALLOW_TO_FAILOVER",
        )
        .unwrap_err();
        assert_eq!(
            e.detail(),
            Some("cannot set ALLOW_TO_FAILOVER and DISALLOW_TO_FAILOVER at the same time")
        );
        assert_eq!(
            normalize_flag("ALWAYS_PRIMARY"),
            "ALLOW_TO_FAILOVER|ALWAYS_PRIMARY"
        );
        assert_eq!(
            normalize_flag("ALWAYS_PRIMARY|DISALLOW_TO_FAILOVER"),
            "DISALLOW_TO_FAILOVER|ALWAYS_PRIMARY"
        );
        let e = check_string("log_destination", "log_destination", "stderr,foo").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid configuration for \"log_destination\""
        );
        assert_eq!(e.detail(), Some("unknown destination :foo"));
    }
}
