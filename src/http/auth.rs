//! Bearer tokens of first-party clients, each bound to its channel.
//!
//! Tokens are kept only as SHA-256 digests and looked up by digest, so comparing a presented
//! token does not leak its prefix through timing, and a memory dump does not show tokens.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use hue_intake_schemas::Channel;
use sha2::{Digest, Sha256};

use super::problem::Problem;

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
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| Problem::unauthorized("send Authorization: Bearer <token>"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| Problem::unauthorized("the Authorization header must be Bearer <token>"))?;
        self.by_digest.get(&digest(token)).ok_or_else(|| Problem::unauthorized("unknown token"))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
