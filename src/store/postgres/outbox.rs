//! The outbox on PostgreSQL, all of it in one place: rows inserted with the pipeline's batch,
//! what is due downstream, what is still undelivered, marking deliveries, and the delivery
//! time that `status` shows. Kept apart so the outbox's coming rework (one row per sink) is a
//! change to this file alone.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{parse_ts, ts};
use crate::store::{Due, NewRecord, StoreError};

/// Outbox rows for newly committed records that go downstream, in the batch's order, so
/// delivery follows commit order.
pub(super) async fn insert(conn: &mut PgConnection, records: &[&&NewRecord]) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut outbox = sqlx::QueryBuilder::<sqlx::Postgres>::new("INSERT INTO outbox (record_id, not_before) ");
    outbox.push_values(records, |mut row, r| {
        row.push_bind(r.id.to_string()).push_bind(r.deliver_after.map(ts));
    });
    outbox.build().execute(&mut *conn).await?;
    Ok(())
}

/// Records due downstream at `now`, in commit order.
pub(super) async fn due(pool: &PgPool, now: DateTime<Utc>, limit: usize) -> Result<Vec<Due>, StoreError> {
    let rows = sqlx::query(
        "SELECT o.seq, o.record_id, r.body FROM outbox o JOIN records r ON r.id = o.record_id \
         WHERE o.delivered_at IS NULL AND o.not_before <= $1 ORDER BY o.seq LIMIT $2",
    )
    .bind(ts(now))
    .bind(limit as i64)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Due {
                outbox_seq: row.get(0),
                record_id: Uuid::parse_str(row.get::<&str, _>(1))
                    .map_err(|_| StoreError::Corrupt("record id".to_owned()))?,
                body: row.get(2),
            })
        })
        .collect()
}

/// Undelivered outbox entries of these records.
pub(super) async fn undelivered_of(pool: &PgPool, record_ids: &[Uuid]) -> Result<Vec<i64>, StoreError> {
    let ids: Vec<String> = record_ids.iter().map(Uuid::to_string).collect();
    let seqs = sqlx::query_scalar("SELECT seq FROM outbox WHERE delivered_at IS NULL AND record_id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await?;
    Ok(seqs)
}

/// Marks outbox entries delivered (once: a repeat changes nothing), inside the writer's batch.
pub(super) async fn mark_delivered(conn: &mut PgConnection, seqs: &[i64], at: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET delivered_at = $1, attempts = attempts + 1 WHERE delivered_at IS NULL AND seq = ANY($2)",
    )
    .bind(ts(at))
    .bind(seqs)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// When a record was delivered, for its public status (`None`: not yet, or never goes).
pub(super) async fn delivered_at(pool: &PgPool, record_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let at: Option<Option<String>> = sqlx::query_scalar("SELECT delivered_at FROM outbox WHERE record_id = $1")
        .bind(record_id)
        .fetch_optional(pool)
        .await?;
    at.flatten().as_deref().map(parse_ts).transpose()
}
