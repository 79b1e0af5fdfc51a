//! Our pcp_* tools and pg_md5 against Debian's pgpool-II 4.3.5 ones (the arbiter): both run
//! with the same arguments against the same REAL pgpool-II 4.3.5 daemon (`/usr/sbin/pgpool`) in
//! front of the shared streaming cluster, and must print the same stdout (and stderr for errors)
//! and exit with the same code. Only read-only requests run against the shared cluster.

use std::path::Path;
use std::time::Duration;

use crate::support::cluster::{shared_sr_cluster, Cluster, ClusterSpec, SUPERUSER};
use crate::support::daemon::{Daemon, PCP_USER};
use crate::support::pcp::{self, PcpPass, Run};
use crate::support::sr::STREAMING_CONF;
use crate::support::{wait_until, HOST};

const DEBIAN_PGPOOL: &str = "/usr/sbin/pgpool";

/// Debian's pgpool in streaming mode on the shared cluster; no child restarts (the proc_info
/// "before process restarting" countdown would tick between the two runs).
fn real_pgpool() -> Daemon {
    real_pgpool_with("")
}

/// `real_pgpool` with `extra` configuration lines.
fn real_pgpool_with(extra: &str) -> Daemon {
    let d = Daemon::start_with_bin(
        shared_sr_cluster(),
        &format!("{STREAMING_CONF}child_life_time = 0\n{extra}"),
        Path::new(DEBIAN_PGPOOL),
    );
    // the daemon is ready when the client port accepts; the PCP process may come a bit later
    let addr = format!("{HOST}:{}", d.pcp_port());
    wait_until(Duration::from_secs(20), "the PCP port", || {
        std::net::TcpStream::connect(&addr).is_ok()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    d
}

/// Run ours and Debian's `tool` with `-h/-p/-U/-w` + `extra`; assert the same stdout and exit
/// code (and stderr when `stderr` is set). Returns Debian's run.
fn same(d: &Daemon, pass: &PcpPass, tool: &str, extra: &[&str], stderr: bool) -> Run {
    let args = pcp::args(d.pcp_port(), extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    same_args(pass, tool, &args, stderr)
}

fn same_args(pass: &PcpPass, tool: &str, args: &[&str], stderr: bool) -> Run {
    let (ours, theirs) = pcp::both(tool, args, pass);
    assert_eq!(
        ours.stdout, theirs.stdout,
        "{tool} {args:?}: stdout differs\nours stderr: {}\ntheirs stderr: {}",
        ours.stderr, theirs.stderr
    );
    assert_eq!(
        ours.code, theirs.code,
        "{tool} {args:?}: exit code differs (ours stderr {:?}, theirs {:?})",
        ours.stderr, theirs.stderr
    );
    if stderr {
        assert_eq!(
            ours.stderr, theirs.stderr,
            "{tool} {args:?}: stderr differs"
        );
    }
    theirs
}

#[test]
fn read_only_tools_print_what_debians_print() {
    read_only_tools_agree(&real_pgpool());
}

/// The other half of the cross-compatibility: both tool sets against OUR daemon.
#[test]
fn read_only_tools_print_what_debians_print_against_our_daemon() {
    let d = Daemon::start(
        shared_sr_cluster(),
        &format!("{STREAMING_CONF}child_life_time = 0\n"),
    );
    let addr = format!("{HOST}:{}", d.pcp_port());
    wait_until(Duration::from_secs(20), "the PCP port", || {
        std::net::TcpStream::connect(&addr).is_ok()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    read_only_tools_agree(&d);
}

/// Every read-only tool, ours and Debian's, against `d`: same stdout, stderr and exit code.
fn read_only_tools_agree(d: &Daemon) {
    let pass = PcpPass::new();
    // a pooled connection with a database, so that proc_info has rows to show
    let mut client = d.client(SUPERUSER, "postgres");
    client
        .simple_query("SELECT 1")
        .expect("query through pgpool");

    let r = same(d, &pass, "pcp_node_count", &[], true);
    assert_eq!((r.stdout.as_str(), r.code), ("3\n", 0));
    same(d, &pass, "pcp_node_count", &["-v"], true);
    // the protocol trace of -d
    let r = same(d, &pass, "pcp_node_count", &["-d"], true);
    assert!(
        r.stdout.starts_with("DEBUG: recv: tos=\"m\", len=8\n"),
        "{}",
        r.stdout
    );
    same(d, &pass, "pcp_node_info", &["-d", "-n", "9"], true);

    let r = same(d, &pass, "pcp_node_info", &[], true);
    assert_eq!(r.stdout.lines().count(), 3, "{}", r.stdout);
    same(d, &pass, "pcp_node_info", &["-n", "1"], true);
    same(d, &pass, "pcp_node_info", &["1"], true);
    same(d, &pass, "pcp_node_info", &["-v"], true);
    same(d, &pass, "pcp_node_info", &["-a", "-v", "-n", "2"], true);

    let r = same(d, &pass, "pcp_health_check_stats", &["-n", "0"], true);
    assert!(r.stdout.starts_with("0 127.0.0.1 "), "{}", r.stdout);
    same(d, &pass, "pcp_health_check_stats", &["-n", "2", "-v"], true);

    let r = same(d, &pass, "pcp_proc_count", &[], true);
    assert_eq!(r.stdout.split_whitespace().count(), 4, "{}", r.stdout);
    same(d, &pass, "pcp_proc_count", &["-v"], true);

    let r = same(d, &pass, "pcp_proc_info", &[], true);
    assert!(r.stdout.contains(" postgres "), "{}", r.stdout);
    same(d, &pass, "pcp_proc_info", &["-a"], true);
    let r = same(d, &pass, "pcp_proc_info", &["-v"], true);
    let pid = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("PID                       : "))
        .expect("a PID line")
        .to_string();
    let r = same(d, &pass, "pcp_proc_info", &["-P", &pid], true);
    assert!(r.stdout.contains(&format!(" {pid} ")), "{}", r.stdout);
    same(d, &pass, "pcp_proc_info", &["-v", "-a", &pid], true);

    let r = same(d, &pass, "pcp_pool_status", &[], true);
    assert!(
        r.stdout.starts_with("name : backend_clustering_mode\n"),
        "{}",
        r.stdout
    );
    same(d, &pass, "pcp_pool_status", &["-v"], true);

    let r = same(d, &pass, "pcp_watchdog_info", &[], true);
    assert_eq!(
        r.stderr,
        "ERROR:  PCP: informing watchdog info failed\nDETAIL:  watchdog is not enabled\n\n"
    );
    same(d, &pass, "pcp_watchdog_info", &["-v", "0"], true);
}

#[test]
fn errors_and_exit_codes_match_debians() {
    let d = real_pgpool();
    let pass = PcpPass::new();
    let r = same(&d, &pass, "pcp_node_info", &["-n", "9"], true);
    assert_eq!(
        (r.stderr.as_str(), r.code),
        (
            "ERROR:  informing node info failed\nDETAIL:  invalid node ID : 9\n\n",
            0
        )
    );
    same(&d, &pass, "pcp_health_check_stats", &["-n", "7"], true);
    same(&d, &pass, "pcp_proc_info", &["-P", "1"], true);
    same(&d, &pass, "pcp_node_info", &["-n", "200"], true);
    same(&d, &pass, "pcp_node_info", &["200"], true);
    same(&d, &pass, "pcp_proc_info", &["0"], true);
    same(&d, &pass, "pcp_watchdog_info", &["-n", "-1"], true);
    same(&d, &pass, "pcp_attach_node", &[], true);
    same(&d, &pass, "pcp_stop_pgpool", &["-m", "x"], true);
    same(&d, &pass, "pcp_reload_config", &["-s", "x"], true);
    same(&d, &pass, "pcp_node_count", &["--mode=f"], true);
    same(&d, &pass, "pcp_node_count", &["extra", "args"], true);

    // wrong password: FATAL, exit 1
    let wrong = PcpPass::with_password("not-the-password");
    let r = same(&d, &wrong, "pcp_node_count", &[], true);
    assert_eq!(
        (r.stderr.as_str(), r.code),
        (
            &*format!(
                "FATAL:  authentication failed for user \"{PCP_USER}\"\nDETAIL:  username and/or password does not match\n\n"
            ),
            1
        )
    );
    // nothing listening, bad port, no such socket directory
    same_args(
        &pass,
        "pcp_node_count",
        &["-h", "127.0.0.1", "-p", "1029", "-w"],
        true,
    );
    same_args(
        &pass,
        "pcp_node_count",
        &["-h", "127.0.0.1", "-p", "80", "-w"],
        true,
    );
    same_args(
        &pass,
        "pcp_node_count",
        &["-h", "/nonexistent", "-p", "9999", "-w"],
        true,
    );
    same_args(&pass, "pcp_proc_count", &["-x"], false);
    // over the unix socket (the daemon directory is pgpool's pcp_socket_dir)
    let dir = d.socket_dir().display().to_string();
    let port = d.pcp_port().to_string();
    same_args(
        &pass,
        "pcp_node_count",
        &["-h", &dir, "-p", &port, "-U", PCP_USER, "-w"],
        true,
    );
}

#[test]
fn help_text_matches_debians() {
    let pass = PcpPass::new();
    for tool in [
        "pcp_attach_node",
        "pcp_detach_node",
        "pcp_node_count",
        "pcp_node_info",
        "pcp_health_check_stats",
        "pcp_pool_status",
        "pcp_proc_count",
        "pcp_proc_info",
        "pcp_promote_node",
        "pcp_recovery_node",
        "pcp_stop_pgpool",
        "pcp_watchdog_info",
        "pcp_reload_config",
    ] {
        let r = same_args(&pass, tool, &["--help"], true);
        assert_eq!(r.code, 0);
        assert!(r.stderr.starts_with(&format!("{tool} - ")), "{}", r.stderr);
        same_args(&pass, tool, &["-w", "--help"], true);
        same_args(&pass, tool, &["-V"], true);
        same_args(&pass, tool, &["-w", "--version"], true);
    }
}

#[test]
fn pg_md5_matches_debians() {
    let pass = PcpPass::new();
    let r = same_args(&pass, "pg_md5", &["pcppass"], true);
    assert_eq!(r.stdout, "0d0e5266f9ff6a4235a45222acf90cbb\n");
    same_args(&pass, "pg_md5", &["a", "b"], true);
    let long = "x".repeat(129);
    // the usage names argv[0], which differs (our path vs /usr/sbin/pg_md5): compare the rest
    for args in [vec![long.as_str()], vec![], vec!["-x"], vec!["--help"]] {
        let (ours, theirs) = (
            pcp::run(&pcp::ours("pg_md5"), &args, &pass),
            pcp::run(&pcp::debian("pg_md5"), &args, &pass),
        );
        let ours_bin = pcp::ours("pg_md5").display().to_string();
        let norm = |s: &str, bin: &str| s.replace(bin, "PG_MD5");
        assert_eq!(ours.code, theirs.code, "pg_md5 {args:?}");
        assert_eq!(
            norm(&ours.stdout, &ours_bin),
            norm(&theirs.stdout, "/usr/sbin/pg_md5"),
            "pg_md5 {args:?}"
        );
        assert_eq!(
            norm(&ours.stderr, &ours_bin),
            norm(&theirs.stderr, "/usr/sbin/pg_md5"),
            "pg_md5 {args:?}"
        );
    }

    // -i: username:password lines
    let input = pass.dir().join("pairs");
    std::fs::write(&input, "a:b\n\nnocolon\nc:d:e\n").expect("write the input file");
    let input = input.display().to_string();
    let r = same_args(&pass, "pg_md5", &["-i", &input], true);
    assert!(
        r.stdout
            .contains("LINE#03: Invalid username:password pair\n"),
        "{}",
        r.stdout
    );

    // -m -u -f: the same pool_passwd after the same sequence of updates
    let mut files = Vec::new();
    for bin in [pcp::ours("pg_md5"), pcp::debian("pg_md5")] {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("pgpool.conf");
        std::fs::write(&conf, "pool_passwd = 'pool_passwd'\n").expect("write pgpool.conf");
        let conf = conf.display().to_string();
        for (user, pw) in [("alice", "secret"), ("bob", "s2"), ("alice", "s3")] {
            let r = pcp::run_in(
                &bin,
                &["-m", "-u", user, "-f", &conf, pw],
                &pass,
                dir.path(),
            );
            assert_eq!(
                (r.code, r.stdout.as_str()),
                (0, ""),
                "{}: {}",
                bin.display(),
                r.stderr
            );
        }
        files.push(std::fs::read_to_string(dir.path().join("pool_passwd")).expect("pool_passwd"));
    }
    assert_eq!(files[0], files[1]);
    assert_eq!(
        files[0],
        "alice:md57adb5a9d4330469f786f9cb195f70526\nbob:md564df37c3d7090e706821259639dc5c69\n"
    );
    // a missing configuration file
    let r = pcp::run(
        &pcp::ours("pg_md5"),
        &["-m", "-u", "u", "-f", "/nonexistent/pgpool.conf", "x"],
        &pass,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .ends_with("Unable to get configuration. Exiting...\n\n"),
        "{}",
        r.stderr
    );
}

/// What one pg_md5 / pg_enc run did, run in a fresh directory holding `pgpool.conf`
/// (`pool_passwd = 'pool_passwd'`), an empty `pool_passwd` and `files`: stdout and stderr (the
/// program's path written `PROG`, pids `N`), exit code (None: killed by a signal), and
/// pool_passwd afterwards.
#[derive(Debug, PartialEq, Eq)]
struct PwRun {
    stdout: String,
    stderr: String,
    code: Option<i32>,
    pool_passwd: String,
}

fn our_pw_tool(tool: &str) -> std::path::PathBuf {
    match tool {
        "pg_enc" => env!("CARGO_BIN_EXE_pg_enc").into(),
        _ => pcp::ours(tool),
    }
}

/// The running user's home directory from the password database: Debian's tools name it in
/// their usage whatever `$HOME` says, so both run with `HOME` set to it.
fn passwd_home() -> std::path::PathBuf {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.dir)
        .unwrap_or_else(|| "/".into())
}

/// `pid <digits>:` written `pid N:`.
fn without_pids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("pid ") {
        out.push_str(&rest[..at + 4]);
        rest = &rest[at + 4..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with(':') {
            out.push('N');
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

fn pw_run(bin: &Path, args: &[&str], files: &[(&str, &[u8])]) -> PwRun {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("pgpool.conf"),
        "pool_passwd = 'pool_passwd'\n",
    )
    .expect("write pgpool.conf");
    std::fs::write(dir.path().join("pool_passwd"), "").expect("write pool_passwd");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write an input file");
    }
    let out = std::process::Command::new(bin)
        .args(args)
        .current_dir(dir.path())
        .env("HOME", passwd_home())
        .env_remove("PGPOOLKEYFILE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    let bin = bin.display().to_string();
    let norm = |b: &[u8]| without_pids(&String::from_utf8_lossy(b).replace(&bin, "PROG"));
    PwRun {
        stdout: norm(&out.stdout),
        stderr: norm(&out.stderr),
        code: out.status.code(),
        pool_passwd: std::fs::read_to_string(dir.path().join("pool_passwd")).unwrap_or_default(),
    }
}

/// Run ours and Debian's `tool` alike (see `pw_run`); they must agree in everything. Returns
/// Debian's run.
fn pw_same(tool: &str, args: &[&str], files: &[(&str, &[u8])]) -> PwRun {
    let ours = pw_run(&our_pw_tool(tool), args, files);
    let theirs = pw_run(&pcp::debian(tool), args, files);
    assert_eq!(ours, theirs, "{tool} {args:?}");
    theirs
}

/// pg_enc reads its options with GNU getopt_long as 4.3.5's does: clustered short options
/// (`-mu zz` is `-m -u zz`), `--` ending the options, options after the password, unique
/// abbreviations of long names (`--enc=`, `--update`, `--config=`), glibc's messages.
#[test]
fn pg_enc_reads_its_options_as_debians_does() {
    let r = pw_same(
        "pg_enc",
        &["-K", "mykey", "-mu", "zz", "-f", "pgpool.conf", "secret"],
        &[],
    );
    assert_eq!(
        (r.code, r.pool_passwd.as_str()),
        (Some(0), "zz:AESV7IMV7YNworqqZU1Z46Wgw==\n")
    );
    let r = pw_same(
        "pg_enc",
        &[
            "--enc=mykey",
            "--update",
            "--config=pgpool.conf",
            "-u",
            "yy",
            "secret",
        ],
        &[],
    );
    assert_eq!(r.pool_passwd, "yy:AESV7IMV7YNworqqZU1Z46Wgw==\n");
    let r = pw_same("pg_enc", &["-K", "mykey", "--", "-secret"], &[]);
    assert!(r.stdout.contains("pool_passwd string: AES"), "{r:?}");
    for args in [
        &[
            "-K",
            "mykey",
            "secret",
            "-u",
            "ww",
            "-m",
            "-f",
            "pgpool.conf",
        ][..],
        &["-Kmykey", "secret"],
        &["--enc-key", "mykey", "secret"],
        &["-K", "mykey", "--usern=q", "secret"],
        &["-K", "mykey", "a", "b"],
        // errors: the message, then the usage on stdout, exit 0
        &["-K", "k", "--pro", "s"],
        &["-K", "k", "--u", "s"],
        &["-K", "k", "-x", "s"],
        &["-K", "k", "-mu"],
        &["-K", "k", "--username"],
        &["--help=3"],
        &["-K", "k", "--prompt-for=1"],
        &["-h", "-x"],
    ] {
        pw_same("pg_enc", args, &[]);
    }
}

/// `-i` input files, line by line as 4.3.5's tools read them: an empty password is an invalid
/// pair, an empty user name is the OS user's entry (with -m), the length limits and their
/// messages, pg_md5's 257-byte pieces of a longer line, a `\r` kept, a last line without a
/// newline; a missing input file; a configuration that cannot be read once an entry is to be
/// written; `-u` over 128 bytes (pg_md5 refuses it, pg_enc silently keeps 128 bytes).
#[test]
fn pg_md5_and_pg_enc_input_files_and_limits_match_debians() {
    let u129 = "u".repeat(129);
    let p129 = "p".repeat(129);
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "pairs",
            format!("u1:pw\nu3:\n:pw\nnocolon\n\n{u129}:pw\nu4:{p129}\nu5:a:b\n").into_bytes(),
        ),
        (
            "order",
            format!("{u129}:\n:{p129}\n:\n::\nu::\n").into_bytes(),
        ),
        (
            "long254",
            format!("{}:pw\nok:pw\n", "u".repeat(254)).into_bytes(),
        ),
        (
            "long300",
            format!("{}:pw\nu:{}\nok:pw\n", "u".repeat(300), "p".repeat(300)).into_bytes(),
        ),
        ("cr", b"a:b\r\nc:d".to_vec()),
        ("empty", Vec::new()),
    ];
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (*n, c.as_slice())).collect();
    for (name, _) in &files {
        for (tool, args) in [
            ("pg_md5", &["-i", name][..]),
            ("pg_md5", &["-m", "-f", "pgpool.conf", "-i", name]),
            ("pg_enc", &["-K", "k", "-i", name]),
            (
                "pg_enc",
                &["-K", "k", "-m", "-f", "pgpool.conf", "-i", name],
            ),
        ] {
            pw_same(tool, args, &files);
        }
    }
    let r = pw_same("pg_md5", &["-i", "pairs"], &files);
    assert!(
        r.stdout
            .contains("LINE#02: Invalid username:password pair\nLINE#03: USER: <>\n"),
        "{}",
        r.stdout
    );
    let r = pw_same("pg_enc", &["-K", "k", "-i", "pairs"], &files);
    assert!(
        r.stderr
            .contains("LINE#06: input exceeds maximum username length 128\n"),
        "{}",
        r.stderr
    );
    for (tool, args) in [
        ("pg_md5", &["-i", "missing"][..]),
        ("pg_enc", &["-K", "k", "-i", "missing"]),
        (
            "pg_md5",
            &["-m", "-f", "/nonexistent/pgpool.conf", "secret"],
        ),
        (
            "pg_md5",
            &["-m", "-f", "/nonexistent/pgpool.conf", "-i", "pairs"],
        ),
        (
            "pg_enc",
            &["-K", "k", "-m", "-f", "/nonexistent/pgpool.conf", "secret"],
        ),
        (
            "pg_enc",
            &[
                "-K",
                "k",
                "-m",
                "-f",
                "/nonexistent/pgpool.conf",
                "-i",
                "pairs",
            ],
        ),
        ("pg_md5", &["-u", &u129, "secret"]),
        ("pg_enc", &["-K", "k", "-u", &u129, "secret"]),
        (
            "pg_enc",
            &["-K", "k", "-m", "-f", "pgpool.conf", "-u", &u129, "secret"],
        ),
    ] {
        pw_same(tool, args, &files);
    }
    let r = pw_same("pg_md5", &["-i", "missing"], &files);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            Some(1),
            "failed to open input_file \"missing\" (No such file or directory)\n\n"
        )
    );
}

