//! Pairing screens: the new machine's first screen ("Đang chờ gia nhập xã", the code
//! to compare, the USB way) and, on the office's devices screen, the list of new
//! machines found on the LAN with the code, the enrolment form and the outcome.
//!
//! Everything network comes from the node's [`PairHandle`] (a copy of its view per
//! frame, commands queued); everything that touches the store or a USB stick is a
//! job on the core thread (`Station::act`), so the screen never waits.

use egui::{RichText, Ui};

use super::i18n::{Lang, S};
use super::widgets::{self, bold};
use super::{Station, Tag, View};
use crate::identity::NodeId;
use crate::model::Role;
use crate::pair::run::{Enrolment, PairView, SessionView, Side};
use crate::pair::usb::{self, IdFile};
use crate::pair::{Phase, Reason, format_code};

/// Which pairing job a result belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    WriteId,
    ReadInvite,
    FindIds,
    UsbEnrol,
    InviteToUsb,
}

/// The office's form and the USB results.
#[derive(Debug, Default)]
pub struct PairState {
    pub role: Option<Role>,
    pub name: String,
    pub place: String,
    /// The machine the form was filled for (a new one starts afresh).
    form_for: Option<NodeId>,
    /// Machines' id files found on a stick (office).
    pub usb_ids: Vec<IdFile>,
    pub usb_pick: Option<IdFile>,
    /// The last USB action's result, already in words: (ok, text).
    pub message: Option<(bool, String)>,
}

impl PairState {
    pub(super) fn on_done(&mut self, job: Job, r: Result<String, String>) {
        match (job, r) {
            (Job::FindIds, Ok(json)) => {
                self.usb_ids = serde_json::from_str(&json).unwrap_or_default();
                self.message = None;
            }
            (Job::UsbEnrol, Ok(text)) => {
                self.usb_pick = None;
                self.message = Some((true, text));
            }
            (_, Ok(text)) => self.message = Some((true, text)),
            (_, Err(text)) => self.message = Some((false, text)),
        }
    }

    fn fill_for(&mut self, node: NodeId, label: &str) {
        if self.form_for != Some(node) {
            self.form_for = Some(node);
            self.name = label.to_string();
            self.place.clear();
            self.role = Some(Role::Kiosk);
        }
    }

    fn enrolment(&self, addrs: Vec<String>) -> Enrolment {
        Enrolment {
            role: self.role.unwrap_or(Role::Kiosk),
            name: self.name.clone(),
            place: self.place.clone(),
            addrs,
        }
    }
}

/// Why a session failed, in the screen's language. `kiosk`: a public screen, where
/// technical English never shows (it goes to the log).
pub fn reason_text(lang: Lang, r: &Reason, kiosk: bool) -> String {
    match r {
        Reason::OfficeSaidNo => lang.t(S::ReasonOfficeNo).into(),
        Reason::MachineSaidNo => lang.t(S::ReasonMachineNo).into(),
        Reason::Timeout => lang.t(S::ReasonTimeout).into(),
        Reason::AlreadyEnrolled { revoked: true, .. } => lang.t(S::ReasonRevoked).into(),
        Reason::AlreadyEnrolled { role, .. } => lang.fill(S::ReasonAlready, &[lang.role(*role)]),
        Reason::Busy => lang.t(S::ReasonBusy).into(),
        Reason::NotWaiting => lang.t(S::ReasonNotWaiting).into(),
        Reason::BadCommit => lang.t(S::ReasonBadCommit).into(),
        Reason::Lost(_) => lang.t(S::ReasonLost).into(),
        // Technical and in English: officials see it; a kiosk says "error", the log why.
        Reason::Protocol(e) | Reason::Failed(e) => {
            if kiosk {
                lang.t(S::PairError).into()
            } else {
                lang.fill(S::ErrorPrefix, &[e])
            }
        }
    }
}

fn pair_view(st: &Station) -> PairView {
    st.pair.as_ref().map(|p| p.view()).unwrap_or_default()
}

fn big_code(ui: &mut Ui, code: u32) {
    ui.label(
        RichText::new(format_code(code))
            .size(64.0)
            .strong()
            .monospace(),
    );
}

fn message(ui: &mut Ui, st: &Station) {
    if let Some((ok, text)) = &st.pairing.message {
        let color = if *ok { widgets::GREEN } else { widgets::RED };
        ui.label(RichText::new(text).size(20.0).color(color));
    }
}

