//! Unit tests of the routing decision: routing.md §12's worked examples, every
//! `disable_load_balance_on_write` mode, redirect lists, weights, delays, patterns, comments,
//! multi-statement transactions, dml_adaptive, statement-level load balancing.

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::config::{Config, Mode as CfgMode};
use crate::sql::{Analysis, Class, Kind, RelRef};

fn config(pairs: &[(&str, &str)]) -> Config {
    let mut c = Config::defaults();
    let mut diags = Vec::new();
    for (k, v) in pairs {
        c.apply(k, v, CfgMode::Start, &mut diags)
            .unwrap_or_else(|e| panic!("{k} = {v}: {e}"));
    }
    c
}

fn router(pairs: &[(&str, &str)]) -> Router {
    Router::from_config(&config(pairs))
}

fn rel(name: &str) -> RelRef {
    RelRef {
        schema: None,
        name: name.to_string(),
    }
}

fn select(rels: &[&str], funcs: &[&str]) -> Analysis {
    Analysis {
        kind: Kind::Select,
        class: Class::Either,
        read_only: true,
        empty: false,
        relations: rels.iter().map(|r| rel(r)).collect(),
        functions: funcs.iter().map(|f| f.to_string()).collect(),
        ..Analysis::empty_statement()
    }
}

fn stmt(kind: Kind, class: Class) -> Analysis {
    Analysis {
        kind,
        class,
        read_only: false,
        empty: false,
        ..Analysis::empty_statement()
    }
}

fn insert(table: &str) -> Analysis {
    Analysis {
        relations: vec![rel(table)],
        ..stmt(Kind::Insert, Class::Primary)
    }
}

fn begin() -> Analysis {
    stmt(Kind::Begin, Class::Both)
}
fn commit() -> Analysis {
    stmt(Kind::Commit, Class::Both)
}
fn rollback() -> Analysis {
    stmt(Kind::Rollback, Class::Both)
}

/// A catalog answering from lists and counting the questions it gets.
#[derive(Default)]
struct FakeCat {
    system: Vec<&'static str>,
    temp: Vec<&'static str>,
    unlogged: Vec<&'static str>,
    volatile: Vec<&'static str>,
    serializable: bool,
    temp_asked: usize,
    unlogged_asked: usize,
    volatile_asked: usize,
    isolation_asked: usize,
}

impl Catalog for FakeCat {
    fn is_system_catalog(&mut self, rel: &RelRef) -> bool {
        self.system.contains(&rel.name.as_str())
    }
    fn is_temp_table(&mut self, rel: &RelRef) -> bool {
        self.temp_asked += 1;
        self.temp.contains(&rel.name.as_str())
    }
    fn is_unlogged_table(&mut self, rel: &RelRef) -> bool {
        self.unlogged_asked += 1;
        self.unlogged.contains(&rel.name.as_str())
    }
    fn is_volatile_function(&mut self, name: &str) -> bool {
        self.volatile_asked += 1;
        self.volatile.contains(&name)
    }
    fn transaction_is_serializable(&mut self) -> Option<bool> {
        self.isolation_asked += 1;
        Some(self.serializable)
    }
}

/// A session: routes statements and plays the session's part (after_success, TSTATE).
struct Sess {
    r: Router,
    st: SessionRoute,
    cat: FakeCat,
    rng: StdRng,
    weights: Vec<f64>,
    delays: Vec<i64>,
    usable: NodeSet,
    primary: usize,
    /// TSTATE(primary).
    tx: u8,
}

fn set(nodes: &[usize]) -> NodeSet {
    let mut s = NodeSet::EMPTY;
    for &n in nodes {
        s.insert(n);
    }
    s
}

impl Sess {
    /// Node 0 primary, node 1 standby, weights 0:1 (routing.md §12's setting).
    fn new(pairs: &[(&str, &str)]) -> Sess {
        Sess::with_nodes(pairs, &[0.0, 1.0])
    }

    fn with_nodes(pairs: &[(&str, &str)], weights: &[f64]) -> Sess {
        let mut s = Sess {
            r: router(pairs),
            st: SessionRoute::new("alice", "mydb", "psql"),
            cat: FakeCat {
                system: vec!["pg_class"],
                volatile: vec!["f1", "nextval"],
                ..FakeCat::default()
            },
            rng: StdRng::seed_from_u64(7),
            weights: weights.to_vec(),
            delays: vec![0; weights.len()],
            usable: NodeSet((1u128 << weights.len()) - 1),
            primary: 0,
            tx: b'I',
        };
        s.st.lb_node = s.choose();
        s
    }

