//! "Gửi câu hỏi": a resident asks a question, an appointment or a home visit, one
//! step at a time (issue 24): the kind of request, with a picture for each → the name
//! → the hamlet, chosen from the commune's list (the hall's own first) → the phone,
//! on a number pad, optional → the question, in a box that grows to show everything
//! typed, with words offered above the keys → a review that reads the question back
//! aloud → send. The steps stand in a row at the top, the current one named, each
//! one tap away; "Quay lại" and "Tiếp" (or "Gửi đi" on the review) stand on the row
//! above the keyboard, which is on screen while a step has something to type. A
//! resident who reads little sees one thing to do at a time; one who reads well goes
//! straight to any step. `tests/it/layout.rs` checks every step at six screen
//! shapes and two zooms; `tests/it/hall.rs` counts the touches.
//!
//! Every limit is enforced while typing, on the on-screen keyboard and on a
//! physical one alike: a field stops accepting at its length limit, refuses
//! characters the kiosk's fonts cannot draw (and, for the phone, anything but
//! digits), and says why in a line under the field. "Tiếp" checks the step it
//! leaves, "Gửi đi" checks them all and opens the first step missing something;
//! the message stands on the row above the keys, in the resident's language, and
//! clears when the step changes. A failure to save says so there too; the English
//! error goes to the log only.
//!
//! After sending, the tracking code fills the screen; the next request can be
//! started only after a short pause and a tap on "Gửi câu hỏi khác", and requests
//! sent in a burst are paced (`pacing`): a brake on junk that slows a prankster to
//! `ui.requests_per_hour` and lets the next resident send within minutes.

use egui::{RichText, Ui};

use super::i18n::{Lang, S};
use super::keyboard::{KeyboardLabels, OnScreenKeyboard};
use super::widgets::{self, bold};
use super::{Station, Tag, View};
use crate::model::text::{short_name, strip_bidi};
use crate::model::{RequestDraft, RequestKind};

/// A field of the form the on-screen keyboard can type into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Field {
    Hamlet,
    #[default]
    Name,
    Phone,
    Text,
}

impl Field {
    /// Left to right, as they stand on the form.
    pub const ORDER: [Field; 4] = [Field::Name, Field::Hamlet, Field::Phone, Field::Text];

    /// Longest value the kiosk accepts, in characters (the store allows more; a
    /// kiosk form has no use for it).
    pub fn limit(self) -> usize {
        match self {
            Field::Name | Field::Hamlet => 60,
            Field::Phone => 20,
            Field::Text => MAX_QUESTION_CHARS,
        }
    }
}

/// A step of the guided flow, in order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Step {
    #[default]
    Kind,
    Name,
    Hamlet,
    Phone,
    Question,
    Review,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Kind,
        Step::Name,
        Step::Hamlet,
        Step::Phone,
        Step::Question,
        Step::Review,
    ];

    /// The field typed into at this step.
    pub fn field(self) -> Option<Field> {
        match self {
            Step::Name => Some(Field::Name),
            Step::Hamlet => Some(Field::Hamlet),
            Step::Phone => Some(Field::Phone),
            Step::Question => Some(Field::Text),
            Step::Kind | Step::Review => None,
        }
    }

    /// The step where `f` is typed.
    pub fn of(f: Field) -> Step {
        match f {
            Field::Name => Step::Name,
            Field::Hamlet => Step::Hamlet,
            Field::Phone => Step::Phone,
            Field::Text => Step::Question,
        }
    }

    /// 1 for the first step.
    pub fn number(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0) + 1
    }

    fn next(self) -> Option<Step> {
        Step::ALL.get(self.number()).copied()
    }

    fn prev(self) -> Option<Step> {
        self.number().checked_sub(2).map(|i| Step::ALL[i])
    }
}

/// A step's name, as its chip in the row of steps says it.
pub fn step_label(s: Step, lang: Lang) -> &'static str {
    match s.field() {
        Some(f) => field_label(f, lang),
        None if s == Step::Kind => lang.t(S::StepKind),
        None => lang.t(S::StepReview),
    }
}

/// Longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 1000;
/// Shortest question, in characters: "cần mang gì" is a question, "a" is a tap.
pub const MIN_QUESTION_CHARS: usize = 10;
/// Seconds before "Gửi câu hỏi khác" can be tapped after a request.
pub const PAUSE_SECONDS: i64 = 20;

