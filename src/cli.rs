//! The command line (SPEC §4): `serve`, `normalize`, `schema`.
//!
//! Argument parsing and the offline `normalize` command live here so they can be tested
//! without spawning a process; `main.rs` only wires signals and exit codes.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use hue_intake_adapters::app;
use hue_intake_adapters::attachment;
use hue_intake_schemas::Channel;

use crate::config::Config;
use crate::pipeline::Assigned;
use crate::seal::Sealer;

#[derive(Debug, Parser)]
#[command(
    name = "hue-intake",
    version,
    about = "Intake gateway of Huế's field-report service Hue-S",
    long_about = "Receives reports from every channel of Hue-S (app, portal, call centre, Facebook, Zalo, \
                  email), stores each message before acknowledging it, turns messages into canonical \
                  reports (schema hue-intake.report.v1), applies Decision 30/2022 and passes each report \
                  downstream exactly once.\n\nConfiguration: embedded defaults, then --config FILE, then \
                  environment variables HUE_INTAKE__SECTION__KEY. deploy/hue-intake.example.toml documents \
                  every key."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything configured: HTTP API, processing and delivery. With no config at all it
    /// runs on the embedded defaults: 127.0.0.1:8080, data under ./data, a development token.
    Serve {
        /// TOML config file (see deploy/hue-intake.example.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Offline: read inbound payloads exactly as the channel delivers them and print the
    /// canonical records as JSON Lines. Opens no database and makes no network call.
    /// Exit 0 on success (also when no record results), 2 when an input cannot be read or parsed.
    Normalize {
        /// The channel the files come from: app or portal (other channels join with their issues).
        #[arg(long, value_name = "CH")]
        channel: Channel,
        /// Receive time of every input (RFC 3339); default: each message's own time, else now.
        #[arg(long, value_name = "TIME")]
        at: Option<DateTime<Utc>>,
        /// TOML config file (keys, geo.boundaries).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Payload files, processed in order.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the canonical report (hue-intake.report.v1).
    Schema,
}

/// A failure of `normalize` on an input: exit code 2 with this one line.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct InputFailure {
    pub file: String,
    pub reason: String,
}

/// Runs `normalize`, writing JSON Lines to `out`.
pub fn normalize(
    channel: Channel,
    at: Option<DateTime<Utc>>,
    config: &Config,
    files: &[PathBuf],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if !matches!(channel, Channel::App | Channel::Portal) {
        return Err(InputFailure {
            file: "-".to_owned(),
            reason: format!("channel {channel} is not supported by normalize yet"),
        }
        .into());
    }
    let sealer = offline_sealer(config)?;
    let decoder = crate::decoder(config, &sealer)?;
    let limits = config.media_limits();
    for file in files {
        let name = file.display().to_string();
        let fail = |reason: String| InputFailure { file: name.clone(), reason };
        let raw = std::fs::read(file).map_err(|e| fail(format!("cannot read: {e}")))?;
        let checked = app::parse(&raw)
            .map_err(|e| fail(format!("{} (at {})", e.detail, if e.pointer.is_empty() { "/" } else { &e.pointer })))?;
        let mut media = Vec::new();
        let mut total = 0u64;
        for (i, m) in checked.body.media.iter().enumerate() {
            let pointer = format!("/media/{i}");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(m.data_base64.trim())
                .map_err(|_| fail(format!("data_base64 is not valid base64 (at {pointer}/data_base64)")))?;
            total += bytes.len() as u64;
            media.push(
                attachment::describe(&bytes, &limits, total, &pointer)
                    .map_err(|e| fail(format!("{} (at {})", e.detail, e.pointer)))?,
            );
        }
        let received_at = at.unwrap_or_else(Utc::now);
        let raw_sha256 = attachment::sha256_hex(&raw);
        let normalized = decoder.app(
            &checked,
            media,
            Assigned {
                channel,
                received_at,
                raw_sha256: &raw_sha256,
                record_id: crate::ids::new_record_id(),
                tracking_code: crate::ids::new_tracking_code(),
                // Offline: no store, so nobody's standing is known (SPEC §4).
                standing: Default::default(),
            },
        );
        serde_json::to_writer(&mut *out, &normalized.report)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The sealing key for offline work: the configured one, else the data directory's
/// development key if one exists. Without either, a throw-away key: references are then not
/// comparable with the service's, which is said on stderr.
fn offline_sealer(config: &Config) -> anyhow::Result<Sealer> {
    let key_id = &config.privacy.seal_key_id;
    if config.privacy.seal_key.is_some() || config.store.data_dir.join("seal.key").exists() {
        return Sealer::from_config(config.privacy.seal_key.as_deref(), key_id, &config.store.data_dir)
            .context("privacy.seal_key");
    }
    eprintln!("note: no sealing key configured; reporter.ref values use a throw-away key");
    Ok(Sealer::new(key_id, &rand::random()))
}
