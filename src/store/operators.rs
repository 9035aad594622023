//! Call-centre operators and their bearer tokens, kept as SHA-256 digests: issued and
//! revoked by `hue-intake operators`, looked up on every hotline request.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::sqlite::ts;
use crate::store::{Store, StoreError};

/// An operator as listed (no token: only its digest is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl Store {
    /// Stores an operator's token digest; a name issued again gets the new token (the old
    /// one stops working).
    pub async fn put_operator(&self, name: &str, token_sha256: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let (name, digest, at) = (name.to_owned(), token_sha256.to_owned(), ts(at));
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO operators (name, token_sha256, created_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (name) DO UPDATE SET token_sha256 = excluded.token_sha256, \
                     created_at = excluded.created_at, revoked_at = NULL",
                )
                .bind(name)
                .bind(digest)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        }))
        .await
    }

    /// Revokes an operator's token; false when there is no such active operator.
    pub async fn revoke_operator(&self, name: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let (name, at) = (name.to_owned(), ts(at));
        let changed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = changed.clone();
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let done = sqlx::query("UPDATE operators SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL")
                    .bind(name)
                    .bind(at)
                    .execute(&mut *conn)
                    .await?;
                seen.store(done.rows_affected() == 1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            })
        }))
        .await?;
        Ok(changed.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The active operator holding a token with this digest.
    pub async fn operator_by_token(&self, token_sha256: &str) -> Result<Option<String>, StoreError> {
        let Store::Sqlite(s) = self;
        let name = sqlx::query_scalar("SELECT name FROM operators WHERE token_sha256 = ?1 AND revoked_at IS NULL")
            .bind(token_sha256)
            .fetch_optional(s.readers())
            .await?;
        Ok(name)
    }

    pub async fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        let Store::Sqlite(s) = self;
        let rows = sqlx::query("SELECT name, created_at, revoked_at FROM operators ORDER BY name")
            .fetch_all(s.readers())
            .await?;
        Ok(rows.iter().map(|r| Operator { name: r.get(0), created_at: r.get(1), revoked_at: r.get(2) }).collect())
    }
}
