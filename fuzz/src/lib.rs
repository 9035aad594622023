//! What the fuzz targets share: the fixed context the pure normalisers need beside a message
//! (built once per process), and the downstream steps a parsed message goes through in the
//! service, so that every target drives a body as far as the pure code takes it.

use std::sync::LazyLock;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hue_intake_adapters::app::{Context, Normalized};
use hue_intake_adapters::assembly::{self, Closed, Conversation, Part, Timing};
use hue_intake_adapters::attachment::{self, Limits};
use hue_intake_adapters::chat::ChatEvent;
use hue_intake_adapters::geo::Geo;
use hue_intake_adapters::replies;
use hue_intake_adapters::triage::{Rules, Standing};
use hue_intake_schemas::{Channel, InboundMedia, MediaItem, TrackingCode};

/// The receive time of every fuzzed message (10:12 in Huế).
pub const RECEIVED_AT: &str = "2026-11-29T03:12:03Z";
const REPORTER_KEY: &[u8] = b"fuzz-reporter-key";

static GEO: LazyLock<Geo> = LazyLock::new(Geo::builtin);
static RULES: LazyLock<Rules> = LazyLock::new(Rules::default);

pub fn received_at() -> DateTime<Utc> {
    RECEIVED_AT.parse().expect("a valid constant")
}

/// The context the service would give a message of `channel` with these bytes.
pub fn context(channel: Channel, raw: &[u8], received_at: DateTime<Utc>) -> Context<'static> {
    Context {
        channel,
        received_at,
        raw_sha256: attachment::sha256_hex(raw),
        record_id: "0193b5c2-7d1e-7a31-9c55-3f0e9b7c2d10".parse().expect("a valid constant"),
        tracking_code: TrackingCode::parse("HUE-7KQ4-M2XD").expect("a valid constant"),
        reporter_key: REPORTER_KEY,
        geo: &GEO,
        rules: &RULES,
        standing: Standing::default(),
    }
}

/// Inline base64 media of an app or call body, described as the receive path does; a bad
/// item is left out (the service refuses the body, which is the same for the fuzzer).
pub fn describe_media(media: &[InboundMedia]) -> Vec<MediaItem> {
    let limits = Limits::default();
    let mut total = 0u64;
    let mut out = Vec::new();
    for (i, m) in media.iter().enumerate() {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(m.data_base64.trim()) else {
            continue;
        };
        total += bytes.len() as u64;
        if let Ok(item) = attachment::describe(&bytes, &limits, total, &format!("/media/{i}")) {
            out.push(item);
        }
    }
    out
}

/// What the service does next with a record, purely: compose the citizen's reply.
pub fn finish(normalized: &Normalized) {
    let _ = replies::compose(&normalized.report, &Standing::default(), RULES.zone);
}

/// Chat events assembled into drafts and records as `hue-intake normalize` does offline.
pub fn assemble(channel: Channel, raw: &[u8], events: Vec<ChatEvent>) {
    let raw_sha256 = attachment::sha256_hex(raw);
    let fallback = received_at();
    let mut conversation = Conversation::new(Timing::default());
    let mut closed: Vec<Closed> = Vec::new();
    for event in events {
        let _ = assembly::dedup_key(&event);
        let _ = hue_intake_adapters::results::rating_of_event(&event);
        let received_at = event.sent_at.unwrap_or(fallback);
        closed.extend(conversation.push(Part { event, received_at, raw_sha256: raw_sha256.clone() }));
    }
    closed.extend(conversation.finish());
    for draft in closed {
        let _ = assembly::is_complete(&draft.parts);
        let _ = assembly::missing_essentials(&draft.parts);
        let media = assembly::unfetched_media(&draft.parts);
        let ctx = context(channel, raw, draft.parts[0].received_at);
        let normalized = assembly::to_record(&draft.parts, draft.in_reply_to.clone(), media, &ctx);
        finish(&normalized);
    }
}

/// libfuzzer-sys aborts on every panic, even one the code under test catches on purpose:
/// the adapters take a panic of mail-parser for "not a message" (`email::guarded`). This puts
/// the default hook back (once), so a caught panic is only printed; a panic that escapes the
/// target still reaches libfuzzer-sys's own `catch_unwind`, which aborts: a finding as before.
pub fn tolerate_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| drop(std::panic::take_hook()));
}
