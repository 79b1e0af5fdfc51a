//! How configuration values are displayed: `PGPOOL SHOW <name>`, `PGPOOL SHOW <group>`,
//! `PGPOOL SHOW ALL` (spec/sql-commands.md §3) and the rows of `SHOW pool_status` /
//! `pcp_pool_status` (§2.4). Formatting rules differ between the two and live here only.

use super::lookup::{self, Target};
use super::params::{Kind, Param, Unit, ALIAS, FREE_DEFAULT, PARAMS, SECRET};
use super::validate::normalize_flag;
use super::{value, Config, Value};

/// One row of a three-column (`item`, `value`, `description`) result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowRow {
    pub item: String,
    pub value: String,
    pub description: String,
}

impl ShowRow {
    fn new(
        item: impl Into<String>,
        value: impl Into<String>,
        description: impl Into<String>,
    ) -> ShowRow {
        ShowRow {
            item: item.into(),
            value: value.into(),
            description: description.into(),
        }
    }
}

/// Run-time values `SHOW pool_status` prints besides the configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolStatusRuntime {
    /// `ctime()` format without newline, e.g. `Tue Nov 24 00:28:06 2026`.
    pub memqcache_stats_start_time: String,
    pub memqcache_no_cache_hits: u64,
    pub memqcache_cache_hits: u64,
    /// Per used backend slot: `up`, `down`, `waiting`, `unused`, `quarantine` (default `waiting`).
    pub backend_status: Vec<String>,
    /// Per backend slot: standby delay (bytes or µs).
    pub standby_delay: Vec<u64>,
}

/// Format a value the PGPOOL SHOW way. `indexed` = an indexed or index-free row (plain numbers).
fn format_show(p: &Param, v: &Value, indexed: bool) -> String {
    if p.has(SECRET) {
        return "*****".into();
    }
    match (p.kind, v) {
        (_, Value::Bool(b)) => if *b { "on" } else { "off" }.into(),
        (Kind::Int { unit, .. }, Value::Int(i)) => {
            if p.name == "unix_socket_permissions" {
                format!("{i:04o}")
            } else if indexed || unit == Unit::None {
                i.to_string()
            } else {
                value::display_with_unit(*i, unit)
            }
        }
        (_, Value::Int(i)) => i.to_string(),
        (_, Value::Real(r)) => (r.trunc() as i64).to_string(),
        (Kind::Enum { values, .. }, Value::Enum(c)) => value::enum_name(values, *c).into(),
        (_, Value::Enum(c)) => c.to_string(),
        (_, Value::Text(s)) => {
            let s = s.as_deref().unwrap_or("");
            if p.name == "backend_flag" {
                normalize_flag(s)
            } else {
                s.to_owned()
            }
        }
    }
}

pub fn show_one(cfg: &Config, name: &str) -> Option<String> {
    match lookup::resolve(name).ok()?? {
        Target::Scalar(i) => Some(format_show(&PARAMS[i], &cfg.values[i], false)),
        Target::Indexed(i, Some(s)) => Some(format_show(&PARAMS[i], &cfg.slots[i][s], true)),
        Target::Indexed(_, None) => None,
    }
}

/// Does slot `n` of the family `p` exist for display purposes (spec/config.md §3.8)?
fn slot_exists(cfg: &Config, p: &Param, n: usize) -> bool {
    let port = |base: &str| matches!(cfg.value_at(base, n), Value::Int(v) if *v != 0);
    if p.name.starts_with("heartbeat_") {
        port("heartbeat_port")
    } else if matches!(p.name, "hostname" | "wd_port" | "pgpool_port") {
        port("pgpool_port")
    } else {
        port("backend_port")
    }
}

