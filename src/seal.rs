//! Sealing of personal data and raw messages at rest (R8): XChaCha20-Poly1305 with the row's
//! identity as associated data.
//!
//! A sealed value is `key_id_len ‖ key_id ‖ nonce(24) ‖ ciphertext+tag`: the key id travels
//! with the value so keys can be rotated, and the 192-bit random nonce needs no counter. The
//! associated data (a record id, or `channel:message_id` for raw messages) binds a sealed
//! value to its row, so a value copied into another row does not open. This module never
//! logs what it seals.

use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const NONCE_LEN: usize = 24;

/// Seals and opens values with the configured key.
#[derive(Clone)]
pub struct Sealer {
    key_id: String,
    cipher: XChaCha20Poly1305,
    /// Key of the keyed hash behind `reporter.ref`, derived from the sealing key so that one
    /// secret is enough to deploy.
    reporter_key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed value is truncated or not in the sealed format")]
    Format,
    #[error("sealed with key `{0}`, which is not configured")]
    UnknownKey(String),
    #[error("sealed value does not open with this key and row (tampered or misplaced)")]
    Open,
}

impl Sealer {
    pub fn new(key_id: &str, key: &[u8; 32]) -> Self {
        let cipher = XChaCha20Poly1305::new_from_slice(key).expect("32-byte key");
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
        mac.update(b"hue-intake reporter-ref v1");
        let reporter_key = mac.finalize().into_bytes().into();
        Sealer { key_id: key_id.to_owned(), cipher, reporter_key }
    }

    /// The sealer of the configuration: the configured key, or a development key kept in the
    /// data directory (made on first use, with a warning), so a first run needs no setup.
    pub fn from_config(configured: Option<&str>, key_id: &str, data_dir: &Path) -> anyhow::Result<Self> {
        let key = match configured {
            Some(encoded) => decode_key(encoded).context("privacy.seal_key")?,
            None => dev_key(data_dir)?,
        };
        Ok(Sealer::new(key_id, &key))
    }

    pub fn reporter_key(&self) -> &[u8] {
        &self.reporter_key
    }

    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Vec<u8> {
        let nonce = XNonce::generate();
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: associated })
            .expect("encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(1 + self.key_id.len() + NONCE_LEN + ciphertext.len());
        out.push(self.key_id.len() as u8);
        out.extend_from_slice(self.key_id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn open(&self, sealed: &[u8], associated: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&id_len, rest) = sealed.split_first().ok_or(SealError::Format)?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + NONCE_LEN {
            return Err(SealError::Format);
        }
        let (key_id, rest) = rest.split_at(id_len);
        if key_id != self.key_id.as_bytes() {
            return Err(SealError::UnknownKey(String::from_utf8_lossy(key_id).into_owned()));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| SealError::Format)?;
        self.cipher.decrypt(&nonce, Payload { msg: ciphertext, aad: associated }).map_err(|_| SealError::Open)
    }
}

fn decode_key(encoded: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| anyhow::anyhow!("must be base64"))?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("must be 32 bytes (44 base64 characters)"))
}

fn dev_key(data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    let path = data_dir.join("seal.key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return decode_key(&existing).with_context(|| format!("{}", path.display()));
    }
    let key: [u8; 32] = rand::random();
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    write_private(&path, base64::engine::general_purpose::STANDARD.encode(key).as_bytes())?;
    tracing::warn!(
        path = %path.display(),
        "No privacy.seal_key configured: generated a development sealing key. Set privacy.seal_key in production."
    );
    Ok(key)
}

/// Writes a secret readable by the owner only.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding_to_the_row() {
        let sealer = Sealer::new("k1", &[7; 32]);
        let sealed = sealer.seal(b"0905 123 456", b"record-1");
        assert!(!sealed.windows(3).any(|w| w == b"905"), "no plaintext in the sealed value");
        assert_eq!(sealer.open(&sealed, b"record-1").unwrap(), b"0905 123 456");
        assert!(matches!(sealer.open(&sealed, b"record-2"), Err(SealError::Open)));
        let other = Sealer::new("k2", &[7; 32]);
        assert!(matches!(other.open(&sealed, b"record-1"), Err(SealError::UnknownKey(k)) if k == "k1"));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(sealer.open(&tampered, b"record-1"), Err(SealError::Open)));
        assert!(matches!(sealer.open(&sealed[..10], b"record-1"), Err(SealError::Format)));
    }

    #[test]
    fn nonces_differ_between_seals() {
        let sealer = Sealer::new("k1", &[7; 32]);
        assert_ne!(sealer.seal(b"x", b"a"), sealer.seal(b"x", b"a"));
    }

    #[test]
    fn dev_key_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Sealer::from_config(None, "k1", dir.path()).unwrap();
        let b = Sealer::from_config(None, "k1", dir.path()).unwrap();
        let sealed = a.seal(b"secret", b"row");
        assert_eq!(b.open(&sealed, b"row").unwrap(), b"secret");
        assert_eq!(a.reporter_key(), b.reporter_key());
    }

    #[test]
    fn configured_keys_must_be_32_bytes_of_base64() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Sealer::from_config(Some("not base64!"), "k1", dir.path()).is_err());
        assert!(Sealer::from_config(Some("AAAA"), "k1", dir.path()).is_err());
        let key = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(Sealer::from_config(Some(&key), "k1", dir.path()).is_ok());
        assert!(!dir.path().join("seal.key").exists(), "no dev key when one is configured");
    }
}
