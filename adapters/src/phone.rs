//! Vietnamese phone numbers to E.164 (reference/vietnam.md §6).
//!
//! STUB: the real implementation lands from the adapters-helpers branch.

/// What kind of number it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneKind {
    Mobile,
    FixedLine,
    TollFree,
    PremiumRate,
    Other,
}

/// A normalised number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    /// `+84…`.
    pub e164: String,
    pub kind: PhoneKind,
    /// The input was a pre-2018 11-digit mobile number, mapped to its new prefix first.
    pub legacy_mobile: bool,
}

/// Normalises a number as a person wrote it, or `None` when it is not a contact number
/// (short codes such as 113 or 1022 are not).
pub fn normalize_vn(raw: &str) -> Option<PhoneNumber> {
    let digits: String = raw.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits.len() == 10 && digits.starts_with('0')).then(|| PhoneNumber {
        e164: format!("+84{}", &digits[1..]),
        kind: PhoneKind::Mobile,
        legacy_mobile: false,
    })
}
