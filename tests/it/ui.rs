//! The kiosk app driven through its accessibility tree (egui_kittest): the real
//! screens on real SQLite stores, no window and no network. Changes move between
//! nodes with `Repo::import`, as a sync would move them; the apps notice the
//! store changed under them and refresh. A manual clock makes the idle timeout
//! testable without sleeping and the snapshots identical on every run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conglang::config::UiConfig;
use conglang::identity::NodeId;
use conglang::model::text::{format_time_vn, now};
use conglang::model::{Category, NoticeDraft, RequestDraft, RequestKind, Role, Status};
use conglang::repo::Repo;
use conglang::ui::{Clock, KioskApp, Screen, setup_context};
use egui::accesskit::Role as A11y;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::{Harness, SnapshotOptions, SnapshotResults};

/// 08:00 on 10/09/2026 in Vietnam: "now" for every app in these tests.
pub(crate) const T0: i64 = 1_789_002_000;
pub(crate) const NA_KHOANG: &str = "Thôn Nà Khoang";
pub(crate) const BAN_CHANG: &str = "Thôn Bản Chang";

pub(crate) struct Commune {
    pub(crate) _tmp: tempfile::TempDir,
    pub(crate) office: PathBuf,
    pub(crate) kiosk: PathBuf,
}

/// An office and one kiosk in Nà Khoang, the kiosk holding the roster.
/// The seed's name and question typed with tone keys where no word is offered: each
/// word with the keys that type it ("_": the space bar) and the word the flow offers
/// on the way ("": none; before punctuation, typed in full). Shared by the touch-count
/// test (`hall`) and the real window's touch plan (`layout`).
pub(crate) const SEED_NAME_WORDS: &[(&str, &str)] =
    &[("Đinh", "đ i n h _"), ("Thị", "t h i ạ _"), ("", "n i t á")];
pub(crate) const SEED_QUESTION_WORDS: &[(&str, &str)] = &[
    ("tôi", "t ô i _"),
    ("cần", "c â n à _"),
    ("công", "c ô n g _"),
    ("chứng", "c h ư n g á _"),
    ("giấy", "g i â y á _"),
    ("", "t ơ à 123 , ABC _"),
    ("cần", "c â n à _"),
    ("mang", "m a n g _"),
    ("", "g i à 123 ?"),
];

pub(crate) fn commune() -> Commune {
    let tmp = tempfile::tempdir().unwrap();
    let office = tmp.path().join("office");
    let kiosk = tmp.path().join("kiosk");
    let mut o = Repo::open(&office).unwrap();
    o.init_commune("Xã Long Môn", "UBND xã Long Môn").unwrap();
    let mut k = Repo::open(&kiosk).unwrap();
    let invite = o
        .roster_add(
            k.node_id(),
            Role::Kiosk,
            "Kiosk Nà Khoang",
            NA_KHOANG,
            vec![],
        )
        .unwrap();
    k.join(&invite).unwrap();
    let office_id: NodeId = o.node_id();
    k.import(o.all_changes().unwrap(), Some(&office_id))
        .unwrap();
    Commune {
        _tmp: tmp,
        office,
        kiosk,
    }
}

/// Everything `from` holds, imported by `to` (what a sync does).
pub(crate) fn exchange(from: &Path, to: &Path) {
    let from = Repo::open(from).unwrap();
    let mut to = Repo::open(to).unwrap();
    to.import(from.all_changes().unwrap(), Some(&from.node_id()))
        .unwrap();
}

pub(crate) fn app(dir: &Path, clock: Clock) -> Harness<'static, KioskApp> {
    app_sized(dir, clock, egui::vec2(1024.0, 768.0), 1.0)
}

/// The window a village hall has: 1280×800 pixels at the kiosk's zoom of 1.5,
/// i.e. 853×533 points.
pub(crate) const HALL_ZOOM: f32 = 1.5;
pub(crate) fn hall_size() -> egui::Vec2 {
    egui::vec2(1280.0, 800.0) / HALL_ZOOM
}

/// An app in a window `size` points big, drawn at `zoom` pixels per point.
pub(crate) fn app_sized(
    dir: &Path,
    clock: Clock,
    size: egui::Vec2,
    zoom: f32,
) -> Harness<'static, KioskApp> {
    harness(KioskApp::new_for_test(dir, clock).unwrap(), size, zoom)
}

/// `app` in a window `size` points big, drawn at `zoom` pixels per point, one
/// frame run.
fn harness(app: KioskApp, size: egui::Vec2, zoom: f32) -> Harness<'static, KioskApp> {
    let mut h = Harness::builder()
        .with_size(size)
        .with_pixels_per_point(zoom)
        .with_theme(egui::Theme::Light)
        .with_options(SnapshotOptions::new().output_path("tests/snapshots"))
        .with_context_setup(setup_context)
        .build_ui_state(|ui, app: &mut KioskApp| app.show(ui), app);
    h.run();
    h
}

