//! What leaves a session: changes in batches, urgent ones first and each with the
//! dependencies the peer may lack (`closure`), announcements of what arrived from
//! elsewhere (`Have`), and `Idle` when nothing is left. Apart from `mod.rs` (the
//! session's state and the messages it takes in) because this is where "what does
//! the peer get, in which order, and why" is read.

use super::*;

impl Session {
    /// Items stored since the watermark: ours are pushed (the peer cannot have them
    /// but through us), others announced so the peer asks for exactly what it lacks.
    pub(super) fn announce_new(&mut self, store: &mut impl Storage) -> Result<(), SyncError> {
        let pos = store.recon_position()?;
        if pos <= self.watermark {
            return Ok(());
        }
        let new = store.recon_since(self.watermark, &self.peer)?;
        self.watermark = pos;
        let mut have = Vec::new();
        for (k, local) in new {
            if !self.classes_allowed(k.class) {
                continue;
            }
            if local {
                self.queue(k);
            } else {
                have.push(self.locate(&k));
            }
        }
        for chunk in have.chunks(wire::MAX_IDS) {
            self.ranges.push(Range::Have {
                items: chunk.to_vec(),
            });
        }
        Ok(())
    }

    /// Sends batches while the window allows; says `Idle` when there is nothing left.
    /// The dependencies of urgent item `k` the peer may lack, each after its own
    /// (a depth-first post-order, so every change comes after what it needs), at most
    /// [`MAX_CLOSURE`]. "May lack": still queued for it, or of a class not settled
    /// yet and not equal at the `Hello` (an urgent change goes out before the notices'
    /// classes are reconciled: the notice a withdrawal or an urgent edit builds on
    /// would otherwise come at the end of the backlog). A dependency the peer turns
    /// out to hold costs its bytes once; it never waits. Reads only: `take` moves
    /// the result out of the queue.
    pub(super) fn closure(
        &self,
        store: &mut impl Storage,
        k: ItemKey,
    ) -> Result<Vec<ItemKey>, SyncError> {
        let mut out: Vec<ItemKey> = Vec::new();
        // (item, its dependencies expanded yet?)
        let mut stack: Vec<(ItemKey, bool)> = vec![(k, false)];
        let mut seen: HashSet<[u8; 32]> = HashSet::from([k.hash]);
        while let Some((x, expanded)) = stack.pop() {
            if expanded {
                if x != k {
                    out.push(x);
                }
                continue;
            }
            stack.push((x, true));
            for d in store.recon_deps(&x.hash)? {
                if seen.len() > MAX_CLOSURE || !seen.insert(d.hash) {
                    continue;
                }
                let queued = self.push.contains(&SendKey(d));
                let unknown = d.class > URGENT
                    && !self.equal_at_hello.contains(&d.class)
                    && !self.pushed.contains(&d.hash);
                if (queued || unknown) && !self.restricted && self.classes_allowed(d.class) {
                    stack.push((d, false));
                }
            }
        }
        Ok(out)
    }

    /// Takes a closure's items out of the queue: they go now, ahead of their change.
    fn take(&mut self, items: &[ItemKey]) {
        for d in items {
            self.push.remove(&SendKey(*d));
            self.pushed.insert(d.hash);
        }
    }

