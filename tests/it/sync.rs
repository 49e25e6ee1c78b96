//! Sync between real processes over real iroh endpoints on loopback, and the
//! protocol's properties through the sans-IO core between real stores.

use conglang::model::{Kind, NoticeDraft, RequestDraft, Role, Status};
use conglang::repo::Repo;
use conglang::sync::{Event, Session};

use crate::harness::{CliNode, Commune, enrol, exchange, exchange_limited, roundtrip};

#[test]
fn notice_reaches_kiosk_request_reaches_office_and_answer_comes_back() {
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let kiosk = CliNode::new(base.path(), "kiosk");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    enrol(&office, &kiosk, "kiosk", "Nhà văn hóa thôn Nà Khoang");
    let notice = office.ok(&[
        "notice",
        "post",
        "--title",
        "Tiêm phòng dại cho chó mèo",
        "--category",
        "health",
    ]);
    let notice = notice.trim().to_string();

    let served = office.serve(&[]);
    let report = kiosk.sync_with(&served);
    assert_eq!(report["changes_rejected"], 0);
    // The roster came with the invite: the notice is what is new.
    assert!(report["docs_received"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(
        kiosk.json(&["notice", "show", &notice])["title"],
        "Tiêm phòng dại cho chó mèo"
    );
    assert_eq!(kiosk.json(&["status"])["role"], "kiosk");

    // While `serve` runs, the CLI writes to the office store from another process.
    let code = kiosk.ok(&[
        "request",
        "submit",
        "--hamlet",
        "Nà Khoang",
        "--name",
        "Vàng Thị Mai",
        "--text",
        "Xin lịch tiêm cho chó nhà tôi",
    ]);
    let code = code.trim().to_string();
    kiosk.sync_with(&served);
    assert_eq!(
        office.json(&["request", "show", &code])["text"],
        "Xin lịch tiêm cho chó nhà tôi"
    );
    office.ok(&[
        "request",
        "answer",
        &code,
        "--text",
        "Sáng thứ Bảy tại nhà văn hóa.",
        "--status",
        "answered",
    ]);
    kiosk.sync_with(&served);
    let r = kiosk.json(&["request", "show", &code]);
    assert_eq!(r["status"], "answered");
    assert_eq!(r["answers"][0]["text"], "Sáng thứ Bảy tại nhà văn hóa.");

    // Nothing differs now: one exchange of digests, a few hundred bytes (each
    // `Hello` carries its sender's wall clock too: 7 bytes, for the clock check).
    let noop = kiosk.sync_with(&served);
    assert_eq!(noop["changes_received"], 0);
    assert_eq!(noop["round_trips"], 1, "{noop}");
    assert!(
        noop["bytes_sent"].as_u64().unwrap() + noop["bytes_received"].as_u64().unwrap() < 420,
        "{noop}"
    );
    served.stop();
}

#[test]
fn continuous_sync_delivers_a_new_change_to_a_connected_peer_within_seconds() {
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let kiosk = CliNode::new(base.path(), "kiosk");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    enrol(&office, &kiosk, "kiosk", "Kiosk Nà Khoang");
    let served = office.serve(&[]);
    let kiosk_served = kiosk.serve(&["--peer", &served.peer]);
    // Posted by a separate CLI process on the office data dir while both serve.
    let id = office.ok(&[
        "notice",
        "post",
        "--title",
        "Cảnh báo sạt lở đất",
        "--category",
        "storm",
        "--urgent",
    ]);
    let id = id.trim();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let o = kiosk.cmd(&["notice", "show", id, "--json"]);
        if o.status.success() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let log = |n: &str| {
                std::fs::read_to_string(base.path().join(format!("{n}.serve.log")))
                    .unwrap_or_default()
            };
            panic!(
                "notice did not arrive on the connected kiosk\noffice:\n{}\nkiosk:\n{}",
                log("office"),
                log("kiosk")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    kiosk_served.stop();
    served.stop();
}

#[test]
fn data_mule_courier_carries_both_ways_and_reach_comes_back() {
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let courier = CliNode::new(base.path(), "courier");
    let kiosk = CliNode::new(base.path(), "kiosk");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    enrol(&office, &courier, "courier", "Anh Thào (xe máy)");
    enrol(&office, &kiosk, "kiosk", "Kiosk Bản Chang");
    let notice = office.ok(&[
        "notice",
        "post",
        "--title",
        "Lịch làm căn cước lưu động",
        "--category",
        "schedule",
    ]);
    let notice = notice.trim().to_string();

    // 1. courier meets the office (kiosk is offline; it has never met the office).
    let o = office.serve(&[]);
    courier.sync_with(&o);
    o.stop();
    // 2. later, office gone, courier reaches the village.
    let k = kiosk.serve(&[]);
    courier.sync_with(&k);
    k.stop();
    assert_eq!(
        kiosk.json(&["notice", "show", &notice])["title"],
        "Lịch làm căn cước lưu động"
    );
    let code = kiosk.ok(&[
        "request",
        "submit",
        "--hamlet",
        "Bản Chang",
        "--name",
        "Giàng A Lử",
        "--text",
        "Nhà tôi ở xa, xin cán bộ đến làm giúp",
        "--kind",
        "home-visit",
    ]);
    let code = code.trim().to_string();
    let k = kiosk.serve(&[]);
    courier.sync_with(&k);
    k.stop();
    // 3. back at the office.
    let o = office.serve(&[]);
    courier.sync_with(&o);
    o.stop();
    assert_eq!(
        office.json(&["request", "show", &code])["kind"],
        "home-visit"
    );
    let reach = office.json(&["reach", &notice]);
    let names: Vec<&str> = reach
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Kiosk Bản Chang"),
        "office sees the kiosk got the notice: {reach}"
    );
    assert!(names.contains(&"Anh Thào (xe máy)"), "{reach}");
}

#[test]
fn non_member_is_refused_and_nothing_it_sent_is_stored() {
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let stranger = CliNode::new(base.path(), "stranger");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    stranger.ok(&["init", "--commune", "Xã Khác", "--name", "Kẻ lạ"]);
    stranger.ok(&["notice", "post", "--title", "Tin giả", "--urgent"]);
    let before = office.json(&["status"]);
    let served = office.serve(&[]);
    let o = stranger.cmd(&[
        "sync",
        "--peer",
        &served.peer,
        "--timeout",
        "20",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!o.status.success(), "a stranger's sync must fail");
    served.stop();
    // The office wrote its own health report while serving; nothing else came in.
    let after = office.json(&["status"]);
    let mut docs = after["docs"].clone();
    docs.as_object_mut().unwrap().remove("health");
    assert_eq!(before["docs"], docs);
    let repo = Repo::open(&office.dir).unwrap();
    for c in repo.all_changes().unwrap() {
        assert_eq!(
            c.verify().unwrap().author,
            repo.node_id(),
            "only the office's own changes are stored"
        );
    }
}

/// A peer the node will not sync with is told why, every time, not just "connection
/// lost": the node's `Bye` and its reason are read before the connection closes
/// (closing at once used to discard them about half the time).
#[test]
fn a_refused_peer_is_told_why_every_time() {
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let stranger = CliNode::new(base.path(), "stranger");
    let kiosk = CliNode::new(base.path(), "kiosk");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    stranger.ok(&["init", "--commune", "Xã Khác", "--name", "Kẻ lạ"]);
    enrol(&office, &kiosk, "kiosk", "Kiosk Nà Khoang");
    office.ok(&["roster", "revoke", &kiosk.id()]);
    let served = office.serve(&[]);
    for (who, node, why) in [
        ("another commune's node", &stranger, "another commune"),
        ("a revoked kiosk", &kiosk, "revoked"),
    ] {
        for i in 0..5 {
            let o = node.cmd(&[
                "sync",
                "--peer",
                &served.peer,
                "--timeout",
                "20",
                "--listen",
                "127.0.0.1:0",
            ]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!o.status.success(), "{who}: sync {i} succeeded");
            let last = err.lines().last().unwrap_or_default();
            assert!(
                last.starts_with("error: ") && last.contains(why),
                "{who}, sync {i}: not told why: {last}"
            );
        }
    }
    served.stop();
}

#[test]
fn concurrent_edits_to_the_same_request_merge_over_sync() {
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    let mut off2 = c.member("office-2", Role::Official);
    let r = kiosk
        .submit_request(&RequestDraft {
            hamlet: "Nà Khoang".into(),
            name: "Hoàng Văn Sáng".into(),
            text: "Hỏi về trợ cấp người cao tuổi".into(),
            ..Default::default()
        })
        .unwrap();
    exchange(&mut kiosk, &mut c.office);
    exchange(&mut c.office, &mut off2);
    c.office
        .answer_request(&r.code, "Cần giấy xác nhận.", Some(Status::Answered), None)
        .unwrap();
    off2.answer_request(
        &r.code,
        "Đã chuyển hồ sơ lên huyện.",
        Some(Status::Resolved),
        None,
    )
    .unwrap();
    exchange(&mut c.office, &mut off2);
    exchange(&mut c.office, &mut kiosk);
    let a = kiosk.request(&r.code).unwrap().unwrap();
    assert_eq!(a.answers.len(), 2);
    assert_eq!(a, off2.request(&r.code).unwrap().unwrap());
}

#[test]
fn urgent_notice_posted_last_arrives_first_through_a_large_backlog() {
    let mut c = Commune::new();
    let kiosk_dir = c.base.path().join("kiosk");
    let mut kiosk = conglang::repo::Repo::open(&kiosk_dir).unwrap();
    let inv = c
        .office
        .roster_add(kiosk.node_id(), Role::Kiosk, "Kiosk", "", vec![])
        .unwrap();
    kiosk.join(&inv).unwrap();
    // The kiosk already holds the roster: a first contact between two non-empty
    // stores, where only the smaller side offers.
    let roster = c
        .office
        .changes_missing(&conglang::model::DocId::roster(), &[])
        .unwrap();
    kiosk.import(roster, Some(&c.office.node_id())).unwrap();
    for i in 0..2000 {
        c.office
            .submit_request(&RequestDraft {
                hamlet: "Nà Khoang".into(),
                name: format!("Người dân số {i}"),
                text: "Xin hỏi thủ tục đăng ký khai sinh cho cháu mới sinh ở thôn Nà Khoang".into(),
                ..Default::default()
            })
            .unwrap();
    }
    let urgent = c
        .office
        .post_notice(&NoticeDraft {
            title: "KHẨN: Bão số 5 đổ bộ đêm nay".into(),
            body: "Sơ tán khỏi vùng trũng".into(),
            urgent: true,
            ..Default::default()
        })
        .unwrap();
    let commune = c.office.commune_id().unwrap().unwrap();
    let mut so = Session::new(c.office.node_id(), kiosk.node_id(), commune, rand::random());
    let mut sk = Session::new(kiosk.node_id(), c.office.node_id(), commune, rand::random());
    so.start(&mut c.office).unwrap();
    sk.start(&mut kiosk).unwrap();
    // The order in which document changes travel from the office, across batches.
    let mut stream: Vec<conglang::model::DocId> = Vec::new();
    let mut requests_when_urgent_committed = None;
    for _ in 0..100_000 {
        let mut moved = false;
        while let Some(m) = so.poll_transmit() {
            moved = true;
            let m = roundtrip(m);
            let batch: Vec<_> = match m.batch() {
                Some(changes) => changes.iter().map(|c| c.doc.clone()).collect(),
                None => Vec::new(),
            };
            if batch.contains(&urgent) {
                assert!(
                    batch.iter().all(|d| d.kind() != Kind::Request),
                    "the urgent notice shares its batch with the backlog: {batch:?}"
                );
            }
            stream.extend(batch.iter().cloned());
            sk.handle_message(m, &mut kiosk).unwrap();
            while let Some(e) = sk.poll_event() {
                if let Event::Received { docs } = e
                    && docs.contains(&urgent)
                    && requests_when_urgent_committed.is_none()
                {
                    requests_when_urgent_committed = Some(kiosk.requests().unwrap().len());
                }
            }
        }
        while let Some(m) = sk.poll_transmit() {
            moved = true;
            so.handle_message(roundtrip(m), &mut c.office).unwrap();
        }
        if !moved {
            break;
        }
    }
    let first_content = stream.iter().find(|d| d.kind() != Kind::Roster).cloned();
    assert_eq!(
        first_content,
        Some(urgent.clone()),
        "the urgent notice travels before the backlog"
    );
    // It was committed with the very first batch, not after the 2,000 requests.
    assert!(
        requests_when_urgent_committed.unwrap() < 200,
        "{requests_when_urgent_committed:?}"
    );
    assert_eq!(kiosk.requests().unwrap().len(), 2000);
    assert_eq!(kiosk.change_set().unwrap(), c.office.change_set().unwrap());
    assert_eq!(kiosk.digest().unwrap(), c.office.digest().unwrap());
}

#[test]
fn cut_link_keeps_what_arrived_and_next_sync_completes() {
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    for i in 0..300 {
        c.office
            .post_notice(&NoticeDraft {
                title: format!("Thông báo số {i}"),
                body: "Nội dung dài ".repeat(40),
                ..Default::default()
            })
            .unwrap();
    }
    // Cut after a few batches.
    assert!(
        exchange_limited(&mut c.office, &mut kiosk, 6).is_none(),
        "the cut came before the end"
    );
    let got = kiosk.notices().unwrap().len();
    assert!(got > 0 && got < 300, "kept what arrived: {got}");
    for ch in kiosk.all_changes().unwrap() {
        ch.verify().unwrap();
    }
    exchange(&mut c.office, &mut kiosk);
    assert_eq!(kiosk.notices().unwrap().len(), 300);
}

/// Upgrade in place: a bundle written by protocol 1 (`CONGLANG-BUNDLE 1`, its frames'
/// `Changes` is the fourth message) is still imported; a bundle of an unknown newer
/// format is refused with words saying so; a version-1 peer's hello is refused with an
/// error naming both versions, and a version-1 peer is sent a `Bye` its version can read.
#[test]
fn older_bundles_are_read_and_older_peers_are_told_to_update() {
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    let id = c
        .office
        .post_notice(&NoticeDraft {
            title: "Thông báo từ bản cũ".into(),
            ..Default::default()
        })
        .unwrap();
    let changes = c.office.changes_missing(&id, &[]).unwrap();
    // Version 1's frame: flags 0, message tag 3 (`Changes`), then the same fields.
    let raw = conglang::sync::wire::raw(&conglang::sync::Msg::Changes { changes });
    let mut body = vec![0u8, 3];
    body.extend_from_slice(&raw[1..]);
    let mut bytes = b"CONGLANG-BUNDLE 1\n".to_vec();
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&body);
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.bundle");
    std::fs::write(&old, &bytes).unwrap();
    let rep = conglang::bundle::import(&mut kiosk, &old).unwrap();
    assert_eq!((rep.accepted, rep.rejected), (1, 0), "{rep:?}");
    assert!(kiosk.notice(&id).unwrap().is_some());

    let newer = dir.path().join("newer.bundle");
    std::fs::write(&newer, b"CONGLANG-BUNDLE 9\nwhatever").unwrap();
    let e = conglang::bundle::import(&mut kiosk, &newer)
        .unwrap_err()
        .to_string();
    assert!(e.contains("newer format") && e.contains("update"), "{e}");

    // A version-1 hello: the first field of the first message is the version in
    // every protocol version, so the error names it.
    // The previous release speaks version 2 on the same ALPN; its `Hello` is refused
    // too, before any change goes (it could not read fleet health reports), and so is
    // version 3 (it could not read receipts per period).
    let commune = c.office.commune_id().unwrap().unwrap();
    for version in [1u16, 2, 3] {
        let mut s = Session::new(c.office.node_id(), kiosk.node_id(), commune, [1; 16]);
        s.start(&mut c.office).unwrap();
        let hello = conglang::sync::Msg::Hello {
            version,
            commune,
            nonce: [0; 16],
            set: [0; 16],
            total: 0,
            classes: vec![],
            recent: vec![],
            wall_ms: None,
            upto: None,
            restricted: None,
            later: None,
        };
        let e = s
            .handle_message(hello, &mut c.office)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("version {version}"))
                && e.contains(&format!("version {}", conglang::sync::wire::VERSION))
                && e.contains("updating"),
            "{e}"
        );
    }

    // What a version-1 peer is sent: one length-prefixed frame, flags 0, its `Bye` tag.
    let bye = conglang::sync::wire::v1_bye(&conglang::sync::wire::v1_reason());
    let n = u32::from_le_bytes(bye[..4].try_into().unwrap()) as usize;
    assert_eq!(n + 4, bye.len());
    assert_eq!(&bye[4..6], &[0, 6]);
    assert!(String::from_utf8_lossy(&bye).contains("conglang/sync/2"));
}

