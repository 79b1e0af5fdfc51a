//! From an accepted socket to a ready session (spec/architecture.md §3.5, §3.6): the startup
//! packet (answering SSLRequest through `tls`, GSSENCRequest with `N`, handing CancelRequest to `cancel`),
//! then either a pooled slot with the client re-authenticated, or new backend connections with
//! pgpool's authentication exchange, ParameterStatus and BackendKeyData.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::auth::hba::FrontendAuth;
use crate::auth::{AuthContext, AuthOutcome};
use crate::logger::Severity;
use crate::pglog;
use crate::pool::{BackendConn, Slot};
use crate::protocol::messages;
use crate::protocol::pgerror::PgError;
use crate::protocol::startup::{read_first_packet, FirstPacket, StartupError, StartupPacket};
use crate::protocol::Conn;
use crate::protocol::ProtocolError;
use crate::shmem::{now, BackendStatus};

use super::{cancel, send_error, Child, Peer};

/// Longest message accepted while setting a session up.
const MAX_SETUP_MESSAGE: usize = 1 << 20;

/// What the first packets of a connection came to.
pub enum Opening {
    Startup(StartupPacket),
    /// A CancelRequest, forwarded: no session, and it does not count as one.
    Cancel,
    /// Finished without a session (error already sent, client gone).
    Ended,
}

/// Read the client's startup packet, after TLS negotiation.
pub fn read_startup(child: &mut Child, client: &mut Conn) -> Opening {
    let timeout = (child.settings.authentication_timeout > 0)
        .then(|| Duration::from_secs(child.settings.authentication_timeout as u64));
    loop {
        match read_first_packet(client, timeout) {
            Ok(FirstPacket::Startup(sp)) => return Opening::Startup(sp),
            Ok(FirstPacket::SslRequest) => {
                if crate::tls::accept_client(client, timeout).is_err() {
                    return Opening::Ended;
                }
            }
            Ok(FirstPacket::GssEncRequest) => {
                if client.write_all(b"N").is_err() {
                    return Opening::Ended;
                }
            }
            Ok(FirstPacket::Cancel { pid, key }) => {
                cancel::forward(child, pid as i32, key as i32);
                return Opening::Cancel;
            }
            Err(StartupError::Io(ProtocolError::Timeout)) => {
                pglog!(Severity::Log, "authentication timeout");
                return Opening::Ended;
            }
            Err(e) if e.is_client_eof() => return Opening::Ended,
            // fast or immediate shutdown: the child just goes, as pgpool's does
            Err(_) if crate::protocol::conn::waits_cut() => return Opening::Ended,
            Err(e) => {
                crate::protocol::startup::log_startup_error(&e);
                send_error(client, &e.to_pg_error());
                return Opening::Ended;
            }
        }
    }
}

/// Attach a backend connection set to the session `sp` asks for. Some(pool slot) when the
/// client is ready for the session loop; None when the connection is finished (error already
/// sent, client gone). The bool is true when the backend connections are new (their first
/// ReadyForQuery is still to be relayed).
pub fn open_session(
    child: &mut Child,
    client: &mut Conn,
    peer: &Peer,
    sp: &StartupPacket,
) -> Option<(usize, bool)> {
    // (the main node id keeps naming the last node failed over when none is left)
    let any_valid = (0..child.sh.num_backends()).any(|n| child.snapshot.is_valid(n));
    if child.snapshot.main_node.is_none() || !any_valid {
        let e = PgError::fatal("08S01", "pgpool is not accepting any new connections")
            .with_detail("all backend nodes are down, pgpool requires at least one valid node")
            .with_hint("repair the backend nodes and restart pgpool");
        crate::session::log_report(&e);
        send_error(client, &e);
        return None;
    }
    let stored_password = match &child.settings.pool_passwd {
        Some(path) => child.pool_passwd.lookup(path, &sp.user),
        None => None,
    };
    let frontend = if child.settings.enable_pool_hba {
        let ctx = auth_context(child, &sp.user, stored_password.as_deref(), None);
        match super::client_auth::pool_hba(child, client, peer, sp, &ctx) {
            Some(f) => Some(f),
            None => return None,
        }
    } else {
        None
    };
    let frontend = frontend.as_ref();
    let nodes = session_nodes(child);
    if let Some(idx) = child.pool.find(child.sh, sp, &nodes) {
        if reuse(child, client, idx, sp, stored_password.as_deref(), frontend) {
            return Some((idx, false));
        }
        child.pool.release(child.sh, idx);
        return None;
    }
    let idx = child.pool.take_free(child.sh);
    match new_connection(child, client, idx, sp, stored_password.as_deref(), frontend) {
        Ok(()) => Some((idx, true)),
        Err(e) => {
            if let Some(e) = e {
                crate::session::log_report(&e);
                send_error(client, &e);
            }
            child.pool.discard(child.sh, idx);
            None
        }
    }
}

