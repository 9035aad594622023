//! The canonical report v1 (SPEC §1): the one record every inbound message ends up in.
//!
//! Personal data never has a field here (R8): the reporter appears only as a pseudonymous
//! `ref` and `has_*` flags. Enumerations serialise in `snake_case` exactly as SPEC §1 writes
//! them; `Option` fields serialise as `null` rather than being omitted, because the case
//! system's parsers expect every key to be present.

use chrono::{DateTime, FixedOffset, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The value of the `schema` field of every v1 record.
pub const REPORT_SCHEMA_ID: &str = "hue-intake.report.v1";

/// One canonical record: a new report, an interaction on one, or a rating of one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "hue-intake canonical report v1")]
pub struct Report {
    /// Always `hue-intake.report.v1`.
    #[schemars(regex(pattern = r"^hue-intake\.report\.v1$"))]
    pub schema: String,
    /// UUIDv7 made by the gateway.
    pub id: Uuid,
    /// `HUE-XXXX-XXXX` (SPEC §2).
    #[schemars(regex(pattern = r"^HUE-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$"))]
    pub tracking_code: String,
    pub kind: Kind,
    pub channel: Channel,
    /// When the first message of this record reached the gateway (UTC).
    pub received_at: DateTime<Utc>,
    /// When it happened, if the reporter said, with the offset given; else `received_at`.
    pub occurred_at: DateTime<FixedOffset>,
    pub language: Language,
    /// One line, at most 120 Unicode scalar values, NFC.
    #[schemars(length(max = 120))]
    pub title: String,
    pub description: String,
    pub category: Option<Category>,
    pub location: Option<Location>,
    pub media: Vec<MediaItem>,
    pub reporter: Reporter,
    pub urgency: Urgency,
    pub triage: Triage,
    pub disposition: Disposition,
    /// Tracking code (upper case) of the report an interaction or rating is about.
    #[schemars(regex(pattern = r"^HUE-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$"))]
    pub in_reply_to: Option<String>,
    /// The rating, for `kind = rating` (R9).
    pub rating: Option<Rating>,
    /// Every inbound message folded into this record, in order.
    #[schemars(length(min = 1))]
    pub sources: Vec<Source>,
}

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Report,
    Interaction,
    Rating,
}

impl Kind {
    /// The wire name, also the `kind` label of metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Report => "report",
            Kind::Interaction => "interaction",
            Kind::Rating => "rating",
        }
    }
}

/// The six intake channels of R1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    App,
    Portal,
    Hotline,
    Facebook,
    Zalo,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 6] =
        [Channel::App, Channel::Portal, Channel::Hotline, Channel::Facebook, Channel::Zalo, Channel::Email];

    /// The wire name, as in message ids (`app:<id>`) and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::App => "app",
            Channel::Portal => "portal",
            Channel::Hotline => "hotline",
            Channel::Facebook => "facebook",
            Channel::Zalo => "zalo",
            Channel::Email => "email",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            format!("unknown channel `{s}` (expected one of app, portal, hotline, facebook, zalo, email)")
        })
    }
}

/// The detected language (R3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Language {
    /// ISO 639-1, or `und` when not detected with confidence.
    #[schemars(regex(pattern = r"^([a-z]{2}|und)$"))]
    pub code: String,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: f64,
}

/// A dispatch hint (SPEC §6), never a reason to reject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub code: CategoryCode,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: f64,
}

/// The category codes of SPEC §6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CategoryCode {
    Waste,
    UrbanOrder,
    Roads,
    LightingPower,
    WaterSupply,
    DrainageFlooding,
    Trees,
    NoiseSecurity,
    NaturalHazard,
    AnimalsHealth,
    HeritageTourism,
    Telecom,
    PublicServices,
    Other,
}

/// Where it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// WGS 84 latitude, or null when only an address is known.
    #[schemars(range(min = -90.0, max = 90.0))]
    pub lat: Option<f64>,
    /// WGS 84 longitude, or null when only an address is known.
    #[schemars(range(min = -180.0, max = 180.0))]
    pub lon: Option<f64>,
    pub source: LocationSource,
    /// The address as given, or null.
    pub address: Option<String>,
    /// One of Huế's 40 units, or null.
    pub ward: Option<Ward>,
    /// Inside Huế; null when unknown.
    pub within_jurisdiction: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocationSource {
    Device,
    PhotoExif,
    Address,
    Operator,
}

