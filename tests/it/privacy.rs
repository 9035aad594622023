//! The privacy check (R8, issue 8 item 6): the real binary, logging everything at debug level,
//! takes messages full of recognisable personal data on every API and webhook channel (an
//! app report, a hotline call, a Messenger message, a Zalo message, plus refused requests
//! carrying the same data), records them and delivers them to the core over HTTP and to the
//! file sink. Then every log line, the metrics page, every error answer, every payload the
//! core received, the file sink and every byte of the data directory are searched for each
//! piece of personal data, in each of the forms it can take: none may appear.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::chat::{
    FB_APP_SECRET, FB_PAGE_ID, ZALO_APP_ID, ZALO_OA_SECRET, facebook_signature, messenger, zalo, zalo_signature,
};
use crate::common::{APP_TOKEN, all_bytes_under};
use crate::delivery::{Core, until_within};

const NAME: &str = "Nguyễn Thị Hồng Nhung";
const PHONE: &str = "0905 123 456";
const EMAIL: &str = "nhung.nguyen@example.vn";
const ACCOUNT: &str = "hues-778899";
const CALLER: &str = "0234 3 822 999";
const CALLER_NAME: &str = "Lê Văn Khoa";
const PSID: &str = "24681357902468135";
const ZALO_USER: &str = "8800112233445566778";
const TEXT_PHONE: &str = "0914 222 333";
const TEXT_EMAIL: &str = "khoa.le@example.com";

/// Every form a piece of personal data can take in an output (`crate::pii::needles`).
fn needles() -> Vec<String> {
    crate::pii::needles(
        &[NAME, EMAIL, ACCOUNT, CALLER_NAME, PSID, ZALO_USER, TEXT_EMAIL, "Hồng Nhung", "Văn Khoa"],
        &[PHONE, CALLER, TEXT_PHONE],
    )
}

pub(crate) fn write_config(dir: &Path, core: &str) -> std::path::PathBuf {
    let path = dir.join("privacy.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"{data}\"\n\
             [triage]\nnight_start = \"00:00\"\nnight_end = \"00:00\"\nincomplete_hold_secs = 0\n\
             [chat]\nquiet_secs = 1\nmax_draft_secs = 2\n[sink]\npoll_interval_ms = 50\n\
             [sinks.core]\nurl = \"{core}/intake/records\"\n[sinks.file]\nurl = \"file:reports.jsonl\"\n\
             [privacy]\nseal_key = \"{key}\"\n[log]\nlevel = \"debug\"\n\
             [facebook]\napp_secret = \"{FB_APP_SECRET}\"\nverify_token = \"privacy-verify-token\"\npage_id = \"{FB_PAGE_ID}\"\n\
             [zalo]\napp_id = \"{ZALO_APP_ID}\"\noa_secret_key = \"{ZALO_OA_SECRET}\"\n\
             [clients.mobile]\nchannel = \"app\"\ntoken = \"{APP_TOKEN}\"\n",
            data = dir.join("data").display(),
            key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [9u8; 32]),
        ),
    )
    .unwrap();
    path
}

