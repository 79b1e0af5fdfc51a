//! A throw-away PostgreSQL 15 cluster on 127.0.0.1: a primary (node 0) and `standbys` streaming
//! standbys (nodes 1..), made with `initdb` and `pg_basebackup -R -X stream` plus a replication
//! slot each. Layout under a fresh `/tmp/pgrs-test-XXXXXX` owned by the server OS user:
//! `nodeN/` data directories, `log/nodeN.log` server logs, and every node's unix socket
//! (`.s.PGSQL.<port>`) in the directory itself.
//!
//! Authentication: the superuser `postgres` is always trusted (the helper itself logs in as it),
//! replication is trusted, roles made with `create_role` get their own pg_hba.conf line with the
//! method asked for, and every other role falls through to `ClusterSpec::auth`.
//!
//! Teardown: dropping a `Cluster` stops every node with `pg_ctl stop -m immediate` and removes the
//! directory. A watchdog process (support/watchdog.rs) does the same — SIGQUIT to each postmaster,
//! then `rm -rf` — if the test process dies without dropping it. `shared_cluster()` is a static
//! that is never dropped; an `atexit` handler tears it down when the test binary exits, and its
//! watchdog covers the exits that skip `atexit`. `PGRS_TEST_KEEP_DIRS=1` keeps the directories
//! (servers still stopped) for a post-mortem.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use super::os_user::os_user;
use super::ports::PortBlock;
use super::watchdog::Watchdog;
use super::{tail, wait_until, HOST};

/// The database superuser every cluster is created with.
pub const SUPERUSER: &str = "postgres";
/// Bound on server start, standbys catching up, and the like.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);
const SIGHUP_LOG_LINE: &str = "received SIGHUP, reloading configuration files";

/// Where the PostgreSQL server binaries are (`PGRS_PGBIN` overrides the Debian location).
pub fn pgbin() -> PathBuf {
    std::env::var_os("PGRS_PGBIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

/// A backend authentication method, as written in pg_hba.conf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Trust,
    /// clear-text password
    Password,
    Md5,
    ScramSha256,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 4] = [
        AuthMethod::Trust,
        AuthMethod::Password,
        AuthMethod::Md5,
        AuthMethod::ScramSha256,
    ];

    /// The pg_hba.conf method keyword.
    pub fn hba(self) -> &'static str {
        match self {
            AuthMethod::Trust => "trust",
            AuthMethod::Password => "password",
            AuthMethod::Md5 => "md5",
            AuthMethod::ScramSha256 => "scram-sha-256",
        }
    }

    /// How the role's password is stored: md5 must be an md5 hash (with a SCRAM verifier the
    /// server silently upgrades `md5` to SCRAM); the others use the server default.
    fn password_encryption(self) -> &'static str {
        match self {
            AuthMethod::Md5 => "md5",
            _ => "scram-sha-256",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Number of streaming standbys (nodes 1..=standbys).
    pub standbys: usize,
    /// pg_hba.conf method for TCP logins of roles without their own line (not `postgres`).
    pub auth: AuthMethod,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            standbys: 1,
            auth: AuthMethod::Trust,
        }
    }
}

/// How `stop_node` shuts a server down (`pg_ctl stop -m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // every mode is for the failover tests to come
pub enum StopMode {
    Smart,
    Fast,
    Immediate,
}

