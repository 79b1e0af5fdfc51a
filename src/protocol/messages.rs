//! Protocol-3 messages pgpool originates (builders that append one whole frame to a caller's
//! reusable `Vec<u8>`) and typed, borrowing views of the messages pgpool inspects
//! (ErrorResponse/NoticeResponse, ParameterStatus, BackendKeyData, ReadyForQuery, Query, Parse,
//! authentication requests). Framing and socket I/O live in `conn`; nothing here does I/O.

use std::borrow::Cow;

use super::ProtocolError;

// ----------------------------------------------------------------------------------------------
// Builders
// ----------------------------------------------------------------------------------------------

/// Start a tagged frame: push the tag and a placeholder length word; returns the frame start.
pub fn begin(out: &mut Vec<u8>, tag: u8) -> usize {
    let start = out.len();
    out.push(tag);
    out.extend_from_slice(&[0, 0, 0, 0]);
    start
}

/// Finish a frame begun at `start`: write its length word (everything after the tag).
pub fn finish(out: &mut [u8], start: usize) {
    let len = (out.len() - start - 1) as u32;
    out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
}

/// Append a C string (the bytes and a NUL).
pub fn put_cstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
    out.push(0);
}

fn put_i16(out: &mut Vec<u8>, v: i16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// ErrorResponse (`tag` = `E`) or NoticeResponse (`N`) with fields S, C, M and optional D, H.
pub fn error_like(
    out: &mut Vec<u8>,
    tag: u8,
    severity: &str,
    sqlstate: &str,
    message: &str,
    detail: Option<&str>,
    hint: Option<&str>,
) {
    let start = begin(out, tag);
    for (code, value) in [
        (b'S', Some(severity)),
        (b'C', Some(sqlstate)),
        (b'M', Some(message)),
        (b'D', detail),
        (b'H', hint),
    ] {
        if let Some(v) = value {
            out.push(code);
            put_cstr(out, v.as_bytes());
        }
    }
    out.push(0);
    finish(out, start);
}

/// ErrorResponse with fields S, C, M and optional D, H.
pub fn error_response(
    out: &mut Vec<u8>,
    severity: &str,
    sqlstate: &str,
    message: &str,
    detail: Option<&str>,
    hint: Option<&str>,
) {
    error_like(out, b'E', severity, sqlstate, message, detail, hint);
}

/// NoticeResponse with fields S, C, M and optional D, H.
pub fn notice_response(
    out: &mut Vec<u8>,
    severity: &str,
    sqlstate: &str,
    message: &str,
    detail: Option<&str>,
    hint: Option<&str>,
) {
    error_like(out, b'N', severity, sqlstate, message, detail, hint);
}

/// Authentication request codes (the int32 after `R`).
pub mod auth_code {
    pub const OK: i32 = 0;
    pub const KERBEROS_V5: i32 = 2;
    pub const CLEARTEXT_PASSWORD: i32 = 3;
    pub const CRYPT: i32 = 4;
    pub const MD5_PASSWORD: i32 = 5;
    pub const SCM_CREDENTIAL: i32 = 6;
    pub const GSS: i32 = 7;
    pub const GSS_CONTINUE: i32 = 8;
    pub const SSPI: i32 = 9;
    pub const SASL: i32 = 10;
    pub const SASL_CONTINUE: i32 = 11;
    pub const SASL_FINAL: i32 = 12;
}

fn auth_request(out: &mut Vec<u8>, code: i32, data: &[u8]) {
    let start = begin(out, b'R');
    put_i32(out, code);
    out.extend_from_slice(data);
    finish(out, start);
}

/// AuthenticationOk: `R`, 8, 0.
pub fn auth_ok(out: &mut Vec<u8>) {
    auth_request(out, auth_code::OK, &[]);
}

/// AuthenticationCleartextPassword: `R`, 8, 3.
pub fn auth_cleartext(out: &mut Vec<u8>) {
    auth_request(out, auth_code::CLEARTEXT_PASSWORD, &[]);
}

/// AuthenticationMD5Password: `R`, 12, 5, salt.
pub fn auth_md5(out: &mut Vec<u8>, salt: [u8; 4]) {
    auth_request(out, auth_code::MD5_PASSWORD, &salt);
}

/// AuthenticationSASL listing `mechanisms` (each NUL-terminated, then a final NUL).
pub fn auth_sasl(out: &mut Vec<u8>, mechanisms: &[&str]) {
    let start = begin(out, b'R');
    put_i32(out, auth_code::SASL);
    for m in mechanisms {
        put_cstr(out, m.as_bytes());
    }
    out.push(0);
    finish(out, start);
}

/// AuthenticationSASLContinue carrying `data`.
pub fn auth_sasl_continue(out: &mut Vec<u8>, data: &[u8]) {
    auth_request(out, auth_code::SASL_CONTINUE, data);
}

/// AuthenticationSASLFinal carrying `data`.
pub fn auth_sasl_final(out: &mut Vec<u8>, data: &[u8]) {
    auth_request(out, auth_code::SASL_FINAL, data);
}

/// BackendKeyData: `K`, 12, pid, key.
pub fn backend_key_data(out: &mut Vec<u8>, pid: u32, key: u32) {
    let start = begin(out, b'K');
    out.extend_from_slice(&pid.to_be_bytes());
    out.extend_from_slice(&key.to_be_bytes());
    finish(out, start);
}

/// ParameterStatus: `S`, name\0, value\0.
pub fn parameter_status(out: &mut Vec<u8>, name: &str, value: &str) {
    let start = begin(out, b'S');
    put_cstr(out, name.as_bytes());
    put_cstr(out, value.as_bytes());
    finish(out, start);
}

/// ReadyForQuery with transaction status `I`, `T` or `E`.
pub fn ready_for_query(out: &mut Vec<u8>, status: u8) {
    let start = begin(out, b'Z');
    out.push(status);
    finish(out, start);
}

/// One column of a RowDescription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column<'a> {
    pub name: &'a str,
    pub table_oid: u32,
    pub attnum: i16,
    pub type_oid: u32,
    pub typlen: i16,
    pub typmod: i32,
    pub format: i16,
}

