//! The exchange screen ("Trao đổi dữ liệu") on real nodes: the app's station runs on
//! a `BackgroundNode` (real store, real iroh endpoint) and the screen is read through
//! its accessibility tree (egui_kittest) while a real sync runs. The slow transfer
//! goes through the link emulator between two network namespaces, so the screen can
//! be seen mid-transfer (on loopback iroh would leave the emulated link); the nearby
//! stranger is found by real mDNS on a veth cable. Namespace tests need root and are
//! skipped (with a message) without it.

use std::path::Path;
use std::time::{Duration, Instant};

use conglang::config::{PeerAddr, UiConfig};
use conglang::lab::link::{LinkSpec, Relay};
use conglang::lab::netns::{Lan, Pair as NsPair};
use conglang::model::text::now;
use conglang::model::{Category, NoticeDraft, Role};
use conglang::net::NetConfig;
use conglang::node::{BackgroundNode, NodeOptions};
use conglang::repo::Repo;
use conglang::ui::widgets::hhmm;
use conglang::ui::{Clock, KioskApp, Station, setup_context};
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::{Harness, SnapshotOptions};

use crate::ui::{HALL_ZOOM, hall_size};

const OFFICE: &str = "UBND xã Long Môn";
const STORM: &str = "Cảnh báo bão số 5: mưa lớn, nguy cơ lũ quét";

/// The app on one running node, in a village hall's 1280×800 window.
fn app_on(node: &BackgroundNode) -> Harness<'static, KioskApp> {
    let station = Station::for_node(None, node.handle.clone(), None);
    let app = KioskApp::new(vec![station], UiConfig::default(), Clock::system());
    Harness::builder()
        .with_size(hall_size())
        .with_pixels_per_point(HALL_ZOOM)
        .with_theme(egui::Theme::Light)
        .with_options(SnapshotOptions::new().output_path("tests/snapshots"))
        .with_context_setup(setup_context)
        .build_ui_state(|ui, app: &mut KioskApp| app.show(ui), app)
}

/// Opens the exchange screen from the navigation row. (Frames are stepped, not
/// run to rest: a spinner asks for frames while a sync goes on.)
fn open_exchange(h: &mut Harness<'_, KioskApp>) {
    // The first view comes from the node's core thread.
    assert!(
        wait_for(h, Duration::from_secs(10), |s| s
            .iter()
            .any(|l| l == "Trao đổi dữ liệu")),
        "no navigation row"
    );
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Trao đổi dữ liệu")
        .click();
    h.run_steps(3);
}

/// Covers every row (labels, the progress bar…) showing one of `needles`.
fn mask_any(h: &mut Harness<'_, KioskApp>, needles: &[&str]) {
    let rects: Vec<egui::Rect> = h
        .root()
        .query_all_by(|n| {
            [n.label(), n.value()]
                .into_iter()
                .flatten()
                .any(|t| needles.iter().any(|x| t.contains(x)))
        })
        .map(|n| n.rect())
        .collect();
    for r in rects {
        h.mask(egui::Rect::from_x_y_ranges(0.0..=2000.0, r.y_range()).expand(2.0));
    }
}

/// Every label (and progress-bar text) on screen.
fn shown(h: &Harness<'_, KioskApp>) -> Vec<String> {
    h.root()
        .query_all_by(|_| true)
        .flat_map(|n| {
            let a = n.accesskit_node();
            [a.label(), a.value()]
        })
        .flatten()
        .collect()
}

/// Draws frames until `f` holds on what is shown, or `limit` passes.
fn wait_for(
    h: &mut Harness<'_, KioskApp>,
    limit: Duration,
    mut f: impl FnMut(&[String]) -> bool,
) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        // Not `run`: a spinner keeps asking for frames while a sync goes on.
        h.run_steps(2);
        if f(&shown(h)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    false
}

fn net(listen: std::net::SocketAddr, mdns: bool) -> NetConfig {
    NetConfig {
        listen,
        mdns,
        relay_url: None,
    }
}

/// Starts a node on `dir` inside namespace `path` (a thread that entered it: the
/// node's runtime threads stay there).
fn start_in(path: String, dir: &Path, opts: NodeOptions) -> BackgroundNode {
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(&path).expect("namespace handle");
        // SAFETY: a valid namespace fd; affects only this thread and its children.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        BackgroundNode::start(dir, opts).expect("node starts")
    })
    .join()
    .expect("node thread")
}

