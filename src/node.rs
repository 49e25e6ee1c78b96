//! The runtime: one thread owns the store and every sync session (the "core"), the
//! tokio side owns the network. They talk by channels, so the sans-IO sessions run
//! synchronously next to SQLite and the network never waits on disk.
//!
//! The core decides who may talk (roster members only; a freshly joined node also
//! trusts the official who invited it until the roster arrives), keeps one session
//! per peer, fans local news out to every session, and notices writes made by other
//! processes on the same data dir (`PRAGMA data_version`, polled each second).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use crate::config::PeerAddr;
use crate::identity::NodeId;
use crate::net::{Link, Net, NetEvent};
// The node's network settings, re-exported so that its callers (the app) reach the
// network only through the node.
pub use crate::net::NetConfig;
use crate::repo::Repo;
use crate::sync::{Event, Msg, Session, Stats};

/// What the node reports to the UI, the CLI and tests.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeEvent {
    Started {
        node_id: NodeId,
        addrs: Vec<SocketAddr>,
    },
    Connected {
        peer: NodeId,
    },
    Received {
        peer: NodeId,
        docs: usize,
    },
    Synced {
        peer: NodeId,
        report: SyncReport,
    },
    Closed {
        peer: NodeId,
        reason: String,
    },
    Refused {
        peer: NodeId,
        reason: String,
    },
    /// The store changed (any cause): views should refresh.
    Changed,
    /// mDNS found a Cổng Làng node on one of our networks: a member of our commune
    /// (it will be called) or a stranger (it will not). Sent again when its
    /// addresses change.
    Nearby {
        peer: NodeId,
        member: bool,
    },
    /// A node found by mDNS stopped answering (its record expired).
    Gone {
        peer: NodeId,
    },
    /// How a session is going, at most [`PROGRESS_EVERY`] apart per session (and
    /// once more when it reaches sync), so a screen can follow it without
    /// slowing it.
    Progress {
        peer: NodeId,
        progress: Transfer,
    },
    /// A session ended (any cause), with what it moved.
    Ended {
        peer: NodeId,
        report: SyncReport,
        reason: String,
    },
    /// The peer runs an older Cổng Làng (protocol 1) and must be updated; nothing
    /// can be exchanged with it until then.
    Outdated {
        peer: NodeId,
        reason: String,
    },
}

/// A session's progress so far and what is left, as far as this side knows (see
/// `sync::Progress`; the totals are estimates from the peer's `Hello`).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Transfer {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub changes_sent: u64,
    pub changes_received: u64,
    /// Changes still to send / to receive (estimates; 0 once in sync).
    pub to_send: u64,
    pub to_receive: u64,
    /// Urgent notices among them.
    pub urgent_to_send: u64,
    pub urgent_to_receive: u64,
    /// Titles of the urgent notices received in this session.
    pub urgent_received: Vec<String>,
    pub elapsed_ms: u64,
    /// Both sides hold the same set (a live session may move more later).
    pub synced: bool,
}

impl Transfer {
    /// Changes moved so far and the estimated total, both ways.
    pub fn done_and_total(&self) -> (u64, u64) {
        let done = self.changes_sent + self.changes_received;
        (done, done + self.to_send + self.to_receive)
    }
    /// Seconds left at the rate so far (changes per second since the session
    /// started), when something is left and something has moved.
    pub fn seconds_left(&self) -> Option<u64> {
        let (done, total) = self.done_and_total();
        if total == done || done == 0 || self.elapsed_ms == 0 {
            return None;
        }
        let per_s = done as f64 * 1000.0 / self.elapsed_ms as f64;
        Some(((total - done) as f64 / per_s).ceil() as u64)
    }
    /// Bytes both ways so far, and the estimated total at the bytes per change so far.
    pub fn bytes_and_total(&self) -> (u64, u64) {
        let bytes = self.bytes_sent + self.bytes_received;
        let (done, total) = self.done_and_total();
        if done == 0 {
            return (bytes, bytes);
        }
        (bytes, bytes + (total - done) * bytes / done)
    }
}

/// Report of one sync session, as `conglang sync` prints it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncReport {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub round_trips: u64,
    pub docs_sent: u64,
    pub docs_received: u64,
    pub changes_sent: u64,
    pub changes_received: u64,
    pub changes_rejected: u64,
    pub duration_ms: u64,
}

const NOT_MEMBER: &str = "peer is not a member of this commune";
/// Longest wait between two dials of a peer that does not answer or does not sync
/// with us. A courier walking into the hall does not wait for this: mDNS finding it,
/// or a link of ours coming up, makes it due at once.
const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// First wait after a dial; doubles with each dial that does not end in a sync.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Dials in flight at once: a kiosk may know a dozen members, few of them present.
const PARALLEL_DIALS: usize = 8;
/// Addresses kept per peer (where it was last reached first).
const ADDRS_PER_PEER: usize = 6;
/// Least time between two progress events of one session.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How long a peer unknown to our roster has to prove membership.
const PROBATION: Duration = Duration::from_secs(30);
/// Most sessions at once with peers our roster does not know. Such a session only
/// lets a machine enrolled elsewhere prove its membership with roster changes, and a
/// commune enrols one or two machines at a time. Keys cost a stranger nothing, so
/// without a bound a crowd of them would each hold a session, and the core's time,
/// for the whole probation.
pub const MAX_UNKNOWN: usize = 8;
/// Said to an unknown peer turned away because [`MAX_UNKNOWN`] are on probation.
pub const CROWDED: &str = "too many unknown peers at once: try again later";
/// Least time between two log lines about peers turned away for [`MAX_UNKNOWN`].
const CROWD_LOG_EVERY: Duration = Duration::from_secs(60);
/// How often the core looks whether a health report is due.
const HEALTH_CHECK: Duration = Duration::from_secs(60);

type Job = Box<dyn FnOnce(&mut Repo) + Send>;

enum CoreMsg {
    Net(u64, NetEvent),
    Run(Job),
    Shutdown,
}

