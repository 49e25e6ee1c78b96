//! Receipts per period (issue 11, point 6): a node's receipt grows with the notices
//! that are live, not with every notice it ever held.
//!
//! A node writes its receipt entries into `rc-<node>-<period>`, the period being the
//! 30-day epoch of its clock (`model::receipt_period_of`), never older than the newest
//! period it already wrote (a clock set back must not write into a receipt the rule
//! below drops at once). Periods follow the clock's steps, not its value
//! (`model::receipt_writing_period`): a clock that ran ahead and is put right moves
//! the node on by two periods at once, so what it wrote under the wrong clock is
//! superseded then, not years later (issue 21, fault 10). The
//! first change of a new period carries over, with their first-held times and the
//! version held now, the notices still live (not withdrawn, not past `valid_until` by
//! this node's clock) whose newest entry is in a receipt the new period supersedes, so
//! `reach` stays true for a notice pinned all year (an entry in the previous period
//! stays readable, and is carried at the next new period: each live entry is rewritten
//! once every two periods). Everything happens in the import's own transaction.
//!
//! Old periods are dropped by `model::receipt_superseded`, decided by the receipt ids
//! held, never by a clock: a receipt two or more periods older than the owner's
//! newest one is removed from the store (and so from the sync index), and one that
//! arrives is ignored (counted as a duplicate: the set it belongs to no longer has
//! it). The rule commutes with reconciliation, so two nodes where one has pruned and
//! the other has not yet received the newer receipt still end with equal sets.
//! Receipts from before periods (`rc-<node>`) are read and never dropped: their
//! changes sit on their author's chain, which revocation cuts are read through.
//!
//! Periodic receipts are kept off that chain: each change of one names the previous
//! change of the same receipt (the first names nothing), and writing one does not
//! move the node's chain head. Dropping a whole period thus never leaves a gap in
//! the chain through which a node's other changes are reached, on a node that held
//! the receipt or on one that never did; a revocation's cut lists one more head per
//! period receipt its author wrote.
//!
//! Readers (`Repo::receipts`, `Repo::receipt_of`, `reach`, `bundle export --for` and
//! the screens) see one receipt per node merged over its receipts, the newest
//! period's entry winning. They read the entries' rows (`store::receipts`), never the
//! documents; writing this node's entries reads only the rows of the batch's notices,
//! so an import costs O(batch) whatever the receipt's size.
//!
//! A receipt is capped (`model::MAX_RECEIPT_OPS`, `MAX_RECEIPT_CHANGES`, judged in
//! `verdict::rules`): the writer stops noting at the cap until the next period.

use super::*;
use automerge::ReadDoc;

/// One receipt per owner, merged over the receipt documents given: entries of a
/// newer period replace those of an older one (the receipt from before periods is
/// the oldest).
pub(super) fn merge(held: Vec<(DocId, Receipt)>) -> Vec<(NodeId, Receipt)> {
    let mut docs: Vec<(NodeId, Option<u32>, Receipt)> = held
        .into_iter()
        .filter_map(|(id, r)| Some((id.receipt_owner()?, id.receipt_period(), r)))
        .collect();
    docs.sort_by_key(|d| (d.0, d.1));
    let mut out: BTreeMap<NodeId, Receipt> = BTreeMap::new();
    for (owner, _, mut r) in docs {
        let m = out.entry(owner).or_default();
        for (k, at) in r.notices {
            let version = r.versions.remove(&k);
            m.insert_entry(k, (at, version));
        }
    }
    out.into_iter().collect()
}

/// The newest receipt period `owner` has in this store, if any.
fn newest_period(db: Db<'_>, owner: &NodeId) -> Result<Option<u32>> {
    Ok(db
        .receipt_docs_of(owner)?
        .iter()
        .filter_map(|d| d.receipt_period())
        .max())
}

/// Leaves out changes of receipts that the receipts held (or arriving in the same
/// batch) supersede: they would be dropped at once. Counted as duplicates — this
/// node has what they stood for — so a peer that has not pruned yet is not treated
/// as hostile.
pub(super) fn arriving(
    db: Db<'_>,
    verified: Vec<VerifiedChange>,
    report: &mut ImportReport,
) -> Result<Vec<VerifiedChange>> {
    let mut newest: BTreeMap<NodeId, Option<u32>> = BTreeMap::new();
    for v in &verified {
        if let (Some(owner), Some(p)) =
            (v.signed.doc.receipt_owner(), v.signed.doc.receipt_period())
        {
            let held = match newest.get(&owner) {
                Some(n) => *n,
                None => newest_period(db, &owner)?,
            };
            // Only the owner's own signature may name a newer period (nothing is
            // judged yet here): a forgery of `rc-<X>-999999` in a batch must not make
            // X's real receipts in it look superseded.
            let p = (v.author == owner).then_some(p);
            newest.insert(owner, held.max(p));
        }
    }
    if newest.is_empty() {
        return Ok(verified);
    }
    Ok(verified
        .into_iter()
        .filter(|v| {
            let d = &v.signed.doc;
            let dropped = match (d.receipt_owner(), d.receipt_period()) {
                (Some(owner), Some(p)) => newest
                    .get(&owner)
                    .copied()
                    .flatten()
                    .is_some_and(|n| model::receipt_superseded(p, n)),
                _ => false,
            };
            if dropped {
                report.duplicates += 1;
            }
            !dropped
        })
        .collect())
}

