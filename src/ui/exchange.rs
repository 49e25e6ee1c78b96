//! The exchange screen ("Trao đổi dữ liệu"), on kiosks, the courier's laptop and the
//! office: which devices are nearby and which are exchanging now, what is moving
//! (urgent notices first, counts, a bar with bytes and time left at the current
//! rate), "up to date with X at 10:42" per device, a device that must be updated
//! before it can exchange, and for the courier and the office, per village: what
//! this trip brought there, what it took back and what the village still lacks.
//!
//! Everything here comes from node events (`Nearby`, `Progress`, `Ended`,
//! `Outdated`, throttled by the node to a few per second per session) and from the
//! view (roster names, receipts, the stored time of the last sync with each peer),
//! so drawing it costs the sync nothing. CoMapeo's "Exchange" screen is the model:
//! no node ids, no protocol words, large text.

use std::collections::BTreeSet;

use egui::{Color32, RichText, Ui};

use super::i18n::{Lang, S};
use super::widgets::{self, bold};
use super::{Station, Tag, View, courier};
use crate::identity::NodeId;
use crate::model::Role;
use crate::node::Transfer;

const BLUE: Color32 = Color32::from_rgb(0x15, 0x65, 0xc0);

pub fn show(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang, now: i64) {
    let role = view.role;
    // Exchanging now: connected (the node's own list) or still reporting progress.
    let exchanging: BTreeSet<NodeId> = st
        .sync
        .connected
        .iter()
        .chain(st.sync.moving.keys())
        .copied()
        .collect();
    widgets::scroll_area("exchange", st.scroll_top).show(ui, |ui| {
        let sync = &st.sync;
        let title = if role == Some(Role::Courier) {
            S::CourierTitle
        } else {
            S::ExchangeTitle
        };
        ui.label(bold(lang.t(title), 28.0));
        ui.label(
            RichText::new(lang.t(S::ExchangeHint))
                .size(18.0)
                .color(widgets::GREY),
        );
        ui.add_space(6.0);

        // Something to act on goes first.
        // Peers that cannot exchange until updated (red), then those that still can
        // but should be (amber).
        let cards = [
            (
                &sync.outdated,
                S::NeedsUpdate,
                widgets::RED,
                widgets::DARK_RED,
                22.0,
            ),
            (
                &sync.older,
                S::OlderPeer,
                widgets::AMBER,
                widgets::DARK_AMBER,
                20.0,
            ),
        ];
        for (peers, words, fill, ink, size) in cards {
            for peer in peers.keys() {
                widgets::card(ui, fill, |ui| {
                    ui.label(bold(&lang.fill(words, &[&view.member_name(peer)]), size).color(ink));
                });
                ui.add_space(4.0);
            }
        }

        if !exchanging.is_empty() {
            // A live session stays open after both sides are up to date: those are
            // "connected", not "exchanging", or "Đang trao đổi" would never go away.
            let busy = exchanging
                .iter()
                .any(|p| !sync.moving.get(p).is_some_and(finished));
            let heading = if busy {
                S::ExchangingNow
            } else {
                S::ConnectedNow
            };
            ui.label(bold(lang.t(heading), 24.0));
            for peer in &exchanging {
                moving_card(ui, &view.member_name(peer), sync.moving.get(peer), lang);
                ui.add_space(4.0);
            }
            ui.add_space(6.0);
        }

        // A software update the office approved, and where it has still to go.
        if matches!(role, Some(Role::Courier | Role::Official))
            && let Some(line) = super::updates::carry_line(view, lang)
        {
            widgets::card(ui, widgets::AMBER, |ui| {
                ui.add(egui::Label::new(bold(&line, 20.0).color(widgets::DARK_AMBER)).wrap());
            });
            ui.add_space(6.0);
        }

        // The courier rides to the village that lacks most: villages come first.
        if matches!(role, Some(Role::Courier | Role::Official)) {
            villages(ui, st, view, lang, now, role == Some(Role::Courier));
            ui.add_space(10.0);
        }
        let sync = &st.sync;

        ui.label(bold(lang.t(S::NearbyTitle), 24.0));
        let nearby: Vec<(&NodeId, bool)> = sync
            .nearby
            .iter()
            .filter(|(p, _)| !exchanging.contains(*p))
            .map(|(p, (member, _))| (p, *member))
            .collect();
        if nearby.is_empty() {
            ui.label(
                RichText::new(lang.t(S::NoNearby))
                    .size(20.0)
                    .color(widgets::GREY),
            );
        }
        // Members first (they are who we will exchange with), then strangers.
        for (peer, member) in nearby
            .iter()
            .filter(|(_, m)| *m)
            .chain(nearby.iter().filter(|(_, m)| !*m))
        {
            let (text, color) = if *member {
                (
                    lang.fill(S::NearbyMember, &[&view.member_name(peer)]),
                    Color32::BLACK,
                )
            } else {
                (lang.t(S::NearbyStranger).to_string(), widgets::GREY)
            };
            ui.label(RichText::new(format!("• {text}")).size(20.0).color(color));
        }
        ui.add_space(10.0);

        ui.label(bold(lang.t(S::LastExchanges), 24.0));
        let mut last: Vec<(i64, NodeId)> = view
            .synced_with
            .iter()
            .map(|(p, t)| (sync.synced_at.get(p).copied().unwrap_or(*t).max(*t), *p))
            .collect();
        for (p, t) in &sync.synced_at {
            if !view.synced_with.contains_key(p) {
                last.push((*t, *p));
            }
        }
        last.sort_by(|a, b| b.cmp(a));
        if last.is_empty() {
            ui.label(
                RichText::new(lang.t(S::NeverExchanged))
                    .size(20.0)
                    .color(widgets::GREY),
            );
        }
        for (at, peer) in last {
            ui.label(RichText::new(up_to_date(lang, &view.member_name(&peer), at, now)).size(20.0));
        }

        if role == Some(Role::Courier) {
            ui.add_space(10.0);
            ui.label(bold(lang.t(S::Carries), 22.0));
            ui.label(
                RichText::new(lang.fill(
                    S::CarriesCounts,
                    &[
                        &view.live_notices(now).count().to_string(),
                        &view.procedures.len().to_string(),
                        &view.requests.len().to_string(),
                    ],
                ))
                .size(20.0),
            );
        }
    });
}

