//! Sanctions (R12) through the admin API of a running server: the case system reports
//! violations, staff inspect, dismiss and lift, and a locked reporter's next report is
//! refused. Violations come from the admin API (the gateway's own lexicon is tested at store
//! level), on reports of one Hue-S account, which gives them one `reporter.ref`.

use serde_json::{Value, json};

use crate::common::*;

fn report(id: &str, account: &str) -> Value {
    json!({
        "client_message_id": id,
        "account_id": account,
        "reporter": { "name": "Lê Thị Hoa", "phone": "0914 222 333" },
        "consent": true,
        "description": "Rác ùn ứ trước chợ Đông Ba, bốc mùi.",
        "location": { "lat": 16.4716, "lon": 107.5886 }
    })
}

/// Posts `n` accepted reports of one account, waits for their delivery; returns their
/// tracking codes and the account's reporter ref (from the delivered records).
async fn reports_of(server: &mut Server, account: &str, n: usize) -> (Vec<String>, String) {
    let already = server.sink_lines().len() as u64;
    let mut codes = Vec::new();
    for i in 0..n {
        let response = server.post_json(APP_TOKEN, &report(&format!("{account}-{i}"), account)).await;
        assert_eq!(response.status().as_u16(), 202);
        let ack: Value = response.json().await.unwrap();
        assert_eq!(ack["disposition"]["state"], "accepted");
        codes.push(ack["tracking_code"].as_str().unwrap().to_owned());
    }
    server.delivered(already + n as u64).await;
    let line = server.sink_lines().into_iter().find(|l| l["tracking_code"] == codes[0].as_str()).unwrap();
    (codes, line["reporter"]["ref"].as_str().unwrap().to_owned())
}

async fn report_violation(server: &Server, token: &str, code: &str) -> reqwest::Response {
    server.admin_post(token, "/v1/admin/violations", &json!({ "tracking_code": code, "why": "abusive wording" })).await
}

#[tokio::test]
async fn r12_four_reported_violations_lock_the_account_and_its_next_report_is_rejected() {
    let mut server = Server::start_with(with_staff).await;
    let (codes, reporter) = reports_of(&mut server, "hues-4444", 4).await;
    for (i, code) in codes.iter().enumerate() {
        let response = report_violation(&server, CASE_TOKEN, code).await;
        assert_eq!(response.status().as_u16(), 201);
        let change: Value = response.json().await.unwrap();
        assert_eq!(change["violation"]["source"], "case_system");
        assert_eq!(change["standing"]["reporter_ref"], reporter.as_str());
        assert_eq!(change["standing"]["account_locked"], i == 3, "the 4th locks (R12)");
    }
    // Reported again: a record counts once.
    let again = report_violation(&server, CASE_TOKEN, &codes[0]).await;
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["standing"]["report_violations"], 4);

    // The locked reporter's next report is stored and answered, refused with the reason.
    let response = server.post_json(APP_TOKEN, &report("hues-4444-locked", "hues-4444")).await;
    assert_eq!(response.status().as_u16(), 202);
    let ack: Value = response.json().await.unwrap();
    assert_eq!(ack["disposition"]["state"], "rejected");
    assert_eq!(ack["disposition"]["reason"], "account_locked");
    let locked_code = ack["tracking_code"].as_str().unwrap().to_owned();
    // Someone else's report after it: once that one is delivered, the pipeline (which works in
    // receive order, batch by batch) has recorded the refused one too. No sleeping.
    let (_, other) = reports_of(&mut server, "hues-other", 1).await;
    assert_ne!(other, reporter);
    let status: Value = server.admin_get(None, &format!("/v1/reports/{locked_code}")).await.json().await.unwrap();
    assert_eq!(status["status"], "recorded", "recorded, never delivered");
    assert_eq!(status["disposition"]["state"], "rejected");
    assert_eq!(status["disposition"]["reason"], "account_locked");
    assert!(server.sink_lines().iter().all(|l| l["tracking_code"] != locked_code.as_str()));

    // Staff see the standing, the violations and the audit; no personal data.
    let shown = server.admin_get(Some(STAFF_TOKEN), &format!("/v1/admin/sanctions/{reporter}")).await;
    assert_eq!(shown.status().as_u16(), 200);
    let text = shown.text().await.unwrap();
    for secret in ["hues-4444", "Lê Thị Hoa", "0914 222 333", "84914222333", "Rác"] {
        assert!(!text.contains(secret), "{secret} in the admin answer");
    }
    let shown: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(shown["standing"]["account_locked"], true);
    assert_eq!(shown["violations"].as_array().unwrap().len(), 4);
    let events = shown["events"].as_array().unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "report").count(), 4);
    assert_eq!(actions.iter().filter(|a| **a == "lock").count(), 1);
    assert!(events.iter().all(|e| e["actor"] == "case-system" && !e["why"].as_str().unwrap().is_empty()));
    let listed: Value =
        server.admin_get(Some(STAFF_TOKEN), "/v1/admin/sanctions?locked=true").await.json().await.unwrap();
    assert_eq!(listed["reporters"][0]["reporter_ref"], reporter.as_str());
    assert_eq!(listed["reporters"].as_array().unwrap().len(), 1);

    // Staff lift the lock: reports are accepted again, and the audit says who and why.
    let lifted = server
        .admin_post(
            STAFF_TOKEN,
            &format!("/v1/admin/sanctions/{reporter}/lift"),
            &json!({ "scope": "account", "why": "apologised at the ward office" }),
        )
        .await;
    assert_eq!(lifted.status().as_u16(), 200);
    let lifted: Value = lifted.json().await.unwrap();
    assert_eq!(lifted["standing"]["account_locked"], false);
    assert_eq!(lifted["standing"]["report_violations"], 0, "the counting starts again");
    let response = server.post_json(APP_TOKEN, &report("hues-4444-after", "hues-4444")).await;
    assert_eq!(response.json::<Value>().await.unwrap()["disposition"]["state"], "accepted");
    let shown: Value =
        server.admin_get(Some(STAFF_TOKEN), &format!("/v1/admin/sanctions/{reporter}")).await.json().await.unwrap();
    let lift = &shown["events"][0];
    assert_eq!((lift["action"].as_str(), lift["actor"].as_str()), (Some("lift"), Some("lan")));
    assert_eq!(lift["why"], "apologised at the ward office");
}

