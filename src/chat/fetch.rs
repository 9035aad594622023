//! The media fetcher: downloads chat attachments from the platforms' CDNs into the media
//! store, right after the pipeline queued them in `chat_media` (their URLs expire).
//!
//! It owns the `pending → fetched | failed` life of a `chat_media` row. Bodies stream through
//! the same [`Upload`] path as the app channel, so a fetched photo is sniffed, capped, hashed
//! and GPS-read exactly like an uploaded one: caps by the kind sniffed from the bytes (never
//! the platform's word or Content-Type), a declared length over the cap refused before the
//! body is read, a stream cut as soon as it passes the cap. Bytes are committed (renamed and
//! synced) before the row says `fetched`: a blob without a row is harmless, a row naming a
//! missing blob is not.
//!
//! URLs carry the platforms' signatures: they are never logged, and errors are reduced to
//! short fixed reasons before they reach a log, a metric or `last_error`.

use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt as _;
use hue_intake_adapters::attachment::Limits;
use hue_intake_adapters::error::{InputError, Refusal};
use hue_intake_schemas::{Channel, MediaItem};
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::media_store::{MediaStore, UploadError};
use crate::store::chat::ChatMedia;
use crate::store::{Store, StoreError};

/// Rows taken per step.
const BATCH: usize = 32;
/// Downloads in flight at once: enough to hide CDN latency, few enough not to look like a
/// flood to the platform or to fill the disk with temporary files.
const CONCURRENCY: usize = 8;

/// The fetch stage's worker.
pub struct Fetcher {
    store: Store,
    media: MediaStore,
    limits: Limits,
    client: reqwest::Client,
    /// Attempts per attachment before it is given up.
    attempts: u32,
    retry_base: Duration,
    retry_max: Duration,
    /// How often to look for due rows when no wake-up came: the clock of the back-off.
    poll_interval: Duration,
    /// Cancelled at shutdown: downloads in flight stop and leave their rows as they were.
    stop: CancellationToken,
}

/// How one attempt ended.
#[derive(Debug)]
enum Attempt {
    Fetched(MediaItem),
    /// Worth another try later (server trouble, rate limit, timeout, network).
    Retry(&'static str),
    /// Another try cannot help (expired URL, too large, not a media type we take).
    Failed(String),
    /// Cut by shutdown: not an attempt, the row stays as it was.
    Interrupted,
}

impl Fetcher {
    pub fn new(config: &Config, store: Store, media: MediaStore, poll_interval: Duration) -> Fetcher {
        let chat = &config.chat;
        Fetcher {
            store,
            media,
            limits: config.media_limits(),
            client: crate::net::client(Duration::from_secs(chat.fetch_timeout_secs.max(1))),
            attempts: chat.fetch_attempts.max(1),
            retry_base: Duration::from_millis(chat.retry_base_ms),
            retry_max: Duration::from_secs(chat.retry_max_secs),
            poll_interval,
            stop: CancellationToken::new(),
        }
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        self.stop = shutdown.clone();
        let wake = self.store.wakes().fetches;
        let poll_interval = self.poll_interval;
        crate::worker::run(self, wake, poll_interval, shutdown).await;
    }