/// The authentication inputs of one session.
fn auth_context<'a>(
    child: &'a Child,
    user: &'a str,
    stored: Option<&'a str>,
    frontend: Option<&'a FrontendAuth>,
) -> AuthContext<'a> {
    AuthContext {
        frontend,
        user,
        pool_passwd: stored,
        pool_key: super::settings::pool_key(),
        allow_clear_text_frontend_auth: child.settings.allow_clear_text_frontend_auth,
        timeout: None,
    }
}

/// Mark the slot's shared rows as used by a client now.
fn mark_connected(child: &Child, idx: usize) {
    let t = now();
    for (n, b) in child.pool.slots[idx].backends.iter().enumerate() {
        if b.is_some() {
            let ci = child.sh.connection(child.slot, idx, n);
            ci.connected.store(true, Relaxed);
            ci.client_connection_time.store(t, Relaxed);
            ci.client_idle_duration.store(0, Relaxed);
        }
    }
}

/// Hand a pooled slot to a new client after checking the client's password again.
fn reuse(
    child: &mut Child,
    client: &mut Conn,
    idx: usize,
    sp: &StartupPacket,
    stored: Option<&str>,
    frontend: Option<&FrontendAuth>,
) -> bool {
    let main = child.snapshot.main_node.unwrap_or(0);
    let slot = &child.pool.slots[idx];
    let Some(auth) = slot.auth.as_ref() else {
        return false;
    };
    let ctx = auth_context(child, &sp.user, stored, frontend);
    if let Err(e) = crate::auth::reauth::reauthenticate(client, &ctx, auth) {
        if let Some(pe) = e.client_error() {
            crate::session::log_report(&pe);
            send_error(client, &pe);
        }
        return false;
    }
    let Some(b) = slot.backends.get(main).and_then(|b| b.as_ref()) else {
        return false;
    };
    let mut out = Vec::with_capacity(512);
    messages::auth_ok(&mut out);
    messages::backend_key_data(&mut out, b.pid as u32, b.key as u32);
    for (k, v) in &b.params {
        messages::parameter_status(&mut out, k, v);
    }
    messages::ready_for_query(&mut out, b.tx);
    if client.write_all(&out).is_err() {
        return false;
    }
    mark_connected(child, idx);
    true
}

/// The nodes a new session connects to: the main node in raw mode, every valid node otherwise.
pub fn session_nodes(child: &Child) -> Vec<usize> {
    if child.settings.raw_mode {
        return child.snapshot.main_node.into_iter().collect();
    }
    (0..child.snapshot.status.len())
        .filter(|&n| child.snapshot.is_valid(n))
        .collect()
}

