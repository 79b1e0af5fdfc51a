//! Re-authentication of a client that is handed a *pooled* backend connection (spec/auth.md
//! §11, architecture.md §3.6 "Re-used pooled connection"), after the pool_hba phase if any.
//! No backend is contacted: pgpool challenges the client itself, using the method recorded
//! when the pooled connection was first authenticated and the pool_passwd entry.
//!
//! Security rule (the class of pgpool's 2025 authentication-bypass CVE): when the original
//! backend authentication needed a password, the client is only let through after a
//! successful check: against material pgpool holds, or (clear-text backends after `pam` /
//! `ldap`, spec §11) by PAM or LDAP in this connection's pool_hba phase, with the recorded
//! password still matching the entry. If nothing was recorded, it fails closed.

use crate::protocol::Conn;

use super::error::{AuthContext, AuthError, AuthKind, AuthOutcome};
use super::frontend::{
    aes_failure, ask_clear_text, md5_challenge, scram_exchange, verify_clear_text,
};
use super::hba::Method;
use super::passwords::{constant_time_eq, md5_password_hash, StoredPassword};

/// Re-authenticate `client` for a pooled connection whose first authentication produced
/// `remembered`.
///
/// What is sent to the client:
/// * `Trust`: nothing.
/// * `ClearText`: AuthenticationCleartextPassword when pgpool may ask (pool_hba off, a
///   `password` rule, or allow_clear_text_frontend_auth) and holds no clear text from the
///   pool_hba phase; the answer must match the pool_passwd entry (if any). The password found
///   (entry, else the client's) must equal the one the backends accepted (a different length is
///   reported as "password size does not match", as pgpool does). After `pam`/`ldap` nothing
///   is asked: the entry (or, without one, the recorded password) is what is compared.
/// * `Md5`: AuthenticationMD5Password with a fresh salt, checked against the pool_passwd entry
///   or, without one, the clear text the backends accepted.
/// * `Scram`: the SCRAM server exchange up to AuthenticationSASLFinal, same password sources.
///
/// It never sends AuthenticationOk: on `Ok(())` the caller sends AuthenticationOk,
/// BackendKeyData (main node), the remembered ParameterStatus messages and ReadyForQuery.
/// On `Err` nothing has been granted; send `AuthError::client_error()` and close.
pub fn reauthenticate(
    client: &mut Conn,
    ctx: &AuthContext,
    remembered: &AuthOutcome,
) -> Result<(), AuthError> {
    let entry = ctx.pool_passwd.map(StoredPassword::parse);
    if ctx.frontend.is_some_and(|f| f.authenticated) {
        // §11 step 2: the pool_hba phase already verified this client.
        return Ok(());
    }
    match remembered.kind {
        AuthKind::Trust => Ok(()),
        AuthKind::ClearText => {
            const FAILED: &str = "clear text password authentication failed";
            // Fail closed: without the password the backends accepted there is nothing to
            // compare with.
            let recorded = remembered.client_password.as_deref().ok_or_else(|| {
                AuthError::refused(FAILED, "no password recorded for the pooled connection")
            })?;
            let from_entry = |e: &StoredPassword| match e.decrypted(ctx.pool_key) {
                Ok(StoredPassword::Plain(p)) => Ok(p),
                Ok(_) => Err(AuthError::refused(FAILED, "unable to get the password")),
                Err(_) => Err(aes_failure(FAILED)),
            };
            // §11, clear-text row: the entry, else the client's clear text from the pool_hba
            // phase; without either (or without the client's password) the client is asked
            // when pgpool may ask (pool_hba off, a `password` rule, or
            // allow_clear_text_frontend_auth) ...
            let found = match (&entry, hba_clear_text(ctx)) {
                (None, Some(given)) => given,
                (Some(e), Some(_)) => from_entry(e)?,
                (_, None) if may_ask_clear_text(ctx) => {
                    let given = ask_clear_text(client, ctx)?;
                    match &entry {
                        Some(e) => {
                            verify_clear_text(&given, e, ctx)?;
                            from_entry(e)?
                        }
                        None => given,
                    }
                }
                // ... otherwise (after pam, ldap: they checked this client already) the
                // password found, the entry or the recorded one, is compared [FAITHFUL].
                (Some(e), None) if checked_by_pam_or_ldap(ctx) => from_entry(e)?,
                (None, None) if checked_by_pam_or_ldap(ctx) => recorded.to_string(),
                // (no other pool_hba method leaves the client unverified without its password)
                _ => return Err(AuthError::refused(FAILED, "unable to get the password")),
            };
            // pgpool compares the lengths first, with its own detail (pool_auth.c, reauth)
            if found.len() != recorded.len() {
                Err(AuthError::refused(FAILED, "password size does not match"))
            } else if constant_time_eq(found.as_bytes(), recorded.as_bytes()) {
                Ok(())
            } else {
                Err(AuthError::refused(FAILED, "password does not match"))
            }
        }
        AuthKind::Md5 | AuthKind::Scram if hba_clear_text(ctx).is_some() => {
            // The pool_hba phase of this connection already took the client's clear text
            // (`password` rule without an entry, ldap with backend_use_passwd): it is checked
            // against the same source instead of challenging the client a second time, which
            // clients such as the Rust `postgres` crate do not accept.
            let given = hba_clear_text(ctx).unwrap_or_default();
            let failed = if remembered.kind == AuthKind::Md5 {
                "md5 authentication failed"
            } else {
                "SCRAM authentication failed"
            };
            let ok = match password_source(ctx, entry, remembered, failed)? {
                StoredPassword::Plain(p) => constant_time_eq(p.as_bytes(), given.as_bytes()),
                StoredPassword::Md5(m) => {
                    constant_time_eq(md5_password_hash(&given, ctx.user).as_bytes(), m.as_bytes())
                }
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(AuthError::refused(failed, "password does not match"))
            }
        }
        AuthKind::Md5 => {
            let source = password_source(ctx, entry, remembered, "md5 authentication failed")?;
            let md5_form = source.md5_form(ctx.user).ok_or_else(|| {
                AuthError::refused(
                    "md5 authentication failed",
                    format!("unable to get the password for \"{}\"", ctx.user),
                )
            })?;
            md5_challenge(client, ctx, &md5_form)
        }
        AuthKind::Scram => {
            let source = password_source(ctx, entry, remembered, "SCRAM authentication failed")?;
            match source {
                StoredPassword::Plain(p) => scram_exchange(client, ctx, &p),
                _ => Err(AuthError::refused(
                    "SCRAM authentication failed",
                    format!("username \"{}\" has invalid password type", ctx.user),
                )),
            }
        }
    }
}

