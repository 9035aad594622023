//! Store-level tests of sanctions (R12) through the backend-neutral [`Store`] API, so a second
//! backend runs the same cases: each test runs on SQLite and on PostgreSQL (`both_backends!`). Violations arrive as the pipeline commits them (with explicit
//! receive times: no sleeps, no clock) and as the case system reports them.

use chrono::{DateTime, Duration, Utc};
use hue_intake_schemas::{Channel, Kind};
use uuid::Uuid;

use super::sanctions::{
    Change, EventAction, LockScope, ReporterSanctions, SanctionError, SanctionFilter, Violation, ViolationScope,
    ViolationSource, ViolationState,
};
use super::test_backends::{self, Backend, Place, both_backends};
use super::{NewRecord, Options, Processed, Store};

fn day(n: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T02:00:00Z").unwrap().with_timezone(&Utc) + Duration::days(n)
}

async fn open(backend: Backend) -> (Place, Store) {
    test_backends::open(backend, Options { group_commit_max_batch: 64, max_database_bytes: None }).await
}

fn record(reporter: &str, kind: Kind, at: DateTime<Utc>, violation: Option<(bool, ViolationScope)>) -> NewRecord {
    NewRecord {
        id: Uuid::now_v7(),
        tracking_code: crate::ids::new_tracking_code().to_string(),
        kind,
        channel: Channel::App,
        received_at: at,
        state: "accepted".to_owned(),
        in_reply_to: None,
        body: "{}".to_owned(),
        reporter_ref: reporter.to_owned(),
        consent: false,
        identity_sealed: Vec::new(),
        deliver_after: None,
        violation: violation.map(|(counts, scope)| Violation { scope, counts, rules: vec!["test.rule".to_owned()] }),
    }
}

/// Commits one record as the pipeline would; returns its tracking code.
async fn commit(store: &Store, record: NewRecord) -> String {
    let code = record.tracking_code.clone();
    store.commit_processed(Processed { records: vec![record], ..Processed::default() }).await.unwrap();
    code
}

async fn violate(store: &Store, reporter: &str, scope: ViolationScope, at: DateTime<Utc>) -> String {
    let kind = if scope == ViolationScope::Report { Kind::Report } else { Kind::Interaction };
    commit(store, record(reporter, kind, at, Some((true, scope)))).await
}

async fn sanctions(store: &Store, reporter: &str) -> ReporterSanctions {
    store.reporter_sanctions(reporter).await.unwrap().expect("the reporter has sanctions")
}

fn events(s: &ReporterSanctions, action: EventAction) -> Vec<&super::sanctions::SanctionEvent> {
    s.events.iter().filter(|e| e.action == action).collect()
}

fn change(actor: &str, why: &str, at: DateTime<Utc>) -> Change {
    Change { actor: actor.to_owned(), why: why.to_owned(), at }
}

/// Commits `days` as violations waiting for review (the gateway was unsure), then confirms
/// them in `order` (indexes into `days`), change `k` at `confirm_at(k)`; returns the
/// violation ids by index of `days`.
async fn confirm_in_order(
    store: &Store,
    reporter: &str,
    scope: ViolationScope,
    days: &[i64],
    order: &[usize],
    confirm_at: impl Fn(usize) -> DateTime<Utc>,
) -> Vec<i64> {
    let kind = if scope == ViolationScope::Report { Kind::Report } else { Kind::Interaction };
    for d in days {
        commit(store, record(reporter, kind, day(*d), Some((false, scope)))).await;
    }
    let s = sanctions(store, reporter).await;
    let ids: Vec<i64> = days.iter().map(|d| s.violations.iter().find(|v| v.at == day(*d)).unwrap().id).collect();
    for (k, i) in order.iter().enumerate() {
        store.confirm_violation(ids[*i], change("lan", "checked", confirm_at(k))).await.unwrap();
    }
    ids
}

