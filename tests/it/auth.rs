//! Backend authentication through our daemon with `enable_pool_hba = off` (spec/auth.md §9–§11,
//! architecture.md §3.6): for every backend method (trust, clear-text password, md5,
//! scram-sha-256) a role set up that way logs in with the right password given each pool_passwd
//! form the method supports, and a wrong password is refused with pgpool's error; the
//! `allow_clear_text_frontend_auth` fallback without an entry; and — the class of pgpool's 2025
//! authentication-bypass CVE — a client with a wrong password is never handed a pooled backend
//! connection, while the pooled connection survives for the next correct login.
//!
//! Clients are psql (PGPASSWORD) and the `postgres` crate; the bypass tests also play a raw
//! client that ignores the error and sends a query anyway (`support::wire`).

use std::sync::OnceLock;

use crate::support::cluster::{shared_cluster, AuthMethod};
use crate::support::daemon::Daemon;
use crate::support::wire::{md5_answer, md5_hex, Wire};

/// A database pgpool keeps pooled connections for (it never keeps them for postgres,
/// template0/1 and regression; architecture.md §3.8).
const POOLED_DB: &str = "auth_pooled";

/// The pool key and an `AES…` pool_passwd value of [`AES_PASSWORD`] made with it by pgpool-II
/// 4.3.5's own tool: `pg_enc -k <file holding "mykey"> secretpw`.
const POOL_KEY: &str = "mykey";
const AES_PASSWORD: &str = "secretpw";
const AES_ENTRY: &str = "AESOApDmm2/arO4Fy5tQQcDwA==";

/// Create the pooled database once for the whole test binary (the shared cluster is fresh per
/// run) and wait until the standby has it.
fn pooled_db() -> &'static str {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let c = shared_cluster();
        c.psql(0, &format!("CREATE DATABASE {POOLED_DB}"));
        c.wait_replayed();
    });
    POOLED_DB
}

fn md5_entry(password: &str, user: &str) -> String {
    format!("md5{}", md5_hex(format!("{password}{user}").as_bytes()))
}

fn set_pool_passwd(d: &Daemon, user: &str, value: Option<&str>) {
    let text = value.map(|v| format!("{user}:{v}\n")).unwrap_or_default();
    std::fs::write(d.pool_passwd_path(), text).expect("write pool_passwd");
}

/// A daemon whose AES entries decrypt: the key file is passed with `-k`.
fn daemon_with_key(extra_conf: &str) -> (Daemon, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a directory for the key file");
    let key = dir.path().join("pgpoolkey");
    std::fs::write(&key, format!("{POOL_KEY}\n")).expect("write the key file");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod the key file");
    let d = Daemon::start_with_args(
        shared_cluster(),
        extra_conf,
        &["-k", key.to_str().expect("utf-8 path")],
    );
    (d, dir)
}

/// Log in with the `postgres` crate and return the backend pid serving the session.
fn login_pid(d: &Daemon, user: &str, password: Option<&str>, db: &str) -> Result<i32, String> {
    let mut c = d.try_client(user, password, db).map_err(|e| describe(&e))?;
    let pid: i32 = c
        .query_one("select pg_backend_pid()", &[])
        .map_err(|e| describe(&e))?
        .get(0);
    let me: String = c
        .query_one("select current_user::text", &[])
        .map_err(|e| describe(&e))?
        .get(0);
    assert_eq!(me, user, "logged in as the wrong role");
    c.close().map_err(|e| describe(&e))?;
    Ok(pid)
}

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

/// Log in as `user` with the right password through psql and the `postgres` crate.
fn assert_logs_in(d: &Daemon, user: &str, password: Option<&str>, db: &str) {
    assert_eq!(
        d.psql_as(user, password, db, "select current_user"),
        Ok(user.to_string()),
        "psql login as {user}\n{}",
        crate::support::tail(&d.log(), 20)
    );
    if let Err(e) = login_pid(d, user, password, db) {
        panic!(
            "postgres-crate login as {user}: {e}\n{}",
            crate::support::tail(&d.log(), 20)
        );
    }
}

