//! Vietnamese phone numbers to E.164 (reference/vietnam.md §6).
//!
//! This module owns the rules that turn a number as a person wrote it ("0905.123.456",
//! "+84 (0) 905 123 456", full-width digits, pre-2018 11-digit mobiles, the old Huế area code
//! 054) into one E.164 string, following the recipe of §6.3 before handing the number to
//! libphonenumber's metadata. It does not look for numbers inside free text (that is
//! [`crate::pii`]) and it never keeps the raw input.

use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, Type, country};
use unicode_normalization::UnicodeNormalization;

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

/// Short codes that are services, not somebody's contact number (§6.1): police, fire,
/// ambulance, the disaster line, child protection and the provincial 1022 portals.
pub const SHORT_CODES: [&str; 6] = ["111", "112", "113", "114", "115", "1022"];

/// The 2018 renumbering of 11-digit mobiles (MIC, 15 Sep 2018): old 4-digit prefix to new
/// 3-digit prefix, the last 7 digits kept. libphonenumber would otherwise read 0120… as a
/// valid toll-free number (§6.2).
const LEGACY_MOBILE_PREFIXES: [(&str, &str); 21] = [
    ("0120", "070"),
    ("0121", "079"),
    ("0122", "077"),
    ("0126", "076"),
    ("0128", "078"),
    ("0123", "083"),
    ("0124", "084"),
    ("0125", "085"),
    ("0127", "081"),
    ("0129", "082"),
    ("0162", "032"),
    ("0163", "033"),
    ("0164", "034"),
    ("0165", "035"),
    ("0166", "036"),
    ("0167", "037"),
    ("0168", "038"),
    ("0169", "039"),
    ("0186", "056"),
    ("0188", "058"),
    ("0199", "059"),
];

/// Normalises a number as a person wrote it, or `None` when it is not a contact number
/// (short codes such as 113 or 1022 are not).
///
/// Numbers in international form for another country (a tourist's `+33 6 …`) are accepted
/// when libphonenumber finds them valid, since they are contact details all the same.
/// Vietnamese numbers that libphonenumber does not know as allocated but that have the shape
/// of a Vietnamese number are kept as [`PhoneKind::Other`]: validation is per allocated range
/// and lags behind the carriers (§6.3 step 6).
pub fn normalize_vn(raw: &str) -> Option<PhoneNumber> {
    let compact = compact(raw)?;

    // §6.3 step 2: one international form, "+84…", whatever prefix the writer used.
    let international = if let Some(rest) = compact.strip_prefix("00") {
        Some(rest.to_owned())
    } else if let Some(rest) = compact.strip_prefix('+') {
        Some(rest.to_owned())
    } else if compact.len() == 11 && compact.starts_with("84") {
        Some(compact.clone())
    } else {
        None
    };

    let national = match international {
        Some(digits) => match digits.strip_prefix("84") {
            // "+84 (0) 905…" carries the trunk prefix after the country code.
            Some(rest) if rest.starts_with('0') => rest.to_owned(),
            Some(rest) => format!("0{rest}"),
            None => return foreign(&digits),
        },
        None => compact,
    };

    if SHORT_CODES.contains(&national.as_str()) || SHORT_CODES.contains(&national.trim_start_matches('0')) {
        return None;
    }

    // §6.3 step 3, before parsing.
    let legacy = (national.len() == 11)
        .then(|| LEGACY_MOBILE_PREFIXES.iter().find(|(old, _)| national.starts_with(old)))
        .flatten();
    let national = match legacy {
        Some((old, new)) => format!("{new}{}", &national[old.len()..]),
        None => national,
    };
    // §6.3 step 4: the Huế area code was 054 before the 2017 change, with 7-digit subscribers.
    let national = match national.strip_prefix("054") {
        Some(subscriber) if subscriber.len() == 7 => format!("0234{subscriber}"),
        _ => national,
    };

    let number = phonenumber::parse(Some(country::Id::VN), &national).ok()?;
    if number.code().value() != 84 {
        return None;
    }
    let national_significant = number.national().to_string();
    let kind = if number.is_valid() {
        kind_of(number.number_type(&DATABASE), &national_significant)
    } else if is_possible_vn(&national_significant) {
        PhoneKind::Other
    } else {
        return None;
    };
    Some(PhoneNumber { e164: number.format().mode(Mode::E164).to_string(), kind, legacy_mobile: legacy.is_some() })
}

