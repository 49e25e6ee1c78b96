//! The document cache (`docs` rows and snapshots): loading a document from its
//! snapshot, the documents kept loaded or the change log, and building the row an
//! import writes. The change log is the source of truth; everything here is a cache
//! that can be rebuilt from it, which is why it sits apart from the verdicts.

use super::*;

pub(super) fn state_hash(id: &DocId, heads: &[[u8; 32]]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(id.as_str().as_bytes());
    h.update([0]);
    let mut sorted = heads.to_vec();
    sorted.sort();
    for x in sorted {
        h.update(x);
    }
    let out: [u8; 32] = h.finalize().into();
    out[..16].try_into().expect("16 bytes")
}

pub(super) fn heads_of(doc: &Automerge) -> Vec<[u8; 32]> {
    let mut v: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
    v.sort();
    v
}

/// Loads a document: the copy kept loaded at the heads the store holds, else its
/// saved snapshot plus the changes saved after it (a snapshot may lag: see
/// `snapshot_for`), else a rebuild from the change log (the log is the source of
/// truth; a snapshot that does not load or does not reach the heads is ignored, and
/// the row returned then says there is none, so the next save writes a good one).
pub(super) fn load_doc(db: Db<'_>, id: &DocId) -> Result<(Automerge, Option<DocRow>)> {
    let mut row = db.doc(id)?;
    let Some(r) = row.as_mut() else {
        return Ok((rebuild_doc(db, id)?, row));
    };
    if let Some(doc) = loaded::get(id, &r.heads) {
        return Ok((doc, row));
    }
    if let Snapshot::Stored(_) = r.snapshot {
        if let Some(doc) = snapshot_and_tail(db, id, &r.heads)? {
            return Ok((doc, row));
        }
        tracing::warn!(doc = %id, "snapshot does not load or disagrees with the change log: rebuilt from the log");
        r.snapshot = Snapshot::Absent;
    }
    Ok((rebuild_doc(db, id)?, row))
}

/// The saved snapshot of `id` plus the changes of the log it lacks, if that gives
/// exactly `heads`.
pub(super) fn snapshot_and_tail(
    db: Db<'_>,
    id: &DocId,
    heads: &[[u8; 32]],
) -> Result<Option<Automerge>> {
    let Some(snap) = db.snapshot_data(id)? else {
        return Ok(None);
    };
    let Ok(mut doc) = Automerge::load(&snap) else {
        return Ok(None);
    };
    if heads_of(&doc) != heads {
        let mut tail = Vec::new();
        for h in db.doc_change_hashes(id)? {
            if doc.get_change_meta_by_hash(&ChangeHash(h)).is_none()
                && let Some(c) = db.change_by_hash(&h)?
                && let Ok(c) = automerge::Change::from_bytes(c.signed.bytes)
            {
                tail.push(c);
            }
        }
        if doc.apply_changes(tail).is_err() || heads_of(&doc) != heads {
            return Ok(None);
        }
    }
    Ok(Some(doc))
}

pub(super) fn rebuild_doc(db: Db<'_>, id: &DocId) -> Result<Automerge> {
    let mut doc = Automerge::new();
    let changes: Vec<automerge::Change> = db
        .doc_changes(id)?
        .into_iter()
        .filter_map(|c| automerge::Change::from_bytes(c.signed.bytes).ok())
        .collect();
    doc.apply_changes(changes)
        .map_err(|e| anyhow!("cannot rebuild {id} from its change log: {e}"))?;
    Ok(doc)
}

/// A receipt's view when its rows in `receipt_entries` are exactly its entries, so an
/// import may rewrite only the keys it wrote. Migration 7 leaves '' instead: the rows
/// it made from the old views are read until the next import reads the receipt whole.
pub(super) const RECEIPT_ROWS_IN_STEP: &str = "{}";

/// Documents with fewer changes than this keep no snapshot: rebuilding them from
/// their changes costs about what loading a snapshot does, and saving one is a large
/// part of an import (most notices and requests have one to three changes).
pub(super) const SNAPSHOT_MIN_CHANGES: usize = 4;

