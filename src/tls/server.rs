//! The client-facing TLS context (spec/auth.md §5.1), built once from the `ssl_*` parameters:
//! which failures only warn, which leave pgpool without frontend TLS, the key-file checks, and
//! the optional request for client certificates (`ssl_ca_cert`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use openssl::dh::Dh;
use openssl::pkey::PKey;
use openssl::ssl::{
    SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslSessionCacheMode,
    SslVerifyMode,
};
use openssl::x509::store::X509Lookup;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::X509Name;

use crate::config::Config;
use crate::logger::Severity;
use crate::pglog;

/// The `ssl_*` values the server context reads, paths already resolved.
#[derive(Debug, Clone, Default)]
pub struct ServerParams {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca_cert: Option<PathBuf>,
    pub ca_dir: Option<PathBuf>,
    pub crl_file: Option<PathBuf>,
    pub ciphers: String,
    pub prefer_server_ciphers: bool,
    pub ecdh_curve: String,
    pub dh_params_file: Option<PathBuf>,
    pub passphrase_command: String,
}

impl ServerParams {
    pub fn from_config(cfg: &Config) -> ServerParams {
        let opt = |name: &str| {
            let v = cfg.get_str(name);
            (!v.is_empty()).then(|| v.to_string())
        };
        ServerParams {
            cert: cfg.resolve(cfg.get_str("ssl_cert")),
            key: cfg.resolve(cfg.get_str("ssl_key")),
            ca_cert: opt("ssl_ca_cert").map(|p| cfg.resolve(&p)),
            ca_dir: opt("ssl_ca_cert_dir").map(PathBuf::from),
            crl_file: opt("ssl_crl_file").map(|p| cfg.resolve(&p)),
            ciphers: cfg.get_str("ssl_ciphers").to_string(),
            prefer_server_ciphers: cfg.get_bool("ssl_prefer_server_ciphers"),
            ecdh_curve: cfg.get_str("ssl_ecdh_curve").to_string(),
            dh_params_file: opt("ssl_dh_params_file").map(PathBuf::from),
            passphrase_command: cfg.get_str("ssl_passphrase_command").to_string(),
        }
    }
}

/// Why the context was not built; already logged as pgpool logs it.
struct Disabled;

fn warn(msg: String) -> Disabled {
    pglog!(Severity::Warning, "{}", msg);
    Disabled
}

/// Build the server context. Ok(None): frontend TLS stays off (a WARNING was logged).
/// Err: `ssl_passphrase_command` could not run, which stops pgpool (§5.4).
pub fn build(p: &ServerParams) -> Result<Option<SslContext>, String> {
    match build_inner(p) {
        Ok(ctx) => Ok(Some(ctx)),
        Err(Fail::Disabled) => Ok(None),
        Err(Fail::Fatal(e)) => Err(e),
    }
}

enum Fail {
    Disabled,
    Fatal(String),
}

impl From<Disabled> for Fail {
    fn from(_: Disabled) -> Fail {
        Fail::Disabled
    }
}

