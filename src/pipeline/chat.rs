//! The pipeline's chat stage: stored webhook bodies → events → drafts → records (SPEC §3).
//!
//! For every stored body it parses the events, drops those seen before (by `mid`,
//! `comment_id` with its verb, `msg_id`), routes each (no record, a draft, an interaction)
//! and folds it into the sender's open draft, queueing the attachments to fetch and the
//! question for what the draft still lacks. Drafts whose time has come become records, with
//! their acknowledgement queued for the reply worker. Everything a batch decides is committed
//! in the pipeline's one transaction ([`Processed::chat`]), so a crash re-runs the batch and
//! nothing is folded, fetched or answered twice.
//!
//! Drafts hold references to their events (body, position), never the text: the record is
//! built from the sealed raw bodies when the draft closes, so no personal data sits in the
//! draft table and re-building gives the same record.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use hue_intake_adapters::app::Normalized;
use hue_intake_adapters::assembly::{self, Part, Route, Timing};
use hue_intake_adapters::chat::{ChatEvent, ChatKind};
use hue_intake_adapters::identity::Identity;
use hue_intake_adapters::{facebook, replies, zalo};
use hue_intake_schemas::{Channel, MediaItem, TrackingCode};
use sha2::Sha256;
use uuid::Uuid;

use super::{Labels, Pipeline, raw_associated_data};
use crate::store::chat::{
    ChatMedia, Draft, EventOutcome, FetchState, NewChatEvent, NewFetch, NewReply, Recipient, ReplyPurpose,
};
use crate::store::{NewRecord, Pending, Processed, StoreError};

/// Drafts closed per step.
const CLOSE_BATCH: usize = 64;

/// How long a closing draft may wait for its media downloads beyond its deadline.
fn media_grace() -> chrono::Duration {
    chrono::Duration::minutes(5)
}

/// The chat settings of the pipeline.
#[derive(Debug, Clone)]
pub struct ChatSettings {
    pub timing: Timing,
    /// The Facebook Page's id: the Page's own comments are echoes.
    pub facebook_page_id: Option<String>,
}

/// What one step of the chat stage decided, before it is committed.
#[derive(Default)]
pub(super) struct Batch {
    /// Drafts touched in this batch, by (channel, sender key).
    drafts: HashMap<(Channel, String), Draft>,
    /// Event keys seen in this batch (a body may repeat an event of an earlier body in it).
    seen: HashSet<(Channel, String)>,
    /// Events parsed from bodies, by inbound seq (a draft re-reads its members).
    events: HashMap<i64, (Pending, Vec<ChatEvent>)>,
    /// The platform id of each touched draft's sender, and the id of their last message (the
    /// question quotes it on Zalo); never stored in clear.
    senders: HashMap<Uuid, (String, String)>,
}

