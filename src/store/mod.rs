//! The one durable store: raw inbound messages, records, the outbox, the sealed reporter
//! vault and sanctions (R12), behind a backend-neutral API.
//!
//! Callers speak in terms of the gateway (receive a message, commit records, mark deliveries)
//! and never see SQL or a backend. `Store` is a closed enum (Stalwart's enum dispatch): the
//! embedded SQLite backend now, PostgreSQL as a second variant with the same methods later.
//! What "committed" means is the backend's promise: when `receive` returns `Stored`, the
//! message survives a crash, and only then may anyone answer 2xx.

pub mod chat;
mod chat_media;
pub mod core_updates;
pub mod mail;
pub mod replies;
pub mod sanctions;
#[cfg(test)]
mod sanctions_tests;
mod sqlite;
// `import-mail`'s duplicate check (an `impl Store` block of its own).
mod mail_import;
pub mod operators;

use std::path::Path;

use chrono::{DateTime, Utc};
use hue_intake_schemas::{Channel, Disposition, Kind};
use uuid::Uuid;

pub use sqlite::{SqliteStore, Wakes, WriteFn};

use sanctions::{
    Change, LockScope, ReporterSanctions, ReporterStanding, SanctionChange, SanctionError, SanctionFilter, Standing,
    Violation, ViolationSource,
};
use sqlite::SanctionOp;

/// A store error. Texts name the operation, never the data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot take writes now (disk full, writer gone, shutting down): answer 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

/// What a one-message channel (app, portal, hotline) knows at receive time about the record it
/// will become, so the acknowledgement can carry its tracking code and disposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub record_id: Uuid,
    pub tracking_code: String,
    pub kind: Kind,
    pub disposition: Disposition,
}

/// A message to store before answering.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub channel: Channel,
    /// The native id (no channel prefix): the idempotency key within the channel.
    pub message_id: String,
    pub received_at: DateTime<Utc>,
    pub raw_sha256: String,
    /// Hash of everything that makes this message what it is (raw body and media): a repeat
    /// with the same key but another fingerprint is a conflict, not a retry.
    pub fingerprint: String,
    pub raw_sealed: Vec<u8>,
    /// JSON: what receive learnt that the raw bytes alone do not say (stored media items).
    pub meta: String,
    pub allocation: Option<Allocation>,
}

/// The answer to [`Store::receive`].
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// Committed now.
    Stored { seq: i64, allocation: Option<Allocation> },
    /// Already stored earlier with the same content: the first answer, and nothing new.
    /// `meta` is what the first message's receive stored beside it (JSON), so the answer can
    /// be rebuilt exactly as it was given.
    Duplicate { allocation: Option<Allocation>, meta: String },
    /// Already stored earlier with different content under the same key.
    Conflict,
}

/// A stored message the pipeline has not processed yet.
#[derive(Debug, Clone)]
pub struct Pending {
    pub seq: i64,
    pub channel: Channel,
    pub message_id: String,
    pub received_at: DateTime<Utc>,
    pub raw_sha256: String,
    pub raw_sealed: Vec<u8>,
    pub meta: String,
    pub record_id: Option<Uuid>,
    pub tracking_code: Option<String>,
}

/// A record ready to commit, with its sealed identity and when it may go downstream.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub id: Uuid,
    pub tracking_code: String,
    pub kind: Kind,
    pub channel: Channel,
    pub received_at: DateTime<Utc>,
    pub state: String,
    pub in_reply_to: Option<String>,
    /// The canonical JSON.
    pub body: String,
    pub reporter_ref: String,
    pub consent: bool,
    pub identity_sealed: Vec<u8>,
    /// `None`: never goes downstream (rejected).
    pub deliver_after: Option<DateTime<Utc>>,
    /// Improper language the gateway found (R12): recorded with the record, counted or queued
    /// for review, and any lock it causes applied in the same transaction.
    pub violation: Option<Violation>,
}

/// The pipeline's output for a batch of pending messages, committed atomically.
#[derive(Debug, Clone, Default)]
pub struct Processed {
    pub records: Vec<NewRecord>,
    /// Messages folded into the records above (or yielding none, like receipts).
    pub done: Vec<i64>,
    /// Authentic messages that could not be processed: kept raw with the reason (no payload text).
    pub quarantined: Vec<(i64, String)>,
    /// Chat events, drafts, fetches and replies that follow from this batch.
    pub chat: chat::ChatChanges,
    /// Quarantined messages sent back to the pipeline (`hue-intake quarantine replay`).
    pub requeued: Vec<i64>,
}

