//! A few large documents kept loaded between imports, so that importing a batch into
//! a receipt of 100,000 entries does not first load and parse all of it.
//!
//! Keyed by document id and heads: heads name the exact set of changes a document
//! holds, so an entry is either exactly the document the store holds or is never
//! matched (a rolled-back import leaves an entry whose heads the store never got).
//! That is why the cache can be process-wide and needs no invalidation. Only documents
//! with many changes are kept (small ones rebuild from their changes faster than a
//! clone), at most `MAX_DOCS` of them, least recently used dropped first.

use std::sync::Mutex;

use automerge::Automerge;

use crate::model::DocId;

/// Documents kept: an import touches one large document at a time (the sending
/// node's receipt), a courier's session with a few kiosks a few more.
const MAX_DOCS: usize = 4;
/// Fewer changes than this: not worth keeping.
pub(super) const MIN_CHANGES: usize = 16;

type Entry = (DocId, Vec<[u8; 32]>, Automerge);

static LOADED: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// A copy of document `id` at exactly `heads`, if kept.
/// (Copied outside the lock: a copy of a large document takes milliseconds, and
/// other imports need not wait for it.)
pub(super) fn get(id: &DocId, heads: &[[u8; 32]]) -> Option<Automerge> {
    let e = {
        let mut v = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        let i = v.iter().position(|(d, h, _)| d == id && h == heads)?;
        v.remove(i)
    };
    let doc = e.2.clone();
    let mut v = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if !v.iter().any(|(d, _, _)| *d == e.0) {
        v.insert(0, e);
        v.truncate(MAX_DOCS);
    }
    Some(doc)
}

/// Keeps `doc` (at `heads`, sorted) as the loaded copy of `id`.
pub(super) fn put(id: &DocId, heads: Vec<[u8; 32]>, doc: Automerge) {
    let mut v = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    v.retain(|(d, _, _)| d != id);
    v.insert(0, (id.clone(), heads, doc));
    v.truncate(MAX_DOCS);
}

#[cfg(test)]
pub(super) fn clear() {
    LOADED.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

#[cfg(test)]
mod tests {
    use super::super::*;

    /// A document's snapshot lags its changes between saves; loading it with nothing
    /// kept in memory (a restart) gives exactly the document the log holds, at every
    /// step, and so does loading the copy kept in memory.
    #[test]
    fn a_lagging_snapshot_plus_its_tail_loads_the_document_the_log_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut repo = Repo::open(dir.path()).unwrap();
        repo.init_commune("Xã Thử", "UBND").unwrap();
        let draft = |i: usize| NoticeDraft {
            title: format!("Lịch họp {i}"),
            body: format!("Nội dung lần {i}"),
            ..Default::default()
        };
        let id = repo.post_notice(&draft(0)).unwrap();
        let mut lagged = 0;
        for i in 1..60 {
            repo.edit_notice(&id, &draft(i)).unwrap();
            let db = repo.store.read();
            let row = db.doc(&id).unwrap().unwrap();
            if let Snapshot::Stored(n) = &row.snapshot
                && (*n as usize) < i + 1
            {
                lagged += 1;
            }
            let rebuilt = rebuild_doc(db, &id).unwrap();
            let (kept, _) = load_doc(db, &id).unwrap();
            super::clear();
            let (cold, _) = load_doc(db, &id).unwrap();
            for doc in [&kept, &cold] {
                assert_eq!(heads_of(doc), row.heads, "edit {i}");
                assert_eq!(heads_of(doc), heads_of(&rebuilt), "edit {i}");
                assert_eq!(
                    read_notice(&id, doc),
                    read_notice(&id, &rebuilt),
                    "edit {i}"
                );
            }
            assert_eq!(
                repo.notice(&id).unwrap().unwrap().title,
                format!("Lịch họp {i}")
            );
        }
        assert!(lagged > 30, "the snapshot lagged at {lagged} of 59 edits");
    }
}
