//! The committed JSON Schema must equal the one generated from the types (hook0's snapshot
//! habit). Run with `UPDATE_SCHEMAS=1` to rewrite the committed file after a deliberate change.

use std::path::PathBuf;

#[test]
fn committed_report_schema_matches_the_types() {
    let generated = serde_json::to_string_pretty(&hue_intake_schemas::report_json_schema()).unwrap() + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("json/report.v1.schema.json");
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == generated,
        "{} drifted from the types; run `UPDATE_SCHEMAS=1 cargo test -p hue-intake-schemas` and commit the result",
        path.display()
    );
}

#[test]
fn committed_core_update_schema_matches_the_types() {
    let generated = serde_json::to_string_pretty(&hue_intake_schemas::core_update_json_schema()).unwrap() + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("json/core_update.v1.schema.json");
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == generated,
        "{} drifted from the types; run `UPDATE_SCHEMAS=1 cargo test -p hue-intake-schemas`",
        path.display()
    );
    // An unknown field is refused by the schema too, not only by the parser.
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let good = serde_json::json!({"update_id": "u1", "tracking_code": "HUE-7KQ4-M2XD", "status": "resolved",
        "agency": "UBND phường Thuận Hóa", "message": "Đã xử lý.", "at": "2026-11-29T10:35:00+07:00"});
    assert!(validator.is_valid(&good));
    let mut bad = good.clone();
    bad["citizen_phone"] = "x".into();
    assert!(!validator.is_valid(&bad));
    bad = good;
    bad["status"] = "closed".into();
    assert!(!validator.is_valid(&bad));
}

#[test]
fn the_spec_example_validates_against_the_schema() {
    // SPEC §1's example, with the elisions filled in.
    let example = serde_json::json!({
      "schema": "hue-intake.report.v1",
      "id": "0193b5c2-7d1e-7a31-9c55-3f0e9b7c2d10",
      "tracking_code": "HUE-7KQ4-M2XD",
      "kind": "report",
      "channel": "zalo",
      "received_at": "2026-11-29T01:12:03Z",
      "occurred_at": "2026-11-29T08:05:00+07:00",
      "language": { "code": "vi", "confidence": 0.97 },
      "title": "Cây đổ chắn ngang đường Lê Lợi",
      "description": "Cây đổ chắn ngang đường Lê Lợi, gần trường Quốc Học, xe không qua được.",
      "category": { "code": "trees", "confidence": 0.8 },
      "location": {
        "lat": 16.4637, "lon": 107.5909, "source": "device",
        "address": "12 Lê Lợi, phường Thuận Hóa",
        "ward": { "code": "19789", "name": "Thuận Hóa" },
        "within_jurisdiction": true
      },
      "media": [
        { "kind": "image", "mime": "image/jpeg", "bytes": 231234,
          "sha256": "9f2c000000000000000000000000000000000000000000000000000000000000",
          "uri": "blob:sha256:9f2c000000000000000000000000000000000000000000000000000000000000",
          "gps": { "lat": 16.4637, "lon": 107.5909 } }
      ],
      "reporter": { "ref": "rp_5f0c0000000000000000000000000000", "has_name": true, "has_phone": false, "has_email": false, "consent": false },
      "urgency": { "level": "immediate", "signals": ["cây đổ", "chắn ngang đường"] },
      "triage": { "window": "night", "scope": "in_scope", "scope_reason": null, "improper_language": false, "missing": ["phone", "email"] },
      "disposition": { "state": "accepted", "reason": null, "deliver_after": null },
      "in_reply_to": null,
      "rating": null,
      "sources": [ { "message_id": "zalo:a1b2c3d4e5f60718", "received_at": "2026-11-29T01:12:03Z",
                     "raw_sha256": "0000000000000000000000000000000000000000000000000000000000000000" } ]
    });
    let schema: serde_json::Value = serde_json::from_str(hue_intake_schemas::REPORT_SCHEMA_JSON).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(&example).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // And the types read it back and write the same JSON.
    let report: hue_intake_schemas::Report = serde_json::from_value(example.clone()).unwrap();
    assert_eq!(serde_json::to_value(&report).unwrap(), example);

    // A wrong enumeration value is refused by the schema.
    let mut bad = example;
    bad["disposition"]["state"] = "maybe".into();
    assert!(!validator.is_valid(&bad));
}
