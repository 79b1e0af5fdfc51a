//! Arbitrary first packets: classification never panics, and an accepted V3 startup packet is
//! a fixed point of sorting (re-parsing its rebuilt bytes gives the same packet).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgpool_rs::protocol::startup::{parse_first_packet, FirstPacket};

fuzz_target!(|data: &[u8]| {
    if let Ok(FirstPacket::Startup(sp)) = parse_first_packet(data) {
        let len = u32::from_be_bytes([sp.raw[0], sp.raw[1], sp.raw[2], sp.raw[3]]) as usize;
        assert_eq!(len, sp.raw.len());
        match parse_first_packet(&sp.raw[4..]) {
            Ok(FirstPacket::Startup(again)) => assert_eq!(again, sp),
            other => panic!("sorted packet no longer parses: {other:?}"),
        }
    }
});
