//! Proves that no byte string posted to the Facebook Page webhook panics or hangs the pure
//! adapters: the signature check (on the body and on a header taken from the input),
//! `facebook::parse` with and without a Page id, and then, as the service does with what it
//! parsed, rating detection, assembly into drafts and the canonical record with its reply.
#![no_main]

use hue_intake_adapters::facebook;
use hue_intake_fuzz::assemble;
use hue_intake_schemas::Channel;
use libfuzzer_sys::fuzz_target;

const APP_SECRET: &[u8] = b"fuzz-app-secret";
const PAGE_ID: &str = "1029384756";

fuzz_target!(|data: &[u8]| {
    // The header is attacker-controlled too: the input's first line stands for it.
    let header = data.split(|b| *b == b'\n').next().and_then(|h| std::str::from_utf8(h).ok());
    let _ = facebook::verify_signature(APP_SECRET, data, header);
    let _ = facebook::verify_signature(APP_SECRET, data, None);
    if let Some(query) = header {
        let _ = facebook::verify_handshake(query, "fuzz-token");
    }
    let _ = facebook::parse(data, None);
    if let Ok(events) = facebook::parse(data, Some(PAGE_ID)) {
        assemble(Channel::Facebook, data, events);
    }
});
