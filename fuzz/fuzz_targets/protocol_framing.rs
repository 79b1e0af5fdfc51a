//! Arbitrary bytes arriving on a socket: `Conn::frame_at` must find frames without panicking,
//! `read_message` must agree with it, and every inspecting parser must cope with any body.
#![no_main]

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pgpool_rs::protocol::{messages, Conn};

fn parse_all(body: &[u8]) {
    let _ = messages::parse_error_fields(body);
    let _ = messages::parse_parameter_status(body);
    let _ = messages::parse_backend_key_data(body);
    let _ = messages::parse_ready_for_query(body);
    let _ = messages::parse_query(body);
    let _ = messages::parse_parse(body);
    let _ = messages::parse_auth_request(body);
    let _ = messages::parse_sasl_initial_response(body);
}

fuzz_target!(|data: &[u8]| {
    // Stay below a socket buffer so the single write cannot block.
    let data = &data[..data.len().min(64 * 1024)];
    let Ok((a, mut b)) = UnixStream::pair() else { return };
    if b.write_all(data).is_err() {
        return;
    }
    drop(b);
    let mut conn = Conn::new(a.into());
    while !conn.at_eof() {
        if conn.fill().is_err() {
            return;
        }
    }
    let mut off = 0;
    let mut frames = Vec::new();
    while let Ok(Some(h)) = conn.frame_at(off, 1 << 20) {
        assert!(h.total >= 5);
        if off + h.total > conn.buffered().len() {
            break;
        }
        let body = &conn.buffered()[off + 5..off + h.total];
        parse_all(body);
        frames.push((h.tag, body.to_vec()));
        off += h.total;
    }
    for (tag, body) in frames {
        let m = conn
            .read_message(1 << 20, Some(Duration::from_secs(1)))
            .expect("a frame found by frame_at must be readable");
        assert_eq!((m.tag, m.body), (tag, body));
    }
});
