//! Text hygiene for Vietnamese and other input: NFC, control characters, titles, language.
//!
//! This module owns the canonical form of free text (reference/vietnam.md §1): every title and
//! description goes through [`clean`] once, at ingress, and what it returns is what the report
//! stores. It also owns the diacritic-free matching key ([`fold_ascii`]) that other modules use
//! for lookups. It must never store or return the folded key as report text, and it does no
//! I/O: language detection uses only the statistics compiled into `whatlang`.

use hue_intake_schemas::Language;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// Maximum length of a title in Unicode scalar values (SPEC §8).
pub const TITLE_MAX_CHARS: usize = 120;

/// NFC-normalises, strips zero-width and bidi control characters and other invisible
/// controls (keeping `\n` and `\t`), maps the look-alikes of `Đ`, turns CRLF/CR into LF and
/// trims the ends.
pub fn clean(input: &str) -> String {
    // Line endings first: CR is itself a control character and would otherwise be dropped,
    // gluing "dòng 1\rdòng 2" into one word.
    let mut unified = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                unified.push('\n');
            }
            // Unicode line/paragraph separators are line breaks people paste from word
            // processors; as LF they stay visible to the title and sentence logic.
            '\u{2028}' | '\u{2029}' => unified.push('\n'),
            c if is_invisible(c) => {}
            // Latin eth and African D look exactly like Đ; legacy converters and some fonts
            // produce them in Vietnamese text, where they are always meant as Đ.
            'Ð' | 'Ɖ' => unified.push('Đ'),
            'ð' | 'ɖ' => unified.push('đ'),
            c => unified.push(c),
        }
    }
    // Filtering happens before NFC: removing a zero-width space between a base letter and a
    // combining mark creates a new composable pair, and NFC afterwards keeps `clean`
    // idempotent.
    // Most text arrives in NFC: the quick check spares it the decompose-recompose pass.
    if is_nfc_quick(unified.chars()) == IsNormalized::Yes {
        return unified.trim().to_owned();
    }
    let normalized: String = unified.nfc().collect();
    normalized.trim().to_owned()
}

/// Characters that carry no visible content and are used to evade filters or that break
/// display: zero-width and bidi controls, the soft hyphen, and C0/C1 controls except `\n`/`\t`.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{00AD}'
    ) || (c.is_control() && c != '\n' && c != '\t')
}

/// A one-line title of at most 120 Unicode scalar values, cut at a word boundary (SPEC §8),
/// from a title the client gave (already cleaned).
pub fn clamp_title(title: &str) -> String {
    // Collapse every run of whitespace (newlines and tabs included) to one space so the title
    // is one line whatever the client sent.
    let one_line = clean(title).split_whitespace().collect::<Vec<_>>().join(" ");
    let chars: Vec<char> = one_line.chars().collect();
    if chars.len() <= TITLE_MAX_CHARS {
        return one_line;
    }

    // If the first character past the limit is a space, the first 120 end on a whole word.
    let cut = if chars[TITLE_MAX_CHARS] == ' ' {
        Some(TITLE_MAX_CHARS)
    } else {
        chars[..TITLE_MAX_CHARS].iter().rposition(|&c| c == ' ')
    };
    let word_cut = cut.map(|end| trim_cut_end(&chars[..end])).filter(|s| !s.is_empty());
    word_cut.unwrap_or_else(|| hard_cut(&chars))
}

/// The end of a title that was cut: no trailing whitespace, and no punctuation that announces
/// a continuation which is no longer there.
fn trim_cut_end(chars: &[char]) -> String {
    let s: String = chars.iter().collect();
    s.trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | ':' | '-' | '–' | '—' | '(' | '[' | '{' | '/' | '&')
    })
    .to_owned()
}

/// A single word longer than the limit: cut at 120 scalars, but not between a letter and a
/// combining mark that NFC could not precompose (that would change the letter).
fn hard_cut(chars: &[char]) -> String {
    let mut end = TITLE_MAX_CHARS;
    while end > 1 && is_combining_mark(chars[end]) {
        end -= 1;
    }
    chars[..end].iter().collect()
}

