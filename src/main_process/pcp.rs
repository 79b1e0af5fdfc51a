//! The main process's side of the PCP server (spec/pcp.md §1, architecture.md §2.2–§2.4): the
//! PCP sockets (TCP on each `pcp_listen_addresses` entry, `<pcp_socket_dir>/.s.PGSQL.<pcp_port>`
//! with mode 0777) created at start-up and removed at shutdown, and the PCP main process, forked
//! after the children and re-forked whenever it dies.

use std::path::PathBuf;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::listen::{self, Listener};
use super::{log_exit, Exit, Main};
use crate::config::Config;
use crate::logger::Severity;
use crate::pglog;

/// The PCP sockets and the PCP main process's pid.
pub(super) struct Pcp {
    listeners: Vec<Listener>,
    pcp_file: PathBuf,
    pid: Option<Pid>,
}

impl Pcp {
    /// Create the PCP sockets.
    pub(super) fn create(cfg: &Config, pcp_file: PathBuf) -> Result<Pcp, String> {
        let spec = listen::ListenSpec {
            addresses: cfg.get_list("pcp_listen_addresses"),
            port: cfg.get_int("pcp_port") as u16,
            socket_dirs: cfg.get_list("pcp_socket_dir"),
            socket_permissions: 0o777,
            socket_group: String::new(),
            backlog: 10000,
        };
        Ok(Pcp {
            listeners: listen::create(&spec)?,
            pcp_file,
            pid: None,
        })
    }

    pub(super) fn is(&self, pid: Pid) -> bool {
        self.pid == Some(pid)
    }

    pub(super) fn running(&self) -> bool {
        self.pid.is_some()
    }

    /// It exited (during shutdown: no re-fork).
    pub(super) fn forget(&mut self, pid: Pid) {
        if self.is(pid) {
            self.pid = None;
        }
    }

    pub(super) fn signal(&self, sig: Signal) {
        if let Some(p) = self.pid {
            let _ = kill(p, sig);
        }
    }

    /// Shutdown: remove the socket files and close the sockets.
    pub(super) fn close(&mut self) {
        listen::unlink_all(&self.listeners);
        self.listeners.clear();
    }
}

impl Main {
    /// Fork the PCP main process.
    pub(super) fn fork_pcp(&mut self) {
        self.pcp.pid = self.fork_aux("the PCP process", |m| {
            let sockets: Vec<_> = m.pcp.listeners.iter().map(|l| (l.raw(), l.tcp)).collect();
            let logger = m.logger_pid.map(Pid::as_raw);
            crate::pcp::server::run(m.cfg.clone(), &m.pcp.pcp_file, &sockets, logger)
        });
    }

    /// The PCP main process died: fork a new one (a fatal exit shuts the server down).
    pub(super) fn reap_pcp(
        &mut self,
        pid: Pid,
        code: Option<i32>,
        signal: Option<Signal>,
    ) -> Option<i32> {
        self.pcp.pid = None;
        if let Exit::Fatal = log_exit("PCP child process", pid, code, signal) {
            return Some(self.exit_after_child_fatal("PCP child process"));
        }
        self.fork_pcp();
        if let Some(p) = self.pcp.pid {
            pglog!(
                Severity::Log,
                "fork a new PCP child process with pid: {}",
                p
            );
        }
        None
    }
}
