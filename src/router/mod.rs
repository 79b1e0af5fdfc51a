//! The routing decision (spec/routing.md §2, §4–§9 for raw, streaming and logical modes): which
//! nodes a statement goes to, the session's load-balance node (weights, redirect preference
//! lists, replication delay), and the session flags that steer later decisions
//! (`disable_load_balance_on_write`, failed transaction, multi-statement transaction,
//! dml_adaptive's written tables). Pure decisions: catalog facts come through the `Catalog`
//! trait, node facts through `NodeView`; nothing here does I/O.

mod decide;
mod flags;
mod nodeset;
mod patterns;
mod redirect;
mod select;
#[cfg(test)]
mod tests;

pub use nodeset::NodeSet;

use regex::Regex;

use crate::config::Config;
use crate::sql::RelRef;

/// `backend_clustering_mode` as far as routing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Raw,
    Streaming,
    Logical,
    Native,
    SnapshotIsolation,
    Slony,
}

impl Mode {
    /// Streaming or logical replication ("SL" in the spec).
    pub fn is_sl(self) -> bool {
        matches!(self, Mode::Streaming | Mode::Logical)
    }
}

/// `disable_load_balance_on_write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbOnWrite {
    Off,
    Transaction,
    TransTransaction,
    Always,
    DmlAdaptive,
}

/// `check_temp_table` (`on` = catalog, `off` = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempCheck {
    Catalog,
    Trace,
    None,
}

/// The nodes one session can use now.
#[derive(Debug, Clone, Copy)]
pub struct NodeView<'a> {
    /// Valid in the child's status snapshot and connected in this session.
    pub usable: NodeSet,
    /// PRIMARY_NODE_ID: the detected primary, else the main node (architecture.md §13.4).
    pub primary: usize,
    /// Normalised `backend_weightN` (0..1) by node.
    pub weights: &'a [f64],
    /// `standby_delay` by node, as the worker stores it (bytes, or µs when `by_time`).
    pub delays: &'a [i64],
}

/// Per-session routing state (routing.md §6).
#[derive(Debug, Clone, Default)]
pub struct SessionRoute {
    /// The session's load-balance node.
    pub lb_node: usize,
    /// `writing_transaction` (W).
    pub writing: bool,
    /// `failed_transaction`: an error arrived while the primary was in a transaction.
    pub failed: bool,
    /// Isolation level of the current transaction once known: Some(true) = serializable.
    pub serializable: Option<bool>,
    /// The transaction was started by a multi-statement query (routing.md §3.2).
    pub multi_tx: bool,
    /// dml_adaptive: inside an explicit transaction.
    pub dml_in_tx: bool,
    /// dml_adaptive: relations (and dependent objects) written in this transaction, lower case.
    pub dml_written: Vec<String>,
    /// `really_writing_transaction` (RW, for the query cache): a write happened inside the
    /// current explicit transaction, whatever `disable_load_balance_on_write` says.
    pub really_writing: bool,
    /// The session's user, database and startup-packet `application_name`: the redirect lists
    /// match them when the load-balance node is chosen again during the session
    /// (`statement_level_load_balance`, `prefer_lower_delay_standby`). Set at session start.
    pub user: String,
    pub database: String,
    pub application_name: String,
}

impl SessionRoute {
    /// The state of a new session; `lb_node` still has to be chosen
    /// (`Router::select_load_balancing_node`).
    pub fn new(user: &str, database: &str, application_name: &str) -> SessionRoute {
        SessionRoute {
            user: user.to_string(),
            database: database.to_string(),
            application_name: application_name.to_string(),
            ..SessionRoute::default()
        }
    }
}

/// Catalog facts, looked up by the session on its own backend connection (and cached).
pub trait Catalog {
    fn is_system_catalog(&mut self, rel: &RelRef) -> bool;
    /// Only asked when `check_temp_table` is not `none`; the session answers from the catalog
    /// or from its `trace` list.
    fn is_temp_table(&mut self, rel: &RelRef) -> bool;
    /// Only asked when `check_unlogged_table` is on.
    fn is_unlogged_table(&mut self, rel: &RelRef) -> bool;
    /// A volatile function of that name exists (`schema.func` or `func` in any schema).
    fn is_volatile_function(&mut self, name: &str) -> bool;
    /// `current_setting('transaction_isolation') = 'serializable'` on the main node; None
    /// when it cannot be asked now.
    fn transaction_is_serializable(&mut self) -> Option<bool>;
}

