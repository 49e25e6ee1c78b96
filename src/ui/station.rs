//! One node as the app sees it (`Station`): its view, the per-screen state, the live
//! sync state from node events, and the jobs sent to its core thread with their
//! results. Apart from `mod.rs` (the app and its screens' frame) because this is the
//! app's only door to the node: every job and every event passes here.

use super::*;

/// Live sync state, from node events.
#[derive(Clone, Debug, Default)]
pub struct SyncState {
    pub connected: BTreeSet<NodeId>,
    /// Connected but not yet in sync: the spinner shows while this is not empty.
    pub syncing: BTreeSet<NodeId>,
    /// Last time data came in or a session reached sync, this run.
    pub last: Option<(i64, NodeId)>,
    /// Nodes mDNS found on our networks (and not yet gone): member of the commune
    /// or not, and when first found (unix s).
    pub nearby: BTreeMap<NodeId, (bool, i64)>,
    /// Sessions going on now and how far each has got.
    pub moving: BTreeMap<NodeId, Transfer>,
    /// Sessions that ended since the last view: the node has already added them to
    /// the stored trip (`View::trip`), but the screen has not seen that view yet.
    /// Cleared by each new view; each `Ended` asks for one, so a view that overtook
    /// its event (views and events come by different threads) counts a session
    /// twice only until that next view.
    pub tally: BTreeMap<NodeId, Tally>,
    /// Members found to run an older version, and when (unix s); at most
    /// [`MAX_OUTDATED_CARDS`].
    pub outdated: BTreeMap<NodeId, i64>,
    /// Members met this run that speak the previous message version (N−1): they
    /// still exchange, and need updating; when last seen so (unix s).
    pub older: BTreeMap<NodeId, i64>,
    /// When each peer last reached sync this run (unix s); older ones are in the view.
    pub synced_at: BTreeMap<NodeId, i64>,
}

/// Notes `peer` seen at `now` in a card list, keeping at most [`MAX_OUTDATED_CARDS`]:
/// the oldest goes first.
fn note_bounded(cards: &mut BTreeMap<NodeId, i64>, peer: NodeId, now: i64) {
    cards.insert(peer, now);
    while cards.len() > MAX_OUTDATED_CARDS {
        let oldest = cards.iter().min_by_key(|(_, t)| **t).map(|(p, _)| *p);
        match oldest {
            Some(p) => cards.remove(&p),
            None => break,
        };
    }
}

impl SyncState {
    /// A member runs an older version (seen at `now`). Bounded: the oldest card goes
    /// when a new one would pass [`MAX_OUTDATED_CARDS`].
    pub fn note_outdated(&mut self, peer: NodeId, now: i64) {
        note_bounded(&mut self.outdated, peer, now);
    }

    /// A member speaks the previous message version (seen at `now`), bounded like
    /// [`SyncState::note_outdated`].
    pub fn note_older(&mut self, peer: NodeId, now: i64) {
        note_bounded(&mut self.older, peer, now);
    }
}

/// What moved with one peer in sessions the view does not show yet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// Changes sent to it (what the courier brought) and received from it (took back).
    pub brought: u64,
    pub took: u64,
    pub contacts: u32,
    /// Titles of urgent notices received from it.
    pub urgent_in: Vec<String>,
}

/// A message for the footer after an action.
#[derive(Clone, Debug, PartialEq)]
pub struct Toast {
    pub ok: bool,
    pub text: String,
}