/// A title derived from a description: its first sentence or line, clamped as above.
pub fn derive_title(description: &str) -> String {
    let text = clean(description);
    let first = first_sentence(&text);
    let first = first.trim_end_matches(['.', '…']).trim_end();
    if first.is_empty() { clamp_title(&text) } else { clamp_title(first) }
}

/// The text up to and including the first sentence terminator, or up to the first newline.
fn first_sentence(text: &str) -> &str {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(byte, c)) in chars.iter().enumerate() {
        if c == '\n' {
            return &text[..byte];
        }
        if !matches!(c, '.' | '!' | '?' | '…') {
            continue;
        }
        // "16.46" or "a.nguyen": a terminator only counts when followed by space or the end.
        let at_end = chars.get(i + 1).is_none_or(|&(_, next)| next.is_whitespace());
        if !at_end || (c == '.' && ends_with_abbreviation(&text[..byte])) {
            continue;
        }
        return &text[..byte + c.len_utf8()];
    }
    text
}

/// "TP. Huế", "Q. 1", "P. Phú Hội": a period after a short all-capital token abbreviates an
/// administrative word and does not end the sentence.
fn ends_with_abbreviation(before: &str) -> bool {
    let token = before.rsplit(char::is_whitespace).next().unwrap_or("");
    let n = token.chars().count();
    (1..=2).contains(&n) && token.chars().all(|c| c.is_alphabetic() && c.is_uppercase())
}

/// Diacritic-free matching key: NFD, combining marks removed, `đ→d` (which has no
/// decomposition) and its look-alikes mapped too (reference/vietnam.md §1.1, §1.5).
/// Case is kept. Never store the result as report text: it is lossy.
pub fn fold_ascii(text: &str) -> String {
    // ASCII (numbers, street numbers, words typed without diacritics) has no marks to strip
    // and no đ.
    if text.is_ascii() {
        return text.to_owned();
    }
    text.nfd()
        .filter(|&c| !is_combining_mark(c))
        .map(|c| match c {
            'đ' | 'ð' | 'ɖ' => 'd',
            'Đ' | 'Ð' | 'Ɖ' => 'D',
            c => c,
        })
        .collect()
}

/// Letters that (in practice) only Vietnamese uses: đ, ơ, ư, ĩ, ũ and the Latin Extended
/// Additional block U+1EA0–U+1EF9 (ạ ả ấ … ỹ). Yoruba ẹ/ọ and Welsh ỳ are the known collisions
/// (reference/vietnam.md §3); neither is plausible in Huế reports.
fn is_strong_vietnamese_letter(c: char) -> bool {
    matches!(c, 'đ' | 'Đ' | 'ơ' | 'Ơ' | 'ư' | 'Ư' | 'ĩ' | 'Ĩ' | 'ũ' | 'Ũ' | '\u{1EA0}'..='\u{1EF9}')
}

/// ă â ê ô also occur in Romanian, French and Portuguese, so they count as Vietnamese only in
/// a word that is a valid Vietnamese syllable once folded ("cây" yes, "forêt" or "spartă" no).
fn is_weak_vietnamese_letter(c: char) -> bool {
    matches!(c, 'ă' | 'Ă' | 'â' | 'Â' | 'ê' | 'Ê' | 'ô' | 'Ô')
}

/// Any letter of the Vietnamese alphabet that carries a mark (tone or vowel quality), as
/// opposed to the weak/strong subsets above: à á ả ã ạ, é, ì, ò, ù, ý and so on.
fn is_vietnamese_accented(c: char) -> bool {
    is_strong_vietnamese_letter(c)
        || is_weak_vietnamese_letter(c)
        || matches!(
            c.to_lowercase().next().unwrap_or(c),
            'à' | 'á' | 'ã' | 'è' | 'é' | 'ì' | 'í' | 'ò' | 'ó' | 'õ' | 'ù' | 'ú' | 'ý'
        )
}

