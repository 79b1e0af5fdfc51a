//! Fuzz the parsers of what a client sends during authentication: the PasswordMessage /
//! SASLInitialResponse body and the SCRAM client-first / client-final messages, and the
//! pool_hba.conf tokenizer. Arbitrary bytes must give a value or an error, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pgpool_rs::auth::scram::ScramServer;

fuzz_target!(|data: &[u8]| {
    let _ = pgpool_rs::protocol::messages::parse_sasl_initial_response(data);
    let mut server = ScramServer::new("secret");
    if server.client_first(data).is_ok() {
        let _ = server.client_final(data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pgpool_rs::auth::hba::parse_hba(text, Path::new("/nonexistent"), false, "f");
    }
});
