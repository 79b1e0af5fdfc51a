//! The password exchange of a *new* session (pgpool's `pool_do_auth` up to AuthenticationOk,
//! with `enable_pool_hba = off`; spec/auth.md §9.2–§9.7, §10 first row; architecture.md §3.6):
//! read the authentication request of every backend in lock-step (kind, length and code must
//! agree), run pgpool's own exchange with the client, answer every backend, and send the client
//! AuthenticationOk. The messages that follow (ParameterStatus … BackendKeyData) are the
//! caller's.

use crate::logger::Severity;
use crate::protocol::messages::{self, auth_code, AuthRequest};
use crate::protocol::{Conn, Message, ProtocolError};

use super::error::{AuthContext, AuthError, AuthKind, AuthOutcome};
use super::frontend::{
    aes_failure, ask_clear_text, md5_challenge, scram_exchange, verify_clear_text,
};
use super::hba::Method;
use super::passwords::{md5_salted, StoredPassword};
use super::scram::{offers_scram_sha_256, ScramClient, SCRAM_SHA_256};

/// Bound for one backend message during authentication (an ErrorResponse may be long).
pub const MAX_BACKEND_AUTH_MESSAGE: usize = 16 * 1024;
/// Largest SASL payload accepted from a backend (spec/auth.md §9.6).
pub const MAX_SASL_PAYLOAD: usize = 1024;

fn send_client(client: &Conn, build: impl FnOnce(&mut Vec<u8>)) -> Result<(), AuthError> {
    let mut out = Vec::with_capacity(16);
    build(&mut out);
    client
        .write_all(&out)
        .map_err(|e| AuthError::client(ProtocolError::Io(e)))
}

fn send_backend(node: usize, b: &Conn, build: impl FnOnce(&mut Vec<u8>)) -> Result<(), AuthError> {
    let mut out = Vec::with_capacity(64);
    build(&mut out);
    b.write_all(&out).map_err(|e| AuthError::Backend {
        node,
        error: ProtocolError::Io(e),
    })
}

fn read_backend(node: usize, b: &mut Conn, ctx: &AuthContext) -> Result<Message, AuthError> {
    b.read_message(MAX_BACKEND_AUTH_MESSAGE, ctx.timeout)
        .map_err(|error| AuthError::Backend { node, error })
}

/// Forward a backend's ErrorResponse to the client unchanged and turn it into an error.
fn forward_backend_error(node: usize, body: &[u8], client: &Conn) -> AuthError {
    let message = messages::parse_error_fields(body)
        .map(|f| f.message.into_owned())
        .unwrap_or_default();
    crate::pglog!(Severity::Log, detail = &message; "backend {} rejected the authentication", node);
    // The client may already be gone; the backend's verdict is what matters.
    let _ = client.write_message(b'E', body);
    AuthError::BackendRejected { node, message }
}

/// A backend refused the password pgpool sent (spec/auth.md §9.4 step 4, §9.5 step 6): the
/// client gets pgpool's ERROR "authentication failed" with the backend's message as DETAIL, as
/// pgpool-II does — not the backend's own ErrorResponse.
fn password_refused(node: usize, body: &[u8]) -> AuthError {
    let message = messages::parse_error_fields(body)
        .map(|f| f.message.into_owned())
        .unwrap_or_default();
    crate::pglog!(Severity::Log, detail = &message; "backend {} rejected the authentication", node);
    AuthError::refused("authentication failed", message)
}

/// Read the reply to a password we sent to backend `node`; it must be AuthenticationOk.
fn expect_auth_ok(node: usize, b: &mut Conn, ctx: &AuthContext) -> Result<(), AuthError> {
    let m = read_backend(node, b, ctx)?;
    match m.tag {
        b'R' => {}
        b'E' => return Err(password_refused(node, &m.body)),
        _ => {
            return Err(AuthError::refused(
                "authentication failed",
                "invalid backend response. Response does not replied with \"R\"",
            ))
        }
    }
    if m.body.len() != 4 {
        return Err(AuthError::refused(
            "authentication failed",
            format!(
                "invalid authentication packet. incorrect authentication packet size ({})",
                m.body.len() + 4
            ),
        ));
    }
    match messages::auth_request_code(&m.body) {
        Ok(auth_code::OK) => Ok(()),
        Ok(code) => Err(AuthError::refused(
            "authentication failed",
            format!("invalid auth kind received from backend: authkind:{code}"),
        )),
        Err(error) => Err(AuthError::Backend { node, error }),
    }
}

