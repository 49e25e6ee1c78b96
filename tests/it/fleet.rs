//! Fleet health and clocks that lie (issue 13, points 3 and 4): real nodes (the
//! binary, on loopback) publish their health reports and learn each other's clock
//! at contact; the office's devices screen and a kiosk's own screen are then driven
//! through kittest on the very stores those nodes wrote. A kiosk whose clock is set
//! years off is started with the fake time source (`CONGLANG_CLOCK_OFFSET`).

use std::path::Path;
use std::process::Stdio;

use conglang::clock::OFFSET_ENV;
use conglang::identity::NodeId;
use conglang::model::health::Health;
use conglang::model::text::format_time_vn;
use conglang::model::{NoticeDraft, Role};
use conglang::repo::Repo;
use conglang::ui::Clock;
use egui_kittest::kittest::{NodeT, Queryable};

use crate::harness::{CliNode, Served, bin, enrol};
use crate::ui::{T0, app, app_sized, exchange, mask, tap_button};

/// About three years, in seconds: a kiosk whose clock was set wrong long ago.
const YEARS_OFF: i64 = 3 * 365 * 86_400;

/// `serve` on loopback with extra environment (the fake clock).
fn serve_env(node: &CliNode, env: &[(&str, String)]) -> Served {
    std::fs::create_dir_all(&node.dir).unwrap();
    let mut cmd = bin();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .arg("--data")
        .arg(&node.dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--no-mdns"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(node.dir.with_extension("serve.log")).unwrap())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("serve did not print its address ({e}): {line:?}"));
    Served {
        child,
        peer: format!(
            "{}@{}",
            v["node_id"].as_str().unwrap(),
            v["listen"][0].as_str().unwrap()
        ),
    }
}

fn health_of(dir: &Path, node: &NodeId) -> Option<Health> {
    Repo::open(dir)
        .unwrap()
        .healths()
        .unwrap()
        .into_iter()
        .find(|h| h.node.as_ref() == Some(node))
}

/// An office and a kiosk made with the CLI.
fn office_and_kiosk(base: &Path) -> (CliNode, CliNode) {
    let office = CliNode::new(base, "office");
    let kiosk = CliNode::new(base, "kiosk");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    enrol(&office, &kiosk, "kiosk", "Kiosk Nà Khoang");
    (office, kiosk)
}

fn member_id(dir: &Path) -> NodeId {
    Repo::open(dir).unwrap().node_id()
}

#[test]
fn a_node_publishes_its_health_and_the_office_sees_it_after_a_real_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let (office, kiosk) = office_and_kiosk(tmp.path());
    let served = kiosk.serve(&[]);
    office.sync_with(&served);
    served.stop();

    let kiosk_id = member_id(&kiosk.dir);
    let office_id = member_id(&office.dir);
    let h = health_of(&office.dir, &kiosk_id).expect("the kiosk's report reached the office");
    assert_eq!(h.version, env!("CARGO_PKG_VERSION"));
    assert!(h.disk_free_mb.is_some_and(|mb| mb > 0), "{h:?}");
    assert!(h.db_mb.is_some() && h.uptime_s.is_some() && h.published_at.is_some());
    assert!(!h.clock_wrong);
    // The office's one-shot sync node published its own report too, and the
    // kiosk holds it.
    assert!(health_of(&kiosk.dir, &office_id).is_some());
    // Both learnt the other's clock at the contact: the same machine, so ~0.
    let seen = Repo::open(&office.dir).unwrap().peer_clocks().unwrap();
    let o = seen
        .get(&kiosk_id)
        .expect("office saw the kiosk's clock")
        .offset_ms;
    assert!(
        o.abs() < 60_000,
        "offset {o} ms between two processes of one machine"
    );

    // The office's devices screen: the kiosk's row with its version and a right clock.
    let mut h = app(&office.dir, Clock::system());
    tap_button(&mut h, "Thiết bị");
    h.get_by_label("Tình trạng các máy");
    assert!(h.query_all_by_label("Kiosk Nà Khoang").count() >= 1);
    assert!(
        h.query_all_by_label(env!("CARGO_PKG_VERSION")).count() >= 2,
        "the kiosk's and the office's version are shown"
    );
    assert!(h.query_all_by_label("Đúng").count() >= 1, "a right clock");
    assert!(h.query_by_label("Chưa liên lạc").is_none());
}