/// Handle to a running node: run jobs on its store, listen to its events.
#[derive(Clone)]
pub struct NodeHandle {
    core: std_mpsc::Sender<CoreMsg>,
    events: broadcast::Sender<NodeEvent>,
    pub node_id: NodeId,
    connected: Arc<Mutex<HashSet<NodeId>>>,
    /// Pairing new machines without typing (see `pair`).
    pub pair: crate::pair::run::PairHandle,
}

impl NodeHandle {
    /// Runs `f` on the core thread with the store. Never blocks the caller.
    pub fn run(&self, f: impl FnOnce(&mut Repo) + Send + 'static) {
        let _ = self.core.send(CoreMsg::Run(Box::new(f)));
    }
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }
    pub fn connected_peers(&self) -> Vec<NodeId> {
        self.connected
            .lock()
            .map(|c| c.iter().copied().collect())
            .unwrap_or_default()
    }
}

pub struct NodeOptions {
    pub net: NetConfig,
    pub peers: Vec<PeerAddr>,
    /// Re-dial known peers (serve, app) or only the given ones once (sync).
    pub redial: bool,
}

/// A running node: the core thread, the network and the dialer.
pub struct Node {
    pub handle: NodeHandle,
    net: Arc<Net>,
    core: Option<std::thread::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

struct Conn {
    link: Link,
    closer: mpsc::UnboundedSender<()>,
    session: Session,
    started: Instant,
    /// When the last progress event went out, and whether there is news since.
    progress_at: Option<Instant>,
    progress_dirty: bool,
    /// Titles of urgent notices that arrived in this contact, for its log line.
    urgent_in: Vec<String>,
    /// Our wall clock when our `Hello` went out (ms), for the peer's clock offset;
    /// `None` once the offset was recorded.
    hello_at_ms: Option<i64>,
    /// How fast the peer acknowledges our batches: sets the session's window.
    meter: crate::sync::window::AckMeter,
}

impl Conn {
    /// Microseconds since the connection came up (the meter's clock).
    fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }
}

struct Core {
    repo: Repo,
    me: NodeId,
    conns: HashMap<u64, Conn>,
    by_peer: HashMap<NodeId, u64>,
    /// Nodes mDNS reports on our networks now (for `Nearby` / `Gone`).
    nearby: HashSet<NodeId>,
    events: broadcast::Sender<NodeEvent>,
    connected: Arc<Mutex<HashSet<NodeId>>>,
    dialer: mpsc::UnboundedSender<DialerMsg>,
    data_version: i64,
    /// When this node started (uptime, for the health report).
    started: Instant,
    /// When the health report was last considered (see `Core::health`).
    health_checked: Option<Instant>,
    /// Unknown peers turned away for [`MAX_UNKNOWN`] since the last log line about
    /// them, and when that line was written (a crowd must not flood the log).
    crowd: (u64, Option<Instant>),
}

impl Conn {
    fn report(&self) -> SyncReport {
        use std::sync::atomic::Ordering::Relaxed;
        let s: &Stats = self.session.stats();
        SyncReport {
            bytes_sent: self.link.counters.sent.load(Relaxed),
            bytes_received: self.link.counters.received.load(Relaxed),
            round_trips: s.round_trips,
            docs_sent: s.docs_sent,
            docs_received: s.docs_received,
            changes_sent: s.changes_sent,
            changes_received: s.changes_received,
            changes_rejected: s.changes_rejected,
            duration_ms: self.started.elapsed().as_millis() as u64,
        }
    }

    fn transfer(&self) -> Transfer {
        let r = self.report();
        let p = self.session.progress();
        let synced = self.session.is_synced() && self.session.is_idle();
        let urgent_in = self.urgent_in.len() as u64;
        Transfer {
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            changes_sent: r.changes_sent,
            changes_received: r.changes_received,
            to_send: if synced {
                0
            } else {
                p.queued.max(p.ahead.saturating_sub(r.changes_sent))
            },
            to_receive: if synced {
                0
            } else {
                p.behind.saturating_sub(r.changes_received)
            },
            urgent_to_send: if synced { 0 } else { p.urgent_queued },
            urgent_to_receive: if synced {
                0
            } else {
                p.urgent_behind.saturating_sub(urgent_in)
            },
            urgent_received: self.urgent_in.clone(),
            elapsed_ms: r.duration_ms,
            synced,
        }
    }
}

