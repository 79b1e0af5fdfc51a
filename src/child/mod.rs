//! A client child process (spec/architecture.md §3): the accept loop over the inherited
//! listeners, one client session at a time (startup packet, pooled or new backend connection,
//! the session loop, reset and release), the child's timers and its signal handling. The
//! session loop itself lives in `crate::session`.

mod accept;
pub(crate) mod cancel;
mod client_auth;
mod connect;
mod scheduling;
pub mod settings;
pub mod signals;

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Instant;

use crate::backend::Snapshot;
use crate::config::Config;
use crate::exit_code;
use crate::logger::{self, Severity};
use crate::pglog;
use crate::pool::Pool;
use crate::protocol::pgerror::PgError;
use crate::protocol::Conn;
use crate::shmem::{now, shmem, ChildStatus, Shmem};
use settings::ChildSettings;

/// Where a client connection came from, for logs and the process title.
#[derive(Debug, Clone)]
pub struct Peer {
    /// `127.0.0.1` or `[local]`.
    pub host: String,
    /// Port, empty for Unix sockets.
    pub port: String,
}

impl Peer {
    /// `host(port)` as in pgpool's process title.
    pub fn title(&self) -> String {
        if self.port.is_empty() {
            self.host.clone()
        } else {
            format!("{}({})", self.host, self.port)
        }
    }
}

/// A child's private state.
pub struct Child {
    pub slot: usize,
    pub cfg: Config,
    pub settings: ChildSettings,
    pub sh: &'static Shmem,
    pub pool: Pool,
    pub snapshot: Snapshot,
    pub sessions_served: i64,
    /// Routing settings compiled from `cfg` (built at the first session, again after a reload).
    router: Option<std::rc::Rc<crate::router::Router>>,
    /// Catalog facts cached by this process (routing's relation cache).
    pub relcache: crate::session::RelCache,
    /// Load-balancing choices.
    pub rng: rand::rngs::StdRng,
    /// Per pool slot: temporary-table answers kept for the next client of the same backend
    /// connections, with the (create time, main backend pid) they belong to.
    pub slot_temp: Vec<Option<((i64, i32), crate::session::TempTables)>>,
    /// pool_passwd, kept open between sessions and reopened on reload.
    pub pool_passwd: crate::config::files::PoolPasswdReader,
    /// The read buffer of the previous client connection, reused by the next one.
    client_buf: Vec<u8>,
    /// The statement logging of the session that just ended, for its reset.
    pub statement_logging: crate::session::StatementLogging,
    /// The current client as pgpool's "from client" log lines name it: `host(port)`.
    pub client_label: String,
}

/// Entry point after fork. Returns the process exit code.
pub fn run(slot: usize, cfg: Config, listeners: &[(RawFd, bool)]) -> i32 {
    logger::set_process("child", "CHILD");
    signals::install();
    crate::process_title::set("wait for connection request");
    let sh = shmem();
    pglog!(Severity::Debug1, "initializing backend status");
    let settings = ChildSettings::from_config(&cfg);
    scheduling::apply(settings.sched_batch);
    for pool in 0..sh.max_pool {
        for node in 0..crate::shmem::MAX_BACKENDS {
            sh.connection(slot, pool, node).clear();
        }
    }
    // start-context parameters: read once
    let relcache =
        crate::session::RelCache::new(cfg.get_int("relcache_size"), cfg.get_int("relcache_expire"));
    let mut child = Child {
        slot,
        pool: Pool::new(slot, sh.max_pool),
        snapshot: Snapshot::take(sh),
        settings,
        cfg,
        sh,
        sessions_served: 0,
        router: None,
        relcache,
        rng: rand::SeedableRng::from_entropy(),
        slot_temp: (0..sh.max_pool.max(1)).map(|_| None).collect(),
        pool_passwd: Default::default(),
        client_buf: Vec::new(),
        statement_logging: Default::default(),
        client_label: String::new(),
    };
    let code = child.accept_loop(listeners);
    child.pool.close_all(sh);
    code
}

impl Child {
    /// The routing settings of the current configuration.
    pub fn router(&mut self) -> std::rc::Rc<crate::router::Router> {
        self.router
            .get_or_insert_with(|| std::rc::Rc::new(crate::router::Router::from_config(&self.cfg)))
            .clone()
    }