/// One of Huế's 40 commune-level units (GSO code and name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ward {
    #[schemars(regex(pattern = r"^[0-9]{5}$"))]
    pub code: String,
    pub name: String,
}

/// A photo, video, sound or file that came with the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaItem {
    pub kind: MediaKind,
    /// Sniffed from the bytes; null when not fetched.
    pub mime: Option<String>,
    /// Null when not fetched.
    pub bytes: Option<u64>,
    /// Lower-case hex SHA-256 of the bytes; null when not fetched.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: Option<String>,
    /// `blob:sha256:<hex>` when stored by the gateway, else the platform's URL.
    pub uri: String,
    /// GPS position from the photo's EXIF, when it had one.
    pub gps: Option<Gps>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    File,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::File => "file",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gps {
    #[schemars(range(min = -90.0, max = 90.0))]
    pub lat: f64,
    #[schemars(range(min = -180.0, max = 180.0))]
    pub lon: f64,
}

/// The reporter, pseudonymously (R8). Contact details live in the sealed store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reporter {
    /// Pseudonymous, stable per person; never a phone, email or platform id.
    #[serde(rename = "ref")]
    #[schemars(regex(pattern = r"^rp_[0-9a-f]{32}$"))]
    pub reference: String,
    pub has_name: bool,
    pub has_phone: bool,
    pub has_email: bool,
    /// Consent to reveal contact details to the handling agency (R8).
    pub consent: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Urgency {
    pub level: UrgencyLevel,
    /// The words or facts that made it urgent.
    pub signals: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UrgencyLevel {
    Immediate,
    Normal,
}

/// What the regulation engine found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Triage {
    pub window: Window,
    pub scope: Scope,
    pub scope_reason: Option<ScopeReason>,
    /// R12.
    pub improper_language: bool,
    pub missing: Vec<MissingField>,
}

/// R2: night is [00:00, 07:30) Asia/Ho_Chi_Minh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    Day,
    Night,
}

/// R5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    InScope,
    OutOfScope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeReason {
    Dispute,
    Lawsuit,
    Complaint,
    Denunciation,
}

impl ScopeReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeReason::Dispute => "dispute",
            ScopeReason::Lawsuit => "lawsuit",
            ScopeReason::Complaint => "complaint",
            ScopeReason::Denunciation => "denunciation",
        }
    }
}

/// R4 and R6: what the report lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissingField {
    Description,
    Location,
    Time,
    Name,
    Phone,
    Email,
}

impl MissingField {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MissingField::Description => "description",
            MissingField::Location => "location",
            MissingField::Time => "time",
            MissingField::Name => "name",
            MissingField::Phone => "phone",
            MissingField::Email => "email",
        }
    }
}

/// What happens to the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Disposition {
    pub state: DispositionState,
    /// Why, when not accepted.
    pub reason: Option<DispositionReason>,
    /// When a deferred record goes downstream (RFC 3339 UTC).
    pub deliver_after: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DispositionState {
    Accepted,
    Deferred,
    Incomplete,
    Rejected,
}

impl DispositionState {
    pub fn as_str(self) -> &'static str {
        match self {
            DispositionState::Accepted => "accepted",
            DispositionState::Deferred => "deferred",
            DispositionState::Incomplete => "incomplete",
            DispositionState::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DispositionReason {
    NightNonUrgent,
    OutOfScope,
    ImproperLanguage,
    AccountLocked,
    InteractionLocked,
    MissingInformation,
}

impl DispositionReason {
    /// The wire name, also the `reason` label of metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DispositionReason::NightNonUrgent => "night_non_urgent",
            DispositionReason::OutOfScope => "out_of_scope",
            DispositionReason::ImproperLanguage => "improper_language",
            DispositionReason::AccountLocked => "account_locked",
            DispositionReason::InteractionLocked => "interaction_locked",
            DispositionReason::MissingInformation => "missing_information",
        }
    }
}

/// R9's three levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    Satisfied,
    Acceptable,
    Unsatisfied,
}

/// One inbound message folded into the record (R7: the raw bytes are kept, with this hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// `<channel>:<native id>` (SPEC §8).
    pub message_id: String,
    pub received_at: DateTime<Utc>,
    /// SHA-256 (lower-case hex) of the exact bytes received.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub raw_sha256: String,
}
