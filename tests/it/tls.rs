//! TLS toward clients and backends (spec/auth.md §5, §13) and SCRAM-SHA-256-PLUS: certificates
//! are made per test with the `openssl` CLI in a temporary directory; clients are psql (libpq's
//! sslmode / channel_binding) and the Rust postgres client with postgres-openssl; the backend
//! side uses a cluster of its own whose PostgreSQL has `ssl = on`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::cluster::{shared_cluster, AuthMethod, Cluster, ClusterSpec};
use crate::support::daemon::Daemon;
use crate::support::{psql_command, tail, HOST};

/// A CA and certificates it signed, in a temporary directory.
struct Certs {
    dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run the openssl CLI");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    /// CA `ca` (and a second, unrelated CA `rogue`), `server` (CN and SAN 127.0.0.1 /
    /// localhost) signed by `ca`, `rogue_server` signed by `rogue`, and client `alice` signed by
    /// `ca`. Keys are EC P-256, mode 0600.
    fn make() -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("pgrs-tls-")
            .tempdir_in("/tmp")
            .expect("certificate directory");
        let d = dir.path();
        std::fs::write(
            d.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        for ca in ["ca", "rogue"] {
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.crt"),
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN=pgrs test {ca}"),
                ],
            );
        }
        for (name, cn, ca, ext) in [
            ("server", "127.0.0.1", "ca", true),
            ("rogue_server", "127.0.0.1", "rogue", true),
            ("alice", "alice", "ca", false),
        ] {
            openssl(
                d,
                &[
                    "req",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    &format!("/CN={cn}"),
                ],
            );
            let mut args = vec![
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "2",
                "-sha256",
            ]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
            if ext {
                args.extend(["-extfile".into(), "san.ext".into()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            openssl(d, &args);
        }
        for f in std::fs::read_dir(d).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "key") {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
        Certs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// pgpool.conf lines turning TLS on with `server` and trusting `ca_file`.
    fn pgpool_conf(&self, ca_file: &str) -> String {
        format!(
            "ssl = on\nssl_cert = '{}'\nssl_key = '{}'\nssl_ca_cert = '{}'\n",
            self.path("server.crt").display(),
            self.path("server.key").display(),
            self.path(ca_file).display()
        )
    }
}

/// psql through `port` with extra libpq connection settings; Ok(stdout) or Err(stderr).
fn psql_tls(
    port: u16,
    user: &str,
    password: Option<&str>,
    conninfo: &str,
    sql: &str,
) -> Result<String, String> {
    let out = psql_command(port, user, password, &format!("dbname=postgres {conninfo}"))
        .arg("-c")
        .arg(sql)
        .stdin(Stdio::null())
        .output()
        .expect("run psql");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim_end().to_string())
    }
}

