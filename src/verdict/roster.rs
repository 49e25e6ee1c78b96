//! The roster's verdict: which roster changes are valid, who is a member with which
//! role, and which revocations are in force — as a deterministic function of the SET of
//! roster changes held (plus the author chains, for revocation cuts). Two honest nodes
//! holding the same changes compute the same outcome, whatever order they came in.
//!
//! Why a set function and not "the roster now": revocation is not monotone in causal
//! order — a revocation can arrive after the revoked key's later changes, two officials
//! can revoke the same key with different cuts, or revoke each other. So:
//!
//! 1. Roster changes are walked in one deterministic topological order (ready changes
//!    by hash). Each is judged against the roster built so far: the founder starts it;
//!    after that only officials write it; nobody changes an enrolled member's role or
//!    removes a member; revocation records are append-only, name their author, never
//!    target the founder. Changes voided by step 3 are skipped (with their descendants).
//! 2. The revocation records the walk accepted are resolved like an argumentation
//!    framework (grounded semantics): a revocation R of X *attacks* a revocation S made
//!    by X when S is not in R's cut. A revocation with no live attacker stands; one
//!    attacked by a standing revocation falls. A cycle that causality leaves open (two
//!    officials revoking each other concurrently) is broken by precedence: the founder
//!    first, then the lower member number, then the node id. The founder cannot be
//!    revoked, so there is always an official and the commune can always recover.
//! 3. A revoked node keeps only the changes in every standing revocation's cut
//!    (intersection: the earliest cut wins). Its roster changes outside it are voided,
//!    and the walk runs again until nothing changes (enrolments by a revoked official
//!    after its cut fall, and with them the devices they enrolled).
//!
//! A cut is compact: the revoked node's chain heads as the revoking official held them.
//! A change is in the cut if it is reachable from those heads through chain links
//! (`ChainMeta::prev`), or is in the causal past of the revocation in the roster. Old
//! revocations that listed every hash are read the same way.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{Automerge, ChangeHash};

use super::rules::{Rejection, check_roster_change};
use crate::identity::NodeId;
use crate::model::schema::{Revocation, Roster, read_raw_revocations, read_roster};
use crate::model::signed::VerifiedChange;

pub type Hash = [u8; 32];

/// Reason given for a change built on a change that is not valid.
pub const DEPENDS_ON_VOID: &str = "depends on a change that is not valid";

/// A revocation record and the roster change that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationRec {
    pub id: String,
    pub target: NodeId,
    pub by: NodeId,
    pub at: i64,
    pub cut: Vec<Hash>,
    pub change: Hash,
}

/// Most chain heads a revocation may name (2,048 × 64 hex chars ≈ 128 KiB would be too
/// much for one change; 1,024 keeps the record under 70 KiB). An honest node has one
/// chain head; more means it forked its chain (a restored backup, or a hostile key).
pub const MAX_CUT_HEADS: usize = 1024;

#[derive(Clone, Debug, Default)]
pub struct RosterOutcome {
    /// Valid roster changes in the order they were applied.
    pub order: Vec<Hash>,
    /// Roster changes held but not valid, with the reason and whether the change is
    /// hostile by itself (breaks a rule: never valid, not stored) or only void for now
    /// (revoked, or built on something void: kept aside, may become valid).
    pub void: BTreeMap<Hash, (String, bool)>,
    /// The evaluated roster: members enrolled by valid changes; `revoked` filled from
    /// the standing revocations.
    pub roster: Roster,
    /// For each revoked node, the changes it keeps.
    pub kept: BTreeMap<NodeId, BTreeSet<Hash>>,
    /// Standing revocations.
    pub standing: Vec<RevocationRec>,
    /// Every node some held roster change enrols, valid or not: their changes are
    /// kept aside when void (a revocation that voids an enrolment can itself fall),
    /// while a stranger's are refused outright.
    pub named: BTreeSet<NodeId>,
}

impl RosterOutcome {
    /// May `c`'s author write at all, and with which role? Membership comes from the
    /// evaluated roster, revocation from the standing cuts.
    pub fn author(&self, c: &VerifiedChange) -> Result<crate::model::Role, Rejection> {
        let who = c.author.short();
        let Some(m) = self.roster.member(&c.author) else {
            return Err(Rejection::NotMember(who));
        };
        if let Some(kept) = self.kept.get(&c.author)
            && !kept.contains(&c.hash.0)
        {
            return Err(Rejection::Revoked(who));
        }
        Ok(m.role)
    }
}

