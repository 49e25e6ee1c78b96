//! "Asking a question works on every screen a hall may have" (issue 24): the
//! kiosk's screens at the screen shapes halls really have, at zoom 1.0 and the
//! shipped 1.5, read through the accessibility tree as a finger and an eye would
//! meet them. A screen fails when an interactive element lies partly outside the
//! window (after scrolling it into view, as a finger would), when two of them
//! overlap, or when a text box cannot show the end of what it holds.

use conglang::config::Config;
use conglang::ui::Clock;
use egui::accesskit::Role as A11y;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use conglang::ui::KioskApp;

use crate::ui::{T0, app_with, full_commune, tap_button};

/// Screens halls have, in pixels: old office monitors, the hall's own, laptops,
/// a television, and panels mounted upright.
pub(crate) const SCREENS: [(f32, f32); 6] = [
    (1024.0, 768.0),
    (1280.0, 800.0),
    (1366.0, 768.0),
    (1920.0, 1080.0),
    (800.0, 1280.0),
    (1080.0, 1920.0),
];
const ZOOMS: [f32; 2] = [1.0, 1.5];

fn interactive(role: A11y) -> bool {
    matches!(
        role,
        A11y::Button
            | A11y::TextInput
            | A11y::MultilineTextInput
            | A11y::CheckBox
            | A11y::ComboBox
            | A11y::Link
            | A11y::RadioButton
            | A11y::Slider
            | A11y::SpinButton
    )
}

/// One interactive element: what the accessibility tree says of it, and where egui
/// drew it — whole (`rect`) and the part not clipped away by a scroll area or a
/// panel (`shown`).
struct El {
    id: u64,
    role: A11y,
    label: String,
    rect: egui::Rect,
    shown: egui::Rect,
    focused: bool,
    /// What a text box holds.
    value: Option<String>,
}

/// The egui id a node stands for: egui names a widget's node by the value of its
/// `Id` (`FullNodeId(TreeIndex(0), #<value>)`).
fn egui_id(n: &egui_kittest::kittest::AccessKitNode<'_>) -> u64 {
    format!("{:?}", n.id())
        .rsplit('#')
        .next()
        .and_then(|t| t.trim_end_matches(')').parse().ok())
        .unwrap_or(0)
}

/// Every interactive element of the accessibility tree, with egui's rectangles.
fn elements(h: &Harness<'_, KioskApp>) -> Vec<El> {
    let nodes: Vec<(u64, A11y, String, bool, Option<String>)> = h
        .root()
        .query_all_by(|n| interactive(n.role()))
        .map(|node| {
            let n = node.accesskit_node();
            let label = n
                .label()
                .or_else(|| n.value())
                .unwrap_or_default()
                .chars()
                .take(40)
                .collect();
            (egui_id(&n), n.role(), label, node.is_focused(), n.value())
        })
        .collect();
    h.ctx.viewport(|vp| {
        let mut rects = std::collections::HashMap::new();
        for pass in [&vp.prev_pass, &vp.this_pass] {
            for (_, ws) in pass.widgets.layers() {
                for w in ws {
                    rects.insert(w.id.value(), (w.rect, w.interact_rect));
                }
            }
        }
        nodes
            .into_iter()
            .filter_map(|(id, role, label, focused, value)| {
                let (rect, shown) = rects.get(&id).copied()?;
                Some(El {
                    id,
                    role,
                    label,
                    rect,
                    shown,
                    focused,
                    value,
                })
            })
            .collect()
    })
}

/// A few frames for the screen to settle: a scroll lands a frame or two after it
/// is asked for, and a widget's place is read from the frame after that.
fn settle(h: &mut Harness<'_, KioskApp>) {
    for _ in 0..4 {
        h.step();
    }
    h.run();
}

/// A box of several lines taller than the screen: its end (where the resident
/// types) in sight.
fn end_in_sight(e: &El, window: egui::Rect) -> bool {
    e.role == A11y::MultilineTextInput
        && e.shown.is_positive()
        && e.rect.height() > e.shown.height()
        && window.contains_rect(e.shown.shrink(0.5))
        && e.shown.bottom() >= e.rect.bottom() - 2.0
}

fn whole(e: &El, window: egui::Rect) -> bool {
    window.contains_rect(e.rect.shrink(0.5))
        && e.shown.is_positive()
        && e.shown.contains_rect(e.rect.shrink(0.5))
}