/// Issue 22, point 1: a kiosk that missed a season of notices — 2,020 posted and
/// withdrawn at the office — could never catch up. Each withdrawal is urgent and was
/// sent first; it waited for its notice's creation (sent last) in the kiosk's pending
/// buffer, whose per-author share (2,000) overflowed, and the session ended at the
/// same point at every contact. Now each withdrawal travels with the creation it
/// builds on, and one contact brings everything.
#[test]
fn a_kiosk_far_behind_catches_up_in_one_contact() {
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    let n = conglang::store::MAX_PENDING_PER_AUTHOR as usize + 20;
    for i in 0..n {
        let id = c
            .office
            .post_notice(&NoticeDraft {
                title: format!("Lịch tiêm phòng đợt {i}"),
                body: "Tại trạm y tế xã".into(),
                ..Default::default()
            })
            .unwrap();
        c.office.withdraw_notice(&id).unwrap();
    }
    let (ab, _) = exchange(&mut c.office, &mut kiosk);
    assert!(ab > 0);
    assert_eq!(kiosk.change_set().unwrap(), c.office.change_set().unwrap());
    let notices = kiosk.notices().unwrap();
    assert_eq!(notices.len(), n);
    assert!(notices.iter().all(|x| x.withdrawn));
    assert_eq!(kiosk.status().unwrap().pending, 0);
}

