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

/// The adapters' golden records (`adapters/tests/fixtures/app`), made again through the
/// command line with `--at`: every disposition the offline path can reach (accepted, deferred,
/// incomplete, rejected out of scope or for improper language) comes out the same. Ids,
/// tracking codes and `reporter.ref` are random or keyed per installation, so they are left out
/// of the comparison; `locked-*` inputs need a reporter's standing, which only the store knows.
#[test]
fn normalize_at_reproduces_the_golden_records_for_every_disposition() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/tests/fixtures/app");
    let mut inputs: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".json") && !name.ends_with(".expected.json") && !name.starts_with("locked-")
        })
        .collect();
    inputs.sort();
    let mut states = std::collections::BTreeSet::new();
    for (prefix, at) in [(true, "2026-11-28T18:12:03Z"), (false, "2026-11-29T03:12:03Z")] {
        let batch: Vec<&std::path::PathBuf> = inputs
            .iter()
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("night-") == prefix)
            .collect();
        let work = tempfile::tempdir().unwrap();
        let output = bin()
            .current_dir(work.path())
            .args(["normalize", "--channel", "app", "--at", at])
            .args(&batch)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let lines: Vec<serde_json::Value> =
            String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), batch.len());
        for (input, mut actual) in batch.into_iter().zip(lines) {
            let expected_path =
                input.with_file_name(format!("{}.expected.json", input.file_stem().unwrap().to_string_lossy()));
            let mut expected: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
            for record in [&mut actual, &mut expected] {
                record["id"] = serde_json::Value::Null;
                record["tracking_code"] = serde_json::Value::Null;
                record["reporter"]["ref"] = serde_json::Value::Null;
            }
            assert_eq!(actual, expected, "{}", input.display());
            states.insert(format!("{}/{}", actual["disposition"]["state"], actual["disposition"]["reason"]));
        }
    }
    for wanted in [
        "\"accepted\"/null",
        "\"deferred\"/\"night_non_urgent\"",
        "\"incomplete\"/\"missing_information\"",
        "\"rejected\"/\"out_of_scope\"",
        "\"rejected\"/\"improper_language\"",
    ] {
        assert!(states.contains(wanted), "no golden record is {wanted}: {states:?}");
    }
}

/// Checks each record against the schema, masks what is random (ids, tracking codes, reporter
/// refs) and compares with the golden JSON Lines at `expected_path`; with `UPDATE_GOLDEN=1` it
/// writes them instead, to be reviewed in the diff.
fn assert_golden_records(name: &str, actual: &mut [serde_json::Value], expected_path: &std::path::Path) {
    for record in actual.iter_mut() {
        crate::common::assert_valid_report(record);
        record["id"] = serde_json::Value::Null;
        record["tracking_code"] = serde_json::Value::Null;
        record["reporter"]["ref"] = serde_json::Value::Null;
    }
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(expected_path.parent().unwrap()).unwrap();
        let text: String = actual.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(expected_path, text).unwrap();
        return;
    }
    let expected: Vec<serde_json::Value> = std::fs::read_to_string(expected_path)
        .unwrap_or_else(|_| panic!("{name}: no golden records (run with UPDATE_GOLDEN=1 and review)"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(actual, &expected[..], "{name}");
}

/// Chat conversations (`adapters/tests/fixtures/conversations/<channel>-<name>/NN.json`, webhook
/// bodies as posted) against their golden records (`expected.jsonl`, ids, tracking codes and
/// reporter refs masked), assembled by each message's own time. `UPDATE_GOLDEN=1` rewrites
/// the expected files, to be reviewed in the diff.
#[test]
fn normalize_assembles_chat_conversations_into_the_golden_records() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/tests/fixtures/conversations");
    let mut conversations: Vec<std::path::PathBuf> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    conversations.sort();
    assert!(conversations.len() >= 6);
    for conversation in conversations {
        let name = conversation.file_name().unwrap().to_string_lossy().into_owned();
        let channel = name.split('-').next().unwrap().to_owned();
        let mut bodies: Vec<std::path::PathBuf> = std::fs::read_dir(&conversation)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        bodies.sort();
        let work = tempfile::tempdir().unwrap();
        let output =
            bin().current_dir(work.path()).args(["normalize", "--channel", &channel]).args(&bodies).output().unwrap();
        assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        let mut actual: Vec<serde_json::Value> =
            String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_golden_records(&name, &mut actual, &conversation.join("expected.jsonl"));
    }
}

