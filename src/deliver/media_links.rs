//! Signed, expiring links to report media, for receivers that fetch media by URL (Open311's
//! `media_url`). A link names the file by its SHA-256 and carries its type, an expiry and an
//! HMAC over the three, keyed from the sealing key, so only links the gateway made open
//! files, and only until they expire. Served by `GET /v1/media/{sha256}`.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct MediaLinks {
    key: [u8; 32],
    /// The gateway's public base URL, without a trailing slash.
    public_url: String,
}

impl std::fmt::Debug for MediaLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaLinks").field("public_url", &self.public_url).finish_non_exhaustive()
    }
}

impl MediaLinks {
    /// `sealing_derived` is a key already derived from the sealing key (the sealer's
    /// reporter key); it is derived once more so a link signature is useless for anything else.
    pub fn new(sealing_derived: &[u8], public_url: &str) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(sealing_derived).expect("any key length");
        mac.update(b"hue-intake media links v1");
        MediaLinks { key: mac.finalize().into_bytes().into(), public_url: public_url.trim_end_matches('/').to_owned() }
    }

    /// A link to the file valid until `expires`.
    pub fn link(&self, sha256: &str, mime: &str, expires: DateTime<Utc>) -> String {
        let expires = expires.timestamp();
        format!(
            "{}/v1/media/{sha256}?type={}&expires={expires}&sig={}",
            self.public_url,
            percent(mime),
            self.sign(sha256, mime, expires)
        )
    }

    /// Whether a presented link is one we made and still valid at `now`.
    pub fn verify(&self, sha256: &str, mime: &str, expires: i64, signature: &str, now: DateTime<Utc>) -> bool {
        if now.timestamp() > expires {
            return false;
        }
        let Some(presented) = unhex(signature) else { return false };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(message(sha256, mime, expires).as_bytes());
        mac.verify_slice(&presented).is_ok()
    }

    fn sign(&self, sha256: &str, mime: &str, expires: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(message(sha256, mime, expires).as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn message(sha256: &str, mime: &str, expires: i64) -> String {
    format!("{sha256}\n{mime}\n{expires}")
}

/// Percent-encodes what a MIME type may hold beyond `[A-Za-z0-9.+-]` (the `/`).
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'+' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_verifies_until_it_expires_and_not_when_altered() {
        let links = MediaLinks::new(b"derived key", "https://gw.example/");
        let sha = "ab".repeat(32);
        let now = Utc::now();
        let expires = now + chrono::Duration::hours(1);
        let link = links.link(&sha, "image/jpeg", expires);
        assert!(link.starts_with(&format!("https://gw.example/v1/media/{sha}?type=image%2Fjpeg&expires=")));
        let sig = link.rsplit("sig=").next().unwrap();
        assert!(links.verify(&sha, "image/jpeg", expires.timestamp(), sig, now));
        assert!(!links.verify(&sha, "image/jpeg", expires.timestamp(), sig, expires + chrono::Duration::seconds(1)));
        assert!(!links.verify(&sha, "text/html", expires.timestamp(), sig, now), "the type is signed");
        assert!(!links.verify(&sha, "image/jpeg", expires.timestamp() + 10, sig, now), "the expiry is signed");
        assert!(!links.verify(&"cd".repeat(32), "image/jpeg", expires.timestamp(), sig, now));
        let other = MediaLinks::new(b"another key", "https://gw.example");
        assert!(!other.verify(&sha, "image/jpeg", expires.timestamp(), sig, now));
    }
}
