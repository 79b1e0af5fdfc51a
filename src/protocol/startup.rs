//! The first packet of a client connection (untagged: length word, protocol code, body):
//! reading it with its length bounds, classifying it (V3 startup, SSLRequest, GSSENCRequest,
//! CancelRequest) and, for a V3 startup, rebuilding it with the options sorted by name — the
//! sorted packet is what backends receive and what the pool compares (spec/architecture.md
//! §3.5, spec/auth.md §4). Also builds the untagged packets pgpool sends to backends
//! (startup, SSLRequest, CancelRequest). TLS and the answers to SSL/GSS requests are the
//! caller's; `negotiate_plain` covers the no-TLS case.

use std::time::{Duration, Instant};

use crate::logger::Severity;

use super::pgerror::{sqlstate, PgError};
use super::{Conn, ProtocolError};

/// Protocol code of a CancelRequest (1234 << 16 | 5678).
pub const CANCEL_REQUEST_CODE: u32 = (1234 << 16) | 5678;
/// Protocol code of an SSLRequest (1234 << 16 | 5679).
pub const SSL_REQUEST_CODE: u32 = (1234 << 16) | 5679;
/// Protocol code of a GSSENCRequest (1234 << 16 | 5680).
pub const GSSENC_REQUEST_CODE: u32 = (1234 << 16) | 5680;
/// `len - 4` must be below this (and above 0).
pub const MAX_STARTUP_BODY: usize = 10000;

/// Why a first packet was refused. `to_pg_error` gives the client-visible report.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The length word is out of `0 < len-4 < 10000`.
    #[error("incorrect packet length ({0})")]
    BadLength(i32),
    /// A protocol major pgpool does not know (neither 3 nor the 1234 request codes).
    #[error("invalid major no: {0} in startup packet")]
    BadMajor(u16),
    /// 1234/x with an x that is not a known request code.
    #[error("unsupported request code {0} in startup packet")]
    BadRequestCode(u16),
    /// Protocol 2: pgpool accepts it, we do not (documented deviation; PostgreSQL ≥ 14 refuses
    /// it too, so no working client sends it).
    #[error("unsupported frontend protocol {major}.{minor}")]
    ProtocolV2 { major: u16, minor: u16 },
    /// A request packet (SSL/GSS/cancel) whose length does not match its code.
    #[error("invalid length ({len}) of request packet with code {code}")]
    BadRequestLength { code: u32, len: usize },
    /// The name/value list is not properly NUL-terminated.
    #[error("invalid startup packet layout: expected terminator as last byte")]
    Layout,
    /// No `user` option, or an empty one.
    #[error("no PostgreSQL user name specified in startup packet")]
    NoUser,
    /// The socket failed, closed or timed out while the packet was read.
    #[error(transparent)]
    Io(#[from] ProtocolError),
}

impl StartupError {
    /// The report the client receives, in pgpool's words (spec/auth.md §4, §15).
    pub fn to_pg_error(&self) -> PgError {
        let read_failed = |detail: String| {
            PgError::error(
                sqlstate::INTERNAL_ERROR,
                "failed while reading startup packet",
            )
            .with_detail(detail)
        };
        match self {
            StartupError::NoUser => {
                PgError::fatal(sqlstate::INVALID_AUTHORIZATION, self.to_string())
            }
            StartupError::ProtocolV2 { .. } => {
                PgError::fatal(sqlstate::FEATURE_NOT_SUPPORTED, self.to_string())
                    .with_detail("pgpool-rs supports protocol 3.0 only")
            }
            StartupError::Io(e) => read_failed(e.to_string()),
            other => read_failed(other.to_string()),
        }
    }

    /// True when the client simply went away (EOF): pgpool does not log that as an error
    /// (psql reconnects this way to prompt for a password).
    pub fn is_client_eof(&self) -> bool {
        matches!(self, StartupError::Io(ProtocolError::Eof))
    }
}

