//! The network: the only module that knows iroh.
//!
//! One iroh endpoint per node, keyed by the node's own ed25519 key, relays off
//! unless a commune runs its own, direct addresses from config plus mDNS on the LAN.
//! A connection carries one bidirectional stream of `sync::wire` frames; this module
//! only moves frames and counts bytes. Everything else (who may talk, what to say)
//! is decided by `node`, which sees only node ids, messages and socket addresses.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use iroh::endpoint::{Connection, RecvStream, SendStream, presets};
use iroh::protocol::{AcceptError, ProtocolHandler, Router};
use iroh::{Endpoint, EndpointAddr, PublicKey, RelayMode, SecretKey};
use tokio::sync::mpsc;

use crate::identity::{Identity, NodeId};
use crate::sync::wire::{self, ALPN, ALPN_V1, Msg};

/// How long one dial (all of a peer's candidate addresses at once) may take. A LAN
/// answers in milliseconds; a peer that has not answered in this long is not there.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(4);
/// How often interfaces are listed when iroh reports no change: a cable plugged in or
/// a Wi-Fi joined is noticed within this long even where netlink events are missed.
const INTERFACE_POLL: Duration = Duration::from_secs(1);
/// mDNS service name and record format shared with iroh's own mDNS address lookup
/// (`irohv1`, base32 endpoint id), so older Cổng Làng nodes still find us.
const MDNS_SERVICE: &str = "irohv1";

/// Network options, from config and command line.
#[derive(Clone, Debug)]
pub struct NetConfig {
    pub listen: SocketAddr,
    pub mdns: bool,
    pub relay_url: Option<String>,
}

/// Byte counters of one connection (protocol payload: frames incl. length prefix).
#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    /// Bytes (estimated, `wire::approx_len`) handed to the writer and not yet written.
    pub queued: AtomicU64,
}

/// Most bytes queued for one peer that has not read them: past this the peer is not
/// reading (QUIC flow control holds our writer) and the session ends, so a peer that
/// stops reading cannot make the node buffer without end. The largest window
/// (`sync::window::WINDOW_MAX`: 128 batches of 16 KiB, 2 MiB) and reconciliation fit
/// several times over.
pub const MAX_QUEUED_BYTES: u64 = 8 * 1024 * 1024;
/// Messages read from one connection and not yet handled by the core: the reader
/// waits beyond this, so QUIC pushes back on a peer that sends faster than we import.
pub const MAX_UNHANDLED: usize = 4;

/// Held with each received message until the core has handled it (see
/// [`MAX_UNHANDLED`]).
pub type Permit = tokio::sync::OwnedSemaphorePermit;

/// A live connection, as `node` sees it.
pub struct Link {
    pub peer: NodeId,
    /// Whether we dialed (the dialer of the smaller node id wins duplicates).
    pub dialed: bool,
    pub counters: Arc<Counters>,
    tx: mpsc::UnboundedSender<Msg>,
    conn: Connection,
}

impl Link {
    /// Queues `msg` for the peer. `false` (and nothing queued) when the bytes already
    /// waiting for this peer passed [`MAX_QUEUED_BYTES`]: the caller ends the session.
    pub fn send(&self, msg: Msg) -> bool {
        let n = wire::approx_len(&msg) as u64;
        let q = self.counters.queued.fetch_add(n, Ordering::Relaxed) + n;
        if q > MAX_QUEUED_BYTES && !matches!(msg, Msg::Bye { .. }) {
            self.counters.queued.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        if self.tx.send(msg).is_err() {
            self.counters.queued.fetch_sub(n, Ordering::Relaxed);
        }
        true
    }
    pub fn close(&self, reason: &str) {
        self.conn.close(1u32.into(), reason.as_bytes());
    }
}

/// What the network tells the node.
pub enum NetEvent {
    Connected(Link, mpsc::UnboundedSender<()>),
    /// A message from the peer of connection `u64`; drop the permit once handled.
    /// A decoded message, with the size of the frame it came in (what the peer
    /// spent: the core's read budget is credited by it, not by the decoded size).
    Message(NodeId, u64, Box<Msg>, Permit, usize),
    Closed(NodeId, u64, String),
    Discovered(NodeId, Vec<SocketAddr>),
    /// The peer of connection `u64` is reached at this address (the path in use).
    Reached(NodeId, u64, SocketAddr),
    /// Our LAN interfaces changed (a link came up, an address appeared or went away):
    /// the IPv4 addresses we now have. Peers worth trying again.
    NetworkChanged(Vec<Ipv4Addr>),
    /// A peer speaks an older protocol version and must be updated (words for the UI).
    Outdated(NodeId, String),
    /// A node found by mDNS stopped answering (its record expired).
    Gone(NodeId),
}

fn to_node(k: PublicKey) -> NodeId {
    NodeId(*k.as_bytes())
}

pub struct Net {
    router: Router,
    events: mpsc::UnboundedSender<(u64, NetEvent)>,
    next_id: Arc<AtomicU64>,
    /// Every node mDNS currently sees on the LAN, members or not (pairing lists the
    /// machines waiting to join from it).
    lan: LanPeers,
    /// Where accepted pairing connections go; `None`: refused at once.
    pairing: PairSlot,
    /// The task following interfaces and running mDNS (see [`watch_network`]).
    watcher: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone)]
