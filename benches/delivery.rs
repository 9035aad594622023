//! Benchmark of delivery: a backlog of records drained from the outbox to each kind of sink.
//!
//! `cargo bench --bench delivery` (add `-- --records N --batch N`): commits `--records`
//! (default 100,000) canonical records of about 1 KB to a fresh SQLite store, queued for three
//! sinks, then drains each sink in turn with its real outbox worker (`Deliverer::step`) and
//! prints records/s:
//! - **file** (the baseline of the same run: JSON Lines appended and fsynced per batch);
//! - **http**: a local receiver (axum on 127.0.0.1) answering 201 with a case id, one POST per
//!   record over keep-alive, as the core case system gets them;
//! - **nats**: the machine's NATS JetStream on 127.0.0.1:4222, a fresh stream, each batch
//!   published at once and every acknowledgement awaited (skipped with a note when NATS does
//!   not answer).
//!
//! Each drain settles every row in the store as it goes, so the figure is end to end: read
//! due rows, send, settle. Numbers are measured, not asserted: this is not a test.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use hue_intake::config::{Config, SinkTarget};
use hue_intake::deliver::{Deliverer, Sink};
use hue_intake::store::{NewRecord, Options, Processed, Store};
use hue_intake_schemas::{Channel, Kind};

fn main() {
    hue_intake::net::install_crypto_provider();
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let arg = |name: &str, default: usize| value(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let records = arg("--records", 100_000);
    let batch = arg("--batch", Config::defaults().sink.batch_size);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(records, batch));
}

async fn run(records: usize, batch: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path(), Options { group_commit_max_batch: 512, max_database_bytes: None })
        .await
        .unwrap();
    let nats_up = tokio::net::TcpStream::connect("127.0.0.1:4222").await.is_ok();
    let mut sinks = vec!["file".to_owned(), "http".to_owned()];
    if nats_up {
        sinks.push("nats".to_owned());
    }
    store.register_sinks(&sinks).await.unwrap();

    println!("hue-intake delivery benchmark: {records} records, batches of {batch}");
    let started = Instant::now();
    for chunk in (0..records).collect::<Vec<_>>().chunks(512) {
        let batch: Vec<NewRecord> = chunk.iter().map(|n| record(*n)).collect();
        store.commit_processed(Processed { records: batch, ..Processed::default() }).await.unwrap();
    }
    println!("  queued in {:.1} s ({} outbox rows)", started.elapsed().as_secs_f64(), records * sinks.len());
    println!();
    println!("{:<10} {:>12} {:>10}", "sink", "records/s", "seconds");

    let mut config = Config::defaults();
    config.store.data_dir = dir.path().to_path_buf();
    config.sink.batch_size = batch;
    let receiver = receiver().await;
    let mut targets = vec![
        ("file", SinkTarget { url: "file:bench.jsonl".into(), ..SinkTarget::default_file() }),
        ("http", SinkTarget { url: format!("{receiver}/records"), ..SinkTarget::default_file() }),
    ];
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let stream = format!("HUE_BENCH_{tag}");
    if nats_up {
        targets.push((
            "nats",
            SinkTarget {
                url: "nats://127.0.0.1:4222".into(),
                subject: Some(format!("hue.bench.{tag}")),
                stream: Some(stream.clone()),
                ..SinkTarget::default_file()
            },
        ));
    } else {
        println!("{:<10} skipped: nothing answers on 127.0.0.1:4222", "nats");
    }
    let mut baseline = None;
    for (name, target) in targets {
        let sink = Sink::build(name, &target, &config, None).await.unwrap();
        let (tx, _rx) = tokio::sync::watch::channel(0);
        let mut worker = Deliverer::new(store.clone(), name, sink, &config, Arc::new(tx));
        let started = Instant::now();
        let mut delivered = 0;
        while delivered < records {
            let n = worker.step().await.unwrap();
            assert!(n > 0, "{name}: the drain stopped at {delivered}");
            delivered += n;
        }
        let seconds = started.elapsed().as_secs_f64();
        let rate = records as f64 / seconds;
        let ratio = match baseline {
            None => {
                baseline = Some(rate);
                "baseline".to_owned()
            }
            Some(base) => format!("{:.2} × file", rate / base),
        };
        println!("{name:<10} {rate:>12.0} {seconds:>10.1}   {ratio}");
        assert!(store.due(name, Utc::now(), 1).await.unwrap().is_empty());
    }
    if nats_up {
        let client = async_nats::connect("127.0.0.1:4222").await.unwrap();
        let _ = async_nats::jetstream::new(client).delete_stream(&stream).await;
    }
    store.close().await;
}

/// A record of about 1 KB, as the pipeline commits them.
fn record(n: usize) -> NewRecord {
    let id = uuid::Uuid::now_v7();
    let code = hue_intake::ids::new_tracking_code().to_string();
    let body = serde_json::json!({
        "schema": "hue-intake.report.v1", "id": id, "tracking_code": code, "kind": "report", "channel": "zalo",
        "received_at": "2026-11-29T01:12:03Z", "occurred_at": "2026-11-29T08:05:00+07:00",
        "language": { "code": "vi", "confidence": 0.97 },
        "title": format!("Cây đổ chắn ngang đường Lê Lợi số {n}"),
        "description": "Cây đổ chắn ngang đường Lê Lợi, gần trường Quốc Học, xe không qua được. Nhánh lớn đè lên dây điện, người dân đang phải đi vòng qua kiệt bên cạnh.",
        "category": { "code": "trees", "confidence": 0.8 },
        "location": { "lat": 16.4637, "lon": 107.5909, "source": "device", "address": "12 Lê Lợi, phường Thuận Hóa",
                      "ward": { "code": "19789", "name": "Thuận Hóa" }, "within_jurisdiction": true },
        "media": [], "reporter": { "ref": "rp_5f0c", "has_name": true, "has_phone": false, "has_email": false, "consent": false },
        "urgency": { "level": "immediate", "signals": ["cây đổ", "chắn ngang đường"] },
        "triage": { "window": "day", "scope": "in_scope", "scope_reason": null, "improper_language": false, "missing": ["phone", "email"] },
        "disposition": { "state": "accepted", "reason": null, "deliver_after": null },
        "in_reply_to": null, "rating": null,
        "sources": [{ "message_id": format!("zalo:{n:016x}"), "received_at": "2026-11-29T01:12:03Z", "raw_sha256": "9f2c".repeat(16) }]
    });
    NewRecord {
        id,
        tracking_code: code,
        kind: Kind::Report,
        channel: Channel::Zalo,
        received_at: Utc::now(),
        state: "accepted".to_owned(),
        in_reply_to: None,
        body: body.to_string(),
        reporter_ref: "rp_5f0c".to_owned(),
        consent: false,
        identity_sealed: vec![0; 64],
        deliver_after: Some(Utc::now()),
        violation: None,
    }
}

/// A receiver that takes every record: 201 with a case id.
async fn receiver() -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/records",
        post(|body: axum::body::Bytes| async move {
            let id = body.get(7..43).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            (axum::http::StatusCode::CREATED, axum::Json(serde_json::json!({ "case_id": id })))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}
