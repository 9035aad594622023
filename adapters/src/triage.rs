//! The regulation engine's decisions as pure functions: urgency, the night window (R2),
//! completeness (R4, R6), scope (R5), improper language and sanctions (R12), the category hint
//! (SPEC §6) and the precedence of dispositions (SPEC §8).
//!
//! This module decides; it never fetches. The text rules live in their own modules
//! ([`crate::urgency`], [`crate::scope`], [`crate::improper`], [`crate::category`]); state that
//! only the service holds (a reporter's violations and locks, R12) arrives as [`Standing`].

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use hue_intake_schemas::{
    Category, Disposition, DispositionReason, DispositionState, Kind, MissingField, Scope, Triage, Urgency,
    UrgencyLevel, Window,
};
use serde::{Deserialize, Serialize};

use crate::keys::Keyed;

/// The intake-hours rule (R2) as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Local start of the night window (inclusive); R2 says 00:00.
    pub night_start: NaiveTime,
    /// Local end of the night window (exclusive); R2 says 07:30.
    pub night_end: NaiveTime,
    /// The city's zone; R2 says Asia/Ho_Chi_Minh (UTC+7, no daylight saving).
    pub zone: Tz,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            night_start: NaiveTime::from_hms_opt(0, 0, 0).expect("valid time"),
            night_end: NaiveTime::from_hms_opt(7, 30, 0).expect("valid time"),
            zone: chrono_tz::Asia::Ho_Chi_Minh,
        }
    }
}

impl Rules {
    /// Is `at` inside [night_start, night_end) local time? An empty window (start == end)
    /// never is; a window that wraps midnight (start > end) is handled.
    pub fn is_night(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.zone).time();
        match self.night_start.cmp(&self.night_end) {
            std::cmp::Ordering::Equal => false,
            std::cmp::Ordering::Less => local >= self.night_start && local < self.night_end,
            std::cmp::Ordering::Greater => local >= self.night_start || local < self.night_end,
        }
    }

    pub fn window(&self, at: DateTime<Utc>) -> Window {
        if self.is_night(at) { Window::Night } else { Window::Day }
    }

    /// The end of the night window that contains `at`: when a deferred report goes downstream.
    pub fn night_ends_after(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let local = at.with_timezone(&self.zone);
        let mut day = local.date_naive();
        if local.time() >= self.night_end {
            // Only reachable for a window that wraps midnight: the end is tomorrow morning.
            day += Duration::days(1);
        }
        let end = day.and_time(self.night_end);
        self.zone.from_local_datetime(&end).earliest().expect("Asia/Ho_Chi_Minh has no gaps").with_timezone(&Utc)
    }
}

/// R12: the violation that locks (the 4th: "more than 3 times").
pub const LOCK_AT_VIOLATION: u32 = 4;
/// R12: interaction violations count over a rolling month, and lock interactions for a month.
pub const INTERACTION_WINDOW_DAYS: i64 = 30;
pub const INTERACTION_LOCK_DAYS: i64 = 30;

/// A reporter's standing under R12 as the service knew it when the message arrived. It is
/// stored with the message so that re-processing gives the same record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Standing {
    /// The account is locked: every report is refused (`account_locked`).
    pub account_locked: bool,
    /// Interactions are locked (30 days after the 4th violation in 30 days).
    pub interaction_locked: bool,
    /// Counted report violations since the last lift.
    pub report_violations: u32,
    /// Counted interaction violations in the last 30 days.
    pub interaction_violations: u32,
}

/// Which R12 counter a violation goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationScope {
    Report,
    Interaction,
}

impl ViolationScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationScope::Report => "report",
            ViolationScope::Interaction => "interaction",
        }
    }

    pub fn of(kind: Kind) -> Self {
        if kind == Kind::Report { ViolationScope::Report } else { ViolationScope::Interaction }
    }
}

/// Improper language found in a record (R12), for the service to count or queue for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub scope: ViolationScope,
    /// A strong form: counts towards the lock. Otherwise it waits for staff to confirm it.
    pub counts: bool,
    /// Lexicon rule ids (never the words themselves).
    pub rules: Vec<String>,
}

/// Who said a report is urgent, if anyone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UrgentFlag {
    #[default]
    None,
    /// The reporter's own flag (app, portal): one signal among others.
    Reporter(bool),
    /// A call-centre operator's judgement: authoritative.
    Operator(bool),
}

/// What the triage stage knows about one record.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub kind: Kind,
    pub received_at: DateTime<Utc>,
    /// The record's text as stored (cleaned, personal data masked): title and description.
    pub text: &'a str,
    pub urgent_flag: UrgentFlag,
    pub has_description: bool,
    pub has_location: bool,
    pub has_time: bool,
    pub has_name: bool,
    pub has_phone: bool,
    pub has_email: bool,
    pub standing: Standing,
}

/// The triage, urgency and disposition of a record, with what the service must act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub urgency: Urgency,
    pub triage: Triage,
    pub disposition: Disposition,
    /// The category hint from keywords, when any (SPEC §6).
    pub category: Option<Category>,
    /// Improper language to count or review (R12); `None` when there is none, or when the
    /// account is already locked (nothing more to count).
    pub violation: Option<Violation>,
    /// The rule that decided the disposition, for the debug log (never text).
    pub rule: &'static str,
}

