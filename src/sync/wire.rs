//! Wire format of `conglang/sync/2`: length-prefixed frames holding one postcard-
//! encoded message each, deflated when that saves bytes. Version 1 (document digests
//! and cursors) is not spoken any more; `V1_BYE` lets a node tell a version-1 peer so.
//!
//! Message level [`PACKED_VERSION`] adds `Packed` batches: the same signed changes with each body
//! sent *inflated* (automerge deflates every change on its own, so a frame of stored
//! bodies hardly compresses), letting the frame's one deflate stream see the whole
//! batch — 2.2 × more change bytes per frame byte on W8's backlog. The receiver
//! deflates each body back to its stored form (`stored_body`); a change is named and
//! signed by its automerge hash, which does not depend on the form. It is negotiated:
//! every `Hello` still says [`VERSION`] (so a node of that version without `Packed`
//! still talks to us and is served plain `Changes`), and a trailing `upto` says which
//! newer messages the sender reads.
//!
//! The length prefix is checked against `MAX_FRAME` before anything is allocated, and
//! a deflated frame's inflated size is counted (into a sink, nothing kept) and checked
//! against `MAX_MESSAGE` before its buffer is allocated, as `model::signed` does for
//! change bodies, so a hostile peer cannot make a node allocate more than a few MiB
//! whatever it sends. An inflated body in a `Packed` batch is bounded like an inflated
//! change (`MAX_INFLATED_CHANGE_BYTES`).

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use serde::{Deserialize, Serialize};

use crate::identity::NodeId;
use crate::model::SignedChange;
use crate::sync::recon::{Fp, NodeRef, SetFp, ShortId};

/// The ALPN: bump the number on any incompatible change.
pub const ALPN: &[u8] = b"conglang/sync/2";
/// The previous protocol's ALPN: accepted only to tell such a peer to update.
pub const ALPN_V1: &[u8] = b"conglang/sync/1";
/// Message version, in `Hello`. 3: version 2's messages, and the set may now hold
/// fleet health reports (`hl-` documents), which a version-2 node cannot decode: it is
/// told at `Hello`, before any change is sent, that it needs updating. 4: receipts
/// per period (`rc-<node>-<period>` documents), which a version-3 node cannot decode.
/// 5: every change names its document in its message (`cl/2`, `model::signed::ChainMeta`,
/// issue 21 fault 4), which a version-4 node refuses as a malformed change — it would
/// count an honest peer as hostile, so it is told at `Hello` instead.
/// 6: documents of kinds a later version adds (`Kind::Other`) are stored and
/// forwarded, in a class of their own ([`LATER_KINDS_VERSION`]); a version-5 node
/// refuses their ids while decoding a batch, so they are offered only to peers of 6 or
/// newer, and a version-5 peer is served everything else.
///
/// From 5 on, a bump keeps the previous version talking (ARCHITECTURE.md, "Mixed
/// versions"): a node accepts a peer of [`MIN_PEER_VERSION`] or newer, and of two
/// nodes the newer speaks the older's messages. Messages an older node merely cannot
/// read are negotiated instead, with `upto` (see [`UPTO`]).
pub const VERSION: u16 = 6;
/// The oldest message version this node talks to: the one before [`VERSION`]
/// (version 4 refuses every change written since `cl/2` as malformed and cannot be
/// served).
pub const MIN_PEER_VERSION: u16 = 5;
/// The message version from which a node carries kinds it does not know
/// (`recon::LATER`'s class, the `Hello`'s trailing `later`): a session offers that
/// class only when both sides speak at least this.
pub const LATER_KINDS_VERSION: u16 = 6;
/// The message level that added `Packed` batches (negotiated with `upto`; fixed, so
/// a later [`VERSION`] still knows which peers read them).
pub const PACKED_VERSION: u16 = 6;
/// The newest message level this node reads, sent in `Hello`'s trailing `upto`. A
/// session uses what both sides read: a peer without `upto` (or below
/// [`PACKED_VERSION`]) is served plain `Changes`.
pub const UPTO: u16 = if VERSION > PACKED_VERSION {
    VERSION
} else {
    PACKED_VERSION
};

