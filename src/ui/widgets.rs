//! Small building blocks shared by the screens: touch-sized buttons, labelled text
//! fields, cards, colours and the way times are written.
//!
//! Kept in one place so every screen has the same 48-point minimum touch target and
//! every text field is tied to its visible label (screen readers and kittest find a
//! field by that label).

use egui::{
    Button, Color32, CornerRadius, FontFamily, FontId, Frame, Response, RichText, Ui, vec2,
};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::model::text::{VN_OFFSET, format_time_vn, short_name, strip_bidi};
use crate::model::{Category, Request};

/// Font family name of Noto Sans Bold (see `setup_context`).
pub const BOLD: &str = "bold";
/// Smallest height of anything a finger must hit.
pub const TOUCH: f32 = 56.0;

pub const RED: Color32 = Color32::from_rgb(0xc6, 0x28, 0x28);
pub const DARK_RED: Color32 = Color32::from_rgb(0x8e, 0x10, 0x10);
pub const AMBER: Color32 = Color32::from_rgb(0xef, 0x8f, 0x00);
pub const DARK_AMBER: Color32 = Color32::from_rgb(0x6d, 0x3c, 0x00);
pub const GREEN: Color32 = Color32::from_rgb(0x2e, 0x7d, 0x32);
pub const GREY: Color32 = Color32::from_rgb(0x60, 0x60, 0x60);
pub const CARD: Color32 = Color32::WHITE;

pub fn bold(text: &str, size: f32) -> RichText {
    RichText::new(text).font(FontId::new(size, FontFamily::Name(BOLD.into())))
}

/// A button at least [`TOUCH`] high.
pub fn big_button(ui: &mut Ui, text: &str) -> Response {
    ui.add(Button::new(RichText::new(text).size(22.0)).min_size(vec2(TOUCH, TOUCH)))
}

/// A big coloured button for the main action of a screen.
pub fn primary_button(ui: &mut Ui, text: &str) -> Response {
    ui.add(
        Button::new(bold(text, 24.0).color(Color32::WHITE))
            .fill(GREEN)
            .min_size(vec2(200.0, 64.0)),
    )
}

/// [`primary_button`] `height` high (at least [`TOUCH`]).
pub fn primary_button_sized(ui: &mut Ui, text: &str, height: f32) -> Response {
    primary_button_min(ui, text, vec2(180.0, height.max(TOUCH)))
}

/// A primary button at least `min` big (a narrow screen's row gives it less width).
pub fn primary_button_min(ui: &mut Ui, text: &str, min: egui::Vec2) -> Response {
    ui.add(
        Button::new(bold(text, 24.0).color(Color32::WHITE))
            .fill(GREEN)
            .min_size(min),
    )
}

/// A tab of the navigation row: compact (the screen's height goes to the content)
/// but still a full touch target, framed so it reads as a button even when not
/// selected.
pub fn nav_button(ui: &mut Ui, selected: bool, text: &str) -> Response {
    let (size, min) = NAV_SIZES[0];
    nav_button_sized(ui, selected, text, size, min)
}

/// Font sizes of a navigation button, with the narrowest it gets at each: the
/// first where a row of them fits the screen's width is used (a short landscape
/// screen has no height for a second row above the keyboard: 1024×768 at zoom 1.5
/// needs the last). Every one is still 48 points high.
pub const NAV_SIZES: [(f32, f32); 3] = [(21.0, 96.0), (18.0, 80.0), (16.0, 72.0)];

/// [`nav_button`] with its caption `size` points high, at least `min` wide.
pub fn nav_button_sized(ui: &mut Ui, selected: bool, text: &str, size: f32, min: f32) -> Response {
    ui.add(
        Button::selectable(selected, RichText::new(text).size(size))
            .frame_when_inactive(true)
            .min_size(vec2(min, 48.0)),
    )
}

/// A framed on/off button at least [`TOUCH`] high ("who has it", open or closed).
pub fn toggle_button(ui: &mut Ui, selected: bool, text: &str) -> Response {
    ui.add(
        Button::selectable(selected, RichText::new(text).size(22.0))
            .frame_when_inactive(true)
            .min_size(vec2(TOUCH, TOUCH)),
    )
}

/// The vertical scroll area of a screen or a list. Each has its own `id` (or they
/// would all share one scroll position), scrolls by dragging with a finger (egui
/// otherwise drags only where it detects a touch screen, and many kiosk touch
/// panels report themselves as a mouse), and starts again at the top when `top`
/// is set, i.e. when its screen has just been opened.
pub fn scroll_area(id: &str, top: bool) -> egui::ScrollArea {
    let area = egui::ScrollArea::vertical()
        .id_salt(id)
        .auto_shrink([false, false])
        .scroll_source(egui::containers::scroll_area::ScrollSource::ALL);
    if top {
        area.vertical_scroll_offset(0.0)
    } else {
        area
    }
}

