//! The embedded SQLite backend: WAL, `synchronous=FULL`, one writer with group commit.
//!
//! Every write goes through one task that owns the only writing connection. It takes every
//! operation waiting in its queue (up to `group_commit_max_batch`), applies each inside a
//! savepoint of one transaction and commits once, so a hundred concurrent messages cost one
//! fsync instead of a hundred. Each operation's caller is answered only after that commit, so
//! a reply means durable. A failing operation rolls back its own savepoint and does not take
//! its neighbours down; a failing commit answers every operation of the batch with
//! `Unavailable`. Reads use a separate pool of read-only connections (WAL lets them run
//! beside the writer).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use hue_intake_schemas::{Channel, Disposition, Kind};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

mod chat;
mod outbox;
mod sanctions;

pub use sanctions::SanctionOp;

use super::sanctions::{ReporterSanctions, ReporterStanding, SanctionChange, SanctionError, SanctionFilter, Standing};
use super::{
    Allocation, DeadFilter, DeadLetter, Due, Incoming, NewRecord, Options, OutboxCount, Pending, Processed, Received,
    Settlement, Status, StoreError,
};

/// How often the writer retries an insert whose random tracking code collided.
const TRACKING_CODE_ATTEMPTS: usize = 8;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: mpsc::Sender<Op>,
    readers: SqlitePool,
    /// Becomes true when the writer has drained its queue and closed its connection.
    closed: watch::Receiver<bool>,
    /// Becomes true when the checkpointer has closed its connection: only then are the
    /// database's files settled (the last connection to close removes the WAL).
    checkpointer_closed: watch::Receiver<bool>,
    /// Wake whoever waits for new stored messages (the pipeline) and new records (delivery).
    wakes: Wakes,
}

/// Notifications the writer sends after a commit.
#[derive(Debug, Clone)]
pub struct Wakes {
    pub messages: Arc<tokio::sync::Notify>,
    /// Counts commits that queued records: every sink's worker watches it (a `Notify` would
    /// wake only one of them).
    pub records: Arc<watch::Sender<u64>>,
    /// Chat attachments queued for fetching.
    pub fetches: Arc<tokio::sync::Notify>,
    /// Replies queued for sending.
    pub replies: Arc<tokio::sync::Notify>,
    /// Commits that stored new messages, since start: the pipeline sizes its steps by whether
    /// this moved.
    received: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for Wakes {
    fn default() -> Self {
        Wakes {
            messages: Arc::default(),
            records: Arc::new(watch::channel(0).0),
            fetches: Arc::default(),
            replies: Arc::default(),
            received: Arc::default(),
        }
    }
}

impl Wakes {
    /// New messages were committed: wakes the pipeline and counts the commit.
    pub fn messages_stored(&self) {
        self.received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.messages.notify_one();
    }

    /// Commits that stored new messages since start.
    pub fn receives(&self) -> u64 {
        self.received.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn records_queued(&self) {
        self.records.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// A write that is not one of the fixed operations: runs inside the batch's transaction (in
/// its own savepoint) and is answered after the commit, like every other write.
pub type SqliteWriteFn = Box<
    dyn for<'c> FnOnce(
            &'c mut SqliteConnection,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send + 'c>>
        + Send,
>;

/// One write, with the channel its caller waits on.
enum Op {
    Receive(Box<Incoming>, oneshot::Sender<Result<Received, StoreError>>),
    Processed(Processed, oneshot::Sender<Result<(), StoreError>>),
    Settle(Vec<(i64, Settlement)>, DateTime<Utc>, oneshot::Sender<Result<(), StoreError>>),
    Heartbeat(oneshot::Sender<Result<(), StoreError>>),
    Sanction(SanctionOp, oneshot::Sender<Result<SanctionChange, SanctionError>>),
    /// Taken out of its box when applied (it runs once).
    Write(std::sync::Mutex<Option<SqliteWriteFn>>, oneshot::Sender<Result<(), StoreError>>),
}

/// An operation's outcome, held until the batch commits.
enum Outcome {
    Received(Received),
    Done,
    /// A sanctions answer; a refusal (not found, conflict) wrote nothing.
    Sanction(Result<SanctionChange, SanctionError>),
}

pub(crate) fn ts(at: DateTime<Utc>) -> String {
    // Fixed width, so text order is time order.
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl super::chat::ChatRows for SqliteConnection {
    async fn write_chat(&mut self, changes: &super::chat::ChatChanges) -> Result<(), StoreError> {
        chat::write(self, changes).await
    }
}

pub(in crate::store) fn parse_ts(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt("a stored time is not RFC 3339".to_owned()))
}

pub(in crate::store) fn parse_enum<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| StoreError::Corrupt("a stored enumeration value is unknown".to_owned()))
}

pub(in crate::store) fn enum_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => unreachable!("unit enums serialise as strings"),
    }
}

