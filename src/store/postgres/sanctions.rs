//! The PostgreSQL side of sanctions (R12): violations, `reporter_standing` and
//! `sanction_events`, the SQL of `sqlite/sanctions.rs` in PostgreSQL's dialect.
//!
//! Writes run on the writer's connection inside the batch transaction. Several instances may
//! write sanctions at once, so every sanctions write first takes one transaction-scoped
//! advisory lock ([`SANCTIONS_LOCK`]): concurrent violations of one reporter are applied one
//! after another, each seeing the last, as with SQLite's single writer. Every
//! write ends in [`settle_reporter`], which recounts, applies [`settle`] and rewrites the
//! reporter's standing row in the same transaction. Reads use the read pool; the receive path
//! reads one row by primary key. The rules themselves live in [`crate::store::sanctions`].

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, PgPool, Row};

use super::{enum_text, parse_enum, parse_ts, ts};
use crate::store::NewRecord;
use crate::store::StoreError;
use crate::store::sanctions::{
    Change, Counted, EventAction, LockChange, LockScope, ReporterSanctions, ReporterStanding, SanctionChange,
    SanctionError, SanctionEvent, SanctionFilter, Standing, StandingRow, Trigger, ViolationEntry, ViolationScope,
    ViolationSource, ViolationState, settle,
};
use crate::store::sqlite::SanctionOp;

/// The advisory lock key that serialises sanctions writes across instances (any fixed number;
/// held until the batch commits). Sanctions change rarely, so one lock for all reporters costs
/// nothing and cannot deadlock with another reporter's lock.
const SANCTIONS_LOCK: i64 = 0x0068_7565_5f72_3132; // "hue_r12" in ASCII

async fn lock_sanctions(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(SANCTIONS_LOCK).execute(&mut *conn).await?;
    Ok(())
}

/// Applies one sanctions write. The outer error is the store's (the savepoint rolls back);
/// the inner one is an answer (not found, conflict) given before anything was written.
pub(super) async fn apply(
    conn: &mut PgConnection,
    op: &SanctionOp,
) -> Result<Result<SanctionChange, SanctionError>, StoreError> {
    lock_sanctions(conn).await?;
    let result = match op {
        SanctionOp::Confirm { id, change } => confirm(conn, *id, change).await,
        SanctionOp::Dismiss { id, change } => dismiss(conn, *id, change).await,
        SanctionOp::Lift { reporter_ref, scope, change } => lift(conn, reporter_ref, *scope, change).await,
        SanctionOp::Report { tracking_code, source, change } => report(conn, tracking_code, *source, change).await,
    };
    match result {
        Err(SanctionError::Store(e)) => Err(e),
        other => Ok(other),
    }
}

/// The gateway's own findings, for records committed in this batch (new ones only, so a
/// re-commit counts nothing twice). The event time is the message's receive time, so
/// re-processing reproduces the same standing; `updated_at` is the writer's clock.
pub(super) async fn record_violations(conn: &mut PgConnection, records: &[&NewRecord]) -> Result<(), StoreError> {
    if records.iter().any(|r| r.violation.is_some()) {
        lock_sanctions(conn).await?;
    }
    for record in records {
        let Some(violation) = &record.violation else { continue };
        let state = if violation.counts { ViolationState::Counted } else { ViolationState::Review };
        let rules = if violation.rules.is_empty() { "none".to_owned() } else { violation.rules.join(", ") };
        let why = match state {
            ViolationState::Counted => format!("improper language found by the gateway (rules: {rules})"),
            _ => format!("possible improper language found by the gateway, waiting for staff review (rules: {rules})"),
        };
        let change = Change { actor: "gateway".to_owned(), why, at: record.received_at };
        let inserted = insert_violation(
            conn,
            NewViolation {
                reporter_ref: &record.reporter_ref,
                scope: violation.scope,
                record_id: Some(record.id.to_string()),
                tracking_code: Some(&record.tracking_code),
                source: ViolationSource::Gateway,
                rules: &violation.rules,
                at: record.received_at,
                state,
            },
        )
        .await?;
        let Some(id) = inserted else { continue };
        event(conn, &record.reporter_ref, &change, EventAction::Violation, None, Some(id), &change.why).await?;
        let trigger = match state {
            ViolationState::Counted => Trigger::Counted,
            _ => Trigger::Other,
        };
        settle_reporter(conn, &record.reporter_ref, &change, trigger).await?;
    }
    Ok(())
}

