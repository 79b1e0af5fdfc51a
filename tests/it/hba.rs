//! pool_hba.conf client authentication through our daemon (`enable_pool_hba = on`,
//! spec/auth.md §6, §8, §10, §15): trust, reject, implicit reject, password, md5 and
//! scram-sha-256 rules with the right and a wrong password through psql and the `postgres`
//! crate, against SCRAM and md5 backends; an AES pool_passwd entry made by Debian's pg_enc; a
//! missing file; a reload that breaks the file; malformed client packets; the log lines of
//! refused logins; pam (with a pooled clear-text backend connection) and ldap (with
//! backend_use_passwd); and our `pg_enc` against Debian's. Tests that say so were checked
//! against pgpool-II 4.3.5 with `PGRS_PGPOOL_BIN=/usr/sbin/pgpool`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::cluster::{shared_cluster, AuthMethod};
use crate::support::daemon::Daemon;
use crate::support::tail;
use crate::support::wire::Wire;

const KEY: &str = "mykey";

/// `SEVERITY SQLSTATE: message / detail` of a server error, else the error's text.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{} {}: {} / {}",
            db.severity(),
            db.code().code(),
            db.message(),
            db.detail().unwrap_or("")
        ),
        None => format!("not a server error: {e}"),
    }
}

/// Log in as `user` with `password` to `db`, and the PostgreSQL backend pid that served it
/// (the same pid twice = a pooled connection handed over).
fn backend_pid_of(d: &Daemon, user: &str, password: &str, db: &str) -> Result<i32, String> {
    let mut cl = d
        .try_client(user, Some(password), db)
        .map_err(|e| describe(&e))?;
    let p: i32 = cl
        .query_one("select pg_backend_pid()", &[])
        .map_err(|e| describe(&e))?
        .get(0);
    cl.close().map_err(|e| describe(&e))?;
    Ok(p)
}

fn logs_in(d: &Daemon, user: &str, password: Option<&str>) {
    assert_eq!(
        d.psql_as(user, password, "postgres", "select current_user"),
        Ok(user.to_string()),
        "psql login as {user}\n{}",
        tail(&d.log(), 30)
    );
    let mut c = d
        .try_client(user, password, "postgres")
        .unwrap_or_else(|e| {
            panic!(
                "postgres login as {user}: {}\n{}",
                describe(&e),
                tail(&d.log(), 30)
            )
        });
    let me: String = c
        .query_one("select current_user::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(me, user);
}

fn refused(d: &Daemon, user: &str, password: Option<&str>, want: &[&str]) {
    let got = match d.try_client(user, password, "postgres") {
        Ok(_) => panic!("{user} logged in with {password:?}\n{}", tail(&d.log(), 30)),
        Err(e) => describe(&e),
    };
    for w in want {
        assert!(got.contains(w), "error for {user}: {got:?} lacks {w:?}");
    }
    match d.psql_as(user, password, "postgres", "select current_user") {
        Ok(out) => panic!("psql logged in as {user}: {out}"),
        Err(e) => {
            let last = want.last().unwrap();
            assert!(
                e.contains(last),
                "psql error for {user}: {e} lacks {last:?}"
            );
        }
    }
}

/// The key file and a daemon with `enable_pool_hba = on`, `-a <hba>` and `-k <key>`.
struct HbaDaemon {
    d: Daemon,
    hba: PathBuf,
    _dir: tempfile::TempDir,
}

fn start(hba_text: Option<&str>, pool_passwd: &str) -> HbaDaemon {
    start_with("", hba_text, pool_passwd)
}

fn start_with(extra_conf: &str, hba_text: Option<&str>, pool_passwd: &str) -> HbaDaemon {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("pgpoolkey");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let hba = dir.path().join("pool_hba.conf");
    if let Some(t) = hba_text {
        std::fs::write(&hba, t).unwrap();
    }
    let extra = format!("enable_pool_hba = on\n{extra_conf}");
    let mut d = Daemon::prepare(shared_cluster(), &extra);
    std::fs::write(d.pool_passwd_path(), pool_passwd).unwrap();
    d.launch_foreground(&["-a", hba.to_str().unwrap(), "-k", key.to_str().unwrap()])
        .unwrap_or_else(|e| panic!("{e}"));
    HbaDaemon { d, hba, _dir: dir }
}

/// `pg_enc -K mykey <password>`'s value, by Debian's pgpool-II 4.3.5 tool.
fn debian_aes(password: &str) -> String {
    let out = Command::new("/usr/sbin/pg_enc")
        .args(["-K", KEY, password])
        .output()
        .expect("Debian's /usr/sbin/pg_enc (package pgpool2) must be installed");
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("pool_passwd string: "))
        .unwrap_or_else(|| panic!("pg_enc output: {text}"))
        .to_string()
}

