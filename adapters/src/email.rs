//! The e-mail channel's first, pure layer: one raw RFC 5322 message (as IMAP returns it) in,
//! one channel-neutral [`Email`] out (SPEC issue 5, reference/channels.md §3).
//!
//! This module owns the parsing (mail-parser 0.11: MIME, RFC 2047 words, transfer encodings),
//! the charset repairs Vietnamese mail needs ([`charset`]), the recognition of machine mail
//! ([`machine`]) and the threading helpers (subject tag, quoted history). It does not decide
//! what becomes a report or an interaction: the service folds an `Email` into a record, seals
//! the sender's address and name (personal data) and sniffs and caps the attachments.

pub mod charset;
pub mod html;
pub mod machine;
pub mod quote;
pub mod record;

use chrono::{DateTime, TimeZone, Utc};
use hue_intake_schemas::TrackingCode;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use crate::error::{InputError, Refusal};
pub use charset::Repair;
pub use machine::MachineKind;
pub use quote::strip_quoted;

/// The line put above the text of a forwarded message appended to the body.
pub const FORWARDED_MARKER: &str = "---------- Forwarded message ----------";

/// Forwarded messages inside forwarded messages are followed this deep, no deeper.
const MAX_NESTING: usize = 3;

/// One inbound e-mail, channel-neutral.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    /// The Message-ID without angle brackets; when the message has none, `sha256:<hex>` of the
    /// raw bytes, so that fetching the same mail twice gives the same id.
    pub message_id: String,
    /// The sender (personal data: the service seals it).
    pub from: Option<Sender>,
    pub date: Option<DateTime<Utc>>,
    /// RFC 2047 decoded, repaired, NFC.
    pub subject: Option<String>,
    /// Ids without angle brackets.
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The text: `text/plain` preferred, else the HTML body as text; forwarded messages follow
    /// under [`FORWARDED_MARKER`]. Repaired, NFC, `\n` line endings.
    pub body_text: String,
    /// What the charset repair did to the subject and to the body.
    pub subject_repair: Repair,
    pub body_repair: Repair,
    /// Inline images and attachments, also those of forwarded messages.
    pub attachments: Vec<EmailAttachment>,
    /// `Some` for auto-replies, list mail and bounces, which must not become reports.
    pub machine: Option<MachineKind>,
}

/// Who sent a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The address as written (no case folding: the service compares it as it needs).
    pub address: Option<String>,
    /// The display name, decoded and NFC.
    pub name: Option<String>,
}

/// A file sent with the mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAttachment {
    /// The file name without any path component, NFC; `None` when the part names none.
    pub filename: Option<String>,
    /// The declared type, lower case (`application/octet-stream` when absent); the service
    /// sniffs the bytes, it does not trust this.
    pub content_type: String,
    /// Whether the part was marked inline (an image in the text).
    pub inline: bool,
    pub bytes: Vec<u8>,
}

/// Parses one raw message.
pub fn parse(raw: &[u8]) -> Result<Email, InputError> {
    read(raw, true)
}

/// The headers of a mail only (sender, ids, subject, machine mail), with an empty body and no
/// attachments: for a mail too large to read whole, which still gets an answer.
pub fn parse_headers(raw: &[u8]) -> Result<Email, InputError> {
    read(raw, false)
}

fn read(raw: &[u8], whole: bool) -> Result<Email, InputError> {
    let refused = || InputError::new(Refusal::Malformed, "", "the body is not an RFC 5322 message");
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(refused());
    }
    let parser = MessageParser::default();
    let message = guarded(|| if whole { parser.parse(raw) } else { parser.parse_headers(raw) }).ok_or_else(refused)?;
    if message.headers().is_empty() {
        return Err(refused());
    }
    let message_id = id_or_hash(&message, raw);
    let from = message.from().and_then(|a| a.first()).map(|addr| Sender {
        address: addr.address().map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()),
        name: addr.name().map(|n| charset::repair(n.trim(), None).0).filter(|n| !n.is_empty()),
    });
    let date = message.date().and_then(|d| Utc.timestamp_opt(d.to_timestamp(), 0).single());
    let (subject, subject_repair) = match message.subject() {
        Some(s) => {
            let (text, repair) = charset::repair(s.trim(), None);
            (Some(text), repair)
        }
        None => (None, Repair::None),
    };
    let mut body = Body::default();
    if whole {
        body.collect(&message, 0);
    }
    Ok(Email {
        message_id,
        from,
        date,
        subject,
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        body_text: body.text,
        subject_repair,
        body_repair: body.repair,
        attachments: body.attachments,
        machine: machine::classify(&message),
    })
}

