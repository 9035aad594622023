//! The one durable store: raw inbound messages, records, the outbox, the sealed reporter
//! vault and sanctions (R12), behind a backend-neutral API.
//!
//! Callers speak in terms of the gateway (receive a message, commit records, mark deliveries)
//! and never see SQL or a backend. `Store` is a closed enum (Stalwart's enum dispatch): the
//! embedded SQLite backend, or PostgreSQL for several instances sharing one database. The
//! extra `impl Store` blocks (replies, chat media, mail, operators) write each statement once
//! per dialect and their Rust once, through `on_backend!` and `write_fn!`.
//! What "committed" means is the backend's promise: when `receive` returns `Stored`, the
//! message survives a crash, and only then may anyone answer 2xx.

/// Runs `$body` once, against the read pool of the store's backend, with `$sql` the statement
/// in that backend's dialect. The body is written once and compiled for each backend's row
/// type; only the SQL differs.
macro_rules! on_backend {
    ($store:expr, sqlite: $lite:expr, postgres: $pg:expr, |$pool:ident, $sql:ident| $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(s) => {
                let ($pool, $sql): (_, &'static str) = (s.readers(), $lite);
                $body
            }
            $crate::store::Store::Postgres(s) => {
                let ($pool, $sql): (_, &'static str) = (s.readers(), $pg);
                $body
            }
        }
    };
}

/// A [`WriteFn`] for the store's backend: `$body` (an async block's contents) runs on the
/// writer's connection with `$sql` the statement in that backend's dialect. Written once,
/// compiled for each backend's connection type.
macro_rules! write_fn {
    ($store:expr, sqlite: $lite:expr, postgres: $pg:expr, move |$conn:ident, $sql:ident| $body:block) => {
        match $store {
            $crate::store::Store::Sqlite(_) => $crate::store::WriteFn::Sqlite(Box::new(move |$conn| {
                let $sql: &'static str = $lite;
                Box::pin(async move $body)
            })),
            $crate::store::Store::Postgres(_) => $crate::store::WriteFn::Postgres(Box::new(move |$conn| {
                let $sql: &'static str = $pg;
                Box::pin(async move $body)
            })),
        }
    };
}

#[cfg(test)]
mod backend_tests;
pub mod chat;
mod chat_media;
pub mod core_updates;
mod lease;
pub mod mail;
#[cfg(test)]
mod outbox_tests;
mod postgres;
pub mod replies;
pub mod sanctions;
#[cfg(test)]
mod sanctions_tests;
mod sqlite;
#[cfg(test)]
pub(crate) mod test_backends;
// `import-mail`'s duplicate check (an `impl Store` block of its own).
mod mail_import;
pub mod operators;

use std::path::Path;

use chrono::{DateTime, Utc};
use hue_intake_schemas::{Channel, Disposition, Kind};
use uuid::Uuid;

pub use lease::pipeline_holder;
pub use postgres::{PgStore, PgWriteFn};
pub use sqlite::{SqliteStore, SqliteWriteFn, Wakes};

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

/// A record due downstream on one sink.
#[derive(Debug, Clone)]
pub struct Due {
    pub outbox_seq: i64,
    pub record_id: Uuid,
    /// The canonical JSON.
    pub body: String,
    /// Attempts already made on this sink.
    pub attempts: u32,
}

/// How one delivery attempt ended, for [`Store::settle`].
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    /// Downstream has it; `remote_id` is the receiver's own id for it when it gave one.
    Delivered { remote_id: Option<String> },
    /// Not taken this time: try again at `next_attempt_at`.
    Retry { next_attempt_at: DateTime<Utc>, error: String },
    /// Refused for good (the receiver said the record itself is wrong): a dead letter, until
    /// staff replay it.
    Dead { error: String },
}

/// A record one sink refused for good.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetter {
    pub outbox_seq: i64,
    pub sink: String,
    pub record_id: Uuid,
    pub tracking_code: String,
    pub kind: Kind,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub dead_at: DateTime<Utc>,
}

/// Which dead letters to list or replay.
#[derive(Debug, Clone, Default)]
pub struct DeadFilter {
    pub sink: Option<String>,
    /// Dead at or after this time.
    pub since: Option<DateTime<Utc>>,
    pub limit: usize,
}

/// Outbox rows of one sink still to do (`pending`) or given up (`dead`), for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxCount {
    pub sink: String,
    pub state: String,
    pub count: u64,
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
    Postgres(PgStore),
}

/// A write that is not one of the fixed operations, for the store's backend (build it with
/// `write_fn!`): it runs inside the writer's group commit on that backend's connection.
pub enum WriteFn {
    Sqlite(SqliteWriteFn),
    Postgres(PgWriteFn),
}

impl Store {
    /// Opens (creating and migrating) the embedded SQLite store in `data_dir`.
    pub async fn open_sqlite(data_dir: &Path, options: Options) -> Result<Store, StoreError> {
        Ok(Store::Sqlite(SqliteStore::open(data_dir, options).await?))
    }

