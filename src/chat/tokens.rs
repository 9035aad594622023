//! The Zalo OA tokens the gateway renews itself: kept sealed in the store
//! (`channel_tokens`, row `zalo`), seeded from the configuration while the store has none,
//! renewed before the access token expires and whenever Zalo says it has (`-216`).
//!
//! Every renewal's new refresh token is stored at once, before the new access token is used:
//! Zalo's refresh tokens may be good for one use only, so losing one would lock the OA out
//! until someone authorises it again. Renewals are serialised (one lock), so two sends that
//! both meet `-216` renew once. No token is ever logged, nor put in an error.

use chrono::{DateTime, Utc};
use hue_intake_schemas::Channel;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::send::{Failure, Fault};
use super::zalo_api::ZaloApi;
use crate::seal::Sealer;
use crate::store::Store;
use crate::store::replies::StoredToken;

/// Associated data of the sealed row: a sealed value copied to another row does not open.
pub const ZALO_AAD: &[u8] = b"channel_tokens:zalo";

/// Renew when the access token has less than this left.
pub const RENEW_BEFORE: chrono::Duration = chrono::Duration::hours(1);

/// The OA's token pair.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenPair(..)")
    }
}

/// What the holder knows.
struct Held {
    pair: TokenPair,
    expires_at: Option<DateTime<Utc>>,
    /// Renewed but not yet in the store (the store failed): stored again before next use.
    unsaved: bool,
}

/// Keeps and renews the Zalo OA tokens.
pub struct ZaloTokens {
    store: Store,
    sealer: Sealer,
    api: ZaloApi,
    app_id: String,
    app_secret_key: String,
    /// From the configuration: used only while the store has no tokens.
    seed: Option<TokenPair>,
    /// Also the renewal lock: held across a renewal, so renewals run one at a time.
    held: Mutex<Option<Held>>,
}

impl ZaloTokens {
    pub fn new(
        store: Store,
        sealer: Sealer,
        api: ZaloApi,
        app_id: String,
        app_secret_key: String,
        seed: Option<TokenPair>,
    ) -> ZaloTokens {
        ZaloTokens { store, sealer, api, app_id, app_secret_key, seed, held: Mutex::new(None) }
    }

    /// An access token to use now: the stored one, renewed first if it expires within
    /// [`RENEW_BEFORE`].
    pub async fn access_token(&self) -> Result<String, Failure> {
        let mut held = self.held.lock().await;
        self.load(&mut held).await?;
        let current = held.as_ref().expect("loaded");
        let expiring = current.expires_at.is_some_and(|at| at - Utc::now() < RENEW_BEFORE);
        if expiring || current.pair.access_token.is_empty() {
            self.renew(&mut held).await?;
        }
        Ok(held.as_ref().expect("loaded").pair.access_token.clone())
    }

    /// Zalo said `stale` has expired: renews, unless another send already did (then the
    /// newer token is returned without a second renewal).
    pub async fn renew_after_expiry(&self, stale: &str) -> Result<String, Failure> {
        let mut held = self.held.lock().await;
        self.load(&mut held).await?;
        if held.as_ref().expect("loaded").pair.access_token == stale {
            self.renew(&mut held).await?;
        }
        Ok(held.as_ref().expect("loaded").pair.access_token.clone())
    }

    /// Fills `held` from the store, seeding the store from the configuration when it has
    /// nothing; stores a renewal the store missed.
    async fn load(&self, held: &mut Option<Held>) -> Result<(), Failure> {
        if let Some(h) = held.as_mut() {
            if h.unsaved {
                save(&self.store, &self.sealer, &h.pair, h.expires_at, false).await.map_err(stored)?;
                h.unsaved = false;
            }
            return Ok(());
        }
        if let Some((pair, expires_at)) = load(&self.store, &self.sealer).await? {
            *held = Some(Held { pair, expires_at, unsaved: false });
            return Ok(());
        }
        let Some(seed) = self.seed.clone() else {
            return Err(Failure::new(Fault::Auth, "no Zalo tokens: set zalo.access_token and zalo.refresh_token"));
        };
        // Only if still absent: never overwrite a renewal with the configuration's old pair.
        save(&self.store, &self.sealer, &seed, None, true).await.map_err(stored)?;
        let (pair, expires_at) = load(&self.store, &self.sealer)
            .await?
            .ok_or_else(|| Failure::new(Fault::Transient, "the Zalo tokens were not found after seeding"))?;
        *held = Some(Held { pair, expires_at, unsaved: false });
        Ok(())
    }

    async fn renew(&self, held: &mut Option<Held>) -> Result<(), Failure> {
        let current = held.as_mut().expect("loaded before renewing");
        let renewed = self.api.renew(&self.app_id, &self.app_secret_key, &current.pair.refresh_token).await?;
        let expires_at =
            renewed.expires_in.map(|s| Utc::now() + chrono::Duration::seconds(s.min(i64::MAX as u64) as i64));
        current.pair = TokenPair { access_token: renewed.access_token, refresh_token: renewed.refresh_token };
        current.expires_at = expires_at;
        current.unsaved = true;
        metrics::counter!("hue_intake_token_renewals_total", "channel" => "zalo").increment(1);
        // At once: the old refresh token may be spent now.
        save(&self.store, &self.sealer, &current.pair, expires_at, false).await.map_err(|e| {
            tracing::error!(channel = "zalo", error = %e, "Renewed the Zalo tokens but could not store them; keeping them in memory and storing again before next use.");
            stored(e)
        })?;
        current.unsaved = false;
        tracing::info!(channel = "zalo", expires_at = ?expires_at, "Renewed the Zalo OA access token.");
        Ok(())
    }
}

fn stored(e: crate::store::StoreError) -> Failure {
    Failure::new(Fault::Transient, format!("storing the Zalo tokens failed: {e}"))
}

/// The stored Zalo tokens, opened.
pub async fn load(store: &Store, sealer: &Sealer) -> Result<Option<(TokenPair, Option<DateTime<Utc>>)>, Failure> {
    let Some(row) = store
        .channel_token(Channel::Zalo)
        .await
        .map_err(|e| Failure::new(Fault::Transient, format!("reading the Zalo tokens: {e}")))?
    else {
        return Ok(None);
    };
    let plain = sealer
        .open(&row.sealed, ZALO_AAD)
        .map_err(|e| Failure::new(Fault::Auth, format!("the stored Zalo tokens do not open: {e}")))?;
    let pair: TokenPair = serde_json::from_slice(&plain)
        .map_err(|_| Failure::new(Fault::Auth, "the stored Zalo tokens are not in the expected form"))?;
    Ok(Some((pair, row.expires_at)))
}

/// Seals and stores the Zalo tokens (`only_if_absent`: seeding).
pub async fn save(
    store: &Store,
    sealer: &Sealer,
    pair: &TokenPair,
    expires_at: Option<DateTime<Utc>>,
    only_if_absent: bool,
) -> Result<(), crate::store::StoreError> {
    let plain = serde_json::to_vec(pair).expect("strings serialise");
    let sealed = sealer.seal(&plain, ZALO_AAD);
    store.put_channel_token(Channel::Zalo, StoredToken { sealed, expires_at }, only_if_absent).await
}
