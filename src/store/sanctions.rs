//! Sanctions (R12) in backend-neutral terms: violations, a reporter's standing, the audit of
//! every change, and [`settle`], the one place that turns counted violations into locks.
//!
//! The backends own the SQL and call [`settle`] inside the same transaction as the change it
//! follows, so every backend applies the rules identically and the stored standing is never
//! stale. Nothing here holds personal data: a reporter is the pseudonymous `reporter_ref`,
//! rules are lexicon ids, never words.
//!
//! The rules (REGULATION.md R12, "more than 3 times" = the 4th locks):
//! - report violations count for life since the last account lift; the 4th counted one (in
//!   time) locks the account, with no end date, until staff lift it;
//! - interaction violations count over a rolling 30 days since the last interaction lift: the
//!   first time the window (t − 30 days, t] holds 4 counted ones, interactions are locked for
//!   30 days from t; violations while that lock is in force are kept and counted but do not
//!   extend it; once it has ended, the next time a window holds 4 locks again;
//! - both are recomputed from the counted violations after every change, so the standing
//!   depends on which violations count, never on the order they were counted, confirmed or
//!   dismissed in (staff confirm newest first; the case system reports late);
//! - `review` violations never count until staff confirm them;
//! - dismissing a counted violation reverses its count; if the recount no longer calls for a
//!   lock in force, the lock is lifted automatically, in the dismissing actor's name (the lift
//!   does not reset the counting start: the remaining violations still count); if a later
//!   window still holds 4, the interaction lock follows that window;
//! - a staff lift records who and why and resets the counting start of its scope: what was
//!   sent before it is forgiven;
//! - a violation of an account that is already locked, reported by the case system or staff,
//!   is kept and counted but does not lock again. The gateway's own triage still assesses a
//!   locked account's text (urgency, scope, category hint) but records no violation for it:
//!   the report is refused as `account_locked` anyway.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use hue_intake_adapters::triage::{
    INTERACTION_LOCK_DAYS, INTERACTION_WINDOW_DAYS, LOCK_AT_VIOLATION, Standing, Violation, ViolationScope,
};

use super::StoreError;

/// Where a violation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ViolationState {
    /// Counts towards a lock.
    Counted,
    /// A weak finding: waits for staff; never counts until confirmed.
    Review,
    /// Staff found it was no violation; it counts no more.
    Dismissed,
}

/// Who found a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ViolationSource {
    /// The gateway's own lexicon, while recording.
    Gateway,
    /// The case system, through the admin API.
    CaseSystem,
    /// A staff member, through the admin API or the command line.
    Staff,
}

/// What a lock and a lift apply to: report violations lock the account, interaction
/// violations lock interactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LockScope {
    Account,
    Interaction,
}

impl LockScope {
    pub fn as_str(self) -> &'static str {
        match self {
            LockScope::Account => "account",
            LockScope::Interaction => "interaction",
        }
    }

    /// The lock a violation of this scope counts towards.
    pub fn of(scope: ViolationScope) -> Self {
        match scope {
            ViolationScope::Report => LockScope::Account,
            ViolationScope::Interaction => LockScope::Interaction,
        }
    }
}

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventAction {
    /// The gateway found a violation.
    Violation,
    /// Staff confirmed a violation (it counts now).
    Confirm,
    /// Staff dismissed a violation (it counts no more).
    Dismiss,
    /// A lock began.
    Lock,
    /// A lock ended: by staff, or automatically after a dismissal.
    Lift,
    /// The case system or staff reported a violation.
    Report,
}

/// The OpenAPI face of [`ViolationScope`] (the adapters crate has no OpenAPI dependency).
#[derive(Serialize, ToSchema)]
#[schema(as = ViolationScope)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum ViolationScopeDoc {
    Report,
    Interaction,
}

/// One violation, as stored and shown to staff.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ViolationEntry {
    pub id: i64,
    pub reporter_ref: String,
    #[schema(value_type = ViolationScopeDoc)]
    pub scope: ViolationScope,
    pub record_id: Option<String>,
    pub tracking_code: Option<String>,
    pub source: ViolationSource,
    /// Lexicon rule ids that matched (never the words).
    pub rules: Vec<String>,
    /// When the offending message was received.
    pub at: DateTime<Utc>,
    pub state: ViolationState,
}

