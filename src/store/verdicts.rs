//! Storage for verdicts: the quarantine (changes not valid now that may become valid),
//! author chain links (what revocation cuts are read from), the per-author bounded
//! pending buffer, and the equivocators flagged to officials.

use anyhow::Result;
use rusqlite::params;

use super::{Db, StoredChange, doc_id_col, hash32, row_change};
use crate::identity::NodeId;
use crate::model::{DocId, SignedChange};

/// A change hash and its author-chain link (`None` before chains).
pub type Link = ([u8; 32], Option<[u8; 32]>);
/// Hashes of the valid changes and of the quarantined ones.
pub type VerdictSets = (Vec<[u8; 32]>, Vec<[u8; 32]>);

/// Changes waiting for their dependencies, per author.
pub const MAX_PENDING_PER_AUTHOR: i64 = 2_000;
/// Bytes of changes waiting for their dependencies, per author.
pub const MAX_PENDING_BYTES_PER_AUTHOR: i64 = 16 * 1024 * 1024;
/// Pending changes older than this (by local receipt time) are dropped: whoever holds
/// their dependencies will send them again.
pub const PENDING_TTL_SECS: i64 = 14 * 24 * 3600;
/// Quarantined changes kept per author (a revoked key cannot fill the disk).
pub const MAX_QUARANTINE_PER_AUTHOR: i64 = 20_000;
/// Refusal reasons are cut to this many characters before they are logged.
pub const MAX_REASON_CHARS: usize = 300;

/// A `doc_id` of a kind every version since 5 knows (`model::DocId`: `roster`, `n-`,
/// `p-`, `r-`, `rc-`, `hl-`), as SQL: not a kind a later version adds.
macro_rules! known_kind {
    () => {
        "(doc_id = 'roster' OR doc_id GLOB 'n-*' OR doc_id GLOB 'p-*' OR doc_id GLOB 'r-*'
          OR doc_id GLOB 'rc-*' OR doc_id GLOB 'hl-*')"
    };
}

