//! The exchanges pgpool runs with a *client* to check its password itself: ask for a clear-text
//! password, check one against a pool_passwd value, challenge with pgpool's own md5 salt, and
//! run the SCRAM-SHA-256 server exchange (spec/auth.md §8.3–§8.5, §14). None of them sends
//! AuthenticationOk: that is the caller's decision.

use crate::protocol::messages;
use crate::protocol::{Conn, ProtocolError};

use super::error::{AuthContext, AuthError};
use super::passwords::{constant_time_eq, md5_password_hash, md5_salted, StoredPassword};
use super::scram::{random_bytes, ScramError, ScramServer};

/// Longest password packet body accepted (spec/auth.md §14.1).
pub const MAX_PASSWORD_PACKET: usize = 1024;

fn send(client: &Conn, build: impl FnOnce(&mut Vec<u8>)) -> Result<(), AuthError> {
    let mut out = Vec::with_capacity(64);
    build(&mut out);
    client
        .write_all(&out)
        .map_err(|e| AuthError::client(ProtocolError::Io(e)))
}

/// Read a PasswordMessage / SASL response (`p`) body. Oversized, empty or mis-tagged packets
/// are refused with pgpool's wording.
pub fn read_password_packet(client: &mut Conn, ctx: &AuthContext) -> Result<Vec<u8>, AuthError> {
    let msg = match client.read_message(MAX_PASSWORD_PACKET + 4, ctx.timeout) {
        Ok(m) => m,
        Err(ProtocolError::BadLength { len, .. }) => {
            let detail = if len > MAX_PASSWORD_PACKET + 4 {
                format!("password is too long. password length is {}", len - 4)
            } else {
                format!("invalid password length {}", len as i64 - 4)
            };
            return Err(AuthError::refused("authentication failed", detail));
        }
        Err(e) => return Err(AuthError::client(e)),
    };
    if msg.tag != b'p' {
        return Err(AuthError::refused(
            "authentication failed",
            "invalid authentication packet. password packet does not start with \"p\"",
        ));
    }
    if msg.body.is_empty() {
        return Err(AuthError::refused(
            "authentication failed",
            "invalid password length 0",
        ));
    }
    Ok(msg.body)
}

/// A password from a PasswordMessage body: one trailing NUL removed, must be UTF-8 and must not
/// contain further NULs. (pgpool compared only as many bytes as were sent, accepting prefixes
/// of the real password, spec/auth.md §16 #17; we compare whole strings.)
pub(crate) fn password_text(mut body: Vec<u8>) -> Result<String, AuthError> {
    if body.last() == Some(&0) {
        body.pop();
    }
    if body.contains(&0) {
        return Err(AuthError::refused(
            "authentication failed",
            "invalid password packet",
        ));
    }
    String::from_utf8(body)
        .map_err(|_| AuthError::refused("authentication failed", "password is not valid UTF-8"))
}

/// Send AuthenticationCleartextPassword and read the answer. Sends: `R` code 3.
pub fn ask_clear_text(client: &mut Conn, ctx: &AuthContext) -> Result<String, AuthError> {
    send(client, messages::auth_cleartext)?;
    password_text(read_password_packet(client, ctx)?)
}

/// Check a clear-text password the client gave against its pool_passwd value (§8.5), exactly.
/// Sends nothing.
pub fn verify_clear_text(
    input: &str,
    entry: &StoredPassword,
    ctx: &AuthContext,
) -> Result<(), AuthError> {
    const FAILED: &str = "clear text authentication failed";
    let ok =
        match entry.decrypted(ctx.pool_key) {
            Ok(StoredPassword::Plain(p)) => constant_time_eq(input.as_bytes(), p.as_bytes()),
            Ok(StoredPassword::Md5(m)) => {
                constant_time_eq(md5_password_hash(input, ctx.user).as_bytes(), m.as_bytes())
            }
            Ok(_) => return Err(AuthError::refused(
                FAILED,
                "password type stored in pool_passwd can't be used for clear text authentication",
            )),
            Err(_) => return Err(aes_failure(FAILED)),
        };
    if ok {
        Ok(())
    } else {
        Err(AuthError::refused(FAILED, "password does not match"))
    }
}

