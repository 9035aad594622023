//! The `hue-intake` binary: parses the command line, sets up logging and runs the command.
//! Exit codes: 0 success, 1 a runtime failure, 2 bad usage or an unreadable input.

use std::process::ExitCode;

use clap::Parser;
use hue_intake::cli::{Cli, Command, FacebookCommand, InputFailure, UsageError};
use hue_intake::config::Config;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    hue_intake::net::install_crypto_provider();
    let result = match cli.command {
        Command::Schema => {
            println!("{}", hue_intake_schemas::REPORT_SCHEMA_JSON.trim_end());
            Ok(())
        }
        Command::Normalize { channel, at, config, files } => Config::load(config.as_deref()).and_then(|config| {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            hue_intake::cli::normalize(channel, at, &config, &files, &mut out)?;
            std::io::Write::flush(&mut out)?;
            Ok(())
        }),
        Command::Serve { config } => serve(config),
        Command::PollMail { config } => poll_mail(config),
        Command::Quarantine { command, config } => Config::load(config.as_deref()).and_then(|config| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            runtime.block_on(hue_intake::cli::quarantine(command, &config, &mut out))?;
            std::io::Write::flush(&mut out)?;
            Ok(())
        }),
        Command::Deadletter { command, config } => Config::load(config.as_deref()).and_then(|config| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            runtime.block_on(hue_intake::cli::deadletter::run(command, &config, &mut out))?;
            std::io::Write::flush(&mut out)?;
            Ok(())
        }),
        Command::Interactions { command, config } => Config::load(config.as_deref()).and_then(|config| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            runtime.block_on(hue_intake::cli::interactions(command, &config, &mut out))?;
            std::io::Write::flush(&mut out)?;
            Ok(())
        }),
        Command::Operators { command, config } => Config::load(config.as_deref()).and_then(|config| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            runtime.block_on(hue_intake::cli::operators(&config, command, &mut out))
        }),
        Command::ImportMail { config, paths } => Config::load(config.as_deref()).and_then(|config| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            runtime.block_on(hue_intake::cli::import_mail(&config, &paths, &mut out))
        }),
        Command::Facebook { command: FacebookCommand::CheckSubscription { app_id }, config } => {
            return facebook_check(config, app_id);
        }
        Command::Sanctions { command, config, actor } => Config::load(config.as_deref()).and_then(|config| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            runtime.block_on(hue_intake::cli::sanctions(command, actor, &config, &mut out))?;
            std::io::Write::flush(&mut out)?;
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<InputFailure>() || e.is::<UsageError>() => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `facebook check-subscription`: 0 subscribed to every needed field, 1 not (or fields
/// missing), 2 a configuration or network error (one line).
fn facebook_check(config: Option<std::path::PathBuf>, app_id: Option<String>) -> ExitCode {
    let checked = Config::load(config.as_deref()).and_then(|config| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        runtime.block_on(hue_intake::cli::facebook_check_subscription(&config, app_id.as_deref(), &mut out))
    });
    match checked {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {}", e.to_string().lines().next().unwrap_or("failed"));
            ExitCode::from(2)
        }
    }
}

fn serve(config: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let config = Config::load(config.as_deref())?;
    hue_intake::telemetry::init_logging(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.server.listen))?;
        let shutdown = CancellationToken::new();
        tokio::spawn(watch_signals(shutdown.clone()));
        hue_intake::run(config, listener, shutdown).await
    })
}

fn poll_mail(config: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let config = Config::load(config.as_deref()).map_err(|e| UsageError(format!("{e:#}")))?;
    if !config.mail.poller_enabled() {
        return Err(UsageError("mail.imap_host is not set: there is no mailbox to poll".to_owned()).into());
    }
    hue_intake::telemetry::init_logging(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(watch_signals(shutdown.clone()));
        hue_intake::cli::poll_mail(&config, shutdown).await
    })
}

/// Cancels `shutdown` on SIGTERM or SIGINT.
async fn watch_signals(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("Shutdown signal received.");
    shutdown.cancel();
}
