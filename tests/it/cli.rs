//! The command line as users run it: `schema`, `normalize`, `--help`.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hue-intake"))
}

#[test]
fn schema_prints_the_committed_schema() {
    let output = bin().arg("schema").output().unwrap();
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(hue_intake_schemas::REPORT_SCHEMA_JSON).unwrap();
    assert_eq!(printed, committed);
}

#[test]
fn normalize_prints_one_valid_record_per_app_body() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    std::fs::write(&a, r#"{"client_message_id":"n-1","description":"Cây đổ chắn ngang đường Lê Lợi.","location":{"lat":16.4637,"lon":107.5909}}"#).unwrap();
    std::fs::write(&b, r#"{"client_message_id":"n-2","description":"Rác ùn ứ ở chợ Đông Ba."}"#).unwrap();
    let output = bin()
        .current_dir(dir.path())
        .args(["normalize", "--channel", "portal", "--at", "2026-11-29T01:12:03Z"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        crate::common::assert_valid_report(line);
        assert_eq!(line["channel"], "portal");
        assert_eq!(line["received_at"], "2026-11-29T01:12:03Z");
    }
    assert_eq!(lines[0]["sources"][0]["message_id"], "portal:n-1");
    assert_eq!(lines[1]["disposition"]["state"], "incomplete");
    assert!(!dir.path().join("data").exists(), "normalize creates no data directory or database");
}

#[test]
fn normalize_refuses_unreadable_input_with_exit_2_and_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"client_message_id":"n-1","description":"x","extra":1}"#).unwrap();
    let output = bin().current_dir(dir.path()).args(["normalize", "--channel", "app"]).arg(&bad).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "{stderr}");
    assert!(error_lines[0].contains("/extra"), "{stderr}");
    assert!(output.stdout.is_empty());

    let missing = bin().args(["normalize", "--channel", "app", "/nonexistent/file.json"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let unknown_channel = bin().args(["normalize", "--channel", "pigeon", "x.json"]).output().unwrap();
    assert_eq!(unknown_channel.status.code(), Some(2));
}

#[test]
fn help_explains_the_commands() {
    let output = bin().arg("--help").output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for word in ["serve", "normalize", "schema", "HUE_INTAKE__"] {
        assert!(help.contains(word), "--help mentions {word}");
    }
}