impl SqliteStore {
    pub async fn open(data_dir: &Path, options: Options) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", data_dir.display())))?;
        let connect = SqliteConnectOptions::new()
            .filename(data_dir.join("hue-intake.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk when it returns (the WAL is fsynced at every commit).
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Multi-row statements keep a statement journal; in memory it costs no file I/O.
            .pragma("temp_store", "MEMORY")
            // 2 MiB of page cache per reading connection (there are up to 9): they read recent
            // rows once each (the pipeline, the sinks, status look-ups), and a page missed here
            // is a copy from the kernel's file cache, not a disk read. Page caches are private
            // memory of the process: at 64 MiB each, as before, a day's load grew the gateway
            // past its 64 MiB budget (issue 8).
            .pragma("cache_size", "-2048");
        // The writer never checkpoints in its own commits (that would stall a whole batch of
        // waiting messages behind a database fsync); a separate connection does, below.
        // Multi-row statements differ by row count; keep them all prepared (the default cache
        // of 100 would re-prepare the large ones over and over under load).
        let mut writer_options = connect
            .clone()
            .pragma("wal_autocheckpoint", "0")
            // The writer's 16 MiB keep the indexes' hot pages (the right edges where new rows
            // go, the inner pages of the unique indexes) across group commits.
            .pragma("cache_size", "-16384")
            .statement_cache_capacity(4096);
        let mut receive_cap = None;
        if let Some(bytes) = options.max_database_bytes {
            // SQLite's default page is 4096 bytes; past the cap, writes fail with SQLITE_FULL.
            let pages = (bytes / 4096).max(1);
            writer_options = writer_options.pragma("max_page_count", pages.to_string());
            // New messages stop an eighth before the cap: what was acknowledged must still find
            // room to be recorded (records, vault, outbox, sanctions), or it would be stuck.
            receive_cap = Some(pages as i64 - (pages as i64 / 8).max(4));
        }
        let mut conn = SqliteConnection::connect_with(&writer_options).await?;
        migrate(&mut conn).await?;
        // One process runs the pipeline on an SQLite database, so a lease found at open is
        // a dead process's (killed before it could give it up): without this, a restart
        // after a crash would stand still until that lease ran out.
        // On a full disk this write fails (SQLITE_FULL), and failing the open for it kept a
        // gateway restarted on a full disk from starting at all (found by the chaos harness,
        // which kills it while the disk is full): it now starts and answers 503 until there is
        // room again, and the dead process's lease simply runs out as it would on PostgreSQL.
        if let Err(e) = sqlx::query("DELETE FROM leases").execute(&mut conn).await {
            if !is_disk_full(&e) {
                return Err(e.into());
            }
            tracing::warn!("Disk full at start: stale work leases are left to run out.");
        }
        let checkpointer = SqliteConnection::connect_with(&connect).await?;
        let readers = SqlitePoolOptions::new().max_connections(8).connect_with(connect.clone().read_only(true)).await?;
        let (writer, queue) = mpsc::channel(options.group_commit_max_batch.max(1) * 4);
        let (closed_tx, closed) = watch::channel(false);
        let wakes = Wakes::default();
        tokio::spawn(write_loop(
            conn,
            queue,
            options.group_commit_max_batch.max(1),
            receive_cap,
            closed_tx,
            wakes.clone(),
        ));
        let (checkpointer_tx, checkpointer_closed) = watch::channel(false);
        tokio::spawn(checkpoint_loop(
            checkpointer,
            data_dir.join("hue-intake.db-wal"),
            closed.clone(),
            checkpointer_tx,
        ));
        Ok(SqliteStore { writer, readers, closed, checkpointer_closed, wakes })
    }

    pub fn wakes(&self) -> Wakes {
        self.wakes.clone()
    }

    async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writer.send(make(tx)).await.map_err(|_| StoreError::Unavailable("the writer has stopped".to_owned()))?;
        rx.await.map_err(|_| StoreError::Unavailable("the writer stopped before committing".to_owned()))?
    }

    pub async fn receive(&self, incoming: Incoming) -> Result<Received, StoreError> {
        self.submit(|tx| Op::Receive(Box::new(incoming), tx)).await
    }

    pub async fn commit_processed(&self, processed: Processed) -> Result<(), StoreError> {
        self.submit(|tx| Op::Processed(processed, tx)).await
    }