/// Runs a session from `office` to `kiosk`, one flight at a time, until neither side
/// has anything to say. Returns the batches with content (other than the roster) the
/// kiosk committed, and after which of them `ready` first held.
fn batches_until(
    office: &mut Repo,
    kiosk: &mut Repo,
    mut ready: impl FnMut(&Repo) -> bool,
) -> (usize, Option<usize>) {
    let commune = office.commune_id().unwrap().unwrap();
    let mut so = Session::new(office.node_id(), kiosk.node_id(), commune, rand::random());
    let mut sk = Session::new(kiosk.node_id(), office.node_id(), commune, rand::random());
    so.start(office).unwrap();
    sk.start(kiosk).unwrap();
    let mut batches = 0;
    let mut readable_after = None;
    for _ in 0..10_000 {
        let mut moved = false;
        while let Some(m) = so.poll_transmit() {
            moved = true;
            let m = roundtrip(m);
            let content = m
                .batch()
                .is_some_and(|b| b.iter().any(|c| c.doc.kind() != Kind::Roster));
            sk.handle_message(m, kiosk).unwrap();
            if content {
                batches += 1;
                if readable_after.is_none() && ready(kiosk) {
                    readable_after = Some(batches);
                }
            }
        }
        while let Some(m) = sk.poll_transmit() {
            moved = true;
            so.handle_message(roundtrip(m), office).unwrap();
        }
        if !moved {
            break;
        }
    }
    (batches, readable_after)
}