#[test]
fn a_clock_years_off_is_flagged_everywhere_and_its_times_stay_sensible() {
    let tmp = tempfile::tempdir().unwrap();
    let (office, kiosk) = office_and_kiosk(tmp.path());
    // One notice still valid, one that expired yesterday (commune time).
    {
        let mut o = Repo::open(&office.dir).unwrap();
        let now = conglang::model::text::now();
        for (title, until) in [
            ("Lịch tiêm chủng tháng này", now + 2 * 86_400),
            ("Họp thôn tuần trước", now - 86_400),
        ] {
            o.post_notice(&NoticeDraft {
                title: title.into(),
                body: "Nội dung".into(),
                valid_until: Some(until),
                ..Default::default()
            })
            .unwrap();
        }
    }
    // The kiosk's clock is three years behind (a dead CMOS battery, set by hand).
    let served = serve_env(&kiosk, &[(OFFSET_ENV, (-YEARS_OFF).to_string())]);
    // First contact: each side learns the other's clock. Second: the kiosk's
    // report, now saying its clock is wrong, is in what it offers.
    office.sync_with(&served);
    office.sync_with(&served);
    served.stop();

    let kiosk_id = member_id(&kiosk.dir);
    let near = |got: i64, want_s: i64| (got / 1000 - want_s).abs() < 300;
    // `status` tells a technician at the kiosk, and not at the office.
    assert_eq!(kiosk.json(&["status"])["clock"]["wrong"], true);
    let text = kiosk.ok(&["status"]);
    assert!(
        text.contains("clock:   WRONG: 109") && text.contains(" days behind its peers"),
        "{text}"
    );
    assert_eq!(office.json(&["status"])["clock"]["wrong"], false);
    // The kiosk knows its clock is wrong, by how much…
    let k = Repo::open(&kiosk.dir).unwrap();
    let est = k.clock_estimate().unwrap();
    assert!(est.wrong(), "{est:?}");
    assert!(near(est.offset_ms.unwrap(), YEARS_OFF), "{est:?}");
    // …and told the office in its health report.
    let h = health_of(&office.dir, &kiosk_id).expect("kiosk report at the office");
    assert!(h.clock_wrong, "{h:?}");
    assert!(near(h.clock_offset_ms.unwrap(), YEARS_OFF), "{h:?}");
    // At the second contact the kiosk, knowing its clock is wrong, sent the
    // commune's time in its `Hello` (its corrected clock), not its raw one.
    let o = Repo::open(&office.dir).unwrap();
    let seen = o.peer_clocks().unwrap()[&kiosk_id].offset_ms;
    assert!(seen.abs() < 300_000, "{seen}");
    assert!(!o.clock_estimate().unwrap().wrong());

    // The kiosk's own screen, its app clock as wrong as the machine's: five
    // minutes after the last sync by that clock.
    let synced_at = k
        .peers()
        .unwrap()
        .into_iter()
        .find_map(|p| p.last_synced)
        .expect("the kiosk recorded the sync");
    drop(k);
    let local_now = synced_at + 300;
    let ks = app(&kiosk.dir, Clock::manual(local_now));
    ks.get_by_label("Cập nhật 5 phút trước từ UBND xã");
    let right = format_time_vn(local_now + est.correction());
    let warning = format!(
        "Đồng hồ máy này sai (chậm 3 năm so với các máy khác). Giờ đúng khoảng {right}. Hãy báo cán bộ xã chỉnh lại."
    );
    ks.get_by_label(&warning);
    // Notice expiry follows the commune's time: by the kiosk's own clock the old
    // notice would still be valid for three years.
    let expired = Repo::open(&office.dir)
        .unwrap()
        .notices()
        .unwrap()
        .into_iter()
        .find(|n| n.title == "Họp thôn tuần trước")
        .unwrap();
    assert!(expired.is_live(local_now), "the raw clock would show it");
    assert!(ks.query_all_by_label("Lịch tiêm chủng tháng này").count() >= 1);
    assert!(
        ks.query_all_by_label("Họp thôn tuần trước")
            .next()
            .is_none()
    );
    drop(ks);

    // The office's devices screen: the kiosk's clock cell says how wrong, and its
    // last contact reads in minutes, not years.
    let contact = Repo::open(&office.dir)
        .unwrap()
        .peers()
        .unwrap()
        .into_iter()
        .find(|p| p.node == kiosk_id)
        .and_then(|p| p.last_synced)
        .unwrap();
    let mut os = app(&office.dir, Clock::manual(contact + 150));
    // "Who has it, since when": the kiosk's receipt time, stamped by its wrong
    // clock, reads in the commune's year.
    os.query_all_by_label("Xem nơi đã nhận")
        .next()
        .expect("a notice with its reach button")
        .click();
    os.run();
    let line = os.get_by_label_contains("Nhận lúc");
    let a = line.accesskit_node();
    let text = a.value().or(a.label()).unwrap_or_default();
    let year = |t: i64| format_time_vn(t).rsplit('/').next().unwrap().to_string();
    assert!(
        text.ends_with(&format!("/{}", year(contact))),
        "received in the commune's year: {text}"
    );
    tap_button(&mut os, "Thiết bị");
    os.get_by_label("Chậm 3 năm");
    os.get_by_label("2 phút trước");
    // The office's own clock is right: no warning on its screen.
    assert!(
        os.query_by_label_contains("Đồng hồ máy này sai").is_none(),
        "the office is not told its clock is wrong"
    );
}

