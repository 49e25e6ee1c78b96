//! On-screen keyboard for the touch kiosk.
//!
//! Kiosks have no physical keyboard, so every text field is filled through
//! this widget. It shows a QWERTY layout (Telex needs all Latin letters) and
//! feeds each tap through [`super::telex`], so residents type Vietnamese the
//! way they do on their phones: `vieejt` gives `việt`.
//!
//! * Letters page: three QWERTY rows; numbers page: digits and
//!   `. , ? - / : @ +` plus a few more signs for addresses.
//! * Bottom row: shift, page toggle, a wide space bar and backspace. Their
//!   captions come from [`KeyboardLabels`] so they can be translated; the
//!   backspace key shows text ("Xóa") because `⌫` is not in every font.
//! * Beside Telex, the letters page carries the shaped vowels and `đ` at the
//!   ends of its rows (`ơ ư`, `â ă đ`, `ê ô`) and the five tones on the bottom
//!   row (`á à ả ã ạ`), for residents who have never typed Telex: a shape key
//!   reshapes the word's vowel (`ca` + `â` → `câ`) or types the letter itself;
//!   a tone key puts that tone on the word being typed (`Nit` + `á` → `Nít`),
//!   where Telex would put it, and does nothing when there is no vowel for it.
//! * The phone field gets a number pad instead: three big columns of digits.
//! * Shift is one-shot: it capitalises the next letter, then turns off.
//! * Every key is at least 48×48 logical points (56 high) for fingers, and
//!   its accessible name is its caption, so tests can tap keys by label.
//! * On a screen too narrow for twelve such keys side by side (a panel mounted
//!   upright: 800 pixels at zoom 1.5 is 533 points), the letters page takes a
//!   second layout, as phones do, rather than running off the screen: ten keys a
//!   row at most (`qwertyuiop`, `asdfghjkl`, `zxcvbnmđ`), the shaped vowels on a
//!   row of their own, the tones on the next, and shift, page, space and
//!   backspace on the last; keys never narrower than [`MIN_NARROW_KEY_WIDTH`].
//!   Letter keys are labelled in lowercase, or uppercase while shift is on.

use egui::{Button, RichText, Ui, vec2};

use super::telex;

/// Height of every key, in logical points, when there is room.
pub const KEY_HEIGHT: f32 = 56.0;
/// No key is narrower (or, on a short screen, lower) than this.
pub const MIN_KEY_WIDTH: f32 = 48.0;
/// Space between keys, both ways.
const KEY_GAP: f32 = 6.0;
/// Number of keys that must fit side by side in the widest row.
const KEYS_PER_ROW: f32 = 12.0;
/// The same, in the narrow layout.
const NARROW_KEYS_PER_ROW: f32 = 10.0;
/// No key of the narrow layout is narrower than this (60 pixels at zoom 1.5,
/// a centimetre on a 10-inch panel).
pub const MIN_NARROW_KEY_WIDTH: f32 = 40.0;
const LETTER_FONT_SIZE: f32 = 26.0;
const CONTROL_FONT_SIZE: f32 = 20.0;

const LETTER_ROWS: [&str; 3] = ["qwertyuiopơư", "asdfghjklâăđ", "zxcvbnmêô"];
/// The letters of the narrow layout: the same keys, ten a row at most.
const NARROW_LETTER_ROWS: [&str; 4] = ["qwertyuiop", "asdfghjkl", "zxcvbnmđ", "âăêôơư"];
/// The tone keys: each shows its mark on an `a`, and types it as Telex would.
const TONES: [(char, char); 5] = [('á', 's'), ('à', 'f'), ('ả', 'r'), ('ã', 'x'), ('ạ', 'j')];
const PAD_ROWS: [&str; 3] = ["123", "456", "789"];
const NUMBER_ROWS: [&str; 3] = ["1234567890", ".,?-/:@+", "()#!'\"&"];

/// Captions of the keys that are not characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyboardLabels {
    pub space: String,
    pub backspace: String,
    pub shift: String,
    /// Shown on the page toggle while letters are displayed.
    pub numbers: String,
    /// Shown on the page toggle while digits are displayed.
    pub letters: String,
}

impl Default for KeyboardLabels {
    /// Vietnamese captions.
    fn default() -> Self {
        Self {
            space: "Dấu cách".to_owned(),
            backspace: "Xóa".to_owned(),
            shift: "Chữ hoa".to_owned(),
            numbers: "123".to_owned(),
            letters: "ABC".to_owned(),
        }
    }
}

