//! Personal data written in free text (SPEC §8): phone numbers and email addresses are taken
//! out of titles and descriptions into the sealed store, and a known name is masked.
//!
//! This module owns *finding* contact details in text and replacing them with fixed
//! placeholders; what counts as a phone number is [`crate::phone`]'s decision. It must not
//! scrub what is not personal: GPS coordinates, dates, times, house and alley numbers, money
//! amounts, plates, and the city's own service numbers stay in the text. It keeps nothing
//! between calls and never logs what it finds.

use crate::phone;
use unicode_normalization::UnicodeNormalization;

/// Placeholder that replaces a phone number in text.
pub const PHONE_PLACEHOLDER: &str = "[số điện thoại]";
/// Placeholder that replaces an email address in text.
pub const EMAIL_PLACEHOLDER: &str = "[email]";
/// Placeholder that replaces the reporter's known name in text.
pub const NAME_PLACEHOLDER: &str = "[họ tên]";

/// Public service numbers (the Hue-S hotline, the 1022 portal, emergency lines). A citizen who
/// writes them is pointing at the city, not giving their own contact: left in the text and
/// not counted.
pub const PUBLIC_SERVICE_NUMBERS: [&str; 7] = ["19001075", "1022", "113", "114", "115", "112", "111"];

/// Text with contact details taken out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scrubbed {
    pub text: String,
    /// E.164 forms of the phone numbers found, in order of appearance.
    pub phones: Vec<String>,
    /// Email addresses found (lower-cased), in order of appearance.
    pub emails: Vec<String>,
}

/// Replaces phone numbers and email addresses in `text` by placeholders.
///
/// Each number or address is listed once, in order of first appearance. Emails go first so
/// that an all-digit local part ("0905123456@gmail.com") is not half-taken as a phone.
pub fn scrub_contacts(text: &str) -> Scrubbed {
    let (text, emails) = scrub_emails(text);
    let (text, phones) = scrub_phones(&text);
    Scrubbed { text, phones, emails }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

// ---------------------------------------------------------------------------------------------
// Email addresses

fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
}

fn scrub_emails(text: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut found = Vec::new();
    let mut copied = 0;
    for (at, _) in text.match_indices('@') {
        if at < copied {
            continue;
        }
        let Some((start, end)) = email_around(text, at, copied) else {
            continue;
        };
        out.push_str(&text[copied..start]);
        out.push_str(EMAIL_PLACEHOLDER);
        push_unique(&mut found, text[start..end].to_lowercase());
        copied = end;
    }
    out.push_str(&text[copied..]);
    (out, found)
}

/// The byte span of a `local@domain.tld` address around the `@` at `at`, not reaching back
/// before `floor`: RFC 5322's dot-atom form without quoted local parts or IP literals, which
/// is what people type.
fn email_around(text: &str, at: usize, floor: usize) -> Option<(usize, usize)> {
    let before = &text[floor..at];
    let local_len: usize = before.chars().rev().take_while(|&c| is_local_char(c)).map(char::len_utf8).sum();
    let mut start = at - local_len;
    // A sentence's full stop before the address is not part of it.
    while text[start..at].starts_with('.') {
        start += 1;
    }
    let local = &text[start..at];
    if local.is_empty() || local.ends_with('.') || local.contains("..") {
        return None;
    }

    let after = &text[at + 1..];
    let domain_len: usize = after.chars().take_while(|&c| is_domain_char(c)).count();
    // ASCII only, so chars and bytes agree; a full stop or hyphen after the address is prose.
    let domain = after[..domain_len].trim_end_matches(['.', '-']);
    let labels: Vec<&str> = domain.split('.').collect();
    let valid_labels = labels.iter().all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    let tld = labels.last()?;
    if labels.len() < 2 || !valid_labels || tld.len() < 2 || !tld.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    Some((start, at + 1 + domain.len()))
}

// ---------------------------------------------------------------------------------------------
// Phone numbers

