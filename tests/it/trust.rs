//! Adversarial tests: changes a member is not allowed to make, forged changes,
//! revocation, sealed contacts. Each forged change is built with the real key of
//! the misbehaving node, exactly as a tampered kiosk binary would.

use automerge::{Automerge, ROOT, transaction::Transactable};
use conglang::model::signed::new_actor;
use conglang::model::{DocId, Kind, NoticeDraft, RequestDraft, Role, SignedChange, Status};
use conglang::repo::Repo;

use crate::harness::{Commune, exchange};

/// Makes a change to `doc` as `author` (its real key), bypassing the local checks.
fn forge(
    author: &Repo,
    source: &Repo,
    doc: &DocId,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> SignedChange {
    let mut d = Automerge::new();
    let changes: Vec<automerge::Change> = source
        .changes_missing(doc, &[])
        .unwrap()
        .into_iter()
        .map(|s| automerge::Change::from_bytes(s.bytes).unwrap())
        .collect();
    d.apply_changes(changes).unwrap();
    d.set_actor(new_actor(&author.node_id()));
    let before = d.get_heads();
    d.transact::<_, _, automerge::AutomergeError>(|tx| {
        f(tx);
        Ok(())
    })
    .unwrap();
    let mut c = d.get_changes(&before).pop().unwrap();
    SignedChange::sign(author.identity(), doc, &mut c)
}

fn request(kiosk: &mut Repo, name: &str) -> conglang::model::Request {
    kiosk
        .submit_request(&RequestDraft {
            hamlet: "Nà Khoang".into(),
            name: name.into(),
            text: "Câu hỏi".into(),
            phone: Some("0987 654 321".into()),
            ..Default::default()
        })
        .unwrap()
}

#[test]
fn kiosk_cannot_write_notices_answers_or_other_kiosks_requests() {
    let mut c = Commune::new();
    let mut k1 = c.member("kiosk-1", Role::Kiosk);
    let mut k2 = c.member("kiosk-2", Role::Kiosk);
    let mut courier = c.member("courier", Role::Courier);
    let notice = c
        .office
        .post_notice(&NoticeDraft {
            title: "Thông báo thật".into(),
            ..Default::default()
        })
        .unwrap();
    let r2 = request(&mut k2, "Lý Thị Hoa");
    exchange(&mut k2, &mut c.office);
    c.office
        .answer_request(&r2.code, "Trả lời chính thức", Some(Status::Answered), None)
        .unwrap();
    exchange(&mut c.office, &mut k1);
    exchange(&mut c.office, &mut courier);

    let fake_notice_id = DocId::new_random(Kind::Notice);
    let forged = vec![
        // A brand-new notice signed by a kiosk.
        forge(&k1, &k1, &fake_notice_id, |tx| {
            tx.put(ROOT, "kind", "notice").unwrap();
            tx.put(ROOT, "title", "Tin giả: miễn thuế").unwrap();
        }),
        // Editing the office's notice.
        forge(&k1, &k1, &notice, |tx| {
            tx.put(ROOT, "title", "Đã sửa bởi kiosk").unwrap();
        }),
        // Editing an official answer's status.
        forge(&k1, &k1, &r2.id, |tx| {
            tx.put(ROOT, "status", "resolved").unwrap();
        }),
        // Editing another kiosk's request text.
        forge(&k1, &k1, &r2.id, |tx| {
            tx.put(ROOT, "text", "Nội dung bị sửa").unwrap();
        }),
        // A kiosk writing someone else's receipt.
        forge(&k1, &k1, &DocId::receipt(&k2.node_id()), |tx| {
            tx.put(ROOT, "kind", "receipt").unwrap();
            tx.put(ROOT, "forged_by_kiosk_1", true).unwrap();
        }),
    ];
    for (i, f) in forged.into_iter().enumerate() {
        for (who, node) in [("office", &mut c.office), ("courier", &mut courier)] {
            let before = node.status().unwrap().changes;
            let rep = node.import(vec![f.clone()], Some(&k1.node_id())).unwrap();
            assert_eq!(rep.accepted, 0, "forgery {i} accepted by {who}");
            assert_eq!(rep.rejected.len(), 1, "forgery {i} on {who}: {rep:?}");
            assert_eq!(node.status().unwrap().changes, before);
        }
        // The same through a bundle on a USB stick.
        let dir = tempfile::tempdir().unwrap();
        let mut rogue = Repo::open(&dir.path().join("rogue")).unwrap();
        let _ = &mut rogue;
        let path = dir.path().join("forged.bundle");
        write_bundle(&path, vec![f]);
        let rep = conglang::bundle::import(&mut courier, &path).unwrap();
        assert_eq!((rep.accepted, rep.rejected), (0, 1), "bundle forgery {i}");
    }
    assert_eq!(
        c.office.notice(&notice).unwrap().unwrap().title,
        "Thông báo thật"
    );
    assert_eq!(
        c.office.request(&r2.code).unwrap().unwrap().status,
        Status::Answered
    );
}

fn write_bundle(path: &std::path::Path, changes: Vec<SignedChange>) {
    let mut bytes = b"CONGLANG-BUNDLE 2\n".to_vec();
    bytes.extend(conglang::sync::wire::encode(
        &conglang::sync::Msg::Changes { changes },
    ));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn forged_changes_are_rejected_bad_signature_unknown_author_replay() {
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    let outsider = Repo::open(&c.base.path().join("outsider")).unwrap();
    let id = c
        .office
        .post_notice(&NoticeDraft {
            title: "Thật".into(),
            ..Default::default()
        })
        .unwrap();
    exchange(&mut c.office, &mut kiosk);
    // Unknown author, valid signature.
    let f = forge(&outsider, &c.office, &id, |tx| {
        tx.put(ROOT, "title", "Giả").unwrap();
    });
    let r = kiosk.import(vec![f], None).unwrap();
    assert!(
        r.rejected.iter().any(|x| x.reason.contains("not a member")),
        "{r:?}"
    );
    // A genuine change replayed into another document id.
    let mut replay = c.office.changes_missing(&id, &[]).unwrap().remove(0);
    replay.doc = DocId::new_random(Kind::Notice);
    let r = kiosk.import(vec![replay], None).unwrap();
    assert_eq!(r.accepted, 0);
    assert!(r.rejected[0].reason.contains("signature"), "{r:?}");
}

#[test]
fn revoked_courier_changes_are_dropped_everywhere_even_if_they_arrived_first() {
    let mut c = Commune::new();
    let mut courier = c.member("courier-lost", Role::Courier);
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    let mut off2 = c.member("office-2", Role::Official);
    // Before the loss: a legitimate request filed by the courier reaches the office.
    let early = request(&mut courier, "Trước khi mất máy");
    exchange(&mut courier, &mut c.office);
    // The laptop is stolen; the thief files requests and they reach the kiosk first.
    let late = request(&mut courier, "Kẻ trộm");
    exchange(&mut courier, &mut kiosk);
    assert!(kiosk.request(&late.code).unwrap().is_some());
    // The office revokes the lost laptop and enrols a replacement.
    c.office.roster_revoke(courier.node_id()).unwrap();
    let mut new_laptop = c.member("courier-new", Role::Courier);
    assert!(new_laptop.my_role().unwrap() == Some(Role::Courier));
    // The revocation reaches the kiosk (which held the thief's change) and office-2.
    exchange(&mut c.office, &mut kiosk);
    exchange(&mut c.office, &mut off2);
    assert!(
        kiosk.request(&late.code).unwrap().is_none(),
        "post-revocation change dropped on arrival of the revocation"
    );
    assert!(
        kiosk.request(&early.code).unwrap().is_some(),
        "changes inside the cut stay"
    );
    // The thief keeps trying: refused by everyone.
    let later = forge(
        &courier,
        &courier,
        &DocId::new_random(Kind::Request),
        |tx| {
            tx.put(ROOT, "kind", "request").unwrap();
            tx.put(ROOT, "created_by", courier.node_id().to_string())
                .unwrap();
        },
    );
    for node in [&mut c.office, &mut kiosk, &mut off2] {
        let r = node
            .import(vec![later.clone()], Some(&courier.node_id()))
            .unwrap();
        assert_eq!(r.accepted, 0);
    }
    exchange(&mut kiosk, &mut off2);
    exchange(&mut new_laptop, &mut kiosk);
    let d = crate::harness::digest_of(&c.office);
    assert_eq!(d, crate::harness::digest_of(&kiosk));
    assert_eq!(d, crate::harness::digest_of(&off2));
    assert!(
        kiosk
            .roster()
            .unwrap()
            .member(&courier.node_id())
            .unwrap()
            .revoked
            .is_some()
    );
}

#[test]
fn phone_is_readable_on_the_office_only_and_never_stored_in_clear() {
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    let mut courier = c.member("courier", Role::Courier);
    let r = request(&mut kiosk, "Đinh Thị Nở");
    exchange(&mut kiosk, &mut courier);
    exchange(&mut courier, &mut c.office);
    let on = |repo: &Repo| {
        repo.request_contact(&repo.request(&r.code).unwrap().unwrap())
            .unwrap()
    };
    assert_eq!(on(&c.office).as_deref(), Some("0987 654 321"));
    assert_ne!(on(&kiosk).as_deref(), Some("0987 654 321"));
    assert_ne!(on(&courier).as_deref(), Some("0987 654 321"));
    for dir in [kiosk.data_dir(), courier.data_dir(), c.office.data_dir()] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(
                !bytes.windows(12).any(|w| w == b"0987 654 321"),
                "phone in clear in {}",
                dir.display()
            );
        }
    }
}

