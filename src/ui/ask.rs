//! "Gửi câu hỏi": a resident asks a question, an appointment or a home visit.
//!
//! The kiosk has no physical keyboard, so the on-screen keyboard (Telex) is always
//! on screen, in a panel of its own at the bottom of the window, and types into
//! the field last tapped. That field is shown big just above the keys, with the
//! send button, so both stay in sight however short the screen; the rest of the
//! form scrolls above. After sending, the tracking code fills the screen: it is the
//! only way back to the answer, so it must be impossible to miss.

use egui::{RichText, Ui};

use super::i18n::{Lang, S};
use super::keyboard::{KeyboardLabels, OnScreenKeyboard};
use super::widgets::{self, bold};
use super::{Station, Tag, View};
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
    pub error: Option<String>,
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
    }

    /// Forgets everything typed (and the last code shown).
    pub fn clear(&mut self) {
        *self = AskState {
            hamlet: self.default_hamlet.clone(),
            default_hamlet: std::mem::take(&mut self.default_hamlet),
            ..Default::default()
        };
    }

    pub(super) fn on_done(&mut self, r: Result<String, String>) {
        self.sending = false;
        match r {
            Ok(code) => {
                self.clear();
                self.sent_code = Some(code);
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn field(&mut self, f: Field) -> &mut String {
        match f {
            Field::Hamlet => &mut self.hamlet,
            Field::Name => &mut self.name,
            Field::Phone => &mut self.phone,
            Field::Text => &mut self.text,
        }
    }
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

/// Height of the row above the keyboard that shows the field being typed into.
const ROW: f32 = 56.0;
/// The same row while the (multi-line) message is being typed.
const TEXT_ROW: f32 = 92.0;
/// Width of the label column of that row.
const LABEL_WIDTH: f32 = 190.0;

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
    let content = row + KEYBOARD_GAP + OnScreenKeyboard::height(key);
    (frame, content + frame.total_margin().sum().y + 2.0)
}

/// Space between the field row and the keyboard.
pub const KEYBOARD_GAP: f32 = 6.0;

/// The on-screen keyboard with the field being typed into and the send button
/// above it: a panel of its own at the bottom of the window, declared before the
/// central panel, so it always has its full height and the form scrolls above it.
pub fn keyboard_panel(root: &mut Ui, st: &mut Station, lang: Lang) {
    if st.ask.sent_code.is_some() {
        return;
    }
    let key = key_height(root.max_rect().height());
    let active = st.ask.active;
    let row = if active == Field::Text { TEXT_ROW } else { ROW };
    let (frame, height) = keyboard_frame(root, row, key);
    let mut send = false;
    egui::Panel::bottom("ask-keyboard")
        .resizable(false)
        .exact_size(height)
        .frame(frame)
        .show(root, |ui| {
            ui.spacing_mut().item_spacing.y = KEYBOARD_GAP;
            let width = ui.available_width();
            ui.allocate_ui_with_layout(
                egui::vec2(width, row),
                egui::Layout::right_to_left(egui::Align::Center),
                |ui| {
                    let label = if st.ask.sending {
                        lang.t(S::Sending)
                    } else {
                        lang.t(S::Send)
                    };
                    send = widgets::primary_button_sized(ui, label, ROW).clicked();
                    ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                        active_field(ui, &mut st.ask, lang, row);
                    });
                },
            );
            let labels = keyboard_labels(lang);
            let a = &mut st.ask;
            let mut text = std::mem::take(a.field(active));
            a.keyboard.show_sized(ui, &mut text, &labels, key);
            *a.field(active) = text;
        });
    if send && !st.ask.sending {
        submit(st, lang);
    }
}

/// The field the keyboard types into, big, with its label on the left.
fn active_field(ui: &mut Ui, a: &mut AskState, lang: Lang, row: f32) {
    let f = a.active;
    let l = ui
        .allocate_ui_with_layout(
            egui::vec2(LABEL_WIDTH, row),
            egui::Layout::left_to_right(egui::Align::Center),
            |ui| {
                ui.set_width(LABEL_WIDTH);
                ui.add(
                    egui::Label::new(bold(field_label(f, lang), 19.0).color(widgets::GREEN)).wrap(),
                )
            },
        )
        .inner;
    let font = egui::FontId::proportional(22.0);
    let width = ui.available_width() - 8.0;
    let r = if f == Field::Text {
        // The message can be long: the box keeps its height and shows the end,
        // where the typing happens.
        egui::ScrollArea::vertical()
            .id_salt("ask-active-text")
            .scroll_source(egui::containers::scroll_area::ScrollSource::ALL)
            .max_height(row)
            .stick_to_bottom(true)
            .show(ui, |ui| {
                ui.add(
                    egui::TextEdit::multiline(&mut a.text)
                        .id_salt("ask-active-text-edit")
                        .font(font)
                        .desired_rows(2)
                        .desired_width(width - 20.0)
                        .margin(egui::vec2(10.0, 8.0)),
                )
                .labelled_by(l.id)
            })
            .inner
    } else {
        ui.add(
            egui::TextEdit::singleline(a.field(f))
                .id_salt(("ask-active", f as u8))
                .font(font)
                .desired_width(width)
                .min_size(egui::vec2(0.0, 48.0))
                .margin(egui::vec2(10.0, 10.0)),
        )
        .labelled_by(l.id)
    };
    ui.painter().rect_stroke(
        r.rect.expand(2.0),
        egui::CornerRadius::same(4),
        egui::Stroke::new(3.0, widgets::GREEN),
        egui::StrokeKind::Outside,
    );
}

