//! The commune's data model: document kinds, their fields, who may write what.
//!
//! No I/O here. `schema` reads and writes the Automerge fields of each kind,
//! `signed` is the signed-change envelope, `rules` decides whether a change from a
//! given author may be applied to a given document. Every node runs the same rules
//! on the same data, so every honest node reaches the same verdict without asking
//! anyone.

pub mod declared;
pub mod health;
pub mod schema;
pub mod seal;
pub mod signed;
pub mod text;

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::identity::NodeId;

pub use schema::*;
pub use signed::SignedChange;

/// Kinds of document. The kind is part of the document id, so a peer's summary
/// tells the priority of a document without opening it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Roster,
    Notice,
    Procedure,
    Request,
    Receipt,
    /// A node's fleet-health report (`hl-<node>`, one per node, written only by it).
    Health,
    /// A kind a later version adds (`DocId` "unknown kinds"): stored, judged by the
    /// rules every kind shares and forwarded, never shown — so an older node still
    /// carries it between two newer ones (ARCHITECTURE.md, "Mixed versions"). Written
    /// by officials only (`verdict::rules`).
    Other,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Roster => "roster",
            Kind::Notice => "notice",
            Kind::Procedure => "procedure",
            Kind::Request => "request",
            Kind::Receipt => "receipt",
            Kind::Health => "health",
            Kind::Other => "other",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "roster" => Kind::Roster,
            "notice" => Kind::Notice,
            "procedure" => Kind::Procedure,
            "request" => Kind::Request,
            "receipt" => Kind::Receipt,
            "health" => Kind::Health,
            "other" => Kind::Other,
            _ => return None,
        })
    }
    pub const ALL: [Kind; 7] = [
        Kind::Roster,
        Kind::Notice,
        Kind::Procedure,
        Kind::Request,
        Kind::Receipt,
        Kind::Health,
        Kind::Other,
    ];
}

/// Sync priority, lower first: roster (and revocations), urgent notices, notices,
/// procedures, requests, receipts and health reports (last: they are for the
/// office's overview, and share the receipts' class so the protocol is unchanged).
pub fn priority(kind: Kind, urgent: bool) -> u8 {
    match (kind, urgent) {
        (Kind::Roster, _) => 0,
        (Kind::Notice, true) => 1,
        (Kind::Notice, false) => 2,
        (Kind::Procedure, _) => 3,
        (Kind::Request, _) => 4,
        (Kind::Receipt, _) => 5,
        (Kind::Health, _) => 5,
        (Kind::Other, _) => 6,
    }
}

/// Maximum length of a document id on the wire.
pub const MAX_DOC_ID_LEN: usize = 80;

/// A document id: `roster`, `n-<16 hex>`, `p-<16 hex>`, `r-<32 hex>` (creator key
/// prefix + random; `r-<16 hex>` before chains), `rc-<node id>-<period>` (a node's
/// receipt for one period; `rc-<node id>` before periods) or `hl-<node id>`.
///
/// Unknown kinds: any other prefix of 1 to 8 lowercase letters followed by 32 hex
/// digits, the creator's key prefix and random (`<prefix>-<32 hex>`, as a request),
/// is a kind a later version adds ([`Kind::Other`]): a later version must give a new
/// kind ids of that shape for this one to carry them.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocId(String);

impl DocId {
    pub const ROSTER: &'static str = "roster";

