//! The loop every background stage runs (the pipeline, delivery): take a batch, and when the
//! batch was not full, wait for a wake-up from the writer, the poll interval, or shutdown; on
//! shutdown, drain what is left before returning.
//!
//! The poll interval is a safety net (and the clock for time-based work such as deferred
//! reports reaching 07:30), not the mechanism: commits wake the stage that follows them. A
//! failed step is logged and retried after the interval, which is the back-off.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A stage of background work taken in batches.
pub trait Stage: Send {
    type Error: Display + Send;

    /// Name in logs.
    fn name(&self) -> &'static str;

    /// A step that handled this many items found more waiting.
    fn batch_size(&self) -> usize;

    /// Handles one batch; returns how many items it handled.
    fn step(&mut self) -> impl Future<Output = Result<usize, Self::Error>> + Send;
}

/// Returns the stage once drained, for whatever it must do last (give up a lease).
pub async fn run<S: Stage>(mut stage: S, wake: Arc<Notify>, poll_interval: Duration, shutdown: CancellationToken) -> S {
    loop {
        let handled = match stage.step().await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, stage = stage.name(), "Background step failed; retrying.");
                0
            }
        };
        if handled >= stage.batch_size() {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll_interval) => {}
        }
    }
    // Drain: what was acknowledged or became due before shutdown is handled before we stop.
    while let Ok(n) = stage.step().await {
        if n == 0 {
            break;
        }
    }
    stage
}
