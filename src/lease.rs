//! Work leases: with several instances on one PostgreSQL database, some work must be done by
//! one instance at a time. The holder of the store's `pipeline` lease folds stored messages
//! into records (no message processed twice); the holder of `sink:<name>` delivers to that
//! sink (commit order kept, no record sent twice). A holder renews its lease while it steps;
//! when it dies, the lease runs out after [`TTL`] and a standby instance takes over at its
//! next poll. On SQLite one process owns the store and always holds them.

use std::time::{Duration, Instant};

use crate::store::{Store, StoreError};

/// The pipeline's lease.
pub const PIPELINE: &str = "pipeline";

/// The lease of one sink's delivery.
pub fn sink(name: &str) -> String {
    format!("sink:{name}")
}

/// How long a lease lasts without renewal: how long the pipeline stands still after its
/// holder dies. Long beside a step, so a busy holder never loses it between renewals.
pub const TTL: Duration = Duration::from_secs(15);

/// Renewed when a third of [`TTL`] has passed, not every step: a step of a busy pipeline
/// costs no extra write, and two renewals can fail before the lease runs out.
const RENEW_AFTER: Duration = Duration::from_secs(5);

/// This process's hold on one lease.
#[derive(Debug)]
pub struct Lease {
    name: String,
    holder: String,
    renewed: Option<Instant>,
}

impl Lease {
    pub fn new(name: impl Into<String>, holder: impl Into<String>) -> Lease {
        Lease { name: name.into(), holder: holder.into(), renewed: None }
    }

    /// True when this process may step now: it holds the lease, taking or renewing it when due.
    pub async fn hold(&mut self, store: &Store) -> Result<bool, StoreError> {
        if self.renewed.is_some_and(|at| at.elapsed() < RENEW_AFTER) {
            return Ok(true);
        }
        let started = Instant::now();
        let held = store.try_lease(&self.name, &self.holder, TTL).await?;
        if held && self.renewed.is_none() {
            tracing::info!(lease = %self.name, "This instance holds the lease and does its work.");
        } else if !held && self.renewed.is_some() {
            tracing::warn!(lease = %self.name, "The lease went to another instance; this one stands by.");
        }
        // Counted from before the request: the lease's own clock started no earlier.
        self.renewed = held.then_some(started);
        Ok(held)
    }

    /// Gives the lease up if this process has it (a clean shutdown), so a standby need not
    /// wait for it to run out.
    pub async fn release(&mut self, store: &Store) {
        self.renewed = None;
        if let Err(e) = store.release_lease(&self.name, &self.holder).await {
            tracing::warn!(error = %e, lease = %self.name, "Could not give the lease up; it runs out by itself.");
        }
    }
}