/// Largest frame body on the wire (compressed).
pub const MAX_FRAME: usize = 2 * 1024 * 1024;
/// Largest message after inflation.
pub const MAX_MESSAGE: usize = 4 * 1024 * 1024;
/// Most ranges in one `Ranges` message, and most ids in one listing.
pub const MAX_RANGES: usize = 4096;
pub const MAX_IDS: usize = 4096;
/// Most changes in one batch.
pub const MAX_CHANGES_PER_BATCH: usize = 2048;
/// Most entries in a `Hello`'s `later` list: this version knows one later class, a
/// later one may add more (they are skipped here).
pub const MAX_LATER_CLASSES: usize = 16;
/// Largest item count a peer may claim in its `Hello` (2^40: far beyond any commune,
/// far below overflow when counts are added up).
pub const MAX_COUNT: u64 = 1 << 40;

const FLAG_DEFLATE: u8 = 1;
/// Frames smaller than this are not worth deflating.
const DEFLATE_MIN: usize = 200;

/// A class root's summary in a `Hello`: count and fingerprint (sender's nonce).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassSum {
    pub class: u8,
    pub count: u64,
    pub fp: Fp,
}

/// A child of a node in `Range::Children`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kid {
    pub nibble: u8,
    pub count: u64,
    pub fp: Fp,
}

/// An item named with where to find it: its leaf and its id keyed with the sender's nonce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Located {
    pub class: u8,
    pub leaf: u16,
    pub id: ShortId,
}

/// One step of reconciliation about one trie node (see `sync` for the rules).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Range {
    /// My node holds `count` items with this fingerprint (my nonce).
    Fp { node: NodeRef, count: u64, fp: Fp },
    /// My node differs from yours; here are its non-empty children (absent = empty).
    Children { node: NodeRef, kids: Vec<Kid> },
    /// My node holds exactly these items (ids keyed with my nonce).
    Items { node: NodeRef, ids: Vec<ShortId> },
    /// Of the items you named under this node (ids keyed with your nonce), I lack
    /// these: send them. Empty: I lack nothing there.
    Want { node: NodeRef, ids: Vec<ShortId> },
    /// Items I stored recently (ids keyed with my nonce): ask for those you lack.
    Have { items: Vec<Located> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// First message each way. `version` stays the first field of the first variant
    /// in every protocol version, so any version can read it.
    Hello {
        version: u16,
        commune: NodeId,
        /// Fresh per session: keys every fingerprint and id this side sends.
        nonce: [u8; 16],
        /// Fingerprint of the whole set, and its size.
        set: SetFp,
        total: u64,
        /// Every non-empty class root.
        classes: Vec<ClassSum>,
        /// The items stored most recently: a peer that lacks only these asks at once.
        recent: Vec<Located>,
        /// The sender's wall clock (unix ms) as it sent this, for the peers' clock
        /// check (`crate::clock`). Added to protocol 2 as the last field of the last
        /// thing in the frame: an older node stops reading before it (postcard
        /// ignores trailing bytes), and an older node's `Hello`, which ends before
        /// it, reads as `None`.
        #[serde(default, deserialize_with = "trailing_opt")]
        wall_ms: Option<i64>,
        /// The newest message version the sender reads (absent: `version` only).
        /// Appended after `wall_ms` the same way: a node that predates it ignores it.
        #[serde(default, deserialize_with = "trailing_opt")]
        upto: Option<u16>,
        /// `Some(true)`: the sender does not know us as a member yet, so it lists the
        /// roster class only and its other classes say nothing of what it holds (do
        /// not push them whole: it reconciles them once it has seen our enrolment).
        /// Appended after `upto` the same way: absent reads as `None`.
        #[serde(default, deserialize_with = "trailing_opt")]
        restricted: Option<bool>,
        /// Class roots of the kinds a later version adds (`recon::LATER` and up), from
        /// [`LATER_KINDS_VERSION`]: outside `classes` because a version-5 node refuses a
        /// `Hello` listing a class it does not know. Appended after `restricted` the
        /// same way: a version-5 node ignores it, and its `Hello` reads as `None`.
        /// Not part of `set`, which covers `classes` only (the sender cannot know,
        /// when it writes its `Hello`, whether the peer reads the later classes).
        #[serde(default, deserialize_with = "trailing_opt")]
        later: Option<Vec<ClassSum>>,
    },
    /// Reconciliation steps.
    Ranges { ranges: Vec<Range> },
    /// Signed changes, most urgent first.
    Changes { changes: Vec<SignedChange> },
    /// A batch was verified and committed.
    Ack,
    /// I have nothing more to send you; my whole set now, and how many of your
    /// messages I had handled (so you can tell whether it crossed one of yours).
    Idle { set: SetFp, total: u64, seen: u64 },
    /// Closing with a reason (logged by the peer).
    Bye { reason: String },
    /// A `Changes` batch whose bodies are sent inflated (automerge's uncompressed
    /// chunk form) so the frame compresses as a whole; the receiver stores each in its
    /// usual form. Sent only to a peer whose `upto` is ≥ [`PACKED_VERSION`].
    Packed { changes: Vec<SignedChange> },
}

