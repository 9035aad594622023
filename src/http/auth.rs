//! Bearer tokens of first-party clients, each bound to its channel, and of staff and the
//! case system on the admin API (R12), each bound to its role. The two sets are separate: a
//! client's token never opens the admin API.
//!
//! Credentials are read from the `Authorization` header only; one in a query string is
//! refused ([`refuse_query_credentials`]).
//!
//! Tokens are kept only as SHA-256 digests and looked up by digest, so comparing a presented
//! token does not leak its prefix through timing, and a memory dump does not show tokens.

use std::collections::HashMap;

use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hue_intake_schemas::Channel;
use sha2::{Digest, Sha256};

use super::problem::Problem;
use crate::config::StaffRole;

/// A configured client.
#[derive(Debug, Clone)]
pub struct Client {
    pub name: String,
    pub channel: Channel,
}

#[derive(Debug, Clone, Default)]
pub struct Clients {
    by_digest: HashMap<[u8; 32], Client>,
}

impl Clients {
    pub fn new<'a>(clients: impl IntoIterator<Item = (&'a str, Channel, &'a str)>) -> Self {
        let by_digest = clients
            .into_iter()
            .map(|(name, channel, token)| (digest(token), Client { name: name.to_owned(), channel }))
            .collect();
        Clients { by_digest }
    }

    /// The client behind the request's `Authorization: Bearer …`, or 401.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<&Client, Problem> {
        let token = bearer(headers)?;
        self.by_digest.get(&digest(token)).ok_or_else(|| Problem::unauthorized("unknown token"))
    }
}

/// A configured member of staff, or the case system, on the admin API.
#[derive(Debug, Clone)]
pub struct StaffMember {
    /// The config table's name: the actor recorded in the sanctions audit.
    pub name: String,
    pub role: StaffRole,
}

#[derive(Debug, Clone, Default)]
pub struct Staff {
    by_digest: HashMap<[u8; 32], StaffMember>,
}

impl Staff {
    pub fn new<'a>(members: impl IntoIterator<Item = (&'a str, StaffRole, &'a str)>) -> Self {
        let by_digest = members
            .into_iter()
            .map(|(name, role, token)| (digest(token), StaffMember { name: name.to_owned(), role }))
            .collect();
        Staff { by_digest }
    }

    /// The member behind the request's bearer token, or 401.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<&StaffMember, Problem> {
        let token = bearer(headers)?;
        self.by_digest.get(&digest(token)).ok_or_else(|| Problem::unauthorized("unknown token"))
    }
}

pub fn bearer(headers: &HeaderMap) -> Result<&str, Problem> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Problem::unauthorized("send Authorization: Bearer <token>"))?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(|| Problem::unauthorized("the Authorization header must be Bearer <token>"))
}

/// Query parameters that carry a credential (names compared case-insensitively).
const QUERY_CREDENTIALS: [&str; 6] = ["access_token", "token", "api_key", "apikey", "bearer", "authorization"];

/// Middleware: on the API (`/v1/…`) a credential in the query string is refused (401) before
/// any handler runs, even next to a valid `Authorization` header. A URL ends up in access
/// logs, proxies, browser history and `Referer` headers: a token there has leaked, and
/// refusing it makes the client's mistake visible at once (found by the hostile suite: such a
/// request was served). Signed media links carry `sig`, bound to one file and expiring: not
/// a client's credential. The refusal never quotes the query.
pub async fn refuse_query_credentials(request: Request, next: Next) -> Response {
    let carries = request.uri().path().starts_with("/v1/")
        && request.uri().query().is_some_and(|query| {
            query.split('&').any(|pair| {
                let name = percent_decoded(pair.split('=').next().unwrap_or_default()).to_ascii_lowercase();
                QUERY_CREDENTIALS.contains(&name.as_str())
            })
        });
    if carries {
        return Problem::unauthorized("credentials go in the Authorization header, never in the URL").into_response();
    }
    next.run(request).await
}

/// `%XX` escapes decoded (a parameter name may be written `access%5Ftoken`).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
