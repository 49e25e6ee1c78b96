//! The sync protocol (`conglang/sync/2`) as a sans-IO state machine: no sockets, no
//! tokio, no clock, no SQL, no randomness. The I/O shell (`node`/`net`) feeds it
//! messages with `handle_message`, local news with `handle_local_change`, and sends
//! what `poll_transmit` returns; the session nonce comes from the shell. Storage is
//! reached through the `Storage` trait, so a test can run many nodes in memory.
//!
//! What is reconciled is the *set* of valid signed changes each side stores (each
//! immutable, named by its hash), not documents' mutable state; see `recon` for the
//! trie of priority classes and fingerprints. One session per connection:
//! 1. Both sides send `Hello`: a fresh nonce, the keyed fingerprint of the whole set,
//!    every class root's count and fingerprint, and the ids of the few items stored
//!    most recently. Equal sets: done, one round trip, a few hundred bytes whatever
//!    the size. A side that lacks some of the peer's recent items asks at once.
//! 2. For each class that differs, one side descends (the one with fewer items in it,
//!    which is the one likely to be behind): a differing node is answered with its
//!    children's counts and fingerprints (a large one with its grandchildren's, two
//!    levels in one round trip), or, when small (or urgent), with the list of its
//!    items. A listing is answered with `Want` (exactly the listed items the
//!    receiver lacks) and by pushing what the lister lacks. A side that holds nothing
//!    in a node gets everything there pushed. Cost O(d · log n) for d differences,
//!    O(log n) round trips; no cursor or "came from that peer" record decides anything.
//! 3. Changes travel alone, in (class, time, hash) order, in bounded batches — `Packed`
//!    (bodies inflated, the frame deflated as a whole; see `wire`) when the peer reads
//!    level `wire::PACKED_VERSION` — at least [`WINDOW`] in flight, more when the shell has
//!    measured a fast link (`window`, [`Session::set_window`]); roster and urgent
//!    notices travel in batches of their own, and nothing of a lower class is sent
//!    until both urgent classes are reconciled. Every batch is verified and committed
//!    on arrival (`Storage::import`) and acknowledged, so a cut contact keeps every
//!    whole batch and the next one starts from the data.
//! 4. A side with nothing left to send says `Idle` with its whole-set fingerprint. The
//!    session is `Synced` only when that equals the other side's own set; if both are
//!    idle and the sets still differ, a new round of reconciliation starts (bounded,
//!    so two nodes that cannot converge — one refuses what the other holds — go quiet).
//!
//! The session stays open afterwards: changes written here are pushed as they happen,
//! changes that arrived from other peers are announced (`Have`) and fetched on demand.

mod budget;
// Rounds and the descent of differing trie nodes, apart from the session's
// bookkeeping (issue 23).
mod descend;
// Batches, the causal closure of urgent changes, announcements and `Idle`.
pub mod nonce;
pub mod recon;
mod send;
pub mod window;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use anyhow::Result;

use crate::identity::NodeId;
use crate::model::SignedChange;
use descend::{chunk_ranges, range_class};
pub use nonce::{is_own_nonce, own_nonce};
pub use recon::{ItemKey, NodeRef, NodeSum, URGENT};
pub use wire::{ClassSum, Kid, Located, Msg, Range};

/// Stored bytes of changes per batch (before any compression of the frame; a `Packed`
/// batch of this many is ~7 KB on the wire for W8's requests). A batch is the unit of commit,
/// so a contact cut mid-batch loses on average half of one: at 2G's ~12 KB/s a 32 KiB
/// batch was 2.6 s of link, and W8's 30-second contacts committed 7 or 8 of them
/// (62 % or 70 % of the line rate, depending on where the cut fell). 16 KiB halves
/// that loss; on a LAN the extra commits cost little.
pub const BATCH_BYTES: usize = 16 * 1024;
/// Batches sent but not yet acknowledged, at least: 8 × 16 KiB, the same 128 KiB in
/// flight as 4 × 32 KiB before (what a change that becomes urgent mid-session may wait
/// behind on 2G). The shell opens the window on faster links (`window::AckMeter`,
/// [`Session::set_window`]), up to `window::WINDOW_MAX`.
pub const WINDOW: usize = 8;
/// A differing node with at most this many items is listed rather than split. A
/// listing costs 8 B per item, a split 16 × ~11 B and a round trip: at 48, a node
/// two levels below a 10,000-item class root (~39 items) and one three levels below
/// a 100,000-item root (~24) are listed at once.
pub const LIST_MAX: u64 = 48;
/// A differing node with more items than this is expanded two levels at once.
pub const TWO_LEVELS: u64 = 4096;
/// Items of the `Hello` recent list (and of one `Have`).
pub const RECENT: usize = 4;
/// Reconciliation rounds started after the first without either set changing.
const MAX_IDLE_ROUNDS: u32 = 3;

