//! The main process's failover procedure (spec/failover.md §5): pop the queued node operations
//! one by one and carry each out — mark nodes down or up, pick the new main node, decide which
//! children restart, run `failover_command` / `failback_command`, find the new primary, start
//! the follow-primary work, record the result in shared memory and `pgpool_status`. Process
//! actions (signals, forks, sleeping) are the caller's, through [`Hooks`].

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Duration;

use super::command::{self, CommandArgs};
use super::follow;
use crate::backend::primary;
use crate::config::Config;
use crate::logger::Severity;
use crate::pglog;
use crate::shmem::requests::details;
use crate::shmem::{BackendRole, BackendStatus, RequestKind, Shmem};

/// What the main process does for the procedure.
pub trait Hooks {
    /// SIGQUIT these child slots (before the failover command runs).
    fn kill_children(&mut self, slots: &[usize]);
    /// Fork new children into these slots (after the new primary is known).
    fn refork_children(&mut self, slots: &[usize]);
    /// SIGUSR1 to every child (CLOSE_IDLE_REQUEST).
    fn close_idle(&mut self);
    /// Restart the worker so that it sees the new topology.
    fn restart_worker(&mut self);
    /// Fork a health check for every slot without one (after a failback).
    fn fork_health_checks(&mut self);
    /// Fork the follow child running `follow_primary_command`.
    fn fork_follow_child(&mut self, job: FollowJob);
    /// Write `pgpool_status`.
    fn write_status(&mut self);
    /// Sleep between primary searches; false = give up (shutdown).
    fn pause(&mut self, d: Duration) -> bool;
}

/// What the follow child runs: the command for every node down at that time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowJob {
    pub old_primary: i32,
    pub new_primary: i32,
}

/// Which children a request restarts (§5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    /// Nobody is killed; every child restarts after its session.
    Nobody,
    /// Children using `node` as their load-balance node are killed, the others restart later.
    Partial(usize),
    All,
}

fn raw_mode(cfg: &Config) -> bool {
    cfg.get_enum("backend_clustering_mode") == "raw"
}

pub(super) fn streaming(cfg: &Config) -> bool {
    cfg.get_enum("backend_clustering_mode") == "streaming_replication"
}

/// `get_next_main_node`: the lowest-numbered valid node, −1 if none.
pub fn next_main_node(sh: &Shmem) -> i32 {
    (0..sh.num_backends())
        .find(|&i| sh.backend(i).status().is_valid())
        .map_or(-1, |i| i as i32)
}

/// `PRIMARY_NODE_ID`: the primary if it is valid, else the main node.
pub fn primary_accessor(sh: &Shmem) -> i32 {
    let p = sh.header().primary_node_id.load(Relaxed);
    if p >= 0 && (p as usize) < sh.num_backends() && sh.backend(p as usize).status().is_valid() {
        p
    } else {
        sh.header().main_node_id.load(Relaxed)
    }
}

pub(super) fn host_port(sh: &Shmem, node: usize) -> (String, i32) {
    let b = sh.backend(node);
    (b.hostname.get(), b.port.load(Relaxed))
}

/// Child slots having a connected pool slot whose load-balance node is `node`.
fn children_using(sh: &Shmem, node: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for c in 0..sh.num_children {
        let pid = sh.process(c).pid.load(Relaxed);
        if pid <= 0 {
            continue;
        }
        for pool in 0..sh.max_pool {
            let ci = sh.connection(c, pool, node);
            if ci.connected.load(Relaxed) && ci.load_balancing_node.load(Relaxed) == node as i32 {
                pglog!(
                    Severity::Log,
                    "child pid {} needs to restart because pool {} uses backend {}",
                    pid,
                    pool,
                    node
                );
                out.push(c);
                break;
            }
        }
    }
    out
}

fn live_children(sh: &Shmem) -> Vec<usize> {
    (0..sh.num_children)
        .filter(|&c| sh.process(c).pid.load(Relaxed) > 0)
        .collect()
}