/// Log in with `password` must fail with a server error whose description contains every
/// part of `want` (e.g. `["ERROR XX000", "md5 authentication failed", "password does not
/// match"]`); psql must fail too, with the same message.
fn assert_refused(d: &Daemon, user: &str, password: Option<&str>, db: &str, want: &[&str]) {
    let got = match d.try_client(user, password, db) {
        Ok(_) => panic!("{user} logged in with a wrong password ({password:?})"),
        Err(e) => describe(&e),
    };
    for w in want {
        assert!(
            got.contains(w),
            "error for {user} with {password:?}: {got:?} lacks {w:?}"
        );
    }
    let psql = d.psql_as(user, password, db, "select current_user");
    match psql {
        Ok(out) => panic!("psql logged in as {user} with a wrong password: {out}"),
        Err(e) => {
            let last = want.last().expect("something to look for");
            assert!(
                e.contains(last),
                "psql error for {user}: {e} lacks {last:?}"
            )
        }
    }
}

// ---- trust -------------------------------------------------------------------------------

#[test]
fn trust_backend_lets_the_role_in_without_a_password() {
    let user = "auth_trust";
    shared_cluster().create_role(user, "unused-pw", AuthMethod::Trust);
    let d = Daemon::start(shared_cluster(), "");
    assert_logs_in(&d, user, None, "postgres");
}

/// spec/auth.md §9.8: a backend error after AuthenticationOk (no such database) reaches the
/// client unchanged, then pgpool's own ERROR follows. pgpool-II 4.3.5 words that ERROR
/// differently (`PGRS_PGPOOL_BIN`; docs/differences.md).
#[test]
fn backend_error_after_authentication_is_forwarded_then_pgpools_error() {
    let user = "auth_trust_nodb";
    shared_cluster().create_role(user, "unused-pw", AuthMethod::Trust);
    let d = Daemon::start(shared_cluster(), "");
    let mut w = Wire::start(d.port(), user, "auth_no_such_db");
    let got: Vec<(char, String)> = std::iter::from_fn(|| w.recv())
        .map(|m| {
            let f = m.fields();
            let field = |c: char| f.get(&c).cloned().unwrap_or_default();
            let text = match m.tag {
                b'E' => format!(
                    "{} {}: {} / {}",
                    field('S'),
                    field('C'),
                    field('M'),
                    field('D')
                ),
                _ => format!("{:?}", m.auth_code()),
            };
            (m.tag as char, text)
        })
        .collect();
    let (message, detail) = if crate::support::sr::real_pgpool() {
        (
            "unable to forward message to frontend",
            "FATAL error occurred on backend".to_string(),
        )
    } else {
        (
            "authentication failed, backend node replied with an error",
            "SERVER ERROR:\"database \"auth_no_such_db\" does not exist\"".to_string(),
        )
    };
    assert_eq!(
        got,
        [
            ('R', "Some(0)".to_string()),
            (
                'E',
                "FATAL 3D000: database \"auth_no_such_db\" does not exist / ".to_string()
            ),
            ('E', format!("ERROR XX000: {message} / {detail}")),
        ]
    );
    d.wait_log(&format!("ERROR:  {message}"));
    let log = d.log();
    let lines: Vec<&str> = log.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.ends_with("LOG:  backend throws an error message"))
        .unwrap_or_else(|| panic!("{}", crate::support::tail(&log, 20)));
    let tails: Vec<&str> = lines[i..i + 4]
        .iter()
        .map(|l| l.splitn(3, ": ").nth(2).unwrap_or(l))
        .collect();
    assert_eq!(
        tails,
        [
            "LOG:  backend throws an error message",
            "DETAIL:  database \"auth_no_such_db\" does not exist",
            &format!("ERROR:  {message}"),
            &format!("DETAIL:  {detail}"),
        ]
    );
}

// ---- clear-text password -----------------------------------------------------------------

#[test]
fn clear_text_backend_takes_the_right_password_with_every_usable_pool_passwd_form() {
    let user = "auth_clear";
    let pw = AES_PASSWORD;
    shared_cluster().create_role(user, pw, AuthMethod::Password);
    let (d, _key) = daemon_with_key("");
    let plain_entry = pw.to_string();
    let text_entry = format!("TEXT{pw}");
    for entry in [
        None,
        Some(plain_entry.as_str()),
        Some(text_entry.as_str()),
        Some(AES_ENTRY),
    ] {
        set_pool_passwd(&d, user, entry);
        assert_logs_in(&d, user, Some(pw), "postgres");
        if entry.is_some() {
            // pgpool itself compares the client's clear text with the entry
            assert_refused(
                &d,
                user,
                Some("wrong-pw"),
                "postgres",
                &[
                    "ERROR XX000",
                    "clear text authentication failed",
                    "password does not match",
                ],
            );
        } else {
            // no entry: the client's password goes to the backend, which refuses it
            assert_refused(
                &d,
                user,
                Some("wrong-pw"),
                "postgres",
                // pgpool's exact error shape: backend_refusing_a_relayed_password_gives_pgpools_error
                &[&format!(
                    "password authentication failed for user \"{user}\""
                )],
            );
        }
    }
}