/// Everything the evaluation needs to know about author chains: for a node, each of
/// its held changes (in any document, valid or not) with its chain link.
pub trait Chains {
    fn links(&self, author: &NodeId) -> Vec<(Hash, Option<Hash>)>;
}

impl<F: Fn(&NodeId) -> Vec<(Hash, Option<Hash>)>> Chains for F {
    fn links(&self, author: &NodeId) -> Vec<(Hash, Option<Hash>)> {
        self(author)
    }
}

/// Changes of `author` reachable from `heads` through chain links.
pub fn reachable(heads: &[Hash], links: &[(Hash, Option<Hash>)]) -> BTreeSet<Hash> {
    let prev: BTreeMap<Hash, Option<Hash>> = links.iter().copied().collect();
    let mut out = BTreeSet::new();
    let mut stack: Vec<Hash> = heads.to_vec();
    while let Some(h) = stack.pop() {
        if !out.insert(h) {
            continue;
        }
        if let Some(Some(p)) = prev.get(&h) {
            stack.push(*p);
        }
    }
    out
}

/// The chain heads of a node's held changes: those no other held change names as its
/// previous one. What a revocation records as its cut.
pub fn chain_heads(links: &[(Hash, Option<Hash>)]) -> Vec<Hash> {
    let named: BTreeSet<Hash> = links.iter().filter_map(|(_, p)| *p).collect();
    let mut heads: Vec<Hash> = links
        .iter()
        .map(|(h, _)| *h)
        .filter(|h| !named.contains(h))
        .collect();
    heads.sort();
    heads.dedup();
    heads
}

/// Evaluates the roster from every roster change held. `changes` need not be sorted.
pub fn evaluate(
    commune: &NodeId,
    changes: &[VerifiedChange],
    chains: &impl Chains,
) -> RosterOutcome {
    let by_hash: BTreeMap<Hash, &VerifiedChange> = changes.iter().map(|c| (c.hash.0, c)).collect();
    let mut void: BTreeMap<Hash, String> = BTreeMap::new();
    // Bounded: each round voids more or stops; a revocation cycle can flip at most once
    // per revocation record.
    let mut last = RosterOutcome::default();
    for _round in 0..(changes.len() + 2).min(64) {
        let walk = walk(commune, &by_hash, &void);
        let standing = resolve(commune, &walk.records, &walk.roster, &by_hash, chains);
        let kept = kept_sets(&standing, &by_hash, chains);
        // Roster changes outside a revoked author's cut.
        let mut next_void: BTreeMap<Hash, String> = BTreeMap::new();
        for c in changes {
            if let Some(k) = kept.get(&c.author)
                && !k.contains(&c.hash.0)
            {
                next_void.insert(c.hash.0, Rejection::Revoked(c.author.short()).to_string());
            }
        }
        let mut roster = walk.roster.clone();
        for r in &standing {
            if let Some(m) = roster.members.get_mut(&r.target)
                && m.revoked.is_none()
            {
                m.revoked = Some(Revocation {
                    by: r.by,
                    at: r.at,
                    cut: r.cut.iter().map(hex::encode).collect(),
                });
            }
        }
        let mut all_void = walk.void.clone();
        for (h, why) in &next_void {
            all_void.entry(*h).or_insert_with(|| (why.clone(), false));
        }
        last = RosterOutcome {
            order: walk.order,
            void: all_void,
            roster,
            kept,
            standing,
            named: BTreeSet::new(),
        };
        if next_void == void {
            break;
        }
        void = next_void;
    }
    last.named = enrolled_from_founder(commune, changes, &last);
    last
}

