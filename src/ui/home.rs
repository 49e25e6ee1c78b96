//! The resident's home screen: urgent warnings as red banners on top, then the
//! live notices as large cards, grouped by category and filterable by it.
//!
//! Residents who read slowly scan colour and size before words, so every category
//! has its colour and the whole card is one touch target that opens the notice.

use egui::{Button, Color32, RichText, Sense, Ui, WidgetInfo, vec2};

use super::i18n::{Lang, S};
use super::widgets::{self, bold};
use super::{Screen, Station, View};
use crate::model::{Category, Notice, Role};

/// Categories in the order a resident needs them: danger first.
pub const ORDER: [Category; 5] = [
    Category::Storm,
    Category::Schedule,
    Category::Policy,
    Category::Health,
    Category::Other,
];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct HomeState {
    /// `None`: every category.
    pub filter: Option<Category>,
}

impl HomeState {
    pub fn is_default(&self) -> bool {
        self.filter.is_none()
    }
}

/// Notices this node should show residents: live, and meant for this hamlet.
pub fn visible(view: &View, now: i64) -> Vec<&Notice> {
    let place = view
        .me
        .and_then(|me| view.roster.member(&me))
        .filter(|m| m.role == Role::Kiosk)
        .map(|m| m.place.clone())
        .unwrap_or_default();
    view.live_notices(now)
        .filter(|n| place.is_empty() || n.hamlets.is_empty() || n.hamlets.contains(&place))
        .collect()
}

pub fn show(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang, now: i64) {
    let notices = visible(view, now);
    // Urgent notices by their newest change first: a warning posted now, or a
    // notice made urgent by an edit now, comes before one of yesterday.
    let mut urgent: Vec<&Notice> = notices.iter().copied().filter(|n| n.urgent).collect();
    urgent.sort_by_key(|n| std::cmp::Reverse(n.updated_at.max(n.created_at)));
    widgets::scroll_area("home", st.scroll_top).show(ui, |ui| {
        // Read once by itself when it first appears, if the kiosk is set so: the
        // newest not read yet, then the next when that reading ends. (Each
        // reading replaces the last: starting them all in one frame left only the
        // oldest to be heard, issue 24.)
        let mut may_read = st.auto_read_urgent && !st.speaker.speaking();
        for n in urgent {
            if urgent_banner(ui, n, lang).clicked() {
                st.go(Screen::Notice(n.id.clone()));
            }
            let mut text = format!("{}: {}. ", lang.t(S::Urgent), n.title);
            if let Some(line) = when_where(n, lang) {
                text.push_str(&line);
                text.push_str(". ");
            }
            text.push_str(&n.body);
            if may_read && st.urgent_read.insert(n.id.clone()) {
                may_read = false;
                let (voice, rate) = (st.voice.clone(), st.speech_rate);
                st.speaker.speak(&text, &voice, rate);
                st.reading = Some(n.id.to_string());
            }
            if st.auto_read_urgent && !st.urgent_read.contains(&n.id) {
                // Look again when the reading ends.
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_millis(500));
            }
            widgets::read_aloud(ui, st, n.id.as_str(), &text, lang);
            ui.add_space(6.0);
        }
        let normal: Vec<&Notice> = notices.iter().copied().filter(|n| !n.urgent).collect();
        ui.add_space(4.0);
        ui.horizontal_wrapped(|ui| {
            if widgets::choice(ui, st.home.filter.is_none(), lang.t(S::AllCategories)).clicked() {
                st.home.filter = None;
            }
            for c in ORDER {
                let count = normal.iter().filter(|n| n.category == c).count();
                if count == 0 {
                    continue;
                }
                let text = format!("{} ({count})", lang.category(c));
                // The icon and its chip are one group: wrap before it, never
                // between them, and never past the window's edge.
                let (icon, gap) = (32.0, 4.0);
                let group = icon + gap + widgets::text_width(ui, &text, widgets::CHOICE_SIZE);
                if ui.available_size_before_wrap().x < group {
                    ui.end_row();
                }
                ui.horizontal(|ui| {
                    ui.spacing_mut().item_spacing.x = gap;
                    super::icons::category(ui, c, icon, lang);
                    if widgets::choice(ui, st.home.filter == Some(c), &text).clicked() {
                        st.home.filter = Some(c);
                    }
                });
            }
        });
        ui.add_space(8.0);
        if normal.is_empty() && notices.is_empty() {
            ui.label(RichText::new(lang.t(S::NoNotices)).size(22.0));
        }
        for c in ORDER {
            if st.home.filter.is_some_and(|f| f != c) {
                continue;
            }
            let group: Vec<&Notice> = normal.iter().copied().filter(|n| n.category == c).collect();
            if group.is_empty() {
                continue;
            }
            ui.horizontal(|ui| {
                super::icons::category(ui, c, 36.0, lang);
                ui.label(bold(lang.category(c), 22.0).color(widgets::category_color(c)));
            });
            for n in group {
                if notice_card(ui, n, lang).clicked() {
                    st.go(Screen::Notice(n.id.clone()));
                }
                ui.add_space(6.0);
            }
            ui.add_space(6.0);
        }
    });
}