const ONSETS: &[&str] = &[
    "ngh", "ch", "gh", "gi", "kh", "ng", "nh", "ph", "qu", "th", "tr", "b", "c", "d", "g", "h", "k", "l", "m", "n",
    "p", "r", "s", "t", "v", "x", "",
];

/// Vowel nuclei of folded Vietnamese, longest first (reference/vietnam.md §3), with whether
/// they may take a final consonant: glide-final and open diphthongs (ai, ao, ia, ua, …) never
/// do, which rejects many English words that otherwise look like syllables.
const NUCLEI: &[(&str, bool)] = &[
    ("ieu", false),
    ("yeu", false),
    ("oai", false),
    ("oay", false),
    ("oao", false),
    ("oeo", false),
    ("uay", false),
    ("uoi", false),
    ("uou", false),
    ("uye", true),
    ("uya", false),
    ("uyu", false),
    ("ai", false),
    ("ao", false),
    ("au", false),
    ("ay", false),
    ("eo", false),
    ("eu", false),
    ("ia", false),
    ("ie", true),
    ("iu", false),
    ("oa", true),
    ("oe", true),
    ("oi", false),
    ("oo", true),
    ("ua", true),
    ("ue", true),
    ("ui", false),
    ("uo", true),
    ("uu", false),
    ("uy", true),
    ("ye", true),
    ("a", true),
    ("e", true),
    ("i", true),
    ("o", true),
    ("u", true),
    ("y", true),
];

const CODAS: &[&str] = &["", "ch", "nh", "ng", "c", "m", "n", "p", "t"];

/// Whether a lower-case, folded ASCII word is a well-formed Vietnamese syllable:
/// onset? nucleus coda?, with the k/gh/ngh-before-front-vowel spelling rules.
fn is_vietnamese_syllable(word: &str) -> bool {
    if word.is_empty() || word.len() > 7 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return false;
    }
    ONSETS.iter().filter_map(|onset| word.strip_prefix(onset).map(|rest| (*onset, rest))).any(|(onset, rest)| {
        NUCLEI.iter().any(|&(nucleus, takes_coda)| {
            let Some(coda) = rest.strip_prefix(nucleus) else {
                return false;
            };
            let front = nucleus.starts_with(['e', 'i', 'y']);
            // "gì", "gìn" spell the gi- onset with its i merged into the nucleus.
            let spelling_ok = match onset {
                "k" | "gh" | "ngh" => front,
                "g" => !front || nucleus.starts_with('i'),
                "c" | "ng" => !front,
                _ => true,
            };
            spelling_ok && CODAS.contains(&coda) && (coda.is_empty() || takes_coda)
        })
    })
}

/// Words of the text: maximal runs of letters (and the combining marks of NFD input),
/// lower-cased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphabetic() || is_combining_mark(c)))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Below this many words the statistical detector is a coin toss ("ok", "Fire").
const MIN_WORDS_FOR_STATISTICS: usize = 3;

