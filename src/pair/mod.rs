//! Pairing a new machine with the commune office without typing an id: the sans-IO
//! protocol (`conglang/pair/1`), its short code and its two state machines.
//!
//! A machine with no commune yet shows "waiting to join" and accepts pairing
//! connections; the office, which found it on the LAN by mDNS, dials it. Both screens
//! then show the same 6-digit code, the people at both compare it and confirm, and
//! only then does the office enrol the machine and hand it the invite (the
//! official-signed roster changes that prove membership, see `repo::Invite`), which
//! the machine joins with exactly what `conglang join` does.
//!
//! Why a code at all: iroh's TLS proves each side's key, but not that the key on the
//! office's list is the machine in front of the technician, nor that the office the
//! new machine talks to is the commune's. The code binds both keys and both nonces
//! (SHA-256 of them, cut to 6 digits), and the office commits to its nonce before
//! seeing the machine's (Bluetooth numeric comparison / ZRTP): a device in the
//! middle, which needs the codes of its two sessions to agree, must fix one of them
//! before the other is knowable, so each try succeeds with probability 10⁻⁶ and
//! every failed try shows two different codes to the people comparing.
//!
//! Both sides confirm: the office (so it enrols the machine in front of the
//! technician) and the new machine (so it joins the commune on that office's screen,
//! not a rogue laptop's). Nothing is enrolled until both have; a "no", a lost
//! connection or the timeout (2 minutes) ends the session with the roster untouched.
//! Before both confirmations the office sends nothing but its commitment and its
//! nonce, and the new machine its nonce and its label: no roster, no data.
//!
//! No I/O and no clock here: times come in as milliseconds from the driver
//! (`pair::run`), which owns the connection and the store.

#[cfg(feature = "full")]
pub mod cli;
#[cfg(feature = "full")]
pub mod run;
pub mod usb;

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::NodeId;
use crate::model::Role;

/// The pairing protocol's ALPN, beside `conglang/sync/2` on the same endpoint.
pub const ALPN: &[u8] = b"conglang/pair/1";
/// How long a pairing session may take from the office's first message, codes
/// compared and confirmed on both screens included.
pub const TIMEOUT_MS: u64 = 120_000;
/// Largest pairing frame (an invite carries the roster; `Invite::decode` allows 4 MiB
/// inflated, its deflated text is far smaller).
pub const MAX_FRAME: usize = 4 * 1024 * 1024;
/// Largest frame a pairing peer may send us except the invite: every other message
/// (a nonce and a 64-character label, a refusal cut to [`MAX_REASON`]) fits.
pub const MAX_SMALL_FRAME: usize = 1024;
/// Longest label a waiting machine may announce (characters).
pub const MAX_LABEL: usize = 64;
/// How long the office waits for "joined" once the invite is sent.
pub const HANDOVER_MS: u64 = 30_000;
/// Longest text a peer's refusal may carry into our screen and log (characters).
pub const MAX_REASON: usize = 200;

/// One pairing message. Frames are 4-byte big-endian length + JSON (pairing is rare
/// and small; JSON keeps it readable in a packet dump).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// Office → machine: are you waiting to join? (The office's list of new machines.)
    Probe,
    /// Machine → office: yes, under this label (its host name).
    Waiting { label: String },
    /// Office → machine: a pairing session, committing to the office's nonce.
    Start { commit: [u8; 32] },
    /// Machine → office: the machine's nonce, in clear.
    Nonce { nonce: [u8; 32], label: String },
    /// Office → machine: the office's nonce; both sides can now show the code.
    Reveal { nonce: [u8; 32] },
    /// Either side: the person here says both screens show the same code.
    Confirm,
    /// Either side: ends the session (codes differ, cancelled, timed out, refused).
    Reject { reason: Reason },
    /// Office → machine, after both confirmed: the invite (`conglang2:` text).
    Invite { invite: String },
    /// Machine → office: joined; the session is over.
    Joined,
}

/// Why a session ended without a member, as both sides and both languages need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// The person at the office said the codes differ (or cancelled).
    OfficeSaidNo,
    /// The person at the new machine said the codes differ (or cancelled).
    MachineSaidNo,
    /// Nobody confirmed in time.
    Timeout,
    /// The machine is already in the roster under another role (or revoked): another
    /// role needs a revocation and a new key.
    AlreadyEnrolled { role: Role, revoked: bool },
    /// The machine is pairing with someone else right now.
    Busy,
    /// The machine is not waiting to join (already a member, or nobody at its screen).
    NotWaiting,
    /// The office's nonce did not match its commitment: not a faithful office.
    BadCommit,
    /// The other side broke the protocol (a message out of turn).
    Protocol(String),
    /// Enrolling or joining failed (the store said why, in English).
    Failed(String),
    /// The connection ended.
    Lost(String),
}