/// The courier's trip: since when it counts, and the button that starts a new one
/// (asked twice: a tap by mistake would wipe the day's tally).
fn trip_header(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang, now: i64) {
    let since = view.trip.since;
    let text = if since == 0 && st.sync.tally.is_empty() {
        lang.t(S::TripNone).to_string()
    } else if since == 0 || widgets::fmt_date(since) == widgets::fmt_date(now) {
        lang.fill(
            S::TripSince,
            &[&widgets::hhmm(if since == 0 { now } else { since })],
        )
    } else {
        lang.fill(
            S::TripSinceOn,
            &[&widgets::hhmm(since), &widgets::fmt_date(since)],
        )
    };
    let asking_id = ui.make_persistent_id("exchange-new-trip-asked");
    let asking = ui.data(|d| d.get_temp::<bool>(asking_id).unwrap_or(false));
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(text).size(20.0));
        if !asking && widgets::big_button(ui, lang.t(S::NewTrip)).clicked() {
            ui.data_mut(|d| d.insert_temp(asking_id, true));
        }
    });
    if asking {
        widgets::card(ui, BLUE, |ui| {
            ui.label(bold(lang.t(S::NewTripAsk), 22.0));
            ui.horizontal(|ui| {
                if widgets::primary_button(ui, lang.t(S::NewTripYes)).clicked() {
                    ui.data_mut(|d| d.remove::<bool>(asking_id));
                    st.act(Tag::NewTrip, move |repo| {
                        repo.new_trip(now)?;
                        Ok(String::new())
                    });
                }
                if widgets::big_button(ui, lang.t(S::Cancel)).clicked() {
                    ui.data_mut(|d| d.remove::<bool>(asking_id));
                }
            });
        });
    }
    ui.add_space(6.0);
}

