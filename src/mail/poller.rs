//! The mail poller: reads the configured mailbox over IMAP, commits every message raw
//! ([`Ingest`]) and only then moves it to the processed folder, for as long as it runs.
//!
//! One session at a time (reference/channels.md §3.1):
//! - a round: SELECT; compare UIDVALIDITY with the checkpoint (a change means a resync from
//!   UID 1, which [`Ingest`] deduplicates by Message-ID and hash); `UID SEARCH UID last+1:*`
//!   (dropping UIDs ≤ last, the `N:*` quirk); sizes first, then `BODY.PEEK[]` in bounded
//!   batches, oldest first; each batch committed, then moved (`UID MOVE`, or COPY, `\Deleted`
//!   and EXPUNGE), then the checkpoint advanced. A message is never moved before its commit, so
//!   a crash anywhere leaves it in the mailbox or already stored: at least once, and the
//!   Message-ID dedupe makes that exactly once in the store.
//! - between rounds: IDLE (ended and re-issued every `idle_renew_secs`, and at least every
//!   `poll_interval_secs` for a full round), or NOOP and a round every `poll_interval_secs`
//!   when the server has no IDLE.
//! - a lost connection or refused login: reconnect with doubling, jittered back-off, shown in
//!   `/readyz` (via [`ChannelHealth`]) and `hue_intake_mail_connected`.
//!
//! Logs carry counts, UIDs and mailbox names, never addresses, subjects or bodies (R8).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_imap::extensions::idle::IdleResponse;
use async_imap::types::UnsolicitedResponse;
use chrono::Utc;
use futures_util::TryStreamExt as _;
use hue_intake_schemas::Channel;
use tokio_util::sync::CancellationToken;

use super::imap::{self, Failure, ImapSession};
use super::{Ingest, Ingested};
use crate::chat::health::ChannelHealth;
use crate::config::Mail;
use crate::seal::Sealer;
use crate::store::mail::Checkpoint;
use crate::store::{Store, StoreError};

/// A batch of bodies fetched in one round trip holds at most this many bytes (one message
/// larger than this is a batch of its own): bounds the memory a backlog can take.
const MAX_BATCH_BYTES: u64 = 64 * 1024 * 1024;

/// Most IMAP commands answer in well under this; a silent half-open connection must not
/// hang the poller forever.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Fetching a batch of bodies (up to 64 MiB) may take longer on a slow link.
const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// The poller's part of the e-mail channel's health (SMTP replies report their own).
const IMAP: &str = "imap";

/// UIDs per `UID FETCH (UID RFC822.SIZE)` command: keeps command lines short even for a
/// backlog of scattered UIDs.
const SIZE_CHUNK: usize = 1000;

/// The poller of one mailbox.
pub struct Poller {
    mail: Mail,
    store: Store,
    ingest: Ingest,
    health: ChannelHealth,
    tls: Arc<rustls::ClientConfig>,
}

/// What the server can do, as it said after login.
#[derive(Debug, Clone, Copy)]
struct Capabilities {
    idle: bool,
    move_: bool,
    uidplus: bool,
}

/// Why a round stopped early.
enum RoundError {
    /// The connection or the server: reconnect.
    Imap(Failure),
    /// The store refused a commit: the message stays in the mailbox, retried next round.
    Store(StoreError),
}

impl From<Failure> for RoundError {
    fn from(f: Failure) -> Self {
        RoundError::Imap(f)
    }
}

/// What a round did.
#[derive(Debug, Default)]
struct Round {
    fetched: u64,
    moved: u64,
}

impl Poller {
    /// A poller for `mail` (which must have `poller_enabled()`); reads `mail.ca_file` now so a
    /// bad file is a start-up error.
    pub fn new(mail: &Mail, store: Store, sealer: Sealer, health: ChannelHealth) -> anyhow::Result<Poller> {
        anyhow::ensure!(mail.poller_enabled(), "mail.imap_host is not set");
        let tls = super::tls::client_config(mail.ca_file.as_deref())?;
        Ok(Poller { mail: mail.clone(), ingest: Ingest::new(store.clone(), sealer), store, health, tls })
    }

