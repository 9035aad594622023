//! Media bytes: what they are (sniffed, never taken from the client) and where a photo was
//! taken (EXIF GPS).
//!
//! STUB: the real implementation lands from the adapters-helpers branch.

use hue_intake_schemas::{Gps, MediaKind};

/// How many leading bytes [`sniff`] needs to decide.
pub const SNIFF_LEN: usize = 64;

/// Kind and MIME type of an allowed file, from its first bytes; `None` when the type is not on
/// the allow-list (JPEG, PNG, HEIC/HEIF, WebP, MP4, MOV, 3GP, M4A/AAC, MP3, AMR, PDF).
pub fn sniff(head: &[u8]) -> Option<(MediaKind, &'static str)> {
    head.starts_with(&[0xff, 0xd8, 0xff])
        .then_some((MediaKind::Image, "image/jpeg"))
}

/// GPS position from a photo's EXIF, range-checked; `None` when absent or unreadable.
pub fn exif_gps(_bytes: &[u8]) -> Option<Gps> {
    None
}
