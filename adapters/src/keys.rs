//! Matching keys over cleaned free text, and phrase lists matched on them.
//!
//! Every rule of the regulation engine that reads text (urgency, scope, improper language,
//! category) matches phrases on *keys*, never on the stored text (reference/vietnam.md §1.3,
//! §1.5, §2.5). A token has two keys:
//! - `key`: lower case, look-alike letters mapped (Cyrillic `а`, `Ð`), tone placement made
//!   canonical (`hoà` → `hòa`, `thuỷ` → `thủy`): the diacritic form;
//! - `folded`: the key without diacritics (`đ` → `d`): the "không dấu" form.
//!
//! In a text typed without diacritics (`ascii_typed` tokens) words are compared on their
//! folded keys, so "chay nha" matches "cháy nhà"; a word typed with diacritics is compared on
//! its diacritic key only, so "lớn" can never match "lồn", and a plain word in a text typed
//! with diacritics is taken as plain ("cây to cao" is not "tố cáo"). Common
//! teencode (`ko`, `k`, `dc`, `mn`…) is expanded into the words it stands for. This module owns
//! tokenisation and phrase lookup; what the phrases mean belongs to the rule modules.

use std::collections::{BTreeMap, HashMap};

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use crate::text::fold_ascii;

/// One word of the text with its matching keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Byte range of the word in the text it came from.
    pub start: usize,
    pub end: usize,
    /// Lower case, look-alikes mapped, canonical tone placement.
    pub key: String,
    /// `key` without diacritics.
    pub folded: String,
    /// A word without diacritics in a text typed without diacritics: compared on `folded`.
    pub ascii_typed: bool,
}

/// A text split into keyed tokens.
#[derive(Debug, Clone)]
pub struct Keyed<'a> {
    pub text: &'a str,
    pub tokens: Vec<Token>,
}

impl<'a> Keyed<'a> {
    /// Tokenises `text` (already cleaned by [`crate::text::clean`]; NFD input is composed
    /// per word all the same).
    pub fn new(text: &'a str) -> Self {
        let words: Vec<(usize, usize, String)> =
            word_spans(text).into_iter().map(|(s, e)| (s, e, key_of(&text[s..e]))).collect();
        // People either type diacritics or they do not. In a text typed with them, a plain
        // word is meant plain ("cây to cao" is a tall tree, not "tố cáo"), so only the words of
        // a text typed without diacritics are compared on their folded keys.
        // Proper names (capitalised) and the gateway's own placeholders ("[số điện thoại]")
        // are often written with diacritics by someone else; only the citizen's own words
        // tell how they type.
        let placeholders = placeholder_spans(text);
        let in_placeholder = |at: usize| {
            let i = placeholders.partition_point(|&(open, _)| open < at);
            i > 0 && at < placeholders[i - 1].1
        };
        let own: Vec<&String> = words
            .iter()
            .filter(|(s, _, k)| {
                k.chars().any(char::is_alphabetic) && !text[*s..].starts_with(char::is_uppercase) && !in_placeholder(*s)
            })
            .map(|(_, _, k)| k)
            .collect();
        let marked = own.iter().filter(|k| !k.is_ascii()).count();
        let typed_plain = marked * 4 < own.len().max(1);
        let mut tokens = Vec::new();
        for (start, end, key) in words {
            let plain = key.is_ascii();
            let ascii_typed = plain && typed_plain;
            if let Some(expansion) = teencode(&key) {
                for part in expansion.split(' ') {
                    tokens.push(Token { start, end, key: part.to_owned(), folded: fold(part), ascii_typed: false });
                }
                continue;
            }
            let folded = if ascii_typed { respell(&key) } else { fold(&key) };
            tokens.push(Token { start, end, key, folded, ascii_typed });
        }
        Keyed { text, tokens }
    }

    /// The words of tokens `first..=last` exactly as the citizen wrote them.
    pub fn span(&self, first: usize, last: usize) -> &'a str {
        &self.text[self.tokens[first].start..self.tokens[last].end]
    }
}

