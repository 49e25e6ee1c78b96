//! The network: the only module that knows iroh.
//!
//! One iroh endpoint per node, keyed by the node's own ed25519 key, relays off
//! unless a commune runs its own, direct addresses from config plus mDNS on the LAN.
//! A connection carries one bidirectional stream of `sync::wire` frames; this module
//! only moves frames and counts bytes. Everything else (who may talk, what to say)
//! is decided by `node`, which sees only node ids, messages and socket addresses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow};
use iroh::endpoint::{Connection, RecvStream, SendStream, presets};
use iroh::protocol::{AcceptError, ProtocolHandler, Router};
use iroh::{Endpoint, EndpointAddr, PublicKey, RelayMode, SecretKey};
use tokio::sync::mpsc;

use crate::identity::{Identity, NodeId};
use crate::sync::wire::{self, ALPN, ALPN_V1, Msg};

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
}

/// A live connection, as `node` sees it.
pub struct Link {
    pub peer: NodeId,
    /// Whether we dialed (the dialer of the smaller node id wins duplicates).
    pub dialed: bool,
    pub counters: Arc<Counters>,
    pub tx: mpsc::UnboundedSender<Msg>,
    conn: Connection,
}

impl Link {
    pub fn close(&self, reason: &str) {
        self.conn.close(1u32.into(), reason.as_bytes());
    }
}

/// What the network tells the node.
pub enum NetEvent {
    Connected(Link, mpsc::UnboundedSender<()>),
    Message(NodeId, u64, Msg),
    Closed(NodeId, u64, String),
    Discovered(NodeId, Vec<SocketAddr>),
    /// A peer speaks an older protocol version and must be updated (words for the UI).
    Outdated(NodeId, String),
}

fn to_node(k: PublicKey) -> NodeId {
    NodeId(*k.as_bytes())
}

pub struct Net {
    router: Router,
    events: mpsc::UnboundedSender<(u64, NetEvent)>,
    next_id: Arc<AtomicU64>,
}

#[derive(Debug, Clone)]
struct Handler {
    events: mpsc::UnboundedSender<(u64, NetEvent)>,
    next_id: Arc<AtomicU64>,
}

impl ProtocolHandler for Handler {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (send, recv) = conn.accept_bi().await?;
        run_link(conn, send, recv, false, id, self.events.clone()).await;
        Ok(())
    }
}

/// Accepts connections of the previous protocol only to tell the peer, in words its
/// version logs, that it must be updated; and to say so in our log and UI.
#[derive(Debug, Clone)]
struct OutdatedHandler {
    events: mpsc::UnboundedSender<(u64, NetEvent)>,
}

impl ProtocolHandler for OutdatedHandler {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let peer = to_node(conn.remote_id());
        let reason = wire::v1_reason();
        tracing::error!(
            peer = %peer.short(),
            "peer speaks {} (an older Cổng Làng), this node speaks {}: update the peer",
            String::from_utf8_lossy(ALPN_V1),
            String::from_utf8_lossy(ALPN)
        );
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
        if let Ok((mut send, _recv)) = conn.accept_bi().await {
            let _ = send.write_all(&wire::v1_bye(&reason)).await;
            let _ = send.finish();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), send.stopped()).await;
        }
        conn.close(2u32.into(), b"protocol version 1 is not supported");
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
            .relay_mode(relay)
            .clear_ip_transports()
            .bind_addr(cfg.listen)
            .map_err(|e| anyhow!("cannot listen on {}: {e}", cfg.listen))?
            .alpns(vec![ALPN.to_vec(), ALPN_V1.to_vec()])
            .bind()
            .await
            .map_err(|e| anyhow!("cannot start the network endpoint on {}: {e}", cfg.listen))?;
        let next_id = Arc::new(AtomicU64::new(1));
        if cfg.mdns {
            match iroh_mdns_address_lookup::MdnsAddressLookup::builder().build(endpoint.id()) {
                Ok(mdns) => {
                    if let Ok(lookup) = endpoint.address_lookup() {
                        lookup.add(mdns.clone());
                    }
                    let tx = events.clone();
                    tokio::spawn(async move {
                        use n0_future::StreamExt;
                        let mut s = mdns.subscribe().await;
                        while let Some(ev) = s.next().await {
                            if let iroh_mdns_address_lookup::DiscoveryEvent::Discovered {
                                endpoint_info,
                                ..
                            } = ev
                            {
                                let addr = endpoint_info.into_endpoint_addr();
                                let ips: Vec<SocketAddr> = addr.ip_addrs().copied().collect();
                                if tx
                                    .send((0, NetEvent::Discovered(to_node(addr.id), ips)))
                                    .is_err()
                                {
                                    break;
                                }
                            }
                        }
                    });
                }
                Err(e) => tracing::warn!("mDNS discovery unavailable: {e}"),
            }
        }
        let handler = Handler {
            events: events.clone(),
            next_id: next_id.clone(),
        };
        let outdated = OutdatedHandler {
            events: events.clone(),
        };
        let router = Router::builder(endpoint)
            .accept(ALPN, handler)
            .accept(ALPN_V1, outdated)
            .spawn();
        Ok(Net {
            router,
            events,
            next_id,
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
        let conn = match self.router.endpoint().connect(addr.clone(), ALPN).await {
            Ok(c) => c,
            Err(e) => {
                // A peer still on protocol 1 refuses our ALPN: find out, and say so.
                if let Ok(old) = self.router.endpoint().connect(addr, ALPN_V1).await {
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
    let c2 = counters.clone();
    let writer = async move {
        while let Some(msg) = rx.recv().await {
            let frame = wire::encode(&msg);
            c2.sent.fetch_add(frame.len() as u64, Ordering::Relaxed);
            send.write_all(&frame).await.map_err(|e| e.to_string())?;
            if matches!(msg, Msg::Bye { .. }) {
                let _ = send.finish();
                break;
            }
        }
        Ok::<(), String>(())
    };
    let ev = events.clone();
    let reader = async move {
        loop {
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
            if ev.send((id, NetEvent::Message(peer, id, msg))).is_err() {
                return Ok(());
            }
        }
        #[allow(unreachable_code)]
        Ok::<(), String>(())
    };
    let reason = tokio::select! {
        r = writer => r.err().unwrap_or_else(|| "closed".into()),
        r = reader => r.err().unwrap_or_else(|| "closed".into()),
        _ = closed_rx.recv() => "closed by us".into(),
        e = conn.closed() => e.to_string(),
    };
    conn.close(0u32.into(), b"bye");
    let _ = events.send((id, NetEvent::Closed(peer, id, reason)));
}
