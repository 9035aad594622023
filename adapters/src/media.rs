//! Media bytes: what they are (sniffed, never taken from the client) and where a photo was
//! taken (EXIF GPS).
//!
//! This module owns the allow-list of media types the gateway stores, decided from the
//! leading bytes alone, plus the EXIF GPS reader and the content hash. It must not trust a
//! file name, extension or declared Content-Type, must not decode or transcode media, and must
//! never panic on hostile bytes: whatever it cannot read is simply "not allowed" or "no GPS".

use std::io::Cursor;

use hue_intake_schemas::{Gps, MediaKind};
use sha2::{Digest, Sha256};

/// How many leading bytes [`sniff`] needs to decide.
///
/// Every signature on the allow-list sits in the first 12 bytes; the rest leaves room for the
/// compatible brands of an ISO BMFF `ftyp` box, which decide when the major brand is unknown.
pub const SNIFF_LEN: usize = 64;

/// Kind and MIME type of an allowed file, from its first bytes; `None` when the type is not on
/// the allow-list (JPEG, PNG, HEIC/HEIF, WebP, MP4, MOV, 3GP, M4A/AAC, MP3, AMR, PDF).
///
/// Wide-band AMR voice notes (`#!AMR-WB`) are allowed as `audio/amr-wb`, their own MIME type.
pub fn sniff(head: &[u8]) -> Option<(MediaKind, &'static str)> {
    let head = &head[..head.len().min(SNIFF_LEN)];
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some((MediaKind::Image, "image/jpeg"));
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some((MediaKind::Image, "image/png"));
    }
    if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        return Some((MediaKind::Image, "image/webp"));
    }
    if head.starts_with(b"%PDF-") {
        return Some((MediaKind::File, "application/pdf"));
    }
    if head.starts_with(b"#!AMR\n") {
        return Some((MediaKind::Audio, "audio/amr"));
    }
    if head.starts_with(b"#!AMR-WB\n") {
        return Some((MediaKind::Audio, "audio/amr-wb"));
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return sniff_iso_bmff(head);
    }
    // ID3v2 tag: "ID3", major version 2–4, revision, flags.
    if head.len() >= 10 && head.starts_with(b"ID3") && (2..=4).contains(&head[3]) && head[4] != 0xFF {
        return Some((MediaKind::Audio, "audio/mpeg"));
    }
    if is_adts(head) {
        return Some((MediaKind::Audio, "audio/aac"));
    }
    if is_mpeg_audio_frame(head) {
        return Some((MediaKind::Audio, "audio/mpeg"));
    }
    None
}

/// MP4, MOV, 3GP, M4A, HEIC and HEIF are all ISO base media files; the `ftyp` box's major
/// brand (bytes 8..12) says which, and when it is unknown the first known compatible brand
/// does (e.g. a camera's own major brand with `isom` compatible).
fn sniff_iso_bmff(head: &[u8]) -> Option<(MediaKind, &'static str)> {
    let major: [u8; 4] = head[8..12].try_into().ok()?;
    match brand(&major) {
        Brand::Allowed(kind, mime) => return Some((kind, mime)),
        Brand::Refused => return None,
        Brand::Unknown => {}
    }
    let box_len = u32::from_be_bytes(head[0..4].try_into().ok()?) as usize;
    let end = box_len.min(head.len());
    // Compatible brands start after the major brand and the 4-byte minor version.
    (16..end).step_by(4).filter_map(|i| head.get(i..i + 4)).find_map(|b| match brand(b) {
        Brand::Allowed(kind, mime) => Some((kind, mime)),
        Brand::Refused | Brand::Unknown => None,
    })
}

