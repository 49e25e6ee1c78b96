//! Judging the changes of one document (notice, procedure, request, receipt) in causal
//! order, as a function of the set of its changes held and the roster outcome.
//!
//! A change is valid when all its dependencies are valid, its author is a member not
//! revoked past its cut (`RosterOutcome::author`), the rules of `rules::check_change`
//! allow it against the document *at its own dependencies*, and it does not lose an
//! equivocation. Changes are visited in one deterministic topological order (ready
//! changes by hash), so the same set gives the same verdicts on every node.
//!
//! Equivocation — one author signing two changes with the same actor and sequence
//! number, or in a receipt two changes side by side (`twin_keys`) — is only judged among twins that are valid on their own: a refused twin
//! never displaces anything. The twin with the smaller hash wins; the loser and what
//! builds on it become void (kept aside, not forwarded). Honest authors whose changes
//! were voided that way re-issue them (`repo`), so the trick costs them nothing.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{Automerge, ChangeHash};

use super::roster::{DEPENDS_ON_VOID, Hash, RosterOutcome};
use super::rules::{Rejection, check_change};
use crate::identity::NodeId;
use crate::model::DocId;
use crate::model::signed::{VerifiedChange, guard};

/// Requests one kiosk or courier may create per day (officials are not limited). The
/// day is the creation's effective day (`verdict::quota`), not the one it claims. A
/// busy kiosk files a few dozen; a hostile key gets no further than this before it
/// is revoked. The rank of a creation among its author's creations of that day (by
/// time, then hash) decides, so every node that holds the same creations agrees.
pub const DAILY_REQUEST_QUOTA: usize = 300;

/// Reason given to a creation past the daily quota.
pub const OVER_QUOTA: &str = "daily quota of new requests for this device exceeded";

/// What a verdict on a document needs besides its own changes.
pub struct Judge<'a> {
    pub roster: &'a RosterOutcome,
    /// Creating changes ranked past their author's daily quota.
    pub over_quota: &'a BTreeSet<Hash>,
}

/// The day (UTC) a change claims, by its own timestamp.
pub fn day_of(c: &VerifiedChange) -> i64 {
    c.change.timestamp().div_euclid(86_400)
}

/// Does `c` create a request (the change that sets it up, with no dependencies)?
pub fn creates_request(c: &VerifiedChange) -> bool {
    c.signed.doc.kind() == crate::model::Kind::Request && c.change.deps().is_empty()
}

/// Does `c` count towards its author's daily quota? A creation counts when the rules
/// would let its author make it: a creation has no dependencies, so that is decided
/// by the change alone, the same on every node. One the rules refuse is never stored
/// anywhere, so counting it would let junk a node happened to see void an honest
/// request on that node only (issue 21, fault 5: 300 refused creations voided a
/// kiosk's real request on the office, not on the courier). Nor does one its author
/// may not make now — a stranger's, or a revoked key's outside its cut: void, never
/// forwarded, it would void honest requests on the node that holds it only (issue 21
/// review: a stolen key's 300 creations handed to the office alone).
pub fn counts_for_quota(c: &VerifiedChange, roster: &RosterOutcome) -> bool {
    creates_request(c)
        && roster.author(c).is_ok_and(|role| {
            super::rules::check_change(&c.signed.doc, role, &Automerge::new(), c).is_ok()
        })
}

/// Reason given to the losing twin of an equivocation.
pub const EQUIVOCATION_LOSER: &str =
    "equivocation: another change with the same actor and sequence number is kept";

/// What became of one change.
#[derive(Debug)]
pub enum Verdict {
    Valid,
    /// Not valid now, could become valid (revoked author, void dependency, lost
    /// twin, author not enrolled): kept aside, never forwarded.
    Void(String),
    /// Breaks a rule whatever else arrives: not stored; the sender is hostile unless
    /// `false`.
    Refused(String, bool),
}

/// The outcome of a full evaluation.
pub struct Judged {
    pub doc: Automerge,
    /// Valid changes in apply order.
    pub valid: Vec<VerifiedChange>,
    pub void: Vec<(VerifiedChange, String)>,
    pub refused: Vec<(VerifiedChange, String, bool)>,
    /// Changes whose dependencies are not held at all.
    pub waiting: Vec<VerifiedChange>,
    /// Authors caught signing two changes with one actor and sequence number.
    pub equivocators: BTreeSet<NodeId>,
    /// Passes over the document's changes this evaluation took (2 when an
    /// equivocation changed a winner, however many twins: see `replace_twin`).
    pub passes: usize,
}

impl Judged {
    /// Nothing judged yet.
    pub fn empty() -> Judged {
        Judged {
            doc: Automerge::new(),
            valid: Vec::new(),
            void: Vec::new(),
            refused: Vec::new(),
            waiting: Vec::new(),
            equivocators: BTreeSet::new(),
            passes: 0,
        }
    }
}

