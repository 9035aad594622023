//! Text of an e-mail as the sender meant it, whatever its charset label says
//! (reference/vietnam.md §1.2–§1.4).
//!
//! mail-parser decodes by the declared label. Vietnamese mail often lies about it: UTF-8 or
//! legacy font encodings (VNI-Windows, TCVN3/"ABC") sent as `iso-8859-1`/`windows-1252`, and
//! windows-1258 or macOS text in decomposed form. [`repair`] takes the decoded text and the
//! label, undoes what it can prove, and always ends in NFC. It is conservative: a real Latin-1
//! text (French, English) has none of the legacy telltales and is left alone.

use unicode_normalization::UnicodeNormalization;

/// What [`repair`] did to a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repair {
    /// Already NFC Unicode, kept as it was.
    #[default]
    None,
    /// Decomposed (NFD) input composed to NFC.
    Nfc,
    /// Declared windows-1258: decoded (with its combining tone marks) and composed.
    Windows1258,
    /// Bytes labelled as a single-byte charset were in fact UTF-8.
    Utf8,
    /// VNI-Windows bytes read as Latin-1, converted.
    Vni,
    /// TCVN3 ("ABC") bytes read as Latin-1, converted.
    Tcvn3,
}

impl Repair {
    pub fn as_str(self) -> &'static str {
        match self {
            Repair::None => "none",
            Repair::Nfc => "nfc",
            Repair::Windows1258 => "windows_1258",
            Repair::Utf8 => "utf8",
            Repair::Vni => "vni",
            Repair::Tcvn3 => "tcvn3",
        }
    }
}

/// Repairs `text` (already decoded by the label `declared`, if any) and returns it in NFC.
pub fn repair(text: &str, declared: Option<&str>) -> (String, Repair) {
    let label = declared.map(|l| l.trim().to_ascii_lowercase());
    let label = label.as_deref();
    // Only a text made of single-byte code points can be legacy bytes in disguise: true
    // Vietnamese Unicode has letters above U+00FF (ạ, ế, ư…) and is never touched.
    if let Some(bytes) = single_byte_form(text, label) {
        if !bytes.is_ascii()
            && let Ok(utf8) = std::str::from_utf8(&bytes)
        {
            return (utf8.nfc().collect(), Repair::Utf8);
        }
        if text.chars().all(latin1_or_cp1252) {
            let vni = vni_score(text);
            let tcvn = tcvn3_score(text);
            if tcvn.is_confident() && tcvn.hits >= vni.hits {
                return (from_tcvn3(text).nfc().collect(), Repair::Tcvn3);
            }
            if vni.is_confident() {
                return (from_vni(text).nfc().collect(), Repair::Vni);
            }
        }
    }
    let composed: String = text.nfc().collect();
    let repair = if matches!(label, Some("windows-1258" | "windows_1258" | "cp1258" | "x-cp1258")) && !text.is_ascii() {
        Repair::Windows1258
    } else if composed != text {
        Repair::Nfc
    } else {
        Repair::None
    };
    (composed, repair)
}

/// Decodes the bytes of a text part labelled with a charset other than UTF-8 (mail-parser's
/// own decoding loses bytes: undefined windows-1252 positions such as 0x9D, which UTF-8 read as
/// Latin-1 needs, and every byte of a label it does not know). Valid UTF-8 wins over the label;
/// labels encoding_rs knows are decoded by it and [`repair`]ed; the Vietnamese legacy labels
/// (`x-viet-vni`, `x-viet-tcvn5712`, `tcvn3`…) go through their tables; anything else is read
/// as Latin-1 and repaired.
pub fn decode(bytes: &[u8], declared: &str) -> (String, Repair) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let (text, repair) = repair(text, Some("utf-8"));
        return (text, if bytes.is_ascii() { repair } else { Repair::Utf8 });
    }
    let label = declared.trim().to_ascii_lowercase();
    if let Some(encoding) = encoding_rs::Encoding::for_label(label.as_bytes()) {
        let (text, _) = encoding.decode_without_bom_handling(bytes);
        return repair(&text, Some(&label));
    }
    let latin1: String = bytes.iter().map(|&b| char::from(b)).collect();
    if label.contains("vni") {
        (from_vni(&latin1).nfc().collect(), Repair::Vni)
    } else if label.contains("tcvn") || label.contains("abc") || label.contains("vn3") {
        (from_tcvn3(&latin1).nfc().collect(), Repair::Tcvn3)
    } else {
        repair(&latin1, Some("iso-8859-1"))
    }
}

