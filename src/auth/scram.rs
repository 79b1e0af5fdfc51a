//! SCRAM-SHA-256 arithmetic and message parsing on both sides (spec/auth.md §14.3, §14.4):
//! `ScramServer` authenticates a client against a clear-text password (verifier rebuilt per
//! login: 16 random salt bytes, 4096 iterations), `ScramClient` authenticates pgpool to a
//! backend (postgres-protocol's client, gs2 header `n,,`). No socket I/O here.
//!
//! Beyond pgpool: over TLS the server side also offers `SCRAM-SHA-256-PLUS` with
//! `tls-server-end-point` channel binding (RFC 5929), as PostgreSQL does (docs/tls.md).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::passwords::constant_time_eq;

/// The only mechanism pgpool offers and uses.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
/// The channel-binding variant, offered to clients on TLS connections only.
pub const SCRAM_SHA_256_PLUS: &str = "SCRAM-SHA-256-PLUS";
/// The only channel-binding type supported.
pub const CB_TLS_SERVER_END_POINT: &str = "tls-server-end-point";
/// Iterations of the per-login verifier.
pub const ITERATIONS: u32 = 4096;

/// A failed SCRAM step, with pgpool's message (and detail where it has one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message")]
    Malformed(&'static str),
    #[error("client requires SCRAM channel binding, but it is not supported")]
    ChannelBindingUnsupported,
    #[error("client uses authorization identity, but it is not supported")]
    AuthzidUnsupported,
    #[error("client requires an unsupported SCRAM extension")]
    ExtensionUnsupported,
    #[error("non-printable characters in SCRAM nonce")]
    NonPrintableNonce,
    #[error("unsupported SCRAM channel-binding type \"{0}\"")]
    UnsupportedChannelBindingType(String),
    /// The client could bind but believes we cannot ('y' flag) although PLUS was offered.
    #[error("SCRAM channel binding negotiation error")]
    ChannelBindingNegotiation,
    #[error("unexpected SCRAM channel-binding attribute in client-final-message")]
    BadChannelBinding,
    #[error("invalid SCRAM response")]
    NonceMismatch,
    /// The client's proof does not match the password.
    #[error("SCRAM proof does not match")]
    WrongProof,
    #[error("incorrect server signature")]
    ServerSignature,
    /// A message arrived in the wrong state.
    #[error("SCRAM exchange out of order")]
    OutOfOrder,
    /// The backend's messages were unusable (postgres-protocol's wording in the detail).
    #[error("SCRAM exchange with backend failed")]
    Backend(String),
}

impl ScramError {
    /// pgpool's DETAIL line for this error, if it has one.
    pub fn detail(&self) -> Option<String> {
        match self {
            ScramError::Malformed(d) => Some((*d).to_string()),
            ScramError::NonceMismatch => Some("Nonce does not match.".into()),
            ScramError::ChannelBindingNegotiation => Some(
                "The client supports SCRAM channel binding but thinks the server does not. \
                 However, this server does support channel binding."
                    .into(),
            ),
            ScramError::BadChannelBinding => Some("SCRAM channel binding check failed.".into()),
            ScramError::Backend(d) => Some(d.clone()),
            _ => None,
        }
    }
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m =
        <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// `Hi(password, salt, i)`: PBKDF2-HMAC-SHA-256 with one 32-byte block.
pub fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut u = hmac(password, &[salt, &1u32.to_be_bytes()]);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &[&u]);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

/// Fill `buf` from the operating system's CSPRNG (spec/auth.md §14.5).
pub fn random_bytes(buf: &mut [u8]) {
    rand::rngs::OsRng.fill_bytes(buf);
}

struct Keys {
    stored_key: [u8; 32],
    server_key: [u8; 32],
    salt_b64: String,
    iterations: u32,
}

enum ServerState {
    AwaitClientFirst,
    AwaitClientFinal {
        /// The gs2 header (`n,,`, `y,,`, `p=tls-server-end-point,,`) the `c=` value repeats.
        gs2_header: String,
        nonce: String,
        client_first_bare: String,
        server_first: String,
    },
    Done,
}

/// Server side of SCRAM-SHA-256 (pgpool towards a client).
pub struct ScramServer {
    keys: Keys,
    state: ServerState,
    /// `tls-server-end-point` data when the connection is TLS (PLUS is then offered).
    cb_data: Option<Vec<u8>>,
    /// The client chose SCRAM-SHA-256-PLUS.
    plus: bool,
}