struct Handler {
    events: mpsc::UnboundedSender<(u64, NetEvent)>,
    next_id: Arc<AtomicU64>,
}

/// How long an accepted connection may take to open its stream. iroh keeps idle
/// connections alive, so a peer that connects and never sends would otherwise hold
/// its connection, and a task here, for good; a crowd of them, memory. Generous: a
/// member's core may be busy for seconds before its `Hello` goes out.
pub const FIRST_STREAM: Duration = Duration::from_secs(20);

/// Longest a closing connection waits for its last messages (a `Bye` and its
/// reason) to be read by the peer.
const FLUSH_ON_CLOSE: Duration = Duration::from_secs(2);

/// QUIC limits for every connection: each of our protocols uses one bidirectional
/// stream. iroh's defaults let a peer open 100 of each kind, each with 1.25 MB of
/// receive window; streams we never accept would sit buffered until the connection
/// ends, so one connection could make us hold ~250 MB. With one stream the most a
/// peer makes us buffer is one stream window.
fn transport() -> iroh::endpoint::QuicTransportConfig {
    use iroh::endpoint::{QuicTransportConfig, VarInt};
    QuicTransportConfig::builder()
        .max_concurrent_bidi_streams(VarInt::from_u32(1))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .build()
}

/// The stream an accepted connection opens first, or `None` when it opened none
/// within `wait`: the connection is then closed, so that it (and its place, its
/// task) is not held for good.
async fn first_stream(
    conn: &Connection,
    wait: Duration,
) -> Result<Option<(SendStream, RecvStream)>, AcceptError> {
    match tokio::time::timeout(wait, conn.accept_bi()).await {
        Ok(streams) => Ok(Some(streams?)),
        Err(_) => {
            tracing::debug!(peer = %to_node(conn.remote_id()).short(), "no stream opened: closed");
            conn.close(6u32.into(), b"no stream");
            Ok(None)
        }
    }
}

impl ProtocolHandler for Handler {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let Some((send, recv)) = first_stream(&conn, FIRST_STREAM).await? else {
            return Ok(());
        };
        run_link(conn, send, recv, false, id, self.events.clone()).await;
        Ok(())
    }
}

/// Accepts connections of the previous protocol only to tell the peer, in words its
/// version logs, that it must be updated; and to say so in our log and UI.
#[derive(Debug, Clone)]
struct OutdatedHandler {
    events: mpsc::UnboundedSender<(u64, NetEvent)>,
    /// When the log last said a peer speaks the old protocol.
    logged: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

/// Least time between two log lines about peers on the old protocol.
const OUTDATED_LOG_EVERY: Duration = Duration::from_secs(60);

impl ProtocolHandler for OutdatedHandler {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let peer = to_node(conn.remote_id());
        let reason = wire::v1_reason();
        // Anyone can say it (before any roster check): a crowd must not flood the log.
        if self.logged.lock().is_ok_and(|mut at| {
            let due = at.is_none_or(|t| t.elapsed() >= OUTDATED_LOG_EVERY);
            if due {
                *at = Some(std::time::Instant::now());
            }
            due
        }) {
            tracing::error!(
                peer = %peer.short(),
                "peer speaks {} (an older Cổng Làng), this node speaks {}: update the peer",
                String::from_utf8_lossy(ALPN_V1),
                String::from_utf8_lossy(ALPN)
            );
        }
        let _ = self.events.send((
            0,
            NetEvent::Outdated(
                peer,
                format!(
                    "peer uses an older sync protocol ({}): it needs updating",
                    String::from_utf8_lossy(ALPN_V1)
                ),
            ),
        ));
        if let Ok(Ok((mut send, _recv))) =
            tokio::time::timeout(FIRST_STREAM, conn.accept_bi()).await
        {
            let _ = send.write_all(&wire::v1_bye(&reason)).await;
            let _ = send.finish();
            let _ = tokio::time::timeout(FLUSH_ON_CLOSE, send.stopped()).await;
        }
        conn.close(2u32.into(), b"protocol version 1 is not supported");
        Ok(())
    }
}