/// Every node some held roster change enrols, valid or not, *through a line of
/// enrolments that starts at the founder*: the changes whose enrolments count are
/// the valid ones, and those void for now (not hostile) whose author the evaluated
/// roster lists as an official (revoked or not: its revocation may fall). Who a
/// change enrols is read from its own operations (a member entry made under a key
/// that is a node id), one change at a time — not from a document of every held
/// change, where a later change can hide earlier entries and one malformed change
/// makes the engine give up on all — and never from its `added_by`, which its writer
/// chooses. So a key that enrols itself, a ring of fresh keys enrolling each other,
/// or a kiosk writing member entries names nobody the commune trusts: their changes
/// are refused, never kept aside (issue 21, fault 6: a stranger parked 63 changes
/// per fresh key that way). A function of the set of roster changes, like the rest
/// of the outcome.
fn enrolled_from_founder(
    commune: &NodeId,
    changes: &[VerifiedChange],
    outcome: &RosterOutcome,
) -> BTreeSet<NodeId> {
    use automerge::ObjType;
    use automerge::legacy::{Key, OpType};
    let valid: BTreeSet<Hash> = outcome.order.iter().copied().collect();
    let official = |n: &NodeId| {
        *n == *commune
            || outcome
                .roster
                .member(n)
                .is_some_and(|m| m.role == crate::model::Role::Official)
    };
    let mut edges: Vec<(NodeId, NodeId)> = Vec::new();
    for c in changes {
        let counts = valid.contains(&c.hash.0)
            || (matches!(outcome.void.get(&c.hash.0), Some((_, false))) && official(&c.author));
        if !counts {
            continue;
        }
        let Ok(expanded) = crate::model::signed::guard(|| c.change.decode()) else {
            continue;
        };
        for op in &expanded.operations {
            if let (OpType::Make(ObjType::Map), Key::Map(k)) = (&op.action, &op.key)
                && let Ok(member) = k.parse::<NodeId>()
            {
                edges.push((c.author, member));
            }
        }
    }
    let mut named = BTreeSet::from([*commune]);
    loop {
        let before = named.len();
        for (a, m) in &edges {
            if named.contains(a) {
                named.insert(*m);
            }
        }
        if named.len() == before {
            return named;
        }
    }
}

struct Walk {
    order: Vec<Hash>,
    void: BTreeMap<Hash, (String, bool)>,
    roster: Roster,
    records: Vec<RevocationRec>,
}

/// One deterministic topological walk, skipping `skip` (and their descendants).
fn walk(
    commune: &NodeId,
    by_hash: &BTreeMap<Hash, &VerifiedChange>,
    skip: &BTreeMap<Hash, String>,
) -> Walk {
    let mut doc = Automerge::new();
    let mut order: Vec<Hash> = Vec::new();
    let mut valid: BTreeSet<Hash> = BTreeSet::new();
    let mut void: BTreeMap<Hash, (String, bool)> = BTreeMap::new();
    let mut records: Vec<RevocationRec> = Vec::new();
    let order_of = super::Topo::new(by_hash.iter().map(|(h, c)| (*h, c.change.deps())));
    for h in order_of {
        let c = by_hash[&h];
        let verdict: Result<(), (String, bool)> = if let Some(why) = skip.get(&h) {
            Err((why.clone(), false))
        } else if c.change.deps().iter().any(|d| !valid.contains(&d.0)) {
            Err((DEPENDS_ON_VOID.into(), false))
        } else {
            judge(commune, &mut doc, &order, by_hash, c, &mut records)
        };
        match verdict {
            Ok(()) => {
                valid.insert(h);
                order.push(h);
            }
            Err(e) => {
                void.insert(h, e);
            }
        }
    }
    let mut roster = read_roster(&doc);
    for m in roster.members.values_mut() {
        m.revoked = None;
    }
    Walk {
        order,
        void,
        roster,
        records,
    }
}

/// Judges one roster change against `doc` (the roster so far), applying it when valid.
/// New revocation records it writes are appended to `records`.
fn judge(
    commune: &NodeId,
    doc: &mut Automerge,
    order: &[Hash],
    by_hash: &BTreeMap<Hash, &VerifiedChange>,
    c: &VerifiedChange,
    records: &mut Vec<RevocationRec>,
) -> Result<(), (String, bool)> {
    let before = read_roster(&*doc);
    let before_revs = read_raw_revocations(&*doc);
    check_roster_change(commune, &before, doc, c).map_err(|e| {
        let hostile = !matches!(e, Rejection::NotMember(_));
        (e.to_string(), hostile)
    })?;
    let change = c.change.clone();
    let applied = crate::model::signed::guard(|| doc.apply_changes([change]));
    let rebuild = |doc: &mut Automerge| {
        let mut d = Automerge::new();
        let _ = d.apply_changes(order.iter().map(|h| by_hash[h].change.clone()));
        *doc = d;
    };
    match applied {
        Ok(Ok(())) => {}
        _ => {
            rebuild(doc);
            return Err(("change does not apply to the roster".into(), true));
        }
    }
    let after = read_roster(&*doc);
    let after_revs = read_raw_revocations(&*doc);
    if let Err(e) = super::rules::check_roster_diff(
        commune,
        &c.author,
        &before,
        &after,
        &before_revs,
        &after_revs,
    ) {
        rebuild(doc);
        return Err((e.to_string(), true));
    }
    for (id, r) in after_revs {
        if !before_revs.contains_key(&id) {
            records.push(RevocationRec {
                id,
                target: r.target,
                by: c.author,
                at: r.at,
                cut: r.cut,
                change: c.hash.0,
            });
        }
    }
    Ok(())
}

