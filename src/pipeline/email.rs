//! The pipeline's e-mail stage: one stored mail → no record (machine mail), a report, or an
//! interaction on a report (R10), with its acknowledgement queued for the reply worker.
//!
//! - Machine mail (auto-replies, list mail, bounces, our own mail coming back) makes no
//!   record; it stays stored and is counted. A bounce of one of our replies marks that reply
//!   failed, in the same transaction.
//! - Threading (R10): `In-Reply-To`/`References` naming one of our Message-IDs make an
//!   interaction on that reply's report; a `[HUE-…]` subject tag does so only when the sender
//!   is that report's reporter (a code from anyone else starts a new report: osTicket's rule
//!   against hijacking a thread).
//! - Attachments and inline images go through the app channel's checks (caps, sniffing,
//!   EXIF GPS) into the media store; one that fails them is left out and counted, the mail
//!   still becomes a record.
//! - A mail over `mail.max_message_bytes` is quarantined raw and its sender told.
//! - Replies: never to machine mail; at most `mail.max_replies_per_address_per_day` to one
//!   address (a loop with another robot stops there).

use std::collections::HashMap;

use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use hue_intake_adapters::attachment::Limits;
use hue_intake_adapters::email::{self, Email, MachineKind, record};
use hue_intake_adapters::error::Refusal;
use hue_intake_adapters::replies;
use hue_intake_schemas::{Channel, Kind, MediaItem, TrackingCode};
use sha2::Sha256;

use super::{Labels, Pipeline, raw_associated_data};
use crate::mail::smtp;
use crate::media_store::{MediaStore, Staged, UploadError};
use crate::store::chat::{Recipient, ReplyPurpose};
use crate::store::{Pending, Processed, StoreError};

/// The e-mail settings of the pipeline.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub media: MediaStore,
    pub limits: Limits,
    pub max_message_bytes: u64,
    pub message_id_domain: String,
    pub max_replies_per_address_per_day: u32,
}

/// What one step of the e-mail stage holds until the commit.
#[derive(Default)]
pub(super) struct MailBatch {
    /// Attachments written and synced, moved into place just before the commit.
    pub(super) staged: Vec<Staged>,
    /// Replies queued in this batch per recipient key (the store counts the committed ones).
    queued: HashMap<String, u64>,
}

impl Pipeline {
    /// Folds one stored mail into `processed`. An `Err` inside is the quarantine reason.
    pub(super) async fn fold_email(
        &self,
        message: &Pending,
        batch: &mut MailBatch,
        processed: &mut Processed,
        counted: &mut Vec<Labels>,
    ) -> Result<Result<(), String>, StoreError> {
        let raw =
            match self.sealer.open(&message.raw_sealed, &raw_associated_data(message.channel, &message.message_id)) {
                Ok(raw) => raw,
                Err(e) => return Ok(Err(e.to_string())),
            };
        let max = self.mail.max_message_bytes;
        if raw.len() as u64 > max {
            // Kept raw (quarantine) and the sender told, unless it is a robot.
            if let Ok(headers) = email::parse_headers(&raw)
                && headers.machine.is_none()
            {
                let text = replies::too_large(max).text;
                self.queue_mail_reply(&headers, message, None, text, "too_large", batch, processed).await?;
            }
            return Ok(Err(format!("the mail has {} bytes, more than mail.max_message_bytes ({max})", raw.len())));
        }
        let mail = match email::parse(&raw) {
            Ok(mail) => mail,
            Err(e) => return Ok(Err(format!("the mail does not parse: {}", e.detail))),
        };
        if let Some(machine) = &mail.machine {
            metrics::counter!("hue_intake_mail_machine_total", "kind" => machine.as_str()).increment(1);
            if let MachineKind::Bounce { original_message_id: Some(id) } = machine {
                processed.chat.bounced.push(id.clone());
            }
            return Ok(Ok(()));
        }
        let in_reply_to = self.thread(&mail).await?;
        let media = self.stage_attachments(&mail, batch).await?;
        let record_id = crate::ids::new_record_id();
        let tracking_code = crate::ids::new_tracking_code();
        let account = record::account_of(&mail);
        let reporter_ref = reporter_ref(&self.decoder.reporter_key, account.as_deref(), &mail.message_id);
        let standing = self.store.standing(&reporter_ref, message.received_at).await?;
        let ctx = self.decoder.context(super::Assigned {
            channel: Channel::Email,
            received_at: message.received_at,
            raw_sha256: &message.raw_sha256,
            record_id,
            tracking_code,
            standing,
        });
        let rating = self.rating_answer(&mail, in_reply_to.as_ref()).await?;
        let normalized = record::to_record_rated(&mail, in_reply_to, rating, media, &ctx);
        let text = replies::compose(&normalized.report, &standing, self.decoder.rules.zone).text;
        let code = normalized.report.tracking_code.clone();
        self.queue_mail_reply(&mail, message, Some((record_id, code)), text, "ack", batch, processed).await?;
        let (record, labels) = self.finish(normalized);
        counted.push(labels);
        processed.records.push(record);
        Ok(Ok(()))
    }