both_backends! {
async fn r12_the_fourth_counted_report_violation_locks_the_account_without_end(backend) {
    let (_dir, store) = open(backend).await;
    for n in 1..=3 {
        violate(&store, "rp_a", ViolationScope::Report, day(n * 100)).await;
    }
    let before = store.standing("rp_a", day(400)).await.unwrap();
    assert!(!before.account_locked, "3 violations do not lock (more than 3 does)");
    assert_eq!(before.report_violations, 3, "report violations count for life, across 300 days");
    violate(&store, "rp_a", ViolationScope::Report, day(400)).await;
    let after = store.standing("rp_a", day(400)).await.unwrap();
    assert!(after.account_locked && !after.interaction_locked);
    assert!(store.standing("rp_a", day(4000)).await.unwrap().account_locked, "no end date");

    // A violation of a locked account is kept but locks nothing again.
    violate(&store, "rp_a", ViolationScope::Report, day(401)).await;
    let s = sanctions(&store, "rp_a").await;
    let locks = events(&s, EventAction::Lock);
    assert_eq!(locks.len(), 1);
    let fourth = s.violations.iter().rev().nth(3).unwrap();
    assert_eq!(locks[0].violation_id, Some(fourth.id));
    assert_eq!(s.standing.account_lock_violation, Some(fourth.id));
    assert_eq!((locks[0].scope, locks[0].actor.as_str()), (Some(LockScope::Account), "gateway"));
    assert_eq!(s.standing.report_violations, 5);
    assert_eq!(events(&s, EventAction::Violation).len(), 5, "every violation has its event");
    assert!(s.events.iter().all(|e| !e.why.is_empty() && !e.actor.is_empty()));

    let listed = store.list_sanctions(&SanctionFilter { locked: true, ..SanctionFilter::default() }).await.unwrap();
    assert_eq!(listed.iter().map(|r| r.reporter_ref.as_str()).collect::<Vec<_>>(), ["rp_a"]);
}

async fn r12_interaction_violations_count_over_a_rolling_30_days_and_lock_for_30_days(backend) {
    let (_dir, store) = open(backend).await;
    for d in [0, 10, 20, 31] {
        violate(&store, "rp_i", ViolationScope::Interaction, day(d)).await;
    }
    let s = store.standing("rp_i", day(31)).await.unwrap();
    assert_eq!(s.interaction_violations, 3, "day 0 left the 30-day window ending on day 31");
    assert!(!s.interaction_locked);

    // Day 35: days 10, 20, 31 and 35 lie within 30 days: the 4th locks for 30 days from it.
    violate(&store, "rp_i", ViolationScope::Interaction, day(35)).await;
    assert!(store.standing("rp_i", day(35)).await.unwrap().interaction_locked);
    assert!(store.standing("rp_i", day(65) - Duration::seconds(1)).await.unwrap().interaction_locked);
    assert!(!store.standing("rp_i", day(65)).await.unwrap().interaction_locked, "the lock ends after 30 days");
    assert!(!store.standing("rp_i", day(40)).await.unwrap().account_locked, "interactions lock only interactions");

    // A violation while interactions are locked is counted but does not extend the lock.
    violate(&store, "rp_i", ViolationScope::Interaction, day(40)).await;
    let s = sanctions(&store, "rp_i").await;
    assert_eq!(s.standing.interaction_locked_until, Some(day(65)));
    assert_eq!(events(&s, EventAction::Lock).len(), 1);
    // (day 10, day 40]: days 20, 31, 35 and 40.
    assert_eq!(store.standing("rp_i", day(40)).await.unwrap().interaction_violations, 4);
}

async fn r12_review_violations_count_only_once_confirmed(backend) {
    let (_dir, store) = open(backend).await;
    for n in 0..3 {
        violate(&store, "rp_r", ViolationScope::Report, day(n)).await;
    }
    commit(&store, record("rp_r", Kind::Report, day(3), Some((false, ViolationScope::Report)))).await;
    let s = sanctions(&store, "rp_r").await;
    assert!(!s.standing.account_locked, "a violation waiting for review never counts");
    assert_eq!((s.standing.report_violations, s.standing.review_violations), (3, 1));
    let review = s.violations.iter().find(|v| v.state == ViolationState::Review).unwrap().id;
    let listed = store.list_sanctions(&SanctionFilter { review: true, ..SanctionFilter::default() }).await.unwrap();
    assert_eq!(listed.len(), 1);

    let confirmed = store.confirm_violation(review, change("lan", "offensive, checked", day(5))).await.unwrap();
    assert_eq!(confirmed.violation.unwrap().state, ViolationState::Counted);
    assert!(confirmed.standing.account_locked, "confirmed, it is the 4th");
    assert_eq!(confirmed.standing.account_lock_violation, Some(review));
    let s = sanctions(&store, "rp_r").await;
    let confirm = events(&s, EventAction::Confirm);
    assert_eq!((confirm[0].actor.as_str(), confirm[0].why.as_str()), ("lan", "offensive, checked"));
    assert_eq!(events(&s, EventAction::Lock)[0].actor, "lan");
    assert!(matches!(
        store.confirm_violation(review, change("lan", "again", day(6))).await,
        Err(SanctionError::Conflict(_))
    ));
}

async fn r12_dismissing_a_counted_violation_below_four_lifts_the_lock_it_caused(backend) {
    let (_dir, store) = open(backend).await;
    for n in 0..4 {
        violate(&store, "rp_d", ViolationScope::Report, day(n)).await;
    }
    let s = sanctions(&store, "rp_d").await;
    assert!(s.standing.account_locked);
    let first = s.violations.last().unwrap().id;
    let dismissed = store.dismiss_violation(first, change("minh", "not abusive", day(5))).await.unwrap();
    assert!(!dismissed.standing.account_locked, "3 counted remain: the lock goes");
    assert_eq!(dismissed.standing.report_violations, 3);
    let s = sanctions(&store, "rp_d").await;
    let lifts = events(&s, EventAction::Lift);
    assert_eq!(lifts.len(), 1);
    assert_eq!((lifts[0].actor.as_str(), lifts[0].scope), ("minh", Some(LockScope::Account)));
    assert!(lifts[0].why.contains("automatic"));
    assert_eq!(events(&s, EventAction::Dismiss)[0].why, "not abusive");
    assert!(matches!(
        store.dismiss_violation(first, change("minh", "twice", day(6))).await,
        Err(SanctionError::Conflict(_))
    ));
    // The automatic lift did not reset the counting start: the next violation is the 4th.
    violate(&store, "rp_d", ViolationScope::Report, day(7)).await;
    assert!(store.standing("rp_d", day(7)).await.unwrap().account_locked);

    // Interactions: the count in the window of the lock decides.
    for d in [0, 1, 2, 3] {
        violate(&store, "rp_e", ViolationScope::Interaction, day(d)).await;
    }
    assert!(store.standing("rp_e", day(4)).await.unwrap().interaction_locked);
    let id = sanctions(&store, "rp_e").await.violations[0].id;
    let dismissed = store.dismiss_violation(id, change("minh", "quoted someone", day(4))).await.unwrap();
    assert!(!dismissed.standing.interaction_locked);
    assert!(!store.standing("rp_e", day(4)).await.unwrap().interaction_locked);
}

async fn r12_a_lift_records_who_and_why_and_restarts_the_count(backend) {
    let (_dir, store) = open(backend).await;
    for n in 0..4 {
        violate(&store, "rp_l", ViolationScope::Report, day(n)).await;
    }
    let lifted = store.lift("rp_l", LockScope::Account, change("lan", "apologised by phone", day(10))).await.unwrap();
    assert!(!lifted.standing.account_locked);
    assert_eq!(lifted.standing.report_violations, 0);
    assert_eq!(lifted.standing.last_account_lift_at, Some(day(10)));
    let s = sanctions(&store, "rp_l").await;
    let lift = events(&s, EventAction::Lift);
    assert_eq!((lift[0].actor.as_str(), lift[0].why.as_str()), ("lan", "apologised by phone"));
    assert_eq!(lift[0].at, day(10));

    // Sent before the lift (processed after it): forgiven with the rest.
    violate(&store, "rp_l", ViolationScope::Report, day(9)).await;
    assert_eq!(store.standing("rp_l", day(11)).await.unwrap().report_violations, 0);
    for n in 11..14 {
        violate(&store, "rp_l", ViolationScope::Report, day(n)).await;
    }
    assert!(!store.standing("rp_l", day(14)).await.unwrap().account_locked, "3 since the lift");
    violate(&store, "rp_l", ViolationScope::Report, day(14)).await;
    assert!(store.standing("rp_l", day(14)).await.unwrap().account_locked, "the 4th since the lift");

    assert!(matches!(
        store.lift("rp_nobody", LockScope::Account, change("lan", "x", day(1))).await,
        Err(SanctionError::NotFound(_))
    ));
}

async fn r12_recommitting_a_batch_counts_nothing_twice(backend) {
    let (_dir, store) = open(backend).await;
    let batch = Processed {
        records: (0..4).map(|n| record("rp_x", Kind::Report, day(n), Some((true, ViolationScope::Report)))).collect(),
        ..Processed::default()
    };
    store.commit_processed(batch.clone()).await.unwrap();
    store.commit_processed(batch).await.unwrap();
    let s = sanctions(&store, "rp_x").await;
    assert_eq!(s.violations.len(), 4);
    assert_eq!(s.standing.report_violations, 4);
    assert_eq!(events(&s, EventAction::Lock).len(), 1);
    assert_eq!(events(&s, EventAction::Violation).len(), 4);
}

async fn r12_a_record_counts_once_across_sources(backend) {
    let (_dir, store) = open(backend).await;
    let code = commit(&store, record("rp_o", Kind::Report, day(0), Some((false, ViolationScope::Report)))).await;
    let reported =
        store.report_violation(&code, ViolationSource::CaseSystem, change("case", "abusive", day(1))).await.unwrap();
    assert!(!reported.created, "the gateway's review violation is confirmed, not doubled");
    assert_eq!(reported.violation.as_ref().unwrap().source, ViolationSource::Gateway);
    assert_eq!(reported.standing.report_violations, 1);
    let again = store.report_violation(&code, ViolationSource::Staff, change("lan", "abusive", day(2))).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.standing.report_violations, 1);
    assert_eq!(sanctions(&store, "rp_o").await.violations.len(), 1);

    let unknown = store.report_violation("HUE-0000-0000", ViolationSource::Staff, change("lan", "x", day(1))).await;
    assert!(matches!(unknown, Err(SanctionError::NotFound(_))));
    assert!(matches!(store.confirm_violation(999, change("lan", "x", day(1))).await, Err(SanctionError::NotFound(_))));
}

