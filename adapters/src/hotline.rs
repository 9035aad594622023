//! The call centre 1900 1075: a call body (SPEC §7) checked and turned into the app-shaped
//! report body, so the regulation engine treats a call exactly as any other report, except
//! that the operator's urgent flag is authoritative and their coordinates are the operator's
//! (`location.source = operator`, decided by the channel in [`crate::app::normalize`]).
//!
//! The description is the operator's summary when given, else the caller's turns of the
//! transcript (lines the operator spoke are left out). Personal data in it (numbers, addresses)
//! is taken out by the normaliser, as for any free text.

use hue_intake_schemas::{CallBody, InboundLocation, InboundReporter, ReportBody};

use crate::app::{self, Checked};
use crate::error::{InputError, Refusal};

/// Speaker tags of the caller in call-centre transcripts ("KH" khách hàng, "NG" người gọi).
const CALLER_TAGS: &[&str] = &["kh", "khách hàng", "người gọi", "ng", "caller", "c"];
/// Speaker tags of the operator ("ĐTV" điện thoại viên, "TĐV", "NV" nhân viên).
const OPERATOR_TAGS: &[&str] = &["đtv", "dtv", "tđv", "nv", "nhân viên", "operator", "op"];

/// Parses and checks a call body. Errors point at the call's own fields.
pub fn parse(raw: &[u8]) -> Result<(CallBody, Checked), InputError> {
    let call: CallBody = InputError::parse_json(raw)?;
    let checked = check(&call)?;
    Ok((call, checked))
}

/// The checks of a call, then the app's checks on the report body it makes.
pub fn check(call: &CallBody) -> Result<Checked, InputError> {
    if call.call_id.trim().is_empty() {
        return Err(InputError::new(Refusal::Missing, "/call_id", "call_id must not be empty"));
    }
    if call.transcript.trim().is_empty() && call.summary.as_deref().is_none_or(|s| s.trim().is_empty()) {
        return Err(InputError::new(Refusal::Missing, "/transcript", "a call needs its transcript (or a summary)"));
    }
    app::check(report_body(call)).map_err(|mut e| {
        e.pointer = call_pointer(&e.pointer, call).to_owned();
        e
    })
}

/// The report body of a call.
pub fn report_body(call: &CallBody) -> ReportBody {
    let summary = call.summary.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let description = match summary {
        Some(summary) => summary.to_owned(),
        None => caller_turns(&call.transcript),
    };
    let location = match (&call.address, call.lat, call.lon) {
        (None, None, None) => None,
        (address, lat, lon) => Some(InboundLocation {
            lat,
            lon,
            accuracy_m: None,
            address: address.clone().filter(|a| !a.trim().is_empty()),
        }),
    };
    let reporter = InboundReporter {
        name: call.caller_name.clone(),
        phone: call.caller_number.clone(),
        email: call.caller_email.clone(),
    };
    ReportBody {
        client_message_id: call.call_id.clone(),
        account_id: None,
        reporter: Some(reporter),
        consent: call.consent,
        title: None,
        description: (!description.is_empty()).then_some(description),
        occurred_at: None,
        location,
        category: call.category,
        urgent: call.urgent,
        in_reply_to: call.in_reply_to.clone(),
        rating: None,
        media: Vec::new(),
    }
}

/// What the caller said: their tagged turns, without the tag; the whole transcript when it
/// tags no speaker at all.
pub fn caller_turns(transcript: &str) -> String {
    let mut tagged = false;
    let mut turns = Vec::new();
    for line in transcript.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match speaker(line) {
            Some((true, said)) => {
                tagged = true;
                turns.push(said);
            }
            Some((false, _)) => tagged = true,
            None => turns.push(line),
        }
    }
    if !tagged {
        return transcript.trim().to_owned();
    }
    turns.join("\n")
}

/// `Some((is_caller, text))` when the line starts with a known speaker tag and a colon.
fn speaker(line: &str) -> Option<(bool, &str)> {
    let (tag, said) = line.split_once(':')?;
    let tag = tag.trim().to_lowercase();
    if CALLER_TAGS.contains(&tag.as_str()) {
        Some((true, said.trim()))
    } else if OPERATOR_TAGS.contains(&tag.as_str()) {
        Some((false, said.trim()))
    } else {
        None
    }
}

/// Where a report body's field came from in the call.
fn call_pointer(pointer: &str, call: &CallBody) -> &'static str {
    match pointer {
        "/client_message_id" => "/call_id",
        "/description" if call.summary.as_deref().is_some_and(|s| !s.trim().is_empty()) => "/summary",
        "/description" => "/transcript",
        "/location/lat" => "/lat",
        "/location/lon" => "/lon",
        "/location/address" => "/address",
        "/in_reply_to" => "/in_reply_to",
        "/category" => "/category",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_is_the_callers_turns_or_the_summary() {
        let t = "KH: Alo, ở kiệt 12 Nguyễn Trãi có dây điện bị đứt\nĐTV: Dạ chị cho em xin địa chỉ cụ thể\nKH: Ngay trước nhà số 5";
        assert_eq!(caller_turns(t), "Alo, ở kiệt 12 Nguyễn Trãi có dây điện bị đứt\nNgay trước nhà số 5");
        assert_eq!(caller_turns("Cây đổ ở Lê Lợi"), "Cây đổ ở Lê Lợi");
        let call = CallBody {
            call_id: "c1".into(),
            transcript: t.into(),
            summary: Some("Dây điện đứt ở kiệt 12 Nguyễn Trãi".into()),
            ..CallBody::default()
        };
        assert_eq!(report_body(&call).description.as_deref(), Some("Dây điện đứt ở kiệt 12 Nguyễn Trãi"));
    }

    #[test]
    fn refusals_name_the_calls_own_fields() {
        let err = parse(br#"{"call_id":"c1","transcript":"  "}"#).unwrap_err();
        assert_eq!(err.pointer, "/transcript");
        let err = parse(br#"{"call_id":"","transcript":"x"}"#).unwrap_err();
        assert_eq!(err.pointer, "/call_id");
        let err = parse(r#"{"call_id":"c1","transcript":"KH: cây đổ","lat":95,"lon":107}"#.as_bytes()).unwrap_err();
        assert_eq!(err.pointer, "/lat");
        let err = parse(br#"{"call_id":"c1","transcript":"x","caller":"y"}"#).unwrap_err();
        assert!(err.detail.contains("caller"), "{err}");
        assert!(parse(br#"{"transcript":"x"}"#).is_err());
    }
}
