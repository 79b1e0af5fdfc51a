//! Fuzz the pgpool.conf lexer and parse loop: arbitrary bytes must give items or a syntax error,
//! never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `include` lines name files; the fuzzer may produce them, and a missing file is an error.
    let _ = pgpool_rs::config::lexer::parse_text(data, Path::new("/nonexistent/pgpool.conf"), 0);
});