/// A reporter's standing under R12 at a given time, for staff.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReporterStanding {
    pub reporter_ref: String,
    /// Every report is refused (`account_locked`) until staff lift the lock.
    pub account_locked: bool,
    pub account_locked_at: Option<DateTime<Utc>>,
    /// The violation that locked the account (the 4th counted one).
    pub account_lock_violation: Option<i64>,
    /// Interactions are refused (`interaction_locked`) until `interaction_locked_until`.
    pub interaction_locked: bool,
    pub interaction_locked_until: Option<DateTime<Utc>>,
    pub interaction_lock_violation: Option<i64>,
    pub last_account_lift_at: Option<DateTime<Utc>>,
    pub last_interaction_lift_at: Option<DateTime<Utc>>,
    /// Counted report violations since the last account lift.
    pub report_violations: u32,
    /// Counted interaction violations in the last 30 days (since the last interaction lift).
    pub interaction_violations: u32,
    /// Violations waiting for staff review.
    pub review_violations: u32,
    pub updated_at: DateTime<Utc>,
}

/// One audit event: who did what, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SanctionEvent {
    pub id: i64,
    pub reporter_ref: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: EventAction,
    /// For locks and lifts.
    pub scope: Option<LockScope>,
    pub violation_id: Option<i64>,
    pub why: String,
}

/// Everything about one reporter's sanctions.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReporterSanctions {
    pub standing: ReporterStanding,
    /// Newest first.
    pub violations: Vec<ViolationEntry>,
    /// Newest first.
    pub events: Vec<SanctionEvent>,
}

/// The result of a change: the violation it was about (if any) and the standing after it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(examples(json!({
    "violation": {
        "id": 42, "reporter_ref": "rp_5f0c2a91d3b4e6f70812a3b4c5d6e7f8", "scope": "report",
        "record_id": "0193b5c2-7d1e-7a31-9c55-3f0e9b7c2d10", "tracking_code": "HUE-7KQ4-M2XD",
        "source": "case_system", "rules": [], "at": "2026-11-29T01:12:03Z", "state": "counted"
    },
    "standing": {
        "reporter_ref": "rp_5f0c2a91d3b4e6f70812a3b4c5d6e7f8", "account_locked": true,
        "account_locked_at": "2026-11-29T09:30:00Z", "account_lock_violation": 42,
        "interaction_locked": false, "interaction_locked_until": null, "interaction_lock_violation": null,
        "last_account_lift_at": null, "last_interaction_lift_at": null,
        "report_violations": 4, "interaction_violations": 0, "review_violations": 0,
        "updated_at": "2026-11-29T09:30:00Z"
    },
    "created": true
})))]
pub struct SanctionChange {
    pub violation: Option<ViolationEntry>,
    pub standing: ReporterStanding,
    /// A new violation was recorded (false: the record was already counted, or a waiting
    /// review was confirmed instead).
    pub created: bool,
}

/// Who makes a change, why, and when (the audit's three questions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub actor: String,
    pub why: String,
    pub at: DateTime<Utc>,
}

impl Change {
    pub fn now(actor: impl Into<String>, why: impl Into<String>) -> Self {
        Change { actor: actor.into(), why: why.into(), at: Utc::now() }
    }
}

/// The longest `why` kept: a reason, not a file.
pub const MAX_WHY_CHARS: usize = 2000;

/// The reason of a change as the audit keeps it: required, cleaned (NFC, no control
/// characters), with phone numbers and email addresses taken out, because the audit must hold
/// no personal data (R8) even when someone pastes it. The error says what is wrong.
pub fn reason(raw: Option<&str>) -> Result<String, String> {
    let cleaned = raw.map(hue_intake_adapters::text::clean).unwrap_or_default();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return Err("why is required: say why, it is recorded in the audit".to_owned());
    }
    if cleaned.chars().count() > MAX_WHY_CHARS {
        return Err(format!("why may be at most {MAX_WHY_CHARS} characters"));
    }
    Ok(hue_intake_adapters::pii::scrub_contacts(cleaned).text)
}

