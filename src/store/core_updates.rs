//! What the store keeps of the case system's results (issue 7 item 5): the updates it posted
//! (`core_updates`, once per `update_id`), stored in one transaction with the reply that
//! relays them; and the reads the relay and R10's overdue report need.
//!
//! Writes go through the group commit; reads use the read pool. Each statement is written in
//! both dialects, its Rust once (`on_backend!`, `write_fn!`). Nothing here logs, and errors
//! name the operation, never a text, a recipient or an agency's message.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use hue_intake_schemas::{Channel, Source};
use sqlx::Row;
use uuid::Uuid;

use super::chat::{ChatRows, NewReply};
use super::sqlite::ts;
use super::{Store, StoreError};

/// A report a core update may name: its record, channel, reporter and sealed identity.
#[derive(Debug, Clone)]
pub struct ReportRef {
    pub record_id: Uuid,
    pub tracking_code: String,
    pub channel: Channel,
    pub reporter_ref: String,
    /// The reporter's `Identity` as JSON, sealed with the record id.
    pub identity_sealed: Vec<u8>,
}

/// An update to store.
#[derive(Debug, Clone)]
pub struct NewCoreUpdate {
    pub update_id: String,
    pub fingerprint: String,
    pub tracking_code: String,
    pub record_id: Uuid,
    pub status: String,
    pub agency: String,
    pub message: String,
    pub at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// How it was relayed: `facebook`, `facebook_tag`, `zalo`, `email`, `email_fallback`, `none`.
    pub relay: String,
    pub relay_reason: Option<String>,
    pub rating_requested: bool,
    /// The answer (JSON) given now and on every repeat.
    pub answer: String,
}

/// An update already stored under an `update_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpdate {
    pub fingerprint: String,
    pub answer: String,
}

/// The result of [`Store::put_core_update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutUpdate {
    /// Committed now, with its reply.
    Stored,
    /// Another request stored this `update_id` first: its row, nothing written.
    Existing(StoredUpdate),
}

/// An interaction the core has not answered (R10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInteraction {
    pub tracking_code: String,
    pub in_reply_to: String,
    pub received_at: DateTime<Utc>,
    /// The handling agency from the report's latest update; `None` when the core never wrote.
    pub agency: Option<String>,
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt("a stored time is not RFC 3339".to_owned()))
}

impl Store {
    /// The report (kind `report`, recorded) with this tracking code.
    pub async fn report_ref(&self, tracking_code: &str) -> Result<Option<ReportRef>, StoreError> {
        on_backend!(self,
            sqlite: "SELECT r.id, r.tracking_code, r.channel, v.reporter_ref, v.sealed FROM records r \
                     JOIN reporter_vault v ON v.record_id = r.id WHERE r.tracking_code = ?1 AND r.kind = 'report'",
            postgres: "SELECT r.id, r.tracking_code, r.channel, v.reporter_ref, v.sealed FROM records r \
                       JOIN reporter_vault v ON v.record_id = r.id WHERE r.tracking_code = $1 AND r.kind = 'report'",
            |pool, sql| {
                let row = sqlx::query(sql).bind(tracking_code).fetch_optional(pool).await?;
                row.map(|row| {
                    Ok(ReportRef {
                        record_id: Uuid::parse_str(row.get::<&str, _>(0))
                            .map_err(|_| StoreError::Corrupt("record id".into()))?,
                        tracking_code: row.get(1),
                        channel: Channel::from_str(row.get::<&str, _>(2)).map_err(StoreError::Corrupt)?,
                        reporter_ref: row.get(3),
                        identity_sealed: row.get(4),
                    })
                })
                .transpose()
            }
        )
    }

    /// The first acknowledgement queued for a record: its id and sealed recipient (the
    /// surface the citizen was answered on, with the e-mail thread to stay in).
    pub async fn acknowledgement_of(&self, record_id: Uuid) -> Result<Option<(Uuid, Vec<u8>)>, StoreError> {
        on_backend!(self,
            sqlite: "SELECT id, recipient_sealed FROM replies WHERE record_id = ?1 AND purpose = 'acknowledgement' \
                     ORDER BY created_at, id LIMIT 1",
            postgres: "SELECT id, recipient_sealed FROM replies WHERE record_id = $1 AND purpose = 'acknowledgement' \
                       ORDER BY created_at, id LIMIT 1",
            |pool, sql| {
                let row = sqlx::query(sql).bind(record_id.to_string()).fetch_optional(pool).await?;
                row.map(|row| {
                    let id =
                        Uuid::parse_str(row.get::<&str, _>(0)).map_err(|_| StoreError::Corrupt("reply id".into()))?;
                    Ok((id, row.get(1)))
                })
                .transpose()
            }
        )
    }