    /// The report a mail answers (R10), if any.
    async fn thread(&self, mail: &Email) -> Result<Option<TrackingCode>, StoreError> {
        // The most recent parent first: In-Reply-To, then References from the right.
        let parents = mail.in_reply_to.iter().chain(mail.references.iter().rev());
        for parent in parents {
            if let Some(code) = self.store.replied_code(Channel::Email, parent).await?
                && let Some(report) = self.report_of(&code).await?
            {
                return Ok(Some(report));
            }
        }
        let Some(code) = mail.subject.as_deref().and_then(email::tracking_code_in_subject) else {
            return Ok(None);
        };
        let Some(report) = self.report_of(&code.to_string()).await? else {
            return Ok(None);
        };
        let sender = reporter_ref(&self.decoder.reporter_key, record::account_of(mail).as_deref(), &mail.message_id);
        let owner = self.store.reporter_of(&report.to_string()).await?;
        if owner.as_deref() == Some(sender.as_str()) {
            Ok(Some(report))
        } else {
            metrics::counter!("hue_intake_mail_foreign_codes_total").increment(1);
            Ok(None)
        }
    }

    /// R9: a mail answering one of our rating requests about `report` whose new words are
    /// only 1, 2, 3 or a level's name is a rating of that report.
    async fn rating_answer(
        &self,
        mail: &Email,
        report: Option<&TrackingCode>,
    ) -> Result<Option<hue_intake_schemas::Rating>, StoreError> {
        let Some(report) = report else { return Ok(None) };
        let Some(rating) = hue_intake_adapters::results::rating_in_reply(&record::new_text(mail)) else {
            return Ok(None);
        };
        for parent in mail.in_reply_to.iter().chain(mail.references.iter().rev()) {
            if let Some(code) = self.store.rating_request_code(parent).await?
                && code == report.to_string()
            {
                return Ok(Some(rating));
            }
        }
        Ok(None)
    }

    /// The report a tracking code stands for: itself, or the report an interaction answers.
    async fn report_of(&self, code: &str) -> Result<Option<TrackingCode>, StoreError> {
        let Some(status) = self.store.status(code).await? else {
            return Ok(None);
        };
        let report = match status.kind {
            Kind::Report => Some(status.tracking_code),
            Kind::Interaction | Kind::Rating => status.in_reply_to,
        };
        Ok(report.and_then(|c| TrackingCode::parse(&c).ok()))
    }

