//! Reading mailboxes from disk for `import-mail`: which paths hold mail ([`scan`]), mbox files
//! read message by message ([`Mbox`]) and a Maildir's messages in order ([`maildir_files`]).
//!
//! Nothing here touches the store: it only turns files into raw messages, byte for byte as
//! they were delivered.
//!
//! * **mbox** (mboxrd and mboxo): a message starts at a line `From ` at the start of the file
//!   or after a blank line; that separator line is not part of the message, nor is the blank
//!   line the writer put before the next separator. `>From `, `>>From `… lines lose one `>`
//!   (mboxrd; for mboxo this restores `From ` and leaves a body's own `>>From ` one `>`
//!   short, which the format cannot tell apart). LF and CRLF files alike; line endings are
//!   kept as they are. Read through a `BufRead` one line at a time: memory holds one message,
//!   never the file. mail-parser's own mbox reader streams too, but splits at every `From `
//!   line and keeps the separating blank line, so it is not used.
//! * **Maildir**: the files of `cur/` and `new/`, in file-name order (delivery order, as
//!   Maildir names start with the delivery time); `tmp/` (deliveries in progress), hidden files
//!   and Maildir++ subfolders (`.Sent`, `.Trash`…: not the inbox) are not taken.
//! * **A single message**: an `.eml` file, or any file named on the command line that does
//!   not start like an mbox.
//! * **A directory** that is not a Maildir is walked: Maildirs inside it, mbox files (files
//!   starting with `From `) and `.eml` files, in name order; hidden entries and other files
//!   are skipped, symbolic links to directories are not followed.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};

/// One message read from an mbox file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MboxMessage {
    /// The message, separator removed and `>From ` lines un-escaped.
    pub raw: Vec<u8>,
    /// False for the file's last message when the file ends in the middle of a line: the file
    /// was cut or is still being written, and the message is most likely incomplete.
    pub complete: bool,
}

/// The messages of an mbox, read line by line.
pub struct Mbox<R> {
    reader: R,
    line: Vec<u8>,
    /// The message being read; `None` before the first line and after the end.
    current: Option<Vec<u8>>,
    /// Whether `current` began at a separator (text before the first one is a preamble).
    separated: bool,
    /// The next line may be a separator: at the start of the file or after a blank line.
    may_separate: bool,
    consumed: u64,
    done: bool,
}

impl<R: BufRead> Mbox<R> {
    pub fn new(reader: R) -> Mbox<R> {
        Mbox { reader, line: Vec::new(), current: None, separated: false, may_separate: true, consumed: 0, done: false }
    }

    /// Bytes of the file read so far (for progress).
    pub fn position(&self) -> u64 {
        self.consumed
    }

    /// Closes `current`; `None` when it holds nothing worth a message (a blank preamble).
    fn close(&mut self, at_end: bool) -> Option<MboxMessage> {
        let mut raw = self.current.take()?;
        if !self.separated && raw.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let complete = !at_end || raw.is_empty() || raw.ends_with(b"\n");
        // The blank line written between messages (and usually after the last one).
        if raw.ends_with(b"\r\n\r\n") {
            raw.truncate(raw.len() - 2);
        } else if raw.ends_with(b"\n\n") {
            raw.truncate(raw.len() - 1);
        }
        Some(MboxMessage { raw, complete })
    }
}

impl<R: BufRead> Iterator for Mbox<R> {
    type Item = io::Result<MboxMessage>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.line.clear();
            let read = match self.reader.read_until(b'\n', &mut self.line) {
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if read == 0 {
                self.done = true;
                return self.close(true).map(Ok);
            }
            self.consumed += read as u64;
            let separator = self.may_separate && self.line.starts_with(b"From ");
            self.may_separate = self.line == b"\n" || self.line == b"\r\n";
            if separator {
                let closed = self.close(false);
                self.current = Some(Vec::new());
                self.separated = true;
                match closed {
                    Some(message) => return Some(Ok(message)),
                    None => continue,
                }
            }
            let message = self.current.get_or_insert_with(Vec::new);
            message.extend_from_slice(unescaped(&self.line));
        }
        None
    }
}

/// A line without its mboxrd quoting: `>From ` → `From `, `>>From ` → `>From `.
fn unescaped(line: &[u8]) -> &[u8] {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    if quotes > 0 && line[quotes..].starts_with(b"From ") { &line[1..] } else { line }
}

/// Where messages come from, as found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An mbox file of this many bytes.
    Mbox { path: PathBuf, bytes: u64 },
    /// A Maildir's message files (name order) with their sizes.
    Maildir { path: PathBuf, files: Vec<(PathBuf, u64)> },
    /// One message file.
    Message { path: PathBuf, bytes: u64 },
}

