//! Proves that no UTF-8 text panics or hangs the text helpers every channel runs free text
//! through: the normaliser (`text::clean`, NFC and invisible characters; titles; ASCII
//! folding; language detection), contact scrubbing and name masking (`pii`), the Vietnamese
//! phone normaliser, rating payloads and replies, tracking codes in text, call transcripts
//! and quoted mail.
#![no_main]

use hue_intake_adapters::{assembly, email, hotline, phone, pii, results, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let cleaned = text::clean(input);
    let _ = text::clean(&cleaned);
    let _ = text::clamp_title(input);
    let _ = text::derive_title(&cleaned);
    let _ = text::fold_ascii(input);
    let _ = text::detect_language(&cleaned);

    let scrubbed = pii::scrub_contacts(&cleaned);
    let _ = pii::scrub_contacts(input);
    // A name as a reporter gives it: the input's first line, masked in the rest.
    if let Some((name, rest)) = input.split_once('\n') {
        let _ = pii::mask_name(rest, name);
        let _ = pii::mask_name(&scrubbed.text, &text::clean(name));
    }

    let _ = phone::normalize_vn(input);
    for word in input.split_whitespace().take(64) {
        let _ = phone::normalize_vn(word);
    }

    let _ = results::parse_payload(input);
    let _ = results::rating_in_reply(input);
    let _ = assembly::tracking_code_in(input);
    let _ = assembly::place_line(input);
    let _ = email::tracking_code_in_subject(input);
    let _ = email::strip_quoted(input);
    let _ = email::sanitise_filename(input);
    let _ = hotline::caller_turns(input);
});