/// An app with a kiosk config's `[ui]` section, in a window of `pixels` at `zoom`.
pub(crate) fn app_with(
    dir: &Path,
    clock: Clock,
    ui: UiConfig,
    pixels: egui::Vec2,
    zoom: f32,
) -> Harness<'static, KioskApp> {
    harness(
        KioskApp::new_for_test_with(dir, clock, ui).unwrap(),
        pixels / zoom,
        zoom,
    )
}

/// Taps what is labelled `label`, scrolling it into view first like a finger would.
pub(crate) fn tap(h: &mut Harness<'_, KioskApp>, label: &str) {
    h.get_by_label(label).scroll_to_me();
    h.run();
    h.get_by_label(label).click();
    h.run();
}

pub(crate) fn tap_button(h: &mut Harness<'_, KioskApp>, label: &str) {
    // "Gửi đi" stands on the ask flow's last step and the kinds of request on its
    // first: go there first, as a resident would by the row of steps.
    // A kind of request, on its first step.
    if h.query_by_role_and_label(A11y::Button, label).is_none() {
        if label == "Gửi đi" {
            go_to_step(h, "Xem lại và gửi");
        } else if ["Hỏi đáp", "Đặt lịch hẹn", "Xin cán bộ đến nhà"].contains(&label)
        {
            go_to_step(h, "Loại yêu cầu");
        }
    }
    h.get_by_role_and_label(A11y::Button, label).scroll_to_me();
    h.run();
    h.get_by_role_and_label(A11y::Button, label).click();
    h.run();
}

/// Opens "Gửi câu hỏi" and chooses a question (the first step): the name is next.
pub(crate) fn start_asking(h: &mut Harness<'_, KioskApp>) {
    tap_button(h, "Gửi câu hỏi");
    tap_button(h, "Hỏi đáp");
}

/// Opens the step of the ask flow named `name` by its chip in the row of steps
/// ("Bước 2: Họ và tên").
pub(crate) fn go_to_step(h: &mut Harness<'_, KioskApp>, name: &str) {
    let suffix = format!(": {name}");
    h.get_by(|n| {
        n.role() == A11y::Button
            && n.label()
                .is_some_and(|l| l.starts_with("Bước ") && l.ends_with(&suffix))
    })
    .click();
    h.run();
}

/// Taps the text field labelled `label`; on the ask flow, opens its step first.
pub(crate) fn tap_field(h: &mut Harness<'_, KioskApp>, label: &str) {
    let shown = h
        .query_by(|n| {
            matches!(n.role(), A11y::TextInput | A11y::MultilineTextInput)
                && n.label().as_deref() == Some(label)
        })
        .is_some();
    if !shown {
        go_to_step(h, label);
    }
    field(h, label).scroll_to_me();
    h.run();
    field(h, label).click();
    h.run();
}

/// Taps the on-screen keys for `keys`; `^` is the shift key.
pub(crate) fn tap_keys(h: &mut Harness<'_, KioskApp>, keys: &str) {
    let mut shift = false;
    for c in keys.chars() {
        match c {
            '^' => {
                tap(h, "Chữ hoa");
                shift = true;
                continue;
            }
            ' ' => tap(h, "Dấu cách"),
            c => {
                let label = if shift { c.to_ascii_uppercase() } else { c };
                tap(h, &label.to_string());
            }
        }
        shift = false;
    }
}

/// The text field (one line or several) labelled `label`.
pub(crate) fn field<'a>(h: &'a Harness<'_, KioskApp>, label: &'a str) -> egui_kittest::Node<'a> {
    h.get_by(move |n| {
        matches!(n.role(), A11y::TextInput | A11y::MultilineTextInput)
            && n.label().as_deref() == Some(label)
    })
}

/// Types on a physical keyboard into the text field labelled `label`.
pub(crate) fn type_into(h: &mut Harness<'_, KioskApp>, label: &str, text: &str) {
    tap_field(h, label);
    field(h, label).type_text(text);
    h.run();
}

fn post_from_console(h: &mut Harness<'_, KioskApp>, title: &str, urgent: bool) {
    tap_button(h, "Soạn thông báo mới");
    type_into(h, "Tiêu đề", title);
    type_into(
        h,
        "Nội dung thông báo",
        "Mang theo giấy khai sinh; trẻ dưới 18 tuổi có bố hoặc mẹ đi cùng.",
    );
    tap_button(h, "Lịch hẹn, Căn cước");
    if urgent {
        tap(h, "Khẩn cấp (hiện băng đỏ trên kiosk)");
    }
    type_into(h, "Thời gian diễn ra", "07:30 15/09/2026");
    type_into(h, "Địa điểm diễn ra", "Nhà văn hóa Thôn Nà Khoang");
    tap_button(h, "Đăng thông báo");
    let o = &h.state_mut().station().official;
    assert!(o.compose.is_none(), "{:?}", o.compose_error);
}