async fn r12_concurrent_violations_of_one_reporter_serialise_into_one_lock_at_the_fourth(backend) {
    let (_dir, store) = open(backend).await;
    let mut codes = Vec::new();
    for n in 0..10 {
        codes.push(commit(&store, record("rp_c", Kind::Report, day(n), None)).await);
    }
    let tasks: Vec<_> = codes
        .into_iter()
        .map(|code| {
            let store = store.clone();
            tokio::spawn(async move {
                store.report_violation(&code, ViolationSource::CaseSystem, Change::now("case", "abusive")).await
            })
        })
        .collect();
    let mut locked_answers = 0;
    for task in tasks {
        let change = task.await.unwrap().unwrap();
        assert!(change.created);
        locked_answers += usize::from(change.standing.account_locked);
    }
    assert_eq!(locked_answers, 7, "the 4th to the 10th saw the lock; the first three did not");
    let s = sanctions(&store, "rp_c").await;
    assert_eq!(s.violations.len(), 10);
    assert_eq!(s.standing.report_violations, 10);
    let locks = events(&s, EventAction::Lock);
    assert_eq!(locks.len(), 1, "exactly one lock");
    // Whatever order the writer applied them in, the lock is the 4th in time (R12 counts
    // facts, not the order of changes): the violation received on day 3.
    let fourth = s.violations.iter().find(|v| v.at == day(3)).unwrap().id;
    assert_eq!(locks[0].violation_id, Some(fourth));
    assert_eq!(s.standing.account_lock_violation, Some(fourth));
}

