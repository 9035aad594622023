//! What the chat channels (Facebook Page, Zalo OA) deliver, in one shape: the events of one
//! webhook body, parsed from the exact bytes received (SPEC §3, reference/channels.md §1–2).
//!
//! The platform adapters ([`crate::facebook`], [`crate::zalo`]) verify signatures and turn
//! their own envelopes into [`ChatEvent`]s; draft assembly, media fetching and replies build on
//! this shape and never see a platform's JSON. A `ChatEvent` still holds personal data (the
//! sender's platform id and, for comments, their name): the service seals it and it never
//! reaches a record.

use chrono::{DateTime, Utc};
use hue_intake_schemas::{Channel, MediaKind};

/// One event of a webhook body.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatEvent {
    pub channel: Channel,
    /// The native id that makes it unique on its channel: Facebook `mid` or `comment_id`, Zalo
    /// `msg_id` (SPEC §8 prefixes it with the channel). Events without one (receipts,
    /// follow/unfollow) get a stable id derived by the adapter from their fields.
    pub message_id: String,
    /// The platform's id of the person (Facebook PSID or commenter id, Zalo user id): personal
    /// data, the key of the draft (SPEC §3).
    pub sender: String,
    /// A display name the platform gave (a comment's `from.name`): personal data.
    pub sender_name: Option<String>,
    /// When the platform says it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    pub kind: ChatKind,
}

/// What an event is, and what it carries.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatKind {
    /// A citizen's message: text and/or attachments, perhaps quoting one of ours.
    Message(ChatMessage),
    /// A comment on a Page post (Facebook `feed`): added or edited carry the text; removed
    /// is noted on the draft or record.
    Comment {
        post_id: String,
        verb: CommentVerb,
        message: ChatMessage,
    },
    /// A tapped button (Facebook postback, quick reply without text): its payload.
    Postback {
        payload: String,
        title: Option<String>,
    },
    /// A sticker alone, a reaction: no record (SPEC §8).
    Sticker,
    Reaction,
    /// Our own words coming back (Messenger echo, Zalo `oa_send_*`, the Page's own comment).
    /// `metadata` is what the sender attached (Messenger echoes carry the Send API's
    /// `metadata`, where the gateway puts its reply id, so an echo confirms a send).
    Echo {
        metadata: Option<String>,
    },
    /// Delivery and read receipts.
    Receipt,
    /// Follow / unfollow of the Zalo OA.
    Follow {
        follows: bool,
    },
    /// An event kind the gateway does not use; kept raw and counted.
    Other {
        name: String,
    },
}

/// Facebook `feed` verbs the gateway distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentVerb {
    Add,
    Edited,
    Remove,
}

/// The content of a message or comment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatMessage {
    /// The text as sent (not cleaned yet).
    pub text: Option<String>,
    pub attachments: Vec<ChatAttachment>,
    /// A shared location pin (WGS 84).
    pub location: Option<Coordinates>,
    /// The platform id of the message this one quotes or replies to (Facebook
    /// `reply_to.mid`, Zalo `quote_msg_id`; for a reply to a comment, the parent comment id).
    pub reply_to: Option<String>,
    /// A quick reply's payload riding along with text.
    pub quick_reply: Option<String>,
}

/// A media attachment, not fetched yet: its kind and the platform's (expiring) URL.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatAttachment {
    pub kind: MediaKind,
    pub url: Option<String>,
    /// A file's name as the platform gave it.
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    pub lat: f64,
    pub lon: f64,
}

impl ChatEvent {
    /// Whether this event carries a citizen's content that can become (part of) a record.
    pub fn has_content(&self) -> bool {
        match &self.kind {
            ChatKind::Message(m) | ChatKind::Comment { message: m, .. } => {
                m.text.as_deref().is_some_and(|t| !t.trim().is_empty())
                    || !m.attachments.is_empty()
                    || m.location.is_some()
            }
            ChatKind::Postback { .. } => true,
            _ => false,
        }
    }
}

/// Equality that takes the same time wherever the inputs differ, and hides their lengths:
/// both sides are MACed under a fixed key and the tags compared with `verify_slice`. For the
/// secrets and signatures the platforms send (verify tokens, signature digests).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use hmac::{Hmac, KeyInit, Mac};
    let tag = |bytes: &[u8]| {
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"hue-intake constant-time comparison")
            .expect("HMAC takes keys of any length");
        mac.update(bytes);
        mac
    };
    let expected = tag(b).finalize().into_bytes();
    tag(a).verify_slice(&expected).is_ok()
}

/// A coordinate as the platforms send it: a JSON number, or a decimal string (Zalo's habit);
/// `None` for anything else or a non-finite value. Range checks are the caller's.
pub(crate) fn coordinate_value(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|v| v.is_finite())
}
