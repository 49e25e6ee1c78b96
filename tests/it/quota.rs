//! The daily quota of new requests against a key that chooses its own dates (issue 21,
//! fault 8): creations count on the day their author's line gives (`verdict::quota`),
//! so dating them back along the line gains nothing past the day it already reached,
//! creations that start a line of their own share one day, and dating forward gains
//! at most the days up to the officials' horizon. Each attack is the forged creations
//! a tampered kiosk binary makes with its real key, handed to the office and, in
//! another order, to a courier: both must keep the same requests. A branch forked
//! from the key's own past is not bounded (the set cannot tell which branch is
//! honest): every node flags the key.

use conglang::model::signed::{ChainMeta, new_actor};
use conglang::model::{DocId, RequestDraft, Role, SignedChange};
use conglang::repo::Repo;
use conglang::verdict::doc::DAILY_REQUEST_QUOTA;
use conglang::verdict::quota::HORIZON_DAYS;

use crate::harness::{Commune, exchange, forged_request};

const DAY: i64 = 86_400;

/// A request's creating change by `kiosk`'s key, dated `time`, naming `prev` as the
/// previous change of its chain (the format every release since 5 writes).
fn forged(kiosk: &Repo, time: i64, prev: Option<[u8; 32]>, text: &str) -> SignedChange {
    let id = DocId::new_request(&kiosk.node_id());
    let link = ChainMeta::for_doc(&id, prev).encode();
    forged_request(
        kiosk,
        &id,
        new_actor(&kiosk.node_id()),
        time,
        text,
        Some(link),
    )
}

fn hash_of(c: &SignedChange) -> [u8; 32] {
    automerge::Change::from_bytes(c.bytes.clone())
        .unwrap()
        .hash()
        .0
}

/// The last change `kiosk` made (the head of its chain).
fn chain_head(kiosk: &Repo) -> [u8; 32] {
    let h = kiosk.store().read().meta("chain_head").unwrap().unwrap();
    let mut b = [0u8; 32];
    hex::decode_to_slice(h, &mut b).unwrap();
    b
}

fn requests_by(r: &Repo, kiosk: &Repo) -> usize {
    r.requests()
        .unwrap()
        .iter()
        .filter(|q| q.created_by == Some(kiosk.node_id()))
        .count()
}

/// How a tampered kiosk dates and links its forged creations.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// Each extends the last, dated one day further back.
    BackAlongTheLine,
    /// Each claims to be the key's first change, dated one day further back.
    NoLink,
    /// Each names a previous change nobody holds, dated one day further back.
    MissingLink,
    /// Each extends the last, dated one day further ahead.
    Ahead,
    /// A new line after a change nobody holds, started n days back and walking
    /// forward to yesterday (the review of the first rule).
    LineAfterAGap,
    /// The same line, its start claiming to be the key's first change.
    SecondFirstLine,
}

