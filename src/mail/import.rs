//! `import-mail`: storing a backlog of dttm@ found by [`super::mailbox::scan`], each mail
//! exactly as the poller would have: raw, through [`Ingest`], received now.
//!
//! Idempotent and resumable by Message-ID: a mail already stored (by an earlier import, an
//! interrupted one, or the poller) is counted and skipped with one read, before any sealing or
//! write. Nothing read is dropped: bytes that are not a mail, and mails over the size limit,
//! are stored like the rest (the pipeline quarantines them). Only what cannot be read at all
//! is left out and counted `unreadable`: an entry the file system refuses, or the last message
//! of an mbox that ends mid-line (the file was cut or is still being written: the next run,
//! on the complete file, stores it whole rather than a truncated copy now).

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use chrono::Utc;
use indicatif::ProgressBar;

use super::mailbox::{Mbox, Scan, Source};
use super::{Ingest, Ingested};
use crate::store::StoreError;

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Newly stored.
    pub imported: u64,
    /// Stored before (same Message-ID and bytes).
    pub already_present: u64,
    /// Could not be read, so not stored.
    pub unreadable: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {}, already present {}, unreadable {}",
            self.imported, self.already_present, self.unreadable
        )
    }
}

/// Stores every message of `scan`, advancing `progress` (length: the scan's bytes) as it
/// goes; problems with single entries are written to stderr above the bar. Answers what was
/// done, and the store's error if it failed (what was stored before stays stored).
pub async fn import(ingest: &Ingest, scan: &Scan, progress: &ProgressBar) -> (Summary, Result<(), StoreError>) {
    let known: u64 = scan
        .sources
        .iter()
        .map(|s| match s {
            Source::Maildir { files, .. } => files.len() as u64,
            _ => 1,
        })
        .sum();
    let counted = !scan.sources.iter().any(|s| matches!(s, Source::Mbox { .. }));
    let mut run = Run { ingest, progress, summary: Summary::default(), messages: 0, known: counted.then_some(known) };
    for (path, error) in &scan.unreadable {
        run.unreadable(path, &format!("cannot read: {error}"));
    }
    let result = run.sources(&scan.sources).await;
    (run.summary, result)
}

struct Run<'a> {
    ingest: &'a Ingest,
    progress: &'a ProgressBar,
    summary: Summary,
    messages: u64,
    /// The number of messages when it is known in advance (no mbox).
    known: Option<u64>,
}

impl Run<'_> {
    async fn sources(&mut self, sources: &[Source]) -> Result<(), StoreError> {
        for source in sources {
            match source {
                Source::Mbox { path, bytes } => self.mbox(path, *bytes).await?,
                Source::Maildir { files, .. } => {
                    for (path, bytes) in files {
                        self.file(path, *bytes).await?;
                    }
                }
                Source::Message { path, bytes } => self.file(path, *bytes).await?,
            }
        }
        Ok(())
    }

    async fn mbox(&mut self, path: &Path, bytes: u64) -> Result<(), StoreError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) => {
                self.unreadable(path, &format!("cannot read: {e}"));
                self.progress.inc(bytes);
                return Ok(());
            }
        };
        let mut mbox = Mbox::new(BufReader::with_capacity(1 << 18, file));
        let mut counted = 0;
        while let Some(message) = mbox.next() {
            let advance = mbox.position().saturating_sub(counted);
            counted = mbox.position();
            match message {
                Ok(message) if message.complete => self.store(&message.raw).await?,
                Ok(_) => self.unreadable(
                    path,
                    "the last message ends mid-line (file cut or still being written): not imported; run again on \
                     the complete file",
                ),
                Err(e) => self.unreadable(path, &format!("read failed after byte {counted}: {e}")),
            }
            self.progress.inc(advance);
        }
        // The file may have changed size since the scan.
        self.progress.inc(bytes.saturating_sub(counted));
        Ok(())
    }

    async fn file(&mut self, path: &Path, bytes: u64) -> Result<(), StoreError> {
        let mut raw = Vec::with_capacity(bytes as usize);
        match File::open(path).and_then(|mut f| f.read_to_end(&mut raw)) {
            // An empty file holds no mail: nothing to keep.
            Ok(_) if raw.is_empty() => {}
            Ok(_) => self.store(&raw).await?,
            Err(e) => self.unreadable(path, &format!("cannot read: {e}")),
        }
        self.progress.inc(bytes);
        Ok(())
    }

    async fn store(&mut self, raw: &[u8]) -> Result<(), StoreError> {
        // The key Ingest would use; a mail stored with these very bytes is skipped with a read.
        let raw_sha256 = hue_intake_adapters::media::sha256_hex(raw);
        let message_id =
            hue_intake_adapters::email::message_id_of(raw).unwrap_or_else(|| format!("sha256:{raw_sha256}"));
        let stored = if self.ingest.store.mail_stored(&message_id, &raw_sha256).await? {
            Ingested::Duplicate
        } else {
            self.ingest.ingest(raw, Utc::now()).await?
        };
        match stored {
            Ingested::Stored { .. } => self.summary.imported += 1,
            Ingested::Duplicate => self.summary.already_present += 1,
        }
        self.messages += 1;
        let count = match self.known {
            Some(known) => format!("{}/{known} messages", self.messages),
            None => format!("{} messages", self.messages),
        };
        self.progress.set_message(format!("{count}, {} new", self.summary.imported));
        Ok(())
    }

    fn unreadable(&mut self, path: &Path, why: &str) {
        self.summary.unreadable += 1;
        self.progress.suspend(|| eprintln!("warning: {}: {why}", path.display()));
    }
}
