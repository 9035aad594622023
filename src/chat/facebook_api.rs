//! The Graph API calls the gateway makes for the Facebook Page: the Send API (a Messenger
//! reply, or a private reply to a comment) and the Page's webhook subscription check.
//!
//! Owns the request shapes (reference/channels.md §1.9) and the reading of Graph errors into
//! what the reply worker does next ([`Fault`]). Nothing here logs; errors carry the Graph
//! error code and type, never the text sent, the recipient or the token.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::send::{Failure, Fault};
use crate::store::chat::{Messaging, ReplyOptions};

/// Longest text in one message: Messenger takes fewer than 2000 characters.
pub const MAX_TEXT_CHARS: usize = 1999;

/// Where a Facebook reply goes.
#[derive(Debug, Clone, Copy)]
pub enum FacebookTo<'a> {
    /// A Messenger conversation (page-scoped id).
    User(&'a str),
    /// A private reply to a comment on a Page post.
    Comment(&'a str),
}

/// A Graph API client for one Page.
#[derive(Clone)]
pub struct GraphApi {
    http: reqwest::Client,
    /// `{graph_base_url}/{graph_version}`, without a trailing slash.
    base: String,
    token: String,
}

impl std::fmt::Debug for GraphApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("GraphApi").field("base", &self.base).finish_non_exhaustive()
    }
}

/// An app subscribed to the Page's webhooks.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscribedApp {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub subscribed_fields: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct GraphError {
    error: GraphErrorBody,
}

#[derive(Debug, Deserialize)]
struct GraphErrorBody {
    #[serde(default)]
    r#type: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
}

impl GraphApi {
    pub fn new(graph_base_url: &str, graph_version: &str, page_access_token: &str, timeout: Duration) -> GraphApi {
        GraphApi {
            http: crate::net::client(timeout),
            base: format!("{}/{}", graph_base_url.trim_end_matches('/'), graph_version.trim_matches('/')),
            token: page_access_token.to_owned(),
        }
    }

    /// Sends one text; returns the platform's message id.
    ///
    /// The Page token goes in the `Authorization: Bearer` header, not in the `access_token`
    /// query parameter the Graph docs show: URLs end up in proxy logs, error messages and
    /// traces (reqwest's own errors print the URL), headers do not.
    ///
    /// `options` choose the messaging type (`RESPONSE`, `UPDATE`, or `MESSAGE_TAG` with the
    /// `HUMAN_AGENT` tag outside the 24 h window) and add quick replies (a rating request,
    /// R9); a private reply to a comment takes neither.
    pub async fn send(
        &self,
        to: FacebookTo<'_>,
        text: &str,
        reply_id: Uuid,
        options: &ReplyOptions,
    ) -> Result<String, Failure> {
        let text = super::send::fit(text, MAX_TEXT_CHARS);
        let body = match to {
            // metadata comes back in the message_echoes webhook: the pipeline settles a reply
            // left uncertain by a crash with it (Store::confirm_echo).
            FacebookTo::User(psid) => {
                let mut message = json!({ "text": text, "metadata": format!("hue-intake:{reply_id}") });
                if !options.choices.is_empty() {
                    // Titles are at most 20 characters, payloads 1000 (ours are ~35).
                    message["quick_replies"] = options
                        .choices
                        .iter()
                        .map(|c| json!({ "content_type": "text", "title": c.title, "payload": c.payload }))
                        .collect();
                }
                let mut body = json!({ "recipient": { "id": psid }, "message": message });
                match options.messaging.unwrap_or(Messaging::Response) {
                    Messaging::Response => body["messaging_type"] = json!("RESPONSE"),
                    Messaging::Update => body["messaging_type"] = json!("UPDATE"),
                    Messaging::HumanAgent => {
                        body["messaging_type"] = json!("MESSAGE_TAG");
                        body["tag"] = json!("HUMAN_AGENT");
                    }
                }
                body
            }
            // A private reply: the recipient is the comment; no messaging_type (no window).
            FacebookTo::Comment(comment_id) => json!({
                "recipient": { "comment_id": comment_id },
                "message": { "text": text },
            }),
        };
        let response =
            self.http.post(format!("{}/me/messages", self.base)).bearer_auth(&self.token).json(&body).send().await;
        let bytes = success_body(response).await?;
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match answer.get("message_id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => Ok(id.to_owned()),
            // 2xx without a message id: Facebook may well have delivered it, so it must not
            // be sent again.
            _ => Err(Failure::new(Fault::Uncertain, "Facebook answered 2xx without a message_id")),
        }
    }