#[test]
fn clear_text_backend_cannot_use_an_md5_pool_passwd_entry() {
    let user = "auth_clear_md5";
    let pw = "clear-md5-pw";
    shared_cluster().create_role(user, pw, AuthMethod::Password);
    let d = Daemon::start(shared_cluster(), "");
    set_pool_passwd(&d, user, Some(&md5_entry(pw, user)));
    // spec/auth.md §10: the md5 entry matches the client's clear text, but no clear text can be
    // sent to the backend
    assert_refused(
        &d,
        user,
        Some(pw),
        "postgres",
        &[
            "ERROR XX000",
            "clear text password authentication failed",
            "unable to get the password",
        ],
    );
}

// ---- md5 ---------------------------------------------------------------------------------

#[test]
fn md5_backend_takes_the_right_password_with_every_pool_passwd_form() {
    let user = "auth_md5";
    let pw = AES_PASSWORD;
    shared_cluster().create_role(user, pw, AuthMethod::Md5);
    let (d, _key) = daemon_with_key("");
    let forms = [
        pw.to_string(),
        md5_entry(pw, user),
        format!("TEXT{pw}"),
        AES_ENTRY.to_string(),
    ];
    for entry in &forms {
        set_pool_passwd(&d, user, Some(entry));
        assert_logs_in(&d, user, Some(pw), "postgres");
        assert_refused(
            &d,
            user,
            Some("wrong-pw"),
            "postgres",
            &[
                "ERROR XX000",
                "md5 authentication failed",
                "password does not match",
            ],
        );
    }
}

#[test]
fn aes_entry_without_the_right_key_is_refused_with_a_decryption_error() {
    let user = "auth_md5_badkey";
    shared_cluster().create_role(user, AES_PASSWORD, AuthMethod::Md5);
    let dir = tempfile::tempdir().expect("a directory for the key file");
    let key = dir.path().join("pgpoolkey");
    std::fs::write(&key, "not-the-key\n").expect("write the key file");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod the key file");
    let d = Daemon::start_with_args(
        shared_cluster(),
        "",
        &["-k", key.to_str().expect("utf-8 path")],
    );
    set_pool_passwd(&d, user, Some(AES_ENTRY));
    assert_refused(
        &d,
        user,
        Some(AES_PASSWORD),
        "postgres",
        &[
            "ERROR XX000",
            "md5 authentication failed",
            "unable to decrypt password from pool_passwd",
        ],
    );
    // spec/auth.md §7.4: the reason is a WARNING before the ERROR (as pgpool-II 4.3.5 logs it)
    let logged = |warning: &str| {
        d.wait_log("HINT:  verify the valid pool_key exists");
        let log = d.log();
        let lines: Vec<&str> = log.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.ends_with(warning))
            .unwrap_or_else(|| panic!("no {warning:?}\n{}", crate::support::tail(&log, 20)));
        assert!(
            lines[i + 1].ends_with("ERROR:  md5 authentication failed"),
            "{}",
            crate::support::tail(&log, 20)
        );
    };
    logged("WARNING:  decryption failed");
    if !crate::support::sr::real_pgpool() {
        // not base64 at all (pgpool-II 4.3.5's decoder logs nothing for this one)
        set_pool_passwd(&d, user, Some("AES!!!!!!!!!!!!!!!!!!!!!!!!"));
        assert!(login_pid(&d, user, Some(AES_PASSWORD), "postgres").is_err());
        logged("WARNING:  base64 decoding failed");
    }
}

// ---- scram-sha-256 -----------------------------------------------------------------------

#[test]
fn scram_backend_takes_the_right_password_with_every_plain_pool_passwd_form() {
    let user = "auth_scram";
    let pw = AES_PASSWORD;
    shared_cluster().create_role(user, pw, AuthMethod::ScramSha256);
    let (d, _key) = daemon_with_key("");
    for entry in [pw.to_string(), format!("TEXT{pw}"), AES_ENTRY.to_string()] {
        set_pool_passwd(&d, user, Some(&entry));
        assert_logs_in(&d, user, Some(pw), "postgres");
        assert_refused(
            &d,
            user,
            Some("wrong-pw"),
            "postgres",
            &[
                "ERROR XX000",
                "authentication failed",
                &format!("username \"{user}\" or password does not exist in backend"),
            ],
        );
    }
}