#[test]
fn notice_posted_on_the_console_reaches_the_kiosk() {
    let c = commune();
    let clock = Clock::manual(T0);
    let mut office = app(&c.office, clock.clone());
    let mut kiosk = app(&c.kiosk, clock);
    let title = "Lịch cấp Căn cước lưu động";
    post_from_console(&mut office, title, false);
    post_from_console(&mut office, "Cảnh báo lũ quét", true);
    let notices = Repo::open(&c.office).unwrap().notices().unwrap();
    assert_eq!(notices.len(), 2, "{notices:?}");
    let n = notices.iter().find(|n| n.title == title).unwrap();
    assert_eq!(n.category, Category::Schedule);
    assert_eq!(n.place.as_deref(), Some("Nhà văn hóa Thôn Nà Khoang"));
    assert_eq!(format_time_vn(n.starts.unwrap()), "07:30 15/09/2026");
    // The console lists it, with its reach.
    assert_eq!(
        office.query_all_by_label_contains("Đã đến 0/1 máy").count(),
        2
    );

    assert!(kiosk.query_by_role_and_label(A11y::Button, title).is_none());
    exchange(&c.office, &c.kiosk);
    kiosk.run();
    kiosk.get_by_label_contains("KHẨN CẤP: Cảnh báo lũ quét");
    tap_button(&mut kiosk, title);
    kiosk.get_by_label("Nhà văn hóa Thôn Nà Khoang");
    kiosk.get_by_label("07:30 15/09/2026");
    tap(&mut kiosk, "Quay lại");
    assert_eq!(kiosk.state_mut().station().screen, Some(Screen::Home));

    // The kiosk's receipt travels back: the console shows the notice reached it.
    exchange(&c.kiosk, &c.office);
    office.run();
    assert_eq!(
        office.query_all_by_label_contains("Đã đến 1/1 máy").count(),
        2
    );
}

#[test]
fn request_typed_on_the_kiosk_keyboard_is_answered_and_looked_up() {
    let c = commune();
    let clock = Clock::manual(T0);
    let mut kiosk = app(&c.kiosk, clock.clone());
    let mut office = app(&c.office, clock);

    start_asking(&mut kiosk);
    // The name field is the one the keyboard types into at first.
    tap_keys(&mut kiosk, "^lof ^vawn ^vieejt");
    assert_eq!(kiosk.state_mut().station().ask.name, "Lò Văn Việt");
    tap_field(&mut kiosk, "Nội dung");
    tap_keys(&mut kiosk, "xin hejn lamf giaays khai sinh");
    // The phone field opens the keyboard on its digits.
    tap_field(&mut kiosk, "Điện thoại");
    tap_keys(&mut kiosk, "0912345678");
    tap_button(&mut kiosk, "Đặt lịch hẹn");
    tap_button(&mut kiosk, "Gửi đi");
    let ask = &kiosk.state_mut().station().ask;
    let code = ask
        .sent_code
        .clone()
        .unwrap_or_else(|| panic!("no code: {:?}", ask.error));
    kiosk.get_by_label(&code);
    kiosk.get_by_label("Đã gửi! Mã tra cứu của bạn:");
    let r = Repo::open(&c.kiosk)
        .unwrap()
        .request(&code)
        .unwrap()
        .unwrap();
    assert_eq!(r.name, "Lò Văn Việt");
    // The first letter of the question is raised, as a phone keyboard does.
    assert_eq!(r.text, "Xin hẹn làm giấy khai sinh");
    assert_eq!(r.hamlet, NA_KHOANG);
    assert_eq!(r.kind, RequestKind::Appointment);

    // The office answers, with an appointment; the phone is shown there in clear.
    exchange(&c.kiosk, &c.office);
    office.run();
    tap_button(&mut office, "Yêu cầu của dân");
    office.get_by_label_contains("Liên hệ: 0912345678");
    tap_button(&mut office, &format!("Trả lời {code}"));
    type_into(
        &mut office,
        "Câu trả lời",
        "Mời anh mang giấy chứng sinh đến UBND xã.",
    );
    type_into(&mut office, "Hẹn lúc (không bắt buộc)", "09:00 16/09/2026");
    type_into(&mut office, "Hẹn tại", "Bộ phận một cửa UBND xã");
    tap_button(&mut office, "Gửi trả lời");
    let r = Repo::open(&c.office)
        .unwrap()
        .request(&code)
        .unwrap()
        .unwrap();
    assert_eq!(r.status, Status::Scheduled);
    assert_eq!(r.answers.len(), 1);

    // Back on the kiosk, the resident types the code and reads the answer.
    exchange(&c.office, &c.kiosk);
    kiosk.run();
    tap_button(&mut kiosk, "Tra cứu");
    // The keyboard opens on its digits; the commune's letters are optional.
    let (_, digits) = code.split_once('-').unwrap();
    tap_keys(&mut kiosk, digits);
    assert_eq!(kiosk.state_mut().station().lookup.code, digits);
    tap_button(&mut kiosk, "Tìm");
    kiosk.get_by_label("Mời anh mang giấy chứng sinh đến UBND xã.");
    kiosk.get_by_label("Tình trạng: Đã hẹn lịch");
    kiosk.get_by_label("09:00 16/09/2026 tại Bộ phận một cửa UBND xã");
    // Not public: the kiosk shows the name shortened and never the phone.
    kiosk.get_by_label_contains("Lò Văn V.");
    assert!(kiosk.query_by_label_contains("Lò Văn Việt").is_none());
    assert!(kiosk.query_by_label_contains("0912").is_none());
}