#[test]
fn clients_reach_pgpool_over_verified_tls() {
    let certs = Certs::make();
    let d = Daemon::start(shared_cluster(), &certs.pgpool_conf("ca.crt"));
    let root = certs.path("ca.crt");
    let verify_full = format!("sslmode=verify-full sslrootcert={}", root.display());
    let r = psql_tls(d.port(), "postgres", None, &verify_full, "SELECT 42");
    assert_eq!(r.as_deref(), Ok("42"), "{}", tail(&d.log(), 30));
    // host name check against the SAN DNS entry
    let by_name = format!("{verify_full} host=localhost");
    assert_eq!(
        psql_tls(d.port(), "postgres", None, &by_name, "SELECT 1").as_deref(),
        Ok("1")
    );
    assert_eq!(
        psql_tls(d.port(), "postgres", None, "sslmode=require", "SELECT 2").as_deref(),
        Ok("2")
    );
    // a client certificate signed by ssl_ca_cert is accepted
    let with_cert = format!(
        "sslmode=require sslcert={} sslkey={}",
        certs.path("alice.crt").display(),
        certs.path("alice.key").display()
    );
    assert_eq!(
        psql_tls(d.port(), "postgres", None, &with_cert, "SELECT 3").as_deref(),
        Ok("3")
    );
    // one signed by another CA fails the handshake (a presented certificate must verify)
    let rogue_cert = format!(
        "sslmode=require sslcert={} sslkey={}",
        certs.path("rogue_server.crt").display(),
        certs.path("rogue_server.key").display()
    );
    assert!(psql_tls(d.port(), "postgres", None, &rogue_cert, "SELECT 4").is_err());
    // a root that did not sign our certificate: libpq refuses it
    let wrong_root = format!(
        "sslmode=verify-ca sslrootcert={}",
        certs.path("rogue.crt").display()
    );
    let e = psql_tls(d.port(), "postgres", None, &wrong_root, "SELECT 5").unwrap_err();
    assert!(e.contains("certificate verify failed"), "{e}");

    // the Rust client with postgres-openssl, TLS required
    let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
    b.set_ca_file(&root).unwrap();
    let tls = postgres_openssl::MakeTlsConnector::new(b.build());
    let mut cfg = postgres::Config::new();
    cfg.host(HOST)
        .port(d.port())
        .user("postgres")
        .dbname("postgres")
        .ssl_mode(postgres::config::SslMode::Require);
    let mut c = cfg
        .connect(tls)
        .expect("postgres-openssl client through pgpool");
    for i in 0..50i32 {
        let row = c.query_one("SELECT $1::int4 + 1", &[&i]).unwrap();
        assert_eq!(row.get::<_, i32>(0), i + 1);
    }
    // a reply bigger than one TLS record (16 kB) arrives whole
    let row = c.query_one("SELECT repeat('x', 100000)", &[]).unwrap();
    assert_eq!(row.get::<_, String>(0).len(), 100000);
}

#[test]
fn ssl_off_answers_n_and_libpq_require_fails() {
    let d = Daemon::start(shared_cluster(), "");
    let e = psql_tls(d.port(), "postgres", None, "sslmode=require", "SELECT 1").unwrap_err();
    assert!(
        e.contains("server does not support SSL, but SSL was required"),
        "{e}"
    );
    // prefer falls back to plaintext
    assert_eq!(
        psql_tls(d.port(), "postgres", None, "sslmode=prefer", "SELECT 1").as_deref(),
        Ok("1")
    );
}

#[test]
fn client_certificate_common_name_is_read() {
    use pgpool_rs::protocol::Conn;
    use pgpool_rs::tls::server::{build, ServerParams};
    use std::os::unix::net::UnixStream;

    let certs = Certs::make();
    let params = ServerParams {
        cert: certs.path("server.crt"),
        key: certs.path("server.key"),
        ca_cert: Some(certs.path("ca.crt")),
        ciphers: "HIGH:MEDIUM:+3DES:!aNULL".into(),
        ecdh_curve: "prime256v1".into(),
        ..ServerParams::default()
    };
    let ctx = build(&params).unwrap().expect("server context builds");
    for (present, want) in [(true, Some("alice")), (false, None)] {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (ca, crt, key) = (
            certs.path("ca.crt"),
            certs.path("alice.crt"),
            certs.path("alice.key"),
        );
        let client = std::thread::spawn(move || {
            let mut b =
                openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
            b.set_ca_file(&ca).unwrap();
            if present {
                b.set_certificate_file(&crt, openssl::ssl::SslFiletype::PEM)
                    .unwrap();
                b.set_private_key_file(&key, openssl::ssl::SslFiletype::PEM)
                    .unwrap();
            }
            let mut s = theirs;
            let mut answer = [0u8; 1];
            std::io::Read::read_exact(&mut s, &mut answer).unwrap();
            assert_eq!(&answer, b"S");
            let mut tls = b
                .build()
                .configure()
                .unwrap()
                .verify_hostname(false)
                .connect("127.0.0.1", s)
                .unwrap();
            std::io::Write::write_all(&mut tls, b"ping").unwrap();
            let mut back = [0u8; 4];
            std::io::Read::read_exact(&mut tls, &mut back).unwrap();
            back
        });
        let mut conn = Conn::new(ours.into());
        assert!(pgpool_rs::tls::negotiate::accept_with(&mut conn, Some(&ctx), None).unwrap());
        assert!(conn.is_tls());
        assert_eq!(conn.peer_cert_cn(), want);
        assert_eq!(conn.read_exact(4, None).unwrap(), b"ping");
        conn.write_all(b"pong").unwrap();
        assert_eq!(&client.join().unwrap(), b"pong");
        // SCRAM channel binding data: SHA-256 of our (ecdsa-with-SHA256) certificate
        assert_eq!(conn.tls_server_end_point().map(|h| h.len()), Some(32));
    }
}

