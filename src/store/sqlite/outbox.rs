//! The outbox on SQLite: one row per (sink, record), queued in the pipeline's commit, taken
//! in commit order by each sink's worker, settled as delivered, retried or dead, and
//! replayed from the dead letters by staff.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::{parse_enum, parse_ts, ts};
use crate::store::{DeadFilter, DeadLetter, Due, NewRecord, OutboxCount, Settlement, StoreError};

/// Queues new records for every active sink, in the batch's order (so each sink's rows follow
/// commit order). An interaction or rating names the report it follows, when that report is
/// queued for the same sink, so it is not delivered before it.
pub(super) async fn queue(conn: &mut SqliteConnection, records: &[&NewRecord]) -> Result<(), StoreError> {
    let due: Vec<(usize, &&NewRecord)> = records.iter().filter(|r| r.deliver_after.is_some()).enumerate().collect();
    if due.is_empty() {
        return Ok(());
    }
    let mut insert =
        sqlx::QueryBuilder::<sqlx::Sqlite>::new("WITH batch (ord, record_id, in_reply_to, not_before) AS (");
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
         FROM batch b CROSS JOIN sinks s WHERE s.active = 1 ORDER BY s.name, b.ord \
         ON CONFLICT (sink, record_id) DO NOTHING",
    );
    insert.build().execute(&mut *conn).await?;
    Ok(())
}

pub(super) async fn register_sinks(conn: &mut SqliteConnection, sinks: &[String]) -> Result<(), StoreError> {
    let names = serde_json::to_string(sinks).expect("strings serialise");
    sqlx::query("UPDATE sinks SET active = (name IN (SELECT value FROM json_each(?1)))")
        .bind(&names)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO sinks (name, active) SELECT value, 1 FROM json_each(?1) WHERE true ON CONFLICT (name) DO NOTHING",
    )
    .bind(&names)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn due(
    readers: &SqlitePool,
    sink: &str,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Due>, StoreError> {
    let rows = sqlx::query(
        "SELECT o.seq, o.record_id, r.body, o.attempts FROM outbox o INDEXED BY outbox_pending \
         JOIN records r ON r.id = o.record_id \
         WHERE o.sink = ?1 AND o.state = 'pending' AND o.next_attempt_at <= ?2 \
           AND (o.after_record IS NULL OR NOT EXISTS ( \
                SELECT 1 FROM outbox p WHERE p.sink = o.sink AND p.record_id = o.after_record AND p.state <> 'delivered')) \
         ORDER BY o.seq LIMIT ?3",
    )
    .bind(sink)
    .bind(ts(now))
    .bind(limit as i64)
    .fetch_all(readers)
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

pub(super) async fn undelivered_of(
    readers: &SqlitePool,
    sink: &str,
    record_ids: &[Uuid],
) -> Result<Vec<i64>, StoreError> {
    let ids: Vec<String> = record_ids.iter().map(Uuid::to_string).collect();
    let seqs = sqlx::query_scalar(
        "SELECT seq FROM outbox WHERE sink = ?1 AND state = 'pending' \
         AND record_id IN (SELECT value FROM json_each(?2))",
    )
    .bind(sink)
    .bind(serde_json::to_string(&ids).expect("strings serialise"))
    .fetch_all(readers)
    .await?;
    Ok(seqs)
}

pub(super) async fn settle(
    conn: &mut SqliteConnection,
    settlements: &[(i64, Settlement)],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = ts(at);
    let delivered: Vec<(i64, Option<&str>)> = settlements
        .iter()
        .filter_map(|(seq, s)| match s {
            Settlement::Delivered { remote_id } => Some((*seq, remote_id.as_deref())),
            _ => None,
        })
        .collect();
    if !delivered.is_empty() {
        // One statement for the common case: a whole batch delivered. A join with the list,
        // read once: a correlated sub-select looking each row's receiver id up in the list
        // read the whole list again for every row (quadratic in the batch; a fifth of the
        // pipeline's time at 256 records, found profiling issue 8's end-to-end run).
        let rows: Vec<serde_json::Value> =
            delivered.iter().map(|(seq, remote)| serde_json::json!([seq, remote])).collect();
        sqlx::query(
            "UPDATE outbox SET state = 'delivered', delivered_at = ?1, attempts = attempts + 1, last_error = NULL, \
             remote_id = settled.remote_id \
             FROM (SELECT j.value ->> 0 AS seq, j.value ->> 1 AS remote_id FROM json_each(?2) j) AS settled \
             WHERE outbox.seq = settled.seq AND outbox.state = 'pending'",
        )
        .bind(&at)
        .bind(serde_json::Value::Array(rows).to_string())
        .execute(&mut *conn)
        .await?;
    }
    for (seq, settlement) in settlements {
        match settlement {
            Settlement::Delivered { .. } => {}
            Settlement::Retry { next_attempt_at, error } => {
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 \
                     WHERE seq = ?1 AND state = 'pending'",
                )
                .bind(seq)
                .bind(ts(*next_attempt_at))
                .bind(error)
                .execute(&mut *conn)
                .await?;
            }
            Settlement::Dead { error } => {
                sqlx::query(
                    "UPDATE outbox SET state = 'dead', attempts = attempts + 1, dead_at = ?2, last_error = ?3 \
                     WHERE seq = ?1 AND state = 'pending'",
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

const DEAD_COLUMNS: &str = "o.seq, o.sink, o.record_id, r.tracking_code, r.kind, o.attempts, o.last_error, o.dead_at";

pub(super) async fn dead_letters(readers: &SqlitePool, filter: &DeadFilter) -> Result<Vec<DeadLetter>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DEAD_COLUMNS} FROM outbox o JOIN records r ON r.id = o.record_id \
         WHERE o.state = 'dead' AND (?1 IS NULL OR o.sink = ?1) AND (?2 IS NULL OR o.dead_at >= ?2) \
         ORDER BY o.dead_at DESC, o.seq DESC LIMIT ?3"
    )))
    .bind(filter.sink.as_deref())
    .bind(filter.since.map(ts))
    .bind(filter.limit.min(i64::MAX as usize) as i64)
    .fetch_all(readers)
    .await?;
    rows.iter().map(dead_letter_of).collect()
}

pub(super) async fn dead_letter(
    readers: &SqlitePool,
    id_or_code: &str,
) -> Result<Vec<(DeadLetter, String)>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DEAD_COLUMNS}, r.body FROM outbox o JOIN records r ON r.id = o.record_id \
         WHERE o.state = 'dead' AND (r.id = ?1 OR r.tracking_code = upper(?1)) ORDER BY o.seq"
    )))
    .bind(id_or_code)
    .fetch_all(readers)
    .await?;
    rows.iter().map(|row| Ok((dead_letter_of(row)?, row.get(8)))).collect()
}

