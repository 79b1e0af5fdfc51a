//! The parent process: start-up (spec/architecture.md §2.1), forking the client children,
//! the main loop over the self-pipe (§2.2), reaping and respawning by exit code (§2.3, §2.4),
//! dynamic spare-children management (§2.5), primary detection at start-up and the worker
//! process's fork and respawn (§5, §13.5), reload, and the shutdown modes (§14). The
//! `stop` and `reload` command modes live here too.

pub mod cli;
mod failover;
pub mod files;
pub mod listen;
mod pcp;
pub mod signals;
mod spare;

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::backend::primary::NodeClass;
use crate::config::Config;
use crate::exit_code;
use crate::logger::{self, LogSettings, Severity};
use crate::pglog;
use crate::shmem::requests::details;
use crate::shmem::{BackendStatus, Shmem};
use cli::{Mode, Options, StopMode};
use listen::Listener;
use signals::SelfPipe;

/// Run the mode the command line chose; returns the process exit code.
pub fn run(opts: &Options) -> i32 {
    note_inherited_descriptors();
    logger::init(&LogSettings::default());
    logger::set_process("main", "MAIN");
    // each line's messages are logged as it is applied, under the settings applied so far, and
    // those before a failing line are logged before the FATAL (as pgpool does)
    let cfg = match Config::load_with(&opts.config_file, &mut log_diagnostic_under) {
        Ok(cfg) => cfg,
        Err(e) => {
            log_config_error(Severity::Fatal, &e);
            return exit_code::FATAL;
        }
    };
    if opts.debug {
        logger::force_debug1();
    }
    let settings = LogSettings::from_config(&cfg);
    logger::apply(&settings);
    // pgpool's first debug line (pool_init_config); with `-d` it shows that debug output is on
    pglog!(Severity::Debug1, "initializing pool configuration");
    match opts.mode {
        Mode::Stop(m) => stop(&cfg, m),
        Mode::Reload => reload(&cfg),
        Mode::Start => match start(opts, cfg, settings) {
            Ok(code) => code,
            Err(msg) => {
                pglog!(Severity::Fatal, "{}", msg);
                exit_code::FATAL
            }
        },
    }
}

/// The configuration loader's sink: log `d` under the log settings of `applied`, the
/// configuration as applied up to the line that raised it.
fn log_diagnostic_under(applied: &Config, d: &crate::config::Diag) {
    logger::apply(&LogSettings::from_config(applied));
    log_diagnostic(d);
}

/// Log one diagnostic returned by the configuration loader.
pub fn log_diagnostic(d: &crate::config::Diag) {
    use crate::config::Level;
    let sev = match d.level {
        Level::Debug => Severity::Debug2,
        Level::Log => Severity::Log,
        Level::Info => Severity::Info,
        Level::Warning => Severity::Warning,
    };
    match (&d.detail, &d.hint) {
        (Some(dt), Some(h)) => pglog!(sev, detail = dt, hint = h; "{}", d.message),
        (Some(dt), None) => pglog!(sev, detail = dt; "{}", d.message),
        (None, Some(h)) => pglog!(sev, hint = h; "{}", d.message),
        (None, None) => pglog!(sev, "{}", d.message),
    }
}

/// Log a configuration error at `sev` with its detail and hint.
pub fn log_config_error(sev: Severity, e: &crate::config::ConfigError) {
    match (e.detail(), e.hint()) {
        (Some(d), Some(h)) => pglog!(sev, detail = d, hint = h; "{}", e),
        (Some(d), None) => pglog!(sev, detail = d; "{}", e),
        (None, Some(h)) => pglog!(sev, hint = h; "{}", e),
        (None, None) => pglog!(sev, "{}", e),
    }
}

fn pid_file(cfg: &Config) -> PathBuf {
    cfg.resolve(cfg.get_str("pid_file_name"))
}

fn status_file(cfg: &Config) -> PathBuf {
    PathBuf::from(cfg.get_str("logdir")).join("pgpool_status")
}

