//! The PostgreSQL backend: for several gateway instances sharing one database server.
//!
//! The shape is the SQLite backend's: one writer task per process applies every write inside
//! a savepoint of one transaction per batch and commits once (group commit), answering each
//! caller only after that commit, so a reply still means durable. PostgreSQL aborts the whole
//! transaction on any failed statement, so here every operation gets its savepoint (SQLite
//! spares single statements). Reads use the same pool as the writer's connection.
//!
//! Several processes may write at once: uniqueness is the database's (`ON CONFLICT` on
//! (channel, message_id), record ids, event ids; a second instance's insert of the same key
//! waits for the first's commit and then answers `Duplicate`), sanctions writes are
//! serialised by one transaction-scoped advisory lock, and the pipeline runs in one process
//! at a time under the `pipeline` lease (`Store::try_lease`). Two instances' batches that
//! deadlock are resolved by PostgreSQL aborting one: its callers get `Unavailable` (503) and
//! retry. Values are stored as SQLite stores them (RFC 3339 UTC text times of fixed width,
//! text UUIDs), so the backend-neutral code binds and parses the same. The outbox's SQL is in
//! `postgres/outbox.rs` alone.

use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hue_intake_schemas::{Channel, Disposition, Kind};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Row};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

mod chat;

impl super::chat::ChatRows for PgConnection {
    async fn write_chat(&mut self, changes: &super::chat::ChatChanges) -> Result<(), StoreError> {
        chat::write(self, changes).await
    }
}
mod outbox;
mod sanctions;

use super::sanctions::{ReporterSanctions, ReporterStanding, SanctionChange, SanctionError, SanctionFilter, Standing};
use super::sqlite::{SanctionOp, enum_text, parse_enum, parse_ts, ts};
use super::{Allocation, Incoming, NewRecord, Options, Pending, Processed, Received, Status, StoreError, Wakes};

/// How often the writer retries an insert whose random tracking code collided.
const TRACKING_CODE_ATTEMPTS: usize = 8;

/// Connections per process: the writer's one and the readers'.
const POOL_SIZE: u32 = 10;

#[derive(Debug, Clone)]
pub struct PgStore {
    writer: mpsc::Sender<Op>,
    readers: PgPool,
    /// Becomes true when the writer has drained its queue.
    closed: watch::Receiver<bool>,
    /// Wake whoever waits in this process for new stored messages and new records. Another
    /// instance's commits wake nobody here: its workers find them at their next poll.
    wakes: Wakes,
}

/// A write that is not one of the fixed operations: runs inside the batch's transaction (in
/// its own savepoint) and is answered after the commit, like every other write.
pub type PgWriteFn = Box<
    dyn for<'c> FnOnce(
            &'c mut PgConnection,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send + 'c>>
        + Send,
>;

/// One write, with the channel its caller waits on.
enum Op {
    Receive(Box<Incoming>, oneshot::Sender<Result<Received, StoreError>>),
    Processed(Processed, oneshot::Sender<Result<(), StoreError>>),
    Settle(Vec<(i64, super::Settlement)>, DateTime<Utc>, oneshot::Sender<Result<(), StoreError>>),
    Heartbeat(oneshot::Sender<Result<(), StoreError>>),
    Sanction(SanctionOp, oneshot::Sender<Result<SanctionChange, SanctionError>>),
    /// Taken out of its box when applied (it runs once).
    Write(std::sync::Mutex<Option<PgWriteFn>>, oneshot::Sender<Result<(), StoreError>>),
}

/// An operation's outcome, held until the batch commits.
enum Outcome {
    Received(Received),
    Done,
    /// A sanctions answer; a refusal (not found, conflict) wrote nothing.
    Sanction(Result<SanctionChange, SanctionError>),
}