/// Every mail of the e-mail golden corpus (`adapters/tests/fixtures/email/NAME.eml`) against
/// its golden record (`adapters/tests/fixtures/email-records/NAME.jsonl`: one line, or none for
/// machine mail; ids, tracking codes and reporter refs masked), received at 10:00 in Huế.
/// `UPDATE_GOLDEN=1` rewrites the expected files, to be reviewed in the diff.
#[test]
fn normalize_turns_each_golden_mail_into_its_golden_record() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/tests/fixtures");
    let mut mails: Vec<std::path::PathBuf> = std::fs::read_dir(fixtures.join("email"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    mails.sort();
    assert!(mails.len() >= 19);
    let (mut records, mut silent) = (0, 0);
    for mail in mails {
        let name = mail.file_stem().unwrap().to_string_lossy().into_owned();
        let work = tempfile::tempdir().unwrap();
        let output = bin()
            .current_dir(work.path())
            .args(["normalize", "--channel", "email", "--at", "2026-11-29T03:00:00Z"])
            .arg(&mail)
            .output()
            .unwrap();
        assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        let mut actual: Vec<serde_json::Value> =
            String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(actual.len() <= 1, "{name}: one mail, at most one record");
        assert!(actual.iter().all(|r| r["channel"] == "email"), "{name}");
        if actual.is_empty() {
            silent += 1
        } else {
            records += 1
        }
        assert_golden_records(&name, &mut actual, &fixtures.join("email-records").join(format!("{name}.jsonl")));
    }
    // Machine mail (auto-replies, out-of-office, list mail, bounces) makes no record.
    assert!(records >= 12 && silent >= 4, "records {records}, silent {silent}");
}

/// Every call body of `adapters/tests/fixtures/hotline/NAME.json` against its golden record
/// (`adapters/tests/fixtures/hotline-records/NAME.jsonl`, ids masked), received at the call's
/// own `started_at`. `UPDATE_GOLDEN=1` rewrites the expected files, to be reviewed in the diff.
#[test]
fn normalize_turns_each_golden_call_into_its_golden_record() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/tests/fixtures");
    let mut calls: Vec<std::path::PathBuf> = std::fs::read_dir(fixtures.join("hotline"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    calls.sort();
    assert!(calls.len() >= 4);
    for call in calls {
        let name = call.file_stem().unwrap().to_string_lossy().into_owned();
        let work = tempfile::tempdir().unwrap();
        let output =
            bin().current_dir(work.path()).args(["normalize", "--channel", "hotline"]).arg(&call).output().unwrap();
        assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        let mut actual: Vec<serde_json::Value> =
            String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(actual.len(), 1, "{name}");
        assert!(actual.iter().all(|r| r["channel"] == "hotline"), "{name}");
        assert_golden_records(&name, &mut actual, &fixtures.join("hotline-records").join(format!("{name}.jsonl")));
    }
}

/// A mail that is not a message at all is refused with one line and exit code 2.
#[test]
fn normalize_refuses_a_file_that_is_not_a_mail_with_one_line() {
    let work = tempfile::tempdir().unwrap();
    let junk = work.path().join("junk.eml");
    std::fs::write(&junk, "   \n\n").unwrap();
    let output = bin().current_dir(work.path()).args(["normalize", "--channel", "email"]).arg(&junk).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    // Beside the note about the throw-away sealing key, one line says what failed.
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("note:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("junk.eml") && errors[0].contains("RFC 5322"), "{stderr}");
}

/// `facebook check-subscription` against the Graph double, run as users run it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facebook_check_subscription_says_what_is_missing_with_its_exit_code() {
    use crate::doubles::{GRAPH_VERSION, Graph, PAGE_ID};
    const TOKEN: &str = "EAAB-page-token-for-the-cli";
    let graph = Graph::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[facebook]\npage_id = \"{PAGE_ID}\"\npage_access_token = \"{TOKEN}\"\ngraph_base_url = \"{}\"\ngraph_version = \"{GRAPH_VERSION}\"\n",
            graph.base
        ),
    )
    .unwrap();
    let run = |config: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            bin().args(["facebook", "check-subscription", "--config"]).arg(config).output().unwrap()
        })
    };

    graph.set_subscribed_apps(serde_json::json!({"data": [
        {"id": "555", "name": "Hue-S intake", "subscribed_fields": ["messages", "messaging_postbacks", "feed", "message_echoes"]}
    ]}));
    let ok = run(config.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&ok.stderr));
    assert!(stdout.contains("Hue-S intake") && stdout.contains("ok: every needed field"), "{stdout}");

    graph.set_subscribed_apps(serde_json::json!({"data": [
        {"id": "555", "name": "Hue-S intake", "subscribed_fields": ["messages"]}
    ]}));
    let missing = run(config.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&missing.stdout);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stdout.contains("missing: messaging_postbacks, feed"), "{stdout}");

    graph.set_subscribed_apps(serde_json::json!({"data": []}));
    let none = run(config.clone()).await.unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stdout).contains("no app is subscribed"));
    assert!(graph.problems().is_empty(), "{:?}", graph.problems());

    // No Page id configured: exit 2 with one line, and nothing sent.
    let bare = dir.path().join("bare.toml");
    std::fs::write(&bare, "[facebook]\npage_access_token = \"x\"\n").unwrap();
    let refused = run(bare).await.unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("facebook.page_id"), "{stderr}");

    // The Graph API unreachable: exit 2.
    let unreachable = dir.path().join("down.toml");
    std::fs::write(
        &unreachable,
        format!(
            "[facebook]\npage_id = \"{PAGE_ID}\"\npage_access_token = \"x\"\ngraph_base_url = \"http://127.0.0.1:9\"\n"
        ),
    )
    .unwrap();
    let down = run(unreachable).await.unwrap();
    assert_eq!(down.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&down.stderr).lines().count(), 1);
}

#[test]
fn facebook_check_subscription_help_explains_the_exit_codes() {
    let output = bin().args(["facebook", "check-subscription", "--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for needed in ["subscribed_apps", "messaging_postbacks", "Exit 0", "1 when", "2 with"] {
        assert!(help.contains(needed), "{needed} missing from:\n{help}");
    }
}