/// What the protocol needs from storage. Every method may first bring the store's
/// reconciliation index up to date, hence `&mut self`.
pub trait Storage {
    /// Every non-empty class root, by class.
    fn recon_classes(&mut self) -> Result<Vec<(u8, NodeSum)>>;
    fn recon_node(&mut self, node: NodeRef) -> Result<NodeSum>;
    /// Non-empty children of an inner node: (nibble, sum).
    fn recon_children(&mut self, node: NodeRef) -> Result<Vec<(u8, NodeSum)>>;
    /// Every item under a node.
    fn recon_items(&mut self, node: NodeRef) -> Result<Vec<ItemKey>>;
    /// The `n` items stored here last, newest first.
    fn recon_recent(&mut self, n: usize) -> Result<Vec<ItemKey>>;
    /// A position that grows with every change stored here.
    fn recon_position(&mut self) -> Result<i64>;
    /// Items stored after position `after`, except those that came from `skip_via`,
    /// with whether this node wrote them itself.
    fn recon_since(&mut self, after: i64, skip_via: &NodeId) -> Result<Vec<(ItemKey, bool)>>;
    /// The stored change with this hash, if it is (still) in the set.
    fn change(&mut self, hash: &[u8; 32]) -> Result<Option<SignedChange>>;
    /// The items of the set that the change `hash` directly depends on (its
    /// dependencies in its document), to send ahead of it.
    fn recon_deps(&mut self, hash: &[u8; 32]) -> Result<Vec<ItemKey>>;
    /// Is the notice the change `hash` belongs to live here (not withdrawn, not past
    /// its end)? Asked only of an urgent change whose notice the peer lacks entirely:
    /// a notice that is gone needs no hurry (`Session::pump`). A store without document
    /// views says yes.
    fn notice_live(&mut self, hash: &[u8; 32]) -> Result<bool> {
        let _ = hash;
        Ok(true)
    }
    fn import(&mut self, changes: Vec<SignedChange>, via: &NodeId) -> Result<Imported>;
    /// Is `peer` an active member of the commune (by our current roster)?
    fn is_member(&mut self, peer: &NodeId) -> Result<bool>;
}

/// What the protocol needs to know of an import (`Storage::import`): defined here so
/// the protocol depends on no store; the storage fills it from its own report.
#[derive(Clone, Debug, Default)]
pub struct Imported {
    /// Changes stored as valid (they pay for more reconciliation: `budget`).
    pub accepted: usize,
    /// Documents whose heads moved.
    pub changed: BTreeSet<crate::model::DocId>,
    pub rejected: Vec<RejectedChange>,
    /// An author's share of the pending buffer was full: some of its waiting changes
    /// were dropped, not parked (the session goes on; `Stats::pending_dropped`).
    pub overflow: bool,
}

/// A change an import refused, and why (moved here from `repo`, which fills it).
#[derive(Clone, Debug, serde::Serialize)]
pub struct RejectedChange {
    pub doc: String,
    pub author: Option<String>,
    pub reason: String,
    /// Proof that the sender misbehaves (forged, forbidden, malformed), as opposed to
    /// a peer relaying in good faith what it has not yet learned is void (a revoked
    /// author's change, the losing half of an equivocation).
    pub hostile: bool,
}

/// Why a session ended badly. The peer is disconnected.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(
        "peer speaks sync protocol version {0}, this node speaks version {v}: the older side needs updating",
        v = wire::VERSION
    )]
    Version(u16),
    #[error("peer belongs to another commune ({0})")]
    OtherCommune(String),
    #[error("peer sent {0} change(s) that were refused: {1}")]
    Refused(usize, String),
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
    /// Reconciliation steps sent (fingerprints, listings, wants).
    pub ranges_sent: u64,
    /// Batches of which some waiting changes were dropped, their author's share of the
    /// pending buffer being full.
    pub pending_dropped: u64,
    /// Urgent changes of notices the peer never had and that are no longer live here,
    /// sent with the notices' backlog instead (`Session::pump`).
    pub demoted: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Both sides hold the same set of changes (checked by the whole-set fingerprint).
    Synced,
    /// Changes were committed; these documents moved.
    Received { docs: Vec<crate::model::DocId> },
}

/// What is left to move in a session, as far as this side knows: for progress
/// screens, never for decisions. From the `Hello` counts: per class, how many more
/// items the peer holds than we did (`behind`) and the reverse (`ahead`) — exact when
/// one set contains the other (a kiosk behind the office), a lower bound otherwise;
/// `queued`: items this side has found it must send and not sent yet. "Urgent" is
/// the urgent-notice class (what a resident calls urgent), not the roster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    pub behind: u64,
    pub urgent_behind: u64,
    pub ahead: u64,
    pub urgent_ahead: u64,
    pub queued: u64,
    pub urgent_queued: u64,
}

