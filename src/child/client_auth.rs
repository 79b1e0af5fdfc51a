//! The pool_hba phase of a new client inside a child (spec/auth.md §2 step 1, §6.3): build what
//! the matcher needs from the peer, the startup packet and the TLS facts, run
//! `auth::hba::client_authentication`, and on failure send pgpool's error and log it as pgpool
//! does (`FATAL:  client authentication failed` / DETAIL / HINT, `ERROR:  md5 authentication
//! failed` / DETAIL).

use crate::auth::hba::{client_authentication, ClientInfo, FrontendAuth, HbaConn};
use crate::auth::AuthContext;
use crate::protocol::startup::StartupPacket;
use crate::protocol::Conn;

use super::{send_error, Child, Peer};

/// Authenticate the client against pool_hba.conf. `None` when the connection is finished (the
/// error has been sent, or the client left).
pub fn pool_hba(
    child: &Child,
    client: &mut Conn,
    peer: &Peer,
    sp: &StartupPacket,
    ctx: &AuthContext,
) -> Option<FrontendAuth> {
    // the TLS facts of the handshake (hostssl/hostnossl, the `cert` method)
    let cert_cn = client.peer_cert_cn().map(str::to_owned);
    let conn = HbaConn {
        info: ClientInfo {
            addr: peer.host.parse().ok(),
            tls: client.is_tls(),
            user: &sp.user,
            database: &sp.database,
        },
        client_cert_cn: cert_cn.as_deref(),
        num_backends: child.sh.num_backends(),
    };
    let rules = crate::auth::hba::rules();
    match client_authentication(client, ctx, &conn, rules.as_deref().map(|r| r.as_slice())) {
        Ok(f) => Some(f),
        Err(e) => {
            if let Some(pe) = e.client_error() {
                // with the severity, DETAIL and HINT the client gets (spec/auth.md §6.3, §15)
                crate::session::log_report(&pe);
                send_error(client, &pe);
            }
            None
        }
    }
}