pub fn show(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    if let Some(code) = st.ask.sent_code.clone() {
        sent(ui, st, lang, &code);
        return;
    }
    widgets::scroll_area("ask-form", st.scroll_top).show(ui, |ui| form(ui, st, view, lang));
}

fn field_label(f: Field, lang: Lang) -> &'static str {
    lang.t(match f {
        Field::Hamlet => S::Hamlet,
        Field::Name => S::Name,
        Field::Phone => S::Phone,
        Field::Text => S::Question,
    })
}

/// Laid out to fit above the keyboard on a short screen: the kind of request on
/// the title line, then the fields not being typed into side by side, small (the
/// one being typed into is big, just above the keyboard).
fn form(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    if let Some(e) = &st.ask.error {
        ui.label(RichText::new(e).color(widgets::RED).size(20.0));
    }
    ui.horizontal_wrapped(|ui| {
        ui.label(bold(lang.t(S::AskTitle), 24.0));
        ui.add_space(10.0);
        for k in RequestKind::ALL {
            let selected = st.ask.kind.unwrap_or(RequestKind::Question) == *k;
            if widgets::choice(ui, selected, lang.request_kind(*k)).clicked() {
                st.ask.kind = Some(*k);
            }
        }
    });
    let a = &mut st.ask;
    if a.active == Field::Hamlet {
        // Shortcuts while the hamlet is being typed: most residents pick, not type.
        ui.horizontal_wrapped(|ui| {
            for h in view.hamlets() {
                if widgets::choice(ui, a.hamlet == h, &h).clicked() {
                    a.hamlet = h;
                }
            }
        });
    }
    let others: Vec<Field> = [Field::Name, Field::Hamlet, Field::Phone, Field::Text]
        .into_iter()
        .filter(|f| *f != a.active)
        .collect();
    let mut tapped = None;
    ui.label(
        RichText::new(lang.t(S::TapAField))
            .size(16.0)
            .color(widgets::GREY),
    );
    ui.columns(others.len(), |cols| {
        for (col, f) in cols.iter_mut().zip(&others) {
            let l = col.label(RichText::new(field_label(*f, lang)).size(18.0));
            let r = col
                .add(
                    egui::TextEdit::singleline(a.field(*f))
                        .id_salt(("ask-field", *f as u8))
                        .font(egui::FontId::proportional(20.0))
                        .desired_width(f32::INFINITY)
                        .min_size(egui::vec2(0.0, 48.0))
                        .margin(egui::vec2(8.0, 10.0)),
                )
                .labelled_by(l.id);
            if r.gained_focus() || r.clicked() {
                tapped = Some(*f);
            }
        }
    });
    if let Some(f) = tapped {
        // From the next frame on it is the big field above the keyboard.
        a.active = f;
    }
    ui.horizontal_wrapped(|ui| {
        ui.checkbox(&mut a.public, RichText::new(lang.t(S::Public)).size(20.0));
        ui.label(
            RichText::new(lang.t(S::PhoneNote))
                .size(16.0)
                .color(widgets::GREY),
        );
    });
}

fn submit(st: &mut Station, lang: Lang) {
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
        let names: Vec<&str> = missing.iter().map(|f| field_label(*f, lang)).collect();
        a.error = Some(lang.fill(S::PleaseFill, &[&names.join(", ")]));
        // The first missing field is the one typed into next; the message is at
        // the top of the form.
        a.active = *first;
        st.pending_top = true;
        return;
    }
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
    ui.vertical_centered(|ui| {
        ui.add_space(30.0);
        ui.label(bold(lang.t(S::Sent), 30.0).color(widgets::GREEN));
        ui.add_space(10.0);
        egui::Frame::new()
            .fill(egui::Color32::WHITE)
            .stroke(egui::Stroke::new(4.0, widgets::GREEN))
            .corner_radius(egui::CornerRadius::same(12))
            .inner_margin(egui::Margin::symmetric(40, 20))
            .show(ui, |ui| {
                ui.label(bold(code, 96.0));
            });
        ui.add_space(10.0);
        ui.label(RichText::new(lang.t(S::KeepCode)).size(24.0));
        ui.add_space(20.0);
        if widgets::primary_button(ui, lang.t(S::AskAnother)).clicked() {
            st.ask.clear();
        }
    });
}
