//! What a peer's messages may make this node read: reconciliation work charged
//! against what the peer sent.
//!
//! Why: a reconciliation step is a few bytes and may ask for a whole class to be
//! read and keyed (`Items { node: class root, ids: [] }` is 6 bytes). An honest peer
//! asks for each node about once a round, but nothing in the wire format stops one
//! frame of 4,096 copies of "list the roster root": a stranger kept the node's event
//! loop busy ~1 s per 131-byte frame, a member 7 s (issue 21, fault 11). So every
//! item or child summary read on the peer's behalf is charged here, and the session
//! ends ("peer asked for more reconciliation work than its messages pay for") when
//! the reads pass the credit. The credit is:
//!
//! - `READS_BASE` + `READS_PER_ITEM` × the items we may reconcile with this peer,
//!   once when its `Hello` arrives (an honest first round reads each item a few
//!   times: our listing, its listing, its want) and again when a restricted peer
//!   proves its membership (the round starts over with every class);
//! - `READS_PER_BYTE` × the bytes of every message it sends: the decoded message's
//!   size counted without framing (`weight`), and never more than the frame's size
//!   on the wire (`Session::note_frame`: a deflated frame of 4,096 identical steps
//!   weighs its 131 bytes, not the 12 KB it inflates to); steps of classes the
//!   session does not reconcile with this peer weigh nothing;
//! - one read per declared operation of every change it sends (`model::declared`,
//!   read before the import decodes anything), so 25,000 run-length-encoded
//!   operations in 130 bytes are refused by the session, not expanded;
//! - `READS_PER_CHANGE` for each change it sends that we accept (new data is what
//!   makes later rounds differ), and, per such batch, `IDLE_GRANTS` more rounds'
//!   worth of the urgent classes (`READS_BASE` + `READS_PER_ITEM` × urgent items),
//!   granted one at a time as `Idle`s arrive: urgent classes are listed whole every
//!   round in which they differ.
//!
//! So a session's reads are at most `READS_BASE + 8·n + 16·b + 256·c` plus
//! `4 · (4,096 + 8·u)` per accepted batch (n items, b bytes received, c changes
//! accepted, u urgent items): linear in what the peer sent, with a one-off term in
//! the size of the set (the honest first round). ARCHITECTURE.md has the table.

use super::SyncError;
use super::wire::{Msg, Range};

/// Reads any session may make before the peer has said anything.
pub const READS_BASE: u64 = 4_096;
/// Reads per item of the set reconciled, per full round (first round, membership).
pub const READS_PER_ITEM: u64 = 8;
/// Reads per byte the peer sent.
pub const READS_PER_BYTE: u64 = 16;
/// Reads per change the peer sent that we accepted.
pub const READS_PER_CHANGE: u64 = 256;
/// Rounds over the urgent classes paid for by one accepted batch.
pub const IDLE_GRANTS: u32 = 4;

/// The read account of one session (see the module header).
#[derive(Debug)]
pub struct ReadBudget {
    used: u64,
    credit: u64,
    idle_grants: u32,
}

impl Default for ReadBudget {
    fn default() -> Self {
        ReadBudget {
            used: 0,
            credit: READS_BASE,
            idle_grants: IDLE_GRANTS,
        }
    }
}

impl ReadBudget {
    /// A full round over `items` items starts (the peer's `Hello`, or membership).
    pub fn grant_round(&mut self, items: u64) {
        self.add(READS_BASE.saturating_add(READS_PER_ITEM.saturating_mul(items)));
    }
    /// A message arrived from the peer, weighing `bytes` (see [`weight`]; the
    /// shell caps it by the frame's size on the wire).
    pub fn on_bytes(&mut self, bytes: u64) {
        self.add(READS_PER_BYTE.saturating_mul(bytes));
    }
    /// The peer sent `n` changes that we accepted.
    pub fn on_accepted(&mut self, n: u64) {
        if n > 0 {
            self.add(READS_PER_CHANGE.saturating_mul(n));
            self.idle_grants = IDLE_GRANTS;
        }
    }
    /// The peer says it is idle: one more round over the `urgent` urgent items, while
    /// the last accepted batch still pays for one.
    pub fn on_idle(&mut self, urgent: u64) {
        if self.idle_grants > 0 {
            self.idle_grants -= 1;
            self.grant_round(urgent);
        }
    }
    /// `n` reads made on the peer's behalf.
    pub fn charge(&mut self, n: u64) -> Result<(), SyncError> {
        self.used = self.used.saturating_add(n);
        if self.used > self.credit {
            return Err(SyncError::Protocol(
                "peer asked for more reconciliation work than its messages pay for",
            ));
        }
        Ok(())
    }
    /// Reads made so far.
    #[cfg(test)]
    pub fn used(&self) -> u64 {
        self.used
    }
    fn add(&mut self, n: u64) {
        self.credit = self.credit.saturating_add(n);
    }
}

/// [`weight`] of one reconciliation step.
pub fn range_weight(r: &Range) -> u64 {
    let ids = |n: usize| 8 * n as u64;
    match r {
        Range::Fp { .. } => 12,
        Range::Children { kids, .. } => 3 + 10 * kids.len() as u64,
        Range::Items { ids: v, .. } | Range::Want { ids: v, .. } => 3 + ids(v.len()),
        Range::Have { items } => 1 + 11 * items.len() as u64,
    }
}

/// A lower bound of a message's encoded size in bytes: every id, fingerprint and
/// change body counted at its size, framing and varint prefixes not at all.
pub fn weight(msg: &Msg) -> u64 {
    match msg {
        Msg::Hello { recent, .. } => 64 + 11 * recent.len() as u64,
        Msg::Ranges { ranges } => ranges.iter().map(range_weight).sum(),
        Msg::Changes { changes } | Msg::Packed { changes } => changes
            .iter()
            .map(|c| 64 + c.bytes.len() as u64 + c.doc.as_str().len() as u64)
            .sum(),
        Msg::Ack => 1,
        Msg::Idle { .. } => 16,
        Msg::Bye { reason } => reason.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_credit_end_the_session_and_credit_follows_bytes() {
        let mut b = ReadBudget::default();
        b.charge(READS_BASE).unwrap();
        assert!(b.charge(1).is_err(), "the base is spent");
        let mut b = ReadBudget::default();
        let frame = Msg::Ranges {
            ranges: vec![Range::Fp {
                node: super::super::NodeRef::root(2),
                count: 1,
                fp: [0; 8],
            }],
        };
        b.on_bytes(weight(&frame));
        b.charge(READS_BASE + 12 * READS_PER_BYTE).unwrap();
        assert!(b.charge(1).is_err());
    }

    #[test]
    fn idle_rounds_are_paid_for_by_accepted_changes_only() {
        let mut b = ReadBudget::default();
        for _ in 0..IDLE_GRANTS + 5 {
            b.on_idle(100);
        }
        let cap = READS_BASE + u64::from(IDLE_GRANTS) * (READS_BASE + 800);
        b.charge(cap).unwrap();
        assert!(b.charge(1).is_err(), "idles alone buy {IDLE_GRANTS} rounds");
        b.on_accepted(1);
        b.on_idle(100);
        // (The refused read above was counted: a session ends at its first refusal.)
        b.charge(READS_PER_CHANGE + READS_BASE + 800 - 1).unwrap();
        assert!(b.charge(1).is_err());
    }
}
