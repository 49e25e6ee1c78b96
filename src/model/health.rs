//! The fleet-health document: one per node (`hl-<node>`), written only by that node,
//! read by the office's devices screen ("Thiết bị").
//!
//! Each node reports what a technician would otherwise have to ride out to see: the
//! program's version, free disk, database size, uptime, when it last met each peer,
//! and how far its clock is from its peers'. Times in it are the *reporting node's*
//! clock (unix seconds); the reader corrects them by the node's own `clock_offset_ms`
//! when that node says its clock is wrong.
//!
//! It is one small document per node, updated in place (only the fields that
//! changed are written), so the set that sync reconciles grows by one small change
//! per update, and updates are rare (`repo::health` decides when).

use std::collections::BTreeMap;

use automerge::{
    AutomergeError, ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable,
};
use serde::{Deserialize, Serialize};

use super::schema::get_str;
use crate::identity::NodeId;

/// Every top-level field a health document may have (`verdict::rules`).
pub const HEALTH_FIELDS: &[&str] = &[
    "kind",
    "created_by",
    "created_at",
    "version",
    "disk_free_mb",
    "db_mb",
    "uptime_s",
    "published_at",
    "clock_offset_ms",
    "clock_peers",
    "clock_wrong",
    "contacts",
];
/// Most operations in one change to a health document: a full report with a
/// contact entry for every member of a large commune fits many times over.
pub const MAX_HEALTH_OPS: usize = 2_000;
/// Longest version string.
pub const MAX_VERSION_CHARS: usize = 40;

/// A node's health report, as read (total: missing fields are `None`/empty).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub node: Option<NodeId>,
    pub version: String,
    pub disk_free_mb: Option<i64>,
    pub db_mb: Option<i64>,
    pub uptime_s: Option<i64>,
    /// When this report was written, by the reporting node's clock.
    pub published_at: Option<i64>,
    /// Median over its peers of (peer clock − its clock), ms.
    pub clock_offset_ms: Option<i64>,
    pub clock_peers: i64,
    /// The node says its clock is far from its peers'.
    pub clock_wrong: bool,
    /// Peer → when this node last completed a sync with it (its clock).
    pub contacts: BTreeMap<NodeId, i64>,
    /// Where this node is with a software update (`UpdateReport`).
    #[serde(default)]
    pub update: Option<UpdateReport>,
}

/// Where a node is with a software update the office approved, for the office's
/// devices screen: `waiting` (its chunks arriving, `held` of `of`), `ready` (checked,
/// for the installer), then what the installer did: `trying`, `installed`,
/// `rolled_back`, `rollback_failed`, `refused`.
///
/// Written inside `contacts`, under the key [`UPDATE_KEY`]: version 6's rules allow
/// only its known top-level fields in a health report, and its reader skips a
/// `contacts` key that is not a node id, so a node of the release before carries the
/// report without refusing it (ARCHITECTURE.md, "Mixed versions").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateReport {
    pub state: String,
    pub version: String,
    /// When it got there (the reporting node's clock, unix seconds).
    pub at: i64,
    pub held: u32,
    pub of: u32,
}

/// The `contacts` key the update report travels under (never a node id).
pub const UPDATE_KEY: &str = "update";
const UPDATE_STATES: &[&str] = &[
    "waiting",
    "ready",
    "trying",
    "installed",
    "rolled_back",
    "rollback_failed",
    "refused",
];

impl UpdateReport {
    /// `state version at held/of`, as written.
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {}/{}",
            self.state, self.version, self.at, self.held, self.of
        )
    }
    /// Total: anything else than what `encode` writes is `None`.
    pub fn parse(s: &str) -> Option<UpdateReport> {
        let mut it = s.split(' ');
        let state = it.next()?;
        let version = it.next()?;
        let at = it.next()?.parse().ok()?;
        let (held, of) = it.next()?.split_once('/')?;
        if it.next().is_some()
            || !UPDATE_STATES.contains(&state)
            || version.is_empty()
            || version.chars().count() > MAX_VERSION_CHARS
        {
            return None;
        }
        Some(UpdateReport {
            state: state.to_string(),
            version: version.to_string(),
            at: (0..=MAX_TIME_S).contains(&at).then_some(at)?,
            held: held.parse().ok()?,
            of: of.parse().ok()?,
        })
    }
}

impl Health {
    /// What to add to a time in this report to get the peers' time: its offset when
    /// the node says its clock is wrong.
    pub fn correction(&self) -> i64 {
        if self.clock_wrong {
            self.clock_offset_ms.unwrap_or(0).div_euclid(1000)
        } else {
            0
        }
    }
}

fn int(doc: &impl ReadDoc, obj: &automerge::ObjId, key: &str) -> Option<i64> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Int(i) => Some(*i),
            ScalarValue::Uint(u) => i64::try_from(*u).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// Largest time read from a report (unix seconds, the year 5000 or so) and