impl std::fmt::Display for Reason {
    /// English, for logs and the CLI; the app translates with `ui::i18n`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::OfficeSaidNo => f.write_str("the office said the codes differ"),
            Reason::MachineSaidNo => f.write_str("the new machine said the codes differ"),
            Reason::Timeout => f.write_str("nobody confirmed in time: nothing was enrolled"),
            Reason::AlreadyEnrolled {
                role,
                revoked: false,
            } => write!(
                f,
                "this machine is already enrolled as {role}; to give it another role, revoke it and enrol a new key"
            ),
            Reason::AlreadyEnrolled { revoked: true, .. } => {
                f.write_str("this machine's key was revoked; it needs a new key")
            }
            Reason::Busy => f.write_str("the machine is pairing with someone else"),
            Reason::NotWaiting => f.write_str("the machine is not waiting to join"),
            Reason::BadCommit => f.write_str(
                "the office's nonce does not match its commitment (not a faithful office)",
            ),
            Reason::Protocol(s) => write!(f, "protocol error: {s}"),
            Reason::Failed(s) => f.write_str(s),
            Reason::Lost(s) => write!(f, "connection lost: {s}"),
        }
    }
}

impl Reason {
    /// A reason as a peer gave it, safe to show and log: the free text of
    /// `Protocol`, `Failed` and `Lost` without control characters or direction
    /// marks, at most [`MAX_REASON`] characters.
    pub fn from_peer(&self) -> Reason {
        let clean = |s: &str| -> String {
            let t: String = crate::model::text::strip_bidi(s)
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_REASON)
                .collect();
            t.trim().to_string()
        };
        match self {
            Reason::Protocol(s) => Reason::Protocol(clean(s)),
            Reason::Failed(s) => Reason::Failed(clean(s)),
            Reason::Lost(s) => Reason::Lost(clean(s)),
            r => r.clone(),
        }
    }
}

/// Whether an invite from commune `got` may be joined by a machine whose config
/// names commune `expected` (`None`: any). English, for the log and the CLI.
pub fn check_commune(expected: Option<&NodeId>, got: &NodeId) -> Result<(), String> {
    match expected {
        Some(e) if e != got => Err(format!(
            "the invite is from commune {}, not the commune this machine is set up for ({}): refused",
            got.short(),
            e.short()
        )),
        _ => Ok(()),
    }
}

pub fn encode(m: &Msg) -> Vec<u8> {
    serde_json::to_vec(m).expect("pairing messages serialise")
}

pub fn decode(b: &[u8]) -> Result<Msg, String> {
    serde_json::from_slice(b).map_err(|e| format!("not a pairing message: {e}"))
}

/// The office's commitment to its nonce, bound to both keys.
pub fn commitment(office: &NodeId, machine: &NodeId, nonce: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"conglang/pair/1 commit");
    h.update(office.as_bytes());
    h.update(machine.as_bytes());
    h.update(nonce);
    h.finalize().into()
}

/// The short code both screens show: 6 digits from both keys and both nonces.
pub fn code(office: &NodeId, machine: &NodeId, n_office: &[u8; 32], n_machine: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(b"conglang/pair/1 code");
    h.update(office.as_bytes());
    h.update(machine.as_bytes());
    h.update(n_office);
    h.update(n_machine);
    let d: [u8; 32] = h.finalize().into();
    let x = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
    (x % 1_000_000) as u32
}

/// "482 913": two groups of three, easier to read out and compare.
pub fn format_code(c: u32) -> String {
    let s = format!("{c:06}");
    format!("{} {}", &s[..3], &s[3..])
}

/// Reads a code typed by a person: digits only, spaces and dashes ignored.
pub fn parse_code(s: &str) -> Option<u32> {
    let d: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if d.len() != 6 || !d.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    d.parse().ok()
}

/// A label as a waiting machine announces it: cleaned, bounded, never empty.
pub fn clean_label(s: &str) -> String {
    let t: String = crate::model::text::strip_bidi(s)
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_LABEL)
        .collect();
    let t = t.trim().to_string();
    if t.is_empty() { "?".into() } else { t }
}

