//! Golden corpus of Zalo OA webhook bodies: every `fixtures/zalo/NAME.json` is parsed with
//! [`zalo::parse`] and its events, rendered as JSON, are compared byte for byte with
//! `NAME.expected.json` (the harness in `support/golden.rs`).

#[path = "support/golden.rs"]
mod golden;

use std::path::PathBuf;

use hue_intake_adapters::zalo;
use serde_json::Value;

#[test]
fn zalo_golden() {
    golden::run_suite("zalo", |name, raw| {
        let events = zalo::parse(raw).unwrap_or_else(|e| panic!("{name}: refused: {e}"));
        assert_eq!(events.len(), 1, "{name}: one event per Zalo body");
        golden::pretty(&golden::render_events(&events))
    });
}

/// The corpus holds at least one body of every event name the adapter distinguishes, so a
/// deleted fixture cannot silently drop a case.
#[test]
fn zalo_corpus_covers_every_event_name() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zalo");
    let mut seen = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.to_string_lossy().into_owned();
        if name.ends_with(".json") && !name.ends_with(".expected.json") {
            let body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            seen.insert(body["event_name"].as_str().unwrap().to_owned());
        }
    }
    for name in [
        "user_send_text",
        "user_send_image",
        "user_send_gif",
        "user_send_video",
        "user_send_audio",
        "user_send_file",
        "user_send_link",
        "user_send_location",
        "user_send_sticker",
        "anonymous_send_text",
        "oa_send_text",
        "user_received_message",
        "user_seen_message",
        "follow",
        "unfollow",
        "user_reacted_message",
    ] {
        assert!(seen.contains(name), "no fixture for {name}");
    }
}

/// A fixture read from disk, signed over its exact bytes (trailing newline included), passes;
/// the same JSON without the newline does not.
#[test]
fn zalo_fixture_signature_is_over_the_exact_bytes() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zalo/user-send-image.json");
    let raw = std::fs::read(path).unwrap();
    let key = b"golden-oa-secret";
    let mut signed = b"4411223344556677889".to_vec();
    signed.extend_from_slice(&raw);
    signed.extend_from_slice(b"1764410200456");
    signed.extend_from_slice(key);
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(&signed).iter().map(|b| format!("{b:02x}")).collect();
    let header = format!("mac={hex}");
    let now = chrono::DateTime::from_timestamp_millis(1_764_410_200_456 + 60_000).unwrap();
    let window = zalo::default_freshness();
    assert_eq!(zalo::verify_signature(key, &raw, Some(&header), now, window), Ok(()));
    let trimmed = raw.trim_ascii_end();
    assert_eq!(zalo::verify_signature(key, trimmed, Some(&header), now, window), Err(zalo::SignatureError::Mismatch));
    assert!(!zalo::is_probe(&raw, None));
}