    pub fn roster() -> DocId {
        DocId(Self::ROSTER.into())
    }
    pub fn new_random(kind: Kind) -> DocId {
        let prefix = match kind {
            Kind::Notice => "n",
            Kind::Procedure => "p",
            Kind::Request => "r",
            Kind::Roster => return DocId::roster(),
            Kind::Receipt | Kind::Health => {
                panic!("receipt and health ids are derived from the node id")
            }
            Kind::Other => panic!("this version makes no document of a kind it does not know"),
        };
        let mut b = [0u8; 8];
        rand::fill(&mut b);
        DocId(format!("{prefix}-{}", hex::encode(b)))
    }
    /// A new id of a kind that version 6 carries as a later kind (`<prefix>-` + the
    /// first 8 bytes of the creator's key + 8 random bytes): release approvals.
    pub fn new_later(prefix: &str, creator: &NodeId) -> DocId {
        let mut b = [0u8; 8];
        rand::fill(&mut b);
        let id: DocId = format!(
            "{prefix}-{}{}",
            hex::encode(&creator.as_bytes()[..8]),
            hex::encode(b)
        )
        .parse()
        .expect("a later kind's prefix is 1 to 8 lowercase letters");
        assert_eq!(id.kind(), Kind::Other);
        id
    }
    /// A new request id: `r-` + the first 8 bytes of the creator's key + 8 random
    /// bytes, so only that node can make the change that creates it
    /// (`verdict::rules::check_change`).
    pub fn new_request(creator: &NodeId) -> DocId {
        let mut b = [0u8; 8];
        rand::fill(&mut b);
        DocId(format!(
            "r-{}{}",
            hex::encode(&creator.as_bytes()[..8]),
            hex::encode(b)
        ))
    }
    /// A node's receipt as written before receipts had periods (still read, never
    /// written any more, never dropped: see `receipt_in`).
    pub fn receipt(node: &NodeId) -> DocId {
        DocId(format!("rc-{node}"))
    }
    /// A node's receipt for one period (`RECEIPT_PERIOD_SECS` of its clock): what
    /// it writes now. Only the newest `RECEIPT_PERIODS_KEPT` periods of each node
    /// are kept (`receipt_superseded`).
    pub fn receipt_in(node: &NodeId, period: u32) -> DocId {
        DocId(format!("rc-{node}-{period}"))
    }
    /// The fleet-health document of `node` (only `node` writes it).
    pub fn health(node: &NodeId) -> DocId {
        DocId(format!("hl-{node}"))
    }
    pub fn kind(&self) -> Kind {
        // Validated on construction, so the prefix is one of these.
        match self.0.split_once('-').map(|(p, _)| p) {
            Some("n") => Kind::Notice,
            Some("p") => Kind::Procedure,
            Some("r") => Kind::Request,
            Some("rc") => Kind::Receipt,
            Some("hl") => Kind::Health,
            Some(_) => Kind::Other,
            None => Kind::Roster,
        }
    }
    /// For a receipt, the node whose receipt this is (either form).
    pub fn receipt_owner(&self) -> Option<NodeId> {
        let rest = self.0.strip_prefix("rc-")?;
        rest.split_once('-').map_or(rest, |(n, _)| n).parse().ok()
    }
    /// For a receipt, its period; `None` for a receipt from before periods (and for
    /// any other document).
    pub fn receipt_period(&self) -> Option<u32> {
        let (_, p) = self.0.strip_prefix("rc-")?.split_once('-')?;
        p.parse().ok()
    }
    /// For a health document, the node whose report this is.
    pub fn health_owner(&self) -> Option<NodeId> {
        self.0.strip_prefix("hl-")?.parse().ok()
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DocId {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let ok = match s.split_once('-') {
            None => s == Self::ROSTER,
            Some((k @ ("n" | "p" | "r"), rest)) => {
                (rest.len() == 16 || (k == "r" && rest.len() == 32))
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            }
            Some(("rc", rest)) if rest.contains('-') => rest
                .split_once('-')
                .is_some_and(|(node, period)| node_part_ok(node) && period_part_ok(period)),
            Some(("rc" | "hl", rest)) => {
                rest.parse::<NodeId>().is_ok() && rest == rest.to_lowercase()
            }
            Some((k, rest)) => {
                (1..=8).contains(&k.len())
                    && k.bytes().all(|b| b.is_ascii_lowercase())
                    && rest.len() == 32
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            }
        };
        if !ok || s.len() > MAX_DOC_ID_LEN {
            bail!("invalid document id {s:?}");
        }
        Ok(DocId(s.to_string()))
    }
}

/// A node id inside a document id: exactly its 64 lowercase hex digits (one spelling
/// per node, so a receipt or report has one id).
fn node_part_ok(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.parse::<NodeId>().is_ok()
}

/// A receipt period inside a document id: decimal, no leading zero (one spelling per
/// period), at most `MAX_RECEIPT_PERIOD`.
fn period_part_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 7
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'))
        && s.parse::<u32>().is_ok_and(|p| p <= MAX_RECEIPT_PERIOD)
}

