//! The egui app: the resident kiosk, the official console and the courier view.
//!
//! The UI never touches SQLite on its own thread. Everything it shows comes from a
//! [`View`] built on the node's core thread (`NodeHandle::run`) and sent back over a
//! channel; everything it does (post a notice, file a request, answer…) is a job sent
//! the same way, whose result comes back as a message. The app only drains that
//! channel each frame, so a slow disk or a big sync never freezes a kiosk.
//!
//! For tests the same app runs on a [`Backend::Local`]: it owns a `Repo` and runs
//! the very same jobs immediately, so kittest drives the real screens on a real
//! store without a window, a tokio runtime or iroh. Time comes from a [`Clock`] that
//! tests can set and advance, so idle timeouts and snapshots are deterministic.
//!
//! Screens live one per file; each has a `show` function taking the [`Station`]
//! (one node's view and per-screen state) and the language. `demo` mode runs several
//! nodes in one process and the bar on top switches which one is shown.

pub mod ask;
pub mod courier;
pub mod dates;
pub mod exchange;
pub mod fleet;
pub mod home;
pub mod i18n;
pub mod icons;
pub mod keyboard;
pub mod lookup;
pub mod notice_detail;
pub mod official;
pub mod pairing;
pub mod procedures;
pub mod speech;
pub mod suggest;
pub mod telex;
pub mod widgets;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use egui::{Color32, RichText, vec2};

use crate::config::{Config, PeerAddr, UiConfig};
use crate::identity::NodeId;
use crate::model::{DocId, Notice, Procedure, Receipt, Request, Role, Roster};
use crate::node::{BackgroundNode, NetConfig, NodeEvent, NodeHandle, NodeOptions, Transfer};
use crate::repo::{Reach, Repo};
use i18n::{Lang, S};

pub struct AppOptions {
    pub data_dir: PathBuf,
    pub config: Config,
    pub demo: Option<crate::demo::Demo>,
}

// ---- time -------------------------------------------------------------------

/// Where the app gets the time. `System` in the field; tests use a manual clock so
/// they can jump past the idle timeout instead of sleeping, and so screenshots show
/// the same "now" on every run.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }
    /// A clock stopped at `unix` seconds; it moves only by [`Clock::advance`].
    pub fn manual(unix: i64) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(unix * 1000))),
        }
    }
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(t) => t.load(Ordering::Relaxed),
            None => crate::clock::now_ms(),
        }
    }
    /// Unix seconds.
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
    /// Moves a manual clock forward; the system clock moves by itself.
    pub fn advance(&self, d: Duration) {
        if let Some(t) = &self.manual {
            t.fetch_add(d.as_millis() as i64, Ordering::Relaxed);
        }
    }
}

// ---- the view-model -----------------------------------------------------------

/// Everything a screen shows, read in one go on the core thread.
#[derive(Clone, Debug, Default)]
pub struct View {
    pub me: Option<NodeId>,
    pub role: Option<Role>,
    pub commune: String,
    /// Every notice, newest first (withdrawn and expired included: the console
    /// shows them, resident screens filter with `Notice::is_live`).
    pub notices: Vec<Notice>,
    pub procedures: Vec<Procedure>,
    /// Newest first.
    pub requests: Vec<Request>,
    /// Tracking code → contact in clear (officials only; masked or absent otherwise).
    pub contacts: BTreeMap<String, Option<String>>,
    pub roster: Roster,
    pub receipts: Vec<(NodeId, Receipt)>,
    /// Notice → who reported holding it (officials and couriers only).
    pub reach: BTreeMap<DocId, Vec<Reach>>,
    /// Last successful sync with any peer, from the store (survives restarts).
    pub last_synced: Option<(i64, NodeId)>,
    /// Last successful sync with each peer, from the store (survives restarts).
    pub synced_with: BTreeMap<NodeId, i64>,
    /// Keys caught equivocating (flagged to officials on the devices screen).
    pub equivocators: Vec<NodeId>,
    /// Changes set aside in quarantine (shown to officials on the devices screen).
    pub quarantined: i64,
    /// Health reports, this node's clock estimate and contacts (`fleet`).
    pub fleet: fleet::FleetData,
    /// What moved with each peer on the courier's current trip (survives restarts).
    pub trip: crate::repo::Trip,
}

