//! Local edits: founding and joining a commune, the roster, notices, procedures and
//! requests as this node writes them. Each edit is signed and then goes through
//! `import::apply` like a peer's change (`EditCtx::edit_in`), so the rules that bind
//! everyone bind this node too; this file only builds the changes.

use super::*;

impl Repo {
    pub(super) fn require_role(&self, allowed: &[Role], what: &str) -> Result<Role> {
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

    // ---- commune and roster ----------------------------------------------------------

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
        let Some(commune) = self.commune_id()? else {
            bail!("no commune yet");
        };
        if node == commune {
            bail!("refusing to revoke the commune's founder: the founder's key is the commune");
        }
        if !verdict::roster::may_revoke(&commune, &roster, &self.node_id(), &node) {
            bail!(
                "official {} can be revoked only by the founder or an official ranked above it",
                node.short()
            );
        }
        // The cut: the node's chain heads among its valid changes, not every hash — a
        // device with 100,000 changes has one head (see `verdict::roster`).
        let links = self.store.read().valid_links_of(&node)?;
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

    // ---- notices ---------------------------------------------------------------------

    pub(super) fn clean_notice(d: &NoticeDraft) -> Result<NoticeDraft> {
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

    // ---- procedures ------------------------------------------------------------------

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

    // ---- requests --------------------------------------------------------------------

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
        // A new creation counts no earlier than the newest day its earlier ones count
        // on (`verdict::quota`; past the horizon the verdict alone decides).
        let today = {
            let db = self.store.read();
            let day = now.div_euclid(86_400);
            let day = db
                .newest_creation_day(&me, verdict::quota::UNLINKED)?
                .into_iter()
                .chain(db.newest_evidence_day(&me)?)
                .fold(day, i64::max);
            db.creations_on(&me, day)?
        };
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
    pub(super) fn new_code(&self, initials: &str, number: u32) -> Result<String> {
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

    // ---- the one door for changes ----------------------------------------------------

    /// What a local edit (or the receipt an import writes) needs of this node.
    pub(super) fn edit_ctx(&self) -> Result<EditCtx> {
        Ok(EditCtx {
            identity: self.identity.clone(),
            actor: self.actor.clone(),
            commune: self.commune_id()?,
            me: self.node_id(),
            member: self.my_role()?.is_some(),
        })
    }

    /// Makes a local change to `id`: edits a scratch copy as this node, signs the
    /// result and imports it like any other change (so the same rules apply).
    pub(super) fn edit(
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
    pub(super) fn reissue(&mut self, items: Vec<(DocId, Automerge, Vec<String>)>) -> Result<()> {
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
}

/// What a local edit needs of the node, so that it can run inside a write transaction
/// that is already open (an import writes this node's receipt in its own transaction).
pub(super) struct EditCtx {
    pub(super) identity: Identity,
    pub(super) actor: ActorId,
    pub(super) commune: Option<NodeId>,
    pub(super) me: NodeId,
    pub(super) member: bool,
}

impl EditCtx {
    pub(super) fn edit_in(
        &self,
        db: Db<'_>,
        id: &DocId,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), AutomergeError>,
    ) -> Result<ImportReport> {
        self.edit_in_at(db, id, None, f)
    }

    /// An edit made on `base` (the document at some of its past heads) instead of the
    /// document as held, by a fresh actor, at the time given: a release's chunks each
    /// build on its record alone (`repo::release`), so any of them is readable
    /// without the others and is sent after the record.
    pub(super) fn edit_in_at(
        &self,
        db: Db<'_>,
        id: &DocId,
        base: Option<(&Automerge, i64)>,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), AutomergeError>,
    ) -> Result<ImportReport> {
        let identity = &self.identity;
        let actor = self.actor.clone();
        let commune = self.commune;
        let me = self.me;
        let (mut doc, time) = match base {
            Some((b, t)) => (b.fork(), t),
            None => (load_doc(db, id)?.0, text::now()),
        };
        // Changes on a past state are concurrent with this node's others: each
        // needs an actor of its own, or two would share a sequence number (the
        // equivocation rule refuses the second).
        doc.set_actor(if base.is_some() {
            new_actor(&me)
        } else {
            actor
        });
        let before = doc.get_heads();
        // The author chain: this change names the previous change this node made —
        // except in a periodic receipt, whose changes form a chain of their own so
        // that dropping the receipt leaves no gap in this one (`repo::receipts`).
        // A later kind (a release) keeps a chain of its own too: the version before
        // this one reads a later-kind change in the key's line as a gap (ARCHITECTURE,
        // "Mixed versions", the contract for later versions).
        let receipt_link = receipts::receipt_link(db, id)?;
        let chain_key = if id.kind() == Kind::Other {
            META_LATER_CHAIN_HEAD
        } else {
            META_CHAIN_HEAD
        };
        let prev = match receipt_link {
            Some(prev) => prev,
            None => db.meta(chain_key)?.and_then(|h| {
                let mut b = [0u8; 32];
                hex::decode_to_slice(h, &mut b).ok().map(|()| b)
            }),
        };
        let message = ChainMeta::for_doc(id, prev).encode();
        doc.transact_with::<_, _, AutomergeError, _>(
            |_| {
                CommitOptions::default()
                    .with_time(time)
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
        if let Some(commune) = &commune {
            quota::finish(db, commune, &me, None, &mut report, text::now())?;
        }
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
            db.set_meta(chain_key, &hex::encode(h))?;
        }
        Ok(report)
    }
}

pub(super) fn list_roles(r: &[Role]) -> String {
    r.iter()
        .map(|r| format!("{r}s"))
        .collect::<Vec<_>>()
        .join(" and ")
}
