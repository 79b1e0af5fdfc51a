//! The PostgreSQL v3 wire protocol written and read by hand over a plain TCP socket, for tests
//! that need what no client library lets them do: malformed packets, pipelines in one write,
//! the exact messages a server sends (ParameterStatus, an unsolicited ErrorResponse).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::HOST;

/// Bound on every read, so a silent peer fails the test instead of hanging it.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One backend message: its type byte and body (without the length word).
#[derive(Debug, Clone)]
pub struct Message {
    pub tag: u8,
    pub body: Vec<u8>,
}

impl Message {
    /// Fields of an ErrorResponse / NoticeResponse by field code (`C` SQLSTATE, `M` message, ...).
    pub fn fields(&self) -> HashMap<char, String> {
        let mut out = HashMap::new();
        let mut rest = &self.body[..];
        while let Some((&code, tail)) = rest.split_first() {
            if code == 0 {
                break;
            }
            let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
            out.insert(
                code as char,
                String::from_utf8_lossy(&tail[..end]).into_owned(),
            );
            rest = tail.get(end + 1..).unwrap_or_default();
        }
        out
    }

    /// The NUL-terminated strings of the body (ParameterStatus, CommandComplete).
    pub fn strings(&self) -> Vec<String> {
        self.body
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    /// The columns of a DataRow as text (`None` for NULL).
    pub fn data_row(&self) -> Vec<Option<String>> {
        assert_eq!(self.tag, b'D', "not a DataRow: {self:?}");
        let n = u16::from_be_bytes([self.body[0], self.body[1]]) as usize;
        let mut off = 2;
        let mut cols = Vec::with_capacity(n);
        for _ in 0..n {
            let len = i32::from_be_bytes(self.body[off..off + 4].try_into().expect("4 bytes"));
            off += 4;
            if len < 0 {
                cols.push(None);
            } else {
                let len = len as usize;
                cols.push(Some(
                    String::from_utf8_lossy(&self.body[off..off + len]).into_owned(),
                ));
                off += len;
            }
        }
        cols
    }
}

/// A message with a type byte: tag, length word, body.
pub fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(tag);
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A v3.0 StartupMessage with `params` (user, database, ...).
pub fn startup_packet(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196608u32.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = (body.len() as u32 + 4).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// Query (simple protocol).
pub fn query(sql: &str) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, sql);
    message(b'Q', &body)
}

/// Parse of `sql` as statement `name`, parameter types left to the server.
pub fn parse(name: &str, sql: &str) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, name);
    cstr(&mut body, sql);
    body.extend_from_slice(&0u16.to_be_bytes());
    message(b'P', &body)
}

/// Bind of statement `stmt` to portal `portal` with text parameters and text results.
pub fn bind(portal: &str, stmt: &str, params: &[&str]) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, portal);
    cstr(&mut body, stmt);
    body.extend_from_slice(&0u16.to_be_bytes()); // all parameters in text
    body.extend_from_slice(&(params.len() as u16).to_be_bytes());
    for p in params {
        body.extend_from_slice(&(p.len() as i32).to_be_bytes());
        body.extend_from_slice(p.as_bytes());
    }
    body.extend_from_slice(&0u16.to_be_bytes()); // all results in text
    message(b'B', &body)
}

/// Execute of `portal`, all rows.
pub fn execute(portal: &str) -> Vec<u8> {
    execute_rows(portal, 0)
}

/// Execute of `portal`, at most `max_rows` rows (0: all); a portal with more answers
/// PortalSuspended.
pub fn execute_rows(portal: &str, max_rows: u32) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, portal);
    body.extend_from_slice(&max_rows.to_be_bytes());
    message(b'E', &body)
}

/// Describe of a statement (`kind` b'S') or portal (b'P').
pub fn describe(kind: u8, name: &str) -> Vec<u8> {
    let mut body = vec![kind];
    cstr(&mut body, name);
    message(b'D', &body)
}

/// Close of a statement (`kind` b'S') or portal (b'P').
pub fn close(kind: u8, name: &str) -> Vec<u8> {
    let mut body = vec![kind];
    cstr(&mut body, name);
    message(b'C', &body)
}

pub fn flush() -> Vec<u8> {
    message(b'H', &[])
}

pub fn copy_data(data: &[u8]) -> Vec<u8> {
    message(b'd', data)
}

pub fn copy_done() -> Vec<u8> {
    message(b'c', &[])
}

pub fn sync() -> Vec<u8> {
    message(b'S', &[])
}