/// What is wrong with the screen `h` shows, in a window of `size` points.
pub(crate) fn problems(h: &mut Harness<'_, KioskApp>, size: egui::Vec2, what: &str) -> Vec<String> {
    let window = egui::Rect::from_min_size(egui::Pos2::ZERO, size);
    let mut out = Vec::new();
    settle(h);
    let els = elements(h);
    // The eye must see what it types: the box being typed into is whole on screen,
    // or, a long question scrolling inside its box, its end and two lines at least.
    for e in els.iter().filter(|e| e.focused) {
        let ok = whole(e, window)
            || (e.role == A11y::MultilineTextInput
                && window.contains_rect(e.shown.shrink(0.5))
                && e.shown.bottom() >= e.rect.bottom() - 2.0
                && e.shown.height() >= 60.0);
        if !ok {
            out.push(format!(
                "{what}: the box being typed into, \"{}\" at {:?}, shows only {:?}",
                e.label, e.rect, e.shown
            ));
        }
    }
    out.extend(text_boxes_show_their_end(h, what));
    // On the ask form, the field the keyboard types into (outlined in green, not
    // necessarily focused: the form opens on the name) is in sight.
    let ask = h.state_mut().station().ask.clone();
    if h.state_mut().station().screen == Some(conglang::ui::Screen::Ask) && ask.sent_code.is_none()
    {
        let label = conglang::ui::ask::field_label(ask.active, conglang::ui::i18n::Lang::Vi);
        if let Some(e) = els.iter().find(|e| {
            matches!(e.role, A11y::TextInput | A11y::MultilineTextInput) && e.label == label
        }) && !(whole(e, window) || end_in_sight(e, window))
        {
            out.push(format!(
                "{what}: the field the keyboard types into, \"{label}\" at {:?}, shows only {:?}",
                e.rect, e.shown
            ));
        }
    }
    // No two elements on top of each other, as the screen is shown.
    for (i, a) in els.iter().enumerate() {
        for b in &els[i + 1..] {
            let o = a.shown.intersect(b.shown);
            if o.is_positive() && o.area() > 4.0 {
                out.push(format!(
                    "{what}: {:?} \"{}\" at {:?} and {:?} \"{}\" at {:?} overlap",
                    a.role, a.label, a.shown, b.role, b.label, b.shown
                ));
            }
        }
    }
    for e in els {
        // Nothing on a kiosk scrolls sideways: a control cut at a side is lost.
        if e.rect.left() < -0.5 || e.rect.right() > size.x + 0.5 {
            out.push(format!(
                "{what}: {:?} \"{}\" at x {:.0}..{:.0} is cut by the window's sides (0..{:.0})",
                e.role,
                e.label,
                e.rect.left(),
                e.rect.right(),
                size.x
            ));
            continue;
        }
        if whole(&e, window) || end_in_sight(&e, window) {
            continue;
        }
        // Below the fold, or half under a panel: a finger scrolls it into view.
        let find = |h: &Harness<'_, KioskApp>| elements(h).into_iter().find(|x| x.id == e.id);
        if find(h).is_none() {
            continue;
        }
        h.root()
            .query_by(|n| egui_id(n) == e.id)
            .expect("the element is in the tree")
            .scroll_to_me();
        settle(h);
        match find(h) {
            Some(now) if whole(&now, window) => {}
            Some(now) if end_in_sight(&now, window) => {}
            Some(now) => out.push(format!(
                "{what}: {:?} \"{}\" at {:?} cannot be brought whole into view (shows {:?})",
                now.role, now.label, now.rect, now.shown
            )),
            None => out.push(format!(
                "{what}: {:?} \"{}\" went away when scrolled to",
                e.role, e.label
            )),
        }
    }
    out
}

/// A text box shows the end of what it holds: laid out in the kiosk's font at the
/// box's inner width, a one-line text is no wider than its box; a box of several
/// lines is as tall as its text, and its last line is in sight (a long question
/// scrolls inside its box).
fn text_boxes_show_their_end(h: &Harness<'_, KioskApp>, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in elements(h) {
        let Some(text) = e.value.as_ref().filter(|t| !t.is_empty()) else {
            continue;
        };
        if !matches!(e.role, A11y::TextInput | A11y::MultilineTextInput) {
            continue;
        }
        let multiline = e.role == A11y::MultilineTextInput;
        // The smallest font and margins the kiosk's boxes use (20 points; 8 a side):
        // a box that fails with them fails with its own.
        let font = egui::FontId::proportional(20.0);
        let inner = e.rect.shrink(8.0);
        let galley = h.ctx.fonts_mut(|f| {
            f.layout(
                text.clone(),
                font.clone(),
                egui::Color32::BLACK,
                if multiline {
                    inner.width()
                } else {
                    f32::INFINITY
                },
            )
        });
        let fits = if multiline {
            galley.size().y <= inner.height() + 1.0
                && (!e.shown.is_positive() || e.shown.bottom() >= e.rect.bottom() - 2.0)
        } else {
            galley.size().x <= inner.width() + 1.0
        };
        if !fits {
            out.push(format!(
                "{what}: the box \"{}\" ({:.0}×{:.0}, shown {:?}) hides the end of \"{}…\" ({:.0}×{:.0})",
                e.label,
                e.rect.width(),
                e.rect.height(),
                e.shown,
                text.chars().take(30).collect::<String>(),
                galley.size().x,
                galley.size().y
            ));
        }
    }
    out
}

