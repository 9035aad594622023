//! Content-addressed media files under `<data_dir>/media/`, named by SHA-256.
//!
//! Uploads stream into a temporary file while they are hashed, sniffed and capped; only a
//! file that passed every check is renamed into place, and it is fsynced (file and directory)
//! before the message that refers to it is committed, so a 2xx never points at a file a crash
//! could lose. The same bytes sent twice are one file. Nothing here parses media; that is
//! `hue_intake_adapters::attachment`'s job.

use std::path::{Path, PathBuf};

use hue_intake_adapters::attachment::{self, Limits};
use hue_intake_adapters::error::InputError;
use hue_intake_adapters::media::{self, SNIFF_LEN};
use hue_intake_schemas::{MediaItem, MediaKind};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone)]
pub struct MediaStore {
    root: PathBuf,
}

/// An upload in progress: bytes go to a temporary file while they are checked.
#[derive(Debug)]
pub struct Upload {
    temp: PathBuf,
    file: tokio::fs::File,
    hasher: Sha256,
    head: Vec<u8>,
    kind: Option<(MediaKind, &'static str)>,
    bytes: u64,
    pointer: String,
}

/// A checked upload, written and synced, not yet in place.
#[derive(Debug)]
pub struct Staged {
    temp: PathBuf,
    item: MediaItem,
}

impl Staged {
    pub fn item(&self) -> &MediaItem {
        &self.item
    }
}

impl MediaStore {
    pub fn new(data_dir: &Path) -> Self {
        MediaStore { root: data_dir.join("media") }
    }

    pub async fn begin(&self, pointer: String) -> std::io::Result<Upload> {
        let tmp = self.root.join("tmp");
        tokio::fs::create_dir_all(&tmp).await?;
        let temp = tmp.join(uuid::Uuid::now_v7().to_string());
        let file = tokio::fs::File::create(&temp).await?;
        Ok(Upload { temp, file, hasher: Sha256::new(), head: Vec::new(), kind: None, bytes: 0, pointer })
    }

    /// Stages bytes held in memory (inline base64 media).
    pub async fn stage_bytes(
        &self,
        bytes: &[u8],
        limits: &Limits,
        report_bytes: u64,
        pointer: String,
    ) -> Result<Staged, UploadError> {
        let item = attachment::describe(bytes, limits, report_bytes, &pointer)?;
        let mut upload = self.begin(pointer).await?;
        upload.file.write_all(bytes).await?;
        upload.file.sync_all().await?;
        Ok(Staged { temp: upload.temp, item })
    }

    /// Moves staged files into place and makes that durable. (Discarding them afterwards is
    /// a no-op: their temporary files are gone.)
    pub async fn commit(&self, staged: &[Staged]) -> std::io::Result<()> {
        for s in staged {
            let sha = s.item.sha256.clone().expect("staged media are hashed");
            let dir = self.root.join(&sha[..2]);
            tokio::fs::create_dir_all(&dir).await?;
            let target = dir.join(&sha);
            if tokio::fs::try_exists(&target).await? {
                tokio::fs::remove_file(&s.temp).await?;
            } else {
                tokio::fs::rename(&s.temp, &target).await?;
                sync_dir(&dir).await?;
            }
        }
        Ok(())
    }

    /// Throws staged files away (the request was refused).
    pub async fn discard(&self, staged: Vec<Staged>) {
        for s in staged {
            let _ = tokio::fs::remove_file(&s.temp).await;
        }
    }

    /// Where a stored file lives.
    pub fn path_of(&self, sha256_hex: &str) -> PathBuf {
        self.root.join(&sha256_hex[..2.min(sha256_hex.len())]).join(sha256_hex)
    }
}

impl Upload {
    /// Takes the next chunk: sniffs once enough bytes arrived, enforces the caps as the file
    /// grows. `report_bytes` is the report's media total including this chunk.
    pub async fn push(&mut self, chunk: &[u8], limits: &Limits, report_bytes: u64) -> Result<(), UploadError> {
        self.bytes += chunk.len() as u64;
        if self.kind.is_none() {
            let need = SNIFF_LEN - self.head.len().min(SNIFF_LEN);
            self.head.extend_from_slice(&chunk[..chunk.len().min(need)]);
            if self.head.len() >= SNIFF_LEN {
                self.kind = Some(attachment::classify(&self.head, &self.pointer)?);
            }
        }
        if let Some((kind, _)) = self.kind {
            limits.check(kind, self.bytes, report_bytes, &self.pointer)?;
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await?;
        Ok(())
    }

    /// The kind sniffed from the bytes so far (`None` until enough bytes arrived): lets a
    /// caller hold a declared length against the right cap before reading the rest.
    pub fn kind(&self) -> Option<MediaKind> {
        self.kind.map(|(kind, _)| kind)
    }

    /// Ends the upload: classifies short files, syncs, reads the photo's GPS. A refused or
    /// failed upload leaves no temporary file behind.
    pub async fn finish(self, limits: &Limits, report_bytes: u64) -> Result<Staged, UploadError> {
        let temp = self.temp.clone();
        let finished = self.finish_checked(limits, report_bytes).await;
        if finished.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        finished
    }

    async fn finish_checked(self, limits: &Limits, report_bytes: u64) -> Result<Staged, UploadError> {
        let (kind, mime) = match self.kind {
            Some(k) => k,
            None => attachment::classify(&self.head, &self.pointer)?,
        };
        limits.check(kind, self.bytes, report_bytes, &self.pointer)?;
        self.file.sync_all().await?;
        let sha = attachment::hex(&self.hasher.finalize());
        let gps = if kind == MediaKind::Image {
            // Images are capped (20 MiB by default), so reading one back is bounded; the EXIF
            // parser is synchronous CPU work and runs off the async threads.
            let bytes = tokio::fs::read(&self.temp).await?;
            tokio::task::spawn_blocking(move || media::exif_gps(&bytes)).await.unwrap_or(None)
        } else {
            None
        };
        Ok(Staged { temp: self.temp, item: attachment::item(kind, mime, self.bytes, sha, gps) })
    }

    /// Abandons the upload and its temporary file.
    pub async fn abort(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.temp).await;
    }
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all()).await.map_err(std::io::Error::other)?
}

/// Why an upload failed: the client's fault (refused) or ours (I/O).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Refused(#[from] InputError),
    #[error("media storage failed: {0}")]
    Io(#[from] std::io::Error),
}
