//! The PCP server (spec/pcp.md): Debian's pgpool-II 4.3.5 pcp_* tools against our daemon,
//! compared with the same tools against the real /usr/sbin/pgpool on the same cluster where the
//! values are deterministic; raw-socket tests of authentication failures, requests before
//! authentication, unknown kinds and bad lengths (each FATAL closes only its own connection).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pgpool_rs::pcp::wire::{self, Report};

use crate::support::cluster::{shared_sr_cluster, Cluster, ClusterSpec, StopMode};
use crate::support::daemon::{Daemon, PCP_PASSWORD, PCP_USER};
use crate::support::sr::STREAMING_CONF;
use crate::support::wire::md5_hex;
use crate::support::{output_within, wait_until, HOST};

/// Run `/usr/sbin/<tool> -h 127.0.0.1 -p <port> -U pcpadmin -w <args>` with a .pcppass in `dir`;
/// (stdout, stderr, exit code).
fn tool(dir: &Path, port: u16, name: &str, args: &[&str]) -> (String, String, i32) {
    let pass = dir.join(format!("pcppass-{port}"));
    std::fs::write(&pass, format!("{HOST}:{port}:{PCP_USER}:{PCP_PASSWORD}\n")).expect("pcppass");
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let port_s = port.to_string();
    let mut cmd = Command::new(format!("/usr/sbin/{name}"));
    cmd.args(["-h", HOST, "-p", &port_s, "-U", PCP_USER, "-w"])
        .args(args)
        .env("PCPPASSFILE", &pass)
        .stdin(Stdio::null());
    let (out, finished) = output_within(&mut cmd, Duration::from_secs(30));
    assert!(finished, "{name} did not finish");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// The real pgpool-II 4.3.5 on a prepared daemon directory; its process group is killed on drop.
struct RealPgpool {
    child: Child,
}

impl RealPgpool {
    fn start(d: &Daemon) -> RealPgpool {
        let child = Command::new("/usr/sbin/pgpool")
            .arg("-n")
            .arg("-f")
            .arg(d.conf_path())
            .arg("-F")
            .arg(d.pcp_conf_path())
            .current_dir(d.dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("run /usr/sbin/pgpool");
        let real = RealPgpool { child };
        wait_until(Duration::from_secs(30), "real pgpool's PCP port", || {
            tool(d.dir(), d.pcp_port(), "pcp_node_count", &[]).2 == 0
        })
        .expect("real pgpool answers PCP");
        real
    }
}

impl Drop for RealPgpool {
    fn drop(&mut self) {
        // a fast shutdown first: pgpool-II removes its SysV shared memory segments on the way
        // out, a SIGKILL would leave them behind
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on the child we spawned (not reaped yet, so the pid is still ours).
        unsafe { libc::kill(pid, libc::SIGINT) };
        let _ = wait_until(Duration::from_secs(10), "real pgpool to exit", || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        // SAFETY: kill(2) on the process group of that child: whatever it left running.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// Drop the trailing `YYYY-MM-DD HH:MM:SS` of each line (status-change timestamps).
fn without_times(s: &str) -> String {
    s.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            if f.len() > 2 && f[f.len() - 2].len() == 10 && f[f.len() - 2].as_bytes()[4] == b'-' {
                f[..f.len() - 2].join(" ")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn pcp_tools_agree_with_real_pgpool() {
    let cluster = shared_sr_cluster();
    let ours = Daemon::start_streaming(cluster, "");
    let real_dir = Daemon::prepare(cluster, &format!("{STREAMING_CONF}socket_dir = '/tmp'\n"));
    let real_dir_path = real_dir.dir().to_path_buf();
    // 4.3 names the client socket directory `socket_dir`: keep it inside the daemon directory.
    let conf = std::fs::read_to_string(real_dir.conf_path()).expect("conf");
    std::fs::write(
        real_dir.conf_path(),
        conf.replace(
            "socket_dir = '/tmp'",
            &format!("socket_dir = '{}'", real_dir_path.display()),
        ),
    )
    .expect("conf");
    let _real = RealPgpool::start(&real_dir);
    let run = |d: &Daemon, name: &str, args: &[&str]| tool(d.dir(), d.pcp_port(), name, args);

    let (ours_out, ours_err, code) = run(&ours, "pcp_node_count", &[]);
    assert_eq!((ours_out.as_str(), ours_err.as_str(), code), ("3\n", "", 0));
    assert_eq!(run(&real_dir, "pcp_node_count", &[]).0, ours_out);

    for args in [&[][..], &["-n", "1"][..], &["-v", "-n", "0"][..]] {
        let a = run(&ours, "pcp_node_info", args);
        let b = run(&real_dir, "pcp_node_info", args);
        assert_eq!(a.2, 0, "{args:?}: {}", a.1);
        let (mine, theirs) = (without_times(&a.0), without_times(&b.0));
        assert!(!mine.is_empty());
        assert_eq!(mine, theirs, "pcp_node_info {args:?}");
    }
    let err = run(&ours, "pcp_node_info", &["-n", "9"]);
    assert_eq!(err, run(&real_dir, "pcp_node_info", &["-n", "9"]));
    assert_eq!(
        err.1,
        "ERROR:  informing node info failed\nDETAIL:  invalid node ID : 9\n\n"
    );

    // Health-check statistics without health checks: all zero, same words (the status-change
    // time, fields 6 and 7, may differ by a second).
    let a = run(&ours, "pcp_health_check_stats", &["0"]);
    let b = run(&real_dir, "pcp_health_check_stats", &["0"]);
    let strip = |s: &str| {
        let f: Vec<&str> = s.split(' ').collect();
        [&f[..5], &f[7..]].concat().join(" ")
    };
    assert_eq!(a.2, 0, "{}", a.1);
    assert_eq!(strip(&a.0), strip(&b.0));
    assert!(
        a.0.ends_with(" 0 0 0 0 0 0.000000 0 0 0 0.000000    \n"),
        "{:?}",
        a.0
    );

    // Process count: four children, `<pid> ` each.
    let (out, _, _) = run(&ours, "pcp_proc_count", &[]);
    let pids: Vec<&str> = out.trim_end_matches('\n').split_terminator(' ').collect();
    assert_eq!(pids.len(), 4, "{out:?}");
    assert!(out.ends_with(" \n"));
    let mut children: Vec<String> = ours.client_children().iter().map(u32::to_string).collect();
    let mut listed: Vec<String> = pids.iter().map(|s| s.to_string()).collect();
    children.sort();
    listed.sort();
    assert_eq!(listed, children);

    // Process info: every slot with -a (4 children x 2 pools x 3 nodes), 16 fields each.
    let (out, err, code) = run(&ours, "pcp_proc_info", &["-a"]);
    assert_eq!(code, 0, "{err}");
    let (real_out, _, _) = run(&real_dir, "pcp_proc_info", &["-a"]);
    assert_eq!(out.lines().count(), 24, "{out}");
    assert_eq!(real_out.lines().count(), out.lines().count());
    let (out, _, _) = run(&ours, "pcp_proc_info", &[pids[0]]);
    assert_eq!(out, "No process information available\n\n");
    let (_, err, code) = run(&ours, "pcp_proc_info", &["-P", "1"]);
    assert_eq!(
        (err.as_str(), code),
        (
            "ERROR:  informing process info failed\nDETAIL:  invalid process ID : 1\n\n",
            0
        )
    );

    // Pool status: the same parameter names in the same order.
    let names = |s: &str| -> Vec<String> {
        s.lines()
            .filter_map(|l| l.strip_prefix("name : "))
            .map(str::to_string)
            .collect()
    };
    let (a, _, _) = run(&ours, "pcp_pool_status", &[]);
    let (b, _, _) = run(&real_dir, "pcp_pool_status", &[]);
    // Our SHOW pool_status lists 4.6's parameters (unix_socket_directories, ...), 4.3.5 its own
    // set; the opening rows and the per-backend rows are the same.
    let (a, b) = (names(&a), names(&b));
    assert!(a.len() > 50, "{a:?}");
    assert_eq!(a[..3], b[..3]);
    assert_eq!(a[a.len() - 24..], b[b.len() - 24..]);

    // Watchdog off: exactly pgpool's error; exit status 0.
    let a = run(&ours, "pcp_watchdog_info", &[]);
    assert_eq!(a, run(&real_dir, "pcp_watchdog_info", &[]));
    assert_eq!(
        a,
        (
            String::new(),
            "ERROR:  PCP: informing watchdog info failed\nDETAIL:  watchdog is not enabled\n\n"
                .into(),
            0
        )
    );

    // Reload: success line, and the main process re-read its configuration.
    let a = run(&ours, "pcp_reload_config", &[]);
    assert_eq!(
        a,
        (
            "pcp_reload_config -- Command Successful\n".into(),
            String::new(),
            0
        )
    );
    wait_until(Duration::from_secs(10), "the reload log line", || {
        ours.log().contains("reload config files.")
    })
    .expect("reloaded");

    // Attach of a node id out of range: pgpool's refusal as an ERROR.
    let (_, err, code) = run(&ours, "pcp_attach_node", &["7"]);
    assert_eq!(code, 0);
    assert!(
        err.starts_with("ERROR:  invalid failback request, node id: 7 is out of range"),
        "{err}"
    );
    // Promote of the primary: FATAL, as pgpool.
    let a = run(&ours, "pcp_promote_node", &["0"]);
    let b = run(&real_dir, "pcp_promote_node", &["0"]);
    assert_eq!(a, b);
}

/// A raw PCP connection.
struct Pcp(TcpStream);

impl Pcp {
    fn connect(port: u16) -> Pcp {
        let s = TcpStream::connect((HOST, port)).expect("connect to PCP");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Pcp(s)
    }
    fn send(&mut self, kind: u8, payload: &[u8]) {
        wire::write_packet(&mut self.0, kind, payload).expect("send");
    }
    fn recv(&mut self) -> wire::Packet {
        wire::read_packet(&mut self.0, None).expect("reply")
    }
    fn auth(&mut self, password: &str) -> wire::Packet {
        self.send(b'M', b"");
        let salt = self.recv();
        assert_eq!((salt.kind, salt.payload.len()), (b'm', 4));
        let resp = wire::auth_response(&md5_hex(password.as_bytes()), PCP_USER, &salt.payload);
        self.send(b'R', &wire::strings_payload(&[PCP_USER, &resp]));
        self.recv()
    }
    fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.0.read(&mut b), Ok(0) | Err(_))
    }
}

fn fatal(p: &wire::Packet) -> Report {
    assert_eq!(p.kind, b'E');
    let r = Report::parse(&p.payload);
    assert_eq!(r.severity, "FATAL");
    r
}

#[test]
fn pcp_raw_protocol_errors_are_fatal_for_their_connection_only() {
    let cluster = shared_sr_cluster();
    let d = Daemon::start_streaming(cluster, "");
    let port = d.pcp_port();

    let mut c = Pcp::connect(port);
    let r = fatal(&c.auth("wrong"));
    assert_eq!(
        r.message,
        format!("authentication failed for user \"{PCP_USER}\"")
    );
    assert_eq!(
        r.detail.as_deref(),
        Some("username and/or password does not match")
    );
    assert!(c.closed());

    let mut c = Pcp::connect(port);
    c.send(b'L', b"");
    let r = fatal(&c.recv());
    assert_eq!(
        (r.message.as_str(), r.detail.as_deref()),
        (
            "authentication failed for new PCP connection",
            Some("connection not authorized")
        )
    );
    assert!(c.closed());

    let mut c = Pcp::connect(port);
    c.send(b'R', &wire::strings_payload(&[PCP_USER, "x"]));
    let r = fatal(&c.recv());
    assert_eq!(r.message, "authentication failed");

    let mut c = Pcp::connect(port);
    assert_eq!(
        c.auth(PCP_PASSWORD),
        wire::Packet {
            kind: b'r',
            payload: b"AuthenticationOK\0".to_vec()
        }
    );
    c.send(b'L', b"");
    assert_eq!(c.recv().payload, b"CommandComplete\x003\0");
    c.send(b'I', b"-1\0");
    let first = c.recv();
    assert_eq!(first.payload, b"ArraySize\x003\0");
    for _ in 0..3 {
        let p = c.recv();
        let f = wire::split_strings(&p.payload);
        assert_eq!(f.len(), 13, "{f:?}"); // "NodeInfo" + 4.3.5's 12 fields
        assert_eq!(f[0], "NodeInfo");
    }
    assert_eq!(c.recv().payload, b"CommandComplete\0");
    // An ERROR keeps the connection.
    c.send(b'H', b"9\0");
    let p = c.recv();
    assert_eq!(Report::parse(&p.payload).severity, "ERROR");
    c.send(b'B', b"");
    let size = c.recv();
    assert_eq!(&size.payload[..10], b"ArraySize\0");
    assert_eq!(size.payload.len(), 14);
    let rows = i32::from_be_bytes(size.payload[10..].try_into().expect("4 bytes"));
    for _ in 0..rows {
        let p = c.recv();
        assert_eq!(wire::split_strings(&p.payload).len(), 4); // ProcessConfig, name, value, desc
    }
    assert_eq!(c.recv().payload, b"CommandComplete\0");
    c.send(b'Q', b"");
    let r = fatal(&c.recv());
    assert_eq!(
        (r.message.as_str(), r.detail.as_deref()),
        (
            "PCP processing request",
            Some("unknown PCP packet type \"Q\"")
        )
    );
    assert!(c.closed());

    // A bad length: FATAL invalid PCP packet.
    let mut c = Pcp::connect(port);
    c.0.write_all(b"L\0\0\x01\x04").expect("send");
    let r = fatal(&c.recv());
    assert_eq!(
        (r.message.as_str(), r.detail.as_deref()),
        ("invalid PCP packet", Some("incorrect packet length (260)"))
    );
    assert!(c.closed());

    // The server still serves, also on its Unix socket.
    let sock = d.dir().join(format!(".s.PGSQL.{port}"));
    let mode = std::fs::metadata(&sock)
        .expect("pcp socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o777);
    let mut u = std::os::unix::net::UnixStream::connect(&sock).expect("unix connect");
    wire::write_packet(&mut u, b'M', b"").expect("send");
    assert_eq!(wire::read_packet(&mut u, None).expect("salt").kind, b'm');
    let mut c = Pcp::connect(port);
    assert_eq!(c.auth(PCP_PASSWORD).kind, b'r');
    c.send(b'X', b"");
    assert!(c.closed());
    assert!(
        d.log().contains("authentication failed for user"),
        "{}",
        d.log()
    );
}

/// The pid of the daemon's PCP main process, from the process titles of its children.
fn pcp_main_pid(d: &Daemon) -> Option<u32> {
    d.children_pids().into_iter().find(|&p| {
        std::fs::read(format!("/proc/{p}/cmdline"))
            .map(|c| c.starts_with(b"pgpool: PCP: wait for connection request"))
            .unwrap_or(false)
    })
}

#[test]
fn pcp_process_is_reforked_and_pcp_stop_pgpool_stops_the_daemon() {
    let cluster = shared_sr_cluster();
    let mut d = Daemon::start_streaming(cluster, "");
    let sock = d.dir().join(format!(".s.PGSQL.{}", d.pcp_port()));
    let first = pcp_main_pid(&d).expect("a PCP process with pgpool's title");
    // SAFETY: kill(2) on a process of our own daemon.
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    wait_until(Duration::from_secs(20), "a new PCP process", || {
        pcp_main_pid(&d).is_some_and(|p| p != first)
    })
    .expect("re-forked");
    assert!(
        d.log().contains("fork a new PCP child process with pid: "),
        "{}",
        d.log()
    );
    let (out, err, code) = tool(d.dir(), d.pcp_port(), "pcp_node_count", &[]);
    assert_eq!((out.as_str(), err.as_str(), code), ("3\n", "", 0));

    let (out, err, code) = tool(d.dir(), d.pcp_port(), "pcp_stop_pgpool", &["-m", "x"]);
    assert_eq!(code, 1, "{out}{err}"); // rejected by the tool itself
    let (out, err, code) = tool(d.dir(), d.pcp_port(), "pcp_stop_pgpool", &["-m", "fast"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("pcp_stop_pgpool -- Command Successful\n", "", 0)
    );
    wait_until(Duration::from_secs(20), "the daemon to stop", || {
        !d.is_running()
    })
    .expect("stopped by pcp_stop_pgpool");
    assert!(!sock.exists(), "the PCP socket file is removed at shutdown");
}

/// `log_pcp_processes` (4.6, on by default): each PCP worker's fork and end are logged at LOG
/// as pgpool-II 4.3.5 logs them (seen side by side: `forked new pcp worker, pid=N socket=M`,
/// `PCP process with pid: N exit with SUCCESS.`, `PCP process with pid: N exits with status 0`);
/// off, none of them.
#[test]
fn pcp_worker_forks_and_exits_are_logged_as_pgpool_logs_them() {
    let cluster = shared_sr_cluster();
    for on in [true, false] {
        let conf = format!("log_min_messages = log\nlog_pcp_processes = {on}\n");
        let d = Daemon::start_streaming(cluster, &conf);
        let (out, err, code) = tool(d.dir(), d.pcp_port(), "pcp_node_count", &[]);
        assert_eq!((out.as_str(), err.as_str(), code), ("3\n", "", 0));
        let forked = |log: &str| {
            log.lines().find_map(|l| {
                let rest = l.split("LOG:  forked new pcp worker, pid=").nth(1)?;
                let (pid, fd) = rest.split_once(" socket=")?;
                fd.parse::<i32>().ok()?;
                Some(pid.to_string())
            })
        };
        if on {
            let mut pid = None;
            wait_until(Duration::from_secs(10), "the worker's exit lines", || {
                let log = d.log();
                pid = forked(&log);
                pid.as_ref().is_some_and(|p| {
                    log.contains(&format!(
                        "LOG:  PCP process with pid: {p} exit with SUCCESS."
                    )) && log.contains(&format!(
                        "LOG:  PCP process with pid: {p} exits with status 0"
                    ))
                })
            })
            .unwrap_or_else(|e| panic!("{e}: {}", d.log()));
        } else {
            std::thread::sleep(Duration::from_millis(500));
            let log = d.log();
            assert!(
                forked(&log).is_none() && !log.contains("PCP process with pid: "),
                "{log}"
            );
        }
    }
}

#[test]
fn pcp_node_operations_are_queued_or_refused_with_pgpools_errors() {
    let cluster = shared_sr_cluster();
    // Only this daemon's view of the nodes changes (no failover_command touches PostgreSQL).
    let d = Daemon::start_streaming(cluster, "log_min_messages = log\nrecovery_timeout = 1\n");
    let run = |name: &str, args: &[&str]| tool(d.dir(), d.pcp_port(), name, args);

    let (_, err, code) = run("pcp_detach_node", &["7"]);
    assert_eq!(code, 0);
    assert_eq!(
        err,
        "ERROR:  invalid degenerate backend request, node id: 7 is out of range. node id must be between [0 and 3]\n\n"
    );
    let (_, err, _) = run("pcp_detach_node", &["-g", "7"]);
    assert!(err.contains("node id: 7 is out of range"), "{err}");
    let (_, err, _) = run("pcp_promote_node", &["5"]);
    assert_eq!(
        err,
        "ERROR:  could not process promote request\nDETAIL:  node id 5 is not valid\n\n"
    );
    // A node pgpool sees as valid is not recovered (nothing is run on the shared cluster).
    let (_, err, _) = run("pcp_recovery_node", &["1"]);
    assert_eq!(err, "ERROR:  node recovery failed, node id: 1 is alive\n\n");
    let (_, err, _) = run("pcp_recovery_node", &["3"]);
    assert_eq!(
        err,
        "ERROR:  process recovery request failed\nDETAIL:  node id 3 is not valid\n\n"
    );
    let (_, err, _) = run("pcp_recovery_node", &["0"]);
    assert_eq!(
        err,
        "ERROR:  process recovery request failed\nDETAIL:  primary server cannot be recovered by online recovery.\n\n"
    );

    let started = std::time::Instant::now();
    let out = run("pcp_detach_node", &["-g", "2"]);
    assert_eq!(
        out,
        (
            "pcp_detach_node -- Command Successful\n".into(),
            String::new(),
            0
        )
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the graceful wait is bounded"
    );
    let out = run("pcp_attach_node", &["2"]);
    assert_eq!(
        out,
        (
            "pcp_attach_node -- Command Successful\n".into(),
            String::new(),
            0
        )
    );
    wait_until(
        Duration::from_secs(10),
        "the queued requests in the log",
        || {
            let log = d.log();
            log.contains("received degenerate backend request for node_id: 2")
                && log.contains("received failback request for node_id: 2")
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
}

/// The real `pgpool_recovery` extension (Debian's postgresql-15-pgpool2) in template1 of the
/// primary, with the two scripts it runs from the primary's data directory: stage 1 re-clones the
/// target with pg_basebackup (and records its arguments in `<log dir>/stage1`), remote start
/// starts the target with pg_ctl.
fn install_recovery(cluster: &Cluster) {
    let bin = crate::support::cluster::pgbin();
    let logdir = cluster.dir().join("log");
    let stage1 = format!(
        "#!/bin/sh\n\
         # recovery_1st_stage <primary datadir> <target host> <target datadir> <primary port> <node> <target port> <primary host>\n\
         echo \"$@\" > {rec}\n\
         rm -rf \"$3\"\n\
         {bin}/pg_basebackup -h \"$7\" -p \"$4\" -U {user} -D \"$3\" -R -X stream -c fast || exit 1\n\
         echo \"port = $6\" >> \"$3/postgresql.auto.conf\"\n",
        rec = logdir.join("stage1").display(),
        bin = bin.display(),
        user = crate::support::cluster::SUPERUSER,
    );
    let remote_start = format!(
        "#!/bin/sh\n# pgpool_remote_start <target host> <target datadir>\n\
         {bin}/pg_ctl -D \"$2\" -l {log} -w start >/dev/null 2>&1 < /dev/null\n",
        bin = bin.display(),
        log = cluster.log_path(1).display(),
    );
    let data = cluster.data_dir(0);
    for (name, text) in [
        ("recovery_1st_stage", stage1),
        ("pgpool_remote_start", remote_start),
    ] {
        let path = data.join(name);
        std::fs::write(&path, text).expect("write a recovery script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        crate::support::os_user::os_user().chown(&path);
    }
    let mut c = cluster
        .connect(0, crate::support::cluster::SUPERUSER, None, "template1")
        .expect("connect to template1");
    c.batch_execute("CREATE EXTENSION IF NOT EXISTS pgpool_recovery")
        .expect("CREATE EXTENSION pgpool_recovery (package postgresql-15-pgpool2)");
}

#[test]
fn pcp_recovery_node_reclones_a_detached_standby_and_attaches_it() {
    let cluster = Cluster::start(ClusterSpec::default());
    install_recovery(&cluster);
    let keep = cluster.psql(
        0,
        "CREATE TABLE before_recovery AS SELECT 42 AS v; SELECT 1",
    );
    assert_eq!(keep.trim(), "1");
    cluster.stop_node(1, StopMode::Fast);
    let mut d = Daemon::prepare(
        &cluster,
        &format!(
            "{STREAMING_CONF}recovery_user = 'postgres'\n\
             recovery_1st_stage_command = 'recovery_1st_stage'\nrecovery_timeout = 60\n"
        ),
    );
    // pgpool's view: node 1 is down.
    std::fs::write(d.dir().join("pgpool_status"), "up\ndown\n").expect("status file");
    d.launch_foreground(&[]).expect("daemon starts");
    let run = |args: &[&str]| tool(d.dir(), d.pcp_port(), "pcp_recovery_node", args);

    let (_, err, _) = run(&["0"]);
    assert_eq!(
        err,
        "ERROR:  process recovery request failed\nDETAIL:  primary server cannot be recovered by online recovery.\n\n"
    );
    let out = run(&["1"]);
    assert_eq!(
        out,
        (
            "pcp_recovery_node -- Command Successful\n".into(),
            String::new(),
            0
        ),
        "{}",
        d.log()
    );
    assert!(cluster.is_running(1));
    assert!(cluster.is_in_recovery(1), "the re-cloned node is a standby");
    let stage1 = std::fs::read_to_string(cluster.dir().join("log/stage1")).expect("stage 1 ran");
    assert_eq!(
        stage1.trim_end(),
        format!(
            "{} {HOST} {} {} 1 {} {HOST}",
            cluster.data_dir(0).display(),
            cluster.data_dir(1).display(),
            cluster.port(0),
            cluster.port(1)
        )
    );
    for line in [
        "received failback request for node_id: 1",
        "node recovery, 1st stage is done",
        "recovery done",
    ] {
        assert!(d.log().contains(line), "{line}\n{}", d.log());
    }
    // the failback is carried out: node 1 is up again and serves what the primary had
    crate::support::wait_until(
        Duration::from_secs(30),
        "node 1 up in SHOW pool_nodes",
        || {
            d.psql("SHOW pool_nodes")
                .map(|o| {
                    o.lines()
                        .any(|l| l.starts_with("1|") && l.split('|').nth(3) == Some("up"))
                })
                .unwrap_or(false)
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    crate::support::wait_until(
        Duration::from_secs(30),
        "the row replayed on node 1",
        || {
            cluster
                .try_psql(1, "SELECT v FROM before_recovery")
                .is_ok_and(|o| o.trim() == "42")
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// A client through `port` as the superuser, connected and served one `SELECT 1`.
fn served_client(port: u16) -> Result<postgres::Client, String> {
    let mut config = postgres::Config::new();
    config
        .host(HOST)
        .port(port)
        .user(crate::support::cluster::SUPERUSER)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(10));
    let mut c = config.connect(postgres::NoTls).map_err(|e| e.to_string())?;
    c.simple_query("SELECT 1").map_err(|e| e.to_string())?;
    Ok(c)
}

/// pgpool's view of `node`: the status name pcp_node_info prints (`up`, `waiting`, `down`).
fn node_status(d: &Daemon, node: usize) -> String {
    let (out, err, _) = tool(d.dir(), d.pcp_port(), "pcp_node_info", &[&node.to_string()]);
    out.split(' ')
        .nth(4)
        .unwrap_or_else(|| panic!("pcp_node_info {node}: {out}{err}"))
        .to_string()
}

/// `Daemon::start` waits for the client port; the PCP process may come a moment later.
fn wait_pcp(d: &Daemon) {
    let addr = format!("{HOST}:{}", d.pcp_port());
    wait_until(Duration::from_secs(20), "the PCP port", || {
        TcpStream::connect(&addr).is_ok()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
}

fn command_successful(name: &str) -> (String, String, i32) {
    (format!("{name} -- Command Successful\n"), String::new(), 0)
}

/// Graceful detach under steady client traffic (spec/pcp.md §5.8): two clients reconnect every
/// 100 ms, overlapping, so some client is always connected. Holding new clients back in the
/// listen queue lets the connected ones drain: the node is detached well within
/// `recovery_timeout`, and the clients go on being served afterwards.
#[test]
fn pcp_graceful_detach_gets_through_steady_client_traffic() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::time::Instant;
    let cluster = shared_sr_cluster();
    let d = Daemon::start_streaming(cluster, "log_min_messages = log\nrecovery_timeout = 6\n");
    wait_pcp(&d);
    let port = d.port();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let traffic: Vec<_> = (0..2u64)
            .map(|i| {
                let stop = &stop;
                s.spawn(move || {
                    std::thread::sleep(Duration::from_millis(50 * i));
                    // (start of each served session, error of each failed one)
                    let mut log: Vec<(Instant, Result<(), String>)> = Vec::new();
                    while !stop.load(SeqCst) {
                        let started = Instant::now();
                        match served_client(port) {
                            Ok(c) => {
                                log.push((started, Ok(())));
                                std::thread::sleep(Duration::from_millis(100));
                                drop(c);
                            }
                            Err(e) => {
                                log.push((started, Err(e)));
                                std::thread::sleep(Duration::from_millis(100));
                            }
                        }
                    }
                    log
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(600));
        let started = Instant::now();
        let out = tool(d.dir(), d.pcp_port(), "pcp_detach_node", &["-g", "2"]);
        let took = started.elapsed();
        let done = Instant::now();
        let status = node_status(&d, 2);
        std::thread::sleep(Duration::from_millis(800));
        stop.store(true, SeqCst);
        let logs: Vec<_> = traffic
            .into_iter()
            .map(|t| t.join().expect("a client thread"))
            .collect();
        assert_eq!(out, command_successful("pcp_detach_node"), "{}", d.log());
        assert_eq!(status, "down", "node 2 detached\n{}", d.log());
        assert!(
            took < Duration::from_secs(5),
            "detached without waiting out recovery_timeout: {took:?}"
        );
        for log in &logs {
            let served_after = log.iter().filter(|(t, r)| *t > done && r.is_ok()).count();
            assert!(served_after > 0, "clients are served after the detach");
            let failed: Vec<_> = log.iter().filter_map(|(_, r)| r.as_ref().err()).collect();
            assert!(failed.is_empty(), "no client was refused: {failed:?}");
        }
    });
}

/// A client that arrives while a graceful detach waits for the connected clients stays in the
/// listen queue (not refused), and is served once the node is detached.
#[test]
fn pcp_graceful_detach_holds_a_new_client_back_and_serves_it_afterwards() {
    use std::time::Instant;
    let cluster = shared_sr_cluster();
    let d = Daemon::start_streaming(cluster, "log_min_messages = log\nrecovery_timeout = 30\n");
    wait_pcp(&d);
    let port = d.port();
    let holder = served_client(port).expect("an idle client");
    std::thread::scope(|s| {
        let pcp = s.spawn(|| {
            let out = tool(d.dir(), d.pcp_port(), "pcp_detach_node", &["-g", "2"]);
            (out, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(1500));
        let late = s.spawn(move || served_client(port).map(|_| Instant::now()));
        std::thread::sleep(Duration::from_millis(1500));
        let held = !late.is_finished();
        let waiting = !pcp.is_finished();
        let released = Instant::now();
        drop(holder);
        let (out, _) = pcp.join().expect("the pcp thread");
        let served = late.join().expect("the late client");
        assert!(waiting, "the graceful detach waits for the idle client");
        assert!(held, "a new client is held back while the detach waits");
        assert_eq!(out, command_successful("pcp_detach_node"), "{}", d.log());
        let served = served.unwrap_or_else(|e| panic!("the held-back client is served: {e}"));
        assert!(served > released);
    });
    assert_eq!(node_status(&d, 2), "down");
    served_client(port).expect("clients are accepted again");
}

/// When the connected clients do not leave within `recovery_timeout`, graceful detach and
/// promote are abandoned: the node stays as it was, the reply is still CommandComplete
/// (pgpool's quirk, spec/pcp.md §5.8), and new clients are let in again.
#[test]
fn pcp_graceful_detach_and_promote_give_up_after_recovery_timeout() {
    use std::time::Instant;
    let cluster = shared_sr_cluster();
    let d = Daemon::start_streaming(cluster, "log_min_messages = log\nrecovery_timeout = 3\n");
    wait_pcp(&d);
    let port = d.port();
    let _holder = served_client(port).expect("an idle client");
    for (name, args) in [
        ("pcp_detach_node", &["-g", "2"][..]),
        ("pcp_promote_node", &["-g", "1"][..]),
    ] {
        let started = Instant::now();
        let out = tool(d.dir(), d.pcp_port(), name, args);
        let took = started.elapsed();
        assert_eq!(out, command_successful(name), "{}", d.log());
        assert!(took >= Duration::from_secs(2), "{name} waited: {took:?}");
        // new clients are not held back any more
        let t = Instant::now();
        served_client(port).unwrap_or_else(|e| panic!("after {name}: {e}"));
        assert!(t.elapsed() < Duration::from_secs(2), "after {name}");
    }
    assert_ne!(node_status(&d, 2), "down");
    let (out, _, _) = tool(d.dir(), d.pcp_port(), "pcp_node_info", &["0"]);
    assert_eq!(out.split(' ').nth(6), Some("primary"), "{out}");
    assert!(
        d.log()
            .contains("wait_connection_closed: existing connections did not close in"),
        "{}",
        d.log()
    );
}

/// `O` and `T` are refused while a failover runs *and* a node request is still queued
/// (spec/architecture.md §4, pcp.md §5): with a slow failover_command, a stop sent while a
/// second detach waits in the queue is refused ("failover is in progress"); once the main
/// process has taken that request too, the stop goes through although the failover still runs.
#[test]
fn pcp_stop_pgpool_is_refused_only_while_a_node_request_is_queued() {
    let cluster = shared_sr_cluster();
    // (only this daemon's view of the nodes changes; the command touches no server)
    let mut d = Daemon::start_streaming(
        cluster,
        "log_min_messages = log\nfailover_command = 'echo %d >> failovers; sleep 4'\n",
    );
    wait_pcp(&d);
    let run = |name: &str, args: &[&str]| tool(d.dir(), d.pcp_port(), name, args);
    let failovers = d.dir().join("failovers");
    let ran = |node: &str| {
        std::fs::read_to_string(&failovers)
            .map(|t| t.lines().any(|l| l == node))
            .unwrap_or(false)
    };
    assert_eq!(
        run("pcp_detach_node", &["2"]),
        command_successful("pcp_detach_node")
    );
    wait_until(
        Duration::from_secs(20),
        "the first failover_command",
        || ran("2"),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    assert_eq!(
        run("pcp_detach_node", &["1"]),
        command_successful("pcp_detach_node")
    );
    let refused = run("pcp_stop_pgpool", &["-m", "fast"]);
    assert_eq!(
        refused,
        (
            String::new(),
            "ERROR:  failed to process PCP request at the moment\nDETAIL:  failover is in progress\n\n"
                .into(),
            0
        )
    );
    wait_until(
        Duration::from_secs(20),
        "the second failover_command",
        || ran("1"),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    assert_eq!(
        run("pcp_stop_pgpool", &["-m", "fast"]),
        command_successful("pcp_stop_pgpool"),
        "{}",
        d.log()
    );
    wait_until(Duration::from_secs(30), "the daemon to stop", || {
        !d.is_running()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
}

/// pcp.conf is read as pgpool reads it at each login (spec/pcp.md §3): line by line up to the
/// first line that matches, checking only what it reaches. A malformed line after the
/// matching one, or another user's over-long password anywhere, locks nobody out; a line
/// without ':' before it does (FATAL, exit 1).
#[test]
fn pcp_login_reads_pcp_conf_only_up_to_the_matching_line() {
    let cluster = shared_sr_cluster();
    let d = Daemon::start_streaming(cluster, "");
    wait_pcp(&d);
    let admin = std::fs::read_to_string(d.pcp_conf_path()).expect("pcp.conf");
    assert!(admin.starts_with(&format!("{PCP_USER}:")), "{admin}");
    let other = format!("other:{}\n", "x".repeat(200));
    for text in [
        format!("{admin}nocolon\n"),
        format!("{admin}{other}"),
        format!("{other}{admin}nocolon\n"),
    ] {
        std::fs::write(d.pcp_conf_path(), &text).expect("write pcp.conf");
        let (out, err, code) = tool(d.dir(), d.pcp_port(), "pcp_node_count", &[]);
        assert_eq!((out.as_str(), err.as_str(), code), ("3\n", "", 0), "{text}");
    }
    std::fs::write(d.pcp_conf_path(), format!("nocolon\n{admin}")).expect("write pcp.conf");
    let (out, err, code) = tool(d.dir(), d.pcp_port(), "pcp_node_count", &[]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        (
            "",
            format!(
                "FATAL:  failed to authenticate PCP user\nDETAIL:  username read from file \"{}\" is larger than maximum allowed username length [128]\n\n",
                d.pcp_conf_path().display()
            )
            .as_str(),
            1
        )
    );
}