impl Msg {
    /// The changes of a batch, whichever form it travels in (`Changes` or `Packed`).
    pub fn batch(&self) -> Option<&[SignedChange]> {
        match self {
            Msg::Changes { changes } | Msg::Packed { changes } => Some(changes),
            _ => None,
        }
    }
}

/// An optional field at the very end of a message: absent (the bytes ended) or
/// unreadable reads as `None`, so messages from nodes that predate it still decode.
fn trailing_opt<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(Option::<T>::deserialize(d).unwrap_or(None))
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("frame of {0} bytes exceeds the {MAX_FRAME} byte limit")]
    TooLarge(usize),
    #[error("message inflates past the {MAX_MESSAGE} byte limit")]
    InflatesTooFar,
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("message breaks a limit: {0}")]
    Limit(&'static str),
}

/// A message's postcard bytes, before framing and compression (tests build frames of
/// other versions from these).
pub fn raw(msg: &Msg) -> Vec<u8> {
    postcard::to_stdvec(msg).expect("messages serialise")
}

/// Encodes one message as a frame: `u32 LE length | flags | body`.
pub fn encode(msg: &Msg) -> Vec<u8> {
    let raw = postcard::to_stdvec(msg).expect("messages serialise");
    let (flags, body) = if raw.len() >= DEFLATE_MIN {
        let mut e = DeflateEncoder::new(Vec::with_capacity(raw.len() / 2), Compression::new(6));
        e.write_all(&raw).expect("write to vec");
        let z = e.finish().expect("finish to vec");
        if z.len() < raw.len() {
            (FLAG_DEFLATE, z)
        } else {
            (0, raw)
        }
    } else {
        (0, raw)
    };
    let mut out = Vec::with_capacity(body.len() + 5);
    out.extend_from_slice(&((body.len() + 1) as u32).to_le_bytes());
    out.push(flags);
    out.extend_from_slice(&body);
    out
}

/// Reads the length prefix; refuses oversize frames before any allocation.
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, WireError> {
    let n = u32::from_le_bytes(prefix) as usize;
    if n == 0 || n > MAX_FRAME + 1 {
        return Err(WireError::TooLarge(n));
    }
    Ok(n)
}