    /// Downloads the due attachments (several at once) and records each outcome as it comes;
    /// returns how many rows were taken.
    pub async fn step(&self) -> Result<usize, StoreError> {
        // At shutdown nothing new starts: what is pending waits in the store for the restart.
        if self.stop.is_cancelled() {
            return Ok(0);
        }
        let due = self.store.due_fetches(Utc::now(), BATCH).await?;
        let taken = due.len();
        let written: Vec<Result<(), StoreError>> = futures_util::stream::iter(due)
            .map(|(channel, row)| async move {
                let attempt = self.attempt(&row).await;
                self.record(channel, &row, attempt).await
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        // A row whose outcome could not be written stays pending and is fetched again (the
        // blob, if any, is content-addressed: the same file).
        written.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(taken)
    }

    async fn attempt(&self, row: &ChatMedia) -> Attempt {
        let url = match reqwest::Url::parse(&row.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            _ => return Attempt::Failed("not an http(s) URL".to_owned()),
        };
        let response = tokio::select! {
            biased;
            _ = self.stop.cancelled() => return Attempt::Interrupted,
            sent = self.client.get(url).send() => sent,
        };
        let mut response = match response {
            Ok(response) => response,
            Err(e) => return transport(&e),
        };
        let status = response.status();
        if !status.is_success() {
            return by_status(status);
        }
        // No kind takes more than the largest cap: refused without reading a byte.
        let declared = response.content_length();
        let largest = [self.limits.image, self.limits.video, self.limits.audio, self.limits.file]
            .into_iter()
            .max()
            .unwrap_or(0)
            .min(self.limits.per_report);
        if let Some(len) = declared
            && len > largest
        {
            return Attempt::Failed(format!("too large: {len} bytes announced, over every media cap"));
        }
        let pointer = format!("/chat_media/{}", row.id);
        let mut upload = match self.media.begin(pointer.clone()).await {
            Ok(upload) => upload,
            Err(e) => return storage(&e),
        };
        let mut received: u64 = 0;
        let mut declared_checked = declared.is_none();
        loop {
            let chunk = tokio::select! {
                biased;
                _ = self.stop.cancelled() => {
                    upload.abort().await;
                    return Attempt::Interrupted;
                }
                chunk = response.chunk() => chunk,
            };
            let chunk = match chunk {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    upload.abort().await;
                    return transport(&e);
                }
            };
            received += chunk.len() as u64;
            // `push` checks the running size against the sniffed kind's cap before writing, so
            // an over-long stream is cut here, at most one chunk past the cap.
            if let Err(e) = upload.push(&chunk, &self.limits, received).await {
                upload.abort().await;
                return refused(e);
            }
            // Once the kind is known, a declared length over its cap ends the download now
            // rather than after the whole body.
            if !declared_checked && let (Some(kind), Some(len)) = (upload.kind(), declared) {
                declared_checked = true;
                if let Err(e) = self.limits.check(kind, len, len, &pointer) {
                    upload.abort().await;
                    return refused(e.into());
                }
            }
        }
        let staged = match upload.finish(&self.limits, received).await {
            Ok(staged) => staged,
            Err(e) => return refused(e),
        };
        let item = staged.item().clone();
        // In place and synced before the row may say `fetched`.
        if let Err(e) = self.media.commit(std::slice::from_ref(&staged)).await {
            self.media.discard(vec![staged]).await;
            return storage(&e);
        }
        Attempt::Fetched(item)
    }

    /// Writes an attempt's outcome, counts and logs it (never the URL).
    async fn record(&self, channel: Channel, row: &ChatMedia, attempt: Attempt) -> Result<(), StoreError> {
        let made = row.attempts + 1;
        let outcome = match attempt {
            Attempt::Interrupted => return Ok(()),
            Attempt::Fetched(item) => {
                self.store.fetch_succeeded(row.id, &item).await?;
                tracing::info!(%channel, id = row.id, kind = item.kind.as_str(), bytes = item.bytes, "Chat media fetched.");
                "fetched"
            }
            Attempt::Retry(reason) if made < self.attempts => {
                let wait = crate::backoff::jittered(self.retry_base, self.retry_max, made);
                // A retry_max beyond what a timestamp can hold (a misconfiguration) still waits a year
                // rather than overflowing.
                let next = chrono::Duration::from_std(wait)
                    .ok()
                    .and_then(|d| Utc::now().checked_add_signed(d))
                    .unwrap_or_else(|| Utc::now() + chrono::Duration::days(365));
                self.store.fetch_retry(row.id, next, reason).await?;
                tracing::info!(%channel, id = row.id, attempt = made, reason, retry_in_ms = wait.as_millis() as u64, "Chat media fetch will be retried.");
                "retry"
            }
            Attempt::Retry(reason) => {
                let reason = format!("{reason} (gave up after {made} attempts)");
                self.store.fetch_failed(row.id, &reason).await?;
                tracing::warn!(%channel, id = row.id, reason = %reason, "Chat media fetch failed.");
                "failed"
            }
            Attempt::Failed(reason) => {
                self.store.fetch_failed(row.id, &reason).await?;
                tracing::warn!(%channel, id = row.id, reason = %reason, "Chat media fetch failed.");
                "failed"
            }
        };
        metrics::counter!("hue_intake_chat_media_total", "channel" => channel.as_str(), "outcome" => outcome)
            .increment(1);
        Ok(())
    }
}

impl crate::worker::Stage for Fetcher {
    type Error = StoreError;

    fn name(&self) -> &'static str {
        "chat media fetch"
    }

    fn batch_size(&self) -> usize {
        BATCH
    }

    async fn step(&mut self) -> Result<usize, StoreError> {
        Fetcher::step(self).await
    }
}

/// An HTTP answer other than 2xx.
fn by_status(status: StatusCode) -> Attempt {
    match status.as_u16() {
        // The URL expired or was withdrawn: it will not come back.
        403 | 404 | 410 => Attempt::Failed(format!("http {}: gone or expired", status.as_u16())),
        408 => Attempt::Retry("http 408"),
        429 => Attempt::Retry("http 429"),
        500..=599 => Attempt::Retry("http 5xx"),
        other => Attempt::Failed(format!("http {other}")),
    }
}

/// A transport error, reduced to a fixed reason: reqwest's own text names the URL.
fn transport(e: &reqwest::Error) -> Attempt {
    let reason = crate::net::failure_reason(e);
    // Redirect loops and bad URLs do not get better with time.
    if e.is_redirect() || e.is_builder() { Attempt::Failed(reason.to_owned()) } else { Attempt::Retry(reason) }
}

/// The bytes were refused by the same checks as the app's uploads, or our disk failed.
fn refused(e: UploadError) -> Attempt {
    match e {
        UploadError::Refused(InputError { refusal: Refusal::TooLarge, detail, .. }) => {
            // The detail names the kind and its cap, nothing of the content.
            Attempt::Failed(format!("too large: {detail}"))
        }
        UploadError::Refused(InputError { refusal: Refusal::UnsupportedMedia, .. }) => {
            Attempt::Failed("unsupported media type".to_owned())
        }
        UploadError::Refused(_) => Attempt::Failed("refused".to_owned()),
        UploadError::Io(e) => storage(&e),
    }
}

/// Our storage failed: not the attachment's fault, so it is tried again later.
fn storage(e: &std::io::Error) -> Attempt {
    tracing::error!(error = %e, "Media storage failed while fetching chat media.");
    Attempt::Retry("media storage failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_urls_fail_at_once_and_server_trouble_is_retried() {
        for code in [403, 404, 410] {
            assert!(matches!(by_status(StatusCode::from_u16(code).unwrap()), Attempt::Failed(_)), "{code}");
        }
        for code in [408, 429, 500, 502, 503] {
            assert!(matches!(by_status(StatusCode::from_u16(code).unwrap()), Attempt::Retry(_)), "{code}");
        }
        assert!(matches!(by_status(StatusCode::BAD_REQUEST), Attempt::Failed(_)));
    }
}
