//! Fleet health and clock offsets, on the store: what this node has observed of its
//! peers' clocks, its own health report (`model::health`), and when to publish it.
//!
//! Peer clock observations are local knowledge (they say something about *this*
//! machine), so they live in the store's `meta` table, not in a synced document; the
//! summary of them — the median offset and whether the clock is wrong — goes into
//! the health document that every node receives.
//!
//! When to publish is chosen for the sync cost: the document is one per node and
//! updated in place, and a new version is written only when something an official
//! would act on changed (a new version or the clock turning wrong or right: at once,
//! as these change only at an upgrade or a contact; disk low or a peer met for the
//! first time: at most once a minute), when contact times moved (at most every 30
//! minutes) or otherwise every 6 hours (uptime, free space). A commune of 10 nodes adds a few
//! dozen small changes a day to the set.

use super::*;
use crate::clock::{self, Estimate};
use crate::model::health::{Health, write_health};

/// `meta` key of the peer clock observations (JSON: node id → [`PeerClock`]).
const META_PEER_CLOCKS: &str = "peer_clocks";
/// Observations older than this before the newest one say little about our clock
/// now; a clock set right again by a technician drops its old observations this
/// way at its next contact.
const CLOCK_OBS_MAX_AGE_S: i64 = 30 * 86_400;
/// Most observations kept (one per peer; a commune has a few dozen machines).
const MAX_CLOCK_OBS: usize = 256;
/// Machines (none of them officials') that must agree before an official's
/// clock is called wrong.
pub const OFFICE_QUORUM: usize = 3;
/// Members (not officials) whose readings must agree before one sets this
/// clock: one lying or battery-dead courier cannot move it alone.
pub const MIN_MEMBER_PEERS: usize = 2;
/// A single member's reading agrees with the officials' signed times when it is
/// within this much above their lower bound (bundles carried for a few days).
const SIGNED_AGREEMENT_MS: i64 = 7 * 86_400_000;
/// Changes by others looked at for the signed-time bound (the newest ones).
const SIGNED_TIME_SAMPLE: usize = 64;
/// Free space below this is flagged on the office's screen.
pub const DISK_LOW_MB: i64 = 500;
/// Least time between two reports when a flag changed or a peer was met first.
const MIN_INTERVAL_S: i64 = 60;
/// Least time between two reports when only contact times moved.
const CONTACTS_INTERVAL_S: i64 = 30 * 60;
/// A report is refreshed at least this often (uptime, free space).
pub const REFRESH_S: i64 = 6 * 3600;

/// One peer's clock as seen at our last contact with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerClock {
    /// Peer clock − our clock, ms (error: at most half the time between sending our
    /// `Hello` and receiving theirs).
    pub offset_ms: i64,
    /// When, by our clock (unix seconds).
    pub at: i64,
}

impl Repo {
    /// Records `peer`'s clock offset seen at a contact.
    /// Only active members' clocks are recorded: a stranger's reading says nothing
    /// we trust, and strangers (fresh keys cost nothing) must not push members'
    /// readings out of the capped set.
    pub fn note_peer_clock(&mut self, peer: &NodeId, offset_ms: i64) -> Result<()> {
        let roster = self.roster()?;
        let member = |n: &NodeId| roster.member(n).is_some_and(|m| m.revoked.is_none());
        if !member(peer) {
            return Ok(());
        }
        let mut all = self.peer_clocks()?;
        // Readings of nodes revoked since are dropped first.
        all.retain(|n, _| member(n));
        all.insert(
            *peer,
            PeerClock {
                offset_ms,
                at: text::now(),
            },
        );
        while all.len() > MAX_CLOCK_OBS {
            let oldest = all.iter().min_by_key(|(_, c)| c.at).map(|(n, _)| *n);
            match oldest {
                Some(n) => all.remove(&n),
                None => break,
            };
        }
        let json: BTreeMap<String, PeerClock> =
            all.into_iter().map(|(n, c)| (n.to_string(), c)).collect();
        let json = serde_json::to_string(&json)?;
        self.store.write(|db| db.set_meta(META_PEER_CLOCKS, &json))
    }

    /// Every recorded peer clock observation.
    pub fn peer_clocks(&self) -> Result<BTreeMap<NodeId, PeerClock>> {
        let Some(s) = self.store.read().meta(META_PEER_CLOCKS)? else {
            return Ok(BTreeMap::new());
        };
        let raw: BTreeMap<String, PeerClock> = serde_json::from_str(&s).unwrap_or_default();
        Ok(raw
            .into_iter()
            .filter_map(|(n, c)| Some((n.parse().ok()?, c)))
            .collect())
    }

