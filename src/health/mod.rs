//! The health-check process of one backend node (`pgpool: health check process(N)`,
//! spec/failover.md §2): every `health_check_period<N>` seconds it opens a connection as
//! `health_check_user<N>` (no SQL), retrying `health_check_max_retries<N>` times, records the
//! round in the node's shared statistics, requests the node's detach when it fails, lifts a
//! quarantine when a quarantined node answers again, and asks for an automatic failback of a
//! down node that streams from the primary again (`auto_failback`, §9). SIGHUP reloads
//! pgpool.conf; SIGTERM, SIGINT and SIGQUIT end it; SIGUSR1 restarts it (exit 1).

pub mod stats;

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::backend::internal::{resolve_password, Bounds, InternalConn, InternalError, Secret};
use crate::config::Config;
use crate::exit_code;
use crate::failover::request::{degenerate_backend_set, send_failback_request};
use crate::logger::{self, Severity};
use crate::pglog;
use crate::shmem::requests::details;
use crate::shmem::{now, shmem, BackendStatus, HealthStats, Shmem};

use crate::aux_signals::{pause, EXIT, RESTART};

/// The per-node health-check parameters (`health_check_*<N>`, falling back to the global ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub period: i64,
    pub timeout: i64,
    pub user: String,
    pub password: String,
    pub database: String,
    pub max_retries: i64,
    pub retry_delay: i64,
    pub connect_timeout_ms: i64,
}

impl Params {
    pub fn of(cfg: &Config, node: usize) -> Params {
        let int = |b: &str| cfg.get_int(&format!("{b}{node}"));
        let text = |b: &str| cfg.get_str(&format!("{b}{node}")).to_string();
        let db = text("health_check_database");
        Params {
            period: int("health_check_period"),
            timeout: int("health_check_timeout"),
            user: text("health_check_user"),
            password: text("health_check_password"),
            database: if db.is_empty() { "postgres".into() } else { db },
            max_retries: int("health_check_max_retries"),
            retry_delay: int("health_check_retry_delay"),
            connect_timeout_ms: cfg.get_int(&format!("connect_timeout{node}")),
        }
    }
}

/// How one round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    /// `timeout`: the last attempt ran into `health_check_timeout`.
    Failed {
        timeout: bool,
    },
    Skipped,
}

/// Entry point after fork; returns the exit code.
pub fn run(node: usize, mut cfg: Config) -> i32 {
    // named after its node only once running, as pgpool's is: its first line says
    // `health_check pid N: LOG:  process started`
    logger::set_process("health_check", "HEALTH CHECK");
    pglog!(Severity::Log, "process started");
    logger::set_process(&format!("health_check{node}"), "HEALTH CHECK");
    crate::aux_signals::install(&[Signal::SIGUSR2, Signal::SIGCHLD]);
    crate::process_title::set(&format!("health check process({node})"));
    let sh = shmem();
    sh.health(node)
        .min_health_check_duration
        .store(i32::MAX, Relaxed);
    pglog!(
        Severity::Debug1,
        "I am health check process pid:{} DB node id:{}",
        std::process::id(),
        node
    );
    let mut next_auto_failback = 0i64;
    loop {
        if EXIT.load(SeqCst) {
            return exit_code::NO_RESTART;
        }
        if !crate::aux_signals::reload_if_asked(&mut cfg) && RESTART.load(SeqCst) {
            pglog!(
                Severity::Log,
                "health check process received restart request"
            );
            return exit_code::RESTART;
        }
        let p = Params::of(&cfg, node);
        if p.period <= 0 {
            sh.health(node).min_health_check_duration.store(0, Relaxed);
            pause(Duration::from_secs(30));
            continue;
        }
        round(&cfg, sh, node, &p, &mut next_auto_failback);
        pause(Duration::from_secs(p.period as u64));
    }
}

/// One round (§2.3): count, connect, record, act.
fn round(cfg: &Config, sh: &Shmem, node: usize, p: &Params, next_auto_failback: &mut i64) {
    let st = sh.health(node);
    st.total_count.fetch_add(1, Relaxed);
    st.last_health_check.store(now(), Relaxed);
    let t0 = Instant::now();
    let b = sh.backend(node);
    let outcome = check(cfg, sh, node, p, st, next_auto_failback);
    let t = now();
    match outcome {
        Outcome::Failed { timeout } => {
            st.last_failed_health_check.store(t, Relaxed);
            let disallowed = b.flag.load(Relaxed) & crate::backend::FLAG_DISALLOW_TO_FAILOVER != 0;
            if disallowed {
                pglog!(
                    Severity::Log,
                    "health check failed on node {} but failover is disallowed for the node",
                    node
                );
            } else {
                st.fail_count.fetch_add(1, Relaxed);
                let t = i32::from(timeout);
                if b.status() == BackendStatus::Down && b.quarantine.load(Relaxed) {
                    pglog!(
                        Severity::Log,
                        "health check failed on quarantine node {} (timeout:{})",
                        node,
                        t
                    );
                } else {
                    pglog!(
                        Severity::Log,
                        "health check failed on node {} (timeout:{})",
                        node,
                        t
                    );
                    let flags = if timeout { 0 } else { details::SWITCHOVER };
                    let _ = degenerate_backend_set(&[node], flags, false);
                }
            }
        }
        Outcome::Success => {
            st.success_count.fetch_add(1, Relaxed);
            st.last_successful_health_check.store(t, Relaxed);
            if b.status() == BackendStatus::Down && b.quarantine.load(Relaxed) {
                let _ = send_failback_request(node, false, details::UPDATE | details::WATCHDOG);
            }
        }
        Outcome::Skipped => {
            st.skip_count.fetch_add(1, Relaxed);
            st.last_skip_health_check.store(t, Relaxed);
            return;
        }
    }
    let ms = i32::try_from(t0.elapsed().as_micros() / 1000).unwrap_or(i32::MAX);
    st.total_health_check_duration.fetch_add(ms as u64, Relaxed);
    st.max_health_check_duration.fetch_max(ms, Relaxed);
    st.min_health_check_duration.fetch_min(ms, Relaxed);
}

