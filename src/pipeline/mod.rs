//! The processing stages after receive: decode → assemble → triage → record, run from the
//! stored messages by a background worker.
//!
//! Nothing here runs before an acknowledgement. The worker takes the oldest unprocessed
//! messages, turns each into its record with [`Decoder`] (the same pure code `normalize` and
//! the receive path use), seals the identity and commits records, vault entries, outbox rows
//! and message states in one transaction. A crash anywhere re-runs the batch: records are
//! keyed by the id allocated at receive, so nothing is recorded twice. A message that cannot
//! be decoded any more (a bug, a key rotated away) is quarantined with its reason, raw bytes
//! kept, instead of blocking the queue. Instances sharing one database take turns: only the
//! holder of the `pipeline` lease steps ([`crate::lease`]).

mod chat;
mod decode;
mod email;

pub(crate) use email::recipient_key as email_recipient_key;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use hue_intake_adapters::app::Normalized;
use hue_intake_schemas::{Channel, DispositionReason, DispositionState};
use tokio_util::sync::CancellationToken;

pub use chat::ChatSettings;
pub use decode::{Assigned, Decoder, MessageMeta};
pub use email::MailSettings;

use crate::seal::Sealer;
use crate::store::{NewRecord, Pending, Processed, Store, StoreError};

/// Messages taken per step while messages are being received. A step's records are committed
/// by the one writer that also commits every acknowledgement, so a big step holds the
/// webhooks' answers behind it: at 256 chat messages a step, ingest's p99 was 24–32 ms; at 64,
/// under 11 ms (issue 8).
const BATCH_WHILE_RECEIVING: usize = 64;
/// Messages taken per step when nothing was received since the last one (a backlog draining
/// after a burst or a restart): fewer, larger commits make records faster (about a third more
/// per second than at 64).
const BATCH_DRAINING: usize = 256;

/// How big the next step is: small while messages keep arriving, large while draining.
#[derive(Debug, Default)]
pub struct Pace {
    /// The store's count of committed receives at the last step.
    receives_seen: AtomicU64,
    /// The size of the last step (a step that filled it found more waiting).
    last_batch: AtomicUsize,
}

impl Pace {
    fn next_batch(&self, receives: u64) -> usize {
        let receiving = self.receives_seen.swap(receives, Ordering::Relaxed) != receives;
        let batch = if receiving { BATCH_WHILE_RECEIVING } else { BATCH_DRAINING };
        self.last_batch.store(batch, Ordering::Relaxed);
        batch
    }
}

/// The record stage's worker.
pub struct Pipeline {
    pub store: Store,
    pub sealer: Sealer,
    pub decoder: Arc<Decoder>,
    /// How long an incomplete report waits for the reporter before it goes downstream flagged.
    pub incomplete_hold: chrono::Duration,
    /// How often to look for work when no wake-up came (a safety net, not the mechanism),
    /// and so how late a chat draft may close after its deadline.
    pub poll_interval: Duration,
    pub chat: ChatSettings,
    pub mail: MailSettings,
    /// Steps are taken only while this holds the store's `pipeline` lease.
    pub lease: crate::lease::Lease,
    pub pace: Pace,
}

impl Pipeline {
    pub async fn run(self, shutdown: CancellationToken) {
        let wake = self.store.wakes().messages;
        let poll_interval = self.poll_interval;
        let mut drained = crate::worker::run(self, wake, poll_interval, shutdown).await;
        // Drained: a standby may take over now rather than when the lease runs out.
        drained.lease.release(&drained.store).await;
    }

    /// Processes one batch of pending messages; returns how many were taken.
    pub async fn step(&self) -> Result<usize, StoreError> {
        let batch = self.pace.next_batch(self.store.wakes().receives());
        let pending = self.store.pending(batch).await?;
        let taken = pending.len();
        if taken == 0 {
            // Time-based work: chat drafts whose quiet time or limit has passed.
            return self.close_drafts(chrono::Utc::now()).await;
        }
        let mut processed = Processed::default();
        let mut counted: Vec<Labels> = Vec::new();
        let mut chat = chat::Batch::default();
        let mut mail = email::MailBatch::default();
        for message in pending {
            if message.channel == Channel::Email {
                match self.fold_email(&message, &mut mail, &mut processed, &mut counted).await? {
                    Ok(()) => processed.done.push(message.seq),
                    Err(reason) => quarantine(&mut processed, &message, reason),
                }
                continue;
            }
            if matches!(message.channel, Channel::Facebook | Channel::Zalo) {
                match self.fold_body(&message, &mut chat, &mut processed).await? {
                    Ok(()) => processed.done.push(message.seq),
                    Err(reason) => quarantine(&mut processed, &message, reason),
                }
                continue;
            }
            match self.record_of(&message) {
                Ok((record, labels)) => {
                    counted.push(labels);
                    processed.records.push(record);
                    processed.done.push(message.seq);
                }
                Err(reason) => quarantine(&mut processed, &message, reason),
            }
        }
        self.settle_drafts(&mut chat, &mut processed).await?;
        // Media files are in place (and synced) before the records that name them commit.
        self.mail
            .media
            .commit(&mail.staged)
            .await
            .map_err(|e| StoreError::Unavailable(format!("media storage failed: {e}")))?;
        self.store.commit_processed(processed).await?;
        // Counted only once committed: a batch that fails is retried and must not count twice.
        for labels in counted {
            labels.count();
        }
        let closed = self.close_drafts(chrono::Utc::now()).await?;
        Ok(taken + closed)
    }

