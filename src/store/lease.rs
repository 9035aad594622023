//! Named leases: work that only one instance may do at a time when several share one
//! database (the pipeline folding stored messages into records).
//!
//! A lease is taken, or renewed, by one upsert that succeeds only if the lease is free, has
//! expired, or is already the caller's; a holder that dies stops renewing and its lease runs
//! out after its time to live. On PostgreSQL expiry is the database server's clock, so
//! instances with skewed clocks agree. On SQLite one process owns the database: the same
//! table answers the same way, and opening the store clears it (a lease found then is a dead
//! process's).

use std::sync::OnceLock;
use std::time::Duration;

use chrono::Utc;

use super::sqlite::ts;
use super::{Store, StoreError};

/// This process's name as a lease holder: host, process id and a random id (a restarted
/// process with a recycled pid is still someone else).
pub fn pipeline_holder() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown-host".to_owned());
        format!("{host}:{}:{}", std::process::id(), uuid::Uuid::now_v7())
    })
}

impl Store {
    /// Takes or renews the lease `name` for `holder` until `ttl` from now, if it is free,
    /// expired, or already `holder`'s. True when `holder` holds it now.
    pub async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(_) => {
                let taken = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let seen = taken.clone();
                let now = Utc::now();
                let expires = ts(now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX));
                let (name, holder, now) = (name.to_owned(), holder.to_owned(), ts(now));
                self.write(super::WriteFn::Sqlite(Box::new(move |conn| {
                    Box::pin(async move {
                        let row: Option<String> = sqlx::query_scalar(
                            "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) \
                             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                             WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4 RETURNING holder",
                        )
                        .bind(name)
                        .bind(holder)
                        .bind(expires)
                        .bind(now)
                        .fetch_optional(&mut *conn)
                        .await?;
                        seen.store(row.is_some(), std::sync::atomic::Ordering::Relaxed);
                        Ok(())
                    })
                })))
                .await?;
                Ok(taken.load(std::sync::atomic::Ordering::Relaxed))
            }
            // One autocommitted statement, not the group commit: a lease must not wait behind
            // a batch, and the upsert's row lock already serialises instances racing for it.
            Store::Postgres(s) => {
                let row: Option<String> = sqlx::query_scalar(
                    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3)) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                     WHERE leases.holder = excluded.holder OR leases.expires_at <= now() RETURNING holder",
                )
                .bind(name)
                .bind(holder)
                .bind(ttl.as_secs_f64())
                .fetch_optional(s.readers())
                .await?;
                Ok(row.is_some())
            }
        }
    }
    /// Gives the lease `name` up if `holder` holds it (a clean shutdown), so a standby takes
    /// it at its next poll instead of waiting for it to run out.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(write_fn!(self,
            sqlite: "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
            postgres: "DELETE FROM leases WHERE name = $1 AND holder = $2",
            move |conn, sql| {
                sqlx::query(sql).bind(name).bind(holder).execute(&mut *conn).await?;
                Ok(())
            }
        ))
        .await
    }
}