/// The bytes the text was decoded from, when its label is a single-byte charset that maps back
/// losslessly (or there is no label and every character is Latin-1).
fn single_byte_form(text: &str, label: Option<&str>) -> Option<Vec<u8>> {
    match label {
        None | Some("us-ascii" | "ascii" | "iso-8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1") => {
            text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
        }
        Some(other) => {
            if other.starts_with("utf") {
                return None;
            }
            let encoding = encoding_rs::Encoding::for_label(other.as_bytes())?;
            if encoding == encoding_rs::UTF_8 || !encoding.is_single_byte() {
                return None;
            }
            let (bytes, _, unmappable) = encoding.encode(text);
            (!unmappable).then(|| bytes.into_owned())
        }
    }
}

/// A character that Latin-1 or windows-1252 decoding can produce.
fn latin1_or_cp1252(c: char) -> bool {
    const CP1252_EXTRA: &[char] = &[
        '€', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 'Ž', '‘', '’', '“', '”', '•', '–', '—', '˜', '™',
        'š', '›', 'œ', 'ž', 'Ÿ',
    ];
    u32::from(c) <= 0xFF || CP1252_EXTRA.contains(&c)
}

/// How strongly a text looks like a legacy encoding read as Latin-1.
#[derive(Debug, Clone, Copy, Default)]
struct Score {
    /// Telltale characters in letter context.
    hits: usize,
    /// Non-ASCII characters that do not fit the encoding's patterns.
    strays: usize,
}

impl Score {
    fn is_confident(self) -> bool {
        self.hits >= 3 && self.hits > 2 * self.strays
    }
}

// ---------------------------------------------------------------------------------------------
// VNI-Windows: a base letter followed by a mark byte (`aø` = à, `eá` = ế, `ö` = ư, `ñ` = đ).

const GRAVE: char = '\u{300}';
const ACUTE: char = '\u{301}';
const HOOK: char = '\u{309}';
const TILDE: char = '\u{303}';
const DOT: char = '\u{323}';
const CIRCUMFLEX: char = '\u{302}';
const BREVE: char = '\u{306}';

/// The combining marks a VNI mark byte (seen as its Latin-1 character) stands for. Upper-case
/// forms are the same marks written after capitals.
fn vni_mark(c: char) -> Option<&'static [char]> {
    Some(match c.to_lowercase().next()? {
        'ø' => &[GRAVE],
        'ù' => &[ACUTE],
        'û' => &[HOOK],
        'õ' => &[TILDE],
        'ï' => &[DOT],
        'â' => &[CIRCUMFLEX],
        'à' => &[CIRCUMFLEX, GRAVE],
        'á' => &[CIRCUMFLEX, ACUTE],
        'å' => &[CIRCUMFLEX, HOOK],
        'ã' => &[CIRCUMFLEX, TILDE],
        'ä' => &[CIRCUMFLEX, DOT],
        'ê' => &[BREVE],
        'è' => &[BREVE, GRAVE],
        'é' => &[BREVE, ACUTE],
        'ú' => &[BREVE, HOOK],
        'ü' => &[BREVE, TILDE],
        'ë' => &[BREVE, DOT],
        _ => return None,
    })
}

/// A character that a VNI mark can follow, as its Unicode base letter.
fn vni_base(c: char) -> Option<char> {
    match c {
        'a' | 'e' | 'o' | 'u' | 'y' | 'i' | 'A' | 'E' | 'O' | 'U' | 'Y' | 'I' => Some(c),
        'ô' => Some('ơ'),
        'ö' => Some('ư'),
        'Ô' => Some('Ơ'),
        'Ö' => Some('Ư'),
        _ => None,
    }
}

/// VNI letters written as one byte.
fn vni_single(c: char) -> Option<char> {
    Some(match c {
        'ñ' => 'đ',
        'Ñ' => 'Đ',
        'ô' => 'ơ',
        'Ô' => 'Ơ',
        'ö' => 'ư',
        'Ö' => 'Ư',
        'æ' => 'ỉ',
        'Æ' => 'Ỉ',
        'ó' => 'ĩ',
        'Ó' => 'Ĩ',
        'ò' => 'ị',
        'Ò' => 'Ị',
        'î' => 'ỵ',
        'Î' => 'Ỵ',
        _ => return None,
    })
}