/// Most nodes kept from mDNS: a commune's LAN has tens; forged names beyond this
/// displace random entries instead of growing the table.
pub const MAX_LAN_PEERS: usize = 256;

/// Nodes seen on the LAN by mDNS, with their addresses.
pub type LanPeers = Arc<Mutex<HashMap<NodeId, Vec<SocketAddr>>>>;
type PairSlot = Arc<Mutex<Option<mpsc::UnboundedSender<PairConn>>>>;

/// One pairing connection (`pair::ALPN`): length-prefixed frames both ways, pumped by
/// two tasks so that `recv` can be raced against a timer without losing a half-read
/// frame. What is said on it is `pair`'s business; this only moves bytes.
///
/// The peer may be anyone on the LAN, so what it can make us hold is bounded: the
/// reader hands over one frame at a time (a queue of one; until the consumer takes
/// it, QUIC flow control holds the peer back), and refuses a frame over the size the
/// consumer expects next ([`PairConn::set_max_frame`], small by default).
pub struct PairConn {
    pub peer: NodeId,
    tx: Option<mpsc::UnboundedSender<Vec<u8>>>,
    rx: mpsc::Receiver<Result<Vec<u8>, String>>,
    written: Option<tokio::sync::oneshot::Receiver<()>>,
    conn: Connection,
    max_frame: Arc<std::sync::atomic::AtomicUsize>,
    /// An accepted connection holds one of the few pairing places while it lives.
    _place: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl PairConn {
    fn pump(
        conn: Connection,
        mut send: SendStream,
        mut recv: RecvStream,
        place: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> PairConn {
        let peer = to_node(conn.remote_id());
        let (tx, mut out) = mpsc::unbounded_channel::<Vec<u8>>();
        let (inc, rx) = mpsc::channel(1);
        let (done, written) = tokio::sync::oneshot::channel();
        let max_frame = Arc::new(std::sync::atomic::AtomicUsize::new(
            crate::pair::MAX_SMALL_FRAME,
        ));
        tokio::spawn(async move {
            while let Some(p) = out.recv().await {
                let mut frame = (p.len() as u32).to_be_bytes().to_vec();
                frame.extend_from_slice(&p);
                if send.write_all(&frame).await.is_err() {
                    break;
                }
            }
            // Everything queued is written: end the stream and wait (bounded) until
            // the peer has read it, so closing the connection does not cut it off.
            let _ = send.finish();
            let _ = tokio::time::timeout(Duration::from_secs(2), send.stopped()).await;
            let _ = done.send(());
        });
        let limit = max_frame.clone();
        tokio::spawn(async move {
            let r: Result<(), String> = async {
                loop {
                    let mut prefix = [0u8; 4];
                    recv.read_exact(&mut prefix)
                        .await
                        .map_err(|e| e.to_string())?;
                    let n = u32::from_be_bytes(prefix) as usize;
                    let max = limit.load(Ordering::Relaxed);
                    if n > max {
                        let _ = recv.stop(4u32.into());
                        return Err(format!(
                            "pairing frame of {n} bytes is over the limit here ({max})"
                        ));
                    }
                    let mut body = vec![0u8; n];
                    recv.read_exact(&mut body)
                        .await
                        .map_err(|e| e.to_string())?;
                    if inc.send(Ok(body)).await.is_err() {
                        return Ok(());
                    }
                }
            }
            .await;
            if let Err(e) = r {
                let _ = inc.send(Err(e)).await;
            }
        });
        PairConn {
            peer,
            tx: Some(tx),
            rx,
            written: Some(written),
            conn,
            max_frame,
            _place: place,
        }
    }

    /// The largest frame accepted from now on (`pair::MAX_SMALL_FRAME` until the
    /// session expects an invite). Set it before sending what the larger answer
    /// answers: the reader checks each frame's length as its prefix arrives.
    pub fn set_max_frame(&self, n: usize) {
        self.max_frame
            .store(n.min(crate::pair::MAX_FRAME), Ordering::Relaxed);
    }

    /// Queues a frame.
    pub fn send(&self, payload: Vec<u8>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(payload);
        }
    }

    /// The next frame (cancel-safe).
    pub async fn recv(&mut self) -> Result<Vec<u8>> {
        match self.rx.recv().await {
            Some(Ok(b)) => Ok(b),
            Some(Err(e)) => Err(anyhow!("{e}")),
            None => Err(anyhow!("connection closed")),
        }
    }

    /// Sends what is queued and closes once the peer has finished too (bounded): data
    /// acknowledged by the peer's stack but not yet read by it would be lost to an
    /// early close (a refusal shown as "connection lost").
    pub async fn finish(mut self) {
        self.tx = None;
        if let Some(w) = self.written.take() {
            let _ = tokio::time::timeout(Duration::from_secs(3), w).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.rx.recv().await {}
        })
        .await;
        self.conn.close(0u32.into(), b"bye");
    }
}

