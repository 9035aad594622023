//! `POST /v1/reports` and `GET /v1/reports/{code}` against the real server and SQLite file.

use serde_json::{Value, json};

use crate::common::*;

fn report(id: &str) -> Value {
    json!({
        "client_message_id": id,
        "account_id": "hues-102938",
        "reporter": { "name": "Nguyễn Văn An", "phone": "0905 123 456", "email": "an.nguyen@example.vn" },
        "consent": true,
        "description": "Đèn đường hỏng trước số 12 Lê Lợi, tối om cả đoạn.",
        "location": { "lat": 16.4637, "lon": 107.5909, "accuracy_m": 12 },
        "category": "lighting_power"
    })
}

fn is_tracking_code(code: &str) -> bool {
    let alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    code.len() == 13
        && code.starts_with("HUE-")
        && &code[8..9] == "-"
        && code[4..8].chars().chain(code[9..].chars()).all(|c| alphabet.contains(c))
}

#[tokio::test]
async fn a_report_is_acknowledged_recorded_and_delivered_exactly_once() {
    let mut server = Server::start().await;
    let response = server.post_json(APP_TOKEN, &report("m-1")).await;
    assert_eq!(response.status().as_u16(), 202);
    let ack: Value = response.json().await.unwrap();
    let code = ack["tracking_code"].as_str().unwrap().to_owned();
    assert!(is_tracking_code(&code), "{code}");
    assert_eq!(ack["disposition"]["state"], "accepted");

    server.delivered(1).await;
    let lines = server.sink_lines();
    assert_eq!(lines.len(), 1);
    let record = &lines[0];
    assert_valid_report(record);
    assert_eq!(record["id"], ack["id"]);
    assert_eq!(record["tracking_code"], code.as_str());
    assert_eq!(record["channel"], "app");
    assert_eq!(record["kind"], "report");
    assert_eq!(record["sources"][0]["message_id"], "app:m-1");
    assert_eq!(record["category"]["code"], "lighting_power");
    assert_eq!(record["reporter"]["has_name"], true);
    assert_eq!(record["reporter"]["has_phone"], true);
    assert_eq!(record["reporter"]["consent"], true);
    assert_eq!(record["triage"]["missing"], json!([]));

    let status: Value = server
        .http
        .get(server.url(&format!("/v1/reports/{}", code.to_lowercase())))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "delivered");
    assert_eq!(status["tracking_code"], code.as_str());

    // R8: no personal data anywhere on disk in the clear: not in records, not in the database.
    let dir = server.stop().await;
    let everything = all_bytes_under(dir.path());
    for secret in ["0905 123 456", "0905123456", "+84905123456", "an.nguyen@example.vn", "Nguyễn Văn An", "hues-102938"]
    {
        assert!(!contains(&everything, secret), "{secret} found in the data directory");
    }
}

#[tokio::test]
async fn a_repeat_returns_the_first_answer_and_a_changed_body_conflicts() {
    let mut server = Server::start().await;
    let first = server.post_json(APP_TOKEN, &report("m-2")).await;
    assert_eq!(first.status().as_u16(), 202);
    let first: Value = first.json().await.unwrap();
    let again = server.post_json(APP_TOKEN, &report("m-2")).await;
    assert_eq!(again.status().as_u16(), 202);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again);

    let mut changed = report("m-2");
    changed["description"] = json!("Một nội dung khác hẳn.");
    let problem = problem(server.post_json(APP_TOKEN, &changed).await, 409).await;
    assert_eq!(problem["pointer"], "/client_message_id");

    // The same id on the portal is another message (ids are per channel).
    assert_eq!(server.post_json(PORTAL_TOKEN, &report("m-2")).await.status().as_u16(), 202);
    server.delivered(2).await;
    let dir = server.stop().await;
    let lines: Vec<Value> = std::fs::read_to_string(dir.path().join("reports.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the repeat made no record");
    assert_eq!(lines.iter().filter(|r| r["channel"] == "portal").count(), 1);
}

