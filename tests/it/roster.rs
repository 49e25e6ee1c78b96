//! The roster as a written semantics (issue 21, point 3), checked exhaustively: every
//! roster history of a few officials, each making up to two roster changes — enrol a
//! device, revoke another official (having seen the others' first moves or not), or
//! sign a twin of its own first change — gives one outcome whatever order the changes
//! are handed over in, each change's "hostile" verdict is the same in every prefix of
//! an arrival order that holds it (so what a node refuses on arrival does not depend on
//! when it arrived), and the founder can always act afterwards: its enrolment of a new
//! device and its revocation of every official stand.
//!
//! Small form (in `cargo test`): every 20th of the 15,625 histories of 3 officials.
//! Long mode: `CONGLANG_ROSTER_ALL=1 cargo test --test it roster:: -- --nocapture`
//! (all of them); `CONGLANG_ROSTER_SHARD=k/n` runs every n-th history from the k-th
//! (one part per core); `CONGLANG_ROSTER_OFFICIALS=4` takes 4 officials (2,825,761
//! histories: run it sharded, in release).
//!
//! The changes are real signed Automerge changes, judged by the real
//! `verdict::roster::evaluate`; the histories are built in memory so that millions
//! of them fit in a test run.

use std::collections::BTreeMap;

use automerge::{ActorId, Automerge, ChangeHash};
use conglang::identity::{Identity, NodeId};
use conglang::model::schema::{Member, write_member, write_revocation};
use conglang::model::signed::VerifiedChange;
use conglang::model::{DocId, Role, SignedChange};
use conglang::verdict::roster::{Hash, RosterOutcome, evaluate};

use crate::harness::Commune;

/// One official's move.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Move {
    /// Enrol a new kiosk.
    Enrol,
    /// Revoke official `j` (an index among the officials).
    Revoke(usize),
}

/// An official's part of a history.
#[derive(Clone, Copy, Debug)]
enum Part {
    Nothing,
    One(Move),
    /// Two moves; the second made having seen every official's first move or only its own.
    Two(Move, Move, bool),
    /// A first move, then a twin of it (same actor and sequence number) enrolling a
    /// device instead.
    Twin(Move),
}

fn parts(n: usize, i: usize) -> Vec<Part> {
    let mut moves = vec![Move::Enrol];
    moves.extend((0..n).filter(|&j| j != i).map(Move::Revoke));
    let mut out = vec![Part::Nothing];
    for &a in &moves {
        out.push(Part::One(a));
    }
    for &a in &moves {
        for &b in &moves {
            out.push(Part::Two(a, b, false));
            out.push(Part::Two(a, b, true));
        }
        out.push(Part::Twin(a));
    }
    out
}

struct World {
    commune: NodeId,
    founder: Identity,
    officials: Vec<Identity>,
    /// The founder's roster changes: the commune and the officials' enrolments.
    base: Vec<VerifiedChange>,
    base_doc: Automerge,
    /// A kiosk key per official and move slot (0, 1, twin = 2), and the founder's.
    kiosks: Vec<[NodeId; 3]>,
    founder_kiosk: NodeId,
}

fn world(n: usize) -> (Commune, World) {
    let mut c = Commune::new();
    let mut officials = Vec::new();
    for i in 0..n {
        let r = conglang::repo::Repo::open(&c.base.path().join(format!("o{i}"))).unwrap();
        c.office
            .roster_add(r.node_id(), Role::Official, &format!("o{i}"), "x", vec![])
            .unwrap();
        officials.push(Identity::from_secret(r.identity().secret_bytes()));
    }
    let base: Vec<VerifiedChange> = c
        .office
        .changes_missing(&DocId::roster(), &[])
        .unwrap()
        .into_iter()
        .map(|s| s.verify().unwrap())
        .collect();
    let mut base_doc = Automerge::new();
    base_doc
        .apply_changes(base.iter().map(|v| v.change.clone()))
        .unwrap();
    let key = || Identity::generate().node_id();
    let w = World {
        commune: c.office.node_id(),
        founder: Identity::from_secret(c.office.identity().secret_bytes()),
        officials,
        base,
        base_doc,
        kiosks: (0..n).map(|_| [key(), key(), key()]).collect(),
        founder_kiosk: key(),
    };
    (c, w)
}

fn actor_of(id: &NodeId, tag: u8) -> ActorId {
    let mut b = id.as_bytes().to_vec();
    b.extend_from_slice(&[tag; 8]);
    ActorId::from(b)
}

/// Signs one roster change made on `doc` (a fork) by `who` with `actor`.
pub(crate) fn sign_on(
    mut doc: Automerge,
    who: &Identity,
    actor: ActorId,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> VerifiedChange {
    doc.set_actor(actor);
    let before = doc.get_heads();
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        f(tx);
        Ok(())
    })
    .unwrap();
    let mut ch = doc.get_changes(&before).pop().unwrap();
    SignedChange::sign(who, &DocId::roster(), &mut ch)
        .verify()
        .unwrap()
}