/// Why typed input was refused (shown under the field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The field is full.
    Limit,
    /// A character the fonts cannot draw (emoji, scripts the kiosk has no font for).
    Unsupported,
    /// Not a digit in the phone field.
    Digits,
}

/// Why the request was not sent (shown next to the send button).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AskError {
    Missing(Vec<Field>),
    TooShort,
    /// Paced: requests came in a burst; seconds until the next may go
    /// (`pacing::request_wait`).
    Paced {
        seconds: i64,
        until_ms: i64,
    },
    /// The store refused or failed (the English reason is in the log).
    SaveFailed,
}

impl AskError {
    pub fn text(&self, lang: Lang) -> String {
        match self {
            AskError::Missing(fields) => {
                let names: Vec<&str> = fields.iter().map(|f| field_label(*f, lang)).collect();
                lang.fill(S::PleaseFill, &[&names.join(", ")])
            }
            AskError::TooShort => lang.fill(S::TooShort, &[&MIN_QUESTION_CHARS.to_string()]),
            AskError::Paced { seconds, .. } => {
                let (m, s) = super::pacing::minutes_seconds(*seconds);
                lang.fill(S::Paced, &[&m.to_string(), &s.to_string()])
            }
            AskError::SaveFailed => lang.t(S::SaveFailed).to_string(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct AskState {
    pub kind: Option<RequestKind>,
    pub hamlet: String,
    /// The kiosk's own hamlet, pre-filled again after each request.
    pub default_hamlet: String,
    pub name: String,
    pub phone: String,
    pub text: String,
    pub public: bool,
    pub active: Field,
    pub keyboard: OnScreenKeyboard,
    pub sending: bool,
    pub sent_code: Option<String>,
    /// When the code was shown (app clock, ms): the pause runs from there.
    pub sent_at_ms: i64,
    pub error: Option<AskError>,
    /// The last input a field refused, until that field next changes.
    pub refused: Option<(Field, Refusal)>,
    /// The kiosk dropped typed characters no font can draw this frame (see
    /// `KioskApp::lock_down`): the focused field says so.
    pub unsupported_typed: bool,
    /// Length and height of the question's box when the form last brought it into
    /// sight.
    pub question_shown: (usize, u32),
    /// Frames left in which the form keeps the question's last line in sight.
    pub question_follow: u8,
    /// The field last brought into sight (`None`: not since the step opened).
    pub in_sight: Option<Field>,
    /// The step shown.
    pub step: Step,
}

impl AskState {
    /// Nothing typed and nothing to show: an idle kiosk has nothing to forget.
    pub fn is_empty(&self) -> bool {
        self.name.is_empty()
            && self.phone.is_empty()
            && self.text.is_empty()
            && self.hamlet == self.default_hamlet
            && !self.public
            && self.kind.is_none()
            && self.sent_code.is_none()
            && self.error.is_none()
            && self.active == Field::default()
            && self.step == Step::default()
    }

    /// What keeps the resident at `step` ("Tiếp" checks the step it leaves).
    pub fn check(&self, step: Step) -> Option<AskError> {
        let empty = |s: &str| s.trim().is_empty();
        match step {
            Step::Name if empty(&self.name) => Some(AskError::Missing(vec![Field::Name])),
            Step::Hamlet if empty(&self.hamlet) => Some(AskError::Missing(vec![Field::Hamlet])),
            Step::Question if empty(&self.text) => Some(AskError::Missing(vec![Field::Text])),
            Step::Question if self.text.trim().chars().count() < MIN_QUESTION_CHARS => {
                Some(AskError::TooShort)
            }
            _ => None,
        }
    }

    /// Forgets everything typed (and the last code shown).
    pub fn clear(&mut self) {
        *self = AskState {
            hamlet: self.default_hamlet.clone(),
            default_hamlet: std::mem::take(&mut self.default_hamlet),
            ..Default::default()
        };
    }

    pub(super) fn on_done(&mut self, r: Result<String, String>, now_ms: i64) {
        self.sending = false;
        match r {
            Ok(code) => {
                self.clear();
                self.sent_code = Some(code);
                self.sent_at_ms = now_ms;
            }
            Err(e) => {
                tracing::warn!("kiosk: the request was not saved: {e}");
                self.error = Some(AskError::SaveFailed);
            }
        }
    }

    pub fn field_ref(&self, f: Field) -> &str {
        match f {
            Field::Hamlet => &self.hamlet,
            Field::Name => &self.name,
            Field::Phone => &self.phone,
            Field::Text => &self.text,
        }
    }

    pub fn field(&mut self, f: Field) -> &mut String {
        match f {
            Field::Hamlet => &mut self.hamlet,
            Field::Name => &mut self.name,
            Field::Phone => &mut self.phone,
            Field::Text => &mut self.text,
        }
    }

    /// Makes `f` the field the on-screen keyboard types into; the phone field
    /// opens the keyboard on its digits.
    pub(super) fn activate(&mut self, f: Field) {
        if self.active != f {
            if f == Field::Phone {
                self.keyboard.set_pad(true);
            } else {
                self.keyboard.set_numbers(false);
            }
        }
        self.active = f;
    }
}

/// Keeps what `f` may hold of `new` (typed over `old`): no bidirectional
/// controls, only characters the fonts can draw, only digits and `+-.() ` in the
/// phone, at most [`Field::limit`] characters. Returns the accepted text and why
/// anything was refused.
pub fn accept(ctx: &egui::Context, f: Field, old: &str, new: String) -> (String, Option<Refusal>) {
    if new == old {
        return (new, None);
    }
    let mut refusal = None;
    let mut out = strip_bidi(&new);
    if f == Field::Phone && out.chars().any(|c| !is_phone_char(c)) {
        out.retain(is_phone_char);
        refusal = Some(Refusal::Digits);
    }
    let font = egui::FontId::proportional(20.0);
    let drawable: String = ctx.fonts_mut(|fonts| {
        out.chars()
            .filter(|c| c.is_whitespace() || fonts.has_glyph(&font, *c))
            .collect()
    });
    if drawable != out {
        out = drawable;
        refusal = Some(Refusal::Unsupported);
    }
    if out.chars().count() > f.limit() {
        // Keep what was there and as much of the new text as fits.
        out = if old.chars().count() >= f.limit() {
            old.chars().take(f.limit()).collect()
        } else {
            out.chars().take(f.limit()).collect()
        };
        refusal = Some(Refusal::Limit);
    }
    (out, refusal)
}

/// "đinh thị nít" → "Đinh Thị Nít": names and places as a person writes them.
/// Only first letters are raised; nothing is lowered ("McKay" stays).
pub fn capitalise_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    out
}

/// "tôi cần giấy tờ gì? ở đâu" → "Tôi cần giấy tờ gì? Ở đâu": the first letter of
/// the question and of each sentence raised, as a phone keyboard does (one touch
/// of "Chữ hoa" fewer per sentence). Nothing is lowered.
pub fn capitalise_sentences(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
            start = false;
        } else {
            out.push(c);
            if matches!(c, '.' | '?' | '!') {
                start = true;
            } else if !c.is_whitespace() {
                start = false;
            }
        }
    }
    out
}

fn is_phone_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | '(' | ')' | ' ')
}

