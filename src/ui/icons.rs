//! Pictures that carry the meaning, for residents who read slowly: an icon for
//! each notice category and each request status, drawn with egui shapes (no
//! image files, so nothing to license), in the category's or status's colour.
//!
//! Each icon is one widget with the role Image and the category's or status's
//! name as its label, so screen readers (and tests) know what it shows.

use egui::{Color32, Pos2, Rect, Response, Sense, Shape, Stroke, Ui, pos2, vec2};

use super::i18n::Lang;
use crate::model::{Category, Status};

/// Draws the icon of category `c`, `size` points square, labelled for screen readers.
pub fn category(ui: &mut Ui, c: Category, size: f32, lang: Lang) -> Response {
    let color = super::widgets::category_color(c);
    icon(ui, size, lang.category(c), |p, r| {
        paint_category(p, r, c, color)
    })
}

/// Draws the icon of status `s`, `size` points square.
pub fn status(ui: &mut Ui, s: Status, size: f32, lang: Lang) -> Response {
    let color = super::lookup::status_color(s);
    icon(ui, size, lang.status(s), |p, r| {
        paint_status(p, r, s, color)
    })
}

fn icon(ui: &mut Ui, size: f32, label: &str, paint: impl FnOnce(&egui::Painter, Rect)) -> Response {
    let (rect, r) = ui.allocate_exact_size(vec2(size, size), Sense::hover());
    if ui.is_rect_visible(rect) {
        paint(ui.painter(), rect);
    }
    let label = label.to_string();
    r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &label));
    r
}

/// A point at fractions (`x`, `y`) of `r`.
fn at(r: Rect, x: f32, y: f32) -> Pos2 {
    pos2(r.left() + x * r.width(), r.top() + y * r.height())
}

fn pts(r: Rect, xy: &[(f32, f32)]) -> Vec<Pos2> {
    xy.iter().map(|(x, y)| at(r, *x, *y)).collect()
}

/// The read-aloud button: a big speaker drawn beside "Đọc to" (or "Dừng đọc"
/// while reading). Returns the button's response; reading is the caller's.
pub fn speaker_button(ui: &mut Ui, speaking: bool, lang: Lang) -> Response {
    use super::i18n::S;
    let text = lang.t(if speaking {
        S::StopReading
    } else {
        S::ReadAloud
    });
    // In a row of its own, so the caption is centred clear of the speaker.
    let r = ui
        .horizontal(|ui| {
            ui.add(
                egui::Button::new(super::widgets::bold(text, 22.0))
                    .min_size(vec2(220.0, super::widgets::TOUCH))
                    .selected(speaking),
            )
        })
        .inner;
    // The speaker, on the left inside the button (the caption is centred).
    let s = r.rect.height() * 0.6;
    let icon = Rect::from_min_size(
        pos2(r.rect.left() + 10.0, r.rect.center().y - s / 2.0),
        vec2(s, s),
    );
    let color = ui.visuals().text_color();
    let p = ui.painter();
    p.rect_filled(
        Rect::from_min_max(at(icon, 0.05, 0.35), at(icon, 0.3, 0.65)),
        1.0,
        color,
    );
    p.add(Shape::convex_polygon(
        pts(icon, &[(0.3, 0.35), (0.55, 0.1), (0.55, 0.9), (0.3, 0.65)]),
        color,
        Stroke::NONE,
    ));
    let wave = Stroke::new(2.5, color);
    for (i, rad) in [0.18, 0.32].into_iter().enumerate() {
        let c = at(icon, 0.58, 0.5);
        let pts: Vec<Pos2> = (0..=8)
            .map(|k| {
                let a = -0.9 + 1.8 * k as f32 / 8.0;
                c + vec2(a.cos(), a.sin()) * (rad + 0.02 * i as f32) * icon.width() * 1.4
            })
            .collect();
        p.add(Shape::line(pts, wave));
    }
    r
}

