//! hue-intake: the intake gateway of Huế's field-report service (Hue-S).
//!
//! Layout (see DESIGN.md): [`http`] receives, [`store`] makes durable (group commit),
//! [`pipeline`] turns stored messages into canonical records, [`deliver`] passes them on
//! exactly once. [`config`] is typed configuration, [`seal`] keeps personal data sealed (R8),
//! [`media_store`] holds media by hash, [`telemetry`] sets up logs and metrics. Pure
//! translation lives in the `hue-intake-adapters` crate, the contracts in
//! `hue-intake-schemas`; this crate is the only one that does I/O.

#![forbid(unsafe_code)]

pub mod backoff;
pub mod chat;
pub mod cli;
pub mod config;
pub mod core_updates;
pub mod deliver;
pub mod hotline;
pub mod http;
pub mod ids;
pub mod lease;
pub mod mail;
pub mod media_store;
pub mod net;
pub mod pipeline;
pub mod seal;
pub mod store;
pub mod telemetry;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hue_intake_adapters::geo::{Boundaries, Geo};
use hue_intake_schemas::Channel;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::deliver::{Deliverer, MediaLinks, Sink};
use crate::http::{AppState, HttpLimits, auth::Clients, auth::Staff};
use crate::pipeline::{Decoder, Pipeline};
use crate::seal::Sealer;
use crate::store::{Options, Store};

/// Runs the gateway on `listener` until `shutdown` is cancelled, then stops accepting,
/// finishes in-flight requests (and so their commits), drains the pipeline and delivery, and
/// closes the store.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let running = start(config, listener).await?;
    shutdown.cancelled().await;
    running.stop().await
}

/// A started gateway.
pub struct Running {
    pub address: std::net::SocketAddr,
    /// The store the gateway runs on (tests enqueue and inspect with it). Clones of it must
    /// be dropped before [`Running::stop`]: shutdown waits for the store's last handle.
    pub store: Store,
    /// Records delivered downstream since start: lets a caller wait for delivery without polling.
    pub delivered: tokio::sync::watch::Receiver<u64>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Graceful shutdown: what `run` does on SIGTERM.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Running { store, shutdown, task, .. } = self;
        // The store closes when its last handle is gone: this one must not keep it open.
        drop(store);
        shutdown.cancel();
        task.await.context("the server task panicked")?
    }
}

