//! Telex composition engine for the on-screen keyboard.
//!
//! Commune kiosks have a touch screen and no physical keyboard, so residents
//! type through our own on-screen keyboard. Vietnamese needs 12 vowel shapes,
//! five tones and `đ`; putting every accented letter on screen would be
//! unusable. Telex is the input method most Vietnamese people already know
//! from their phones and computers: diacritics are typed as plain Latin
//! letters and composed on the fly. This module is that composition step,
//! kept free of any UI so it can be tested exhaustively.
//!
//! The engine is stateless: [`apply_key`] takes the current field text and
//! one key and returns the new text, rewriting only the last word.
//!
//! * Shapes: `aa`→`â`, `aw`→`ă`, `ee`→`ê`, `oo`→`ô`, `ow`→`ơ`, `uw`→`ư`,
//!   `dd`→`đ`; a `w` after `uo` horns both (`uow`→`ươ`, `nguwowif`→`người`),
//!   except in the open syllables `thuở`, `huơ`, `khuơ` (`thuowr`→`thuở`);
//!   `thuow` then `ng` still gives `thương`.
//!   The shaping key may also come later in the word: `tieengs` and
//!   `tiengse` both give `tiếng`, `dinhd` gives `đinh`.
//! * Tones: `s` sắc, `f` huyền, `r` hỏi, `x` ngã, `j` nặng, `z` removes the
//!   tone. The tone may be typed anywhere after the first vowel; it is moved
//!   to the right vowel whenever the word changes (`hoaf` then `n` gives
//!   `hoàn`). Syllables ending in `c`, `ch`, `p` or `t` only take sắc or nặng;
//!   other tone keys are typed as letters there.
//! * Pressing the same shaping or tone key again undoes it and types the key
//!   itself: `ass`→`as`, `aaa`→`aa`, `aww`→`aw`, `ddd`→`dd`.
//! * Case is kept: `VIEEJT`→`VIỆT`, `Vieejt`→`Việt`, `DDinhf`→`Đình`.
//! * Telex only applies to words that can be Vietnamese syllables (valid
//!   initial consonant, vowel group and final consonant). Anything else,
//!   such as `Facebook` or `email`, is typed letter by letter unchanged.
//!   Keys that are not ASCII letters are always appended as they are.
//! * A lone `w` stays `w` (some IMEs turn it into `ư`); type `uw` for `ư`.
//!
//! Tone placement uses the classic ("old") style, the one most residents
//! know from official names such as "Ủy ban nhân dân": in an open syllable
//! with two plain vowels the tone goes on the first (`hòa`, `khỏe`, `thúy`,
//! `Ủy`), not the second (`hoà`, `khoẻ`, `thuý`, `Uỷ`). All other rules are
//! shared by both styles: a shaped vowel (`â ă ê ô ơ ư`, the last one in
//! `ươ`) takes the tone, then the last vowel when a final consonant follows
//! (`hoàn`, `khuyến`), then the middle of three vowels (`khoái`). `gi` and
//! `qu` count as consonants (`già`, `quả`, `quốc`).
//!
//! Output is always NFC.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Returns the field text after typing `key`.
///
/// Telex rules are applied to the last word of `text`; the rest of the text
/// is kept as it is (normalised to NFC). Keys that are not ASCII letters
/// (space, digits, punctuation, already-accented letters) are appended.
pub fn apply_key(text: &str, key: char) -> String {
    let mut text: String = text.nfc().collect();
    if !key.is_ascii_alphabetic() {
        text.push(key);
        return text.nfc().collect();
    }
    let start = text
        .char_indices()
        .rev()
        .take_while(|&(_, c)| c.is_alphabetic())
        .last()
        .map_or(text.len(), |(i, _)| i);
    let letters: Option<Vec<Letter>> = text[start..].chars().map(Letter::from_char).collect();
    let Some(word) = letters else {
        // The word holds letters outside Vietnamese: no composition.
        text.push(key);
        return text.nfc().collect();
    };
    let word = type_letter(word, key);
    text.truncate(start);
    for letter in word {
        letter.write(&mut text);
    }
    text.nfc().collect()
}