/// A descriptor for standard output whose reader is already gone.
fn pipe_without_reader() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) fills both slots with new descriptors on success.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: the two descriptors were just created and are owned here once each.
    let (read, write) = unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    drop(read);
    write
}

/// Standard output that goes nowhere (`pg_md5 -i f | head -1`) is no reason to crash: ours end
/// quietly with their usual status. Debian's (C stdio: stdout written in blocks, at exit when
/// small) exit 0 when the reader took the first line and left, and die of SIGPIPE (a shell says
/// 141) when nobody ever read; ours exit 0 in both.
#[test]
fn pg_md5_and_pg_enc_end_quietly_when_stdout_has_no_reader() {
    use std::io::BufRead;
    let input: &[(&str, &[u8])] = &[("pairs", b"a:b\nc:d\ne:f\n")];
    for (tool, args) in [
        ("pg_md5", &["-i", "pairs"][..]),
        ("pg_md5", &["secret"]),
        ("pg_enc", &["-K", "k", "-i", "pairs"]),
        ("pg_enc", &["-K", "k", "secret"]),
    ] {
        for bin in [our_pw_tool(tool), pcp::debian(tool)] {
            let dir = tempfile::tempdir().expect("temp dir");
            for (name, content) in input {
                std::fs::write(dir.path().join(name), content).expect("write input");
            }
            // the reader takes the first line and leaves
            let mut child = std::process::Command::new(&bin)
                .args(args)
                .current_dir(dir.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn");
            let mut first = String::new();
            let stdout = child.stdout.take().expect("piped");
            std::io::BufReader::new(stdout)
                .read_line(&mut first)
                .expect("read the first line");
            let out = child.wait_with_output().expect("wait");
            assert_eq!(
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr).as_ref()
                ),
                (Some(0), ""),
                "{} {args:?}",
                bin.display()
            );
            if bin == pcp::debian(tool) {
                continue;
            }
            // nobody ever reads
            let out = std::process::Command::new(&bin)
                .args(args)
                .current_dir(dir.path())
                .stdout(std::process::Stdio::from(pipe_without_reader()))
                .output()
                .expect("run");
            assert_eq!(
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr).as_ref()
                ),
                (Some(0), ""),
                "{} {args:?}",
                bin.display()
            );
        }
    }
}

