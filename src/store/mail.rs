//! What the mail poller keeps in the store besides the raw mails themselves: its checkpoint
//! in each mailbox (UIDVALIDITY and the last UID committed and moved), and the list of stored
//! Message-IDs per channel for operators and tests.
//!
//! The checkpoint only moves forward within one UIDVALIDITY: a late or repeated write of an
//! older position cannot make the poller skip mail, and a new UIDVALIDITY replaces it.

use chrono::Utc;
use hue_intake_schemas::Channel;
use sqlx::Row;

use super::sqlite::ts;
use super::{Store, StoreError};

/// Where the poller stands in one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The mailbox's UIDVALIDITY when `last_uid` was reached: UIDs mean nothing under another.
    pub uidvalidity: u32,
    /// Every message with a UID up to this one was committed and moved (0: none yet).
    pub last_uid: u32,
}

impl Store {
    /// The checkpoint of `mailbox`, if the poller ever read it.
    pub async fn mail_checkpoint(&self, mailbox: &str) -> Result<Option<Checkpoint>, StoreError> {
        let row = on_backend!(self,
            sqlite: "SELECT uidvalidity, last_uid FROM mail_checkpoints WHERE mailbox = ?1",
            postgres: "SELECT uidvalidity, last_uid FROM mail_checkpoints WHERE mailbox = $1",
            |pool, sql| {
                let row = sqlx::query(sql).bind(mailbox).fetch_optional(pool).await?;
                row.map(|row| (row.get::<i64, _>(0), row.get::<i64, _>(1)))
            }
        );
        row.map(|(uidvalidity, last_uid)| {
            Ok(Checkpoint {
                uidvalidity: u32::try_from(uidvalidity).map_err(|_| StoreError::Corrupt("uidvalidity".to_owned()))?,
                last_uid: u32::try_from(last_uid).map_err(|_| StoreError::Corrupt("last uid".to_owned()))?,
            })
        })
        .transpose()
    }

    /// Records the poller's position in `mailbox`, committed. Under the same UIDVALIDITY the
    /// last UID never goes back; another UIDVALIDITY replaces the checkpoint.
    pub async fn set_mail_checkpoint(&self, mailbox: &str, checkpoint: Checkpoint) -> Result<(), StoreError> {
        let (mailbox, now) = (mailbox.to_owned(), ts(Utc::now()));
        self.write(write_fn!(self,
            sqlite: "INSERT INTO mail_checkpoints (mailbox, uidvalidity, last_uid, updated_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (mailbox) DO UPDATE SET \
                     last_uid = CASE WHEN uidvalidity = excluded.uidvalidity \
                                     THEN max(last_uid, excluded.last_uid) ELSE excluded.last_uid END, \
                     uidvalidity = excluded.uidvalidity, updated_at = excluded.updated_at",
            postgres: "INSERT INTO mail_checkpoints (mailbox, uidvalidity, last_uid, updated_at) VALUES ($1, $2, $3, $4) \
                       ON CONFLICT (mailbox) DO UPDATE SET \
                       last_uid = CASE WHEN mail_checkpoints.uidvalidity = excluded.uidvalidity \
                                  THEN GREATEST(mail_checkpoints.last_uid, excluded.last_uid) ELSE excluded.last_uid END, \
                       uidvalidity = excluded.uidvalidity, updated_at = excluded.updated_at",
            move |conn, sql| {
                sqlx::query(sql)
                    .bind(mailbox)
                    .bind(i64::from(checkpoint.uidvalidity))
                    .bind(i64::from(checkpoint.last_uid))
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
        ))
        .await
    }

    /// The message ids stored on `channel`, whatever became of them, in receive order.
    pub async fn message_ids(&self, channel: Channel) -> Result<Vec<String>, StoreError> {
        on_backend!(self,
            sqlite: "SELECT message_id FROM inbound WHERE channel = ?1 ORDER BY seq",
            postgres: "SELECT message_id FROM inbound WHERE channel = $1 ORDER BY seq",
            |pool, sql| Ok(sqlx::query_scalar(sql).bind(channel.as_str()).fetch_all(pool).await?)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Options;
    use crate::store::test_backends::{self, both_backends};

    both_backends! {
        async fn the_checkpoint_moves_forward_within_one_uidvalidity_and_resets_with_another(backend) {
            let (_place, store) =
                test_backends::open(backend, Options { group_commit_max_batch: 8, max_database_bytes: None }).await;
            assert_eq!(store.mail_checkpoint("INBOX").await.unwrap(), None);
            store.set_mail_checkpoint("INBOX", Checkpoint { uidvalidity: 7, last_uid: 10 }).await.unwrap();
            store.set_mail_checkpoint("INBOX", Checkpoint { uidvalidity: 7, last_uid: 4 }).await.unwrap();
            assert_eq!(store.mail_checkpoint("INBOX").await.unwrap(), Some(Checkpoint { uidvalidity: 7, last_uid: 10 }));
            store.set_mail_checkpoint("INBOX", Checkpoint { uidvalidity: 9, last_uid: 0 }).await.unwrap();
            assert_eq!(store.mail_checkpoint("INBOX").await.unwrap(), Some(Checkpoint { uidvalidity: 9, last_uid: 0 }));
            assert_eq!(store.mail_checkpoint("Other").await.unwrap(), None);
            assert!(store.message_ids(Channel::Email).await.unwrap().is_empty());
            store.close().await;
        }
    }
}