/// A commune whose devices show every state of the fleet view, with fixed values
/// (reports written with given numbers, times around `T0`), for the snapshot.
#[test]
fn snapshot_of_the_fleet_view() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n);
    let mut o = Repo::open(&dir("office")).unwrap();
    o.init_commune("Xã Long Môn", "UBND xã Long Môn").unwrap();
    let members = [
        (
            "na-khoang",
            Role::Kiosk,
            "Kiosk Nà Khoang",
            "Thôn Nà Khoang",
        ),
        (
            "ban-chang",
            Role::Kiosk,
            "Kiosk Bản Chang",
            "Thôn Bản Chang",
        ),
        ("khuoi-my", Role::Kiosk, "Kiosk Khuổi My", "Thôn Khuổi My"),
        ("pac-ngoi", Role::Kiosk, "Kiosk Pác Ngòi", "Thôn Pác Ngòi"),
        ("courier", Role::Courier, "Laptop liên lạc", "Xã Long Môn"),
    ];
    let mut ids = Vec::new();
    for (d, role, name, place) in members {
        let mut r = Repo::open(&dir(d)).unwrap();
        let invite = o
            .roster_add(r.node_id(), role, name, place, vec![])
            .unwrap();
        r.join(&invite).unwrap();
        ids.push(r.node_id());
    }
    let notice = |t: &str| NoticeDraft {
        title: t.into(),
        body: "Nội dung".into(),
        ..Default::default()
    };
    o.post_notice(&notice("Lịch cấp Căn cước lưu động"))
        .unwrap();
    drop(o);
    for d in ["na-khoang", "ban-chang", "khuoi-my", "courier"] {
        exchange(&dir("office"), &dir(d));
    }
    // A second notice reaches Nà Khoang and Khuổi My only.
    Repo::open(&dir("office"))
        .unwrap()
        .post_notice(&notice("Tiêm vắc xin sởi"))
        .unwrap();
    for d in ["na-khoang", "khuoi-my", "courier"] {
        exchange(&dir("office"), &dir(d));
    }
    let report = |version: &str, disk: i64, at: i64| Health {
        version: version.into(),
        disk_free_mb: Some(disk),
        db_mb: Some(12),
        uptime_s: Some(3 * 3600),
        published_at: Some(at),
        clock_offset_ms: Some(1_500),
        clock_peers: 2,
        ..Default::default()
    };
    let (na, ban, courier) = (ids[0], ids[1], ids[4]);
    // Nà Khoang: all fine, reported 20 minutes ago.
    let mut h = report("0.2.0", 40_000, T0 - 1200);
    h.contacts.insert(courier, T0 - 1300);
    Repo::open(&dir("na-khoang"))
        .unwrap()
        .publish_health_report(&h)
        .unwrap();
    // Bản Chang: an old version, a nearly full disk, last heard of two days ago.
    Repo::open(&dir("ban-chang"))
        .unwrap()
        .publish_health_report(&report("0.1.0", 180, T0 - 2 * 86_400 - 600))
        .unwrap();
    // Khuổi My: its clock reset to 2000 (26 years behind its peers); its times,
    // corrected by that, say it was seen 3 hours ago.
    let off = 26 * 365 * 86_400i64;
    let mut h = report("0.2.0", 9_000, T0 - 3 * 3600 - off);
    h.clock_offset_ms = Some(off * 1000);
    h.clock_wrong = true;
    Repo::open(&dir("khuoi-my"))
        .unwrap()
        .publish_health_report(&h)
        .unwrap();
    // Pác Ngòi never reported. The courier met Nà Khoang and Bản Chang.
    let mut h = report("0.2.0", 2_000, T0 - 3600);
    h.contacts.insert(na, T0 - 1300);
    h.contacts.insert(ban, T0 - 2 * 86_400);
    Repo::open(&dir("courier"))
        .unwrap()
        .publish_health_report(&h)
        .unwrap();
    Repo::open(&dir("office"))
        .unwrap()
        .publish_health_report(&report("0.2.0", 120_000, T0 - 60))
        .unwrap();
    for d in ["na-khoang", "ban-chang", "khuoi-my", "courier"] {
        exchange(&dir(d), &dir("office"));
    }

    // The console's width, tall enough for the whole table.
    let mut h = app_sized(
        &dir("office"),
        Clock::manual(T0),
        egui::vec2(1024.0, 700.0),
        1.0,
    );
    tap_button(&mut h, "Thiết bị");
    // What the cells say, row by row.
    for label in [
        "Chậm 26 năm",
        "3 giờ trước",
        "0.1.0 (cũ)",
        "Sắp đầy: còn 180 MB",
        "2 ngày trước",
        "20 phút trước",
        "Chưa liên lạc",
        "Thiếu 1 thông báo",
        "Còn 39 GB",
    ] {
        assert!(
            h.query_all_by_label(label).count() >= 1,
            "the fleet view shows {label:?}"
        );
    }
    // The node ids under the table are random: masked.
    let shorts: Vec<String> = Repo::open(&dir("office"))
        .unwrap()
        .roster()
        .unwrap()
        .members
        .keys()
        .map(|n| n.short())
        .collect();
    mask(&mut h, &shorts);
    h.snapshot("fleet");
}