#[test]
fn idle_kiosk_returns_home_and_forgets_typed_input() {
    let c = commune();
    let clock = Clock::manual(T0);
    let mut kiosk = app(&c.kiosk, clock.clone());
    let idle = kiosk.state().ui_config.idle_seconds;
    start_asking(&mut kiosk);
    tap_keys(&mut kiosk, "^nguyeenx");
    assert_eq!(kiosk.state_mut().station().ask.name, "Nguyễn");

    clock.advance(Duration::from_secs(idle - 5));
    kiosk.run();
    assert_eq!(kiosk.state_mut().station().screen, Some(Screen::Ask));
    assert_eq!(kiosk.state_mut().station().ask.name, "Nguyễn");

    clock.advance(Duration::from_secs(6));
    kiosk.run();
    let st = kiosk.state_mut().station();
    assert_eq!(st.screen, Some(Screen::Home));
    assert!(st.ask.name.is_empty());
    assert_eq!(
        st.ask.hamlet, NA_KHOANG,
        "the kiosk's own hamlet comes back"
    );
    assert!(kiosk.query_by_label("Nguyễn").is_none());
    start_asking(&mut kiosk);
    assert_eq!(field(&kiosk, "Họ và tên").value().unwrap_or_default(), "");
}

#[test]
fn a_kiosk_has_no_notice_compose_control() {
    let c = commune();
    let mut kiosk = app(&c.kiosk, Clock::manual(T0));
    for nav in ["Thông báo", "Thủ tục", "Gửi câu hỏi", "Tra cứu"] {
        tap_button(&mut kiosk, nav);
        assert!(
            kiosk.query_by_label("Soạn thông báo mới").is_none(),
            "{nav}"
        );
        assert!(kiosk.query_by_label("Đăng thông báo").is_none(), "{nav}");
        assert!(kiosk.query_by_label("Quản lý thông báo").is_none(), "{nav}");
    }
    // Even forced onto the console screen, a kiosk gets no console.
    kiosk.state_mut().station().screen = Some(Screen::ManageNotices);
    kiosk.run();
    assert!(kiosk.query_by_label("Soạn thông báo mới").is_none());
    // The office, for contrast, has it.
    let office = app(&c.office, Clock::manual(T0));
    assert!(office.query_by_label("Soạn thông báo mới").is_some());
}

#[test]
fn language_switches_to_english_and_back() {
    let c = commune();
    let mut kiosk = app(&c.kiosk, Clock::manual(T0));
    tap_button(&mut kiosk, "English");
    kiosk.get_by_role_and_label(A11y::Button, "Procedures");
    tap_button(&mut kiosk, "Ask");
    kiosk.get_by_label("What do you need?");
    tap_button(&mut kiosk, "Question");
    field(&kiosk, "Full name");
    kiosk.get_by_role_and_label(A11y::Button, "Next ›");
    tap_button(&mut kiosk, "Tiếng Việt");
    field(&kiosk, "Họ và tên");
    kiosk.get_by_role_and_label(A11y::Button, "Bước 2: Họ và tên");
}

// ---- layout on a real kiosk screen ---------------------------------------------

pub(crate) const KEYS: [&str; 30] = [
    "q",
    "w",
    "e",
    "r",
    "t",
    "y",
    "u",
    "i",
    "o",
    "p",
    "a",
    "s",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "z",
    "x",
    "c",
    "v",
    "b",
    "n",
    "m",
    "Chữ hoa",
    "123",
    "Dấu cách",
    "Xóa",
];