/// Length of a receipt period: 30 days of the writer's clock. Fixed-length epochs,
/// not calendar months: the period of a time is one division (no calendar or time
/// zone to agree on: a month boundary is a different instant in UTC and UTC+7).
pub const RECEIPT_PERIOD_SECS: i64 = 30 * 24 * 3600;

/// Receipt periods kept per node: the newest period a node holds for that owner and
/// the one before it (`receipt_superseded`).
pub const RECEIPT_PERIODS_KEPT: u32 = 2;

/// Most heads one receipt entry lists (a notice edited concurrently by many). The
/// writer keeps the first this many of the sorted short heads
/// (`schema::receipt_entry`): an entry so cut reads as an older version to every
/// reader (`NoticeVersion::compare`), so the notice is offered again, never
/// missed — and the node's own receipt stays within the rule it is judged by (a
/// notice with 33 concurrent heads once made every import that brought it fail).
pub const MAX_RECEIPT_HEADS: usize = 32;

/// Most operations one receipt document holds, its whole history counted (issue 21,
/// fault 9: a kiosk key wrote 18,000 entries, 5.4 MiB, for notices that do not
/// exist). A receipt names each notice once per version its node noted, and a new
/// period carries the live ones over: a commune posting a notice a day and editing
/// each a few times uses a few hundred a period. Whether a named notice exists is
/// not a fact of the receipt's own history (a node may not hold it yet), so this cap
/// is also the slack for entries naming notices nobody has: at most this many per
/// period and node, each entry at most ~600 bytes, ~5 MiB in all for the two periods
/// kept, whatever the key writes. The writer stops noting at the cap
/// (`repo::receipts`), so an honest node never writes past it.
pub const MAX_RECEIPT_OPS: u64 = 4_096;

/// Most changes one receipt document holds: an empty change costs its signature and
/// header (~150 bytes) and names no notice, so operations alone do not bound it.
/// An honest node writes one per sync that brought a notice version.
pub const MAX_RECEIPT_CHANGES: u64 = 2_048;

/// Most changes in the causal past of a change of a kind a later version adds
/// (`Kind::Other`), itself included: only officials write one, and each change is
/// bounded like any other, so this bounds what one branch of such a document costs
/// every node that carries it.
/// A later version writes no more than this into one (ARCHITECTURE.md, "Mixed
/// versions").
pub const MAX_LATER_CHANGES: u64 = 1_024;

/// Highest receipt period in an id (30-day periods: about the year 9999 is 97,700).
pub const MAX_RECEIPT_PERIOD: u32 = 999_999;

/// The receipt period of a unix time (seconds): clocks before 1970 give period 0.
pub fn receipt_period_of(unix_s: i64) -> u32 {
    (unix_s.max(0) / RECEIPT_PERIOD_SECS).min(MAX_RECEIPT_PERIOD as i64) as u32
}

/// The period a node writes its receipt entries into (issue 21, fault 10: a receipt
/// written under a clock that said 2031 must not live for years once the clock is put
/// right). `clock` is the period of the node's clock now, `newest` the newest period
/// it has written, `anchor` (clock period, written period) at its last write.
///
/// Periods only grow for one owner (every node prunes by the newest id it holds), but
/// they follow the clock's *steps*, not its value: as the clock moves on by k periods
/// the written period moves on by k; when the clock goes back by a period or more (set
/// right after running ahead, or set wrong), the node moves on by
/// `RECEIPT_PERIODS_KEPT` at once, so what it wrote under the old setting is
/// superseded — dropped on every node that receives the new period — and the new
/// period's first change carries the live entries over as at any new period. A
/// store from before anchors reads as if its last write was on time.
pub fn receipt_writing_period(clock: u32, newest: Option<u32>, anchor: Option<(u32, u32)>) -> u32 {
    let Some(newest) = newest else {
        return clock;
    };
    let (c0, w0) = anchor.unwrap_or((newest, newest));
    let w0 = w0.max(newest);
    let p = if clock >= c0 {
        w0.saturating_add(clock - c0)
    } else {
        w0.saturating_add(RECEIPT_PERIODS_KEPT)
    };
    p.min(MAX_RECEIPT_PERIOD)
}

