//! Reconciliation proper: starting a round from the class roots and answering the
//! peer's steps — announced items (`Have`), differing nodes (`Fp`: split, list or
//! push), listings (`Items`: want what we lack, push what the lister lacks). Apart
//! from `mod.rs` (the session's state, its messages in and out, batches and acks)
//! because this is where "how many round trips, and why" is read. Also the first
//! step after the `Hello`s (`on_hello`) and the whole-set check that ends a round
//! (`check_synced`), with the later classes of "Mixed versions".

use super::*;

impl Session {
    /// Starts a round from the class roots (after `Idle`s with different sets, or
    /// when a restricted peer proved its membership).
    pub(super) fn new_round(&mut self, store: &mut impl Storage) -> Result<(), SyncError> {
        self.pushed.clear();
        for (c, s) in store.recon_classes()? {
            if self.classes_allowed(c) {
                let node = NodeRef::root(c);
                self.ranges.push(Range::Fp {
                    node,
                    count: s.count,
                    fp: recon::fp(&self.nonce, node, &s),
                });
            }
        }
        // A class we lack entirely still needs a word, or the peer would not know.
        let have: BTreeSet<u8> = store.recon_classes()?.iter().map(|(c, _)| *c).collect();
        for c in 0..recon::CLASSES {
            if !have.contains(&c) && self.classes_allowed(c) {
                self.ranges.push(Range::Items {
                    node: NodeRef::root(c),
                    ids: Vec::new(),
                });
            }
        }
        Ok(())
    }

    pub(super) fn on_range(&mut self, store: &mut impl Storage, r: Range) -> Result<(), SyncError> {
        if !self.classes_allowed(range_class(&r)) {
            return Ok(());
        }
        match r {
            Range::Fp { node, count, fp } => self.on_fp(store, node, count, fp),
            Range::Children { node, kids } => {
                let mut theirs: HashMap<u8, (u64, recon::Fp)> = HashMap::new();
                for k in kids {
                    theirs.insert(k.nibble, (k.count, k.fp));
                }
                let mine: HashMap<u8, NodeSum> =
                    self.read_children(store, node)?.into_iter().collect();
                for nib in 0..16u8 {
                    let (pc, pfp) = theirs.get(&nib).copied().unwrap_or((0, [0; 8]));
                    if pc == 0 && !mine.contains_key(&nib) {
                        continue;
                    }
                    self.on_fp(store, node.child(nib), pc, pfp)?;
                }
                Ok(())
            }
            Range::Items { node, ids } => {
                let theirs: HashSet<recon::ShortId> = ids.iter().copied().collect();
                let mut have: HashSet<recon::ShortId> = HashSet::new();
                for k in self.read_items(store, node)? {
                    let id = recon::short_id(&self.peer_nonce, &k.hash);
                    have.insert(id);
                    if !theirs.contains(&id) {
                        self.queue(k);
                    }
                }
                let want: Vec<recon::ShortId> =
                    ids.into_iter().filter(|i| !have.contains(i)).collect();
                self.awaiting += want.len() as u64;
                if !want.is_empty() || node.class <= URGENT {
                    self.ranges.push(Range::Want { node, ids: want });
                }
                self.unsettled.remove(&node.class);
                Ok(())
            }
            Range::Want { node, ids } => {
                let wanted: HashSet<recon::ShortId> = ids.into_iter().collect();
                if !wanted.is_empty() {
                    for k in self.read_items(store, node)? {
                        if wanted.contains(&recon::short_id(&self.nonce, &k.hash)) {
                            // Already queued or sent this round: once is enough.
                            self.queue(k);
                        }
                    }
                }
                self.unsettled.remove(&node.class);
                Ok(())
            }
            Range::Have { items } => {
                self.on_have(store, items)?;
                Ok(())
            }
        }
    }

