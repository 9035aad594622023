//! Results back from the case system (issue 7 item 5) through the real server: the core posts
//! an update, the gateway relays it to the reporter on their own channel (R9) — Messenger and
//! Zalo against the local doubles of their documented APIs, e-mail through the real Postfix
//! and Dovecot of `scripts/mail-servers` — and the citizen's rating comes back as a `rating`
//! record. Then R10: interactions the core did not answer within a day, per agency.
//!
//! Time is never waited for: reply windows are judged with `core.clock_offset_secs`, the
//! overdue report with an explicit `now`.

use std::time::Duration;

use chrono::Utc;
use hue_intake::config::{Config, Security};
use serde_json::{Value, json};

use crate::chat::{eventually, messenger, with_chat, zalo};
use crate::common::{APP_TOKEN, Server, assert_valid_report, problem};
use crate::doubles::{GRAPH_VERSION, Graph, ZALO_SECRET, Zalo, issued};
use crate::mail_servers::{servers, unique_user, wait_for_messages};

const CORE_TOKEN: &str = "core-token-0123456789abcdef";
const PAGE_TOKEN: &str = "EAAB-page-token-core-updates";
const WAIT: Duration = Duration::from_secs(30);

fn with_core(c: &mut Config) {
    c.core.token = Some(CORE_TOKEN.into());
}

fn with_graph(graph: &Graph) -> impl FnOnce(&mut Config) + '_ {
    move |c| {
        with_chat(c);
        with_core(c);
        c.facebook.page_access_token = Some(PAGE_TOKEN.into());
        c.facebook.graph_base_url = graph.base.clone();
        c.facebook.graph_version = GRAPH_VERSION.into();
    }
}

fn with_smtp(c: &mut Config) {
    let servers = servers();
    c.mail.smtp_host = Some("127.0.0.1".into());
    c.mail.smtp_port = servers.smtp_port;
    c.mail.smtp_security = Security::Starttls;
    c.mail.ca_file = Some(servers.ca_file.clone());
    c.mail.from_address = "dttm@hue.test".into();
    c.mail.message_id_domain = "gw.hue.test".into();
}

fn update(update_id: &str, code: &str, status: &str) -> Value {
    json!({
        "update_id": update_id,
        "tracking_code": code,
        "status": status,
        "agency": "UBND phường Thuận Hóa",
        "message": "Cây đổ đã được dọn, đường Lê Lợi đã thông xe.",
        "at": Utc::now().to_rfc3339(),
    })
}

