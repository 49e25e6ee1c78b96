//! "Tra cứu": a resident types the tracking code from their slip and sees where
//! the request stands, the commune's answers and any appointment.
//!
//! Below the search, answered public questions are listed: the chat group's
//! "public Q&A for transparency", and often the answer a neighbour was about to ask.
//! Names there are always shortened, and a home visit's appointment shows its time,
//! never the place (the resident's home).
//!
//! Codes are matched with or without the commune's letters and dashes ("LM-3-4821-…"
//! or "3 4821 …"). Lookups that find nothing are paced per streak (`pacing`): three
//! free, then a wait doubling from 10 s to 80 s, until a lookup finds a request or
//! the kiosk goes idle. With twelve random digits per kiosk, someone guessing at the
//! full rate (under 3,000 a day, waiting out the idle reset each time) needs on
//! average 10^12 / (codes the kiosk has issued) tries — for a kiosk that has issued
//! 100,000 codes, 10^7 tries, about 9 years.

use egui::{RichText, Ui};

use super::i18n::{Lang, S};
use super::keyboard::OnScreenKeyboard;
use super::widgets::{self, bold};
use super::{Station, View};
use crate::model::{Request, Status};

#[derive(Clone, Debug)]
pub struct LookupState {
    pub code: String,
    /// The code last searched for, normalised.
    pub searched: Option<String>,
    pub keyboard: OnScreenKeyboard,
    /// After a search the keyboard folds away so the answer has the screen;
    /// tapping the code field brings it back.
    pub keyboard_hidden: bool,
    /// The code of the request the last search found.
    pub found: Option<String>,
    /// The last search was refused: minutes to wait.
    pub throttled: Option<i64>,
}

impl Default for LookupState {
    /// Codes are digits (the letters are optional): the keyboard opens on its
    /// digits page.
    fn default() -> Self {
        let mut keyboard = OnScreenKeyboard::new();
        keyboard.set_numbers(true);
        LookupState {
            code: String::new(),
            searched: None,
            keyboard,
            keyboard_hidden: false,
            found: None,
            throttled: None,
        }
    }
}

impl LookupState {
    /// Nothing typed, nothing shown.
    pub fn is_default(&self) -> bool {
        self.code.is_empty()
            && self.searched.is_none()
            && self.found.is_none()
            && self.throttled.is_none()
            && !self.keyboard_hidden
    }
}

/// What a code is compared by: its digits and letters after the commune's
/// initials, so "LM-3-4821-0937-5521", "lm 3482109375521" and "3 4821 0937 5521"
/// are the same code.
pub fn code_key(code: &str) -> String {
    let n = normalise(code);
    n.trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// Codes are upper case with no spaces; Telex may have turned "dd" into "đ".
pub fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(|c| match c {
            'đ' | 'Đ' => vec!['D', 'D'],
            c => c.to_uppercase().collect(),
        })
        .collect()
}

/// The on-screen keyboard with the code field and the search button above it, in
/// a panel of its own at the bottom of the window (declared before the central
/// panel), so what is typed is always in sight, however short the screen.
pub fn keyboard_panel(root: &mut Ui, st: &mut Station, lang: Lang) {
    if st.lookup.keyboard_hidden {
        return;
    }
    let key = super::ask::key_height(root.max_rect().height());
    let row = 56.0;
    let (frame, height) = super::ask::keyboard_frame(root, row, key);
    egui::Panel::bottom("lookup-keyboard")
        .resizable(false)
        .exact_size(height)
        .frame(frame)
        .show(root, |ui| {
            ui.spacing_mut().item_spacing.y = super::ask::KEYBOARD_GAP;
            let width = ui.available_width();
            ui.allocate_ui_with_layout(
                egui::vec2(width, row),
                egui::Layout::left_to_right(egui::Align::Center),
                |ui| {
                    let l = ui.label(bold(lang.t(S::Code), 20.0).color(widgets::GREEN));
                    // The box takes what the label and the button leave, up to
                    // 360 points; on a narrow screen (a panel mounted upright) the
                    // code's font and the button shrink so that a whole code shows.
                    let narrow = ui.available_width() < 560.0;
                    let (font, button) = if narrow { (22.0, 120.0) } else { (26.0, 180.0) };
                    let find = widgets::text_width(ui, lang.t(S::Find), 24.0).max(button)
                        + 2.0 * ui.spacing().item_spacing.x;
                    let field = (ui.available_width() - find).clamp(120.0, 360.0);
                    let r = ui
                        .add(
                            egui::TextEdit::singleline(&mut st.lookup.code)
                                .id_salt("lookup-code-big")
                                .char_limit(40)
                                .font(egui::FontId::proportional(font))
                                .desired_width(field)
                                .min_size(egui::vec2(0.0, 48.0))
                                .margin(egui::vec2(10.0, 8.0)),
                        )
                        .labelled_by(l.id);
                    ui.painter().rect_stroke(
                        r.rect.expand(2.0),
                        egui::CornerRadius::same(4),
                        egui::Stroke::new(3.0, widgets::GREEN),
                        egui::StrokeKind::Outside,
                    );
                    let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    let find =
                        widgets::primary_button_min(ui, lang.t(S::Find), egui::vec2(button, row));
                    if find.clicked() || enter {
                        search(st);
                    }
                },
            );
            let labels = super::ask::keyboard_labels(lang);
            st.lookup
                .keyboard
                .show_sized(ui, &mut st.lookup.code, &labels, key);
        });
}

