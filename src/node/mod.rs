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

// The core thread and the dialer, each in its own room (issue 23).
mod core_thread;
mod dialer;
use core_thread::*;
use dialer::*;

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
    /// The peer speaks an older message version than this node (N−1): everything
    /// both understand moves, and the peer needs updating (the exchange screen says
    /// so). Documents of kinds it cannot carry stay here until it is updated.
    pub peer_older: bool,
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
    /// Speak this older message version instead of `sync::wire::VERSION` (tests run
    /// the previous release's wire format against the current one; `None` in use).
    pub speak_version: Option<u16>,
}

/// A running node: the core thread, the network and the dialer.
pub struct Node {
    pub handle: NodeHandle,
    net: Arc<Net>,
    core: Option<std::thread::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
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
            running_noted: None,
            crowd: (0, None),
            speak_version: opts.speak_version,
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