impl Server {
    async fn post_update(&self, token: Option<&str>, body: &Value) -> reqwest::Response {
        let mut request = self.http.post(self.url("/v1/core/updates")).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// Posts an update and returns the 202 answer.
    async fn relay(&self, body: &Value) -> Value {
        let response = self.post_update(Some(CORE_TOKEN), body).await;
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        response.json().await.unwrap()
    }
}

/// A Messenger report from `psid` with this text; returns the record once delivered.
async fn messenger_report(server: &mut Server, psid: &str, mid: &str, text: &str) -> Value {
    let body = messenger(psid, mid, json!({ "text": text }));
    assert_eq!(server.post_facebook_signed(&body).await.status(), 200);
    server.delivered(1).await;
    server.sink_lines()[0].clone()
}

/// The fields every rating record has, checked one by one (SPEC §1, §8; R9).
fn assert_rating(record: &Value, report: &Value, channel: &str, rating: &str, title: &str) {
    assert_valid_report(record);
    let code = report["tracking_code"].as_str().unwrap();
    assert_eq!(record["schema"], "hue-intake.report.v1");
    assert_eq!(record["kind"], "rating");
    assert_eq!(record["channel"], channel);
    assert_eq!(record["in_reply_to"], code);
    assert_eq!(record["rating"], rating);
    assert_ne!(record["tracking_code"], report["tracking_code"], "a rating is a record of its own");
    assert_ne!(record["id"], report["id"]);
    assert_eq!(record["description"], "", "a bare rating has no words of its own");
    assert_eq!(record["title"], title);
    assert_eq!(record["reporter"]["ref"], report["reporter"]["ref"], "the same person rates");
    assert_eq!(record["disposition"]["state"], "accepted");
    assert_eq!(record["location"], Value::Null);
    assert_eq!(record["media"], json!([]));
    assert_eq!(record["sources"].as_array().unwrap().len(), 1);
    assert!(record["sources"][0]["message_id"].as_str().unwrap().starts_with(&format!("{channel}:")));
}

#[tokio::test]
async fn without_the_core_token_the_endpoint_refuses_and_unconfigured_it_is_not_there() {
    let server = Server::start_with(with_core).await;
    let body = update("u-auth", "HUE-7KQ4-M2XD", "in_progress");
    let none = problem(server.post_update(None, &body).await, 401).await;
    assert!(none["detail"].as_str().unwrap().contains("Bearer"));
    problem(server.post_update(Some("wrong-token-0123456789"), &body).await, 401).await;
    // A client's token is not the core's.
    problem(server.post_update(Some(APP_TOKEN), &body).await, 401).await;
    // Unknown field: 400 naming it; unknown status; unknown report: 404.
    let mut extra = body.clone();
    extra["citizen_phone"] = json!("0905123456");
    let unknown = problem(server.post_update(Some(CORE_TOKEN), &extra).await, 400).await;
    assert_eq!(unknown["pointer"], "/citizen_phone");
    assert!(!unknown.to_string().contains("0905123456"), "values are never echoed");
    let mut status = body.clone();
    status["status"] = json!("closed");
    assert_eq!(problem(server.post_update(Some(CORE_TOKEN), &status).await, 400).await["pointer"], "/status");
    let mut code = body.clone();
    code["tracking_code"] = json!("HUE-123");
    assert_eq!(problem(server.post_update(Some(CORE_TOKEN), &code).await, 400).await["pointer"], "/tracking_code");
    let missing = problem(server.post_update(Some(CORE_TOKEN), &body).await, 404).await;
    assert_eq!(missing["pointer"], "/tracking_code");
    server.stop().await;

    let off = Server::start().await;
    let answer = problem(off.post_update(Some(CORE_TOKEN), &body).await, 404).await;
    assert!(answer["detail"].as_str().unwrap().contains("[core] token"), "{answer}");
    off.stop().await;
}

#[tokio::test]
async fn facebook_result_inside_24_hours_with_quick_replies_and_the_tap_becomes_a_rating() {
    let graph = Graph::start(PAGE_TOKEN).await;
    let mut server = Server::start_with(with_graph(&graph)).await;
    let report =
        messenger_report(&mut server, "PSID-R", "m.r1", "Cây đổ chắn ngang đường Lê Lợi, xe không qua được").await;
    let code = report["tracking_code"].as_str().unwrap().to_owned();
    eventually("the acknowledgement", || graph.messages().len() == 1).await;

    // R9: the result, relayed as a normal message (inside 24 h), with the rating question.
    let answer = server.relay(&update("core-1", &code.to_lowercase(), "resolved")).await;
    assert_eq!(answer["relay"], json!({"route": "facebook", "reason": null}));
    assert_eq!(answer["rating_requested"], true);
    assert_eq!(answer["tracking_code"], code.as_str(), "upper case");
    eventually("the result", || graph.messages().len() == 2).await;
    let sent = graph.messages()[1].json();
    assert_eq!(sent["recipient"]["id"], "PSID-R");
    assert_eq!(sent["messaging_type"], "UPDATE");
    let text = sent["message"]["text"].as_str().unwrap();
    assert!(text.contains(&code) && text.contains("UBND phường Thuận Hóa") && text.contains("thông xe"), "{text}");
    let quick = sent["message"]["quick_replies"].as_array().unwrap();
    let payloads: Vec<&str> = quick.iter().map(|q| q["payload"].as_str().unwrap()).collect();
    assert_eq!(
        payloads,
        [format!("RATE:{code}:satisfied"), format!("RATE:{code}:acceptable"), format!("RATE:{code}:unsatisfied")]
    );
    assert_eq!(quick[2]["title"], "Không hài lòng");
    assert!(server.metric("hue_intake_core_updates_total{status=\"resolved\",relay=\"facebook\"}").await >= 1.0);

    // The citizen taps "Không hài lòng": the quick reply comes back with its title as text.
    let tap = messenger(
        "PSID-R",
        "m.r2",
        json!({"text": "Không hài lòng", "quick_reply": {"payload": format!("RATE:{code}:unsatisfied")}}),
    );
    assert_eq!(server.post_facebook_signed(&tap).await.status(), 200);
    server.delivered(2).await;
    let rating = server.sink_lines()[1].clone();
    assert_rating(&rating, &report, "facebook", "unsatisfied", &format!("Đánh giá {code}: Không hài lòng"));
    assert_eq!(rating["sources"][0]["message_id"], "facebook:m.r2");
    assert!(graph.problems().is_empty(), "{:?}", graph.problems());
    server.stop().await;
}

#[tokio::test]
async fn facebook_after_24_hours_uses_the_human_agent_tag() {
    let graph = Graph::start(PAGE_TOKEN).await;
    let mut server = Server::start_with(|c| {
        with_graph(&graph)(c);
        // The update arrives 25 hours after the citizen's last message.
        c.core.clock_offset_secs = 25 * 3600;
    })
    .await;
    let report = messenger_report(&mut server, "PSID-T", "m.t1", "Đèn đường hỏng ở kiệt 12 Nguyễn Trãi").await;
    let code = report["tracking_code"].as_str().unwrap().to_owned();
    eventually("the acknowledgement", || graph.messages().len() == 1).await;
    let answer = server.relay(&update("core-tag", &code, "in_progress")).await;
    assert_eq!(answer["relay"]["route"], "facebook_tag");
    assert_eq!(answer["rating_requested"], false);
    eventually("the result", || graph.messages().len() == 2).await;
    let sent = graph.messages()[1].json();
    assert_eq!(sent["messaging_type"], "MESSAGE_TAG");
    assert_eq!(sent["tag"], "HUMAN_AGENT");
    assert!(sent["message"].get("quick_replies").is_none(), "no rating request before `resolved`");
    assert!(graph.problems().is_empty(), "{:?}", graph.problems());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facebook_window_closed_falls_back_to_the_known_email_address() {
    let graph = Graph::start(PAGE_TOKEN).await;
    let citizen = unique_user("fb-citizen");
    let mut server = Server::start_with(|c| {
        with_graph(&graph)(c);
        with_smtp(c);
        // Eight days on: past HUMAN_AGENT's 7 days.
        c.core.clock_offset_secs = 8 * 24 * 3600;
    })
    .await;
    let text = format!("Ổ gà lớn trước số 5 Trần Phú, phường Phú Xuân. Email của tôi: {citizen}");
    let report = messenger_report(&mut server, "PSID-E", "m.e1", &text).await;
    assert_eq!(report["reporter"]["has_email"], true);
    let code = report["tracking_code"].as_str().unwrap().to_owned();
    eventually("the acknowledgement", || graph.messages().len() == 1).await;
    let answer = server.relay(&update("core-fallback", &code, "resolved")).await;
    assert_eq!(answer["relay"], json!({"route": "email_fallback", "reason": "facebook_window_closed"}));
    let mails = wait_for_messages(&citizen, "INBOX", 1, WAIT).await;
    let mail = hue_intake_adapters::email::parse(&mails[0]).unwrap();
    assert!(mail.subject.as_deref().unwrap().starts_with(&format!("[{code}]")), "{:?}", mail.subject);
    assert!(mail.body_text.contains("1 – Hài lòng") && mail.body_text.contains("thông xe"), "{}", mail.body_text);
    assert_eq!(graph.messages().len(), 1, "nothing more on Facebook");
    assert!(graph.problems().is_empty(), "{:?}", graph.problems());
    server.stop().await;
}

#[tokio::test]
async fn facebook_window_closed_and_no_email_is_not_relayed_but_counted_and_recorded() {
    let graph = Graph::start(PAGE_TOKEN).await;
    let mut server = Server::start_with(|c| {
        with_graph(&graph)(c);
        c.core.clock_offset_secs = 8 * 24 * 3600;
    })
    .await;
    let report = messenger_report(&mut server, "PSID-N", "m.n1", "Rác tràn ra đường Hùng Vương, phường Phú Hội").await;
    let code = report["tracking_code"].as_str().unwrap().to_owned();
    let answer = server.relay(&update("core-none", &code, "resolved")).await;
    assert_eq!(answer["relay"], json!({"route": "none", "reason": "facebook_window_closed"}));
    assert_eq!(answer["rating_requested"], false);
    // Metrics are process-wide (tests run in parallel): at least this one.
    assert!(server.metric("hue_intake_core_updates_not_relayed_total{reason=\"facebook_window_closed\"}").await >= 1.0);
    let stored = server.store().core_update("core-none").await.unwrap().unwrap();
    assert_eq!(serde_json::from_str::<Value>(&stored.answer).unwrap(), answer, "recorded on the update");
    server.stop().await;
}

#[tokio::test]
async fn an_update_repeated_returns_the_first_answer_and_relays_once() {
    let graph = Graph::start(PAGE_TOKEN).await;
    let mut server = Server::start_with(with_graph(&graph)).await;
    let report =
        messenger_report(&mut server, "PSID-I", "m.i1", "Cây đổ chắn ngang đường Lê Lợi, xe không qua được").await;
    let code = report["tracking_code"].as_str().unwrap().to_owned();
    eventually("the acknowledgement", || graph.messages().len() == 1).await;
    let body = update("core-once", &code, "received");
    let first = server.relay(&body).await;
    let again = server.relay(&body).await;
    assert_eq!(first, again, "a repeat returns the first answer");
    eventually("the result", || graph.messages().len() == 2).await;
    // Same id, other content: a conflict, nothing relayed.
    let mut other = body.clone();
    other["status"] = json!("rejected");
    let conflict = problem(server.post_update(Some(CORE_TOKEN), &other).await, 409).await;
    assert_eq!(conflict["pointer"], "/update_id");
    let store = server.store();
    let stored = store.core_update("core-once").await.unwrap().unwrap();
    assert_eq!(serde_json::from_str::<Value>(&stored.answer).unwrap(), first);
    drop(store);
    // Stopping drains the reply worker: had a second copy been queued, it would be sent.
    server.stop().await;
    assert_eq!(graph.messages().len(), 2, "relayed once");
}

#[tokio::test]
async fn zalo_result_with_buttons_and_the_button_payload_becomes_a_rating() {
    let (access, refresh) = issued(0);
    let double = Zalo::start(&access, &refresh).await;
    let mut server = Server::start_with(|c| {
        with_chat(c);
        with_core(c);
        c.zalo.app_secret_key = Some(ZALO_SECRET.into());
        c.zalo.access_token = Some(access.clone());
        c.zalo.refresh_token = Some(refresh.clone());
        c.zalo.openapi_base_url = double.base.clone();
        c.zalo.oauth_base_url = double.base.clone();
    })
    .await;
    let text = zalo("user_send_text", "ZU-R", "zr-1", json!({"text": "Ngập sâu đường Hùng Vương, phường Phú Hội"}));
    assert_eq!(server.post_zalo(&text).await.status(), 200);
    server.delivered(1).await;
    let report = server.sink_lines()[0].clone();
    let code = report["tracking_code"].as_str().unwrap().to_owned();
    eventually("the acknowledgement", || double.messages().len() == 1).await;

    let answer = server.relay(&update("core-zalo", &code, "resolved")).await;
    assert_eq!(answer["relay"], json!({"route": "zalo", "reason": null}));
    eventually("the result", || double.messages().len() == 2).await;
    let sent = double.messages()[1].json();
    assert_eq!(sent["recipient"]["user_id"], "ZU-R");
    assert_eq!(sent["message"]["quote_message_id"], "zr-1", "quoting keeps it a reply for the quota");
    assert!(sent["message"]["text"].as_str().unwrap().contains(&code));
    let buttons = sent["message"]["attachment"]["payload"]["buttons"].as_array().unwrap();
    assert_eq!(buttons.len(), 3);
    assert_eq!(buttons[0]["payload"], format!("RATE:{code}:satisfied"));
    assert_eq!(buttons[0]["title"], "Hài lòng");

    // A tap sends the button's payload back as the user's text.
    let tap = zalo("user_send_text", "ZU-R", "zr-2", json!({"text": format!("RATE:{code}:satisfied")}));
    assert_eq!(server.post_zalo(&tap).await.status(), 200);
    server.delivered(2).await;
    let rating = server.sink_lines()[1].clone();
    assert_rating(&rating, &report, "zalo", "satisfied", &format!("Đánh giá {code}: Hài lòng"));
    assert_eq!(rating["sources"][0]["message_id"], "zalo:zr-2");
    assert!(double.problems().is_empty(), "{:?}", double.problems());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_result_in_the_report_thread_and_a_reply_with_2_becomes_a_rating() {
    let mut server = Server::start_with(|c| {
        with_core(c);
        with_smtp(c);
        c.sink.poll_interval_ms = 50;
    })
    .await;
    let config = Config::defaults();
    let sealer = hue_intake::seal::Sealer::from_config(&config.privacy, server.dir.path()).unwrap();
    let ingest = hue_intake::mail::Ingest::new(server.store(), sealer);
    let alice = unique_user("core-alice");
    let first_id = format!("{}@citizen.test", uuid::Uuid::now_v7());
    let mail = |subject: &str, headers: &str, body: &str, id: &str| {
        format!(
            "From: Nguyễn Văn An <{alice}>\r\nTo: dttm@hue.test\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
             Date: Sun, 29 Nov 2026 09:00:00 +0700\r\n{headers}MIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
        )
        .into_bytes()
    };
    let first = mail("Cây đổ chắn đường", "", "Cây lớn đổ chắn ngang đường Lê Lợi, phường Phú Hội.", &first_id);
    ingest.ingest(&first, Utc::now()).await.unwrap();
    server.delivered(1).await;
    let report = server.sink_lines()[0].clone();
    let code = report["tracking_code"].as_str().unwrap().to_owned();
    wait_for_messages(&alice, "INBOX", 1, WAIT).await;

    let answer = server.relay(&update("core-mail", &code, "resolved")).await;
    assert_eq!(answer["relay"], json!({"route": "email", "reason": null}));
    let mails = wait_for_messages(&alice, "INBOX", 2, WAIT).await;
    let result = mails
        .iter()
        .map(|raw| (raw, hue_intake_adapters::email::parse(raw).unwrap()))
        .find(|(_, m)| m.body_text.contains("thông xe"))
        .expect("the result mail");
    let subject = result.1.subject.clone().unwrap();
    assert!(subject.starts_with(&format!("[{code}]")), "{subject}");
    assert_eq!(result.1.in_reply_to, std::slice::from_ref(&first_id), "threaded on the report");
    assert!(result.1.body_text.contains("1 – Hài lòng") && result.1.body_text.contains("3 – Không hài lòng"));
    let ours = hue_intake_adapters::email::message_id_of(result.0).unwrap();

    // Alice answers "2" above the quoted result.
    let reply_id = format!("{}@citizen.test", uuid::Uuid::now_v7());
    let reply = mail(
        &format!("Re: {subject}"),
        &format!("In-Reply-To: <{ours}>\r\nReferences: <{first_id}> <{ours}>\r\n"),
        "2\n\nVào CN, 29 thg 11, 2026 lúc 10:40 Hue-S đã viết:\n> Phản ánh đã được xử lý xong",
        &reply_id,
    );
    ingest.ingest(&reply, Utc::now()).await.unwrap();
    server.delivered(2).await;
    let rating = server.sink_lines()[1].clone();
    assert_rating(&rating, &report, "email", "acceptable", &format!("Đánh giá {code}: Chấp nhận được"));
    assert_eq!(rating["sources"][0]["message_id"], format!("email:{reply_id}"));

    // The same words in an answer to the acknowledgement (not a rating request) stay an
    // interaction (R10).
    let ack = mails
        .iter()
        .find(|raw| !hue_intake_adapters::email::parse(raw).unwrap().body_text.contains("thông xe"))
        .expect("the acknowledgement");
    let ack_id = hue_intake_adapters::email::message_id_of(ack).unwrap();
    let other = mail(
        &format!("Re: {subject}"),
        &format!("In-Reply-To: <{ack_id}>\r\nReferences: <{first_id}> <{ack_id}>\r\n"),
        "1",
        &format!("{}@citizen.test", uuid::Uuid::now_v7()),
    );
    ingest.ingest(&other, Utc::now()).await.unwrap();
    server.delivered(3).await;
    let interaction = server.sink_lines()[2].clone();
    assert_eq!(interaction["kind"], "interaction");
    assert_eq!(interaction["in_reply_to"], code.as_str());
    assert_eq!(interaction["rating"], Value::Null);
    drop(ingest);
    server.stop().await;
}

#[tokio::test]
async fn interactions_unanswered_for_a_day_are_overdue_per_agency() {
    let server = Server::start_with(with_core).await;
    let post = |body: Value| {
        let server = &server;
        async move { server.post_json(APP_TOKEN, &body).await }
    };
    let mut codes = Vec::new();
    for (i, text) in ["Đèn đường hỏng ở kiệt 3 Lê Lợi", "Rác tràn ra đường Trần Phú", "Ổ gà trên đường Hùng Vương"]
        .iter()
        .enumerate()
    {
        let response = post(json!({"client_message_id": format!("r{i}"), "description": text,
            "location": {"lat": 16.4637, "lon": 107.5909}}))
        .await;
        assert_eq!(response.status(), 202);
        codes.push(response.json::<Value>().await.unwrap()["tracking_code"].as_str().unwrap().to_owned());
    }
    let store = server.store();
    // Reports are recorded by the pipeline before the core can write about them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for code in &codes {
        while store.report_ref(code).await.unwrap().is_none() {
            assert!(tokio::time::Instant::now() < deadline, "{code} was not recorded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let before = Utc::now() - chrono::Duration::hours(1);
    // Report 0: the core wrote before the interaction (agency known, still unanswered).
    let mut u0 = update("ov-0", &codes[0], "in_progress");
    u0["at"] = json!(before.to_rfc3339());
    u0["agency"] = json!("Công ty Môi trường và Công trình đô thị Huế");
    server.relay(&u0).await;
    // Interactions on all three (R10), then report 2 is answered after its interaction.
    let mut interactions = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let response = post(json!({"client_message_id": format!("i{i}"), "in_reply_to": code,
            "description": "Sao đến giờ vẫn chưa xử lý?"}))
        .await;
        assert_eq!(response.status(), 202);
        interactions.push(response.json::<Value>().await.unwrap()["tracking_code"].as_str().unwrap().to_owned());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while store.unanswered_interactions(Utc::now() + chrono::Duration::days(2), None).await.unwrap().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "the interactions were not recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut u2 = update("ov-2", &codes[2], "in_progress");
    u2["at"] = json!((Utc::now() + chrono::Duration::minutes(5)).to_rfc3339());
    server.relay(&u2).await;

    // Within the day: nothing overdue yet.
    let now = Utc::now();
    assert!(hue_intake::core_updates::overdue::report(&store, now, None).await.unwrap().is_empty());
    // Two days on: the interactions on reports 0 and 1 are overdue; report 2's was answered.
    let later = now + chrono::Duration::days(2);
    let overdue = hue_intake::core_updates::overdue::report(&store, later, None).await.unwrap();
    let summary: Vec<(&str, usize, Vec<String>)> =
        overdue.iter().map(|a| (a.agency.as_str(), a.count, a.interactions.clone())).collect();
    assert_eq!(
        summary,
        [
            ("Công ty Môi trường và Công trình đô thị Huế", 1, vec![interactions[0].clone()]),
            ("unknown", 1, vec![interactions[1].clone()]),
        ]
    );
    assert_eq!(overdue[0].reports, [codes[0].clone()]);
    // --since after they came: none.
    let since = Some(now + chrono::Duration::minutes(1));
    assert!(hue_intake::core_updates::overdue::report(&store, later, since).await.unwrap().is_empty());

    // The gauge, refreshed at that time: per agency, no codes in the labels.
    let mut shown = std::collections::BTreeSet::new();
    hue_intake::core_updates::overdue::refresh(&store, later, &mut shown).await.unwrap();
    let unknown = server.metric("hue_intake_interactions_overdue{agency=\"unknown\"}").await;
    assert_eq!(unknown, 1.0);
    let text = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains(&codes[0]) && !text.contains(&interactions[0]), "no tracking codes in metrics");
    // The store closes with its last handle: the test's own goes first.
    drop(store);
    let dir = server.stop().await;

    // The command reads the same store, judging at the same time.
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("[store]\ndata_dir = {:?}\n", dir.path().to_str().unwrap())).unwrap();
    let at = later.to_rfc3339();
    let run = |format: &'static str| {
        let (config, at) = (config.clone(), at.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_hue-intake"))
                .args(["interactions", "overdue", "--at", &at, "--format", format, "--config"])
                .arg(config)
                .output()
                .unwrap()
        })
    };
    let json = run("json").await.unwrap();
    assert!(json.status.success(), "{}", String::from_utf8_lossy(&json.stderr));
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["total"], 2);
    assert_eq!(doc["agencies"][0]["agency"], "Công ty Môi trường và Công trình đô thị Huế");
    assert_eq!(doc["agencies"][0]["interactions"], json!([interactions[0]]));
    assert_eq!(doc["agencies"][1]["agency"], "unknown");
    assert_eq!(doc["agencies"][1]["reports"], json!([codes[1]]));
    let table = run("table").await.unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("agency") && table.contains(&interactions[1]), "{table}");
}