/// The pid in the pid file for `stop` and `reload`, or the exit code after the FATAL: the
/// mode's `missing_code` when the file is missing (or gives no pid), 3 when it is empty or
/// unreadable (in both modes, as pgpool-II 4.3.5).
fn pid_for_command(cfg: &Config, missing_code: i32) -> Result<Pid, i32> {
    let path = pid_file(cfg);
    match files::read_pid(&path) {
        Ok(Some(pid)) => Ok(Pid::from_raw(pid)),
        Ok(None) => {
            pglog!(Severity::Fatal, "could not read pid file");
            Err(missing_code)
        }
        Err(e) => {
            let (msg, detail) = e.report(&path);
            pglog!(Severity::Fatal, detail = detail; "{}", msg);
            Err(exit_code::FATAL)
        }
    }
}

/// `pgpool stop`: signal the server and wait until it is gone (spec/cli.md §1.4).
fn stop(cfg: &Config, mode: StopMode) -> i32 {
    let path = pid_file(cfg);
    let pid = match pid_for_command(cfg, exit_code::FATAL) {
        Ok(pid) => pid,
        Err(code) => return code,
    };
    if let Err(e) = kill(pid, mode.signal()) {
        pglog!(Severity::Fatal, detail = e.desc(); "could not stop process with pid: {}", pid);
        return exit_code::FATAL;
    }
    let sent = || {
        pglog!(
            Severity::Log,
            "stop request sent to pgpool (pid: {}). waiting for termination...",
            pid
        )
    };
    sent();
    // one dot a second; every fifth second the signal again, announced again
    let mut polls = 0;
    while kill(pid, None).is_ok() {
        std::thread::sleep(Duration::from_secs(1));
        eprint!(".");
        polls += 1;
        if polls % 5 == 0 && kill(pid, mode.signal()).is_ok() {
            sent();
        }
    }
    eprintln!("done.");
    let _ = std::fs::remove_file(&path);
    0
}

/// `pgpool reload`: SIGHUP to the pid in the pid file (spec/cli.md §1.5).
fn reload(cfg: &Config) -> i32 {
    let pid = match pid_for_command(cfg, 1) {
        Ok(pid) => pid,
        Err(code) => return code,
    };
    if kill(pid, Signal::SIGHUP).is_err() {
        pglog!(
            Severity::Fatal,
            "could not reload configuration file pid: {}",
            pid
        );
        return 1;
    }
    0
}

/// Fork the logging collector; on SIGHUP it re-reads pgpool.conf itself.
fn start_logger(cfg: &Config, settings: &LogSettings) -> nix::Result<Pid> {
    let cfg = cfg.clone();
    logger::start_collector(settings, move || {
        cfg.reload().ok().map(|(c, _)| LogSettings::from_config(&c))
    })
}

/// Point our stdout/stderr away from the collector's pipe so that it sees end of file.
fn detach_from_collector() {
    if let Ok(devnull) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        for fd in [1, 2] {
            // SAFETY: dup2 onto this process's own standard descriptors.
            unsafe { libc::dup2(devnull.as_raw_fd(), fd) };
        }
    }
}

/// Fork into the background: parent exits, child becomes a session leader with stdio on
/// /dev/null, working directory `/`.
fn daemonize() -> Result<(), String> {
    // SAFETY: no other threads exist in the main process at this point.
    match unsafe { fork() }.map_err(|e| format!("could not fork daemon: {e}"))? {
        ForkResult::Parent { .. } => std::process::exit(0),
        ForkResult::Child => {}
    }
    nix::unistd::setsid().map_err(|e| format!("could not setsid: {e}"))?;
    let _ = std::env::set_current_dir("/");
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| e.to_string())?;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors of this process.
        unsafe { libc::dup2(devnull.as_raw_fd(), fd) };
    }
    drop(devnull);
    close_inherited_descriptors();
    Ok(())
}

/// The descriptors above stderr this process was started with (a shell's redirection, a
/// service manager's pipe), listed before we open anything of our own.
static INHERITED_FDS: std::sync::OnceLock<Vec<i32>> = std::sync::OnceLock::new();

