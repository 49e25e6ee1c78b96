//! Mixed versions (issue 25): what this release promises the next one. A later
//! version adds document kinds (photos, voices); this one must store and forward
//! them, judged by the rules every kind shares, so an old courier still carries a new
//! kind of document between two upgraded nodes. The `Hello` side of the promise (a
//! newer peer is served, an older one told to update) is in `sync::tests`.

use automerge::{ROOT, transaction::Transactable};
use conglang::model::signed::{ChainMeta, new_actor};
use conglang::model::{DocId, Kind, Role};

use crate::harness::{Commune, doc_of, exchange, forge_with, later_kind_change};

/// A later version's photo on a notice, as the office that took it writes it: an id
/// of the shape every later kind keeps (`<prefix>-<creator key prefix><random>`).
fn photo_id(author: &conglang::repo::Repo) -> DocId {
    format!(
        "ph-{}0123456789abcdef",
        hex::encode(&author.node_id().as_bytes()[..8])
    )
    .parse()
    .unwrap()
}

fn creation(author: &conglang::repo::Repo, id: &DocId) -> conglang::model::SignedChange {
    let by = author.node_id().to_string();
    later_kind_change(author, automerge::Automerge::new(), id, |tx| {
        tx.put(ROOT, "kind", "photo").unwrap();
        tx.put(ROOT, "created_by", by).unwrap();
        tx.put(ROOT, "jpeg", vec![0xffu8; 2048]).unwrap();
    })
}

#[test]
fn a_document_of_a_kind_this_version_does_not_know_is_carried_not_refused() {
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    let mut courier = c.member("courier", Role::Courier);
    let id = photo_id(&c.office);
    assert_eq!(id.kind(), Kind::Other);
    let r = c
        .office
        .import(vec![creation(&c.office, &id)], None)
        .unwrap();
    assert_eq!((r.accepted, r.rejected.len()), (1, 0), "{:?}", r.rejected);
    // The courier (this version) carries it from the office to the kiosk.
    exchange(&mut c.office, &mut courier);
    exchange(&mut courier, &mut kiosk);
    for (name, node) in [("courier", &courier), ("kiosk", &kiosk)] {
        let s = node.status().unwrap();
        assert_eq!(s.docs.get("other"), Some(&1), "the {name} holds the photo");
        assert_eq!(s.rejected, 0, "the {name} refused nothing");
    }
    assert_eq!(c.office.digest().unwrap(), kiosk.digest().unwrap());
    // Judged by what this version can read: officials write it, nobody else — not
    // a kiosk editing it, not a kiosk making one of its own (a member key cannot
    // fill the commune's disks with documents nobody here can read).
    let edit = later_kind_change(&kiosk, doc_of(&c.office, &id), &id, |tx| {
        tx.put(ROOT, "jpeg", vec![0u8; 16]).unwrap();
    });
    let r = c.office.import(vec![edit], None).unwrap();
    assert_eq!(r.accepted, 0);
    assert!(
        r.rejected
            .iter()
            .any(|x| x.hostile && x.reason.contains("may not write this other")),
        "{:?}",
        r.rejected
    );
    let own = photo_id(&kiosk);
    let r = c.office.import(vec![creation(&kiosk, &own)], None).unwrap();
    assert_eq!(r.accepted, 0);
    assert!(r.rejected.iter().any(|x| x.hostile), "{:?}", r.rejected);
    // An official cannot make one that names another creator.
    let mut deputy = c.member("deputy", Role::Official);
    let stolen = photo_id(&c.office);
    let stolen: DocId = stolen.as_str().replace("0123", "4567").parse().unwrap();
    let r = deputy
        .import(vec![creation(&deputy, &stolen)], None)
        .unwrap();
    assert_eq!(r.accepted, 0, "an id that names another creator is refused");
    assert!(
        r.rejected
            .iter()
            .any(|x| x.reason.contains("another creator")),
        "{:?}",
        r.rejected
    );
    // Another official may write the office's.
    let edit = later_kind_change(&deputy, doc_of(&c.office, &id), &id, |tx| {
        tx.put(ROOT, "caption", "Bản đồ vùng sạt lở").unwrap();
    });
    let r = deputy.import(vec![edit], None).unwrap();
    assert_eq!(r.accepted, 1, "{:?}", r.rejected);
}