/// A maximal run of digits (ASCII or full-width) in the text.
#[derive(Debug, Clone)]
struct Group {
    start: usize,
    end: usize,
    digits: String,
}

fn ascii_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '０'..='９' => char::from_digit(c as u32 - '０' as u32, 10),
        _ => None,
    }
}

/// What people put between the digit groups of one number: "0905 123 456", "0905.123.456",
/// "090-512-3456", "(0234) 3822 123", and their full-width forms.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '.' | '-' | '(' | ')' | '\u{00A0}' | '\u{3000}' | '．' | '－' | '（' | '）')
}

/// At most two separator characters join groups into one run (") " or " (" in
/// "+84 (0) 905"); " - " or ", " between numbers keeps them apart.
fn joins(gap: &str) -> bool {
    !gap.is_empty() && gap.chars().count() <= 2 && gap.chars().all(is_separator)
}

fn digit_groups(text: &str) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut current: Option<Group> = None;
    for (i, c) in text.char_indices() {
        match (ascii_digit(c), current.as_mut()) {
            (Some(d), Some(g)) => {
                g.digits.push(d);
                g.end = i + c.len_utf8();
            }
            (Some(d), None) => current = Some(Group { start: i, end: i + c.len_utf8(), digits: d.to_string() }),
            (None, _) => groups.extend(current.take()),
        }
    }
    groups.extend(current);
    groups
}

/// Digit groups split into runs that could be one written number or several in a row.
fn runs(text: &str, groups: Vec<Group>) -> Vec<Vec<Group>> {
    let mut runs: Vec<Vec<Group>> = Vec::new();
    for g in groups {
        match runs.last_mut() {
            Some(run) if joins(&text[run[run.len() - 1].end..g.start]) => run.push(g),
            _ => runs.push(vec![g]),
        }
    }
    runs
}

fn scrub_phones(text: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut found = Vec::new();
    let mut copied = 0;
    for run in runs(text, digit_groups(text)) {
        let mut i = 0;
        while i < run.len() {
            let Some((j, span, number)) = longest_number_at(text, &run, i) else {
                i += 1;
                continue;
            };
            i = j + 1;
            if is_public_service(&number) {
                continue;
            }
            out.push_str(&text[copied..span.0]);
            out.push_str(PHONE_PLACEHOLDER);
            push_unique(&mut found, number.e164);
            copied = span.1;
        }
    }
    out.push_str(&text[copied..]);
    (out, found)
}

/// The longest phone number that starts at group `i` of the run: the index of its last group,
/// its byte span and the number.
fn longest_number_at(text: &str, run: &[Group], i: usize) -> Option<(usize, (usize, usize), phone::PhoneNumber)> {
    // A number glued to the digits before it by a dot or dash ("16.4637", "75A-123.45") is
    // part of something else; a new number in the same run starts after a space.
    if i > 0 && !text[run[i - 1].end..run[i].start].chars().any(char::is_whitespace) {
        return None;
    }
    for j in (i..run.len()).rev() {
        let groups = &run[i..=j];
        let digits: String = groups.iter().map(|g| g.digits.as_str()).collect();
        // 8 digits is the shortest contact number (1800 xxxx); 15 is E.164's maximum.
        if !(8..=15).contains(&digits.len()) {
            continue;
        }
        let span = span_of(text, groups);
        let candidate = &text[span.0..span.1];
        let plus = candidate.starts_with(['+', '＋']);
        if !looks_like_phone(text, groups, &digits, plus) {
            continue;
        }
        if let Some(number) = phone::normalize_vn(candidate) {
            return Some((j, span, number));
        }
    }
    None
}

