//! A buffered, blocking message connection over one socket: the single read buffer and write
//! path every client and backend socket uses. Hot-path callers look at frames in place
//! (`frame_at`, `consume`) and forward slices; set-up code reads whole messages (`read_message`).
//! A connection that negotiated TLS reads and writes through its `TlsStream` instead of the
//! socket; plaintext connections pay one predictable branch per read and write for that.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::ProtocolError;
use crate::tls::TlsStream;

/// Initial read buffer size; it grows only to hold a whole message that set-up code asked for.
const READ_CHUNK: usize = 64 * 1024;

/// The header of a frame found in the read buffer: tag byte and total length including the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    pub tag: u8,
    /// Tag (1) + length word (4) + body.
    pub total: usize,
}

/// One whole message read by set-up code (authentication, startup, reset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub tag: u8,
    pub body: Vec<u8>,
}

/// A socket with one reusable read buffer.
#[derive(Debug)]
pub struct Conn {
    fd: OwnedFd,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Set once TLS is negotiated; boxed so plaintext connections stay small.
    tls: Option<Box<TlsStream>>,
}

impl Conn {
    pub fn new(fd: OwnedFd) -> Conn {
        Conn {
            fd,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            eof: false,
            tls: None,
        }
    }

    /// A connection that reads into `buf`, a buffer kept from an earlier connection (its old
    /// content is never exposed: only bytes read from `fd` are buffered). Saves clearing a new
    /// buffer for every client.
    pub fn with_buffer(fd: OwnedFd, mut buf: Vec<u8>) -> Conn {
        if buf.len() < READ_CHUNK {
            buf.resize(READ_CHUNK, 0);
        }
        Conn {
            fd,
            buf,
            start: 0,
            end: 0,
            eof: false,
            tls: None,
        }
    }

    /// Close the connection and hand its read buffer back for the next one (dropped instead when
    /// it grew past four read chunks, so one large message does not stay resident).
    pub fn into_buffer(self) -> Vec<u8> {
        if self.buf.len() > 4 * READ_CHUNK {
            Vec::new()
        } else {
            self.buf
        }
    }

    /// From now on read and write through `tls` (after a successful handshake).
    pub fn set_tls(&mut self, tls: TlsStream) {
        self.tls = Some(Box::new(tls));
    }

    /// True once TLS is established on this connection.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The commonName of the client certificate presented in the TLS handshake (spec/auth.md
    /// §5.3; what the `cert` hba method compares). None: no TLS, no certificate, or no CN.
    pub fn peer_cert_cn(&self) -> Option<&str> {
        self.tls.as_ref().and_then(|t| t.peer_cn())
    }

