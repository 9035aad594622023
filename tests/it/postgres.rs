//! The gateway on PostgreSQL (`store.database_url`): a report through the real server into
//! the file sink, and two stores on one database taking turns with the pipeline lease. Each
//! test has a schema of its own on the machine's PostgreSQL server ([`PgSchema`]).

use std::time::Duration;

use hue_intake::lease;
use hue_intake::store::{Options, Store};
use serde_json::{Value, json};

use crate::common::*;

fn report(id: &str) -> Value {
    json!({
        "client_message_id": id,
        "reporter": { "name": "Trần Thị Bình", "phone": "0914 555 666" },
        "consent": true,
        "description": "Đèn đường hỏng cả dãy trên đường Hùng Vương, tối om.",
        "location": { "lat": 16.4637, "lon": 107.5909, "accuracy_m": 10 },
        "category": "lighting_power"
    })
}

/// Polls `condition` until it holds, failing after `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn postgres_a_report_is_acknowledged_recorded_and_delivered_to_the_file_sink() {
    let schema = PgSchema::create().await;
    let url = schema.url.clone();
    let mut server = Server::start_with(|c| c.store.database_url = Some(url)).await;
    let response = server.post_json(APP_TOKEN, &report("pg-1")).await;
    assert_eq!(response.status().as_u16(), 202);
    let ack: Value = response.json().await.unwrap();
    let code = ack["tracking_code"].as_str().unwrap().to_owned();

    server.delivered(1).await;
    let lines = server.sink_lines();
    assert_eq!(lines.len(), 1);
    assert_valid_report(&lines[0]);
    assert_eq!(lines[0]["tracking_code"], code.as_str());
    assert_eq!(lines[0]["sources"][0]["message_id"], "app:pg-1");

    // A retry is answered as the first time, from PostgreSQL, and records nothing new.
    let repeat: Value = server.post_json(APP_TOKEN, &report("pg-1")).await.json().await.unwrap();
    assert_eq!(repeat["tracking_code"], code.as_str());
    let status: Value =
        server.http.get(server.url(&format!("/v1/reports/{code}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["status"], "delivered");

    let dir = server.stop().await;
    assert!(!dir.path().join("hue-intake.db").exists(), "no SQLite database beside PostgreSQL");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("reports.jsonl")).unwrap().lines().count(),
        1,
        "delivered exactly once"
    );
}

#[tokio::test]
async fn postgres_two_stores_on_one_database_take_turns_with_the_pipeline_lease() {
    let schema = PgSchema::create().await;
    let options = || Options { group_commit_max_batch: 16, max_database_bytes: None };
    // Two instances starting together: one migrates, the other waits and finds it done.
    let (first, second) =
        tokio::join!(Store::open_postgres(&schema.url, options()), Store::open_postgres(&schema.url, options()));
    let (first, second) = (first.unwrap(), second.unwrap());
    let ttl = Duration::from_secs(1);

    assert!(first.try_lease(lease::PIPELINE, "first", ttl).await.unwrap());
    assert!(!second.try_lease(lease::PIPELINE, "second", ttl).await.unwrap(), "one holder at a time");
    assert!(first.try_lease(lease::PIPELINE, "first", ttl).await.unwrap(), "the holder renews");
    assert!(!second.try_lease(lease::PIPELINE, "second", ttl).await.unwrap());

    // The holder dies: it stops renewing, and the other takes over once its lease has run out.
    first.close().await;
    let standby = &second;
    eventually(Duration::from_secs(10), "the takeover", move || async move {
        standby.try_lease(lease::PIPELINE, "second", ttl).await.unwrap()
    })
    .await;
    // The old holder, back with the same id, no longer holds it.
    let restarted = Store::open_postgres(&schema.url, options()).await.unwrap();
    assert!(!restarted.try_lease(lease::PIPELINE, "first", ttl).await.unwrap());
    restarted.close().await;
    second.close().await;
}

#[tokio::test]
async fn postgres_a_server_records_nothing_while_another_instance_holds_the_pipeline_lease() {
    let schema = PgSchema::create().await;
    // Another instance holds the lease before this server starts.
    let other = Store::open_postgres(&schema.url, Options { group_commit_max_batch: 16, max_database_bytes: None })
        .await
        .unwrap();
    assert!(other.try_lease(lease::PIPELINE, "other-instance", Duration::from_secs(60)).await.unwrap());
    let url = schema.url.clone();
    let mut server = Server::start_with(|c| c.store.database_url = Some(url)).await;

    let response = server.post_json(APP_TOKEN, &report("pg-standby")).await;
    assert_eq!(response.status().as_u16(), 202, "a standby instance still receives");
    let code = response.json::<Value>().await.unwrap()["tracking_code"].as_str().unwrap().to_owned();
    // Absence can only be watched for a while: the receive woke this server's pipeline at
    // once, and for two poll intervals it must leave the message to the lease's holder.
    let watch_until = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < watch_until {
        assert_eq!(other.pending(10).await.unwrap().len(), 1, "the message waits for the lease's holder");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The holder gives the lease up: this server takes it at its next poll and records.
    other.release_lease(lease::PIPELINE, "other-instance").await.unwrap();
    server.delivered(1).await;
    assert_eq!(server.sink_lines()[0]["tracking_code"], code.as_str());
    assert!(other.pending(10).await.unwrap().is_empty());
    server.stop().await;
    other.close().await;
}
