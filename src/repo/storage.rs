//! What the sync protocol and the node read of the store: the change set and its
//! reconciliation index, changes by hash, peers, and `sync::Storage` for `Repo`.
//! The protocol defines what it needs (`sync::Imported`); this is where the repo's
//! fuller `ImportReport` is narrowed to it.

use super::*;

impl Repo {
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
    fn recon_deps(&mut self, hash: &[u8; 32]) -> Result<Vec<crate::sync::ItemKey>> {
        self.recon_refresh()?;
        let db = self.store.read();
        let Some(c) = db.recon_change(hash)? else {
            return Ok(Vec::new());
        };
        // Read off the headers: nothing of the operations is decoded.
        let deps = crate::model::declared::read(&c.bytes)?.deps;
        let mut out = Vec::with_capacity(deps.len());
        for d in deps {
            out.extend(db.recon_key(&d)?);
        }
        Ok(out)
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
    fn notice_live(&mut self, hash: &[u8; 32]) -> Result<bool> {
        let db = self.store.read();
        let Some(c) = db.recon_change(hash)? else {
            return Ok(true);
        };
        let Some(row) = db.doc(&c.doc)? else {
            return Ok(true);
        };
        Ok(serde_json::from_str::<crate::model::Notice>(&row.view)
            .map_or(true, |n| n.is_live(crate::model::text::now())))
    }
}

impl From<ImportReport> for crate::sync::Imported {
    /// The protocol reads only these; the rest (counts, re-issues) stays with the repo.
    fn from(r: ImportReport) -> Self {
        crate::sync::Imported {
            accepted: r.accepted,
            changed: r.changed,
            rejected: r.rejected,
            overflow: r.overflow,
        }
    }
}