/// Where a session is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the other side's nonce (office) or the office's reveal (machine).
    Exchanging,
    /// Both screens show the code; waiting for the people to confirm.
    Compare,
    /// Office: both confirmed, the driver enrols the machine now.
    /// Machine: the invite is being joined.
    Enrolling,
    /// Office: invite sent, waiting for the machine's "joined".
    Handover,
    Done,
    Failed(Reason),
}

/// What the driver must do (besides sending `poll_transmit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Office: both confirmed: enrol `machine` and call [`Office::enrolled`].
    Enrol,
    /// Machine: join with this invite and call [`Machine::joined`].
    Join(String),
}

/// What both state machines share: keys, nonces, confirmations, the clock deadline.
#[derive(Debug)]
struct Common {
    office: NodeId,
    machine: NodeId,
    n_office: [u8; 32],
    n_machine: Option<[u8; 32]>,
    code: Option<u32>,
    here_ok: bool,
    there_ok: bool,
    deadline_ms: u64,
    phase: Phase,
    out: VecDeque<Msg>,
    events: VecDeque<Event>,
}

impl Common {
    fn fail(&mut self, r: Reason, tell: bool) {
        if matches!(self.phase, Phase::Done | Phase::Failed(_)) {
            return;
        }
        if tell {
            // Cut as the peer would cut it, so it fits the peer's small frames.
            self.out.push_back(Msg::Reject {
                reason: r.from_peer(),
            });
        }
        self.phase = Phase::Failed(r);
    }
    fn finished(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Failed(_))
    }
    /// The deadline covers everything up to the handover; once the office has
    /// enrolled, the invite is on its way and the handover has a deadline of its own
    /// (set by `Office::enrolled`): a machine that never says "joined" ends the
    /// session then, rather than keep the slot (and the driver awake) for ever.
    fn tick(&mut self, now_ms: u64) {
        if now_ms < self.deadline_ms {
            return;
        }
        match self.phase {
            Phase::Exchanging | Phase::Compare => self.fail(Reason::Timeout, true),
            Phase::Handover => self.fail(
                Reason::Lost("no word from the machine after its invite was sent".into()),
                false,
            ),
            _ => {}
        }
    }
    fn unexpected(&mut self, m: &Msg) {
        if let Msg::Reject { reason } = m {
            // The other side's reason, its free text cleaned and cut: it goes to our
            // screen and our log.
            self.phase = Phase::Failed(reason.from_peer());
            return;
        }
        self.fail(
            Reason::Protocol(format!("unexpected message in phase {:?}", self.phase)),
            true,
        );
    }
}

macro_rules! common_api {
    () => {
        /// The code to show, once both nonces are known.
        pub fn code(&self) -> Option<u32> {
            self.c.code
        }
        pub fn phase(&self) -> &Phase {
            &self.c.phase
        }
        pub fn is_finished(&self) -> bool {
            self.c.finished()
        }
        /// The person here confirmed.
        pub fn confirmed_here(&self) -> bool {
            self.c.here_ok
        }
        /// The other side's person confirmed.
        pub fn confirmed_there(&self) -> bool {
            self.c.there_ok
        }
        pub fn deadline_ms(&self) -> u64 {
            self.c.deadline_ms
        }
        /// Moves the deadline (a shorter wait for tests and scripts).
        pub fn set_deadline(&mut self, ms: u64) {
            self.c.deadline_ms = ms;
        }
        pub fn poll_transmit(&mut self) -> Option<Msg> {
            self.c.out.pop_front()
        }
        pub fn poll_event(&mut self) -> Option<Event> {
            self.c.events.pop_front()
        }
        pub fn tick(&mut self, now_ms: u64) {
            self.c.tick(now_ms)
        }
        /// The connection ended (nothing more can be sent).
        pub fn lost(&mut self, why: &str) {
            self.c.fail(Reason::Lost(why.into()), false)
        }
    };
}

/// The office's side: dials, commits first, enrols after both confirmations.
#[derive(Debug)]
pub struct Office {
    c: Common,
    /// The label the machine announced.
    pub label: String,
}

impl Office {
    pub fn new(me: NodeId, machine: NodeId, nonce: [u8; 32], now_ms: u64) -> Office {
        let mut c = Common {
            office: me,
            machine,
            n_office: nonce,
            n_machine: None,
            code: None,
            here_ok: false,
            there_ok: false,
            deadline_ms: now_ms + TIMEOUT_MS,
            phase: Phase::Exchanging,
            out: VecDeque::new(),
            events: VecDeque::new(),
        };
        c.out.push_back(Msg::Start {
            commit: commitment(&me, &machine, &nonce),
        });
        Office {
            c,
            label: String::new(),
        }
    }
    common_api!();

