//! Chat assembly (SPEC §3): where each chat event goes, when a draft of several messages is
//! done, and the one canonical record a draft (or an interaction) becomes.
//!
//! Pure, so the pipeline and `hue-intake normalize` fold the same messages into the same
//! record. The service decides what needs the store (was this event seen, which of our
//! messages does a quote point at, is this tracking code a report) and hands the answers in.
//!
//! A draft's record is built through the app channel's normaliser ([`crate::app::normalize`])
//! from a body assembled out of the messages, so the rules of the regulation engine, the
//! scrubbing of personal data and the placing of addresses are the same on every channel.

use chrono::{DateTime, Duration, Utc};
use hue_intake_schemas::{
    Channel, InboundLocation, InboundReporter, Kind, MediaItem, MissingField, Report, ReportBody, Source, TrackingCode,
};

use crate::app::{self, Checked, Context, Normalized};
use crate::chat::{ChatEvent, ChatKind, ChatMessage, CommentVerb};

/// How long a draft stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// A complete draft becomes a record after this much quiet.
    pub quiet: Duration,
    /// Any draft becomes a record this long after its first message.
    pub max: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { quiet: Duration::seconds(120), max: Duration::minutes(30) }
    }
}

/// Where one event goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Stored and counted, no record (SPEC §1, §8); the label says what it was.
    NoRecord(&'static str),
    /// An interaction on the report with this code: a record of its own at once.
    Interaction(TrackingCode),
    /// Into the sender's draft.
    Draft,
    /// A comment edited: its new text replaces the old in the draft, or (after the record)
    /// becomes an interaction on that record.
    CommentEdit,
    /// A comment removed: dropped from the draft, noted after the record.
    CommentRemove,
}

/// The key a redelivered event is recognised by. Comment edits and removals share the
/// comment's id with its addition, so their verb (and an edit's time) is part of the key.
pub fn dedup_key(event: &ChatEvent) -> String {
    match &event.kind {
        ChatKind::Comment { verb: CommentVerb::Edited, .. } => {
            format!("{}#edited@{}", event.message_id, event.sent_at.map_or(0, |t| t.timestamp_millis()))
        }
        ChatKind::Comment { verb: CommentVerb::Remove, .. } => format!("{}#remove", event.message_id),
        _ => event.message_id.clone(),
    }
}

/// The first tracking code written in a text (`HUE-XXXX-XXXX`, any case, also without the
/// dashes' neighbours being spaces: "mã hue-7kq4-m2xd." counts).
pub fn tracking_code_in(text: &str) -> Option<TrackingCode> {
    let bytes = text.as_bytes();
    let upper = text.to_ascii_uppercase();
    let mut from = 0;
    while let Some(found) = upper[from..].find("HUE-") {
        let start = from + found;
        let end = start + 13;
        let bounded_before = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        let bounded_after = end >= bytes.len() || !bytes[end].is_ascii_alphanumeric();
        // `get`, not indexing: 13 bytes on may fall inside a letter ("hue-7kq4ưa đ…").
        if bounded_before
            && bounded_after
            && let Some(candidate) = upper.get(start..end)
            && let Ok(code) = TrackingCode::parse(candidate)
        {
            return Some(code);
        }
        from = start + 4;
    }
    None
}

/// Routes an event. `quoted` is the tracking code of the record our quoted message was about
/// (the service looks the quote up); `known_code` says whether a code written in the text is
/// a report one can answer (offline, every well-formed code is taken).
pub fn route(event: &ChatEvent, quoted: Option<TrackingCode>, known_code: impl Fn(&TrackingCode) -> bool) -> Route {
    // A tap on one of our rating buttons (R9) names its report: a rating of it, whether it
    // came as a quick reply, a postback or a Zalo button's text.
    if let Some((code, _)) = crate::results::rating_of_event(event).filter(|(c, _)| known_code(c)) {
        return Route::Interaction(code);
    }
    let message = match &event.kind {
        ChatKind::Message(m) => m,
        ChatKind::Comment { verb: CommentVerb::Remove, .. } => return Route::CommentRemove,
        ChatKind::Comment { verb: CommentVerb::Edited, .. } => return Route::CommentEdit,
        ChatKind::Comment { message, .. } => message,
        ChatKind::Postback { .. } => return Route::NoRecord("postback"),
        ChatKind::Sticker => return Route::NoRecord("sticker"),
        ChatKind::Reaction => return Route::NoRecord("reaction"),
        ChatKind::Echo { .. } => return Route::NoRecord("echo"),
        ChatKind::Receipt => return Route::NoRecord("receipt"),
        ChatKind::Follow { .. } => return Route::NoRecord("follow"),
        ChatKind::Other { .. } => return Route::NoRecord("other"),
    };
    if !event.has_content() {
        return Route::NoRecord("empty");
    }
    if let Some(code) = quoted {
        return Route::Interaction(code);
    }
    if let Some(code) = message.text.as_deref().and_then(tracking_code_in).filter(|c| known_code(c)) {
        return Route::Interaction(code);
    }
    Route::Draft
}