/// An office holding a backlog of `n` notices and one urgent storm warning, and a
/// kiosk in Nà Khoang that holds only the roster.
fn office_with_backlog(base: &Path, n: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let pair = conglang::lab::Pair::create(base).unwrap();
    let conglang::lab::Pair {
        mut office, kiosk, ..
    } = pair;
    let id = office.identity().clone();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(12);
    let backlog: Vec<_> = (0..n)
        .map(|_| conglang::lab::notice(&id, &mut rng, 700, false))
        .collect();
    conglang::lab::load(&mut office, backlog, None).unwrap();
    office
        .post_notice(&NoticeDraft {
            title: STORM.into(),
            body: "Không qua suối, ngầm tràn khi nước lên.".into(),
            category: Some(Category::Storm),
            urgent: true,
            ..Default::default()
        })
        .unwrap();
    drop((office, kiosk));
    (base.join("office"), base.join("kiosk"))
}

/// The test: a kiosk meets the office over a slow link. The screen says who
/// it is exchanging with, the urgent notice arrives first and says so while the rest
/// is still moving, the bar shows bytes and time left, and once done the kiosk says
/// "Đã cập nhật với UBND xã Long Môn lúc HH:MM" — also after a restart (stored).
#[test]
fn a_slow_transfer_shows_urgent_first_progress_then_up_to_date_with_the_office() {
    let ns = match NsPair::create("exch") {
        Ok(p) => p,
        Err(e) => {
            eprintln!("SKIPPED: cannot create network namespaces here (needs root): {e:#}");
            return;
        }
    };
    let base = tempfile::tempdir().unwrap();
    let (office_dir, kiosk_dir) = office_with_backlog(base.path(), 600);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let path = |i: usize| format!("/var/run/netns/{}", ns.names[i]);
    let office = start_in(
        path(0),
        &office_dir,
        NodeOptions {
            net: net(std::net::SocketAddr::new(ns.inner[0], 0), false),
            peers: vec![],
            redial: true,
            speak_version: None,
        },
    );
    // 400 kbit/s each way, 100 ms: a few seconds for the backlog.
    let spec = LinkSpec {
        rtt: Duration::from_millis(100),
        rate_bps: 400_000,
        ..LinkSpec::perfect()
    };
    let relay = rt
        .block_on(Relay::start_on(
            ns.outer[1],
            ns.outer[0],
            office.addrs[0],
            spec,
        ))
        .unwrap();
    let kiosk = start_in(
        path(1),
        &kiosk_dir,
        NodeOptions {
            net: net(std::net::SocketAddr::new(ns.inner[1], 0), false),
            peers: vec![PeerAddr {
                node: office.handle.node_id,
                addr: relay.addr,
            }],
            redial: true,
            speak_version: None,
        },
    );
    let mut events = kiosk.handle.subscribe();
    let mut h = app_on(&kiosk);
    open_exchange(&mut h);

    // Mid-transfer: who, the bar with bytes and time left; the storm warning is
    // announced while the bar still has time left (urgent first).
    let exchanging = format!("Đang trao đổi với {OFFICE}");
    let mut bar = None;
    let mut urgent_while_moving = false;
    let seen = wait_for(&mut h, Duration::from_secs(60), |s| {
        let moving = s
            .iter()
            .find(|l| l.contains(" / ") && l.contains("còn khoảng"));
        if moving.is_some() && s.iter().any(|l| *l == format!("Đã nhận tin khẩn: {STORM}")) {
            urgent_while_moving = true;
        }
        if let Some(m) = moving
            && s.contains(&exchanging)
            && s.iter()
                .any(|l| l.starts_with("Đã nhận ") && l.contains("còn khoảng"))
        {
            bar = Some(m.clone());
        }
        bar.is_some() && urgent_while_moving
    });
    assert!(
        seen,
        "no progress with the urgent notice first: {:?} (bar {bar:?})",
        shown(&h)
    );
    let bar = bar.unwrap();
    // "412 KB / 1,1 MB — còn khoảng 6 giây"
    assert!(
        (bar.contains("KB") || bar.contains("MB"))
            && (bar.contains("giây") || bar.contains("phút")),
        "{bar}"
    );

    // Done: up to date with the office, by name, at the time of the sync.
    let done = wait_for(&mut h, Duration::from_secs(120), |s| {
        s.iter()
            .any(|l| *l == format!("{OFFICE}: đã cập nhật xong, hai máy có cùng dữ liệu"))
            && s.iter()
                .any(|l| l.starts_with(&format!("Đã cập nhật với {OFFICE} lúc ")))
    });
    assert!(done, "never up to date: {:?}", shown(&h));
    let t = now();
    let line = shown(&h)
        .into_iter()
        .find(|l| l.starts_with(&format!("Đã cập nhật với {OFFICE} lúc ")))
        .unwrap();
    assert!(
        line.ends_with(&hhmm(t)) || line.ends_with(&hhmm(t - 60)),
        "{line} at {}",
        hhmm(t)
    );
    assert!(Repo::open(&kiosk_dir).unwrap().notices().unwrap().len() > 600);
    // The node reported progress often enough to follow, and never faster than every
    // 250 ms (plus the last word at sync): watching does not slow the sync.
    let mut seen: Vec<(u64, bool)> = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let conglang::node::NodeEvent::Progress { peer, progress } = e
            && peer == office.handle.node_id
        {
            seen.push((progress.elapsed_ms, progress.synced));
        }
    }
    assert!(seen.len() >= 3, "{seen:?}");
    for w in seen.windows(2) {
        let ((a, _), (b, synced)) = (w[0], w[1]);
        // (A new session starts its clock again.)
        assert!(b < a || b - a >= 240 || synced, "{seen:?}");
    }

    // Times and byte counts differ from run to run.
    mask_any(
        &mut h,
        &[
            &format!("lúc {}", hhmm(t)),
            &format!("lúc {}", hhmm(t - 60)),
            " mục",
        ],
    );
    // On a mismatch, say what was on screen: the image alone does not tell a
    // transitional frame from a changed screen.
    if let Err(e) = h.try_snapshot("exchange_kiosk_done") {
        panic!("{e}\nshown: {:?}", shown(&h));
    }
    drop(h);
    drop(kiosk);

    // After a restart, with the office gone: still "up to date … at HH:MM" (stored).
    drop(office);
    let again = start_in(
        path(1),
        &kiosk_dir,
        NodeOptions {
            net: net(std::net::SocketAddr::new(ns.inner[1], 0), false),
            peers: vec![],
            redial: true,
            speak_version: None,
        },
    );
    let mut h = app_on(&again);
    open_exchange(&mut h);
    h.run_steps(3);
    assert!(
        shown(&h).contains(&line),
        "{line} not kept: {:?}",
        shown(&h)
    );
    assert!(shown(&h).contains(&"Chưa thấy máy nào ở gần.".to_string()));
    drop(h);
    drop(again);
    drop(relay);
    drop(rt);
}

