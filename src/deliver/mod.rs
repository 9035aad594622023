//! Passing records downstream exactly once: one outbox worker per sink, and the sinks.
//!
//! Each configured sink (`[sinks.<name>]`: the file, the core over HTTP, an Open311 endpoint,
//! NATS JetStream) has its own outbox rows and its own worker. The worker takes due rows in
//! commit order, hands them to the sink, and settles each row with the sink's answer:
//! delivered (with the receiver's id), retry, or dead (a dead letter until staff replay it).
//!
//! A failed attempt (a 5xx, a timeout, a refused connection) means the destination is down,
//! not that the record is wrong: the worker pauses the whole destination with exponential
//! back-off and jitter (capped), then probes it with one record, and resumes full batches
//! only when the probe goes through. So an hour of downtime costs a probe every few minutes,
//! not a flood of requests, and records still go out in commit order. An interaction or
//! rating is only due after its report was delivered on the same sink (the store's `due`).
//!
//! Exactly once: rows are settled only after the sink's answer. A crash in between leaves
//! rows pending that the receiver may hold: the file sink finds those itself (`recover`);
//! HTTP receivers get the record id as `Idempotency-Key` and NATS as `Nats-Msg-Id`, so a
//! resend is recognised downstream. This module never reads or logs record contents beyond
//! what a sink must send.

mod file;
mod http;
mod media_links;
mod nats;
mod open311;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

pub use file::FileSink;
pub use http::{HttpSink, signature as http_signature};
pub use media_links::MediaLinks;
pub use nats::NatsSink;
pub use open311::Open311Sink;

use crate::config::{Config, SinkKind, SinkTarget};
use crate::store::{Due, Settlement, Store, StoreError};

/// What a sink says about one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The receiver has it; its own id for it when it gave one.
    Delivered(Option<String>),
    /// Not taken this time; the destination is down or busy. `retry_after` is the receiver's
    /// own hint (`Retry-After`), honoured as the least pause.
    Retry { error: String, retry_after: Option<Duration> },
    /// Refused for good: the record, not the destination, is the problem.
    Dead(String),
}

/// A downstream destination. Closed set, one variant per kind of receiver.
#[derive(Debug)]
pub enum Sink {
    File(FileSink),
    Http(HttpSink),
    Open311(Open311Sink),
    Nats(NatsSink),
}