/// Most urgent titles listed on one village card (more are counted).
const MAX_URGENT_SHOWN: usize = 6;
/// Most other missing titles listed on one village card.
const MAX_OTHER_SHOWN: usize = 3;

/// One card per village kiosk: what it still lacks (from its last receipt), urgent
/// notices first and each by name; for a courier what this trip brought it and took
/// back (kept across restarts); when it was last up to date.
fn villages(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang, now: i64, courier: bool) {
    ui.label(bold(lang.t(S::BehindTitle), 24.0));
    let sync = &st.sync;
    // Where the courier should go first comes first: the village lacking most urgent
    // notices, then most notices; the rest in place order.
    let mut list: Vec<(courier::Behind<'_>, Vec<&str>)> = courier::behind(view, now)
        .into_iter()
        .map(|b| {
            let urgent: Vec<&str> = b
                .missing
                .iter()
                .flatten()
                .filter(|n| n.urgent)
                .map(|n| n.title.as_str())
                .collect();
            (b, urgent)
        })
        .collect();
    list.sort_by_key(|(b, urgent)| {
        (
            std::cmp::Reverse(urgent.len()),
            std::cmp::Reverse(b.missing.as_ref().map_or(0, |m| m.len())),
        )
    });
    for (b, urgent) in list {
        let (color, status) = match &b.missing {
            None => (widgets::GREY, lang.t(S::NoReceipt).to_string()),
            Some(m) if m.is_empty() => (widgets::GREEN, lang.t(S::UpToDate).to_string()),
            Some(m) if !urgent.is_empty() => (
                widgets::RED,
                lang.fill(
                    S::MissingNUrgent,
                    &[&m.len().to_string(), &urgent.len().to_string()],
                ),
            ),
            Some(m) => (
                widgets::RED,
                lang.fill(S::MissingN, &[&m.len().to_string()]),
            ),
        };
        widgets::card(ui, color, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.label(bold(&b.name, 22.0));
                ui.label(
                    RichText::new(format!("({})", b.place))
                        .size(20.0)
                        .color(widgets::GREY),
                );
                ui.label(bold(&status, 22.0).color(color));
            });
            // Urgent first, each by name: these are why the courier goes there today.
            if !urgent.is_empty() {
                ui.label(bold(lang.t(S::UrgentMissing), 20.0).color(widgets::DARK_RED));
                for t in urgent.iter().take(MAX_URGENT_SHOWN) {
                    ui.label(bold(&format!("• {t}"), 20.0).color(widgets::RED));
                }
            }
            let others: Vec<&str> = b
                .missing
                .iter()
                .flatten()
                .filter(|n| !n.urgent)
                .map(|n| n.title.as_str())
                .collect();
            for t in others.iter().take(MAX_OTHER_SHOWN) {
                ui.label(RichText::new(format!("• {t}")).size(18.0));
            }
            let unlisted = urgent.len().saturating_sub(MAX_URGENT_SHOWN)
                + others.len().saturating_sub(MAX_OTHER_SHOWN);
            if unlisted > 0 {
                ui.label(
                    RichText::new(lang.fill(S::AndNMore, &[&unlisted.to_string()]))
                        .size(18.0)
                        .color(widgets::GREY),
                );
            }
            // "This trip" is the courier's word; the office does not travel.
            if courier {
                let stored = view.trip.peers.get(&b.node);
                let pending = sync.tally.get(&b.node);
                let moving = sync.moving.get(&b.node);
                let brought = stored.map_or(0, |t| t.brought)
                    + pending.map_or(0, |t| t.brought)
                    + moving.map_or(0, |m| m.changes_sent);
                let took = stored.map_or(0, |t| t.took)
                    + pending.map_or(0, |t| t.took)
                    + moving.map_or(0, |m| m.changes_received);
                let text = if stored.is_some() || pending.is_some() || moving.is_some() {
                    lang.fill(S::TripTally, &[&brought.to_string(), &took.to_string()])
                } else {
                    lang.t(S::TripNotMet).to_string()
                };
                ui.label(RichText::new(text).size(20.0));
                let mut urgent_in: Vec<&str> = Vec::new();
                let from_moving = moving.map(|m| &m.urgent_received);
                for t in [
                    stored.map(|t| &t.urgent_in),
                    pending.map(|t| &t.urgent_in),
                    from_moving,
                ]
                .into_iter()
                .flatten()
                .flatten()
                {
                    if !urgent_in.contains(&t.as_str()) {
                        urgent_in.push(t);
                    }
                }
                if !urgent_in.is_empty() {
                    ui.label(
                        bold(&lang.fill(S::TripUrgentIn, &[&urgent_in.join("; ")]), 20.0)
                            .color(widgets::RED),
                    );
                }
            }
            let at = [sync.synced_at.get(&b.node), view.synced_with.get(&b.node)]
                .into_iter()
                .flatten()
                .max();
            if let Some(at) = at {
                ui.label(
                    RichText::new(up_to_date(lang, &b.name, *at, now))
                        .size(18.0)
                        .color(widgets::GREY),
                );
            }
        });
        ui.add_space(4.0);
    }
    // Below the cards: a new trip is started once a day or so, the cards are read
    // at every hall.
    if courier {
        ui.add_space(4.0);
        trip_header(ui, st, view, lang, now);
    }
}

