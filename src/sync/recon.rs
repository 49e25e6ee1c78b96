//! The set being reconciled, and its fingerprints: pure functions, no storage.
//!
//! The set is every valid signed change a node stores, each named by its change hash
//! (immutable: a change never changes, so a set of them can be compared exactly,
//! unlike documents' mutable state). Items are grouped first by *priority class*
//! (roster, urgent notices and withdrawals, notices, procedures, requests, receipts),
//! so the urgent classes are compared and sent first, then arranged in a fixed-shape
//! 16-ary trie over the first 16 bits of their hash (`DEPTH` levels below the class
//! root). Transfer order inside a class is (time, hash).
//!
//! Why a fixed trie, and hashes rather than sums: a node's hash is SHA-256 over its
//! children's (count, hash) — or, for a leaf, over its items' sorted hashes — so a
//! node's hash is a collision-resistant function of exactly the set below it, and is
//! maintained incrementally (a stored change dirties one leaf and its `DEPTH` ancestors).
//! Nothing is linear: no XOR or sum a member could solve for by choosing which of its
//! own changes to plant (the XOR digest of protocol 1 was forged that way). On the
//! wire every fingerprint is additionally keyed with the sender's fresh per-session
//! nonce and truncated, so an attacker cannot precompute a truncated collision: making
//! two different sets compare equal needs a SHA-256 collision of the node hashes
//! (about 2^128 work), or luck of 2^-64 per compared node per session, which the
//! whole-set check (16 bytes, keyed) catches at the end. ARCHITECTURE.md has the rest.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{DocId, Kind};

/// Levels below a class root; leaves hold items sharing the first `4 × DEPTH` bits.
pub const DEPTH: u8 = 4;
/// Number of priority classes (0..CLASSES).
pub const CLASSES: u8 = 7;
/// The class of documents of kinds a later version adds (`Kind::Other`): last, and
/// offered only to peers that carry such kinds (`wire::LATER_KINDS_VERSION`) — a
/// version-5 node knows classes below it only.
pub const LATER: u8 = 6;
/// Classes up to this one (roster, urgent notices) are reconciled by listing, and
/// nothing else is sent until they are settled.
pub const URGENT: u8 = 1;

/// A node of the reconciliation trie: a class, a depth (0 = class root) and the
/// first `4 × depth` bits of the hashes below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeRef {
    pub class: u8,
    pub depth: u8,
    pub prefix: u16,
}

impl NodeRef {
    pub fn root(class: u8) -> NodeRef {
        NodeRef {
            class,
            depth: 0,
            prefix: 0,
        }
    }
    pub fn is_valid(&self) -> bool {
        self.class < CLASSES
            && self.depth <= DEPTH
            && (self.depth == DEPTH || (self.prefix as u32) < (1u32 << (4 * self.depth)))
    }
    pub fn child(&self, nibble: u8) -> NodeRef {
        NodeRef {
            class: self.class,
            depth: self.depth + 1,
            prefix: (self.prefix << 4) | nibble as u16,
        }
    }
    /// Leaves (first 16 bits of the hash) this node covers: `lo..=hi`.
    pub fn leaf_range(&self) -> (u16, u16) {
        let shift = 4 * (DEPTH - self.depth) as u32;
        let lo = (self.prefix as u32) << shift;
        let hi = lo | ((1u32 << shift) - 1);
        (lo as u16, hi as u16)
    }
    pub fn contains(&self, class: u8, hash: &[u8; 32]) -> bool {
        let (lo, hi) = self.leaf_range();
        let l = leaf_of(hash);
        class == self.class && l >= lo && l <= hi
    }
}

/// The leaf an item belongs to: the first 16 bits of its hash.
pub fn leaf_of(hash: &[u8; 32]) -> u16 {
    u16::from_be_bytes([hash[0], hash[1]])
}

/// An item of the set: a stored change, ordered for sending by (class, time, hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemKey {
    pub class: u8,
    pub time: i64,
    pub hash: [u8; 32],
}

/// (count, hash) of a trie node; count 0 means empty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeSum {
    pub count: u64,
    pub hash: [u8; 32],
}

/// The class of a change, from the change alone (both sides must agree without
/// looking at their documents, which may differ): roster (incl. revocations) 0;
/// a notice change that makes it urgent or withdraws it 1; other notice changes 2;
/// procedures 3; requests 4; receipts and health reports 5.
pub fn class_of(doc: &DocId, change: &automerge::Change) -> u8 {
    match doc.kind() {
        Kind::Roster => 0,
        Kind::Notice => {
            if notice_is_urgent_change(change) {
                1
            } else {
                2
            }
        }
        Kind::Procedure => 3,
        Kind::Request => 4,
        // Health reports share the last class with receipts (no protocol change).
        Kind::Receipt | Kind::Health => 5,
        // A kind a later version adds travels last, in a class of its own.
        Kind::Other => LATER,
    }
}