impl Core {
    /// `Ok(true)`: a member; `Ok(false)`: unknown to our roster, may prove
    /// membership with roster changes (restricted session); `Err`: refuse.
    fn admission(&self, peer: &NodeId) -> Result<bool, String> {
        match self.authorized(peer) {
            Ok(()) => Ok(true),
            Err(e) if e == NOT_MEMBER => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn authorized(&self, peer: &NodeId) -> Result<(), String> {
        let commune = self.repo.commune_id().ok().flatten();
        let Some(commune) = commune else {
            return Err("this node has not joined a commune".into());
        };
        let roster = self.repo.roster().map_err(|e| e.to_string())?;
        if let Some(m) = roster.member(peer) {
            return if m.revoked.is_some() {
                Err("peer was revoked".into())
            } else {
                Ok(())
            };
        }
        if roster.members.is_empty() {
            // Joined but no roster yet: trust the founder and whoever invited us.
            let invited_by = self
                .repo
                .store()
                .read()
                .meta("invited_by")
                .ok()
                .flatten()
                .and_then(|s| s.parse::<NodeId>().ok());
            if *peer == commune || Some(*peer) == invited_by {
                return Ok(());
            }
        }
        Err(NOT_MEMBER.into())
    }

    /// Persists `addr` as where `peer` was last reached, ahead of older addresses.
    fn remember_addr(&mut self, peer: &NodeId, addr: SocketAddr) {
        let old = self
            .repo
            .store()
            .read()
            .peer(peer)
            .ok()
            .flatten()
            .map(|p| p.addrs)
            .unwrap_or_default();
        let list = merge_addrs(&[addr], &parse_addrs(&old));
        let joined: Vec<String> = list.iter().map(|a| a.to_string()).collect();
        if let Err(e) = self.repo.note_peer_addrs(peer, &joined.join(",")) {
            tracing::warn!("cannot remember the address of {}: {e:#}", peer.short());
        }
    }

    fn emit(&self, e: NodeEvent) {
        let _ = self.events.send(e);
    }

    fn on_connected(&mut self, id: u64, link: Link, closer: mpsc::UnboundedSender<()>) {
        let peer = link.peer;
        let member = match self.admission(&peer) {
            Ok(m) => m,
            Err(reason) => {
                tracing::warn!(peer = %peer, "refused connection: {reason}");
                let _ = link.send(Msg::Bye {
                    reason: reason.clone(),
                });
                let _ = closer.send(());
                self.emit(NodeEvent::Refused { peer, reason });
                return;
            }
        };
        // Our own dials are bounded by the dialer and were asked for (`--peer`).
        if !member && !link.dialed && !self.by_peer.contains_key(&peer) {
            let unknown = self
                .conns
                .values()
                .filter(|c| c.session.is_restricted())
                .count();
            if unknown >= MAX_UNKNOWN {
                self.turn_away_crowd(&peer, unknown);
                let _ = link.send(Msg::Bye {
                    reason: CROWDED.into(),
                });
                let _ = closer.send(());
                return;
            }
        }
        // One session per peer: keep the connection dialed by the smaller node id,
        // a rule both ends apply the same way.
        if let Some(old) = self.by_peer.get(&peer).copied() {
            let dialer = |l: &Link| if l.dialed { self.me } else { l.peer };
            let preferred = self.me.min(peer);
            let old_pref = self
                .conns
                .get(&old)
                .map(|c| dialer(&c.link) == preferred)
                .unwrap_or(false);
            if old_pref || dialer(&link) != preferred {
                let _ = closer.send(());
                return;
            }
            if let Some(c) = self.conns.remove(&old) {
                let _ = c.closer.send(());
            }
        }
        let commune = self
            .repo
            .commune_id()
            .ok()
            .flatten()
            .expect("authorized implies commune");
        // A fresh nonce per session keys every fingerprint the session sends.
        let mut session = Session::new(self.me, peer, commune, rand::random());
        // A fresh health report goes out with the contact (if one is due), and our
        // wall clock goes in the `Hello` so each side learns the other's offset.
        self.health();
        let hello_at_ms = crate::clock::now_ms();
        // The corrected clock goes out, not the raw one: a courier whose battery
        // died but who met the office since tells kiosks the commune's time.
        let correction = self.repo.clock_estimate().map_or(0, |e| e.correction_ms());
        session.set_wall_clock(hello_at_ms.saturating_add(correction));
        if !member {
            tracing::info!(peer = %peer.short(), "unknown peer: roster exchange only until it proves membership");
            session.restrict();
        }
        if let Err(e) = session.start(&mut self.repo) {
            tracing::warn!(peer = %peer.short(), "cannot start a session, closing: {e}");
            let _ = closer.send(());
            return;
        }
        tracing::debug!(peer = %peer.short(), dialed = link.dialed, "connected");
        self.by_peer.insert(peer, id);
        if let Ok(mut c) = self.connected.lock() {
            c.insert(peer);
        }
        self.conns.insert(
            id,
            Conn {
                link,
                closer,
                session,
                started: Instant::now(),
                progress_at: None,
                progress_dirty: true,
                urgent_in: Vec::new(),
                hello_at_ms: Some(hello_at_ms),
                meter: crate::sync::window::AckMeter::new(),
            },
        );
        self.flush(id);
        self.emit(NodeEvent::Connected { peer });
    }

    /// Logs peers turned away for [`MAX_UNKNOWN`]: the first at once, then a count
    /// at most once a minute.
    fn turn_away_crowd(&mut self, peer: &NodeId, unknown: usize) {
        self.crowd.0 += 1;
        if self.crowd.1.is_none_or(|t| t.elapsed() >= CROWD_LOG_EVERY) {
            tracing::warn!(
                peer = %peer.short(),
                "turned away {} unknown peer(s): {unknown} already on probation ({CROWDED})",
                self.crowd.0
            );
            self.crowd = (0, Some(Instant::now()));
        }
    }

    fn on_message(&mut self, id: u64, msg: Msg) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let peer = conn.link.peer;
        if msg == Msg::Ack {
            // The window follows the rate at which the peer commits our batches.
            let now = conn.now_us();
            conn.session.set_window(conn.meter.acked(now));
        }
        if let Err(e) = conn.session.handle_message(msg, &mut self.repo) {
            let reason = e.to_string();
            tracing::warn!(peer = %peer.short(), "sync with peer ended: {reason}");
            let _ = conn.link.send(Msg::Bye {
                reason: reason.clone(),
            });
            // An older release on the same ALPN: say so where people look — for
            // members only, or any stranger could fill the screen with update cards.
            if let crate::sync::SyncError::Version(v) = e
                && v < crate::sync::wire::VERSION
                && !conn.session.is_restricted()
            {
                tracing::error!(peer = %peer.short(), "peer runs an older Cổng Làng (sync version {v}): the peer needs updating");
                self.emit(NodeEvent::Outdated {
                    peer,
                    reason: format!(
                        "peer uses an older sync protocol (version {v}): it needs updating"
                    ),
                });
            }
            self.emit(NodeEvent::Refused {
                peer,
                reason: reason.clone(),
            });
            self.drop_conn(id, &reason);
            return;
        }
        self.note_clock(id);
        self.flush(id);
    }

    /// Records the peer's clock offset once its `Hello` has arrived: peer clock −
    /// ours, ours taken halfway between our `Hello` going out and theirs coming in
    /// (both sides send theirs at once, so the error is at most half that time).
    fn note_clock(&mut self, id: u64) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let (Some(sent), Some(theirs)) = (conn.hello_at_ms, conn.session.peer_wall_clock()) else {
            return;
        };
        conn.hello_at_ms = None;
        // A stranger's clock is not evidence about ours (and must not fill the table).
        if conn.session.is_restricted() {
            return;
        }
        let peer = conn.link.peer;
        let now = crate::clock::now_ms();
        // `theirs` is bounded by the session (0..2^45); saturate all the same.
        let offset = theirs.saturating_sub(sent.saturating_add(now.saturating_sub(sent) / 2));
        tracing::debug!(peer = %peer.short(), offset_ms = offset, "peer clock");
        let before = self
            .repo
            .clock_estimate()
            .map(|e| e.wrong())
            .unwrap_or(false);
        if let Err(e) = self.repo.note_peer_clock(&peer, offset) {
            tracing::warn!("cannot record a peer's clock: {e:#}");
            return;
        }
        let after = self.repo.clock_estimate().ok();
        if let Some(est) = after
            && est.wrong() != before
        {
            if est.wrong() {
                tracing::warn!(
                    offset_s = est.offset_ms.unwrap_or(0) / 1000,
                    peers = est.peers,
                    "this machine's clock is far from its peers' clocks: set it right"
                );
            }
            // The screens say so, and the health report tells the office.
            self.emit(NodeEvent::Changed);
            self.health_checked = None;
        }
    }

