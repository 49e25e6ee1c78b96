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
use crate::net::{Link, Net, NetConfig, NetEvent};
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
/// Longest wait between two dials of an unreachable peer: a courier who walks into
/// the hall is found within this long.
const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// How long a peer unknown to our roster has to prove membership.
const PROBATION: Duration = Duration::from_secs(30);

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
}

struct Core {
    repo: Repo,
    me: NodeId,
    conns: HashMap<u64, Conn>,
    by_peer: HashMap<NodeId, u64>,
    events: broadcast::Sender<NodeEvent>,
    connected: Arc<Mutex<HashSet<NodeId>>>,
    discovered: mpsc::UnboundedSender<(NodeId, Vec<SocketAddr>)>,
    data_version: i64,
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

    fn emit(&self, e: NodeEvent) {
        let _ = self.events.send(e);
    }

    fn on_connected(&mut self, id: u64, link: Link, closer: mpsc::UnboundedSender<()>) {
        let peer = link.peer;
        let member = match self.admission(&peer) {
            Ok(m) => m,
            Err(reason) => {
                tracing::warn!(peer = %peer, "refused connection: {reason}");
                let _ = link.tx.send(Msg::Bye {
                    reason: reason.clone(),
                });
                let _ = closer.send(());
                self.emit(NodeEvent::Refused { peer, reason });
                return;
            }
        };
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
        if !member {
            tracing::info!(peer = %peer.short(), "unknown peer: roster exchange only until it proves membership");
            session.restrict();
        }
        if let Err(e) = session.start(&mut self.repo) {
            tracing::warn!("cannot start session: {e}");
            return;
        }
        tracing::info!(peer = %peer.short(), dialed = link.dialed, "connected");
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
            },
        );
        self.flush(id);
        self.emit(NodeEvent::Connected { peer });
    }

    fn on_message(&mut self, id: u64, msg: Msg) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let peer = conn.link.peer;
        if let Err(e) = conn.session.handle_message(msg, &mut self.repo) {
            let reason = e.to_string();
            tracing::warn!(peer = %peer.short(), "sync with peer ended: {reason}");
            let _ = conn.link.tx.send(Msg::Bye {
                reason: reason.clone(),
            });
            self.emit(NodeEvent::Refused { peer, reason });
            self.drop_conn(id);
            return;
        }
        self.flush(id);
    }

    /// Sends what the session queued and handles its events.
    fn flush(&mut self, id: u64) {
        let mut others_need_news = false;
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        while let Some(m) = conn.session.poll_transmit() {
            let _ = conn.link.tx.send(m);
        }
        let peer = conn.link.peer;
        let mut out = Vec::new();
        while let Some(ev) = conn.session.poll_event() {
            match ev {
                Event::Synced => {
                    let s: &Stats = conn.session.stats();
                    let report = SyncReport {
                        bytes_sent: conn
                            .link
                            .counters
                            .sent
                            .load(std::sync::atomic::Ordering::Relaxed),
                        bytes_received: conn
                            .link
                            .counters
                            .received
                            .load(std::sync::atomic::Ordering::Relaxed),
                        round_trips: s.round_trips,
                        docs_sent: s.docs_sent,
                        docs_received: s.docs_received,
                        changes_sent: s.changes_sent,
                        changes_received: s.changes_received,
                        changes_rejected: s.changes_rejected,
                        duration_ms: conn.started.elapsed().as_millis() as u64,
                    };
                    tracing::info!(peer = %peer.short(), ?report, "in sync");
                    // "Last synced" for the courier screen; protocol 2 keeps no cursor.
                    if let Err(e) = self.repo.note_synced(&peer, 0) {
                        tracing::warn!("cannot record the sync time: {e:#}");
                    }
                    out.push(NodeEvent::Synced { peer, report });
                }
                Event::Received { docs } => {
                    others_need_news = true;
                    tracing::info!(peer = %peer.short(), docs = docs.len(), "received");
                    out.push(NodeEvent::Received {
                        peer,
                        docs: docs.len(),
                    });
                    out.push(NodeEvent::Changed);
                }
            }
        }
        for e in out {
            self.emit(e);
        }
        if others_need_news {
            // `data_version` is left alone: a write by another process may have
            // landed in between, and the next tick must still see it.
            self.news(Some(id));
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
                self.drop_conn(id);
                continue;
            }
            self.flush(id);
        }
    }

    fn drop_conn(&mut self, id: u64) {
        if let Some(c) = self.conns.remove(&id) {
            let _ = c.closer.send(());
            if self.by_peer.get(&c.link.peer) == Some(&id) {
                self.by_peer.remove(&c.link.peer);
                if let Ok(mut s) = self.connected.lock() {
                    s.remove(&c.link.peer);
                }
            }
        }
    }

    fn tick(&mut self) {
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
                let _ = c.link.tx.send(Msg::Bye {
                    reason: NOT_MEMBER.into(),
                });
            }
            self.drop_conn(id);
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
            self.news(None);
        }
    }

    fn handle(&mut self, msg: CoreMsg) -> bool {
        match msg {
            CoreMsg::Net(id, NetEvent::Connected(link, closer)) => {
                self.on_connected(id, link, closer)
            }
            CoreMsg::Net(_, NetEvent::Message(_, id, m)) => self.on_message(id, m),
            CoreMsg::Net(_, NetEvent::Closed(peer, id, reason)) => {
                if self.conns.contains_key(&id) {
                    tracing::info!(peer = %peer.short(), "disconnected: {reason}");
                    self.drop_conn(id);
                    self.emit(NodeEvent::Closed { peer, reason });
                }
            }
            CoreMsg::Net(_, NetEvent::Outdated(peer, reason)) => {
                self.emit(NodeEvent::Refused { peer, reason });
            }
            CoreMsg::Net(_, NetEvent::Discovered(peer, addrs)) => {
                if peer != self.me && self.authorized(&peer).is_ok() {
                    let _ = self.discovered.send((peer, addrs));
                }
            }
            CoreMsg::Run(job) => {
                job(&mut self.repo);
                self.emit(NodeEvent::Changed);
                self.news(None);
            }
            CoreMsg::Shutdown => {
                let ids: Vec<u64> = self.conns.keys().copied().collect();
                for id in ids {
                    if let Some(c) = self.conns.get(&id) {
                        let _ = c.link.tx.send(Msg::Bye {
                            reason: "shutting down".into(),
                        });
                    }
                    self.drop_conn(id);
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
        let repo = Repo::open(&data_dir)?;
        let identity = repo.identity().clone();
        let me = repo.node_id();
        let (net_tx, mut net_rx) = mpsc::unbounded_channel();
        let net = Arc::new(Net::bind(&identity, &opts.net, net_tx).await?);
        let (events, _) = broadcast::channel(4096);
        let (core_tx, core_rx) = std_mpsc::channel::<CoreMsg>();
        let connected = Arc::new(Mutex::new(HashSet::new()));
        let (disc_tx, mut disc_rx) = mpsc::unbounded_channel();
        let mut core = Core {
            data_version: repo.data_version().unwrap_or(0),
            repo,
            me,
            conns: HashMap::new(),
            by_peer: HashMap::new(),
            events: events.clone(),
            connected: connected.clone(),
            discovered: disc_tx,
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
        let handle = NodeHandle {
            core: core_tx.clone(),
            events: events.clone(),
            node_id: me,
            connected: connected.clone(),
        };
        let mut tasks = Vec::new();
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
                .map(|p| {
                    (
                        p.node,
                        p.addrs.split(',').filter_map(|a| a.parse().ok()).collect(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let net2 = net.clone();
        let redial = opts.redial;
        tasks.push(tokio::spawn(async move {
            let mut known: HashMap<NodeId, (Vec<SocketAddr>, Duration, Instant)> = HashMap::new();
            for (n, a) in static_peers.into_iter().chain(stored) {
                if n != me {
                    known.insert(n, (a, Duration::from_secs(1), Instant::now()));
                }
            }
            let mut dialed_once: HashSet<NodeId> = HashSet::new();
            loop {
                while let Ok((n, a)) = disc_rx.try_recv() {
                    known
                        .entry(n)
                        .or_insert((a, Duration::from_secs(1), Instant::now()));
                }
                let now = Instant::now();
                let up: HashSet<NodeId> = connected.lock().map(|c| c.clone()).unwrap_or_default();
                for (peer, (addrs, backoff, next)) in known.iter_mut() {
                    if up.contains(peer) || *next > now {
                        continue;
                    }
                    if !redial && dialed_once.contains(peer) {
                        continue;
                    }
                    dialed_once.insert(*peer);
                    match net2.dial(*peer, addrs).await {
                        Ok(()) => *backoff = Duration::from_secs(1),
                        Err(e) => {
                            tracing::info!("dial {} failed: {e:#}", peer.short());
                            *backoff = (*backoff * 2).min(MAX_BACKOFF);
                        }
                    }
                    *next = Instant::now() + *backoff;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }));
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