/// Applies the rules in the precedence of SPEC §8.
pub fn assess(rules: &Rules, facts: &Facts<'_>) -> Outcome {
    let keyed = Keyed::new(facts.text);
    let window = rules.window(facts.received_at);
    let urgency = crate::urgency::assess(&keyed, facts.urgent_flag);
    let improper = crate::improper::assess(&keyed);
    // R5 is about what a field report may be; an interaction answers a report already taken.
    let scope = if facts.kind == Kind::Report { crate::scope::of_report(&keyed, &urgency) } else { None };
    let mut missing = Vec::new();
    if facts.kind == Kind::Report {
        for (present, field) in [
            (facts.has_description, MissingField::Description),
            (facts.has_location, MissingField::Location),
            (facts.has_time, MissingField::Time),
            (facts.has_name, MissingField::Name),
            (facts.has_phone, MissingField::Phone),
            (facts.has_email, MissingField::Email),
        ] {
            if !present {
                missing.push(field);
            }
        }
    }
    let triage = Triage {
        window,
        scope: if scope.is_some() { Scope::OutOfScope } else { Scope::InScope },
        scope_reason: scope,
        improper_language: improper.counts,
        missing,
    };
    let violation = (!facts.standing.account_locked && (improper.counts || improper.review)).then(|| Violation {
        scope: ViolationScope::of(facts.kind),
        counts: improper.counts,
        rules: improper.rules.clone(),
    });
    let (disposition, rule) = decide(rules, facts, &urgency, &triage);
    let category = if facts.kind == Kind::Report { crate::category::hint(&keyed) } else { None };
    Outcome { urgency, triage, disposition, category, violation, rule }
}

