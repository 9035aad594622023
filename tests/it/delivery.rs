//! Delivery downstream against receivers that follow their contracts: a local double of the
//! core case system (HTTP; down for a while, then up; refusing one record with a 4xx), a
//! local Open311 GeoReport v2 endpoint, and the machine's real NATS JetStream.
//!
//! What must hold: every record reaches every sink exactly once, in commit order, an
//! interaction never before its report; a destination that is down is paused and probed
//! with its oldest record, not hammered; a refused record is a dead letter that a replay
//! sends again; a re-publish to NATS is de-duplicated by the stream.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use hue_intake::config::{Config, SinkTarget};
use serde_json::{Value, json};

use crate::common::*;

/// The core case system: checks each POST against the contract (JSON body, `Idempotency-Key`
/// = the record's id, the HMAC signature), answers 201 with a case id, or 503 while `down`,
/// or 422 for records whose description holds `refuse`.
#[derive(Clone, Default)]
pub(crate) struct Core {
    pub(crate) down: Arc<AtomicBool>,
    refuse: Arc<Mutex<Option<String>>>,
    /// Record ids of every POST, in arrival order, with the answer given.
    pub(crate) seen: Arc<Mutex<Vec<(String, u16)>>>,
    pub(crate) problems: Arc<Mutex<Vec<String>>>,
    /// The bodies the core took, by record id (a resend replaces the same record).
    pub(crate) taken: Arc<Mutex<std::collections::BTreeMap<String, Value>>>,
}

pub(crate) const CORE_SECRET: &str = "core-signing-secret-0123456789";

impl Core {
    pub(crate) async fn start(core: Core) -> String {
        let app = Router::new().route("/intake/records", axum::routing::post(core_post)).with_state(core);
        serve(app).await
    }

    pub(crate) fn accepted(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().filter(|(_, status)| *status == 201).map(|(id, _)| id.clone()).collect()
    }

    fn answered(&self, status: u16) -> Vec<String> {
        self.seen.lock().unwrap().iter().filter(|(_, s)| *s == status).map(|(id, _)| id.clone()).collect()
    }
}

async fn core_post(State(core): State<Core>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let record: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = record["id"].as_str().unwrap_or_default().to_owned();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut problems = Vec::new();
    if header("content-type") != "application/json" {
        problems.push("content-type".to_owned());
    }
    if header("idempotency-key") != id || id.is_empty() {
        problems.push(format!("Idempotency-Key {:?} is not the record id", header("idempotency-key")));
    }
    if header("x-hue-signature-256") != hue_intake::deliver::http_signature(CORE_SECRET.as_bytes(), &body) {
        problems.push("signature".to_owned());
    }
    core.problems.lock().unwrap().extend(problems);
    let refused = core.refuse.lock().unwrap().clone();
    let (status, answer) = if core.down.load(Ordering::SeqCst) {
        (503, json!({ "title": "Service Unavailable" }))
    } else if refused.is_some_and(|marker| record["description"].as_str().unwrap_or_default().contains(&marker)) {
        (422, json!({ "type": "about:blank", "title": "Unprocessable", "detail": "location.ward is required" }))
    } else {
        core.taken.lock().unwrap().insert(id.clone(), record.clone());
        (201, json!({ "case_id": format!("CASE-{}", &id[..8]) }))
    };
    core.seen.lock().unwrap().push((id, status));
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer))
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn fast_retries(c: &mut Config) {
    c.sink.poll_interval_ms = 20;
    c.sink.retry_base_ms = 40;
    c.sink.retry_max_secs = 1;
    c.sink.timeout_secs = 5;
}

fn sink(url: String) -> SinkTarget {
    SinkTarget { url, ..SinkTarget::default_file() }
}

fn core_sink(base: &str) -> SinkTarget {
    SinkTarget { signing_secret: Some(CORE_SECRET.to_owned()), ..sink(format!("{base}/intake/records")) }
}

fn report(id: &str, description: &str) -> Value {
    json!({
        "client_message_id": id,
        "reporter": { "name": "Nguyễn Văn An", "phone": "0905 123 456" },
        "consent": false,
        "description": description,
        "location": { "lat": 16.4637, "lon": 107.5909 },
        "category": "lighting_power"
    })
}

/// Polls `check` until it holds, for at most 20 s.
pub(crate) async fn until(what: &str, check: impl Fn() -> bool) {
    until_within(what, Duration::from_secs(20), check).await
}