/// The client's clear text from the pool_hba phase, if pgpool received one.
fn hba_clear_text(ctx: &AuthContext) -> Option<String> {
    ctx.frontend.and_then(|f| f.password.clone())
}

/// Whether pgpool may ask the client for its clear-text password (§9.4 step 2, §11): with
/// pool_hba off, after a `password` rule, or with allow_clear_text_frontend_auth.
fn may_ask_clear_text(ctx: &AuthContext) -> bool {
    ctx.allow_clear_text_frontend_auth || ctx.frontend.is_none_or(|f| f.method == Method::Password)
}

/// Whether PAM or LDAP checked the client in this connection's pool_hba phase.
fn checked_by_pam_or_ldap(ctx: &AuthContext) -> bool {
    ctx.frontend
        .is_some_and(|f| matches!(f.method, Method::Pam | Method::Ldap))
}

/// The pool_passwd entry (AES decrypted), else the clear text the backends accepted; neither
/// is FATAL as in pgpool ("pool_passwd file does not contain an entry").
fn password_source(
    ctx: &AuthContext,
    entry: Option<StoredPassword>,
    remembered: &AuthOutcome,
    failed: &str,
) -> Result<StoredPassword, AuthError> {
    match (entry, &remembered.client_password) {
        (Some(e), _) => e.decrypted(ctx.pool_key).map_err(|_| aes_failure(failed)),
        (None, Some(p)) => Ok(StoredPassword::Plain(p.clone())),
        (None, None) => Err(AuthError::fatal(
            failed,
            format!(
                "pool_passwd file does not contain an entry for \"{}\"",
                ctx.user
            ),
        )),
    }
}