    fn view(&self) -> NodeView<'_> {
        NodeView {
            usable: self.usable,
            primary: self.primary,
            weights: &self.weights,
            delays: &self.delays,
        }
    }

    fn choose(&mut self) -> usize {
        let view = NodeView {
            usable: self.usable,
            primary: self.primary,
            weights: &self.weights,
            delays: &self.delays,
        };
        let (u, d, a) = (
            self.st.user.clone(),
            self.st.database.clone(),
            self.st.application_name.clone(),
        );
        self.r
            .select_load_balancing_node(&view, &u, &d, &a, &mut self.rng)
    }

    /// Route only.
    fn route(&mut self, a: &Analysis, text: &str) -> Vec<usize> {
        let view = NodeView {
            usable: self.usable,
            primary: self.primary,
            weights: &self.weights,
            delays: &self.delays,
        };
        let d = self.r.route(
            &view,
            &mut self.st,
            a,
            text,
            self.tx,
            &mut self.cat,
            &mut self.rng,
        );
        assert_eq!(Some(d.main), d.nodes.first());
        assert_eq!(d.nodes.0 & !self.usable.0, 0, "only usable nodes");
        d.nodes.iter().collect()
    }

    /// Route, then complete successfully (flags, TSTATE).
    fn run(&mut self, a: &Analysis, text: &str) -> Vec<usize> {
        let nodes = self.route(a, text);
        self.r
            .after_success(&mut self.st, a, text, self.tx, &mut self.cat);
        match a.kind {
            Kind::Begin => self.tx = b'T',
            Kind::Commit | Kind::Rollback => self.tx = b'I',
            _ => {}
        }
        nodes
    }
}

fn s1() -> Analysis {
    select(&[], &[])
}

// ---------------------------------------------------------------- §12 worked examples

#[test]
fn worked_examples_of_routing_md_section_12() {
    let mut s = Sess::new(&[]);
    assert_eq!(s.st.lb_node, 1, "weight 0:1 forces node 1");
    assert_eq!(s.run(&select(&["t"], &[]), "SELECT * FROM t;"), [1]);
    assert_eq!(s.run(&s1(), "/*x*/ SELECT 1;"), [0]);
    assert_eq!(s.run(&select(&[], &["f1"]), "SELECT f1(1);"), [0]);
    assert_eq!(s.run(&select(&[], &["now"]), "SELECT now();"), [1]);
    assert_eq!(
        s.run(&select(&["pg_class"], &[]), "SELECT * FROM pg_class;"),
        [0]
    );
    assert_eq!(s.run(&begin(), "BEGIN;"), [0, 1]);
    assert_eq!(s.run(&s1(), "SELECT 1;"), [1]);
    assert_eq!(s.run(&insert("t"), "INSERT INTO t VALUES (1);"), [0]);
    assert!(s.st.writing);
    assert_eq!(s.run(&s1(), "SELECT 1;"), [0]);
    assert_eq!(s.run(&commit(), "COMMIT;"), [0, 1]);
    assert!(!s.st.writing);
    assert_eq!(s.run(&s1(), "SELECT 1;"), [1]);
    assert_eq!(
        s.run(&stmt(Kind::Set, Class::Both), "SET search_path = x;"),
        [0, 1]
    );
    let prepare = Analysis {
        kind: Kind::Prepare { name: "p".into() },
        ..s1()
    };
    assert_eq!(s.run(&prepare, "PREPARE p AS SELECT 1;"), [1]);
    assert_eq!(s.run(&stmt(Kind::Other, Class::Primary), "LISTEN ch;"), [0]);
    let multi = Analysis {
        multi: true,
        ..begin()
    };
    assert_eq!(s.run(&multi, "BEGIN\\;SELECT 1;"), [0]);
    s.st.multi_tx = true; // the session saw the BEGIN tag
    let savepoint = stmt(Kind::Savepoint, Class::Both);
    // The last two rows continue `BEGIN\;SELECT 1` separately: a *completed* SAVEPOINT is not a
    // read-only SELECT inside a transaction, so by §6.1 it sets W and a later read would go to
    // the primary (checked below).
    assert_eq!(s.route(&savepoint, "SAVEPOINT a;"), [0]);
    assert_eq!(s.run(&s1(), "SELECT 2;"), [1], "reads still balanced");
    assert_eq!(s.run(&savepoint, "SAVEPOINT a;"), [0]);
    assert!(s.st.writing);
    assert_eq!(s.run(&s1(), "SELECT 3;"), [0]);
    assert_eq!(s.run(&commit(), "COMMIT;"), [0]);
    assert!(!s.st.multi_tx, "COMMIT clears the multi-statement flag");
    assert_eq!(s.run(&begin(), "BEGIN;"), [0, 1]);
}

