//! The import pipeline: a batch from a peer or a bundle is measured and cut into
//! slices (bounded inflated bytes), each slice into parts whose envelopes are checked
//! on other cores while the previous part is judged and written, all in one
//! transaction (`Repo::import_slice`). `apply` is the one door every change goes
//! through: it hands each document to `judge`. "Why is import slow?" is read here.

use super::*;

impl Repo {
    /// Imports changes from a peer or a bundle. Envelope-invalid and forbidden changes
    /// are refused (logged, not stored); changes missing dependencies wait, bounded.
    pub fn import(
        &mut self,
        changes: Vec<SignedChange>,
        via: Option<&NodeId>,
    ) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        // Bound what one import holds inflated in memory: changes are processed in
        // slices of at most `MAX_INFLATED_PER_SLICE` bytes once inflated.
        let mut slices: Vec<Vec<SizedChange>> = vec![Vec::new()];
        let mut size = 0u64;
        // Measuring means inflating (streamed, bounded): on every core, not in the
        // sequential part of the import. A change that fails here is refused later,
        // with the reason, and costs the slice nothing.
        let sized = par_map(changes, 64, |c| {
            let doc = c.doc.clone();
            c.measure().map_err(|e| (doc, e.to_string()))
        });
        for c in sized {
            let n = c.as_ref().map_or(0, |m| m.inflated);
            if size + n > MAX_INFLATED_PER_SLICE && !slices.last().is_some_and(|s| s.is_empty()) {
                slices.push(Vec::new());
                size = 0;
            }
            size += n;
            slices.last_mut().expect("one slice").push(c);
        }
        for slice in slices {
            let r = self.import_slice(slice, via)?;
            report.accepted += r.accepted;
            report.duplicates += r.duplicates;
            report.pending += r.pending;
            report.rejected.extend(r.rejected);
            report.changed.extend(r.changed);
            report.overflow |= r.overflow;
            report.quarantined += r.quarantined;
            report.restored += r.restored;
            report.roster_changed |= r.roster_changed;
        }
        Ok(report)
    }

    pub(super) fn import_slice(
        &mut self,
        changes: Vec<SizedChange>,
        via: Option<&NodeId>,
    ) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        let now = text::now();
        let ctx = self.edit_ctx()?;
        let (commune, me) = (ctx.commune, ctx.me);
        let parts = pipeline_parts(changes);
        let store = &mut self.store;
        // Checking envelopes needs no database: part k+1 is checked on other cores
        // while part k is judged and written. One transaction still holds them all,
        // and applying parts one after another is importing them one after another,
        // which gives the same verdicts as importing them at once (issue 10).
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            s.spawn(move || {
                for part in parts {
                    if tx.send(verify_all(part)).is_err() {
                        break;
                    }
                }
            });
            store.write(|db| {
                for (verified, bad) in rx {
                    for (doc, reason) in &bad {
                        tracing::warn!(doc = %doc, via = ?via, "refused change: {reason}");
                        db.log_rejection(Some(doc), None, None, via, reason, now)?;
                        report.rejected.push(RejectedChange {
                            doc: doc.to_string(),
                            author: None,
                            reason: reason.clone(),
                            hostile: true,
                        });
                    }
                    let verified = receipts::arriving(db, verified, &mut report)?;
                    apply(db, commune.as_ref(), &me, verified, via, &mut report)?;
                }
                if let Some(commune) = &commune {
                    quota::finish(db, commune, &me, via, &mut report, now)?;
                }
                receipts::prune_after_import(db, &mut report)?;
                // The receipt says which version of each notice is held now, written in
                // this same transaction: a crash cannot leave an import without it.
                let notices: Vec<DocId> = report
                    .changed
                    .iter()
                    .filter(|d| d.kind() == Kind::Notice)
                    .cloned()
                    .collect();
                let r = ctx.note_receipts_in(db, &notices)?;
                report.reissue.extend(r.reissue);
                Ok(())
            })
        })?;
        let reissue = std::mem::take(&mut report.reissue);
        self.reissue(reissue)?;
        Ok(report)
    }
}

/// Most bytes of inflated changes one import step holds in memory.
pub(super) const MAX_INFLATED_PER_SLICE: u64 = 32 * 1024 * 1024;