/// Which reporters [`crate::store::Store::list_sanctions`] lists.
#[derive(Debug, Clone, Copy)]
pub struct SanctionFilter {
    /// Only reporters with a lock in force at `at`.
    pub locked: bool,
    /// Only reporters with violations waiting for review.
    pub review: bool,
    pub limit: usize,
    pub at: DateTime<Utc>,
}

impl Default for SanctionFilter {
    fn default() -> Self {
        SanctionFilter { locked: false, review: false, limit: 100, at: Utc::now() }
    }
}

/// Why a sanctions change could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SanctionError {
    #[error("{0}")]
    NotFound(&'static str),
    /// The change does not fit the current state (already dismissed, not recorded yet…).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A reporter's standing as stored: the row every backend keeps current.
#[derive(Debug, Clone, PartialEq)]
pub struct StandingRow {
    pub reporter_ref: String,
    pub account_locked_at: Option<DateTime<Utc>>,
    pub account_lock_violation: Option<i64>,
    pub interaction_locked_until: Option<DateTime<Utc>>,
    pub interaction_lock_violation: Option<i64>,
    pub last_account_lift_at: Option<DateTime<Utc>>,
    pub last_interaction_lift_at: Option<DateTime<Utc>>,
    pub report_violations: u32,
    /// Times of counted interaction violations since the last lift, oldest first, pruned to
    /// the 30 days before the newest: enough to count the window at any later time.
    pub interaction_times: Vec<DateTime<Utc>>,
    pub review_violations: u32,
    pub updated_at: DateTime<Utc>,
}

impl StandingRow {
    pub fn new(reporter_ref: &str, at: DateTime<Utc>) -> Self {
        StandingRow {
            reporter_ref: reporter_ref.to_owned(),
            account_locked_at: None,
            account_lock_violation: None,
            interaction_locked_until: None,
            interaction_lock_violation: None,
            last_account_lift_at: None,
            last_interaction_lift_at: None,
            report_violations: 0,
            interaction_times: Vec::new(),
            review_violations: 0,
            updated_at: at,
        }
    }

    fn interaction_locked(&self, at: DateTime<Utc>) -> bool {
        self.interaction_locked_until.is_some_and(|until| until > at)
    }

    /// Counted interaction violations in (at − 30 days, at].
    fn interactions_in_window(&self, at: DateTime<Utc>) -> u32 {
        count_in_window(&self.interaction_times, at)
    }

    /// What triage needs, at `at` (the receive time).
    pub fn standing(&self, at: DateTime<Utc>) -> Standing {
        Standing {
            account_locked: self.account_locked_at.is_some(),
            interaction_locked: self.interaction_locked(at),
            report_violations: self.report_violations,
            interaction_violations: self.interactions_in_window(at),
        }
    }

    /// What staff see, at `at`.
    pub fn view(&self, at: DateTime<Utc>) -> ReporterStanding {
        ReporterStanding {
            reporter_ref: self.reporter_ref.clone(),
            account_locked: self.account_locked_at.is_some(),
            account_locked_at: self.account_locked_at,
            account_lock_violation: self.account_lock_violation,
            interaction_locked: self.interaction_locked(at),
            interaction_locked_until: self.interaction_locked_until,
            interaction_lock_violation: self.interaction_lock_violation,
            last_account_lift_at: self.last_account_lift_at,
            last_interaction_lift_at: self.last_interaction_lift_at,
            report_violations: self.report_violations,
            interaction_violations: self.interactions_in_window(at),
            review_violations: self.review_violations,
            updated_at: self.updated_at,
        }
    }
}

fn window() -> Duration {
    Duration::days(INTERACTION_WINDOW_DAYS)
}

fn count_in_window(times: &[DateTime<Utc>], end: DateTime<Utc>) -> u32 {
    let start = end - window();
    times.iter().filter(|t| **t > start && **t <= end).count() as u32
}

/// A counted violation, as [`settle`] needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub id: i64,
    pub scope: ViolationScope,
    pub at: DateTime<Utc>,
}