    /// Asks for the announced items we lack; returns how many per class.
    pub(super) fn on_have(
        &mut self,
        store: &mut impl Storage,
        items: Vec<Located>,
    ) -> Result<BTreeMap<u8, u64>, SyncError> {
        let mut by_leaf: BTreeMap<NodeRef, Vec<recon::ShortId>> = BTreeMap::new();
        for it in items {
            if it.class >= recon::CLASSES || !self.classes_allowed(it.class) {
                continue;
            }
            let node = NodeRef {
                class: it.class,
                depth: recon::DEPTH,
                prefix: it.leaf,
            };
            by_leaf.entry(node).or_default().push(it.id);
        }
        let mut classes = BTreeMap::new();
        for (node, ids) in by_leaf {
            let have: HashSet<recon::ShortId> = self
                .read_items(store, node)?
                .iter()
                .map(|k| recon::short_id(&self.peer_nonce, &k.hash))
                .collect();
            let want: Vec<recon::ShortId> = ids.into_iter().filter(|i| !have.contains(i)).collect();
            if !want.is_empty() {
                *classes.entry(node.class).or_default() += want.len() as u64;
                self.awaiting += want.len() as u64;
                self.ranges.push(Range::Want { node, ids: want });
            }
        }
        Ok(classes)
    }

    /// The peer's node `node` holds `count` items with fingerprint `fp` (its nonce).
    pub(super) fn on_fp(
        &mut self,
        store: &mut impl Storage,
        node: NodeRef,
        count: u64,
        fp: recon::Fp,
    ) -> Result<(), SyncError> {
        if node.depth == 0 && count > 0 && self.assumed_empty.remove(&node.class) {
            // The peer's `Hello` listed nothing of this class, so we queued it whole;
            // it now says it holds some. Drop what is still queued (what already went,
            // went) and reconcile the class instead.
            let stale: Vec<SendKey> = self
                .push
                .iter()
                .filter(|k| k.0.class == node.class)
                .copied()
                .collect();
            for k in stale {
                self.push.remove(&k);
                self.pushed.remove(&k.0.hash);
            }
        }
        self.budget.charge(1)?;
        let mine = if node.depth == 0 {
            store
                .recon_classes()?
                .into_iter()
                .find(|(c, _)| *c == node.class)
                .map(|(_, s)| s)
                .unwrap_or_default()
        } else {
            store.recon_node(node)?
        };
        if mine.count == count && (count == 0 || recon::fp(&self.peer_nonce, node, &mine) == fp) {
            if node.depth == 0 {
                self.unsettled.remove(&node.class);
            }
            return Ok(());
        }
        if mine.count == 0 {
            // Tell the peer we hold nothing here: it pushes all of it.
            self.ranges.push(Range::Items {
                node,
                ids: Vec::new(),
            });
            return Ok(());
        }
        if count == 0 {
            return self.push_all(store, node);
        }
        if node.depth == recon::DEPTH
            || mine.count <= LIST_MAX
            || (node.class <= URGENT && mine.count <= URGENT_LIST_MAX)
        {
            return self.list(store, node);
        }
        if mine.count > TWO_LEVELS && node.depth + 2 <= recon::DEPTH {
            // A large node: its children would be split again, so send the next two
            // levels at once (one round trip less per two levels, ~3.6 KB). Every
            // grandchild is named, empty ones too, so the peer can tell "I hold
            // nothing there" from "not sent". `Fp` is a step every version-2 peer
            // already answers.
            let kids = self.read_children(store, node)?;
            let mut sums: HashMap<u8, Vec<(u8, NodeSum)>> = HashMap::new();
            for (nib, _) in &kids {
                sums.insert(*nib, self.read_children(store, node.child(*nib))?);
            }
            for a in 0..16u8 {
                let grand: HashMap<u8, NodeSum> =
                    sums.remove(&a).unwrap_or_default().into_iter().collect();
                for b in 0..16u8 {
                    let g = node.child(a).child(b);
                    let s = grand.get(&b).copied().unwrap_or_default();
                    self.ranges.push(Range::Fp {
                        node: g,
                        count: s.count,
                        fp: recon::fp(&self.nonce, g, &s),
                    });
                }
            }
            return Ok(());
        }
        let kids = self
            .read_children(store, node)?
            .into_iter()
            .map(|(nibble, s)| Kid {
                nibble,
                count: s.count,
                fp: recon::fp(&self.nonce, node.child(nibble), &s),
            })
            .collect();
        self.ranges.push(Range::Children { node, kids });
        Ok(())
    }