enum Brand {
    Allowed(MediaKind, &'static str),
    /// An ISO BMFF type we do not store (AVIF, DRM-protected audio, camera raw): its compatible
    /// brands (AVIF lists `mif1`) must not let it in.
    Refused,
    Unknown,
}

fn brand(b: &[u8]) -> Brand {
    match b {
        b"isom" | b"iso2" | b"iso3" | b"iso4" | b"iso5" | b"iso6" | b"mp41" | b"mp42" | b"avc1" | b"mmp4" | b"M4V "
        | b"M4VH" | b"M4VP" | b"MSNV" | b"dash" | b"f4v " => Brand::Allowed(MediaKind::Video, "video/mp4"),
        b"qt  " => Brand::Allowed(MediaKind::Video, "video/quicktime"),
        b if b.starts_with(b"3g") => Brand::Allowed(MediaKind::Video, "video/3gpp"),
        b"M4A " | b"M4B " => Brand::Allowed(MediaKind::Audio, "audio/mp4"),
        b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"hevm" | b"hevs" => {
            Brand::Allowed(MediaKind::Image, "image/heic")
        }
        b"mif1" | b"msf1" => Brand::Allowed(MediaKind::Image, "image/heif"),
        b"avif" | b"avis" | b"M4P " | b"crx " => Brand::Refused,
        _ => Brand::Unknown,
    }
}

/// ADTS AAC frame header: 12-bit sync, layer 00, a sampling-frequency index that exists.
fn is_adts(head: &[u8]) -> bool {
    head.len() >= 7 && head[0] == 0xFF && head[1] & 0xF6 == 0xF0 && (head[2] >> 2) & 0x0F < 13
}

/// MPEG-1/2/2.5 audio frame header (a headerless MP3): 11-bit sync and no reserved values in
/// version, layer, bitrate or sampling rate, which rules out most random 0xFF bytes.
fn is_mpeg_audio_frame(head: &[u8]) -> bool {
    if head.len() < 4 || head[0] != 0xFF || head[1] & 0xE0 != 0xE0 {
        return false;
    }
    let version = (head[1] >> 3) & 0x03;
    let layer = (head[1] >> 1) & 0x03;
    let bitrate = head[2] >> 4;
    let sampling = (head[2] >> 2) & 0x03;
    version != 0b01 && layer != 0b00 && bitrate != 0x0F && sampling != 0b11
}

/// GPS position from a photo's EXIF, range-checked; `None` when absent or unreadable.
///
/// Latitude and longitude need their N/S and E/W references: without them the sign is a
/// guess. The null position (0, 0), which broken cameras write, counts as absent.
pub fn exif_gps(bytes: &[u8]) -> Option<Gps> {
    // kamadak-exif bounds-checks its reads, but this runs on bytes from anyone on the
    // internet: a panic in a parser dependency must cost the photo its position, not the
    // request.
    let exif = std::panic::catch_unwind(|| exif::Reader::new().read_from_container(&mut Cursor::new(bytes)).ok())
        .ok()
        .flatten()?;
    let field = |tag| exif.get_field(tag, exif::In::PRIMARY).map(|f| &f.value);

    let lat = degrees(field(exif::Tag::GPSLatitude)?)?;
    let lon = degrees(field(exif::Tag::GPSLongitude)?)?;
    let lat = match reference(field(exif::Tag::GPSLatitudeRef)?)? {
        b'N' => lat,
        b'S' => -lat,
        _ => return None,
    };
    let lon = match reference(field(exif::Tag::GPSLongitudeRef)?)? {
        b'E' => lon,
        b'W' => -lon,
        _ => return None,
    };
    if !(lat.abs() <= 90.0 && lon.abs() <= 180.0) || (lat == 0.0 && lon == 0.0) {
        return None;
    }
    Some(Gps { lat: round7(lat), lon: round7(lon) })
}

/// Degrees, minutes, seconds as up to three rationals; a zero denominator or a missing
/// degrees component is unreadable.
fn degrees(value: &exif::Value) -> Option<f64> {
    let exif::Value::Rational(parts) = value else {
        return None;
    };
    if parts.is_empty() {
        return None;
    }
    let mut total = 0.0;
    for (part, scale) in parts.iter().zip([1.0, 60.0, 3600.0]) {
        let v = part.to_f64();
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        total += v / scale;
    }
    Some(total)
}

/// The first letter of an ASCII reference tag ("N", "S", "E", "W"), upper-cased.
fn reference(value: &exif::Value) -> Option<u8> {
    let exif::Value::Ascii(strings) = value else {
        return None;
    };
    strings.first()?.first().map(u8::to_ascii_uppercase)
}

/// 7 decimals ≈ 1 cm: more than a phone's GPS can tell, and stable in JSON.
fn round7(v: f64) -> f64 {
    (v * 1e7).round() / 1e7
}

/// Lower-case hex SHA-256 of the bytes (`MediaItem.sha256`, `blob:sha256:<hex>` URIs).
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::attachment::hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- hand-made EXIF -------------------------------------------------------------------