    /// The latest message the gateway received from this reporter on this channel (any of
    /// their records' sources): when, and its native id. Messages that made no record
    /// (stickers, taps) are not seen, so this errs early: a window judged from it is never
    /// judged open when it is closed.
    pub async fn last_message_from(
        &self,
        reporter_ref: &str,
        channel: Channel,
    ) -> Result<Option<(DateTime<Utc>, String)>, StoreError> {
        let bodies: Vec<String> = on_backend!(self,
            sqlite: "SELECT json_extract(r.body, '$.sources') FROM records r JOIN reporter_vault v ON v.record_id = r.id \
                     WHERE v.reporter_ref = ?1 AND r.channel = ?2",
            postgres: "SELECT (r.body::json -> 'sources')::text FROM records r JOIN reporter_vault v ON v.record_id = r.id \
                       WHERE v.reporter_ref = $1 AND r.channel = $2",
            |pool, sql| sqlx::query_scalar(sql).bind(reporter_ref).bind(channel.as_str()).fetch_all(pool).await?
        );
        let mut last: Option<(DateTime<Utc>, String)> = None;
        for body in bodies {
            let sources: Vec<Source> =
                serde_json::from_str(&body).map_err(|_| StoreError::Corrupt("record sources".into()))?;
            for source in sources {
                let native = source.message_id.split_once(':').map_or(source.message_id.as_str(), |(_, id)| id);
                if last.as_ref().is_none_or(|(at, _)| source.received_at > *at) {
                    last = Some((source.received_at, native.to_owned()));
                }
            }
        }
        Ok(last)
    }

    /// Replies queued to this reporter on this channel since `since` (Zalo's reply quota).
    pub async fn replies_to_reporter(
        &self,
        reporter_ref: &str,
        channel: Channel,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let n: i64 = on_backend!(self,
            sqlite: "SELECT count(*) FROM replies p JOIN reporter_vault v ON v.record_id = p.record_id \
                     WHERE v.reporter_ref = ?1 AND p.channel = ?2 AND p.created_at >= ?3",
            postgres: "SELECT count(*) FROM replies p JOIN reporter_vault v ON v.record_id = p.record_id \
                       WHERE v.reporter_ref = $1 AND p.channel = $2 AND p.created_at >= $3",
            |pool, sql| {
                sqlx::query_scalar(sql).bind(reporter_ref).bind(channel.as_str()).bind(ts(since)).fetch_one(pool).await?
            }
        );
        Ok(n as u64)
    }

    /// The update stored under this id, if any.
    pub async fn core_update(&self, update_id: &str) -> Result<Option<StoredUpdate>, StoreError> {
        on_backend!(self,
            sqlite: "SELECT fingerprint, answer FROM core_updates WHERE update_id = ?1",
            postgres: "SELECT fingerprint, answer FROM core_updates WHERE update_id = $1",
            |pool, sql| {
                let row = sqlx::query(sql).bind(update_id).fetch_optional(pool).await?;
                Ok(row.map(|row| StoredUpdate { fingerprint: row.get(0), answer: row.get(1) }))
            }
        )
    }