/// The byte span of a candidate: its groups, a `+` right before the first, and a parenthesis
/// that belongs to it ("(0234) 3822 123", "(+84) 905 …").
fn span_of(text: &str, groups: &[Group]) -> (usize, usize) {
    let mut start = groups[0].start;
    let mut end = groups[groups.len() - 1].end;
    for plus in ['+', '＋'] {
        if text[..start].ends_with(plus) {
            start -= plus.len_utf8();
        }
    }
    let inner = &text[start..end];
    let opened = inner.chars().filter(|&c| c == '(' || c == '（').count();
    let closed = inner.chars().filter(|&c| c == ')' || c == '）').count();
    if closed > opened {
        if let Some(c) = text[..start].chars().next_back().filter(|&c| c == '(' || c == '（') {
            start -= c.len_utf8();
        }
    } else if opened > closed
        && let Some(c) = text[end..].chars().next().filter(|&c| c == ')' || c == '）')
    {
        end += c.len_utf8();
    }
    (start, end)
}

/// Shapes that are numbers but not phone numbers, checked before asking the phone parser
/// (which would accept, for instance, "19.000.000" as the premium number 1900 0000).
fn looks_like_phone(text: &str, groups: &[Group], digits: &str, plus: bool) -> bool {
    // Vietnamese numbers are written with the trunk 0, in international form, or as 1800/1900
    // service numbers; anything else (house numbers, amounts, coordinates, years) is not one.
    let prefix_ok = plus
        || digits.starts_with('0')
        || (digits.starts_with("84") && digits.len() == 11)
        || digits.starts_with("1800")
        || digits.starts_with("1900");
    if !prefix_ok {
        return false;
    }
    let gaps: Vec<&str> = groups.windows(2).map(|w| &text[w[0].end..w[1].start]).collect();
    // A decimal point: "16.4637", "107.5909".
    let decimal = groups.windows(2).zip(&gaps).any(|(w, gap)| {
        is_dot(gap) && w[0].digits.len() <= 3 && !w[0].digits.starts_with('0') && w[1].digits.len() >= 4
    });
    // Thousands separators: "19.000.000 đồng".
    let amount = groups.len() >= 2
        && gaps.iter().all(|gap| is_dot(gap))
        && groups[0].digits.len() <= 3
        && !groups[0].digits.starts_with('0')
        && groups[1..].iter().all(|g| g.digits.len() == 3);
    // Dates: "29.11.2026", "2026-11-29".
    let lens: Vec<usize> = groups.iter().map(|g| g.digits.len()).collect();
    let date = groups.len() == 3
        && gaps.iter().all(|gap| is_dot(gap) || *gap == "-")
        && gaps[0] == gaps[1]
        && (matches!(lens[..], [1 | 2, 1 | 2, 4]) || matches!(lens[..], [4, 1 | 2, 1 | 2]));
    !(decimal || amount || date)
}

fn is_dot(gap: &str) -> bool {
    gap == "." || gap == "．"
}

fn is_public_service(number: &phone::PhoneNumber) -> bool {
    let national = number.e164.strip_prefix("+84").unwrap_or(&number.e164);
    PUBLIC_SERVICE_NUMBERS.contains(&national)
}

// ---------------------------------------------------------------------------------------------
// Names

