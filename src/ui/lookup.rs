//! "Tra cứu": a resident types the tracking code from their slip and sees where
//! the request stands, the commune's answers and any appointment.
//!
//! Below the search, answered public questions are listed: the chat group's
//! "public Q&A for transparency", and often the answer a neighbour was about to ask.

use egui::{RichText, Ui};

use super::i18n::{Lang, S};
use super::keyboard::OnScreenKeyboard;
use super::widgets::{self, bold};
use super::{Station, View};
use crate::model::{Request, Status};

#[derive(Clone, Debug, Default)]
pub struct LookupState {
    pub code: String,
    /// The code last searched for, normalised.
    pub searched: Option<String>,
    pub keyboard: OnScreenKeyboard,
    /// After a search the keyboard folds away so the answer has the screen;
    /// tapping the code field brings it back.
    pub keyboard_hidden: bool,
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
                    let r = ui
                        .add(
                            egui::TextEdit::singleline(&mut st.lookup.code)
                                .id_salt("lookup-code-big")
                                .font(egui::FontId::proportional(26.0))
                                .desired_width(360.0)
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
                    if widgets::primary_button_sized(ui, lang.t(S::Find), row).clicked() || enter {
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

fn search(st: &mut Station) {
    st.lookup.searched = Some(normalise(&st.lookup.code));
    st.lookup.keyboard_hidden = true;
    st.pending_top = true;
}

pub fn show(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    widgets::scroll_area("lookup", st.scroll_top).show(ui, |ui| {
        ui.label(bold(lang.t(S::LookupTitle), 28.0));
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
        if let Some(code) = st.lookup.searched.clone().filter(|c| !c.is_empty()) {
            match view.requests.iter().find(|r| r.code == code) {
                Some(r) => request_card(ui, r, lang),
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
            .filter(|r| r.public && !r.answers.is_empty())
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
        ui.label(
            bold(
                &format!("{}: {}", lang.t(S::Status), lang.status(r.status)),
                24.0,
            )
            .color(status_color(r.status)),
        );
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
            ui.label(bold(
                &lang.fill(S::AtPlace, &[&widgets::fmt_time(ap.at), &ap.place]),
                26.0,
            ));
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