impl Source {
    pub fn bytes(&self) -> u64 {
        match self {
            Source::Mbox { bytes, .. } | Source::Message { bytes, .. } => *bytes,
            Source::Maildir { files, .. } => files.iter().map(|(_, b)| b).sum(),
        }
    }
}

/// What [`scan`] found under the paths given.
#[derive(Debug, Default)]
pub struct Scan {
    pub sources: Vec<Source>,
    /// Files in walked directories that are neither mbox, `.eml` nor in a Maildir.
    pub skipped: Vec<PathBuf>,
    /// Entries inside the paths that could not be read (the import goes on without them).
    pub unreadable: Vec<(PathBuf, io::Error)>,
}

/// A path given on the command line that does not exist or cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct ScanError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// Finds the mail under `paths` (module doc: what is taken). A path that does not exist or
/// cannot be read is an error; trouble below it is listed in [`Scan::unreadable`].
pub fn scan(paths: &[PathBuf]) -> Result<Scan, ScanError> {
    let mut scan = Scan::default();
    for path in paths {
        let fail = |source: io::Error| ScanError { path: path.clone(), source };
        let metadata = std::fs::metadata(path).map_err(fail)?;
        if metadata.is_dir() {
            if is_maildir(path) {
                let files = maildir_files(path).map_err(fail)?;
                scan.sources.push(Source::Maildir { path: path.clone(), files });
            } else {
                let entries = sorted_entries(path).map_err(fail)?;
                walk(entries, &mut scan);
            }
        } else {
            // Read the first bytes now, so an unreadable file is refused before anything is done.
            let mbox = starts_like_mbox(path).map_err(fail)?;
            let bytes = metadata.len();
            let eml = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("eml"));
            scan.sources.push(if mbox && !eml {
                Source::Mbox { path: path.clone(), bytes }
            } else {
                Source::Message { path: path.clone(), bytes }
            });
        }
    }
    Ok(scan)
}

fn walk(entries: Vec<PathBuf>, scan: &mut Scan) {
    for path in entries {
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        let metadata = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => match std::fs::metadata(&path) {
                Ok(target) if target.is_dir() => continue,
                other => other,
            },
            other => other,
        };
        let metadata = match metadata {
            Ok(m) => m,
            Err(e) => {
                scan.unreadable.push((path, e));
                continue;
            }
        };
        if metadata.is_dir() {
            if is_maildir(&path) {
                match maildir_files(&path) {
                    Ok(files) => scan.sources.push(Source::Maildir { path, files }),
                    Err(e) => scan.unreadable.push((path, e)),
                }
            } else {
                match sorted_entries(&path) {
                    Ok(entries) => walk(entries, scan),
                    Err(e) => scan.unreadable.push((path, e)),
                }
            }
            continue;
        }
        let bytes = metadata.len();
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("eml")) {
            scan.sources.push(Source::Message { path, bytes });
            continue;
        }
        match starts_like_mbox(&path) {
            Ok(true) => scan.sources.push(Source::Mbox { path, bytes }),
            Ok(false) => scan.skipped.push(path),
            Err(e) => scan.unreadable.push((path, e)),
        }
    }
}

fn sorted_entries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<io::Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

/// A directory with a `cur/` or `new/` subdirectory.
pub fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

/// The message files of a Maildir (`cur/` and `new/`, not hidden), ordered by file name, with
/// their sizes.
pub fn maildir_files(dir: &Path) -> io::Result<Vec<(PathBuf, u64)>> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        let sub = dir.join(sub);
        if !sub.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&sub)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let metadata = std::fs::metadata(entry.path())?;
            if metadata.is_file() {
                files.push((entry.path(), metadata.len()));
            }
        }
    }
    files.sort_by(|(a, _), (b, _)| a.file_name().cmp(&b.file_name()).then_with(|| a.cmp(b)));
    Ok(files)
}

