//! Golden corpora (mail-parser's habit): every `fixtures/<channel>/NAME.json` is normalised
//! with a fixed context and compared byte for byte with `NAME.expected.json`.
//!
//! On a mismatch the actual output is written to `NAME.failed` beside the fixture so the
//! difference is one `diff` away; `UPDATE_GOLDEN=1` rewrites the expectations after a
//! deliberate change. Every output is also validated against the committed JSON Schema, and
//! each suite must have run at least one fixture, so an empty or misnamed folder cannot pass.
//! Inputs named `night-*` are received at 01:12 local time (R2), the others at 10:12; inputs
//! named `locked-*` come from a reporter whose account is locked (R12).

#[path = "support/golden.rs"]
mod golden;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hue_intake_adapters::app::{self, Context};
use hue_intake_adapters::attachment::{self, Limits};
use hue_intake_adapters::geo::Geo;
use hue_intake_adapters::triage::{Rules, Standing};
use hue_intake_schemas::{Channel, TrackingCode};

const DAY: &str = "2026-11-29T03:12:03Z";
const NIGHT: &str = "2026-11-28T18:12:03Z";
const REPORTER_KEY: &[u8] = b"golden-fixture-reporter-key";

fn normalize(channel: Channel, name: &str, raw: &[u8]) -> Result<String, String> {
    let received_at: DateTime<Utc> = if name.starts_with("night-") { NIGHT } else { DAY }.parse().unwrap();
    let checked = app::parse(raw).map_err(|e| format!("refused: {} at {}", e.detail, e.pointer))?;
    let mut media = Vec::new();
    let mut total = 0;
    for (i, m) in checked.body.media.iter().enumerate() {
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(m.data_base64.trim()).map_err(|e| e.to_string())?;
        total += bytes.len() as u64;
        media.push(
            attachment::describe(&bytes, &Limits::default(), total, &format!("/media/{i}"))
                .map_err(|e| e.to_string())?,
        );
    }
    let geo = Geo::builtin();
    let rules = Rules::default();
    let ctx = Context {
        channel,
        received_at,
        raw_sha256: attachment::sha256_hex(raw),
        record_id: "0193b5c2-7d1e-7a31-9c55-3f0e9b7c2d10".parse().unwrap(),
        tracking_code: TrackingCode::parse("HUE-7KQ4-M2XD").unwrap(),
        reporter_key: REPORTER_KEY,
        geo: &geo,
        rules: &rules,
        standing: Standing { account_locked: name.starts_with("locked-"), ..Standing::default() },
    };
    let normalized = app::normalize(&checked, media, &ctx);
    let mut out = serde_json::to_string_pretty(&normalized.report).unwrap();
    out.push('\n');
    Ok(out)
}

fn run_suite(channel: Channel) {
    let schema: serde_json::Value = serde_json::from_str(hue_intake_schemas::REPORT_SCHEMA_JSON).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    golden::run_suite(channel.as_str(), |name, raw| {
        let actual = normalize(channel, name, raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let value: serde_json::Value = serde_json::from_str(&actual).unwrap();
        let errors: Vec<String> =
            validator.iter_errors(&value).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{name}: output violates the schema: {errors:#?}");
        actual
    });
}

#[test]
fn app_golden() {
    run_suite(Channel::App);
}

#[test]
fn portal_golden() {
    run_suite(Channel::Portal);
}

#[test]
fn refused_bodies_are_not_normalised() {
    for (body, pointer) in [
        (r#"{"client_message_id":"x","description":"a","unknown":true}"#, "/unknown"),
        (r#"{"client_message_id":"x"}"#, "/description"),
        (r#"{"client_message_id":"","description":"a"}"#, "/client_message_id"),
        (r#"{"client_message_id":"x","description":"a","in_reply_to":"HUE-1234"}"#, "/in_reply_to"),
    ] {
        let err = app::parse(body.as_bytes()).unwrap_err();
        assert_eq!(err.pointer, pointer, "{body}");
    }
}