impl Drop for PairConn {
    /// A connection given up on is closed at once: its tasks end, its place is free.
    fn drop(&mut self) {
        self.conn.close(0u32.into(), b"bye");
    }
}

/// Most pairing connections accepted at once: one session, a probe or two, and a
/// stranger's few. Beyond that a connection is refused at once.
pub const MAX_PAIR_CONNS: usize = 4;

#[derive(Debug, Clone)]
struct PairHandler {
    slot: PairSlot,
    places: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for PairConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PairConn({})", self.peer.short())
    }
}

impl ProtocolHandler for PairHandler {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let tx = self.slot.lock().ok().and_then(|s| s.clone());
        let Some(tx) = tx else {
            conn.close(3u32.into(), b"not pairing");
            return Ok(());
        };
        let Ok(place) = self.places.clone().try_acquire_owned() else {
            conn.close(5u32.into(), b"busy");
            return Ok(());
        };
        // A peer that connects and opens no stream does not keep its place.
        let Some((send, recv)) = first_stream(&conn, Duration::from_secs(5)).await? else {
            return Ok(());
        };
        let _ = tx.send(PairConn::pump(conn, send, recv, Some(place)));
        Ok(())
    }
}

impl Net {
    /// Binds the endpoint and starts accepting `conglang/sync/2` connections (and
    /// `conglang/sync/1` ones, only to tell such a peer to update).
    /// Events (tagged with a connection number) go to `events`.
    pub async fn bind(
        identity: &Identity,
        cfg: &NetConfig,
        events: mpsc::UnboundedSender<(u64, NetEvent)>,
    ) -> Result<Net> {
        let relay = match &cfg.relay_url {
            None => RelayMode::Disabled,
            Some(u) => RelayMode::Custom(iroh::RelayMap::from(
                u.parse::<iroh::RelayUrl>()
                    .map_err(|e| anyhow!("bad relay url {u}: {e}"))?,
            )),
        };
        let endpoint = Endpoint::builder(presets::Minimal)
            .secret_key(SecretKey::from_bytes(&identity.secret_bytes()))
            .transport_config(transport())
            .relay_mode(relay)
            .clear_ip_transports()
            .bind_addr(cfg.listen)
            .map_err(|e| anyhow!("cannot listen on {}: {e}", cfg.listen))?
            .alpns(vec![
                ALPN.to_vec(),
                ALPN_V1.to_vec(),
                crate::pair::ALPN.to_vec(),
            ])
            .bind()
            .await
            .map_err(|e| {
                // iroh's error says "Failed to bind sockets" only: name the cause a
                // kiosk can tell its keeper (another program holds the port).
                let held = cfg.listen.port() != 0
                    && std::net::UdpSocket::bind(cfg.listen)
                        .is_err_and(|b| b.kind() == std::io::ErrorKind::AddrInUse);
                if held {
                    anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::AddrInUse)).context(
                        format!(
                            "cannot start the network endpoint: {} is held by another program \
                             (another Cổng Làng node?)",
                            cfg.listen
                        ),
                    )
                } else {
                    anyhow!("cannot start the network endpoint on {}: {e}", cfg.listen)
                }
            })?;
        let next_id = Arc::new(AtomicU64::new(1));
        // What mDNS finds is also handed to iroh, so a live connection whose path died
        // (the courier moved to another network) can find the peer's new address.
        let found = iroh::address_lookup::MemoryLookup::new();
        if let Ok(lookup) = endpoint.address_lookup() {
            lookup.add(found.clone());
        }
        let lan: LanPeers = Arc::default();
        let watcher = tokio::spawn(watch_network(
            endpoint.clone(),
            cfg.listen,
            cfg.mdns,
            (found, lan.clone()),
            events.clone(),
        ));
        let pairing: PairSlot = Arc::default();
        let handler = Handler {
            events: events.clone(),
            next_id: next_id.clone(),
        };
        let outdated = OutdatedHandler {
            events: events.clone(),
            logged: Arc::default(),
        };
        let router = Router::builder(endpoint)
            .accept(ALPN, handler)
            .accept(ALPN_V1, outdated)
            .accept(
                crate::pair::ALPN,
                PairHandler {
                    slot: pairing.clone(),
                    places: Arc::new(tokio::sync::Semaphore::new(MAX_PAIR_CONNS)),
                },
            )
            .spawn();
        Ok(Net {
            router,
            events,
            next_id,
            lan,
            pairing,
            watcher,
        })
    }

    pub fn node_id(&self) -> NodeId {
        to_node(self.router.endpoint().id())
    }

    /// Sockets we listen on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.router.endpoint().bound_sockets()
    }

    /// Dials a peer; the link is reported as `NetEvent::Connected`.
    pub async fn dial(&self, peer: NodeId, addrs: &[SocketAddr]) -> Result<()> {
        let key = PublicKey::from_bytes(peer.as_bytes()).context("bad peer key")?;
        let mut addr = EndpointAddr::new(key);
        for a in addrs {
            addr = addr.with_ip_addr(*a);
        }
        // iroh sends the first packets to every address at once, so one attempt
        // covers all candidates; the timeout bounds how long a dead set costs us.
        let attempt = tokio::time::timeout(
            DIAL_TIMEOUT,
            self.router.endpoint().connect(addr.clone(), ALPN),
        )
        .await
        .map_err(|_| {
            anyhow!(
                "cannot connect to {}: no answer in {} s",
                peer.short(),
                DIAL_TIMEOUT.as_secs()
            )
        })?;
        let conn = match attempt {
            Ok(c) => c,
            Err(e) => {
                // A peer still on protocol 1 refuses our ALPN: find out, and say so.
                if let Ok(Ok(old)) = tokio::time::timeout(
                    DIAL_TIMEOUT,
                    self.router.endpoint().connect(addr, ALPN_V1),
                )
                .await
                {
                    old.close(2u32.into(), b"protocol version 1 is not supported");
                    let reason = format!(
                        "peer {} speaks {} (an older Cổng Làng), this node speaks {}: the peer needs updating",
                        peer.short(),
                        String::from_utf8_lossy(ALPN_V1),
                        String::from_utf8_lossy(ALPN)
                    );
                    tracing::error!("{reason}");
                    let _ = self.events.send((
                        0,
                        NetEvent::Outdated(
                            peer,
                            format!(
                                "peer uses an older sync protocol ({}): it needs updating",
                                String::from_utf8_lossy(ALPN_V1)
                            ),
                        ),
                    ));
                    return Err(anyhow!(reason));
                }
                return Err(anyhow!("cannot connect to {}: {e}", peer.short()));
            }
        };
        let (send, recv) = conn
            .open_bi()
            .await
            .map_err(|e| anyhow!("cannot open a stream to {}: {e}", peer.short()))?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let events = self.events.clone();
        tokio::spawn(run_link(conn, send, recv, true, id, events));
        Ok(())
    }

    /// Nodes mDNS sees on the LAN now (not this one).
    pub fn lan_peers(&self) -> Vec<(NodeId, Vec<SocketAddr>)> {
        self.lan
            .lock()
            .map(|l| l.iter().map(|(k, v)| (*k, v.clone())).collect())
            .unwrap_or_default()
    }

    /// Reports every node on the LAN to the node again (`NetEvent::Discovered`): a
    /// machine that just joined the commune dials the members it saw before joining.
    pub fn rediscover(&self) {
        for (peer, addrs) in self.lan_peers() {
            let _ = self.events.send((0, NetEvent::Discovered(peer, addrs)));
        }
    }

    /// Pairing connections go to `tx` from now on (`None`: refused at once).
    pub fn accept_pairing(&self, tx: Option<mpsc::UnboundedSender<PairConn>>) {
        if let Ok(mut s) = self.pairing.lock() {
            *s = tx;
        }
    }

    /// Opens a pairing connection to `peer` (see `pair`).
    pub async fn dial_pair(&self, peer: NodeId, addrs: &[SocketAddr]) -> Result<PairConn> {
        let key = PublicKey::from_bytes(peer.as_bytes()).context("bad peer key")?;
        let mut addr = EndpointAddr::new(key);
        for a in addrs {
            addr = addr.with_ip_addr(*a);
        }
        let conn = tokio::time::timeout(
            DIAL_TIMEOUT,
            self.router.endpoint().connect(addr, crate::pair::ALPN),
        )
        .await
        .map_err(|_| {
            anyhow!(
                "no answer from {} in {} s",
                peer.short(),
                DIAL_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| anyhow!("cannot connect to {}: {e}", peer.short()))?;
        let (send, recv) = conn
            .open_bi()
            .await
            .map_err(|e| anyhow!("cannot open a stream to {}: {e}", peer.short()))?;
        Ok(PairConn::pump(conn, send, recv, None))
    }

    pub async fn shutdown(&self) {
        self.watcher.abort();
        let _ = self.router.shutdown().await;
    }
}

/// A node that speaks only protocol 1, as a kiosk that was not updated does: it
/// accepts `conglang/sync/1` connections and holds them until the other side
/// closes. For tests and the lab: what our node must do with such a peer (say in
/// its log and on the exchange screen that the peer needs updating) depends only
/// on the protocol it offers, and the old program is not at hand.
pub struct OldPeer {
    router: Router,
}

#[derive(Debug, Clone)]
struct HoldV1;

impl ProtocolHandler for HoldV1 {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        conn.closed().await;
        Ok(())
    }
}

