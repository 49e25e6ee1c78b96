//! The node's documents: local edits and verified imports over the store.
//!
//! Every change, whether typed here, received from a peer or read from a USB bundle,
//! goes through the same door (`Repo::apply`): envelope verified, author and role
//! checked by `model::rules`, dependencies present, then written to the change log
//! and the document cache in one SQLite transaction. A local edit is just a change
//! this node signs and then imports, so "a kiosk cannot post a notice" is enforced by
//! the very rule that protects everyone else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use automerge::{ActorId, Automerge, AutomergeError, ChangeHash, transaction::CommitOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::{Identity, NodeId};
use std::sync::Arc;

use crate::model::signed::{ChainMeta, VerifiedChange, new_actor};
use crate::model::text::{self, MAX_SHORT_CHARS, MAX_TEXT_CHARS, clean, clean_required};
use crate::model::{self, *};
use crate::store::{Db, DocHeads, DocRow, EntryRows, Snapshot, Store};
use crate::verdict::{self, roster::RosterOutcome};

// Fleet health reports and peer clock offsets (issue 13).
mod health;
pub use health::{DISK_LOW_MB, PeerClock, REFRESH_S};
// The courier's trip tally, kept across restarts (issue 12).
mod trip;
pub use trip::{Trip, TripPeer};
// Receipts per period, old periods dropped (issue 11, point 6).
mod receipts;
// Large documents kept loaded between imports (issue 11, W7).
mod loaded;
// The protocol defines what it needs to know of a refusal; `repo` fills it.
pub use crate::sync::RejectedChange;

/// An invitation to join a commune, printed by `roster add` and read by `join`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Invite {
    pub commune_id: NodeId,
    pub commune_name: String,
    pub node: NodeId,
    pub role: Role,
    pub name: String,
    /// Who to dial first: the enrolling official's node.
    pub via: NodeId,
    /// Addresses of `via`, if its config knows them ("IP:PORT").
    #[serde(default)]
    pub addrs: Vec<String>,
    /// The official-signed roster changes that enrol this node (the whole valid
    /// roster as the official held it): the invite is a proof of membership, so the
    /// node is a member at once, offline, and can prove it to any peer.
    #[serde(default)]
    pub roster: Vec<SignedChange>,
}

const INVITE_PREFIX: &str = "conglang1:";
/// Invites carrying the roster: deflated JSON.
const INVITE2_PREFIX: &str = "conglang2:";
/// Largest invite accepted (the roster of a large commune fits many times over).
const MAX_INVITE_BYTES: usize = 4 * 1024 * 1024;

impl Invite {
    pub fn encode(&self) -> String {
        use base64::Engine;
        use std::io::Write;
        let json = serde_json::to_vec(self).expect("invite serialises");
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&json).expect("in memory");
        let packed = z.finish().expect("in memory");
        format!(
            "{INVITE2_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(packed)
        )
    }
    pub fn decode(s: &str) -> Result<Invite> {
        use base64::Engine;
        use std::io::Read;
        if let Some(body) = s.trim().strip_prefix(INVITE2_PREFIX) {
            let packed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(body)
                .map_err(|_| anyhow!("the invite is damaged (not base64)"))?;
            let mut json = Vec::new();
            flate2::read::DeflateDecoder::new(&packed[..])
                .take(MAX_INVITE_BYTES as u64 + 1)
                .read_to_end(&mut json)
                .map_err(|_| anyhow!("the invite is damaged (bad compression)"))?;
            if json.len() > MAX_INVITE_BYTES {
                bail!("the invite is too large");
            }
            return serde_json::from_slice(&json)
                .map_err(|e| anyhow!("the invite is damaged: {e}"));
        }
        let body = s.trim().strip_prefix(INVITE_PREFIX).ok_or_else(|| {
            anyhow!("not a Cổng Làng invite (it must start with {INVITE_PREFIX})")
        })?;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .context("invite is damaged (bad base64)")?;
        serde_json::from_slice(&json).context("invite is damaged (bad contents)")
    }
}

/// What happened to a batch of incoming changes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub pending: usize,
    pub rejected: Vec<RejectedChange>,
    /// Documents whose heads moved.
    #[serde(skip)]
    pub changed: BTreeSet<DocId>,
    /// Pending buffer full: the sender must be cut off.
    pub overflow: bool,
    /// Changes set aside in quarantine (not valid now; may become valid).
    pub quarantined: usize,
    /// Why, for each of them (a local edit reports it to the user).
    #[serde(skip)]
    pub void_reasons: Vec<String>,
    /// Quarantined changes that became valid again (a revocation fell, a missing
    /// link arrived).
    pub restored: usize,
    /// The roster was touched: sessions must check their peers again.
    pub roster_changed: bool,
    /// Our own changes voided by someone else's trick, to re-issue on the surviving
    /// history: the document, its state before, and the fields to copy from it.
    #[serde(skip)]
    pub reissue: Vec<(DocId, Automerge, Vec<String>)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    pub node_id: NodeId,
    pub commune_id: Option<NodeId>,
    pub commune: Option<String>,
    pub role: Option<Role>,
    pub name: Option<String>,
    pub docs: BTreeMap<String, i64>,
    pub changes: i64,
    pub pending: i64,
    pub rejected: i64,
    /// Changes set aside: not valid now (revoked past a cut, built on something void,
    /// a lost equivocation twin, or found invalid when an older store was re-judged).
    pub quarantined: i64,
    /// Why, with counts.
    pub quarantine_reasons: Vec<(String, i64)>,
    /// Keys caught signing two changes with one actor and sequence number.
    pub equivocators: Vec<String>,
    /// Digest of every document's heads: two nodes with equal digests hold the same.
    pub digest: String,
}

/// A node known to hold a notice, from the receipts that travelled back.
#[derive(Clone, Debug, Serialize)]
pub struct Reach {
    pub node: NodeId,
    pub name: String,
    pub role: Option<Role>,
    pub place: String,
    pub since: i64,
    /// Which version of the notice that node said it holds, compared with ours.
    pub version: HeldVersion,
}

/// A node's version of a notice, as its receipt states it, against this node's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldVersion {
    /// The same heads as ours: it shows what we show (a withdrawal included).
    Latest,
    /// Heads we hold as older changes of the notice: it still shows an earlier
    /// version (for a withdrawn notice: still shows it live).
    Older,
    /// Heads we do not know: it holds a change of the notice we have not received.
    Newer,
    /// A receipt written before receipts carried versions.
    Unknown,
}

pub struct Repo {
    store: Store,
    identity: Identity,
    /// Fresh per process: see `model::signed::ACTOR_LEN`.
    actor: ActorId,
    data_dir: PathBuf,
}

const META_COMMUNE: &str = "commune_id";
/// Hash of the last change this node made: the next one names it (author chain).
const META_CHAIN_HEAD: &str = "chain_head";
/// Set by migration 4: the next open re-judges every stored change.
const META_REJUDGE: &str = "rejudge";
/// Most bytes of inflated changes one import step holds in memory.
const MAX_INFLATED_PER_SLICE: u64 = 32 * 1024 * 1024;
const META_COMMUNE_NAME: &str = "commune_name";