    /// Attachments through the app channel's checks into the media store (staged; moved into
    /// place just before the batch commits).
    async fn stage_attachments(&self, mail: &Email, batch: &mut MailBatch) -> Result<Vec<MediaItem>, StoreError> {
        let mut items = Vec::new();
        let mut total = 0u64;
        for (i, attachment) in mail.attachments.iter().enumerate() {
            if items.len() >= self.mail.limits.files_per_report {
                metrics::counter!("hue_intake_mail_attachments_skipped_total", "reason" => "too_many").increment(1);
                break;
            }
            let size = attachment.bytes.len() as u64;
            let pointer = format!("/attachments/{i}");
            match self.mail.media.stage_bytes(&attachment.bytes, &self.mail.limits, total + size, pointer).await {
                Ok(staged) => {
                    total += size;
                    items.push(staged.item().clone());
                    batch.staged.push(staged);
                }
                Err(UploadError::Refused(refusal)) => {
                    let reason = match refusal.refusal {
                        Refusal::TooLarge => "too_large",
                        Refusal::UnsupportedMedia => "unsupported_type",
                        _ => "invalid",
                    };
                    metrics::counter!("hue_intake_mail_attachments_skipped_total", "reason" => reason).increment(1);
                }
                Err(UploadError::Io(e)) => return Err(StoreError::Unavailable(format!("media storage failed: {e}"))),
            }
        }
        Ok(items)
    }

    /// Queues an e-mail reply to the sender of `mail`, unless it has no usable address or the
    /// address had its share of replies today.
    #[allow(clippy::too_many_arguments)]
    async fn queue_mail_reply(
        &self,
        mail: &Email,
        message: &Pending,
        record: Option<(uuid::Uuid, String)>,
        text: String,
        what: &str,
        batch: &mut MailBatch,
        processed: &mut Processed,
    ) -> Result<(), StoreError> {
        let Some(address) = mail.from.as_ref().and_then(|f| f.address.clone()).filter(|a| a.contains('@')) else {
            return Ok(());
        };
        let key = recipient_key(&self.decoder.reporter_key, &address);
        let since = Utc::now() - chrono::Duration::days(1);
        let earlier = self.store.replies_to(Channel::Email, &key, since).await?;
        let queued = batch.queued.entry(key.clone()).or_default();
        if earlier + *queued >= u64::from(self.mail.max_replies_per_address_per_day) {
            metrics::counter!("hue_intake_replies_total", "channel" => "email", "outcome" => "rate_limited")
                .increment(1);
            tracing::warn!(seq = message.seq, "Reply by e-mail dropped: the address had its replies for today.");
            return Ok(());
        }
        *queued += 1;
        let topic = mail.subject.as_deref().map(record::clean_subject).filter(|s| !s.is_empty());
        let subject = match (&record, topic) {
            (Some((_, code)), Some(topic)) => format!("[{code}] Re: {topic}"),
            (Some((_, code)), None) => format!("[{code}] Hue-S: phản ánh hiện trường"),
            (None, Some(topic)) => format!("Re: {topic}"),
            (None, None) => "Hue-S: thư chưa được tiếp nhận".to_owned(),
        };
        // Mails without a Message-ID got a hash as their id: nothing to thread under.
        let parent = (!mail.message_id.starts_with("sha256:")).then(|| mail.message_id.clone());
        let mut references = mail.references.clone();
        references.extend(parent.clone());
        let recipient = Recipient::Email { address, subject, in_reply_to: parent, references };
        let mut reply = self.new_reply(
            Channel::Email,
            ReplyPurpose::Acknowledgement,
            format!("{what}:{}", message.seq),
            record,
            &recipient,
            text,
        );
        reply.recipient_key = Some(key);
        reply.platform_message_id = Some(smtp::message_id(reply.id, &self.mail.message_id_domain));
        processed.chat.replies.push(reply);
        Ok(())
    }
}

/// The reporter reference of a mail's sender: the address is the account (namespace
/// `email`), as the record's normaliser computes it.
fn reporter_ref(key: &[u8], account: Option<&str>, message_id: &str) -> String {
    let identity =
        hue_intake_adapters::identity::Identity { account_id: account.map(str::to_owned), ..Default::default() };
    identity.reporter_ref(key, Channel::Email.as_str(), &format!("email:{message_id}"))
}

/// Keyed hash of a reply address (case-folded), for the rate limit (also counted by the
/// results relayed from the core).
pub(crate) fn recipient_key(key: &[u8], address: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("mail-recipient:{}", address.trim().to_lowercase()).as_bytes());
    hue_intake_adapters::attachment::hex(&mac.finalize().into_bytes()[..16])
}