#[test]
fn hba_methods_with_right_and_wrong_passwords() {
    let c = shared_cluster();
    c.create_role("hba_trust", "trustpw", AuthMethod::ScramSha256);
    c.create_role("hba_md5", "md5pw", AuthMethod::ScramSha256);
    c.create_role("hba_scram", "scrampw", AuthMethod::ScramSha256);
    c.create_role("hba_scram_md5", "smpw", AuthMethod::Md5);
    c.create_role("hba_pw", "clearpw", AuthMethod::ScramSha256);
    c.create_role("hba_pw_noentry", "nepw", AuthMethod::Md5);
    c.create_role("hba_aes", "aespw", AuthMethod::ScramSha256);
    c.create_role("hba_reject", "rejpw", AuthMethod::Trust);
    let passwd = format!(
        "hba_trust:trustpw\nhba_md5:TEXTmd5pw\nhba_scram:scrampw\nhba_scram_md5:smpw\n\
         hba_pw:clearpw\nhba_aes:{}\nhba_reject:rejpw\n",
        debian_aes("aespw")
    );
    let h = start(
        Some(
            "# comment\n\
             local all all trust\n\
             host all hba_trust 127.0.0.1/32 trust\n\
             host all hba_md5 127.0.0.1 255.255.255.255 md5\n\
             hostnossl all hba_scram,hba_scram_md5 samehost scram-sha-256\n\
             hostssl all all 127.0.0.1/32 reject\n\
             host all \"hba_pw\",hba_pw_noentry 127.0.0.0/8 password\n\
             host all hba_aes 127.0.0.1/32 scram-sha-256\n\
             host all hba_reject all reject\n",
        ),
        &passwd,
    );
    let d = &h.d;
    logs_in(d, "hba_trust", None);
    logs_in(d, "hba_md5", Some("md5pw"));
    refused(
        d,
        "hba_md5",
        Some("bad"),
        &[
            "ERROR XX000",
            "md5 authentication failed",
            "password does not match",
        ],
    );
    logs_in(d, "hba_scram", Some("scrampw"));
    refused(
        d,
        "hba_scram",
        Some("bad"),
        &[
            "ERROR XX000",
            "authentication failed",
            "username \"hba_scram\" or password does not exist in backend",
        ],
    );
    // SCRAM client in front of an md5 backend
    logs_in(d, "hba_scram_md5", Some("smpw"));
    logs_in(d, "hba_pw", Some("clearpw"));
    refused(
        d,
        "hba_pw",
        Some("clearp"),
        &[
            "clear text authentication failed",
            "password does not match",
        ],
    );
    // password rule without an entry: the backend verifies the forwarded clear text
    logs_in(d, "hba_pw_noentry", Some("nepw"));
    refused(
        d,
        "hba_pw_noentry",
        Some("bad"),
        &["password authentication failed"],
    );
    // an AES entry made by Debian's pg_enc, decrypted with -k
    logs_in(d, "hba_aes", Some("aespw"));
    refused(
        d,
        "hba_aes",
        Some("bad"),
        &["or password does not exist in backend"],
    );
    refused(
        d,
        "hba_reject",
        Some("rejpw"),
        &[
            "FATAL XX000",
            "client authentication failed",
            "no pool_hba.conf entry for host \"127.0.0.1\", user \"hba_reject\", database \"postgres\", SSL off",
        ],
    );
    refused(
        d,
        "hba_nobody",
        None,
        &["no pool_hba.conf entry for host \"127.0.0.1\", user \"hba_nobody\", database \"postgres\", SSL off"],
    );
    // pool_passwd is re-read at each lookup: a rewritten (same inode) entry counts at once
    std::fs::write(
        d.pool_passwd_path(),
        passwd.replace("hba_md5:TEXTmd5pw", "hba_md5:other"),
    )
    .unwrap();
    refused(d, "hba_md5", Some("md5pw"), &["md5 authentication failed"]);
}