/// Polls `check` until it holds, for at most `limit`.
pub(crate) async fn until_within(what: &str, limit: Duration, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Record ids by tracking code, from the store's own records (the acks carry codes).
async fn record_id_of(server: &Server, code: &str) -> String {
    let db = server.dir.path().join("hue-intake.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display())).await.unwrap();
    let id: String = sqlx::query_scalar("SELECT id FROM records WHERE tracking_code = ?1")
        .bind(code)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    id
}

async fn post(server: &Server, body: &Value) -> String {
    let response = server.post_json(APP_TOKEN, body).await;
    assert_eq!(response.status().as_u16(), 202);
    let ack: Value = response.json().await.unwrap();
    ack["tracking_code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_core_down_then_up_gets_every_record_once_in_order_after_probes_not_a_flood() {
    let core = Core::default();
    core.down.store(true, Ordering::SeqCst);
    let base = Core::start(core.clone()).await;
    let mut server = Server::start_with(|c| {
        fast_retries(c);
        c.sinks.insert("core".into(), core_sink(&base));
    })
    .await;
    let mut codes = Vec::new();
    for n in 0..12 {
        codes.push(post(&server, &report(&format!("down-{n}"), "Đèn đường hỏng trước số 12 Lê Lợi.")).await);
    }
    // While it is down, the gateway probes with the oldest record only.
    until("three probes", || core.answered(503).len() >= 3).await;
    core.down.store(false, Ordering::SeqCst);
    server.delivered(12).await;

    let mut expected = Vec::new();
    for code in &codes {
        expected.push(record_id_of(&server, code).await);
    }
    assert_eq!(core.accepted(), expected, "each record once, in commit order");
    let probes = core.answered(503);
    assert!(probes.iter().all(|id| *id == expected[0]), "every probe carried the oldest record: {probes:?}");
    assert!(core.problems.lock().unwrap().is_empty(), "{:?}", core.problems.lock().unwrap());
    assert!(server.metric("hue_intake_delivery_failures_total{sink=\"core\"}").await >= 3.0);

    // The core's case ids are kept with the rows.
    let dir = server.stop().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", dir.path().join("hue-intake.db").display()))
        .await
        .unwrap();
    let remote: Vec<Option<String>> =
        sqlx::query_scalar("SELECT remote_id FROM outbox WHERE sink = 'core' ORDER BY seq")
            .fetch_all(&pool)
            .await
            .unwrap();
    let wanted: Vec<Option<String>> = expected.iter().map(|id| Some(format!("CASE-{}", &id[..8]))).collect();
    assert_eq!(remote, wanted);
    pool.close().await;
}

#[tokio::test]
async fn a_refused_record_is_a_dead_letter_its_interaction_waits_and_a_replay_delivers_both_once() {
    let core = Core::default();
    *core.refuse.lock().unwrap() = Some("kiệt 7".into());
    let base = Core::start(core.clone()).await;
    let mut server = Server::start_with(|c| {
        fast_retries(c);
        c.sinks.insert("core".into(), core_sink(&base));
    })
    .await;
    let refused = post(&server, &report("dl-1", "Ổ gà lớn ở kiệt 7 Nguyễn Trãi.")).await;
    let fine = post(&server, &report("dl-2", "Cây đổ trên đường Lê Lợi.")).await;
    server.delivered(1).await;
    let follow_up = json!({
        "client_message_id": "dl-3", "consent": false, "in_reply_to": refused,
        "description": "Đã một tuần chưa ai đến sửa."
    });
    let interaction = post(&server, &follow_up).await;

    let config = server_config(&server);
    let list = deadletter(&config, &["list"]).await;
    let lines: Vec<Value> = list.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{list}");
    assert_eq!(lines[0]["tracking_code"], refused.as_str());
    assert_eq!(lines[0]["sink"], "core");
    assert_eq!(lines[0]["last_error"], "HTTP 422: location.ward is required");
    let shown: Value = serde_json::from_str(&deadletter(&config, &["show", &refused]).await).unwrap();
    assert_eq!(shown["record"]["tracking_code"], refused.as_str());
    assert!(!shown.to_string().contains("0905"), "no personal data in a dead letter");

    // Meanwhile the interaction waits behind its dead report, whatever else goes through.
    let other = post(&server, &report("dl-4", "Rác thải ở chợ Đông Ba.")).await;
    server.delivered(2).await;
    let (refused_id, interaction_id) =
        (record_id_of(&server, &refused).await, record_id_of(&server, &interaction).await);
    assert!(!core.accepted().contains(&interaction_id));

    // The fix, then the replay: the report, then its interaction, each once.
    *core.refuse.lock().unwrap() = None;
    let replayed: Value = serde_json::from_str(&deadletter(&config, &["replay", "--all"]).await).unwrap();
    assert_eq!(replayed, json!({ "replayed": 1, "not_dead": 0 }));
    server.delivered(4).await;
    let accepted = core.accepted();
    let order = |id: &str| accepted.iter().position(|a| a == id).unwrap();
    assert!(order(&refused_id) < order(&interaction_id), "the report before its interaction");
    assert_eq!(accepted.len(), 4, "{accepted:?}");
    for code in [&refused, &fine, &interaction, &other] {
        let id = record_id_of(&server, code).await;
        assert_eq!(accepted.iter().filter(|a| **a == id).count(), 1, "{code} once");
    }
    let again: Value = serde_json::from_str(&deadletter(&config, &["replay", "--all"]).await).unwrap();
    assert_eq!(again, json!({ "replayed": 0, "not_dead": 0 }), "nothing dead any more");
    assert!(deadletter(&config, &["list"]).await.is_empty());
    server.stop().await;
}

fn server_config(server: &Server) -> Config {
    let mut c = config(server.dir.path());
    c.sinks.insert("core".into(), core_sink("http://127.0.0.1:9"));
    c
}

/// Runs `hue-intake deadletter ARGS` in process on the server's store; returns stdout.
async fn deadletter(config: &Config, args: &[&str]) -> String {
    use clap::Parser;
    let cli = hue_intake::cli::Cli::try_parse_from(["hue-intake", "deadletter"].iter().chain(args)).unwrap();
    let hue_intake::cli::Command::Deadletter { command, .. } = cli.command else { unreachable!() };
    let mut out = Vec::new();
    hue_intake::cli::deadletter::run(command, config, &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

/// An Open311 GeoReport v2 endpoint: `POST /georeport/v2/requests.json`, form-encoded, with
/// the api key; answers the spec's array with a `service_request_id`, or its error array.
#[derive(Clone, Default)]
struct Open311 {
    requests: Arc<Mutex<Vec<Form>>>,
}

type Form = Vec<(String, String)>;

async fn open311_post(State(o): State<Open311>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let form = crate::doubles::form(&body);
    let get = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    o.requests.lock().unwrap().push(form.clone());
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return (StatusCode::BAD_REQUEST, axum::Json(json!([{ "code": 400, "description": "form expected" }])));
    }
    if get("api_key").as_deref() != Some("311-key") {
        return (StatusCode::FORBIDDEN, axum::Json(json!([{ "code": 403, "description": "api_key invalid" }])));
    }
    if get("service_code").as_deref() == Some("KHAC") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!([{ "code": 400, "description": "service_code not found" }])),
        );
    }
    let located = (get("lat").is_some() && get("long").is_some()) || get("address_string").is_some();
    if !located {
        return (StatusCode::BAD_REQUEST, axum::Json(json!([{ "code": 400, "description": "location required" }])));
    }
    let n = o.requests.lock().unwrap().len();
    (StatusCode::CREATED, axum::Json(json!([{ "service_request_id": format!("311-{n}"), "service_notice": "" }])))
}

#[tokio::test]
async fn open311_gets_reports_as_georeport_requests_with_a_signed_photo_link_and_its_errors_are_dead_letters() {
    let o = Open311::default();
    let base = serve(
        Router::new().route("/georeport/v2/requests.json", axum::routing::post(open311_post)).with_state(o.clone()),
    )
    .await;
    let mut server = Server::start_with(|c| {
        fast_retries(c);
        c.server.public_url = Some("https://gw.example".into());
        let mut target = sink(format!("open311+{base}/georeport/v2"));
        target.api_key = Some("311-key".into());
        target.default_service_code = Some("KHAC".into());
        target.service_codes.insert("lighting_power".into(), "DEN-DUONG".into());
        c.sinks.insert("open311".into(), target);
    })
    .await;
    let photo = jpeg_with_gps(16.4637, 107.5909);
    let mut with_photo = report("o-1", "Đèn đường hỏng trước số 12 Lê Lợi.");
    with_photo["media"] = json!([{ "filename": "a.jpg", "content_type": "image/jpeg",
        "data_base64": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &photo) }]);
    let code = post(&server, &with_photo).await;
    let mut unmapped = report("o-2", "Có người đổ trộm rác.");
    unmapped["category"] = json!("waste");
    let refused = post(&server, &unmapped).await;
    server.delivered(1).await;
    until("both requests", || o.requests.lock().unwrap().len() >= 2).await;

    let first = o.requests.lock().unwrap()[0].clone();
    let get = |k: &str| first.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(get("service_code").as_deref(), Some("DEN-DUONG"));
    assert_eq!((get("lat").as_deref(), get("long").as_deref()), (Some("16.4637"), Some("107.5909")));
    assert!(get("description").unwrap().starts_with(&format!("[{code}] ")));
    for personal in ["email", "phone", "first_name", "last_name"] {
        assert_eq!(get(personal), None, "R8: {personal} never sent");
    }
    // The photo link opens the photo, and only as signed.
    let link = get("media_url").unwrap();
    let path = link.strip_prefix("https://gw.example").unwrap();
    let fetched = server.http.get(server.url(path)).send().await.unwrap();
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(fetched.headers()["content-type"], "image/jpeg");
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), photo);
    let tampered = path.replace("type=image%2Fjpeg", "type=text%2Fhtml");
    problem(server.http.get(server.url(&tampered)).send().await.unwrap(), 403).await;

    let config = {
        let mut c = config(server.dir.path());
        c.sinks.insert(
            "open311".into(),
            SinkTarget {
                api_key: Some("k".into()),
                default_service_code: Some("X".into()),
                ..sink("open311+http://127.0.0.1:9".into())
            },
        );
        c
    };
    let list = deadletter(&config, &["list", "--sink", "open311"]).await;
    let dead: Value = serde_json::from_str(list.trim()).unwrap();
    assert_eq!(dead["tracking_code"], refused.as_str());
    assert_eq!(dead["last_error"], "HTTP 400: 400 service_code not found");

    let dir = server.stop().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", dir.path().join("hue-intake.db").display()))
        .await
        .unwrap();
    let remote: Option<String> =
        sqlx::query_scalar("SELECT remote_id FROM outbox WHERE state = 'delivered'").fetch_one(&pool).await.unwrap();
    assert_eq!(remote.as_deref(), Some("311-1"));
    pool.close().await;
}

