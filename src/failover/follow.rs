//! Follow primary (spec/failover.md §5.8): after the primary changed in streaming mode, every
//! other node is marked down ("follow degeneration") and a follow child runs
//! `follow_primary_command` for each node down at that time, holding the follow-primary lock.

use super::command::{self, CommandArgs};
use super::procedure::{host_port, next_main_node, streaming, FollowJob, Hooks};
use crate::config::Config;
use crate::logger::Severity;
use crate::pglog;
use crate::shmem::{BackendStatus, RequestKind, Shmem};

#[allow(clippy::too_many_arguments)]
pub(super) fn follow_primary(
    cfg: &Config,
    sh: &Shmem,
    hooks: &mut dyn Hooks,
    kind: RequestKind,
    node: i32,
    old_primary: i32,
    new_primary: i32,
    downed: &[bool],
) -> Option<i32> {
    if !streaming(cfg) {
        return None;
    }
    let cmd = cfg.get_str("follow_primary_command");
    if cmd.is_empty() && kind != RequestKind::Promote {
        return None;
    }
    let node_valid = node >= 0
        && (node as usize) < sh.num_backends()
        && sh.backend(node as usize).status().is_valid();
    let primary_went_down = if old_primary >= 0 {
        downed.get(old_primary as usize).copied().unwrap_or(false)
    } else {
        new_primary >= 0
    };
    let act = match kind {
        RequestKind::NodeDown => primary_went_down,
        RequestKind::Promote => node_valid,
        _ => false,
    };
    if !act || new_primary < 0 {
        return None;
    }
    let mut count = 0;
    for i in 0..sh.num_backends() {
        let b = sh.backend(i);
        if i as i32 == new_primary || b.status() == BackendStatus::Unused {
            continue;
        }
        let (host, port) = host_port(sh, i);
        pglog!(
            Severity::Log,
            "starting follow degeneration. shutdown host {}({})",
            host,
            port
        );
        b.set_status(BackendStatus::Down);
        hooks.write_status();
        count += 1;
    }
    if count == 0 {
        pglog!(
            Severity::Log,
            "failover: no follow backends are degenerated"
        );
    } else {
        pglog!(
            Severity::Log,
            "failover: {} follow backends have been degenerated",
            count
        );
    }
    if !cmd.is_empty() {
        hooks.fork_follow_child(FollowJob {
            old_primary,
            new_primary,
        });
    }
    Some(next_main_node(sh))
}

/// The follow child's work (§5.8): with the follow-primary lock held, run
/// `follow_primary_command` for every node down now, ascending.
pub fn run_follow_commands(cfg: &Config, sh: &Shmem, job: FollowJob) {
    let _ongoing = super::lock::mark_ongoing(cfg);
    let _lock = super::lock::acquire(cfg, true);
    for i in 0..sh.num_backends() {
        if sh.backend(i).status() != BackendStatus::Down {
            continue;
        }
        pglog!(
            Severity::Log,
            "=== Starting follow primary command for node {} ===",
            i
        );
        command::execute(
            cfg.get_str("follow_primary_command"),
            &CommandArgs {
                node: i as i32,
                new_main: job.new_primary,
                old_main: job.old_primary,
                old_primary: job.old_primary,
            },
            cfg.backends(),
        );
        pglog!(
            Severity::Log,
            "=== Follow primary command for node {} ended ===",
            i
        );
    }
}