    /// Publishes this node's health report if one is due (`Repo::publish_health`
    /// decides; the core looks once a minute, at every new contact and when the
    /// clock verdict changes) and pushes it to connected peers.
    fn health(&mut self) {
        self.health_checked = Some(Instant::now());
        match self
            .repo
            .publish_health(self.started.elapsed().as_secs() as i64)
        {
            Ok(true) => {
                tracing::debug!("health report published");
                self.emit(NodeEvent::Changed);
                self.news(None);
            }
            Ok(false) => {}
            Err(e) => tracing::warn!("cannot publish the health report: {e:#}"),
        }
    }

    /// Sends what the session queued and handles its events.
    fn flush(&mut self, id: u64) {
        let mut others_need_news = false;
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        while let Some(m) = conn.session.poll_transmit() {
            let now = conn.now_us();
            conn.meter.sent(&m, now);
            if !conn.link.send(m) {
                // The peer does not read what we send: do not queue without end.
                let reason = "peer not reading".to_string();
                tracing::warn!(peer = %conn.link.peer.short(), "sync with peer ended: {reason}");
                let peer = conn.link.peer;
                self.emit(NodeEvent::Refused {
                    peer,
                    reason: reason.clone(),
                });
                self.drop_conn(id, &reason);
                return;
            }
        }
        let peer = conn.link.peer;
        let mut out = Vec::new();
        conn.progress_dirty = true;
        let mut synced_now = false;
        while let Some(ev) = conn.session.poll_event() {
            match ev {
                Event::Synced => {
                    synced_now = true;
                    let report = conn.report();
                    tracing::debug!(peer = %peer.short(), ?report, "in sync");
                    // "Last synced" for the courier screen; protocol 2 keeps no cursor.
                    if let Err(e) = self.repo.note_synced(&peer, 0) {
                        tracing::warn!("cannot record the sync time: {e:#}");
                    }
                    out.push(NodeEvent::Synced { peer, report });
                }
                Event::Received { docs } => {
                    others_need_news = true;
                    tracing::debug!(peer = %peer.short(), docs = docs.len(), "received");
                    for d in &docs {
                        if let Ok(Some(n)) = self.repo.notice(d)
                            && n.urgent
                            && !conn.urgent_in.contains(&n.title)
                        {
                            conn.urgent_in.push(n.title);
                        }
                    }
                    out.push(NodeEvent::Received {
                        peer,
                        docs: docs.len(),
                    });
                    out.push(NodeEvent::Changed);
                }
            }
        }
        // Progress for screens: throttled, except the last word of a sync.
        if synced_now
            || conn
                .progress_at
                .is_none_or(|t| t.elapsed() >= PROGRESS_EVERY)
        {
            out.push(NodeEvent::Progress {
                peer,
                progress: conn.transfer(),
            });
            conn.progress_at = Some(Instant::now());
            conn.progress_dirty = false;
        }
        for e in out {
            self.emit(e);
        }
        if others_need_news {
            // A revocation may have arrived: sessions follow the roster at once.
            self.enforce_roster();
            // `data_version` is left alone: a write by another process may have
            // landed in between, and the next tick must still see it.
            self.news(Some(id));
        }
    }

