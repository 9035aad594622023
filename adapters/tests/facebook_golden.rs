//! Golden corpus of the Facebook Page webhook: every `fixtures/facebook/NAME.json` is a body
//! exactly as Meta posts it, parsed with [`facebook::parse`] and rendered as JSON, compared
//! byte for byte with `NAME.expected.json` (the harness in `support/golden.rs`).

#[path = "support/golden.rs"]
mod golden;

use hue_intake_adapters::facebook;

const PAGE_ID: &str = "1029384756";

fn parse(raw: &[u8]) -> Result<String, String> {
    let events = facebook::parse(raw, Some(PAGE_ID)).map_err(|e| format!("refused: {} at {}", e.detail, e.pointer))?;
    Ok(golden::pretty(&golden::render_events(&events)))
}

#[test]
fn facebook_golden() {
    golden::run_suite("facebook", |name, raw| parse(raw).unwrap_or_else(|e| panic!("{name}: {e}")));
}