    /// How far this node's clock is from its peers': the median of the recent
    /// observations of members that are not revoked. "Recent" is measured from the
    /// newest observation, not from now: reading the clock here would make the
    /// answer depend on the very clock being judged (and on who reads the store).
    ///
    /// Two machines that disagree cannot tell which one is wrong, so the commune
    /// office is the reference: a node that met officials' machines judges itself
    /// against those only; an official that met no other official is called wrong
    /// only by at least [`OFFICE_QUORUM`] machines (a kiosk with a dead battery does
    /// not make the office doubt its clock; when the office's own battery dies, its
    /// fleet view shows every device "ahead" by the same amount, and its kiosks say
    /// they are wrong — both point at the office).
    pub fn clock_estimate(&self) -> Result<Estimate> {
        let roster = self.roster()?;
        let obs: Vec<(Role, PeerClock)> = self
            .peer_clocks()?
            .into_iter()
            .filter_map(|(n, c)| {
                let m = roster.member(&n).filter(|m| m.revoked.is_none())?;
                Some((m.role, c))
            })
            .collect();
        let newest = obs.iter().map(|(_, c)| c.at).max().unwrap_or(0);
        let recent: Vec<(Role, i64)> = obs
            .iter()
            .filter(|(_, c)| newest - c.at <= CLOCK_OBS_MAX_AGE_S)
            .map(|(r, c)| (*r, c.offset_ms))
            .collect();
        let officials: Vec<i64> = recent
            .iter()
            .filter(|(r, _)| *r == Role::Official)
            .map(|(_, o)| *o)
            .collect();
        if !officials.is_empty() {
            return Ok(Estimate::from_offsets(officials));
        }
        let mut est = Estimate::from_offsets(recent.iter().map(|(_, o)| *o).collect());
        if self.my_role()? == Some(Role::Official) && est.peers < OFFICE_QUORUM {
            est.decisive = false;
        }
        let signed = self.newest_official_time(&roster)?;
        let now = clock::now_ms();
        // Never met a peer live (USB bundles only), or the peers' word is not
        // enough: the officials' own signed times say this clock is behind by at
        // least this much.
        let bound = signed
            .map(|t| t.saturating_sub(now))
            .filter(|b| *b > clock::WRONG_AFTER_MS);
        let from_signed = bound.map(|b| Estimate {
            offset_ms: Some(b),
            peers: 0,
            decisive: true,
        });
        let Some(offset) = est.offset_ms else {
            return Ok(from_signed.unwrap_or(est));
        };
        // One machine that is not the office's (a stolen courier laptop, or an
        // honest one with a dead battery) does not set this clock alone: it takes
        // two machines, or one that agrees with the officials' signed times.
        if est.peers < MIN_MEMBER_PEERS {
            let agrees = bound.is_some_and(|b| {
                offset >= b - clock::WRONG_AFTER_MS && offset <= b + SIGNED_AGREEMENT_MS
            });
            if !agrees {
                est.decisive = false;
            }
        }
        // However many say so, a correction that puts "now" before a change an
        // official has signed is refused (changes are not written in the future).
        if signed.is_some_and(|t| t > now.saturating_add(offset) + clock::WRONG_AFTER_MS) {
            est.decisive = false;
        }
        if !est.decisive
            && let Some(s) = from_signed
        {
            return Ok(s);
        }
        Ok(est)
    }

    /// The newest of the last officials' changes this node holds by others, as
    /// stamped by their authors (ms): this clock is behind by at least `t − now`
    /// when that is positive (a lower bound: the change was written some time ago).
    /// `None` for an official (the office is the reference) or when there is none.
    fn newest_official_time(&self, roster: &Roster) -> Result<Option<i64>> {
        let me = self.node_id();
        if roster.is_official(&me) {
            return Ok(None);
        }
        Ok(self
            .store
            .read()
            .recent_changes_not_by(&me, SIGNED_TIME_SAMPLE)?
            .into_iter()
            .filter(|(a, _)| roster.is_official(a))
            .filter_map(|(_, b)| {
                crate::model::signed::guard(|| automerge::Change::from_bytes(b).ok())
                    .ok()
                    .flatten()
            })
            .map(|c| c.timestamp().saturating_mul(1000))
            .max())
    }

    /// Every node's health report this node holds.
    pub fn healths(&self) -> Result<Vec<Health>> {
        Ok(parse_view(self.store.read().views(Kind::Health)?))
    }

    /// This node's report as it would be written now.
    pub fn health_report(&self, uptime_s: i64) -> Result<Health> {
        let est = self.clock_estimate()?;
        let mb = |b: u64| (b / (1024 * 1024)) as i64;
        let db = self.data_dir.join(crate::store::DB_FILE);
        let size = |p: std::path::PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let db_bytes = size(db.clone()) + size(db.with_extension("sqlite3-wal"));
        // Members only (a stranger that reached sync with a restricted session is
        // not news for the office), so the report stays within its rule's size.
        let roster = self.roster()?;
        let contacts = self
            .peers()?
            .into_iter()
            .filter(|p| roster.member(&p.node).is_some())
            .filter_map(|p| Some((p.node, p.last_synced?)))
            .collect();
        Ok(Health {
            node: Some(self.node_id()),
            version: env!("CARGO_PKG_VERSION").to_string(),
            disk_free_mb: crate::store::free_bytes(&self.data_dir).map(mb),
            db_mb: Some(mb(db_bytes)),
            uptime_s: Some(uptime_s),
            published_at: Some(text::now()),
            clock_offset_ms: est.offset_ms,
            clock_peers: est.peers as i64,
            clock_wrong: est.wrong(),
            contacts,
            update: self.update_report()?,
        })
    }