/// Checks the on-screen keyboard at 1280×800, zoom 1.5: every key wholly inside
/// the window and clear of every other widget, and the field typed into (and the
/// `action` button) in sight, clear of the keys. Call it with the screen scrolled
/// to its end, so nothing of the scrolled screen is hidden below its bottom edge.
pub(crate) fn assert_keyboard_clear(h: &Harness<'_, KioskApp>, typed_into: &str, action: &str) {
    let window = egui::Rect::from_min_size(egui::Pos2::ZERO, hall_size());
    let keys: Vec<(&str, egui::Rect)> = KEYS
        .iter()
        .map(|k| (*k, h.get_by_role_and_label(A11y::Button, k).rect()))
        .collect();
    for (k, r) in &keys {
        assert!(
            window.contains_rect(*r),
            "key {k:?} at {r:?} is outside {window:?}"
        );
        assert!(
            r.height() >= 48.0 && r.width() >= 48.0,
            "key {k:?} is {r:?}"
        );
    }
    let top = keys
        .iter()
        .map(|(_, r)| r.top())
        .fold(f32::INFINITY, f32::min);
    let typed = field(h, typed_into).rect();
    assert!(
        window.contains_rect(typed) && typed.bottom() <= top,
        "{typed_into:?} at {typed:?}, keys from y={top}"
    );
    let action = h.get_by_role_and_label(A11y::Button, action).rect();
    assert!(
        window.contains_rect(action) && action.bottom() <= top,
        "{action:?}"
    );
    // Nothing else is drawn over a key.
    for n in h.root().query_all_by(|n| {
        matches!(
            n.role(),
            A11y::Button
                | A11y::Label
                | A11y::TextInput
                | A11y::MultilineTextInput
                | A11y::CheckBox
        )
    }) {
        let r = n.rect();
        let (role, label) = {
            let a = n.accesskit_node();
            (a.role(), a.label().unwrap_or_default())
        };
        if keys.iter().any(|(k, kr)| *k == label && *kr == r) {
            continue;
        }
        for (k, kr) in &keys {
            assert!(
                !r.shrink(0.5).intersects(kr.shrink(0.5)),
                "{role:?} {label:?} at {r:?} overlaps key {k:?} at {kr:?}"
            );
        }
    }
}

#[test]
fn ask_screen_keyboard_and_typed_field_fit_a_1280x800_kiosk() {
    let c = commune();
    let mut kiosk = app_sized(&c.kiosk, Clock::manual(T0), hall_size(), HALL_ZOOM);
    start_asking(&mut kiosk);
    for (typed_into, keys) in [
        ("Họ và tên", "^lof ^vawn ^vieejt"),
        ("Nội dung", "xin hejn lamf giaays khai sinh"),
    ] {
        if typed_into != "Họ và tên" {
            tap_field(&mut kiosk, typed_into);
        }
        for k in keys.chars() {
            // Straight taps, no scrolling: the keys must already be in reach.
            let label = match k {
                '^' => "Chữ hoa".to_string(),
                ' ' => "Dấu cách".to_string(),
                c if kiosk.state_mut().station().ask.keyboard != Default::default() => {
                    c.to_ascii_uppercase().to_string()
                }
                c => c.to_string(),
            };
            kiosk.get_by_role_and_label(A11y::Button, &label).click();
            kiosk.run();
        }
        assert_keyboard_clear(&kiosk, typed_into, "Tiếp ›");
    }
    let ask = &kiosk.state_mut().station().ask;
    assert_eq!(ask.name, "Lò Văn Việt");
    assert_eq!(ask.text, "Xin hẹn làm giấy khai sinh");
    assert_eq!(
        field(&kiosk, "Nội dung").value().as_deref(),
        Some("Xin hẹn làm giấy khai sinh")
    );
    kiosk.snapshot("ask_1280x800");
    // Every field can be reached and typed into at this size.
    // The phone gets the number pad, below the field.
    tap_field(&mut kiosk, "Điện thoại");
    let pad_top = kiosk.get_by_role_and_label(A11y::Button, "1").rect().top();
    assert!(field(&kiosk, "Điện thoại").rect().bottom() <= pad_top);
    assert!(kiosk.query_by_role_and_label(A11y::Button, "q").is_none());
    tap_field(&mut kiosk, "Thôn");
    assert_keyboard_clear(&kiosk, "Thôn", "Tiếp ›");
    tap_button(&mut kiosk, "Xin cán bộ đến nhà");
    tap_button(&mut kiosk, "Gửi đi");
    assert!(kiosk.state_mut().station().ask.sent_code.is_some());
}

#[test]
fn lookup_screen_keyboard_and_code_fit_a_1280x800_kiosk() {
    let c = commune();
    let mut kiosk = app_sized(&c.kiosk, Clock::manual(T0), hall_size(), HALL_ZOOM);
    tap_button(&mut kiosk, "Tra cứu");
    tap(&mut kiosk, "ABC");
    for k in ["a", "b", "c"] {
        kiosk.get_by_role_and_label(A11y::Button, k).click();
        kiosk.run();
    }
    assert_keyboard_clear(&kiosk, "Mã tra cứu", "Tìm");
    assert_eq!(field(&kiosk, "Mã tra cứu").value().as_deref(), Some("abc"));
    kiosk.snapshot("lookup_1280x800");
    kiosk.get_by_label("Tra cứu câu hỏi đã gửi");
    tap_button(&mut kiosk, "Tìm");
    kiosk.get_by_label_contains("ABC");
    // The keyboard folded away; tapping the code brings it back.
    assert!(kiosk.query_by_label("q").is_none());
    tap_field(&mut kiosk, "Mã tra cứu");
    assert_keyboard_clear(&kiosk, "Mã tra cứu", "Tìm");
}

