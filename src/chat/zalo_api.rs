//! The Zalo OA Open API calls the gateway makes: the consultation message (`v3.0/oa/message/cs`)
//! and the renewal of the OA access token (`v4/oa/access_token`), reference/channels.md §2.7.
//!
//! Owns the request shapes and the reading of Zalo's answers into what the reply worker does
//! next ([`Fault`]). The tokens themselves are kept by [`super::tokens`]. Nothing here logs;
//! errors carry Zalo's error number, never the text sent, the user id or a token.

use std::time::Duration;

use serde_json::{Value, json};

use super::send::{Failure, Fault};
use crate::store::chat::Choice;

/// Zalo's "access token expired" error: renew and try again once.
pub const TOKEN_EXPIRED: i64 = -216;

/// Longest text sent (Zalo's documented limit for a text message is 2000 characters).
pub const MAX_TEXT_CHARS: usize = 2000;

/// A Zalo API client (no token of its own: callers pass the current one).
#[derive(Debug, Clone)]
pub struct ZaloApi {
    http: reqwest::Client,
    openapi_base: String,
    oauth_base: String,
}

/// A renewal's answer.
#[derive(Clone, PartialEq, Eq)]
pub struct Renewed {
    pub access_token: String,
    pub refresh_token: String,
    /// Lifetime of the access token, in seconds.
    pub expires_in: Option<u64>,
}

impl std::fmt::Debug for Renewed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renewed").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

/// Why a send did not go through.
#[derive(Debug)]
pub enum SendError {
    /// `-216`: the access token expired; renew and retry once.
    Expired,
    Other(Failure),
}

impl ZaloApi {
    pub fn new(openapi_base_url: &str, oauth_base_url: &str, timeout: Duration) -> ZaloApi {
        ZaloApi {
            http: crate::net::client(timeout),
            openapi_base: openapi_base_url.trim_end_matches('/').to_owned(),
            oauth_base: oauth_base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Sends one text to a follower; returns Zalo's message id.
    ///
    /// `quote` is the citizen's message we answer, sent as `message.quote_message_id`: Zalo
    /// counts an OA message carrying the user's message id as a reply (8 free within 48 h of
    /// the user's message) rather than a paid proactive message (reference/channels.md §2.8;
    /// the exact field is not confirmed by Zalo's docs).
    ///
    /// `choices` become buttons of type `oa.query.hide` under the text: a tap sends the
    /// button's payload back to the OA as the user's text message (`user_send_text`), which
    /// the pipeline reads as a rating (R9). The shape (`attachment.type = "template"`,
    /// `payload.buttons[] = {title, type, payload}`) is the OA API v3 button message as
    /// integrators document it; channels.md §2.7 does not list it, so it is to verify live.
    pub async fn send(
        &self,
        access_token: &str,
        user_id: &str,
        quote: Option<&str>,
        text: &str,
        choices: &[Choice],
    ) -> Result<String, SendError> {
        let mut message = json!({ "text": super::send::fit(text, MAX_TEXT_CHARS) });
        if let Some(quote) = quote {
            message["quote_message_id"] = json!(quote);
        }
        if !choices.is_empty() {
            let buttons: Vec<Value> = choices
                .iter()
                .map(|c| json!({ "title": c.title, "type": "oa.query.hide", "payload": c.payload }))
                .collect();
            message["attachment"] = json!({ "type": "template", "payload": { "buttons": buttons } });
        }
        let body = json!({ "recipient": { "user_id": user_id }, "message": message });
        let response = self
            .http
            .post(format!("{}/v3.0/oa/message/cs", self.openapi_base))
            // The header is literally `access_token` (Zalo's convention, not Authorization).
            .header("access_token", access_token)
            .json(&body)
            .send()
            .await
            .map_err(|e| SendError::Other(transport(&e)))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| SendError::Other(transport(&e)))?;
        let answer: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) if status.is_success() => {
                // 2xx but unreadable: Zalo may have delivered it; never send it again.
                return Err(SendError::Other(Failure::new(Fault::Uncertain, "Zalo answered 2xx without JSON")));
            }
            Err(_) => {
                return Err(SendError::Other(Failure::new(Fault::Transient, format!("Zalo answered HTTP {status}"))));
            }
        };
        let error = answer.get("error").and_then(number);
        match error {
            Some(0) => match answer.pointer("/data/message_id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => Ok(id.to_owned()),
                _ => {
                    Err(SendError::Other(Failure::new(Fault::Uncertain, "Zalo answered success without a message_id")))
                }
            },
            Some(TOKEN_EXPIRED) => Err(SendError::Expired),
            Some(code) => Err(SendError::Other(zalo_failure(code))),
            None if status.is_server_error() => {
                Err(SendError::Other(Failure::new(Fault::Transient, format!("Zalo answered HTTP {status}"))))
            }
            None => Err(SendError::Other(Failure::new(
                if status.is_success() { Fault::Uncertain } else { Fault::Transient },
                format!("Zalo answered HTTP {status} without an error number"),
            ))),
        }
    }

    /// Renews the OA access token with a refresh token. Zalo answers with a new pair; the old
    /// refresh token may not work again, so the caller stores the new one at once.
    pub async fn renew(&self, app_id: &str, app_secret_key: &str, refresh_token: &str) -> Result<Renewed, Failure> {
        let response = self
            .http
            .post(format!("{}/v4/oa/access_token", self.oauth_base))
            .header("secret_key", app_secret_key)
            .form(&[("refresh_token", refresh_token), ("app_id", app_id), ("grant_type", "refresh_token")])
            .send()
            .await
            .map_err(|e| transport(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport(&e))?;
        if status.is_server_error() {
            return Err(Failure::new(Fault::Transient, format!("Zalo OAuth answered HTTP {status}")));
        }
        let answer: Value = serde_json::from_slice(&bytes)
            .map_err(|_| Failure::new(Fault::Transient, format!("Zalo OAuth answered HTTP {status} without JSON")))?;
        let text = |key: &str| answer.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        match (text("access_token"), text("refresh_token")) {
            (Some(access_token), Some(refresh_token)) => {
                Ok(Renewed { access_token, refresh_token, expires_in: answer.get("expires_in").and_then(seconds) })
            }
            _ => {
                // Zalo's OAuth errors: {"error": <negative number>, "error_name", "error_description"}.
                let code = answer.get("error").and_then(number).map(|c| format!(" (error {c})")).unwrap_or_default();
                Err(Failure::new(Fault::Auth, format!("Zalo refused to renew the OA access token{code}")))
            }
        }
    }
}