    /// Every item under `node`, charged to the peer's read budget (`budget`).
    fn read_items(
        &mut self,
        store: &mut impl Storage,
        node: NodeRef,
    ) -> Result<Vec<ItemKey>, SyncError> {
        let items = store.recon_items(node)?;
        self.budget.charge(1 + items.len() as u64)?;
        Ok(items)
    }

    /// The children summaries of `node`, charged likewise.
    fn read_children(
        &mut self,
        store: &mut impl Storage,
        node: NodeRef,
    ) -> Result<Vec<(u8, NodeSum)>, SyncError> {
        let kids = store.recon_children(node)?;
        self.budget.charge(1 + kids.len() as u64)?;
        Ok(kids)
    }

    pub(super) fn list(
        &mut self,
        store: &mut impl Storage,
        node: NodeRef,
    ) -> Result<(), SyncError> {
        let mut ids: Vec<recon::ShortId> = self
            .read_items(store, node)?
            .iter()
            .map(|k| recon::short_id(&self.nonce, &k.hash))
            .collect();
        // A listing larger than one message is split by children instead.
        if ids.len() > wire::MAX_IDS && node.depth < recon::DEPTH {
            for (nib, s) in self.read_children(store, node)? {
                let child = node.child(nib);
                self.ranges.push(Range::Fp {
                    node: child,
                    count: s.count,
                    fp: recon::fp(&self.nonce, child, &s),
                });
            }
            return Ok(());
        }
        ids.truncate(wire::MAX_IDS);
        self.ranges.push(Range::Items { node, ids });
        Ok(())
    }

    pub(super) fn push_all(
        &mut self,
        store: &mut impl Storage,
        node: NodeRef,
    ) -> Result<(), SyncError> {
        for k in self.read_items(store, node)? {
            self.queue(k);
        }
        Ok(())
    }
}

/// Splits reconciliation steps into messages within the wire limits.
pub(super) fn chunk_ranges(all: Vec<Range>) -> Vec<Msg> {
    let mut out = Vec::new();
    let mut cur: Vec<Range> = Vec::new();
    let mut ids = 0usize;
    for r in all {
        let n = range_ids(&r);
        if !cur.is_empty() && (cur.len() >= wire::MAX_RANGES || ids + n > wire::MAX_IDS) {
            out.push(Msg::Ranges {
                ranges: std::mem::take(&mut cur),
            });
            ids = 0;
        }
        ids += n;
        cur.push(r);
    }
    if !cur.is_empty() {
        out.push(Msg::Ranges { ranges: cur });
    }
    out
}

pub(super) fn range_class(r: &Range) -> u8 {
    match r {
        Range::Fp { node, .. }
        | Range::Children { node, .. }
        | Range::Items { node, .. }
        | Range::Want { node, .. } => node.class,
        Range::Have { items } => items.iter().map(|i| i.class).min().unwrap_or(0),
    }
}

fn range_ids(r: &Range) -> usize {
    match r {
        Range::Items { ids, .. } | Range::Want { ids, .. } => ids.len(),
        Range::Have { items } => items.len(),
        Range::Children { kids, .. } => kids.len(),
        Range::Fp { .. } => 1,
    }
}

/// The whole-set check and the first step after the `Hello`s.
impl Session {
    /// Compares our whole set with the peer's last announcement.
    pub(super) fn check_synced(&mut self, store: &mut impl Storage) -> Result<bool, SyncError> {
        let Some((their, total)) = self.peer_set else {
            return Ok(false);
        };
        // A restricted session compares the roster only: equal rosters say nothing
        // of the rest, so "Synced" is never said to a peer not known as a member.
        if self.restricted {
            return Ok(false);
        }
        let (mine, later_equal) = if self.peer_set_from_hello {
            let all = store.recon_classes()?;
            // Each later class either side holds: equal roots.
            let mine_later: BTreeMap<u8, NodeSum> = all
                .iter()
                .filter(|(c, _)| *c >= recon::LATER && self.classes_allowed(*c))
                .copied()
                .collect();
            let later: BTreeSet<u8> = mine_later
                .keys()
                .chain(self.peer_classes.keys().filter(|c| **c >= recon::LATER))
                .copied()
                .collect();
            let later_equal = later.into_iter().all(|c| {
                let m = mine_later.get(&c).copied().unwrap_or_default();
                let (pc, pfp) = self.peer_classes.get(&c).copied().unwrap_or((0, [0; 8]));
                m.count == pc
                    && (pc == 0 || recon::fp(&self.peer_nonce, NodeRef::root(c), &m) == pfp)
            });
            let base: Vec<(u8, NodeSum)> = all
                .into_iter()
                .filter(|(c, _)| *c < recon::LATER && self.classes_allowed(*c))
                .collect();
            (recon::set_hash(&base), later_equal)
        } else {
            (self.my_set(store)?, true)
        };
        if later_equal && mine.count == total && recon::set_fp(&self.peer_nonce, &mine) == their {
            if !self.synced {
                self.synced = true;
                self.idle_rounds = 0;
                self.events.push_back(Event::Synced);
            }
            self.unsettled.clear();
            return Ok(true);
        }
        self.synced = false;
        Ok(false)
    }

