//! HTML bodies as plain text, for mail that has no `text/plain` part.
//!
//! Deliberately small: reports are short and written by people, so dropping tags, scripts and
//! styles, decoding entities and keeping a line break per block element is enough. It never
//! fetches or interprets anything.

/// Plain text of an HTML document.
pub fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("<!--") {
            rest = rest.find("-->").map_or("", |end| &rest[end + 3..]);
        } else if c == '<' {
            // An unclosed tag runs to the end (its last letter may be several bytes long).
            let (tag, end) = match rest.find('>') {
                Some(gt) => (&rest[1..gt], gt + 1),
                None => (&rest[1..], rest.len()),
            };
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            rest = &rest[end..];
            if !tag.starts_with('/') && matches!(name.as_str(), "script" | "style" | "head" | "title") {
                // Skip the element's content up to its closing tag.
                // Without a closing tag a script or style runs to the end; an unclosed `head`
                // or `title` is ignored rather than swallowing the body.
                let close = format!("</{name}");
                let lower = rest.to_ascii_lowercase();
                rest = match lower.find(&close) {
                    Some(at) => rest[at..].find('>').map_or("", |gt| &rest[at + gt + 1..]),
                    None if matches!(name.as_str(), "script" | "style") => "",
                    None => rest,
                };
            } else if is_block(&name) {
                out.push('\n');
            }
        } else if c == '&' {
            let (decoded, used) = entity(rest);
            out.push_str(&decoded);
            rest = &rest[used..];
        } else if c.is_whitespace() {
            if !out.ends_with([' ', '\n']) {
                out.push(' ');
            }
            rest = &rest[c.len_utf8()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    tidy(&out)
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "br" | "p"
            | "div"
            | "li"
            | "tr"
            | "table"
            | "ul"
            | "ol"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "blockquote"
            | "hr"
            | "pre"
            | "section"
            | "article"
            | "header"
            | "footer"
    )
}

/// Decodes the entity at the start of `s`; returns the text and the bytes used.
fn entity(s: &str) -> (String, usize) {
    let Some(semi) = s[1..].find(';').filter(|&i| i <= 10).map(|i| i + 1) else {
        return ("&".to_owned(), 1);
    };
    let name = &s[1..semi];
    let decoded = if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse().ok(),
        };
        code.and_then(char::from_u32)
    } else {
        match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            "ndash" => Some('–'),
            "mdash" => Some('—'),
            "hellip" => Some('…'),
            _ => None,
        }
    };
    match decoded {
        Some(c) => (c.to_string(), semi + 1),
        None => ("&".to_owned(), 1),
    }
}

/// Trims every line and keeps at most one empty line between paragraphs.
fn tidy(text: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 1 { "\n\n" } else { "\n" });
        }
        out.push_str(line);
        blank = 0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_text;

    #[test]
    fn tags_scripts_and_entities() {
        let html = "<html><head><style>p{color:red}</style></head><body><p>C&acirc;y đổ &amp; chắn đường</p>\
                    <script>alert(1)</script><div>Lê Lợi<br>Huế&nbsp;&#7871;&#x1EBF;</div><!-- x --></body></html>";
        assert_eq!(to_text(html), "C&acirc;y đổ & chắn đường\nLê Lợi\nHuế ếế");
        assert_eq!(to_text("<head><meta charset=utf-8><p>Ngập</p>"), "Ngập");
    }

    #[test]
    fn an_unclosed_tag_ending_in_a_multibyte_letter_is_dropped_without_panic() {
        // Regression (email fuzz target): the tag's end was taken one byte before the end of
        // the text, inside "ÿ", and the slice panicked on such a mail.
        assert_eq!(to_text("<p>Ngập</p><dÿÿÿ"), "Ngập");
        assert_eq!(to_text("Cây đổ <b"), "Cây đổ");
        assert_eq!(to_text("<"), "");
        assert_eq!(to_text("<p>Lê Lợi<br"), "Lê Lợi");
    }
}