/// §6.3 step 1: NFKC (full-width digits and plus sign), then digits only, with a `+` allowed
/// before the first digit. Any other character means this is not just a phone number.
fn compact(raw: &str) -> Option<String> {
    let mut out = String::new();
    let mut plus = false;
    for c in raw.nfkc() {
        match c {
            '0'..='9' => out.push(c),
            '+' if out.is_empty() && !plus => plus = true,
            '.' | '-' | '(' | ')' | '\u{2010}'..='\u{2015}' => {}
            c if c.is_whitespace() => {}
            _ => return None,
        }
    }
    if out.is_empty() {
        return None;
    }
    Some(if plus { format!("+{out}") } else { out })
}

/// A number written in international form for another country: valid numbers only, since
/// there is no local knowledge to vouch for anything else.
fn foreign(digits: &str) -> Option<PhoneNumber> {
    let number = phonenumber::parse(None, format!("+{digits}")).ok()?;
    if !number.is_valid() {
        return None;
    }
    let kind = match number.number_type(&DATABASE) {
        Type::Mobile => PhoneKind::Mobile,
        Type::FixedLine => PhoneKind::FixedLine,
        Type::TollFree => PhoneKind::TollFree,
        Type::PremiumRate => PhoneKind::PremiumRate,
        _ => PhoneKind::Other,
    };
    Some(PhoneNumber { e164: number.format().mode(Mode::E164).to_string(), kind, legacy_mobile: false })
}

fn kind_of(kind: Type, national_significant: &str) -> PhoneKind {
    match kind {
        Type::Mobile => PhoneKind::Mobile,
        Type::FixedLine => PhoneKind::FixedLine,
        // Vietnamese landlines all start with 2 (0 + area code 2xx); mobiles never do.
        Type::FixedLineOrMobile if national_significant.starts_with(['3', '5', '7', '8', '9']) => PhoneKind::Mobile,
        Type::FixedLineOrMobile => PhoneKind::FixedLine,
        Type::TollFree => PhoneKind::TollFree,
        Type::PremiumRate => PhoneKind::PremiumRate,
        _ => PhoneKind::Other,
    }
}