/// The question a resident typed in the field trials, long enough to wrap.
const QUESTION: &str = "Làm căn cước cho con thì cần mang những giấy tờ gì, con tôi mười bốn tuổi, \
                        bố đi làm xa thì mẹ đi cùng có được không ạ?";

#[test]
fn every_control_is_in_reach_and_every_box_shows_what_it_holds_on_every_screen() {
    let c = full_commune();
    let config = Config::load(std::path::Path::new("kiosk-config/village-hall.toml")).unwrap();
    let mut all = Vec::new();
    for (w, hgt) in SCREENS {
        for zoom in ZOOMS {
            let pixels = egui::vec2(w, hgt);
            let size = pixels / zoom;
            let what = |screen: &str| format!("{w}×{hgt} zoom {zoom} {screen}");
            let mut h = app_with(&c.kiosk, Clock::manual(T0), config.ui.clone(), pixels, zoom);
            all.extend(problems(&mut h, size, &what("home")));
            // A notice, opened from its card.
            tap_button(&mut h, "Lịch cấp Căn cước lưu động");
            all.extend(problems(&mut h, size, &what("notice")));
            tap_button(&mut h, "Thủ tục");
            all.extend(problems(&mut h, size, &what("procedures")));
            // The ask flow, every step, as a resident goes through it.
            tap_button(&mut h, "Gửi câu hỏi");
            all.extend(problems(&mut h, size, &what("ask 1, the kind")));
            tap_button(&mut h, "Đặt lịch hẹn");
            for (n, f, text) in [
                (2, "Họ và tên", "Hoàng Văn Páo"),
                (3, "Thôn", ""),
                (4, "Điện thoại", "0912345678"),
                (5, "Nội dung", QUESTION),
            ] {
                all.extend(problems(&mut h, size, &what(&format!("ask {n}, {f}"))));
                if !text.is_empty() {
                    crate::ui::type_into(&mut h, f, text);
                    all.extend(problems(
                        &mut h,
                        size,
                        &what(&format!("ask {n}, typing {f}")),
                    ));
                }
                tap_button(&mut h, "Tiếp ›");
            }
            all.extend(problems(&mut h, size, &what("ask 6, the review")));
            tap_button(&mut h, "Gửi đi");
            all.extend(problems(&mut h, size, &what("ask, the code")));
            tap_button(&mut h, "Tra cứu");
            crate::ui::type_into(&mut h, "Mã tra cứu", &c.code);
            all.extend(problems(&mut h, size, &what("lookup")));
            tap_button(&mut h, "Trao đổi dữ liệu");
            all.extend(problems(&mut h, size, &what("exchange")));
        }
    }
    assert!(
        all.is_empty(),
        "{} problems:\n{}",
        all.len(),
        all.join("\n")
    );
}

/// Every screen at every size and zoom as a PNG, for the eye (not compared):
/// `CONGLANG_LOOK=/tmp/look cargo test --test it layout::screens_for_the_eye -- --ignored`.
#[test]
#[ignore = "writes images for a person to look at"]
fn screens_for_the_eye() {
    let dir =
        std::path::PathBuf::from(std::env::var("CONGLANG_LOOK").unwrap_or("/tmp/look".into()));
    std::fs::create_dir_all(&dir).unwrap();
    let only = std::env::var("CONGLANG_LOOK_ONLY").ok();
    let c = full_commune();
    let config = Config::load(std::path::Path::new("kiosk-config/village-hall.toml")).unwrap();
    for (w, hgt) in SCREENS {
        for zoom in ZOOMS {
            let name = format!("{w}x{hgt}@{zoom}");
            if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
                continue;
            }
            let pixels = egui::vec2(w, hgt);
            let mut h = app_with(&c.kiosk, Clock::manual(T0), config.ui.clone(), pixels, zoom);
            let save = |h: &mut Harness<'_, KioskApp>, screen: &str| {
                let img = h.render().expect("render");
                img.save(dir.join(format!("{name}-{screen}.png"))).unwrap();
            };
            save(&mut h, "1-home");
            tap_button(&mut h, "Lịch cấp Căn cước lưu động");
            save(&mut h, "2-notice");
            tap_button(&mut h, "Gửi câu hỏi");
            save(&mut h, "3-ask-1-kind");
            tap_button(&mut h, "Hỏi đáp");
            crate::ui::type_into(&mut h, "Họ và tên", "Hoàng Văn Páo");
            save(&mut h, "3-ask-2-name");
            tap_button(&mut h, "Tiếp ›");
            save(&mut h, "3-ask-3-hamlet");
            tap_button(&mut h, "Tiếp ›");
            crate::ui::type_into(&mut h, "Điện thoại", "0912345678");
            save(&mut h, "3-ask-4-phone");
            tap_button(&mut h, "Tiếp ›");
            crate::ui::type_into(&mut h, "Nội dung", QUESTION);
            save(&mut h, "3-ask-5-question");
            tap_button(&mut h, "Tiếp ›");
            save(&mut h, "3-ask-6-review");
            tap_button(&mut h, "Gửi đi");
            save(&mut h, "3-ask-7-code");
            tap_button(&mut h, "Tra cứu");
            save(&mut h, "4-lookup");
            tap_button(&mut h, "Trao đổi dữ liệu");
            save(&mut h, "5-exchange");
        }
    }
}