/// The message's id as [`Email::message_id`] gives it, from the headers alone (cheap: the
/// poller keys every message by it before anything else). `None` when the bytes are not a
/// message at all.
pub fn message_id_of(raw: &[u8]) -> Option<String> {
    let message = guarded(|| MessageParser::default().parse_headers(raw))?;
    if message.headers().is_empty() {
        return None;
    }
    Some(id_or_hash(&message, raw))
}

/// Runs mail-parser, taking a panic of its own for "not a message". mail-parser 0.11.9
/// panics on some malformed input (found by the email fuzz target: `parsers/message.rs:485`,
/// reproducer in `tests/hostile/mail-parser-panic.eml`); unguarded, one such mail in the
/// mailbox would take the pipeline down at every start. Refused instead, it is kept raw in
/// quarantine like any authentic message that cannot be read.
pub(crate) fn guarded<'x>(parse: impl FnOnce() -> Option<Message<'x>>) -> Option<Message<'x>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).ok().flatten()
}

fn id_or_hash(message: &Message<'_>, raw: &[u8]) -> String {
    match message.message_id().map(bare_id).filter(|id| !id.is_empty()) {
        Some(id) => id,
        None => format!("sha256:{}", hex(&Sha256::digest(raw))),
    }
}

/// The tracking code of a subject tag `[HUE-XXXX-XXXX]` (any case), as our acknowledgements
/// write it. A code written elsewhere in the subject does not count (osTicket's rule: a subject
/// tag is a claim the service still checks against the sender).
pub fn tracking_code_in_subject(subject: &str) -> Option<TrackingCode> {
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let close = after.find(']')?;
        let inner = after[..close].trim();
        if inner.len() == 13
            && let Some(code) = crate::assembly::tracking_code_in(inner)
        {
            return Some(code);
        }
        rest = &after[close + 1..];
    }
    None
}

/// What the text parts and attachments of a message (and its forwarded messages) add up to.
#[derive(Default)]
struct Body {
    text: String,
    repair: Repair,
    attachments: Vec<EmailAttachment>,
}

impl Body {
    fn collect(&mut self, message: &Message<'_>, depth: usize) {
        let mut texts = Vec::new();
        for part in message.text_bodies() {
            let declared = part.content_type().and_then(|ct| ct.attribute("charset"));
            let text = match (&part.body, undecoded(message, part, declared)) {
                (PartType::Text(_), Some(raw)) => self.decoded(&raw, declared.unwrap_or_default()),
                (PartType::Html(_), Some(raw)) => html::to_text(&self.decoded(&raw, declared.unwrap_or_default())),
                (PartType::Text(text), None) => self.repaired(text, declared),
                (PartType::Html(html), None) => html::to_text(&self.repaired(html, declared)),
                _ => continue,
            };
            // One line ending for everything downstream (RFC 5322 bodies arrive with CRLF).
            let text = text.replace("\r\n", "\n").trim().to_owned();
            if !text.is_empty() {
                texts.push(text);
            }
        }
        let own = texts.join("\n\n");
        push_paragraph(&mut self.text, &own);
        for part in message.attachments() {
            match &part.body {
                PartType::Message(inner) if depth < MAX_NESTING => {
                    let mut header = FORWARDED_MARKER.to_owned();
                    if let Some(subject) = inner.subject() {
                        header.push_str("\nSubject: ");
                        header.push_str(&charset::repair(subject.trim(), None).0);
                    }
                    push_paragraph(&mut self.text, &header);
                    self.collect(inner, depth + 1);
                }
                PartType::Message(_) => {}
                _ => self.attachments.push(attachment(part)),
            }
        }
    }

    fn repaired(&mut self, text: &str, declared: Option<&str>) -> String {
        let (fixed, repair) = charset::repair(text, declared);
        self.note(repair);
        fixed
    }

    fn decoded(&mut self, raw: &[u8], declared: &str) -> String {
        let (fixed, repair) = charset::decode(raw, declared);
        self.note(repair);
        fixed
    }

    fn note(&mut self, repair: Repair) {
        if self.repair == Repair::None {
            self.repair = repair;
        }
    }
}

