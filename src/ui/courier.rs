//! The courier's view: which villages are behind, what this laptop carries, and
//! how the sync going on right now is doing.
//!
//! "Behind" is read from the receipts that travel back with every sync: a kiosk's
//! receipt lists the notices it holds, so comparing it with the live notices tells
//! the courier which village to ride to first, without having been there.

use egui::{RichText, Ui};

use super::i18n::{Lang, S};
use super::widgets::{self, bold};
use super::{Station, View};
use crate::model::{Notice, Role};

/// A kiosk and the live notices meant for it that its last receipt does not list.
pub struct Behind<'a> {
    pub name: String,
    pub place: String,
    /// `None`: no receipt from this kiosk has reached this node yet.
    pub missing: Option<Vec<&'a Notice>>,
}

pub fn behind(view: &View, now: i64) -> Vec<Behind<'_>> {
    let mut out: Vec<Behind<'_>> = view
        .roster
        .members
        .values()
        .filter(|m| m.role == Role::Kiosk && m.revoked.is_none())
        .map(|m| {
            let receipt = view
                .receipts
                .iter()
                .find(|(n, _)| *n == m.node)
                .map(|(_, r)| r);
            let missing = receipt.map(|r| {
                view.live_notices(now)
                    .filter(|n| n.hamlets.is_empty() || n.hamlets.contains(&m.place))
                    .filter(|n| !r.notices.contains_key(n.id.as_str()))
                    .collect()
            });
            Behind {
                name: m.name.clone(),
                place: m.place.clone(),
                missing,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.place, &a.name).cmp(&(&b.place, &b.name)));
    out
}

pub fn show(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang, now: i64) {
    widgets::scroll_area("courier", st.scroll_top).show(ui, |ui| {
        ui.label(bold(lang.t(S::CourierTitle), 28.0));
        ui.add_space(6.0);
        ui.label(bold(lang.t(S::BehindTitle), 22.0));
        for b in behind(view, now) {
            let (color, status) = match &b.missing {
                None => (widgets::GREY, lang.t(S::NoReceipt).to_string()),
                Some(m) if m.is_empty() => (widgets::GREEN, lang.t(S::UpToDate).to_string()),
                Some(m) => (
                    widgets::RED,
                    lang.fill(S::MissingN, &[&m.len().to_string()]),
                ),
            };
            widgets::card(ui, color, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.label(bold(&b.name, 22.0));
                    ui.label(RichText::new(format!("({})", b.place)).color(widgets::GREY));
                    ui.label(bold(&status, 20.0).color(color));
                });
                for n in b.missing.iter().flatten().take(4) {
                    ui.label(RichText::new(format!("• {}", n.title)).size(18.0));
                }
            });
            ui.add_space(4.0);
        }
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
        ui.add_space(10.0);
        ui.horizontal(|ui| {
            if !st.sync.syncing.is_empty() {
                ui.spinner();
            }
            let names: Vec<String> = st
                .sync
                .connected
                .iter()
                .map(|p| view.member_name(p))
                .collect();
            let text = if names.is_empty() {
                lang.t(S::NoPeers).to_string()
            } else {
                lang.fill(S::ConnectedTo, &[&names.join(", ")])
            };
            ui.label(RichText::new(text).size(20.0));
        });
        // The same "last synced" the footer shows, so "not connected now"
        // never reads as "never synced".
        if st.sync.connected.is_empty()
            && let Some((at, peer)) = st.sync.last.or(view.last_synced)
        {
            ui.label(
                RichText::new(lang.fill(
                    S::LastContact,
                    &[&widgets::fmt_time(at), &view.member_name(&peer)],
                ))
                .size(18.0)
                .color(widgets::GREY),
            );
        }
        if !st.sync.recent.is_empty() {
            ui.label(bold(lang.t(S::RecentSyncs), 20.0));
            for (at, peer, r) in &st.sync.recent {
                let kb = (r.bytes_sent + r.bytes_received).div_ceil(1024);
                ui.label(lang.fill(
                    S::SyncLine,
                    &[
                        &widgets::hhmm(*at),
                        &view.member_name(peer),
                        &r.changes_sent.to_string(),
                        &r.changes_received.to_string(),
                        &kb.to_string(),
                    ],
                ));
            }
        }
    });
}
