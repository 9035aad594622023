//! The regulation engine through `POST /v1/reports` of a running server: what the citizen is
//! told (R3), the night window (R2), out-of-scope matters (R5) and improper language counted by
//! the gateway itself up to the lock (R12). To know that the pipeline has recorded a message
//! (rejected ones never reach the sink), each test posts an ordinary report after it and waits
//! for that one's delivery: the pipeline records in receive order.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::common::*;

fn body(id: &str, account: &str, description: &str) -> Value {
    json!({
        "client_message_id": id,
        "account_id": account,
        "description": description,
        "location": { "lat": 16.4716, "lon": 107.5886 }
    })
}

async fn post(server: &Server, body: &Value) -> Value {
    let response = server.post_json(APP_TOKEN, body).await;
    assert_eq!(response.status().as_u16(), 202);
    response.json().await.unwrap()
}

/// Waits until everything posted so far is recorded, by delivering one more ordinary report.
async fn settle(server: &mut Server, n: &mut u64) {
    *n += 1;
    // Counted before posting: read after, the barrier may already be in the sink, and the
    // wait would be for one delivery more than will come.
    let delivered = server.sink_lines().len() as u64;
    let ack = post(server, &body(&format!("barrier-{n}"), "hues-barrier", "Rác ùn ứ trước chợ Đông Ba.")).await;
    assert_eq!(ack["disposition"]["state"], "accepted");
    server.delivered(delivered + 1).await;
}

#[tokio::test]
async fn r12_the_gateway_counts_improper_reports_down_to_the_lock_and_refuses_the_next() {
    let mut server = Server::start_with(with_staff).await;
    let mut n = 0;
    let improper = "Đèn đường hỏng cả tháng, bọn cán bộ lồn làm ăn kiểu gì vậy";
    for (i, expected) in [(1, "thêm 3 lần"), (2, "thêm 2 lần"), (3, "thêm 1 lần"), (4, "lần vi phạm thứ 4")]
    {
        let ack = post(&server, &body(&format!("bad-{i}"), "hues-r12", improper)).await;
        assert_eq!(ack["disposition"]["state"], "rejected", "violation {i}");
        assert_eq!(ack["disposition"]["reason"], "improper_language", "violation {i}");
        let reply = ack["reply"]["text"].as_str().unwrap();
        assert!(reply.contains(expected), "violation {i}: {reply}");
        assert!(!reply.contains("lồn"), "the reply never repeats the words");
        settle(&mut server, &mut n).await;
    }
    let ack = post(&server, &body("clean-after", "hues-r12", "Cây đổ chắn ngang đường Lê Lợi.")).await;
    assert_eq!(ack["disposition"]["reason"], "account_locked");
    assert!(ack["reply"]["text"].as_str().unwrap().contains("1900 1075"), "how to appeal");

    // A replay of the first one, now that the account is locked, gets the first answer.
    let replay = post(&server, &body("bad-1", "hues-r12", improper)).await;
    assert_eq!(replay["disposition"]["reason"], "improper_language");
    assert!(replay["reply"]["text"].as_str().unwrap().contains("thêm 3 lần"), "{replay}");

    // Staff see the lock, with the lexicon's rule ids and never the words.
    settle(&mut server, &mut n).await;
    let locked: Value =
        server.admin_get(Some(STAFF_TOKEN), "/v1/admin/sanctions?locked=true").await.json().await.unwrap();
    let text = locked.to_string();
    assert!(!text.contains("lồn"), "{text}");
    assert_eq!(locked["reporters"].as_array().map(Vec::len), Some(1), "{text}");
    // Rejected records are kept, never passed on.
    let delivered = server.sink_lines();
    assert!(delivered.iter().all(|r| r["disposition"]["state"] != "rejected"));
    assert_eq!(delivered.len() as u64, n);
}

#[tokio::test]
async fn r5_an_out_of_scope_complaint_is_kept_rejected_and_told_where_to_go() {
    let mut server = Server::start().await;
    let mut n = 0;
    let ack = post(
        &server,
        &body("complaint-1", "hues-r5", "Tôi muốn khiếu nại quyết định thu hồi đất của phường Kim Long."),
    )
    .await;
    assert_eq!(ack["disposition"]["state"], "rejected");
    assert_eq!(ack["disposition"]["reason"], "out_of_scope");
    assert_eq!(ack["reply"]["language"], "vi");
    assert!(ack["reply"]["text"].as_str().unwrap().contains("Luật Khiếu nại"));
    settle(&mut server, &mut n).await;
    let status: Value = server
        .admin_get(None, &format!("/v1/reports/{}", ack["tracking_code"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "recorded", "kept on record, never delivered");
    let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("hue_intake_records_total") && l.contains("reason=\"out_of_scope\"")),
        "counted by reason"
    );
}

#[tokio::test]
async fn r2_at_night_a_plain_report_waits_for_0730_and_an_urgent_one_goes_at_once() {
    // A night window around the current local time, so the test does not depend on the hour.
    let local = (Utc::now() + Duration::hours(7)).time();
    let start = (local - Duration::hours(1)).format("%H:%M").to_string();
    let end = (local + Duration::hours(1)).format("%H:%M").to_string();
    let server = Server::start_with(|c| {
        c.triage.night_start = start;
        c.triage.night_end = end;
    })
    .await;
    let plain = post(&server, &body("night-1", "hues-r2", "Đèn đường trước số 20 Trần Hưng Đạo bị hỏng.")).await;
    assert_eq!(plain["disposition"]["state"], "deferred");
    assert!(plain["disposition"]["deliver_after"].as_str().is_some());
    let reply = plain["reply"]["text"].as_str().unwrap();
    for number in ["113", "114", "115", "112"] {
        assert!(reply.contains(number), "{reply}");
    }
    let urgent =
        post(&server, &body("night-2", "hues-r2", "Cháy nhà ở kiệt 12 Nguyễn Trãi, còn người bên trong!")).await;
    assert_eq!(urgent["disposition"]["state"], "accepted");
    assert!(urgent["reply"]["text"].as_str().unwrap().contains("khẩn cấp"));

    let english =
        post(&server, &body("night-3", "hues-r3", "Street light broken on Le Loi street near the bridge")).await;
    assert_eq!(english["reply"]["language"], "en");
    assert!(english["reply"]["text"].as_str().unwrap().contains("113"));
}
