//! A minimal raw protocol-v3 client for the tests that must see exactly what goes over the
//! wire (how many RowDescriptions a reply has, or that a refused client is never sent
//! AuthenticationOk or query results even if it ignores the error). Every read is bounded.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::HOST;

/// Bound on one read; a test waiting longer than this fails.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Wire {
    stream: TcpStream,
}

/// One backend message: type byte and body (without the length word).
#[derive(Debug, Clone)]
pub struct Msg {
    pub tag: u8,
    pub body: Vec<u8>,
}

impl Msg {
    /// The authentication request code of an `R` message.
    pub fn auth_code(&self) -> Option<i32> {
        (self.tag == b'R' && self.body.len() >= 4).then(|| be_i32(&self.body[..4]))
    }

    /// Fields of an ErrorResponse / NoticeResponse, keyed by field type (`S`, `C`, `M`, `D`…).
    pub fn fields(&self) -> HashMap<char, String> {
        let mut out = HashMap::new();
        for field in self.body.split(|&b| b == 0) {
            if let Some((&t, v)) = field.split_first() {
                out.insert(t as char, String::from_utf8_lossy(v).into_owned());
            }
        }
        out
    }

    /// Column names of a RowDescription.
    pub fn columns(&self) -> Vec<String> {
        assert_eq!(self.tag, b'T', "not a RowDescription: {self:?}");
        let n = be_i16(&self.body[..2]) as usize;
        let mut off = 2;
        let mut names = Vec::with_capacity(n);
        for _ in 0..n {
            let end = off
                + self.body[off..]
                    .iter()
                    .position(|&b| b == 0)
                    .expect("NUL-terminated column name");
            names.push(String::from_utf8_lossy(&self.body[off..end]).into_owned());
            off = end + 1 + 18; // table oid, attnum, type oid, size, typmod, format
        }
        names
    }

    /// Values of a DataRow (`None` for NULL).
    pub fn values(&self) -> Vec<Option<String>> {
        assert_eq!(self.tag, b'D', "not a DataRow: {self:?}");
        let n = be_i16(&self.body[..2]) as usize;
        let mut off = 2;
        let mut vals = Vec::with_capacity(n);
        for _ in 0..n {
            let len = be_i32(&self.body[off..off + 4]);
            off += 4;
            if len < 0 {
                vals.push(None);
            } else {
                let len = len as usize;
                vals.push(Some(
                    String::from_utf8_lossy(&self.body[off..off + len]).into_owned(),
                ));
                off += len;
            }
        }
        vals
    }

    /// The NUL-terminated text of a CommandComplete.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.body.strip_suffix(&[0]).unwrap_or(&self.body)).into_owned()
    }
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_i16(b: &[u8]) -> i16 {
    i16::from_be_bytes([b[0], b[1]])
}

impl Wire {
    /// Connect to 127.0.0.1:`port` and send a v3 startup packet for `user`/`db` byte-identical
    /// to the `postgres` crate's (client_encoding, user, database), so that this client and the
    /// crate's can share a pooled connection (pgpool reuses one only for the same packet).
    pub fn start(port: u16, user: &str, db: &str) -> Wire {
        let stream = TcpStream::connect((HOST, port))
            .unwrap_or_else(|e| panic!("connect to {HOST}:{port}: {e}"));
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set a read timeout");
        let mut body = Vec::new();
        body.extend_from_slice(&196608i32.to_be_bytes());
        for (k, v) in [
            ("client_encoding", "UTF8"),
            ("user", user),
            ("database", db),
        ] {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut w = Wire { stream };
        let mut pkt = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        pkt.extend_from_slice(&body);
        w.write(&pkt);
        w
    }

    fn write(&mut self, bytes: &[u8]) {
        // A peer that already closed may make this fail; what it sent before is still readable.
        let _ = self.stream.write_all(bytes);
    }

    /// Send one frontend message.
    pub fn send(&mut self, tag: u8, body: &[u8]) {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        m.extend_from_slice(body);
        self.write(&m);
    }

    /// Send a PasswordMessage (`p`) with `text` and its NUL.
    pub fn send_password(&mut self, text: &[u8]) {
        let mut body = text.to_vec();
        body.push(0);
        self.send(b'p', &body);
    }

    /// Send a simple Query.
    pub fn send_query(&mut self, sql: &str) {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.send(b'Q', &body);
    }

    /// The next message, or `None` once the server closed the connection. Panics on a timeout.
    pub fn recv(&mut self) -> Option<Msg> {
        let mut head = [0u8; 5];
        if !self.read_exact_or_eof(&mut head) {
            return None;
        }
        let len = be_i32(&head[1..]) as usize;
        assert!(
            (4..=1 << 24).contains(&len),
            "bad message length {len} (tag {:?})",
            head[0] as char
        );
        let mut body = vec![0u8; len - 4];
        if !self.read_exact_or_eof(&mut body) {
            panic!("connection closed inside a {:?} message", head[0] as char);
        }
        Some(Msg { tag: head[0], body })
    }

    fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> bool {
        let mut got = 0;
        while got < buf.len() {
            match self.stream.read(&mut buf[got..]) {
                Ok(0) => return false,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return false,
                Err(e) => panic!("read from the server: {e} (after {got} bytes)"),
            }
        }
        true
    }

    /// Every message until (and including) ReadyForQuery; panics if the connection closes.
    pub fn until_ready(&mut self) -> Vec<Msg> {
        let mut out = Vec::new();
        loop {
            let m = self
                .recv()
                .unwrap_or_else(|| panic!("connection closed before ReadyForQuery: {out:?}"));
            let done = m.tag == b'Z';
            out.push(m);
            if done {
                return out;
            }
        }
    }

    /// Every message until the server closes the connection (bounded by the read timeout).
    pub fn until_closed(&mut self) -> Vec<Msg> {
        let mut out = Vec::new();
        while let Some(m) = self.recv() {
            out.push(m);
            assert!(
                out.len() < 10_000,
                "the server keeps talking: {:?}",
                &out[..20]
            );
        }
        out
    }

    /// Send a simple Query and return the reply up to ReadyForQuery.
    pub fn query(&mut self, sql: &str) -> Vec<Msg> {
        self.send_query(sql);
        self.until_ready()
    }

    /// Send Terminate.
    pub fn terminate(mut self) {
        self.send(b'X', &[]);
    }
}

/// `"md5" + md5hex(md5hex(password ‖ user) ‖ salt)`, the answer to AuthenticationMD5Password.
pub fn md5_answer(user: &str, password: &str, salt: &[u8]) -> String {
    let inner = md5_hex(format!("{password}{user}").as_bytes());
    let mut outer = inner.into_bytes();
    outer.extend_from_slice(salt);
    format!("md5{}", md5_hex(&outer))
}

/// 32 lowercase hex digits of MD5(data).
pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
