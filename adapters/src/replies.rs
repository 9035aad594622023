//! The words the gateway says to citizens (R3): acknowledgements, questions, refusals and
//! notices, composed from the record and chosen by its language.
//!
//! The texts live in `adapters/rules/replies.toml`, in Vietnamese and English, for
//! non-programmers to review and edit; this module only picks the parts that apply and fills
//! in their placeholders. A record in Vietnamese gets a Vietnamese reply, one in English an
//! English reply, any other language (or none detected) both.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono_tz::Tz;
use hue_intake_schemas::{
    DispositionReason, DispositionState, Kind, MissingField, Reply, Report, ScopeReason, UrgencyLevel,
};
use serde::Deserialize;

use crate::triage::{LOCK_AT_VIOLATION, Standing};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Texts {
    received: String,
    received_urgent: String,
    interaction: String,
    rating: String,
    night: String,
    incomplete: String,
    draft_question: String,
    outside: String,
    contact: String,
    out_of_scope: String,
    improper: String,
    improper_locks: String,
    improper_interaction: String,
    improper_interaction_locks: String,
    account_locked: String,
    interaction_locked: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Language {
    texts: Texts,
    items: BTreeMap<String, String>,
    procedure: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Templates {
    vi: Language,
    en: Language,
}

static TEMPLATES: LazyLock<Templates> = LazyLock::new(|| {
    toml::from_str(include_str!("../rules/replies.toml"))
        .unwrap_or_else(|e| panic!("adapters/rules/replies.toml is not valid: {e}"))
});

/// The reply to a record, given the reporter's standing when it arrived (for the count of
/// violations left before the lock, R12) and the city's zone (for local times, R2).
pub fn compose(report: &Report, standing: &Standing, zone: Tz) -> Reply {
    let templates = &*TEMPLATES;
    match report.language.code.as_str() {
        "vi" => Reply { language: "vi".to_owned(), text: in_language(&templates.vi, report, standing, zone) },
        "en" => Reply { language: "en".to_owned(), text: in_language(&templates.en, report, standing, zone) },
        _ => Reply {
            language: "mul".to_owned(),
            text: format!(
                "{}\n\n{}",
                in_language(&templates.vi, report, standing, zone),
                in_language(&templates.en, report, standing, zone)
            ),
        },
    }
}

/// The answer to a mail too large to take (kept in quarantine, not made a record), in
/// Vietnamese then English: the citizen learns the limit and how to send again.
pub fn too_large(max_bytes: u64) -> Reply {
    let mb = max_bytes.div_ceil(1024 * 1024);
    Reply {
        language: "mul".to_owned(),
        text: format!(
            "Thư của bạn lớn hơn {mb} MB nên hệ thống Hue-S chưa tiếp nhận được. Vui lòng gửi lại phản ánh \
             với ảnh nhỏ hơn hoặc ít tệp đính kèm hơn, hoặc gửi qua ứng dụng Hue-S.\n\n\
             Your e-mail is larger than {mb} MB, so Hue-S could not take it. Please send your report again \
             with smaller or fewer attachments, or use the Hue-S app."
        ),
    }
}

/// The question for what an open chat draft still lacks (R4), asked while the citizen is
/// still writing. `sample` is what they wrote so far (it picks the language).
pub fn question(sample: &str, missing: &[MissingField]) -> Reply {
    let templates = &*TEMPLATES;
    let ask = |language: &Language| {
        let items = missing
            .iter()
            .map(|f| language.items.get(f.as_str()).map_or(f.as_str(), String::as_str))
            .collect::<Vec<_>>()
            .join(", ");
        language.texts.draft_question.replace("{missing}", &items)
    };
    let code = if sample.trim().is_empty() { "vi".to_owned() } else { crate::text::detect_language(sample).code };
    match code.as_str() {
        "en" => Reply { language: "en".to_owned(), text: ask(&templates.en) },
        // Vietnamese by default: a photo or a pin alone says nothing about language.
        _ => Reply { language: "vi".to_owned(), text: ask(&templates.vi) },
    }
}

fn in_language(language: &Language, report: &Report, standing: &Standing, zone: Tz) -> String {
    let texts = &language.texts;
    let fill = |template: &str, extra: &[(&str, String)]| {
        let mut text = template.replace("{code}", &report.tracking_code);
        text = text.replace("{in_reply_to}", report.in_reply_to.as_deref().unwrap_or(""));
        for (name, value) in extra {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    };
    let items = |fields: &mut dyn Iterator<Item = &MissingField>| {
        fields.map(|f| language.items.get(f.as_str()).map_or(f.as_str(), String::as_str)).collect::<Vec<_>>().join(", ")
    };
    let disposition = &report.disposition;
    let mut parts: Vec<String> = Vec::new();
    match (disposition.state, disposition.reason) {
        (DispositionState::Rejected, Some(DispositionReason::AccountLocked)) => {
            return fill(&texts.account_locked, &[]);
        }
        (DispositionState::Rejected, Some(DispositionReason::InteractionLocked)) => {
            return fill(&texts.interaction_locked, &[]);
        }
        (DispositionState::Rejected, Some(DispositionReason::ImproperLanguage)) => {
            // R12 counts reports for life and interactions over 30 days, with their own locks.
            let (before, counting, locking) = if report.kind == Kind::Report {
                (standing.report_violations, &texts.improper, &texts.improper_locks)
            } else {
                (standing.interaction_violations, &texts.improper_interaction, &texts.improper_interaction_locks)
            };
            let remaining = LOCK_AT_VIOLATION.saturating_sub(before + 1);
            if remaining == 0 {
                return fill(locking, &[]);
            }
            return fill(counting, &[("remaining", remaining.to_string())]);
        }
        (DispositionState::Rejected, _) => {
            let reason = report.triage.scope_reason.unwrap_or(ScopeReason::Complaint);
            let procedure = language.procedure.get(reason.as_str()).cloned().unwrap_or_default();
            return fill(&texts.out_of_scope, &[("procedure", procedure)]).trim_end().to_owned();
        }
        _ => {}
    }
    parts.push(match report.kind {
        Kind::Interaction => fill(&texts.interaction, &[]),
        Kind::Rating => fill(&texts.rating, &[]),
        Kind::Report if report.urgency.level == UrgencyLevel::Immediate => fill(&texts.received_urgent, &[]),
        Kind::Report => fill(&texts.received, &[]),
    });
    if let Some(when) = disposition.deliver_after.filter(|_| disposition.state == DispositionState::Deferred) {
        let local = when.with_timezone(&zone).format("%H:%M %d/%m/%Y").to_string();
        parts.push(fill(&texts.night, &[("when", local)]));
    }
    if report.kind == Kind::Report {
        let essential =
            |f: &&MissingField| matches!(f, MissingField::Description | MissingField::Location | MissingField::Time);
        let missing_essentials = items(&mut report.triage.missing.iter().filter(essential));
        if !missing_essentials.is_empty() {
            parts.push(fill(&texts.incomplete, &[("missing", missing_essentials)]));
        }
        if report.location.as_ref().and_then(|l| l.within_jurisdiction) == Some(false) {
            parts.push(fill(&texts.outside, &[]));
        }
        // R6: asked once, with the acknowledgement; never holds the report.
        let missing_contact = items(&mut report.triage.missing.iter().filter(|f| !essential(f)));
        if !missing_contact.is_empty() {
            parts.push(fill(&texts.contact, &[("missing", missing_contact)]));
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACEHOLDERS: [&str; 6] = ["{code}", "{in_reply_to}", "{when}", "{missing}", "{procedure}", "{remaining}"];

    fn all_texts(language: &Language) -> Vec<&str> {
        let t = &language.texts;
        vec![
            &t.received,
            &t.received_urgent,
            &t.interaction,
            &t.rating,
            &t.night,
            &t.incomplete,
            &t.outside,
            &t.contact,
            &t.out_of_scope,
            &t.improper,
            &t.improper_locks,
            &t.improper_interaction,
            &t.improper_interaction_locks,
            &t.account_locked,
            &t.interaction_locked,
        ]
    }

    #[test]
    fn r3_both_languages_have_every_text_item_and_procedure_with_known_placeholders() {
        let t = &*TEMPLATES;
        assert_eq!(t.vi.items.keys().collect::<Vec<_>>(), t.en.items.keys().collect::<Vec<_>>());
        assert_eq!(t.vi.procedure.keys().collect::<Vec<_>>(), t.en.procedure.keys().collect::<Vec<_>>());
        for field in ["description", "location", "time", "name", "phone", "email"] {
            assert!(t.vi.items.contains_key(field), "{field}");
        }
        for reason in ["dispute", "lawsuit", "complaint", "denunciation"] {
            assert!(t.vi.procedure.contains_key(reason), "{reason}");
        }
        for text in all_texts(&t.vi).into_iter().chain(all_texts(&t.en)) {
            let mut rest = text;
            while let Some(open) = rest.find('{') {
                let close = rest[open..].find('}').expect("placeholders are closed") + open;
                assert!(PLACEHOLDERS.contains(&&rest[open..=close]), "unknown placeholder in {text}");
                rest = &rest[close + 1..];
            }
        }
    }

    #[test]
    fn r2_the_night_notice_gives_the_local_time_and_the_emergency_numbers() {
        let vi = &TEMPLATES.vi.texts.night;
        for number in ["113", "114", "115", "112"] {
            assert!(vi.contains(number) && TEMPLATES.en.texts.night.contains(number));
        }
    }

    fn golden(name: &str) -> Report {
        let path = format!("{}/tests/fixtures/app/{name}.expected.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn reply(report: &Report, standing: Standing) -> Reply {
        compose(report, &standing, chrono_tz::Asia::Ho_Chi_Minh)
    }

    #[test]
    fn r2_a_deferred_report_hears_when_in_local_time_with_its_code() {
        let report = golden("night-deferred");
        let r = reply(&report, Standing::default());
        assert_eq!(r.language, "vi");
        assert!(r.text.contains(&report.tracking_code), "{}", r.text);
        assert!(r.text.contains("07:30 29/11/2026"), "{}", r.text);
        assert!(r.text.contains("114"), "{}", r.text);
    }

    #[test]
    fn r3_english_reports_get_english_and_other_languages_both() {
        let mut report = golden("full-report");
        report.language.code = "en".to_owned();
        let r = reply(&report, Standing::default());
        assert_eq!(r.language, "en");
        assert!(r.text.starts_with("Thank you"), "{}", r.text);
        report.language.code = "fr".to_owned();
        let r = reply(&report, Standing::default());
        assert_eq!(r.language, "mul");
        assert!(r.text.starts_with("Cảm ơn") && r.text.contains("Thank you"), "{}", r.text);
    }

    #[test]
    fn r4_r6_an_incomplete_report_is_asked_for_the_place_and_then_once_for_contact_details() {
        let r = reply(&golden("no-place-is-incomplete"), Standing::default());
        assert!(r.text.contains("địa điểm"), "{}", r.text);
        assert!(r.text.contains("số điện thoại"), "{}", r.text);
    }

    #[test]
    fn r5_an_out_of_scope_report_hears_where_such_matters_go() {
        let r = reply(&golden("out-of-scope-complaint"), Standing::default());
        assert!(r.text.contains("Luật Khiếu nại"), "{}", r.text);
        assert!(!r.text.contains("{"), "every placeholder filled: {}", r.text);
    }

    #[test]
    fn r12_improper_language_counts_down_to_the_lock() {
        let mut report = golden("full-report");
        report.disposition.state = DispositionState::Rejected;
        report.disposition.reason = Some(DispositionReason::ImproperLanguage);
        let first = reply(&report, Standing::default());
        assert!(first.text.contains("thêm 3 lần"), "{}", first.text);
        let third = reply(&report, Standing { report_violations: 2, ..Standing::default() });
        assert!(third.text.contains("thêm 1 lần"), "{}", third.text);
        let fourth = reply(&report, Standing { report_violations: 3, ..Standing::default() });
        assert!(fourth.text.contains("lần vi phạm thứ 4"), "{}", fourth.text);
        let mut interaction = report.clone();
        interaction.kind = Kind::Interaction;
        let comment = reply(&interaction, Standing { interaction_violations: 1, ..Standing::default() });
        assert!(comment.text.contains("tương tác") && comment.text.contains("thêm 2 lần"), "{}", comment.text);
        let locked = reply(&golden("locked-account"), Standing { account_locked: true, ..Standing::default() });
        assert!(locked.text.contains("1900 1075"), "{}", locked.text);
    }

    #[test]
    fn a_place_outside_hue_is_noted() {
        let r = reply(&golden("outside-hue"), Standing::default());
        assert!(r.text.contains("ngoài địa bàn") || r.text.contains("outside Huế"), "{}", r.text);
    }
}
