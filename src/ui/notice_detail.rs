//! One notice in full: what, when, where, for whom, until when.
//!
//! Time and place are the reason most residents open a notice ("when do I bring my
//! papers for the ID card?"), so they come first and largest, before the text.

use egui::{RichText, Ui};

use super::i18n::{Lang, S};
use super::widgets::{self, bold};
use super::{Screen, Station, View};
use crate::model::DocId;

pub fn show(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang, id: &DocId) {
    let Some(n) = view.notices.iter().find(|n| &n.id == id) else {
        if widgets::big_button(ui, lang.t(S::Back)).clicked() {
            st.go(Screen::Home);
        }
        ui.label(lang.t(S::NoNotices));
        return;
    };
    ui.horizontal(|ui| {
        if widgets::big_button(ui, lang.t(S::Back)).clicked() {
            st.speaker.stop();
            st.go(Screen::Home);
        }
        // Read aloud: title, when, where, then the text.
        let mut text = format!("{}. ", n.title);
        if let Some(line) = super::home::when_where(n, lang) {
            text.push_str(&line);
            text.push_str(". ");
        }
        text.push_str(&n.body);
        widgets::read_aloud(ui, st, n.id.as_str(), &text, lang);
    });
    ui.add_space(6.0);
    let color = widgets::category_color(n.category);
    widgets::scroll_area("notice", st.scroll_top).show(ui, |ui| {
        widgets::card(ui, color, |ui| {
            ui.horizontal_wrapped(|ui| {
                if n.urgent {
                    ui.label(bold(lang.t(S::Urgent), 20.0).color(widgets::RED));
                }
                ui.label(bold(lang.category(n.category), 20.0).color(color));
            });
            ui.label(bold(&n.title, 30.0));
            ui.add_space(6.0);
            if let Some(t) = n.starts {
                big_fact(ui, lang.t(S::When), &widgets::fmt_time(t));
            }
            if let Some(p) = &n.place {
                big_fact(ui, lang.t(S::Where), p);
            }
            ui.add_space(6.0);
            ui.label(RichText::new(&n.body).size(22.0));
            ui.add_space(10.0);
            let hamlets = if n.hamlets.is_empty() {
                lang.t(S::WholeCommune).to_string()
            } else {
                n.hamlets.join(", ")
            };
            small_fact(ui, lang.t(S::For), &hamlets);
            if let Some(v) = n.valid_until {
                small_fact(ui, lang.t(S::ValidUntil), &widgets::fmt_time(v));
            }
            small_fact(ui, lang.t(S::Posted), &widgets::fmt_time(n.created_at));
        });
    });
}

fn big_fact(ui: &mut Ui, label: &str, value: &str) {
    ui.horizontal_wrapped(|ui| {
        ui.label(
            RichText::new(format!("{label}:"))
                .size(24.0)
                .color(widgets::GREY),
        );
        ui.label(bold(value, 26.0));
    });
}

fn small_fact(ui: &mut Ui, label: &str, value: &str) {
    ui.label(
        RichText::new(format!("{label}: {value}"))
            .size(18.0)
            .color(widgets::GREY),
    );
}