#[test]
fn scram_backend_cannot_use_an_md5_pool_passwd_entry() {
    let user = "auth_scram_md5";
    let pw = "scram-md5-pw";
    shared_cluster().create_role(user, pw, AuthMethod::ScramSha256);
    let d = Daemon::start(shared_cluster(), "");
    set_pool_passwd(&d, user, Some(&md5_entry(pw, user)));
    assert_refused(
        &d,
        user,
        Some(pw),
        "postgres",
        &[
            "ERROR XX000",
            "failed to authenticate with backend using SCRAM",
            "valid password not found",
        ],
    );
}

// ---- no pool_passwd entry ----------------------------------------------------------------

#[test]
fn clear_text_frontend_auth_lets_md5_and_scram_roles_in_without_an_entry() {
    let c = shared_cluster();
    c.create_role("auth_act_md5", "act-md5-pw", AuthMethod::Md5);
    c.create_role("auth_act_scram", "act-scram-pw", AuthMethod::ScramSha256);
    let d = Daemon::start(c, "allow_clear_text_frontend_auth = on");
    for (user, pw, error, detail) in [
        (
            "auth_act_md5",
            "act-md5-pw",
            "ERROR XX000: authentication failed",
            "password authentication failed for user \"auth_act_md5\"",
        ),
        (
            "auth_act_scram",
            "act-scram-pw",
            "ERROR XX000: backend authentication failed",
            "backend response with kind 'E' when expecting 'R'",
        ),
    ] {
        assert_logs_in(&d, user, Some(pw), "postgres");
        // the client's clear text is only checked by the backend, whose refusal becomes
        // pgpool's own error (as backend_refusing_a_relayed_password_gives_pgpools_error shows)
        assert_refused(&d, user, Some("wrong-pw"), "postgres", &[error, detail]);
    }
    assert!(
        d.log()
            .contains("using clear text authentication with frontend"),
        "{}",
        d.log()
    );
}

#[test]
fn md5_and_scram_roles_without_an_entry_get_pgpools_error() {
    let c = shared_cluster();
    c.create_role("auth_noent_md5", "noent-md5-pw", AuthMethod::Md5);
    c.create_role(
        "auth_noent_scram",
        "noent-scram-pw",
        AuthMethod::ScramSha256,
    );
    let d = Daemon::start(c, "allow_clear_text_frontend_auth = off");
    for (user, pw, method) in [
        ("auth_noent_md5", "noent-md5-pw", "md5"),
        ("auth_noent_scram", "noent-scram-pw", "SCRAM"),
    ] {
        assert_refused(
            &d,
            user,
            Some(pw),
            "postgres",
            &[
                "ERROR XX000",
                &format!("failed to authenticate with backend using {method}"),
                "valid password not found",
            ],
        );
    }
    // each refusal logged once, with pgpool's DETAIL line
    let log = d.log();
    let lines: Vec<&str> = log.lines().collect();
    for method in ["md5", "SCRAM"] {
        let error = format!("ERROR:  failed to authenticate with backend using {method}");
        let at: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].contains(&error))
            .collect();
        assert!(!at.is_empty(), "{error} not logged\n{log}");
        for i in at {
            let detail = lines.get(i + 1).copied().unwrap_or_default();
            assert!(
                detail.contains("DETAIL:  ") && detail.ends_with("valid password not found"),
                "{error} without its DETAIL\n{log}"
            );
        }
    }
}

// ---- re-authentication of a pooled connection (architecture.md §3.6, auth.md §11) --------

/// How the wrong-password attempt is made against the pooled slot.
#[derive(Clone, Copy, Debug)]
enum Method {
    ClearText,
    Md5,
    Scram,
}

