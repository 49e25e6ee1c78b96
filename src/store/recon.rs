//! SQL of set reconciliation (sync protocol 2): every query the sync layer needs
//! about the set of stored changes, in one place.
//!
//! `recon_items` gives each stored change its reconciliation key (priority class,
//! author's time, leaf = first 16 bits of its hash); `recon_nodes` holds the hash and
//! count of every non-empty node of the per-class 16-ary trie (`sync::recon`).
//! Triggers on `changes` (migration 4) queue new rows and mark the leaves of deleted
//! or updated rows dirty; `recon_refresh` then keys the queued changes (it has to
//! parse them, which SQL cannot) and rehashes the dirty leaves and their ancestors,
//! bottom-up, so each stored change costs one leaf and `DEPTH` inner nodes — never a
//! scan of the set. It runs lazily, before sync reads the trie, in one transaction.
//!
//! Only *valid* changes belong to the set: every query that reads the set goes
//! through `VALID`, the one place that filters rows of `changes` (alias `c`).

use std::collections::BTreeSet;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};

use super::{Db, doc_id_col, hash32};
use crate::identity::NodeId;
use crate::model::SignedChange;
use crate::sync::recon::{self, DEPTH, ItemKey, NodeRef, NodeSum};

/// The condition a row of `changes` (alias `c`) must meet to be in the set. Every row
/// is: `changes` holds exactly the valid set (what is void waits in `quarantine`, see
/// `repo`), and the triggers of migration 5 keep the trie in step when a row leaves.
macro_rules! valid {
    () => {
        "1 = 1"
    };
}
const VALID: &str = valid!();
/// The queued changes with their bytes, to key them. `CROSS JOIN` fixes the loop
/// order: left to itself, SQLite's planner scanned all of `changes` and probed the
/// (small) queue, an O(set) read at every batch (~50 ms at 100,000 changes).
const QUEUED: &str =
    "SELECT q.hash, c.doc_id, c.bytes FROM recon_queue q CROSS JOIN changes c ON c.hash = q.hash";
/// The items of one leaf. (The queries below are constants for the plan test;
/// `valid!` is `VALID` as a literal.)
const LEAF: &str = concat!(
    "SELECT r.hash FROM recon_items r CROSS JOIN changes c ON c.hash = r.hash
     WHERE r.class = ?1 AND r.leaf = ?2 AND ",
    valid!(),
    " ORDER BY r.hash"
);
/// Items under a node, in (class, time, hash) order.
const ITEMS: &str = concat!(
    "SELECT r.class, r.time, r.hash FROM recon_items r CROSS JOIN changes c ON c.hash = r.hash
     WHERE r.class = ?1 AND r.leaf BETWEEN ?2 AND ?3 AND ",
    valid!(),
    " ORDER BY r.time, r.hash"
);
/// Items stored after a log position.
const SINCE: &str = concat!(
    "SELECT r.class, r.time, r.hash, c.via IS NULL FROM changes c
     CROSS JOIN recon_items r ON r.hash = c.hash
     WHERE c.seq > ?1 AND (c.via IS NULL OR c.via != ?2) AND ",
    valid!(),
    " ORDER BY c.seq"
);

/// The class roots: one point lookup per class on the primary key (class, depth, prefix).
/// `WHERE depth = 0` alone scanned every node of the trie (~70,000 rows per class at
/// 100,000 changes), which made a no-op session cost ~7 ms of CPU per side.
const CLASS_ROOTS: &str = "SELECT class, count, hash FROM recon_nodes
     WHERE class IN (0, 1, 2, 3, 4, 5, 6) AND depth = 0 AND prefix = 0 ORDER BY class";

// `CLASS_ROOTS` lists every class: a class left out would be stored and never synced.
const _: () = assert!(recon::CLASSES == 7);

fn row_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<ItemKey> {
    Ok(ItemKey {
        class: r.get(0)?,
        time: r.get(1)?,
        hash: hash32(r.get(2)?),
    })
}

