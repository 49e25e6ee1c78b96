//! The store: restarts, merges of concurrent edits by hand, refusal of tampered
//! changes, migrations.

use conglang::model::{Kind, NoticeDraft, Role, SignedChange, Status};
use conglang::repo::Repo;
use conglang::store::Store;

use crate::harness::Commune;

fn draft(title: &str) -> NoticeDraft {
    NoticeDraft {
        title: title.into(),
        body: "Nội dung thông báo".into(),
        ..Default::default()
    }
}

#[test]
fn data_survives_restart_and_cache_rebuilds_from_log() {
    let mut c = Commune::new();
    let id = c
        .office
        .post_notice(&draft("Họp dân thôn Bản Chang"))
        .unwrap();
    let dir = c.office.data_dir().to_path_buf();
    drop(c.office);
    let r = Repo::open(&dir).unwrap();
    assert_eq!(
        r.notice(&id).unwrap().unwrap().title,
        "Họp dân thôn Bản Chang"
    );
    assert_eq!(r.store().integrity_check().unwrap(), "ok");
}

#[test]
fn concurrent_edits_on_two_stores_merge_with_signatures_intact() {
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk-na-khoang", Role::Kiosk);
    let mut second = c.member("office-2", Role::Official);
    let req = kiosk
        .submit_request(&conglang::model::RequestDraft {
            hamlet: "Nà Khoang".into(),
            name: "Lò Văn Pó".into(),
            text: "Xin hẹn làm căn cước".into(),
            ..Default::default()
        })
        .unwrap();
    // Both officials get the request, then answer it concurrently.
    let changes = kiosk.all_changes().unwrap();
    c.office
        .import(changes.clone(), Some(&kiosk.node_id()))
        .unwrap();
    second.import(changes, Some(&kiosk.node_id())).unwrap();
    c.office
        .answer_request(
            &req.code,
            "Mời bác đến thứ Hai.",
            Some(Status::Answered),
            None,
        )
        .unwrap();
    second
        .answer_request(
            &req.code,
            "Hoặc thứ Ba cũng được.",
            Some(Status::Answered),
            None,
        )
        .unwrap();
    // Exchange changes by hand through the store API.
    let a = c.office.all_changes().unwrap();
    let b = second.all_changes().unwrap();
    let ra = c.office.import(b, Some(&second.node_id())).unwrap();
    let rb = second.import(a, Some(&c.office.node_id())).unwrap();
    assert!(
        ra.rejected.is_empty() && rb.rejected.is_empty(),
        "{ra:?} {rb:?}"
    );
    let x = c.office.request(&req.code).unwrap().unwrap();
    let y = second.request(&req.code).unwrap().unwrap();
    assert_eq!(x.answers.len(), 2, "both answers kept");
    assert_eq!(x, y, "both stores hold the same merged request");
    // Every stored change still verifies.
    for ch in c.office.all_changes().unwrap() {
        ch.verify().expect("signature intact after merge");
    }
}

#[test]
fn tampered_change_or_signature_is_refused_and_nothing_stored() {
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    c.office.post_notice(&draft("Lịch tiêm chủng")).unwrap();
    let good: Vec<SignedChange> = c.office.all_changes().unwrap();
    let notice_change = good
        .iter()
        .find(|s| s.doc.kind() == Kind::Notice)
        .unwrap()
        .clone();
    let before = kiosk.status().unwrap();

    let mut bad_sig = notice_change.clone();
    bad_sig.sig[5] ^= 1;
    let mut bad_bytes = notice_change.clone();
    let n = bad_bytes.bytes.len();
    bad_bytes.bytes[n - 3] ^= 0x40;
    let mut unsigned = notice_change.clone();
    unsigned.sig = [0; 64];
    for forged in [bad_sig, bad_bytes, unsigned] {
        let r = kiosk
            .import(vec![forged], Some(&c.office.node_id()))
            .unwrap();
        assert_eq!(r.accepted, 0);
        assert_eq!(r.rejected.len(), 1, "{r:?}");
    }
    let after = kiosk.status().unwrap();
    assert_eq!(before.changes, after.changes, "nothing stored");
    assert!(after.rejected >= 3, "refusals are logged");
    // The genuine change still imports.
    let r = kiosk
        .import(vec![notice_change], Some(&c.office.node_id()))
        .unwrap();
    assert_eq!(r.accepted, 1);
}