fn note_inherited_descriptors() {
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| {
                let e = e.ok()?;
                // not the descriptor of this very listing (its number is free again afterwards)
                let target = std::fs::read_link(e.path()).ok()?;
                if target.starts_with("/proc") && target.ends_with("fd") {
                    return None;
                }
                e.file_name().to_str()?.parse().ok()
            })
            .filter(|&fd| fd > 2)
            .collect::<Vec<i32>>()
        })
        .unwrap_or_default();
    let _ = INHERITED_FDS.set(fds);
}

/// Close what we inherited, as pgpool closes every other descriptor when it detaches, so that
/// the daemon holds none of its caller's files or pipes. Descriptors we opened ourselves
/// before detaching (the syslog connection) stay.
fn close_inherited_descriptors() {
    for &fd in INHERITED_FDS.get().map(Vec::as_slice).unwrap_or_default() {
        // SAFETY: no Rust object owns these descriptors: they came through exec, and we only
        // close them once, in the detached daemon.
        unsafe { libc::close(fd) };
    }
}

/// Everything the parent keeps while running.
struct Main {
    cfg: Config,
    sh: &'static Shmem,
    listeners: Vec<Listener>,
    pipe: SelfPipe,
    logger_pid: Option<Pid>,
    /// The worker process (streaming-replication check), when running.
    worker_pid: Option<Pid>,
    /// The health-check process of each backend slot (`failover.rs`).
    health_pids: Vec<Option<Pid>>,
    spare: spare::SpareState,
    /// The PCP sockets and process.
    pcp: pcp::Pcp,
}

fn start(opts: &Options, cfg: Config, settings: LogSettings) -> Result<i32, String> {
    let pid_path = pid_file(&cfg);
    let old = match files::read_pid(&pid_path) {
        Ok(old) => old,
        Err(e) => {
            let (msg, detail) = e.report(&pid_path);
            pglog!(Severity::Fatal, detail = detail; "{}", msg);
            return Ok(exit_code::FATAL);
        }
    };
    if let Some(old) = old {
        if kill(Pid::from_raw(old), None).is_ok() {
            eprintln!("ERROR: pid file found. is another pgpool({old}) is running?");
            return Ok(1);
        }
        eprintln!("NOTICE: pid file found but it seems bogus. Trying to start pgpool anyway...");
    }
    if !opts.foreground {
        daemonize()?;
    }
    crate::process_title::init();
    crate::child::settings::set_pool_key(
        crate::auth::passwords::pool_key_path(opts.key_file.as_deref())
            .and_then(|p| crate::auth::passwords::read_pool_key_file(&p)),
    );
    // Frontend TLS context, once, before the first fork (spec/auth.md §5.1).
    crate::tls::init(&cfg).map_err(|e| format!("FATAL: {e}"))?;
    if let Err((step, e)) = files::write_pid(&pid_path, std::process::id() as i32) {
        pglog!(
            Severity::Fatal,
            detail = files::strerror(&e);
            "could not {} pid file \"{}\"",
            step,
            pid_path.display()
        );
        return Ok(exit_code::FATAL);
    }
    let result = start_inner(opts, cfg, settings);
    let _ = std::fs::remove_file(&pid_path);
    result
}