impl ScramServer {
    /// A verifier for `password` with a fresh random 16-byte salt and 4096 iterations. The
    /// password is used as given (no SASLprep, as pgpool).
    pub fn new(password: &str) -> ScramServer {
        let mut salt = [0u8; 16];
        random_bytes(&mut salt);
        ScramServer::with_salt(password, &salt, ITERATIONS)
    }

    /// A verifier with a given salt and iteration count (tests, fixed vectors).
    pub fn with_salt(password: &str, salt: &[u8], iterations: u32) -> ScramServer {
        let salted = hi(password.as_bytes(), salt, iterations);
        let client_key = hmac(&salted, &[b"Client Key"]);
        let keys = Keys {
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, &[b"Server Key"]),
            salt_b64: B64.encode(salt),
            iterations,
        };
        ScramServer {
            keys,
            state: ServerState::AwaitClientFirst,
            cb_data: None,
            plus: false,
        }
    }

    /// Offer SCRAM-SHA-256-PLUS bound to `data` (the connection's `tls-server-end-point` hash).
    pub fn with_channel_binding(mut self, data: Vec<u8>) -> ScramServer {
        self.cb_data = Some(data);
        self
    }

    /// The mechanisms to list in AuthenticationSASL, preferred first.
    pub fn mechanisms(&self) -> &'static [&'static str] {
        if self.cb_data.is_some() {
            &[SCRAM_SHA_256_PLUS, SCRAM_SHA_256]
        } else {
            &[SCRAM_SHA_256]
        }
    }

    /// Record the client's choice; false when it is not one of `mechanisms()`.
    pub fn select_mechanism(&mut self, mech: &str) -> bool {
        self.plus = mech == SCRAM_SHA_256_PLUS && self.cb_data.is_some();
        self.plus || mech == SCRAM_SHA_256
    }

    /// Handle the client-first-message; returns the server-first-message. The server nonce is
    /// base64 of 18 random bytes.
    pub fn client_first(&mut self, msg: &[u8]) -> Result<String, ScramError> {
        let mut raw = [0u8; 18];
        random_bytes(&mut raw);
        self.client_first_with_nonce(msg, &B64.encode(raw))
    }

    /// As `client_first`, with a given server nonce (tests).
    pub fn client_first_with_nonce(
        &mut self,
        msg: &[u8],
        server_nonce: &str,
    ) -> Result<String, ScramError> {
        if !matches!(self.state, ServerState::AwaitClientFirst) {
            return Err(ScramError::OutOfOrder);
        }
        let msg = check_text(msg)?;
        let no_data = ScramError::Malformed(
            "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.",
        );
        let after_flag = match msg.as_bytes().first() {
            Some(b'n') if self.plus => return Err(no_data),
            Some(b'y') if self.plus => return Err(no_data),
            Some(b'y') if self.cb_data.is_some() => {
                return Err(ScramError::ChannelBindingNegotiation)
            }
            Some(b'n' | b'y') => 1,
            Some(b'p') if self.cb_data.is_none() => {
                return Err(ScramError::ChannelBindingUnsupported)
            }
            Some(b'p') if !self.plus => {
                return Err(ScramError::Malformed(
                    "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.",
                ))
            }
            Some(b'p') => {
                let end = msg.find(',').unwrap_or(msg.len());
                let cb_type = msg[..end]
                    .strip_prefix("p=")
                    .ok_or(ScramError::Malformed("Expected equals sign."))?;
                if cb_type != CB_TLS_SERVER_END_POINT {
                    return Err(ScramError::UnsupportedChannelBindingType(
                        cb_type.to_string(),
                    ));
                }
                end
            }
            _ => return Err(ScramError::Malformed("Unexpected channel-binding flag.")),
        };
        let rest = msg[after_flag..]
            .strip_prefix(',')
            .ok_or(ScramError::Malformed("Comma expected."))?;
        if rest.starts_with("a=") {
            return Err(ScramError::AuthzidUnsupported);
        }
        let bare = rest
            .strip_prefix(',')
            .ok_or(ScramError::Malformed("Comma expected."))?;
        if bare.starts_with("m=") {
            return Err(ScramError::ExtensionUnsupported);
        }
        let mut attrs = bare.split(',');
        // n=: the user name is ignored (the startup packet's user is authoritative).
        match attrs.next() {
            Some(a) if a.starts_with("n=") => {}
            _ => return Err(ScramError::Malformed("Expected attribute \"n\".")),
        }
        let client_nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("Expected attribute \"r\"."))?;
        if client_nonce.is_empty()
            || !client_nonce
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
        {
            return Err(ScramError::NonPrintableNonce);
        }
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            self.keys.salt_b64, self.keys.iterations
        );
        self.state = ServerState::AwaitClientFinal {
            gs2_header: msg[..msg.len() - bare.len()].to_string(),
            nonce,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
        };
        Ok(server_first)
    }

    /// Handle the client-final-message; returns the server-final-message (`v=…`) when the
    /// proof is right, `ScramError::WrongProof` when it is not.
    pub fn client_final(&mut self, msg: &[u8]) -> Result<String, ScramError> {
        let ServerState::AwaitClientFinal {
            gs2_header,
            nonce,
            client_first_bare,
            server_first,
        } = std::mem::replace(&mut self.state, ServerState::Done)
        else {
            return Err(ScramError::OutOfOrder);
        };
        let msg = check_text(msg)?;
        let mut attrs = msg.split(',');
        let c = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed("Expected attribute \"c\"."))?;
        // c= is base64(gs2 header ‖ channel-binding data): `biws` for `n,,`, `eSws` for `y,,`.
        let mut binding = gs2_header.into_bytes();
        if self.plus {
            binding.extend_from_slice(self.cb_data.as_deref().unwrap_or_default());
        }
        if c != B64.encode(&binding) {
            return Err(ScramError::BadChannelBinding);
        }
        let r = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("Expected attribute \"r\"."))?;
        if r != nonce {
            return Err(ScramError::NonceMismatch);
        }
        let proof_b64 = loop {
            match attrs.next() {
                Some(a) if a.starts_with("p=") => break &a[2..],
                Some(_) => continue, // extensions are skipped
                None => return Err(ScramError::Malformed("Expected attribute \"p\".")),
            }
        };
        if attrs.next().is_some() {
            return Err(ScramError::Malformed(
                "Garbage found at the end of client-final-message.",
            ));
        }
        let proof =
            B64.decode(proof_b64)
                .ok()
                .filter(|p| p.len() == 32)
                .ok_or(ScramError::Malformed(
                    "Malformed proof in client-final-message.",
                ))?;
        let without_proof = &msg[..msg.len() - proof_b64.len() - 3];
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_sig = hmac(&self.keys.stored_key, &[auth_message.as_bytes()]);
        let mut client_key = [0u8; 32];
        for i in 0..32 {
            client_key[i] = proof[i] ^ client_sig[i];
        }
        let check: [u8; 32] = Sha256::digest(client_key).into();
        if !constant_time_eq(&check, &self.keys.stored_key) {
            return Err(ScramError::WrongProof);
        }
        let server_sig = hmac(&self.keys.server_key, &[auth_message.as_bytes()]);
        Ok(format!("v={}", B64.encode(server_sig)))
    }
}