/// Drops every receipt of `owner` the rule supersedes. Returns the ids dropped.
fn prune_owner(db: Db<'_>, owner: &NodeId) -> Result<Vec<DocId>> {
    let docs = db.receipt_docs_of(owner)?;
    let Some(newest) = docs.iter().filter_map(|d| d.receipt_period()).max() else {
        return Ok(Vec::new());
    };
    let mut dropped = Vec::new();
    for d in docs {
        if let Some(p) = d.receipt_period()
            && model::receipt_superseded(p, newest)
        {
            let n = db.drop_doc(&d)?;
            tracing::debug!(doc = %d, changes = n, "receipt superseded by a newer period: dropped");
            dropped.push(d);
        }
    }
    Ok(dropped)
}

/// After an import: drops the receipts that the periodic receipts it brought (or
/// released from pending) supersede, in the same transaction.
pub(super) fn prune_after_import(db: Db<'_>, report: &mut ImportReport) -> Result<()> {
    let owners: BTreeSet<NodeId> = report
        .changed
        .iter()
        .filter(|d| d.receipt_period().is_some())
        .filter_map(|d| d.receipt_owner())
        .collect();
    for owner in owners {
        for d in prune_owner(db, &owner)? {
            report.changed.remove(&d);
        }
    }
    Ok(())
}

/// The author-chain link of a change to `id`, when it is not the node's chain: a
/// periodic receipt's change names the previous change of the same receipt (see the
/// module header). `None`: an ordinary change, on the node's chain.
pub(super) fn receipt_link(db: Db<'_>, id: &DocId) -> Result<Option<Option<[u8; 32]>>> {
    if id.receipt_period().is_none() {
        return Ok(None);
    }
    let heads = db.doc_brief(id)?.map(|(_, h)| h).unwrap_or_default();
    // One writer, so one head; a forked receipt (a restored backup) names the
    // largest, which keeps the link deterministic.
    Ok(Some(heads.into_iter().max()))
}

/// Store metadata: this node's clock period and the period it wrote into, at its last
/// receipt write (`model::receipt_writing_period`).
const RECEIPT_ANCHOR: &str = "receipt_anchor";

