//! "Gửi câu hỏi": a resident asks a question, an appointment or a home visit.
//!
//! The on-screen keyboard (Telex) is always on screen, in a panel of its own at
//! the bottom of the window, with the public checkbox, any error and the send
//! button on the row just above the keys. The form above follows the screen's
//! width (issue 24): on the hall's 1280×800 at zoom 1.5 (853×533 points) the kind
//! of request on one row, then the four fields side by side; narrower, the name,
//! hamlet and phone three, two or one to a row and the question below them across
//! the width. The question box grows a line at a time and the form keeps its last
//! line in sight above the keys, so a resident sees what is typed; each field
//! keeps its place in the form, the one being typed into outlined in green.
//! Tapping a field or its label makes it the one the keyboard types into.
//! `tests/it/layout.rs` checks every screen at six screen shapes and two zooms.
//!
//! Every limit is enforced while typing, on the on-screen keyboard and on a
//! physical one alike: a field stops accepting at its length limit, refuses
//! characters the kiosk's fonts cannot draw (and, for the phone, anything but
//! digits), and says why in a line under the field. A failure to save is shown
//! next to the send button, in the resident's language; the English error goes
//! to the log only.
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

    /// Share of the form's width.
    fn weight(self) -> f32 {
        match self {
            Field::Name => 1.2,
            Field::Hamlet => 1.25,
            Field::Phone => 1.1,
            Field::Text => 2.0,
        }
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
    /// The field last brought into sight (`None`: not since the screen opened).
    pub in_sight: Option<Field>,
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
    fn activate(&mut self, f: Field) {
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

/// Height of the row above the keyboard (public checkbox, error, send button).
const ROW: f32 = 52.0;
/// Height of a field's label line and of its note line.
const LABEL_LINE: f32 = 22.0;
const NOTE_LINE: f32 = 18.0;
/// Height of a field box.
const FIELD: f32 = 48.0;
/// Narrowest a short field (name, hamlet, phone) gets beside another: a name of
/// three words at the field's font.
const MIN_FIELD_WIDTH: f32 = 190.0;

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

/// The on-screen keyboard with the public checkbox, any error and the send
/// button on the row above it: a panel of its own at the bottom of the window,
/// declared before the central panel, so it always has its full height.
pub fn keyboard_panel(root: &mut Ui, st: &mut Station, lang: Lang) {
    if st.ask.sent_code.is_some() {
        return;
    }
    let key = key_height(root.max_rect().height());
    let (frame, height) = keyboard_frame(root, ROW, key);
    let mut send = false;
    egui::Panel::bottom("ask-keyboard")
        .resizable(false)
        .exact_size(height)
        .frame(frame)
        .show(root, |ui| {
            ui.spacing_mut().item_spacing.y = KEYBOARD_GAP;
            let width = ui.available_width();
            ui.allocate_ui_with_layout(
                egui::vec2(width, ROW),
                egui::Layout::right_to_left(egui::Align::Center),
                |ui| {
                    let label = if st.ask.sending {
                        lang.t(S::Sending)
                    } else {
                        lang.t(S::Send)
                    };
                    send = widgets::primary_button_sized(ui, label, ROW).clicked();
                    ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                        // Neither a long name nor a long message may widen the
                        // row (and with it the keyboard) past the window.
                        ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
                        let share = if st.ask.error.is_some() { 0.5 } else { 1.0 };
                        let w = (ui.available_width() * share).floor();
                        ui.allocate_ui_with_layout(
                            egui::vec2(w, ROW),
                            egui::Layout::left_to_right(egui::Align::Center),
                            |ui| {
                                ui.set_max_width(w);
                                public_checkbox(ui, &mut st.ask, lang);
                            },
                        );
                        ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Wrap);
                        if let Some(e) = &st.ask.error {
                            ui.add(
                                egui::Label::new(
                                    RichText::new(e.text(lang)).size(16.0).color(widgets::RED),
                                )
                                .wrap(),
                            );
                        }
                    });
                },
            );
            let labels = keyboard_labels(lang);
            let ctx = ui.ctx().clone();
            let a = &mut st.ask;
            let f = a.active;
            let before = a.field(f).clone();
            let mut text = before.clone();
            if a.keyboard.show_sized(ui, &mut text, &labels, key) {
                take(&ctx, a, f, &before, text);
            }
        });
    if send && !st.ask.sending {
        submit(st);
    }
}