/// State of the on-screen keyboard: which page is shown and whether the
/// next letter is capitalised. Keep one per screen, across frames.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OnScreenKeyboard {
    shift: bool,
    numbers: bool,
    /// The number pad (phone field): digits only, big.
    pad: bool,
}

/// What a tap asks for.
#[derive(Clone, Copy, Debug)]
enum Tap {
    Char(char),
    /// A tone key: the Telex key for that tone.
    Tone(char),
    Space,
    Backspace,
    Shift,
    TogglePage,
}

impl OnScreenKeyboard {
    /// A keyboard on the letters page with shift off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Shows the digits page (`true`) or the letters (`false`), shift off: the
    /// phone field opens the keyboard on its digits.
    pub fn set_numbers(&mut self, numbers: bool) {
        self.numbers = numbers;
        self.shift = false;
        self.pad = false;
    }

    /// Shows the number pad (`true`) instead of the letters: for the phone field.
    pub fn set_pad(&mut self, pad: bool) {
        self.pad = pad;
        self.numbers = false;
        self.shift = false;
    }

    /// Height of the whole keyboard with keys `key_height` high, `width` wide:
    /// four rows, six in the narrow layout.
    pub fn height(key_height: f32, width: f32) -> f32 {
        let rows = if is_narrow(width) { 6.0 } else { 4.0 };
        rows * key_height.max(MIN_KEY_WIDTH) + (rows - 1.0) * KEY_GAP
    }

    /// Draws the keyboard; applies taps to `text` through `super::telex`.
    /// Returns true if text changed.
    pub fn show(&mut self, ui: &mut Ui, text: &mut String, labels: &KeyboardLabels) -> bool {
        self.show_sized(ui, text, labels, KEY_HEIGHT)
    }

    /// [`Self::show`] with keys `key_height` high (never below [`MIN_KEY_WIDTH`]),
    /// for short screens where every point of height counts.
    pub fn show_sized(
        &mut self,
        ui: &mut Ui,
        text: &mut String,
        labels: &KeyboardLabels,
        key_height: f32,
    ) -> bool {
        let full_width = ui.available_width();
        let narrow = is_narrow(full_width);
        let key_width = key_width(full_width);
        let key_height = key_height.max(MIN_KEY_WIDTH);
        let mut tap = None;

        ui.vertical(|ui| {
            ui.spacing_mut().item_spacing = vec2(KEY_GAP, KEY_GAP);
            // Keys are exactly `key_height` high: the caption must not push them.
            ui.spacing_mut().button_padding.y = 2.0;
            // Captions are short: narrow padding lets "Chữ hoa" fit its key.
            ui.spacing_mut().button_padding.x = 4.0;
            if self.pad {
                self.number_pad(ui, labels, full_width, key_height, &mut tap);
                return;
            }
            let rows: &[&str] = match (self.numbers, narrow) {
                (true, _) => &NUMBER_ROWS,
                (false, false) => &LETTER_ROWS,
                (false, true) => &NARROW_LETTER_ROWS,
            };
            let size = vec2(key_width, key_height);
            for row in rows {
                self.char_row(ui, row, full_width, size, &mut tap);
            }
            if narrow && !self.numbers {
                ui.horizontal(|ui| {
                    let row_width = TONES.len() as f32 * (key_width + KEY_GAP) - KEY_GAP;
                    ui.add_space(((full_width - row_width) / 2.0).max(0.0));
                    self.tone_keys(ui, size, &mut tap);
                });
            }
            self.bottom_row(ui, labels, full_width, size, narrow, &mut tap);
        });

        let Some(tap) = tap else {
            return false;
        };
        let before = text.clone();
        match tap {
            Tap::Char(c) if c.is_ascii() => {
                *text = telex::apply_key(text, c);
                if c.is_alphabetic() {
                    self.shift = false;
                }
            }
            Tap::Char(c) => {
                *text = shape(text, c);
                self.shift = false;
            }
            Tap::Tone(key) => *text = tone(text, key),
            Tap::Space => *text = telex::apply_key(text, ' '),
            Tap::Backspace => *text = telex::backspace(text),
            Tap::Shift => self.shift = !self.shift,
            Tap::TogglePage => {
                self.numbers = !self.numbers;
                self.shift = false;
            }
        }
        *text != before
    }

