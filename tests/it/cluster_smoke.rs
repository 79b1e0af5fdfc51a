//! Proves the cluster helper against real PostgreSQL, without our daemon: the primary and its
//! standbys run and stream, each backend authentication method is really in force for the roles
//! `create_role` makes, node control works, and nothing is left behind — neither on drop nor when
//! the test process is killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::cluster::{
    postmaster_pid, process_alive, shared_cluster, AuthMethod, Cluster, ClusterSpec, StopMode,
};
use crate::support::{wait_until, HOST};

/// The authentication request a server answers a startup packet for `user` with: 0 = ok (trust),
/// 3 = clear-text password, 5 = md5, 10 = SASL (SCRAM).
fn auth_request_code(port: u16, user: &str) -> i32 {
    let mut stream = TcpStream::connect((HOST, port)).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    let mut packet = bytes::BytesMut::new();
    postgres_protocol::message::frontend::startup_message(
        [("user", user), ("database", "postgres")],
        &mut packet,
    )
    .expect("build a startup packet");
    stream.write_all(&packet).expect("send the startup packet");
    let mut head = [0u8; 9]; // 'R', length, request code
    stream
        .read_exact(&mut head)
        .expect("read the server's answer");
    assert_eq!(
        head[0], b'R',
        "expected an authentication request, got {:?}",
        head[0] as char
    );
    i32::from_be_bytes(head[5..9].try_into().expect("four bytes"))
}

fn method_code(method: AuthMethod) -> i32 {
    match method {
        AuthMethod::Trust => 0,
        AuthMethod::Password => 3,
        AuthMethod::Md5 => 5,
        AuthMethod::ScramSha256 => 10,
    }
}

#[test]
fn shared_cluster_has_a_writable_primary_and_a_streaming_standby() {
    let c = shared_cluster();
    assert!(!c.is_in_recovery(0));
    assert!(c.is_in_recovery(1));
    assert_eq!(
        c.psql(
            0,
            "select application_name || ' ' || state from pg_stat_replication"
        ),
        "node1 streaming"
    );
    c.psql(0, "create table smoke_replicated (v int); insert into smoke_replicated select generate_series(1, 10)");
    c.wait_replayed();
    assert_eq!(c.psql(1, "select sum(v) from smoke_replicated"), "55");
    assert!(c
        .try_psql(1, "insert into smoke_replicated values (1)")
        .unwrap_err()
        .contains("read-only"));
    c.psql(0, "drop table smoke_replicated");
}

#[test]
fn shared_cluster_listens_on_loopback_and_its_own_socket_dir() {
    let c = shared_cluster();
    assert_eq!(c.psql(0, "show listen_addresses"), c.host());
    assert_eq!(
        c.psql(1, "show unix_socket_directories"),
        c.socket_dir().display().to_string()
    );
    for node in 0..c.nodes() {
        assert_eq!(c.psql(node, "show port"), c.port(node).to_string());
        assert!(c
            .socket_dir()
            .join(format!(".s.PGSQL.{}", c.port(node)))
            .exists());
    }
    let mut client =
        postgres::Client::connect(&c.connstr(1), postgres::NoTls).expect("connect with connstr");
    let row = client
        .query_one("select pg_is_in_recovery()", &[])
        .expect("query the standby");
    assert!(row.get::<_, bool>(0));
}

