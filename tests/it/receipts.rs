//! Receipts per period (issue 11, point 6): a kiosk's receipt is `rc-<node>-<period>`
//! (30-day periods of its clock); a new period carries over the notices still live;
//! periods two or more older than the newest one held are dropped by every node and
//! refused on arrival, and reconciliation still ends with equal sets.
//!
//! The kiosk runs as the real binary with its clock moved by `CONGLANG_CLOCK_OFFSET`
//! (the process-wide fake time source: tests in this binary run in parallel, so the
//! clock is never moved in-process). Stores written that way are then opened here and
//! reconciled with real sync sessions in memory (`harness::exchange`).

use std::process::Output;

use conglang::clock::OFFSET_ENV;
use conglang::identity::NodeId;
use conglang::model::{self, DocId, RECEIPT_PERIOD_SECS};
use conglang::repo::{HeldVersion, Repo};

use crate::harness::{CliNode, bin, enrol, exchange};

/// A clock offset (seconds) that puts "now" in the middle of period `p`, so a test
/// never straddles a period boundary whatever time it runs at.
fn offset_into(p: u32) -> i64 {
    let now = conglang::model::text::now();
    p as i64 * RECEIPT_PERIOD_SECS + RECEIPT_PERIOD_SECS / 2 - now
}

fn period_now() -> u32 {
    model::receipt_period_of(conglang::model::text::now())
}