    /// One row of character keys, centred.
    fn char_row(
        &self,
        ui: &mut Ui,
        keys: &str,
        full_width: f32,
        key: egui::Vec2,
        tap: &mut Option<Tap>,
    ) {
        let (key_width, key_height) = (key.x, key.y);
        let count = keys.chars().count() as f32;
        let row_width = count * key_width + (count - 1.0) * KEY_GAP;
        ui.horizontal(|ui| {
            ui.add_space(((full_width - row_width) / 2.0).max(0.0));
            for key in keys.chars() {
                let c = if self.shift {
                    key.to_uppercase().next().unwrap_or(key)
                } else {
                    key
                };
                let caption = RichText::new(c.to_string()).size(LETTER_FONT_SIZE);
                if key_button(ui, caption, key_width, key_height).clicked() {
                    *tap = Some(Tap::Char(c));
                }
            }
        });
    }

    /// The number pad: three columns of digits, then `+ 0` and backspace.
    fn number_pad(
        &self,
        ui: &mut Ui,
        labels: &KeyboardLabels,
        full_width: f32,
        key_height: f32,
        tap: &mut Option<Tap>,
    ) {
        let width = ((full_width - 2.0 * KEY_GAP) / 3.0)
            .floor()
            .max(MIN_KEY_WIDTH);
        for row in PAD_ROWS {
            ui.horizontal(|ui| {
                for key in row.chars() {
                    let caption = RichText::new(key.to_string()).size(LETTER_FONT_SIZE + 4.0);
                    if key_button(ui, caption, width, key_height).clicked() {
                        *tap = Some(Tap::Char(key));
                    }
                }
            });
        }
        ui.horizontal(|ui| {
            for key in ['+', '0'] {
                let caption = RichText::new(key.to_string()).size(LETTER_FONT_SIZE + 4.0);
                if key_button(ui, caption, width, key_height).clicked() {
                    *tap = Some(Tap::Char(key));
                }
            }
            let caption = RichText::new(&labels.backspace).size(CONTROL_FONT_SIZE);
            if key_button(ui, caption, width, key_height).clicked() {
                *tap = Some(Tap::Backspace);
            }
        });
    }

    /// The five tone keys.
    fn tone_keys(&self, ui: &mut Ui, key: egui::Vec2, tap: &mut Option<Tap>) {
        for (mark, k) in TONES {
            let caption = RichText::new(mark.to_string()).size(LETTER_FONT_SIZE);
            if key_button(ui, caption, key.x, key.y).clicked() {
                *tap = Some(Tap::Tone(k));
            }
        }
    }

    /// Shift, page toggle, (the tones,) space bar and backspace, spanning the full
    /// row; in the narrow layout the tones have a row of their own above.
    fn bottom_row(
        &self,
        ui: &mut Ui,
        labels: &KeyboardLabels,
        full_width: f32,
        key: egui::Vec2,
        narrow: bool,
        tap: &mut Option<Tap>,
    ) {
        let (key_width, key_height) = (key.x, key.y);
        let shift_width = 1.5 * key_width;
        let toggle_width = 1.5 * key_width;
        let backspace_width = 1.5 * key_width;
        // The tone keys sit on the letters page only.
        let tones = !self.numbers && !narrow;
        let right = ui.max_rect().left() + full_width;
        let control = |label: &str| RichText::new(label).size(CONTROL_FONT_SIZE);

        ui.horizontal(|ui| {
            let shift = Button::selectable(self.shift, control(&labels.shift))
                .frame_when_inactive(true)
                .min_size(vec2(shift_width, key_height));
            // Shift means nothing on the numbers page.
            if ui.add_enabled(!self.numbers, shift).clicked() {
                *tap = Some(Tap::Shift);
            }
            let toggle = if self.numbers {
                &labels.letters
            } else {
                &labels.numbers
            };
            if key_button(ui, control(toggle), toggle_width, key_height).clicked() {
                *tap = Some(Tap::TogglePage);
            }
            if tones {
                self.tone_keys(ui, key, tap);
            }
            // The space bar takes what the row leaves: also what a caption wider
            // than its key ("Chữ hoa" in a large font) took, so backspace stays on
            // the screen.
            let space_width =
                (right - ui.cursor().left() - KEY_GAP - backspace_width).max(key_width);
            if key_button(ui, control(&labels.space), space_width, key_height).clicked() {
                *tap = Some(Tap::Space);
            }
            if key_button(ui, control(&labels.backspace), backspace_width, key_height).clicked() {
                *tap = Some(Tap::Backspace);
            }
        });
    }
}