/// One node as the app shows it: its backend, its view and the state of its screens.
pub struct Station {
    pub label: Option<String>,
    /// This node's reachable addresses ("IP:PORT"), written into invites.
    pub addrs: Vec<String>,
    pub(super) backend: Backend,
    pub(super) ctx: Option<egui::Context>,
    pub(super) tx: mpsc::Sender<Msg>,
    pub(super) rx: mpsc::Receiver<Msg>,
    pub view: Option<View>,
    pub(super) refreshing: bool,
    pub(super) stale: bool,
    /// `NodeHandle::run` reports `Changed` after every job, ours included: those
    /// must not trigger another refresh, or the view would refresh forever.
    pub(super) own_changed: usize,
    pub(super) local_version: i64,
    /// A local job ran this frame: its results wait in the channel for the next.
    pub(super) local_ran: bool,
    pub sync: SyncState,
    pub screen: Option<Screen>,
    pub home: home::HomeState,
    pub ask: ask::AskState,
    pub lookup: lookup::LookupState,
    pub official: official::OfficialState,
    /// Pairing new machines (a node's handle; `None` without a node, in tests).
    pub pair: Option<crate::pair::run::PairHandle>,
    pub pairing: pairing::PairState,
    pub toast: Option<Toast>,
    pub(super) last_activity_ms: i64,
    /// When the installer was last told the screen is in use (app clock, ms).
    pub(super) activity_noted_ms: i64,
    /// A screen was just opened: its scroll area starts at the top next frame.
    pub pending_top: bool,
    /// This frame, scroll areas go back to the top (taken from `pending_top`).
    pub scroll_top: bool,
    /// The app clock at the start of this frame (ms): screens time their pauses by it.
    pub now_ms: i64,
    /// When this kiosk filed its requests (app clock, ms), for the pacing of bursts
    /// (`pacing`). Survives the idle reset: it is the kiosk's, not the resident's.
    pub requests_sent: Vec<i64>,
    /// The current streak of lookups that found nothing (app clock, ms): emptied by
    /// a lookup that finds a request and by the idle reset (`pacing`).
    pub lookup_misses: Vec<i64>,
    /// The rate a sustained flood of requests is paced to (kiosk config).
    pub requests_per_hour: u32,
    /// The hamlet from the kiosk config; else the kiosk's roster place is used.
    pub config_hamlet: Option<String>,
    /// Requests this node filed before the app started have been counted.
    pub(super) seeded_sent: bool,
    /// Reading aloud (espeak-ng), and the voice and rate from the kiosk config.
    pub speaker: speech::Speaker,
    /// What is being read aloud (a notice id, a procedure title, a code).
    pub reading: Option<String>,
    /// Read an urgent notice aloud once when it first appears (kiosk config).
    pub auto_read_urgent: bool,
    /// Urgent notices already read by themselves (this run).
    pub urgent_read: BTreeSet<DocId>,
    pub voice: String,
    pub speech_rate: u32,
}

impl Station {
    pub fn new(label: Option<String>, backend: Backend, ctx: Option<egui::Context>) -> Station {
        let (tx, rx) = mpsc::channel();
        let mut s = Station {
            label,
            addrs: Vec::new(),
            backend,
            ctx,
            tx,
            rx,
            view: None,
            refreshing: false,
            stale: false,
            own_changed: 0,
            local_version: 0,
            local_ran: false,
            sync: SyncState::default(),
            screen: None,
            home: Default::default(),
            ask: Default::default(),
            lookup: Default::default(),
            official: Default::default(),
            pair: None,
            pairing: Default::default(),
            toast: None,
            last_activity_ms: 0,
            activity_noted_ms: i64::MIN / 2,
            pending_top: true,
            scroll_top: false,
            now_ms: 0,
            requests_sent: Vec::new(),
            lookup_misses: Vec::new(),
            requests_per_hour: UiConfig::default().requests_per_hour,
            config_hamlet: None,
            seeded_sent: false,
            speaker: Default::default(),
            reading: None,
            auto_read_urgent: false,
            urgent_read: BTreeSet::new(),
            voice: UiConfig::default().voice,
            speech_rate: UiConfig::default().speech_rate,
        };
        s.refresh();
        s
    }