/// "Mã có dạng LM-3-1234-5678-9012 — không cần gõ chữ LM và dấu gạch."
fn code_hint(view: Option<&View>, lang: Lang) -> Option<String> {
    let v = view?;
    let initials = if v.roster.initials.is_empty() {
        "CL".to_string()
    } else {
        v.roster.initials.clone()
    };
    let number =
        v.me.and_then(|me| v.roster.member(&me))
            .map(|m| m.number)
            .unwrap_or(1);
    let example = format!("{initials}-{number}-1234-5678-9012");
    Some(lang.fill(S::CodeHint, &[&example, &initials]))
}

fn search(st: &mut Station) {
    let now = st.now_ms;
    st.lookup.keyboard_hidden = true;
    st.pending_top = true;
    let key = code_key(&st.lookup.code);
    if key.is_empty() {
        // Letters only: no code looks like that, and no guess is spent.
        st.lookup.searched = Some(normalise(&st.lookup.code));
        st.lookup.found = None;
        return;
    }
    if let Some(seconds) = super::pacing::lookup_wait(&st.lookup_misses, now) {
        st.lookup.throttled = Some(seconds);
        st.lookup.searched = None;
        st.lookup.found = None;
        return;
    }
    st.lookup.throttled = None;
    let found = st.view.as_ref().and_then(|v| {
        v.requests
            .iter()
            .find(|r| code_key(&r.code) == key)
            .map(|r| r.code.clone())
    });
    // A hit ends the streak of misses (`pacing`).
    match found {
        None => st.lookup_misses.push(now),
        Some(_) => st.lookup_misses.clear(),
    }
    st.lookup.searched = Some(normalise(&st.lookup.code));
    st.lookup.found = found;
}