/// Where one statement goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub nodes: NodeSet,
    /// The virtual main node: the lowest node of `nodes`; its reply is what the client sees.
    pub main: usize,
}

/// Routing settings compiled from the configuration (regexes, lists, weights).
#[derive(Debug, Clone)]
pub struct Router {
    pub mode: Mode,
    pub load_balance: bool,
    pub statement_level_load_balance: bool,
    pub lb_on_write: LbOnWrite,
    /// Session-context parameter: the session may overwrite it after `PGPOOL SET`.
    pub allow_sql_comments: bool,
    pub ignore_leading_white_space: bool,
    pub check_temp_table: TempCheck,
    /// `relcache_query_target = load_balance_node`: catalog lookups ask the session's
    /// load-balance node instead of the primary.
    pub relcache_on_lb_node: bool,
    /// Session-context parameter: the session may overwrite it after `PGPOOL SET`.
    pub check_unlogged_table: bool,
    /// `replicate_select` (native replication and snapshot isolation only).
    pub replicate_select: bool,
    /// Bytes (0 = off).
    pub delay_threshold: i64,
    /// Milliseconds (0 = off); compared with delays in µs.
    pub delay_threshold_by_time: i64,
    pub prefer_lower_delay: bool,
    primary_patterns: Vec<Regex>,
    write_functions: Vec<Regex>,
    read_only_functions: Vec<Regex>,
    user_redirect: Vec<redirect::Entry>,
    db_redirect: Vec<redirect::Entry>,
    app_redirect: Vec<redirect::Entry>,
    dml_relationships: Vec<(flags::Object, flags::Object)>,
}

impl Router {
    /// Compile the routing parameters of `cfg`.
    pub fn from_config(cfg: &Config) -> Router {
        let mode = match cfg.get_enum("backend_clustering_mode") {
            "native_replication" => Mode::Native,
            "logical_replication" => Mode::Logical,
            "slony" => Mode::Slony,
            "raw" => Mode::Raw,
            "snapshot_isolation" => Mode::SnapshotIsolation,
            _ => Mode::Streaming,
        };
        let lb_on_write = match cfg.get_enum("disable_load_balance_on_write") {
            "off" => LbOnWrite::Off,
            "trans_transaction" => LbOnWrite::TransTransaction,
            "always" => LbOnWrite::Always,
            "dml_adaptive" => LbOnWrite::DmlAdaptive,
            _ => LbOnWrite::Transaction,
        };
        let check_temp_table = match cfg.get_enum("check_temp_table") {
            "trace" => TempCheck::Trace,
            "none" | "off" => TempCheck::None,
            _ => TempCheck::Catalog,
        };
        let list = |name: &str| patterns::compile_all(name, &cfg.get_list(name));
        let redirects = |name: &str| redirect::parse_list(name, cfg.get_str(name));
        Router {
            mode,
            load_balance: cfg.get_bool("load_balance_mode"),
            statement_level_load_balance: cfg.get_bool("statement_level_load_balance"),
            lb_on_write,
            allow_sql_comments: cfg.get_bool("allow_sql_comments"),
            ignore_leading_white_space: cfg.get_bool("ignore_leading_white_space"),
            check_temp_table,
            relcache_on_lb_node: cfg.get_enum("relcache_query_target") == "load_balance_node",
            check_unlogged_table: cfg.get_bool("check_unlogged_table"),
            replicate_select: cfg.get_bool("replicate_select"),
            delay_threshold: cfg.get_int("delay_threshold"),
            delay_threshold_by_time: cfg.get_int("delay_threshold_by_time"),
            prefer_lower_delay: cfg.get_bool("prefer_lower_delay_standby"),
            primary_patterns: list("primary_routing_query_pattern_list"),
            write_functions: list("write_function_list"),
            read_only_functions: list("read_only_function_list"),
            user_redirect: redirects("user_redirect_preference_list"),
            db_redirect: redirects("database_redirect_preference_list"),
            app_redirect: redirects("app_name_redirect_preference_list"),
            dml_relationships: flags::parse_relationships(
                cfg.get_str("dml_adaptive_object_relationship_list"),
            ),
        }
    }
}