fn actor_seq(c: &VerifiedChange) -> (Vec<u8>, u64) {
    (c.change.actor_id().to_bytes().to_vec(), c.change.seq())
}

/// What makes two changes twins in document `id`: one actor and sequence number;
/// in a receipt also one author at one depth (1 + the deepest dependency). A receipt
/// has one writer who always builds on all it holds, so its history is a line; a
/// fork — changes of its author side by side, which fresh actor ids make without
/// reusing a sequence number — would give each branch its own `MAX_RECEIPT_OPS`
/// (issue 21 review: eight forks held 32,653 operations). Forks are twins: one line
/// wins, by hash, as anywhere else, and the author is flagged.
fn twin_keys(id: &DocId, c: &VerifiedChange, depth: u64) -> Vec<(Vec<u8>, u64)> {
    let mut keys = vec![actor_seq(c)];
    if id.kind() == crate::model::Kind::Receipt {
        let mut k = b"receipt line of ".to_vec();
        k.extend_from_slice(&c.author.0);
        keys.push((k, depth));
    }
    keys
}

/// Judges `c`, whose dependencies are all valid, against `doc` (the valid changes so
/// far, which include `c`'s dependencies). Applies it to `doc` when valid. `valid`
/// lists what `doc` was built from, to rebuild it when an apply fails half-way.
pub fn judge_one(
    id: &DocId,
    judge: &Judge<'_>,
    doc: &mut Automerge,
    c: &VerifiedChange,
    rebuild: &dyn Fn() -> Automerge,
) -> Verdict {
    let role = match judge.roster.author(c) {
        Ok(r) => r,
        Err(e) => return Verdict::Void(e.to_string()),
    };
    // Officials are trusted with the commune's notices; the quota is for devices
    // anyone can walk up to (and keys that can be stolen from them).
    if role != crate::model::Role::Official && judge.over_quota.contains(&c.hash.0) {
        return Verdict::Void(OVER_QUOTA.into());
    }
    let deps: Vec<ChangeHash> = c.change.deps().to_vec();
    let mut heads = doc.get_heads();
    heads.sort();
    let mut d = deps.clone();
    d.sort();
    let checked = if heads == d {
        check_change(id, role, doc, c)
    } else {
        match doc.fork_at(&deps) {
            Ok(before) => check_change(id, role, &before, c),
            Err(_) => Err(Rejection::Untraceable),
        }
    };
    if let Err(e) = checked {
        // A release that fails its own checks is the fault of the official who wrote
        // it, not of a relay: the version before this one stores and forwards it as a
        // later kind, so an honest courier still on it brings it here.
        let hostile = !matches!(e, Rejection::Release(_));
        return Verdict::Refused(e.to_string(), hostile);
    }
    let change = c.change.clone();
    match guard(|| doc.apply_changes([change])) {
        Ok(Ok(())) => Verdict::Valid,
        Ok(Err(e)) => {
            *doc = rebuild();
            Verdict::Refused(format!("change does not apply: {e}"), true)
        }
        Err(()) => {
            *doc = rebuild();
            Verdict::Refused(
                "change does not apply: the document engine gave up on it".into(),
                true,
            )
        }
    }
}

/// Evaluates every change held for document `id` from scratch.
pub fn evaluate(id: &DocId, judge: &Judge<'_>, changes: Vec<VerifiedChange>) -> Judged {
    let mut uniq: BTreeMap<Hash, VerifiedChange> = BTreeMap::new();
    for c in changes {
        uniq.entry(c.hash.0).or_insert(c);
    }
    let mut losers: BTreeSet<Hash> = BTreeSet::new();
    // Each round adds at least one loser, so this ends; one pass finds every loser
    // (`replace_twin`), so a document needs two at most in practice.
    for passes in 1.. {
        let (mut judged, new_losers) = pass(id, judge, &uniq, &losers);
        if new_losers.is_subset(&losers) {
            judged.passes = passes;
            return judged;
        }
        losers.extend(new_losers);
    }
    unreachable!("the loop returns")
}