/// A kiosk that has learnt its clock is 26 years behind (a dead CMOS battery):
/// every screen's footer says so, with the right time by its peers.
#[test]
fn snapshot_of_a_kiosk_that_knows_its_clock_is_wrong() {
    let c = crate::ui::commune();
    let off = 26 * 365 * 86_400i64;
    let office_id = member_id(&c.office);
    Repo::open(&c.kiosk)
        .unwrap()
        .note_peer_clock(&office_id, off * 1000)
        .unwrap();
    let mut h = app(&c.kiosk, Clock::manual(T0 - off));
    let right = format_time_vn(T0);
    h.get_by_label(&format!(
        "Đồng hồ máy này sai (chậm 26 năm so với các máy khác). Giờ đúng khoảng {right}. Hãy báo cán bộ xã chỉnh lại."
    ));
    h.snapshot("clock_wrong_kiosk");
}

/// Only a node writes its own health report, with the report's fields only, small.
#[test]
fn health_reports_are_written_by_their_node_only_with_known_fields() {
    use automerge::{ROOT, transaction::Transactable};
    use conglang::model::DocId;

    let mut c = crate::harness::Commune::new();
    let mut k1 = c.member("kiosk-1", Role::Kiosk);
    let k2 = c.member("kiosk-2", Role::Kiosk);
    k1.publish_health_report(&Health {
        version: "0.1.0".into(),
        published_at: Some(T0),
        ..Default::default()
    })
    .unwrap();
    crate::harness::exchange(&mut k1, &mut c.office);
    let mine = DocId::health(&k1.node_id());
    let forged = [
        // Another kiosk writing k1's report (to hide its clock or fake a contact).
        crate::harness::forge(&k2, &c.office, &mine, |tx| {
            tx.put(ROOT, "clock_wrong", false).unwrap();
        }),
        // The office, even, may not.
        crate::harness::forge(&c.office, &c.office, &mine, |tx| {
            tx.put(ROOT, "version", "9.9.9").unwrap();
        }),
        // k1 itself, smuggling a field the report does not have.
        crate::harness::forge(&k1, &c.office, &mine, |tx| {
            tx.put(ROOT, "title", "Tin giả").unwrap();
        }),
        // k1 itself, a report of 3,000 contacts in one change.
        crate::harness::forge(&k1, &c.office, &mine, |tx| {
            let m = tx
                .put_object(ROOT, "contacts", automerge::ObjType::Map)
                .unwrap();
            for i in 0..3_000 {
                tx.put(&m, format!("{i:064}"), i as i64).unwrap();
            }
        }),
    ];
    let why = [
        "written by its own node",
        "written by its own node",
        "unknown field \"title\"",
        "size limit",
    ];
    for (i, (f, why)) in forged.into_iter().zip(why).enumerate() {
        let rep = c.office.import(vec![f], None).unwrap();
        assert_eq!(rep.accepted, 0, "forgery {i} accepted: {rep:?}");
        assert_eq!(rep.rejected.len(), 1, "forgery {i}: {rep:?}");
        assert!(rep.rejected[0].reason.contains(why), "forgery {i}: {rep:?}");
    }
    let h = health_of_repo(&c.office, &k1.node_id());
    assert_eq!(h.version, "0.1.0");
    // Its own update with known fields goes through.
    k1.publish_health_report(&Health {
        version: "0.2.0".into(),
        published_at: Some(T0 + 60),
        ..Default::default()
    })
    .unwrap();
    crate::harness::exchange(&mut k1, &mut c.office);
    assert_eq!(health_of_repo(&c.office, &k1.node_id()).version, "0.2.0");
}