async fn confirm(conn: &mut PgConnection, id: i64, change: &Change) -> Result<SanctionChange, SanctionError> {
    let violation = violation(&mut *conn, id).await?.ok_or(SanctionError::NotFound("no violation has this id"))?;
    if violation.state == ViolationState::Counted {
        return Err(SanctionError::Conflict(format!("violation {id} already counts")));
    }
    confirm_violation(conn, &violation, change).await
}

/// Makes a review (or dismissed) violation count, and applies R12.
async fn confirm_violation(
    conn: &mut PgConnection,
    violation: &ViolationEntry,
    change: &Change,
) -> Result<SanctionChange, SanctionError> {
    set_state(conn, violation.id, ViolationState::Counted).await?;
    event(conn, &violation.reporter_ref, change, EventAction::Confirm, None, Some(violation.id), &change.why).await?;
    let row = settle_reporter(conn, &violation.reporter_ref, change, Trigger::Counted).await?;
    Ok(SanctionChange {
        violation: super::sanctions::violation(&mut *conn, violation.id).await?,
        standing: row.view(change.at),
        created: false,
    })
}

async fn dismiss(conn: &mut PgConnection, id: i64, change: &Change) -> Result<SanctionChange, SanctionError> {
    let violation = violation(&mut *conn, id).await?.ok_or(SanctionError::NotFound("no violation has this id"))?;
    if violation.state == ViolationState::Dismissed {
        return Err(SanctionError::Conflict(format!("violation {id} is already dismissed")));
    }
    set_state(conn, id, ViolationState::Dismissed).await?;
    event(conn, &violation.reporter_ref, change, EventAction::Dismiss, None, Some(id), &change.why).await?;
    // Only a counted violation's dismissal can bring a count below a lock.
    let trigger = if violation.state == ViolationState::Counted { Trigger::Dismissed } else { Trigger::Other };
    let row = settle_reporter(conn, &violation.reporter_ref, change, trigger).await?;
    Ok(SanctionChange {
        violation: super::sanctions::violation(&mut *conn, id).await?,
        standing: row.view(change.at),
        created: false,
    })
}

async fn lift(
    conn: &mut PgConnection,
    reporter_ref: &str,
    scope: LockScope,
    change: &Change,
) -> Result<SanctionChange, SanctionError> {
    if load_row(&mut *conn, reporter_ref).await?.is_none() {
        return Err(SanctionError::NotFound("no sanctions are recorded for this reporter"));
    }
    event(conn, reporter_ref, change, EventAction::Lift, Some(scope), None, &change.why).await?;
    let row = settle_reporter(conn, reporter_ref, change, Trigger::Lift(scope)).await?;
    Ok(SanctionChange { violation: None, standing: row.view(change.at), created: false })
}