#[test]
fn migrations_run_on_empty_and_older_databases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    {
        let s = Store::open_file(&path, Some(1)).unwrap();
        assert_eq!(s.schema_version().unwrap(), 1);
    }
    // Data written by a version-1 node.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO meta(key, value) VALUES('commune_name', 'Xã Long Môn')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO docs(doc_id, kind, priority, heads, state_hash, snapshot, view, last_seq)
             VALUES('n-0011223344556677', 'notice', 2, x'', x'00000000000000000000000000000000', NULL, '{}', 1)",
            [],
        )
        .unwrap();
    }
    let s = Store::open_file(&path, None).unwrap();
    let latest = conglang::store::migrations().validate();
    assert!(latest.is_ok());
    assert!(s.schema_version().unwrap() >= 2);
    assert_eq!(
        s.read().meta("commune_name").unwrap().as_deref(),
        Some("Xã Long Môn")
    );
    assert_eq!(
        s.read().count_by_kind().unwrap(),
        vec![("notice".to_string(), 1)]
    );
    assert_eq!(s.read().pending_count().unwrap(), 0, "new tables exist");
    // And an empty one.
    let e = Store::open_file(&dir.path().join("new.sqlite3"), None).unwrap();
    assert_eq!(e.schema_version().unwrap(), s.schema_version().unwrap());
}

/// Upgrade in place to sync protocol 2: stores at schema 3 written by the previous
/// release's binary (`tests/fixtures/v1-*`, an office and a kiosk of one commune) open,
/// migrate, index every change they hold, and reconcile with each other.
#[test]
fn schema_3_store_with_data_migrates_and_reconciles() {
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| crate::harness::fixture_store(dir.path(), name, Some(3));
    let mut office = open("v1-office");
    let mut kiosk = open("v1-kiosk");
    let held = office.status().unwrap().changes as u64;
    assert!(held > 5);
    assert_eq!(
        office.change_set().unwrap().count,
        held,
        "every change indexed"
    );
    crate::harness::exchange(&mut office, &mut kiosk);
    assert_eq!(office.change_set().unwrap(), kiosk.change_set().unwrap());
    assert_eq!(kiosk.notices().unwrap().len(), 2);
}

/// Receipts at O(batch) (migration 7): stores at schema 6 written by the previous
/// release's binary (`tests/fixtures/v2-*`: the office posted two notices, the kiosk
/// received them by USB and sent its receipt back, then the office withdrew one) open
/// with their receipts' entries moved into rows: `reach` reads as it did before the
/// upgrade ("latest" for one notice, "older" for the withdrawn one), and after a sync
/// the kiosk's receipt records the withdrawal, its rows then equal to a full read.
#[test]
fn schema_6_store_keeps_its_receipts_and_reach_through_the_receipt_entries_migration() {
    use conglang::repo::HeldVersion;
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| crate::harness::fixture_store(dir.path(), name, Some(6));
    let mut office = open("v2-office");
    let mut kiosk = open("v2-kiosk");
    let notices = office.notices().unwrap();
    assert_eq!(notices.len(), 2);
    let withdrawn = notices.iter().find(|n| n.withdrawn).expect("one withdrawn");
    let live = notices.iter().find(|n| !n.withdrawn).expect("one live");
    let kiosk_id = kiosk.node_id();
    let version = |office: &Repo, id| {
        let r = office.reach(id).unwrap();
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].node, kiosk_id);
        assert!(r[0].since > 1_700_000_000, "first-held time kept: {r:?}");
        r[0].version
    };
    assert_eq!(version(&office, &live.id), HeldVersion::Latest);
    assert_eq!(version(&office, &withdrawn.id), HeldVersion::Older);
    let receipts = office.receipts().unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].1.notices.len(), 2);
    assert_eq!(receipts[0].1.versions.len(), 2);
    crate::harness::exchange(&mut office, &mut kiosk);
    assert_eq!(version(&office, &withdrawn.id), HeldVersion::Latest);
    assert_eq!(version(&office, &live.id), HeldVersion::Latest);
    // The first import into a migrated receipt reads it whole: its rows are then
    // exactly the receipt's entries, on both nodes.
    //
    // What the kiosk writes at this sync depends on the date the test runs (its clock
    // is the machine's): in the fixtures' period (692, written 2026-11-30) it adds to
    // that receipt; in a later period it opens a new receipt that holds the entries
    // this import wrote, beside the old one, or (two or more periods later) instead of
    // it, carrying its entries over. At any date, every receipt's rows equal a full
    // read, and together the kiosk's kept receipts cover both notices, the withdrawn
    // one at its newest version (which `version` above read as "latest").
    let fixture_period = 692;
    let now_period = conglang::model::receipt_period_of(conglang::clock::now_ms() / 1000);
    for r in [&office, &kiosk] {
        let held = r
            .store()
            .read()
            .receipt_entries_of(&kiosk_id, None)
            .unwrap();
        let mut covered = std::collections::BTreeSet::new();
        let mut periods = Vec::new();
        for (id, held) in held {
            let full = conglang::model::schema::read_receipt(&crate::harness::doc_of(r, &id));
            assert_eq!(held, full, "{id} on {}", r.node_id());
            covered.extend(full.notices.keys().cloned());
            periods.push(id.receipt_period());
        }
        periods.sort();
        let newest = now_period.max(fixture_period);
        let expected: Vec<Option<u32>> = if newest == fixture_period {
            vec![Some(fixture_period)]
        } else if newest == fixture_period + 1 {
            vec![Some(fixture_period), Some(newest)]
        } else {
            vec![Some(newest)]
        };
        assert_eq!(
            periods,
            expected,
            "the kiosk's kept receipt periods on {} at period {now_period}",
            r.node_id()
        );
        let both: std::collections::BTreeSet<String> =
            [live.id.to_string(), withdrawn.id.to_string()].into();
        assert_eq!(covered, both, "on {}", r.node_id());
    }
}

