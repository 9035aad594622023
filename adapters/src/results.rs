//! Results back from the case system to the citizen (R9) and the citizen's rating of them:
//! the words of a relayed result, the three rating options as each channel carries them, and
//! the reading of an answer back into a [`Rating`].
//!
//! Pure, like the rest of the crate: the service decides the channel and the window; this
//! module only says what to write and how to read what comes back. The answer formats:
//!
//! - Facebook quick replies and Zalo buttons carry the payload `RATE:<tracking code>:<level>`
//!   (`level` one of `satisfied`, `acceptable`, `unsatisfied`), which names the report, so a
//!   tap is a rating of that report whatever else the conversation holds;
//! - by e-mail the citizen answers the rating mail with `1`, `2` or `3`, or with the words
//!   Hài lòng / Chấp nhận được / Không hài lòng (with or without diacritics); the report is
//!   the one the answered mail was about (threading, R10).

use hue_intake_schemas::{CoreStatus, Rating, TrackingCode};

use crate::chat::{ChatEvent, ChatKind};

/// The prefix of our rating payloads.
pub const PAYLOAD_PREFIX: &str = "RATE:";

/// The three levels in the order they are offered (1, 2, 3).
pub const LEVELS: [Rating; 3] = [Rating::Satisfied, Rating::Acceptable, Rating::Unsatisfied];

/// The level's words as the citizen sees them (R9), at most 20 characters (Messenger's limit
/// for a quick reply's title).
pub fn label(rating: Rating) -> &'static str {
    match rating {
        Rating::Satisfied => "Hài lòng",
        Rating::Acceptable => "Chấp nhận được",
        Rating::Unsatisfied => "Không hài lòng",
    }
}

fn level(rating: Rating) -> &'static str {
    match rating {
        Rating::Satisfied => "satisfied",
        Rating::Acceptable => "acceptable",
        Rating::Unsatisfied => "unsatisfied",
    }
}

/// The payload of a rating button: `RATE:HUE-XXXX-XXXX:satisfied`.
pub fn payload(code: &TrackingCode, rating: Rating) -> String {
    format!("{PAYLOAD_PREFIX}{code}:{}", level(rating))
}

/// Reads one of our rating payloads (surrounding spaces and a leading `#` allowed, case of
/// the code ignored). Anything else is `None`: a citizen's own words are never a payload.
pub fn parse_payload(text: &str) -> Option<(TrackingCode, Rating)> {
    let text = text.trim().trim_start_matches('#');
    let rest = text.get(..PAYLOAD_PREFIX.len()).filter(|p| p.eq_ignore_ascii_case(PAYLOAD_PREFIX))?;
    let rest = &text[rest.len()..];
    let (code, level) = rest.rsplit_once(':')?;
    let code = TrackingCode::parse(code.trim()).ok()?;
    let rating = match level.trim().to_ascii_lowercase().as_str() {
        "satisfied" => Rating::Satisfied,
        "acceptable" => Rating::Acceptable,
        "unsatisfied" => Rating::Unsatisfied,
        _ => return None,
    };
    Some((code, rating))
}

/// The rating a chat event carries: a quick reply's payload (with or without its title as
/// text), a postback, or a Zalo button's payload arriving as the message's text.
pub fn rating_of_event(event: &ChatEvent) -> Option<(TrackingCode, Rating)> {
    match &event.kind {
        ChatKind::Message(m) => {
            m.quick_reply.as_deref().and_then(parse_payload).or_else(|| m.text.as_deref().and_then(parse_payload))
        }
        ChatKind::Postback { payload, .. } => parse_payload(payload),
        _ => None,
    }
}

/// Reads an e-mail answer to a rating request: the new text (quoted history already
/// removed) must be only the digit or only the words, so that a sentence that happens to
/// contain "hài lòng" stays an interaction.
pub fn rating_in_reply(text: &str) -> Option<Rating> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    // The answer is the first non-empty line; anything after it would be a signature.
    let folded = crate::text::fold_ascii(first).to_lowercase();
    let words: String =
        folded.trim_matches(|c: char| !c.is_alphanumeric()).split_whitespace().collect::<Vec<_>>().join(" ");
    match words.as_str() {
        "1" | "hai long" => Some(Rating::Satisfied),
        "2" | "chap nhan duoc" | "chap nhan" => Some(Rating::Acceptable),
        "3" | "khong hai long" => Some(Rating::Unsatisfied),
        _ => None,
    }
}

/// How the rating question is put on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// No rating request (the status is not `resolved`).
    None,
    /// Buttons (Facebook quick replies, Zalo buttons) follow the text.
    Buttons,
    /// The citizen answers the mail with 1, 2 or 3.
    Reply,
}