/// The word at the end of `text` with `shaped` (â ă ê ô ơ ư đ, either case)
/// applied: the Telex key that makes that shape, if the word has the vowel for
/// it (`ca` + `â` → `câ`, `nguoi` + `ư`… → `người` as Telex would), else the
/// letter itself typed at the end.
fn shape(text: &str, shaped: char) -> String {
    let lower = shaped.to_lowercase().next().unwrap_or(shaped);
    let key = match lower {
        'â' => 'a',
        'ê' => 'e',
        'ô' => 'o',
        'ă' | 'ơ' | 'ư' => 'w',
        'đ' => 'd',
        _ => {
            let mut t = text.to_string();
            t.push(shaped);
            return t;
        }
    };
    let count = |s: &str| {
        s.chars()
            .filter(|c| c.to_lowercase().next() == Some(lower))
            .count()
    };
    let candidate = telex::apply_key(text, key);
    if candidate.chars().count() == text.chars().count() && count(&candidate) > count(text) {
        return candidate;
    }
    let mut t = text.to_string();
    t.push(shaped);
    t
}

/// `text` with the tone of Telex key `key` (s f r x j) on its last word, or
/// unchanged if that word cannot take it (no vowel yet, not Vietnamese, or the
/// tone is already there: pressing a tone key twice must not type a letter).
fn tone(text: &str, key: char) -> String {
    let candidate = telex::apply_key(text, key);
    if candidate.chars().count() == text.chars().count() {
        candidate
    } else {
        text.to_string()
    }
}

/// Too narrow for twelve keys of [`MIN_KEY_WIDTH`] side by side: the narrow layout.
pub fn is_narrow(full_width: f32) -> bool {
    full_width < KEYS_PER_ROW * MIN_KEY_WIDTH + (KEYS_PER_ROW - 1.0) * KEY_GAP
}

/// Width of a character key: twelve keys and their gaps fill `full_width` (ten in
/// the narrow layout), but a key never gets narrower than [`MIN_KEY_WIDTH`]
/// ([`MIN_NARROW_KEY_WIDTH`] in the narrow layout).
fn key_width(full_width: f32) -> f32 {
    let (n, min) = if is_narrow(full_width) {
        (NARROW_KEYS_PER_ROW, MIN_NARROW_KEY_WIDTH)
    } else {
        (KEYS_PER_ROW, MIN_KEY_WIDTH)
    };
    let width = (full_width - (n - 1.0) * KEY_GAP) / n;
    width.floor().max(min)
}

