//! `--scale`: what one SQLite instance does as its store grows, from a few thousand stored
//! messages to a million, in one run on one data directory (issue 8 item 7).
//!
//! At each size S (the messages stored and processed before the step):
//! 1. **end to end**: a batch of text reports is posted to `hue-intake serve` running with
//!    `pipeline.enabled = false` (stored, acknowledged, nothing else); the server is stopped
//!    and started again with the pipeline on, and the time from that start until the whole
//!    batch is in the file sink gives records/s: decode, triage, sealing, records, outbox and
//!    the sink's fsync, from stored messages, start-up included;
//! 2. **ingest**: signed Messenger webhooks of about 1.5 KB from 64 connections for the
//!    given time, on a fresh process (so its peak RSS is that of the load), with the pipeline,
//!    chat assembly and delivery running as in production;
//!
//! then the store grows to the next size through the same API (reports posted, folded and
//! delivered) before the next step. The table compares every size with the first.
//! Progress is read from the database itself (read-only, while the server runs): messages
//! not yet processed, chat drafts open, outbox rows pending.

use std::path::Path;
use std::time::{Duration, Instant};

use super::spawn::peak_rss_kib;
use super::{Scenario, Until, drive, metric_sum, ms, spawn_durable_on, stop};

/// Reports per end-to-end batch.
const BATCH: u64 = 20_000;
/// Short chat windows: drafts made by the ingest step close quickly, so a drain finishes.
const CHAT: &str = "[chat]\nquiet_secs = 1\nmax_draft_secs = 2\n";

struct Row {
    size: u64,
    e2e_per_second: f64,
    e2e_rss_kib: u64,
    ingest: super::Outcome,
    ingest_rss_kib: u64,
    database_mib: f64,
}