/// Read the first message of every backend and check they agree (§9.2). Returns the messages
/// (all `R` with the same length and code) and that code.
fn read_first_requests(
    client: &Conn,
    backends: &mut [&mut Conn],
    main: usize,
    ctx: &AuthContext,
) -> Result<(Vec<Message>, i32), AuthError> {
    let mut msgs = Vec::with_capacity(backends.len());
    for (node, b) in backends.iter_mut().enumerate() {
        msgs.push(read_backend(node, b, ctx)?);
    }
    let m = &msgs[main];
    if m.tag == b'E' {
        return Err(forward_backend_error(main, &m.body, client));
    }
    for (node, other) in msgs.iter().enumerate() {
        if other.tag != m.tag {
            if other.tag == b'E' {
                let text = messages::parse_error_fields(&other.body)
                    .map(|f| f.message.into_owned())
                    .unwrap_or_default();
                crate::pglog!(Severity::Log, "backend {} sent an error: {}", node, text);
            }
            return Err(AuthError::refused(
                "unable to read message kind",
                format!(
                    "kind does not match between main({:x}) slot[{}] ({:x})",
                    m.tag, node, other.tag
                ),
            ));
        }
    }
    if m.tag != b'R' {
        return Err(AuthError::refused(
            "backend authentication failed",
            format!(
                "backend response with kind '{}' when expecting 'R'",
                m.tag as char
            ),
        ));
    }
    for (node, other) in msgs.iter().enumerate() {
        if other.body.len() != m.body.len() {
            crate::pglog!(
                Severity::Log,
                "message length ({}) in slot {} does not match with slot {}({})",
                other.body.len() + 4,
                node,
                main,
                m.body.len() + 4
            );
            return Err(AuthError::Refused(
                crate::protocol::PgError::internal("invalid authentication packet from backend")
                    .with_detail("failed to get the authentication packet length")
                    .with_hint("This is likely caused by the inconsistency of auth method among DB nodes. In this case you can check the previous error messages (hint: length field) from pool_read_message_length and recheck the pg_hba.conf settings."),
            ));
        }
    }
    let code = messages::auth_request_code(&m.body)
        .map_err(|error| AuthError::Backend { node: main, error })?;
    for (node, other) in msgs.iter().enumerate() {
        if other.body[..4] != m.body[..4] {
            return Err(AuthError::refused(
                "unable to read int value",
                format!(
                    "data does not match between between main({code:x}) slot[{node}] ({:x})",
                    u32::from_be_bytes([
                        other.body[0],
                        other.body[1],
                        other.body[2],
                        other.body[3]
                    ])
                ),
            ));
        }
    }
    Ok((msgs, code))
}

/// Authenticate a new session (`enable_pool_hba = off`).
///
/// `backends` are the freshly connected backends, in node order, each already sent the sorted
/// startup packet; `main` indexes the main node among them. What is sent:
/// * to the client: whatever challenge the method needs (AuthenticationCleartextPassword,
///   AuthenticationMD5Password with pgpool's own salt, or the SCRAM messages up to
///   AuthenticationSASLFinal), then AuthenticationOk — after the main node accepted (clear
///   text, md5) or after all nodes accepted (SCRAM), immediately for trust. A backend that
///   answers the startup packet with an ErrorResponse has it forwarded unchanged
///   (`AuthError::BackendRejected`); one that refuses the password gives pgpool's own ERROR
///   ("authentication failed" with the backend's message as DETAIL, or "backend
///   authentication failed" during SCRAM), which the caller sends.
/// * to each backend, in node order: the answer to its request (PasswordMessage, or
///   SASLInitialResponse and SASLResponse).
///
/// Returns after every backend sent AuthenticationOk; nothing after that is read. Deviation
/// from pgpool: for md5 and SCRAM the client is checked before *any* backend is answered
/// (pgpool checks it when it reaches the main node); the client sees the same sequence.
pub fn authenticate_new_session(
    client: &mut Conn,
    backends: &mut [&mut Conn],
    main: usize,
    ctx: &AuthContext,
) -> Result<AuthOutcome, AuthError> {
    if main >= backends.len() {
        return Err(AuthError::refused(
            "failed to authenticate with backend",
            "no valid backend connection",
        ));
    }
    let (first, code) = read_first_requests(client, backends, main, ctx)?;
    match code {
        auth_code::OK => {
            send_client(client, messages::auth_ok)?;
            Ok(AuthOutcome {
                kind: AuthKind::Trust,
                client_password: None,
            })
        }
        auth_code::CLEARTEXT_PASSWORD => clear_text(client, backends, main, ctx),
        auth_code::MD5_PASSWORD => md5(client, backends, main, ctx, &first),
        auth_code::SASL => scram(client, backends, ctx, &first),
        other => Err(AuthError::refused(
            "failed to authenticate with backend",
            format!("unsupported auth kind received from backend: authkind:{other}"),
        )),
    }
}

