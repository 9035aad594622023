//! The store's answer to `import-mail`'s one question: is this exact mail stored already?
//!
//! A read on the reader pool, so an import run again over a mailbox already imported (or
//! already polled) skips each mail without sealing it or queueing a write. The keys are
//! [`crate::mail::Ingest`]'s: the Message-ID (or `sha256:<hex>`), and for a mail whose id
//! another mail took first, `<id>#<first 16 hex digits of its hash>`.

use hue_intake_schemas::Channel;

use crate::store::{Store, StoreError};

impl Store {
    /// Whether an e-mail with these bytes (`raw_sha256`) is stored under `message_id` or under
    /// its conflict variant.
    pub async fn mail_stored(&self, message_id: &str, raw_sha256: &str) -> Result<bool, StoreError> {
        let variant = format!("{message_id}#{}", raw_sha256.get(..16).unwrap_or(raw_sha256));
        let found: Option<i64> = on_backend!(self,
            sqlite: "SELECT seq FROM inbound WHERE channel = ?1 AND message_id IN (?2, ?3) AND raw_sha256 = ?4 LIMIT 1",
            postgres: "SELECT seq FROM inbound WHERE channel = $1 AND message_id IN ($2, $3) AND raw_sha256 = $4 LIMIT 1",
            |pool, sql| sqlx::query_scalar(sql)
                .bind(Channel::Email.as_str())
                .bind(message_id)
                .bind(&variant)
                .bind(raw_sha256)
                .fetch_optional(pool)
                .await?
        );
        Ok(found.is_some())
    }
}
