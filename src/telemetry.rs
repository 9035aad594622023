//! Logs and metrics: tracing (JSON in production, readable on a terminal) and the process-wide
//! Prometheus recorder.
//!
//! Log lines and metric labels carry channels, ids, tracking codes, counts and timings, never
//! message text or personal data (R8): that rule is kept at every call site, and this module
//! only sets up where the lines and numbers go.

use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{Log, LogFormat};

/// Installs the global tracing subscriber. Safe to call more than once (later calls do nothing).
pub fn init_logging(log: &Log) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let json = match log.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
    } else {
        builder.compact().try_init()
    };
}

/// The process-wide Prometheus recorder, installed on first use.
///
/// The `metrics` facade has one global recorder per process, so several servers in one
/// process (tests) share it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("hue_intake_commit_seconds".to_owned()),
                    &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("hue_intake_commit_batch_size".to_owned()),
                        &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
                    )
                })
                .expect("bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a test harness); ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!("hue_intake_messages_received_total", "Inbound messages stored, by channel.");
    metrics::describe_counter!("hue_intake_messages_duplicate_total", "Repeats of stored messages, by channel.");
    metrics::describe_counter!("hue_intake_requests_refused_total", "Inbound requests refused, by channel and status.");
    metrics::describe_counter!("hue_intake_records_total", "Records made, by kind and disposition.");
    metrics::describe_counter!(
        "hue_intake_quarantined_total",
        "Stored messages that could not be processed, by channel."
    );
    metrics::describe_counter!("hue_intake_delivered_total", "Records passed downstream, by sink.");
    metrics::describe_histogram!("hue_intake_commit_seconds", "Duration of one group-commit transaction.");
    metrics::describe_histogram!("hue_intake_commit_batch_size", "Operations per group-commit transaction.");
}

/// Sets the outbox gauges from the store: rows waiting (`hue_intake_outbox_pending`) and dead
/// letters (`hue_intake_outbox_dead`) per sink. A failed read leaves the last values.
pub async fn record_outbox(store: &crate::store::Store, configured: &[String]) {
    let Ok(counts) = store.outbox_counts().await else { return };
    // Every configured sink starts at zero: the counts come from GROUP BY over pending and dead
    // rows only, so a sink with none has no row, and without this its gauges would keep their
    // last non-zero values for ever once its outbox drained (found by the chaos harness, which
    // waits for the gauge to reach 0).
    let mut sinks: std::collections::BTreeMap<String, (u64, u64)> =
        configured.iter().map(|sink| (sink.clone(), (0, 0))).collect();
    for count in counts {
        let entry = sinks.entry(count.sink).or_default();
        match count.state.as_str() {
            "pending" => entry.0 = count.count,
            "dead" => entry.1 = count.count,
            _ => {}
        }
    }
    for (sink, (pending, dead)) in sinks {
        metrics::gauge!("hue_intake_outbox_pending", "sink" => sink.clone()).set(pending as f64);
        metrics::gauge!("hue_intake_outbox_dead", "sink" => sink).set(dead as f64);
    }
}