    /// A station on a running node, its events forwarded to the screens (and the UI
    /// woken by each) by a thread of its own: the app and tests that watch a real
    /// sync use this.
    pub fn for_node(
        label: Option<String>,
        handle: NodeHandle,
        ctx: Option<egui::Context>,
    ) -> Station {
        // Subscribe before the first job, so its `Changed` is seen and discounted.
        let mut events = handle.subscribe();
        let station = Station::new(label, Backend::Node(handle), ctx.clone());
        let tx = station.tx.clone();
        std::thread::spawn(move || {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let m = match events.blocking_recv() {
                    Ok(e) => Msg::Event(e),
                    Err(RecvError::Lagged(_)) => Msg::Lagged,
                    Err(RecvError::Closed) => break,
                };
                if tx.send(m).is_err() {
                    break;
                }
                if let Some(c) = &ctx {
                    c.request_repaint();
                }
            }
        });
        station
    }

    /// The store, when the app owns it (tests).
    pub fn local_repo(&mut self) -> Option<&mut Repo> {
        match &mut self.backend {
            Backend::Local(r) => Some(r),
            Backend::Node(_) => None,
        }
    }

    pub fn role(&self) -> Option<Role> {
        self.view.as_ref().and_then(|v| v.role)
    }

    /// Runs `job` with the store: on the core thread, or right now for a local store.
    pub(super) fn submit(
        &mut self,
        job: impl FnOnce(&mut Repo, &mpsc::Sender<Msg>) + Send + 'static,
    ) {
        match &mut self.backend {
            Backend::Local(repo) => {
                job(repo, &self.tx);
                self.local_version = repo.data_version().unwrap_or(self.local_version);
                self.local_ran = true;
            }
            Backend::Node(handle) => {
                let tx = self.tx.clone();
                let ctx = self.ctx.clone();
                self.own_changed += 1;
                handle.run(move |repo| {
                    job(repo, &tx);
                    if let Some(c) = ctx {
                        c.request_repaint();
                    }
                });
            }
        }
    }

    /// Asks for a fresh view (coalesced: one in flight at a time).
    pub fn refresh(&mut self) {
        if self.refreshing {
            self.stale = true;
            return;
        }
        self.refreshing = true;
        self.submit(|repo, tx| send_view(repo, tx));
    }

    /// Runs an action; its result comes back as `Msg::Done(tag, …)`, then a fresh view.
    pub fn act(&mut self, tag: Tag, f: impl FnOnce(&mut Repo) -> Result<String> + Send + 'static) {
        self.submit(move |repo, tx| {
            let r = f(repo).map_err(|e| format!("{e:#}"));
            let _ = tx.send(Msg::Done(tag, r));
            send_view(repo, tx);
        });
    }

    /// Handles what came back from the core and the node.
    pub(super) fn drain(&mut self, now: i64) {
        if let Backend::Local(repo) = &self.backend
            && let Ok(v) = repo.data_version()
            && v != self.local_version
        {
            // Someone else (a test, the CLI) wrote to this store.
            self.local_version = v;
            self.refresh();
        }
        while let Ok(m) = self.rx.try_recv() {
            match m {
                Msg::View(v) => {
                    // A machine that just joined (paired, USB invite) leaves the
                    // waiting screen for its role's first screen.
                    let joined = v.role.is_some()
                        && self.view.as_ref().is_some_and(|old| old.role.is_none());
                    if self.screen.is_none() || joined {
                        self.screen = Some(Screen::start(v.role));
                        self.pending_top = true;
                    }
                    self.default_hamlet(&v);
                    // The node records an ended session in the trip before it
                    // reports the end, so this view already counts what is pending.
                    self.sync.tally.clear();
                    if !self.seeded_sent {
                        self.seeded_sent = true;
                        self.seed_sent(&v);
                    }
                    self.view = Some(*v);
                    self.refreshing = false;
                    if self.stale {
                        self.stale = false;
                        self.refresh();
                    }
                }
                Msg::Done(Tag::Refresh, r) => {
                    self.refreshing = false;
                    if let Err(e) = r {
                        tracing::warn!("cannot read the store for the screen: {e}");
                        self.toast = Some(Toast { ok: false, text: e });
                    }
                }
                Msg::Done(tag, r) => self.on_done(tag, r),
                Msg::Event(e) => self.on_event(e, now),
                Msg::Lagged => self.refresh(),
            }
        }
        // Who is connected comes from the node itself: events seen since this
        // station subscribed miss the peers that connected before.
        if let Backend::Node(handle) = &self.backend {
            self.sync.connected = handle.connected_peers().into_iter().collect();
            let connected = &self.sync.connected;
            self.sync.syncing.retain(|p| connected.contains(p));
            // A session's end may be lost if the events lagged: a peer no longer
            // connected is not "exchanging now" whatever its last progress said.
            self.sync.moving.retain(|p, _| connected.contains(p));
        }
    }

    /// The hamlet the form starts with: the kiosk config's `ui.hamlet`, else the
    /// place the office gave this kiosk in the roster.
    pub(super) fn default_hamlet(&mut self, v: &View) {
        let roster_place =
            v.me.and_then(|me| v.roster.member(&me))
                .filter(|m| m.role == Role::Kiosk)
                .map(|m| m.place.trim().to_string())
                .filter(|p| !p.is_empty());
        let Some(d) = self.config_hamlet.clone().or(roster_place) else {
            return;
        };
        if self.ask.default_hamlet != d {
            if self.ask.hamlet == self.ask.default_hamlet {
                self.ask.hamlet = d.clone();
            }
            self.ask.default_hamlet = d;
        }
    }

    /// Counts the requests this node filed in the hour before the app started,
    /// so restarting the kiosk does not reset its pacing.
    pub(super) fn seed_sent(&mut self, v: &View) {
        let now = self.now_ms / 1000;
        for r in &v.requests {
            if r.created_by.is_some()
                && r.created_by == v.me
                && (now - 3600..=now + 60).contains(&r.created_at)
            {
                self.requests_sent.push(r.created_at * 1000);
            }
        }
    }

    pub(super) fn on_event(&mut self, e: NodeEvent, now: i64) {
        match e {
            NodeEvent::Changed => {
                if self.own_changed > 0 {
                    self.own_changed -= 1;
                } else {
                    self.refresh();
                }
            }
            NodeEvent::Connected { peer } => {
                self.sync.connected.insert(peer);
                self.sync.syncing.insert(peer);
            }
            NodeEvent::Received { peer, .. } => {
                self.sync.last = Some((now, peer));
            }
            NodeEvent::Synced { peer, .. } => {
                self.sync.syncing.remove(&peer);
                self.sync.last = Some((now, peer));
                self.sync.synced_at.insert(peer, now);
            }
            NodeEvent::Closed { peer, .. } | NodeEvent::Refused { peer, .. } => {
                self.sync.connected.remove(&peer);
                self.sync.syncing.remove(&peer);
            }
            NodeEvent::Started { .. } => {}
            NodeEvent::Nearby { peer, member } => {
                self.sync.nearby.entry(peer).or_insert((member, now)).0 = member;
            }
            NodeEvent::Gone { peer } => {
                self.sync.nearby.remove(&peer);
            }
            NodeEvent::Progress { peer, progress } => {
                // A peer we exchange with speaks our version or the one before.
                self.sync.outdated.remove(&peer);
                if progress.peer_older {
                    self.sync.note_older(peer, now);
                } else {
                    self.sync.older.remove(&peer);
                }
                if progress.synced {
                    self.sync.synced_at.insert(peer, now);
                }
                self.sync.moving.insert(peer, progress);
            }
            NodeEvent::Ended { peer, report, .. } => {
                let t = self.sync.tally.entry(peer).or_default();
                t.brought += report.changes_sent;
                t.took += report.changes_received;
                t.contacts += 1;
                if let Some(p) = self.sync.moving.remove(&peer) {
                    for u in p.urgent_received {
                        if !t.urgent_in.contains(&u) {
                            t.urgent_in.push(u);
                        }
                    }
                }
                // The stored trip has it now: a fresh view replaces the pending tally.
                self.refresh();
            }
            NodeEvent::Outdated { peer, .. } => self.sync.note_outdated(peer, now),
        }
    }

    pub(super) fn on_done(&mut self, tag: Tag, r: Result<String, String>) {
        match tag {
            Tag::Submit => {
                if r.is_ok() {
                    self.requests_sent.push(self.now_ms);
                }
                self.ask.on_done(r, self.now_ms)
            }
            Tag::PostNotice
            | Tag::EditNotice
            | Tag::Withdraw
            | Tag::Answer
            | Tag::Revoke
            | Tag::MarkJunk => {
                if r.is_ok() {
                    self.official.on_saved(tag);
                }
                self.toast = Some(toast(r));
            }
            Tag::Enrol => {
                if let Ok(invite) = &r {
                    self.official.invite = Some(invite.clone());
                }
                self.toast = Some(toast(r.map(|_| String::new())));
            }
            Tag::Pairing(job) => self.pairing.on_done(job, r),
            Tag::NewTrip | Tag::ApproveRelease | Tag::WithdrawRelease => {
                self.toast = Some(toast(r.map(|_| String::new())));
            }
            Tag::Refresh => {}
        }
    }

    /// Back to the start screen, typed input forgotten (idle kiosk).
    pub fn reset(&mut self) {
        self.speaker.stop();
        self.screen = Some(Screen::start(self.role()));
        self.home = Default::default();
        self.ask.clear();
        self.lookup = Default::default();
        self.lookup_misses.clear();
        self.toast = None;
        self.pending_top = true;
    }

    pub(super) fn go(&mut self, screen: Screen) {
        if self.screen.as_ref() != Some(&screen) {
            self.toast = None;
            self.pending_top = true;
            // The ask form opens with the field being typed into in sight.
            self.ask.in_sight = None;
        }
        self.screen = Some(screen);
    }

    /// The name of this station on the demo bar, in the shown language: its role
    /// (and a kiosk's hamlet) once its view is known, the demo's label before.
    pub fn demo_label(&self, lang: Lang) -> String {
        let Some(v) = &self.view else {
            return self.label.clone().unwrap_or_default();
        };
        match v.role {
            Some(Role::Official) => lang.t(S::DemoOffice).to_string(),
            Some(Role::Courier) => lang.t(S::DemoCourier).to_string(),
            Some(Role::Kiosk) => {
                let place =
                    v.me.and_then(|me| v.roster.member(&me))
                        .map(|m| m.place.clone())
                        .unwrap_or_default();
                let place = place.strip_prefix("Thôn ").unwrap_or(&place).to_string();
                lang.fill(S::DemoKiosk, &[&place])
            }
            None => self.label.clone().unwrap_or_default(),
        }
    }
}