/// Replaces each whole-word occurrence of the reporter's `name` (case-insensitive) by
/// [`NAME_PLACEHOLDER`].
///
/// A name of one short word ("An", "Hà") is left alone: it is also a word or part of a place
/// name ("An Cựu", "Hà Nội") and masking it would damage the report more than it protects.
/// Only names of at least two words or at least four letters are masked.
pub fn mask_name(text: &str, name: &str) -> String {
    let name: String = name.nfc().collect();
    let words: Vec<Vec<char>> = name.split_whitespace().map(|w| w.chars().map(fold_case).collect()).collect();
    let letters: usize = words.iter().map(Vec::len).sum();
    if letters < 2 || (words.len() < 2 && letters < 4) {
        return text.to_owned();
    }

    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < chars.len() {
        let left_ok = i == 0 || !is_word_char(chars[i - 1].1);
        match left_ok.then(|| match_words(&chars, i, &words)).flatten() {
            Some(end) => {
                out.push_str(&text[copied..chars[i].0]);
                out.push_str(NAME_PLACEHOLDER);
                copied = chars.get(end).map_or(text.len(), |&(b, _)| b);
                i = end;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Simple case folding that keeps one char per char (so offsets stay aligned): `Đ→đ`,
/// `Nguyễn→nguyễn`.
fn fold_case(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c)
}

/// The char index just past the name when it occurs at `start` as whole words (any run of
/// whitespace between its words), else `None`.
fn match_words(chars: &[(usize, char)], start: usize, words: &[Vec<char>]) -> Option<usize> {
    let mut i = start;
    for (n, word) in words.iter().enumerate() {
        if n > 0 {
            let spaces = chars[i..].iter().take_while(|(_, c)| c.is_whitespace()).count();
            if spaces == 0 {
                return None;
            }
            i += spaces;
        }
        for &wc in word {
            if chars.get(i).map(|&(_, c)| fold_case(c)) != Some(wc) {
                return None;
            }
            i += 1;
        }
    }
    match chars.get(i) {
        Some(&(_, c)) if is_word_char(c) => None,
        _ => Some(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unchanged(text: &str) {
        let s = scrub_contacts(text);
        assert_eq!(s.text, text, "{text:?} was changed");
        assert!(s.phones.is_empty() && s.emails.is_empty(), "{text:?}: {s:?}");
    }

    #[test]
    fn scrubs_a_spaced_mobile_number() {
        let s = scrub_contacts("gọi em 0905 123 456 nhé");
        assert_eq!(s.text, "gọi em [số điện thoại] nhé");
        assert_eq!(s.phones, ["+84905123456"]);
    }

    #[test]
    fn scrubs_a_dotted_landline() {
        let s = scrub_contacts("số 0234.3822.123, cảm ơn");
        assert_eq!(s.text, "số [số điện thoại], cảm ơn");
        assert_eq!(s.phones, ["+842343822123"]);
    }

    #[test]
    fn scrubs_international_and_parenthesised_forms() {
        let s = scrub_contacts("SĐT:+84905123456.");
        assert_eq!(s.text, "SĐT:[số điện thoại].");
        assert_eq!(s.phones, ["+84905123456"]);
        let s = scrub_contacts("liên hệ (+84) 905 123 456 hoặc (0234) 3822 123");
        assert_eq!(s.text, "liên hệ [số điện thoại] hoặc [số điện thoại]");
        assert_eq!(s.phones, ["+84905123456", "+842343822123"]);
        let s = scrub_contacts("gọi +84 (0) 905 123 456");
        assert_eq!(s.text, "gọi [số điện thoại]");
        let s = scrub_contacts("bàn (0234) 3.822.123 hoặc 84905123456");
        assert_eq!(s.text, "bàn [số điện thoại] hoặc [số điện thoại]");
        assert_eq!(s.phones, ["+842343822123", "+84905123456"]);
    }

    #[test]
    fn scrubs_full_width_and_legacy_numbers() {
        let s = scrub_contacts("số ０９０５１２３４５６ và 0169 5678945");
        assert_eq!(s.text, "số [số điện thoại] và [số điện thoại]");
        assert_eq!(s.phones, ["+84905123456", "+84395678945"]);
    }

    #[test]
    fn separates_numbers_written_in_a_row() {
        let s = scrub_contacts("0905123456 0914123456");
        assert_eq!(s.text, "[số điện thoại] [số điện thoại]");
        assert_eq!(s.phones, ["+84905123456", "+84914123456"]);
        let s = scrub_contacts("gọi 0905 123 456 2 lần");
        assert_eq!(s.text, "gọi [số điện thoại] 2 lần");
    }

    #[test]
    fn lists_each_number_once() {
        let s = scrub_contacts("0905123456, lặp lại 0905.123.456");
        assert_eq!(s.text, "[số điện thoại], lặp lại [số điện thoại]");
        assert_eq!(s.phones, ["+84905123456"]);
    }

    #[test]
    fn scrubs_a_premium_number_a_citizen_gives() {
        let s = scrub_contacts("cơ sở này quảng cáo số 1900 54 54 58");
        assert_eq!(s.text, "cơ sở này quảng cáo số [số điện thoại]");
        assert_eq!(s.phones, ["+841900545458"]);
    }

    #[test]
    fn leaves_coordinates_alone() {
        unchanged("Vị trí 16.4637, 107.5909 gần cầu");
        unchanged("Vị trí 16.4637 107.5909");
        unchanged("toạ độ 16.463712,107.590934");
    }

    #[test]
    fn leaves_dates_and_times_alone() {
        unchanged("từ 29/11/2026 lúc 08:05");
        unchanged("ngày 2026-11-29 và 29.11.2026 và 09.11.2026");
    }

    #[test]
    fn leaves_addresses_amounts_and_plates_alone() {
        unchanged("nhà K12/34 Nguyễn Trãi, 12 Lê Lợi");
        unchanged("phạt 500.000 đồng, thiệt hại 19.000.000 đồng");
        unchanged("xe biển 75A-123.45 đỗ trước số 120 Lê Lợi");
        unchanged("cao 12 m, dài 3.500 m");
    }

    #[test]
    fn leaves_public_service_numbers_alone() {
        unchanged("tôi đã gọi 1900 1075 và 1022 nhưng không ai nghe");
        unchanged("đã gọi 19001075, rồi 113 và 114");
    }

    #[test]
    fn scrubs_emails() {
        let s = scrub_contacts("email a.nguyen@Example.VN nhé.");
        assert_eq!(s.text, "email [email] nhé.");
        assert_eq!(s.emails, ["a.nguyen@example.vn"]);
        let s = scrub_contacts("(tran_b+hue@mail.hue.gov.vn), hoặc X@Y.COM.");
        assert_eq!(s.text, "([email]), hoặc [email].");
        assert_eq!(s.emails, ["tran_b+hue@mail.hue.gov.vn", "x@y.com"]);
    }

    #[test]
    fn an_all_digit_email_is_an_email_not_a_phone() {
        let s = scrub_contacts("gửi 0905123456@gmail.com");
        assert_eq!(s.text, "gửi [email]");
        assert_eq!(s.emails, ["0905123456@gmail.com"]);
        assert!(s.phones.is_empty());
    }

    #[test]
    fn not_emails() {
        unchanged("gặp @anh ở quán, giá 10@20k, a@b, x@localhost, .@vn.vn");
        unchanged("user@domain.c0m");
    }

    #[test]
    fn text_without_contacts_is_unchanged() {
        unchanged("");
        unchanged("Cây đổ chắn ngang đường Lê Lợi, xe không qua được.");
    }

    #[test]
    fn masks_a_full_name_case_insensitively() {
        assert_eq!(
            mask_name("Tôi là Nguyễn Văn An, NGUYỄN  VĂN AN ở An Cựu", "  Nguyễn Văn An "),
            "Tôi là [họ tên], [họ tên] ở An Cựu"
        );
    }

    #[test]
    fn masks_a_decomposed_name_in_nfc_text() {
        assert_eq!(mask_name("chị Trần Thị Hà gọi", "Tra\u{0302}\u{0300}n Thi\u{0323} Ha\u{0300}"), "chị [họ tên] gọi");
    }

    #[test]
    fn masks_only_whole_words() {
        assert_eq!(mask_name("Bình, Bìnhh, XBình, Bình2 và bình", "Bình"), "[họ tên], Bìnhh, XBình, Bình2 và [họ tên]");
    }

    #[test]
    fn short_single_word_names_are_not_masked() {
        assert_eq!(mask_name("Nhà ở An Cựu", "An"), "Nhà ở An Cựu");
        assert_eq!(mask_name("Hà Nội", "Hà"), "Hà Nội");
        assert_eq!(mask_name("text", " "), "text");
        assert_eq!(mask_name("a b", "a"), "a b");
        // Two short words are a full name.
        assert_eq!(mask_name("gặp Lê An hôm qua", "Lê An"), "gặp [họ tên] hôm qua");
    }
}
