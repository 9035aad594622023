//! Proves that no raw mail (as IMAP returns it) panics or hangs the pure adapters: the
//! Message-ID peek, header-only and full `email::parse` (MIME, charsets, HTML, machine-mail
//! detection), then what the pipeline does with a person's mail: the tracking code in the
//! subject, the new text and its rating, attachment names and descriptions, the canonical
//! record and its reply.
#![no_main]

use hue_intake_adapters::attachment::{self, Limits};
use hue_intake_adapters::email::{self, record};
use hue_intake_adapters::results;
use hue_intake_fuzz::{context, finish, received_at, tolerate_caught_panics};
use hue_intake_schemas::Channel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tolerate_caught_panics();
    let _ = email::message_id_of(data);
    let _ = email::parse_headers(data);
    let Ok(mail) = email::parse(data) else {
        return;
    };
    if mail.machine.is_some() {
        return;
    }
    let code = mail.subject.as_deref().and_then(email::tracking_code_in_subject);
    if let Some(subject) = mail.subject.as_deref() {
        let _ = record::clean_subject(subject);
    }
    let _ = record::account_of(&mail);
    let _ = results::rating_in_reply(&record::new_text(&mail));
    let limits = Limits::default();
    let mut media = Vec::new();
    let mut total = 0u64;
    for (i, a) in mail.attachments.iter().enumerate().take(limits.files_per_report) {
        let size = a.bytes.len() as u64;
        if let Ok(item) = attachment::describe(&a.bytes, &limits, total + size, &format!("/attachments/{i}")) {
            total += size;
            media.push(item);
        }
    }
    let ctx = context(Channel::Email, data, mail.date.unwrap_or_else(received_at));
    finish(&record::to_record(&mail, None, media.clone(), &ctx));
    if code.is_some() {
        finish(&record::to_record(&mail, code, media, &ctx));
    }
});