/// A one-node cluster whose PostgreSQL has `ssl = on` with `server.crt` (signed by `ca`), and
/// whose other roles log in with SCRAM.
fn tls_cluster(certs: &Certs) -> Cluster {
    let cluster = Cluster::start(ClusterSpec {
        standbys: 0,
        auth: AuthMethod::ScramSha256,
    });
    let data = cluster.data_dir(0);
    // the server's OS user owns its data directory; the key must be its own, mode 0600
    let owner = std::fs::metadata(&data).unwrap();
    for f in ["server.crt", "server.key"] {
        let to = data.join(format!("tls_{f}"));
        std::fs::copy(certs.path(f), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(
            &to,
            Some(std::os::unix::fs::MetadataExt::uid(&owner)),
            Some(std::os::unix::fs::MetadataExt::gid(&owner)),
        )
        .unwrap();
    }
    let conf = data.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("ssl = on\nssl_cert_file = 'tls_server.crt'\nssl_key_file = 'tls_server.key'\n");
    std::fs::write(&conf, text).unwrap();
    cluster.reload(0);
    // straight to PostgreSQL: TLS is on there now
    let r = psql_tls(
        cluster.port(0),
        "postgres",
        None,
        "sslmode=require",
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    assert_eq!(r.as_deref(), Ok("t"), "{}", tail(&cluster.log(0), 20));
    cluster
}

const STAT_SSL: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

#[test]
fn backend_connections_are_encrypted_and_verified_without_plaintext_fallback() {
    let certs = Certs::make();
    let cluster = tls_cluster(&certs);
    // from now on the backend refuses every plaintext TCP login
    let hba = cluster.data_dir(0).join("pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, format!("hostnossl all all 0.0.0.0/0 reject\n{text}")).unwrap();
    cluster.reload(0);
    assert!(psql_tls(
        cluster.port(0),
        "postgres",
        None,
        "sslmode=disable",
        "SELECT 1"
    )
    .is_err());
    // ssl_ca_cert trusts the backend's issuer: the backend link is TLS
    let conf = format!(
        "{}backend_clustering_mode = 'streaming_replication'\n",
        certs.pgpool_conf("ca.crt")
    );
    let d = Daemon::start(&cluster, &conf);
    assert_eq!(
        d.psql(STAT_SSL).as_deref(),
        Ok("t"),
        "{}",
        tail(&d.log(), 30)
    );
    // pgpool's own logins (primary detection at start-up) go over TLS too
    assert!(
        d.log().contains("find_primary_node: primary node is 0"),
        "{}",
        tail(&d.log(), 30)
    );
    // the same over a TLS client link
    assert_eq!(
        psql_tls(d.port(), "postgres", None, "sslmode=require", STAT_SSL).as_deref(),
        Ok("t")
    );
    drop(d);

    // ssl_ca_cert names a CA that did not sign the backend's certificate: the connection
    // fails, although the backend would accept the same login in plaintext (trust)
    let d = Daemon::start(&cluster, &certs.pgpool_conf("rogue.crt"));
    assert!(d.psql("SELECT 1").is_err(), "{}", tail(&d.log(), 30));
    let log = d.log();
    assert!(
        log.contains("SSL_connect") && log.contains("certificate verify failed"),
        "{}",
        tail(&log, 30)
    );
    drop(d);

    // ssl = on without ssl_ca_cert: encrypted, no verification (pgpool's behaviour)
    let conf = format!(
        "ssl = on\nssl_cert = '{}'\nssl_key = '{}'\n",
        certs.path("server.crt").display(),
        certs.path("server.key").display()
    );
    let d = Daemon::start(&cluster, &conf);
    assert_eq!(
        d.psql(STAT_SSL).as_deref(),
        Ok("t"),
        "{}",
        tail(&d.log(), 30)
    );
}

#[test]
fn scram_sha_256_plus_channel_binding_through_pgpool() {
    let certs = Certs::make();
    let cluster = tls_cluster(&certs);
    cluster.create_role("cbuser", "cbpass", AuthMethod::ScramSha256);
    let d = Daemon::start(&cluster, &certs.pgpool_conf("ca.crt"));
    // pgpool is the SCRAM server toward the client (backend SCRAM, pool_passwd text entry)
    std::fs::write(d.pool_passwd_path(), "cbuser:TEXTcbpass\n").unwrap();
    let r = psql_tls(
        d.port(),
        "cbuser",
        Some("cbpass"),
        "sslmode=require channel_binding=require",
        STAT_SSL,
    );
    assert_eq!(r.as_deref(), Ok("t"), "{}", tail(&d.log(), 30));
    // a wrong password still fails under channel binding
    let e = psql_tls(
        d.port(),
        "cbuser",
        Some("wrong"),
        "sslmode=require channel_binding=require",
        "SELECT 1",
    )
    .unwrap_err();
    assert!(e.contains("authentication failed"), "{e}");
    // without TLS there is nothing to bind to: libpq refuses
    let e = psql_tls(
        d.port(),
        "cbuser",
        Some("cbpass"),
        "sslmode=disable channel_binding=require",
        "SELECT 1",
    )
    .unwrap_err();
    assert!(e.contains("channel binding"), "{e}");
    // and plain SCRAM still works over TLS when the client does not ask for binding
    assert_eq!(
        psql_tls(
            d.port(),
            "cbuser",
            Some("cbpass"),
            "sslmode=require channel_binding=disable",
            "SELECT 7"
        )
        .as_deref(),
        Ok("7")
    );
}

#[test]
fn sslrequest_exchanges_refuse_plaintext_after_s() {
    use pgpool_rs::protocol::Conn;
    use pgpool_rs::tls::negotiate::{accept_with, connect_backend_with};
    use pgpool_rs::tls::{BackendTlsError, FrontendTlsError, TlsSettings};
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    let certs = Certs::make();
    let params = pgpool_rs::tls::server::ServerParams {
        cert: certs.path("server.crt"),
        key: certs.path("server.key"),
        ciphers: "HIGH:MEDIUM:+3DES:!aNULL".into(),
        ecdh_curve: "prime256v1".into(),
        ..Default::default()
    };
    let ctx = pgpool_rs::tls::server::build(&params).unwrap().unwrap();

    // client side: a startup packet sent right behind the SSLRequest is refused after `S`
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let mut conn = Conn::new(ours.into());
    theirs.write_all(b"\0\0\0\x08plaintext").unwrap();
    conn.fill().unwrap();
    assert!(matches!(
        accept_with(&mut conn, Some(&ctx), None),
        Err(FrontendTlsError::UnencryptedData)
    ));
    let mut b = [0u8; 1];
    theirs.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"S");
    // a client that says nothing after `S` is dropped once the timeout passes
    let (ours, _theirs) = UnixStream::pair().unwrap();
    let mut conn = Conn::new(ours.into());
    let t0 = std::time::Instant::now();
    let r = accept_with(
        &mut conn,
        Some(&ctx),
        Some(std::time::Duration::from_millis(300)),
    );
    assert!(matches!(r, Err(FrontendTlsError::Handshake(_))), "{r:?}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    // frontend TLS off: `N`, plaintext goes on
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let mut conn = Conn::new(ours.into());
    assert!(!accept_with(&mut conn, None, None).unwrap());
    theirs.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"N");
    assert!(!conn.is_tls());

    // backend side, per answer byte
    let on = TlsSettings {
        enabled: true,
        server: None,
        ca_cert: Some(certs.path("ca.crt")),
        ca_dir: None,
    };
    let backend = |answer: &[u8]| {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(answer).unwrap();
        // then the "server" says nothing more (but still reads what we send)
        theirs.shutdown(std::net::Shutdown::Write).unwrap();
        let mut conn = Conn::new(ours.into());
        let r = connect_backend_with(&mut conn, &on, Some(std::time::Duration::from_secs(5)));
        drop(theirs);
        (r, conn.is_tls())
    };
    assert!(matches!(backend(b"N"), (Ok(()), false)));
    assert!(matches!(
        backend(b"E"),
        (Err(BackendTlsError::ErrorResponse), false)
    ));
    assert!(matches!(
        backend(b"Sxyz"),
        (Err(BackendTlsError::UnencryptedData), false)
    ));
    // `S` and then no TLS server: a failed connection, not plaintext
    assert!(matches!(
        backend(b"S"),
        (Err(BackendTlsError::Handshake(_)), false)
    ));
    // an odd byte: WARNING and plaintext, as pgpool
    assert!(matches!(backend(b"X"), (Ok(()), false)));
    // ssl = off: no SSLRequest at all
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut conn = Conn::new(ours.into());
    let off = TlsSettings {
        enabled: false,
        server: None,
        ca_cert: None,
        ca_dir: None,
    };
    connect_backend_with(&mut conn, &off, None).unwrap();
    drop(conn);
    let mut rest = Vec::new();
    (&theirs).read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "no SSLRequest may be sent with ssl = off");
}

/// pool_hba over TLS: `hostssl` / `hostnossl` lines match by whether the connection did the TLS
/// handshake, and the `cert` method logs in the user named by the client certificate's CN
/// (spec/auth.md §6.2, §8.7).
#[test]
fn hostssl_hostnossl_and_the_cert_method() {
    let certs = Certs::make();
    let cluster = shared_cluster();
    cluster.create_role("alice", "alice-secret", AuthMethod::Trust);
    cluster.create_role("bob", "bob-secret", AuthMethod::Trust);
    let dir = tempfile::tempdir().unwrap();
    let hba = dir.path().join("pool_hba.conf");
    std::fs::write(
        &hba,
        "hostssl   all alice    127.0.0.1/32 cert\n\
         hostssl   all bob      127.0.0.1/32 cert\n\
         hostnossl all postgres 127.0.0.1/32 trust\n\
         hostssl   all postgres 127.0.0.1/32 reject\n",
    )
    .unwrap();
    let mut d = Daemon::prepare(
        cluster,
        &format!("enable_pool_hba = on\n{}", certs.pgpool_conf("ca.crt")),
    );
    d.launch_foreground(&["-a", hba.to_str().unwrap()])
        .unwrap_or_else(|e| panic!("{e}"));
    let alice_cert = format!(
        "sslmode=require sslcert={} sslkey={}",
        certs.path("alice.crt").display(),
        certs.path("alice.key").display()
    );
    // the certificate's CN is alice: alice is in, bob (same certificate) is not
    assert_eq!(
        psql_tls(d.port(), "alice", None, &alice_cert, "SELECT current_user").as_deref(),
        Ok("alice"),
        "{}",
        tail(&d.log(), 30)
    );
    let e = psql_tls(d.port(), "bob", None, &alice_cert, "SELECT 1").unwrap_err();
    assert!(e.contains("CERT authentication failed"), "{e}");
    // no certificate: the cert method fails the same way
    let e = psql_tls(d.port(), "alice", None, "sslmode=require", "SELECT 1").unwrap_err();
    assert!(
        e.contains("CERT authentication failed") && e.contains("no valid certificate presented"),
        "{e}"
    );
    // postgres: trusted without TLS, rejected with it (hostnossl vs hostssl)
    assert_eq!(
        psql_tls(d.port(), "postgres", None, "sslmode=disable", "SELECT 7").as_deref(),
        Ok("7")
    );
    let e = psql_tls(d.port(), "postgres", None, "sslmode=require", "SELECT 1").unwrap_err();
    assert!(
        e.contains("no pool_hba.conf entry") || e.contains("client authentication failed"),
        "{e}"
    );
    // and without TLS, the hostssl cert line cannot match alice: implicit reject, SSL off
    let e = psql_tls(d.port(), "alice", None, "sslmode=disable", "SELECT 1").unwrap_err();
    assert!(e.contains("SSL off"), "{e}");
}
