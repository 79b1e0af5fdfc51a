//! Primary detection in streaming and logical replication (spec/architecture.md §13.5,
//! failover.md §7): ask every valid node `pg_is_in_recovery()` as `sr_check_user`, classify the
//! answers, retry until `search_primary_node_timeout`, and record the result in shared memory
//! (`primary_node_id` and each node's `BackendRole`). Other modes have no primary search.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::internal::{sr_check_credentials, Bounds, InternalConn, InternalError};
use crate::config::Config;
use crate::logger::Severity;
use crate::pglog;
use crate::shmem::{BackendRole, Shmem};

/// How one node came out of `verify_backend_node_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeClass {
    /// Not connected, not asked, or ignored.
    Unused,
    Primary,
    Standby,
    /// A false primary, to be detached when `detach_false_primary` is on.
    Invalid,
}

/// Streaming or logical replication: the modes with a primary search.
pub fn has_primary_search(cfg: &Config) -> bool {
    matches!(
        cfg.get_enum("backend_clustering_mode"),
        "streaming_replication" | "logical_replication"
    )
}

/// Classify nodes from their `pg_is_in_recovery()` answers (`None` = no answer). Several
/// primaries without any standby (logical replication): the lowest-numbered one is kept, the
/// others become Invalid with `detach_false_primary`, else Unused. With standbys every answer
/// stands here; `verify_backend_node_status` adds the primary_conninfo cross-check.
pub fn classify(in_recovery: &[Option<bool>], detach_false_primary: bool) -> Vec<NodeClass> {
    let mut class: Vec<NodeClass> = in_recovery
        .iter()
        .map(|a| match a {
            Some(false) => NodeClass::Primary,
            Some(true) => NodeClass::Standby,
            None => NodeClass::Unused,
        })
        .collect();
    let standbys = class.iter().filter(|&&c| c == NodeClass::Standby).count();
    if standbys == 0 {
        let mut first = true;
        for c in class.iter_mut().filter(|c| **c == NodeClass::Primary) {
            if !first {
                *c = if detach_false_primary {
                    NodeClass::Invalid
                } else {
                    NodeClass::Unused
                };
            }
            first = false;
        }
    }
    class
}

/// The connect and read bound of pgpool's internal connections: `connect_timeout`, or 10 s
/// when that is 0 (no limit would let one hung server stop the caller forever).
pub fn internal_timeout(cfg: &Config) -> Duration {
    match cfg.get_int("connect_timeout") {
        ms if ms > 0 => Duration::from_millis(ms as u64),
        _ => Duration::from_secs(10),
    }
}

/// Try an sr_check connection to every valid node (`None` for the nodes not valid).
pub fn connect_nodes(cfg: &Config, sh: &Shmem) -> Vec<Option<Result<InternalConn, InternalError>>> {
    let (user, db, secret) = sr_check_credentials(cfg);
    let timeout = internal_timeout(cfg);
    (0..sh.num_backends())
        .map(|i| {
            sh.backend(i).status().is_valid().then(|| {
                InternalConn::connect_node(sh, i, &user, &db, &secret, Bounds::both(Some(timeout)))
            })
        })
        .collect()
}

/// `verify_backend_node_status`: ask each connected node whether it is in recovery; with
/// standbys and `detach_false_primary`, also which primary the standbys follow (`follow`).
pub fn verify_backend_node_status(
    cfg: &Config,
    sh: &Shmem,
    conns: &mut [Option<InternalConn>],
) -> Vec<NodeClass> {
    let answers: Vec<Option<bool>> = conns
        .iter_mut()
        .map(|c| {
            let v = c
                .as_mut()?
                .query_value("SELECT pg_catalog.pg_is_in_recovery()")
                .ok()??;
            match v.as_str() {
                "t" => Some(true),
                "f" => Some(false),
                _ => None,
            }
        })
        .collect();
    let detach = cfg.get_bool("detach_false_primary");
    let mut class = classify(&answers, detach);
    if detach && class.contains(&NodeClass::Standby) && class.contains(&NodeClass::Primary) {
        super::follow::mark_false_primaries(sh, conns, &mut class);
    }
    class
}

/// What a search found: the primary's node id (−1 if none) and each node's class from the
/// last `verify_backend_node_status` it ran (empty when it ran none). pgpool keeps the classes
/// for the `node status[N]` lines of its start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimarySearch {
    pub primary: i32,
    pub classes: Vec<NodeClass>,
}

impl PrimarySearch {
    fn none() -> PrimarySearch {
        PrimarySearch {
            primary: -1,
            classes: Vec::new(),
        }
    }
}

impl NodeClass {
    /// pgpool's `POOL_NODE_STATUS` number, as its start-up log prints it.
    pub fn number(self) -> u8 {
        match self {
            NodeClass::Unused => 0,
            NodeClass::Primary => 1,
            NodeClass::Standby => 2,
            NodeClass::Invalid => 3,
        }
    }
}