/// ISO 639-1 language of the text with a confidence, or `und` (R3).
///
/// In order (reference/vietnam.md §3):
/// 1. Vietnamese-only letters in a meaningful share of the words: `vi`, 0.9 to 1.0 with the
///    share.
/// 2. Every word a Vietnamese syllable and at least two, half or more, with Vietnamese marks
///    ("Cháy nhà"): `vi`, 0.85 to 0.9.
/// 3. From three words on, mostly well-formed diacritic-free Vietnamese syllables: `vi`, at
///    most 0.6, because `whatlang` misreads "không dấu" text as Tagalog or German.
/// 4. From three words on, `whatlang`'s answer when it is reliable, or English when it is
///    whatlang's clear first choice.
/// 5. Otherwise `und` with confidence 0.
pub fn detect_language(text: &str) -> Language {
    let nfc: String = text.nfc().collect();
    let words = words(&nfc);
    if words.is_empty() {
        return undetermined();
    }

    let strong = words.iter().filter(|w| w.chars().any(is_strong_vietnamese_letter)).count();
    let weak = words
        .iter()
        .filter(|w| {
            !w.chars().any(is_strong_vietnamese_letter)
                && w.chars().any(is_weak_vietnamese_letter)
                && is_vietnamese_syllable(&fold_ascii(w))
        })
        .count();
    let marked_share = (strong + weak) as f64 / words.len() as f64;
    if strong >= 1 && marked_share >= 0.2 {
        return Language { code: "vi".to_owned(), confidence: (0.9 + 0.1 * marked_share).min(1.0) };
    }
    // Without a Vietnamese-only letter, accented words still point to Vietnamese when every
    // word is a well-formed syllable and at least half carry Vietnamese marks ("Cháy nhà",
    // "Cây cầu"); Portuguese or French sentences fail the syllable test on some word.
    let accented = words
        .iter()
        .filter(|w| w.chars().any(is_vietnamese_accented) && is_vietnamese_syllable(&fold_ascii(w)))
        .count();
    let all_syllables = words.iter().all(|w| is_vietnamese_syllable(&fold_ascii(w)));
    if accented >= 2 && all_syllables && accented * 2 >= words.len() {
        let share = accented as f64 / words.len() as f64;
        return Language { code: "vi".to_owned(), confidence: 0.8 + 0.1 * share };
    }

    if words.len() < MIN_WORDS_FOR_STATISTICS {
        return undetermined();
    }

    let syllable_share =
        words.iter().filter(|w| is_vietnamese_syllable(&fold_ascii(w))).count() as f64 / words.len() as f64;
    if syllable_share >= 0.75 {
        // Between 0.75 and 0.9 English can still slip through ("I am on the bus"), so ask
        // whatlang to arbitrate between the only two languages that are plausible here.
        let vie_or_eng = whatlang::Detector::with_allowlist(vec![whatlang::Lang::Vie, whatlang::Lang::Eng]);
        if syllable_share >= 0.9 || vie_or_eng.detect_lang(&nfc) == Some(whatlang::Lang::Vie) {
            return Language { code: "vi".to_owned(), confidence: 0.6 * syllable_share };
        }
    }

    // Short English reports name Huế's streets ("Pothole on Le Loi street"), which drags
    // whatlang's confidence below anything usable; English function and report words settle it
    // when whatlang, asked to choose between the two plausible languages, picks English.
    let english = words.iter().filter(|w| ENGLISH_COMMON.contains(&w.as_str())).count();
    if english * 4 >= words.len() {
        let vie_or_eng = whatlang::Detector::with_allowlist(vec![whatlang::Lang::Vie, whatlang::Lang::Eng]);
        if let Some(info) = vie_or_eng.detect(&nfc).filter(|i| i.lang() == whatlang::Lang::Eng) {
            let share = english as f64 / words.len() as f64;
            return Language { code: "en".to_owned(), confidence: (0.5 + share).min(info.confidence().max(0.6)) };
        }
    }

    match whatlang::detect(&nfc) {
        Some(info) if info.is_reliable() || is_plausible_english(&info) => {
            Language { code: iso_639_1(info.lang()).to_owned(), confidence: info.confidence().clamp(0.0, 1.0) }
        }
        _ => undetermined(),
    }
}

/// Frequent English words of short reports: function words and the nouns of the trade. None
/// is a Vietnamese syllable that a Huế report would use on its own.
const ENGLISH_COMMON: &[&str] = &[
    "the",
    "a",
    "an",
    "on",
    "in",
    "at",
    "near",
    "of",
    "to",
    "from",
    "with",
    "and",
    "or",
    "but",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "there",
    "this",
    "that",
    "it",
    "my",
    "our",
    "we",
    "i",
    "you",
    "he",
    "she",
    "they",
    "someone",
    "please",
    "help",
    "street",
    "road",
    "light",
    "broken",
    "since",
    "for",
    "not",
    "no",
    "has",
    "have",
    "been",
    "very",
    "next",
    "front",
    "behind",
    "water",
    "fire",
    "tree",
    "fallen",
    "blocking",
    "pothole",
    "garbage",
    "rubbish",
    "loud",
    "night",
    "everywhere",
    "still",
    "after",
    "before",
    "all",
    "here",
    "now",
    "dogs",
    "dog",
    "market",
    "bridge",
    "river",
];

