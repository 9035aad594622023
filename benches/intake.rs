//! Benchmark of the durable receive paths against a bare baseline, in the same run.
//!
//! `cargo bench --bench intake` (add `-- --seconds N --connections N --scenario S` to change
//! the load; `S` is `app`, `facebook`, `zalo` or `all`, the default). For each scenario it
//! starts two servers, one after the other, each as its own process on 127.0.0.1:
//! - baseline: a bare axum handler that parses the same JSON body and answers 200, no store,
//!   no signature check;
//! - durable: `hue-intake serve` on a fresh SQLite data directory (group commit, WAL,
//!   synchronous=FULL, sealing, pipeline, chat assembly and file delivery running in the
//!   background), both webhooks configured;
//!
//! and drives it from N concurrent connections for the given time:
//! - `app`: `POST /v1/reports`, small JSON reports (the figures of issues 1 to 3);
//! - `facebook`: `POST /webhooks/facebook`, Messenger text events of about 1.5 KB of
//!   Vietnamese text, each signed with `X-Hub-Signature-256`;
//! - `zalo`: `POST /webhooks/zalo`, `user_send_text` events of about 1.5 KB, each signed with
//!   `X-ZEvent-Signature` over a fresh timestamp.
//!
//! With `--scale 10000,1000000` it measures instead how one SQLite instance holds up as its
//! store grows (end-to-end records/s from stored messages to the file sink, webhook ingest,
//! peak RSS at each size; see `intake/scale.rs`).
//!
//! With `--postgres URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`) it measures the
//! scale-out instead, in one run: the webhook scenario(s) against one `hue-intake serve` on
//! SQLite, then against two `hue-intake serve` processes on one PostgreSQL database (a fresh
//! schema), the connections split between them as a load balancer would. Both instances take
//! bodies; the pipeline and delivery run on the one holding their leases.
//!
//! Every body differs (its id and timestamps carry the request number): webhook bodies are
//! stored under their SHA-256, so repeating one would measure the duplicate path only.
//! Only answers with the expected status count as requests served; anything else is an error,
//! counted and printed by kind. It prints requests/s, p50/p99 latency, errors and the server's
//! peak RSS for both servers, and the ratio. Numbers are measured, not asserted: this is not a
//! test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "intake/scale.rs"]
mod scale;
#[path = "../tests/support/signing.rs"]
mod signing;
#[path = "../tests/support/spawn.rs"]
mod spawn;

const TOKEN: &str = "bench-token-0123456789abcdef";
// The chat secrets and ids of the durable server's configuration; the body shapes are those of
// tests/it/chat.rs.
const FB_APP_SECRET: &str = "bench-fb-app-secret";
const FB_VERIFY_TOKEN: &str = "bench-fb-verify-token";
const FB_PAGE_ID: &str = "102938475610293";
const ZALO_APP_ID: &str = "4411223344556677889";
const ZALO_OA_SECRET: &str = "bench-zalo-oa-secret";
/// Issue 4: webhook bodies of about 1.5 KB.
const WEBHOOK_BODY_BYTES: usize = 1536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    App,
    Facebook,
    Zalo,
}

impl Scenario {
    const ALL: [Scenario; 3] = [Scenario::App, Scenario::Facebook, Scenario::Zalo];