/// Shown when the session ended: the outcome and a button to dismiss it.
fn outcome(ui: &mut Ui, st: &Station, s: &SessionView, lang: Lang) {
    match &s.phase {
        Phase::Done => {
            let text = match (&s.joined, &s.enrolled) {
                (Some((commune, _)), _) => lang.fill(S::PairJoined, &[commune]),
                (_, Some(name)) => lang.fill(S::PairEnrolled, &[name]),
                _ => lang.fill(S::PairEnrolled, &[&s.label]),
            };
            ui.label(bold(&text, 24.0).color(widgets::GREEN));
        }
        Phase::Failed(r) => {
            ui.label(bold(lang.t(S::PairFailedTitle), 24.0).color(widgets::RED));
            let kiosk = s.side == Side::Machine;
            ui.label(RichText::new(reason_text(lang, r, kiosk)).size(20.0));
            ui.label(RichText::new(lang.t(S::PairRetry)).size(20.0));
        }
        _ => {}
    }
    if widgets::big_button(ui, lang.t(S::PairClose)).clicked()
        && let Some(p) = &st.pair
    {
        p.clear();
    }
}

// ---- the new machine --------------------------------------------------------------

/// The first screen of a machine that belongs to no commune yet.
pub fn waiting(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    if let Some(p) = &st.pair {
        p.set_waiting(true);
    }
    let pv = pair_view(st);
    let label = if pv.label.is_empty() {
        crate::pair::run::host_label()
    } else {
        pv.label.clone()
    };
    widgets::scroll_area("waiting", st.scroll_top).show(ui, |ui| {
        ui.add_space(12.0);
        ui.label(bold(lang.t(S::WaitingTitle), 32.0));
        ui.add_space(8.0);
        let session = pv.session.clone().filter(|s| s.side == Side::Machine);
        match session {
            Some(s) if s.finished() => widgets::card(ui, widgets::GREY, |ui| {
                outcome(ui, st, &s, lang);
            }),
            Some(s) => widgets::card(ui, widgets::GREEN, |ui| match s.code {
                None => {
                    // No spinner: the kiosk's screen stays still (and testable).
                    ui.label(RichText::new(lang.t(S::PairConnecting)).size(22.0));
                }
                Some(code) => {
                    ui.label(RichText::new(lang.t(S::PairCodeMachine)).size(22.0));
                    big_code(ui, code);
                    if s.confirmed_here {
                        ui.label(RichText::new(lang.t(S::PairWaitOffice)).size(20.0));
                    } else {
                        ui.horizontal_wrapped(|ui| {
                            if widgets::primary_button(ui, lang.t(S::PairMatch)).clicked()
                                && let Some(p) = &st.pair
                            {
                                p.confirm(None);
                            }
                            if widgets::big_button(ui, lang.t(S::PairNoMatch)).clicked()
                                && let Some(p) = &st.pair
                            {
                                p.reject();
                            }
                        });
                    }
                }
            }),
            None => widgets::card(ui, widgets::GREEN, |ui| {
                ui.label(RichText::new(lang.fill(S::WaitingBody, &[&label])).size(22.0));
                // The office lists machines by label and this short id: forged names
                // on the LAN can copy a label, not a key.
                if let Some(me) = view.me {
                    ui.label(
                        RichText::new(lang.fill(S::WaitingShortId, &[&me.short()]))
                            .size(20.0)
                            .monospace(),
                    );
                }
            }),
        };
        ui.add_space(12.0);
        widgets::card(ui, widgets::GREY, |ui| {
            ui.label(bold(lang.t(S::UsbTitle), 22.0));
            ui.label(RichText::new(lang.t(S::UsbBody)).size(20.0));
            ui.horizontal_wrapped(|ui| {
                if widgets::big_button(ui, lang.t(S::UsbWriteId)).clicked() {
                    let label = label.clone();
                    st.act(Tag::Pairing(Job::WriteId), move |repo| {
                        usb::write_id(&repo.node_id(), &label)
                            .map(|p| lang.fill(S::UsbIdWritten, &[&p.display().to_string()]))
                            .map_err(|_| anyhow::anyhow!(lang.t(S::UsbNoStick)))
                    });
                }
                if widgets::big_button(ui, lang.t(S::UsbReadInvite)).clicked() {
                    let commune = st.pair.as_ref().and_then(|p| p.commune());
                    st.act(Tag::Pairing(Job::ReadInvite), move |repo| {
                        let Some((_, invite)) = usb::find_invite(&repo.node_id(), commune.as_ref())
                        else {
                            anyhow::bail!(lang.t(S::UsbNoInvite));
                        };
                        repo.join(&invite).map_err(|e| {
                            tracing::warn!("the invite on the USB stick was refused: {e:#}");
                            anyhow::anyhow!(lang.t(S::UsbBadInvite))
                        })?;
                        Ok(lang.fill(S::PairJoined, &[&invite.commune_name]))
                    });
                }
            });
            message(ui, st);
        });
        ui.add_space(8.0);
        ui.label(
            RichText::new(lang.t(S::ThisNodeId))
                .size(16.0)
                .color(widgets::GREY),
        );
        if let Some(me) = view.me {
            ui.label(
                RichText::new(me.to_string())
                    .monospace()
                    .size(14.0)
                    .color(widgets::GREY),
            );
        }
    });
}