    pub(super) fn on_hello(
        &mut self,
        store: &mut impl Storage,
        recent: Vec<Located>,
    ) -> Result<(), SyncError> {
        // Recent items first: a peer one notice ahead costs one want, no descent.
        let peer_recent: HashSet<recon::ShortId> = recent.iter().map(|l| l.id).collect();
        let wanted = self.on_have(store, recent)?;
        let mine: BTreeMap<u8, NodeSum> = store.recon_classes()?.into_iter().collect();
        for c in 0..recon::CLASSES {
            if !self.classes_allowed(c) {
                self.unsettled.remove(&c);
                continue;
            }
            let m = mine.get(&c).copied().unwrap_or_default();
            let (pc, pfp) = self.peer_classes.get(&c).copied().unwrap_or((0, [0; 8]));
            let node = NodeRef::root(c);
            if m.count == pc && recon::fp(&self.peer_nonce, node, &m) == pfp {
                self.unsettled.remove(&c);
                self.equal_at_hello.insert(c);
                continue;
            }
            if m.count == 0 {
                // The peer pushes everything of this class; nothing to say.
                self.unsettled.remove(&c);
                continue;
            }
            if pc == 0 && self.peer_restricted && c != 0 {
                // It listed the roster only: it starts a round of every class once
                // our enrolment reaches it. Pushing the class whole now would re-send
                // what it most likely holds.
                self.unsettled.remove(&c);
                continue;
            }
            if pc == 0 {
                self.push_all(store, node)?;
                self.assumed_empty.insert(c);
                self.unsettled.remove(&c);
                continue;
            }
            if c <= URGENT && m.count.max(pc) <= URGENT_LIST_MAX {
                // Urgent classes are small: both sides list at once, one round trip.
                // Past `URGENT_LIST_MAX` (a season of withdrawals) they are reconciled
                // by fingerprint like the others: listing 4,000 withdrawals cost 32 KB
                // each way, ~2.7 s on 2G, before the first urgent batch (issue 22).
                self.list(store, node)?;
                continue;
            }
            // One side descends: the one with fewer items here (likely behind).
            let driver = (m.count, self.me) < (pc, self.peer);
            if !driver {
                continue;
            }
            // Wait for the recent items we asked for only when they alone can explain
            // the difference (a peer a few items ahead); otherwise the descent is
            // needed anyway, and waiting would cost a round trip.
            if wanted.get(&c).is_some_and(|n| m.count + n == pc) {
                self.deferred.insert(c);
                continue;
            }
            self.on_fp(store, node, pc, pfp)?;
        }
        self.push_recent_urgent(store, &peer_recent)?;
        Ok(())
    }

    /// Deferred descents, once the recent items asked for have arrived.
    pub(super) fn run_deferred(&mut self, store: &mut impl Storage) -> Result<(), SyncError> {
        if self.awaiting > 0 || self.deferred.is_empty() {
            return Ok(());
        }
        for c in std::mem::take(&mut self.deferred) {
            let (pc, pfp) = self.peer_classes.get(&c).copied().unwrap_or((0, [0; 8]));
            self.on_fp(store, NodeRef::root(c), pc, pfp)?;
        }
        Ok(())
    }
}