/// Returns `text` without its last character.
///
/// The text is normalised to NFC first, so a Vietnamese letter with its
/// tone is one character. Should a combining mark remain that NFC cannot
/// merge, it is removed together with the character it sits on.
pub fn backspace(text: &str) -> String {
    let mut text: String = text.nfc().collect();
    while let Some(c) = text.pop() {
        if !is_combining_mark(c) {
            break;
        }
    }
    text
}

/// The shape modifier of a letter.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mark {
    None,
    /// `â ê ô`
    Circumflex,
    /// `ă`
    Breve,
    /// `ơ ư`
    Horn,
    /// `đ`
    Stroke,
}

/// The tone of a syllable, carried by one of its vowels.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tone {
    /// Ngang (level): no mark.
    None,
    /// Sắc, `s`.
    Acute,
    /// Huyền, `f`.
    Grave,
    /// Hỏi, `r`.
    Hook,
    /// Ngã, `x`.
    Tilde,
    /// Nặng, `j`.
    Dot,
}

impl Tone {
    fn combining(self) -> Option<char> {
        match self {
            Tone::None => None,
            Tone::Acute => Some('\u{301}'),
            Tone::Grave => Some('\u{300}'),
            Tone::Hook => Some('\u{309}'),
            Tone::Tilde => Some('\u{303}'),
            Tone::Dot => Some('\u{323}'),
        }
    }
}

/// One letter of a word, split into ASCII base letter, shape, tone and case.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Letter {
    /// Lowercase ASCII letter.
    base: char,
    mark: Mark,
    tone: Tone,
    upper: bool,
}

impl Letter {
    fn plain(key: char) -> Letter {
        Letter {
            base: key.to_ascii_lowercase(),
            mark: Mark::None,
            tone: Tone::None,
            upper: key.is_ascii_uppercase(),
        }
    }

    /// Splits a (precomposed) character; `None` if it is not a letter of
    /// the Vietnamese alphabet written with ASCII letters and diacritics.
    fn from_char(c: char) -> Option<Letter> {
        let upper = c.is_uppercase();
        let mut lower = c.to_lowercase();
        let lower_c = lower.next()?;
        if lower.next().is_some() {
            return None;
        }
        if lower_c == 'đ' {
            return Some(Letter {
                base: 'd',
                mark: Mark::Stroke,
                tone: Tone::None,
                upper,
            });
        }
        let mut parts = std::iter::once(lower_c).nfd();
        let base = parts.next()?;
        if !base.is_ascii_lowercase() {
            return None;
        }
        let mut letter = Letter {
            base,
            mark: Mark::None,
            tone: Tone::None,
            upper,
        };
        for m in parts {
            let (mark, tone) = match m {
                '\u{302}' => (Mark::Circumflex, Tone::None),
                '\u{306}' => (Mark::Breve, Tone::None),
                '\u{31b}' => (Mark::Horn, Tone::None),
                '\u{301}' => (Mark::None, Tone::Acute),
                '\u{300}' => (Mark::None, Tone::Grave),
                '\u{309}' => (Mark::None, Tone::Hook),
                '\u{303}' => (Mark::None, Tone::Tilde),
                '\u{323}' => (Mark::None, Tone::Dot),
                _ => return None,
            };
            if mark != Mark::None {
                if letter.mark != Mark::None {
                    return None;
                }
                letter.mark = mark;
            }
            if tone != Tone::None {
                if letter.tone != Tone::None {
                    return None;
                }
                letter.tone = tone;
            }
        }
        let mark_ok = match letter.mark {
            Mark::None | Mark::Stroke => true,
            Mark::Circumflex => matches!(base, 'a' | 'e' | 'o'),
            Mark::Breve => base == 'a',
            Mark::Horn => matches!(base, 'o' | 'u'),
        };
        let tone_ok = letter.tone == Tone::None || letter.is_vowel();
        (mark_ok && tone_ok).then_some(letter)
    }