fn enrol(tx: &mut automerge::transaction::Transaction<'_>, node: NodeId, by: NodeId, number: u32) {
    write_member(
        tx,
        &Member {
            node,
            name: format!("kiosk {number}"),
            role: Role::Kiosk,
            place: "x".into(),
            number,
            added_by: Some(by),
            added_at: 1,
            revoked: None,
        },
    )
    .unwrap();
}

impl World {
    /// Applies `m` by official `i` on `doc`.
    fn make(
        &self,
        doc: Automerge,
        i: usize,
        slot: usize,
        m: Move,
        held: &[VerifiedChange],
    ) -> VerifiedChange {
        let me = self.officials[i].node_id();
        let number = 100 + (i as u32) * 3 + slot as u32;
        let kiosk = self.kiosks[i][slot];
        sign_on(doc, &self.officials[i], actor_of(&me, 1), |tx| match m {
            Move::Enrol => enrol(tx, kiosk, me, number),
            Move::Revoke(j) => {
                let target = self.officials[j].node_id();
                // The cut: every change of the target this official holds.
                let cut: Vec<Hash> = held
                    .iter()
                    .filter(|c| c.author == target)
                    .map(|c| c.hash.0)
                    .collect();
                write_revocation(tx, &target, &me, 10 + slot as i64, &cut).unwrap();
            }
        })
    }

    fn doc_with(&self, extra: &[&VerifiedChange]) -> Automerge {
        let mut d = self.base_doc.clone();
        d.apply_changes(extra.iter().map(|c| c.change.clone()))
            .unwrap();
        d
    }

    /// The changes of one history (officials' parts), base excluded.
    fn history(&self, parts: &[Part]) -> Vec<VerifiedChange> {
        let mut first: Vec<Option<VerifiedChange>> = vec![None; parts.len()];
        for (i, p) in parts.iter().enumerate() {
            let m = match p {
                Part::Nothing => continue,
                Part::One(m) | Part::Two(m, _, _) | Part::Twin(m) => *m,
            };
            first[i] = Some(self.make(self.base_doc.clone(), i, 0, m, &[]));
        }
        let mut out: Vec<VerifiedChange> = first.iter().flatten().cloned().collect();
        for (i, p) in parts.iter().enumerate() {
            match p {
                Part::Two(_, m, seen_all) => {
                    let own = first[i].as_ref().unwrap();
                    let held: Vec<&VerifiedChange> = if *seen_all {
                        first.iter().flatten().collect()
                    } else {
                        vec![own]
                    };
                    let doc = self.doc_with(&held);
                    let held: Vec<VerifiedChange> = held.into_iter().cloned().collect();
                    out.push(self.make(doc, i, 1, *m, &held));
                }
                Part::Twin(_) => {
                    out.push(self.make(self.base_doc.clone(), i, 2, Move::Enrol, &[]));
                }
                _ => {}
            }
        }
        out
    }

    fn evaluate(&self, changes: &[VerifiedChange]) -> RosterOutcome {
        let links = |a: &NodeId| -> Vec<(Hash, Option<Hash>)> {
            changes
                .iter()
                .filter(|c| c.author == *a)
                .map(|c| (c.hash.0, None))
                .collect()
        };
        evaluate(&self.commune, changes, &links)
    }

    /// The founder, holding everything, enrols a device and revokes every official
    /// still standing, on the valid roster as its node would hold it.
    fn founder_acts(&self, all: &[VerifiedChange], o: &RosterOutcome) -> Vec<VerifiedChange> {
        let by_hash: BTreeMap<Hash, &VerifiedChange> = all.iter().map(|c| (c.hash.0, c)).collect();
        let mut doc = Automerge::new();
        doc.apply_changes(o.order.iter().map(|h| by_hash[h].change.clone()))
            .unwrap();
        let me = self.commune;
        let mut out = Vec::new();
        let c = sign_on(doc.clone(), &self.founder, actor_of(&me, 9), |tx| {
            enrol(tx, self.founder_kiosk, me, 99)
        });
        doc.apply_changes([c.change.clone()]).unwrap();
        out.push(c);
        for (k, off) in self.officials.iter().enumerate() {
            let target = off.node_id();
            if o.roster
                .member(&target)
                .and_then(|m| m.revoked.as_ref())
                .is_some()
            {
                continue;
            }
            let cut: Vec<Hash> = all
                .iter()
                .filter(|c| c.author == target)
                .map(|c| c.hash.0)
                .collect();
            let c = sign_on(doc.clone(), &self.founder, actor_of(&me, 9), |tx| {
                write_revocation(tx, &target, &me, 50 + k as i64, &cut).unwrap()
            });
            doc.apply_changes([c.change.clone()]).unwrap();
            out.push(c);
        }
        out
    }
}

/// What two nodes must agree on.
fn summary(o: &RosterOutcome) -> String {
    let void: Vec<(String, bool)> = o
        .void
        .iter()
        .map(|(h, (_, hostile))| (hex::encode(&h[..6]), *hostile))
        .collect();
    format!(
        "{:?} {:?} {} {:?} {:?}",
        o.order
            .iter()
            .map(|h| hex::encode(&h[..6]))
            .collect::<Vec<_>>(),
        void,
        serde_json::to_string(&o.roster).unwrap(),
        o.standing
            .iter()
            .map(|r| hex::encode(&r.change[..6]))
            .collect::<Vec<_>>(),
        o.equivocators
    )
}