impl View {
    /// A roster member's display name, or the short node id.
    pub fn member_name(&self, node: &NodeId) -> String {
        self.roster
            .member(node)
            .map(|m| m.name.clone())
            .unwrap_or_else(|| node.short())
    }
    pub fn my_name(&self) -> String {
        self.me.map(|m| self.member_name(&m)).unwrap_or_default()
    }
    /// Notices a resident should see at `now` (the corrected time), newest first.
    /// An urgent notice still valid by this machine's own clock stays up whatever
    /// the correction says: a clock estimate can be fooled, a storm warning hidden
    /// by it costs more than an expired one shown a little longer.
    pub fn live_notices(&self, now: i64) -> impl Iterator<Item = &Notice> {
        let raw = now.saturating_sub(self.fleet.clock.correction());
        self.notices
            .iter()
            .filter(move |n| n.is_live(now) || (n.urgent && n.is_live(raw)))
    }
    /// Hamlets known to the commune: kiosk places first, then those named on notices.
    pub fn hamlets(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |h: &str| {
            let h = h.trim();
            if !h.is_empty() && !out.iter().any(|x| x == h) {
                out.push(h.to_string());
            }
        };
        for m in self.roster.members.values() {
            if m.role == Role::Kiosk && m.revoked.is_none() {
                push(&m.place);
            }
        }
        for r in &self.requests {
            push(&r.hamlet);
        }
        // Members are keyed by node id (random): sort so the order stays put.
        out.sort();
        out
    }
}

/// Reads the view-model. Runs on the core thread (or inline for `Backend::Local`).
pub fn build_view(repo: &Repo) -> Result<View> {
    let me = repo.node_id();
    let roster = repo.roster()?;
    let role = roster.active_role(&me);
    let mut notices = repo.notices()?;
    // Ties broken by title so two notices posted in the same second keep one order.
    notices.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| a.title.cmp(&b.title))
    });
    let mut requests = repo.requests()?;
    requests.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| a.code.cmp(&b.code))
    });
    let mut contacts = BTreeMap::new();
    let mut reach = BTreeMap::new();
    if role == Some(Role::Official) {
        for r in &requests {
            contacts.insert(r.code.clone(), repo.request_contact(r)?);
        }
    }
    if matches!(role, Some(Role::Official | Role::Courier)) {
        for n in &notices {
            reach.insert(n.id.clone(), repo.reach(&n.id)?);
        }
    }
    let fleet = fleet::read(repo)?;
    fleet::correct_reach(&mut reach, &fleet);
    let synced_with: BTreeMap<NodeId, i64> = repo
        .peers()?
        .into_iter()
        .filter_map(|p| Some((p.node, p.last_synced?)))
        .collect();
    let last_synced = synced_with.iter().map(|(n, t)| (*t, *n)).max();
    Ok(View {
        me: Some(me),
        role,
        commune: repo.commune_name()?.unwrap_or_default(),
        notices,
        procedures: repo.procedures()?,
        requests,
        contacts,
        receipts: repo.receipts()?,
        roster,
        reach,
        last_synced,
        synced_with,
        equivocators: repo.equivocators()?,
        quarantined: repo.store().read().quarantine_count()?,
        fleet,
        trip: repo.trip()?,
    })
}

// ---- backends and messages -------------------------------------------------------

/// Where jobs run.
pub enum Backend {
    /// A running node: jobs go to its core thread.
    Node(NodeHandle),
    /// A store owned by the app: jobs run at once on the UI thread (tests).
    Local(Box<Repo>),
}

/// What an action was, so its result lands on the right screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    Submit,
    PostNotice,
    EditNotice,
    Withdraw,
    Answer,
    Enrol,
    Revoke,
    MarkJunk,
    Refresh,
    /// Pairing's USB jobs (the network part reports through `PairHandle`).
    Pairing(pairing::Job),
    /// The courier starts a new trip (exchange screen).
    NewTrip,
}

enum Msg {
    View(Box<View>),
    Done(Tag, Result<String, String>),
    Event(NodeEvent),
    Lagged,
}

/// Which screen is shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    Home,
    Notice(DocId),
    Procedures,
    Ask,
    Lookup,
    ManageNotices,
    Inbox,
    Roster,
    /// Who is nearby, what is moving, "up to date with X at 10:42"; for couriers
    /// (their start screen) and officials also which villages are behind.
    Exchange,
}