/// Connect to every node of `session_nodes`. A node that cannot be reached is detached when
/// `failover_on_backend_error` is on (a NODE_DOWN request to the main process): this session
/// fails with FATAL, later ones use the new topology. With it off, a standby that cannot be
/// reached is left out of this session only; the main node or primary ends the session.
fn connect_nodes(child: &mut Child) -> Result<Vec<(usize, Conn)>, PgError> {
    let nodes = session_nodes(child);
    if nodes.is_empty() {
        return Err(PgError::fatal(
            "XX000",
            "all backend nodes are down, pgpool requires at least one valid node",
        ));
    }
    let mut conns = Vec::with_capacity(nodes.len());
    for node in nodes {
        match crate::backend::connect_conn(child.sh, node, child.settings.connect_timeout_ms) {
            Ok(c) => conns.push((node, c)),
            Err(e) => {
                let info = child.sh.backend(node);
                crate::backend::log_connect_failure(
                    &info.hostname.get(),
                    info.port.load(Relaxed),
                    &e,
                );
                let failed = |detail: &str| {
                    PgError::fatal(
                        "XX000",
                        format!("failed to create a backend {node} connection"),
                    )
                    .with_detail(detail.to_string())
                };
                if child.settings.failover_on_backend_error {
                    // request the detach (the main process carries it out) and end this
                    // session; later sessions use the new topology
                    crate::failover::request::notice_backend_error(node);
                    return Err(failed("executing failover on backend"));
                }
                if child.settings.raw_mode {
                    return Err(failed(
                        "not executing failover because failover_on_backend_error is off",
                    ));
                }
                let essential = Some(node) == child.snapshot.main_node
                    || Some(node) == child.snapshot.primary_node;
                if essential {
                    return Err(failed(
                        "not executing failover because failover_on_backend_error is off",
                    ));
                }
                // failover off: this session goes on without the standby
                pglog!(
                    Severity::Log,
                    detail = "skip this backend because because failover_on_backend_error is off and we are in streaming replication mode and node is standby node";
                    "failed to create a backend {} connection",
                    node
                );
                continue;
            }
        }
    }
    Ok(conns)
}

/// Open new backend connections for slot `idx`, authenticate, and relay the start of the
/// session to the client (up to and including BackendKeyData).
fn new_connection(
    child: &mut Child,
    client: &mut Conn,
    idx: usize,
    sp: &StartupPacket,
    stored: Option<&str>,
    frontend: Option<&FrontendAuth>,
) -> Result<(), Option<PgError>> {
    let mut conns = connect_nodes(child).map_err(Some)?;
    let main_node = child.snapshot.main_node.unwrap_or(conns[0].0);
    let main = conns.iter().position(|(n, _)| *n == main_node).unwrap_or(0);
    for (_, conn) in &conns {
        if conn.write_all(&sp.raw).is_err() {
            return Err(Some(PgError::fatal(
                "XX000",
                "unable to forward message to backend",
            )));
        }
    }
    let outcome: AuthOutcome = {
        let ctx = auth_context(child, &sp.user, stored, frontend);
        let mut backs: Vec<&mut Conn> = conns.iter_mut().map(|(_, c)| c).collect();
        // the caller logs the error and sends it to the client
        crate::auth::session_auth::authenticate_new_session(client, &mut backs, main, &ctx)
            .map_err(|e| e.client_error())?
    };
    // ParameterStatus and notices until BackendKeyData, from every node; the client sees the
    // main node's.
    let mut backends: Vec<Option<BackendConn>> =
        (0..child.sh.num_backends()).map(|_| None).collect();
    for (i, (node, mut conn)) in conns.into_iter().enumerate() {
        let (params, pid, key) = read_session_start(client, &mut conn, i == main)?;
        if !conn.is_tls() {
            // a reply awaited longer than this ends a blocking read: the client is probed
            crate::protocol::conn::set_read_timeout(
                conn.fd(),
                Some(crate::session::PROBE_INTERVAL),
            );
        }
        backends[node] = Some(BackendConn {
            conn,
            pid,
            key,
            params,
            tx: b'I',
            pending: 0,
            unsynced: false,
            reset_owed: Vec::new(),
            touched: false,
            server_fatal: false,
        });
    }
    // the client gets the last connected node's pid/key, as from pgpool (the cancel search
    // looks at every node's)
    if let Some(b) = backends.iter().rev().flatten().next() {
        let mut out = Vec::with_capacity(16);
        messages::backend_key_data(&mut out, b.pid as u32, b.key as u32);
        if client.write_all(&out).is_err() {
            return Err(None);
        }
    }
    let t = now();
    for (node, b) in backends.iter().enumerate() {
        let Some(b) = b else { continue };
        let ci = child.sh.connection(child.slot, idx, node);
        ci.clear();
        ci.database.set(&sp.database);
        ci.user.set(&sp.user);
        ci.major.store(i32::from(sp.major), Relaxed);
        ci.minor.store(i32::from(sp.minor), Relaxed);
        ci.pid.store(b.pid, Relaxed);
        ci.key.store(b.key, Relaxed);
        ci.swallow_termination.store(false, Relaxed);
        ci.counter.store(1, Relaxed);
        ci.create_time.store(t, Relaxed);
        ci.load_balancing_node.store(main_node as i32, Relaxed);
        let info = child.sh.backend(node);
        if info.status() == BackendStatus::ConnectWait {
            info.set_status(BackendStatus::Up);
        }
    }
    child.pool.slots[idx] = Slot {
        startup: Some(sp.clone()),
        backends,
        auth: Some(outcome),
        closetime: 0,
        create_time: t,
    };
    mark_connected(child, idx);
    Ok(())
}

