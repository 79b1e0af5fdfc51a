//! The routing decision (spec/routing.md §2, §4–§9 for raw, streaming and logical modes): which
//! nodes a statement goes to, the session's load-balance node (weights, redirect preference
//! lists, replication delay), and the session flags that steer later decisions
//! (`disable_load_balance_on_write`, failed transaction, multi-statement transaction,
//! dml_adaptive's written tables). Pure decisions: catalog facts come through the `Catalog`
//! trait, node facts through `NodeView`; nothing here does I/O.

mod nodeset;

pub use nodeset::NodeSet;

use crate::config::Config;
use crate::sql::{Analysis, RelRef};

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
    /// `current_setting('transaction_isolation') = 'serializable'` on the main node.
    fn transaction_is_serializable(&mut self) -> bool;
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
}

impl Router {
    /// Compile the routing parameters of `cfg`.
    pub fn from_config(cfg: &Config) -> Router {
        let _ = cfg;
        todo!("Router::from_config")
    }

    /// routing.md §5: the load-balance node of a new session (or of one statement with
    /// `statement_level_load_balance`).
    pub fn select_load_balancing_node(
        &self,
        view: &NodeView<'_>,
        user: &str,
        database: &str,
        application_name: &str,
        rng: &mut dyn rand::RngCore,
    ) -> usize {
        let _ = (view, user, database, application_name, rng);
        todo!("Router::select_load_balancing_node")
    }

    /// routing.md §2, §4, §7, §8: the destination of a statement (not EXECUTE/DEALLOCATE name,
    /// which the session answers from its records). `primary_tx` is TSTATE(primary).
    /// Updates `st` (dml_adaptive bookkeeping, statement-level load-balance node).
    #[allow(clippy::too_many_arguments)]
    pub fn route(
        &self,
        view: &NodeView<'_>,
        st: &mut SessionRoute,
        a: &Analysis,
        text: &str,
        primary_tx: u8,
        cat: &mut dyn Catalog,
        rng: &mut dyn rand::RngCore,
    ) -> Decision {
        let _ = (view, st, a, text, primary_tx, cat, rng);
        todo!("Router::route")
    }

    /// routing.md §4.2: the nodes of class BOTH for this session.
    pub fn expand_all(&self, view: &NodeView<'_>, st: &SessionRoute) -> NodeSet {
        let _ = (view, st);
        todo!("Router::expand_all")
    }

    /// Is `a` a write for the W flag (routing.md §6.1): not a read-only SELECT per §7.1 or
    /// calling a writing function, and not one of the READ ONLY settings?
    pub fn is_write(&self, a: &Analysis, text: &str, cat: &mut dyn Catalog) -> bool {
        let _ = (a, text, cat);
        todo!("Router::is_write")
    }

    /// routing.md §6.1: a statement completed successfully. `primary_tx` is TSTATE(primary)
    /// before the statement's own effect (the caller passes 'T' for statements inside a
    /// transaction block).
    pub fn after_success(
        &self,
        st: &mut SessionRoute,
        a: &Analysis,
        text: &str,
        primary_tx: u8,
        cat: &mut dyn Catalog,
    ) {
        let _ = (st, a, text, primary_tx, cat);
        todo!("Router::after_success")
    }

    /// routing.md §6.1: an ErrorResponse arrived while TSTATE(primary) was `primary_tx`.
    pub fn after_error(&self, st: &mut SessionRoute, primary_tx: u8) {
        let _ = (st, primary_tx);
        todo!("Router::after_error")
    }
}
