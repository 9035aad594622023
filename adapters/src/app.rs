//! The mobile app and the web portal (SPEC §7): our own JSON, one message, one record.
//!
//! [`parse`] checks a body strictly (unknown fields, required fields, value ranges) so the
//! service can refuse it with a precise answer before acknowledging; [`normalize`] turns a
//! parsed body into the canonical record and the sealed identity. Media arrive already
//! described ([`crate::attachment`]): the service streams and stores the bytes, this module
//! only places them in the record.

use chrono::{DateTime, FixedOffset, Utc};
use hue_intake_schemas::{
    Category, Channel, Kind, Language, Location, LocationSource, MediaItem, REPORT_SCHEMA_ID, Report, ReportBody,
    Reporter, Source, TrackingCode,
};
use uuid::Uuid;

use unicode_normalization::UnicodeNormalization;

use crate::error::{InputError, Refusal};
use crate::geo::Geo;
use crate::identity::Identity;
use crate::{pii, text, triage};

/// The longest `client_message_id` we take: ids are keys, not documents.
pub const MAX_CLIENT_MESSAGE_ID: usize = 128;
/// The longest description we take, in characters: a field report is a few sentences, and
/// every rule reads the whole text on the receive path.
pub const MAX_DESCRIPTION_CHARS: usize = 16_000;
/// The longest title and address we take, in characters.
pub const MAX_SHORT_TEXT_CHARS: usize = 1_000;

/// What the service knows about a message that the body does not say.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub channel: Channel,
    pub received_at: DateTime<Utc>,
    /// SHA-256 (hex) of the exact bytes received (R7).
    pub raw_sha256: String,
    pub record_id: Uuid,
    pub tracking_code: TrackingCode,
    /// Key of the keyed hash behind `reporter.ref`.
    pub reporter_key: &'a [u8],
    pub geo: &'a Geo,
    pub rules: &'a triage::Rules,
    /// The reporter's standing under R12 when the message arrived.
    pub standing: triage::Standing,
}

/// A canonical record and the personal data that was taken out of it.
#[derive(Debug, Clone)]
pub struct Normalized {
    pub report: Report,
    pub identity: Identity,
    /// Improper language for the service to count or queue for review (R12).
    pub violation: Option<triage::Violation>,
    /// The rule that decided the disposition (for the debug log).
    pub rule: &'static str,
}

/// A body that passed [`parse`]: valid JSON of the right shape with its required fields.
#[derive(Debug, Clone)]
pub struct Checked {
    pub body: ReportBody,
    /// `in_reply_to`, parsed.
    pub in_reply_to: Option<TrackingCode>,
}

impl Checked {
    pub fn kind(&self) -> Kind {
        match (&self.in_reply_to, self.body.rating) {
            (Some(_), Some(_)) => Kind::Rating,
            (Some(_), None) => Kind::Interaction,
            (None, _) => Kind::Report,
        }
    }

    /// `<channel>:<client_message_id>` (SPEC §8).
    pub fn message_id(&self, channel: Channel) -> String {
        format!("{channel}:{}", self.body.client_message_id)
    }
}

/// Parses and checks a `POST /v1/reports` body (or the `report` part of a multipart one).
pub fn parse(body: &[u8]) -> Result<Checked, InputError> {
    let body: ReportBody = InputError::parse_json(body)?;
    check(body)
}

