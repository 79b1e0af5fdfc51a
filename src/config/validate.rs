//! Checks and derived values after the lines are applied (spec/config.md §5): per-value checks of
//! `backend_flagN`, `log_destination` and the redirect preference lists, the reload rules for
//! backend slots (§5.2), and the post-processing of §5.1 (backend slots, `/tmp` for empty host
//! names, pgpool_node_id, watchdog and heartbeat consistency, recovery data directories, quorum
//! vs replication_mode, dynamic spare-children limits).

use super::error::{ConfigError, Diag, Level};
use super::params::MAX_BACKENDS;
use super::{BackendConf, Config, Mode, Value};

const FLAG_ALLOW: &str = "ALLOW_TO_FAILOVER";
const FLAG_DISALLOW: &str = "DISALLOW_TO_FAILOVER";
const FLAG_PRIMARY: &str = "ALWAYS_PRIMARY";

/// Value checks pgpool makes on some string parameters while applying them. As in pgpool-II
/// 4.3.5, the words of `backend_flagN` and `log_destination` are split like `strtok` does (empty
/// words vanish) but neither trimmed nor case-folded: `'stderr, syslog'` is refused.
pub fn check_string(base: &str, key: &str, text: &str) -> Result<(), ConfigError> {
    match base {
        "backend_flag" => {
            let invalid = |detail: String| {
                ConfigError::invalid(format!("invalid configuration for key \"{key}\""))
                    .with_detail(Some(detail))
            };
            let (mut allow, mut disallow) = (false, false);
            for word in text.split('|').filter(|w| !w.is_empty()) {
                match word {
                    FLAG_ALLOW | FLAG_DISALLOW => {
                        if (word == FLAG_ALLOW && disallow) || (word == FLAG_DISALLOW && allow) {
                            return Err(invalid(format!(
                                "cannot set {FLAG_ALLOW} and {FLAG_DISALLOW} at the same time"
                            )));
                        }
                        allow |= word == FLAG_ALLOW;
                        disallow |= word == FLAG_DISALLOW;
                    }
                    FLAG_PRIMARY => {}
                    other => return Err(invalid(format!("unknown backend flag:{other}"))),
                }
            }
            Ok(())
        }
        "log_destination" => {
            if text.is_empty() {
                return Err(ConfigError::invalid(format!(
                    "invalid value \"{text}\" for log_destination"
                )));
            }
            for word in text.split(',').filter(|w| !w.is_empty()) {
                if word != "stderr" && word != "syslog" {
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

/// The redirect preference lists pgpool-II checks when it applies them; `None` for any other
/// parameter. The second word names the pattern in the error ("wrong redirect dbname regular
/// expression").
fn redirect_list_subject(name: &str) -> Option<&'static str> {
    match name {
        "database_redirect_preference_list" => Some("dbname"),
        "app_name_redirect_preference_list" => Some("app name"),
        // Not in 4.3.5; the wording follows the other two (4.4+ wording unverified).
        "user_redirect_preference_list" => Some("user name"),
        _ => None,
    }
}

/// Whether a redirect node spec is one pgpool accepts: `primary` or `standby` in any case, or
/// a decimal node id below 128 (no sign, no blanks).
fn redirect_node_spec_ok(spec: &str) -> bool {
    spec.eq_ignore_ascii_case("primary")
        || spec.eq_ignore_ascii_case("standby")
        || (!spec.is_empty()
            && spec.bytes().all(|b| b.is_ascii_digit())
            && spec
                .parse::<u64>()
                .is_ok_and(|n| n < u64::from(MAX_BACKENDS)))
}

/// Whether an extended regular expression has a repetition (`*`, `+`, `?`, `{n}`) with nothing
/// before it to repeat: at the start, or after `^`, `(` or `|`. POSIX `regcomp` refuses that
/// (pgpool-II 4.3.5 refuses `'*:primary'`); the `regex` crate accepts it after an anchor.
fn repeats_nothing(re: &str) -> bool {
    let b = re.as_bytes();
    let mut after_opening = true;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                i += 2;
                after_opening = false;
                continue;
            }
            b'[' => {
                // skip the bracket expression: a leading `^` and `]`, and `[:…:]`-style classes
                i += 1;
                if b.get(i) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i) == Some(&b']') {
                    i += 1;
                }
                while i < b.len() && b[i] != b']' {
                    if b[i] == b'[' && matches!(b.get(i + 1), Some(b':' | b'.' | b'=')) {
                        let close = b[i + 1];
                        i += 2;
                        while i + 1 < b.len() && !(b[i] == close && b[i + 1] == b']') {
                            i += 1;
                        }
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                i += 1;
                after_opening = false;
                continue;
            }
            b'*' | b'+' | b'?' if after_opening => return true,
            b'{' if after_opening && b.get(i + 1).is_some_and(u8::is_ascii_digit) => return true,
            c => after_opening = matches!(c, b'^' | b'(' | b'|'),
        }
        i += 1;
    }
    false
}

/// The check pgpool-II 4.3.5 makes when it applies `database_redirect_preference_list`,
/// `app_name_redirect_preference_list` (and, in later versions,
/// `user_redirect_preference_list`): each comma-separated entry (empty ones vanish; nothing is
/// trimmed) that has a `:` is split at its first `:`; the node spec (what follows, up to a
/// `(`) must be `primary`, `standby` or a node id, and the name before it must be a non-empty
/// regular expression that compiles (anchored and case-insensitive, as the router compiles
/// it). An entry without `:` is accepted as it is. Other parameters pass.
pub fn check_redirect_list(
    name: &str,
    text: &str,
    diags: &mut Vec<Diag>,
) -> Result<(), ConfigError> {
    let Some(subject) = redirect_list_subject(name) else {
        return Ok(());
    };
    let invalid = |detail: String| {
        ConfigError::invalid(format!("invalid configuration for key \"{name}\""))
            .with_detail(Some(detail))
    };
    for entry in text.split(',').filter(|e| !e.is_empty()) {
        let Some((pattern, rest)) = entry.split_once(':') else {
            continue;
        };
        let spec = rest.split('(').next().unwrap_or("");
        if !redirect_node_spec_ok(spec) {
            return Err(invalid(format!("wrong redirect db node spec: \"{spec}\"")));
        }
        let wrong_pattern = || {
            invalid(format!(
                "wrong redirect {subject} regular expression: \"{pattern}\""
            ))
        };
        if pattern.is_empty() {
            return Err(wrong_pattern());
        }
        let mut anchored = String::with_capacity(pattern.len() + 2);
        if !pattern.starts_with('^') {
            anchored.push('^');
        }
        anchored.push_str(pattern);
        if !pattern.ends_with('$') {
            anchored.push('$');
        }
        let compiled = regex::RegexBuilder::new(&anchored)
            .case_insensitive(true)
            .dot_matches_new_line(true)
            .build();
        if compiled.is_err() || repeats_nothing(&anchored) {
            diags.push(Diag::new(
                Level::Warning,
                format!(
                    "failed to add regex pattern, invalid regex pattern: \"{pattern}\" ({anchored})"
                ),
            ));
            return Err(wrong_pattern());
        }
    }
    Ok(())
}

/// `backend_flagN` as PGPOOL SHOW prints it: the failover flag, then `|ALWAYS_PRIMARY`.
pub fn normalize_flag(flag: &str) -> String {
    let words: Vec<&str> = flag.split('|').collect();
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

/// Reload rule for one backend-slot value (§5.2). `old` is the configuration before this
/// reload, `current` the slot's value so far in this reload, `node_down(slot)` whether the node
/// is down. Returns the value to store, or `None` to keep the current one (pgpool refuses
/// silently).
pub fn backend_reload_rule(
    old: &Config,
    base: &str,
    slot: usize,
    current: &Value,
    new: Value,
    node_down: &dyn Fn(usize) -> bool,
    diags: &mut Vec<Diag>,
) -> Option<Value> {
    match base {
        // only while adding a node: the slot was unused before this reload
        "backend_hostname" | "backend_port" => (!slot_in_use(old, slot)).then_some(new),
        // also for a node that is down (one being recovered may move)
        "backend_data_directory" => (!slot_in_use(old, slot) || node_down(slot)).then_some(new),
        "backend_weight" => {
            if let (Value::Real(old), Value::Real(n)) = (current, &new) {
                if old != n {
                    diags.push(
                        Diag::new(
                            Level::Log,
                            format!(
                                "initializing pool configuration: backend weight for \
                                 backend:{slot} changed from {old:.6} to {n:.6}"
                            ),
                        )
                        .with_detail("This change will be effective from next client session"),
                    );
                }
            }
            Some(new)
        }
        "backend_flag" => {
            // ALWAYS_PRIMARY is only ever added by a reload, never cleared (pgpool quirk).
            match (current, new) {
                (Value::Text(Some(old)), Value::Text(Some(n)))
                    if old.split('|').any(|w| w == FLAG_PRIMARY)
                        && !n.split('|').any(|w| w == FLAG_PRIMARY) =>
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

/// Read the `pgpool_node_id` file next to pgpool.conf (spec/config.md §7.8): its first line,
/// at most 8 bytes of it, as pgpool-II 4.3.5 reads it.
pub fn read_node_id(cfg: &Config) -> Result<i32, ConfigError> {
    let path = cfg.dir().join("pgpool_node_id");
    let Ok(bytes) = std::fs::read(&path) else {
        return Err(ConfigError::invalid(format!(
            "Pgpool node id file {} does not exist",
            path.display()
        ))
        .with_detail(Some(
            "If watchdog is enable, pgpool_node_id file is required".into(),
        )));
    };
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let first = &first[..first.len().min(8)];
    if first.is_empty() {
        return Err(
            ConfigError::invalid("pgpool_node_id file is empty").with_detail(Some(format!(
                "If watchdog is enable, we need to specify pgpool node id in {} file",
                path.display()
            ))),
        );
    }
    if !first.iter().all(u8::is_ascii_digit) {
        return Err(
            ConfigError::invalid("pgpool_node_id is not a numeric value").with_detail(Some(
                format!("Please specify a numeric value in {} file", path.display()),
            )),
        );
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
                    "no watchdog configuration for local pgpool node, pgpool node id: {id} "
                ))),
            );
        }
    }
    // 5. Heartbeat destinations need a host name: whatever use_watchdog says (pgpool-II 4.3.5
    // refuses its own sample file with every line uncommented), every heartbeat slot with a
    // port but the local node's (0 without the watchdog) needs a non-empty heartbeat_hostnameN.
    if cfg.get_enum("wd_lifecheck_method") == "heartbeat" {
        let local = cfg.pgpool_node_id().unwrap_or(0) as usize;
        for n in 0..super::params::MAX_WD_IF as usize {
            if n != local
                && int(cfg.value_at("heartbeat_port", n)) > 0
                && text(cfg.value_at("heartbeat_hostname", n)).is_empty()
            {
                return Err(ConfigError::invalid("invalid watchdog configuration")
                    .with_detail(Some(format!("heartbeat_hostname{n} is not defined"))));
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
