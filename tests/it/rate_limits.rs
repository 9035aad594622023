//! Rate limits per sender and per client address (issue 8 item 5), against a real server: a
//! flood from one Zalo user is refused with 429 before the store while every other citizen's
//! event is stored and answered 200; a Messenger batch with a flooder and a neighbour still
//! passes; one address beyond its burst gets 429 with Retry-After; `X-Forwarded-For` counts
//! only from a trusted proxy.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::chat::{self, with_chat};
use crate::common::{APP_TOKEN, Server, problem, stored_messages};

async fn assert_rate_limited(response: reqwest::Response) {
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    let p = problem(response, 429).await;
    assert_eq!(p["type"], "urn:hue-intake:problem:rate-limited");
    assert_eq!(p["retry_after"].as_u64(), Some(retry_after), "the body repeats the header");
}

#[tokio::test]
async fn a_zalo_flood_from_one_user_is_refused_and_nobody_else_is() {
    const BURST: u32 = 5;
    let server = Server::start_with(|c| {
        with_chat(c);
        c.rate_limits.per_sender_burst = BURST;
        c.rate_limits.per_sender_per_minute = 60;
    })
    .await;
    let started = std::time::Instant::now();
    // 200 events from the flooder and one from each of 40 neighbours, all in flight at once,
    // a neighbour's after every fifth of the flood.
    let mut bodies = Vec::new();
    for i in 0..200 {
        bodies.push((
            true,
            chat::zalo("user_send_text", "8100000000000000001", &format!("flood{i}"), json!({"text": "spam"})),
        ));
        if i % 5 == 4 {
            let n = i / 5;
            let user = format!("82000000000000000{n:02}");
            bodies.push((
                false,
                chat::zalo("user_send_text", &user, &format!("n{n}"), json!({"text": "Cây đổ ở Lê Lợi"})),
            ));
        }
    }
    let answers = join_all(bodies.iter().map(|(is_flood, body)| {
        let server = &server;
        async move { (*is_flood, server.post_zalo(body).await) }
    }))
    .await;
    let elapsed = started.elapsed().as_secs();

    let mut flood_ok = 0;
    for (is_flood, response) in answers {
        match (is_flood, response.status().as_u16()) {
            (false, 200) => {}
            (false, other) => panic!("a neighbour's event was answered {other}"),
            (true, 200) => flood_ok += 1,
            (true, _) => assert_rate_limited(response).await,
        }
    }
    // The burst, plus at most one per second of the run (60 per minute).
    assert!(flood_ok >= BURST as i64, "the flooder's first {BURST} pass ({flood_ok})");
    assert!(flood_ok <= BURST as i64 + elapsed as i64 + 1, "{flood_ok} of the flood passed in {elapsed} s");

    // What was refused never reached the store: only the accepted flood and the neighbours.
    let dir = server.stop().await;
    assert_eq!(stored_messages(dir.path(), Some("zalo")).await, flood_ok + 40);
}

#[tokio::test]
async fn a_messenger_batch_passes_while_any_sender_in_it_has_allowance() {
    let server = Server::start_with(|c| {
        with_chat(c);
        c.rate_limits.per_sender_burst = 2;
        c.rate_limits.per_sender_per_minute = 1;
    })
    .await;
    let flooder = "PSID-FLOOD";
    for i in 0..2 {
        let body = chat::messenger(flooder, &format!("m.f{i}"), json!({"text": "spam"}));
        assert_eq!(server.post_facebook_signed(&body).await.status(), 200);
    }
    let alone = chat::messenger(flooder, "m.f3", json!({"text": "spam"}));
    assert_rate_limited(server.post_facebook_signed(&alone).await).await;

    // One body carrying the flooder's event and a neighbour's: stored (Messenger batches
    // several people; refusing the body would refuse the neighbour).
    let mut batch: Value = serde_json::from_slice(&chat::messenger(flooder, "m.f4", json!({"text": "spam"}))).unwrap();
    let neighbour: Value =
        serde_json::from_slice(&chat::messenger("PSID-NEIGHBOUR", "m.n1", json!({"text": "Ngập ở Kim Long"}))).unwrap();
    batch["entry"][0]["messaging"].as_array_mut().unwrap().push(neighbour["entry"][0]["messaging"][0].clone());
    let batch = serde_json::to_vec(&batch).unwrap();
    assert_eq!(server.post_facebook_signed(&batch).await.status(), 200);

    // The Page's own echoes are not a sender: a body of echoes only is never limited.
    for i in 0..5 {
        let echo = chat::messenger(chat::FB_PAGE_ID, &format!("m.e{i}"), json!({"text": "Đã nhận", "is_echo": true}));
        assert_eq!(server.post_facebook_signed(&echo).await.status(), 200);
    }
    let dir = server.stop().await;
    assert_eq!(stored_messages(dir.path(), Some("facebook")).await, 2 + 1 + 5);
}

