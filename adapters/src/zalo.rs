//! The Zalo Official Account webhook, as bytes in and [`ChatEvent`]s out (reference/channels.md
//! §2): the `X-ZEvent-Signature` check with its freshness window, recognition of the unsigned
//! probe Zalo posts when the webhook URL is saved, and the translation of one event body.
//!
//! Pure: no I/O and no clock (the caller passes `now`). Zalo ids are 19-digit numbers that
//! overflow doubles, so they are kept as the exact text received, whether sent as JSON strings
//! or numbers. Unknown fields are ignored (SPEC §8); messages never quote secrets or values
//! from the body.
//!
//! Choices where Zalo's protocol is not pinned down by a primary source:
//! - A `link` attachment has no place in [`ChatMessage`]: its title and URL are appended to the
//!   text on new lines (each only when the text does not already contain it).
//! - For our own `oa_send_*` events and the receipts, whose roles are flipped, `sender` is the
//!   citizen, i.e. `recipient.id` (falling back to `sender.id`).
//! - Events with no message of their own (receipts, reactions, follow/unfollow, unknown events
//!   without `msg_id`) get `message_id = "<event_name>:<person>:<timestamp>"`.
//! - `anonymous_send_*` (the web chat widget) is read like `user_send_*`.

use chrono::{DateTime, Duration, Utc};
use hue_intake_schemas::{Channel, MediaKind};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::attachment::hex;
use crate::chat::{ChatAttachment, ChatEvent, ChatKind, ChatMessage, Coordinates, constant_time_eq, coordinate_value};
use crate::error::{InputError, Refusal};

/// The header Zalo signs its webhook calls with.
pub const SIGNATURE_HEADER: &str = "X-ZEvent-Signature";

/// The replay window the service uses unless configured otherwise.
pub fn default_freshness() -> Duration {
    Duration::minutes(15)
}

/// Why a webhook call's signature was refused. No variant carries the secret or body text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-ZEvent-Signature header is missing")]
    MissingHeader,
    #[error("the X-ZEvent-Signature header does not start with `mac=`")]
    MissingPrefix,
    #[error("the body has no readable app_id and millisecond timestamp to check the signature over")]
    MissingFields,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signed timestamp is older than the freshness window")]
    Stale,
    #[error("the signed timestamp is ahead of the freshness window")]
    FromFuture,
}

/// Checks `X-ZEvent-Signature: mac=<hex>`, hex being the lower-case SHA-256 (plain, not HMAC)
/// of `app_id ‖ raw_body ‖ timestamp ‖ oa_secret_key` with `app_id` and `timestamp` read from
/// the body, compared in constant time; then that the timestamp (epoch ms) lies within
/// ±`freshness` of `now` (bounds included).
pub fn verify_signature(
    oa_secret_key: &[u8],
    raw_body: &[u8],
    header: Option<&str>,
    now: DateTime<Utc>,
    freshness: Duration,
) -> Result<(), SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(SignatureError::MissingHeader)?;
    let given = header.strip_prefix("mac=").ok_or(SignatureError::MissingPrefix)?.trim();
    let body: Value = serde_json::from_slice(raw_body).map_err(|_| SignatureError::MissingFields)?;
    let app_id = id_text(body.get("app_id")).ok_or(SignatureError::MissingFields)?;
    let timestamp = id_text(body.get("timestamp")).ok_or(SignatureError::MissingFields)?;
    let signed_at = millis(&timestamp).ok_or(SignatureError::MissingFields)?;

    let mut hasher = Sha256::new();
    hasher.update(app_id.as_bytes());
    hasher.update(raw_body);
    hasher.update(timestamp.as_bytes());
    hasher.update(oa_secret_key);
    let expected = hex(&hasher.finalize());
    let given = given.to_ascii_lowercase();
    if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(SignatureError::Mismatch);
    }

    if signed_at < now - freshness {
        return Err(SignatureError::Stale);
    }
    if signed_at > now + freshness {
        return Err(SignatureError::FromFuture);
    }
    Ok(())
}

