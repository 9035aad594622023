//! Urgency (R2): does a report need immediate handling? A score over hazard, danger to people,
//! a call for help and whether it is happening now (reference/vietnam.md §5.3), aware of
//! negation, the past tense and the traps that only look like hazards.
//!
//! The phrases live in `adapters/rules/urgency.toml`, which also explains the scoring for
//! reviewers; this module owns only the arithmetic. `urgency.signals` lists the phrases that
//! counted, as the citizen wrote them.

use std::sync::LazyLock;

use hue_intake_schemas::{Urgency, UrgencyLevel};

use crate::keys::{Hit, Keyed, PhraseSet, outermost, rule_file, section, without_overlaps};
use crate::triage::UrgentFlag;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Strong,
    Moderate,
    Weak,
    People,
    Danger,
    Help,
    Ongoing,
    Past,
    Handled,
}

struct Lexicon {
    signals: PhraseSet<Signal>,
    negations: PhraseSet<()>,
    traps: PhraseSet<()>,
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    let file = rule_file("urgency.toml", include_str!("../rules/urgency.toml"));
    let mut signals = PhraseSet::new();
    for (name, signal) in [
        ("strong", Signal::Strong),
        ("moderate", Signal::Moderate),
        ("weak", Signal::Weak),
        ("people", Signal::People),
        ("danger", Signal::Danger),
        ("help", Signal::Help),
        ("ongoing", Signal::Ongoing),
        ("past", Signal::Past),
        ("handled", Signal::Handled),
    ] {
        signals.extend(section(&file, name), signal);
    }
    let mut negations = PhraseSet::new();
    negations.extend(section(&file, "negation"), ());
    let mut traps = PhraseSet::new();
    traps.extend(section(&file, "traps"), ());
    Lexicon { signals, negations, traps }
});

/// Points from which a report is urgent.
const IMMEDIATE_FROM: u32 = 2;
/// How many words before a phrase a negation reaches ("không có ai bị thương").
const NEGATION_REACH: usize = 3;

/// The urgency of a text. A call-centre operator's flag decides alone; an app user's flag is
/// one point among the others.
pub fn assess(keyed: &Keyed<'_>, flag: UrgentFlag) -> Urgency {
    let lexicon = &*LEXICON;
    let traps = lexicon.traps.find(keyed);
    let negations: Vec<usize> = lexicon.negations.find(keyed).iter().map(|h| h.last).collect();
    let negated = |hit: &Hit<'_, Signal>| negations.iter().any(|&n| n < hit.first && hit.first - n <= NEGATION_REACH);
    let hits: Vec<Hit<'_, Signal>> = outermost(without_overlaps(lexicon.signals.find(keyed), &traps))
        .into_iter()
        .filter(|h| {
            let negatable =
                matches!(h.value, Signal::Strong | Signal::Moderate | Signal::Weak | Signal::People | Signal::Danger);
            !(negatable && negated(h))
        })
        .collect();

    let has = |signal: Signal| hits.iter().any(|h| *h.value == signal);
    let strong = has(Signal::Strong);
    let people = has(Signal::People);
    let danger = people || has(Signal::Danger);
    let pressing = strong || has(Signal::Moderate) || danger;
    let mut score = 0;
    score += if strong { 2 } else { u32::from(has(Signal::Moderate) || has(Signal::Weak)) };
    score += if people { 2 } else { u32::from(danger) };
    score += u32::from(has(Signal::Help));
    score += u32::from(pressing && has(Signal::Ongoing));
    score += u32::from(flag == UrgentFlag::Reporter(true));
    let over = has(Signal::Handled) || (has(Signal::Past) && !has(Signal::Ongoing));
    let by_text = (pressing || has(Signal::Weak)) && score >= IMMEDIATE_FROM && !over;

    let immediate = match flag {
        UrgentFlag::Operator(judged) => judged,
        UrgentFlag::None | UrgentFlag::Reporter(_) => by_text,
    };
    let mut signals: Vec<String> = Vec::new();
    for hit in hits.iter().filter(|h| !matches!(h.value, Signal::Ongoing | Signal::Past | Signal::Handled)) {
        let written = keyed.span(hit.first, hit.last).to_owned();
        if !signals.contains(&written) {
            signals.push(written);
        }
    }
    Urgency { level: if immediate { UrgencyLevel::Immediate } else { UrgencyLevel::Normal }, signals }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urgency(text: &str) -> Urgency {
        assess(&Keyed::new(text), UrgentFlag::None)
    }

    fn immediate(text: &str) -> bool {
        urgency(text).level == UrgencyLevel::Immediate
    }

    #[test]
    fn the_rule_file_parses_and_every_section_has_phrases() {
        assert!(LEXICON.signals.len() > 150);
        assert!(!LEXICON.traps.is_empty() && !LEXICON.negations.is_empty());
    }

    #[test]
    fn r2_hazards_with_and_without_diacritics_are_immediate() {
        assert!(immediate("Cây đổ chắn ngang đường Lê Lợi"));
        assert!(immediate("Cháy nhà ở kiệt 12 Nguyễn Trãi"));
        assert!(immediate("chay nha o kiet 12, lua dang lan"));
        assert!(immediate("Dây điện bị đứt rơi xuống đường rất nguy hiểm"));
        assert!(immediate("Car accident at the bridge, someone is injured"));
        assert!(immediate("Nhà bên cạnh đang cháy, cứu với"));
    }

    #[test]
    fn r2_signals_are_the_phrases_as_written() {
        assert_eq!(urgency("Sáng nay CÂY ĐỔ, chắn ngang đường").signals, ["CÂY ĐỔ", "chắn ngang đường"]);
    }

    #[test]
    fn r2_defects_and_traps_are_not_urgent() {
        for text in [
            "Đèn đường hỏng",
            "Ổ gà trên đường rất sâu",
            "Đường Hùng Vương ngập rác",
            "Lũ trẻ chơi đá bóng ngoài đường ồn quá",
            "Bão giá rau ở chợ Đông Ba",
            "Xe bị nổ lốp ở cây xăng",
            "Đi biển bị cháy nắng",
            "Đường Lê Lợi đang ngập",
        ] {
            assert!(!immediate(text), "{text}");
        }
    }

    #[test]
    fn r2_past_and_negated_events_are_not_urgent() {
        assert!(!immediate("Hôm qua có cháy nhà ở kiệt 5, đã dập tắt"));
        assert!(!immediate("Va chạm xe máy, không ai bị thương"));
        assert!(!immediate("Xe va cham nhe, ko ai bi thuong"));
    }

    #[test]
    fn the_operator_decides_and_the_reporter_flag_is_one_point() {
        let keyed = Keyed::new("Đèn đường hỏng");
        assert_eq!(assess(&keyed, UrgentFlag::Operator(true)).level, UrgencyLevel::Immediate);
        assert_eq!(assess(&keyed, UrgentFlag::Reporter(true)).level, UrgencyLevel::Normal);
        let flood = Keyed::new("Nước ngập vào nhà");
        assert_eq!(assess(&flood, UrgentFlag::None).level, UrgencyLevel::Normal);
        assert_eq!(assess(&flood, UrgentFlag::Reporter(true)).level, UrgencyLevel::Immediate);
        let fire = Keyed::new("Cháy nhà lớn");
        assert_eq!(assess(&fire, UrgentFlag::Operator(false)).level, UrgencyLevel::Normal);
    }
}