/// A node of another commune on the same cable is found by mDNS and shown as a
/// device nearby that this kiosk does not exchange with; nothing moves; with the
/// cable out it is no longer shown.
#[test]
fn a_stranger_on_the_lan_is_shown_nearby_not_exchanging() {
    let mut lan = match Lan::create("exnb", 2) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("SKIPPED: cannot create network namespaces here (needs root): {e:#}");
            return;
        }
    };
    let cable = lan
        .add_link(0, 1, "10.217.0.1/24", "10.217.0.2/24")
        .unwrap();
    lan.up(cable).unwrap();
    let base = tempfile::tempdir().unwrap();
    let pair = conglang::lab::Pair::create(base.path()).unwrap();
    drop(pair);
    let mut other = Repo::open(&base.path().join("other")).unwrap();
    other
        .init_commune("Xã Bên Cạnh", "UBND xã Bên Cạnh")
        .unwrap();
    drop(other);
    let any: std::net::SocketAddr = "0.0.0.0:0".parse().unwrap();
    let kiosk = start_in(
        lan.ns_path(0),
        &base.path().join("kiosk"),
        NodeOptions {
            net: net(any, true),
            peers: vec![],
            redial: true,
            speak_version: None,
        },
    );
    let stranger = start_in(
        lan.ns_path(1),
        &base.path().join("other"),
        NodeOptions {
            net: net(any, true),
            peers: vec![],
            redial: true,
            speak_version: None,
        },
    );
    let mut h = app_on(&kiosk);
    open_exchange(&mut h);
    assert!(
        shown(&h).contains(&"Chưa thấy máy nào ở gần.".to_string()),
        "{:?}",
        shown(&h)
    );
    let found = wait_for(&mut h, Duration::from_secs(30), |s| {
        s.iter()
            .any(|l| l == "• Một máy không thuộc xã: không trao đổi")
    });
    assert!(found, "the stranger was not shown: {:?}", shown(&h));
    let s = shown(&h);
    assert!(!s.iter().any(|l| l.starts_with("Đang trao đổi")), "{s:?}");
    assert!(
        !s.contains(&"Chưa thấy máy nào ở gần.".to_string()),
        "{s:?}"
    );
    // Cable out: the stranger is no longer nearby.
    lan.down(cable).unwrap();
    let gone = wait_for(&mut h, Duration::from_secs(15), |s| {
        s.iter().any(|l| l == "Chưa thấy máy nào ở gần.")
    });
    assert!(gone, "still shown after the cable went: {:?}", shown(&h));
    drop(h);
    drop(kiosk);
    drop(stranger);
}