/// Migration 7 moves receipts' JSON views into rows whatever they hold: versions kept
/// in their order, an empty version kept apart from a missing one, a key that would
/// break a JSON path (`"`), and a view that is not JSON (no rows, the store still
/// opens). Each such receipt is marked to be read whole at its next import.
#[test]
fn migration_7_moves_receipt_views_into_rows_whatever_they_hold() {
    use conglang::model::DocId;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(conglang::store::DB_FILE);
    drop(Store::open_file(&path, Some(6)).unwrap());
    let (a, b) = (
        conglang::identity::Identity::generate().node_id(),
        conglang::identity::Identity::generate().node_id(),
    );
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let ins = |id: &DocId, view: &str| {
            conn.execute(
                "INSERT INTO docs(doc_id, kind, priority, heads, state_hash, view, last_seq)
                 VALUES(?1, 'receipt', 5, x'', zeroblob(16), ?2, 0)",
                rusqlite::params![id.as_str(), view],
            )
            .unwrap();
        };
        ins(
            &DocId::receipt(&a),
            r#"{"notices":{"n-1":100,"n-2":200,"n-x\"y":300,"n-3":400},
                "versions":{"n-1":["bbbbbbbbbbbbbbbb","aaaaaaaaaaaaaaaa"],"n-2":[],"n-x\"y":["cccccccccccccccc"]}}"#,
        );
        ins(&DocId::receipt(&b), "not json");
    }
    let store = Store::open_file(&path, None).unwrap();
    let held = store.read().receipt_entries().unwrap();
    let ra = &held
        .iter()
        .find(|(d, _)| *d == DocId::receipt(&a))
        .unwrap()
        .1;
    assert_eq!(ra.notices.len(), 4, "{ra:?}");
    assert_eq!(ra.notices["n-x\"y"], 300);
    assert_eq!(
        ra.versions["n-1"],
        vec![
            "bbbbbbbbbbbbbbbb".to_string(),
            "aaaaaaaaaaaaaaaa".to_string()
        ],
        "the order written"
    );
    assert_eq!(ra.versions["n-2"], Vec::<String>::new(), "an empty version");
    assert_eq!(ra.versions["n-x\"y"], vec!["cccccccccccccccc".to_string()]);
    assert!(
        !ra.versions.contains_key("n-3"),
        "no version: an entry of before versions"
    );
    let rb = &held
        .iter()
        .find(|(d, _)| *d == DocId::receipt(&b))
        .unwrap()
        .1;
    assert!(
        rb.notices.is_empty(),
        "a receipt whose view was not JSON: listed, no entries"
    );
    let views: Vec<String> = {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut st = conn
            .prepare("SELECT view FROM docs WHERE kind = 'receipt'")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    assert_eq!(
        views,
        vec![String::new(), String::new()],
        "read whole at next import"
    );
}