pub fn keyboard_labels(lang: Lang) -> KeyboardLabels {
    KeyboardLabels {
        space: lang.t(S::KbSpace).into(),
        backspace: lang.t(S::KbBackspace).into(),
        shift: lang.t(S::KbShift).into(),
        numbers: lang.t(S::KbNumbers).into(),
        letters: lang.t(S::KbLetters).into(),
    }
}

/// Height of the row above the keyboard ("Quay lại", any message, "Tiếp").
const ROW: f32 = 52.0;
/// Height of a field box.
const FIELD: f32 = 48.0;

/// Height of a keyboard key for a window `height` points high: full size when
/// there is room, the 48-point touch minimum on a short screen (1280×800 at
/// zoom 1.5 is 533 points high).
pub fn key_height(height: f32) -> f32 {
    if height < 640.0 {
        super::keyboard::MIN_KEY_WIDTH
    } else {
        super::keyboard::KEY_HEIGHT
    }
}

/// The frame of a keyboard panel and the panel's full height for a top row
/// `row` high and keys `key` high.
pub fn keyboard_frame(ui: &Ui, row: f32, key: f32) -> (egui::Frame, f32) {
    let frame = egui::Frame::side_top_panel(ui.style()).inner_margin(egui::Margin::symmetric(8, 6));
    let content = row + KEYBOARD_GAP + OnScreenKeyboard::height(key, ui.available_width() - 16.0);
    (frame, content + frame.total_margin().sum().y + 2.0)
}

