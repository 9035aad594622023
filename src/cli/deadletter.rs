//! `hue-intake deadletter list|show|replay`: records a sink refused for good (a 4xx from the
//! core, an Open311 error array), and sending them again after a fix.
//!
//! Replay puts the chosen rows back in line (pending, due now, attempts counted afresh); the
//! running service's delivery worker takes them at its next look (at most
//! `sink.poll_interval_ms` later). It is idempotent: rows no longer dead (replayed already,
//! delivered since) are left alone and counted as such.

use std::io::Write;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::config::Config;
use crate::store::{DeadFilter, Store};

pub const ABOUT: &str = "Dead letters: records a sink refused for good. A sink's receiver answering 4xx (other than \
    401, 403, 408 and 429) or an Open311 error array says the record itself cannot be taken; the row is kept as a \
    dead letter with the receiver's reason, and the record's interactions and ratings on that sink wait behind it. \
    Other sinks are not affected. After a fix (on the receiver, or a mapping in the config), `replay` puts dead \
    letters back in line for the running service, which delivers them in their original order. Replaying twice \
    does nothing more.\n\n\
    Exit 0 on success, 2 on bad usage (an unknown record in `show`), 1 when the store fails.";

#[derive(Debug, Subcommand)]
pub enum DeadletterCommand {
    /// Dead letters, most recent first, one JSON line each: outbox_seq, sink, record_id,
    /// tracking_code, kind, attempts, last_error, dead_at.
    List {
        /// Only this sink's.
        #[arg(long, value_name = "NAME")]
        sink: Option<String>,
        /// Only those dead since this time: RFC 3339, or a span back from now (30m, 12h, 7d).
        #[arg(long, value_name = "WHEN", value_parser = parse_since)]
        since: Option<DateTime<Utc>>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One record's dead letters (by record id or tracking code) with the record's JSON.
    Show {
        #[arg(value_name = "RECORD_ID_OR_TRACKING_CODE")]
        id: String,
    },
    /// Put dead letters back in line: the given outbox seqs, or --all (narrowed by --sink and
    /// --since). Prints {"replayed": N, "not_dead": M}.
    Replay {
        /// `outbox_seq` values from `deadletter list`.
        #[arg(value_name = "SEQ", required_unless_present = "all")]
        seqs: Vec<i64>,
        /// Every dead letter (of --sink, since --since).
        #[arg(long, conflicts_with = "seqs")]
        all: bool,
        #[arg(long, value_name = "NAME", requires = "all")]
        sink: Option<String>,
        #[arg(long, value_name = "WHEN", value_parser = parse_since, requires = "all")]
        since: Option<DateTime<Utc>>,
    },
}

/// `--since`: RFC 3339, or a span back from now.
fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: i64 = number.parse().map_err(|_| format!("`{text}` is neither RFC 3339 nor a span like 12h"))?;
    let span = match unit {
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => return Err(format!("`{text}`: a span ends in m, h or d")),
    };
    Ok(Utc::now() - span)
}

/// Runs a dead-letter command on the configured store.
pub async fn run(command: DeadletterCommand, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = crate::open_store(config).await?;
    let result = execute(command, &store, out).await;
    store.close().await;
    result
}

async fn execute(command: DeadletterCommand, store: &Store, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        DeadletterCommand::List { sink, since, limit } => {
            for dead in store.dead_letters(&DeadFilter { sink, since, limit }).await? {
                writeln!(out, "{}", serde_json::to_string(&dead)?)?;
            }
        }
        DeadletterCommand::Show { id } => {
            let found = store.dead_letter(&id).await?;
            if found.is_empty() {
                return Err(super::UsageError(format!("no dead letter for {id}")).into());
            }
            let record: serde_json::Value =
                serde_json::from_str(&found[0].1).context("the stored record is not JSON")?;
            let dead: Vec<_> = found.into_iter().map(|(d, _)| d).collect();
            let shown = serde_json::json!({ "dead_letters": dead, "record": record });
            writeln!(out, "{}", serde_json::to_string_pretty(&shown)?)?;
        }
        DeadletterCommand::Replay { seqs, all, sink, since } => {
            let chosen: Vec<i64> = if all {
                let filter = DeadFilter { sink, since, limit: usize::MAX >> 1 };
                let mut seqs: Vec<i64> = store.dead_letters(&filter).await?.into_iter().map(|d| d.outbox_seq).collect();
                // Back in commit order, so a report goes before the follow-ups behind it.
                seqs.sort_unstable();
                seqs
            } else {
                seqs
            };
            let progress =
                super::progress_bar(chosen.len() as u64, "{elapsed_precise} {wide_bar} {pos}/{len} replayed");
            let mut replayed = 0;
            for chunk in chosen.chunks(500) {
                replayed += store.replay_dead(chunk.to_vec(), Utc::now()).await?;
                progress.inc(chunk.len() as u64);
            }
            progress.finish_and_clear();
            let not_dead = chosen.len() as u64 - replayed;
            writeln!(out, "{}", serde_json::json!({ "replayed": replayed, "not_dead": not_dead }))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_rfc3339_or_a_span() {
        assert_eq!(parse_since("2026-11-29T00:00:00Z").unwrap().to_rfc3339(), "2026-11-29T00:00:00+00:00");
        let twelve_hours = Utc::now() - parse_since("12h").unwrap();
        assert!((twelve_hours - chrono::Duration::hours(12)).num_seconds().abs() < 5);
        assert!(parse_since("7d").is_ok() && parse_since("30m").is_ok());
        assert!(parse_since("yesterday").is_err());
        assert!(parse_since("5w").is_err());
    }
}