fn start_inner(opts: &Options, cfg: Config, settings: LogSettings) -> Result<i32, String> {
    let logger_pid = if cfg.get_bool("logging_collector") {
        Some(start_logger(&cfg, &settings).map_err(|e| format!("could not fork logger: {e}"))?)
    } else {
        None
    };
    let num_children = cfg.get_int("num_init_children").max(1) as usize;
    let sh = Shmem::create(num_children, cfg.get_int("max_pool").max(1) as usize)
        .map_err(|e| format!("failed to allocate shared memory: {e}"))?;
    init_backends(&cfg, opts, sh);
    crate::auth::hba::init(
        opts.hba_file.clone(),
        cfg.get_bool("enable_pool_hba"),
        cfg.get_bool("ssl"),
    );

    let port = cfg.get_int("port") as u16;
    let spec = listen::ListenSpec {
        addresses: cfg.get_list("listen_addresses"),
        port,
        socket_dirs: cfg.get_list("unix_socket_directories"),
        socket_permissions: cfg.get_int("unix_socket_permissions") as u32,
        socket_group: cfg.get_str("unix_socket_group").to_string(),
        backlog: (num_children as i64 * cfg.get_int("listen_backlog_multiplier")).clamp(1, 10000)
            as i32,
    };
    let listeners = listen::create(&spec)?;
    let pcp = pcp::Pcp::create(&cfg, opts.pcp_file.clone())?;
    let pipe = SelfPipe::install().map_err(|e| format!("could not create self pipe: {e}"))?;
    let mut m = Main {
        spare: spare::SpareState::default(),
        cfg,
        sh,
        listeners,
        pipe,
        logger_pid,
        worker_pid: None,
        pcp,
        health_pids: Vec::new(),
    };
    let initial = if m.dynamic() {
        let n = if m.cfg.get_enum("process_management_strategy") == "aggressive" {
            m.cfg.get_int("max_spare_children")
        } else {
            m.cfg.get_int("min_spare_children")
        };
        (n.max(1) as usize).min(num_children)
    } else {
        num_children
    };
    for slot in 0..initial {
        m.fork_child(slot);
    }
    let classes = m.detect_primary();
    m.fork_pcp();
    m.fork_worker();
    for node in 0..m.sh.num_backends() {
        if m.sh.backend(node).status().is_valid() {
            m.fork_health_check(node, false);
        }
    }
    files::write_status(&status_file(&m.cfg), sh);
    pglog!(
        Severity::Log,
        "pgpool-II successfully started. version {}",
        crate::version_string()
    );
    m.report_node_status(&classes);
    Ok(m.main_loop())
}

/// Move backend slots from the configuration into shared memory, applying pgpool_status.
fn init_backends(cfg: &Config, opts: &Options, sh: &Shmem) {
    let backends = cfg.backends();
    let configured: Vec<bool> = backends.iter().map(|b| b.port != 0).collect();
    let path = status_file(cfg);
    // a missing file is reported as missing, -D or not
    let saved = if opts.discard_status && path.exists() {
        let _ = std::fs::remove_file(&path);
        pglog!(
            Severity::Log,
            "Backend status file {} discarded",
            path.display()
        );
        None
    } else {
        files::read_status(&path, &configured)
    };
    let total: f64 = backends
        .iter()
        .filter(|b| b.port != 0)
        .map(|b| b.weight)
        .sum();
    sh.header()
        .num_backends
        .store(backends.len() as i32, Relaxed);
    for (i, b) in backends.iter().enumerate() {
        let info = sh.backend(i);
        info.hostname.set(&b.hostname);
        info.port.store(b.port as i32, Relaxed);
        let w = if b.port != 0 && total > 0.0 {
            b.weight / total
        } else {
            0.0
        };
        info.weight.store(w.to_bits(), Relaxed);
        let st = match (&saved, b.port) {
            (_, 0) => BackendStatus::Unused,
            (Some(s), _) => s[i],
            (None, _) => BackendStatus::ConnectWait,
        };
        info.set_status(st);
    }
    crate::backend::store_flags(cfg, sh);
    crate::failover::request::set_raw_mode(cfg.get_enum("backend_clustering_mode") == "raw");
    crate::failover::request::set_primary_mode(crate::backend::primary::has_primary_search(cfg));
    crate::backend::recompute_main_node(sh);
}

impl Main {
    fn dynamic(&self) -> bool {
        self.cfg.get_enum("process_management_mode") == "dynamic"
    }