    pub async fn settle_deliveries(
        &self,
        settlements: Vec<(i64, Settlement)>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.submit(|tx| Op::Settle(settlements, at, tx)).await
    }

    pub async fn register_sinks(&self, sinks: &[String]) -> Result<(), StoreError> {
        let sinks = sinks.to_vec();
        self.write(Box::new(move |conn| Box::pin(async move { outbox::register_sinks(conn, &sinks).await }))).await
    }

    pub async fn replay_dead(&self, seqs: Vec<i64>, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let replayed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let count = replayed.clone();
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let n = outbox::replay_dead(conn, &seqs, now).await?;
                count.store(n, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            })
        }))
        .await?;
        self.wakes.records_queued();
        Ok(replayed.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub async fn dead_letters(&self, filter: &DeadFilter) -> Result<Vec<DeadLetter>, StoreError> {
        outbox::dead_letters(&self.readers, filter).await
    }

    pub async fn dead_letter(&self, id_or_code: &str) -> Result<Vec<(DeadLetter, String)>, StoreError> {
        outbox::dead_letter(&self.readers, id_or_code).await
    }

    pub async fn outbox_counts(&self) -> Result<Vec<OutboxCount>, StoreError> {
        outbox::counts(&self.readers).await
    }

    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.submit(Op::Heartbeat).await
    }

    /// Runs `write` inside the next group commit; returns once it is committed.
    pub async fn write(&self, write: SqliteWriteFn) -> Result<(), StoreError> {
        self.submit(|tx| Op::Write(std::sync::Mutex::new(Some(write)), tx)).await
    }

    pub fn readers(&self) -> &SqlitePool {
        &self.readers
    }

    pub async fn seen_events(
        &self,
        channel: Channel,
        event_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        chat::seen_events(&self.readers, channel, event_ids).await
    }

    pub async fn event_record(&self, channel: Channel, event_id: &str) -> Result<Option<Uuid>, StoreError> {
        chat::event_record(&self.readers, channel, event_id).await
    }

    pub async fn open_draft(
        &self,
        channel: Channel,
        sender_key: &str,
    ) -> Result<Option<super::chat::Draft>, StoreError> {
        chat::open_draft(&self.readers, channel, sender_key).await
    }

    pub async fn closing_drafts(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<super::chat::Draft>, StoreError> {
        chat::closing_drafts(&self.readers, now, limit).await
    }

    pub async fn messages(&self, seqs: &[i64]) -> Result<Vec<Pending>, StoreError> {
        chat::messages(&self.readers, seqs).await
    }

    pub async fn chat_media_of(&self, seqs: &[i64]) -> Result<Vec<super::chat::ChatMedia>, StoreError> {
        chat::media_of(&self.readers, seqs).await
    }

    pub async fn tracking_code_of(&self, record_id: Uuid) -> Result<Option<String>, StoreError> {
        chat::tracking_code_of(&self.readers, record_id).await
    }

    pub async fn quarantined(&self, limit: usize) -> Result<Vec<super::Quarantined>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, channel, message_id, received_at, COALESCE(error, '') FROM inbound \
             WHERE state = 'quarantined' ORDER BY seq LIMIT ?1",
        )
        .bind(limit as i64)
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(super::Quarantined {
                    seq: row.get(0),
                    channel: Channel::from_str(row.get::<&str, _>(1)).map_err(StoreError::Corrupt)?,
                    message_id: row.get(2),
                    received_at: parse_ts(row.get(3))?,
                    reason: row.get(4),
                })
            })
            .collect()
    }

    pub async fn replied_code(
        &self,
        channel: Channel,
        platform_message_id: &str,
    ) -> Result<Option<String>, StoreError> {
        chat::replied_code(&self.readers, channel, platform_message_id).await
    }

    pub async fn reporter_of(&self, tracking_code: &str) -> Result<Option<String>, StoreError> {
        chat::reporter_of(&self.readers, tracking_code).await
    }

    pub async fn replies_to(
        &self,
        channel: Channel,
        recipient_key: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        chat::replies_to(&self.readers, channel, recipient_key, since).await
    }

    pub async fn sanction(&self, op: SanctionOp) -> Result<SanctionChange, SanctionError> {
        let (tx, rx) = oneshot::channel();
        let gone = || SanctionError::Store(StoreError::Unavailable("the writer has stopped".to_owned()));
        self.writer.send(Op::Sanction(op, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    pub async fn standing(&self, reporter_ref: &str, at: DateTime<Utc>) -> Result<Standing, StoreError> {
        sanctions::standing(&self.readers, reporter_ref, at).await
    }

    pub async fn list_sanctions(&self, filter: &SanctionFilter) -> Result<Vec<ReporterStanding>, StoreError> {
        sanctions::list(&self.readers, filter).await
    }

    pub async fn reporter_sanctions(
        &self,
        reporter_ref: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<ReporterSanctions>, StoreError> {
        sanctions::reporter(&self.readers, reporter_ref, at).await
    }

    pub async fn is_report(&self, tracking_code: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT kind FROM records WHERE tracking_code = ?1 \
             UNION ALL SELECT kind FROM inbound WHERE tracking_code = ?1 LIMIT 1",
        )
        .bind(tracking_code)
        .fetch_optional(&self.readers)
        .await?;
        Ok(matches!(row.map(|r| r.get::<Option<String>, _>(0)), Some(Some(kind)) if kind == "report"))
    }

    pub async fn pending(&self, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, channel, message_id, received_at, raw_sha256, raw_sealed, meta, record_id, tracking_code \
             FROM inbound INDEXED BY inbound_unprocessed WHERE state = 'received' ORDER BY seq LIMIT ?1",
        )
        .bind(limit as i64)
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(pending_of).collect()
    }

    pub async fn due(&self, sink: &str, now: DateTime<Utc>, limit: usize) -> Result<Vec<Due>, StoreError> {
        outbox::due(&self.readers, sink, now, limit).await
    }

    pub async fn undelivered_of(&self, sink: &str, record_ids: &[Uuid]) -> Result<Vec<i64>, StoreError> {
        outbox::undelivered_of(&self.readers, sink, record_ids).await
    }

    pub async fn status(&self, tracking_code: &str) -> Result<Option<Status>, StoreError> {
        let recorded = sqlx::query(
            // A constant fragment, no input: safe to splice.
            sqlx::AssertSqlSafe(format!(
                "SELECT r.kind, r.channel, r.received_at, r.body, {} FROM records r WHERE r.tracking_code = ?1",
                outbox::DELIVERED_AT
            )),
        )
        .bind(tracking_code)
        .fetch_optional(&self.readers)
        .await?;
        if let Some(row) = recorded {
            let body: serde_json::Value = serde_json::from_str(row.get::<&str, _>(3))
                .map_err(|_| StoreError::Corrupt("record body".to_owned()))?;
            let disposition: Disposition = serde_json::from_value(body["disposition"].clone())
                .map_err(|_| StoreError::Corrupt("record disposition".to_owned()))?;
            return Ok(Some(Status {
                tracking_code: tracking_code.to_owned(),
                kind: parse_enum(row.get(0))?,
                channel: Channel::from_str(row.get::<&str, _>(1)).map_err(StoreError::Corrupt)?,
                received_at: parse_ts(row.get(2))?,
                disposition,
                in_reply_to: body["in_reply_to"].as_str().map(str::to_owned),
                recorded: true,
                delivered_at: row.get::<Option<&str>, _>(4).map(parse_ts).transpose()?,
            }));
        }
        let received =
            sqlx::query("SELECT kind, channel, received_at, disposition FROM inbound WHERE tracking_code = ?1")
                .bind(tracking_code)
                .fetch_optional(&self.readers)
                .await?;
        let Some(row) = received else { return Ok(None) };
        let disposition: Disposition = serde_json::from_str(row.get::<Option<&str>, _>(3).unwrap_or("null"))
            .map_err(|_| StoreError::Corrupt("inbound disposition".to_owned()))?;
        Ok(Some(Status {
            tracking_code: tracking_code.to_owned(),
            kind: parse_enum(row.get::<Option<&str>, _>(0).unwrap_or("report"))?,
            channel: Channel::from_str(row.get::<&str, _>(1)).map_err(StoreError::Corrupt)?,
            received_at: parse_ts(row.get(2))?,
            disposition,
            in_reply_to: None,
            recorded: false,
            delivered_at: None,
        }))
    }

    pub async fn close(self) {
        let SqliteStore { writer, readers, mut closed, mut checkpointer_closed, .. } = self;
        drop(writer);
        // Other clones may still hold the queue open; the writer stops when the last one goes.
        let _ = closed.wait_for(|done| *done).await;
        let _ = checkpointer_closed.wait_for(|done| *done).await;
        readers.close().await;
    }
}

/// A row of `seq, channel, message_id, received_at, raw_sha256, raw_sealed, meta, record_id,
/// tracking_code` from `inbound`.
fn pending_of(row: &sqlx::sqlite::SqliteRow) -> Result<Pending, StoreError> {
    Ok(Pending {
        seq: row.get(0),
        channel: Channel::from_str(row.get::<&str, _>(1)).map_err(StoreError::Corrupt)?,
        message_id: row.get(2),
        received_at: parse_ts(row.get(3))?,
        raw_sha256: row.get(4),
        raw_sealed: row.get(5),
        meta: row.get(6),
        record_id: row
            .get::<Option<&str>, _>(7)
            .map(|s| Uuid::parse_str(s).map_err(|_| StoreError::Corrupt("record id".to_owned())))
            .transpose()?,
        tracking_code: row.get(8),
    })
}

/// Schema migrations, applied in order, each in its own transaction, recorded by version.
/// Compiled in, so the binary needs no files beside it.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/sqlite/0001_init.sql")),
    (2, include_str!("migrations/sqlite/0002_sanctions.sql")),
    (3, include_str!("migrations/sqlite/0003_chat.sql")),
    (4, include_str!("migrations/sqlite/0004_mail.sql")),
    (5, include_str!("migrations/sqlite/0005_mail_replies.sql")),
    (6, include_str!("migrations/sqlite/0006_operators.sql")),
    (7, include_str!("migrations/sqlite/0007_outbox_per_sink.sql")),
    (8, include_str!("migrations/sqlite/0008_leases.sql")),
    (9, include_str!("migrations/sqlite/0009_core_updates.sql")),
];