    enum Entry {
        Ascii(u16, &'static str),
        Rationals(u16, Vec<(u32, u32)>),
    }

    /// A little-endian TIFF structure: IFD0 with only a GPSInfo pointer (0x8825), then a GPS
    /// IFD with the given entries, then the values that do not fit in 4 bytes.
    fn tiff_with_gps(entries: &[Entry]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(b"II*\0");
        t.extend_from_slice(&8u32.to_le_bytes());
        // IFD0 at 8: one entry, then the next-IFD offset.
        let gps_ifd = 8 + 2 + 12 + 4;
        t.extend_from_slice(&1u16.to_le_bytes());
        t.extend_from_slice(&0x8825u16.to_le_bytes());
        t.extend_from_slice(&4u16.to_le_bytes()); // LONG
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&(gps_ifd as u32).to_le_bytes());
        t.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(t.len(), gps_ifd);

        let mut data_at = gps_ifd + 2 + 12 * entries.len() + 4;
        let mut data = Vec::new();
        t.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for entry in entries {
            match entry {
                Entry::Ascii(tag, s) => {
                    let mut bytes = s.as_bytes().to_vec();
                    bytes.push(0);
                    assert!(bytes.len() <= 4, "inline ASCII only");
                    t.extend_from_slice(&tag.to_le_bytes());
                    t.extend_from_slice(&2u16.to_le_bytes()); // ASCII
                    t.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    bytes.resize(4, 0);
                    t.extend_from_slice(&bytes);
                }
                Entry::Rationals(tag, values) => {
                    t.extend_from_slice(&tag.to_le_bytes());
                    t.extend_from_slice(&5u16.to_le_bytes()); // RATIONAL
                    t.extend_from_slice(&(values.len() as u32).to_le_bytes());
                    t.extend_from_slice(&(data_at as u32).to_le_bytes());
                    for (num, den) in values {
                        data.extend_from_slice(&num.to_le_bytes());
                        data.extend_from_slice(&den.to_le_bytes());
                    }
                    data_at += 8 * values.len();
                }
            }
        }
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(&data);
        t
    }

