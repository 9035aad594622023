//! Benchmark of the durable receive path against a bare baseline, in the same run.
//!
//! `cargo bench --bench intake` (add `-- --seconds N --connections N` to change the load).
//! It starts two servers, one after the other, each as its own process on 127.0.0.1:
//! - baseline: a bare axum handler that parses the same JSON body and answers 200, no store;
//! - durable: `hue-intake serve` on a fresh SQLite data directory (group commit, WAL,
//!   synchronous=FULL, sealing, pipeline and file delivery running in the background);
//!
//! and drives `POST /v1/reports` with small JSON reports from N concurrent connections for the
//! given time, then prints requests/s, p50/p99 latency and the server's peak RSS for both,
//! and the ratio. Numbers are measured, not asserted: this is not a test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "../tests/support/spawn.rs"]
mod spawn;

const TOKEN: &str = "bench-token-0123456789abcdef";

fn main() {
    // reqwest has no rustls provider of its own; a client built before this panics.
    hue_intake::net::install_crypto_provider();
    if std::env::var("HUE_BENCH_ROLE").as_deref() == Ok("baseline") {
        return baseline_server();
    }
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seconds = arg("--seconds", 15);
    let connections = arg("--connections", 64) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    if let Some(target) = args.iter().position(|a| a == "--target").and_then(|i| args.get(i + 1)) {
        // Drive an already running server (its token must be the bench token) and stop.
        let r = runtime.block_on(load(target, connections, Duration::from_secs(seconds)));
        println!(
            "{target}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            r.per_second,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.errors
        );
        return;
    }
    println!("hue-intake receive benchmark: {connections} connections, {seconds} s each, small JSON reports");
    let (mut base, base_addr) = spawn_baseline();
    let baseline = runtime.block_on(load(&base_addr, connections, Duration::from_secs(seconds)));
    let baseline_rss = peak_rss_kib(base.id());
    stop(&mut base);

    let dir = tempfile::tempdir().unwrap();
    let (mut durable_child, durable_addr) = spawn_durable(dir.path());
    let durable = runtime.block_on(load(&durable_addr, connections, Duration::from_secs(seconds)));
    let durable_rss = peak_rss_kib(durable_child.id());
    let metrics = runtime.block_on(async {
        reqwest::get(format!("http://{durable_addr}/metrics")).await.unwrap().text().await.unwrap()
    });
    stop(&mut durable_child);

    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>12} {:>8}",
        "server", "req/s", "p50 ms", "p99 ms", "peak RSS MiB", "errors"
    );
    for (name, r, rss) in [("baseline", &baseline, baseline_rss), ("durable", &durable, durable_rss)] {
        println!(
            "{:<10} {:>10.0} {:>10.2} {:>10.2} {:>12.1} {:>8}",
            name,
            r.per_second,
            r.p50.as_secs_f64() * 1000.0,
            r.p99.as_secs_f64() * 1000.0,
            rss as f64 / 1024.0,
            r.errors
        );
    }
    println!("durable / baseline throughput: {:.2}", durable.per_second / baseline.per_second);
    let value = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let commits = value("hue_intake_commit_batch_size_count");
    println!(
        "group commit: {commits:.0} transactions, {:.1} operations each on average, {:.2} ms each on average",
        value("hue_intake_commit_batch_size_sum") / commits.max(1.0),
        value("hue_intake_commit_seconds_sum") / commits.max(1.0) * 1000.0
    );
}

struct Outcome {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

async fn load(address: &str, connections: usize, duration: Duration) -> Outcome {
    let url = format!("http://{address}/v1/reports");
    let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build().unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    // Warm-up: one request per connection, not measured.
    let start = Instant::now() + Duration::from_millis(200);
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url, counter, errors) = (client.clone(), url.clone(), counter.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(16_384);
            loop {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let body = format!(
                    r#"{{"client_message_id":"bench-{n}","description":"Đèn đường hỏng trước số {n} Lê Lợi, tối om cả đoạn.","location":{{"lat":16.4637,"lon":107.5909}},"category":"lighting_power"}}"#
                );
                let sent = Instant::now();
                let response = client.post(&url).bearer_auth(TOKEN).header("content-type", "application/json").body(body).send().await;
                match response {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let done = Instant::now();
                if done >= deadline {
                    break;
                }
                if sent >= start {
                    latencies.push(done - sent);
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    Outcome {
        per_second: all.len() as f64 / duration.as_secs_f64(),
        p50: pick(0.50),
        p99: pick(0.99),
        errors: errors.load(Ordering::Relaxed),
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
    let config = dir.join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"{}\"\n[triage]\nnight_start = \"00:00\"\nnight_end = \"00:00\"\n\
             [log]\nlevel = \"warn,hue_intake=info\"\n[clients.bench]\nchannel = \"app\"\ntoken = \"{TOKEN}\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    spawn::spawn_serve(env!("CARGO_BIN_EXE_hue-intake"), &config)
}

fn stop(child: &mut Child) {
    spawn::terminate(child);
}

/// Peak resident set size (VmHWM) of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_owned()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// The baseline: the same framework, parsing the same JSON into the same type, nothing else.
fn baseline_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        use std::io::Write;
        std::io::stdout().flush().unwrap();
        let app = axum::Router::new().route(
            "/v1/reports",
            axum::routing::post(|body: axum::body::Bytes| async move {
                match serde_json::from_slice::<hue_intake_schemas::ReportBody>(&body) {
                    Ok(_) => axum::http::StatusCode::OK,
                    Err(_) => axum::http::StatusCode::BAD_REQUEST,
                }
            }),
        );
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
            term.recv().await;
        };
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await.unwrap();
    });
}