/// Inflates a frame body (flags + payload, without the length prefix), bounded.
fn payload(frame: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, WireError> {
    let Some((&flags, body)) = frame.split_first() else {
        return Err(WireError::Malformed("empty frame".into()));
    };
    match flags {
        0 => Ok(std::borrow::Cow::Borrowed(body)),
        FLAG_DEFLATE => {
            // Counted first, into a sink: nothing is allocated for a bomb.
            let n = std::io::copy(
                &mut DeflateDecoder::new(body).take(MAX_MESSAGE as u64 + 1),
                &mut std::io::sink(),
            )
            .map_err(|e| WireError::Malformed(e.to_string()))?;
            if n > MAX_MESSAGE as u64 {
                return Err(WireError::InflatesTooFar);
            }
            let mut out = Vec::with_capacity(n as usize);
            DeflateDecoder::new(body)
                .take(n)
                .read_to_end(&mut out)
                .map_err(|e| WireError::Malformed(e.to_string()))?;
            Ok(std::borrow::Cow::Owned(out))
        }
        f => Err(WireError::Malformed(format!("unknown flags {f}"))),
    }
}

/// Decodes a frame body (flags + payload, without the length prefix).
pub fn decode(frame: &[u8]) -> Result<Msg, WireError> {
    let body = payload(frame)?;
    let msg: Msg = postcard::from_bytes(&body).map_err(|e| WireError::Malformed(e.to_string()))?;
    check_limits(&msg)?;
    Ok(msg)
}

/// Version 1's messages, as far as bundles need them: a version-1 bundle is a series
/// of `Changes` frames (the fourth message), which this node still reads.
#[derive(Deserialize)]
enum V1Msg {
    Hello(()),
    Offer(()),
    Want(()),
    Changes { changes: Vec<SignedChange> },
}

/// Decodes a version-1 `Changes` frame body (bundles written by version 1).
pub fn decode_v1_changes(frame: &[u8]) -> Result<Vec<SignedChange>, WireError> {
    let body = payload(frame)?;
    match postcard::from_bytes::<V1Msg>(&body) {
        Ok(V1Msg::Changes { changes }) => {
            check_limits(&Msg::Changes {
                changes: changes.clone(),
            })?;
            Ok(changes)
        }
        Ok(_) => Err(WireError::Malformed("not a change batch".into())),
        Err(e) => Err(WireError::Malformed(e.to_string())),
    }
}

/// A cheap upper-side estimate of `msg`'s size on the wire before compression (for
/// the per-connection queue bound in `net`; exactness does not matter, growth does).
pub fn approx_len(msg: &Msg) -> usize {
    64 + match msg {
        Msg::Hello {
            classes, recent, ..
        } => classes.len() * 24 + recent.len() * 12,
        Msg::Ranges { ranges } => ranges
            .iter()
            .map(|r| {
                16 + 12 * range_ids(r) + 20 * matches!(r, Range::Children { .. }) as usize * 16
            })
            .sum(),
        Msg::Changes { changes } => changes.iter().map(|c| 80 + c.bytes.len()).sum(),
        // Inflated bodies compress about as well as automerge's own deflate did:
        // counted at half their size, like the stored form they came from.
        Msg::Packed { changes } => changes.iter().map(|c| 80 + c.bytes.len() / 2).sum(),
        Msg::Bye { reason } => reason.len(),
        _ => 0,
    }
}

fn range_ids(r: &Range) -> usize {
    match r {
        Range::Items { ids, .. } | Range::Want { ids, .. } => ids.len(),
        Range::Have { items } => items.len(),
        _ => 0,
    }
}

fn has_duplicates<T: Ord>(ids: impl Iterator<Item = T>) -> bool {
    let mut v: Vec<T> = ids.collect();
    let n = v.len();
    v.sort_unstable();
    v.dedup();
    v.len() != n
}

fn check_limits(msg: &Msg) -> Result<(), WireError> {
    let bad_node = |n: &NodeRef| !n.is_valid();
    match msg {
        Msg::Hello {
            classes,
            recent,
            total,
            later,
            ..
        } => {
            use crate::sync::recon::LATER;
            let later = later.as_deref().unwrap_or_default();
            if classes.len() > LATER as usize
                || later.len() > MAX_LATER_CLASSES
                || recent.len() > MAX_IDS
            {
                return Err(WireError::Limit("hello too large"));
            }
            // `classes` holds the classes every version since 5 knows; `later`, the
            // ones from `recon::LATER` on — including classes a later version adds,
            // which this one skips (`Session`), so that version can still add them.
            if classes.iter().any(|c| c.class >= LATER)
                || later.iter().any(|c| c.class < LATER || c.class >= 64)
            {
                return Err(WireError::Limit("hello lists a class out of place"));
            }
            // Counts are added up (progress, the exchange screen): a peer's numbers
            // stay far from overflow, and each class appears once.
            let mut seen = 0u64;
            for c in classes.iter().chain(later) {
                if seen & (1 << c.class) != 0 {
                    return Err(WireError::Limit("hello lists a class twice"));
                }
                seen |= 1 << c.class;
                if c.count > MAX_COUNT {
                    return Err(WireError::Limit("hello claims an impossible item count"));
                }
            }
            if *total > MAX_COUNT {
                return Err(WireError::Limit("hello claims an impossible item count"));
            }
            if has_duplicates(recent.iter().map(|l| l.id)) {
                return Err(WireError::Limit("hello repeats an item id"));
            }
        }
        Msg::Ranges { ranges } => {
            if ranges.len() > MAX_RANGES {
                return Err(WireError::Limit("too many ranges in one message"));
            }
            // Each listed id may cost an answer: at most MAX_IDS of them per message
            // (what `Session::flush_ranges` sends), and never the same id twice in a
            // range (an honest list holds distinct items; repeats only amplify).
            if ranges.iter().map(range_ids).sum::<usize>() > MAX_IDS {
                return Err(WireError::Limit("too many ids in one message"));
            }
            for r in ranges {
                let dup = match r {
                    Range::Items { ids, .. } | Range::Want { ids, .. } => {
                        has_duplicates(ids.iter().copied())
                    }
                    Range::Have { items } => has_duplicates(items.iter().map(|l| l.id)),
                    _ => false,
                };
                if dup {
                    return Err(WireError::Limit("a range repeats an item id"));
                }
            }
            for r in ranges {
                let ok = match r {
                    Range::Fp { node, .. } => !bad_node(node),
                    Range::Children { node, kids } => {
                        !bad_node(node)
                            && node.depth < crate::sync::recon::DEPTH
                            && kids.len() <= 16
                            && kids.iter().all(|k| k.nibble < 16)
                    }
                    Range::Items { node, ids } | Range::Want { node, ids } => {
                        !bad_node(node) && ids.len() <= MAX_IDS
                    }
                    Range::Have { items } => items.len() <= MAX_IDS,
                };
                if !ok {
                    return Err(WireError::Limit("malformed range"));
                }
            }
        }
        Msg::Changes { changes } => {
            if changes.len() > MAX_CHANGES_PER_BATCH {
                return Err(WireError::Limit("too many changes in one batch"));
            }
            if changes
                .iter()
                .any(|c| c.bytes.len() > crate::model::signed::MAX_CHANGE_BYTES)
            {
                return Err(WireError::Limit("change too large"));
            }
        }
        Msg::Packed { changes } => {
            if changes.len() > MAX_CHANGES_PER_BATCH {
                return Err(WireError::Limit("too many changes in one batch"));
            }
            // An inflated body is bounded as a change is once inflated.
            if changes
                .iter()
                .any(|c| c.bytes.len() as u64 > crate::model::signed::MAX_INFLATED_CHANGE_BYTES)
            {
                return Err(WireError::Limit("inflated change too large"));
            }
        }
        Msg::Bye { reason } if reason.len() > 1024 => {
            return Err(WireError::Limit("reason too long"));
        }
        _ => {}
    }
    Ok(())
}

/// What a node of message `version` (≥ [`MIN_PEER_VERSION`]) would refuse in `msg`
/// that this one reads — the differences a newer node must never send it. Used by a
/// session speaking an older version ([`crate::sync::Session::speak_version`], the
/// previous release's wire format kept as a test mode). Each version this one talks
/// to has its rules written out; asking for another panics.
pub fn refused_by(version: u16, msg: &Msg) -> Option<&'static str> {
    match version {
        5 => refused_by_5(msg),
        VERSION => None,
        // A bump must write down what the version it leaves behind refuses, or the
        // tests that speak it could not fail.
        v => panic!("no test mode for message version {v}"),
    }
}

