//! The pairing driver: runs `pair::Office` and `pair::Machine` over `net::PairConn`,
//! the store's part (enrol, join) as jobs on the node's core thread, and keeps a
//! [`PairView`] the app draws and the CLI prints.
//!
//! The UI never waits on it: [`PairHandle`]'s methods take a lock for a copy or queue
//! a command, and the driver calls the wakers the app registered (a repaint) whenever
//! the view changes.
//!
//! - A new machine is *waiting* only while a screen (the app's first screen,
//!   `conglang pair`) is there to show the code: then, and only if its store holds
//!   no commune, it answers the office's probes with its label and accepts one
//!   pairing session at a time. A machine nobody looks at never pairs.
//! - The office *scans* while its devices screen (or `conglang roster pair`) looks for
//!   new machines: every node mDNS sees on the LAN is probed on `conglang/pair/1`;
//!   those that answer "waiting" are listed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::{Event, Machine, Msg, Office, Phase, Reason, decode, encode};
use crate::identity::NodeId;
use crate::model::Role;
use crate::net::{Net, PairConn};
use crate::repo::{Invite, Repo};

/// Runs a job on the node's core thread (where the store lives).
pub type Runner = Arc<dyn Fn(Box<dyn FnOnce(&mut Repo) + Send>) + Send + Sync>;

/// How often the office probes the LAN while scanning, and how long a probe answer
/// stays good.
const SCAN_EVERY: Duration = Duration::from_secs(2);
const PROBE_FRESH: Duration = Duration::from_secs(10);
/// Most machines listed, and most probes started per scan: a LAN full of forged mDNS
/// names costs the office a bounded amount of work.
const MAX_LISTED: usize = 32;
/// How long a probe or a session's first message may take.
const FIRST_MSG: Duration = Duration::from_secs(5);

/// A machine waiting to join, as the office lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub node: NodeId,
    pub label: String,
    pub addrs: Vec<SocketAddr>,
    /// When it last answered a probe (a full list drops the oldest answer).
    pub answered: Instant,
}

/// Which side of a session this node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Office,
    Machine,
}

/// A session as screens show it.
#[derive(Clone, Debug)]
pub struct SessionView {
    pub side: Side,
    pub peer: NodeId,
    /// The new machine's label (the office side learns it from the machine).
    pub label: String,
    pub code: Option<u32>,
    pub confirmed_here: bool,
    pub confirmed_there: bool,
    pub phase: Phase,
    /// Machine side, once joined: the commune's name and this machine's role.
    pub joined: Option<(String, Role)>,
    /// Office side, once enrolled: the name given to the machine.
    pub enrolled: Option<String>,
}

impl SessionView {
    pub fn finished(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Failed(_))
    }
}

/// What the app and the CLI show about pairing.
#[derive(Clone, Debug, Default)]
pub struct PairView {
    /// This machine accepts pairing (its waiting screen is up).
    pub waiting: bool,
    /// The office is looking for new machines.
    pub scanning: bool,
    /// This machine's label as it announces it.
    pub label: String,
    pub candidates: Vec<Candidate>,
    /// The session in progress, or the last one's outcome until cleared.
    pub session: Option<SessionView>,
    /// Bumped on every change (the CLI waits for it to move).
    pub version: u64,
}

/// What the office fills in before confirming.
#[derive(Clone, Debug)]
pub struct Enrolment {
    pub role: Role,
    pub name: String,
    pub place: String,
    /// Addresses of the office to write into the invite ("IP:PORT").
    pub addrs: Vec<String>,
}

enum Cmd {
    Wait(bool),
    Scan(bool),
    Probe(NodeId, Vec<SocketAddr>),
    Start(NodeId),
}

enum Act {
    Confirm(Option<Enrolment>),
    Reject,
}

type Waker = Arc<dyn Fn() + Send + Sync>;

