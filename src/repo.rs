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
use crate::model::signed::{VerifiedChange, new_actor};
use crate::model::text::{self, MAX_SHORT_CHARS, MAX_TEXT_CHARS, clean, clean_required};
use crate::model::{self, *};
use crate::store::{Db, DocHeads, DocRow, Store};

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
}

const INVITE_PREFIX: &str = "conglang1:";

impl Invite {
    pub fn encode(&self) -> String {
        use base64::Engine;
        let json = serde_json::to_vec(self).expect("invite serialises");
        format!(
            "{INVITE_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
        )
    }
    pub fn decode(s: &str) -> Result<Invite> {
        use base64::Engine;
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
}

#[derive(Clone, Debug, Serialize)]
pub struct RejectedChange {
    pub doc: String,
    pub author: Option<String>,
    pub reason: String,
    /// Proof that the sender misbehaves (forged, forbidden, malformed), as opposed to
    /// a peer relaying in good faith what it has not yet learned is void (a revoked
    /// author's change, the losing half of an equivocation).
    pub hostile: bool,
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
}

pub struct Repo {
    store: Store,
    identity: Identity,
    /// Fresh per process: see `model::signed::ACTOR_LEN`.
    actor: ActorId,
    data_dir: PathBuf,
}

const META_COMMUNE: &str = "commune_id";
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

/// Loads a document from its cached snapshot, or rebuilds it from the change log
/// when there is none or it does not load (the log is the source of truth).
fn load_doc(db: Db<'_>, id: &DocId) -> Result<(Automerge, Option<DocRow>)> {
    let row = db.doc(id)?;
    if let Some(snap) = row.as_ref().and_then(|r| r.snapshot.as_ref())
        && let Ok(doc) = Automerge::load(snap)
    {
        return Ok((doc, row));
    }
    Ok((rebuild_doc(db, id)?, row))
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

/// Writes the cache row of a document: heads, state hash, snapshot and listing view.
/// Documents with fewer changes than this keep no snapshot: rebuilding them from
/// their changes costs about what loading a snapshot does, and saving one is a large
/// part of an import (most notices and requests have one to three changes).
const SNAPSHOT_MIN_CHANGES: usize = 4;

fn save_doc(db: Db<'_>, id: &DocId, doc: &Automerge, first_seq: i64, last_seq: i64) -> Result<()> {
    let mut row = build_row(id, doc)?;
    row.first_seq = first_seq;
    row.last_seq = last_seq;
    db.put_doc(&row)
}

/// The cache row of a document (log positions left at 0): pure CPU work.
fn build_row(id: &DocId, doc: &Automerge) -> Result<DocRow> {
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
        Kind::Receipt => (serde_json::to_string(&read_receipt(doc))?, None, 0, false),
    };
    Ok(DocRow {
        id: id.clone(),
        kind,
        priority: priority(kind, urgent),
        state_hash: state_hash(id, &heads),
        heads,
        // Uncompressed: the snapshot is a local cache, and deflating it cost more than
        // anything else on the import path (zlib state set-up per save; see BENCHMARKS.md).
        snapshot: (doc.get_changes_meta(&[]).len() >= SNAPSHOT_MIN_CHANGES)
            .then(|| doc.save_nocompress()),
        view,
        code,
        sort_at,
        last_seq: 0,
        first_seq: 0,
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
        Ok(Repo {
            store,
            identity,
            actor,
            data_dir: data_dir.to_path_buf(),
        })
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
        let number = roster
            .member(&node)
            .map(|m| m.number)
            .unwrap_or_else(|| roster.next_number());
        let me = self.node_id();
        let now = text::now();
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
        Ok(Invite {
            commune_id: self.commune_id()?.expect("member implies commune"),
            commune_name: roster.commune_name,
            node,
            role,
            name,
            via: me,
            addrs,
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
        if node == self.node_id() && roster.officials().count() == 1 {
            bail!("refusing to revoke the commune's last official");
        }
        let cut: Vec<String> = self
            .store
            .read()
            .changes_by(&node)?
            .iter()
            .map(|c| hex::encode(c.hash))
            .collect();
        let n = cut.len();
        let rv = Revocation {
            by: self.node_id(),
            at: text::now(),
            cut,
        };
        self.edit(&DocId::roster(), |tx| write_revocation(tx, &node, &rv))?;
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
        })
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
        let code = self.new_code(&roster.initials, number)?;
        let id = DocId::new_random(Kind::Request);
        let now = text::now();
        self.edit(&id, |tx| {
            put_header(tx, Kind::Request, &me, now)?;
            write_new_request(tx, &code, &d, sealed.clone())
        })?;
        self.request(&code)?
            .ok_or_else(|| anyhow!("request {code} vanished after saving"))
    }

    /// Tracking codes are `INITIALS-<member number><4 digits>`: the member number makes
    /// codes from different nodes distinct without any coordination; the digits are
    /// random (not a counter), so a node restored from an old backup does not hand out
    /// a code it already used.
    fn new_code(&self, initials: &str, number: u32) -> Result<String> {
        let initials = if initials.is_empty() { "CL" } else { initials };
        for _ in 0..200 {
            let digits = rand::random_range(0..10_000u32);
            let code = format!("{initials}-{number}{digits:04}");
            if !self.store.read().code_exists(&code)? {
                return Ok(code);
            }
        }
        bail!("could not find a free tracking code")
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

    pub fn receipts(&self) -> Result<Vec<(NodeId, Receipt)>> {
        let db = self.store.read();
        let mut out = Vec::new();
        for row in db.doc_heads(0)? {
            if let Some(owner) = row.id.receipt_owner()
                && let Some(d) = db.doc(&row.id)?
                && let Ok(r) = serde_json::from_str(&d.view)
            {
                out.push((owner, r));
            }
        }
        Ok(out)
    }

    pub fn reach(&self, notice: &DocId) -> Result<Vec<Reach>> {
        let roster = self.roster()?;
        let mut out: Vec<Reach> = self
            .receipts()?
            .into_iter()
            .filter_map(|(node, r)| {
                let since = *r.notices.get(notice.as_str())?;
                let m = roster.member(&node);
                Some(Reach {
                    node,
                    name: m.map(|m| m.name.clone()).unwrap_or_default(),
                    role: m.map(|m| m.role),
                    place: m.map(|m| m.place.clone()).unwrap_or_default(),
                    since,
                })
            })
            .collect();
        out.sort_by_key(|r| r.since);
        Ok(out)
    }

    /// Records in this node's receipt that it now holds these notices.
    fn note_receipts(&mut self, notices: &[DocId]) -> Result<()> {
        if notices.is_empty() || self.my_role()?.is_none() {
            return Ok(());
        }
        let me = self.node_id();
        let rid = DocId::receipt(&me);
        let have: Receipt = self
            .store
            .read()
            .doc(&rid)?
            .and_then(|r| serde_json::from_str(&r.view).ok())
            .unwrap_or_default();
        let now = text::now();
        let new: Vec<(DocId, i64)> = notices
            .iter()
            .filter(|n| !have.notices.contains_key(n.as_str()))
            .map(|n| (n.clone(), now))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let fresh = have.notices.is_empty();
        self.edit(&rid, |tx| {
            if fresh {
                put_header(tx, Kind::Receipt, &me, now)?;
                write_receipt_header(tx)?;
            }
            write_receipt_entries(tx, &new)
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
        let identity = self.identity.clone();
        let actor = self.actor.clone();
        let commune = self.commune_id()?;
        self.store.write(|db| {
            let (mut doc, _) = load_doc(db, id)?;
            doc.set_actor(actor);
            let before = doc.get_heads();
            doc.transact_with::<_, _, AutomergeError, _>(
                |_| CommitOptions::default().with_time(text::now()),
                |tx| f(tx),
            )
            .map_err(|e| anyhow!("cannot edit {id}: {}", e.error))?;
            // One transaction makes at most one change; `get_changes(&before)` would
            // walk the whole history of a large document (a kiosk's receipt) to find it.
            let mut signed = Vec::new();
            if doc.get_heads() != before
                && let Some(mut c) = doc.get_last_local_change()
            {
                signed.push(SignedChange::sign(&identity, id, &mut c));
            }
            let verified = signed
                .into_iter()
                .map(|s| s.verify())
                .collect::<Result<Vec<_>>>()?;
            let mut report = ImportReport::default();
            apply(db, commune.as_ref(), verified, None, &mut report)?;
            if let Some(r) = report.rejected.first() {
                bail!("refused: {}", r.reason);
            }
            Ok(())
        })
    }

    /// Imports changes from a peer or a bundle. Envelope-invalid and forbidden changes
    /// are refused (logged, not stored); changes missing dependencies wait, bounded.
    pub fn import(
        &mut self,
        changes: Vec<SignedChange>,
        via: Option<&NodeId>,
    ) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        let now = text::now();
        let (verified, bad) = verify_all(changes);
        let commune = self.commune_id()?;
        let new_notices = self.store.write(|db| {
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
            let before: BTreeSet<DocId> = verified
                .iter()
                .map(|v| v.signed.doc.clone())
                .filter(|d| d.kind() == Kind::Notice)
                .filter(|d| db.doc_brief(d).ok().flatten().is_none())
                .collect();
            apply(db, commune.as_ref(), verified, via, &mut report)?;
            Ok(before
                .into_iter()
                .filter(|d| report.changed.contains(d))
                .collect::<Vec<_>>())
        })?;
        self.note_receipts(&new_notices)?;
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

/// Checks envelopes (signature, decoding) on every core: it is pure CPU work and a
/// large share of an import.
fn verify_all(changes: Vec<SignedChange>) -> (Vec<VerifiedChange>, Vec<(DocId, String)>) {
    let results = par_map(changes, 64, |c| {
        let doc = c.doc.clone();
        c.verify()
            .map(|mut v| {
                model::rules::pre_analyse(&mut v);
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

/// Applies verified changes inside one write transaction. Roster changes go first,
/// since every other verdict depends on the roster.
fn apply(
    db: Db<'_>,
    commune: Option<&NodeId>,
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
    let mut groups: BTreeMap<(bool, DocId), Vec<VerifiedChange>> = BTreeMap::new();
    for v in verified {
        let d = v.signed.doc.clone();
        groups
            .entry((d.kind() != Kind::Roster, d))
            .or_default()
            .push(v);
    }
    let mut roster = current_roster(db)?;
    // Documents new to this store (nothing stored, nothing pending) are independent of
    // each other and of the store: check and apply them on every core, then write them.
    // The roster goes first and sequentially, since every other verdict depends on it.
    let roster_changed = groups.keys().any(|(not_roster, _)| !not_roster);
    if !roster_changed {
        let mut fresh = Vec::new();
        let mut rest = BTreeMap::new();
        for (key, changes) in groups {
            if is_fresh(db, &key.1, &changes)? {
                fresh.push((key.1, changes));
            } else {
                rest.insert(key, changes);
            }
        }
        for f in apply_fresh_parallel(fresh, commune, &roster)? {
            match f {
                FreshOutcome::Done(f) => write_fresh(db, *f, via, report, now)?,
                FreshOutcome::Fallback(id, changes) => {
                    rest.insert((true, id), changes);
                }
            }
        }
        groups = rest;
    }
    for ((not_roster, id), mut changes) in groups {
        // Changes parked earlier for this document get another chance now.
        for p in db.pending_for(&id)? {
            if let Ok(v) = p.verify() {
                changes.push(v);
            }
        }
        let (mut doc, row) = load_doc(db, &id)?;
        let mut last_seq = row.as_ref().map(|r| r.last_seq).unwrap_or(0);
        let mut first_seq = row.as_ref().map(|r| r.first_seq).unwrap_or(0);
        let mut accepted_any = false;
        let mut seen = BTreeSet::new();
        let mut queue: Vec<VerifiedChange> = Vec::new();
        for c in changes {
            if !seen.insert(c.hash) {
                continue;
            }
            if db.has_change(&c.hash.0)? {
                db.remove_pending(&c.hash.0)?;
                report.duplicates += 1;
                continue;
            }
            queue.push(c);
        }
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
                let actor = c.change.actor_id().to_bytes().to_vec();
                let actor_seq = c.change.seq();
                // Equivocation: the same author signed two different changes with one
                // (actor, sequence number). Every node keeps the one with the smaller
                // hash, whatever order they arrive in, and drops the other with
                // everything built on it.
                let mut equivocation = None;
                if let Some(other) = db.change_at(&id, &actor, actor_seq)?
                    && other != c.hash.0
                {
                    tracing::warn!(doc = %id, author = %c.author.short(), "equivocation: two changes with one actor and sequence number");
                    if c.hash.0 < other {
                        db.log_rejection(
                            Some(&id),
                            Some(&other),
                            Some(&c.author),
                            via,
                            "equivocation: dropped for the change with the smaller hash",
                            now,
                        )?;
                        drop_changes(db, &id, BTreeSet::from([other]), report)?;
                        doc = load_doc(db, &id)?.0;
                    } else {
                        equivocation = Some(format!(
                            "equivocation by {}: another change with the same actor and sequence number is kept",
                            c.author.short()
                        ));
                    }
                }
                let r = if id.kind() == Kind::Roster {
                    model::rules::check_change(&id, commune, &read_roster(&doc), &doc, &c)
                } else {
                    model::rules::check_change(&id, commune, &roster, &doc, &c)
                };
                let hostile = !matches!(r, Err(model::rules::Rejection::Revoked(_)))
                    && equivocation.is_none();
                let mut touched = false;
                let verdict = match equivocation {
                    Some(e) => Err(e),
                    None => r.map_err(|e| e.to_string()),
                }
                .and_then(|()| {
                    touched = true;
                    let change = c.change.clone();
                    match model::signed::guard(|| doc.apply_changes([change])) {
                        Ok(r) => r.map_err(|e| format!("change does not apply: {e}")),
                        Err(()) => {
                            Err("change does not apply: the document engine gave up on it".into())
                        }
                    }
                });
                match verdict {
                    Ok(()) => {
                        last_seq = db.insert_change(
                            &c.hash.0, &c.signed, &c.author, &actor, actor_seq, via, now,
                        )?;
                        if first_seq == 0 {
                            first_seq = last_seq;
                        }
                        accepted_any = true;
                        report.accepted += 1;
                    }
                    Err(reason) => {
                        refuse(db, &id, &c, reason, hostile, via, report, now)?;
                        // A failed apply may leave the document half-updated: rebuild it
                        // from the log (which holds exactly the accepted history).
                        if touched {
                            doc = rebuild_doc(db, &id)?;
                        }
                    }
                }
            }
            queue = waiting;
            if !progress || queue.is_empty() {
                break;
            }
        }
        for c in queue {
            if db.add_pending(&c.hash.0, &c.signed, via, now)? {
                report.pending += 1;
            } else {
                report.overflow = true;
            }
        }
        if accepted_any {
            save_doc(db, &id, &doc, first_seq, last_seq)?;
            report.changed.insert(id.clone());
        }
        if !not_roster {
            let new_roster = current_roster(db)?;
            for (node, m) in &new_roster.members {
                let was = roster.member(node).and_then(|m| m.revoked.as_ref());
                if let (Some(rv), None) = (&m.revoked, was) {
                    purge_revoked(db, node, rv, report)?;
                }
            }
            roster = new_roster;
        }
    }
    Ok(())
}

/// Nothing of this document is stored or pending, and none of these changes is known.
fn is_fresh(db: Db<'_>, id: &DocId, changes: &[VerifiedChange]) -> Result<bool> {
    if db.doc_brief(id)?.is_some() || !db.pending_for(id)?.is_empty() {
        return Ok(false);
    }
    for c in changes {
        if db.has_change(&c.hash.0)? {
            return Ok(false);
        }
    }
    Ok(true)
}

struct Fresh {
    id: DocId,
    accepted: Vec<VerifiedChange>,
    rejected: Vec<(VerifiedChange, String, bool)>,
    waiting: Vec<VerifiedChange>,
    row: Option<DocRow>,
}

enum FreshOutcome {
    Done(Box<Fresh>),
    /// Something only the sequential path handles (an equivocation inside the batch).
    Fallback(DocId, Vec<VerifiedChange>),
}

/// Checks and applies the changes of a document new to this store, in memory.
fn apply_fresh(
    id: DocId,
    changes: Vec<VerifiedChange>,
    commune: &NodeId,
    roster: &Roster,
) -> Result<FreshOutcome> {
    let mut seen = BTreeSet::new();
    let mut by_actor_seq: BTreeMap<(Vec<u8>, u64), [u8; 32]> = BTreeMap::new();
    let mut queue = Vec::new();
    for c in changes.iter() {
        if !seen.insert(c.hash) {
            continue;
        }
        let key = (c.change.actor_id().to_bytes().to_vec(), c.change.seq());
        if by_actor_seq.insert(key, c.hash.0).is_some() {
            return Ok(FreshOutcome::Fallback(id, changes));
        }
        queue.push(c.clone());
    }
    let mut doc = Automerge::new();
    let mut have: BTreeSet<[u8; 32]> = BTreeSet::new();
    let (mut accepted, mut rejected) = (Vec::new(), Vec::new());
    loop {
        let mut progress = false;
        let mut waiting = Vec::new();
        for c in queue {
            if !c.change.deps().iter().all(|d| have.contains(&d.0)) {
                waiting.push(c);
                continue;
            }
            progress = true;
            let r = model::rules::check_change(&id, commune, roster, &doc, &c);
            let hostile = !matches!(r, Err(model::rules::Rejection::Revoked(_)));
            let verdict = match r {
                Err(e) => Err((e.to_string(), false)),
                Ok(()) => {
                    let change = c.change.clone();
                    match model::signed::guard(|| doc.apply_changes([change])) {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(e)) => Err((format!("change does not apply: {e}"), true)),
                        Err(()) => Err((
                            "change does not apply: the document engine gave up on it".into(),
                            true,
                        )),
                    }
                }
            };
            match verdict {
                Ok(()) => {
                    have.insert(c.hash.0);
                    accepted.push(c);
                }
                Err((reason, touched)) => {
                    if touched {
                        // Rebuild from exactly the accepted history.
                        doc = Automerge::new();
                        doc.apply_changes(
                            accepted.iter().map(|a: &VerifiedChange| a.change.clone()),
                        )?;
                    }
                    rejected.push((c, reason, hostile));
                }
            }
        }
        queue = waiting;
        if !progress || queue.is_empty() {
            break;
        }
    }
    let row = if accepted.is_empty() {
        None
    } else {
        Some(build_row(&id, &doc)?)
    };
    Ok(FreshOutcome::Done(Box::new(Fresh {
        id,
        accepted,
        rejected,
        waiting: queue,
        row,
    })))
}

fn apply_fresh_parallel(
    fresh: Vec<(DocId, Vec<VerifiedChange>)>,
    commune: &NodeId,
    roster: &Roster,
) -> Result<Vec<FreshOutcome>> {
    par_map(fresh, 16, |(id, c)| apply_fresh(id, c, commune, roster))
        .into_iter()
        .collect()
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

/// Writes what `apply_fresh` decided: accepted changes in order, refusals, the
/// changes still waiting for dependencies, and the document's cache row.
fn write_fresh(
    db: Db<'_>,
    f: Fresh,
    via: Option<&NodeId>,
    report: &mut ImportReport,
    now: i64,
) -> Result<()> {
    let (mut first, mut last) = (0, 0);
    for c in &f.accepted {
        let actor = c.change.actor_id().to_bytes().to_vec();
        last = db.insert_change(
            &c.hash.0,
            &c.signed,
            &c.author,
            &actor,
            c.change.seq(),
            via,
            now,
        )?;
        if first == 0 {
            first = last;
        }
        report.accepted += 1;
    }
    for (c, reason, hostile) in f.rejected {
        refuse(db, &f.id, &c, reason, hostile, via, report, now)?;
    }
    for c in f.waiting {
        if db.add_pending(&c.hash.0, &c.signed, via, now)? {
            report.pending += 1;
        } else {
            report.overflow = true;
        }
    }
    if let Some(mut row) = f.row {
        row.first_seq = first;
        row.last_seq = last;
        db.put_doc(&row)?;
        report.changed.insert(f.id);
    }
    Ok(())
}

fn current_roster(db: Db<'_>) -> Result<Roster> {
    Ok(db
        .doc(&DocId::roster())?
        .and_then(|r| serde_json::from_str(&r.view).ok())
        .unwrap_or_default())
}

/// Drops every change by a revoked node outside its cut, and every change that
/// builds on one, then rebuilds the documents they touched. Runs whenever a
/// revocation arrives, so a node that received the lost laptop's changes before the
/// revocation ends in the same state as one that never saw them.
fn purge_revoked(
    db: Db<'_>,
    node: &NodeId,
    rv: &Revocation,
    report: &mut ImportReport,
) -> Result<()> {
    let keep: BTreeSet<String> = rv.cut.iter().cloned().collect();
    let mut affected: BTreeSet<DocId> = BTreeSet::new();
    let mut dropped: BTreeSet<[u8; 32]> = BTreeSet::new();
    for c in db.changes_by(node)? {
        if !keep.contains(&hex::encode(c.hash)) {
            affected.insert(c.signed.doc.clone());
            dropped.insert(c.hash);
        }
    }
    for id in &affected {
        let mine: BTreeSet<[u8; 32]> = db
            .doc_changes(id)?
            .into_iter()
            .map(|c| c.hash)
            .filter(|h| dropped.contains(h))
            .collect();
        drop_changes(db, id, mine, report)?;
    }
    if !dropped.is_empty() {
        tracing::warn!(node = %node.short(), dropped = dropped.len(), "revocation dropped changes made after the cut");
    }
    Ok(())
}

/// Deletes `dropped` changes of `id` and every change that builds on them, then
/// rebuilds the document from what remains.
fn drop_changes(
    db: Db<'_>,
    id: &DocId,
    mut dropped: BTreeSet<[u8; 32]>,
    report: &mut ImportReport,
) -> Result<()> {
    // The log is in causal order, so one pass finds all descendants.
    for c in db.doc_changes(id)? {
        if dropped.contains(&c.hash) {
            continue;
        }
        if let Ok(ch) = automerge::Change::from_bytes(c.signed.bytes.clone())
            && ch.deps().iter().any(|d| dropped.contains(&d.0))
        {
            dropped.insert(c.hash);
        }
    }
    for h in &dropped {
        db.delete_change(h)?;
    }
    let remaining = db.doc_changes(id)?;
    if remaining.is_empty() {
        db.delete_doc(id)?;
    } else {
        let doc = rebuild_doc(db, id)?;
        let first = remaining.first().map(|c| c.seq).unwrap_or(0);
        let last = remaining.last().map(|c| c.seq).unwrap_or(0);
        save_doc(db, id, &doc, first, last)?;
    }
    report.changed.insert(id.clone());
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
    fn import(&mut self, changes: Vec<SignedChange>, via: &NodeId) -> Result<ImportReport> {
        Repo::import(self, changes, Some(via))
    }
    fn is_member(&mut self, peer: &NodeId) -> Result<bool> {
        Ok(self.roster()?.active_role(peer).is_some())
    }
}
