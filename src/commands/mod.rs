//! The SQL-level commands pgpool answers itself (spec/sql-commands.md): recognising them in a
//! simple query (`parse`), building the `SHOW pool_*` reports from shared memory (`show`),
//! `PGPOOL SHOW/SET/RESET` over the session's configuration (`pgpool_cmds`), and encoding the
//! reply bytes (`result`). The session loop calls `intercept` on every `Q` message and, on a
//! match, writes what `answer` returns to the client; nothing goes to a backend.

pub mod parse;
pub mod pgpool_cmds;
pub mod result;
pub mod show;

pub use parse::{intercept, Intercept, SetValue, ShowPool, Target};

use crate::config::Config;
use crate::shmem::Shmem;

/// What an intercepted command may read and change in the session that received it.
pub struct CommandContext<'a> {
    /// This session's copy of the configuration (PGPOOL SET changes it).
    pub cfg: &'a mut Config,
    pub sh: &'a Shmem,
    /// This child's index in shared memory's process table.
    pub child_slot: usize,
    /// The session's load-balance node, if one was chosen.
    pub load_balance_node: Option<usize>,
    /// The configuration as loaded at start-up (reset values, spec §4).
    pub startup_cfg: &'a Config,
}

/// The complete reply to `cmd` (result set or error, then ReadyForQuery `I`).
pub fn answer(cmd: &Intercept, ctx: &mut CommandContext) -> Vec<u8> {
    let env = Env {
        sh: ctx.sh,
        load_balance_node: ctx.load_balance_node,
    };
    answer_with(cmd, &mut *ctx.cfg, &env)
}

/// The shared-memory side of a command's context.
pub(crate) struct Env<'a> {
    pub sh: &'a Shmem,
    pub load_balance_node: Option<usize>,
}

/// `answer` over any configuration source (tests use a fake one).
pub(crate) fn answer_with(cmd: &Intercept, cfg: &mut dyn SessionConfig, env: &Env) -> Vec<u8> {
    match cmd {
        Intercept::Show(which) => show::report(*which, &*cfg, env),
        Intercept::PgpoolShow(target) => pgpool_cmds::show(target, &*cfg),
        Intercept::PgpoolSet { name, value } => pgpool_cmds::set(name, value, cfg),
        Intercept::PgpoolReset(target) => pgpool_cmds::reset(target, cfg),
    }
}

/// One `item | value | description` row.
pub type Row3 = (String, String, String);

