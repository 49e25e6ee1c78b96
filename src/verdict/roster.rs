//! The roster's verdict: which roster changes are valid, who is a member with which
//! role, and which revocations are in force — as a deterministic function of the SET of
//! roster changes held (plus the author chains, for revocation cuts). Two honest nodes
//! holding the same changes compute the same outcome, whatever order they came in.
//!
//! Why a set function and not "the roster now": revocation is not monotone in causal
//! order — a revocation can arrive after the revoked key's later changes, two officials
//! can revoke the same key with different cuts, or revoke each other. The semantics
//! (ARCHITECTURE.md, "The roster as a function of its changes") is four steps; only an
//! equivocation loser found in step 4 sends steps 2–4 round again, and losers only
//! accumulate — so there is no round cap and nothing to oscillate (issue 21, fault 3:
//! a cycle of three revocations flipped with period 3):
//!
//! 1. **Structure.** Walk the changes in one deterministic topological order (ready
//!    changes by hash) and judge each against the roster *at its own dependencies*: the
//!    founder starts it; after that only officials write it; nobody changes an enrolled
//!    member's role or removes a member; revocation records are append-only, name their
//!    author, never target the founder. A change that breaks a rule is hostile; one
//!    built on a void change is void. Its verdict depends on its causal past alone.
//! 2. **Revocations.** Record `i` attacks record `j` when `j` or anything in its causal
//!    past was signed by `i`'s target outside `i`'s cut. Grounded semantics decides what
//!    causality decides; a cycle left open is broken by precedence — the founder, then
//!    the line of enrolments (`Ranks`), then the key — whose choice stands and whose
//!    attackers and victims fall. What the founder built on is kept under every
//!    revocation, so the founder's records have no attacker and always stand.
//! 3. **Cuts.** A change signed by a revoked node outside the cut of a standing
//!    revocation (intersection: the earliest cut wins) is void, and so is every roster
//!    change built on it: an official enrolled by a revoked one after its cut is no
//!    member.
//! 4. **Twins.** Two remaining changes with one actor and sequence number: the one the
//!    founder built on wins, else the one a standing revocation of their author was
//!    built on, else the smaller hash; the
//!    loser and what builds on it are void and the author is flagged; if that voids a
//!    revocation, steps 2–4 run again with the losers kept void. So a revoked key
//!    cannot void its revocation by signing a twin of something in its cut (issue 21,
//!    fault 2): that twin lies outside the cut and is void in step 3, and a revocation
//!    is judged without anything its target signed outside it. Honest roster work lost
//!    to a twin of an unrevoked key is re-issued by its author, like document edits.
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
    /// Keys that signed two roster changes with one actor and sequence number (a key
    /// in hostile hands, or a cloned device): an official should revoke them.
    pub equivocators: BTreeSet<NodeId>,
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
///
/// (See the module header.) (1) structural validity, each change judged at its own
/// dependencies, once; (2) the revocation records resolved once over a fixed attack
/// relation; (3) what standing revocations void; (4) equivocation among what is left.
/// Steps 2–4 run again only when step 4 finds a new equivocation loser, and losers
/// only accumulate: at most one more round per twin, never a flip back, so there is
/// nothing to oscillate (issue 21, fault 3).
pub fn evaluate(
    commune: &NodeId,
    changes: &[VerifiedChange],
    chains: &impl Chains,
) -> RosterOutcome {
    let by_hash: BTreeMap<Hash, &VerifiedChange> = changes.iter().map(|c| (c.hash.0, c)).collect();
    let topo: Vec<Hash> =
        super::Topo::new(by_hash.iter().map(|(h, c)| (*h, c.change.deps()))).collect();
    // (1)
    let walk = walk(commune, &by_hash, &topo);
    // What the founder built on is the commune's own view: kept under every
    // revocation and preferred among twins, so the founder's acts stand whatever else
    // is held (a concurrent revocation with an older cut, an accomplice's
    // self-revocation, a twin of what the founder built on).
    let mut endorsed: BTreeSet<Hash> = BTreeSet::new();
    for h in &topo {
        if by_hash[h].author == *commune && !walk.void.contains_key(h) && !endorsed.contains(h) {
            endorsed.extend(causal_past(*h, &by_hash));
        }
    }
    // A target's chain is read once per evaluation, each record's kept set computed
    // once, and each record change's causal past once.
    let mut links: BTreeMap<NodeId, Vec<(Hash, Option<Hash>)>> = BTreeMap::new();
    let mut pasts: BTreeMap<Hash, BTreeSet<Hash>> = BTreeMap::new();
    let mut kept_of: BTreeMap<(Hash, String), BTreeSet<Hash>> = BTreeMap::new();
    let ranks = Ranks::new(commune, &walk.roster);
    // Steps 2–4 run again only when step 4 finds a new equivocation loser: losers
    // accumulate (one is never revived), so this ends after at most one round per
    // twin, and the outcome is still one function of the set — nothing decided in a
    // round is undone by a later one except through a new loser.
    let mut losers: BTreeSet<Hash> = BTreeSet::new();
    let mut equivocators = BTreeSet::new();
    let (void, valid, standing) = loop {
        let mut void = walk.void.clone();
        // Losers and what builds on them, before anything else: a revocation built on a
        // losing twin is no revocation.
        let mut lost: BTreeSet<Hash> = BTreeSet::new();
        for h in &topo {
            let c = by_hash[h];
            if losers.contains(h) {
                void.insert(*h, (super::doc::EQUIVOCATION_LOSER.into(), false));
                lost.insert(*h);
            } else if c.change.deps().iter().any(|d| lost.contains(&d.0)) && !void.contains_key(h) {
                void.insert(*h, (DEPENDS_ON_VOID.into(), false));
                lost.insert(*h);
            }
        }
        // (2) One record per official and target is read: of an official's records
        // revoking one node, the one with the smallest (change, id). Each record read
        // costs a walk of its target's chain (100,000 changes on a busy kiosk); without
        // this, one change of 250 records of one kiosk cost 250 walks (16.6 s), and
        // concurrent changes on fresh actors of one key could multiply them at will.
        // So the chains walked per evaluation are bounded by officials × targets, not
        // by records written. The others stay valid roster changes; they say nothing
        // about that node an official's first record does not.
        // A record counts only where its author may revoke its target in the roster
        // as read from the whole set (`may_revoke`), not only at the record's own
        // dependencies, which its writer picks: a junior official that enrols a
        // senior one on a roster from before the senior's real enrolment, and
        // revokes it there, passes the check at those dependencies, but the
        // senior's entry read is its real enrolment (by writer rank), and the
        // record says nothing (issue 21 review).
        let mut firsts: BTreeMap<(NodeId, NodeId), &RevocationRec> = BTreeMap::new();
        for r in walk
            .records
            .iter()
            .filter(|r| !lost.contains(&r.change))
            .filter(|r| may_revoke(commune, &walk.roster, &r.by, &r.target))
        {
            let e = firsts.entry((r.by, r.target)).or_insert(r);
            if (r.change, &r.id) < (e.change, &e.id) {
                *e = r;
            }
        }
        let records: Vec<RevocationRec> = firsts.into_values().cloned().collect();
        for r in &records {
            if kept_of.contains_key(&rec_key(r)) {
                continue;
            }
            let l = links
                .entry(r.target)
                .or_insert_with(|| chains.links(&r.target));
            let past = pasts
                .entry(r.change)
                .or_insert_with(|| causal_past(r.change, &by_hash));
            let k = kept_by(r, &by_hash, past, l, &endorsed);
            kept_of.insert(rec_key(r), k);
        }
        let standing = resolve(&records, &ranks, &by_hash, &pasts, &kept_of);
        // (3) A change by a revoked node outside the cut, and what builds on it.
        let kept = kept_sets(&standing, &kept_of);
        let mut valid: BTreeSet<Hash> = BTreeSet::new();
        for h in &topo {
            if void.contains_key(h) {
                continue;
            }
            let c = by_hash[h];
            if c.change.deps().iter().any(|d| !valid.contains(&d.0)) {
                void.insert(*h, (DEPENDS_ON_VOID.into(), false));
            } else if kept.get(&c.author).is_some_and(|k| !k.contains(h)) {
                void.insert(
                    *h,
                    (Rejection::Revoked(c.author.short()).to_string(), false),
                );
            } else {
                valid.insert(*h);
            }
        }
        // (4) Twins (one actor, one sequence number, two changes) among what is left.
        // The twin a standing revocation of its author was built on wins (the
        // best-ranked such revocation), so a key cannot void the revocation of itself
        // by signing a twin of something in its cut (issue 21, fault 2); otherwise
        // the smaller hash wins, as in documents. The author is flagged.
        let mut groups: BTreeMap<(Vec<u8>, u64), Vec<Hash>> = BTreeMap::new();
        for h in &valid {
            let c = by_hash[h];
            groups
                .entry((c.change.actor_id().to_bytes().to_vec(), c.change.seq()))
                .or_default()
                .push(*h);
        }
        let mut new_losers = Vec::new();
        for twins in groups.values().filter(|g| g.len() > 1) {
            let author = by_hash[&twins[0]].author;
            equivocators.insert(author);
            let mut revs: Vec<&RevocationRec> =
                standing.iter().filter(|r| r.target == author).collect();
            revs.sort_by_key(|r| ranks.of(r));
            let witnessed = revs.iter().find_map(|r| {
                let past = causal_past(r.change, &by_hash);
                twins.iter().find(|t| past.contains(*t)).copied()
            });
            let founders = twins.iter().find(|t| endorsed.contains(*t)).copied();
            let winner = founders
                .or(witnessed)
                .unwrap_or_else(|| *twins.iter().min().expect("two or more"));
            new_losers.extend(twins.iter().filter(|t| **t != winner).copied());
        }
        if new_losers.is_empty() {
            break (void, valid, standing);
        }
        losers.extend(new_losers);
    };
    // The outcome, from the valid changes only.
    let order: Vec<Hash> = topo
        .iter()
        .filter(|h| valid.contains(*h))
        .copied()
        .collect();
    let mut doc = Automerge::new();
    let _ = crate::model::signed::guard(|| {
        doc.apply_changes(order.iter().map(|h| by_hash[h].change.clone()))
    });
    let mut roster = read_roster(&doc);
    debug_assert!(standing.iter().all(|r| valid.contains(&r.change)));
    let kept = kept_sets(&standing, &kept_of);
    for m in roster.members.values_mut() {
        m.revoked = None;
    }
    let mut by_rank = standing.clone();
    by_rank.sort_by_key(|r| ranks.of(r));
    for r in &by_rank {
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
    let mut last = RosterOutcome {
        order,
        void,
        roster,
        kept,
        standing,
        named: BTreeSet::new(),
        equivocators,
    };
    last.named = enrolled_from_founder(commune, changes, &last);
    last
}

/// Precedence between revocation records, where causality leaves a cycle open: the
/// founder's first, then by the author's place in the line of enrolments — the
/// numbers along the path from the founder to it, compared in order, so a member
/// ranks below whoever enrolled it and the number an official writes orders only its
/// own enrolees (a revoked official cannot enrol a puppet "number 0" that outranks
/// its revoker) — then the key, then the change.
struct Ranks {
    commune: NodeId,
    paths: BTreeMap<NodeId, Vec<u32>>,
}

impl Ranks {
    fn new(commune: &NodeId, roster: &Roster) -> Ranks {
        let paths = roster
            .members
            .keys()
            .map(|id| (*id, roster.line(commune, id)))
            .collect();
        Ranks {
            commune: *commune,
            paths,
        }
    }

    fn of(&self, r: &RevocationRec) -> (bool, Vec<u32>, NodeId, Hash) {
        let path = self
            .paths
            .get(&r.by)
            .cloned()
            .unwrap_or_else(|| vec![u32::MAX]);
        (r.by != self.commune, path, r.by, r.change)
    }
}

/// May `author` (an official) revoke `target`? Any official may revoke a kiosk or a
/// courier, and itself; an official is revoked only by the founder or by an official
/// ranked above it in the line of enrolments (then by key). So revocations between
/// officials run one way down a total order: no two officials can revoke each other,
/// a revoked official can never revoke whoever revoked it (its counter-revocation,
/// however it is dated, is refused: issue 21, a revoked senior undoing its revocation
/// by backdating one), and no cycle of revocations can form.
pub fn may_revoke(commune: &NodeId, roster: &Roster, author: &NodeId, target: &NodeId) -> bool {
    if author == commune || author == target {
        return true;
    }
    match roster.member(target) {
        Some(m) if m.role == crate::model::Role::Official => {
            (roster.line(commune, author), author) < (roster.line(commune, target), target)
        }
        _ => true,
    }
}

/// A record's identity: its change and its id (one change may write several).
fn rec_key(r: &RevocationRec) -> (Hash, String) {
    (r.change, r.id.clone())
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
    void: BTreeMap<Hash, (String, bool)>,
    /// The roster of every structurally valid change (before revocations): what
    /// precedence reads enrolment numbers from.
    roster: Roster,
    records: Vec<RevocationRec>,
}

/// Structural validity, in one deterministic topological order: each change judged
/// against the roster *at its own dependencies* (what its author saw), so its verdict
/// depends on its causal past alone, never on a concurrent change or on a twin.
fn walk(commune: &NodeId, by_hash: &BTreeMap<Hash, &VerifiedChange>, topo: &[Hash]) -> Walk {
    // `main` holds the valid changes that apply together; a twin (or what builds on
    // one) cannot join it and is judged on a document of its own causal past.
    let mut main = Automerge::new();
    let mut in_main: Vec<Hash> = Vec::new();
    let mut valid: BTreeSet<Hash> = BTreeSet::new();
    let mut void: BTreeMap<Hash, (String, bool)> = BTreeMap::new();
    let mut records: Vec<RevocationRec> = Vec::new();
    // The document the last change judged off `main` left, by its heads.
    let mut side: Option<(Vec<ChangeHash>, Automerge)> = None;
    for h in topo {
        let c = by_hash[h];
        let deps = c.change.deps();
        if deps.iter().any(|d| !valid.contains(&d.0)) {
            void.insert(*h, (DEPENDS_ON_VOID.into(), false));
            continue;
        }
        let mut heads = main.get_heads();
        heads.sort();
        let mut sorted_deps = deps.to_vec();
        sorted_deps.sort();
        let verdict = if heads == sorted_deps {
            // The common case (a roster written one change after another): no copy.
            let v = judge(commune, &mut main, c, &mut records);
            if v.is_ok() {
                in_main.push(*h);
            } else {
                // Refused before it was applied (`main` unchanged) or after: only in
                // the second case is `main` rebuilt, and never with the refused change.
                let mut now = main.get_heads();
                now.sort();
                if now != heads {
                    let mut d = Automerge::new();
                    let _ = crate::model::signed::guard(|| {
                        d.apply_changes(in_main.iter().map(|h| by_hash[h].change.clone()))
                    });
                    main = d;
                }
            }
            v
        } else {
            // A change built on the one judged off `main` just before (a chain on a
            // twin) continues that document rather than rebuilding it from its whole
            // causal past: without this a chain of n changes on a twin cost O(n²)
            // change applications (issue 21, P4).
            let reuse = side.take().filter(|(h, _)| *h == sorted_deps);
            let mut probe = if let Some((_, d)) = reuse {
                d
            } else if deps
                .iter()
                .all(|d| main.get_change_meta_by_hash(d).is_some())
            {
                main.fork_at(deps).unwrap_or_default()
            } else {
                let past = causal_past(*h, by_hash);
                let mut d = Automerge::new();
                let _ = crate::model::signed::guard(|| {
                    d.apply_changes(
                        topo.iter()
                            .filter(|x| *x != h && past.contains(*x) && valid.contains(*x))
                            .map(|x| by_hash[x].change.clone()),
                    )
                });
                d
            };
            let v = judge(commune, &mut probe, c, &mut records);
            if v.is_ok() {
                let change = c.change.clone();
                if let Ok(Ok(())) = crate::model::signed::guard(|| main.apply_changes([change])) {
                    in_main.push(*h);
                }
                let mut after = probe.get_heads();
                after.sort();
                side = Some((after, probe));
            }
            v
        };
        match verdict {
            Ok(()) => {
                valid.insert(*h);
            }
            Err(e) => {
                void.insert(*h, e);
            }
        }
    }
    let mut roster = read_roster(&main);
    for m in roster.members.values_mut() {
        m.revoked = None;
    }
    Walk {
        void,
        roster,
        records,
    }
}

/// Judges one roster change against `doc` (the roster at its dependencies), applying
/// it when valid; `doc` is left unusable when it is not (the caller rebuilds). New
/// revocation records it writes are appended to `records`.
fn judge(
    commune: &NodeId,
    doc: &mut Automerge,
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
    match crate::model::signed::guard(|| doc.apply_changes([change])) {
        Ok(Ok(())) => {}
        _ => return Err(("change does not apply to the roster".into(), true)),
    }
    let after = read_roster(&*doc);
    let after_revs = read_raw_revocations(&*doc);
    super::rules::check_roster_diff(
        commune,
        &c.author,
        &before,
        &after,
        &before_revs,
        &after_revs,
    )
    .map_err(|e| (e.to_string(), true))?;
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

/// What revocation `r` keeps of its target's changes: what its cut reaches through
/// the target's chain links, the target's roster changes in its causal past, and
/// whatever the founder built on (`endorsed`).
fn kept_by(
    r: &RevocationRec,
    by_hash: &BTreeMap<Hash, &VerifiedChange>,
    past: &BTreeSet<Hash>,
    links: &[(Hash, Option<Hash>)],
    endorsed: &BTreeSet<Hash>,
) -> BTreeSet<Hash> {
    let mut kept = reachable(&r.cut, links);
    for h in past.iter().chain(endorsed.iter()).copied() {
        if by_hash.get(&h).is_some_and(|c| c.author == r.target) {
            kept.insert(h);
        }
    }
    kept
}

fn kept_sets(
    standing: &[RevocationRec],
    kept_of: &BTreeMap<(Hash, String), BTreeSet<Hash>>,
) -> BTreeMap<NodeId, BTreeSet<Hash>> {
    let mut out: BTreeMap<NodeId, BTreeSet<Hash>> = BTreeMap::new();
    for r in standing {
        let k = kept_of.get(&rec_key(r)).cloned().unwrap_or_default();
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

/// Resolves the revocation records once. Record `i` *attacks* record `j` when `j`
/// rests on something `i`'s target signed outside `i`'s cut: `j` itself or any roster
/// change in its causal past (so a revocation made by a revoked official after its
/// cut falls, and so does one made by a member that official enrolled after it). The
/// attack relation is fixed before anything is decided. Then grounded semantics: a
/// record with no live attacker stands, one attacked by a standing record falls; when
/// only cycles are left open, the open record of highest precedence (`rank`) stands,
/// and every open record it attacks or that attacks it falls. Each step decides one
/// record or more for good, so this ends in at most `records` steps with one outcome.
/// The founder cannot be revoked, so its records have no attacker and always stand.
fn resolve(
    records: &[RevocationRec],
    ranks: &Ranks,
    by_hash: &BTreeMap<Hash, &VerifiedChange>,
    pasts: &BTreeMap<Hash, BTreeSet<Hash>>,
    kept_of: &BTreeMap<(Hash, String), BTreeSet<Hash>>,
) -> Vec<RevocationRec> {
    let n = records.len();
    let empty = BTreeSet::new();
    let kept: Vec<&BTreeSet<Hash>> = records
        .iter()
        .map(|r| kept_of.get(&rec_key(r)).unwrap_or(&empty))
        .collect();
    // For each record, the authors of its causal past and the changes they signed there.
    let past: Vec<Vec<(NodeId, Hash)>> = records
        .iter()
        .map(|r| {
            pasts[&r.change]
                .iter()
                .filter_map(|h| by_hash.get(h).map(|c| (c.author, *h)))
                .collect()
        })
        .collect();
    let attacks = |i: usize, j: usize| {
        past[j]
            .iter()
            .any(|(a, h)| *a == records[i].target && !kept[i].contains(h))
    };
    let attackers: Vec<Vec<usize>> = (0..n)
        .map(|j| (0..n).filter(|&i| i != j && attacks(i, j)).collect())
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum S {
        Open,
        In,
        Out,
    }
    let mut state = vec![S::Open; n];
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
            .min_by_key(|&j| ranks.of(&records[j]));
        let Some(j) = pick else { break };
        state[j] = S::In;
        for k in 0..n {
            if state[k] == S::Open && (attackers[j].contains(&k) || attackers[k].contains(&j)) {
                state[k] = S::Out;
            }
        }
    }
    (0..n)
        .filter(|&j| state[j] == S::In)
        .map(|j| records[j].clone())
        .collect()
}