const GROUPS: &[(&str, &[&str])] = &[
    (
        "backend",
        &[
            "backend_hostname",
            "backend_port",
            "backend_weight",
            "backend_data_directory",
            "backend_application_name",
            "backend_flag",
        ],
    ),
    ("watchdog", &["hostname", "pgpool_port", "wd_port"]),
    (
        "heartbeat",
        &["heartbeat_device", "heartbeat_hostname", "heartbeat_port"],
    ),
    (
        "health_check",
        &[
            "health_check_period",
            "health_check_timeout",
            "health_check_user",
            "health_check_password",
            "health_check_database",
            "health_check_max_retries",
            "health_check_retry_delay",
            "connect_timeout",
        ],
    ),
];

fn family_rows(cfg: &Config, members: &[&str], out: &mut Vec<ShowRow>) {
    let idx: Vec<usize> = members
        .iter()
        .filter_map(|m| lookup::param_index(m))
        .collect();
    for &i in &idx {
        let p = &PARAMS[i];
        if p.has(FREE_DEFAULT) {
            out.push(ShowRow::new(
                p.name,
                format_show(p, &cfg.values[i], true),
                p.show_desc,
            ));
        }
    }
    let Some(&first) = idx.first() else { return };
    for n in 0..PARAMS[first].array as usize {
        if !slot_exists(cfg, &PARAMS[first], n) {
            continue;
        }
        for &i in &idx {
            let p = &PARAMS[i];
            out.push(ShowRow::new(
                format!("{}{n}", p.name),
                format_show(p, &cfg.slots[i][n], true),
                p.show_desc,
            ));
        }
    }
}

pub fn show_rows(cfg: &Config, name: &str) -> Option<Vec<ShowRow>> {
    let mut out = Vec::new();
    if let Some((_, members)) = GROUPS.iter().find(|(g, _)| *g == name) {
        family_rows(cfg, members, &mut out);
        return Some(out);
    }
    let i = lookup::param_index(name)?;
    if !PARAMS[i].is_indexed() {
        return None;
    }
    family_rows(cfg, &[PARAMS[i].name], &mut out);
    Some(out)
}

pub fn show_all(cfg: &Config) -> Vec<ShowRow> {
    let mut out = Vec::new();
    for (_, members) in GROUPS {
        family_rows(cfg, members, &mut out);
    }
    for name in SHOW_ALL_ORDER {
        if let Some(i) = lookup::param_index(name) {
            let p = &PARAMS[i];
            if !p.has(ALIAS) {
                out.push(ShowRow::new(
                    p.name,
                    format_show(p, &cfg.values[i], false),
                    p.show_desc,
                ));
            }
        }
    }
    out
}

/// Format a value the `SHOW pool_status` way: bools 1/0, enums as codes, ints bare.
fn format_status(p: &Param, v: &Value) -> String {
    match (p.kind, v) {
        (_, Value::Bool(b)) => u8::from(*b).to_string(),
        (_, Value::Int(i)) if p.name == "unix_socket_permissions" => format!("{i:04o}"),
        (_, Value::Int(i)) => i.to_string(),
        (_, Value::Real(r)) => format!("{r:.6}"),
        (_, Value::Enum(c)) if p.name == "syslog_facility" => format!("LOCAL{c}"),
        (_, Value::Enum(c)) => c.to_string(),
        (
            Kind::List {
                sep: ';',
                regex: true,
                ..
            },
            Value::Text(s),
        ) => value::split_escaped_semicolons(s.as_deref().unwrap_or("")).join(";"),
        (Kind::List { sep, .. }, Value::Text(s)) => {
            value::split_list(s.as_deref().unwrap_or(""), sep).join(&sep.to_string())
        }
        (_, Value::Text(s)) => s.clone().unwrap_or_default(),
    }
}