fn health_of_repo(r: &Repo, node: &NodeId) -> Health {
    r.healths()
        .unwrap()
        .into_iter()
        .find(|h| h.node.as_ref() == Some(node))
        .expect("a report")
}

/// A kiosk that only ever gets USB bundles meets no peer live: the officials'
/// signed change times tell it its clock is behind.
#[test]
fn a_kiosk_fed_only_by_bundles_learns_its_clock_from_signed_times() {
    let tmp = tempfile::tempdir().unwrap();
    let (office, kiosk) = office_and_kiosk(tmp.path());
    // The kiosk's clock is right and the office's three years ahead — the same
    // thing, seen from the kiosk, as a kiosk three years behind.
    let run_office = |args: &[&str]| {
        let o = bin()
            .env(OFFSET_ENV, YEARS_OFF.to_string())
            .arg("--data")
            .arg(&office.dir)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let stick = tmp.path().join("usb.bundle");
    let k = Repo::open(&kiosk.dir).unwrap();
    assert!(!k.clock_estimate().unwrap().wrong(), "no evidence yet");
    drop(k);
    run_office(&["notice", "post", "--title", "Lịch họp thôn"]);
    run_office(&["bundle", "export", stick.to_str().unwrap()]);
    kiosk.ok(&["bundle", "import", stick.to_str().unwrap()]);
    let est = Repo::open(&kiosk.dir).unwrap().clock_estimate().unwrap();
    assert!(est.wrong(), "{est:?}");
    assert_eq!(est.peers, 0, "no live peer: the signed times decided");
    let behind = est.offset_ms.unwrap() / 1000;
    assert!(
        (YEARS_OFF - 600..=YEARS_OFF).contains(&behind),
        "at least, and about, three years behind: {behind} s"
    );
}

/// What a health report costs the reconciled set: the first report with a contact
/// for each of 30 peers, then an update of one contact time. Printed with
/// `--nocapture` (BENCHMARKS.md, "Fleet health").
#[test]
fn health_reports_stay_small() {
    let mut c = crate::harness::Commune::new();
    let mut k = c.member("kiosk", Role::Kiosk);
    let mut h = Health {
        version: env!("CARGO_PKG_VERSION").into(),
        disk_free_mb: Some(41_234),
        db_mb: Some(57),
        uptime_s: Some(86_400),
        published_at: Some(T0),
        clock_offset_ms: Some(1_234),
        clock_peers: 30,
        ..Default::default()
    };
    for i in 0..30u8 {
        h.contacts.insert(NodeId([i; 32]), T0 - i64::from(i) * 600);
    }
    let id = conglang::model::DocId::health(&k.node_id());
    let size = |r: &Repo| -> Vec<usize> {
        r.changes_missing(&id, &[])
            .unwrap()
            .iter()
            .map(|s| s.bytes.len())
            .collect()
    };
    k.publish_health_report(&h).unwrap();
    let first = size(&k)[0];
    h.contacts.insert(NodeId([3; 32]), T0 + 60);
    h.published_at = Some(T0 + 1800);
    h.uptime_s = Some(88_200);
    k.publish_health_report(&h).unwrap();
    let sizes = size(&k);
    assert_eq!(sizes.len(), 2, "one document, one change per update");
    let update = sizes[1];
    println!("health report: first {first} B (30 contacts), update of one contact {update} B");
    assert!(first < 3_000, "first report {first} B");
    assert!(
        update < 400,
        "an update writes only what changed: {update} B"
    );
}

/// Two years, in seconds: how far a stolen courier laptop sets its clock.
const TWO_YEARS: i64 = 63_072_000;

/// A stolen courier laptop (not yet revoked) tells a remote kiosk it is two years
/// behind, to make every notice with a validity expire there (issue: one courier
/// sets a kiosk's clock). One machine that is not the office's does not set a
/// clock alone; a correction that contradicts officials' signed times is refused;
/// an urgent notice is never hidden by a correction.
#[test]
fn one_lying_courier_cannot_expire_a_kiosks_notices() {
    let tmp = tempfile::tempdir().unwrap();
    let (office, kiosk) = office_and_kiosk(tmp.path());
    let courier = CliNode::new(tmp.path(), "courier");
    enrol(&office, &courier, "courier", "Laptop giao liên");
    let courier2 = CliNode::new(tmp.path(), "courier2");
    enrol(&office, &courier2, "courier", "Laptop giao liên 2");
    let now = conglang::model::text::now();
    {
        let mut o = Repo::open(&office.dir).unwrap();
        for (title, urgent) in [("Cảnh báo bão số 3", true), ("Lịch tiêm chủng", false)]
        {
            o.post_notice(&NoticeDraft {
                title: title.into(),
                body: "Nội dung".into(),
                urgent,
                valid_until: Some(now + 2 * 86_400),
                ..Default::default()
            })
            .unwrap();
        }
    }
    // The data reaches the courier and the kiosk by USB (no live contact with the
    // office: the kiosk is remote, the courier never met the office live either).
    exchange(&office.dir, &courier.dir);
    exchange(&office.dir, &kiosk.dir);

    // The courier's clock says two years ahead; the kiosk meets it live.
    let served = serve_env(&courier, &[(OFFSET_ENV, TWO_YEARS.to_string())]);
    kiosk.sync_with(&served);
    served.stop();

    let courier_id = member_id(&courier.dir);
    let kiosk_id = member_id(&kiosk.dir);
    let k = Repo::open(&kiosk.dir).unwrap();
    // The lie did arrive: the kiosk saw the courier's clock two years ahead.
    let seen = k.peer_clocks().unwrap()[&courier_id].offset_ms;
    assert!((seen / 1000 - TWO_YEARS).abs() < 300, "{seen}");
    // One courier alone does not make the kiosk's clock wrong.
    let est = k.clock_estimate().unwrap();
    assert!(!est.wrong(), "{est:?}");
    assert_eq!(est.correction(), 0);
    assert!(!k.health_report(0).unwrap().clock_wrong);
    if let Some(h) = health_of(&kiosk.dir, &kiosk_id) {
        assert!(!h.clock_wrong, "the kiosk reported itself wrong: {h:?}");
    }
    assert_eq!(kiosk.json(&["status"])["clock"]["wrong"], false);
    drop(k);
    // Its screen still shows both notices, and no clock warning.
    let ks = app(&kiosk.dir, Clock::system());
    assert!(ks.query_all_by_label_contains("Cảnh báo bão số 3").count() >= 1);
    assert!(ks.query_all_by_label("Lịch tiêm chủng").count() >= 1);
    assert!(ks.query_by_label_contains("Đồng hồ máy này sai").is_none());
    drop(ks);

    // Two couriers saying "two years back" (to revive expired notices) contradict
    // the officials' signed times (written "now"): refused, however many agree.
    let courier2_id = member_id(&courier2.dir);
    let mut k = Repo::open(&kiosk.dir).unwrap();
    for c in [&courier_id, &courier2_id] {
        k.note_peer_clock(c, -TWO_YEARS * 1000).unwrap();
    }
    let est = k.clock_estimate().unwrap();
    assert!(!est.wrong(), "{est:?}");
    // Two couriers saying "two years ahead" are believed (nothing signed says
    // otherwise): the ordinary notice expires by the corrected time, but the
    // urgent one stays up while the kiosk's own clock says it is valid.
    for c in [&courier_id, &courier2_id] {
        k.note_peer_clock(c, TWO_YEARS * 1000).unwrap();
    }
    assert!(k.clock_estimate().unwrap().wrong());
    drop(k);
    let ks = app(&kiosk.dir, Clock::system());
    ks.get_by_label_contains("Đồng hồ máy này sai");
    assert!(ks.query_all_by_label_contains("Cảnh báo bão số 3").count() >= 1);
    assert!(ks.query_all_by_label("Lịch tiêm chủng").next().is_none());
}

/// An honest courier whose battery died, but who met the office since, tells the
/// kiosks the commune's time (its corrected clock), not its own.
#[test]
fn a_courier_that_met_the_office_sends_the_corrected_clock() {
    let tmp = tempfile::tempdir().unwrap();
    let (office, kiosk) = office_and_kiosk(tmp.path());
    let courier = CliNode::new(tmp.path(), "courier");
    enrol(&office, &courier, "courier", "Laptop giao liên");
    exchange(&office.dir, &kiosk.dir);
    let served = serve_env(&courier, &[(OFFSET_ENV, (-YEARS_OFF).to_string())]);
    // The courier meets the office: it learns its clock is three years behind…
    office.sync_with(&served);
    // …and the kiosk it meets next sees the commune's time in its Hello.
    kiosk.sync_with(&served);
    served.stop();
    let courier_id = member_id(&courier.dir);
    let c = Repo::open(&courier.dir).unwrap();
    assert!(c.clock_estimate().unwrap().wrong());
    let k = Repo::open(&kiosk.dir).unwrap();
    let seen = k.peer_clocks().unwrap()[&courier_id].offset_ms;
    assert!(seen.abs() < 300_000, "the kiosk saw {seen} ms");
    assert!(!k.clock_estimate().unwrap().wrong());
}

/// A kiosk cannot make the office's devices screen say things about another
/// device: not by creating a report that names it, nor by reporting a contact
/// with it in the future, nor by claiming a version that makes everyone else look
/// outdated, nor with numbers that overflow the office's arithmetic.
#[test]
fn a_kiosk_cannot_speak_for_another_device_in_fleet_health() {
    use automerge::{ROOT, transaction::Transactable};
    use conglang::model::DocId;

    const TEN_YEARS: i64 = 10 * 365 * 86_400;
    let mut c = crate::harness::Commune::new();
    let mut k1 = c.member("kiosk-1", Role::Kiosk);
    let k2 = c.member("kiosk-2", Role::Kiosk);
    let k2_id = k2.node_id();
    // K1 creates its own report naming K2 as its maker, with alarming values.
    let forged = crate::harness::forge(&k1, &c.office, &DocId::health(&k1.node_id()), |tx| {
        tx.put(ROOT, "kind", "health").unwrap();
        tx.put(ROOT, "created_by", k2_id.to_string()).unwrap();
        tx.put(ROOT, "created_at", T0).unwrap();
        tx.put(ROOT, "published_at", T0 + TEN_YEARS).unwrap();
        tx.put(ROOT, "disk_free_mb", 1i64).unwrap();
        tx.put(ROOT, "clock_wrong", true).unwrap();
        tx.put(ROOT, "clock_offset_ms", 100_000_000_000i64).unwrap();
        tx.put(ROOT, "version", "0.0.1").unwrap();
    });
    let rep = c.office.import(vec![forged], None).unwrap();
    assert_eq!(rep.accepted, 0, "{rep:?}");
    assert!(
        rep.rejected
            .first()
            .is_some_and(|r| r.reason.contains("created_by must name the author")),
        "{rep:?}"
    );
    // The same trick on a notice by an official, and on a receipt, is refused too.
    let official2 = c.member("official-2", Role::Official);
    let n = DocId::new_random(conglang::model::Kind::Notice);
    let forged = crate::harness::forge(&official2, &c.office, &n, |tx| {
        tx.put(ROOT, "kind", "notice").unwrap();
        tx.put(ROOT, "created_by", c.office.node_id().to_string())
            .unwrap();
        tx.put(ROOT, "title", "Thông báo giả").unwrap();
    });
    let rep = c.office.import(vec![forged], None).unwrap();
    assert_eq!(rep.accepted, 0, "{rep:?}");

    // K1's own report, with a contact with K2 ten years after it was written,
    // version "999", and numbers at the edge of i64.
    k1.publish_health_report(&Health {
        version: "999".into(),
        published_at: Some(T0),
        disk_free_mb: Some(i64::MAX),
        db_mb: Some(i64::MIN),
        clock_offset_ms: Some(i64::MAX),
        clock_wrong: true,
        contacts: [(k2_id, T0 + TEN_YEARS)].into_iter().collect(),
        ..Default::default()
    })
    .unwrap();
    crate::harness::exchange(&mut k1, &mut c.office);
    let h = health_of_repo(&c.office, &k1.node_id());
    assert_eq!(h.version, "999");
    assert!(h.contacts.is_empty(), "a contact after the report: {h:?}");

    let view = conglang::ui::build_view(&c.office).unwrap();
    let rows = conglang::ui::fleet::rows(&view, &|_| false, T0 + 60);
    let row = rows.iter().find(|r| r.node == k2_id).expect("K2's row");
    assert_eq!(row.seen, None, "K2 never met anyone: {row:?}");
    assert!(row.version.is_none(), "{row:?}");
    for r in &rows {
        assert!(
            !r.version.as_ref().is_some_and(|(_, old)| *old),
            "one kiosk's \"999\" flags {} outdated",
            r.name
        );
        assert!(r.seen.is_none_or(|t| t <= T0 + 60), "{r:?}");
    }
    // The office's screen draws all of it without overflowing (a panic in debug).
    let mut os = app(&c.base.path().join("office"), Clock::manual(T0 + 60));
    tap_button(&mut os, "Thiết bị");
    os.get_by_label("Tình trạng các máy");
    assert!(os.query_all_by_label("Chưa liên lạc").count() >= 1);
}

/// Fresh keys cost nothing: strangers completing a `Hello` must not push the
/// members' clock readings out of the store (they are not recorded at all).
#[test]
fn strangers_do_not_erase_clock_observations() {
    let mut c = crate::harness::Commune::new();
    let mut k = c.member("kiosk-1", Role::Kiosk);
    let office_id = c.office.node_id();
    let year_ms = 365 * 86_400_000i64;
    k.note_peer_clock(&office_id, year_ms).unwrap();
    assert!(k.clock_estimate().unwrap().wrong());
    for i in 0..300u32 {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_be_bytes());
        b[31] = 0xee;
        k.note_peer_clock(&NodeId(b), -year_ms).unwrap();
    }
    let seen = k.peer_clocks().unwrap();
    assert_eq!(seen.len(), 1, "strangers recorded");
    assert_eq!(seen[&office_id].offset_ms, year_ms);
    let est = k.clock_estimate().unwrap();
    assert!(est.wrong() && est.offset_ms == Some(year_ms), "{est:?}");
}

