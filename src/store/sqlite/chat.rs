//! SQLite side of the chat tables: the pipeline's writes (inside its batch transaction) and
//! the reads that assembly needs (seen events, open drafts, stored bodies, fetched media).

use std::collections::HashSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use hue_intake_schemas::Channel;
use sqlx::{Row, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::{enum_text, parse_enum, parse_ts, ts};
use crate::store::chat::{ChatChanges, ChatMedia, Draft, FetchState};
use crate::store::{Pending, StoreError};

/// Most rows per multi-row statement: at most 13 parameters a row, well under SQLite's 32766.
const ROWS_PER_STATEMENT: usize = 512;

/// Writes a batch's chat changes, each table in a few multi-row statements (they share the
/// writer's transaction with the receives waiting behind them, so fewer statements is
/// lower webhook latency). Events are unique by (channel, event id); a draft row is
/// rewritten whole; fetches and replies are inserted once (a re-run changes nothing).
pub(super) async fn write(conn: &mut SqliteConnection, changes: &ChatChanges) -> Result<(), StoreError> {
    for chunk in changes.events.chunks(ROWS_PER_STATEMENT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO chat_events (channel, event_id, inbound_seq, position, outcome, record_id) ",
        );
        insert.push_values(chunk, |mut row, event| {
            row.push_bind(event.channel.as_str())
                .push_bind(event.event_id.clone())
                .push_bind(event.inbound_seq)
                .push_bind(event.position)
                .push_bind(event.outcome.as_str())
                .push_bind(event.record_id.map(|id| id.to_string()));
        });
        insert.push(" ON CONFLICT (channel, event_id) DO NOTHING");
        insert.build().execute(&mut *conn).await?;
    }
    for chunk in changes.drafts.chunks(ROWS_PER_STATEMENT) {
        let mut upsert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO chat_drafts (record_id, channel, sender_key, tracking_code, opened_at, last_at, closes_at, \
                                      members, asked, state, in_reply_to) ",
        );
        upsert.push_values(chunk, |mut row, draft| {
            row.push_bind(draft.record_id.to_string())
                .push_bind(draft.channel.as_str())
                .push_bind(draft.sender_key.clone())
                .push_bind(draft.tracking_code.clone())
                .push_bind(ts(draft.opened_at))
                .push_bind(ts(draft.last_at))
                .push_bind(ts(draft.closes_at))
                .push_bind(serde_json::to_string(&draft.members).expect("pairs serialise"))
                .push_bind(serde_json::to_string(&draft.asked).expect("strings serialise"))
                .push_bind(if draft.open { "open" } else { "closed" })
                .push_bind(draft.in_reply_to.clone());
        });
        upsert.push(
            " ON CONFLICT (record_id) DO UPDATE SET last_at = excluded.last_at, closes_at = excluded.closes_at, \
             members = excluded.members, asked = excluded.asked, state = excluded.state",
        );
        upsert.build().execute(&mut *conn).await?;
    }
    for chunk in changes.fetches.chunks(ROWS_PER_STATEMENT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO chat_media (inbound_seq, position, attachment, kind, url, next_attempt_at) ",
        );
        insert.push_values(chunk, |mut row, fetch| {
            row.push_bind(fetch.inbound_seq)
                .push_bind(fetch.position)
                .push_bind(fetch.attachment)
                .push_bind(enum_text(&fetch.kind))
                .push_bind(fetch.url.clone())
                .push_bind(ts(fetch.next_attempt_at));
        });
        insert.push(" ON CONFLICT (inbound_seq, position, attachment) DO NOTHING");
        insert.build().execute(&mut *conn).await?;
    }
    let created_at = ts(Utc::now());
    for chunk in changes.replies.chunks(ROWS_PER_STATEMENT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO replies (id, channel, purpose, dedupe_key, record_id, tracking_code, recipient_sealed, text, \
                                  next_attempt_at, created_at, recipient_key, platform_message_id, options) ",
        );
        insert.push_values(chunk, |mut row, reply| {
            row.push_bind(reply.id.to_string())
                .push_bind(reply.channel.as_str())
                .push_bind(reply.purpose.as_str())
                .push_bind(reply.dedupe_key.clone())
                .push_bind(reply.record_id.map(|id| id.to_string()))
                .push_bind(reply.tracking_code.clone())
                .push_bind(reply.recipient_sealed.clone())
                .push_bind(reply.text.clone())
                .push_bind(ts(reply.next_attempt_at))
                .push_bind(created_at.clone())
                .push_bind(reply.recipient_key.clone())
                .push_bind(reply.platform_message_id.clone())
                .push_bind(reply.options.as_ref().map(|o| serde_json::to_string(o).expect("options serialise")));
        });
        insert.push(" ON CONFLICT (dedupe_key) DO NOTHING");
        insert.build().execute(&mut *conn).await?;
    }
    for message_id in &changes.bounced {
        // A bounce can only fail what went out; a reply still queued is not touched.
        sqlx::query(
            "UPDATE replies SET state = 'failed', last_error = ?2 \
             WHERE channel = 'email' AND platform_message_id = ?1 AND state IN ('sent', 'uncertain')",
        )
        .bind(message_id)
        .bind("bounced by the recipient's mail server")
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Which of these event ids of `channel` were seen before.
pub(super) async fn seen_events(
    readers: &SqlitePool,
    channel: Channel,
    event_ids: &[String],
) -> Result<HashSet<String>, StoreError> {
    if event_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let seen: Vec<String> = sqlx::query_scalar(
        "SELECT event_id FROM chat_events WHERE channel = ?1 AND event_id IN (SELECT value FROM json_each(?2))",
    )
    .bind(channel.as_str())
    .bind(serde_json::to_string(event_ids).expect("strings serialise"))
    .fetch_all(readers)
    .await?;
    Ok(seen.into_iter().collect())
}

/// The record id of the draft or record an earlier event went into (for comment edits).
pub(super) async fn event_record(
    readers: &SqlitePool,
    channel: Channel,
    event_id: &str,
) -> Result<Option<Uuid>, StoreError> {
    let id: Option<Option<String>> =
        sqlx::query_scalar("SELECT record_id FROM chat_events WHERE channel = ?1 AND event_id = ?2")
            .bind(channel.as_str())
            .bind(event_id)
            .fetch_optional(readers)
            .await?;
    id.flatten().map(|s| Uuid::parse_str(&s).map_err(|_| StoreError::Corrupt("record id".to_owned()))).transpose()
}

/// The columns [`draft_of`] reads, in order (a macro: sqlx takes only literal SQL).
macro_rules! draft_columns {
    () => {
        "record_id, channel, sender_key, tracking_code, opened_at, last_at, closes_at, members, asked, state, \
         in_reply_to"
    };
}

fn draft_of(row: &sqlx::sqlite::SqliteRow) -> Result<Draft, StoreError> {
    Ok(Draft {
        record_id: Uuid::parse_str(row.get::<&str, _>(0)).map_err(|_| StoreError::Corrupt("draft id".to_owned()))?,
        channel: Channel::from_str(row.get::<&str, _>(1)).map_err(StoreError::Corrupt)?,
        sender_key: row.get(2),
        tracking_code: row.get(3),
        opened_at: parse_ts(row.get(4))?,
        last_at: parse_ts(row.get(5))?,
        closes_at: parse_ts(row.get(6))?,
        members: serde_json::from_str(row.get::<&str, _>(7))
            .map_err(|_| StoreError::Corrupt("draft members".to_owned()))?,
        asked: serde_json::from_str(row.get::<&str, _>(8))
            .map_err(|_| StoreError::Corrupt("draft asked".to_owned()))?,
        open: row.get::<&str, _>(9) == "open",
        in_reply_to: row.get(10),
    })
}

/// The open draft of one sender on one channel.
pub(super) async fn open_draft(
    readers: &SqlitePool,
    channel: Channel,
    sender_key: &str,
) -> Result<Option<Draft>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        draft_columns!(),
        " FROM chat_drafts WHERE channel = ?1 AND sender_key = ?2 AND state = 'open'"
    ))
    .bind(channel.as_str())
    .bind(sender_key)
    .fetch_optional(readers)
    .await?;
    row.as_ref().map(draft_of).transpose()
}