/// Space between the field row and the keyboard.
pub const KEYBOARD_GAP: f32 = 6.0;

/// The bottom of the ask screen, a panel of its own declared before the central
/// panel (so it always has its full height): the row with "Quay lại", any message
/// and "Tiếp" (on the review, "Gửi đi"), and under it the on-screen keyboard while
/// the step has something to type.
pub fn keyboard_panel(root: &mut Ui, st: &mut Station, lang: Lang) {
    if st.ask.sent_code.is_some() {
        return;
    }
    let step = st.ask.step;
    let typing = step.field().is_some();
    let key = key_height(root.max_rect().height());
    let (frame, mut height) = keyboard_frame(root, ROW, key);
    if !typing {
        height = ROW + frame.total_margin().sum().y + 2.0;
    }
    let (mut back, mut forward) = (false, false);
    egui::Panel::bottom("ask-keyboard")
        .resizable(false)
        .exact_size(height)
        .frame(frame)
        .show(root, |ui| {
            ui.spacing_mut().item_spacing.y = KEYBOARD_GAP;
            let width = ui.available_width();
            ui.allocate_ui_with_layout(
                egui::vec2(width, ROW),
                egui::Layout::left_to_right(egui::Align::Center),
                |ui| {
                    let first = step.prev().is_none();
                    back = ui
                        .add_enabled(
                            !first,
                            egui::Button::new(
                                RichText::new(format!("‹ {}", lang.t(S::Back))).size(20.0),
                            )
                            .min_size(egui::vec2(widgets::TOUCH * 2.0, ROW)),
                        )
                        .clicked();
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        let label = if step == Step::Review {
                            if st.ask.sending {
                                lang.t(S::Sending).to_string()
                            } else {
                                lang.t(S::Send).to_string()
                            }
                        } else {
                            format!("{} ›", lang.t(S::Next))
                        };
                        forward = widgets::primary_button_min(
                            ui,
                            &label,
                            egui::vec2(widgets::TOUCH * 2.4, ROW),
                        )
                        .clicked();
                        ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                            if let Some(e) = &st.ask.error {
                                ui.add(
                                    egui::Label::new(
                                        RichText::new(e.text(lang)).size(16.0).color(widgets::RED),
                                    )
                                    .wrap(),
                                );
                            } else if matches!(step, Step::Question | Step::Name) {
                                suggestions(ui, &mut st.ask, st.view.as_ref());
                            }
                        });
                    });
                },
            );
            if typing {
                let labels = keyboard_labels(lang);
                let ctx = ui.ctx().clone();
                let a = &mut st.ask;
                let f = a.active;
                let before = a.field(f).clone();
                let mut text = before.clone();
                if a.keyboard.show_sized(ui, &mut text, &labels, key) {
                    take(&ctx, a, f, &before, text);
                }
            }
        });
    if back && let Some(p) = step.prev() {
        go_step(st, p, lang);
    }
    if forward {
        if step == Step::Review {
            if !st.ask.sending {
                submit(st, lang);
            }
        } else if let Some(e) = st.ask.check(step) {
            st.ask.error = Some(e);
        } else if let Some(n) = step.next() {
            if step == Step::Kind && st.ask.kind.is_none() {
                st.ask.kind = Some(RequestKind::Question);
            }
            go_step(st, n, lang);
        }
    }
}