/// With one child, a correct login leaves a pooled backend connection; a login with a wrong
/// password is refused — both by the `postgres` crate and by a raw client that ignores the
/// error and sends a query anyway, which must get neither AuthenticationOk nor a result — and
/// a correct login afterwards is served by the same backend process.
fn wrong_password_never_gets_the_pooled_session(method: Method, entry: bool) {
    let (user, hba) = match (method, entry) {
        (Method::ClearText, true) => ("auth_pool_clear_ent", AuthMethod::Password),
        (Method::ClearText, false) => ("auth_pool_clear", AuthMethod::Password),
        (Method::Md5, true) => ("auth_pool_md5_ent", AuthMethod::Md5),
        (Method::Md5, false) => ("auth_pool_md5", AuthMethod::Md5),
        (Method::Scram, true) => ("auth_pool_scram_ent", AuthMethod::ScramSha256),
        (Method::Scram, false) => ("auth_pool_scram", AuthMethod::ScramSha256),
    };
    let pw = "pooled-right-pw";
    let db = pooled_db();
    shared_cluster().create_role(user, pw, hba);
    // without an entry, md5 and SCRAM need the client's clear text (and then re-check it)
    let d = Daemon::start(
        shared_cluster(),
        &format!(
            "num_init_children = 1\nmax_pool = 1\nallow_clear_text_frontend_auth = {}",
            if entry { "off" } else { "on" }
        ),
    );
    if entry {
        set_pool_passwd(&d, user, Some(pw));
    }
    let ctx = || {
        format!(
            "{method:?}, entry {entry}\n{}",
            crate::support::tail(&d.log(), 30)
        )
    };

    let first = login_pid(&d, user, Some(pw), db).unwrap_or_else(|e| panic!("{e}\n{}", ctx()));

    // a wrong password of another length, and one of the same length
    for wrong in ["wrong-pw", "pooled-wrong-pw"] {
        let err = match d.try_client(user, Some(wrong), db) {
            Ok(_) => panic!("a wrong password got the pooled session ({})", ctx()),
            Err(e) => describe(&e),
        };
        let (message, detail) = match (method, entry) {
            (Method::ClearText, true) => (
                "clear text authentication failed",
                "password does not match",
            ),
            // pgpool compares the length with the recorded password's first
            (Method::ClearText, false) if wrong.len() != pw.len() => (
                "clear text password authentication failed",
                "password size does not match",
            ),
            (Method::ClearText, false) => (
                "clear text password authentication failed",
                "password does not match",
            ),
            (Method::Md5, _) => ("md5 authentication failed", "password does not match"),
            (Method::Scram, _) => (
                "authentication failed",
                "or password does not exist in backend",
            ),
        };
        assert!(
            err.starts_with(&format!("ERROR XX000: {message} / ")) && err.ends_with(detail),
            "{err} is not {message:?} / {detail:?} ({})",
            ctx()
        );
    }

    raw_wrong_password_gets_nothing(&d, method, user, db);

    let again = login_pid(&d, user, Some(pw), db).unwrap_or_else(|e| panic!("{e}\n{}", ctx()));
    assert_eq!(
        again,
        first,
        "the correct login after the refused one did not reuse the pooled backend ({})",
        ctx()
    );
}

/// Play a client that answers the challenge wrongly, ignores the error and sends a query: it
/// must see an ErrorResponse and the end of the connection, never AuthenticationOk, a result or
/// ReadyForQuery.
fn raw_wrong_password_gets_nothing(d: &Daemon, method: Method, user: &str, db: &str) {
    let mut w = Wire::start(d.port(), user, db);
    let challenge = w.recv().expect("an authentication request");
    match (method, challenge.auth_code()) {
        (Method::ClearText, Some(3)) => w.send_password(b"wrong-pw"),
        (Method::Md5, Some(5)) => {
            let answer = md5_answer(user, "wrong-pw", &challenge.body[4..8]);
            w.send_password(answer.as_bytes());
        }
        // the md5 role without an entry: pgpool asks for clear text
        (Method::Md5 | Method::Scram, Some(3)) => w.send_password(b"wrong-pw"),
        (Method::Scram, Some(10)) => {
            let nonce = "rawclientnonce0123456789";
            let first = format!("n,,n=,r={nonce}");
            let mut body = b"SCRAM-SHA-256\0".to_vec();
            body.extend_from_slice(&(first.len() as i32).to_be_bytes());
            body.extend_from_slice(first.as_bytes());
            w.send(b'p', &body);
            let cont = w.recv().expect("AuthenticationSASLContinue");
            assert_eq!(cont.auth_code(), Some(11), "{cont:?}");
            let server_first = String::from_utf8_lossy(&cont.body[4..]).into_owned();
            let full_nonce = server_first
                .split(',')
                .find_map(|a| a.strip_prefix("r="))
                .expect("server nonce");
            // a well-formed proof of the wrong key: 32 zero bytes
            let proof = "A".repeat(43) + "=";
            w.send(b'p', format!("c=biws,r={full_nonce},p={proof}").as_bytes());
        }
        (m, code) => panic!("{m:?}: unexpected first message {challenge:?} (code {code:?})"),
    }
    w.send_query("select 'leaked'");
    let rest = w.until_closed();
    assert!(
        rest.iter().any(|m| m.tag == b'E'),
        "no ErrorResponse for a wrong password: {rest:?}"
    );
    for m in &rest {
        assert!(
            m.auth_code() != Some(0) && !matches!(m.tag, b'Z' | b'T' | b'D' | b'C' | b'K'),
            "a client with a wrong password got {:?} ({:?})",
            m.tag as char,
            rest
        );
        assert!(
            m.auth_code() != Some(12),
            "SCRAM exchange completed with a wrong proof: {rest:?}"
        );
    }
}

