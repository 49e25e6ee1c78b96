//! Keeps each counted creation on its effective day (`verdict::quota`) as the set
//! grows, and sends every document whose creation a move pushed past the daily
//! quota — or back under it — to be judged again.
//!
//! Creations enter the ranking on the day they claim (`record`), then `settle` moves
//! each of an author's creations to the day its line gives. What arrives can move
//! creations it is not: a change that fills a gap in a line, a creation that leaves
//! the ranking (revoked, a lost twin), an official's newer day that moves the horizon.
//! So after every import `resettle` settles the authors touched and re-judges the
//! documents whose held verdict no longer matches the ranking, until no author is
//! left to settle. Re-judging moves changes between the log and quarantine only, and
//! a line is read from the links of changes held either way, so this ends.

use super::*;
use crate::model::signed::guard;
use crate::verdict::quota::{self as vq, ChainNode};
use crate::verdict::roster::Hash;

/// Store metadata: the horizon the ranking was last settled under.
const META_HORIZON: &str = "quota_horizon";

/// What a change's chain link is to the quota (`links.evidence`): a receipt's is
/// outside the key's line (receipts form chains of their own, `OUTSIDE`); a request
/// edit's is a link with no evidence (void when its creation is: evidence that moved
/// with the verdict it decides could oscillate, `LINK_ONLY`); any other change's day
/// is evidence (`EVIDENCE`). A creation is evidence as a creation (`record`).
pub(super) fn link_kind(doc: &DocId) -> i64 {
    match doc.kind() {
        Kind::Receipt => OUTSIDE,
        Kind::Request => LINK_ONLY,
        _ => EVIDENCE,
    }
}

pub(super) const LINK_ONLY: i64 = 0;
pub(super) const EVIDENCE: i64 = 1;
pub(super) const OUTSIDE: i64 = 2;

/// The last day whose evidence counts: the officials' newest evidence day plus
/// `HORIZON_DAYS` (`None`: no official evidence held, forward dating unbounded).
pub(super) fn horizon(db: Db<'_>, outcome: &RosterOutcome) -> Result<Option<i64>> {
    let mut newest = None;
    for m in outcome.roster.officials() {
        newest = newest.max(db.newest_evidence_day(&m.node)?);
    }
    Ok(newest.map(|d: i64| d.saturating_add(vq::HORIZON_DAYS)))
}

/// Enters a creation that counts into the ranking on the day it claims; returns
/// whether it was new there (then its author needs `settle`).
pub(super) fn record(db: Db<'_>, c: &VerifiedChange) -> Result<bool> {
    db.record_creation(
        &c.hash.0,
        &c.author,
        verdict::doc::day_of(c),
        c.change.timestamp(),
        &c.signed.doc,
    )
}

/// Moves `author`'s creations to their effective days. `batch`: changes being judged
/// and not stored yet, whose chain links count as held. Returns the days whose
/// ranking changed.
pub(super) fn settle(
    db: Db<'_>,
    author: &NodeId,
    batch: &[&VerifiedChange],
    horizon: Option<i64>,
) -> Result<BTreeSet<i64>> {
    let mut nodes: BTreeMap<Hash, ChainNode> = BTreeMap::new();
    let mut before = BTreeMap::new();
    for (n, day) in db.quota_rows(author)? {
        if let Some(d) = day {
            before.insert(n.hash, d);
        }
        nodes.insert(n.hash, n);
    }
    for c in batch.iter().filter(|c| c.author == *author) {
        if let Some(chain) = &c.chain {
            nodes
                .entry(c.hash.0)
                .or_insert_with(|| ChainNode {
                    hash: c.hash.0,
                    prev: None,
                    evidence: None,
                    creation: None,
                })
                .prev = chain.prev;
        }
    }
    let nodes: Vec<ChainNode> = nodes.into_values().collect();
    let after = vq::effective_days(&nodes, horizon);
    for (h, d) in &after.days {
        if before.get(h) != Some(d) {
            db.set_creation_day(h, *d)?;
        }
    }
    // Two changes after one: the key signed two histories. Which is honest, the set
    // cannot tell (`verdict::quota`); an official can, and revoke the key.
    if let Some(f) = after.forks.first() {
        let doc = db
            .held_doc(f)?
            .and_then(|d| d.parse::<DocId>().ok())
            .unwrap_or_else(|| DocId::health(author));
        db.flag_equivocator(author, &doc, text::now())?;
    }
    Ok(vq::moved_days(&before, &after.days))
}

