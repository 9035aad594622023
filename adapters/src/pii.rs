//! Personal data written in free text (SPEC §8): phone numbers and email addresses are taken
//! out of titles and descriptions into the sealed store, and a known name is masked.
//!
//! STUB: the real implementation lands from the adapters-helpers branch.

/// Placeholder that replaces a phone number in text.
pub const PHONE_PLACEHOLDER: &str = "[số điện thoại]";
/// Placeholder that replaces an email address in text.
pub const EMAIL_PLACEHOLDER: &str = "[email]";
/// Placeholder that replaces the reporter's known name in text.
pub const NAME_PLACEHOLDER: &str = "[họ tên]";

/// Text with contact details taken out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scrubbed {
    pub text: String,
    /// E.164 forms of the phone numbers found, in order of appearance.
    pub phones: Vec<String>,
    /// Email addresses found (lower-cased), in order of appearance.
    pub emails: Vec<String>,
}

/// Replaces phone numbers and email addresses in `text` by placeholders.
pub fn scrub_contacts(text: &str) -> Scrubbed {
    Scrubbed {
        text: text.to_owned(),
        ..Scrubbed::default()
    }
}

/// Replaces each whole-word occurrence of the reporter's `name` (case-insensitive) by
/// [`NAME_PLACEHOLDER`].
pub fn mask_name(text: &str, _name: &str) -> String {
    text.to_owned()
}