/// A kiosk of the commune still on the old protocol: the screen names it and says,
/// in words, that it must be updated.
#[test]
fn a_member_on_the_old_protocol_is_shown_as_needing_an_update() {
    let base = tempfile::tempdir().unwrap();
    let pair = conglang::lab::Pair::create(base.path()).unwrap();
    let conglang::lab::Pair {
        office,
        mut kiosk,
        filer,
    } = pair;
    // The kiosk learns of Bản Chang's kiosk (enrolled after the kiosk joined).
    kiosk
        .import(office.all_changes().unwrap(), Some(&office.node_id()))
        .unwrap();
    assert_eq!(
        kiosk
            .roster()
            .unwrap()
            .member(&filer.node_id())
            .map(|m| m.role),
        Some(Role::Kiosk)
    );
    drop((office, kiosk));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lo: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let old = rt
        .block_on(conglang::net::OldPeer::start(&filer, lo))
        .unwrap();
    let old_addr = old.local_addrs()[0];
    let node = BackgroundNode::start(
        base.path().join("kiosk"),
        NodeOptions {
            net: net(lo, false),
            peers: vec![PeerAddr {
                node: filer.node_id(),
                addr: old_addr,
            }],
            redial: true,
            speak_version: None,
        },
    )
    .unwrap();
    let mut h = app_on(&node);
    open_exchange(&mut h);
    let want = "Kiosk Bản Chang dùng phiên bản Cổng Làng cũ: cần cập nhật phần mềm máy đó thì mới trao đổi được.";
    let found = wait_for(&mut h, Duration::from_secs(30), |s| {
        s.iter().any(|l| l == want)
    });
    assert!(found, "{:?}", shown(&h));
    h.snapshot("exchange_old_version");
    drop(h);
    drop(node);
    rt.block_on(old.shutdown());
}

/// Machines that are not in the commune's roster and speak the old protocol (any
/// device on the village Wi-Fi can): no "needs update" card for them; the member on
/// the old protocol, dialed at the same time, still gets its card.
#[test]
fn a_stranger_on_an_old_protocol_shows_no_update_card() {
    let base = tempfile::tempdir().unwrap();
    let conglang::lab::Pair {
        office,
        mut kiosk,
        filer,
    } = conglang::lab::Pair::create(base.path()).unwrap();
    kiosk
        .import(office.all_changes().unwrap(), Some(&office.node_id()))
        .unwrap();
    drop((office, kiosk));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lo: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut peers = Vec::new();
    let mut olds = Vec::new();
    let strangers: Vec<conglang::identity::Identity> = (0..3)
        .map(|_| conglang::identity::Identity::generate())
        .collect();
    for id in strangers.iter().chain([&filer]) {
        let old = rt.block_on(conglang::net::OldPeer::start(id, lo)).unwrap();
        peers.push(PeerAddr {
            node: id.node_id(),
            addr: old.local_addrs()[0],
        });
        olds.push(old);
    }
    let node = BackgroundNode::start(
        base.path().join("kiosk"),
        NodeOptions {
            net: net(lo, false),
            peers,
            redial: true,
            speak_version: None,
        },
    )
    .unwrap();
    let mut h = app_on(&node);
    open_exchange(&mut h);
    let member_card = "Kiosk Bản Chang dùng phiên bản Cổng Làng cũ: cần cập nhật phần mềm máy đó thì mới trao đổi được.";
    let found = wait_for(&mut h, Duration::from_secs(30), |s| {
        s.iter().any(|l| l == member_card)
    });
    assert!(found, "{:?}", shown(&h));
    // The strangers were dialed in the same round; give them a while longer.
    wait_for(&mut h, Duration::from_secs(3), |_| false);
    let cards: Vec<String> = shown(&h)
        .into_iter()
        .filter(|l| l.contains("cần cập nhật"))
        .collect();
    assert_eq!(cards, vec![member_card.to_string()]);
    drop(h);
    drop(node);
    for old in olds {
        rt.block_on(old.shutdown());
    }
}