/// Whether this is the unsigned empty probe Zalo posts when the webhook URL is saved: no
/// signature header, and a body that is empty, blank or `{}`. The service answers 200 and does
/// nothing else.
pub fn is_probe(raw_body: &[u8], header: Option<&str>) -> bool {
    if header.is_some_and(|h| !h.trim().is_empty()) {
        return false;
    }
    if raw_body.iter().all(u8::is_ascii_whitespace) {
        return true;
    }
    matches!(serde_json::from_slice::<Value>(raw_body), Ok(Value::Object(m)) if m.is_empty())
}

/// Translates one webhook body (Zalo posts one event per call) into its event. A `Vec` for
/// symmetry with Facebook, whose bodies batch.
pub fn parse(raw_body: &[u8]) -> Result<Vec<ChatEvent>, InputError> {
    // Into a `Value` serde cannot say where a syntax error is (its path is `/?`): the whole body.
    let body: Value = InputError::parse_json(raw_body).map_err(|mut e| {
        if e.refusal == Refusal::Malformed {
            e.pointer.clear();
        }
        e
    })?;
    if !body.is_object() {
        return Err(InputError::new(Refusal::Invalid, "", "a Zalo event must be a JSON object"));
    }
    let event_name = match body.get("event_name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return Err(InputError::new(Refusal::Missing, "/event_name", "event_name is missing"));
        }
        Some(_) => return Err(InputError::new(Refusal::Invalid, "/event_name", "event_name must be a string")),
    };
    let timestamp = id_at(&body, "/timestamp")?;
    let sent_at =
        match &timestamp {
            Some(t) => Some(millis(t).ok_or_else(|| {
                InputError::new(Refusal::Invalid, "/timestamp", "timestamp must be epoch milliseconds")
            })?),
            None => None,
        };
    let stamp = timestamp.unwrap_or_default();
    let derived = |person: &str| format!("{event_name}:{person}:{stamp}");

    let event = |message_id: String, sender: String, kind: ChatKind| ChatEvent {
        channel: Channel::Zalo,
        message_id,
        sender,
        sender_name: None,
        sent_at,
        kind,
    };

    let ev = if let Some(sticker_alone) = message_event(&event_name) {
        let message_id = required_id(&body, "/message/msg_id", "message.msg_id")?;
        let sender = required_id(&body, "/sender/id", "sender.id")?;
        let (message, had_sticker) = read_message(&body)?;
        let has_content = message.text.is_some() || !message.attachments.is_empty() || message.location.is_some();
        let kind =
            if !has_content && (had_sticker || sticker_alone) { ChatKind::Sticker } else { ChatKind::Message(message) };
        event(message_id, sender, kind)
    } else if event_name.starts_with("oa_send_") {
        let person = citizen_of_flipped(&body)?;
        let message_id = match id_at(&body, "/message/msg_id")? {
            Some(id) => id,
            None => derived(&person),
        };
        event(message_id, person, ChatKind::Echo { metadata: None })
    } else if event_name == "user_received_message" || event_name == "user_seen_message" {
        let person = citizen_of_flipped(&body)?;
        event(derived(&person), person, ChatKind::Receipt)
    } else if event_name == "follow" || event_name == "unfollow" {
        let follower = required_id(&body, "/follower/id", "follower.id")?;
        event(derived(&follower), follower, ChatKind::Follow { follows: event_name == "follow" })
    } else if event_name == "user_reacted_message" {
        let person = id_at(&body, "/sender/id")?.unwrap_or_default();
        event(derived(&person), person, ChatKind::Reaction)
    } else {
        let person = match id_at(&body, "/sender/id")? {
            Some(p) => p,
            None => id_at(&body, "/follower/id")?.unwrap_or_default(),
        };
        let message_id = match id_at(&body, "/message/msg_id")? {
            Some(id) => id,
            None => derived(&person),
        };
        event(message_id, person, ChatKind::Other { name: event_name.clone() })
    };
    Ok(vec![ev])
}

