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