fn decide(rules: &Rules, facts: &Facts<'_>, urgency: &Urgency, triage: &Triage) -> (Disposition, &'static str) {
    let state = |state, reason| Disposition { state, reason, deliver_after: None };
    let rejected = |reason| state(DispositionState::Rejected, Some(reason));
    if facts.standing.account_locked {
        return (rejected(DispositionReason::AccountLocked), "R12 account locked");
    }
    if facts.kind != Kind::Report && facts.standing.interaction_locked {
        return (rejected(DispositionReason::InteractionLocked), "R12 interactions locked");
    }
    if triage.improper_language {
        return (rejected(DispositionReason::ImproperLanguage), "R12 improper language");
    }
    if triage.scope == Scope::OutOfScope {
        return (rejected(DispositionReason::OutOfScope), "R5 out of scope");
    }
    // Interactions and ratings answer a report that is already in the case system; R2's
    // window governs new reports only, so they go through at once.
    if facts.kind != Kind::Report {
        return (state(DispositionState::Accepted, None), "R10 interaction");
    }
    if urgency.level == UrgencyLevel::Immediate {
        return (state(DispositionState::Accepted, None), "R2 urgent");
    }
    // R6: name, phone and email never change the disposition by themselves.
    let lacks_essentials = triage
        .missing
        .iter()
        .any(|m| matches!(m, MissingField::Description | MissingField::Location | MissingField::Time));
    if lacks_essentials {
        return (state(DispositionState::Incomplete, Some(DispositionReason::MissingInformation)), "R4 incomplete");
    }
    if triage.window == Window::Night {
        return (
            Disposition {
                state: DispositionState::Deferred,
                reason: Some(DispositionReason::NightNonUrgent),
                deliver_after: Some(rules.night_ends_after(facts.received_at)),
            },
            "R2 night deferred",
        );
    }
    (state(DispositionState::Accepted, None), "accepted")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn complete_report(at: &str) -> Facts<'static> {
        Facts {
            kind: Kind::Report,
            received_at: utc(at),
            text: "Đèn đường hỏng trước nhà số 5 Lê Lợi",
            urgent_flag: UrgentFlag::None,
            standing: Standing::default(),
            has_description: true,
            has_location: true,
            has_time: true,
            has_name: false,
            has_phone: false,
            has_email: false,
        }
    }

    #[test]
    fn r2_window_boundaries_in_local_time() {
        let rules = Rules::default();
        // 00:00 local is 17:00 UTC the day before.
        assert!(!rules.is_night(utc("2026-11-28T16:59:59Z")), "23:59:59 is day");
        assert!(rules.is_night(utc("2026-11-28T17:00:00Z")), "00:00:00 is night");
        assert!(rules.is_night(utc("2026-11-29T00:29:59Z")), "07:29:59 is night");
        assert!(!rules.is_night(utc("2026-11-29T00:30:00Z")), "07:30:00 is day");
    }

    #[test]
    fn r2_deferred_until_0730_local_that_morning() {
        let out = assess(&Rules::default(), &complete_report("2026-11-28T18:12:03Z"));
        assert_eq!(out.disposition.state, DispositionState::Deferred);
        assert_eq!(out.disposition.reason, Some(DispositionReason::NightNonUrgent));
        assert_eq!(out.disposition.deliver_after, Some(utc("2026-11-29T00:30:00Z")));
        assert_eq!(out.triage.window, Window::Night);
    }

    #[test]
    fn r4_missing_place_makes_a_report_incomplete_even_at_night() {
        let mut facts = complete_report("2026-11-28T18:12:03Z");
        facts.has_location = false;
        let out = assess(&Rules::default(), &facts);
        assert_eq!(out.disposition.state, DispositionState::Incomplete);
        assert!(out.triage.missing.contains(&MissingField::Location));
    }

    #[test]
    fn r6_missing_identity_alone_keeps_a_day_report_accepted() {
        let out = assess(&Rules::default(), &complete_report("2026-11-29T03:00:00Z"));
        assert_eq!(out.disposition.state, DispositionState::Accepted);
        assert_eq!(out.triage.missing, vec![MissingField::Name, MissingField::Phone, MissingField::Email]);
    }

    #[test]
    fn interactions_are_not_deferred_and_list_nothing_missing() {
        let mut facts = complete_report("2026-11-28T18:12:03Z");
        facts.kind = Kind::Interaction;
        facts.has_location = false;
        let out = assess(&Rules::default(), &facts);
        assert_eq!(out.disposition.state, DispositionState::Accepted);
        assert!(out.triage.missing.is_empty());
    }

    #[test]
    fn an_empty_window_is_never_night_and_a_wrapping_one_works() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let off = Rules { night_start: t(0, 0), night_end: t(0, 0), ..Rules::default() };
        assert!(!off.is_night(utc("2026-11-28T18:00:00Z")));
        let wrap = Rules { night_start: t(22, 0), night_end: t(6, 0), ..Rules::default() };
        assert!(wrap.is_night(utc("2026-11-28T15:30:00Z")), "22:30 local");
        assert!(!wrap.is_night(utc("2026-11-28T23:30:00Z")), "06:30 local");
        assert_eq!(wrap.night_ends_after(utc("2026-11-28T15:30:00Z")), utc("2026-11-28T23:00:00Z"));
    }

    #[test]
    fn r2_dispositions_at_the_four_boundaries_of_the_night_window() {
        for (at, state) in [
            ("2026-11-28T16:59:59Z", DispositionState::Accepted), // 23:59:59 local
            ("2026-11-28T17:00:00Z", DispositionState::Deferred), // 00:00:00
            ("2026-11-29T00:29:59Z", DispositionState::Deferred), // 07:29:59
            ("2026-11-29T00:30:00Z", DispositionState::Accepted), // 07:30:00
        ] {
            let out = assess(&Rules::default(), &complete_report(at));
            assert_eq!(out.disposition.state, state, "{at}");
            if state == DispositionState::Deferred {
                assert_eq!(out.disposition.deliver_after, Some(utc("2026-11-29T00:30:00Z")), "{at}");
            }
        }
    }

    #[test]
    fn r2_an_urgent_report_at_night_is_accepted_at_once_even_with_missing_items() {
        let mut facts = complete_report("2026-11-28T18:12:03Z");
        facts.text = "Cháy nhà ở kiệt 12 Nguyễn Trãi, còn người bên trong";
        facts.has_location = false;
        let out = assess(&Rules::default(), &facts);
        assert_eq!(out.urgency.level, UrgencyLevel::Immediate);
        assert_eq!(out.disposition.state, DispositionState::Accepted);
        assert!(out.triage.missing.contains(&MissingField::Location), "it still says what is missing");
    }

    #[test]
    fn r5_out_of_scope_is_rejected_with_its_reason_and_r12_locks_come_first() {
        let mut facts = complete_report("2026-11-29T03:00:00Z");
        facts.text = "Tôi muốn khiếu nại quyết định thu hồi đất của phường";
        let out = assess(&Rules::default(), &facts);
        assert_eq!(out.triage.scope, Scope::OutOfScope);
        assert_eq!(out.triage.scope_reason, Some(hue_intake_schemas::ScopeReason::Complaint));
        assert_eq!(out.disposition.reason, Some(DispositionReason::OutOfScope));
        assert_eq!(out.rule, "R5 out of scope");

        facts.standing.account_locked = true;
        let out = assess(&Rules::default(), &facts);
        assert_eq!(out.disposition.reason, Some(DispositionReason::AccountLocked));
        assert_eq!(out.violation, None, "a locked account has nothing more to count");
    }

    #[test]
    fn r12_locked_interactions_refuse_interactions_but_not_reports() {
        let mut facts = complete_report("2026-11-29T03:00:00Z");
        facts.standing.interaction_locked = true;
        assert_eq!(assess(&Rules::default(), &facts).disposition.state, DispositionState::Accepted);
        facts.kind = Kind::Interaction;
        assert_eq!(assess(&Rules::default(), &facts).disposition.reason, Some(DispositionReason::InteractionLocked));
    }

    #[test]
    fn the_category_hint_comes_from_the_text() {
        let out = assess(&Rules::default(), &complete_report("2026-11-29T03:00:00Z"));
        assert_eq!(out.category.map(|c| c.code), Some(hue_intake_schemas::CategoryCode::LightingPower));
    }
}