// ---------------------------------------------------------------- disable_load_balance_on_write

#[test]
fn lb_on_write_off_keeps_balancing_after_writes() {
    let mut s = Sess::new(&[("disable_load_balance_on_write", "off")]);
    s.run(&begin(), "BEGIN");
    s.run(&insert("t"), "INSERT INTO t VALUES (1)");
    assert!(!s.st.writing);
    assert!(s.st.really_writing, "RW is set whatever the mode");
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
}

#[test]
fn lb_on_write_transaction_lasts_until_the_transaction_ends() {
    let mut s = Sess::new(&[("disable_load_balance_on_write", "transaction")]);
    // A write outside a transaction changes nothing.
    s.run(&insert("t"), "INSERT INTO t VALUES (1)");
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
    s.run(&begin(), "BEGIN");
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
    s.run(&insert("t"), "INSERT INTO t VALUES (1)");
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
    s.run(&rollback(), "ROLLBACK");
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
    s.run(&begin(), "BEGIN");
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
}

#[test]
fn lb_on_write_trans_transaction_affects_every_later_transaction() {
    let mut s = Sess::new(&[("disable_load_balance_on_write", "trans_transaction")]);
    s.run(&begin(), "BEGIN");
    s.run(&insert("t"), "INSERT INTO t VALUES (1)");
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
    s.run(&commit(), "COMMIT");
    assert!(s.st.writing, "never cleared");
    assert_eq!(
        s.run(&s1(), "SELECT 1"),
        [1],
        "outside transactions: balanced"
    );
    s.run(&begin(), "BEGIN");
    assert_eq!(
        s.run(&s1(), "SELECT 1"),
        [0],
        "inside later transactions: primary"
    );
}

#[test]
fn lb_on_write_always_sends_everything_to_the_primary_after_a_write() {
    let mut s = Sess::new(&[("disable_load_balance_on_write", "always")]);
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
    s.run(&insert("t"), "INSERT INTO t VALUES (1)");
    assert!(s.st.writing, "a write outside a transaction counts");
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
    s.run(&begin(), "BEGIN");
    s.run(&commit(), "COMMIT");
    assert!(s.st.writing, "BEGIN/COMMIT do not clear it");
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
}

#[test]
fn lb_on_write_dml_adaptive_tracks_written_tables_and_relationships() {
    let mut s = Sess::new(&[
        ("disable_load_balance_on_write", "dml_adaptive"),
        (
            "dml_adaptive_object_relationship_list",
            "T1:v1, f2():t3, broken",
        ),
        ("read_only_function_list", "f2"),
    ]);
    s.run(&begin(), "BEGIN");
    assert!(s.st.dml_in_tx);
    s.run(&insert("t1"), "INSERT INTO t1 VALUES (1)");
    assert!(!s.st.writing, "W is not used by dml_adaptive");
    assert_eq!(s.st.dml_written, ["t1", "v1"]);
    assert_eq!(s.run(&select(&["t2"], &[]), "SELECT * FROM t2"), [1]);
    assert_eq!(s.run(&select(&["T1"], &[]), "SELECT * FROM T1"), [0]);
    assert_eq!(s.run(&select(&["v1"], &[]), "SELECT * FROM v1"), [0]);
    // A call of f2() marks t3 as written (f2 itself is read-only: still balanced).
    assert_eq!(s.run(&select(&[], &["f2"]), "SELECT f2()"), [1]);
    assert_eq!(s.run(&select(&["t3"], &[]), "SELECT * FROM t3"), [0]);
    // ROLLBACK TO ends the tracking [FAITHFUL].
    s.run(&stmt(Kind::RollbackTo, Class::Both), "ROLLBACK TO a");
    assert!(!s.st.dml_in_tx && s.st.dml_written.is_empty());
    assert_eq!(s.run(&select(&["t1"], &[]), "SELECT * FROM t1"), [1]);
    s.run(&commit(), "COMMIT");
    // Outside a transaction: written tables are remembered but not consulted, and no
    // dependents are added.
    s.run(&insert("t1"), "INSERT INTO t1 VALUES (1)");
    assert_eq!(s.st.dml_written, ["t1"]);
    assert_eq!(s.run(&select(&["t1"], &[]), "SELECT * FROM t1"), [1]);
    s.run(&begin(), "BEGIN");
    assert!(s.st.dml_written.is_empty(), "BEGIN clears the list");
    assert_eq!(s.run(&select(&["t1"], &[]), "SELECT * FROM t1"), [1]);
}

