//! An e-mail as a canonical record: the one fold shared by the pipeline and
//! `hue-intake normalize --channel email`.
//!
//! The mail becomes an app-shaped body and goes through the app normaliser, so every rule of
//! the regulation engine (scope, urgency, night window, improper language, contact details
//! taken out of the text) applies unchanged. What is particular to mail is decided here: the
//! sender's address is the account (namespace `email`), the display name is the reporter's
//! name, the subject is the title (without `Re:`/`Fwd:` and our `[HUE-…]` tag), a line naming
//! a street or a ward is the place, and an interaction keeps only the new words (quoted
//! history and signature removed, SPEC §8).

use hue_intake_schemas::{InboundLocation, InboundReporter, MediaItem, ReportBody, TrackingCode};

use super::{Email, strip_quoted};
use crate::app::{self, Checked, Context, Normalized};
use crate::assembly::place_line;

/// The address a mail came from, as its account: trimmed and lower case (mailboxes are
/// case-insensitive in practice, and one person must get one `reporter.ref`).
pub fn account_of(email: &Email) -> Option<String> {
    email.from.as_ref().and_then(|f| f.address.as_deref()).map(|a| a.trim().to_lowercase()).filter(|a| !a.is_empty())
}

/// The record of a mail: a report, or an interaction on `in_reply_to` (which the service
/// decided from the thread or the subject tag and the sender, R10).
pub fn to_record(
    email: &Email,
    in_reply_to: Option<TrackingCode>,
    media: Vec<MediaItem>,
    ctx: &Context<'_>,
) -> Normalized {
    to_record_rated(email, in_reply_to, None, media, ctx)
}

/// The new words of a mail that answers one of ours: quoted history and signature removed.
pub fn new_text(email: &Email) -> String {
    strip_quoted(&email.body_text)
}

/// [`to_record`], with the rating the service read from an answer to a rating request (R9):
/// with `in_reply_to`, a `rating` record whose description is the (possibly empty) new text.
pub fn to_record_rated(
    email: &Email,
    in_reply_to: Option<TrackingCode>,
    rating: Option<hue_intake_schemas::Rating>,
    media: Vec<MediaItem>,
    ctx: &Context<'_>,
) -> Normalized {
    let interaction = in_reply_to.is_some();
    let text = if interaction { strip_quoted(&email.body_text) } else { email.body_text.trim().to_owned() };
    // The bare answer ("1", "Hài lòng") is the rating itself, not a description.
    let text = if rating.is_some() && crate::results::rating_in_reply(&text).is_some() { String::new() } else { text };
    let subject = email.subject.as_deref().map(clean_subject).filter(|s| !s.is_empty());
    // Many people write the whole report in the subject line: it is the description then.
    let (title, description) = match (subject, text.is_empty()) {
        (Some(subject), true) if !interaction => (None, subject),
        (subject, _) => (subject, text),
    };
    // A rating's title names its level (the app normaliser's), not the mail's subject.
    let title = if rating.is_some() && interaction { None } else { title };
    let address = place_line(&description).map(str::to_owned);
    let name = email.from.as_ref().and_then(|f| f.name.clone());
    let account = account_of(email);
    let body = ReportBody {
        client_message_id: email.message_id.clone(),
        reporter: Some(InboundReporter { name, email: account.clone(), ..Default::default() }),
        account_id: account,
        consent: false,
        title,
        description: (!description.is_empty()).then_some(description),
        occurred_at: None,
        location: address.map(|a| InboundLocation { lat: None, lon: None, accuracy_m: None, address: Some(a) }),
        category: None,
        urgent: false,
        in_reply_to: in_reply_to.as_ref().map(ToString::to_string),
        rating: rating.filter(|_| interaction),
        media: Vec::new(),
    };
    app::normalize(&Checked { body, in_reply_to }, media, ctx)
}

/// The subject without reply and forward prefixes (`Re:`, `Fwd:`, `TL:` "trả lời", `Chuyển
/// tiếp:`, `Re[2]:`…) and without our `[HUE-…]` tags.
pub fn clean_subject(subject: &str) -> String {
    let mut rest = subject.trim();
    loop {
        // Only the head is lower-cased: the longest prefix is 12 characters (`Re[…]:` is
        // looked for within the head). Lower-casing the whole rest on every turn made a
        // subject of a million `Re:` quadratic: minutes of pipeline time for one mail of a few
        // MB (found by the hostile suite).
        let lower = rest.chars().take(32).collect::<String>().to_lowercase();
        let prefix = ["re:", "fwd:", "fw:", "tl:", "trả lời:", "chuyển tiếp:", "aw:", "sv:", "tr:"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| p.len())
            .or_else(|| {
                // Re[2]: and Re(2):
                let open = lower.strip_prefix("re")?;
                let close = open.strip_prefix(['[', '('])?.find([']', ')'])?;
                open[1 + close + 1..].starts_with(':').then_some(2 + 1 + close + 1 + 1)
            });
        match prefix {
            // Lower-casing keeps these prefixes' byte lengths (ASCII, and Vietnamese letters
            // whose lower case is the same length), so the offset holds in `rest`.
            Some(len) if rest.is_char_boundary(len) => rest = rest[len..].trim_start(),
            _ => break,
        }
    }
    let mut out = String::with_capacity(rest.len());
    let mut tail = rest;
    while let Some(open) = tail.find("[") {
        // A tag is short: its `]` is looked for within the next 64 bytes only (`]` is ASCII, so
        // the offset is a char boundary). Searching to the end from every `[` was quadratic for
        // a subject of many `[` (found by the hostile suite).
        let close = tail.as_bytes()[open..].iter().take(64).position(|&b| b == b']').map(|c| open + c);
        match close {
            Some(close) if super::tracking_code_in_subject(&tail[open..=close]).is_some() => {
                out.push_str(&tail[..open]);
                tail = &tail[close + 1..];
            }
            _ => {
                out.push_str(&tail[..=open]);
                tail = &tail[open + 1..];
            }
        }
    }
    out.push_str(tail);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_lose_reply_prefixes_and_our_tag() {
        assert_eq!(clean_subject("Re: RE: Fwd: Cây đổ"), "Cây đổ");
        assert_eq!(clean_subject("TL: [HUE-7K3M-9XQ2] Phản ánh đã tiếp nhận"), "Phản ánh đã tiếp nhận");
        assert_eq!(clean_subject("Re[2]: ổ gà"), "ổ gà");
        assert_eq!(clean_subject("Trả lời: Chuyển tiếp: ngập nước"), "ngập nước");
        assert_eq!(clean_subject("[Khẩn] cây đổ"), "[Khẩn] cây đổ");
        assert_eq!(clean_subject("Rác ở chợ"), "Rác ở chợ");
        assert_eq!(clean_subject("Re:"), "");
        assert_eq!(clean_subject("[ HUE-7K3M-9XQ2 ] x"), "x");
    }

    #[test]
    fn hostile_subjects_are_cleaned_in_linear_time() {
        let started = std::time::Instant::now();
        assert_eq!(clean_subject(&format!("{}Cây đổ", "Re: ".repeat(1_000_000))), "Cây đổ");
        let brackets = format!("{}Cây đổ]", "[".repeat(1_000_000));
        assert_eq!(clean_subject(&brackets), brackets);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }
}