/// Runs `conglang` on `node` with its clock in period `p`; must succeed.
fn at(node: &CliNode, p: u32, args: &[&str]) -> String {
    let o: Output = bin()
        .env(OFFSET_ENV, offset_into(p).to_string())
        .arg("--data")
        .arg(&node.dir)
        .args(args)
        .output()
        .expect("run conglang");
    assert!(
        o.status.success(),
        "conglang {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Everything `from` holds, imported by `to` with its clock in period `p`.
fn carry(from: &CliNode, to: &CliNode, p: u32, file: &std::path::Path) {
    let f = file.to_str().unwrap();
    from.ok(&["bundle", "export", f]);
    at(to, p, &["bundle", "import", f, "--json"]);
}

/// The periods of `owner`'s receipts held in the store at `dir` (`None`: the receipt
/// from before periods).
fn periods(dir: &std::path::Path, owner: &NodeId) -> Vec<Option<u32>> {
    let r = Repo::open(dir).unwrap();
    r.receipt_docs(owner)
        .unwrap()
        .iter()
        .map(|d| d.receipt_period())
        .collect()
}

fn version_of(reach: &serde_json::Value, name: &str) -> Option<(String, i64)> {
    reach.as_array().unwrap().iter().find_map(|r| {
        (r["name"] == name).then(|| {
            (
                r["version"].as_str().unwrap().to_string(),
                r["since"].as_i64().unwrap(),
            )
        })
    })
}

fn bundle_has(file: &std::path::Path, id: &str) -> bool {
    conglang::bundle::doc_ids(file)
        .unwrap()
        .iter()
        .any(|d| d.as_str() == id)
}

/// A notice pinned all year stays "latest" in `reach` across period changes, with the
/// time the kiosk first held it, after the period it was first noted in is dropped;
/// a notice that expired is not carried over. `bundle export --for` still decides by
/// the version the kiosk's newest receipt names.
#[test]
fn reach_stays_true_across_period_changes_for_a_long_lived_notice() {
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let kiosk = CliNode::new(base.path(), "kiosk");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    enrol(&office, &kiosk, "kiosk", "Kiosk Bản Chang");
    let kid: NodeId = kiosk.id().parse().unwrap();
    let p0 = period_now();
    let down = base.path().join("down.bundle");
    let up = base.path().join("up.bundle");

    // Period p0: a notice pinned all year and one valid for ten days.
    let pinned = at(
        &office,
        p0,
        &["notice", "post", "--title", "Lịch tiếp dân cả năm"],
    );
    let pinned = pinned.trim();
    let until = conglang::model::text::format_time(
        conglang::model::text::now() + offset_into(p0) + 10 * 86_400,
    );
    let short = at(
        &office,
        p0,
        &[
            "notice",
            "post",
            "--title",
            "Họp thôn",
            "--valid-until",
            &until,
        ],
    );
    let short = short.trim();
    carry(&office, &kiosk, p0, &down);
    carry(&kiosk, &office, p0, &up);
    let reach = office.json(&["reach", pinned]);
    let (v, since0) = version_of(&reach, "Kiosk Bản Chang").expect("the kiosk holds it");
    assert_eq!(v, "latest");
    assert_eq!(periods(&office.dir, &kid), vec![Some(p0)]);

    // Two periods later, each with a new notice: the kiosk writes a receipt per period
    // and drops p0's once p0 + 2 exists; the office does the same when it gets it.
    for p in [p0 + 1, p0 + 2] {
        at(
            &office,
            p,
            &["notice", "post", "--title", &format!("Tin kỳ {p}")],
        );
        carry(&office, &kiosk, p, &down);
        carry(&kiosk, &office, p, &up);
    }
    assert_eq!(periods(&kiosk.dir, &kid), vec![Some(p0 + 1), Some(p0 + 2)]);
    assert_eq!(periods(&office.dir, &kid), vec![Some(p0 + 1), Some(p0 + 2)]);
    let reach = office.json(&["reach", pinned]);
    assert_eq!(
        version_of(&reach, "Kiosk Bản Chang"),
        Some(("latest".to_string(), since0)),
        "the pinned notice was carried over with its first-held time: {reach}"
    );
    // The expired one was noted in p0 only, and p0 is gone everywhere.
    let reach = office.json(&["reach", short]);
    assert_eq!(version_of(&reach, "Kiosk Bản Chang"), None, "{reach}");

    // `--for`: the pinned notice the kiosk holds in this version is left out; once it
    // is withdrawn at the office, it goes again (the kiosk still shows it live).
    let f = down.to_str().unwrap();
    office.json(&["bundle", "export", f, "--for", &kid.to_string()]);
    assert!(!bundle_has(&down, pinned), "the kiosk holds this version");
    at(&office, p0 + 2, &["notice", "withdraw", pinned]);
    let reach = office.json(&["reach", pinned]);
    assert_eq!(version_of(&reach, "Kiosk Bản Chang").unwrap().0, "older");
    office.json(&["bundle", "export", f, "--for", &kid.to_string()]);
    assert!(
        bundle_has(&down, pinned),
        "the withdrawal must go to the kiosk"
    );
    at(&kiosk, p0 + 2, &["bundle", "import", f]);
    carry(&kiosk, &office, p0 + 2, &up);
    let reach = office.json(&["reach", pinned]);
    assert_eq!(version_of(&reach, "Kiosk Bản Chang").unwrap().0, "latest");
}

/// One node has dropped the kiosk's oldest receipt, another has not yet received the
/// newer one: reconciling them ends with equal sets (the old receipt offered by the
/// lagging side is ignored, the newer one makes it drop its own), in either pairing.
/// And a revocation of the kiosk is judged alike on a node that held the dropped
/// receipt and on one that never did: periodic receipts are off the author chain.
#[test]
fn old_receipt_periods_are_dropped_everywhere_and_sets_still_reconcile() {
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let kiosk = CliNode::new(base.path(), "kiosk");
    let courier = CliNode::new(base.path(), "courier");
    let courier2 = CliNode::new(base.path(), "courier-2");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    enrol(&office, &kiosk, "kiosk", "Kiosk Bản Chang");
    enrol(&office, &courier, "courier", "Anh Thào");
    enrol(&office, &courier2, "courier", "Chị Mai");
    let kid: NodeId = kiosk.id().parse().unwrap();
    let p0 = period_now();
    let file = base.path().join("b.bundle");

    // A request filed before any receipt, so the kiosk's chain has a change that a
    // revocation cut must reach through whatever came after it.
    at(
        &kiosk,
        p0,
        &[
            "request",
            "submit",
            "--hamlet",
            "Bản Chang",
            "--name",
            "Lò Văn A",
            "--text",
            "Hỏi về hộ nghèo",
        ],
    );
    let first = at(&office, p0, &["notice", "post", "--title", "Tin đầu"]);
    carry(&office, &kiosk, p0, &file);
    carry(&kiosk, &office, p0, &file);
    // The first courier gets the office's state now: it holds p0's receipt only.
    carry(&office, &courier, p0, &file);
    for p in [p0 + 1, p0 + 2] {
        at(
            &office,
            p,
            &["notice", "post", "--title", &format!("Tin kỳ {p}")],
        );
        carry(&office, &kiosk, p, &file);
        carry(&kiosk, &office, p, &file);
        if p == p0 + 1 {
            // The second courier passes by in between: p0 and p0 + 1.
            carry(&office, &courier2, p, &file);
        }
    }
    // A request after the receipts, then the kiosk's state reaches the office.
    at(
        &kiosk,
        p0 + 2,
        &[
            "request",
            "submit",
            "--hamlet",
            "Bản Chang",
            "--name",
            "Lò Văn B",
            "--text",
            "Hỏi về đất",
        ],
    );
    carry(&kiosk, &office, p0 + 2, &file);
    assert_eq!(periods(&office.dir, &kid), vec![Some(p0 + 1), Some(p0 + 2)]);
    assert_eq!(periods(&courier.dir, &kid), vec![Some(p0)]);
    assert_eq!(periods(&courier2.dir, &kid), vec![Some(p0), Some(p0 + 1)]);

    let mut o = Repo::open(&office.dir).unwrap();
    let mut c = Repo::open(&courier.dir).unwrap();
    let mut c2 = Repo::open(&courier2.dir).unwrap();
    // Offered directly, the receipt the office dropped is ignored: not stored, not
    // refused (its sender is honest, only behind), counted as already had.
    let old = c
        .changes_missing(&DocId::receipt_in(&kid, p0), &[])
        .unwrap();
    assert!(!old.is_empty());
    let before = o.change_set().unwrap();
    let rep = o.import(old.clone(), Some(&c.node_id())).unwrap();
    assert_eq!(
        (
            rep.accepted,
            rep.duplicates,
            rep.rejected.len(),
            rep.pending
        ),
        (0, old.len(), 0, 0),
        "{rep:?}"
    );
    assert_eq!(o.change_set().unwrap(), before);
    assert_eq!(periods(&office.dir, &kid), vec![Some(p0 + 1), Some(p0 + 2)]);
    // The lagging courier (p0 only) meets the courier that has p0 and p0 + 1: both
    // keep both (the rule counts back from the newest period held, p0 + 1).
    exchange(&mut c2, &mut c);
    assert_eq!(periods(&courier.dir, &kid), vec![Some(p0), Some(p0 + 1)]);
    // The office (pruned) meets it: p0 is offered and ignored, p0 + 2 arrives and the
    // courier drops p0. `exchange` asserts equal change sets and a completed sync.
    exchange(&mut o, &mut c);
    assert_eq!(
        periods(&courier.dir, &kid),
        vec![Some(p0 + 1), Some(p0 + 2)]
    );
    // The other way round: the courier now pruned, the second one lagging.
    exchange(&mut c, &mut c2);
    assert_eq!(
        periods(&courier2.dir, &kid),
        vec![Some(p0 + 1), Some(p0 + 2)]
    );
    // What `reach` says on a node that never saw p0 + 2 from the office directly.
    let r = c2.reach(&first.trim().parse::<DocId>().unwrap()).unwrap();
    assert!(
        r.iter()
            .any(|x| x.node == kid && x.version == HeldVersion::Latest),
        "{r:?}"
    );

    // The kiosk is revoked at the office, whose links still know the dropped p0.
    // A node that never held p0 judges the kiosk's requests the same way.
    o.roster_revoke(kid).unwrap();
    let fresh_dir = base.path().join("courier-3");
    let fresh = CliNode::new(base.path(), "courier-3");
    enrol(&office, &fresh, "courier", "Anh Bình");
    drop(o);
    let mut o = Repo::open(&office.dir).unwrap();
    let mut f = Repo::open(&fresh_dir).unwrap();
    exchange(&mut o, &mut f);
    assert_eq!(periods(&fresh_dir, &kid), vec![Some(p0 + 1), Some(p0 + 2)]);
    assert_eq!(o.verdict_sets().unwrap(), f.verdict_sets().unwrap());
    let names: Vec<String> = f.requests().unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names.len(), 2, "both requests inside the cut: {names:?}");
}

/// A receipt under another node's id — either form — is refused; under one's own
/// new id it is accepted.
#[test]
fn a_receipt_under_another_nodes_period_id_is_refused() {
    use automerge::{ROOT, transaction::Transactable};
    let mut c = crate::harness::Commune::new();
    let k1 = c.member("kiosk-1", conglang::model::Role::Kiosk);
    let k2 = c.member("kiosk-2", conglang::model::Role::Kiosk);
    let p = period_now();
    for target in [
        DocId::receipt_in(&k2.node_id(), p),
        DocId::receipt(&k2.node_id()),
    ] {
        let f = crate::harness::forge(&k1, &k1, &target, |tx| {
            tx.put(ROOT, "kind", "receipt").unwrap();
            tx.put(ROOT, "created_by", k1.node_id().to_string())
                .unwrap();
        });
        let rep = c.office.import(vec![f], None).unwrap();
        assert_eq!(rep.accepted, 0, "{target}: {rep:?}");
        assert!(
            rep.rejected[0].reason.contains("own node"),
            "{target}: {rep:?}"
        );
    }
    let own = crate::harness::forge(&k1, &k1, &DocId::receipt_in(&k1.node_id(), p), |tx| {
        tx.put(ROOT, "kind", "receipt").unwrap();
        tx.put(ROOT, "created_by", k1.node_id().to_string())
            .unwrap();
    });
    let rep = c.office.import(vec![own], None).unwrap();
    assert_eq!(rep.accepted, 1, "{rep:?}");

    // A forgery naming a far newer period of kiosk-2, in one batch with kiosk-2's real
    // receipt: the forgery is refused and does not make the real one look superseded.
    let mut courier = c.member("courier", conglang::model::Role::Courier);
    let mut k2 = k2;
    c.office
        .post_notice(&conglang::model::NoticeDraft {
            title: "Họp thôn".into(),
            ..Default::default()
        })
        .unwrap();
    exchange(&mut c.office, &mut k2);
    let real = k2
        .receipt_docs(&k2.node_id())
        .unwrap()
        .pop()
        .expect("kiosk-2 noted the notice");
    let mut batch = vec![crate::harness::forge(
        &k1,
        &k1,
        &DocId::receipt_in(&k2.node_id(), model::MAX_RECEIPT_PERIOD),
        |tx| {
            tx.put(ROOT, "kind", "receipt").unwrap();
            tx.put(ROOT, "created_by", k1.node_id().to_string())
                .unwrap();
        },
    )];
    let genuine = k2.changes_missing(&real, &[]).unwrap();
    batch.extend(genuine.clone());
    let rep = courier.import(batch, Some(&k1.node_id())).unwrap();
    assert_eq!(rep.rejected.len(), 1, "{rep:?}");
    assert_eq!(rep.accepted, genuine.len(), "{rep:?}");
    assert_eq!(courier.receipt_docs(&k2.node_id()).unwrap(), vec![real]);
}

/// Upgrade in place: a store written before receipts had periods (the previous
/// release's fixtures: an office and a kiosk, receipts `rc-<node>` with times only)
/// still reads them, and the kiosk's first receipt of a period carries the notices it
/// still shows over, now with their versions and first-held times: `reach` goes from
/// "version unknown" to "latest". The old receipt stays, never dropped.
#[test]
fn receipts_from_before_periods_are_read_and_carried_into_the_first_period() {
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| crate::harness::fixture_store(dir.path(), name, None);
    let mut office = open("v1-office");
    let mut kiosk = open("v1-kiosk");
    let kid = kiosk.node_id();
    assert_eq!(
        office.receipt_docs(&kid).unwrap(),
        vec![DocId::receipt(&kid)]
    );
    let old: Vec<DocId> = kiosk.notices().unwrap().into_iter().map(|n| n.id).collect();
    assert_eq!(old.len(), 2);
    let before: Vec<_> = old
        .iter()
        .map(|n| {
            office
                .reach(n)
                .unwrap()
                .into_iter()
                .find(|r| r.node == kid)
                .expect("the old receipt is read")
        })
        .collect();
    assert!(before.iter().all(|r| r.version == HeldVersion::Unknown));

    // A new notice reaches the kiosk: it writes its first periodic receipt.
    let new = office
        .post_notice(&conglang::model::NoticeDraft {
            title: "Thông báo sau khi nâng cấp".into(),
            ..Default::default()
        })
        .unwrap();
    exchange(&mut office, &mut kiosk);
    let docs = office.receipt_docs(&kid).unwrap();
    assert_eq!(
        docs,
        vec![DocId::receipt(&kid), DocId::receipt_in(&kid, period_now())]
    );
    for (n, was) in old.iter().zip(&before) {
        let now = office
            .reach(n)
            .unwrap()
            .into_iter()
            .find(|r| r.node == kid)
            .unwrap();
        assert_eq!(
            (now.version, now.since),
            (HeldVersion::Latest, was.since),
            "{n}"
        );
    }
    let r = office.reach(&new).unwrap();
    assert!(
        r.iter()
            .any(|x| x.node == kid && x.version == HeldVersion::Latest)
    );
}

/// Each receipt's entries as the store keeps them (a table updated per import with
/// only the keys the imported changes wrote) equal a full read of the receipt rebuilt
/// from its valid changes — after every import, across edits, withdrawals, a relay
/// through a courier and a kiosk restored from an older backup that writes its
/// receipt again concurrently (conflicting entries, a forked receipt chain).
#[test]
fn receipt_entries_equal_a_full_read_of_each_receipt_after_every_import() {
    use conglang::model::{NoticeDraft, Role};
    let mut c = crate::harness::Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    let mut courier = c.member("courier", Role::Courier);
    let check = |r: &Repo, when: &str| {
        let owners: Vec<NodeId> = r.receipts().unwrap().into_iter().map(|(n, _)| n).collect();
        assert!(!owners.is_empty(), "{when}: receipts held");
        for owner in owners {
            for (id, held) in r.store().read().receipt_entries_of(&owner, None).unwrap() {
                let full = model::schema::read_receipt(&crate::harness::doc_of(r, &id));
                assert_eq!(held, full, "{when}: entries of {id} on {}", r.node_id());
            }
        }
    };
    let post = |office: &mut Repo, i: usize| {
        office
            .post_notice(&NoticeDraft {
                title: format!("Thông báo {i}"),
                body: "Nội dung".into(),
                urgent: i.is_multiple_of(3),
                ..Default::default()
            })
            .unwrap()
    };
    let mut ids = Vec::new();
    let mut backup: Option<std::path::PathBuf> = None;
    for round in 0..6 {
        for i in 0..4 {
            ids.push(post(&mut c.office, round * 4 + i));
        }
        if round > 0 {
            let old = ids[round - 1].clone();
            c.office
                .edit_notice(
                    &old,
                    &NoticeDraft {
                        title: format!("Thông báo {round} (sửa)"),
                        body: "Nội dung mới".into(),
                        ..Default::default()
                    },
                )
                .unwrap();
        }
        if round > 1 {
            c.office.withdraw_notice(&ids[round * 2].clone()).unwrap();
        }
        // Rotate who meets whom, so receipts arrive first-hand and relayed.
        match round % 3 {
            0 => {
                exchange(&mut c.office, &mut courier);
                exchange(&mut courier, &mut kiosk);
            }
            1 => {
                exchange(&mut c.office, &mut kiosk);
                exchange(&mut kiosk, &mut courier);
            }
            _ => {
                exchange(&mut courier, &mut kiosk);
                exchange(&mut c.office, &mut courier);
            }
        }
        for (r, n) in [
            (&c.office, "office"),
            (&kiosk, "kiosk"),
            (&courier, "courier"),
        ] {
            check(r, &format!("round {round}, {n}"));
        }
        if round == 1 {
            let dir = kiosk.data_dir().to_path_buf();
            drop(kiosk);
            let to = c.base.path().join("kiosk-backup");
            std::fs::create_dir_all(&to).unwrap();
            for e in std::fs::read_dir(&dir).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
            backup = Some(to);
            kiosk = Repo::open(&dir).unwrap();
        }
        if round == 3 {
            // The kiosk dies and its backup from round 1 runs on: it writes entries for
            // notices the lost store had already written, from a fresh actor.
            drop(kiosk);
            kiosk = Repo::open(backup.as_ref().unwrap()).unwrap();
            exchange(&mut c.office, &mut kiosk);
            check(&kiosk, "restored kiosk after the office");
            exchange(&mut kiosk, &mut courier);
            check(&kiosk, "restored kiosk after the courier");
            check(&courier, "courier after the restored kiosk");
        }
    }
    // The receipts tell the truth about the latest versions.
    exchange(&mut c.office, &mut kiosk);
    exchange(&mut c.office, &mut kiosk);
    check(&c.office, "office at the end");
    let last = ids.last().unwrap();
    let reach = c.office.reach(last).unwrap();
    assert!(
        reach
            .iter()
            .any(|r| r.node == kiosk.node_id() && r.version == HeldVersion::Latest),
        "the office sees the kiosk holding the latest version: {reach:?}"
    );
}

/// Issue 21, fault 10: a kiosk whose clock ran five years ahead wrote its receipt in
/// that period; with the clock put right it used to write into the same receipt for
/// five years, and nothing pruned it. Now it moves on by two periods at once (the
/// wrong one is superseded, on the kiosk and on every node that gets the new one),
/// carries the live notices over, and follows the clock from there.
#[test]
fn a_receipt_written_under_a_clock_that_ran_ahead_is_superseded_once_it_is_put_right() {
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let kiosk = CliNode::new(base.path(), "kiosk");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    enrol(&office, &kiosk, "kiosk", "Kiosk Bản Chang");
    let kid: NodeId = kiosk.id().parse().unwrap();
    let p0 = period_now();
    let ahead = p0 + 60;
    let down = base.path().join("down.bundle");
    let up = base.path().join("up.bundle");
    let pinned = at(&office, p0, &["notice", "post", "--title", "Lịch tiếp dân"]);
    let pinned = pinned.trim();
    carry(&office, &kiosk, ahead, &down);
    carry(&kiosk, &office, p0, &up);
    assert_eq!(periods(&kiosk.dir, &kid), vec![Some(ahead)]);
    assert_eq!(periods(&office.dir, &kid), vec![Some(ahead)]);
    // The clock is put right; the next notice is noted in a new period at once.
    at(&office, p0, &["notice", "post", "--title", "Họp thôn"]);
    carry(&office, &kiosk, p0, &down);
    assert_eq!(
        periods(&kiosk.dir, &kid),
        vec![Some(ahead + 2)],
        "the period written under the wrong clock is dropped at the correction"
    );
    carry(&kiosk, &office, p0, &up);
    assert_eq!(periods(&office.dir, &kid), vec![Some(ahead + 2)]);
    let reach = office.json(&["reach", pinned]);
    assert_eq!(
        version_of(&reach, "Kiosk Bản Chang").map(|v| v.0),
        Some("latest".to_string()),
        "the live notice was carried over: {reach}"
    );
    // From there it follows the clock: one period on, one receipt on.
    at(
        &office,
        p0 + 1,
        &["notice", "post", "--title", "Tin kỳ sau"],
    );
    carry(&office, &kiosk, p0 + 1, &down);
    assert_eq!(
        periods(&kiosk.dir, &kid),
        vec![Some(ahead + 2), Some(ahead + 3)]
    );
}