/// One event of a draft or interaction, with where it came from.
#[derive(Debug, Clone)]
pub struct Part {
    pub event: ChatEvent,
    /// When the body that carried it reached the gateway.
    pub received_at: DateTime<Utc>,
    /// SHA-256 of that whole body (SPEC §8).
    pub raw_sha256: String,
}

impl Part {
    fn source(&self) -> Source {
        Source {
            message_id: format!("{}:{}", self.event.channel, self.event.message_id),
            received_at: self.received_at,
            raw_sha256: self.raw_sha256.clone(),
        }
    }
}

/// What a draft holds so far, folded from its parts in order.
#[derive(Debug, Clone, Default)]
struct Folded {
    /// (comment or message id, text): an edit replaces the text of its comment.
    texts: Vec<(String, String)>,
    lat_lon: Option<(f64, f64)>,
    place_name: Option<String>,
    sender_name: Option<String>,
}

fn fold(parts: &[Part]) -> Folded {
    let mut folded = Folded::default();
    for part in parts {
        let event = &part.event;
        if folded.sender_name.is_none() {
            folded.sender_name.clone_from(&event.sender_name);
        }
        match &event.kind {
            // A rating tap's text is the button's title or our payload, not the citizen's
            // words: the record carries the rating instead (R9).
            ChatKind::Message(_) if crate::results::rating_of_event(event).is_some() => {}
            ChatKind::Message(m) | ChatKind::Comment { message: m, verb: CommentVerb::Add, .. } => {
                fold_message(&mut folded, &event.message_id, m);
            }
            ChatKind::Comment { message: m, verb: CommentVerb::Edited, .. } => {
                match folded.texts.iter_mut().find(|(id, _)| *id == event.message_id) {
                    Some(entry) => entry.1 = m.text.clone().unwrap_or_default(),
                    None => fold_message(&mut folded, &event.message_id, m),
                }
            }
            ChatKind::Comment { verb: CommentVerb::Remove, .. } => {
                folded.texts.retain(|(id, _)| *id != event.message_id);
            }
            _ => {}
        }
    }
    folded
}

fn fold_message(folded: &mut Folded, id: &str, message: &ChatMessage) {
    let text = message.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if let Some(pin) = message.location {
        folded.lat_lon = Some((pin.lat, pin.lon));
        // A shared pin's text is the place's name (Zalo sends it so), not a description.
        if let Some(name) = text {
            folded.place_name = Some(name.to_owned());
        }
        return;
    }
    if let Some(text) = text {
        folded.texts.push((id.to_owned(), text.to_owned()));
    }
}

/// Whether a draft may become a record after a short quiet: it has what a report needs (R4: a
/// description and a place; time is the messages' own), or its words are urgent (R2: an
/// urgent matter never waits for its missing items).
pub fn is_complete(parts: &[Part]) -> bool {
    let folded = fold(parts);
    if folded.texts.is_empty() {
        return false;
    }
    if has_place(&folded) {
        return true;
    }
    let text = folded.texts.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n");
    let keyed = crate::keys::Keyed::new(&text);
    crate::urgency::assess(&keyed, crate::triage::UrgentFlag::None).level == hue_intake_schemas::UrgencyLevel::Immediate
}

fn has_place(folded: &Folded) -> bool {
    folded.lat_lon.is_some() || folded.place_name.is_some() || place_in_text(folded).is_some()
}

