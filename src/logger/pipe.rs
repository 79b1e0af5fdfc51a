//! The chunk protocol on the logging collector's pipe (PostgreSQL's syslogger protocol, sized
//! to our own PIPE_BUF): a record goes down the pipe as chunks of at most PIPE_BUF bytes, each
//! one atomic write(2), each with a header `\0 \0 len(u16) pid(i32) last('t'|'f')`, so records
//! from many processes never interleave however long they are. The collector reassembles chunks
//! per sender pid; bytes that are not protocol chunks (a panic message, a failover script's
//! output) are passed through as they arrive.

use std::collections::HashMap;

/// Header bytes before a chunk's payload.
pub(crate) const HEADER_LEN: usize = 9;
/// Largest chunk (header + payload): one atomic pipe write.
pub(crate) const CHUNK_MAX: usize = libc::PIPE_BUF;
/// Largest payload in one chunk.
pub(crate) const PAYLOAD_MAX: usize = CHUNK_MAX - HEADER_LEN;

/// Cut `data` into protocol chunks from `pid`, handing each complete chunk (header included)
/// to `emit`. Empty data produces nothing.
pub(crate) fn encode_chunks(data: &[u8], pid: i32, mut emit: impl FnMut(&[u8])) {
    let mut chunk = Vec::with_capacity(CHUNK_MAX.min(HEADER_LEN + data.len()));
    let mut rest = data;
    while !rest.is_empty() {
        let n = rest.len().min(PAYLOAD_MAX);
        let last = n == rest.len();
        chunk.clear();
        chunk.extend_from_slice(&[0, 0]);
        // n <= PAYLOAD_MAX < 65536
        chunk.extend_from_slice(&(n as u16).to_le_bytes());
        chunk.extend_from_slice(&pid.to_le_bytes());
        chunk.push(if last { b't' } else { b'f' });
        chunk.extend_from_slice(&rest[..n]);
        emit(&chunk);
        rest = &rest[n..];
    }
}

struct Header {
    len: usize,
    pid: i32,
    last: bool,
}

fn parse_header(b: &[u8]) -> Option<Header> {
    if b.len() < HEADER_LEN || b[0] != 0 || b[1] != 0 {
        return None;
    }
    let len = usize::from(u16::from_le_bytes([b[2], b[3]]));
    let pid = i32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let last = match b[8] {
        b't' => true,
        b'f' => false,
        _ => return None,
    };
    if len == 0 || len > PAYLOAD_MAX || pid == 0 {
        return None;
    }
    Some(Header { len, pid, last })
}

/// Reassembles records from the bytes read off the pipe.
#[derive(Default)]
pub(crate) struct Reassembler {
    /// Bytes read but not yet consumed (an incomplete chunk or header).
    buf: Vec<u8>,
    /// Non-final chunks per sender pid.
    partial: HashMap<i32, Vec<u8>>,
}

impl Reassembler {
    /// Consume `bytes`; `out` receives every complete record and every run of non-protocol
    /// bytes, in arrival order.
    pub(crate) fn feed(&mut self, bytes: &[u8], out: &mut dyn FnMut(&[u8])) {
        self.buf.extend_from_slice(bytes);
        let mut cur = 0;
        while cur < self.buf.len() {
            let avail = &self.buf[cur..];
            if avail[0] == 0 {
                // Possibly a chunk header: wait until it can be judged.
                if avail.len() <= HEADER_LEN {
                    break;
                }
                if let Some(h) = parse_header(avail) {
                    let total = HEADER_LEN + h.len;
                    if avail.len() < total {
                        break;
                    }
                    let payload = &avail[HEADER_LEN..total];
                    if h.last {
                        match self.partial.remove(&h.pid) {
                            Some(mut acc) => {
                                acc.extend_from_slice(payload);
                                out(&acc);
                            }
                            None => out(payload),
                        }
                    } else {
                        self.partial
                            .entry(h.pid)
                            .or_default()
                            .extend_from_slice(payload);
                    }
                    cur += total;
                    continue;
                }
            }
            // Non-protocol data: pass through up to the next NUL (a possible header).
            let n = avail[1..]
                .iter()
                .position(|&b| b == 0)
                .map_or(avail.len(), |p| p + 1);
            out(&avail[..n]);
            cur += n;
        }
        self.buf.drain(..cur);
    }

    /// At end of input: write out incomplete records and left-over bytes as they are.
    pub(crate) fn flush(&mut self, out: &mut dyn FnMut(&[u8])) {
        let mut pids: Vec<i32> = self.partial.keys().copied().collect();
        pids.sort_unstable();
        for pid in pids {
            if let Some(acc) = self.partial.remove(&pid) {
                out(&acc);
            }
        }
        if !self.buf.is_empty() {
            out(&self.buf);
            self.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(r: &mut Reassembler, input: &[u8]) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        r.feed(input, &mut |b| got.push(b.to_vec()));
        got
    }

    #[test]
    fn small_record_is_one_chunk() {
        let mut chunks = Vec::new();
        encode_chunks(b"hello\n", 42, |c| chunks.push(c.to_vec()));
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].len(), HEADER_LEN + 6);
        let mut r = Reassembler::default();
        assert_eq!(collect(&mut r, &chunks[0]), vec![b"hello\n".to_vec()]);
    }

    #[test]
    fn interleaved_long_records_reassemble_per_pid() {
        let a = vec![b'a'; PAYLOAD_MAX * 2 + 10];
        let b = vec![b'b'; PAYLOAD_MAX + 1];
        let (mut ca, mut cb) = (Vec::new(), Vec::new());
        encode_chunks(&a, 1, |c| ca.push(c.to_vec()));
        encode_chunks(&b, 2, |c| cb.push(c.to_vec()));
        assert!(ca.iter().chain(&cb).all(|c| c.len() <= CHUNK_MAX));
        // Interleave chunk by chunk and feed byte-split pieces.
        let mut stream = Vec::new();
        stream.extend_from_slice(&ca[0]);
        stream.extend_from_slice(&cb[0]);
        stream.extend_from_slice(&ca[1]);
        stream.extend_from_slice(b"raw text\n");
        stream.extend_from_slice(&cb[1]);
        stream.extend_from_slice(&ca[2]);
        let mut r = Reassembler::default();
        let mut got = Vec::new();
        for piece in stream.chunks(1000) {
            r.feed(piece, &mut |x| got.push(x.to_vec()));
        }
        r.flush(&mut |x| got.push(x.to_vec()));
        assert_eq!(got, vec![b"raw text\n".to_vec(), b, a]);
    }

    #[test]
    fn flush_writes_incomplete_data() {
        let mut chunks = Vec::new();
        encode_chunks(&vec![b'x'; PAYLOAD_MAX + 5], 9, |c| chunks.push(c.to_vec()));
        let mut r = Reassembler::default();
        assert!(collect(&mut r, &chunks[0]).is_empty());
        let mut got = Vec::new();
        r.feed(b"tail", &mut |x| got.push(x.to_vec()));
        r.flush(&mut |x| got.push(x.to_vec()));
        assert_eq!(got, vec![b"tail".to_vec(), vec![b'x'; PAYLOAD_MAX]]);
    }

    #[test]
    fn short_raw_output_is_not_held_back() {
        let mut r = Reassembler::default();
        assert_eq!(collect(&mut r, b"\n"), vec![b"\n".to_vec()]);
        // A lone NUL might start a header: held until it can be judged.
        assert!(collect(&mut r, b"\0\0").is_empty());
        assert_eq!(
            collect(&mut r, b"\x05\0\x07\0\0\0tabcde"),
            vec![b"abcde".to_vec()]
        );
    }
}