#[test]
fn serializable_transactions_read_from_the_primary() {
    let mut s = Sess::new(&[]);
    s.cat.serializable = true;
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
    assert_eq!(
        s.cat.isolation_asked, 0,
        "never asked outside a transaction"
    );
    s.run(&begin(), "BEGIN ISOLATION LEVEL SERIALIZABLE");
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
    assert_eq!(s.cat.isolation_asked, 1, "asked once per transaction");
    s.run(&commit(), "COMMIT");
    s.cat.serializable = false;
    s.run(&begin(), "BEGIN");
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
    let set_ser = Analysis {
        sets_serializable: true,
        ..stmt(Kind::Set, Class::Primary)
    };
    assert_eq!(
        s.run(&set_ser, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
        [0]
    );
    assert_eq!(s.st.serializable, Some(true));
    assert!(!s.st.writing, "the serializable SET is not a write");
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
}

#[test]
fn a_failed_transaction_reads_from_the_primary_until_it_ends() {
    let mut s = Sess::new(&[]);
    s.r.after_error(&mut s.st, b'I');
    assert!(!s.st.failed, "errors outside a transaction do not count");
    s.run(&begin(), "BEGIN");
    s.r.after_error(&mut s.st, b'T');
    assert!(s.st.failed);
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
    s.run(&rollback(), "ROLLBACK");
    assert!(!s.st.failed);
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
}

#[test]
fn read_only_settings_are_not_writes() {
    let s = Sess::new(&[]);
    let mut cat = FakeCat::default();
    let ro = Analysis {
        sets_read_only: true,
        ..stmt(Kind::Set, Class::Both)
    };
    assert!(!s.r.is_write(&ro, "SET TRANSACTION READ ONLY", &mut cat));
    assert!(s
        .r
        .is_write(&stmt(Kind::Set, Class::Both), "SET x = 1", &mut cat));
    assert!(s
        .r
        .is_write(&insert("t"), "INSERT INTO t VALUES (1)", &mut cat));
    assert!(!s.r.is_write(&s1(), "SELECT 1", &mut cat));
    assert!(s.r.is_write(&s1(), "/* c */ SELECT 1", &mut cat));
    cat.volatile = vec!["f1"];
    assert!(s.r.is_write(&select(&[], &["f1"]), "SELECT f1()", &mut cat));
}

// ---------------------------------------------------------------- redirect lists and weights

/// Fractions of `n` choices landing on each of `nodes` nodes.
fn shares(s: &mut Sess, n: usize) -> Vec<f64> {
    let mut counts = vec![0usize; s.weights.len()];
    for _ in 0..n {
        counts[s.choose()] += 1;
    }
    counts.iter().map(|&c| c as f64 / n as f64).collect()
}

fn assert_shares(got: &[f64], want: &[f64]) {
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 0.02, "got {got:?}, want {want:?}");
    }
}

const THIRDS: [f64; 3] = [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0];

#[test]
fn plain_weights_are_honoured() {
    let mut s = Sess::with_nodes(&[], &[0.2, 0.3, 0.5]);
    assert_shares(&shares(&mut s, 20000), &[0.2, 0.3, 0.5]);
}

#[test]
fn nodes_with_weight_zero_are_never_chosen() {
    let mut s = Sess::with_nodes(&[], &[0.0, 1.0, 0.0]);
    assert_shares(&shares(&mut s, 2000), &[0.0, 1.0, 0.0]);
    s.weights = vec![0.0, 0.0, 0.0];
    assert_shares(&shares(&mut s, 200), &[1.0, 0.0, 0.0]);
    s.primary = 2;
    assert_shares(&shares(&mut s, 200), &[0.0, 0.0, 1.0]);
}

#[test]
fn database_redirect_weight_excludes_the_suggested_node_otherwise() {
    let mut s = Sess::with_nodes(
        &[("database_redirect_preference_list", "other:2,my.*:1(0.3)")],
        &THIRDS,
    );
    assert_shares(&shares(&mut s, 20000), &[0.35, 0.3, 0.35]);
    s.st.database = "nomatch".into();
    assert_shares(&shares(&mut s, 20000), &THIRDS);
}

