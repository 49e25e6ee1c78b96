//! SQLite storage: the only module that knows SQL.
//!
//! The signed change log (`changes`) is the source of truth. `docs` caches, per
//! document, the saved Automerge bytes, heads and a JSON view for listing; all of it
//! can be rebuilt from the log. WAL mode lets the CLI write while `serve` or the app
//! runs on the same data dir; `synchronous=FULL` because a resident who was told
//! "sent" must never lose the request to a power cut.

mod migrations;
mod quota;
mod verdicts;
pub use verdicts::{
    Link, MAX_PENDING_PER_AUTHOR, MAX_QUARANTINE_PER_AUTHOR, MAX_REASON_CHARS, PENDING_TTL_SECS,
    VerdictSets,
};
mod receipts;
pub use receipts::EntryRows;
mod recon;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::identity::NodeId;
use crate::model::{DocId, Kind, SignedChange};

pub use migrations::migrations;

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "conglang.sqlite3";

/// Upper bound on changes parked while waiting for dependencies; a peer that would
/// push past it is cut off (see `sync`).
pub const MAX_PENDING: i64 = 20_000;
/// Keys whose hostile changes are counted (`Db::note_hostile`).
pub const MAX_HOSTILE_SENDERS: i64 = 1_000;

pub struct Store {
    conn: Connection,
    path: std::path::PathBuf,
}

/// Bytes free for us on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-param.
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (r == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// Below this, a failed write is reported as a full disk.
const LOW_SPACE: u64 = 2 * 1024 * 1024;

/// Turns SQLite's "disk I/O error" on a full filesystem into words a person can act on.
fn explain(e: anyhow::Error, path: &Path) -> anyhow::Error {
    let dir = path.parent().unwrap_or(path);
    match free_bytes(dir) {
        Some(free) if free < LOW_SPACE => e.context(format!(
            "the disk holding {} is full ({} KiB free): nothing was saved; free some space and try again",
            dir.display(),
            free / 1024
        )),
        _ => e,
    }
}

/// A read or write view of the database (a plain connection or a transaction).
#[derive(Clone, Copy)]
pub struct Db<'a>(&'a Connection);

#[derive(Clone, Debug)]
pub struct DocRow {
    pub id: DocId,
    pub kind: Kind,
    pub priority: u8,
    pub heads: Vec<[u8; 32]>,
    pub state_hash: [u8; 16],
    pub snapshot: Snapshot,
    pub view: String,
    pub code: Option<String>,
    pub sort_at: i64,
    pub last_seq: i64,
    pub first_seq: i64,
    /// A receipt's entries for `put_doc` to write into `receipt_entries` (a receipt's
    /// `view` is empty: its entries live in that table, so an import that adds a few
    /// rewrites a few). `None` on rows read back, and for other kinds.
    pub entries: Option<EntryRows>,
}

/// A document's saved snapshot (table `snapshots`, apart from the cache row so that
/// rewriting the row — every import — never rewrites a snapshot of megabytes).
#[derive(Clone, Debug, PartialEq)]
pub enum Snapshot {
    /// None saved (small documents rebuild from their changes) — on write, any old
    /// one is removed.
    Absent,
    /// On write only: keep the one saved. It may then lag the document; loading
    /// applies the changes it lacks (`repo::load_doc`).
    Keep,
    /// On write: these bytes, holding this many changes.
    Saved(Vec<u8>, i64),
    /// On read: one is saved, holding this many changes; its bytes are read only when
    /// needed (`Db::snapshot_data`), not with every cache row.
    Stored(i64),
}

#[derive(Clone, Debug)]
pub struct StoredChange {
    pub seq: i64,
    pub hash: [u8; 32],
    pub signed: SignedChange,
}

/// Summary entry: a document and its heads.
#[derive(Clone, Debug)]
pub struct DocHeads {
    pub id: DocId,
    pub priority: u8,
    pub heads: Vec<[u8; 32]>,
    pub last_seq: i64,
    /// Log position of the document's first change here: a document first seen
    /// after a peer's cursor cannot be known to that peer through us.
    pub first_seq: i64,
}

