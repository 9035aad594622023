//! The pipeline's lease: with several instances on one PostgreSQL database, only the holder
//! of the store's `pipeline` lease folds stored messages into records, so no message is
//! processed by two instances at once. A holder renews it while it steps; when it dies, the
//! lease runs out after [`TTL`] and a standby instance takes over at its next poll.

use std::time::{Duration, Instant};

use crate::store::{Store, StoreError};

/// The lease's name in the store.
pub const NAME: &str = "pipeline";

/// How long a lease lasts without renewal: how long the pipeline stands still after its
/// holder dies. Long beside a step, so a busy holder never loses it between renewals.
pub const TTL: Duration = Duration::from_secs(15);

/// Renewed when a third of [`TTL`] has passed, not every step: a step of a busy pipeline
/// costs no extra write, and two renewals can fail before the lease runs out.
const RENEW_AFTER: Duration = Duration::from_secs(5);

/// This process's hold on the lease.
#[derive(Debug)]
pub struct PipelineLease {
    holder: String,
    renewed: Option<Instant>,
}

impl PipelineLease {
    pub fn new(holder: impl Into<String>) -> PipelineLease {
        PipelineLease { holder: holder.into(), renewed: None }
    }

    /// True when this process may step now: it holds the lease, taking or renewing it when due.
    pub async fn hold(&mut self, store: &Store) -> Result<bool, StoreError> {
        if self.renewed.is_some_and(|at| at.elapsed() < RENEW_AFTER) {
            return Ok(true);
        }
        let started = Instant::now();
        let held = store.try_lease(NAME, &self.holder, TTL).await?;
        if held && self.renewed.is_none() {
            tracing::info!("This instance holds the pipeline lease and processes stored messages.");
        } else if !held && self.renewed.is_some() {
            tracing::warn!("The pipeline lease went to another instance; this one stands by.");
        }
        // Counted from before the request: the lease's own clock started no earlier.
        self.renewed = held.then_some(started);
        Ok(held)
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }
}

/// Gives the lease up if `holder` has it (a clean shutdown), so a standby need not wait for
/// it to run out.
pub async fn release(store: &Store, holder: &str) {
    if let Err(e) = store.release_lease(NAME, holder).await {
        tracing::warn!(error = %e, "Could not give the pipeline lease up; it runs out by itself.");
    }
}
