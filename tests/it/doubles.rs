//! Local doubles of the platforms' APIs: the Facebook Graph API (Send API, subscribed_apps)
//! and Zalo's OpenAPI (message/cs) and OAuth (access_token renewal). Small axum servers on
//! 127.0.0.1:0 that check every request against the documented shape (path, method, headers,
//! JSON or form fields), record what they got, and answer like the platform would. A request
//! of the wrong shape is answered with an error *and* recorded in `problems`, which every
//! test asserts empty.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const GRAPH_VERSION: &str = "v21.0";
pub const PAGE_ID: &str = "102938475610293";

/// One request as the double got it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

async fn read(request: Request) -> Seen {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    Seen {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    }
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    keys.sort_unstable();
    keys
}

// ---------------------------------------------------------------------------------------
// Facebook Graph API

#[derive(Default)]
struct GraphState {
    token: String,
    messages: Vec<Seen>,
    other: Vec<Seen>,
    problems: Vec<String>,
    /// Answers for the next sends, in order; then success.
    script: VecDeque<(u16, Value)>,
    subscribed_apps: Value,
}

/// The Graph API double.
#[derive(Clone)]
pub struct Graph {
    pub base: String,
    state: Arc<Mutex<GraphState>>,
}

impl Graph {
    pub async fn start(token: &str) -> Graph {
        let state = Arc::new(Mutex::new(GraphState {
            token: token.to_owned(),
            subscribed_apps: json!({ "data": [] }),
            ..GraphState::default()
        }));
        let router = Router::new().fallback(graph).with_state(state.clone());
        Graph { base: serve(router).await, state }
    }

    /// The next send is answered with this status and body.
    pub fn then_answer(&self, status: u16, body: Value) {
        self.state.lock().unwrap().script.push_back((status, body));
    }

    pub fn set_subscribed_apps(&self, body: Value) {
        self.state.lock().unwrap().subscribed_apps = body;
    }

    /// The Send API calls received, in order.
    pub fn messages(&self) -> Vec<Seen> {
        self.state.lock().unwrap().messages.clone()
    }

    /// Requests of the wrong shape, described.
    pub fn problems(&self) -> Vec<String> {
        self.state.lock().unwrap().problems.clone()
    }
}

/// What is wrong with a Send API request, by the documented shape (channels.md §1.9).
fn send_api_problem(seen: &Seen, token: &str) -> Option<String> {
    if seen.query.as_deref().is_some_and(|q| q.contains("access_token")) {
        return Some("the token is in the query string".into());
    }
    if seen.header("authorization") != Some(&format!("Bearer {token}")) {
        return Some(format!("authorization header is {:?}", seen.header("authorization").map(|_| "<other>")));
    }
    if !seen.header("content-type").is_some_and(|c| c.starts_with("application/json")) {
        return Some("content-type is not JSON".into());
    }
    let body = seen.json();
    let text = body.pointer("/message/text").and_then(Value::as_str).unwrap_or("");
    if text.is_empty() || text.chars().count() >= 2000 {
        return Some(format!("message.text has {} characters", text.chars().count()));
    }
    match keys(&body["recipient"]).as_slice() {
        ["id"] => {
            // RESPONSE / UPDATE inside the 24 h window; MESSAGE_TAG needs a tag, and the only
            // one the gateway may use is HUMAN_AGENT (channels.md §1.9).
            match body["messaging_type"].as_str() {
                Some("RESPONSE" | "UPDATE") if keys(&body) == ["message", "messaging_type", "recipient"] => {}
                Some("MESSAGE_TAG") if keys(&body) == ["message", "messaging_type", "recipient", "tag"] => {
                    if body["tag"] != "HUMAN_AGENT" {
                        return Some(format!("tag {}", body["tag"]));
                    }
                }
                _ => return Some(format!("messaging_type {} with keys {:?}", body["messaging_type"], keys(&body))),
            }
            let message_keys = keys(&body["message"]);
            if message_keys != ["metadata", "text"] && message_keys != ["metadata", "quick_replies", "text"] {
                return Some(format!("message keys {message_keys:?}"));
            }
            if let Some(quick) = body["message"].get("quick_replies") {
                let quick = quick.as_array().cloned().unwrap_or_default();
                if quick.is_empty() || quick.len() > 13 {
                    return Some(format!("{} quick replies", quick.len()));
                }
                for q in &quick {
                    let title = q["title"].as_str().unwrap_or("");
                    let payload = q["payload"].as_str().unwrap_or("");
                    if keys(q) != ["content_type", "payload", "title"]
                        || q["content_type"] != "text"
                        || title.is_empty()
                        || title.chars().count() > 20
                        || payload.is_empty()
                        || payload.chars().count() > 1000
                    {
                        return Some(format!("quick reply {q}"));
                    }
                }
            }
            let metadata = body["message"]["metadata"].as_str().unwrap_or("");
            let id = metadata.strip_prefix("hue-intake:").unwrap_or("");
            if uuid::Uuid::parse_str(id).is_err() {
                return Some(format!("metadata {metadata:?} is not hue-intake:<uuid>"));
            }
        }
        ["comment_id"] => {
            if keys(&body) != ["message", "recipient"] {
                return Some(format!("private reply top-level keys {:?}", keys(&body)));
            }
            if keys(&body["message"]) != ["text"] {
                return Some(format!("private reply message keys {:?}", keys(&body["message"])));
            }
        }
        other => return Some(format!("recipient keys {other:?}")),
    }
    None
}