async fn r12_interaction_lock_is_the_same_whatever_order_staff_confirm_in(backend) {
    let (_dir, store) = open(backend).await;
    // Sent on days 1-4, confirmed on day 5 (an hour apart) in several orders; newest first
    // (4321) is the order the admin API lists them in.
    for order in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]] {
        let reporter = format!("rp_o{}", order.iter().map(|i| i.to_string()).collect::<String>());
        let confirm_at = |k: usize| day(5) + Duration::hours(k as i64);
        let ids =
            confirm_in_order(&store, &reporter, ViolationScope::Interaction, &[1, 2, 3, 4], &order, confirm_at).await;
        let s = sanctions(&store, &reporter).await;
        assert_eq!(s.standing.interaction_locked_until, Some(day(34)), "order {order:?}");
        assert_eq!(s.standing.interaction_lock_violation, Some(ids[3]), "the 4th in time, order {order:?}");
        assert!(store.standing(&reporter, day(6)).await.unwrap().interaction_locked, "order {order:?}");
        assert!(!store.standing(&reporter, day(34)).await.unwrap().interaction_locked, "order {order:?}");
        let locks = events(&s, EventAction::Lock);
        assert_eq!(locks.len(), 1, "order {order:?}");
        assert_eq!((locks[0].violation_id, locks[0].actor.as_str()), (Some(ids[3]), "lan"));
        assert_eq!(locks[0].at, confirm_at(3), "locked by the change that completed the four");
    }
}