fn watchdog_rows(cfg: &Config, out: &mut Vec<ShowRow>) {
    let local = cfg.pgpool_node_id().map(|i| i as usize);
    let get = |base: &str, n: usize| {
        lookup::param_index(base).map_or(String::new(), |i| {
            format_status(&PARAMS[i], &cfg.slots[i][n])
        })
    };
    for n in 0..super::params::MAX_WD_NODES as usize {
        if !matches!(cfg.value_at("pgpool_port", n), Value::Int(v) if *v != 0) {
            continue;
        }
        let (h, p, w) = if local == Some(n) {
            (
                "hostname or IP address of local pgpool node".to_owned(),
                "local pgpool port number".to_owned(),
                "local watchdog port number".to_owned(),
            )
        } else {
            (
                format!("hostname or IP address of pgpool node #{n}"),
                format!("pgpool port number of pgpool node #{n}"),
                format!("watchdog port number of pgpool node #{n}"),
            )
        };
        out.push(ShowRow::new(format!("hostname{n}"), get("hostname", n), h));
        out.push(ShowRow::new(
            format!("pgpool_port{n}"),
            get("pgpool_port", n),
            p,
        ));
        out.push(ShowRow::new(format!("wd_port{n}"), get("wd_port", n), w));
    }
    for n in 0..super::params::MAX_WD_NODES as usize {
        if !matches!(cfg.value_at("heartbeat_port", n), Value::Int(v) if *v != 0) {
            continue;
        }
        let (h, d, p) = if local == Some(n) {
            (
                "IP address or hostname for receiving heartbeat".to_owned(),
                "name of NIC device for receiving hearbeat".to_owned(),
                "port number for receiving heartbeat".to_owned(),
            )
        } else {
            (
                format!(
                    "destination IP address or hostname for sending heartbeat to pgpool node #{n}"
                ),
                format!("name of NIC device for sending hearbeat to pgpool node #{n}"),
                format!("destination port for sending heartbeat to pgpool node #{n}"),
            )
        };
        out.push(ShowRow::new(
            format!("heartbeat_hostname{n}"),
            get("heartbeat_hostname", n),
            h,
        ));
        out.push(ShowRow::new(
            format!("heartbeat_device{n}"),
            get("heartbeat_device", n),
            d,
        ));
        out.push(ShowRow::new(
            format!("heartbeat_port{n}"),
            get("heartbeat_port", n),
            p,
        ));
    }
}

pub fn pool_status_rows(cfg: &Config, rt: &PoolStatusRuntime) -> Vec<ShowRow> {
    let mut out = Vec::new();
    for (item, desc) in POOL_STATUS_ROWS {
        let value = match *item {
            "memqcache_stats_start_time" => rt.memqcache_stats_start_time.clone(),
            "memqcache_no_cache_hits" => rt.memqcache_no_cache_hits.to_string(),
            "memqcache_cache_hits" => rt.memqcache_cache_hits.to_string(),
            name => {
                let name = if name == "memqcache_cache_oiddir" {
                    "memqcache_oiddir"
                } else {
                    name
                };
                match lookup::param_index(name) {
                    Some(i) => format_status(&PARAMS[i], &cfg.values[i]),
                    None => String::new(),
                }
            }
        };
        out.push(ShowRow::new(*item, value, *desc));
        if *item == "wd_lifecheck_user" {
            watchdog_rows(cfg, &mut out);
        }
    }
    for (j, b) in cfg.backends().iter().enumerate() {
        if !b.in_use() {
            continue;
        }
        let status = rt.backend_status.get(j).map_or("waiting", String::as_str);
        let delay = rt.standby_delay.get(j).copied().unwrap_or(0);
        out.push(ShowRow::new(
            format!("backend_hostname{j}"),
            &b.hostname,
            format!("backend #{j} hostname"),
        ));
        out.push(ShowRow::new(
            format!("backend_port{j}"),
            b.port.to_string(),
            format!("backend #{j} port number"),
        ));
        out.push(ShowRow::new(
            format!("backend_weight{j}"),
            format!("{:.6}", cfg.normalized_weight(j)),
            format!("weight of backend #{j}"),
        ));
        out.push(ShowRow::new(
            format!("backend_data_directory{j}"),
            &b.data_directory,
            format!("data directory for backend #{j}"),
        ));
        out.push(ShowRow::new(
            format!("backend_status{j}"),
            status,
            format!("status of backend #{j}"),
        ));
        out.push(ShowRow::new(
            format!("standby_delay{j}"),
            delay.to_string(),
            format!("standby delay of backend #{j}"),
        ));
        out.push(ShowRow::new(
            format!("backend_flag{j}"),
            &b.flag,
            format!("backend #{j} flag"),
        ));
        out.push(ShowRow::new(
            format!("backend_application_name{j}"),
            &b.application_name,
            format!("application_name for backend #{j}"),
        ));
    }
    out
}