/// A V3 startup packet, with its options sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupPacket {
    pub major: u16,
    pub minor: u16,
    /// The whole sorted packet including its length word: sent to backends as is and
    /// compared byte for byte by the pool.
    pub raw: Vec<u8>,
    pub user: String,
    /// `database`, or the user name when missing or empty.
    pub database: String,
    /// `application_name`, empty when absent.
    pub application_name: String,
    /// All options in sorted order (non-UTF-8 bytes replaced for display; `raw` keeps them).
    pub params: Vec<(String, String)>,
}

impl StartupPacket {
    /// Build a packet from options given in any order (sorted here, stable for duplicates).
    pub fn build(
        major: u16,
        minor: u16,
        params: &[(&str, &str)],
    ) -> Result<StartupPacket, StartupError> {
        let pairs: Vec<(&[u8], &[u8])> = params
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        StartupPacket::from_pairs(major, minor, pairs)
    }

    fn from_pairs(
        major: u16,
        minor: u16,
        mut pairs: Vec<(&[u8], &[u8])>,
    ) -> Result<StartupPacket, StartupError> {
        // Byte-wise (strcmp) order on names; stable so duplicates keep their relative order.
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        let body_len: usize = 4
            + pairs
                .iter()
                .map(|(n, v)| n.len() + v.len() + 2)
                .sum::<usize>()
            + 1;
        let mut raw = Vec::with_capacity(4 + body_len);
        raw.extend_from_slice(&((4 + body_len) as u32).to_be_bytes());
        raw.extend_from_slice(&(((major as u32) << 16) | minor as u32).to_be_bytes());
        let mut user = None;
        let mut database = None;
        let mut application_name = None;
        let mut params = Vec::with_capacity(pairs.len());
        for (n, v) in &pairs {
            raw.extend_from_slice(n);
            raw.push(0);
            raw.extend_from_slice(v);
            raw.push(0);
            let name = String::from_utf8_lossy(n).into_owned();
            let value = String::from_utf8_lossy(v).into_owned();
            // Later duplicates win, as in PostgreSQL.
            match name.as_str() {
                "user" => user = Some(value.clone()),
                "database" => database = Some(value.clone()),
                "application_name" => application_name = Some(value.clone()),
                _ => {}
            }
            params.push((name, value));
        }
        raw.push(0);
        let user = user.filter(|u| !u.is_empty()).ok_or(StartupError::NoUser)?;
        let database = database
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| user.clone());
        Ok(StartupPacket {
            major,
            minor,
            raw,
            user,
            database,
            application_name: application_name.unwrap_or_default(),
            params,
        })
    }

    /// The value of option `name`, if given.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the first packet of a connection asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstPacket {
    Startup(StartupPacket),
    SslRequest,
    GssEncRequest,
    Cancel { pid: u32, key: u32 },
}

/// Classify a first packet from its body (everything after the length word). Pure; never
/// panics on any input.
pub fn parse_first_packet(body: &[u8]) -> Result<FirstPacket, StartupError> {
    let len = body.len() + 4;
    if body.is_empty() || body.len() >= MAX_STARTUP_BODY {
        return Err(StartupError::BadLength(len as i32));
    }
    let code = match body {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => return Err(StartupError::BadLength(len as i32)),
    };
    let (major, minor) = ((code >> 16) as u16, (code & 0xffff) as u16);
    let fixed = |want: usize, p: FirstPacket| {
        if len == want {
            Ok(p)
        } else {
            Err(StartupError::BadRequestLength { code, len })
        }
    };
    match (major, code) {
        (1234, SSL_REQUEST_CODE) => fixed(8, FirstPacket::SslRequest),
        (1234, GSSENC_REQUEST_CODE) => fixed(8, FirstPacket::GssEncRequest),
        (1234, CANCEL_REQUEST_CODE) => {
            if len != 16 {
                return Err(StartupError::BadRequestLength { code, len });
            }
            let pid = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
            let key = u32::from_be_bytes([body[8], body[9], body[10], body[11]]);
            Ok(FirstPacket::Cancel { pid, key })
        }
        (1234, _) => Err(StartupError::BadRequestCode(minor)),
        (3, _) => parse_v3_options(major, minor, &body[4..]).map(FirstPacket::Startup),
        (2, _) => Err(StartupError::ProtocolV2 { major, minor }),
        _ => Err(StartupError::BadMajor(major)),
    }
}