fn app_report(n: usize) -> Value {
    json!({"client_message_id": format!("rl-{n}"), "description": "Ổ gà lớn trước số 12 Lê Lợi, xe máy dễ ngã."})
}

#[tokio::test]
async fn one_address_beyond_its_burst_gets_429_and_proxied_clients_are_told_apart() {
    let server = Server::start_with(|c| {
        c.rate_limits.per_address_burst = 3;
        c.rate_limits.per_address_per_minute = 1;
        c.rate_limits.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let post = |n: usize, forwarded: Option<&'static str>| {
        let mut request = server.http.post(server.url("/v1/reports")).bearer_auth(APP_TOKEN).json(&app_report(n));
        if let Some(f) = forwarded {
            request = request.header("x-forwarded-for", f);
        }
        request.send()
    };
    // Client A through the trusted proxy: three pass, the fourth is refused, and the status
    // route shares the address's allowance.
    for n in 0..3 {
        assert_eq!(post(n, Some("203.0.113.7")).await.unwrap().status(), 202);
    }
    assert_rate_limited(post(3, Some("203.0.113.7")).await.unwrap()).await;
    let status = server.http.get(server.url("/v1/reports/HUE-0000-0000")).header("x-forwarded-for", "203.0.113.7");
    assert_rate_limited(status.send().await.unwrap()).await;
    // Client B, same proxy: its own allowance.
    assert_eq!(post(4, Some("198.51.100.9")).await.unwrap().status(), 202);
    // A client cannot escape by writing its own X-Forwarded-For in front: the proxy appends
    // the real address on the right, and that one is counted.
    assert_rate_limited(post(5, Some("192.0.2.1, 203.0.113.7")).await.unwrap()).await;
    // Other routes are not limited by address (the answer here is whatever the route says
    // without a token, never 429).
    let wards = server.http.get(server.url("/v1/hotline/wards")).header("x-forwarded-for", "203.0.113.7");
    assert_eq!(wards.send().await.unwrap().status(), 401);
    let dir = server.stop().await;
    assert_eq!(stored_messages(dir.path(), Some("app")).await, 4, "refused reports were not stored");
}

#[tokio::test]
async fn one_hue_s_account_is_limited_across_addresses() {
    let server = Server::start_with(|c| {
        c.rate_limits.per_sender_burst = 2;
        c.rate_limits.per_sender_per_minute = 1;
    })
    .await;
    let with_account = |n: usize, account: &str| {
        let mut body = app_report(n);
        body["account_id"] = json!(account);
        body
    };
    for n in 0..2 {
        assert_eq!(server.post_json(APP_TOKEN, &with_account(n, "hues-102938")).await.status(), 202);
    }
    let refused = server.post_json(APP_TOKEN, &with_account(2, "hues-102938")).await;
    assert_rate_limited(refused).await;
    // Another account, and a report without one, pass.
    assert_eq!(server.post_json(APP_TOKEN, &with_account(3, "hues-555")).await.status(), 202);
    assert_eq!(server.post_json(APP_TOKEN, &app_report(4)).await.status(), 202);
    let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"hue_intake_rate_limited_total{scope="sender",route="/v1/reports"}"#),
        "counted by scope and route"
    );
    assert!(!metrics.contains("hues-102938"), "the account is not a label (R8)");
    let dir = server.stop().await;
    assert_eq!(stored_messages(dir.path(), Some("app")).await, 4);
}