/// The Zalo user a webhook body comes from, read cheaply before the body is stored (the
/// rate limit per sender): `sender.id`, else `follower.id`. `None` for the OA's own events
/// (`oa_send_*`, whose sender is the OA) and for a body that cannot be read.
pub fn sender(raw_body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        event_name: Value,
        #[serde(default)]
        sender: Option<Party>,
        #[serde(default)]
        follower: Option<Party>,
    }
    #[derive(serde::Deserialize)]
    struct Party {
        #[serde(default)]
        id: Value,
    }
    let body = serde_json::from_slice::<Body>(raw_body).ok()?;
    if body.event_name.as_str().is_some_and(|name| name.starts_with("oa_")) {
        return None;
    }
    let party = body.sender.as_ref().or(body.follower.as_ref())?;
    id_text(Some(&party.id))
}

/// For a citizen's message event, whether its name alone says "sticker"; `None` when the event
/// is not a citizen's message.
fn message_event(name: &str) -> Option<bool> {
    let kind = name.strip_prefix("user_send_").or_else(|| name.strip_prefix("anonymous_send_"))?;
    match kind {
        "text" | "image" | "gif" | "video" | "audio" | "file" | "link" | "location" => Some(false),
        "sticker" => Some(true),
        _ => None,
    }
}

/// The citizen of an event whose roles are flipped (our echo, a receipt): `recipient.id`, else
/// `sender.id`, else empty.
fn citizen_of_flipped(body: &Value) -> Result<String, InputError> {
    Ok(match id_at(body, "/recipient/id")? {
        Some(p) => p,
        None => id_at(body, "/sender/id")?.unwrap_or_default(),
    })
}

/// Reads `message`: text, attachments, location and quote. The flag says a sticker was seen
/// (and dropped).
fn read_message(body: &Value) -> Result<(ChatMessage, bool), InputError> {
    let mut message = ChatMessage {
        text: optional_str(body, "/message/text")?.filter(|t| !t.trim().is_empty()),
        reply_to: id_at(body, "/message/quote_msg_id")?,
        ..ChatMessage::default()
    };
    let mut had_sticker = false;
    let attachments = match body.pointer("/message/attachments") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => {
            return Err(InputError::new(Refusal::Invalid, "/message/attachments", "attachments must be an array"));
        }
    };
    for (i, item) in attachments.iter().enumerate() {
        let at = format!("/message/attachments/{i}");
        let kind = optional_str(item, "/type").map_err(|e| prefixed(e, &at))?.unwrap_or_default();
        let url = optional_str(item, "/payload/url").map_err(|e| prefixed(e, &at))?;
        let media = |kind: MediaKind, name: Option<String>| ChatAttachment { kind, url: url.clone(), name };
        match kind.as_str() {
            "image" | "gif" => message.attachments.push(media(MediaKind::Image, None)),
            "video" => message.attachments.push(media(MediaKind::Video, None)),
            "audio" => message.attachments.push(media(MediaKind::Audio, None)),
            "file" => {
                let name = optional_str(item, "/payload/name").map_err(|e| prefixed(e, &at))?;
                message.attachments.push(media(MediaKind::File, name));
            }
            "link" => {
                let title = optional_str(item, "/payload/title").map_err(|e| prefixed(e, &at))?;
                for part in [title, url].into_iter().flatten() {
                    let part = part.trim();
                    match &mut message.text {
                        Some(text) if text.contains(part) => {}
                        Some(text) => {
                            text.push('\n');
                            text.push_str(part);
                        }
                        None if !part.is_empty() => message.text = Some(part.to_owned()),
                        None => {}
                    }
                }
            }
            "location" => {
                let lat = coordinate(item, "latitude", 90.0, &at)?;
                let lon = coordinate(item, "longitude", 180.0, &at)?;
                message.location = Some(Coordinates { lat, lon });
            }
            "sticker" => had_sticker = true,
            // business_card and types Zalo may add: not content the gateway uses.
            _ => {}
        }
    }
    Ok((message, had_sticker))
}

