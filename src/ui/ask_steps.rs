//! The steps of "Gửi câu hỏi" that are not a field to type into (`ask` has the
//! state, the fields and the keyboard): the row of steps, the kinds of request as
//! cards with a picture each, the commune's hamlets as chips, and the review that
//! reads the question back before it is sent.

use egui::{RichText, Ui};

use super::ask::{REVIEW_KEY, Step, go_step, note, public_checkbox, read_back, step_label};
use super::i18n::{Lang, S};
use super::widgets::{self, bold};
use super::{Station, View};
use crate::model::RequestKind;

/// The steps in a row: each a chip with its number, one tap to go there (named for a
/// screen reader "Bước 2: Họ và tên"); after the current one its name, in green —
/// for a step with a field, the field's own label (a tap on it focuses the field),
/// followed by the field's note (why input was refused, or who sees the phone). So a
/// short screen gives no line to a label of its own: at 1024×768 and zoom 1.5 the
/// header takes two rows and the box gets what is left. Returns the label's response.
pub(super) fn steps_row(ui: &mut Ui, st: &mut Station, lang: Lang) -> Option<egui::Response> {
    let mut go = None;
    let mut label = None;
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 6.0;
        for s in Step::ALL {
            let current = st.ask.step == s;
            let n = s.number().to_string();
            let r = ui.add(
                egui::Button::selectable(current, bold(&n, 18.0)).min_size(egui::vec2(48.0, 44.0)),
            );
            let name = lang.fill(S::StepOf, &[&n, step_label(s, lang)]);
            r.widget_info(|| egui::WidgetInfo::selected(egui::Role::Button, true, current, &name));
            if r.clicked() {
                go = Some(s);
            }
            if current {
                let text = bold(step_label(s, lang), 19.0).color(widgets::GREEN);
                let l = if s.field().is_some() {
                    ui.add(egui::Label::new(text).sense(egui::Sense::click()))
                } else {
                    ui.label(text)
                };
                label = Some(l);
            }
        }
        if let Some(f) = st.ask.step.field()
            && let Some((text, warn)) = note(&st.ask, f, lang)
        {
            let color = if warn { widgets::RED } else { widgets::GREY };
            ui.add(egui::Label::new(RichText::new(text).size(15.0).color(color)).truncate());
        }
    });
    ui.add_space(2.0);
    if let Some(s) = go {
        go_step(st, s, lang);
    }
    label.filter(|_| st.ask.step.field().is_some())
}

/// The first step: what the resident needs, three big cards with a picture each.
/// A tap chooses and goes on.
pub(super) fn kinds(ui: &mut Ui, st: &mut Station, lang: Lang) {
    ui.label(bold(lang.t(S::WhatDoYouNeed), 24.0));
    let width = ui.available_width();
    let gap = 10.0;
    // Side by side where three fit at a touch size, one above another otherwise.
    let across = width >= 3.0 * 200.0 + 2.0 * gap;
    let card = if across {
        egui::vec2(((width - 2.0 * gap) / 3.0).floor(), 150.0)
    } else {
        egui::vec2(width, 84.0)
    };
    let mut chosen = None;
    let mut cards = |ui: &mut Ui| {
        for k in RequestKind::ALL {
            let selected = st.ask.kind == Some(*k);
            if kind_card(ui, *k, selected, card, lang).clicked() {
                chosen = Some(*k);
            }
        }
    };
    if across {
        ui.horizontal(|ui| {
            ui.spacing_mut().item_spacing.x = gap;
            cards(ui)
        });
    } else {
        cards(ui);
    }
    if let Some(k) = chosen {
        st.ask.kind = Some(k);
        go_step(st, Step::Name, lang);
    }
}

