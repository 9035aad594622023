//! The Facebook and Zalo webhooks through the real server: signatures computed here, bodies
//! as the platforms post them, records read from the file sink.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{APP_TOKEN, Server, contains, problem};

pub const FB_APP_SECRET: &str = "fb-app-secret-for-tests";
pub const FB_VERIFY_TOKEN: &str = "fb-verify-token-for-tests";
pub const FB_PAGE_ID: &str = "102938475610293";
pub const ZALO_APP_ID: &str = "4411223344556677889";
pub const ZALO_OA_SECRET: &str = "zalo-oa-secret-for-tests";

/// Both webhooks on, drafts that close after 1 s of quiet (3 s at most), a fast poll.
pub fn with_chat(c: &mut hue_intake::config::Config) {
    c.facebook.app_secret = Some(FB_APP_SECRET.into());
    c.facebook.verify_token = Some(FB_VERIFY_TOKEN.into());
    c.facebook.page_id = Some(FB_PAGE_ID.into());
    c.zalo.app_id = Some(ZALO_APP_ID.into());
    c.zalo.oa_secret_key = Some(ZALO_OA_SECRET.into());
    c.chat.quiet_secs = 1;
    c.chat.max_draft_secs = 3;
    c.triage.incomplete_hold_secs = 0;
    c.sink.poll_interval_ms = 50;
}

pub fn facebook_signature(body: &[u8]) -> String {
    crate::signing::facebook(FB_APP_SECRET, body)
}