fn status_words(status: CoreStatus) -> &'static str {
    match status {
        CoreStatus::Received => "đã được chuyển đến đơn vị xử lý",
        CoreStatus::InProgress => "đang được xử lý",
        CoreStatus::Resolved => "đã được xử lý xong",
        CoreStatus::Rejected => "không được đơn vị tiếp nhận xử lý",
        CoreStatus::Reopened => "được xử lý lại",
    }
}

/// The words of a relayed result: the report's code, where it stands, the agency and the
/// core's message as written (R9), and for a resolved report the rating question.
pub fn result_text(code: &TrackingCode, status: CoreStatus, agency: &str, message: &str, ask: Ask) -> String {
    let mut text =
        format!("Phản ánh {code} {}.\nĐơn vị xử lý: {}.\n{}", status_words(status), agency.trim(), message.trim());
    match ask {
        Ask::None => {}
        Ask::Buttons => text.push_str("\n\nBạn đánh giá kết quả xử lý thế nào? Chọn một mức bên dưới."),
        Ask::Reply => text.push_str(
            "\n\nBạn đánh giá kết quả xử lý thế nào? Trả lời thư này bằng một số:\n\
             1 – Hài lòng\n2 – Chấp nhận được\n3 – Không hài lòng",
        ),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ChatMessage;
    use hue_intake_schemas::Channel;

    fn code() -> TrackingCode {
        TrackingCode::parse("HUE-7KQ4-M2XD").unwrap()
    }

    #[test]
    fn payloads_round_trip_and_refuse_anything_else() {
        for rating in LEVELS {
            let p = payload(&code(), rating);
            assert_eq!(parse_payload(&p), Some((code(), rating)));
            assert_eq!(parse_payload(&format!(" #{}", p.to_lowercase())), Some((code(), rating)));
            assert!(label(rating).chars().count() <= 20);
        }
        assert_eq!(parse_payload("RATE:HUE-7KQ4-M2XD:great"), None);
        assert_eq!(parse_payload("Hài lòng"), None);
        assert_eq!(parse_payload("RATE:HUE-7KQ4:satisfied"), None);
    }

    #[test]
    fn email_answers_are_a_digit_or_the_words_alone() {
        assert_eq!(rating_in_reply("1"), Some(Rating::Satisfied));
        assert_eq!(rating_in_reply("  2.\n\n-- \nAn"), Some(Rating::Acceptable));
        assert_eq!(rating_in_reply("Không hài lòng"), Some(Rating::Unsatisfied));
        assert_eq!(rating_in_reply("khong hai long!"), Some(Rating::Unsatisfied));
        assert_eq!(rating_in_reply("Chấp nhận được"), Some(Rating::Acceptable));
        assert_eq!(rating_in_reply("HÀI LÒNG"), Some(Rating::Satisfied));
        assert_eq!(rating_in_reply("Tôi không hài lòng vì cây vẫn còn đó"), None);
        assert_eq!(rating_in_reply("4"), None);
        assert_eq!(rating_in_reply(""), None);
    }

    #[test]
    fn a_quick_reply_or_a_button_payload_is_a_rating() {
        let event = |kind| ChatEvent {
            channel: Channel::Facebook,
            message_id: "m_1".into(),
            sender: "1".into(),
            sender_name: None,
            sent_at: None,
            kind,
        };
        let quick = ChatKind::Message(ChatMessage {
            text: Some("Hài lòng".into()),
            quick_reply: Some(payload(&code(), Rating::Satisfied)),
            ..ChatMessage::default()
        });
        assert_eq!(rating_of_event(&event(quick)), Some((code(), Rating::Satisfied)));
        let zalo = ChatKind::Message(ChatMessage {
            text: Some(payload(&code(), Rating::Unsatisfied)),
            ..ChatMessage::default()
        });
        assert_eq!(rating_of_event(&event(zalo)), Some((code(), Rating::Unsatisfied)));
        let words = ChatKind::Message(ChatMessage { text: Some("Hài lòng".into()), ..ChatMessage::default() });
        assert_eq!(rating_of_event(&event(words)), None);
    }

    #[test]
    fn a_resolved_result_asks_for_the_rating_on_its_channel() {
        let text = result_text(&code(), CoreStatus::Resolved, "UBND phường Thuận Hóa", "Đã dọn xong.", Ask::Reply);
        assert!(text.contains("HUE-7KQ4-M2XD") && text.contains("Đã dọn xong.") && text.contains("1 – Hài lòng"));
        let plain = result_text(&code(), CoreStatus::InProgress, "X", "Đang xử lý.", Ask::None);
        assert!(!plain.contains("đánh giá"));
    }
}