/// Run every queued request (pgpool's `failover()`). Called by the main process only.
pub fn failover(cfg: &Config, sh: &Shmem, hooks: &mut dyn Hooks) {
    let h = sh.header();
    if h.switching.swap(true, SeqCst) {
        return;
    }
    h.failover_requested.store(false, SeqCst);
    let mut search_primary = true;
    while let Some(req) = sh.pop_request() {
        if req.kind == RequestKind::CloseIdle {
            hooks.close_idle();
            continue;
        }
        one_request(cfg, sh, hooks, req, &mut search_primary);
    }
    h.switching.store(false, SeqCst);
}

fn one_request(
    cfg: &Config,
    sh: &Shmem,
    hooks: &mut dyn Hooks,
    req: crate::shmem::NodeRequest,
    search_primary: &mut bool,
) {
    let h = sh.header();
    let n = sh.num_backends();
    let mut ids: Vec<i32> = req.nodes.iter().map(|&x| x as i32).collect();
    let mut promote_node = 0;
    if req.details & details::PROMOTE != 0 {
        promote_node = ids.first().copied().unwrap_or(0);
        let p = h.primary_node_id.load(Relaxed);
        for id in ids.iter_mut() {
            *id = p;
        }
    }
    let Some(&node) = ids.first() else { return };
    let mut restart: Option<Restart> = None;
    let mut all_backend_down = false;
    let mut downed = vec![false; n];
    let old_primary = h.primary_node_id.load(Relaxed);
    let old_main = h.main_node_id.load(Relaxed);
    match req.kind {
        RequestKind::NodeUp => {
            if node < 0 || node as usize >= n {
                pglog!(
                    Severity::Log,
                    "invalid failback request, node id: {} is invalid. node id must be between [0 and {}]",
                    node,
                    n
                );
                return;
            }
            let b = sh.backend(node as usize);
            let raw_down = raw_mode(cfg) && b.status() == BackendStatus::Down;
            if b.status().is_valid() && !raw_down {
                pglog!(
                    Severity::Log,
                    "invalid failback request, status: [{}] of node id : {} is invalid for failback",
                    b.status() as u8,
                    node
                );
                return;
            }
            let (host, port) = host_port(sh, node as usize);
            pglog!(
                Severity::Log,
                "=== Starting fail back. reconnect host {}({}) ===",
                host,
                port
            );
            all_backend_down = (0..n).all(|i| {
                matches!(
                    sh.backend(i).status(),
                    BackendStatus::Down | BackendStatus::Unused
                )
            });
            b.set_status(BackendStatus::ConnectWait);
            if req.details & details::UPDATE != 0 {
                b.quarantine.store(false, Relaxed);
                *search_primary = false;
                h.main_node_id.store(next_main_node(sh), Relaxed);
                if h.primary_node_id.load(Relaxed) == -1 && b.role() == BackendRole::Primary {
                    pglog!(
                        Severity::Log,
                        "failover: failing back the quarantine node that was primary before it was quarantined"
                    );
                    h.primary_node_id.store(node, Relaxed);
                    restart = Some(Restart::All);
                } else if !all_backend_down {
                    restart = Some(Restart::Nobody);
                } else {
                    restart = Some(Restart::All);
                }
            } else {
                hooks.write_status();
                command::execute(
                    cfg.get_str("failback_command"),
                    &CommandArgs {
                        node,
                        new_main: next_main_node(sh),
                        old_main,
                        old_primary: primary_accessor(sh),
                    },
                    cfg.backends(),
                );
            }
        }
        RequestKind::Promote => {
            if node < 0 || node as usize >= n || !sh.backend(node as usize).status().is_valid() {
                pglog!(Severity::Log, "failover: no backends are promoted");
                return;
            }
            let (host, port) = host_port(sh, node as usize);
            pglog!(
                Severity::Log,
                "starting promotion. promote host {}({})",
                host,
                port
            );
        }
        RequestKind::NodeDown | RequestKind::Quarantine => {
            let quarantine = req.kind == RequestKind::Quarantine;
            for &id in &ids {
                if id < 0 || id as usize >= n {
                    continue;
                }
                let b = sh.backend(id as usize);
                let valid = if raw_mode(cfg) {
                    b.status() != BackendStatus::Down && b.status() != BackendStatus::Unused
                } else {
                    b.status().is_valid()
                };
                if !(valid || b.quarantine.load(Relaxed)) {
                    continue;
                }
                let (host, port) = host_port(sh, id as usize);
                pglog!(
                    Severity::Log,
                    "=== Starting {}. shutdown host {}({}) ===",
                    if quarantine {
                        "quarantine"
                    } else {
                        "degeneration"
                    },
                    host,
                    port
                );
                b.set_status(BackendStatus::Down);
                if quarantine {
                    b.quarantine.store(true, Relaxed);
                } else {
                    if h.primary_node_id.load(Relaxed) == -1
                        && b.quarantine.load(Relaxed)
                        && b.role() == BackendRole::Primary
                    {
                        h.primary_node_id.store(id, Relaxed);
                        *search_primary = false;
                    }
                    b.quarantine.store(false, Relaxed);
                    hooks.write_status();
                }
                downed[id as usize] = true;
            }
            if !downed.contains(&true) {
                pglog!(Severity::Log, "failover: no backends are degenerated");
                return;
            }
        }
        RequestKind::CloseIdle => return,
    }

    let mut new_main = next_main_node(sh);
    if new_main < 0 {
        pglog!(Severity::Log, "failover: no valid backend node found");
    }

    // §5.5: who restarts
    let scope = restart.unwrap_or_else(|| restart_scope(cfg, sh, &req, node, all_backend_down));
    let killed = match scope {
        Restart::All => {
            pglog!(Severity::Log, "Restart all children");
            live_children(sh)
        }
        Restart::Partial(nd) => children_using(sh, nd),
        Restart::Nobody => Vec::new(),
    };
    hooks.kill_children(&killed);

    // §5.6
    if req.kind == RequestKind::NodeDown {
        for (i, _) in downed.iter().enumerate().filter(|(_, d)| **d) {
            command::execute(
                cfg.get_str("failover_command"),
                &CommandArgs {
                    node: i as i32,
                    new_main: if req.details & details::PROMOTE != 0 {
                        promote_node
                    } else {
                        new_main
                    },
                    old_main,
                    old_primary,
                },
                cfg.backends(),
            );
        }
    }

    // §5.7
    let new_primary = determine_new_primary(cfg, sh, hooks, req.kind, node, *search_primary);

    // §5.8
    if let Some(m) = follow::follow_primary(
        cfg,
        sh,
        hooks,
        req.kind,
        node,
        old_primary,
        new_primary,
        &downed,
    ) {
        new_main = m;
    }

    // §5.9
    save_node_info(sh, old_primary, new_primary, new_main);

    // §5.10
    match scope {
        Restart::All => hooks.refork_children(&killed),
        Restart::Partial(_) | Restart::Nobody => {
            hooks.refork_children(&killed);
            for c in live_children(sh) {
                if !killed.contains(&c) {
                    sh.process(c).need_to_restart.store(true, SeqCst);
                }
            }
        }
    }
    hooks.restart_worker();
    let (host, port) = if node >= 0 && (node as usize) < n {
        host_port(sh, node as usize)
    } else {
        (String::new(), 0)
    };
    match req.kind {
        RequestKind::NodeUp => {
            pglog!(
                Severity::Log,
                "=== Failback done. reconnect host {}({}) ===",
                host,
                port
            );
            hooks.fork_health_checks();
        }
        RequestKind::Promote => {
            pglog!(
                Severity::Log,
                "=== Promotion done. promoted host {}({}) ===",
                host,
                port
            )
        }
        RequestKind::Quarantine => {
            pglog!(
                Severity::Log,
                "=== Quarantine done. shutdown host {}({}) ===",
                host,
                port
            )
        }
        _ => pglog!(
            Severity::Log,
            "=== Failover done. shutdown host {}({}) ===",
            host,
            port
        ),
    }
}

