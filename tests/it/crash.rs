//! The crash test: the real binary as a child process, reports posted concurrently, SIGKILL
//! right after the last 202, restart. Every acknowledged report must be present and written
//! to the sink exactly once.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::APP_TOKEN;

fn spawn(config: &Path) -> (std::process::Child, String) {
    crate::spawn::spawn_serve(env!("CARGO_BIN_EXE_hue-intake"), config)
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"{}\"\n[triage]\nnight_start = \"00:00\"\nnight_end = \"00:00\"\n\
             [clients.mobile]\nchannel = \"app\"\ntoken = \"{APP_TOKEN}\"\n\
             [rate_limits]\nper_address_per_minute = 0\nper_sender_per_minute = 0\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_report_survives_sigkill_and_is_delivered_once() {
    const REPORTS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let (mut child, address) = spawn(&config);

    hue_intake::net::install_crypto_provider();
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(32));
    for i in 0..REPORTS {
        let http = http.clone();
        let url = format!("http://{address}/v1/reports");
        let semaphore = semaphore.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire().await.unwrap();
            let body = json!({ "client_message_id": format!("k-{i}"), "description": format!("Ổ gà số {i} trên đường Lê Lợi"),
                               "location": { "lat": 16.4637, "lon": 107.5909 } });
            let response = http.post(url).bearer_auth(APP_TOKEN).json(&body).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 202);
            response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
        }));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.push(t.await.unwrap());
    }
    // Right after the last 202: no graceful anything.
    child.kill().unwrap();
    child.wait().unwrap();

    // Restart and stop gracefully: the restart processes what was stored but not recorded,
    // recovers deliveries in doubt, and the drain on SIGTERM delivers everything due.
    let (child, address) = spawn(&config);
    let status = http.get(format!("http://{address}/readyz")).send().await.unwrap().status();
    assert_eq!(status.as_u16(), 200);
    let mut child = child;
    assert!(crate::spawn::terminate(&mut child), "clean exit after SIGTERM");

    let sink = std::fs::read_to_string(dir.path().join("data").join("reports.jsonl")).unwrap();
    let mut delivered: Vec<String> =
        sink.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_owned()).collect();
    let total = delivered.len();
    delivered.sort();
    delivered.dedup();
    assert_eq!(delivered.len(), total, "no record was written twice");
    acknowledged.sort();
    assert_eq!(delivered, acknowledged, "every acknowledged report, and nothing else");
}

/// The same for the Zalo webhook: every body answered 200 before the SIGKILL becomes exactly
/// one record after the restart (drafts are durable; events are deduplicated across re-runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_zalo_message_survives_sigkill_and_is_recorded_once() {
    use crate::chat::{ZALO_APP_ID, ZALO_OA_SECRET, zalo, zalo_signature};
    const MESSAGES: usize = 120;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let mut text = std::fs::read_to_string(&config).unwrap();
    // Quiet 0: a complete draft becomes a record at the next pipeline step.
    text.push_str(&format!(
        "[zalo]\napp_id = \"{ZALO_APP_ID}\"\noa_secret_key = \"{ZALO_OA_SECRET}\"\n[chat]\nquiet_secs = 0\n"
    ));
    std::fs::write(&config, text).unwrap();
    let (mut child, address) = spawn(&config);

    hue_intake::net::install_crypto_provider();
    let http = reqwest::Client::new();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = Vec::new();
    for i in 0..MESSAGES {
        let (http, semaphore) = (http.clone(), semaphore.clone());
        let url = format!("http://{address}/webhooks/zalo");
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire().await.unwrap();
            // One sender each, so every message is its own complete report.
            let (body, ts) = zalo(
                "user_send_text",
                &format!("81000000000{i:05}"),
                &format!("c-{i}"),
                json!({"text": format!("Ổ gà số {i} trên đường Lê Lợi")}),
            );
            let response = http
                .post(url)
                .header("x-zevent-signature", zalo_signature(&body, &ts))
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            format!("zalo:c-{i}")
        }));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.push(t.await.unwrap());
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, _address) = spawn(&config);
    assert!(crate::spawn::terminate(&mut child), "clean exit after SIGTERM");
    let sink = std::fs::read_to_string(dir.path().join("data").join("reports.jsonl")).unwrap_or_default();
    let mut sources: Vec<String> = sink
        .lines()
        .flat_map(|l| {
            let record: Value = serde_json::from_str(l).unwrap();
            record["sources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["message_id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(sink.lines().count(), MESSAGES, "one record per message");
    sources.sort();
    acknowledged.sort();
    assert_eq!(sources, acknowledged, "every acknowledged message in exactly one record");
}