    /// Stores an update and the reply relaying it, in one transaction, unless its
    /// `update_id` is already there (then nothing is written and the stored row is returned).
    pub async fn put_core_update(
        &self,
        update: NewCoreUpdate,
        reply: Option<NewReply>,
    ) -> Result<PutUpdate, StoreError> {
        let update_id = update.update_id.clone();
        let stored = Arc::new(AtomicBool::new(false));
        let inserted = stored.clone();
        self.write(write_fn!(self,
            sqlite: "INSERT INTO core_updates (update_id, fingerprint, tracking_code, record_id, status, agency, \
                     message, at, received_at, relay, relay_reason, reply_id, rating_requested, answer) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
                     ON CONFLICT (update_id) DO NOTHING",
            postgres: "INSERT INTO core_updates (update_id, fingerprint, tracking_code, record_id, status, agency, \
                       message, at, received_at, relay, relay_reason, reply_id, rating_requested, answer) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                       ON CONFLICT (update_id) DO NOTHING",
            move |conn, sql| {
                let done = sqlx::query(sql)
                    .bind(&update.update_id)
                    .bind(&update.fingerprint)
                    .bind(&update.tracking_code)
                    .bind(update.record_id.to_string())
                    .bind(&update.status)
                    .bind(&update.agency)
                    .bind(&update.message)
                    .bind(ts(update.at))
                    .bind(ts(update.received_at))
                    .bind(&update.relay)
                    .bind(&update.relay_reason)
                    .bind(reply.as_ref().map(|r| r.id.to_string()))
                    .bind(update.rating_requested)
                    .bind(&update.answer)
                    .execute(&mut *conn)
                    .await?;
                // Only the first request for an update_id queues its relay.
                if done.rows_affected() == 1 {
                    inserted.store(true, Ordering::Relaxed);
                    if let Some(reply) = reply {
                        let changes = super::chat::ChatChanges { replies: vec![reply], ..Default::default() };
                        conn.write_chat(&changes).await?;
                    }
                }
                Ok(())
            }
        ))
        .await?;
        if stored.load(Ordering::Relaxed) {
            // The reply worker may have work now.
            self.wakes().replies.notify_one();
            return Ok(PutUpdate::Stored);
        }
        // Another request stored it first (committed before ours): its row.
        let existing = self.core_update(&update_id).await?;
        existing.map(PutUpdate::Existing).ok_or_else(|| StoreError::Corrupt("a core update vanished".to_owned()))
    }

    /// Whether one of our e-mails (by its Message-ID) asked for a rating (R9), and of which
    /// report.
    pub async fn rating_request_code(&self, platform_message_id: &str) -> Result<Option<String>, StoreError> {
        let code: Option<Option<String>> = on_backend!(self,
            sqlite: "SELECT tracking_code FROM replies WHERE channel = 'email' AND platform_message_id = ?1 \
                     AND purpose = 'rating_request' LIMIT 1",
            postgres: "SELECT tracking_code FROM replies WHERE channel = 'email' AND platform_message_id = $1 \
                       AND purpose = 'rating_request' LIMIT 1",
            |pool, sql| sqlx::query_scalar(sql).bind(platform_message_id).fetch_optional(pool).await?
        );
        Ok(code.flatten())
    }

    /// R10: interactions received in `[since, now − 1 day]` that no core update for their
    /// report answered (none at or after the interaction's receive time), oldest first, each
    /// with the agency of the report's latest update. Rejected interactions never went to
    /// the core and are not counted.
    pub async fn unanswered_interactions(
        &self,
        now: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<OpenInteraction>, StoreError> {
        let due = now - chrono::Duration::days(1);
        let since = since.map_or_else(String::new, ts);
        on_backend!(self,
            sqlite: "SELECT i.tracking_code, i.in_reply_to, i.received_at, \
                        (SELECT u.agency FROM core_updates u WHERE u.tracking_code = i.in_reply_to \
                         ORDER BY u.at DESC, u.received_at DESC LIMIT 1) \
                     FROM records i INDEXED BY records_interactions \
                     WHERE i.kind = 'interaction' AND i.in_reply_to IS NOT NULL AND i.state != 'rejected' \
                       AND i.received_at <= ?1 AND i.received_at >= ?2 \
                       AND NOT EXISTS (SELECT 1 FROM core_updates u WHERE u.tracking_code = i.in_reply_to \
                                       AND u.at >= i.received_at) \
                     ORDER BY i.received_at, i.tracking_code",
            postgres: "SELECT i.tracking_code, i.in_reply_to, i.received_at, \
                          (SELECT u.agency FROM core_updates u WHERE u.tracking_code = i.in_reply_to \
                           ORDER BY u.at DESC, u.received_at DESC LIMIT 1) \
                       FROM records i \
                       WHERE i.kind = 'interaction' AND i.in_reply_to IS NOT NULL AND i.state <> 'rejected' \
                         AND i.received_at <= $1 AND i.received_at >= $2 \
                         AND NOT EXISTS (SELECT 1 FROM core_updates u WHERE u.tracking_code = i.in_reply_to \
                                         AND u.at >= i.received_at) \
                       ORDER BY i.received_at, i.tracking_code",
            |pool, sql| {
                let rows = sqlx::query(sql).bind(ts(due)).bind(&since).fetch_all(pool).await?;
                rows.iter()
                    .map(|row| {
                        Ok(OpenInteraction {
                            tracking_code: row.get(0),
                            in_reply_to: row.get(1),
                            received_at: parse_time(row.get(2))?,
                            agency: row.get(3),
                        })
                    })
                    .collect()
            }
        )
    }
}