/// Words that introduce a place in Vietnamese (street, alley, ward, bridge, market…), with
/// their unaccented spellings where those are not ordinary words. People on chat write "cây
/// đổ ở kiệt 12 Nguyễn Trãi" rather than sharing a pin; that line is the address.
const PLACE_WORDS: &[&str] = &[
    "đường ",
    "duong ",
    "kiệt ",
    "kiet ",
    "hẻm ",
    "ngõ ",
    "phường ",
    "phuong ",
    "xã ",
    "thôn ",
    "tổ dân phố",
    "số nhà",
    "nhà số",
    "quốc lộ",
    "quoc lo",
    "tỉnh lộ",
    "cầu ",
    "chợ ",
    "ngã ba",
    "nga ba",
    "ngã tư",
    "nga tu",
    "bến ",
    "công viên",
    "cong vien",
];

/// The first line of the citizen's text that names a place.
fn place_in_text(folded: &Folded) -> Option<&str> {
    folded.texts.iter().find_map(|(_, t)| place_line(t))
}

/// The first line of `text` that names a place (a street, an alley, a ward, a bridge…): the
/// address people write instead of a pin, on chat and in mail alike.
pub fn place_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|line| {
        let lower = format!("{} ", line.to_lowercase());
        PLACE_WORDS.iter().any(|w| lower.contains(w))
    })
}

/// When a draft becomes a record if nothing else arrives: after `quiet` from its last message
/// when complete, else `max` after its first; never later than `max`.
pub fn closes_at(opened_at: DateTime<Utc>, last_at: DateTime<Utc>, complete: bool, timing: Timing) -> DateTime<Utc> {
    let limit = opened_at + timing.max;
    if complete { (last_at + timing.quiet).min(limit) } else { limit }
}

/// The items (`description`, `location`) an open draft still lacks, for the question that
/// goes out while it is open (R4).
pub fn missing_essentials(parts: &[Part]) -> Vec<MissingField> {
    let folded = fold(parts);
    let mut missing = Vec::new();
    if folded.texts.is_empty() {
        missing.push(MissingField::Description);
    }
    if !has_place(&folded) {
        missing.push(MissingField::Location);
    }
    missing
}

/// The record of a draft (`in_reply_to: None`) or of an interaction (`Some(code)`).
///
/// `media` are the attachments as the service has them: fetched (stored, described) or not
/// (the platform's URL kept). `ctx.received_at` must be the first part's receive time.
pub fn to_record(
    parts: &[Part],
    in_reply_to: Option<TrackingCode>,
    media: Vec<MediaItem>,
    ctx: &Context<'_>,
) -> Normalized {
    let first = &parts[0].event;
    let folded = fold(parts);
    let description = folded.texts.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n");
    let address = folded.place_name.clone().or_else(|| place_in_text(&folded).map(str::to_owned));
    let location = match (folded.lat_lon, address) {
        (None, None) => None,
        (point, address) => {
            Some(InboundLocation { lat: point.map(|p| p.0), lon: point.map(|p| p.1), accuracy_m: None, address })
        }
    };
    let body = ReportBody {
        client_message_id: first.message_id.clone(),
        // The platform id is the account: stable per person on that channel, sealed (R8).
        account_id: Some(first.sender.clone()),
        reporter: folded.sender_name.clone().map(|name| InboundReporter { name: Some(name), ..Default::default() }),
        consent: false,
        title: None,
        description: (!description.is_empty()).then_some(description),
        occurred_at: None,
        location,
        category: None,
        urgent: false,
        in_reply_to: in_reply_to.as_ref().map(ToString::to_string),
        rating: None,
        media: Vec::new(),
    };
    // The last rating tap on this report among the parts makes the record a rating (R9).
    let rating = parts
        .iter()
        .filter_map(|p| crate::results::rating_of_event(&p.event))
        .filter(|(code, _)| Some(code) == in_reply_to.as_ref())
        .map(|(_, rating)| rating)
        .next_back();
    let body = ReportBody { rating, ..body };
    let checked = Checked { body, in_reply_to };
    let mut normalized = app::normalize(&checked, media, ctx);
    let report = &mut normalized.report;
    report.sources = parts.iter().map(Part::source).collect();
    if report.description.is_empty() && report.rating.is_none() {
        report.title = untitled(ctx.channel, report);
    }
    normalized
}