#[derive(Debug)]
pub struct Session {
    me: NodeId,
    peer: NodeId,
    commune: NodeId,
    nonce: [u8; 16],
    peer_nonce: [u8; 16],
    /// This node's nonce key (`nonce::own_nonce`).
    nonce_key: Option<[u8; 32]>,
    peer_hello: bool,
    /// The peer's class summaries from its `Hello` (its nonce), for deferred checks.
    peer_classes: BTreeMap<u8, (u64, recon::Fp)>,
    /// Our own class counts when the session started (for [`Session::progress`]).
    own_counts: BTreeMap<u8, u64>,
    /// Classes whose descent waits until the recent items we asked for have arrived.
    deferred: BTreeSet<u8>,
    /// Recent items asked for and not yet received (a count: ids are keyed).
    awaiting: u64,
    /// The peer's last whole-set announcement (its nonce).
    peer_set: Option<(recon::SetFp, u64)>,
    /// That announcement is its `Hello`'s, which leaves the later classes out (they
    /// are compared by their roots, `peer_classes`); an `Idle`'s covers them.
    peer_set_from_hello: bool,
    /// Our `Hello`'s set with its later classes: what the peer knows of our set once
    /// it reads them (`announced` then, or equal sets would cost an `Idle` each way).
    hello_full: Option<recon::SetFp>,
    /// Urgent classes not yet reconciled: lower classes wait for them.
    unsettled: BTreeSet<u8>,
    /// Items to send: by class; in the urgent classes the newest first, else the oldest.
    push: BTreeSet<SendKey>,
    /// Hashes queued or sent this round (so a listing and a want do not send twice).
    pushed: HashSet<[u8; 32]>,
    in_flight: usize,
    /// Our store position up to which new items were pushed or announced.
    watermark: i64,
    outbox: VecDeque<Msg>,
    /// Reconciliation steps of the urgent classes, then batches of them: sent ahead of
    /// everything else in the outbox once our `Hello` is out, so a large descent of
    /// the notices (tens of KB of child fingerprints, seconds on 2G) never delays the
    /// roster or an urgent notice.
    urgent_ranges: VecDeque<Msg>,
    urgent_batches: VecDeque<Msg>,
    /// An urgent batch has left this session (the first one jumps the queue).
    urgent_batch_sent: bool,
    hello_sent: bool,
    ranges: Vec<Range>,
    events: VecDeque<Event>,
    synced: bool,
    idle_sent_for: Option<(recon::SetFp, u64)>,
    /// The last whole-set fingerprint we sent (in `Hello` or `Idle`).
    announced: Option<recon::SetFp>,
    idle_rounds: u32,
    last_was_receive: bool,
    /// Messages other than `Idle` sent and received: an `Idle` answers work, never
    /// another `Idle`, so two idle peers do not ping-pong.
    work_sent: u64,
    work_received: u64,
    /// Peer not (yet) known as a member: only roster changes flow, both ways, so it
    /// can prove its membership with officials' signatures and nothing else leaks.
    restricted: bool,
    stats: Stats,
    /// Our wall clock for the `Hello` (set by the shell: the core reads no clock).
    wall_ms: Option<i64>,
    /// The peer's wall clock from its `Hello`.
    peer_wall_ms: Option<i64>,
    /// Messages received while restricted (see [`RESTRICTED_BUDGET`]).
    restricted_msgs: u32,
    /// The newest message version the peer reads (its `Hello`'s `upto`).
    peer_upto: u16,
    /// The message version the peer speaks (its `Hello`'s `version`), once known.
    peer_version: Option<u16>,
    /// The message version this side speaks: [`wire::VERSION`], or an older one a
    /// test asks for ([`Session::speak_version`]).
    version: u16,
    /// Batches allowed in flight: [`WINDOW`] until the shell says otherwise
    /// ([`Session::set_window`], from the rate at which batches are acknowledged).
    window: usize,
    /// Reads made on the peer's behalf, against what its messages pay for.
    budget: budget::ReadBudget,
    /// Size on the wire of the frame the next message came in (`note_frame`).
    frame_len: Option<usize>,
    /// The peer's `Hello` said it does not know us as a member yet: its classes other
    /// than the roster say nothing of what it holds.
    peer_restricted: bool,
    /// Classes queued whole because the peer's `Hello` listed nothing of them; if the
    /// peer then shows it holds some (an old node that had not known us as a member
    /// starts a round once it does), what is still queued is dropped and the class
    /// reconciled instead (issue 22: a courier's first visit re-sent the whole store).
    assumed_empty: BTreeSet<u8>,
    /// Classes whose root was equal on both sides at the `Hello`: the peer holds every
    /// item of them we hold, so none travels as a dependency.
    equal_at_hello: BTreeSet<u8>,
}

