//! The regulation as pure functions: the night window (R2), completeness (R4, R6) and the
//! precedence of dispositions (SPEC §8).
//!
//! This module decides; it never fetches. Facts that need state (sanctions, R12) arrive as
//! inputs. The full engine (urgency keywords, scope, improper language) grows here in its own
//! issue; until then urgency is `normal` and every report is in scope.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use hue_intake_schemas::{
    Disposition, DispositionReason, DispositionState, Kind, MissingField, Scope, Triage, Urgency, UrgencyLevel, Window,
};

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

/// What the triage stage knows about one record.
#[derive(Debug, Clone)]
pub struct Facts {
    pub kind: Kind,
    pub received_at: DateTime<Utc>,
    pub has_description: bool,
    pub has_location: bool,
    pub has_time: bool,
    pub has_name: bool,
    pub has_phone: bool,
    pub has_email: bool,
}

/// The triage, urgency and disposition of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub urgency: Urgency,
    pub triage: Triage,
    pub disposition: Disposition,
}

/// Applies R2, R4 and R6 in the precedence of SPEC §8.
pub fn assess(rules: &Rules, facts: &Facts) -> Outcome {
    let window = rules.window(facts.received_at);
    let urgency = Urgency { level: UrgencyLevel::Normal, signals: Vec::new() };
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
    let triage = Triage { window, scope: Scope::InScope, scope_reason: None, improper_language: false, missing };
    let disposition = decide(rules, facts, &urgency, &triage);
    Outcome { urgency, triage, disposition }
}

fn decide(rules: &Rules, facts: &Facts, urgency: &Urgency, triage: &Triage) -> Disposition {
    let accepted = Disposition { state: DispositionState::Accepted, reason: None, deliver_after: None };
    // Interactions and ratings answer a report that is already in the case system; R2's
    // window governs new reports only, so they go through at once.
    if facts.kind != Kind::Report || urgency.level == UrgencyLevel::Immediate {
        return accepted;
    }
    // R6: name, phone and email never change the disposition by themselves.
    let lacks_essentials = triage
        .missing
        .iter()
        .any(|m| matches!(m, MissingField::Description | MissingField::Location | MissingField::Time));
    if lacks_essentials {
        return Disposition {
            state: DispositionState::Incomplete,
            reason: Some(DispositionReason::MissingInformation),
            deliver_after: None,
        };
    }
    if triage.window == Window::Night {
        return Disposition {
            state: DispositionState::Deferred,
            reason: Some(DispositionReason::NightNonUrgent),
            deliver_after: Some(rules.night_ends_after(facts.received_at)),
        };
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn complete_report(at: &str) -> Facts {
        Facts {
            kind: Kind::Report,
            received_at: utc(at),
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
}
