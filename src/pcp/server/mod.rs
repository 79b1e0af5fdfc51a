//! The PCP server (spec/pcp.md §1): the PCP main process the pgpool main process forks
//! (`pgpool: PCP: wait for connection request`) accepts on the PCP sockets the main process
//! created, and forks one worker (`worker`) per connection. It reaps its workers, re-reads
//! pgpool.conf on SIGHUP, and handles the shutdown signals: SIGTERM stops accepting and waits
//! for the workers (which finish their request), SIGINT/SIGQUIT forward and exit, SIGUSR1 asks
//! for a restart (exit and be re-forked), SIGUSR2 is passed on to the workers (it ends the wait
//! of a graceful detach or promote). The request handlers are in `info` (reading) and `ops`
//! (acting) and `recovery` (online recovery).

pub mod info;
pub mod ops;
pub mod recovery;
pub mod worker;

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicI32};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigHandler, Signal};
use nix::sys::socket::{accept4, setsockopt, sockopt, SockFlag};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::config::Config;
use crate::exit_code;
use crate::logger::{self, LogSettings, Severity};
use crate::main_process::signals;
use crate::pglog;

/// A request that failed: sent as an `E` packet (ERROR keeps the connection, FATAL ends it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcpError {
    pub fatal: bool,
    pub message: String,
    pub detail: Option<String>,
}

impl PcpError {
    pub fn error(message: impl Into<String>, detail: Option<String>) -> PcpError {
        PcpError {
            fatal: false,
            message: message.into(),
            detail,
        }
    }
    pub fn fatal(message: impl Into<String>, detail: Option<String>) -> PcpError {
        PcpError {
            fatal: true,
            message: message.into(),
            detail,
        }
    }
}

/// SIGUSR2 arrived (in a worker: the main process finished the operation it waits for).
pub(crate) static WAKEUP: AtomicBool = AtomicBool::new(false);

static GOT_HUP: AtomicBool = AtomicBool::new(false);
static GOT_USR1: AtomicBool = AtomicBool::new(false);
/// SIGTERM, SIGINT or SIGQUIT (the last one wins), 0 if none.
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    match sig {
        libc::SIGHUP => GOT_HUP.store(true, SeqCst),
        libc::SIGUSR1 => GOT_USR1.store(true, SeqCst),
        libc::SIGUSR2 => WAKEUP.store(true, SeqCst),
        libc::SIGTERM | libc::SIGINT | libc::SIGQUIT => STOP.store(sig, SeqCst),
        _ => {} // SIGCHLD: only interrupts poll
    }
}

const HANDLED: [Signal; 7] = [
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGCHLD,
];

fn install_signals() {
    // SAFETY: the handler only stores to atomics.
    unsafe { signals::set_disposition(&HANDLED, SigHandler::Handler(on_signal)) };
    signals::ignore(Signal::SIGPIPE);
}

/// Restore the default dispositions in a freshly forked worker.
fn default_signals() {
    // SAFETY: restoring the default disposition runs no code of ours.
    unsafe { signals::set_disposition(&HANDLED, SigHandler::SigDfl) };
}

/// One PCP listening socket: its descriptor and whether it is TCP.
pub type PcpSocket = (RawFd, bool);

/// The PCP main process; returns its exit code (1 = re-fork me, 0 = stopped).
pub fn run(
    mut cfg: Config,
    pcp_file: &Path,
    sockets: &[PcpSocket],
    logger_pid: Option<i32>,
) -> i32 {
    logger::set_process("pcp_main", "PCP");
    install_signals();
    crate::process_title::set("PCP: wait for connection request");
    pglog!(Severity::Log, "PCP process: {} started", std::process::id());
    let mut workers: Vec<Pid> = Vec::new();
    loop {
        let log = cfg.get_bool("log_pcp_processes");
        reap(&mut workers, log);
        let stop = STOP.load(SeqCst);
        if stop == libc::SIGTERM {
            return smart_stop(&mut workers, log);
        }
        if stop != 0 {
            forward(&workers, Signal::try_from(stop).unwrap_or(Signal::SIGINT));
            return exit_code::NO_RESTART;
        }
        if GOT_USR1.swap(false, SeqCst) {
            pglog!(
                Severity::Log,
                "restart request received in pcp child process"
            );
            forward(&workers, Signal::SIGTERM);
            return exit_code::RESTART;
        }
        if WAKEUP.swap(false, SeqCst) {
            forward(&workers, Signal::SIGUSR2);
        }
        if GOT_HUP.swap(false, SeqCst) {
            if let Ok((c, _)) = cfg.reload() {
                logger::apply(&LogSettings::from_config(&c));
                cfg = c;
            }
        }
        for (fd, tcp) in ready_sockets(sockets) {
            let Ok(conn) = accept4(fd, SockFlag::SOCK_CLOEXEC) else {
                continue;
            };
            // SAFETY: accept4 returned a new descriptor nothing else owns.
            let conn = unsafe { OwnedFd::from_raw_fd(conn) };
            if tcp {
                let _ = setsockopt(&conn, sockopt::TcpNoDelay, &true);
            }
            let fd = std::os::fd::AsRawFd::as_raw_fd(&conn);
            if let Some(pid) = fork_worker(&cfg, pcp_file, sockets, logger_pid, conn, tcp) {
                if cfg.get_bool("log_pcp_processes") {
                    pglog!(
                        Severity::Log,
                        "forked new pcp worker, pid={} socket={}",
                        pid,
                        fd
                    );
                }
                workers.push(pid);
            }
        }
    }
}