impl Db<'_> {
    /// Anything queued or dirty? (Cheap: the common case between batches is "no".)
    pub fn recon_stale(&self) -> Result<bool> {
        Ok(self.0.query_row(
            "SELECT EXISTS(SELECT 1 FROM recon_queue) OR EXISTS(SELECT 1 FROM recon_dirty)",
            [],
            |r| r.get(0),
        )?)
    }

    /// Keys queued changes and rehashes dirty nodes. Call inside a write transaction.
    pub fn recon_refresh(&self) -> Result<()> {
        let queued: Vec<(Vec<u8>, String, Vec<u8>)> = {
            let mut st = self.0.prepare_cached(QUEUED)?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (hash, doc, bytes) in queued {
            let hash = hash32(hash);
            let doc = doc_id_col(doc)?;
            // A row that does not parse (a damaged store) still joins the set, keyed
            // by its document alone, so the two sides' sets stay comparable.
            let (class, time) = match recon::item_key(&doc, &bytes) {
                Some(k) => (k.class, k.time),
                None => (
                    crate::model::priority(doc.kind(), false).min(recon::CLASSES - 1),
                    0,
                ),
            };
            let leaf = recon::leaf_of(&hash);
            self.0
                .prepare_cached(
                    "INSERT OR REPLACE INTO recon_items(hash, class, time, leaf) VALUES(?1, ?2, ?3, ?4)",
                )?
                .execute(params![&hash[..], class, time, leaf])?;
            self.0
                .prepare_cached("INSERT OR IGNORE INTO recon_dirty(class, leaf) VALUES(?1, ?2)")?
                .execute(params![class, leaf])?;
        }
        self.0.execute("DELETE FROM recon_queue", [])?;
        let dirty: Vec<(u8, u16)> = {
            let mut st = self
                .0
                .prepare_cached("SELECT class, leaf FROM recon_dirty")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        self.0.execute("DELETE FROM recon_dirty", [])?;
        let mut parents: BTreeSet<(u8, u16)> = BTreeSet::new();
        for (class, leaf) in dirty {
            let node = NodeRef {
                class,
                depth: DEPTH,
                prefix: leaf,
            };
            let hashes: Vec<[u8; 32]> = {
                let mut st = self.0.prepare_cached(LEAF)?;
                let rows = st.query_map(params![class, leaf], |r| Ok(hash32(r.get(0)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let sum = NodeSum {
                count: hashes.len() as u64,
                hash: recon::leaf_hash(node, &hashes),
            };
            self.put_recon_node(node, &sum)?;
            parents.insert((class, leaf >> 4));
        }
        for depth in (0..DEPTH).rev() {
            let mut next = BTreeSet::new();
            for (class, prefix) in parents {
                let node = NodeRef {
                    class,
                    depth,
                    prefix,
                };
                let kids = self.recon_children(node)?;
                let sum = NodeSum {
                    count: kids.iter().map(|(_, s)| s.count).sum(),
                    hash: recon::inner_hash(node, &kids),
                };
                self.put_recon_node(node, &sum)?;
                if depth > 0 {
                    next.insert((class, prefix >> 4));
                }
            }
            parents = next;
        }
        Ok(())
    }

    fn put_recon_node(&self, node: NodeRef, sum: &NodeSum) -> Result<()> {
        if sum.count == 0 {
            self.0
                .prepare_cached(
                    "DELETE FROM recon_nodes WHERE class = ?1 AND depth = ?2 AND prefix = ?3",
                )?
                .execute(params![node.class, node.depth, node.prefix])?;
        } else {
            self.0
                .prepare_cached(
                    "INSERT OR REPLACE INTO recon_nodes(class, depth, prefix, count, hash)
                     VALUES(?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    node.class,
                    node.depth,
                    node.prefix,
                    sum.count as i64,
                    &sum.hash[..]
                ])?;
        }
        Ok(())
    }

    pub fn recon_node(&self, node: NodeRef) -> Result<NodeSum> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT count, hash FROM recon_nodes WHERE class = ?1 AND depth = ?2 AND prefix = ?3",
            )?
            .query_row(params![node.class, node.depth, node.prefix], |r| {
                Ok(NodeSum {
                    count: r.get::<_, i64>(0)? as u64,
                    hash: hash32(r.get(1)?),
                })
            })
            .optional()?
            .unwrap_or_default())
    }

    /// Every non-empty class root.
    pub fn recon_classes(&self) -> Result<Vec<(u8, NodeSum)>> {
        let mut st = self.0.prepare_cached(CLASS_ROOTS)?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get(0)?,
                NodeSum {
                    count: r.get::<_, i64>(1)? as u64,
                    hash: hash32(r.get(2)?),
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Non-empty children of an inner node: (nibble, sum), by nibble.
    pub fn recon_children(&self, node: NodeRef) -> Result<Vec<(u8, NodeSum)>> {
        let lo = (node.prefix as i64) << 4;
        let mut st = self.0.prepare_cached(
            "SELECT prefix, count, hash FROM recon_nodes
             WHERE class = ?1 AND depth = ?2 AND prefix BETWEEN ?3 AND ?4 ORDER BY prefix",
        )?;
        let rows = st.query_map(params![node.class, node.depth + 1, lo, lo + 15], |r| {
            Ok((
                (r.get::<_, i64>(0)? & 15) as u8,
                NodeSum {
                    count: r.get::<_, i64>(1)? as u64,
                    hash: hash32(r.get(2)?),
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every item under a node, in (class, time, hash) order.
    pub fn recon_items(&self, node: NodeRef) -> Result<Vec<ItemKey>> {
        let (lo, hi) = node.leaf_range();
        let mut st = self.0.prepare_cached(ITEMS)?;
        let rows = st.query_map(params![node.class, lo, hi], row_key)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The item of a change in the set, by its hash (`None`: not in the set).
    pub fn recon_key(&self, hash: &[u8; 32]) -> Result<Option<ItemKey>> {
        Ok(self
            .0
            .prepare_cached(concat!(
                "SELECT r.class, r.time, r.hash FROM recon_items r CROSS JOIN changes c ON c.hash = r.hash
                 WHERE r.hash = ?1 AND ",
                valid!()
            ))?
            .query_row([&hash[..]], row_key)
            .optional()?)
    }

    /// The `n` items stored last, newest first.
    pub fn recon_recent(&self, n: usize) -> Result<Vec<ItemKey>> {
        let mut st = self.0.prepare_cached(&format!(
            "SELECT r.class, r.time, r.hash FROM changes c JOIN recon_items r ON r.hash = c.hash
             WHERE {VALID} ORDER BY c.seq DESC LIMIT ?1"
        ))?;
        let rows = st.query_map([n as i64], row_key)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Items stored after log position `after`, except those received from
    /// `skip_via`; `true` when this node wrote the change itself.
    pub fn recon_since(&self, after: i64, skip_via: &NodeId) -> Result<Vec<(ItemKey, bool)>> {
        let mut st = self.0.prepare_cached(SINCE)?;
        let rows = st.query_map(params![after, &skip_via.0[..]], |r| {
            Ok((row_key(r)?, r.get(3)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A change of the set by hash.
    pub fn recon_change(&self, hash: &[u8; 32]) -> Result<Option<SignedChange>> {
        Ok(self
            .0
            .prepare_cached(&format!(
                "SELECT c.doc_id, c.bytes, c.sig FROM changes c WHERE c.hash = ?1 AND {VALID}"
            ))?
            .query_row([&hash[..]], |r| {
                Ok(SignedChange {
                    doc: doc_id_col(r.get(0)?)?,
                    bytes: r.get(1)?,
                    sig: r.get::<_, Vec<u8>>(2)?.try_into().unwrap_or([0; 64]),
                })
            })
            .optional()?)
    }

    /// Count and hash of the whole set (tests and `status`).
    pub fn recon_set(&self) -> Result<NodeSum> {
        Ok(recon::set_hash(&self.recon_classes()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's plan of `sql` (parameters bound to NULL), one line per step.
    fn plan(db: Db<'_>, sql: &str) -> Vec<String> {
        let mut st = db.0.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; st.parameter_count()];
        st.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// Regression (no-op CPU at 100,000 changes): the class roots are found through
    /// the primary key, never by scanning the trie.
    #[test]
    fn class_roots_are_read_by_key_not_by_scanning_the_trie() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let plan = plan(store.read(), CLASS_ROOTS);
        assert!(
            plan.iter().all(|p| !p.starts_with("SCAN")),
            "query plan scans: {plan:?}"
        );
        assert!(plan.iter().any(|p| p.starts_with("SEARCH")), "{plan:?}");
    }

    /// Regression (W7 at 100,000: every batch read the whole change log): the queries
    /// run at every batch — keying queued changes, rehashing a leaf, listing a node's
    /// items, announcing what is new — never scan the log or the item table; only
    /// the queue, which holds just what the batch added, may be walked whole.
    #[test]
    fn per_batch_sync_index_queries_never_scan_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let db = store.read();
        for (name, sql) in [
            ("queued", QUEUED),
            ("leaf", LEAF),
            ("items", ITEMS),
            ("since", SINCE),
        ] {
            let plan = plan(db, sql);
            assert!(
                plan.iter()
                    .all(|p| !p.starts_with("SCAN") || p == "SCAN q" || p.contains("TEMP B-TREE")),
                "{name}: query plan scans: {plan:?}"
            );
        }
    }
}