/// Maps `f` over `items` on every core (up to 4 threads), keeping their order; below
/// `min` items, or on one core, on this thread.
pub(super) fn par_map<T: Send, R: Send>(
    items: Vec<T>,
    min: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    if threads < 2 || items.len() < min {
        return items.into_iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut parts: Vec<Vec<T>> = Vec::new();
    let mut it = items.into_iter();
    loop {
        let part: Vec<T> = it.by_ref().take(per).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|p| s.spawn(move || p.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Maps `f` over `items` on every core (up to 4 threads) in chunks of `chunk`, and hands
/// the results to `sink` on this thread, in the order of `items`, as they are ready:
/// the sink (the write transaction) runs while the other cores compute. Below two
/// chunks, or on one core, everything runs here. An error from `sink` stops it; chunks
/// already started are finished and dropped.
pub(super) fn par_stream<T: Send, R: Send>(
    items: Vec<T>,
    chunk: usize,
    f: impl Fn(T) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<()>,
) -> Result<()> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    if threads < 2 || items.len() < 2 * chunk {
        return items.into_iter().try_for_each(|x| sink(f(x)));
    }
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut it = items.into_iter().peekable();
    while it.peek().is_some() {
        chunks.push(it.by_ref().take(chunk).collect());
    }
    let queue = std::sync::Mutex::new(chunks.into_iter().enumerate());
    let (f, queue) = (&f, &queue);
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Vec<R>)>();
        for _ in 0..threads {
            let tx = tx.clone();
            s.spawn(move || {
                loop {
                    let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                    let Some((i, c)) = next else { break };
                    if tx.send((i, c.into_iter().map(f).collect())).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut want = 0;
        let mut ready: BTreeMap<usize, Vec<R>> = BTreeMap::new();
        for (i, rs) in rx {
            ready.insert(i, rs);
            while let Some(rs) = ready.remove(&want) {
                rs.into_iter().try_for_each(&mut sink)?;
                want += 1;
            }
        }
        Ok(())
    })
}

/// Changes per part of an import's pipeline (`Repo::import_slice`; the first part is a
/// quarter of this): small enough that the first part, checked before anything else
/// can start, is a small share of a large import; large enough that per-part work
/// (the roster verdict, the quota ranking) stays negligible.
pub(super) const PIPELINE_PART: usize = 256;

/// Splits a slice into the parts the import pipeline checks and applies one after
/// another. Roster changes go first, in the first part: every other change's verdict
/// depends on the roster, and a change whose author the roster names only later in
/// the same import must not be refused as a stranger's.
pub(super) fn pipeline_parts(changes: Vec<SizedChange>) -> Vec<Vec<SizedChange>> {
    let (mut parts, mut rest): (Vec<SizedChange>, Vec<SizedChange>) =
        changes.into_iter().partition(|c| match c {
            Ok(m) => m.doc().kind() == Kind::Roster,
            Err((doc, _)) => doc.kind() == Kind::Roster,
        });
    // The first part is checked before anything else can start: keep it small.
    let first = (PIPELINE_PART / 4).saturating_sub(parts.len());
    let tail = rest.split_off(first.min(rest.len()));
    parts.extend(rest);
    let mut out = vec![parts];
    let mut tail = tail.into_iter().peekable();
    while tail.peek().is_some() {
        out.push(tail.by_ref().take(PIPELINE_PART).collect());
    }
    out
}

/// A change from a peer or bundle after `SignedChange::measure`: within the size limits,
/// or refused with the reason.
pub(super) type SizedChange = std::result::Result<model::signed::Measured, (DocId, String)>;

/// Checks envelopes (signature, decoding) on every core: it is pure CPU work and a
/// large share of an import.
pub(super) fn verify_all(changes: Vec<SizedChange>) -> (Vec<VerifiedChange>, Vec<(DocId, String)>) {
    let results = par_map(changes, 64, |c| {
        let c = c?;
        let doc = c.doc().clone();
        c.verify()
            .map(|mut v| {
                verdict::rules::pre_analyse(&mut v);
                v
            })
            .map_err(|e| (doc, e.to_string()))
    });
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(b) => bad.push(b),
        }
    }
    (ok, bad)
}

/// Applies verified changes inside one write transaction: the roster first (every
/// other verdict depends on its outcome), then each document. Verdicts come from
/// `verdict`; this function only moves changes between the log (valid), the
/// quarantine (not valid now, may become valid), the pending buffer (dependencies not
/// here) and the refusal log (breaks a rule: not stored).
pub(super) fn apply(
    db: Db<'_>,
    commune: Option<&NodeId>,
    me: &NodeId,
    verified: Vec<VerifiedChange>,
    via: Option<&NodeId>,
    report: &mut ImportReport,
) -> Result<()> {
    let now = text::now();
    let Some(commune) = commune else {
        for v in verified {
            report.rejected.push(RejectedChange {
                doc: v.signed.doc.to_string(),
                author: Some(v.author.short()),
                reason: "this node has not joined a commune".into(),
                hostile: false,
            });
        }
        return Ok(());
    };
    db.expire_pending(now - crate::store::PENDING_TTL_SECS)?;
    // One change belongs to one document (issue 21, fault 4): sync and the store know
    // a change by its hash, so a copy signed for a second document would leave two
    // nodes "Synced" over different documents. A change whose bytes name another
    // document, or that is held (or arrives in this batch) under another, is hostile:
    // only its author can have signed the second copy.
    let mut bound: BTreeMap<[u8; 32], DocId> = BTreeMap::new();
    let mut verified_one_doc = Vec::with_capacity(verified.len());
    for v in verified {
        let other = if v.names_another_document() {
            Some("its bytes name another document".to_string())
        } else if v.signed.doc.kind() == Kind::Other
            && v.chain.as_ref().and_then(|m| m.doc).is_none()
        {
            // A later kind is new with chains: its changes name their document, so
            // no copy of one can be held as a notice's change (a node holding the
            // later-kind copy would refuse the notice's where the version before,
            // which never holds it, keeps it).
            Some("a change of a later kind must name its document".to_string())
        } else if let Some(d) = bound.get(&v.hash.0).filter(|d| **d != v.signed.doc) {
            Some(format!(
                "the same change arrived for another document ({d})"
            ))
        } else {
            db.held_doc(&v.hash.0)?
                .filter(|d| d != v.signed.doc.as_str())
                .map(|d| format!("the change is held in another document ({d})"))
        };
        match other {
            Some(why) => {
                let id = v.signed.doc.clone();
                refuse(
                    db,
                    &id,
                    &v,
                    format!("signed for another document: {why}"),
                    true,
                    via,
                    report,
                    now,
                )?;
            }
            None => {
                bound
                    .entry(v.hash.0)
                    .or_insert_with(|| v.signed.doc.clone());
                verified_one_doc.push(v);
            }
        }
    }
    let verified = verified_one_doc;
    let (roster_in, rest): (Vec<_>, Vec<_>) = verified
        .into_iter()
        .partition(|v| v.signed.doc.kind() == Kind::Roster);
    let mut outcome = roster_outcome(db, commune)?;
    let mut rest = rest;
    if !roster_in.is_empty() {
        let (o, released) = import_roster(
            db, commune, me, roster_in, via, report, &outcome, now, false,
        )?;
        outcome = o;
        rest.extend(released);
    }
    let mut groups: BTreeMap<DocId, Vec<VerifiedChange>> = BTreeMap::new();
    let mut revoked_authors = false;
    for v in rest {
        if outcome.roster.member(&v.author).is_none() && !outcome.named.contains(&v.author) {
            // Named by no roster change we hold: not stored, not parked. An honest peer
            // sends the roster first, so this is a stranger or a relay ahead of it.
            let reason = verdict::rules::Rejection::NotMember(v.author.short()).to_string();
            refuse(
                db,
                &v.signed.doc.clone(),
                &v,
                reason,
                false,
                via,
                report,
                now,
            )?;
            continue;
        }
        // A revoked node's change can be a missing link of its chain, and its cut
        // keep more — only if it is new here and a cut names it as a head or a held
        // link names it as a predecessor. Anything else by a revoked key (a change
        // every node holds, sent again; a change outside every cut) must not cost a
        // roster evaluation each (issue 21 review).
        revoked_authors |= outcome.roster.member(&v.author).is_none()
            || (outcome.kept.contains_key(&v.author)
                && !db.has_change(&v.hash.0)?
                && !db.in_quarantine(&v.hash.0)?
                && (outcome
                    .standing
                    .iter()
                    .any(|r| r.target == v.author && r.cut.contains(&v.hash.0))
                    || db.is_named_as_prev(&v.hash.0)?));
        groups.entry(v.signed.doc.clone()).or_default().push(v);
    }
    // Daily quota of new requests per device: record every creation, settle the day
    // each counts on (`repo::quota`), rank them. Of twin creations (one actor, one
    // sequence number, one document) only the one with the smaller hash counts: the
    // other loses its contest, is never forwarded, and would void honest requests on
    // this node only (issue 21 review).
    let mut ranked: BTreeMap<NodeId, Vec<&VerifiedChange>> = BTreeMap::new();
    let mut twin_of: BTreeMap<(DocId, Vec<u8>, u64), [u8; 32]> = BTreeMap::new();
    for v in groups.values().flatten() {
        if verdict::doc::counts_for_quota(v, &outcome) {
            let actor = v.change.actor_id().to_bytes().to_vec();
            let key = (v.signed.doc.clone(), actor, v.change.seq());
            let held = db.change_at(&key.0, &key.1, key.2)?;
            let rival = match (held, twin_of.get(&key).copied()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
            .filter(|r| *r != v.hash.0);
            if let Some(r) = rival {
                if r < v.hash.0 {
                    continue;
                }
                // The rival leaves the ranking: its author's days move.
                db.forget_creation(&r)?;
                report.quota_authors.insert(v.author);
            }
            twin_of.insert(key, v.hash.0);
            quota::record(db, v)?;
            ranked.entry(v.author).or_default().push(v);
        }
    }
    // Requests held whose creation the newcomers pushed past the quota, or back
    // under it — also those this import brings a change to: the usual path judges
    // only the new changes, and would leave the held creation valid here while a
    // node that got the newcomers first voids it (issue 21 review).
    let mut over: BTreeSet<[u8; 32]> = BTreeSet::new();
    let mut bumped: BTreeSet<DocId> = BTreeSet::new();
    let batch: Vec<&VerifiedChange> = groups.values().flatten().collect();
    if !ranked.is_empty() {
        let h = quota::horizon(db, &outcome)?;
        for (a, new) in &ranked {
            let days = quota::place_new(db, a, &batch, new, h, report)?;
            over.extend(quota::over_on(db, &outcome, a, &days)?);
            bumped.extend(quota::misjudged(db, &outcome, a, &days)?);
        }
    }
    // What else this import may move is settled at its end (`quota::finish`): a
    // change that fills a gap in a line or forks it (a change at the end of a line
    // moves no creation, and a receipt is on no line).
    for v in &batch {
        if ranked.contains_key(&v.author) {
            continue;
        }
        // What this import read of its line misses this change: read it again if a
        // later part places one of its creations.
        report.quota_lines.remove(&v.author);
        if !report.quota_authors.contains(&v.author)
            && outcome.roster.active_role(&v.author) != Some(Role::Official)
            && quota::link_kind(&v.signed.doc) < quota::OUTSIDE
            && !db.has_change(&v.hash.0)?
            && !db.in_quarantine(&v.hash.0)?
            && quota::moves_more_than_its_end(db, v, &batch)?
        {
            report.quota_authors.insert(v.author);
        }
    }
    let judge = verdict::doc::Judge {
        roster: &outcome,
        over_quota: &over,
    };
    // Documents new to this store are independent of each other: judge them on every
    // core, then write them.
    let mut fresh = Vec::new();
    let mut others = Vec::new();
    let nothing_aside = db.quarantine_count()? == 0 && db.pending_count()? == 0;
    for (id, changes) in groups {
        if is_fresh(db, &id, &changes, nothing_aside)? {
            fresh.push((id, changes));
        } else {
            others.push((id, changes));
        }
    }
    // The cache row (views, snapshot) is pure CPU work too: built on the same core.
    // Judged documents stream back in order and are written as they come, so this
    // thread writes while the other cores judge the next ones.
    par_stream(
        fresh,
        16,
        |(id, changes)| {
            let mut j = verdict::doc::evaluate(&id, &judge, changes);
            let row = if j.valid.is_empty() {
                None
            } else {
                build_row(&id, &j.doc).ok()
            };
            if row.is_some() {
                // The writer needs the row, not the document: free it here, on this
                // core, rather than in the one write transaction.
                j.doc = Automerge::new();
            }
            (id, j, row)
        },
        |(id, j, row)| {
            write_judged(
                db,
                &id,
                j,
                &BTreeSet::new(),
                None,
                Written::Fresh(row.map(Box::new)),
                me,
                via,
                report,
                now,
            )
        },
    )?;
    for (id, changes) in others {
        if bumped.remove(&id) {
            let mut changes = changes;
            changes.extend(
                db.pending_for(&id)?
                    .into_iter()
                    .filter_map(|p| p.verify().ok()),
            );
            reevaluate(db, &outcome, me, &id, changes, via, report, now)?;
        } else {
            import_doc(db, &judge, me, &id, changes, via, report, now)?;
        }
    }
    for id in bumped {
        reevaluate(db, &outcome, me, &id, Vec::new(), via, report, now)?;
    }
    // A revoked node's change can be a missing link of its chain: what its cut keeps
    // may have grown. Judge the roster and that node's documents again.
    if revoked_authors {
        import_roster(
            db,
            commune,
            me,
            Vec::new(),
            via,
            report,
            &outcome,
            now,
            true,
        )?;
    }
    Ok(())
}
