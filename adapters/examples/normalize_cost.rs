//! Measures the CPU cost of normalising one small app report (`cargo run --release -p
//! hue-intake-adapters --example normalize_cost`): the work the receive path and the pipeline
//! each do per message.

use std::time::Instant;

use hue_intake_adapters::app::{self, Context};
use hue_intake_adapters::geo::Geo;
use hue_intake_adapters::triage::Rules;
use hue_intake_schemas::{Channel, TrackingCode};

fn main() {
    let body = r#"{"client_message_id":"bench-1","description":"Đèn đường hỏng trước số 12 Lê Lợi, tối om cả đoạn.","location":{"lat":16.4637,"lon":107.5909},"category":"lighting_power"}"#;
    let geo = Geo::builtin();
    let rules = Rules::default();
    let n = 20_000;
    let mut stages = [0u128; 3];
    for i in 0..n {
        let t0 = Instant::now();
        let checked = app::parse(body.as_bytes()).unwrap();
        let t1 = Instant::now();
        let ctx = Context {
            channel: Channel::App,
            received_at: chrono::Utc::now(),
            raw_sha256: hue_intake_adapters::attachment::sha256_hex(body.as_bytes()),
            record_id: uuid::Uuid::now_v7(),
            tracking_code: TrackingCode::from_bits(i),
            reporter_key: b"k",
            geo: &geo,
            rules: &rules,
            standing: Default::default(),
        };
        let normalized = app::normalize(&checked, Vec::new(), &ctx);
        let t2 = Instant::now();
        let json = serde_json::to_string(&normalized.report).unwrap();
        let t3 = Instant::now();
        std::hint::black_box(json);
        stages[0] += (t1 - t0).as_nanos();
        stages[1] += (t2 - t1).as_nanos();
        stages[2] += (t3 - t2).as_nanos();
    }
    let per = |ns: u128| ns as f64 / n as f64 / 1000.0;
    println!(
        "parse {:.1} µs, normalize {:.1} µs, serialise {:.1} µs per report",
        per(stages[0]),
        per(stages[1]),
        per(stages[2])
    );
}
