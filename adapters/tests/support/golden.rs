//! The golden-corpus harness shared by every channel's suite (mail-parser's habit): each
//! `fixtures/<dir>/NAME.<ext>` input is turned into text by the suite's function and compared
//! byte for byte with `NAME.expected.json`.
//!
//! On a mismatch the actual output is written to `NAME.failed` beside the fixture, so the
//! difference is one `diff` away; `UPDATE_GOLDEN=1` rewrites the expectations after a
//! deliberate change. A suite must run at least one fixture, so an empty or misnamed folder
//! cannot pass. It also renders chat events ([`render_events`]), which are not `Serialize`
//! (an internal shape), field by field.

#![allow(dead_code)] // each suite uses the part it needs

use std::path::{Path, PathBuf};

use chrono::SecondsFormat;
use hue_intake_adapters::chat::{ChatEvent, ChatKind, ChatMessage, CommentVerb};
use serde_json::{Value, json};

/// Runs every `*.json` input (other than expectations) of `tests/fixtures/<dir>` through
/// `produce(name, bytes)` and compares.
pub fn run_suite(dir: &str, produce: impl FnMut(&str, &[u8]) -> String) {
    run_suite_ext(dir, "json", produce);
}

/// [`run_suite`] for inputs named `*.<ext>` (`eml` for the e-mail corpus).
pub fn run_suite_ext(dir: &str, ext: &str, mut produce: impl FnMut(&str, &[u8]) -> String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir);
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext) && !p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    inputs.sort();
    let mut failures = Vec::new();
    for input in &inputs {
        let name = input.file_stem().unwrap().to_string_lossy().into_owned();
        let raw = std::fs::read(input).unwrap();
        let actual = produce(&name, &raw);
        let expected_path = sibling(input, "expected.json");
        if update {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        let failed_path = sibling(input, "failed");
        if expected == actual {
            let _ = std::fs::remove_file(&failed_path);
        } else {
            std::fs::write(&failed_path, &actual).unwrap();
            failures.push(format!("diff {} {}", expected_path.display(), failed_path.display()));
        }
    }
    assert!(!inputs.is_empty(), "no fixtures ran in {}", dir.display());
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

/// Pretty JSON with a final newline, as the expectation files are written.
pub fn pretty(value: &Value) -> String {
    let mut out = serde_json::to_string_pretty(value).unwrap();
    out.push('\n');
    out
}

/// Chat events as JSON, field by field.
pub fn render_events(events: &[ChatEvent]) -> Value {
    Value::Array(events.iter().map(render_event).collect())
}

fn render_event(event: &ChatEvent) -> Value {
    json!({
        "channel": event.channel.as_str(),
        "message_id": event.message_id,
        "sender": event.sender,
        "sender_name": event.sender_name,
        "sent_at": event.sent_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        "has_content": event.has_content(),
        "kind": render_kind(&event.kind),
    })
}

fn render_kind(kind: &ChatKind) -> Value {
    match kind {
        ChatKind::Message(m) => json!({"type": "message", "message": render_message(m)}),
        ChatKind::Comment { post_id, verb, message } => json!({
            "type": "comment",
            "post_id": post_id,
            "verb": match verb {
                CommentVerb::Add => "add",
                CommentVerb::Edited => "edited",
                CommentVerb::Remove => "remove",
            },
            "message": render_message(message),
        }),
        ChatKind::Postback { payload, title } => json!({"type": "postback", "payload": payload, "title": title}),
        ChatKind::Sticker => json!({"type": "sticker"}),
        ChatKind::Reaction => json!({"type": "reaction"}),
        ChatKind::Echo { metadata } => json!({"type": "echo", "metadata": metadata}),
        ChatKind::Receipt => json!({"type": "receipt"}),
        ChatKind::Follow { follows } => json!({"type": "follow", "follows": follows}),
        ChatKind::Other { name } => json!({"type": "other", "name": name}),
    }
}

fn render_message(m: &ChatMessage) -> Value {
    json!({
        "text": m.text,
        "attachments": m.attachments.iter().map(|a| json!({
            "kind": a.kind.as_str(),
            "url": a.url,
            "name": a.name,
        })).collect::<Vec<_>>(),
        "location": m.location.map(|c| json!({"lat": c.lat, "lon": c.lon})),
        "reply_to": m.reply_to,
        "quick_reply": m.quick_reply,
    })
}