/// The change [`settle`] follows. [`settle`] recounts from the facts whatever the change was;
/// the trigger only says whether the counting start moves (a lift) and how the audit words an
/// automatic lift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A violation began to count (recorded counted, or confirmed).
    Counted,
    /// A counted violation was dismissed.
    Dismissed,
    /// Staff lifted a lock (and with it the counting start).
    Lift(LockScope),
    /// Nothing that can lock or unlock (a review violation recorded or dismissed).
    Other,
}

/// A lock that began or ended automatically, for the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockChange {
    Locked { scope: LockScope, violation: i64, why: String },
    Lifted { scope: LockScope, why: String },
}

/// One interaction lock the counted violations call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InteractionLock {
    /// The violation that brought its window to 4 (the 4th within 30 days).
    pub violation: i64,
    /// That violation's time: the lock begins there.
    pub from: DateTime<Utc>,
    /// 30 days later.
    pub until: DateTime<Utc>,
    /// Counted interaction violations in the window (from − 30 days, from].
    pub in_window: u32,
}

/// The interaction locks R12 calls for, oldest first, from counted interaction violations
/// sorted by (time, id): the 4th within any 30 days locks for 30 days from it; a violation
/// while such a lock is in force locks nothing (it does not extend the lock) but still counts
/// in later windows, so after the lock has ended a new run of 4 within 30 days locks again.
/// A function of the set of violations alone: the order they were counted in does not matter.
pub fn interaction_locks(sorted: &[Counted]) -> Vec<InteractionLock> {
    let mut locks: Vec<InteractionLock> = Vec::new();
    let mut start = 0;
    for (i, c) in sorted.iter().enumerate() {
        while sorted[start].at <= c.at - window() {
            start += 1;
        }
        let in_window = (i + 1 - start) as u32;
        let free = locks.last().is_none_or(|l| c.at >= l.until);
        if free && in_window >= LOCK_AT_VIOLATION {
            let until = c.at + Duration::days(INTERACTION_LOCK_DAYS);
            locks.push(InteractionLock { violation: c.id, from: c.at, until, in_window });
        }
    }
    locks
}

