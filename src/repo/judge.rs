//! Where judged changes go: the roster verdict, then each document's, written as
//! moves between the log (valid), quarantine (void for now), the pending buffer
//! (dependencies missing) and the refusal log; and re-judging a whole store after an
//! upgrade. The verdicts themselves come from `verdict`; "why was this change
//! refused?" is answered there, and recorded here (`refuse`).

use super::*;

impl Repo {
    /// Judges every stored change again under the current rules (after an upgrade):
    /// changes that fail are set aside in quarantine and reported, never dropped.
    pub fn rejudge(&mut self) -> Result<ImportReport> {
        let commune = self.commune_id()?;
        let me = self.node_id();
        let mut report = ImportReport::default();
        self.store.write(|db| {
            if let Some(commune) = &commune {
                let old = RosterOutcome::default();
                let (outcome, _) = import_roster(
                    db,
                    commune,
                    &me,
                    Vec::new(),
                    None,
                    &mut report,
                    &old,
                    text::now(),
                    true,
                )?;
                for id in db.all_doc_ids()? {
                    if id.kind() != Kind::Roster {
                        reevaluate(
                            db,
                            &outcome,
                            &me,
                            &id,
                            Vec::new(),
                            None,
                            &mut report,
                            text::now(),
                        )?;
                    }
                }
                let every: BTreeSet<NodeId> = db.authors_with_creations()?.into_iter().collect();
                quota::resettle(db, &outcome, &me, every, None, &mut report, text::now())?;
            }
            db.set_meta(META_REJUDGE, "0")
        })?;
        Ok(report)
    }
}

/// Verifies changes read back from the store (they were verified when they came).
pub(super) fn reverify(rows: Vec<crate::store::StoredChange>) -> Vec<VerifiedChange> {
    rows.into_iter()
        .filter_map(|c| c.signed.verify().ok())
        .map(|mut v| {
            verdict::rules::pre_analyse(&mut v);
            v
        })
        .collect()
}

/// The roster verdict from every roster change held, cached per process by the set of
/// roster changes and chain links it was computed from.
pub(super) fn roster_outcome(db: Db<'_>, commune: &NodeId) -> Result<Arc<RosterOutcome>> {
    use std::sync::Mutex;
    static CACHE: Mutex<Option<([u8; 32], Arc<RosterOutcome>)>> = Mutex::new(None);
    let mut rows = db.doc_changes(&DocId::roster())?;
    rows.extend(db.quarantined_of(&DocId::roster())?);
    let mut key = Sha256::new();
    key.update(commune.as_bytes());
    let mut hashes: Vec<[u8; 32]> = rows.iter().map(|r| r.hash).collect();
    hashes.sort();
    for h in &hashes {
        key.update(h);
    }
    key.update(db.link_count()?.to_le_bytes());
    // Two stores in one process (tests, the lab) must not share an entry.
    key.update(db.meta("store_id")?.unwrap_or_default().as_bytes());
    let key: [u8; 32] = key.finalize().into();
    if let Ok(c) = CACHE.lock()
        && let Some((k, o)) = c.as_ref()
        && *k == key
    {
        return Ok(o.clone());
    }
    let all = reverify(rows);
    let o = Arc::new(verdict::roster::evaluate(commune, &all, &|a: &NodeId| {
        db.links_of(a).unwrap_or_default()
    }));
    if let Ok(mut c) = CACHE.lock() {
        *c = Some((key, o.clone()));
    }
    Ok(o)
}

/// Writes a valid change into the log (with its chain link). Returns its log position.
pub(super) fn store_valid(
    db: Db<'_>,
    c: &VerifiedChange,
    via: Option<&NodeId>,
    now: i64,
) -> Result<i64> {
    let actor = c.change.actor_id().to_bytes().to_vec();
    let seq = db.insert_change(
        &c.hash.0,
        &c.signed,
        &c.author,
        &actor,
        c.change.seq(),
        via,
        now,
    )?;
    note_link(db, c)?;
    Ok(seq)
}

