//! Fleet health on the office's devices screen ("Thiết bị"), and the warning a
//! machine shows about its own clock.
//!
//! One row per device, one coloured cell per question an official asks before
//! riding out: is it online (or when was it last seen, by anyone), which version
//! does it run (older than the newest seen is flagged), is its disk nearly full, is
//! its clock wrong, has it received the notices meant for it. Green is fine, amber
//! needs a look, red needs a visit, grey is not known yet.
//!
//! Everything comes from the health documents every node publishes
//! (`model::health`), the receipts, and this node's own contacts and clock
//! observations. Times from another node's report are corrected by that node's own
//! clock offset when it says its clock is wrong, and "ago" is counted from this
//! node's corrected now, so a kiosk that woke up in the year 2000 reads "2 hours
//! ago", not "26 years ahead".

use std::collections::BTreeMap;

use anyhow::Result;
use egui::{Color32, CornerRadius, Frame, RichText, Ui};

use super::i18n::{Lang, S};
use super::widgets::{self, bold};
use super::{Station, View};
use crate::clock::{Estimate, WRONG_AFTER_MS};
use crate::identity::NodeId;
use crate::model::Role;
use crate::model::health::Health;
use crate::repo::{DISK_LOW_MB, HostileSender, PeerClock, Reach, Repo};

/// What the fleet view and the clock warning need, read on the core thread.
#[derive(Clone, Debug, Default)]
pub struct FleetData {
    /// Every node's latest health report held here.
    pub healths: Vec<Health>,
    /// How far this node's clock is from its peers'.
    pub clock: Estimate,
    /// This node's own observation of each peer's clock (peer − us, ms).
    pub peer_clocks: BTreeMap<NodeId, PeerClock>,
    /// When this node last completed a sync with each peer (its clock).
    pub contacts: BTreeMap<NodeId, i64>,
    /// Members that sent data refused as hostile (`Repo::hostile_senders`).
    pub hostile: Vec<HostileSender>,
}

/// Reads the fleet data (`build_view`).
pub fn read(repo: &Repo) -> Result<FleetData> {
    Ok(FleetData {
        healths: repo.healths()?,
        clock: repo.clock_estimate()?,
        peer_clocks: repo.peer_clocks()?,
        contacts: repo
            .peers()?
            .into_iter()
            .filter_map(|p| Some((p.node, p.last_synced?)))
            .collect(),
        hostile: repo.hostile_senders()?,
    })
}

/// Receipt times are the receiving node's clock: a kiosk that says its clock is
/// wrong has its "received at" moved by its own offset, so "who has it, since when"
/// reads in the commune's time.
pub fn correct_reach(reach: &mut BTreeMap<crate::model::DocId, Vec<Reach>>, f: &FleetData) {
    for list in reach.values_mut() {
        for r in list.iter_mut() {
            if let Some(h) = f.healths.iter().find(|h| h.node == Some(r.node)) {
                r.since = r.since.saturating_add(h.correction());
            }
        }
        list.sort_by_key(|r| r.since);
    }
}

/// How a cell reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Good,
    Warn,
    Bad,
    Unknown,
}

