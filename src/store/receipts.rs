//! SQL of receipts per period: which receipt documents a node holds, and dropping a
//! superseded one whole (issue 11, point 6).
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
use crate::model::{DocId, Kind};

impl Db<'_> {
    /// Every receipt document held (both forms), with its listing view.
    pub fn receipt_views(&self) -> Result<Vec<(DocId, String)>> {
        let mut st = self
            .0
            .prepare_cached("SELECT doc_id, view FROM docs WHERE kind = ?1")?;
        let rows = st.query_map([Kind::Receipt.as_str()], |r| {
            Ok((doc_id_col(r.get(0)?)?, r.get(1)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The receipt documents of `owner` held (both forms), with their listing views
    /// (no snapshot: an import reads these for every batch).
    pub fn receipt_views_of(&self, owner: &NodeId) -> Result<Vec<(DocId, String)>> {
        let mut st = self
            .0
            .prepare_cached("SELECT doc_id, view FROM docs WHERE kind = ?1 AND doc_id LIKE ?2")?;
        let rows = st.query_map(
            rusqlite::params![Kind::Receipt.as_str(), format!("rc-{owner}%")],
            |r| Ok((doc_id_col(r.get(0)?)?, r.get::<_, String>(1)?)),
        )?;
        let out: Vec<(DocId, String)> = rows.collect::<rusqlite::Result<_>>()?;
        Ok(out
            .into_iter()
            .filter(|(d, _)| d.receipt_owner().as_ref() == Some(owner))
            .collect())
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