/// "Possible" in libphonenumber's sense, for Vietnam: the national significant number fits
/// the country's general pattern (the union of all number blocks and their lengths), even if
/// the particular range is not known to be allocated.
fn is_possible_vn(national_significant: &str) -> bool {
    // `Descriptor::is_match` only anchors the pattern at the start, so "905123456789" would
    // pass on its first nine digits; the whole number has to match.
    DATABASE.by_id("VN").is_some_and(|meta| {
        meta.descriptors()
            .general()
            .national_number()
            .find(national_significant)
            .is_some_and(|m| m.start() == 0 && m.end() == national_significant.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e164(raw: &str) -> Option<String> {
        normalize_vn(raw).map(|n| n.e164)
    }

    fn assert_number(raw: &str, expected: &str, kind: PhoneKind, legacy: bool) {
        let n = normalize_vn(raw).unwrap_or_else(|| panic!("{raw:?} was refused"));
        assert_eq!(n.e164, expected, "{raw:?}");
        assert_eq!(n.kind, kind, "{raw:?}");
        assert_eq!(n.legacy_mobile, legacy, "{raw:?}");
    }

    #[test]
    fn mobile_numbers_in_every_written_form() {
        for raw in [
            "0905123456",
            "+84905123456",
            "84905123456",
            "0084905123456",
            "+84 (0) 905 123 456",
            "+840905123456",
            "0905.123.456",
            "090-512-3456",
            "(+84) 905 123 456",
            " 0905 123 456 ",
        ] {
            assert_number(raw, "+84905123456", PhoneKind::Mobile, false);
        }
    }

    #[test]
    fn hue_landlines() {
        for raw in
            ["02343822123", "0234 3822 123", "(0234) 3.822.123", "+84 234 3822 123", "0234.3.822.123", "+8402343822123"]
        {
            assert_number(raw, "+842343822123", PhoneKind::FixedLine, false);
        }
        assert_number("02838123456", "+842838123456", PhoneKind::FixedLine, false);
        assert_number("02439123456", "+842439123456", PhoneKind::FixedLine, false);
    }

    #[test]
    fn old_hue_area_code_becomes_0234() {
        assert_number("054 3822123", "+842343822123", PhoneKind::FixedLine, false);
        assert_number("054.3822.123", "+842343822123", PhoneKind::FixedLine, false);
    }

    #[test]
    fn service_numbers() {
        for raw in ["19001234", "1900 1234", "1900123456", "1900 54 54 58", "1900 1075", "19001075"] {
            assert_eq!(normalize_vn(raw).map(|n| n.kind), Some(PhoneKind::PremiumRate), "{raw}");
        }
        assert_eq!(e164("1900 1075").as_deref(), Some("+8419001075"));
        for raw in ["18001234", "1800123456", "18001091"] {
            assert_eq!(normalize_vn(raw).map(|n| n.kind), Some(PhoneKind::TollFree), "{raw}");
        }
        assert_eq!(e164("18001091").as_deref(), Some("+8418001091"));
    }

    #[test]
    fn full_width_digits() {
        assert_number("０９０５１２３４５６", "+84905123456", PhoneKind::Mobile, false);
        assert_number("＋８４ ９０５ １２３ ４５６", "+84905123456", PhoneKind::Mobile, false);
    }

    #[test]
    fn legacy_eleven_digit_mobiles_are_renumbered() {
        assert_number("01201234567", "+84701234567", PhoneKind::Mobile, true);
        assert_number("0120 1234567", "+84701234567", PhoneKind::Mobile, true);
        assert_number("0169 5678945", "+84395678945", PhoneKind::Mobile, true);
        assert_number("01695678945", "+84395678945", PhoneKind::Mobile, true);
        assert_number("+84 169 5678945", "+84395678945", PhoneKind::Mobile, true);
        assert_number("0186 1234567", "+84561234567", PhoneKind::Mobile, true);
        assert_number("0199 1234567", "+84591234567", PhoneKind::Mobile, true);
        assert_number("0127 1234567", "+84811234567", PhoneKind::Mobile, true);
    }

    #[test]
    fn short_codes_are_not_contact_numbers() {
        for raw in ["113", "114", "115", "112", "111", "1022", "+84 113", "0113"] {
            assert_eq!(normalize_vn(raw), None, "{raw}");
        }
    }

    #[test]
    fn not_numbers() {
        for raw in [
            "",
            "   ",
            "+",
            "abc",
            "0905 123 456 ext 12",
            "3822123",
            "0905123456789",
            "090512345",
            "16.4637",
            "2026-11-29",
            "+84 +905123456",
            "09051234５6x",
        ] {
            assert_eq!(normalize_vn(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn unallocated_but_vietnamese_shaped_numbers_are_other() {
        // libphonenumber does not know 089 1… as allocated (§6.1); it is still a number.
        assert_number("0891234567", "+84891234567", PhoneKind::Other, false);
    }

    #[test]
    fn foreign_numbers_in_international_form() {
        assert_number("+33 6 12 34 56 78", "+33612345678", PhoneKind::Mobile, false);
        assert_number("0033612345678", "+33612345678", PhoneKind::Mobile, false);
        assert_eq!(normalize_vn("+33 1"), None);
    }
}