/// Whether the `health_check_test` fault file says `down` for `node` (§2.6).
fn fault_injected(cfg: &Config, node: usize) -> bool {
    if !cfg.get_bool("health_check_test") {
        return false;
    }
    let path = std::path::Path::new(cfg.get_str("logdir")).join("backend_down_request");
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    text.lines().any(|l| {
        let mut f = l.split('\t');
        f.next().and_then(|n| n.trim().parse::<usize>().ok()) == Some(node)
            && f.next().map(str::trim) == Some("down")
    })
}

fn secret(cfg: &Config, p: &Params) -> Secret {
    let pp = cfg.get_str("pool_passwd");
    let path = (!pp.is_empty()).then(|| cfg.resolve(pp));
    resolve_password(
        &p.password,
        &p.user,
        path.as_deref(),
        crate::child::settings::pool_key(),
    )
}

/// One connection attempt: Ok, or Err(timed out).
fn attempt(cfg: &Config, sh: &Shmem, node: usize, p: &Params, secret: &Secret) -> Result<(), bool> {
    // health_check_timeout bounds the attempt, connect_timeout the TCP connect inside it (a
    // connect that gives up first is a plain failure, not a timeout)
    let limit = (p.timeout > 0).then(|| Duration::from_secs(p.timeout as u64));
    let connect_limit = match (
        (p.connect_timeout_ms > 0).then(|| Duration::from_millis(p.connect_timeout_ms as u64)),
        limit,
    ) {
        (Some(c), Some(l)) => Some(c.min(l)),
        (c, l) => c.or(l),
    };
    let t0 = Instant::now();
    let bounds = Bounds {
        connect: connect_limit,
        read: limit,
    };
    match InternalConn::connect_node(sh, node, &p.user, &p.database, secret, bounds) {
        Ok(conn) => {
            drop(conn);
            if fault_injected(cfg, node) {
                return Err(false);
            }
            Ok(())
        }
        Err(e) => {
            // the socket timeouts end the attempt at the limit, give or take the clock's
            // granularity: a failure that late is the timeout
            let timed_out = p.timeout > 0
                && t0.elapsed() + Duration::from_millis(100)
                    >= Duration::from_secs(p.timeout as u64);
            match &e {
                InternalError::Connect { host, port, source } => {
                    crate::backend::log_connect_failure(host, port, source)
                }
                _ => pglog!(
                    Severity::Debug1,
                    "health check on node {} failed: {}",
                    node,
                    e
                ),
            }
            Err(timed_out)
        }
    }
}

/// `establish_persistent_connection` with its skip and auto-failback rules.
fn check(
    cfg: &Config,
    sh: &Shmem,
    node: usize,
    p: &Params,
    st: &HealthStats,
    next_auto_failback: &mut i64,
) -> Outcome {
    let b = sh.backend(node);
    let status = b.status();
    let mut auto_failback = false;
    if status == BackendStatus::Unused
        || (status == BackendStatus::Down && !b.quarantine.load(Relaxed))
    {
        let allowed = cfg.get_bool("auto_failback")
            && now() > *next_auto_failback
            && cfg.get_enum("backend_clustering_mode") == "streaming_replication"
            && status == BackendStatus::Down
            && b.replication_state.get() == "streaming"
            && !sh.header().switching.load(SeqCst);
        if !allowed {
            return Outcome::Skipped;
        }
        pglog!(
            Severity::Debug1,
            "health check DB node: {} (status:{}) for auto_failback",
            node,
            status as u8
        );
        auto_failback = true;
    }
    let secret = secret(cfg, p);
    let mut retries_left = p.max_retries;
    let mut used = 0u32;
    let result = loop {
        match attempt(cfg, sh, node, p, &secret) {
            Ok(()) => {
                if used > 0 {
                    pglog!(
                        Severity::Log,
                        "health check retrying on DB node: {} succeeded",
                        node
                    );
                }
                break Ok(());
            }
            Err(timeout) => {
                retries_left -= 1;
                if retries_left < 0 || EXIT.load(SeqCst) {
                    break Err(timeout);
                }
                used += 1;
                st.retry_count.fetch_add(1, Relaxed);
                pglog!(
                    Severity::Log,
                    "health check retrying on DB node: {} (round:{})",
                    node,
                    used
                );
                pause(Duration::from_secs(p.retry_delay.max(0) as u64));
            }
        }
    };
    if used > 0 {
        st.max_retry_count.fetch_max(used, Relaxed);
    }
    if auto_failback {
        if result.is_ok() && !sh.header().switching.load(SeqCst) {
            pglog!(Severity::Log, "request auto failback, node id:{}", node);
            *next_auto_failback = now() + cfg.get_int("auto_failback_interval");
            if let Err(e) = send_failback_request(node, true, details::CONFIRMED) {
                pglog!(Severity::Log, "{}", e);
            }
        }
        return Outcome::Skipped;
    }
    match result {
        Ok(()) => Outcome::Success,
        Err(timeout) => Outcome::Failed { timeout },
    }
}