impl StopMode {
    fn arg(self) -> &'static str {
        match self {
            StopMode::Smart => "smart",
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

pub struct Cluster {
    dir: PathBuf,
    spec: ClusterSpec,
    ports: PortBlock,
    /// pg_hba.conf lines of roles made by `create_role`, in creation order; the lock also
    /// serialises rewriting pg_hba.conf and reloading
    role_hba: Mutex<Vec<(String, String)>>,
    /// `None` once torn down
    watchdog: Mutex<Option<Watchdog>>,
}

/// The watchdog's cleanup when the test process died: `$1` is the cluster directory.
const CLEANUP_SCRIPT: &str = r#"
dir=$1
for pidfile in "$dir"/node*/postmaster.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(head -n 1 "$pidfile")
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ] || continue
    kill -QUIT "$pid" 2>/dev/null || continue
    i=0
    # until it exits (a zombie has exited; init reaps it) or 30 s pass
    while [ "$i" -lt 300 ] && [ -n "$(sed -n 's/.*) \([^Z]\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)" ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null
done
rm -rf -- "$dir"
"#;

static SHARED: OnceLock<Cluster> = OnceLock::new();

/// One primary + one standby shared by every test in this binary that does not change the
/// cluster's topology (no stopping, promoting or reconfiguring nodes; roles with unique names).
pub fn shared_cluster() -> &'static Cluster {
    SHARED.get_or_init(|| {
        let cluster = Cluster::start(ClusterSpec::default());
        // SAFETY: registers a plain `extern "C" fn` that takes no arguments.
        let rc = unsafe { libc::atexit(teardown_shared_cluster) };
        assert_eq!(
            rc, 0,
            "atexit failed; the shared cluster would outlive the tests"
        );
        cluster
    })
}

static SHARED_SR: OnceLock<Cluster> = OnceLock::new();

/// One primary + two standbys shared by the streaming-replication routing tests (routing.rs,
/// extended.rs). Same rules as `shared_cluster()`: no topology changes, no pausing replay (the
/// tests that need that make their own cluster), objects with unique names.
pub fn shared_sr_cluster() -> &'static Cluster {
    SHARED_SR.get_or_init(|| {
        let cluster = Cluster::start(ClusterSpec {
            standbys: 2,
            ..ClusterSpec::default()
        });
        // SAFETY: registers a plain `extern "C" fn` that takes no arguments.
        let rc = unsafe { libc::atexit(teardown_shared_sr_cluster) };
        assert_eq!(
            rc, 0,
            "atexit failed; the shared streaming cluster would outlive the tests"
        );
        cluster
    })
}

extern "C" fn teardown_shared_sr_cluster() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(cluster) = SHARED_SR.get() {
            cluster.teardown();
        }
    });
}

extern "C" fn teardown_shared_cluster() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(cluster) = SHARED.get() {
            cluster.teardown();
        }
    });
}