pub(super) fn send_view(repo: &Repo, tx: &mpsc::Sender<Msg>) {
    match build_view(repo) {
        Ok(v) => {
            let _ = tx.send(Msg::View(Box::new(v)));
        }
        Err(e) => {
            let _ = tx.send(Msg::Done(Tag::Refresh, Err(format!("{e:#}"))));
        }
    }
}

pub(super) fn toast(r: Result<String, String>) -> Toast {
    if let Err(e) = &r {
        tracing::warn!("action failed: {e}");
    }
    match r {
        Ok(_) => Toast {
            ok: true,
            text: String::new(),
        },
        Err(e) => Toast { ok: false, text: e },
    }
}

#[cfg(test)]
mod outdated_cards {
    use super::*;

    /// However many peers are reported outdated, the screen keeps the newest few.
    #[test]
    fn update_cards_are_capped_and_keep_the_newest() {
        let mut st = SyncState::default();
        let peers: Vec<NodeId> = (0..100u8).map(|i| NodeId([i; 32])).collect();
        for (t, p) in peers.iter().enumerate() {
            st.note_outdated(*p, t as i64);
        }
        assert_eq!(st.outdated.len(), MAX_OUTDATED_CARDS);
        assert!(st.outdated.contains_key(&peers[99]));
        assert!(!st.outdated.contains_key(&peers[0]));
    }
}