/// The courier walks into Bản Chang's hall, which missed the last notice and has a
/// resident's question waiting. On the courier's exchange screen the village card
/// goes from "missing 1 notice, not met on this trip" to "up to date", with what
/// this trip brought and took back and the time; Nà Khoang's card is untouched.
#[test]
fn the_courier_sees_per_village_what_it_brought_took_back_and_what_is_missing() {
    let f = crate::ui::full_commune();
    let kiosk2 = f._tmp.path().join("kiosk2");
    Repo::open(&kiosk2)
        .unwrap()
        .submit_request(&conglang::model::RequestDraft {
            kind: Some(conglang::model::RequestKind::Question),
            hamlet: crate::ui::BAN_CHANG.into(),
            name: "Lò Thị Mai".into(),
            text: "Bao giờ có lịch tiêm cho trẻ ở thôn Bản Chang ạ?".into(),
            phone: None,
            public: false,
        })
        .unwrap();
    let lo: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let village = BackgroundNode::start(
        kiosk2.clone(),
        NodeOptions {
            net: net(lo, false),
            peers: vec![],
            redial: true,
            speak_version: None,
        },
    )
    .unwrap();
    let courier = BackgroundNode::start(
        f.courier.clone(),
        NodeOptions {
            net: net(lo, false),
            peers: vec![],
            redial: true,
            speak_version: None,
        },
    )
    .unwrap();
    let mut h = app_on(&courier);
    // The courier starts on the exchange screen: before the hall.
    assert!(wait_for(&mut h, Duration::from_secs(10), |s| {
        s.iter().any(|l| l == "Thôn nào còn thiếu tin?")
            && s.iter().any(|l| l == "Thiếu 1 thông báo")
    }));
    let s = shown(&h);
    assert_eq!(
        s.iter()
            .filter(|l| *l == "Chuyến này chưa gặp máy này")
            .count(),
        2,
        "{s:?}"
    );
    drop(h);
    drop(courier);

    // Walks in: the courier dials the hall's kiosk.
    let courier = BackgroundNode::start(
        f.courier.clone(),
        NodeOptions {
            net: net(lo, false),
            peers: vec![PeerAddr {
                node: village.handle.node_id,
                addr: village.addrs[0],
            }],
            redial: true,
            speak_version: None,
        },
    )
    .unwrap();
    let mut h = app_on(&courier);
    let tally = |s: &[String]| -> Option<(u64, u64)> {
        let l = s.iter().find(|l| l.starts_with("Chuyến này: mang đến "))?;
        let n: Vec<u64> = l
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|x| x.parse().ok())
            .collect();
        Some((n[0], n[1]))
    };
    let done = wait_for(&mut h, Duration::from_secs(60), |s| {
        !s.iter().any(|l| l == "Thiếu 1 thông báo")
            && s.iter().filter(|l| *l == "Đã đủ tin").count() == 2
            && tally(s).is_some_and(|(b, t)| b >= 1 && t >= 1)
            && s.iter()
                .any(|l| l.starts_with("Đã cập nhật với Kiosk Bản Chang lúc "))
    });
    let s = shown(&h);
    assert!(done, "{s:?}");
    // Nà Khoang was not met on this trip.
    assert_eq!(
        s.iter()
            .filter(|l| *l == "Chuyến này chưa gặp máy này")
            .count(),
        1,
        "{s:?}"
    );
    // What it took back is real: the question is on the courier now.
    assert!(
        Repo::open(&f.courier)
            .unwrap()
            .requests()
            .unwrap()
            .iter()
            .any(|r| r.name.starts_with("Lò Thị"))
    );
    let before = tally(&s).unwrap();
    drop(h);
    drop(courier);
    drop(village);

    // The laptop is shut and opened again between two halls: the trip is still there.
    let clock = Clock::manual(now());
    let mut h = crate::ui::app_sized(&f.courier, clock.clone(), hall_size(), HALL_ZOOM);
    let s = shown(&h);
    assert_eq!(tally(&s), Some(before), "{s:?}");
    assert!(
        s.iter().any(|l| l.starts_with("Chuyến này bắt đầu lúc ")),
        "{s:?}"
    );
    assert_eq!(
        s.iter()
            .filter(|l| *l == "Chuyến này chưa gặp máy này")
            .count(),
        1,
        "{s:?}"
    );
    // A tap on "new trip" by mistake, taken back: nothing is lost.
    crate::ui::tap_button(&mut h, "Bắt đầu chuyến mới");
    h.get_by_label("Xóa số liệu chuyến này và bắt đầu chuyến mới?");
    crate::ui::tap_button(&mut h, "Hủy");
    assert_eq!(tally(&shown(&h)), Some(before));
    // A new trip on purpose: the tally starts from nothing, and stays so after a restart.
    crate::ui::tap_button(&mut h, "Bắt đầu chuyến mới");
    crate::ui::tap_button(&mut h, "Xóa và bắt đầu chuyến mới");
    let s = shown(&h);
    assert_eq!(tally(&s), None, "{s:?}");
    assert!(
        s.iter()
            .any(|l| l == "Chuyến này chưa trao đổi với máy nào."
                || l.starts_with("Chuyến này bắt đầu lúc "))
    );
    drop(h);
    let h = crate::ui::app_sized(&f.courier, clock, hall_size(), HALL_ZOOM);
    let s = shown(&h);
    assert_eq!(tally(&s), None, "{s:?}");
    assert_eq!(
        s.iter()
            .filter(|l| *l == "Chuyến này chưa gặp máy này")
            .count(),
        2,
        "{s:?}"
    );
}