/// The transfer-decoded bytes of a text part labelled with a charset other than UTF-8, for
/// [`charset::decode`]; `None` for UTF-8 or when the part's bytes cannot be found (then
/// mail-parser's decoding is repaired instead).
fn undecoded(message: &Message<'_>, part: &mail_parser::MessagePart<'_>, declared: Option<&str>) -> Option<Vec<u8>> {
    let label = declared?.trim().to_ascii_lowercase();
    if label.starts_with("utf") || label.is_empty() {
        return None;
    }
    let start = usize::try_from(part.offset_body).ok()?;
    let end = usize::try_from(part.offset_end).ok()?;
    let raw = message.raw_message().get(start..end)?;
    match part.encoding {
        Encoding::None => Some(raw.to_vec()),
        Encoding::QuotedPrintable => quoted_printable_decode(raw),
        Encoding::Base64 => base64_decode(raw),
    }
}

fn push_paragraph(text: &mut String, paragraph: &str) {
    if paragraph.is_empty() {
        return;
    }
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(paragraph);
}

fn attachment(part: &mail_parser::MessagePart<'_>) -> EmailAttachment {
    let content_type = part.content_type().map_or_else(
        || "application/octet-stream".to_owned(),
        |ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
    );
    let inline =
        part.content_disposition().is_some_and(|d| d.is_inline()) || matches!(part.body, PartType::InlineBinary(_));
    EmailAttachment {
        filename: part.attachment_name().and_then(sanitise_filename),
        content_type,
        inline,
        bytes: part.contents().to_vec(),
    }
}

/// A file name without directories, control characters or leading dots, NFC; `None` if
/// nothing is left.
pub fn sanitise_filename(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect::<String>().nfc().collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    (!cleaned.is_empty()).then(|| cleaned.to_owned())
}

/// A message id without surrounding angle brackets or spaces.
fn bare_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim().to_owned()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![bare_id(id)],
        HeaderValue::TextList(list) => list.iter().map(|id| bare_id(id)).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|id| !id.is_empty())
    .collect()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_mail_that_makes_mail_parser_panic_is_refused_not_a_crash() {
        let raw = include_bytes!("../tests/hostile/mail-parser-panic.eml");
        let _ = message_id_of(raw);
        let _ = parse_headers(raw);
        assert!(parse(raw).is_err(), "refused as not a message, not a panic");
    }

    use super::*;

    #[test]
    fn subject_tag() {
        assert_eq!(
            tracking_code_in_subject("Re: [hue-7kq4-m2xd] Cây đổ").map(|c| c.to_string()),
            Some("HUE-7KQ4-M2XD".into())
        );
        assert_eq!(tracking_code_in_subject("Re: HUE-7KQ4-M2XD"), None);
        assert_eq!(
            tracking_code_in_subject("[x] [ HUE-7KQ4-M2XD ]").map(|c| c.to_string()),
            Some("HUE-7KQ4-M2XD".into())
        );
    }

    #[test]
    fn filenames_lose_paths() {
        assert_eq!(sanitise_filename("C:\\Users\\a\\ảnh.jpg").as_deref(), Some("ảnh.jpg"));
        assert_eq!(sanitise_filename("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(sanitise_filename("/tmp/..").as_deref(), None);
    }

    #[test]
    fn forwarded_legacy_parts_are_decoded_from_their_own_bytes() {
        let raw = b"From: a@b.vn\r\nMessage-ID: <x@b.vn>\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n\
--o\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nXem d\xc6\xb0\xe1\xbb\x9bi\r\n\
--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@d.vn\r\nSubject: s\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Hue=E1 bi=EF nga=E4p, =F1\xf6\xf4\xf8ng ngaa=E4p\r\n--o--\r\n";
        let email = parse(raw).unwrap();
        assert_eq!(email.body_text, format!("Xem dưới\n\n{FORWARDED_MARKER}\nSubject: s\n\nHuế bị ngập, đường ngaập"));
    }

    #[test]
    fn refuses_empty_and_derives_ids() {
        assert!(parse(b"").is_err());
        let email = parse(b"From: a@b.vn\r\nSubject: x\r\n\r\nhello\r\n").unwrap();
        assert!(email.message_id.starts_with("sha256:") && email.message_id.len() == 7 + 64);
        assert_eq!(email.body_text, "hello");
    }
}
