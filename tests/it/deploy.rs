//! Keeps `deploy/` honest: the reference configuration loads with the real loader (its
//! commented-out keys too), the environment the systemd units and compose give the gateway
//! names keys it knows, the container entrypoint turns secret files into variables, and every
//! metric the code emits has its row in `deploy/OPERATIONS.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use hue_intake::config::Config;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("reading {relative}: {e}"))
}

const REFERENCE: &str = "deploy/hue-intake.example.toml";

#[test]
fn the_reference_configuration_loads_with_the_real_loader() {
    let config = Config::load(Some(&root().join(REFERENCE))).expect("deploy/hue-intake.example.toml loads");
    let defaults = Config::defaults();
    assert_eq!(config.server.listen, defaults.server.listen);
    assert_eq!(config.store.data_dir, defaults.store.data_dir);
    assert_eq!(config.privacy.seal_key_id, "k1");
}

/// `# key = value` or `# [table]` in the reference: a setting shown commented out.
fn commented_setting(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("# ")?;
    if let Some(table) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let plain = !table.is_empty()
            && table.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
        return plain.then_some(rest);
    }
    let (key, _) = rest.split_once(" = ")?;
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    plain.then_some(rest)
}

#[test]
fn every_setting_commented_out_in_the_reference_is_a_real_key() {
    let text = read(REFERENCE);
    let mut uncommented = String::new();
    let mut shown = Vec::new();
    for line in text.lines() {
        match commented_setting(line) {
            Some(setting) => {
                shown.push(setting.to_owned());
                uncommented.push_str(setting);
            }
            None => uncommented.push_str(line),
        }
        uncommented.push('\n');
    }
    assert!(shown.len() >= 20, "the reference shows its optional keys commented out: {shown:?}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("uncommented.toml");
    std::fs::write(&file, &uncommented).unwrap();
    let config = Config::load(Some(&file))
        .unwrap_or_else(|e| panic!("the reference with its commented-out settings ({shown:?}) does not load: {e:#}"));
    assert!(config.store.max_database_bytes.is_some());
    assert!(config.mail.poller_enabled() && config.mail.smtp_enabled());
    assert!(config.facebook.webhook_enabled() && config.zalo.webhook_enabled());
    assert_eq!(config.clients.len(), 2, "the example clients");
    assert_eq!(config.staff.len(), 2, "the example staff");
    let kinds: Vec<String> = config.sinks.values().map(|s| format!("{:?}", s.kind().unwrap())).collect();
    assert_eq!(config.sinks.len(), 4, "the example sinks: {kinds:?}");
}

/// What `hue-intake poll-mail` says about `env` on top of `config` with the mail poller
/// switched off by an empty `mail.imap_host`. It loads and checks the whole configuration
/// before anything else, so "mail.imap_host is not set" (exit 2) means every variable named a
/// known key with a valid value; otherwise the error is returned.
fn load_with(config: &Path, env: &[(String, String)]) -> Result<(), String> {
    let output = Command::new(env!("CARGO_BIN_EXE_hue-intake"))
        .args(["poll-mail", "--config"])
        .arg(config)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("HUE_INTAKE__MAIL__IMAP_HOST", "")
        .output()
        .expect("the hue-intake binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.code() == Some(2) && stderr.contains("mail.imap_host is not set") {
        Ok(())
    } else {
        Err(format!("exit {:?}: {stderr}", output.status.code()))
    }
}

/// `Environment=KEY=value` lines of a systemd unit.
fn unit_environment(relative: &str) -> Vec<(String, String)> {
    read(relative)
        .lines()
        .filter_map(|line| line.strip_prefix("Environment="))
        .filter_map(|assignment| assignment.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn the_systemd_units_set_known_keys_and_an_empty_imap_host_turns_the_poller_off() {
    let reference = root().join(REFERENCE);
    for unit in ["deploy/hue-intake.service", "deploy/hue-intake-poll-mail.service"] {
        let env = unit_environment(unit);
        assert!(env.iter().any(|(k, _)| k == "HUE_INTAKE__STORE__DATA_DIR"), "{unit} sets the data directory");
        load_with(&reference, &env).unwrap_or_else(|e| panic!("{unit}'s environment: {e}"));
    }
    // The drop-in OPERATIONS.md and the poll-mail unit describe for `serve`: an empty
    // HUE_INTAKE__MAIL__IMAP_HOST overrides a mailbox set in the file.
    let dir = tempfile::tempdir().unwrap();
    let with_mailbox = dir.path().join("mailbox.toml");
    std::fs::write(
        &with_mailbox,
        "[mail]\nimap_host = \"imap.example\"\nimap_username = \"dttm\"\nimap_password = \"secret\"\n",
    )
    .unwrap();
    load_with(&with_mailbox, &[]).expect("an empty imap_host in the environment switches the poller off");
}

#[test]
fn compose_gives_the_gateways_known_keys() {
    let compose = read("deploy/compose.yaml");
    let mut env: Vec<(String, String)> = Vec::new();
    for line in compose.lines().map(str::trim) {
        if let Some((key, value)) = line.split_once(": ")
            && key.starts_with("HUE_INTAKE__")
        {
            let mut value = value.trim_matches(|c| c == '"' || c == '\'').to_owned();
            // Compose interpolation (${VAR:?…}) is done by compose; any value will do here.
            while let (Some(start), Some(end)) = (value.find("${"), value.find('}')) {
                value.replace_range(start..=end, "x");
            }
            env.push((key.to_owned(), value));
        } else if let Some(target) = line.strip_prefix("target: ")
            && target.starts_with("HUE_INTAKE__")
        {
            // Secrets: files the entrypoint turns into these variables.
            let value = if target == "HUE_INTAKE__PRIVACY__SEAL_KEY" {
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned()
            } else {
                format!("compose-test-secret-for-{target}")
            };
            env.push((target.to_owned(), value));
        }
    }
    assert!(env.len() >= 8, "compose's gateway environment was found: {env:?}");
    if let Err(e) = load_with(&root().join(REFERENCE), &env) {
        panic!("compose's gateway environment does not load: {e}");
    }
}

#[test]
fn the_container_entrypoint_turns_secret_files_into_variables() {
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("HUE_INTAKE__PRIVACY__SEAL_KEY"), "c2VhbA==\n").unwrap();
    std::fs::write(secrets.path().join("HUE_INTAKE__BAD-NAME"), "x").unwrap();
    std::fs::write(secrets.path().join("OTHER"), "y").unwrap();
    let output = Command::new("sh")
        .arg(root().join("deploy/container-entrypoint.sh"))
        .env("HUE_INTAKE_SECRETS_DIR", secrets.path())
        .env("HUE_INTAKE_BIN", "env")
        .output()
        .expect("sh runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.lines().any(|l| l == "HUE_INTAKE__PRIVACY__SEAL_KEY=c2VhbA=="), "{stdout}");
    assert!(!stdout.contains("BAD-NAME") && !stdout.lines().any(|l| l.starts_with("OTHER=")), "{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("ignoring"), "{output:?}");
}

/// Every `metrics::counter!`, `gauge!` and `histogram!` in `src/`: name → where.
fn emitted_metrics() -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unreadable = Vec::new();
    let mut dirs = vec![root().join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let file = path.strip_prefix(root()).unwrap().display().to_string();
            for macro_call in ["metrics::counter!(", "metrics::gauge!(", "metrics::histogram!("] {
                for (at, _) in text.match_indices(macro_call) {
                    let line = text[..at].matches('\n').count() + 1;
                    let args = text[at + macro_call.len()..].trim_start();
                    let name = args.strip_prefix('"').and_then(|rest| rest.split_once('"')).map(|(name, _)| name);
                    match name {
                        Some(name) => names.entry(name.to_owned()).or_default().push(format!("{file}:{line}")),
                        None => unreadable.push(format!("{file}:{line}")),
                    }
                }
            }
        }
    }
    (names, unreadable)
}

#[test]
fn every_metric_the_code_emits_has_its_row_in_operations_md() {
    let (emitted, unreadable) = emitted_metrics();
    assert!(emitted.len() >= 20, "the metric scan found the code's metrics: {emitted:?}");
    assert!(
        unreadable.is_empty(),
        "metric names that are not string literals cannot be checked against deploy/OPERATIONS.md: {unreadable:?}"
    );
    let page = read("deploy/OPERATIONS.md");
    let missing: Vec<String> = emitted
        .iter()
        .filter(|(name, _)| !page.contains(&format!("| `{name}` |")))
        .map(|(name, at)| format!("{name} (emitted at {})", at.join(", ")))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics without a row (| `name` | type | labels | meaning |) in the table of deploy/OPERATIONS.md:\n  {}",
        missing.join("\n  ")
    );
}