/// Urgent classes up to this size are listed whole at the `Hello` (one round trip,
/// 8 B per item each way); larger ones are reconciled by fingerprint.
pub const URGENT_LIST_MAX: u64 = 512;
/// An item in the send queue. Classes go in order (the roster first); within the
/// urgent notices the newest goes first — a storm warning posted now must not
/// wait behind thousands of old withdrawals (issue 22, W8 with 2,020 withdrawals: the
/// warning came 4 s after the connection, behind them) — and within the other classes
/// the oldest (the roster in its own order; what a resident has waited for longest).
/// Dependencies still travel ahead of what needs them (`Session::closure`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SendKey(pub ItemKey);

impl Ord for SendKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let (a, b) = (&self.0, &other.0);
        let time = if a.class == URGENT {
            b.time.cmp(&a.time)
        } else {
            a.time.cmp(&b.time)
        };
        a.class.cmp(&b.class).then(time).then(a.hash.cmp(&b.hash))
    }
}

impl PartialOrd for SendKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Most dependencies that travel ahead of one urgent change (`Session::closure`);
/// past it, the rest come in their own class's turn and the change waits in the
/// peer's pending buffer until then.
const MAX_CLOSURE: usize = 256;
/// Replies a session may have queued at once (honest descents queue a few thousand:
/// 256 per two-level step of a large node).
const MAX_QUEUED_RANGES: usize = 64 * 1024;
/// Messages a peer not known as a member may send before it proves membership.
pub const RESTRICTED_BUDGET: u32 = 64;
/// A peer's wall clock beyond this (unix ms, year 3084) is not a reading.
const MAX_WALL_MS: i64 = 1 << 45;

impl Session {
    /// Refuses, from now on, a `Hello` carrying any nonce `own_nonce` made with
    /// `key` (see `nonce`: our `Hello` of an earlier session played back).
    pub fn recognise_own_nonces(&mut self, key: [u8; 32]) {
        self.nonce_key = Some(key);
    }

    /// `nonce`: fresh random bytes for this session (the shell's RNG; a test's seed).
    pub fn new(me: NodeId, peer: NodeId, commune: NodeId, nonce: [u8; 16]) -> Session {
        Session {
            me,
            peer,
            commune,
            nonce,
            peer_nonce: [0; 16],
            nonce_key: None,
            peer_hello: false,
            peer_classes: BTreeMap::new(),
            own_counts: BTreeMap::new(),
            deferred: BTreeSet::new(),
            awaiting: 0,
            peer_set: None,
            peer_set_from_hello: false,
            hello_full: None,
            unsettled: (0..=URGENT).collect(),
            push: BTreeSet::new(),
            pushed: HashSet::new(),
            in_flight: 0,
            watermark: 0,
            outbox: VecDeque::new(),
            urgent_ranges: VecDeque::new(),
            urgent_batches: VecDeque::new(),
            urgent_batch_sent: false,
            hello_sent: false,
            ranges: Vec::new(),
            events: VecDeque::new(),
            synced: false,
            idle_sent_for: None,
            announced: None,
            idle_rounds: 0,
            last_was_receive: true,
            work_sent: 0,
            work_received: 0,
            restricted: false,
            stats: Stats::default(),
            wall_ms: None,
            peer_wall_ms: None,
            restricted_msgs: 0,
            peer_upto: wire::VERSION,
            peer_version: None,
            version: wire::VERSION,
            window: WINDOW,
            budget: budget::ReadBudget::default(),
            frame_len: None,
            peer_restricted: false,
            assumed_empty: BTreeSet::new(),
            equal_at_hello: BTreeSet::new(),
        }
    }

    /// Puts our wall clock (unix ms) in the `Hello`; call before [`Session::start`].
    pub fn set_wall_clock(&mut self, ms: i64) {
        self.wall_ms = Some(ms);
    }
    /// The wall clock the peer put in its `Hello` (unix ms), once it has arrived.
    pub fn peer_wall_clock(&self) -> Option<i64> {
        self.peer_wall_ms
    }

    /// Batches that may be unacknowledged from now on (the shell's `window::AckMeter`
    /// measures the rate at which the peer acknowledges them), between [`WINDOW`] and
    /// `window::WINDOW_MAX`. A larger window is used at the next send.
    pub fn set_window(&mut self, batches: usize) {
        self.window = batches.clamp(WINDOW, window::WINDOW_MAX);
    }