/// Version 5 (the release of 2026-12): classes 0–5 only — a `Hello` or a step naming
/// another is refused (and, stricter than it, a `Hello`'s recent item of another
/// class, which it would skip) — and document ids of its six kinds only, a batch
/// holding any other refused whole. Written out here, not derived from this
/// version's constants, so it stays what version 5 does when they move.
fn refused_by_5(msg: &Msg) -> Option<&'static str> {
    use crate::model::Kind;
    let later = |c: u8| c > 5;
    match msg {
        Msg::Hello {
            classes, recent, ..
        } if classes.iter().any(|c| later(c.class)) || recent.iter().any(|l| later(l.class)) => {
            Some("hello lists an unknown class")
        }
        Msg::Ranges { ranges } => ranges
            .iter()
            .any(|r| match r {
                Range::Fp { node, .. }
                | Range::Children { node, .. }
                | Range::Items { node, .. }
                | Range::Want { node, .. } => later(node.class),
                Range::Have { .. } => false,
            })
            .then_some("malformed range"),
        Msg::Changes { changes } | Msg::Packed { changes } => changes
            .iter()
            .any(|c| {
                !matches!(
                    c.doc.kind(),
                    Kind::Roster
                        | Kind::Notice
                        | Kind::Procedure
                        | Kind::Request
                        | Kind::Receipt
                        | Kind::Health
                )
            })
            .then_some("invalid document id"),
        _ => None,
    }
}

/// A complete version-1 frame saying `Bye { reason }` (version 1's seventh message),
/// so a node that was not updated logs why the session ended instead of failing
/// silently. Built by hand: version 1's message type no longer exists here.
pub fn v1_bye(reason: &str) -> Vec<u8> {
    let mut body = vec![0u8, 6];
    let mut n = reason.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            body.push(b);
            break;
        }
        body.push(b | 0x80);
    }
    body.extend_from_slice(reason.as_bytes());
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// What a node on this version tells a version-1 peer.
pub fn v1_reason() -> String {
    format!(
        "this peer speaks {} and cannot sync with {}: update Cổng Làng on this node",
        String::from_utf8_lossy(ALPN),
        String::from_utf8_lossy(ALPN_V1)
    )
}

