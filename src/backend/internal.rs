//! pgpool's own backend connections (the worker's sr_check connections, primary detection, the
//! `pg_role` probe of SHOW pool_nodes; health checks later): a small blocking client that opens
//! a socket to a node (TLS when `ssl = on`, spec/auth.md §12 step 2), sends a startup packet for (user, database), answers trust, clear text,
//! md5 or SCRAM-SHA-256 authentication, and runs simple-protocol queries returning text rows.
//! Also the password resolution pgpool uses for its internal users (spec/failover.md §2.4).

use std::path::Path;
use std::time::Duration;

use crate::auth::passwords::{md5_password_hash, md5_salted, StoredPassword};
use crate::auth::scram::{offers_scram_sha_256, ScramClient, ScramError, SCRAM_SHA_256};
use crate::config::Config;
use crate::logger::Severity;
use crate::pglog;
use crate::protocol::messages::{self, AuthRequest};
use crate::protocol::startup::StartupPacket;
use crate::protocol::{Conn, ProtocolError};

/// Bound for one message from the backend on an internal connection.
const MAX_MESSAGE: usize = 1024 * 1024;

/// Why an internal connection or query failed.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("failed to connect to PostgreSQL server on \"{host}:{port}\": {source}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    /// An ErrorResponse from the server.
    #[error("{message}")]
    Server { code: String, message: String },
    #[error("unsupported authentication method requested by backend: {0}")]
    UnsupportedAuth(i32),
    #[error("SCRAM authentication failed: {0}")]
    Scram(#[from] ScramError),
    #[error("backend does not offer SCRAM-SHA-256")]
    NoScramMechanism,
    #[error("an md5 password can not be used for SCRAM authentication")]
    Md5ForScram,
    #[error("unexpected message kind '{0}' from backend")]
    Unexpected(char),
}

/// The password pgpool sends for an internal user: clear text, or the stored
/// `"md5" + md5hex(password ‖ user)` form (usable against md5 authentication only).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Plain(String),
    Md5(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Secret::Plain(_) => "Plain(..)",
            Secret::Md5(_) => "Md5(..)",
        })
    }
}

/// The password of an internal user (`sr_check_user`, `health_check_user`, ...), resolved as
/// pgpool does: the configured value if non-empty, else the user's pool_passwd entry (none →
/// empty password); `AES…` is decrypted with the pool key (failure → WARNING, empty password),
/// `TEXT…` loses its prefix, `md5…` stays pre-hashed, a SCRAM verifier gives no password.
pub fn resolve_password(
    configured: &str,
    user: &str,
    pool_passwd: Option<&Path>,
    pool_key: Option<&str>,
) -> Secret {
    let stored = if configured.is_empty() {
        pool_passwd
            .and_then(|p| crate::config::files::read_pool_passwd(p).ok())
            .and_then(|entries| {
                crate::config::files::find_user(&entries, user).map(|e| e.password.clone())
            })
            .unwrap_or_default()
    } else {
        configured.to_string()
    };
    match StoredPassword::parse(&stored).decrypted(pool_key) {
        Ok(StoredPassword::Plain(p)) => Secret::Plain(p),
        Ok(StoredPassword::Md5(m)) => Secret::Md5(m),
        Ok(_) => Secret::Plain(String::new()),
        Err(_) => {
            pglog!(
                Severity::Warning,
                detail = "verify the valid pool_key exists";
                "unable to decrypt password from pool_passwd"
            );
            Secret::Plain(String::new())
        }
    }
}

/// `sr_check_user`'s password, database and user from a configuration.
pub fn sr_check_credentials(cfg: &Config) -> (String, String, Secret) {
    let user = cfg.get_str("sr_check_user").to_string();
    let db = match cfg.get_str("sr_check_database") {
        "" => "postgres".to_string(),
        d => d.to_string(),
    };
    let pp = cfg.get_str("pool_passwd");
    let path = (!pp.is_empty()).then(|| cfg.resolve(pp));
    let secret = resolve_password(
        cfg.get_str("sr_check_password"),
        &user,
        path.as_deref(),
        crate::child::settings::pool_key(),
    );
    (user, db, secret)
}

/// One authenticated connection of pgpool's own.
/// How long an internal connection may wait (None = no limit): for the TCP connect, and for
/// each read after it.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub connect: Option<Duration>,
    pub read: Option<Duration>,
}

