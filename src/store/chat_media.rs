//! The media fetcher's side of `chat_media`: which attachments are due for download, how an
//! attempt ended (fetched, retried later, failed), and whether the bodies of a draft have
//! any download still pending.
//!
//! Rows are inserted by the pipeline with its batch (`sqlite::chat::write`); this module only
//! reads them and moves them along `pending → fetched | failed`. Every state change is
//! guarded by `state = 'pending'`, so a late answer can never undo a settled row.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use hue_intake_schemas::{Channel, MediaItem, MediaKind};
use sqlx::Row;

use super::chat::{ChatMedia, FetchState};
use super::sqlite::ts;
use super::{Store, StoreError};

/// Longest `last_error` kept: a reason, never a body.
const MAX_REASON: usize = 200;

impl Store {
    /// Pending attachments whose next attempt is due at `now`, oldest first, each with the
    /// channel of the body it came in (for the metrics).
    pub async fn due_fetches(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<(Channel, ChatMedia)>, StoreError> {
        on_backend!(self,
            sqlite: "SELECT m.id, m.inbound_seq, m.position, m.attachment, m.kind, m.url, m.attempts, i.channel \
                     FROM chat_media m INDEXED BY chat_media_due JOIN inbound i ON i.seq = m.inbound_seq \
                     WHERE m.state = 'pending' AND m.next_attempt_at <= ?1 \
                     ORDER BY m.next_attempt_at, m.id LIMIT ?2",
            postgres: "SELECT m.id, m.inbound_seq, m.position, m.attachment, m.kind, m.url, m.attempts, i.channel \
                       FROM chat_media m JOIN inbound i ON i.seq = m.inbound_seq \
                       WHERE m.state = 'pending' AND m.next_attempt_at <= $1 \
                       ORDER BY m.next_attempt_at, m.id LIMIT $2",
            |pool, sql| {
                let rows = sqlx::query(sql).bind(ts(now)).bind(limit as i64).fetch_all(pool).await?;
                rows.iter()
                    .map(|row| {
                        let kind = kind_of(row.get(4))?;
                        let channel = Channel::from_str(row.get::<&str, _>(7)).map_err(StoreError::Corrupt)?;
                        Ok((
                            channel,
                            ChatMedia {
                                id: row.get(0),
                                inbound_seq: row.get(1),
                                position: unsigned(row.get(2), "chat media position")?,
                                attachment: unsigned(row.get(3), "chat media attachment")?,
                                kind,
                                url: row.get(5),
                                state: FetchState::Pending,
                                attempts: unsigned(row.get(6), "chat media attempts")?,
                                item: None,
                            },
                        ))
                    })
                    .collect()
            }
        )
    }

    /// Marks an attachment fetched. The caller has already put its bytes durably in the media
    /// store: a row must never name a blob a crash could lose.
    pub async fn fetch_succeeded(&self, id: i64, item: &MediaItem) -> Result<(), StoreError> {
        let item = serde_json::to_string(item).expect("a media item serialises");
        self.settle(id, "fetched", None, None, Some(item)).await
    }

    /// Puts an attachment back to wait until `next_attempt_at`, counting the attempt.
    pub async fn fetch_retry(&self, id: i64, next_attempt_at: DateTime<Utc>, reason: &str) -> Result<(), StoreError> {
        self.settle(id, "pending", Some(next_attempt_at), Some(reason), None).await
    }

    /// Gives up on an attachment, counting the attempt: the record will note its URL instead.
    pub async fn fetch_failed(&self, id: i64, reason: &str) -> Result<(), StoreError> {
        self.settle(id, "failed", None, Some(reason), None).await
    }

    /// True when none of the attachments of these bodies is still pending (all fetched or
    /// failed, or there are none): a draft holding for its media may close.
    pub async fn fetches_settled(&self, seqs: &[i64]) -> Result<bool, StoreError> {
        on_backend!(self,
            sqlite: "SELECT EXISTS (SELECT 1 FROM chat_media WHERE state = 'pending' \
                     AND inbound_seq IN (SELECT value FROM json_each(?1)))",
            postgres: "SELECT EXISTS (SELECT 1 FROM chat_media WHERE state = 'pending' \
                       AND inbound_seq IN (SELECT value::bigint FROM json_array_elements_text($1::json)))",
            |pool, sql| {
                let pending: bool = sqlx::query_scalar(sql)
                    .bind(serde_json::to_string(seqs).expect("integers serialise"))
                    .fetch_one(pool)
                    .await?;
                Ok(!pending)
            }
        )
    }

    async fn settle(
        &self,
        id: i64,
        state: &'static str,
        next_attempt_at: Option<DateTime<Utc>>,
        reason: Option<&str>,
        item: Option<String>,
    ) -> Result<(), StoreError> {
        let next = next_attempt_at.map(ts);
        let reason = reason.map(|r| r.chars().take(MAX_REASON).collect::<String>());
        self.write(write_fn!(self,
            sqlite: "UPDATE chat_media SET state = ?2, attempts = attempts + 1, \
                         next_attempt_at = COALESCE(?3, next_attempt_at), last_error = ?4, item = ?5 \
                     WHERE id = ?1 AND state = 'pending'",
            postgres: "UPDATE chat_media SET state = $2, attempts = attempts + 1, \
                           next_attempt_at = COALESCE($3, next_attempt_at), last_error = $4, item = $5 \
                       WHERE id = $1 AND state = 'pending'",
            move |conn, sql| {
                sqlx::query(sql).bind(id).bind(state).bind(next).bind(reason).bind(item).execute(&mut *conn).await?;
                Ok(())
            }
        ))
        .await
    }
}

/// An integer column that holds a `u32`.
fn unsigned(stored: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(stored).map_err(|_| StoreError::Corrupt(what.to_owned()))
}

fn kind_of(text: &str) -> Result<MediaKind, StoreError> {
    match text {
        "image" => Ok(MediaKind::Image),
        "video" => Ok(MediaKind::Video),
        "audio" => Ok(MediaKind::Audio),
        "file" => Ok(MediaKind::File),
        _ => Err(StoreError::Corrupt("chat media kind".to_owned())),
    }
}