/// A message kept in quarantine.
#[derive(Debug, Clone)]
pub struct Quarantined {
    pub seq: i64,
    pub channel: Channel,
    pub message_id: String,
    pub received_at: DateTime<Utc>,
    pub reason: String,
}

/// A record due downstream.
#[derive(Debug, Clone)]
pub struct Due {
    pub outbox_seq: i64,
    pub record_id: Uuid,
    pub body: String,
}

/// Public status of a tracking code (no personal data).
#[derive(Debug, Clone)]
pub struct Status {
    pub tracking_code: String,
    pub kind: Kind,
    pub channel: Channel,
    pub received_at: DateTime<Utc>,
    pub disposition: Disposition,
    pub in_reply_to: Option<String>,
    /// Processed into a record yet.
    pub recorded: bool,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Tuning of the store.
#[derive(Debug, Clone)]
pub struct Options {
    pub group_commit_max_batch: usize,
    /// Refuse writes (503) once the database file would grow past this many bytes.
    pub max_database_bytes: Option<u64>,
}

/// The store, over one of its backends.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
}

impl Store {
    /// Opens (creating and migrating) the embedded SQLite store in `data_dir`.
    pub async fn open_sqlite(data_dir: &Path, options: Options) -> Result<Store, StoreError> {
        Ok(Store::Sqlite(SqliteStore::open(data_dir, options).await?))
    }

    /// Stores a message durably under its unique (channel, message id), or reports that it is
    /// already there. Concurrent callers share one transaction (group commit).
    pub async fn receive(&self, incoming: Incoming) -> Result<Received, StoreError> {
        match self {
            Store::Sqlite(s) => s.receive(incoming).await,
        }
    }

