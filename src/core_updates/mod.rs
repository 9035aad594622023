//! Results back from the case system ("the core", issue 7 item 5): an update about a report
//! is stored, then relayed to the reporter on their own channel through the reply queue, and
//! a `resolved` result asks for the reporter's rating (R9). R10's one-day answer is watched
//! in [`overdue`].
//!
//! This module decides; it does not send. [`accept`] stores the update and the reply that
//! relays it in one transaction (so a 2xx means both are durable and a repeat of the
//! `update_id` relays nothing twice); the reply worker sends it with its exactly-once states.
//! Nothing here logs the message, the recipient or a token: only the tracking code's record
//! id, the status and the route taken.

pub mod overdue;
pub mod relay;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hue_intake_schemas::{CoreUpdate, TrackingCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::seal::Sealer;
use crate::store::core_updates::{NewCoreUpdate, PutUpdate};
use crate::store::{Store, StoreError};

/// What the relay needs beside the store.
#[derive(Clone)]
pub struct Core {
    pub store: Store,
    pub sealer: Sealer,
    /// Digest of the core's bearer token; `None`: the endpoint is not enabled.
    pub token_digest: Option<[u8; 32]>,
    pub relay: Arc<relay::Settings>,
    /// Added to the clock when judging reply windows (drills and tests).
    pub clock_offset: chrono::Duration,
}

impl Core {
    /// The time the relay judges windows by.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }
}

/// What the relay did: `route` and, when it fell back or gave up, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RelayAnswer {
    /// `facebook` (a normal message inside 24 h), `facebook_tag` (`HUMAN_AGENT`, up to 7
    /// days), `zalo`, `email`, `email_fallback` (the chat window is closed) or `none`.
    pub route: String,
    /// Why a fallback or no relay: `facebook_window_closed`, `facebook_comment`,
    /// `zalo_window_closed`, `zalo_quota_used`, `no_contact`, `channel_not_configured`.
    pub reason: Option<String>,
}

/// The answer to `POST /v1/core/updates`, given again on a repeat of the same `update_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UpdateAnswer {
    pub update_id: String,
    pub tracking_code: String,
    pub status: String,
    /// When the gateway stored it (RFC 3339 UTC).
    pub received_at: String,
    pub relay: RelayAnswer,
    /// A rating request went with the result (status `resolved`, R9).
    pub rating_requested: bool,
}

/// Why an update was not taken.
#[derive(Debug)]
pub enum Refused {
    /// No report has this tracking code.
    UnknownReport,
    /// The `update_id` was used before for a different update.
    Conflict,
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Store(e)
    }
}

/// The fingerprint of an update: a repeat is the same update, anything else a conflict.
fn fingerprint(update: &CoreUpdate) -> String {
    let bytes = serde_json::to_vec(update).expect("updates serialise");
    hue_intake_adapters::attachment::hex(&Sha256::digest(&bytes))
}

/// Stores an update and queues its relay; `received_at` is the wall clock (stored), `now`
/// the clock the windows are judged by ([`Core::now`]). A repeat of an `update_id` returns
/// the first answer and does nothing.
pub async fn accept(
    core: &Core,
    mut update: CoreUpdate,
    code: TrackingCode,
    received_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<UpdateAnswer, Refused> {
    update.tracking_code = code.to_string();
    let fingerprint = fingerprint(&update);
    if let Some(stored) = core.store.core_update(&update.update_id).await? {
        return first_answer(stored.fingerprint == fingerprint, &stored.answer);
    }
    let report = core.store.report_ref(&update.tracking_code).await?.ok_or(Refused::UnknownReport)?;
    let plan = relay::plan(core, &report, &update, &code, now).await?;
    let answer = UpdateAnswer {
        update_id: update.update_id.clone(),
        tracking_code: update.tracking_code.clone(),
        status: update.status.as_str().to_owned(),
        received_at: received_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        relay: RelayAnswer { route: plan.route.to_owned(), reason: plan.reason.map(str::to_owned) },
        rating_requested: plan.rating_requested,
    };
    let row = NewCoreUpdate {
        update_id: update.update_id.clone(),
        fingerprint: fingerprint.clone(),
        tracking_code: update.tracking_code.clone(),
        record_id: report.record_id,
        status: update.status.as_str().to_owned(),
        agency: update.agency.trim().to_owned(),
        message: update.message.clone(),
        at: update.at.with_timezone(&Utc),
        received_at,
        relay: plan.route.to_owned(),
        relay_reason: plan.reason.map(str::to_owned),
        rating_requested: plan.rating_requested,
        answer: serde_json::to_string(&answer).expect("answers serialise"),
    };
    match core.store.put_core_update(row, plan.reply).await? {
        PutUpdate::Stored => {
            metrics::counter!(
                "hue_intake_core_updates_total",
                "status" => update.status.as_str(), "relay" => plan.route
            )
            .increment(1);
            if plan.route == "none" {
                metrics::counter!("hue_intake_core_updates_not_relayed_total", "reason" => plan.reason.unwrap_or("none"))
                    .increment(1);
            }
            tracing::info!(
                record_id = %report.record_id,
                status = update.status.as_str(),
                relay = plan.route,
                reason = plan.reason.unwrap_or("-"),
                "Core update stored."
            );
            Ok(answer)
        }
        // Another request with this update_id committed first.
        PutUpdate::Existing(stored) => first_answer(stored.fingerprint == fingerprint, &stored.answer),
    }
}

fn first_answer(same: bool, answer: &str) -> Result<UpdateAnswer, Refused> {
    if !same {
        return Err(Refused::Conflict);
    }
    serde_json::from_str(answer).map_err(|_| Refused::Store(StoreError::Corrupt("a stored answer".to_owned())))
}

/// Registers the metrics' descriptions.
pub fn describe() {
    metrics::describe_counter!(
        "hue_intake_core_updates_total",
        "Results from the case system stored, by status and how they were relayed (facebook, facebook_tag, zalo, email, email_fallback, none)."
    );
    metrics::describe_counter!(
        "hue_intake_core_updates_not_relayed_total",
        "Results from the case system that reached no citizen, by reason (window closed and no e-mail, no contact)."
    );
    overdue::describe();
}