#[test]
fn creations_dated_by_the_key_gain_at_most_a_days_quota() {
    let n = DAILY_REQUEST_QUOTA + 60;
    let mut c = Commune::new();
    let mut courier = c.member("courier", Role::Courier);
    for shape in [
        Shape::BackAlongTheLine,
        Shape::NoLink,
        Shape::MissingLink,
        Shape::Ahead,
        Shape::LineAfterAGap,
        Shape::SecondFirstLine,
    ] {
        let mut kiosk = c.member(&format!("kiosk-{shape:?}"), Role::Kiosk);
        let now = conglang::model::text::now();
        // The honest line: a request today.
        kiosk
            .submit_request(&RequestDraft {
                hamlet: "Nà Khoang".into(),
                name: "Đinh Thị Nở".into(),
                text: "Câu hỏi thật".into(),
                ..Default::default()
            })
            .unwrap();
        let first = chain_head(&kiosk);
        exchange(&mut kiosk, &mut c.office);
        exchange(&mut c.office, &mut courier);
        let mut prev = first;
        let mut forged_all = Vec::new();
        for i in 0..n as i64 {
            let (time, link) = match shape {
                Shape::BackAlongTheLine => (now - (i + 1) * DAY, Some(prev)),
                Shape::NoLink => (now - (i + 1) * DAY, None),
                Shape::MissingLink => (now - (i + 1) * DAY, Some([i as u8 ^ 0x5a; 32])),
                Shape::Ahead => (now + (i + 1) * DAY, Some(prev)),
                Shape::LineAfterAGap | Shape::SecondFirstLine => {
                    let link = match (i, shape) {
                        (0, Shape::LineAfterAGap) => Some([0x5a; 32]),
                        (0, _) => None,
                        _ => Some(prev),
                    };
                    (now - (n as i64 - i) * DAY, link)
                }
            };
            let f = forged(&kiosk, time, link, &format!("rác {i}"));
            prev = hash_of(&f);
            forged_all.push(f);
        }
        // One import at the office; one change at a time, last first, at the courier.
        c.office.import(forged_all.clone(), None).unwrap();
        for f in forged_all.into_iter().rev() {
            courier.import(vec![f], None).unwrap();
        }
        let expected = match shape {
            // Every forged creation counts on today; the honest request, which started
            // the key's line, on the day of line starts.
            Shape::BackAlongTheLine => 1 + DAILY_REQUEST_QUOTA,
            // Every forged creation starts a line of its own: one day for them all
            // (and the honest first request, which started the key's line).
            Shape::NoLink => DAILY_REQUEST_QUOTA,
            // After a change nobody holds: no earlier than the key's rooted line
            // (today), besides the honest first request.
            Shape::MissingLink | Shape::LineAfterAGap => 1 + DAILY_REQUEST_QUOTA,
            // A second first change: a history of its own, counted by its days —
            // and the key flagged on every node (below).
            Shape::SecondFirstLine => 1 + n,
            // The honest request; a day each up to the horizon (the officials' newest
            // day, today, plus HORIZON_DAYS); then one quota for all past it.
            Shape::Ahead => 1 + HORIZON_DAYS as usize + DAILY_REQUEST_QUOTA,
        };
        for (name, node) in [("office", &c.office), ("courier", &courier)] {
            assert_eq!(
                requests_by(node, &kiosk),
                expected,
                "{shape:?} at the {name}: {n} forged creations"
            );
        }
        if matches!(shape, Shape::NoLink | Shape::SecondFirstLine) {
            for (name, node) in [("office", &c.office), ("courier", &courier)] {
                assert!(
                    node.equivocators().unwrap().contains(&kiosk.node_id()),
                    "{shape:?}: the {name} flags a key with two first changes"
                );
            }
        }
        exchange(&mut c.office, &mut courier);
        assert_eq!(
            c.office.verdict_sets().unwrap(),
            courier.verdict_sets().unwrap(),
            "{shape:?}: the office and the courier hold the same valid and void sets"
        );
    }
}

/// A stolen key forks its own line at its first change and dates a branch forward
/// from long ago: both branches are the key's, and nothing in the set says which is
/// honest, so the branch counts by its own days — but every node that holds both
/// flags the key, for an official to revoke it.
#[test]
fn a_branch_forked_from_the_keys_past_flags_the_key_everywhere() {
    let mut c = Commune::new();
    let mut courier = c.member("courier", Role::Courier);
    let kiosk = c.member("kiosk", Role::Kiosk);
    let now = conglang::model::text::now();
    let old = forged(&kiosk, now - 40 * DAY, None, "Câu hỏi cũ");
    let recent = forged(&kiosk, now, Some(hash_of(&old)), "Câu hỏi mới");
    let mut prev = hash_of(&old);
    let mut branch = Vec::new();
    for i in 0..30 {
        let f = forged(
            &kiosk,
            now - (39 - i) * DAY,
            Some(prev),
            &format!("rác {i}"),
        );
        prev = hash_of(&f);
        branch.push(f);
    }
    c.office
        .import(vec![old.clone(), recent.clone()], None)
        .unwrap();
    exchange(&mut c.office, &mut courier);
    assert!(
        c.office.equivocators().unwrap().is_empty(),
        "one line is no fork"
    );
    c.office.import(branch.clone(), None).unwrap();
    courier
        .import(branch.into_iter().rev().collect(), None)
        .unwrap();
    for (name, node) in [("office", &c.office), ("courier", &courier)] {
        assert_eq!(requests_by(node, &kiosk), 32, "at the {name}");
        assert_eq!(
            node.equivocators().unwrap(),
            vec![kiosk.node_id()],
            "the {name} flags the key that forked its line"
        );
    }
}

