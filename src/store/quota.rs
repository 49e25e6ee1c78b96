//! Storage for the daily quota of new requests: each creation that counts, with the
//! day it counts on (its effective day, `verdict::quota`), and what that day is read
//! from — the chain links of its author, with their days — and the officials' newest
//! evidence day that bounds forward dating.

use anyhow::Result;
use rusqlite::params;

use super::{Db, StoredChange, doc_id_col, hash32, row_change};
use crate::identity::NodeId;
use crate::model::DocId;
use crate::verdict::quota::ChainNode;

/// One of an author's changes as the quota sees it, with the day its creation is
/// ranked on now (`None` if it is no counted creation).
pub type QuotaRow = (ChainNode, Option<i64>);

impl Db<'_> {
    /// Records a creation that counts, ranked on `day` until its effective day is
    /// settled. Returns whether it was new to the ranking.
    pub fn record_creation(
        &self,
        hash: &[u8; 32],
        author: &NodeId,
        day: i64,
        time: i64,
        doc: &DocId,
    ) -> Result<bool> {
        let n = self
            .0
            .prepare_cached(
                "INSERT OR IGNORE INTO creations(hash, author, day, time, doc_id) VALUES(?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![&hash[..], &author.0[..], day, time, doc.as_str()])?;
        Ok(n > 0)
    }

    /// The creations of `author` in the quota ranking.
    pub fn creations_of(&self, author: &NodeId) -> Result<Vec<[u8; 32]>> {
        let mut st = self
            .0
            .prepare_cached("SELECT hash FROM creations WHERE author = ?1")?;
        let rows = st.query_map([&author.0[..]], |r| Ok(hash32(r.get(0)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Does `author` have a creation in the ranking?
    pub fn has_creations(&self, author: &NodeId) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("SELECT 1 FROM creations WHERE author = ?1 LIMIT 1")?
            .exists([&author.0[..]])?)
    }

    /// Every author with a creation in the ranking.
    pub fn authors_with_creations(&self) -> Result<Vec<NodeId>> {
        let mut st = self
            .0
            .prepare_cached("SELECT DISTINCT author FROM creations")?;
        let rows = st.query_map([], |r| Ok(NodeId(hash32(r.get(0)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Takes a creation out of the quota ranking (it no longer counts).
    pub fn forget_creation(&self, hash: &[u8; 32]) -> Result<()> {
        self.0
            .prepare_cached("DELETE FROM creations WHERE hash = ?1")?
            .execute([&hash[..]])?;
        Ok(())
    }

    /// Requests `author` created that count on `day` (held, valid or not).
    pub fn creations_on(&self, author: &NodeId, day: i64) -> Result<usize> {
        let n: i64 = self
            .0
            .prepare_cached("SELECT COUNT(*) FROM creations WHERE author = ?1 AND day = ?2")?
            .query_row(params![&author.0[..], day], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// The creations of `author` counted on `day`, with their documents.
    pub fn creations_in(&self, author: &NodeId, day: i64) -> Result<Vec<([u8; 32], DocId)>> {
        let mut st = self
            .0
            .prepare_cached("SELECT hash, doc_id FROM creations WHERE author = ?1 AND day = ?2")?;
        let rows = st.query_map(params![&author.0[..], day], |r| {
            Ok((hash32(r.get(0)?), doc_id_col(r.get(1)?)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest day `author` counts on, below `below`.
    pub fn newest_creation_day(&self, author: &NodeId, below: i64) -> Result<Option<i64>> {
        Ok(self
            .0
            .prepare_cached("SELECT MAX(day) FROM creations WHERE author = ?1 AND day < ?2")?
            .query_row(params![&author.0[..], below], |r| r.get(0))?)
    }

    /// The day a creation counts on, if it is in the ranking.
    pub fn creation_day(&self, hash: &[u8; 32]) -> Result<Option<i64>> {
        let mut st = self
            .0
            .prepare_cached("SELECT day FROM creations WHERE hash = ?1")?;
        let mut rows = st.query_map([&hash[..]], |r| r.get(0))?;
        Ok(rows.next().transpose()?)
    }

    /// Moves a creation to the day it counts on.
    pub fn set_creation_day(&self, hash: &[u8; 32], day: i64) -> Result<()> {
        self.0
            .prepare_cached("UPDATE creations SET day = ?2 WHERE hash = ?1")?
            .execute(params![&hash[..], day])?;
        Ok(())
    }

    /// Creations by `author` on `day` ranked past `quota` (by time, then hash).
    pub fn over_quota(&self, author: &NodeId, day: i64, quota: usize) -> Result<Vec<[u8; 32]>> {
        let mut st = self.0.prepare_cached(
            "SELECT hash FROM creations WHERE author = ?1 AND day = ?2
             ORDER BY time, hash LIMIT -1 OFFSET ?3",
        )?;
        let rows = st.query_map(params![&author.0[..], day, quota as i64], |r| {
            Ok(hash32(r.get(0)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `author`'s changes held here (valid or set aside; not receipts, chains of their
    /// own) and its counted creations,
    /// as the quota reads them: chain link, evidence day (valid changes only — what
    /// is set aside here differs between nodes) and claimed day of a creation.
    pub fn quota_rows(&self, author: &NodeId) -> Result<Vec<QuotaRow>> {
        let mut st = self.0.prepare_cached(
            "SELECT l.hash, l.prev,
                    CASE WHEN l.evidence = 1 AND EXISTS(SELECT 1 FROM changes c WHERE c.hash = l.hash)
                         THEN l.day END,
                    cr.time, cr.day, 1
             FROM links l LEFT JOIN creations cr ON cr.hash = l.hash
             WHERE l.author = ?1 AND l.evidence < 2
             UNION ALL
             SELECT cr.hash, NULL, NULL, cr.time, cr.day, 0 FROM creations cr
             WHERE cr.author = ?1 AND NOT EXISTS(SELECT 1 FROM links l WHERE l.hash = cr.hash)",
        )?;
        let rows = st.query_map([&author.0[..]], |r| {
            let time: Option<i64> = r.get(3)?;
            Ok((
                ChainNode {
                    hash: hash32(r.get(0)?),
                    prev: r.get::<_, Option<Vec<u8>>>(1)?.map(hash32),
                    evidence: r.get(2)?,
                    creation: time.map(|t| t.div_euclid(86_400)),
                    chained: r.get(5)?,
                },
                r.get(4)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest evidence day among `author`'s valid changes.
    pub fn newest_evidence_day(&self, author: &NodeId) -> Result<Option<i64>> {
        let mut st = self.0.prepare_cached(
            "SELECT l.day FROM links l
             WHERE l.author = ?1 AND l.evidence = 1 AND l.day IS NOT NULL
               AND EXISTS(SELECT 1 FROM changes c WHERE c.hash = l.hash)
             ORDER BY l.day DESC LIMIT 1",
        )?;
        let mut rows = st.query_map([&author.0[..]], |r| r.get(0))?;
        Ok(rows.next().transpose()?)
    }

    /// Up to `limit` held changes whose chain link has no day yet (written before
    /// days were kept): filled in once, on the first open after the upgrade.
    pub fn links_without_day(&self, limit: usize) -> Result<Vec<StoredChange>> {
        let mut st = self.0.prepare_cached(
            "SELECT c.seq, c.hash, c.doc_id, c.bytes, c.sig FROM links l JOIN changes c ON c.hash = l.hash
             WHERE l.day IS NULL
             UNION ALL
             SELECT q.rowid, q.hash, q.doc_id, q.bytes, q.sig FROM links l JOIN quarantine q ON q.hash = l.hash
             WHERE l.day IS NULL
             LIMIT ?1",
        )?;
        let rows = st.query_map([limit as i64], row_change)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Does a held chain link other than `hash`'s name `prev` as its predecessor?
    pub fn has_other_successor(&self, prev: &[u8; 32], hash: &[u8; 32]) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("SELECT 1 FROM links WHERE prev = ?1 AND hash != ?2 LIMIT 1")?
            .exists(params![&prev[..], &hash[..]])?)
    }

    /// A change whose day is quota evidence entered or left the log with something
    /// held after it on its line: its author's creations may move
    /// (`repo::quota::finish` settles it).
    pub fn note_evidence_moved(&self, hash: &[u8; 32]) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT OR IGNORE INTO quota_dirty(author)
                 SELECT author FROM links WHERE hash = ?1 AND evidence = 1
                   AND EXISTS(SELECT 1 FROM links n WHERE n.prev = ?1)",
            )?
            .execute([&hash[..]])?;
        Ok(())
    }

    /// Leaves `author` to be settled by the next import.
    pub fn note_quota_dirty(&self, author: &NodeId) -> Result<()> {
        self.0
            .prepare_cached("INSERT OR IGNORE INTO quota_dirty(author) VALUES(?1)")?
            .execute([&author.0[..]])?;
        Ok(())
    }

    /// The authors `note_evidence_moved` noted, forgotten as they are read.
    pub fn take_quota_dirty(&self) -> Result<Vec<NodeId>> {
        let mut st = self.0.prepare_cached("SELECT author FROM quota_dirty")?;
        let rows: Vec<NodeId> = st
            .query_map([], |r| Ok(NodeId(hash32(r.get(0)?))))?
            .collect::<rusqlite::Result<_>>()?;
        self.0.execute("DELETE FROM quota_dirty", [])?;
        Ok(rows)
    }

    /// Sets the day of a chain link written before days were kept.
    pub fn set_link_day(&self, hash: &[u8; 32], day: i64, evidence: i64) -> Result<()> {
        self.0
            .prepare_cached("UPDATE links SET day = ?2, evidence = ?3 WHERE hash = ?1")?
            .execute(params![&hash[..], day, evidence])?;
        Ok(())
    }
}