/// `name\0value\0 ... \0`: an empty name ends the list, which must end at the last byte.
fn parse_v3_options(major: u16, minor: u16, mut b: &[u8]) -> Result<StartupPacket, StartupError> {
    let mut pairs = Vec::new();
    loop {
        let nul = b.iter().position(|&c| c == 0).ok_or(StartupError::Layout)?;
        if nul == 0 {
            if b.len() != 1 {
                return Err(StartupError::Layout);
            }
            break;
        }
        let name = &b[..nul];
        b = &b[nul + 1..];
        let vnul = b.iter().position(|&c| c == 0).ok_or(StartupError::Layout)?;
        pairs.push((name, &b[..vnul]));
        b = &b[vnul + 1..];
    }
    StartupPacket::from_pairs(major, minor, pairs)
}

/// Read one first packet: int32 length (`0 < len-4 < 10000`), then the body, then classify.
/// `timeout` bounds the whole read (pgpool's `authentication_timeout`; `None` = wait forever).
/// Sends nothing.
pub fn read_first_packet(
    conn: &mut Conn,
    timeout: Option<Duration>,
) -> Result<FirstPacket, StartupError> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let left = || {
        deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        })
    };
    let head = conn.read_exact(4, left())?;
    let len = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if len < 5 || (len - 4) as usize >= MAX_STARTUP_BODY {
        return Err(StartupError::BadLength(len));
    }
    let body = conn.read_exact((len - 4) as usize, left())?;
    parse_first_packet(&body)
}

/// Read first packets until a startup or cancel packet arrives, answering every SSLRequest and
/// GSSENCRequest with `N` (for connections where TLS is off). Sends only those `N` bytes.
/// A request arriving with plaintext bytes already buffered after it is not special here
/// (that check only matters after `S`).
pub fn negotiate_plain(
    conn: &mut Conn,
    timeout: Option<Duration>,
) -> Result<FirstPacket, StartupError> {
    loop {
        match read_first_packet(conn, timeout)? {
            FirstPacket::SslRequest | FirstPacket::GssEncRequest => {
                conn.write_all(b"N").map_err(ProtocolError::from)?;
            }
            other => return Ok(other),
        }
    }
}

/// The 16-byte CancelRequest pgpool sends to a backend.
pub fn cancel_request_packet(pid: u32, key: u32) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..4].copy_from_slice(&16u32.to_be_bytes());
    p[4..8].copy_from_slice(&CANCEL_REQUEST_CODE.to_be_bytes());
    p[8..12].copy_from_slice(&pid.to_be_bytes());
    p[12..].copy_from_slice(&key.to_be_bytes());
    p
}

/// The 8-byte SSLRequest pgpool sends to a backend.
pub fn ssl_request_packet() -> [u8; 8] {
    let mut p = [0u8; 8];
    p[..4].copy_from_slice(&8u32.to_be_bytes());
    p[4..].copy_from_slice(&SSL_REQUEST_CODE.to_be_bytes());
    p
}