/// Words that complete the one being typed (in a name, common family and middle
/// names), between "Quay lại" and "Tiếp" (where
/// a phone keyboard has them: right above the keys, never scrolled away), as many
/// as the row holds, best first. A tap replaces the word and adds a space.
fn suggestions(ui: &mut Ui, a: &mut AskState, view: Option<&View>) {
    let Some(view) = view else {
        return;
    };
    let f = a.active;
    let partial = super::suggest::partial(a.field(f)).to_string();
    let vocabulary = if f == Field::Name {
        super::suggest::names()
    } else {
        super::suggest::vocabulary(view)
    };
    let words = super::suggest::suggest(&vocabulary, &partial, 5);
    let ctx = ui.ctx().clone();
    let gap = ui.spacing().item_spacing.x;
    let mut room = ui.available_width();
    for w in &words {
        let width = (widgets::text_width(ui, w, 22.0) + 8.0).max(widgets::TOUCH);
        if width > room {
            break;
        }
        room -= width + gap;
        let b = egui::Button::new(bold(w, 22.0))
            .fill(egui::Color32::from_rgb(0xe3, 0xf2, 0xe5))
            .min_size(egui::vec2(width, ROW - 4.0));
        if ui.add(b).clicked() {
            let before = a.field(f).clone();
            let done = super::suggest::complete(&before, w);
            take(&ctx, a, f, &before, done);
        }
    }
}

/// Opens step `s`: its field becomes the one typed into, any message goes, and the
/// review reads the question back aloud.
pub(super) fn go_step(st: &mut Station, s: Step, lang: Lang) {
    let a = &mut st.ask;
    if a.step != s {
        a.error = None;
        st.pending_top = true;
    }
    // Its field takes the focus again (the chip just tapped took it).
    a.in_sight = None;
    a.step = s;
    if let Some(f) = s.field() {
        a.activate(f);
    }
    if s == Step::Review {
        let text = read_back(&st.ask, lang);
        let (voice, rate) = (st.voice.clone(), st.speech_rate);
        st.speaker.stop();
        st.speaker.speak(&text, &voice, rate);
        st.reading = Some(REVIEW_KEY.into());
    }
}

/// What the review reads aloud: the kind of request and the question, as typed.
pub fn read_back(a: &AskState, lang: Lang) -> String {
    let kind = lang.request_kind(a.kind.unwrap_or(RequestKind::Question));
    lang.fill(S::ReadBack, &[kind, a.text.trim()])
}

/// The review's "Đọc to" button's key (`widgets::read_aloud`).
pub(super) const REVIEW_KEY: &str = "ask-review";

/// Stores what `f` accepts of `text` and remembers any refusal.
fn take(ctx: &egui::Context, a: &mut AskState, f: Field, before: &str, text: String) {
    let (mut text, refusal) = accept(ctx, f, before, text);
    if matches!(f, Field::Name | Field::Hamlet) {
        text = capitalise_words(&text);
    } else if f == Field::Text {
        text = capitalise_sentences(&text);
    }
    if *a.field(f) != text {
        // A message about what was missing goes as soon as it is being put right.
        a.error = None;
    }
    *a.field(f) = text;
    match refusal {
        Some(r) => a.refused = Some((f, r)),
        None => {
            if a.refused.is_some_and(|(g, _)| g == f) {
                a.refused = None;
            }
        }
    }
}

/// "Cho mọi người xem — tên chỉ hiện rút gọn: Lò Văn V.": says plainly what
/// "public" shows, with the resident's own name as it would appear.
pub(super) fn public_checkbox(ui: &mut Ui, a: &mut AskState, lang: Lang) {
    let name = strip_bidi(a.name.trim());
    let example = if name.is_empty() {
        "Hoàng Văn P.".to_string()
    } else {
        let short = short_name(&name);
        if short.chars().count() > 24 {
            format!("{}…", short.chars().take(23).collect::<String>())
        } else {
            short
        }
    };
    let text = lang.fill(S::PublicShort, &[&example]);
    ui.add(egui::Checkbox::new(
        &mut a.public,
        RichText::new(text).size(17.0),
    ));
}

pub fn show(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    if let Some(code) = st.ask.sent_code.clone() {
        sent(ui, st, lang, &code);
        return;
    }
    let label = super::ask_steps::steps_row(ui, st, lang);
    widgets::scroll_area("ask-form", st.scroll_top).show(ui, |ui| {
        ui.spacing_mut().item_spacing.y = 6.0;
        match st.ask.step {
            Step::Kind => super::ask_steps::kinds(ui, st, lang),
            Step::Review => super::ask_steps::review(ui, st, lang),
            Step::Hamlet => {
                super::ask_steps::hamlets(ui, st, view);
                one_field(ui, st, label.as_ref(), lang);
            }
            _ => one_field(ui, st, label.as_ref(), lang),
        }
    });
}