/// Node status column (3rd field) of `pcp_node_info -n <node>` through Debian's tool.
fn node_status(d: &Daemon, pass: &PcpPass, node: &str) -> String {
    let args = pcp::args(d.pcp_port(), &["-n", node]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = pcp::run(&pcp::debian("pcp_node_info"), &args, pass);
    r.stdout.split(' ').nth(2).unwrap_or("").to_string()
}

fn wait_status(d: &Daemon, pass: &PcpPass, node: &str, want: &[&str]) {
    wait_until(Duration::from_secs(30), "a node status change", || {
        want.contains(&node_status(d, pass, node).as_str())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
}

/// attach/detach/promote/recovery/reload/stop change the topology: on a cluster of our own.
#[test]
fn node_operations_match_debians_on_a_private_cluster() {
    let cluster = Cluster::start(ClusterSpec::default());
    let mut d = Daemon::start_with_bin(
        &cluster,
        &format!("{STREAMING_CONF}child_life_time = 0\n"),
        Path::new(DEBIAN_PGPOOL),
    );
    let addr = format!("{HOST}:{}", d.pcp_port());
    wait_until(Duration::from_secs(20), "the PCP port", || {
        std::net::TcpStream::connect(&addr).is_ok()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let pass = PcpPass::new();
    let args = |extra: &[&str]| pcp::args(d.pcp_port(), extra);
    let run = |bin: std::path::PathBuf, extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        pcp::run(&bin, &a, &pass)
    };

    // detach and attach the standby: ours, then Debian's, same output
    let ours_detach = run(pcp::ours("pcp_detach_node"), &["-n", "1"]);
    assert_eq!(
        (ours_detach.stdout.as_str(), ours_detach.code),
        ("pcp_detach_node -- Command Successful\n", 0),
        "{}",
        ours_detach.stderr
    );
    wait_status(&d, &pass, "1", &["3"]);
    let ours_attach = run(pcp::ours("pcp_attach_node"), &["1"]);
    wait_status(&d, &pass, "1", &["1", "2"]);
    let theirs_detach = run(pcp::debian("pcp_detach_node"), &["-n", "1"]);
    assert_eq!(ours_detach, theirs_detach);
    wait_status(&d, &pass, "1", &["3"]);
    let theirs_attach = run(pcp::debian("pcp_attach_node"), &["1"]);
    assert_eq!(ours_attach, theirs_attach);
    assert_eq!(
        ours_attach.stdout,
        "pcp_attach_node -- Command Successful\n"
    );
    wait_status(&d, &pass, "1", &["1", "2"]);

    // reload, and the refusals of promote and recovery
    let r = same(&d, &pass, "pcp_reload_config", &[], true);
    assert_eq!(r.stdout, "pcp_reload_config -- Command Successful\n");
    same(&d, &pass, "pcp_reload_config", &["-s", "local"], true);
    let r = same(&d, &pass, "pcp_promote_node", &["-n", "0"], true);
    assert!(
        r.stderr.contains("specified node is already primary node"),
        "{}",
        r.stderr
    );
    same(&d, &pass, "pcp_promote_node", &["5"], true);
    same(&d, &pass, "pcp_recovery_node", &["-n", "5"], true);
    same(&d, &pass, "pcp_recovery_node", &["-n", "0"], true);

    // 4.3.5 has no log rotation / cache invalidation request: the server refuses (exit 0)
    for tool in ["pcp_log_rotate", "pcp_invalidate_query_cache"] {
        let r = run(pcp::ours(tool), &[]);
        assert_eq!(r.code, 0, "{tool}");
        assert!(
            r.stderr.contains("unknown PCP packet type"),
            "{tool}: {}",
            r.stderr
        );
    }

    // ours stops pgpool
    let r = run(pcp::ours("pcp_stop_pgpool"), &["-m", "fast"]);
    assert_eq!(
        (r.stdout.as_str(), r.code),
        ("pcp_stop_pgpool -- Command Successful\n", 0),
        "{}",
        r.stderr
    );
    wait_until(Duration::from_secs(30), "pgpool to stop", || {
        !d.is_running()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
}

/// pcp_watchdog_info with the watchdog on (one pgpool, which becomes the leader).
#[test]
fn watchdog_info_matches_debians() {
    let ports = pcp::reserve_ports(3);
    let mut d = Daemon::prepare_with_bin(
        shared_sr_cluster(),
        &format!("{STREAMING_CONF}child_life_time = 0\n"),
        Path::new(DEBIAN_PGPOOL).to_path_buf(),
    );
    let dir = d.dir().display().to_string();
    let conf = format!(
        "use_watchdog = on\n\
         hostname0 = '{HOST}'\n\
         wd_port0 = {wd}\n\
         pgpool_port0 = {port}\n\
         hostname1 = '{HOST}'\n\
         wd_port1 = {wd1}\n\
         pgpool_port1 = {port1}\n\
         wd_lifecheck_method = 'external'\n\
         wd_ipc_socket_dir = '{dir}'\n",
        wd = ports.port(0),
        port = d.port(),
        wd1 = ports.port(1),
        port1 = ports.port(2),
    );
    let mut text = std::fs::read_to_string(d.conf_path()).expect("read pgpool.conf");
    text.push_str(&conf);
    std::fs::write(d.conf_path(), text).expect("write pgpool.conf");
    std::fs::write(d.dir().join("pgpool_node_id"), "0\n").expect("write pgpool_node_id");
    d.launch_foreground(&[]).unwrap_or_else(|e| panic!("{e}"));
    let pass = PcpPass::new();
    let a = pcp::args(d.pcp_port(), &[]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    // (the peer never answers) wait until the local node's state settles
    let mut last = String::new();
    wait_until(
        Duration::from_secs(60),
        "the watchdog state to settle",
        || {
            std::thread::sleep(Duration::from_secs(1));
            let now = pcp::run(&pcp::debian("pcp_watchdog_info"), &a, &pass).stdout;
            let settled = now == last && (now.contains(" LEADER ") || now.contains(" STANDBY "));
            last = now;
            settled
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let r = same(&d, &pass, "pcp_watchdog_info", &[], true);
    assert!(r.stdout.starts_with("2 "), "{}", r.stdout);
    same(&d, &pass, "pcp_watchdog_info", &["-v"], true);
    same(&d, &pass, "pcp_watchdog_info", &["-n", "0"], true);
    same(&d, &pass, "pcp_watchdog_info", &["-v", "3"], true);
}

/// Debian's pgpool with its PCP unix socket in /tmp (the tools' default socket directory).
fn real_pgpool_with_tmp_socket() -> Daemon {
    real_pgpool_with("pcp_socket_dir = '/tmp'\n")
}

/// `--gracefully`: every tool takes it (pgpool's tools share one option table and ignore it
/// where it means nothing); `-g` only detach and promote. (Nothing here may change the
/// daemon's nodes: 4.3.5 attaches any node id it is given.)
#[test]
fn every_tool_takes_gracefully_as_debians_do() {
    let d = real_pgpool_with_tmp_socket();
    let pass = PcpPass::new();
    let r = same(&d, &pass, "pcp_attach_node", &["--gracefully", "200"], true);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("Invalid node-id"), "{}", r.stderr);
    let r = same(&d, &pass, "pcp_node_count", &["--gracefully"], true);
    assert_eq!((r.stdout.as_str(), r.code), ("3\n", 0));
    same(
        &d,
        &pass,
        "pcp_health_check_stats",
        &["--gracefully", "0"],
        true,
    );
    same(&d, &pass, "pcp_proc_count", &["--gracefully"], true);
    let r = same(&d, &pass, "pcp_attach_node", &["-g", "7"], false);
    assert!(r.stderr.contains("invalid option -- 'g'"), "{}", r.stderr);
}

/// `-w` and `-W`: the last one wins. (No terminal here: the prompt goes to stderr and the
/// password comes from stdin, empty, so .pcppass answers.)
#[test]
fn the_last_of_w_and_capital_w_wins_as_in_debians_tools() {
    let d = real_pgpool_with_tmp_socket();
    let pass = PcpPass::new();
    // (`pcp::args` starts with -w)
    let r = same(&d, &pass, "pcp_node_count", &["-W"], true);
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str()),
        ("3\n", "Password: \n")
    );
    let r = same(&d, &pass, "pcp_node_count", &["-W", "-w"], true);
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("3\n", ""));
}

/// `-h ''` is the default unix socket, where .pcppass matches `localhost`.
#[test]
fn an_empty_host_is_the_default_socket_as_in_debians_tools() {
    let d = real_pgpool_with_tmp_socket();
    let port = d.pcp_port().to_string();
    let local = PcpPass::with_text(&format!(
        "localhost:{port}:{PCP_USER}:{}\n",
        crate::support::daemon::PCP_PASSWORD
    ));
    let r = same_args(
        &local,
        "pcp_node_count",
        &["-h", "", "-p", &port, "-U", PCP_USER, "-w"],
        true,
    );
    assert_eq!((r.stdout.as_str(), r.code), ("3\n", 0), "{}", r.stderr);
}

/// .pcppass: the password ends at the first unescaped ':', `\*` is a literal star, a line ends
/// at \n only.
#[test]
fn pcppass_lines_are_read_as_debians_tools_read_them() {
    let d = real_pgpool_with_tmp_socket();
    let pw = crate::support::daemon::PCP_PASSWORD;
    for (text, ok) in [
        (format!("*:*:{PCP_USER}:{pw}:\n"), true),
        (format!("*:*:{PCP_USER}:{pw}:trailing\n"), true),
        (format!("{HOST}:*:{PCP_USER}:{pw}\n"), true),
        (format!("\\*:*:{PCP_USER}:{pw}\n"), false),
        (format!("{HOST}:\\*:{PCP_USER}:{pw}\n"), false),
        (format!("*:*:{PCP_USER}:{pw}\r\n"), false),
    ] {
        let r = same(&d, &PcpPass::with_text(&text), "pcp_node_count", &[], true);
        assert_eq!(r.code, if ok { 0 } else { 1 }, "{text:?}: {}", r.stderr);
    }
}

/// `-d`: pgpool's protocol trace, with the letters its library prints for some requests, no
/// `X` after a refused login, and stdout block-buffered as C's stdio buffers it (which decides
/// where the trace lands among the error lines when both go to one stream).
#[test]
fn the_debug_trace_is_debians() {
    let d = real_pgpool_with_tmp_socket();
    let pass = PcpPass::new();
    for extra in [&["-d", "0"][..], &["-d", "-v", "9"]] {
        let r = same(&d, &pass, "pcp_health_check_stats", extra, true);
        assert!(
            r.stdout.contains("DEBUG: send: tos=\"L\", len=6\n"),
            "{}",
            r.stdout
        );
    }
    let r = same(&d, &pass, "pcp_pool_status", &["-d"], true);
    assert!(
        r.stdout
            .contains("DEBUG pcp_pool_status: send: tos=\"B\", len=4\n"),
        "{}",
        r.stdout
    );
    for (tool, extra) in [
        ("pcp_node_count", &["-d"][..]),
        ("pcp_recovery_node", &["-d", "0"]),
        ("pcp_promote_node", &["-d", "5"]),
        ("pcp_promote_node", &["-d", "-g", "-s", "5"]),
        ("pcp_detach_node", &["-d", "-g", "9"]),
        ("pcp_detach_node", &["-d", "9"]),
    ] {
        same(&d, &pass, tool, extra, true);
    }
    let wrong = PcpPass::with_password("not-the-password");
    let r = same(&d, &wrong, "pcp_node_count", &["-d"], true);
    assert!(!r.stdout.contains("tos=\"X\""), "{}", r.stdout);
    for (tool, pass, extra) in [
        ("pcp_node_count", &wrong, &["-d"][..]),
        ("pcp_health_check_stats", &pass, &["-d", "9"]),
        ("pcp_node_count", &pass, &["-d", "-W"]),
    ] {
        let a = pcp::args(d.pcp_port(), extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let ours = pcp::run_merged(&pcp::ours(tool), &a, pass);
        let theirs = pcp::run_merged(&pcp::debian(tool), &a, pass);
        assert_eq!(ours, theirs, "{tool} {extra:?} 2>&1");
    }
}
