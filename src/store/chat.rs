//! What the store keeps for the chat channels (Facebook Page, Zalo OA) beside the raw bodies:
//! seen events, open drafts, media to fetch, replies to send and the platforms' tokens.
//!
//! These are the shapes the pipeline commits with its records ([`ChatChanges`] rides in
//! [`super::Processed`], so an event, the draft it joins, the media it brings and the reply
//! it causes are committed together or not at all) and the rows the workers read back.

use chrono::{DateTime, Utc};
use hue_intake_schemas::{Channel, MediaItem, MediaKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What became of one event of a webhook body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOutcome {
    /// Folded into a draft.
    Drafted,
    /// Made an interaction record at once.
    Interaction,
    /// Stored and counted, no record (receipts, echoes, stickers alone, follows, reactions).
    NoRecord,
    /// A comment edit applied to its draft, or made an interaction on its record.
    Edit,
    /// A comment removal, noted.
    Removed,
}

impl EventOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Drafted => "drafted",
            EventOutcome::Interaction => "interaction",
            EventOutcome::NoRecord => "no_record",
            EventOutcome::Edit => "edit",
            EventOutcome::Removed => "removed",
        }
    }
}

/// An event seen for the first time.
#[derive(Debug, Clone)]
pub struct NewChatEvent {
    pub channel: Channel,
    pub event_id: String,
    pub inbound_seq: i64,
    pub position: u32,
    pub outcome: EventOutcome,
    /// The draft it joined (its record id) or the record it became.
    pub record_id: Option<Uuid>,
}

/// Where an event sits: its body (inbound seq) and its index in the body.
pub type Member = (i64, u32);

/// A conversation being assembled (SPEC §3). Written whole on every change.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub record_id: Uuid,
    pub channel: Channel,
    /// Keyed hash of the platform sender id: finds the draft without storing the id.
    pub sender_key: String,
    pub tracking_code: String,
    /// The report an interaction's draft answers (SPEC §3: a quote or a tracking code).
    pub in_reply_to: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub members: Vec<Member>,
    /// Missing items (`description`, `location`) the citizen was already asked for.
    pub asked: Vec<String>,
    pub open: bool,
}

/// An attachment to download.
#[derive(Debug, Clone)]
pub struct NewFetch {
    pub inbound_seq: i64,
    pub position: u32,
    pub attachment: u32,
    pub kind: MediaKind,
    pub url: String,
    pub next_attempt_at: DateTime<Utc>,
}

/// Where a fetch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchState {
    Pending,
    Fetched,
    Failed,
}

/// A chat attachment as the store knows it.
#[derive(Debug, Clone)]
pub struct ChatMedia {
    pub id: i64,
    pub inbound_seq: i64,
    pub position: u32,
    pub attachment: u32,
    pub kind: MediaKind,
    pub url: String,
    pub state: FetchState,
    pub attempts: u32,
    /// The stored media, once fetched.
    pub item: Option<MediaItem>,
}

/// Why the gateway writes to the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyPurpose {
    /// The record's acknowledgement: tracking code, disposition, refusal or notice.
    Acknowledgement,
    /// A question for missing items while a draft is open.
    Question,
    /// A result from the case system relayed to the reporter (R9).
    Result,
    /// A `resolved` result with the rating question (R9): an answer to it is a rating.
    RatingRequest,
}

impl ReplyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyPurpose::Acknowledgement => "acknowledgement",
            ReplyPurpose::Question => "question",
            ReplyPurpose::Result => "result",
            ReplyPurpose::RatingRequest => "rating_request",
        }
    }
}

/// How a Messenger message goes out (reference/channels.md §1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Messaging {
    /// `RESPONSE`: an answer inside the 24 h window (acknowledgements, questions).
    Response,
    /// `UPDATE`: a message of our own inside the 24 h window (a result from the core).
    Update,
    /// `MESSAGE_TAG` with `HUMAN_AGENT`: up to 7 days after the citizen's last message.
    HumanAgent,
}

/// One button of a rating request: its title and the payload that comes back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub title: String,
    pub payload: String,
}

/// What a reply carries beyond its text (none of it personal data: stored in clear).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyOptions {
    /// Messenger only; `None` is `RESPONSE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging: Option<Messaging>,
    /// Facebook quick replies / Zalo buttons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
}

/// Who gets a reply, on which surface. Personal data: sealed in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Recipient {
    /// A Messenger conversation (page-scoped id).
    FacebookUser { psid: String },
    /// A private reply to a comment on a Page post (one per comment, within 7 days).
    FacebookComment { comment_id: String },
    /// A Zalo OA follower; `quote` is the citizen's message we answer (keeps it a reply, not
    /// a proactive message, for Zalo's quota).
    ZaloUser { user_id: String, quote: Option<String> },
    /// A mailbox: the reply threads under the citizen's mail (`in_reply_to`, `references`,
    /// ids without angle brackets) and its subject carries the tracking code.
    Email { address: String, subject: String, in_reply_to: Option<String>, references: Vec<String> },
}

/// A reply to queue, once per `dedupe_key`.
#[derive(Debug, Clone)]
pub struct NewReply {
    pub id: Uuid,
    pub channel: Channel,
    pub purpose: ReplyPurpose,
    /// What it answers (`ack:<record id>`, `ask:<draft record id>:<items>`): a second reply
    /// for the same thing is dropped at insert.
    pub dedupe_key: String,
    pub record_id: Option<Uuid>,
    pub tracking_code: Option<String>,
    /// [`Recipient`] as JSON, sealed with the reply id as associated data.
    pub recipient_sealed: Vec<u8>,
    pub text: String,
    pub next_attempt_at: DateTime<Utc>,
    /// Keyed hash of the recipient's address (e-mail): counts the replies one address got, for
    /// the rate limit against mail loops, without storing the address in clear.
    pub recipient_key: Option<String>,
    /// Our id of the message, when we choose it before sending (e-mail's Message-ID): a reply
    /// to it or a bounce of it finds this row.
    pub platform_message_id: Option<String>,
    /// Messaging type, quick replies, buttons; `None` for a plain text.
    pub options: Option<ReplyOptions>,
}

/// Everything chat-related the pipeline commits with a batch.
#[derive(Debug, Clone, Default)]
pub struct ChatChanges {
    pub events: Vec<NewChatEvent>,
    /// Drafts opened, grown or closed (upserted by record id).
    pub drafts: Vec<Draft>,
    pub fetches: Vec<NewFetch>,
    pub replies: Vec<NewReply>,
    /// Our e-mails (their Message-IDs) that came back as bounces: those replies failed.
    pub bounced: Vec<String>,
}

impl ChatChanges {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.drafts.is_empty()
            && self.fetches.is_empty()
            && self.replies.is_empty()
            && self.bounced.is_empty()
    }
}

/// Writes chat changes (replies) inside a caller's transaction, on either backend's
/// connection: for stores of other tables that queue a reply with their own row (core
/// updates), written once for both.
pub(crate) trait ChatRows {
    fn write_chat(
        &mut self,
        changes: &ChatChanges,
    ) -> impl std::future::Future<Output = Result<(), super::StoreError>> + Send;
}