/// Open drafts whose time has come, oldest deadline first.
pub(super) async fn closing_drafts(
    readers: &SqlitePool,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Draft>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        draft_columns!(),
        " FROM chat_drafts INDEXED BY chat_drafts_closing \
         WHERE state = 'open' AND closes_at <= ?1 ORDER BY closes_at LIMIT ?2"
    ))
    .bind(ts(now))
    .bind(limit as i64)
    .fetch_all(readers)
    .await?;
    rows.iter().map(draft_of).collect()
}

/// Stored messages by sequence number (the bodies a draft's events came in).
pub(super) async fn messages(readers: &SqlitePool, seqs: &[i64]) -> Result<Vec<Pending>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, channel, message_id, received_at, raw_sha256, raw_sealed, meta, record_id, tracking_code \
         FROM inbound WHERE seq IN (SELECT value FROM json_each(?1)) ORDER BY seq",
    )
    .bind(serde_json::to_string(seqs).expect("integers serialise"))
    .fetch_all(readers)
    .await?;
    rows.iter().map(super::pending_of).collect()
}

/// The attachments of these bodies and where their fetches stand.
pub(super) async fn media_of(readers: &SqlitePool, seqs: &[i64]) -> Result<Vec<ChatMedia>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, inbound_seq, position, attachment, kind, url, state, attempts, item FROM chat_media \
         WHERE inbound_seq IN (SELECT value FROM json_each(?1)) ORDER BY inbound_seq, position, attachment",
    )
    .bind(serde_json::to_string(seqs).expect("integers serialise"))
    .fetch_all(readers)
    .await?;
    rows.iter().map(media_row).collect()
}