impl Pipeline {
    /// Parses one stored webhook body and folds its events. An error is the quarantine reason.
    pub(super) async fn fold_body(
        &self,
        message: &Pending,
        batch: &mut Batch,
        processed: &mut Processed,
    ) -> Result<Result<(), String>, StoreError> {
        let events = match self.events_of(message) {
            Ok(events) => events,
            Err(reason) => return Ok(Err(reason)),
        };
        let keys: Vec<String> = events.iter().map(assembly::dedup_key).collect();
        let seen = self.store.seen_events(message.channel, &keys).await?;
        batch.events.insert(message.seq, (message.clone(), events.clone()));
        for (position, (event, key)) in events.iter().zip(keys).enumerate() {
            let position = position as u32;
            if seen.contains(&key) || !batch.seen.insert((message.channel, key.clone())) {
                metrics::counter!("hue_intake_chat_events_total", "channel" => message.channel.as_str(), "route" => "duplicate")
                    .increment(1);
                continue;
            }
            let route = self.route(event).await?;
            let label: &'static str = match &route {
                Route::NoRecord(what) => what,
                Route::Interaction(_) => "interaction",
                Route::Draft => "draft",
                Route::CommentEdit => "comment_edit",
                Route::CommentRemove => "comment_remove",
            };
            metrics::counter!("hue_intake_chat_events_total", "channel" => message.channel.as_str(), "route" => label)
                .increment(1);
            if let ChatKind::Echo { metadata: Some(metadata) } = &event.kind
                && let Some(reply_id) = metadata.strip_prefix("hue-intake:").and_then(|id| Uuid::parse_str(id).ok())
                && self.store.confirm_echo(reply_id).await?
            {
                // A send interrupted by a crash, now known to have arrived: never re-sent.
                tracing::info!(channel = %message.channel, reply_id = %reply_id, "Echo confirmed a reply in doubt.");
            }
            let (outcome, record_id) = match route {
                Route::NoRecord(_) => (EventOutcome::NoRecord, None),
                Route::Draft => {
                    let draft = self.join(batch, message, position, event, None).await?;
                    (EventOutcome::Drafted, Some(draft))
                }
                Route::Interaction(code) => {
                    let draft = self.join(batch, message, position, event, Some(code)).await?;
                    (EventOutcome::Interaction, Some(draft))
                }
                Route::CommentEdit | Route::CommentRemove => {
                    let removal = matches!(route, Route::CommentRemove);
                    let earlier = self.store.event_record(message.channel, &event.message_id).await?;
                    let open = self.open_draft_of(batch, message.channel, &self.sender_key(event, None)).await?;
                    match (open, earlier) {
                        // The comment's draft is still open: the edit or removal folds into it.
                        (Some(draft), _) => {
                            let id = self.join(batch, message, position, event, None).await?;
                            debug_assert_eq!(id, draft);
                            (if removal { EventOutcome::Removed } else { EventOutcome::Edit }, Some(id))
                        }
                        // An edit after the record: the new words are an interaction on it.
                        (None, Some(record)) if !removal => match self.store.tracking_code_of(record).await? {
                            Some(code) => {
                                let code =
                                    TrackingCode::parse(&code).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                                let id = self.join(batch, message, position, event, Some(code)).await?;
                                (EventOutcome::Edit, Some(id))
                            }
                            None => (EventOutcome::Edit, None),
                        },
                        // A removal after the record is noted (counted, kept raw); the record
                        // stands, as the case system may already hold it.
                        _ => (if removal { EventOutcome::Removed } else { EventOutcome::Edit }, earlier),
                    }
                }
            };
            if matches!(outcome, EventOutcome::Drafted | EventOutcome::Interaction | EventOutcome::Edit) {
                self.queue_fetches(message, position, event, processed);
            }
            processed.chat.events.push(NewChatEvent {
                channel: message.channel,
                event_id: assembly::dedup_key(event),
                inbound_seq: message.seq,
                position,
                outcome,
                record_id,
            });
        }
        Ok(Ok(()))
    }

    fn events_of(&self, message: &Pending) -> Result<Vec<ChatEvent>, String> {
        let raw = self
            .sealer
            .open(&message.raw_sealed, &raw_associated_data(message.channel, &message.message_id))
            .map_err(|e| e.to_string())?;
        let parsed = match message.channel {
            Channel::Facebook => facebook::parse(&raw, self.chat.facebook_page_id.as_deref()),
            Channel::Zalo => zalo::parse(&raw),
            other => return Err(format!("channel {other} has no chat decoder")),
        };
        parsed.map_err(|e| format!("body does not parse: {} at {}", e.detail, e.location()))
    }

    /// Routes an event, looking up what only the store knows: which record one of our quoted
    /// messages was about, and whether a code in the text is a report.
    async fn route(&self, event: &ChatEvent) -> Result<Route, StoreError> {
        let message = match &event.kind {
            ChatKind::Message(m) | ChatKind::Comment { message: m, .. } => Some(m),
            _ => None,
        };
        let mut quoted = None;
        if let Some(reply_to) = message.and_then(|m| m.reply_to.as_deref())
            && let Some(code) = self.store.replied_code(event.channel, reply_to).await?
        {
            quoted = TrackingCode::parse(&code).ok();
        }
        // A rating tap names its report in the payload (R9); else a code written in the text.
        let rated = hue_intake_adapters::results::rating_of_event(event).map(|(code, _)| code);
        let written = rated.or_else(|| message.and_then(|m| m.text.as_deref()).and_then(assembly::tracking_code_in));
        let known = match &written {
            Some(code) => self.store.is_report(&code.to_string()).await?,
            None => false,
        };
        Ok(assembly::route(event, quoted, |c| known && Some(c) == written.as_ref()))
    }

    /// The keyed hash that finds a sender's draft; an interaction's draft is also keyed by
    /// the report it answers.
    fn sender_key(&self, event: &ChatEvent, in_reply_to: Option<&TrackingCode>) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.decoder.reporter_key)
            .expect("HMAC takes keys of any length");
        mac.update(format!("draft:{}:{}", event.channel, event.sender).as_bytes());
        if let Some(code) = in_reply_to {
            mac.update(format!(":{code}").as_bytes());
        }
        hue_intake_adapters::attachment::hex(&mac.finalize().into_bytes()[..16])
    }

    async fn open_draft_of(
        &self,
        batch: &mut Batch,
        channel: Channel,
        sender_key: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        let key = (channel, sender_key.to_owned());
        if let Some(draft) = batch.drafts.get(&key) {
            return Ok(draft.open.then_some(draft.record_id));
        }
        let stored = self.store.open_draft(channel, sender_key).await?;
        let id = stored.as_ref().map(|d| d.record_id);
        if let Some(draft) = stored {
            batch.drafts.insert(key, draft);
        }
        Ok(id)
    }

    /// Adds an event to its sender's open draft, opening one if there is none; returns the
    /// draft's record id.
    async fn join(
        &self,
        batch: &mut Batch,
        message: &Pending,
        position: u32,
        event: &ChatEvent,
        in_reply_to: Option<TrackingCode>,
    ) -> Result<Uuid, StoreError> {
        let sender_key = self.sender_key(event, in_reply_to.as_ref());
        self.open_draft_of(batch, message.channel, &sender_key).await?;
        let key = (message.channel, sender_key.clone());
        let at = message.received_at;
        let draft = batch.drafts.entry(key).or_insert_with(|| Draft {
            record_id: crate::ids::new_record_id(),
            channel: message.channel,
            sender_key,
            tracking_code: crate::ids::new_tracking_code().to_string(),
            in_reply_to: in_reply_to.as_ref().map(ToString::to_string),
            opened_at: at,
            last_at: at,
            closes_at: at,
            members: Vec::new(),
            asked: Vec::new(),
            open: true,
        });
        draft.members.push((message.seq, position));
        draft.last_at = draft.last_at.max(at);
        batch.senders.insert(draft.record_id, (event.sender.clone(), event.message_id.clone()));
        Ok(draft.record_id)
    }

    fn queue_fetches(&self, message: &Pending, position: u32, event: &ChatEvent, processed: &mut Processed) {
        let attachments = match &event.kind {
            ChatKind::Message(m) | ChatKind::Comment { message: m, .. } => &m.attachments,
            _ => return,
        };
        for (i, attachment) in attachments.iter().enumerate() {
            if let Some(url) = &attachment.url {
                processed.chat.fetches.push(NewFetch {
                    inbound_seq: message.seq,
                    position,
                    attachment: i as u32,
                    kind: attachment.kind,
                    url: url.clone(),
                    next_attempt_at: message.received_at,
                });
            }
        }
    }

    /// After the batch's bodies are folded: every touched draft gets its deadline, and an open
    /// report draft that lacks a description or a place asks for it once (R4).
    pub(super) async fn settle_drafts(&self, batch: &mut Batch, processed: &mut Processed) -> Result<(), StoreError> {
        let mut drafts: Vec<Draft> = batch.drafts.values().filter(|d| d.open).cloned().collect();
        drafts.sort_by_key(|d| d.record_id);
        for mut draft in drafts {
            let parts = self.parts_of(batch, &draft).await?;
            if parts.is_empty() {
                continue;
            }
            let complete = draft.in_reply_to.is_some() || assembly::is_complete(&parts);
            draft.closes_at = assembly::closes_at(draft.opened_at, draft.last_at, complete, self.chat.timing);
            let comment = parts.iter().all(|p| matches!(p.event.kind, ChatKind::Comment { .. }));
            if draft.in_reply_to.is_none() && !comment {
                let missing: Vec<_> = assembly::missing_essentials(&parts)
                    .into_iter()
                    .filter(|m| !draft.asked.iter().any(|a| a == m.as_str()))
                    .collect();
                if !missing.is_empty()
                    && let Some((sender, last)) = batch.senders.get(&draft.record_id)
                {
                    let sample: String = parts
                        .iter()
                        .filter_map(|p| match &p.event.kind {
                            ChatKind::Message(m) => m.text.clone(),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .join(" ");
                    let reply = replies::question(&sample, &missing);
                    let items: Vec<&str> = missing.iter().map(|m| m.as_str()).collect();
                    let recipient = recipient(draft.channel, sender, last, false);
                    processed.chat.replies.push(self.new_reply(
                        draft.channel,
                        ReplyPurpose::Question,
                        format!("ask:{}:{}", draft.record_id, items.join(",")),
                        None,
                        &recipient,
                        reply.text,
                    ));
                    draft.asked.extend(items.iter().map(|s| (*s).to_owned()));
                }
            }
            processed.chat.drafts.push(draft);
        }
        Ok(())
    }

    /// The events of a draft, in order, parsed from their stored bodies.
    async fn parts_of(&self, batch: &mut Batch, draft: &Draft) -> Result<Vec<Part>, StoreError> {
        let missing: Vec<i64> = draft
            .members
            .iter()
            .map(|(seq, _)| *seq)
            .filter(|seq| !batch.events.contains_key(seq))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !missing.is_empty() {
            for message in self.store.messages(&missing).await? {
                match self.events_of(&message) {
                    Ok(events) => {
                        batch.events.insert(message.seq, (message, events));
                    }
                    // A member body that parsed when it came and does not now: a bug or a key
                    // rotated away. Its events are left out rather than blocking the draft.
                    Err(reason) => {
                        tracing::error!(seq = message.seq, reason = %reason, "A draft's stored body no longer parses.")
                    }
                }
            }
        }
        Ok(draft
            .members
            .iter()
            .filter_map(|(seq, position)| {
                let (message, events) = batch.events.get(seq)?;
                Some(Part {
                    event: events.get(*position as usize)?.clone(),
                    received_at: message.received_at,
                    raw_sha256: message.raw_sha256.clone(),
                })
            })
            .collect())
    }

    /// Drafts whose time has come become records, each with its acknowledgement queued.
    pub(super) async fn close_drafts(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let due = self.store.closing_drafts(now, CLOSE_BATCH).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut batch = Batch::default();
        let mut processed = Processed::default();
        let mut counted = Vec::new();
        let mut closed = 0;
        for mut draft in due {
            let seqs: Vec<i64> = draft.members.iter().map(|(seq, _)| *seq).collect();
            let media = self.store.chat_media_of(&seqs).await?;
            let members: HashSet<(i64, u32)> = draft.members.iter().copied().collect();
            let media: Vec<ChatMedia> =
                media.into_iter().filter(|m| members.contains(&(m.inbound_seq, m.position))).collect();
            // The CDN URLs expire: a record waits (a little) for its downloads to settle.
            if media.iter().any(|m| m.state == FetchState::Pending) && now < draft.closes_at + media_grace() {
                continue;
            }
            let parts = self.parts_of(&mut batch, &draft).await?;
            draft.open = false;
            if parts.is_empty() {
                processed.chat.drafts.push(draft);
                continue;
            }
            let (record, labels, reply) = self.record_of_draft(&draft, &parts, media).await?;
            counted.push(labels);
            processed.records.push(record);
            if let Some(reply) = reply {
                processed.chat.replies.push(reply);
            }
            processed.chat.drafts.push(draft);
            closed += 1;
        }
        if processed.chat.drafts.is_empty() {
            return Ok(0);
        }
        self.store.commit_processed(processed).await?;
        for labels in counted {
            labels.count();
        }
        Ok(closed)
    }

    async fn record_of_draft(
        &self,
        draft: &Draft,
        parts: &[Part],
        media: Vec<ChatMedia>,
    ) -> Result<(NewRecord, Labels, Option<NewReply>), StoreError> {
        let first = &parts[0].event;
        let identity = Identity { account_id: Some(first.sender.clone()), ..Identity::default() };
        let reporter_ref = identity.reporter_ref(&self.decoder.reporter_key, draft.channel.as_str(), "");
        let received_at = parts[0].received_at;
        let standing = self.store.standing(&reporter_ref, received_at).await?;
        let items: Vec<MediaItem> = media.into_iter().map(media_item).collect();
        let in_reply_to = draft.in_reply_to.as_deref().and_then(|c| TrackingCode::parse(c).ok());
        let tracking_code =
            TrackingCode::parse(&draft.tracking_code).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let ctx = self.decoder.context(super::Assigned {
            channel: draft.channel,
            received_at,
            raw_sha256: &parts[0].raw_sha256,
            record_id: draft.record_id,
            tracking_code,
            standing,
        });
        let normalized: Normalized = assembly::to_record(parts, in_reply_to, items, &ctx);
        let reply = replies::compose(&normalized.report, &standing, self.decoder.rules.zone);
        let last = parts.last().expect("parts are not empty");
        let comment = parts.iter().find(|p| matches!(p.event.kind, ChatKind::Comment { .. }));
        let recipient = match comment {
            Some(c) => recipient(draft.channel, &c.event.sender, &c.event.message_id, true),
            None => recipient(draft.channel, &first.sender, &last.event.message_id, false),
        };
        let reply = self.new_reply(
            draft.channel,
            ReplyPurpose::Acknowledgement,
            format!("ack:{}", draft.record_id),
            Some((draft.record_id, draft.tracking_code.clone())),
            &recipient,
            reply.text,
        );
        let (record, labels) = self.finish(normalized);
        Ok((record, labels, Some(reply)))
    }

    pub(super) fn new_reply(
        &self,
        channel: Channel,
        purpose: ReplyPurpose,
        dedupe_key: String,
        record: Option<(Uuid, String)>,
        recipient: &Recipient,
        text: String,
    ) -> NewReply {
        let id = crate::ids::new_record_id();
        let recipient = serde_json::to_vec(recipient).expect("recipients serialise");
        NewReply {
            id,
            channel,
            purpose,
            dedupe_key,
            record_id: record.as_ref().map(|r| r.0),
            tracking_code: record.map(|r| r.1),
            recipient_sealed: self.sealer.seal(&recipient, id.to_string().as_bytes()),
            text,
            next_attempt_at: Utc::now(),
            recipient_key: None,
            platform_message_id: None,
            options: None,
        }
    }
}

/// Who a reply goes to: the Messenger conversation, a private reply to the comment, or the
/// Zalo follower (quoting their last message, which keeps it a reply for Zalo's quota).
fn recipient(channel: Channel, sender: &str, message_id: &str, comment: bool) -> Recipient {
    match channel {
        Channel::Facebook if comment => Recipient::FacebookComment { comment_id: message_id.to_owned() },
        Channel::Facebook => Recipient::FacebookUser { psid: sender.to_owned() },
        _ => Recipient::ZaloUser { user_id: sender.to_owned(), quote: Some(message_id.to_owned()) },
    }
}

/// A chat attachment as it goes in the record: stored, or its platform URL kept.
fn media_item(media: ChatMedia) -> MediaItem {
    match (media.state, media.item) {
        (FetchState::Fetched, Some(item)) => item,
        _ => assembly::unfetched(media.kind, media.url),
    }
}