/// Automerge's chunk header: 4 magic bytes, a 4-byte checksum, the chunk type and the
/// body length (unsigned LEB128). Type 1 is a change, 2 a deflated change (same
/// checksum: it is the uncompressed change's).
const CHUNK_CHANGE: u8 = 1;
const CHUNK_DEFLATED: u8 = 2;
/// Automerge deflates a change chunk larger than this (`DEFLATE_MIN_SIZE`).
const AUTOMERGE_DEFLATE_MIN: usize = 256;

/// Splits a chunk into (magic + checksum, type, body), if its header is well formed
/// and its length is the body's.
fn chunk_parts(chunk: &[u8]) -> Option<(&[u8], u8, &[u8])> {
    let (head, rest) = (chunk.get(..8)?, chunk.get(8..)?);
    let (&kind, mut rest) = rest.split_first()?;
    let mut len: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&b, r) = rest.split_first()?;
        rest = r;
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return (len == rest.len() as u64).then_some((head, kind, rest));
        }
    }
    None
}

fn chunk(head: &[u8], kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 14);
    out.extend_from_slice(head);
    out.push(kind);
    let mut n = body.len() as u64;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(body);
    out
}

/// A stored change body in its inflated form, for a `Packed` batch: automerge's
/// uncompressed chunk (same checksum, same hash), made at the chunk level without
/// parsing the change. A body that is not a deflated chunk, or does not inflate
/// within `MAX_INFLATED_CHANGE_BYTES`, is sent as it is (the receiver judges it).
pub fn inflated_body(stored: &[u8]) -> Vec<u8> {
    let Some((head, CHUNK_DEFLATED, z)) = chunk_parts(stored) else {
        return stored.to_vec();
    };
    let limit = crate::model::signed::MAX_INFLATED_CHANGE_BYTES;
    let mut body = Vec::new();
    match DeflateDecoder::new(z)
        .take(limit + 1)
        .read_to_end(&mut body)
    {
        Ok(n) if (n as u64) <= limit => chunk(head, CHUNK_CHANGE, &body),
        _ => stored.to_vec(),
    }
}

/// A body from a `Packed` batch in the form it is stored and verified in: what
/// automerge's own `Change::bytes()` makes of it — deflated (same level, same code)
/// when the chunk is larger than 256 bytes, as it is otherwise. Anything else is
/// returned as it is, for the import to judge with its usual checks. Bounded:
/// `check_limits` capped the body at `MAX_INFLATED_CHANGE_BYTES`, and deflating only
/// shrinks it (a deflated chunk is never inflated here).
pub fn stored_body(body: Vec<u8>) -> Vec<u8> {
    match chunk_parts(&body) {
        Some((head, CHUNK_CHANGE, data)) if body.len() > AUTOMERGE_DEFLATE_MIN => {
            // As automerge's `Compressed::compress` does it.
            let mut z = Vec::new();
            let ok = flate2::bufread::DeflateEncoder::new(data, Compression::default())
                .read_to_end(&mut z)
                .is_ok();
            if ok {
                chunk(head, CHUNK_DEFLATED, &z)
            } else {
                body
            }
        }
        _ => body,
    }
}

