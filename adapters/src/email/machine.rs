//! Mail written by machines, which must never become a report nor get an acknowledgement
//! (reference/channels.md §3.3: RFC 3834, the checks of RT and Zammad).
//!
//! Bounces matter beyond loop prevention: a delivery-status report about one of our replies
//! carries the original Message-ID, so the service can mark that reply failed.

use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};

/// Why a mail is machine mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineKind {
    /// An automatic answer or bulk/list mail: out-of-office, `Auto-Submitted`, `Precedence`,
    /// `List-Id`.
    AutoReply,
    /// A non-delivery report; `original_message_id` (no angle brackets) is the Message-ID of the
    /// mail that bounced, when the report includes its headers.
    Bounce { original_message_id: Option<String> },
}

impl MachineKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            MachineKind::AutoReply => "auto_reply",
            MachineKind::Bounce { .. } => "bounce",
        }
    }
}

/// Classifies a parsed message; `None` for mail a person wrote.
pub fn classify(message: &Message<'_>) -> Option<MachineKind> {
    // Bounces first: many also carry `Auto-Submitted: auto-replied`.
    if is_bounce(message) {
        return Some(MachineKind::Bounce { original_message_id: original_message_id(message) });
    }
    let raw = |name: &'static str| message.header_raw(name).map(str::trim);
    let auto_submitted = raw("Auto-Submitted")
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .is_some_and(|v| v != "no");
    let precedence =
        raw("Precedence").is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "bulk" | "junk" | "list"));
    // `X-Auto-Response-Suppress` is only a request not to answer (Microsoft), not a sign.
    // `X-Hue-Intake-Loop` is on every mail the gateway sends: ours coming back is never news.
    let marked = ["X-Autoreply", "X-Autorespond", "List-Id", "X-Mailing-List", "X-Hue-Intake-Loop"]
        .iter()
        .any(|h| raw(h).is_some());
    (auto_submitted || precedence || marked).then_some(MachineKind::AutoReply)
}

fn is_bounce(message: &Message<'_>) -> bool {
    let from_daemon =
        message.from().and_then(|a| a.first()).and_then(|a| a.address()).and_then(|a| a.split('@').next()).is_some_and(
            |local| local.eq_ignore_ascii_case("mailer-daemon") || local.eq_ignore_ascii_case("postmaster"),
        );
    let null_sender = message.header_raw("Return-Path").is_some_and(|v| v.trim() == "<>");
    let report = message.root_part().content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct.attribute("report-type").is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    });
    from_daemon || null_sender || report
}

/// The Message-ID of the bounced mail: from an attached `message/rfc822` or a
/// `text/rfc822-headers` part.
fn original_message_id(message: &Message<'_>) -> Option<String> {
    message.parts.iter().skip(1).find_map(|part| match &part.body {
        PartType::Message(inner) => inner.message_id().map(super::bare_id),
        PartType::Text(text)
            if part
                .content_type()
                .and_then(|ct| ct.subtype())
                .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers")) =>
        {
            headers_message_id(text)
        }
        _ => None,
    })
}

fn headers_message_id(headers: &str) -> Option<String> {
    let mut block = headers.trim_start().to_owned();
    block.push_str("\r\n\r\n");
    let parsed = super::guarded(|| MessageParser::default().parse(block.as_bytes()))?;
    match parsed.header("Message-ID")? {
        HeaderValue::Text(id) => Some(super::bare_id(id)),
        HeaderValue::TextList(ids) => ids.first().map(|id| super::bare_id(id)),
        _ => None,
    }
}