// ---- the office -------------------------------------------------------------------

/// The office's list of new machines (LAN and USB) and the session in progress, at
/// the top of the devices screen.
pub fn new_machines(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    if let Some(p) = &st.pair {
        p.set_scanning(true);
    }
    let pv = pair_view(st);
    widgets::card(ui, widgets::GREEN, |ui| {
        ui.label(bold(lang.t(S::NewMachinesTitle), 22.0));
        let session = pv.session.clone().filter(|s| s.side == Side::Office);
        if let Some(s) = session {
            session_panel(ui, st, &s, lang);
            return;
        }
        if let Some(pick) = st.pairing.usb_pick.clone() {
            usb_panel(ui, st, &pick, lang);
            return;
        }
        if pv.candidates.is_empty() && st.pairing.usb_ids.is_empty() {
            ui.label(RichText::new(lang.t(S::NewMachinesNone)).size(18.0));
        }
        let mut start = None;
        for c in &pv.candidates {
            ui.horizontal_wrapped(|ui| {
                ui.label(bold(&c.label, 20.0));
                ui.label(
                    RichText::new(c.node.short())
                        .monospace()
                        .color(widgets::GREY),
                );
                if let Some(m) = view.roster.member(&c.node) {
                    ui.label(lang.fill(S::AlreadyIn, &[lang.role(m.role)]));
                }
                if widgets::big_button(ui, &lang.fill(S::PairWith, &[&c.label])).clicked() {
                    start = Some(c.node);
                }
            });
        }
        let mut pick = None;
        for f in &st.pairing.usb_ids {
            ui.horizontal_wrapped(|ui| {
                ui.label(bold(&f.label, 20.0));
                ui.label(
                    RichText::new(f.node.short())
                        .monospace()
                        .color(widgets::GREY),
                );
                ui.label(format!("({})", lang.t(S::FromUsb)));
                if let Some(m) = view.roster.member(&f.node) {
                    ui.label(lang.fill(S::AlreadyIn, &[lang.role(m.role)]));
                }
                if widgets::big_button(ui, &lang.fill(S::PairWith, &[&f.label])).clicked() {
                    pick = Some(f.clone());
                }
            });
        }
        if let (Some(node), Some(p)) = (start, &st.pair) {
            st.pairing.message = None;
            p.start(node);
        }
        if let Some(f) = pick {
            st.pairing.fill_for(f.node, &f.label);
            st.pairing.message = None;
            st.pairing.usb_pick = Some(f);
        }
        if widgets::big_button(ui, lang.t(S::UsbFindIds)).clicked() {
            st.act(Tag::Pairing(Job::FindIds), move |_| {
                let ids = usb::find_ids();
                if ids.is_empty() {
                    anyhow::bail!(lang.t(S::UsbNoIds));
                }
                Ok(serde_json::to_string(&ids)?)
            });
        }
        message(ui, st);
    });
}

/// The office is pairing a machine (LAN or USB): its form is up.
pub fn busy(st: &Station) -> bool {
    st.pairing.usb_pick.is_some()
        || pair_view(st)
            .session
            .is_some_and(|s| s.side == Side::Office && !s.finished())
}