/// The deterministic rule that drops old receipts: of one owner's periodic receipts,
/// a node keeps only those of the newest `RECEIPT_PERIODS_KEPT` periods counted back
/// from the newest period it holds (by number, not by how many are present). It is
/// decided by the ids held, never by the local clock, so every honest node applies it
/// alike, and it commutes with reconciliation: what a node keeps is a function of the
/// periods it has ever held, `keep(S ∪ T) = keep(keep(S) ∪ T)`, so two nodes that
/// exchange their receipts end with the same ones whatever each dropped before.
/// Receipts from before periods (`rc-<node>`) are never superseded.
pub fn receipt_superseded(period: u32, newest_held: u32) -> bool {
    period.saturating_add(RECEIPT_PERIODS_KEPT) <= newest_held
}

impl TryFrom<String> for DocId {
    type Error = anyhow::Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<DocId> for String {
    fn from(d: DocId) -> String {
        d.0
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({})", self.0)
    }
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $s)] $variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $s),+ } }
        }
        impl FromStr for $name {
            type Err = anyhow::Error;
            fn from_str(s: &str) -> Result<Self> {
                match s { $($s => Ok($name::$variant),)+ _ => bail!(concat!("unknown ", stringify!($name), " {:?} (expected one of: {})"), s, [$($s),+].join(", ")) }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

string_enum!(
    /// What a roster member may do.
    Role { Official = "official", Kiosk = "kiosk", Courier = "courier" }
);
string_enum!(
    /// Notice categories, as the chat group used them.
    Category { Policy = "policy", Schedule = "schedule", Storm = "storm", Health = "health", Other = "other" }
);
string_enum!(
    /// What a resident asks for.
    RequestKind { Question = "question", Appointment = "appointment", HomeVisit = "home-visit" }
);
string_enum!(
    /// Where a request stands.
    /// `Junk`: dismissed by an official (spam, test taps); hidden from the inbox and
    /// the public Q&A. Older nodes read an unknown status as `New`.
    Status { New = "new", Answered = "answered", Scheduled = "scheduled", Resolved = "resolved", Junk = "junk" }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeId {
        crate::identity::Identity::generate().node_id()
    }

    #[test]
    fn receipt_ids_of_both_forms_parse_to_their_owner_and_period() {
        let n = node();
        let old = DocId::receipt(&n);
        let new = DocId::receipt_in(&n, 692);
        for id in [&old, &new] {
            let back: DocId = id.as_str().parse().unwrap();
            assert_eq!(&back, id);
            assert_eq!(back.kind(), Kind::Receipt);
            assert_eq!(back.receipt_owner(), Some(n));
        }
        assert_eq!(old.receipt_period(), None);
        assert_eq!(new.receipt_period(), Some(692));
        assert!(new.as_str().len() <= MAX_DOC_ID_LEN);
        // One spelling per period and node: no leading zero, no sign, no upper case,
        // nothing past the bound; other kinds have no period.
        for bad in [
            format!("rc-{n}-0692"),
            format!("rc-{n}-+692"),
            format!("rc-{n}-"),
            format!("rc-{n}-6x"),
            format!("rc-{n}-{}", MAX_RECEIPT_PERIOD + 1),
            format!("rc-{n}-1-2"),
            format!("rc-{}-692", n.to_string().to_uppercase()),
            format!("rc- {n}-692"),
            format!("hl-{n}-692"),
        ] {
            assert!(bad.parse::<DocId>().is_err(), "{bad} parsed");
        }
        assert_eq!(
            format!("rc-{n}-0")
                .parse::<DocId>()
                .unwrap()
                .receipt_period(),
            Some(0)
        );
        assert_eq!(DocId::health(&n).receipt_period(), None);
    }

    #[test]
    fn receipt_periods_are_thirty_day_epochs_of_the_clock() {
        assert_eq!(receipt_period_of(0), 0);
        assert_eq!(receipt_period_of(-5), 0);
        assert_eq!(receipt_period_of(RECEIPT_PERIOD_SECS - 1), 0);
        assert_eq!(receipt_period_of(RECEIPT_PERIOD_SECS), 1);
        // 2026-11-29.
        assert_eq!(receipt_period_of(1_796_000_000), 692);
        assert_eq!(receipt_period_of(i64::MAX), MAX_RECEIPT_PERIOD);
    }

    /// What a node keeps of one owner's periods: a function of the periods it ever
    /// held, so reconciling two nodes' kept sets gives the same result on both.
    fn keep(held: &std::collections::BTreeSet<u32>) -> std::collections::BTreeSet<u32> {
        let Some(newest) = held.iter().max().copied() else {
            return held.clone();
        };
        held.iter()
            .copied()
            .filter(|p| !receipt_superseded(*p, newest))
            .collect()
    }

    #[test]
    fn the_drop_rule_commutes_with_reconciliation() {
        use std::collections::BTreeSet;
        assert!(!receipt_superseded(9, 10));
        assert!(receipt_superseded(8, 10));
        assert!(!receipt_superseded(10, 10));
        assert!(!receipt_superseded(MAX_RECEIPT_PERIOD, MAX_RECEIPT_PERIOD));
        // Every pair of subsets of 0..7: keep(S ∪ T) = keep(keep(S) ∪ T), so two
        // nodes that pruned differently and then exchange what they kept agree.
        for s in 0u32..128 {
            for t in 0u32..128 {
                let set = |m: u32| {
                    (0..7)
                        .filter(|i| m >> i & 1 == 1)
                        .collect::<BTreeSet<u32>>()
                };
                let (s, t) = (set(s), set(t));
                let both: BTreeSet<u32> = s.union(&t).copied().collect();
                let a: BTreeSet<u32> = keep(&s).union(&keep(&t)).copied().collect();
                assert_eq!(keep(&a), keep(&both), "{s:?} {t:?}");
                assert!(keep(&both).len() <= RECEIPT_PERIODS_KEPT as usize);
            }
        }
    }

    /// Issue 21, fault 10: a kiosk whose clock said 2031 wrote period 753; once its
    /// clock is put right (693) it moves to 755, which supersedes 753, and then
    /// follows the clock one period per period. An on-time node writes its clock's
    /// period, and a store from before anchors behaves the same when on time.
    #[test]
    fn receipt_periods_follow_a_corrected_clock() {
        assert_eq!(receipt_writing_period(693, None, None), 693);
        assert_eq!(receipt_writing_period(693, Some(693), None), 693);
        assert_eq!(
            receipt_writing_period(694, Some(693), Some((693, 693))),
            694
        );
        // Ran ahead, then corrected.
        let p = receipt_writing_period(693, Some(753), None);
        assert_eq!(p, 755);
        assert!(receipt_superseded(753, p));
        assert!(!receipt_superseded(755, p));
        // And then on with the clock.
        assert_eq!(
            receipt_writing_period(693, Some(755), Some((693, 755))),
            755
        );
        assert_eq!(
            receipt_writing_period(695, Some(755), Some((693, 755))),
            757
        );
        // A clock set back a year, then forward again: periods never go back.
        let back = receipt_writing_period(681, Some(693), Some((693, 693)));
        assert_eq!(back, 695);
        assert_eq!(
            receipt_writing_period(693, Some(695), Some((681, 695))),
            707
        );
        // Saturates at the highest period an id may name.
        assert_eq!(
            receipt_writing_period(10, Some(MAX_RECEIPT_PERIOD), None),
            MAX_RECEIPT_PERIOD
        );
    }
}