/// Applies R12 to `row` after a change at `at`: recounts from `counted` (every counted
/// violation of the reporter, in any order) and locks or lifts. The standing follows from the
/// set of counted violations and the lifts alone, never from the order in which violations
/// were counted, confirmed or dismissed. `committed_at` is the writer's clock when the change
/// is committed: it becomes `updated_at` (the gateway's `at` is a message's receive time,
/// which a processing backlog puts in the past). Returns the locks that began or ended, so
/// the backend can write their events in the same transaction.
pub fn settle(
    row: &mut StandingRow,
    counted: &[Counted],
    review: u32,
    trigger: Trigger,
    at: DateTime<Utc>,
    committed_at: DateTime<Utc>,
) -> Vec<LockChange> {
    if let Trigger::Lift(scope) = trigger {
        // A lift forgives what came before it: the counting starts again now.
        match scope {
            LockScope::Account => {
                row.last_account_lift_at = Some(at);
                row.account_locked_at = None;
                row.account_lock_violation = None;
            }
            LockScope::Interaction => {
                row.last_interaction_lift_at = Some(at);
                row.interaction_locked_until = None;
                row.interaction_lock_violation = None;
            }
        }
    }
    let account_start = row.last_account_lift_at;
    let interaction_start = row.last_interaction_lift_at;
    let since_start = |scope: ViolationScope, start: Option<DateTime<Utc>>| {
        let mut v: Vec<Counted> =
            counted.iter().filter(|c| c.scope == scope && start.is_none_or(|s| c.at > s)).copied().collect();
        v.sort_by_key(|c| (c.at, c.id));
        v
    };
    let reports = since_start(ViolationScope::Report, account_start);
    let interactions = since_start(ViolationScope::Interaction, interaction_start);
    row.report_violations = reports.len() as u32;
    row.review_violations = review;
    let cause = match trigger {
        Trigger::Dismissed => "after a dismissal",
        _ => "recounted",
    };

    let mut changes = Vec::new();
    // The account: the 4th counted report violation (in time) since the last account lift.
    // Once locked, further violations are kept and counted but lock nothing more.
    match (reports.get(LOCK_AT_VIOLATION as usize - 1), row.account_locked_at) {
        (Some(fourth), None) => {
            row.account_locked_at = Some(at);
            row.account_lock_violation = Some(fourth.id);
            changes.push(LockChange::Locked {
                scope: LockScope::Account,
                violation: fourth.id,
                why: format!(
                    "R12: {} counted report violations{}; the account stays locked until staff lift it",
                    row.report_violations,
                    since(account_start)
                ),
            });
        }
        // Still locked; the 4th may be another one now (an earlier one confirmed late, or
        // the old 4th dismissed).
        (Some(fourth), Some(_)) => row.account_lock_violation = Some(fourth.id),
        (None, Some(_)) => {
            row.account_locked_at = None;
            row.account_lock_violation = None;
            changes.push(LockChange::Lifted {
                scope: LockScope::Account,
                why: format!(
                    "automatic: {cause}, {} counted report violations remain, fewer than {LOCK_AT_VIOLATION} (R12)",
                    row.report_violations
                ),
            });
        }
        (None, None) => {}
    }

    // Interactions: the lock the counted violations call for that is in force at `at` (or
    // begins after it). A lock that ended before `at` is history: it neither locks now nor
    // is written again.
    let was_locked = row.interaction_locked(at);
    let lock = interaction_locks(&interactions).into_iter().find(|l| l.until > at);
    match lock {
        Some(l)
            if row.interaction_locked_until == Some(l.until) && row.interaction_lock_violation == Some(l.violation) => {
        }
        Some(l) => {
            row.interaction_locked_until = Some(l.until);
            row.interaction_lock_violation = Some(l.violation);
            changes.push(LockChange::Locked {
                scope: LockScope::Interaction,
                violation: l.violation,
                why: format!(
                    "R12: {} counted interaction violations within {INTERACTION_WINDOW_DAYS} days{}; \
                     interactions locked for {INTERACTION_LOCK_DAYS} days from the 4th, until {}{}",
                    l.in_window,
                    since(interaction_start),
                    l.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    if was_locked { " (replaces the lock recorded before)" } else { "" }
                ),
            });
        }
        None if was_locked => {
            row.interaction_locked_until = None;
            row.interaction_lock_violation = None;
            changes.push(LockChange::Lifted {
                scope: LockScope::Interaction,
                why: format!(
                    "automatic: {cause}, no {INTERACTION_WINDOW_DAYS} days hold {LOCK_AT_VIOLATION} counted \
                     interaction violations for a lock in force (R12)"
                ),
            });
        }
        None => {}
    }

    // Only the last 30 days before the newest can ever be in a later window.
    let mut times: Vec<DateTime<Utc>> = interactions.iter().map(|c| c.at).collect();
    if let Some(newest) = times.last().copied() {
        times.retain(|t| *t > newest - window());
    }
    row.interaction_times = times;
    row.updated_at = committed_at;
    changes
}