pub fn paint_category(p: &egui::Painter, r: Rect, c: Category, color: Color32) {
    let w = r.width();
    let line = Stroke::new((w / 14.0).max(2.0), color);
    match c {
        Category::Storm => {
            // A cloud and a lightning bolt.
            for (x, y, rad) in [(0.32, 0.42, 0.17), (0.52, 0.32, 0.22), (0.72, 0.44, 0.15)] {
                p.circle_filled(at(r, x, y), rad * w, color);
            }
            p.rect_filled(
                Rect::from_min_max(at(r, 0.16, 0.42), at(r, 0.86, 0.58)),
                w * 0.08,
                color,
            );
            let bolt = Color32::from_rgb(0xf9, 0xa8, 0x25);
            p.add(Shape::convex_polygon(
                pts(r, &[(0.52, 0.52), (0.64, 0.52), (0.54, 0.72), (0.42, 0.72)]),
                bolt,
                Stroke::NONE,
            ));
            p.add(Shape::convex_polygon(
                pts(r, &[(0.46, 0.70), (0.62, 0.70), (0.40, 0.98)]),
                bolt,
                Stroke::NONE,
            ));
        }
        Category::Health => {
            // A red-cross-style plus in the category colour.
            p.circle_stroke(r.center(), w * 0.44, line);
            p.rect_filled(
                Rect::from_center_size(r.center(), vec2(w * 0.2, w * 0.56)),
                2.0,
                color,
            );
            p.rect_filled(
                Rect::from_center_size(r.center(), vec2(w * 0.56, w * 0.2)),
                2.0,
                color,
            );
        }
        Category::Schedule => {
            // An ID card: a face on the left, lines of text on the right.
            let card = Rect::from_min_max(at(r, 0.06, 0.2), at(r, 0.94, 0.8));
            p.rect_stroke(card, w * 0.06, line, egui::StrokeKind::Inside);
            p.circle_filled(at(r, 0.3, 0.43), w * 0.09, color);
            p.add(Shape::convex_polygon(
                pts(r, &[(0.16, 0.7), (0.2, 0.58), (0.4, 0.58), (0.44, 0.7)]),
                color,
                Stroke::NONE,
            ));
            for y in [0.38, 0.5, 0.62] {
                p.line_segment([at(r, 0.54, y), at(r, 0.84, y)], line);
            }
        }
        Category::Policy => {
            // A document with a folded corner and lines.
            p.add(Shape::closed_line(
                pts(
                    r,
                    &[
                        (0.2, 0.08),
                        (0.62, 0.08),
                        (0.8, 0.26),
                        (0.8, 0.92),
                        (0.2, 0.92),
                    ],
                ),
                line,
            ));
            p.line_segment([at(r, 0.62, 0.08), at(r, 0.62, 0.26)], line);
            p.line_segment([at(r, 0.62, 0.26), at(r, 0.8, 0.26)], line);
            for y in [0.44, 0.58, 0.72] {
                p.line_segment([at(r, 0.32, y), at(r, 0.68, y)], line);
            }
        }
        Category::Other => {
            // "i" in a circle.
            p.circle_stroke(r.center(), w * 0.44, line);
            p.circle_filled(at(r, 0.5, 0.28), w * 0.07, color);
            p.rect_filled(
                Rect::from_center_size(at(r, 0.5, 0.6), vec2(w * 0.12, w * 0.36)),
                2.0,
                color,
            );
        }
    }
}