/// An urgent notice reaches the courier from the office and neither village has it
/// yet: each village's card names it, in red, before the other notices that village
/// lacks, and says how many of the missing are urgent. Once the courier has been to
/// Nà Khoang (and brought its receipt back), only Bản Chang still lists it.
#[test]
fn the_courier_sees_which_urgent_notices_each_village_still_lacks() {
    const FLOOD: &str = "Lũ quét ở suối Nậm Chang: sơ tán ngay các hộ ven suối";
    let f = crate::ui::full_commune();
    crate::ui::next_second();
    Repo::open(&f.office)
        .unwrap()
        .post_notice(&NoticeDraft {
            title: FLOOD.into(),
            body: "Di chuyển lên nhà văn hóa thôn.".into(),
            category: Some(Category::Storm),
            urgent: true,
            ..Default::default()
        })
        .unwrap();
    crate::ui::exchange(&f.office, &f.courier);
    let clock = Clock::manual(now());
    let mut h = crate::ui::app_sized(&f.courier, clock.clone(), hall_size(), HALL_ZOOM);
    h.get_by_label("Thiếu 2 thông báo, có 1 tin khẩn"); // Bản Chang: the flood and the vaccine
    h.get_by_label("Thiếu 1 thông báo, có 1 tin khẩn"); // Nà Khoang: the flood
    let y = |h: &Harness<'_, KioskApp>, label: &str| -> Vec<f32> {
        h.query_all_by_label(label)
            .map(|n| n.rect().center().y)
            .collect()
    };
    let urgent = y(&h, &format!("• {FLOOD}"));
    let heading = y(&h, "Tin khẩn thôn này chưa có:");
    let names = [y(&h, "Kiosk Bản Chang")[0], y(&h, "Kiosk Nà Khoang")[0]];
    assert_eq!(urgent.len(), 2, "one line per village that lacks it");
    assert_eq!(heading.len(), 2);
    // Each on its own village's card (cards are in place order: Bản Chang, Nà Khoang).
    assert!(names[0] < urgent[0] && urgent[0] < names[1] && names[1] < urgent[1]);
    // Urgent before the rest of what Bản Chang lacks.
    let vaccine = y(&h, "• Tiêm vắc xin sởi cho trẻ từ 1 đến 5 tuổi");
    assert_eq!(vaccine.len(), 1);
    assert!(urgent[0] < vaccine[0] && vaccine[0] < names[1]);
    // The storm warning every village has is not listed.
    assert!(h.query_by_label(&format!("• {STORM}")).is_none());
    h.snapshot("exchange_courier_urgent");
    drop(h);

    // The courier at Nà Khoang: the kiosk gets the flood warning, its receipt comes back.
    crate::ui::exchange(&f.courier, &f.kiosk);
    crate::ui::exchange(&f.kiosk, &f.courier);
    let h = crate::ui::app_sized(&f.courier, clock, hall_size(), HALL_ZOOM);
    assert_eq!(y(&h, &format!("• {FLOOD}")).len(), 1);
    h.get_by_label("Thiếu 2 thông báo, có 1 tin khẩn");
    assert!(
        h.query_by_label("Thiếu 1 thông báo, có 1 tin khẩn")
            .is_none()
    );
}

/// Not a test: prepares an office with a large backlog (plus one urgent warning) and
/// a kiosk that holds only the roster, in `$CONGLANG_SHOT_DIR`, for looking at the
/// exchange screen in a real window during a real transfer (README, "Exchange
/// screen"). `CONGLANG_SHOT_NOTICES` sets the backlog (default 3,000).
#[test]
#[ignore]
fn prepare_stores_for_the_exchange_screenshot() {
    let Some(dir) = std::env::var_os("CONGLANG_SHOT_DIR") else {
        eprintln!("set CONGLANG_SHOT_DIR");
        return;
    };
    let n = std::env::var("CONGLANG_SHOT_NOTICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (office, kiosk) = office_with_backlog(&dir, n);
    let o = Repo::open(&office).unwrap();
    let k = Repo::open(&kiosk).unwrap();
    println!("office {} kiosk {}", o.node_id(), k.node_id());
}

/// Not a test: prepares the stores for the courier's exchange screen in a real window
/// (`docs/screenshots/exchange-courier-run.sh`): the commune of the UI tests, an
/// urgent flood warning that reached the courier and neither village, then a real
/// sync (two nodes on loopback) between the courier and Bản Chang's kiosk, so the
/// trip has real figures and Nà Khoang still lacks the warning. Prints the directory.
#[test]
#[ignore]
fn prepare_stores_for_the_courier_screenshot() {
    let f = crate::ui::full_commune();
    crate::ui::next_second();
    Repo::open(&f.office)
        .unwrap()
        .post_notice(&NoticeDraft {
            title: "Lũ quét ở suối Nậm Chang: sơ tán ngay các hộ ven suối".into(),
            body: "Di chuyển lên nhà văn hóa thôn.".into(),
            category: Some(Category::Storm),
            urgent: true,
            ..Default::default()
        })
        .unwrap();
    crate::ui::exchange(&f.office, &f.courier);
    let kiosk2 = f._tmp.path().join("kiosk2");
    let lo: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let village = BackgroundNode::start(
        kiosk2.clone(),
        NodeOptions {
            net: net(lo, false),
            peers: vec![],
            redial: true,
            speak_version: None,
        },
    )
    .unwrap();
    let courier = BackgroundNode::start(
        f.courier.clone(),
        NodeOptions {
            net: net(lo, false),
            peers: vec![PeerAddr {
                node: village.handle.node_id,
                addr: village.addrs[0],
            }],
            redial: true,
            speak_version: None,
        },
    )
    .unwrap();
    // Synced when the courier holds the village's new receipt (the flood noted).
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(300));
        let mut h = app_on(&courier);
        let synced = wait_for(&mut h, Duration::from_secs(1), |s| {
            s.iter().any(|l| l.starts_with("Chuyến này: mang đến "))
                && s.iter().filter(|l| l.contains("có 1 tin khẩn")).count() == 1
        });
        if synced {
            break;
        }
    }
    drop(courier);
    drop(village);
    let trip = Repo::open(&f.courier).unwrap().trip().unwrap();
    assert_eq!(trip.peers.len(), 1, "{trip:?}");
    let crate::ui::Full { _tmp, .. } = f;
    println!("stores in {}", _tmp.keep().display());
}