/// Byte ranges `[` .. `]` of the gateway's placeholders (`[số điện thoại]`, `[email]`,
/// `[họ tên]`) and any other bracketed text, innermost pairs, in text order: found in one pass
/// so the check per word stays cheap on long texts.
fn placeholder_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut open = None;
    for (i, c) in text.char_indices() {
        match c {
            '[' => open = Some(i),
            ']' => {
                if let Some(start) = open.take() {
                    spans.push((start, i));
                }
            }
            _ => {}
        }
    }
    spans
}

/// Byte spans of words: runs of letters, digits and combining marks. Letters and digits are
/// split apart ("50cc" → "50", "cc") so units after numbers can be recognised.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start: Option<(usize, bool)> = None;
    for (i, c) in text.char_indices() {
        let wordy = c.is_alphanumeric() || is_combining_mark(c);
        let digit = c.is_ascii_digit();
        if let Some((s, was_digit)) = start {
            if wordy && (digit == was_digit || is_combining_mark(c)) {
                continue;
            }
            spans.push((s, i));
            start = None;
        }
        if wordy {
            start = Some((i, digit));
        }
    }
    if let Some((s, _)) = start {
        spans.push((s, text.len()));
    }
    spans
}

/// The diacritic key of one word: NFC, lower case, look-alikes mapped, tones canonical.
pub fn key_of(word: &str) -> String {
    // Nearly every word is NFC already (the normaliser made it so): the quick check skips the
    // composing pass, which was most of this function's time (issue 8's end-to-end profile).
    let nfc: std::borrow::Cow<'_, str> = if is_nfc_quick(word.chars()) == IsNormalized::Yes {
        word.into()
    } else {
        word.nfc().collect::<String>().into()
    };
    let lower: String = nfc.chars().flat_map(char::to_lowercase).map(unconfuse).collect();
    canonical_tones(&lower)
}

/// The folded key of a diacritic key.
pub fn fold(key: &str) -> String {
    fold_ascii(key).to_lowercase()
}

/// Letters people type in place of Vietnamese ones, deliberately (to dodge filters) or from
/// legacy converters: Latin eth and African D for đ, Cyrillic and Greek homoglyphs
/// (reference/vietnam.md §1.1, §2.3).
fn unconfuse(c: char) -> char {
    match c {
        'ð' | 'ɖ' => 'đ',
        'а' => 'a',
        'е' => 'e',
        'о' | 'ο' => 'o',
        'р' => 'p',
        'с' => 'c',
        'у' => 'y',
        'х' => 'x',
        'і' => 'i',
        'ν' => 'v',
        c => c,
    }
}

/// Old-style tone placement on `oa`, `oe`, `uy` without a final consonant (`hoà`, `khoẻ`,
/// `thuỷ`) moved to the modern position (`hòa`, `khỏe`, `thủy`); `qu` keeps its tone on the
/// vowel after it (`quý`). NFC keeps both spellings distinct (reference/vietnam.md §1.3).
fn canonical_tones(word: &str) -> String {
    const MOVES: [(&str, &str); 15] = [
        ("oà", "òa"),
        ("oá", "óa"),
        ("oả", "ỏa"),
        ("oã", "õa"),
        ("oạ", "ọa"),
        ("oè", "òe"),
        ("oé", "óe"),
        ("oẻ", "ỏe"),
        ("oẽ", "õe"),
        ("oẹ", "ọe"),
        ("uỳ", "ùy"),
        ("uý", "úy"),
        ("uỷ", "ủy"),
        ("uỹ", "ũy"),
        ("uỵ", "ụy"),
    ];
    for (old, new) in MOVES {
        if let Some(stem) = word.strip_suffix(old)
            && !stem.ends_with('q')
        {
            return format!("{stem}{new}");
        }
    }
    word.to_owned()
}

/// Folded key of a word typed without diacritics, with the letter swaps of teencode undone
/// at the start of the word (`fai` → `phai`, `wa` → `qua`).
fn respell(key: &str) -> String {
    if let Some(rest) = key.strip_prefix('f')
        && !rest.is_empty()
    {
        return format!("ph{rest}");
    }
    if let Some(rest) = key.strip_prefix('w')
        && rest.starts_with(['a', 'e', 'i', 'y'])
    {
        return format!("qu{rest}");
    }
    key.to_owned()
}