/// Stores what `f` accepts of `text` and remembers any refusal.
fn take(ctx: &egui::Context, a: &mut AskState, f: Field, before: &str, text: String) {
    let (mut text, refusal) = accept(ctx, f, before, text);
    if matches!(f, Field::Name | Field::Hamlet) {
        text = capitalise_words(&text);
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
fn public_checkbox(ui: &mut Ui, a: &mut AskState, lang: Lang) {
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
    widgets::scroll_area("ask-form", st.scroll_top).show(ui, |ui| form(ui, st, view, lang));
}

pub fn field_label(f: Field, lang: Lang) -> &'static str {
    lang.t(match f {
        Field::Hamlet => S::Hamlet,
        Field::Name => S::Name,
        Field::Phone => S::Phone,
        Field::Text => S::Question,
    })
}

/// The kind of request on one row, then the fields (see `form`'s arrangement).
fn form(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    ui.spacing_mut().item_spacing.y = 6.0;
    let ctx = ui.ctx().clone();
    // While the message is being typed, the row above the fields offers words
    // that complete the one being typed (the kind of request is chosen first).
    let words = if st.ask.active == Field::Text {
        let partial = super::suggest::partial(&st.ask.text).to_string();
        super::suggest::suggest(&super::suggest::vocabulary(view), &partial, 5)
    } else {
        Vec::new()
    };
    if words.is_empty() {
        ui.horizontal_wrapped(|ui| {
            for k in RequestKind::ALL {
                let selected = st.ask.kind.unwrap_or(RequestKind::Question) == *k;
                if widgets::choice(ui, selected, lang.request_kind(*k)).clicked() {
                    st.ask.kind = Some(*k);
                }
            }
        });
    } else {
        ui.horizontal(|ui| {
            for w in &words {
                let b = egui::Button::new(bold(w, 22.0))
                    .fill(egui::Color32::from_rgb(0xe3, 0xf2, 0xe5))
                    .min_size(egui::vec2(widgets::TOUCH * 1.5, 48.0));
                if ui.add(b).clicked() {
                    let before = st.ask.text.clone();
                    let done = super::suggest::complete(&before, w);
                    take(&ctx, &mut st.ask, Field::Text, &before, done);
                }
            }
        });
    }
    let a = &mut st.ask;
    let gap = ui.spacing().item_spacing.x;
    let width = ui.available_width();
    let mut tapped = None;
    let mut ids = [egui::Id::NULL; 4];
    let mut rects = [egui::Rect::NOTHING; 4];
    // Where four fit side by side with room for a name in full (the hall's own
    // 1280×800 at zoom 1.5), they stand in one row, as a short screen needs: the
    // question box then grows downwards a line at a time, so a resident sees
    // everything typed (issue 24). Narrower screens put the three short fields
    // three, two or one to a row and the question below them, across the width.
    let in_one_row = width >= 4.0 * MIN_FIELD_WIDTH + 3.0 * gap;
    let per_row = if in_one_row || width >= 3.0 * MIN_FIELD_WIDTH + 2.0 * gap {
        3
    } else if width >= 2.0 * MIN_FIELD_WIDTH + gap {
        2
    } else {
        1
    };
    let short = [Field::Name, Field::Hamlet, Field::Phone];
    let rows: Vec<Vec<Field>> = if in_one_row {
        vec![Field::ORDER.to_vec()]
    } else {
        short.chunks(per_row).map(<[Field]>::to_vec).collect()
    };
    for row in &rows {
        // A row left short (the phone alone) keeps the width of its column.
        let slots = if in_one_row { 4 } else { per_row };
        let missing = (slots - row.len()) as f32;
        let total: f32 = row.iter().map(|f| f.weight()).sum::<f32>() + missing * 1.2;
        let free = width - gap * (slots as f32 - 1.0);
        ui.horizontal_top(|ui| {
            for f in row {
                let w = if slots == 1 {
                    width
                } else {
                    (free * f.weight() / total).floor()
                };
                ui.allocate_ui_with_layout(
                    egui::vec2(w, LABEL_LINE + FIELD + NOTE_LINE + 8.0),
                    egui::Layout::top_down(egui::Align::Min),
                    |ui| {
                        ui.set_width(w);
                        ui.spacing_mut().item_spacing.y = 2.0;
                        let (id, t, rect) = field_cell(ui, &ctx, a, *f, lang);
                        ids[*f as usize] = id;
                        rects[*f as usize] = rect;
                        if t {
                            tapped = Some(*f);
                        }
                    },
                );
            }
        });
    }
    if !in_one_row {
        ui.vertical(|ui| {
            ui.set_width(width);
            ui.spacing_mut().item_spacing.y = 2.0;
            let (id, t, rect) = field_cell(ui, &ctx, a, Field::Text, lang);
            ids[Field::Text as usize] = id;
            rects[Field::Text as usize] = rect;
            if t {
                tapped = Some(Field::Text);
            }
        });
    }
    if let Some(f) = tapped {
        a.activate(f);
        ui.memory_mut(|m| m.request_focus(ids[f as usize]));
    }
    // The field the keyboard types into is brought into sight when the screen opens
    // and whenever another becomes the one (on a short screen the form scrolls under
    // the keyboard: at 1024×768 and zoom 1.5 the name box was hidden under the keys
    // while a resident typed into it, issue 24).
    if a.in_sight != Some(a.active) {
        a.in_sight = Some(a.active);
        ui.scroll_to_rect(rects[a.active as usize], None);
    }
}

/// One field: its label (tapping it focuses the field), the box, and a note line
/// that says why input was refused (or, for the phone, who can see it). Returns
/// the box's id and whether the field or its label was tapped.
fn field_cell(
    ui: &mut Ui,
    ctx: &egui::Context,
    a: &mut AskState,
    f: Field,
    lang: Lang,
) -> (egui::Id, bool, egui::Rect) {
    let active = a.active == f;
    let label_text = if active {
        bold(field_label(f, lang), 17.0).color(widgets::GREEN)
    } else {
        RichText::new(field_label(f, lang)).size(17.0)
    };
    // The label line has a fixed height: the bold label of the active field must
    // not move the fields by a fraction of a point.
    let (line, _) = ui.allocate_exact_size(
        egui::vec2(ui.available_width(), LABEL_LINE),
        egui::Sense::hover(),
    );
    let l = ui.put(
        line,
        egui::Label::new(label_text)
            .sense(egui::Sense::click())
            .truncate(),
    );
    let before = a.field(f).clone();
    let mut text = before.clone();
    // The question grows a line at a time: what was typed stays in sight.
    let mut edit = if f == Field::Text {
        egui::TextEdit::multiline(&mut text).desired_rows(1)
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
    let full = a.field(f).chars().count() >= f.limit();
    let refused = a.refused.filter(|(g, _)| *g == f).map(|(_, r)| r);
    let note = match (refused, full) {
        (Some(Refusal::Unsupported), _) => Some((lang.t(S::Unsupported).to_string(), true)),
        (Some(Refusal::Digits), _) => Some((lang.t(S::PhoneDigits).to_string(), true)),
        (Some(Refusal::Limit), _) | (None, true) => {
            Some((lang.fill(S::LimitReached, &[&f.limit().to_string()]), true))
        }
        (None, false) if f == Field::Phone => Some((lang.t(S::PhoneNoteShort).to_string(), false)),
        _ => None,
    };
    match note {
        Some((text, warn)) => {
            let color = if warn { widgets::RED } else { widgets::GREY };
            ui.add(egui::Label::new(RichText::new(text).size(14.0).color(color)).truncate());
        }
        None => {
            ui.add_space(NOTE_LINE);
        }
    }
    // The label, the box and its note: what must be in sight while it is typed into.
    (
        r.id,
        l.clicked() || r.clicked() || r.gained_focus(),
        ui.min_rect(),
    )
}

fn submit(st: &mut Station) {
    let now_ms = st.now_ms;
    let per_hour = st.requests_per_hour;
    st.requests_sent.retain(|t| now_ms - t < 24 * 3_600_000);
    let a = &mut st.ask;
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
        // The first missing field is the one typed into next.
        a.activate(*first);
        a.error = Some(AskError::Missing(missing));
        return;
    }
    if a.text.trim().chars().count() < MIN_QUESTION_CHARS {
        a.activate(Field::Text);
        a.error = Some(AskError::TooShort);
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