/// The checks that serde's types cannot express.
pub fn check(body: ReportBody) -> Result<Checked, InputError> {
    let id = &body.client_message_id;
    if id.trim().is_empty() {
        return Err(InputError::new(Refusal::Missing, "/client_message_id", "client_message_id must not be empty"));
    }
    if id.chars().count() > MAX_CLIENT_MESSAGE_ID || id.chars().any(char::is_control) {
        return Err(InputError::new(
            Refusal::Invalid,
            "/client_message_id",
            format!("client_message_id must be at most {MAX_CLIENT_MESSAGE_ID} characters without control characters"),
        ));
    }
    let in_reply_to = match &body.in_reply_to {
        None => None,
        Some(code) => Some(
            TrackingCode::parse(code).map_err(|e| InputError::new(Refusal::Invalid, "/in_reply_to", e.to_string()))?,
        ),
    };
    if body.rating.is_some() && in_reply_to.is_none() {
        return Err(InputError::new(
            Refusal::Missing,
            "/in_reply_to",
            "a rating needs in_reply_to: the tracking code of the report it rates (R9)",
        ));
    }
    for (value, pointer, max) in [
        (body.description.as_deref(), "/description", MAX_DESCRIPTION_CHARS),
        (body.title.as_deref(), "/title", MAX_SHORT_TEXT_CHARS),
        (body.location.as_ref().and_then(|l| l.address.as_deref()), "/location/address", MAX_SHORT_TEXT_CHARS),
    ] {
        // Counted in NFC, the form the record keeps (SPEC §8): the same words typed with
        // combining marks (NFD, as some Vietnamese keyboards send them: "ệ" is three scalar
        // values) must get the same answer as precomposed ones, not a refusal at a third of
        // the limit.
        if value.is_some_and(|v| v.nfc().count() > max) {
            return Err(InputError::new(
                Refusal::Invalid,
                pointer,
                format!("{} may be at most {max} characters", &pointer[pointer.rfind('/').unwrap_or(0) + 1..]),
            ));
        }
    }
    let has_description = body.description.as_deref().is_some_and(|d| !text::clean(d).is_empty());
    if !has_description && body.rating.is_none() {
        let what =
            if in_reply_to.is_some() { "an interaction needs its text" } else { "a report needs a description (R4)" };
        return Err(InputError::new(Refusal::Missing, "/description", what));
    }
    if let Some(location) = &body.location {
        match (location.lat, location.lon) {
            (Some(lat), Some(lon)) => {
                if !(-90.0..=90.0).contains(&lat) {
                    return Err(InputError::new(
                        Refusal::Invalid,
                        "/location/lat",
                        "lat must be between -90 and 90 (WGS 84)",
                    ));
                }
                if !(-180.0..=180.0).contains(&lon) {
                    return Err(InputError::new(
                        Refusal::Invalid,
                        "/location/lon",
                        "lon must be between -180 and 180 (WGS 84)",
                    ));
                }
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(InputError::new(Refusal::Missing, "/location/lon", "lat without lon"));
            }
            (None, Some(_)) => {
                return Err(InputError::new(Refusal::Missing, "/location/lat", "lon without lat"));
            }
        }
    }
    Ok(Checked { body, in_reply_to })
}

