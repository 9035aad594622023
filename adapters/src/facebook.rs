//! The Facebook Page webhook, from the exact bytes Meta posts to [`ChatEvent`]s
//! (reference/channels.md §1, SPEC §3 and §8).
//!
//! This module owns three things and nothing else: the `X-Hub-Signature-256` check over the raw
//! body, the `GET` subscription handshake (`hub.mode` / `hub.verify_token` / `hub.challenge`),
//! and the translation of the `{"object":"page","entry":[…]}` envelope — Messenger
//! `messaging[]` and `standby[]` events and Page `feed` comment changes — into the channel-neutral
//! chat shape of [`crate::chat`]. It is pure: no I/O, no clock, no async. Fetching attachment
//! URLs, deduplication, draft assembly and replies live elsewhere.
//!
//! Choices worth knowing:
//! - Unknown fields are ignored everywhere (platforms add fields, SPEC §8); unknown event kinds
//!   become [`ChatKind::Other`] rather than a refusal, so one new Meta feature cannot make a
//!   whole body (and the other events in it) bounce.
//! - Ids may arrive as JSON numbers or strings; both are accepted and kept as decimal strings.
//! - Events without a native id get a stable id derived from their fields (never from the
//!   position alone when a field will do), so a retried body yields the same ids.
//! - A `fallback` attachment (a shared link) is appended to the text as `title url`, not kept
//!   as a file: it is a pointer to a web page, not media we may fetch (fetching arbitrary
//!   citizen-supplied URLs would be an SSRF hole), and as text it stays visible to staff in the
//!   description. `reel`, `ig_reel`, `post`, `ig_post` and unknown attachment types are noted
//!   the same way, as `[type] url`.
//! - Error texts name the place (a JSON pointer) but never quote a value (R8).

use chrono::DateTime;
use hmac::{Hmac, KeyInit, Mac};
use hue_intake_schemas::{Channel, MediaKind};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::chat::{
    ChatAttachment, ChatEvent, ChatKind, ChatMessage, CommentVerb, Coordinates, constant_time_eq, coordinate_value,
};
use crate::error::{InputError, Refusal};

/// The header Meta signs its POSTs with.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

const SIGNATURE_PREFIX: &str = "sha256=";

/// Why a body's signature was refused. No variant carries the secret, the body or the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header does not start with sha256=")]
    NoPrefix,
    #[error("the X-Hub-Signature-256 digest is not 64 hex digits")]
    WrongLength,
    #[error("the X-Hub-Signature-256 digest is not hexadecimal")]
    BadHex,
    #[error("the X-Hub-Signature-256 digest does not match the body")]
    Mismatch,
}

