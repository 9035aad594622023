//! The reply worker: sends the replies the pipeline queued (acknowledgements, questions) to
//! the citizen on Facebook, Zalo or by e-mail, each at most once.
//!
//! For each due reply: claim it (`sending`, committed) *before* calling the platform, call,
//! then record `sent` with the platform's message id, or put it back to `pending` with a
//! back-off, or `failed`. A crash between the claim and the record leaves it `sending`; at the
//! next start such replies become `uncertain` and are **never sent again**: a citizen may miss
//! one acknowledgement, but never gets two (they are counted in
//! `hue_intake_replies_total{outcome="uncertain"}`). Facebook echoes every message we send
//! with our metadata `hue-intake:<reply id>`; the pipeline settles those with
//! [`Store::confirm_echo`]. Zalo has no such echo.
//!
//! Failures are read into a [`Fault`]: transient ones (timeouts, 5xx, rate limits) retry with
//! exponential back-off and jitter up to `chat.send_attempts`; a refused token or permission
//! marks the channel failing in [`ChannelHealth`] (shown by `/readyz`) and keeps the replies
//! waiting at the longest back-off without using up their attempts, since nothing improves
//! until the configuration does; permanent refusals (outside the reply window, user gone) fail
//! the reply at once. Logs and `last_error` name the channel, the reply id and the platform's
//! error code, never the text, the recipient or a token.

use std::borrow::Cow;
use std::time::Duration;

use chrono::Utc;
use hue_intake_schemas::Channel;
use tokio_util::sync::CancellationToken;

use super::facebook_api::{FacebookTo, GraphApi};
use super::health::ChannelHealth;
use super::tokens::{TokenPair, ZaloTokens};
use super::zalo_api::{self, ZaloApi};
use crate::config::Config;
use crate::mail::smtp::{Outgoing, Smtp};
use crate::seal::Sealer;
use crate::store::chat::Recipient;
use crate::store::replies::{AfterFailure, DueReply};
use crate::store::{Store, StoreError};

/// What a failed call means for the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing was delivered and a later attempt may succeed (timeouts, 5xx, rate limits).
    Transient,
    /// The platform refuses our token or permissions: the channel is failing until the
    /// configuration changes.
    Auth,
    /// This reply can never be delivered (outside the window, user unavailable).
    Permanent,
    /// The platform may have delivered it (a success answer we cannot read): never again.
    Uncertain,
}

/// A failed call: its meaning and a short reason for operators (no text, recipient or token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub fault: Fault,
    pub reason: String,
}

impl Failure {
    pub fn new(fault: Fault, reason: impl Into<String>) -> Failure {
        Failure { fault, reason: reason.into() }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// `text` cut to at most `max_chars` characters.
///
/// Cut rather than split into several messages: our texts are short composed
/// acknowledgements and questions, so this is a safety net, and one reply stays one message
/// (one id, one echo, one unit of the platforms' reply quotas). The cut is on a character
/// boundary, at a space when there is one near the end, and ends with "…".
pub fn fit(text: &str, max_chars: usize) -> Cow<'_, str> {
    if text.chars().count() <= max_chars {
        return Cow::Borrowed(text);
    }
    let keep = max_chars.saturating_sub(1);
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let mut head = &text[..end];
    if let Some(space) = head.rfind(char::is_whitespace)
        && head[..space].chars().count() >= keep * 9 / 10
    {
        head = head[..space].trim_end();
    }
    Cow::Owned(format!("{head}…"))
}

/// Timing of the worker.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Attempts per reply before it fails (transient failures).
    pub attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub batch_size: usize,
    /// The safety net beside the store's wake-ups, and the clock for back-offs coming due.
    pub poll_interval: Duration,
}

impl Settings {
    /// The wait before attempt `attempts + 1`, after `attempts` failed ones: doubling from
    /// `retry_base`, capped at `retry_max`, with jitter (half to all of it) so that replies
    /// failed together do not return together.
    pub fn backoff(&self, attempts: u32) -> Duration {
        crate::backoff::jittered(self.retry_base, self.retry_max, attempts)
    }
}