/// Builds the canonical record of a checked body.
pub fn normalize(checked: &Checked, media: Vec<MediaItem>, ctx: &Context<'_>) -> Normalized {
    let body = &checked.body;
    let kind = checked.kind();
    let message_id = checked.message_id(ctx.channel);

    let inbound_reporter = body.reporter.clone().unwrap_or_default();
    let name = non_empty(inbound_reporter.name.as_deref().map(text::clean));
    let phone_raw = non_empty(inbound_reporter.phone.as_deref().map(text::clean));
    let email = non_empty(inbound_reporter.email.as_deref().map(|e| text::clean(e).to_lowercase()));
    let mut identity = Identity {
        account_id: non_empty(body.account_id.as_deref().map(text::clean)),
        phone_e164: phone_raw.as_deref().and_then(crate::phone::normalize_vn).map(|p| p.e164),
        name,
        phone_raw,
        email,
        consent: body.consent,
        ..Identity::default()
    };

    // Free text: clean, then take contact details out into the sealed identity (SPEC §8).
    let mut scrub = |raw: &str| {
        let scrubbed = pii::scrub_contacts(&text::clean(raw));
        identity.phones_in_text.extend(scrubbed.phones);
        identity.emails_in_text.extend(scrubbed.emails);
        scrubbed.text
    };
    let description = body.description.as_deref().map(&mut scrub).unwrap_or_default();
    let given_title = body.title.as_deref().map(&mut scrub).filter(|t| !t.is_empty());
    let address = body.location.as_ref().and_then(|l| l.address.as_deref()).map(&mut scrub).filter(|a| !a.is_empty());
    dedup(&mut identity.phones_in_text);
    dedup(&mut identity.emails_in_text);
    let mask = |t: String| match &identity.name {
        Some(name) => pii::mask_name(&t, name),
        None => t,
    };
    let description = mask(description);
    let title_given = given_title.is_some();
    let title = match given_title {
        Some(t) => text::clamp_title(&mask(t)),
        None if !description.is_empty() => text::derive_title(&description),
        None => rating_title(checked),
    };
    let language = if description.is_empty() {
        Language { code: "und".to_owned(), confidence: 0.0 }
    } else {
        text::detect_language(&description)
    };

    let mut location = place(body, address, &media, ctx.geo);
    // Coordinates on a call are the operator's (looked up while on the line), not a device's.
    if ctx.channel == Channel::Hotline
        && let Some(location) = location.as_mut().filter(|l| l.source == LocationSource::Device)
    {
        location.source = LocationSource::Operator;
    }
    let occurred_at: DateTime<FixedOffset> = body.occurred_at.unwrap_or_else(|| ctx.received_at.fixed_offset());

    let rule_text = if title_given { format!("{title}\n{description}") } else { description.clone() };
    let facts = triage::Facts {
        kind,
        received_at: ctx.received_at,
        text: &rule_text,
        // A call-centre operator's judgement decides; anyone else's flag is one signal (R2).
        urgent_flag: if ctx.channel == Channel::Hotline {
            triage::UrgentFlag::Operator(body.urgent)
        } else {
            triage::UrgentFlag::Reporter(body.urgent)
        },
        has_description: !description.is_empty(),
        has_location: location.is_some(),
        // The message's own time is the time of the report unless the reporter gives one (R4).
        has_time: true,
        has_name: identity.has_name(),
        has_phone: identity.has_phone(),
        has_email: identity.has_email(),
        standing: ctx.standing,
    };
    let outcome = triage::assess(ctx.rules, &facts);

    let reporter = Reporter {
        reference: identity.reporter_ref(ctx.reporter_key, account_namespace(ctx.channel), &message_id),
        has_name: identity.has_name(),
        has_phone: identity.has_phone(),
        has_email: identity.has_email(),
        consent: identity.consent,
    };

    let report = Report {
        schema: REPORT_SCHEMA_ID.to_owned(),
        id: ctx.record_id,
        tracking_code: ctx.tracking_code.to_string(),
        kind,
        channel: ctx.channel,
        received_at: ctx.received_at,
        occurred_at,
        language,
        title,
        description,
        // The reporter's own choice wins over the keyword hint.
        category: body.category.map(|code| Category { code, confidence: 1.0 }).or(outcome.category),
        location,
        media,
        reporter,
        urgency: outcome.urgency,
        triage: outcome.triage,
        disposition: outcome.disposition,
        in_reply_to: checked.in_reply_to.as_ref().map(ToString::to_string),
        rating: if kind == Kind::Rating { body.rating } else { None },
        sources: vec![Source { message_id, received_at: ctx.received_at, raw_sha256: ctx.raw_sha256.clone() }],
    };
    Normalized { report, identity, violation: outcome.violation, rule: outcome.rule }
}

/// Whose accounts `account_id` names: the app and the portal share Hue-S accounts; a chat
/// platform's ids are its own.
fn account_namespace(channel: Channel) -> &'static str {
    match channel {
        Channel::App | Channel::Portal => "hues",
        other => other.as_str(),
    }
}