/// Ancestors of `h` (inclusive) among the roster changes held.
fn causal_past(h: Hash, by_hash: &BTreeMap<Hash, &VerifiedChange>) -> BTreeSet<Hash> {
    let mut out = BTreeSet::new();
    let mut stack = vec![h];
    while let Some(x) = stack.pop() {
        if !out.insert(x) {
            continue;
        }
        if let Some(c) = by_hash.get(&x) {
            stack.extend(c.change.deps().iter().map(|d: &ChangeHash| d.0));
        }
    }
    out
}

/// What revocation `r` keeps of its target's changes.
fn kept_by(
    r: &RevocationRec,
    by_hash: &BTreeMap<Hash, &VerifiedChange>,
    chains: &impl Chains,
) -> BTreeSet<Hash> {
    let links = chains.links(&r.target);
    let mut kept = reachable(&r.cut, &links);
    for h in causal_past(r.change, by_hash) {
        if by_hash.get(&h).is_some_and(|c| c.author == r.target) {
            kept.insert(h);
        }
    }
    kept
}

fn kept_sets(
    standing: &[RevocationRec],
    by_hash: &BTreeMap<Hash, &VerifiedChange>,
    chains: &impl Chains,
) -> BTreeMap<NodeId, BTreeSet<Hash>> {
    let mut out: BTreeMap<NodeId, BTreeSet<Hash>> = BTreeMap::new();
    for r in standing {
        let k = kept_by(r, by_hash, chains);
        match out.get_mut(&r.target) {
            Some(prev) => {
                *prev = prev.intersection(&k).copied().collect();
            }
            None => {
                out.insert(r.target, k);
            }
        }
    }
    out
}

/// Grounded resolution of revocation records, with precedence breaking cycles.
fn resolve(
    commune: &NodeId,
    records: &[RevocationRec],
    roster: &Roster,
    by_hash: &BTreeMap<Hash, &VerifiedChange>,
    chains: &impl Chains,
) -> Vec<RevocationRec> {
    let n = records.len();
    let kept: Vec<BTreeSet<Hash>> = records
        .iter()
        .map(|r| kept_by(r, by_hash, chains))
        .collect();
    // attackers[j] = records i with i.target == j.by and j's change not in i's cut.
    let attackers: Vec<Vec<usize>> = (0..n)
        .map(|j| {
            (0..n)
                .filter(|&i| {
                    records[i].target == records[j].by && !kept[i].contains(&records[j].change)
                })
                .collect()
        })
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum S {
        Open,
        In,
        Out,
    }
    let mut state = vec![S::Open; n];
    let rank = |r: &RevocationRec| {
        let founder = r.by != *commune;
        let number = roster.member(&r.by).map(|m| m.number).unwrap_or(u32::MAX);
        (founder, number, r.by, r.change)
    };
    loop {
        let mut changed = false;
        for j in 0..n {
            if state[j] != S::Open {
                continue;
            }
            if attackers[j].iter().all(|&i| state[i] == S::Out) {
                state[j] = S::In;
                changed = true;
            } else if attackers[j].iter().any(|&i| state[i] == S::In) {
                state[j] = S::Out;
                changed = true;
            }
        }
        if changed {
            continue;
        }
        let pick = (0..n)
            .filter(|&j| state[j] == S::Open)
            .min_by_key(|&j| rank(&records[j]));
        match pick {
            Some(j) => state[j] = S::In,
            None => break,
        }
    }
    (0..n)
        .filter(|&j| state[j] == S::In)
        .map(|j| records[j].clone())
        .collect()
}