fn notice_is_urgent_change(change: &automerge::Change) -> bool {
    use automerge::legacy::{Key, ObjectId, OpType};
    let Ok(expanded) = crate::model::signed::guard(|| change.decode()) else {
        return false;
    };
    expanded.operations.iter().any(|op| {
        op.obj == ObjectId::Root
            && matches!(&op.key, Key::Map(k) if k == "urgent" || k == "withdrawn")
            && matches!(
                &op.action,
                OpType::Put(automerge::ScalarValue::Boolean(true))
            )
    })
}

/// Key of a stored change (class, author's timestamp, hash); `None` if the bytes do
/// not parse (they were verified on import, so only a damaged store gets here).
pub fn item_key(doc: &DocId, bytes: &[u8]) -> Option<ItemKey> {
    let change = automerge::Change::from_bytes(bytes.to_vec()).ok()?;
    Some(ItemKey {
        class: class_of(doc, &change),
        time: change.timestamp(),
        hash: change.hash().0,
    })
}

/// Hash of a leaf: its items' hashes, sorted.
pub fn leaf_hash(node: NodeRef, sorted: &[[u8; 32]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"conglang-recon-leaf");
    h.update([node.class]);
    h.update(node.prefix.to_be_bytes());
    for x in sorted {
        h.update(x);
    }
    h.finalize().into()
}

/// Hash of an inner node: its non-empty children's (nibble, count, hash).
pub fn inner_hash(node: NodeRef, children: &[(u8, NodeSum)]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"conglang-recon-node");
    h.update([node.class, node.depth]);
    h.update(node.prefix.to_be_bytes());
    for (nib, s) in children {
        h.update([*nib]);
        h.update(s.count.to_be_bytes());
        h.update(s.hash);
    }
    h.finalize().into()
}

/// Hash of the whole set: every non-empty class root.
pub fn set_hash(classes: &[(u8, NodeSum)]) -> NodeSum {
    let mut h = Sha256::new();
    h.update(b"conglang-recon-set");
    let mut count = 0;
    for (c, s) in classes {
        h.update([*c]);
        h.update(s.count.to_be_bytes());
        h.update(s.hash);
        count += s.count;
    }
    NodeSum {
        count,
        hash: h.finalize().into(),
    }
}

/// A fingerprint on the wire: the node hash keyed with the sender's session nonce.
pub type Fp = [u8; 8];
/// The whole-set fingerprint on the wire (longer: it alone decides "in sync").
pub type SetFp = [u8; 16];
/// An item named in a listing: its hash keyed with the lister's nonce.
pub type ShortId = [u8; 8];

fn keyed(nonce: &[u8; 16], tag: &[u8], data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"conglang-recon-key");
    h.update(nonce);
    h.update(tag);
    h.update(data);
    h.finalize().into()
}

pub fn fp(nonce: &[u8; 16], node: NodeRef, s: &NodeSum) -> Fp {
    if s.count == 0 {
        return [0; 8];
    }
    let mut d = Vec::with_capacity(44);
    d.extend_from_slice(&[node.class, node.depth]);
    d.extend_from_slice(&node.prefix.to_be_bytes());
    d.extend_from_slice(&s.count.to_be_bytes());
    d.extend_from_slice(&s.hash);
    keyed(nonce, b"fp", &d)[..8].try_into().expect("8 bytes")
}

pub fn set_fp(nonce: &[u8; 16], s: &NodeSum) -> SetFp {
    let mut d = Vec::with_capacity(40);
    d.extend_from_slice(&s.count.to_be_bytes());
    d.extend_from_slice(&s.hash);
    keyed(nonce, b"set", &d)[..16].try_into().expect("16 bytes")
}

pub fn short_id(nonce: &[u8; 16], hash: &[u8; 32]) -> ShortId {
    keyed(nonce, b"id", hash)[..8].try_into().expect("8 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ranges_nest() {
        let r = NodeRef::root(2);
        assert_eq!(r.leaf_range(), (0, u16::MAX));
        let c = r.child(0xa).child(0x3);
        assert_eq!(c.leaf_range(), (0xa300, 0xa3ff));
        let mut h = [0u8; 32];
        h[0] = 0xa3;
        h[1] = 0x17;
        assert!(c.contains(2, &h) && !c.contains(3, &h));
        assert!(c.child(1).child(7).is_valid());
        assert!(
            !NodeRef {
                class: 0,
                depth: 1,
                prefix: 16
            }
            .is_valid()
        );
    }

    #[test]
    fn fingerprints_depend_on_the_nonce_and_on_every_item() {
        let n = NodeRef::root(1);
        let a = NodeSum {
            count: 2,
            hash: leaf_hash(n, &[[1; 32], [2; 32]]),
        };
        let b = NodeSum {
            count: 2,
            hash: leaf_hash(n, &[[1; 32], [3; 32]]),
        };
        assert_ne!(fp(&[0; 16], n, &a), fp(&[0; 16], n, &b));
        assert_ne!(fp(&[0; 16], n, &a), fp(&[1; 16], n, &a));
        assert_eq!(fp(&[9; 16], n, &NodeSum::default()), [0; 8]);
    }
}
