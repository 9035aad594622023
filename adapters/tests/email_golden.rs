//! Golden corpus of the e-mail channel: every `fixtures/email/NAME.eml` is a raw RFC 5322
//! message as IMAP returns it, parsed with [`email::parse`] and rendered as JSON (attachments as
//! name, type, length and SHA-256; the threading helpers' answers under `derived`), compared
//! byte for byte with `NAME.expected.json` (the harness in `support/golden.rs`).

#[path = "support/golden.rs"]
mod golden;

use chrono::SecondsFormat;
use hue_intake_adapters::email::{self, Email, MachineKind};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn render(email: &Email) -> Value {
    let machine = email.machine.as_ref().map(|m| match m {
        MachineKind::AutoReply => json!({ "kind": m.as_str() }),
        MachineKind::Bounce { original_message_id } => {
            json!({ "kind": m.as_str(), "original_message_id": original_message_id })
        }
    });
    let attachments: Vec<Value> = email
        .attachments
        .iter()
        .map(|a| {
            let sha: String = Sha256::digest(&a.bytes).iter().map(|b| format!("{b:02x}")).collect();
            json!({
                "filename": a.filename,
                "content_type": a.content_type,
                "inline": a.inline,
                "bytes": a.bytes.len(),
                "sha256": sha,
            })
        })
        .collect();
    json!({
        "message_id": email.message_id,
        "from": email.from.as_ref().map(|f| json!({ "address": f.address, "name": f.name })),
        "date": email.date.map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "subject": email.subject,
        "subject_repair": email.subject_repair.as_str(),
        "in_reply_to": email.in_reply_to,
        "references": email.references,
        "body_text": email.body_text,
        "body_repair": email.body_repair.as_str(),
        "attachments": attachments,
        "machine": machine,
        "derived": {
            "tracking_code": email.subject.as_deref().and_then(email::tracking_code_in_subject).map(|c| c.to_string()),
            "reply_text": email::strip_quoted(&email.body_text),
        },
    })
}

#[test]
fn email_golden() {
    golden::run_suite_ext("email", "eml", |name, raw| {
        let email = email::parse(raw).unwrap_or_else(|e| panic!("{name}: refused: {e}"));
        golden::pretty(&render(&email))
    });
}