impl OldPeer {
    pub async fn start(identity: &Identity, listen: SocketAddr) -> Result<OldPeer> {
        let endpoint = Endpoint::builder(presets::Minimal)
            .secret_key(SecretKey::from_bytes(&identity.secret_bytes()))
            .relay_mode(RelayMode::Disabled)
            .clear_ip_transports()
            .bind_addr(listen)
            .map_err(|e| anyhow!("cannot listen on {listen}: {e}"))?
            .alpns(vec![ALPN_V1.to_vec()])
            .bind()
            .await
            .map_err(|e| anyhow!("cannot start the endpoint on {listen}: {e}"))?;
        let router = Router::builder(endpoint).accept(ALPN_V1, HoldV1).spawn();
        Ok(OldPeer { router })
    }
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.router.endpoint().bound_sockets()
    }
    pub async fn shutdown(&self) {
        let _ = self.router.shutdown().await;
    }
}

/// Pumps one connection: frames out of `tx`, frames in to `events`.
async fn run_link(
    conn: Connection,
    mut send: SendStream,
    mut recv: RecvStream,
    dialed: bool,
    id: u64,
    events: mpsc::UnboundedSender<(u64, NetEvent)>,
) {
    let peer = to_node(conn.remote_id());
    let counters = Arc::new(Counters::default());
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let (closed_tx, mut closed_rx) = mpsc::unbounded_channel::<()>();
    let link = Link {
        peer,
        dialed,
        counters: counters.clone(),
        tx,
        conn: conn.clone(),
    };
    if events
        .send((id, NetEvent::Connected(link, closed_tx)))
        .is_err()
    {
        return;
    }
    // Which address the peer answers on, once iroh has chosen a path: remembered by
    // `node` so the next dial tries it first.
    let conn2 = conn.clone();
    let ev2 = events.clone();
    let reached = tokio::spawn(async move {
        use n0_future::StreamExt;
        let mut paths = conn2.paths_stream();
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(list) = paths.next().await {
                for p in list.iter() {
                    if p.is_selected()
                        && let iroh::TransportAddr::Ip(a) = p.remote_addr()
                    {
                        return Some(*a);
                    }
                }
            }
            None
        })
        .await;
        if let Ok(Some(a)) = found {
            let _ = ev2.send((id, NetEvent::Reached(peer, id, a)));
        }
    });
    let c2 = counters.clone();
    let writer = async move {
        while let Some(msg) = rx.recv().await {
            let frame = wire::encode(&msg);
            let n = wire::approx_len(&msg) as u64;
            c2.sent.fetch_add(frame.len() as u64, Ordering::Relaxed);
            send.write_all(&frame).await.map_err(|e| e.to_string())?;
            c2.queued.fetch_sub(n, Ordering::Relaxed);
            if matches!(msg, Msg::Bye { .. }) {
                let _ = send.finish();
                // Closing at once could discard the reason before the peer reads it
                // (a refused peer would see only "connection lost"): wait, briefly,
                // until it has read to the end.
                let _ = tokio::time::timeout(FLUSH_ON_CLOSE, send.stopped()).await;
                break;
            }
        }
        Ok::<(), String>(())
    };
    let ev = events.clone();
    let unhandled = Arc::new(tokio::sync::Semaphore::new(MAX_UNHANDLED));
    let reader = async move {
        loop {
            // Read no further while the core has MAX_UNHANDLED of ours to handle.
            let Ok(permit) = unhandled.clone().acquire_owned().await else {
                return Ok(());
            };
            let mut prefix = [0u8; 4];
            recv.read_exact(&mut prefix)
                .await
                .map_err(|e| e.to_string())?;
            let n = wire::frame_len(prefix).map_err(|e| e.to_string())?;
            let mut body = vec![0u8; n];
            recv.read_exact(&mut body)
                .await
                .map_err(|e| e.to_string())?;
            counters.received.fetch_add(4 + n as u64, Ordering::Relaxed);
            let msg = wire::decode(&body).map_err(|e| e.to_string())?;
            if ev
                .send((
                    id,
                    NetEvent::Message(peer, id, Box::new(msg), permit, 4 + n),
                ))
                .is_err()
            {
                return Ok(());
            }
        }
        #[allow(unreachable_code)]
        Ok::<(), String>(())
    };
    let mut writer = std::pin::pin!(writer);
    let reason = tokio::select! {
        r = &mut writer => r.err().unwrap_or_else(|| "closed".into()),
        r = reader => r.err().unwrap_or_else(|| "closed".into()),
        _ = closed_rx.recv() => {
            // What the core queued before closing (a `Bye` and its reason) goes out
            // first. The core has dropped its sender by now, so the writer ends as
            // soon as the queue is empty.
            let _ = tokio::time::timeout(FLUSH_ON_CLOSE, &mut writer).await;
            "closed by us".into()
        }
        e = conn.closed() => e.to_string(),
    };
    reached.abort();
    conn.close(0u32.into(), b"bye");
    let _ = events.send((id, NetEvent::Closed(peer, id, reason)));
}