/// `SHOW pool_status` rows in pgpool 4.6 order: (item, description). Watchdog and heartbeat
/// rows go after `wd_lifecheck_user`; backend rows at the end.
#[rustfmt::skip]
pub const POOL_STATUS_ROWS: &[(&str, &str)] = &[
    ("backend_clustering_mode", "clustering mode"),
    ("listen_addresses", "host name(s) or IP address(es) to listen on"),
    ("port", "pgpool accepting port number"),
    ("unix_socket_directories", "pgpool socket directories"),
    ("unix_socket_group", "owning user of the unix sockets"),
    ("unix_socket_permissions", "access permissions of the unix sockets."),
    ("pcp_listen_addresses", "host name(s) or IP address(es) for pcp process to listen on"),
    ("pcp_port", "PCP port # to bind"),
    ("pcp_socket_dir", "PCP socket directory"),
    ("enable_pool_hba", "if true, use pool_hba.conf for client authentication"),
    ("pool_passwd", "file name of pool_passwd for md5 authentication"),
    ("authentication_timeout", "maximum time in seconds to complete client authentication"),
    ("allow_clear_text_frontend_auth", "allow to use clear text password auth when pool_passwd does not contain passwor"),
    ("ssl", "SSL support"),
    ("ssl_key", "SSL private key file"),
    ("ssl_cert", "SSL public certificate file"),
    ("ssl_ca_cert", "single PEM format file containing CA root certificate(s)"),
    ("ssl_ca_cert_dir", "directory containing CA root certificate(s)"),
    ("ssl_crl_file", "SSL certificate revocation list file"),
    ("ssl_ciphers", "allowed SSL ciphers"),
    ("ssl_prefer_server_ciphers", "Use server's SSL cipher preferences"),
    ("ssl_ecdh_curve", "the curve to use in ECDH key exchange"),
    ("ssl_dh_params_file", "path to the Diffie-Hellman parameters contained file"),
    ("ssl_passphrase_command", "external command to be invoked when a passphrase for decrypting an SSL file suc"),
    ("listen_backlog_multiplier", "determines the size of the queue for pending connections"),
    ("serialize_accept", "whether to serialize accept() call"),
    ("reserved_connections", "number of reserved connections"),
    ("max_pool", "max # of connection pool per child"),
    ("process_management_mode", "process management mode"),
    ("process_management_strategy", "process management strategy"),
    ("num_init_children", "# of children initially pre-forked"),
    ("min_spare_children", "min # of spare children waitting for connection"),
    ("max_spare_children", "max # of spare children waitting for connection"),
    ("child_life_time", "if idle for this seconds, child exits"),
    ("child_max_connections", "if max_connections received, child exits"),
    ("connection_life_time", "if idle for this seconds, connection closes"),
    ("client_idle_limit", "if idle for this seconds, child connection closes"),
    ("log_destination", "logging destination"),
    ("log_line_prefix", "printf-style string to output at beginning of each log line"),
    ("log_error_verbosity", "controls how much detail about error should be emitted"),
    ("client_min_messages", "controls which message should be sent to client"),
    ("log_min_messages", "controls which message should be emitted to server log"),
    ("log_connections", "if true, print incoming connections to the log"),
    ("log_disconnections", "if true, print closing connections to the log"),
    ("log_pcp_processes", "if true, print PCP process forks and a normal exit status to the log"),
    ("log_hostname", "if true, resolve hostname for ps and log print"),
    ("log_statement", "if non 0, logs all SQL statements"),
    ("log_per_node_statement", "if non 0, logs all SQL statements on each node"),
    ("notice_per_node_statement", "if non 0, logs all SQL statements on each node as notice message"),
    ("log_client_messages", "if non 0, logs any client messages"),
    ("log_backend_messages", "if non 0, logs any backend messages"),
    ("log_standby_delay", "how to log standby delay"),
    ("syslog_facility", "syslog local facility"),
    ("syslog_ident", "syslog program ident string"),
    ("pid_file_name", "path to pid file"),
    ("logdir", "PgPool status file logging directory"),
    ("connection_cache", "if true, cache connection pool"),
    ("reset_query_list", "queries issued at the end of session"),
    ("replicate_select", "non 0 if SELECT statement is replicated"),
    ("insert_lock", "insert lock"),
    ("lobj_lock_table", "table name used for large object replication control"),
    ("replication_stop_on_mismatch", "stop replication mode on fatal error"),
    ("failover_if_affected_tuples_mismatch", "failover if affected tuples are mismatch"),
    ("load_balance_mode", "non 0 if operating in load balancing mode"),
    ("ignore_leading_white_space", "ignore leading white spaces"),
    ("read_only_function_list", "functions those do not write to database"),
    ("write_function_list", "functions those write to database"),
    ("primary_routing_query_pattern_list", "query patterns that should be sent to primary node"),
    ("disable_load_balance_on_write", "Load balance behavior when write query is received"),
    ("dml_adaptive_object_relationship_list", "list of relationships between objects"),
    ("statement_level_load_balance", "statement level load balancing"),
    ("sr_check_period", "sr check period"),
    ("sr_check_user", "sr check user"),
    ("sr_check_database", "sr check database"),
    ("delay_threshold", "standby delay threshold"),
    ("delay_threshold_by_time", "standby delay threshold by time"),
    ("prefer_lower_delay_standby", "load balancing considering streaming delay"),
    ("follow_primary_command", "follow primary command"),
    ("user_redirect_preference_list", "redirect by user name"),
    ("database_redirect_preference_list", "redirect by database name"),
    ("app_name_redirect_preference_list", "redirect by application name"),
    ("allow_sql_comments", "allow SQL comments"),
    ("health_check_period", "health check period"),
    ("health_check_timeout", "health check timeout"),
    ("health_check_user", "health check user"),
    ("health_check_database", "health check database"),
    ("health_check_max_retries", "health check max retries"),
    ("health_check_retry_delay", "health check retry delay"),
    ("connect_timeout", "connect timeout"),
    ("failover_command", "failover command"),
    ("failback_command", "failback command"),
    ("failover_on_backend_error", "failover on backend error"),
    ("failover_on_backend_shutdown", "failover on backend shutdown"),
    ("detach_false_primary", "detach false primary"),
    ("auto_failback", "auto_failback"),
    ("auto_failback_interval", "auto_failback_interval"),
    ("recovery_user", "online recovery user"),
    ("recovery_1st_stage_command", "execute a command in first stage."),
    ("recovery_2nd_stage_command", "execute a command in second stage."),
    ("recovery_timeout", "max time in seconds to wait for the recovering node's postmaster"),
    ("search_primary_node_timeout", "max time in seconds to search for primary node after failover"),
    ("client_idle_limit_in_recovery", "if idle for this seconds, child connection closes in recovery 2nd stage"),
    ("relcache_expire", "relation cache expiration time in seconds"),
    ("relcache_size", "number of relation cache entry"),
    ("check_temp_table", "enable temporary table check"),
    ("check_unlogged_table", "enable unlogged table check"),
    ("enable_shared_relcache", "If true, relation cache stored in memory cache"),
    ("relcache_query_target", "Target node to send relcache queries"),
    ("use_watchdog", "non 0 if operating in use_watchdog"),
    ("wd_ipc_socket_dir", "watchdog ipc socket directory"),
    ("wd_lifecheck_method", "method of watchdog lifecheck"),
    ("clear_memqcache_on_escalation", "If true, clear all the query caches in shared memory when escalation occurs"),
    ("wd_escalation_command", "command executed when escalation occurs"),
    ("wd_de_escalation_command", "command executed when leader pgpool resigns occurs"),
    ("trusted_servers", "upper server list to observe connection"),
    ("trusted_server_command", "command executed when upper servers are observed"),
    ("delegate_ip", "delegate IP address of leader pgpool"),
    ("wd_priority", "watchdog priority"),
    ("wd_interval", "life check interval (second)"),
    ("ping_path", "path to ping command"),
    ("if_cmd_path", "path to interface up/down command"),
    ("if_up_cmd", "virtual interface up command with full parameters"),
    ("if_down_cmd", "virtual interface down command with full parameters"),
    ("arping_path", "path to arping command"),
    ("arping_cmd", "send ARP REQUEST to neighbour host"),
    ("wd_heartbeat_keepalive", "interval time of sending heartbeat signal (sec)"),
    ("wd_heartbeat_deadtime", "deadtime interval for heartbeat signal (sec)"),
    ("wd_life_point", "retry times of life check"),
    ("wd_lifecheck_query", "lifecheck query to pgpool from watchdog"),
    ("wd_lifecheck_dbname", "database name connected for lifecheck"),
    ("wd_lifecheck_user", "watchdog user monitoring pgpools in lifecheck"),
    ("wd_monitoring_interfaces_list", "interfaces to monitor by watchdog"),
    ("memory_cache_enabled", "If true, use the memory cache functionality, false by default"),
    ("memqcache_method", "Cache store method. either shmem(shared memory) or Memcached. shmem by default"),
    ("memqcache_memcached_host", "Memcached host name. Mandatory if memqcache_method=memcached"),
    ("memqcache_memcached_port", "Memcached port number. Mandatory if memqcache_method=memcached"),
    ("memqcache_total_size", "Total memory size in bytes for storing memory cache. Mandatory if memqcache_met"),
    ("memqcache_max_num_cache", "Total number of cache entries"),
    ("memqcache_expire", "Memory cache entry life time specified in seconds. 60 by default"),
    ("memqcache_auto_cache_invalidation", "If true, invalidation of query cache is triggered by corresponding DDL/DML/DCL("),
    ("memqcache_maxcache", "Maximum SELECT result size in bytes"),
    ("memqcache_cache_block_size", "Cache block size in bytes. 8192 by default"),
    ("memqcache_cache_oiddir", "Temporary work directory to record table oids"),
    ("memqcache_stats_start_time", "Start time of query cache stats"),
    ("memqcache_no_cache_hits", "Number of SELECTs not hitting query cache"),
    ("memqcache_cache_hits", "Number of SELECTs hitting query cache"),
    ("cache_safe_memqcache_table_list", "tables to memqcache"),
    ("cache_unsafe_memqcache_table_list", "tables not to memqcache"),
];

