//! The command line (SPEC §4): `serve`, `poll-mail`, `normalize`, `sanctions`, `quarantine`,
//! `schema`, `facebook check-subscription`, `import-mail`.
//!
//! Argument parsing, the offline `normalize` command and the staff's `sanctions` commands
//! live here so they can be tested without spawning a process; `main.rs` only wires signals
//! and exit codes.

pub mod deadletter;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use hue_intake_adapters::app;
use hue_intake_adapters::attachment;
use hue_intake_schemas::Channel;

use crate::config::Config;
use crate::pipeline::Assigned;
use crate::seal::Sealer;
use crate::store::sanctions::{Change, LockScope, SanctionError, SanctionFilter, ViolationSource};
use crate::store::{Options, Store};

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
        /// The channel the files come from: app, portal (API bodies), facebook or zalo (webhook
        /// bodies as posted; several files are one conversation, assembled into drafts per
        /// sender as the service does, chat media listed unfetched).
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
    /// Sanctions (R12): list and show reporters' standing; confirm, dismiss, report
    /// violations; lift locks. Works on the configured store directly.
    #[command(long_about = SANCTIONS_ABOUT)]
    Sanctions {
        #[command(subcommand)]
        command: SanctionsCommand,
        /// TOML config file (its store.data_dir is the store changed).
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        /// Who makes the change, recorded in the audit.
        #[arg(long, value_name = "NAME", env = "USER", global = true)]
        actor: Option<String>,
    },
    /// Messages kept in quarantine: authentic, stored, but not processable (a body that does not
    /// parse, a key rotated away). List them, and send them back to the pipeline after a fix.
    #[command(long_about = QUARANTINE_ABOUT)]
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
        /// TOML config file (its store.data_dir is the store used).
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
    },
    /// Dead letters: records a sink refused for good. List, show, and replay them after a fix.
    #[command(long_about = deadletter::ABOUT)]
    Deadletter {
        #[command(subcommand)]
        command: deadletter::DeadletterCommand,
        /// TOML config file (its store is the one used).
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
    },
    /// Call-centre operators' bearer tokens for POST /v1/hotline/calls and the console.
    Operators {
        #[command(subcommand)]
        command: OperatorsCommand,
        /// TOML config file (its store.data_dir is the store used).
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
    },
    /// Import a backlog of the mailbox dttm@ from mbox files and Maildir folders into the store,
    /// as the IMAP poller would have received it. Idempotent and resumable by Message-ID.
    #[command(long_about = IMPORT_MAIL_ABOUT)]
    ImportMail {
        /// TOML config file (its store.data_dir is the store filled, privacy.seal_key seals).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// mbox files, Maildir folders, .eml files, or directories holding them.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Run the mail poller alone, as a daemon, until SIGTERM or SIGINT: read the configured
    /// IMAP mailbox, store every mail raw, move it to the processed mailbox.
    #[command(long_about = POLL_MAIL_ABOUT)]
    PollMail {
        /// TOML config file ([mail] imap_*, mailbox, processed_mailbox; [store] data_dir).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Interactions (follow-ups on reports) and the case system's answers to them (R10).
    Interactions {
        #[command(subcommand)]
        command: InteractionsCommand,
        /// TOML config file (its store.data_dir is the store read).
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
    },
    /// Print the JSON Schema of the canonical report (hue-intake.report.v1).
    Schema,
    /// Facebook Page checks against the Graph API, with the configured Page access token.
    Facebook {
        #[command(subcommand)]
        command: FacebookCommand,
        /// TOML config file ([facebook] page_id, page_access_token, graph_base_url, graph_version).
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
    },
}

/// `hue-intake operators …`.
#[derive(Debug, Subcommand)]
pub enum OperatorsCommand {
    /// Issue a token for NAME (or a new one, which ends the old) and print it, alone, on stdout.
    /// It is shown once: only its SHA-256 is stored.
    Add { name: String },
    /// Revoke NAME's token: its next request is answered 401.
    Revoke { name: String },
    /// List operators and whether their token is active.
    List,
}

/// Runs `operators`: one line per result on `out`; a revoke of an unknown or already revoked
/// `hue-intake interactions …`.
#[derive(Debug, Subcommand)]
pub enum InteractionsCommand {
    /// R10: interactions the case system has not answered within 1 day (no core update for
    /// the report at or after the interaction), per handling agency, with their tracking codes.
    Overdue {
        /// Only interactions received at or after this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        since: Option<DateTime<Utc>>,
        /// The time to judge at (RFC 3339); default now.
        #[arg(long, value_name = "TIME")]
        at: Option<DateTime<Utc>>,
        #[arg(long, value_enum, default_value = "table")]
        format: OverdueFormat,
    },
}

/// Output of `interactions overdue`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OverdueFormat {
    /// One line per agency: name, count, the interactions' tracking codes.
    Table,
    /// One JSON document: `{"at", "since", "total", "agencies": [{agency, count, interactions, reports}]}`.
    Json,
}