fn build_inner(p: &ServerParams) -> Result<SslContext, Fail> {
    let mut b = SslContextBuilder::new(SslMethod::tls_server())
        .map_err(|e| warn(format!("could not create SSL context: {e}")))?;
    b.set_options(SslOptions::NO_SSLV2 | SslOptions::NO_SSLV3 | SslOptions::NO_TICKET);
    b.set_mode(SslMode::ACCEPT_MOVING_WRITE_BUFFER);
    b.set_session_cache_mode(SslSessionCacheMode::OFF);
    let _ = b.set_num_tickets(0);

    b.set_certificate_chain_file(&p.cert).map_err(|e| {
        warn(format!(
            "could not load server certificate file \"{}\": {e}",
            p.cert.display()
        ))
    })?;
    check_key_file(&p.key)?;
    let pem = std::fs::read(&p.key).map_err(|e| {
        warn(format!(
            "could not load private key file \"{}\": {e}",
            p.key.display()
        ))
    })?;
    let encrypted = pem.windows(9).any(|w| w == b"ENCRYPTED");
    let passphrase = if p.passphrase_command.is_empty() {
        Vec::new()
    } else {
        super::passphrase::run(&p.passphrase_command).map_err(Fail::Fatal)?
    };
    let key = PKey::private_key_from_pem_passphrase(&pem, &passphrase).map_err(|e| {
        if encrypted && p.passphrase_command.is_empty() {
            warn(format!(
                "private key file \"{}\" cannot be reloaded because it requires a passphrase",
                p.key.display()
            ))
        } else {
            warn(format!(
                "could not load private key file \"{}\": {e}",
                p.key.display()
            ))
        }
    })?;
    b.set_private_key(&key).map_err(|e| {
        warn(format!(
            "could not load private key file \"{}\": {e}",
            p.key.display()
        ))
    })?;
    b.check_private_key()
        .map_err(|e| warn(format!("check of private key failed: {e}")))?;

    if let Some(dh) = &p.dh_params_file {
        // A broken DH file only warns; ECDHE needs no DH parameters (§16 #10).
        match std::fs::read(dh)
            .map_err(|e| e.to_string())
            .and_then(|pem| Dh::params_from_pem(&pem).map_err(|e| e.to_string()))
        {
            Ok(params) => {
                let _ = b.set_tmp_dh(&params);
            }
            Err(e) => {
                pglog!(
                    Severity::Warning,
                    "could not load DH parameters file: {}",
                    e
                );
            }
        }
    }
    b.set_groups_list(&p.ecdh_curve)
        .map_err(|_| warn(format!("ECDH: unrecognized curve name: {}", p.ecdh_curve)))?;
    // An invalid cipher list disables frontend TLS without a message, as pgpool.
    b.set_cipher_list(&p.ciphers).map_err(|_| Disabled)?;
    if p.prefer_server_ciphers {
        b.set_options(SslOptions::CIPHER_SERVER_PREFERENCE);
    }

    if let Some(ca) = &p.ca_cert {
        let loaded = b.set_ca_file(ca).and_then(|()| {
            if let Some(dir) = &p.ca_dir {
                b.load_verify_locations(None, Some(dir))?;
            }
            X509Name::load_client_ca_file(ca)
        });
        match loaded {
            Ok(names) => {
                b.set_client_ca_list(names);
                // Ask for a certificate, verify one that is presented, do not require it.
                b.set_verify(SslVerifyMode::PEER | SslVerifyMode::CLIENT_ONCE);
            }
            Err(e) => {
                pglog!(
                    Severity::Warning,
                    "could not load root certificate file \"{}\": {}",
                    ca.display(),
                    e
                );
            }
        }
        if let Some(crl) = &p.crl_file {
            let store = b.cert_store_mut();
            let loaded = store
                .add_lookup(X509Lookup::file())
                .and_then(|l| l.load_crl_file(crl, openssl::ssl::SslFiletype::PEM))
                .and_then(|_| {
                    store.set_flags(X509VerifyFlags::CRL_CHECK | X509VerifyFlags::CRL_CHECK_ALL)
                });
            if let Err(e) = loaded {
                return Err(warn(format!(
                    "could not load SSL certificate revocation list file \"{}\": {e}",
                    crl.display()
                ))
                .into());
            }
        }
    }
    Ok(b.build())
}

/// §5.1 step 5: the key file must exist and be a regular file; group or world access only
/// warns (pgpool loads the key anyway, unlike PostgreSQL).
fn check_key_file(key: &Path) -> Result<(), Disabled> {
    let md = std::fs::metadata(key).map_err(|e| {
        warn(format!(
            "could not access private key file \"{}\": {e}",
            key.display()
        ))
    })?;
    if !md.is_file() {
        return Err(warn(format!(
            "private key file \"{}\" is not a regular file",
            key.display()
        )));
    }
    let mode = md.mode();
    let me = nix::unistd::geteuid().as_raw();
    let loose = (md.uid() == me && mode & 0o077 != 0) || (md.uid() == 0 && mode & 0o037 != 0);
    if loose {
        pglog!(
            Severity::Warning,
            "private key file \"{}\" has group or world access",
            key.display()
        );
    }
    Ok(())
}
