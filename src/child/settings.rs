//! The configuration values a child consults while serving clients, read from `Config` once at
//! start and after each reload, so the hot path never looks a parameter up by name.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::config::Config;

#[derive(Debug, Clone)]
pub struct ChildSettings {
    pub num_init_children: i32,
    pub reserved_connections: i32,
    pub child_life_time: i64,
    pub child_max_connections: i64,
    pub connection_life_time: i64,
    pub client_idle_limit: i64,
    pub connection_cache: bool,
    pub serialize_accept: bool,
    pub authentication_timeout: i64,
    pub reset_query_list: Vec<String>,
    pub log_connections: bool,
    pub log_disconnections: bool,
    pub log_statement: bool,
    pub log_per_node_statement: bool,
    pub log_client_messages: bool,
    pub notice_per_node_statement: bool,
    pub log_backend_messages: String,
    pub client_min_messages: crate::logger::Severity,
    pub log_hostname: bool,
    pub allow_clear_text_frontend_auth: bool,
    pub failover_on_backend_error: bool,
    /// `backend_clustering_mode = raw`: sessions use the main node only.
    pub raw_mode: bool,
    pub connect_timeout_ms: u64,
    pub pool_passwd: Option<PathBuf>,
    pub enable_pool_hba: bool,
    pub ssl: bool,
    /// `child_scheduling_policy = batch`.
    pub sched_batch: bool,
}

impl ChildSettings {
    pub fn from_config(cfg: &Config) -> ChildSettings {
        let pp = cfg.get_str("pool_passwd");
        ChildSettings {
            num_init_children: cfg.get_int("num_init_children") as i32,
            reserved_connections: cfg.get_int("reserved_connections") as i32,
            child_life_time: cfg.get_int("child_life_time"),
            child_max_connections: cfg.get_int("child_max_connections"),
            connection_life_time: cfg.get_int("connection_life_time"),
            client_idle_limit: cfg.get_int("client_idle_limit"),
            connection_cache: cfg.get_bool("connection_cache"),
            serialize_accept: cfg.get_bool("serialize_accept"),
            authentication_timeout: cfg.get_int("authentication_timeout"),
            // split as pgpool splits it, white space kept: `ABORT; DISCARD ALL` sends and logs
            // " DISCARD ALL"
            reset_query_list: cfg
                .get_str("reset_query_list")
                .split(';')
                .filter(|q| !q.trim().is_empty())
                .map(str::to_owned)
                .collect(),
            log_connections: cfg.get_bool("log_connections"),
            log_disconnections: cfg.get_bool("log_disconnections"),
            log_statement: cfg.get_bool("log_statement"),
            log_per_node_statement: cfg.get_bool("log_per_node_statement"),
            log_client_messages: cfg.get_bool("log_client_messages"),
            notice_per_node_statement: cfg.get_bool("notice_per_node_statement"),
            log_backend_messages: cfg.get_enum("log_backend_messages").to_owned(),
            client_min_messages: crate::session::logging::client_min_messages(cfg),
            log_hostname: cfg.get_bool("log_hostname"),
            allow_clear_text_frontend_auth: cfg.get_bool("allow_clear_text_frontend_auth"),
            failover_on_backend_error: cfg.get_bool("failover_on_backend_error"),
            raw_mode: cfg.get_enum("backend_clustering_mode") == "raw",
            connect_timeout_ms: cfg.get_int("connect_timeout").max(0) as u64,
            pool_passwd: (!pp.is_empty()).then(|| cfg.resolve(pp)),
            enable_pool_hba: cfg.get_bool("enable_pool_hba"),
            ssl: cfg.get_bool("ssl"),
            sched_batch: cfg.get_enum("child_scheduling_policy") == "batch",
        }
    }
}

static POOL_KEY: OnceLock<Option<String>> = OnceLock::new();

/// Remember the pool key (for `AES` pool_passwd entries); the main process calls this once at
/// start-up, before forking, so every child inherits it.
pub fn set_pool_key(key: Option<String>) {
    let _ = POOL_KEY.set(key);
}

/// The pool key read at start-up, if any.
pub fn pool_key() -> Option<&'static str> {
    POOL_KEY.get().and_then(|k| k.as_deref())
}