/// The listening sockets with a connection waiting (after at most one second).
fn ready_sockets(sockets: &[PcpSocket]) -> Vec<PcpSocket> {
    // SAFETY: the descriptors stay open in this process for its whole life.
    let fds: Vec<BorrowedFd> = sockets
        .iter()
        .map(|&(fd, _)| unsafe { BorrowedFd::borrow_raw(fd) })
        .collect();
    let mut pfds: Vec<PollFd> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    if poll(&mut pfds, PollTimeout::from(1000u16)).unwrap_or(0) <= 0 {
        return Vec::new();
    }
    pfds.iter()
        .zip(sockets)
        .filter(|(p, _)| p.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
        .map(|(_, s)| *s)
        .collect()
}

fn fork_worker(
    cfg: &Config,
    pcp_file: &Path,
    sockets: &[PcpSocket],
    logger_pid: Option<i32>,
    conn: OwnedFd,
    tcp: bool,
) -> Option<Pid> {
    let old = signals::block_all();
    // SAFETY: the PCP main process is single-threaded; the child only runs our code and exits.
    let r = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            default_signals();
            signals::restore_mask(&old);
            for &(fd, _) in sockets {
                // SAFETY: the worker never uses the listening sockets; nothing owns its copies.
                unsafe { libc::close(fd) };
            }
            let conn = if tcp {
                worker::Conn::Tcp(std::net::TcpStream::from(conn))
            } else {
                worker::Conn::Unix(std::os::unix::net::UnixStream::from(conn))
            };
            std::process::exit(worker::run(cfg, pcp_file, logger_pid, conn));
        }
        Ok(ForkResult::Parent { child }) => Some(child),
        Err(e) => {
            pglog!(Severity::Error, "failed to fork a PCP worker: {}", e);
            None
        }
    };
    signals::restore_mask(&old);
    r
}

/// Collect finished workers (releasing new clients one of them still held back); with
/// `log_pcp_processes`, log how each ended in pgpool's words, with the wait status word as
/// pgpool prints it. A worker killed by SIGSEGV is reported whatever the setting.
fn reap(workers: &mut Vec<Pid>, log: bool) {
    loop {
        let (pid, code, signal) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, c)) => (p, Some(c), None),
            Ok(WaitStatus::Signaled(p, sig, core)) => (p, None, Some((sig, core))),
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => continue,
        };
        workers.retain(|&w| w != pid);
        // a worker that died while holding new clients back (graceful detach/promote) lets
        // them in now
        if let Some(sh) = crate::shmem::try_shmem() {
            sh.release_clients_of(pid.as_raw());
        }
        if let Some((Signal::SIGSEGV, _)) = signal {
            pglog!(
                Severity::Warning,
                "PCP process with pid: {} was terminated by segmentation fault",
                pid
            );
            continue;
        }
        if !log {
            continue;
        }
        match (code, signal) {
            (Some(c), _) => {
                if c == crate::exit_code::FATAL {
                    pglog!(
                        Severity::Log,
                        "PCP worker process with pid: {} exit with FATAL ERROR.",
                        pid
                    );
                } else {
                    pglog!(
                        Severity::Log,
                        "PCP process with pid: {} exit with SUCCESS.",
                        pid
                    );
                }
                pglog!(
                    Severity::Log,
                    "PCP process with pid: {} exits with status {}",
                    pid,
                    c << 8
                );
            }
            (None, Some((sig, core))) => {
                let status = sig as i32 | if core { 0x80 } else { 0 };
                pglog!(
                    Severity::Log,
                    "PCP process with pid: {} exits with status {} by signal {}",
                    pid,
                    status,
                    sig as i32
                );
            }
            (None, None) => {}
        }
    }
}

fn forward(workers: &[Pid], sig: Signal) {
    for &w in workers {
        let _ = kill(w, sig);
    }
}

/// SIGTERM: no new connections; the workers finish their current request, then we exit.
fn smart_stop(workers: &mut Vec<Pid>, log: bool) -> i32 {
    forward(workers, Signal::SIGTERM);
    while !workers.is_empty() {
        let s = STOP.load(SeqCst);
        if s != libc::SIGTERM {
            forward(workers, Signal::try_from(s).unwrap_or(Signal::SIGINT));
            return exit_code::NO_RESTART;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        reap(workers, log);
    }
    exit_code::NO_RESTART
}