/// SQLITE_FULL: the disk (or `max_page_count`) has no room for the write.
fn is_disk_full(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("13"))
}

async fn migrate(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    for (version, sql) in MIGRATIONS {
        let applied: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?1")
            .bind(version)
            .fetch_optional(&mut *conn)
            .await?;
        if applied.is_some() {
            continue;
        }
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)")
            .bind(version)
            .bind(ts(Utc::now()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Copies the WAL back into the database file every second, beside the writer (PASSIVE never
/// blocks it), so the WAL stays small without the writer paying for it.
///
/// A PASSIVE checkpoint copies frames but never resets the WAL while some reader still reads
/// an older snapshot, and under steady load (the pipeline, the sinks and the API read all the
/// time) that is always: the WAL then grew without bound, 80 MB in 40 s at 200 messages/s,
/// until it filled the disk, and once the disk was full a checkpoint could no longer grow the
/// database file, so the store stayed full even after space was freed (found by the chaos
/// harness). Past `WAL_TRUNCATE_BYTES`, a TRUNCATE checkpoint waits for the readers to move on,
/// holds writers for the copy (milliseconds for that size), and gives the WAL's space back.
async fn checkpoint_loop(
    mut conn: SqliteConnection,
    wal: std::path::PathBuf,
    mut closed: watch::Receiver<bool>,
    done: watch::Sender<bool>,
) {
    const WAL_TRUNCATE_BYTES: u64 = 16 << 20;
    loop {
        let stop = async { closed.wait_for(|done| *done).await.is_ok() };
        tokio::select! {
            _ = stop => break,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                let large = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_TRUNCATE_BYTES);
                let mode = if large { "PRAGMA wal_checkpoint(TRUNCATE)" } else { "PRAGMA wal_checkpoint(PASSIVE)" };
                if let Err(e) = sqlx::query(mode).execute(&mut conn).await {
                    tracing::warn!(error = %e, "WAL checkpoint failed; will retry.");
                }
            }
        }
    }
    let _ = conn.close().await;
    let _ = done.send(true);
}

async fn write_loop(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Op>,
    max_batch: usize,
    receive_cap: Option<i64>,
    closed: watch::Sender<bool>,
    wakes: Wakes,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut batch, max_batch).await > 0 {
        let committed = commit_batch(&mut conn, &mut batch, receive_cap).await;
        if committed.messages {
            wakes.messages_stored();
        }
        if committed.records {
            wakes.records_queued();
        }
        if committed.fetches {
            wakes.fetches.notify_one();
        }
        if committed.replies {
            wakes.replies.notify_one();
        }
    }
    // Queue closed and drained: checkpoint the WAL so the database file is whole on its own.
    let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await;
    let _ = conn.close().await;
    let _ = closed.send(true);
}

/// What a committed batch holds that a worker waits for.
#[derive(Debug, Default)]
struct Committed {
    messages: bool,
    records: bool,
    fetches: bool,
    replies: bool,
}

/// Applies and commits one batch; answers every operation. Returns what new work was
/// committed (so workers are woken once per batch, not once per message).
async fn commit_batch(conn: &mut SqliteConnection, batch: &mut Vec<Op>, receive_cap: Option<i64>) -> Committed {
    let started = Instant::now();
    let size = batch.len();
    let mut results: Vec<(Op, Result<Outcome, StoreError>)> = Vec::with_capacity(size);
    let began = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await;
    if let Err(e) = began {
        let reason = format!("cannot begin a transaction: {e}");
        for op in batch.drain(..) {
            answer(op, Err(StoreError::Unavailable(reason.clone())));
        }
        return Committed::default();
    }
    // Past the receive cap, new messages are refused (503) while everything else goes on.
    if let Some(cap) = receive_cap
        && batch.iter().any(|op| matches!(op, Op::Receive(..)))
        && used_pages(conn).await.is_ok_and(|used| used >= cap)
    {
        let (receives, rest): (Vec<Op>, Vec<Op>) = batch.drain(..).partition(|op| matches!(op, Op::Receive(..)));
        for op in receives {
            answer(
                op,
                Err(StoreError::Unavailable("the database is at its size cap (store.max_database_bytes)".to_owned())),
            );
        }
        batch.extend(rest);
    }
    // All small receives of the batch go in as one statement; what it could not settle (a
    // repeat, a large body, a tracking-code collision) takes the one-by-one path below.
    let mut settled = receive_many(conn, batch).await;
    for (i, op) in batch.drain(..).enumerate() {
        let result = match settled.get_mut(i).and_then(Option::take) {
            Some(received) => Ok(Outcome::Received(received)),
            None => apply_in_savepoint(conn, &op).await,
        };
        results.push((op, result));
    }
    let committed = sqlx::query("COMMIT").execute(&mut *conn).await;
    metrics::histogram!("hue_intake_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("hue_intake_commit_batch_size").record(size as f64);
    let mut woken = Committed::default();
    match committed {
        Ok(_) => {
            for (op, result) in results {
                woken.messages |= matches!(result, Ok(Outcome::Received(Received::Stored { .. })));
                if let (Op::Processed(p, _), Ok(_)) = (&op, &result) {
                    woken.records |= !p.records.is_empty();
                    woken.fetches |= !p.chat.fetches.is_empty();
                    woken.replies |= !p.chat.replies.is_empty();
                    // Replayed quarantine goes back to the pipeline.
                    woken.messages |= !p.requeued.is_empty();
                }
                answer(op, result);
            }
        }
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            tracing::error!(error = %e, batch = size, "Group commit failed; answering the batch as unavailable.");
            let reason = format!("commit failed: {e}");
            for (op, _) in results {
                answer(op, Err(StoreError::Unavailable(reason.clone())));
            }
        }
    }
    woken
}

/// Pages in use: the file's pages less the free ones SQLite will reuse.
async fn used_pages(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count())",
    )
    .fetch_one(&mut *conn)
    .await
}