#[test]
fn standby_redirect_weight_is_the_share_of_standbys() {
    let mut s = Sess::with_nodes(
        &[("database_redirect_preference_list", "mydb:standby(0.3)")],
        &THIRDS,
    );
    assert_shares(&shares(&mut s, 20000), &[0.7, 0.15, 0.15]);
}

#[test]
fn redirect_weight_zero_means_never() {
    let mut s = Sess::with_nodes(
        &[("user_redirect_preference_list", "alice:standby(0.0)")],
        &THIRDS,
    );
    assert_shares(&shares(&mut s, 500), &[1.0, 0.0, 0.0]);
    let mut s = Sess::with_nodes(
        &[("user_redirect_preference_list", "alice:primary(0.0)")],
        &THIRDS,
    );
    assert_shares(&shares(&mut s, 20000), &[0.0, 0.5, 0.5]);
    let mut s = Sess::with_nodes(
        &[("user_redirect_preference_list", "alice:primary")],
        &THIRDS,
    );
    assert_shares(&shares(&mut s, 500), &[1.0, 0.0, 0.0]);
}

#[test]
fn redirect_priority_is_app_then_database_then_user() {
    let lists = [
        ("user_redirect_preference_list", "bob:0,alice:2"),
        ("database_redirect_preference_list", "mydb:1"),
        ("app_name_redirect_preference_list", "psql:0"),
    ];
    let mut s = Sess::with_nodes(&lists[..1], &THIRDS);
    assert_shares(&shares(&mut s, 200), &[0.0, 0.0, 1.0]);
    let mut s = Sess::with_nodes(&lists[..2], &THIRDS);
    assert_shares(&shares(&mut s, 200), &[0.0, 1.0, 0.0]);
    let mut s = Sess::with_nodes(&lists, &THIRDS);
    assert_shares(&shares(&mut s, 200), &[1.0, 0.0, 0.0]);
    s.st.application_name = String::new();
    assert_shares(&shares(&mut s, 200), &[0.0, 1.0, 0.0]);
}

#[test]
fn an_invalid_higher_priority_node_keeps_the_lower_node_but_takes_its_weight() {
    // The app list names node 2, which is down, with weight 0: node 1 (from the database list)
    // stays suggested but is honoured with probability 0, so it is excluded.
    let mut s = Sess::with_nodes(
        &[
            ("database_redirect_preference_list", "mydb:1"),
            ("app_name_redirect_preference_list", "psql:2(0.0)"),
        ],
        &THIRDS,
    );
    s.usable = set(&[0, 1]);
    assert_shares(&shares(&mut s, 500), &[1.0, 0.0, 0.0]);
}

#[test]
fn redirect_node_names_are_case_sensitive() {
    // `Primary` is read as a number: node 0 [FAITHFUL]; here the primary is node 2.
    let mut s = Sess::with_nodes(
        &[("database_redirect_preference_list", "mydb:Primary")],
        &THIRDS,
    );
    s.primary = 2;
    assert_shares(&shares(&mut s, 200), &[1.0, 0.0, 0.0]);
    // A node number that is not configured: the virtual main node (the primary).
    let mut s = Sess::with_nodes(&[("database_redirect_preference_list", "mydb:9")], &THIRDS);
    s.primary = 1;
    assert_shares(&shares(&mut s, 200), &[0.0, 1.0, 0.0]);
}

#[test]
fn a_suggested_node_that_is_not_usable_is_ignored() {
    let mut s = Sess::with_nodes(
        &[("database_redirect_preference_list", "mydb:2")],
        &[0.0, 1.0, 1.0],
    );
    s.usable = set(&[0, 1]);
    assert_shares(&shares(&mut s, 200), &[0.0, 1.0, 0.0]);
}

#[test]
fn redirect_lists_apply_only_in_streaming_and_logical_modes() {
    for (mode, redirected) in [
        ("logical_replication", true),
        ("native_replication", false),
        ("slony", false),
    ] {
        let mut s = Sess::with_nodes(
            &[
                ("backend_clustering_mode", mode),
                ("database_redirect_preference_list", "mydb:2"),
            ],
            &[0.0, 1.0, 1.0],
        );
        let want = if redirected {
            [0.0, 0.0, 1.0]
        } else {
            [0.0, 0.5, 0.5]
        };
        assert_shares(&shares(&mut s, 20000), &want);
    }
}