pub fn zalo_signature(body: &[u8], timestamp: &str) -> String {
    crate::signing::zalo(ZALO_APP_ID, ZALO_OA_SECRET, body, timestamp)
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A Messenger message event body from `psid`.
pub fn messenger(psid: &str, mid: &str, message: Value) -> Vec<u8> {
    let mut message = message;
    message["mid"] = json!(mid);
    serde_json::to_vec(&json!({
        "object": "page",
        "entry": [{"id": FB_PAGE_ID, "time": now_ms(), "messaging": [{
            "sender": {"id": psid}, "recipient": {"id": FB_PAGE_ID}, "timestamp": now_ms(), "message": message
        }]}]
    }))
    .unwrap()
}

/// A Zalo `user_send_*` body from `user`, signed-time now.
pub fn zalo(event: &str, user: &str, msg_id: &str, message: Value) -> (Vec<u8>, String) {
    zalo_at(event, user, msg_id, message, &now_ms().to_string())
}

impl Server {
    pub async fn post_facebook(&self, body: &[u8], signature: Option<&str>) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.url("/webhooks/facebook"))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send().await.unwrap()
    }

    pub async fn post_facebook_signed(&self, body: &[u8]) -> reqwest::Response {
        self.post_facebook(body, Some(&facebook_signature(body))).await
    }

    pub async fn post_zalo(&self, (body, timestamp): &(Vec<u8>, String)) -> reqwest::Response {
        self.http
            .post(self.url("/webhooks/zalo"))
            .header("content-type", "application/json")
            .header("x-zevent-signature", zalo_signature(body, timestamp))
            .body(body.clone())
            .send()
            .await
            .unwrap()
    }

    /// A counter's value from /metrics (0 when absent).
    pub async fn metric(&self, name_and_labels: &str) -> f64 {
        let text = self.http.get(self.url("/metrics")).send().await.unwrap().text().await.unwrap();
        text.lines()
            .filter(|l| l.starts_with(name_and_labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Waits (bounded) until a metric reaches `at_least`.
    pub async fn metric_reaches(&self, name_and_labels: &str, at_least: f64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.metric(name_and_labels).await;
            if value >= at_least {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{name_and_labels} stayed at {value} < {at_least}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[tokio::test]
async fn facebook_handshake_echoes_the_challenge_only_for_the_verify_token() {
    let server = Server::start_with(with_chat).await;
    let ok = server
        .http
        .get(server.url(&format!(
            "/webhooks/facebook?hub.mode=subscribe&hub.verify_token={FB_VERIFY_TOKEN}&hub.challenge=1158201444"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = server
        .http
        .get(server.url("/webhooks/facebook?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1"))
        .send()
        .await
        .unwrap();
    problem(wrong, 403).await;

    let unconfigured = Server::start().await;
    let off = unconfigured
        .http
        .get(unconfigured.url("/webhooks/facebook?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1"))
        .send()
        .await
        .unwrap();
    problem(off, 404).await;
}

#[tokio::test]
async fn forged_unsigned_and_oversized_posts_are_refused_and_nothing_of_them_is_recorded() {
    let mut server = Server::start_with(|c| {
        with_chat(c);
        c.chat.max_webhook_bytes = 4096;
    })
    .await;
    // Counters are process-wide (tests share them): measured as increases.
    let refused = "hue_intake_webhook_refused_total{channel=\"facebook\",reason=\"signature\"}";
    let refused_before = server.metric(refused).await;
    let forged = messenger("PSID-FORGED", "m.forged", json!({"text": "Cây đổ đường Lê Lợi (giả mạo)"}));
    let p = problem(server.post_facebook(&forged, Some(&format!("sha256={}", "0".repeat(64)))).await, 401).await;
    assert!(p["detail"].as_str().unwrap().contains("does not match"), "{p}");
    problem(server.post_facebook(&forged, None).await, 401).await;
    let huge = messenger("PSID-HUGE", "m.huge", json!({"text": "x".repeat(8000)}));
    problem(server.post_facebook_signed(&huge).await, 413).await;
    // A Zalo body signed an hour ago is a replay.
    let stale_ts = (now_ms() - 3_600_000).to_string();
    let (stale, _) =
        zalo_at("user_send_text", "ZU-STALE", "stale1", json!({"text": "Ngập đường Hùng Vương"}), &stale_ts);
    let p = problem(server.post_zalo(&(stale, stale_ts)).await, 401).await;
    assert!(p["detail"].as_str().unwrap().contains("older"), "{p}");
    assert!(server.metric(refused).await >= refused_before + 2.0);

    // The barrier: an authentic message goes through, and it is the only record.
    let real = messenger("PSID-REAL", "m.real", json!({"text": "Đèn đường hỏng ở kiệt 12 Nguyễn Trãi"}));
    assert_eq!(server.post_facebook_signed(&real).await.status(), 200);
    server.delivered(1).await;
    let lines = server.sink_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["sources"][0]["message_id"], "facebook:m.real");
    let all = crate::common::all_bytes_under(server.dir.path());
    assert!(!contains(&all, "giả mạo") && !contains(&all, "PSID-FORGED"), "a forged body was stored");
}

/// A Zalo body whose signed timestamp is `timestamp`.
pub fn zalo_at(event: &str, user: &str, msg_id: &str, message: Value, timestamp: &str) -> (Vec<u8>, String) {
    let mut message = message;
    message["msg_id"] = json!(msg_id);
    let body = serde_json::to_vec(&json!({
        "app_id": ZALO_APP_ID, "user_id_by_app": "3300112233445566778", "event_name": event,
        "timestamp": timestamp, "sender": {"id": user}, "recipient": {"id": "2012345678901234567"},
        "message": message
    }))
    .unwrap();
    (body, timestamp.to_owned())
}

#[tokio::test]
async fn zalo_text_then_pin_assemble_into_one_record_without_personal_data() {
    let mut server = Server::start_with(with_chat).await;
    let text =
        zalo("user_send_text", "8123456789012345678", "zmsg-1", json!({"text": "Ngập sâu, xe máy không qua được"}));
    let pin = zalo(
        "user_send_location",
        "8123456789012345678",
        "zmsg-2",
        json!({"text": "Cầu Trường Tiền", "attachments": [{"type": "location",
            "payload": {"coordinates": {"latitude": "16.4684", "longitude": "107.5873"}}}]}),
    );
    for body in [&text, &pin] {
        let response = server.post_zalo(body).await;
        assert_eq!(response.status(), 200);
    }
    server.delivered(1).await;
    let lines = server.sink_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let record = &lines[0];
    crate::common::assert_valid_report(record);
    assert_eq!(record["channel"], "zalo");
    assert_eq!(record["kind"], "report");
    let sources: Vec<&str> =
        record["sources"].as_array().unwrap().iter().map(|s| s["message_id"].as_str().unwrap()).collect();
    assert_eq!(sources, ["zalo:zmsg-1", "zalo:zmsg-2"]);
    assert_eq!(record["description"], "Ngập sâu, xe máy không qua được");
    assert_eq!(record["location"]["lat"], 16.4684);
    assert_eq!(record["location"]["address"], "Cầu Trường Tiền");
    assert_eq!(record["location"]["source"], "device");
    assert_eq!(record["disposition"]["state"], "accepted");
    // The sender's Zalo id is personal data: sealed, never in the record or in clear on disk.
    let all = crate::common::all_bytes_under(server.dir.path());
    assert!(!contains(&all, "8123456789012345678"), "a Zalo user id is in clear on disk");
    // A second message of the same person later starts a new draft with the same reporter.
    let again = zalo("user_send_text", "8123456789012345678", "zmsg-3", json!({"text": "Cây đổ ở kiệt 5 Nguyễn Huệ"}));
    assert_eq!(server.post_zalo(&again).await.status(), 200);
    server.delivered(2).await;
    let lines = server.sink_lines();
    assert_eq!(lines[1]["reporter"]["ref"], record["reporter"]["ref"], "one person, one reporter ref");
    assert_ne!(lines[1]["tracking_code"], record["tracking_code"]);
}

#[tokio::test]
async fn the_same_body_three_times_at_once_and_an_event_again_in_another_body_make_one_record() {
    let mut server = Server::start_with(with_chat).await;
    let duplicates = "hue_intake_chat_events_total{channel=\"facebook\",route=\"duplicate\"}";
    let duplicates_before = server.metric(duplicates).await;
    let body = messenger("PSID-1", "m.dup", json!({"text": "Rác thải đổ trộm ở đường Bà Triệu"}));
    let posts = (0..3).map(|_| server.post_facebook_signed(&body));
    for response in futures_util::future::join_all(posts).await {
        assert_eq!(response.status(), 200);
    }
    // Meta may batch a retried event with another one: same mid, different body.
    let batched =
        serde_json::to_vec(&json!({"object": "page", "entry": [{"id": FB_PAGE_ID, "time": now_ms(), "messaging": [
            {"sender": {"id": "PSID-1"}, "recipient": {"id": FB_PAGE_ID}, "timestamp": now_ms(),
             "message": {"mid": "m.dup", "text": "Rác thải đổ trộm ở đường Bà Triệu"}},
            {"sender": {"id": "PSID-2"}, "recipient": {"id": FB_PAGE_ID}, "timestamp": now_ms(),
             "message": {"mid": "m.other", "text": "Đèn tín hiệu hỏng ở ngã tư Lê Lợi - Hà Nội"}}
        ]}]}))
        .unwrap();
    assert_eq!(server.post_facebook_signed(&batched).await.status(), 200);
    server.delivered(2).await;
    let lines = server.sink_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let mut ids: Vec<&str> = lines.iter().map(|l| l["sources"][0]["message_id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["facebook:m.dup", "facebook:m.other"]);
    assert!(server.metric(duplicates).await >= duplicates_before + 1.0);
}

#[tokio::test]
async fn a_tracking_code_in_a_message_makes_an_interaction_on_that_report() {
    let mut server = Server::start_with(with_chat).await;
    let ack: Value = server
        .post_json(
            APP_TOKEN,
            &json!({"client_message_id": "r-1", "description": "Ổ gà lớn trước số 10 Lê Lợi",
            "location": {"lat": 16.4637, "lon": 107.5909}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let code = ack["tracking_code"].as_str().unwrap().to_owned();
    server.delivered(1).await;
    let follow_up = zalo(
        "user_send_text",
        "ZU-9",
        "zmsg-follow",
        json!({"text": format!("Bổ sung cho {}: ổ gà đã rộng hơn", code.to_lowercase())}),
    );
    assert_eq!(server.post_zalo(&follow_up).await.status(), 200);
    server.delivered(2).await;
    let lines = server.sink_lines();
    assert_eq!(lines[1]["kind"], "interaction");
    assert_eq!(lines[1]["in_reply_to"], code.as_str());
    crate::common::assert_valid_report(&lines[1]);
}

#[tokio::test]
async fn stickers_echoes_receipts_follows_and_the_probe_make_no_record() {
    let mut server = Server::start_with(with_chat).await;
    let counters = [
        "hue_intake_chat_events_total{channel=\"zalo\",route=\"sticker\"}",
        "hue_intake_chat_events_total{channel=\"facebook\",route=\"echo\"}",
        "hue_intake_chat_events_total{channel=\"facebook\",route=\"receipt\"}",
        "hue_intake_webhook_probes_total{channel=\"zalo\"}",
    ];
    let mut before = Vec::new();
    for counter in counters {
        before.push(server.metric(counter).await);
    }
    let probe = server.http.post(server.url("/webhooks/zalo")).body("{}").send().await.unwrap();
    assert_eq!(probe.status(), 200);
    let sticker = zalo(
        "user_send_sticker",
        "ZU-1",
        "zs-1",
        json!({"attachments": [{"type": "sticker",
        "payload": {"id": "abc", "url": "https://zalo.example/sticker.png"}}]}),
    );
    assert_eq!(server.post_zalo(&sticker).await.status(), 200);
    let echo =
        serde_json::to_vec(&json!({"object": "page", "entry": [{"id": FB_PAGE_ID, "time": now_ms(), "messaging": [
            {"sender": {"id": FB_PAGE_ID}, "recipient": {"id": "PSID-1"}, "timestamp": now_ms(),
             "message": {"mid": "m.echo", "is_echo": true, "text": "Đã tiếp nhận"}},
            {"sender": {"id": "PSID-1"}, "recipient": {"id": FB_PAGE_ID}, "timestamp": now_ms(),
             "read": {"watermark": now_ms()}}
        ]}]}))
        .unwrap();
    assert_eq!(server.post_facebook_signed(&echo).await.status(), 200);
    // The barrier: one real message after them; it must be the only record.
    let real = zalo("user_send_text", "ZU-1", "zs-2", json!({"text": "Cây đổ ở đường Đống Đa"}));
    assert_eq!(server.post_zalo(&real).await.status(), 200);
    server.delivered(1).await;
    let lines = server.sink_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["sources"][0]["message_id"], "zalo:zs-2");
    for (counter, before) in counters.into_iter().zip(before) {
        assert!(server.metric(counter).await >= before + 1.0, "{counter} did not count");
    }
}

#[tokio::test]
async fn a_draft_without_a_place_goes_on_incomplete_at_its_limit_unless_urgent() {
    let mut server = Server::start_with(|c| {
        with_chat(c);
        c.chat.max_draft_secs = 600;
    })
    .await;
    // Urgent words do not wait for the missing place (R2): after the short quiet, accepted.
    let urgent = messenger("PSID-8", "m.urgent", json!({"text": "Nước tràn vào nhà dân, rất nguy hiểm cho trẻ em"}));
    assert_eq!(server.post_facebook_signed(&urgent).await.status(), 200);
    server.delivered(1).await;
    let lines = server.sink_lines();
    assert_eq!(lines[0]["disposition"]["state"], "accepted", "{}", lines[0]);
    assert_eq!(lines[0]["urgency"]["level"], "immediate");
    assert!(lines[0]["triage"]["missing"].as_array().unwrap().contains(&json!("location")));
    server.stop().await;

    let mut server = Server::start_with(with_chat).await;
    let text = messenger("PSID-7", "m.noplace", json!({"text": "Rác thải tồn đọng lâu ngày, bốc mùi khó chịu"}));
    assert_eq!(server.post_facebook_signed(&text).await.status(), 200);
    server.delivered(1).await;
    let lines = server.sink_lines();
    assert_eq!(lines[0]["disposition"]["state"], "incomplete", "{}", lines[0]);
    assert!(lines[0]["triage"]["missing"].as_array().unwrap().contains(&json!("location")));
}

#[tokio::test]
async fn an_authentic_body_that_does_not_parse_is_kept_in_quarantine_and_can_be_replayed() {
    let server = Server::start_with(with_chat).await;
    let quarantined = "hue_intake_quarantined_total{channel=\"facebook\"}";
    let before = server.metric(quarantined).await;
    let broken = br#"{"object":"page","entry":"not a list"}"#;
    assert_eq!(server.post_facebook_signed(broken).await.status(), 200, "the platform must get its 200");
    server.metric_reaches(quarantined, before + 1.0).await;
    let config = {
        let mut c = crate::common::config(server.dir.path());
        with_chat(&mut c);
        c
    };
    let mut out = Vec::new();
    hue_intake::cli::quarantine(hue_intake::cli::QuarantineCommand::List { limit: 10 }, &config, &mut out)
        .await
        .unwrap();
    let listed: Value = serde_json::from_slice(out.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(listed["channel"], "facebook");
    assert!(listed["reason"].as_str().unwrap().contains("/entry"), "{listed}");
    let seq = listed["seq"].as_i64().unwrap();
    let mut out = Vec::new();
    hue_intake::cli::quarantine(
        hue_intake::cli::QuarantineCommand::Replay { seqs: vec![seq], all: false },
        &config,
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(out.trim_ascii()).unwrap()["replayed"], 1);
    // Still broken: processed again, quarantined again (no fix in between), never lost.
    server.metric_reaches(quarantined, before + 2.0).await;
}

#[tokio::test]
async fn a_photo_is_fetched_into_the_record_and_places_it_an_expired_one_keeps_its_url() {
    let (cdn, _state) = crate::chat_media::cdn(crate::common::jpeg_with_gps(16.4637, 107.5909)).await;
    let mut server = Server::start_with(|c| {
        with_chat(c);
        c.chat.fetch_attempts = 2;
        c.chat.retry_base_ms = 10;
    })
    .await;
    let text = zalo("user_send_text", "ZU-P", "zp-1", json!({"text": "Cây đổ chắn lối đi, không qua được"}));
    let photo = zalo(
        "user_send_image",
        "ZU-P",
        "zp-2",
        json!({"attachments": [
            {"type": "image", "payload": {"url": format!("{cdn}/photo.jpg"), "thumbnail": format!("{cdn}/t.jpg")}},
            {"type": "image", "payload": {"url": format!("{cdn}/expired.jpg")}}
        ]}),
    );
    for body in [&text, &photo] {
        assert_eq!(server.post_zalo(body).await.status(), 200);
    }
    server.delivered(1).await;
    let lines = server.sink_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let record = &lines[0];
    crate::common::assert_valid_report(record);
    let media = record["media"].as_array().unwrap();
    assert_eq!(media.len(), 2, "{record}");
    let fetched = &media[0];
    assert_eq!(fetched["mime"], "image/jpeg");
    assert!(fetched["uri"].as_str().unwrap().starts_with("blob:sha256:"));
    assert_eq!(fetched["gps"]["lat"], 16.4637);
    let expired = &media[1];
    assert_eq!(expired["uri"], format!("{cdn}/expired.jpg"), "an unfetched photo keeps its URL");
    assert!(expired["sha256"].is_null() && expired["bytes"].is_null());
    // No pin: the photo's EXIF places the report (SPEC §8).
    assert_eq!(record["location"]["source"], "photo_exif");
    assert_eq!(record["location"]["lat"], 16.4637);
}

/// Polls (bounded) until `check` holds.
pub async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_messenger_report_is_acknowledged_with_its_code_and_a_reply_quoting_it_is_an_interaction() {
    const PAGE_TOKEN: &str = "EAAB-page-token-end-to-end";
    let graph = crate::doubles::Graph::start(PAGE_TOKEN).await;
    let mut server = Server::start_with(|c| {
        with_chat(c);
        c.facebook.page_access_token = Some(PAGE_TOKEN.into());
        c.facebook.graph_base_url = graph.base.clone();
        c.facebook.graph_version = crate::doubles::GRAPH_VERSION.into();
    })
    .await;
    let report = messenger("PSID-A", "m.a1", json!({"text": "Cây đổ chắn ngang đường Lê Lợi, xe không qua được"}));
    assert_eq!(server.post_facebook_signed(&report).await.status(), 200);
    server.delivered(1).await;
    let code = server.sink_lines()[0]["tracking_code"].as_str().unwrap().to_owned();
    eventually("the acknowledgement", || !graph.messages().is_empty()).await;
    let ack = graph.messages()[0].json();
    assert_eq!(ack["recipient"]["id"], "PSID-A");
    assert_eq!(ack["messaging_type"], "RESPONSE");
    assert!(ack["message"]["text"].as_str().unwrap().contains(&code), "{ack}");
    let metadata = ack["message"]["metadata"].as_str().unwrap().to_owned();

    // Messenger echoes our message back (with our metadata): no record.
    let echo =
        serde_json::to_vec(&json!({"object": "page", "entry": [{"id": FB_PAGE_ID, "time": now_ms(), "messaging": [
        {"sender": {"id": FB_PAGE_ID}, "recipient": {"id": "PSID-A"}, "timestamp": now_ms(),
         "message": {"mid": "m_1", "is_echo": true, "metadata": metadata, "text": ack["message"]["text"]}}]}]}))
        .unwrap();
    assert_eq!(server.post_facebook_signed(&echo).await.status(), 200);
    // The citizen answers by replying to our message (the double gave it mid m_1).
    let answer =
        messenger("PSID-A", "m.a2", json!({"text": "Đến giờ vẫn chưa có ai đến dọn", "reply_to": {"mid": "m_1"}}));
    assert_eq!(server.post_facebook_signed(&answer).await.status(), 200);
    server.delivered(2).await;
    let lines = server.sink_lines();
    assert_eq!(lines.len(), 2, "the echo made no record: {lines:?}");
    assert_eq!(lines[1]["kind"], "interaction");
    assert_eq!(lines[1]["in_reply_to"], code.as_str());
    eventually("the interaction's acknowledgement", || graph.messages().len() >= 2).await;
    assert!(graph.messages()[1].json()["message"]["text"].as_str().unwrap().contains(&code));
    assert!(graph.problems().is_empty(), "{:?}", graph.problems());
}

#[tokio::test]
async fn a_zalo_draft_without_a_place_is_asked_for_one_then_acknowledged_quoting_the_citizen() {
    let (access, refresh) = crate::doubles::issued(0);
    let double = crate::doubles::Zalo::start(&access, &refresh).await;
    let mut server = Server::start_with(|c| {
        with_chat(c);
        c.chat.max_draft_secs = 600;
        c.zalo.app_secret_key = Some(crate::doubles::ZALO_SECRET.into());
        c.zalo.access_token = Some(access.clone());
        c.zalo.refresh_token = Some(refresh.clone());
        c.zalo.openapi_base_url = double.base.clone();
        c.zalo.oauth_base_url = double.base.clone();
    })
    .await;
    let text = zalo("user_send_text", "ZU-Q", "zq-1", json!({"text": "Rác thải tồn đọng lâu ngày, bốc mùi"}));
    assert_eq!(server.post_zalo(&text).await.status(), 200);
    eventually("the question", || !double.messages().is_empty()).await;
    let question = double.messages()[0].json();
    assert_eq!(question["recipient"]["user_id"], "ZU-Q");
    assert_eq!(question["message"]["quote_message_id"], "zq-1");
    assert!(question["message"]["text"].as_str().unwrap().contains("địa điểm"), "{question}");
    let pin = zalo(
        "user_send_location",
        "ZU-Q",
        "zq-2",
        json!({"text": "Chợ Đông Ba", "attachments": [{"type": "location",
            "payload": {"coordinates": {"latitude": "16.4720", "longitude": "107.5880"}}}]}),
    );
    assert_eq!(server.post_zalo(&pin).await.status(), 200);
    server.delivered(1).await;
    let record = &server.sink_lines()[0];
    assert_eq!(record["disposition"]["state"], "accepted", "{record}");
    let code = record["tracking_code"].as_str().unwrap().to_owned();
    eventually("the acknowledgement", || double.messages().len() >= 2).await;
    let ack = double.messages()[1].json();
    assert!(ack["message"]["text"].as_str().unwrap().contains(&code), "{ack}");
    assert_eq!(ack["message"]["quote_message_id"], "zq-2");
    assert_eq!(double.messages().len(), 2, "asked once, acknowledged once");
    assert!(double.problems().is_empty(), "{:?}", double.problems());
}
