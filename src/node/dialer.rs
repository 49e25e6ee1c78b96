//! The dialer: which peers to call and when (known members first, the address last
//! reached first, per-peer back-off with jitter), run as one tokio task that sleeps
//! until something is due or news arrives. Apart from the core thread because it
//! never touches the store: it hears from the core only through `DialerMsg`.

use super::*;

pub(super) fn parse_addrs(s: &str) -> Vec<SocketAddr> {
    s.split(',').filter_map(|a| a.trim().parse().ok()).collect()
}

/// `first` then `rest`, without repeats, at most [`ADDRS_PER_PEER`].
pub(super) fn merge_addrs(first: &[SocketAddr], rest: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in first.iter().chain(rest) {
        if !out.contains(a) && out.len() < ADDRS_PER_PEER {
            out.push(*a);
        }
    }
    out
}

/// What the dialer hears from the core.
pub(super) enum DialerMsg {
    /// A roster member answered mDNS at these addresses.
    Discovered(NodeId, Vec<SocketAddr>),
    /// A connection to this member uses this address.
    Reached(NodeId, SocketAddr),
    /// One of our links came up, went down or changed address.
    NetworkChanged,
}

/// A peer the dialer may call.
pub(super) struct Candidate {
    /// Where to call, most promising first (last reached, then freshly discovered).
    pub(super) addrs: Vec<SocketAddr>,
    /// Configured, or reached before: called before peers only seen on the LAN.
    pub(super) known: bool,
    /// Dials since the last completed sync. Not reset by a connection that is then
    /// refused or dropped, so a peer that accepts and refuses us is called less and
    /// less often instead of every second.
    pub(super) failures: u32,
    pub(super) next: Instant,
    pub(super) dialing: bool,
    pub(super) dialed_once: bool,
}

/// Calls peers: every due candidate at once (up to [`PARALLEL_DIALS`]), each call
/// trying all of the peer's addresses together with a short timeout; per-peer
/// exponential back-off with jitter; wakes only when something is due or news
/// arrives (no polling loop).
pub(super) struct Dialer {
    pub(super) me: NodeId,
    pub(super) redial: bool,
    pub(super) peers: HashMap<NodeId, Candidate>,
}

/// Back-off after `failures` dials without a sync: 1, 2, 4 … 20 s, ±25 % so that
/// two nodes that lost each other do not call in lockstep.
pub(super) fn backoff(failures: u32) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1u32 << failures.saturating_sub(1).min(10))
        .min(MAX_BACKOFF);
    base.mul_f64(rand::random_range(0.75..1.25))
}

impl Dialer {
    pub(super) fn new(me: NodeId, redial: bool) -> Dialer {
        Dialer {
            me,
            redial,
            peers: HashMap::new(),
        }
    }

    /// Adds addresses for `peer` (after the ones it already has). New addresses
    /// make the peer due now: it may have just arrived.
    pub(super) fn add(&mut self, peer: NodeId, addrs: &[SocketAddr], known: bool) {
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
    pub(super) fn discovered(&mut self, peer: NodeId, addrs: &[SocketAddr]) {
        let had = self.peers.get(&peer).map(|c| c.addrs.clone());
        self.add(peer, addrs, false);
        if let (Some(had), Some(c)) = (had, self.peers.get_mut(&peer)) {
            let first: Vec<SocketAddr> = had.first().copied().into_iter().collect();
            c.addrs = merge_addrs(&merge_addrs(&first, addrs), &had);
        }
    }

    pub(super) fn reached(&mut self, peer: NodeId, addr: SocketAddr) {
        self.add(peer, &[addr], true);
        if let Some(c) = self.peers.get_mut(&peer) {
            c.addrs = merge_addrs(&[addr], &c.addrs);
        }
    }

    /// Peers to call now, known members first.
    pub(super) fn due(
        &mut self,
        up: &HashSet<NodeId>,
        in_flight: usize,
    ) -> Vec<(NodeId, Vec<SocketAddr>)> {
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
    pub(super) fn finished(&mut self, peer: NodeId, connected: bool) {
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
    pub(super) fn next_wake(&self, up: &HashSet<NodeId>) -> Instant {
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

    pub(super) async fn run(
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
