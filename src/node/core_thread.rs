//! The core thread: the one owner of the store and of every sync session. It admits
//! peers (members only; probation for strangers, bounded), feeds sessions their
//! messages, flushes what they send, fans local news out, records clocks, contacts
//! and the trip, and reports to screens. Apart from `mod.rs` (the node's types and
//! start-up) because this is where "why did this peer get disconnected?" is read.

use super::*;

/// How often the node tells the installer it runs: the installer's health window
/// (`HEALTHY_AFTER` in update.conf) is counted in these steps.
const RUNNING_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) struct Conn {
    pub(super) link: Link,
    pub(super) closer: mpsc::UnboundedSender<()>,
    pub(super) session: Session,
    pub(super) started: Instant,
    /// When the last progress event went out, and whether there is news since.
    pub(super) progress_at: Option<Instant>,
    pub(super) progress_dirty: bool,
    /// Titles of urgent notices that arrived in this contact, for its log line.
    pub(super) urgent_in: Vec<String>,
    /// Our wall clock when our `Hello` went out (ms), for the peer's clock offset;
    /// `None` once the offset was recorded.
    pub(super) hello_at_ms: Option<i64>,
    /// How fast the peer acknowledges our batches: sets the session's window.
    pub(super) meter: crate::sync::window::AckMeter,
}

impl Conn {
    /// Microseconds since the connection came up (the meter's clock).
    pub(super) fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }
}

pub(super) struct Core {
    pub(super) repo: Repo,
    pub(super) me: NodeId,
    pub(super) conns: HashMap<u64, Conn>,
    pub(super) by_peer: HashMap<NodeId, u64>,
    /// Nodes mDNS reports on our networks now (for `Nearby` / `Gone`).
    pub(super) nearby: HashSet<NodeId>,
    pub(super) events: broadcast::Sender<NodeEvent>,
    pub(super) connected: Arc<Mutex<HashSet<NodeId>>>,
    pub(super) dialer: mpsc::UnboundedSender<DialerMsg>,
    pub(super) data_version: i64,
    /// When this node started (uptime, for the health report).
    pub(super) started: Instant,
    /// When the health report was last considered (see `Core::health`).
    pub(super) health_checked: Option<Instant>,
    /// When the installer was last told this node runs (`Repo::note_running`).
    pub(super) running_noted: Option<Instant>,
    /// Unknown peers turned away for [`MAX_UNKNOWN`] since the last log line about
    /// them, and when that line was written (a crowd must not flood the log).
    pub(super) crowd: (u64, Option<Instant>),
    /// `NodeOptions::speak_version`.
    pub(super) speak_version: Option<u16>,
}

impl Conn {
    pub(super) fn report(&self) -> SyncReport {
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

    pub(super) fn transfer(&self) -> Transfer {
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
            // For members only: any stranger could say it is old and fill the
            // screen with cards (as for `Outdated`).
            peer_older: !self.session.is_restricted()
                && self
                    .session
                    .peer_version()
                    .is_some_and(|v| v < crate::sync::wire::VERSION),
        }
    }
}

impl Core {
    /// `Ok(true)`: a member; `Ok(false)`: unknown to our roster, may prove
    /// membership with roster changes (restricted session); `Err`: refuse.
    pub(super) fn admission(&self, peer: &NodeId) -> Result<bool, String> {
        match self.authorized(peer) {
            Ok(()) => Ok(true),
            Err(e) if e == NOT_MEMBER => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub(super) fn authorized(&self, peer: &NodeId) -> Result<(), String> {
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
    pub(super) fn remember_addr(&mut self, peer: &NodeId, addr: SocketAddr) {
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

    pub(super) fn emit(&self, e: NodeEvent) {
        let _ = self.events.send(e);
    }

    pub(super) fn on_connected(&mut self, id: u64, link: Link, closer: mpsc::UnboundedSender<()>) {
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
        // A fresh nonce per session keys every fingerprint the session sends; it is
        // marked as ours, so a peer playing back our `Hello` of an earlier session
        // is refused (`sync::own_nonce`).
        let nonce_key = self.repo.identity().nonce_key();
        let nonce = crate::sync::own_nonce(&nonce_key, rand::random());
        let mut session = Session::new(self.me, peer, commune, nonce);
        session.recognise_own_nonces(nonce_key);
        if let Some(v) = self.speak_version {
            session.speak_version(v);
        }
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
    pub(super) fn turn_away_crowd(&mut self, peer: &NodeId, unknown: usize) {
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

    pub(super) fn on_message(&mut self, id: u64, msg: Msg, frame_len: usize) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let peer = conn.link.peer;
        if msg == Msg::Ack {
            // The window follows the rate at which the peer commits our batches.
            let now = conn.now_us();
            conn.session.set_window(conn.meter.acked(now));
        }
        conn.session.note_frame(frame_len);
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
    pub(super) fn note_clock(&mut self, id: u64) {
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
        if let Some(v) = conn.session.peer_version()
            && v < crate::sync::wire::VERSION
        {
            tracing::warn!(
                peer = %peer.short(),
                "peer runs an older Cổng Làng (sync version {v}, this node {}): exchanging what both read; the peer needs updating",
                crate::sync::wire::VERSION
            );
        }
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
    /// Tells the installer's health check after an update that this node is up, and
    /// since when (every [`RUNNING_EVERY`]).
    pub(super) fn note_running(&mut self) {
        self.running_noted = Some(Instant::now());
        if let Err(e) = self.repo.note_running(self.started.elapsed()) {
            tracing::warn!("cannot tell the installer this node is running: {e:#}");
        }
    }

    pub(super) fn health(&mut self) {
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
    pub(super) fn flush(&mut self, id: u64) {
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
    pub(super) fn enforce_roster(&mut self) {
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
    pub(super) fn news(&mut self, except: Option<u64>) {
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
    pub(super) fn log_contact(&self, c: &Conn, reason: &str) {
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

    pub(super) fn drop_conn(&mut self, id: u64, reason: &str) {
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
            if member && report.changes_received > 0 {
                self.stage_updates();
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

    /// Puts a complete, checked release meant for this node where the installer takes
    /// it (`Repo::stage_releases`), after a contact or an import brought data.
    pub(super) fn stage_updates(&mut self) {
        match self.repo.stage_releases() {
            Ok(staged) => {
                for s in staged {
                    tracing::info!(version = %s.version, path = %s.path.display(), "software update ready to install");
                }
            }
            Err(e) => tracing::warn!("cannot put the software update in place: {e:#}"),
        }
    }

    /// Progress that the throttle held back, now that the session went quiet.
    pub(super) fn late_progress(&mut self) {
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

    pub(super) fn tick(&mut self) {
        if self
            .running_noted
            .is_none_or(|t| t.elapsed() >= RUNNING_EVERY)
        {
            self.note_running();
        }
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
            self.stage_updates();
            self.emit(NodeEvent::Changed);
            self.enforce_roster();
            self.news(None);
        }
        self.late_progress();
    }

    pub(super) fn handle(&mut self, msg: CoreMsg) -> bool {
        match msg {
            CoreMsg::Net(id, NetEvent::Connected(link, closer)) => {
                self.on_connected(id, link, closer)
            }
            CoreMsg::Net(_, NetEvent::Message(_, id, m, _permit, len)) => {
                self.on_message(id, *m, len)
            }
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