#[tokio::test]
async fn bad_input_gets_a_precise_problem() {
    let server = Server::start_with(|c| c.server.max_json_bytes = 4096).await;
    let json = "application/json";

    let p = problem(
        server.post_raw(Some(APP_TOKEN), json, b"{\"client_message_id\": \"x\",\n \"description\": }".to_vec()).await,
        400,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("line 2"), "{p}");

    let p = problem(
        server
            .post_raw(Some(APP_TOKEN), json, br#"{"client_message_id":"x","description":"d","colour":"red"}"#.to_vec())
            .await,
        400,
    )
    .await;
    assert_eq!(p["pointer"], "/colour");

    let p = problem(
        server
            .post_raw(
                Some(APP_TOKEN),
                json,
                br#"{"client_message_id":"x","location":{"lat":16.4,"lon":107.5}}"#.to_vec(),
            )
            .await,
        400,
    )
    .await;
    assert_eq!(p["pointer"], "/description");

    let p = problem(
        server
            .post_raw(Some(APP_TOKEN), json, b"{\"client_message_id\":\"x\",\"description\":\"\xc3\x28\"}".to_vec())
            .await,
        400,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("UTF-8"));

    problem(server.post_raw(None, json, report("x").to_string().into_bytes()).await, 401).await;
    problem(server.post_raw(Some("not-a-token"), json, report("x").to_string().into_bytes()).await, 401).await;
    problem(server.post_raw(Some(HOTLINE_TOKEN), json, report("x").to_string().into_bytes()).await, 403).await;

    let mut big = report("x");
    big["description"] = json!("ổ gà ".repeat(1000));
    problem(server.post_raw(Some(APP_TOKEN), json, big.to_string().into_bytes()).await, 413).await;

    problem(server.post_raw(Some(APP_TOKEN), "text/plain", b"hello".to_vec()).await, 415).await;

    let p = problem(
        server
            .post_raw(
                Some(APP_TOKEN),
                json,
                br#"{"client_message_id":"x","description":"d","rating":"great","in_reply_to":"HUE-0000-0000"}"#
                    .to_vec(),
            )
            .await,
        400,
    )
    .await;
    assert_eq!(p["pointer"], "/rating");
    assert!(!p["detail"].as_str().unwrap().contains("great"), "problems never echo values");

    // None of these stored anything.
    let dir = server.stop().await;
    assert_eq!(stored_messages(dir.path(), None).await, 0);
}

#[tokio::test]
async fn interactions_and_ratings_answer_an_existing_report() {
    let mut server = Server::start().await;
    let ack: Value = server.post_json(APP_TOKEN, &report("m-3")).await.json().await.unwrap();
    let code = ack["tracking_code"].as_str().unwrap();

    let interaction = json!({ "client_message_id": "m-4", "description": "Đã 3 ngày rồi vẫn chưa sửa.", "in_reply_to": code.to_lowercase() });
    let response = server.post_json(APP_TOKEN, &interaction).await;
    assert_eq!(response.status().as_u16(), 202);
    let rating = json!({ "client_message_id": "m-5", "rating": "unsatisfied", "in_reply_to": code });
    assert_eq!(server.post_json(APP_TOKEN, &rating).await.status().as_u16(), 202);

    let unknown = json!({ "client_message_id": "m-6", "description": "?", "in_reply_to": "HUE-ZZZZ-ZZZZ" });
    let p = problem(server.post_json(APP_TOKEN, &unknown).await, 422).await;
    assert_eq!(p["pointer"], "/in_reply_to");

    server.delivered(3).await;
    let lines = server.sink_lines();
    for line in &lines {
        assert_valid_report(line);
    }
    let interaction = lines.iter().find(|r| r["kind"] == "interaction").unwrap();
    assert_eq!(interaction["in_reply_to"], code);
    assert_ne!(interaction["tracking_code"], code, "an interaction has its own tracking code");
    let rating = lines.iter().find(|r| r["kind"] == "rating").unwrap();
    assert_eq!(rating["rating"], "unsatisfied");
    assert_eq!(rating["in_reply_to"], code);
    server.stop().await;
}

#[tokio::test]
async fn a_report_without_a_place_is_incomplete_and_held() {
    let server = Server::start().await;
    let body = json!({ "client_message_id": "m-7", "description": "Rác thải đổ bừa bãi." });
    let ack: Value = server.post_json(APP_TOKEN, &body).await.json().await.unwrap();
    assert_eq!(ack["disposition"]["state"], "incomplete");
    assert_eq!(ack["disposition"]["reason"], "missing_information");
    let dir = server.stop().await;
    // Held: not downstream before the hold expires (shutdown drained everything due).
    let sink = std::fs::read_to_string(dir.path().join("reports.jsonl")).unwrap();
    assert!(sink.is_empty());
}

#[tokio::test]
async fn r2_night_reports_are_deferred_to_0730() {
    // A window around the present local time makes "now" night whenever the suite runs.
    let now = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Ho_Chi_Minh);
    let start = (now - chrono::Duration::hours(1)).format("%H:%M").to_string();
    let end = (now + chrono::Duration::hours(1)).format("%H:%M").to_string();
    let server = Server::start_with(|c| {
        c.triage.night_start = start.clone();
        c.triage.night_end = end.clone();
    })
    .await;
    let ack: Value = server.post_json(APP_TOKEN, &report("m-8")).await.json().await.unwrap();
    assert_eq!(ack["disposition"]["state"], "deferred");
    assert_eq!(ack["disposition"]["reason"], "night_non_urgent");
    let after = chrono::DateTime::parse_from_rfc3339(ack["disposition"]["deliver_after"].as_str().unwrap()).unwrap();
    let local = after.with_timezone(&chrono_tz::Asia::Ho_Chi_Minh);
    assert_eq!(local.format("%H:%M").to_string(), end);
    assert!(after > chrono::Utc::now());
    let dir = server.stop().await;
    assert!(std::fs::read_to_string(dir.path().join("reports.jsonl")).unwrap().is_empty(), "deferred, not delivered");
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let server = Server::start().await;
    assert_eq!(server.post_json(APP_TOKEN, &report("m-9")).await.status().as_u16(), 202);
    let health: Value = server.http.get(server.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let ready = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for name in [
        "hue_intake_messages_received_total{channel=\"app\"}",
        "hue_intake_commit_seconds_bucket",
        "hue_intake_commit_batch_size_bucket",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    let openapi: Value = server.http.get(server.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3.1"));
    problem(server.http.get(server.url("/nowhere")).send().await.unwrap(), 404).await;
    problem(server.http.delete(server.url("/v1/reports")).send().await.unwrap(), 405).await;
    problem(server.http.get(server.url("/v1/reports/HUE-0000-0000")).send().await.unwrap(), 404).await;
    let p = problem(server.http.get(server.url("/v1/reports/nonsense")).send().await.unwrap(), 400).await;
    assert_eq!(p["pointer"], "/tracking_code");
    let response = server.http.get(server.url("/healthz")).send().await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
    server.stop().await;
}

#[tokio::test]
async fn concurrent_reports_share_commits_and_all_arrive() {
    let mut server = Server::start().await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let http = server.http.clone();
        let url = server.url("/v1/reports");
        tasks.push(tokio::spawn(async move {
            let response = http.post(url).bearer_auth(APP_TOKEN).json(&report(&format!("c-{i}"))).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 202);
            response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    server.delivered(200).await;
    let mut delivered: Vec<String> = server.sink_lines().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    delivered.sort();
    ids.sort();
    assert_eq!(delivered, ids);
    let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let commits: f64 = metrics
        .lines()
        .find(|l| l.starts_with("hue_intake_commit_batch_size_count"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .parse()
        .unwrap();
    assert!(commits >= 1.0);
    server.stop().await;
}

#[tokio::test]
async fn when_the_store_cannot_commit_the_answer_is_503_and_nothing_acknowledged_is_lost() {
    let mut server = Server::start_with(|c| c.store.max_database_bytes = Some(512 * 1024)).await;
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..3000 {
        let mut body = report(&format!("full-{i}"));
        body["description"] =
            json!(format!("{} {i}", "Nước ngập sâu trên đường Hùng Vương, xe không qua được. ".repeat(8)));
        let response = server.post_json(APP_TOKEN, &body).await;
        match response.status().as_u16() {
            202 => acknowledged.push(response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()),
            503 => {
                assert!(response.headers().contains_key("retry-after"));
                refused = Some(problem(response, 503).await);
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let refused = refused.expect("the cap was reached within 3000 reports");
    assert!(!refused["detail"].as_str().unwrap().contains("Nước"), "no payload in the error");
    assert!(!acknowledged.is_empty());
    // Everything acknowledged before the refusal is there and goes downstream.
    server.delivered(acknowledged.len() as u64).await;
    let delivered: std::collections::HashSet<String> =
        server.sink_lines().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert!(acknowledged.iter().all(|id| delivered.contains(id)));
    server.stop().await;
}

/// Rotating the sealing key (deploy/OPERATIONS.md): new messages are sealed with the new key,
/// what the old key sealed still opens, and a reporter keeps their reference (R12's counts
/// follow them) because `reporter_ref_key_id` pins the key references come from.
#[tokio::test]
async fn after_a_sealing_key_rotation_old_values_open_new_ones_use_the_new_key_and_references_stay() {
    use base64::Engine as _;
    let b64 = |k: [u8; 32]| base64::engine::general_purpose::STANDARD.encode(k);
    let mut before = Server::start_with(|c| {
        c.privacy.seal_key = Some(b64([1; 32]));
        c.privacy.seal_key_id = "k1".into();
    })
    .await;
    assert_eq!(before.post_json(APP_TOKEN, &report("rot-1")).await.status().as_u16(), 202);
    before.delivered(1).await;
    let first_ref = before.sink_lines()[0]["reporter"]["ref"].as_str().unwrap().to_owned();
    let dir = before.stop().await;

    let data = dir.path().to_path_buf();
    let rotated = |c: &mut hue_intake::config::Config| {
        c.store.data_dir = data.clone();
        c.privacy.seal_key = Some(b64([2; 32]));
        c.privacy.seal_key_id = "k2".into();
        c.privacy.previous_keys.insert("k1".into(), b64([1; 32]));
        c.privacy.reporter_ref_key_id = Some("k1".into());
    };
    let mut after = Server::start_with(rotated).await;
    assert_eq!(after.post_json(APP_TOKEN, &report("rot-2")).await.status().as_u16(), 202);
    after.delivered(1).await;
    let lines: Vec<Value> = std::fs::read_to_string(data.join("reports.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["reporter"]["ref"], first_ref.as_str(), "the same reporter, the same reference");

    let store = after.store();
    let messages = store.messages(&[1, 2]).await.unwrap();
    drop(store);
    let mut config = hue_intake::config::Config::defaults();
    rotated(&mut config);
    let sealer = hue_intake::seal::Sealer::from_config(&config.privacy, &data).unwrap();
    for (message, key_id) in messages.iter().zip(["k1", "k2"]) {
        assert_eq!(&message.raw_sealed[1..3], key_id.as_bytes(), "{} sealed with {key_id}", message.message_id);
        let raw = sealer
            .open(&message.raw_sealed, &hue_intake::pipeline::raw_associated_data(message.channel, &message.message_id))
            .unwrap();
        assert!(String::from_utf8(raw).unwrap().contains(&message.message_id));
    }
    after.stop().await;
}

/// `pipeline.enabled = false` (a receive-only process, and the scale benchmark): reports are
/// acknowledged and stored, and wait unprocessed until a process with the pipeline starts.
#[tokio::test]
async fn with_the_pipeline_off_reports_wait_stored_for_the_next_start() {
    hue_intake::net::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let start = |enabled: bool| {
        let mut c = config(dir.path());
        c.pipeline.enabled = enabled;
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            hue_intake::start(c, listener).await.unwrap()
        }
    };
    let off = start(false).await;
    let http = reqwest::Client::new();
    for id in ["off-1", "off-2", "off-3"] {
        let url = format!("http://{}/v1/reports", off.address);
        let response = http.post(url).bearer_auth(APP_TOKEN).json(&report(id)).send().await.unwrap();
        assert_eq!(response.status(), 202);
    }
    assert_eq!(off.store.pending(10).await.unwrap().len(), 3, "stored, not folded");
    off.stop().await.unwrap();

    let mut on = start(true).await;
    let all =
        tokio::time::timeout(std::time::Duration::from_secs(20), on.delivered.wait_for(|n| *n >= 3)).await.is_ok();
    assert!(all, "the next start with the pipeline folds and delivers them");
    assert!(on.store.pending(10).await.unwrap().is_empty());
    on.stop().await.unwrap();
}