/// A configuration error as the client sees it: message, optional detail and hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl CommandError {
    pub fn new(message: impl Into<String>) -> CommandError {
        CommandError {
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// The ErrorResponse + ReadyForQuery bytes.
    pub fn to_reply(&self) -> Vec<u8> {
        result::error(&self.message, self.detail.as_deref(), self.hint.as_deref())
    }
}

impl From<crate::config::ConfigError> for CommandError {
    fn from(e: crate::config::ConfigError) -> CommandError {
        CommandError {
            message: e.to_string(),
            detail: e.detail().map(str::to_owned),
            hint: e.hint().map(str::to_owned),
        }
    }
}

/// What these commands read from and change in a session's configuration. `Config` implements
/// it over the config module's contract; keeping the commands behind this seam lets them be
/// tested without a loaded pgpool.conf.
pub trait SessionConfig {
    /// The value as `PGPOOL SHOW <name>` prints it (scalar or indexed name with index);
    /// `None` if `name` is not such a parameter.
    fn show(&self, name: &str) -> Option<String>;
    /// For a group name (`backend`, `watchdog`, `heartbeat`, `health_check`) or an indexed
    /// base name without index (`backend_hostname`): the `item, value, description` rows.
    fn show_group(&self, name: &str) -> Option<Vec<Row3>>;
    /// `PGPOOL SHOW ALL` rows.
    fn show_all(&self) -> Vec<Row3>;
    /// `PGPOOL SET name = value` in session context.
    fn set_session(&mut self, name: &str, value: &str) -> Result<(), CommandError>;
    /// `PGPOOL RESET name` / `SET name TO DEFAULT`: back to the start-up value.
    fn reset_session(&mut self, name: &str) -> Result<(), CommandError>;
    /// `PGPOOL RESET ALL`: every session-changed parameter back to its start-up value.
    fn reset_all_session(&mut self);
    /// The fixed rows of `SHOW pool_status` (without the per-backend rows, which need shared
    /// memory and are appended by `show`).
    fn pool_status_rows(&self) -> Vec<Row3>;
    /// An integer parameter in its base unit (seconds, ms, ...).
    fn int(&self, name: &str) -> i64;
    /// `backend_clustering_mode == streaming_replication`.
    fn streaming(&self) -> bool;
    /// `sr_check_user`, its database and resolved password, for the `pg_role` probe of SHOW
    /// pool_nodes; `None` where no real configuration stands behind the session (tests).
    fn sr_check_login(&self) -> Option<(String, String, crate::backend::internal::Secret)> {
        None
    }
}

fn rows3(rows: Vec<crate::config::ShowRow>) -> Vec<Row3> {
    rows.into_iter()
        .map(|r| (r.item, r.value, r.description))
        .collect()
}

impl SessionConfig for Config {
    fn show(&self, name: &str) -> Option<String> {
        Config::show(self, name)
    }
    fn show_group(&self, name: &str) -> Option<Vec<Row3>> {
        Config::show_rows(self, name).map(rows3)
    }
    fn show_all(&self) -> Vec<Row3> {
        rows3(Config::show_all(self))
    }
    fn set_session(&mut self, name: &str, value: &str) -> Result<(), CommandError> {
        Config::set_session(self, name, value).map_err(CommandError::from)
    }
    fn reset_session(&mut self, name: &str) -> Result<(), CommandError> {
        Config::reset_session(self, name).map_err(CommandError::from)
    }
    fn reset_all_session(&mut self) {
        Config::reset_all_session(self)
    }
    fn pool_status_rows(&self) -> Vec<Row3> {
        let mut rt = crate::config::PoolStatusRuntime::default();
        if let Some(sh) = crate::shmem::try_shmem() {
            // the query cache statistics start with pgpool (ctime(3) format)
            let start = sh
                .header()
                .start_time
                .load(std::sync::atomic::Ordering::Relaxed);
            rt.memqcache_stats_start_time =
                crate::logger::strftime_local("%a %b %e %H:%M:%S %Y", start);
            for j in 0..sh.num_backends() {
                let b = sh.backend(j);
                rt.backend_status.push(b.status().as_str().to_string());
                rt.standby_delay.push(
                    b.standby_delay
                        .load(std::sync::atomic::Ordering::Relaxed)
                        .max(0) as u64,
                );
            }
        }
        rows3(Config::pool_status_rows(self, &rt))
    }
    fn int(&self, name: &str) -> i64 {
        self.get_int(name)
    }
    fn streaming(&self) -> bool {
        self.get_enum("backend_clustering_mode") == "streaming_replication"
    }
    fn sr_check_login(&self) -> Option<(String, String, crate::backend::internal::Secret)> {
        Some(crate::backend::internal::sr_check_credentials(self))
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! A configuration stand-in for tests.
    use super::{CommandError, Row3, SessionConfig};
    use std::collections::BTreeMap;

    #[derive(Debug, Default, Clone)]
    pub struct FakeConfig {
        pub values: BTreeMap<String, String>,
        pub startup: BTreeMap<String, String>,
        pub session_params: Vec<String>,
        pub streaming: bool,
    }

    impl FakeConfig {
        pub fn new() -> FakeConfig {
            let mut f = FakeConfig::default();
            for (k, v) in [
                ("port", "9999"),
                ("client_idle_limit", "0"),
                ("child_life_time", "300"),
                ("log_min_messages", "warning"),
                ("backend_hostname0", "/tmp"),
                ("backend_port0", "5432"),
                ("backend_data_directory0", "/data0"),
                ("backend_flag0", "ALLOW_TO_FAILOVER"),
                ("backend_application_name0", "node0"),
                ("backend_hostname1", "localhost"),
                ("backend_port1", "5433"),
                ("backend_data_directory1", "/data1"),
                ("backend_flag1", "ALLOW_TO_FAILOVER"),
                ("backend_application_name1", "node1"),
                ("health_check_period0", "0"),
                ("health_check_period1", "0"),
            ] {
                f.values.insert(k.into(), v.into());
            }
            f.startup = f.values.clone();
            f.session_params = vec!["client_idle_limit".into(), "log_min_messages".into()];
            f
        }
    }

    impl SessionConfig for FakeConfig {
        fn show(&self, name: &str) -> Option<String> {
            self.values.get(name).cloned()
        }
        fn show_group(&self, name: &str) -> Option<Vec<Row3>> {
            (name == "backend_hostname").then(|| {
                (0..2)
                    .map(|i| {
                        let item = format!("backend_hostname{i}");
                        let v = self.values[&item].clone();
                        (
                            item,
                            v,
                            "hostname or IP address of PostgreSQL backend.".into(),
                        )
                    })
                    .collect()
            })
        }
        fn show_all(&self) -> Vec<Row3> {
            self.values
                .iter()
                .map(|(k, v)| (k.clone(), v.clone(), format!("{k} description")))
                .collect()
        }
        fn set_session(&mut self, name: &str, value: &str) -> Result<(), CommandError> {
            if !self.values.contains_key(name) {
                return Err(CommandError::new(format!(
                    "unrecognized configuration parameter \"{name}\""
                )));
            }
            if !self.session_params.iter().any(|p| p == name) {
                return Err(CommandError::new(format!(
                    "invalid Context, value for parameter \"{name}\" cannot be changed"
                )));
            }
            if name == "client_idle_limit" && value.parse::<i64>().is_err() {
                return Err(CommandError {
                    message: format!("invalid value for parameter \"{name}\": \"{value}\""),
                    detail: None,
                    hint: Some("Valid units for this parameter are \"ms\", \"s\", \"min\", \"h\", and \"d\".".into()),
                });
            }
            self.values.insert(name.into(), value.into());
            Ok(())
        }
        fn reset_session(&mut self, name: &str) -> Result<(), CommandError> {
            let v = self.startup.get(name).cloned().ok_or_else(|| {
                CommandError::new(format!("unrecognized configuration parameter \"{name}\""))
            })?;
            self.values.insert(name.into(), v);
            Ok(())
        }
        fn reset_all_session(&mut self) {
            for p in self.session_params.clone() {
                if let Some(v) = self.startup.get(&p).cloned() {
                    self.values.insert(p, v);
                }
            }
        }
        fn pool_status_rows(&self) -> Vec<Row3> {
            vec![
                (
                    "backend_clustering_mode".into(),
                    "5".into(),
                    "clustering mode".into(),
                ),
                (
                    "port".into(),
                    self.values["port"].clone(),
                    "pgpool accepting port number".into(),
                ),
            ]
        }
        fn int(&self, name: &str) -> i64 {
            self.values
                .get(name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        }
        fn streaming(&self) -> bool {
            self.streaming
        }
    }
}
