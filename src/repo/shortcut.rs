//! Judging a document's new changes without re-evaluating it, where the outcome of a
//! full evaluation (`verdict::doc::evaluate` over everything held) is known without
//! running it: changes built on a void change of the same document are void, and a
//! receipt's changes contest only the one change of its line at their depth. Each
//! shortcut costs what the changes received weigh (bounded by the receipt cap), not
//! what the document holds — void forks included (issue 21 review). `judge::import_doc`
//! tries them before `judge::reevaluate`; the test
//! `verdicts::receipt_forks_judged_one_at_a_time_end_as_a_full_evaluation` checks them
//! against the full evaluation.

use super::*;

/// Dependencies among the changes of one queue, by position: what each waits for in
/// the queue, and who waits for each.
struct QueueGraph {
    index: BTreeMap<[u8; 32], usize>,
    waiting_on: Vec<usize>,
    children: BTreeMap<usize, Vec<usize>>,
}

impl QueueGraph {
    fn of(queue: &[VerifiedChange]) -> QueueGraph {
        let index: BTreeMap<[u8; 32], usize> = queue
            .iter()
            .enumerate()
            .map(|(i, c)| (c.hash.0, i))
            .collect();
        let mut waiting_on = vec![0usize; queue.len()];
        let mut children: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, c) in queue.iter().enumerate() {
            for d in c.change.deps() {
                if let Some(&j) = index.get(&d.0) {
                    waiting_on[i] += 1;
                    children.entry(j).or_default().push(i);
                }
            }
        }
        QueueGraph {
            index,
            waiting_on,
            children,
        }
    }
}