async fn graph(State(state): State<Arc<Mutex<GraphState>>>, request: Request) -> Response {
    let seen = read(request).await;
    let mut s = state.lock().unwrap();
    let messages_path = format!("/{GRAPH_VERSION}/me/messages");
    let apps_path = format!("/{GRAPH_VERSION}/{PAGE_ID}/subscribed_apps");
    if seen.method == Method::POST && seen.path == messages_path {
        s.messages.push(seen.clone());
        if let Some(problem) = send_api_problem(&seen, &s.token) {
            s.problems.push(problem.clone());
            return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": {"message": problem, "code": 100}})))
                .into_response();
        }
        if let Some((status, body)) = s.script.pop_front() {
            return (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
        }
        let n = s.messages.len();
        let recipient = seen.json()["recipient"]["id"].as_str().unwrap_or("").to_owned();
        return axum::Json(json!({ "recipient_id": recipient, "message_id": format!("m_{n}") })).into_response();
    }
    if seen.method == Method::GET && seen.path == apps_path {
        s.other.push(seen.clone());
        if seen.header("authorization") != Some(&format!("Bearer {}", s.token)) || seen.query.is_some() {
            s.problems.push("subscribed_apps without the Bearer token, or with a query".into());
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": {"message": "bad token", "code": 190}})))
                .into_response();
        }
        return axum::Json(s.subscribed_apps.clone()).into_response();
    }
    s.problems.push(format!("unexpected {} {}", seen.method, seen.path));
    StatusCode::NOT_FOUND.into_response()
}

// ---------------------------------------------------------------------------------------
// Zalo OpenAPI and OAuth

pub const ZALO_APP_ID: &str = "4411223344556677889";
pub const ZALO_SECRET: &str = "zalo-app-secret-key-for-tests";

struct ZaloState {
    /// The access token the double accepts now; others get -216.
    access: String,
    /// The refresh token the double accepts now (once).
    refresh: String,
    renewals: usize,
    messages: Vec<Seen>,
    refreshes: Vec<Seen>,
    problems: Vec<String>,
}

/// The Zalo OpenAPI + OAuth double.
#[derive(Clone)]
pub struct Zalo {
    pub base: String,
    state: Arc<Mutex<ZaloState>>,
}

impl Zalo {
    /// A double accepting `access` and, for one renewal, `refresh`.
    pub async fn start(access: &str, refresh: &str) -> Zalo {
        let state = Arc::new(Mutex::new(ZaloState {
            access: access.to_owned(),
            refresh: refresh.to_owned(),
            renewals: 0,
            messages: Vec::new(),
            refreshes: Vec::new(),
            problems: Vec::new(),
        }));
        let router = Router::new().fallback(zalo).with_state(state.clone());
        Zalo { base: serve(router).await, state }
    }

    pub fn messages(&self) -> Vec<Seen> {
        self.state.lock().unwrap().messages.clone()
    }

    pub fn refreshes(&self) -> Vec<Seen> {
        self.state.lock().unwrap().refreshes.clone()
    }

    pub fn problems(&self) -> Vec<String> {
        self.state.lock().unwrap().problems.clone()
    }

    /// The pair the double issued last (what the gateway must now hold).
    pub fn current(&self) -> (String, String) {
        let s = self.state.lock().unwrap();
        (s.access.clone(), s.refresh.clone())
    }
}

/// Tokens the double issues on renewal `n`: long enough that finding one in the database
/// bytes by chance is impossible.
pub fn issued(n: usize) -> (String, String) {
    (format!("zalo-access-token-issued-{n:04}-abcdef"), format!("zalo-refresh-token-issued-{n:04}-abcdef"))
}

/// `application/x-www-form-urlencoded`, decoded.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    };
    std::str::from_utf8(body)
        .unwrap()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn cs_problem(seen: &Seen) -> Option<String> {
    if seen.header("access_token").is_none() {
        return Some("no access_token header".into());
    }
    if seen.header("authorization").is_some() || seen.query.is_some() {
        return Some("token sent some other way than the access_token header".into());
    }
    if !seen.header("content-type").is_some_and(|c| c.starts_with("application/json")) {
        return Some("content-type is not JSON".into());
    }
    let body = seen.json();
    if keys(&body) != ["message", "recipient"] || keys(&body["recipient"]) != ["user_id"] {
        return Some(format!("keys {:?} / recipient {:?}", keys(&body), keys(&body["recipient"])));
    }
    if !body["recipient"]["user_id"].is_string() {
        return Some("recipient.user_id is not a string".into());
    }
    let message: Vec<&str> = keys(&body["message"]).into_iter().filter(|k| *k != "attachment").collect();
    if message != ["text"] && message != ["quote_message_id", "text"] {
        return Some(format!("message keys {message:?}"));
    }
    // Buttons under a text: a template attachment with 1 to 5 buttons of the query kinds,
    // whose payload comes back as the user's text (the OA API v3 button message).
    if let Some(attachment) = body["message"].get("attachment") {
        if attachment["type"] != "template" || keys(&attachment["payload"]) != ["buttons"] {
            return Some(format!("attachment {attachment}"));
        }
        let buttons = attachment["payload"]["buttons"].as_array().cloned().unwrap_or_default();
        if buttons.is_empty() || buttons.len() > 5 {
            return Some(format!("{} buttons", buttons.len()));
        }
        for b in &buttons {
            let kind = b["type"].as_str().unwrap_or("");
            if keys(b) != ["payload", "title", "type"]
                || !matches!(kind, "oa.query.show" | "oa.query.hide")
                || b["title"].as_str().is_none_or(|t| t.is_empty() || t.chars().count() > 100)
                || b["payload"].as_str().is_none_or(|p| p.is_empty() || p.chars().count() > 1000)
            {
                return Some(format!("button {b}"));
            }
        }
    }
    if body["message"]["text"].as_str().unwrap_or("").is_empty() {
        return Some("empty text".into());
    }
    None
}

async fn zalo(State(state): State<Arc<Mutex<ZaloState>>>, request: Request) -> Response {
    let seen = read(request).await;
    let mut s = state.lock().unwrap();
    if seen.method == Method::POST && seen.path == "/v3.0/oa/message/cs" {
        s.messages.push(seen.clone());
        if let Some(problem) = cs_problem(&seen) {
            s.problems.push(problem);
            return axum::Json(json!({"error": -203, "message": "invalid parameter"})).into_response();
        }
        if seen.header("access_token") != Some(s.access.as_str()) {
            return axum::Json(json!({"error": -216, "message": "Access token is invalid"})).into_response();
        }
        let n = s.messages.len();
        let user_id = seen.json()["recipient"]["user_id"].clone();
        return axum::Json(json!({"error": 0, "message": "Success",
                                  "data": {"message_id": format!("z_{n}"), "user_id": user_id}}))
        .into_response();
    }
    if seen.method == Method::POST && seen.path == "/v4/oa/access_token" {
        s.refreshes.push(seen.clone());
        let fields = form(&seen.body);
        let field = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let problem = if seen.header("secret_key") != Some(ZALO_SECRET) {
            Some("secret_key header missing or wrong".to_owned())
        } else if !seen.header("content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) {
            Some("not a form".to_owned())
        } else if field("app_id") != Some(ZALO_APP_ID) || field("grant_type") != Some("refresh_token") {
            Some(format!("form fields {:?}", fields.iter().map(|(k, _)| k).collect::<Vec<_>>()))
        } else if fields.len() != 3 {
            Some("extra form fields".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            s.problems.push(problem);
            return axum::Json(json!({"error": -14002, "error_name": "Invalid request"})).into_response();
        }
        if field("refresh_token") != Some(s.refresh.as_str()) {
            // A refresh token is good once; an old one is refused (not a shape problem).
            return axum::Json(json!({"error": -14014, "error_name": "Invalid refresh token"})).into_response();
        }
        s.renewals += 1;
        let (access, refresh) = issued(s.renewals);
        s.access = access.clone();
        s.refresh = refresh.clone();
        // expires_in as a string, as Zalo sends it.
        return axum::Json(json!({"access_token": access, "refresh_token": refresh, "expires_in": "90000"}))
            .into_response();
    }
    s.problems.push(format!("unexpected {} {}", seen.method, seen.path));
    StatusCode::NOT_FOUND.into_response()
}