/// The red banner of an urgent notice; one button whose name starts with the title.
fn urgent_banner(ui: &mut Ui, n: &Notice, lang: Lang) -> egui::Response {
    let mut text = format!("{}: {}", lang.t(S::Urgent), n.title);
    if let Some(line) = when_where(n, lang) {
        text.push('\n');
        text.push_str(&line);
    }
    let width = ui.available_width();
    ui.add(
        Button::new(bold(&text, 26.0).color(Color32::WHITE))
            .fill(widgets::RED)
            .stroke(egui::Stroke::new(3.0, widgets::DARK_RED))
            .wrap()
            .min_size(vec2(width, 80.0)),
    )
}

/// "Thời gian: 08:00 15/09/2026 · Địa điểm: Nhà văn hoá", when the notice has them.
pub fn when_where(n: &Notice, lang: Lang) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(t) = n.starts {
        parts.push(format!("{}: {}", lang.t(S::When), widgets::fmt_time(t)));
    }
    if let Some(p) = &n.place {
        parts.push(format!("{}: {p}", lang.t(S::Where)));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// A notice as a card; the whole card is one button named by the title.
pub fn notice_card(ui: &mut Ui, n: &Notice, lang: Lang) -> egui::Response {
    let inner = widgets::card(ui, widgets::category_color(n.category), |ui| {
        ui.horizontal(|ui| {
            super::icons::category(ui, n.category, 44.0, lang);
            ui.add(egui::Label::new(bold(&n.title, 24.0)).wrap());
        });
        if let Some(line) = when_where(n, lang) {
            ui.label(
                RichText::new(line)
                    .size(19.0)
                    .color(widgets::category_color(n.category)),
            );
        }
        let preview: String = n.body.chars().take(160).collect();
        let preview = preview.lines().next().unwrap_or_default().to_string();
        if !preview.is_empty() {
            let ellipsis = if preview.chars().count() < n.body.chars().count() {
                "…"
            } else {
                ""
            };
            ui.label(
                RichText::new(format!("{preview}{ellipsis}"))
                    .size(19.0)
                    .color(widgets::GREY),
            );
        }
    });
    let rect = inner.response.rect;
    let r = ui.interact(
        rect,
        ui.make_persistent_id(("notice-card", n.id.as_str())),
        Sense::click(),
    );
    let title = n.title.clone();
    r.widget_info(|| WidgetInfo::labeled(egui::Role::Button, true, &title));
    if r.hovered() {
        ui.painter().rect_stroke(
            rect,
            egui::CornerRadius::same(8),
            egui::Stroke::new(2.0, widgets::category_color(n.category)),
            egui::StrokeKind::Inside,
        );
    }
    r
}