/// Records a change's chain link, so revocation cuts can be read through it.
pub(super) fn note_link(db: Db<'_>, c: &VerifiedChange) -> Result<()> {
    if let Some(chain) = &c.chain {
        db.add_link(
            &c.hash.0,
            &c.author,
            chain.prev.as_ref(),
            verdict::doc::day_of(c),
            quota::link_kind(&c.signed.doc),
        )?;
    }
    Ok(())
}

/// Imports roster changes: re-evaluates the roster from the whole set, moves changes
/// between log and quarantine accordingly, and re-judges every document by an author
/// whose membership or cut changed. Returns the new outcome and the pending changes of
/// authors who just became members.
#[allow(clippy::too_many_arguments)]
pub(super) fn import_roster(
    db: Db<'_>,
    commune: &NodeId,
    me: &NodeId,
    incoming: Vec<VerifiedChange>,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    old: &RosterOutcome,
    now: i64,
    force: bool,
) -> Result<(Arc<RosterOutcome>, Vec<VerifiedChange>)> {
    let id = DocId::roster();
    let valid_before: BTreeSet<[u8; 32]> = db.doc_changes(&id)?.iter().map(|c| c.hash).collect();
    let mut stored_rows = db.doc_changes(&id)?;
    stored_rows.extend(db.quarantined_of(&id)?);
    let stored = reverify(stored_rows);
    let known: BTreeSet<[u8; 32]> = stored.iter().map(|c| c.hash.0).collect();
    let mut incoming_all = incoming;
    incoming_all.extend(
        db.pending_for(&id)?
            .into_iter()
            .filter_map(|p| p.verify().ok()),
    );
    let mut new: Vec<VerifiedChange> = Vec::new();
    let mut seen = BTreeSet::new();
    for c in incoming_all {
        if !seen.insert(c.hash.0) {
            continue;
        }
        if known.contains(&c.hash.0) {
            db.remove_pending(&c.hash.0)?;
            report.duplicates += 1;
            continue;
        }
        new.push(c);
    }
    if new.is_empty() && !force {
        return Ok((roster_outcome(db, commune)?, Vec::new()));
    }
    // Changes whose dependencies nobody here holds wait (bounded per author).
    let mut have: BTreeSet<[u8; 32]> = known.clone();
    have.extend(new.iter().map(|c| c.hash.0));
    let mut ready = Vec::new();
    for c in new {
        // Deps through other waiting changes are fine: the walk skips what it cannot reach.
        if c.change.deps().iter().all(|d| have.contains(&d.0)) {
            ready.push(c);
        } else {
            park(db, &c, old, commune, via, report, now)?;
        }
    }
    for c in &ready {
        db.remove_pending(&c.hash.0)?;
    }
    let mut all = stored;
    all.extend(ready.iter().cloned());
    let outcome = Arc::new(verdict::roster::evaluate(commune, &all, &|a: &NodeId| {
        db.links_of(a).unwrap_or_default()
    }));
    let by_hash: BTreeMap<[u8; 32], &VerifiedChange> = all.iter().map(|c| (c.hash.0, c)).collect();
    let new_hashes: BTreeSet<[u8; 32]> = ready.iter().map(|c| c.hash.0).collect();
    // Valid roster changes, in order.
    for h in &outcome.order {
        if valid_before.contains(h) {
            continue;
        }
        let c = by_hash[h];
        db.unquarantine(h)?;
        store_valid(db, c, via, now)?;
        if new_hashes.contains(h) {
            report.accepted += 1;
        }
    }
    for (h, (why, hostile)) in &outcome.void {
        let c = by_hash[h];
        let is_new = new_hashes.contains(h);
        let member = outcome.roster.member(&c.author).is_some() || c.author == *commune;
        if is_new && (*hostile || !member) {
            refuse(db, &id, c, why.clone(), *hostile, via, report, now)?;
            continue;
        }
        if valid_before.contains(h) {
            db.delete_change(h)?;
        }
        if !db.quarantine(h, &c.signed, &c.author, why, via, now)? {
            report.overflow = true;
        }
        note_link(db, c)?;
    }
    for a in &outcome.equivocators {
        if !old.equivocators.contains(a) {
            tracing::warn!(author = %a.short(), "equivocation in the roster: two roster changes with one actor and sequence number");
        }
        db.flag_equivocator(a, &id, now)?;
    }
    // The roster's cache row: the document of valid changes, the evaluated roster as view.
    let mut doc = Automerge::new();
    doc.apply_changes(outcome.order.iter().map(|h| by_hash[h].change.clone()))?;
    if outcome.order.is_empty() {
        db.delete_doc(&id)?;
    } else {
        let mut row = build_row(&id, &doc)?;
        row.view = serde_json::to_string(&outcome.roster)?;
        let (first, last) = db.seq_range(&id)?;
        row.first_seq = first;
        row.last_seq = last;
        db.put_doc(&row)?;
    }
    report.changed.insert(id.clone());
    report.roster_changed = true;
    // Authors whose standing changed: their documents are judged again.
    let mut authors: BTreeSet<NodeId> = BTreeSet::new();
    for n in old
        .roster
        .members
        .keys()
        .chain(outcome.roster.members.keys())
    {
        let a = (old.roster.members.contains_key(n), old.kept.get(n));
        let b = (outcome.roster.members.contains_key(n), outcome.kept.get(n));
        if a != b {
            authors.insert(*n);
        }
    }
    for n in old.kept.keys().chain(outcome.kept.keys()) {
        if old.kept.get(n) != outcome.kept.get(n) {
            authors.insert(*n);
        }
    }
    let mut docs: BTreeSet<DocId> = BTreeSet::new();
    let mut released = Vec::new();
    for a in &authors {
        docs.extend(db.docs_touched_by(a)?);
        if outcome.roster.member(a).is_some() && !old.roster.members.contains_key(a) {
            released.extend(
                db.pending_by(a)?
                    .into_iter()
                    .filter_map(|p| p.verify().ok()),
            );
        }
    }
    // Creations that no longer count leave the quota ranking before any document is
    // judged again, so none is ranked behind a creation its author may no longer make
    // (those that count again come back as their documents are judged).
    for a in &authors {
        for h in db.creations_of(a)? {
            let counts = outcome.roster.member(a).is_some()
                && outcome.kept.get(a).is_none_or(|kept| kept.contains(&h));
            if !counts {
                db.forget_creation(&h)?;
                report.quota_authors.insert(*a);
            }
        }
    }
    for d in docs {
        if d.kind() != Kind::Roster {
            reevaluate(db, &outcome, me, &d, Vec::new(), via, report, now)?;
        }
    }
    Ok((outcome, released))
}