#[tokio::test]
async fn zalo_after_48_hours_is_not_sent_on_zalo_and_without_email_not_relayed() {
    let (access, refresh) = issued(0);
    let double = Zalo::start(&access, &refresh).await;
    let mut server = Server::start_with(|c| {
        with_chat(c);
        with_core(c);
        c.zalo.app_secret_key = Some(ZALO_SECRET.into());
        c.zalo.access_token = Some(access.clone());
        c.zalo.refresh_token = Some(refresh.clone());
        c.zalo.openapi_base_url = double.base.clone();
        c.zalo.oauth_base_url = double.base.clone();
        // Three days on: past the free 48 h reply window (channels.md §2.8).
        c.core.clock_offset_secs = 3 * 24 * 3600;
    })
    .await;
    let text = zalo("user_send_text", "ZU-C", "zc-1", json!({"text": "Ngập sâu đường Hùng Vương, phường Phú Hội"}));
    assert_eq!(server.post_zalo(&text).await.status(), 200);
    server.delivered(1).await;
    let code = server.sink_lines()[0]["tracking_code"].as_str().unwrap().to_owned();
    eventually("the acknowledgement", || double.messages().len() == 1).await;
    let answer = server.relay(&update("core-zalo-late", &code, "resolved")).await;
    assert_eq!(answer["relay"], json!({"route": "none", "reason": "zalo_window_closed"}));
    server.stop().await;
    assert_eq!(double.messages().len(), 1, "no proactive (paid) Zalo message");
    assert!(double.problems().is_empty(), "{:?}", double.problems());
}