/// Backend code 3 (§9.4): with pool_hba off the client is always asked; an existing entry must
/// match and is what the backends get.
fn clear_text(
    client: &mut Conn,
    backends: &mut [&mut Conn],
    main: usize,
    ctx: &AuthContext,
) -> Result<AuthOutcome, AuthError> {
    const FAILED: &str = "clear text password authentication failed";
    let entry = ctx.pool_passwd.map(StoredPassword::parse);
    let given = match clear_text_from_hba(ctx, entry.as_ref())? {
        HbaClearText::Use(password) => {
            return clear_text_to_backends(client, backends, main, ctx, &password)
        }
        HbaClearText::Ask => ask_clear_text(client, ctx)?,
    };
    let password = match &entry {
        None => given.clone(),
        Some(e) => {
            verify_clear_text(&given, e, ctx)?;
            match e.decrypted(ctx.pool_key) {
                Ok(StoredPassword::Plain(p)) => p,
                Ok(_) => return Err(AuthError::refused(FAILED, "unable to get the password")),
                Err(_) => return Err(aes_failure(FAILED)),
            }
        }
    };
    clear_text_to_backends(client, backends, main, ctx, &password)
}

/// What the hba phase means for a clear-text backend (spec/auth.md §10, column 3).
enum HbaClearText {
    /// Send this password (the entry, else the client's clear text).
    Use(String),
    /// Ask the client (pool_hba off, or on with `allow_clear_text_frontend_auth`).
    Ask,
}

fn clear_text_from_hba(
    ctx: &AuthContext,
    entry: Option<&StoredPassword>,
) -> Result<HbaClearText, AuthError> {
    const FAILED: &str = "clear text password authentication failed";
    let Some(f) = ctx.frontend else {
        return Ok(HbaClearText::Ask);
    };
    let from_entry = |e: &StoredPassword| match e.decrypted(ctx.pool_key) {
        Ok(StoredPassword::Plain(p)) => Ok(p),
        Ok(_) => Err(AuthError::refused(FAILED, "unable to get the password")),
        Err(_) => Err(aes_failure(FAILED)),
    };
    match (entry, &f.password) {
        (Some(e), Some(_)) => Ok(HbaClearText::Use(from_entry(e)?)),
        (None, Some(given)) => Ok(HbaClearText::Use(given.clone())),
        (_, None) if ctx.allow_clear_text_frontend_auth => Ok(HbaClearText::Ask),
        (Some(e), None) => Ok(HbaClearText::Use(from_entry(e)?)),
        (None, None) => Err(AuthError::refused(FAILED, "unable to get the password")),
    }
}

/// Send `password` to every backend; AuthenticationOk to the client after the main node. The
/// password the backends accepted is recorded for re-authentication (§9.4 step 5).
fn clear_text_to_backends(
    client: &mut Conn,
    backends: &mut [&mut Conn],
    main: usize,
    ctx: &AuthContext,
    password: &str,
) -> Result<AuthOutcome, AuthError> {
    for (node, b) in backends.iter_mut().enumerate() {
        send_backend(node, b, |o| {
            messages::password_message(o, password.as_bytes())
        })?;
        expect_auth_ok(node, b, ctx)?;
        if node == main {
            send_client(client, messages::auth_ok)?;
        }
    }
    Ok(AuthOutcome {
        kind: AuthKind::ClearText,
        client_password: Some(password.to_string()),
    })
}