/// Does the file start with `From ` (an mbox)?
pub fn starts_like_mbox(path: &Path) -> io::Result<bool> {
    let mut head = [0u8; 5];
    let mut file = File::open(path)?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(&head[..filled] == b"From ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(file: &[u8]) -> Vec<MboxMessage> {
        Mbox::new(file).collect::<io::Result<Vec<_>>>().unwrap()
    }

    fn raws(file: &[u8]) -> Vec<String> {
        messages(file).into_iter().map(|m| String::from_utf8(m.raw).unwrap()).collect()
    }

    #[test]
    fn mbox_splits_at_from_lines_after_a_blank_line_and_drops_the_separators() {
        let file = b"From a@example.org Mon Jan  1 00:00:00 2024\nSubject: one\n\nBody one.\n\n\
                     From b@example.org Mon Jan  1 00:00:01 2024\nSubject: two\n\nBody two.\n\n";
        assert_eq!(raws(file), ["Subject: one\n\nBody one.\n", "Subject: two\n\nBody two.\n"]);
        let mut mbox = Mbox::new(&file[..]);
        while mbox.next().is_some() {}
        assert_eq!(mbox.position(), file.len() as u64);
    }

    #[test]
    fn mboxrd_quoting_loses_one_greater_than_sign() {
        let file = b"From x Mon Jan  1 00:00:00 2024\nSubject: q\n\n>From the start\n>>From quoted\n> From not quoting\n>>>From deep\n\n";
        assert_eq!(raws(file), ["Subject: q\n\nFrom the start\n>From quoted\n> From not quoting\n>>From deep\n"]);
    }

    #[test]
    fn a_from_line_inside_a_paragraph_is_body_and_a_quoted_one_after_a_blank_line_too() {
        let file = b"From x Mon Jan  1 00:00:00 2024\nSubject: q\n\nI wrote:\nFrom here on, it is body.\n\n>From after a blank line, quoted.\n\n\
                     From y Mon Jan  1 00:00:00 2024\nSubject: r\n\nr\n";
        assert_eq!(
            raws(file),
            [
                "Subject: q\n\nI wrote:\nFrom here on, it is body.\n\nFrom after a blank line, quoted.\n",
                "Subject: r\n\nr\n"
            ]
        );
    }

    #[test]
    fn crlf_files_keep_their_line_endings() {
        let file = b"From a Mon Jan  1 00:00:00 2024\r\nSubject: one\r\n\r\n>From x\r\n\r\nFrom b Mon Jan  1 00:00:00 2024\r\nSubject: two\r\n\r\nb\r\n\r\n";
        assert_eq!(raws(file), ["Subject: one\r\n\r\nFrom x\r\n", "Subject: two\r\n\r\nb\r\n"]);
    }

    #[test]
    fn empty_and_blank_files_hold_no_message() {
        assert!(messages(b"").is_empty());
        assert!(messages(b"\n\n").is_empty());
    }

    #[test]
    fn text_before_the_first_separator_is_kept_as_a_message() {
        assert_eq!(
            raws(b"Subject: stray\n\nx\n\nFrom a Mon\nSubject: a\n\na\n"),
            ["Subject: stray\n\nx\n", "Subject: a\n\na\n"]
        );
    }

    #[test]
    fn a_file_ending_mid_line_marks_its_last_message_incomplete() {
        let got = messages(b"From a Mon\nSubject: a\n\na\n\nFrom b Mon\nSubject: b\n\nhalf a li");
        assert!(got[0].complete);
        assert_eq!(got[1], MboxMessage { raw: b"Subject: b\n\nhalf a li".to_vec(), complete: false });
        assert!(messages(b"From a Mon\nSubject: a\n\na\n")[0].complete, "no trailing blank line is fine");
    }

    #[test]
    fn maildir_files_come_from_cur_and_new_in_name_order_without_tmp() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("new/1700000003.M3.host"), "c").unwrap();
        std::fs::write(dir.path().join("cur/1700000001.M1.host:2,S"), "a").unwrap();
        std::fs::write(dir.path().join("cur/1700000002.M2.host:2,"), "bb").unwrap();
        std::fs::write(dir.path().join("tmp/1700000000.M0.host"), "in delivery").unwrap();
        std::fs::write(dir.path().join("cur/.hidden"), "x").unwrap();
        assert!(is_maildir(dir.path()));
        let files = maildir_files(dir.path()).unwrap();
        let names: Vec<String> =
            files.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["1700000001.M1.host:2,S", "1700000002.M2.host:2,", "1700000003.M3.host"]);
        assert_eq!(files[1].1, 2);
    }

    #[test]
    fn scan_walks_a_directory_for_maildirs_mbox_and_eml_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b-maildir/cur")).unwrap();
        std::fs::write(root.join("b-maildir/cur/1"), "Subject: m\n\nm\n").unwrap();
        std::fs::write(root.join("a.mbox"), "From x Mon\nSubject: x\n\nx\n").unwrap();
        std::fs::write(root.join("c.eml"), "Subject: e\n\ne\n").unwrap();
        std::fs::write(root.join("notes.txt"), "not mail").unwrap();
        std::fs::create_dir_all(root.join(".Sent/cur")).unwrap();
        std::fs::write(root.join(".Sent/cur/1"), "Subject: ours\n\n").unwrap();
        let found = scan(&[root.to_path_buf()]).unwrap();
        let kinds: Vec<&str> = found
            .sources
            .iter()
            .map(|s| match s {
                Source::Mbox { .. } => "mbox",
                Source::Maildir { .. } => "maildir",
                Source::Message { .. } => "message",
            })
            .collect();
        assert_eq!(kinds, ["mbox", "maildir", "message"]);
        assert_eq!(found.skipped, [root.join("notes.txt")]);
        assert!(scan(&[root.join("missing")]).is_err());
    }
}
