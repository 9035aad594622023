//! The call centre's API (SPEC §7): operators' tokens, idempotent calls, live checks, the
//! wards list, and the record a call becomes.

use serde_json::{Value, json};

use crate::common::{Server, problem};

async fn post(server: &Server, path: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = server.http.post(server.url(path)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

fn call(id: &str) -> Value {
    json!({
        "call_id": id,
        "operator_id": "op-17",
        "caller_number": "0234 3 822 123",
        "caller_name": "Trần Thị B",
        "consent": true,
        "transcript": "KH: Alo, ở kiệt 12 Nguyễn Trãi có dây điện bị đứt\nĐTV: Dạ chị cho em xin địa chỉ\nKH: Ngay trước nhà số 5",
        "address": "kiệt 12 Nguyễn Trãi, phường Phú Xuân",
        "lat": 16.4785, "lon": 107.5772,
        "urgent": true
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_stored_once_and_becomes_an_operator_placed_urgent_record() {
    let mut server = Server::start().await;
    let token = hue_intake::hotline::operators::issue(&server.store(), "op-17").await.unwrap();
    let first = post(&server, "/v1/hotline/calls", Some(&token), &call("cc-1")).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let code = first["tracking_code"].as_str().unwrap().to_owned();
    // The call-centre software retries: the same answer, nothing new.
    let again = post(&server, "/v1/hotline/calls", Some(&token), &call("cc-1")).await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap()["tracking_code"], code.as_str());
    // The same call_id with other words is a conflict.
    let mut other = call("cc-1");
    other["transcript"] = json!("KH: chuyện khác");
    problem(post(&server, "/v1/hotline/calls", Some(&token), &other).await, 409).await;

    server.delivered(1).await;
    let record = &server.sink_lines()[0];
    assert_eq!(record["channel"], "hotline");
    assert_eq!(record["tracking_code"], code.as_str());
    assert_eq!(record["sources"][0]["message_id"], "hotline:cc-1");
    assert_eq!(record["urgency"]["level"], "immediate", "the operator's flag decides (R2)");
    assert_eq!(record["location"]["source"], "operator");
    assert_eq!(record["description"], "Alo, ở kiệt 12 Nguyễn Trãi có dây điện bị đứt\nNgay trước nhà số 5");
    let text = record.to_string();
    assert!(!text.contains("822") && !text.contains("Trần Thị B") && !text.contains("ĐTV"), "{text}");
    assert_eq!(record["reporter"]["has_phone"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_calls_and_bad_tokens_get_a_clear_answer() {
    let server = Server::start().await;
    let token = hue_intake::hotline::operators::issue(&server.store(), "op-03").await.unwrap();
    let mut no_transcript = call("cc-2");
    no_transcript.as_object_mut().unwrap().remove("transcript");
    let p = problem(post(&server, "/v1/hotline/calls", Some(&token), &no_transcript).await, 400).await;
    assert!(p["detail"].as_str().unwrap().contains("transcript"), "{p}");
    let mut no_id = call("");
    no_id["call_id"] = json!("");
    let p = problem(post(&server, "/v1/hotline/calls", Some(&token), &no_id).await, 400).await;
    assert_eq!(p["pointer"], "/call_id");
    let mut bad_lat = call("cc-3");
    bad_lat["lat"] = json!(95.0);
    let p = problem(post(&server, "/v1/hotline/calls", Some(&token), &bad_lat).await, 400).await;
    assert_eq!(p["pointer"], "/lat");
    problem(post(&server, "/v1/hotline/calls", None, &call("cc-4")).await, 401).await;
    problem(post(&server, "/v1/hotline/calls", Some("hop_not-a-token"), &call("cc-4")).await, 401).await;
    // A client token of the app is not an operator's.
    problem(post(&server, "/v1/hotline/calls", Some(crate::common::APP_TOKEN), &call("cc-4")).await, 401).await;
    assert!(server.store().revoke_operator("op-03", chrono::Utc::now()).await.unwrap());
    problem(post(&server, "/v1/hotline/calls", Some(&token), &call("cc-4")).await, 401).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_check_says_what_is_missing_and_what_to_read_for_out_of_scope_matters() {
    let server = Server::start().await;
    let token = hue_intake::hotline::operators::issue(&server.store(), "op-17").await.unwrap();
    let typing = json!({"call_id": "", "transcript": "KH: Rác thải ứ đọng nhiều ngày"});
    let check: Value = post(&server, "/v1/hotline/check", Some(&token), &typing).await.json().await.unwrap();
    assert_eq!(check["disposition"]["state"], "incomplete");
    assert!(check["missing"].as_array().unwrap().contains(&json!("location")), "{check}");
    assert_eq!(check["ward"]["state"], "none");
    let placed = json!({"call_id": "", "transcript": "KH: Rác thải ứ đọng nhiều ngày", "address": "kiệt 5 Trần Phú, phường Phú Xuân"});
    let check: Value = post(&server, "/v1/hotline/check", Some(&token), &placed).await.json().await.unwrap();
    assert!(!check["missing"].as_array().unwrap().contains(&json!("location")), "{check}");
    assert_eq!(check["ward"]["state"], "found");
    assert_eq!(check["ward"]["name"], "Phú Xuân");
    let shared = json!({"call_id": "", "transcript": "KH: Rác thải ứ đọng", "address": "thôn 3, Hương Xuân"});
    let check: Value = post(&server, "/v1/hotline/check", Some(&token), &shared).await.json().await.unwrap();
    assert_eq!(check["ward"]["state"], "ambiguous", "two of today's wards took a unit of that name: ask which");
    let dispute = json!({"call_id": "", "transcript": "KH: Tôi muốn khiếu nại quyết định thu hồi đất", "address": "phường An Cựu"});
    let check: Value = post(&server, "/v1/hotline/check", Some(&token), &dispute).await.json().await.unwrap();
    assert_eq!(check["disposition"]["state"], "rejected");
    assert!(check["out_of_scope"]["script"].as_str().unwrap().contains("30/2022"), "{check}");
    // No code is read to a caller before the call is stored: the check's texts show blanks.
    let script = check["out_of_scope"]["script"].as_str().unwrap();
    assert!(script.contains("HUE-____-____"), "{check}");
    let reply = check["reply"]["text"].as_str().unwrap();
    assert_eq!(reply.matches("HUE-").count(), reply.matches("HUE-____-____").count(), "{reply}");
    // Nothing was stored by checking.
    assert!(server.store().pending(10).await.unwrap().is_empty());
    problem(post(&server, "/v1/hotline/check", None, &typing).await, 401).await;
    problem(server.http.get(server.url("/v1/hotline/wards")).send().await.unwrap(), 401).await;
    let wards: Value = server
        .http
        .get(server.url("/v1/hotline/wards"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wards = wards.as_array().unwrap();
    assert_eq!(wards.len(), 40);
    let phu_xuan = wards.iter().find(|w| w["name"] == "Phú Xuân").unwrap();
    assert!(phu_xuan["old_names"].as_array().unwrap().contains(&json!("Tây Lộc")));
    server.stop().await;
}

/// `hue-intake operators add|list|revoke`, run as staff run it: the token is printed once and
/// works, a revoked one gets 401, a second revoke is a one-line error with exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_are_issued_and_revoked_from_the_command_line() {
    let server = Server::start().await;
    let config = server.dir.path().join("cli.toml");
    std::fs::write(&config, format!("[store]\ndata_dir = {:?}\n", server.dir.path())).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hue-intake"))
            .arg("operators")
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let added = run(&["add", "op-21"]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let token = String::from_utf8(added.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("hop_") && !token.contains(' '));
    assert_eq!(post(&server, "/v1/hotline/calls", Some(&token), &call("cc-cli")).await.status(), 202);
    let listed = String::from_utf8(run(&["list"]).stdout).unwrap();
    assert!(listed.contains("op-21\tactive"), "{listed}");
    assert!(run(&["revoke", "op-21"]).status.success());
    problem(post(&server, "/v1/hotline/calls", Some(&token), &call("cc-cli-2")).await, 401).await;
    let again = run(&["revoke", "op-21"]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(String::from_utf8(again.stderr).unwrap().trim().lines().count(), 1);
    server.stop().await;
}
