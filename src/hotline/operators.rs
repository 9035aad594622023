//! Operators' bearer tokens: 256 random bits, shown once when issued, kept only as SHA-256.

use base64::Engine as _;
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::store::Store;

/// The digest a token is stored and looked up by.
pub fn digest(token: &str) -> String {
    hue_intake_adapters::attachment::hex(&Sha256::digest(token.as_bytes()))
}

/// Issues (or re-issues) `name`'s token and returns it; only its digest is stored.
pub async fn issue(store: &Store, name: &str) -> anyhow::Result<String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        anyhow::bail!("an operator name is 1 to 64 letters, digits, '-', '_' or '.'");
    }
    let bytes: [u8; 32] = rand::random();
    let token = format!("hop_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    store.put_operator(name, &digest(&token), Utc::now()).await?;
    Ok(token)
}