    /// Is this tracking code a report that an interaction or rating can answer?
    pub async fn is_report(&self, tracking_code: &str) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => s.is_report(tracking_code).await,
        }
    }

    /// The oldest messages not yet processed, in receive order.
    pub async fn pending(&self, limit: usize) -> Result<Vec<Pending>, StoreError> {
        match self {
            Store::Sqlite(s) => s.pending(limit).await,
        }
    }

    /// Commits the pipeline's output: records, vault entries, outbox rows and message states,
    /// all or nothing. Re-committing the same records is harmless (idempotent by record id).
    pub async fn commit_processed(&self, processed: Processed) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.commit_processed(processed).await,
        }
    }

    /// Records due downstream at `now`, in commit order.
    pub async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Due>, StoreError> {
        match self {
            Store::Sqlite(s) => s.due(now, limit).await,
        }
    }

    /// Undelivered outbox entries of these records (for recovery of the file sink).
    pub async fn undelivered_of(&self, record_ids: &[Uuid]) -> Result<Vec<i64>, StoreError> {
        match self {
            Store::Sqlite(s) => s.undelivered_of(record_ids).await,
        }
    }

    pub async fn mark_delivered(&self, outbox_seqs: Vec<i64>, at: DateTime<Utc>) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.mark_delivered(outbox_seqs, at).await,
        }
    }

    pub async fn status(&self, tracking_code: &str) -> Result<Option<Status>, StoreError> {
        match self {
            Store::Sqlite(s) => s.status(tracking_code).await,
        }
    }

    /// Proves the store takes writes: a round trip through the writer's transaction.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.check_writable().await,
        }
    }

    /// A reporter's standing under R12 at `at` (the receive time): one primary-key lookup.
    /// Unknown reporters have the default standing.
    pub async fn standing(&self, reporter_ref: &str, at: DateTime<Utc>) -> Result<Standing, StoreError> {
        match self {
            Store::Sqlite(s) => s.standing(reporter_ref, at).await,
        }
    }

    /// Reporters with violations or locks, most recently changed first.
    pub async fn list_sanctions(&self, filter: &SanctionFilter) -> Result<Vec<ReporterStanding>, StoreError> {
        match self {
            Store::Sqlite(s) => s.list_sanctions(filter).await,
        }
    }

    /// One reporter's standing (now), violations and audit events; `None` when the reporter has
    /// never had a violation.
    pub async fn reporter_sanctions(&self, reporter_ref: &str) -> Result<Option<ReporterSanctions>, StoreError> {
        match self {
            Store::Sqlite(s) => s.reporter_sanctions(reporter_ref, Utc::now()).await,
        }
    }

    /// Staff confirm a violation waiting for review (or reinstate a dismissed one): it counts.
    pub async fn confirm_violation(&self, id: i64, change: Change) -> Result<SanctionChange, SanctionError> {
        self.sanction(SanctionOp::Confirm { id, change }).await
    }

    /// Staff dismiss a violation: it counts no more; a lock it helped cause is lifted when the
    /// count falls below 4.
    pub async fn dismiss_violation(&self, id: i64, change: Change) -> Result<SanctionChange, SanctionError> {
        self.sanction(SanctionOp::Dismiss { id, change }).await
    }

    /// Staff lift a lock; the counting of that scope starts again at `change.at`.
    pub async fn lift(
        &self,
        reporter_ref: &str,
        scope: LockScope,
        change: Change,
    ) -> Result<SanctionChange, SanctionError> {
        self.sanction(SanctionOp::Lift { reporter_ref: reporter_ref.to_owned(), scope, change }).await
    }

    /// The case system (or staff) report a record as a violation: it counts against the
    /// record's reporter, in the scope of the record's kind.
    pub async fn report_violation(
        &self,
        tracking_code: &str,
        source: ViolationSource,
        change: Change,
    ) -> Result<SanctionChange, SanctionError> {
        self.sanction(SanctionOp::Report { tracking_code: tracking_code.to_owned(), source, change }).await
    }

    async fn sanction(&self, op: SanctionOp) -> Result<SanctionChange, SanctionError> {
        match self {
            Store::Sqlite(s) => s.sanction(op).await,
        }
    }

    /// Runs `write` inside the next group commit, answered once committed: for workers whose
    /// writes are not the pipeline's (fetch results, reply states, tokens).
    pub async fn write(&self, write: WriteFn) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.write(write).await,
        }
    }

    /// Which of these chat event ids were seen before on `channel`.
    pub async fn seen_events(
        &self,
        channel: Channel,
        event_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        match self {
            Store::Sqlite(s) => s.seen_events(channel, event_ids).await,
        }
    }

    /// The draft or record an earlier chat event went into.
    pub async fn event_record(&self, channel: Channel, event_id: &str) -> Result<Option<Uuid>, StoreError> {
        match self {
            Store::Sqlite(s) => s.event_record(channel, event_id).await,
        }
    }

    /// The open draft of a sender (by keyed hash) on a channel.
    pub async fn open_draft(&self, channel: Channel, sender_key: &str) -> Result<Option<chat::Draft>, StoreError> {
        match self {
            Store::Sqlite(s) => s.open_draft(channel, sender_key).await,
        }
    }

    /// Open drafts due to become records at `now`.
    pub async fn closing_drafts(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<chat::Draft>, StoreError> {
        match self {
            Store::Sqlite(s) => s.closing_drafts(now, limit).await,
        }
    }

    /// Stored messages by sequence number, in order.
    pub async fn messages(&self, seqs: &[i64]) -> Result<Vec<Pending>, StoreError> {
        match self {
            Store::Sqlite(s) => s.messages(seqs).await,
        }
    }

    /// The chat attachments of these stored bodies.
    pub async fn chat_media_of(&self, seqs: &[i64]) -> Result<Vec<chat::ChatMedia>, StoreError> {
        match self {
            Store::Sqlite(s) => s.chat_media_of(seqs).await,
        }
    }

    /// The tracking code one of our sent chat messages was about.
    pub async fn replied_code(
        &self,
        channel: Channel,
        platform_message_id: &str,
    ) -> Result<Option<String>, StoreError> {
        match self {
            Store::Sqlite(s) => s.replied_code(channel, platform_message_id).await,
        }
    }

    /// The pseudonymous reporter of a record, by tracking code (R10: a subject tag counts
    /// only from the report's own reporter).
    pub async fn reporter_of(&self, tracking_code: &str) -> Result<Option<String>, StoreError> {
        match self {
            Store::Sqlite(s) => s.reporter_of(tracking_code).await,
        }
    }

    /// Replies queued on `channel` to one recipient (keyed hash) since `since`: the rate
    /// limit against mail loops.
    pub async fn replies_to(
        &self,
        channel: Channel,
        recipient_key: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.replies_to(channel, recipient_key, since).await,
        }
    }

    /// The tracking code of a record (or an open draft) by its id.
    pub async fn tracking_code_of(&self, record_id: Uuid) -> Result<Option<String>, StoreError> {
        match self {
            Store::Sqlite(s) => s.tracking_code_of(record_id).await,
        }
    }

    /// Messages in quarantine, oldest first.
    pub async fn quarantined(&self, limit: usize) -> Result<Vec<Quarantined>, StoreError> {
        match self {
            Store::Sqlite(s) => s.quarantined(limit).await,
        }
    }

    /// Notifications after commits of new messages and new records.
    pub fn wakes(&self) -> Wakes {
        match self {
            Store::Sqlite(s) => s.wakes(),
        }
    }

    /// Waits until the writer has committed everything queued and closed the database.
    pub async fn close(self) {
        match self {
            Store::Sqlite(s) => s.close().await,
        }
    }
}
