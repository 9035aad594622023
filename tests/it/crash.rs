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
             [clients.mobile]\nchannel = \"app\"\ntoken = \"{APP_TOKEN}\"\n",
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
    let status = reqwest::get(format!("http://{address}/readyz")).await.unwrap().status();
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