#[test]
fn missing_file_refuses_everyone_and_a_broken_reload_keeps_the_rules() {
    let c = shared_cluster();
    c.create_role("hba_reload", "relpw", AuthMethod::ScramSha256);
    let h = start(None, "hba_reload:relpw\n");
    refused(
        &h.d,
        "hba_reload",
        Some("relpw"),
        &[
            "FATAL XX000",
            "client authentication failed",
            "missing or erroneous pool_hba.conf file",
        ],
    );
    assert!(
        h.d.log().contains("could not open configuration file"),
        "{}",
        h.d.log()
    );
    drop(h);

    let h = start(
        Some("host all hba_reload 127.0.0.1/32 md5\n"),
        "hba_reload:relpw\n",
    );
    logs_in(&h.d, "hba_reload", Some("relpw"));
    std::fs::write(&h.hba, "host all hba_reload 127.0.0.1/33 trust\n").unwrap();
    let out = h.d.pgpool(&["reload"]);
    assert!(out.status.success(), "reload: {out:?}");
    wait_for_log(&h.d, "invalid CIDR mask in address");
    refused(
        &h.d,
        "hba_reload",
        Some("bad"),
        &["md5 authentication failed"],
    );
    logs_in(&h.d, "hba_reload", Some("relpw"));
    // a good file replaces the rules
    std::fs::write(&h.hba, "host all hba_reload 127.0.0.1/32 reject\n").unwrap();
    let before = h.d.log().len();
    assert!(h.d.pgpool(&["reload"]).status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match h.d.try_client("hba_reload", Some("relpw"), "postgres") {
            Err(e) if describe(&e).contains("no pool_hba.conf entry") => break,
            _ if std::time::Instant::now() > deadline => {
                panic!("reload not applied\n{}", &h.d.log()[before..])
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn wait_for_log(d: &Daemon, text: &str) {
    d.wait_log(text);
    // every child reloads at its next loop iteration
    std::thread::sleep(Duration::from_millis(500));
}

fn error_fields(m: &crate::support::wire::Msg) -> String {
    let f = m.fields();
    format!(
        "{} {}: {} / {}",
        f.get(&'S').cloned().unwrap_or_default(),
        f.get(&'C').cloned().unwrap_or_default(),
        f.get(&'M').cloned().unwrap_or_default(),
        f.get(&'D').cloned().unwrap_or_default()
    )
}

#[test]
fn malformed_client_packets_get_pgpools_errors() {
    let c = shared_cluster();
    c.create_role("hba_bad", "badpw", AuthMethod::ScramSha256);
    let h = start(
        Some("host all hba_bad 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 password\n"),
        "hba_bad:badpw\n",
    );
    let port = h.d.port();

    // an over-long password packet
    let mut w = Wire::start(port, "hba_other", "postgres");
    let m = w.recv().expect("AuthenticationCleartextPassword");
    assert_eq!(m.auth_code(), Some(3));
    w.send_password(&vec![b'x'; 5000]);
    let e = w.recv().expect("an ErrorResponse");
    assert_eq!(e.tag, b'E');
    assert!(
        error_fields(&e).contains("password is too long"),
        "{}",
        error_fields(&e)
    );
    assert!(w.recv().is_none(), "closed after the error");

    // a truncated SASLInitialResponse
    let mut w = Wire::start(port, "hba_bad", "postgres");
    let m = w.recv().expect("AuthenticationSASL");
    assert_eq!(m.auth_code(), Some(10));
    w.send(b'p', b"SCRAM-SHA-256\0\0\0\0\x40n,,");
    let e = w.recv().expect("an ErrorResponse");
    assert_eq!(e.tag, b'E', "{:?}", e.body);
    assert!(
        error_fields(&e).contains("malformed SCRAM message"),
        "{}",
        error_fields(&e)
    );
    assert!(w.recv().is_none());

    // a client that leaves in the middle of the exchange
    let mut w = Wire::start(port, "hba_bad", "postgres");
    assert_eq!(w.recv().and_then(|m| m.auth_code()), Some(10));
    drop(w);

    // a startup packet without a user, and one whose user name is not UTF-8
    for (what, user) in [
        ("no user", None),
        ("non-UTF-8 user", Some(&b"\xff\xfebad"[..])),
    ] {
        let mut body = 196608u32.to_be_bytes().to_vec();
        if let Some(u) = user {
            body.extend_from_slice(b"user\0");
            body.extend_from_slice(u);
            body.push(0);
        }
        body.extend_from_slice(b"database\0postgres\0\0");
        let mut pkt = (body.len() as u32 + 4).to_be_bytes().to_vec();
        pkt.extend_from_slice(&body);
        let mut s = std::net::TcpStream::connect((crate::support::HOST, port)).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        std::io::Write::write_all(&mut s, &pkt).unwrap();
        let mut first = [0u8; 9];
        std::io::Read::read_exact(&mut s, &mut first).unwrap_or_else(|e| panic!("{what}: {e}"));
        if first[0] == b'R' {
            // the `all` line asks for a password: give a wrong one
            std::io::Write::write_all(&mut s, b"p\0\0\0\x06x\0").unwrap();
        }
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut rest);
        let mut reply = first.to_vec();
        reply.extend_from_slice(&rest);
        let text = String::from_utf8_lossy(&reply);
        if user.is_none() {
            assert_eq!(first[0], b'E', "{what}: {text}");
            assert!(
                text.contains("no PostgreSQL user name specified in startup packet"),
                "{what}: {text}"
            );
        } else {
            // refused with an error, nothing worse
            assert!(
                text.contains("SERROR") || text.contains("SFATAL"),
                "{what}: {text}"
            );
        }
    }

    // nothing crashed or hangs: a correct login still works
    logs_in(&h.d, "hba_bad", Some("badpw"));
    assert!(!h.d.log().contains("panicked"), "{}", h.d.log());
}

fn our_pg_enc() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pg_enc"))
}

#[test]
fn pg_enc_matches_debians() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "mykey\n").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, "u1:pw1\nbad\n\nu2:pw2\n").unwrap();
    let k = key.to_str().unwrap();
    let i = input.to_str().unwrap();
    for args in [
        vec!["-K", "mykey", "secret"],
        vec!["--enc-key=mykey", "secret"],
        vec!["-k", k, "secret"],
        vec!["-K", "mykey", "-i", i],
        vec!["-K", "mykey", &"x".repeat(129)],
    ] {
        let ours = Command::new(our_pg_enc()).args(&args).output().unwrap();
        let theirs = Command::new("/usr/sbin/pg_enc")
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{args:?}"
        );
        if theirs.status.success() {
            assert_eq!(
                String::from_utf8_lossy(&ours.stderr),
                String::from_utf8_lossy(&theirs.stderr),
                "{args:?}"
            );
        }
    }
    // no key
    let ours = Command::new(our_pg_enc())
        .args(["secret"])
        .env("HOME", dir.path())
        .env_remove("PGPOOLKEYFILE")
        .output()
        .unwrap();
    assert_eq!(ours.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&ours.stderr).contains("encryption key not provided"));

    // -m writes user:AES… in place or appended
    let conf = dir.path().join("pgpool.conf");
    std::fs::write(&conf, "pool_passwd = 'pool_passwd'\n").unwrap();
    let pp = dir.path().join("pool_passwd");
    std::fs::write(&pp, "bob:old\ncarol:x\n").unwrap();
    for user in ["bob", "alice"] {
        let out = Command::new(our_pg_enc())
            .args([
                "-m",
                "-K",
                "mykey",
                "-u",
                user,
                "-f",
                conf.to_str().unwrap(),
                "secret",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    assert_eq!(
        std::fs::read_to_string(&pp).unwrap(),
        "bob:AESV7IMV7YNworqqZU1Z46Wgw==\ncarol:x\nalice:AESV7IMV7YNworqqZU1Z46Wgw==\n"
    );
}

#[test]
fn pam_service_accepts_one_user_and_refuses_others() {
    for f in ["/etc/pam.d/pgpool-rs-test", "/etc/pgpool-rs-test-pam-check"] {
        assert!(
            Path::new(f).exists(),
            "{f} is missing: the PAM test service is installed by .ci/run"
        );
    }
    let c = shared_cluster();
    // a clear-text backend: pgpool sends the pool_passwd entry, never the PAM password
    c.create_role("hba_pam", "dbpw", AuthMethod::Password);
    c.create_role("hba_pam_other", "unused", AuthMethod::Trust);
    // (connections to `postgres` are never pooled)
    c.psql(0, "DROP DATABASE IF EXISTS hba_pam_db");
    c.psql(0, "CREATE DATABASE hba_pam_db");
    c.wait_replayed();
    // one child: the second login lands in the child that pools the first one's connection
    let h = start_with(
        "num_init_children = 1\n",
        Some("host all hba_pam,hba_pam_other 127.0.0.1/32 pam pamservice=pgpool-rs-test\n"),
        "hba_pam:dbpw\n",
    );
    logs_in(&h.d, "hba_pam", Some("pampw"));
    // spec/auth.md §11, clear-text row: after pam no question can be asked; the entry is
    // compared with the password the backend accepted, and the pooled connection is handed over
    let pid = || backend_pid_of(&h.d, "hba_pam", "pampw", "hba_pam_db");
    let first = pid().unwrap_or_else(|e| panic!("{e}\n{}", tail(&h.d.log(), 20)));
    let again = pid().unwrap_or_else(|e| panic!("pooled login: {e}\n{}", tail(&h.d.log(), 20)));
    assert_eq!(first, again, "the pooled backend connection is reused");
    // PAM still decides: a wrong password never gets the pooled connection
    assert!(
        h.d.try_client("hba_pam", Some("wrong"), "hba_pam_db")
            .is_err(),
        "a wrong PAM password got the pooled connection"
    );
    // (pgpool-II's child exits after that FATAL, taking its pool along; ours keeps it)
    pid().unwrap_or_else(|e| panic!("{e}\n{}", tail(&h.d.log(), 20)));
    refused(
        &h.d,
        "hba_pam",
        Some("wrong"),
        &[
            "FATAL XX000",
            "failed authentication against PAM",
            "pam_authenticate failed",
        ],
    );
    refused(
        &h.d,
        "hba_pam_other",
        Some("pampw"),
        &[
            "failed authentication against PAM",
            "pam_authenticate failed",
        ],
    );
    // another message instead of the password (spec/auth.md §8.6; as pgpool-II 4.3.5 answers)
    let mut w = Wire::start(h.d.port(), "hba_pam", "postgres");
    assert_eq!(w.recv().and_then(|m| m.auth_code()), Some(3));
    w.send(b'Q', b"select 1\0");
    let e = w.recv().expect("an ErrorResponse");
    assert_eq!(
        error_fields(&e),
        "FATAL XX000: failed authentication against PAM / pam_authenticate failed: Conversation error"
    );
    assert!(w.recv().is_none(), "closed after the error");
    h.d.wait_log("Conversation error");
    assert_eq!(
        log_report(
            &h.d.log(),
            "LOG:  unexpected password response received. expected 'p' received 'Q'",
            3
        ),
        [
            "LOG:  unexpected password response received. expected 'p' received 'Q'",
            "FATAL:  failed authentication against PAM",
            "DETAIL:  pam_authenticate failed: Conversation error"
        ]
    );
    drop(h);
    c.psql(0, "DROP DATABASE IF EXISTS hba_pam_db WITH (FORCE)");
}

/// A throw-away OpenLDAP server on a free loopback port, run as the unprivileged test OS user;
/// killed and removed on drop.
struct Slapd {
    child: std::process::Child,
    port: u16,
    _ports: crate::support::ports::PortBlock,
    dir: tempfile::TempDir,
}

const LDAP_BASE: &str = "dc=pgrs,dc=test";

impl Slapd {
    fn start() -> Slapd {
        for bin in ["/usr/sbin/slapd", "/usr/sbin/slapadd"] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: install the Debian packages slapd and ldap-utils (see .ci/run)"
            );
        }
        let user = crate::support::os_user::os_user();
        let ports = crate::support::ports::PortBlock::reserve(1);
        let port = ports.port(0);
        let dir = tempfile::Builder::new()
            .prefix("pgrs-slapd-")
            .tempdir_in("/tmp")
            .unwrap();
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap();
        let conf = dir.path().join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\n\
                 modulepath /usr/lib/ldap\n\
                 moduleload back_mdb\n\
                 pidfile {d}/slapd.pid\n\
                 database mdb\n\
                 maxsize 10485760\n\
                 suffix \"{LDAP_BASE}\"\n\
                 rootdn \"cn=admin,{LDAP_BASE}\"\n\
                 rootpw adminpw\n\
                 directory {db}\n",
                d = dir.path().display(),
                db = db.display()
            ),
        )
        .unwrap();
        let ldif = dir.path().join("data.ldif");
        let person = |uid: &str, pw: &str| {
            format!(
                "dn: uid={uid},ou=people,{LDAP_BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nuserPassword: {pw}\n\n"
            )
        };
        std::fs::write(
            &ldif,
            format!(
                "dn: {LDAP_BASE}\nobjectClass: dcObject\nobjectClass: organization\no: pgrs\ndc: pgrs\n\n\
                 dn: ou=people,{LDAP_BASE}\nobjectClass: organizationalUnit\nou: people\n\n{}{}{}",
                person("hba_ldap", "ldappw"),
                person("hba_ldap2", "ldappw2"),
                person("hba_ldap3", "ldappw3")
            ),
        )
        .unwrap();
        for p in [dir.path(), &db, &conf, &ldif] {
            user.chown(p);
        }
        let out = user
            .command("/usr/sbin/slapadd")
            .args(["-f", conf.to_str().unwrap(), "-l", ldif.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "slapadd: {out:?}");
        let child = user
            .command("/usr/sbin/slapd")
            .args([
                "-d",
                "0",
                "-f",
                conf.to_str().unwrap(),
                "-h",
                &format!("ldap://127.0.0.1:{port}/"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "slapd did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Slapd {
            child,
            port,
            _ports: ports,
            dir,
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.dir.path();
    }
}

#[test]
fn ldap_simple_and_search_bind() {
    let slapd = Slapd::start();
    let c = shared_cluster();
    c.create_role("hba_ldap", "unused", AuthMethod::Trust);
    c.create_role("hba_ldap2", "unused", AuthMethod::Trust);
    let p = slapd.port;
    let h = start(
        Some(&format!(
            "host all hba_ldap 127.0.0.1/32 ldap ldapserver=127.0.0.1 ldapport={p} ldapprefix=\"uid=\" ldapsuffix=\",ou=people,{LDAP_BASE}\"\n\
             host all hba_ldap2 127.0.0.1/32 ldap ldapserver=127.0.0.1 ldapport={p} ldapbasedn=\"{LDAP_BASE}\" ldapsearchattribute=uid\n"
        )),
        "",
    );
    let want = |u: &str| {
        [
            "FATAL XX000".to_string(),
            "client authentication failed".to_string(),
            format!("LDAP authentication with pgpool failed for user \"{u}\""),
        ]
    };
    logs_in(&h.d, "hba_ldap", Some("ldappw"));
    let w = want("hba_ldap");
    refused(
        &h.d,
        "hba_ldap",
        Some("wrong"),
        &w.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    logs_in(&h.d, "hba_ldap2", Some("ldappw2"));
    let w = want("hba_ldap2");
    refused(
        &h.d,
        "hba_ldap2",
        Some("ldappw"),
        &w.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    // an empty password is an unauthenticated bind for many servers: refused (pgpool bug #8)
    match h.d.try_client("hba_ldap", Some(""), "postgres") {
        Ok(_) => panic!("an empty password logged in through LDAP"),
        Err(e) => assert!(
            describe(&e).contains("LDAP authentication with pgpool failed"),
            "{}",
            describe(&e)
        ),
    }
    assert!(
        h.d.log()
            .contains("LDAP login failed for user \"hba_ldap\""),
        "{}",
        tail(&h.d.log(), 20)
    );
}

#[test]
fn pooled_connection_reuse_after_hba() {
    let c = shared_cluster();
    c.create_role("hba_pool_md5", "poolpw", AuthMethod::ScramSha256);
    c.create_role("hba_pool_pw", "poolpw2", AuthMethod::Md5);
    c.psql(0, "DROP DATABASE IF EXISTS hba_pooled");
    c.psql(0, "CREATE DATABASE hba_pooled");
    c.wait_replayed();
    // one child: the second login lands in the child that pools the first one's connection
    let h = start_with(
        "num_init_children = 1\n",
        Some(
            "host all hba_pool_md5 127.0.0.1/32 md5\nhost all hba_pool_pw 127.0.0.1/32 password\n",
        ),
        "hba_pool_md5:poolpw\n",
    );
    let pid = |user: &str, pw: &str| backend_pid_of(&h.d, user, pw, "hba_pooled");
    for (user, right) in [("hba_pool_md5", "poolpw"), ("hba_pool_pw", "poolpw2")] {
        let first =
            pid(user, right).unwrap_or_else(|e| panic!("{user}: {e}\n{}", tail(&h.d.log(), 20)));
        let again =
            pid(user, right).unwrap_or_else(|e| panic!("{user}: {e}\n{}", tail(&h.d.log(), 30)));
        assert_eq!(
            first, again,
            "{user}: the pooled backend connection is reused"
        );
        let wrong = pid(user, "wrong");
        assert!(
            wrong.is_err(),
            "{user} logged in with a wrong password on a pooled connection"
        );
        assert_eq!(
            pid(user, right).unwrap(),
            first,
            "{user}: the pooled connection survived"
        );
    }
    c.psql(0, "DROP DATABASE IF EXISTS hba_pooled WITH (FORCE)");
}

/// The log lines after the first line ending in `first` (`SEVERITY:  message`), up to `n`
/// lines in all, without their `time: process pid N: ` prefixes.
fn log_report(log: &str, first: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = log.lines().collect();
    let Some(i) = lines.iter().position(|l| l.ends_with(first)) else {
        panic!("no log line ending in {first:?}\n{}", tail(log, 30));
    };
    lines[i..(i + n).min(lines.len())]
        .iter()
        // `2026-… 13:29:24.810: child pid 32544: ERROR:  …`
        .map(|l| l.splitn(3, ": ").nth(2).unwrap_or(l).to_string())
        .collect()
}

/// spec/auth.md §6.3, §15; checked against pgpool-II 4.3.5 (`PGRS_PGPOOL_BIN`): a refused
/// pool_hba login is logged with the severity and HINT the client gets, once.
#[test]
fn failed_hba_logins_are_logged_as_pgpool_reports_them() {
    let c = shared_cluster();
    c.create_role("hba_logline", "llpw", AuthMethod::ScramSha256);
    let h = start(
        Some(
            "host all hba_logline 127.0.0.1/32 md5\nhost all hba_logline_rej 127.0.0.1/32 reject\n",
        ),
        "hba_logline:llpw\n",
    );
    assert!(h
        .d
        .try_client("hba_logline", Some("bad"), "postgres")
        .is_err());
    assert!(h
        .d
        .try_client("hba_logline_rej", Some("x"), "postgres")
        .is_err());
    h.d.wait_log("user \"hba_logline_rej\"");
    std::thread::sleep(Duration::from_millis(300));
    let log = h.d.log();
    assert_eq!(
        log_report(&log, "ERROR:  md5 authentication failed", 2),
        [
            "ERROR:  md5 authentication failed",
            "DETAIL:  password does not match"
        ]
    );
    assert_eq!(
        log_report(&log, "FATAL:  client authentication failed", 3),
        [
            "FATAL:  client authentication failed",
            "DETAIL:  no pool_hba.conf entry for host \"127.0.0.1\", user \"hba_logline_rej\", database \"postgres\", SSL off",
            "HINT:  see pgpool log for details"
        ]
    );
    for dup in [
        "LOG:  md5 authentication failed",
        "LOG:  client authentication failed",
    ] {
        assert!(!log.contains(dup), "{dup:?} logged\n{}", tail(&log, 20));
    }
}

/// spec/auth.md §9.5 step 5, §10 last row; checked against pgpool-II 4.3.5
/// (`PGRS_PGPOOL_BIN`): ldap with backend_use_passwd=1 in front of an md5 backend, with a
/// pool_passwd entry that is not the LDAP password.
#[test]
fn ldap_backend_use_passwd_skips_the_second_challenge_only_with_act() {
    let slapd = Slapd::start();
    let c = shared_cluster();
    c.create_role("hba_ldap3", "dbpw3", AuthMethod::Md5);
    let p = slapd.port;
    let rule = format!(
        "host all hba_ldap3 127.0.0.1/32 ldap ldapserver=127.0.0.1 ldapport={p} ldapprefix=\"uid=\" ldapsuffix=\",ou=people,{LDAP_BASE}\" backend_use_passwd=1\n"
    );
    // allow_clear_text_frontend_auth on: the entry answers the backend, no second challenge
    // (a client like the `postgres` crate, which answers one request only, gets in)
    let h = start_with(
        "allow_clear_text_frontend_auth = on\n",
        Some(&rule),
        "hba_ldap3:dbpw3\n",
    );
    logs_in(&h.d, "hba_ldap3", Some("ldappw3"));
    refused(
        &h.d,
        "hba_ldap3",
        Some("dbpw3"),
        &["LDAP authentication with pgpool failed for user \"hba_ldap3\""],
    );
    drop(h);
    // off: a second (md5) challenge, checked against the entry
    let h = start_with(
        "allow_clear_text_frontend_auth = off\n",
        Some(&rule),
        "hba_ldap3:dbpw3\n",
    );
    match h.d.psql_as(
        "hba_ldap3",
        Some("ldappw3"),
        "postgres",
        "select current_user",
    ) {
        Ok(out) => panic!("logged in with the LDAP password only: {out}"),
        Err(e) => assert!(
            e.contains("md5 authentication failed") && e.contains("password does not match"),
            "{e}"
        ),
    }
    assert!(h
        .d
        .try_client("hba_ldap3", Some("ldappw3"), "postgres")
        .is_err());
}