// ---------------------------------------------------------------- replication delay

#[test]
fn an_over_threshold_lb_node_sends_reads_to_the_primary() {
    let mut s = Sess::new(&[("delay_threshold", "1000")]);
    s.delays = vec![0, 1001];
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
    assert_eq!(s.st.lb_node, 1, "the session keeps its LB node");
    s.delays = vec![0, 1000];
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
}

#[test]
fn delay_thresholds_compare_the_same_stored_number() {
    // by_time = 2 ms = 2000 µs; delay_threshold = 1500 is still compared with the µs value.
    let mut s = Sess::new(&[
        ("delay_threshold_by_time", "2"),
        ("delay_threshold", "1500"),
    ]);
    s.delays = vec![0, 1800];
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
    let mut s = Sess::new(&[("delay_threshold_by_time", "2")]);
    s.delays = vec![0, 1800];
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
    s.delays = vec![0, 2001];
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
}

#[test]
fn delays_are_ignored_outside_streaming_mode() {
    let mut s = Sess::new(&[
        ("backend_clustering_mode", "logical_replication"),
        ("delay_threshold", "10"),
    ]);
    s.delays = vec![0, 1_000_000];
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
}

#[test]
fn prefer_lower_delay_standby_picks_the_least_delayed_standbys() {
    let pairs = [
        ("delay_threshold", "200"),
        ("prefer_lower_delay_standby", "on"),
    ];
    let mut s = Sess::with_nodes(&pairs, &[0.0, 0.25, 0.25, 0.5]);
    s.delays = vec![0, 500, 100, 300];
    assert_shares(&shares(&mut s, 500), &[0.0, 0.0, 1.0, 0.0]);
    // Equal lowest delays: chosen among by weight.
    s.delays = vec![0, 100, 100, 500];
    assert_shares(&shares(&mut s, 20000), &[0.0, 0.5, 0.5, 0.0]);
    // Every standby over the threshold: the primary.
    s.delays = vec![0, 500, 300, 201];
    assert_shares(&shares(&mut s, 200), &[1.0, 0.0, 0.0, 0.0]);
    // In routing: the session's LB node is replaced.
    s.delays = vec![0, 500, 100, 300];
    s.st.lb_node = 1;
    assert_eq!(s.run(&s1(), "SELECT 1"), [2]);
    assert_eq!(s.st.lb_node, 2);
}

#[test]
fn prefer_lower_delay_standby_also_checks_a_redirected_node() {
    let mut s = Sess::with_nodes(
        &[
            ("delay_threshold", "200"),
            ("prefer_lower_delay_standby", "on"),
            ("database_redirect_preference_list", "mydb:1"),
        ],
        &THIRDS,
    );
    assert_shares(&shares(&mut s, 200), &[0.0, 1.0, 0.0]);
    s.delays = vec![0, 500, 100];
    assert_shares(&shares(&mut s, 200), &[0.0, 0.0, 1.0]);
}

// ---------------------------------------------------------------- read-only text test, patterns

#[test]
fn leading_comments_prevent_load_balancing_unless_allowed() {
    let mut s = Sess::new(&[]);
    assert_eq!(s.run(&s1(), "/*NO LOAD BALANCE*/ SELECT 1"), [0]);
    assert_eq!(s.run(&s1(), "-- c\nSELECT 1"), [0]);
    assert_eq!(
        s.run(&s1(), "VALUES (1)"),
        [0],
        "[FAITHFUL] v is not a read"
    );
    for text in [
        "select 1",
        "(SELECT 1)",
        "WITH x AS (SELECT 1) SELECT 1",
        "TABLE t",
        " \n\tSELECT 1",
        "",
        ";",
    ] {
        assert_eq!(s.run(&s1(), text), [1], "{text:?}");
    }
    let prepare = Analysis {
        kind: Kind::Prepare { name: "p".into() },
        ..s1()
    };
    assert_eq!(
        s.run(&prepare, "/*c*/ PREPARE p AS SELECT 1"),
        [1],
        "PREPARE is exempt"
    );
    let show = Analysis {
        kind: Kind::Show,
        ..s1()
    };
    assert_eq!(s.run(&show, "/*c*/ SHOW x"), [1], "only SELECTs are tested");

    let mut s = Sess::new(&[("allow_sql_comments", "on")]);
    assert_eq!(s.run(&s1(), "/*NO LOAD BALANCE*/ SELECT 1"), [1]);
    assert_eq!(s.run(&s1(), "VALUES (1)"), [1]);

    let mut s = Sess::new(&[("ignore_leading_white_space", "off")]);
    assert_eq!(s.run(&s1(), " SELECT 1"), [0]);
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
}