/// `author`'s creations on `days` ranked past the quota (none for an official).
pub(super) fn over_on(
    db: Db<'_>,
    outcome: &RosterOutcome,
    author: &NodeId,
    days: &BTreeSet<i64>,
) -> Result<BTreeSet<Hash>> {
    let mut over = BTreeSet::new();
    if outcome.roster.active_role(author) != Some(Role::Official) {
        for d in days {
            over.extend(db.over_quota(author, *d, verdict::doc::DAILY_REQUEST_QUOTA)?);
        }
    }
    Ok(over)
}

/// Documents of `author`'s creations on `days` whose held verdict disagrees with the
/// ranking: valid but past the quota, or set aside but within it.
pub(super) fn misjudged(
    db: Db<'_>,
    outcome: &RosterOutcome,
    author: &NodeId,
    days: &BTreeSet<i64>,
) -> Result<BTreeSet<DocId>> {
    let over = over_on(db, outcome, author, days)?;
    let mut docs = BTreeSet::new();
    for d in days {
        for (h, doc) in db.creations_in(author, *d)? {
            let wrong = if over.contains(&h) {
                db.has_change(&h)?
            } else {
                db.in_quarantine(&h)?
            };
            if wrong {
                docs.insert(doc);
            }
        }
    }
    Ok(docs)
}

/// After an import: settles the authors it touched (every author with a creation
/// when the horizon moved) and judges again each document the ranking moved.
#[allow(clippy::too_many_arguments)]
pub(super) fn resettle(
    db: Db<'_>,
    outcome: &RosterOutcome,
    me: &NodeId,
    touched: BTreeSet<NodeId>,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<()> {
    let h = horizon(db, outcome)?;
    let key = h.map(|d| d.to_string()).unwrap_or_default();
    let mut authors: BTreeSet<NodeId> = if db.meta(META_HORIZON)?.as_deref() != Some(key.as_str()) {
        db.set_meta(META_HORIZON, &key)?;
        db.authors_with_creations()?.into_iter().collect()
    } else {
        touched
    };
    // Each round re-judges what the last moved; a re-judged request can take a
    // creation out of the ranking (a lost twin), which moves its author's again.
    for _ in 0..RESETTLE_ROUNDS {
        let mut docs = BTreeSet::new();
        for a in &authors {
            // Officials are not limited: nothing to rank.
            if outcome.roster.active_role(a) == Some(Role::Official) || !db.has_creations(a)? {
                continue;
            }
            let days = settle(db, a, &[], h)?;
            if !days.is_empty() {
                docs.extend(misjudged(db, outcome, a, &days)?);
            }
        }
        for d in docs {
            reevaluate(db, outcome, me, &d, Vec::new(), via, report, now)?;
        }
        authors = std::mem::take(&mut report.quota_authors);
        if authors.is_empty() {
            break;
        }
    }
    Ok(())
}

/// Rounds of `resettle` at most (one in practice: a second finds nothing to move).
const RESETTLE_ROUNDS: usize = 4;

/// Fills the day of chain links written before days were kept (first open after
/// the upgrade to schema 10), from the changes' own bytes.
pub(super) fn fill_link_days(db: Db<'_>) -> Result<usize> {
    let mut n = 0;
    loop {
        let rows = db.links_without_day(1_000)?;
        if rows.is_empty() {
            return Ok(n);
        }
        for r in rows {
            // Its day from its own bytes (decoded under the same guard as on arrival;
            // the signature was checked when it came). Unreadable now: structure
            // only, never evidence.
            let bytes = r.signed.bytes.clone();
            let (day, evidence) = match guard(move || automerge::Change::from_bytes(bytes)) {
                Ok(Ok(c)) => (c.timestamp().div_euclid(86_400), link_kind(&r.signed.doc)),
                _ => (0, LINK_ONLY),
            };
            db.set_link_day(&r.hash, day, evidence)?;
            n += 1;
        }
    }
}
