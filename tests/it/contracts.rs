//! Committed artefacts and structural promises: the OpenAPI snapshot, and the purity of the
//! adapters crate.

use std::path::PathBuf;

#[test]
fn committed_openapi_matches_the_served_document() {
    let generated = serde_json::to_string_pretty(&hue_intake::http::openapi::document()).unwrap() + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/json/openapi.json");
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} drifted from the code; run `UPDATE_SCHEMAS=1 cargo test --test it contracts` and commit it",
        path.display()
    );
    let doc: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/v1/reports"]["post"].is_object());
}

#[test]
fn the_adapters_crate_has_no_runtime_network_or_database_in_its_tree() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = std::process::Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            "hue-intake-adapters",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8(output.stdout).unwrap();
    assert!(tree.contains("hue-intake-schemas"), "the tree was read");
    for forbidden in ["tokio ", "reqwest ", "sqlx ", "sqlx-core ", "hyper "] {
        assert!(!tree.lines().any(|l| l.starts_with(forbidden)), "adapters depend on {forbidden}");
    }
}
