//! TLS on pgpool's sockets (spec/auth.md §5, §13): the settings read once in the main process
//! (`init`), the client-facing server context built from the `ssl_*` parameters (`server`), the
//! SSLRequest exchanges on both sides (`negotiate`), and the encrypted stream a `Conn` switches
//! to (`stream`). OpenSSL through the `openssl` crate, so every `ssl_*` value keeps the meaning
//! it has in pgpool.

use std::path::PathBuf;
use std::sync::OnceLock;

use openssl::ssl::SslContext;

use crate::config::Config;

pub mod negotiate;
pub mod passphrase;
pub mod server;
pub mod stream;

pub use negotiate::{accept_client, connect_backend, BackendTlsError, FrontendTlsError};
pub use stream::TlsStream;

/// What every process needs to know about TLS; fixed at start-up (all `ssl_*` are start-only).
pub struct TlsSettings {
    /// `ssl`: one switch for both directions.
    pub enabled: bool,
    /// The client-facing context; None when `ssl` is off or building it failed (§5.1): every
    /// SSLRequest is then answered `N`.
    pub server: Option<SslContext>,
    /// `ssl_ca_cert` resolved against pgpool.conf's directory (backend verification).
    pub ca_cert: Option<PathBuf>,
    /// `ssl_ca_cert_dir`, as given.
    pub ca_dir: Option<PathBuf>,
}

static SETTINGS: OnceLock<TlsSettings> = OnceLock::new();

static OFF: TlsSettings = TlsSettings {
    enabled: false,
    server: None,
    ca_cert: None,
    ca_dir: None,
};

/// Read the `ssl_*` parameters and build the server context, once, in the main process before
/// the first fork (children inherit it). Err only for a failing `ssl_passphrase_command`,
/// which stops pgpool (§5.4); every other problem logs a WARNING and leaves frontend TLS off.
pub fn init(cfg: &Config) -> Result<(), String> {
    let s = settings_from(cfg)?;
    let _ = SETTINGS.set(s);
    Ok(())
}

/// The settings built by `init` (TLS off if `init` never ran, e.g. in unit tests).
pub fn settings() -> &'static TlsSettings {
    SETTINGS.get().unwrap_or(&OFF)
}

/// Build the settings without installing them (tests build their own).
pub fn settings_from(cfg: &Config) -> Result<TlsSettings, String> {
    let enabled = cfg.get_bool("ssl");
    let non_empty = |name: &str| {
        let v = cfg.get_str(name);
        (!v.is_empty()).then(|| v.to_string())
    };
    let ca_cert = non_empty("ssl_ca_cert").map(|p| cfg.resolve(&p));
    let ca_dir = non_empty("ssl_ca_cert_dir").map(PathBuf::from);
    let server = if enabled {
        server::build(&server::ServerParams::from_config(cfg))?
    } else {
        None
    };
    Ok(TlsSettings {
        enabled,
        server,
        ca_cert,
        ca_dir,
    })
}