fn vni_score(text: &str) -> Score {
    let mut score = Score::default();
    let mut prev: Option<char> = None;
    for c in text.chars() {
        if !c.is_ascii() {
            let after_base = prev.is_some_and(|p| vni_base(p).is_some());
            if after_base && vni_mark(c).is_some() {
                score.hits += 1;
            } else if vni_single(c).is_some() {
                // đ, ư, ơ, ị…: frequent in Vietnamese but also Latin-1 letters, so neutral.
            } else if !matches!(c, 'ì' | 'í' | 'Ì' | 'Í') {
                score.strays += 1;
            }
        }
        prev = Some(c);
    }
    score
}

fn from_vni(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(base) = vni_base(c)
            && let Some(marks) = chars.peek().copied().and_then(vni_mark)
        {
            chars.next();
            out.push(base);
            out.extend(marks.iter());
        } else if let Some(single) = vni_single(c) {
            out.push(single);
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// TCVN3 (ABC): one byte per letter in 0xA1–0xFE (table checked against glibc's TCVN5712-1; the
// capitals of VN1 at the positions VN3 leaves to the ".VnTimeH" fonts are kept, they are rare).

const TCVN3_HIGH: [char; 94] = [
    'Ă', 'Â', 'Ê', 'Ô', 'Ơ', 'Ư', 'Đ', 'ă', 'â', 'ê', 'ô', 'ơ', 'ư', 'đ', 'Ặ', // A1–AF
    '\u{B0}', '\u{B1}', '\u{B2}', '\u{B3}', '\u{B4}', // B0–B4: combining marks in VN1, kept
    'à', 'ả', 'ã', 'á', 'ạ', 'Ẳ', 'ằ', 'ẳ', 'ẵ', 'ắ', 'Ẵ', // B5–BF
    'Ắ', 'Ầ', 'Ẩ', 'Ẫ', 'Ấ', 'Ề', 'ặ', 'ầ', 'ẩ', 'ẫ', 'ấ', 'ậ', 'è', 'Ể', 'ẻ', 'ẽ', // C0–CF
    'é', 'ẹ', 'ề', 'ể', 'ễ', 'ế', 'ệ', 'ì', 'ỉ', 'Ễ', 'Ế', 'Ồ', 'ĩ', 'í', 'ị', 'ò', // D0–DF
    'Ổ', 'ỏ', 'õ', 'ó', 'ọ', 'ồ', 'ổ', 'ỗ', 'ố', 'ộ', 'ờ', 'ở', 'ỡ', 'ớ', 'ợ', 'ù', // E0–EF
    'Ỗ', 'ủ', 'ũ', 'ú', 'ụ', 'ừ', 'ử', 'ữ', 'ứ', 'ự', 'ỳ', 'ỷ', 'ỹ', 'ý', 'ỵ', // F0–FE
];

fn tcvn3_char(c: char) -> Option<char> {
    let code = u32::from(c);
    if !(0xA1..=0xFE).contains(&code) {
        return None;
    }
    let mapped = TCVN3_HIGH[usize::try_from(code - 0xA1).ok()?];
    (mapped != c).then_some(mapped)
}

/// Latin-1 symbols that TCVN3 text shows inside words and Western text practically never
/// does: `¡ … §` (Ă Â Ê Ô Ơ Ư Đ), `¨ © ª « ¬ ­ ®` (ă â ê ô ơ ư đ) and `µ ¶ · ¸ ¹ » ¼ ½ ¾` (a and ă
/// with tones).
fn tcvn3_telltale(c: char) -> bool {
    matches!(u32::from(c), 0xA1..=0xAE | 0xB5..=0xB9 | 0xBB..=0xBE)
}

fn tcvn3_score(text: &str) -> Score {
    let mut score = Score::default();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii() {
            continue;
        }
        // In a word: next to a letter or to another TCVN3 character (`®­êng` = đường).
        let in_word = |n: char| n.is_alphabetic() || tcvn3_char(n).is_some();
        let letter_before = i > 0 && in_word(chars[i - 1]);
        let letter_after = chars.get(i + 1).is_some_and(|&n| in_word(n));
        if tcvn3_telltale(c) && (letter_before || letter_after) {
            score.hits += 1;
        } else if tcvn3_char(c).is_none() {
            score.strays += 1;
        }
    }
    score
}

fn from_tcvn3(text: &str) -> String {
    text.chars().map(|c| tcvn3_char(c).unwrap_or(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latin1(bytes: &[u8]) -> String {
        bytes.iter().map(|&b| char::from(b)).collect()
    }

    #[test]
    fn vni_read_as_latin1_is_converted() {
        // "Đường Lê Lợi ở Huế bị ngập nặng" in VNI-Windows bytes.
        let text = latin1(b"\xd1\xf6\xf4\xf8ng Le\xe2 L\xf4\xefi \xf4\xfb Hue\xe1 b\xf2 nga\xe4p na\xebng");
        let (fixed, repair) = repair(&text, Some("iso-8859-1"));
        assert_eq!(fixed, "Đường Lê Lợi ở Huế bị ngập nặng");
        assert_eq!(repair, Repair::Vni);
    }

    #[test]
    fn vni_capitals() {
        let text = latin1(b"THA\xd8NH PHO\xc1 HUE\xc1, \xd1A\xd8 NA\xdcNG");
        assert_eq!(repair(&text, Some("windows-1252")), ("THÀNH PHỐ HUẾ, ĐÀ NẴNG".to_owned(), Repair::Vni));
    }

    #[test]
    fn tcvn3_read_as_cp1252_is_converted() {
        // "Đèn đường ở Thuận Hóa bị hỏng" in TCVN3 bytes.
        let text = latin1(b"\xa7\xccn \xae\xad\xeang \xeb Thu\xcbn H\xe3a b\xde h\xe1ng, \xae\xb8 r\xaci");
        let (fixed, repair) = repair(&text, Some("windows-1252"));
        assert_eq!(fixed, "Đèn đường ở Thuận Hóa bị hỏng, đá rơi");
        assert_eq!(repair, Repair::Tcvn3);
    }

    #[test]
    fn latin1_french_and_english_are_left_alone() {
        for sample in [
            "Où est le café près de la rivière? Déjà vu, naïve façade, garçon, très élégant.",
            "Crème brûlée à la carte; the naïve café owner's résumé, São Paulo, Ångström.",
            "Grüße aus München – schöne Straße, Größe, über.",
        ] {
            let (fixed, repair) = repair(sample, Some("iso-8859-1"));
            assert_eq!(repair, Repair::None, "{sample}");
            assert_eq!(fixed, sample);
        }
    }

    #[test]
    fn utf8_read_as_latin1_is_recovered() {
        let bytes = "Cầu Trường Tiền ở Huế".as_bytes();
        let (fixed, repair) = repair(&latin1(bytes), Some("iso-8859-1"));
        assert_eq!((fixed.as_str(), repair), ("Cầu Trường Tiền ở Huế", Repair::Utf8));
    }

    #[test]
    fn nfd_is_composed_and_unicode_untouched() {
        let nfd: String = "Thừa Thiên Huế".nfd().collect();
        assert_eq!(repair(&nfd, Some("utf-8")), ("Thừa Thiên Huế".to_owned(), Repair::Nfc));
        assert_eq!(repair("Hoà Thuận, cầu", None), ("Hoà Thuận, cầu".to_owned(), Repair::None));
    }

    #[test]
    fn unknown_labels_use_the_tables() {
        assert_eq!(decode(b"Hue\xe1", "x-viet-vni"), ("Huế".to_owned(), Repair::Vni));
        assert_eq!(decode(b"Hu\xd5", "x-viet-tcvn5712"), ("Huế".to_owned(), Repair::Tcvn3));
        assert_eq!(decode("Huế".as_bytes(), "x-viet-vps"), ("Huế".to_owned(), Repair::Utf8));
        assert_eq!(decode(b"plain", "x-unknown"), ("plain".to_owned(), Repair::None));
        // "ờ" is E1 BB 9D: 0x9D has no windows-1252 character, yet the UTF-8 must survive.
        assert_eq!(decode("đường".as_bytes(), "iso-8859-1"), ("đường".to_owned(), Repair::Utf8));
        assert_eq!(decode(b"caf\xe9 cr\xe8me", "iso-8859-1"), ("café crème".to_owned(), Repair::None));
    }

    #[test]
    fn windows_1258_is_composed() {
        let (decoded, _, _) = encoding_rs::WINDOWS_1258.decode(b"Th\xfd\xcca Thi\xean Hu\xea\xec");
        assert_eq!(repair(&decoded, Some("windows-1258")), ("Thừa Thiên Huế".to_owned(), Repair::Windows1258));
    }
}