/// The kiosk's fifth tab fits beside the language button at the hall's size, in
/// both languages (the English labels are longer).
#[test]
fn the_exchange_tab_fits_the_kiosk_header_in_both_languages() {
    let c = crate::ui::commune();
    let mut h = crate::ui::app_sized(
        &c.kiosk,
        Clock::manual(crate::ui::T0),
        hall_size(),
        HALL_ZOOM,
    );
    for (tab, lang) in [
        ("Trao đổi dữ liệu", "English"),
        ("Data exchange", "Tiếng Việt"),
    ] {
        let tab_rect = h
            .get_by_role_and_label(egui::accesskit::Role::Button, tab)
            .rect();
        let lang_rect = h
            .get_by_role_and_label(egui::accesskit::Role::Button, lang)
            .rect();
        assert!(
            tab_rect.right() < lang_rect.left() && tab_rect.bottom() < 80.0,
            "{tab} {tab_rect:?} vs {lang} {lang_rect:?}"
        );
        h.get_by_role_and_label(egui::accesskit::Role::Button, tab)
            .click();
        h.run();
        assert!(
            shown(&h)
                .iter()
                .any(|l| l == "Trao đổi dữ liệu với các máy khác"
                    || l == "Exchanging data with other devices")
        );
        crate::ui::tap_button(&mut h, lang);
    }
}

/// A portrait-mounted hall screen (800×1280 at the kiosk's zoom): every tab and the
/// language button stay on screen, none on top of another.
#[test]
fn the_kiosk_header_fits_a_portrait_screen() {
    let c = crate::ui::commune();
    let size = egui::vec2(800.0, 1280.0) / HALL_ZOOM;
    let mut h = crate::ui::app_sized(&c.kiosk, Clock::manual(crate::ui::T0), size, HALL_ZOOM);
    h.run();
    h.snapshot("kiosk_portrait");
    let mut rects = Vec::new();
    for label in [
        "Thông báo",
        "Thủ tục",
        "Gửi câu hỏi",
        "Tra cứu",
        "Trao đổi dữ liệu",
        "English",
    ] {
        let r = h
            .get_by_role_and_label(egui::accesskit::Role::Button, label)
            .rect();
        assert!(
            r.left() >= 0.0 && r.right() <= size.x,
            "{label} {r:?} off a {size:?} screen"
        );
        rects.push((label, r));
    }
    for (i, (a, ra)) in rects.iter().enumerate() {
        for (b, rb) in &rects[i + 1..] {
            assert!(!ra.intersects(*rb), "{a} {ra:?} overlaps {b} {rb:?}");
        }
    }
}

/// Issue 25, point 6 (tried as an installer: with the port taken by another node,
/// the kiosk session was a black screen restarting every 2 s, with one English log
/// line). The node cannot start on a port another program holds; the kiosk then
/// says in Vietnamese what is wrong and what to do, and names the port.
#[test]
fn a_kiosk_whose_port_is_taken_says_so_in_vietnamese() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = BackgroundNode::start(
        dir.path().join("kiosk"),
        NodeOptions {
            net: net(port, false),
            peers: vec![],
            redial: false,
            speak_version: None,
        },
    )
    .err()
    .expect("a node cannot listen on a port another socket holds");
    let fault = conglang::ui::StartupFault::of(&err, port);
    assert_eq!(
        fault,
        conglang::ui::StartupFault::PortInUse(port),
        "{err:#}"
    );
    let mut h = Harness::builder()
        .with_size(hall_size())
        .with_pixels_per_point(HALL_ZOOM)
        .with_context_setup(setup_context)
        .build_ui(move |ui| conglang::ui::show_fault_ui(ui, &fault, conglang::ui::i18n::Lang::Vi));
    h.run();
    h.get_by_label_contains(&format!("cổng mạng {}", port.port()));
    h.get_by_label_contains("Hãy tắt máy rồi bật lại");
    let mut seen = 0;
    crate::hall::assert_no_english(&h, &mut seen, &[]);
    // Another failure (here: the data folder is a file) is said too, without detail.
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let err = BackgroundNode::start(
        file,
        NodeOptions {
            net: net("127.0.0.1:0".parse().unwrap(), false),
            peers: vec![],
            redial: false,
            speak_version: None,
        },
    )
    .err()
    .expect("a node cannot keep its data in a file");
    assert_eq!(
        conglang::ui::StartupFault::of(&err, port),
        conglang::ui::StartupFault::Other
    );
}