/// IPv4 addresses of the interfaces mDNS can use: up, with carrier, multicast-capable,
/// not loopback. Link-local (169.254/16) addresses count: a cable between two machines
/// with no DHCP server gets nothing else.
fn lan_ipv4(listen: IpAddr) -> BTreeSet<Ipv4Addr> {
    netdev::get_interfaces()
        .into_iter()
        .filter(|i| i.is_up() && i.is_running() && i.is_multicast() && !i.is_loopback())
        .flat_map(|i| i.ipv4.into_iter().map(|n| n.addr()))
        .filter(|a| !a.is_loopback() && !a.is_unspecified())
        // A node told to listen on one address speaks only on that interface.
        .filter(|a| listen.is_unspecified() || listen == IpAddr::V4(*a))
        .collect()
}

/// Follows the machine's interfaces for as long as the endpoint lives: whenever the set
/// of LAN IPv4 addresses changes it tells iroh (`Endpoint::network_change`), restarts
/// mDNS on exactly those interfaces and reports `NetEvent::NetworkChanged`.
///
/// Why restart mDNS instead of keeping one: a responder started before any link was up
/// has no interface to send on ("Network is unreachable" forever), and one bound to the
/// default route's interface never hears a second network or a cable with no default
/// route. Each restart sends and listens on every current interface explicitly
/// (`IP_MULTICAST_IF` per interface, group joined per interface), which needs no route
/// at all, and starts with an empty peer table, so every peer on the new network is
/// reported afresh.
async fn watch_network(
    endpoint: Endpoint,
    listen: SocketAddr,
    mdns: bool,
    (found, lan): (iroh::address_lookup::MemoryLookup, LanPeers),
    events: mpsc::UnboundedSender<(u64, NetEvent)>,
) {
    use iroh::Watcher as _;
    use n0_future::StreamExt;
    let port = endpoint
        .bound_sockets()
        .first()
        .map(|a| a.port())
        .unwrap_or(listen.port());
    let me = endpoint.id();
    let mut iroh_changes = endpoint.watch_addr().stream();
    let mut current: Option<BTreeSet<Ipv4Addr>> = None;
    let mut discoverer: Option<swarm_discovery::DropGuard> = None;
    loop {
        let now = tokio::task::spawn_blocking(move || lan_ipv4(listen.ip()))
            .await
            .unwrap_or_default();
        if current.as_ref() != Some(&now) {
            let first = current.is_none();
            if first {
                tracing::info!(addrs = ?now, "LAN interfaces at start");
            } else {
                tracing::info!(addrs = ?now, "LAN interfaces changed");
            }
            if mdns {
                // The old responder goes first: its sockets close before new ones bind.
                discoverer = None;
                if !now.is_empty() {
                    // A new responder reports every peer afresh.
                    if let Ok(mut l) = lan.lock() {
                        l.clear();
                    }
                    discoverer =
                        start_mdns(me, port, &now, (found.clone(), lan.clone()), events.clone());
                }
            }
            if !first {
                endpoint.network_change().await;
                let _ = events.send((0, NetEvent::NetworkChanged(now.iter().copied().collect())));
            }
            current = Some(now);
        }
        tokio::select! {
            r = iroh_changes.next() => if r.is_none() { break },
            _ = tokio::time::sleep(INTERFACE_POLL) => {}
            _ = endpoint.closed() => break,
        }
    }
    drop(discoverer);
}

