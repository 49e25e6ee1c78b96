//! The sync protocol as a sans-IO state machine: no sockets, no tokio, no clock, no
//! SQL. The I/O shell (`node`/`net`) feeds it messages with `handle_message`, local
//! news with `handle_local_change`, and sends what `poll_transmit` returns. Storage is
//! reached through the `Storage` trait, so a test can run many nodes in memory.
//!
//! One session per connection:
//! 1. Both sides send `Hello` with a digest of all they hold. Equal digests: done,
//!    one round trip, a few dozen bytes, however many documents.
//! 2. Otherwise each side offers the documents that changed on its side since the
//!    last completed sync with this peer (its cursor), minus what came from that
//!    peer; documents first seen after the cursor are pushed at once, since the peer
//!    cannot have them through us. A peer that holds nothing gets everything pushed.
//!    At a first contact between two non-empty stores only the smaller one offers
//!    everything; the larger one pushes whatever that offer does not name, most
//!    urgent first, so a kiosk does not wait behind a long list of the office's heads.
//! 3. Offers are answered with `Want` (my heads) for what the receiver lacks, and
//!    answered directly with the changes the offerer lacks.
//! 4. Changes travel in bounded batches, most urgent first (roster, urgent notices,
//!    notices, procedures, requests, receipts), a few batches in flight; every batch
//!    is verified and committed on arrival and acknowledged with the new digest.
//! 5. Equal digests end the round; both idle with different digests triggers one full
//!    offer of every document (the cursor is only an optimisation: a store restored
//!    from a backup, or a lost ack, heals here).
//!
//! The session stays open afterwards: local changes are pushed as they happen.

pub mod wire;

use std::collections::{BTreeMap, VecDeque};

use anyhow::Result;

use crate::identity::NodeId;
use crate::model::{DocId, SignedChange};
use crate::repo::ImportReport;
use crate::store::DocHeads;
pub use wire::{DocState, Msg};

/// Raw bytes of changes per batch before compression.
pub const BATCH_BYTES: usize = 32 * 1024;
/// Batches sent but not yet acknowledged.
pub const WINDOW: usize = 4;
/// Documents per offer/want message.
pub const DOCS_PER_MSG: usize = 512;
/// Priorities up to this one (roster, urgent notices) get batches of their own.
const URGENT: u8 = 1;

/// What the protocol needs from storage.
pub trait Storage {
    fn digest(&self) -> Result<([u8; 16], u64)>;
    fn log_position(&self) -> Result<i64>;
    /// Documents changed after `since`, except changes that came from `skip_via`.
    fn docs_changed_since(&self, since: i64, skip_via: Option<&NodeId>) -> Result<Vec<DocHeads>>;
    fn heads(&self, id: &DocId) -> Result<Option<Vec<[u8; 32]>>>;
    /// Sync priority of a document we hold (`model::priority`).
    fn priority(&self, id: &DocId) -> Result<u8>;
    fn knows(&self, hash: &[u8; 32]) -> Result<bool>;
    /// Changes of `id` outside the history of `their_heads`, in causal order.
    fn changes_missing(&self, id: &DocId, their_heads: &[[u8; 32]]) -> Result<Vec<SignedChange>>;
    fn import(&mut self, changes: Vec<SignedChange>, via: &NodeId) -> Result<ImportReport>;
    /// This node's own changes to `id` after log position `since`.
    fn local_changes_since(&self, id: &DocId, since: i64) -> Result<Vec<SignedChange>>;
    /// Is `peer` an active member of the commune (by our current roster)?
    fn is_member(&self, peer: &NodeId) -> Result<bool>;
    /// A sync with `peer` completed with the peer holding our log up to `cursor`.
    fn note_synced(&mut self, peer: &NodeId, cursor: i64) -> Result<()>;
}

/// A document to push: the heads the peer is known to have, or (for documents only
/// we write) our log position after which everything is new to the peer.
type PushItem = (DocId, Vec<[u8; 32]>, Option<i64>);

/// Why a session ended badly. The peer is disconnected.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("peer speaks protocol version {0}, we speak {v}", v = wire::VERSION)]
    Version(u16),
    #[error("peer belongs to another commune ({0})")]
    OtherCommune(String),
    #[error("peer sent {0} change(s) that were refused: {1}")]
    Refused(usize, String),
    #[error("peer pushed more changes with missing dependencies than we buffer")]
    PendingOverflow,
    #[error("peer is not a member of this commune")]
    NotMember,
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    #[error("peer closed: {0}")]
    PeerBye(String),
    #[error("storage: {0:#}")]
    Storage(#[from] anyhow::Error),
}

