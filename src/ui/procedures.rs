//! One-stop-shop guides: which papers to bring, the fee, how many days.
//!
//! The point of this screen is that a resident walks (often far) to the commune
//! office once, with every paper, instead of twice. So the papers come first, as a
//! numbered checklist, and each procedure is open by default: no tapping to find out.

use egui::{RichText, Ui};

use super::i18n::{Lang, S};
use super::widgets::{self, bold};
use super::{Station, View};

pub fn show(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    let top = st.scroll_top;
    ui.label(bold(lang.t(S::ProceduresTitle), 28.0));
    ui.add_space(6.0);
    if view.procedures.is_empty() {
        ui.label(RichText::new(lang.t(S::NoProcedures)).size(22.0));
        return;
    }
    widgets::scroll_area("procedures", top).show(ui, |ui| {
        for p in &view.procedures {
            widgets::card(
                ui,
                widgets::category_color(crate::model::Category::Schedule),
                |ui| {
                    ui.label(bold(&p.title, 26.0));
                    let mut text = format!("{}. {}: ", p.title, lang.t(S::Papers));
                    text.push_str(&p.papers.join(", "));
                    if !p.fee.is_empty() {
                        text.push_str(&format!(". {}: {}", lang.t(S::Fee), p.fee));
                    }
                    if let Some(d) = p.days {
                        let days = lang.fill(S::DaysN, &[&d.to_string()]);
                        text.push_str(&format!(". {}: {days}", lang.t(S::Days)));
                    }
                    widgets::read_aloud(ui, st, &p.title, &text, lang);
                    ui.add_space(4.0);
                    if !p.papers.is_empty() {
                        ui.label(bold(lang.t(S::Papers), 21.0));
                        for (i, paper) in p.papers.iter().enumerate() {
                            ui.label(RichText::new(format!("{}. {paper}", i + 1)).size(21.0));
                        }
                        ui.add_space(4.0);
                    }
                    ui.horizontal_wrapped(|ui| {
                        if !p.fee.is_empty() {
                            ui.label(
                                RichText::new(format!("{}: {}", lang.t(S::Fee), p.fee)).size(21.0),
                            );
                        }
                        if let Some(d) = p.days {
                            let days = lang.fill(S::DaysN, &[&d.to_string()]);
                            ui.label(
                                RichText::new(format!("{}: {days}", lang.t(S::Days))).size(21.0),
                            );
                        }
                    });
                    if !p.steps.is_empty() {
                        ui.add_space(4.0);
                        ui.label(bold(lang.t(S::Steps), 21.0));
                        for (i, s) in p.steps.iter().enumerate() {
                            ui.label(
                                RichText::new(format!("{}. {s}", i + 1))
                                    .size(19.0)
                                    .color(widgets::GREY),
                            );
                        }
                    }
                },
            );
            ui.add_space(8.0);
        }
    });
}