/// `hue-intake serve` with every log line going to `log`; returns the child and its address
/// (read from its own "Listening." line).
pub(crate) async fn spawn_logging(config: &Path, log: &Path) -> (Child, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_hue-intake"))
        .args(["serve", "--config"])
        .arg(config)
        .env("HUE_INTAKE__LOG__FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("the hue-intake binary starts");
    let mut address = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while address.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the server did not announce its address");
        address = std::fs::read_to_string(log).unwrap_or_default().lines().find_map(|line| {
            let event: Value = serde_json::from_str(line).ok()?;
            (event["message"] == "Listening.").then(|| event["address"].as_str().unwrap_or_default().to_owned())
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (child, address.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8_personal_data_appears_in_no_log_metric_record_payload_error_or_file() {
    hue_intake::net::install_crypto_provider();
    let core = Core::default();
    let core_url = Core::start(core.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &core_url);
    let issued = Command::new(env!("CARGO_BIN_EXE_hue-intake"))
        .args(["operators", "add", "op-privacy", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(issued.status.success(), "{issued:?}");
    let operator = String::from_utf8(issued.stdout).unwrap().trim().to_owned();
    let log = dir.path().join("serve.log");
    let (mut child, address) = spawn_logging(&config, &log).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://{address}{path}");
    let mut errors = Vec::new();

    // The app: a report full of personal data, then refused requests that carry it too.
    let report = json!({
        "client_message_id": "priv-1", "account_id": ACCOUNT,
        "reporter": { "name": NAME, "phone": PHONE, "email": EMAIL }, "consent": false,
        "description": format!("Tôi là {NAME}, gọi {TEXT_PHONE} hoặc {TEXT_EMAIL}: ổ gà lớn trước số 7 Lê Lợi."),
        "location": { "lat": 16.4637, "lon": 107.5909 }
    });
    let sent = http.post(url("/v1/reports")).bearer_auth(APP_TOKEN).json(&report).send().await.unwrap();
    assert_eq!(sent.status().as_u16(), 202);
    let mut unknown_field = report.clone();
    unknown_field["client_message_id"] = json!("priv-2");
    unknown_field["phone_again"] = json!(PHONE);
    let mut wrong_type = report.clone();
    wrong_type["client_message_id"] = json!("priv-3");
    wrong_type["reporter"]["phone"] = json!([PHONE, EMAIL]);
    let mut reused = report.clone();
    reused["description"] = json!(format!("{NAME} {PHONE} viết lại"));
    for bad in [unknown_field, wrong_type, reused] {
        let answer = http.post(url("/v1/reports")).bearer_auth(APP_TOKEN).json(&bad).send().await.unwrap();
        assert!(answer.status().is_client_error(), "{}", answer.status());
        errors.push(answer.text().await.unwrap());
    }
    let unauthorised = http.post(url("/v1/reports")).bearer_auth(PHONE).json(&report).send().await.unwrap();
    errors.push(unauthorised.text().await.unwrap());

    // The call centre: a call with the caller's number and name.
    let call = json!({
        "call_id": "priv-call-1", "operator_id": "op-privacy", "caller_number": CALLER, "caller_name": CALLER_NAME,
        "caller_email": TEXT_EMAIL, "consent": false,
        "transcript": format!("KH: Tôi là {CALLER_NAME}, số {CALLER}. Cây đổ chắn đường Lê Lợi.\nĐTV: Dạ em ghi nhận."),
        "address": "12 Lê Lợi, phường Thuận Hóa", "lat": 16.4637, "lon": 107.5909, "urgent": true
    });
    let answer = http.post(url("/v1/hotline/calls")).bearer_auth(&operator).json(&call).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 202);
    let mut bad_call = call.clone();
    bad_call["caller_number"] = json!({ "number": CALLER });
    let answer = http.post(url("/v1/hotline/calls")).bearer_auth(&operator).json(&bad_call).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    errors.push(answer.text().await.unwrap());

    // Messenger and Zalo: a sender id and contacts in the text; and a forged body.
    let text = format!("Ngập sâu ở kiệt 3 Bà Triệu, liên hệ {TEXT_PHONE}, {TEXT_EMAIL}");
    let body = messenger(PSID, "m.priv-1", json!({ "text": text }));
    let answer = http
        .post(url("/webhooks/facebook"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", facebook_signature(&body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let forged = http
        .post(url("/webhooks/facebook"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .body(messenger(PSID, "m.priv-forged", json!({ "text": format!("{NAME} {PHONE}") })))
        .send()
        .await
        .unwrap();
    assert!(forged.status().is_client_error());
    errors.push(forged.text().await.unwrap());
    let (zalo_body, timestamp) = zalo("user_send_text", ZALO_USER, "zpriv-1", json!({ "text": text }));
    let answer = http
        .post(url("/webhooks/zalo"))
        .header("content-type", "application/json")
        .header("x-zevent-signature", zalo_signature(&zalo_body, &timestamp))
        .body(zalo_body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);

    // Four records reach the core (the chat drafts close after their quiet second).
    until_within("four records at the core", Duration::from_secs(30), || core.taken.lock().unwrap().len() >= 4).await;
    let metrics = http.get(url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(crate::spawn::terminate(&mut child), "clean exit");

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.lines().count() > 20, "debug logging ran ({} lines)", logs.lines().count());
    let payloads: Vec<String> = core.taken.lock().unwrap().values().map(Value::to_string).collect();
    let records = std::fs::read_to_string(dir.path().join("data").join("reports.jsonl")).unwrap();
    assert_eq!(records.lines().count(), 4);
    for record in records.lines() {
        let record: Value = serde_json::from_str(record).unwrap();
        assert!(
            record["reporter"]["has_phone"].as_bool().unwrap()
                || record["channel"] == "facebook"
                || record["channel"] == "zalo"
        );
    }
    let disk = String::from_utf8_lossy(&all_bytes_under(&dir.path().join("data"))).into_owned();
    let places: [(&str, &str); 6] = [
        ("logs", &logs),
        ("metrics", &metrics),
        ("error answers", &errors.join("\n")),
        ("payloads to the core", &payloads.join("\n")),
        ("the file sink", &records),
        ("the data directory", &disk),
    ];
    // The search can find things: the report's own words are there, its reporter is not.
    assert!(payloads.join("\n").contains("ổ gà lớn") && records.contains("Bà Triệu"));
    assert!(logs.contains("priv-1") || logs.contains("hotline"), "the logs speak of the messages");
    let found = crate::pii::found(&needles(), &places);
    assert!(found.is_empty(), "personal data found: {found:#?}");
}
