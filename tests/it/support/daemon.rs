//! Our daemon (`pgpool -n`) started in front of a test `Cluster`, in a fresh
//! `/tmp/pgrs-daemon-XXXXXX` holding its pgpool.conf, pcp.conf, empty pool_passwd, pid file,
//! logdir, unix sockets and `pgpool.log` (its stdout + stderr).
//!
//! The generated pgpool.conf lists every cluster node as a backend (raw mode, weight 1), listens on
//! 127.0.0.1 only with reserved ports, keeps everything else small (`num_init_children = 4`,
//! `max_pool = 2`, no health check, no sr check); `extra_conf` is appended, and a later value of a
//! parameter wins. `PGRS_PGPOOL_BIN` runs another binary instead of ours (e.g. Debian's pgpool-II
//! to compare behaviour; 4.3 needs `socket_dir` in `extra_conf`).
//!
//! Teardown on drop: `pgpool -m fast stop`, then SIGKILL to the daemon's process group if it has
//! not exited within 20 s, then the directory is removed. The daemon runs in its own process group,
//! so the SIGKILL reaches every process it forked; a watchdog does the same if the test process dies.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use super::cluster::{Cluster, SUPERUSER};
use super::ports::PortBlock;
use super::watchdog::Watchdog;
use super::{tail, wait_until, HOST};

/// PCP user and password written to pcp.conf.
pub const PCP_USER: &str = "pcpadmin";
pub const PCP_PASSWORD: &str = "pcp-test-password";
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The watchdog's cleanup when the test process died: `$1` daemon pid (= its process group), `$2`
/// the daemon directory.
const CLEANUP_SCRIPT: &str = r#"
kill -KILL -- "-$1" 2>/dev/null
rm -rf -- "$2"
"#;

pub struct Daemon {
    dir: PathBuf,
    ports: PortBlock,
    child: Option<Child>,
    /// The main process's exit status when `pgpool()` reaped it (see `reap_if_exited`)
    reaped: std::sync::Mutex<Option<ExitStatus>>,
    watchdog: Option<Watchdog>,
    /// The pgpool binary this daemon runs (`pgpool_bin()` unless `start_with_bin` chose one).
    bin: PathBuf,
}

/// The binary under test.
pub fn pgpool_bin() -> PathBuf {
    std::env::var_os("PGRS_PGPOOL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pgpool")))
}

impl Daemon {
    /// Start the daemon in front of `cluster`; panics (after cleaning up) with its log if it exits
    /// or does not accept TCP connections within 30 s.
    pub fn start(cluster: &Cluster, extra_conf: &str) -> Daemon {
        Daemon::try_start(cluster, extra_conf).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like `start`, but a daemon that fails to start is an `Err` carrying its log.
    pub fn try_start(cluster: &Cluster, extra_conf: &str) -> Result<Daemon, String> {
        let mut daemon = Daemon::prepare(cluster, extra_conf);
        daemon.launch_foreground(&[])?;
        Ok(daemon)
    }

    /// Like `start`, running `bin` (e.g. Debian's `/usr/sbin/pgpool`, 4.3.5) instead of
    /// `pgpool_bin()`. A binary other than ours also gets 4.3's `socket_dir` line.
    pub fn start_with_bin(cluster: &Cluster, extra_conf: &str, bin: &Path) -> Daemon {
        let mut daemon = Daemon::prepare_with_bin(cluster, extra_conf, bin.to_path_buf());
        daemon
            .launch_foreground(&[])
            .unwrap_or_else(|e| panic!("{e}"));
        daemon
    }

    /// Like `start`, with extra command-line arguments after `-n -f … -F …` (e.g. `["-k", key]`).
    pub fn start_with_args(cluster: &Cluster, extra_conf: &str, args: &[&str]) -> Daemon {
        let mut daemon = Daemon::prepare(cluster, extra_conf);
        daemon
            .launch_foreground(args)
            .unwrap_or_else(|e| panic!("{e}"));
        daemon
    }

    /// `launch` with `-n -f <pgpool.conf> -F <pcp.conf>` followed by `extra` options.
    pub fn launch_foreground(&mut self, extra: &[&str]) -> Result<(), String> {
        let (conf, pcp) = (self.conf_path(), self.pcp_conf_path());
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "-n".as_ref(),
            "-f".as_ref(),
            conf.as_os_str(),
            "-F".as_ref(),
            pcp.as_os_str(),
        ];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        self.launch(&args)
    }