#[test]
fn every_screen_opens_at_its_top() {
    let f = full_commune();
    let mut kiosk = app_sized(&f.kiosk, Clock::manual(T0), hall_size(), HALL_ZOOM);
    let tabs_bottom = kiosk
        .get_by_role_and_label(A11y::Button, "Thông báo")
        .rect()
        .bottom();
    let first = "Cảnh báo bão số 5: mưa lớn, nguy cơ lũ quét";
    let at_top = |h: &Harness<'_, KioskApp>, label: &str| {
        let r = h.get_by_label_contains(label).rect();
        // Below the tabs, and no lower than a screen heading pushes it.
        r.top() >= tabs_bottom && r.top() < tabs_bottom + 130.0
    };
    assert!(at_top(&kiosk, first));
    // Scrolled to the bottom of the notices…
    kiosk
        .get_by_role_and_label(A11y::Button, "Hỗ trợ làm nhà cho hộ nghèo năm 2026")
        .scroll_to_me();
    kiosk.run();
    assert!(!at_top(&kiosk, first), "the home screen did not scroll");
    // …the procedures still open at their first one, and scroll on their own.
    tap_button(&mut kiosk, "Thủ tục");
    assert!(at_top(&kiosk, "Cấp Căn cước (lần đầu, từ 14 tuổi)"));
    kiosk
        .get_by_label("2. Căn cước của bố hoặc mẹ")
        .scroll_to_me();
    kiosk.run();
    assert!(!at_top(&kiosk, "Cấp Căn cước (lần đầu, từ 14 tuổi)"));
    // Back on the notices: at the top again, and so are the procedures after.
    tap_button(&mut kiosk, "Thông báo");
    assert!(at_top(&kiosk, first), "home kept its old scroll position");
    tap_button(&mut kiosk, "Thủ tục");
    assert!(at_top(&kiosk, "Cấp Căn cước (lần đầu, từ 14 tuổi)"));
}

#[test]
fn dragging_a_list_scrolls_it() {
    let f = full_commune();
    let mut kiosk = app_sized(&f.kiosk, Clock::manual(T0), hall_size(), HALL_ZOOM);
    let first = "Cảnh báo bão số 5: mưa lớn, nguy cơ lũ quét";
    let before = kiosk.get_by_label_contains(first).rect();
    let start = egui::pos2(before.center().x, before.bottom() + 120.0);
    kiosk.drag_at(start);
    kiosk.run();
    for dy in [20.0, 60.0, 100.0, 150.0] {
        kiosk.hover_at(start - egui::vec2(0.0, dy));
        kiosk.run();
    }
    kiosk.drop_at(start - egui::vec2(0.0, 150.0));
    kiosk.run();
    let after = kiosk.get_by_label_contains(first).rect();
    assert!(
        after.top() < before.top() - 100.0,
        "{before:?} -> {after:?}"
    );
    assert_eq!(kiosk.state_mut().station().screen, Some(Screen::Home));
}

#[test]
fn header_and_footer_are_compact_at_1280x800() {
    let f = full_commune();
    let mut kiosk = app_sized(&f.kiosk, Clock::manual(T0), hall_size(), HALL_ZOOM);
    let tabs: Vec<egui::Rect> = ["Thông báo", "Thủ tục", "Gửi câu hỏi", "Tra cứu", "English"]
        .iter()
        .map(|t| kiosk.get_by_role_and_label(A11y::Button, t).rect())
        .collect();
    for t in &tabs {
        assert!(t.height() >= 48.0, "{t:?}");
        let dy = (t.center().y - tabs[0].center().y).abs();
        assert!(dy < 4.0, "the tabs wrapped: {tabs:?}");
        assert!(t.bottom() <= 70.0, "{t:?}");
    }
    let footer = kiosk.get_by_label("Cổng Làng").rect();
    let synced = kiosk
        .query_by_label_contains("Cập nhật lúc")
        .or_else(|| kiosk.query_by_label("Chưa trao đổi dữ liệu với máy nào"))
        .unwrap()
        .rect();
    assert!(
        (footer.center().y - synced.center().y).abs() < 4.0,
        "{footer:?} {synced:?}"
    );
    assert!(footer.top() > hall_size().y - 40.0, "{footer:?}");
    tap_button(&mut kiosk, "English");
    kiosk.get_by_role_and_label(A11y::Button, "Look up");
}

// ---- snapshots -------------------------------------------------------------------

pub(crate) struct Full {
    pub(crate) _tmp: tempfile::TempDir,
    pub(crate) office: PathBuf,
    pub(crate) kiosk: PathBuf,
    pub(crate) courier: PathBuf,
    pub(crate) code: String,
}