impl Bounds {
    /// The same bound for the connect and for each read.
    pub fn both(t: Option<Duration>) -> Bounds {
        Bounds {
            connect: t,
            read: t,
        }
    }
}

pub struct InternalConn {
    conn: Conn,
    timeout: Option<Duration>,
}

/// One result row: text values, `None` for NULL.
pub type Row = Vec<Option<String>>;

impl InternalConn {
    /// Connect to `host`:`port` and authenticate as `user` to `database`, within `bounds`.
    pub fn connect(
        host: &str,
        port: u16,
        user: &str,
        database: &str,
        secret: &Secret,
        bounds: Bounds,
    ) -> Result<InternalConn, InternalError> {
        let ms = bounds.connect.map_or(0, |t| t.as_millis().max(1) as u64);
        let fd = super::connect_to(host, port, ms).map_err(|source| InternalError::Connect {
            host: host.to_string(),
            port,
            source,
        })?;
        let timeout = bounds.read;
        let mut c = InternalConn {
            conn: Conn::new(fd),
            timeout,
        };
        crate::tls::connect_backend(&mut c.conn, timeout).map_err(|e| InternalError::Connect {
            host: host.to_string(),
            port,
            source: e.into(),
        })?;
        let pkt = StartupPacket::build(3, 0, &[("user", user), ("database", database)])
            .map_err(|e| InternalError::Protocol(ProtocolError::Violation(e.to_string())))?;
        c.conn
            .write_all(&pkt.raw)
            .map_err(|e| InternalError::Protocol(e.into()))?;
        c.authenticate(user, secret)?;
        Ok(c)
    }

    /// Connect to node `node` of the shared backend table.
    pub fn connect_node(
        sh: &crate::shmem::Shmem,
        node: usize,
        user: &str,
        database: &str,
        secret: &Secret,
        bounds: Bounds,
    ) -> Result<InternalConn, InternalError> {
        let b = sh.backend(node);
        let port = u16::try_from(b.port.load(std::sync::atomic::Ordering::Relaxed)).unwrap_or(0);
        InternalConn::connect(&b.hostname.get(), port, user, database, secret, bounds)
    }

    fn read(&mut self) -> Result<crate::protocol::Message, InternalError> {
        Ok(self.conn.read_message(MAX_MESSAGE, self.timeout)?)
    }

    fn send(&self, build: impl FnOnce(&mut Vec<u8>)) -> Result<(), InternalError> {
        let mut out = Vec::with_capacity(128);
        build(&mut out);
        self.conn
            .write_all(&out)
            .map_err(|e| InternalError::Protocol(e.into()))
    }

    /// Answer authentication requests until ReadyForQuery.
    fn authenticate(&mut self, user: &str, secret: &Secret) -> Result<(), InternalError> {
        let mut scram: Option<ScramClient> = None;
        loop {
            let m = self.read()?;
            match m.tag {
                b'R' => match messages::parse_auth_request(&m.body)? {
                    AuthRequest::Ok => {}
                    AuthRequest::CleartextPassword => {
                        let p = match secret {
                            Secret::Plain(p) | Secret::Md5(p) => p.clone(),
                        };
                        self.send(|o| messages::password_message(o, p.as_bytes()))?;
                    }
                    AuthRequest::Md5Password { salt } => {
                        let form = match secret {
                            Secret::Plain(p) => md5_password_hash(p, user),
                            Secret::Md5(m) => m.clone(),
                        };
                        let answer = md5_salted(&form, salt);
                        self.send(|o| messages::password_message(o, answer.as_bytes()))?;
                    }
                    AuthRequest::Sasl(mechs) => {
                        if !offers_scram_sha_256(&mechs) {
                            return Err(InternalError::NoScramMechanism);
                        }
                        let Secret::Plain(p) = secret else {
                            return Err(InternalError::Md5ForScram);
                        };
                        let client = ScramClient::new(p);
                        let first = client.client_first()?.to_vec();
                        self.send(|o| messages::sasl_initial_response(o, SCRAM_SHA_256, &first))?;
                        scram = Some(client);
                    }
                    AuthRequest::SaslContinue(data) => {
                        let client = scram.as_mut().ok_or(ScramError::OutOfOrder)?;
                        let reply = client.server_first(data)?.to_vec();
                        self.send(|o| messages::sasl_response(o, &reply))?;
                    }
                    AuthRequest::SaslFinal(data) => {
                        scram
                            .as_mut()
                            .ok_or(ScramError::OutOfOrder)?
                            .server_final(data)?;
                    }
                    AuthRequest::Other(code) => return Err(InternalError::UnsupportedAuth(code)),
                },
                b'E' => return Err(server_error(&m.body)),
                b'Z' => return Ok(()),
                // ParameterStatus, BackendKeyData, NoticeResponse
                _ => {}
            }
        }
    }