#[test]
fn wrong_password_never_reuses_a_pooled_connection_md5() {
    wrong_password_never_gets_the_pooled_session(Method::Md5, true);
}

#[test]
fn wrong_password_never_reuses_a_pooled_connection_md5_without_entry() {
    wrong_password_never_gets_the_pooled_session(Method::Md5, false);
}

#[test]
fn wrong_password_never_reuses_a_pooled_connection_scram() {
    wrong_password_never_gets_the_pooled_session(Method::Scram, true);
}

#[test]
fn wrong_password_never_reuses_a_pooled_connection_scram_without_entry() {
    wrong_password_never_gets_the_pooled_session(Method::Scram, false);
}

#[test]
fn wrong_password_never_reuses_a_pooled_connection_clear_text() {
    wrong_password_never_gets_the_pooled_session(Method::ClearText, true);
}

#[test]
fn wrong_password_never_reuses_a_pooled_connection_clear_text_without_entry() {
    wrong_password_never_gets_the_pooled_session(Method::ClearText, false);
}

#[test]
fn trust_reuses_a_pooled_connection_without_a_password() {
    let user = "auth_pool_trust";
    let db = pooled_db();
    shared_cluster().create_role(user, "unused-pw", AuthMethod::Trust);
    let d = Daemon::start(shared_cluster(), "num_init_children = 1\nmax_pool = 1");
    let first = login_pid(&d, user, None, db).unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let second = login_pid(&d, user, None, db).unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    assert_eq!(
        first, second,
        "the trust login did not reuse the pooled backend"
    );
    // the raw client sees AuthenticationOk at once: no password is asked for
    let mut w = Wire::start(d.port(), user, db);
    let setup = w.until_ready();
    assert_eq!(setup[0].auth_code(), Some(0), "{setup:?}");
    let reply = w.query("select pg_backend_pid()");
    let pid = reply
        .iter()
        .find(|m| m.tag == b'D')
        .map(|m| m.values()[0].clone().expect("a pid"))
        .unwrap_or_else(|| panic!("no row: {reply:?}"));
    assert_eq!(pid, first.to_string());
    w.terminate();
}

/// A backend refusing the password pgpool sent on the client's behalf (no pool_passwd entry)
/// ends in pgpool's own ERROR, not the backend's ErrorResponse (spec/auth.md §9.4 step 4,
/// §9.5 step 6, §9.6 step 5, §15; the same with pgpool-II 4.3.5).
#[test]
fn backend_refusing_a_relayed_password_gives_pgpools_error() {
    let c = shared_cluster();
    c.create_role("auth_relay_clear", "relay-pw", AuthMethod::Password);
    c.create_role("auth_relay_md5", "relay-pw", AuthMethod::Md5);
    c.create_role("auth_relay_scram", "relay-pw", AuthMethod::ScramSha256);
    let d = Daemon::start(c, "allow_clear_text_frontend_auth = on");
    for user in ["auth_relay_clear", "auth_relay_md5"] {
        assert_refused(
            &d,
            user,
            Some("wrong-pw"),
            "postgres",
            &[
                "ERROR XX000: authentication failed / ",
                &format!("password authentication failed for user \"{user}\""),
            ],
        );
    }
    assert_refused(
        &d,
        "auth_relay_scram",
        Some("wrong-pw"),
        "postgres",
        &[
            "ERROR XX000: backend authentication failed / ",
            "backend response with kind 'E' when expecting 'R'",
        ],
    );
}