/// largest clock offset (ms, about 300 years): a report is written by another
/// node, and the office's arithmetic on it must not overflow.
const MAX_TIME_S: i64 = 100_000_000_000;
const MAX_OFFSET_MS: i64 = 10_000_000_000_000;
/// Largest size or duration read from a report (MiB, seconds).
const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Reads the report in `doc`, the document `id`. The device it speaks for is the
/// one the id names (only that device may write it), never the `created_by` it
/// claims; every number is clamped so that reading it cannot overflow; a contact
/// dated after the report itself is dropped (a node cannot have met a peer after
/// it wrote down when it did).
pub fn read_health(id: &super::DocId, doc: &impl ReadDoc) -> Health {
    let amount = |k: &str| int(doc, &ROOT, k).map(|v| v.clamp(0, MAX_AMOUNT));
    let published_at = int(doc, &ROOT, "published_at").map(|v| v.clamp(0, MAX_TIME_S));
    let mut h = Health {
        node: id.health_owner(),
        version: get_str(doc, &ROOT, "version").unwrap_or_default(),
        disk_free_mb: amount("disk_free_mb"),
        db_mb: amount("db_mb"),
        uptime_s: amount("uptime_s"),
        published_at,
        clock_offset_ms: int(doc, &ROOT, "clock_offset_ms")
            .map(|v| v.clamp(-MAX_OFFSET_MS, MAX_OFFSET_MS)),
        clock_peers: int(doc, &ROOT, "clock_peers")
            .unwrap_or(0)
            .clamp(0, MAX_AMOUNT),
        clock_wrong: matches!(
            doc.get(&ROOT, "clock_wrong").ok().flatten(),
            Some((Value::Scalar(s), _)) if matches!(s.as_ref(), ScalarValue::Boolean(true))
        ),
        contacts: BTreeMap::new(),
        update: None,
    };
    h.version = h.version.chars().take(MAX_VERSION_CHARS).collect();
    if let Ok(Some((Value::Object(ObjType::Map), m))) = doc.get(&ROOT, "contacts") {
        if let Some(u) = get_str(doc, &m, UPDATE_KEY) {
            h.update = UpdateReport::parse(&u);
        }
        for k in doc.keys(&m) {
            if let (Ok(node), Some(t)) = (k.parse::<NodeId>(), int(doc, &m, &k))
                && (0..=published_at.unwrap_or(0)).contains(&t)
            {
                h.contacts.insert(node, t);
            }
        }
    }
    h
}

/// Writes `new` over `old` (the document as it stands), touching only the fields
/// that differ, so an update costs a few operations. `old == None`: the document is
/// new and the caller has written its header.
pub fn write_health(
    tx: &mut impl Transactable,
    old: Option<&Health>,
    new: &Health,
) -> Result<(), AutomergeError> {
    let d = Health::default();
    let old = old.unwrap_or(&d);
    if old.version != new.version || old.node.is_none() {
        let v: String = new.version.chars().take(MAX_VERSION_CHARS).collect();
        tx.put(ROOT, "version", v)?;
    }
    let ints: [(&str, Option<i64>, Option<i64>); 5] = [
        ("disk_free_mb", old.disk_free_mb, new.disk_free_mb),
        ("db_mb", old.db_mb, new.db_mb),
        ("uptime_s", old.uptime_s, new.uptime_s),
        ("published_at", old.published_at, new.published_at),
        ("clock_offset_ms", old.clock_offset_ms, new.clock_offset_ms),
    ];
    for (k, o, n) in ints {
        match n {
            Some(v) if o != n => tx.put(ROOT, k, v)?,
            None if o.is_some() => tx.delete(ROOT, k)?,
            _ => {}
        }
    }
    if old.clock_peers != new.clock_peers || old.node.is_none() {
        tx.put(ROOT, "clock_peers", new.clock_peers)?;
    }
    if old.clock_wrong != new.clock_wrong || old.node.is_none() {
        tx.put(ROOT, "clock_wrong", new.clock_wrong)?;
    }
    let m = match tx.get(ROOT, "contacts")? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => tx.put_object(ROOT, "contacts", ObjType::Map)?,
    };
    for (node, at) in &new.contacts {
        if old.contacts.get(node) != Some(at) {
            tx.put(&m, node.to_string(), *at)?;
        }
    }
    if old.update != new.update {
        match &new.update {
            Some(u) => tx.put(&m, UPDATE_KEY, u.encode())?,
            None => {
                if tx.get(&m, UPDATE_KEY)?.is_some() {
                    tx.delete(&m, UPDATE_KEY)?;
                }
            }
        }
    }
    Ok(())
}
