//! Webhook signatures as the platforms compute them, for the tests, the benchmarks and the
//! chaos harness that post signed bodies (one implementation, so a change of scheme is made
//! once): Messenger's `X-Hub-Signature-256` and Zalo's `X-ZEvent-Signature`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// `X-Hub-Signature-256`: `sha256=` and the hex HMAC-SHA256 of the body with the app secret.
pub fn facebook(app_secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(app_secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// `X-ZEvent-Signature`: `mac=` and the hex SHA-256 of app id, body, timestamp and OA secret.
pub fn zalo(app_id: &str, oa_secret: &str, body: &[u8], timestamp: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [app_id.as_bytes(), body, timestamp.as_bytes(), oa_secret.as_bytes()] {
        hasher.update(part);
    }
    format!("mac={}", hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