    /// Ends every session whose peer the roster no longer admits (revoked, or its
    /// enrolment voided): it receives nothing more. Runs whenever the store changes.
    fn enforce_roster(&mut self) {
        let gone: Vec<(u64, NodeId, String)> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.session.is_restricted())
            .filter_map(|(id, c)| match self.authorized(&c.link.peer) {
                Ok(()) => None,
                Err(e) => Some((*id, c.link.peer, e)),
            })
            .collect();
        for (id, peer, reason) in gone {
            tracing::warn!(peer = %peer.short(), "disconnecting: {reason}");
            if let Some(c) = self.conns.get(&id) {
                let _ = c.link.send(Msg::Bye {
                    reason: reason.clone(),
                });
            }
            self.drop_conn(id, &reason);
            self.emit(NodeEvent::Refused { peer, reason });
        }
    }

    /// Tells every session (but `except`) that the store has something new.
    fn news(&mut self, except: Option<u64>) {
        let ids: Vec<u64> = self
            .conns
            .keys()
            .copied()
            .filter(|i| Some(*i) != except)
            .collect();
        for id in ids {
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            if let Err(e) = conn.session.handle_local_change(&mut self.repo) {
                tracing::warn!("sync error: {e}");
                self.drop_conn(id, &e.to_string());
                continue;
            }
            self.flush(id);
        }
    }

    /// One log line per contact, for journald and files: who, bytes each way, how
    /// long, what was urgent, why it ended.
    fn log_contact(&self, c: &Conn, reason: &str) {
        use std::sync::atomic::Ordering::Relaxed;
        let peer = c.link.peer;
        let name = self
            .repo
            .roster()
            .ok()
            .and_then(|r| r.member(&peer).map(|m| m.name.clone()))
            .unwrap_or_else(|| "(not in roster)".into());
        let s = c.session.stats();
        let urgent = if c.urgent_in.is_empty() {
            "none".to_string()
        } else {
            c.urgent_in.join(" | ")
        };
        tracing::info!(
            "contact with {name} ({}): sent {} B, received {} B, {:.1} s, docs sent {} received {}, urgent received: {urgent}; ended: {reason}",
            peer.short(),
            c.link.counters.sent.load(Relaxed),
            c.link.counters.received.load(Relaxed),
            c.started.elapsed().as_secs_f64(),
            s.docs_sent,
            s.docs_received,
        );
    }

    fn drop_conn(&mut self, id: u64, reason: &str) {
        if let Some(c) = self.conns.remove(&id) {
            self.log_contact(&c, reason);
            let report = c.report();
            // Recorded before `Ended` goes out: a screen view built after it has it.
            // Members only: a stranger's refused connections are no part of a trip.
            let member = self
                .repo
                .roster()
                .is_ok_and(|r| r.member(&c.link.peer).is_some());
            if member
                && let Err(e) = self.repo.note_trip_contact(
                    &c.link.peer,
                    report.changes_sent,
                    report.changes_received,
                    &c.urgent_in,
                    crate::model::text::now(),
                )
            {
                tracing::warn!("cannot record the contact in the trip tally: {e:#}");
            }
            self.emit(NodeEvent::Ended {
                peer: c.link.peer,
                report,
                reason: reason.to_string(),
            });
            let _ = c.closer.send(());
            if self.by_peer.get(&c.link.peer) == Some(&id) {
                self.by_peer.remove(&c.link.peer);
                if let Ok(mut s) = self.connected.lock() {
                    s.remove(&c.link.peer);
                }
            }
        }
    }

    /// Progress that the throttle held back, now that the session went quiet.
    fn late_progress(&mut self) {
        let mut late = Vec::new();
        for c in self.conns.values_mut() {
            if c.progress_dirty && c.progress_at.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
                c.progress_dirty = false;
                c.progress_at = Some(Instant::now());
                late.push(NodeEvent::Progress {
                    peer: c.link.peer,
                    progress: c.transfer(),
                });
            }
        }
        for e in late {
            self.emit(e);
        }
    }

    fn tick(&mut self) {
        if self
            .health_checked
            .is_none_or(|t| t.elapsed() >= HEALTH_CHECK)
        {
            self.health();
        }
        // Peers that could not prove membership in time are refused.
        let expired: Vec<(u64, NodeId)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.session.is_restricted() && c.started.elapsed() > PROBATION)
            .map(|(id, c)| (*id, c.link.peer))
            .collect();
        for (id, peer) in expired {
            tracing::warn!(peer = %peer, "refused: {NOT_MEMBER}");
            if let Some(c) = self.conns.get(&id) {
                let _ = c.link.send(Msg::Bye {
                    reason: NOT_MEMBER.into(),
                });
            }
            self.drop_conn(id, NOT_MEMBER);
            self.emit(NodeEvent::Refused {
                peer,
                reason: NOT_MEMBER.into(),
            });
        }
        // Another process (the CLI, the app) wrote to the store: serve it.
        if let Ok(v) = self.repo.data_version()
            && v != self.data_version
        {
            self.data_version = v;
            self.emit(NodeEvent::Changed);
            self.enforce_roster();
            self.news(None);
        }
        self.late_progress();
    }

    fn handle(&mut self, msg: CoreMsg) -> bool {
        match msg {
            CoreMsg::Net(id, NetEvent::Connected(link, closer)) => {
                self.on_connected(id, link, closer)
            }
            CoreMsg::Net(_, NetEvent::Message(_, id, m, _permit)) => self.on_message(id, m),
            CoreMsg::Net(_, NetEvent::Closed(peer, id, reason)) => {
                if self.conns.contains_key(&id) {
                    self.drop_conn(id, &reason);
                    self.emit(NodeEvent::Closed { peer, reason });
                }
            }
            CoreMsg::Net(_, NetEvent::Outdated(peer, reason)) => {
                // Only a member's old version is news: a stranger may speak any
                // protocol it likes, and gets no card on the exchange screen.
                if self.authorized(&peer).is_err() {
                    tracing::info!(peer = %peer.short(), "a peer not in the roster speaks an older protocol: ignored");
                    return true;
                }
                self.emit(NodeEvent::Outdated {
                    peer,
                    reason: reason.clone(),
                });
                self.emit(NodeEvent::Refused { peer, reason });
            }
            CoreMsg::Net(_, NetEvent::Discovered(peer, addrs)) => {
                if peer != self.me {
                    self.nearby.insert(peer);
                    let member = self.authorized(&peer).is_ok();
                    self.emit(NodeEvent::Nearby { peer, member });
                    if member {
                        tracing::info!(peer = %peer.short(), ?addrs, "member found on the LAN");
                        let _ = self.dialer.send(DialerMsg::Discovered(peer, addrs));
                    }
                }
            }
            CoreMsg::Net(_, NetEvent::Gone(peer)) => {
                if self.nearby.remove(&peer) {
                    self.emit(NodeEvent::Gone { peer });
                }
            }
            CoreMsg::Net(_, NetEvent::Reached(peer, id, addr)) => {
                // Only admitted peers: their address is remembered for the next dial.
                if self.conns.contains_key(&id) {
                    self.remember_addr(&peer, addr);
                    let _ = self.dialer.send(DialerMsg::Reached(peer, addr));
                }
            }
            CoreMsg::Net(_, NetEvent::NetworkChanged(addrs)) => {
                tracing::info!(?addrs, "our network changed: trying peers again");
                // mDNS starts over on the new set of networks and reports afresh
                // whoever is still there: the courier has left the last hall.
                for peer in std::mem::take(&mut self.nearby) {
                    self.emit(NodeEvent::Gone { peer });
                }
                let _ = self.dialer.send(DialerMsg::NetworkChanged);
            }
            CoreMsg::Run(job) => {
                job(&mut self.repo);
                self.emit(NodeEvent::Changed);
                self.enforce_roster();
                self.news(None);
            }
            CoreMsg::Shutdown => {
                let ids: Vec<u64> = self.conns.keys().copied().collect();
                for id in ids {
                    if let Some(c) = self.conns.get(&id) {
                        let _ = c.link.send(Msg::Bye {
                            reason: "shutting down".into(),
                        });
                    }
                    self.drop_conn(id, "shutting down");
                }
                return false;
            }
        }
        true
    }
}

