//! A userspace UDP relay that emulates a bad link: delay, jitter, loss, a rate limit,
//! and cuts. This kernel has no `netem`, so benchmarks and reliability tests route
//! QUIC through this relay on loopback instead (it needs no root).
//!
//! The relay listens on one loopback socket; every client address gets its own
//! upstream socket to the target, so the target sees one stable peer per client.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use rand::{RngExt, SeedableRng};
use tokio::net::UdpSocket;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How the emulated link behaves (each direction alike).
#[derive(Clone, Debug)]
pub struct LinkSpec {
    /// Round-trip time added by the link (half each way).
    pub rtt: Duration,
    /// Extra random delay per packet, uniform in [0, jitter].
    pub jitter: Duration,
    /// Probability of dropping a packet.
    pub loss: f64,
    /// Bits per second each way; 0 = unlimited.
    pub rate_bps: u64,
    pub seed: u64,
}

impl LinkSpec {
    pub fn perfect() -> LinkSpec {
        LinkSpec {
            rtt: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            rate_bps: 0,
            seed: 1,
        }
    }
    /// The 2G profile of the benchmarks: 100 kbit/s, 400 ms RTT, 2 % loss.
    pub fn two_g(seed: u64) -> LinkSpec {
        LinkSpec {
            rtt: Duration::from_millis(400),
            jitter: Duration::ZERO,
            loss: 0.02,
            rate_bps: 100_000,
            seed,
        }
    }
}

/// Counters and controls of a running relay.
#[derive(Default)]
pub struct LinkState {
    /// UDP payload bytes forwarded client → target and back.
    pub up_bytes: AtomicU64,
    pub down_bytes: AtomicU64,
    pub dropped: AtomicU64,
    /// While set, every packet is dropped (a cut link).
    pub cut: AtomicBool,
    /// Cut once this many bytes went through in total (0 = never).
    pub cut_after_bytes: AtomicU64,
}

impl LinkState {
    pub fn total(&self) -> u64 {
        self.up_bytes.load(Ordering::Relaxed) + self.down_bytes.load(Ordering::Relaxed)
    }
}

pub struct Relay {
    pub addr: SocketAddr,
    pub state: Arc<LinkState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shaper {
    spec: LinkSpec,
    rng: rand::rngs::StdRng,
    /// When the emulated wire is next free, per direction.
    free_at: [Instant; 2],
}

impl Shaper {
    /// When a packet of `len` bytes sent now in direction `dir` arrives, or `None`
    /// if it is lost.
    fn schedule(&mut self, dir: usize, len: usize) -> Option<Instant> {
        if self.spec.loss > 0.0 && self.rng.random_bool(self.spec.loss) {
            return None;
        }
        let now = Instant::now();
        let mut t = now.max(self.free_at[dir]);
        if self.spec.rate_bps > 0 {
            t += Duration::from_secs_f64((len as f64 + 28.0) * 8.0 / self.spec.rate_bps as f64);
            self.free_at[dir] = t;
        }
        let jitter = if self.spec.jitter.is_zero() {
            Duration::ZERO
        } else {
            self.spec.jitter.mul_f64(self.rng.random_range(0.0..1.0))
        };
        Some(t + self.spec.rtt / 2 + jitter)
    }
}

impl Relay {
    /// Starts a relay on 127.0.0.1 forwarding to `target`.
    pub async fn start(target: SocketAddr, spec: LinkSpec) -> Result<Relay> {
        let lo = std::net::Ipv4Addr::LOCALHOST.into();
        Self::start_on(lo, lo, target, spec).await
    }

    /// Starts a relay listening on `front` (port chosen) whose upstream sockets bind
    /// to `upstream`, forwarding to `target`.
    pub async fn start_on(
        front: std::net::IpAddr,
        upstream: std::net::IpAddr,
        target: SocketAddr,
        spec: LinkSpec,
    ) -> Result<Relay> {
        let front = Arc::new(UdpSocket::bind(SocketAddr::new(front, 0)).await?);
        let addr = front.local_addr()?;
        let state = Arc::new(LinkState::default());
        let shaper = Arc::new(Mutex::new(Shaper {
            rng: rand::rngs::StdRng::seed_from_u64(spec.seed),
            spec,
            free_at: [Instant::now(); 2],
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            let mut uppers: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok((n, client)) = front.recv_from(&mut buf).await else {
                    break;
                };
                let up = match uppers.get(&client) {
                    Some(u) => u.clone(),
                    None => {
                        let Ok(u) = UdpSocket::bind(SocketAddr::new(upstream, 0)).await else {
                            continue;
                        };
                        let u = Arc::new(u);
                        uppers.insert(client, u.clone());
                        // Replies from the target go back to this client.
                        let (u2, f2, st2, sh2) =
                            (u.clone(), front.clone(), st.clone(), shaper.clone());
                        tokio::spawn(async move {
                            let mut b = vec![0u8; 65536];
                            while let Ok((n, _)) = u2.recv_from(&mut b).await {
                                forward(&sh2, &st2, 1, b[..n].to_vec(), f2.clone(), client).await;
                            }
                        });
                        u
                    }
                };
                forward(&shaper, &st, 0, buf[..n].to_vec(), up, target).await;
            }
        });
        Ok(Relay { addr, state, task })
    }
}

async fn forward(
    shaper: &Arc<Mutex<Shaper>>,
    st: &Arc<LinkState>,
    dir: usize,
    pkt: Vec<u8>,
    sock: Arc<UdpSocket>,
    to: SocketAddr,
) {
    let limit = st.cut_after_bytes.load(Ordering::Relaxed);
    if st.cut.load(Ordering::Relaxed) || (limit > 0 && st.total() >= limit) {
        st.cut.store(true, Ordering::Relaxed);
        st.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let Some(at) = shaper.lock().await.schedule(dir, pkt.len()) else {
        st.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let counter = if dir == 0 {
        &st.up_bytes
    } else {
        &st.down_bytes
    };
    counter.fetch_add(pkt.len() as u64, Ordering::Relaxed);
    tokio::spawn(async move {
        tokio::time::sleep_until(at).await;
        let _ = sock.send_to(&pkt, to).await;
    });
}