/// A number given as a JSON number or a string of digits (Zalo does both).
fn number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `expires_in`: seconds, as a number or a string.
fn seconds(v: &Value) -> Option<u64> {
    number(v).and_then(|n| u64::try_from(n).ok())
}

fn transport(e: &reqwest::Error) -> Failure {
    Failure::new(Fault::Transient, format!("Zalo API {}", crate::net::failure_reason(e)))
}

/// Zalo's error numbers (reference/channels.md §2.7, from a third-party table).
fn zalo_failure(code: i64) -> Failure {
    match code {
        -201 => Failure::new(Fault::Auth, "Zalo refused the OA access token (error -201)"),
        -202 | -205 | -206 => Failure::new(Fault::Auth, format!("Zalo refused the OA or app (error {code})")),
        -203 | -204 | -207 => Failure::new(Fault::Permanent, format!("Zalo refused the message (error {code})")),
        // Unknown numbers (quota, interaction window, Zalo's own trouble): nothing was
        // delivered, so retry within send_attempts.
        _ => Failure::new(Fault::Transient, format!("Zalo refused the message (error {code})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_seconds_come_as_numbers_or_strings() {
        assert_eq!(seconds(&json!(90000)), Some(90000));
        assert_eq!(seconds(&json!("90000")), Some(90000));
        assert_eq!(seconds(&json!("soon")), None);
        assert_eq!(number(&json!("-216")), Some(-216));
    }

    #[test]
    fn errors_are_classified() {
        assert_eq!(zalo_failure(-201).fault, Fault::Auth);
        assert_eq!(zalo_failure(-207).fault, Fault::Permanent);
        assert_eq!(zalo_failure(-32).fault, Fault::Transient);
    }
}