/// Issue 22, point 4 (found by W8 with 2,020 withdrawals: a storm warning came 4 s
/// after the connection on 2G, behind the withdrawals): urgent notices went oldest
/// first, so a warning posted now waited behind every old withdrawal the kiosk
/// lacked. Now the newest urgent change goes first; and the withdrawals of notices a
/// kiosk never had go with the backlog, after their notice. Both for a kiosk that
/// shows the 300 notices (their withdrawals must reach it) and for a new one.
#[test]
fn a_storm_warning_is_not_held_back_by_old_withdrawals() {
    for fresh in [false, true] {
        let mut c = Commune::new();
        let mut kiosk = c.member("kiosk", Role::Kiosk);
        let mut ids = Vec::new();
        for i in 0..300 {
            ids.push(
                c.office
                    .post_notice(&NoticeDraft {
                        title: format!("Lịch trực số {i}"),
                        body: "Trực ban tại nhà văn hóa thôn.".into(),
                        ..Default::default()
                    })
                    .unwrap(),
            );
        }
        if !fresh {
            exchange(&mut c.office, &mut kiosk);
            assert_eq!(kiosk.notices().unwrap().len(), 300);
        }
        for id in &ids {
            c.office.withdraw_notice(id).unwrap();
        }
        // Times are seconds: the warning comes after every withdrawal, as in the field.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let warning = c
            .office
            .post_notice(&NoticeDraft {
                title: "KHẨN: Lũ quét trên suối Nà Khoang".into(),
                body: "Không qua ngầm tràn.".into(),
                urgent: true,
                ..Default::default()
            })
            .unwrap();
        let (batches, readable_after) = batches_until(&mut c.office, &mut kiosk, |k| {
            k.notices().unwrap().iter().any(|n| n.id == warning)
        });
        assert!(batches > 2, "fresh {fresh}: several batches: {batches}");
        assert_eq!(
            readable_after,
            Some(1),
            "fresh {fresh}: of {batches} batches"
        );
        // Every withdrawal arrived: only the warning shows.
        let shown: Vec<_> = kiosk
            .notices()
            .unwrap()
            .into_iter()
            .filter(|n| !n.withdrawn)
            .map(|n| n.id)
            .collect();
        assert_eq!(kiosk.notices().unwrap().len(), 301, "fresh {fresh}");
        assert_eq!(shown, vec![warning], "fresh {fresh}");
        assert_eq!(kiosk.status().unwrap().pending, 0);
    }
}

