//! Releases as signed documents (issue 25, point 2): the office approves a release the
//! release key signed; its package travels as the commune's data does, resumes across
//! short contacts without sending a chunk twice, and a device puts it where the
//! installer takes it only if it is for the device, whole and checked. A package that
//! fails a check is never staged, and a chunk that is not the release's is never
//! forwarded.

use automerge::{ROOT, ScalarValue, transaction::Transactable};
use conglang::model::{DocId, Role};
use conglang::release::{self, CHUNK, Release};
use conglang::repo::{NotStaged, Repo};
use conglang::sync::{Event, Session};
use ed25519_dalek::SigningKey;

use crate::harness::{Commune, doc_of, exchange, later_kind_change, roundtrip};

/// The test fleet's release key (the built-in key's private half is not here): this
/// process trusts it, as root would by `/etc/conglang/release-keys/`.
fn test_key() -> SigningKey {
    let k = SigningKey::from_bytes(&[7u8; 32]);
    release::trust(k.verifying_key().to_bytes());
    k
}

fn package(n: usize, seed: u8) -> Vec<u8> {
    let mut x = seed as u32 | 1;
    (0..n)
        .map(|_| {
            // xorshift: incompressible, like a real .deb.
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn signed(key: &SigningKey, package: &[u8], version: &str, arch: &str) -> Vec<u8> {
    Release::describe(
        package,
        version,
        arch,
        "0.1.0",
        "Sửa lỗi hiển thị thông báo bão; nhanh hơn trên đường truyền 2G.",
    )
    .unwrap()
    .sign(key)
    .unwrap()
}

/// One contact between `a` and `b` that ends after `budget` bytes of messages (each
/// way counted), as a 2G link a courier stands at for a few seconds. Returns whether
/// it ended synced, and the hashes of every change that crossed.
fn contact(a: &mut Repo, b: &mut Repo, budget: usize) -> (bool, Vec<[u8; 32]>) {
    let commune = a.commune_id().unwrap().unwrap();
    let mut sa = Session::new(a.node_id(), b.node_id(), commune, rand::random());
    let mut sb = Session::new(b.node_id(), a.node_id(), commune, rand::random());
    sa.start(a).unwrap();
    sb.start(b).unwrap();
    let mut spent = 0usize;
    let mut crossed = Vec::new();
    loop {
        let mut moved = false;
        for dir in 0..2 {
            let (from, to, repo_to) = if dir == 0 {
                (&mut sa, &mut sb, &mut *b)
            } else {
                (&mut sb, &mut sa, &mut *a)
            };
            while let Some(m) = from.poll_transmit() {
                let len = conglang::sync::wire::encode(&m).len();
                if spent + len > budget {
                    // The link is gone: this message and everything after it is lost.
                    return (false, crossed);
                }
                spent += len;
                moved = true;
                let m = roundtrip(m);
                if let Some(batch) = m.batch() {
                    // A chunk is a batch's worth (`sync::BATCH_BYTES`): one per batch,
                    // so the batches in flight hold no more than any backlog's.
                    let big = batch.iter().filter(|c| c.bytes.len() >= CHUNK).count();
                    assert!(big <= 1, "{big} chunks in one batch");
                    crossed.extend(batch.iter().map(|c| {
                        automerge::Change::from_bytes(c.bytes.clone())
                            .unwrap()
                            .hash()
                            .0
                    }));
                }
                to.handle_message(m, repo_to).unwrap();
            }
        }
        if !moved {
            break;
        }
    }
    let mut synced = sa.is_synced() && sb.is_synced();
    while let Some(e) = sa.poll_event() {
        synced |= e == Event::Synced && sb.is_synced();
    }
    (synced, crossed)
}

#[test]
fn an_approved_release_travels_in_short_contacts_and_is_staged_only_where_meant() {
    let key = test_key();
    let mut c = Commune::new();
    let mut courier = c.member("courier", Role::Courier);
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    let mut other_kiosk = c.member("kiosk2", Role::Kiosk);
    // 20 chunks: ~640 KB, a minute of 2G; the real package's figures are in BENCHMARKS.md.
    // 40 chunks: ~600 KB, a minute of 2G; the real package's figures are in BENCHMARKS.md.
    let pkg = package(40 * CHUNK - 1000, 3);
    let record = signed(&key, &pkg, "9.0.0", release::running_arch());
    let id = c
        .office
        .approve_release(&record, &pkg, &[Role::Kiosk, Role::Courier])
        .unwrap();
    assert_eq!(
        c.office
            .approve_release(&record, &pkg, &[Role::Kiosk])
            .unwrap(),
        id,
        "approving the same release again writes nothing new"
    );
    // A storm warning posted after the approval still goes first in a short contact.
    let warning = c
        .office
        .post_notice(&conglang::model::NoticeDraft {
            title: "Cảnh báo lũ quét".into(),
            body: "Bà con tránh xa suối.".into(),
            category: Some(conglang::model::Category::Storm),
            urgent: true,
            ..Default::default()
        })
        .unwrap();

    // Office to courier, then courier to kiosk, in contacts of ~100 KB (10 s of 2G).
    let budget = 100 * 1024;
    for (from, to) in [(0, 1), (1, 2)] {
        let mut contacts = 0;
        let mut seen = std::collections::BTreeSet::new();
        let mut twice = 0;
        loop {
            contacts += 1;
            assert!(contacts < 40, "the release never completes");
            let (done, crossed) = {
                let (a, b): (&mut Repo, &mut Repo) = match (from, to) {
                    (0, 1) => (&mut c.office, &mut courier),
                    _ => (&mut courier, &mut kiosk),
                };
                contact(a, b, budget)
            };
            for h in crossed {
                if !seen.insert(h) {
                    twice += 1;
                }
            }
            let receiver = if to == 1 { &courier } else { &kiosk };
            if contacts == 1 {
                assert!(
                    receiver.notice(&warning).unwrap().is_some(),
                    "the storm warning arrives in the first contact, before the package"
                );
                // Its health report says how much of the update it holds.
                let u = receiver.update_report().unwrap().expect("an update report");
                assert_eq!((u.state.as_str(), u.version.as_str()), ("waiting", "9.0.0"));
                assert!(u.held < u.of && u.of == 40, "{u:?}");
            }
            if done {
                break;
            }
        }
        assert!(
            contacts >= 5,
            "the package needed several contacts ({contacts})"
        );
        assert_eq!(twice, 0, "no change crossed twice over {contacts} contacts");
        let receiver = if to == 1 { &courier } else { &kiosk };
        let r = &receiver.releases().unwrap()[0];
        assert!(
            r.complete(),
            "{} of {}",
            r.chunks_held,
            r.release.chunks.len()
        );
        assert_eq!(receiver.release_package(&id).unwrap(), pkg);
    }

    // The kiosk puts it where the installer takes it: the package and its record.
    let staged = kiosk.stage_releases().unwrap();
    assert_eq!(staged.len(), 1);
    assert_eq!(std::fs::read(&staged[0].path).unwrap(), pkg);
    let rec = staged[0].path.with_extension("release");
    assert_eq!(
        release::verify(&std::fs::read(rec).unwrap())
            .unwrap()
            .release
            .version,
        "9.0.0"
    );
    assert!(kiosk.stage_releases().unwrap().is_empty(), "staged once");
    assert_eq!(kiosk.update_report().unwrap().unwrap().state, "ready");
    // A staged file changed under the node is written again.
    std::fs::write(&staged[0].path, b"junk").unwrap();
    kiosk.stage_releases().unwrap();
    assert_eq!(std::fs::read(&staged[0].path).unwrap(), pkg);
    // The office's own PC was not named: it carries the release, does not install it.
    assert!(c.office.stage_releases().unwrap().is_empty());
    let plan = c.office.release_plan().unwrap();
    assert_eq!(plan[0].1, Err(NotStaged::NotForRole));

    // Withdrawn before the other kiosk installed it: it never will. The withdrawal
    // travels with the record, ahead of the chunks: a short first contact brings both.
    c.office.withdraw_release(&id).unwrap();
    let (_, crossed) = contact(&mut c.office, &mut other_kiosk, 40 * 1024);
    assert!(!crossed.is_empty());
    let r = &other_kiosk.releases().unwrap()[0];
    assert!(
        r.withdrawn && !r.complete(),
        "withdrawn: {}, {} chunks",
        r.withdrawn,
        r.chunks_held
    );
    exchange(&mut c.office, &mut other_kiosk);
    assert!(other_kiosk.stage_releases().unwrap().is_empty());
    assert_eq!(
        other_kiosk.release_plan().unwrap()[0].1,
        Err(NotStaged::Withdrawn)
    );
}

fn release_id(author: &Repo) -> DocId {
    DocId::new_later("release", &author.node_id())
}

fn creation(author: &Repo, id: &DocId, record: Vec<u8>) -> conglang::model::SignedChange {
    let by = author.node_id().to_string();
    later_kind_change(author, automerge::Automerge::new(), id, |tx| {
        tx.put(ROOT, "kind", "release").unwrap();
        tx.put(ROOT, "created_by", by).unwrap();
        tx.put(ROOT, "record", ScalarValue::Bytes(record)).unwrap();
        tx.put(ROOT, "roles", "kiosk").unwrap();
        tx.put(ROOT, "approved_at", ScalarValue::Timestamp(1_800_000_000))
            .unwrap();
    })
}

fn refused_because(r: &conglang::repo::ImportReport, what: &str) -> bool {
    r.accepted == 0 && r.rejected.iter().any(|x| x.reason.contains(what))
}

#[test]
fn a_package_that_fails_a_check_is_never_staged_and_its_chunks_never_forwarded() {
    let key = test_key();
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    let courier = c.member("courier", Role::Courier);
    let pkg = package(3 * CHUNK, 9);

    // Signed by a key no one trusts: the office refuses to approve it. A tampered
    // office binary's approval of it is stored (every node agrees on it, whatever keys
    // each trusts) but never staged anywhere.
    let stranger = SigningKey::from_bytes(&[8u8; 32]);
    let forged_record = signed(&stranger, &pkg, "9.0.0", release::running_arch());
    let e = c
        .office
        .approve_release(&forged_record, &pkg, &[Role::Kiosk])
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("not a trusted release key"),
        "{e:#}"
    );
    let id = release_id(&c.office);
    let r = kiosk
        .import(vec![creation(&c.office, &id, forged_record.clone())], None)
        .unwrap();
    assert_eq!(r.accepted, 1, "{:?}", r.rejected);
    let untrusted = kiosk
        .release_plan()
        .unwrap()
        .into_iter()
        .find(|(r, _)| r.id == id)
        .unwrap();
    assert_eq!(untrusted.1, Err(NotStaged::Untrusted));
    // Forged: a record altered after it was signed is refused on arrival.
    let mut altered = signed(&key, &pkg, "9.0.0", release::running_arch());
    let n = altered.len();
    altered[n - 80] ^= 1;
    let id2 = release_id(&c.office);
    let r = kiosk
        .import(vec![creation(&c.office, &id2, altered)], None)
        .unwrap();
    assert!(
        refused_because(&r, "signature does not match"),
        "{:?}",
        r.rejected
    );

    // Signed by the release key, but not approved by an official: a courier (or a
    // kiosk) may neither approve it nor write the approval itself.
    let record = signed(&key, &pkg, "9.0.0", release::running_arch());
    let mut courier = courier;
    assert!(
        courier
            .approve_release(&record, &pkg, &[Role::Kiosk])
            .is_err()
    );
    let cid = release_id(&courier);
    exchange(&mut c.office, &mut kiosk); // the kiosk knows the courier
    let r = kiosk
        .import(vec![creation(&courier, &cid, record.clone())], None)
        .unwrap();
    assert!(refused_because(&r, "may not write"), "{:?}", r.rejected);

    // Truncated: the office refuses to approve a package that is not the record's.
    let e = c
        .office
        .approve_release(&record, &pkg[..pkg.len() - 1], &[Role::Kiosk])
        .unwrap_err();
    assert!(format!("{e:#}").contains("truncated"), "{e:#}");

    // A chunk that is not the release's, from an official's tampered binary, is
    // refused on arrival (so never forwarded): altered, short, or past the end.
    let id = c
        .office
        .approve_release(&record, &pkg, &[Role::Kiosk])
        .unwrap();
    let id_honest = id.clone();
    exchange(&mut c.office, &mut kiosk);
    let base = {
        let full = doc_of(&c.office, &id);
        let first = full
            .get_changes(&[])
            .into_iter()
            .find(|c| c.deps().is_empty())
            .unwrap()
            .hash();
        full.fork_at(&[first]).unwrap()
    };
    let mut bad = pkg[CHUNK..2 * CHUNK].to_vec();
    bad[100] ^= 1;
    for (field, bytes) in [
        ("c1", bad),
        ("c1", pkg[CHUNK..2 * CHUNK - 1].to_vec()),
        ("c3", pkg[..CHUNK].to_vec()),
    ] {
        let ch = later_kind_change(&c.office, base.clone(), &id, |tx| {
            tx.put(ROOT, field, ScalarValue::Bytes(bytes)).unwrap();
        });
        let r = kiosk.import(vec![ch], None).unwrap();
        assert!(
            refused_because(&r, "is not the release's"),
            "{field}: {:?}",
            r.rejected
        );
    }
    // The record cannot be replaced after the approval.
    let other = signed(&key, &package(CHUNK, 1), "9.0.1", release::running_arch());
    let ch = later_kind_change(&c.office, base.clone(), &id, |tx| {
        tx.put(ROOT, "record", ScalarValue::Bytes(other)).unwrap();
    });
    let r = kiosk.import(vec![ch], None).unwrap();
    assert!(refused_because(&r, "is fixed"), "{:?}", r.rejected);

    // The honest approval arrived whole: staged (not the untrusted one of the same
    // version), and the same bytes.
    let staged = kiosk.stage_releases().unwrap();
    assert_eq!(
        staged.len(),
        1,
        "{:?}",
        kiosk
            .release_plan()
            .unwrap()
            .iter()
            .map(|(r, v)| (r.id.to_string(), r.chunks_held, v.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(staged[0].id, id_honest);
    assert_eq!(std::fs::read(&staged[0].path).unwrap(), pkg);

    // Another architecture: carried, never staged, and the plan says why.
    let arch = if release::running_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let pkg2 = package(CHUNK, 5);
    let rec2 = signed(&key, &pkg2, "9.1.0", arch);
    c.office
        .approve_release(&rec2, &pkg2, &[Role::Kiosk])
        .unwrap();
    exchange(&mut c.office, &mut kiosk);
    let plan = kiosk.release_plan().unwrap();
    assert_eq!(plan[0].0.release.version, "9.1.0");
    assert_eq!(plan[0].1, Err(NotStaged::OtherArch(arch.into())));
    // Not newer than the running version: never staged (no downgrade by the mesh).
    let pkg3 = package(CHUNK, 6);
    let rec3 = signed(&key, &pkg3, "0.1.5", release::running_arch());
    c.office
        .approve_release(&rec3, &pkg3, &[Role::Kiosk])
        .unwrap();
    exchange(&mut c.office, &mut kiosk);
    let plan = kiosk.release_plan().unwrap();
    let old = plan
        .iter()
        .find(|(r, _)| r.release.version == "0.1.5")
        .unwrap();
    assert_eq!(old.1, Err(NotStaged::NotNewer));
}

/// "Cập nhật phần mềm" on the office console: a release found beside the node (where a
/// technician copies it from a stick), what it changes and which devices get it, the
/// official's approval; a forged file said to be unusable; then each device's rollout
/// on the same screen and on the devices screen, and on the courier's exchange screen
/// the villages still to visit. At the console's size (1024×768) and a hall's
/// (1280×800), every control in reach.
#[test]
fn the_office_approves_a_release_on_its_screen_and_follows_the_rollout() {
    use crate::ui::{T0, app_sized, exchange as sync_dirs, tap_button};
    use conglang::model::health::{Health, UpdateReport};
    use conglang::ui::Clock;
    use egui_kittest::kittest::Queryable;

    let key = test_key();
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n);
    let mut o = Repo::open(&dir("office")).unwrap();
    o.init_commune("Xã Long Môn", "UBND xã Long Môn").unwrap();
    let mut ids = Vec::new();
    for (d, role, name, place) in [
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
        ("courier", Role::Courier, "Laptop liên lạc", "Xã Long Môn"),
    ] {
        let mut r = Repo::open(&dir(d)).unwrap();
        let invite = o
            .roster_add(r.node_id(), role, name, place, vec![])
            .unwrap();
        r.join(&invite).unwrap();
        ids.push(r.node_id());
    }
    drop(o);
    // The technician's copy: a release the project signed, and a forged one.
    let incoming = dir("office").join("updates/incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    let pkg = package(40 * CHUNK - 1000, 4);
    let arch = release::running_arch();
    std::fs::write(incoming.join(format!("conglang_9.0.0_{arch}.deb")), &pkg).unwrap();
    std::fs::write(
        incoming.join(format!("conglang_9.0.0_{arch}.release")),
        signed(&key, &pkg, "9.0.0", arch),
    )
    .unwrap();
    let stranger = SigningKey::from_bytes(&[9u8; 32]);
    std::fs::write(incoming.join(format!("conglang_9.9.9_{arch}.deb")), &pkg).unwrap();
    std::fs::write(
        incoming.join(format!("conglang_9.9.9_{arch}.release")),
        signed(&stranger, &pkg, "9.9.9", arch),
    )
    .unwrap();

    let mut h = app_sized(
        &dir("office"),
        Clock::manual(T0),
        egui::vec2(1024.0, 768.0),
        1.0,
    );
    tap_button(&mut h, "Cập nhật phần mềm");
    if let Ok(d) = std::env::var("CONGLANG_LOOK") {
        h.render()
            .unwrap()
            .save(format!("{d}/updates-found-1024x768.png"))
            .unwrap();
    }
    for label in [
        format!("Phiên bản 9.0.0 (máy {arch}), 0,7 MB, cập nhật được từ bản 0.1.0 trở lên"),
        "Sửa lỗi hiển thị thông báo bão; nhanh hơn trên đường truyền 2G.".to_string(),
        "4 máy sẽ nhận bản này: Kiosk Bản Chang, Kiosk Nà Khoang, Laptop liên lạc, UBND xã Long Môn"
            .to_string(),
        format!(
            "Tệp conglang_9.9.9_{arch}.deb không dùng được: không có chữ ký của dự án Cổng Làng"
        ),
    ] {
        assert!(
            h.query_all_by_label(&label).count() >= 1,
            "the updates screen shows {label:?}"
        );
    }
    // Only the kiosks: untick the office and the courier.
    tap_button(&mut h, "Cán bộ xã");
    tap_button(&mut h, "Máy mang đi");
    assert!(
        h.query_all_by_label("2 máy sẽ nhận bản này: Kiosk Bản Chang, Kiosk Nà Khoang")
            .count()
            >= 1
    );
    tap_button(&mut h, "Duyệt cập nhật cho xã");
    h.run();
    assert!(
        h.query_all_by_label("Đã duyệt, đang gửi tới các máy.")
            .count()
            >= 1
    );
    assert_eq!(h.query_all_by_label("Duyệt cập nhật cho xã").count(), 0);
    let o = Repo::open(&dir("office")).unwrap();
    let approved = o.releases().unwrap();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].roles, vec![Role::Kiosk]);
    drop(o);

    // The kiosks report: Nà Khoang has 3 of 20 parts, Bản Chang rolled it back.
    for (d, state, held) in [("na-khoang", "waiting", 3), ("ban-chang", "rolled_back", 0)] {
        Repo::open(&dir(d))
            .unwrap()
            .publish_health_report(&Health {
                version: "0.2.0".into(),
                published_at: Some(T0 - 600),
                update: Some(UpdateReport {
                    state: state.into(),
                    version: "9.0.0".into(),
                    at: T0 - 600,
                    held,
                    of: 20,
                }),
                ..Default::default()
            })
            .unwrap();
        sync_dirs(&dir(d), &dir("office"));
    }
    sync_dirs(&dir("office"), &dir("courier"));
    h.run();
    h.run();
    for label in [
        "Đang nhận bản 9.0.0: 3/20 phần",
        "Bản 9.0.0 lỗi, máy đã trở lại bản cũ",
    ] {
        assert!(
            h.query_all_by_label(label).count() >= 1,
            "the rollout shows {label:?}"
        );
    }
    let mut all = crate::layout::problems(&mut h, egui::vec2(1024.0, 768.0), "updates 1024×768");
    tap_button(&mut h, "Thiết bị");
    assert!(
        h.query_all_by_label("0.2.0\nĐang nhận bản 9.0.0: 3/20 phần")
            .count()
            >= 1,
        "the devices screen shows the rollout under the version"
    );
    if let Ok(d) = std::env::var("CONGLANG_LOOK") {
        tap_button(&mut h, "Cập nhật phần mềm");
        h.render()
            .unwrap()
            .save(format!("{d}/updates-1024x768.png"))
            .unwrap();
    }

    // The courier: the village still to visit with it.
    let mut c = app_sized(
        &dir("courier"),
        Clock::manual(T0),
        egui::vec2(1280.0, 800.0) / 1.5,
        1.5,
    );
    assert!(
        c.query_all_by_label("Cập nhật 9.0.0: còn cần mang tới Thôn Nà Khoang")
            .count()
            >= 1,
        "the courier's exchange screen says where the update is still needed"
    );
    all.extend(crate::layout::problems(
        &mut c,
        egui::vec2(1280.0, 800.0) / 1.5,
        "courier 1280×800",
    ));
    if let Ok(d) = std::env::var("CONGLANG_LOOK") {
        c.render()
            .unwrap()
            .save(format!("{d}/courier-update.png"))
            .unwrap();
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
    let _ = ids;
}

/// Over real nodes (iroh endpoints, in network namespaces where the machine allows
/// them, the 2G link emulator between): the office's release reaches a village kiosk
/// through the courier in contacts of a few seconds, each cut short, every one adding
/// chunks; the kiosk stages it whole.
#[test]
fn a_release_crosses_real_links_through_the_courier_in_short_contacts() {
    use conglang::lab::{self, link::LinkSpec};
    let key = test_key();
    let mut c = Commune::new();
    let courier = c.member("courier", Role::Courier);
    let kiosk = c.member("kiosk", Role::Kiosk);
    // 6 chunks, ~100 KB: about 10 s of a 100 kbit/s line, more than one 5-s contact.
    let pkg = package(6 * CHUNK, 11);
    let record = signed(&key, &pkg, "9.0.0", release::running_arch());
    let id = c
        .office
        .approve_release(&record, &pkg, &[Role::Kiosk])
        .unwrap();
    let dirs = [
        c.office.data_dir().to_path_buf(),
        courier.data_dir().to_path_buf(),
        kiosk.data_dir().to_path_buf(),
    ];
    drop((courier, kiosk));
    let held = |d: &std::path::Path| {
        Repo::open(d)
            .unwrap()
            .releases()
            .unwrap()
            .first()
            .map_or(0, |r| r.chunks_held)
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (from, to) in [(&dirs[0], &dirs[1]), (&dirs[1], &dirs[2])] {
        let mut contacts = 0;
        let mut progress = Vec::new();
        while held(to) < 6 {
            contacts += 1;
            assert!(contacts <= 12, "the release never arrived: {progress:?}");
            rt.block_on(lab::contact_over_link(
                from,
                to,
                LinkSpec::two_g(contacts),
                None,
                std::time::Duration::from_secs(5),
            ))
            .unwrap();
            progress.push(held(to));
        }
        assert!(contacts >= 2, "one contact was enough: {progress:?}");
        assert!(
            progress.windows(2).all(|w| w[1] >= w[0]),
            "a contact lost chunks: {progress:?}"
        );
    }
    // The kiosk's node put it where the installer takes it, at the end of the contact
    // that completed it.
    let deb = dirs[2].join(format!(
        "updates/conglang_9.0.0_{}.deb",
        release::running_arch()
    ));
    assert_eq!(std::fs::read(&deb).unwrap(), pkg);
    let kiosk = Repo::open(&dirs[2]).unwrap();
    assert!(kiosk.stage_releases().unwrap().is_empty(), "staged once");
    assert_eq!(kiosk.release_plan().unwrap()[0].0.id, id);
}