    /// Polls until `shutdown`, reconnecting as needed. Returns promptly on shutdown, also
    /// while idling (the connection is dropped; nothing uncommitted was moved).
    pub async fn run(self, shutdown: CancellationToken) {
        describe_metrics();
        metrics::gauge!("hue_intake_mail_connected").set(0.0);
        self.health.failing_part(Channel::Email, IMAP, "connecting to the IMAP server");
        let min = Duration::from_secs(self.mail.reconnect_min_secs.max(1));
        let max = Duration::from_secs(self.mail.reconnect_max_secs).max(min);
        let mut attempt: u32 = 0;
        loop {
            let mut good = false;
            let failure = tokio::select! {
                _ = shutdown.cancelled() => break,
                failure = self.session(&mut good) => failure,
            };
            metrics::gauge!("hue_intake_mail_connected").set(0.0);
            metrics::counter!("hue_intake_mail_reconnects_total").increment(1);
            // A session that completed a round was a good one: the next failure starts the
            // back-off afresh. A refused login keeps growing it.
            if good && !failure.login_refused {
                attempt = 0;
            }
            let delay = backoff(min, max, attempt);
            attempt = attempt.saturating_add(1);
            self.health.failing_part(Channel::Email, IMAP, failure.reason);
            tracing::warn!(
                reason = failure.reason,
                error = %failure.detail,
                retry_in_ms = delay.as_millis() as u64,
                "IMAP session ended; reconnecting."
            );
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        metrics::gauge!("hue_intake_mail_connected").set(0.0);
        tracing::info!("Mail poller stopped.");
    }

    /// One session: connect, log in, then rounds and waits until something fails.
    async fn session(&self, good: &mut bool) -> Failure {
        match self.session_inner(good).await {
            Ok(never) => match never {},
            Err(failure) => failure,
        }
    }

    async fn session_inner(&self, good: &mut bool) -> Result<std::convert::Infallible, Failure> {
        let mut session = imap::open(&self.mail, self.tls.clone()).await?;
        let caps = command("CAPABILITY", session.capabilities()).await?;
        let caps =
            Capabilities { idle: caps.has_str("IDLE"), move_: caps.has_str("MOVE"), uidplus: caps.has_str("UIDPLUS") };
        // Create the processed folder when missing; NO means it exists (or cannot be made,
        // which the first move then reports).
        match tokio::time::timeout(COMMAND_TIMEOUT, session.create(&self.mail.processed_mailbox)).await {
            Ok(Ok(())) => tracing::info!(mailbox = %self.mail.processed_mailbox, "Created the processed mailbox."),
            Ok(Err(async_imap::error::Error::No(_))) => {}
            Ok(Err(e)) => return Err(lost(e)),
            Err(_) => return Err(Failure::new("the IMAP server stopped answering", "CREATE timed out")),
        }
        metrics::gauge!("hue_intake_mail_connected").set(1.0);
        tracing::info!(
            mailbox = %self.mail.mailbox,
            idle = caps.idle,
            r#move = caps.move_,
            uidplus = caps.uidplus,
            "Connected to the IMAP server."
        );
        loop {
            // Mail that arrived during a round (announced as EXISTS while we were busy) is
            // read by another round at once rather than after the next wake-up.
            let mut rounds = 0;
            loop {
                drain(&mut session);
                match self.round(&mut session, caps).await {
                    Ok(_) => {
                        *good = true;
                        self.health.ok_part(Channel::Email, IMAP);
                    }
                    Err(RoundError::Imap(failure)) => return Err(failure),
                    Err(RoundError::Store(e)) => {
                        // Not the connection's fault: stay connected, retry at the next wake-up.
                        tracing::error!(error = %e, mailbox = %self.mail.mailbox, "Mail could not be committed; retrying later.");
                        self.health.failing_part(Channel::Email, IMAP, "the store cannot take mail");
                        break;
                    }
                }
                rounds += 1;
                if !drain(&mut session) || rounds >= 10 {
                    break;
                }
            }
            session = self.wait(session, caps).await?;
        }
    }

    /// Waits for new mail (IDLE) or the next poll; returns the session ready for a round.
    async fn wait(&self, mut session: ImapSession, caps: Capabilities) -> Result<ImapSession, Failure> {
        let poll = Duration::from_secs(self.mail.poll_interval_secs.max(1));
        if !caps.idle {
            tokio::time::sleep(poll).await;
            command("NOOP", session.noop()).await?;
            return Ok(session);
        }
        let renew = Duration::from_secs(self.mail.idle_renew_secs.max(1));
        let period = poll.min(renew);
        let mut handle = session.idle();
        command("IDLE", handle.init()).await?;
        {
            // Our own clock ends the IDLE: the crate's timeout restarts on every keepalive
            // (`* OK Still here`), so alone it would never fire on a chatty server.
            let (wait, _stop) = handle.wait_with_timeout(period + COMMAND_TIMEOUT);
            tokio::select! {
                answer = wait => match answer {
                    Ok(IdleResponse::NewData(_)) => tracing::debug!(mailbox = %self.mail.mailbox, "IDLE: the mailbox changed."),
                    Ok(IdleResponse::Timeout) => {
                        return Err(Failure::new("the IMAP server stopped answering", "no keepalive during IDLE"));
                    }
                    Ok(IdleResponse::ManualInterrupt) => {}
                    Err(e) => return Err(lost(e)),
                },
                _ = tokio::time::sleep(period) => {}
            }
        }
        command("DONE", handle.done()).await
    }

    /// Reads everything new in the mailbox, oldest first, committing and moving as it goes.
    async fn round(&self, session: &mut ImapSession, caps: Capabilities) -> Result<Round, RoundError> {
        let started = Instant::now();
        let mailbox = self.mail.mailbox.as_str();
        let selected = command("SELECT", session.select(mailbox)).await?;
        let uidvalidity = selected
            .uid_validity
            .ok_or_else(|| Failure::new("the IMAP server gave no UIDVALIDITY", "SELECT without UIDVALIDITY"))?;
        let last = match self.store.mail_checkpoint(mailbox).await.map_err(RoundError::Store)? {
            Some(cp) if cp.uidvalidity == uidvalidity => cp.last_uid,
            Some(cp) => {
                tracing::warn!(
                    mailbox,
                    old_uidvalidity = cp.uidvalidity,
                    new_uidvalidity = uidvalidity,
                    "UIDVALIDITY changed: reading the mailbox again from UID 1 (mail already stored is recognised by Message-ID)."
                );
                metrics::counter!("hue_intake_mail_resyncs_total").increment(1);
                self.store
                    .set_mail_checkpoint(mailbox, Checkpoint { uidvalidity, last_uid: 0 })
                    .await
                    .map_err(RoundError::Store)?;
                0
            }
            None => 0,
        };
        let mut round = Round::default();
        // Nothing new: UIDNEXT says no UID above the checkpoint exists (saves the SEARCH).
        if selected.exists == 0 || selected.uid_next.is_some_and(|next| next <= last.saturating_add(1)) {
            return Ok(round);
        }
        let mut uids: Vec<u32> = command("UID SEARCH", session.uid_search(format!("UID {}:*", last.saturating_add(1))))
            .await?
            .into_iter()
            // `N:*` always matches the highest UID, even below N (RFC 3501 §6.4.8).
            .filter(|&uid| uid > last)
            .collect();
        uids.sort_unstable();
        if uids.is_empty() {
            return Ok(round);
        }
        let sizes = self.sizes(session, &uids).await?;
        let batches = plan_batches(&uids, &sizes, self.mail.fetch_batch.max(1) as usize, MAX_BATCH_BYTES);
        tracing::info!(mailbox, messages = uids.len(), batches = batches.len(), first_uid = uids[0], "New mail.");
        for batch in batches {
            self.batch(session, caps, uidvalidity, &batch, &mut round).await?;
        }
        metrics::histogram!("hue_intake_mail_round_seconds").record(started.elapsed().as_secs_f64());
        tracing::info!(
            mailbox,
            fetched = round.fetched,
            moved = round.moved,
            last_uid = uids.last().copied().unwrap_or(last),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Mail round done."
        );
        Ok(round)
    }

    /// RFC822.SIZE of each UID (absent: the message vanished meanwhile).
    async fn sizes(&self, session: &mut ImapSession, uids: &[u32]) -> Result<HashMap<u32, u64>, Failure> {
        let mut sizes = HashMap::with_capacity(uids.len());
        for chunk in uids.chunks(SIZE_CHUNK) {
            let set = uid_set(chunk);
            let fetched = command("UID FETCH (RFC822.SIZE)", async {
                session.uid_fetch(&set, "(UID RFC822.SIZE)").await?.try_collect::<Vec<_>>().await
            })
            .await?;
            for f in fetched {
                if let (Some(uid), Some(size)) = (f.uid, f.size) {
                    sizes.insert(uid, u64::from(size));
                }
            }
        }
        Ok(sizes)
    }

    /// Fetches one batch, commits its messages in UID order, moves what was committed and
    /// advances the checkpoint.
    async fn batch(
        &self,
        session: &mut ImapSession,
        caps: Capabilities,
        uidvalidity: u32,
        batch: &[u32],
        round: &mut Round,
    ) -> Result<(), RoundError> {
        let mailbox = self.mail.mailbox.as_str();
        let set = uid_set(batch);
        let fetched = timed(FETCH_TIMEOUT, "UID FETCH (BODY.PEEK[])", async {
            session.uid_fetch(&set, "(UID BODY.PEEK[])").await?.try_collect::<Vec<_>>().await
        })
        .await?;
        let bodies: HashMap<u32, &[u8]> =
            fetched.iter().filter_map(|f| Some((f.uid?, f.body()?))).filter(|(uid, _)| batch.contains(uid)).collect();
        let received_at = Utc::now();
        // All commits of a batch are submitted at once, in UID order, so the group commit
        // takes them in a few transactions instead of one fsync each.
        let present: Vec<u32> = batch.iter().copied().filter(|uid| bodies.contains_key(uid)).collect();
        let results =
            futures_util::future::join_all(present.iter().map(|uid| self.ingest.ingest(bodies[uid], received_at)))
                .await;
        let mut committed = Vec::with_capacity(present.len());
        let mut through = 0u32;
        let mut failed = None;
        let mut outcome = present.iter().zip(results);
        for &uid in batch {
            if !bodies.contains_key(&uid) {
                // Gone from the mailbox since the SEARCH (expunged by someone else).
                through = uid;
                continue;
            }
            let (_, result) = outcome.next().expect("one result per present UID");
            match result {
                Ok(ingested) => {
                    if ingested == Ingested::Duplicate {
                        tracing::debug!(mailbox, uid, "Already stored; moving it again.");
                    }
                    committed.push(uid);
                    through = uid;
                }
                Err(e) => {
                    // Later messages of the batch may have committed too; they are not moved
                    // now (they stay in order) and are recognised as duplicates next round.
                    failed = Some(e);
                    break;
                }
            }
        }
        metrics::counter!("hue_intake_mail_fetched_total").increment(committed.len() as u64);
        round.fetched += committed.len() as u64;
        if !committed.is_empty() {
            self.move_processed(session, caps, &committed).await?;
            metrics::counter!("hue_intake_mail_moved_total").increment(committed.len() as u64);
            round.moved += committed.len() as u64;
        }
        if through > 0 {
            self.store
                .set_mail_checkpoint(mailbox, Checkpoint { uidvalidity, last_uid: through })
                .await
                .map_err(RoundError::Store)?;
        }
        match failed {
            Some(e) => Err(RoundError::Store(e)),
            None => Ok(()),
        }
    }

    /// Moves committed messages to the processed folder: `UID MOVE` (RFC 6851) when the
    /// server has it, else COPY, `\Deleted` and EXPUNGE (only these UIDs with UIDPLUS).
    async fn move_processed(&self, session: &mut ImapSession, caps: Capabilities, uids: &[u32]) -> Result<(), Failure> {
        let set = uid_set(uids);
        let target = self.mail.processed_mailbox.as_str();
        if caps.move_ {
            return command("UID MOVE", session.uid_mv(&set, target)).await;
        }
        command("UID COPY", session.uid_copy(&set, target)).await?;
        command("UID STORE", async {
            session.uid_store(&set, "+FLAGS.SILENT (\\Seen \\Deleted)").await?.try_collect::<Vec<_>>().await
        })
        .await?;
        if caps.uidplus {
            command("UID EXPUNGE", async { session.uid_expunge(&set).await?.try_collect::<Vec<_>>().await }).await?;
        } else {
            // Without UIDPLUS, EXPUNGE also removes anything else flagged \Deleted in the
            // mailbox: a mailbox read by the gateway is the gateway's.
            command("EXPUNGE", async { session.expunge().await?.try_collect::<Vec<_>>().await }).await?;
        }
        Ok(())
    }
}

/// Empties the queue of responses the server sent unasked; true when one announced mail.
fn drain(session: &mut ImapSession) -> bool {
    let mut news = false;
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        news |= matches!(response, UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_));
    }
    news
}

