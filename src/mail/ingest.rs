//! Storing one raw e-mail before anything else is done with it (the poller, `import-mail`).
//!
//! A mail is keyed by its Message-ID (`sha256:<hex>` of the bytes when it has none), so the
//! same mail fetched twice (a restart before the move, a UIDVALIDITY resync, an import of a
//! mailbox already polled) is one stored message. Two different mails that claim one
//! Message-ID (broken or hostile senders reuse them) are both kept: the second under its id
//! and content hash, so neither a retry duplicates nor a collision loses a report.

use chrono::{DateTime, Utc};
use hue_intake_schemas::Channel;

use crate::pipeline::raw_associated_data;
use crate::seal::Sealer;
use crate::store::{Incoming, Received, Store, StoreError};

/// Stores raw mails.
#[derive(Debug, Clone)]
pub struct Ingest {
    pub store: Store,
    pub sealer: Sealer,
}

/// What became of one raw mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Committed now, for the pipeline.
    Stored { seq: i64 },
    /// The same mail was stored before: nothing new.
    Duplicate,
}

impl Ingest {
    pub fn new(store: Store, sealer: Sealer) -> Ingest {
        Ingest { store, sealer }
    }

    /// Commits `raw` (bytes exactly as the server gave them). When this returns, the mail
    /// survives a crash and may be moved out of the inbox.
    pub async fn ingest(&self, raw: &[u8], received_at: DateTime<Utc>) -> Result<Ingested, StoreError> {
        let raw_sha256 = hue_intake_adapters::media::sha256_hex(raw);
        // Bytes that are not a message at all still get a key (their hash): the pipeline
        // quarantines them, raw, with the reason.
        let message_id =
            hue_intake_adapters::email::message_id_of(raw).unwrap_or_else(|| format!("sha256:{raw_sha256}"));
        let outcome = match self.receive(raw, &message_id, &raw_sha256, received_at).await? {
            Received::Conflict => {
                let variant = format!("{message_id}#{}", &raw_sha256[..16]);
                self.receive(raw, &variant, &raw_sha256, received_at).await?
            }
            other => other,
        };
        let (ingested, label) = match outcome {
            Received::Stored { seq, .. } => (Ingested::Stored { seq }, "stored"),
            Received::Duplicate { .. } => (Ingested::Duplicate, "duplicate"),
            // The variant key is taken by other bytes with the same 64-bit hash prefix and id:
            // not a retry of this mail, and not worth a third key.
            Received::Conflict => {
                return Err(StoreError::Corrupt("two different mails share a Message-ID and hash prefix".to_owned()));
            }
        };
        metrics::counter!("hue_intake_mail_messages_total", "outcome" => label).increment(1);
        Ok(ingested)
    }

    async fn receive(
        &self,
        raw: &[u8],
        message_id: &str,
        raw_sha256: &str,
        received_at: DateTime<Utc>,
    ) -> Result<Received, StoreError> {
        let incoming = Incoming {
            channel: Channel::Email,
            raw_sealed: self.sealer.seal(raw, &raw_associated_data(Channel::Email, message_id)),
            message_id: message_id.to_owned(),
            received_at,
            raw_sha256: raw_sha256.to_owned(),
            fingerprint: raw_sha256.to_owned(),
            meta: "{}".to_owned(),
            allocation: None,
        };
        self.store.receive(incoming).await
    }
}