/// Teencode and abbreviations that stand for one unambiguous meaning (reference/vietnam.md
/// §1.6). Ambiguous ones (`dc` = được or địa chỉ, `ck`, `bt`) are left alone.
fn teencode(key: &str) -> Option<&'static str> {
    Some(match key {
        "k" | "ko" | "kg" | "khg" | "kh" | "hok" | "hk" | "hem" => "không",
        "j" | "gj" => "gì",
        "r" | "rui" => "rồi",
        "ng" => "người",
        "ngta" => "người ta",
        "mn" | "mng" => "mọi người",
        "vs" => "với",
        "trc" => "trước",
        "ms" => "mới",
        "cx" | "cug" => "cũng",
        "ntn" => "như thế nào",
        "bit" => "biết",
        "wa" => "quá",
        "nc" => "nước",
        "mún" => "muốn",
        "nhìu" => "nhiều",
        "bít" => "biết",
        "đc" => "được",
        "cty" => "công ty",
        _ => return None,
    })
}

/// A phrase of one or more words, as listed in a rule file.
#[derive(Debug, Clone)]
pub struct Phrase {
    pub written: String,
    words: Vec<String>,
    folded: Vec<String>,
    /// Matches diacritic tokens only, never a folded form (`=lồn`): for roots whose folded
    /// form is an everyday word.
    exact: bool,
}

impl Phrase {
    /// Parses a list entry: words separated by spaces; a leading `=` makes it exact.
    pub fn parse(entry: &str) -> Option<Phrase> {
        let (exact, body) = match entry.trim().strip_prefix('=') {
            Some(rest) => (true, rest.trim()),
            None => (false, entry.trim()),
        };
        let words: Vec<String> = word_spans(body).into_iter().map(|(s, e)| key_of(&body[s..e])).collect();
        if words.is_empty() {
            return None;
        }
        let folded = words.iter().map(|w| fold(w)).collect();
        Some(Phrase { written: body.to_owned(), words, folded, exact })
    }

    fn matches_at(&self, tokens: &[Token], at: usize) -> bool {
        self.words.len() <= tokens.len() - at
            && self.words.iter().zip(&self.folded).zip(&tokens[at..]).all(|((word, folded), token)| {
                token.key == *word || (!self.exact && token.ascii_typed && token.folded == *folded)
            })
    }
}

/// Where a phrase matched: tokens `first..=last`.
#[derive(Debug, PartialEq, Eq)]
pub struct Hit<'p, T> {
    pub first: usize,
    pub last: usize,
    pub value: &'p T,
}

// Manual: a hit is a position and a reference, copyable whatever `T` is.
impl<T> Clone for Hit<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Hit<'_, T> {}

impl<T> Hit<'_, T> {
    pub fn overlaps(&self, first: usize, last: usize) -> bool {
        self.first <= last && first <= self.last
    }
}

/// Phrases with a value each, indexed by their first word.
#[derive(Debug, Clone)]
pub struct PhraseSet<T> {
    phrases: Vec<(Phrase, T)>,
    by_key: HashMap<String, Vec<usize>>,
    by_folded: HashMap<String, Vec<usize>>,
}

impl<T> Default for PhraseSet<T> {
    fn default() -> Self {
        PhraseSet { phrases: Vec::new(), by_key: HashMap::new(), by_folded: HashMap::new() }
    }
}

impl<T> PhraseSet<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every entry with `value`; blank entries are skipped.
    pub fn extend<'e>(&mut self, entries: impl IntoIterator<Item = &'e str>, value: T)
    where
        T: Clone,
    {
        for entry in entries {
            if let Some(phrase) = Phrase::parse(entry) {
                self.push(phrase, value.clone());
            }
        }
    }

    pub fn push(&mut self, phrase: Phrase, value: T) {
        let index = self.phrases.len();
        self.by_key.entry(phrase.words[0].clone()).or_default().push(index);
        if !phrase.exact {
            self.by_folded.entry(phrase.folded[0].clone()).or_default().push(index);
        }
        self.phrases.push((phrase, value));
    }

    pub fn len(&self) -> usize {
        self.phrases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.phrases.is_empty()
    }

    /// Every occurrence of every phrase, in text order (longer phrases first at one place).
    pub fn find<'p>(&'p self, keyed: &Keyed<'_>) -> Vec<Hit<'p, T>> {
        let mut hits = Vec::new();
        let mut candidates: Vec<usize> = Vec::new();
        for (at, token) in keyed.tokens.iter().enumerate() {
            candidates.clear();
            candidates.extend(self.by_key.get(&token.key).into_iter().flatten());
            if token.ascii_typed {
                candidates.extend(self.by_folded.get(&token.folded).into_iter().flatten());
            }
            candidates.sort_unstable();
            candidates.dedup();
            let start = hits.len();
            for &index in &candidates {
                let (phrase, value) = &self.phrases[index];
                if phrase.matches_at(&keyed.tokens, at) {
                    hits.push(Hit { first: at, last: at + phrase.words.len() - 1, value });
                }
            }
            hits[start..].sort_by_key(|h| std::cmp::Reverse(h.last));
        }
        hits
    }
}

