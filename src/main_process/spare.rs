//! Dynamic process management (`process_management_mode = dynamic`, spec/architecture.md
//! §2.5): on every main-loop wake-up, fork children when idle ones fall below
//! `min_spare_children`, and after a strategy-dependent delay ask surplus idle children to exit
//! (`exit_if_idle` + SIGUSR2).

use std::sync::atomic::Ordering::{Relaxed, SeqCst};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::config::Config;
use crate::shmem::{ChildStatus, Shmem};

#[derive(Default)]
pub struct SpareState {
    high_load_counter: u64,
}

/// What the main loop must do after a tick.
pub struct Actions {
    /// Empty ProcessInfo slots to fork a child into.
    pub fork: Vec<usize>,
}

impl SpareState {
    pub fn tick(&mut self, sh: &Shmem, cfg: &Config) -> Actions {
        let min_spare = cfg.get_int("min_spare_children").max(0) as usize;
        let max_spare = cfg.get_int("max_spare_children").max(0) as usize;
        let live: Vec<usize> = (0..sh.num_children)
            .filter(|&i| sh.process(i).pid.load(Relaxed) > 0)
            .collect();
        let connected = sh.header().conn_counter.load(SeqCst).max(0) as usize;
        let idle = live.len().saturating_sub(connected);
        let mut actions = Actions { fork: Vec::new() };
        if idle > max_spare {
            self.high_load_counter += 1;
            let (wait_cycles, every, per_shot) = match cfg.get_enum("process_management_strategy") {
                "aggressive" => (25, 2, 8),
                "lazy" => (150, 10, 3),
                _ => (60, 5, 3),
            };
            if self.high_load_counter < wait_cycles || !self.high_load_counter.is_multiple_of(every)
            {
                return actions;
            }
            let kill_count = (idle - max_spare).min(per_shot);
            let mut candidates: Vec<usize> = live
                .into_iter()
                .filter(|&i| sh.process(i).status() == ChildStatus::WaitForConnect)
                .collect();
            if cfg.get_enum("process_management_strategy") != "aggressive" {
                candidates.sort_by_key(|&i| sh.process(i).pooled_connections.load(Relaxed));
            }
            for i in candidates.into_iter().take(kill_count) {
                let p = sh.process(i);
                if p.status() == ChildStatus::WaitForConnect {
                    p.exit_if_idle.store(true, SeqCst);
                    let _ = kill(Pid::from_raw(p.pid.load(Relaxed)), Signal::SIGUSR2);
                }
            }
        } else {
            self.high_load_counter = 0;
            if idle < min_spare {
                let want = (min_spare - idle) + max_spare / 4;
                actions.fork = (0..sh.num_children)
                    .filter(|&i| sh.process(i).pid.load(Relaxed) == 0)
                    .take(want)
                    .collect();
            }
        }
        actions
    }
}