async fn r12_account_lock_is_the_same_whatever_order_staff_confirm_in(backend) {
    let (_dir, store) = open(backend).await;
    // Report violations count for life: days 0-400, confirmed on day 500 in several orders.
    let days = [0, 100, 200, 300, 400];
    for order in [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [1, 4, 0, 3, 2]] {
        let reporter = format!("rp_a{}", order.iter().map(|i| i.to_string()).collect::<String>());
        let confirm_at = |k: usize| day(500) + Duration::hours(k as i64);
        let ids = confirm_in_order(&store, &reporter, ViolationScope::Report, &days, &order, confirm_at).await;
        let s = sanctions(&store, &reporter).await;
        assert!(s.standing.account_locked, "order {order:?}");
        assert_eq!(s.standing.account_lock_violation, Some(ids[3]), "the 4th in time, order {order:?}");
        assert_eq!(s.standing.account_locked_at, Some(confirm_at(3)), "order {order:?}");
        assert_eq!(s.standing.report_violations, 5);
        // The audit keeps what was the 4th when the lock began (one lock, by the 4th change);
        // the standing follows the facts as they are now.
        let locks = events(&s, EventAction::Lock);
        assert_eq!(locks.len(), 1, "order {order:?}");
        assert_eq!(locks[0].at, confirm_at(3), "order {order:?}");
    }
}

async fn r12_interactions_lock_again_after_the_first_lock_has_ended(backend) {
    let (_dir, store) = open(backend).await;
    for d in [1, 2, 3, 4] {
        violate(&store, "rp_2", ViolationScope::Interaction, day(d)).await;
    }
    assert_eq!(store.standing("rp_2", day(4)).await.unwrap().interaction_violations, 4);
    // During the lock (to day 34): counted, no extension.
    for d in [10, 20, 33] {
        violate(&store, "rp_2", ViolationScope::Interaction, day(d)).await;
    }
    let s = sanctions(&store, "rp_2").await;
    assert_eq!(s.standing.interaction_locked_until, Some(day(34)));
    assert_eq!(events(&s, EventAction::Lock).len(), 1);
    assert!(!store.standing("rp_2", day(34)).await.unwrap().interaction_locked, "the first lock has ended");
    // Day 34: 10, 20, 33 and 34 within 30 days, and no lock in force: locked again to day 64.
    violate(&store, "rp_2", ViolationScope::Interaction, day(34)).await;
    let s = sanctions(&store, "rp_2").await;
    assert_eq!(s.standing.interaction_locked_until, Some(day(64)));
    let fourth = s.violations.iter().find(|v| v.at == day(34)).unwrap().id;
    assert_eq!(s.standing.interaction_lock_violation, Some(fourth));
    let locks = events(&s, EventAction::Lock);
    assert_eq!(locks.len(), 2);
    assert_eq!(locks[0].violation_id, Some(fourth), "newest first");
    assert!(store.standing("rp_2", day(63)).await.unwrap().interaction_locked);
    assert!(!store.standing("rp_2", day(64)).await.unwrap().interaction_locked);
}