    /// `tls-server-end-point` channel-binding data of our certificate (TLS only).
    pub fn tls_server_end_point(&self) -> Option<Vec<u8>> {
        self.tls.as_ref().and_then(|t| t.server_end_point())
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Bytes read from the socket but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// True once a read returned end of file.
    pub fn at_eof(&self) -> bool {
        self.eof
    }

    /// Drop `n` buffered bytes (they were handled or forwarded).
    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.end - self.start);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// One read(2) into free buffer space. Ok(0) means end of file. EINTR is returned to the
    /// caller as `ErrorKind::Interrupted` so signal flags can be checked.
    pub fn fill(&mut self) -> io::Result<usize> {
        if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grow = self.buf.len();
            self.buf.resize(self.buf.len() + grow, 0);
        }
        let n = match &self.tls {
            None => nix::unistd::read(self.fd.as_raw_fd(), &mut self.buf[self.end..])
                .map_err(io::Error::from)?,
            Some(_) => self.fill_tls()?,
        };
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
        Ok(n)
    }

    /// The TLS read: one record, then whatever OpenSSL still holds decrypted, so that no
    /// readable byte hides from poll(2) behind the socket (spec/auth.md §5.5).
    fn fill_tls(&mut self) -> io::Result<usize> {
        let tls = self.tls.as_ref().expect("called on TLS connections only");
        let mut n = tls.read(&mut self.buf[self.end..])?;
        loop {
            let pending = tls.pending();
            if n == 0 || pending == 0 {
                return Ok(n);
            }
            let at = self.end + n;
            if self.buf.len() - at < pending {
                self.buf.resize(at + pending, 0);
            }
            let m = tls.read(&mut self.buf[at..])?;
            if m == 0 {
                return Ok(n);
            }
            n += m;
        }
    }

    /// Make room so that `need` bytes from `start` fit in the buffer.
    fn reserve(&mut self, need: usize) {
        if self.buf.len() - self.start < need {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
        }
    }

    /// The frame header at buffer offset `off` (relative to the unconsumed data), if the five
    /// header bytes are there. A length word below 4 or above `max` is a protocol violation.
    pub fn frame_at(&self, off: usize, max: usize) -> Result<Option<FrameHead>, ProtocolError> {
        let b = self.buffered();
        if b.len() < off + 5 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([b[off + 1], b[off + 2], b[off + 3], b[off + 4]]) as usize;
        if len < 4 || len > max {
            return Err(ProtocolError::BadLength { tag: b[off], len });
        }
        Ok(Some(FrameHead {
            tag: b[off],
            total: len + 1,
        }))
    }

    /// Wait until the socket is readable or `deadline` passes. Ok(false) = timed out.
    pub fn wait_readable(&self, deadline: Option<Instant>) -> io::Result<bool> {
        if !self.buffered().is_empty() {
            return Ok(true);
        }
        wait_fd(self.fd.as_raw_fd(), PollFlags::POLLIN, deadline)
    }

    /// Read until at least `n` bytes are buffered.
    fn fill_to(&mut self, n: usize, deadline: Option<Instant>) -> Result<(), ProtocolError> {
        self.reserve(n);
        while self.end - self.start < n {
            if !wait_fd(self.fd.as_raw_fd(), PollFlags::POLLIN, deadline)? {
                return Err(ProtocolError::Timeout);
            }
            match self.fill() {
                Ok(0) => return Err(ProtocolError::Eof),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Read one whole tagged message (blocking, optional timeout). `max` bounds its length word.
    pub fn read_message(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<Message, ProtocolError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        self.fill_to(5, deadline)?;
        let head = self.frame_at(0, max)?.expect("five bytes are buffered");
        self.fill_to(head.total, deadline)?;
        let b = self.buffered();
        let msg = Message {
            tag: head.tag,
            body: b[5..head.total].to_vec(),
        };
        self.consume(head.total);
        Ok(msg)
    }

    /// Read exactly `n` untagged bytes (startup packet length word and body, SSL answers).
    pub fn read_exact(
        &mut self,
        n: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, ProtocolError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        self.fill_to(n, deadline)?;
        let v = self.buffered()[..n].to_vec();
        self.consume(n);
        Ok(v)
    }

    /// Write all of `data`, waiting for the socket to drain when it is non-blocking.
    pub fn write_all(&self, data: &[u8]) -> io::Result<()> {
        match &self.tls {
            None => write_all_fd(self.fd.as_raw_fd(), data),
            Some(t) => t.write_all(data),
        }
    }

    /// Write one tagged message built from `tag` and `body`.
    pub fn write_message(&self, tag: u8, body: &[u8]) -> io::Result<()> {
        let mut m = Vec::with_capacity(body.len() + 5);
        m.push(tag);
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        self.write_all(&m)
    }

    /// Give the socket back (the buffer must be empty or the caller accepts losing it; a TLS
    /// session is dropped with it).
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

/// Set once a process is told to exit now (a child's SIGINT or SIGQUIT): from then on a wait
/// that a signal interrupts ends with an error instead of going on.
static WAITS_CUT: AtomicBool = AtomicBool::new(false);

/// Cut every later interrupted wait of this process short. Async-signal-safe.
pub fn cut_waits() {
    WAITS_CUT.store(true, Ordering::SeqCst);
}

/// Whether this process's waits are being cut short (errors that follow are the shutdown's,
/// not the peer's).
pub fn waits_cut() -> bool {
    WAITS_CUT.load(Ordering::SeqCst)
}

fn interrupted() -> io::Error {
    io::Error::other("wait interrupted by a shutdown request")
}

/// SO_RCVTIMEO on a socket (None = wait forever): a blocking read(2) that waits longer fails
/// with `ErrorKind::WouldBlock`. Failure only loses the bound.
pub fn set_read_timeout(fd: RawFd, timeout: Option<Duration>) {
    let t = timeout.unwrap_or(Duration::ZERO);
    let tv = nix::sys::time::TimeVal::new(t.as_secs() as _, t.subsec_micros() as _);
    // SAFETY: `fd` is an open descriptor owned by the caller for the duration of this call.
    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let _ = nix::sys::socket::setsockopt(&bfd, nix::sys::socket::sockopt::ReceiveTimeout, &tv);
}

/// poll(2) one descriptor for `flags` until `deadline`; Ok(false) on timeout. EINTR retries,
/// unless the process's waits are cut short.
pub fn wait_fd(fd: RawFd, flags: PollFlags, deadline: Option<Instant>) -> io::Result<bool> {
    loop {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                // a deadline already passed still looks once: "is it ready now?"
                let left = d.saturating_duration_since(Instant::now());
                PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
                    .unwrap_or(PollTimeout::MAX)
            }
        };
        // SAFETY: `fd` is an open descriptor owned by the caller for the duration of this call.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let mut fds = [PollFd::new(bfd, flags)];
        match poll(&mut fds, timeout) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(nix::errno::Errno::EINTR) if waits_cut() => return Err(interrupted()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// write(2) until everything is out; waits with poll when the socket would block.
pub fn write_all_fd(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    // SAFETY: `fd` stays open for the duration of this call (owned by the caller).
    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    while !data.is_empty() {
        match nix::unistd::write(bfd, data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) if waits_cut() => return Err(interrupted()),
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::EAGAIN) => {
                wait_fd(fd, PollFlags::POLLOUT, None)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