/// One kind of request as a card: its picture and its name.
fn kind_card(
    ui: &mut Ui,
    k: RequestKind,
    selected: bool,
    size: egui::Vec2,
    lang: Lang,
) -> egui::Response {
    let name = lang.request_kind(k);
    let (rect, r) = ui.allocate_exact_size(size, egui::Sense::click());
    r.widget_info(|| egui::WidgetInfo::selected(egui::Role::Button, true, selected, name));
    let p = ui.painter();
    let (fill, stroke) = if selected || r.hovered() {
        (egui::Color32::from_rgb(0xe3, 0xf2, 0xe5), widgets::GREEN)
    } else {
        (egui::Color32::WHITE, egui::Color32::from_gray(150))
    };
    p.rect(
        rect,
        egui::CornerRadius::same(10),
        fill,
        egui::Stroke::new(if selected { 4.0 } else { 2.0 }, stroke),
        egui::StrokeKind::Inside,
    );
    let tall = size.y > 120.0;
    let icon = if tall {
        egui::Rect::from_center_size(
            egui::pos2(rect.center().x, rect.top() + 52.0),
            egui::vec2(64.0, 64.0),
        )
    } else {
        egui::Rect::from_center_size(
            egui::pos2(rect.left() + 48.0, rect.center().y),
            egui::vec2(56.0, 56.0),
        )
    };
    super::icons::paint_request_kind(p, icon, k, widgets::GREEN);
    let galley = p.layout(
        name.to_string(),
        egui::FontId::proportional(22.0),
        egui::Color32::BLACK,
        if tall { size.x - 16.0 } else { size.x - 100.0 },
    );
    let at = if tall {
        egui::pos2(rect.center().x - galley.size().x / 2.0, rect.top() + 96.0)
    } else {
        egui::pos2(rect.left() + 92.0, rect.center().y - galley.size().y / 2.0)
    };
    p.galley(at, galley, egui::Color32::BLACK);
    r
}

/// The hamlets of the commune as chips, the hall's own first: one tap fills the
/// box below (which also takes a name typed in full).
pub(super) fn hamlets(ui: &mut Ui, st: &mut Station, view: &View) {
    let list = hamlet_list(view, &st.ask.default_hamlet);
    ui.horizontal_wrapped(|ui| {
        for h in &list {
            if widgets::choice(ui, st.ask.hamlet.trim() == h, h).clicked() {
                st.ask.hamlet = h.clone();
                st.ask.refused = None;
            }
        }
    });
    ui.add_space(4.0);
}

/// The commune's hamlets as this kiosk knows them: its own first, then those of
/// the other halls in the roster and those notices are addressed to, by name.
pub fn hamlet_list(view: &View, own: &str) -> Vec<String> {
    let mut others: std::collections::BTreeSet<String> = view
        .roster
        .members
        .values()
        .filter(|m| m.role == crate::model::Role::Kiosk && m.revoked.is_none())
        .map(|m| m.place.trim().to_string())
        .chain(
            view.notices
                .iter()
                .flat_map(|n| n.hamlets.iter().map(|h| h.trim().to_string())),
        )
        .filter(|h| !h.is_empty())
        .collect();
    let own = own.trim();
    others.remove(own);
    let mut out: Vec<String> = Vec::new();
    if !own.is_empty() {
        out.push(own.to_string());
    }
    out.extend(others);
    out
}

/// The last step: what will be sent, read aloud on arrival (and again on "Đọc
/// to"), each line one tap from its step; whether to show it to everyone.
pub(super) fn review(ui: &mut Ui, st: &mut Station, lang: Lang) {
    ui.horizontal_wrapped(|ui| {
        ui.label(bold(lang.t(S::ReviewTitle), 22.0));
        let text = read_back(&st.ask, lang);
        widgets::read_aloud(ui, st, REVIEW_KEY, &text, lang);
    });
    let a = &st.ask;
    let kind = lang.request_kind(a.kind.unwrap_or(RequestKind::Question));
    let phone = if a.phone.trim().is_empty() {
        lang.t(S::Optional).to_string()
    } else {
        a.phone.clone()
    };
    let mut go = None;
    // The question first, in full: it is what the office will read.
    widgets::card(ui, widgets::GREEN, |ui| {
        ui.set_width(ui.available_width());
        ui.add(egui::Label::new(bold(&a.text, 22.0)).wrap());
    });
    // Then who asks and how to reach them, a line each; a tap on a line's name
    // opens its step.
    let rows = [
        (Step::Kind, kind.to_string()),
        (Step::Name, a.name.clone()),
        (Step::Hamlet, a.hamlet.clone()),
        (Step::Phone, phone),
    ];
    for (s, value) in rows {
        ui.horizontal_wrapped(|ui| {
            let r = ui.add(
                egui::Label::new(
                    RichText::new(format!("{}:", step_label(s, lang)))
                        .size(18.0)
                        .color(widgets::GREY),
                )
                .sense(egui::Sense::click()),
            );
            if r.clicked() {
                go = Some(s);
            }
            ui.add(egui::Label::new(bold(&value, 20.0)).wrap());
        });
    }
    ui.add_space(6.0);
    ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Wrap);
    public_checkbox(ui, &mut st.ask, lang);
    if let Some(s) = go {
        go_step(st, s, lang);
    }
}
