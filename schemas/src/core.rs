//! What the case system ("the core") sends back about a report (issue 7 item 5):
//! `POST /v1/core/updates`, the handling result that R9 makes public and that the gateway
//! relays to the reporter on their own channel.
//!
//! Unknown fields are refused like every first-party body (SPEC §7): a core that sends a
//! field we do not know has a contract to fix, and the answer names the field's pointer.
//! Only the shape lives here; the relay rules are the service's.

use chrono::{DateTime, FixedOffset};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/core/updates`: one step of a report's handling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "update_id": "core-2026-000481-3",
    "tracking_code": "HUE-7KQ4-M2XD",
    "status": "resolved",
    "agency": "UBND phường Thuận Hóa",
    "message": "Cây đổ đã được dọn, đường Lê Lợi đã thông xe lúc 10:30.",
    "at": "2026-11-29T10:35:00+07:00"
})))]
pub struct CoreUpdate {
    /// The core's idempotency key: a repeat returns the first answer, and relays nothing new.
    #[schemars(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub update_id: String,
    /// The report this update is about (`HUE-XXXX-XXXX`, case-insensitive).
    #[schemars(regex(
        pattern = r"^[Hh][Uu][Ee]-[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{4}-[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{4}$"
    ))]
    #[schema(pattern = r"^[Hh][Uu][Ee]-[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{4}-[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{4}$")]
    pub tracking_code: String,
    pub status: CoreStatus,
    /// The handling agency's name or code (an office, never a person).
    #[schemars(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub agency: String,
    /// Words for the citizen: the public result (R9). Relayed as written.
    #[schemars(length(min = 1, max = 4000))]
    #[schema(min_length = 1, max_length = 4000)]
    pub message: String,
    /// When the core decided this (RFC 3339 with offset).
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<FixedOffset>,
}

/// Where a report stands in the core. A closed set, so that the citizen's text and the
/// metrics never carry a free-form status:
///
/// - `received`: the core has the report and assigned it to `agency`;
/// - `in_progress`: the agency is handling it (also an answer to an interaction, R10);
/// - `resolved`: handled; the result is public (R9) and the reporter is asked to rate it;
/// - `rejected`: the agency will not handle it (the message says why);
/// - `reopened`: handling restarts (after an unsatisfied rating, R11, or new facts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoreStatus {
    Received,
    InProgress,
    Resolved,
    Rejected,
    Reopened,
}

impl CoreStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CoreStatus::Received => "received",
            CoreStatus::InProgress => "in_progress",
            CoreStatus::Resolved => "resolved",
            CoreStatus::Rejected => "rejected",
            CoreStatus::Reopened => "reopened",
        }
    }
}

impl std::str::FromStr for CoreStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| format!("unknown status {s:?}"))
    }
}