/// Checks `X-Hub-Signature-256: sha256=<hex>` against HMAC-SHA256(app secret, exact raw body).
///
/// The body must be the bytes as received: Meta signs its escaped-unicode form (`\u1ea1`),
/// so a decoded and re-encoded body does not verify. The comparison is constant-time
/// (`hmac`'s `verify_slice`).
pub fn verify_signature(app_secret: &[u8], raw_body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex = header.strip_prefix(SIGNATURE_PREFIX).ok_or(SignatureError::NoPrefix)?;
    if hex.len() != 64 {
        return Err(SignatureError::WrongLength);
    }
    let digest = decode_hex(hex).ok_or(SignatureError::BadHex)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(app_secret).expect("HMAC takes keys of any length");
    mac.update(raw_body);
    mac.verify_slice(&digest).map_err(|_| SignatureError::Mismatch)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    fn nibble(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = hex.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes.chunks(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

/// Answers Meta's subscription handshake: given the raw query string of the `GET`
/// (`hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`), returns the challenge to echo
/// with 200, or `None` (answer 403) when the mode is not `subscribe`, the token differs, or
/// a field is missing. Keys and values are percent-decoded (`+` is a space); the token is
/// compared in constant time.
pub fn verify_handshake(query: &str, verify_token: &str) -> Option<String> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let (mut mode, mut token, mut challenge) = (None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match percent_decode(key)?.as_str() {
            "hub.mode" => &mut mode,
            "hub.verify_token" => &mut token,
            "hub.challenge" => &mut challenge,
            _ => continue,
        };
        // A repeated key is ambiguous: refuse rather than guess which one counts.
        if slot.replace(percent_decode(value)?).is_some() {
            return None;
        }
    }
    if mode? != "subscribe" || !constant_time_eq(token?.as_bytes(), verify_token.as_bytes()) {
        return None;
    }
    challenge.filter(|c| !c.is_empty())
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.extend(decode_hex(hex)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Parses one webhook body into its events, in body order: every `entry`, each entry's
/// `messaging[]`, then `standby[]`, then `changes[]`.
///
/// `page_id` is the configured Page id; a comment written by it (or by the entry's own id) is
/// an [`ChatKind::Echo`]. Refuses (with a JSON pointer) a body that is not JSON, not an object
/// with `"object":"page"` and an `entry` array, or whose events lack the ids they must have.
pub fn parse(raw_body: &[u8], page_id: Option<&str>) -> Result<Vec<ChatEvent>, InputError> {
    let body: Value = InputError::parse_json(raw_body)?;
    let body = body.as_object().ok_or_else(|| invalid("", "the body is not a JSON object"))?;
    match body.get("object") {
        None => return Err(missing("/object", "`object` is missing")),
        Some(Value::String(s)) if s == "page" => {}
        Some(_) => return Err(invalid("/object", "`object` is not \"page\"")),
    }
    let entries = array(body, "entry", "")?.ok_or_else(|| missing("/entry", "`entry` is missing"))?;
    let mut events = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("/entry/{i}");
        let entry = entry.as_object().ok_or_else(|| invalid(&at, "an entry is not an object"))?;
        let entry_id = match entry.get("id") {
            None | Some(Value::Null) => None,
            Some(v) => Some(id(v).ok_or_else(|| invalid(&format!("{at}/id"), "not an id"))?),
        };
        for list in ["messaging", "standby"] {
            for (j, item) in array(entry, list, &at)?.into_iter().flatten().enumerate() {
                events.push(messaging_event(item, &format!("{at}/{list}/{j}"))?);
            }
        }
        for (j, change) in array(entry, "changes", &at)?.into_iter().flatten().enumerate() {
            let at = format!("{at}/changes/{j}");
            let own = [page_id, entry_id.as_deref()];
            events.push(change_event(change, entry, &own, &at)?);
        }
    }
    Ok(events)
}

/// The people a webhook body speaks for, read cheaply before the body is stored (the rate
/// limit per sender): the sender of each Messenger event that is not the Page's own echo, and
/// the author of each feed change who is not the Page (the entry's id). Empty when the body
/// does not have the expected shape; such a body is refused or quarantined later.
pub fn senders(raw_body: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        entry: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        id: Value,
        #[serde(default)]
        messaging: Vec<Item>,
        #[serde(default)]
        standby: Vec<Item>,
        #[serde(default)]
        changes: Vec<Change>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        sender: Option<Party>,
        #[serde(default)]
        message: Option<Echo>,
    }
    #[derive(serde::Deserialize)]
    struct Echo {
        #[serde(default)]
        is_echo: Value,
    }
    #[derive(serde::Deserialize)]
    struct Change {
        #[serde(default)]
        value: Option<ChangeValue>,
    }
    #[derive(serde::Deserialize)]
    struct ChangeValue {
        #[serde(default)]
        from: Option<Party>,
    }
    #[derive(serde::Deserialize)]
    struct Party {
        #[serde(default)]
        id: Value,
    }
    let Ok(body) = serde_json::from_slice::<Body>(raw_body) else { return Vec::new() };
    let mut senders = Vec::new();
    for entry in &body.entry {
        let page = id(&entry.id);
        for item in entry.messaging.iter().chain(&entry.standby) {
            let echo = item.message.as_ref().is_some_and(|m| m.is_echo == Value::Bool(true));
            if let Some(sender) = item.sender.as_ref().and_then(|p| id(&p.id))
                && !echo
            {
                senders.push(sender);
            }
        }
        for change in &entry.changes {
            let author = change.value.as_ref().and_then(|v| v.from.as_ref()).and_then(|p| id(&p.id));
            if let Some(author) = author
                && Some(&author) != page.as_ref()
            {
                senders.push(author);
            }
        }
    }
    senders
}

// ----- Messenger events -----

/// Keys of a `messaging[]` item that are not the event itself.
const ENVELOPE_KEYS: [&str; 3] = ["sender", "recipient", "timestamp"];

fn messaging_event(item: &Value, at: &str) -> Result<ChatEvent, InputError> {
    let item = item.as_object().ok_or_else(|| invalid(at, "a messaging item is not an object"))?;
    let sender = required_id(item.get("sender").and_then(|s| s.get("id")), &format!("{at}/sender/id"))?;
    let timestamp = optional_number(item.get("timestamp"), &format!("{at}/timestamp"))?;
    let sent_at = timestamp.and_then(DateTime::from_timestamp_millis);
    let stamp = timestamp.map_or_else(|| "-".to_owned(), |t| t.to_string());
    let event = |message_id: String, kind: ChatKind| ChatEvent {
        channel: Channel::Facebook,
        message_id,
        sender: sender.clone(),
        sender_name: None,
        sent_at,
        kind,
    };

    if let Some(message) = item.get("message") {
        let at = format!("{at}/message");
        let message = message.as_object().ok_or_else(|| invalid(&at, "`message` is not an object"))?;
        let mid = required_id(message.get("mid"), &format!("{at}/mid"))?;
        if message.get("is_echo").and_then(Value::as_bool) == Some(true) {
            let metadata = message.get("metadata").and_then(Value::as_str).map(str::to_owned);
            return Ok(event(mid, ChatKind::Echo { metadata }));
        }
        return Ok(event(mid, message_kind(message, &at)?));
    }
    if let Some(postback) = item.get("postback") {
        let at = format!("{at}/postback");
        let postback = postback.as_object().ok_or_else(|| invalid(&at, "`postback` is not an object"))?;
        let mid = match postback.get("mid") {
            None | Some(Value::Null) => format!("postback:{sender}:{stamp}"),
            Some(v) => id(v).ok_or_else(|| invalid(&format!("{at}/mid"), "not an id"))?,
        };
        // Standby postbacks carry no payload (channels.md §1.3): an empty one, not a refusal.
        let payload = text(postback, "payload", &at)?.unwrap_or_default();
        let title = text(postback, "title", &at)?;
        return Ok(event(mid, ChatKind::Postback { payload, title }));
    }
    if let Some(reaction) = item.get("reaction") {
        let at = format!("{at}/reaction");
        let reaction = reaction.as_object().ok_or_else(|| invalid(&at, "`reaction` is not an object"))?;
        let mid = match reaction.get("mid") {
            None | Some(Value::Null) => format!("-:{sender}:{stamp}"),
            Some(v) => id(v).ok_or_else(|| invalid(&format!("{at}/mid"), "not an id"))?,
        };
        let action = text(reaction, "action", &at)?.unwrap_or_else(|| "react".to_owned());
        return Ok(event(format!("reaction:{mid}:{action}"), ChatKind::Reaction));
    }
    for receipt in ["read", "delivery"] {
        if let Some(value) = item.get(receipt) {
            let at = format!("{at}/{receipt}");
            let value = value.as_object().ok_or_else(|| invalid(&at, "a receipt is not an object"))?;
            let watermark = optional_number(value.get("watermark"), &format!("{at}/watermark"))?
                .map_or_else(|| stamp.clone(), |w| w.to_string());
            return Ok(event(format!("{receipt}:{sender}:{watermark}"), ChatKind::Receipt));
        }
    }
    // referral, optin, message_edit, account_linking, …: kept, counted, not interpreted.
    let name =
        item.keys().find(|k| !ENVELOPE_KEYS.contains(&k.as_str())).cloned().unwrap_or_else(|| "empty".to_owned());
    Ok(event(format!("{name}:{sender}:{stamp}"), ChatKind::Other { name }))
}

fn message_kind(message: &Map<String, Value>, at: &str) -> Result<ChatKind, InputError> {
    let mut out = ChatMessage { text: text(message, "text", at)?, ..ChatMessage::default() };
    if let Some(reply_to) = message.get("reply_to").filter(|v| !v.is_null()) {
        let at = format!("{at}/reply_to/mid");
        out.reply_to = Some(required_id(reply_to.get("mid"), &at)?);
    }
    if let Some(quick) = message.get("quick_reply").filter(|v| !v.is_null()) {
        let at = format!("{at}/quick_reply");
        let quick = quick.as_object().ok_or_else(|| invalid(&at, "`quick_reply` is not an object"))?;
        out.quick_reply = text(quick, "payload", &at)?;
    }
    // Old Messenger put `sticker_id` on the message itself, beside an image attachment.
    let message_sticker = message.get("sticker_id").is_some_and(|v| !v.is_null());
    let mut sticker = false;
    let mut links = Vec::new();
    for (k, attachment) in array(message, "attachments", at)?.into_iter().flatten().enumerate() {
        let at = format!("{at}/attachments/{k}");
        let attachment = attachment.as_object().ok_or_else(|| invalid(&at, "an attachment is not an object"))?;
        let kind = text(attachment, "type", &at)?.unwrap_or_default();
        let payload = match attachment.get("payload") {
            Some(Value::Object(p)) => Some(p),
            None | Some(Value::Null) => None,
            Some(_) => return Err(invalid(&format!("{at}/payload"), "`payload` is not an object")),
        };
        let p_at = format!("{at}/payload");
        let payload_text = |key: &str| payload.map_or(Ok(None), |p| text(p, key, &p_at));
        let url = match payload_text("url")? {
            Some(url) => Some(url),
            None => text(attachment, "url", &at)?,
        };
        let is_sticker = payload.is_some_and(|p| p.get("sticker_id").is_some_and(|v| !v.is_null())) || message_sticker;
        let media = match kind.as_str() {
            "image" if is_sticker => None,
            "image" => Some(MediaKind::Image),
            "video" => Some(MediaKind::Video),
            "audio" => Some(MediaKind::Audio),
            "file" => Some(MediaKind::File),
            _ => None,
        };
        if let Some(kind) = media {
            out.attachments.push(ChatAttachment { kind, url, name: payload_text("name")? });
            continue;
        }
        match kind.as_str() {
            "image" | "sticker" => sticker = true,
            "location" => {
                let coordinates = payload.and_then(|p| p.get("coordinates")).filter(|c| !c.is_null());
                let Some(coordinates) = coordinates else { continue };
                let c_at = format!("{p_at}/coordinates");
                let lat = coordinate(coordinates.get("lat"), &format!("{c_at}/lat"), 90.0)?;
                let lon = coordinate(coordinates.get("long"), &format!("{c_at}/long"), 180.0)?;
                if out.location.is_none() {
                    out.location = Some(Coordinates { lat, lon });
                }
            }
            "fallback" => {
                let title = match payload_text("title")? {
                    Some(t) => Some(t),
                    None => text(attachment, "title", &at)?,
                };
                let link: Vec<String> = [title, url].into_iter().flatten().filter(|s| !s.trim().is_empty()).collect();
                if !link.is_empty() {
                    links.push(link.join(" "));
                }
            }
            other => {
                let label = if other.is_empty() { "attachment" } else { other };
                links.push(match url {
                    Some(url) => format!("[{label}] {url}"),
                    None => format!("[{label}]"),
                });
            }
        }
    }
    if !links.is_empty() {
        let mut text = out.text.take().filter(|t| !t.trim().is_empty()).into_iter().collect::<Vec<_>>();
        text.extend(links);
        out.text = Some(text.join("\n"));
    }
    let has_text = out.text.as_deref().is_some_and(|t| !t.trim().is_empty());
    let has_other = has_text || !out.attachments.is_empty() || out.location.is_some();
    if !has_other {
        if let Some(payload) = out.quick_reply.take() {
            return Ok(ChatKind::Postback { payload, title: None });
        }
        if sticker || message_sticker {
            return Ok(ChatKind::Sticker);
        }
    }
    Ok(ChatKind::Message(out))
}

fn coordinate(value: Option<&Value>, at: &str, limit: f64) -> Result<f64, InputError> {
    let number = match value {
        None | Some(Value::Null) => return Err(missing(at, "a coordinate is missing")),
        Some(v) => coordinate_value(v),
    };
    number.filter(|n| n.abs() <= limit).ok_or_else(|| invalid(at, "not a coordinate in range"))
}

// ----- Page feed changes -----

fn change_event(
    change: &Value,
    entry: &Map<String, Value>,
    own: &[Option<&str>; 2],
    at: &str,
) -> Result<ChatEvent, InputError> {
    let change = change.as_object().ok_or_else(|| invalid(at, "a change is not an object"))?;
    let field = text(change, "field", at)?.unwrap_or_default();
    let empty = Map::new();
    let value = match change.get("value") {
        Some(Value::Object(v)) => v,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(invalid(&format!("{at}/value"), "`value` is not an object")),
    };
    let v_at = format!("{at}/value");
    let from = match value.get("from") {
        Some(Value::Object(f)) => Some(f),
        None | Some(Value::Null) => None,
        Some(_) => return Err(invalid(&format!("{v_at}/from"), "`from` is not an object")),
    };
    let f_at = format!("{v_at}/from");
    let sender = match from.and_then(|f| f.get("id")).filter(|v| !v.is_null()) {
        Some(v) => id(v).ok_or_else(|| invalid(&format!("{f_at}/id"), "not an id"))?,
        None => "unknown".to_owned(),
    };
    let sender_name = from.map_or(Ok(None), |f| text(f, "name", &f_at))?;
    let created = optional_number(value.get("created_time"), &format!("{v_at}/created_time"))?;
    let sent_at = created.and_then(|s| DateTime::from_timestamp(s, 0)).or_else(|| {
        // Without its own time, the entry's (ms) is the best we have.
        entry.get("time").and_then(number).and_then(DateTime::from_timestamp_millis)
    });
    let item = text(value, "item", &v_at)?.unwrap_or_default();
    let verb = text(value, "verb", &v_at)?.unwrap_or_default();
    let optional_id = |key: &str| match value.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => id(v).map(Some).ok_or_else(|| invalid(&format!("{v_at}/{key}"), "not an id")),
    };
    let event = |message_id: String, kind: ChatKind| ChatEvent {
        channel: Channel::Facebook,
        message_id,
        sender: sender.clone(),
        sender_name: sender_name.clone(),
        sent_at,
        kind,
    };

    if field != "feed" || item != "comment" {
        // Posts, reactions, shares, other subscribed fields: counted, not interpreted. The id
        // is built from what names the change, or from its place in the body when nothing does.
        let name = if field == "feed" { format!("feed:{item}") } else { field.clone() };
        let native = [optional_id("comment_id")?, optional_id("post_id")?, optional_id("reaction_id")?]
            .into_iter()
            .flatten()
            .next();
        let message_id = match native {
            Some(native) => format!("{name}:{verb}:{native}"),
            None => {
                let entry_time = entry.get("time").and_then(number).map_or_else(|| "-".to_owned(), |t| t.to_string());
                format!("{name}:{verb}:{sender}:{}:{entry_time}", created.unwrap_or(0))
            }
        };
        return Ok(event(message_id, ChatKind::Other { name }));
    }

    let comment_id = optional_id("comment_id")?.ok_or_else(|| missing(&format!("{v_at}/comment_id"), "missing"))?;
    let verb = match verb.as_str() {
        "add" => CommentVerb::Add,
        "edited" => CommentVerb::Edited,
        "remove" => CommentVerb::Remove,
        _ => {
            let name = format!("comment:{verb}");
            return Ok(event(format!("{name}:{comment_id}"), ChatKind::Other { name }));
        }
    };
    if own.iter().flatten().any(|own| *own == sender) {
        return Ok(event(comment_id, ChatKind::Echo { metadata: None }));
    }
    let post_id = optional_id("post_id")?.unwrap_or_default();
    let parent_id = optional_id("parent_id")?;
    let mut message = ChatMessage {
        text: text(value, "message", &v_at)?,
        reply_to: parent_id.filter(|p| *p != post_id && !p.is_empty()),
        ..ChatMessage::default()
    };
    for (key, kind) in [("photo", MediaKind::Image), ("video", MediaKind::Video)] {
        if let Some(url) = text(value, key, &v_at)? {
            message.attachments.push(ChatAttachment { kind, url: Some(url), name: None });
        }
    }
    Ok(event(comment_id, ChatKind::Comment { post_id, verb, message }))
}

// ----- small readers -----

/// An id as a string: JSON strings as they are, integers in decimal (Meta sends some ids as
/// numbers). Empty strings, floats and other types are not ids.
fn id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

fn required_id(value: Option<&Value>, at: &str) -> Result<String, InputError> {
    match value {
        None | Some(Value::Null) => Err(missing(at, "a required id is missing")),
        Some(v) => id(v).ok_or_else(|| invalid(at, "not an id")),
    }
}

/// An integer given as a JSON number or a decimal string (Zalo's habit, and some Graph fields).
fn number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn optional_number(value: Option<&Value>, at: &str) -> Result<Option<i64>, InputError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => number(v).map(Some).ok_or_else(|| invalid(at, "not an integer")),
    }
}

