//! The personal-data search (R8) shared by the privacy test and the chaos harness: every form
//! a piece of personal data can take in an output, where any of them was found, and every byte
//! of a directory to search.

#![allow(dead_code)] // each user takes what it needs

/// Every form the given personal data can take in an output: texts as given; phone numbers
/// as given, without spaces, in E.164 and without the plus (the normaliser's forms).
pub fn needles(texts: &[&str], phones: &[&str]) -> Vec<String> {
    let mut needles: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
    for phone in phones {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        needles.push((*phone).to_owned());
        needles.push(format!("+84{}", &digits[1..]));
        needles.push(format!("84{}", &digits[1..]));
        needles.push(digits);
    }
    needles
}

/// `"needle" in place` for every needle found in any of the named places (empty: no leak).
pub fn found(needles: &[String], places: &[(&str, &str)]) -> Vec<String> {
    let mut found = Vec::new();
    for needle in needles {
        for (place, text) in places {
            if text.contains(needle.as_str()) {
                found.push(format!("{needle:?} in {place}"));
            }
        }
    }
    found
}

/// Every byte under `dir` (database, WAL, sink, media), for "this never leaks" checks.
pub fn all_bytes_under(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
    out
}
