//! The NATS JetStream sink: each record published to the configured subject with
//! `Nats-Msg-Id` = record id, and settled only when JetStream's acknowledgement arrives
//! (a publish is stored only then: rust-anchors §2.1). A re-publish of the same record within
//! the stream's duplicate window is acknowledged as a duplicate and not stored twice.
//!
//! A batch is published in one go (all messages sent, then every acknowledgement awaited), so
//! a backlog drains at the speed of the connection rather than of one round trip per record.
//! The stream is created at start when `stream` is configured (`get_or_create`: an existing
//! stream is used as it is).

use std::time::Duration;

use async_nats::jetstream;

use super::Outcome;
use crate::config::SinkTarget;
use crate::store::Due;

pub struct NatsSink {
    context: jetstream::Context,
    subject: String,
    timeout: Duration,
}

impl std::fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSink").field("subject", &self.subject).finish_non_exhaustive()
    }
}

impl NatsSink {
    pub async fn connect(url: &str, target: &SinkTarget, timeout: Duration) -> anyhow::Result<Self> {
        let subject = target.subject.clone().ok_or_else(|| anyhow::anyhow!("a NATS sink needs a subject"))?;
        // The gateway starts even when NATS does not answer yet: records wait in the outbox,
        // and the client keeps reconnecting in the background.
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(timeout)
            .name(concat!("hue-intake/", env!("CARGO_PKG_VERSION")))
            .connect(url)
            .await?;
        let mut context = jetstream::new(client);
        context.set_timeout(timeout);
        if let Some(stream) = &target.stream {
            context
                .get_or_create_stream(jetstream::stream::Config {
                    name: stream.clone(),
                    subjects: vec![subject.clone()],
                    duplicate_window: Duration::from_secs(target.duplicate_window_secs),
                    ..Default::default()
                })
                .await
                .map_err(|e| anyhow::anyhow!("creating stream {stream}: {e}"))?;
        }
        Ok(NatsSink { context, subject, timeout })
    }

    pub async fn deliver(&self, batch: &[Due]) -> Vec<Outcome> {
        let mut pending = Vec::with_capacity(batch.len());
        for due in batch {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", due.record_id.to_string().as_str());
            let sent = self
                .context
                .publish_with_headers(self.subject.clone(), headers, due.body.clone().into_bytes().into())
                .await;
            match sent {
                Ok(ack) => pending.push(ack),
                Err(e) => {
                    // Not even sent: this record and the rest wait for the next attempt.
                    let mut outcomes = self.acknowledged(pending).await;
                    if outcomes.iter().all(|o| matches!(o, Outcome::Delivered(_))) {
                        outcomes.push(Outcome::Retry { error: format!("NATS publish: {e}"), retry_after: None });
                    }
                    return outcomes;
                }
            }
        }
        self.acknowledged(pending).await
    }

    /// Awaits the acknowledgements in order; stops at the first one missing (the rest are
    /// retried and de-duplicated by the stream if they did arrive).
    async fn acknowledged(&self, pending: Vec<jetstream::context::PublishAckFuture>) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(pending.len());
        for ack in pending {
            match tokio::time::timeout(self.timeout, ack.into_future()).await {
                Ok(Ok(ack)) => {
                    if ack.duplicate {
                        metrics::counter!("hue_intake_nats_duplicates_total").increment(1);
                    }
                    outcomes.push(Outcome::Delivered(Some(format!("{}:{}", ack.stream, ack.sequence))));
                }
                Ok(Err(e)) => {
                    outcomes.push(Outcome::Retry { error: format!("NATS acknowledgement: {e}"), retry_after: None });
                    break;
                }
                Err(_) => {
                    outcomes
                        .push(Outcome::Retry { error: "NATS acknowledgement timed out".to_owned(), retry_after: None });
                    break;
                }
            }
        }
        outcomes
    }
}