/// Counters for reports and benchmarks.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Stats {
    pub msgs_sent: u64,
    pub msgs_received: u64,
    /// Times this side had to wait for the peer: sends that follow a receive.
    pub round_trips: u64,
    pub docs_sent: u64,
    pub docs_received: u64,
    pub changes_sent: u64,
    pub changes_received: u64,
    pub changes_rejected: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Both sides hold the same heads for every document.
    Synced,
    /// Changes were committed; these documents moved.
    Received { docs: Vec<DocId> },
}

#[derive(Debug)]
pub struct Session {
    me: NodeId,
    peer: NodeId,
    commune: NodeId,
    /// Our log position the peer held after the last completed sync.
    cursor: i64,
    /// Our log position up to which we have offered or pushed to this peer.
    sent_pos: i64,
    hello_sent: bool,
    peer_hello: bool,
    peer_digest: Option<[u8; 16]>,
    peer_docs: u64,
    /// Our document count when the session started.
    my_docs: u64,
    /// At a first contact where the peer offers everything: the documents named so far.
    await_full: Option<std::collections::HashSet<DocId>>,
    /// Documents in `push`, to keep one entry per document.
    queued: std::collections::HashSet<DocId>,
    /// Documents to push, by (priority, order) → (doc, the heads the peer has).
    push: BTreeMap<(u8, u64), PushItem>,
    push_order: u64,
    /// Changes of the document being pushed that did not fit the last batch.
    carry: VecDeque<SignedChange>,
    in_flight: usize,
    outbox: VecDeque<Msg>,
    events: VecDeque<Event>,
    synced: bool,
    idle_sent_for: Option<([u8; 16], u64)>,
    fallback_done: bool,
    last_was_receive: bool,
    /// Messages other than `Idle` sent and received: an `Idle` answers work, never
    /// another `Idle`, so two idle peers do not ping-pong.
    work_sent: u64,
    work_received: u64,
    /// Synced but the cursor not yet recorded.
    note_pending: bool,
    /// Peer not (yet) known as a member: only roster changes flow, both ways, so it
    /// can prove its membership with officials' signatures and nothing else leaks.
    restricted: bool,
    stats: Stats,
}

impl Session {
    /// `cursor`: our log position this peer held after the last completed sync (0
    /// if never).
    pub fn new(me: NodeId, peer: NodeId, commune: NodeId, cursor: i64) -> Session {
        Session {
            me,
            peer,
            commune,
            cursor,
            sent_pos: 0,
            hello_sent: false,
            peer_hello: false,
            peer_digest: None,
            peer_docs: 0,
            my_docs: 0,
            await_full: None,
            push: BTreeMap::new(),
            queued: Default::default(),
            push_order: 0,
            carry: VecDeque::new(),
            in_flight: 0,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            synced: false,
            idle_sent_for: None,
            fallback_done: false,
            last_was_receive: true,
            note_pending: false,
            work_sent: 0,
            work_received: 0,
            restricted: false,
            stats: Stats::default(),
        }
    }

    /// Starts the session restricted to roster changes (see `Session::restricted`).
    pub fn restrict(&mut self) {
        self.restricted = true;
    }
    pub fn is_restricted(&self) -> bool {
        self.restricted
    }
    /// The peer proved its membership: offer everything.
    pub fn unrestrict(&mut self, store: &mut impl Storage) -> Result<(), SyncError> {
        if !self.restricted {
            return Ok(());
        }
        self.restricted = false;
        if self.peer_hello {
            self.first_offer(store)?;
            self.pump(store)?;
        }
        Ok(())
    }

    pub fn peer(&self) -> NodeId {
        self.peer
    }
    pub fn me(&self) -> NodeId {
        self.me
    }
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    pub fn is_synced(&self) -> bool {
        self.synced
    }
    /// Nothing queued, nothing unacknowledged.
    pub fn is_idle(&self) -> bool {
        self.push.is_empty() && self.carry.is_empty() && self.in_flight == 0
    }

    /// Queues our `Hello`.
    pub fn start(&mut self, store: &impl Storage) -> Result<(), SyncError> {
        let (digest, docs) = store.digest()?;
        self.my_docs = docs;
        let roster = store.heads(&DocId::roster())?.unwrap_or_default();
        self.outbox.push_back(Msg::Hello {
            version: wire::VERSION,
            commune: self.commune,
            digest,
            docs,
            roster,
        });
        self.hello_sent = true;
        Ok(())
    }