/// Where the password for md5/SCRAM backends comes from (§9.5 steps 1–3, §9.6 steps 1–3):
/// the pool_passwd entry, else (with `allow_clear_text_frontend_auth`) the client's clear
/// text. Returns the source and the client's password if it was asked for.
fn md5_or_scram_source(
    client: &mut Conn,
    ctx: &AuthContext,
    method: &str,
) -> Result<(StoredPassword, Option<String>), AuthError> {
    if let Some(stored) = ctx.pool_passwd {
        return Ok((StoredPassword::parse(stored), None));
    }
    let not_found = || {
        AuthError::refused(
            format!("failed to authenticate with backend using {method}"),
            "valid password not found",
        )
    };
    if let Some(f) = ctx.frontend {
        // pool_hba on: the client's clear text from the hba exchange, else nothing (ACT only
        // applies with pool_hba off).
        return match &f.password {
            Some(p) => Ok((StoredPassword::Plain(p.clone()), Some(p.clone()))),
            None => Err(not_found()),
        };
    }
    if !ctx.allow_clear_text_frontend_auth {
        return Err(not_found());
    }
    crate::pglog!(
        Severity::Log,
        detail = format!("backend will still use {method} auth"),
        hint = "you can disable this behavior by setting allow_clear_text_frontend_auth to off";
        "using clear text authentication with frontend"
    );
    let given = ask_clear_text(client, ctx)?;
    Ok((StoredPassword::Plain(given.clone()), Some(given)))
}

/// Whether pgpool must still check the client itself before answering md5/SCRAM backends
/// (§9.5 step 5): not when the pool_hba phase verified it; not when pgpool holds the client's
/// clear text and either took it as the client's answer (pool_hba off with
/// allow_clear_text_frontend_auth, a `password` rule: the backends verify it) or
/// allow_clear_text_frontend_auth is on (ldap with backend_use_passwd=1). Otherwise yes: after
/// pam and ldap (spec/auth.md §16 #15), against the entry or the LDAP password.
fn needs_client_check(ctx: &AuthContext, client_password: &Option<String>) -> bool {
    let Some(f) = ctx.frontend else {
        return client_password.is_none();
    };
    if f.authenticated {
        return false;
    }
    let answered_clear_text = f.method == Method::Password || ctx.allow_clear_text_frontend_auth;
    !(f.password.is_some() && answered_clear_text)
}

/// Backend code 5 (§9.5).
fn md5(
    client: &mut Conn,
    backends: &mut [&mut Conn],
    main: usize,
    ctx: &AuthContext,
    first: &[Message],
) -> Result<AuthOutcome, AuthError> {
    let (source, client_password) = md5_or_scram_source(client, ctx, "md5")?;
    let source = source
        .decrypted(ctx.pool_key)
        .map_err(|_| aes_failure("md5 authentication failed"))?;
    let md5_form = source.md5_form(ctx.user).ok_or_else(|| {
        AuthError::refused(
            "failed to authenticate with backend using md5",
            "valid password not found",
        )
    })?;
    // Unless the client's clear text stands for it (`needs_client_check`), pgpool checks the
    // client itself with its own salt.
    if needs_client_check(ctx, &client_password) {
        md5_challenge(client, ctx, &md5_form)?;
    }
    for (node, b) in backends.iter_mut().enumerate() {
        let salt = match messages::parse_auth_request(&first[node].body) {
            Ok(AuthRequest::Md5Password { salt }) => salt,
            Ok(_) | Err(_) => {
                return Err(AuthError::Backend {
                    node,
                    error: ProtocolError::Violation("invalid md5 authentication request".into()),
                })
            }
        };
        let answer = md5_salted(&md5_form, salt);
        send_backend(node, b, |o| {
            messages::password_message(o, answer.as_bytes())
        })?;
        expect_auth_ok(node, b, ctx)?;
        if node == main {
            send_client(client, messages::auth_ok)?;
        }
    }
    Ok(AuthOutcome {
        kind: AuthKind::Md5,
        client_password,
    })
}

