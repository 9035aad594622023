//! Sealing of personal data and raw messages at rest (R8): XChaCha20-Poly1305 with the row's
//! identity as associated data.
//!
//! A sealed value is `key_id_len ‖ key_id ‖ nonce(24) ‖ ciphertext+tag`: the key id travels
//! with the value so keys can be rotated (new values are sealed with the current key; values
//! sealed under an earlier key open with it while it stays in `privacy.previous_keys`), and
//! the 192-bit random nonce needs no counter. The
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

/// Seals with the current key; opens with whichever configured key a value names.
#[derive(Clone)]
pub struct Sealer {
    key_id: String,
    cipher: XChaCha20Poly1305,
    /// Earlier keys by id: they open, never seal.
    previous: std::collections::BTreeMap<String, XChaCha20Poly1305>,
    /// Key of the keyed hash behind `reporter.ref`, derived from a sealing key so that one
    /// secret is enough to deploy (the current one, or the one `reporter_ref_key_id` names).
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
        Sealer {
            key_id: key_id.to_owned(),
            cipher,
            previous: std::collections::BTreeMap::new(),
            reporter_key: reporter_key_of(key),
        }
    }

    /// The sealer of a rotation: `current` seals, `previous` keys open what they sealed, and
    /// `reporter.ref` is derived from the key named `reporter_ref_key_id` (default: current).
    pub fn with_keys(
        current: (&str, &[u8; 32]),
        previous: &[(String, [u8; 32])],
        reporter_ref_key_id: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut sealer = Sealer::new(current.0, current.1);
        for (id, key) in previous {
            if id == current.0 {
                anyhow::bail!("privacy.previous_keys.{id}: the current key's id cannot also be a previous key");
            }
            sealer.previous.insert(id.clone(), XChaCha20Poly1305::new_from_slice(key).expect("32-byte key"));
        }
        if let Some(id) = reporter_ref_key_id.filter(|id| *id != current.0) {
            let key = previous.iter().find(|(known, _)| known == id).map(|(_, key)| key).ok_or_else(|| {
                anyhow::anyhow!("privacy.reporter_ref_key_id = {id:?} names no key in privacy.previous_keys")
            })?;
            sealer.reporter_key = reporter_key_of(key);
        }
        Ok(sealer)
    }

    /// The sealer of the configuration: the configured key (with the earlier ones of a
    /// rotation), or a development key kept in the data directory (made on first use, with a
    /// warning), so a first run needs no setup.
    pub fn from_config(privacy: &crate::config::Privacy, data_dir: &Path) -> anyhow::Result<Self> {
        let key = match &privacy.seal_key {
            Some(encoded) => decode_key(encoded).context("privacy.seal_key")?,
            None => dev_key(data_dir)?,
        };
        let previous = privacy
            .previous_keys
            .iter()
            .map(|(id, encoded)| {
                Ok((id.clone(), decode_key(encoded).with_context(|| format!("privacy.previous_keys.{id}"))?))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Sealer::with_keys((&privacy.seal_key_id, &key), &previous, privacy.reporter_ref_key_id.as_deref())
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
        let cipher = if key_id == self.key_id.as_bytes() {
            &self.cipher
        } else {
            let id = String::from_utf8_lossy(key_id);
            self.previous.get(id.as_ref()).ok_or_else(|| SealError::UnknownKey(id.into_owned()))?
        };
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| SealError::Format)?;
        cipher.decrypt(&nonce, Payload { msg: ciphertext, aad: associated }).map_err(|_| SealError::Open)
    }
}

/// The key of the keyed hash behind `reporter.ref`, derived from a sealing key.
fn reporter_key_of(key: &[u8; 32]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(b"hue-intake reporter-ref v1");
    mac.finalize().into_bytes().into()
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

    fn privacy(key: Option<&str>, id: &str) -> crate::config::Privacy {
        crate::config::Privacy {
            seal_key: key.map(str::to_owned),
            seal_key_id: id.to_owned(),
            previous_keys: Default::default(),
            reporter_ref_key_id: None,
        }
    }

    #[test]
    fn after_a_rotation_new_values_use_the_new_key_old_ones_still_open_and_references_stay() {
        let b64 = |k: [u8; 32]| base64::engine::general_purpose::STANDARD.encode(k);
        let dir = tempfile::tempdir().unwrap();
        let before = Sealer::from_config(&privacy(Some(&b64([1; 32])), "k1"), dir.path()).unwrap();
        let old_value = before.seal(b"0905 123 456", b"record-1");

        let mut rotated = privacy(Some(&b64([2; 32])), "k2");
        rotated.previous_keys.insert("k1".into(), b64([1; 32]));
        rotated.reporter_ref_key_id = Some("k1".into());
        let after = Sealer::from_config(&rotated, dir.path()).unwrap();
        assert_eq!(after.open(&old_value, b"record-1").unwrap(), b"0905 123 456", "old values open");
        let new_value = after.seal(b"0914 222 333", b"record-2");
        assert_eq!(&new_value[1..3], b"k2", "new values are sealed with the new key");
        assert!(matches!(before.open(&new_value, b"record-2"), Err(SealError::UnknownKey(k)) if k == "k2"));
        assert_eq!(after.reporter_key(), before.reporter_key(), "reporter references do not change");

        // Without pinning, references follow the new key; a pin must name a known key.
        rotated.reporter_ref_key_id = None;
        assert_ne!(Sealer::from_config(&rotated, dir.path()).unwrap().reporter_key(), before.reporter_key());
        rotated.reporter_ref_key_id = Some("k0".into());
        assert!(Sealer::from_config(&rotated, dir.path()).is_err());
        rotated.reporter_ref_key_id = None;
        rotated.previous_keys.insert("k2".into(), b64([3; 32]));
        assert!(Sealer::from_config(&rotated, dir.path()).is_err(), "the current id is not a previous key");
    }

    #[test]
    fn dev_key_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Sealer::from_config(&privacy(None, "k1"), dir.path()).unwrap();
        let b = Sealer::from_config(&privacy(None, "k1"), dir.path()).unwrap();
        let sealed = a.seal(b"secret", b"row");
        assert_eq!(b.open(&sealed, b"row").unwrap(), b"secret");
        assert_eq!(a.reporter_key(), b.reporter_key());
    }

    #[test]
    fn configured_keys_must_be_32_bytes_of_base64() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Sealer::from_config(&privacy(Some("not base64!"), "k1"), dir.path()).is_err());
        assert!(Sealer::from_config(&privacy(Some("AAAA"), "k1"), dir.path()).is_err());
        let key = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(Sealer::from_config(&privacy(Some(&key), "k1"), dir.path()).is_ok());
        assert!(!dir.path().join("seal.key").exists(), "no dev key when one is configured");
    }
}