/// `payload.coordinates.<axis>`, a string (as Zalo sends it) or a number, within ±`limit`.
fn coordinate(item: &Value, axis: &str, limit: f64, at: &str) -> Result<f64, InputError> {
    let pointer = format!("{at}/payload/coordinates/{axis}");
    let value = match item.pointer(&format!("/payload/coordinates/{axis}")) {
        None | Some(Value::Null) => {
            return Err(InputError::new(Refusal::Missing, pointer, format!("a location needs its {axis}")));
        }
        Some(v) => coordinate_value(v),
    };
    value
        .filter(|v| v.abs() <= limit)
        .ok_or_else(|| InputError::new(Refusal::Invalid, pointer, format!("{axis} must be a number within ±{limit}")))
}

fn required_id(body: &Value, pointer: &str, name: &str) -> Result<String, InputError> {
    id_at(body, pointer)?.ok_or_else(|| InputError::new(Refusal::Missing, pointer, format!("{name} is missing")))
}

/// An id at `pointer`, as text whether sent as a string or a number; `None` when absent, null
/// or empty.
fn id_at(body: &Value, pointer: &str) -> Result<Option<String>, InputError> {
    match body.pointer(pointer) {
        None | Some(Value::Null) | Some(Value::String(_)) | Some(Value::Number(_)) => {
            Ok(id_text(body.pointer(pointer)))
        }
        Some(_) => Err(InputError::new(Refusal::Invalid, pointer, "must be a string or a number")),
    }
}

fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        // serde_json renders an integer with exactly the digits received.
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn optional_str(value: &Value, pointer: &str) -> Result<Option<String>, InputError> {
    match value.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(InputError::new(Refusal::Invalid, pointer, "must be a string")),
    }
}

fn prefixed(mut err: InputError, at: &str) -> InputError {
    err.pointer = format!("{at}{}", err.pointer);
    err
}