    pub fn poll_transmit(&mut self) -> Option<Msg> {
        let m = self.outbox.pop_front()?;
        self.stats.msgs_sent += 1;
        if !matches!(m, Msg::Idle { .. }) {
            self.work_sent += 1;
        }
        if self.last_was_receive {
            self.stats.round_trips += 1;
            self.last_was_receive = false;
        }
        Some(m)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn handle_message(&mut self, msg: Msg, store: &mut impl Storage) -> Result<(), SyncError> {
        self.stats.msgs_received += 1;
        if !matches!(msg, Msg::Idle { .. }) {
            self.work_received += 1;
        }
        self.last_was_receive = true;
        match msg {
            Msg::Hello {
                version,
                commune,
                digest,
                docs,
                roster,
            } => {
                if version != wire::VERSION {
                    return Err(SyncError::Version(version));
                }
                if commune != self.commune {
                    return Err(SyncError::OtherCommune(commune.short()));
                }
                if self.peer_hello {
                    return Err(SyncError::Protocol("second hello"));
                }
                self.peer_hello = true;
                self.peer_docs = docs;
                self.peer_digest = Some(digest);
                if !self.check_synced(store)? {
                    let mine = store.heads(&DocId::roster())?.unwrap_or_default();
                    // A peer not known as a member gets nothing, not even the roster,
                    // until its own roster changes prove its enrolment.
                    if mine != roster && !self.restricted {
                        self.queue_push(store, DocId::roster(), roster)?;
                    }
                    if !self.restricted {
                        self.first_offer(store)?;
                    }
                }
            }
            Msg::Offer { docs, last } => {
                self.require_hello()?;
                if let Some(named) = self.await_full.as_mut() {
                    named.extend(docs.iter().map(|d| d.id.clone()));
                }
                if last && let Some(named) = self.await_full.take() {
                    // The peer named everything it holds: the rest it lacks entirely.
                    for d in store.docs_changed_since(0, None)? {
                        if !named.contains(&d.id) {
                            self.queue_push(store, d.id, Vec::new())?;
                        }
                    }
                }
                let mut want = Vec::new();
                for d in docs {
                    if self.restricted && d.id != DocId::roster() {
                        continue;
                    }
                    let mine = store.heads(&d.id)?;
                    let mut unknown = false;
                    for h in &d.heads {
                        if !store.knows(h)? {
                            unknown = true;
                            break;
                        }
                    }
                    if unknown || mine.is_none() {
                        want.push(DocState {
                            id: d.id.clone(),
                            heads: mine.clone().unwrap_or_default(),
                        });
                    }
                    if let Some(m) = mine
                        && m != d.heads
                    {
                        self.queue_push(store, d.id, d.heads)?;
                    }
                }
                for chunk in want.chunks(DOCS_PER_MSG) {
                    self.outbox.push_back(Msg::Want {
                        docs: chunk.to_vec(),
                    });
                }
            }
            Msg::Want { docs } => {
                self.require_hello()?;
                for d in docs {
                    if self.restricted && d.id != DocId::roster() {
                        continue;
                    }
                    self.queue_push(store, d.id, d.heads)?;
                }
            }
            Msg::Changes { changes } => {
                self.require_hello()?;
                let mut changes = changes;
                if self.restricted {
                    // The roster part may prove the peer's membership; import it first.
                    let (roster, rest): (Vec<_>, Vec<_>) =
                        changes.into_iter().partition(|c| c.doc == DocId::roster());
                    if !roster.is_empty() {
                        let r = store.import(roster, &self.peer)?;
                        if let Some(bad) = r.rejected.first() {
                            return Err(SyncError::Refused(r.rejected.len(), bad.reason.clone()));
                        }
                    }
                    if store.is_member(&self.peer)? {
                        self.restricted = false;
                        self.first_offer(store)?;
                    } else if !rest.is_empty() {
                        return Err(SyncError::NotMember);
                    }
                    changes = rest;
                }
                let n = changes.len() as u64;
                self.stats.changes_received += n;
                let report = store.import(changes, &self.peer)?;
                self.stats.docs_received += report.changed.len() as u64;
                self.stats.changes_rejected += report.rejected.len() as u64;
                if !report.changed.is_empty() {
                    self.synced = false;
                    self.events.push_back(Event::Received {
                        docs: report.changed.iter().cloned().collect(),
                    });
                }
                let (digest, _) = store.digest()?;
                self.outbox.push_back(Msg::Ack { digest });
                if report.overflow {
                    return Err(SyncError::PendingOverflow);
                }
                // A change refused only because its author was revoked may come from
                // an honest peer that has not heard of the revocation yet: we keep
                // talking (it gets the revocation from us). Anything else is hostile.
                let hostile: Vec<_> = report.rejected.iter().filter(|r| r.hostile).collect();
                if let Some(first) = hostile.first() {
                    return Err(SyncError::Refused(hostile.len(), first.reason.clone()));
                }
                // Our own edits made while importing (receipts) go straight back.
                self.push_local(store)?;
                self.check_synced(store)?;
            }
            Msg::Ack { digest } => {
                if self.in_flight == 0 {
                    return Err(SyncError::Protocol("ack without a batch"));
                }
                self.in_flight -= 1;
                self.peer_digest = Some(digest);
                self.check_synced(store)?;
            }
            Msg::Idle { digest, seen } => {
                self.require_hello()?;
                self.peer_digest = Some(digest);
                // Both idle, the peer had seen all we sent, and still different: the
                // cursors missed something (restored backup, lost ack). Compare all.
                let crossed = seen != self.work_sent || !self.outbox.is_empty();
                if !self.check_synced(store)? && self.is_idle() && !crossed {
                    self.fallback(store)?;
                }
            }
            Msg::Bye { reason } => return Err(SyncError::PeerBye(reason)),
        }
        self.pump(store)?;
        Ok(())
    }

    /// Something changed in our store (a local edit, another process, another
    /// peer's session): offer or push it.
    pub fn handle_local_change(&mut self, store: &mut impl Storage) -> Result<(), SyncError> {
        if !self.peer_hello || self.restricted {
            return Ok(());
        }
        let from = self.sent_pos;
        self.offer_since(store, from)?;
        self.pump(store)?;
        Ok(())
    }

    fn require_hello(&self) -> Result<(), SyncError> {
        if self.peer_hello {
            Ok(())
        } else {
            Err(SyncError::Protocol("message before hello"))
        }
    }

    fn check_synced(&mut self, store: &impl Storage) -> Result<bool, SyncError> {
        let (digest, _) = store.digest()?;
        if self.peer_digest == Some(digest) {
            if !self.synced {
                self.synced = true;
                // The peer now holds our whole log.
                let pos = store.log_position()?;
                self.sent_pos = self.sent_pos.max(pos);
                self.note_pending = true;
                self.events.push_back(Event::Synced);
            }
            // Whatever was queued is redundant now.
            self.push.clear();
            return Ok(true);
        }
        self.synced = false;
        Ok(false)
    }

    /// What to offer once the peer's hello is in: changes since the cursor; at a
    /// first contact between two non-empty stores, the smaller side offers all it
    /// holds and the larger waits for that offer (both sides agree from the hellos).
    fn first_offer(&mut self, store: &mut impl Storage) -> Result<(), SyncError> {
        if self.cursor == 0 && self.peer_docs > 0 && self.my_docs > 0 {
            if (self.my_docs, self.me) < (self.peer_docs, self.peer) {
                return self.offer_all(store, true);
            }
            self.await_full = Some(Default::default());
            self.sent_pos = self.sent_pos.max(store.log_position()?);
            return Ok(());
        }
        let cursor = self.cursor;
        self.offer_since(store, cursor)
    }

    /// Offers every document (first contact, or fallback). `last` marks the end.
    fn offer_all(&mut self, store: &mut impl Storage, mark_last: bool) -> Result<(), SyncError> {
        self.sent_pos = self.sent_pos.max(store.log_position()?);
        let offer: Vec<DocState> = store
            .docs_changed_since(0, None)?
            .into_iter()
            .map(|d| DocState {
                id: d.id,
                heads: d.heads,
            })
            .collect();
        let n = offer.len().div_ceil(DOCS_PER_MSG).max(1);
        for (i, chunk) in offer.chunks(DOCS_PER_MSG).enumerate() {
            self.outbox.push_back(Msg::Offer {
                docs: chunk.to_vec(),
                last: mark_last && i + 1 == n,
            });
        }
        if offer.is_empty() && mark_last {
            self.outbox.push_back(Msg::Offer {
                docs: Vec::new(),
                last: true,
            });
        }
        Ok(())
    }

    /// Offers (or pushes) documents changed after log position `since`.
    fn offer_since(&mut self, store: &mut impl Storage, since: i64) -> Result<(), SyncError> {
        let pos = store.log_position()?;
        let since = if since > pos { 0 } else { since };
        let docs = store.docs_changed_since(since, Some(&self.peer))?;
        self.sent_pos = self.sent_pos.max(pos);
        let mut offer = Vec::new();
        let my_receipt = DocId::receipt(&self.me);
        for d in docs {
            if since > 0 && d.id == my_receipt && d.first_seq <= since {
                // Only we write our receipt: what changed since `since` is exactly
                // what the peer lacks, so push it without an offer round.
                self.push_since(d.id, since);
                continue;
            }
            if self.peer_docs == 0 || (since > 0 && d.first_seq > since) {
                // The peer cannot hold it (it holds nothing, or the document is newer
                // than everything it got from us): push without asking.
                self.queue_push(store, d.id, Vec::new())?;
            } else {
                offer.push(DocState {
                    id: d.id,
                    heads: d.heads,
                });
            }
        }
        for chunk in offer.chunks(DOCS_PER_MSG) {
            self.outbox.push_back(Msg::Offer {
                docs: chunk.to_vec(),
                last: false,
            });
        }
        Ok(())
    }

    /// Both sides idle, digests differ: offer everything, once per session.
    fn fallback(&mut self, store: &mut impl Storage) -> Result<(), SyncError> {
        if self.fallback_done || self.restricted {
            return Ok(());
        }
        self.fallback_done = true;
        self.offer_all(store, false)
    }

    /// After importing, push our own new changes (receipts) directly.
    fn push_local(&mut self, store: &mut impl Storage) -> Result<(), SyncError> {
        if self.restricted {
            return Ok(());
        }
        let pos = store.log_position()?;
        if pos <= self.sent_pos {
            return Ok(());
        }
        let from = self.sent_pos;
        self.offer_since(store, from)
    }

    fn push_since(&mut self, id: DocId, since: i64) {
        self.push_order += 1;
        self.push
            .insert((5, self.push_order), (id, Vec::new(), Some(since)));
    }

    fn queue_push(
        &mut self,
        store: &impl Storage,
        id: DocId,
        their_heads: Vec<[u8; 32]>,
    ) -> Result<(), SyncError> {
        // One entry per document: a second request for it (other heads) is covered
        // by the first, and the closing digest comparison catches any gap.
        if !self.queued.insert(id.clone()) {
            return Ok(());
        }
        let prio = store.priority(&id)?;
        self.push_order += 1;
        self.push
            .insert((prio, self.push_order), (id, their_heads, None));
        Ok(())
    }

    /// Sends batches while the window allows.
    fn pump(&mut self, store: &mut impl Storage) -> Result<(), SyncError> {
        while self.in_flight < WINDOW {
            let mut batch: Vec<SignedChange> = Vec::new();
            let mut bytes = 0usize;
            let mut docs = 0u64;
            let mut batch_prio = u8::MAX;
            loop {
                if let Some(c) = self.carry.front() {
                    if !batch.is_empty()
                        && (bytes + c.bytes.len() > BATCH_BYTES
                            || batch.len() >= wire::MAX_CHANGES_PER_BATCH)
                    {
                        break;
                    }
                    bytes += c.bytes.len();
                    batch.push(self.carry.pop_front().expect("front exists"));
                    continue;
                }
                if bytes >= BATCH_BYTES {
                    break;
                }
                // Roster and urgent notices travel in a batch of their own, so on a
                // slow link they are committed without waiting for 32 KiB of backlog.
                let next_prio = self.push.first_key_value().map(|((p, _), _)| *p);
                if !batch.is_empty()
                    && batch_prio <= URGENT
                    && next_prio.is_some_and(|p| p > URGENT)
                {
                    break;
                }
                let Some(((prio, _), (id, heads, since))) = self.push.pop_first() else {
                    break;
                };
                self.queued.remove(&id);
                if batch.is_empty() {
                    batch_prio = prio;
                }
                let missing = match since {
                    Some(s) => store.local_changes_since(&id, s)?,
                    None => store.changes_missing(&id, &heads)?,
                };
                if !missing.is_empty() {
                    docs += 1;
                }
                self.carry.extend(missing);
            }
            if batch.is_empty() {
                break;
            }
            self.stats.changes_sent += batch.len() as u64;
            self.stats.docs_sent += docs;
            self.in_flight += 1;
            self.outbox.push_back(Msg::Changes { changes: batch });
        }
        if self.is_idle() && self.peer_hello && !self.synced {
            let (digest, _) = store.digest()?;
            let seen = self.work_received;
            if self.idle_sent_for != Some((digest, seen)) {
                self.idle_sent_for = Some((digest, seen));
                self.outbox.push_back(Msg::Idle { digest, seen });
            }
        }
        if self.synced && self.note_pending && self.is_idle() {
            self.note_pending = false;
            let pos = store.log_position()?;
            store.note_synced(&self.peer, pos)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