impl<'a> Column<'a> {
    /// A text-format column of type `text` (oid 25, typlen -1), as PostgreSQL describes one.
    pub fn text(name: &'a str) -> Column<'a> {
        Column {
            name,
            table_oid: 0,
            attnum: 0,
            type_oid: 25,
            typlen: -1,
            typmod: -1,
            format: 0,
        }
    }
}

/// RowDescription with explicit column descriptions.
pub fn row_description(out: &mut Vec<u8>, columns: &[Column<'_>]) {
    let start = begin(out, b'T');
    put_i16(out, columns.len() as i16);
    for c in columns {
        put_cstr(out, c.name.as_bytes());
        out.extend_from_slice(&c.table_oid.to_be_bytes());
        put_i16(out, c.attnum);
        out.extend_from_slice(&c.type_oid.to_be_bytes());
        put_i16(out, c.typlen);
        put_i32(out, c.typmod);
        put_i16(out, c.format);
    }
    finish(out, start);
}

/// RowDescription exactly as pgpool's `SHOW pool_*` / `PGPOOL SHOW` write it
/// (spec/sql-commands.md §1.1): table oid 0, attnum = 0-based column index, type oid 0,
/// typlen -1, typmod 0, text format.
pub fn row_description_pgpool(out: &mut Vec<u8>, names: &[&str]) {
    let start = begin(out, b'T');
    put_i16(out, names.len() as i16);
    for (i, name) in names.iter().enumerate() {
        put_cstr(out, name.as_bytes());
        put_i32(out, 0);
        put_i16(out, i as i16);
        put_i32(out, 0);
        put_i16(out, -1);
        put_i32(out, 0);
        put_i16(out, 0);
    }
    finish(out, start);
}

/// DataRow; `None` is SQL NULL (length -1).
pub fn data_row(out: &mut Vec<u8>, values: &[Option<&[u8]>]) {
    let start = begin(out, b'D');
    put_i16(out, values.len() as i16);
    for v in values {
        match v {
            None => put_i32(out, -1),
            Some(b) => {
                put_i32(out, b.len() as i32);
                out.extend_from_slice(b);
            }
        }
    }
    finish(out, start);
}

/// CommandComplete with a command tag such as `SELECT 3` or `SET`.
pub fn command_complete(out: &mut Vec<u8>, tag: &str) {
    let start = begin(out, b'C');
    put_cstr(out, tag.as_bytes());
    finish(out, start);
}

fn empty(out: &mut Vec<u8>, tag: u8) {
    let start = begin(out, tag);
    finish(out, start);
}

/// EmptyQueryResponse `I`.
pub fn empty_query_response(out: &mut Vec<u8>) {
    empty(out, b'I');
}

/// NoData `n`.
pub fn no_data(out: &mut Vec<u8>) {
    empty(out, b'n');
}

/// ParseComplete `1`.
pub fn parse_complete(out: &mut Vec<u8>) {
    empty(out, b'1');
}

/// BindComplete `2`.
pub fn bind_complete(out: &mut Vec<u8>) {
    empty(out, b'2');
}

/// CloseComplete `3`.
pub fn close_complete(out: &mut Vec<u8>) {
    empty(out, b'3');
}

/// Flush `H` (frontend).
pub fn flush(out: &mut Vec<u8>) {
    empty(out, b'H');
}

/// Sync `S` (frontend).
pub fn sync(out: &mut Vec<u8>) {
    empty(out, b'S');
}

/// PortalSuspended `s`.
pub fn portal_suspended(out: &mut Vec<u8>) {
    empty(out, b's');
}

/// Terminate `X` (frontend → backend).
pub fn terminate(out: &mut Vec<u8>) {
    empty(out, b'X');
}

/// Query `Q` (frontend → backend), e.g. a reset statement.
pub fn query(out: &mut Vec<u8>, sql: &str) {
    let start = begin(out, b'Q');
    put_cstr(out, sql.as_bytes());
    finish(out, start);
}

/// PasswordMessage `p` carrying `password` and a terminating NUL (frontend → backend).
pub fn password_message(out: &mut Vec<u8>, password: &[u8]) {
    let start = begin(out, b'p');
    put_cstr(out, password);
    finish(out, start);
}

/// SASLInitialResponse `p`: mechanism\0, int32 length of `data`, data.
pub fn sasl_initial_response(out: &mut Vec<u8>, mechanism: &str, data: &[u8]) {
    let start = begin(out, b'p');
    put_cstr(out, mechanism.as_bytes());
    put_i32(out, data.len() as i32);
    out.extend_from_slice(data);
    finish(out, start);
}

/// SASLResponse `p`: the data as is.
pub fn sasl_response(out: &mut Vec<u8>, data: &[u8]) {
    let start = begin(out, b'p');
    out.extend_from_slice(data);
    finish(out, start);
}

// ----------------------------------------------------------------------------------------------
// Parsers (borrowing views of a message body, i.e. without tag and length word)
// ----------------------------------------------------------------------------------------------

fn violation(what: &str) -> ProtocolError {
    ProtocolError::Violation(what.to_string())
}

/// Split one C string off the front of `b`: (string, rest after the NUL).
pub fn take_cstr(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = b.iter().position(|&c| c == 0)?;
    Some((&b[..nul], &b[nul + 1..]))
}

fn text(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

fn be_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// The fields of an ErrorResponse or NoticeResponse that pgpool looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFields<'a> {
    /// `S`: localized severity.
    pub severity: Cow<'a, str>,
    /// `V`: non-localized severity (PostgreSQL ≥ 9.6), if present.
    pub severity_raw: Option<Cow<'a, str>>,
    /// `C`: SQLSTATE.
    pub code: Cow<'a, str>,
    /// `M`: primary message.
    pub message: Cow<'a, str>,
    /// `D`
    pub detail: Option<Cow<'a, str>>,
    /// `H`
    pub hint: Option<Cow<'a, str>>,
}

impl ErrorFields<'_> {
    /// The severity to act on: `V` when present (not translated), else `S`.
    pub fn effective_severity(&self) -> &str {
        self.severity_raw.as_deref().unwrap_or(&self.severity)
    }

    /// FATAL or PANIC: the backend closes the connection after this message.
    pub fn is_fatal(&self) -> bool {
        matches!(self.effective_severity(), "FATAL" | "PANIC")
    }
}

/// Parse the body of an ErrorResponse/NoticeResponse. Unknown field codes are skipped.
pub fn parse_error_fields(body: &[u8]) -> Result<ErrorFields<'_>, ProtocolError> {
    let mut f = ErrorFields::default();
    let mut rest = body;
    loop {
        let (&code, after) = rest
            .split_first()
            .ok_or_else(|| violation("unterminated error message"))?;
        if code == 0 {
            return Ok(f);
        }
        let (value, after) =
            take_cstr(after).ok_or_else(|| violation("unterminated error field"))?;
        let v = text(value);
        match code {
            b'S' => f.severity = v,
            b'V' => f.severity_raw = Some(v),
            b'C' => f.code = v,
            b'M' => f.message = v,
            b'D' => f.detail = Some(v),
            b'H' => f.hint = Some(v),
            _ => {}
        }
        rest = after;
    }
}

