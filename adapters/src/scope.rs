//! Scope (R5): disputes, lawsuits, complaints and denunciations are not field reports; they
//! have their own legal procedures. This module recognises them; the record keeps them with
//! `scope_reason`, rejected, and the reply names where such matters go.
//!
//! The phrases, the allow-list of look-alikes that stay in scope and the precedence of the
//! reasons live in `adapters/rules/scope.toml`.

use std::sync::LazyLock;

use hue_intake_schemas::{ScopeReason, Urgency, UrgencyLevel};

use crate::keys::{Keyed, PhraseSet, rule_file, section, without_overlaps};

struct Lexicon {
    reasons: PhraseSet<ScopeReason>,
    allowed: PhraseSet<()>,
}

/// The reasons in precedence order, with their sections.
const REASONS: [(&str, ScopeReason); 4] = [
    ("lawsuit", ScopeReason::Lawsuit),
    ("denunciation", ScopeReason::Denunciation),
    ("dispute", ScopeReason::Dispute),
    ("complaint", ScopeReason::Complaint),
];

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    let file = rule_file("scope.toml", include_str!("../rules/scope.toml"));
    let mut reasons = PhraseSet::new();
    for (name, reason) in REASONS {
        reasons.extend(section(&file, name), reason);
    }
    let mut allowed = PhraseSet::new();
    allowed.extend(section(&file, "allow"), ());
    Lexicon { reasons, allowed }
});

/// Why a report is out of scope, or `None` when it is a field report. A report that is
/// urgent stays in scope whatever its context: the danger is a field matter now (R2 before R5).
pub fn of_report(keyed: &Keyed<'_>, urgency: &Urgency) -> Option<ScopeReason> {
    if urgency.level == UrgencyLevel::Immediate { None } else { assess(keyed) }
}

/// Why a text is out of scope, or `None` when it is a field report.
pub fn assess(keyed: &Keyed<'_>) -> Option<ScopeReason> {
    let allowed = LEXICON.allowed.find(keyed);
    let hits = without_overlaps(LEXICON.reasons.find(keyed), &allowed);
    REASONS.iter().map(|(_, reason)| *reason).find(|reason| hits.iter().any(|h| h.value == reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(text: &str) -> Option<ScopeReason> {
        assess(&Keyed::new(text))
    }

    #[test]
    fn r5_each_reason_with_and_without_diacritics() {
        assert_eq!(scope("Tôi muốn khiếu nại quyết định thu hồi đất"), Some(ScopeReason::Complaint));
        assert_eq!(scope("toi muon khieu nai quyet dinh cua phuong"), Some(ScopeReason::Complaint));
        assert_eq!(scope("Nhà bên cạnh lấn đất nhà tôi 2 mét"), Some(ScopeReason::Dispute));
        assert_eq!(scope("Tôi sẽ kiện công ty ra tòa"), Some(ScopeReason::Lawsuit));
        assert_eq!(scope("Tố cáo cán bộ phường nhận hối lộ"), Some(ScopeReason::Denunciation));
        assert_eq!(scope("don to cao can bo dia chinh"), Some(ScopeReason::Denunciation));
    }

    #[test]
    fn r5_a_dispute_is_a_dispute_even_when_phrased_as_a_complaint() {
        assert_eq!(scope("Tôi muốn khiếu nại về việc tranh chấp đất đai với hàng xóm"), Some(ScopeReason::Dispute));
    }

    #[test]
    fn r5_traps_stay_in_scope() {
        for text in [
            "Sự kiện âm nhạc ở công viên gây ồn",
            "Điều kiện vệ sinh ở chợ kém",
            "Bưu kiện bị bỏ ngoài đường",
            "Cây to cao sắp đổ trước trường",
            "cay to cao sap do truoc truong",
            "Lấn chiếm vỉa hè để buôn bán",
            "Đây không phải khiếu nại, chỉ phản ánh đèn hỏng",
        ] {
            assert_eq!(scope(text), None, "{text}");
        }
    }
}