/// Sets aside the changes of `queue` built on a change of this document that is void
/// (in quarantine, or set aside just before), whose other dependencies are held in it:
/// a full evaluation finds each void for that dependency and nothing else moved (a void
/// change takes part in no contest and creates no request), so none is needed — a small
/// change built on a void fork costs its own weight, not the document's (issue 21
/// review). Dependencies count only in `id`: a hash held in another document is not
/// one of this document's changes (the change waits, as a full evaluation leaves it).
/// One pass over a worklist keyed by dependency, whatever the order of `queue`.
/// Returns the rest.
pub(super) fn void_by_dependency(
    db: Db<'_>,
    id: &DocId,
    queue: Vec<VerifiedChange>,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<Vec<VerifiedChange>> {
    let n = queue.len();
    let QueueGraph {
        index,
        mut waiting_on,
        children,
    } = QueueGraph::of(&queue);
    let (mut on_void, mut held) = (vec![false; n], vec![true; n]);
    for (i, c) in queue.iter().enumerate() {
        for d in c.change.deps() {
            if index.contains_key(&d.0) {
                // Judged with the queue: counted in `waiting_on`.
                continue;
            }
            if db.in_quarantine_of(id, &d.0)? {
                on_void[i] = true;
            } else if !db.has_change_in(id, &d.0)? {
                held[i] = false;
            }
        }
    }
    let mut work: Vec<usize> = (0..n)
        .filter(|&i| on_void[i] && held[i] && waiting_on[i] == 0)
        .collect();
    let mut void = vec![false; n];
    while let Some(i) = work.pop() {
        void[i] = true;
        for &k in children.get(&i).map(Vec::as_slice).unwrap_or(&[]) {
            waiting_on[k] -= 1;
            on_void[k] = true;
            if held[k] && waiting_on[k] == 0 {
                work.push(k);
            }
        }
    }
    let mut rest = Vec::with_capacity(n);
    for (i, c) in queue.into_iter().enumerate() {
        if !void[i] {
            rest.push(c);
            continue;
        }
        db.remove_pending(&c.hash.0)?;
        if !db.quarantine(
            &c.hash.0,
            &c.signed,
            &c.author,
            verdict::roster::DEPENDS_ON_VOID,
            via,
            now,
        )? {
            report.overflow = true;
        }
        report.quarantined += 1;
        report
            .void_reasons
            .push(verdict::roster::DEPENDS_ON_VOID.to_string());
    }
    Ok(rest)
}

/// `queue`'s changes in an order where each comes after those of `queue` it depends
/// on (Kahn's algorithm, ready ones by hash); dependencies outside `queue` do not hold
/// a change back.
fn in_causal_order(queue: Vec<VerifiedChange>) -> Vec<VerifiedChange> {
    let QueueGraph {
        mut waiting_on,
        children,
        ..
    } = QueueGraph::of(&queue);
    let mut ready: BTreeSet<([u8; 32], usize)> = (0..queue.len())
        .filter(|&i| waiting_on[i] == 0)
        .map(|i| (queue[i].hash.0, i))
        .collect();
    let mut order = Vec::with_capacity(queue.len());
    while let Some((_, i)) = ready.pop_first() {
        order.push(i);
        for &k in children.get(&i).map(Vec::as_slice).unwrap_or(&[]) {
            waiting_on[k] -= 1;
            if waiting_on[k] == 0 {
                ready.insert((queue[k].hash.0, k));
            }
        }
    }
    // A cycle cannot be hashed; anything left over keeps its place at the end.
    let mut slots: Vec<Option<VerifiedChange>> = queue.into_iter().map(Some).collect();
    let mut out: Vec<VerifiedChange> = order.iter().filter_map(|&i| slots[i].take()).collect();
    out.extend(slots.into_iter().flatten());
    out
}

/// A receipt's new changes judged one at a time, in causal order, against its line
/// alone. A receipt's valid changes are a line (forks are twins by depth,
/// `verdict::doc::twin_keys`), so each change's contest is with the one change of the
/// line at its depth — the first the line holds after the change's dependencies: the
/// change, if valid, wins by hash as in `verdict::doc::evaluate`, and then that change
/// and the line after it are void; with no change at its depth it extends the line.
/// Nothing set aside can change that outcome (a fork set aside at that depth lost to a
/// smaller hash than any winner's, and nothing held builds on a change that was not
/// held), so each step is the full evaluation's outcome for the set so far, and so is
/// the last — without replaying every fork held, void ones included (issue 21 review:
/// 648 ms for a 319-byte fork with 24 capped forks held). Each change costs at most
/// the line (≤ the receipt cap). Returns the changes it could not judge this way (the
/// line is not a line), for a full evaluation.
#[allow(clippy::too_many_arguments)]
pub(super) fn receipt_line(
    db: Db<'_>,
    judge: &verdict::doc::Judge<'_>,
    me: &NodeId,
    id: &DocId,
    queue: Vec<VerifiedChange>,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<Vec<VerifiedChange>> {
    if queue.is_empty() {
        return Ok(queue);
    }
    let owner = id.receipt_owner();
    let mut doc = load_doc(db, id)?.0;
    let mut queue = in_causal_order(queue).into_iter();
    while let Some(c) = queue.next() {
        let deps = c.change.deps().to_vec();
        let (mut on_void, mut missing) = (false, false);
        for d in &deps {
            if db.has_change_in(id, &d.0)? {
                continue;
            }
            if db.in_quarantine_of(id, &d.0)? {
                on_void = true;
            } else {
                missing = true;
            }
        }
        if missing {
            // Waits, as a full evaluation leaves it (nothing else depends on it).
            if db.add_pending_by(&c.hash.0, &c.signed, &c.author, via, now)? {
                report.pending += 1;
            } else {
                report.overflow = true;
            }
            continue;
        }
        if on_void {
            let rest = void_by_dependency(db, id, vec![c], via, report, now)?;
            debug_assert!(rest.is_empty());
            continue;
        }
        // The line from `c`'s depth on (the change at its depth first), if it is one.
        let after: Vec<automerge::Change> = doc.get_changes(&deps);
        // A line: within `after`, each change depends on the one before it and on
        // nothing later (other dependencies, further back, are allowed: a change may
        // name an ancestor again).
        let future: BTreeMap<ChangeHash, usize> = after
            .iter()
            .enumerate()
            .map(|(i, x)| (x.hash(), i))
            .collect();
        let line = after.iter().enumerate().all(|(i, x)| {
            let inside: Vec<usize> = x
                .deps()
                .iter()
                .filter_map(|d| future.get(d).copied())
                .collect();
            match i {
                0 => inside.is_empty(),
                _ => inside == [i - 1],
            }
        });
        if !line {
            return Ok(std::iter::once(c).chain(queue).collect());
        }
        let rival = after
            .first()
            .filter(|_| owner == Some(c.author))
            .map(|r| r.hash().0);
        let rebuild = || rebuild_doc(db, id).unwrap_or_default();
        let mut probe = if after.is_empty() {
            doc.clone()
        } else if deps.is_empty() {
            Automerge::new()
        } else {
            match doc.fork_at(&deps) {
                Ok(d) => d,
                Err(_) => {
                    return Ok(std::iter::once(c).chain(queue).collect());
                }
            }
        };
        let mut judged = verdict::doc::Judged {
            passes: 1,
            ..verdict::doc::Judged::empty()
        };
        // The document before this change, for re-issuing our own work it voids.
        let mut old_doc: Option<Automerge> = None;
        let verdict = verdict::doc::judge_one(id, judge, &mut probe, &c, &rebuild);
        if owner != Some(c.author) && matches!(verdict, verdict::doc::Verdict::Valid) {
            // Not the line's writer (the rules refuse that): not judged here.
            return Ok(std::iter::once(c).chain(queue).collect());
        }
        // `evaluate` walks twins in hash order: the second of the pair finds the
        // first and flags the author, if the first was valid.
        if let Some(r) = rival
            && (c.hash.0 > r || matches!(verdict, verdict::doc::Verdict::Valid))
        {
            judged.equivocators.insert(c.author);
        }
        match (verdict, rival) {
            (verdict::doc::Verdict::Valid, Some(r)) if c.hash.0 > r => {
                judged
                    .void
                    .push((c.clone(), verdict::doc::EQUIVOCATION_LOSER.into()));
            }
            (verdict::doc::Verdict::Valid, _) => {
                // Extends the line, or wins: the rival and the line after it are void.
                let dropped: BTreeSet<[u8; 32]> = after.iter().map(|x| x.hash().0).collect();
                if !dropped.is_empty() {
                    let rows = db
                        .doc_changes(id)?
                        .into_iter()
                        .filter(|r| dropped.contains(&r.hash))
                        .collect();
                    for v in reverify(rows) {
                        let why = if Some(v.hash.0) == rival {
                            verdict::doc::EQUIVOCATION_LOSER
                        } else {
                            verdict::roster::DEPENDS_ON_VOID
                        };
                        judged.void.push((v, why.into()));
                    }
                }
                judged.valid.push(c.clone());
                judged.doc = probe.clone();
                old_doc = Some(std::mem::replace(&mut doc, probe));
            }
            (verdict::doc::Verdict::Void(why), _) => judged.void.push((c.clone(), why)),
            (verdict::doc::Verdict::Refused(why, hostile), _) => {
                judged.refused.push((c.clone(), why, hostile))
            }
        }
        let valid_before: BTreeSet<[u8; 32]> = after.iter().map(|x| x.hash().0).collect();
        write_judged(
            db,
            id,
            judged,
            &valid_before,
            old_doc.as_ref().or(Some(&doc)),
            Written::Held,
            me,
            via,
            report,
            now,
        )?;
    }
    Ok(Vec::new())
}