/// Device coordinates win over a photo's EXIF; EXIF fills the place only when the message has
/// none; an address alone is placed by name (SPEC §8).
fn place(body: &ReportBody, address: Option<String>, media: &[MediaItem], geo: &Geo) -> Option<Location> {
    let device = body.location.as_ref().and_then(|l| Some((l.lat?, l.lon?)));
    let exif = media.iter().find_map(|m| m.gps).map(|g| (g.lat, g.lon));
    let (coordinates, source) = match (device, exif) {
        (Some(point), _) => (Some(point), LocationSource::Device),
        (None, Some(point)) => (Some(point), LocationSource::PhotoExif),
        (None, None) => (None, LocationSource::Address),
    };
    let placement = match (coordinates, &address) {
        (Some((lat, lon)), _) => geo.locate_point(lat, lon),
        (None, Some(address)) => geo.locate_address(address),
        (None, None) => return None,
    };
    Some(Location {
        lat: coordinates.map(|c| c.0),
        lon: coordinates.map(|c| c.1),
        source,
        address,
        ward: placement.ward,
        within_jurisdiction: placement.within_jurisdiction,
    })
}

fn rating_title(checked: &Checked) -> String {
    let level = match checked.body.rating {
        Some(hue_intake_schemas::Rating::Satisfied) => "Hài lòng",
        Some(hue_intake_schemas::Rating::Acceptable) => "Chấp nhận được",
        Some(hue_intake_schemas::Rating::Unsatisfied) => "Không hài lòng",
        None => "",
    };
    let code = checked.in_reply_to.as_ref().map(ToString::to_string).unwrap_or_default();
    format!("Đánh giá {code}: {level}")
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn dedup(values: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    values.retain(|v| seen.insert(v.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_without_description_is_refused_with_a_pointer() {
        let err = parse(br#"{"client_message_id":"m1","description":"   "}"#).unwrap_err();
        assert_eq!((err.refusal, err.pointer.as_str()), (Refusal::Missing, "/description"));
    }

    #[test]
    fn a_bare_rating_needs_no_description_but_needs_in_reply_to() {
        assert!(parse(br#"{"client_message_id":"m1","rating":"satisfied","in_reply_to":"hue-7kq4-m2xd"}"#).is_ok());
        let err = parse(br#"{"client_message_id":"m1","rating":"satisfied"}"#).unwrap_err();
        assert_eq!(err.pointer, "/in_reply_to");
    }

    #[test]
    fn coordinates_come_in_pairs_and_in_range() {
        let err = parse(br#"{"client_message_id":"m","description":"x","location":{"lat":16.4}}"#).unwrap_err();
        assert_eq!(err.pointer, "/location/lon");
        let err =
            parse(br#"{"client_message_id":"m","description":"x","location":{"lat":96.4,"lon":107.5}}"#).unwrap_err();
        assert_eq!(err.pointer, "/location/lat");
    }

    #[test]
    fn kind_follows_in_reply_to_and_rating() {
        let c =
            parse(r#"{"client_message_id":"m","description":"còn chưa sửa","in_reply_to":"HUE-7KQ4-M2XD"}"#.as_bytes())
                .unwrap();
        assert_eq!(c.kind(), Kind::Interaction);
        assert_eq!(c.in_reply_to.unwrap().as_str(), "HUE-7KQ4-M2XD");
    }

    #[test]
    fn over_long_texts_are_refused_with_their_pointer() {
        let long = "a ".repeat(MAX_DESCRIPTION_CHARS);
        let body = serde_json::json!({"client_message_id": "m", "description": long}).to_string();
        assert_eq!(parse(body.as_bytes()).unwrap_err().pointer, "/description");
        let body =
            serde_json::json!({"client_message_id": "m", "description": "x", "title": "t".repeat(1001)}).to_string();
        assert_eq!(parse(body.as_bytes()).unwrap_err().pointer, "/title");
        // Counted in NFC: "ệ" typed as e + U+0323 + U+0302 is one character, as precomposed.
        let nfd = "e\u{0323}\u{0302}".repeat(MAX_DESCRIPTION_CHARS);
        let body = serde_json::json!({"client_message_id": "m", "description": nfd}).to_string();
        assert!(parse(body.as_bytes()).is_ok());
    }
}
