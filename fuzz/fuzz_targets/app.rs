//! Proves that no `POST /v1/reports` body (mobile app and web portal) panics or hangs the pure
//! adapters: `app::parse` with its checks, and for a body that passes, its inline media
//! decoded and described (image sniffing, EXIF), `app::normalize` to the canonical record
//! (text cleaning, contact scrubbing, geography, the regulation rules) and the reply.
#![no_main]

use hue_intake_adapters::app;
use hue_intake_fuzz::{context, describe_media, finish, received_at};
use hue_intake_schemas::Channel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(checked) = app::parse(data) else {
        return;
    };
    let media = describe_media(&checked.body.media);
    for channel in [Channel::App, Channel::Portal] {
        let ctx = context(channel, data, received_at());
        finish(&app::normalize(&checked, media.clone(), &ctx));
    }
});