#[derive(Clone, Debug)]
pub struct PeerRow {
    pub node: NodeId,
    pub addrs: String,
    pub last_seen: Option<i64>,
    pub last_synced: Option<i64>,
    pub cursor: i64,
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(15))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Checkpoint every 4,000 pages (16 MiB of WAL) rather than SQLite's 1,000: a large
    // import then copies the B-tree pages it rewrites at every commit (interior nodes,
    // the sync index) into the database once per few batches, not once per batch.
    conn.pragma_update(None, "wal_autocheckpoint", 4000)?;
    // Statement journals (every insert into `changes` has one: its trigger keeps the
    // sync index) in memory, not in a temporary file: they hold the few pages one
    // statement touches, and writing them to a file cost a third of each insert.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir` and migrates it to the latest
    /// schema.
    pub fn open(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        Self::open_file(&data_dir.join(DB_FILE), None)
    }

    /// Opens a database file, migrating it to `version` (latest if `None`). Tests use
    /// older versions to prove migrations keep data.
    pub fn open_file(path: &Path, version: Option<usize>) -> Result<Store> {
        let open = || -> Result<Connection> {
            let mut conn = Connection::open(path)
                .with_context(|| format!("cannot open database {}", path.display()))?;
            configure(&conn)?;
            let m = migrations();
            match version {
                None => m.to_latest(&mut conn),
                Some(v) => m.to_version(&mut conn, v),
            }
            .with_context(|| format!("cannot migrate database {}", path.display()))?;
            Ok(conn)
        };
        let conn = open().map_err(|e| explain(e, path))?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Writes a consistent copy of the database to `path` (a new file), as the
    /// installer keeps one before an update (`debian/conglang-update`).
    pub fn backup_to(&self, path: &Path) -> Result<()> {
        if path.exists() {
            bail!("{} exists: not overwriting it", path.display());
        }
        let p = path
            .to_str()
            .ok_or_else(|| anyhow!("{} is not a UTF-8 path", path.display()))?;
        self.conn
            .execute("VACUUM INTO ?1", [p])
            .with_context(|| format!("cannot copy the database to {}", path.display()))?;
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub fn read(&self) -> Db<'_> {
        Db(&self.conn)
    }

    /// Runs `f` in one write transaction (taken immediately, so two processes
    /// serialise instead of failing half-way). Nothing is written if `f` fails.
    pub fn write<R>(&mut self, f: impl FnOnce(Db<'_>) -> Result<R>) -> Result<R> {
        let path = self.path.clone();
        let run = || -> Result<R> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .context("cannot start a write transaction")?;
            let r = f(Db(&tx))?;
            tx.commit().context("cannot commit to the database")?;
            Ok(r)
        };
        run().map_err(|e| explain(e, &path))
    }

    /// Runs SQLite's own consistency check; `ok` when healthy.
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// `PRAGMA data_version` changes when another connection commits: a cheap way for
    /// a running node to notice the CLI wrote something.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }
}

fn hash32(b: Vec<u8>) -> [u8; 32] {
    b.try_into().unwrap_or([0; 32])
}

fn split_heads(b: &[u8]) -> Vec<[u8; 32]> {
    b.chunks_exact(32)
        .map(|c| c.try_into().unwrap_or([0; 32]))
        .collect()
}