impl Screen {
    /// Where a node of this role starts, and where an idle kiosk returns.
    pub fn start(role: Option<Role>) -> Screen {
        match role {
            Some(Role::Official) => Screen::ManageNotices,
            Some(Role::Courier) => Screen::Exchange,
            _ => Screen::Home,
        }
    }
}

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
    /// When each peer last reached sync this run (unix s); older ones are in the view.
    pub synced_at: BTreeMap<NodeId, i64>,
}

impl SyncState {
    /// A member runs an older version (seen at `now`). Bounded: the oldest card goes
    /// when a new one would pass [`MAX_OUTDATED_CARDS`].
    pub fn note_outdated(&mut self, peer: NodeId, now: i64) {
        self.outdated.insert(peer, now);
        while self.outdated.len() > MAX_OUTDATED_CARDS {
            let oldest = self
                .outdated
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(p, _)| *p);
            match oldest {
                Some(p) => self.outdated.remove(&p),
                None => break,
            };
        }
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
    backend: Backend,
    ctx: Option<egui::Context>,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    pub view: Option<View>,
    refreshing: bool,
    stale: bool,
    /// `NodeHandle::run` reports `Changed` after every job, ours included: those
    /// must not trigger another refresh, or the view would refresh forever.
    own_changed: usize,
    local_version: i64,
    /// A local job ran this frame: its results wait in the channel for the next.
    local_ran: bool,
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
    last_activity_ms: i64,
    /// A screen was just opened: its scroll area starts at the top next frame.
    pub pending_top: bool,
    /// This frame, scroll areas go back to the top (taken from `pending_top`).
    pub scroll_top: bool,
    /// The app clock at the start of this frame (ms): screens time their pauses by it.
    pub now_ms: i64,
    /// When this kiosk filed its requests (app clock, ms), for the hourly cap.
    /// Survives the idle reset: it is the kiosk's, not the resident's.
    pub requests_sent: Vec<i64>,
    /// When lookups found nothing (app clock, ms), for the lookup throttle.
    pub lookup_misses: Vec<i64>,
    /// Most requests in any hour (kiosk config).
    pub requests_per_hour: u32,
    /// The hamlet from the kiosk config; else the kiosk's roster place is used.
    pub config_hamlet: Option<String>,
    /// Requests this node filed before the app started have been counted.
    seeded_sent: bool,
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
    fn submit(&mut self, job: impl FnOnce(&mut Repo, &mpsc::Sender<Msg>) + Send + 'static) {
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
    fn drain(&mut self, now: i64) {
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
    fn default_hamlet(&mut self, v: &View) {
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
    /// so restarting the kiosk does not reset its hourly cap.
    fn seed_sent(&mut self, v: &View) {
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

    fn on_event(&mut self, e: NodeEvent, now: i64) {
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
                // A peer we exchange with runs our version, whatever it ran before.
                self.sync.outdated.remove(&peer);
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

    fn on_done(&mut self, tag: Tag, r: Result<String, String>) {
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
            Tag::NewTrip => {
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
        self.toast = None;
        self.pending_top = true;
    }

    fn go(&mut self, screen: Screen) {
        if self.screen.as_ref() != Some(&screen) {
            self.toast = None;
            self.pending_top = true;
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

fn send_view(repo: &Repo, tx: &mpsc::Sender<Msg>) {
    match build_view(repo) {
        Ok(v) => {
            let _ = tx.send(Msg::View(Box::new(v)));
        }
        Err(e) => {
            let _ = tx.send(Msg::Done(Tag::Refresh, Err(format!("{e:#}"))));
        }
    }
}

fn toast(r: Result<String, String>) -> Toast {
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

// ---- the app -------------------------------------------------------------------

pub struct KioskApp {
    pub stations: Vec<Station>,
    pub active: usize,
    pub lang: Lang,
    pub clock: Clock,
    pub ui_config: UiConfig,
    /// The zoom the window started with (the config's), restored by the idle reset.
    home_zoom: Option<f32>,
}

impl KioskApp {
    pub fn new(stations: Vec<Station>, ui_config: UiConfig, clock: Clock) -> KioskApp {
        let now = clock.now_ms();
        let mut app = KioskApp {
            stations,
            active: 0,
            lang: if ui_config.english {
                Lang::En
            } else {
                Lang::Vi
            },
            clock,
            ui_config,
            home_zoom: None,
        };
        for s in &mut app.stations {
            s.last_activity_ms = now;
            s.now_ms = now;
            s.requests_per_hour = app.ui_config.requests_per_hour;
            s.config_hamlet = app.ui_config.hamlet.clone();
            s.voice = app.ui_config.voice.clone();
            s.speech_rate = app.ui_config.speech_rate;
            s.auto_read_urgent = app.ui_config.read_urgent_aloud;
        }
        app
    }

    /// The language the config asks for: where an idle kiosk returns.
    pub fn home_lang(&self) -> Lang {
        if self.ui_config.english {
            Lang::En
        } else {
            Lang::Vi
        }
    }

    /// An app on a store in `repo_dir`, no network, no window: what tests drive.
    pub fn new_for_test(repo_dir: &Path, clock: Clock) -> Result<KioskApp> {
        Self::new_for_test_with(repo_dir, clock, UiConfig::default())
    }

    /// [`Self::new_for_test`] with a kiosk config's `[ui]` section.
    pub fn new_for_test_with(repo_dir: &Path, clock: Clock, ui: UiConfig) -> Result<KioskApp> {
        let repo = Repo::open(repo_dir)?;
        Ok(KioskApp::new(
            vec![Station::new(None, Backend::Local(Box::new(repo)), None)],
            ui,
            clock,
        ))
    }

    /// Is the shown station a public kiosk? Then no shortcut, window action or
    /// clipboard works: a keyboard plugged into a village-hall kiosk types into the
    /// focused field and does nothing else. The console and the courier view keep
    /// egui's shortcuts.
    pub fn locked(&self) -> bool {
        let st = &self.stations[self.active];
        // A machine waiting to join is usually a kiosk already standing in its hall.
        let waiting =
            self.stations.len() == 1 && st.view.as_ref().is_some_and(|v| v.role.is_none());
        st.role() == Some(Role::Kiosk) || waiting
    }

    /// Applies the kiosk lock for this frame: drops shortcut, clipboard and zoom
    /// events before any widget sees them, turns off egui's own quit and zoom keys,
    /// and refuses the window's close request (Alt+F4, the window manager's close
    /// button) — except in the demo, which is a window on a desktop.
    fn lock_down(&mut self, ctx: &egui::Context) {
        let locked = self.locked();
        ctx.options_mut(|o| {
            if locked {
                o.quit_shortcuts.clear();
                o.zoom_with_keyboard = false;
            } else {
                let d = egui::Options::default();
                o.quit_shortcuts = d.quit_shortcuts;
                o.zoom_with_keyboard = d.zoom_with_keyboard;
            }
        });
        if !locked {
            return;
        }
        // Typed characters no font can draw (emoji, CJK…) never reach a field:
        // they would show as empty boxes on every screen the text travels to.
        let font = egui::FontId::proportional(20.0);
        let mut dropped = false;
        let events = ctx.input(|i| i.events.clone());
        let events: Vec<egui::Event> = events
            .into_iter()
            .map(|e| match e {
                egui::Event::Text(t) => {
                    let kept: String = ctx.fonts_mut(|f| {
                        crate::model::text::strip_bidi(&t)
                            .chars()
                            .filter(|c| c.is_whitespace() || f.has_glyph(&font, *c))
                            .collect()
                    });
                    dropped |= kept != t;
                    egui::Event::Text(kept)
                }
                e => e,
            })
            .collect();
        if dropped {
            self.stations[self.active].ask.unsupported_typed = true;
        }
        ctx.input_mut(|i| {
            i.events = events;
            i.events.retain(|e| match e {
                // Copying one resident's phone number for the next to paste: no.
                egui::Event::Copy | egui::Event::Cut | egui::Event::Paste(_) => false,
                egui::Event::Zoom(_) => false,
                egui::Event::Key { modifiers, .. } => {
                    !(modifiers.ctrl || modifiers.command || modifiers.alt || modifiers.mac_cmd)
                }
                _ => true,
            })
        });
        if self.stations.len() == 1 && ctx.input(|i| i.viewport().close_requested()) {
            tracing::info!("kiosk: refused a request to close the window");
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
        }
    }

    pub fn station(&mut self) -> &mut Station {
        &mut self.stations[self.active]
    }

    /// The store of the shown station, for tests.
    pub fn local_repo(&mut self) -> Option<&mut Repo> {
        self.station().local_repo()
    }

    /// Draws one frame.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let now_ms = self.clock.now_ms();
        let now = now_ms.div_euclid(1000);
        if self.home_zoom.is_none() {
            self.home_zoom = Some(ctx.zoom_factor());
        }
        for s in &mut self.stations {
            s.now_ms = now_ms;
            s.drain(now);
        }
        self.lock_down(&ctx);
        self.idle(&ctx, now_ms);
        let lang = self.lang;
        let demo = self.stations.len() > 1;

        widgets::settled_panel(ui, egui::Panel::top("header"), "header", |ui| {
            ui.spacing_mut().item_spacing.y = 4.0;
            ui.add_space(4.0);
            if demo {
                self.demo_bar(ui, lang);
            }
            self.header(ui);
            ui.add_space(2.0);
        });
        let st = &mut self.stations[self.active];
        // While a resident types, the keyboard takes the bottom of the screen and
        // every line above it goes to the form: no footer then.
        let typing = st.role() == Some(Role::Kiosk)
            && match st.screen {
                Some(Screen::Ask) => st.ask.sent_code.is_none(),
                Some(Screen::Lookup) => !st.lookup.keyboard_hidden,
                _ => false,
            };
        if !typing {
            widgets::settled_panel(ui, egui::Panel::bottom("footer"), "footer", |ui| {
                footer(ui, st, lang)
            });
        }
        // The on-screen keyboard is a panel of the window, declared before the
        // central panel: egui then gives it its full height first, and the screen
        // above gets what is left (and scrolls), so nothing is drawn over the keys.
        if st.view.as_ref().is_some_and(|v| v.role.is_some()) {
            match st.screen {
                Some(Screen::Ask) => ask::keyboard_panel(ui, st, lang),
                Some(Screen::Lookup) => lookup::keyboard_panel(ui, st, lang),
                _ => {}
            }
        }
        st.scroll_top = std::mem::take(&mut st.pending_top);
        let clock = self.clock.clone();
        egui::CentralPanel::default().show(ui, |ui| {
            let Some(view) = st.view.clone() else {
                ui.label(lang.t(S::Loading));
                return;
            };
            if view.role.is_none() {
                pairing::waiting(ui, st, &view, lang);
                return;
            }
            let screen = st.screen.clone().unwrap_or(Screen::Home);
            // A clock its peers say is wrong is corrected by them: notice expiry and
            // every "when" on screen follow the commune's time, not a dead battery's.
            let now = clock.now() + view.fleet.clock.correction();
            match screen {
                Screen::Home => home::show(ui, st, &view, lang, now),
                Screen::Notice(id) => notice_detail::show(ui, st, &view, lang, &id),
                Screen::Procedures => procedures::show(ui, st, &view, lang),
                Screen::Ask => ask::show(ui, st, &view, lang),
                Screen::Lookup => lookup::show(ui, st, &view, lang),
                Screen::ManageNotices | Screen::Inbox | Screen::Roster => {
                    if view.role == Some(Role::Official) {
                        official::show(ui, st, &view, lang, &screen, now)
                    }
                }
                Screen::Exchange => exchange::show(ui, st, &view, lang, now),
            }
        });
        // The office looks for new machines only while its devices screen is up.
        if let Some(p) = &st.pair
            && st.role() == Some(Role::Official)
            && st.screen != Some(Screen::Roster)
        {
            p.set_scanning(false);
        }
        // A member (joined by pairing, a USB invite or `conglang join`) waits no more.
        if let Some(p) = &st.pair
            && st.role().is_some()
        {
            p.set_waiting(false);
        }
        for s in &mut self.stations {
            if std::mem::take(&mut s.local_ran) {
                ctx.request_repaint();
            }
        }
    }

    /// "View as:" and one button per node of the demo, on one compact row: it is
    /// for whoever shows the demo, not for residents.
    fn demo_bar(&mut self, ui: &mut egui::Ui, lang: Lang) {
        ui.horizontal(|ui| {
            ui.spacing_mut().item_spacing.x = 6.0;
            ui.spacing_mut().button_padding = vec2(8.0, 4.0);
            ui.label(RichText::new(lang.t(S::ViewAs)).size(16.0));
            let n = self.stations.len();
            let each = ((ui.available_width() - 6.0 * n as f32) / n as f32).max(60.0);
            for i in 0..n {
                let label = self.stations[i].demo_label(lang);
                let b = egui::Button::selectable(i == self.active, RichText::new(label).size(16.0))
                    .frame_when_inactive(true)
                    .truncate()
                    .min_size(vec2(0.0, 36.0));
                if ui.add_sized(vec2(each.min(220.0), 36.0), b).clicked() && i != self.active {
                    self.active = i;
                    self.stations[i].pending_top = true;
                }
            }
        });
    }

    /// The navigation row, with the language button on the right. The commune's
    /// name lives in the footer: on a small kiosk screen every line of height goes
    /// to the form and the keyboard.
    fn header(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        ui.horizontal(|ui| {
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if widgets::nav_button(ui, false, lang.t(S::SwitchLanguage)).clicked() {
                    self.lang = lang.other();
                }
                ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                    self.tabs(ui, lang);
                });
            });
        });
    }

    fn tabs(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let st = &mut self.stations[self.active];
        let role = st.role();
        let Some(role) = role else {
            return;
        };
        let tabs: &[(S, Screen)] = match role {
            Role::Kiosk => &[
                (S::NavNotices, Screen::Home),
                (S::NavProcedures, Screen::Procedures),
                (S::NavAsk, Screen::Ask),
                (S::NavLookup, Screen::Lookup),
                (S::NavExchange, Screen::Exchange),
            ],
            Role::Official => &[
                (S::NavManageNotices, Screen::ManageNotices),
                (S::NavInbox, Screen::Inbox),
                (S::NavRoster, Screen::Roster),
                (S::NavExchange, Screen::Exchange),
            ],
            Role::Courier => &[
                (S::NavExchange, Screen::Exchange),
                (S::NavNotices, Screen::Home),
                (S::NavProcedures, Screen::Procedures),
            ],
        };
        // Wrapped: a portrait-mounted hall screen is too narrow for one row of tabs,
        // and a tab pushed off the screen cannot be touched.
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 6.0;
            for (s, screen) in tabs {
                let current = st.screen.as_ref();
                let selected = current == Some(screen)
                    || (matches!(current, Some(Screen::Notice(_))) && *screen == Screen::Home);
                if widgets::nav_button(ui, selected, lang.t(*s)).clicked() {
                    st.go(screen.clone());
                }
            }
        });
    }

    /// A kiosk left alone goes back to its home screen and forgets what was typed:
    /// the next resident must not see the last one's name or question.
    fn idle(&mut self, ctx: &egui::Context, now_ms: i64) {
        let active = ctx.input(|i| {
            i.pointer.any_down()
                || i.events.iter().any(|e| {
                    matches!(
                        e,
                        egui::Event::PointerButton { .. }
                            | egui::Event::PointerMoved(_)
                            | egui::Event::Text(_)
                            | egui::Event::Key { .. }
                            | egui::Event::Touch { .. }
                            | egui::Event::MouseWheel { .. }
                    )
                })
        });
        let limit = (self.ui_config.idle_seconds as i64) * 1000;
        let home_lang = self.home_lang();
        let st = &mut self.stations[self.active];
        if active {
            st.last_activity_ms = now_ms;
        }
        if st.role() != Some(Role::Kiosk) {
            return;
        }
        let home_zoom = self.home_zoom.unwrap_or(1.0);
        let at_rest = st.screen == Some(Screen::Home)
            && st.ask.is_empty()
            && st.home.is_default()
            && st.lookup.is_default()
            && self.lang == home_lang
            && ctx.zoom_factor() == home_zoom;
        if at_rest {
            return;
        }
        // A tracking code left on screen is read by the next person who walks
        // up: it goes sooner than a half-typed form.
        let limit = if st.ask.sent_code.is_some() {
            limit.min(CODE_SCREEN_SECONDS * 1000)
        } else {
            limit
        };
        let idle_for = now_ms - st.last_activity_ms;
        if idle_for >= limit {
            st.reset();
            st.last_activity_ms = now_ms;
            self.lang = home_lang;
            ctx.set_zoom_factor(home_zoom);
        } else {
            ctx.request_repaint_after(Duration::from_millis((limit - idle_for) as u64));
        }
    }
}

impl eframe::App for KioskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

/// Seconds a tracking code stays on screen once nobody touches the kiosk.
pub const CODE_SCREEN_SECONDS: i64 = 60;
/// Most "needs update" cards the exchange screen keeps (a commune has few machines).
pub const MAX_OUTDATED_CARDS: usize = 16;

/// One line: the sync state on the right; on the left the result of the last
/// action if there is one, else the app, the commune and this device, cut short
/// with "…" when the line is full.
fn footer(ui: &mut egui::Ui, st: &Station, lang: Lang) {
    // Nothing here is tapped: the line is as high as its text, not a touch target.
    ui.spacing_mut().interact_size.y = 26.0;
    ui.spacing_mut().item_spacing.y = 0.0;
    ui.add_space(3.0);
    let last = st
        .sync
        .last
        .or(st.view.as_ref().and_then(|v| v.last_synced));
    let status = match (last, &st.view) {
        // A wrong clock's time of day means nothing: say how long ago instead
        // (both times are this machine's, so the difference is right).
        (Some((at, peer)), Some(v)) if v.fleet.clock.wrong() => lang.fill(
            S::UpdatedAgo,
            &[
                &fleet::ago(lang, st.now_ms.div_euclid(1000) - at),
                &v.member_name(&peer),
            ],
        ),
        (Some((at, peer)), Some(v)) => {
            lang.fill(S::UpdatedAt, &[&widgets::hhmm(at), &v.member_name(&peer)])
        }
        _ => lang.t(S::NeverSynced).to_string(),
    };
    // Where the machine is and when it last heard from the commune: a resident reads
    // both in full, so a long name wraps onto a second line instead of being cut.
    ui.horizontal_wrapped(|ui| {
        if let Some(t) = &st.toast {
            let kiosk = st.role() == Some(Role::Kiosk);
            let (color, text) = if t.ok {
                (widgets::GREEN, lang.t(S::Saved).to_string())
            } else if kiosk {
                // The reason is English and technical: it went to the log.
                (widgets::RED, lang.t(S::StoreFailed).to_string())
            } else {
                (widgets::RED, lang.fill(S::ErrorPrefix, &[&t.text]))
            };
            ui.label(RichText::new(text).color(color).size(18.0));
        } else {
            ui.label(widgets::bold(lang.t(S::AppName), 18.0));
            // A machine waiting to join has no commune to name (an empty label here
            // drew the status over the app's name).
            if let Some(v) = st.view.as_ref().filter(|v| !v.commune.is_empty()) {
                let mut who = v.commune.clone();
                if v.role.is_some() {
                    who = format!("{who} — {}", v.my_name());
                }
                ui.label(RichText::new(who).size(18.0));
            }
        }
        ui.separator();
        if !st.sync.syncing.is_empty() {
            ui.spinner();
            ui.label(lang.t(S::Syncing));
        }
        ui.label(RichText::new(status).size(18.0));
    });
    if let Some(v) = &st.view {
        fleet::clock_warning(ui, v, lang, st.now_ms.div_euclid(1000));
    }
    ui.add_space(3.0);
}

// ---- fonts and style ------------------------------------------------------------

/// Installs the Vietnamese fonts and the kiosk style. egui's own fonts cannot draw
/// most Vietnamese letters, so Noto Sans goes first in the proportional family and
/// after the monospace font as a fallback.
pub fn setup_context(ctx: &egui::Context) {
    use egui::{FontData, FontDefinitions, FontFamily};
    let mut fonts = FontDefinitions::default();
    fonts.font_data.insert(
        "NotoSans".into(),
        Arc::new(FontData::from_static(include_bytes!(
            "../../assets/fonts/NotoSans-Regular.ttf"
        ))),
    );
    fonts.font_data.insert(
        "NotoSans-Bold".into(),
        Arc::new(FontData::from_static(include_bytes!(
            "../../assets/fonts/NotoSans-Bold.ttf"
        ))),
    );
    fonts
        .families
        .entry(FontFamily::Proportional)
        .or_default()
        .insert(0, "NotoSans".into());
    fonts
        .families
        .entry(FontFamily::Monospace)
        .or_default()
        .push("NotoSans".into());
    fonts.families.insert(
        FontFamily::Name(widgets::BOLD.into()),
        vec!["NotoSans-Bold".into(), "NotoSans".into()],
    );
    ctx.set_fonts(fonts);
    // Bright screens in sunlit village halls: the light theme reads better.
    ctx.set_theme(egui::Theme::Light);
    ctx.all_styles_mut(|style| {
        use egui::{FontId, TextStyle};
        style.text_styles = [
            (TextStyle::Small, FontId::proportional(15.0)),
            (TextStyle::Body, FontId::proportional(20.0)),
            (TextStyle::Button, FontId::proportional(20.0)),
            (TextStyle::Heading, FontId::proportional(28.0)),
            (TextStyle::Monospace, FontId::monospace(16.0)),
        ]
        .into();
        style.spacing.button_padding = vec2(14.0, 10.0);
        style.spacing.interact_size = vec2(48.0, 48.0);
        style.spacing.icon_width = 28.0;
        style.spacing.icon_width_inner = 16.0;
        style.spacing.item_spacing = vec2(10.0, 10.0);
        // A tap on a label must not start a text selection on a touch screen.
        style.interaction.selectable_labels = false;
        style.visuals.panel_fill = Color32::from_rgb(0xf7, 0xf5, 0xf0);
        // Text boxes must show where they are before they are tapped, on a white
        // card as on the panel: a tinted fill and a grey edge (buttons get the
        // edge too, which helps them read as buttons).
        style.visuals.text_edit_bg_color = Some(Color32::from_rgb(0xee, 0xf2, 0xf8));
        style.visuals.widgets.inactive.bg_stroke = egui::Stroke::new(1.5, Color32::from_gray(150));
        // Scroll bars always there and wide enough to grab with a finger.
        style.spacing.scroll = egui::style::ScrollStyle {
            bar_width: 18.0,
            handle_min_length: 48.0,
            bar_inner_margin: 4.0,
            ..egui::style::ScrollStyle::solid()
        };
    });
}

// ---- running it -----------------------------------------------------------------

/// Opens the window and runs until it is closed, with the node(s) syncing in the
/// background of the same process.
pub fn run(opts: AppOptions) -> Result<()> {
    let config = opts.config;
    let targets: Vec<(Option<String>, PathBuf)> = match &opts.demo {
        Some(d) => d
            .nodes
            .iter()
            .map(|n| (Some(n.label.clone()), n.data_dir.clone()))
            .collect(),
        None => vec![(None, opts.data_dir.clone())],
    };
    // Each node runs on its own thread with its own async runtime; this thread only
    // draws and talks to them by channel.
    let mut nodes: Vec<(Option<String>, BackgroundNode)> = Vec::new();
    for (label, dir) in targets {
        // In the demo every other node dials the first (the office) on loopback, so
        // whatever is done in one view reaches the others within seconds.
        let peers = match nodes.first() {
            None => config.peers.clone(),
            Some((_, first)) => first
                .addrs
                .iter()
                .map(|a| {
                    let mut a = *a;
                    if a.ip().is_unspecified() {
                        a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                    }
                    PeerAddr {
                        node: first.handle.node_id,
                        addr: a,
                    }
                })
                .take(1)
                .collect(),
        };
        let net = NetConfig {
            listen: config.listen,
            mdns: config.mdns,
            relay_url: config.relay_url.clone(),
        };
        let node = BackgroundNode::start(
            dir.clone(),
            NodeOptions {
                net,
                peers,
                redial: true,
            },
        )
        .with_context(|| format!("cannot start the node on {}", dir.display()))?;
        nodes.push((label, node));
    }

    let ctx = egui::Context::default();
    setup_context(&ctx);
    ctx.set_zoom_factor(config.ui.zoom);
    let mut stations = Vec::new();
    for (label, node) in &nodes {
        let mut station = Station::for_node(label.clone(), node.handle.clone(), Some(ctx.clone()));
        let c = ctx.clone();
        node.handle.pair.on_change(move || c.request_repaint());
        node.handle.pair.set_commune(config.commune);
        station.pair = Some(node.handle.pair.clone());
        station.addrs = node
            .addrs
            .iter()
            .filter(|a| !a.ip().is_unspecified())
            .map(|a| a.to_string())
            .collect();
        stations.push(station);
    }
    let app = KioskApp::new(stations, config.ui.clone(), Clock::system());
    let viewport = egui::ViewportBuilder::default()
        .with_title("Cổng Làng")
        .with_inner_size([1280.0, 800.0])
        .with_min_inner_size([640.0, 480.0])
        .with_fullscreen(config.ui.fullscreen);
    let native = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    let result = eframe::run_native_ext(
        "conglang",
        native,
        Some(ctx),
        Box::new(move |_cc| Ok(Box::new(app))),
    );
    // Dropping the nodes says goodbye to peers and stops their threads.
    drop(nodes);
    result.map_err(|e| anyhow!("the window failed: {e}"))
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