/// Issue 22, point 1: a notice made urgent by an edit, among 400 older notices the
/// kiosk lacks. The edit is urgent and was sent first, but waited for its base (the
/// newest notice, sent at the end of the backlog): readable after batch 9 of 11. Now
/// it is readable, as urgent, when the first batch of content is committed.
#[test]
fn a_notice_made_urgent_by_an_edit_is_readable_with_the_first_batch() {
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    let mut last = None;
    for i in 0..400 {
        last = Some(
            c.office
                .post_notice(&NoticeDraft {
                    title: format!("Thông báo số {i}"),
                    body: "Họp thôn vào tối thứ bảy tại nhà văn hóa, mời các hộ đến đủ.".into(),
                    ..Default::default()
                })
                .unwrap(),
        );
    }
    let id = last.unwrap();
    c.office
        .edit_notice(
            &id,
            &NoticeDraft {
                title: "KHẨN: Lũ quét trên suối Nà Khoang".into(),
                body: "Không qua ngầm tràn. Sơ tán khỏi bờ suối ngay.".into(),
                urgent: true,
                ..Default::default()
            },
        )
        .unwrap();
    let (batches, readable_after) = batches_until(&mut c.office, &mut kiosk, |k| {
        k.notices().unwrap().iter().any(|n| n.id == id && n.urgent)
    });
    assert!(batches > 3, "a backlog of several batches: {batches}");
    assert_eq!(readable_after, Some(1), "of {batches} batches");
    assert_eq!(kiosk.notices().unwrap().len(), 400);
    assert_eq!(kiosk.status().unwrap().pending, 0);
}