    /// The daemon directory with its files written (pgpool.conf with `extra_conf`, pcp.conf,
    /// pool_passwd), nothing started yet: for `launch` with other options, or for running the
    /// binary by hand. Dropping it removes the directory (and stops what `launch` started).
    pub fn prepare(cluster: &Cluster, extra_conf: &str) -> Daemon {
        Daemon::prepare_with_bin(cluster, extra_conf, pgpool_bin())
    }

    /// `prepare` for another pgpool binary (see `start_with_bin`).
    pub fn prepare_with_bin(cluster: &Cluster, extra_conf: &str, bin: PathBuf) -> Daemon {
        let ports = PortBlock::reserve(2);
        let dir = tempfile::Builder::new()
            .prefix("pgrs-daemon-")
            .tempdir_in("/tmp")
            .expect("create a daemon directory under /tmp")
            .keep();
        let daemon = Daemon {
            dir,
            ports,
            child: None,
            reaped: std::sync::Mutex::new(None),
            watchdog: None,
            bin,
        };
        daemon.write_files(cluster, extra_conf);
        daemon
    }

    /// Run the binary with exactly `args` (which must keep it in the foreground: `-n`), from the
    /// daemon directory (so relative paths resolve there), stdout + stderr to `pgpool.log`, in
    /// its own process group; wait (bounded) until it accepts TCP connections. `Err` carries the
    /// log if it exits or does not get ready within 30 s.
    pub fn launch<S: AsRef<std::ffi::OsStr>>(&mut self, args: &[S]) -> Result<(), String> {
        assert!(
            self.child.is_none(),
            "launch: the daemon is already running"
        );
        let log = File::create(self.log_path()).expect("create pgpool.log");
        let child = Command::new(&self.bin)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup pgpool.log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        let pid = child.id().to_string();
        self.child = Some(child);
        self.watchdog = Some(Watchdog::spawn(
            CLEANUP_SCRIPT,
            &[pid.as_str(), self.dir.to_str().expect("utf-8 path")],
        ));

        let mut exited = None;
        let port = self.port();
        let child = self.child.as_mut().expect("spawned");
        let ready = wait_until(
            START_TIMEOUT,
            "the daemon to accept TCP connections",
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    exited = Some(status);
                    return true;
                }
                let addr =
                    std::net::SocketAddr::new(HOST.parse().expect("HOST is an IP address"), port);
                std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
            },
        );
        if let Some(status) = exited {
            *self.reaped.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(status);
        }
        let failure = match (ready, exited) {
            (Ok(()), None) => return Ok(()),
            (_, Some(status)) => format!("the daemon exited during start-up ({status})"),
            (Err(e), None) => e,
        };
        Err(format!(
            "{failure}\n--- {} ---\n{}",
            self.log_path().display(),
            tail(&self.log(), 40)
        ))
    }

    fn write_files(&self, cluster: &Cluster, extra_conf: &str) {
        let d = self.dir.display();
        let mut conf = format!(
            "# written by tests/it/support/daemon.rs\n\
             listen_addresses = '{HOST}'\n\
             port = {port}\n\
             unix_socket_directories = '{d}'\n\
             pcp_listen_addresses = '{HOST}'\n\
             pcp_port = {pcp_port}\n\
             pcp_socket_dir = '{d}'\n\
             pid_file_name = '{d}/pgpool.pid'\n\
             logdir = '{d}'\n\
             pool_passwd = 'pool_passwd'\n\
             enable_pool_hba = off\n\
             backend_clustering_mode = 'raw'\n\
             load_balance_mode = off\n\
             num_init_children = 4\n\
             max_pool = 2\n\
             log_min_messages = warning\n\
             health_check_period = 0\n\
             health_check_user = '{SUPERUSER}'\n\
             sr_check_period = 0\n\
             sr_check_user = '{SUPERUSER}'\n",
            port = self.port(),
            pcp_port = self.pcp_port(),
        );
        if std::env::var_os("PGRS_PGPOOL_BIN").is_some()
            || self.bin.as_path() != Path::new(env!("CARGO_BIN_EXE_pgpool"))
        {
            // pgpool-II 4.3 names the (single) client socket directory `socket_dir`
            conf.push_str(&format!("socket_dir = '{d}'\n"));
        }
        for node in 0..cluster.nodes() {
            conf.push_str(&format!(
                "backend_hostname{node} = '{HOST}'\n\
                 backend_port{node} = {}\n\
                 backend_weight{node} = 1\n\
                 backend_data_directory{node} = '{}'\n\
                 backend_flag{node} = 'ALLOW_TO_FAILOVER'\n\
                 backend_application_name{node} = 'node{node}'\n",
                cluster.port(node),
                cluster.data_dir(node).display()
            ));
        }
        conf.push_str("# ---- extra_conf ----\n");
        conf.push_str(extra_conf);
        conf.push('\n');
        write(&self.conf_path(), &conf);
        write(
            &self.pcp_conf_path(),
            &format!("{PCP_USER}:{}\n", md5_hex(PCP_PASSWORD)),
        );
        write(&self.dir.join("pool_passwd"), "");
    }

    pub fn host(&self) -> &'static str {
        HOST
    }

    /// Client port.
    pub fn port(&self) -> u16 {
        self.ports.port(0)
    }

    pub fn pcp_port(&self) -> u16 {
        self.ports.port(1)
    }

    /// The daemon directory; also its unix-socket directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    pub fn conf_path(&self) -> PathBuf {
        self.dir.join("pgpool.conf")
    }

    pub fn pcp_conf_path(&self) -> PathBuf {
        self.dir.join("pcp.conf")
    }

    pub fn pool_passwd_path(&self) -> PathBuf {
        self.dir.join("pool_passwd")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("pgpool.log")
    }

    /// Everything the daemon wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Wait up to 20 s until the log holds `text` (log lines come after the state they report:
    /// a node can show `down` before the main process has logged the failover's steps).
    pub fn wait_log(&self, text: &str) {
        wait_until(Duration::from_secs(20), text, || self.log().contains(text))
            .unwrap_or_else(|e| panic!("{e}\n{}", tail(&self.log(), 30)));
    }

    /// Pid of the daemon's main process (`None` once stopped).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Pids of the processes whose parent is the daemon's main process, sorted.
    pub fn children_pids(&self) -> Vec<u32> {
        self.pid().map(children_of).unwrap_or_default()
    }

    /// Pids of the main process's client-serving children, sorted: its children except those
    /// whose process title names another role (PCP, health check, worker, watchdog, logger).
    pub fn client_children(&self) -> Vec<u32> {
        const OTHER_ROLES: [&str; 8] = [
            "pgpool: PCP",
            "pgpool: health check",
            "pgpool: worker",
            "pgpool: watchdog",
            "pgpool: lifecheck",
            "pgpool: heartbeat",
            "pgpool: logger",
            "pgpool: follow",
        ];
        self.children_pids()
            .into_iter()
            .filter(|&pid| {
                let title = process_title(pid);
                !OTHER_ROLES.iter().any(|role| title.starts_with(role))
            })
            .collect()
    }

    /// Whether the main process is still running (not exited, not a zombie).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(Ok(Some(status))) => {
                // reaped here: `reap_if_exited` must not waitpid a pid that may be reused
                let reaped = self.reaped.get_mut().unwrap_or_else(|p| p.into_inner());
                reaped.get_or_insert(status);
                false
            }
            _ => false,
        }
    }

    /// libpq connection string through the daemon (TCP).
    pub fn connstr(&self, user: &str, db: &str) -> String {
        format!("host={HOST} port={} user={user} dbname={db}", self.port())
    }

    /// Run `sql` through the daemon as the superuser in database `postgres`.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        super::psql(self.port(), SUPERUSER, None, "postgres", sql)
    }

    pub fn psql_as(
        &self,
        user: &str,
        password: Option<&str>,
        db: &str,
        sql: &str,
    ) -> Result<String, String> {
        super::psql(self.port(), user, password, db, sql)
    }

    /// A `postgres` crate client through the daemon, without a password; panics with the log.
    pub fn client(&self, user: &str, db: &str) -> postgres::Client {
        self.try_client(user, None, db).unwrap_or_else(|e| {
            panic!(
                "connect through the daemon as {user}/{db}: {e}\n{}",
                tail(&self.log(), 30)
            )
        })
    }

    pub fn try_client(
        &self,
        user: &str,
        password: Option<&str>,
        db: &str,
    ) -> Result<postgres::Client, postgres::Error> {
        let mut config = postgres::Config::new();
        config
            .host(HOST)
            .port(self.port())
            .user(user)
            .dbname(db)
            .connect_timeout(Duration::from_secs(10));
        if let Some(pw) = password {
            config.password(pw);
        }
        config.connect(postgres::NoTls)
    }

    /// Run the binary under test with this daemon's `-f`/`-F` plus `args` (e.g. `["reload"]`,
    /// `["-m", "fast", "stop"]`), bounded by 20 s (killed after that).
    pub fn pgpool(&self, args: &[&str]) -> Output {
        let mut child = Command::new(&self.bin)
            .arg("-f")
            .arg(self.conf_path())
            .arg("-F")
            .arg(self.pcp_conf_path())
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the pgpool binary");
        let _ = wait_until(STOP_TIMEOUT, "pgpool command", || {
            self.reap_if_exited();
            !matches!(child.try_wait(), Ok(None))
        });
        let _ = child.kill();
        child.wait_with_output().expect("collect pgpool output")
    }

    /// Reap the main process if it has exited. `pgpool stop` polls `kill(pid, 0)` until the pid
    /// is gone, and an unreaped child of ours stays a zombie that `kill` still finds; a real
    /// pgpool's parent (a shell, systemd) reaps it. Not through `Child::try_wait` because that
    /// needs `&mut self` and `pgpool()` runs while tests hold `&self` (also from other threads).
    fn reap_if_exited(&self) {
        use std::os::unix::process::ExitStatusExt;
        let Some(pid) = self.pid() else { return };
        let mut reaped = self.reaped.lock().unwrap_or_else(|p| p.into_inner());
        if reaped.is_some() {
            return;
        }
        let mut raw = 0;
        // SAFETY: waitpid(2) on our own child with a valid out-pointer; WNOHANG never blocks.
        if unsafe { libc::waitpid(pid as i32, &mut raw, libc::WNOHANG) } == pid as i32 {
            *reaped = Some(ExitStatus::from_raw(raw));
        }
    }

    /// Stop the daemon: `pgpool -m fast stop`, wait (bounded) for it to exit, SIGKILL its process
    /// group if needed. Returns the main process's exit status (`None` if already stopped).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let pid = self.pid()? as i32;
        if zombie_or_gone(pid) {
            // exited by itself; still make sure nothing it forked lingers
        } else {
            // (with `self.child` still set, so that `pgpool()` reaps the main process)
            let _ = self.pgpool(&["-m", "fast", "stop"]);
            let _ = wait_until(STOP_TIMEOUT, "the daemon to exit", || zombie_or_gone(pid));
        }
        let mut child = self.child.take().expect("pid() said there is a child");
        // The unreaped main process keeps its pid (= the process group id) from being reused, so
        // killing the group is safe until we reap it below. (If `pgpool()` reaped it already,
        // the group lives on while any of its processes does; a pid reused as a new group's id
        // within these milliseconds is not a practical concern.)
        // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let status = child
            .wait()
            .ok()
            .or(*self.reaped.lock().unwrap_or_else(|p| p.into_inner()));
        if let Some(mut watchdog) = self.watchdog.take() {
            watchdog.finish();
        }
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `/proc/<pid>/stat` fields after the command name: state, ppid, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    Some(after_comm.split_whitespace().map(str::to_string).collect())
}

/// The Linux scheduling policy of `pid` (`/proc/<pid>/stat` field 41: 0 = SCHED_OTHER,
/// 3 = SCHED_BATCH); None if the process is gone.
pub fn scheduling_policy(pid: u32) -> Option<i32> {
    stat_fields(pid)?.get(38)?.parse().ok()
}

fn zombie_or_gone(pid: i32) -> bool {
    stat_fields(pid as u32).is_none_or(|f| f.first().map(String::as_str) == Some("Z"))
}

/// The process title of `pid` (`/proc/<pid>/cmdline` up to its first NUL; empty if gone).
pub fn process_title(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// Pids of the live processes whose parent is `parent`, sorted.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|&pid| {
                    stat_fields(pid).is_some_and(|f| {
                        f.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) && f[0] != "Z"
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}
