//! SQL of receipts per period: their entries as rows, which receipt documents a node
//! holds, and dropping a superseded one whole (issue 11, point 6).
//!
//! A receipt's entries live in `receipt_entries`, one row per notice, not in the
//! document's listing view: an import that adds a thousand entries to a receipt of
//! 100,000 writes a thousand rows (`EntryRows::Keys`) instead of re-reading and
//! rewriting the whole receipt. A trigger removes a receipt's rows with its cache row.
//!
//! A receipt superseded by the rule in `model::receipt_superseded` leaves the store
//! entirely — its changes (so the sync index follows, through the triggers on
//! `changes`), its cache row, anything of it pending or in quarantine — so two nodes
//! that applied the rule hold the same set. Its author-chain links (`links`) stay:
//! they are a few bytes per change and the record of which hashes a revocation cut
//! names; nothing else of the node's chain passes through a periodic receipt (see
//! `repo::EditCtx::note_receipts_in`).

use anyhow::Result;

use super::{Db, doc_id_col};
use crate::identity::NodeId;
use crate::model::schema::{Receipt, ReceiptEntry, parse_version};
use crate::model::{DocId, Kind};

/// What `Db::put_doc` writes into `receipt_entries` for one receipt.
#[derive(Clone, Debug)]
pub enum EntryRows {
    /// Every entry: the receipt's rows are replaced (a receipt built whole).
    All(Vec<(String, ReceiptEntry)>),
    /// Only these keys changed (`None`: no readable entry under that key any more).
    Keys(Vec<(String, Option<ReceiptEntry>)>),
}

fn version_col(v: &Option<Vec<String>>) -> Option<String> {
    v.as_ref().map(|h| h.join("."))
}

/// A row of `SELECT doc_id, notice, at, version` (notice and at NULL: a receipt with
/// no entry, from a `LEFT JOIN` of `docs`).
type EntryRow = (DocId, Option<(String, ReceiptEntry)>);

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntryRow> {
    let notice: Option<String> = r.get(1)?;
    let entry = match notice {
        Some(n) => {
            let version: Option<String> = r.get(3)?;
            Some((n, (r.get(2)?, version.as_deref().map(parse_version))))
        }
        None => None,
    };
    Ok((doc_id_col(r.get(0)?)?, entry))
}

/// Rows grouped into one `Receipt` per document, in the order the documents come
/// (rows of one document together), after the `seed` documents (listed even if no
/// row names them).
fn group(seed: Vec<DocId>, rows: Vec<EntryRow>) -> Vec<(DocId, Receipt)> {
    let mut out: Vec<(DocId, Receipt)> =
        seed.into_iter().map(|d| (d, Receipt::default())).collect();
    for (d, entry) in rows {
        let i = match out.iter().rposition(|(x, _)| *x == d) {
            Some(i) => i,
            None => {
                out.push((d, Receipt::default()));
                out.len() - 1
            }
        };
        if let Some((k, e)) = entry {
            out[i].1.insert_entry(k, e);
        }
    }
    out
}

