//! The encrypted side of a `Conn` (spec/auth.md §5.3, §5.5): an OpenSSL stream over the
//! connection's own (blocking) descriptor, what the peer's certificate said, and the
//! `tls-server-end-point` channel-binding data of our certificate (RFC 5929).

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::ssl::{ErrorCode, SslStream};
use openssl::x509::X509Ref;

/// Plain read(2)/write(2) on a descriptor owned by the `Conn` around it.
#[derive(Debug)]
pub struct FdIo(pub RawFd);

impl io::Read for FdIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        nix::unistd::read(self.0, buf).map_err(io::Error::from)
    }
}

impl io::Write for FdIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: the descriptor stays open as long as the Conn that owns it and this stream.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.0) };
        nix::unistd::write(bfd, buf).map_err(io::Error::from)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One established TLS session. Interior mutability because `Conn::write_all` takes `&self`
/// (a child is single-threaded; no borrow is held across calls).
pub struct TlsStream {
    inner: RefCell<SslStream<FdIo>>,
    peer_cn: Option<String>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("peer_cn", &self.peer_cn)
            .finish_non_exhaustive()
    }
}

impl TlsStream {
    pub fn new(s: SslStream<FdIo>) -> TlsStream {
        let peer_cn = s.ssl().peer_certificate().and_then(|c| common_name(&c));
        TlsStream {
            inner: RefCell::new(s),
            peer_cn,
        }
    }

    /// The first commonName of the peer certificate's subject (None: no certificate, or a CN
    /// with an embedded NUL, §5.3).
    pub fn peer_cn(&self) -> Option<&str> {
        self.peer_cn.as_deref()
    }

    /// `tls-server-end-point` data: the hash of our certificate with the hash of its signature
    /// algorithm, SHA-256 in place of MD5 and SHA-1 (RFC 5929 §4.1).
    pub fn server_end_point(&self) -> Option<Vec<u8>> {
        let s = self.inner.borrow();
        let cert = s.ssl().certificate()?;
        end_point_hash(cert)
    }

    /// Decrypted bytes OpenSSL holds beyond what was read.
    pub fn pending(&self) -> usize {
        self.inner.borrow().ssl().pending()
    }

    /// Read decrypted bytes. Ok(0) is end of file: a clean close_notify, or the peer closing
    /// the socket without one (libpq never sends it; treated like a plaintext close).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = self.inner.borrow_mut();
        loop {
            match s.ssl_read(buf) {
                Ok(n) => return Ok(n),
                Err(e) => match e.code() {
                    ErrorCode::ZERO_RETURN => return Ok(0),
                    ErrorCode::WANT_READ | ErrorCode::WANT_WRITE => continue,
                    ErrorCode::SYSCALL => match e.into_io_error() {
                        Ok(io) if io.kind() == io::ErrorKind::Interrupted => continue,
                        Ok(io) => return Err(io),
                        Err(_) => return Ok(0),
                    },
                    _ => return Err(io::Error::other(format!("ssl read: {e}"))),
                },
            }
        }
    }

    /// Write everything, as one or more TLS records.
    pub fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        let mut s = self.inner.borrow_mut();
        while !data.is_empty() {
            match s.ssl_write(data) {
                Ok(n) => data = &data[n..],
                Err(e) => match e.code() {
                    ErrorCode::WANT_READ | ErrorCode::WANT_WRITE => continue,
                    ErrorCode::SYSCALL => match e.into_io_error() {
                        Ok(io) if io.kind() == io::ErrorKind::Interrupted => continue,
                        Ok(io) => return Err(io),
                        Err(e) => return Err(io::Error::other(format!("ssl write: {e}"))),
                    },
                    _ => return Err(io::Error::other(format!("ssl write: {e}"))),
                },
            }
        }
        Ok(())
    }
}

/// The first commonName entry of a certificate's subject, unless it holds a NUL.
pub fn common_name(cert: &X509Ref) -> Option<String> {
    let entry = cert.subject_name().entries_by_nid(Nid::COMMONNAME).next()?;
    let cn = entry.data().to_string().ok()?;
    (!cn.contains('\0')).then_some(cn)
}

/// RFC 5929 §4.1 certificate hash.
pub fn end_point_hash(cert: &X509Ref) -> Option<Vec<u8>> {
    let algs = cert
        .signature_algorithm()
        .object()
        .nid()
        .signature_algorithms()?;
    let md = match algs.digest {
        Nid::MD5 | Nid::SHA1 => MessageDigest::sha256(),
        other => MessageDigest::from_nid(other)?,
    };
    cert.digest(md).ok().map(|d| d.to_vec())
}