    /// Does the peer certainly lack `k`'s notice entirely: `k` creates it (and is
    /// queued for the peer), or its creation is in the closure and known to be lacking
    /// (queued, or of a class the peer said it holds nothing of)? "May lack" is not
    /// enough: a withdrawal of a notice the peer shows must never be held back.
    fn lacks_notice(
        &self,
        store: &mut impl Storage,
        k: ItemKey,
        closure: &[ItemKey],
    ) -> Result<bool, SyncError> {
        if store.recon_deps(&k.hash)?.is_empty() {
            return Ok(true);
        }
        for d in closure {
            let lacking = self.push.contains(&SendKey(*d))
                || self.peer_classes.get(&d.class).is_some_and(|c| c.0 == 0);
            if lacking && store.recon_deps(&d.hash)?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Our newest urgent items (those in our own `Hello`'s recent list) go at once,
    /// with our answer to the peer's `Hello`, when the peer's urgent class differs
    /// from ours and its recent list does not name them: a storm warning leaves a
    /// round trip before the peer's `Want` could ask for it. On 2G that round trip
    /// is 0.4 s of a 2-s target, and a packet lost on the way doubles what the wait
    /// costs (W4b). If the peer held them after all, at most [`RECENT`] items and
    /// their dependencies cross twice, once per contact.
    pub(super) fn push_recent_urgent(
        &mut self,
        store: &mut impl Storage,
        peer_recent: &HashSet<recon::ShortId>,
    ) -> Result<(), SyncError> {
        if self.restricted || self.peer_restricted {
            return Ok(());
        }
        for k in self.recent_known(store)? {
            if k.class <= URGENT
                && !self.equal_at_hello.contains(&k.class)
                && self.peer_classes.contains_key(&k.class)
                && !peer_recent.contains(&recon::short_id(&self.peer_nonce, &k.hash))
            {
                self.queue(k);
            }
        }
        Ok(())
    }

    /// The dependencies of urgent `k` that travel with it (`closure`), when `k` and
    /// every one of them were made by the commune's founder; `None` otherwise. `k`
    /// is read first: another author's warning costs one read, not a closure.
    fn founders_own(
        &self,
        store: &mut impl Storage,
        k: ItemKey,
    ) -> Result<Option<Vec<ItemKey>>, SyncError> {
        if !self.by_founder(store, &k)? {
            return Ok(None);
        }
        let deps = self.closure(store, k)?;
        for d in &deps {
            if !self.by_founder(store, d)? {
                return Ok(None);
            }
        }
        Ok(Some(deps))
    }

    fn by_founder(&self, store: &mut impl Storage, k: &ItemKey) -> Result<bool, SyncError> {
        use crate::model::signed::actor_node;
        Ok(store.change(&k.hash)?.is_some_and(|c| {
            crate::model::declared::read(&c.bytes)
                .is_ok_and(|d| actor_node(&automerge::ActorId::from(d.actor)) == Some(self.commune))
        }))
    }

    pub(super) fn pump(&mut self, store: &mut impl Storage) -> Result<(), SyncError> {
        let packed = self.peer_upto >= wire::PACKED_VERSION;
        while self.in_flight < self.window {
            let mut batch: Vec<SignedChange> = Vec::new();
            let mut docs: BTreeSet<crate::model::DocId> = BTreeSet::new();
            let mut bytes = 0usize;
            let mut batch_class = u8::MAX;
            while let Some(SendKey(k)) = self.push.first().copied() {
                // Nothing of a class until every more urgent class is reconciled (the
                // roster first: every other verdict depends on it) — except an urgent
                // change the founder made, with dependencies the founder made too:
                // every member knows the founder (the commune's id is its key), so
                // it is readable on arrival whatever the peer's roster lacks. A
                // warning from the office then does not wait the round trip a new
                // enrolment in the roster costs (W4b: list, want, roster batch).
                let founders_deps = if self.unsettled.iter().any(|u| *u < k.class) {
                    let deps = if k.class == URGENT {
                        self.founders_own(store, k)?
                    } else {
                        None
                    };
                    if deps.is_none() {
                        break;
                    }
                    deps
                } else {
                    None
                };
                // Roster and urgent notices travel in a batch of their own, so on a
                // slow link they are committed without waiting for a batch of backlog.
                if !batch.is_empty()
                    && (bytes >= BATCH_BYTES
                        || batch.len() >= wire::MAX_CHANGES_PER_BATCH
                        || (batch_class <= URGENT && k.class > URGENT))
                {
                    break;
                }
                if k.class <= URGENT
                    && !batch.is_empty()
                    && batch.len() + MAX_CLOSURE >= wire::MAX_CHANGES_PER_BATCH
                {
                    break;
                }
                self.push.pop_first();
                // An urgent change travels with what it depends on, ahead of it in the
                // same batch, so it is readable on arrival (issue 22).
                let mut items = if k.class <= URGENT {
                    let deps = match founders_deps {
                        Some(deps) => deps,
                        None => self.closure(store, k)?,
                    };
                    // A withdrawal (or an urgent notice since withdrawn or past its
                    // end) of a notice the peer never had is no news to it: it goes
                    // with the notices' backlog, after its base, not ahead of a live
                    // warning (issue 22: 2,020 withdrawn notices held a storm warning
                    // back 4 s on 2G).
                    if k.class == URGENT
                        && self.lacks_notice(store, k, &deps)?
                        && !store.notice_live(&k.hash)?
                    {
                        self.push.insert(SendKey(ItemKey {
                            class: URGENT + 1,
                            ..k
                        }));
                        self.stats.demoted += 1;
                        continue;
                    }
                    self.take(&deps);
                    deps
                } else {
                    Vec::new()
                };
                items.push(k);
                if batch.is_empty() {
                    batch_class = k.class;
                }
                for item in items {
                    let Some(c) = store.change(&item.hash)? else {
                        continue;
                    };
                    bytes += c.bytes.len();
                    docs.insert(c.doc.clone());
                    batch.push(c);
                }
            }
            if batch.is_empty() {
                break;
            }
            self.stats.changes_sent += batch.len() as u64;
            self.stats.docs_sent += docs.len() as u64;
            self.in_flight += 1;
            let msg = if packed {
                for c in &mut batch {
                    c.bytes = wire::inflated_body(&c.bytes);
                }
                Msg::Packed { changes: batch }
            } else {
                Msg::Changes { changes: batch }
            };
            if batch_class <= URGENT && self.hello_sent {
                self.urgent_batches.push_back(msg);
            } else {
                self.outbox.push_back(msg);
            }
        }
        if self.is_idle() && self.peer_hello && self.ranges.is_empty() {
            let mine = self.my_set(store)?;
            let set = recon::set_fp(&self.nonce, &mine);
            let seen = self.work_received;
            // In sync and the peer already has our set's fingerprint: nothing to say.
            let known = self.synced && self.announced == Some(set);
            // Right after the hellos, a peer whose set differs always sends something
            // (a descent, a want, a push): wait for it rather than spend a flight.
            let early = self.work_received < 2 && self.announced == Some(set);
            if !known && !early && self.idle_sent_for != Some((set, seen)) {
                self.idle_sent_for = Some((set, seen));
                self.announced = Some(set);
                self.outbox.push_back(Msg::Idle {
                    set,
                    total: mine.count,
                    seen,
                });
            }
        }
        Ok(())
    }
}