    /// Run `sql` with the simple protocol; the rows of its (last) result as text.
    pub fn query(&mut self, sql: &str) -> Result<Vec<Row>, InternalError> {
        self.send(|o| messages::query(o, sql))?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let m = self.read()?;
            match m.tag {
                b'T' => rows.clear(),
                b'D' => rows.push(parse_data_row(&m.body)?),
                b'E' => error = Some(server_error(&m.body)),
                b'Z' => break,
                b'C' | b'I' | b'N' | b'S' => {}
                other => return Err(InternalError::Unexpected(other as char)),
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    /// The first column of the first row (`None` for no row or NULL).
    pub fn query_value(&mut self, sql: &str) -> Result<Option<String>, InternalError> {
        Ok(self
            .query(sql)?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten()))
    }
}

impl Drop for InternalConn {
    fn drop(&mut self) {
        let mut out = Vec::with_capacity(5);
        messages::terminate(&mut out);
        let _ = self.conn.write_all(&out);
    }
}

fn server_error(body: &[u8]) -> InternalError {
    match messages::parse_error_fields(body) {
        Ok(f) => InternalError::Server {
            code: f.code.to_string(),
            message: f.message.into_owned(),
        },
        Err(e) => InternalError::Protocol(e),
    }
}

/// A DataRow body: int16 count, then per column an int32 length (−1 = NULL) and the bytes.
pub fn parse_data_row(body: &[u8]) -> Result<Row, InternalError> {
    let bad = || InternalError::Protocol(ProtocolError::Violation("invalid DataRow".into()));
    let n = u16::from_be_bytes(
        body.get(..2)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    let mut rest = &body[2..];
    let mut row = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let len = i32::from_be_bytes(
            rest.get(..4)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        );
        rest = &rest[4..];
        if len < 0 {
            row.push(None);
        } else {
            let v = rest.get(..len as usize).ok_or_else(bad)?;
            row.push(Some(String::from_utf8_lossy(v).into_owned()));
            rest = &rest[len as usize..];
        }
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_rows_parse_with_nulls_and_reject_truncation() {
        let mut b = vec![0, 3];
        b.extend_from_slice(&1i32.to_be_bytes());
        b.push(b't');
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(
            parse_data_row(&b).unwrap(),
            vec![Some("t".to_string()), None, Some(String::new())]
        );
        assert!(parse_data_row(&b[..6]).is_err());
        assert!(parse_data_row(&[0]).is_err());
    }

    #[test]
    fn passwords_resolve_from_config_or_pool_passwd_forms() {
        let dir = tempfile::tempdir().unwrap();
        let pp = dir.path().join("pool_passwd");
        let md5 = md5_password_hash("pw", "u2");
        std::fs::write(
            &pp,
            format!("u1:TEXTsecret\nu2:{md5}\nu3:SCRAM-SHA-256$4096:x$y:z\n"),
        )
        .unwrap();
        let r = |conf: &str, user: &str| resolve_password(conf, user, Some(&pp), None);
        assert_eq!(r("given", "u1"), Secret::Plain("given".into()));
        assert_eq!(r("TEXTgiven", "u1"), Secret::Plain("given".into()));
        assert_eq!(r("", "u1"), Secret::Plain("secret".into()));
        assert_eq!(r("", "u2"), Secret::Md5(md5.clone()));
        assert_eq!(r("", "u3"), Secret::Plain(String::new()));
        assert_eq!(r("", "nobody"), Secret::Plain(String::new()));
        // AES without a key: no password
        assert_eq!(r("AESxxxx", "u1"), Secret::Plain(String::new()));
        let enc = crate::auth::passwords::aes_encrypt("hidden", "key");
        assert_eq!(
            resolve_password(&format!("AES{enc}"), "u1", None, Some("key")),
            Secret::Plain("hidden".into())
        );
    }
}