/// A causal arrival order of `changes` (on top of the base), drawn from `seed`.
fn arrival(changes: &[VerifiedChange], seed: u64) -> Vec<usize> {
    let mut left: Vec<usize> = (0..changes.len()).collect();
    let mut had: Vec<ChangeHash> = Vec::new();
    let mut out = Vec::new();
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    while !left.is_empty() {
        let ready: Vec<usize> = left
            .iter()
            .copied()
            .filter(|&k| {
                changes[k]
                    .change
                    .deps()
                    .iter()
                    .all(|d| had.contains(d) || !changes.iter().any(|c| c.hash == *d))
            })
            .collect();
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let k = ready[(x >> 33) as usize % ready.len()];
        had.push(changes[k].hash);
        out.push(k);
        left.retain(|&y| y != k);
    }
    out
}

fn check_history(w: &World, parts: &[Part], index: u64) {
    let extra = w.history(parts);
    let mut all = w.base.clone();
    all.extend(extra.iter().cloned());
    let o = w.evaluate(&all);
    let what = || format!("history {index}: {parts:?}");
    // One outcome whatever order the set is handed over in.
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(summary(&w.evaluate(&rev)), summary(&o), "{}", what());
    // What is hostile (refused on arrival, never stored) is so in every prefix of an
    // arrival order that holds it, and what is not never becomes so.
    let order = arrival(&extra, index);
    let mut held = w.base.clone();
    for &k in &order {
        held.push(extra[k].clone());
        let p = w.evaluate(&held);
        for c in &held {
            let here = p.void.get(&c.hash.0).is_some_and(|(_, h)| *h);
            let there = o.void.get(&c.hash.0).is_some_and(|(_, h)| *h);
            assert_eq!(
                here,
                there,
                "{}: hostile verdict of a change moved with arrival",
                what()
            );
        }
    }
    // The base (the founder's own work) is never touched.
    for b in &w.base {
        assert!(
            o.order.contains(&b.hash.0),
            "{}: founder change void",
            what()
        );
    }
    // An equivocating official still standing is flagged (unless one of its twins
    // breaks a rule, such as a junior revoking a senior: refused, never stored, so no
    // pair of twins is held).
    for (i, p) in parts.iter().enumerate() {
        let id = w.officials[i].node_id();
        let refused = extra
            .iter()
            .filter(|c| c.author == id)
            .any(|c| o.void.get(&c.hash.0).is_some_and(|(_, h)| *h));
        if matches!(p, Part::Twin(_))
            && !refused
            && o.roster.member(&id).is_some_and(|m| m.revoked.is_none())
        {
            assert!(o.equivocators.contains(&id), "{}: twin not flagged", what());
        }
    }
    // The founder can always act.
    let acts = w.founder_acts(&all, &o);
    let mut after = all.clone();
    after.extend(acts.iter().cloned());
    let f = w.evaluate(&after);
    for c in &acts {
        assert!(
            f.order.contains(&c.hash.0),
            "{}: the founder's act is void: {:?}",
            what(),
            f.void.get(&c.hash.0)
        );
    }
    assert!(
        f.roster
            .member(&w.founder_kiosk)
            .is_some_and(|m| m.revoked.is_none()),
        "{}: the founder's device is not enrolled",
        what()
    );
    for off in &w.officials {
        assert!(
            f.roster
                .member(&off.node_id())
                .is_some_and(|m| m.revoked.is_some()),
            "{}: an official survived the founder's revocation",
            what()
        );
    }
    assert_eq!(f.roster.officials().count(), 1, "{}", what());
}

#[test]
fn every_roster_history_has_one_outcome_and_the_founder_always_acts() {
    let n: usize = std::env::var("CONGLANG_ROSTER_OFFICIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let (k, shards) = std::env::var("CONGLANG_ROSTER_SHARD")
        .ok()
        .and_then(|v| {
            let (a, b) = v.split_once('/')?;
            Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
        })
        // The small form (CI): every 20th history of 3 officials, 782 of 15,625.
        .unwrap_or(if std::env::var("CONGLANG_ROSTER_ALL").is_ok() {
            (0, 1)
        } else {
            (0, 20)
        });
    let (_c, w) = world(n);
    let options: Vec<Vec<Part>> = (0..n).map(|i| parts(n, i)).collect();
    let total: u64 = options.iter().map(|o| o.len() as u64).product();
    let start = std::time::Instant::now();
    let mut checked = 0u64;
    for index in 0..total {
        if index % shards != k {
            continue;
        }
        let mut rest = index;
        let mut h = Vec::with_capacity(n);
        for o in &options {
            h.push(o[(rest % o.len() as u64) as usize]);
            rest /= o.len() as u64;
        }
        check_history(&w, &h, index);
        checked += 1;
    }
    eprintln!(
        "roster: {checked} of {total} histories of {n} officials checked in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}