/// Stores for the real-window screenshots at the hall's screen shapes
/// (`docs/screenshots/kiosk-sizes-run.sh`): the commune of the layout test, kept on
/// disk. Prints the directory.
#[test]
#[ignore = "prepares stores for docs/screenshots/kiosk-sizes-run.sh"]
fn prepare_a_kiosk_for_screenshots() {
    let c = full_commune();
    let dir = c._tmp.keep();
    println!("DIR={}", dir.display());
}

/// The touches of the seed's question with a name, by the guided flow with the words
/// offered, as pixel positions on the hall's 1280×800 screen, for a real window to
/// replay (`docs/screenshots/kiosk-touches-run.sh`, which prepares `$CONGLANG_PLAN_DIR`
/// with `prepare_a_kiosk_for_screenshots` and a `kiosk.toml`). Walks the flow on a
/// copy of that kiosk's store with that config's `[ui]`, and writes `touches.txt`:
/// one "x y label" per touch.
#[test]
#[ignore = "writes a touch plan for docs/screenshots/kiosk-touches-run.sh"]
fn touch_plan_for_a_real_window() {
    let dir =
        std::path::PathBuf::from(std::env::var("CONGLANG_PLAN_DIR").expect("CONGLANG_PLAN_DIR"));
    let config = Config::load(&dir.join("kiosk.toml")).unwrap();
    let copy = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(dir.join("kiosk")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.path().join(e.file_name())).unwrap();
    }
    let pixels = egui::vec2(1280.0, 800.0);
    let zoom = config.ui.zoom;
    // An hour on: the requests the preparation just made do not pace this one (the
    // real window reaches its submit well after the ~12 s they ask for).
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 3600;
    let mut h = app_with(
        copy.path(),
        Clock::manual(later),
        config.ui.clone(),
        pixels,
        zoom,
    );
    let mut plan: Vec<String> = Vec::new();
    let mut press = |h: &mut Harness<'_, KioskApp>, label: &str| {
        let c = h.get_by_role_and_label(A11y::Button, label).rect().center() * zoom;
        plan.push(format!("{:.0} {:.0} {label}", c.x, c.y));
        h.get_by_role_and_label(A11y::Button, label).click();
        h.run();
    };
    // A word: its letters one at a time until it is offered, then the offer.
    let word = |h: &mut Harness<'_, KioskApp>,
                press: &mut dyn FnMut(&mut Harness<'_, KioskApp>, &str),
                w: &str,
                keys: &str| {
        for k in keys.split(' ') {
            if !w.is_empty() && h.query_by_role_and_label(A11y::Button, w).is_some() {
                press(h, w);
                return;
            }
            let label = match k {
                "_" => "Dấu cách",
                k => k,
            };
            press(h, label);
        }
    };
    press(&mut h, "Gửi câu hỏi");
    press(&mut h, "Hỏi đáp");
    for (w, keys) in crate::ui::SEED_NAME_WORDS {
        word(&mut h, &mut press, w, keys);
    }
    for _ in 0..3 {
        press(&mut h, "Tiếp ›");
    }
    for (w, keys) in crate::ui::SEED_QUESTION_WORDS {
        word(&mut h, &mut press, w, keys);
    }
    press(&mut h, "Tiếp ›");
    press(&mut h, "Gửi đi");
    let a = h.state_mut().station().ask.clone();
    assert!(a.sent_code.is_some(), "{:?}", a.error);
    std::fs::write(dir.join("touches.txt"), plan.join("\n") + "\n").unwrap();
    println!(
        "{} touches written to {}",
        plan.len(),
        dir.join("touches.txt").display()
    );
}
