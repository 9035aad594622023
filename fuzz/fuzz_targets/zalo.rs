//! Proves that no byte string posted to the Zalo OA webhook panics or hangs the pure adapters:
//! the `X-ZEvent-Signature` check (header taken from the input, timestamps of any size), the
//! probe test, `zalo::parse`, and then rating detection, assembly into drafts and the
//! canonical record with its reply, as the service does.
#![no_main]

use hue_intake_adapters::zalo;
use hue_intake_fuzz::{assemble, received_at};
use hue_intake_schemas::Channel;
use libfuzzer_sys::fuzz_target;

const OA_SECRET: &[u8] = b"fuzz-oa-secret";

fuzz_target!(|data: &[u8]| {
    let header = data.split(|b| *b == b'\n').next().and_then(|h| std::str::from_utf8(h).ok());
    let _ = zalo::verify_signature(OA_SECRET, data, header, received_at(), zalo::default_freshness());
    let _ = zalo::is_probe(data, header);
    if let Ok(events) = zalo::parse(data) {
        assemble(Channel::Zalo, data, events);
    }
});