    /// The apps subscribed to the Page's webhooks, and to which fields.
    pub async fn subscribed_apps(&self, page_id: &str) -> Result<Vec<SubscribedApp>, Failure> {
        let response =
            self.http.get(format!("{}/{page_id}/subscribed_apps", self.base)).bearer_auth(&self.token).send().await;
        let bytes = success_body(response).await?;
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            data: Vec<SubscribedApp>,
        }
        serde_json::from_slice::<Answer>(&bytes)
            .map(|a| a.data)
            .map_err(|_| Failure::new(Fault::Transient, "Facebook's subscribed_apps answer is not the documented JSON"))
    }
}

/// A request that failed on the way: never the URL (reqwest's Display carries it).
/// The body of a 2xx answer; anything else as the Graph API's failure.
async fn success_body(response: Result<reqwest::Response, reqwest::Error>) -> Result<bytes::Bytes, Failure> {
    let response = response.map_err(transport)?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(transport)?;
    if !status.is_success() {
        return Err(graph_failure(status.as_u16(), &bytes));
    }
    Ok(bytes)
}

fn transport(e: reqwest::Error) -> Failure {
    Failure::new(Fault::Transient, format!("Facebook Graph API {}", crate::net::failure_reason(&e)))
}

/// What a Graph error means for the reply (reference/channels.md §1.9; Graph error codes).
fn graph_failure(status: u16, body: &[u8]) -> Failure {
    let Ok(GraphError { error }) = serde_json::from_slice::<GraphError>(body) else {
        // A proxy's or load balancer's page: nothing was delivered, try again later.
        return Failure::new(Fault::Transient, format!("Facebook answered HTTP {status}"));
    };
    let code = error.code;
    let sub = error.error_subcode.map(|s| format!(", subcode {s}")).unwrap_or_default();
    let kind = if error.r#type.is_empty() { String::new() } else { format!(" {}", error.r#type) };
    match (code, error.error_subcode) {
        // First: the window error comes as code 10 with this subcode, and is not a
        // permission problem of the Page.
        (551, _) | (_, Some(2018278)) => Failure::new(
            Fault::Permanent,
            format!("Facebook: recipient unavailable or outside the reply window (code {code}{sub})"),
        ),
        (190, _) => Failure::new(Fault::Auth, format!("Facebook refused the Page access token (code 190{sub})")),
        (10 | 200..=299, _) => Failure::new(
            Fault::Auth,
            format!("Facebook refused permission for the Page token (code {code}{sub}); check pages_messaging"),
        ),
        (4 | 32 | 613, _) => Failure::new(Fault::Transient, format!("Facebook rate limit (code {code})")),
        _ if status >= 500 => Failure::new(Fault::Transient, format!("Facebook answered HTTP {status} (code {code})")),
        // Other refusals (bad parameter, comment already answered...) do not improve with
        // time, but nothing was delivered, so retrying within send_attempts is harmless and
        // covers Graph's occasional transient 400s.
        _ => Failure::new(Fault::Transient, format!("Facebook refused the message:{kind} code {code}{sub}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_errors_are_classified() {
        let e = |status, body: &str| graph_failure(status, body.as_bytes());
        assert_eq!(e(401, r#"{"error":{"message":"x","type":"OAuthException","code":190}}"#).fault, Fault::Auth);
        assert_eq!(e(403, r#"{"error":{"code":10}}"#).fault, Fault::Auth);
        assert_eq!(e(403, r#"{"error":{"code":200}}"#).fault, Fault::Auth);
        assert_eq!(e(400, r#"{"error":{"code":613}}"#).fault, Fault::Transient);
        assert_eq!(e(400, r#"{"error":{"code":4}}"#).fault, Fault::Transient);
        assert_eq!(e(400, r#"{"error":{"code":32}}"#).fault, Fault::Transient);
        assert_eq!(e(400, r#"{"error":{"code":551}}"#).fault, Fault::Permanent);
        assert_eq!(e(400, r#"{"error":{"code":10,"error_subcode":2018278}}"#).fault, Fault::Permanent);
        assert_eq!(e(400, r#"{"error":{"code":100,"error_subcode":2018278}}"#).fault, Fault::Permanent);
        assert_eq!(e(502, "<html>bad gateway</html>").fault, Fault::Transient);
        let auth = e(401, r#"{"error":{"message":"Error validating access token: EAAB-secret","code":190}}"#);
        assert!(!auth.reason.contains("EAAB"), "Graph's message is not repeated: {}", auth.reason);
        assert!(auth.reason.contains("code 190"));
    }
}