/// An attachment that is not (or could not be) downloaded: in the record with the
/// platform's URL and no bytes, hash or type (SPEC §1 allows the nulls).
pub fn unfetched(kind: hue_intake_schemas::MediaKind, url: String) -> MediaItem {
    MediaItem { kind, mime: None, bytes: None, sha256: None, uri: url, gps: None }
}

/// The attachments of a draft's parts, as they stand before any download.
pub fn unfetched_media(parts: &[Part]) -> Vec<MediaItem> {
    parts
        .iter()
        .flat_map(|p| match &p.event.kind {
            ChatKind::Message(m) | ChatKind::Comment { message: m, .. } => m.attachments.clone(),
            _ => Vec::new(),
        })
        .filter_map(|a| Some(unfetched(a.kind, a.url?)))
        .collect()
}

/// The title of a record that has media or a place but no words yet.
fn untitled(channel: Channel, report: &Report) -> String {
    let platform = match channel {
        Channel::Facebook => "Facebook",
        Channel::Zalo => "Zalo",
        other => other.as_str(),
    };
    let what = match (report.media.is_empty(), report.location.is_some(), report.kind) {
        (_, _, Kind::Interaction) => "Ý kiến",
        (false, true, _) => "Hình ảnh và vị trí",
        (false, false, _) => "Hình ảnh",
        (true, true, _) => "Vị trí",
        (true, false, _) => "Tin nhắn",
    };
    format!("{what} gửi qua {platform}")
}

/// A draft that closed: its parts, and the report it answers for an interaction.
#[derive(Debug, Clone)]
pub struct Closed {
    pub parts: Vec<Part>,
    pub in_reply_to: Option<TrackingCode>,
}

/// Assembly without a store, for `hue-intake normalize`: events in the order given, drafts
/// per (sender, report answered), closed by the same timing as the service, judged by the
/// events' receive times. Quotes of our messages cannot be resolved offline; a tracking code
/// in the text is taken as it is written.
#[derive(Debug, Default)]
pub struct Conversation {
    timing: Timing,
    open: Vec<(String, Closed)>,
}

impl Conversation {
    pub fn new(timing: Timing) -> Self {
        Conversation { timing, open: Vec::new() }
    }

    /// Adds one event; returns the drafts that closed before it arrived, in closing order.
    pub fn push(&mut self, part: Part) -> Vec<Closed> {
        let now = part.received_at;
        let closed = self.close_due(now);
        let (key, in_reply_to) = match route(&part.event, None, |_| true) {
            Route::NoRecord(_) => return closed,
            Route::Interaction(code) => (format!("{}:{code}", part.event.sender), Some(code)),
            Route::Draft => (part.event.sender.clone(), None),
            Route::CommentEdit | Route::CommentRemove => {
                // Only into an open draft: offline there is no earlier record to answer.
                if !self.open.iter().any(|(k, _)| *k == part.event.sender) {
                    return closed;
                }
                (part.event.sender.clone(), None)
            }
        };
        match self.open.iter_mut().find(|(k, _)| *k == key) {
            Some((_, draft)) => draft.parts.push(part),
            None => self.open.push((key, Closed { parts: vec![part], in_reply_to })),
        }
        closed
    }

    /// Closes every draft still open (the end of the input).
    pub fn finish(mut self) -> Vec<Closed> {
        self.open.drain(..).map(|(_, d)| d).collect()
    }

