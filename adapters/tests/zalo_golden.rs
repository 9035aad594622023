//! Golden corpus of Zalo OA webhook bodies: every `fixtures/zalo/NAME.json` is parsed with
//! [`zalo::parse`] and its events, rendered as JSON by [`render`] (a `ChatEvent` is not
//! `Serialize`), are compared byte for byte with `NAME.expected.json`.
//!
//! As in `golden.rs`: a mismatch writes `NAME.failed` beside the fixture, `UPDATE_GOLDEN=1`
//! rewrites the expectations after a deliberate change, and at least one fixture must run.

use std::path::{Path, PathBuf};

use hue_intake_adapters::chat::{ChatAttachment, ChatEvent, ChatKind, ChatMessage, CommentVerb};
use hue_intake_adapters::zalo;
use serde_json::{Value, json};

fn render(events: &[ChatEvent]) -> Value {
    Value::Array(events.iter().map(render_event).collect())
}

fn render_event(e: &ChatEvent) -> Value {
    json!({
        "channel": e.channel.as_str(),
        "message_id": e.message_id,
        "sender": e.sender,
        "sender_name": e.sender_name,
        "sent_at": e.sent_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        "has_content": e.has_content(),
        "kind": render_kind(&e.kind),
    })
}

fn render_kind(kind: &ChatKind) -> Value {
    match kind {
        ChatKind::Message(m) => json!({ "type": "message", "message": render_message(m) }),
        ChatKind::Comment { post_id, verb, message } => json!({
            "type": "comment",
            "post_id": post_id,
            "verb": match verb { CommentVerb::Add => "add", CommentVerb::Edited => "edited", CommentVerb::Remove => "remove" },
            "message": render_message(message),
        }),
        ChatKind::Postback { payload, title } => json!({ "type": "postback", "payload": payload, "title": title }),
        ChatKind::Sticker => json!({ "type": "sticker" }),
        ChatKind::Reaction => json!({ "type": "reaction" }),
        ChatKind::Echo => json!({ "type": "echo" }),
        ChatKind::Receipt => json!({ "type": "receipt" }),
        ChatKind::Follow { follows } => json!({ "type": "follow", "follows": follows }),
        ChatKind::Other { name } => json!({ "type": "other", "name": name }),
    }
}

fn render_message(m: &ChatMessage) -> Value {
    json!({
        "text": m.text,
        "attachments": m.attachments.iter().map(render_attachment).collect::<Vec<_>>(),
        "location": m.location.map(|c| json!({ "lat": c.lat, "lon": c.lon })),
        "reply_to": m.reply_to,
        "quick_reply": m.quick_reply,
    })
}

fn render_attachment(a: &ChatAttachment) -> Value {
    json!({ "kind": a.kind.as_str(), "url": a.url, "name": a.name })
}

#[test]
fn zalo_golden() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zalo");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut ran = 0;
    let mut failures = Vec::new();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    inputs.sort();
    for input in inputs {
        ran += 1;
        let raw = std::fs::read(&input).unwrap();
        let events = zalo::parse(&raw).unwrap_or_else(|e| panic!("{}: refused: {e}", input.display()));
        assert_eq!(events.len(), 1, "{}: one event per Zalo body", input.display());
        let mut actual = serde_json::to_string_pretty(&render(&events)).unwrap();
        actual.push('\n');
        let expected_path = sibling(&input, "expected.json");
        if update {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        let failed_path = sibling(&input, "failed");
        if expected == actual {
            let _ = std::fs::remove_file(&failed_path);
        } else {
            std::fs::write(&failed_path, &actual).unwrap();
            failures.push(format!("diff {} {}", expected_path.display(), failed_path.display()));
        }
    }
    assert!(ran > 0, "no fixtures ran in {}", dir.display());
    assert!(
        failures.is_empty(),
        "golden mismatches (UPDATE_GOLDEN=1 rewrites after a deliberate change):\n{}",
        failures.join("\n")
    );
}

fn sibling(input: &Path, suffix: &str) -> PathBuf {
    let stem = input.file_stem().unwrap().to_string_lossy();
    input.with_file_name(format!("{stem}.{suffix}"))
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