impl EditCtx {
    /// Records in this node's receipt which version of these notices it now holds,
    /// in the current period's receipt (see the module header).
    pub(super) fn note_receipts_in(&self, db: Db<'_>, notices: &[DocId]) -> Result<ImportReport> {
        if notices.is_empty() || !self.member {
            return Ok(ImportReport::default());
        }
        let now = text::now();
        let docs = db.receipt_docs_of(&self.me)?;
        let newest = docs.iter().filter_map(|d| d.receipt_period()).max();
        let clock = model::receipt_period_of(now);
        let anchor = db.meta(RECEIPT_ANCHOR)?.and_then(|v| {
            let (c, w) = v.split_once(',')?;
            Some((c.parse().ok()?, w.parse().ok()?))
        });
        let period = model::receipt_writing_period(clock, newest, anchor);
        let rid = DocId::receipt_in(&self.me, period);
        let fresh = !docs.contains(&rid);
        // The entries of these notices only — O(batch) whatever the receipt's size —
        // except at a new period, whose carry-over reads them all (once a period).
        let held = db.receipt_entries_of(&self.me, (!fresh).then_some(notices))?;
        // Which period each notice's newest entry is in (`None`: the receipt from
        // before periods).
        let mut newest_in: BTreeMap<String, Option<u32>> = BTreeMap::new();
        let mut by_period: Vec<(Option<u32>, &Receipt)> =
            held.iter().map(|(d, r)| (d.receipt_period(), r)).collect();
        by_period.sort_by_key(|(p, _)| *p);
        for (p, r) in &by_period {
            for k in r.notices.keys() {
                newest_in.insert(k.clone(), *p);
            }
        }
        let have: Receipt = merge(held).pop().map(|(_, r)| r).unwrap_or_default();
        let mut new: Vec<(DocId, i64, Vec<String>)> = Vec::new();
        for n in notices {
            let Some((_, heads)) = db.doc_brief(n)? else {
                continue;
            };
            let version = model::schema::short_heads(&heads);
            // Already said (in this period or a kept one): nothing to write; a kept
            // entry a new period supersedes is carried below.
            if have.versions.get(n.as_str()) == Some(&version) {
                continue;
            }
            let at = have.notices.get(n.as_str()).copied().unwrap_or(now);
            new.push((n.clone(), at, version));
        }
        if fresh {
            // A new period: carry over the live notices whose newest entry is in a
            // receipt this new period supersedes (dropped below, here and on every
            // node), and those of the receipt from before periods (once: it gives
            // them versions). An entry in the previous period stays readable until
            // the next new period, which carries it then: each live entry is
            // rewritten once every two periods, not every period.
            let noted: BTreeSet<String> = new.iter().map(|(d, _, _)| d.to_string()).collect();
            for (k, at) in &have.notices {
                let Ok(id) = k.parse::<DocId>() else {
                    continue;
                };
                let doomed = newest_in
                    .get(k)
                    .copied()
                    .flatten()
                    .is_none_or(|p| model::receipt_superseded(p, period));
                if noted.contains(k) || !doomed {
                    continue;
                }
                let Some(row) = db.doc(&id)? else {
                    continue;
                };
                let live = serde_json::from_str::<Notice>(&row.view).is_ok_and(|n| n.is_live(now));
                if live {
                    new.push((id, *at, model::schema::short_heads(&row.heads)));
                }
            }
        }
        if new.is_empty() {
            return Ok(ImportReport::default());
        }
        let me = self.me;
        let report = self.edit_in(db, &rid, |tx| {
            // Within the caps every node judges receipts by (`model::MAX_RECEIPT_OPS`):
            // past them this node notes nothing more until the next period, rather
            // than write what its peers would refuse. The header and the notices
            // map take at most five operations.
            let held = tx.stats();
            let room = model::MAX_RECEIPT_OPS.saturating_sub(held.num_ops + 5) as usize;
            let fits = if held.num_changes < model::MAX_RECEIPT_CHANGES {
                new.len().min(room)
            } else {
                0
            };
            if fits < new.len() {
                tracing::warn!(
                    receipt = %rid,
                    noted = fits,
                    skipped = new.len() - fits,
                    "this period's receipt is full; notices read from now on are noted next period"
                );
            }
            if fits == 0 {
                return Ok(());
            }
            if fresh {
                put_header(tx, Kind::Receipt, &me, now)?;
                write_receipt_header(tx)?;
            }
            write_receipt_entries(tx, &new[..fits])
        })?;
        db.set_meta(RECEIPT_ANCHOR, &format!("{clock},{period}"))?;
        if fresh {
            prune_owner(db, &me)?;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(entries: &[(&str, &str)]) -> Receipt {
        let mut r = Receipt::default();
        for (k, v) in entries {
            let (at, heads) = v.split_once(' ').unwrap_or((v, ""));
            r.notices.insert(k.to_string(), at.parse().unwrap());
            if v.contains(' ') {
                r.versions.insert(
                    k.to_string(),
                    heads.split('.').map(str::to_string).collect(),
                );
            }
        }
        r
    }

    /// Readers see one receipt per node: the newest period's entry for a notice wins
    /// over an older period's and over the receipt from before periods, whatever
    /// order the store lists them in; other nodes' receipts stay apart.
    #[test]
    fn merged_receipts_take_each_notice_from_the_newest_period() {
        let a = crate::identity::Identity::generate().node_id();
        let b = crate::identity::Identity::generate().node_id();
        let (n1, n2, n3) = (
            "n-0000000000000001",
            "n-0000000000000002",
            "n-0000000000000003",
        );
        let views = vec![
            (
                DocId::receipt_in(&a, 700),
                view(&[(n1, "300 cccccccccccccccc")]),
            ),
            (
                DocId::receipt(&a),
                view(&[(n1, "100"), (n2, "100 aaaaaaaaaaaaaaaa"), (n3, "100")]),
            ),
            (
                DocId::receipt_in(&a, 699),
                view(&[(n1, "100 bbbbbbbbbbbbbbbb"), (n3, "200 dddddddddddddddd")]),
            ),
            (
                DocId::receipt_in(&b, 5),
                view(&[(n2, "50 eeeeeeeeeeeeeeee")]),
            ),
        ];
        let merged: BTreeMap<NodeId, Receipt> = merge(views).into_iter().collect();
        assert_eq!(merged.len(), 2);
        let ra = &merged[&a];
        assert_eq!(ra.notices[n1], 300);
        assert_eq!(ra.versions[n1], vec!["cccccccccccccccc".to_string()]);
        // Only in the receipt from before periods: read from it.
        assert_eq!(ra.versions[n2], vec!["aaaaaaaaaaaaaaaa".to_string()]);
        // An old-format entry (time only) is replaced with the version a newer period has.
        assert_eq!(ra.notices[n3], 200);
        assert_eq!(ra.versions[n3], vec!["dddddddddddddddd".to_string()]);
        assert_eq!(merged[&b].notices.len(), 1);
    }
}