pub fn field_label(f: Field, lang: Lang) -> &'static str {
    lang.t(match f {
        Field::Hamlet => S::Hamlet,
        Field::Name => S::Name,
        Field::Phone => S::Phone,
        Field::Text => S::Question,
    })
}

/// The step's field, across the width.
fn one_field(ui: &mut Ui, st: &mut Station, label: Option<&egui::Response>, lang: Lang) {
    let ctx = ui.ctx().clone();
    let a = &mut st.ask;
    let (Some(f), Some(label)) = (a.step.field(), label) else {
        return;
    };
    let width = ui.available_width();
    let (id, tapped, rect) = ui
        .vertical(|ui| {
            ui.set_width(width);
            ui.spacing_mut().item_spacing.y = 2.0;
            field_cell(ui, &ctx, a, f, label, lang)
        })
        .inner;
    // On opening the step, the field takes the physical keyboard's focus and is
    // brought into sight (the form scrolls under the keys on a short screen).
    if tapped || a.in_sight != Some(f) {
        ui.memory_mut(|m| m.request_focus(id));
    }
    if a.in_sight != Some(f) {
        a.in_sight = Some(f);
        ui.scroll_to_rect(rect, None);
    }
}

/// One field's box, named by its label in the row of steps (`label`; tapping it
/// focuses the field). Returns the box's id, whether the box or its label was
/// tapped, and what must be in sight while it is typed into.
fn field_cell(
    ui: &mut Ui,
    ctx: &egui::Context,
    a: &mut AskState,
    f: Field,
    l: &egui::Response,
    lang: Lang,
) -> (egui::Id, bool, egui::Rect) {
    let active = a.active == f;
    let before = a.field(f).clone();
    let mut text = before.clone();
    // The question grows a line at a time: what was typed stays in sight.
    let mut edit = if f == Field::Text {
        // As many lines as a short screen leaves (two at 1280×800 and zoom 1.5), four
        // on a tall one; it grows as the question does.
        let rows = if ctx.content_rect().height() < 640.0 {
            2
        } else {
            4
        };
        egui::TextEdit::multiline(&mut text).desired_rows(rows)
    } else {
        egui::TextEdit::singleline(&mut text)
    }
    .id_salt(("ask-field", f as u8))
    .font(egui::FontId::proportional(20.0))
    .desired_width(f32::INFINITY)
    .min_size(egui::vec2(0.0, FIELD))
    .margin(egui::vec2(8.0, 10.0));
    if f == Field::Phone {
        edit = edit.hint_text(RichText::new(lang.t(S::Optional)).size(15.0));
    }
    let r = ui.add(edit).labelled_by(l.id);
    if text != before {
        take(ctx, a, f, &before, text);
    }
    // The question box grows by a line as it fills: keep its last line in sight
    // above the keyboard (the form scrolls under it on a short screen). On a change
    // of its length or its height (the box takes its new height a frame after the
    // text), and for a frame more: the form's own height, which bounds how far it
    // scrolls, follows the box's a frame later.
    let frame = r.rect;
    let shown = (a.text.len(), frame.height().round() as u32);
    if active && f == Field::Text {
        if shown != a.question_shown {
            a.question_shown = shown;
            a.question_follow = 2;
        }
        if a.question_follow > 0 {
            a.question_follow -= 1;
            // Its last line: a box taller than the screen shows its end.
            let last = egui::Rect::from_min_max(
                egui::pos2(frame.left(), (frame.bottom() - FIELD).max(frame.top())),
                frame.max,
            );
            ui.scroll_to_rect(last, None);
        }
    }
    if r.has_focus() && std::mem::take(&mut a.unsupported_typed) {
        a.refused = Some((f, Refusal::Unsupported));
    }
    if r.has_focus() && !active {
        // A physical keyboard types into the focused field: it is the active one.
        a.activate(f);
    }
    if active {
        ui.painter().rect_stroke(
            r.rect.expand(1.0),
            egui::CornerRadius::same(4),
            egui::Stroke::new(3.0, widgets::GREEN),
            egui::StrokeKind::Outside,
        );
    }
    // The label and the box: what must be in sight while it is typed into.
    (
        r.id,
        l.clicked() || r.clicked() || r.gained_focus(),
        ui.min_rect(),
    )
}

