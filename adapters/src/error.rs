//! Why an inbound body was refused, in terms a client can act on.
//!
//! Adapters say *what* is wrong and *where* (a JSON pointer); the service turns it into
//! problem+json (400, 413, 415) and `normalize` into a one-line error. Texts never quote the
//! payload: a refused field may hold personal data (R8).

/// What kind of refusal it is; the service maps each to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The body is not valid UTF-8 or not valid JSON (400).
    Malformed,
    /// A field we do not know (400).
    UnknownField,
    /// A required field is missing or empty (400).
    Missing,
    /// A field has a value we cannot accept (400).
    Invalid,
    /// A media file is larger than allowed (413).
    TooLarge,
    /// A media file's type is not on the allow-list (415).
    UnsupportedMedia,
}

/// A refused inbound body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail} (at {pointer})")]
pub struct InputError {
    pub refusal: Refusal,
    /// JSON pointer (RFC 6901) of the offending field; empty for the whole body.
    pub pointer: String,
    pub detail: String,
}

impl InputError {
    pub fn new(refusal: Refusal, pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        InputError { refusal, pointer: pointer.into(), detail: detail.into() }
    }

    /// Where the problem is, for one-line messages: the pointer, or `/` for the whole body.
    pub fn location(&self) -> &str {
        if self.pointer.is_empty() { "/" } else { &self.pointer }
    }

    /// Parses JSON strictly into `T`, naming the place of the first problem.
    ///
    /// Invalid UTF-8 is caught first so the answer can say so plainly; serde's path tracking
    /// turns "unknown field" and type errors into a JSON pointer.
    pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, InputError> {
        if let Err(e) = std::str::from_utf8(body) {
            return Err(InputError::new(
                Refusal::Malformed,
                "",
                format!("body is not valid UTF-8 (first bad byte at offset {})", e.valid_up_to()),
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(body);
        let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
        let value = parsed.map_err(|err| {
            let pointer = json_pointer(err.path());
            let inner = err.inner();
            let refusal = match inner.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => Refusal::Malformed,
                _ if inner.to_string().starts_with("unknown field") => Refusal::UnknownField,
                _ if inner.to_string().starts_with("missing field") => Refusal::Missing,
                _ => Refusal::Invalid,
            };
            InputError::new(refusal, pointer, describe(inner))
        })?;
        // Trailing bytes after the value are as malformed as a broken value.
        de.end().map_err(|e| InputError::new(Refusal::Malformed, "", describe(&e)))?;
        Ok(value)
    }
}

/// serde_json's message, with any echo of the input's values cut out.
///
/// serde names expected types, field names and the line and column (the place in the body),
/// which the client needs; but `unknown variant `…``, `string "…"` and similar quote the
/// input, which may be personal data (R8), so quoted spans are replaced by `…`. Field names
/// in `unknown field` are kept: they are the client's schema, not the citizen's words.
fn describe(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let keep_quoted = message.starts_with("unknown field") || message.starts_with("missing field");
    let mut out = String::with_capacity(message.len());
    let mut rest = message.as_str();
    let mut first = true;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest.as_bytes()[open] as char;
        let Some(close) = rest[open + 1..].find(quote) else {
            break;
        };
        out.push_str(&rest[..open]);
        // The first quoted span of an unknown/missing-field error is the field name; the rest
        // (the list of expected names) is ours too. Everything else is a value.
        if keep_quoted || (!first && rest[..open].contains("expected")) {
            out.push_str(&rest[open..open + close + 2]);
        } else {
            out.push('…');
        }
        rest = &rest[open + close + 2..];
        first = false;
    }
    out.push_str(rest);
    out
}

fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        out.push('/');
        match segment {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hue_intake_schemas::ReportBody;

    #[test]
    fn unknown_nested_field_is_named_by_pointer() {
        let err =
            InputError::parse_json::<ReportBody>(br#"{"client_message_id":"a","reporter":{"nick":"x"}}"#).unwrap_err();
        assert_eq!(err.refusal, Refusal::UnknownField);
        assert_eq!(err.pointer, "/reporter/nick");
    }

    #[test]
    fn syntax_error_gives_line_and_column() {
        let err = InputError::parse_json::<ReportBody>(b"{\n \"client_message_id\": \"a\",\n}").unwrap_err();
        assert_eq!(err.refusal, Refusal::Malformed);
        assert!(err.detail.contains("line 3"), "{}", err.detail);
    }

    #[test]
    fn invalid_utf8_is_refused_before_parsing() {
        let err = InputError::parse_json::<ReportBody>(b"{\"client_message_id\":\"\xff\"}").unwrap_err();
        assert_eq!(err.refusal, Refusal::Malformed);
        assert!(err.detail.contains("UTF-8"));
    }

    #[test]
    fn wrong_enum_value_points_at_the_field_without_echoing_it() {
        let err =
            InputError::parse_json::<ReportBody>(br#"{"client_message_id":"a","rating":"0905123456"}"#).unwrap_err();
        assert_eq!(err.refusal, Refusal::Invalid);
        assert_eq!(err.pointer, "/rating");
        assert!(!err.detail.contains("0905123456"), "{}", err.detail);
    }

    #[test]
    fn trailing_garbage_is_malformed() {
        let err = InputError::parse_json::<ReportBody>(br#"{"client_message_id":"a"} x"#).unwrap_err();
        assert_eq!(err.refusal, Refusal::Malformed);
    }
}
