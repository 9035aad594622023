//! Media attached to a message: the allow-list and size caps, and the `MediaItem` that
//! describes stored bytes in the record.
//!
//! The service streams uploads and calls these checks as bytes arrive (never after buffering
//! a whole body); `normalize` and inline base64 media use [`describe`] on bytes in memory.
//! Both end in the same [`item`], so a photo looks the same in a record whichever way it came.

use hue_intake_schemas::{Gps, MediaItem, MediaKind};

use crate::error::{InputError, Refusal};
use crate::media;

/// Size caps per file (by kind) and per report, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub image: u64,
    pub video: u64,
    pub audio: u64,
    pub file: u64,
    pub per_report: u64,
    pub files_per_report: usize,
}

impl Default for Limits {
    /// Phone photos (up to ~12 MB for HEIC/JPEG at full resolution) and short phone videos.
    fn default() -> Self {
        const MB: u64 = 1024 * 1024;
        Limits {
            image: 20 * MB,
            video: 100 * MB,
            audio: 20 * MB,
            file: 20 * MB,
            per_report: 150 * MB,
            files_per_report: 10,
        }
    }
}

impl Limits {
    pub fn per_file(&self, kind: MediaKind) -> u64 {
        match kind {
            MediaKind::Image => self.image,
            MediaKind::Video => self.video,
            MediaKind::Audio => self.audio,
            MediaKind::File => self.file,
        }
    }

    /// Checks a file's size so far against its kind's cap and the report's remaining budget.
    /// `pointer` names the part or field in the refusal.
    pub fn check(&self, kind: MediaKind, file_bytes: u64, report_bytes: u64, pointer: &str) -> Result<(), InputError> {
        let cap = self.per_file(kind);
        if file_bytes > cap {
            return Err(InputError::new(
                Refusal::TooLarge,
                pointer,
                format!("{} files may be at most {} bytes", kind.as_str(), cap),
            ));
        }
        if report_bytes > self.per_report {
            return Err(InputError::new(
                Refusal::TooLarge,
                pointer,
                format!("the media of one report may total at most {} bytes", self.per_report),
            ));
        }
        Ok(())
    }
}

/// Sniffs the first bytes of a file against the allow-list.
pub fn classify(head: &[u8], pointer: &str) -> Result<(MediaKind, &'static str), InputError> {
    media::sniff(head).ok_or_else(|| {
        InputError::new(
            Refusal::UnsupportedMedia,
            pointer,
            "file type not accepted: send JPEG, PNG, HEIC/HEIF, WebP, MP4, MOV, 3GP, M4A/AAC, MP3, AMR or PDF",
        )
    })
}

/// The record's description of stored bytes.
pub fn item(kind: MediaKind, mime: &str, bytes: u64, sha256_hex: String, gps: Option<Gps>) -> MediaItem {
    MediaItem {
        kind,
        mime: Some(mime.to_owned()),
        bytes: Some(bytes),
        uri: format!("blob:sha256:{sha256_hex}"),
        sha256: Some(sha256_hex),
        gps,
    }
}

/// Classifies, caps, hashes and reads the GPS of a file held in memory.
pub fn describe(bytes: &[u8], limits: &Limits, report_bytes: u64, pointer: &str) -> Result<MediaItem, InputError> {
    let (kind, mime) = classify(&bytes[..bytes.len().min(media::SNIFF_LEN)], pointer)?;
    limits.check(kind, bytes.len() as u64, report_bytes, pointer)?;
    let gps = if kind == MediaKind::Image { media::exif_gps(bytes) } else { None };
    Ok(item(kind, mime, bytes.len() as u64, sha256_hex(bytes), gps))
}

pub use crate::media::sha256_hex;

/// Lower-case hex of any bytes (digests, tokens).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG_HEAD: [u8; 4] = [0xff, 0xd8, 0xff, 0xe0];

    #[test]
    fn refuses_types_off_the_list_naming_the_part() {
        let err = describe(b"GIF89a....", &Limits::default(), 0, "/media/2").unwrap_err();
        assert_eq!((err.refusal, err.pointer.as_str()), (Refusal::UnsupportedMedia, "/media/2"));
    }

    #[test]
    fn caps_per_kind_and_per_report() {
        let limits = Limits { image: 10, per_report: 12, ..Limits::default() };
        let mut big = JPEG_HEAD.to_vec();
        big.resize(11, 0);
        assert_eq!(describe(&big, &limits, 11, "/media/0").unwrap_err().refusal, Refusal::TooLarge);
        let small = JPEG_HEAD.to_vec();
        assert_eq!(describe(&small, &limits, 13, "/media/1").unwrap_err().refusal, Refusal::TooLarge);
        let ok = describe(&small, &limits, 4, "/media/1").unwrap();
        assert_eq!(ok.uri, format!("blob:sha256:{}", ok.sha256.clone().unwrap()));
        assert_eq!(ok.bytes, Some(4));
    }

    #[test]
    fn hex_is_lower_case_sha256() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