/// Applies one operation so that, if it fails, none of its statements stay in the batch's
/// transaction. Single-statement operations need no savepoint: SQLite undoes a failed
/// statement by itself and keeps the transaction.
async fn apply_in_savepoint(conn: &mut SqliteConnection, op: &Op) -> Result<Outcome, StoreError> {
    if matches!(op, Op::Receive(..) | Op::Heartbeat(_)) {
        return apply(conn, op).await;
    }
    sqlx::query("SAVEPOINT op").execute(&mut *conn).await?;
    let result = apply(conn, op).await;
    if result.is_err() {
        sqlx::query("ROLLBACK TO op").execute(&mut *conn).await?;
    }
    sqlx::query("RELEASE op").execute(&mut *conn).await?;
    result
}

async fn apply(conn: &mut SqliteConnection, op: &Op) -> Result<Outcome, StoreError> {
    match op {
        Op::Receive(incoming, _) => receive(conn, incoming).await.map(Outcome::Received),
        Op::Processed(processed, _) => {
            processed_rows(conn, processed).await?;
            Ok(Outcome::Done)
        }
        Op::Settle(settlements, at, _) => {
            outbox::settle(conn, settlements, *at).await?;
            Ok(Outcome::Done)
        }
        Op::Sanction(op, _) => sanctions::apply(conn, op).await.map(Outcome::Sanction),
        Op::Write(write, _) => {
            let write = write.lock().expect("a write is applied by one task").take();
            match write {
                Some(write) => write(conn).await.map(|()| Outcome::Done),
                None => Err(StoreError::Corrupt("a write was applied twice".to_owned())),
            }
        }
        Op::Heartbeat(_) => {
            sqlx::query(
                "INSERT INTO heartbeat (id, at) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
            )
            .bind(ts(Utc::now()))
            .execute(&mut *conn)
            .await?;
            Ok(Outcome::Done)
        }
    }
}

