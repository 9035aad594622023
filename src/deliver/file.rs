//! The JSON Lines file sink: one canonical record per line, appended and fsynced per batch.
//!
//! Exactly-once rests on two facts: lines are appended in outbox order, and a batch is
//! marked delivered only after its fsync. So after a crash the file may hold (a) a torn last
//! line, which `recover` cuts off, and (b) whole lines of the last batch whose marks were
//! lost, which `recover` reports so the worker marks them instead of writing them again.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use uuid::Uuid;

use crate::store::Due;

#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    file: tokio::fs::File,
}

impl FileSink {
    pub async fn open(path: &Path) -> std::io::Result<FileSink> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let file = tokio::fs::OpenOptions::new().create(true).read(true).append(true).open(path).await?;
        Ok(FileSink { path: path.to_path_buf(), file })
    }

    pub async fn append(&mut self, batch: &[Due]) -> std::io::Result<()> {
        let mut buffer = Vec::with_capacity(batch.iter().map(|d| d.body.len() + 1).sum());
        for due in batch {
            buffer.extend_from_slice(due.body.as_bytes());
            buffer.push(b'\n');
        }
        self.file.write_all(&buffer).await?;
        self.file.sync_data().await
    }

    /// Cuts a torn last line and returns the record ids of the last `look_back` lines.
    pub async fn recover(&mut self, look_back: usize) -> std::io::Result<Vec<Uuid>> {
        let tail = self.read_tail(look_back).await?;
        let (whole, torn) = match tail.iter().rposition(|&b| b == b'\n') {
            Some(last_newline) => (&tail[..=last_newline], tail.len() - last_newline - 1),
            None => (&tail[..0], tail.len()),
        };
        if torn > 0 {
            let length = self.file.metadata().await?.len();
            tracing::warn!(path = %self.path.display(), bytes = torn, "Cutting a torn last line left by a crash.");
            self.file.set_len(length - torn as u64).await?;
            self.file.sync_data().await?;
        }
        let ids = whole
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .filter_map(|line| serde_json::from_slice::<IdOnly>(line).ok())
            .map(|r| r.id)
            .collect();
        Ok(ids)
    }

    /// The end of the file holding at least `lines` whole lines (or the whole file).
    async fn read_tail(&mut self, lines: usize) -> std::io::Result<Vec<u8>> {
        const CHUNK: u64 = 64 * 1024;
        let length = self.file.metadata().await?.len();
        let mut start = length;
        let mut tail = Vec::new();
        while start > 0 {
            let from = start.saturating_sub(CHUNK);
            let mut chunk = vec![0; (start - from) as usize];
            self.file.seek(SeekFrom::Start(from)).await?;
            self.file.read_exact(&mut chunk).await?;
            chunk.extend_from_slice(&tail);
            tail = chunk;
            start = from;
            if tail.iter().filter(|&&b| b == b'\n').count() > lines {
                break;
            }
        }
        // Appends ignore the cursor (O_APPEND), but leave it at the end all the same.
        self.file.seek(SeekFrom::End(0)).await?;
        if start > 0 {
            // Drop the partial first line of the window.
            let first = tail.iter().position(|&b| b == b'\n').map_or(tail.len(), |i| i + 1);
            tail.drain(..first);
        }
        Ok(tail)
    }
}

#[derive(serde::Deserialize)]
struct IdOnly {
    id: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(seq: i64) -> Due {
        let id = Uuid::now_v7();
        Due { outbox_seq: seq, record_id: id, body: format!("{{\"id\":\"{id}\",\"n\":{seq}}}"), attempts: 0 }
    }

    #[tokio::test]
    async fn recovery_cuts_a_torn_line_and_names_the_written_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut sink = FileSink::open(&path).await.unwrap();
        let batch: Vec<Due> = (1..=5).map(due).collect();
        sink.append(&batch).await.unwrap();
        drop(sink);
        // A crash mid-append leaves half a line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"id\":\"0193"))
            .unwrap();
        let mut sink = FileSink::open(&path).await.unwrap();
        let ids = sink.recover(3).await.unwrap();
        let expected: Vec<Uuid> = batch.iter().map(|d| d.record_id).collect();
        assert!(ids.len() >= 3 && expected.ends_with(&ids), "{ids:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n"), "torn line cut");
        assert_eq!(text.lines().count(), 5);
        // Appending after recovery continues on a fresh line.
        sink.append(&[due(6)]).await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 6);
    }

    #[tokio::test]
    async fn recovery_reads_across_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut sink = FileSink::open(&path).await.unwrap();
        let mut all = Vec::new();
        for round in 0..40 {
            let mut d = due(round);
            d.body = format!("{{\"id\":\"{}\",\"pad\":\"{}\"}}", d.record_id, "x".repeat(5000));
            all.push(d.record_id);
            sink.append(&[d]).await.unwrap();
        }
        let ids = sink.recover(20).await.unwrap();
        assert!(ids.len() >= 20);
        assert!(all.ends_with(&ids));
    }
}