struct Shared {
    view: Mutex<PairView>,
    wakers: Mutex<Vec<Waker>>,
    cmd: mpsc::UnboundedSender<Cmd>,
    /// The session in progress takes the people's answers here; `Some` = busy.
    act: Mutex<Option<mpsc::UnboundedSender<Act>>>,
    /// How long a session may take (ms): `pair::TIMEOUT_MS` unless set.
    timeout_ms: std::sync::atomic::AtomicU64,
    /// The commune the config names: invites from another are refused.
    commune: Mutex<Option<NodeId>>,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut PairView)) {
        if let Ok(mut v) = self.view.lock() {
            f(&mut v);
            v.version += 1;
        }
        let wakers: Vec<Waker> = self.wakers.lock().map(|w| w.clone()).unwrap_or_default();
        for w in wakers {
            w();
        }
    }
    fn waiting(&self) -> bool {
        self.view.lock().map(|v| v.waiting).unwrap_or(false)
    }
}

/// The app's and the CLI's handle on pairing. Cheap to clone; never blocks.
#[derive(Clone)]
pub struct PairHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PairHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairHandle")
    }
}

impl PairHandle {
    pub fn view(&self) -> PairView {
        self.shared
            .view
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }
    /// Called (from a network thread) whenever the view changes.
    pub fn on_change(&self, f: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut w) = self.shared.wakers.lock() {
            w.push(Arc::new(f));
        }
    }
    /// New machine: show up on the office's list and accept pairing (or stop).
    pub fn set_waiting(&self, on: bool) {
        if self.view().waiting != on {
            let _ = self.shared.cmd.send(Cmd::Wait(on));
        }
    }
    /// Office: look for new machines on the LAN (or stop).
    pub fn set_scanning(&self, on: bool) {
        if self.view().scanning != on {
            let _ = self.shared.cmd.send(Cmd::Scan(on));
        }
    }
    /// Office: ask one node at known addresses whether it is waiting (where mDNS
    /// cannot reach, and for tests on loopback); listed if it is.
    pub fn probe(&self, node: NodeId, addrs: Vec<SocketAddr>) {
        let _ = self.shared.cmd.send(Cmd::Probe(node, addrs));
    }
    /// Office: start pairing with a listed machine.
    pub fn start(&self, node: NodeId) {
        let _ = self.shared.cmd.send(Cmd::Start(node));
    }
    /// The person here says both codes match. The office passes the enrolment.
    pub fn confirm(&self, enrolment: Option<Enrolment>) {
        self.act(Act::Confirm(enrolment));
    }
    /// The person here says the codes differ, or cancels.
    pub fn reject(&self) {
        self.act(Act::Reject);
    }
    /// The commune this machine is installed for (`[node] commune`): from now on
    /// an invite from another commune is refused, however the code was confirmed.
    pub fn set_commune(&self, c: Option<NodeId>) {
        if let Ok(mut x) = self.shared.commune.lock() {
            *x = c;
        }
    }
    /// The commune set by [`PairHandle::set_commune`].
    pub fn commune(&self) -> Option<NodeId> {
        self.shared.commune.lock().ok().and_then(|c| *c)
    }
    /// How long sessions started from now may take (default two minutes).
    pub fn set_timeout(&self, d: Duration) {
        self.shared
            .timeout_ms
            .store(d.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    /// Forgets a finished session's outcome (the screen was dismissed).
    pub fn clear(&self) {
        self.shared.update(|v| {
            if v.session.as_ref().is_some_and(|s| s.finished()) {
                v.session = None;
            }
        });
    }
    fn act(&self, a: Act) {
        if let Ok(s) = self.shared.act.lock()
            && let Some(tx) = s.as_ref()
        {
            let _ = tx.send(a);
        }
    }
}

/// This machine's label: its host name (what the technician named it at install).
pub fn host_label() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates or
    // truncates within it.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let name = if r == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    };
    super::clean_label(&name)
}

/// Starts the driver on the current tokio runtime.
pub fn spawn(
    net: Arc<Net>,
    me: NodeId,
    run: Runner,
    label: String,
) -> (PairHandle, tokio::task::JoinHandle<()>) {
    let (cmd, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        view: Mutex::new(PairView {
            label,
            ..Default::default()
        }),
        wakers: Mutex::new(Vec::new()),
        cmd,
        act: Mutex::new(None),
        timeout_ms: super::TIMEOUT_MS.into(),
        commune: Mutex::new(None),
    });
    let ctx = Ctx {
        shared: shared.clone(),
        net,
        me,
        run,
    };
    let task = tokio::spawn(driver(ctx, rx));
    (PairHandle { shared }, task)
}

#[derive(Clone)]
struct Ctx {
    shared: Arc<Shared>,
    net: Arc<Net>,
    me: NodeId,
    run: Runner,
}

