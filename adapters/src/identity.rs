//! Who sent a message: the personal data that goes into the sealed store (R8), and the
//! pseudonymous reference that goes into records instead.
//!
//! The reference is a keyed hash (HMAC-SHA256) of the strongest identifier the channel gives,
//! so it is stable per person without being reversible by anyone who lacks the key.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Personal data of one record's reporter. Serialised only into the sealed store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Platform account (Hue-S account, page-scoped id, Zalo user id, mailbox address).
    pub account_id: Option<String>,
    pub name: Option<String>,
    /// The phone number as given, and its E.164 form when it normalised.
    pub phone_raw: Option<String>,
    pub phone_e164: Option<String>,
    pub email: Option<String>,
    /// Numbers and addresses found in the free text and replaced by placeholders.
    pub phones_in_text: Vec<String>,
    pub emails_in_text: Vec<String>,
    /// Consent to reveal these details to the handling agency (R8).
    pub consent: bool,
}

impl Identity {
    pub fn has_name(&self) -> bool {
        self.name.is_some()
    }

    pub fn has_phone(&self) -> bool {
        self.phone_raw.is_some() || !self.phones_in_text.is_empty()
    }

    pub fn has_email(&self) -> bool {
        self.email.is_some() || !self.emails_in_text.is_empty()
    }

    /// The pseudonymous `reporter.ref`: `rp_` and 32 hex digits of HMAC-SHA256.
    ///
    /// `namespace` names whose accounts these are (`hues` for the app and the portal, which
    /// share Hue-S accounts; `facebook`, `zalo`). The account id wins (it is what R12
    /// sanctions attach to), then the phone, then the
    /// email; an anonymous reporter gets a reference tied to the message, so two anonymous
    /// reports are never linked.
    pub fn reporter_ref(&self, key: &[u8], namespace: &str, message_id: &str) -> String {
        let basis = if let Some(account) = &self.account_id {
            format!("account:{namespace}:{account}")
        } else if let Some(phone) = self.phone_e164.as_ref().or(self.phone_raw.as_ref()) {
            format!("phone:{phone}")
        } else if let Some(email) = &self.email {
            format!("email:{}", email.to_lowercase())
        } else {
            format!("anonymous:{message_id}")
        };
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(basis.as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("rp_{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_is_stable_keyed_and_reveals_nothing() {
        let id = Identity {
            phone_e164: Some("+84905123456".into()),
            phone_raw: Some("0905 123 456".into()),
            ..Identity::default()
        };
        let a = id.reporter_ref(b"key-one", "app", "app:1");
        assert_eq!(a, id.reporter_ref(b"key-one", "zalo", "zalo:2"), "same phone, same person");
        assert_ne!(a, id.reporter_ref(b"key-two", "app", "app:1"), "keyed");
        assert!(a.starts_with("rp_") && a.len() == 35 && !a.contains("905"));
    }

    #[test]
    fn anonymous_reporters_are_never_linked() {
        let anon = Identity::default();
        assert_ne!(anon.reporter_ref(b"k", "app", "app:1"), anon.reporter_ref(b"k", "app", "app:2"));
    }
}