/// A choice among a few (category, kind, filter), touch-sized.
pub fn choice(ui: &mut Ui, selected: bool, text: &str) -> Response {
    // Framed when not chosen too: a chip must look like something to press.
    ui.add(
        Button::selectable(selected, RichText::new(text).size(CHOICE_SIZE))
            .frame_when_inactive(true)
            .min_size(vec2(TOUCH, 48.0)),
    )
}

/// Font size of a [`choice`].
pub const CHOICE_SIZE: f32 = 20.0;

/// Width `text` takes at `size` points on one line, as a button draws it (with
/// its padding): for rows that must wrap before a group, not in the middle of it.
pub fn text_width(ui: &Ui, text: &str, size: f32) -> f32 {
    let w = ui.ctx().fonts_mut(|f| {
        f.layout_no_wrap(text.to_string(), FontId::proportional(size), Color32::BLACK)
            .size()
            .x
    });
    w + 2.0 * ui.spacing().button_padding.x
}

/// A visible label and its text field, tied together for accessibility. `active`
/// draws a thick border: on the kiosk it marks the field the on-screen keyboard
/// types into.
pub fn text_field(
    ui: &mut Ui,
    label: &str,
    text: &mut String,
    multiline: bool,
    active: bool,
) -> Response {
    let l = ui.label(RichText::new(label).size(20.0));
    let edit = if multiline {
        egui::TextEdit::multiline(text).desired_rows(2)
    } else {
        egui::TextEdit::singleline(text)
    };
    let edit = edit
        .font(FontId::proportional(22.0))
        .desired_width(f32::INFINITY)
        .min_size(vec2(0.0, 48.0))
        .margin(vec2(10.0, 10.0));
    let r = ui.add(edit).labelled_by(l.id);
    if r.changed() {
        keep_drawable(ui.ctx(), text);
    }
    if active {
        ui.painter().rect_stroke(
            r.rect.expand(2.0),
            CornerRadius::same(4),
            egui::Stroke::new(3.0, GREEN),
            egui::StrokeKind::Outside,
        );
    }
    r
}

/// Drops from `text` the bidirectional controls and the characters no installed
/// font can draw (they would show as empty boxes on every screen it reaches).
/// Returns true if anything was dropped.
pub fn keep_drawable(ctx: &egui::Context, text: &mut String) -> bool {
    let font = FontId::proportional(20.0);
    let kept: String = ctx.fonts_mut(|f| {
        strip_bidi(text)
            .chars()
            .filter(|c| c.is_whitespace() || f.has_glyph(&font, *c))
            .collect()
    });
    if kept != *text {
        *text = kept;
        true
    } else {
        false
    }
}

/// A "Đọc to" button that reads `text` aloud (the button of the item being
/// read, named `key`, turns into "Dừng đọc"). Never waits for the speech.
pub fn read_aloud(
    ui: &mut Ui,
    st: &mut super::Station,
    key: &str,
    text: &str,
    lang: super::i18n::Lang,
) {
    let speaking = st.speaker.speaking() && st.reading.as_deref() == Some(key);
    if super::icons::speaker_button(ui, speaking, lang).clicked() {
        if speaking {
            st.speaker.stop();
            st.reading = None;
        } else {
            let (voice, rate) = (st.voice.clone(), st.speech_rate);
            st.speaker.speak(text, &voice, rate);
            st.reading = Some(key.to_string());
        }
    }
    if speaking {
        // Repaint to turn the button back when the reading ends.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(300));
    }
}

/// Shows a panel (the header, the footer) and, when its height is not the last
/// frame's, has egui lay the frame out again before it is drawn. egui starts a panel
/// at its last height, so in the frame where a line comes or goes (the footer's
/// "Đang trao đổi" at the end of a sync) the panel and the screen beside it would be
/// drawn a line off — and a kiosk that stops repainting then would keep showing it.
pub fn settled_panel<R>(
    ui: &mut Ui,
    panel: egui::Panel,
    name: &'static str,
    add: impl FnOnce(&mut Ui) -> R,
) -> R {
    let r = panel.show(ui, add);
    let key = ui.make_persistent_id(("settled-panel", name));
    let height = r.response.rect.height();
    let last = ui.data_mut(|d| {
        let last = d.get_temp::<f32>(key);
        d.insert_temp(key, height);
        last
    });
    // A first frame was drawn at a default or remembered height, so it counts as a
    // change; a pass that sees the same height asks nothing more, so this costs at
    // most one extra pass per change.
    if last.is_none_or(|h| (h - height).abs() > 0.5) {
        ui.ctx()
            .request_discard(format!("panel {name} changed height"));
    }
    r.inner
}