impl Db<'_> {
    // ---- quarantine ----
    pub fn in_quarantine(&self, hash: &[u8; 32]) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("SELECT 1 FROM quarantine WHERE hash = ?1")?
            .exists([&hash[..]])?)
    }

    /// Is `hash` set aside as a change of `doc`?
    pub fn in_quarantine_of(&self, doc: &DocId, hash: &[u8; 32]) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("SELECT 1 FROM quarantine WHERE hash = ?1 AND doc_id = ?2")?
            .exists(rusqlite::params![&hash[..], doc.as_str()])?)
    }

    /// Sets a change aside. Returns false when the author's share is full.
    #[allow(clippy::too_many_arguments)]
    pub fn quarantine(
        &self,
        hash: &[u8; 32],
        c: &SignedChange,
        author: &NodeId,
        reason: &str,
        via: Option<&NodeId>,
        at: i64,
    ) -> Result<bool> {
        // Shares by family: changes of kinds a later version adds fill a share of their
        // own, so a node that holds them sets aside the same known-kind changes as one
        // of the version before, which never holds them.
        let n: i64 = self
            .0
            .prepare_cached(concat!(
                "SELECT COUNT(*) FROM quarantine WHERE author = ?1 AND ",
                known_kind!(),
                " = ?2"
            ))?
            .query_row(
                rusqlite::params![&author.0[..], c.doc.kind() != crate::model::Kind::Other],
                |r| r.get(0),
            )?;
        if n >= MAX_QUARANTINE_PER_AUTHOR {
            return Ok(false);
        }
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        self.0
            .prepare_cached(
                "INSERT INTO quarantine(hash, doc_id, author, bytes, sig, reason, via, received_at)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(hash) DO UPDATE SET reason = excluded.reason",
            )?
            .execute(params![
                &hash[..],
                c.doc.as_str(),
                &author.0[..],
                &c.bytes,
                &c.sig[..],
                reason,
                via.map(|v| v.0.to_vec()),
                at
            ])?;
        Ok(true)
    }

    pub fn unquarantine(&self, hash: &[u8; 32]) -> Result<()> {
        self.0
            .prepare_cached("DELETE FROM quarantine WHERE hash = ?1")?
            .execute([&hash[..]])?;
        Ok(())
    }

    /// Quarantined changes of a document.
    pub fn quarantined_of(&self, doc: &DocId) -> Result<Vec<StoredChange>> {
        let mut st = self.0.prepare_cached(
            "SELECT rowid, hash, doc_id, bytes, sig FROM quarantine WHERE doc_id = ?1 ORDER BY rowid",
        )?;
        let rows = st.query_map([doc.as_str()], row_change)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Does `doc` have changes set aside? (One index probe: `quarantined_of` reads
    /// their bytes.)
    pub fn has_quarantined(&self, doc: &DocId) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("SELECT 1 FROM quarantine WHERE doc_id = ?1 LIMIT 1")?
            .exists([doc.as_str()])?)
    }

    /// Documents holding changes (valid or quarantined) by `author`.
    pub fn docs_touched_by(&self, author: &NodeId) -> Result<Vec<DocId>> {
        let mut st = self.0.prepare_cached(
            "SELECT DISTINCT doc_id FROM changes WHERE author = ?1
             UNION SELECT DISTINCT doc_id FROM quarantine WHERE author = ?1",
        )?;
        let rows = st.query_map([&author.0[..]], |r| doc_id_col(r.get(0)?))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn quarantine_count(&self) -> Result<i64> {
        Ok(self
            .0
            .query_row("SELECT COUNT(*) FROM quarantine", [], |r| r.get(0))?)
    }

    /// Quarantined changes by reason, for `status` and the console.
    pub fn quarantine_reasons(&self) -> Result<Vec<(String, i64)>> {
        let mut st = self.0.prepare_cached(
            "SELECT reason, COUNT(*) FROM quarantine GROUP BY reason ORDER BY 2 DESC LIMIT 20",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    // ---- author chains ----
    /// Notes a change's chain link, with its day and what it is to the quota
    /// (`repo::quota::link_kind`). A row written before days were kept gets them.
    pub fn add_link(
        &self,
        hash: &[u8; 32],
        author: &NodeId,
        prev: Option<&[u8; 32]>,
        day: i64,
        evidence: i64,
    ) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO links(hash, author, prev, day, evidence) VALUES(?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(hash) DO UPDATE SET day = excluded.day, evidence = excluded.evidence
                 WHERE links.day IS NULL",
            )?
            .execute(params![
                &hash[..],
                &author.0[..],
                prev.map(|p| p.to_vec()),
                day,
                evidence
            ])?;
        Ok(())
    }

    /// Forgets the chain link of a change that was refused (never stored).
    pub fn remove_link(&self, hash: &[u8; 32]) -> Result<()> {
        self.0
            .prepare_cached("DELETE FROM links WHERE hash = ?1")?
            .execute([&hash[..]])?;
        Ok(())
    }

    /// Every held change by `author` (valid or quarantined) with its chain link
    /// (`None` for changes made before chains) — except changes of kinds a later
    /// version adds (`Kind::Other`; links with `evidence` 3, `repo::quota::LATER`):
    /// the release before never holds them, so a revocation cut read through one
    /// would keep history here that it voids there, for ever. A change chained
    /// after one starts a line after a gap, on both.
    pub fn links_of(&self, author: &NodeId) -> Result<Vec<Link>> {
        self.links_by(
            concat!(
                "SELECT h.hash, l.prev FROM
                   (SELECT hash FROM changes WHERE author = ?1 AND ",
                known_kind!(),
                " UNION SELECT hash FROM quarantine WHERE author = ?1 AND ",
                known_kind!(),
                " UNION SELECT hash FROM links WHERE author = ?1 AND evidence IS NOT 3) h
                 LEFT JOIN links l ON l.hash = h.hash"
            ),
            author,
        )
    }

    /// Chain links of `author`'s valid changes only: what a revocation cut may name as
    /// heads. A change set aside or waiting here is held by no other node (neither is
    /// forwarded), so a cut naming it would keep the revoked node's history here and
    /// nowhere else (issue 21 review, P1).
    pub fn valid_links_of(&self, author: &NodeId) -> Result<Vec<Link>> {
        self.links_by(
            concat!(
                "SELECT c.hash, l.prev FROM changes c LEFT JOIN links l ON l.hash = c.hash
                 WHERE c.author = ?1 AND ",
                known_kind!()
            ),
            author,
        )
    }

    /// Rows of (hash, chain link) that `sql` selects for `author` (`?1`).
    fn links_by(&self, sql: &str, author: &NodeId) -> Result<Vec<Link>> {
        let mut st = self.0.prepare_cached(sql)?;
        let rows = st.query_map([&author.0[..]], |r| {
            Ok((
                hash32(r.get(0)?),
                r.get::<_, Option<Vec<u8>>>(1)?.map(hash32),
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Does a held chain link name `hash` as its predecessor?
    pub fn is_named_as_prev(&self, hash: &[u8; 32]) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("SELECT 1 FROM links WHERE prev = ?1 LIMIT 1")?
            .exists([&hash[..]])?)
    }

    /// Number of chain links held: part of the roster verdict's cache key, since a
    /// link that arrives can bring a revoked node's change inside its cut.
    pub fn link_count(&self) -> Result<i64> {
        Ok(self
            .0
            // Later kinds' links read by no verdict (`links_of`): not counted, so
            // one arriving or leaving neither costs a roster evaluation nor hides
            // a known-kind link that moved in the same import.
            .query_row(
                "SELECT COUNT(*) FROM links WHERE evidence IS NOT 3",
                [],
                |r| r.get(0),
            )?)
    }

    // ---- pending, bounded per author ----
    /// Parks a change of a known member whose dependencies are not here. Returns false
    /// when the author's share is full.
    pub fn add_pending_by(
        &self,
        hash: &[u8; 32],
        c: &SignedChange,
        author: &NodeId,
        via: Option<&NodeId>,
        at: i64,
    ) -> Result<bool> {
        // Already parked (a peer sent it again): it takes no more of the share. Counting
        // it again made a re-sent backlog overflow a share it already fitted in.
        let parked: bool = self
            .0
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM pending WHERE hash = ?1)")?
            .query_row([&hash[..]], |r| r.get(0))?;
        if parked {
            return Ok(true);
        }
        // Shares by family, as in `quarantine`.
        let (n, bytes): (i64, i64) = self
            .0
            .prepare_cached(concat!(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM pending WHERE author = ?1 AND ",
                known_kind!(),
                " = ?2"
            ))?
            .query_row(
                rusqlite::params![&author.0[..], c.doc.kind() != crate::model::Kind::Other],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
        if n >= MAX_PENDING_PER_AUTHOR
            || bytes + c.bytes.len() as i64 > MAX_PENDING_BYTES_PER_AUTHOR
        {
            return Ok(false);
        }
        self.0
            .prepare_cached(
                "INSERT OR IGNORE INTO pending(hash, doc_id, bytes, sig, via, received_at, author, size)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                &hash[..],
                c.doc.as_str(),
                &c.bytes,
                &c.sig[..],
                via.map(|v| v.0.to_vec()),
                at,
                &author.0[..],
                c.bytes.len() as i64
            ])?;
        Ok(true)
    }

    /// Drops pending changes received before `cutoff`, and those of authors who are
    /// not (or no longer) members.
    pub fn expire_pending(&self, cutoff: i64) -> Result<usize> {
        Ok(self
            .0
            .prepare_cached("DELETE FROM pending WHERE received_at < ?1 OR author IS NULL")?
            .execute([cutoff])?)
    }

    /// Pending changes by `author`.
    pub fn pending_by(&self, author: &NodeId) -> Result<Vec<SignedChange>> {
        let mut st = self
            .0
            .prepare_cached("SELECT doc_id, bytes, sig FROM pending WHERE author = ?1")?;
        let rows = st.query_map([&author.0[..]], |r| {
            Ok(SignedChange {
                doc: doc_id_col(r.get(0)?)?,
                bytes: r.get(1)?,
                sig: r.get::<_, Vec<u8>>(2)?.try_into().unwrap_or([0; 64]),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// First and last log positions of a document's valid changes.
    pub fn seq_range(&self, doc: &DocId) -> Result<(i64, i64)> {
        Ok(self.0.prepare_cached(
            "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM changes WHERE doc_id = ?1",
        )?
        .query_row([doc.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?)
    }

    /// Every document id held, in the log or in quarantine.
    pub fn all_doc_ids(&self) -> Result<Vec<DocId>> {
        let mut st = self.0.prepare_cached(
            "SELECT DISTINCT doc_id FROM changes UNION SELECT DISTINCT doc_id FROM quarantine",
        )?;
        let rows = st.query_map([], |r| doc_id_col(r.get(0)?))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Hashes of every valid and every quarantined change (for tests and audits).
    pub fn verdict_sets(&self) -> Result<VerdictSets> {
        let mut st = self
            .0
            .prepare_cached("SELECT hash FROM changes ORDER BY hash")?;
        let valid = st
            .query_map([], |r| Ok(hash32(r.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut st = self
            .0
            .prepare_cached("SELECT hash FROM quarantine ORDER BY hash")?;
        let void = st
            .query_map([], |r| Ok(hash32(r.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok((valid, void))
    }

    // ---- equivocators ----
    pub fn flag_equivocator(&self, author: &NodeId, doc: &DocId, at: i64) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO equivocators(author, doc_id, at) VALUES(?1, ?2, ?3)
                 ON CONFLICT(author) DO NOTHING",
            )?
            .execute(params![&author.0[..], doc.as_str(), at])?;
        Ok(())
    }

    pub fn equivocators(&self) -> Result<Vec<(NodeId, String, i64)>> {
        let mut st = self
            .0
            .prepare_cached("SELECT author, doc_id, at FROM equivocators ORDER BY at")?;
        let rows = st.query_map([], |r| {
            Ok((
                NodeId::from_slice(&r.get::<_, Vec<u8>>(0)?).unwrap_or(NodeId([0; 32])),
                r.get(1)?,
                r.get(2)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{DocId, Kind};

    /// `known_kind!` says of an id what `DocId::kind` says: every kind but `Other`.
    #[test]
    fn known_kind_in_sql_matches_the_id_grammar() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let node = "a".repeat(64);
        let ids = [
            "roster".to_string(),
            format!("n-{}", "1".repeat(16)),
            format!("p-{}", "2".repeat(16)),
            format!("r-{}", "3".repeat(16)),
            format!("r-{}", "3".repeat(32)),
            format!("rc-{node}"),
            format!("rc-{node}-12"),
            format!("hl-{node}"),
            format!("ph-{}", "4".repeat(32)),
            format!("rcx-{}", "4".repeat(32)),
            format!("nn-{}", "4".repeat(32)),
            format!("h-{}", "4".repeat(32)),
        ];
        for s in ids {
            let id: DocId = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            let known: bool = conn
                .query_row(
                    concat!("SELECT ", known_kind!(), " FROM (SELECT ?1 AS doc_id)"),
                    [id.as_str()],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(known, id.kind() != Kind::Other, "{s}");
        }
    }
}