/// The case system or staff say a record was a violation: it counts. A record counts once:
/// if it is already counted nothing changes; if the gateway queued it for review, this
/// confirms that violation instead of adding a second one.
async fn report(
    conn: &mut PgConnection,
    tracking_code: &str,
    source: ViolationSource,
    change: &Change,
) -> Result<SanctionChange, SanctionError> {
    let record = sqlx::query(
        "SELECT r.id, r.kind, r.received_at, v.reporter_ref FROM records r \
         JOIN reporter_vault v ON v.record_id = r.id WHERE r.tracking_code = $1",
    )
    .bind(tracking_code)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    let Some(record) = record else {
        let received: Option<i64> = sqlx::query_scalar("SELECT seq FROM inbound WHERE tracking_code = $1")
            .bind(tracking_code)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::from)?;
        return Err(match received {
            Some(_) => SanctionError::Conflict("this report is stored but not recorded yet; retry shortly".to_owned()),
            None => SanctionError::NotFound("no record has this tracking code"),
        });
    };
    let record_id: String = record.get(0);
    let scope = ViolationScope::of(parse_enum(record.get(1))?);
    let at = parse_ts(record.get(2))?;
    let reporter_ref: String = record.get(3);
    let existing: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM violations WHERE record_id = $1 AND state != 'dismissed' \
         ORDER BY state = 'counted' DESC, id LIMIT 1",
    )
    .bind(&record_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    if let Some(id) = existing {
        let violation = violation(&mut *conn, id).await?.ok_or_else(|| StoreError::Corrupt("violation".to_owned()))?;
        if violation.state == ViolationState::Review {
            return confirm_violation(conn, &violation, change).await;
        }
        let row = load_row(&mut *conn, &reporter_ref).await?.unwrap_or_else(|| StandingRow::new(&reporter_ref, at));
        return Ok(SanctionChange { violation: Some(violation), standing: row.view(change.at), created: false });
    }
    let inserted = insert_violation(
        conn,
        NewViolation {
            reporter_ref: &reporter_ref,
            scope,
            record_id: Some(record_id),
            tracking_code: Some(tracking_code),
            source,
            rules: &[],
            at,
            state: ViolationState::Counted,
        },
    )
    .await?;
    // The earlier query found no live violation of this record; a dismissed one by the same
    // source is the only thing that can stand in the way: reinstate it.
    let id = match inserted {
        Some(id) => id,
        None => {
            let id: i64 = sqlx::query_scalar("SELECT id FROM violations WHERE record_id = $1 AND source = $2")
                .bind(record.get::<&str, _>(0))
                .bind(enum_text(&source))
                .fetch_one(&mut *conn)
                .await
                .map_err(StoreError::from)?;
            set_state(conn, id, ViolationState::Counted).await?;
            id
        }
    };
    event(conn, &reporter_ref, change, EventAction::Report, None, Some(id), &change.why).await?;
    let row = settle_reporter(conn, &reporter_ref, change, Trigger::Counted).await?;
    Ok(SanctionChange {
        violation: super::sanctions::violation(&mut *conn, id).await?,
        standing: row.view(change.at),
        created: inserted.is_some(),
    })
}

/// Recounts one reporter's violations, applies R12 and rewrites the standing row, writing an
/// event for every lock that began or ended. Runs after every change, in its transaction.
async fn settle_reporter(
    conn: &mut PgConnection,
    reporter_ref: &str,
    change: &Change,
    trigger: Trigger,
) -> Result<StandingRow, StoreError> {
    let mut row =
        load_row(&mut *conn, reporter_ref).await?.unwrap_or_else(|| StandingRow::new(reporter_ref, change.at));
    let counted = sqlx::query("SELECT id, scope, at FROM violations WHERE reporter_ref = $1 AND state = 'counted'")
        .bind(reporter_ref)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| Ok(Counted { id: r.get(0), scope: parse_enum(r.get(1))?, at: parse_ts(r.get(2))? }))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let review: i64 =
        sqlx::query_scalar("SELECT count(*) FROM violations WHERE reporter_ref = $1 AND state = 'review'")
            .bind(reporter_ref)
            .fetch_one(&mut *conn)
            .await?;
    // `updated_at` is the writer's clock: the gateway's change time is the message's receive
    // time, which a processing backlog puts in the past.
    let changes = settle(&mut row, &counted, review as u32, trigger, change.at, Utc::now());
    write_row(conn, &row).await?;
    for lock in changes {
        match lock {
            LockChange::Locked { scope, violation, why } => {
                event(conn, reporter_ref, change, EventAction::Lock, Some(scope), Some(violation), &why).await?;
            }
            LockChange::Lifted { scope, why } => {
                // The dismissing actor lifted it, as a consequence: their name is on it.
                event(conn, reporter_ref, change, EventAction::Lift, Some(scope), None, &why).await?;
            }
        }
    }
    Ok(row)
}