/// The postmaster's pid from `<data_dir>/postmaster.pid`, if the file is there.
pub fn postmaster_pid(data_dir: &Path) -> Option<u32> {
    std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Whether `pid` is a live process (a zombie is not: it has exited and only awaits its reaper).
pub fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rfind(')')
                .map(|i| !stat[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Cluster {
    /// initdb, configure and start the primary, make and start the standbys, and wait (bounded)
    /// until all of them stream. Panics with the relevant log on any failure, after cleaning up.
    pub fn start(spec: ClusterSpec) -> Cluster {
        let user = os_user();
        let ports = PortBlock::reserve(1 + spec.standbys as u16);
        let dir = tempfile::Builder::new()
            .prefix("pgrs-test-")
            .tempdir_in("/tmp")
            .expect("create a cluster directory under /tmp")
            .keep();
        user.chown(&dir);
        let watchdog = Watchdog::spawn(CLEANUP_SCRIPT, &[&dir]);
        // From here on a panic drops `cluster`, which stops whatever was started.
        let cluster = Cluster {
            dir,
            spec,
            ports,
            role_hba: Mutex::new(Vec::new()),
            watchdog: Mutex::new(Some(watchdog)),
        };
        let log_dir = cluster.dir.join("log");
        std::fs::create_dir(&log_dir).expect("create the cluster log directory");
        user.chown(&log_dir);

        cluster.init_primary();
        cluster.start_node(0);
        for node in 1..cluster.nodes() {
            cluster.make_standby(node);
            cluster.start_node(node);
        }
        cluster.wait_streaming();
        cluster
    }

    fn init_primary(&self) {
        let data = self.data_dir(0);
        let out = os_user()
            .command(pgbin().join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C"])
            .args(["--no-instructions", "--no-sync"])
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed ({}):\n{}",
            out.status,
            output_text(&out)
        );
        self.append_conf(
            0,
            &format!(
                "listen_addresses = '{HOST}'\n\
                 unix_socket_directories = '{socket}'\n\
                 max_connections = 200\n\
                 shared_buffers = 32MB\n\
                 wal_level = replica\n\
                 max_wal_senders = 10\n\
                 max_replication_slots = 10\n\
                 max_prepared_transactions = 10\n\
                 hot_standby = on\n\
                 hot_standby_feedback = on\n\
                 fsync = off\n\
                 synchronous_commit = off\n\
                 full_page_writes = off\n\
                 lc_messages = 'C'\n\
                 log_line_prefix = '%m [%p] %q%u@%d '\n\
                 log_checkpoints = off\n",
                socket = self.dir.display()
            ),
        );
        self.write_hba(0, &lock(&self.role_hba));
    }

    fn make_standby(&self, node: usize) {
        let slot = format!("node{node}_slot");
        let out = os_user()
            .command(pgbin().join("pg_basebackup"))
            .args([
                "-h",
                HOST,
                "-p",
                &self.port(0).to_string(),
                "-U",
                SUPERUSER,
                "-D",
            ])
            .arg(self.data_dir(node))
            .args([
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "-C",
                "-S",
                &slot,
                "--no-sync",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run pg_basebackup");
        assert!(
            out.status.success(),
            "pg_basebackup for node{node} failed ({}):\n{}",
            out.status,
            output_text(&out)
        );
        self.append_conf(node, "");
        self.write_hba(node, &lock(&self.role_hba));
    }

    /// Append settings to node's postgresql.conf (later lines win), always with its own port and
    /// cluster_name (which is the standby's application_name in pg_stat_replication).
    fn append_conf(&self, node: usize, text: &str) {
        let path = self.data_dir(node).join("postgresql.conf");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        writeln!(
            f,
            "\n# ---- tests/it/support/cluster.rs ----\n{text}port = {}\ncluster_name = 'node{node}'",
            self.port(node)
        )
        .unwrap_or_else(|e| panic!("append to {}: {e}", path.display()));
    }

    fn write_hba(&self, node: usize, roles: &[(String, String)]) {
        let mut text = String::from(
            "# written by tests/it/support/cluster.rs\n\
             # TYPE  DATABASE     USER        ADDRESS         METHOD\n\
             local   all          all                         trust\n\
             host    all          postgres    127.0.0.1/32    trust\n\
             host    replication  all         127.0.0.1/32    trust\n",
        );
        for (_, line) in roles {
            text.push_str(line);
            text.push('\n');
        }
        let _ = writeln!(
            text,
            "host    all          all         127.0.0.1/32    {}",
            self.spec.auth.hba()
        );
        let path = self.data_dir(node).join("pg_hba.conf");
        // the file exists (initdb / pg_basebackup made it), so owner and mode are kept
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    fn pg_ctl(&self, node: usize, args: &[&str]) -> Output {
        os_user()
            .command(pgbin().join("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir(node))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl")
    }

    /// Start node (bounded by START_TIMEOUT); panics with its log tail on failure.
    pub fn start_node(&self, node: usize) {
        let log = self.log_path(node);
        let timeout = START_TIMEOUT.as_secs().to_string();
        let out = self.pg_ctl(
            node,
            &[
                "-l",
                log.to_str().expect("utf-8 path"),
                "-w",
                "-t",
                &timeout,
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "node{node} failed to start ({}):\n{}\n--- log tail ---\n{}",
            out.status,
            output_text(&out),
            tail(&self.log(node), 30)
        );
    }

    /// Stop node with `pg_ctl stop -m <mode>` (bounded); panics if it does not stop.
    pub fn stop_node(&self, node: usize, mode: StopMode) {
        let out = self.pg_ctl(node, &["-m", mode.arg(), "-w", "-t", "60", "stop"]);
        assert!(
            out.status.success(),
            "node{node} did not stop ({}):\n{}",
            out.status,
            output_text(&out)
        );
    }

    /// Promote standby `node` and wait until it accepts writes.
    pub fn promote(&self, node: usize) {
        let out = self.pg_ctl(node, &["-w", "-t", "60", "promote"]);
        assert!(
            out.status.success(),
            "promote node{node} failed ({}):\n{}",
            out.status,
            output_text(&out)
        );
    }

    /// Whether node's postmaster is running (`pg_ctl status`).
    pub fn is_running(&self, node: usize) -> bool {
        self.pg_ctl(node, &["status"]).status.success()
    }

    /// Whether node is a standby (`pg_is_in_recovery()`).
    pub fn is_in_recovery(&self, node: usize) -> bool {
        self.psql(node, "select pg_is_in_recovery()") == "t"
    }

    /// Number of nodes: primary + standbys.
    pub fn nodes(&self) -> usize {
        1 + self.spec.standbys
    }

    #[allow(dead_code)] // not needed by any test yet
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    pub fn host(&self) -> &'static str {
        HOST
    }

    pub fn port(&self, node: usize) -> u16 {
        assert!(
            node < self.nodes(),
            "node{node} does not exist (cluster has {} nodes)",
            self.nodes()
        );
        self.ports.port(node)
    }

    /// The cluster directory (data directories, logs, unix sockets).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Directory of every node's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    pub fn data_dir(&self, node: usize) -> PathBuf {
        self.dir.join(format!("node{node}"))
    }

    pub fn log_path(&self, node: usize) -> PathBuf {
        self.dir.join("log").join(format!("node{node}.log"))
    }

    /// Node's server log so far (empty if none yet).
    pub fn log(&self, node: usize) -> String {
        std::fs::read(self.log_path(node))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// libpq connection string for the superuser on node (TCP, database `postgres`).
    pub fn connstr(&self, node: usize) -> String {
        format!(
            "host={HOST} port={} user={SUPERUSER} dbname=postgres",
            self.port(node)
        )
    }

    /// Run `sql` on node as the superuser (database `postgres`) and return psql's unaligned,
    /// tuples-only output; panics on error.
    pub fn psql(&self, node: usize, sql: &str) -> String {
        self.try_psql(node, sql)
            .unwrap_or_else(|e| panic!("on node{node}: {e}"))
    }

    pub fn try_psql(&self, node: usize, sql: &str) -> Result<String, String> {
        super::psql(self.port(node), SUPERUSER, None, "postgres", sql)
    }

    /// Run `sql` on node as `user` (with `password` if given) in `db`.
    pub fn psql_as(
        &self,
        node: usize,
        user: &str,
        password: Option<&str>,
        db: &str,
        sql: &str,
    ) -> Result<String, String> {
        super::psql(self.port(node), user, password, db, sql)
    }

    /// A `postgres` crate client on node, straight to PostgreSQL (no pgpool).
    pub fn connect(
        &self,
        node: usize,
        user: &str,
        password: Option<&str>,
        db: &str,
    ) -> Result<postgres::Client, postgres::Error> {
        let mut config = postgres::Config::new();
        config
            .host(HOST)
            .port(self.port(node))
            .user(user)
            .dbname(db)
            .connect_timeout(Duration::from_secs(10));
        if let Some(pw) = password {
            config.password(pw);
        }
        config.connect(postgres::NoTls)
    }

    /// Create (or re-password) login role `name` with `password`, stored so that `method` really
    /// is what the server uses, and give it a pg_hba.conf line `host all "name" 127.0.0.1/32
    /// <method>` on every node. Returns once every running node has reloaded pg_hba.conf and every
    /// standby has replayed the role.
    pub fn create_role(&self, name: &str, password: &str, method: AuthMethod) {
        assert!(
            !name.is_empty() && !name.contains(|c: char| c == '"' || c.is_whitespace() || c == ','),
            "role name {name:?} is not usable in pg_hba.conf"
        );
        let mut roles = lock(&self.role_hba);
        let (ident, lit, pw) = (
            quote_ident(name),
            quote_literal(name),
            quote_literal(password),
        );
        self.psql(
            0,
            &format!(
                "SET password_encryption = '{enc}'; \
                 DO $pgrs$BEGIN \
                 IF EXISTS (SELECT FROM pg_roles WHERE rolname = {lit}) THEN ALTER ROLE {ident} LOGIN PASSWORD {pw}; \
                 ELSE CREATE ROLE {ident} LOGIN PASSWORD {pw}; END IF; END$pgrs$",
                enc = method.password_encryption()
            ),
        );
        roles.retain(|(role, _)| role != name);
        roles.push((
            name.to_string(),
            format!(
                "host    all          \"{name}\"  127.0.0.1/32    {}",
                method.hba()
            ),
        ));
        for node in 0..self.nodes() {
            self.write_hba(node, &roles);
        }
        for node in 0..self.nodes() {
            if self.is_running(node) {
                self.reload_locked(node);
            }
        }
        drop(roles);
        self.wait_replayed();
    }

    /// Reload node's configuration (pg_ctl reload) and wait until the postmaster has done it.
    #[allow(dead_code)] // not needed by any test yet
    pub fn reload(&self, node: usize) {
        let _serialised = lock(&self.role_hba);
        self.reload_locked(node);
    }

    /// The postmaster logs the SIGHUP line and then re-reads the files inside the same signal
    /// handler, before it accepts another connection; so once the count of that line goes up, new
    /// connections see the new files.
    fn reload_locked(&self, node: usize) {
        let count = || self.log(node).matches(SIGHUP_LOG_LINE).count();
        let before = count();
        let out = self.pg_ctl(node, &["reload"]);
        assert!(
            out.status.success(),
            "reload node{node} failed: {}",
            output_text(&out)
        );
        wait_until(
            RELOAD_TIMEOUT,
            &format!("node{node} to reload its configuration"),
            || count() > before,
        )
        .unwrap_or_else(|e| panic!("{e}\n--- log tail ---\n{}", tail(&self.log(node), 20)));
    }

    /// Wait (bounded) until every running standby's WAL receiver streams and node 0 shows them
    /// as `streaming` in pg_stat_replication. (The standby's own view matters: right after a
    /// standby restarts, the primary can still list the old, dead connection as streaming.)
    pub fn wait_streaming(&self) {
        let standbys: Vec<usize> = (1..self.nodes()).filter(|&n| self.is_running(n)).collect();
        if standbys.is_empty() {
            return;
        }
        let want = standbys.len();
        let mut seen = String::new();
        let waited = wait_until(
            START_TIMEOUT,
            &format!("{want} standby(s) streaming"),
            || {
                for &node in &standbys {
                    seen = self
                        .try_psql(node, "select status from pg_stat_wal_receiver")
                        .unwrap_or_else(|e| e);
                    if seen != "streaming" {
                        seen = format!("node{node}: {seen:?}");
                        return false;
                    }
                }
                seen = self
                    .try_psql(
                        0,
                        "select count(*) from pg_stat_replication where state = 'streaming'",
                    )
                    .unwrap_or_else(|e| e);
                seen.parse::<usize>().is_ok_and(|n| n >= want)
            },
        );
        if let Err(e) = waited {
            let logs: String = (1..self.nodes())
                .map(|n| format!("\n--- node{n} ---\n{}", tail(&self.log(n), 15)))
                .collect();
            panic!("{e} (last answer: {seen}){logs}");
        }
    }

    /// Wait (bounded) until every running standby has replayed everything node 0 has committed.
    pub fn wait_replayed(&self) {
        // the insert position: with synchronous_commit = off a commit may not be written yet
        let lsn = self.psql(0, "select pg_current_wal_insert_lsn()");
        for node in 1..self.nodes() {
            if !self.is_running(node) {
                continue;
            }
            let sql = format!("select pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
            wait_until(
                START_TIMEOUT,
                &format!("node{node} to replay up to {lsn}"),
                || self.try_psql(node, &sql).is_ok_and(|v| v == "t"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// Stop every node (`pg_ctl stop -m immediate`) and remove the directory. Idempotent. If a
    /// node does not stop, the watchdog takes over (SIGQUIT, then SIGKILL, then `rm -rf`).
    pub fn teardown(&self) {
        let Some(mut watchdog) = lock(&self.watchdog).take() else {
            return;
        };
        let mut stopped = true;
        for node in (0..self.nodes()).rev() {
            let Some(pid) = postmaster_pid(&self.data_dir(node)) else {
                continue;
            };
            let out = self.pg_ctl(node, &["-m", "immediate", "-w", "-t", "30", "stop"]);
            // pg_ctl returns when postmaster.pid is gone; the process exits a moment later
            stopped &= out.status.success()
                && wait_until(Duration::from_secs(10), "the postmaster to exit", || {
                    !process_alive(pid)
                })
                .is_ok();
        }
        if stopped {
            if std::env::var_os("PGRS_TEST_KEEP_DIRS").is_some() {
                eprintln!("PGRS_TEST_KEEP_DIRS: keeping {}", self.dir.display());
            } else {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
            watchdog.finish();
        }
        // else: dropping `watchdog` without finish() makes it run its cleanup script
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.teardown();
    }
}