/// ParameterStatus body → (name, value).
pub fn parse_parameter_status(body: &[u8]) -> Result<(Cow<'_, str>, Cow<'_, str>), ProtocolError> {
    let (name, rest) = take_cstr(body).ok_or_else(|| violation("invalid ParameterStatus"))?;
    let (value, _) = take_cstr(rest).ok_or_else(|| violation("invalid ParameterStatus"))?;
    Ok((text(name), text(value)))
}

/// BackendKeyData body → (pid, key). Protocol 3.0 keys only: the body must be 8 bytes.
pub fn parse_backend_key_data(body: &[u8]) -> Result<(u32, u32), ProtocolError> {
    if body.len() != 8 {
        return Err(ProtocolError::Violation(format!(
            "invalid messages length({}) for BackendKeyData",
            body.len() + 4
        )));
    }
    let pid = be_u32(&body[..4]).ok_or_else(|| violation("short BackendKeyData"))?;
    let key = be_u32(&body[4..]).ok_or_else(|| violation("short BackendKeyData"))?;
    Ok((pid, key))
}

/// ReadyForQuery body → transaction status (`I`, `T` or `E`).
pub fn parse_ready_for_query(body: &[u8]) -> Result<u8, ProtocolError> {
    match body {
        [s @ (b'I' | b'T' | b'E')] => Ok(*s),
        _ => Err(violation("invalid ReadyForQuery")),
    }
}