/// A rule file: sections of named phrase lists (`[section] name = ["phrase", …]`), the one
/// shape of every file under `adapters/rules/`, which non-programmers review.
pub type RuleFile = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// Parses a rule file compiled into the binary. A broken file is a defect of the build that
/// each rule module's tests catch, so this panics naming the file.
pub fn rule_file(name: &str, text: &str) -> RuleFile {
    toml::from_str(text).unwrap_or_else(|e| panic!("adapters/rules/{name} is not a valid rule file: {e}"))
}

/// Every phrase of one section of a rule file, whatever list it is in.
pub fn section<'f>(file: &'f RuleFile, name: &str) -> impl Iterator<Item = &'f str> {
    file.get(name).into_iter().flat_map(|lists| lists.values()).flatten().map(String::as_str)
}

/// Drops hits that lie inside a longer hit of the same set ("cháy" inside "cháy nhà"), so a
/// phrase is counted once, by its most specific entry. One sweep in start order, so a long
/// text with many hits stays cheap.
pub fn outermost<'p, T>(hits: Vec<Hit<'p, T>>) -> Vec<Hit<'p, T>> {
    let mut order: Vec<usize> = (0..hits.len()).collect();
    order.sort_by_key(|&i| (hits[i].first, std::cmp::Reverse(hits[i].last)));
    let mut inside = vec![false; hits.len()];
    // The furthest end seen so far, and the earliest start among hits reaching it.
    let mut reach: Option<(usize, usize)> = None;
    for i in order {
        let h = &hits[i];
        if let Some((last, first)) = reach {
            inside[i] = last > h.last || (last == h.last && first < h.first);
        }
        if reach.is_none_or(|(last, _)| h.last > last) {
            reach = Some((h.last, h.first));
        }
    }
    hits.into_iter().zip(inside).filter(|(_, inside)| !inside).map(|(h, _)| h).collect()
}

