//! The HTTP sink: the city's case system. Each record is POSTed as its canonical JSON with
//! the record id as `Idempotency-Key` (a resend after a crash is recognised), an optional
//! bearer token and an optional HMAC-SHA256 signature of the body for the receiver to check.
//!
//! The answer decides the row: 2xx delivered (the core's case id kept when its JSON names
//! one: `case_id`, else `id`); 408, 429, 5xx, a timeout or no connection mean the destination
//! is not taking records now (retry, honouring `Retry-After`); 401 and 403 also retry, since
//! a refused credential is the gateway's configuration, not the record, and must not turn
//! every record into a dead letter; any other 4xx is the record's problem: dead, with the
//! receiver's reason (problem+json `detail`/`title`, or the body's first line).

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use sha2::Sha256;

use super::{Outcome, short_reason};
use crate::config::SinkTarget;
use crate::store::Due;

/// The signature header: `sha256=<hex HMAC-SHA256(signing_secret, raw body)>`.
pub const SIGNATURE_HEADER: &str = "X-Hue-Signature-256";

#[derive(Debug)]
pub struct HttpSink {
    client: reqwest::Client,
    url: String,
    bearer_token: Option<String>,
    signing_secret: Option<Vec<u8>>,
}

impl HttpSink {
    pub fn new(url: String, target: &SinkTarget, timeout: Duration) -> anyhow::Result<Self> {
        Ok(HttpSink {
            client: client(timeout)?,
            url,
            bearer_token: target.bearer_token.clone(),
            signing_secret: target.signing_secret.as_ref().map(|s| s.as_bytes().to_vec()),
        })
    }

    /// One POST per record, in order; stops at the first record not taken.
    pub async fn deliver(&self, batch: &[Due]) -> Vec<Outcome> {
        one_by_one(batch, |due| self.post(due)).await
    }

    async fn post(&self, due: &Due) -> Outcome {
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", due.record_id.to_string())
            .body(due.body.clone());
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token);
        }
        if let Some(secret) = &self.signing_secret {
            request = request.header(SIGNATURE_HEADER, signature(secret, due.body.as_bytes()));
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let retry_after = retry_after(&response);
                let body = response.bytes().await.unwrap_or_default();
                judge(status, &body, retry_after, case_id)
            }
            Err(e) => Outcome::Retry { error: transport_error(&e), retry_after: None },
        }
    }
}

/// Sends `batch` one record at a time, in commit order, and stops at the first record the
/// destination did not take (the rest stay due, behind it): the sinks that make one request
/// per record.
pub(super) async fn one_by_one<'a, F, Fut>(batch: &'a [Due], mut send: F) -> Vec<Outcome>
where
    F: FnMut(&'a Due) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mut outcomes = Vec::with_capacity(batch.len());
    for due in batch {
        let outcome = send(due).await;
        let stop = matches!(outcome, Outcome::Retry { .. });
        outcomes.push(outcome);
        if stop {
            break;
        }
    }
    outcomes
}

/// `sha256=<hex>` of the body, keyed with the receiver's secret.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// A client for one destination: timeouts always set (reqwest has none by default).
pub(super) fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    crate::net::install_crypto_provider();
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("hue-intake/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// What an HTTP answer means for the row; `remote_id` reads the receiver's id from a 2xx body.
pub(super) fn judge(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
    remote_id: fn(&[u8]) -> Option<String>,
) -> Outcome {
    if status.is_success() {
        return Outcome::Delivered(remote_id(body));
    }
    let reason = format!("HTTP {}: {}", status.as_u16(), reason_of(body));
    let retry = status.is_server_error()
        || matches!(
            status,
            StatusCode::REQUEST_TIMEOUT
                | StatusCode::TOO_MANY_REQUESTS
                | StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
        );
    if retry {
        Outcome::Retry { error: short_reason(&reason), retry_after }
    } else {
        Outcome::Dead(short_reason(&reason))
    }
}

/// The receiver's reason: problem+json `detail` or `title`, else the body's first line.
fn reason_of(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        for key in ["detail", "title", "message", "error"] {
            if let Some(text) = value.get(key).and_then(|v| v.as_str()) {
                return text.to_owned();
            }
        }
    }
    String::from_utf8_lossy(body).lines().next().unwrap_or("").to_owned()
}

/// The core's case id from a 2xx JSON body: `case_id`, else `id` (string or number).
fn case_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["case_id", "id"].iter().find_map(|key| match value.get(key)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(short_reason(s)),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs and ignored).
pub(super) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A transport failure without the URL (it may carry credentials in a query).
pub(super) fn transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    short_reason(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_delivered_retry_or_dead() {
        let ok = judge(StatusCode::CREATED, br#"{"case_id":"CASE-7"}"#, None, case_id);
        assert_eq!(ok, Outcome::Delivered(Some("CASE-7".into())));
        assert_eq!(judge(StatusCode::OK, br#"{"id":42}"#, None, case_id), Outcome::Delivered(Some("42".into())));
        assert_eq!(judge(StatusCode::NO_CONTENT, b"", None, case_id), Outcome::Delivered(None));
        for code in [408, 429, 500, 502, 503, 504, 401, 403] {
            let outcome = judge(StatusCode::from_u16(code).unwrap(), b"", None, case_id);
            assert!(matches!(outcome, Outcome::Retry { .. }), "{code}: {outcome:?}");
        }
        let dead = judge(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"type":"about:blank","title":"Invalid","detail":"category is unknown"}"#,
            None,
            case_id,
        );
        assert_eq!(dead, Outcome::Dead("HTTP 422: category is unknown".into()));
        assert!(
            matches!(judge(StatusCode::NOT_FOUND, b"no\nsuch", None, case_id), Outcome::Dead(r) if r == "HTTP 404: no")
        );
    }

    #[test]
    fn signature_is_the_hex_hmac_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
