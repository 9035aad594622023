//! From raw bytes to a canonical record, per channel: the one code path shared by the receive
//! path (to answer with a disposition), the pipeline (to record) and `hue-intake normalize`.

use chrono::{DateTime, Utc};
use hue_intake_adapters::app::{self, Checked, Context, Normalized};
use hue_intake_adapters::geo::Geo;
use hue_intake_adapters::triage::{Rules, Standing};
use hue_intake_schemas::{Channel, MediaItem, TrackingCode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::Pending;

/// What the receive path learnt beside the raw bytes, stored with the message.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessageMeta {
    /// Media stored at receive, described (multipart parts, inline base64).
    #[serde(default)]
    pub media: Vec<MediaItem>,
    /// The configured client that sent it (its name, not a secret).
    #[serde(default)]
    pub client: Option<String>,
    /// The reporter's standing under R12 when the message arrived, so that re-processing
    /// gives the same record whatever happened since.
    #[serde(default)]
    pub standing: Standing,
}

/// The pure translators with what they need from configuration.
#[derive(Debug, Clone)]
pub struct Decoder {
    pub geo: Geo,
    pub rules: Rules,
    pub reporter_key: Vec<u8>,
}

/// The ids a record gets at receive.
#[derive(Debug, Clone)]
pub struct Assigned<'a> {
    pub channel: Channel,
    pub received_at: DateTime<Utc>,
    pub raw_sha256: &'a str,
    pub record_id: Uuid,
    pub tracking_code: TrackingCode,
    pub standing: Standing,
}

impl Decoder {
    /// The record of an app or portal body.
    pub fn app(&self, checked: &Checked, media: Vec<MediaItem>, assigned: Assigned<'_>) -> Normalized {
        app::normalize(checked, media, &self.context(assigned))
    }

    /// What the pure normalisers need beside a message: its ids and times, and this decoder's
    /// keys, geography and rules.
    pub fn context(&self, assigned: Assigned<'_>) -> Context<'_> {
        Context {
            channel: assigned.channel,
            received_at: assigned.received_at,
            raw_sha256: assigned.raw_sha256.to_owned(),
            record_id: assigned.record_id,
            tracking_code: assigned.tracking_code,
            reporter_key: &self.reporter_key,
            geo: &self.geo,
            rules: &self.rules,
            standing: assigned.standing,
        }
    }

    /// Re-decodes a stored message. An error is the quarantine reason: it names what failed,
    /// never the content.
    pub fn decode_stored(&self, message: &Pending, raw: &[u8]) -> Result<Normalized, String> {
        let meta: MessageMeta =
            serde_json::from_str(&message.meta).map_err(|e| format!("stored meta unreadable: {e}"))?;
        match message.channel {
            Channel::App | Channel::Portal | Channel::Hotline => {
                let parsed = if message.channel == Channel::Hotline {
                    hue_intake_adapters::hotline::parse(raw).map(|(_, checked)| checked)
                } else {
                    app::parse(raw)
                };
                let checked = parsed.map_err(|e| format!("body no longer parses: {} at {}", e.detail, e.pointer))?;
                let (Some(record_id), Some(code)) = (message.record_id, message.tracking_code.as_deref()) else {
                    return Err("message has no record id or tracking code allocated".to_owned());
                };
                let tracking_code = TrackingCode::parse(code).map_err(|e| e.to_string())?;
                Ok(self.app(
                    &checked,
                    meta.media,
                    Assigned {
                        channel: message.channel,
                        received_at: message.received_at,
                        raw_sha256: &message.raw_sha256,
                        record_id,
                        tracking_code,
                        standing: meta.standing,
                    },
                ))
            }
            other => Err(format!("no decoder for channel {other} yet")),
        }
    }
}