/// Runs an interactions command on the configured store (read only).
pub async fn interactions(command: InteractionsCommand, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = Store::open_sqlite(
        &config.store.data_dir,
        Options { group_commit_max_batch: config.store.group_commit_max_batch, max_database_bytes: None },
    )
    .await
    .context("opening the store")?;
    let result = async {
        match command {
            InteractionsCommand::Overdue { since, at, format } => {
                let at = at.unwrap_or_else(Utc::now);
                let agencies = crate::core_updates::overdue::report(&store, at, since).await?;
                match format {
                    OverdueFormat::Table => write!(out, "{}", crate::core_updates::overdue::table(&agencies))?,
                    OverdueFormat::Json => {
                        let total: usize = agencies.iter().map(|a| a.count).sum();
                        let doc = serde_json::json!({ "at": at, "since": since, "total": total, "agencies": agencies });
                        writeln!(out, "{doc}")?;
                    }
                }
            }
        }
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    result
}

/// operator is a usage error (exit 2).
pub async fn operators(config: &Config, command: OperatorsCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.store.data_dir)
        .with_context(|| format!("creating data directory {}", config.store.data_dir.display()))?;
    let store = crate::open_store(config).await?;
    let result = async {
        match command {
            OperatorsCommand::Add { name } => {
                let token =
                    crate::hotline::operators::issue(&store, &name).await.map_err(|e| UsageError(e.to_string()))?;
                writeln!(out, "{token}")?;
            }
            OperatorsCommand::Revoke { name } => {
                if !store.revoke_operator(&name, Utc::now()).await? {
                    return Err(UsageError(format!("no active operator named {name}")).into());
                }
                writeln!(out, "revoked {name}")?;
            }
            OperatorsCommand::List => {
                for op in store.operators().await? {
                    let state = if op.revoked_at.is_some() { "revoked" } else { "active" };
                    writeln!(
                        out,
                        "{}\t{state}\tsince {}",
                        op.name,
                        op.revoked_at.as_deref().unwrap_or(&op.created_at)
                    )?;
                }
            }
        }
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    result
}

const POLL_MAIL_ABOUT: &str = "Runs the mail poller alone, as a daemon, until SIGTERM or SIGINT (`serve` runs the \
    same poller itself whenever mail.imap_host is set; `poll-mail` reads the mailbox without the HTTP service and \
    the pipeline, e.g. as its own daemon beside `serve` on the same store, or to drain a backlog before the service \
    starts. One poller per mailbox: when `poll-mail` runs beside `serve`, leave mail.imap_host unset for `serve`, \
    e.g. HUE_INTAKE__MAIL__IMAP_HOST=\"\").\n\n\
    It connects to mail.imap_host (implicit TLS, STARTTLS, or plaintext only with mail.allow_plaintext), logs in \
    with mail.imap_password or mail.imap_oauth2_token (XOAUTH2), and reads mail.mailbox oldest first: each mail is \
    committed raw to the store (deduplicated by Message-ID) and only then moved to mail.processed_mailbox (created \
    if missing). Then it waits with IDLE, renewed every mail.idle_renew_secs, with a full check every \
    mail.poll_interval_secs. A checkpoint (UIDVALIDITY, last UID) is kept in the store; a new UIDVALIDITY makes it \
    read the mailbox again, without storing anything twice. A lost connection is retried with back-off \
    (mail.reconnect_min_secs to mail.reconnect_max_secs). Stored mail is turned into reports by `serve` when it runs on the store.\n\n\
    Exit 0 after a signal, 2 with a one-line error when mail.imap_host is not set or the configuration is \
    invalid, 1 when the store cannot be opened.";

const QUARANTINE_ABOUT: &str = "Messages kept in quarantine. A message lands here when it was authentic and stored \
    (the platform or client got its 2xx) but the pipeline could not turn it into records: a webhook body that does \
    not parse, a stored body that no longer opens. Its raw bytes stay sealed in the store; the reason names what \
    failed, never the content. After a fix (a new release, a restored key), `replay` sends messages back to the \
    pipeline of the running service, which processes them as if they had just arrived (chat events already seen are \
    still recognised, so nothing is recorded twice). Exit 0 on success, 2 on bad usage, 1 when the store fails.";

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Quarantined messages, oldest first, one JSON line each: seq, channel, message_id,
    /// received_at, reason.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Send quarantined messages back to the pipeline: the given seqs, or --all.
    Replay {
        /// Sequence numbers from `quarantine list`.
        #[arg(value_name = "SEQ", required_unless_present = "all")]
        seqs: Vec<i64>,
        /// Every quarantined message.
        #[arg(long, conflicts_with = "seqs")]
        all: bool,
    },
}