pub fn run(runtime: &tokio::runtime::Runtime, sizes: &[u64], connections: usize, duration: Duration) {
    // Not /tmp: a million reports and their records take several GiB.
    let root = std::env::var_os("HUE_BENCH_DIR").map_or_else(|| std::path::PathBuf::from("/var/tmp"), Into::into);
    let dir = tempfile::tempdir_in(root).unwrap();
    let data = dir.path().join("data");
    let with_pipeline = CHAT.to_owned();
    let without_pipeline = format!("{CHAT}[pipeline]\nenabled = false\n");
    println!(
        "hue-intake scale benchmark: sizes {sizes:?}, end-to-end batches of {BATCH} text reports, \
         ingest {connections} connections × {} s",
        duration.as_secs()
    );
    let mut next = 0u64;
    let mut rows = Vec::new();
    for &size in sizes {
        // Grow to `size` through the API, everything folded and delivered.
        let stored = runtime.block_on(count(&data, "SELECT count(*) FROM inbound"));
        if size > stored {
            let started = Instant::now();
            let (mut child, address) = spawn_durable_on(dir.path(), None, &with_pipeline);
            let filled =
                runtime.block_on(drive(&[address], Scenario::App, 202, connections, Until::Count(size - stored), next));
            next = filled.next;
            filled.print_errors("fill");
            runtime.block_on(drained(&data));
            stop(&mut child);
            println!("grown to {size} stored messages in {:.0} s", started.elapsed().as_secs_f64());
        }

        // End to end: store a batch with the pipeline off, then time its way to the sink. The
        // row is labelled with what the store really holds then (earlier ingest steps add
        // their webhook bodies to the size asked for).
        let size = runtime.block_on(count(&data, "SELECT count(*) FROM inbound"));
        let (mut child, address) = spawn_durable_on(dir.path(), None, &without_pipeline);
        let batch = runtime.block_on(drive(&[address], Scenario::App, 202, connections, Until::Count(BATCH), next));
        next = batch.next;
        batch.print_errors("batch");
        stop(&mut child);
        let started = Instant::now();
        let (mut child, address) = spawn_durable_on(dir.path(), None, &with_pipeline);
        runtime.block_on(delivered(&address, BATCH));
        let e2e_seconds = started.elapsed().as_secs_f64();
        let e2e_rss_kib = peak_rss_kib(child.id());
        stop(&mut child);

        // Ingest at this size, on a fresh process.
        let (mut child, address) = spawn_durable_on(dir.path(), None, &with_pipeline);
        let ingest = runtime.block_on(drive(
            std::slice::from_ref(&address),
            Scenario::Facebook,
            200,
            connections,
            Until::Time(duration),
            next,
        ));
        next = ingest.next;
        let ingest_rss_kib = peak_rss_kib(child.id());
        stop(&mut child);
        ingest.print_errors("ingest");

        let database_mib = std::fs::metadata(data.join("hue-intake.db")).map_or(0, |m| m.len()) as f64 / 1048576.0;
        let row =
            Row { size, e2e_per_second: BATCH as f64 / e2e_seconds, e2e_rss_kib, ingest, ingest_rss_kib, database_mib };
        println!(
            "at {size} stored: end to end {:.0} records/s (peak {:.1} MiB); ingest {:.0} req/s, p99 {:.2} ms (peak {:.1} MiB); database {:.0} MiB",
            row.e2e_per_second,
            row.e2e_rss_kib as f64 / 1024.0,
            row.ingest.per_second,
            ms(row.ingest.p99),
            row.ingest_rss_kib as f64 / 1024.0,
            row.database_mib
        );
        rows.push(row);
    }

    let Some(first) = rows.first() else { return };
    println!();
    println!(
        "{:>9} {:>12} {:>8} {:>9} {:>10} {:>8} {:>9} {:>8} {:>9}",
        "stored", "e2e rec/s", "vs first", "e2e MiB", "ingest/s", "vs first", "p99 ms", "MiB", "db MiB"
    );
    for row in &rows {
        println!(
            "{:>9} {:>12.0} {:>8.2} {:>9.1} {:>10.0} {:>8.2} {:>9.2} {:>8.1} {:>9.0}",
            row.size,
            row.e2e_per_second,
            row.e2e_per_second / first.e2e_per_second,
            row.e2e_rss_kib as f64 / 1024.0,
            row.ingest.per_second,
            row.ingest.per_second / first.ingest.per_second,
            ms(row.ingest.p99),
            row.ingest_rss_kib as f64 / 1024.0,
            row.database_mib
        );
    }
    let last = rows.last().unwrap();
    let peak = rows.iter().map(|r| r.e2e_rss_kib.max(r.ingest_rss_kib)).max().unwrap_or(0) as f64 / 1024.0;
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!(
        "issue 8 targets: end to end {:.0} records/s at {} stored (>= 10000: {}); at {} stored {:.2} and {:.2} of the first \
         (>= 0.80: {}); peak RSS {peak:.1} MiB (<= 64: {})",
        first.e2e_per_second,
        first.size,
        verdict(first.e2e_per_second >= 10_000.0),
        last.size,
        last.e2e_per_second / first.e2e_per_second,
        last.ingest.per_second / first.ingest.per_second,
        verdict(
            last.e2e_per_second >= 0.8 * first.e2e_per_second
                && last.ingest.per_second >= 0.8 * first.ingest.per_second
        ),
        verdict(peak <= 64.0),
    );
}

/// One number from the server's database, read-only beside the running server (WAL).
async fn count(data: &Path, sql: &'static str) -> u64 {
    let path = data.join("hue-intake.db");
    if !path.exists() {
        return 0;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true);
    let db = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&db).await.unwrap();
    db.close().await;
    n as u64
}

/// Until nothing is left to fold or deliver: every message processed, every draft closed,
/// every outbox row delivered.
async fn drained(data: &Path) {
    loop {
        let waiting = count(data, "SELECT count(*) FROM inbound WHERE state = 'received'").await
            + count(data, "SELECT count(*) FROM chat_drafts WHERE state = 'open'").await
            + count(data, "SELECT count(*) FROM outbox WHERE state = 'pending'").await;
        if waiting == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Until this process's file sink has delivered `n` records (its own counter).
async fn delivered(address: &str, n: u64) {
    let url = format!("http://{address}/metrics");
    loop {
        let metrics = reqwest::get(&url).await.unwrap().text().await.unwrap();
        if metric_sum(&metrics, "hue_intake_delivered_total") >= n as f64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