/// A CancelRequest packet (sent alone on a new connection) for backend `pid` and `key`.
pub fn cancel_request(pid: i32, key: i32) -> Vec<u8> {
    [16i32, 80877102, pid, key]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

pub fn terminate() -> Vec<u8> {
    message(b'X', &[])
}

/// A raw client connection.
pub struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    /// A TCP connection to `port` on the test host; nothing sent yet.
    pub fn connect(port: u16) -> Wire {
        let stream = TcpStream::connect((HOST, port))
            .unwrap_or_else(|e| panic!("connect to {HOST}:{port}: {e}"));
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set a read timeout");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Wire {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connect and log in as `user` to `db` (trust authentication) with extra startup `params`;
    /// returns the connection after the first ReadyForQuery and everything the server sent
    /// before it.
    pub fn login(port: u16, user: &str, db: &str, params: &[(&str, &str)]) -> (Wire, Vec<Message>) {
        let mut w = Wire::connect(port);
        let mut all = vec![("user", user), ("database", db)];
        all.extend_from_slice(params);
        w.send(&startup_packet(&all));
        let msgs = w.read_until_ready();
        let auth = msgs.first().expect("a reply to the startup packet");
        assert!(
            auth.tag == b'R' && auth.body == [0, 0, 0, 0],
            "expected AuthenticationOk, got {msgs:?}"
        );
        (w, msgs)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the server");
    }

    /// How long a read waits before the test fails (10 s unless set).
    pub fn set_read_timeout(&mut self, t: Duration) {
        self.stream
            .set_read_timeout(Some(t))
            .expect("set a read timeout");
    }

    /// Vanish as a crashed client does: close with a reset (SO_LINGER 0), so the server's
    /// next write to this connection fails.
    pub fn abort(self) {
        let off = nix::sys::socket::sockopt::Linger;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        nix::sys::socket::setsockopt(&self.stream, off, &linger).expect("SO_LINGER 0");
        drop(self.stream);
    }

    /// Send without failing the test when the peer is already gone.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next message; `Ok(None)` at a clean EOF between messages.
    pub fn try_read(&mut self) -> std::io::Result<Option<Message>> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes(self.buf[1..5].try_into().expect("4 bytes")) as usize;
                assert!(len >= 4, "message length {len} < 4 from the server");
                if self.buf.len() > len {
                    let body = self.buf[5..1 + len].to_vec();
                    let tag = self.buf[0];
                    self.buf.drain(..1 + len);
                    return Ok(Some(Message { tag, body }));
                }
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("EOF inside a message ({} bytes buffered)", self.buf.len()),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next message; panics on EOF, a read error or the read timeout.
    pub fn read(&mut self) -> Message {
        match self.try_read() {
            Ok(Some(m)) => m,
            Ok(None) => panic!("the server closed the connection"),
            Err(e) => panic!("read from the server: {e}"),
        }
    }

    /// Messages up to and including the next ReadyForQuery.
    pub fn read_until_ready(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        loop {
            let m = self.read();
            let done = m.tag == b'Z';
            out.push(m);
            if done {
                return out;
            }
        }
    }

    /// Every message that arrives until none has for `idle`: the whole answer to a Flush from a
    /// server that answers at once. The normal read timeout is restored afterwards.
    pub fn read_idle(&mut self, idle: Duration) -> Vec<Message> {
        self.stream
            .set_read_timeout(Some(idle))
            .expect("set a read timeout");
        let mut out = Vec::new();
        let end = loop {
            match self.try_read() {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break Some("the server closed the connection".to_string()),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break None
                }
                Err(e) => break Some(format!("read from the server: {e}")),
            }
        };
        self.stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set a read timeout");
        if let Some(why) = end {
            panic!("{why} (after {out:?})");
        }
        out
    }

    /// Read whatever arrives, without parsing it, until the server closes the connection or
    /// stays silent for `idle`; true when it closed. For sessions whose input was garbage: it
    /// never panics.
    pub fn drain(&mut self, idle: Duration) -> bool {
        self.stream
            .set_read_timeout(Some(idle))
            .expect("set a read timeout");
        let mut chunk = [0u8; 64 * 1024];
        let closed = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break false
                }
                Err(_) => break true,
            }
        };
        self.buf.clear();
        let _ = self.stream.set_read_timeout(Some(READ_TIMEOUT));
        closed
    }

    /// Every message until the server closes the connection (EOF or reset); `Err` when it is
    /// still open after the read timeout.
    pub fn read_to_close(&mut self) -> std::io::Result<Vec<Message>> {
        let mut out = Vec::new();
        loop {
            match self.try_read() {
                Ok(Some(m)) => out.push(m),
                Ok(None) => return Ok(out),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(out),
                Err(e) => return Err(e),
            }
        }
    }
}