/// ParameterStatus values, backend pid and cancel key of a new connection.
type SessionStart = (Vec<(String, String)>, i32, i32);

/// After AuthenticationOk: ParameterStatus and notices until BackendKeyData. The main node's
/// messages are relayed to the client; an ErrorResponse from any node is.
fn read_session_start(
    client: &mut Conn,
    conn: &mut Conn,
    relay: bool,
) -> Result<SessionStart, Option<PgError>> {
    let mut params = Vec::new();
    loop {
        let m = conn
            .read_message(MAX_SETUP_MESSAGE, Some(Duration::from_secs(60)))
            .map_err(|e| {
                Some(
                    PgError::fatal("XX000", "unable to read message from backend")
                        .with_detail(e.to_string()),
                )
            })?;
        match m.tag {
            b'S' => {
                if let Ok((k, v)) = messages::parse_parameter_status(&m.body) {
                    params.push((k.into_owned(), v.into_owned()));
                }
                if relay {
                    let _ = client.write_message(m.tag, &m.body);
                }
            }
            b'N' => {
                if relay {
                    let _ = client.write_message(m.tag, &m.body);
                }
            }
            b'E' => {
                // `database "x" does not exist` and the like (spec/auth.md §9.8)
                let text = messages::parse_error_fields(&m.body)
                    .map(|f| f.message.into_owned())
                    .unwrap_or_default();
                pglog!(Severity::Log, detail = &text; "backend throws an error message");
                let _ = client.write_message(m.tag, &m.body);
                // then pgpool's own ERROR, logged and sent by the caller (4.6's words)
                return Err(Some(
                    PgError::internal("authentication failed, backend node replied with an error")
                        .with_detail(format!("SERVER ERROR:\"{text}\"")),
                ));
            }
            b'K' => {
                return match messages::parse_backend_key_data(&m.body) {
                    Ok((pid, key)) => Ok((params, pid as i32, key as i32)),
                    Err(_) => Err(Some(PgError::fatal(
                        "08P01",
                        "invalid BackendKeyData message from backend",
                    ))),
                }
            }
            other => {
                return Err(Some(PgError::fatal(
                    "08P01",
                    format!(
                        "unexpected message kind \"{}\" from backend during session start",
                        other as char
                    ),
                )))
            }
        }
    }
}