/// whatlang calls only answers above 0.9 reliable, which short reports rarely reach, and
/// Vietnamese street names lower it further ("The street light on Le Loi street is broken"
/// scores 0.6). English is the one foreign language expected in Huế (tourists), so when all 70
/// languages were candidates and English still came out on top with a clear margin, it is
/// accepted with whatlang's own confidence. Other languages need whatlang's reliability.
fn is_plausible_english(info: &whatlang::Info) -> bool {
    info.lang() == whatlang::Lang::Eng && info.confidence() >= 0.5
}

fn undetermined() -> Language {
    Language { code: "und".to_owned(), confidence: 0.0 }
}

/// ISO 639-1 code of each language whatlang 0.18 knows (all 70 have one; Mandarin maps to the
/// macrolanguage `zh`, Bokmål to `nb`, Persian to `fa`).
pub fn iso_639_1(lang: whatlang::Lang) -> &'static str {
    use whatlang::Lang;
    match lang {
        Lang::Epo => "eo",
        Lang::Eng => "en",
        Lang::Rus => "ru",
        Lang::Cmn => "zh",
        Lang::Spa => "es",
        Lang::Por => "pt",
        Lang::Ita => "it",
        Lang::Ben => "bn",
        Lang::Fra => "fr",
        Lang::Deu => "de",
        Lang::Ukr => "uk",
        Lang::Kat => "ka",
        Lang::Ara => "ar",
        Lang::Hin => "hi",
        Lang::Jpn => "ja",
        Lang::Heb => "he",
        Lang::Yid => "yi",
        Lang::Pol => "pl",
        Lang::Amh => "am",
        Lang::Jav => "jv",
        Lang::Kor => "ko",
        Lang::Nob => "nb",
        Lang::Dan => "da",
        Lang::Swe => "sv",
        Lang::Fin => "fi",
        Lang::Tur => "tr",
        Lang::Nld => "nl",
        Lang::Hun => "hu",
        Lang::Ces => "cs",
        Lang::Ell => "el",
        Lang::Bul => "bg",
        Lang::Bel => "be",
        Lang::Mar => "mr",
        Lang::Kan => "kn",
        Lang::Ron => "ro",
        Lang::Slv => "sl",
        Lang::Hrv => "hr",
        Lang::Srp => "sr",
        Lang::Mkd => "mk",
        Lang::Lit => "lt",
        Lang::Lav => "lv",
        Lang::Est => "et",
        Lang::Tam => "ta",
        Lang::Vie => "vi",
        Lang::Urd => "ur",
        Lang::Tha => "th",
        Lang::Guj => "gu",
        Lang::Uzb => "uz",
        Lang::Pan => "pa",
        Lang::Aze => "az",
        Lang::Ind => "id",
        Lang::Tel => "te",
        Lang::Pes => "fa",
        Lang::Mal => "ml",
        Lang::Ori => "or",
        Lang::Mya => "my",
        Lang::Nep => "ne",
        Lang::Sin => "si",
        Lang::Khm => "km",
        Lang::Tuk => "tk",
        Lang::Aka => "ak",
        Lang::Zul => "zu",
        Lang::Sna => "sn",
        Lang::Afr => "af",
        Lang::Lat => "la",
        Lang::Slk => "sk",
        Lang::Cat => "ca",
        Lang::Tgl => "tl",
        Lang::Hye => "hy",
        Lang::Cym => "cy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appendix A of reference/vietnam.md: short Vietnamese reports.
    const VI_SENTENCES: [&str; 20] = [
        "Cây đổ chắn ngang đường Lê Lợi",
        "Đèn đường hỏng",
        "Ngập nước",
        "Rác thải tràn lan trên vỉa hè đường Hùng Vương, phường Thuận Hóa",
        "Có người bị tai nạn giao thông ở cầu Trường Tiền, cần cấp cứu gấp",
        "Cháy nhà",
        "Dây điện bị đứt rơi xuống đường rất nguy hiểm",
        "Sạt lở đất ở A Lưới",
        "Ống nước bị vỡ, nước chảy lênh láng",
        "Lấn chiếm lòng lề đường để buôn bán",
        "Tiếng ồn karaoke quá khuya",
        "Ổ gà trên đường rất sâu",
        "Cống thoát nước bị tắc, bốc mùi hôi thối",
        "Xin hỏi thủ tục cấp giấy phép xây dựng",
        "Tôi muốn khiếu nại về việc tranh chấp đất đai với hàng xóm",
        "Xe tải chở cát rơi vãi trên đường",
        "Nước sinh hoạt bị đục",
        "Chó thả rông không rọ mõm",
        "Mất điện cả khu phố từ chiều",
        "Có đám cháy lớn gần chợ Đông Ba",
    ];

    /// Appendix A: short English reports. Too short for a statistical detector to be sure,
    /// but none of them may come out as Vietnamese.
    const EN_SENTENCES: [&str; 10] = [
        "Fallen tree blocking the road",
        "Street light broken",
        "Flooding near the Perfume River",
        "There is a lot of garbage on the sidewalk in front of the market",
        "Car accident at the bridge, someone is injured",
        "Fire",
        "Water pipe burst",
        "Loud karaoke at night",
        "Pothole on Le Loi street",
        "Power outage in my area since this afternoon",
    ];

    #[test]
    fn clean_strips_invisible_characters_and_controls() {
        let dirty = "\u{FEFF}  Cây\u{200B} đổ\u{00AD}\u{202E} chắn\u{2066} đường\u{0007}\u{0085} \t ";
        assert_eq!(clean(dirty), "Cây đổ chắn đường");
        assert_eq!(clean("a\tb\nc"), "a\tb\nc");
        assert_eq!(clean("\u{0000}x\u{009F}y\u{2060}z\u{2064}"), "xyz");
    }

    #[test]
    fn clean_unifies_line_endings() {
        assert_eq!(clean("dòng 1\r\ndòng 2\rdòng 3\ndòng 4"), "dòng 1\ndòng 2\ndòng 3\ndòng 4");
        assert_eq!(clean("a\u{2028}b"), "a\nb");
    }

    #[test]
    fn clean_composes_decomposed_vietnamese() {
        let nfd = "Ca\u{0302}y \u{0111}o\u{0302}\u{0309}";
        assert_ne!(nfd, "Cây đổ");
        assert_eq!(clean(nfd), "Cây đổ");
        // A zero-width space between a letter and its mark must not survive as a broken pair.
        assert_eq!(clean("e\u{200B}\u{0301}"), "é");
    }

    #[test]
    fn clean_is_idempotent() {
        let tricky = [
            "",
            "   ",
            "Ca\u{0302}y \u{0111}o\u{0302}\u{0309} chắn ngang",
            "e\u{200B}\u{0301}\u{200C}\u{0323}",
            "\u{0301}a \r\n\r\n b\u{FEFF}",
            " \u{00AD}\u{0301}x",
            "\u{2028}\u{2029}text\u{0085}",
            "tie\u{0323}\u{0302}u \u{0323}",
            "Ho\u{0300}a \u{2126} \u{212B} ﬁ",
            "\t\u{200F}\u{202A}Huế\u{202C}\t",
        ];
        for input in tricky {
            let once = clean(input);
            assert_eq!(clean(&once), once, "not idempotent on {input:?}");
            assert!(once.nfc().eq(once.chars()), "not NFC: {once:?}");
            assert_eq!(once.trim(), once);
        }
    }

    #[test]
    fn clamp_title_keeps_short_titles_on_one_line() {
        assert_eq!(clamp_title("  Đèn\nđường \t\t hỏng  "), "Đèn đường hỏng");
        assert_eq!(clamp_title("Ca\u{0302}y đổ"), "Cây đổ");
    }

    #[test]
    fn clamp_title_cuts_at_a_word_boundary() {
        let long = "Rác thải tràn lan trên vỉa hè đường Hùng Vương, ".repeat(5);
        let title = clamp_title(&long);
        let n = title.chars().count();
        assert!(n <= TITLE_MAX_CHARS && n > 100, "{n}: {title}");
        assert!(long.starts_with(&title));
        // The cut is between words: what follows in the source is a space.
        assert_eq!(long[title.len()..].chars().next(), Some(' '));
        assert!(!title.ends_with([',', ' ']), "{title:?}");
    }

    #[test]
    fn clamp_title_uses_a_word_that_ends_exactly_at_the_limit() {
        let exact = format!("{} {}", "a".repeat(119), "bcd");
        assert_eq!(clamp_title(&exact), "a".repeat(119));
        let fits = format!("{} tail", "x".repeat(TITLE_MAX_CHARS));
        assert_eq!(clamp_title(&fits), "x".repeat(TITLE_MAX_CHARS));
    }

    #[test]
    fn clamp_title_drops_dangling_punctuation_after_a_cut() {
        let long = format!("{}; {}", "ổ gà ".repeat(23).trim_end(), "x".repeat(50));
        let title = clamp_title(&long);
        assert!(title.ends_with("gà"), "{title:?}");
    }

    #[test]
    fn clamp_title_hard_cuts_a_single_long_word() {
        let word = "ư".repeat(200);
        assert_eq!(clamp_title(&word), "ư".repeat(TITLE_MAX_CHARS));
        // A letter NFC cannot precompose keeps its mark or goes with it.
        let with_marks = format!("{}q\u{0301}{}", "a".repeat(119), "b".repeat(10));
        let cut = clamp_title(&with_marks);
        assert_eq!(cut, "a".repeat(119));
    }

    #[test]
    fn derive_title_takes_the_first_sentence() {
        assert_eq!(
            derive_title("Cây đổ chắn ngang đường Lê Lợi, gần trường Quốc Học, xe không qua được. Đề nghị xử lý gấp."),
            "Cây đổ chắn ngang đường Lê Lợi, gần trường Quốc Học, xe không qua được"
        );
        assert_eq!(derive_title("Cháy nhà! Cần cứu hỏa"), "Cháy nhà!");
        assert_eq!(derive_title("Ngập sâu?\nai giúp với"), "Ngập sâu?");
        assert_eq!(derive_title("Mất điện… cả khu phố"), "Mất điện");
    }

    #[test]
    fn derive_title_ends_at_the_first_line() {
        assert_eq!(derive_title("Ổ gà\nTrên đường Lê Lợi. Rất sâu."), "Ổ gà");
    }

    #[test]
    fn derive_title_ignores_decimals_and_abbreviations() {
        assert_eq!(
            derive_title("Ngập tại 16.46, 107.59 ở TP. Huế gần Q. Thuận Hóa. Nước lên nhanh."),
            "Ngập tại 16.46, 107.59 ở TP. Huế gần Q. Thuận Hóa"
        );
        // A longer capitalised word is not an abbreviation.
        assert_eq!(derive_title("Đường LÊ LỢI. Cây đổ."), "Đường LÊ LỢI");
    }

    #[test]
    fn derive_title_falls_back_to_the_whole_text() {
        assert_eq!(derive_title("... đèn hỏng"), "... đèn hỏng");
        assert_eq!(derive_title("Không có dấu chấm"), "Không có dấu chấm");
        assert_eq!(derive_title(""), "");
    }

    #[test]
    fn derive_title_is_clamped() {
        let long = "Rác ".repeat(100);
        assert!(derive_title(&long).chars().count() <= TITLE_MAX_CHARS);
    }

    #[test]
    fn fold_ascii_strips_vietnamese_diacritics() {
        assert_eq!(fold_ascii("Đường Hùng Vương, phường Thuận Hóa"), "Duong Hung Vuong, phuong Thuan Hoa");
        assert_eq!(fold_ascii("Ðông ɖa"), "Dong da");
    }

    #[test]
    fn syllable_checker_accepts_vietnamese_and_rejects_english() {
        for w in ["nguoi", "nghieng", "khong", "duong", "phuong", "quyen", "khuya", "o", "ga", "gi"] {
            assert!(is_vietnamese_syllable(w), "{w}");
        }
        for w in ["street", "light", "broken", "bus", "kan", "ce", "aim", "ngi", "x", ""] {
            assert!(!is_vietnamese_syllable(w), "{w}");
        }
    }

    #[test]
    fn detects_vietnamese_with_diacritics() {
        for s in VI_SENTENCES {
            let lang = detect_language(s);
            assert_eq!(lang.code, "vi", "{s}");
            assert!(lang.confidence >= 0.5, "{s}: {}", lang.confidence);
        }
        let long = detect_language("Cây đổ chắn ngang đường Lê Lợi, gần trường Quốc Học");
        assert!(long.confidence >= 0.9, "{}", long.confidence);
    }

    #[test]
    fn detects_decomposed_vietnamese() {
        let nfd: String = "Dây điện bị đứt rơi xuống đường rất nguy hiểm".nfd().collect();
        assert_eq!(detect_language(&nfd).code, "vi");
    }

    #[test]
    fn detects_vietnamese_without_diacritics() {
        let lang = detect_language("o ga tren duong Le Loi, xe khong qua duoc");
        assert_eq!(lang.code, "vi");
        assert!(lang.confidence > 0.3 && lang.confidence <= 0.6, "{}", lang.confidence);
        let mut hits = 0;
        for s in VI_SENTENCES {
            let folded = fold_ascii(s);
            if folded.split_whitespace().count() >= MIN_WORDS_FOR_STATISTICS {
                assert_eq!(detect_language(&folded).code, "vi", "{folded}");
                hits += 1;
            }
        }
        assert!(hits >= 15, "{hits}");
    }

    #[test]
    fn never_reads_english_as_vietnamese() {
        for s in EN_SENTENCES {
            let lang = detect_language(s);
            assert_ne!(lang.code, "vi", "{s}");
            assert!(lang.code == "en" || lang.code == "und", "{s}: {}", lang.code);
        }
    }

    #[test]
    fn detects_english() {
        let lang = detect_language("The street light on Le Loi street is broken");
        assert_eq!(lang.code, "en");
        assert!(lang.confidence > 0.0 && lang.confidence <= 1.0);
    }

    #[test]
    fn detects_french_and_german() {
        assert_eq!(
            detect_language("Le lampadaire de la rue est cassé depuis trois jours et personne ne vient").code,
            "fr"
        );
        assert_eq!(detect_language("Die Straßenlaterne vor unserem Haus ist seit drei Tagen kaputt").code, "de");
    }

    #[test]
    fn short_or_empty_text_is_undetermined() {
        for s in ["ok", "", "   ", "12345", "Fire"] {
            let lang = detect_language(s);
            assert_eq!(lang.code, "und", "{s:?}");
            assert_eq!(lang.confidence, 0.0);
        }
    }

    #[test]
    fn romanian_and_french_circumflexes_are_not_vietnamese() {
        let ro = detect_language("Lampa stradală de pe strada principală este spartă de o săptămână");
        assert_eq!(ro.code, "ro");
        let fr = detect_language("La forêt près de l'hôtel est fermée, même la côte");
        assert_ne!(fr.code, "vi");
    }

    #[test]
    fn every_whatlang_language_has_a_two_letter_code() {
        for lang in whatlang::Lang::all() {
            let code = iso_639_1(*lang);
            assert!(code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase()), "{lang:?}");
        }
        assert_eq!(iso_639_1(whatlang::Lang::Vie), "vi");
    }
}