/// One document of a later kind holds at most `MAX_LATER_CHANGES` changes, by its own
/// causal past: what one costs every node that carries it is bounded.
#[test]
fn a_document_of_a_later_kind_is_bounded_in_changes() {
    let mut c = Commune::new();
    let id = photo_id(&c.office);
    let mut doc = automerge::Automerge::new();
    let mut changes = vec![creation(&c.office, &id)];
    doc.apply_changes([changes[0].clone().verify().unwrap().change])
        .unwrap();
    let cap = conglang::model::MAX_LATER_CHANGES as usize;
    for i in 1..=cap {
        let ch = later_kind_change(&c.office, doc.clone(), &id, |tx| {
            tx.put(ROOT, "n", i as i64).unwrap();
        });
        doc.apply_changes([ch.clone().verify().unwrap().change])
            .unwrap();
        changes.push(ch);
    }
    let last = changes.pop().unwrap();
    let r = c.office.import(changes, None).unwrap();
    assert_eq!(r.accepted, cap, "{:?}", r.rejected.first());
    let r = c.office.import(vec![last], None).unwrap();
    assert_eq!(r.accepted, 0);
    assert!(
        r.rejected.iter().any(|x| x.reason.contains("at most 1024")),
        "{:?}",
        r.rejected
    );
}

#[test]
fn ids_of_unknown_kinds_have_one_shape() {
    for ok in [
        "ph-00112233445566778899aabbccddeeff",
        "voice-00112233445566778899aabbccddeeff",
    ] {
        assert_eq!(ok.parse::<DocId>().unwrap().kind(), Kind::Other, "{ok}");
    }
    for bad in [
        "ph-0011",
        "PH-00112233445566778899aabbccddeeff",
        "toolongkind-00112233445566778899aabbccddeeff",
        "ph-00112233445566778899AABBCCDDEEFF",
        "n-00112233445566778899aabbccddeeff",
        "ph-00112233445566778899aabbccddeeff-1",
    ] {
        assert!(bad.parse::<DocId>().is_err(), "{bad}");
    }
}

/// A USB bundle carries later kinds too, after everything else and in batches of
/// their own: a version-5 node reading it stops at the first of those batches
/// ("damaged after batch N") having kept every batch before it.
#[test]
fn a_bundle_puts_later_kinds_last_in_batches_of_their_own() {
    let mut c = Commune::new();
    let kiosk = c.member("kiosk", Role::Kiosk);
    let id = photo_id(&c.office);
    let photo = creation(&c.office, &id);
    let r = c.office.import(vec![photo], None).unwrap();
    assert_eq!(r.accepted, 1, "{:?}", r.rejected);
    drop(kiosk);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.bundle");
    conglang::bundle::export(&c.office, &path, None).unwrap();
    let ids = conglang::bundle::doc_ids(&path).unwrap();
    assert_eq!(ids.last(), Some(&id), "{ids:?}");
    assert_eq!(ids.iter().filter(|d| d.kind() == Kind::Other).count(), 1);
    // The batch that holds it holds nothing else.
    let data = std::fs::read(&path).unwrap();
    let mut reader = conglang::sync::wire::FrameReader::default();
    reader.push(&data[b"CONGLANG-BUNDLE 3\n".len()..]);
    let mut batches = Vec::new();
    while let Ok(Some(m)) = reader.next_msg() {
        batches.push(
            m.batch()
                .unwrap()
                .iter()
                .map(|c| c.doc.kind())
                .collect::<Vec<_>>(),
        );
    }
    assert!(batches.len() >= 2);
    assert_eq!(batches.last().unwrap(), &vec![Kind::Other]);
    assert!(
        batches[..batches.len() - 1]
            .iter()
            .flatten()
            .all(|k| *k != Kind::Other)
    );
    let mut fresh = c.member("kiosk-2", Role::Kiosk);
    let r = conglang::bundle::import(&mut fresh, &path).unwrap();
    assert_eq!(r.rejected, 0);
    assert_eq!(fresh.status().unwrap().docs.get("other"), Some(&1));
}

/// A commune with a second official, who has posted one notice.
fn deputy_with_notice(title: &str, body: &str) -> (Commune, conglang::repo::Repo, DocId) {
    let mut c = Commune::new();
    let mut deputy = c.member("deputy", Role::Official);
    let n0 = deputy
        .post_notice(&conglang::model::NoticeDraft {
            title: title.into(),
            body: body.into(),
            ..Default::default()
        })
        .unwrap();
    (c, deputy, n0)
}