/// The Zalo side: the API and the tokens it needs.
struct Zalo {
    api: ZaloApi,
    tokens: ZaloTokens,
}

/// The reply worker.
pub struct Sender {
    store: Store,
    sealer: Sealer,
    health: ChannelHealth,
    facebook: Option<GraphApi>,
    zalo: Option<Zalo>,
    email: Option<Smtp>,
    settings: Settings,
}

impl Sender {
    /// The worker for what the configuration enables: Facebook when a Page access token is
    /// set, Zalo when an access or refresh token is. `None` when neither is (replies then
    /// stay queued).
    pub fn from_config(
        config: &Config,
        store: Store,
        sealer: Sealer,
        health: ChannelHealth,
    ) -> anyhow::Result<Option<Sender>> {
        let timeout = Duration::from_secs(config.chat.send_timeout_secs.max(1));
        let fb = &config.facebook;
        let facebook = fb
            .page_access_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|token| GraphApi::new(&fb.graph_base_url, &fb.graph_version, token, timeout));
        let z = &config.zalo;
        let zalo = (z.access_token.is_some() || z.refresh_token.is_some()).then(|| {
            if z.app_id.is_none() || z.app_secret_key.is_none() {
                tracing::warn!(
                    channel = "zalo",
                    "zalo.app_id or zalo.app_secret_key is not set: the OA access token cannot be renewed."
                );
            }
            let api = ZaloApi::new(&z.openapi_base_url, &z.oauth_base_url, timeout);
            let seed = TokenPair {
                access_token: z.access_token.clone().unwrap_or_default(),
                refresh_token: z.refresh_token.clone().unwrap_or_default(),
            };
            let tokens = ZaloTokens::new(
                store.clone(),
                sealer.clone(),
                api.clone(),
                z.app_id.clone().unwrap_or_default(),
                z.app_secret_key.clone().unwrap_or_default(),
                Some(seed),
            );
            Zalo { api, tokens }
        });
        let email = Smtp::from_config(&config.mail)?;
        if facebook.is_none() && zalo.is_none() && email.is_none() {
            return Ok(None);
        }
        let settings = Settings {
            attempts: config.chat.send_attempts.max(1),
            retry_base: Duration::from_millis(config.chat.retry_base_ms),
            retry_max: Duration::from_secs(config.chat.retry_max_secs),
            batch_size: 64,
            poll_interval: Duration::from_millis(config.sink.poll_interval_ms),
        };
        Ok(Some(Sender { store, sealer, health, facebook, zalo, email, settings }))
    }

    /// The channels this worker sends on.
    pub fn channels(&self) -> Vec<Channel> {
        let mut channels = Vec::new();
        if self.facebook.is_some() {
            channels.push(Channel::Facebook);
        }
        if self.zalo.is_some() {
            channels.push(Channel::Zalo);
        }
        if self.email.is_some() {
            channels.push(Channel::Email);
        }
        channels
    }

    /// Settles replies a crash left `sending`: `uncertain`, never sent again.
    pub async fn recover(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        for (channel, n) in self.store.settle_interrupted_replies().await? {
            metrics::counter!("hue_intake_replies_total", "channel" => channel.as_str(), "outcome" => "uncertain")
                .increment(n);
            tracing::warn!(
                channel = %channel,
                count = n,
                "Replies were interrupted while sending: marked uncertain and not sent again."
            );
            total += n;
        }
        Ok(total)
    }

    /// Recovers, then sends until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        describe();
        if let Err(e) = self.recover().await {
            // Those replies stay `sending`, which is never picked up: still never sent twice.
            tracing::error!(error = %e, "Could not settle interrupted replies.");
        }
        let wake = self.store.wakes().replies;
        let poll_interval = self.settings.poll_interval;
        crate::worker::run(self, wake, poll_interval, shutdown).await;
    }

    /// Sends every due reply once; returns how many were due.
    pub async fn step(&mut self) -> Result<usize, StoreError> {
        let due = self.store.due_replies(&self.channels(), Utc::now(), self.settings.batch_size).await?;
        for reply in &due {
            self.send_one(reply).await?;
        }
        Ok(due.len())
    }

    async fn send_one(&self, reply: &DueReply) -> Result<(), StoreError> {
        let channel = reply.channel;
        let recipient = match self.recipient(reply) {
            Ok(recipient) => recipient,
            Err(reason) => {
                tracing::error!(channel = %channel, reply_id = %reply.id, reason, "Reply cannot be sent.");
                self.store.reply_unsendable(reply.id, reason).await?;
                count(channel, "failed");
                return Ok(());
            }
        };
        // Committed before the call: a crash during it leaves `sending`, never a resend.
        if !self.store.reply_sending(reply.id).await? {
            return Ok(());
        }
        match self.deliver(&recipient, reply).await {
            Ok(message_id) => {
                let now = Utc::now();
                self.store.reply_sent(reply.id, &message_id, now).await?;
                self.health.ok(channel);
                count(channel, "sent");
                let waited = (now - reply.created_at).to_std().unwrap_or_default();
                metrics::histogram!("hue_intake_reply_latency_seconds", "channel" => channel.as_str())
                    .record(waited.as_secs_f64());
                tracing::info!(channel = %channel, reply_id = %reply.id, "Reply sent.");
            }
            Err(failure) => self.failed(reply, failure).await?,
        }
        Ok(())
    }

    async fn failed(&self, reply: &DueReply, failure: Failure) -> Result<(), StoreError> {
        let channel = reply.channel;
        let attempts = reply.attempts + 1;
        let now = Utc::now();
        let later = |wait: Duration| now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
        let (after, outcome) = match failure.fault {
            Fault::Transient if attempts < self.settings.attempts => {
                (AfterFailure::Retry(later(self.settings.backoff(attempts))), "retry")
            }
            Fault::Transient | Fault::Permanent => (AfterFailure::Fail, "failed"),
            Fault::Auth => (AfterFailure::Defer(later(self.settings.retry_max)), "retry"),
            Fault::Uncertain => (AfterFailure::Uncertain, "uncertain"),
        };
        tracing::warn!(channel = %channel, reply_id = %reply.id, attempts, outcome, reason = %failure, "Reply not sent.");
        self.store.reply_not_sent(reply.id, after, &failure.reason).await?;
        count(channel, outcome);
        if failure.fault == Fault::Auth {
            // After the store: whoever sees the channel failing finds the reply settled.
            self.health.failing(channel, failure.reason);
        }
        Ok(())
    }

    /// The recipient, opened (sealed with the reply id) and checked against the channel.
    fn recipient(&self, reply: &DueReply) -> Result<Recipient, &'static str> {
        let plain = self
            .sealer
            .open(&reply.recipient_sealed, reply.id.to_string().as_bytes())
            .map_err(|_| "the recipient does not open with this key and reply id")?;
        let recipient: Recipient = serde_json::from_slice(&plain).map_err(|_| "the recipient is not a Recipient")?;
        let fits = matches!(
            (reply.channel, &recipient),
            (Channel::Facebook, Recipient::FacebookUser { .. } | Recipient::FacebookComment { .. })
                | (Channel::Zalo, Recipient::ZaloUser { .. })
                | (Channel::Email, Recipient::Email { .. })
        );
        if fits { Ok(recipient) } else { Err("the recipient is not on the reply's channel") }
    }

    async fn deliver(&self, recipient: &Recipient, reply: &DueReply) -> Result<String, Failure> {
        let (text, id, options) = (reply.text.as_str(), reply.id, &reply.options);
        match recipient {
            Recipient::FacebookUser { psid } => self.graph()?.send(FacebookTo::User(psid), text, id, options).await,
            Recipient::FacebookComment { comment_id } => {
                self.graph()?.send(FacebookTo::Comment(comment_id), text, id, &Default::default()).await
            }
            Recipient::Email { address, subject, in_reply_to, references } => {
                let smtp = self.email.as_ref().ok_or_else(|| Failure::new(Fault::Auth, "SMTP is not configured"))?;
                smtp.send(Outgoing {
                    to: address,
                    subject,
                    in_reply_to: in_reply_to.as_deref(),
                    references,
                    text,
                    reply_id: id,
                })
                .await
            }
            Recipient::ZaloUser { user_id, quote } => {
                let zalo = self.zalo.as_ref().ok_or_else(|| Failure::new(Fault::Auth, "Zalo is not configured"))?;
                let token = zalo.tokens.access_token().await?;
                match zalo.api.send(&token, user_id, quote.as_deref(), text, &options.choices).await {
                    Ok(id) => Ok(id),
                    Err(zalo_api::SendError::Other(failure)) => Err(failure),
                    // Expired: renew and try once more, at once.
                    Err(zalo_api::SendError::Expired) => {
                        let fresh = zalo.tokens.renew_after_expiry(&token).await?;
                        match zalo.api.send(&fresh, user_id, quote.as_deref(), text, &options.choices).await {
                            Ok(id) => Ok(id),
                            Err(zalo_api::SendError::Other(failure)) => Err(failure),
                            Err(zalo_api::SendError::Expired) => Err(Failure::new(
                                Fault::Auth,
                                "Zalo refused a freshly renewed OA access token (error -216)",
                            )),
                        }
                    }
                }
            }
        }
    }

    fn graph(&self) -> Result<&GraphApi, Failure> {
        self.facebook.as_ref().ok_or_else(|| Failure::new(Fault::Auth, "Facebook is not configured"))
    }
}