impl Sink {
    /// Builds the sink `target` names (connecting to NATS, creating its stream if asked).
    pub async fn build(
        name: &str,
        target: &SinkTarget,
        config: &Config,
        media: Option<MediaLinks>,
    ) -> anyhow::Result<Sink> {
        use anyhow::Context;
        let timeout = Duration::from_secs(config.sink.timeout_secs);
        Ok(match target.kind()? {
            SinkKind::File(path) => {
                let path = config.data_path(&path);
                Sink::File(
                    FileSink::open(&path).await.with_context(|| format!("sinks.{name}: opening {}", path.display()))?,
                )
            }
            SinkKind::Http(url) => Sink::Http(HttpSink::new(url, target, timeout)?),
            SinkKind::Open311(base) => Sink::Open311(Open311Sink::new(&base, target, timeout, media)?),
            SinkKind::Nats(url) => Sink::Nats(
                NatsSink::connect(&url, target, timeout).await.with_context(|| format!("sinks.{name}: NATS"))?,
            ),
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Sink::File(_) => "file",
            Sink::Http(_) => "http",
            Sink::Open311(_) => "open311",
            Sink::Nats(_) => "nats",
        }
    }

    /// Delivers the batch in order. The answer has one outcome per record tried; a sink that
    /// stops at the first `Retry` (to keep commit order) answers fewer than the batch.
    pub async fn deliver(&mut self, batch: &[Due]) -> Vec<Outcome> {
        match self {
            Sink::File(f) => match f.append(batch).await {
                Ok(()) => batch.iter().map(|_| Outcome::Delivered(None)).collect(),
                Err(e) => vec![Outcome::Retry { error: format!("file: {e}"), retry_after: None }],
            },
            Sink::Http(h) => h.deliver(batch).await,
            Sink::Open311(o) => o.deliver(batch).await,
            Sink::Nats(n) => n.deliver(batch).await,
        }
    }

    /// Records already downstream whose delivery was not settled (a crash in between). Only
    /// the file sink can tell; the others rely on the receiver's de-duplication.
    async fn already_delivered(&mut self, look_back: usize) -> std::io::Result<Vec<uuid::Uuid>> {
        match self {
            Sink::File(f) => f.recover(look_back).await,
            Sink::Http(_) | Sink::Open311(_) | Sink::Nats(_) => Ok(Vec::new()),
        }
    }
}

/// The outbox worker of one sink.
pub struct Deliverer {
    pub store: Store,
    /// The sink's name in config, outbox rows and metrics.
    pub name: String,
    pub sink: Sink,
    pub batch_size: usize,
    pub poll_interval: Duration,
    /// First pause after a failure, and the longest.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Count of records delivered since start, for whoever watches progress (tests, `run`).
    pub delivered: Arc<watch::Sender<u64>>,
    /// Failed attempts in a row; above zero the destination is paused, then probed.
    pub failures: u32,
    pub paused_until: Option<DateTime<Utc>>,
    /// With several instances on one database, one at a time delivers to a sink (commit order
    /// kept, nothing sent twice): this instance steps only while it holds `sink:<name>`.
    pub lease: crate::lease::Lease,
}

impl Deliverer {
    pub fn new(store: Store, name: &str, sink: Sink, config: &Config, delivered: Arc<watch::Sender<u64>>) -> Self {
        Deliverer {
            store,
            name: name.to_owned(),
            sink,
            batch_size: config.sink.batch_size,
            poll_interval: Duration::from_millis(config.sink.poll_interval_ms),
            retry_base: Duration::from_millis(config.sink.retry_base_ms),
            retry_max: Duration::from_secs(config.sink.retry_max_secs),
            delivered,
            failures: 0,
            paused_until: None,
            lease: crate::lease::Lease::new(crate::lease::sink(name), crate::store::pipeline_holder()),
        }
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        // Only the holder recovers: another instance's file is not ours to settle from.
        if let Err(e) = self.recover().await {
            tracing::error!(error = %e, sink = %self.name, "Sink recovery failed; delivery stopped.");
            return;
        }
        // Every sink's worker watches the one "records queued" counter of the store.
        let wake = Arc::new(Notify::new());
        let mut queued = self.store.wakes().records.subscribe();
        let forward = {
            let wake = wake.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        changed = queued.changed() => match changed {
                            Ok(()) => wake.notify_one(),
                            Err(_) => break,
                        },
                    }
                }
            })
        };
        let poll_interval = self.poll_interval;
        let mut drained = crate::worker::run(self, wake, poll_interval, shutdown).await;
        drained.lease.release(&drained.store).await;
        let _ = forward.await;
    }

    /// Settles rows the sink already holds. Only the last batch before a crash can be in
    /// doubt, so looking back twice the batch size is enough.
    pub async fn recover(&mut self) -> Result<(), DeliverError> {
        let ids = self.sink.already_delivered(self.batch_size * 2).await?;
        if ids.is_empty() {
            return Ok(());
        }
        let seqs = self.store.undelivered_of(&self.name, &ids).await?;
        if !seqs.is_empty() {
            tracing::info!(count = seqs.len(), sink = %self.name, "Recovered deliveries written before a crash.");
            let settled = seqs.into_iter().map(|seq| (seq, Settlement::Delivered { remote_id: None })).collect();
            self.store.settle_deliveries(settled, Utc::now()).await?;
        }
        Ok(())
    }

    /// Delivers one batch of due records (one record when probing a paused destination).
    /// Returns how many were handled, or the batch size when more may be waiting at once.
    pub async fn step(&mut self) -> Result<usize, DeliverError> {
        let now = Utc::now();
        if self.paused_until.is_some_and(|until| now < until) {
            return Ok(0);
        }
        if !self.lease.hold(&self.store).await? {
            return Ok(0);
        }
        let probing = self.failures > 0;
        let due = self.store.due(&self.name, now, if probing { 1 } else { self.batch_size }).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let outcomes = self.sink.deliver(&due).await;
        let mut settlements = Vec::with_capacity(outcomes.len());
        let (mut delivered, mut dead) = (0u64, 0u64);
        let mut failed = false;
        for (row, outcome) in due.iter().zip(outcomes) {
            match outcome {
                Outcome::Delivered(remote_id) => {
                    delivered += 1;
                    settlements.push((row.outbox_seq, Settlement::Delivered { remote_id }));
                }
                Outcome::Dead(error) => {
                    dead += 1;
                    tracing::warn!(sink = %self.name, record_id = %row.record_id, error = %error, "Record refused for good: kept as a dead letter.");
                    settlements.push((row.outbox_seq, Settlement::Dead { error }));
                }
                Outcome::Retry { error, retry_after } => {
                    failed = true;
                    self.failures = self.failures.saturating_add(1);
                    let pause = crate::backoff::jittered(self.retry_base, self.retry_max, self.failures)
                        .max(retry_after.unwrap_or_default());
                    let until = now + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::MAX);
                    self.paused_until = Some(until);
                    metrics::counter!("hue_intake_delivery_failures_total", "sink" => self.name.clone()).increment(1);
                    metrics::gauge!("hue_intake_sink_paused", "sink" => self.name.clone()).set(1.0);
                    tracing::warn!(sink = %self.name, failures = self.failures, pause_ms = pause.as_millis() as u64, error = %error, "Destination not taking records; pausing before a probe.");
                    // The row is due again when the destination is probed, so the probe takes
                    // the oldest record first and commit order holds.
                    settlements.push((row.outbox_seq, Settlement::Retry { next_attempt_at: until, error }));
                    break;
                }
            }
        }
        if !failed && self.failures > 0 {
            tracing::info!(sink = %self.name, after_failures = self.failures, "Destination takes records again; resuming.");
            self.failures = 0;
            self.paused_until = None;
            metrics::gauge!("hue_intake_sink_paused", "sink" => self.name.clone()).set(0.0);
        }
        self.store.settle_deliveries(settlements, Utc::now()).await?;
        if delivered > 0 {
            metrics::counter!("hue_intake_delivered_total", "sink" => self.name.clone()).increment(delivered);
            self.delivered.send_modify(|n| *n += delivered);
        }
        if dead > 0 {
            metrics::counter!("hue_intake_dead_letters_total", "sink" => self.name.clone()).increment(dead);
        }
        Ok(match (failed, probing) {
            (true, _) => 0,
            // A probe went through: the rest of the backlog is waiting.
            (false, true) => self.batch_size,
            (false, false) => due.len(),
        })
    }
}

impl crate::worker::Stage for Deliverer {
    type Error = DeliverError;

    fn name(&self) -> &'static str {
        "delivery"
    }

    fn batch_size(&self) -> usize {
        self.batch_size
    }

    async fn step(&mut self) -> Result<usize, DeliverError> {
        Deliverer::step(self).await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("sink: {0}")]
    Sink(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A receiver's reason, made safe to keep and log: one line, at most 300 characters.
pub(crate) fn short_reason(text: &str) -> String {
    let line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}
