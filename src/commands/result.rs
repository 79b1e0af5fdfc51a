//! Wire encoding of the replies pgpool originates for intercepted commands (protocol v3,
//! spec/sql-commands.md §1.1): one RowDescription whose columns all have table OID 0, 0-based
//! attribute numbers, type OID 0, size −1, modifier 0 and text format; DataRows that are never
//! NULL; CommandComplete; ReadyForQuery `I`; and pgpool's ErrorResponse (`S`, `C` XX000, `M`,
//! optional `D`/`H`, no `V`, no `F`/`L`). Small and self-contained on purpose.

/// Append a message: tag, then the int32 length (which counts itself), then `body`'s bytes,
/// written by `body` into the buffer in place.
fn message(buf: &mut Vec<u8>, tag: u8, body: impl FnOnce(&mut Vec<u8>)) {
    buf.push(tag);
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    body(buf);
    let len =
        i32::try_from(buf.len() - at).expect("an intercepted-command reply stays far below 2 GB");
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// A C string field: the text up to any NUL it may contain, then the terminator.
fn cstr(buf: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    buf.extend_from_slice(&b[..end]);
    buf.push(0);
}

/// A result set being encoded: RowDescription first, then one DataRow per `row`, and
/// `finish` adds `CommandComplete "SELECT n"` and `ReadyForQuery 'I'`.
#[derive(Debug)]
pub struct ResultSet {
    buf: Vec<u8>,
    ncols: usize,
    nrows: usize,
}

impl ResultSet {
    /// Start a result with these column names (RowDescription).
    pub fn new<S: AsRef<str>>(columns: &[S]) -> ResultSet {
        let mut buf = Vec::with_capacity(64 + columns.len() * 32);
        let n = i16::try_from(columns.len()).expect("a report has far fewer than 32768 columns");
        message(&mut buf, b'T', |b| {
            b.extend_from_slice(&n.to_be_bytes());
            for (i, name) in columns.iter().enumerate() {
                cstr(b, name.as_ref());
                b.extend_from_slice(&0i32.to_be_bytes()); // table OID
                b.extend_from_slice(&(i as i16).to_be_bytes()); // attribute number
                b.extend_from_slice(&0i32.to_be_bytes()); // type OID
                b.extend_from_slice(&(-1i16).to_be_bytes()); // type size
                b.extend_from_slice(&0i32.to_be_bytes()); // type modifier
                b.extend_from_slice(&0i16.to_be_bytes()); // format: text
            }
        });
        ResultSet {
            buf,
            ncols: columns.len(),
            nrows: 0,
        }
    }

    /// Add one DataRow. The number of fields must equal the number of columns.
    pub fn row<S: AsRef<[u8]>>(&mut self, fields: &[S]) {
        debug_assert_eq!(
            fields.len(),
            self.ncols,
            "DataRow width differs from RowDescription"
        );
        let n = self.ncols as i16;
        message(&mut self.buf, b'D', |b| {
            b.extend_from_slice(&n.to_be_bytes());
            for f in fields {
                let f = f.as_ref();
                let len = i32::try_from(f.len()).expect("a field stays far below 2 GB");
                b.extend_from_slice(&len.to_be_bytes());
                b.extend_from_slice(f);
            }
        });
        self.nrows += 1;
    }

    /// Number of DataRows so far.
    pub fn rows(&self) -> usize {
        self.nrows
    }

    /// CommandComplete `SELECT n` and ReadyForQuery `I`: the complete reply.
    pub fn finish(mut self) -> Vec<u8> {
        let tag = format!("SELECT {}", self.nrows);
        complete_into(&mut self.buf, &tag);
        self.buf
    }
}

fn complete_into(buf: &mut Vec<u8>, tag: &str) {
    message(buf, b'C', |b| cstr(b, tag));
    ready_into(buf);
}

fn ready_into(buf: &mut Vec<u8>) {
    message(buf, b'Z', |b| b.push(b'I'));
}

/// CommandComplete with `tag` (`SET`, `RESET`) and ReadyForQuery `I`.
pub fn command_complete(tag: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(32);
    complete_into(&mut buf, tag);
    buf
}

/// pgpool's ErrorResponse for these commands (severity ERROR, SQLSTATE XX000) followed by
/// ReadyForQuery `I`.
pub fn error(message_text: &str, detail: Option<&str>, hint: Option<&str>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64 + message_text.len());
    message(&mut buf, b'E', |b| {
        b.push(b'S');
        cstr(b, "ERROR");
        b.push(b'C');
        cstr(b, "XX000");
        b.push(b'M');
        cstr(b, message_text);
        if let Some(d) = detail {
            b.push(b'D');
            cstr(b, d);
        }
        if let Some(h) = hint {
            b.push(b'H');
            cstr(b, h);
        }
        b.push(0);
    });
    ready_into(&mut buf);
    buf
}