fn key_button(ui: &mut Ui, caption: RichText, width: f32, height: f32) -> egui::Response {
    ui.add(Button::new(caption).min_size(vec2(width, height)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;

    struct State {
        keyboard: OnScreenKeyboard,
        text: String,
        labels: KeyboardLabels,
        changes: usize,
    }

    /// English captions, to tell them from the default Vietnamese ones.
    fn test_labels() -> KeyboardLabels {
        KeyboardLabels {
            space: "Space".to_owned(),
            backspace: "Xóa".to_owned(),
            shift: "Shift".to_owned(),
            numbers: "123".to_owned(),
            letters: "ABC".to_owned(),
        }
    }

    fn harness(width: f32) -> Harness<'static, State> {
        harness_with(width, test_labels())
    }

    fn harness_with(width: f32, labels: KeyboardLabels) -> Harness<'static, State> {
        // The app's fonts: the shape and tone keys are Vietnamese letters.
        Harness::builder()
            .with_size(vec2(width, 500.0))
            .with_context_setup(crate::ui::setup_context)
            .build_ui_state(
                |ui, state: &mut State| {
                    if state.keyboard.show(ui, &mut state.text, &state.labels) {
                        state.changes += 1;
                    }
                },
                State {
                    keyboard: OnScreenKeyboard::new(),
                    text: String::new(),
                    labels,
                    changes: 0,
                },
            )
    }

    fn tap(harness: &mut Harness<'_, State>, label: &str) {
        harness.get_by_label(label).click();
        harness.run();
    }

    #[test]
    fn types_telex_by_tapping_labels() {
        let mut h = harness(800.0);
        for key in ["v", "i", "e", "e", "j", "t"] {
            tap(&mut h, key);
        }
        assert_eq!(h.state().text, "việt");
        assert_eq!(h.state().changes, 6);
        tap(&mut h, "Space");
        tap(&mut h, "n");
        tap(&mut h, "a");
        tap(&mut h, "m");
        assert_eq!(h.state().text, "việt nam");
        tap(&mut h, "Xóa");
        assert_eq!(h.state().text, "việt na");
    }

    #[test]
    fn every_letter_key_is_there() {
        let mut h = harness(800.0);
        for c in 'a'..='z' {
            tap(&mut h, &c.to_string());
        }
        // Telex rewrites some of these; the keys only need to exist.
        assert!(!h.state().text.is_empty());
        assert!(h.query_by_label("A").is_none());
    }

    #[test]
    fn shift_is_one_shot() {
        let mut h = harness(800.0);
        assert!(h.query_by_label("V").is_none());
        tap(&mut h, "Shift");
        assert_eq!(h.state().changes, 0);
        assert!(h.query_by_label("v").is_none());
        tap(&mut h, "V");
        assert!(h.query_by_label("V").is_none());
        for key in ["i", "e", "e", "j", "t"] {
            tap(&mut h, key);
        }
        assert_eq!(h.state().text, "Việt");
        // Shift twice cancels it.
        tap(&mut h, "Shift");
        tap(&mut h, "Shift");
        tap(&mut h, "a");
        assert_eq!(h.state().text, "Việta");
    }

    #[test]
    fn numbers_page() {
        let mut h = harness(800.0);
        tap(&mut h, "123");
        assert!(h.query_by_label("q").is_none());
        for key in ["1", "2", ".", ",", "?", "-", "/", ":", "@", "+", "0"] {
            tap(&mut h, key);
        }
        assert_eq!(h.state().text, "12.,?-/:@+0");
        tap(&mut h, "ABC");
        tap(&mut h, "a");
        assert_eq!(h.state().text, "12.,?-/:@+0a");
        assert!(h.query_by_label("1").is_none());
    }

    #[test]
    fn toggle_page_clears_shift() {
        let mut h = harness(800.0);
        tap(&mut h, "Shift");
        tap(&mut h, "123");
        tap(&mut h, "ABC");
        assert!(h.query_by_label("a").is_some());
        assert_eq!(h.state().changes, 0);
    }

    #[test]
    fn backspace_on_empty_text_changes_nothing() {
        let mut h = harness(800.0);
        tap(&mut h, "Xóa");
        assert_eq!(h.state().text, "");
        assert_eq!(h.state().changes, 0);
    }

    #[test]
    fn default_labels_are_vietnamese() {
        let mut h = harness_with(800.0, KeyboardLabels::default());
        for key in ["Chữ hoa", "D", "d", "i", "n", "h", "f", "Dấu cách"] {
            tap(&mut h, key);
        }
        tap(&mut h, "123");
        tap(&mut h, "1");
        tap(&mut h, "Xóa");
        tap(&mut h, "ABC");
        assert_eq!(h.state().text, "Đình ");
    }

    fn assert_keys_big_enough(h: &Harness<'_, State>) {
        let buttons: Vec<_> = h.get_all_by_role(egui::accesskit::Role::Button).collect();
        assert!(buttons.len() >= 25, "only {} keys", buttons.len());
        let width = h.ctx.content_rect().width();
        let min = if is_narrow(width) {
            MIN_NARROW_KEY_WIDTH
        } else {
            MIN_KEY_WIDTH
        };
        for button in buttons {
            let rect = button.rect();
            // Wide enough for ten narrow keys (and the harness's margins): nothing
            // sticks out.
            if width >= NARROW_KEYS_PER_ROW * (MIN_NARROW_KEY_WIDTH + KEY_GAP) + 20.0 {
                assert!(
                    rect.left() >= -0.5 && rect.right() <= width + 0.5,
                    "at width {width}: {button:?} ends at {}",
                    rect.right()
                );
            }
            assert!(
                rect.width() >= min && rect.height() >= MIN_KEY_WIDTH,
                "at width {width}: {button:?} is {:?}",
                rect.size()
            );
        }
    }

    #[test]
    fn keys_are_touch_sized() {
        for width in [300.0, 480.0, 533.0, 600.0, 720.0, 853.0, 1024.0, 1280.0] {
            let mut h = harness(width);
            assert_keys_big_enough(&h);
            tap(&mut h, "123");
            assert_keys_big_enough(&h);
        }
    }

    /// An upright panel (800 pixels at zoom 1.5: 533 points): the narrow layout has
    /// every letter, shaped vowel, tone and control key, inside the screen.
    #[test]
    fn a_narrow_screen_gets_every_key_inside_it() {
        let mut h = harness(533.0);
        assert!(is_narrow(533.0) && !is_narrow(853.0));
        let labels: Vec<String> = ('a'..='z')
            .map(|c| c.to_string())
            .chain("âăêôơưđáàảãạ".chars().map(|c| c.to_string()))
            .chain(["Shift", "123", "Space", "Xóa"].map(String::from))
            .collect();
        for l in &labels {
            let r = h.get_by_label(l).rect();
            assert!(r.left() >= 0.0 && r.right() <= 533.0, "{l} at {r:?}");
        }
        for key in ["t", "ô", "i", "Space", "v", "a", "à"] {
            tap(&mut h, key);
        }
        assert_eq!(h.state().text, "tôi và");
        let height = h.get_by_label("Xóa").rect().bottom() - h.get_by_label("q").rect().top();
        assert!(
            height <= OnScreenKeyboard::height(KEY_HEIGHT, 533.0) + 0.5,
            "{height}"
        );
    }

    #[test]
    fn tone_and_shape_keys_type_vietnamese_without_telex() {
        let mut h = harness(1000.0);
        // "Đinh Thị Nít" with the shape and tone keys only: no Telex key twice,
        // no s f r x j.
        for key in [
            "Shift", "Đ", "i", "n", "h", "Space", "Shift", "T", "h", "i", "ạ", "Space",
        ] {
            tap(&mut h, key);
        }
        for key in ["Shift", "N", "i", "t", "á"] {
            tap(&mut h, key);
        }
        assert_eq!(h.state().text, "Đinh Thị Nít");
        // Pressing a tone twice keeps it (no stray letter); a tone with no vowel
        // does nothing.
        tap(&mut h, "á");
        assert_eq!(h.state().text, "Đinh Thị Nít");
        tap(&mut h, "Space");
        tap(&mut h, "á");
        assert_eq!(h.state().text, "Đinh Thị Nít ");
        // Shape keys reshape the word's vowel where Telex would, tones land on
        // the right vowel: "người", "Trường", "cẩn".
        h.state_mut().text.clear();
        for key in ["n", "g", "u", "o", "i", "ư", "à"] {
            tap(&mut h, key);
        }
        assert_eq!(h.state().text, "người");
        h.state_mut().text.clear();
        for key in ["c", "a", "n", "â", "ả"] {
            tap(&mut h, key);
        }
        assert_eq!(h.state().text, "cẩn");
        // A shape key with no vowel to reshape types the letter itself.
        h.state_mut().text.clear();
        for key in ["ơ", "n"] {
            tap(&mut h, key);
        }
        assert_eq!(h.state().text, "ơn");
        // Telex keeps working beside them.
        h.state_mut().text.clear();
        for key in ["v", "i", "e", "e", "j", "t"] {
            tap(&mut h, key);
        }
        assert_eq!(h.state().text, "việt");
    }

    #[test]
    fn the_number_pad_types_digits_only() {
        let mut h = harness(800.0);
        h.state_mut().keyboard.set_pad(true);
        h.run();
        assert!(h.query_by_label("q").is_none());
        for key in ["0", "9", "1", "2", "+", "Xóa", "3"] {
            tap(&mut h, key);
        }
        assert_eq!(h.state().text, "09123");
        let one = h.get_by_label("1").rect();
        assert!(one.width() > 200.0, "{one:?}");
    }

    #[test]
    fn ten_keys_fill_the_width() {
        let h = harness(1000.0);
        let q = h.get_by_label("q").rect();
        let p = h.get_by_label("p").rect();
        assert!(q.width() > 70.0, "{:?}", q.size());
        assert!(p.right() - q.left() <= 1000.0);
        assert_eq!(key_width(100.0), MIN_NARROW_KEY_WIDTH);
        assert!(key_width(700.0) >= MIN_KEY_WIDTH);
    }
}