impl Ctx {
    fn timeout_ms(&self) -> u64 {
        self.shared
            .timeout_ms
            .load(std::sync::atomic::Ordering::Relaxed)
    }
    /// Runs `f` on the core thread and waits for its answer.
    async fn ask<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Repo) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        (self.run)(Box::new(move |repo| {
            let _ = tx.send(f(repo));
        }));
        rx.await.ok()
    }
}

async fn driver(ctx: Ctx, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
    let (in_tx, mut incoming) = mpsc::unbounded_channel::<PairConn>();
    let (probe_tx, mut probes) =
        mpsc::unbounded_channel::<(NodeId, Vec<SocketAddr>, Option<String>)>();
    let mut probed: HashMap<NodeId, Instant> = HashMap::new();
    // Nodes named by hand (`--probe`, tests): asked like the LAN's, while scanning.
    let mut named: HashMap<NodeId, Vec<SocketAddr>> = HashMap::new();
    let mut scan = tokio::time::interval(SCAN_EVERY);
    let scanning = |ctx: &Ctx| ctx.shared.view.lock().map(|v| v.scanning).unwrap_or(false);
    loop {
        tokio::select! {
            c = cmds.recv() => match c {
                None => break,
                Some(Cmd::Wait(on)) => {
                    ctx.net.accept_pairing(on.then(|| in_tx.clone()));
                    ctx.shared.update(|v| v.waiting = on);
                }
                Some(Cmd::Scan(on)) => {
                    probed.clear();
                    if !on {
                        named.clear();
                    }
                    ctx.shared.update(|v| {
                        v.scanning = on;
                        if !on {
                            v.candidates.clear();
                        }
                    });
                }
                Some(Cmd::Probe(node, addrs)) => {
                    named.insert(node, addrs.clone());
                    probed.insert(node, Instant::now());
                    tokio::spawn(probe(ctx.clone(), node, addrs, probe_tx.clone()));
                }
                Some(Cmd::Start(node)) => {
                    let addrs = ctx.shared.view.lock().ok().and_then(|v| {
                        v.candidates.iter().find(|c| c.node == node).map(|c| c.addrs.clone())
                    });
                    match addrs {
                        Some(a) => { tokio::spawn(office_session(ctx.clone(), node, a)); }
                        None => tracing::warn!(peer = %node.short(), "pairing: not a listed machine"),
                    }
                }
            },
            Some(conn) = incoming.recv() => {
                tokio::spawn(machine_incoming(ctx.clone(), conn));
            }
            _ = scan.tick(), if scanning(&ctx) => {
                let now = Instant::now();
                let mut lan = ctx.net.lan_peers();
                lan.extend(named.iter().filter(|(n, _)| !lan.iter().any(|(m, _)| m == *n)).map(|(n, a)| (*n, a.clone())).collect::<Vec<_>>());
                // Least recently probed first (never probed before all): forged
                // names answering "waiting" cannot keep a real machine from its turn.
                lan.sort_by_key(|(n, _)| probed.get(n).copied());
                let mut started = 0;
                for (node, addrs) in &lan {
                    if started >= MAX_LISTED {
                        break;
                    }
                    if probed.get(node).is_some_and(|t| now.duration_since(*t) < PROBE_FRESH) {
                        continue;
                    }
                    probed.insert(*node, now);
                    started += 1;
                    tokio::spawn(probe(ctx.clone(), *node, addrs.clone(), probe_tx.clone()));
                }
                // Gone from the LAN: gone from the list.
                ctx.shared.update(|v| v.candidates.retain(|c| lan.iter().any(|(n, _)| *n == c.node)));
            }
            Some((node, addrs, label)) = probes.recv() => {
                ctx.shared.update(|v| {
                    v.candidates.retain(|c| c.node != node);
                    // Answers that arrive after the scan stopped are not listed. A full
                    // list gives way: the answer heard longest ago goes (candidates are
                    // kept in answer order before sorting below, by `answered`).
                    if let Some(label) = label.filter(|_| v.scanning) {
                        if v.candidates.len() >= MAX_LISTED
                            && let Some(old) = v.candidates.iter().enumerate().min_by_key(|(_, c)| c.answered).map(|(i, _)| i)
                        {
                            v.candidates.remove(old);
                        }
                        v.candidates.push(Candidate { node, label, addrs, answered: Instant::now() });
                        v.candidates.sort_by(|a, b| a.label.cmp(&b.label).then(a.node.cmp(&b.node)));
                    }
                });
            }
        }
    }
}

