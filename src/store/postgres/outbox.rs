//! The outbox on PostgreSQL (as `sqlite/outbox.rs`, in this dialect): one row per (sink,
//! record), queued in the pipeline's commit, taken in commit order by each sink's worker,
//! settled as delivered, retried or dead, and replayed from the dead letters by staff.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{parse_enum, parse_ts, ts};
use crate::store::{DeadFilter, DeadLetter, Due, NewRecord, OutboxCount, Settlement, StoreError};

/// Queues new records for every active sink, in the batch's order; a follow-up names the
/// report it waits for when that report is queued for the same sink.
pub(super) async fn queue(conn: &mut PgConnection, records: &[&NewRecord]) -> Result<(), StoreError> {
    let due: Vec<(usize, &&NewRecord)> = records.iter().filter(|r| r.deliver_after.is_some()).enumerate().collect();
    if due.is_empty() {
        return Ok(());
    }
    let mut insert =
        sqlx::QueryBuilder::<sqlx::Postgres>::new("WITH batch (ord, record_id, in_reply_to, not_before) AS (");
    insert.push_values(&due, |mut row, (ord, r)| {
        row.push_bind(*ord as i64)
            .push_bind(r.id.to_string())
            .push_bind(r.in_reply_to.clone())
            .push_bind(r.deliver_after.map(ts));
    });
    insert.push(
        ") INSERT INTO outbox (sink, record_id, after_record, not_before, next_attempt_at) \
         SELECT s.name, b.record_id, \
                (SELECT p.record_id FROM records rp JOIN outbox p ON p.record_id = rp.id AND p.sink = s.name \
                 WHERE rp.tracking_code = b.in_reply_to), \
                b.not_before, b.not_before \
         FROM batch b CROSS JOIN sinks s WHERE s.active ORDER BY s.name, b.ord \
         ON CONFLICT (sink, record_id) DO NOTHING",
    );
    insert.build().execute(&mut *conn).await?;
    Ok(())
}

pub(super) async fn register_sinks(conn: &mut PgConnection, sinks: &[String]) -> Result<(), StoreError> {
    sqlx::query("UPDATE sinks SET active = (name = ANY($1))").bind(sinks).execute(&mut *conn).await?;
    sqlx::query("INSERT INTO sinks (name, active) SELECT unnest($1::text[]), TRUE ON CONFLICT (name) DO NOTHING")
        .bind(sinks)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(super) async fn due(pool: &PgPool, sink: &str, now: DateTime<Utc>, limit: usize) -> Result<Vec<Due>, StoreError> {
    let rows = sqlx::query(
        "SELECT o.seq, o.record_id, r.body, o.attempts FROM outbox o JOIN records r ON r.id = o.record_id \
         WHERE o.sink = $1 AND o.state = 'pending' AND o.next_attempt_at <= $2 \
           AND (o.after_record IS NULL OR NOT EXISTS ( \
                SELECT 1 FROM outbox p WHERE p.sink = o.sink AND p.record_id = o.after_record AND p.state <> 'delivered')) \
         ORDER BY o.seq LIMIT $3",
    )
    .bind(sink)
    .bind(ts(now))
    .bind(limit as i64)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Due {
                outbox_seq: row.get(0),
                record_id: record_id(row, 1)?,
                body: row.get(2),
                attempts: row.get::<i64, _>(3) as u32,
            })
        })
        .collect()
}

pub(super) async fn undelivered_of(pool: &PgPool, sink: &str, record_ids: &[Uuid]) -> Result<Vec<i64>, StoreError> {
    let ids: Vec<String> = record_ids.iter().map(Uuid::to_string).collect();
    let seqs =
        sqlx::query_scalar("SELECT seq FROM outbox WHERE sink = $1 AND state = 'pending' AND record_id = ANY($2)")
            .bind(sink)
            .bind(ids)
            .fetch_all(pool)
            .await?;
    Ok(seqs)
}