    fn is_vowel(self) -> bool {
        matches!(self.base, 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
    }

    /// The letter as it sits in a syllable pattern, without tone or case.
    fn shaped(self) -> char {
        match (self.base, self.mark) {
            ('a', Mark::Circumflex) => 'â',
            ('a', Mark::Breve) => 'ă',
            ('e', Mark::Circumflex) => 'ê',
            ('o', Mark::Circumflex) => 'ô',
            ('o', Mark::Horn) => 'ơ',
            ('u', Mark::Horn) => 'ư',
            ('d', Mark::Stroke) => 'đ',
            (base, _) => base,
        }
    }

    /// Appends the letter, possibly as base + combining marks (the caller
    /// normalises to NFC).
    fn write(self, out: &mut String) {
        let shaped = self.shaped();
        if self.upper {
            out.extend(shaped.to_uppercase());
        } else {
            out.push(shaped);
        }
        if let Some(tone) = self.tone.combining() {
            out.push(tone);
        }
    }
}

/// Initial consonants (`gi` and `qu` included, see [`parse`]).
const ONSETS: &[&str] = &[
    "", "b", "c", "ch", "d", "đ", "g", "gh", "gi", "h", "k", "kh", "l", "m", "n", "ng", "ngh",
    "nh", "p", "ph", "qu", "r", "s", "t", "th", "tr", "v", "x",
];

/// Final consonants.
const CODAS: &[&str] = &["", "c", "ch", "m", "n", "ng", "nh", "p", "t"];

/// Vowel groups (with their glides) that exist in Vietnamese.
const NUCLEI: &[&str] = &[
    "a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y", //
    "ai", "ao", "au", "âu", "ay", "ây", "eo", "êu", "ia", "iê", "iu", "oa", "oă", "oe", "oi", "ôi",
    "ơi", "oo", "ua", "uâ", "uê", "ui", "uô", "uơ", "ươ", "ưa", "ưi", "ưu", "uy", "yê", //
    "iêu", "oai", "oay", "oeo", "uây", "uôi", "ươi", "ươu", "uya", "uyê", "uyu", "yêu",
];

fn spelled(letters: &[Letter]) -> String {
    letters.iter().map(|l| l.shaped()).collect()
}

/// True if the vowel group exists with exactly these shapes.
fn nucleus_exists(letters: &[Letter]) -> bool {
    NUCLEI.contains(&spelled(letters).as_str())
}

/// True if the vowel group exists once shapes are added (`ie` → `iê`).
fn nucleus_possible(letters: &[Letter]) -> bool {
    let bases: String = letters.iter().map(|l| l.base).collect();
    NUCLEI.iter().any(|n| {
        let n_bases: String = n
            .chars()
            .map(|c| Letter::from_char(c).map_or(c, |l| l.base))
            .collect();
        n_bases == bases
    })
}

/// A word split into initial consonant, vowel group and final consonant:
/// `word[..onset]`, `word[onset..nucleus_end]`, `word[nucleus_end..]`.
#[derive(Clone, Copy, Debug)]
struct Syllable {
    onset: usize,
    nucleus_end: usize,
}

impl Syllable {
    fn nucleus(self) -> std::ops::Range<usize> {
        self.onset..self.nucleus_end
    }
}

/// Splits a word that is a Vietnamese syllable or the beginning of one.
fn parse(word: &[Letter]) -> Option<Syllable> {
    let mut onset = word.iter().position(|l| l.is_vowel()).unwrap_or(word.len());
    let first_vowel = word.get(onset).copied();
    let vowel_follows = word.get(onset + 1).is_some_and(|l| l.is_vowel());
    let onset_text = spelled(&word[..onset]);
    if let Some(v) = first_vowel {
        // `gi` and `qu` are consonants when a vowel follows (`già`, `quả`);
        // a lone `qu` is the start of such a word.
        let is_gi = onset_text == "g" && v.base == 'i' && vowel_follows;
        let is_qu = onset_text == "q" && v.base == 'u' && v.mark == Mark::None;
        if is_gi || is_qu {
            onset += 1;
        }
    }
    if !ONSETS.contains(&spelled(&word[..onset]).as_str()) {
        return None;
    }
    let nucleus_end = word[onset..]
        .iter()
        .position(|l| !l.is_vowel())
        .map_or(word.len(), |i| onset + i);
    let nucleus = &word[onset..nucleus_end];
    let coda = &word[nucleus_end..];
    if coda.iter().any(|l| l.is_vowel() || l.mark != Mark::None)
        || !CODAS.contains(&spelled(coda).as_str())
    {
        return None;
    }
    if nucleus.is_empty() {
        if !coda.is_empty() {
            return None;
        }
    } else if !nucleus_possible(nucleus) {
        return None;
    }
    Some(Syllable { onset, nucleus_end })
}

/// Index of the vowel that carries the tone, classic style.
fn tone_position(word: &[Letter], syl: Syllable) -> Option<usize> {
    let nucleus = syl.nucleus();
    if nucleus.is_empty() {
        return None;
    }
    if let Some(i) = nucleus
        .clone()
        .rev()
        .find(|&i| matches!(word[i].mark, Mark::Circumflex | Mark::Breve | Mark::Horn))
    {
        return Some(i);
    }
    if syl.nucleus_end < word.len() {
        return Some(syl.nucleus_end - 1);
    }
    match nucleus.len() {
        3 => Some(nucleus.start + 1),
        // 1 vowel, or 2 vowels in an open syllable: hòa, thúy, mía, cái.
        _ => Some(nucleus.start),
    }
}

fn current_tone(word: &[Letter]) -> Tone {
    word.iter()
        .map(|l| l.tone)
        .find(|&t| t != Tone::None)
        .unwrap_or(Tone::None)
}

fn clear_tones(word: &mut [Letter]) {
    for letter in word {
        letter.tone = Tone::None;
    }
}

/// Applies one ASCII letter key to the last word.
fn type_letter(word: Vec<Letter>, key: char) -> Vec<Letter> {
    let literal = Letter::plain(key);
    let composed = match literal.base {
        'd' => stroke(&word, literal),
        's' => set_tone(&word, Tone::Acute, literal),
        'f' => set_tone(&word, Tone::Grave, literal),
        'r' => set_tone(&word, Tone::Hook, literal),
        'x' => set_tone(&word, Tone::Tilde, literal),
        'j' => set_tone(&word, Tone::Dot, literal),
        'z' => remove_tone(&word),
        'a' | 'e' | 'o' => circumflex(&word, literal),
        'w' => horn(&word, literal),
        _ => None,
    };
    let mut word = composed.unwrap_or_else(|| {
        let mut word = word;
        word.push(literal);
        word
    });
    tidy(&mut word);
    word
}

/// After any change: completes `ư o`/`u ơ` to `ươ` when something follows
/// (`người`, `giường`) and moves the tone to where it now belongs.
fn tidy(word: &mut [Letter]) {
    let Some(syl) = parse(word) else {
        return;
    };
    let nucleus = syl.nucleus();
    if nucleus.len() >= 2 && syl.onset + 2 < word.len() {
        let (u, o) = (word[syl.onset], word[syl.onset + 1]);
        let half_horned = matches!(
            (u.mark, o.mark),
            (Mark::Horn, Mark::None) | (Mark::None, Mark::Horn)
        );
        if u.base == 'u' && o.base == 'o' && half_horned {
            word[syl.onset].mark = Mark::Horn;
            word[syl.onset + 1].mark = Mark::Horn;
        }
    }
    let tone = current_tone(word);
    if tone == Tone::None {
        return;
    }
    if let Some(pos) = tone_position(word, syl) {
        clear_tones(word);
        word[pos].tone = tone;
    }
}

/// `d` key: `d…` ↔ `đ…`.
fn stroke(word: &[Letter], literal: Letter) -> Option<Vec<Letter>> {
    let syl = parse(word)?;
    if syl.onset != 1 || word[0].base != 'd' {
        return None;
    }
    let mut word = word.to_vec();
    if word[0].mark == Mark::Stroke {
        word[0].mark = Mark::None;
        word.push(literal);
    } else {
        word[0].mark = Mark::Stroke;
    }
    Some(word)
}

/// Tone keys `s f r x j`.
fn set_tone(word: &[Letter], tone: Tone, literal: Letter) -> Option<Vec<Letter>> {
    let syl = parse(word)?;
    let pos = tone_position(word, syl)?;
    let mut new = word.to_vec();
    clear_tones(&mut new);
    if current_tone(word) == tone {
        new.push(literal);
        return Some(new);
    }
    let coda = spelled(&word[syl.nucleus_end..]);
    let stop = matches!(coda.as_str(), "c" | "ch" | "p" | "t");
    if stop && !matches!(tone, Tone::Acute | Tone::Dot) {
        return None;
    }
    new[pos].tone = tone;
    Some(new)
}

/// `z` key.
fn remove_tone(word: &[Letter]) -> Option<Vec<Letter>> {
    if current_tone(word) == Tone::None {
        return None;
    }
    let mut word = word.to_vec();
    clear_tones(&mut word);
    Some(word)
}

/// `a e o` keys: `â ê ô`.
fn circumflex(word: &[Letter], literal: Letter) -> Option<Vec<Letter>> {
    let syl = parse(word)?;
    let nucleus = syl.nucleus();
    let i = nucleus.clone().find(|&i| word[i].base == literal.base)?;
    let mut new = word.to_vec();
    if new[i].mark == Mark::Circumflex {
        new[i].mark = Mark::None;
        new.push(literal);
        return Some(new);
    }
    new[i].mark = Mark::Circumflex;
    if i > nucleus.start && new[i - 1].base == 'u' {
        // ươ + o → uô
        new[i - 1].mark = Mark::None;
    }
    nucleus_exists(&new[nucleus]).then_some(new)
}

/// `w` key: `ă ơ ư`, and `ươ` after `uo`.
fn horn(word: &[Letter], literal: Letter) -> Option<Vec<Letter>> {
    let syl = parse(word)?;
    let nucleus = syl.nucleus();
    let undo = |mut word: Vec<Letter>| {
        for letter in &mut word[nucleus.clone()] {
            if matches!(letter.mark, Mark::Breve | Mark::Horn) {
                letter.mark = Mark::None;
            }
        }
        word.push(literal);
        Some(word)
    };
    let mut new = word.to_vec();
    let pair = nucleus
        .clone()
        .find(|&i| i + 1 < nucleus.end && word[i].base == 'u' && word[i + 1].base == 'o');
    if let Some(i) = pair {
        match (word[i].mark, word[i + 1].mark) {
            (Mark::None, Mark::None | Mark::Circumflex) => {
                // Open `uơ` only exists after these onsets (`thuở`, `huơ`,
                // `khuơ`); `tidy` still turns it into `ươ` when a letter
                // follows (`thương`).
                let onset = spelled(&word[..syl.onset]);
                let open_uo = matches!(onset.as_str(), "th" | "h" | "kh");
                if i + 2 < word.len() || !open_uo {
                    new[i].mark = Mark::Horn;
                }
                new[i + 1].mark = Mark::Horn;
            }
            (Mark::Horn, Mark::None) => new[i + 1].mark = Mark::Horn,
            _ => return undo(new),
        }
        return nucleus_exists(&new[nucleus]).then_some(new);
    }
    for (base, mark) in [('a', Mark::Breve), ('o', Mark::Horn), ('u', Mark::Horn)] {
        let Some(i) = nucleus.clone().find(|&i| word[i].base == base) else {
            continue;
        };
        if word[i].mark == mark {
            return undo(new);
        }
        let mut candidate = new.clone();
        candidate[i].mark = mark;
        if nucleus_exists(&candidate[nucleus.clone()]) {
            return Some(candidate);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Types `keys` one by one into `start`.
    fn type_into(start: &str, keys: &str) -> String {
        keys.chars().fold(start.to_owned(), |t, k| apply_key(&t, k))
    }

    fn typed(keys: &str) -> String {
        type_into("", keys)
    }

    #[track_caller]
    fn check(keys: &str, expected: &str) {
        let got = typed(keys);
        assert_eq!(got, expected, "typing {keys:?}");
        assert_eq!(got, got.nfc().collect::<String>(), "not NFC: {keys:?}");
    }

    #[test]
    fn shapes() {
        check("aa", "â");
        check("aw", "ă");
        check("ee", "ê");
        check("oo", "ô");
        check("ow", "ơ");
        check("uw", "ư");
        check("dd", "đ");
        check("uow", "ươ");
        check("nguow", "ngươ");
        check("uown", "ươn");
        check("uowi", "ươi");
        check("uwow", "ươ");
        check("aaw", "ă");
        check("awa", "â");
        check("oow", "ơ");
        check("owo", "ô");
    }

    #[test]
    fn all_tones_on_all_vowels() {
        let vowels = [
            ("a", ["á", "à", "ả", "ã", "ạ"]),
            ("aw", ["ắ", "ằ", "ẳ", "ẵ", "ặ"]),
            ("aa", ["ấ", "ầ", "ẩ", "ẫ", "ậ"]),
            ("e", ["é", "è", "ẻ", "ẽ", "ẹ"]),
            ("ee", ["ế", "ề", "ể", "ễ", "ệ"]),
            ("i", ["í", "ì", "ỉ", "ĩ", "ị"]),
            ("o", ["ó", "ò", "ỏ", "õ", "ọ"]),
            ("oo", ["ố", "ồ", "ổ", "ỗ", "ộ"]),
            ("ow", ["ớ", "ờ", "ở", "ỡ", "ợ"]),
            ("u", ["ú", "ù", "ủ", "ũ", "ụ"]),
            ("uw", ["ứ", "ừ", "ử", "ữ", "ự"]),
            ("y", ["ý", "ỳ", "ỷ", "ỹ", "ỵ"]),
        ];
        for (keys, toned) in vowels {
            for (tone_key, expected) in ['s', 'f', 'r', 'x', 'j'].into_iter().zip(toned) {
                check(&format!("{keys}{tone_key}"), expected);
                // Uppercase.
                check(
                    &format!("{}{}", keys.to_uppercase(), tone_key.to_ascii_uppercase()),
                    &expected.to_uppercase(),
                );
                // Tone typed before the shape key.
                if keys.len() == 2 {
                    let (first, second) = keys.split_at(1);
                    check(&format!("{first}{tone_key}{second}"), expected);
                }
                // z removes the tone, keeping the shape.
                check(&format!("{keys}{tone_key}z"), &typed(keys));
                // Same key again: undo and type the letter.
                check(
                    &format!("{keys}{tone_key}{tone_key}"),
                    &format!("{}{tone_key}", typed(keys)),
                );
            }
        }
    }

    #[test]
    fn required_examples() {
        check("vieejt", "việt");
        check("nguwowif", "người");
        check("DDinhf", "Đình");
        check("tieengs", "tiếng");
        check("quoocs", "quốc");
        check("giaas", "giấ");
        check("hoaf", "hòa");
        check("ass", "as");
        check("aaa", "aa");
        check("VIEEJT", "VIỆT");
        check("Vieejt", "Việt");
    }

    #[test]
    fn undo_with_repeated_key() {
        check("ass", "as");
        check("aff", "af");
        check("arr", "ar");
        check("axx", "ax");
        check("ajj", "aj");
        check("aaa", "aa");
        check("eee", "ee");
        check("ooo", "oo");
        check("aww", "aw");
        check("oww", "ow");
        check("uww", "uw");
        check("uoww", "uow");
        check("ddd", "dd");
        check("dda", "đa");
        check("ddad", "dad");
        check("tieeng", "tiêng");
        check("tieenge", "tienge");
        check("vieejtj", "viêtj");
        check("AAA", "AA");
        check("Ass", "As");
        // After an undo the letters stay literal.
        check("asss", "ass");
    }

    #[test]
    fn tone_replaced_and_removed() {
        check("asf", "à");
        check("asr", "ả");
        check("asz", "a");
        check("az", "az");
        check("tieengsz", "tiêng");
        check("vieejts", "viết");
    }

    #[test]
    fn tone_moves_as_word_grows() {
        check("hoaf", "hòa");
        check("hoafn", "hoàn");
        check("hoafng", "hoàng");
        check("tiesng", "tiéng");
        check("tiesnge", "tiếng");
        check("muaf", "mùa");
        check("muoons", "muốn");
        check("gif", "gì");
        check("gifa", "già");
        check("khuyeens", "khuyến");
        check("khuysee", "khuyế");
    }

    #[test]
    fn classic_tone_placement() {
        check("hoaf", "hòa");
        check("khoer", "khỏe");
        check("thuys", "thúy");
        check("Uyr", "Ủy");
        check("muas", "múa");
        check("mias", "mía");
        check("cais", "cái");
        check("nuis", "núi");
        check("khoais", "khoái");
        check("ngoeoj", "ngoẹo");
        check("khuyur", "khuỷu");
        check("huynhf", "huỳnh");
        check("hoans", "hoán");
        check("quys", "quý");
        check("quar", "quả");
        check("giaf", "già");
        check("gieengs", "giếng");
        check("giuwx", "giữ");
        check("ginf", "gìn");
        check("cuwar", "cửa");
        check("muwa", "mưa");
        check("guwir", "gửi");
        check("cuwuf", "cừu");
        check("ruouwj", "rượu");
        check("ruwowuj", "rượu");
        check("hoawcj", "hoặc");
        check("tuaanf", "tuần");
        check("khuaays", "khuấy");
        check("yeeu", "yêu");
        check("tieeur", "tiểu");
        check("buoori", "buổi");
        check("nguowif", "người");
        check("xoong", "xông");
        check("xooong", "xoong");
        check("soocs", "sốc");
        check("hueess", "huês");
        check("huees", "huế");
    }

    #[test]
    fn uo_with_w() {
        check("thuowr", "thuở");
        check("thuowng", "thương");
        check("thuwowng", "thương");
        check("giuowngf", "giường");
        check("cuwowcs", "cước");
        check("huwow", "hươ");
        check("quow", "quơ");
        check("nguwoif", "người");
        check("muwoif", "mười");
        check("uoow", "ươ");
        check("huow", "huơ");
        check("khuow", "khuơ");
        check("thuowr", "thuở");
        check("uoown", "ươn");
    }

    #[test]
    fn w_alternatives() {
        check("muaw", "mưa");
        check("uiw", "ưi");
        check("oiw", "ơi");
        check("oaw", "oă");
        check("aow", "aow");
        check("auw", "auw");
        check("w", "w");
        check("tw", "tw");
        check("www", "www");
        check("muwaw", "muaw");
    }

    #[test]
    fn shaping_later_in_word() {
        check("tana", "tân");
        check("tanaa", "tana");
        check("taya", "tây");
        check("tiengse", "tiếng");
        check("dinhd", "đinh");
        check("dinhfd", "đình");
        check("DinhD", "Đinh");
        check("hoaa", "hoaa");
        check("khoee", "khoee");
        check("baoo", "baoo");
        check("tanw", "tăn");
    }

    #[test]
    fn stop_codas_take_only_sac_and_nang() {
        check("cacs", "các");
        check("cacj", "cạc");
        check("cacf", "cacf");
        check("thichs", "thích");
        check("thichr", "thichr");
        check("hoapj", "hoạp");
        check("matx", "matx");
    }

    #[test]
    fn uppercase_kept() {
        check("VIEEJT", "VIỆT");
        check("Vieejt", "Việt");
        check("DDinhf", "Đình");
        check("DDINHF", "ĐÌNH");
        check("NGUWOWIF", "NGƯỜI");
        check("NguwowIF", "NgườI");
        check("UYR", "ỦY");
        check("aA", "â");
        check("Aa", "Â");
        check("dD", "đ");
        check("Dd", "Đ");
        check("aS", "á");
        check("aSS", "aS");
    }

    #[test]
    fn phrases() {
        let cases = [
            ("Xax Long Moon", "Xã Long Môn"),
            ("Uyr ban nhaan daan", "Ủy ban nhân dân"),
            ("Ury ban nhaan daan", "Ủy ban nhân dân"),
            ("Cawn cuwowcs coong daan", "Căn cước công dân"),
            ("DDinh Thij Nowr", "Đinh Thị Nở"),
            ("khuyeens", "khuyến"),
            ("thuowr", "thuở"),
            ("giuwowngf", "giường"),
            ("quar", "quả"),
            (
                "Coongj hoaf xax hooij chur nghiax Vieejt Nam",
                "Cộng hòa xã hội chủ nghĩa Việt Nam",
            ),
            (
                "DDoocj laajp - Tuwj do - Hanhj phucs",
                "Độc lập - Tự do - Hạnh phúc",
            ),
            (
                "Soos 12, dduwowngf Traanf Huwng DDaoj",
                "Số 12, đường Trần Hưng Đạo",
            ),
            ("Nguyeexn Vawn Awn", "Nguyễn Văn Ăn"),
            ("Phuwowngf Beens Nghes", "Phường Bến Nghé"),
            ("Giaasy towf", "Giấy tờ"),
            ("gias trij", "giá trị"),
        ];
        for (keys, expected) in cases {
            check(keys, expected);
        }
    }

    #[test]
    fn foreign_words_typed_as_is() {
        check("Facebook", "Facebook");
        check("email", "email");
        check("Zalo", "Zalo");
        check("wifi", "wifi");
        check("jaws", "jaws");
    }

    #[test]
    fn non_letters_append() {
        check("a1", "a1");
        check("as ", "á ");
        check("aa aa", "â â");
        check("a.s", "a.s");
        check("123", "123");
        check("as,", "á,");
        assert_eq!(apply_key("Xin chao", 'f'), "Xin chào");
        assert_eq!(apply_key("Xin chào", '!'), "Xin chào!");
        assert_eq!(apply_key("", 'ê'), "ê");
    }

    #[test]
    fn only_last_word_changes() {
        assert_eq!(type_into("tiếng Việt ", "nam"), "tiếng Việt nam");
        assert_eq!(apply_key("ass a", 's'), "ass á");
        assert_eq!(apply_key("12a", 'a'), "12â");
    }

    #[test]
    fn decomposed_input_is_normalised() {
        // "việt" written with combining marks.
        let nfd: String = "việt".nfd().collect();
        assert_eq!(apply_key(&nfd, ' '), "việt ");
        assert_eq!(apply_key(&nfd, 's'), "viết");
    }

    #[test]
    fn every_three_key_sequence_is_nfc_and_keeps_earlier_words() {
        let keys: Vec<char> = ('a'..='z').chain('A'..='Z').collect();
        for &a in &keys {
            for &b in &keys {
                for &c in &keys {
                    let word: String = [a, b, c].into_iter().collect();
                    let got = type_into("Ủy ", &word);
                    assert!(got.starts_with("Ủy "), "{word:?} gave {got:?}");
                    assert_eq!(got, got.nfc().collect::<String>(), "{word:?}");
                    let chars = got.chars().count() - 3;
                    assert!((1..=3).contains(&chars), "{word:?} gave {got:?}");
                    assert_eq!(backspace(&got).chars().count(), got.chars().count() - 1);
                }
            }
        }
    }

    #[test]
    fn backspace_removes_one_letter() {
        assert_eq!(backspace("Việt"), "Việ");
        assert_eq!(backspace("ệ"), "");
        assert_eq!(backspace(""), "");
        assert_eq!(backspace("a "), "a");
        let nfd: String = "Việ".nfd().collect();
        assert_eq!(backspace(&nfd), "Vi");
        assert_eq!(backspace("x\u{301}\u{20dd}"), "");
    }

    #[test]
    fn backspace_then_retype() {
        let text = typed("vieejt");
        let text = backspace(&text);
        assert_eq!(text, "việ");
        assert_eq!(type_into(&text, "c"), "việc");
    }
}
