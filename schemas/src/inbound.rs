//! First-party inbound bodies (SPEC §7): what the mobile app and the portal post to
//! `POST /v1/reports`.
//!
//! Unknown fields are refused (`deny_unknown_fields`): a first-party client that sends a field
//! we do not know has a bug we want to hear about, unlike the platforms, which add fields at
//! will. Which fields are *required* is checked after parsing by the adapter, so that the
//! answer can name the field with a JSON pointer.

use chrono::{DateTime, FixedOffset};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::report::{CategoryCode, Rating};

/// `POST /v1/reports` (channel `app` or `portal`, fixed by the client's token).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// Client-made id; a repeat returns the first answer (idempotent).
    #[schemars(length(min = 1))]
    #[schema(min_length = 1)]
    pub client_message_id: String,
    /// The citizen's Hue-S account (personal data, sealed).
    #[serde(default)]
    pub account_id: Option<String>,
    /// Contact details (personal data, sealed).
    #[serde(default)]
    pub reporter: Option<InboundReporter>,
    /// Consent to reveal contact details to the handling agency (R8).
    #[serde(default)]
    pub consent: bool,
    /// Optional; derived from the description when absent.
    #[serde(default)]
    pub title: Option<String>,
    /// Required for a report (R4); may be empty for a bare rating.
    #[serde(default)]
    pub description: Option<String>,
    /// When it happened (RFC 3339 with offset).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<DateTime<FixedOffset>>,
    #[serde(default)]
    pub location: Option<InboundLocation>,
    #[serde(default)]
    pub category: Option<CategoryCode>,
    /// The reporter's own flag; the gateway still judges.
    #[serde(default)]
    pub urgent: bool,
    /// A tracking code: makes this an interaction on that report.
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// With `in_reply_to`: makes this a rating (R9).
    #[serde(default)]
    pub rating: Option<Rating>,
    /// Inline media (JSON bodies); multipart bodies send files as parts instead.
    #[serde(default)]
    pub media: Vec<InboundMedia>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundReporter {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundLocation {
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub accuracy_m: Option<f64>,
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundMedia {
    #[serde(default)]
    pub filename: Option<String>,
    /// The client's claim; the gateway sniffs the bytes and ignores it.
    #[serde(default)]
    pub content_type: Option<String>,
    pub data_base64: String,
}

/// `POST /v1/hotline/calls` (SPEC §7): one call to 1900 1075 as the call-centre software or
/// the operator console posts it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallBody {
    /// The call-centre's id of the call; a repeat returns the first answer (idempotent).
    pub call_id: String,
    /// Who took the call (the console fills it from the operator's token).
    #[serde(default)]
    pub operator_id: Option<String>,
    /// Caller ID (personal data, sealed).
    #[serde(default)]
    pub caller_number: Option<String>,
    #[serde(default)]
    pub caller_name: Option<String>,
    #[serde(default)]
    pub caller_email: Option<String>,
    /// Consent to reveal contact details to the handling agency (R8).
    #[serde(default)]
    pub consent: bool,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<DateTime<FixedOffset>>,
    /// What was said, one turn per line (`KH:` the caller, `ĐTV:` the operator); sealed with
    /// the call, since it holds personal data.
    pub transcript: String,
    /// The operator's summary: the description when given.
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    /// The operator's judgement: authoritative (R2).
    #[serde(default)]
    pub urgent: bool,
    #[serde(default)]
    pub category: Option<CategoryCode>,
    /// A tracking code: a follow-up call about that report.
    #[serde(default)]
    pub in_reply_to: Option<String>,
}