    /// Fork a client child into ProcessInfo slot `slot`.
    fn fork_child(&mut self, slot: usize) {
        let old = signals::block_all();
        // SAFETY: the main process is single-threaded; the child only runs our code and exits.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                signals::reset_after_fork();
                signals::restore_mask(&old);
                let listeners: Vec<_> = self.listeners.iter().map(|l| (l.raw(), l.tcp)).collect();
                let code = crate::child::run(slot, self.cfg.clone(), &listeners);
                std::process::exit(code);
            }
            Ok(ForkResult::Parent { child }) => {
                self.sh.process(slot).reset(child.as_raw());
            }
            Err(e) => pglog!(Severity::Error, "failed to fork a child: {}", e),
        }
        signals::restore_mask(&old);
    }

    /// Primary detection at start-up, after the children were forked (spec/architecture.md
    /// §2.1 step 11): streaming and logical modes search; the others take main/replica roles.
    /// Returns each node's class from the search (empty when none ran).
    fn detect_primary(&mut self) -> Vec<NodeClass> {
        if !crate::backend::primary::has_primary_search(&self.cfg) {
            crate::backend::primary::set_main_roles(self.sh);
            return Vec::new();
        }
        let pipe = self.pipe.fd();
        let found =
            crate::backend::primary::find_primary_node_repeatedly(&self.cfg, self.sh, |d| {
                let _ = crate::protocol::conn::wait_fd(
                    pipe,
                    nix::poll::PollFlags::POLLIN,
                    Some(Instant::now() + d),
                );
                signals::SHUTDOWN_SIGNAL.load(SeqCst) == 0
            });
        crate::backend::primary::set_primary(self.sh, found.primary);
        found.classes
    }

    /// After the start-up message in streaming mode, each node's class from the start-up
    /// search (`node status[N]: M`, 0 unused, 1 primary, 2 standby, 3 invalid); a false
    /// primary found then is detached at once with `detach_false_primary` (failover.md §7.4).
    fn report_node_status(&self, classes: &[NodeClass]) {
        if self.cfg.get_enum("backend_clustering_mode") != "streaming_replication" {
            return;
        }
        for node in 0..self.sh.num_backends() {
            let class = classes.get(node).copied().unwrap_or(NodeClass::Unused);
            pglog!(Severity::Log, "node status[{}]: {}", node, class.number());
            if class == NodeClass::Invalid {
                pglog!(Severity::Log, "pgpool_main: invalid node found {}", node);
                if self.cfg.get_bool("detach_false_primary") {
                    let _ = crate::failover::request::degenerate_backend_set(
                        &[node],
                        details::SWITCHOVER | details::CONFIRMED,
                        false,
                    );
                }
            }
        }
    }

    /// Fork the worker process.
    fn fork_worker(&mut self) {
        self.worker_pid =
            self.fork_aux("the worker process", |m| crate::worker::run(m.cfg.clone()));
    }

    /// Fork an auxiliary process (worker, health check, PCP): the child closes its copies of the
    /// client listening sockets, runs `body` and exits with its code. The parent gets the pid
    /// (None, logged, when fork fails).
    pub(super) fn fork_aux(&self, what: &str, body: impl FnOnce(&Main) -> i32) -> Option<Pid> {
        let old = signals::block_all();
        // SAFETY: the main process is single-threaded; the child only runs our code and exits.
        let pid = match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                signals::reset_after_fork();
                signals::restore_mask(&old);
                for l in &self.listeners {
                    // SAFETY: a forked helper never uses the client sockets; closing its
                    // inherited copies leaves the parent's open. Nothing else owns them here.
                    unsafe { libc::close(l.raw()) };
                }
                std::process::exit(body(self));
            }
            Ok(ForkResult::Parent { child }) => Some(child),
            Err(e) => {
                pglog!(Severity::Error, "failed to fork {}: {}", what, e);
                None
            }
        };
        signals::restore_mask(&old);
        pid
    }

    /// The worker died: apply the restart policy (spec/architecture.md §2.3). Some(code) =
    /// shut down.
    fn reap_worker(&mut self, pid: Pid, code: Option<i32>, signal: Option<Signal>) -> Option<i32> {
        self.worker_pid = None;
        match log_exit("worker child process", pid, code, signal) {
            Exit::Success => {
                pglog!(Severity::Log, "worker child process with pid: {} exited with success and will not be restarted", pid);
                return None;
            }
            Exit::Fatal => return Some(self.exit_after_child_fatal("worker child process")),
            Exit::Restart => {}
        }
        self.fork_worker();
        if let Some(p) = self.worker_pid {
            pglog!(
                Severity::Log,
                "fork a new worker child process with pid: {}",
                p
            );
        }
        None
    }

    fn live_children(&self) -> Vec<(usize, Pid)> {
        (0..self.sh.num_children)
            .filter_map(|i| {
                let p = self.sh.process(i).pid.load(Relaxed);
                (p > 0).then(|| (i, Pid::from_raw(p)))
            })
            .collect()
    }

    fn main_loop(&mut self) -> i32 {
        loop {
            let sig = signals::SHUTDOWN_SIGNAL.load(SeqCst);
            if sig != 0 {
                return self.shutdown(sig);
            }
            if signals::GOT_SIGCHLD.swap(false, SeqCst) {
                if let Some(code) = self.reap() {
                    return code;
                }
            }
            if signals::GOT_SIGHUP.swap(false, SeqCst) {
                self.reload_config();
            }
            if signals::GOT_SIGUSR2.swap(false, SeqCst) {
                self.signal_children(Signal::SIGUSR2);
            }
            // a queued node operation (its SIGUSR1 may have arrived during start-up)
            if signals::GOT_SIGUSR1.swap(false, SeqCst) || self.sh.pending_requests() > 0 {
                self.run_failover();
                // "failover done": wakes PCP workers waiting in a graceful detach/promote or a
                // recovery (pgpool also restarts its PCP process here to refresh its copy of the
                // node states; ours reads them from shared memory, so the connections stay)
                self.pcp.signal(Signal::SIGUSR2);
            }
            if self.dynamic() {
                let (sh, cfg) = (self.sh, &self.cfg);
                let actions = self.spare.tick(sh, cfg);
                for slot in actions.fork {
                    self.fork_child(slot);
                }
            }
            let _ = crate::protocol::conn::wait_fd(
                self.pipe.fd(),
                nix::poll::PollFlags::POLLIN,
                Some(Instant::now() + Duration::from_secs(2)),
            );
            self.pipe.drain();
        }
    }

    /// Collect dead processes and apply the restart policy. Some(code) = shut down.
    fn reap(&mut self) -> Option<i32> {
        loop {
            let st = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return None,
                Ok(st) => st,
            };
            let (pid, code, signal) = match st {
                WaitStatus::Exited(p, c) => (p, Some(c), None),
                WaitStatus::Signaled(p, s, _) => (p, None, Some(s)),
                _ => continue,
            };
            if Some(pid) == self.logger_pid {
                pglog!(
                    Severity::Warning,
                    "logger process with pid {} exited; restarting",
                    pid
                );
                self.logger_pid =
                    start_logger(&self.cfg, &LogSettings::from_config(&self.cfg)).ok();
                continue;
            }
            if Some(pid) == self.worker_pid {
                if let Some(code) = self.reap_worker(pid, code, signal) {
                    return Some(code);
                }
                continue;
            }
            if self.pcp.is(pid) {
                if let Some(code) = self.reap_pcp(pid, code, signal) {
                    return Some(code);
                }
                continue;
            }
            if let Some(node) = self.health_node(pid) {
                if let Some(code) = self.reap_health(node, pid, code, signal) {
                    return Some(code);
                }
                continue;
            }
            let Some(slot) = self.sh.child_by_pid(pid.as_raw()) else {
                continue;
            };
            let info = self.sh.process(slot);
            if info.counted.swap(false, SeqCst) {
                self.sh.header().conn_counter.fetch_sub(1, SeqCst);
            }
            match log_exit("child process", pid, code, signal) {
                Exit::Success => {
                    info.pid.store(0, Relaxed);
                    if !self.dynamic() {
                        pglog!(Severity::Log, "child process with pid: {} exited with success and will not be restarted", pid);
                    }
                    continue;
                }
                Exit::Fatal => {
                    info.pid.store(0, Relaxed);
                    return Some(self.exit_after_child_fatal("child process"));
                }
                Exit::Restart => {}
            }
            // Its pooled backend connections died with it: forget them.
            for pool in 0..self.sh.max_pool {
                for node in 0..self.sh.num_backends() {
                    self.sh.connection(slot, pool, node).clear();
                }
            }
            if self.dynamic() {
                info.pid.store(0, Relaxed);
            } else {
                self.fork_child(slot);
                pglog!(
                    Severity::Log,
                    "fork a new child process with pid: {}",
                    self.sh.process(slot).pid.load(Relaxed)
                );
            }
        }
    }

    /// The worker and the health checks have no session to finish: any shutdown mode ends
    /// them at once.
    fn signal_worker(&self, sig: i32) {
        let sig = Signal::try_from(sig).unwrap_or(Signal::SIGTERM);
        if let Some(p) = self.worker_pid {
            let _ = kill(p, sig);
        }
        self.signal_health_checks(sig);
    }

    fn signal_children(&self, sig: Signal) {
        for (_, pid) in self.live_children() {
            let _ = kill(pid, sig);
        }
    }

    /// SIGHUP: re-read pgpool.conf, apply what may change, pass the signal on.
    fn reload_config(&mut self) {
        pglog!(Severity::Log, "reload config files.");
        match self.cfg.reload_with(&mut log_diagnostic_under) {
            Ok(cfg) => {
                let settings = LogSettings::from_config(&cfg);
                logger::apply(&settings);
                crate::backend::apply_reloaded_backends(&cfg, self.sh);
                crate::auth::hba::reload(cfg.get_bool("enable_pool_hba"), cfg.get_bool("ssl"));
                self.cfg = cfg;
            }
            Err(e) => {
                // the old settings again, whatever a diagnostic before the error applied
                logger::apply(&LogSettings::from_config(&self.cfg));
                log_config_error(Severity::Warning, &e);
            }
        }
        files::write_status(&status_file(&self.cfg), self.sh);
        self.signal_children(Signal::SIGHUP);
        if let Some(p) = self.worker_pid {
            let _ = kill(p, Signal::SIGHUP);
        }
        self.pcp.signal(Signal::SIGHUP);
        self.signal_health_checks(Signal::SIGHUP);
        self.fork_health_checks();
        if let Some(p) = self.logger_pid {
            let _ = kill(p, Signal::SIGHUP);
        }
    }

    /// Shut down in the mode of `sig` (SIGTERM smart, SIGINT fast, SIGQUIT immediate).
    fn shutdown(&mut self, sig: i32) -> i32 {
        pglog!(Severity::Log, "shutting down by signal {}", sig);
        self.terminate_all(sig, true);
        pglog!(Severity::Log, "Pgpool-II system is shutdown");
        self.wait_for_logger();
        0
    }

    /// A process we forked exited with the fatal code (its LOG line is written): pgpool raises
    /// FATAL `<kind> exit with fatal error. exiting pgpool-II` in the main process, whose exit
    /// path logs `shutting down`, ends every child as a fast shutdown does and exits with
    /// `EXIT_AFTER_CHILD_FATAL` (spec/architecture.md §2.3).
    fn exit_after_child_fatal(&mut self, what: &str) -> i32 {
        pglog!(
            Severity::Fatal,
            "{} exit with fatal error. exiting pgpool-II",
            what
        );
        pglog!(Severity::Log, "shutting down");
        self.terminate_all(libc::SIGINT, false);
        self.wait_for_logger();
        EXIT_AFTER_CHILD_FATAL
    }

    /// Close and remove the listening sockets, send `sig` to every process we forked and wait
    /// until all have exited, then rewrite pgpool_status. `announce` logs `terminating all
    /// child processes` (a shutdown by signal does, the exit after a fatal child does not).
    fn terminate_all(&mut self, sig: i32, announce: bool) {
        listen::unlink_all(&self.listeners);
        self.listeners.clear();
        self.pcp.close();
        if announce {
            pglog!(Severity::Log, "terminating all child processes");
        }
        let mut sent = sig;
        self.signal_children(Signal::try_from(sent).unwrap_or(Signal::SIGINT));
        self.signal_worker(sent);
        self.pcp
            .signal(Signal::try_from(sent).unwrap_or(Signal::SIGINT));
        // Wait for every child; a faster mode arriving meanwhile is passed on.
        loop {
            while let Ok(WaitStatus::Exited(p, _) | WaitStatus::Signaled(p, _, _)) =
                waitpid(None, Some(WaitPidFlag::WNOHANG))
            {
                if let Some(slot) = self.sh.child_by_pid(p.as_raw()) {
                    self.sh.process(slot).pid.store(0, Relaxed);
                }
                if Some(p) == self.worker_pid {
                    self.worker_pid = None;
                }
                self.pcp.forget(p);
                self.forget_health_pid(p);
            }
            if self.live_children().is_empty()
                && self.worker_pid.is_none()
                && !self.pcp.running()
                && !self.health_checks_running()
            {
                break;
            }
            let now_sig = signals::SHUTDOWN_SIGNAL.load(SeqCst);
            if now_sig != sent {
                sent = now_sig;
                self.signal_children(Signal::try_from(sent).unwrap_or(Signal::SIGINT));
                self.signal_worker(sent);
                self.pcp
                    .signal(Signal::try_from(sent).unwrap_or(Signal::SIGINT));
            }
            let _ = crate::protocol::conn::wait_fd(
                self.pipe.fd(),
                nix::poll::PollFlags::POLLIN,
                Some(Instant::now() + Duration::from_millis(200)),
            );
            self.pipe.drain();
        }
        files::write_status(&status_file(&self.cfg), self.sh);
    }

    /// The logging collector exits when the last writer of its pipe is gone: close ours and
    /// wait (bounded) for it.
    fn wait_for_logger(&mut self) {
        if let Some(p) = self.logger_pid.take() {
            detach_from_collector();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if matches!(
                    waitpid(p, Some(WaitPidFlag::WNOHANG)),
                    Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..)) | Err(_)
                ) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The main process's exit status after a child's fatal exit: pgpool-II 4.3.5 exits with 1