#[test]
fn primary_routing_patterns_match_the_whole_text_without_double_quotes() {
    let mut s = Sess::new(&[(
        "primary_routing_query_pattern_list",
        "SELECT \\* FROM t1\\;;(unclosed;.*pg_sleep.*",
    )]);
    assert_eq!(s.run(&select(&["t1"], &[]), "SELECT * FROM \"t1\";"), [0]);
    assert_eq!(s.run(&select(&["t1"], &[]), "select * from t1;"), [0]);
    assert_eq!(
        s.run(&select(&["t1"], &[]), "SELECT * FROM t1"),
        [1],
        "anchored"
    );
    assert_eq!(s.run(&select(&["t2"], &[]), "SELECT * FROM t2;"), [1]);
    assert_eq!(
        s.run(&select(&[], &["pg_sleep"]), "SELECT\n pg_sleep(1);"),
        [0],
        ". matches a newline"
    );
}

// ---------------------------------------------------------------- catalog tests

#[test]
fn temp_and_unlogged_tables_are_checked_only_when_asked() {
    let mut s = Sess::new(&[]);
    s.cat.temp = vec!["tmp"];
    s.cat.unlogged = vec!["ul"];
    assert_eq!(s.run(&select(&["tmp"], &[]), "SELECT * FROM tmp"), [0]);
    assert_eq!(s.run(&select(&["ul"], &[]), "SELECT * FROM ul"), [0]);
    assert_eq!(s.run(&select(&["t"], &[]), "SELECT * FROM t"), [1]);

    let mut s = Sess::new(&[("check_temp_table", "off"), ("check_unlogged_table", "off")]);
    s.cat.temp = vec!["tmp"];
    s.cat.unlogged = vec!["ul"];
    assert_eq!(s.run(&select(&["tmp"], &[]), "SELECT * FROM tmp"), [1]);
    assert_eq!(s.run(&select(&["ul"], &[]), "SELECT * FROM ul"), [1]);
    assert_eq!((s.cat.temp_asked, s.cat.unlogged_asked), (0, 0));

    let mut s = Sess::new(&[("check_temp_table", "trace")]);
    s.cat.temp = vec!["tmp"];
    assert_eq!(s.r.check_temp_table, TempCheck::Trace);
    assert_eq!(s.run(&select(&["tmp"], &[]), "SELECT * FROM tmp"), [0]);
}

#[test]
fn function_lists_take_precedence_over_volatility() {
    // Both lists empty: the catalog decides.
    let mut s = Sess::new(&[]);
    assert_eq!(
        s.run(&select(&[], &["nextval"]), "SELECT nextval('s')"),
        [0]
    );
    assert_eq!(s.run(&select(&[], &["lower"]), "SELECT lower('s')"), [1]);
    assert_eq!(s.cat.volatile_asked, 2);

    // Only a write list: nextval is not in it.
    let mut s = Sess::new(&[("write_function_list", "f1,public\\.w.*")]);
    assert_eq!(
        s.run(&select(&[], &["nextval"]), "SELECT nextval('s')"),
        [1]
    );
    assert_eq!(s.run(&select(&[], &["F1"]), "SELECT F1()"), [0]);
    assert_eq!(
        s.run(&select(&[], &["public.wx"]), "SELECT public.wx()"),
        [0]
    );
    assert_eq!(s.cat.volatile_asked, 0);

    // A read-only list wins over the write list.
    let mut s = Sess::new(&[
        ("read_only_function_list", "lower,f1"),
        ("write_function_list", "f1"),
    ]);
    assert_eq!(
        s.run(&select(&[], &["f1", "lower"]), "SELECT f1(lower('x'))"),
        [1]
    );
    assert_eq!(
        s.run(
            &select(&[], &["lower", "upper"]),
            "SELECT upper(lower('x'))"
        ),
        [0]
    );
}

// ---------------------------------------------------------------- classes, expansion, modes

#[test]
fn statement_level_load_balance_chooses_per_statement_and_expands_to_all() {
    let mut s = Sess::with_nodes(&[("statement_level_load_balance", "on")], &[0.0, 0.5, 0.5]);
    let mut seen = NodeSet::EMPTY;
    for _ in 0..100 {
        let nodes = s.run(&s1(), "SELECT 1");
        assert_eq!(nodes.len(), 1);
        seen.insert(nodes[0]);
        assert_eq!(s.st.lb_node, nodes[0]);
    }
    assert_eq!(seen, set(&[1, 2]));
    assert_eq!(s.run(&begin(), "BEGIN"), [0, 1, 2]);
    assert_eq!(s.r.expand_all(&s.view(), &s.st), set(&[0, 1, 2]));
}

