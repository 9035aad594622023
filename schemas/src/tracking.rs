//! Tracking codes (SPEC §2): `HUE-XXXX-XXXX` in Crockford's base32, readable over the phone.
//!
//! This module owns the format only. Randomness comes from the caller (the service draws
//! 40 random bits and retries on a collision), so the type stays pure and testable.

use std::fmt;

/// Crockford's base32 alphabet: digits and upper-case letters without I, L, O and U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A valid tracking code, always held in upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackingCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackingCodeError {
    #[error("a tracking code looks like HUE-XXXX-XXXX (Crockford base32: 0-9, A-Z without I, L, O, U)")]
    Malformed,
}

impl TrackingCode {
    /// Builds a code from 40 random bits (the low 40 bits of `bits`), 5 bits per character.
    pub fn from_bits(bits: u64) -> Self {
        let mut chars = [0u8; 8];
        for (i, c) in chars.iter_mut().enumerate() {
            let shift = 35 - 5 * i;
            *c = ALPHABET[((bits >> shift) & 0x1f) as usize];
        }
        let s = std::str::from_utf8(&chars).expect("alphabet is ASCII");
        TrackingCode(format!("HUE-{}-{}", &s[..4], &s[4..]))
    }

    /// Parses a code as a person typed it: case-insensitive, surrounding spaces ignored.
    ///
    /// Crockford's decoding rules map the look-alikes `O`→`0` and `I`/`L`→`1`, because a code
    /// read aloud over the call-centre line or copied from a screenshot often arrives that way.
    pub fn parse(input: &str) -> Result<Self, TrackingCodeError> {
        let upper = input.trim().to_ascii_uppercase();
        let bytes = upper.as_bytes();
        if bytes.len() != 13 || &bytes[..4] != b"HUE-" || bytes[8] != b'-' {
            return Err(TrackingCodeError::Malformed);
        }
        let mut out = String::with_capacity(13);
        out.push_str("HUE-");
        for (i, &b) in bytes[4..].iter().enumerate() {
            if i == 4 {
                out.push('-');
                continue;
            }
            let mapped = match b {
                b'O' => b'0',
                b'I' | b'L' => b'1',
                other => other,
            };
            if !ALPHABET.contains(&mapped) {
                return Err(TrackingCodeError::Malformed);
            }
            out.push(mapped as char);
        }
        Ok(TrackingCode(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TrackingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATTERN_CHARS: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    fn matches_spec_pattern(code: &str) -> bool {
        let b = code.as_bytes();
        b.len() == 13
            && code.starts_with("HUE-")
            && b[8] == b'-'
            && code[4..8].chars().chain(code[9..].chars()).all(|c| PATTERN_CHARS.contains(c))
    }

    #[test]
    fn codes_from_any_bits_match_the_spec_pattern() {
        for bits in [0u64, 1, 0xff_ffff_ffff, 0x12_3456_789a, u64::MAX] {
            let code = TrackingCode::from_bits(bits);
            assert!(matches_spec_pattern(code.as_str()), "{code}");
        }
        assert_eq!(TrackingCode::from_bits(0).as_str(), "HUE-0000-0000");
        assert_eq!(TrackingCode::from_bits(0xff_ffff_ffff).as_str(), "HUE-ZZZZ-ZZZZ");
    }

    #[test]
    fn distinct_bits_give_distinct_codes() {
        let a = TrackingCode::from_bits(0x01);
        let b = TrackingCode::from_bits(0x02);
        assert_ne!(a, b);
    }

    #[test]
    fn parsing_is_case_insensitive_and_maps_look_alikes() {
        let code = TrackingCode::parse(" hue-7kq4-m2xd ").unwrap();
        assert_eq!(code.as_str(), "HUE-7KQ4-M2XD");
        assert_eq!(TrackingCode::parse("HUE-O0IL-0000").unwrap().as_str(), "HUE-0011-0000");
    }

    #[test]
    fn parsing_rejects_what_is_not_a_code() {
        for bad in ["", "HUE-7KQ4M2XD", "HUE-7KQ4-M2XU", "ABC-7KQ4-M2XD", "HUE-7KQ4-M2XDD", "HUE-7KQ!-M2XD"] {
            assert_eq!(TrackingCode::parse(bad), Err(TrackingCodeError::Malformed), "{bad}");
        }
    }
}