/// Parks a change whose dependencies are not here, if its author is a member (or the
/// founder); refuses it otherwise.
pub(super) fn park(
    db: Db<'_>,
    c: &VerifiedChange,
    outcome: &RosterOutcome,
    commune: &NodeId,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<()> {
    if outcome.roster.member(&c.author).is_none() && c.author != *commune {
        let reason = verdict::rules::Rejection::NotMember(c.author.short()).to_string();
        return refuse(
            db,
            &c.signed.doc.clone(),
            c,
            reason,
            false,
            via,
            report,
            now,
        );
    }
    if db.add_pending_by(&c.hash.0, &c.signed, &c.author, via, now)? {
        report.pending += 1;
    } else {
        report.overflow = true;
    }
    Ok(())
}

/// Imports changes to a document this store already knows. The common case — every
/// dependency valid, no twin, nothing quarantined — is judged change by change against
/// the cached document; anything else re-evaluates the document from its whole set.
#[allow(clippy::too_many_arguments)]
pub(super) fn import_doc(
    db: Db<'_>,
    judge: &verdict::doc::Judge<'_>,
    me: &NodeId,
    id: &DocId,
    changes: Vec<VerifiedChange>,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<()> {
    let mut queue: Vec<VerifiedChange> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut all = changes;
    all.extend(
        db.pending_for(id)?
            .into_iter()
            .filter_map(|p| p.verify().ok())
            .map(|mut v| {
                verdict::rules::pre_analyse(&mut v);
                v
            }),
    );
    for c in all {
        if !seen.insert(c.hash.0) {
            continue;
        }
        if db.has_change(&c.hash.0)? || db.in_quarantine(&c.hash.0)? {
            db.remove_pending(&c.hash.0)?;
            report.duplicates += 1;
            continue;
        }
        queue.push(c);
    }
    if queue.is_empty() {
        return Ok(());
    }
    for c in &queue {
        note_link(db, c)?;
    }
    let mut slow = db.has_quarantined(id)?;
    let mut keys = BTreeSet::new();
    let mut seq_twin = false;
    for c in &queue {
        let actor = c.change.actor_id().to_bytes().to_vec();
        if !keys.insert((actor.clone(), c.change.seq()))
            || db.change_at(id, &actor, c.change.seq())?.is_some()
        {
            seq_twin = true;
        }
    }
    slow |= seq_twin;
    // A receipt's changes must extend its one line (`verdict::doc::twin_keys`): the
    // batch is judged change by change only when each builds on the last.
    if !slow && id.kind() == Kind::Receipt {
        let mut heads: Vec<[u8; 32]> = db.doc_brief(id)?.map(|(_, h)| h).unwrap_or_default();
        heads.sort();
        let mut by_deps: BTreeMap<Vec<[u8; 32]>, [u8; 32]> = BTreeMap::new();
        for c in &queue {
            let mut deps: Vec<[u8; 32]> = c.change.deps().iter().map(|d| d.0).collect();
            deps.sort();
            if by_deps.insert(deps, c.hash.0).is_some() {
                slow = true;
            }
        }
        let mut n = 0;
        while let Some(next) = by_deps.remove(&heads) {
            heads = vec![next];
            n += 1;
        }
        slow |= n != queue.len();
    }
    if slow {
        queue = void_by_dependency(db, id, queue, via, report, now)?;
        if !seq_twin && id.kind() == Kind::Receipt {
            queue = receipt_line(db, judge, me, id, queue, via, report, now)?;
        }
        if queue.is_empty() {
            return Ok(());
        }
        return reevaluate(db, judge.roster, me, id, queue, via, report, now);
    }
    let (mut doc, row) = load_doc(db, id)?;
    let mut last_seq = row.as_ref().map(|r| r.last_seq).unwrap_or(0);
    let mut first_seq = row.as_ref().map(|r| r.first_seq).unwrap_or(0);
    let mut accepted_any = false;
    // A receipt's entries written by the changes accepted (`None`: read it whole).
    let mut receipt_keys: Option<BTreeSet<String>> = row
        .as_ref()
        .is_some_and(|r| r.kind == Kind::Receipt && r.view == RECEIPT_ROWS_IN_STEP)
        .then(BTreeSet::new);
    loop {
        let mut progress = false;
        let mut waiting = Vec::new();
        for c in queue {
            let mut ready = true;
            for d in c.change.deps() {
                if !db.has_change_in(id, &d.0)? {
                    ready = false;
                    break;
                }
            }
            if !ready {
                waiting.push(c);
                continue;
            }
            progress = true;
            db.remove_pending(&c.hash.0)?;
            let verdict = verdict::doc::judge_one(id, judge, &mut doc, &c, &|| {
                rebuild_doc(db, id).unwrap_or_default()
            });
            match verdict {
                verdict::doc::Verdict::Valid => {
                    last_seq = store_valid(db, &c, via, now)?;
                    if first_seq == 0 {
                        first_seq = last_seq;
                    }
                    if let Some(keys) = receipt_keys.as_mut() {
                        match model::schema::receipt_keys_written(&c.change) {
                            Some(k) => keys.extend(k),
                            None => receipt_keys = None,
                        }
                    }
                    accepted_any = true;
                    report.accepted += 1;
                }
                verdict::doc::Verdict::Void(why) => {
                    if !db.quarantine(&c.hash.0, &c.signed, &c.author, &why, via, now)? {
                        // Not kept: it leaves the ranking too.
                        db.forget_creation(&c.hash.0)?;
                        report.overflow = true;
                    }
                    report.quarantined += 1;
                    report.void_reasons.push(why);
                }
                verdict::doc::Verdict::Refused(why, hostile) => {
                    refuse(db, id, &c, why, hostile, via, report, now)?;
                }
            }
        }
        queue = waiting;
        if !progress || queue.is_empty() {
            break;
        }
    }
    for c in queue {
        // A dependency in quarantine: this change is void too (kept aside).
        if c.change
            .deps()
            .iter()
            .any(|d| db.in_quarantine_of(id, &d.0).unwrap_or(false))
        {
            db.quarantine(
                &c.hash.0,
                &c.signed,
                &c.author,
                verdict::roster::DEPENDS_ON_VOID,
                via,
                now,
            )?;
            report.quarantined += 1;
        } else {
            // Members only reach here (`apply` refused the others).
            if db.add_pending_by(&c.hash.0, &c.signed, &c.author, via, now)? {
                report.pending += 1;
            } else {
                report.overflow = true;
            }
        }
    }
    if accepted_any {
        let saved = match row.as_ref().map(|r| &r.snapshot) {
            Some(Snapshot::Stored(n)) => Some(*n),
            _ => None,
        };
        save_doc(db, id, doc, receipt_keys, saved, first_seq, last_seq)?;
        report.changed.insert(id.clone());
    }
    Ok(())
}

/// Re-judges a document from every change held for it (log and quarantine) plus
/// `extra`, and moves changes to where the verdict puts them.
#[allow(clippy::too_many_arguments)]
pub(super) fn reevaluate(
    db: Db<'_>,
    outcome: &RosterOutcome,
    me: &NodeId,
    id: &DocId,
    extra: Vec<VerifiedChange>,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<()> {
    let valid_rows = db.doc_changes(id)?;
    let valid_before: BTreeSet<[u8; 32]> = valid_rows.iter().map(|c| c.hash).collect();
    let old_doc = if valid_before.is_empty() {
        None
    } else {
        Some(load_doc(db, id)?.0)
    };
    let mut all = reverify(valid_rows);
    all.extend(reverify(db.quarantined_of(id)?));
    all.extend(extra);
    let mut over = BTreeSet::new();
    // Of twin creations, only the smaller hash counts (`repo::import::apply`).
    let mut smallest: BTreeMap<(Vec<u8>, u64), [u8; 32]> = BTreeMap::new();
    for c in all
        .iter()
        .filter(|c| verdict::doc::counts_for_quota(c, outcome))
    {
        let key = (c.change.actor_id().to_bytes().to_vec(), c.change.seq());
        let e = smallest.entry(key).or_insert(c.hash.0);
        *e = (*e).min(c.hash.0);
    }
    let mut counted = Vec::new();
    let mut fresh = BTreeSet::new();
    for c in &all {
        // A creation that no longer counts (its author revoked outside the cut, or it
        // loses to its twin) leaves the ranking; one that counts again comes back.
        let key = (c.change.actor_id().to_bytes().to_vec(), c.change.seq());
        if !verdict::doc::counts_for_quota(c, outcome) || smallest.get(&key) != Some(&c.hash.0) {
            if verdict::doc::creates_request(c) && db.creation_day(&c.hash.0)?.is_some() {
                db.forget_creation(&c.hash.0)?;
                report.quota_authors.insert(c.author);
            }
            continue;
        }
        if quota::record(db, c)? {
            fresh.insert(c.author);
        }
        counted.push(c);
    }
    // A creation new to the ranking is ranked on the day it claims here; the import
    // settles its author at its end (`quota::finish`), once for all its documents,
    // and judges again whatever that moves.
    report.quota_authors.extend(fresh);
    for c in counted {
        if let Some(day) = db.creation_day(&c.hash.0)? {
            over.extend(quota::over_on(
                db,
                outcome,
                &c.author,
                &BTreeSet::from([day]),
            )?);
        }
    }
    let judge = verdict::doc::Judge {
        roster: outcome,
        over_quota: &over,
    };
    let judged = verdict::doc::evaluate(id, &judge, all);
    write_judged(
        db,
        id,
        judged,
        &valid_before,
        old_doc.as_ref(),
        Written::Held,
        me,
        via,
        report,
        now,
    )
}

/// What the store held of a document before its verdicts are written.
pub(super) enum Written {
    /// Nothing at all (`is_fresh`): no quarantine or pending rows to move; the cache
    /// row built already, if any change is valid.
    Fresh(Option<Box<DocRow>>),
    /// Something: rows may move between the log, quarantine and pending.
    Held,
}

/// Writes a document's verdicts: valid changes into the log (in causal order), void
/// ones into quarantine, refusals into the refusal log (stored changes are never
/// dropped: a stored change found invalid goes to quarantine), waiting ones pending.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_judged(
    db: Db<'_>,
    id: &DocId,
    judged: verdict::doc::Judged,
    valid_before: &BTreeSet<[u8; 32]>,
    old_doc: Option<&Automerge>,
    written: Written,
    me: &NodeId,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<()> {
    let (held, prebuilt) = match written {
        Written::Fresh(row) => (false, row),
        Written::Held => (true, None),
    };
    let mut touched = false;
    // Log positions of a new document's changes, known as they are written.
    let (mut first, mut last) = (0i64, 0i64);
    for c in &judged.valid {
        if valid_before.contains(&c.hash.0) {
            continue;
        }
        touched = true;
        let was_quarantined = held && db.in_quarantine(&c.hash.0)?;
        if held {
            db.unquarantine(&c.hash.0)?;
            db.remove_pending(&c.hash.0)?;
        }
        last = store_valid(db, c, via, now)?;
        if first == 0 {
            first = last;
        }
        if !was_quarantined {
            report.accepted += 1;
        } else {
            report.restored += 1;
        }
    }
    let mut reissue: BTreeSet<String> = BTreeSet::new();
    for (c, why) in &judged.void {
        let was_valid = valid_before.contains(&c.hash.0);
        if was_valid {
            touched = true;
            db.delete_change(&c.hash.0)?;
            // Our own honest work voided by someone else's trick: re-issue it.
            if c.author == *me
                && why != verdict::doc::EQUIVOCATION_LOSER
                && let Some(old) = old_doc
                && let Ok(f) = verdict::rules::analyse(old, c)
            {
                reissue.extend(f.fields);
            }
        } else if !db.in_quarantine(&c.hash.0)? {
            report.quarantined += 1;
            report.void_reasons.push(why.clone());
        }
        db.remove_pending(&c.hash.0)?;
        if !db.quarantine(&c.hash.0, &c.signed, &c.author, why, via, now)? {
            // Not kept: it leaves the ranking too.
            db.forget_creation(&c.hash.0)?;
            report.overflow = true;
        }
        note_link(db, c)?;
    }
    for (c, why, hostile) in judged.refused {
        db.remove_pending(&c.hash.0)?;
        if valid_before.contains(&c.hash.0) || db.in_quarantine(&c.hash.0)? {
            if valid_before.contains(&c.hash.0) {
                touched = true;
                db.delete_change(&c.hash.0)?;
            }
            db.quarantine(&c.hash.0, &c.signed, &c.author, &why, via, now)?;
        } else {
            refuse(db, id, &c, why, hostile, via, report, now)?;
        }
    }
    for c in judged.waiting {
        if !valid_before.contains(&c.hash.0)
            && !db.in_quarantine(&c.hash.0)?
            && !db.has_change(&c.hash.0)?
        {
            if db.add_pending_by(&c.hash.0, &c.signed, &c.author, via, now)? {
                report.pending += 1;
            } else {
                report.overflow = true;
            }
        }
    }
    for a in &judged.equivocators {
        tracing::warn!(doc = %id, author = %a.short(), "equivocation: two changes with one actor and sequence number");
        db.flag_equivocator(a, id, now)?;
        db.log_rejection(
            Some(id),
            None,
            Some(a),
            via,
            "equivocation: one key signed two changes with the same actor and sequence number",
            now,
        )?;
    }
    if touched {
        if judged.valid.is_empty() {
            db.delete_doc(id)?;
        } else {
            let mut row = match prebuilt {
                Some(r) => *r,
                None => build_row(id, &judged.doc)?,
            };
            let (first, last) = if held {
                db.seq_range(id)?
            } else {
                (first, last)
            };
            row.first_seq = first;
            row.last_seq = last;
            db.put_doc(&row)?;
        }
        report.changed.insert(id.clone());
    }
    if !reissue.is_empty()
        && let Some(old) = old_doc
    {
        report
            .reissue
            .push((id.clone(), old.clone(), reissue.into_iter().collect()));
    }
    Ok(())
}

/// Nothing of this document is stored, quarantined or pending, and none of these
/// changes is known.
/// `nothing_aside`: the quarantine and the pending buffer are both empty (the common
/// case, checked once per import), so only the log needs asking.
pub(super) fn is_fresh(
    db: Db<'_>,
    id: &DocId,
    changes: &[VerifiedChange],
    nothing_aside: bool,
) -> Result<bool> {
    if db.doc_brief(id)?.is_some()
        || (!nothing_aside && (!db.pending_for(id)?.is_empty() || db.has_quarantined(id)?))
    {
        return Ok(false);
    }
    for c in changes {
        if db.has_change(&c.hash.0)? || (!nothing_aside && db.in_quarantine(&c.hash.0)?) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Records a refused change: log line, refusal log, report.
#[allow(clippy::too_many_arguments)]
pub(super) fn refuse(
    db: Db<'_>,
    id: &DocId,
    c: &VerifiedChange,
    reason: String,
    hostile: bool,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<()> {
    let reason: String = reason
        .chars()
        .take(crate::store::MAX_REASON_CHARS)
        .collect();
    tracing::warn!(doc = %id, author = %c.author.short(), via = ?via.map(|v| v.short()), "refused change: {reason}");
    // Its chain link may have been noted for judging the batch; a change not stored
    // must not become a chain head a revocation's cut names (the office would cut at
    // a change no other node holds: same stored set, different verdicts).
    if !db.has_change(&c.hash.0)? && !db.in_quarantine(&c.hash.0)? {
        db.remove_link(&c.hash.0)?;
    }
    db.log_rejection(
        Some(id),
        Some(&c.hash.0),
        Some(&c.author),
        via,
        &reason,
        now,
    )?;
    if hostile {
        // Who to revoke: the peer that sent it (an honest relay never forwards what
        // it refused itself), or its author when it came by USB.
        db.note_hostile(via.unwrap_or(&c.author), &reason, now)?;
    }
    report.rejected.push(RejectedChange {
        doc: id.to_string(),
        author: Some(c.author.short()),
        reason,
        hostile,
    });
    Ok(())
}
