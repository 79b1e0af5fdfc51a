//! pgpool's ClientAuthentication (spec/auth.md §6.3, §8): the matched rule's pre-check and
//! exchange with the client, before any backend is contacted. Nothing here sends
//! AuthenticationOk: that comes from the backend phase (`session_auth`) or re-authentication.

use crate::logger::Severity;
use crate::protocol::pgerror::{sqlstate, PgError};
use crate::protocol::Conn;

use super::super::error::{AuthContext, AuthError};
use super::super::frontend::{
    aes_failure, ask_clear_text, md5_challenge, scram_exchange, verify_clear_text,
};
use super::super::passwords::StoredPassword;
use super::matching::{find_rule, ClientInfo};
use super::parse::{HbaRule, Method};

/// What the hba phase leaves for the backend phase and re-authentication (§8 table).
#[derive(Clone, PartialEq, Eq)]
pub struct FrontendAuth {
    pub method: Method,
    /// pgpool itself verified the client (trust, md5, scram, cert, password with an entry).
    pub authenticated: bool,
    /// The client's clear-text password, when pgpool received one (password method).
    pub password: Option<String>,
}

impl std::fmt::Debug for FrontendAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontendAuth")
            .field("method", &self.method)
            .field("authenticated", &self.authenticated)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .finish()
    }
}

/// What the hba phase knows about the connection besides the `AuthContext`.
#[derive(Debug, Clone)]
pub struct HbaConn<'a> {
    pub info: ClientInfo<'a>,
    /// The CN of the client's TLS certificate (filled by the TLS layer).
    pub client_cert_cn: Option<&'a str>,
    /// Number of configured backends (the md5 pre-check is skipped with exactly one).
    pub num_backends: usize,
}

fn fatal(message: &str, detail: impl Into<String>, hint: Option<&str>) -> AuthError {
    let mut e = PgError::fatal(sqlstate::INTERNAL_ERROR, message).with_detail(detail);
    if let Some(h) = hint {
        e = e.with_hint(h);
    }
    AuthError::Refused(e)
}

/// The FATAL of an implicit reject or a `reject` rule.
fn no_entry(conn: &HbaConn) -> AuthError {
    let host = conn
        .info
        .addr
        .map_or_else(|| "[local]".to_string(), |a| a.to_string());
    fatal(
        "client authentication failed",
        format!(
            "no pool_hba.conf entry for host \"{host}\", user \"{}\", database \"{}\", SSL {}",
            conn.info.user,
            conn.info.database,
            if conn.info.tls { "on" } else { "off" }
        ),
        Some("see pgpool log for details"),
    )
}

/// Run pool_hba client authentication. `rules` is `None` when pool_hba.conf is missing or
/// broken. Sends the method's challenge messages; on success nothing else.
pub fn client_authentication(
    client: &mut Conn,
    ctx: &AuthContext,
    conn: &HbaConn,
    rules: Option<&[HbaRule]>,
) -> Result<FrontendAuth, AuthError> {
    let Some(rules) = rules else {
        return Err(fatal(
            "client authentication failed",
            "missing or erroneous pool_hba.conf file",
            Some("see pgpool log for details"),
        ));
    };
    let Some(rule) = find_rule(rules, &conn.info) else {
        return Err(no_entry(conn));
    };
    let done = |authenticated: bool, password: Option<String>| FrontendAuth {
        method: rule.method,
        authenticated,
        password,
    };
    let entry = ctx.pool_passwd.map(StoredPassword::parse);
    match rule.method {
        Method::Reject => Err(no_entry(conn)),
        Method::Trust => Ok(done(true, None)),
        Method::Md5 => {
            const FAILED: &str = "md5 authentication failed";
            let missing = || {
                fatal(
                    FAILED,
                    format!(
                        "pool_passwd file does not contain an entry for \"{}\"",
                        ctx.user
                    ),
                    None,
                )
            };
            if conn.num_backends > 1 {
                match &entry {
                    None => return Err(missing()),
                    Some(StoredPassword::Scram(_)) => {
                        return Err(fatal(
                            FAILED,
                            format!(
                                "pool_passwd file does not contain valid md5 entry for \"{}\"",
                                ctx.user
                            ),
                            None,
                        ))
                    }
                    Some(_) => {}
                }
            }
            let stored = entry
                .ok_or_else(missing)?
                .decrypted(ctx.pool_key)
                .map_err(|_| aes_failure(FAILED))?;
            let md5_form = stored.md5_form(ctx.user).ok_or_else(|| {
                fatal(
                    FAILED,
                    format!("unable to get the password for \"{}\"", ctx.user),
                    None,
                )
            })?;
            md5_challenge(client, ctx, &md5_form)?;
            Ok(done(true, None))
        }
        Method::ScramSha256 => {
            const FAILED: &str = "SCRAM authentication failed";
            let stored = entry.ok_or_else(|| {
                fatal(
                    FAILED,
                    format!(
                        "pool_passwd file does not contain an entry for \"{}\"",
                        ctx.user
                    ),
                    None,
                )
            })?;
            if matches!(stored, StoredPassword::Md5(_)) {
                return Err(fatal(
                    FAILED,
                    format!(
                        "pool_passwd file does not contain valid SCRAM entry for \"{}\"",
                        ctx.user
                    ),
                    None,
                ));
            }
            match stored.decrypted(ctx.pool_key) {
                Ok(StoredPassword::Plain(p)) => {
                    scram_exchange(client, ctx, &p)?;
                    Ok(done(true, None))
                }
                Ok(_) => Err(AuthError::refused(
                    FAILED,
                    format!("username \"{}\" has invalid password type", ctx.user),
                )),
                Err(_) => Err(aes_failure(FAILED)),
            }
        }
        Method::Password => {
            let given = ask_clear_text(client, ctx)?;
            match &entry {
                // §8.5 step 3: not verified here; the backends will (spec §16 #2).
                None => Ok(done(false, Some(given))),
                Some(e) => {
                    verify_clear_text(&given, e, ctx)?;
                    Ok(done(true, Some(given)))
                }
            }
        }
        Method::Cert => {
            let cn = conn.client_cert_cn.filter(|_| conn.info.tls);
            match cn {
                Some(cn) if cn.eq_ignore_ascii_case(ctx.user) => {
                    crate::pglog!(
                        Severity::Log,
                        "SSL certificate authentication for user \"{}\" with Pgpool-II is successful",
                        ctx.user
                    );
                    Ok(done(true, None))
                }
                other => {
                    if other.is_some() {
                        crate::pglog!(
                            Severity::Log,
                            "SSL certificate authentication for user \"{}\" failed",
                            ctx.user
                        );
                    }
                    Err(AuthError::refused(
                        "CERT authentication failed",
                        "no valid certificate presented",
                    ))
                }
            }
        }
        Method::Pam => {
            let service = rule
                .options
                .pamservice
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or("pgpool");
            super::pam::pam_authenticate_client(client, ctx, service)?;
            // §8.6: success neither verifies the client for pgpool nor keeps the password.
            Ok(done(false, None))
        }
        Method::Ldap => {
            match super::ldap::ldap_authenticate_client(client, ctx, &rule.options)? {
                // §8.8 step 5, 9: not "verified by pgpool"; the password is kept only with
                // backend_use_passwd=1.
                Ok(password) => Ok(done(
                    false,
                    rule.options.backend_use_passwd.then_some(password),
                )),
                Err(_) => Err(fatal(
                    "client authentication failed",
                    format!(
                        "LDAP authentication with pgpool failed for user \"{}\"",
                        ctx.user
                    ),
                    Some("see pgpool log for details"),
                )),
            }
        }
    }
}