/// Epoch milliseconds written as decimal digits.
fn millis(text: &str) -> Option<DateTime<Utc>> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    DateTime::from_timestamp_millis(text.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"oa-secret-key-for-tests";
    const BODY_TEXT: &str = r#"{"app_id":"4411223344556677889","user_id_by_app":"3300112233445566778","event_name":"user_send_text","timestamp":"1752553000456","sender":{"id":"8123456789012345678"},"recipient":{"id":"2012345678901234567"},"message":{"msg_id":"a1b2c3d4e5f60718","text":"Đèn đường hỏng ở Lê Lợi"}}"#;
    const BODY: &[u8] = BODY_TEXT.as_bytes();

    fn signed_at() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_752_553_000_456).unwrap()
    }

    /// The header computed independently over the exact bytes: app id, body, timestamp, key.
    fn header_for(key: &[u8], body: &[u8], app_id: &str, timestamp: &str) -> String {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(app_id.as_bytes());
        bytes.extend_from_slice(body);
        bytes.extend_from_slice(timestamp.as_bytes());
        bytes.extend_from_slice(key);
        let digest = Sha256::digest(&bytes);
        format!("mac={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    fn good_header() -> String {
        header_for(KEY, BODY, "4411223344556677889", "1752553000456")
    }

    fn verify(key: &[u8], body: &[u8], header: Option<&str>, now: DateTime<Utc>) -> Result<(), SignatureError> {
        verify_signature(key, body, header, now, default_freshness())
    }

    #[test]
    fn good_signature_over_exact_bytes_passes() {
        assert_eq!(verify(KEY, BODY, Some(&good_header()), signed_at()), Ok(()));
        // Upper-case hex and surrounding blanks are the same signature.
        let upper = format!("mac={}", good_header()["mac=".len()..].to_uppercase());
        assert_eq!(verify(KEY, BODY, Some(&format!(" {upper} ")), signed_at()), Ok(()));
    }

    #[test]
    fn numeric_app_id_and_timestamp_are_signed_as_their_digits() {
        let body =
            br#"{"app_id":4411223344556677889,"timestamp":1752553000456,"event_name":"follow","follower":{"id":"1"}}"#;
        let header = header_for(KEY, body, "4411223344556677889", "1752553000456");
        assert_eq!(verify(KEY, body, Some(&header), signed_at()), Ok(()));
    }

    #[test]
    fn wrong_key_is_a_mismatch() {
        assert_eq!(verify(b"another-key", BODY, Some(&good_header()), signed_at()), Err(SignatureError::Mismatch));
    }

    #[test]
    fn tampered_body_is_a_mismatch() {
        let tampered = BODY_TEXT.replace("Lê Lợi", "Lê Duẩn");
        assert_eq!(verify(KEY, tampered.as_bytes(), Some(&good_header()), signed_at()), Err(SignatureError::Mismatch));
        // Re-serialising the same JSON changes the bytes, hence the signature.
        let reserialised = serde_json::to_vec(&serde_json::from_slice::<Value>(BODY).unwrap()).unwrap();
        assert_ne!(reserialised, BODY);
        assert_eq!(verify(KEY, &reserialised, Some(&good_header()), signed_at()), Err(SignatureError::Mismatch));
    }

    #[test]
    fn missing_header_and_missing_prefix_are_told_apart() {
        assert_eq!(verify(KEY, BODY, None, signed_at()), Err(SignatureError::MissingHeader));
        assert_eq!(verify(KEY, BODY, Some("  "), signed_at()), Err(SignatureError::MissingHeader));
        let bare = good_header()["mac=".len()..].to_owned();
        assert_eq!(verify(KEY, BODY, Some(&bare), signed_at()), Err(SignatureError::MissingPrefix));
        assert_eq!(verify(KEY, BODY, Some(&format!("sha256={bare}")), signed_at()), Err(SignatureError::MissingPrefix));
    }

    #[test]
    fn body_without_app_id_or_timestamp_cannot_be_checked() {
        for body in [
            &br#"{"timestamp":"1752553000456"}"#[..],
            br#"{"app_id":"44"}"#,
            br#"{"app_id":"44","timestamp":"yesterday"}"#,
            b"not json",
        ] {
            assert_eq!(verify(KEY, body, Some("mac=00"), signed_at()), Err(SignatureError::MissingFields));
        }
    }

    #[test]
    fn freshness_bounds_are_inclusive_at_fifteen_minutes() {
        let header = good_header();
        let fifteen = Duration::minutes(15);
        let ms = Duration::milliseconds(1);
        assert_eq!(verify(KEY, BODY, Some(&header), signed_at() + fifteen), Ok(()));
        assert_eq!(verify(KEY, BODY, Some(&header), signed_at() - fifteen), Ok(()));
        assert_eq!(verify(KEY, BODY, Some(&header), signed_at() + fifteen + ms), Err(SignatureError::Stale));
        assert_eq!(verify(KEY, BODY, Some(&header), signed_at() - fifteen - ms), Err(SignatureError::FromFuture));
    }

    #[test]
    fn error_messages_quote_neither_secret_nor_body() {
        for err in [
            SignatureError::MissingHeader,
            SignatureError::MissingPrefix,
            SignatureError::MissingFields,
            SignatureError::Mismatch,
            SignatureError::Stale,
            SignatureError::FromFuture,
        ] {
            let text = err.to_string();
            assert!(!text.contains("oa-secret") && !text.contains("4411") && !text.contains("Lợi"), "{text}");
        }
    }

    #[test]
    fn probe_is_the_unsigned_empty_body() {
        assert!(is_probe(b"{}", None));
        assert!(is_probe(b" { }\n", None));
        assert!(is_probe(b"", None));
        assert!(is_probe(b" \r\n", None));
        assert!(!is_probe(b"{}", Some("mac=abc")));
        assert!(!is_probe(BODY, None));
        assert!(!is_probe(b"[]", None));
        assert!(!is_probe(b"not json", None));
    }

    fn refused(body: &str) -> InputError {
        parse(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn malformed_bodies_are_refused_with_a_pointer() {
        let err = refused("{not json");
        assert_eq!((err.refusal, err.pointer.as_str()), (Refusal::Malformed, ""));
        let err = refused(r#"{"timestamp":"1"}"#);
        assert_eq!((err.refusal, err.pointer.as_str()), (Refusal::Missing, "/event_name"));
        let err = refused(r#"{"event_name":7}"#);
        assert_eq!((err.refusal, err.pointer.as_str()), (Refusal::Invalid, "/event_name"));
        let err = refused(r#"{"event_name":"user_send_text","sender":{"id":"1"},"message":{"text":"a"}}"#);
        assert_eq!((err.refusal, err.pointer.as_str()), (Refusal::Missing, "/message/msg_id"));
        let err = refused(r#"{"event_name":"user_send_text","message":{"msg_id":"m","text":"a"}}"#);
        assert_eq!((err.refusal, err.pointer.as_str()), (Refusal::Missing, "/sender/id"));
        let err = refused(r#"{"event_name":"follow","timestamp":"1"}"#);
        assert_eq!((err.refusal, err.pointer.as_str()), (Refusal::Missing, "/follower/id"));
        let err = refused(
            r#"{"event_name":"user_send_text","timestamp":"hôm qua","sender":{"id":"1"},"message":{"msg_id":"m"}}"#,
        );
        assert_eq!((err.refusal, err.pointer.as_str()), (Refusal::Invalid, "/timestamp"));
        assert!(!err.detail.contains("hôm qua"));
        let err = refused(
            r#"{"event_name":"user_send_location","sender":{"id":"1"},"message":{"msg_id":"m","attachments":[{"type":"location","payload":{"coordinates":{"latitude":"gần cầu","longitude":"107.5"}}}]}}"#,
        );
        assert_eq!(
            (err.refusal, err.pointer.as_str()),
            (Refusal::Invalid, "/message/attachments/0/payload/coordinates/latitude")
        );
        assert!(!err.detail.contains("gần cầu"));
        let err = refused(
            r#"{"event_name":"user_send_image","sender":{"id":"1"},"message":{"msg_id":"m","attachments":[{"type":"image","payload":{"url":5}}]}}"#,
        );
        assert_eq!((err.refusal, err.pointer.as_str()), (Refusal::Invalid, "/message/attachments/0/payload/url"));
        let err = refused("[]");
        assert_eq!((err.refusal, err.pointer.as_str()), (Refusal::Invalid, ""));
    }

    #[test]
    fn numeric_ids_keep_all_their_digits() {
        let events = parse(
            br#"{"event_name":"user_send_text","timestamp":1752553000456,"sender":{"id":8123456789012345678},"message":{"msg_id":9123456789012345678,"text":"x"}}"#,
        )
        .unwrap();
        assert_eq!(events[0].sender, "8123456789012345678");
        assert_eq!(events[0].message_id, "9123456789012345678");
        assert_eq!(events[0].sent_at, Some(signed_at()));
    }

    #[test]
    fn sender_is_the_user_not_the_oa() {
        assert_eq!(sender(BODY_TEXT.as_bytes()).as_deref(), Some("8123456789012345678"));
        let follow = r#"{"event_name":"follow","follower":{"id":8123456789012345678}}"#;
        assert_eq!(sender(follow.as_bytes()).as_deref(), Some("8123456789012345678"));
        let ours = r#"{"event_name":"oa_send_text","sender":{"id":"2012345678901234567"},"recipient":{"id":"81"}}"#;
        assert_eq!(sender(ours.as_bytes()), None);
        assert_eq!(sender(b"[1,2"), None);
    }
}