/// Query (`Q`) body → SQL text.
pub fn parse_query(body: &[u8]) -> Result<Cow<'_, str>, ProtocolError> {
    let (sql, _) = take_cstr(body).ok_or_else(|| violation("invalid Query message"))?;
    Ok(text(sql))
}

/// A Parse (`P`) message: statement name, SQL text and the number of parameter types given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseMsg<'a> {
    pub name: Cow<'a, str>,
    pub query: Cow<'a, str>,
    pub param_types: u16,
}

/// Parse (`P`) body → name, SQL text, parameter type count.
pub fn parse_parse(body: &[u8]) -> Result<ParseMsg<'_>, ProtocolError> {
    let (name, rest) = take_cstr(body).ok_or_else(|| violation("invalid Parse message"))?;
    let (query, rest) = take_cstr(rest).ok_or_else(|| violation("invalid Parse message"))?;
    let n = match rest {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => return Err(violation("invalid Parse message")),
    };
    if rest.len() < 2 + 4 * n as usize {
        return Err(violation("invalid Parse message"));
    }
    Ok(ParseMsg {
        name: text(name),
        query: text(query),
        param_types: n,
    })
}

/// An authentication request (`R`) from a backend, as a typed view of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRequest<'a> {
    Ok,
    CleartextPassword,
    Md5Password {
        salt: [u8; 4],
    },
    /// The mechanisms offered, in the server's order.
    Sasl(Vec<Cow<'a, str>>),
    SaslContinue(&'a [u8]),
    SaslFinal(&'a [u8]),
    /// Any other code (Kerberos, crypt, GSS, SSPI, ...): not supported by pgpool.
    Other(i32),
}

/// The int32 code at the start of an `R` body.
pub fn auth_request_code(body: &[u8]) -> Result<i32, ProtocolError> {
    be_u32(body)
        .map(|c| c as i32)
        .ok_or_else(|| violation("short authentication request"))
}

/// Parse an `R` body.
pub fn parse_auth_request(body: &[u8]) -> Result<AuthRequest<'_>, ProtocolError> {
    let code = auth_request_code(body)?;
    let data = &body[4..];
    Ok(match code {
        auth_code::OK => AuthRequest::Ok,
        auth_code::CLEARTEXT_PASSWORD => AuthRequest::CleartextPassword,
        auth_code::MD5_PASSWORD => {
            let salt: [u8; 4] = data
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| violation("short md5 authentication request"))?;
            AuthRequest::Md5Password { salt }
        }
        auth_code::SASL => {
            let mut mechs = Vec::new();
            let mut rest = data;
            loop {
                let (m, after) =
                    take_cstr(rest).ok_or_else(|| violation("invalid SASL mechanism list"))?;
                if m.is_empty() {
                    break;
                }
                mechs.push(text(m));
                rest = after;
            }
            AuthRequest::Sasl(mechs)
        }
        auth_code::SASL_CONTINUE => AuthRequest::SaslContinue(data),
        auth_code::SASL_FINAL => AuthRequest::SaslFinal(data),
        other => AuthRequest::Other(other),
    })
}