pub fn show(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    widgets::scroll_area("lookup", st.scroll_top).show(ui, |ui| {
        ui.label(bold(lang.t(S::LookupTitle), 28.0));
        if let Some(hint) = code_hint(Some(view), lang) {
            ui.label(RichText::new(hint).size(16.0).color(widgets::GREY));
        }
        if st.lookup.keyboard_hidden {
            // The keyboard folded away after a search: the code stays on
            // top, and tapping it brings the keyboard back.
            ui.horizontal(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(360.0);
                    let r =
                        widgets::text_field(ui, lang.t(S::Code), &mut st.lookup.code, false, false);
                    if r.clicked() || r.gained_focus() {
                        st.lookup.keyboard_hidden = false;
                        r.surrender_focus();
                    }
                });
                ui.vertical(|ui| {
                    ui.add_space(32.0);
                    if widgets::primary_button(ui, lang.t(S::Find)).clicked() {
                        search(st);
                    }
                });
            });
        }
        ui.add_space(8.0);
        if let Some(seconds) = st.lookup.throttled {
            ui.label(
                RichText::new(lang.fill(S::LookupWait, &[&seconds.to_string()]))
                    .size(22.0)
                    .color(widgets::RED),
            );
        }
        if let Some(code) = st.lookup.searched.clone().filter(|c| !c.is_empty()) {
            let found = st.lookup.found.as_ref();
            match view.requests.iter().find(|r| Some(&r.code) == found) {
                Some(r) => {
                    request_card(ui, r, lang);
                    // The answer read aloud: status, the appointment's time and
                    // place (as the card shows them: a home visit says "at your
                    // home"), answers.
                    let mut text = format!("{}: {}. ", lang.t(S::Status), lang.status(r.status));
                    if let Some(ap) = &r.appointment {
                        let when_where = if r.kind == crate::model::RequestKind::HomeVisit {
                            format!(
                                "{}, {}",
                                widgets::fmt_time(ap.at),
                                lang.t(S::HomeVisitPlace)
                            )
                        } else {
                            lang.fill(S::AtPlace, &[&widgets::fmt_time(ap.at), &ap.place])
                        };
                        text.push_str(&format!("{}: {when_where}. ", lang.t(S::Appointment)));
                    }
                    for a in &r.answers {
                        text.push_str(&a.text);
                        text.push_str(". ");
                    }
                    widgets::read_aloud(ui, st, &r.code, &text, lang);
                }
                None => {
                    ui.label(
                        RichText::new(lang.fill(S::NotFound, &[&code]))
                            .size(22.0)
                            .color(widgets::RED),
                    );
                }
            }
            ui.add_space(10.0);
        }
        let public: Vec<&Request> = view
            .requests
            .iter()
            .filter(|r| r.public && !r.answers.is_empty() && r.status != Status::Junk)
            .take(5)
            .collect();
        if !public.is_empty() {
            ui.label(bold(lang.t(S::PublicQa), 22.0));
            for r in public {
                widgets::card(ui, widgets::GREY, |ui| {
                    ui.label(
                        RichText::new(format!(
                            "{} ({}): {}",
                            widgets::display_name(r),
                            r.hamlet,
                            r.text
                        ))
                        .size(19.0),
                    );
                    for a in &r.answers {
                        ui.label(
                            RichText::new(format!("» {}", a.text))
                                .size(19.0)
                                .color(widgets::GREEN),
                        );
                    }
                });
                ui.add_space(6.0);
            }
        }
    });
}

pub fn status_color(s: Status) -> egui::Color32 {
    match s {
        Status::New => widgets::GREY,
        Status::Answered | Status::Resolved => widgets::GREEN,
        Status::Junk => widgets::DARK_RED,
        Status::Scheduled => widgets::category_color(crate::model::Category::Schedule),
    }
}

fn request_card(ui: &mut Ui, r: &Request, lang: Lang) {
    widgets::card(ui, status_color(r.status), |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.label(bold(&r.code, 26.0));
            ui.label(
                RichText::new(lang.request_kind(r.kind))
                    .size(20.0)
                    .color(widgets::GREY),
            );
        });
        ui.horizontal(|ui| {
            super::icons::status(ui, r.status, 44.0, lang);
            ui.label(
                bold(
                    &format!("{}: {}", lang.t(S::Status), lang.status(r.status)),
                    24.0,
                )
                .color(status_color(r.status)),
            );
        });
        ui.label(
            RichText::new(format!(
                "{}: {} — {}",
                lang.t(S::From),
                widgets::display_name(r),
                r.hamlet
            ))
            .size(19.0),
        );
        ui.label(RichText::new(&r.text).size(20.0).italics());
        if let Some(ap) = &r.appointment {
            ui.add_space(6.0);
            ui.label(bold(lang.t(S::Appointment), 22.0));
            if r.kind == crate::model::RequestKind::HomeVisit {
                // Anyone with the code reads this screen: the resident's home is
                // not for them. The time is enough for the resident.
                ui.label(bold(&widgets::fmt_time(ap.at), 26.0));
                ui.label(RichText::new(lang.t(S::HomeVisitPlace)).size(20.0));
            } else {
                ui.label(bold(
                    &lang.fill(S::AtPlace, &[&widgets::fmt_time(ap.at), &ap.place]),
                    26.0,
                ));
            }
        }
        ui.add_space(6.0);
        ui.label(bold(lang.t(S::Answers), 22.0));
        if r.answers.is_empty() {
            ui.label(RichText::new(lang.t(S::NoAnswers)).size(20.0));
        }
        for a in &r.answers {
            ui.label(RichText::new(&a.text).size(22.0));
            ui.label(
                RichText::new(widgets::fmt_time(a.at))
                    .size(16.0)
                    .color(widgets::GREY),
            );
        }
    });
}