fn since(start: Option<DateTime<Utc>>) -> String {
    match start {
        Some(s) => format!(" since the lift of {}", s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(day: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc) + Duration::days(day)
    }

    fn counted(id: i64, scope: ViolationScope, day: i64) -> Counted {
        Counted { id, scope, at: t(day) }
    }

    #[test]
    fn r12_settle_locks_the_account_at_the_fourth_and_not_again() {
        let mut row = StandingRow::new("rp_x", t(0));
        let mut all = Vec::new();
        for id in 1..=5 {
            let c = counted(id, ViolationScope::Report, id);
            all.push(c);
            let changes = settle(&mut row, &all, 0, Trigger::Counted, c.at, c.at);
            assert_eq!(changes.len(), usize::from(id == 4), "only the 4th locks (id {id})");
        }
        assert_eq!(row.account_lock_violation, Some(4));
        assert_eq!(row.report_violations, 5);
        assert!(row.standing(t(100)).account_locked, "no end date");
    }

    #[test]
    fn r12_settle_interaction_window_prunes_old_times() {
        let mut row = StandingRow::new("rp_x", t(0));
        let all: Vec<_> = [0, 10, 40, 41]
            .iter()
            .enumerate()
            .map(|(i, d)| counted(i as i64, ViolationScope::Interaction, *d))
            .collect();
        let changes = settle(&mut row, &all, 0, Trigger::Counted, t(41), t(41));
        assert!(changes.is_empty(), "only 2 within 30 days of day 41");
        assert_eq!(row.interaction_times, vec![t(40), t(41)]);
        assert_eq!(row.standing(t(41)).interaction_violations, 2);
    }

    fn lock_days() -> Duration {
        Duration::days(INTERACTION_LOCK_DAYS)
    }

    /// Counts `ids` one change at a time (change `k` at day `10 + k` unless `at` says
    /// otherwise); returns the row and every lock change along the way.
    fn count_in_order(
        all: &[Counted],
        order: &[i64],
        at: impl Fn(usize) -> DateTime<Utc>,
    ) -> (StandingRow, Vec<LockChange>) {
        let mut row = StandingRow::new("rp_x", t(0));
        let mut counted = Vec::new();
        let mut changes = Vec::new();
        for (k, id) in order.iter().enumerate() {
            counted.push(*all.iter().find(|c| c.id == *id).unwrap());
            changes.extend(settle(&mut row, &counted, 0, Trigger::Counted, at(k), at(k)));
        }
        (row, changes)
    }

    #[test]
    fn r12_settle_interaction_lock_is_independent_of_the_order_violations_are_counted_in() {
        // Violation id n was sent on day n; staff confirm them on days 5 to 8.
        let all: Vec<_> = (1..=4).map(|n| counted(n, ViolationScope::Interaction, n)).collect();
        for order in [[1, 2, 3, 4], [4, 3, 2, 1], [2, 4, 1, 3], [3, 1, 4, 2]] {
            let (row, changes) = count_in_order(&all, &order, |k| t(5 + k as i64));
            assert_eq!(row.interaction_locked_until, Some(t(4) + lock_days()), "order {order:?}");
            assert_eq!(row.interaction_lock_violation, Some(4), "the 4th in time, order {order:?}");
            assert_eq!(changes.len(), 1, "one lock, order {order:?}: {changes:?}");
            assert!(matches!(changes[0], LockChange::Locked { scope: LockScope::Interaction, violation: 4, .. }));
            assert!(row.standing(t(8)).interaction_locked);
        }
        // Confirmed only after the lock would have ended: no order locks.
        for order in [[1, 2, 3, 4], [4, 3, 2, 1]] {
            let (row, changes) = count_in_order(&all, &order, |k| t(40 + k as i64));
            assert!(changes.is_empty() && row.interaction_locked_until.is_none(), "order {order:?}");
        }
    }

    #[test]
    fn r12_settle_account_lock_is_independent_of_the_order_violations_are_counted_in() {
        let all: Vec<_> = (1..=5).map(|n| counted(n, ViolationScope::Report, n * 100)).collect();
        for order in [[1, 2, 3, 4, 5], [5, 4, 3, 2, 1], [2, 5, 1, 4, 3]] {
            let (row, changes) = count_in_order(&all, &order, |k| t(600 + k as i64));
            let locks: Vec<_> = changes.iter().filter(|c| matches!(c, LockChange::Locked { .. })).collect();
            assert_eq!(locks.len(), 1, "order {order:?}");
            assert_eq!(row.account_locked_at, Some(t(603)), "locked by the 4th change, order {order:?}");
            assert_eq!(row.account_lock_violation, Some(4), "the 4th in time, order {order:?}");
            assert_eq!(row.report_violations, 5);
        }
    }

    #[test]
    fn r12_settle_locks_interactions_again_after_the_first_lock_ended() {
        // Days 1-4 lock until 34; 10, 20, 33 fall in that lock and do not extend it; day 34
        // (the lock has ended) has 10, 20, 33 and 34 within 30 days: a second lock to 64.
        // Days 70-72 are 3 within 30 days (34 is 36 days before 70): no third.
        let days = [1, 2, 3, 4, 10, 20, 33, 34, 70, 71, 72];
        let all: Vec<_> = days.iter().map(|d| counted(*d, ViolationScope::Interaction, *d)).collect();
        let locks = interaction_locks(&all);
        let spans: Vec<_> = locks.iter().map(|l| (l.violation, l.from, l.until)).collect();
        assert_eq!(spans, vec![(4, t(4), t(34)), (34, t(34), t(64))]);

        // Counted as they arrive: each lock begins once, at its 4th.
        let (row, changes) = count_in_order(&all, &days, |k| t(days[k]));
        let locked: Vec<_> = changes
            .iter()
            .map(|c| match c {
                LockChange::Locked { violation, .. } => *violation,
                LockChange::Lifted { .. } => panic!("nothing lifts: {c:?}"),
            })
            .collect();
        assert_eq!(locked, vec![4, 34]);
        assert_eq!(row.interaction_locked_until, Some(t(64)));
        // The same up to day 34 counted newest first on day 40: the first lock has ended, the
        // second is in force. (On the way the partial facts call for other locks; the end
        // state is the same.)
        let reverse = [34, 33, 20, 10, 4, 3, 2, 1];
        let (row, changes) = count_in_order(&all, &reverse, |_| t(40));
        assert_eq!((row.interaction_locked_until, row.interaction_lock_violation), (Some(t(64)), Some(34)));
        assert!(matches!(changes.last(), Some(LockChange::Locked { violation: 34, .. })));
        // A third run of four within 30 days after the second lock has ended locks again.
        let more: Vec<_> =
            [64, 80, 90].iter().map(|d| counted(*d, ViolationScope::Interaction, *d)).chain(all.clone()).collect();
        let spans: Vec<_> = interaction_locks_sorted(&more).iter().map(|l| (l.violation, l.until)).collect();
        assert_eq!(spans, vec![(4, t(34)), (34, t(64)), (72, t(102))], "64, 70, 71, 72 lock on day 72");
    }

    fn interaction_locks_sorted(all: &[Counted]) -> Vec<InteractionLock> {
        let mut all = all.to_vec();
        all.sort_by_key(|c| (c.at, c.id));
        interaction_locks(&all)
    }

    #[test]
    fn r12_settle_dismissing_the_fourth_moves_the_interaction_lock_to_a_later_window_or_lifts_it() {
        // Days 0-3 lock until 33; day 10 falls in it.
        let mut all: Vec<_> = [0, 1, 2, 3, 10].iter().map(|d| counted(*d, ViolationScope::Interaction, *d)).collect();
        let mut row = StandingRow::new("rp_x", t(0));
        settle(&mut row, &all, 0, Trigger::Counted, t(11), t(11));
        assert_eq!((row.interaction_locked_until, row.interaction_lock_violation), (Some(t(33)), Some(3)));

        // Day 3 dismissed: 0, 1, 2 and 10 are 4 within 30 days; the lock follows day 10.
        all.retain(|c| c.id != 3);
        let changes = settle(&mut row, &all, 0, Trigger::Dismissed, t(12), t(12));
        assert_eq!((row.interaction_locked_until, row.interaction_lock_violation), (Some(t(40)), Some(10)));
        assert!(matches!(changes[..], [LockChange::Locked { scope: LockScope::Interaction, violation: 10, .. }]));

        // Day 0 dismissed too: no window holds 4; the lock is lifted.
        all.retain(|c| c.id != 0);
        let changes = settle(&mut row, &all, 0, Trigger::Dismissed, t(13), t(13));
        assert_eq!((row.interaction_locked_until, row.interaction_lock_violation), (None, None));
        assert!(
            matches!(&changes[..], [LockChange::Lifted { scope: LockScope::Interaction, why }] if why.contains("after a dismissal"))
        );
        assert!(!row.standing(t(13)).interaction_locked);
    }

    #[test]
    fn r12_settle_updated_at_is_the_commit_time_and_the_receive_time_counts() {
        // Received on day 1, committed on day 9 after a backlog.
        let mut row = StandingRow::new("rp_x", t(0));
        let all = [counted(1, ViolationScope::Interaction, 1)];
        settle(&mut row, &all, 0, Trigger::Counted, t(1), t(9));
        assert_eq!(row.updated_at, t(9));
        assert_eq!(row.interaction_times, vec![t(1)]);
        assert_eq!(row.standing(t(30)).interaction_violations, 1);
        assert_eq!(row.standing(t(31)).interaction_violations, 0, "the window counts from the receive time");
    }
}
