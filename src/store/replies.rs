//! What the reply worker reads and writes: replies due to be sent and their states, and the
//! platforms' sealed tokens (`channel_tokens`).
//!
//! A reply moves `pending → sending → sent | pending | failed`, and `sending` is committed
//! before the platform is called. So a reply found in `sending` at start-up may or may not
//! have reached the citizen; it becomes `uncertain` and is never sent again (a reply is
//! never sent twice). Facebook echoes our messages back with `hue-intake:<reply id>` in the
//! metadata, which [`Store::confirm_echo`] turns into `sent`.
//!
//! Writes go through the group commit ([`Store::write`]); reads use the read pool. Each
//! statement is written in both dialects, its Rust once (`on_backend!`, `write_fn!`). No method
//! here logs, and errors name the operation, never a text, a recipient or a token.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use hue_intake_schemas::Channel;
use sqlx::Row;
use uuid::Uuid;

use super::sqlite::ts;
use super::{Store, StoreError};

/// A reply the worker may send now.
#[derive(Debug, Clone)]
pub struct DueReply {
    pub id: Uuid,
    pub channel: Channel,
    /// [`super::chat::Recipient`] as JSON, sealed with the reply id as associated data.
    pub recipient_sealed: Vec<u8>,
    pub text: String,
    /// Attempts already made.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// Messaging type, quick replies, buttons (results from the core, R9).
    pub options: super::chat::ReplyOptions,
}

/// Where a reply stands (for operators and tests; no text, no recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyStatus {
    /// `pending`, `sending`, `sent`, `failed` or `uncertain`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub platform_message_id: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Back to `pending` at this time, the attempt counted.
    Retry(DateTime<Utc>),
    /// Back to `pending` at this time, the attempt not counted: the channel itself is refused
    /// (token, permission) and the reply must not run out of attempts while it is.
    Defer(DateTime<Utc>),
    /// `failed`, for good.
    Fail,
    /// `uncertain`: the platform may have taken it (an answer we could not read); never
    /// sent again.
    Uncertain,
}

/// A token row as stored: sealed, with the access token's expiry when known.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub sealed: Vec<u8>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt("a stored time is not RFC 3339".to_owned()))
}

/// Short error texts only: they are for operators, and must never carry what was sent.
fn short(reason: &str) -> String {
    reason.chars().take(200).collect()
}

/// Attempts as stored (an integer column on both backends).
fn attempts(stored: i64) -> Result<u32, StoreError> {
    u32::try_from(stored).map_err(|_| StoreError::Corrupt("reply attempts".to_owned()))
}