    /// Speaks an older message version (from [`wire::MIN_PEER_VERSION`]) as the
    /// previous release did — its `Hello`, what it offers, and what it refuses on
    /// arrival (`wire::refused_by`) — so tests run a newer and an older node against
    /// each other (issue 25). Call before [`Session::start`].
    pub fn speak_version(&mut self, version: u16) {
        assert!((wire::MIN_PEER_VERSION..=wire::VERSION).contains(&version));
        self.version = version;
    }
    /// The message version the peer speaks, once its `Hello` has arrived. A peer
    /// older than this side is served, and needs updating (the exchange screen says so).
    pub fn peer_version(&self) -> Option<u16> {
        self.peer_version
    }

    /// Starts the session restricted to roster changes (see `Session::restricted`).
    pub fn restrict(&mut self) {
        self.restricted = true;
    }
    pub fn is_restricted(&self) -> bool {
        self.restricted
    }
    /// The peer proved its membership: reconcile everything.
    pub fn unrestrict(&mut self, store: &mut impl Storage) -> Result<(), SyncError> {
        if !self.restricted {
            return Ok(());
        }
        self.restricted = false;
        if self.peer_hello {
            let items = self.my_set(store)?.count;
            self.budget.grant_round(items);
            self.new_round(store)?;
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
    /// See [`Progress`]. Cheap: a walk over at most 6 classes and the urgent head
    /// of the send queue.
    pub fn progress(&self) -> Progress {
        let mut p = Progress {
            queued: self.push.len() as u64,
            urgent_queued: self
                .push
                .iter()
                .take_while(|k| k.0.class <= URGENT)
                .filter(|k| k.0.class == URGENT)
                .count() as u64,
            ..Progress::default()
        };
        // A stranger's claimed counts say nothing until it proves membership.
        if !self.peer_hello || self.restricted {
            return p;
        }
        let classes: BTreeSet<u8> = self
            .peer_classes
            .keys()
            .chain(self.own_counts.keys())
            .copied()
            .collect();
        for c in classes {
            let theirs = self.peer_classes.get(&c).map(|x| x.0).unwrap_or(0);
            let ours = self.own_counts.get(&c).copied().unwrap_or(0);
            let (b, a) = (theirs.saturating_sub(ours), ours.saturating_sub(theirs));
            p.behind = p.behind.saturating_add(b);
            p.ahead = p.ahead.saturating_add(a);
            if c == URGENT {
                p.urgent_behind = p.urgent_behind.saturating_add(b);
                p.urgent_ahead = p.urgent_ahead.saturating_add(a);
            }
        }
        p
    }
    pub fn is_synced(&self) -> bool {
        self.synced
    }
    /// Nothing queued, nothing unacknowledged.
    pub fn is_idle(&self) -> bool {
        self.push.is_empty() && self.in_flight == 0
    }

    fn classes_allowed(&self, class: u8) -> bool {
        (!self.restricted || class == 0) && (class < recon::LATER || self.later_kinds_both())
    }

    /// Both sides carry kinds a later version adds: until the peer's `Hello` says so,
    /// nothing of their class is offered (a version-5 node refuses it).
    fn later_kinds_both(&self) -> bool {
        self.version >= wire::LATER_KINDS_VERSION
            && self
                .peer_version
                .is_some_and(|v| v >= wire::LATER_KINDS_VERSION)
    }

    /// Queues our `Hello`.
    pub fn start(&mut self, store: &mut impl Storage) -> Result<(), SyncError> {
        // The peer's version is not known yet: the later classes go apart, in a
        // field a version-5 node skips, and out of the whole-set fingerprint.
        let all = store.recon_classes()?;
        let later: Vec<ClassSum> = all
            .iter()
            .filter(|(c, _)| *c >= recon::LATER && !self.restricted)
            .map(|(c, s)| ClassSum {
                class: *c,
                count: s.count,
                fp: recon::fp(&self.nonce, NodeRef::root(*c), s),
            })
            .collect();
        // What a peer that reads the later classes learns of our set from this
        // `Hello` (its `set` and `later` together), for `announced` once it says so.
        let full: Vec<(u8, NodeSum)> = all
            .iter()
            .filter(|(c, _)| self.classes_allowed(*c) || (*c >= recon::LATER && !self.restricted))
            .copied()
            .collect();
        self.hello_full = Some(recon::set_fp(&self.nonce, &recon::set_hash(&full)));
        let classes: Vec<(u8, NodeSum)> = all
            .into_iter()
            .filter(|(c, _)| *c < recon::LATER && self.classes_allowed(*c))
            .collect();
        let set = recon::set_hash(&classes);
        self.own_counts = classes.iter().map(|(c, s)| (*c, s.count)).collect();
        self.watermark = store.recon_position()?;
        let recent = self
            .recent_known(store)?
            .into_iter()
            .filter(|k| self.classes_allowed(k.class))
            .map(|k| self.locate(&k))
            .collect();
        let set_fp = recon::set_fp(&self.nonce, &set);
        self.announced = Some(set_fp);
        let old = self.version < wire::LATER_KINDS_VERSION;
        self.outbox.push_back(Msg::Hello {
            version: self.version,
            commune: self.commune,
            nonce: self.nonce,
            set: set_fp,
            total: set.count,
            classes: classes
                .iter()
                .map(|(c, s)| ClassSum {
                    class: *c,
                    count: s.count,
                    fp: recon::fp(&self.nonce, NodeRef::root(*c), s),
                })
                .collect(),
            recent,
            wall_ms: self.wall_ms,
            // Version 5 read up to `Packed`'s level.
            upto: Some(if old {
                wire::PACKED_VERSION
            } else {
                wire::UPTO
            }),
            restricted: self.restricted.then_some(true),
            later: (!old).then_some(later),
        });
        Ok(())
    }

    /// The [`RECENT`] items stored here last in the classes every version knows: the
    /// `Hello`'s recent list. Read past later-kind items (a run of them stored last
    /// would leave the list empty, and an urgent warning without its at-once push).
    pub(super) fn recent_known(&self, store: &mut impl Storage) -> Result<Vec<ItemKey>, SyncError> {
        Ok(store
            .recon_recent(RECENT * 16)?
            .into_iter()
            .filter(|k| k.class < recon::LATER)
            .take(RECENT)
            .collect())
    }

    fn locate(&self, k: &ItemKey) -> Located {
        Located {
            class: k.class,
            leaf: recon::leaf_of(&k.hash),
            id: recon::short_id(&self.nonce, &k.hash),
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Msg> {
        self.flush_ranges();
        let m = if self.hello_sent {
            // The first urgent batch (the newest warning first) goes even before the
            // urgent reconciliation steps: when the urgent classes differ by thousands
            // (a season of withdrawals), answering the peer's descent put ~18 KB ahead
            // of a warning the peer had already asked for by its `Hello` recent list
            // (W8 with 2,020 withdrawals: 2.85 s instead of 1.3 s after connection).
            let first = if self.urgent_batch_sent {
                None
            } else {
                self.urgent_batches.pop_front()
            };
            if first.is_some() {
                self.urgent_batch_sent = true;
            }
            first
                .or_else(|| self.urgent_ranges.pop_front())
                .or_else(|| self.urgent_batches.pop_front())
                .or_else(|| self.outbox.pop_front())?
        } else {
            let m = self.outbox.pop_front()?;
            self.hello_sent |= matches!(m, Msg::Hello { .. });
            m
        };
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

    /// Moves accumulated reconciliation steps into the outbox, in bounded messages.
    fn flush_ranges(&mut self) {
        if self.ranges.is_empty() {
            return;
        }
        let mut all = std::mem::take(&mut self.ranges);
        // Urgent classes first on the wire too.
        all.sort_by_key(range_class);
        self.stats.ranges_sent += all.len() as u64;
        let (urgent, rest): (Vec<Range>, Vec<Range>) =
            all.into_iter().partition(|r| range_class(r) <= URGENT);
        let urgent = chunk_ranges(urgent);
        if self.hello_sent {
            self.urgent_ranges.extend(urgent);
        } else {
            self.outbox.extend(urgent);
        }
        // Reconciliation goes ahead of queued batches: it is small and it tells the
        // peer what to send us.
        let at = self
            .outbox
            .iter()
            .position(|m| m.batch().is_some())
            .unwrap_or(self.outbox.len());
        for (i, m) in chunk_ranges(rest).into_iter().enumerate() {
            self.outbox.insert(at + i, m);
        }
    }

    /// Nothing waiting to be sent.
    fn nothing_queued(&self) -> bool {
        self.outbox.is_empty() && self.urgent_ranges.is_empty() && self.urgent_batches.is_empty()
    }

    /// The next message came in a frame of `bytes` on the wire (the shell calls this
    /// before [`Session::handle_message`]): what the peer spent, which caps what the
    /// message pays for (`budget`). Without it, the decoded size counts.
    pub fn note_frame(&mut self, bytes: usize) {
        self.frame_len = Some(bytes);
    }

    pub fn handle_message(&mut self, msg: Msg, store: &mut impl Storage) -> Result<(), SyncError> {
        self.stats.msgs_received += 1;
        // Speaking an older version: refuse what that version's decoder refused.
        if let Some(why) = wire::refused_by(self.version, &msg) {
            return Err(SyncError::Protocol(why));
        }
        let weight = match &msg {
            Msg::Ranges { ranges } => ranges
                .iter()
                .filter(|r| self.classes_allowed(range_class(r)))
                .map(budget::range_weight)
                .sum(),
            m => budget::weight(m),
        };
        let frame = self.frame_len.take().map_or(u64::MAX, |n| n as u64);
        self.budget.on_bytes(weight.min(frame));
        if self.restricted {
            // A peer not (yet) known as a member gets a small budget: enough to say
            // hello, reconcile the roster and push the roster changes that prove its
            // enrolment, not enough to keep the node busy.
            self.restricted_msgs += 1;
            if self.restricted_msgs > RESTRICTED_BUDGET {
                return Err(SyncError::Protocol(
                    "peer not known as a member sent too many messages",
                ));
            }
        }
        if !matches!(msg, Msg::Idle { .. }) {
            self.work_received += 1;
        }
        self.last_was_receive = true;
        match msg {
            Msg::Hello {
                version,
                commune,
                nonce,
                set,
                total,
                classes,
                recent,
                wall_ms,
                upto,
                restricted,
                later,
            } => {
                // An older peer we cannot serve is told to update; a newer one
                // speaks our messages (its side of the promise, `wire::VERSION`).
                if version < wire::MIN_PEER_VERSION {
                    return Err(SyncError::Version(version));
                }
                if commune != self.commune {
                    return Err(SyncError::OtherCommune(commune.short()));
                }
                if self.peer_hello {
                    return Err(SyncError::Protocol("second hello"));
                }
                // Our own nonce back is our own Hello replayed: its fingerprints are
                // ours, so comparing them would say "Synced" to anyone who echoes it.
                if nonce == self.nonce || self.nonce_key.is_some_and(|k| is_own_nonce(&k, &nonce)) {
                    return Err(SyncError::Protocol("hello carries our own nonce"));
                }
                self.peer_hello = true;
                self.peer_version = Some(version);
                self.peer_upto = upto.unwrap_or(version).max(version);
                self.peer_restricted = restricted == Some(true);
                // A clock outside 1970..3084 is no reading (and would overflow sums).
                self.peer_wall_ms = wall_ms.filter(|w| (0..MAX_WALL_MS).contains(w));
                self.peer_nonce = nonce;
                self.peer_set = Some((set, total));
                self.peer_set_from_hello = true;
                // By version, not by restriction: a peer that proves its membership
                // later is compared on every class it listed (a later class dropped
                // here would compare as empty, and say "Synced" too early).
                let later_too = self.later_kinds_both();
                self.peer_classes = classes
                    .iter()
                    .chain(later.iter().flatten())
                    .filter(|c| c.class < recon::LATER || (later_too && c.class < recon::CLASSES))
                    .map(|c| (c.class, (c.count, c.fp)))
                    .collect();
                if later_too {
                    self.announced = self.hello_full;
                }
                // The later classes the `Hello` left out count in our progress too.
                for (c, s) in store.recon_classes()? {
                    if c >= recon::LATER && self.classes_allowed(c) {
                        self.own_counts.insert(c, s.count);
                    }
                }
                let items = self.my_set(store)?.count;
                self.budget.grant_round(items);
                if !self.check_synced(store)? {
                    self.on_hello(store, recent)?;
                }
            }
            Msg::Ranges { ranges } => {
                self.require_hello()?;
                for r in ranges {
                    self.on_range(store, r)?;
                    // Each step may queue up to 256 replies (two levels of a large
                    // node): a frame of repeated steps must not queue millions.
                    if self.ranges.len() > MAX_QUEUED_RANGES {
                        return Err(SyncError::Protocol(
                            "peer's steps would queue more replies than we hold",
                        ));
                    }
                }
            }
            Msg::Changes { changes } => {
                self.require_hello()?;
                self.on_changes(store, changes)?;
            }
            Msg::Packed { mut changes } => {
                self.require_hello()?;
                // Each body back in the form it is stored and verified in.
                for c in &mut changes {
                    c.bytes = wire::stored_body(std::mem::take(&mut c.bytes));
                }
                self.on_changes(store, changes)?;
            }
            Msg::Ack => {
                if self.in_flight == 0 {
                    return Err(SyncError::Protocol("ack without a batch"));
                }
                self.in_flight -= 1;
            }
            Msg::Idle { set, total, seen } => {
                self.require_hello()?;
                self.peer_set = Some((set, total));
                self.peer_set_from_hello = false;
                let urgent = store
                    .recon_classes()?
                    .iter()
                    .filter(|(c, _)| *c <= URGENT && self.classes_allowed(*c))
                    .map(|(_, s)| s.count)
                    .sum();
                self.budget.on_idle(urgent);
                // The peer has sent all it will: nothing we asked for is coming.
                self.awaiting = 0;
                self.unsettled.clear();
                self.run_deferred(store)?;
                let crossed = seen != self.work_sent || !self.nothing_queued();
                if !self.check_synced(store)?
                    && self.is_idle()
                    && !crossed
                    && self.ranges.is_empty()
                    && self.idle_rounds < MAX_IDLE_ROUNDS
                {
                    // Both idle, the peer had seen all we sent, and still different
                    // (a change arrived mid-round elsewhere, a batch was refused):
                    // reconcile again from the class roots.
                    self.idle_rounds += 1;
                    self.new_round(store)?;
                }
            }
            Msg::Bye { reason } => return Err(SyncError::PeerBye(reason)),
        }
        self.pump(store)?;
        Ok(())
    }

    /// Something changed in our store (a local edit, another process, another
    /// peer's session): push what we wrote, announce what we received elsewhere.
    pub fn handle_local_change(&mut self, store: &mut impl Storage) -> Result<(), SyncError> {
        if !self.peer_hello {
            return Ok(());
        }
        self.announce_new(store)?;
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

    fn my_set(&self, store: &mut impl Storage) -> Result<NodeSum, SyncError> {
        let classes: Vec<(u8, NodeSum)> = store
            .recon_classes()?
            .into_iter()
            .filter(|(c, _)| self.classes_allowed(*c))
            .collect();
        Ok(recon::set_hash(&classes))
    }

    fn queue(&mut self, k: ItemKey) {
        // A peer not known as a member receives nothing, not even the roster, until its
        // own roster changes prove its enrolment (it may still send them to us).
        if !self.restricted && self.classes_allowed(k.class) && self.pushed.insert(k.hash) {
            self.push.insert(SendKey(k));
        }
    }

    fn on_changes(
        &mut self,
        store: &mut impl Storage,
        mut changes: Vec<SignedChange>,
    ) -> Result<(), SyncError> {
        // What decoding them will cost, read off their headers (O(bytes)), charged
        // before the import decodes anything: an honest change declares about one
        // operation per byte or fewer, a run-length bomb hundreds.
        let mut ops = 0u64;
        for c in &changes {
            ops = ops.saturating_add(
                crate::model::declared::read(&c.bytes).map_or(0, |d| d.ops.saturating_add(1)),
            );
        }
        self.budget.charge(ops)?;
        if self.restricted {
            // The roster part may prove the peer's membership; import it first.
            let (roster, rest): (Vec<_>, Vec<_>) = changes
                .into_iter()
                .partition(|c| c.doc == crate::model::DocId::roster());
            if !roster.is_empty() {
                let r = store.import(roster, &self.peer)?;
                if let Some(bad) = r.rejected.first() {
                    return Err(SyncError::Refused(r.rejected.len(), bad.reason.clone()));
                }
                self.note_import(&r);
            }
            if store.is_member(&self.peer)? {
                self.restricted = false;
                let items = self.my_set(store)?.count;
                self.budget.grant_round(items);
                self.new_round(store)?;
            } else if !rest.is_empty() {
                return Err(SyncError::NotMember);
            }
            changes = rest;
        }
        let n = changes.len() as u64;
        self.stats.changes_received += n;
        self.awaiting = self.awaiting.saturating_sub(n);
        let report = store.import(changes, &self.peer)?;
        self.note_import(&report);
        self.budget.on_accepted(report.accepted as u64);
        self.outbox.push_back(Msg::Ack);
        if report.overflow {
            // An author's share of the pending buffer is full: its waiting changes
            // beyond it were dropped, not parked. The session goes on — everything else
            // in it still moves, and the next contact (which sends dependencies ahead
            // of what needs them) makes progress; ending it made a kiosk far behind
            // fail at the same point at every contact (issue 22).
            self.stats.pending_dropped += 1;
        }
        // A change refused only because its author was revoked may come from an honest
        // peer that has not heard of the revocation yet: we keep talking (it gets the
        // revocation from us). Anything else is hostile.
        let hostile: Vec<_> = report.rejected.iter().filter(|r| r.hostile).collect();
        if let Some(first) = hostile.first() {
            return Err(SyncError::Refused(hostile.len(), first.reason.clone()));
        }
        // What we wrote while importing (our receipt) goes straight back.
        self.announce_new(store)?;
        self.run_deferred(store)?;
        self.check_synced(store)?;
        Ok(())
    }

    fn note_import(&mut self, report: &Imported) {
        self.stats.docs_received += report.changed.len() as u64;
        self.stats.changes_rejected += report.rejected.len() as u64;
        if !report.changed.is_empty() {
            self.synced = false;
            self.idle_rounds = 0;
            self.events.push_back(Event::Received {
                docs: report.changed.iter().cloned().collect(),
            });
        }
    }
}

#[cfg(test)]
mod tests;