/// Runs one IMAP command with [`COMMAND_TIMEOUT`].
async fn command<T>(
    what: &'static str,
    fut: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, Failure> {
    timed(COMMAND_TIMEOUT, what, fut).await
}

async fn timed<T>(
    limit: Duration,
    what: &'static str,
    fut: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text))) => {
            Err(Failure::new("the IMAP server refused a command", format!("{what}: {}", short(&text))))
        }
        Ok(Err(e)) => Err(Failure::new("connection to the IMAP server lost", format!("{what}: {e}"))),
        Err(_) => Err(Failure::new("the IMAP server stopped answering", format!("{what} timed out"))),
    }
}

fn lost(e: impl std::fmt::Display) -> Failure {
    Failure::new("connection to the IMAP server lost", e)
}

/// Server texts go to logs only, shortened.
fn short(text: &str) -> String {
    text.chars().take(120).collect()
}

/// `min · 2^attempt`, at most `max`, with jitter so that many gateways do not reconnect in
/// step; never under 100 ms.
fn backoff(min: Duration, max: Duration, attempt: u32) -> Duration {
    crate::backoff::jittered(min, max, attempt.saturating_add(1)).max(Duration::from_millis(100))
}

/// A compact IMAP sequence set of ascending UIDs: `1:3,7,9:10`.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Splits ascending UIDs into fetch batches of at most `max_count` messages and
/// `max_bytes` (a message larger than that alone), keeping the order.
fn plan_batches(uids: &[u32], sizes: &HashMap<u32, u64>, max_count: usize, max_bytes: u64) -> Vec<Vec<u32>> {
    let mut batches = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    let mut bytes = 0u64;
    for &uid in uids {
        let size = sizes.get(&uid).copied().unwrap_or(0);
        if !current.is_empty() && (current.len() >= max_count || bytes + size > max_bytes) {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(uid);
        bytes += size;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

fn describe_metrics() {
    metrics::describe_gauge!("hue_intake_mail_connected", "1 while the mail poller holds an IMAP session, else 0.");
    metrics::describe_counter!(
        "hue_intake_mail_reconnects_total",
        "IMAP sessions lost or refused (each one is retried)."
    );
    metrics::describe_counter!("hue_intake_mail_fetched_total", "Mails fetched from the mailbox and committed.");
    metrics::describe_counter!("hue_intake_mail_moved_total", "Committed mails moved to the processed mailbox.");
    metrics::describe_counter!("hue_intake_mail_resyncs_total", "Mailbox UIDVALIDITY changes (full re-reads).");
    metrics::describe_histogram!("hue_intake_mail_round_seconds", "Duration of a mail round that found new mail.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact_ranges() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn batches_bound_count_and_bytes_and_keep_order() {
        let uids = [1, 2, 3, 4, 5, 6];
        let sizes: HashMap<u32, u64> = [(1, 10), (2, 10), (3, 100), (4, 10), (5, 10), (6, 10)].into();
        assert_eq!(plan_batches(&uids, &sizes, 2, 1000), vec![vec![1, 2], vec![3, 4], vec![5, 6]]);
        // 3 is bigger than the byte bound: alone.
        assert_eq!(plan_batches(&uids, &sizes, 10, 50), vec![vec![1, 2], vec![3], vec![4, 5, 6]]);
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(300));
        for attempt in 0..12 {
            let d = backoff(min, max, attempt);
            let full = Duration::from_secs(1 << attempt).min(max);
            assert!(d <= full && d >= full / 2, "{attempt}: {d:?}");
        }
    }
}
