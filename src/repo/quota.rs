//! Keeps each counted creation on its effective day (`verdict::quota`) as the set
//! grows, and sends every document whose creation a move pushed past the daily
//! quota — or back under it — to be judged again.
//!
//! Creations enter the ranking on the day they claim (`record`); `place_new` moves
//! an import's new creations to the day their line gives, reading each author's line
//! once per import. What is not a plain append — a change that fills a gap or forks
//! a line, evidence stored in the same import, a creation that leaves the ranking,
//! evidence that enters or leaves the log with something after it (`quota_dirty`),
//! an official's newer day that moves the horizon — leaves its author to `finish`,
//! which settles it whole (`settle`) and re-judges the documents whose held verdict
//! no longer matches the ranking, until no author is left. Re-judging moves changes
//! between the log and quarantine only, and a line is read from the links of
//! changes held either way, so this ends.

use super::*;
use crate::model::signed::guard;
use crate::verdict::quota::{self as vq, ChainNode};
use crate::verdict::roster::Hash;

/// What an import read of one author's lines (`place_new`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Lines {
    /// The horizon it was read under.
    horizon: Option<i64>,
    /// At each chain link held, the newest evidence day on its line up to it.
    lines: BTreeMap<Hash, i64>,
    /// The newest evidence day on the rooted lines (what a line after a gap counts
    /// on at least).
    rooted_max: i64,
}

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
        // A later kind's changes are outside the key's line here (their days would
        // move the horizon here and not on the version before, which never holds
        // them), and outside revocation cuts too (`store::verdicts::links_of`).
        Kind::Other => LATER,
        Kind::Request => LINK_ONLY,
        _ => EVIDENCE,
    }
}

pub(super) const LINK_ONLY: i64 = 0;
pub(super) const EVIDENCE: i64 = 1;
pub(super) const OUTSIDE: i64 = 2;
/// A later kind's link (`Kind::Other`): outside the line, like `OUTSIDE`, and left
/// out of the chain a revocation cut is read through (the store knows this value).
pub(super) const LATER: i64 = 3;

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