impl PgStore {
    /// Connects to `database_url` and brings its schema up to date. The URL's own parameters
    /// (`sslmode`, `options=-c search_path=...`) apply.
    pub async fn open(database_url: &str, options: Options) -> Result<PgStore, StoreError> {
        let connect: PgConnectOptions = database_url.parse()?;
        let mut conn = PgConnection::connect_with(&connect).await?;
        migrate(&mut conn).await?;
        let _ = conn.close().await;
        let readers = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect)
            .await?;
        let (writer, queue) = mpsc::channel(options.group_commit_max_batch.max(1) * 4);
        let (closed_tx, closed) = watch::channel(false);
        let wakes = Wakes::default();
        tokio::spawn(write_loop(
            readers.clone(),
            queue,
            options.group_commit_max_batch.max(1),
            closed_tx,
            wakes.clone(),
        ));
        Ok(PgStore { writer, readers, closed, wakes })
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
        settlements: Vec<(i64, super::Settlement)>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.submit(|tx| Op::Settle(settlements, at, tx)).await
    }

    pub async fn register_sinks(&self, sinks: &[String]) -> Result<(), StoreError> {
        let sinks = sinks.to_vec();
        self.write(Box::new(move |conn| Box::pin(async move { outbox::register_sinks(conn, &sinks).await }))).await
    }

    pub async fn replay_dead(&self, seqs: Vec<i64>, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let replayed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
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

    pub async fn dead_letters(&self, filter: &super::DeadFilter) -> Result<Vec<super::DeadLetter>, StoreError> {
        outbox::dead_letters(&self.readers, filter).await
    }

    pub async fn dead_letter(&self, id_or_code: &str) -> Result<Vec<(super::DeadLetter, String)>, StoreError> {
        outbox::dead_letter(&self.readers, id_or_code).await
    }

    pub async fn outbox_counts(&self) -> Result<Vec<super::OutboxCount>, StoreError> {
        outbox::counts(&self.readers).await
    }

    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.submit(Op::Heartbeat).await
    }

    /// Runs `write` inside the next group commit; returns once it is committed.
    pub async fn write(&self, write: PgWriteFn) -> Result<(), StoreError> {
        self.submit(|tx| Op::Write(std::sync::Mutex::new(Some(write)), tx)).await
    }

    pub fn readers(&self) -> &PgPool {
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
             WHERE state = 'quarantined' ORDER BY seq LIMIT $1",
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
            "SELECT kind FROM records WHERE tracking_code = $1 \
             UNION ALL SELECT kind FROM inbound WHERE tracking_code = $1 LIMIT 1",
        )
        .bind(tracking_code)
        .fetch_optional(&self.readers)
        .await?;
        Ok(matches!(row.map(|r| r.get::<Option<String>, _>(0)), Some(Some(kind)) if kind == "report"))
    }

    pub async fn pending(&self, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, channel, message_id, received_at, raw_sha256, raw_sealed, meta, record_id, tracking_code \
             FROM inbound WHERE state = 'received' ORDER BY seq LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(pending_of).collect()
    }

    pub async fn due(&self, sink: &str, now: DateTime<Utc>, limit: usize) -> Result<Vec<super::Due>, StoreError> {
        outbox::due(&self.readers, sink, now, limit).await
    }

    pub async fn undelivered_of(&self, sink: &str, record_ids: &[Uuid]) -> Result<Vec<i64>, StoreError> {
        outbox::undelivered_of(&self.readers, sink, record_ids).await
    }

    pub async fn status(&self, tracking_code: &str) -> Result<Option<Status>, StoreError> {
        let recorded = sqlx::query(
            "SELECT r.kind, r.channel, r.received_at, r.body, r.id FROM records r WHERE r.tracking_code = $1",
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
                delivered_at: outbox::delivered_at(&self.readers, row.get(4)).await?,
            }));
        }
        let received =
            sqlx::query("SELECT kind, channel, received_at, disposition FROM inbound WHERE tracking_code = $1")
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
        let PgStore { writer, readers, mut closed, .. } = self;
        drop(writer);
        // Other clones may still hold the queue open; the writer stops when the last one goes.
        let _ = closed.wait_for(|done| *done).await;
        readers.close().await;
    }
}

/// A row of `seq, channel, message_id, received_at, raw_sha256, raw_sealed, meta, record_id,
/// tracking_code` from `inbound`.
fn pending_of(row: &sqlx::postgres::PgRow) -> Result<Pending, StoreError> {
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
    (1, include_str!("migrations/postgres/0001_init.sql")),
    (2, include_str!("migrations/postgres/0002_sanctions.sql")),
    (3, include_str!("migrations/postgres/0003_chat.sql")),
    (4, include_str!("migrations/postgres/0004_mail.sql")),
    (5, include_str!("migrations/postgres/0005_mail_replies.sql")),
    (6, include_str!("migrations/postgres/0006_operators.sql")),
    (7, include_str!("migrations/postgres/0007_outbox_per_sink.sql")),
    (8, include_str!("migrations/postgres/0008_leases.sql")),
    (9, include_str!("migrations/postgres/0009_core_updates.sql")),
];

/// Any fixed number: the key of the advisory lock under which instances starting together
/// migrate one after another (the second finds the work done).
const MIGRATION_LOCK: i64 = 0x0068_7565_5f6d_6967; // "hue_mig" in ASCII

async fn migrate(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
    let result = migrate_locked(conn).await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await;
    result
}

