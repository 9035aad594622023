//! Proves that no `POST /v1/hotline/calls` body panics or hangs the pure adapters:
//! `hotline::parse` (the call's checks, the caller's turns of the transcript, the app's checks
//! on the report body it makes), then `app::normalize` on the hotline channel (operator
//! coordinates and urgency) to the canonical record and its reply.
#![no_main]

use chrono::Utc;
use hue_intake_adapters::{app, hotline};
use hue_intake_fuzz::{context, finish, received_at};
use hue_intake_schemas::Channel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((call, checked)) = hotline::parse(data) else {
        return;
    };
    let _ = hotline::report_body(&call);
    // A call's own time is when it started, as `hue-intake normalize` takes it.
    let at = call.started_at.map(|t| t.with_timezone(&Utc)).unwrap_or_else(received_at);
    let ctx = context(Channel::Hotline, data, at);
    finish(&app::normalize(&checked, Vec::new(), &ctx));
});