/// Order of the non-group rows of `PGPOOL SHOW ALL` (spec/sql-commands.md §3.2).
#[rustfmt::skip]
pub const SHOW_ALL_ORDER: &[&str] = &[
    "allow_multiple_failover_requests_from_node", "dml_adaptive_object_relationship_list", "failover_if_affected_tuples_mismatch", "primary_routing_query_pattern_list",
    "app_name_redirect_preference_list", "memqcache_auto_cache_invalidation", "cache_unsafe_memqcache_table_list", "database_redirect_preference_list",
    "enable_consensus_with_half_votes", "wd_no_show_node_removal_timeout", "cache_safe_memqcache_table_list", "allow_clear_text_frontend_auth",
    "disable_load_balance_on_write", "client_idle_limit_in_recovery", "clear_memqcache_on_escalation", "user_redirect_preference_list",
    "wd_monitoring_interfaces_list", "failover_on_backend_shutdown", "wd_lost_node_removal_timeout", "replication_stop_on_mismatch",
    "statement_level_load_balance", "process_management_strategy", "failover_when_quorum_exists", "search_primary_node_timeout",
    "recovery_2nd_stage_command", "memqcache_cache_block_size", "prefer_lower_delay_standby", "failover_require_consensus",
    "ignore_leading_white_space", "recovery_1st_stage_command", "failover_on_backend_error", "ssl_prefer_server_ciphers",
    "listen_backlog_multiplier", "notice_per_node_statement", "memqcache_memcached_port", "log_truncate_on_rotation",
    "wd_de_escalation_command", "memqcache_memcached_host", "wd_remove_shutdown_nodes", "unix_socket_permissions",
    "backend_clustering_mode", "process_management_mode", "delay_threshold_by_time", "memqcache_max_num_cache",
    "unix_socket_directories", "read_only_function_list", "child_scheduling_policy",
    "trusted_server_command", "ssl_passphrase_command",
    "log_per_node_statement", "auto_failback_interval", "follow_primary_command", "wd_heartbeat_keepalive",
    "enable_shared_relcache", "authentication_timeout", "wd_heartbeat_deadtime", "wd_lifecheck_password",
    "wd_escalation_command", "child_max_connections", "relcache_query_target", "log_backend_messages",
    "reserved_connections", "memqcache_total_size", "pcp_listen_addresses", "detach_false_primary",
    "connection_life_time", "check_unlogged_table", "memory_cache_enabled", "write_function_list",
    "wd_lifecheck_dbname", "log_error_verbosity", "client_min_messages", "log_client_messages",
    "wd_lifecheck_method", "ssl_dh_params_file", "min_spare_children", "max_spare_children",
    "log_disconnections", "wd_lifecheck_query", "memqcache_maxcache", "allow_sql_comments",
    "log_rotation_size", "recovery_password", "log_pcp_processes", "health_check_test",
    "load_balance_mode", "client_idle_limit", "log_standby_delay", "num_init_children",
    "logging_collector", "unix_socket_group", "wd_lifecheck_user", "wd_ipc_socket_dir",
    "sr_check_password", "sr_check_database", "recovery_timeout", "failover_command",
    "log_min_messages", "replication_mode", "log_rotation_age", "connection_cache",
    "memqcache_method", "memqcache_oiddir", "serialize_accept", "check_temp_table",
    "reset_query_list", "listen_addresses", "memqcache_expire", "replicate_select",
    "failback_command", "trusted_servers", "sr_check_period", "delay_threshold",
    "syslog_facility", "relcache_expire", "log_connections", "log_destination",
    "ssl_ca_cert_dir", "log_line_prefix", "lobj_lock_table", "child_life_time",
    "enable_pool_hba", "ssl_ecdh_curve", "pcp_socket_dir", "pid_file_name",
    "recovery_user", "log_statement", "sr_check_user", "log_directory",
    "auto_failback", "relcache_size", "log_file_mode", "wd_life_point",
    "syslog_ident", "log_filename", "log_hostname", "ssl_crl_file",
    "use_watchdog", "pool_passwd", "ssl_ca_cert", "delegate_ip",
    "ssl_ciphers", "if_cmd_path", "if_down_cmd", "arping_path",
    "wd_priority", "wd_interval", "insert_lock", "wd_authkey",
    "arping_cmd", "if_up_cmd", "ping_path", "max_pool",
    "ssl_cert", "pcp_port", "ssl_key", "logdir",
    "port", "ssl",
];