/// Starts an mDNS responder and querier on `ifaces`, advertising `port` on them.
fn start_mdns(
    me: PublicKey,
    port: u16,
    ifaces: &BTreeSet<Ipv4Addr>,
    (found, lan): (iroh::address_lookup::MemoryLookup, LanPeers),
    events: mpsc::UnboundedSender<(u64, NetEvent)>,
) -> Option<swarm_discovery::DropGuard> {
    let my_name = data_encoding::BASE32_NOPAD
        .encode(me.as_bytes())
        .to_ascii_lowercase();
    // The responder repeats itself every cadence; report a peer only when its
    // addresses change (or it comes back after expiring).
    let mut seen: HashMap<PublicKey, Vec<SocketAddr>> = HashMap::new();
    let callback = move |name: &str, peer: &swarm_discovery::Peer| {
        let Ok(key) = name.parse::<PublicKey>() else {
            return;
        };
        if key == me {
            return;
        }
        if peer.is_expiry() {
            if seen.remove(&key).is_some() {
                let _ = events.send((0, NetEvent::Gone(to_node(key))));
            }
            if let Ok(mut l) = lan.lock() {
                l.remove(&to_node(key));
            }
            return;
        }
        let mut addrs: Vec<SocketAddr> = peer
            .addrs()
            .iter()
            .map(|(ip, port)| SocketAddr::new(*ip, *port))
            .collect();
        addrs.sort();
        if seen.get(&key) == Some(&addrs) {
            return;
        }
        tracing::debug!(peer = %to_node(key).short(), ?addrs, "found on the LAN");
        // Anyone can announce names: the table stays bounded. A full one gives a
        // random entry's place to the newcomer, so a flood of forged names cannot
        // keep a real machine out for good.
        if !seen.contains_key(&key)
            && seen.len() >= MAX_LAN_PEERS
            && let Some(out) = seen.keys().nth(rand::random_range(0..seen.len())).copied()
        {
            seen.remove(&out);
            if let Ok(mut l) = lan.lock() {
                l.remove(&to_node(out));
            }
        }
        seen.insert(key, addrs.clone());
        if let Ok(mut l) = lan.lock() {
            l.insert(to_node(key), addrs.clone());
        }
        let mut info = EndpointAddr::new(key);
        for a in &addrs {
            info = info.with_ip_addr(*a);
        }
        // Replaced, not merged: a courier's addresses from last week's halls are noise.
        found.set_endpoint_info(info);
        let _ = events.send((0, NetEvent::Discovered(to_node(key), addrs)));
    };
    let list: Vec<Ipv4Addr> = ifaces.iter().copied().collect();
    let started = swarm_discovery::Discoverer::new_interactive(MDNS_SERVICE.into(), my_name)
        .with_ip_class(swarm_discovery::IpClass::V4Only)
        .with_multicast_interfaces_v4(list.clone())
        .with_addrs(port, list.into_iter().map(IpAddr::V4))
        .with_callback(callback)
        .spawn(&tokio::runtime::Handle::current());
    match started {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::warn!("mDNS discovery unavailable: {e}");
            None
        }
    }
}