/// The note beside a field's label: why input was refused, that it is full, or
/// (the phone) who can see it.
pub(super) fn note(a: &AskState, f: Field, lang: Lang) -> Option<(String, bool)> {
    let full = a.field_ref(f).chars().count() >= f.limit();
    let refused = a.refused.filter(|(g, _)| *g == f).map(|(_, r)| r);
    match (refused, full) {
        (Some(Refusal::Unsupported), _) => Some((lang.t(S::Unsupported).to_string(), true)),
        (Some(Refusal::Digits), _) => Some((lang.t(S::PhoneDigits).to_string(), true)),
        (Some(Refusal::Limit), _) | (None, true) => {
            Some((lang.fill(S::LimitReached, &[&f.limit().to_string()]), true))
        }
        (None, false) if f == Field::Phone => Some((lang.t(S::PhoneNoteShort).to_string(), false)),
        _ => None,
    }
}

fn submit(st: &mut Station, lang: Lang) {
    let now_ms = st.now_ms;
    let per_hour = st.requests_per_hour;
    st.requests_sent.retain(|t| now_ms - t < 24 * 3_600_000);
    let a = &st.ask;
    let missing: Vec<Field> = [
        (a.name.trim().is_empty(), Field::Name),
        (a.hamlet.trim().is_empty(), Field::Hamlet),
        (a.text.trim().is_empty(), Field::Text),
    ]
    .into_iter()
    .filter(|(m, _)| *m)
    .map(|(_, f)| f)
    .collect();
    if let Some(first) = missing.first() {
        // The first step missing something is the one opened.
        go_step(st, Step::of(*first), lang);
        st.ask.error = Some(AskError::Missing(missing));
        return;
    }
    if let Some(e) = st.ask.check(Step::Question) {
        go_step(st, Step::Question, lang);
        st.ask.error = Some(e);
        return;
    }
    if let Some(seconds) = super::pacing::request_wait(&st.requests_sent, now_ms, per_hour) {
        st.ask.error = Some(AskError::Paced {
            seconds,
            until_ms: now_ms + seconds * 1000,
        });
        return;
    }
    let a = &mut st.ask;
    a.error = None;
    a.sending = true;
    let draft = RequestDraft {
        kind: Some(a.kind.unwrap_or(RequestKind::Question)),
        hamlet: a.hamlet.clone(),
        name: a.name.clone(),
        text: a.text.clone(),
        phone: Some(a.phone.clone()).filter(|p| !p.trim().is_empty()),
        public: a.public,
    };
    st.act(Tag::Submit, move |repo| {
        repo.submit_request(&draft).map(|r| r.code)
    });
}

fn sent(ui: &mut Ui, st: &mut Station, lang: Lang, code: &str) {
    let waited = (st.now_ms - st.ask.sent_at_ms) / 1000;
    let left = PAUSE_SECONDS - waited;
    ui.vertical_centered(|ui| {
        ui.add_space(16.0);
        ui.label(bold(lang.t(S::Sent), 30.0).color(widgets::GREEN));
        ui.add_space(8.0);
        // As big as the screen allows: it is the only way back to the answer.
        let size = ((ui.available_width() - 100.0) / (code.chars().count() as f32 * 0.62))
            .clamp(32.0, 96.0);
        egui::Frame::new()
            .fill(egui::Color32::WHITE)
            .stroke(egui::Stroke::new(4.0, widgets::GREEN))
            .corner_radius(egui::CornerRadius::same(12))
            .inner_margin(egui::Margin::symmetric(30, 16))
            .show(ui, |ui| {
                ui.label(bold(code, size));
            });
        ui.add_space(8.0);
        ui.label(RichText::new(lang.t(S::KeepCode)).size(24.0));
        ui.add_space(16.0);
        if left > 0 {
            // The pause: one request, then a breath, whoever is at the screen.
            let text = lang.fill(S::SendAnotherWait, &[&left.to_string()]);
            ui.add_enabled(
                false,
                egui::Button::new(bold(&text, 24.0)).min_size(egui::vec2(200.0, 64.0)),
            );
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(500));
        } else if widgets::primary_button(ui, lang.t(S::AskAnother)).clicked() {
            st.ask.clear();
        }
    });
}