/// One search (`find_primary_node`).
pub fn find_primary_node(cfg: &Config, sh: &Shmem) -> PrimarySearch {
    if let Some(i) = cfg
        .backends()
        .iter()
        .take(sh.num_backends())
        .position(|b| b.in_use() && b.always_primary())
    {
        return PrimarySearch {
            primary: i as i32,
            classes: Vec::new(),
        };
    }
    let mut conns: Vec<Option<InternalConn>> = connect_nodes(cfg, sh)
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r? {
            Ok(c) => Some(c),
            Err(e) => {
                match &e {
                    InternalError::Connect { host, port, source } => {
                        super::log_connect_failure(host, port, source);
                        pglog!(
                            Severity::Log,
                            "find_primary_node: make_persistent_db_connection_noerror failed on node {}",
                            i
                        );
                    }
                    _ => pglog!(
                        Severity::Log,
                        detail = e;
                        "find_primary_node: make_persistent_db_connection_noerror failed on node {}",
                        i
                    ),
                }
                None
            }
        })
        .collect();
    // the follow child re-points standbys meanwhile: wait for it (failover.md §7.1 step 3)
    let lock = crate::failover::lock::acquire(cfg, true);
    let class = verify_backend_node_status(cfg, sh, &mut conns);
    drop(lock);
    let mut primary = -1;
    for (i, c) in class.iter().enumerate() {
        match c {
            NodeClass::Primary => {
                pglog!(Severity::Log, "find_primary_node: primary node is {}", i);
                primary = i as i32;
            }
            NodeClass::Standby => {
                pglog!(Severity::Log, "find_primary_node: standby node is {}", i)
            }
            NodeClass::Invalid => pglog!(Severity::Log, "find_primary_node: invalid node {}", i),
            NodeClass::Unused => {}
        }
    }
    PrimarySearch {
        primary,
        classes: class,
    }
}

/// `find_primary_node_repeatedly`: search once a second until a primary is found or
/// `search_primary_node_timeout` seconds passed (0 = forever). `pause(d)` sleeps between
/// attempts and returns false to give up (shutdown). The result's primary is −1 if none.
pub fn find_primary_node_repeatedly(
    cfg: &Config,
    sh: &Shmem,
    mut pause: impl FnMut(Duration) -> bool,
) -> PrimarySearch {
    if !has_primary_search(cfg) {
        return PrimarySearch::none();
    }
    if !(0..sh.num_backends()).any(|i| sh.backend(i).status().is_valid()) {
        pglog!(
            Severity::Log,
            "find_primary_node_repeatedly: all of the backends are down. Giving up finding primary node"
        );
        return PrimarySearch::none();
    }
    pglog!(
        Severity::Log,
        "find_primary_node_repeatedly: waiting for finding a primary node"
    );
    let timeout = cfg.get_int("search_primary_node_timeout").max(0) as u64;
    let start = Instant::now();
    loop {
        let found = find_primary_node(cfg, sh);
        if found.primary >= 0 {
            return found;
        }
        if timeout > 0 && start.elapsed() >= Duration::from_secs(timeout) {
            pglog!(
                Severity::Log,
                detail = format!("find_primary_node_repeatedly: expired after {timeout} seconds");
                "failed to find primary node"
            );
            return found;
        }
        if !pause(Duration::from_secs(1)) {
            return found;
        }
    }
}

/// Record `primary` (−1 = none) in shared memory: `primary_node_id` and every configured
/// node's role (primary, else standby).
pub fn set_primary(sh: &Shmem, primary: i32) {
    sh.header().primary_node_id.store(primary, Relaxed);
    for i in 0..sh.num_backends() {
        sh.backend(i).set_role(if i as i32 == primary {
            BackendRole::Primary
        } else {
            BackendRole::Standby
        });
    }
}

/// Roles in the modes without a primary: the main node is `main`, the others `replica`.
pub fn set_main_roles(sh: &Shmem) {
    let main = sh.header().main_node_id.load(Relaxed);
    for i in 0..sh.num_backends() {
        sh.backend(i).set_role(if i as i32 == main {
            BackendRole::Main
        } else {
            BackendRole::Replica
        });
    }
}

#[cfg(test)]
mod tests {
    use super::NodeClass::*;
    use super::*;

    #[test]
    fn classification_follows_verify_backend_node_status() {
        let t = Some(true);
        let f = Some(false);
        assert_eq!(classify(&[f, t, t], false), [Primary, Standby, Standby]);
        assert_eq!(classify(&[None, f, t], false), [Unused, Primary, Standby]);
        assert_eq!(classify(&[t, t], false), [Standby, Standby]);
        // logical replication: every node is a primary; the lowest wins
        assert_eq!(classify(&[f, f, f], false), [Primary, Unused, Unused]);
        assert_eq!(classify(&[None, f, f], true), [Unused, Primary, Invalid]);
        // with standbys every primary answer stands (the last one wins in find_primary_node)
        assert_eq!(classify(&[f, f, t], false), [Primary, Primary, Standby]);
    }
}