pub(super) async fn settle(
    conn: &mut PgConnection,
    settlements: &[(i64, Settlement)],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = ts(at);
    let (seqs, remotes): (Vec<i64>, Vec<Option<String>>) = settlements
        .iter()
        .filter_map(|(seq, s)| match s {
            Settlement::Delivered { remote_id } => Some((*seq, remote_id.clone())),
            _ => None,
        })
        .unzip();
    if !seqs.is_empty() {
        // One statement for the common case: a whole batch delivered.
        sqlx::query(
            "UPDATE outbox SET state = 'delivered', delivered_at = $1, attempts = attempts + 1, last_error = NULL, \
             remote_id = d.remote FROM unnest($2::bigint[], $3::text[]) AS d (seq, remote) \
             WHERE outbox.seq = d.seq AND outbox.state = 'pending'",
        )
        .bind(&at)
        .bind(&seqs)
        .bind(&remotes)
        .execute(&mut *conn)
        .await?;
    }
    for (seq, settlement) in settlements {
        match settlement {
            Settlement::Delivered { .. } => {}
            Settlement::Retry { next_attempt_at, error } => {
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 \
                     WHERE seq = $1 AND state = 'pending'",
                )
                .bind(seq)
                .bind(ts(*next_attempt_at))
                .bind(error)
                .execute(&mut *conn)
                .await?;
            }
            Settlement::Dead { error } => {
                sqlx::query(
                    "UPDATE outbox SET state = 'dead', attempts = attempts + 1, dead_at = $2, last_error = $3 \
                     WHERE seq = $1 AND state = 'pending'",
                )
                .bind(seq)
                .bind(&at)
                .bind(error)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    Ok(())
}

pub(super) async fn dead_letters(pool: &PgPool, filter: &DeadFilter) -> Result<Vec<DeadLetter>, StoreError> {
    let rows = sqlx::query(
        "SELECT o.seq, o.sink, o.record_id, r.tracking_code, r.kind, o.attempts, o.last_error, o.dead_at \
         FROM outbox o JOIN records r ON r.id = o.record_id \
         WHERE o.state = 'dead' AND ($1::text IS NULL OR o.sink = $1) AND ($2::text IS NULL OR o.dead_at >= $2) \
         ORDER BY o.dead_at DESC, o.seq DESC LIMIT $3",
    )
    .bind(filter.sink.as_deref())
    .bind(filter.since.map(ts))
    .bind(filter.limit.min(i64::MAX as usize) as i64)
    .fetch_all(pool)
    .await?;
    rows.iter().map(dead_letter_of).collect()
}

pub(super) async fn dead_letter(pool: &PgPool, id_or_code: &str) -> Result<Vec<(DeadLetter, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT o.seq, o.sink, o.record_id, r.tracking_code, r.kind, o.attempts, o.last_error, o.dead_at, r.body \
         FROM outbox o JOIN records r ON r.id = o.record_id \
         WHERE o.state = 'dead' AND (r.id = $1 OR r.tracking_code = upper($1)) ORDER BY o.seq",
    )
    .bind(id_or_code)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|row| Ok((dead_letter_of(row)?, row.get(8)))).collect()
}

pub(super) async fn replay_dead(conn: &mut PgConnection, seqs: &[i64], now: DateTime<Utc>) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1, dead_at = NULL \
         WHERE state = 'dead' AND seq = ANY($2)",
    )
    .bind(ts(now))
    .bind(seqs)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

pub(super) async fn counts(pool: &PgPool) -> Result<Vec<OutboxCount>, StoreError> {
    // Only what is still to do (the partial indexes): delivered rows are not counted.
    let rows = sqlx::query(
        "SELECT sink, state, COUNT(*) FROM outbox WHERE state IN ('pending', 'dead') \
         GROUP BY sink, state ORDER BY sink, state",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|row| OutboxCount { sink: row.get(0), state: row.get(1), count: row.get::<i64, _>(2) as u64 })
        .collect())
}

/// When every sink that has the record delivered it (the last of them), else `None`.
pub(super) async fn delivered_at(pool: &PgPool, record_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let at: Option<String> = sqlx::query_scalar(
        "SELECT CASE WHEN COUNT(*) > 0 AND bool_and(state = 'delivered') THEN MAX(delivered_at) END \
         FROM outbox WHERE record_id = $1",
    )
    .bind(record_id)
    .fetch_one(pool)
    .await?;
    at.as_deref().map(parse_ts).transpose()
}

fn record_id(row: &PgRow, index: usize) -> Result<Uuid, StoreError> {
    Uuid::parse_str(row.get::<&str, _>(index)).map_err(|_| StoreError::Corrupt("record id".to_owned()))
}

fn dead_letter_of(row: &PgRow) -> Result<DeadLetter, StoreError> {
    Ok(DeadLetter {
        outbox_seq: row.get(0),
        sink: row.get(1),
        record_id: record_id(row, 2)?,
        tracking_code: row.get(3),
        kind: parse_enum(row.get(4))?,
        attempts: row.get::<i64, _>(5) as u32,
        last_error: row.get(6),
        dead_at: parse_ts(row.get::<Option<&str>, _>(7).unwrap_or_default())?,
    })
}
