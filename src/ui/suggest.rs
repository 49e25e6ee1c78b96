//! Word suggestions above the keyboard, for fewer touches: the commune's own
//! vocabulary (words of its procedures and notices) plus common words of
//! residents' questions. Matching ignores diacritics, so "cong" or "c" offers
//! "công", "cần", "chứng"; a tap replaces the word being typed and adds a space.

use std::collections::HashMap;

use super::View;
use crate::model::text::fold;

/// Words residents use in their questions, most common first (they rank above
/// the commune's words of equal count).
const COMMON: &[&str] = &[
    "tôi", "cần", "mang", "gì", "làm", "giấy", "tờ", "có", "không", "được", "xin", "hỏi", "cho",
    "con", "cháu", "nhà", "công", "chứng", "căn", "cước", "khai", "sinh", "hẹn", "lịch", "đâu",
    "khi", "nào", "bao", "nhiêu", "tiền", "ngày", "và", "của", "đến", "xã", "thôn",
];

/// Family and middle names common in the commune's districts (the Hrê of Minh
/// Long and the Kinh), most common first: offered while a name is typed, since a
/// family name and "Văn" or "Thị" begin most names. Nothing typed by a resident is
/// ever added: a kiosk keeps no list of who asked.
const NAMES: &[&str] = &[
    "Đinh", "Thị", "Văn", "Nguyễn", "Phạm", "Trần", "Lê", "Hồ", "Huỳnh", "Võ", "Hoàng", "Bùi",
    "Đặng", "Đỗ", "Ngô", "Dương", "Lý", "Phan", "Trương", "Ngọc", "Minh", "Thanh", "Đức", "Quang",
    "Hữu", "Kim", "Xuân",
];

/// Name words → weight, for the name field.
pub fn names() -> HashMap<String, u32> {
    NAMES
        .iter()
        .enumerate()
        .map(|(i, w)| ((*w).to_string(), (NAMES.len() - i) as u32))
        .collect()
}

/// Word → weight: common words first, then every word of the commune's
/// procedures and notices by how often it appears.
pub fn vocabulary(view: &View) -> HashMap<String, u32> {
    let mut v: HashMap<String, u32> = HashMap::new();
    let mut add = |text: &str, w: u32| {
        for word in text.split(|c: char| !c.is_alphabetic()) {
            // One letter is one tap anyway.
            if word.chars().count() >= 2 {
                *v.entry(word.to_lowercase()).or_default() += w;
            }
        }
    };
    for p in &view.procedures {
        add(&p.title, 1);
        for x in p.papers.iter().chain(&p.steps) {
            add(x, 1);
        }
    }
    for n in &view.notices {
        add(&n.title, 1);
        add(&n.body, 1);
    }
    for (i, w) in COMMON.iter().enumerate() {
        *v.entry((*w).to_string()).or_default() += 100 + (COMMON.len() - i) as u32;
    }
    v
}

/// Up to `n` words completing `partial` (diacritics ignored), best first.
pub fn suggest(vocab: &HashMap<String, u32>, partial: &str, n: usize) -> Vec<String> {
    let p = fold(&partial.to_lowercase());
    if p.is_empty() {
        return Vec::new();
    }
    let mut hits: Vec<(&String, u32)> = vocab
        .iter()
        .filter(|(w, _)| {
            fold(&w.to_lowercase()).starts_with(&p) && w.to_lowercase() != partial.to_lowercase()
        })
        .map(|(w, c)| (w, *c))
        .collect();
    hits.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    hits.into_iter().take(n).map(|(w, _)| w.clone()).collect()
}

/// `text` with its last, partly typed word replaced by `word` and a space; the
/// first letter keeps the case the resident typed.
pub fn complete(text: &str, word: &str) -> String {
    let start = text
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphabetic())
        .last()
        .map_or(text.len(), |(i, _)| i);
    let typed_upper = text[start..]
        .chars()
        .next()
        .is_some_and(|c| c.is_uppercase());
    let mut out = text[..start].to_string();
    let mut chars = word.chars();
    if let Some(first) = chars.next() {
        if typed_upper {
            out.extend(first.to_uppercase());
        } else {
            out.push(first);
        }
        out.extend(chars);
    }
    out.push(' ');
    out
}

/// The partly typed word at the end of `text` ("" after a space).
pub fn partial(text: &str) -> &str {
    let start = text
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphabetic())
        .last()
        .map_or(text.len(), |(i, _)| i);
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_ignore_diacritics_and_keep_the_typed_case() {
        let v = vocabulary(&View::default());
        assert!(suggest(&v, "cong", 4).contains(&"công".to_string()));
        assert!(suggest(&v, "chu", 4).contains(&"chứng".to_string()));
        assert_eq!(suggest(&v, "", 4), Vec::<String>::new());
        assert_eq!(complete("Xin hỏi: T", "tôi"), "Xin hỏi: Tôi ");
        assert_eq!(complete("cần ma", "mang"), "cần mang ");
        assert_eq!(partial("cần ma"), "ma");
        assert_eq!(partial("cần "), "");
    }
}