/// Messages cross in flights, as on a slow link where each side answers everything
/// it has received at once: the kiosk dials and speaks first. Returns the flight
/// after which `ready(kiosk)` first held (1 = the kiosk's `Hello` reached the office,
/// 2 = the office's first answer reached the kiosk, …), the flights in all and the
/// changes the office sent.
fn flights_until(
    office: &mut Repo,
    kiosk: &mut Repo,
    mut ready: impl FnMut(&Repo) -> bool,
) -> (usize, Option<usize>, u64) {
    let commune = office.commune_id().unwrap().unwrap();
    let mut so = Session::new(office.node_id(), kiosk.node_id(), commune, rand::random());
    let mut sk = Session::new(kiosk.node_id(), office.node_id(), commune, rand::random());
    so.start(office).unwrap();
    sk.start(kiosk).unwrap();
    let mut readable_after = None;
    for flight in 1..1_000 {
        let mut moved = false;
        if flight % 2 == 1 {
            let out: Vec<_> = std::iter::from_fn(|| sk.poll_transmit()).collect();
            for m in out {
                moved = true;
                so.handle_message(roundtrip(m), office).unwrap();
            }
        } else {
            let out: Vec<_> = std::iter::from_fn(|| so.poll_transmit()).collect();
            for m in out {
                moved = true;
                sk.handle_message(roundtrip(m), kiosk).unwrap();
            }
        }
        if readable_after.is_none() && ready(kiosk) {
            readable_after = Some(flight);
        }
        if !moved && flight > 2 {
            return (flight, readable_after, so.stats().changes_sent);
        }
    }
    panic!("the sessions never went quiet");
}