/// An optional string field; numbers are accepted and rendered in decimal.
fn text(object: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, InputError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(invalid(&format!("{at}/{}", escape(key)), "not a string")),
    }
}

fn array<'a>(object: &'a Map<String, Value>, key: &str, at: &str) -> Result<Option<&'a Vec<Value>>, InputError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(invalid(&format!("{at}/{}", escape(key)), "not an array")),
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn invalid(at: &str, detail: &str) -> InputError {
    InputError::new(Refusal::Invalid, at, detail)
}

fn missing(at: &str, detail: &str) -> InputError {
    InputError::new(Refusal::Missing, at, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"app-secret-for-tests";

    fn sign(body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET).unwrap();
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }

    #[test]
    fn signature_good() {
        let body = br#"{"object":"page","entry":[]}"#;
        assert_eq!(verify_signature(SECRET, body, Some(&sign(body))), Ok(()));
    }

    #[test]
    fn signature_bad() {
        let body = br#"{"object":"page","entry":[]}"#;
        let other = sign(b"something else");
        assert_eq!(verify_signature(SECRET, body, Some(&other)), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(b"wrong secret", body, Some(&sign(body))), Err(SignatureError::Mismatch));
        let bad_hex = format!("sha256={}", "zz".repeat(32));
        assert_eq!(verify_signature(SECRET, body, Some(&bad_hex)), Err(SignatureError::BadHex));
    }

    #[test]
    fn signature_missing() {
        assert_eq!(verify_signature(SECRET, b"{}", None), Err(SignatureError::Missing));
    }

    #[test]
    fn signature_without_prefix() {
        let header = sign(b"{}");
        let bare = header.strip_prefix("sha256=").unwrap();
        assert_eq!(verify_signature(SECRET, b"{}", Some(bare)), Err(SignatureError::NoPrefix));
        let sha1 = format!("sha1={bare}");
        assert_eq!(verify_signature(SECRET, b"{}", Some(&sha1)), Err(SignatureError::NoPrefix));
    }

    #[test]
    fn signature_odd_or_wrong_length() {
        let header = sign(b"{}");
        assert_eq!(
            verify_signature(SECRET, b"{}", Some(&header[..header.len() - 1])),
            Err(SignatureError::WrongLength)
        );
        assert_eq!(verify_signature(SECRET, b"{}", Some("sha256=abc")), Err(SignatureError::WrongLength));
        assert_eq!(verify_signature(SECRET, b"{}", Some("sha256=")), Err(SignatureError::WrongLength));
    }

    #[test]
    fn signature_is_over_the_escaped_unicode_bytes() {
        let escaped = br#"{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"message":{"mid":"m","text":"\u0110\u00e8n \u0111\u01b0\u1eddng h\u1ecfng"}}]}]}"#;
        let header = sign(escaped);
        assert_eq!(verify_signature(SECRET, escaped, Some(&header)), Ok(()));
        // The same JSON re-encoded with literal letters is different bytes: it must not verify.
        let value: Value = serde_json::from_slice(escaped).unwrap();
        let reencoded = serde_json::to_vec(&value).unwrap();
        assert_ne!(reencoded.as_slice(), escaped.as_slice());
        assert_eq!(verify_signature(SECRET, &reencoded, Some(&header)), Err(SignatureError::Mismatch));
        let events = parse(escaped, None).unwrap();
        let ChatKind::Message(m) = &events[0].kind else { panic!("{events:?}") };
        assert_eq!(m.text.as_deref(), Some("Đèn đường hỏng"));
    }

    #[test]
    fn signature_errors_do_not_echo_the_header() {
        let err = verify_signature(SECRET, b"{}", Some("sha256=0123456789")).unwrap_err();
        assert!(!err.to_string().contains("0123456789"));
    }

    #[test]
    fn handshake_good() {
        let q = "hub.mode=subscribe&hub.verify_token=m%E1%BA%ADt+kh%E1%BA%A9u&hub.challenge=1158201444";
        assert_eq!(verify_handshake(q, "mật khẩu").as_deref(), Some("1158201444"));
        let reordered = "?hub.challenge=42&hub.mode=subscribe&other=x&hub.verify_token=tok";
        assert_eq!(verify_handshake(reordered, "tok").as_deref(), Some("42"));
    }

    #[test]
    fn handshake_wrong_token() {
        assert_eq!(verify_handshake("hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1", "tok"), None);
        assert_eq!(verify_handshake("hub.mode=subscribe&hub.verify_token=to&hub.challenge=1", "tok"), None);
        assert_eq!(verify_handshake("hub.mode=subscribe&hub.challenge=1", "tok"), None);
        assert_eq!(verify_handshake("hub.mode=subscribe&hub.verify_token=%ZZ&hub.challenge=1", "tok"), None);
    }

    #[test]
    fn handshake_wrong_mode() {
        assert_eq!(verify_handshake("hub.mode=unsubscribe&hub.verify_token=tok&hub.challenge=1", "tok"), None);
        assert_eq!(verify_handshake("hub.verify_token=tok&hub.challenge=1", "tok"), None);
        assert_eq!(verify_handshake("hub_mode=subscribe&hub.verify_token=tok&hub.challenge=1", "tok"), None);
    }

    #[test]
    fn handshake_missing_challenge() {
        assert_eq!(verify_handshake("hub.mode=subscribe&hub.verify_token=tok", "tok"), None);
        assert_eq!(verify_handshake("hub.mode=subscribe&hub.verify_token=tok&hub.challenge=", "tok"), None);
    }

    #[test]
    fn handshake_repeated_key_is_refused() {
        let q = "hub.mode=subscribe&hub.verify_token=tok&hub.challenge=1&hub.challenge=2";
        assert_eq!(verify_handshake(q, "tok"), None);
    }

    fn refusal(body: &str) -> InputError {
        parse(body.as_bytes(), None).unwrap_err()
    }

    #[test]
    fn malformed_bodies_name_the_place() {
        for (body, refusal_kind, pointer) in [
            ("not json", Refusal::Malformed, ""),
            ("[]", Refusal::Invalid, ""),
            (r#"{"entry":[]}"#, Refusal::Missing, "/object"),
            (r#"{"object":"instagram","entry":[]}"#, Refusal::Invalid, "/object"),
            (r#"{"object":"page"}"#, Refusal::Missing, "/entry"),
            (r#"{"object":"page","entry":{}}"#, Refusal::Invalid, "/entry"),
            (r#"{"object":"page","entry":[7]}"#, Refusal::Invalid, "/entry/0"),
            (r#"{"object":"page","entry":[{"messaging":{}}]}"#, Refusal::Invalid, "/entry/0/messaging"),
            (
                r#"{"object":"page","entry":[{},{"messaging":[{"message":{"mid":"m"}}]}]}"#,
                Refusal::Missing,
                "/entry/1/messaging/0/sender/id",
            ),
            (
                r#"{"object":"page","entry":[{"standby":[{"sender":{"id":"1"},"message":{"text":"x"}}]}]}"#,
                Refusal::Missing,
                "/entry/0/standby/0/message/mid",
            ),
            (
                r#"{"object":"page","entry":[{"messaging":[{"sender":{"id":1.5},"message":{"mid":"m"}}]}]}"#,
                Refusal::Invalid,
                "/entry/0/messaging/0/sender/id",
            ),
            (
                r#"{"object":"page","entry":[{"messaging":[{"sender":{"id":"1"},"timestamp":"soon","message":{"mid":"m"}}]}]}"#,
                Refusal::Invalid,
                "/entry/0/messaging/0/timestamp",
            ),
            (
                r#"{"object":"page","entry":[{"messaging":[{"sender":{"id":"1"},"message":{"mid":"m","attachments":[{"type":"location","payload":{"coordinates":{"lat":96,"long":107}}}]}}]}]}"#,
                Refusal::Invalid,
                "/entry/0/messaging/0/message/attachments/0/payload/coordinates/lat",
            ),
            (
                r#"{"object":"page","entry":[{"changes":[{"field":"feed","value":{"item":"comment","verb":"add"}}]}]}"#,
                Refusal::Missing,
                "/entry/0/changes/0/value/comment_id",
            ),
        ] {
            let err = refusal(body);
            assert_eq!((err.refusal, err.pointer.as_str()), (refusal_kind, pointer), "{body}");
        }
    }

    #[test]
    fn refusals_do_not_echo_values() {
        let err = refusal(r#"{"object":"0905123456","entry":[]}"#);
        assert!(!err.to_string().contains("0905123456"), "{err}");
        let err = refusal(
            r#"{"object":"page","entry":[{"messaging":[{"sender":{"id":"0905123456x"},"message":{"mid":["0905123456"]}}]}]}"#,
        );
        assert!(!err.to_string().contains("0905123456"), "{err}");
    }

    #[test]
    fn page_comment_is_an_echo_by_entry_id_without_a_configured_page() {
        let body = r#"{"object":"page","entry":[{"id":1029384756,"changes":[{"field":"feed","value":{"item":"comment","verb":"add","comment_id":"1_2","post_id":"1029384756_1","from":{"id":"1029384756"},"message":"x"}}]}]}"#;
        let events = parse(body.as_bytes(), None).unwrap();
        assert!(matches!(events[0].kind, ChatKind::Echo { .. }));
        let other_page = parse(body.replace("{\"id\":1029384756,", "{\"id\":5,").as_bytes(), None).unwrap();
        assert!(matches!(other_page[0].kind, ChatKind::Comment { .. }), "{other_page:?}");
    }

    #[test]
    fn comment_verbs_outside_add_edited_remove_are_other() {
        let body = r#"{"object":"page","entry":[{"changes":[{"field":"feed","value":{"item":"comment","verb":"edit","comment_id":"1_2"}},{"field":"mention","value":{}}]}]}"#;
        let events = parse(body.as_bytes(), Some("9")).unwrap();
        assert_eq!(events[0].kind, ChatKind::Other { name: "comment:edit".to_owned() });
        assert_eq!(events[0].message_id, "comment:edit:1_2");
        assert_eq!(events[1].kind, ChatKind::Other { name: "mention".to_owned() });
    }

    #[test]
    fn unknown_fields_and_event_kinds_are_tolerated() {
        let body = r#"{"object":"page","new_field":1,"entry":[{"id":"9","time":1,"x":{},"messaging":[{"sender":{"id":"1"},"timestamp":5,"optin":{"ref":"a"}}]}]}"#;
        let events = parse(body.as_bytes(), None).unwrap();
        assert_eq!(events[0].kind, ChatKind::Other { name: "optin".to_owned() });
        assert_eq!(events[0].message_id, "optin:1:5");
    }

    #[test]
    fn senders_are_the_citizens_of_a_batch_not_the_page() {
        let body = r#"{"object":"page","entry":[
            {"id":"P1","time":1,"messaging":[
                {"sender":{"id":"A"},"recipient":{"id":"P1"},"message":{"mid":"m1","text":"x"}},
                {"sender":{"id":"P1"},"recipient":{"id":"A"},"message":{"mid":"m2","is_echo":true,"text":"y"}}],
             "standby":[{"sender":{"id":123},"recipient":{"id":"P1"}}],
             "changes":[{"field":"feed","value":{"from":{"id":"C"},"item":"comment","verb":"add"}},
                        {"field":"feed","value":{"from":{"id":"P1"},"item":"comment","verb":"add"}}]}]}"#;
        assert_eq!(senders(body.as_bytes()), ["A", "123", "C"]);
        assert!(senders(b"not json").is_empty());
        assert!(senders(br#"{"entry":"wrong shape"}"#).is_empty());
    }
}