/// A kiosk whose clock ran years ahead, then was corrected: what it files after the
/// correction counts on its own days, not on the wrong year's (a change dated past the
/// horizon is no evidence), and the request filed under the wrong year is kept. Its
/// changes are made here as its node makes them (each names the previous one).
#[test]
fn a_kiosk_whose_clock_ran_years_ahead_files_its_quota_again_once_corrected() {
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    kiosk
        .submit_request(&RequestDraft {
            hamlet: "Nà Khoang".into(),
            name: "Lò Văn Hùng".into(),
            text: "Trước khi đồng hồ sai".into(),
            ..Default::default()
        })
        .unwrap();
    exchange(&mut kiosk, &mut c.office);
    let now = conglang::model::text::now();
    let wrong_year = forged(
        &kiosk,
        now + 5 * 365 * DAY,
        Some(chain_head(&kiosk)),
        "Năm sai",
    );
    let mut prev = hash_of(&wrong_year);
    let mut all = vec![wrong_year];
    let n = 2 * DAILY_REQUEST_QUOTA as i64 - 100;
    for i in 0..n {
        // Today's, then tomorrow's.
        let day = if i < n / 2 { 0 } else { DAY };
        let f = forged(&kiosk, now + day, Some(prev), &format!("Câu hỏi {i}"));
        prev = hash_of(&f);
        all.push(f);
    }
    let filed = all.len() + 1;
    c.office.import(all, None).unwrap();
    assert_eq!(requests_by(&c.office, &kiosk), filed);
}

/// What a stolen key adds never moves the honest line's requests: a creation that
/// starts a line of its own dated to the horizon, and one forked from the line's
/// first change dated the same, leave all 400 honest requests of the last two days
/// valid (the review of a rule that pinned each branch to the other's newest day:
/// one such change voided all but 300 of a kiosk's history).
#[test]
fn one_forged_change_moves_no_honest_request() {
    let mut c = Commune::new();
    let kiosk = c.member("kiosk", Role::Kiosk);
    let now = conglang::model::text::now();
    let genesis = forged(&kiosk, now - 2 * DAY, None, "Câu hỏi đầu");
    let mut prev = hash_of(&genesis);
    let mut honest = vec![genesis.clone()];
    for i in 0..400 {
        let day = if i < 200 { -DAY } else { 0 };
        let f = forged(&kiosk, now + day + i, Some(prev), &format!("Câu hỏi {i}"));
        prev = hash_of(&f);
        honest.push(f);
    }
    c.office.import(honest, None).unwrap();
    assert_eq!(requests_by(&c.office, &kiosk), 401);
    let ahead = now + HORIZON_DAYS * DAY;
    let lone = forged(&kiosk, ahead, None, "rác");
    let fork = forged(&kiosk, ahead, Some(hash_of(&genesis)), "rác");
    c.office.import(vec![lone, fork], None).unwrap();
    assert_eq!(requests_by(&c.office, &kiosk), 403);
    assert_eq!(c.office.equivocators().unwrap(), vec![kiosk.node_id()]);
}