/// there (its FATAL once running; 3 is for a FATAL during start-up), observed with a child made
/// to `_exit(3)`. Any non-zero status makes a service manager's `Restart=on-failure` act.
const EXIT_AFTER_CHILD_FATAL: i32 = 1;

/// How a child or the worker ended, by the exit-code policy (spec/architecture.md §2.3).
enum Exit {
    /// Exit code 0: not restarted.
    Success,
    /// Exit code 3: the server shuts down.
    Fatal,
    /// Anything else: a replacement is forked.
    Restart,
}

/// Log the end of a forked process with pgpool's wording (`what`: "child process", "worker
/// child process") and classify it. An exit is logged with the raw wait status, as pgpool logs
/// it (exit code 1 is `status 256`, 3 is `status 768`).
fn log_exit(what: &str, pid: Pid, code: Option<i32>, signal: Option<Signal>) -> Exit {
    match (code, signal) {
        (Some(c), _) => pglog!(
            Severity::Log,
            "{} with pid: {} exits with status {}",
            what,
            pid,
            (c & 0xff) << 8
        ),
        (None, Some(s)) => {
            let sev = if matches!(s, Signal::SIGSEGV | Signal::SIGKILL) {
                Severity::Warning
            } else {
                Severity::Log
            };
            pglog!(
                sev,
                "{} with pid: {} exited with status {} by signal {}",
                what,
                pid,
                s as i32,
                s as i32
            );
        }
        _ => {}
    }
    match code {
        Some(0) => Exit::Success,
        Some(c) if c == exit_code::FATAL => Exit::Fatal,
        _ => Exit::Restart,
    }
}