impl Db<'_> {
    pub(super) fn put_receipt_entries(&self, id: &DocId, rows: &EntryRows) -> Result<()> {
        let keys = match rows {
            EntryRows::All(all) => {
                self.0
                    .prepare_cached("DELETE FROM receipt_entries WHERE doc_id = ?1")?
                    .execute([id.as_str()])?;
                all.iter().map(|(k, e)| (k, Some(e))).collect::<Vec<_>>()
            }
            EntryRows::Keys(keys) => keys.iter().map(|(k, e)| (k, e.as_ref())).collect(),
        };
        let mut put = self.0.prepare_cached(
            "INSERT OR REPLACE INTO receipt_entries(doc_id, notice, at, version) VALUES(?1, ?2, ?3, ?4)",
        )?;
        let mut del = self
            .0
            .prepare_cached("DELETE FROM receipt_entries WHERE doc_id = ?1 AND notice = ?2")?;
        for (k, e) in keys {
            match e {
                Some((at, v)) => {
                    put.execute(rusqlite::params![id.as_str(), k, at, version_col(v)])?;
                }
                None => {
                    del.execute(rusqlite::params![id.as_str(), k])?;
                }
            }
        }
        Ok(())
    }

    /// Every receipt document held (both forms), with its entries (none for a
    /// receipt with no readable entry: its owner holds none of the notices).
    pub fn receipt_entries(&self) -> Result<Vec<(DocId, Receipt)>> {
        let mut st = self.0.prepare_cached(
            "SELECT d.doc_id, e.notice, e.at, e.version FROM docs d
             LEFT JOIN receipt_entries e ON e.doc_id = d.doc_id
             WHERE d.kind = ?1 ORDER BY d.doc_id",
        )?;
        let rows = st.query_map([Kind::Receipt.as_str()], entry_row)?;
        Ok(group(Vec::new(), rows.collect::<rusqlite::Result<_>>()?))
    }

    /// The entries for one notice in every receipt held: who holds it, from
    /// which receipt document (O(receipts), not O(entries)).
    pub fn receipt_entries_for(&self, notice: &str) -> Result<Vec<(DocId, Receipt)>> {
        let mut st = self.0.prepare_cached(
            "SELECT doc_id, notice, at, version FROM receipt_entries WHERE notice = ?1 ORDER BY doc_id",
        )?;
        let rows = st.query_map([notice], entry_row)?;
        Ok(group(Vec::new(), rows.collect::<rusqlite::Result<_>>()?))
    }

    /// The receipt documents of `owner` held (both forms; each listed, with or
    /// without entries), with their entries — of every notice, or only of `notices`.
    pub fn receipt_entries_of(
        &self,
        owner: &NodeId,
        notices: Option<&[DocId]>,
    ) -> Result<Vec<(DocId, Receipt)>> {
        let docs = self.receipt_docs_of(owner)?;
        let mut rows = Vec::new();
        for d in &docs {
            match notices {
                None => {
                    let mut st = self.0.prepare_cached(
                        "SELECT doc_id, notice, at, version FROM receipt_entries WHERE doc_id = ?1",
                    )?;
                    let found = st.query_map([d.as_str()], entry_row)?;
                    rows.extend(found.collect::<rusqlite::Result<Vec<_>>>()?);
                }
                Some(ns) => {
                    let mut st = self.0.prepare_cached(
                        "SELECT doc_id, notice, at, version FROM receipt_entries
                         WHERE doc_id = ?1 AND notice = ?2",
                    )?;
                    for n in ns {
                        let found = st.query_map([d.as_str(), n.as_str()], entry_row)?;
                        rows.extend(found.collect::<rusqlite::Result<Vec<_>>>()?);
                    }
                }
            }
        }
        Ok(group(docs, rows))
    }

    /// The receipt documents of `owner` held (both forms).
    pub fn receipt_docs_of(&self, owner: &NodeId) -> Result<Vec<DocId>> {
        // Ids are `rc-<64 lowercase hex>` or that plus `-<period>`: the prefix selects
        // exactly this owner's (hex has no LIKE wildcards).
        let mut st = self
            .0
            .prepare_cached("SELECT doc_id FROM docs WHERE kind = ?1 AND doc_id LIKE ?2")?;
        let rows = st.query_map(
            rusqlite::params![Kind::Receipt.as_str(), format!("rc-{owner}%")],
            |r| doc_id_col(r.get(0)?),
        )?;
        let out: Vec<DocId> = rows.collect::<rusqlite::Result<_>>()?;
        Ok(out
            .into_iter()
            .filter(|d| d.receipt_owner().as_ref() == Some(owner))
            .collect())
    }

    /// The documents of a later kind held whose ids start with `prefix-` (`prefix`
    /// is lowercase letters, so it has no LIKE wildcards).
    pub fn later_docs(&self, prefix: &str) -> Result<Vec<DocId>> {
        debug_assert!(prefix.bytes().all(|b| b.is_ascii_lowercase()));
        let mut st = self.0.prepare_cached(
            "SELECT doc_id FROM docs WHERE kind = ?1 AND doc_id LIKE ?2 ORDER BY doc_id",
        )?;
        let rows = st.query_map(
            rusqlite::params![Kind::Other.as_str(), format!("{prefix}-%")],
            |r| doc_id_col(r.get(0)?),
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Rewrites the cached view of a document (a release cached before this version
    /// read releases).
    pub fn set_doc_view(&self, id: &DocId, view: &str, sort_at: i64) -> Result<()> {
        self.0
            .prepare_cached("UPDATE docs SET view = ?2, sort_at = ?3 WHERE doc_id = ?1")?
            .execute(rusqlite::params![id.as_str(), view, sort_at])?;
        Ok(())
    }

    /// Removes a document and everything of it this store holds: its changes (the
    /// sync index drops them by trigger), its cache row, its pending and quarantined
    /// changes. Returns how many valid changes it had.
    pub fn drop_doc(&self, id: &DocId) -> Result<usize> {
        let n = self
            .0
            .prepare_cached("DELETE FROM changes WHERE doc_id = ?1")?
            .execute([id.as_str()])?;
        for sql in [
            "DELETE FROM docs WHERE doc_id = ?1",
            "DELETE FROM pending WHERE doc_id = ?1",
            "DELETE FROM quarantine WHERE doc_id = ?1",
        ] {
            self.0.prepare_cached(sql)?.execute([id.as_str()])?;
        }
        Ok(n)
    }
}