impl Node {
    /// Starts a node on `data_dir`. Must be called inside a tokio runtime.
    pub async fn start(data_dir: PathBuf, opts: NodeOptions) -> Result<Node> {
        let mut repo = Repo::open(&data_dir)?;
        // Bring the sync index up to date now (changes imported while no session was
        // open — a USB bundle, a bulk load — are keyed lazily), so the first contact
        // does not spend its first seconds keying thousands of changes before its
        // `Hello` (W4b: a 20,000-document store took longer than the urgent notice's
        // 2 s budget on the shared 2-core machine).
        repo.change_set()?;
        let identity = repo.identity().clone();
        let me = repo.node_id();
        let (net_tx, mut net_rx) = mpsc::unbounded_channel();
        let net = Arc::new(Net::bind(&identity, &opts.net, net_tx).await?);
        let (events, _) = broadcast::channel(4096);
        let (core_tx, core_rx) = std_mpsc::channel::<CoreMsg>();
        let connected = Arc::new(Mutex::new(HashSet::new()));
        let (dial_tx, dial_rx) = mpsc::unbounded_channel();
        let mut core = Core {
            data_version: repo.data_version().unwrap_or(0),
            repo,
            me,
            conns: HashMap::new(),
            by_peer: HashMap::new(),
            nearby: HashSet::new(),
            events: events.clone(),
            connected: connected.clone(),
            dialer: dial_tx,
            started: Instant::now(),
            health_checked: None,
            crowd: (0, None),
        };
        let core_thread = std::thread::Builder::new()
            .name("conglang-core".into())
            .spawn(move || {
                // Ticks are due every 500 ms even while messages keep coming.
                let mut last_tick = Instant::now();
                loop {
                    match core_rx.recv_timeout(Duration::from_millis(500)) {
                        Ok(m) => {
                            if !core.handle(m) {
                                break;
                            }
                        }
                        Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                    if last_tick.elapsed() >= Duration::from_millis(500) {
                        last_tick = Instant::now();
                        core.tick();
                    }
                }
            })
            .context("cannot start the core thread")?;
        let mut tasks = Vec::new();
        // Pairing runs its store work as jobs on the core thread, like the UI.
        let pair_core = core_tx.clone();
        let (pair, pair_task) = crate::pair::run::spawn(
            net.clone(),
            me,
            Arc::new(move |job| {
                let _ = pair_core.send(CoreMsg::Run(job));
            }),
            crate::pair::run::host_label(),
        );
        tasks.push(pair_task);
        let handle = NodeHandle {
            core: core_tx.clone(),
            events: events.clone(),
            node_id: me,
            connected: connected.clone(),
            pair,
        };
        // Network events → core.
        let c2 = core_tx.clone();
        tasks.push(tokio::spawn(async move {
            while let Some((id, ev)) = net_rx.recv().await {
                if c2.send(CoreMsg::Net(id, ev)).is_err() {
                    break;
                }
            }
        }));
        // Dialer: static peers, peers remembered in the store, peers found by mDNS.
        let static_peers: Vec<(NodeId, Vec<SocketAddr>)> =
            opts.peers.iter().map(|p| (p.node, vec![p.addr])).collect();
        let stored: Vec<(NodeId, Vec<SocketAddr>)> = if opts.redial {
            Repo::open(&data_dir)?
                .peers()?
                .into_iter()
                .filter(|p| !p.addrs.is_empty())
                .map(|p| (p.node, parse_addrs(&p.addrs)))
                .collect()
        } else {
            Vec::new()
        };
        let mut dialer = Dialer::new(me, opts.redial);
        // Stored addresses (where each member was last reached) go ahead of
        // configured ones.
        for (n, a) in stored.into_iter().chain(static_peers) {
            dialer.add(n, &a, true);
        }
        tasks.push(tokio::spawn(dialer.run(
            net.clone(),
            dial_rx,
            events.subscribe(),
            connected.clone(),
        )));
        let _ = events.send(NodeEvent::Started {
            node_id: me,
            addrs: net.local_addrs(),
        });
        Ok(Node {
            handle,
            net,
            core: Some(core_thread),
            tasks,
        })
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.net.local_addrs()
    }

    /// Says goodbye to peers, stops the network and the core thread.
    pub async fn shutdown(mut self) {
        let _ = self.handle.core.send(CoreMsg::Shutdown);
        tokio::time::sleep(Duration::from_millis(100)).await;
        for t in &self.tasks {
            t.abort();
        }
        self.net.shutdown().await;
        if let Some(c) = self.core.take() {
            let _ = tokio::task::spawn_blocking(move || c.join()).await;
        }
    }
}

/// A node running on its own thread with its own tokio runtime, for the app: the UI
/// thread gets a handle and never awaits anything.
pub struct BackgroundNode {
    pub handle: NodeHandle,
    /// Sockets the node listens on.
    pub addrs: Vec<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundNode {
    /// Starts the runtime and the node; returns once the node is up (or failed).
    pub fn start(data_dir: PathBuf, opts: NodeOptions) -> Result<BackgroundNode> {
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(NodeHandle, Vec<SocketAddr>)>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("conglang-net".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                rt.block_on(async move {
                    match Node::start(data_dir, opts).await {
                        Ok(node) => {
                            let _ = ready_tx.send(Ok((node.handle.clone(), node.local_addrs())));
                            let _ = stop_rx.await;
                            node.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .context("cannot start the network thread")?;
        let (handle, addrs) = ready_rx
            .recv()
            .context("the network thread ended before starting")??;
        Ok(BackgroundNode {
            handle,
            addrs,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for BackgroundNode {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn parse_addrs(s: &str) -> Vec<SocketAddr> {
    s.split(',').filter_map(|a| a.trim().parse().ok()).collect()
}

/// `first` then `rest`, without repeats, at most [`ADDRS_PER_PEER`].
fn merge_addrs(first: &[SocketAddr], rest: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in first.iter().chain(rest) {
        if !out.contains(a) && out.len() < ADDRS_PER_PEER {
            out.push(*a);
        }
    }
    out
}

/// What the dialer hears from the core.
enum DialerMsg {
    /// A roster member answered mDNS at these addresses.
    Discovered(NodeId, Vec<SocketAddr>),
    /// A connection to this member uses this address.
    Reached(NodeId, SocketAddr),
    /// One of our links came up, went down or changed address.
    NetworkChanged,
}

/// A peer the dialer may call.
struct Candidate {
    /// Where to call, most promising first (last reached, then freshly discovered).
    addrs: Vec<SocketAddr>,
    /// Configured, or reached before: called before peers only seen on the LAN.
    known: bool,
    /// Dials since the last completed sync. Not reset by a connection that is then
    /// refused or dropped, so a peer that accepts and refuses us is called less and
    /// less often instead of every second.
    failures: u32,
    next: Instant,
    dialing: bool,
    dialed_once: bool,
}

/// Calls peers: every due candidate at once (up to [`PARALLEL_DIALS`]), each call
/// trying all of the peer's addresses together with a short timeout; per-peer
/// exponential back-off with jitter; wakes only when something is due or news
/// arrives (no polling loop).
struct Dialer {
    me: NodeId,
    redial: bool,
    peers: HashMap<NodeId, Candidate>,
}

/// Back-off after `failures` dials without a sync: 1, 2, 4 … 20 s, ±25 % so that
/// two nodes that lost each other do not call in lockstep.
fn backoff(failures: u32) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1u32 << failures.saturating_sub(1).min(10))
        .min(MAX_BACKOFF);
    base.mul_f64(rand::random_range(0.75..1.25))
}

impl Dialer {
    fn new(me: NodeId, redial: bool) -> Dialer {
        Dialer {
            me,
            redial,
            peers: HashMap::new(),
        }
    }

    /// Adds addresses for `peer` (after the ones it already has). New addresses
    /// make the peer due now: it may have just arrived.
    fn add(&mut self, peer: NodeId, addrs: &[SocketAddr], known: bool) {
        if peer == self.me || addrs.is_empty() {
            return;
        }
        let now = Instant::now();
        let c = self.peers.entry(peer).or_insert_with(|| Candidate {
            addrs: Vec::new(),
            known,
            failures: 0,
            next: now,
            dialing: false,
            dialed_once: false,
        });
        c.known |= known;
        if addrs.iter().any(|a| !c.addrs.contains(a)) {
            c.next = c.next.min(now);
        }
        c.addrs = merge_addrs(&c.addrs, addrs);
    }

    /// Freshly discovered addresses go right after where the peer was last reached.
    fn discovered(&mut self, peer: NodeId, addrs: &[SocketAddr]) {
        let had = self.peers.get(&peer).map(|c| c.addrs.clone());
        self.add(peer, addrs, false);
        if let (Some(had), Some(c)) = (had, self.peers.get_mut(&peer)) {
            let first: Vec<SocketAddr> = had.first().copied().into_iter().collect();
            c.addrs = merge_addrs(&merge_addrs(&first, addrs), &had);
        }
    }

    fn reached(&mut self, peer: NodeId, addr: SocketAddr) {
        self.add(peer, &[addr], true);
        if let Some(c) = self.peers.get_mut(&peer) {
            c.addrs = merge_addrs(&[addr], &c.addrs);
        }
    }

    /// Peers to call now, known members first.
    fn due(&mut self, up: &HashSet<NodeId>, in_flight: usize) -> Vec<(NodeId, Vec<SocketAddr>)> {
        let now = Instant::now();
        let mut due: Vec<(&NodeId, &Candidate)> = self
            .peers
            .iter()
            .filter(|(p, c)| {
                !up.contains(p) && !c.dialing && c.next <= now && (self.redial || !c.dialed_once)
            })
            .collect();
        due.sort_by_key(|(_, c)| (!c.known, c.next));
        let picked: Vec<(NodeId, Vec<SocketAddr>)> = due
            .into_iter()
            .take(PARALLEL_DIALS.saturating_sub(in_flight))
            .map(|(p, c)| (*p, c.addrs.clone()))
            .collect();
        for (p, _) in &picked {
            if let Some(c) = self.peers.get_mut(p) {
                c.dialing = true;
                c.dialed_once = true;
                c.failures += 1;
            }
        }
        picked
    }

    /// A dial ended. The peer is called again after its back-off whatever the outcome
    /// (only a sync resets it). A one-shot dialer (`conglang sync`) keeps calling a
    /// peer that did not answer — a lossy link may eat a handshake — but never calls
    /// again one that did.
    fn finished(&mut self, peer: NodeId, connected: bool) {
        if let Some(c) = self.peers.get_mut(&peer) {
            c.dialing = false;
            c.next = Instant::now() + backoff(c.failures);
            if !connected && !self.redial {
                c.dialed_once = false;
            }
        }
    }

    /// When the next call falls due (a long nap if none). Connected peers are looked
    /// at again every few seconds: the event saying their connection ended may come
    /// before the connected set is updated.
    fn next_wake(&self, up: &HashSet<NodeId>) -> Instant {
        let now = Instant::now();
        self.peers
            .iter()
            .filter(|(_, c)| !c.dialing && (self.redial || !c.dialed_once))
            .map(|(p, c)| {
                if up.contains(p) {
                    c.next.max(now + Duration::from_secs(5))
                } else {
                    c.next
                }
            })
            .min()
            .unwrap_or_else(|| now + Duration::from_secs(60))
    }

    async fn run(
        mut self,
        net: Arc<Net>,
        mut rx: mpsc::UnboundedReceiver<DialerMsg>,
        mut events: broadcast::Receiver<NodeEvent>,
        connected: Arc<Mutex<HashSet<NodeId>>>,
    ) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(NodeId, Result<()>)>();
        let mut in_flight = 0usize;
        loop {
            let up: HashSet<NodeId> = connected.lock().map(|c| c.clone()).unwrap_or_default();
            for (peer, addrs) in self.due(&up, in_flight) {
                in_flight += 1;
                let net = net.clone();
                let done = done_tx.clone();
                tokio::spawn(async move {
                    let r = net.dial(peer, &addrs).await;
                    let _ = done.send((peer, r));
                });
            }
            let wake = self.next_wake(&up);
            tokio::select! {
                m = rx.recv() => match m {
                    Some(DialerMsg::Discovered(p, a)) => self.discovered(p, &a),
                    Some(DialerMsg::Reached(p, a)) => self.reached(p, a),
                    Some(DialerMsg::NetworkChanged) => {
                        let now = Instant::now();
                        for c in self.peers.values_mut() {
                            c.next = c.next.min(now);
                        }
                    }
                    None => break,
                },
                Some((peer, r)) = done_rx.recv() => {
                    in_flight = in_flight.saturating_sub(1);
                    if let Err(e) = &r {
                        tracing::debug!("dial {} failed: {e:#}", peer.short());
                    }
                    self.finished(peer, r.is_ok());
                }
                e = events.recv() => match e {
                    Ok(NodeEvent::Synced { peer, .. }) => {
                        // Only a completed sync proves the peer wants us: back-off
                        // starts over.
                        if let Some(c) = self.peers.get_mut(&peer) {
                            c.failures = 0;
                            c.next = Instant::now() + backoff(1);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                    _ => {}
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> NodeId {
        NodeId([b; 32])
    }
    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], p))
    }

    #[test]
    fn back_off_grows_with_jitter_and_is_capped() {
        for f in 1..=12u32 {
            let expected = FIRST_BACKOFF
                .saturating_mul(1 << (f - 1).min(10))
                .min(MAX_BACKOFF);
            let b = backoff(f);
            assert!(
                b >= expected.mul_f64(0.75) && b <= expected.mul_f64(1.25),
                "{f}: {b:?}"
            );
        }
        // Jitter: two nodes that lost each other do not call in lockstep.
        let draws: HashSet<u128> = (0..20).map(|_| backoff(3).as_micros()).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn known_members_are_called_before_peers_only_seen_on_the_lan() {
        let mut d = Dialer::new(id(0), true);
        for i in 1..=PARALLEL_DIALS as u8 {
            d.discovered(id(i), &[addr(i as u16)]);
        }
        d.add(id(100), &[addr(100)], true);
        let picked = d.due(&HashSet::new(), 1);
        assert_eq!(picked.len(), PARALLEL_DIALS - 1, "in-flight dials count");
        assert_eq!(picked[0].0, id(100), "the known member goes first");
        // Ourselves and peers already connected are never called.
        d.add(id(0), &[addr(1)], true);
        assert!(!d.peers.contains_key(&id(0)));
        let up: HashSet<NodeId> = [id(1)].into();
        let mut d = Dialer::new(id(0), true);
        d.add(id(1), &[addr(1)], true);
        assert!(d.due(&up, 0).is_empty());
    }

    #[test]
    fn where_a_peer_was_reached_is_tried_first_and_new_addresses_make_it_due() {
        let mut d = Dialer::new(id(0), true);
        d.add(id(1), &[addr(1), addr(2)], true);
        d.reached(id(1), addr(2));
        assert_eq!(d.peers[&id(1)].addrs, vec![addr(2), addr(1)]);
        // A dial that did not end in a sync leaves the peer backed off…
        let _ = d.due(&HashSet::new(), 0);
        let c = d.peers.get_mut(&id(1)).unwrap();
        c.dialing = false;
        c.next = Instant::now() + Duration::from_secs(60);
        assert!(d.due(&HashSet::new(), 0).is_empty());
        // …the same addresses again change nothing…
        d.discovered(id(1), &[addr(1)]);
        assert!(d.due(&HashSet::new(), 0).is_empty());
        // …but a new one (it walked into another hall) makes it due at once, after
        // the address it was last reached at, and the back-off count is kept.
        d.discovered(id(1), &[addr(3)]);
        assert_eq!(d.peers[&id(1)].addrs, vec![addr(2), addr(3), addr(1)]);
        let picked = d.due(&HashSet::new(), 0);
        assert_eq!(picked.len(), 1);
        assert_eq!(d.peers[&id(1)].failures, 2);
    }

    #[test]
    fn a_one_shot_dialer_calls_until_answered_then_never_again() {
        let mut d = Dialer::new(id(0), false);
        d.add(id(1), &[addr(1)], true);
        let due_now = |d: &mut Dialer| {
            d.peers.get_mut(&id(1)).unwrap().next = Instant::now();
            d.due(&HashSet::new(), 0).len()
        };
        assert_eq!(d.due(&HashSet::new(), 0).len(), 1);
        d.finished(id(1), false);
        assert_eq!(due_now(&mut d), 1, "no answer: try again");
        d.finished(id(1), true);
        assert_eq!(due_now(&mut d), 0, "answered once: done");
    }
}
