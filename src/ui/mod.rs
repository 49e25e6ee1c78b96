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
mod ask_steps;
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
pub mod pacing;
pub mod pairing;
pub mod procedures;
pub mod speech;
pub mod suggest;
pub mod telex;
pub mod updates;
pub mod widgets;

// One node's state and the launcher, each in its own room (issue 23).
mod launch;
mod station;
pub use launch::{StartupFault, run, setup_context, show_fault_ui};
pub use station::{Station, SyncState, Tally, Toast};

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
    /// Releases the office approved, held here (officials and couriers).
    pub releases: Vec<crate::repo::ReleaseView>,
    /// Signed releases found on a USB stick (officials only).
    pub release_files: Vec<updates::Found>,
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
        releases: if matches!(role, Some(Role::Official | Role::Courier)) {
            repo.releases()?
        } else {
            Vec::new()
        },
        release_files: if role == Some(Role::Official) {
            updates::find(repo)
        } else {
            Vec::new()
        },
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
    /// The office approves or withdraws a release (updates screen).
    ApproveRelease,
    WithdrawRelease,
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
    /// "Cập nhật phần mềm": approve a release, follow its rollout (officials).
    Updates,
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
                Screen::Updates => {
                    if view.role == Some(Role::Official) {
                        updates::show(ui, st, &view, lang)
                    }
                }
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
        let tabs = self.stations[self.active]
            .role()
            .map(tabs_of)
            .unwrap_or(&[]);
        // One row where it fits, in a smaller font if it must (a short landscape
        // screen has no height for a second row above the keyboard: at 1024×768
        // and zoom 1.5 a second row left the ask form no line for its box); wrapped
        // where even that is too wide (a panel mounted upright), since a tab pushed
        // off the screen cannot be touched. The language button counts too.
        let width = |(size, min): (f32, f32)| -> f32 {
            tabs.iter()
                .map(|(s, _)| lang.t(*s))
                .chain([lang.t(S::SwitchLanguage)])
                .map(|t| widgets::text_width(ui, t, size).max(min) + 6.0)
                .sum()
        };
        let room = ui.available_width();
        let sizes = widgets::NAV_SIZES;
        let (size, min) = sizes
            .iter()
            .copied()
            .find(|s| width(*s) <= room)
            .unwrap_or(sizes[sizes.len() - 1]);
        ui.horizontal(|ui| {
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if widgets::nav_button_sized(ui, false, lang.t(S::SwitchLanguage), size, min)
                    .clicked()
                {
                    self.lang = lang.other();
                }
                ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                    self.tabs(ui, lang, tabs, (size, min));
                });
            });
        });
    }

    fn tabs(
        &mut self,
        ui: &mut egui::Ui,
        lang: Lang,
        tabs: &[(S, Screen)],
        (size, min): (f32, f32),
    ) {
        let st = &mut self.stations[self.active];
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 6.0;
            for (s, screen) in tabs {
                let current = st.screen.as_ref();
                let selected = current == Some(screen)
                    || (matches!(current, Some(Screen::Notice(_))) && *screen == Screen::Home);
                if widgets::nav_button_sized(ui, selected, lang.t(*s), size, min).clicked() {
                    st.go(screen.clone());
                }
            }
        });
    }
}

/// The navigation tabs of a machine of `role`.
fn tabs_of(role: Role) -> &'static [(S, Screen)] {
    match role {
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
            (S::NavUpdates, Screen::Updates),
        ],
        Role::Courier => &[
            (S::NavExchange, Screen::Exchange),
            (S::NavNotices, Screen::Home),
            (S::NavProcedures, Screen::Procedures),
        ],
    }
}

impl KioskApp {
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
            // The installer waits for a quiet moment (no one at the screen) before an
            // update: it reads when the screen was last used.
            if now_ms - st.activity_noted_ms >= ACTIVITY_NOTE_MS {
                st.activity_noted_ms = now_ms;
                if let Backend::Node(h) = &st.backend {
                    h.run(|repo| {
                        if let Err(e) = repo.note_activity() {
                            tracing::debug!("cannot note activity: {e:#}");
                        }
                    });
                }
            }
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
        // A resident told to wait for the pacing is waiting, not gone: the form stays
        // until the wait is over and the usual idle time after it.
        let limit = match &st.ask.error {
            Some(ask::AskError::Paced { until_ms, .. }) => {
                limit.max(until_ms + limit - st.last_activity_ms)
            }
            _ => limit,
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

/// How often a screen in use tells the installer so (ms).
const ACTIVITY_NOTE_MS: i64 = 30_000;

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