pub(super) fn media_row(row: &sqlx::sqlite::SqliteRow) -> Result<ChatMedia, StoreError> {
    Ok(ChatMedia {
        id: row.get(0),
        inbound_seq: row.get(1),
        position: row.get(2),
        attachment: row.get(3),
        kind: parse_enum(row.get(4))?,
        url: row.get(5),
        state: match row.get::<&str, _>(6) {
            "pending" => FetchState::Pending,
            "fetched" => FetchState::Fetched,
            "failed" => FetchState::Failed,
            _ => return Err(StoreError::Corrupt("chat media state".to_owned())),
        },
        attempts: row.get(7),
        item: row
            .get::<Option<&str>, _>(8)
            .map(|s| serde_json::from_str(s).map_err(|_| StoreError::Corrupt("chat media item".to_owned())))
            .transpose()?,
    })
}

/// The tracking code of a record or draft by its record id.
pub(super) async fn tracking_code_of(readers: &SqlitePool, record_id: Uuid) -> Result<Option<String>, StoreError> {
    let code = sqlx::query_scalar(
        "SELECT tracking_code FROM records WHERE id = ?1 UNION ALL SELECT tracking_code FROM chat_drafts \
         WHERE record_id = ?1 LIMIT 1",
    )
    .bind(record_id.to_string())
    .fetch_optional(readers)
    .await?;
    Ok(code)
}

/// The tracking code of the record one of our sent messages was about (a citizen quoting it
/// makes an interaction on that record).
pub(super) async fn replied_code(
    readers: &SqlitePool,
    channel: Channel,
    platform_message_id: &str,
) -> Result<Option<String>, StoreError> {
    let code: Option<Option<String>> =
        sqlx::query_scalar("SELECT tracking_code FROM replies WHERE channel = ?1 AND platform_message_id = ?2 LIMIT 1")
            .bind(channel.as_str())
            .bind(platform_message_id)
            .fetch_optional(readers)
            .await?;
    Ok(code.flatten())
}

/// The pseudonymous reporter of the record with this tracking code.
pub(super) async fn reporter_of(readers: &SqlitePool, tracking_code: &str) -> Result<Option<String>, StoreError> {
    let reporter = sqlx::query_scalar(
        "SELECT v.reporter_ref FROM records r JOIN reporter_vault v ON v.record_id = r.id WHERE r.tracking_code = ?1",
    )
    .bind(tracking_code)
    .fetch_optional(readers)
    .await?;
    Ok(reporter)
}

/// How many replies were queued on `channel` for one recipient (by keyed hash) since `since`.
pub(super) async fn replies_to(
    readers: &SqlitePool,
    channel: Channel,
    recipient_key: &str,
    since: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM replies WHERE channel = ?1 AND recipient_key = ?2 AND created_at >= ?3",
    )
    .bind(channel.as_str())
    .bind(recipient_key)
    .bind(ts(since))
    .fetch_one(readers)
    .await?;
    Ok(n as u64)
}