/// A SASLInitialResponse body: mechanism and the initial data (`None` when the client sent
/// length -1, "no initial response").
pub fn parse_sasl_initial_response(
    body: &[u8],
) -> Result<(Cow<'_, str>, Option<&[u8]>), ProtocolError> {
    let (mech, rest) = take_cstr(body).ok_or_else(|| violation("invalid SASLInitialResponse"))?;
    let len = be_u32(rest).ok_or_else(|| violation("invalid SASLInitialResponse"))? as i32;
    let data = &rest[4..];
    if len == -1 {
        return Ok((text(mech), None));
    }
    if len < 0 || len as usize != data.len() {
        return Err(violation("invalid SASLInitialResponse length"));
    }
    Ok((text(mech), Some(data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = b"junk".to_vec();
        f(&mut v);
        assert_eq!(&v[..4], b"junk", "builders append");
        let m = v[4..].to_vec();
        let len = u32::from_be_bytes([m[1], m[2], m[3], m[4]]) as usize;
        assert_eq!(len + 1, m.len(), "length word covers the body");
        m
    }

    #[test]
    fn auth_requests_have_postgres_layout() {
        assert_eq!(frame(auth_ok), b"R\0\0\0\x08\0\0\0\0");
        assert_eq!(frame(auth_cleartext), b"R\0\0\0\x08\0\0\0\x03");
        assert_eq!(
            frame(|o| auth_md5(o, *b"abcd")),
            b"R\0\0\0\x0c\0\0\0\x05abcd"
        );
        assert_eq!(
            frame(|o| auth_sasl(o, &["SCRAM-SHA-256"])),
            b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0"
        );
        assert_eq!(
            frame(|o| auth_sasl_continue(o, b"r=x")),
            b"R\0\0\0\x0b\0\0\0\x0br=x"
        );
        assert_eq!(
            frame(|o| auth_sasl_final(o, b"v=y")),
            b"R\0\0\0\x0b\0\0\0\x0cv=y"
        );
    }

    #[test]
    fn auth_request_round_trip() {
        let m = frame(|o| auth_md5(o, *b"wxyz"));
        assert_eq!(
            parse_auth_request(&m[5..]).unwrap(),
            AuthRequest::Md5Password { salt: *b"wxyz" }
        );
        let m = frame(|o| auth_sasl(o, &["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]));
        match parse_auth_request(&m[5..]).unwrap() {
            AuthRequest::Sasl(v) => assert_eq!(v, vec!["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_auth_request(&frame(auth_ok)[5..]).unwrap(),
            AuthRequest::Ok
        );
        assert_eq!(
            parse_auth_request(&[0, 0, 0, 7]).unwrap(),
            AuthRequest::Other(7)
        );
        assert!(parse_auth_request(&[0, 0, 0, 5, 1]).is_err());
        assert!(parse_auth_request(&[0, 0, 0, 10, b'x']).is_err());
        assert!(parse_auth_request(&[0, 0]).is_err());
    }

    #[test]
    fn backend_key_data_round_trip() {
        let m = frame(|o| backend_key_data(o, 4242, 0xdeadbeef));
        assert_eq!(m.len(), 13);
        assert_eq!(parse_backend_key_data(&m[5..]).unwrap(), (4242, 0xdeadbeef));
        assert!(parse_backend_key_data(&m[5..12]).is_err());
    }

    #[test]
    fn parameter_status_round_trip() {
        let m = frame(|o| parameter_status(o, "client_encoding", "UTF8"));
        assert_eq!(&m[5..], b"client_encoding\0UTF8\0");
        let (n, v) = parse_parameter_status(&m[5..]).unwrap();
        assert_eq!((n.as_ref(), v.as_ref()), ("client_encoding", "UTF8"));
        assert!(parse_parameter_status(b"x\0y").is_err());
    }

    #[test]
    fn ready_for_query_round_trip() {
        let m = frame(|o| ready_for_query(o, b'T'));
        assert_eq!(m, b"Z\0\0\0\x05T");
        assert_eq!(parse_ready_for_query(&m[5..]).unwrap(), b'T');
        assert!(parse_ready_for_query(b"X").is_err());
        assert!(parse_ready_for_query(b"").is_err());
    }

    #[test]
    fn error_response_round_trip() {
        let m = frame(|o| error_response(o, "FATAL", "28P01", "bad password", Some("d"), None));
        assert_eq!(m[0], b'E');
        let f = parse_error_fields(&m[5..]).unwrap();
        assert_eq!(f.severity, "FATAL");
        assert_eq!(f.code, "28P01");
        assert_eq!(f.message, "bad password");
        assert_eq!(f.detail.as_deref(), Some("d"));
        assert_eq!(f.hint, None);
        assert!(f.is_fatal());
        let n = frame(|o| notice_response(o, "NOTICE", "00000", "hi", None, Some("h")));
        assert_eq!(n[0], b'N');
        assert_eq!(
            parse_error_fields(&n[5..]).unwrap().hint.as_deref(),
            Some("h")
        );
    }

    #[test]
    fn error_fields_prefer_v_and_skip_unknown() {
        let body = b"SFATAL_LOCALIZED\0VERROR\0C42P01\0Mno table\0Ffile.c\0L12\0\0";
        let f = parse_error_fields(body).unwrap();
        assert_eq!(f.effective_severity(), "ERROR");
        assert!(!f.is_fatal());
        assert_eq!(f.message, "no table");
        assert!(parse_error_fields(b"SERROR\0").is_err());
        assert!(parse_error_fields(b"SERR").is_err());
        assert!(parse_error_fields(b"").is_err());
    }

    #[test]
    fn row_description_and_data_row() {
        let m = frame(|o| row_description(o, &[Column::text("a")]));
        assert_eq!(&m[5..7], &[0, 1]);
        assert_eq!(&m[7..9], b"a\0");
        assert_eq!(
            &m[9..],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]
        );
        let m = frame(|o| row_description_pgpool(o, &["x", "y"]));
        assert_eq!(&m[5..7], &[0, 2]);
        // second column: name, table oid 0, attnum 1, type 0, typlen -1, typmod 0, format 0
        let second = &m[7 + 2 + 18..];
        assert_eq!(
            second,
            &[b'y', 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0]
        );
        let m = frame(|o| data_row(o, &[Some(b"ab"), None, Some(b"")]));
        assert_eq!(
            &m[5..],
            &[0, 3, 0, 0, 0, 2, b'a', b'b', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]
        );
    }

    #[test]
    fn small_messages() {
        assert_eq!(
            frame(|o| command_complete(o, "SELECT 1")),
            b"C\0\0\0\x0dSELECT 1\0"
        );
        assert_eq!(frame(empty_query_response), b"I\0\0\0\x04");
        assert_eq!(frame(no_data), b"n\0\0\0\x04");
        assert_eq!(frame(parse_complete), b"1\0\0\0\x04");
        assert_eq!(frame(bind_complete), b"2\0\0\0\x04");
        assert_eq!(frame(close_complete), b"3\0\0\0\x04");
        assert_eq!(frame(portal_suspended), b"s\0\0\0\x04");
        assert_eq!(frame(terminate), b"X\0\0\0\x04");
        assert_eq!(frame(|o| password_message(o, b"pw")), b"p\0\0\0\x07pw\0");
    }

    #[test]
    fn query_and_parse_views() {
        let m = frame(|o| query(o, "SELECT 1"));
        assert_eq!(parse_query(&m[5..]).unwrap(), "SELECT 1");
        assert!(parse_query(b"no nul").is_err());
        let body = b"s1\0SELECT $1\0\0\x01\0\0\0\x17";
        let p = parse_parse(body).unwrap();
        assert_eq!(
            (p.name.as_ref(), p.query.as_ref(), p.param_types),
            ("s1", "SELECT $1", 1)
        );
        assert!(parse_parse(b"s1\0SELECT $1\0\0\x02\0\0\0\x17").is_err());
        assert!(parse_parse(b"\0q\0").is_err());
    }

    /// Walk every frame `Conn::frame_at` finds in `data` and run the inspecting parsers on
    /// each body; `read_message` on the same bytes must agree. Used by the proptest below and
    /// shared with the fuzz target's logic.
    fn walk(data: &[u8]) {
        use crate::protocol::Conn;
        use std::io::Write;
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        b.write_all(data).unwrap();
        drop(b);
        let mut conn = Conn::new(a.into());
        while !conn.at_eof() {
            conn.fill().unwrap();
        }
        let mut off = 0;
        let mut frames = Vec::new();
        while let Ok(Some(h)) = conn.frame_at(off, 1 << 20) {
            assert!(h.total >= 5);
            if off + h.total > conn.buffered().len() {
                break;
            }
            let body = &conn.buffered()[off + 5..off + h.total];
            let _ = parse_error_fields(body);
            let _ = parse_parameter_status(body);
            let _ = parse_backend_key_data(body);
            let _ = parse_ready_for_query(body);
            let _ = parse_query(body);
            let _ = parse_parse(body);
            let _ = parse_auth_request(body);
            let _ = parse_sasl_initial_response(body);
            frames.push((h.tag, body.to_vec()));
            off += h.total;
        }
        for (tag, body) in frames {
            let m = conn
                .read_message(1 << 20, Some(std::time::Duration::from_secs(1)))
                .unwrap();
            assert_eq!((m.tag, m.body), (tag, body));
        }
    }

    proptest::proptest! {
        #[test]
        fn framing_and_parsers_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            walk(&data);
        }

        #[test]
        fn well_formed_frames_are_found(bodies in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), 0..8)) {
            let mut data = Vec::new();
            for b in &bodies {
                let st = begin(&mut data, b'd');
                data.extend_from_slice(b);
                finish(&mut data, st);
            }
            walk(&data);
        }
    }

    #[test]
    fn sasl_initial_response_round_trip() {
        let m = frame(|o| sasl_initial_response(o, "SCRAM-SHA-256", b"n,,n=,r=abc"));
        let (mech, data) = parse_sasl_initial_response(&m[5..]).unwrap();
        assert_eq!(mech, "SCRAM-SHA-256");
        assert_eq!(data, Some(&b"n,,n=,r=abc"[..]));
        let (_, none) = parse_sasl_initial_response(b"SCRAM-SHA-256\0\xff\xff\xff\xff").unwrap();
        assert_eq!(none, None);
        assert!(parse_sasl_initial_response(b"SCRAM-SHA-256\0\0\0\0\x09abc").is_err());
        assert_eq!(frame(|o| sasl_response(o, b"c=biws")), b"p\0\0\0\x0ac=biws");
    }
}