    fn record_of(&self, message: &Pending) -> Result<(NewRecord, Labels), String> {
        let raw = self
            .sealer
            .open(&message.raw_sealed, &raw_associated_data(message.channel, &message.message_id))
            .map_err(|e| e.to_string())?;
        let normalized = self.decoder.decode_stored(message, &raw)?;
        Ok(self.finish(normalized))
    }

    /// The record to commit for a normalised report, and its metric labels.
    fn finish(&self, normalized: Normalized) -> (NewRecord, Labels) {
        // The rule that decided, never text (R8): enough to explain a disposition.
        tracing::debug!(record_id = %normalized.report.id, channel = %normalized.report.channel, rule = normalized.rule, "Record decided.");
        let report = normalized.report;
        let labels = Labels {
            kind: report.kind.as_str(),
            disposition: report.disposition.state.as_str(),
            reason: report.disposition.reason.map_or("none", DispositionReason::as_str),
            violation: normalized
                .violation
                .as_ref()
                .map(|v| (v.scope.as_str(), if v.counts { "counted" } else { "review" })),
        };
        let identity = serde_json::to_vec(&normalized.identity).expect("identity serialises");
        let deliver_after = match report.disposition.state {
            DispositionState::Accepted => Some(report.received_at),
            DispositionState::Deferred => Some(report.disposition.deliver_after.unwrap_or(report.received_at)),
            DispositionState::Incomplete => Some(report.received_at + self.incomplete_hold),
            DispositionState::Rejected => None,
        };
        let record = NewRecord {
            id: report.id,
            tracking_code: report.tracking_code.clone(),
            kind: report.kind,
            channel: report.channel,
            received_at: report.received_at,
            state: report.disposition.state.as_str().to_owned(),
            in_reply_to: report.in_reply_to.clone(),
            body: serde_json::to_string(&report).expect("reports serialise"),
            reporter_ref: report.reporter.reference.clone(),
            consent: report.reporter.consent,
            identity_sealed: self.sealer.seal(&identity, report.id.to_string().as_bytes()),
            deliver_after,
            violation: normalized.violation,
        };
        (record, labels)
    }
}

/// Keeps an authentic message that cannot be processed raw, with the reason (which names what
/// failed, never the content), and counts it.
fn quarantine(processed: &mut Processed, message: &Pending, reason: String) {
    tracing::warn!(channel = %message.channel, seq = message.seq, reason = %reason, "Message quarantined.");
    metrics::counter!("hue_intake_quarantined_total", "channel" => message.channel.as_str()).increment(1);
    processed.quarantined.push((message.seq, reason));
}

/// The metric labels of one record (all from closed sets, never text).
struct Labels {
    kind: &'static str,
    disposition: &'static str,
    reason: &'static str,
    /// (scope, tier) of its R12 violation.
    violation: Option<(&'static str, &'static str)>,
}

impl Labels {
    /// Out-of-scope matters and refusals are kept and counted (R5, R12), by reason.
    fn count(self) {
        metrics::counter!(
            "hue_intake_records_total",
            "kind" => self.kind, "disposition" => self.disposition, "reason" => self.reason
        )
        .increment(1);
        if let Some((scope, tier)) = self.violation {
            metrics::counter!("hue_intake_violations_total", "scope" => scope, "tier" => tier).increment(1);
        }
    }
}

impl crate::worker::Stage for Pipeline {
    type Error = StoreError;

    fn name(&self) -> &'static str {
        "pipeline"
    }

    fn batch_size(&self) -> usize {
        self.pace.last_batch.load(Ordering::Relaxed).max(1)
    }

    async fn step(&mut self) -> Result<usize, StoreError> {
        // A standby instance has nothing to do until the holder's lease runs out.
        if !self.lease.hold(&self.store).await? {
            return Ok(0);
        }
        Pipeline::step(self).await
    }
}

/// What a raw message's seal is bound to: its unique key.
pub fn raw_associated_data(channel: hue_intake_schemas::Channel, message_id: &str) -> Vec<u8> {
    format!("{channel}:{message_id}").into_bytes()
}