impl Store {
    /// Pending replies of these channels due at `now`, oldest first.
    pub async fn due_replies(
        &self,
        channels: &[Channel],
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueReply>, StoreError> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
        on_backend!(self,
            sqlite: "SELECT id, channel, recipient_sealed, text, attempts, created_at, options FROM replies INDEXED BY replies_due \
                     WHERE state = 'pending' AND next_attempt_at <= ?1 AND channel IN (SELECT value FROM json_each(?2)) \
                     ORDER BY next_attempt_at, created_at LIMIT ?3",
            postgres: "SELECT id, channel, recipient_sealed, text, attempts, created_at, options FROM replies \
                       WHERE state = 'pending' AND next_attempt_at <= $1 \
                       AND channel IN (SELECT value FROM json_array_elements_text($2::json)) \
                       ORDER BY next_attempt_at, created_at LIMIT $3",
            |pool, sql| {
                let rows = sqlx::query(sql)
                    .bind(ts(now))
                    .bind(serde_json::to_string(&names).expect("strings serialise"))
                    .bind(limit as i64)
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(DueReply {
                            id: Uuid::parse_str(row.get::<&str, _>(0))
                                .map_err(|_| StoreError::Corrupt("reply id".to_owned()))?,
                            channel: Channel::from_str(row.get::<&str, _>(1)).map_err(StoreError::Corrupt)?,
                            recipient_sealed: row.get(2),
                            text: row.get(3),
                            attempts: attempts(row.get(4))?,
                            created_at: parse_time(row.get(5))?,
                            options: row
                                .get::<Option<&str>, _>(6)
                                .map(serde_json::from_str)
                                .transpose()
                                .map_err(|_| StoreError::Corrupt("reply options".to_owned()))?
                                .unwrap_or_default(),
                        })
                    })
                    .collect()
            }
        )
    }

    /// Claims a pending reply for sending: `sending`, committed. False when it is no longer
    /// pending (then it must not be sent).
    pub async fn reply_sending(&self, id: Uuid) -> Result<bool, StoreError> {
        let id = id.to_string();
        let changed = Arc::new(AtomicU64::new(0));
        let seen = changed.clone();
        self.write(write_fn!(self,
            sqlite: "UPDATE replies SET state = 'sending' WHERE id = ?1 AND state = 'pending'",
            postgres: "UPDATE replies SET state = 'sending' WHERE id = $1 AND state = 'pending'",
            move |conn, sql| {
                let done = sqlx::query(sql).bind(id).execute(&mut *conn).await?;
                seen.store(done.rows_affected(), Ordering::Relaxed);
                Ok(())
            }
        ))
        .await?;
        // The condition in the WHERE clause is what makes the claim happen once.
        Ok(changed.load(Ordering::Relaxed) == 1)
    }

    /// The platform took the reply. Also settles a reply an echo confirmed first.
    pub async fn reply_sent(&self, id: Uuid, platform_message_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let (id, mid, at) = (id.to_string(), platform_message_id.to_owned(), ts(at));
        self.write(write_fn!(self,
            sqlite: "UPDATE replies SET state = 'sent', attempts = attempts + 1, platform_message_id = ?2, \
                     sent_at = COALESCE(sent_at, ?3), last_error = NULL WHERE id = ?1 AND state IN ('sending', 'sent')",
            postgres: "UPDATE replies SET state = 'sent', attempts = attempts + 1, platform_message_id = $2, \
                       sent_at = COALESCE(sent_at, $3), last_error = NULL WHERE id = $1 AND state IN ('sending', 'sent')",
            move |conn, sql| {
                sqlx::query(sql).bind(id).bind(mid).bind(at).execute(&mut *conn).await?;
                Ok(())
            }
        ))
        .await
    }

    /// The platform did not take the reply: retry later, or give up. `reason` is short and
    /// names the cause (a platform error code), never the text, recipient or a token.
    pub async fn reply_not_sent(&self, id: Uuid, after: AfterFailure, reason: &str) -> Result<(), StoreError> {
        let (id, reason) = (id.to_string(), short(reason));
        let (state, next, counted) = match after {
            AfterFailure::Retry(at) => ("pending", Some(ts(at)), 1),
            AfterFailure::Defer(at) => ("pending", Some(ts(at)), 0),
            AfterFailure::Fail => ("failed", None, 1),
            AfterFailure::Uncertain => ("uncertain", None, 1),
        };
        self.write(write_fn!(self,
            sqlite: "UPDATE replies SET state = ?2, attempts = attempts + ?3, \
                     next_attempt_at = COALESCE(?4, next_attempt_at), last_error = ?5 \
                     WHERE id = ?1 AND state = 'sending'",
            postgres: "UPDATE replies SET state = $2, attempts = attempts + $3, \
                       next_attempt_at = COALESCE($4, next_attempt_at), last_error = $5 \
                       WHERE id = $1 AND state = 'sending'",
            move |conn, sql| {
                sqlx::query(sql).bind(id).bind(state).bind(counted).bind(next).bind(reason).execute(&mut *conn).await?;
                Ok(())
            }
        ))
        .await
    }

    /// A reply that cannot be sent at all (its recipient does not open): `failed` straight
    /// from `pending`.
    pub async fn reply_unsendable(&self, id: Uuid, reason: &str) -> Result<(), StoreError> {
        let (id, reason) = (id.to_string(), short(reason));
        self.write(write_fn!(self,
            sqlite: "UPDATE replies SET state = 'failed', last_error = ?2 WHERE id = ?1 AND state = 'pending'",
            postgres: "UPDATE replies SET state = 'failed', last_error = $2 WHERE id = $1 AND state = 'pending'",
            move |conn, sql| {
                sqlx::query(sql).bind(id).bind(reason).execute(&mut *conn).await?;
                Ok(())
            }
        ))
        .await
    }

    /// At start-up: replies left in `sending` (a crash between the claim and the answer)
    /// become `uncertain` and are never sent again. Returns how many, per channel.
    pub async fn settle_interrupted_replies(&self) -> Result<Vec<(Channel, u64)>, StoreError> {
        let found = Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = found.clone();
        // The same statement in both dialects.
        const SETTLE: &str = "UPDATE replies SET state = 'uncertain', \
                              last_error = 'interrupted while sending: may or may not have been delivered' \
                              WHERE state = 'sending' RETURNING channel";
        self.write(write_fn!(self, sqlite: SETTLE, postgres: SETTLE, move |conn, sql| {
            let channels: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut *conn).await?;
            let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
            for channel in channels {
                *counts.entry(channel).or_default() += 1;
            }
            *out.lock().expect("not poisoned") = counts.into_iter().collect::<Vec<_>>();
            Ok(())
        }))
        .await?;
        let counts = std::mem::take(&mut *found.lock().expect("not poisoned"));
        counts
            .into_iter()
            .map(|(channel, n)| Ok((Channel::from_str(&channel).map_err(StoreError::Corrupt)?, n)))
            .collect()
    }

    /// Facebook echoed one of our messages (metadata `hue-intake:<reply id>`): it was
    /// delivered. Settles a reply left `sending` or `uncertain` by a crash as `sent`; true
    /// when this changed a state.
    pub async fn confirm_echo(&self, reply_id: Uuid) -> Result<bool, StoreError> {
        let (id, at) = (reply_id.to_string(), ts(Utc::now()));
        let changed = Arc::new(AtomicU64::new(0));
        let seen = changed.clone();
        self.write(write_fn!(self,
            sqlite: "UPDATE replies SET state = 'sent', sent_at = COALESCE(sent_at, ?2), last_error = NULL \
                     WHERE id = ?1 AND channel = 'facebook' AND state IN ('sending', 'uncertain')",
            postgres: "UPDATE replies SET state = 'sent', sent_at = COALESCE(sent_at, $2), last_error = NULL \
                       WHERE id = $1 AND channel = 'facebook' AND state IN ('sending', 'uncertain')",
            move |conn, sql| {
                let done = sqlx::query(sql).bind(id).bind(at).execute(&mut *conn).await?;
                seen.store(done.rows_affected(), Ordering::Relaxed);
                Ok(())
            }
        ))
        .await?;
        Ok(changed.load(Ordering::Relaxed) == 1)
    }

    /// Where one reply stands.
    pub async fn reply_status(&self, id: Uuid) -> Result<Option<ReplyStatus>, StoreError> {
        on_backend!(self,
            sqlite: "SELECT state, attempts, last_error, platform_message_id, sent_at FROM replies WHERE id = ?1",
            postgres: "SELECT state, attempts, last_error, platform_message_id, sent_at FROM replies WHERE id = $1",
            |pool, sql| {
                let row = sqlx::query(sql).bind(id.to_string()).fetch_optional(pool).await?;
                row.map(|row| {
                    Ok(ReplyStatus {
                        state: row.get(0),
                        attempts: attempts(row.get(1))?,
                        last_error: row.get(2),
                        platform_message_id: row.get(3),
                        sent_at: row.get::<Option<&str>, _>(4).map(parse_time).transpose()?,
                    })
                })
                .transpose()
            }
        )
    }

    /// A channel's sealed tokens.
    pub async fn channel_token(&self, channel: Channel) -> Result<Option<StoredToken>, StoreError> {
        on_backend!(self,
            sqlite: "SELECT sealed, expires_at FROM channel_tokens WHERE channel = ?1",
            postgres: "SELECT sealed, expires_at FROM channel_tokens WHERE channel = $1",
            |pool, sql| {
                let row = sqlx::query(sql).bind(channel.as_str()).fetch_optional(pool).await?;
                row.map(|row| {
                    Ok(StoredToken {
                        sealed: row.get(0),
                        expires_at: row.get::<Option<&str>, _>(1).map(parse_time).transpose()?,
                    })
                })
                .transpose()
            }
        )
    }

    /// Stores a channel's sealed tokens, replacing what was there (`only_if_absent`: keeps
    /// what is there, for seeding from the configuration without undoing a renewal).
    pub async fn put_channel_token(
        &self,
        channel: Channel,
        token: StoredToken,
        only_if_absent: bool,
    ) -> Result<(), StoreError> {
        // The same upserts in both dialects but for the placeholders.
        let (sqlite, postgres) = if only_if_absent {
            (
                "INSERT INTO channel_tokens (channel, sealed, expires_at, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (channel) DO NOTHING",
                "INSERT INTO channel_tokens (channel, sealed, expires_at, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (channel) DO NOTHING",
            )
        } else {
            (
                "INSERT INTO channel_tokens (channel, sealed, expires_at, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (channel) DO UPDATE SET sealed = excluded.sealed, expires_at = excluded.expires_at, \
                 updated_at = excluded.updated_at",
                "INSERT INTO channel_tokens (channel, sealed, expires_at, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (channel) DO UPDATE SET sealed = excluded.sealed, expires_at = excluded.expires_at, \
                 updated_at = excluded.updated_at",
            )
        };
        let (channel, expires_at, now) = (channel.as_str(), token.expires_at.map(ts), ts(Utc::now()));
        self.write(write_fn!(self, sqlite: sqlite, postgres: postgres, move |conn, sql| {
            sqlx::query(sql).bind(channel).bind(token.sealed).bind(expires_at).bind(now).execute(&mut *conn).await?;
            Ok(())
        }))
        .await
    }
}
