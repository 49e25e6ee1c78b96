//! The node's documents: local edits and verified imports over the store.
//!
//! Every change, whether typed here, received from a peer or read from a USB bundle,
//! goes through the same door (`Repo::apply`): envelope verified, author and role
//! checked by `model::rules`, dependencies present, then written to the change log
//! and the document cache in one SQLite transaction. A local edit is just a change
//! this node signs and then imports, so "a kiosk cannot post a notice" is enforced by
//! the very rule that protects everyone else.
//!
//! This file is the facade a screen or the CLI reads: `Repo::open`, the report
//! types, and the queries. The rest is split by job so that a question has one room
//! to read: `edits` (local edits), `import` (the pipeline a batch goes through),
//! `judge` (where each judged change is written, and re-judging), `docs` (the
//! document cache), `storage` (what the sync protocol reads and `sync::Storage`),
//! `invite` (the invite format).

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
// The rooms `repo.rs` was split into (issue 23).
mod docs;
mod edits;
mod import;
mod invite;
mod judge;
mod quota;
// Software releases approved by the office, carried as data (issue 25).
mod release;
pub use release::{
    ACTIVITY_FILE, NotStaged, RUNNING_FILE, ReleaseView, Staged, UPDATE_FAILED_FILE,
    UPDATE_STATE_FILE, UPDATES_DIR, UpdateState, package_name,
};
mod shortcut;
mod storage;
pub use invite::Invite;
// What the rooms share with each other and with `health`, `receipts` and `loaded`,
// which read this module with `use super::*` (all of it private to `repo`).
use docs::*;
use edits::EditCtx;
use import::*;
use judge::*;
use shortcut::*;
// The protocol defines what it needs to know of a refusal; `repo` fills it.
pub use crate::sync::RejectedChange;

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
    /// An author's share of the pending buffer was full: some of its waiting changes
    /// were dropped, not parked.
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
    /// Authors whose creations moved to another day while judging: the import
    /// settles them again before it ends (`repo::quota::resettle`).
    #[serde(skip)]
    pub(crate) quota_authors: BTreeSet<NodeId>,
    /// Per author, the newest evidence day on its line at each of its changes, as
    /// this import placed its creations (`repo::quota::place_new`), and the horizon
    /// it was read under.
    #[serde(skip)]
    pub(crate) quota_lines: BTreeMap<NodeId, quota::Lines>,
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
    /// Members (enrolled, revoked or not) that sent data refused as hostile: who to
    /// revoke.
    pub refused_from: Vec<HostileSender>,
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
/// Hash of the last change this node made to a later kind (a release): their own chain.
const META_LATER_CHAIN_HEAD: &str = "later_chain_head";

/// Set by migration 4: the next open re-judges every stored change.
const META_REJUDGE: &str = "rejudge";

/// Set by migration 10: the next open gives older chain links their days.
const META_LINK_DAYS: &str = "link_days";

const META_COMMUNE_NAME: &str = "commune_name";

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
        if repo.store.read().meta(META_LINK_DAYS)?.as_deref() == Some("1") {
            let me = repo.node_id();
            let commune = repo.commune_id()?;
            let mut report = ImportReport::default();
            let n = repo.store.write(|db| {
                let n = quota::fill_link_days(db)?;
                if let Some(commune) = &commune {
                    report.quota_authors = db.authors_with_creations()?.into_iter().collect();
                    quota::finish(db, commune, &me, None, &mut report, text::now())?;
                }
                db.set_meta(META_LINK_DAYS, "0")?;
                Ok(n)
            })?;
            tracing::info!(
                links = n,
                quarantined = report.quarantined,
                "chain links given their days and creations settled on their effective days (schema 10)"
            );
        }
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

    // ---- commune and roster ----------------------------------------------------------

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

    // ---- notices, procedures, requests -----------------------------------------------

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

    pub fn procedures(&self) -> Result<Vec<Procedure>> {
        let mut v: Vec<Procedure> = parse_view(self.store.read().views(Kind::Procedure)?);
        v.sort_by(|a, b| a.title.cmp(&b.title));
        Ok(v)
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

    // ---- receipts and reach ----------------------------------------------------------

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
            refused_from: self.hostile_senders()?,
            digest: hex::encode(db.digest()?.0),
        })
    }

    /// Members (enrolled, revoked or not) that sent changes refused as hostile, most
    /// recent first. Strangers' keys are counted too but not listed: there is nothing
    /// to revoke.
    pub fn hostile_senders(&self) -> Result<Vec<HostileSender>> {
        let roster = self.roster()?;
        Ok(self
            .store
            .read()
            .hostile_senders()?
            .into_iter()
            .filter_map(|(node, changes, last_at, last_reason)| {
                let m = roster.member(&node)?;
                Some(HostileSender {
                    node,
                    name: m.name.clone(),
                    changes,
                    last_at,
                    last_reason,
                })
            })
            .collect())
    }
}

/// A member that sent data refused as hostile (`Repo::hostile_senders`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostileSender {
    pub node: NodeId,
    pub name: String,
    /// Changes refused.
    pub changes: i64,
    /// The last one, by this node's clock (unix seconds), and why.
    pub last_at: i64,
    pub last_reason: String,
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
