//! The worker process (`pgpool: worker process`, spec/architecture.md §5, failover.md §8): every
//! `sr_check_period` seconds in streaming replication it connects to the valid nodes as
//! `sr_check_user`, runs the replication-delay check (`delay`) and re-classifies the nodes. Its
//! signals: SIGHUP reloads pgpool.conf, SIGUSR1 asks for a restart (exit 1), SIGTERM, SIGINT
//! and SIGQUIT end it.

pub mod delay;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use crate::backend::internal::{InternalConn, InternalError};
use crate::backend::primary::{self, NodeClass};
use crate::config::Config;
use crate::exit_code;
use crate::logger::{self, Severity};
use crate::pglog;
use crate::shmem::requests::details;
use crate::shmem::{shmem, Shmem};

use crate::aux_signals::{pause, EXIT, RESTART};

/// Entry point after fork; returns the exit code.
pub fn run(mut cfg: Config) -> i32 {
    logger::set_process("sr_check_worker", "WORKER");
    crate::aux_signals::install(&[]);
    crate::process_title::set("worker process");
    pglog!(Severity::Log, "process started");
    let sh = shmem();
    let mut versions = delay::Versions::default();
    loop {
        if EXIT.load(SeqCst) {
            return exit_code::NO_RESTART;
        }
        if !crate::aux_signals::reload_if_asked(&mut cfg) && RESTART.load(SeqCst) {
            pglog!(Severity::Log, "worker process received restart request");
            return exit_code::RESTART;
        }
        let period = cfg.get_int("sr_check_period");
        if period <= 0 {
            pause(Duration::from_secs(30));
            continue;
        }
        if cfg.get_enum("backend_clustering_mode") == "streaming_replication"
            && !sh.header().switching.load(SeqCst)
        {
            // the follow child's commands reshape the cluster: skip the round meanwhile
            if let Some(_lock) = crate::failover::lock::acquire(&cfg, false) {
                check_round(&cfg, sh, &mut versions);
            }
        }
        pause(Duration::from_secs(period as u64));
    }
}

/// One round: connect, check the delay, re-classify the nodes, disconnect.
fn check_round(cfg: &Config, sh: &Shmem, versions: &mut delay::Versions) {
    let mut conns: Vec<Option<InternalConn>> = primary::connect_nodes(cfg, sh)
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Some(Ok(c)) => Some(c),
            Some(Err(InternalError::Connect { host, port, source })) => {
                crate::backend::log_connect_failure(&host, port, &source);
                None
            }
            Some(Err(e)) => {
                let b = sh.backend(i);
                pglog!(
                    Severity::Log,
                    detail = format!(
                        "connection to host:\"{}:{}\" failed: {e}",
                        b.hostname.get(),
                        b.port.load(SeqCst)
                    );
                    "failed to make persistent db connection"
                );
                None
            }
            None => None,
        })
        .collect();
    if let Err(e) = delay::check_replication_delay(cfg, sh, &mut conns, versions) {
        let context = delay::CONTEXT;
        match e.hint() {
            Some(h) => {
                pglog!(Severity::Error, detail = e.detail(), hint = h, context = context; "{}", e)
            }
            None => pglog!(Severity::Error, detail = e.detail(), context = context; "{}", e),
        }
        return;
    }
    let class = primary::verify_backend_node_status(cfg, sh, &mut conns);
    for (i, c) in class.iter().enumerate() {
        if *c == NodeClass::Invalid {
            // detach_false_primary (failover.md §7.4): no watchdog, so no leader check
            let _ = crate::failover::request::degenerate_backend_set(
                &[i],
                details::SWITCHOVER | details::CONFIRMED,
                false,
            );
        }
    }
}