/// Role, name and place for the machine being enrolled.
fn form(ui: &mut Ui, st: &mut Station, lang: Lang) {
    let f = &mut st.pairing;
    ui.label(lang.t(S::RoleField));
    ui.horizontal_wrapped(|ui| {
        for r in Role::ALL {
            if widgets::choice(ui, f.role.unwrap_or(Role::Kiosk) == *r, lang.role(*r)).clicked() {
                f.role = Some(*r);
            }
        }
    });
    ui.columns(2, |cols| {
        widgets::text_field(
            &mut cols[0],
            lang.t(S::DeviceName),
            &mut f.name,
            false,
            false,
        );
        widgets::text_field(
            &mut cols[1],
            lang.t(S::DevicePlace),
            &mut f.place,
            false,
            false,
        );
    });
}

fn session_panel(ui: &mut Ui, st: &mut Station, s: &SessionView, lang: Lang) {
    ui.label(bold(&lang.fill(S::PairingWith, &[&s.label]), 22.0));
    if s.finished() {
        outcome(ui, st, s, lang);
        return;
    }
    let Some(code) = s.code else {
        ui.label(lang.t(S::PairConnecting));
        return;
    };
    ui.label(RichText::new(lang.t(S::PairCodeOffice)).size(20.0));
    big_code(ui, code);
    st.pairing.fill_for(s.peer, &s.label);
    form(ui, st, lang);
    if s.confirmed_here {
        ui.label(lang.t(S::PairWaitMachine));
    } else {
        ui.horizontal_wrapped(|ui| {
            if widgets::primary_button(ui, lang.t(S::PairConfirmOffice)).clicked()
                && let Some(p) = &st.pair
            {
                p.confirm(Some(st.pairing.enrolment(st.addrs.clone())));
            }
            if widgets::big_button(ui, lang.t(S::PairNoMatch)).clicked()
                && let Some(p) = &st.pair
            {
                p.reject();
            }
        });
    }
    // Below the buttons, not above: the machine's word arrives whenever it does, and
    // a line appearing above them moved the buttons under the official's finger
    // (a tap on "Không khớp" landed beside it in 1 of 5 test runs).
    if s.confirmed_there {
        ui.label(RichText::new(lang.t(S::PairMachineConfirmed)).color(widgets::GREEN));
    }
}

/// A machine whose id came on a stick: enrol it and write its invite back.
fn usb_panel(ui: &mut Ui, st: &mut Station, pick: &IdFile, lang: Lang) {
    ui.label(bold(&lang.fill(S::PairingWith, &[&pick.label]), 22.0));
    form(ui, st, lang);
    ui.horizontal_wrapped(|ui| {
        if widgets::primary_button(ui, lang.t(S::UsbEnrol)).clicked() {
            let e = st.pairing.enrolment(st.addrs.clone());
            let f = pick.clone();
            st.act(Tag::Pairing(Job::UsbEnrol), move |repo| {
                let name = e.name.clone();
                let invite = crate::pair::run::enrol_checked(repo, f.node, e)
                    .map_err(|r| anyhow::anyhow!(reason_text(lang, &r, false)))?;
                let invite = crate::repo::Invite::decode(&invite)?;
                let path = usb::write_invite(Some(&f.path), &name, &invite)
                    .map_err(|_| anyhow::anyhow!(lang.t(S::UsbNoStick)))?;
                Ok(lang.fill(S::UsbInviteWritten, &[&path.display().to_string()]))
            });
        }
        if widgets::big_button(ui, lang.t(S::PairClose)).clicked() {
            st.pairing.usb_pick = None;
        }
    });
    message(ui, st);
}

/// Under the invite the manual enrolment printed: write it to a stick.
pub fn invite_to_usb(ui: &mut Ui, st: &mut Station, invite: &str, lang: Lang) {
    if widgets::big_button(ui, lang.t(S::InviteToUsb)).clicked() {
        let text = invite.to_string();
        st.act(Tag::Pairing(Job::InviteToUsb), move |_| {
            let invite = crate::repo::Invite::decode(&text)?;
            let path = usb::write_invite(None, &invite.name, &invite)
                .map_err(|_| anyhow::anyhow!(lang.t(S::UsbNoStick)))?;
            Ok(lang.fill(S::UsbInviteWritten, &[&path.display().to_string()]))
        });
    }
    message(ui, st);
}
