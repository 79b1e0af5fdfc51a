//! The main process's side of health checking and failover (spec/failover.md §2.1, §5,
//! architecture.md §2.2–§2.4, §9): forking one health-check process per backend slot and
//! re-forking it when it dies, running the failover procedure when a request was queued, and
//! the process actions that procedure asks for (killing and re-forking children, restarting
//! the worker, forking the follow child).

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{files, log_exit, signals, status_file, Exit, Main};
use crate::failover::procedure::{self, FollowJob, Hooks};
use crate::logger::{self, Severity};
use crate::pglog;
use crate::shmem::MAX_BACKENDS;

impl Main {
    /// Fork the health-check process of `node`. pgpool announces the forks it makes after
    /// start-up (`announce`), not those of its start-up.
    pub(super) fn fork_health_check(&mut self, node: usize, announce: bool) {
        if self.health_pids.len() < MAX_BACKENDS {
            self.health_pids.resize(MAX_BACKENDS, None);
        }
        let Some(child) = self.fork_aux("a health check process", |m| {
            crate::health::run(node, m.cfg.clone())
        }) else {
            return;
        };
        self.health_pids[node] = Some(child);
        if announce {
            let b = self.sh.backend(node);
            pglog!(
                Severity::Log,
                "start health check process for host {}({})",
                b.hostname.get(),
                b.port.load(Relaxed)
            );
        }
    }

    /// A health check for every configured slot that has none.
    pub(super) fn fork_health_checks(&mut self) {
        for node in 0..self.sh.num_backends() {
            let missing = self.health_pids.get(node).copied().flatten().is_none();
            if missing && self.sh.backend(node).port.load(Relaxed) != 0 {
                self.fork_health_check(node, true);
            }
        }
    }

    /// The health-check node of `pid`, if it is one.
    pub(super) fn health_node(&self, pid: Pid) -> Option<usize> {
        self.health_pids.iter().position(|p| *p == Some(pid))
    }

    /// A health check died: re-fork it unless a failover or shutdown runs or the node is not
    /// valid (§2.1). Some(code) = shut down.
    pub(super) fn reap_health(
        &mut self,
        node: usize,
        pid: Pid,
        code: Option<i32>,
        signal: Option<Signal>,
    ) -> Option<i32> {
        self.health_pids[node] = None;
        // pgpool's reaper names a health check a "child process"
        if let Exit::Fatal = log_exit("child process", pid, code, signal) {
            return Some(self.exit_after_child_fatal("child process"));
        }
        let switching = self.sh.header().switching.load(SeqCst);
        let shutting_down = signals::SHUTDOWN_SIGNAL.load(SeqCst) != 0;
        if !switching && !shutting_down && self.sh.backend(node).status().is_valid() {
            self.fork_health_check(node, true);
            if let Some(p) = self.health_pids[node] {
                pglog!(
                    Severity::Log,
                    "fork a new health check process with pid: {}",
                    p
                );
            }
        }
        None
    }

    /// Signal every health-check process.
    pub(super) fn signal_health_checks(&self, sig: Signal) {
        for p in self.health_pids.iter().flatten() {
            let _ = kill(*p, sig);
        }
    }

    /// Forget a reaped pid during shutdown.
    pub(super) fn forget_health_pid(&mut self, pid: Pid) {
        if let Some(n) = self.health_node(pid) {
            self.health_pids[n] = None;
        }
    }

    pub(super) fn health_checks_running(&self) -> bool {
        self.health_pids.iter().any(Option::is_some)
    }

    /// SIGUSR1 with a queued request: run the failover procedure.
    pub(super) fn run_failover(&mut self) {
        let cfg = self.cfg.clone();
        let sh = self.sh;
        procedure::failover(&cfg, sh, &mut Ops { m: self });
    }
}

/// The process actions of the failover procedure.
struct Ops<'a> {
    m: &'a mut Main,
}

impl Hooks for Ops<'_> {
    fn kill_children(&mut self, slots: &[usize]) {
        for &s in slots {
            let p = self.m.sh.process(s).pid.load(Relaxed);
            if p > 0 {
                let _ = kill(Pid::from_raw(p), Signal::SIGQUIT);
            }
        }
    }

    fn refork_children(&mut self, slots: &[usize]) {
        let sh = self.m.sh;
        for &s in slots {
            let info = sh.process(s);
            if info.counted.swap(false, SeqCst) {
                sh.header().conn_counter.fetch_sub(1, SeqCst);
            }
            for pool in 0..sh.max_pool {
                for node in 0..sh.num_backends() {
                    sh.connection(s, pool, node).clear();
                }
            }
            self.m.fork_child(s);
        }
    }

    fn close_idle(&mut self) {
        self.m.signal_children(Signal::SIGUSR1);
    }

    fn restart_worker(&mut self) {
        if let Some(p) = self.m.worker_pid {
            let _ = kill(p, Signal::SIGUSR1);
        }
    }

    fn fork_health_checks(&mut self) {
        self.m.fork_health_checks();
    }

    fn fork_follow_child(&mut self, job: FollowJob) {
        // the parent does not wait for it: its exit is reaped like any unknown child's
        let _ = self.m.fork_aux("the follow child", |m| {
            let _ = nix::unistd::setsid();
            logger::set_process("follow_child", "FOLLOW CHILD");
            crate::process_title::set("follow primary child");
            crate::failover::follow::run_follow_commands(&m.cfg, m.sh, job);
            0
        });
    }

    fn write_status(&mut self) {
        files::write_status(&status_file(&self.m.cfg), self.m.sh);
    }

    fn pause(&mut self, d: Duration) -> bool {
        let _ = crate::protocol::conn::wait_fd(
            self.m.pipe.fd(),
            nix::poll::PollFlags::POLLIN,
            Some(Instant::now() + d),
        );
        self.m.pipe.drain();
        signals::SHUTDOWN_SIGNAL.load(SeqCst) == 0
    }
}