/// The snapshot to write for a document of `changes` changes. `saved`: how many
/// changes the snapshot already saved holds, when the document only grew since it
/// was saved (the import's fast path). A saved snapshot is kept until the changes
/// after it reach a quarter of those in it (at least `SNAPSHOT_MIN_CHANGES`): saving
/// is O(document), so saving at every import made a batch into a receipt of 100,000
/// entries cost as much as the receipt; this way a document is saved O(log n) times
/// as it grows, and a load applies at most a quarter more changes than it reads.
pub(super) fn snapshot_for(doc: &Automerge, changes: usize, saved: Option<i64>) -> Snapshot {
    if changes < SNAPSHOT_MIN_CHANGES {
        return Snapshot::Absent;
    }
    if let Some(saved) = saved {
        let saved = saved.max(0) as usize;
        let after = changes.saturating_sub(saved);
        if saved > 0 && after < SNAPSHOT_MIN_CHANGES.max(saved / 4) {
            return Snapshot::Keep;
        }
    }
    // Uncompressed: the snapshot is a local cache, and deflating it cost more than
    // anything else on the import path (zlib state set-up per save; see BENCHMARKS.md).
    Snapshot::Saved(doc.save_nocompress(), changes as i64)
}

/// Writes the cache row of a document after an import that only added changes to
/// it (`saved`: the row's snapshot before; `keys`: see `build_row_keys`), and keeps
/// the document loaded when it is large.
#[allow(clippy::too_many_arguments)]
pub(super) fn save_doc(
    db: Db<'_>,
    id: &DocId,
    doc: Automerge,
    keys: Option<BTreeSet<String>>,
    saved: Option<i64>,
    first_seq: i64,
    last_seq: i64,
) -> Result<()> {
    let changes = doc.get_changes_meta(&[]).len();
    let mut row = build_row_keys(id, &doc, keys)?;
    row.snapshot = snapshot_for(&doc, changes, saved);
    row.first_seq = first_seq;
    row.last_seq = last_seq;
    db.put_doc(&row)?;
    if changes >= loaded::MIN_CHANGES {
        loaded::put(id, row.heads, doc);
    }
    Ok(())
}

/// The cache row of a document (log positions left at 0): pure CPU work.
pub(super) fn build_row(id: &DocId, doc: &Automerge) -> Result<DocRow> {
    let mut row = build_row_keys(id, doc, None)?;
    row.snapshot = snapshot_for(doc, doc.get_changes_meta(&[]).len(), None);
    Ok(row)
}

/// The cache row of a document, its snapshot left as saved (`Snapshot::Keep`). For a
/// receipt, `keys` (when known) are the only entries that changed since the row was
/// last written, and only they are read and rewritten.
pub(super) fn build_row_keys(
    id: &DocId,
    doc: &Automerge,
    keys: Option<BTreeSet<String>>,
) -> Result<DocRow> {
    let heads = heads_of(doc);
    let kind = id.kind();
    let (view, code, sort_at, urgent) = match kind {
        Kind::Notice => {
            let n = read_notice(id, doc);
            (
                serde_json::to_string(&n)?,
                None,
                n.updated_at.max(n.created_at),
                n.urgent && !n.withdrawn,
            )
        }
        Kind::Procedure => {
            let p = read_procedure(id, doc);
            (serde_json::to_string(&p)?, None, p.created_at, false)
        }
        Kind::Request => {
            let r = read_request(id, doc);
            let code = (!r.code.is_empty()).then(|| r.code.clone());
            let mut v = serde_json::to_value(&r)?;
            v["has_contact"] = r.contact_sealed.is_some().into();
            (v.to_string(), code, r.created_at, false)
        }
        Kind::Roster => (serde_json::to_string(&read_roster(doc))?, None, 0, false),
        // The entries go to their own table (`entries` below), not into the view.
        Kind::Receipt => (RECEIPT_ROWS_IN_STEP.to_string(), None, 0, false),
        Kind::Health => {
            let h = model::health::read_health(id, doc);
            let at = h.published_at.unwrap_or(0);
            (serde_json::to_string(&h)?, None, at, false)
        }
        // A release the office approved: read here (`repo::release`).
        Kind::Other if crate::verdict::release::is_release(id) => super::release::row_view(id, doc),
        // A kind a later version adds: carried, not read.
        Kind::Other => ("{}".to_string(), None, 0, false),
    };
    Ok(DocRow {
        id: id.clone(),
        kind,
        priority: priority(kind, urgent),
        state_hash: state_hash(id, &heads),
        heads,
        snapshot: Snapshot::Keep,
        view,
        code,
        sort_at,
        last_seq: 0,
        first_seq: 0,
        entries: (kind == Kind::Receipt).then(|| match keys {
            Some(k) => EntryRows::Keys(model::schema::receipt_entries_of(doc, k)),
            None => EntryRows::All(model::schema::receipt_entries(doc)),
        }),
    })
}

pub(super) fn parse_view<T: serde::de::DeserializeOwned>(views: Vec<String>) -> Vec<T> {
    views
        .into_iter()
        .filter_map(|v| serde_json::from_str(&v).ok())
        .collect()
}