    /// Connects to PostgreSQL at `database_url` and migrates its schema.
    /// `options.max_database_bytes` is SQLite's alone: PostgreSQL's space is its operator's.
    pub async fn open_postgres(database_url: &str, options: Options) -> Result<Store, StoreError> {
        Ok(Store::Postgres(PgStore::open(database_url, options).await?))
    }

    /// Stores a message durably under its unique (channel, message id), or reports that it is
    /// already there. Concurrent callers share one transaction (group commit).
    pub async fn receive(&self, incoming: Incoming) -> Result<Received, StoreError> {
        match self {
            Store::Sqlite(s) => s.receive(incoming).await,
            Store::Postgres(s) => s.receive(incoming).await,
        }
    }

    /// Is this tracking code a report that an interaction or rating can answer?
    pub async fn is_report(&self, tracking_code: &str) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => s.is_report(tracking_code).await,
            Store::Postgres(s) => s.is_report(tracking_code).await,
        }
    }

    /// The oldest messages not yet processed, in receive order.
    pub async fn pending(&self, limit: usize) -> Result<Vec<Pending>, StoreError> {
        match self {
            Store::Sqlite(s) => s.pending(limit).await,
            Store::Postgres(s) => s.pending(limit).await,
        }
    }

    /// Commits the pipeline's output: records, vault entries, outbox rows and message states,
    /// all or nothing. Re-committing the same records is harmless (idempotent by record id).
    pub async fn commit_processed(&self, processed: Processed) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.commit_processed(processed).await,
            Store::Postgres(s) => s.commit_processed(processed).await,
        }
    }

    /// Makes `sinks` the destinations new records are queued for (one outbox row each);
    /// rows of sinks no longer named stay, but get no new ones.
    pub async fn register_sinks(&self, sinks: &[String]) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.register_sinks(sinks).await,
            Store::Postgres(s) => s.register_sinks(sinks).await,
        }
    }

    /// Records due on `sink` at `now`, in commit order; an interaction or rating waits until
    /// its report is delivered on the same sink.
    pub async fn due(&self, sink: &str, now: DateTime<Utc>, limit: usize) -> Result<Vec<Due>, StoreError> {
        match self {
            Store::Sqlite(s) => s.due(sink, now, limit).await,
            Store::Postgres(s) => s.due(sink, now, limit).await,
        }
    }

    /// Pending outbox rows of `sink` for these records (the file sink's crash recovery).
    pub async fn undelivered_of(&self, sink: &str, record_ids: &[Uuid]) -> Result<Vec<i64>, StoreError> {
        match self {
            Store::Sqlite(s) => s.undelivered_of(sink, record_ids).await,
            Store::Postgres(s) => s.undelivered_of(sink, record_ids).await,
        }
    }

    /// Records the outcome of delivery attempts. Only pending rows change: a settlement for a
    /// row another worker settled first is ignored.
    pub async fn settle_deliveries(
        &self,
        settlements: Vec<(i64, Settlement)>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.settle_deliveries(settlements, at).await,
            Store::Postgres(s) => s.settle_deliveries(settlements, at).await,
        }
    }

    /// Dead letters, most recent first.
    pub async fn dead_letters(&self, filter: &DeadFilter) -> Result<Vec<DeadLetter>, StoreError> {
        match self {
            Store::Sqlite(s) => s.dead_letters(filter).await,
            Store::Postgres(s) => s.dead_letters(filter).await,
        }
    }

    /// The dead letters of one record (by record id or tracking code), with the record's JSON.
    pub async fn dead_letter(&self, id_or_code: &str) -> Result<Vec<(DeadLetter, String)>, StoreError> {
        match self {
            Store::Sqlite(s) => s.dead_letter(id_or_code).await,
            Store::Postgres(s) => s.dead_letter(id_or_code).await,
        }
    }

    /// Puts dead letters back in line, due now with a fresh count of attempts. Rows that are
    /// not dead (already replayed, delivered) are left alone, so replaying twice is harmless.
    /// Returns how many were dead.
    pub async fn replay_dead(&self, outbox_seqs: Vec<i64>, now: DateTime<Utc>) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.replay_dead(outbox_seqs, now).await,
            Store::Postgres(s) => s.replay_dead(outbox_seqs, now).await,
        }
    }

    /// Pending and dead outbox rows per sink (delivered ones are not counted).
    pub async fn outbox_counts(&self) -> Result<Vec<OutboxCount>, StoreError> {
        match self {
            Store::Sqlite(s) => s.outbox_counts().await,
            Store::Postgres(s) => s.outbox_counts().await,
        }
    }

    pub async fn status(&self, tracking_code: &str) -> Result<Option<Status>, StoreError> {
        match self {
            Store::Sqlite(s) => s.status(tracking_code).await,
            Store::Postgres(s) => s.status(tracking_code).await,
        }
    }

    /// Proves the store takes writes: a round trip through the writer's transaction.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.check_writable().await,
            Store::Postgres(s) => s.check_writable().await,
        }
    }

    /// A reporter's standing under R12 at `at` (the receive time): one primary-key lookup.
    /// Unknown reporters have the default standing.
    pub async fn standing(&self, reporter_ref: &str, at: DateTime<Utc>) -> Result<Standing, StoreError> {
        match self {
            Store::Sqlite(s) => s.standing(reporter_ref, at).await,
            Store::Postgres(s) => s.standing(reporter_ref, at).await,
        }
    }

    /// Reporters with violations or locks, most recently changed first.
    pub async fn list_sanctions(&self, filter: &SanctionFilter) -> Result<Vec<ReporterStanding>, StoreError> {
        match self {
            Store::Sqlite(s) => s.list_sanctions(filter).await,
            Store::Postgres(s) => s.list_sanctions(filter).await,
        }
    }

    /// One reporter's standing (now), violations and audit events; `None` when the reporter has
    /// never had a violation.
    pub async fn reporter_sanctions(&self, reporter_ref: &str) -> Result<Option<ReporterSanctions>, StoreError> {
        match self {
            Store::Sqlite(s) => s.reporter_sanctions(reporter_ref, Utc::now()).await,
            Store::Postgres(s) => s.reporter_sanctions(reporter_ref, Utc::now()).await,
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
            Store::Postgres(s) => s.sanction(op).await,
        }
    }

    /// Runs `write` inside the next group commit, answered once committed: for workers whose
    /// writes are not the pipeline's (fetch results, reply states, tokens).
    pub async fn write(&self, write: WriteFn) -> Result<(), StoreError> {
        match (self, write) {
            (Store::Sqlite(s), WriteFn::Sqlite(write)) => s.write(write).await,
            (Store::Postgres(s), WriteFn::Postgres(write)) => s.write(write).await,
            _ => Err(StoreError::Corrupt("a write was built for the other backend".to_owned())),
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
            Store::Postgres(s) => s.seen_events(channel, event_ids).await,
        }
    }

    /// The draft or record an earlier chat event went into.
    pub async fn event_record(&self, channel: Channel, event_id: &str) -> Result<Option<Uuid>, StoreError> {
        match self {
            Store::Sqlite(s) => s.event_record(channel, event_id).await,
            Store::Postgres(s) => s.event_record(channel, event_id).await,
        }
    }

    /// The open draft of a sender (by keyed hash) on a channel.
    pub async fn open_draft(&self, channel: Channel, sender_key: &str) -> Result<Option<chat::Draft>, StoreError> {
        match self {
            Store::Sqlite(s) => s.open_draft(channel, sender_key).await,
            Store::Postgres(s) => s.open_draft(channel, sender_key).await,
        }
    }

    /// Open drafts due to become records at `now`.
    pub async fn closing_drafts(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<chat::Draft>, StoreError> {
        match self {
            Store::Sqlite(s) => s.closing_drafts(now, limit).await,
            Store::Postgres(s) => s.closing_drafts(now, limit).await,
        }
    }

    /// Stored messages by sequence number, in order.
    pub async fn messages(&self, seqs: &[i64]) -> Result<Vec<Pending>, StoreError> {
        match self {
            Store::Sqlite(s) => s.messages(seqs).await,
            Store::Postgres(s) => s.messages(seqs).await,
        }
    }

    /// The chat attachments of these stored bodies.
    pub async fn chat_media_of(&self, seqs: &[i64]) -> Result<Vec<chat::ChatMedia>, StoreError> {
        match self {
            Store::Sqlite(s) => s.chat_media_of(seqs).await,
            Store::Postgres(s) => s.chat_media_of(seqs).await,
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
            Store::Postgres(s) => s.replied_code(channel, platform_message_id).await,
        }
    }

    /// The pseudonymous reporter of a record, by tracking code (R10: a subject tag counts
    /// only from the report's own reporter).
    pub async fn reporter_of(&self, tracking_code: &str) -> Result<Option<String>, StoreError> {
        match self {
            Store::Sqlite(s) => s.reporter_of(tracking_code).await,
            Store::Postgres(s) => s.reporter_of(tracking_code).await,
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
            Store::Postgres(s) => s.replies_to(channel, recipient_key, since).await,
        }
    }

    /// The tracking code of a record (or an open draft) by its id.
    pub async fn tracking_code_of(&self, record_id: Uuid) -> Result<Option<String>, StoreError> {
        match self {
            Store::Sqlite(s) => s.tracking_code_of(record_id).await,
            Store::Postgres(s) => s.tracking_code_of(record_id).await,
        }
    }

    /// Messages in quarantine, oldest first.
    pub async fn quarantined(&self, limit: usize) -> Result<Vec<Quarantined>, StoreError> {
        match self {
            Store::Sqlite(s) => s.quarantined(limit).await,
            Store::Postgres(s) => s.quarantined(limit).await,
        }
    }

    /// Notifications after commits of new messages and new records.
    pub fn wakes(&self) -> Wakes {
        match self {
            Store::Sqlite(s) => s.wakes(),
            Store::Postgres(s) => s.wakes(),
        }
    }

    /// Waits until the writer has committed everything queued and closed the database.
    pub async fn close(self) {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(s) => s.close().await,
        }
    }
}