fn doc_id_col(s: String) -> rusqlite::Result<DocId> {
    s.parse().map_err(|e: anyhow::Error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

impl<'a> Db<'a> {
    // ---- meta ----
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .0
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.0.execute(
            "INSERT INTO meta(key, value) VALUES(?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    // ---- change log ----
    pub fn has_change(&self, hash: &[u8; 32]) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("SELECT 1 FROM changes WHERE hash = ?1")?
            .exists([&hash[..]])?)
    }

    /// The document a held change (valid, set aside or waiting) belongs to.
    pub fn held_doc(&self, hash: &[u8; 32]) -> Result<Option<String>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT doc_id FROM changes WHERE hash = ?1
                 UNION ALL SELECT doc_id FROM quarantine WHERE hash = ?1
                 UNION ALL SELECT doc_id FROM pending WHERE hash = ?1 LIMIT 1",
            )?
            .query_row([&hash[..]], |r| r.get(0))
            .optional()?)
    }

    /// Is `hash` a valid change of `doc`? (A dependency counts only in its own
    /// document.)
    pub fn has_change_in(&self, doc: &DocId, hash: &[u8; 32]) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("SELECT 1 FROM changes WHERE hash = ?1 AND doc_id = ?2")?
            .exists(params![&hash[..], doc.as_str()])?)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn insert_change(
        &self,
        hash: &[u8; 32],
        c: &SignedChange,
        author: &NodeId,
        actor: &[u8],
        actor_seq: u64,
        via: Option<&NodeId>,
        at: i64,
    ) -> Result<i64> {
        self.0
            .prepare_cached(
                "INSERT INTO changes(hash, doc_id, author, bytes, sig, received_at, via, actor, actor_seq)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                &hash[..],
                c.doc.as_str(),
                &author.0[..],
                &c.bytes,
                &c.sig[..],
                at,
                via.map(|v| v.0.to_vec()),
                actor,
                actor_seq as i64
            ])?;
        let seq = self.0.last_insert_rowid();
        self.note_evidence_moved(hash)?;
        Ok(seq)
    }

    /// The stored change of `doc` with this actor and sequence number, if any.
    pub fn change_at(&self, doc: &DocId, actor: &[u8], actor_seq: u64) -> Result<Option<[u8; 32]>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT hash FROM changes WHERE doc_id = ?1 AND actor = ?2 AND actor_seq = ?3",
            )?
            .query_row(params![doc.as_str(), actor, actor_seq as i64], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()?
            .map(hash32))
    }

    pub fn doc_changes(&self, doc: &DocId) -> Result<Vec<StoredChange>> {
        let mut st = self.0.prepare_cached(
            "SELECT seq, hash, doc_id, bytes, sig FROM changes WHERE doc_id = ?1 ORDER BY seq",
        )?;
        let rows = st.query_map([doc.as_str()], row_change)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The bytes of a document's saved snapshot.
    pub fn snapshot_data(&self, id: &DocId) -> Result<Option<Vec<u8>>> {
        Ok(self
            .0
            .prepare_cached("SELECT data FROM snapshots WHERE doc_id = ?1")?
            .query_row([id.as_str()], |r| r.get(0))
            .optional()?)
    }

    /// The hashes of a document's valid changes (no bytes read).
    pub fn doc_change_hashes(&self, doc: &DocId) -> Result<Vec<[u8; 32]>> {
        let mut st = self
            .0
            .prepare_cached("SELECT hash FROM changes WHERE doc_id = ?1")?;
        let rows = st.query_map([doc.as_str()], |r| Ok(hash32(r.get(0)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn change_by_hash(&self, hash: &[u8; 32]) -> Result<Option<StoredChange>> {
        Ok(self
            .0
            .prepare_cached("SELECT seq, hash, doc_id, bytes, sig FROM changes WHERE hash = ?1")?
            .query_row([&hash[..]], row_change)
            .optional()?)
    }

    pub fn delete_change(&self, hash: &[u8; 32]) -> Result<()> {
        self.0
            .execute("DELETE FROM changes WHERE hash = ?1", [&hash[..]])?;
        self.note_evidence_moved(hash)?;
        Ok(())
    }

    /// Changes of the given documents, in log order.
    pub fn changes_of_docs(&self, docs: &[DocId]) -> Result<Vec<StoredChange>> {
        let mut out = Vec::new();
        for d in docs {
            out.extend(self.doc_changes(d)?);
        }
        Ok(out)
    }

    pub fn max_seq(&self) -> Result<i64> {
        Ok(self
            .0
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| {
                r.get(0)
            })?)
    }

    pub fn change_count(&self) -> Result<i64> {
        Ok(self
            .0
            .query_row("SELECT COUNT(*) FROM changes", [], |r| r.get(0))?)
    }

    // ---- documents ----
    pub fn doc(&self, id: &DocId) -> Result<Option<DocRow>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT d.doc_id, d.kind, d.priority, d.heads, d.state_hash, s.doc_id IS NOT NULL, d.view, d.code,
                        d.sort_at, d.last_seq, d.first_seq, s.changes
                 FROM docs d LEFT JOIN snapshots s ON s.doc_id = d.doc_id WHERE d.doc_id = ?1",
            )?
            .query_row([id.as_str()], row_doc)
            .optional()?)
    }

    /// Priority and heads of a document, without its snapshot and view: what sync
    /// and import ask for every document they touch.
    pub fn doc_brief(&self, id: &DocId) -> Result<Option<(u8, Vec<[u8; 32]>)>> {
        Ok(self
            .0
            .prepare_cached("SELECT priority, heads FROM docs WHERE doc_id = ?1")?
            .query_row([id.as_str()], |r| {
                Ok((r.get(0)?, split_heads(&r.get::<_, Vec<u8>>(1)?)))
            })
            .optional()?)
    }

    pub fn doc_by_code(&self, code: &str) -> Result<Option<DocRow>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT d.doc_id, d.kind, d.priority, d.heads, d.state_hash, s.doc_id IS NOT NULL, d.view, d.code,
                        d.sort_at, d.last_seq, d.first_seq, s.changes
                 FROM docs d LEFT JOIN snapshots s ON s.doc_id = d.doc_id WHERE d.code = ?1",
            )?
            .query_row([code], row_doc)
            .optional()?)
    }

    pub fn put_doc(&self, d: &DocRow) -> Result<()> {
        let heads: Vec<u8> = d.heads.iter().flatten().copied().collect();
        self.0
            .prepare_cached(
                "INSERT INTO docs(doc_id, kind, priority, heads, state_hash, snapshot, view, code, sort_at, last_seq, first_seq)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT(doc_id) DO UPDATE SET kind=excluded.kind, priority=excluded.priority,
                   heads=excluded.heads, state_hash=excluded.state_hash, snapshot=excluded.snapshot,
                   view=excluded.view, code=excluded.code, sort_at=excluded.sort_at, last_seq=excluded.last_seq,
                   first_seq=excluded.first_seq",
            )?
            .execute(params![
                d.id.as_str(),
                d.kind.as_str(),
                d.priority,
                heads,
                &d.state_hash[..],
                None::<Vec<u8>>,
                d.view,
                d.code,
                d.sort_at,
                d.last_seq,
                d.first_seq
            ])?;
        match &d.snapshot {
            Snapshot::Keep | Snapshot::Stored(_) => {}
            Snapshot::Absent => {
                self.0
                    .prepare_cached("DELETE FROM snapshots WHERE doc_id = ?1")?
                    .execute([d.id.as_str()])?;
            }
            Snapshot::Saved(data, changes) => {
                self.0
                    .prepare_cached(
                        "INSERT OR REPLACE INTO snapshots(doc_id, changes, data) VALUES(?1, ?2, ?3)",
                    )?
                    .execute(params![d.id.as_str(), changes, data])?;
            }
        }
        if let Some(e) = &d.entries {
            self.put_receipt_entries(&d.id, e)?;
        }
        Ok(())
    }

    pub fn delete_doc(&self, id: &DocId) -> Result<()> {
        self.0
            .execute("DELETE FROM docs WHERE doc_id = ?1", [id.as_str()])?;
        Ok(())
    }

    /// JSON views of every document of a kind, newest first.
    pub fn views(&self, kind: Kind) -> Result<Vec<String>> {
        let mut st = self.0.prepare_cached(
            "SELECT view FROM docs WHERE kind = ?1 ORDER BY sort_at DESC, doc_id",
        )?;
        let rows = st.query_map([kind.as_str()], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn count_by_kind(&self) -> Result<Vec<(String, i64)>> {
        let mut st = self
            .0
            .prepare_cached("SELECT kind, COUNT(*) FROM docs GROUP BY kind ORDER BY kind")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn code_exists(&self, code: &str) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("SELECT 1 FROM docs WHERE code = ?1")?
            .exists([code])?)
    }

    /// XOR of every document's state hash, and the number of documents: equal
    /// digests mean equal heads everywhere (up to a 2^-128 accident).
    pub fn digest(&self) -> Result<([u8; 16], u64)> {
        let mut st = self.0.prepare_cached("SELECT state_hash FROM docs")?;
        let mut rows = st.query([])?;
        let mut acc = [0u8; 16];
        let mut n = 0u64;
        while let Some(r) = rows.next()? {
            let h: Vec<u8> = r.get(0)?;
            for (a, b) in acc.iter_mut().zip(h.iter()) {
                *a ^= b;
            }
            n += 1;
        }
        Ok((acc, n))
    }

    /// Heads of every document (or only those changed after log position `since`),
    /// most urgent first.
    pub fn doc_heads(&self, since: i64) -> Result<Vec<DocHeads>> {
        let mut st = self.0.prepare_cached(
            "SELECT doc_id, priority, heads, last_seq, first_seq FROM docs WHERE last_seq > ?1
             ORDER BY priority, sort_at DESC, doc_id",
        )?;
        let rows = st.query_map([since], row_heads)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Documents with changes after log position `since` that did not come from
    /// `skip_via` (a peer already holds what it sent us), most urgent first.
    pub fn docs_changed_since(
        &self,
        since: i64,
        skip_via: Option<&NodeId>,
    ) -> Result<Vec<DocHeads>> {
        let skip = skip_via.map(|v| v.0.to_vec()).unwrap_or_default();
        let mut st = self.0.prepare_cached(
            "SELECT doc_id, priority, heads, last_seq, first_seq FROM docs WHERE doc_id IN (
                 SELECT DISTINCT doc_id FROM changes WHERE seq > ?1 AND (via IS NULL OR via != ?2))
             ORDER BY priority, sort_at DESC, doc_id",
        )?;
        let rows = st.query_map(params![since, skip], row_heads)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// This node's own changes to `doc` after log position `since`.
    pub fn local_changes_since(&self, doc: &DocId, since: i64) -> Result<Vec<StoredChange>> {
        let mut st = self.0.prepare_cached(
            "SELECT seq, hash, doc_id, bytes, sig FROM changes
             WHERE doc_id = ?1 AND seq > ?2 AND via IS NULL ORDER BY seq",
        )?;
        let rows = st.query_map(params![doc.as_str(), since], row_change)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    // ---- pending (dependencies not here yet) ----
    pub fn add_pending(
        &self,
        hash: &[u8; 32],
        c: &SignedChange,
        via: Option<&NodeId>,
        at: i64,
    ) -> Result<bool> {
        let n: i64 = self
            .0
            .query_row("SELECT COUNT(*) FROM pending", [], |r| r.get(0))?;
        if n >= MAX_PENDING {
            return Ok(false);
        }
        self.0
            .prepare_cached(
                "INSERT OR IGNORE INTO pending(hash, doc_id, bytes, sig, via, received_at)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &hash[..],
                c.doc.as_str(),
                &c.bytes,
                &c.sig[..],
                via.map(|v| v.0.to_vec()),
                at
            ])?;
        Ok(true)
    }

    pub fn pending_for(&self, doc: &DocId) -> Result<Vec<SignedChange>> {
        let mut st = self
            .0
            .prepare_cached("SELECT doc_id, bytes, sig FROM pending WHERE doc_id = ?1")?;
        let rows = st.query_map([doc.as_str()], |r| {
            Ok(SignedChange {
                doc: doc_id_col(r.get(0)?)?,
                bytes: r.get(1)?,
                sig: r.get::<_, Vec<u8>>(2)?.try_into().unwrap_or([0; 64]),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn remove_pending(&self, hash: &[u8; 32]) -> Result<()> {
        self.0
            .prepare_cached("DELETE FROM pending WHERE hash = ?1")?
            .execute([&hash[..]])?;
        Ok(())
    }

    pub fn pending_count(&self) -> Result<i64> {
        Ok(self
            .0
            .query_row("SELECT COUNT(*) FROM pending", [], |r| r.get(0))?)
    }

    // ---- refusals ----
    /// Counts a change refused as hostile against `node` (the peer that sent it, or
    /// its author when it came by USB). At most `MAX_HOSTILE_SENDERS` keys are kept,
    /// the least recent dropped first (keys cost a stranger nothing).
    pub fn note_hostile(&self, node: &NodeId, reason: &str, at: i64) -> Result<()> {
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        self.0
            .prepare_cached(
                "INSERT INTO hostile_senders(node, changes, last_at, last_reason) VALUES(?1, 1, ?2, ?3)
                 ON CONFLICT(node) DO UPDATE SET changes = changes + 1,
                     last_at = max(last_at, excluded.last_at), last_reason = excluded.last_reason",
            )?
            .execute(params![&node.0[..], at, reason])?;
        self.0
            .prepare_cached(
                "DELETE FROM hostile_senders WHERE node NOT IN
                 (SELECT node FROM hostile_senders ORDER BY last_at DESC LIMIT ?1)",
            )?
            .execute([MAX_HOSTILE_SENDERS])?;
        Ok(())
    }

    /// Every key counted by `note_hostile`: (key, changes, last time, last reason).
    pub fn hostile_senders(&self) -> Result<Vec<(NodeId, i64, i64, String)>> {
        let mut st = self.0.prepare_cached(
            "SELECT node, changes, last_at, last_reason FROM hostile_senders ORDER BY last_at DESC",
        )?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (node, n, at, why) = row?;
            if let Some(node) = NodeId::from_slice(&node) {
                out.push((node, n, at, why));
            }
        }
        Ok(out)
    }

    pub fn log_rejection(
        &self,
        doc: Option<&DocId>,
        hash: Option<&[u8; 32]>,
        author: Option<&NodeId>,
        via: Option<&NodeId>,
        reason: &str,
        at: i64,
    ) -> Result<()> {
        // A hostile change can carry a 4 MiB field name into its refusal reason.
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        let reason = reason.as_str();
        self.0.execute(
            "INSERT INTO rejected(at, doc_id, hash, author, via, reason) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                at,
                doc.map(|d| d.as_str().to_string()),
                hash.map(|h| h.to_vec()),
                author.map(|a| a.0.to_vec()),
                via.map(|v| v.0.to_vec()),
                reason
            ],
        )?;
        // Keep the audit log bounded: a hostile peer must not fill the disk through it.
        self.0.execute(
            "DELETE FROM rejected WHERE id <= (SELECT MAX(id) FROM rejected) - 10000",
            [],
        )?;
        Ok(())
    }

    pub fn rejection_count(&self) -> Result<i64> {
        Ok(self
            .0
            .query_row("SELECT COUNT(*) FROM rejected", [], |r| r.get(0))?)
    }

    // ---- peers ----
    pub fn peer(&self, node: &NodeId) -> Result<Option<PeerRow>> {
        Ok(self
            .0
            .prepare_cached("SELECT node_id, addrs, last_seen, last_synced, cursor FROM peers WHERE node_id = ?1")?
            .query_row([&node.0[..]], row_peer)
            .optional()?)
    }

    pub fn peers(&self) -> Result<Vec<PeerRow>> {
        let mut st = self
            .0
            .prepare_cached("SELECT node_id, addrs, last_seen, last_synced, cursor FROM peers")?;
        let rows = st.query_map([], row_peer)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn note_peer_addrs(&self, node: &NodeId, addrs: &str) -> Result<()> {
        self.0.execute(
            "INSERT INTO peers(node_id, addrs) VALUES(?1, ?2)
             ON CONFLICT(node_id) DO UPDATE SET addrs = excluded.addrs",
            params![&node.0[..], addrs],
        )?;
        Ok(())
    }

    /// The last `limit` stored changes written by someone other than `me`, newest
    /// first: (author, change bytes). For the clock check against peers' signed
    /// times (fleet health); reads by the primary key, newest rows only.
    pub fn recent_changes_not_by(
        &self,
        me: &NodeId,
        limit: usize,
    ) -> Result<Vec<(NodeId, Vec<u8>)>> {
        let mut st = self.0.prepare_cached(
            "SELECT author, bytes FROM changes WHERE author != ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![&me.0[..], limit as i64], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (a, b) = row?;
            if let Some(n) = NodeId::from_slice(&a) {
                out.push((n, b));
            }
        }
        Ok(out)
    }

    /// Records a completed sync: `cursor` is our log position the peer now holds.
    pub fn note_synced(&self, node: &NodeId, cursor: i64, at: i64) -> Result<()> {
        self.0.execute(
            "INSERT INTO peers(node_id, last_seen, last_synced, cursor) VALUES(?1, ?2, ?2, ?3)
             ON CONFLICT(node_id) DO UPDATE SET last_seen = excluded.last_seen,
               last_synced = excluded.last_synced, cursor = excluded.cursor",
            params![&node.0[..], at, cursor],
        )?;
        Ok(())
    }
}

fn row_change(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredChange> {
    Ok(StoredChange {
        seq: r.get(0)?,
        hash: hash32(r.get(1)?),
        signed: SignedChange {
            doc: doc_id_col(r.get(2)?)?,
            bytes: r.get(3)?,
            sig: r.get::<_, Vec<u8>>(4)?.try_into().unwrap_or([0; 64]),
        },
    })
}

fn row_heads(r: &rusqlite::Row<'_>) -> rusqlite::Result<DocHeads> {
    Ok(DocHeads {
        id: doc_id_col(r.get(0)?)?,
        priority: r.get(1)?,
        heads: split_heads(&r.get::<_, Vec<u8>>(2)?),
        last_seq: r.get(3)?,
        first_seq: r.get(4)?,
    })
}

fn row_doc(r: &rusqlite::Row<'_>) -> rusqlite::Result<DocRow> {
    Ok(DocRow {
        id: doc_id_col(r.get(0)?)?,
        kind: Kind::parse(&r.get::<_, String>(1)?).unwrap_or(Kind::Notice),
        priority: r.get(2)?,
        heads: split_heads(&r.get::<_, Vec<u8>>(3)?),
        state_hash: r.get::<_, Vec<u8>>(4)?.try_into().unwrap_or([0; 16]),
        snapshot: if r.get::<_, bool>(5)? {
            Snapshot::Stored(r.get::<_, Option<i64>>(11)?.unwrap_or(0))
        } else {
            Snapshot::Absent
        },
        view: r.get(6)?,
        code: r.get(7)?,
        sort_at: r.get(8)?,
        last_seq: r.get(9)?,
        first_seq: r.get(10)?,
        entries: None,
    })
}

fn row_peer(r: &rusqlite::Row<'_>) -> rusqlite::Result<PeerRow> {
    Ok(PeerRow {
        node: NodeId::from_slice(&r.get::<_, Vec<u8>>(0)?).unwrap_or(NodeId([0; 32])),
        addrs: r.get(1)?,
        last_seen: r.get(2)?,
        last_synced: r.get(3)?,
        cursor: r.get(4)?,
    })
}
