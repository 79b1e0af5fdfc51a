//! PCP framing (spec/pcp.md §2–§4), shared by the PCP server and the client library the
//! `pcp_*` tools use: a packet is one kind byte, a big-endian int32 length that counts itself,
//! and the payload; integers travel as decimal strings; errors and notices carry PostgreSQL-style
//! fields. Also the md5 challenge answer of the authentication handshake.

use std::io::{self, Read, Write};

/// Server-side bound on a request's length field (`MAX_PCP_PACKET_LENGTH`): `0 < len < 260`.
pub const MAX_REQUEST_LENGTH: u32 = 260;

/// One packet, kind and payload (without the length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// Why a packet could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection closed")]
    Closed,
    #[error("incorrect packet length ({0})")]
    BadLength(u32),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Read one packet. `max_len` bounds the length field (requests: `Some(MAX_REQUEST_LENGTH)`;
/// replies: `None`). End of stream before the kind byte is `Closed`.
pub fn read_packet(r: &mut impl Read, max_len: Option<u32>) -> Result<Packet, WireError> {
    let mut kind = [0u8; 1];
    match r.read(&mut kind) {
        Ok(0) => return Err(WireError::Closed),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return read_packet(r, max_len),
        Err(e) => return Err(e.into()),
    }
    let mut len = [0u8; 4];
    r.read_exact(&mut len).map_err(eof_is_closed)?;
    let len = u32::from_be_bytes(len);
    if len < 4 || max_len.is_some_and(|m| len >= m) {
        return Err(WireError::BadLength(len));
    }
    let mut payload = vec![0u8; (len - 4) as usize];
    r.read_exact(&mut payload).map_err(eof_is_closed)?;
    Ok(Packet {
        kind: kind[0],
        payload,
    })
}

fn eof_is_closed(e: io::Error) -> WireError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        WireError::Closed
    } else {
        WireError::Io(e)
    }
}

/// The bytes of one packet.
pub fn encode(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(kind);
    out.extend_from_slice(&((payload.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Write one packet in one call.
pub fn write_packet(w: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    w.write_all(&encode(kind, payload))
}

/// A payload of NUL-terminated strings.
pub fn strings_payload<S: AsRef<str>>(parts: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(p.as_ref().as_bytes());
        out.push(0);
    }
    out
}

/// Split a payload into its NUL-terminated strings (a trailing part without NUL is kept).
pub fn split_strings(payload: &[u8]) -> Vec<String> {
    let body = payload.strip_suffix(&[0]).unwrap_or(payload);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// The md5 answer to the salt (spec/pcp.md §3): `md5hex(md5hex(h1 ‖ user) ‖ salt)`, where `h1`
/// is what pcp.conf stores (`md5hex(password)`).
pub fn auth_response(h1: &str, user: &str, salt: &[u8]) -> String {
    use crate::auth::passwords::md5_hex;
    let h2 = md5_hex(format!("{h1}{user}").as_bytes());
    let mut data = h2.into_bytes();
    data.extend_from_slice(salt);
    md5_hex(&data)
}

/// The fields of an `E`/`N` packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub severity: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// Source file and line pgpool would name (we name ours).
    pub file: String,
    pub line: u32,
}

impl Report {
    /// The payload pgpool's elog builds: S, C (always XX000), M, D, H, F, L, then a NUL; each
    /// value cut to 255 bytes.
    pub fn payload(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut field = |code: u8, v: &str| {
            out.push(code);
            let b = v.as_bytes();
            out.extend_from_slice(&b[..b.len().min(255)]);
            out.push(0);
        };
        field(b'S', &self.severity);
        field(b'C', "XX000");
        field(b'M', &self.message);
        if let Some(d) = &self.detail {
            field(b'D', d);
        }
        if let Some(h) = &self.hint {
            field(b'H', h);
        }
        field(b'F', &self.file);
        field(b'L', &self.line.to_string());
        out.push(0);
        out
    }

    /// Read the fields of a received `E`/`N` payload (unknown codes are skipped).
    pub fn parse(payload: &[u8]) -> Report {
        let mut r = Report::default();
        for f in payload.split(|&b| b == 0).filter(|f| !f.is_empty()) {
            let v = String::from_utf8_lossy(&f[1..]).into_owned();
            match f[0] {
                b'S' => r.severity = v,
                b'M' => r.message = v,
                b'D' => r.detail = Some(v),
                b'H' => r.hint = Some(v),
                b'F' => r.file = v,
                b'L' => r.line = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_round_trips_and_lengths_are_bounded() {
        let bytes = encode(b'I', b"1\0");
        assert_eq!(bytes, b"I\0\0\0\x061\0");
        let p = read_packet(&mut &bytes[..], Some(MAX_REQUEST_LENGTH)).expect("packet");
        assert_eq!((p.kind, p.payload), (b'I', b"1\0".to_vec()));
        let long = encode(b'I', &[b'x'; 256]);
        assert!(matches!(
            read_packet(&mut &long[..], Some(MAX_REQUEST_LENGTH)),
            Err(WireError::BadLength(260))
        ));
        assert!(read_packet(&mut &long[..], None).is_ok());
        assert!(matches!(
            read_packet(&mut &b"I\0\0\0\x03"[..], None),
            Err(WireError::BadLength(3))
        ));
        assert!(matches!(
            read_packet(&mut &b"I\0\0"[..], None),
            Err(WireError::Closed)
        ));
        assert!(matches!(
            read_packet(&mut &b""[..], None),
            Err(WireError::Closed)
        ));
    }

    #[test]
    fn error_payload_is_pgpools_layout() {
        let r = Report {
            severity: "ERROR".into(),
            message: "informing node info failed".into(),
            detail: Some("invalid node ID : 9".into()),
            hint: None,
            file: "pcp_worker.c".into(),
            line: 843,
        };
        let p = r.payload();
        assert_eq!(
            p,
            b"SERROR\0CXX000\0Minforming node info failed\0Dinvalid node ID : 9\0Fpcp_worker.c\0L843\0\0"
        );
        assert_eq!(Report::parse(&p), r);
    }

    #[test]
    fn auth_response_matches_the_documented_chain() {
        use crate::auth::passwords::md5_hex;
        let h1 = md5_hex(b"secret");
        let salt = [1u8, 2, 3, 4];
        let h2 = md5_hex(format!("{h1}pcpuser").as_bytes());
        let mut d = h2.into_bytes();
        d.extend_from_slice(&salt);
        assert_eq!(auth_response(&h1, "pcpuser", &salt), md5_hex(&d));
        assert_eq!(auth_response(&h1, "pcpuser", &salt).len(), 32);
    }

    #[test]
    fn strings_split_and_join() {
        let p = strings_payload(&["a", "", "bc"]);
        assert_eq!(p, b"a\0\0bc\0");
        assert_eq!(split_strings(&p), vec!["a", "", "bc"]);
        assert!(split_strings(b"").is_empty());
    }
}
