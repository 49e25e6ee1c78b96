//! "Gửi câu hỏi": a resident asks a question, an appointment or a home visit.
//!
//! The kiosk has no physical keyboard, so the on-screen keyboard (Telex) is always
//! on screen under the form and types into the field last tapped, which is marked
//! by a thick border. After sending, the tracking code fills the screen: it is the
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

pub fn show(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    if let Some(code) = st.ask.sent_code.clone() {
        sent(ui, st, lang, &code);
        return;
    }
    egui::Panel::bottom("ask-keyboard").show(ui, |ui| {
        ui.add_space(6.0);
        // The send button sits on the keyboard's edge so it never scrolls away.
        ui.horizontal(|ui| {
            match &st.ask.error {
                Some(e) => ui.label(RichText::new(e).color(widgets::RED).size(20.0)),
                None => {
                    let label = field_label(st.ask.active, lang);
                    ui.label(
                        RichText::new(lang.fill(S::TypingInto, &[label])).color(widgets::GREEN),
                    )
                }
            };
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let label = if st.ask.sending {
                    lang.t(S::Sending)
                } else {
                    lang.t(S::Send)
                };
                if widgets::primary_button(ui, label).clicked() && !st.ask.sending {
                    submit(st, lang);
                }
            });
        });
        let labels = keyboard_labels(lang);
        let active = st.ask.active;
        let a = &mut st.ask;
        let mut text = std::mem::take(a.field(active));
        a.keyboard.show(ui, &mut text, &labels);
        *a.field(active) = text;
        ui.add_space(6.0);
    });
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| form(ui, st, view, lang));
}

fn field_label(f: Field, lang: Lang) -> &'static str {
    lang.t(match f {
        Field::Hamlet => S::Hamlet,
        Field::Name => S::Name,
        Field::Phone => S::Phone,
        Field::Text => S::Question,
    })
}

/// Laid out to fit above the keyboard on a small screen: the kind of request on
/// the title line, the three short fields side by side.
fn form(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
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
    let mut tapped = None;
    ui.columns(3, |cols| {
        let fields = [
            (Field::Name, S::Name),
            (Field::Hamlet, S::Hamlet),
            (Field::Phone, S::Phone),
        ];
        for (col, (f, s)) in cols.iter_mut().zip(fields) {
            let active = a.active == f;
            if widgets::text_field(col, lang.t(s), a.field(f), false, active).gained_focus() {
                tapped = Some(f);
            }
        }
    });
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
    if widgets::text_field(
        ui,
        lang.t(S::Question),
        &mut a.text,
        true,
        a.active == Field::Text,
    )
    .gained_focus()
    {
        tapped = Some(Field::Text);
    }
    if let Some(f) = tapped {
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
    let missing: Vec<&str> = [
        (a.name.trim().is_empty(), S::Name),
        (a.hamlet.trim().is_empty(), S::Hamlet),
        (a.text.trim().is_empty(), S::Question),
    ]
    .into_iter()
    .filter(|(m, _)| *m)
    .map(|(_, s)| lang.t(s))
    .collect();
    if !missing.is_empty() {
        a.error = Some(lang.fill(S::PleaseFill, &[&missing.join(", ")]));
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