/// Sets everything up (so configuration and store errors surface here) and starts serving.
pub async fn start(config: Config, listener: TcpListener) -> anyhow::Result<Running> {
    let address = listener.local_addr()?;
    net::install_crypto_provider();
    let shutdown = CancellationToken::new();
    let metrics = telemetry::metrics_handle();
    let data_dir = config.store.data_dir.clone();
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let sealer = Sealer::from_config(&config.privacy, &data_dir)?;
    let clients = clients(&config, listener.local_addr()?)?;
    let decoder = Arc::new(decoder(&config, &sealer)?);
    let store = open_store(&config).await?;

    let poll_interval = Duration::from_millis(config.sink.poll_interval_ms);
    let pipeline_stop = CancellationToken::new();
    let pipeline = config.pipeline.enabled.then(|| {
        tokio::spawn(
            Pipeline {
                store: store.clone(),
                sealer: sealer.clone(),
                decoder: decoder.clone(),
                incomplete_hold: chrono::Duration::seconds(config.triage.incomplete_hold_secs as i64),
                poll_interval,
                chat: chat_settings(&config),
                mail: mail_settings(&config),
                lease: lease::Lease::new(lease::PIPELINE, store::pipeline_holder()),
                pace: Default::default(),
            }
            .run(pipeline_stop.clone()),
        )
    });
    if pipeline.is_none() {
        tracing::info!("The pipeline is off (pipeline.enabled = false): messages are stored, not folded into records.");
    }
    // One health for the reply worker (and the other chat workers) and /readyz.
    let chat_health = chat::health::ChannelHealth::default();
    // Replies go out after the pipeline queues them, so they stop after it (see below).
    let send_stop = CancellationToken::new();
    let sender = match chat::send::Sender::from_config(&config, store.clone(), sealer.clone(), chat_health.clone())
        .context("setting up replies to citizens")?
    {
        Some(sender) => {
            let channels: Vec<&str> = sender.channels().iter().map(|c| c.as_str()).collect();
            tracing::info!(channels = ?channels, "Replies to citizens will be sent on these channels.");
            Some(tokio::spawn(sender.run(send_stop.clone())))
        }
        None => {
            tracing::info!(
                "No Facebook Page token and no Zalo tokens configured: replies to citizens stay queued unsent."
            );
            None
        }
    };
    // The mailbox, when one is configured: it feeds the pipeline, so it stops first.
    let mail_stop = CancellationToken::new();
    let mail_poller = if config.mail.poller_enabled() {
        let poller = mail::Poller::new(&config.mail, store.clone(), sealer.clone(), chat_health.clone())
            .context("setting up the mail poller")?;
        Some(tokio::spawn(poller.run(mail_stop.clone())))
    } else {
        None
    };
    // One worker per sink, each with its own outbox rows (registered before the pipeline
    // queues any record for them).
    let targets = config.sink_targets();
    store.register_sinks(&targets.keys().cloned().collect::<Vec<_>>()).await.context("registering the sinks")?;
    let media_links = config.server.public_url.as_deref().map(|url| MediaLinks::new(sealer.reporter_key(), url));
    let deliver_stop = CancellationToken::new();
    let (delivered_tx, delivered) = tokio::sync::watch::channel(0);
    let delivered_tx = Arc::new(delivered_tx);
    let mut deliverers = Vec::with_capacity(targets.len());
    for (name, target) in &targets {
        let sink = Sink::build(name, target, &config, media_links.clone()).await?;
        tracing::info!(sink = %name, kind = sink.kind(), "Delivering records.");
        deliverers.push(tokio::spawn(
            Deliverer::new(store.clone(), name, sink, &config, delivered_tx.clone()).run(deliver_stop.clone()),
        ));
    }
    // Always running: without chat attachments queued it only looks at an empty index.
    let fetch_stop = CancellationToken::new();
    let fetcher = tokio::spawn(
        chat::fetch::Fetcher::new(&config, store.clone(), media_store::MediaStore::new(&data_dir), poll_interval)
            .run(fetch_stop.clone()),
    );
    let rate_limits = Arc::new(http::rate_limit::RateLimits::from_config(&config.rate_limits)?);
    let upkeep = tokio::spawn({
        let metrics = metrics.clone();
        let rate_limits = rate_limits.clone();
        let stop = deliver_stop.clone();
        let store = store.clone();
        let sinks: Vec<String> = targets.keys().cloned().collect();
        async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {
                        // The exporter does no upkeep of its own; without it histograms grow
                        // unbounded.
                        metrics.run_upkeep();
                        rate_limits.upkeep();
                        telemetry::record_outbox(&store, &sinks).await;
                    }
                }
            }
        }
    });

    core_updates::describe();
    let core = core_updates::Core {
        store: store.clone(),
        sealer: sealer.clone(),
        token_digest: config.core.token.as_deref().map(http::auth::digest),
        relay: Arc::new(core_updates::relay::Settings {
            enabled: relay_channels(&config),
            message_id_domain: config.mail.message_id_domain.clone(),
            reporter_key: sealer.reporter_key().to_vec(),
        }),
        clock_offset: chrono::Duration::seconds(config.core.clock_offset_secs),
    };
    let overdue = tokio::spawn(core_updates::overdue::run(
        store.clone(),
        Duration::from_secs(config.core.overdue_refresh_secs.max(1)),
        core.clock_offset,
        deliver_stop.clone(),
    ));
    let state = AppState {
        core,
        store: store.clone(),
        sealer,
        decoder,
        clients: Arc::new(clients),
        staff: Arc::new(Staff::new(config.staff.iter().map(|(name, m)| (name.as_str(), m.role, m.token.as_str())))),
        media: media_store::MediaStore::new(&data_dir),
        limits: config.media_limits(),
        max_json_bytes: config.server.max_json_bytes,
        metrics,
        chat_health,
        webhooks: Arc::new(webhooks(&config)),
        media_links,
        rate_limits,
    };
    let limits = HttpLimits {
        request_timeout: Duration::from_secs(config.server.request_timeout_secs),
        max_concurrent_requests: config.server.max_concurrent_requests,
    };
    tracing::info!(%address, data_dir = %data_dir.display(), "Listening.");
    let serve_until = shutdown.clone();
    let running_store = store.clone();
    let task = tokio::spawn(async move {
        // A request's headers get the same time as the whole request.
        http::serve::serve(listener, http::router(state, limits), limits.request_timeout, serve_until).await;
        tracing::info!("Stopped accepting; draining the pipeline and delivery.");
        // No new mail once requests stop: what it committed is drained below like the rest.
        mail_stop.cancel();
        if let Some(poller) = mail_poller {
            let _ = poller.await;
        }
        // The pipeline first, so that what it records can still be delivered.
        pipeline_stop.cancel();
        if let Some(pipeline) = pipeline {
            let _ = pipeline.await;
        }
        // Downloads in flight are cut and their rows left pending: the restart fetches them.
        fetch_stop.cancel();
        let _ = fetcher.await;
        send_stop.cancel();
        if let Some(sender) = sender {
            let _ = sender.await;
        }
        deliver_stop.cancel();
        for deliverer in deliverers {
            let _ = deliverer.await;
        }
        let _ = upkeep.await;
        let _ = overdue.await;
        store.close().await;
        tracing::info!("Shut down cleanly.");
        anyhow::Ok(())
    });
    Ok(Running { address, store: running_store, delivered, shutdown, task })
}

