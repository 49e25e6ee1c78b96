//! Numbered schema migrations. Never edit a released migration: add the next one.
//! `tests/it/store.rs` opens databases at every older version and migrates them.

use rusqlite_migration::{M, Migrations};

pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        // 1: the signed change log (source of truth) and the per-document cache.
        M::up(
            "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE changes(
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 hash BLOB NOT NULL UNIQUE,
                 doc_id TEXT NOT NULL,
                 author BLOB NOT NULL,
                 bytes BLOB NOT NULL,
                 sig BLOB NOT NULL,
                 received_at INTEGER NOT NULL,
                 via BLOB
             );
             CREATE INDEX changes_doc ON changes(doc_id);
             CREATE TABLE docs(
                 doc_id TEXT PRIMARY KEY,
                 kind TEXT NOT NULL,
                 priority INTEGER NOT NULL,
                 heads BLOB NOT NULL,
                 state_hash BLOB NOT NULL,
                 snapshot BLOB,
                 view TEXT NOT NULL,
                 last_seq INTEGER NOT NULL
             );",
        ),
        // 2: what sync needs: index columns for listing and lookup, changes waiting for
        // their dependencies, peers and their cursors, and the audit log of refusals.
        M::up(
            "ALTER TABLE docs ADD COLUMN code TEXT;
             ALTER TABLE docs ADD COLUMN sort_at INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE docs ADD COLUMN first_seq INTEGER NOT NULL DEFAULT 0;
             CREATE INDEX docs_kind ON docs(kind, sort_at);
             CREATE INDEX docs_code ON docs(code) WHERE code IS NOT NULL;
             CREATE INDEX docs_last_seq ON docs(last_seq);
             CREATE INDEX changes_author ON changes(author);
             CREATE TABLE pending(
                 hash BLOB PRIMARY KEY,
                 doc_id TEXT NOT NULL,
                 bytes BLOB NOT NULL,
                 sig BLOB NOT NULL,
                 via BLOB,
                 received_at INTEGER NOT NULL
             );
             CREATE INDEX pending_doc ON pending(doc_id);
             CREATE TABLE peers(
                 node_id BLOB PRIMARY KEY,
                 addrs TEXT NOT NULL DEFAULT '',
                 last_seen INTEGER,
                 last_synced INTEGER,
                 cursor INTEGER NOT NULL DEFAULT 0
             );
             CREATE TABLE rejected(
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 at INTEGER NOT NULL,
                 doc_id TEXT,
                 hash BLOB,
                 author BLOB,
                 via BLOB,
                 reason TEXT NOT NULL
             );",
        ),
        // 3: (actor, sequence number) of each change, to detect equivocation: one key
        // signing two different changes with the same actor and sequence number.
        M::up(
            "ALTER TABLE changes ADD COLUMN actor BLOB;
             ALTER TABLE changes ADD COLUMN actor_seq INTEGER;
             CREATE INDEX changes_actor_seq ON changes(doc_id, actor, actor_seq);",
        ),
        // 4: verdicts from causal history. `changes` holds exactly the valid set;
        // changes that are not valid now but may become valid (revoked past a cut, built
        // on something void, a lost equivocation twin, found invalid when an older store
        // is re-judged) wait in `quarantine`, never forwarded, never lost. `links` are the
        // author chains that revocation cuts are read from. Pending changes carry their
        // author and size so each member's share is bounded. The `rejudge` flag makes the
        // next open re-judge every stored change under the new rules.
        M::up(
            "CREATE TABLE quarantine(
                 hash BLOB PRIMARY KEY,
                 doc_id TEXT NOT NULL,
                 author BLOB NOT NULL,
                 bytes BLOB NOT NULL,
                 sig BLOB NOT NULL,
                 reason TEXT NOT NULL,
                 via BLOB,
                 received_at INTEGER NOT NULL
             );
             CREATE INDEX quarantine_doc ON quarantine(doc_id);
             CREATE INDEX quarantine_author ON quarantine(author);
             CREATE TABLE links(hash BLOB PRIMARY KEY, author BLOB NOT NULL, prev BLOB);
             CREATE INDEX links_author ON links(author);
             ALTER TABLE pending ADD COLUMN author BLOB;
             ALTER TABLE pending ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
             CREATE INDEX pending_author ON pending(author);
             CREATE TABLE equivocators(author BLOB PRIMARY KEY, doc_id TEXT NOT NULL, at INTEGER NOT NULL);
             CREATE TABLE creations(hash BLOB PRIMARY KEY, author BLOB NOT NULL, day INTEGER NOT NULL,
                 time INTEGER NOT NULL, doc_id TEXT NOT NULL);
             CREATE INDEX creations_author_day ON creations(author, day, time, hash);
             INSERT INTO meta(key, value) VALUES('rejudge', '1')
                 ON CONFLICT(key) DO UPDATE SET value = '1';
             INSERT OR IGNORE INTO meta(key, value) VALUES('store_id', lower(hex(randomblob(16))));",
        ),
        // 5 (sync protocol 2, set reconciliation; see `store::recon`): each stored
        // change's reconciliation key, the hashed trie over them, and the triggers that
        // keep it in step with `changes`. Existing changes are queued and keyed by the
        // first sync after the upgrade.
        M::up(
            "CREATE TABLE recon_items(
                 hash BLOB PRIMARY KEY,
                 class INTEGER NOT NULL,
                 time INTEGER NOT NULL,
                 leaf INTEGER NOT NULL
             ) WITHOUT ROWID;
             CREATE INDEX recon_items_leaf ON recon_items(class, leaf);
             CREATE TABLE recon_nodes(
                 class INTEGER NOT NULL,
                 depth INTEGER NOT NULL,
                 prefix INTEGER NOT NULL,
                 count INTEGER NOT NULL,
                 hash BLOB NOT NULL,
                 PRIMARY KEY(class, depth, prefix)
             ) WITHOUT ROWID;
             CREATE TABLE recon_queue(hash BLOB PRIMARY KEY) WITHOUT ROWID;
             CREATE TABLE recon_dirty(
                 class INTEGER NOT NULL,
                 leaf INTEGER NOT NULL,
                 PRIMARY KEY(class, leaf)
             ) WITHOUT ROWID;
             CREATE TRIGGER recon_insert AFTER INSERT ON changes BEGIN
                 INSERT OR IGNORE INTO recon_queue(hash) VALUES(new.hash);
             END;
             CREATE TRIGGER recon_delete AFTER DELETE ON changes BEGIN
                 INSERT OR IGNORE INTO recon_dirty(class, leaf)
                     SELECT class, leaf FROM recon_items WHERE hash = old.hash;
                 DELETE FROM recon_items WHERE hash = old.hash;
                 DELETE FROM recon_queue WHERE hash = old.hash;
             END;
             CREATE TRIGGER recon_update AFTER UPDATE ON changes BEGIN
                 INSERT OR IGNORE INTO recon_dirty(class, leaf)
                     SELECT class, leaf FROM recon_items WHERE hash IN (old.hash, new.hash);
             END;
             INSERT INTO recon_queue(hash) SELECT hash FROM changes;",
        ),
        // 6 (import speed): `changes_actor_seq` (doc_id, actor, actor_seq) already
        // serves every lookup by document; the plain `changes_doc` index only cost a
        // B-tree insert per stored change.
        M::up("DROP INDEX IF EXISTS changes_doc;"),
        // 7 (receipts at O(batch), issue 11): a receipt's entries as rows, so an import
        // that adds a thousand entries to a receipt of 100,000 writes a thousand rows
        // instead of re-reading and rewriting the whole receipt as one JSON view.
        // Filled from the views (`version` NULL: an entry of before versions; '' : a
        // version with no heads), which are then emptied to '' — not the '{}' a row
        // whose entries are in step has (`repo::RECEIPT_ROWS_IN_STEP`): the first import
        // into such a receipt reads it whole, so a view that was stale or not valid
        // JSON costs nothing lasting. Snapshots move to their own
        // table, so rewriting a document's cache row no longer rewrites its snapshot
        // (`changes` 0: not known, the next import of that document saves it again).
        M::up(
            r#"CREATE TABLE receipt_entries(
                 doc_id TEXT NOT NULL,
                 notice TEXT NOT NULL,
                 at INTEGER NOT NULL,
                 version TEXT,
                 PRIMARY KEY(doc_id, notice)
             ) WITHOUT ROWID;
             CREATE INDEX receipt_entries_notice ON receipt_entries(notice);
             CREATE TRIGGER receipt_entries_gone AFTER DELETE ON docs WHEN old.kind = 'receipt' BEGIN
                 DELETE FROM receipt_entries WHERE doc_id = old.doc_id;
             END;
             INSERT OR REPLACE INTO receipt_entries(doc_id, notice, at, version)
                 SELECT d.doc_id, n.key, n.value,
                     CASE WHEN v.type = 'array' THEN
                         coalesce((SELECT group_concat(h.value, '.' ORDER BY h.key)
                                   FROM json_each(v.value) h), '')
                     END
                 FROM (SELECT doc_id, view FROM docs
                       WHERE kind = 'receipt' AND json_valid(view)) d
                 JOIN json_each(d.view, '$.notices') n
                 LEFT JOIN json_each(d.view, '$.versions') v ON v.key = n.key
                 WHERE n.type = 'integer';
             UPDATE docs SET view = '' WHERE kind = 'receipt';
             CREATE TABLE snapshots(
                 doc_id TEXT PRIMARY KEY,
                 changes INTEGER NOT NULL,
                 data BLOB NOT NULL
             );
             INSERT INTO snapshots(doc_id, changes, data)
                 SELECT doc_id, 0, snapshot FROM docs WHERE snapshot IS NOT NULL;
             UPDATE docs SET snapshot = NULL WHERE snapshot IS NOT NULL;
             CREATE TRIGGER snapshots_gone AFTER DELETE ON docs BEGIN
                 DELETE FROM snapshots WHERE doc_id = old.doc_id;
             END;"#,
        ),
        // 8 (the office sees who attacks, issue 21): per key that sent (or, by USB,
        // signed) changes refused as hostile, how many and the last one. Apart from
        // the refusal log, which keeps the last 10,000 rows whoever sent them: a
        // flood must not push an attacker's count out of sight.
        M::up(
            "CREATE TABLE hostile_senders(
                 node BLOB PRIMARY KEY,
                 changes INTEGER NOT NULL,
                 last_at INTEGER NOT NULL,
                 last_reason TEXT NOT NULL
             );",
        ),
        // 9: chain links by the change they name, so an import asks in one probe
        // whether a revoked node's new change is a missing link of its chain (only
        // then can its cut keep more: `repo::import::apply`).
        M::up("CREATE INDEX links_prev ON links(prev);"),
        // 10 (issue 21, fault 8): the day of each chain link and what it is to the
        // quota (`repo::quota::link_kind`: 0 a link only, 1 its day is evidence, 2 a
        // receipt's, outside the key's line). Rows written before have none: the next open
        // fills them from the changes' bytes (`link_days`), then settles every author's
        // creations on their effective days and judges again only the requests that
        // moved past the quota or back (not the whole store: 200 s at W6's size).
        M::up(
            "ALTER TABLE links ADD COLUMN day INTEGER;
             ALTER TABLE links ADD COLUMN evidence INTEGER NOT NULL DEFAULT 0;
             CREATE INDEX links_evidence ON links(author, evidence, day);
             CREATE TABLE quota_dirty(author BLOB PRIMARY KEY) WITHOUT ROWID;
             INSERT OR REPLACE INTO meta(key, value) VALUES('link_days', '1');",
        ),
    ])
}