/// A revocation keeps the same history of the revoked key on a node that holds its
/// later-kind changes and on one that never can (version 5): the cut is read through
/// chain links, and a later-kind change in the middle of the key's chain — which a
/// later version, or a stolen key, may write — is a gap on both. (A helper's review:
/// the cut walked through it here, kept the notice before it, and version 5, which
/// stops at the gap, voided that notice for ever.)
#[test]
fn a_revocation_keeps_the_same_history_where_later_kinds_are_held_and_where_not() {
    let (mut c, deputy, n0) =
        deputy_with_notice("Họp dân thôn Nà Khoang", "Tối thứ Sáu tại nhà văn hóa.");
    let hash_of = |s: &conglang::model::SignedChange| s.clone().verify().unwrap().hash.0;
    let n0_change = deputy.changes_missing(&n0, &[]).unwrap().pop().unwrap();
    // A later-kind change chained after the notice, and an edit of the notice
    // chained after it.
    let id = photo_id(&deputy);
    let by = deputy.node_id().to_string();
    let o1 = forge_with(
        &deputy,
        automerge::Automerge::new(),
        &id,
        new_actor(&deputy.node_id()),
        Some(ChainMeta::for_doc(&id, Some(hash_of(&n0_change))).encode()),
        |tx| {
            tx.put(ROOT, "kind", "photo").unwrap();
            tx.put(ROOT, "created_by", by).unwrap();
        },
    );
    let n2 = forge_with(
        &deputy,
        doc_of(&deputy, &n0),
        &n0,
        new_actor(&deputy.node_id()),
        Some(ChainMeta::for_doc(&n0, Some(hash_of(&o1))).encode()),
        |tx| {
            tx.put(ROOT, "title", "Họp dân thôn Nà Khoang (dời sang thứ Bảy)")
                .unwrap();
        },
    );
    let r = c
        .office
        .import(vec![n0_change, o1, n2], Some(&deputy.node_id()))
        .unwrap();
    assert_eq!(r.accepted, 3, "{:?}", r.rejected);
    c.office.roster_revoke(deputy.node_id()).unwrap();
    // A node that never holds later kinds gets everything else.
    let mut old = conglang::repo::Repo::open(&c.base.path().join("kiosk-5")).unwrap();
    let invite = c
        .office
        .roster_add(old.node_id(), Role::Kiosk, "kiosk-5", "kiosk-5", vec![])
        .unwrap();
    old.join(&invite).unwrap();
    let rest: Vec<_> = c
        .office
        .all_changes()
        .unwrap()
        .into_iter()
        .filter(|s| s.doc.kind() != Kind::Other)
        .collect();
    old.import(rest, None).unwrap();
    let titles = |r: &conglang::repo::Repo| {
        r.notices()
            .unwrap()
            .into_iter()
            .map(|n| n.title)
            .collect::<Vec<_>>()
    };
    assert_eq!(titles(&c.office), titles(&old), "the same notices on both");
    assert_eq!(
        titles(&old),
        vec!["Họp dân thôn Nà Khoang (dời sang thứ Bảy)".to_string()],
        "the revoked official's notice, and its edit, kept by the cut"
    );
    // A later-kind change is kept only as far as a kept change names it: this one,
    // named by the kept edit, and on every node that holds it.
    let fresh = c.member("kiosk-6", Role::Kiosk);
    assert_eq!(fresh.status().unwrap().docs.get("other"), Some(&1));
    assert_eq!(fresh.digest().unwrap(), c.office.digest().unwrap());
}

/// A later kind's change names its document: an official's key cannot sign one
/// change for a notice and again for a later-kind document, which would let a node
/// that holds the later-kind copy refuse the notice's that a node of the version
/// before keeps (a helper's review).
#[test]
fn a_later_kind_change_must_name_its_document() {
    let (mut c, mut deputy, n0) = deputy_with_notice("Họp dân", "Tối thứ Sáu.");
    exchange(&mut deputy, &mut c.office);
    // One change without a document tag, signed for the notice and for a later kind.
    let as_notice = forge_with(
        &deputy,
        doc_of(&deputy, &n0),
        &n0,
        new_actor(&deputy.node_id()),
        None,
        |tx| {
            tx.put(ROOT, "title", "Họp dân (dời sang thứ Bảy)").unwrap();
        },
    );
    let mut change = as_notice.clone().verify().unwrap().change;
    let other = photo_id(&deputy);
    let as_later = conglang::model::SignedChange::sign(deputy.identity(), &other, &mut change);
    let r = c.office.import(vec![as_later], None).unwrap();
    assert_eq!(r.accepted, 0);
    assert!(
        r.rejected
            .iter()
            .any(|x| x.hostile && x.reason.contains("must name its document")),
        "{:?}",
        r.rejected
    );
    let r = c.office.import(vec![as_notice], None).unwrap();
    assert_eq!(
        r.accepted, 1,
        "the notice's copy is judged as on version 5: {:?}",
        r.rejected
    );
}