    fn name(self) -> &'static str {
        match self {
            Scenario::App => "app",
            Scenario::Facebook => "facebook",
            Scenario::Zalo => "zalo",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Scenario::App => "/v1/reports",
            Scenario::Facebook => "/webhooks/facebook",
            Scenario::Zalo => "/webhooks/zalo",
        }
    }

    /// The answer that means "stored" from `hue-intake` (202 for the app API, 200 for the
    /// webhooks); the baseline always answers 200.
    fn durable_status(self) -> u16 {
        match self {
            Scenario::App => 202,
            Scenario::Facebook | Scenario::Zalo => 200,
        }
    }

    /// Request number `n`: its body and, for the webhooks, its signature header. Everything
    /// that makes a body unique (ids, timestamps) derives from `n` or the clock, so no two
    /// bodies of a run are equal.
    fn request(self, n: u64, text: &str) -> (Vec<u8>, Option<(&'static str, String)>) {
        match self {
            Scenario::App => {
                let body = format!(
                    r#"{{"client_message_id":"bench-{n}","description":"Đèn đường hỏng trước số {n} Lê Lợi, tối om cả đoạn.","location":{{"lat":16.4637,"lon":107.5909}},"category":"lighting_power"}}"#
                );
                (body.into_bytes(), None)
            }
            Scenario::Facebook => {
                let ms = chrono::Utc::now().timestamp_millis();
                // One sender per message: chat assembly keeps one draft per sender, and the
                // run should not grow a single draft to thousands of messages.
                let body = format!(
                    r#"{{"object":"page","entry":[{{"id":"{FB_PAGE_ID}","time":{ms},"messaging":[{{"sender":{{"id":"PSID-BENCH-{n}"}},"recipient":{{"id":"{FB_PAGE_ID}"}},"timestamp":{ms},"message":{{"mid":"m.bench-{n}","text":"{text}"}}}}]}}]}}"#
                );
                let signature = signing::facebook(FB_APP_SECRET, body.as_bytes());
                (body.into_bytes(), Some(("x-hub-signature-256", signature)))
            }
            Scenario::Zalo => {
                let timestamp = chrono::Utc::now().timestamp_millis().to_string();
                let body = format!(
                    r#"{{"app_id":"{ZALO_APP_ID}","user_id_by_app":"3300112233445566778","event_name":"user_send_text","timestamp":"{timestamp}","sender":{{"id":"ZU-BENCH-{n}"}},"recipient":{{"id":"2012345678901234567"}},"message":{{"text":"{text}","msg_id":"bench{n}"}}}}"#
                );
                let signature = signing::zalo(ZALO_APP_ID, ZALO_OA_SECRET, body.as_bytes(), &timestamp);
                (body.into_bytes(), Some(("x-zevent-signature", signature)))
            }
        }
    }

    /// The message text: Vietnamese, padded so that a body is about `WEBHOOK_BODY_BYTES`
    /// (the app scenario keeps its short description).
    fn text(self) -> String {
        const PHRASE: &str = "Nước ngập sâu khoảng nửa mét trên đường Lê Lợi đoạn trước trường Quốc Học, \
                              xe máy chết máy hàng loạt, người dân phải dắt bộ; cống thoát nước bị rác \
                              bịt kín từ chiều qua, đề nghị phường Vĩnh Ninh cho người xử lý gấp. ";
        let mut text = String::from("Phản ánh hiện trường: ");
        if self == Scenario::App {
            return text;
        }
        for c in PHRASE.chars().cycle() {
            if self.request(1_000_000, &text).0.len() + c.len_utf8() > WEBHOOK_BODY_BYTES {
                break;
            }
            text.push(c);
        }
        text
    }
}