/// Issue 21, point 8: a node that refuses hostile data from a member key counts it,
/// and the office sees which device to revoke — in `conglang status` and on the
/// devices screen, beside the device's name.
#[test]
fn the_office_sees_which_device_sent_refused_data() {
    use automerge::transaction::Transactable;
    let tmp = tempfile::tempdir().unwrap();
    let (office, kiosk) = office_and_kiosk(tmp.path());
    let kiosk_id = member_id(&kiosk.dir);
    {
        let mut o = Repo::open(&office.dir).unwrap();
        let k = Repo::open(&kiosk.dir).unwrap();
        let id = o
            .post_notice(&NoticeDraft {
                title: "Lịch họp thôn".into(),
                body: "Tối thứ bảy tại nhà văn hóa".into(),
                ..Default::default()
            })
            .unwrap();
        // The kiosk's key rewrites an official notice (only officials may), three times.
        let forged: Vec<_> = (0..3)
            .map(|i| {
                crate::harness::forge(&k, &o, &id, |tx| {
                    tx.put(automerge::ROOT, "title", format!("Tin giả {i}"))
                        .unwrap();
                })
            })
            .collect();
        let r = o.import(forged, Some(&kiosk_id)).unwrap();
        assert_eq!(r.rejected.len(), 3);
        assert!(r.rejected.iter().all(|x| x.hostile), "{r:?}");
        let st = o.status().unwrap();
        assert_eq!(st.refused_from.len(), 1, "{:?}", st.refused_from);
        assert_eq!(st.refused_from[0].node, kiosk_id);
        assert_eq!(st.refused_from[0].changes, 3);
    }
    let out = office.ok(&["status"]);
    assert!(
        out.contains("Kiosk Nà Khoang") && out.contains("sent refused data: 3 change(s)"),
        "{out}"
    );
    let mut h = app(&office.dir, Clock::system());
    tap_button(&mut h, "Thiết bị");
    h.get_by_label_contains("Đã gửi dữ liệu bị từ chối: 3 thay đổi");
}