/// Asks `node` whether it waits to join; sends back its label if so.
async fn probe(
    ctx: Ctx,
    node: NodeId,
    addrs: Vec<SocketAddr>,
    out: mpsc::UnboundedSender<(NodeId, Vec<SocketAddr>, Option<String>)>,
) {
    if node == ctx.me {
        return;
    }
    let label = async {
        let mut conn = ctx.net.dial_pair(node, &addrs).await.ok()?;
        conn.send(encode(&Msg::Probe));
        let r = tokio::time::timeout(FIRST_MSG, conn.recv()).await;
        conn.finish().await;
        match decode(&r.ok()?.ok()?) {
            Ok(Msg::Waiting { label }) => Some(super::clean_label(&label)),
            _ => None,
        }
    }
    .await;
    let _ = out.send((node, addrs, label));
}

/// The two state machines, as the session loop drives them.
trait Driven {
    fn handle(&mut self, m: Msg);
    fn poll_transmit(&mut self) -> Option<Msg>;
    fn poll_event(&mut self) -> Option<Event>;
    fn tick(&mut self, now_ms: u64);
    fn lost(&mut self, why: &str);
    fn is_finished(&self) -> bool;
    fn deadline_ms(&self) -> u64;
    fn max_frame(&self) -> usize;
    fn confirm(&mut self);
    fn reject(&mut self);
    fn fill(&self, v: &mut SessionView);
}

macro_rules! driven {
    ($t:ty, $label:expr) => {
        impl Driven for $t {
            fn handle(&mut self, m: Msg) {
                <$t>::handle(self, m)
            }
            fn poll_transmit(&mut self) -> Option<Msg> {
                <$t>::poll_transmit(self)
            }
            fn poll_event(&mut self) -> Option<Event> {
                <$t>::poll_event(self)
            }
            fn tick(&mut self, now_ms: u64) {
                <$t>::tick(self, now_ms)
            }
            fn lost(&mut self, why: &str) {
                <$t>::lost(self, why)
            }
            fn is_finished(&self) -> bool {
                <$t>::is_finished(self)
            }
            fn deadline_ms(&self) -> u64 {
                <$t>::deadline_ms(self)
            }
            fn max_frame(&self) -> usize {
                <$t>::max_frame(self)
            }
            fn confirm(&mut self) {
                <$t>::confirm(self)
            }
            fn reject(&mut self) {
                <$t>::reject(self)
            }
            fn fill(&self, v: &mut SessionView) {
                v.code = self.code();
                v.confirmed_here = self.confirmed_here();
                v.confirmed_there = self.confirmed_there();
                v.phase = self.phase().clone();
                #[allow(clippy::redundant_closure_call)]
                ($label)(self, v);
            }
        }
    };
}
driven!(
    Office,
    |o: &Office, v: &mut SessionView| if !o.label.is_empty() {
        v.label = o.label.clone()
    }
);
driven!(Machine, |_: &Machine, _: &mut SessionView| {});

/// Runs a session until it needs the driver (an [`Event`]) or ends. `enrolment`
/// receives what the office filled in with its confirmation.
async fn step<S: Driven>(
    s: &mut S,
    conn: &mut PairConn,
    acts: &mut mpsc::UnboundedReceiver<Act>,
    ctx: &Ctx,
    t0: Instant,
    enrolment: &mut Option<Enrolment>,
) -> Option<Event> {
    loop {
        // Before what we send: the answer to it may be the one larger frame.
        conn.set_max_frame(s.max_frame());
        while let Some(m) = s.poll_transmit() {
            conn.send(encode(&m));
        }
        ctx.shared.update(|v| {
            if let Some(sv) = v.session.as_mut() {
                s.fill(sv);
            }
        });
        if let Some(e) = s.poll_event() {
            return Some(e);
        }
        if s.is_finished() {
            return None;
        }
        let now = t0.elapsed().as_millis() as u64;
        let wait = Duration::from_millis(s.deadline_ms().saturating_sub(now).max(1));
        tokio::select! {
            r = conn.recv() => match r.map_err(|e| e.to_string()).and_then(|b| decode(&b)) {
                Ok(m) => s.handle(m),
                Err(e) => s.lost(&e),
            },
            a = acts.recv() => match a {
                Some(Act::Confirm(e)) => {
                    if e.is_some() {
                        *enrolment = e;
                    }
                    s.confirm()
                }
                Some(Act::Reject) | None => s.reject(),
            },
            _ = tokio::time::sleep(wait) => s.tick(t0.elapsed().as_millis() as u64),
        }
    }
}

