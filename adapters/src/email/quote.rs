//! What a person wrote in a reply, without the history their mail program appended.
//!
//! A reply to our acknowledgement becomes an interaction on the record; quoting our own text
//! (or the whole thread) back into it would only duplicate it. Cut at the first sign of quoted
//! history or of a signature and drop `>` lines.

/// The new text of a reply: quoted lines, attribution lines ("On … wrote:", "Vào … đã viết:")
/// and everything after them, Outlook's "-----Original Message-----" and "From:/Sent:" blocks,
/// and a signature after "-- " are removed.
pub fn strip_quoted(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let next = lines.get(i + 1).map_or("", |l| l.trim());
        if starts_history(trimmed, next, &lines[i + 1..]) || line.trim_end() == "--" {
            break;
        }
        if trimmed.starts_with('>') {
            continue;
        }
        kept.push(line.trim_end());
    }
    while kept.last().is_some_and(|l| l.is_empty()) {
        kept.pop();
    }
    while kept.first().is_some_and(|l| l.is_empty()) {
        kept.remove(0);
    }
    kept.join("\n")
}

fn starts_history(line: &str, next: &str, after: &[&str]) -> bool {
    let lower = line.to_lowercase();
    // Attribution lines, which clients may wrap before the final word.
    let attribution = (lower.starts_with("on ") && (lower.ends_with("wrote:") || next.eq_ignore_ascii_case("wrote:")))
        || (lower.starts_with("vào ") && (lower.ends_with("đã viết:") || next.to_lowercase() == "đã viết:"))
        || (lower.starts_with("le ") && lower.ends_with("a écrit :"));
    let original = lower.contains("-----original message-----") || lower.contains("----- tin nhắn gốc -----");
    // Outlook: "From: …" (or a line of underscores, then "From:") followed by "Sent: …".
    let header_block = (lower.starts_with("from:") || lower.starts_with("từ:"))
        && after.iter().take(4).any(|l| {
            let l = l.trim().to_lowercase();
            l.starts_with("sent:") || l.starts_with("date:") || l.starts_with("đã gửi:") || l.starts_with("gửi:")
        });
    let rule = line.len() >= 10 && line.chars().all(|c| c == '_') && next.to_lowercase().starts_with("from:");
    attribution || original || header_block || rule
}

#[cfg(test)]
mod tests {
    use super::strip_quoted;

    #[test]
    fn gmail_vietnamese_outlook_and_signature() {
        let gmail = "Đã có người đến sửa rồi, cảm ơn.\n\nOn Mon, 3 Nov 2026 at 09:12, Hue-S <noreply@hue.gov.vn>\nwrote:\n> Cảm ơn bạn\n";
        assert_eq!(strip_quoted(gmail), "Đã có người đến sửa rồi, cảm ơn.");
        let vi = "Vẫn còn ngập.\nVào 10:00, ngày 3/11/2026, Hue-S đã viết:\n> Chúng tôi đã nhận\n";
        assert_eq!(strip_quoted(vi), "Vẫn còn ngập.");
        let outlook = "Ok.\n\n________________________________\nFrom: Hue-S\nSent: Monday\nSubject: x\n\nold";
        assert_eq!(strip_quoted(outlook), "Ok.");
        let original = "Ok 2.\n-----Original Message-----\nFrom: x";
        assert_eq!(strip_quoted(original), "Ok 2.");
        let signed = "Cây đổ ở Kim Long.\n> quoted\nThêm ảnh.\n-- \nNguyễn Văn A\n0905 123 456";
        assert_eq!(strip_quoted(signed), "Cây đổ ở Kim Long.\nThêm ảnh.");
    }
}