fn check_text(msg: &[u8]) -> Result<&str, ScramError> {
    if msg.is_empty() {
        return Err(ScramError::Malformed("The message is empty."));
    }
    if msg.contains(&0) {
        return Err(ScramError::Malformed(
            "Message length does not match input length.",
        ));
    }
    std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("Message is not valid UTF-8."))
}

/// Client side of SCRAM-SHA-256 (pgpool towards a backend), built on postgres-protocol.
/// Sequence: `client_first()` → SASLInitialResponse; `server_first(data)` → SASLResponse;
/// `server_final(data)` verifies the server signature.
pub struct ScramClient {
    inner: postgres_protocol::authentication::sasl::ScramSha256,
    step: u8,
}

impl ScramClient {
    pub fn new(password: &str) -> ScramClient {
        use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
        // `unsupported` = gs2 header "n,,": no channel binding, as pgpool.
        ScramClient {
            inner: ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported()),
            step: 0,
        }
    }

    /// The client-first-message (`n,,n=,r=<nonce>`).
    pub fn client_first(&self) -> Result<&[u8], ScramError> {
        if self.step != 0 {
            return Err(ScramError::OutOfOrder);
        }
        Ok(self.inner.message())
    }

    /// Process the server-first-message (SASLContinue); returns the client-final-message.
    pub fn server_first(&mut self, data: &[u8]) -> Result<&[u8], ScramError> {
        if self.step != 0 {
            return Err(ScramError::OutOfOrder);
        }
        self.inner
            .update(data)
            .map_err(|e| ScramError::Backend(e.to_string()))?;
        self.step = 1;
        Ok(self.inner.message())
    }

    /// Process the server-final-message (SASLFinal): the server signature must verify.
    pub fn server_final(&mut self, data: &[u8]) -> Result<(), ScramError> {
        if self.step != 1 {
            return Err(ScramError::OutOfOrder);
        }
        self.step = 2;
        self.inner.finish(data).map_err(|e| {
            if e.to_string().contains("signature") {
                ScramError::ServerSignature
            } else {
                ScramError::Backend(e.to_string())
            }
        })
    }
}