/// Moves `author`'s creations to their effective days, from its changes held.
/// Returns the days whose ranking changed.
pub(super) fn settle(db: Db<'_>, author: &NodeId, horizon: Option<i64>) -> Result<BTreeSet<i64>> {
    let mut nodes: BTreeMap<Hash, ChainNode> = BTreeMap::new();
    let mut before = BTreeMap::new();
    for (n, day) in db.quota_rows(author)? {
        if let Some(d) = day {
            before.insert(n.hash, d);
        }
        nodes.insert(n.hash, n);
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

/// Places the creations `new` of `author` that this part of an import brings on
/// their effective days, reading the line before each from what this import already
/// read of `author`'s line (loaded once per import) and the part's own changes.
/// Returns the days they count on. An append moves no other creation; anything
/// else — a change that fills a gap, a change whose day is evidence on a line a new
/// creation extends (stored valid or not only once judged) — leaves `author` to be
/// settled whole at the end of the import (`finish`).
pub(super) fn place_new(
    db: Db<'_>,
    author: &NodeId,
    batch: &[&VerifiedChange],
    new: &[&VerifiedChange],
    horizon: Option<i64>,
    report: &mut ImportReport,
) -> Result<BTreeSet<i64>> {
    let cached = report
        .quota_lines
        .get(author)
        .is_some_and(|l| l.horizon == horizon);
    if !cached {
        let nodes: Vec<ChainNode> = db.quota_rows(author)?.into_iter().map(|(n, _)| n).collect();
        let d = vq::effective_days(&nodes, horizon);
        if d.orphans {
            // A line after a gap counts after the rooted lines, which this import
            // may move: settled whole at its end.
            report.quota_authors.insert(*author);
        }
        let chained: BTreeSet<Hash> = nodes.iter().filter(|n| n.chained).map(|n| n.hash).collect();
        report.quota_lines.insert(
            *author,
            Lines {
                horizon,
                lines: d
                    .lines
                    .into_iter()
                    .filter(|(h, _)| chained.contains(h))
                    .collect(),
                rooted_max: d.rooted_max,
            },
        );
    }
    let new_hashes: BTreeSet<Hash> = new.iter().map(|c| c.hash.0).collect();
    // This part's changes by `author`, by hash: its link (`None` inside: made before
    // chains) and own day.
    let mut mine: BTreeMap<Hash, (Option<Option<Hash>>, i64)> = BTreeMap::new();
    let mut settle_whole = false;
    for c in batch.iter().filter(|c| c.author == *author) {
        let creation = new_hashes
            .contains(&c.hash.0)
            .then(|| verdict::doc::day_of(c));
        let Some(chain) = &c.chain else {
            // Made before chains: a line start if it is a creation, nothing else.
            if creation.is_some() {
                mine.insert(c.hash.0, (None, vq::own_day(None, creation, horizon)));
            }
            continue;
        };
        if link_kind(&c.signed.doc) >= OUTSIDE {
            continue;
        }
        let evidence = (link_kind(&c.signed.doc) == EVIDENCE).then(|| verdict::doc::day_of(c));
        // Its day counts only once it is stored valid; see `moves_more_than_its_end`.
        settle_whole |= evidence.is_some() || moves_more_than_its_end(db, c, batch)?;
        mine.insert(
            c.hash.0,
            (Some(chain.prev), vq::own_day(evidence, creation, horizon)),
        );
    }
    let cache = report.quota_lines.get_mut(author).expect("loaded above");
    // The line through each of this part's changes, each previous one first
    // (iteratively: a part can be one long line), and the line before it.
    let mut line_at: BTreeMap<Hash, i64> = BTreeMap::new();
    let mut before_of: BTreeMap<Hash, Option<i64>> = BTreeMap::new();
    for &start in mine.keys() {
        let mut path = vec![start];
        while let Some(&top) = path.last() {
            if line_at.contains_key(&top) {
                path.pop();
                continue;
            }
            let (link, own) = mine[&top];
            let prev = link.flatten();
            if let Some(p) = prev
                && mine.get(&p).is_some_and(|(l, _)| l.is_some())
                && !line_at.contains_key(&p)
                && !path.contains(&p)
            {
                path.push(p);
                continue;
            }
            let before = match (link, prev) {
                // Made before chains, or a first change: a line start.
                (None, _) | (Some(None), _) => None,
                (Some(Some(_)), Some(p)) => match line_at.get(&p).or_else(|| cache.lines.get(&p)) {
                    Some(l) => Some(*l),
                    None => {
                        // After a gap: no earlier than the rooted lines.
                        settle_whole = true;
                        Some(cache.rooted_max)
                    }
                },
                (Some(Some(_)), None) => None,
            };
            before_of.insert(top, before);
            line_at.insert(top, before.unwrap_or(i64::MIN).max(own));
            path.pop();
        }
    }
    for (h, (link, _)) in &mine {
        if link.is_some() {
            cache.lines.insert(*h, line_at[h]);
        }
    }
    if settle_whole {
        report.quota_authors.insert(*author);
    }
    let mut days = BTreeSet::new();
    for c in new {
        let before = before_of.get(&c.hash.0).copied().flatten();
        let day = vq::day_after(verdict::doc::day_of(c), before, horizon);
        if db.creation_day(&c.hash.0)? != Some(day) {
            db.set_creation_day(&c.hash.0, day)?;
        }
        days.insert(day);
    }
    Ok(days)
}

/// Does `c`, arriving with `batch`, move more of its author's line than its own end
/// — so that the author is settled whole at the end of the import? It fills a gap (a
/// held link names it), forks the line (another change, held or in `batch`, names
/// the same previous one; flagged by the settle) or is a first change (perhaps a
/// second one). A change made before chains is on no line.
pub(super) fn moves_more_than_its_end(
    db: Db<'_>,
    c: &VerifiedChange,
    batch: &[&VerifiedChange],
) -> Result<bool> {
    let Some(chain) = &c.chain else {
        return Ok(false);
    };
    let forks = match chain.prev {
        Some(p) => {
            db.has_other_successor(&p, &c.hash.0)?
                || batch.iter().any(|o| {
                    o.author == c.author
                        && o.hash != c.hash
                        && o.chain.is_some_and(|m| m.prev == Some(p))
                })
        }
        None => true,
    };
    Ok(forks || db.is_named_as_prev(&c.hash.0)?)
}

/// At the end of an import (or a local edit): settles what it left to settle.
pub(super) fn finish(
    db: Db<'_>,
    commune: &NodeId,
    me: &NodeId,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<()> {
    report.quota_lines.clear();
    let mut touched = std::mem::take(&mut report.quota_authors);
    touched.extend(db.take_quota_dirty()?);
    let outcome = roster_outcome(db, commune)?;
    resettle(db, &outcome, me, touched, via, report, now)
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
            let days = settle(db, a, h)?;
            if !days.is_empty() {
                docs.extend(misjudged(db, outcome, a, &days)?);
            }
        }
        for d in docs {
            reevaluate(db, outcome, me, &d, Vec::new(), via, report, now)?;
        }
        authors = std::mem::take(&mut report.quota_authors);
        authors.extend(db.take_quota_dirty()?);
        if authors.is_empty() {
            return Ok(());
        }
    }
    // Left for the next import to settle; a verdict is never left half-judged.
    tracing::warn!(
        authors = authors.len(),
        "quota ranking still moving after {RESETTLE_ROUNDS} rounds"
    );
    for a in &authors {
        db.note_quota_dirty(a)?;
    }
    Ok(())
}

/// Rounds of `resettle` in one import (one in practice: a second finds nothing to
/// move).
const RESETTLE_ROUNDS: usize = 8;

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
                _ if r.signed.doc.kind() == Kind::Other => (0, LATER),
                _ => (0, LINK_ONLY),
            };
            db.set_link_day(&r.hash, day, evidence)?;
            n += 1;
        }
    }
}