/// Within one pass: `winner` beats `loser`, already applied. Drops the loser and the
/// valid changes built on it from `out` (void: the loser by equivocation, the rest by
/// their dependency), rebuilds the document and judges the winner on it. When the
/// winner itself builds on what was dropped, it stays void in this pass, as before.
fn replace_twin(
    id: &DocId,
    judge: &Judge<'_>,
    out: &mut Judged,
    valid: &mut BTreeSet<Hash>,
    twins: &mut BTreeMap<(Vec<u8>, u64), Hash>,
    loser: Hash,
    winner: &VerifiedChange,
) -> Verdict {
    let mut dropped: BTreeSet<Hash> = BTreeSet::from([loser]);
    for v in &out.valid {
        if v.change.deps().iter().any(|d| dropped.contains(&d.0)) {
            dropped.insert(v.hash.0);
        }
    }
    if winner.change.deps().iter().any(|d| dropped.contains(&d.0)) {
        return Verdict::Void(EQUIVOCATION_LOSER.into());
    }
    let (kept, gone): (Vec<VerifiedChange>, Vec<VerifiedChange>) = std::mem::take(&mut out.valid)
        .into_iter()
        .partition(|v| !dropped.contains(&v.hash.0));
    for v in gone {
        let why = if v.hash.0 == loser {
            EQUIVOCATION_LOSER
        } else {
            DEPENDS_ON_VOID
        };
        out.void.push((v, why.into()));
    }
    valid.retain(|h| !dropped.contains(h));
    twins.retain(|_, h| !dropped.contains(h));
    out.valid = kept;
    let mut doc = Automerge::new();
    let _ = doc.apply_changes(out.valid.iter().map(|v| v.change.clone()));
    out.doc = doc;
    let valid_now = out.valid.clone();
    let rebuild = move || {
        let mut d = Automerge::new();
        let _ = d.apply_changes(valid_now.iter().map(|v| v.change.clone()));
        d
    };
    judge_one(id, judge, &mut out.doc, winner, &rebuild)
}

fn pass(
    id: &DocId,
    roster: &Judge<'_>,
    all: &BTreeMap<Hash, VerifiedChange>,
    losers: &BTreeSet<Hash>,
) -> (Judged, BTreeSet<Hash>) {
    let mut out = Judged::empty();
    let mut new_losers = BTreeSet::new();
    let mut valid: BTreeSet<Hash> = BTreeSet::new();
    let mut twins: BTreeMap<(Vec<u8>, u64), Hash> = BTreeMap::new();
    let mut visited: BTreeSet<Hash> = BTreeSet::new();
    let mut depth: BTreeMap<Hash, u64> = BTreeMap::new();
    for h in super::Topo::new(all.iter().map(|(h, c)| (*h, c.change.deps()))) {
        visited.insert(h);
        let c = &all[&h];
        let d = 1 + c
            .change
            .deps()
            .iter()
            .filter_map(|d| depth.get(&d.0).copied())
            .max()
            .unwrap_or(0);
        depth.insert(h, d);
        let keys = twin_keys(id, c, d);
        let verdict = if losers.contains(&h) {
            Verdict::Void(EQUIVOCATION_LOSER.into())
        } else if c.change.deps().iter().any(|d| !valid.contains(&d.0)) {
            Verdict::Void(DEPENDS_ON_VOID.into())
        } else {
            let valid_now = &out.valid;
            let rebuild = || {
                let mut d = Automerge::new();
                let _ = d.apply_changes(valid_now.iter().map(|v| v.change.clone()));
                d
            };
            // Judge against a copy when a twin is already applied: the document
            // cannot hold both, and the contest is decided on validity first.
            match keys.iter().find_map(|k| twins.get(k).copied()) {
                Some(t) => {
                    out.equivocators.insert(c.author);
                    let mut probe = match out.doc.fork_at(c.change.deps()) {
                        Ok(d) => d,
                        Err(_) => rebuild(),
                    };
                    let v = judge_one(id, roster, &mut probe, c, &rebuild);
                    match v {
                        Verdict::Valid if c.hash.0 < t => {
                            // The newcomer wins: the applied twin loses. The next pass
                            // starts with it marked; so that this pass still finds the
                            // losers further on (a chain of twins, each built on the
                            // last winner, found one per pass cost O(n²): 301 changes
                            // took 13–21 s), the loser and what was built on it leave
                            // this pass's document and the winner takes its place.
                            new_losers.insert(t);
                            replace_twin(id, roster, &mut out, &mut valid, &mut twins, t, c)
                        }
                        Verdict::Valid => Verdict::Void(EQUIVOCATION_LOSER.into()),
                        other => other,
                    }
                }
                None => judge_one(id, roster, &mut out.doc, c, &rebuild),
            }
        };
        match verdict {
            Verdict::Valid => {
                valid.insert(h);
                for k in keys {
                    twins.insert(k, h);
                }
                out.valid.push(c.clone());
            }
            Verdict::Void(why) => out.void.push((c.clone(), why)),
            Verdict::Refused(why, hostile) => out.refused.push((c.clone(), why, hostile)),
        }
    }
    for (h, c) in all {
        if !visited.contains(h) {
            out.waiting.push(c.clone());
        }
    }
    (out, new_losers)
}