    /// SOI, an APP1 "Exif" segment holding the TIFF structure, EOI.
    fn jpeg_with_exif(tiff: &[u8]) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE1];
        j.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
        j.extend_from_slice(b"Exif\0\0");
        j.extend_from_slice(tiff);
        j.extend_from_slice(&[0xFF, 0xD9]);
        j
    }

    fn gps_jpeg(lat_ref: &'static str, lat: Vec<(u32, u32)>, lon_ref: &'static str, lon: Vec<(u32, u32)>) -> Vec<u8> {
        jpeg_with_exif(&tiff_with_gps(&[
            Entry::Ascii(1, lat_ref),
            Entry::Rationals(2, lat),
            Entry::Ascii(3, lon_ref),
            Entry::Rationals(4, lon),
        ]))
    }

    /// 16°27'49.32"N 107°35'27.24"E, in front of the Đại Nội.
    fn hue_jpeg() -> Vec<u8> {
        gps_jpeg("N", vec![(16, 1), (27, 1), (4932, 100)], "E", vec![(107, 1), (35, 1), (2724, 100)])
    }

    #[test]
    fn reads_gps_from_a_jpeg() {
        let gps = exif_gps(&hue_jpeg()).expect("GPS");
        assert!((gps.lat - 16.4637).abs() < 1e-4, "{}", gps.lat);
        assert!((gps.lon - 107.5909).abs() < 1e-4, "{}", gps.lon);
        // Rounded to 7 decimals.
        assert_eq!(gps.lat, (gps.lat * 1e7).round() / 1e7);
    }

    #[test]
    fn southern_and_western_references_are_negative() {
        let jpeg = gps_jpeg("S", vec![(33, 1), (51, 1), (0, 1)], "W", vec![(70, 1), (30, 1), (0, 1)]);
        let gps = exif_gps(&jpeg).expect("GPS");
        assert!((gps.lat + 33.85).abs() < 1e-9 && (gps.lon + 70.5).abs() < 1e-9, "{gps:?}");
    }

    #[test]
    fn decimal_degrees_in_one_rational_are_read() {
        let jpeg = gps_jpeg("N", vec![(164637, 10000)], "E", vec![(1075909, 10000)]);
        assert_eq!(exif_gps(&jpeg), Some(Gps { lat: 16.4637, lon: 107.5909 }));
    }

    #[test]
    fn impossible_positions_are_refused() {
        let null_island = gps_jpeg("N", vec![(0, 1), (0, 1), (0, 1)], "E", vec![(0, 1), (0, 1), (0, 1)]);
        assert_eq!(exif_gps(&null_island), None);
        let too_far_north = gps_jpeg("N", vec![(95, 1), (0, 1), (0, 1)], "E", vec![(107, 1), (0, 1), (0, 1)]);
        assert_eq!(exif_gps(&too_far_north), None);
        let zero_denominator = gps_jpeg("N", vec![(16, 0), (0, 1), (0, 1)], "E", vec![(107, 1), (0, 1), (0, 1)]);
        assert_eq!(exif_gps(&zero_denominator), None);
        let bad_reference = gps_jpeg("X", vec![(16, 1), (0, 1), (0, 1)], "E", vec![(107, 1), (0, 1), (0, 1)]);
        assert_eq!(exif_gps(&bad_reference), None);
    }

    #[test]
    fn missing_gps_tags_are_absent() {
        let no_refs = jpeg_with_exif(&tiff_with_gps(&[
            Entry::Rationals(2, vec![(16, 1), (27, 1), (0, 1)]),
            Entry::Rationals(4, vec![(107, 1), (35, 1), (0, 1)]),
        ]));
        assert_eq!(exif_gps(&no_refs), None);
        let no_longitude = jpeg_with_exif(&tiff_with_gps(&[
            Entry::Ascii(1, "N"),
            Entry::Rationals(2, vec![(16, 1), (27, 1), (0, 1)]),
        ]));
        assert_eq!(exif_gps(&no_longitude), None);
    }

    #[test]
    fn jpeg_without_exif_has_no_gps() {
        let plain =
            [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9];
        assert_eq!(exif_gps(&plain), None);
    }

    #[test]
    fn garbage_and_truncated_bytes_have_no_gps() {
        assert_eq!(exif_gps(&[]), None);
        assert_eq!(exif_gps(b"not an image at all"), None);
        let jpeg = hue_jpeg();
        for len in [3, 4, 6, 12, 20, 40, jpeg.len() - 30, jpeg.len() - 3] {
            assert_eq!(exif_gps(&jpeg[..len]), None, "truncated at {len}");
        }
    }

    #[test]
    fn corrupted_bytes_never_yield_an_out_of_range_position() {
        let jpeg = hue_jpeg();
        // Deterministic single-byte corruptions over the whole file.
        for i in 0..jpeg.len() {
            for v in [0x00, 0x7F, 0xFF] {
                let mut bad = jpeg.clone();
                bad[i] = v;
                if let Some(gps) = exif_gps(&bad) {
                    assert!(gps.lat.abs() <= 90.0 && gps.lon.abs() <= 180.0, "byte {i} = {v}: {gps:?}");
                    assert!(gps.lat.is_finite() && gps.lon.is_finite());
                }
            }
        }
    }

    // ---- sniffing -------------------------------------------------------------------------

    /// An ISO BMFF file start: an `ftyp` box with the major brand and compatible brands.
    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let len = 16 + 4 * compatible.len();
        let mut v = (len as u32).to_be_bytes().to_vec();
        v.extend_from_slice(b"ftyp");
        v.extend_from_slice(major);
        v.extend_from_slice(&0u32.to_be_bytes());
        for b in compatible {
            v.extend_from_slice(*b);
        }
        v.extend_from_slice(&[0, 0, 0, 8, b'm', b'd', b'a', b't']);
        v
    }

    fn mime(head: &[u8]) -> Option<&'static str> {
        sniff(head).map(|(_, m)| m)
    }

    #[test]
    fn sniffs_images() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Some((MediaKind::Image, "image/jpeg")));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some((MediaKind::Image, "image/png")));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some((MediaKind::Image, "image/webp")));
        assert_eq!(sniff(&ftyp(b"heic", &[b"mif1", b"heic"])), Some((MediaKind::Image, "image/heic")));
        assert_eq!(mime(&ftyp(b"heix", &[])), Some("image/heic"));
        assert_eq!(sniff(&ftyp(b"mif1", &[b"heic"])), Some((MediaKind::Image, "image/heif")));
        assert_eq!(mime(&ftyp(b"msf1", &[])), Some("image/heif"));
    }

    #[test]
    fn sniffs_video() {
        for brand in [b"isom", b"mp41", b"mp42", b"avc1"] {
            assert_eq!(sniff(&ftyp(brand, &[b"isom"])), Some((MediaKind::Video, "video/mp4")));
        }
        assert_eq!(sniff(&ftyp(b"qt  ", &[b"qt  "])), Some((MediaKind::Video, "video/quicktime")));
        for brand in [b"3gp4", b"3gp5", b"3g2a"] {
            assert_eq!(sniff(&ftyp(brand, &[])), Some((MediaKind::Video, "video/3gpp")));
        }
        // An unknown major brand decides by its compatible brands.
        assert_eq!(mime(&ftyp(b"XAVC", &[b"XAVC", b"mp42", b"iso2"])), Some("video/mp4"));
    }

    #[test]
    fn sniffs_audio_and_pdf() {
        assert_eq!(sniff(&ftyp(b"M4A ", &[b"M4A ", b"mp42", b"isom"])), Some((MediaKind::Audio, "audio/mp4")));
        assert_eq!(sniff(b"ID3\x04\0\0\0\0\x10\x00"), Some((MediaKind::Audio, "audio/mpeg")));
        // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz.
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x64, 0, 0]), Some((MediaKind::Audio, "audio/mpeg")));
        // ADTS AAC-LC, 44.1 kHz, stereo.
        assert_eq!(sniff(&[0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC]), Some((MediaKind::Audio, "audio/aac")));
        assert_eq!(sniff(b"#!AMR\n\x3c"), Some((MediaKind::Audio, "audio/amr")));
        assert_eq!(sniff(b"#!AMR-WB\n\x04"), Some((MediaKind::Audio, "audio/amr-wb")));
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3"), Some((MediaKind::File, "application/pdf")));
    }

    #[test]
    fn refuses_everything_else() {
        let refused: [&[u8]; 16] = [
            b"GIF89a\x01\0\x01\0",
            b"PK\x03\x04\x14\0\0\0",
            b"MZ\x90\0\x03\0\0\0",
            b"\x7fELF\x02\x01\x01\0",
            b"<!DOCTYPE html><html>",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\">",
            b"<?xml version=\"1.0\"?><svg>",
            b"Cay do chan ngang duong",
            b"",
            b"\xFF",
            b"\xFF\xD8",
            b"RIFF\x24\0\0\0WAVEfmt ",
            b"OggS\0\x02\0\0",
            b"\x1aE\xdf\xa3\x9fB\x86\x81",
            b"ID3\xFF\0\0\0\0\0\0",
            // 0xFF followed by reserved MPEG version/layer bits.
            &[0xFF, 0xE9, 0x90, 0x00],
        ];
        for head in refused {
            assert_eq!(sniff(head), None, "{head:?}");
        }
        assert_eq!(sniff(&ftyp(b"avif", &[b"avif", b"mif1", b"miaf"])), None);
        assert_eq!(sniff(&ftyp(b"M4P ", &[b"M4P ", b"mp42"])), None);
        assert_eq!(sniff(&ftyp(b"XXXX", &[b"YYYY"])), None);
    }

    #[test]
    fn sniff_looks_at_no_more_than_sniff_len_bytes() {
        // A compatible brand beyond SNIFF_LEN is not seen.
        let mut far: Vec<&[u8; 4]> = vec![b"XXXX"; 20];
        far.push(b"isom");
        let head = ftyp(b"XXXX", &far);
        assert!(head.len() > SNIFF_LEN);
        assert_eq!(sniff(&head), None);
        let mut near: Vec<&[u8; 4]> = vec![b"XXXX"; 5];
        near.push(b"isom");
        assert_eq!(mime(&ftyp(b"XXXX", &near)), Some("video/mp4"));
    }

    #[test]
    fn sha256_hex_matches_known_vectors() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