/// Claims the one session slot; `None` if a session is in progress.
fn claim(ctx: &Ctx, view: SessionView) -> Option<mpsc::UnboundedReceiver<Act>> {
    let mut slot = ctx.shared.act.lock().ok()?;
    if slot.is_some() {
        return None;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    *slot = Some(tx);
    drop(slot);
    ctx.shared.update(|v| v.session = Some(view));
    Some(rx)
}

fn release(ctx: &Ctx) {
    if let Ok(mut s) = ctx.shared.act.lock() {
        *s = None;
    }
    ctx.shared.update(|_| {});
}

async fn office_session(ctx: Ctx, machine: NodeId, addrs: Vec<SocketAddr>) {
    let label = ctx
        .shared
        .view
        .lock()
        .ok()
        .and_then(|v| {
            v.candidates
                .iter()
                .find(|c| c.node == machine)
                .map(|c| c.label.clone())
        })
        .unwrap_or_default();
    let view = SessionView {
        side: Side::Office,
        peer: machine,
        label,
        code: None,
        confirmed_here: false,
        confirmed_there: false,
        phase: Phase::Exchanging,
        joined: None,
        enrolled: None,
    };
    let Some(mut acts) = claim(&ctx, view) else {
        tracing::warn!("pairing: a session is already in progress");
        return;
    };
    let t0 = Instant::now();
    let mut s = Office::new(ctx.me, machine, rand::random(), 0);
    s.set_deadline(ctx.timeout_ms());
    let mut conn = match ctx.net.dial_pair(machine, &addrs).await {
        Ok(c) => c,
        Err(e) => {
            s.lost(&format!("{e:#}"));
            ctx.shared.update(|v| {
                if let Some(sv) = v.session.as_mut() {
                    sv.phase = s.phase().clone();
                }
            });
            release(&ctx);
            return;
        }
    };
    let mut enrolment = None;
    while let Some(ev) = step(&mut s, &mut conn, &mut acts, &ctx, t0, &mut enrolment).await {
        if ev != Event::Enrol {
            continue;
        }
        let Some(e) = enrolment.clone() else {
            s.enrol_failed(Reason::Failed("no enrolment details".into()));
            continue;
        };
        let name = e.name.clone();
        let r = ctx.ask(move |repo| enrol_checked(repo, machine, e)).await;
        match r {
            Some(Ok(invite)) => {
                tracing::info!(peer = %machine.short(), "pairing: enrolled, handing over the invite");
                ctx.shared.update(|v| {
                    if let Some(sv) = v.session.as_mut() {
                        sv.enrolled = Some(name);
                    }
                });
                s.enrolled(invite, t0.elapsed().as_millis() as u64)
            }
            Some(Err(r)) => s.enrol_failed(r),
            None => s.enrol_failed(Reason::Failed("the node stopped".into())),
        }
    }
    if let Phase::Failed(r) = s.phase() {
        tracing::warn!(peer = %machine.short(), "pairing failed: {r}");
    }
    conn.finish().await;
    release(&ctx);
}

/// The office's part once both confirmed (and the USB way's): refuse another role for
/// a known key (the roster never changes a member's role), else enrol and return the
/// invite text.
pub fn enrol_checked(repo: &mut Repo, machine: NodeId, e: Enrolment) -> Result<String, Reason> {
    let roster = repo
        .roster()
        .map_err(|err| Reason::Failed(format!("{err:#}")))?;
    if let Some(m) = roster.member(&machine)
        && (m.revoked.is_some() || m.role != e.role)
    {
        return Err(Reason::AlreadyEnrolled {
            role: m.role,
            revoked: m.revoked.is_some(),
        });
    }
    repo.roster_add(machine, e.role, &e.name, &e.place, e.addrs)
        .map(|i| i.encode())
        .map_err(|err| Reason::Failed(format!("{err:#}")))
}

async fn machine_incoming(ctx: Ctx, mut conn: PairConn) {
    let office = conn.peer;
    let first = match tokio::time::timeout(FIRST_MSG, conn.recv()).await {
        Ok(Ok(b)) => decode(&b).ok(),
        _ => None,
    };
    let waiting = ctx.shared.waiting();
    // A machine that joined since its screen went up is no longer new.
    let unjoined = ctx
        .ask(|repo| repo.commune_id().ok().flatten().is_none())
        .await
        .unwrap_or(false);
    let label = ctx
        .shared
        .view
        .lock()
        .map(|v| v.label.clone())
        .unwrap_or_default();
    match first {
        Some(Msg::Probe) if waiting && unjoined => {
            conn.send(encode(&Msg::Waiting { label }));
        }
        Some(Msg::Start { commit }) if waiting && unjoined => {
            let view = SessionView {
                side: Side::Machine,
                peer: office,
                label: label.clone(),
                code: None,
                confirmed_here: false,
                confirmed_there: false,
                phase: Phase::Exchanging,
                joined: None,
                enrolled: None,
            };
            match claim(&ctx, view) {
                Some(acts) => {
                    machine_session(&ctx, &mut conn, acts, commit, &label).await;
                    release(&ctx);
                }
                None => conn.send(encode(&Msg::Reject {
                    reason: Reason::Busy,
                })),
            }
        }
        Some(Msg::Start { .. }) => conn.send(encode(&Msg::Reject {
            reason: Reason::NotWaiting,
        })),
        _ => {}
    }
    conn.finish().await;
}

async fn machine_session(
    ctx: &Ctx,
    conn: &mut PairConn,
    mut acts: mpsc::UnboundedReceiver<Act>,
    commit: [u8; 32],
    label: &str,
) {
    let office = conn.peer;
    let me = ctx.me;
    let t0 = Instant::now();
    let mut s = Machine::new(me, office, rand::random(), label, 0);
    s.set_deadline(ctx.timeout_ms());
    s.handle(Msg::Start { commit });
    let mut unused = None;
    while let Some(ev) = step(&mut s, conn, &mut acts, ctx, t0, &mut unused).await {
        let Event::Join(text) = ev else { continue };
        let lan = ctx.net.lan_peers();
        let expected = ctx.shared.commune.lock().ok().and_then(|c| *c);
        let r = ctx
            .ask(move |repo| -> Result<(String, Role), String> {
                let invite = Invite::decode(&text).map_err(|e| format!("{e:#}"))?;
                // The invite must be for this machine, from the office on this
                // (authenticated) connection: the one whose code was compared.
                if invite.node != me || invite.via != office {
                    return Err("the invite is not for this machine or not from this office".into());
                }
                super::check_commune(expected.as_ref(), &invite.commune_id)?;
                repo.join(&invite).map_err(|e| format!("{e:#}"))?;
                // Where the office was heard on the LAN: the first dial goes there.
                if let Some((_, a)) = lan.iter().find(|(n, _)| *n == office) {
                    let joined: Vec<String> = a.iter().map(|x| x.to_string()).collect();
                    let _ = repo.note_peer_addrs(&office, &joined.join(","));
                }
                Ok((invite.commune_name, invite.role))
            })
            .await
            .unwrap_or_else(|| Err("the node stopped".into()));
        match r {
            Ok(joined) => {
                tracing::info!(office = %office.short(), "pairing: joined {} as {}", joined.0, joined.1);
                s.joined();
                ctx.shared.update(|v| {
                    v.waiting = false;
                    if let Some(sv) = v.session.as_mut() {
                        sv.joined = Some(joined);
                    }
                });
                ctx.net.accept_pairing(None);
                // Members seen on the LAN before we joined are worth a dial now.
                ctx.net.rediscover();
            }
            Err(e) => s.join_failed(e),
        }
    }
    // The last words (`Joined`, a refusal) are queued: the caller finishes the stream.
    while let Some(m) = s.poll_transmit() {
        conn.send(encode(&m));
    }
    ctx.shared.update(|v| {
        if let Some(sv) = v.session.as_mut() {
            s.fill(sv);
        }
    });
    if let Phase::Failed(r) = s.phase() {
        tracing::warn!(office = %office.short(), "pairing failed: {r}");
    }
}
