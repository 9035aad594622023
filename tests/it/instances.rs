//! Several gateways on one PostgreSQL: two real `hue-intake serve` processes share one
//! database (a schema of the test's own) and deliver to one core double over HTTP. Reports are
//! posted to both at once, like a load balancer would; one process is killed with SIGKILL
//! half-way, and its requests go to the other (a client retries the same
//! `client_message_id`). Every report that got a 202 must end up as exactly one record at
//! the core, and nothing else may: the survivor takes the pipeline and delivery leases over
//! once the dead holder's run out, and the core recognises any resend by its
//! `Idempotency-Key`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{APP_TOKEN, PgSchema};
use crate::delivery::{CORE_SECRET, Core, until_within};

fn write_config(dir: &Path, name: &str, database_url: &str, core: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let data = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"{}\"\ndatabase_url = \"{database_url}\"\n\
             [triage]\nnight_start = \"00:00\"\nnight_end = \"00:00\"\n\
             [sink]\npoll_interval_ms = 100\nretry_base_ms = 100\nretry_max_secs = 1\n\
             [sinks.core]\nurl = \"{core}/intake/records\"\nsigning_secret = \"{CORE_SECRET}\"\n\
             [privacy]\nseal_key = \"{}\"\n\
             [clients.mobile]\nchannel = \"app\"\ntoken = \"{APP_TOKEN}\"\n\
             [rate_limits]\nper_address_per_minute = 0\nper_sender_per_minute = 0\n",
            data.display(),
            // Both instances seal and open each other's messages: one key.
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]),
        ),
    )
    .unwrap();
    path
}

fn spawn(config: &Path) -> (Child, String) {
    crate::spawn::spawn_serve(env!("CARGO_BIN_EXE_hue-intake"), config)
}

fn report(n: usize) -> Value {
    json!({
        "client_message_id": format!("lb-{n}"),
        "reporter": { "name": "Trần Thị Bình", "phone": "0914 222 333" },
        "consent": false,
        "description": format!("Ổ gà số {n} trên đường Hùng Vương, xe máy dễ ngã."),
        "location": { "lat": 16.46, "lon": 107.59 },
        "category": "roads"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_postgresql_one_killed_mid_way_deliver_every_acknowledged_report_once() {
    const REPORTS: usize = 240;
    hue_intake::net::install_crypto_provider();
    let schema = PgSchema::create().await;
    let core = Core::default();
    let core_url = Core::start(core.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut first, first_address) = spawn(&write_config(dir.path(), "first", &schema.url, &core_url));
    let (mut second, second_address) = spawn(&write_config(dir.path(), "second", &schema.url, &core_url));

    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let acked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let semaphore = Arc::new(tokio::sync::Semaphore::new(24));
    let mut tasks = Vec::new();
    for n in 0..REPORTS {
        let (http, semaphore, acked) = (http.clone(), semaphore.clone(), acked.clone());
        let addresses = [first_address.clone(), second_address.clone()];
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire().await.unwrap();
            // Alternate, and fall over to the other gateway when one does not answer.
            for attempt in 0..6 {
                let address = &addresses[(n + attempt) % 2];
                let sent = http
                    .post(format!("http://{address}/v1/reports"))
                    .bearer_auth(APP_TOKEN)
                    .json(&report(n))
                    .send()
                    .await;
                if let Ok(response) = sent {
                    if response.status().as_u16() == 202 {
                        let ack: Value = response.json().await.unwrap();
                        acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        return Some((format!("app:lb-{n}"), ack["tracking_code"].as_str().unwrap().to_owned()));
                    }
                    assert_eq!(response.status().as_u16(), 503, "only a 202 or a 503 while one gateway dies");
                }
            }
            None
        }));
    }
    // Half-way, under load: SIGKILL the first gateway (it started first, so it most likely
    // holds the pipeline and delivery leases).
    until_within("half the reports acknowledged", Duration::from_secs(60), || {
        acked.load(std::sync::atomic::Ordering::SeqCst) >= REPORTS / 2
    })
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let mut acknowledged: BTreeMap<String, String> = BTreeMap::new();
    for task in tasks {
        if let Some((source, code)) = task.await.unwrap() {
            acknowledged.insert(source, code);
        }
    }
    assert_eq!(acknowledged.len(), REPORTS, "the surviving gateway acknowledged what the dead one could not");

    // The survivor takes the leases over when the dead holder's run out (15 s), then delivers.
    let expected: BTreeSet<String> = acknowledged.keys().cloned().collect();
    let delivered_sources = || -> BTreeSet<String> {
        core.taken
            .lock()
            .unwrap()
            .values()
            .flat_map(|record| record["sources"].as_array().cloned().unwrap_or_default())
            .filter_map(|s| s["message_id"].as_str().map(str::to_owned))
            .collect()
    };
    until_within("every acknowledged report at the core", Duration::from_secs(60), || {
        delivered_sources().is_superset(&expected)
    })
    .await;
    assert!(crate::spawn::terminate(&mut second), "the survivor exits cleanly");

    let taken = core.taken.lock().unwrap().clone();
    assert_eq!(taken.len(), REPORTS, "one record per acknowledged report, and nothing else");
    let mut by_source: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for record in taken.values() {
        for source in record["sources"].as_array().unwrap() {
            by_source.entry(source["message_id"].as_str().unwrap().to_owned()).or_default().push(record);
        }
    }
    for (source, code) in &acknowledged {
        let records = &by_source[source];
        assert_eq!(records.len(), 1, "{source} is in exactly one record");
        assert_eq!(records[0]["tracking_code"], code.as_str(), "{source} under the code its 202 gave");
    }
    assert!(core.problems.lock().unwrap().is_empty(), "{:?}", core.problems.lock().unwrap());
    let resent = core.accepted().len() - taken.len();
    eprintln!(
        "{} POSTs for {} records ({resent} resends recognised by Idempotency-Key)",
        core.accepted().len(),
        taken.len()
    );
    drop(schema);
}