/// Mixed versions (issue 25) on real nodes: the office runs this release, the kiosk
/// the previous message version (5, `NodeOptions::speak_version`: its `Hello`, what it
/// offers and what its decoder refused, kept as a test mode). Over a real iroh
/// connection the storm warning reaches the kiosk and the resident's question the
/// office; a document of a kind version 5 cannot read stays at the office, and no
/// session ends over it; the office's exchange screen says the kiosk needs updating.
#[test]
fn the_previous_release_still_exchanges_and_the_office_is_told_it_needs_updating() {
    use automerge::{ROOT, transaction::Transactable};
    let base = tempfile::tempdir().unwrap();
    let conglang::lab::Pair {
        mut office,
        mut kiosk,
        ..
    } = conglang::lab::Pair::create(base.path()).unwrap();
    office
        .post_notice(&NoticeDraft {
            title: STORM.into(),
            body: "Không qua suối, ngầm tràn khi nước lên.".into(),
            category: Some(Category::Storm),
            urgent: true,
            ..Default::default()
        })
        .unwrap();
    let question = kiosk
        .submit_request(&conglang::model::RequestDraft {
            kind: Some(conglang::model::RequestKind::Question),
            hamlet: "Thôn Nà Khoang".into(),
            name: "Lò Thị Mai".into(),
            text: "Làm giấy khai sinh cần mang gì ạ?".into(),
            phone: None,
            public: false,
        })
        .unwrap();
    let later: conglang::model::DocId = format!(
        "ph-{}0123456789abcdef",
        hex::encode(&office.node_id().as_bytes()[..8])
    )
    .parse()
    .unwrap();
    let photo = crate::harness::forge_with(
        &office,
        automerge::Automerge::new(),
        &later,
        conglang::model::signed::new_actor(&office.node_id()),
        Some(conglang::model::signed::ChainMeta::for_doc(&later, None).encode()),
        |tx| {
            tx.put(ROOT, "kind", "photo").unwrap();
            tx.put(ROOT, "created_by", office.node_id().to_string())
                .unwrap();
        },
    );
    assert_eq!(office.import(vec![photo], None).unwrap().accepted, 1);
    let kiosk_id = kiosk.node_id();
    drop((office, kiosk));
    let lo: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let office = BackgroundNode::start(
        base.path().join("office"),
        NodeOptions {
            net: net(lo, false),
            peers: vec![],
            redial: true,
            speak_version: None,
        },
    )
    .unwrap();
    let mut events = office.handle.subscribe();
    let kiosk = BackgroundNode::start(
        base.path().join("kiosk"),
        NodeOptions {
            net: net(lo, false),
            peers: vec![PeerAddr {
                node: office.handle.node_id,
                addr: office.addrs[0],
            }],
            redial: true,
            speak_version: Some(5),
        },
    )
    .unwrap();
    let mut h = app_on(&office);
    open_exchange(&mut h);
    let card = "Kiosk Nà Khoang dùng phiên bản Cổng Làng cũ hơn máy này: vẫn trao đổi được, nhưng nên cập nhật phần mềm máy đó.";
    let both = wait_for(&mut h, Duration::from_secs(30), |s| {
        s.iter().any(|l| l == card)
            && s.iter()
                .any(|l| l == "Kiosk Nà Khoang: đã cập nhật xong, hai máy có cùng dữ liệu")
    });
    assert!(both, "{:?}", shown(&h));
    drop(h);
    let mut ended = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let conglang::node::NodeEvent::Ended { peer, reason, .. } = e
            && peer == kiosk_id
        {
            ended.push(reason);
        }
    }
    assert!(ended.is_empty(), "no session ended: {ended:?}");
    drop(kiosk);
    drop(office);
    let kiosk = Repo::open(&base.path().join("kiosk")).unwrap();
    assert!(kiosk.notices().unwrap().iter().any(|n| n.title == STORM));
    assert!(!kiosk.status().unwrap().docs.contains_key("other"));
    assert_eq!(kiosk.status().unwrap().rejected, 0);
    let office = Repo::open(&base.path().join("office")).unwrap();
    assert!(
        office.request(&question.code).unwrap().is_some(),
        "the question reached the office"
    );
    assert_eq!(office.status().unwrap().rejected, 0);
}