#[test]
fn class_both_reaches_the_primary_and_the_session_lb_node_only() {
    let mut s = Sess::with_nodes(&[], &[0.0, 0.0, 1.0]);
    assert_eq!(s.st.lb_node, 2);
    assert_eq!(s.run(&begin(), "BEGIN"), [0, 2]);
    s.st.lb_node = 0;
    assert_eq!(s.r.expand_all(&s.view(), &s.st), set(&[0]));
    let mut s = Sess::new(&[("load_balance_mode", "off")]);
    assert_eq!(s.st.lb_node, 0);
    assert_eq!(s.run(&begin(), "BEGIN"), [0]);
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
}

#[test]
fn an_unusable_lb_node_falls_back_to_the_primary() {
    let mut s = Sess::new(&[]);
    assert_eq!(s.st.lb_node, 1);
    s.usable = set(&[0]);
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
    assert_eq!(s.run(&begin(), "BEGIN"), [0]);
    assert_eq!(s.choose(), 0);
}

#[test]
fn multi_statement_strings_go_to_the_primary() {
    let mut s = Sess::new(&[]);
    let multi = Analysis {
        multi: true,
        ..s1()
    };
    assert_eq!(s.run(&multi, "SELECT 1; SELECT 2"), [0]);
    let multi_set = Analysis {
        multi: true,
        ..stmt(Kind::Set, Class::Both)
    };
    assert_eq!(s.run(&multi_set, "SET a = 1; SELECT 2"), [0]);
}

#[test]
fn raw_mode_uses_the_main_node_only() {
    let mut s = Sess::with_nodes(&[("backend_clustering_mode", "raw")], &[0.0, 0.5, 0.5]);
    assert_eq!(s.st.lb_node, 0);
    assert_eq!(s.run(&s1(), "SELECT 1"), [0]);
    assert_eq!(s.run(&begin(), "BEGIN"), [0]);
    assert_eq!(s.run(&insert("t"), "INSERT INTO t VALUES (1)"), [0]);
    assert_eq!(s.r.expand_all(&s.view(), &s.st), set(&[0]));
}

#[test]
fn slony_mode_sends_class_both_to_every_valid_node() {
    let mut s = Sess::with_nodes(&[("backend_clustering_mode", "slony")], &[0.0, 1.0, 0.0]);
    assert_eq!(s.st.lb_node, 1);
    assert_eq!(s.run(&s1(), "SELECT 1"), [1]);
    assert_eq!(s.run(&insert("t"), "INSERT INTO t VALUES (1)"), [0]);
    assert_eq!(s.run(&stmt(Kind::Set, Class::Both), "SET x = 1"), [0, 1, 2]);
    assert_eq!(s.run(&begin(), "BEGIN"), [0, 1, 2]);
    s.st.multi_tx = true; // no narrowing to the primary: that is the SL modes'
    assert_eq!(s.run(&stmt(Kind::Set, Class::Both), "SET x = 1"), [0, 1, 2]);
}

#[test]
fn native_replication_writes_everywhere_and_balances_reads() {
    let mut s = Sess::with_nodes(
        &[("backend_clustering_mode", "native_replication")],
        &[0.0, 0.5, 0.5],
    );
    let lb = s.st.lb_node;
    assert_eq!(s.run(&insert("t"), "INSERT INTO t VALUES (1)"), [0, 1, 2]);
    assert_eq!(s.run(&stmt(Kind::Set, Class::Both), "SET x = 1"), [0, 1, 2]);
    assert_eq!(s.run(&s1(), "SELECT 1"), [lb]);
    assert_eq!(s.run(&select(&[], &["f1"]), "SELECT f1()"), [0, 1, 2]);
}

#[test]
fn invalid_patterns_are_skipped() {
    assert!(patterns::compile("x", "(").is_none());
    let re = patterns::compile("x", "a\\;b").expect("\\; is a literal");
    assert!(re.is_match("A;B"));
    assert!(!re.is_match("xa;b"));
    let r = router(&[("write_function_list", "(,ok")]);
    assert_eq!(r.write_functions.len(), 1);
}