    fn close_due(&mut self, now: DateTime<Utc>) -> Vec<Closed> {
        let timing = self.timing;
        let deadline = |d: &Closed| {
            let opened = d.parts[0].received_at;
            let last = d.parts.iter().map(|p| p.received_at).max().unwrap_or(opened);
            closes_at(opened, last, d.in_reply_to.is_some() || is_complete(&d.parts), timing)
        };
        let mut due: Vec<(DateTime<Utc>, Closed)> = Vec::new();
        let mut still = Vec::new();
        for (key, draft) in self.open.drain(..) {
            let at = deadline(&draft);
            if at <= now { due.push((at, draft)) } else { still.push((key, draft)) }
        }
        self.open = still;
        due.sort_by_key(|(at, _)| *at);
        due.into_iter().map(|(_, d)| d).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Coordinates;

    fn message(id: &str, text: Option<&str>, pin: Option<(f64, f64)>) -> ChatEvent {
        ChatEvent {
            channel: Channel::Zalo,
            message_id: id.to_owned(),
            sender: "8123".to_owned(),
            sender_name: None,
            sent_at: None,
            kind: ChatKind::Message(ChatMessage {
                text: text.map(str::to_owned),
                location: pin.map(|(lat, lon)| Coordinates { lat, lon }),
                ..ChatMessage::default()
            }),
        }
    }

    fn part(event: ChatEvent) -> Part {
        Part { event, received_at: DateTime::UNIX_EPOCH, raw_sha256: "0".repeat(64) }
    }

    #[test]
    fn tracking_codes_are_found_in_any_case_but_not_inside_words() {
        assert_eq!(tracking_code_in("mã hue-7kq4-m2xd.").unwrap().to_string(), "HUE-7KQ4-M2XD");
        assert_eq!(tracking_code_in("xem HUE-7KQ4-M2XD giúp").unwrap().to_string(), "HUE-7KQ4-M2XD");
        assert!(tracking_code_in("XHUE-7KQ4-M2XD").is_none());
        assert!(tracking_code_in("HUE-7KQ4-M2XDX").is_none());
        assert!(tracking_code_in("HUE-7KQ4-M2X").is_none());
        assert!(tracking_code_in("HUE-ILOU-0000").is_none(), "letters outside Crockford's alphabet");
        assert!(tracking_code_in("Huế đẹp").is_none());
    }

    #[test]
    fn a_code_cut_inside_a_letter_is_no_code_and_no_panic() {
        // Regression (zalo fuzz target): 13 bytes after "HUE-" ended inside "đ" and the slice
        // panicked, on any chat message or mail subject with such a text.
        assert!(tracking_code_in("Về phản ánh hue-7kq4ưa được xử lý").is_none());
        assert!(tracking_code_in("hue-7kq4-m2xđ").is_none());
        assert!(tracking_code_in("hue-ưa").is_none());
        assert_eq!(tracking_code_in("hue-7kq4ư hue-7kq4-m2xd").unwrap().to_string(), "HUE-7KQ4-M2XD");
        assert!(crate::email::tracking_code_in_subject("[hue-7kq4-ưxđ]").is_none());
    }

    #[test]
    fn routes_follow_spec_section_3() {
        let text = message("m1", Some("Cây đổ"), None);
        assert_eq!(route(&text, None, |_| true), Route::Draft);
        let code = TrackingCode::parse("HUE-7KQ4-M2XD").unwrap();
        assert_eq!(route(&text, Some(code.clone()), |_| true), Route::Interaction(code.clone()));
        let with_code = message("m2", Some("Bổ sung cho HUE-7KQ4-M2XD: đã ngập"), None);
        assert_eq!(route(&with_code, None, |_| true), Route::Interaction(code));
        assert_eq!(route(&with_code, None, |_| false), Route::Draft, "an unknown code starts a report");
        let mut sticker = text.clone();
        sticker.kind = ChatKind::Sticker;
        assert_eq!(route(&sticker, None, |_| true), Route::NoRecord("sticker"));
    }

    #[test]
    fn a_pin_completes_a_draft_and_its_text_is_the_place_name() {
        let parts = vec![part(message("m1", Some("Ngập sâu"), None))];
        assert!(!is_complete(&parts));
        assert_eq!(missing_essentials(&parts), vec![MissingField::Location]);
        let mut parts = parts;
        parts.push(part(message("m2", Some("Cầu Trường Tiền"), Some((16.4684, 107.5873)))));
        assert!(is_complete(&parts));
        let folded = fold(&parts);
        assert_eq!(folded.texts.len(), 1);
        assert_eq!(folded.place_name.as_deref(), Some("Cầu Trường Tiền"));
    }

    #[test]
    fn a_draft_closes_after_quiet_when_complete_and_at_the_limit_otherwise() {
        let t0 = DateTime::UNIX_EPOCH;
        let timing = Timing::default();
        assert_eq!(closes_at(t0, t0 + Duration::seconds(10), true, timing), t0 + Duration::seconds(130));
        assert_eq!(closes_at(t0, t0 + Duration::seconds(10), false, timing), t0 + Duration::minutes(30));
        assert_eq!(closes_at(t0, t0 + Duration::minutes(29), true, timing), t0 + Duration::minutes(30));
    }
}