impl Level {
    /// The more alarming of two levels (unknown counts as least).
    fn max_with(self, other: Level) -> Level {
        let rank = |l: Level| match l {
            Level::Unknown => 0,
            Level::Good => 1,
            Level::Warn => 2,
            Level::Bad => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// A device's clock as the office sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockCell {
    Unknown,
    Right,
    /// Wrong by this much: the others' time − its time, ms (positive: behind).
    Off(i64),
}

/// One device's row.
#[derive(Clone, Debug)]
pub struct Row {
    pub node: NodeId,
    pub name: String,
    pub place: String,
    pub role: Role,
    pub online: bool,
    /// Last time anyone completed a sync with it (or it reported), peers' time.
    pub seen: Option<i64>,
    /// Its version, and whether a newer one runs elsewhere.
    pub version: Option<(String, bool)>,
    pub disk_free_mb: Option<i64>,
    pub clock: ClockCell,
    /// Live notices meant for a kiosk that its receipt does not list; `None`: not a
    /// kiosk, or no receipt yet.
    pub missing: Option<usize>,
    /// Where it is with the newest approved release meant for it, unless it runs it.
    pub update: Option<(super::updates::DeviceState, String)>,
}

fn version_key(v: &str) -> Vec<u64> {
    v.split(['.', '-', '+'])
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

/// The rows of the fleet view at `now` (this node's corrected time, seconds),
/// active members only, kiosks first by place.
pub fn rows(view: &View, online: &dyn Fn(&NodeId) -> bool, now: i64) -> Vec<Row> {
    let f = &view.fleet;
    let my_corr = f.clock.correction();
    let health_of = |n: &NodeId| f.healths.iter().find(|h| h.node.as_ref() == Some(n));
    // "Newer elsewhere" by our own version and officials' reports only: any
    // member could claim version "999" and flag every other device outdated.
    let newest = f
        .healths
        .iter()
        .filter(|h| h.node.is_some_and(|n| view.roster.is_official(&n)))
        .map(|h| version_key(&h.version))
        .chain([version_key(env!("CARGO_PKG_VERSION"))])
        .max()
        .unwrap_or_default();
    let mut out: Vec<Row> = view
        .roster
        .members
        .values()
        .filter(|m| m.revoked.is_none())
        .map(|m| {
            let n = m.node;
            let me = view.me == Some(n);
            let h = health_of(&n);
            // Seen: our own last sync with it, any other node's report of a sync
            // with it, or its own report — each in the peers' time.
            // Never later than now: a report dated in the future (a lie, or a
            // clock not corrected yet) cannot make a dead device look seen later.
            let mut seen = f.contacts.get(&n).map(|t| t.saturating_add(my_corr));
            for o in &f.healths {
                if o.node == Some(n) {
                    seen = seen.max(o.published_at.map(|t| t.saturating_add(o.correction())));
                } else if let Some(t) = o.contacts.get(&n) {
                    seen = seen.max(Some(t.saturating_add(o.correction())));
                }
            }
            let seen = if me {
                Some(now)
            } else {
                seen.map(|t| t.min(now))
            };
            let clock = if me {
                if f.clock.wrong() {
                    ClockCell::Off(f.clock.offset_ms.unwrap_or(0))
                } else if f.clock.offset_ms.is_some() {
                    ClockCell::Right
                } else {
                    ClockCell::Unknown
                }
            } else {
                // Its own verdict, or ours when we met it: others' time − its time.
                let reported = h.and_then(|h| {
                    h.clock_offset_ms.map(|o| {
                        if h.clock_wrong {
                            ClockCell::Off(o)
                        } else {
                            ClockCell::Right
                        }
                    })
                });
                let observed = f.peer_clocks.get(&n).map(|pc| {
                    let d = f.clock.correction_ms().saturating_sub(pc.offset_ms);
                    if d.abs() > WRONG_AFTER_MS {
                        ClockCell::Off(d)
                    } else {
                        ClockCell::Right
                    }
                });
                // Its own report first: since nodes send their corrected clock in
                // `Hello`, our observation of a node that knows it is wrong reads
                // "right"; and one courier cannot make a node report itself wrong
                // (`Repo::clock_estimate`).
                match (reported, observed) {
                    (Some(ClockCell::Off(o)), _) => ClockCell::Off(o),
                    (_, Some(ClockCell::Off(o))) => ClockCell::Off(o),
                    (Some(c), _) | (None, Some(c)) => c,
                    (None, None) => ClockCell::Unknown,
                }
            };
            let receipt = view.receipts.iter().find(|(r, _)| *r == n).map(|(_, r)| r);
            let missing = (m.role == Role::Kiosk)
                .then_some(receipt)
                .flatten()
                .map(|r| {
                    view.live_notices(now)
                        .filter(|x| x.hamlets.is_empty() || x.hamlets.contains(&m.place))
                        .filter(|x| !r.notices.contains_key(x.id.as_str()))
                        .count()
                });
            Row {
                node: n,
                name: m.name.clone(),
                place: m.place.clone(),
                role: m.role,
                online: me || online(&n),
                seen,
                version: h
                    .filter(|h| !h.version.is_empty())
                    .map(|h| (h.version.clone(), version_key(&h.version) < newest)),
                disk_free_mb: h.and_then(|h| h.disk_free_mb),
                clock,
                missing,
                update: super::updates::current(view)
                    .filter(|r| r.is_for(m.role))
                    .map(|r| {
                        (
                            super::updates::device_state(view, &n, &r.release),
                            r.release.version.clone(),
                        )
                    })
                    .filter(|(s, _)| *s != super::updates::DeviceState::Installed),
            }
        })
        .collect();
    let rank = |r: Role| match r {
        Role::Kiosk => 0,
        Role::Courier => 1,
        Role::Official => 2,
    };
    out.sort_by(|a, b| {
        (rank(a.role), &a.place, &a.name, a.node).cmp(&(rank(b.role), &b.place, &b.name, b.node))
    });
    out
}

/// "5 phút trước" / "5 min ago"; a time in the future (a clock not corrected yet)
/// reads "just now".
pub fn ago(lang: Lang, secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => lang.t(S::JustNow).to_string(),
        60..3_600 => lang.fill(S::MinutesAgo, &[&(secs / 60).to_string()]),
        3_600..86_400 => lang.fill(S::HoursAgo, &[&(secs / 3_600).to_string()]),
        _ => lang.fill(S::DaysAgo, &[&(secs / 86_400).to_string()]),
    }
}

/// A length of time in its largest unit, rounded: "3 năm", "2 giờ" (an offset
/// measured a few milliseconds short of three years is "3 năm").
pub fn span(lang: Lang, ms: i64) -> String {
    let s = ms.unsigned_abs() / 1000;
    let (k, unit) = match s {
        0..3_570 => (S::SpanMinutes, 60),
        3_570..86_100 => (S::SpanHours, 3_600),
        86_100..31_500_000 => (S::SpanDays, 86_400),
        _ => (S::SpanYears, 31_536_000),
    };
    lang.fill(k, &[&((s + unit / 2) / unit).to_string()])
}

/// "Chậm 3 năm" (the clock is behind the others) or "Nhanh 2 giờ".
pub fn offset_words(lang: Lang, others_minus_it_ms: i64) -> String {
    let s = span(lang, others_minus_it_ms);
    if others_minus_it_ms >= 0 {
        lang.fill(S::ClockBehind, &[&s])
    } else {
        lang.fill(S::ClockAhead, &[&s])
    }
}

/// Width of a cell's text: the whole table fits a 1024-point console; longer
/// texts ("Sắp đầy: còn 180 MB") wrap onto a second line.
const CELL_WIDTH: f32 = 124.0;
/// Width of the device column (names like "Kiosk Bản Chang" on one line).
const NAME_WIDTH: f32 = 150.0;

const AMBER: Color32 = Color32::from_rgb(0xa8, 0x5d, 0x00);

fn colours(level: Level) -> (Color32, Color32) {
    match level {
        Level::Good => (widgets::GREEN, Color32::from_rgb(0xe3, 0xf1, 0xe4)),
        Level::Warn => (AMBER, Color32::from_rgb(0xfb, 0xec, 0xd0)),
        Level::Bad => (widgets::RED, Color32::from_rgb(0xf8, 0xdc, 0xdc)),
        Level::Unknown => (widgets::GREY, Color32::from_rgb(0xec, 0xec, 0xec)),
    }
}

/// A coloured cell: tinted background, text in the strong colour (read by colour
/// and by words, for colour-blind officials).
fn cell(ui: &mut Ui, level: Level, text: &str) {
    let (fg, bg) = colours(level);
    Frame::new()
        .fill(bg)
        .corner_radius(CornerRadius::same(4))
        .inner_margin(egui::Margin::symmetric(8, 6))
        .show(ui, |ui| {
            ui.set_width(CELL_WIDTH);
            ui.add(egui::Label::new(RichText::new(text).color(fg).size(16.0)).wrap());
        });
}

/// What each cell of a row says.
pub fn cells(row: &Row, lang: Lang, now: i64) -> [(Level, String); 5] {
    let seen = if row.online {
        (Level::Good, lang.t(S::OnlineNow).to_string())
    } else {
        match row.seen {
            None => (Level::Unknown, lang.t(S::NeverSeen).to_string()),
            Some(t) => {
                let age = now - t;
                let level = if age < 86_400 {
                    Level::Good
                } else if age < 7 * 86_400 {
                    Level::Warn
                } else {
                    Level::Bad
                };
                (level, ago(lang, age))
            }
        }
    };
    let mut version = match &row.version {
        None => (Level::Unknown, lang.t(S::NotKnown).to_string()),
        Some((v, true)) => (Level::Warn, lang.fill(S::VersionOld, &[v])),
        Some((v, false)) => (Level::Good, v.clone()),
    };
    // The rollout of an approved update, under the version it runs.
    if let Some((state, v)) = &row.update {
        use super::updates::DeviceState as D;
        let (words, _) = super::updates::state_words(lang, state, v);
        let level = match state {
            D::RolledBack | D::Refused => Level::Bad,
            _ => Level::Warn,
        };
        version = (level.max_with(version.0), format!("{}\n{words}", version.1));
    }
    let disk = match row.disk_free_mb {
        None => (Level::Unknown, lang.t(S::NotKnown).to_string()),
        Some(mb) if mb < DISK_LOW_MB => (Level::Bad, lang.fill(S::DiskLow, &[&mb.to_string()])),
        Some(mb) => {
            let free = if mb >= 1024 {
                format!("{} GB", mb / 1024)
            } else {
                format!("{mb} MB")
            };
            (Level::Good, lang.fill(S::DiskFree, &[&free]))
        }
    };
    let clock = match row.clock {
        ClockCell::Unknown => (Level::Unknown, lang.t(S::NotKnown).to_string()),
        ClockCell::Right => (Level::Good, lang.t(S::ClockOk).to_string()),
        ClockCell::Off(d) => (Level::Bad, offset_words(lang, d)),
    };
    let notices = match (row.role, row.missing) {
        (Role::Kiosk, None) => (Level::Unknown, lang.t(S::NoReceipt).to_string()),
        (Role::Kiosk, Some(0)) => (Level::Good, lang.t(S::UpToDate).to_string()),
        (Role::Kiosk, Some(n)) => (Level::Bad, lang.fill(S::MissingN, &[&n.to_string()])),
        _ => (Level::Unknown, lang.t(S::NotApplicable).to_string()),
    };
    [seen, version, disk, clock, notices]
}

/// The fleet table, at the top of the devices screen. `now`: corrected seconds.
pub fn show(ui: &mut Ui, st: &Station, view: &View, lang: Lang, now: i64) {
    ui.label(bold(lang.t(S::FleetTitle), 24.0));
    let connected = &st.sync.connected;
    let rows = rows(view, &|n| connected.contains(n), now);
    widgets::card(ui, widgets::GREEN, |ui| {
        egui::ScrollArea::horizontal()
            .id_salt("fleet-table")
            .show(ui, |ui| {
                egui::Grid::new("fleet")
                    .spacing(egui::vec2(6.0, 6.0))
                    .show(ui, |ui| {
                        for h in [
                            S::FleetDevice,
                            S::FleetSeen,
                            S::FleetVersion,
                            S::FleetDisk,
                            S::FleetClock,
                            S::FleetNotices,
                        ] {
                            ui.label(bold(lang.t(h), 17.0).color(widgets::GREY));
                        }
                        ui.end_row();
                        for r in &rows {
                            ui.vertical(|ui| {
                                ui.set_width(NAME_WIDTH);
                                ui.spacing_mut().item_spacing.y = 0.0;
                                ui.label(bold(&r.name, 18.0));
                                ui.label(RichText::new(&r.place).size(15.0).color(widgets::GREY));
                                // Who to revoke: this device sent data refused as
                                // hostile (a tampered kiosk, a stolen laptop).
                                if let Some(h) =
                                    view.fleet.hostile.iter().find(|h| h.node == r.node)
                                {
                                    let text = lang.fill(
                                        S::SentRefused,
                                        &[&h.changes.to_string(), &ago(lang, now - h.last_at)],
                                    );
                                    ui.add(
                                        egui::Label::new(bold(&text, 15.0).color(widgets::RED))
                                            .wrap(),
                                    );
                                }
                            });
                            for (level, text) in cells(r, lang, now) {
                                cell(ui, level, &text);
                            }
                            ui.end_row();
                        }
                    });
            });
    });
    ui.add_space(10.0);
}

/// The line a machine whose clock is wrong shows about itself (every screen's
/// footer): how far off, and the right time by its peers.
pub fn clock_warning(ui: &mut Ui, view: &View, lang: Lang, local_now: i64) {
    let c = view.fleet.clock;
    if !c.wrong() {
        return;
    }
    let right = local_now + c.correction();
    let text = lang.fill(
        S::MyClockWrong,
        &[
            &offset_words(lang, c.offset_ms.unwrap_or(0)).to_lowercase(),
            &widgets::fmt_time(right),
        ],
    );
    ui.label(bold(&text, 18.0).color(widgets::RED));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_round_to_the_nearest_unit() {
        let year = 31_536_000_000i64;
        assert_eq!(span(Lang::Vi, 3 * year - 5), "3 năm");
        assert_eq!(span(Lang::Vi, -(2 * 3_600_000 + 1_000)), "2 giờ");
        assert_eq!(span(Lang::En, 11 * 60_000 + 20_000), "11 min");
        assert_eq!(offset_words(Lang::Vi, 3 * year), "Chậm 3 năm");
        assert_eq!(offset_words(Lang::Vi, -3 * 86_400_000), "Nhanh 3 ngày");
    }

    #[test]
    fn ago_never_reads_as_the_future() {
        assert_eq!(ago(Lang::Vi, -5_000), "vừa xong");
        assert_eq!(ago(Lang::Vi, 150), "2 phút trước");
        assert_eq!(ago(Lang::En, 2 * 86_400 + 5), "2 days ago");
    }
}