/// Log a refused startup packet the way pgpool does (EOF is silent).
pub fn log_startup_error(e: &StartupError) {
    if !e.is_client_eof() {
        let pe = e.to_pg_error();
        match &pe.detail {
            Some(d) => crate::pglog!(Severity::Log, detail = d; "{}", pe.message),
            None => crate::pglog!(Severity::Log, "{}", pe.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::os::unix::net::UnixStream;

    fn v3_body(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut b = 0x0003_0000u32.to_be_bytes().to_vec();
        for (n, v) in pairs {
            b.extend_from_slice(n.as_bytes());
            b.push(0);
            b.extend_from_slice(v.as_bytes());
            b.push(0);
        }
        b.push(0);
        b
    }

    fn startup(body: &[u8]) -> StartupPacket {
        match parse_first_packet(body).unwrap() {
            FirstPacket::Startup(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v3_options_are_sorted_and_picked_out() {
        let s = startup(&v3_body(&[
            ("user", "alice"),
            ("application_name", "psql"),
            ("database", "db1"),
            ("client_encoding", "UTF8"),
        ]));
        assert_eq!((s.major, s.minor), (3, 0));
        assert_eq!(s.user, "alice");
        assert_eq!(s.database, "db1");
        assert_eq!(s.application_name, "psql");
        let names: Vec<_> = s.params.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["application_name", "client_encoding", "database", "user"]
        );
        let expect = v3_body(&[
            ("application_name", "psql"),
            ("client_encoding", "UTF8"),
            ("database", "db1"),
            ("user", "alice"),
        ]);
        assert_eq!(&s.raw[4..], &expect[..]);
        assert_eq!(
            u32::from_be_bytes(s.raw[..4].try_into().unwrap()) as usize,
            s.raw.len()
        );
        assert_eq!(s.param("client_encoding"), Some("UTF8"));
        assert_eq!(s.param("nope"), None);
    }

    #[test]
    fn database_defaults_to_user_and_user_is_required() {
        let s = startup(&v3_body(&[("user", "bob")]));
        assert_eq!(s.database, "bob");
        assert_eq!(s.application_name, "");
        let s = startup(&v3_body(&[("user", "bob"), ("database", "")]));
        assert_eq!(s.database, "bob");
        for pairs in [&[("database", "x")][..], &[("user", "")][..]] {
            let e = parse_first_packet(&v3_body(pairs)).unwrap_err();
            assert!(matches!(e, StartupError::NoUser));
            let pe = e.to_pg_error();
            assert_eq!(pe.severity, Severity::Fatal);
            assert_eq!(pe.sqlstate, "28000");
            assert_eq!(
                pe.message,
                "no PostgreSQL user name specified in startup packet"
            );
        }
    }

    #[test]
    fn request_codes_are_classified() {
        let mut b = SSL_REQUEST_CODE.to_be_bytes().to_vec();
        assert_eq!(parse_first_packet(&b).unwrap(), FirstPacket::SslRequest);
        b = GSSENC_REQUEST_CODE.to_be_bytes().to_vec();
        assert_eq!(parse_first_packet(&b).unwrap(), FirstPacket::GssEncRequest);
        let c = cancel_request_packet(77, 0x01020304);
        assert_eq!(
            parse_first_packet(&c[4..]).unwrap(),
            FirstPacket::Cancel {
                pid: 77,
                key: 0x01020304
            }
        );
        assert_eq!(&ssl_request_packet()[4..], &SSL_REQUEST_CODE.to_be_bytes());
        let mut long_ssl = SSL_REQUEST_CODE.to_be_bytes().to_vec();
        long_ssl.push(0);
        assert!(matches!(
            parse_first_packet(&long_ssl),
            Err(StartupError::BadRequestLength { .. })
        ));
        let other = ((1234u32 << 16) | 9999).to_be_bytes();
        assert!(matches!(
            parse_first_packet(&other),
            Err(StartupError::BadRequestCode(9999))
        ));
    }

    #[test]
    fn bad_majors_and_layouts_are_refused() {
        let mut b = v3_body(&[("user", "u")]);
        b[1] = 7; // major 7
        let e = parse_first_packet(&b).unwrap_err();
        assert_eq!(e.to_string(), "invalid major no: 7 in startup packet");
        assert_eq!(
            e.to_pg_error().message,
            "failed while reading startup packet"
        );
        b[1] = 2;
        assert!(matches!(
            parse_first_packet(&b),
            Err(StartupError::ProtocolV2 { major: 2, .. })
        ));
        let mut b = v3_body(&[("user", "u")]);
        b.pop();
        assert!(matches!(parse_first_packet(&b), Err(StartupError::Layout)));
        let mut b = v3_body(&[("user", "u")]);
        b.push(b'x');
        assert!(matches!(parse_first_packet(&b), Err(StartupError::Layout)));
        assert!(matches!(
            parse_first_packet(&[0, 3]),
            Err(StartupError::BadLength(6))
        ));
        assert!(matches!(
            parse_first_packet(&[]),
            Err(StartupError::BadLength(4))
        ));
    }

    fn conn_pair() -> (Conn, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        (Conn::new(a.into()), b)
    }

    #[test]
    fn read_first_packet_reads_and_bounds_length() {
        use std::io::Write;
        let (mut c, mut peer) = conn_pair();
        let sp = StartupPacket::build(3, 0, &[("user", "u"), ("database", "d")]).unwrap();
        peer.write_all(&sp.raw).unwrap();
        assert_eq!(
            read_first_packet(&mut c, Some(Duration::from_secs(5))).unwrap(),
            FirstPacket::Startup(sp)
        );

        peer.write_all(&20000u32.to_be_bytes()).unwrap();
        assert!(matches!(
            read_first_packet(&mut c, None),
            Err(StartupError::BadLength(20000))
        ));

        let (mut c, peer) = conn_pair();
        drop(peer);
        let e = read_first_packet(&mut c, None).unwrap_err();
        assert!(e.is_client_eof());

        let (mut c, _peer) = conn_pair();
        let e = read_first_packet(&mut c, Some(Duration::from_millis(20))).unwrap_err();
        assert!(matches!(e, StartupError::Io(ProtocolError::Timeout)));
    }

    #[test]
    fn negotiate_plain_answers_n_until_startup() {
        use std::io::{Read, Write};
        let (mut c, mut peer) = conn_pair();
        peer.write_all(&ssl_request_packet()).unwrap();
        let mut gss = 8u32.to_be_bytes().to_vec();
        gss.extend_from_slice(&GSSENC_REQUEST_CODE.to_be_bytes());
        peer.write_all(&gss).unwrap();
        let sp = StartupPacket::build(3, 0, &[("user", "u")]).unwrap();
        peer.write_all(&sp.raw).unwrap();
        assert_eq!(
            negotiate_plain(&mut c, None).unwrap(),
            FirstPacket::Startup(sp)
        );
        let mut answers = [0u8; 2];
        peer.read_exact(&mut answers).unwrap();
        assert_eq!(&answers, b"NN");
    }

    proptest! {
        #[test]
        fn parse_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_first_packet(&body);
        }

        #[test]
        fn v3_prefix_with_random_tail_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut body = 0x0003_0000u32.to_be_bytes().to_vec();
            body.extend_from_slice(&tail);
            let _ = parse_first_packet(&body);
        }

        #[test]
        fn sorted_packet_is_order_insensitive(
            mut pairs in proptest::collection::vec(("[a-z_]{1,12}", "[ -~]{0,12}"), 0..8),
            seed in any::<u64>(),
        ) {
            pairs.retain(|(n, _)| n != "user");
            pairs.push(("user".to_string(), "u".to_string()));
            // Unique names: duplicates legitimately depend on order.
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            pairs.dedup_by(|a, b| a.0 == b.0);
            let as_ref: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut shuffled = as_ref.clone();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let a = startup(&v3_body(&as_ref));
            let b = startup(&v3_body(&shuffled));
            prop_assert_eq!(&a.raw, &b.raw);
            // And re-parsing the sorted packet is a fixed point.
            let c = startup(&a.raw[4..]);
            prop_assert_eq!(a, c);
        }
    }
}