pub(super) async fn replay_dead(
    conn: &mut SqliteConnection,
    seqs: &[i64],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?1, dead_at = NULL \
         WHERE state = 'dead' AND seq IN (SELECT value FROM json_each(?2))",
    )
    .bind(ts(now))
    .bind(serde_json::to_string(seqs).expect("integers serialise"))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

pub(super) async fn counts(readers: &SqlitePool) -> Result<Vec<OutboxCount>, StoreError> {
    // Only what is still to do, each through its partial index: delivered rows grow for ever
    // and are not counted every few seconds.
    let rows = sqlx::query(
        "SELECT sink, 'dead', COUNT(*) FROM outbox INDEXED BY outbox_dead WHERE state = 'dead' GROUP BY sink \
         UNION ALL SELECT sink, 'pending', COUNT(*) FROM outbox INDEXED BY outbox_pending WHERE state = 'pending' \
         GROUP BY sink ORDER BY 1, 2",
    )
    .fetch_all(readers)
    .await?;
    Ok(rows
        .iter()
        .map(|row| OutboxCount { sink: row.get(0), state: row.get(1), count: row.get::<i64, _>(2) as u64 })
        .collect())
}

/// When every sink that has the record delivered it (the last of them), else `None`.
pub(super) const DELIVERED_AT: &str = "(SELECT CASE WHEN COUNT(*) > 0 AND SUM(o.state <> 'delivered') = 0 \
     THEN MAX(o.delivered_at) END FROM outbox o WHERE o.record_id = r.id)";

fn record_id(row: &SqliteRow, index: usize) -> Result<Uuid, StoreError> {
    Uuid::parse_str(row.get::<&str, _>(index)).map_err(|_| StoreError::Corrupt("record id".to_owned()))
}

fn dead_letter_of(row: &SqliteRow) -> Result<DeadLetter, StoreError> {
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