async fn r12_dismissing_the_fourth_moves_the_interaction_lock_to_a_later_window_that_still_holds_four(backend) {
    let (_dir, store) = open(backend).await;
    for d in [0, 1, 2, 3, 10] {
        violate(&store, "rp_w", ViolationScope::Interaction, day(d)).await;
    }
    let s = sanctions(&store, "rp_w").await;
    assert_eq!(s.standing.interaction_locked_until, Some(day(33)), "days 0-3; day 10 does not extend it");
    let id_of = |s: &ReporterSanctions, d: i64| s.violations.iter().find(|v| v.at == day(d)).unwrap().id;
    assert_eq!(s.standing.interaction_lock_violation, Some(id_of(&s, 3)));

    // Day 3 was no violation: 0, 1, 2 and 10 are still 4 within 30 days; the lock follows them.
    let dismissed = store.dismiss_violation(id_of(&s, 3), change("minh", "quoted someone", day(11))).await.unwrap();
    assert!(dismissed.standing.interaction_locked);
    assert_eq!(dismissed.standing.interaction_locked_until, Some(day(40)));
    assert_eq!(dismissed.standing.interaction_lock_violation, Some(id_of(&s, 10)));
    let after = sanctions(&store, "rp_w").await;
    let locks = events(&after, EventAction::Lock);
    assert_eq!(locks.len(), 2);
    assert_eq!((locks[0].actor.as_str(), locks[0].violation_id), ("minh", Some(id_of(&s, 10))));
    assert!(events(&after, EventAction::Lift).is_empty(), "the lock never stopped");
    assert!(store.standing("rp_w", day(39)).await.unwrap().interaction_locked);

    // Day 0 too: no 30 days hold 4 any more; the lock is lifted in the dismissing actor's name.
    let dismissed = store.dismiss_violation(id_of(&s, 0), change("minh", "a quote again", day(12))).await.unwrap();
    assert!(!dismissed.standing.interaction_locked);
    assert_eq!(dismissed.standing.interaction_locked_until, None);
    let after = sanctions(&store, "rp_w").await;
    let lifts = events(&after, EventAction::Lift);
    assert_eq!(lifts.len(), 1);
    assert_eq!((lifts[0].actor.as_str(), lifts[0].scope), ("minh", Some(LockScope::Interaction)));
    assert!(lifts[0].why.contains("automatic"));
}

async fn r12_updated_at_is_when_the_change_was_committed_so_the_list_is_most_recently_changed_first(backend) {
    let (_dir, store) = open(backend).await;
    // Stored times have microseconds.
    let before = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
    // A fresh message, then one received long before it that waited in a backlog.
    violate(&store, "rp_b_fresh", ViolationScope::Report, before - Duration::minutes(1)).await;
    violate(&store, "rp_a_backlog", ViolationScope::Report, before - Duration::days(2)).await;
    let listed = store.list_sanctions(&SanctionFilter::default()).await.unwrap();
    let order: Vec<&str> = listed.iter().map(|r| r.reporter_ref.as_str()).collect();
    assert_eq!(order, ["rp_a_backlog", "rp_b_fresh"], "the backlog's change is the most recent");
    let backlog = &listed[0];
    assert!(backlog.updated_at >= before, "the writer's clock, not the receive time");
    assert!(backlog.updated_at >= listed[1].updated_at);
    // The violation itself keeps its receive time, for counting.
    let s = sanctions(&store, "rp_a_backlog").await;
    assert_eq!(s.violations[0].at, before - Duration::days(2));
}
}