/// Runs a quarantine command on the configured store.
pub async fn quarantine(command: QuarantineCommand, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = crate::open_store_with(
        config,
        Options { group_commit_max_batch: config.store.group_commit_max_batch, max_database_bytes: None },
    )
    .await?;
    let result = async {
        match command {
            QuarantineCommand::List { limit } => {
                for q in store.quarantined(limit).await? {
                    let line = serde_json::json!({
                        "seq": q.seq, "channel": q.channel, "message_id": q.message_id,
                        "received_at": q.received_at, "reason": q.reason,
                    });
                    writeln!(out, "{line}")?;
                }
            }
            QuarantineCommand::Replay { seqs, all } => {
                let held: Vec<i64> = store.quarantined(usize::MAX >> 1).await?.into_iter().map(|q| q.seq).collect();
                let chosen: Vec<i64> = if all { held } else { seqs.into_iter().filter(|s| held.contains(s)).collect() };
                let count = chosen.len();
                if count > 0 {
                    store.commit_processed(crate::store::Processed { requeued: chosen, ..Default::default() }).await?;
                }
                writeln!(out, "{}", serde_json::json!({ "replayed": count }))?;
            }
        }
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    result
}
const IMPORT_MAIL_ABOUT: &str = "Imports an existing backlog of the mailbox dttm@ into the configured store, each \
    mail stored raw exactly as the IMAP poller would have received it (received now); the pipeline of `serve` turns \
    the stored mails into records afterwards. Mails too large or that are not mail at all are stored too (the \
    pipeline quarantines them): the import drops nothing it can read.\n\n\
    PATHs taken: an mbox file (mboxrd or mboxo, LF or CRLF; a message starts at a `From ` line at the start of \
    the file or after a blank line; `>From ` lines lose one `>`), read message by message; a Maildir folder (the \
    files of cur/ and new/ in name order; tmp/ and Maildir++ subfolders such as .Sent are not taken, name them to \
    import them); an .eml file (or any other file not starting with `From `) as one message; a directory that is \
    not a Maildir is walked: the Maildirs, mbox files (files starting with `From `) and .eml files under it, in \
    name order, hidden entries and other files skipped.\n\n\
    Idempotent and resumable: mails are keyed by Message-ID (by content hash when they have none), so running it \
    again, or after an interruption, stores nothing twice and skips what is there quickly. The last message of an \
    mbox that ends mid-line (cut, or still being written) is not imported and counts as unreadable: run again on \
    the complete file.\n\n\
    A progress bar (messages, bytes of the total) is drawn on stderr when it is a terminal. At the end one line on \
    stdout: `imported N, already present M, unreadable K` (unreadable entries are also named on stderr). Exit 0 \
    then; 2 with a one-line error when a PATH does not exist or cannot be read, or the store does not exist yet \
    (start `serve` once, or check --config); 1 when the store fails (what was stored stays: run again).";

/// A progress bar on stderr for long commands, drawn only when stderr is a terminal (logs and
/// pipes stay clean).
pub fn progress_bar(total: u64, template: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    let target = if std::io::stderr().is_terminal() {
        indicatif::ProgressDrawTarget::stderr()
    } else {
        indicatif::ProgressDrawTarget::hidden()
    };
    let progress = indicatif::ProgressBar::with_draw_target(Some(total), target);
    progress.set_style(indicatif::ProgressStyle::with_template(template).expect("a valid template"));
    progress
}

/// Runs `import-mail` on the configured store: the summary line on `out`.
pub async fn import_mail(config: &Config, paths: &[PathBuf], out: &mut dyn Write) -> anyhow::Result<()> {
    let scan = crate::mail::mailbox::scan(paths).map_err(|e| UsageError(e.to_string()))?;
    let data_dir = &config.store.data_dir;
    // Opening would create an empty store; a missing one is a wrong --config, not a new start.
    if !crate::store_is_postgres(config) && !data_dir.join("hue-intake.db").exists() {
        return Err(UsageError(format!(
            "no store in {} (check --config and store.data_dir, or start serve once)",
            data_dir.display()
        ))
        .into());
    }
    let sealer = Sealer::from_config(&config.privacy, data_dir).context("privacy.seal_key")?;
    let store = crate::open_store(config).await?;
    let total: u64 = scan.sources.iter().map(|s| s.bytes()).sum();
    let progress = progress_bar(total, "{elapsed_precise} {wide_bar} {bytes}/{total_bytes} {msg}");
    if !scan.skipped.is_empty() {
        progress.suspend(|| {
            eprintln!("note: {} files neither mbox, .eml nor in a Maildir were skipped", scan.skipped.len())
        });
    }
    let ingest = crate::mail::Ingest::new(store.clone(), sealer);
    let (summary, result) = crate::mail::import::import(&ingest, &scan, &progress).await;
    progress.finish_and_clear();
    drop(ingest);
    store.close().await;
    writeln!(out, "{summary}")?;
    result.context("the store failed")?;
    Ok(())
}

/// Subcommands of `facebook`.
#[derive(Debug, Subcommand)]
pub enum FacebookCommand {
    /// Is our app subscribed to the Page's webhooks, for the fields the gateway needs?
    #[command(long_about = CHECK_SUBSCRIPTION_ABOUT)]
    CheckSubscription {
        /// The app to look for among the Page's subscribed apps (default: every app listed,
        /// which with a Page token is normally just the token's own app).
        #[arg(long, value_name = "ID")]
        app_id: Option<String>,
    },
}

/// Webhook fields the gateway needs on the Page: Messenger messages, button taps, and post
/// comments (reference/channels.md §1.4–1.6).
pub const REQUIRED_FIELDS: [&str; 3] = ["messages", "messaging_postbacks", "feed"];

const CHECK_SUBSCRIPTION_ABOUT: &str = "Asks the Graph API which apps are subscribed to the Page's webhooks     (GET /{page_id}/subscribed_apps with facebook.page_access_token, sent as a Bearer header) and whether they     receive the fields the gateway needs: messages, messaging_postbacks and feed. Facebook stops sending webhooks to     an app that is not subscribed, silently, so run this after setting up the Page and when messages stop coming.\n\n\
    Prints each subscribed app with its fields, and the fields missing. Exit 0 when the app is subscribed to all     of them, 1 when it is not subscribed or fields are missing (subscribe with POST /{page_id}/subscribed_apps?\
    subscribed_fields=messages,messaging_postbacks,feed, or in the app dashboard), 2 with a one-line error when \
    facebook.page_id or facebook.page_access_token is not configured, or the Graph API cannot be reached or refuses.";

const SANCTIONS_ABOUT: &str = "Sanctions under R12 of Decision 30/2022, on the configured store directly (the \
    running service sees every change at once).\n\n\
    The rules: an account that sends reports with improper language more than 3 times is locked: the 4th counted \
    report violation locks it, with no end date, until staff lift it. Interactions (replies to a handling result) \
    that violate the rules more than 3 times within 30 days lock the account's interactions for 30 days from the \
    4th. While locked, reports (or interactions) are still stored but refused with account_locked \
    (interaction_locked). Violations the gateway is unsure of wait for review and never count until confirmed. \
    Locks are recomputed from the counted violations after every change, whatever order they were confirmed in. \
    Dismissing a counted violation reverses it; if no lock is called for any more, the lock is lifted. A lift resets the \
    counting: what was sent before it is forgiven.\n\n\
    Every change records --actor (default $USER), the time and --why; reporters appear only as their \
    pseudonymous reporter_ref. Output is JSON (list: one reporter per line). Exit 0 on success, 2 on bad input \
    (unknown id, reporter or tracking code, a change the current state does not allow), 1 when the store fails.";

#[derive(Debug, Subcommand)]
pub enum SanctionsCommand {
    /// Reporters with violations or locks, most recently changed first, one JSON line each.
    List {
        /// Only reporters with a lock in force.
        #[arg(long)]
        locked: bool,
        /// Only reporters with violations waiting for review.
        #[arg(long)]
        review: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One reporter's standing, violations and audit events, as JSON.
    Show {
        /// The pseudonymous reporter reference (rp_…).
        #[arg(value_name = "REF")]
        reporter_ref: String,
    },
    /// Confirm a violation waiting for review (or reinstate a dismissed one): it counts.
    Confirm {
        #[arg(value_name = "ID")]
        id: i64,
        /// Why, for the audit.
        #[arg(long)]
        why: String,
    },
    /// Dismiss a violation: it counts no more; a lock whose count falls below 4 is lifted.
    Dismiss {
        #[arg(value_name = "ID")]
        id: i64,
        /// Why, for the audit.
        #[arg(long)]
        why: String,
    },
    /// Lift a reporter's account or interaction lock; the counting starts again.
    Lift {
        #[arg(value_name = "REF")]
        reporter_ref: String,
        #[arg(long, value_enum)]
        scope: ScopeArg,
        /// Why, for the audit.
        #[arg(long)]
        why: String,
    },
    /// Report a recorded report or interaction as a violation: it counts against its reporter.
    Report {
        #[arg(value_name = "TRACKING_CODE")]
        tracking_code: String,
        /// Why, for the audit.
        #[arg(long)]
        why: String,
    },
}

/// `--scope` of `sanctions lift`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    Account,
    Interaction,
}

/// Bad input on the command line: exit code 2 with this one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs a `sanctions` command on the configured store, writing JSON to `out`.
pub async fn sanctions(
    command: SanctionsCommand,
    actor: Option<String>,
    config: &Config,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let data_dir = &config.store.data_dir;
    // Opening would create an empty store; a missing one is a wrong --config, not a new start.
    if !crate::store_is_postgres(config) && !data_dir.join("hue-intake.db").exists() {
        return Err(
            UsageError(format!("no store in {} (check --config and store.data_dir)", data_dir.display())).into()
        );
    }
    let store = crate::open_store_with(
        config,
        Options { group_commit_max_batch: 16, max_database_bytes: config.store.max_database_bytes },
    )
    .await?;
    let result = run_sanctions(&store, command, actor, out).await;
    store.close().await;
    result
}

async fn run_sanctions(
    store: &Store,
    command: SanctionsCommand,
    actor: Option<String>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let change = |why: &str| -> anyhow::Result<Change> {
        let actor = actor.as_deref().map(str::trim).filter(|a| !a.is_empty());
        let actor = actor.ok_or_else(|| UsageError("say who you are with --actor NAME (or set USER)".to_owned()))?;
        let why = crate::store::sanctions::reason(Some(why)).map_err(|e| UsageError(format!("--why: {e}")))?;
        Ok(Change::now(actor, why))
    };
    let refused = |e: SanctionError| -> anyhow::Error {
        match e {
            SanctionError::NotFound(what) => UsageError(what.to_owned()).into(),
            SanctionError::Conflict(why) => UsageError(why).into(),
            SanctionError::Store(e) => anyhow::Error::new(e).context("the store failed"),
        }
    };
    let answer = match command {
        SanctionsCommand::List { locked, review, limit } => {
            let filter = SanctionFilter { locked, review, limit: limit.max(1), ..SanctionFilter::default() };
            for reporter in store.list_sanctions(&filter).await? {
                serde_json::to_writer(&mut *out, &reporter)?;
                out.write_all(b"\n")?;
            }
            return Ok(());
        }
        SanctionsCommand::Show { reporter_ref } => {
            let found = store.reporter_sanctions(&reporter_ref).await?;
            let found = found.ok_or_else(|| UsageError("no sanctions are recorded for this reporter".to_owned()))?;
            serde_json::to_writer_pretty(&mut *out, &found)?;
            out.write_all(b"\n")?;
            return Ok(());
        }
        SanctionsCommand::Confirm { id, why } => store.confirm_violation(id, change(&why)?).await.map_err(refused)?,
        SanctionsCommand::Dismiss { id, why } => store.dismiss_violation(id, change(&why)?).await.map_err(refused)?,
        SanctionsCommand::Lift { reporter_ref, scope, why } => {
            let scope = match scope {
                ScopeArg::Account => LockScope::Account,
                ScopeArg::Interaction => LockScope::Interaction,
            };
            store.lift(&reporter_ref, scope, change(&why)?).await.map_err(refused)?
        }
        SanctionsCommand::Report { tracking_code, why } => {
            let code = hue_intake_schemas::TrackingCode::parse(&tracking_code)
                .map_err(|e| UsageError(format!("{tracking_code:?} is not a tracking code: {e}")))?;
            store.report_violation(code.as_str(), ViolationSource::Staff, change(&why)?).await.map_err(refused)?
        }
    };
    serde_json::to_writer(&mut *out, &answer)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Runs `facebook check-subscription`: true when an app is subscribed to every required field.
/// Configuration and network errors are [`UsageError`]s (exit 2).
pub async fn facebook_check_subscription(
    config: &Config,
    app_id: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let fb = &config.facebook;
    let page_id = fb.page_id.as_deref().filter(|p| !p.is_empty());
    let page_id = page_id.ok_or_else(|| UsageError("facebook.page_id is not configured".to_owned()))?;
    let token = fb.page_access_token.as_deref().filter(|t| !t.is_empty());
    let token = token.ok_or_else(|| UsageError("facebook.page_access_token is not configured".to_owned()))?;
    let api = crate::chat::facebook_api::GraphApi::new(
        &fb.graph_base_url,
        &fb.graph_version,
        token,
        std::time::Duration::from_secs(config.chat.send_timeout_secs.max(1)),
    );
    let apps = api.subscribed_apps(page_id).await.map_err(|e| UsageError(e.reason))?;
    let apps: Vec<_> = apps.into_iter().filter(|a| app_id.is_none_or(|id| a.id == id)).collect();
    if apps.is_empty() {
        match app_id {
            Some(id) => writeln!(out, "Page {page_id}: app {id} is not subscribed to its webhooks.")?,
            None => writeln!(out, "Page {page_id}: no app is subscribed to its webhooks.")?,
        }
        writeln!(out, "needed: {}", REQUIRED_FIELDS.join(", "))?;
        return Ok(false);
    }
    let mut fine = false;
    for app in &apps {
        let fields =
            if app.subscribed_fields.is_empty() { "(none)".to_owned() } else { app.subscribed_fields.join(", ") };
        writeln!(out, "Page {page_id}: app {:?} (id {}) is subscribed to: {fields}", app.name, app.id)?;
        let missing: Vec<&str> =
            REQUIRED_FIELDS.iter().copied().filter(|f| !app.subscribed_fields.iter().any(|s| s == f)).collect();
        if missing.is_empty() {
            writeln!(out, "  ok: every needed field ({})", REQUIRED_FIELDS.join(", "))?;
            fine = true;
        } else {
            writeln!(out, "  missing: {}", missing.join(", "))?;
        }
    }
    Ok(fine)
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
    if matches!(channel, Channel::Facebook | Channel::Zalo) {
        return normalize_chat(channel, at, config, files, out);
    }
    if channel == Channel::Email {
        return normalize_email(at, config, files, out);
    }
    if !matches!(channel, Channel::App | Channel::Portal | Channel::Hotline) {
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
        let (checked, started_at) = if channel == Channel::Hotline {
            hue_intake_adapters::hotline::parse(&raw).map(|(call, checked)| (checked, call.started_at))
        } else {
            app::parse(&raw).map(|checked| (checked, None))
        }
        .map_err(|e| fail(format!("{} (at {})", e.detail, e.location())))?;
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
        // A call's own time is when it started (SPEC §4).
        let received_at = at.or(started_at.map(|t| t.with_timezone(&Utc))).unwrap_or_else(Utc::now);
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

/// Raw mails (`.eml`), one record each, as the pipeline makes them. Machine mail (auto-replies,
/// bounces) prints nothing. Offline there is no store, so a reply cannot be threaded to its
/// report (R10 needs our sent Message-IDs and the report's reporter): every mail prints as a
/// report.
fn normalize_email(
    at: Option<DateTime<Utc>>,
    config: &Config,
    files: &[PathBuf],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use hue_intake_adapters::email;
    let sealer = offline_sealer(config)?;
    let decoder = crate::decoder(config, &sealer)?;
    let limits = config.media_limits();
    for file in files {
        let name = file.display().to_string();
        let fail = |reason: String| InputFailure { file: name.clone(), reason };
        let raw = std::fs::read(file).map_err(|e| fail(format!("cannot read: {e}")))?;
        if raw.len() as u64 > config.mail.max_message_bytes {
            return Err(fail(format!(
                "the mail has {} bytes, more than mail.max_message_bytes ({})",
                raw.len(),
                config.mail.max_message_bytes
            ))
            .into());
        }
        let mail = email::parse(&raw).map_err(|e| fail(e.detail))?;
        if mail.machine.is_some() {
            continue;
        }
        // Attachments the service would leave out (caps, types) are left out here too.
        let mut media = Vec::new();
        let mut total = 0u64;
        for (i, a) in mail.attachments.iter().enumerate() {
            if media.len() >= limits.files_per_report {
                break;
            }
            let size = a.bytes.len() as u64;
            if let Ok(item) = attachment::describe(&a.bytes, &limits, total + size, &format!("/attachments/{i}")) {
                total += size;
                media.push(item);
            }
        }
        let received_at = at.or(mail.date).unwrap_or_else(Utc::now);
        let raw_sha256 = attachment::sha256_hex(&raw);
        let ctx = decoder.context(Assigned {
            channel: Channel::Email,
            received_at,
            raw_sha256: &raw_sha256,
            record_id: crate::ids::new_record_id(),
            tracking_code: crate::ids::new_tracking_code(),
            // Offline: no store, so nobody's standing is known (SPEC §4).
            standing: Default::default(),
        });
        let normalized = email::record::to_record(&mail, None, media, &ctx);
        serde_json::to_writer(&mut *out, &normalized.report)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Chat webhook bodies, assembled as the service would (SPEC §3, §4).
fn normalize_chat(
    channel: Channel,
    at: Option<DateTime<Utc>>,
    config: &Config,
    files: &[PathBuf],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use hue_intake_adapters::assembly::{Closed, Conversation, Part};
    let sealer = offline_sealer(config)?;
    let decoder = crate::decoder(config, &sealer)?;
    let settings = crate::chat_settings(config);
    let mut conversation = Conversation::new(settings.timing);
    let print = |closed: Vec<Closed>, out: &mut dyn Write| -> anyhow::Result<()> {
        for draft in closed {
            let media = hue_intake_adapters::assembly::unfetched_media(&draft.parts);
            let ctx = decoder.context(Assigned {
                channel,
                received_at: draft.parts[0].received_at,
                raw_sha256: &draft.parts[0].raw_sha256,
                record_id: crate::ids::new_record_id(),
                tracking_code: crate::ids::new_tracking_code(),
                // Offline: no store, so nobody's standing is known (SPEC §4).
                standing: Default::default(),
            });
            let normalized =
                hue_intake_adapters::assembly::to_record(&draft.parts, draft.in_reply_to.clone(), media, &ctx);
            serde_json::to_writer(&mut *out, &normalized.report)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    };
    for file in files {
        let name = file.display().to_string();
        let fail = |reason: String| InputFailure { file: name.clone(), reason };
        let raw = std::fs::read(file).map_err(|e| fail(format!("cannot read: {e}")))?;
        let events = match channel {
            Channel::Facebook => hue_intake_adapters::facebook::parse(&raw, settings.facebook_page_id.as_deref()),
            _ => hue_intake_adapters::zalo::parse(&raw),
        }
        .map_err(|e| fail(format!("{} (at {})", e.detail, e.location())))?;
        let raw_sha256 = attachment::sha256_hex(&raw);
        for event in events {
            let received_at = at.or(event.sent_at).unwrap_or_else(Utc::now);
            let closed = conversation.push(Part { event, received_at, raw_sha256: raw_sha256.clone() });
            print(closed, out)?;
        }
    }
    print(conversation.finish(), out)
}

/// The sealing key for offline work: the configured one, else the data directory's
/// development key if one exists. Without either, a throw-away key: references are then not
/// comparable with the service's, which is said on stderr.
fn offline_sealer(config: &Config) -> anyhow::Result<Sealer> {
    let key_id = &config.privacy.seal_key_id;
    if config.privacy.seal_key.is_some() || config.store.data_dir.join("seal.key").exists() {
        return Sealer::from_config(&config.privacy, &config.store.data_dir).context("privacy.seal_key");
    }
    eprintln!("note: no sealing key configured; reporter.ref values use a throw-away key");
    Ok(Sealer::new(key_id, &rand::random()))
}

/// `poll-mail`: the mail poller on the configured store until `shutdown`.
pub async fn poll_mail(config: &Config, shutdown: tokio_util::sync::CancellationToken) -> anyhow::Result<()> {
    if !config.mail.poller_enabled() {
        return Err(UsageError("mail.imap_host is not set: there is no mailbox to poll".to_owned()).into());
    }
    let data_dir = &config.store.data_dir;
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let sealer = Sealer::from_config(&config.privacy, data_dir)?;
    let store = crate::open_store(config).await?;
    let poller = match crate::mail::Poller::new(
        &config.mail,
        store.clone(),
        sealer,
        crate::chat::health::ChannelHealth::default(),
    ) {
        Ok(poller) => poller,
        Err(e) => {
            store.close().await;
            return Err(UsageError(format!("{e:#}")).into());
        }
    };
    tracing::info!(mailbox = %config.mail.mailbox, data_dir = %data_dir.display(), "Polling mail.");
    poller.run(shutdown).await;
    store.close().await;
    tracing::info!("Shut down cleanly.");
    Ok(())
}