/// Both sides hold the same set and nothing is left to move.
fn finished(p: &Transfer) -> bool {
    let (done, total) = p.done_and_total();
    p.synced && total == done
}

/// A session going on now: urgent notices first, then counts and the bar; once
/// both sides are up to date, a green card saying so and how much moved.
fn moving_card(ui: &mut Ui, name: &str, p: Option<&Transfer>, lang: Lang) {
    let done_now = p.is_some_and(finished);
    let accent = if done_now { widgets::GREEN } else { BLUE };
    widgets::card(ui, accent, |ui| {
        let Some(p) = p else {
            ui.label(bold(&lang.fill(S::ExchangingWith, &[name]), 24.0));
            ui.label(RichText::new(lang.t(S::ExchangeStarting)).size(20.0));
            return;
        };
        if done_now {
            ui.label(bold(&lang.fill(S::ExchangeDone, &[name]), 24.0).color(widgets::GREEN));
        } else {
            ui.label(bold(&lang.fill(S::ExchangingWith, &[name]), 24.0));
        }
        for t in &p.urgent_received {
            ui.label(bold(&lang.fill(S::UrgentReceived, &[t]), 20.0).color(widgets::RED));
        }
        if p.urgent_to_receive > 0 {
            ui.label(
                bold(
                    &lang.fill(S::UrgentComing, &[&p.urgent_to_receive.to_string()]),
                    20.0,
                )
                .color(widgets::RED),
            );
        }
        if p.urgent_to_send > 0 {
            ui.label(
                bold(
                    &lang.fill(S::UrgentGoing, &[&p.urgent_to_send.to_string()]),
                    20.0,
                )
                .color(widgets::RED),
            );
        }
        let (done, total) = p.done_and_total();
        if done_now {
            // Done: one line of what moved (if anything), no bar: the card's
            // colour and title already say it, and the villages below matter more.
            if done > 0 {
                let counts = lang.fill(
                    S::MovedCounts,
                    &[
                        &count(lang, p.changes_received),
                        &count(lang, p.changes_sent),
                    ],
                );
                let (bytes, _) = p.bytes_and_total();
                ui.label(
                    RichText::new(format!("{counts} ({})", bytes_text(lang, bytes))).size(20.0),
                );
            }
            return;
        }
        let mut counts = lang.fill(
            S::MovedCounts,
            &[
                &count(lang, p.changes_received),
                &count(lang, p.changes_sent),
            ],
        );
        if total > done {
            counts = format!(
                "{counts}, {}",
                lang.fill(S::LeftItems, &[&count(lang, total - done)])
            );
        }
        ui.label(RichText::new(counts).size(20.0));
        let fraction = if total == 0 {
            1.0
        } else {
            done as f32 / total as f32
        };
        let (bytes, bytes_total) = p.bytes_and_total();
        let mut bar = if bytes_total <= bytes {
            bytes_text(lang, bytes)
        } else {
            format!(
                "{} / {}",
                bytes_text(lang, bytes),
                bytes_text(lang, bytes_total)
            )
        };
        if let Some(s) = p.seconds_left() {
            bar = format!(
                "{bar} — {}",
                lang.fill(S::TimeLeft, &[&duration_text(lang, s)])
            );
        }
        // The words above the bar, not on it: white on a bar that has barely
        // started cannot be read.
        ui.label(bold(&bar, 20.0));
        ui.scope(|ui| {
            // The bar's empty part is drawn in `extreme_bg_color`, white in the
            // light theme: on a white card the bar would seem full at any point.
            ui.visuals_mut().extreme_bg_color = Color32::from_gray(215);
            ui.add(
                egui::ProgressBar::new(fraction)
                    .desired_height(28.0)
                    .fill(accent),
            );
        });
    });
}