struct NewViolation<'a> {
    reporter_ref: &'a str,
    scope: ViolationScope,
    record_id: Option<String>,
    tracking_code: Option<&'a str>,
    source: ViolationSource,
    rules: &'a [String],
    at: DateTime<Utc>,
    state: ViolationState,
}

/// Inserts a violation; `None` when this source already has one for the record.
async fn insert_violation(conn: &mut PgConnection, v: NewViolation<'_>) -> Result<Option<i64>, StoreError> {
    let id = sqlx::query_scalar(
        "INSERT INTO violations (reporter_ref, scope, record_id, tracking_code, source, rules, at, state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (record_id, source) DO NOTHING RETURNING id",
    )
    .bind(v.reporter_ref)
    .bind(v.scope.as_str())
    .bind(v.record_id)
    .bind(v.tracking_code)
    .bind(enum_text(&v.source))
    .bind(serde_json::to_string(v.rules).expect("strings serialise"))
    .bind(ts(v.at))
    .bind(enum_text(&v.state))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id)
}

async fn set_state(conn: &mut PgConnection, id: i64, state: ViolationState) -> Result<(), StoreError> {
    sqlx::query("UPDATE violations SET state = $2 WHERE id = $1")
        .bind(id)
        .bind(enum_text(&state))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn event(
    conn: &mut PgConnection,
    reporter_ref: &str,
    change: &Change,
    action: EventAction,
    scope: Option<LockScope>,
    violation_id: Option<i64>,
    why: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sanction_events (reporter_ref, at, actor, action, scope, violation_id, why) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(reporter_ref)
    .bind(ts(change.at))
    .bind(&change.actor)
    .bind(enum_text(&action))
    .bind(scope.map(LockScope::as_str))
    .bind(violation_id)
    .bind(why)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// Column lists as macros: sqlx takes only literal SQL, and `concat!` keeps it literal.
macro_rules! standing_columns {
    () => {
        "reporter_ref, account_locked_at, account_lock_violation, interaction_locked_until, \
         interaction_lock_violation, last_account_lift_at, last_interaction_lift_at, report_violations, \
         interaction_times, review_violations, updated_at"
    };
}

macro_rules! violation_columns {
    () => {
        "id, reporter_ref, scope, record_id, tracking_code, source, rules, at, state"
    };
}

async fn load_row<'c>(executor: impl PgExecutor<'c>, reporter_ref: &str) -> Result<Option<StandingRow>, StoreError> {
    let row = sqlx::query(concat!("SELECT ", standing_columns!(), " FROM reporter_standing WHERE reporter_ref = $1"))
        .bind(reporter_ref)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(standing_row).transpose()
}

fn opt_ts(row: &PgRow, i: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.get::<Option<&str>, _>(i).map(parse_ts).transpose()
}

fn standing_row(row: &PgRow) -> Result<StandingRow, StoreError> {
    let times: Vec<String> = serde_json::from_str(row.get(8))
        .map_err(|_| StoreError::Corrupt("reporter_standing.interaction_times".to_owned()))?;
    Ok(StandingRow {
        reporter_ref: row.get(0),
        account_locked_at: opt_ts(row, 1)?,
        account_lock_violation: row.get(2),
        interaction_locked_until: opt_ts(row, 3)?,
        interaction_lock_violation: row.get(4),
        last_account_lift_at: opt_ts(row, 5)?,
        last_interaction_lift_at: opt_ts(row, 6)?,
        report_violations: row.get::<i64, _>(7) as u32,
        interaction_times: times.iter().map(|t| parse_ts(t)).collect::<Result<_, _>>()?,
        review_violations: row.get::<i64, _>(9) as u32,
        updated_at: parse_ts(row.get(10))?,
    })
}

async fn write_row(conn: &mut PgConnection, row: &StandingRow) -> Result<(), StoreError> {
    let times: Vec<String> = row.interaction_times.iter().copied().map(ts).collect();
    sqlx::query(concat!(
        "INSERT INTO reporter_standing (",
        standing_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (reporter_ref) DO UPDATE SET account_locked_at = excluded.account_locked_at, \
         account_lock_violation = excluded.account_lock_violation, \
         interaction_locked_until = excluded.interaction_locked_until, \
         interaction_lock_violation = excluded.interaction_lock_violation, \
         last_account_lift_at = excluded.last_account_lift_at, \
         last_interaction_lift_at = excluded.last_interaction_lift_at, \
         report_violations = excluded.report_violations, interaction_times = excluded.interaction_times, \
         review_violations = excluded.review_violations, updated_at = excluded.updated_at"
    ))
    .bind(&row.reporter_ref)
    .bind(row.account_locked_at.map(ts))
    .bind(row.account_lock_violation)
    .bind(row.interaction_locked_until.map(ts))
    .bind(row.interaction_lock_violation)
    .bind(row.last_account_lift_at.map(ts))
    .bind(row.last_interaction_lift_at.map(ts))
    .bind(i64::from(row.report_violations))
    .bind(serde_json::to_string(&times).expect("strings serialise"))
    .bind(i64::from(row.review_violations))
    .bind(ts(row.updated_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn violation_entry(row: &PgRow) -> Result<ViolationEntry, StoreError> {
    Ok(ViolationEntry {
        id: row.get(0),
        reporter_ref: row.get(1),
        scope: parse_enum(row.get(2))?,
        record_id: row.get(3),
        tracking_code: row.get(4),
        source: parse_enum(row.get(5))?,
        rules: serde_json::from_str(row.get(6)).map_err(|_| StoreError::Corrupt("violations.rules".to_owned()))?,
        at: parse_ts(row.get(7))?,
        state: parse_enum(row.get(8))?,
    })
}

async fn violation<'c>(executor: impl PgExecutor<'c>, id: i64) -> Result<Option<ViolationEntry>, StoreError> {
    let row = sqlx::query(concat!("SELECT ", violation_columns!(), " FROM violations WHERE id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(violation_entry).transpose()
}

/// The receive path's lookup: one row by primary key.
pub(super) async fn standing(pool: &PgPool, reporter_ref: &str, at: DateTime<Utc>) -> Result<Standing, StoreError> {
    Ok(load_row(pool, reporter_ref).await?.map(|row| row.standing(at)).unwrap_or_default())
}

pub(super) async fn list(pool: &PgPool, filter: &SanctionFilter) -> Result<Vec<ReporterStanding>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        standing_columns!(),
        " FROM reporter_standing \
         WHERE (NOT $1 OR account_locked_at IS NOT NULL OR interaction_locked_until > $3) \
           AND (NOT $2 OR review_violations > 0) \
         ORDER BY updated_at DESC, reporter_ref LIMIT $4"
    ))
    .bind(filter.locked)
    .bind(filter.review)
    .bind(ts(filter.at))
    .bind(filter.limit as i64)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| Ok(standing_row(r)?.view(filter.at))).collect()
}

pub(super) async fn reporter(
    pool: &PgPool,
    reporter_ref: &str,
    at: DateTime<Utc>,
) -> Result<Option<ReporterSanctions>, StoreError> {
    let Some(row) = load_row(pool, reporter_ref).await? else { return Ok(None) };
    let violations = sqlx::query(concat!(
        "SELECT ",
        violation_columns!(),
        " FROM violations WHERE reporter_ref = $1 ORDER BY id DESC"
    ))
    .bind(reporter_ref)
    .fetch_all(pool)
    .await?
    .iter()
    .map(violation_entry)
    .collect::<Result<Vec<_>, _>>()?;
    let events = sqlx::query(
        "SELECT id, reporter_ref, at, actor, action, scope, violation_id, why FROM sanction_events \
         WHERE reporter_ref = $1 ORDER BY id DESC",
    )
    .bind(reporter_ref)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(SanctionEvent {
            id: r.get(0),
            reporter_ref: r.get(1),
            at: parse_ts(r.get(2))?,
            actor: r.get(3),
            action: parse_enum(r.get(4))?,
            scope: r.get::<Option<&str>, _>(5).map(parse_enum).transpose()?,
            violation_id: r.get(6),
            why: r.get(7),
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(ReporterSanctions { standing: row.view(at), violations, events }))
}