#[tokio::test]
async fn r12_dismissing_one_of_four_through_the_admin_api_lifts_the_lock() {
    let mut server = Server::start_with(with_staff).await;
    let (codes, reporter) = reports_of(&mut server, "hues-5555", 4).await;
    let mut ids = Vec::new();
    for code in &codes {
        let change: Value = report_violation(&server, STAFF_TOKEN, code).await.json().await.unwrap();
        assert_eq!(change["violation"]["source"], "staff");
        ids.push(change["violation"]["id"].as_i64().unwrap());
    }
    let dismissed = server
        .admin_post(STAFF_TOKEN, &format!("/v1/admin/violations/{}/dismiss", ids[1]), &json!({ "why": "a quote" }))
        .await;
    assert_eq!(dismissed.status().as_u16(), 200);
    let dismissed: Value = dismissed.json().await.unwrap();
    assert_eq!(dismissed["violation"]["state"], "dismissed");
    assert_eq!(dismissed["standing"]["account_locked"], false);
    assert_eq!(dismissed["standing"]["report_violations"], 3);
    let response = server.post_json(APP_TOKEN, &report("hues-5555-x", "hues-5555")).await;
    assert_eq!(response.json::<Value>().await.unwrap()["disposition"]["state"], "accepted");

    let again = server
        .admin_post(STAFF_TOKEN, &format!("/v1/admin/violations/{}/dismiss", ids[1]), &json!({ "why": "twice" }))
        .await;
    problem(again, 409).await;
    // Reinstated by confirming it: the 4th again, locked again.
    let confirmed: Value = server
        .admin_post(
            STAFF_TOKEN,
            &format!("/v1/admin/violations/{}/confirm", ids[1]),
            &json!({ "why": "on reflection" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(confirmed["standing"]["account_locked"], true);
    let shown: Value =
        server.admin_get(Some(STAFF_TOKEN), &format!("/v1/admin/sanctions/{reporter}")).await.json().await.unwrap();
    let auto_lift = shown["events"].as_array().unwrap().iter().find(|e| e["action"] == "lift").unwrap();
    assert_eq!(auto_lift["actor"], "lan", "the automatic lift carries the dismissing actor");
}

#[tokio::test]
async fn the_admin_api_authenticates_authorises_and_validates_with_problems() {
    let server = Server::start_with(with_staff).await;
    problem(server.admin_get(None, "/v1/admin/sanctions").await, 401).await;
    problem(server.admin_get(Some(APP_TOKEN), "/v1/admin/sanctions").await, 401).await;
    problem(server.admin_get(Some(CASE_TOKEN), "/v1/admin/sanctions").await, 403).await;
    let empty: Value = server.admin_get(Some(STAFF_TOKEN), "/v1/admin/sanctions").await.json().await.unwrap();
    assert_eq!(empty["reporters"], json!([]));
    problem(server.admin_get(Some(STAFF_TOKEN), "/v1/admin/sanctions/rp_unknown").await, 404).await;

    let post = |token: &'static str, path: &'static str, body: Value| {
        let server = &server;
        async move { server.admin_post(token, path, &body).await }
    };
    let p =
        problem(post(CASE_TOKEN, "/v1/admin/violations", json!({ "tracking_code": "HUE-7KQ4-M2XD" })).await, 400).await;
    assert_eq!(p["pointer"], "/why");
    let p = problem(
        post(CASE_TOKEN, "/v1/admin/violations", json!({ "tracking_code": "HUE-7KQ4-M2XD", "why": "  " })).await,
        400,
    )
    .await;
    assert_eq!(p["pointer"], "/why");
    let p = problem(
        post(CASE_TOKEN, "/v1/admin/violations", json!({ "tracking_code": "HUE-7KQ4-M2XD", "why": "x", "extra": 1 }))
            .await,
        400,
    )
    .await;
    assert_eq!(p["pointer"], "/extra");
    let p =
        problem(post(CASE_TOKEN, "/v1/admin/violations", json!({ "tracking_code": "nope", "why": "x" })).await, 400)
            .await;
    assert_eq!(p["pointer"], "/tracking_code");
    problem(
        post(CASE_TOKEN, "/v1/admin/violations", json!({ "tracking_code": "HUE-7KQ4-M2XD", "why": "x" })).await,
        404,
    )
    .await;
    let plain = server
        .http
        .post(server.url("/v1/admin/violations"))
        .bearer_auth(CASE_TOKEN)
        .header("content-type", "text/plain")
        .body("why")
        .send()
        .await
        .unwrap();
    problem(plain, 415).await;

    problem(post(CASE_TOKEN, "/v1/admin/violations/1/confirm", json!({ "why": "x" })).await, 403).await;
    problem(post(APP_TOKEN, "/v1/admin/violations/1/confirm", json!({ "why": "x" })).await, 401).await;
    problem(post(STAFF_TOKEN, "/v1/admin/violations/999/confirm", json!({ "why": "x" })).await, 404).await;
    problem(post(STAFF_TOKEN, "/v1/admin/violations/abc/dismiss", json!({ "why": "x" })).await, 404).await;
    let p = problem(post(STAFF_TOKEN, "/v1/admin/violations/999/dismiss", json!({})).await, 400).await;
    assert_eq!(p["pointer"], "/why");
    problem(
        post(STAFF_TOKEN, "/v1/admin/sanctions/rp_unknown/lift", json!({ "scope": "account", "why": "x" })).await,
        404,
    )
    .await;
    let p = problem(
        post(STAFF_TOKEN, "/v1/admin/sanctions/rp_unknown/lift", json!({ "scope": "all", "why": "x" })).await,
        400,
    )
    .await;
    assert_eq!(p["pointer"], "/scope");
    problem(
        post(CASE_TOKEN, "/v1/admin/sanctions/rp_unknown/lift", json!({ "scope": "account", "why": "x" })).await,
        403,
    )
    .await;
}

/// Runs the built binary's `sanctions` command; returns (exit code, stdout, stderr).
fn cli(config: &std::path::Path, args: &[&str], user: Option<&str>) -> (i32, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hue-intake"));
    command.arg("sanctions").args(args).arg("--config").arg(config).env_remove("USER");
    if let Some(user) = user {
        command.env("USER", user);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn r12_the_sanctions_command_reports_lists_shows_and_lifts_and_refuses_bad_input_with_exit_2() {
    let mut server = Server::start().await;
    let (codes, reporter) = reports_of(&mut server, "hues-7777", 4).await;
    let dir = server.stop().await;
    let config = dir.path().join("cli.toml");
    std::fs::write(&config, format!("[store]\ndata_dir = {:?}\n", dir.path().display().to_string())).unwrap();

    for (i, code) in codes.iter().enumerate() {
        let (status, stdout, stderr) =
            cli(&config, &["report", &code.to_lowercase(), "--why", "abusive", "--actor", "minh"], None);
        assert_eq!(status, 0, "{stderr}");
        let change: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(change["violation"]["source"], "staff");
        assert_eq!(change["standing"]["account_locked"], i == 3, "the 4th locks (R12)");
    }
    let (status, stdout, _) = cli(&config, &["list", "--locked"], Some("tester"));
    assert_eq!(status, 0);
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["reporter_ref"], reporter.as_str());
    let (status, stdout, _) =
        cli(&config, &["lift", &reporter, "--scope", "account", "--why", "agreed"], Some("tester"));
    assert_eq!(status, 0);
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["standing"]["account_locked"], false);
    let (_, stdout, _) = cli(&config, &["show", &reporter], None);
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["events"][0]["action"], "lift");
    assert_eq!(shown["events"][0]["actor"], "tester", "--actor defaults to $USER");
    assert!(shown["events"].as_array().unwrap().iter().any(|e| e["actor"] == "minh" && e["action"] == "lock"));
    let (_, stdout, _) = cli(&config, &["list", "--locked"], None);
    assert!(stdout.is_empty());

    for (args, user) in [
        (vec!["lift", reporter.as_str(), "--scope", "everything", "--why", "x"], Some("t")),
        (vec!["confirm", "abc", "--why", "x"], Some("t")),
        (vec!["confirm", "999", "--why", "x"], Some("t")),
        (vec!["dismiss", "1"], Some("t")),
        (vec!["dismiss", "1", "--why", "   "], Some("t")),
        (vec!["report", "nope", "--why", "x"], Some("t")),
        (vec!["report", "HUE-0000-0000", "--why", "x"], Some("t")),
        (vec!["show", "rp_unknown"], Some("t")),
        (vec!["dismiss", "1", "--why", "x"], None),
    ] {
        let (status, stdout, stderr) = cli(&config, &args, user);
        assert_eq!(status, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}");
        if !stderr.starts_with("error: invalid value") && !stderr.contains("Usage") {
            assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        }
    }
    let empty = tempfile::tempdir().unwrap();
    let elsewhere = empty.path().join("c.toml");
    std::fs::write(&elsewhere, format!("[store]\ndata_dir = {:?}\n", empty.path().join("d").display().to_string()))
        .unwrap();
    let (status, _, stderr) = cli(&elsewhere, &["list"], Some("t"));
    assert_eq!(status, 2, "{stderr}");
    assert!(!empty.path().join("d").exists(), "no store is created by a wrong --config");

    let help = std::process::Command::new(env!("CARGO_BIN_EXE_hue-intake")).args(["sanctions", "--help"]).output();
    let help = String::from_utf8(help.unwrap().stdout).unwrap();
    for word in ["R12", "4th", "30 days", "--actor", "lift", "dismiss", "confirm", "report"] {
        assert!(help.contains(word), "sanctions --help mentions {word}");
    }
}

#[tokio::test]
async fn r12_four_reported_interaction_violations_lock_interactions_but_not_reports() {
    let mut server = Server::start_with(with_staff).await;
    let (codes, reporter) = reports_of(&mut server, "hues-8888", 1).await;
    let interaction = |i: usize| {
        json!({
            "client_message_id": format!("hues-8888-reply-{i}"),
            "account_id": "hues-8888",
            "description": "Vẫn chưa dọn, đề nghị xử lý.",
            "in_reply_to": codes[0],
        })
    };
    let mut replies = Vec::new();
    for i in 0..4 {
        let ack: Value = server.post_json(APP_TOKEN, &interaction(i)).await.json().await.unwrap();
        replies.push(ack["tracking_code"].as_str().unwrap().to_owned());
    }
    server.delivered(5).await;
    for (i, code) in replies.iter().enumerate() {
        let change: Value = report_violation(&server, CASE_TOKEN, code).await.json().await.unwrap();
        assert_eq!(change["violation"]["scope"], "interaction");
        assert_eq!(change["standing"]["interaction_locked"], i == 3, "the 4th within 30 days locks (R12)");
        assert_eq!(change["standing"]["account_locked"], false);
    }
    let ack: Value = server.post_json(APP_TOKEN, &interaction(9)).await.json().await.unwrap();
    assert_eq!(ack["disposition"]["state"], "rejected");
    assert_eq!(ack["disposition"]["reason"], "interaction_locked");
    let ack: Value = server.post_json(APP_TOKEN, &report("hues-8888-new", "hues-8888")).await.json().await.unwrap();
    assert_eq!(ack["disposition"]["state"], "accepted", "reports are not locked by interaction violations");
    let shown: Value =
        server.admin_get(Some(STAFF_TOKEN), &format!("/v1/admin/sanctions/{reporter}")).await.json().await.unwrap();
    assert_eq!(shown["standing"]["interaction_violations"], 4);
    assert!(shown["standing"]["interaction_locked_until"].is_string());
}