/// Most rows in one multi-row statement: 11 parameters each, well under SQLite's 32766.
const ROWS_PER_STATEMENT: usize = 512;

/// Inserts every receive of the batch with one multi-row statement. Returns, per operation,
/// the answer when this settled it (`Stored` for new rows). Repeats, and the whole batch on
/// any error (a tracking-code collision aborts the statement, and SQLite undoes just that
/// statement), are left for [`receive`], one by one.
async fn receive_many(conn: &mut SqliteConnection, batch: &[Op]) -> Vec<Option<Received>> {
    let mut settled: Vec<Option<Received>> = vec![None; batch.len()];
    let rows: Vec<(usize, &Incoming)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Receive(incoming, _) => Some((i, incoming.as_ref())),
            _ => None,
        })
        .collect();
    if rows.len() < 2 {
        return settled;
    }
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO inbound (channel, message_id, received_at, raw_sha256, fingerprint, raw_sealed, meta, \
                                  kind, record_id, tracking_code, disposition) ",
        );
        insert.push_values(chunk, |mut row, (_, incoming)| {
            let allocation = incoming.allocation.as_ref();
            row.push_bind(incoming.channel.as_str())
                .push_bind(incoming.message_id.clone())
                .push_bind(ts(incoming.received_at))
                .push_bind(incoming.raw_sha256.clone())
                .push_bind(incoming.fingerprint.clone())
                .push_bind(incoming.raw_sealed.clone())
                .push_bind(incoming.meta.clone())
                .push_bind(allocation.map(|a| enum_text(&a.kind)))
                .push_bind(allocation.map(|a| a.record_id.to_string()))
                .push_bind(allocation.map(|a| a.tracking_code.clone()))
                .push_bind(allocation.map(|a| serde_json::to_string(&a.disposition).expect("serialisable")));
        });
        insert.push(" ON CONFLICT (channel, message_id) DO NOTHING RETURNING seq, channel, message_id");
        let Ok(inserted) = insert.build().fetch_all(&mut *conn).await else { continue };
        let index: std::collections::HashMap<(&str, &str), usize> =
            chunk.iter().map(|(i, incoming)| ((incoming.channel.as_str(), incoming.message_id.as_str()), *i)).collect();
        for row in inserted {
            let (channel, message_id) = (row.get::<&str, _>(1), row.get::<&str, _>(2));
            if let Some(&i) = index.get(&(channel, message_id))
                && let Op::Receive(incoming, _) = &batch[i]
            {
                settled[i] = Some(Received::Stored { seq: row.get(0), allocation: incoming.allocation.clone() });
            }
        }
    }
    settled
}