impl crate::worker::Stage for Sender {
    type Error = StoreError;

    fn name(&self) -> &'static str {
        "replies"
    }

    fn batch_size(&self) -> usize {
        self.settings.batch_size
    }

    async fn step(&mut self) -> Result<usize, StoreError> {
        Sender::step(self).await
    }
}

fn count(channel: Channel, outcome: &'static str) {
    metrics::counter!("hue_intake_replies_total", "channel" => channel.as_str(), "outcome" => outcome).increment(1);
}

fn describe() {
    metrics::describe_counter!(
        "hue_intake_replies_total",
        "Reply attempts to citizens by channel and outcome (sent, retry, failed, uncertain: interrupted or unreadable, never resent)."
    );
    metrics::describe_histogram!(
        "hue_intake_reply_latency_seconds",
        "From a reply being queued to the platform taking it, by channel."
    );
    metrics::describe_counter!("hue_intake_token_renewals_total", "Platform access tokens renewed, by channel.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_on_a_boundary_with_an_ellipsis() {
        assert_eq!(fit("ngắn", 10), "ngắn");
        let long = "Phản ánh của bạn đã được tiếp nhận. ".repeat(100);
        let cut = fit(&long, 1999);
        assert!(cut.chars().count() <= 1999);
        assert!(cut.ends_with('…'));
        assert!(!cut.ends_with(" …"));
        let no_spaces = "ế".repeat(3000);
        let cut = fit(&no_spaces, 1999);
        assert_eq!(cut.chars().count(), 1999);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let s = Settings {
            attempts: 8,
            retry_base: Duration::from_millis(1000),
            retry_max: Duration::from_secs(300),
            batch_size: 1,
            poll_interval: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = s.backoff(1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_millis(1000), "{first:?}");
            let third = s.backoff(3);
            assert!(third >= Duration::from_millis(2000) && third <= Duration::from_millis(4000), "{third:?}");
            assert!(s.backoff(30) <= Duration::from_secs(300));
            assert!(s.backoff(30) >= Duration::from_secs(150));
        }
    }
}
