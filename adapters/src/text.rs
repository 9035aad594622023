//! Text hygiene for Vietnamese and other input: NFC, control characters, titles, language.
//!
//! STUB: the real implementation lands from the adapters-helpers branch.

use hue_intake_schemas::Language;

/// NFC-normalises, strips zero-width and bidi control characters and other invisible
/// controls (keeping `\n` and `\t`), turns CRLF/CR into LF and trims the ends.
pub fn clean(input: &str) -> String {
    input.trim().to_owned()
}

/// A one-line title of at most 120 Unicode scalar values, cut at a word boundary (SPEC §8),
/// from a title the client gave (already cleaned).
pub fn clamp_title(title: &str) -> String {
    title.chars().take(120).collect()
}

/// A title derived from a description: its first sentence or line, clamped as above.
pub fn derive_title(description: &str) -> String {
    clamp_title(description)
}

/// ISO 639-1 language of the text with a confidence, or `und` (R3).
pub fn detect_language(_text: &str) -> Language {
    Language {
        code: "und".to_owned(),
        confidence: 0.0,
    }
}
