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
        self.write(write_fn!(self,
            sqlite: "INSERT INTO operators (name, token_sha256, created_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (name) DO UPDATE SET token_sha256 = excluded.token_sha256, \
                     created_at = excluded.created_at, revoked_at = NULL",
            postgres: "INSERT INTO operators (name, token_sha256, created_at) VALUES ($1, $2, $3) \
                       ON CONFLICT (name) DO UPDATE SET token_sha256 = excluded.token_sha256, \
                       created_at = excluded.created_at, revoked_at = NULL",
            move |conn, sql| {
                sqlx::query(sql).bind(name).bind(digest).bind(at).execute(&mut *conn).await?;
                Ok(())
            }
        ))
        .await
    }

    /// Revokes an operator's token; false when there is no such active operator.
    pub async fn revoke_operator(&self, name: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let (name, at) = (name.to_owned(), ts(at));
        let changed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = changed.clone();
        self.write(write_fn!(self,
            sqlite: "UPDATE operators SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            postgres: "UPDATE operators SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
            move |conn, sql| {
                let done = sqlx::query(sql).bind(name).bind(at).execute(&mut *conn).await?;
                seen.store(done.rows_affected() == 1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
        ))
        .await?;
        Ok(changed.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The active operator holding a token with this digest.
    pub async fn operator_by_token(&self, token_sha256: &str) -> Result<Option<String>, StoreError> {
        on_backend!(self,
            sqlite: "SELECT name FROM operators WHERE token_sha256 = ?1 AND revoked_at IS NULL",
            postgres: "SELECT name FROM operators WHERE token_sha256 = $1 AND revoked_at IS NULL",
            |pool, sql| Ok(sqlx::query_scalar(sql).bind(token_sha256).fetch_optional(pool).await?)
        )
    }

    pub async fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        const LIST: &str = "SELECT name, created_at, revoked_at FROM operators ORDER BY name";
        on_backend!(self, sqlite: LIST, postgres: LIST, |pool, sql| {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            Ok(rows.iter().map(|r| Operator { name: r.get(0), created_at: r.get(1), revoked_at: r.get(2) }).collect())
        })
    }
}