/// Splits a byte stream into frames: feed bytes in, take messages out. Used by the
/// bundle reader and by tests; the network reads frames directly.
#[derive(Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Next complete message, `Ok(None)` if more bytes are needed.
    pub fn next_msg(&mut self) -> Result<Option<Msg>, WireError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let n = frame_len(self.buf[..4].try_into().expect("4 bytes"))?;
        if self.buf.len() < 4 + n {
            return Ok(None);
        }
        let msg = decode(&self.buf[4..4 + n]);
        self.buf.drain(..4 + n);
        msg.map(Some)
    }

    /// Next complete frame body (flags + payload), `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let n = frame_len(self.buf[..4].try_into().expect("4 bytes"))?;
        if self.buf.len() < 4 + n {
            return Ok(None);
        }
        let f = self.buf[4..4 + n].to_vec();
        self.buf.drain(..4 + n);
        Ok(Some(f))
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(wall_ms: Option<i64>) -> Msg {
        hello_upto(wall_ms, None)
    }

    fn hello_upto(wall_ms: Option<i64>, upto: Option<u16>) -> Msg {
        Msg::Hello {
            version: VERSION,
            commune: NodeId([1; 32]),
            nonce: [2; 16],
            set: [3; 16],
            total: 4,
            classes: vec![],
            recent: vec![],
            wall_ms,
            upto,
            restricted: None,
            later: None,
        }
    }

    /// `Hello` as it was before `upto`: the wall clock last.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum V3Msg {
        Hello {
            version: u16,
            commune: NodeId,
            nonce: [u8; 16],
            set: SetFp,
            total: u64,
            classes: Vec<ClassSum>,
            recent: Vec<Located>,
            #[serde(default, deserialize_with = "trailing_opt")]
            wall_ms: Option<i64>,
        },
    }

    #[test]
    fn upto_in_hello_is_compatible_with_nodes_without_it_both_ways() {
        // From a node without `upto`, with or without its clock: reads as absent.
        for wall_ms in [None, Some(1_789_002_000_123)] {
            let v3 = V3Msg::Hello {
                version: VERSION,
                commune: NodeId([1; 32]),
                nonce: [2; 16],
                set: [3; 16],
                total: 4,
                classes: vec![],
                recent: vec![],
                wall_ms,
            };
            let mut frame = vec![0u8];
            frame.extend(postcard::to_stdvec(&v3).unwrap());
            assert_eq!(decode(&frame).unwrap(), hello_upto(wall_ms, None));
            // To a node without `upto`: it reads its fields and ignores it.
            let ours = raw(&hello_upto(wall_ms, Some(UPTO)));
            assert_eq!(postcard::from_bytes::<V3Msg>(&ours).unwrap(), v3);
            // Between nodes that have it: `upto` arrives.
            let f = encode(&hello_upto(wall_ms, Some(UPTO)));
            assert_eq!(decode(&f[4..]).unwrap(), hello_upto(wall_ms, Some(UPTO)));
        }
    }

    fn change(bytes: Vec<u8>) -> SignedChange {
        SignedChange {
            doc: crate::model::DocId::roster(),
            bytes,
            sig: [0; 64],
        }
    }

    #[test]
    fn packed_bodies_beyond_their_bounds_are_refused_before_they_are_kept() {
        // One inflated body larger than any change may inflate to: a few hundred
        // bytes on the wire, refused by name.
        let limit = crate::model::signed::MAX_INFLATED_CHANGE_BYTES as usize;
        let f = encode(&Msg::Packed {
            changes: vec![change(vec![0; limit + 1])],
        });
        assert!(f.len() < 4096, "{} B", f.len());
        match decode(&f[4..]) {
            Err(WireError::Limit(why)) => assert_eq!(why, "inflated change too large"),
            other => panic!("{other:?}"),
        }
        // At the bound it is read.
        let f = encode(&Msg::Packed {
            changes: vec![change(vec![0; limit])],
        });
        assert!(decode(&f[4..]).is_ok());
        // A frame that inflates past the message limit is refused from its count.
        let mut e = DeflateEncoder::new(Vec::new(), Compression::best());
        e.write_all(&[7]).unwrap();
        e.write_all(&vec![0u8; MAX_MESSAGE + 1]).unwrap();
        let mut frame = vec![FLAG_DEFLATE];
        frame.extend(e.finish().unwrap());
        assert!(matches!(decode(&frame), Err(WireError::InflatesTooFar)));
    }

    /// A real change travels inflated in a `Packed` batch and is stored as it was
    /// signed: same bytes (same automerge), same hash; the frame is smaller than the
    /// same batch of stored bodies.
    #[test]
    fn a_packed_body_comes_back_to_its_stored_form() {
        let id = crate::identity::Identity::generate();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
        let mut line = None;
        let batch: Vec<SignedChange> = (0..12)
            .flat_map(|i| crate::lab::request(&id, None, &mut rng, i, 1000, &mut line))
            .collect();
        assert!(
            batch.iter().any(|c| c.bytes.get(8) == Some(&2)),
            "deflated by automerge"
        );
        let packed: Vec<SignedChange> = batch
            .iter()
            .map(|c| SignedChange {
                bytes: inflated_body(&c.bytes),
                ..c.clone()
            })
            .collect();
        for (p, c) in packed.iter().zip(&batch) {
            if c.bytes[8] == CHUNK_DEFLATED {
                assert_eq!(p.bytes[8], CHUNK_CHANGE, "sent inflated");
                assert!(p.bytes.len() > c.bytes.len());
            }
        }
        // Junk, truncated chunks and lengths that do not match pass through as they are.
        for junk in [vec![], vec![1; 8], batch[0].bytes[..20].to_vec(), {
            let mut b = packed[0].bytes.clone();
            b.push(0);
            b
        }] {
            assert_eq!(stored_body(junk.clone()), junk);
            assert_eq!(inflated_body(&junk), junk);
        }
        let plain = encode(&Msg::Changes {
            changes: batch.clone(),
        });
        let small = encode(&Msg::Packed { changes: packed });
        assert!(
            small.len() * 3 < plain.len() * 2,
            "packed {} B, plain {} B",
            small.len(),
            plain.len()
        );
        let Msg::Packed { changes } = decode(&small[4..]).unwrap() else {
            panic!("not a packed batch");
        };
        let back: Vec<SignedChange> = changes
            .into_iter()
            .map(|c| SignedChange {
                bytes: stored_body(c.bytes),
                ..c
            })
            .collect();
        assert_eq!(back, batch);
        for c in back {
            c.verify().expect("a packed change verifies as stored");
        }
    }

    /// `Hello` as version 2 shipped it, before the wall clock.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum OldMsg {
        Hello {
            version: u16,
            commune: NodeId,
            nonce: [u8; 16],
            set: SetFp,
            total: u64,
            classes: Vec<ClassSum>,
            recent: Vec<Located>,
        },
    }

    #[test]
    fn the_wall_clock_in_hello_is_compatible_both_ways() {
        // From an older node: no clock, read as absent.
        let old = OldMsg::Hello {
            version: VERSION,
            commune: NodeId([1; 32]),
            nonce: [2; 16],
            set: [3; 16],
            total: 4,
            classes: vec![],
            recent: vec![],
        };
        let mut frame = vec![0u8];
        frame.extend(postcard::to_stdvec(&old).unwrap());
        assert_eq!(decode(&frame).unwrap(), hello(None));
        // To an older node: it reads its fields and ignores the clock.
        let new = raw(&hello(Some(1_789_002_000_123)));
        assert_eq!(postcard::from_bytes::<OldMsg>(&new).unwrap(), old);
        // Between new nodes: the clock arrives.
        let f = encode(&hello(Some(-946_684_800_000)));
        assert_eq!(decode(&f[4..]).unwrap(), hello(Some(-946_684_800_000)));
    }

    /// Version 5's `Hello`, as the release in the field declares it (before `later`).
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum V5Msg {
        Hello {
            version: u16,
            commune: NodeId,
            nonce: [u8; 16],
            set: SetFp,
            total: u64,
            classes: Vec<ClassSum>,
            recent: Vec<Located>,
            #[serde(default, deserialize_with = "trailing_opt")]
            wall_ms: Option<i64>,
            #[serde(default, deserialize_with = "trailing_opt")]
            upto: Option<u16>,
            #[serde(default, deserialize_with = "trailing_opt")]
            restricted: Option<bool>,
        },
    }

    #[test]
    fn the_later_classes_in_hello_are_skipped_by_version_5_and_read_by_6() {
        let sum = |class| ClassSum {
            class,
            count: 7,
            fp: [9; 8],
        };
        let ours = Msg::Hello {
            version: VERSION,
            commune: NodeId([1; 32]),
            nonce: [2; 16],
            set: [3; 16],
            total: 4,
            classes: vec![sum(0), sum(5)],
            recent: vec![],
            wall_ms: Some(5),
            upto: Some(UPTO),
            restricted: None,
            later: Some(vec![sum(crate::sync::recon::LATER)]),
        };
        // Version 5 reads every field it knows, and ours still says version 6.
        let v5: V5Msg = postcard::from_bytes(&raw(&ours)).unwrap();
        let V5Msg::Hello {
            version, classes, ..
        } = v5;
        assert_eq!(version, VERSION);
        assert!(classes.iter().all(|c| c.class < crate::sync::recon::LATER));
        assert_eq!(
            refused_by(5, &ours),
            None,
            "nothing in it that version 5 refuses"
        );
        // Version 6 reads the later classes.
        assert_eq!(decode(&encode(&ours)[4..]).unwrap(), ours);
        // A later class listed among the known ones, or twice, is refused.
        let mut bad = ours.clone();
        if let Msg::Hello { later, .. } = &mut bad {
            later.as_mut().unwrap().push(sum(crate::sync::recon::LATER));
        }
        assert!(decode(&encode(&bad)[4..]).is_err());
        let mut bad = ours.clone();
        if let Msg::Hello { later, .. } = &mut bad {
            *later = Some(vec![sum(2)]);
        }
        assert!(decode(&encode(&bad)[4..]).is_err());
        // A later class a later version adds is read (and skipped by the session),
        // so that version can add it without being refused here.
        let mut next = ours.clone();
        if let Msg::Hello { later, .. } = &mut next {
            later
                .as_mut()
                .unwrap()
                .push(sum(crate::sync::recon::CLASSES));
        }
        assert_eq!(decode(&encode(&next)[4..]).unwrap(), next);
    }
}