    pub fn handle(&mut self, m: Msg) {
        if self.c.finished() {
            return;
        }
        match (&self.c.phase, m) {
            (Phase::Exchanging, Msg::Nonce { nonce, label }) => {
                self.label = clean_label(&label);
                self.c.n_machine = Some(nonce);
                self.c.code = Some(code(
                    &self.c.office,
                    &self.c.machine,
                    &self.c.n_office,
                    &nonce,
                ));
                self.c.out.push_back(Msg::Reveal {
                    nonce: self.c.n_office,
                });
                self.c.phase = Phase::Compare;
            }
            (Phase::Compare, Msg::Confirm) => {
                self.c.there_ok = true;
                self.maybe_enrol();
            }
            (Phase::Handover, Msg::Joined) => self.c.phase = Phase::Done,
            (_, m) => self.c.unexpected(&m),
        }
    }

    /// The official pressed "the codes match".
    pub fn confirm(&mut self) {
        if self.c.phase == Phase::Compare && !self.c.here_ok {
            self.c.here_ok = true;
            // Told to the machine only so its screen can say so.
            self.c.out.push_back(Msg::Confirm);
            self.maybe_enrol();
        }
    }

    /// The official pressed "the codes differ" (or cancelled).
    pub fn reject(&mut self) {
        self.c.fail(Reason::OfficeSaidNo, true);
    }

    fn maybe_enrol(&mut self) {
        if self.c.here_ok && self.c.there_ok {
            self.c.phase = Phase::Enrolling;
            self.c.events.push_back(Event::Enrol);
        }
    }

    /// The machine is enrolled: hand over its invite, and wait for its "joined" up
    /// to [`HANDOVER_MS`] from `now_ms`.
    pub fn enrolled(&mut self, invite: String, now_ms: u64) {
        if self.c.phase == Phase::Enrolling {
            self.c.out.push_back(Msg::Invite { invite });
            self.c.phase = Phase::Handover;
            self.c.deadline_ms = now_ms + HANDOVER_MS;
        }
    }

    /// The largest frame the machine may send now: all its messages are small.
    pub fn max_frame(&self) -> usize {
        MAX_SMALL_FRAME
    }

    /// Enrolling failed (already enrolled under another role…): nothing was written.
    pub fn enrol_failed(&mut self, r: Reason) {
        self.c.fail(r, true);
    }
}

/// The new machine's side: answers, shows the code, joins with the invite.
#[derive(Debug)]
pub struct Machine {
    c: Common,
    label: String,
    commit: Option<[u8; 32]>,
}

impl Machine {
    pub fn new(me: NodeId, office: NodeId, nonce: [u8; 32], label: &str, now_ms: u64) -> Machine {
        Machine {
            c: Common {
                office,
                machine: me,
                // The machine's own nonce lives in `n_machine`; the office's arrives.
                n_office: [0; 32],
                n_machine: Some(nonce),
                code: None,
                here_ok: false,
                there_ok: false,
                deadline_ms: now_ms + TIMEOUT_MS,
                phase: Phase::Exchanging,
                out: VecDeque::new(),
                events: VecDeque::new(),
            },
            label: clean_label(label),
            commit: None,
        }
    }
    common_api!();

    pub fn handle(&mut self, m: Msg) {
        if self.c.finished() {
            return;
        }
        let mine = self.c.n_machine.expect("set at start");
        match (&self.c.phase, m) {
            (Phase::Exchanging, Msg::Start { commit }) if self.commit.is_none() => {
                self.commit = Some(commit);
                self.c.out.push_back(Msg::Nonce {
                    nonce: mine,
                    label: self.label.clone(),
                });
            }
            (Phase::Exchanging, Msg::Reveal { nonce }) if self.commit.is_some() => {
                if Some(commitment(&self.c.office, &self.c.machine, &nonce)) != self.commit {
                    self.c.fail(Reason::BadCommit, true);
                    return;
                }
                self.c.n_office = nonce;
                self.c.code = Some(code(&self.c.office, &self.c.machine, &nonce, &mine));
                self.c.phase = Phase::Compare;
            }
            (Phase::Compare, Msg::Confirm) => self.c.there_ok = true,
            // The office may send the invite only after we confirmed.
            (Phase::Compare, Msg::Invite { invite }) if self.c.here_ok => {
                self.c.phase = Phase::Enrolling;
                self.c.events.push_back(Event::Join(invite));
            }
            (_, m) => self.c.unexpected(&m),
        }
    }