/// Waits for the next wall-clock second, so notices posted one after the other
/// have distinct times and always list in the same order.
pub(crate) fn next_second() {
    let t = now();
    while now() == t {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A commune with content on every screen: office, kiosks in Nà Khoang and Bản
/// Chang, a courier; Bản Chang has missed the last notice.
pub(crate) fn full_commune() -> Full {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n);
    let (office, kiosk, kiosk2, courier) =
        (dir("office"), dir("kiosk"), dir("kiosk2"), dir("courier"));
    let mut o = Repo::open(&office).unwrap();
    o.init_commune("Xã Long Môn", "UBND xã Long Môn").unwrap();
    for (d, role, name, place) in [
        (&kiosk, Role::Kiosk, "Kiosk Nà Khoang", NA_KHOANG),
        (&kiosk2, Role::Kiosk, "Kiosk Bản Chang", BAN_CHANG),
        (&courier, Role::Courier, "Laptop liên lạc", "Xã Long Môn"),
    ] {
        let mut r = Repo::open(d).unwrap();
        let invite = o
            .roster_add(r.node_id(), role, name, place, vec![])
            .unwrap();
        r.join(&invite).unwrap();
    }
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    o.add_procedure(
        "Cấp Căn cước (lần đầu, từ 14 tuổi)",
        &s(&["Giấy khai sinh", "Người dưới 18 tuổi: bố hoặc mẹ đi cùng"]),
        "Miễn phí lần đầu",
        Some(7),
        &s(&["Đến Công an xã", "Chụp ảnh, lấy vân tay"]),
    )
    .unwrap();
    o.add_procedure(
        "Đăng ký khai sinh",
        &s(&["Giấy chứng sinh", "Căn cước của bố hoặc mẹ"]),
        "Miễn phí trong 60 ngày",
        Some(1),
        &[],
    )
    .unwrap();
    let t = |s: &str| conglang::ui::widgets::parse_vn_time(s, false).unwrap();
    let notices = [
        NoticeDraft {
            title: "Hỗ trợ làm nhà cho hộ nghèo năm 2026".into(),
            body: "Hộ nghèo chưa có nhà kiên cố đăng ký với trưởng thôn trước ngày 30/09.".into(),
            category: Some(Category::Policy),
            ..Default::default()
        },
        NoticeDraft {
            title: "Lịch cấp Căn cước lưu động".into(),
            body: "Mang giấy khai sinh; trẻ dưới 18 tuổi có bố hoặc mẹ đi cùng.".into(),
            category: Some(Category::Schedule),
            starts: t("07:30 15/09/2026"),
            place: Some("Nhà văn hóa Thôn Nà Khoang".into()),
            ..Default::default()
        },
        NoticeDraft {
            title: "Họp thôn bàn làm đường bê tông".into(),
            body: "Mời đại diện các hộ đến họp.".into(),
            category: Some(Category::Other),
            starts: t("19:30 12/09/2026"),
            place: Some("Nhà văn hóa thôn".into()),
            ..Default::default()
        },
        NoticeDraft {
            title: "Cảnh báo bão số 5: mưa lớn, nguy cơ lũ quét".into(),
            body: "Không qua suối, ngầm tràn khi nước lên.".into(),
            category: Some(Category::Storm),
            urgent: true,
            ..Default::default()
        },
    ];
    for n in &notices {
        next_second();
        o.post_notice(n).unwrap();
    }
    drop(o);
    for d in [&kiosk, &kiosk2, &courier] {
        exchange(&office, d);
    }
    // The last notice reaches Nà Khoang (and the courier), not Bản Chang.
    next_second();
    Repo::open(&office)
        .unwrap()
        .post_notice(&NoticeDraft {
            title: "Tiêm vắc xin sởi cho trẻ từ 1 đến 5 tuổi".into(),
            body: "Mang theo sổ tiêm chủng.".into(),
            category: Some(Category::Health),
            starts: t("08:00 13/09/2026"),
            place: Some("Trạm Y tế xã".into()),
            ..Default::default()
        })
        .unwrap();
    exchange(&office, &kiosk);
    let req = Repo::open(&kiosk)
        .unwrap()
        .submit_request(&RequestDraft {
            kind: Some(RequestKind::Question),
            hamlet: NA_KHOANG.into(),
            name: "Hoàng Văn Páo".into(),
            text: "Con tôi 14 tuổi làm căn cước cần mang gì ạ?".into(),
            phone: Some("0912 345 678".into()),
            public: false,
        })
        .unwrap();
    exchange(&kiosk, &office);
    Repo::open(&office)
        .unwrap()
        .answer_request(
            &req.code,
            "Cháu mang giấy khai sinh, bố hoặc mẹ đi cùng.",
            None,
            None,
        )
        .unwrap();
    exchange(&office, &kiosk);
    exchange(&kiosk, &courier);
    exchange(&kiosk2, &courier);
    exchange(&office, &courier);
    Full {
        _tmp: tmp,
        office,
        kiosk,
        courier,
        code: req.code,
    }
}

/// Covers every row showing one of `needles` (wall-clock times, random codes) so
/// the image is the same on every run.
pub(crate) fn mask(h: &mut Harness<'_, KioskApp>, needles: &[String]) {
    let rects: Vec<egui::Rect> = h
        .root()
        .query_all_by(|n| {
            if !matches!(n.role(), A11y::Label | A11y::TextInput | A11y::Button) {
                return false;
            }
            let label = n.label().unwrap_or_default();
            let value = n.value().unwrap_or_default();
            needles
                .iter()
                .any(|x| label.contains(x.as_str()) || value.contains(x.as_str()))
        })
        .map(|n| n.rect())
        .collect();
    for r in rects {
        h.mask(egui::Rect::from_x_y_ranges(0.0..=1024.0, r.y_range()).expand(2.0));
    }
}

/// Times stamped by the real clock in `dir` (posting and answer times).
pub(crate) fn wall_times(dir: &Path) -> Vec<String> {
    let r = Repo::open(dir).unwrap();
    let mut out: Vec<String> = r
        .notices()
        .unwrap()
        .iter()
        .map(|n| format_time_vn(n.created_at))
        .collect();
    for q in r.requests().unwrap() {
        out.push(format_time_vn(q.created_at));
        out.extend(q.answers.iter().map(|a| format_time_vn(a.at)));
    }
    out
}

#[test]
fn snapshots_of_every_screen() {
    let f = full_commune();
    let clock = Clock::manual(T0);
    let mut dynamic = wall_times(&f.office);
    dynamic.push(f.code.clone());
    dynamic.push(f.code.to_lowercase());
    dynamic.push(f.code.split_once('-').unwrap().1.to_string());

    // Three harnesses in one test: their results must be merged and checked once.
    let mut results = SnapshotResults::default();
    let mut kiosk = app(&f.kiosk, clock.clone());
    kiosk.snapshot("home");
    tap_button(&mut kiosk, "Lịch cấp Căn cước lưu động");
    mask(&mut kiosk, &dynamic);
    kiosk.snapshot("notice_detail");
    tap_button(&mut kiosk, "Thủ tục");
    kiosk.snapshot("procedures");
    start_asking(&mut kiosk);
    tap_keys(&mut kiosk, "^ddinh ^thij ^nowr");
    kiosk.snapshot("ask");
    tap_button(&mut kiosk, "Tra cứu");
    let (_, digits) = f.code.split_once('-').unwrap();
    tap_keys(&mut kiosk, digits);
    tap_button(&mut kiosk, "Tìm");
    kiosk.get_by_label("Cháu mang giấy khai sinh, bố hoặc mẹ đi cùng.");
    mask(&mut kiosk, &dynamic);
    kiosk.snapshot("lookup");
    results.extend_harness(&mut kiosk);

    let mut office = app(&f.office, clock.clone());
    mask(&mut office, &dynamic);
    office.snapshot("official_console");
    tap_button(&mut office, "Yêu cầu của dân");
    mask(&mut office, &dynamic);
    office.snapshot("official_inbox");
    // The office sees the villages too, on the exchange screen.
    tap_button(&mut office, "Trao đổi dữ liệu");
    office.get_by_label("Đã đủ tin");
    office.get_by_label("Chưa có biên nhận từ máy này");
    assert!(
        office
            .query_by_label("Chuyến này chưa gặp máy này")
            .is_none()
    );
    office.get_by_label("Chưa trao đổi với máy nào.");
    office.snapshot("official_exchange");
    results.extend_harness(&mut office);

    let mut courier = app(&f.courier, clock);
    courier.get_by_label("Thiếu 1 thông báo");
    courier.get_by_label("Đã đủ tin");
    courier.snapshot("courier");
    results.extend_harness(&mut courier);
    results.unwrap();
}

#[test]
fn demo_commune_starts_in_sync_and_is_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = conglang::demo::create(tmp.path()).unwrap();
    assert_eq!(demo.nodes.len(), 4);
    let mut ids = Vec::new();
    for n in &demo.nodes {
        let r = Repo::open(&n.data_dir).unwrap();
        assert_eq!(r.my_role().unwrap(), Some(n.role), "{}", n.label);
        assert_eq!(r.commune_name().unwrap().as_deref(), Some("Xã Long Môn"));
        assert_eq!(r.notices().unwrap().len(), 5, "{}", n.label);
        assert_eq!(r.procedures().unwrap().len(), 3, "{}", n.label);
        let requests = r.requests().unwrap();
        assert_eq!(requests.len(), 3, "{}", n.label);
        assert!(requests.iter().any(|q| q.status == Status::Scheduled));
        assert!(r.notices().unwrap().iter().any(|x| x.urgent));
        ids.push(r.node_id());
    }
    // Every kiosk's receipt reached the office: each notice reached all three.
    let office = Repo::open(&demo.nodes[0].data_dir).unwrap();
    for n in office.notices().unwrap() {
        assert_eq!(office.reach(&n.id).unwrap().len(), 3, "{}", n.title);
    }
    drop(office);
    let again = conglang::demo::create(tmp.path()).unwrap();
    for (n, id) in again.nodes.iter().zip(ids) {
        assert_eq!(Repo::open(&n.data_dir).unwrap().node_id(), id);
    }
}