async fn migrate_locked(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    for (version, sql) in MIGRATIONS {
        let applied: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *conn)
            .await?;
        if applied.is_some() {
            continue;
        }
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(ts(Utc::now()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

async fn write_loop(
    pool: PgPool,
    mut queue: mpsc::Receiver<Op>,
    max_batch: usize,
    closed: watch::Sender<bool>,
    wakes: Wakes,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut batch, max_batch).await > 0 {
        let committed = commit_batch(&pool, &mut batch).await;
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

/// Applies and commits one batch on a pooled connection (the pool reconnects after a server
/// restart); answers every operation. Returns what new work was committed.
async fn commit_batch(pool: &PgPool, batch: &mut Vec<Op>) -> Committed {
    let started = Instant::now();
    let size = batch.len();
    let mut results: Vec<(Op, Result<Outcome, StoreError>)> = Vec::with_capacity(size);
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let reason = format!("cannot begin a transaction: {e}");
            for op in batch.drain(..) {
                answer(op, Err(StoreError::Unavailable(reason.clone())));
            }
            return Committed::default();
        }
    };
    for op in batch.drain(..) {
        let result = apply_in_savepoint(&mut tx, &op).await;
        results.push((op, result));
    }
    let committed = tx.commit().await;
    metrics::histogram!("hue_intake_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("hue_intake_commit_batch_size").record(size as f64);
    let mut woken = Committed::default();
    match committed {
        Ok(()) => {
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
            tracing::error!(error = %e, batch = size, "Group commit failed; answering the batch as unavailable.");
            let reason = format!("commit failed: {e}");
            for (op, _) in results {
                answer(op, Err(StoreError::Unavailable(reason.clone())));
            }
        }
    }
    woken
}

/// Applies one operation so that, if it fails, none of its statements stay in the batch's
/// transaction, and the transaction stays usable for the next (PostgreSQL refuses every
/// statement after a failed one until the savepoint is rolled back).
async fn apply_in_savepoint(conn: &mut PgConnection, op: &Op) -> Result<Outcome, StoreError> {
    sqlx::query("SAVEPOINT op").execute(&mut *conn).await?;
    let result = apply(conn, op).await;
    if result.is_err() {
        sqlx::query("ROLLBACK TO SAVEPOINT op").execute(&mut *conn).await?;
    }
    sqlx::query("RELEASE SAVEPOINT op").execute(&mut *conn).await?;
    result
}

async fn apply(conn: &mut PgConnection, op: &Op) -> Result<Outcome, StoreError> {
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
                "INSERT INTO heartbeat (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
            )
            .bind(ts(Utc::now()))
            .execute(&mut *conn)
            .await?;
            Ok(Outcome::Done)
        }
    }
}

/// Most rows in one multi-row statement: 11 parameters each, well under PostgreSQL's 65535.
const ROWS_PER_STATEMENT: usize = 512;

async fn receive(conn: &mut PgConnection, incoming: &Incoming) -> Result<Received, StoreError> {
    let mut allocation = incoming.allocation.clone();
    for _ in 0..TRACKING_CODE_ATTEMPTS {
        // A collision aborts the statement's transaction: each attempt in its own savepoint.
        sqlx::query("SAVEPOINT attempt").execute(&mut *conn).await?;
        let inserted = sqlx::query(
            "INSERT INTO inbound (channel, message_id, received_at, raw_sha256, fingerprint, raw_sealed, meta, \
                                  kind, record_id, tracking_code, disposition) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
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
        if inserted.is_err() {
            sqlx::query("ROLLBACK TO SAVEPOINT attempt").execute(&mut *conn).await?;
        }
        sqlx::query("RELEASE SAVEPOINT attempt").execute(&mut *conn).await?;
        match inserted {
            Ok(Some(row)) => {
                return Ok(Received::Stored { seq: row.get(0), allocation });
            }
            Ok(None) => return earlier(conn, incoming).await,
            Err(sqlx::Error::Database(e)) if e.constraint() == Some("inbound_tracking_code_key") => {
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
async fn earlier(conn: &mut PgConnection, incoming: &Incoming) -> Result<Received, StoreError> {
    let row = sqlx::query(
        "SELECT fingerprint, kind, record_id, tracking_code, disposition, meta FROM inbound \
         WHERE channel = $1 AND message_id = $2",
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
async fn processed_rows(conn: &mut PgConnection, processed: &Processed) -> Result<(), StoreError> {
    for chunk in processed.records.chunks(ROWS_PER_STATEMENT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Postgres>::new(
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
        let mut vault = sqlx::QueryBuilder::<sqlx::Postgres>::new(
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
        sqlx::query("UPDATE inbound SET state = 'processed' WHERE seq IN (SELECT value::bigint FROM json_array_elements_text($1::json))")
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
             WHERE state = 'quarantined' AND seq IN (SELECT value::bigint FROM json_array_elements_text($1::json))",
        )
        .bind(serde_json::to_string(&processed.requeued).expect("integers serialise"))
        .execute(&mut *conn)
        .await?;
    }
    for (seq, reason) in &processed.quarantined {
        sqlx::query("UPDATE inbound SET state = 'quarantined', error = $2 WHERE seq = $1")
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