pub fn paint_status(p: &egui::Painter, r: Rect, s: Status, color: Color32) {
    let w = r.width();
    let line = Stroke::new((w / 10.0).max(2.5), color);
    match s {
        Status::New => {
            // An hourglass: waiting for an answer.
            p.add(Shape::convex_polygon(
                pts(r, &[(0.22, 0.1), (0.78, 0.1), (0.5, 0.5)]),
                color,
                Stroke::NONE,
            ));
            p.add(Shape::convex_polygon(
                pts(r, &[(0.5, 0.5), (0.78, 0.9), (0.22, 0.9)]),
                color,
                Stroke::NONE,
            ));
        }
        Status::Answered => {
            // A speech bubble.
            let bubble = Rect::from_min_max(at(r, 0.08, 0.12), at(r, 0.92, 0.68));
            p.rect_filled(bubble, w * 0.12, color);
            p.add(Shape::convex_polygon(
                pts(r, &[(0.26, 0.6), (0.46, 0.66), (0.2, 0.9)]),
                color,
                Stroke::NONE,
            ));
        }
        Status::Scheduled => {
            // A calendar page.
            let page = Rect::from_min_max(at(r, 0.1, 0.18), at(r, 0.9, 0.9));
            p.rect_stroke(
                page,
                w * 0.06,
                Stroke::new(line.width * 0.7, color),
                egui::StrokeKind::Inside,
            );
            p.rect_filled(
                Rect::from_min_max(at(r, 0.1, 0.18), at(r, 0.9, 0.38)),
                w * 0.04,
                color,
            );
            for x in [0.3, 0.7] {
                p.line_segment([at(r, x, 0.08), at(r, x, 0.26)], line);
            }
            for (x, y) in [
                (0.3, 0.56),
                (0.5, 0.56),
                (0.7, 0.56),
                (0.3, 0.74),
                (0.5, 0.74),
            ] {
                p.circle_filled(at(r, x, y), w * 0.05, color);
            }
        }
        Status::Resolved => {
            // A tick.
            p.line(pts(r, &[(0.14, 0.52), (0.4, 0.78), (0.88, 0.22)]), line);
        }
        Status::Junk => {
            // A cross.
            p.line_segment([at(r, 0.18, 0.18), at(r, 0.82, 0.82)], line);
            p.line_segment([at(r, 0.82, 0.18), at(r, 0.18, 0.82)], line);
        }
    }
}

/// The picture of a kind of request on its card: a speech bubble with a question
/// mark (a question), a calendar page (an appointment), a house (a home visit).
pub fn paint_request_kind(
    p: &egui::Painter,
    r: Rect,
    k: crate::model::RequestKind,
    color: Color32,
) {
    use crate::model::RequestKind;
    let line = Stroke::new(r.width() * 0.06, color);
    match k {
        RequestKind::Question => {
            let body = Rect::from_min_max(at(r, 0.05, 0.08), at(r, 0.95, 0.72));
            p.rect_stroke(body, r.width() * 0.15, line, egui::StrokeKind::Middle);
            p.add(Shape::convex_polygon(
                pts(r, &[(0.25, 0.7), (0.45, 0.7), (0.22, 0.95)]),
                color,
                Stroke::NONE,
            ));
            p.text(
                at(r, 0.5, 0.41),
                egui::Align2::CENTER_CENTER,
                "?",
                egui::FontId::proportional(r.height() * 0.55),
                color,
            );
        }
        RequestKind::Appointment => {
            let page = Rect::from_min_max(at(r, 0.08, 0.15), at(r, 0.92, 0.95));
            p.rect_stroke(page, r.width() * 0.06, line, egui::StrokeKind::Middle);
            p.rect_filled(
                Rect::from_min_max(at(r, 0.08, 0.15), at(r, 0.92, 0.35)),
                r.width() * 0.06,
                color,
            );
            for x in [0.3, 0.7] {
                p.line_segment([at(r, x, 0.05), at(r, x, 0.25)], line);
            }
            for (i, j) in [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1)] {
                let c = at(r, 0.27 + 0.23 * i as f32, 0.52 + 0.22 * j as f32);
                p.rect_filled(
                    Rect::from_center_size(c, vec2(r.width() * 0.12, r.height() * 0.1)),
                    1.0,
                    color,
                );
            }
        }
        RequestKind::HomeVisit => {
            p.add(Shape::convex_polygon(
                pts(r, &[(0.5, 0.05), (0.97, 0.48), (0.03, 0.48)]),
                color,
                Stroke::NONE,
            ));
            let walls = Rect::from_min_max(at(r, 0.15, 0.46), at(r, 0.85, 0.95));
            p.rect_stroke(walls, 0.0, line, egui::StrokeKind::Middle);
            p.rect_filled(
                Rect::from_min_max(at(r, 0.42, 0.62), at(r, 0.58, 0.95)),
                0.0,
                color,
            );
        }
    }
}