#[test]
fn each_backend_auth_method_is_in_force_on_every_node() {
    let c = shared_cluster();
    for method in AuthMethod::ALL {
        let role = format!("smoke_{}", method.hba().replace('-', "_"));
        let password = format!("pw-{role}-'quoted'");
        c.create_role(&role, &password, method);
        for node in 0..c.nodes() {
            assert_eq!(
                auth_request_code(c.port(node), &role),
                method_code(method),
                "{method:?} on node{node}"
            );
            let who = c.psql_as(
                node,
                &role,
                Some(&password),
                "postgres",
                "select current_user",
            );
            assert_eq!(
                who.as_deref(),
                Ok(role.as_str()),
                "{method:?} login on node{node}"
            );
            let mut client = c
                .connect(node, &role, Some(&password), "postgres")
                .expect("postgres crate login");
            assert_eq!(
                client
                    .query_one("select 1::int4", &[])
                    .expect("query")
                    .get::<_, i32>(0),
                1
            );
            let wrong = c.psql_as(node, &role, Some("wrong"), "postgres", "select 1");
            if method == AuthMethod::Trust {
                assert!(wrong.is_ok(), "trust ignores the password: {wrong:?}");
            } else {
                assert!(
                    wrong
                        .unwrap_err()
                        .contains("password authentication failed"),
                    "{method:?}"
                );
            }
        }
    }
    let stored = c.psql(
        0,
        "select rolpassword from pg_authid where rolname = 'smoke_md5'",
    );
    assert!(
        stored.starts_with("md5"),
        "md5 role must have an md5 hash, has {stored}"
    );
}

#[test]
fn own_cluster_applies_spec_auth_controls_nodes_and_cleans_up_on_drop() {
    let c = Cluster::start(ClusterSpec {
        standbys: 1,
        auth: AuthMethod::ScramSha256,
    });
    let dir: PathBuf = c.dir().to_path_buf();
    // a role without its own pg_hba.conf line gets the spec's method
    c.psql(0, "create role smoke_plain login password 'x'");
    c.wait_replayed();
    assert_eq!(auth_request_code(c.port(0), "smoke_plain"), 10);
    assert_eq!(auth_request_code(c.port(0), "postgres"), 0);

    c.stop_node(1, StopMode::Immediate);
    assert!(!c.is_running(1));
    c.start_node(1);
    c.wait_streaming();
    c.promote(1);
    assert!(!c.is_in_recovery(1));
    c.psql(1, "create table smoke_after_promote (v int)");

    let pids: Vec<u32> = (0..c.nodes())
        .map(|n| postmaster_pid(&c.data_dir(n)).expect("running node has a pid"))
        .collect();
    drop(c);
    assert!(!dir.exists(), "{} left behind", dir.display());
    for pid in pids {
        assert!(
            !process_alive(pid),
            "postmaster {pid} still running after drop"
        );
    }
}

const ABANDON_ENV: &str = "PGRS_TEST_ABANDON_CLUSTER";

/// Run only by `a_killed_test_process_leaves_no_cluster_behind` (in a child process).
#[test]
#[ignore = "helper: run as a child process by a_killed_test_process_leaves_no_cluster_behind"]
fn abandoned_cluster_helper() {
    if std::env::var_os(ABANDON_ENV).is_none() {
        return;
    }
    let c = Cluster::start(ClusterSpec {
        standbys: 0,
        auth: AuthMethod::Trust,
    });
    let pid = postmaster_pid(&c.data_dir(0)).expect("postmaster pid");
    println!("PGRS-ABANDON {pid} {}", c.dir().display());
    std::io::stdout().flush().expect("flush");
    std::thread::sleep(Duration::from_secs(120)); // killed long before
}

#[test]
fn a_killed_test_process_leaves_no_cluster_behind() {
    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            "cluster_smoke::abandoned_cluster_helper",
            "--ignored",
            "--nocapture",
        ])
        .env(ABANDON_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the helper test");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("PGRS-ABANDON ") {
                let _ = tx.send(rest.to_string());
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(90));
    child.kill().expect("SIGKILL the helper");
    child.wait().expect("reap the helper");
    let line = line.expect("the helper reported its cluster");
    let (pid, dir) = line.split_once(' ').expect("pid and dir");
    let (pid, dir): (u32, &Path) = (pid.parse().expect("pid"), Path::new(dir));
    wait_until(
        Duration::from_secs(40),
        "the watchdog to stop the postmaster and remove the dir",
        || !process_alive(pid) && !dir.exists(),
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}: postmaster {pid} alive={}, {} exists={}",
            process_alive(pid),
            dir.display(),
            dir.exists()
        )
    });
}