fn restart_scope(
    cfg: &Config,
    sh: &Shmem,
    req: &crate::shmem::NodeRequest,
    node: i32,
    all_backend_down: bool,
) -> Restart {
    if !streaming(cfg) {
        return Restart::All;
    }
    let primary = sh.header().primary_node_id.load(Relaxed);
    let (host, port) = if node >= 0 {
        host_port(sh, node as usize)
    } else {
        (String::new(), 0)
    };
    match req.kind {
        RequestKind::NodeUp if !all_backend_down && primary >= 0 && primary != node => {
            pglog!(
                Severity::Log,
                "Do not restart children because we are failing back node id {} host: {} port: {} and we are in streaming replication mode and not all backends were down",
                node, host, port
            );
            Restart::Nobody
        }
        RequestKind::NodeDown | RequestKind::Quarantine
            if req.details & details::SWITCHOVER != 0 && node != primary_accessor(sh) =>
        {
            pglog!(
                Severity::Log,
                "Do not restart children because we are switching over node id {} host: {} port: {} and we are in streaming replication mode",
                node, host, port
            );
            Restart::Partial(node as usize)
        }
        _ => Restart::All,
    }
}

fn search(cfg: &Config, sh: &Shmem, hooks: &mut dyn Hooks) -> i32 {
    if super::lock::follow_ongoing(cfg) {
        let p = sh.header().primary_node_id.load(Relaxed);
        pglog!(
            Severity::Log,
            "find_primary_node_repeatedly: follow primary is ongoing. return current primary: {}",
            p
        );
        return p;
    }
    primary::find_primary_node_repeatedly(cfg, sh, |d| hooks.pause(d)).primary
}