    fn info(&self) -> &'static crate::shmem::ProcessInfo {
        self.sh.process(self.slot)
    }

    /// Signals and requests that end the process between sessions (the requests logged as
    /// pgpool logs them).
    fn exit_requested(&self) -> Option<i32> {
        if signals::FAST_EXIT.load(SeqCst) || signals::SMART_EXIT.load(SeqCst) {
            return Some(exit_code::NO_RESTART);
        }
        if self.info().need_to_restart.load(SeqCst) {
            pglog!(Severity::Log, detail = "restarting myself"; "failover or failback event detected");
            return Some(exit_code::RESTART);
        }
        if self.info().exit_if_idle.load(SeqCst) {
            pglog!(Severity::Log, detail = "Exiting myself"; "Exit flag set");
            return Some(exit_code::NO_RESTART);
        }
        None
    }

    /// Apply a pending SIGHUP: re-read pgpool.conf (reload context) and everything derived from
    /// it. Returns whether a reload was pending. Called between sessions and, inside a session,
    /// after each batch of client messages (pgpool checks at every protocol-loop iteration).
    pub fn apply_pending_reload(&mut self) -> bool {
        // a plain load first: this runs on every session-loop iteration
        if !signals::RELOAD.load(Relaxed) || !signals::RELOAD.swap(false, SeqCst) {
            return false;
        }
        if let Ok((cfg, _)) = self.cfg.reload() {
            self.settings = ChildSettings::from_config(&cfg);
            scheduling::apply(self.settings.sched_batch);
            crate::auth::hba::reload(self.settings.enable_pool_hba, self.settings.ssl);
            self.router = None;
            self.pool_passwd.reopen();
            logger::apply(&logger::LogSettings::from_config(&cfg));
            self.cfg = cfg;
        }
        true
    }

    /// Between sessions: apply a pending reload and close-idle request, expire pooled slots.
    fn housekeeping(&mut self) {
        self.apply_pending_reload();
        if signals::CLOSE_IDLE.swap(false, SeqCst) {
            self.pool.close_idle(self.sh);
        }
        self.pool
            .expire(self.sh, self.settings.connection_life_time);
        self.info()
            .pooled_connections
            .store(self.pool.pooled() as i32, Relaxed);
    }

    fn accept_loop(&mut self, listeners: &[(RawFd, bool)]) -> i32 {
        let set = match accept::AcceptSet::new(listeners) {
            Ok(set) => set,
            Err(e) => {
                pglog!(
                    Severity::Fatal,
                    "could not watch the listening sockets: {}",
                    e
                );
                return exit_code::FATAL;
            }
        };
        loop {
            if let Some(code) = self.exit_requested() {
                return code;
            }
            self.housekeeping();
            self.info().set_status(ChildStatus::WaitForConnect);
            let (fd, peer) = match accept::wait_for_connection(self, &set) {
                accept::Accepted::Client(fd, peer) => (fd, peer),
                accept::Accepted::Retry => continue,
                accept::Accepted::LifeTimeExpired => return exit_code::RESTART,
            };
            self.info().set_status(ChildStatus::Connecting);
            self.info().exit_if_idle.store(false, SeqCst);
            // a pooled slot may have expired while this child waited
            self.pool
                .expire(self.sh, self.settings.connection_life_time);
            if !self.serve(fd, peer) {
                continue;
            }
            self.sessions_served += 1;
            self.info().client_connection_count.fetch_add(1, Relaxed);
            if self.settings.child_max_connections > 0
                && self.sessions_served >= self.settings.child_max_connections
            {
                pglog!(
                    Severity::Log,
                    "child exiting, {} connections reached",
                    self.sessions_served
                );
                return exit_code::RESTART;
            }
        }
    }

    /// Serve one accepted client from the first byte to the close. False for a cancel
    /// request, which does not count as a session (spec/architecture.md §3.2).
    fn serve(&mut self, fd: OwnedFd, peer: Peer) -> bool {
        let hdr = self.sh.header();
        let n = hdr.conn_counter.fetch_add(1, SeqCst) + 1;
        self.info().counted.store(true, SeqCst);
        let client = Conn::with_buffer(fd, std::mem::take(&mut self.client_buf));
        let release_counter = |c: &Child| {
            if c.info().counted.swap(false, SeqCst) {
                c.sh.header().conn_counter.fetch_sub(1, SeqCst);
            }
        };
        if self.settings.reserved_connections > 0
            && n > self.settings.num_init_children - self.settings.reserved_connections
        {
            release_counter(self);
            pglog!(Severity::Error, "Sorry, too many clients already");
            send_error(
                &client,
                &PgError::fatal("53300", "Sorry, too many clients already"),
            );
            return true;
        }
        if self.settings.log_connections {
            pglog!(Severity::Log, detail = format!("connecting host={}{}{}", peer.host, if peer.port.is_empty() { "" } else { " port=" }, peer.port); "new connection received");
        }
        let started = Instant::now();
        self.client_label = format!("{}({})", peer.host, peer.port);
        self.snapshot = Snapshot::take(self.sh);
        let mut client = client;
        let (sp, cancel) = match connect::read_startup(self, &mut client) {
            connect::Opening::Startup(sp) => (Some(sp), false),
            connect::Opening::Cancel => (None, true),
            connect::Opening::Ended => (None, false),
        };
        let outcome = sp
            .as_ref()
            .and_then(|sp| connect::open_session(self, &mut client, &peer, sp));
        if let (Some((pool_idx, fresh)), Some(sp)) = (outcome, sp.as_ref()) {
            logger::set_session(Some(&sp.user), Some(&sp.database));
            // a client without one is `[unknown]` in the log prefix, not `child`
            logger::set_application_name(&sp.application_name);
            let title_prefix = format!("{} {} {}", sp.user, sp.database, peer.title());
            crate::process_title::set(&format!("{title_prefix} idle"));
            self.info().connected.store(true, Relaxed);
            self.info().current_pool.store(pool_idx as i32, Relaxed);
            let end = crate::session::run(self, &mut client, pool_idx, fresh, &title_prefix);
            self.finish_session(pool_idx, end, sp);
            self.info().current_pool.store(-1, Relaxed);
        }
        // every accepted connection, a cancel request or a refused one too, as pgpool logs it
        if self.settings.log_disconnections {
            let ms = started.elapsed().as_millis();
            let (user, database) = sp.as_ref().map_or(("(null)", "(null)"), |sp| {
                (sp.user.as_str(), sp.database.as_str())
            });
            pglog!(
                Severity::Log,
                "frontend disconnection: session time: {}:{:02}:{:02}.{:03} user={} database={} host={}{}{}",
                ms / 3_600_000,
                (ms / 60_000) % 60,
                (ms / 1000) % 60,
                ms % 1000,
                user,
                database,
                peer.host,
                if peer.port.is_empty() { "" } else { " port=" },
                peer.port
            );
        }
        logger::set_session(None, None);
        logger::set_application_name("child");
        self.client_buf = client.into_buffer();
        release_counter(self);
        crate::process_title::set("wait for connection request");
        !cancel
    }

    /// Reset and release the slot, or close it (spec/architecture.md §3.8).
    fn finish_session(
        &mut self,
        pool_idx: usize,
        end: crate::session::End,
        sp: &crate::protocol::startup::StartupPacket,
    ) {
        use crate::session::End;
        let keep_db = !matches!(
            sp.database.as_str(),
            "template0" | "template1" | "postgres" | "regression"
        );
        // pgpool resets the connections of those databases too, then closes them
        let reset = self.settings.connection_cache
            && matches!(end, End::Terminate)
            && !signals::FAST_EXIT.load(SeqCst)
            && crate::session::reset(self, pool_idx);
        let keep = reset && keep_db;
        let t = now();
        for node in 0..self.sh.num_backends() {
            let ci = self.sh.connection(self.slot, pool_idx, node);
            ci.connected.store(false, Relaxed);
            ci.client_disconnection_time.store(t, Relaxed);
        }
        if keep {
            self.pool.release(self.sh, pool_idx);
        } else {
            self.pool.discard(self.sh, pool_idx);
        }
        self.info()
            .pooled_connections
            .store(self.pool.pooled() as i32, Relaxed);
    }
}

/// Send a pgpool-originated error to a client, ignoring write errors (the client may be gone).
pub fn send_error(client: &Conn, e: &PgError) {
    let mut out = Vec::with_capacity(128);
    e.to_message(&mut out);
    let _ = client.write_all(&out);
}

/// Wrap an accepted descriptor.
pub(crate) fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by accept(2) and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