/// "Đã cập nhật với Kiosk Nà Khoang lúc 10:42" (with the date when not today).
pub fn up_to_date(lang: Lang, name: &str, at: i64, now: i64) -> String {
    if widgets::fmt_date(at) == widgets::fmt_date(now) {
        lang.fill(S::UpToDateWith, &[name, &widgets::hhmm(at)])
    } else {
        lang.fill(
            S::UpToDateWithOn,
            &[name, &widgets::hhmm(at), &widgets::fmt_date(at)],
        )
    }
}

/// 1234 → "1.234" in Vietnamese, "1,234" in English.
fn count(lang: Lang, n: u64) -> String {
    let sep = if lang == Lang::Vi { '.' } else { ',' };
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// "850 KB", "1,2 MB" (decimal comma in Vietnamese).
pub fn bytes_text(lang: Lang, b: u64) -> String {
    let s = if b < 1000 * 1000 {
        format!("{} KB", b.div_ceil(1000))
    } else {
        format!("{:.1} MB", b as f64 / 1e6)
    };
    if lang == Lang::Vi {
        s.replace('.', ",")
    } else {
        s
    }
}

/// "40 giây", "3 phút" (rounded up: a promise of less would be broken).
pub fn duration_text(lang: Lang, s: u64) -> String {
    if s < 60 {
        lang.fill(S::Seconds, &[&s.max(1).to_string()])
    } else {
        lang.fill(S::Minutes, &[&s.div_ceil(60).to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_the_way_each_language_writes_them() {
        assert_eq!(count(Lang::Vi, 1234567), "1.234.567");
        assert_eq!(count(Lang::En, 1234), "1,234");
        assert_eq!(count(Lang::Vi, 999), "999");
        assert_eq!(bytes_text(Lang::Vi, 1_250_000), "1,2 MB");
        assert_eq!(bytes_text(Lang::En, 850_001), "851 KB");
        assert_eq!(duration_text(Lang::Vi, 40), "40 giây");
        assert_eq!(duration_text(Lang::Vi, 61), "2 phút");
    }

    #[test]
    fn time_left_follows_the_rate_so_far() {
        let t = Transfer {
            changes_received: 100,
            to_receive: 300,
            bytes_received: 50_000,
            elapsed_ms: 10_000,
            ..Default::default()
        };
        assert_eq!(t.done_and_total(), (100, 400));
        // 10 changes per second, 300 left.
        assert_eq!(t.seconds_left(), Some(30));
        assert_eq!(t.bytes_and_total(), (50_000, 200_000));
        let done = Transfer { to_receive: 0, ..t };
        assert_eq!(done.seconds_left(), None);
    }
}