/// The error for an AES value that cannot be decrypted (§7.4).
pub fn aes_failure(message: &str) -> AuthError {
    AuthError::Refused(
        crate::protocol::PgError::internal(message)
            .with_detail("unable to decrypt password from pool_passwd")
            .with_hint("verify the valid pool_key exists"),
    )
}

/// Challenge the client with a fresh random salt and check its answer against `md5_form`
/// (`"md5" + md5hex(password ‖ user)`) (§8.3). Sends: `R` code 5 with the salt.
pub fn md5_challenge(
    client: &mut Conn,
    ctx: &AuthContext,
    md5_form: &str,
) -> Result<(), AuthError> {
    let mut salt = [0u8; 4];
    random_bytes(&mut salt);
    send(client, |o| messages::auth_md5(o, salt))?;
    let answer = password_text(read_password_packet(client, ctx)?)?;
    let expected = md5_salted(md5_form, salt);
    if constant_time_eq(answer.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::refused(
            "md5 authentication failed",
            "password does not match",
        ))
    }
}

fn scram_refusal(e: ScramError, user: &str) -> AuthError {
    match e {
        ScramError::WrongProof => AuthError::refused(
            "authentication failed",
            format!("username \"{user}\" or password does not exist in backend"),
        ),
        other => {
            let mut pe = crate::protocol::PgError::internal(other.to_string());
            if let Some(d) = other.detail() {
                pe = pe.with_detail(d);
            }
            AuthError::Refused(pe)
        }
    }
}

/// Run the SCRAM-SHA-256 server exchange with the client against a clear-text `password`
/// (§8.4). Sends: AuthenticationSASL (`SCRAM-SHA-256`), AuthenticationSASLContinue (an empty
/// one first if the client gave no initial response), AuthenticationSASLContinue with the
/// server-first-message, and on success AuthenticationSASLFinal. On a wrong proof nothing more
/// is sent (pgpool's spurious SASLContinue, §16 #6, is not copied).
pub fn scram_exchange(
    client: &mut Conn,
    ctx: &AuthContext,
    password: &str,
) -> Result<(), AuthError> {
    let mut server = ScramServer::new(password);
    // Over TLS SCRAM-SHA-256-PLUS is offered too (beyond pgpool; docs/tls.md).
    if let Some(cb) = client.tls_server_end_point() {
        server = server.with_channel_binding(cb);
    }
    send(client, |o| messages::auth_sasl(o, server.mechanisms()))?;
    let body = read_password_packet(client, ctx)?;
    let (mech, initial) = messages::parse_sasl_initial_response(&body)
        .map_err(|e| AuthError::refused("malformed SCRAM message", e.to_string()))?;
    if !server.select_mechanism(&mech) {
        return Err(AuthError::Refused(crate::protocol::PgError::internal(
            "client selected an invalid SASL authentication mechanism",
        )));
    }
    let first = match initial {
        Some(d) => d.to_vec(),
        None => {
            send(client, |o| messages::auth_sasl_continue(o, b""))?;
            read_password_packet(client, ctx)?
        }
    };
    let server_first = server
        .client_first(&first)
        .map_err(|e| scram_refusal(e, ctx.user))?;
    send(client, |o| {
        messages::auth_sasl_continue(o, server_first.as_bytes())
    })?;
    let final_msg = read_password_packet(client, ctx)?;
    let server_final = server
        .client_final(&final_msg)
        .map_err(|e| scram_refusal(e, ctx.user))?;
    send(client, |o| {
        messages::auth_sasl_final(o, server_final.as_bytes())
    })
}