fn determine_new_primary(
    cfg: &Config,
    sh: &Shmem,
    hooks: &mut dyn Hooks,
    kind: RequestKind,
    node: i32,
    search_primary: bool,
) -> i32 {
    let h = sh.header();
    let current = h.primary_node_id.load(Relaxed);
    let valid = |x: i32| {
        x >= 0 && (x as usize) < sh.num_backends() && sh.backend(x as usize).status().is_valid()
    };
    if kind == RequestKind::Promote && valid(node) {
        return node;
    }
    if kind == RequestKind::Quarantine {
        if node == current && node >= 0 {
            sh.backend(node as usize).set_role(BackendRole::Primary);
            return -1;
        }
        return current;
    }
    if primary::has_primary_search(cfg) && kind == RequestKind::NodeDown {
        if current >= 0 && current != node {
            return current;
        }
        if current >= 0 {
            sh.backend(current as usize).set_role(BackendRole::Standby);
        }
        return search(cfg, sh, hooks);
    }
    if !search_primary {
        return current;
    }
    if !primary::has_primary_search(cfg) {
        return -1;
    }
    search(cfg, sh, hooks)
}

fn save_node_info(sh: &Shmem, old_primary: i32, new_primary: i32, new_main: i32) {
    let h = sh.header();
    let n = sh.num_backends() as i32;
    if new_primary != old_primary {
        let now = crate::shmem::now();
        if (0..n).contains(&old_primary) {
            sh.backend(old_primary as usize)
                .status_changed_time
                .store(now, Relaxed);
        }
        if (0..n).contains(&new_primary) {
            let b = sh.backend(new_primary as usize);
            b.status_changed_time.store(now, Relaxed);
            b.set_role(BackendRole::Primary);
        }
    }
    h.primary_node_id.store(new_primary, Relaxed);
    pglog!(
        Severity::Log,
        "failover: set new primary node: {}",
        new_primary
    );
    if new_main >= 0 {
        h.main_node_id.store(new_main, Relaxed);
        pglog!(Severity::Log, "failover: set new main node: {}", new_main);
    }
}