/// Split a reply into (tag, body) messages; test helper.
#[cfg(test)]
pub(crate) fn split_messages(mut buf: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while buf.len() >= 5 {
        let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        out.push((buf[0], buf[5..1 + len].to_vec()));
        buf = &buf[1 + len..];
    }
    assert!(buf.is_empty(), "trailing bytes");
    out
}

/// Decode a result reply into (column names, rows, CommandComplete tag); test helper.
#[cfg(test)]
pub(crate) fn decode(buf: &[u8]) -> (Vec<String>, Vec<Vec<String>>, String) {
    let msgs = split_messages(buf);
    let tags: Vec<u8> = msgs.iter().map(|m| m.0).collect();
    assert_eq!(
        tags.iter().filter(|&&t| t == b'T').count(),
        1,
        "exactly one RowDescription"
    );
    assert_eq!(tags.last(), Some(&b'Z'));
    let mut cols = Vec::new();
    let mut rows = Vec::new();
    let mut tag = String::new();
    for (t, body) in msgs {
        match t {
            b'T' => {
                let n = i16::from_be_bytes([body[0], body[1]]) as usize;
                let mut p = 2;
                for i in 0..n {
                    let end = p + body[p..].iter().position(|&b| b == 0).unwrap();
                    cols.push(String::from_utf8(body[p..end].to_vec()).unwrap());
                    p = end + 1;
                    let attnum = i16::from_be_bytes([body[p + 4], body[p + 5]]);
                    assert_eq!(attnum as usize, i);
                    p += 18;
                }
            }
            b'D' => {
                let n = i16::from_be_bytes([body[0], body[1]]) as usize;
                assert_eq!(n, cols.len());
                let mut p = 2;
                let mut row = Vec::new();
                for _ in 0..n {
                    let len = i32::from_be_bytes([body[p], body[p + 1], body[p + 2], body[p + 3]]);
                    assert!(len >= 0, "never NULL");
                    p += 4;
                    row.push(String::from_utf8(body[p..p + len as usize].to_vec()).unwrap());
                    p += len as usize;
                }
                rows.push(row);
            }
            b'C' => tag = String::from_utf8(body[..body.len() - 1].to_vec()).unwrap(),
            _ => {}
        }
    }
    (cols, rows, tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_description_and_data_row_are_byte_exact() {
        let mut rs = ResultSet::new(&["ab", "c"]);
        rs.row(&["1", ""]);
        let out = rs.finish();
        let mut want: Vec<u8> = Vec::new();
        // T: len = 4 + 2 + ("ab\0" + 18) + ("c\0" + 18) = 47
        want.extend_from_slice(b"T\0\0\0\x2f\0\x02");
        want.extend_from_slice(b"ab\0\0\0\0\0\0\0\0\0\0\0\xff\xff\0\0\0\0\0\0");
        want.extend_from_slice(b"c\0\0\0\0\0\0\x01\0\0\0\0\xff\xff\0\0\0\0\0\0");
        // D: len = 4 + 2 + (4 + 1) + (4 + 0) = 15
        want.extend_from_slice(b"D\0\0\0\x0f\0\x02\0\0\0\x011\0\0\0\0");
        want.extend_from_slice(b"C\0\0\0\x0dSELECT 1\0");
        want.extend_from_slice(b"Z\0\0\0\x05I");
        assert_eq!(out, want);
    }

    #[test]
    fn empty_result_still_has_one_row_description() {
        let out = ResultSet::new(&["pool_version"]).finish();
        let (cols, rows, tag) = decode(&out);
        assert_eq!(
            (cols, rows.len(), tag.as_str()),
            (vec!["pool_version".to_owned()], 0, "SELECT 0")
        );
    }

    #[test]
    fn command_complete_and_ready() {
        assert_eq!(
            command_complete("SET"),
            b"C\0\0\0\x08SET\0Z\0\0\0\x05I".to_vec()
        );
        assert_eq!(
            command_complete("RESET"),
            b"C\0\0\0\x0aRESET\0Z\0\0\0\x05I".to_vec()
        );
    }

    #[test]
    fn error_response_has_pgpool_fields_and_no_v() {
        let out = error("config variable \"nosuch\" not found", None, None);
        let body = b"SERROR\0CXX000\0Mconfig variable \"nosuch\" not found\0\0";
        let mut want = vec![b'E'];
        want.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        want.extend_from_slice(body);
        want.extend_from_slice(b"Z\0\0\0\x05I");
        assert_eq!(out, want);

        let out = error("m", Some("d"), Some("h\0cut"));
        assert_eq!(&out[5..out.len() - 6], b"SERROR\0CXX000\0Mm\0Dd\0Hh\0\0");
    }
}
