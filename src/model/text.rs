//! Text helpers: NFC normalisation, commune initials, time formatting.
//!
//! Vietnamese can be typed precomposed ("ệ") or decomposed ("e" + two marks); both
//! must compare and search equal, so everything a person types is stored as NFC.

use anyhow::{Context, Result, bail};
use time::{OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339};
use unicode_normalization::UnicodeNormalization;

/// Longest free text we accept in any field (a notice body), in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Longest short field (title, name, hamlet, place), in characters.
pub const MAX_SHORT_CHARS: usize = 300;

/// Is `c` a bidirectional formatting character (embedding, override, isolate or
/// mark)? In a name they can make "Nở" display as something else on another
/// screen (a right-to-left override turns the rest of the line around), and no
/// Vietnamese text needs them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// `s` without bidirectional formatting characters (see [`is_bidi_control`]).
pub fn strip_bidi(s: &str) -> String {
    s.chars().filter(|c| !is_bidi_control(*c)).collect()
}

/// NFC-normalises and trims `s`, drops bidirectional formatting characters, and
/// checks its length. Every text a person types, on every path (kiosk, console,
/// CLI), goes through here before it is written.
pub fn clean(field: &str, s: &str, max_chars: usize) -> Result<String> {
    let s: String = strip_bidi(s).trim().nfc().collect();
    let n = s.chars().count();
    if n > max_chars {
        bail!("{field} is too long: {n} characters, at most {max_chars}");
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        bail!("{field} contains control characters");
    }
    Ok(s)
}

pub fn clean_required(field: &str, s: &str, max_chars: usize) -> Result<String> {
    let s = clean(field, s, max_chars)?;
    if s.is_empty() {
        bail!("{field} must not be empty");
    }
    Ok(s)
}

/// Strips Vietnamese diacritics ("Đinh Thị" → "Dinh Thi") for initials and search.
pub fn fold(s: &str) -> String {
    s.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            c => c,
        })
        .collect()
}

/// Initials of a commune name for tracking codes: "Xã Long Môn" → "LM".
pub fn initials(commune_name: &str) -> String {
    let folded = fold(commune_name);
    let words: Vec<&str> = folded.split_whitespace().collect();
    let skip = ["xa", "phuong", "thi", "tran"];
    let mut out: String = words
        .iter()
        .skip_while(|w| skip.contains(&w.to_lowercase().as_str()))
        .filter_map(|w| w.chars().find(|c| c.is_ascii_alphanumeric()))
        .map(|c| c.to_ascii_uppercase())
        .take(4)
        .collect();
    if out.is_empty() {
        out = "CL".into();
    }
    out
}

/// "Đinh Thị Nở" → "Đinh Thị N." (a kiosk shows names shortened unless public).
pub fn short_name(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            let initial: String = last.chars().take(1).collect();
            format!("{} {initial}.", rest.join(" "))
        }
        _ => name.to_string(),
    }
}

pub fn parse_time(field: &str, s: &str) -> Result<i64> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).with_context(|| {
        format!("{field}: {s:?} is not an RFC 3339 time like 2026-12-01T08:00:00+07:00")
    })?;
    Ok(t.unix_timestamp())
}

/// Vietnam's offset; shown times are local to the commune.
pub const VN_OFFSET: UtcOffset = match UtcOffset::from_hms(7, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

pub fn format_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.to_offset(VN_OFFSET).format(&Rfc3339).unwrap_or_default())
        .unwrap_or_default()
}

/// "14:05 01/12/2026", the way people in the commune write times.
pub fn format_time_vn(unix: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(unix) else {
        return String::new();
    };
    let t = t.to_offset(VN_OFFSET);
    format!(
        "{:02}:{:02} {:02}/{:02}/{}",
        t.hour(),
        t.minute(),
        t.day(),
        u8::from(t.month()),
        t.year()
    )
}

/// Unix seconds by this node's wall clock (`crate::clock`, which tests can shift).
pub fn now() -> i64 {
    crate::clock::now_ms().div_euclid(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_skip_the_admin_prefix() {
        assert_eq!(initials("Xã Long Môn"), "LM");
        assert_eq!(initials("Phường Đồng Xuân"), "DX");
        assert_eq!(initials("Thị trấn Ba Tơ"), "BT");
    }

    #[test]
    fn decomposed_input_is_stored_as_nfc() {
        let decomposed = "Vie\u{0302}\u{0323}t";
        assert_eq!(clean("x", decomposed, 10).unwrap(), "Việt");
    }

    #[test]
    fn bidi_controls_are_stripped_on_clean() {
        // "Nở" with a right-to-left override and an isolate around it.
        let sneaky = "\u{202E}Đinh Thị \u{2067}Nở\u{2069}\u{200F}";
        assert_eq!(clean("name", sneaky, 50).unwrap(), "Đinh Thị Nở");
        assert_eq!(clean("name", "  \u{202D} ", 50).unwrap(), "");
        assert!(clean_required("name", "\u{202E}", 50).is_err());
        // Ordinary letters, marks and line breaks stay.
        assert_eq!(clean("text", "Việt\nNam", 50).unwrap(), "Việt\nNam");
    }

    #[test]
    fn names_are_shortened() {
        assert_eq!(short_name("Đinh Thị Nở"), "Đinh Thị N.");
        assert_eq!(short_name("Nở"), "Nở");
    }
}