/// Removes hits that overlap any of `allowed` (the allow-list of benign phrases that contain
/// a listed phrase: "cháy nắng" holds "cháy"). A binary search over the allowed spans sorted by
/// start, with the furthest end reached so far.
pub fn without_overlaps<'p, T, U>(hits: Vec<Hit<'p, T>>, allowed: &[Hit<'_, U>]) -> Vec<Hit<'p, T>> {
    let mut spans: Vec<(usize, usize)> = allowed.iter().map(|a| (a.first, a.last)).collect();
    spans.sort_unstable();
    let mut furthest = Vec::with_capacity(spans.len());
    let mut reach = 0;
    for &(_, last) in &spans {
        reach = reach.max(last);
        furthest.push(reach);
    }
    let overlaps = |h: &Hit<'p, T>| {
        let starting_before_end = spans.partition_point(|&(first, _)| first <= h.last);
        starting_before_end > 0 && furthest[starting_before_end - 1] >= h.first
    };
    hits.into_iter().filter(|h| !overlaps(h)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        Keyed::new(text).tokens.into_iter().map(|t| t.key).collect()
    }

    #[test]
    fn keys_are_lower_case_with_canonical_tones_and_mapped_look_alikes() {
        assert_eq!(keys("Phường Thuận Hoà"), ["phường", "thuận", "hòa"]);
        assert_eq!(keys("THUỶ XUÂN"), ["thủy", "xuân"]);
        assert_eq!(keys("quý"), ["quý"], "qu keeps the tone on the vowel after it");
        assert_eq!(keys("hoàng"), ["hoàng"], "with a final consonant the placement is the same");
        assert_eq!(keys("ðường"), ["đường"]);
        assert_eq!(keys("сháy"), ["cháy"], "Cyrillic с");
    }

    #[test]
    fn nfd_words_get_the_same_keys_as_nfc() {
        let nfd: String = "Cây đổ chắn đường".nfd().collect();
        assert_eq!(keys(&nfd), keys("Cây đổ chắn đường"));
    }

    #[test]
    fn digits_and_letters_split_and_spans_point_into_the_text() {
        let keyed = Keyed::new("xe 50cc, ống 5dm");
        let words: Vec<&str> = keyed.tokens.iter().map(|t| &keyed.text[t.start..t.end]).collect();
        assert_eq!(words, ["xe", "50", "cc", "ống", "5", "dm"]);
    }

    #[test]
    fn teencode_expands_into_the_words_it_stands_for() {
        assert_eq!(keys("ko ai bi thuong"), ["không", "ai", "bi", "thuong"]);
        assert_eq!(keys("mn oi"), ["mọi", "người", "oi"]);
    }

    #[test]
    fn ascii_typed_words_match_by_folding_but_diacritic_words_do_not() {
        let mut set = PhraseSet::new();
        set.extend(["cháy nhà"], "fire");
        set.extend(["=lồn"], "vulgar");
        set.extend(["tố cáo"], "denunciation");
        assert_eq!(set.find(&Keyed::new("chay nha roi")).len(), 1);
        assert_eq!(set.find(&Keyed::new("Cháy nhà rồi")).len(), 1);
        assert!(set.find(&Keyed::new("chày nhà")).is_empty(), "another diacritic word");
        assert!(set.find(&Keyed::new("Rãnh thoát nước lớn")).is_empty());
        assert!(set.find(&Keyed::new("cai lon bia")).is_empty(), "exact entries never fold");
        assert!(set.find(&Keyed::new("cây này to cao quá")).is_empty(), "plain words in a text with diacritics");
        assert_eq!(set.find(&Keyed::new("don to cao")).len(), 1, "folded: the rule module decides");
    }

    #[test]
    fn spans_give_the_phrase_as_written() {
        let mut set = PhraseSet::new();
        set.extend(["cây đổ"], ());
        let keyed = Keyed::new("Sáng nay CÂY ĐỔ chắn đường");
        let hit = set.find(&keyed)[0];
        assert_eq!(keyed.span(hit.first, hit.last), "CÂY ĐỔ");
    }

    #[test]
    fn allow_list_hits_remove_overlapping_hits() {
        let mut hazards = PhraseSet::new();
        hazards.extend(["cháy"], ());
        let mut traps = PhraseSet::new();
        traps.extend(["cháy nắng"], ());
        let keyed = Keyed::new("bị cháy nắng, nhà bên cháy");
        let kept = without_overlaps(hazards.find(&keyed), &traps.find(&keyed));
        assert_eq!(kept.len(), 1);
        assert_eq!(keyed.span(kept[0].first, kept[0].last), "cháy");
        assert_eq!(kept[0].first, 5);
    }

    #[test]
    fn placeholders_and_proper_names_do_not_decide_how_the_citizen_types() {
        let mut set = PhraseSet::new();
        set.extend(["cháy nhà"], ());
        for text in [
            "chay nha o kiet 12, lua dang lan, goi minh [số điện thoại]",
            "chay nha o kiet 12 gan nha ong Nguyễn Văn Đức, Phường Thuận Hóa",
        ] {
            assert_eq!(set.find(&Keyed::new(text)).len(), 1, "{text}");
        }
    }

    #[test]
    fn long_texts_with_many_hits_are_handled_in_one_sweep() {
        let mut hazards = PhraseSet::new();
        hazards.extend(["cháy", "cháy nhà"], ());
        let mut traps = PhraseSet::new();
        traps.extend(["cháy nắng"], ());
        let text = "cháy nhà cháy nắng ".repeat(2000);
        let keyed = Keyed::new(&text);
        let kept = outermost(without_overlaps(hazards.find(&keyed), &traps.find(&keyed)));
        assert_eq!(kept.len(), 2000, "one \"cháy nhà\" per repetition, every \"cháy nắng\" allowed");
    }
}
