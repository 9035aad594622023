//! The platforms' webhooks: Facebook Page (`/webhooks/facebook`) and Zalo OA
//! (`/webhooks/zalo`).
//!
//! A POST is read whole (up to `chat.max_webhook_bytes`, else 413), its signature checked over
//! the exact bytes (401 and a counter when it is missing or wrong, nothing stored), then the
//! body is sealed and committed as one stored message and answered 200. Nothing else happens
//! before the answer: the platforms disable a webhook that is slow (Zalo allows about 2 s),
//! and a body that does not parse must still get its 200 (it is authentic; the pipeline
//! quarantines it for a replay after a fix). Splitting the body into events, deduplicating
//! them by `mid` / `comment_id` / `msg_id`, assembly, media and replies all run afterwards
//! from the store.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use hue_intake_adapters::{facebook, zalo};
use hue_intake_schemas::Channel;

use super::AppState;
use super::problem::Problem;
use super::rate_limit;
use crate::pipeline::raw_associated_data;
use crate::store::{Incoming, Received, StoreError};

/// The secrets of the configured webhooks; `None`: that webhook is off (404).
#[derive(Debug, Clone, Default)]
pub struct Webhooks {
    pub facebook: Option<FacebookSecrets>,
    pub zalo: Option<ZaloSecrets>,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct FacebookSecrets {
    pub app_secret: String,
    pub verify_token: String,
}

#[derive(Debug, Clone)]
pub struct ZaloSecrets {
    pub oa_secret_key: String,
    pub freshness: chrono::Duration,
}

/// The subscription handshake: echo `hub.challenge` when the verify token matches, else 403.
#[utoipa::path(get, path = "/webhooks/facebook", tag = "webhooks",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "The verify token configured in the app"),
        ("hub.challenge" = String, Query, description = "Echoed back on success"),
    ),
    responses(
        (status = 200, description = "The challenge, as plain text", body = String, content_type = "text/plain"),
        (status = 403, description = "Wrong mode or verify token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The Facebook webhook is not configured", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn facebook_handshake(State(app): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let Some(secrets) = &app.webhooks.facebook else {
        return Problem::not_found("the Facebook webhook is not configured").into_response();
    };
    match facebook::verify_handshake(query.as_deref().unwrap_or(""), &secrets.verify_token) {
        Some(challenge) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge).into_response(),
        None => {
            refused(Channel::Facebook, "handshake");
            Problem::forbidden("hub.mode must be subscribe and hub.verify_token must match").into_response()
        }
    }
}

/// A Facebook Page event notification (Messenger `messaging`/`standby`, Page `feed`).
#[utoipa::path(post, path = "/webhooks/facebook", tag = "webhooks",
    params(("X-Hub-Signature-256" = String, Header, description = "`sha256=` and the hex HMAC-SHA256 of the raw body under the app secret")),
    request_body(content = String, content_type = "application/json", description = "The body exactly as Meta posts it"),
    responses(
        (status = 200, description = "Stored", body = String, content_type = "text/plain"),
        (status = 400, description = "The body broke off or was badly framed; nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Signature missing or wrong; nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many messages from this sender (rate_limits.per_sender_*); nothing stored; Retry-After says when to retry", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The Facebook webhook is not configured", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than chat.max_webhook_bytes", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot commit; the platform will retry", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn facebook_event(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let Some(secrets) = app.webhooks.facebook.clone() else {
        return Problem::not_found("the Facebook webhook is not configured").into_response();
    };
    let raw = match read_body(&app, Channel::Facebook, &headers, body).await {
        Ok(raw) => raw,
        Err(problem) => return problem.into_response(),
    };
    let signature = headers.get(facebook::SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if let Err(e) = facebook::verify_signature(secrets.app_secret.as_bytes(), &raw, signature) {
        refused(Channel::Facebook, "signature");
        tracing::warn!(channel = "facebook", reason = %e, "Webhook refused.");
        return Problem::unauthorized(&e.to_string()).into_response();
    }
    // The senders are read out of the body only when there is a limit to apply them to.
    if app.rate_limits.limits_senders() {
        let senders = facebook::senders(&raw);
        let allowed = app.rate_limits.check_senders(Channel::Facebook.as_str(), senders.iter().map(String::as_str));
        if let Err(wait) = allowed {
            return rate_limit::too_many(rate_limit::Scope::Sender, "/webhooks/facebook", wait);
        }
    }
    store_body(&app, Channel::Facebook, raw, "EVENT_RECEIVED").await
}

/// A Zalo OA event (one per call). The unsigned empty probe Zalo sends when the webhook URL is
/// saved gets 200 and changes nothing.
#[utoipa::path(post, path = "/webhooks/zalo", tag = "webhooks",
    params(("X-ZEvent-Signature" = String, Header, description = "`mac=` and the hex SHA-256 of app_id, raw body, timestamp and the OA secret key")),
    request_body(content = String, content_type = "application/json", description = "The body exactly as Zalo posts it"),
    responses(
        (status = 200, description = "Stored (or the empty probe)", body = String, content_type = "text/plain"),
        (status = 400, description = "The body broke off or was badly framed; nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Signature missing, wrong or outside the freshness window; nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many messages from this sender (rate_limits.per_sender_*); nothing stored; Retry-After says when to retry", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The Zalo webhook is not configured", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than chat.max_webhook_bytes", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot commit; the platform will retry", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn zalo_event(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let Some(secrets) = app.webhooks.zalo.clone() else {
        return Problem::not_found("the Zalo webhook is not configured").into_response();
    };
    let raw = match read_body(&app, Channel::Zalo, &headers, body).await {
        Ok(raw) => raw,
        Err(problem) => return problem.into_response(),
    };
    let signature = headers.get(zalo::SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if zalo::is_probe(&raw, signature) {
        metrics::counter!("hue_intake_webhook_probes_total", "channel" => "zalo").increment(1);
        return (StatusCode::OK, "OK").into_response();
    }
    if let Err(e) =
        zalo::verify_signature(secrets.oa_secret_key.as_bytes(), &raw, signature, Utc::now(), secrets.freshness)
    {
        let reason = match e {
            zalo::SignatureError::Stale | zalo::SignatureError::FromFuture => "stale",
            _ => "signature",
        };
        refused(Channel::Zalo, reason);
        tracing::warn!(channel = "zalo", reason = %e, "Webhook refused.");
        return Problem::unauthorized(&e.to_string()).into_response();
    }
    if app.rate_limits.limits_senders()
        && let Err(wait) = app.rate_limits.check_senders(Channel::Zalo.as_str(), zalo::sender(&raw).as_deref())
    {
        return rate_limit::too_many(rate_limit::Scope::Sender, "/webhooks/zalo", wait);
    }
    store_body(&app, Channel::Zalo, raw, "OK").await
}

/// Reads the whole body under the configured cap. A declared length over the cap is refused
/// before reading a byte.
async fn read_body(app: &AppState, channel: Channel, headers: &HeaderMap, body: Body) -> Result<Bytes, Problem> {
    let cap = app.webhooks.max_body_bytes;
    let too_large = || {
        refused(channel, "too_large");
        Problem::too_large(&format!("a webhook body may be at most {cap} bytes (chat.max_webhook_bytes)"))
    };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    // Only a body over the cap is 413. One that breaks off or is badly chunked used to be
    // answered 413 too (found by the hostile suite): a wrong answer sending the sender looking
    // for a size problem it does not have.
    axum::body::to_bytes(body, cap).await.map_err(|e| {
        if super::reports::over_limit(&e) {
            too_large()
        } else {
            refused(channel, "incomplete");
            super::reports::incomplete_body()
        }
    })
}

/// Seals and commits the body as one stored message; 200 once committed.
async fn store_body(app: &AppState, channel: Channel, raw: Bytes, answer: &'static str) -> Response {
    let raw_sha256 = hue_intake_adapters::media::sha256_hex(&raw);
    // The body's hash is its key: an identical redelivery is recognised here, and events that
    // come again in a different body are recognised by their own ids in the pipeline.
    let message_id = format!("body:{raw_sha256}");
    let incoming = Incoming {
        channel,
        raw_sealed: app.sealer.seal(&raw, &raw_associated_data(channel, &message_id)),
        message_id,
        received_at: Utc::now(),
        fingerprint: raw_sha256.clone(),
        raw_sha256,
        meta: "{}".to_owned(),
        allocation: None,
    };
    match app.store.receive(incoming).await {
        Ok(Received::Stored { .. }) => {
            metrics::counter!("hue_intake_webhook_bodies_total", "channel" => channel.as_str(), "outcome" => "stored")
                .increment(1);
            (StatusCode::OK, answer).into_response()
        }
        Ok(Received::Duplicate { .. } | Received::Conflict) => {
            metrics::counter!("hue_intake_webhook_bodies_total", "channel" => channel.as_str(), "outcome" => "duplicate")
                .increment(1);
            (StatusCode::OK, answer).into_response()
        }
        Err(StoreError::Unavailable(reason)) => {
            tracing::warn!(channel = %channel, reason = %reason, "Webhook body not stored: store unavailable.");
            Problem::unavailable("the store cannot commit now; retry later").into_response()
        }
        Err(e) => {
            tracing::error!(channel = %channel, error = %e, "Webhook body not stored.");
            Problem::unavailable("the store cannot commit now; retry later").into_response()
        }
    }
}

/// Counts a refused call by channel and reason (closed sets only).
fn refused(channel: Channel, reason: &'static str) {
    metrics::counter!("hue_intake_webhook_refused_total", "channel" => channel.as_str(), "reason" => reason)
        .increment(1);
}