#[tokio::test]
async fn nats_gets_each_record_once_and_a_resend_after_a_lost_settlement_is_deduplicated() {
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let (subject, stream) = (format!("hue.test.{tag}"), format!("HUE_TEST_{tag}"));
    let nats_sink = || SinkTarget {
        subject: Some(subject.clone()),
        stream: Some(stream.clone()),
        ..sink("nats://127.0.0.1:4222".into())
    };
    let mut server = Server::start_with(|c| {
        fast_retries(c);
        c.sinks.insert("analytics".into(), nats_sink());
    })
    .await;
    for n in 0..5 {
        post(&server, &report(&format!("n-{n}"), "Ngập nước đường Bà Triệu.")).await;
    }
    server.delivered(5).await;
    let client = async_nats::connect("127.0.0.1:4222").await.expect("NATS JetStream runs on 127.0.0.1:4222");
    let js = async_nats::jetstream::new(client);
    let count = || async { js.get_stream(&stream).await.unwrap().info().await.unwrap().state.messages };
    assert_eq!(count().await, 5);

    // A crash after publishing but before settling: the rows are pending again at restart.
    let dir = server.stop().await;
    let pool =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("hue-intake.db").display())).await.unwrap();
    let reset = sqlx::query("UPDATE outbox SET state = 'pending', delivered_at = NULL WHERE sink = 'analytics'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(reset.rows_affected(), 5);
    pool.close().await;
    let data = dir.path().to_path_buf();
    let mut again = Server::start_with(|c| {
        fast_retries(c);
        c.store.data_dir = data.clone();
        c.sinks.insert("analytics".into(), nats_sink());
    })
    .await;
    again.delivered(5).await;
    assert_eq!(count().await, 5, "the re-publish was recognised by Nats-Msg-Id");
    assert!(again.metric("hue_intake_nats_duplicates_total").await >= 5.0);
    again.stop().await;
    drop(dir);
    js.delete_stream(&stream).await.unwrap();
}
