//! Passing records downstream exactly once: the outbox worker and its sinks.
//!
//! The worker reads due outbox entries in commit order, hands a batch to the sink, and marks
//! them delivered only after the sink says the batch is durable. A crash between the two
//! leaves entries that were written but not marked; each sink's `recover` finds those before
//! the first batch, so they are marked rather than written again. This module never reads or
//! logs record contents beyond the record id.

mod file;

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

pub use file::FileSink;

use crate::store::{Due, Store, StoreError};

/// A downstream destination. Closed set: the file sink now; HTTP, Open311 and NATS later.
#[derive(Debug)]
pub enum Sink {
    File(FileSink),
}

impl Sink {
    pub fn name(&self) -> &'static str {
        match self {
            Sink::File(_) => "file",
        }
    }

    /// Makes the batch durable downstream, all or nothing from the worker's point of view.
    async fn deliver(&mut self, batch: &[Due]) -> std::io::Result<()> {
        match self {
            Sink::File(f) => f.append(batch).await,
        }
    }

    /// Records already downstream whose delivery was not marked (a crash in between).
    async fn already_delivered(&mut self, look_back: usize) -> std::io::Result<Vec<uuid::Uuid>> {
        match self {
            Sink::File(f) => f.recover(look_back).await,
        }
    }
}

/// The outbox worker.
pub struct Deliverer {
    pub store: Store,
    pub sink: Sink,
    pub batch_size: usize,
    pub poll_interval: Duration,
    /// Count of records delivered since start, for whoever watches progress (tests, `run`).
    pub delivered: tokio::sync::watch::Sender<u64>,
}

impl Deliverer {
    pub async fn run(mut self, shutdown: CancellationToken) {
        if let Err(e) = self.recover().await {
            tracing::error!(error = %e, sink = self.sink.name(), "Sink recovery failed; delivery stopped.");
            return;
        }
        let wake = self.store.wakes().records;
        let poll_interval = self.poll_interval;
        crate::worker::run(self, wake, poll_interval, shutdown).await;
    }

    /// Marks entries the sink already holds. Only the last batch before a crash can be in
    /// doubt, so looking back twice the batch size is enough.
    pub async fn recover(&mut self) -> Result<(), DeliverError> {
        let ids = self.sink.already_delivered(self.batch_size * 2).await?;
        let seqs = self.store.undelivered_of(&ids).await?;
        if !seqs.is_empty() {
            tracing::info!(count = seqs.len(), sink = self.sink.name(), "Recovered deliveries written before a crash.");
            self.store.mark_delivered(seqs, Utc::now()).await?;
        }
        Ok(())
    }

    /// Delivers one batch of due records; returns how many.
    pub async fn step(&mut self) -> Result<usize, DeliverError> {
        let due = self.store.due(Utc::now(), self.batch_size).await?;
        if due.is_empty() {
            return Ok(0);
        }
        self.sink.deliver(&due).await?;
        let seqs: Vec<i64> = due.iter().map(|d| d.outbox_seq).collect();
        self.store.mark_delivered(seqs, Utc::now()).await?;
        metrics::counter!("hue_intake_delivered_total", "sink" => self.sink.name()).increment(due.len() as u64);
        self.delivered.send_modify(|n| *n += due.len() as u64);
        Ok(due.len())
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