async fn receive(conn: &mut SqliteConnection, incoming: &Incoming) -> Result<Received, StoreError> {
    let mut allocation = incoming.allocation.clone();
    for _ in 0..TRACKING_CODE_ATTEMPTS {
        let inserted = sqlx::query(
            "INSERT INTO inbound (channel, message_id, received_at, raw_sha256, fingerprint, raw_sealed, meta, \
                                  kind, record_id, tracking_code, disposition) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (channel, message_id) DO NOTHING RETURNING seq",
        )
        .bind(incoming.channel.as_str())
        .bind(&incoming.message_id)
        .bind(ts(incoming.received_at))
        .bind(&incoming.raw_sha256)
        .bind(&incoming.fingerprint)
        .bind(&incoming.raw_sealed)
        .bind(&incoming.meta)
        .bind(allocation.as_ref().map(|a| enum_text(&a.kind)))
        .bind(allocation.as_ref().map(|a| a.record_id.to_string()))
        .bind(allocation.as_ref().map(|a| a.tracking_code.clone()))
        .bind(allocation.as_ref().map(|a| serde_json::to_string(&a.disposition).expect("serialisable")))
        .fetch_optional(&mut *conn)
        .await;
        match inserted {
            Ok(Some(row)) => {
                return Ok(Received::Stored { seq: row.get(0), allocation });
            }
            Ok(None) => return earlier(conn, incoming).await,
            Err(sqlx::Error::Database(e)) if e.message().contains("inbound.tracking_code") => {
                if let Some(a) = allocation.as_mut() {
                    a.tracking_code = crate::ids::new_tracking_code().to_string();
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Unavailable("could not find a free tracking code".to_owned()))
}

/// The first answer to a message stored before, or a conflict if its content differs.
async fn earlier(conn: &mut SqliteConnection, incoming: &Incoming) -> Result<Received, StoreError> {
    let row = sqlx::query(
        "SELECT fingerprint, kind, record_id, tracking_code, disposition, meta FROM inbound \
         WHERE channel = ?1 AND message_id = ?2",
    )
    .bind(incoming.channel.as_str())
    .bind(&incoming.message_id)
    .fetch_one(&mut *conn)
    .await?;
    if row.get::<&str, _>(0) != incoming.fingerprint {
        return Ok(Received::Conflict);
    }
    let allocation = match (
        row.get::<Option<&str>, _>(1),
        row.get::<Option<&str>, _>(2),
        row.get::<Option<String>, _>(3),
        row.get::<Option<&str>, _>(4),
    ) {
        (Some(kind), Some(id), Some(tracking_code), Some(disposition)) => Some(Allocation {
            kind: parse_enum::<Kind>(kind)?,
            record_id: Uuid::parse_str(id).map_err(|_| StoreError::Corrupt("record id".to_owned()))?,
            tracking_code,
            disposition: serde_json::from_str(disposition)
                .map_err(|_| StoreError::Corrupt("disposition".to_owned()))?,
        }),
        _ => None,
    };
    Ok(Received::Duplicate { allocation, meta: row.get(5) })
}

/// The pipeline's batch: records, their vault entries and outbox rows, and message states,
/// each table in a few multi-row statements.
async fn processed_rows(conn: &mut SqliteConnection, processed: &Processed) -> Result<(), StoreError> {
    for chunk in processed.records.chunks(ROWS_PER_STATEMENT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO records (id, tracking_code, kind, channel, received_at, state, in_reply_to, body) ",
        );
        insert.push_values(chunk, |mut row, r| {
            row.push_bind(r.id.to_string())
                .push_bind(r.tracking_code.clone())
                .push_bind(enum_text(&r.kind))
                .push_bind(r.channel.as_str())
                .push_bind(ts(r.received_at))
                .push_bind(r.state.clone())
                .push_bind(r.in_reply_to.clone())
                .push_bind(r.body.clone());
        });
        // Records already committed by an earlier run of the pipeline are skipped, and so are
        // their vault and outbox rows: re-running a batch changes nothing.
        insert.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
        let new_ids: std::collections::HashSet<String> =
            insert.build_query_scalar::<String>().fetch_all(&mut *conn).await?.into_iter().collect();
        let new: Vec<&NewRecord> = chunk.iter().filter(|r| new_ids.contains(&r.id.to_string())).collect();
        if new.is_empty() {
            continue;
        }
        let created_at = ts(Utc::now());
        let mut vault = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO reporter_vault (record_id, reporter_ref, consent, sealed, created_at) ",
        );
        vault.push_values(&new, |mut row, r| {
            row.push_bind(r.id.to_string())
                .push_bind(r.reporter_ref.clone())
                .push_bind(r.consent)
                .push_bind(r.identity_sealed.clone())
                .push_bind(created_at.clone());
        });
        vault.build().execute(&mut *conn).await?;
        // R12: violations of the new records, and the locks they cause, in this transaction.
        sanctions::record_violations(conn, &new).await?;
        // Outbox rows in the batch's order, so delivery follows commit order.
        outbox::queue(conn, &new).await?;
    }
    if !processed.done.is_empty() {
        sqlx::query("UPDATE inbound SET state = 'processed' WHERE seq IN (SELECT value FROM json_each(?1))")
            .bind(serde_json::to_string(&processed.done).expect("integers serialise"))
            .execute(&mut *conn)
            .await?;
    }
    if !processed.chat.is_empty() {
        chat::write(conn, &processed.chat).await?;
    }
    if !processed.requeued.is_empty() {
        sqlx::query(
            "UPDATE inbound SET state = 'received', error = NULL \
             WHERE state = 'quarantined' AND seq IN (SELECT value FROM json_each(?1))",
        )
        .bind(serde_json::to_string(&processed.requeued).expect("integers serialise"))
        .execute(&mut *conn)
        .await?;
    }
    for (seq, reason) in &processed.quarantined {
        sqlx::query("UPDATE inbound SET state = 'quarantined', error = ?2 WHERE seq = ?1")
            .bind(seq)
            .bind(reason)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn answer(op: Op, result: Result<Outcome, StoreError>) {
    // A caller that gave up (timeout, client gone) has dropped its receiver; the write stands.
    match op {
        Op::Receive(_, tx) => {
            let _ = tx.send(result.map(|o| match o {
                Outcome::Received(r) => r,
                Outcome::Done | Outcome::Sanction(_) => unreachable!("receive yields Received"),
            }));
        }
        Op::Processed(_, tx) | Op::Settle(_, _, tx) | Op::Heartbeat(tx) | Op::Write(_, tx) => {
            let _ = tx.send(result.map(|_| ()));
        }
        Op::Sanction(_, tx) => {
            let _ = tx.send(match result {
                Ok(Outcome::Sanction(answer)) => answer,
                Ok(_) => unreachable!("sanctions yield Sanction"),
                Err(e) => Err(SanctionError::Store(e)),
            });
        }
    }
}