    /// The largest frame the office may send now: an invite (up to [`MAX_FRAME`])
    /// only once the person here confirmed, everything else is small.
    pub fn max_frame(&self) -> usize {
        if self.c.phase == Phase::Compare && self.c.here_ok {
            MAX_FRAME
        } else {
            MAX_SMALL_FRAME
        }
    }

    /// The person at the new machine pressed "the codes match".
    pub fn confirm(&mut self) {
        if self.c.phase == Phase::Compare && !self.c.here_ok {
            self.c.here_ok = true;
            self.c.out.push_back(Msg::Confirm);
        }
    }

    pub fn reject(&mut self) {
        self.c.fail(Reason::MachineSaidNo, true);
    }

    /// The invite was joined: this machine is a member.
    pub fn joined(&mut self) {
        if self.c.phase == Phase::Enrolling {
            self.c.out.push_back(Msg::Joined);
            self.c.phase = Phase::Done;
        }
    }

    pub fn join_failed(&mut self, why: String) {
        self.c.fail(Reason::Failed(why), true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn keys() -> (NodeId, NodeId) {
        (
            Identity::generate().node_id(),
            Identity::generate().node_id(),
        )
    }

    /// Moves every queued message from `o` to `m` and back until both are quiet.
    fn pump(o: &mut Office, m: &mut Machine) {
        loop {
            let mut moved = false;
            while let Some(x) = o.poll_transmit() {
                m.handle(x);
                moved = true;
            }
            while let Some(x) = m.poll_transmit() {
                o.handle(x);
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    #[test]
    fn both_sides_show_one_code_and_enrol_only_after_both_confirm() {
        let (ok, mk) = keys();
        let mut o = Office::new(ok, mk, rand::random(), 0);
        let mut m = Machine::new(mk, ok, rand::random(), "kiosk-na-khoang", 0);
        pump(&mut o, &mut m);
        assert_eq!(o.phase(), &Phase::Compare);
        assert_eq!(m.phase(), &Phase::Compare);
        assert!(o.code().is_some());
        assert_eq!(o.code(), m.code());
        assert_eq!(o.label, "kiosk-na-khoang");
        o.confirm();
        pump(&mut o, &mut m);
        assert_eq!(o.poll_event(), None, "the machine has not confirmed yet");
        m.confirm();
        pump(&mut o, &mut m);
        assert_eq!(o.poll_event(), Some(Event::Enrol));
        o.enrolled("conglang2:xyz".into(), 0);
        pump(&mut o, &mut m);
        assert_eq!(m.poll_event(), Some(Event::Join("conglang2:xyz".into())));
        m.joined();
        pump(&mut o, &mut m);
        assert_eq!(o.phase(), &Phase::Done);
        assert_eq!(m.phase(), &Phase::Done);
    }

    #[test]
    fn a_no_on_either_side_or_the_timeout_enrols_nothing() {
        for case in 0..3 {
            let (ok, mk) = keys();
            let mut o = Office::new(ok, mk, rand::random(), 1_000);
            let mut m = Machine::new(mk, ok, rand::random(), "x", 1_000);
            pump(&mut o, &mut m);
            match case {
                0 => {
                    m.confirm();
                    o.reject();
                }
                1 => {
                    o.confirm();
                    m.reject();
                }
                _ => {
                    o.confirm();
                    o.tick(1_000 + TIMEOUT_MS - 1);
                    assert_eq!(o.phase(), &Phase::Compare);
                    o.tick(1_000 + TIMEOUT_MS);
                }
            }
            pump(&mut o, &mut m);
            assert_eq!(o.poll_event(), None, "case {case}: enrolled");
            assert!(matches!(o.phase(), Phase::Failed(_)), "case {case}");
            assert!(matches!(m.phase(), Phase::Failed(_)), "case {case}");
            assert_eq!(m.poll_event(), None);
        }
    }

    #[test]
    fn an_invite_before_the_machine_confirmed_is_refused() {
        let (ok, mk) = keys();
        let mut o = Office::new(ok, mk, rand::random(), 0);
        let mut m = Machine::new(mk, ok, rand::random(), "x", 0);
        pump(&mut o, &mut m);
        m.handle(Msg::Invite {
            invite: "conglang2:early".into(),
        });
        assert_eq!(m.poll_event(), None);
        assert!(matches!(m.phase(), Phase::Failed(Reason::Protocol(_))));
    }

    #[test]
    fn a_reveal_that_breaks_the_commitment_is_refused() {
        let (ok, mk) = keys();
        let mut o = Office::new(ok, mk, [1; 32], 0);
        let mut m = Machine::new(mk, ok, [2; 32], "x", 0);
        let start = o.poll_transmit().unwrap();
        m.handle(start);
        let _nonce = m.poll_transmit().unwrap();
        // A middleman that saw the machine's nonce tries another office nonce.
        m.handle(Msg::Reveal { nonce: [3; 32] });
        assert_eq!(m.phase(), &Phase::Failed(Reason::BadCommit));
        assert_eq!(m.code(), None);
    }

    /// Review point 7c: a machine that takes its invite and never says "joined" ends
    /// the office's session after the handover's own timeout, even when the
    /// session's deadline has long passed (no timer firing every millisecond).
    #[test]
    fn a_silent_machine_after_the_invite_ends_the_handover() {
        let (ok, mk) = keys();
        let mut o = Office::new(ok, mk, rand::random(), 0);
        let mut m = Machine::new(mk, ok, rand::random(), "x", 0);
        pump(&mut o, &mut m);
        o.confirm();
        m.confirm();
        pump(&mut o, &mut m);
        assert_eq!(o.poll_event(), Some(Event::Enrol));
        let late = TIMEOUT_MS + 5_000;
        o.enrolled("conglang2:xyz".into(), late);
        assert_eq!(o.phase(), &Phase::Handover);
        assert!(
            o.deadline_ms() > late,
            "the driver would wake every millisecond"
        );
        o.tick(late + HANDOVER_MS - 1);
        assert_eq!(o.phase(), &Phase::Handover);
        o.tick(late + HANDOVER_MS);
        assert!(
            matches!(o.phase(), Phase::Failed(Reason::Lost(_))),
            "{:?}",
            o.phase()
        );
        assert_eq!(
            m.max_frame(),
            MAX_FRAME,
            "the machine confirmed: an invite may come"
        );
        assert_eq!(o.max_frame(), MAX_SMALL_FRAME);
    }

    /// Review point 7b: a peer's refusal carries text it chose. Shown on the office's
    /// screen and logged, it must not be megabytes (a frozen screen) nor carry line
    /// breaks or direction marks (planted "instructions" that look like ours).
    #[test]
    fn a_peers_reject_text_is_bounded() {
        let huge = format!("use code 123 456\n\u{202e}{}", "A".repeat(4 * 1024 * 1024));
        for r in [
            Reason::Protocol(huge.clone()),
            Reason::Failed(huge.clone()),
            Reason::Lost(huge.clone()),
        ] {
            let (ok, mk) = keys();
            let mut o = Office::new(ok, mk, rand::random(), 0);
            let mut m = Machine::new(mk, ok, rand::random(), "x", 0);
            pump(&mut o, &mut m);
            o.handle(Msg::Reject { reason: r });
            let Phase::Failed(got) = o.phase().clone() else {
                panic!("{:?}", o.phase());
            };
            let text = match &got {
                Reason::Protocol(t) | Reason::Failed(t) | Reason::Lost(t) => t.clone(),
                other => other.to_string(),
            };
            assert!(text.chars().count() <= MAX_REASON, "{} chars", text.len());
            assert!(
                !text.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "{text:?}"
            );
            assert!(got.to_string().len() < 400);
            // The machine side keeps the same rule.
            m.handle(Msg::Reject { reason: got });
            if let Phase::Failed(Reason::Failed(t) | Reason::Protocol(t) | Reason::Lost(t)) =
                m.phase()
            {
                assert!(t.chars().count() <= MAX_REASON);
            }
        }
    }

    #[test]
    fn the_code_depends_on_both_keys_and_both_nonces() {
        let (a, b) = keys();
        let c = code(&a, &b, &[1; 32], &[2; 32]);
        assert_ne!(c, code(&b, &a, &[1; 32], &[2; 32]));
        assert_ne!(c, code(&a, &b, &[9; 32], &[2; 32]));
        assert_ne!(c, code(&a, &b, &[1; 32], &[9; 32]));
        assert!(c < 1_000_000);
        assert_eq!(parse_code(&format_code(c)), Some(c));
        assert_eq!(parse_code("12345"), None);
        assert_eq!(parse_code("12a456"), None);
        assert_eq!(format_code(42), "000 042");
    }
}