/// Backend code 10 (§9.6).
fn scram(
    client: &mut Conn,
    backends: &mut [&mut Conn],
    ctx: &AuthContext,
    first: &[Message],
) -> Result<AuthOutcome, AuthError> {
    let (source, client_password) = md5_or_scram_source(client, ctx, "SCRAM")?;
    let password = match source.decrypted(ctx.pool_key) {
        Ok(StoredPassword::Plain(p)) => p,
        Ok(_) => {
            return Err(AuthError::refused(
                "failed to authenticate with backend using SCRAM",
                "valid password not found",
            ))
        }
        Err(_) => return Err(aes_failure("SCRAM authentication failed")),
    };
    if needs_client_check(ctx, &client_password) {
        scram_exchange(client, ctx, &password)?;
    }
    for (node, b) in backends.iter_mut().enumerate() {
        scram_with_backend(node, b, ctx, &first[node].body, &password)?;
    }
    send_client(client, messages::auth_ok)?;
    Ok(AuthOutcome {
        kind: AuthKind::Scram,
        client_password,
    })
}

fn backend_scram_error(node: usize, e: super::scram::ScramError) -> AuthError {
    let mut pe = crate::protocol::PgError::internal(e.to_string());
    if let Some(d) = e.detail() {
        pe = pe.with_detail(d);
    }
    crate::pglog!(
        Severity::Log,
        "SCRAM exchange with backend {} failed: {}",
        node,
        pe
    );
    AuthError::Refused(pe)
}

/// Read the next SASL step from a backend: `R` with the wanted code, payload ≤ 1024 bytes.
fn read_sasl_step(
    node: usize,
    b: &mut Conn,
    ctx: &AuthContext,
    want: i32,
) -> Result<Vec<u8>, AuthError> {
    let m = read_backend(node, b, ctx)?;
    match m.tag {
        b'R' => {}
        other => {
            if other == b'E' {
                let message = messages::parse_error_fields(&m.body)
                    .map(|f| f.message.into_owned())
                    .unwrap_or_default();
                crate::pglog!(Severity::Log, detail = &message; "backend {} rejected the authentication", node);
            }
            return Err(AuthError::refused(
                "backend authentication failed",
                format!(
                    "backend response with kind '{}' when expecting 'R'",
                    other as char
                ),
            ));
        }
    }
    let code =
        messages::auth_request_code(&m.body).map_err(|error| AuthError::Backend { node, error })?;
    if code == auth_code::SASL_FINAL && want != auth_code::SASL_FINAL {
        return Err(AuthError::refused(
            "backend authentication failed",
            "AuthenticationSASLFinal received from server, but SASL authentication was not completed",
        ));
    }
    if code != want {
        return Err(AuthError::refused(
            "backend authentication failed",
            format!("unexpected authentication request code {code} (expected {want})"),
        ));
    }
    let payload = m.body[4..].to_vec();
    if payload.len() > MAX_SASL_PAYLOAD {
        return Err(AuthError::refused(
            "backend authentication failed",
            "invalid authentication data too big",
        ));
    }
    Ok(payload)
}

/// Client-side SCRAM with one backend (§9.6 step 5, §14.4). Sends SASLInitialResponse and
/// SASLResponse; reads SASLContinue, SASLFinal and AuthenticationOk.
fn scram_with_backend(
    node: usize,
    b: &mut Conn,
    ctx: &AuthContext,
    first_body: &[u8],
    password: &str,
) -> Result<(), AuthError> {
    match messages::parse_auth_request(first_body) {
        Ok(AuthRequest::Sasl(mechs)) if offers_scram_sha_256(&mechs) => {}
        _ => {
            return Err(AuthError::refused(
                "failed to authenticate with backend using SCRAM",
                "backend does not offer SCRAM-SHA-256",
            ))
        }
    }
    let mut sc = ScramClient::new(password);
    let initial = sc
        .client_first()
        .map_err(|e| backend_scram_error(node, e))?
        .to_vec();
    send_backend(node, b, |o| {
        messages::sasl_initial_response(o, SCRAM_SHA_256, &initial)
    })?;
    let server_first = read_sasl_step(node, b, ctx, auth_code::SASL_CONTINUE)?;
    let client_final = sc
        .server_first(&server_first)
        .map_err(|e| backend_scram_error(node, e))?
        .to_vec();
    send_backend(node, b, |o| messages::sasl_response(o, &client_final))?;
    let server_final = read_sasl_step(node, b, ctx, auth_code::SASL_FINAL)?;
    sc.server_final(&server_final)
        .map_err(|e| backend_scram_error(node, e))?;
    expect_auth_ok(node, b, ctx)
}