fn main() {
    // reqwest is built without a TLS provider of its own (rust-anchors: ring, not aws-lc-rs).
    hue_intake::net::install_crypto_provider();
    if std::env::var("HUE_BENCH_ROLE").as_deref() == Ok("baseline") {
        return baseline_server();
    }
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let arg = |name: &str, default: u64| value(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let seconds = arg("--seconds", 15);
    let connections = arg("--connections", 64) as usize;
    let scenarios: Vec<Scenario> = match value("--scenario").map(String::as_str).unwrap_or("all") {
        "all" => Scenario::ALL.to_vec(),
        one => match Scenario::ALL.into_iter().find(|s| s.name() == one) {
            Some(s) => vec![s],
            None => {
                eprintln!("--scenario must be app, facebook, zalo or all, not {one:?}");
                std::process::exit(2);
            }
        },
    };
    let duration = Duration::from_secs(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    if let Some(target) = value("--target") {
        // Drive an already running server (its token and chat secrets must be the bench's) and
        // stop.
        for scenario in scenarios {
            let r = runtime.block_on(load(
                std::slice::from_ref(target),
                scenario,
                scenario.durable_status(),
                connections,
                duration,
            ));
            println!(
                "{target} {}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                scenario.name(),
                r.per_second,
                ms(r.p50),
                ms(r.p99),
                r.errors
            );
            r.print_errors(scenario.name());
        }
        return;
    }

    if let Some(url) = value("--postgres") {
        return scale_out(&runtime, url, &scenarios, connections, duration);
    }
    if let Some(sizes) = value("--scale") {
        let sizes: Vec<u64> =
            sizes.split(',').map(|s| s.trim().parse().expect("--scale takes sizes like 10000,1000000")).collect();
        return scale::run(&runtime, &sizes, connections, duration);
    }

    println!("hue-intake receive benchmark: {connections} connections, {seconds} s per server and scenario");
    let mut rows = Vec::new();
    for scenario in scenarios {
        let (body, _) = scenario.request(0, &scenario.text());
        println!("{}: POST {}, bodies of about {} bytes", scenario.name(), scenario.path(), body.len());

        let (mut base, base_addr) = spawn_baseline();
        let baseline = runtime.block_on(load(&[base_addr], scenario, 200, connections, duration));
        let baseline_rss = spawn::peak_rss_kib(base.id());
        stop(&mut base);

        let dir = tempfile::tempdir().unwrap();
        let (mut durable_child, durable_addr) = spawn_durable(dir.path());
        let durable = runtime.block_on(load(
            std::slice::from_ref(&durable_addr),
            scenario,
            scenario.durable_status(),
            connections,
            duration,
        ));
        let durable_rss = spawn::peak_rss_kib(durable_child.id());
        let metrics = runtime.block_on(async {
            reqwest::get(format!("http://{durable_addr}/metrics")).await.unwrap().text().await.unwrap()
        });
        stop(&mut durable_child);
        rows.push((scenario, baseline, baseline_rss, durable, durable_rss, metrics));
    }

    println!();
    println!(
        "{:<9} {:<9} {:>9} {:>8} {:>8} {:>7} {:>9} {:>7}",
        "scenario", "server", "req/s", "p50 ms", "p99 ms", "errors", "peak MiB", "ratio"
    );
    for (scenario, baseline, baseline_rss, durable, durable_rss, _) in &rows {
        for (name, r, rss) in [("baseline", baseline, baseline_rss), ("durable", durable, durable_rss)] {
            println!(
                "{:<9} {:<9} {:>9.0} {:>8.2} {:>8.2} {:>7} {:>9.1} {:>7.2}",
                scenario.name(),
                name,
                r.per_second,
                ms(r.p50),
                ms(r.p99),
                r.errors,
                *rss as f64 / 1024.0,
                r.per_second / baseline.per_second
            );
        }
    }
    println!();
    for (scenario, baseline, _, durable, _, metrics) in &rows {
        let name = scenario.name();
        baseline.print_errors(&format!("{name} baseline"));
        durable.print_errors(&format!("{name} durable"));
        let value = |prefix: &str| metric_sum(metrics, prefix);
        let commits = value("hue_intake_commit_batch_size_count");
        println!(
            "{name}: group commit: {commits:.0} transactions, {:.1} operations each on average, {:.2} ms each on average",
            value("hue_intake_commit_batch_size_sum") / commits.max(1.0),
            value("hue_intake_commit_seconds_sum") / commits.max(1.0) * 1000.0
        );
        if *scenario != Scenario::App {
            // The proof that the bodies were stored, not deduplicated or refused.
            let label = format!("{{channel=\"{name}\"");
            let stored = value(&format!("hue_intake_webhook_bodies_total{label},outcome=\"stored\"}}"));
            let duplicate = value(&format!("hue_intake_webhook_bodies_total{label},outcome=\"duplicate\"}}"));
            let refused = value(&format!("hue_intake_webhook_refused_total{label}"));
            let ratio = durable.per_second / baseline.per_second;
            let p99 = ms(durable.p99);
            println!(
                "{name}: bodies stored {stored:.0}, duplicates {duplicate:.0}, refused {refused:.0}; \
                 issue 4 targets: ratio {ratio:.2} (>= 0.50: {}), p99 {p99:.2} ms (<= 10 ms: {})",
                if ratio >= 0.5 { "met" } else { "MISSED" },
                if p99 <= 10.0 { "met" } else { "MISSED" },
            );
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The sum of the Prometheus samples whose line starts with `prefix` (all label sets).
fn metric_sum(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        // From 0.0: an empty `sum` of floats is -0.0, which prints as "-0".
        .fold(0.0, |total, value| total + value)
}

struct Outcome {
    /// The first request number a following drive may use.
    next: u64,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    /// Requests answered with another status than expected, or not answered, warm-up included.
    errors: u64,
    /// Errors by kind (status and the start of the answer, or the transport error).
    error_kinds: BTreeMap<String, u64>,
}

impl Outcome {
    fn print_errors(&self, what: &str) {
        for (kind, count) in &self.error_kinds {
            println!("{what}: {count} errors: {kind}");
        }
    }
}

/// Drives `addresses` (connection `i` goes to address `i mod n`, as a load balancer spreads
/// connections) for `duration`.
async fn load(
    addresses: &[String],
    scenario: Scenario,
    expected: u16,
    connections: usize,
    duration: Duration,
) -> Outcome {
    drive(addresses, scenario, expected, connections, Until::Time(duration), 0).await
}

/// When a drive stops.
#[derive(Debug, Clone, Copy)]
enum Until {
    /// After a 200 ms warm-up (not measured), for this long.
    Time(Duration),
    /// Once this many requests were sent (all measured): filling a store.
    Count(u64),
}

/// Drives `addresses` with requests numbered from `first` (numbers make bodies unique, so a
/// store filled in several drives never sees a repeat).
async fn drive(
    addresses: &[String],
    scenario: Scenario,
    expected: u16,
    connections: usize,
    until: Until,
    first: u64,
) -> Outcome {
    let text: Arc<str> = scenario.text().into();
    let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build().unwrap();
    let counter = Arc::new(AtomicU64::new(first));
    let (start, deadline, last) = match until {
        Until::Time(duration) => {
            let start = Instant::now() + Duration::from_millis(200);
            (start, Some(start + duration), u64::MAX)
        }
        Until::Count(count) => (Instant::now(), None, first + count),
    };
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let url = format!("http://{}{}", addresses[connection % addresses.len()], scenario.path());
        let (client, counter, text) = (client.clone(), counter.clone(), text.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(16_384);
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            loop {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if n >= last {
                    break;
                }
                // Built and signed before the clock starts: the client's work is not latency.
                let (body, signature) = scenario.request(n, &text);
                let mut request = client.post(&url).header("content-type", "application/json").body(body);
                if scenario == Scenario::App {
                    request = request.bearer_auth(TOKEN);
                }
                if let Some((name, value)) = signature {
                    request = request.header(name, value);
                }
                let sent = Instant::now();
                let ok = match request.send().await {
                    Ok(r) if r.status().as_u16() == expected => r.bytes().await.is_ok(),
                    Ok(r) => {
                        let status = r.status();
                        let answer = r.text().await.unwrap_or_default();
                        let answer: String = answer.chars().take(160).collect();
                        *errors.entry(format!("status {status}: {answer}")).or_default() += 1;
                        false
                    }
                    Err(e) => {
                        *errors.entry(format!("transport: {e}")).or_default() += 1;
                        false
                    }
                };
                let done = Instant::now();
                if deadline.is_some_and(|d| done >= d) {
                    break;
                }
                // Only answers with the expected status count as served requests.
                if ok && sent >= start {
                    latencies.push(done - sent);
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut error_kinds: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        let (latencies, errors) = t.await.unwrap();
        all.extend(latencies);
        for (kind, count) in errors {
            *error_kinds.entry(kind).or_default() += count;
        }
    }
    all.sort();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    let measured = match until {
        Until::Time(duration) => duration,
        Until::Count(_) => start.elapsed(),
    };
    Outcome {
        next: counter.load(Ordering::Relaxed).min(last),
        per_second: all.len() as f64 / measured.as_secs_f64(),
        p50: pick(0.50),
        p99: pick(0.99),
        errors: error_kinds.values().sum(),
        error_kinds,
    }
}

fn spawn_baseline() -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("HUE_BENCH_ROLE", "baseline")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, line.trim().to_owned())
}

fn spawn_durable(dir: &std::path::Path) -> (Child, String) {
    spawn_durable_on(dir, None, "")
}

/// `hue-intake serve` with its data in `dir`, on SQLite or on the PostgreSQL `database_url`,
/// with `extra` TOML sections appended to its configuration.
fn spawn_durable_on(dir: &std::path::Path, database_url: Option<&str>, extra: &str) -> (Child, String) {
    let config = dir.join("bench.toml");
    let store = match database_url {
        // One sealing key for the instances of one database: each opens the others' messages.
        Some(url) => format!(
            "database_url = \"{url}\"\n[privacy]\nseal_key = \"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\"\n"
        ),
        None => String::new(),
    };
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"{}\"\n{store}[triage]\nnight_start = \"00:00\"\nnight_end = \"00:00\"\n\
             [log]\nlevel = \"warn,hue_intake=info\"\n[clients.bench]\nchannel = \"app\"\ntoken = \"{TOKEN}\"\n\
             [facebook]\napp_secret = \"{FB_APP_SECRET}\"\nverify_token = \"{FB_VERIFY_TOKEN}\"\npage_id = \"{FB_PAGE_ID}\"\n\
             [zalo]\napp_id = \"{ZALO_APP_ID}\"\noa_secret_key = \"{ZALO_OA_SECRET}\"\n\
             [rate_limits]\nper_address_per_minute = 0\n{extra}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    spawn::spawn_serve(env!("CARGO_BIN_EXE_hue-intake"), &config)
}

fn stop(child: &mut Child) {
    spawn::terminate(child);
}

/// The baseline: the same framework, parsing the same JSON, nothing else. App reports parse
/// into the same type as the API's; webhook bodies into a JSON value (the gateway stores them
/// whole and only reads the Zalo signing fields before the answer).
fn baseline_server() {
    use axum::body::Bytes;
    use axum::http::StatusCode;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        use std::io::Write;
        std::io::stdout().flush().unwrap();
        let webhook = |body: Bytes| async move {
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(_) => StatusCode::OK,
                Err(_) => StatusCode::BAD_REQUEST,
            }
        };
        let app = axum::Router::new()
            .route(
                "/v1/reports",
                axum::routing::post(|body: Bytes| async move {
                    match serde_json::from_slice::<hue_intake_schemas::ReportBody>(&body) {
                        Ok(_) => StatusCode::OK,
                        Err(_) => StatusCode::BAD_REQUEST,
                    }
                }),
            )
            .route("/webhooks/facebook", axum::routing::post(webhook))
            .route("/webhooks/zalo", axum::routing::post(webhook));
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
            term.recv().await;
        };
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await.unwrap();
    });
}

/// The scale-out figures: each scenario on one SQLite instance, then on two instances sharing
/// one PostgreSQL schema made for the run (dropped at the end).
fn scale_out(
    runtime: &tokio::runtime::Runtime,
    server: &str,
    scenarios: &[Scenario],
    connections: usize,
    duration: Duration,
) {
    use sqlx::Connection as _;
    let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
    let run_sql = |sql: String| {
        runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(server).await.expect("the PostgreSQL server answers");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        })
    };
    println!(
        "hue-intake scale-out benchmark: {connections} connections, {} s per set-up and scenario",
        duration.as_secs()
    );
    println!();
    println!(
        "{:<9} {:<22} {:>9} {:>8} {:>8} {:>7} {:>7}",
        "scenario", "set-up", "req/s", "p50 ms", "p99 ms", "errors", "ratio"
    );
    for &scenario in scenarios.iter().filter(|s| **s != Scenario::App) {
        let dir = tempfile::tempdir().unwrap();
        let (mut one, address) = spawn_durable(dir.path());
        let sqlite = runtime.block_on(load(&[address], scenario, scenario.durable_status(), connections, duration));
        stop(&mut one);

        run_sql(format!("CREATE SCHEMA {schema}"));
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-c%20search_path%3D{schema}");
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let mut children = Vec::new();
        let mut addresses = Vec::new();
        for dir in &dirs {
            let (child, address) = spawn_durable_on(dir.path(), Some(&url), "");
            children.push(child);
            addresses.push(address);
        }
        let two = runtime.block_on(load(&addresses, scenario, scenario.durable_status(), connections, duration));
        for child in &mut children {
            stop(child);
        }
        run_sql(format!("DROP SCHEMA {schema} CASCADE"));

        for (setup, r) in [("1 × SQLite", &sqlite), ("2 × PostgreSQL", &two)] {
            println!(
                "{:<9} {:<22} {:>9.0} {:>8.2} {:>8.2} {:>7} {:>7.2}",
                scenario.name(),
                setup,
                r.per_second,
                ms(r.p50),
                ms(r.p99),
                r.errors,
                r.per_second / sqlite.per_second
            );
        }
        sqlite.print_errors(&format!("{} sqlite", scenario.name()));
        two.print_errors(&format!("{} postgres", scenario.name()));
    }
}
