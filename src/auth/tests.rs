//! Socket-pair tests of the authentication state machines: a simulated client (postgres-protocol's
//! frontend messages and SCRAM client, i.e. what libpq does) and simulated backends (PostgreSQL's
//! answers) run in threads on Unix socket pairs; our code runs on the other ends.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::frontend;

use super::passwords::{aes_encrypt, md5_password_hash};
use super::scram::{ScramError, ScramServer};
use super::*;
use crate::protocol::messages;
use crate::protocol::Conn;

const USER: &str = "alice";
const SECRET: &str = "s3cret";

fn read_msg(s: &mut UnixStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    s.read_exact(&mut head).ok()?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut body = vec![0; len.checked_sub(4)?];
    s.read_exact(&mut body).ok()?;
    Some((head[0], body))
}

/// What the simulated client saw.
#[derive(Debug, Default)]
struct ClientLog {
    /// Authentication request codes received, in order.
    requests: Vec<i32>,
    /// Message of an ErrorResponse received, if any.
    error: Option<String>,
}

impl ClientLog {
    fn got_ok(&self) -> bool {
        self.requests.contains(&0)
    }
}

/// A libpq-like client answering every request with `password`.
fn fake_client(mut s: UnixStream, password: &'static str) -> JoinHandle<ClientLog> {
    thread::spawn(move || {
        let mut log = ClientLog::default();
        let mut scram: Option<ScramSha256> = None;
        while let Some((tag, body)) = read_msg(&mut s) {
            let mut out = BytesMut::new();
            match tag {
                b'R' => {
                    let code = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    log.requests.push(code);
                    match code {
                        3 => frontend::password_message(password.as_bytes(), &mut out).unwrap(),
                        5 => {
                            let salt = [body[4], body[5], body[6], body[7]];
                            let h = postgres_protocol::authentication::md5_hash(
                                USER.as_bytes(),
                                password.as_bytes(),
                                salt,
                            );
                            frontend::password_message(h.as_bytes(), &mut out).unwrap();
                        }
                        10 => {
                            let sc = ScramSha256::new(
                                password.as_bytes(),
                                ChannelBinding::unsupported(),
                            );
                            frontend::sasl_initial_response(
                                "SCRAM-SHA-256",
                                sc.message(),
                                &mut out,
                            )
                            .unwrap();
                            scram = Some(sc);
                        }
                        11 => {
                            let sc = scram.as_mut().unwrap();
                            sc.update(&body[4..]).unwrap();
                            frontend::sasl_response(sc.message(), &mut out).unwrap();
                        }
                        12 => scram.as_mut().unwrap().finish(&body[4..]).unwrap(),
                        _ => {}
                    }
                }
                b'E' => {
                    log.error = messages::parse_error_fields(&body)
                        .ok()
                        .map(|f| f.message.into_owned());
                }
                _ => {}
            }
            if !out.is_empty() && s.write_all(&out).is_err() {
                break;
            }
        }
        log
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Method {
    Trust,
    Password,
    Md5,
    Scram,
    /// Reject before asking anything (e.g. database does not exist).
    Error,
    /// An unsupported request (GSS).
    Gss,
}

/// What a simulated backend saw: whether it accepted the login.
#[derive(Debug, Default)]
struct BackendLog {
    accepted: bool,
    answered: bool,
}

fn send(s: &mut UnixStream, f: impl FnOnce(&mut Vec<u8>)) {
    let mut v = Vec::new();
    f(&mut v);
    let _ = s.write_all(&v);
}

fn reject(s: &mut UnixStream) {
    let msg = format!("password authentication failed for user \"{USER}\"");
    send(s, |o| {
        messages::error_response(o, "FATAL", "28P01", &msg, None, None)
    });
}

/// A PostgreSQL-like backend whose user `alice` has password `SECRET`.
fn fake_backend(mut s: UnixStream, method: Method) -> JoinHandle<(BackendLog, UnixStream)> {
    thread::spawn(move || {
        let mut log = BackendLog::default();
        match method {
            Method::Trust => {
                send(&mut s, messages::auth_ok);
                log.accepted = true;
            }
            Method::Error => send(&mut s, |o| {
                messages::error_response(
                    o,
                    "FATAL",
                    "3D000",
                    "database \"x\" does not exist",
                    None,
                    None,
                )
            }),
            Method::Gss => send(&mut s, |o| {
                let st = messages::begin(o, b'R');
                o.extend_from_slice(&7i32.to_be_bytes());
                messages::finish(o, st);
            }),
            Method::Password => {
                send(&mut s, messages::auth_cleartext);
                if let Some((b'p', body)) = read_msg(&mut s) {
                    log.answered = true;
                    if body == format!("{SECRET}\0").as_bytes() {
                        log.accepted = true;
                        send(&mut s, messages::auth_ok);
                    } else {
                        reject(&mut s);
                    }
                }
            }
            Method::Md5 => {
                let mut salt = [0u8; 4];
                super::scram::random_bytes(&mut salt);
                send(&mut s, |o| messages::auth_md5(o, salt));
                if let Some((b'p', body)) = read_msg(&mut s) {
                    log.answered = true;
                    let want = postgres_protocol::authentication::md5_hash(
                        USER.as_bytes(),
                        SECRET.as_bytes(),
                        salt,
                    );
                    if body == format!("{want}\0").as_bytes() {
                        log.accepted = true;
                        send(&mut s, messages::auth_ok);
                    } else {
                        reject(&mut s);
                    }
                }
            }
            Method::Scram => {
                send(&mut s, |o| {
                    messages::auth_sasl(o, &["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"])
                });
                let mut server = ScramServer::new(SECRET);
                let Some((b'p', body)) = read_msg(&mut s) else {
                    return (log, s);
                };
                log.answered = true;
                let (mech, data) = messages::parse_sasl_initial_response(&body).unwrap();
                assert_eq!(mech, "SCRAM-SHA-256");
                let sf = server.client_first(data.unwrap()).unwrap();
                send(&mut s, |o| messages::auth_sasl_continue(o, sf.as_bytes()));
                let Some((b'p', body)) = read_msg(&mut s) else {
                    return (log, s);
                };
                match server.client_final(&body) {
                    Ok(fin) => {
                        log.accepted = true;
                        send(&mut s, |o| messages::auth_sasl_final(o, fin.as_bytes()));
                        send(&mut s, messages::auth_ok);
                    }
                    Err(ScramError::WrongProof) => reject(&mut s),
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        (log, s)
    })
}

struct Run {
    result: Result<AuthOutcome, AuthError>,
    client: ClientLog,
    backends: Vec<BackendLog>,
}

fn ctx<'a>(pool_passwd: Option<&'a str>, key: Option<&'a str>, act: bool) -> AuthContext<'a> {
    AuthContext {
        user: USER,
        pool_passwd,
        pool_key: key,
        allow_clear_text_frontend_auth: act,
        timeout: Some(Duration::from_secs(20)),
        frontend: None,
    }
}

fn run(methods: &[Method], client_password: &'static str, ctx: AuthContext) -> Run {
    let (c_ours, c_theirs) = UnixStream::pair().unwrap();
    let client_thread = fake_client(c_theirs, client_password);
    let mut conns = Vec::new();
    let mut threads = Vec::new();
    for m in methods {
        let (ours, theirs) = UnixStream::pair().unwrap();
        conns.push(Conn::new(ours.into()));
        threads.push(fake_backend(theirs, *m));
    }
    let mut client = Conn::new(c_ours.into());
    let result = {
        let mut refs: Vec<&mut Conn> = conns.iter_mut().collect();
        authenticate_new_session(&mut client, &mut refs, 0, &ctx)
    };
    if let Err(e) = &result {
        if let Some(pe) = e.client_error() {
            let _ = client.write_all(&pe.encode());
        }
    }
    drop(client);
    drop(conns);
    let backends = threads.into_iter().map(|t| t.join().unwrap().0).collect();
    Run {
        result,
        client: client_thread.join().unwrap(),
        backends,
    }
}

fn refused_detail(r: &Result<AuthOutcome, AuthError>) -> (String, Option<String>) {
    match r {
        Err(AuthError::Refused(pe)) => (pe.message.clone(), pe.detail.clone()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn trust_backends_give_immediate_ok() {
    let r = run(
        &[Method::Trust, Method::Trust],
        "ignored",
        ctx(None, None, false),
    );
    assert_eq!(
        r.result.unwrap(),
        AuthOutcome {
            kind: AuthKind::Trust,
            client_password: None
        }
    );
    assert_eq!(r.client.requests, [0]);
}

#[test]
fn clear_text_without_entry_is_forwarded_to_every_backend() {
    let r = run(
        &[Method::Password, Method::Password],
        SECRET,
        ctx(None, None, false),
    );
    let out = r.result.unwrap();
    assert_eq!(out.kind, AuthKind::ClearText);
    assert_eq!(out.client_password.as_deref(), Some(SECRET));
    assert_eq!(r.client.requests, [3, 0]);
    assert!(r.backends.iter().all(|b| b.accepted));
}

#[test]
fn clear_text_rejected_by_backend_gives_pgpools_error_with_its_message() {
    let r = run(&[Method::Password], "wrong", ctx(None, None, false));
    let (m, d) = refused_detail(&r.result);
    assert_eq!(m, "authentication failed");
    assert_eq!(
        d.as_deref(),
        Some("password authentication failed for user \"alice\"")
    );
    assert!(!r.client.got_ok());
    // The client sees pgpool's error, not the backend's own ErrorResponse.
    assert_eq!(r.client.error.as_deref(), Some("authentication failed"));
}

#[test]
fn clear_text_with_entry_checks_the_client_before_any_backend() {
    let r = run(&[Method::Password], "wrong", ctx(Some(SECRET), None, false));
    let (m, d) = refused_detail(&r.result);
    assert_eq!(m, "clear text authentication failed");
    assert_eq!(d.as_deref(), Some("password does not match"));
    assert!(!r.backends[0].answered);
    assert!(!r.client.got_ok());
    assert_eq!(
        r.client.error.as_deref(),
        Some("clear text authentication failed")
    );
    // A prefix of the real password is not enough (pgpool bug #17 not copied).
    let r = run(&[Method::Password], "s3cre", ctx(Some(SECRET), None, false));
    assert!(r.result.is_err());
    let r = run(
        &[Method::Password],
        SECRET,
        ctx(Some(&format!("TEXT{SECRET}")), None, false),
    );
    assert_eq!(r.result.unwrap().kind, AuthKind::ClearText);
}

#[test]
fn md5_backends_with_plain_md5_and_aes_entries() {
    let md5 = md5_password_hash(SECRET, USER);
    let aes = format!("AES{}", aes_encrypt(SECRET, "poolkey"));
    for entry in [SECRET.to_string(), md5, aes] {
        let r = run(
            &[Method::Md5, Method::Md5],
            SECRET,
            ctx(Some(&entry), Some("poolkey"), false),
        );
        let out = r.result.unwrap();
        assert_eq!(
            out,
            AuthOutcome {
                kind: AuthKind::Md5,
                client_password: None
            }
        );
        // pgpool's own salt challenge, then Ok; each backend answered with its own salt.
        assert_eq!(r.client.requests, [5, 0]);
        assert!(r.backends.iter().all(|b| b.accepted));
    }
}

#[test]
fn md5_wrong_client_password_never_reaches_backends() {
    let r = run(
        &[Method::Md5, Method::Md5],
        "wrong",
        ctx(Some(SECRET), None, false),
    );
    let (m, d) = refused_detail(&r.result);
    assert_eq!(m, "md5 authentication failed");
    assert_eq!(d.as_deref(), Some("password does not match"));
    assert!(r.backends.iter().all(|b| !b.answered));
    assert!(!r.client.got_ok());
}

#[test]
fn md5_without_entry_needs_allow_clear_text_frontend_auth() {
    let r = run(&[Method::Md5], SECRET, ctx(None, None, false));
    let (m, d) = refused_detail(&r.result);
    assert_eq!(m, "failed to authenticate with backend using md5");
    assert_eq!(d.as_deref(), Some("valid password not found"));
    assert!(r.client.requests.is_empty());

    let r = run(&[Method::Md5], SECRET, ctx(None, None, true));
    let out = r.result.unwrap();
    assert_eq!(out.kind, AuthKind::Md5);
    assert_eq!(out.client_password.as_deref(), Some(SECRET));
    assert_eq!(r.client.requests, [3, 0]);

    // The unverified clear text is checked by the backend.
    let r = run(&[Method::Md5], "wrong", ctx(None, None, true));
    assert_eq!(refused_detail(&r.result).0, "authentication failed");
    assert!(!r.client.got_ok());
}

#[test]
fn aes_entry_without_key_fails_with_pgpool_hint() {
    let aes = format!("AES{}", aes_encrypt(SECRET, "poolkey"));
    let r = run(&[Method::Md5], SECRET, ctx(Some(&aes), None, false));
    match r.result {
        Err(AuthError::Refused(pe)) => {
            assert_eq!(
                pe.detail.as_deref(),
                Some("unable to decrypt password from pool_passwd")
            );
            assert_eq!(pe.hint.as_deref(), Some("verify the valid pool_key exists"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn scram_backends_with_plain_entry() {
    let r = run(
        &[Method::Scram, Method::Scram],
        SECRET,
        ctx(Some(SECRET), None, false),
    );
    assert_eq!(
        r.result.unwrap(),
        AuthOutcome {
            kind: AuthKind::Scram,
            client_password: None
        }
    );
    // SASL, SASLContinue, SASLFinal from pgpool, then Ok after all backends.
    assert_eq!(r.client.requests, [10, 11, 12, 0]);
    assert!(r.backends.iter().all(|b| b.accepted));
}

#[test]
fn scram_wrong_client_password_is_refused_before_backends() {
    let r = run(&[Method::Scram], "wrong", ctx(Some(SECRET), None, false));
    let (m, d) = refused_detail(&r.result);
    assert_eq!(m, "authentication failed");
    assert_eq!(
        d.as_deref(),
        Some("username \"alice\" or password does not exist in backend")
    );
    assert!(!r.backends[0].answered);
    assert_eq!(r.client.requests, [10, 11]);
}

#[test]
fn scram_needs_a_plain_text_password() {
    let md5 = md5_password_hash(SECRET, USER);
    let r = run(&[Method::Scram], SECRET, ctx(Some(&md5), None, false));
    assert_eq!(
        refused_detail(&r.result).0,
        "failed to authenticate with backend using SCRAM"
    );
    let r = run(&[Method::Scram], SECRET, ctx(None, None, true));
    assert_eq!(r.result.unwrap().client_password.as_deref(), Some(SECRET));
    assert_eq!(r.client.requests, [3, 0]);
}

#[test]
fn scram_backend_rejecting_the_entry_gives_pgpools_error() {
    // pool_passwd holds a stale password: the client proves it, the backend refuses it.
    let r = run(&[Method::Scram], "stale", ctx(Some("stale"), None, false));
    let (m, d) = refused_detail(&r.result);
    assert_eq!(m, "backend authentication failed");
    assert_eq!(
        d.as_deref(),
        Some("backend response with kind 'E' when expecting 'R'")
    );
    assert!(!r.client.got_ok());
    assert_eq!(
        r.client.error.as_deref(),
        Some("backend authentication failed")
    );
}

#[test]
fn backends_must_agree() {
    let r = run(
        &[Method::Md5, Method::Password],
        SECRET,
        ctx(Some(SECRET), None, false),
    );
    assert_eq!(
        refused_detail(&r.result).0,
        "invalid authentication packet from backend"
    );
    let r = run(
        &[Method::Trust, Method::Error],
        SECRET,
        ctx(None, None, false),
    );
    let (m, d) = refused_detail(&r.result);
    assert_eq!(m, "unable to read message kind");
    assert!(d
        .unwrap()
        .starts_with("kind does not match between main(52) slot[1] (45)"));
    let r = run(
        &[Method::Password, Method::Md5],
        SECRET,
        ctx(Some(SECRET), None, false),
    );
    assert!(r.result.is_err());
}

#[test]
fn backend_error_before_auth_is_forwarded_unchanged() {
    let r = run(&[Method::Error], SECRET, ctx(None, None, false));
    assert!(matches!(r.result, Err(AuthError::BackendRejected { .. })));
    assert_eq!(
        r.client.error.as_deref(),
        Some("database \"x\" does not exist")
    );
    assert!(r.result.unwrap_err().client_error().is_none());
}

#[test]
fn unsupported_backend_method_is_refused() {
    let r = run(&[Method::Gss], SECRET, ctx(None, None, false));
    let (m, d) = refused_detail(&r.result);
    assert_eq!(m, "failed to authenticate with backend");
    assert_eq!(
        d.as_deref(),
        Some("unsupported auth kind received from backend: authkind:7")
    );
}

#[test]
fn client_leaving_mid_exchange_is_client_gone() {
    let (c_ours, c_theirs) = UnixStream::pair().unwrap();
    let (b_ours, b_theirs) = UnixStream::pair().unwrap();
    let backend = fake_backend(b_theirs, Method::Md5);
    drop(c_theirs);
    let mut client = Conn::new(c_ours.into());
    let mut b = Conn::new(b_ours.into());
    let r = authenticate_new_session(
        &mut client,
        &mut [&mut b],
        0,
        &ctx(Some(SECRET), None, false),
    );
    assert!(
        matches!(r, Err(AuthError::ClientGone) | Err(AuthError::Client(_))),
        "{r:?}"
    );
    drop(b);
    backend.join().unwrap();
}

// --- re-authentication -------------------------------------------------------------------

fn reauth(
    remembered: &AuthOutcome,
    client_password: &'static str,
    ctx: AuthContext,
) -> (Result<(), AuthError>, ClientLog) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let t = fake_client(theirs, client_password);
    let mut client = Conn::new(ours.into());
    let r = reauthenticate(&mut client, &ctx, remembered);
    drop(client);
    (r, t.join().unwrap())
}

fn outcome(kind: AuthKind, pw: Option<&str>) -> AuthOutcome {
    AuthOutcome {
        kind,
        client_password: pw.map(str::to_string),
    }
}

#[test]
fn reauth_trust_sends_nothing() {
    let (r, log) = reauth(&outcome(AuthKind::Trust, None), "x", ctx(None, None, false));
    r.unwrap();
    assert!(log.requests.is_empty());
}

#[test]
fn reauth_clear_text_compares_with_recorded_password() {
    let rec = outcome(AuthKind::ClearText, Some(SECRET));
    let (r, log) = reauth(&rec, SECRET, ctx(None, None, false));
    r.unwrap();
    assert_eq!(
        log.requests,
        [3],
        "challenge only; AuthenticationOk is the caller's"
    );
    for wrong in ["wrong", "s3cre", "s3cret2", ""] {
        let (r, _) = reauth(&rec, wrong, ctx(None, None, false));
        assert!(r.is_err(), "{wrong:?} must not pass");
    }
    // Entry present: must match it too.
    let (r, _) = reauth(&rec, SECRET, ctx(Some("different"), None, false));
    assert!(r.is_err());
    // Nothing recorded: fail closed without asking.
    let (r, log) = reauth(
        &outcome(AuthKind::ClearText, None),
        SECRET,
        ctx(Some(SECRET), None, false),
    );
    assert!(r.is_err());
    assert!(log.requests.is_empty());
}

#[test]
fn reauth_md5_uses_entry_or_recorded_password() {
    let rec = outcome(AuthKind::Md5, None);
    let (r, log) = reauth(&rec, SECRET, ctx(Some(SECRET), None, false));
    r.unwrap();
    assert_eq!(log.requests, [5]);
    let md5 = md5_password_hash(SECRET, USER);
    let (r, _) = reauth(&rec, SECRET, ctx(Some(&md5), None, false));
    r.unwrap();
    let (r, _) = reauth(&rec, "wrong", ctx(Some(&md5), None, false));
    let e = r.unwrap_err();
    assert_eq!(e.to_pg_error().message, "md5 authentication failed");
    // allow_clear_text_frontend_auth session: the clear text the backends accepted is used.
    let (r, _) = reauth(
        &outcome(AuthKind::Md5, Some(SECRET)),
        SECRET,
        ctx(None, None, true),
    );
    r.unwrap();
    let (r, _) = reauth(
        &outcome(AuthKind::Md5, Some(SECRET)),
        "wrong",
        ctx(None, None, true),
    );
    assert!(r.is_err());
    // No material at all: FATAL, client never challenged, never let through.
    let (r, log) = reauth(&rec, SECRET, ctx(None, None, true));
    let pe = r.unwrap_err().to_pg_error();
    assert_eq!(pe.severity, crate::logger::Severity::Fatal);
    assert_eq!(
        pe.detail.as_deref(),
        Some("pool_passwd file does not contain an entry for \"alice\"")
    );
    assert!(log.requests.is_empty());
}

#[test]
fn reauth_scram_runs_a_full_exchange() {
    let rec = outcome(AuthKind::Scram, None);
    let (r, log) = reauth(&rec, SECRET, ctx(Some(SECRET), None, false));
    r.unwrap();
    assert_eq!(log.requests, [10, 11, 12]);
    let (r, log) = reauth(&rec, "wrong", ctx(Some(SECRET), None, false));
    assert!(r.is_err());
    assert!(!log.requests.contains(&12));
    let md5 = md5_password_hash(SECRET, USER);
    let (r, _) = reauth(&rec, SECRET, ctx(Some(&md5), None, false));
    assert_eq!(
        r.unwrap_err().to_pg_error().detail.as_deref(),
        Some("username \"alice\" has invalid password type")
    );
    let (r, _) = reauth(&rec, SECRET, ctx(None, None, false));
    assert!(r.is_err());
}

fn hba_frontend(
    method: hba::Method,
    authenticated: bool,
    password: Option<&str>,
) -> hba::FrontendAuth {
    hba::FrontendAuth {
        method,
        authenticated,
        password: password.map(str::to_string),
    }
}

#[test]
fn reauth_clear_text_after_pam_compares_the_entry_without_asking() {
    // spec/auth.md §11, clear-text row: after pam no question can be asked; the entry is
    // compared with the password the backends accepted (the entry, sent by the first session).
    let pam = hba_frontend(hba::Method::Pam, false, None);
    let rec = outcome(AuthKind::ClearText, Some(SECRET));
    let with = |entry: Option<&'static str>, act: bool| AuthContext {
        frontend: Some(&pam),
        ..ctx(entry, None, act)
    };
    let (r, log) = reauth(&rec, "pam password", with(Some(SECRET), false));
    r.unwrap();
    assert!(log.requests.is_empty(), "{:?}", log.requests);
    // the entry changed since the backends accepted it
    let (r, log) = reauth(&rec, "pam password", with(Some("other"), false));
    assert!(r.is_err());
    assert!(log.requests.is_empty());
    // nothing recorded: fail closed
    let (r, _) = reauth(
        &outcome(AuthKind::ClearText, None),
        "pam password",
        with(Some(SECRET), false),
    );
    assert!(r.is_err());
    // allow_clear_text_frontend_auth: the client is asked and checked against the entry
    let (r, log) = reauth(&rec, "pam password", with(Some(SECRET), true));
    assert!(r.is_err());
    assert_eq!(log.requests, [3]);
    let (r, _) = reauth(&rec, SECRET, with(Some(SECRET), true));
    r.unwrap();
}

#[test]
fn clear_text_backend_records_the_password_it_accepted() {
    // ldap with backend_use_passwd=1 and an entry: the entry goes to the backends and is
    // what a pooled reuse compares (§9.4 step 1, §11).
    let ldap = hba_frontend(hba::Method::Ldap, false, Some("ldap password"));
    let r = run(
        &[Method::Password],
        "unused",
        AuthContext {
            frontend: Some(&ldap),
            ..ctx(Some(SECRET), None, false)
        },
    );
    assert_eq!(r.result.unwrap().client_password.as_deref(), Some(SECRET));
    assert_eq!(r.client.requests, [0]);
    let rec = outcome(AuthKind::ClearText, Some(SECRET));
    let (r, log) = reauth(
        &rec,
        "unused",
        AuthContext {
            frontend: Some(&ldap),
            ..ctx(Some(SECRET), None, false)
        },
    );
    r.unwrap();
    assert!(log.requests.is_empty());
}

#[test]
fn ldap_backend_use_passwd_follows_allow_clear_text_frontend_auth() {
    // spec/auth.md §9.5 step 5, §10 last row: the LDAP password pgpool holds replaces the
    // second challenge only with allow_clear_text_frontend_auth on.
    let ldap_pw = |pw: &str| hba_frontend(hba::Method::Ldap, false, Some(pw));
    for backend in [Method::Md5, Method::Scram] {
        let (challenge, ok): (&[i32], &[i32]) = if backend == Method::Md5 {
            (&[5, 0], &[5])
        } else {
            (&[10, 11, 12, 0], &[10, 11])
        };
        // with an entry and ACT on: the entry answers the backends, no second challenge
        let f = ldap_pw("ldap password");
        let r = run(
            &[backend],
            "unused",
            AuthContext {
                frontend: Some(&f),
                ..ctx(Some(SECRET), None, true)
            },
        );
        assert!(r.result.is_ok(), "{backend:?}: {:?}", r.result);
        assert_eq!(r.client.requests, [0], "{backend:?}");
        assert!(r.backends[0].accepted);
        // with an entry and ACT off: a second challenge against the entry
        let r = run(
            &[backend],
            SECRET,
            AuthContext {
                frontend: Some(&f),
                ..ctx(Some(SECRET), None, false)
            },
        );
        assert!(r.result.is_ok(), "{backend:?}: {:?}", r.result);
        assert_eq!(r.client.requests, challenge, "{backend:?}");
        // without an entry and ACT off: a second challenge against the LDAP password
        let f = ldap_pw(SECRET);
        let r = run(
            &[backend],
            SECRET,
            AuthContext {
                frontend: Some(&f),
                ..ctx(None, None, false)
            },
        );
        assert!(r.result.is_ok(), "{backend:?}: {:?}", r.result);
        assert_eq!(r.client.requests, challenge, "{backend:?}");
        let r = run(
            &[backend],
            "wrong",
            AuthContext {
                frontend: Some(&f),
                ..ctx(None, None, false)
            },
        );
        assert!(r.result.is_err(), "{backend:?}");
        assert_eq!(r.client.requests, ok, "{backend:?}");
        assert!(!r.backends[0].answered, "{backend:?}");
        // without an entry and ACT on: the LDAP password answers the backends directly
        let r = run(
            &[backend],
            "unused",
            AuthContext {
                frontend: Some(&f),
                ..ctx(None, None, true)
            },
        );
        assert!(r.result.is_ok(), "{backend:?}: {:?}", r.result);
        assert_eq!(r.client.requests, [0], "{backend:?}");
    }
}