#[test]
fn oversized_and_malformed_inputs_are_refused_and_nothing_stored() {
    let mut c = Commune::new();
    let big = "ạ".repeat(conglang::model::text::MAX_TEXT_CHARS + 1);
    let e = c
        .office
        .post_notice(&NoticeDraft {
            title: "x".into(),
            body: big,
            ..Default::default()
        })
        .unwrap_err();
    assert!(e.to_string().contains("too long"), "{e}");
    let before = c.office.status().unwrap().changes;
    let junk = SignedChange {
        doc: DocId::new_random(Kind::Notice),
        bytes: vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3],
        sig: [7; 64],
    };
    let huge = SignedChange {
        doc: DocId::new_random(Kind::Notice),
        bytes: vec![0; conglang::model::signed::MAX_CHANGE_BYTES + 1],
        sig: [0; 64],
    };
    let r = c.office.import(vec![junk, huge], None).unwrap();
    assert_eq!(r.rejected.len(), 2);
    assert_eq!(c.office.status().unwrap().changes, before);
    // The wire decoder refuses a giant length prefix before allocating.
    assert!(conglang::sync::wire::frame_len(u32::MAX.to_le_bytes()).is_err());
    assert!(conglang::sync::wire::decode(&[9, 1, 2, 3]).is_err());
}