/// Issue 22 (W4b on 2G: 2 of 15 runs of the edit case over 2 s): the warning left
/// the office only when the kiosk's `Want` asked for it, a round trip after the
/// office had read the kiosk's `Hello` — a third of the 2-s budget at 400 ms RTT,
/// and twice that when a packet on the way was lost. The office's newest urgent
/// items now go with its answer to the `Hello` when the kiosk's urgent class
/// differs: readable after the second flight, whether the warning was posted urgent
/// or made urgent by an edit of a notice the kiosk lacks, among 300 it lacks. A kiosk
/// that already holds the warning gets nothing twice.
#[test]
fn a_storm_warning_travels_with_the_offices_first_answer() {
    for (by_edit, enrolled_since) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut c = Commune::new();
        let mut kiosk = c.member("kiosk", Role::Kiosk);
        if enrolled_since {
            // The roster differs too (a kiosk enrolled since): the founder's warning
            // does not wait for the roster's round trip (W4b holds one more
            // enrolment; the warning waited for it).
            c.office
                .roster_add(
                    conglang::identity::Identity::generate().node_id(),
                    Role::Kiosk,
                    "Kiosk Bản Chang",
                    "Thôn Bản Chang",
                    vec![],
                )
                .unwrap();
        }
        for i in 0..300 {
            c.office
                .post_notice(&NoticeDraft {
                    title: format!("Lịch trực số {i}"),
                    body: "Trực ban tại nhà văn hóa thôn.".into(),
                    ..Default::default()
                })
                .unwrap();
        }
        let warning = NoticeDraft {
            title: "KHẨN: Lũ quét trên suối Nà Khoang".into(),
            body: "Không qua ngầm tràn.".into(),
            urgent: true,
            ..Default::default()
        };
        let id = if by_edit {
            let id = c
                .office
                .post_notice(&NoticeDraft {
                    urgent: false,
                    ..warning.clone()
                })
                .unwrap();
            c.office.edit_notice(&id, &warning).unwrap();
            id
        } else {
            c.office.post_notice(&warning).unwrap()
        };
        let (flights, readable_after, _) = flights_until(&mut c.office, &mut kiosk, |k| {
            k.notices().unwrap().iter().any(|n| n.id == id && n.urgent)
        });
        assert_eq!(
            readable_after,
            Some(2),
            "by edit {by_edit}, enrolled since {enrolled_since}: of {flights} flights"
        );
        assert_eq!(kiosk.notices().unwrap().len(), 301, "by edit {by_edit}");
        assert_eq!(kiosk.status().unwrap().pending, 0);
        // Next contact, one withdrawal later: the kiosk holds the warning, which may
        // cross again (it is among the office's recent items, not the kiosk's), but
        // nothing else does.
        let old = kiosk
            .notices()
            .unwrap()
            .into_iter()
            .find(|n| n.id != id)
            .unwrap();
        c.office.withdraw_notice(&old.id).unwrap();
        let (_, withdrawn_after, sent) = flights_until(&mut c.office, &mut kiosk, |k| {
            k.notices()
                .unwrap()
                .iter()
                .any(|n| n.id == old.id && n.withdrawn)
        });
        assert_eq!(withdrawn_after, Some(2), "by edit {by_edit}");
        assert!(
            sent <= 1 + conglang::sync::RECENT as u64,
            "by edit {by_edit}: {sent} changes sent for one withdrawal"
        );
        assert_eq!(kiosk.digest().unwrap(), c.office.digest().unwrap());
    }
}