/// The decoder of a configuration: geography, R2 window and the reporter-ref key.
/// The channels the reply worker sends on, as [`chat::send::Sender::from_config`] decides.
fn relay_channels(config: &Config) -> Vec<Channel> {
    let mut channels = Vec::new();
    if config.facebook.page_access_token.as_deref().is_some_and(|t| !t.is_empty()) {
        channels.push(Channel::Facebook);
    }
    if config.zalo.access_token.is_some() || config.zalo.refresh_token.is_some() {
        channels.push(Channel::Zalo);
    }
    if config.mail.smtp_enabled() {
        channels.push(Channel::Email);
    }
    channels
}

pub fn decoder(config: &Config, sealer: &Sealer) -> anyhow::Result<Decoder> {
    let geo = match &config.geo.boundaries {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading geo.boundaries {}", path.display()))?;
            Geo::with_boundaries(
                Boundaries::from_geojson(&text).with_context(|| format!("geo.boundaries {}", path.display()))?,
            )
        }
        None => Geo::builtin(),
    };
    Ok(Decoder { geo, rules: config.night_rules()?, reporter_key: sealer.reporter_key().to_vec() })
}

/// How chat drafts are assembled.
pub fn chat_settings(config: &Config) -> pipeline::ChatSettings {
    pipeline::ChatSettings {
        timing: hue_intake_adapters::assembly::Timing {
            quiet: chrono::Duration::seconds(config.chat.quiet_secs as i64),
            max: chrono::Duration::seconds(config.chat.max_draft_secs as i64),
        },
        facebook_page_id: config.facebook.page_id.clone(),
    }
}

/// The store of `config` (created and migrated when new), tuned as configured: the one way
/// `serve`, `poll-mail` and `import-mail` open it.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let options = Options {
        group_commit_max_batch: config.store.group_commit_max_batch,
        max_database_bytes: config.store.max_database_bytes,
    };
    open_store_with(config, options).await
}

/// Is the configured store PostgreSQL (rather than SQLite in `store.data_dir`)?
pub fn store_is_postgres(config: &Config) -> bool {
    config
        .store
        .database_url
        .as_deref()
        .is_some_and(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
}

/// [`open_store`] with tuning of the caller's (the CLI's short-lived stores).
pub async fn open_store_with(config: &Config, options: Options) -> anyhow::Result<Store> {
    match config.store.database_url.as_deref() {
        Some(url) if store_is_postgres(config) => {
            // The error names the backend, never the URL (it may carry a password).
            Store::open_postgres(url, options).await.context("opening the PostgreSQL store")
        }
        _ => Store::open_sqlite(&config.store.data_dir, options).await.context("opening the store"),
    }
}

pub fn mail_settings(config: &Config) -> pipeline::MailSettings {
    pipeline::MailSettings {
        media: media_store::MediaStore::new(&config.store.data_dir),
        limits: config.media_limits(),
        max_message_bytes: config.mail.max_message_bytes,
        message_id_domain: config.mail.message_id_domain.clone(),
        max_replies_per_address_per_day: config.mail.max_replies_per_address_per_day,
    }
}

/// The webhooks that are configured, with their secrets.
fn webhooks(config: &Config) -> http::webhooks::Webhooks {
    let facebook = match (&config.facebook.app_secret, &config.facebook.verify_token) {
        (Some(app_secret), Some(verify_token)) => {
            Some(http::webhooks::FacebookSecrets { app_secret: app_secret.clone(), verify_token: verify_token.clone() })
        }
        _ => None,
    };
    let zalo = match (&config.zalo.app_id, &config.zalo.oa_secret_key) {
        (Some(_), Some(oa_secret_key)) => Some(http::webhooks::ZaloSecrets {
            oa_secret_key: oa_secret_key.clone(),
            freshness: chrono::Duration::seconds(config.zalo.signature_freshness_secs as i64),
        }),
        _ => None,
    };
    http::webhooks::Webhooks { facebook, zalo, max_body_bytes: config.chat.max_webhook_bytes }
}

/// Configured clients, or a development token for the app channel when there are none.
fn clients(config: &Config, address: std::net::SocketAddr) -> anyhow::Result<Clients> {
    if !config.clients.is_empty() {
        return Ok(Clients::new(config.clients.iter().map(|(name, c)| (name.as_str(), c.channel, c.token.as_str()))));
    }
    let path = config.store.data_dir.join("dev-app.token");
    let token = match std::fs::read_to_string(&path) {
        Ok(existing) => existing.trim().to_owned(),
        Err(_) => {
            let bytes: [u8; 24] = rand::random();
            let token = hue_intake_adapters::attachment::hex(&bytes);
            seal::write_private(&path, token.as_bytes())?;
            token
        }
    };
    tracing::warn!(
        token_file = %path.display(),
        "No clients configured: a development token for the app channel is in the token file. Try: \
         curl -H \"Authorization: Bearer $(cat {})\" -H 'Content-Type: application/json' \
         -d '{{\"client_message_id\":\"try-1\",\"description\":\"Đèn đường hỏng trước số 12 Lê Lợi\",\"location\":{{\"lat\":16.4637,\"lon\":107.5909}}}}' \
         http://{address}/v1/reports",
        path.display()
    );
    Ok(Clients::new([("dev", Channel::App, token.as_str())]))
}