#[test]
fn equivocation_ends_the_same_on_every_node_whatever_the_order() {
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    let mut n1 = c.member("office-2", Role::Official);
    let mut n2 = c.member("courier", Role::Courier);
    // A tampered kiosk signs two different first changes of one request with the same
    // actor and sequence number, and shows each to a different node.
    let id = DocId::new_random(Kind::Request);
    let actor = new_actor(&kiosk.node_id());
    let make = |text: &str| {
        let mut d = Automerge::new();
        d.set_actor(actor.clone());
        d.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put(ROOT, "kind", "request")?;
            tx.put(ROOT, "created_by", kiosk.node_id().to_string())?;
            tx.put(ROOT, "text", text)?;
            Ok(())
        })
        .unwrap();
        let mut ch = d.get_last_local_change().unwrap();
        SignedChange::sign(kiosk.identity(), &id, &mut ch)
    };
    let x = make("phiên bản A");
    let y = make("phiên bản B");
    assert_ne!(x.bytes, y.bytes);
    let r1 = n1.import(vec![x.clone()], None).unwrap();
    let r2 = n2.import(vec![y.clone()], None).unwrap();
    assert_eq!((r1.accepted, r2.accepted), (1, 1));
    // Then each sees the other version, in opposite orders.
    n1.import(vec![y.clone()], None).unwrap();
    n2.import(vec![x.clone()], None).unwrap();
    let text = |r: &Repo| r.doc_row(&id).unwrap().map(|row| row.heads);
    assert_eq!(text(&n1), text(&n2), "both nodes keep the same version");
    assert!(text(&n1).is_some());
    exchange(&mut n1, &mut c.office);
    exchange(&mut n2, &mut c.office);
    exchange(&mut n1, &mut c.office);
    assert_eq!(
        crate::harness::digest_of(&n1),
        crate::harness::digest_of(&c.office)
    );
    assert_eq!(
        crate::harness::digest_of(&n2),
        crate::harness::digest_of(&c.office)
    );
    let _ = &mut kiosk;
    // The refusal and the drop are on record.
    assert!(n1.status().unwrap().rejected >= 1 && n2.status().unwrap().rejected >= 1);
}