    /// Writes this node's health report if it is due (see the module header).
    /// Returns whether a change was written. Nodes that are not active members
    /// write nothing.
    pub fn publish_health(&mut self, uptime_s: i64) -> Result<bool> {
        if self.my_role()?.is_none() {
            return Ok(false);
        }
        let me = self.node_id();
        let id = DocId::health(&me);
        let old: Option<Health> = self
            .store
            .read()
            .doc(&id)?
            .and_then(|r| serde_json::from_str(&r.view).ok());
        let new = self.health_report(uptime_s)?;
        if let Some(old) = &old
            && !due(old, &new)
        {
            return Ok(false);
        }
        self.write_health_report(old.as_ref(), &new)?;
        Ok(true)
    }

    /// Writes `report` as this node's health document now, whatever is due (the
    /// fields that differ from what it holds). For `publish_health` and for tests
    /// that need a report with given values.
    pub fn publish_health_report(&mut self, report: &Health) -> Result<()> {
        let id = DocId::health(&self.node_id());
        let old: Option<Health> = self
            .store
            .read()
            .doc(&id)?
            .and_then(|r| serde_json::from_str(&r.view).ok());
        self.write_health_report(old.as_ref(), report)
    }

    fn write_health_report(&mut self, old: Option<&Health>, new: &Health) -> Result<()> {
        let me = self.node_id();
        let id = DocId::health(&me);
        let now = text::now();
        self.edit(&id, |tx| {
            if old.is_none() {
                put_header(tx, Kind::Health, &me, now)?;
            }
            write_health(tx, old, new)
        })
    }
}

/// Is a new report worth a change in everyone's store?
fn due(old: &Health, new: &Health) -> bool {
    let (Some(then), Some(now)) = (old.published_at, new.published_at) else {
        return true;
    };
    let age = now - then;
    if age < 0 {
        // Our clock went backwards (set right, or a dead battery): report at once.
        return true;
    }
    // What changes only at a contact or an upgrade goes out at once: the office
    // should learn of a wrong clock from the very contact that found it.
    if old.version != new.version
        || old.clock_wrong != new.clock_wrong
        || old.update.as_ref().map(|u| (&u.state, &u.version))
            != new.update.as_ref().map(|u| (&u.state, &u.version))
    {
        return true;
    }
    let low = |h: &Health| h.disk_free_mb.is_some_and(|m| m < DISK_LOW_MB);
    let flags = low(old) != low(new)
        || new.contacts.keys().any(|k| !old.contacts.contains_key(k))
        // The estimate moved by more than the margin of "wrong": worth telling.
        || match (old.clock_offset_ms, new.clock_offset_ms) {
            (Some(a), Some(b)) => a.saturating_sub(b).saturating_abs() > clock::WRONG_AFTER_MS / 2,
            (a, b) => a.is_some() != b.is_some(),
        };
    if flags {
        return age >= MIN_INTERVAL_S;
    }
    if old.contacts != new.contacts {
        return age >= CONTACTS_INTERVAL_S;
    }
    age >= REFRESH_S
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(at: i64) -> Health {
        Health {
            version: "0.1.0".into(),
            disk_free_mb: Some(10_000),
            published_at: Some(at),
            ..Default::default()
        }
    }

    #[test]
    fn reports_are_rate_limited_by_what_changed() {
        let old = report(1_000);
        // Nothing but uptime: only after the refresh period.
        let mut new = report(1_000 + 3600);
        new.uptime_s = Some(3600);
        assert!(!due(&old, &new));
        new.published_at = Some(1_000 + REFRESH_S);
        assert!(due(&old, &new));
        // The clock turned wrong: at once.
        let mut new = report(1_030);
        new.clock_wrong = true;
        new.clock_offset_ms = Some(3 * 365 * 86_400_000);
        assert!(due(&old, &new));
        // Low disk, or a peer met for the first time: after a minute, not before.
        let mut new = report(1_030);
        new.disk_free_mb = Some(DISK_LOW_MB - 1);
        assert!(!due(&old, &new));
        new.published_at = Some(1_000 + MIN_INTERVAL_S);
        assert!(due(&old, &new));
        // Contact times alone: after half an hour.
        let mut old = report(1_000);
        old.contacts.insert(NodeId([7; 32]), 900);
        let mut new = old.clone();
        new.published_at = Some(1_000 + 600);
        new.contacts.insert(NodeId([7; 32]), 1_500);
        assert!(!due(&old, &new));
        new.published_at = Some(1_000 + CONTACTS_INTERVAL_S);
        assert!(due(&old, &new));
        // A clock that went backwards reports at once.
        assert!(due(&old, &report(10)));
    }
}