fn state_hash(id: &DocId, heads: &[[u8; 32]]) -> [u8; 16] {
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

fn heads_of(doc: &Automerge) -> Vec<[u8; 32]> {
    let mut v: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
    v.sort();
    v
}

/// Loads a document: the copy kept loaded at the heads the store holds, else its
/// saved snapshot plus the changes saved after it (a snapshot may lag: see
/// `snapshot_for`), else a rebuild from the change log (the log is the source of
/// truth; a snapshot that does not load or does not reach the heads is ignored, and
/// the row returned then says there is none, so the next save writes a good one).
fn load_doc(db: Db<'_>, id: &DocId) -> Result<(Automerge, Option<DocRow>)> {
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
fn snapshot_and_tail(db: Db<'_>, id: &DocId, heads: &[[u8; 32]]) -> Result<Option<Automerge>> {
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

fn rebuild_doc(db: Db<'_>, id: &DocId) -> Result<Automerge> {
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
const RECEIPT_ROWS_IN_STEP: &str = "{}";

/// Documents with fewer changes than this keep no snapshot: rebuilding them from
/// their changes costs about what loading a snapshot does, and saving one is a large
/// part of an import (most notices and requests have one to three changes).
const SNAPSHOT_MIN_CHANGES: usize = 4;

/// The snapshot to write for a document of `changes` changes. `saved`: how many
/// changes the snapshot already saved holds, when the document only grew since it
/// was saved (the import's fast path). A saved snapshot is kept until the changes
/// after it reach a quarter of those in it (at least `SNAPSHOT_MIN_CHANGES`): saving
/// is O(document), so saving at every import made a batch into a receipt of 100,000
/// entries cost as much as the receipt; this way a document is saved O(log n) times
/// as it grows, and a load applies at most a quarter more changes than it reads.
fn snapshot_for(doc: &Automerge, changes: usize, saved: Option<i64>) -> Snapshot {
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
fn save_doc(
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
fn build_row(id: &DocId, doc: &Automerge) -> Result<DocRow> {
    let mut row = build_row_keys(id, doc, None)?;
    row.snapshot = snapshot_for(doc, doc.get_changes_meta(&[]).len(), None);
    Ok(row)
}

/// The cache row of a document, its snapshot left as saved (`Snapshot::Keep`). For a
/// receipt, `keys` (when known) are the only entries that changed since the row was
/// last written, and only they are read and rewritten.
fn build_row_keys(id: &DocId, doc: &Automerge, keys: Option<BTreeSet<String>>) -> Result<DocRow> {
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

fn parse_view<T: serde::de::DeserializeOwned>(views: Vec<String>) -> Vec<T> {
    views
        .into_iter()
        .filter_map(|v| serde_json::from_str(&v).ok())
        .collect()
}

impl Repo {
    pub fn open(data_dir: &Path) -> Result<Repo> {
        let identity = Identity::load_or_create(data_dir)?;
        let store = Store::open(data_dir)?;
        let actor = new_actor(&identity.node_id());
        let mut repo = Repo {
            store,
            identity,
            actor,
            data_dir: data_dir.to_path_buf(),
        };
        if repo.store.read().meta(META_REJUDGE)?.as_deref() == Some("1") {
            let report = repo.rejudge()?;
            if report.quarantined > 0 {
                tracing::warn!(
                    quarantined = report.quarantined,
                    "stored changes that the current rules do not accept were set aside in quarantine (see `conglang status`)"
                );
            }
        }
        Ok(repo)
    }

    /// Judges every stored change again under the current rules (after an upgrade):
    /// changes that fail are set aside in quarantine and reported, never dropped.
    pub fn rejudge(&mut self) -> Result<ImportReport> {
        let commune = self.commune_id()?;
        let me = self.node_id();
        let mut report = ImportReport::default();
        self.store.write(|db| {
            if let Some(commune) = &commune {
                let old = RosterOutcome::default();
                let (outcome, _) = import_roster(
                    db,
                    commune,
                    &me,
                    Vec::new(),
                    None,
                    &mut report,
                    &old,
                    text::now(),
                    true,
                )?;
                for id in db.all_doc_ids()? {
                    if id.kind() != Kind::Roster {
                        reevaluate(
                            db,
                            &outcome,
                            &me,
                            &id,
                            Vec::new(),
                            None,
                            &mut report,
                            text::now(),
                        )?;
                    }
                }
            }
            db.set_meta(META_REJUDGE, "0")
        })?;
        Ok(report)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    pub fn node_id(&self) -> NodeId {
        self.identity.node_id()
    }
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
    pub fn store(&self) -> &Store {
        &self.store
    }

    // ---- commune and roster ----------------------------------------------

    pub fn commune_id(&self) -> Result<Option<NodeId>> {
        Ok(self
            .store
            .read()
            .meta(META_COMMUNE)?
            .and_then(|s| s.parse().ok()))
    }

    pub fn roster(&self) -> Result<Roster> {
        Ok(self
            .store
            .read()
            .doc(&DocId::roster())?
            .and_then(|r| serde_json::from_str(&r.view).ok())
            .unwrap_or_default())
    }

    pub fn commune_name(&self) -> Result<Option<String>> {
        let r = self.roster()?;
        if !r.commune_name.is_empty() {
            return Ok(Some(r.commune_name));
        }
        self.store.read().meta(META_COMMUNE_NAME)
    }

    pub fn my_role(&self) -> Result<Option<Role>> {
        Ok(self.roster()?.active_role(&self.node_id()))
    }

    fn require_role(&self, allowed: &[Role], what: &str) -> Result<Role> {
        let me = self.node_id();
        let roster = self.roster()?;
        match roster.member(&me) {
            None => bail!(
                "this node ({}) is not a member of a commune yet: run `init` or `join` first",
                me.short()
            ),
            Some(m) if m.revoked.is_some() => bail!("this node was revoked and may not {what}"),
            Some(m) if !allowed.contains(&m.role) => {
                bail!(
                    "a {} node may not {what}; only {} may",
                    m.role,
                    list_roles(allowed)
                )
            }
            Some(m) => Ok(m.role),
        }
    }

    /// Founds a commune: this node becomes its first official and its key the commune id.
    pub fn init_commune(&mut self, commune_name: &str, my_name: &str) -> Result<NodeId> {
        let commune_name = clean_required("commune name", commune_name, MAX_SHORT_CHARS)?;
        let my_name = clean_required("name", my_name, MAX_SHORT_CHARS)?;
        if let Some(c) = self.commune_id()? {
            bail!("this data dir already belongs to commune {c}");
        }
        let me = self.node_id();
        self.store.write(|db| {
            db.set_meta(META_COMMUNE, &me.to_string())?;
            db.set_meta(META_COMMUNE_NAME, &commune_name)
        })?;
        let now = text::now();
        let initials = text::initials(&commune_name);
        self.edit(&DocId::roster(), |tx| {
            write_roster_header(tx, &me, &commune_name, &initials, now)?;
            write_member(
                tx,
                &Member {
                    node: me,
                    name: my_name.clone(),
                    role: Role::Official,
                    place: commune_name.clone(),
                    number: 1,
                    added_by: None,
                    added_at: now,
                    revoked: None,
                },
            )
        })?;
        Ok(me)
    }

    /// Enrols a device (officials only) and returns the invite to give it.
    pub fn roster_add(
        &mut self,
        node: NodeId,
        role: Role,
        name: &str,
        place: &str,
        addrs: Vec<String>,
    ) -> Result<Invite> {
        self.require_role(&[Role::Official], "enrol devices")?;
        let name = clean_required("name", name, MAX_SHORT_CHARS)?;
        let place = clean("place", place, MAX_SHORT_CHARS)?;
        let roster = self.roster()?;
        if let Some(m) = roster.member(&node)
            && m.revoked.is_some()
        {
            bail!("node {} was revoked; enrol a new key instead", node.short());
        }
        // An enrolled machine keeps its role for life: another role needs a revocation
        // and a new key (the rules refuse a role change from anyone, on any path).
        let existing = roster.member(&node).cloned();
        if let Some(m) = &existing
            && m.role != role
        {
            bail!(
                "node {} is already enrolled as {}; revoke it and enrol a new key to give it another role",
                node.short(),
                m.role
            );
        }
        let number = roster.next_number();
        let me = self.node_id();
        let now = text::now();
        if existing.is_none() {
            self.edit(&DocId::roster(), |tx| {
                write_member(
                    tx,
                    &Member {
                        node,
                        name: name.clone(),
                        role,
                        place: place.clone(),
                        number,
                        added_by: Some(me),
                        added_at: now,
                        revoked: None,
                    },
                )
            })?;
        }
        Ok(Invite {
            commune_id: self.commune_id()?.expect("member implies commune"),
            commune_name: roster.commune_name,
            node,
            role,
            name,
            via: me,
            addrs,
            roster: self
                .store
                .read()
                .doc_changes(&DocId::roster())?
                .into_iter()
                .map(|c| c.signed)
                .collect(),
        })
    }

    /// Revokes a device (officials only). Its changes this node holds stay valid (the
    /// cut); anything else it signed is refused from now on, everywhere.
    pub fn roster_revoke(&mut self, node: NodeId) -> Result<usize> {
        self.require_role(&[Role::Official], "revoke devices")?;
        let roster = self.roster()?;
        let Some(m) = roster.member(&node) else {
            bail!("node {} is not in the roster", node.short());
        };
        if m.revoked.is_some() {
            bail!("node {} is already revoked", node.short());
        }
        if Some(node) == self.commune_id()? {
            bail!("refusing to revoke the commune's founder: the founder's key is the commune");
        }
        // The cut: the node's chain heads as we hold them, not every hash — a device
        // with 100,000 changes has one head (see `verdict::roster`).
        let links = self.store.read().links_of(&node)?;
        let n = links.len();
        let mut cut = verdict::roster::chain_heads(&links);
        if cut.len() > verdict::roster::MAX_CUT_HEADS {
            // Only changes from before chains (each its own head) can be this many:
            // keep the chain heads and the most recent of the rest.
            tracing::warn!(node = %node.short(), heads = cut.len(), "revocation cut truncated");
            let chained: BTreeSet<[u8; 32]> = links
                .iter()
                .filter(|(_, p)| p.is_some())
                .map(|(h, _)| *h)
                .collect();
            cut.sort_by_key(|h| !chained.contains(h));
            cut.truncate(verdict::roster::MAX_CUT_HEADS);
        }
        let me = self.node_id();
        let now = text::now();
        self.edit(&DocId::roster(), |tx| {
            write_revocation(tx, &node, &me, now, &cut)
        })?;
        Ok(n)
    }

    /// Makes this node a member of the commune named in the invite. The roster itself
    /// arrives with the first sync.
    pub fn join(&mut self, invite: &Invite) -> Result<()> {
        if invite.node != self.node_id() {
            bail!(
                "this invite is for node {}, but this node is {}",
                invite.node.short(),
                self.node_id().short()
            );
        }
        if let Some(c) = self.commune_id()?
            && c != invite.commune_id
        {
            bail!("this data dir already belongs to another commune ({c})");
        }
        let addrs = invite.addrs.join(",");
        self.store.write(|db| {
            db.set_meta(META_COMMUNE, &invite.commune_id.to_string())?;
            db.set_meta(META_COMMUNE_NAME, &invite.commune_name)?;
            db.set_meta("invited_by", &invite.via.to_string())?;
            db.note_peer_addrs(&invite.via, &addrs)
        })?;
        if !invite.roster.is_empty() {
            let report = self.import(invite.roster.clone(), Some(&invite.via))?;
            if let Some(r) = report.rejected.iter().find(|r| r.hostile) {
                bail!("the invite's roster was refused: {}", r.reason);
            }
            let roster = self.roster()?;
            match roster.member(&self.node_id()) {
                Some(m) if m.revoked.is_none() => {}
                Some(_) => bail!("the invite's roster shows this node as revoked"),
                None => bail!("the invite's roster does not enrol this node"),
            }
        }
        Ok(())
    }

    // ---- notices -----------------------------------------------------------

    fn clean_notice(d: &NoticeDraft) -> Result<NoticeDraft> {
        Ok(NoticeDraft {
            title: clean_required("title", &d.title, MAX_SHORT_CHARS)?,
            body: clean("body", &d.body, MAX_TEXT_CHARS)?,
            category: d.category,
            urgent: d.urgent,
            starts: d.starts,
            place: d
                .place
                .as_deref()
                .map(|p| clean("place", p, MAX_SHORT_CHARS))
                .transpose()?,
            valid_until: d.valid_until,
            hamlets: d
                .hamlets
                .iter()
                .map(|h| clean_required("hamlet", h, MAX_SHORT_CHARS))
                .collect::<Result<_>>()?,
        })
    }

    pub fn post_notice(&mut self, draft: &NoticeDraft) -> Result<DocId> {
        self.require_role(&[Role::Official], "post notices")?;
        let d = Self::clean_notice(draft)?;
        let id = DocId::new_random(Kind::Notice);
        let me = self.node_id();
        let now = text::now();
        self.edit(&id, |tx| {
            put_header(tx, Kind::Notice, &me, now)?;
            write_notice(tx, &d, now)
        })?;
        Ok(id)
    }

    pub fn edit_notice(&mut self, id: &DocId, draft: &NoticeDraft) -> Result<()> {
        self.require_role(&[Role::Official], "edit notices")?;
        self.notice(id)?.ok_or_else(|| anyhow!("no notice {id}"))?;
        let d = Self::clean_notice(draft)?;
        let now = text::now();
        self.edit(id, |tx| write_notice(tx, &d, now))
    }

    pub fn withdraw_notice(&mut self, id: &DocId) -> Result<()> {
        self.require_role(&[Role::Official], "withdraw notices")?;
        self.notice(id)?.ok_or_else(|| anyhow!("no notice {id}"))?;
        let now = text::now();
        self.edit(id, |tx| write_withdrawn(tx, now))
    }

    /// Every notice, newest first (withdrawn and expired included; see `Notice::is_live`).
    pub fn notices(&self) -> Result<Vec<Notice>> {
        Ok(parse_view(self.store.read().views(Kind::Notice)?))
    }

    pub fn notice(&self, id: &DocId) -> Result<Option<Notice>> {
        Ok(self
            .store
            .read()
            .doc(id)?
            .filter(|r| r.kind == Kind::Notice)
            .and_then(|r| serde_json::from_str(&r.view).ok()))
    }

    // ---- procedures --------------------------------------------------------

    pub fn add_procedure(
        &mut self,
        title: &str,
        papers: &[String],
        fee: &str,
        days: Option<i64>,
        steps: &[String],
    ) -> Result<DocId> {
        self.require_role(&[Role::Official], "add procedures")?;
        let id = DocId::new_random(Kind::Procedure);
        let now = text::now();
        let p = Procedure {
            id: id.clone(),
            title: clean_required("title", title, MAX_SHORT_CHARS)?,
            papers: papers
                .iter()
                .map(|p| clean("paper", p, MAX_SHORT_CHARS))
                .filter(|p| !matches!(p, Ok(s) if s.is_empty()))
                .collect::<Result<_>>()?,
            fee: clean("fee", fee, MAX_SHORT_CHARS)?,
            days: days.filter(|d| *d >= 0),
            steps: steps
                .iter()
                .map(|p| clean("step", p, MAX_SHORT_CHARS))
                .collect::<Result<_>>()?,
            created_at: now,
        };
        let me = self.node_id();
        self.edit(&id, |tx| {
            put_header(tx, Kind::Procedure, &me, now)?;
            write_procedure(tx, &p)
        })?;
        Ok(id)
    }

    pub fn procedures(&self) -> Result<Vec<Procedure>> {
        let mut v: Vec<Procedure> = parse_view(self.store.read().views(Kind::Procedure)?);
        v.sort_by(|a, b| a.title.cmp(&b.title));
        Ok(v)
    }

    // ---- requests ----------------------------------------------------------

    /// Files a resident's request and returns it with its tracking code.
    pub fn submit_request(&mut self, draft: &RequestDraft) -> Result<Request> {
        self.require_role(
            &[Role::Kiosk, Role::Official, Role::Courier],
            "file requests",
        )?;
        let d = RequestDraft {
            kind: draft.kind,
            hamlet: clean_required("hamlet", &draft.hamlet, MAX_SHORT_CHARS)?,
            name: clean_required("name", &draft.name, MAX_SHORT_CHARS)?,
            text: clean_required("text", &draft.text, MAX_TEXT_CHARS)?,
            phone: draft
                .phone
                .as_deref()
                .map(|p| clean("phone", p, 40))
                .transpose()?
                .filter(|p| !p.is_empty()),
            public: draft.public,
        };
        let roster = self.roster()?;
        let officials: Vec<NodeId> = roster.officials().map(|m| m.node).collect();
        let sealed = match &d.phone {
            Some(p) => Some(model::seal::seal(p, &officials)?),
            None => None,
        };
        let me = self.node_id();
        let number = roster.member(&me).map(|m| m.number).unwrap_or(0);
        let now = text::now();
        // The daily quota is judged by every node (`verdict::doc`); refusing here too
        // keeps this node from pushing its own earlier requests of the day out of it.
        let today = self
            .store
            .read()
            .creations_on(&me, now.div_euclid(86_400))?;
        if today >= verdict::doc::DAILY_REQUEST_QUOTA
            && roster.active_role(&me) != Some(Role::Official)
        {
            bail!(
                "refused: {} ({} today)",
                verdict::doc::OVER_QUOTA,
                verdict::doc::DAILY_REQUEST_QUOTA
            );
        }
        let code = self.new_code(&roster.initials, number)?;
        let id = DocId::new_request(&self.node_id());
        self.edit(&id, |tx| {
            put_header(tx, Kind::Request, &me, now)?;
            write_new_request(tx, &code, &d, sealed.clone())
        })?;
        self.request(&code)?
            .ok_or_else(|| anyhow!("request {code} vanished after saving"))
    }

    /// Tracking codes are `INITIALS-<member number>-dddd-dddd-dddd`, e.g.
    /// `LM-3-4821-0937-5521`: the member number makes codes from different nodes
    /// distinct without any coordination; the twelve digits are random (not a
    /// counter), so a node restored from an old backup does not hand out a code it
    /// already used, a busy kiosk never runs out (10^12 per node) and guessing one
    /// at the kiosks' throttled lookup rate takes years (see `ui::lookup`). Digits
    /// only: residents type them on the kiosk's number page, where Telex cannot
    /// turn a letter into a tone mark.
    fn new_code(&self, initials: &str, number: u32) -> Result<String> {
        let initials = if initials.is_empty() { "CL" } else { initials };
        for _ in 0..200 {
            let g: [u32; 3] = std::array::from_fn(|_| rand::random_range(0..10_000u32));
            let code = format!("{initials}-{number}-{:04}-{:04}-{:04}", g[0], g[1], g[2]);
            if !self.store.read().code_exists(&code)? {
                return Ok(code);
            }
        }
        bail!("could not find a free tracking code")
    }

    /// Sets the status of several requests at once (officials only), without an
    /// answer: how the console dismisses junk in bulk, or restores a request marked
    /// junk by mistake. Returns how many requests changed.
    pub fn mark_requests(&mut self, codes: &[String], status: Status) -> Result<usize> {
        self.require_role(&[Role::Official], "change the status of requests")?;
        let mut changed = 0;
        for code in codes {
            let r = self
                .request(code)?
                .ok_or_else(|| anyhow!("no request with tracking code {code}"))?;
            if r.status == status {
                continue;
            }
            let now = text::now();
            self.edit(&r.id, |tx| model::write_status(tx, status, now))?;
            changed += 1;
        }
        Ok(changed)
    }

    /// Answers a request (officials only); optionally sets an appointment and status.
    pub fn answer_request(
        &mut self,
        code: &str,
        answer: &str,
        status: Option<Status>,
        appointment: Option<Appointment>,
    ) -> Result<Request> {
        self.require_role(&[Role::Official], "answer requests")?;
        let r = self
            .request(code)?
            .ok_or_else(|| anyhow!("no request with tracking code {code}"))?;
        let text = clean_required("answer", answer, MAX_TEXT_CHARS)?;
        let appointment = appointment
            .map(|a| -> Result<Appointment> {
                Ok(Appointment {
                    at: a.at,
                    place: clean("place", &a.place, MAX_SHORT_CHARS)?,
                })
            })
            .transpose()?;
        let status = status.unwrap_or(if appointment.is_some() {
            Status::Scheduled
        } else {
            Status::Answered
        });
        let me = self.node_id();
        let now = text::now();
        self.edit(&r.id, |tx| {
            write_answer(tx, &me, now, &text, status, appointment.as_ref())
        })?;
        self.request(code)?
            .ok_or_else(|| anyhow!("request {code} vanished after saving"))
    }

    /// The resident who asked corrects their question (the creating node only; the
    /// rules refuse it from anyone else).
    pub fn edit_request_text(&mut self, code: &str, text: &str) -> Result<Request> {
        let r = self
            .request(code)?
            .ok_or_else(|| anyhow!("no request with tracking code {code}"))?;
        let text = clean_required("text", text, MAX_TEXT_CHARS)?;
        self.edit(&r.id, |tx| {
            use automerge::transaction::Transactable;
            tx.put(automerge::ROOT, "text", text.as_str())
        })?;
        self.request(code)?
            .ok_or_else(|| anyhow!("request {code} vanished after saving"))
    }

    pub fn requests(&self) -> Result<Vec<Request>> {
        Ok(self
            .store
            .read()
            .views(Kind::Request)?
            .into_iter()
            .filter_map(|v| self.request_from_view(&v))
            .collect())
    }

    /// Looks a request up by tracking code (case-insensitive, spaces ignored).
    pub fn request(&self, code: &str) -> Result<Option<Request>> {
        let code: String = code
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase();
        Ok(self
            .store
            .read()
            .doc_by_code(&code)?
            .filter(|r| r.kind == Kind::Request)
            .and_then(|r| self.request_from_view(&r.view)))
    }

    fn request_from_view(&self, view: &str) -> Option<Request> {
        let r: Request = serde_json::from_str(view).ok()?;
        // The sealed contact is not in the view (it is never listed); reload it when
        // someone who can read it asks.
        Some(r)
    }

    /// The resident's contact in clear if this node is an official it was sealed to,
    /// masked otherwise; `None` if the resident left none.
    pub fn request_contact(&self, r: &Request) -> Result<Option<String>> {
        let (doc, _) = load_doc(self.store.read(), &r.id)?;
        let full = read_request(&r.id, &doc);
        Ok(full.contact_sealed.map(|s| {
            model::seal::open(&self.identity, &s).unwrap_or_else(|| model::seal::MASKED.to_string())
        }))
    }

    // ---- receipts and reach --------------------------------------------------

    /// Each node's receipt, merged over the receipts of it held (one per period, and
    /// the one from before periods): the newest period's entry for a notice wins.
    pub fn receipts(&self) -> Result<Vec<(NodeId, Receipt)>> {
        Ok(receipts::merge(self.store.read().receipt_entries()?))
    }

    /// One node's receipt, merged over its receipts held (as `receipts`).
    pub fn receipt_of(&self, node: &NodeId) -> Result<Option<Receipt>> {
        let held = self.store.read().receipt_entries_of(node, None)?;
        Ok(receipts::merge(held).pop().map(|(_, r)| r))
    }

    /// The receipt documents of `owner` this node holds, oldest period first (the
    /// receipt from before periods, if any, first of all).
    pub fn receipt_docs(&self, owner: &NodeId) -> Result<Vec<DocId>> {
        let mut v = self.store.read().receipt_docs_of(owner)?;
        v.sort_by_key(|d| d.receipt_period());
        Ok(v)
    }

    pub fn reach(&self, notice: &DocId) -> Result<Vec<Reach>> {
        let roster = self.roster()?;
        let ours = self.notice_version(notice)?;
        let me = self.node_id();
        // Only this notice's entries: O(receipts held), whatever their size.
        let held = self.store.read().receipt_entries_for(notice.as_str())?;
        let mut out: Vec<Reach> = receipts::merge(held)
            .into_iter()
            // Other devices: this node knows what it holds.
            .filter(|(node, _)| *node != me)
            .filter_map(|(node, r)| {
                let since = *r.notices.get(notice.as_str())?;
                let m = roster.member(&node);
                let version = match r.versions.get(notice.as_str()) {
                    None => HeldVersion::Unknown,
                    Some(v) => ours.compare(v),
                };
                Some(Reach {
                    node,
                    name: m.map(|m| m.name.clone()).unwrap_or_default(),
                    role: m.map(|m| m.role),
                    place: m.map(|m| m.place.clone()).unwrap_or_default(),
                    since,
                    version,
                })
            })
            .collect();
        out.sort_by_key(|r| r.since);
        Ok(out)
    }

    /// What a local edit (or the receipt an import writes) needs of this node.
    fn edit_ctx(&self) -> Result<EditCtx> {
        Ok(EditCtx {
            identity: self.identity.clone(),
            actor: self.actor.clone(),
            commune: self.commune_id()?,
            me: self.node_id(),
            member: self.my_role()?.is_some(),
        })
    }

    /// This node's version of a notice: its heads, and every change it holds of it.
    pub fn notice_version(&self, notice: &DocId) -> Result<NoticeVersion> {
        let db = self.store.read();
        let heads = db.doc_brief(notice)?.map(|(_, h)| h).unwrap_or_default();
        let known = db
            .doc_changes(notice)?
            .iter()
            .map(|c| model::schema::short_head(&c.hash))
            .collect();
        Ok(NoticeVersion {
            heads: model::schema::short_heads(&heads),
            known,
        })
    }

    pub fn status(&self) -> Result<StatusReport> {
        let db = self.store.read();
        let me = self.node_id();
        let roster = self.roster()?;
        Ok(StatusReport {
            node_id: me,
            commune_id: self.commune_id()?,
            commune: self.commune_name()?,
            role: roster.active_role(&me),
            name: roster.member(&me).map(|m| m.name.clone()),
            docs: db.count_by_kind()?.into_iter().collect(),
            changes: db.change_count()?,
            pending: db.pending_count()?,
            rejected: db.rejection_count()?,
            quarantined: db.quarantine_count()?,
            quarantine_reasons: db.quarantine_reasons()?,
            equivocators: db
                .equivocators()?
                .into_iter()
                .map(|(n, _, _)| n.to_string())
                .collect(),
            digest: hex::encode(db.digest()?.0),
        })
    }

    // ---- the one door for changes -------------------------------------------

    /// Makes a local change to `id`: edits a scratch copy as this node, signs the
    /// result and imports it like any other change (so the same rules apply).
    fn edit(
        &mut self,
        id: &DocId,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), AutomergeError>,
    ) -> Result<()> {
        let ctx = self.edit_ctx()?;
        // A notice written here is not noted in this node's receipt: the receipt says
        // what reached a node from others, and the author's own version is by
        // definition the one it shows (one change less per edit on every link).
        let report = self.store.write(|db| ctx.edit_in(db, id, f))?;
        self.reissue(report.reissue)
    }

    /// Re-issues our own edits that someone else's trick voided (an equivocating twin
    /// under them): the same fields get the values they had, on the surviving history.
    fn reissue(&mut self, items: Vec<(DocId, Automerge, Vec<String>)>) -> Result<()> {
        for (id, old, fields) in items {
            let values = match old.hydrate(None) {
                automerge::hydrate::Value::Map(m) => m,
                _ => continue,
            };
            let exists = self.store.read().doc_brief(&id)?.is_some();
            if !exists {
                tracing::warn!(doc = %id, "cannot re-issue an edit: the document itself was voided");
                continue;
            }
            tracing::info!(doc = %id, fields = ?fields, "re-issuing our edit voided by an equivocation");
            self.edit(&id, |tx| {
                use automerge::transaction::Transactable;
                for f in &fields {
                    match values.get(f) {
                        Some(automerge::hydrate::Value::Scalar(v)) => {
                            tx.put(automerge::ROOT, f.as_str(), v.clone())?;
                        }
                        Some(v) => {
                            tx.batch_create_object(automerge::ROOT, f.as_str(), v, false)?;
                        }
                        None => {}
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Imports changes from a peer or a bundle. Envelope-invalid and forbidden changes
    /// are refused (logged, not stored); changes missing dependencies wait, bounded.
    pub fn import(
        &mut self,
        changes: Vec<SignedChange>,
        via: Option<&NodeId>,
    ) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        // Bound what one import holds inflated in memory: changes are processed in
        // slices of at most `MAX_INFLATED_PER_SLICE` bytes once inflated.
        let mut slices: Vec<Vec<SizedChange>> = vec![Vec::new()];
        let mut size = 0u64;
        // Measuring means inflating (streamed, bounded): on every core, not in the
        // sequential part of the import. A change that fails here is refused later,
        // with the reason, and costs the slice nothing.
        let sized = par_map(changes, 64, |c| {
            let doc = c.doc.clone();
            c.measure().map_err(|e| (doc, e.to_string()))
        });
        for c in sized {
            let n = c.as_ref().map_or(0, |m| m.inflated);
            if size + n > MAX_INFLATED_PER_SLICE && !slices.last().is_some_and(|s| s.is_empty()) {
                slices.push(Vec::new());
                size = 0;
            }
            size += n;
            slices.last_mut().expect("one slice").push(c);
        }
        for slice in slices {
            let r = self.import_slice(slice, via)?;
            report.accepted += r.accepted;
            report.duplicates += r.duplicates;
            report.pending += r.pending;
            report.rejected.extend(r.rejected);
            report.changed.extend(r.changed);
            report.overflow |= r.overflow;
            report.quarantined += r.quarantined;
            report.restored += r.restored;
            report.roster_changed |= r.roster_changed;
        }
        Ok(report)
    }

    fn import_slice(
        &mut self,
        changes: Vec<SizedChange>,
        via: Option<&NodeId>,
    ) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        let now = text::now();
        let ctx = self.edit_ctx()?;
        let (commune, me) = (ctx.commune, ctx.me);
        let parts = pipeline_parts(changes);
        let store = &mut self.store;
        // Checking envelopes needs no database: part k+1 is checked on other cores
        // while part k is judged and written. One transaction still holds them all,
        // and applying parts one after another is importing them one after another,
        // which gives the same verdicts as importing them at once (issue 10).
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            s.spawn(move || {
                for part in parts {
                    if tx.send(verify_all(part)).is_err() {
                        break;
                    }
                }
            });
            store.write(|db| {
                for (verified, bad) in rx {
                    for (doc, reason) in &bad {
                        tracing::warn!(doc = %doc, via = ?via, "refused change: {reason}");
                        db.log_rejection(Some(doc), None, None, via, reason, now)?;
                        report.rejected.push(RejectedChange {
                            doc: doc.to_string(),
                            author: None,
                            reason: reason.clone(),
                            hostile: true,
                        });
                    }
                    let verified = receipts::arriving(db, verified, &mut report)?;
                    apply(db, commune.as_ref(), &me, verified, via, &mut report)?;
                }
                receipts::prune_after_import(db, &mut report)?;
                // The receipt says which version of each notice is held now, written in
                // this same transaction: a crash cannot leave an import without it.
                let notices: Vec<DocId> = report
                    .changed
                    .iter()
                    .filter(|d| d.kind() == Kind::Notice)
                    .cloned()
                    .collect();
                let r = ctx.note_receipts_in(db, &notices)?;
                report.reissue.extend(r.reissue);
                Ok(())
            })
        })?;
        let reissue = std::mem::take(&mut report.reissue);
        self.reissue(reissue)?;
        Ok(report)
    }

    // ---- what sync reads ------------------------------------------------------

    pub fn digest(&self) -> Result<([u8; 16], u64)> {
        self.store.read().digest()
    }

    pub fn log_position(&self) -> Result<i64> {
        self.store.read().max_seq()
    }

    pub fn doc_heads(&self, since: i64) -> Result<Vec<DocHeads>> {
        self.store.read().doc_heads(since)
    }

    pub fn doc_row(&self, id: &DocId) -> Result<Option<DocRow>> {
        self.store.read().doc(id)
    }

    /// Signed changes of `id` not in the history of `their_heads` (hashes this node
    /// does not know are ignored: whoever has them will send them). In causal order.
    pub fn changes_missing(
        &self,
        id: &DocId,
        their_heads: &[[u8; 32]],
    ) -> Result<Vec<SignedChange>> {
        let db = self.store.read();
        let all = db.doc_changes(id)?;
        if their_heads.is_empty() {
            return Ok(all.into_iter().map(|c| c.signed).collect());
        }
        let (doc, _) = load_doc(db, id)?;
        let known: Vec<ChangeHash> = their_heads
            .iter()
            .map(|h| ChangeHash(*h))
            .filter(|h| db.has_change(&h.0).unwrap_or(false))
            .collect();
        let missing: BTreeSet<[u8; 32]> =
            doc.get_changes(&known).iter().map(|c| c.hash().0).collect();
        Ok(all
            .into_iter()
            .filter(|c| missing.contains(&c.hash))
            .map(|c| c.signed)
            .collect())
    }

    /// Every signed change, in log order (for bundles and tests).
    pub fn all_changes(&self) -> Result<Vec<SignedChange>> {
        let db = self.store.read();
        let mut out = Vec::new();
        for d in db.doc_heads(0)? {
            out.extend(db.doc_changes(&d.id)?.into_iter().map(|c| c.signed));
        }
        Ok(out)
    }

    /// Hashes of the valid changes and of the quarantined ones, sorted: two nodes that
    /// hold the same changes must return the same pair.
    pub fn verdict_sets(&self) -> Result<crate::store::VerdictSets> {
        self.store.read().verdict_sets()
    }

    /// Keys caught signing two changes with one actor and sequence number.
    pub fn equivocators(&self) -> Result<Vec<NodeId>> {
        Ok(self
            .store
            .read()
            .equivocators()?
            .into_iter()
            .map(|(n, _, _)| n)
            .collect())
    }

    /// Every change held in quarantine (for tests, audits and re-sending).
    pub fn quarantined_changes(&self) -> Result<Vec<SignedChange>> {
        let db = self.store.read();
        let mut out = Vec::new();
        for id in db.all_doc_ids()? {
            out.extend(db.quarantined_of(&id)?.into_iter().map(|c| c.signed));
        }
        Ok(out)
    }

    /// Records when a sync with `peer` completed (`cursor` is protocol 1's; 0 now).
    pub fn note_synced(&mut self, peer: &NodeId, cursor: i64) -> Result<()> {
        let now = text::now();
        self.store.write(|db| db.note_synced(peer, cursor, now))
    }

    pub fn peers(&self) -> Result<Vec<crate::store::PeerRow>> {
        self.store.read().peers()
    }

    pub fn note_peer_addrs(&mut self, peer: &NodeId, addrs: &str) -> Result<()> {
        self.store.write(|db| db.note_peer_addrs(peer, addrs))
    }

    /// Has another process written to the store since the last call?
    pub fn data_version(&self) -> Result<i64> {
        self.store.data_version()
    }
}

/// What a local edit needs of the node, so that it can run inside a write transaction
/// that is already open (an import writes this node's receipt in its own transaction).
struct EditCtx {
    identity: Identity,
    actor: ActorId,
    commune: Option<NodeId>,
    me: NodeId,
    member: bool,
}

impl EditCtx {
    fn edit_in(
        &self,
        db: Db<'_>,
        id: &DocId,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), AutomergeError>,
    ) -> Result<ImportReport> {
        let identity = &self.identity;
        let actor = self.actor.clone();
        let commune = self.commune;
        let me = self.me;
        let (mut doc, _) = load_doc(db, id)?;
        doc.set_actor(actor);
        let before = doc.get_heads();
        // The author chain: this change names the previous change this node made —
        // except in a periodic receipt, whose changes form a chain of their own so
        // that dropping the receipt leaves no gap in this one (`repo::receipts`).
        let receipt_link = receipts::receipt_link(db, id)?;
        let prev = match receipt_link {
            Some(prev) => prev,
            None => db.meta(META_CHAIN_HEAD)?.and_then(|h| {
                let mut b = [0u8; 32];
                hex::decode_to_slice(h, &mut b).ok().map(|()| b)
            }),
        };
        let message = ChainMeta { prev }.encode();
        doc.transact_with::<_, _, AutomergeError, _>(
            |_| {
                CommitOptions::default()
                    .with_time(text::now())
                    .with_message(message.clone())
            },
            |tx| f(tx),
        )
        .map_err(|e| anyhow!("cannot edit {id}: {}", e.error))?;
        // One transaction makes at most one change; `get_changes(&before)` would
        // walk the whole history of a large document (a kiosk's receipt) to find it.
        let mut signed = Vec::new();
        if doc.get_heads() != before
            && let Some(mut c) = doc.get_last_local_change()
        {
            signed.push(SignedChange::sign(identity, id, &mut c));
        }
        let verified = signed
            .into_iter()
            .map(|s| s.verify())
            .collect::<Result<Vec<_>>>()?;
        let hash = verified.first().map(|v| v.hash.0);
        let mut report = ImportReport::default();
        apply(db, commune.as_ref(), &me, verified, None, &mut report)?;
        if let Some(r) = report.rejected.first() {
            bail!("refused: {}", r.reason);
        }
        // A local edit that is not valid is not kept at all (the transaction
        // rolls back): the user is told why.
        if let Some(why) = report.void_reasons.first() {
            bail!("refused: {why}");
        }
        if report.pending > 0 {
            bail!("refused: this edit builds on changes this node does not hold");
        }
        if let Some(h) = hash
            && receipt_link.is_none()
        {
            db.set_meta(META_CHAIN_HEAD, &hex::encode(h))?;
        }
        Ok(report)
    }
}

/// This node's version of one notice, to compare receipts with.
pub struct NoticeVersion {
    heads: Vec<String>,
    /// Short ids of every change of the notice held here.
    known: BTreeSet<String>,
}

impl NoticeVersion {
    /// Where a receipt's version of the notice stands against ours.
    pub fn compare(&self, theirs: &[String]) -> HeldVersion {
        if theirs == self.heads.as_slice() {
            HeldVersion::Latest
        } else if theirs.iter().all(|h| self.known.contains(h)) {
            HeldVersion::Older
        } else {
            HeldVersion::Newer
        }
    }
}

/// Maps `f` over `items` on every core (up to 4 threads), keeping their order; below
/// `min` items, or on one core, on this thread.
fn par_map<T: Send, R: Send>(items: Vec<T>, min: usize, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    if threads < 2 || items.len() < min {
        return items.into_iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut parts: Vec<Vec<T>> = Vec::new();
    let mut it = items.into_iter();
    loop {
        let part: Vec<T> = it.by_ref().take(per).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|p| s.spawn(move || p.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Maps `f` over `items` on every core (up to 4 threads) in chunks of `chunk`, and hands
/// the results to `sink` on this thread, in the order of `items`, as they are ready:
/// the sink (the write transaction) runs while the other cores compute. Below two
/// chunks, or on one core, everything runs here. An error from `sink` stops it; chunks
/// already started are finished and dropped.
fn par_stream<T: Send, R: Send>(
    items: Vec<T>,
    chunk: usize,
    f: impl Fn(T) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<()>,
) -> Result<()> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    if threads < 2 || items.len() < 2 * chunk {
        return items.into_iter().try_for_each(|x| sink(f(x)));
    }
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut it = items.into_iter().peekable();
    while it.peek().is_some() {
        chunks.push(it.by_ref().take(chunk).collect());
    }
    let queue = std::sync::Mutex::new(chunks.into_iter().enumerate());
    let (f, queue) = (&f, &queue);
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Vec<R>)>();
        for _ in 0..threads {
            let tx = tx.clone();
            s.spawn(move || {
                loop {
                    let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                    let Some((i, c)) = next else { break };
                    if tx.send((i, c.into_iter().map(f).collect())).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut want = 0;
        let mut ready: BTreeMap<usize, Vec<R>> = BTreeMap::new();
        for (i, rs) in rx {
            ready.insert(i, rs);
            while let Some(rs) = ready.remove(&want) {
                rs.into_iter().try_for_each(&mut sink)?;
                want += 1;
            }
        }
        Ok(())
    })
}

/// Changes per part of an import's pipeline (`Repo::import_slice`; the first part is a
/// quarter of this): small enough that the first part, checked before anything else
/// can start, is a small share of a large import; large enough that per-part work
/// (the roster verdict, the quota ranking) stays negligible.
const PIPELINE_PART: usize = 256;

/// Splits a slice into the parts the import pipeline checks and applies one after
/// another. Roster changes go first, in the first part: every other change's verdict
/// depends on the roster, and a change whose author the roster names only later in
/// the same import must not be refused as a stranger's.
fn pipeline_parts(changes: Vec<SizedChange>) -> Vec<Vec<SizedChange>> {
    let (mut parts, mut rest): (Vec<SizedChange>, Vec<SizedChange>) =
        changes.into_iter().partition(|c| match c {
            Ok(m) => m.doc().kind() == Kind::Roster,
            Err((doc, _)) => doc.kind() == Kind::Roster,
        });
    // The first part is checked before anything else can start: keep it small.
    let first = (PIPELINE_PART / 4).saturating_sub(parts.len());
    let tail = rest.split_off(first.min(rest.len()));
    parts.extend(rest);
    let mut out = vec![parts];
    let mut tail = tail.into_iter().peekable();
    while tail.peek().is_some() {
        out.push(tail.by_ref().take(PIPELINE_PART).collect());
    }
    out
}

/// A change from a peer or bundle after `SignedChange::measure`: within the size limits,
/// or refused with the reason.
type SizedChange = std::result::Result<model::signed::Measured, (DocId, String)>;

/// Checks envelopes (signature, decoding) on every core: it is pure CPU work and a
/// large share of an import.
fn verify_all(changes: Vec<SizedChange>) -> (Vec<VerifiedChange>, Vec<(DocId, String)>) {
    let results = par_map(changes, 64, |c| {
        let c = c?;
        let doc = c.doc().clone();
        c.verify()
            .map(|mut v| {
                verdict::rules::pre_analyse(&mut v);
                v
            })
            .map_err(|e| (doc, e.to_string()))
    });
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(b) => bad.push(b),
        }
    }
    (ok, bad)
}

fn list_roles(r: &[Role]) -> String {
    r.iter()
        .map(|r| format!("{r}s"))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Applies verified changes inside one write transaction: the roster first (every
/// other verdict depends on its outcome), then each document. Verdicts come from
/// `verdict`; this function only moves changes between the log (valid), the
/// quarantine (not valid now, may become valid), the pending buffer (dependencies not
/// here) and the refusal log (breaks a rule: not stored).
fn apply(
    db: Db<'_>,
    commune: Option<&NodeId>,
    me: &NodeId,
    verified: Vec<VerifiedChange>,
    via: Option<&NodeId>,
    report: &mut ImportReport,
) -> Result<()> {
    let now = text::now();
    let Some(commune) = commune else {
        for v in verified {
            report.rejected.push(RejectedChange {
                doc: v.signed.doc.to_string(),
                author: Some(v.author.short()),
                reason: "this node has not joined a commune".into(),
                hostile: false,
            });
        }
        return Ok(());
    };
    db.expire_pending(now - crate::store::PENDING_TTL_SECS)?;
    let (roster_in, rest): (Vec<_>, Vec<_>) = verified
        .into_iter()
        .partition(|v| v.signed.doc.kind() == Kind::Roster);
    let mut outcome = roster_outcome(db, commune)?;
    let mut rest = rest;
    if !roster_in.is_empty() {
        let (o, released) = import_roster(
            db, commune, me, roster_in, via, report, &outcome, now, false,
        )?;
        outcome = o;
        rest.extend(released);
    }
    let mut groups: BTreeMap<DocId, Vec<VerifiedChange>> = BTreeMap::new();
    let mut revoked_authors = false;
    for v in rest {
        if outcome.roster.member(&v.author).is_none() && !outcome.named.contains(&v.author) {
            // Named by no roster change we hold: not stored, not parked. An honest peer
            // sends the roster first, so this is a stranger or a relay ahead of it.
            let reason = verdict::rules::Rejection::NotMember(v.author.short()).to_string();
            refuse(
                db,
                &v.signed.doc.clone(),
                &v,
                reason,
                false,
                via,
                report,
                now,
            )?;
            continue;
        }
        revoked_authors |=
            outcome.kept.contains_key(&v.author) || outcome.roster.member(&v.author).is_none();
        groups.entry(v.signed.doc.clone()).or_default().push(v);
    }
    // Daily quota of new requests per device: record every creation, rank them.
    let mut pairs: BTreeSet<(NodeId, i64)> = BTreeSet::new();
    for v in groups.values().flatten() {
        if verdict::doc::creates_request(v) {
            let day = verdict::doc::day_of(v);
            db.record_creation(
                &v.hash.0,
                &v.author,
                day,
                v.change.timestamp(),
                &v.signed.doc,
            )?;
            pairs.insert((v.author, day));
        }
    }
    let mut over: BTreeSet<[u8; 32]> = BTreeSet::new();
    for (a, d) in &pairs {
        // Officials are not limited (`verdict::doc::judge_one`): nothing to rank.
        if outcome.roster.active_role(a) != Some(Role::Official) {
            over.extend(db.over_quota(a, *d, verdict::doc::DAILY_REQUEST_QUOTA)?);
        }
    }
    // Requests held as valid whose creation a newcomer pushed past the quota.
    let mut bumped: BTreeSet<DocId> = BTreeSet::new();
    for h in &over {
        if db.has_change(h)?
            && let Some(c) = db.change_by_hash(h)?
            && !groups.contains_key(&c.signed.doc)
        {
            bumped.insert(c.signed.doc);
        }
    }
    let judge = verdict::doc::Judge {
        roster: &outcome,
        over_quota: &over,
    };
    // Documents new to this store are independent of each other: judge them on every
    // core, then write them.
    let mut fresh = Vec::new();
    let mut others = Vec::new();
    let nothing_aside = db.quarantine_count()? == 0 && db.pending_count()? == 0;
    for (id, changes) in groups {
        if is_fresh(db, &id, &changes, nothing_aside)? {
            fresh.push((id, changes));
        } else {
            others.push((id, changes));
        }
    }
    // The cache row (views, snapshot) is pure CPU work too: built on the same core.
    // Judged documents stream back in order and are written as they come, so this
    // thread writes while the other cores judge the next ones.
    par_stream(
        fresh,
        16,
        |(id, changes)| {
            let mut j = verdict::doc::evaluate(&id, &judge, changes);
            let row = if j.valid.is_empty() {
                None
            } else {
                build_row(&id, &j.doc).ok()
            };
            if row.is_some() {
                // The writer needs the row, not the document: free it here, on this
                // core, rather than in the one write transaction.
                j.doc = Automerge::new();
            }
            (id, j, row)
        },
        |(id, j, row)| {
            write_judged(
                db,
                &id,
                j,
                &BTreeSet::new(),
                None,
                Written::Fresh(row.map(Box::new)),
                me,
                via,
                report,
                now,
            )
        },
    )?;
    for (id, changes) in others {
        import_doc(db, &judge, me, &id, changes, via, report, now)?;
    }
    for id in bumped {
        reevaluate(db, &outcome, me, &id, Vec::new(), via, report, now)?;
    }
    // A revoked node's change can be a missing link of its chain: what its cut keeps
    // may have grown. Judge the roster and that node's documents again.
    if revoked_authors {
        import_roster(
            db,
            commune,
            me,
            Vec::new(),
            via,
            report,
            &outcome,
            now,
            true,
        )?;
    }
    Ok(())
}

/// Verifies changes read back from the store (they were verified when they came).
fn reverify(rows: Vec<crate::store::StoredChange>) -> Vec<VerifiedChange> {
    rows.into_iter()
        .filter_map(|c| c.signed.verify().ok())
        .map(|mut v| {
            verdict::rules::pre_analyse(&mut v);
            v
        })
        .collect()
}

/// The roster verdict from every roster change held, cached per process by the set of
/// roster changes and chain links it was computed from.
fn roster_outcome(db: Db<'_>, commune: &NodeId) -> Result<Arc<RosterOutcome>> {
    use std::sync::Mutex;
    static CACHE: Mutex<Option<([u8; 32], Arc<RosterOutcome>)>> = Mutex::new(None);
    let mut rows = db.doc_changes(&DocId::roster())?;
    rows.extend(db.quarantined_of(&DocId::roster())?);
    let mut key = Sha256::new();
    key.update(commune.as_bytes());
    let mut hashes: Vec<[u8; 32]> = rows.iter().map(|r| r.hash).collect();
    hashes.sort();
    for h in &hashes {
        key.update(h);
    }
    key.update(db.link_count()?.to_le_bytes());
    // Two stores in one process (tests, the lab) must not share an entry.
    key.update(db.meta("store_id")?.unwrap_or_default().as_bytes());
    let key: [u8; 32] = key.finalize().into();
    if let Ok(c) = CACHE.lock()
        && let Some((k, o)) = c.as_ref()
        && *k == key
    {
        return Ok(o.clone());
    }
    let all = reverify(rows);
    let o = Arc::new(verdict::roster::evaluate(commune, &all, &|a: &NodeId| {
        db.links_of(a).unwrap_or_default()
    }));
    if let Ok(mut c) = CACHE.lock() {
        *c = Some((key, o.clone()));
    }
    Ok(o)
}

/// Writes a valid change into the log (with its chain link). Returns its log position.
fn store_valid(db: Db<'_>, c: &VerifiedChange, via: Option<&NodeId>, now: i64) -> Result<i64> {
    let actor = c.change.actor_id().to_bytes().to_vec();
    let seq = db.insert_change(
        &c.hash.0,
        &c.signed,
        &c.author,
        &actor,
        c.change.seq(),
        via,
        now,
    )?;
    note_link(db, c)?;
    Ok(seq)
}

/// Records a change's chain link, so revocation cuts can be read through it.
fn note_link(db: Db<'_>, c: &VerifiedChange) -> Result<()> {
    if let Some(chain) = &c.chain {
        db.add_link(&c.hash.0, &c.author, chain.prev.as_ref())?;
    }
    Ok(())
}

/// Imports roster changes: re-evaluates the roster from the whole set, moves changes
/// between log and quarantine accordingly, and re-judges every document by an author
/// whose membership or cut changed. Returns the new outcome and the pending changes of
/// authors who just became members.
#[allow(clippy::too_many_arguments)]
fn import_roster(
    db: Db<'_>,
    commune: &NodeId,
    me: &NodeId,
    incoming: Vec<VerifiedChange>,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    old: &RosterOutcome,
    now: i64,
    force: bool,
) -> Result<(Arc<RosterOutcome>, Vec<VerifiedChange>)> {
    let id = DocId::roster();
    let valid_before: BTreeSet<[u8; 32]> = db.doc_changes(&id)?.iter().map(|c| c.hash).collect();
    let mut stored_rows = db.doc_changes(&id)?;
    stored_rows.extend(db.quarantined_of(&id)?);
    let stored = reverify(stored_rows);
    let known: BTreeSet<[u8; 32]> = stored.iter().map(|c| c.hash.0).collect();
    let mut incoming_all = incoming;
    incoming_all.extend(
        db.pending_for(&id)?
            .into_iter()
            .filter_map(|p| p.verify().ok()),
    );
    let mut new: Vec<VerifiedChange> = Vec::new();
    let mut seen = BTreeSet::new();
    for c in incoming_all {
        if !seen.insert(c.hash.0) {
            continue;
        }
        if known.contains(&c.hash.0) {
            db.remove_pending(&c.hash.0)?;
            report.duplicates += 1;
            continue;
        }
        new.push(c);
    }
    if new.is_empty() && !force {
        return Ok((roster_outcome(db, commune)?, Vec::new()));
    }
    // Changes whose dependencies nobody here holds wait (bounded per author).
    let mut have: BTreeSet<[u8; 32]> = known.clone();
    have.extend(new.iter().map(|c| c.hash.0));
    let mut ready = Vec::new();
    for c in new {
        // Deps through other waiting changes are fine: the walk skips what it cannot reach.
        if c.change.deps().iter().all(|d| have.contains(&d.0)) {
            ready.push(c);
        } else {
            park(db, &c, old, commune, via, report, now)?;
        }
    }
    for c in &ready {
        db.remove_pending(&c.hash.0)?;
    }
    let mut all = stored;
    all.extend(ready.iter().cloned());
    let outcome = Arc::new(verdict::roster::evaluate(commune, &all, &|a: &NodeId| {
        db.links_of(a).unwrap_or_default()
    }));
    let by_hash: BTreeMap<[u8; 32], &VerifiedChange> = all.iter().map(|c| (c.hash.0, c)).collect();
    let new_hashes: BTreeSet<[u8; 32]> = ready.iter().map(|c| c.hash.0).collect();
    // Valid roster changes, in order.
    for h in &outcome.order {
        if valid_before.contains(h) {
            continue;
        }
        let c = by_hash[h];
        db.unquarantine(h)?;
        store_valid(db, c, via, now)?;
        if new_hashes.contains(h) {
            report.accepted += 1;
        }
    }
    for (h, (why, hostile)) in &outcome.void {
        let c = by_hash[h];
        let is_new = new_hashes.contains(h);
        let member = outcome.roster.member(&c.author).is_some() || c.author == *commune;
        if is_new && (*hostile || !member) {
            refuse(db, &id, c, why.clone(), *hostile, via, report, now)?;
            continue;
        }
        if valid_before.contains(h) {
            db.delete_change(h)?;
        }
        if !db.quarantine(h, &c.signed, &c.author, why, via, now)? {
            report.overflow = true;
        }
        note_link(db, c)?;
    }
    // The roster's cache row: the document of valid changes, the evaluated roster as view.
    let mut doc = Automerge::new();
    doc.apply_changes(outcome.order.iter().map(|h| by_hash[h].change.clone()))?;
    if outcome.order.is_empty() {
        db.delete_doc(&id)?;
    } else {
        let mut row = build_row(&id, &doc)?;
        row.view = serde_json::to_string(&outcome.roster)?;
        let (first, last) = db.seq_range(&id)?;
        row.first_seq = first;
        row.last_seq = last;
        db.put_doc(&row)?;
    }
    report.changed.insert(id.clone());
    report.roster_changed = true;
    // Authors whose standing changed: their documents are judged again.
    let mut authors: BTreeSet<NodeId> = BTreeSet::new();
    for n in old
        .roster
        .members
        .keys()
        .chain(outcome.roster.members.keys())
    {
        let a = (old.roster.members.contains_key(n), old.kept.get(n));
        let b = (outcome.roster.members.contains_key(n), outcome.kept.get(n));
        if a != b {
            authors.insert(*n);
        }
    }
    for n in old.kept.keys().chain(outcome.kept.keys()) {
        if old.kept.get(n) != outcome.kept.get(n) {
            authors.insert(*n);
        }
    }
    let mut docs: BTreeSet<DocId> = BTreeSet::new();
    let mut released = Vec::new();
    for a in &authors {
        docs.extend(db.docs_touched_by(a)?);
        if outcome.roster.member(a).is_some() && !old.roster.members.contains_key(a) {
            released.extend(
                db.pending_by(a)?
                    .into_iter()
                    .filter_map(|p| p.verify().ok()),
            );
        }
    }
    for d in docs {
        if d.kind() != Kind::Roster {
            reevaluate(db, &outcome, me, &d, Vec::new(), via, report, now)?;
        }
    }
    Ok((outcome, released))
}

/// Parks a change whose dependencies are not here, if its author is a member (or the
/// founder); refuses it otherwise.
fn park(
    db: Db<'_>,
    c: &VerifiedChange,
    outcome: &RosterOutcome,
    commune: &NodeId,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<()> {
    if outcome.roster.member(&c.author).is_none() && c.author != *commune {
        let reason = verdict::rules::Rejection::NotMember(c.author.short()).to_string();
        return refuse(
            db,
            &c.signed.doc.clone(),
            c,
            reason,
            false,
            via,
            report,
            now,
        );
    }
    if db.add_pending_by(&c.hash.0, &c.signed, &c.author, via, now)? {
        report.pending += 1;
    } else {
        report.overflow = true;
    }
    Ok(())
}

/// Imports changes to a document this store already knows. The common case — every
/// dependency valid, no twin, nothing quarantined — is judged change by change against
/// the cached document; anything else re-evaluates the document from its whole set.
#[allow(clippy::too_many_arguments)]
fn import_doc(
    db: Db<'_>,
    judge: &verdict::doc::Judge<'_>,
    me: &NodeId,
    id: &DocId,
    changes: Vec<VerifiedChange>,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<()> {
    let mut queue: Vec<VerifiedChange> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut all = changes;
    all.extend(
        db.pending_for(id)?
            .into_iter()
            .filter_map(|p| p.verify().ok())
            .map(|mut v| {
                verdict::rules::pre_analyse(&mut v);
                v
            }),
    );
    for c in all {
        if !seen.insert(c.hash.0) {
            continue;
        }
        if db.has_change(&c.hash.0)? || db.in_quarantine(&c.hash.0)? {
            db.remove_pending(&c.hash.0)?;
            report.duplicates += 1;
            continue;
        }
        queue.push(c);
    }
    if queue.is_empty() {
        return Ok(());
    }
    for c in &queue {
        note_link(db, c)?;
    }
    let mut slow = !db.quarantined_of(id)?.is_empty();
    let mut keys = BTreeSet::new();
    for c in &queue {
        let actor = c.change.actor_id().to_bytes().to_vec();
        if !keys.insert((actor.clone(), c.change.seq()))
            || db.change_at(id, &actor, c.change.seq())?.is_some()
        {
            slow = true;
        }
    }
    if slow {
        return reevaluate(db, judge.roster, me, id, queue, via, report, now);
    }
    let (mut doc, row) = load_doc(db, id)?;
    let mut last_seq = row.as_ref().map(|r| r.last_seq).unwrap_or(0);
    let mut first_seq = row.as_ref().map(|r| r.first_seq).unwrap_or(0);
    let mut accepted_any = false;
    // A receipt's entries written by the changes accepted (`None`: read it whole).
    let mut receipt_keys: Option<BTreeSet<String>> = row
        .as_ref()
        .is_some_and(|r| r.kind == Kind::Receipt && r.view == RECEIPT_ROWS_IN_STEP)
        .then(BTreeSet::new);
    loop {
        let mut progress = false;
        let mut waiting = Vec::new();
        for c in queue {
            let mut ready = true;
            for d in c.change.deps() {
                if !db.has_change(&d.0)? {
                    ready = false;
                    break;
                }
            }
            if !ready {
                waiting.push(c);
                continue;
            }
            progress = true;
            db.remove_pending(&c.hash.0)?;
            let verdict = verdict::doc::judge_one(id, judge, &mut doc, &c, &|| {
                rebuild_doc(db, id).unwrap_or_default()
            });
            match verdict {
                verdict::doc::Verdict::Valid => {
                    last_seq = store_valid(db, &c, via, now)?;
                    if first_seq == 0 {
                        first_seq = last_seq;
                    }
                    if let Some(keys) = receipt_keys.as_mut() {
                        match model::schema::receipt_keys_written(&c.change) {
                            Some(k) => keys.extend(k),
                            None => receipt_keys = None,
                        }
                    }
                    accepted_any = true;
                    report.accepted += 1;
                }
                verdict::doc::Verdict::Void(why) => {
                    if !db.quarantine(&c.hash.0, &c.signed, &c.author, &why, via, now)? {
                        report.overflow = true;
                    }
                    report.quarantined += 1;
                    report.void_reasons.push(why);
                }
                verdict::doc::Verdict::Refused(why, hostile) => {
                    refuse(db, id, &c, why, hostile, via, report, now)?;
                }
            }
        }
        queue = waiting;
        if !progress || queue.is_empty() {
            break;
        }
    }
    for c in queue {
        // A dependency in quarantine: this change is void too (kept aside).
        if c.change
            .deps()
            .iter()
            .any(|d| db.in_quarantine(&d.0).unwrap_or(false))
        {
            db.quarantine(
                &c.hash.0,
                &c.signed,
                &c.author,
                verdict::roster::DEPENDS_ON_VOID,
                via,
                now,
            )?;
            report.quarantined += 1;
        } else {
            // Members only reach here (`apply` refused the others).
            if db.add_pending_by(&c.hash.0, &c.signed, &c.author, via, now)? {
                report.pending += 1;
            } else {
                report.overflow = true;
            }
        }
    }
    if accepted_any {
        let saved = match row.as_ref().map(|r| &r.snapshot) {
            Some(Snapshot::Stored(n)) => Some(*n),
            _ => None,
        };
        save_doc(db, id, doc, receipt_keys, saved, first_seq, last_seq)?;
        report.changed.insert(id.clone());
    }
    Ok(())
}

/// Re-judges a document from every change held for it (log and quarantine) plus
/// `extra`, and moves changes to where the verdict puts them.
#[allow(clippy::too_many_arguments)]
fn reevaluate(
    db: Db<'_>,
    outcome: &RosterOutcome,
    me: &NodeId,
    id: &DocId,
    extra: Vec<VerifiedChange>,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<()> {
    let valid_rows = db.doc_changes(id)?;
    let valid_before: BTreeSet<[u8; 32]> = valid_rows.iter().map(|c| c.hash).collect();
    let old_doc = if valid_before.is_empty() {
        None
    } else {
        Some(load_doc(db, id)?.0)
    };
    let mut all = reverify(valid_rows);
    all.extend(reverify(db.quarantined_of(id)?));
    all.extend(extra);
    let mut over = BTreeSet::new();
    for c in all.iter().filter(|c| verdict::doc::creates_request(c)) {
        let day = verdict::doc::day_of(c);
        db.record_creation(&c.hash.0, &c.author, day, c.change.timestamp(), id)?;
        if outcome.roster.active_role(&c.author) != Some(Role::Official) {
            over.extend(db.over_quota(&c.author, day, verdict::doc::DAILY_REQUEST_QUOTA)?);
        }
    }
    let judge = verdict::doc::Judge {
        roster: outcome,
        over_quota: &over,
    };
    let judged = verdict::doc::evaluate(id, &judge, all);
    write_judged(
        db,
        id,
        judged,
        &valid_before,
        old_doc.as_ref(),
        Written::Held,
        me,
        via,
        report,
        now,
    )
}

/// What the store held of a document before its verdicts are written.
enum Written {
    /// Nothing at all (`is_fresh`): no quarantine or pending rows to move; the cache
    /// row built already, if any change is valid.
    Fresh(Option<Box<DocRow>>),
    /// Something: rows may move between the log, quarantine and pending.
    Held,
}

/// Writes a document's verdicts: valid changes into the log (in causal order), void
/// ones into quarantine, refusals into the refusal log (stored changes are never
/// dropped: a stored change found invalid goes to quarantine), waiting ones pending.
#[allow(clippy::too_many_arguments)]
fn write_judged(
    db: Db<'_>,
    id: &DocId,
    judged: verdict::doc::Judged,
    valid_before: &BTreeSet<[u8; 32]>,
    old_doc: Option<&Automerge>,
    written: Written,
    me: &NodeId,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<()> {
    let (held, prebuilt) = match written {
        Written::Fresh(row) => (false, row),
        Written::Held => (true, None),
    };
    let mut touched = false;
    // Log positions of a new document's changes, known as they are written.
    let (mut first, mut last) = (0i64, 0i64);
    for c in &judged.valid {
        if valid_before.contains(&c.hash.0) {
            continue;
        }
        touched = true;
        let was_quarantined = held && db.in_quarantine(&c.hash.0)?;
        if held {
            db.unquarantine(&c.hash.0)?;
            db.remove_pending(&c.hash.0)?;
        }
        last = store_valid(db, c, via, now)?;
        if first == 0 {
            first = last;
        }
        if !was_quarantined {
            report.accepted += 1;
        } else {
            report.restored += 1;
        }
    }
    let mut reissue: BTreeSet<String> = BTreeSet::new();
    for (c, why) in &judged.void {
        let was_valid = valid_before.contains(&c.hash.0);
        if was_valid {
            touched = true;
            db.delete_change(&c.hash.0)?;
            // Our own honest work voided by someone else's trick: re-issue it.
            if c.author == *me
                && why != verdict::doc::EQUIVOCATION_LOSER
                && let Some(old) = old_doc
                && let Ok(f) = verdict::rules::analyse(old, c)
            {
                reissue.extend(f.fields);
            }
        } else if !db.in_quarantine(&c.hash.0)? {
            report.quarantined += 1;
            report.void_reasons.push(why.clone());
        }
        db.remove_pending(&c.hash.0)?;
        if !db.quarantine(&c.hash.0, &c.signed, &c.author, why, via, now)? {
            report.overflow = true;
        }
        note_link(db, c)?;
    }
    for (c, why, hostile) in judged.refused {
        db.remove_pending(&c.hash.0)?;
        if valid_before.contains(&c.hash.0) || db.in_quarantine(&c.hash.0)? {
            if valid_before.contains(&c.hash.0) {
                touched = true;
                db.delete_change(&c.hash.0)?;
            }
            db.quarantine(&c.hash.0, &c.signed, &c.author, &why, via, now)?;
        } else {
            refuse(db, id, &c, why, hostile, via, report, now)?;
        }
    }
    for c in judged.waiting {
        if !valid_before.contains(&c.hash.0)
            && !db.in_quarantine(&c.hash.0)?
            && !db.has_change(&c.hash.0)?
        {
            if db.add_pending_by(&c.hash.0, &c.signed, &c.author, via, now)? {
                report.pending += 1;
            } else {
                report.overflow = true;
            }
        }
    }
    for a in &judged.equivocators {
        tracing::warn!(doc = %id, author = %a.short(), "equivocation: two changes with one actor and sequence number");
        db.flag_equivocator(a, id, now)?;
        db.log_rejection(
            Some(id),
            None,
            Some(a),
            via,
            "equivocation: one key signed two changes with the same actor and sequence number",
            now,
        )?;
    }
    if touched {
        if judged.valid.is_empty() {
            db.delete_doc(id)?;
        } else {
            let mut row = match prebuilt {
                Some(r) => *r,
                None => build_row(id, &judged.doc)?,
            };
            let (first, last) = if held {
                db.seq_range(id)?
            } else {
                (first, last)
            };
            row.first_seq = first;
            row.last_seq = last;
            db.put_doc(&row)?;
        }
        report.changed.insert(id.clone());
    }
    if !reissue.is_empty()
        && let Some(old) = old_doc
    {
        report
            .reissue
            .push((id.clone(), old.clone(), reissue.into_iter().collect()));
    }
    Ok(())
}

/// Nothing of this document is stored, quarantined or pending, and none of these
/// changes is known.
/// `nothing_aside`: the quarantine and the pending buffer are both empty (the common
/// case, checked once per import), so only the log needs asking.
fn is_fresh(
    db: Db<'_>,
    id: &DocId,
    changes: &[VerifiedChange],
    nothing_aside: bool,
) -> Result<bool> {
    if db.doc_brief(id)?.is_some()
        || (!nothing_aside
            && (!db.pending_for(id)?.is_empty() || !db.quarantined_of(id)?.is_empty()))
    {
        return Ok(false);
    }
    for c in changes {
        if db.has_change(&c.hash.0)? || (!nothing_aside && db.in_quarantine(&c.hash.0)?) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Records a refused change: log line, refusal log, report.
#[allow(clippy::too_many_arguments)]
fn refuse(
    db: Db<'_>,
    id: &DocId,
    c: &VerifiedChange,
    reason: String,
    hostile: bool,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<()> {
    let reason: String = reason
        .chars()
        .take(crate::store::MAX_REASON_CHARS)
        .collect();
    tracing::warn!(doc = %id, author = %c.author.short(), via = ?via.map(|v| v.short()), "refused change: {reason}");
    db.log_rejection(
        Some(id),
        Some(&c.hash.0),
        Some(&c.author),
        via,
        &reason,
        now,
    )?;
    report.rejected.push(RejectedChange {
        doc: id.to_string(),
        author: Some(c.author.short()),
        reason,
        hostile,
    });
    Ok(())
}

impl Repo {
    /// Brings the reconciliation index up to date with the change log (cheap when
    /// nothing changed; see `store::recon`).
    pub fn recon_refresh(&mut self) -> Result<()> {
        if self.store.read().recon_stale()? {
            self.store.write(|db| db.recon_refresh())?;
        }
        Ok(())
    }

    /// Count and hash of the set of valid changes this node holds: two nodes hold the
    /// same set exactly when these are equal.
    pub fn change_set(&mut self) -> Result<crate::sync::NodeSum> {
        self.recon_refresh()?;
        self.store.read().recon_set()
    }
}

impl crate::sync::Storage for Repo {
    fn recon_classes(&mut self) -> Result<Vec<(u8, crate::sync::NodeSum)>> {
        self.recon_refresh()?;
        self.store.read().recon_classes()
    }
    fn recon_node(&mut self, node: crate::sync::NodeRef) -> Result<crate::sync::NodeSum> {
        self.recon_refresh()?;
        self.store.read().recon_node(node)
    }
    fn recon_children(
        &mut self,
        node: crate::sync::NodeRef,
    ) -> Result<Vec<(u8, crate::sync::NodeSum)>> {
        self.recon_refresh()?;
        self.store.read().recon_children(node)
    }
    fn recon_items(&mut self, node: crate::sync::NodeRef) -> Result<Vec<crate::sync::ItemKey>> {
        self.recon_refresh()?;
        self.store.read().recon_items(node)
    }
    fn recon_recent(&mut self, n: usize) -> Result<Vec<crate::sync::ItemKey>> {
        self.recon_refresh()?;
        self.store.read().recon_recent(n)
    }
    fn recon_position(&mut self) -> Result<i64> {
        self.store.read().max_seq()
    }
    fn recon_since(
        &mut self,
        after: i64,
        skip_via: &NodeId,
    ) -> Result<Vec<(crate::sync::ItemKey, bool)>> {
        self.recon_refresh()?;
        self.store.read().recon_since(after, skip_via)
    }
    fn change(&mut self, hash: &[u8; 32]) -> Result<Option<SignedChange>> {
        self.store.read().recon_change(hash)
    }
    fn import(
        &mut self,
        changes: Vec<SignedChange>,
        via: &NodeId,
    ) -> Result<crate::sync::Imported> {
        Repo::import(self, changes, Some(via)).map(crate::sync::Imported::from)
    }
    fn is_member(&mut self, peer: &NodeId) -> Result<bool> {
        Ok(self.roster()?.active_role(peer).is_some())
    }
}

impl From<ImportReport> for crate::sync::Imported {
    /// The protocol reads only these; the rest (counts, re-issues) stays with the repo.
    fn from(r: ImportReport) -> Self {
        crate::sync::Imported {
            changed: r.changed,
            rejected: r.rejected,
            overflow: r.overflow,
        }
    }
}