/// A white card with a coloured left edge.
pub fn card<R>(
    ui: &mut Ui,
    accent: Color32,
    add: impl FnOnce(&mut Ui) -> R,
) -> egui::InnerResponse<R> {
    Frame::new()
        .fill(CARD)
        .stroke(egui::Stroke::new(1.0, Color32::from_gray(210)))
        .corner_radius(CornerRadius::same(8))
        .inner_margin(egui::Margin {
            left: 18,
            right: 14,
            top: 12,
            bottom: 12,
        })
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            let r = add(ui);
            let rect = ui.min_rect();
            ui.painter().rect_filled(
                egui::Rect::from_min_max(
                    rect.left_top() - vec2(14.0, 8.0),
                    rect.left_bottom() + vec2(-8.0, 8.0),
                ),
                CornerRadius::same(3),
                accent,
            );
            r
        })
}

/// The colour of a notice category, so residents who read slowly can still tell
/// a storm warning from a vaccination day at a glance.
pub fn category_color(c: Category) -> Color32 {
    match c {
        Category::Storm => RED,
        Category::Schedule => Color32::from_rgb(0x15, 0x65, 0xc0),
        Category::Policy => Color32::from_rgb(0x6a, 0x1b, 0x9a),
        Category::Health => GREEN,
        Category::Other => GREY,
    }
}

/// "14:05 01/12/2026".
pub fn fmt_time(unix: i64) -> String {
    format_time_vn(unix)
}

/// "14:05", commune time.
pub fn hhmm(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| {
            let t = t.to_offset(VN_OFFSET);
            format!("{:02}:{:02}", t.hour(), t.minute())
        })
        .unwrap_or_default()
}

/// "01/12/2026".
pub fn fmt_date(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| {
            let t = t.to_offset(VN_OFFSET);
            format!("{:02}/{:02}/{}", t.day(), u8::from(t.month()), t.year())
        })
        .unwrap_or_default()
}

/// A time that is not written as `hh:mm dd/mm/yyyy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadTime;

/// Parses a time as people in the commune write it: "08:00 15/09/2026", "8h30
/// 15/9/2026" or a bare date "15/09/2026" (then 00:00, or 23:59 with `end_of_day`,
/// which is what "valid until 15/09" means). Empty input is `Ok(None)`.
pub fn parse_vn_time(s: &str, end_of_day: bool) -> Result<Option<i64>, BadTime> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let mut time = None;
    let mut date = None;
    for part in s.split_whitespace() {
        if part.contains('/') {
            let f: Vec<&str> = part.split('/').collect();
            let [d, m, y] = f.as_slice() else {
                return Err(BadTime);
            };
            let (d, m, y): (u8, u8, i32) = (
                d.parse().map_err(|_| BadTime)?,
                m.parse().map_err(|_| BadTime)?,
                y.parse().map_err(|_| BadTime)?,
            );
            let month = Month::try_from(m).map_err(|_| BadTime)?;
            date = Some(Date::from_calendar_date(y, month, d).map_err(|_| BadTime)?);
        } else {
            let p = part.to_lowercase().replace('h', ":");
            let (h, m) = p.split_once(':').unwrap_or((p.as_str(), "0"));
            let m = if m.is_empty() { "0" } else { m };
            let (h, m): (u8, u8) = (
                h.parse().map_err(|_| BadTime)?,
                m.parse().map_err(|_| BadTime)?,
            );
            time = Some(Time::from_hms(h, m, 0).map_err(|_| BadTime)?);
        }
    }
    let date = date.ok_or(BadTime)?;
    let default = if end_of_day {
        Time::from_hms(23, 59, 0).map_err(|_| BadTime)?
    } else {
        Time::MIDNIGHT
    };
    let t = PrimitiveDateTime::new(date, time.unwrap_or(default)).assume_offset(VN_OFFSET);
    Ok(Some(t.unix_timestamp()))
}

/// A resident's name as a kiosk shows it: always shortened ("Hoàng Văn P."),
/// public or not — the public checkbox says so — and without bidirectional
/// controls, even if an older node let some into the document.
pub fn display_name(r: &Request) -> String {
    short_name(&strip_bidi(&r.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commune_times_parse_and_print() {
        let t = parse_vn_time("08:30 15/09/2026", false).unwrap().unwrap();
        assert_eq!(fmt_time(t), "08:30 15/09/2026");
        let t = parse_vn_time("8h 15/9/2026", false).unwrap().unwrap();
        assert_eq!(fmt_time(t), "08:00 15/09/2026");
        let t = parse_vn_time("15/09/2026", true).unwrap().unwrap();
        assert_eq!(fmt_time(t), "23:59 15/09/2026");
        assert_eq!(parse_vn_time("  ", false), Ok(None));
        assert!(parse_vn_time("31/02/2026", false).is_err());
        assert!(parse_vn_time("tomorrow", false).is_err());
    }
}