/// True when the offered mechanism list contains plain `SCRAM-SHA-256` (pgpool never uses
/// `-PLUS`); the whole list is scanned, whatever its order.
pub fn offers_scram_sha_256<S: AsRef<str>>(mechanisms: &[S]) -> bool {
    mechanisms.iter().any(|m| m.as_ref() == SCRAM_SHA_256)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677 §3 example.
    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc_server(password: &str) -> ScramServer {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        ScramServer::with_salt(password, &salt, 4096)
    }

    #[test]
    fn rfc7677_vector_server_side() {
        let mut s = rfc_server("pencil");
        let sf = s
            .client_first_with_nonce(CLIENT_FIRST.as_bytes(), SERVER_NONCE)
            .unwrap();
        assert_eq!(sf, SERVER_FIRST);
        assert_eq!(
            s.client_final(CLIENT_FINAL.as_bytes()).unwrap(),
            SERVER_FINAL
        );
        // The exchange is over: a replay is refused.
        assert_eq!(
            s.client_final(CLIENT_FINAL.as_bytes()),
            Err(ScramError::OutOfOrder)
        );
    }

    #[test]
    fn wrong_password_is_refused() {
        let mut s = rfc_server("pencil2");
        s.client_first_with_nonce(CLIENT_FIRST.as_bytes(), SERVER_NONCE)
            .unwrap();
        assert_eq!(
            s.client_final(CLIENT_FINAL.as_bytes()),
            Err(ScramError::WrongProof)
        );
    }

    #[test]
    fn client_final_checks() {
        let run = |final_msg: &str| {
            let mut s = rfc_server("pencil");
            s.client_first_with_nonce(CLIENT_FIRST.as_bytes(), SERVER_NONCE)
                .unwrap();
            s.client_final(final_msg.as_bytes())
        };
        assert_eq!(
            run(&CLIENT_FINAL.replace("c=biws", "c=eSws")),
            Err(ScramError::BadChannelBinding)
        );
        assert_eq!(
            run(&CLIENT_FINAL.replace("k0,p", "k1,p")),
            Err(ScramError::NonceMismatch)
        );
        assert!(matches!(
            run(&format!("{CLIENT_FINAL},x=1")),
            Err(ScramError::Malformed(_))
        ));
        assert!(matches!(
            run("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA"),
            Err(ScramError::Malformed(_))
        ));
        assert!(matches!(run("c=biws"), Err(ScramError::Malformed(_))));
        assert!(matches!(run(""), Err(ScramError::Malformed(_))));
        // Extensions before p= are skipped.
        let with_ext = CLIENT_FINAL.replace(",p=", ",x=ext,p=");
        assert_eq!(
            run(&with_ext),
            Err(ScramError::WrongProof),
            "proof covers the extension"
        );
    }

    #[test]
    fn client_first_checks() {
        let first = |m: &str| rfc_server("p").client_first_with_nonce(m.as_bytes(), "N");
        assert_eq!(
            first("p=tls-server-end-point,,n=,r=abc"),
            Err(ScramError::ChannelBindingUnsupported)
        );
        assert_eq!(
            first("n,a=bob,n=,r=abc"),
            Err(ScramError::AuthzidUnsupported)
        );
        assert_eq!(
            first("n,,m=ext,n=,r=abc"),
            Err(ScramError::ExtensionUnsupported)
        );
        assert_eq!(
            first("n,,n=,r=a\u{7f}b"),
            Err(ScramError::NonPrintableNonce)
        );
        assert!(matches!(
            first("x,,n=,r=abc"),
            Err(ScramError::Malformed(_))
        ));
        assert!(matches!(first(""), Err(ScramError::Malformed(_))));
        assert!(matches!(
            first("n,,n=,r=a\0"),
            Err(ScramError::Malformed(_))
        ));
        assert!(matches!(first("n,,r=abc"), Err(ScramError::Malformed(_))));
        assert_eq!(
            first("y,,n=u,r=abc").unwrap(),
            format!(
                "r=abcN,s={},i=4096",
                B64.encode(B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap())
            )
        );
    }

    #[test]
    fn our_client_against_our_server() {
        for (server_pw, ok) in [("secret", true), ("other", false)] {
            let mut server = ScramServer::new(server_pw);
            let mut client = ScramClient::new("secret");
            let sf = server.client_first(client.client_first().unwrap()).unwrap();
            let cf = client.server_first(sf.as_bytes()).unwrap().to_vec();
            match server.client_final(&cf) {
                Ok(fin) => {
                    assert!(ok);
                    client.server_final(fin.as_bytes()).unwrap();
                }
                Err(e) => {
                    assert!(!ok);
                    assert_eq!(e, ScramError::WrongProof);
                }
            }
        }
    }

    /// postgres-protocol's client (libpq's behaviour) with the given channel binding.
    fn pp_client(
        pw: &str,
        cb: postgres_protocol::authentication::sasl::ChannelBinding,
    ) -> postgres_protocol::authentication::sasl::ScramSha256 {
        postgres_protocol::authentication::sasl::ScramSha256::new(pw.as_bytes(), cb)
    }

    #[test]
    fn plus_is_offered_only_with_binding_data_and_checks_it() {
        use postgres_protocol::authentication::sasl::ChannelBinding;
        assert_eq!(ScramServer::new("x").mechanisms(), &[SCRAM_SHA_256]);
        let cb = vec![7u8; 32];
        let run = |client_cb: ChannelBinding, mech: &str, server_cb: Vec<u8>| {
            let mut server = ScramServer::new("secret").with_channel_binding(server_cb);
            assert_eq!(server.mechanisms(), &[SCRAM_SHA_256_PLUS, SCRAM_SHA_256]);
            assert!(server.select_mechanism(mech));
            let mut client = pp_client("secret", client_cb);
            let sf = server.client_first(client.message())?;
            client.update(sf.as_bytes()).unwrap();
            let fin = server.client_final(client.message())?;
            client.finish(fin.as_bytes()).unwrap();
            Ok::<(), ScramError>(())
        };
        // right binding data: accepted
        run(
            ChannelBinding::tls_server_end_point(cb.clone()),
            SCRAM_SHA_256_PLUS,
            cb.clone(),
        )
        .unwrap();
        // the client saw another certificate (a man in the middle): refused
        assert_eq!(
            run(
                ChannelBinding::tls_server_end_point(vec![8u8; 32]),
                SCRAM_SHA_256_PLUS,
                cb.clone()
            ),
            Err(ScramError::BadChannelBinding)
        );
        // plain SCRAM over TLS still works (flag n)
        run(ChannelBinding::unsupported(), SCRAM_SHA_256, cb.clone()).unwrap();
        // flag y while PLUS was offered: a downgrade
        assert_eq!(
            run(ChannelBinding::unrequested(), SCRAM_SHA_256, cb.clone()),
            Err(ScramError::ChannelBindingNegotiation)
        );
        // PLUS chosen but no binding data sent
        assert!(matches!(
            run(
                ChannelBinding::unsupported(),
                SCRAM_SHA_256_PLUS,
                cb.clone()
            ),
            Err(ScramError::Malformed(_))
        ));
        // binding data with plain SCRAM chosen
        assert!(matches!(
            run(
                ChannelBinding::tls_server_end_point(cb.clone()),
                SCRAM_SHA_256,
                cb.clone()
            ),
            Err(ScramError::Malformed(_))
        ));
        // another binding type
        let mut server = ScramServer::new("secret").with_channel_binding(cb.clone());
        assert!(server.select_mechanism(SCRAM_SHA_256_PLUS));
        assert_eq!(
            server.client_first(b"p=tls-unique,,n=,r=abc"),
            Err(ScramError::UnsupportedChannelBindingType(
                "tls-unique".into()
            ))
        );
        // without TLS, PLUS is not a valid choice and `p` is refused as in pgpool
        let mut server = ScramServer::new("secret");
        assert!(!server.select_mechanism(SCRAM_SHA_256_PLUS));
        assert_eq!(
            server.client_first(b"p=tls-server-end-point,,n=,r=abc"),
            Err(ScramError::ChannelBindingUnsupported)
        );
    }

    #[test]
    fn client_detects_a_forged_server_signature() {
        let mut server = ScramServer::new("secret");
        let mut client = ScramClient::new("secret");
        let sf = server.client_first(client.client_first().unwrap()).unwrap();
        let cf = client.server_first(sf.as_bytes()).unwrap().to_vec();
        server.client_final(&cf).unwrap();
        let forged = format!("v={}", B64.encode([0u8; 32]));
        assert!(client.server_final(forged.as_bytes()).is_err());
    }

    #[test]
    fn mechanism_list_is_scanned_fully() {
        assert!(offers_scram_sha_256(&[
            "SCRAM-SHA-256-PLUS",
            "SCRAM-SHA-256"
        ]));
        assert!(offers_scram_sha_256(&["SCRAM-SHA-256", "OTHER"]));
        assert!(!offers_scram_sha_256(&["SCRAM-SHA-256-PLUS"]));
    }
}
