//! The official's console on the commune office PC: notices (write, edit,
//! withdraw, see who has received them), the residents' requests (filter, answer,
//! set an appointment, resolve; contact shown in clear) and the device roster
//! (enrol with an invite, revoke).
//!
//! The office PC has a real keyboard, so fields are plain text fields. Times are
//! typed the way the commune writes them ("08:00 15/09/2026") and read strictly
//! (`super::dates`): under each time box the console shows the weekday and the full
//! date it understood, or why it cannot, before anything is saved. Junk requests
//! are ticked and dismissed in bulk (status `junk`).

use egui::{RichText, Ui};

use super::dates::{WhenError, describe, parse_when};
use super::i18n::{Lang, S};
use super::lookup::status_color;
use super::widgets::{self, bold};
use super::{Screen, Station, Tag, View};
use crate::identity::NodeId;
use crate::model::{Appointment, Category, DocId, Notice, NoticeDraft, Request, Role, Status};
use crate::repo::HeldVersion;

/// A notice being written or edited.
#[derive(Clone, Debug, Default)]
pub struct Compose {
    pub editing: Option<DocId>,
    pub title: String,
    pub body: String,
    pub category: Option<Category>,
    pub urgent: bool,
    pub starts: String,
    pub place: String,
    pub valid_until: String,
    pub hamlets: String,
    /// The times as they were when editing began: an old notice's past start
    /// time may be kept, not typed anew.
    pub orig_starts: String,
    pub orig_valid_until: String,
}

impl Compose {
    fn from_notice(n: &Notice) -> Compose {
        let starts = n.starts.map(widgets::fmt_time).unwrap_or_default();
        let valid_until = n.valid_until.map(widgets::fmt_time).unwrap_or_default();
        Compose {
            editing: Some(n.id.clone()),
            title: n.title.clone(),
            body: n.body.clone(),
            category: Some(n.category),
            urgent: n.urgent,
            orig_starts: starts.clone(),
            orig_valid_until: valid_until.clone(),
            starts,
            place: n.place.clone().unwrap_or_default(),
            valid_until,
            hamlets: n.hamlets.join(", "),
        }
    }

    fn starts(&self, now: i64) -> Result<Option<i64>, WhenError> {
        let kept = self.editing.is_some() && self.starts.trim() == self.orig_starts;
        parse_when(&self.starts, now, false, kept)
    }

    fn valid_until(&self, now: i64) -> Result<Option<i64>, WhenError> {
        let kept = self.editing.is_some() && self.valid_until.trim() == self.orig_valid_until;
        parse_when(&self.valid_until, now, true, kept)
    }

    fn draft(&self, lang: Lang, now: i64) -> Result<NoticeDraft, String> {
        let bad = |e: WhenError, f: S| e.text(lang, lang.t(f));
        Ok(NoticeDraft {
            title: self.title.clone(),
            body: self.body.clone(),
            category: self.category,
            urgent: self.urgent,
            starts: self.starts(now).map_err(|e| bad(e, S::StartsField))?,
            place: Some(self.place.trim().to_string()).filter(|p| !p.is_empty()),
            valid_until: self
                .valid_until(now)
                .map_err(|e| bad(e, S::ValidUntilField))?,
            hamlets: self
                .hamlets
                .split(',')
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .collect(),
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct OfficialState {
    pub compose: Option<Compose>,
    pub compose_error: Option<String>,
    pub reach_open: Option<DocId>,
    pub filter_status: Option<Status>,
    pub filter_hamlet: Option<String>,
    /// Tracking code of the request being answered.
    pub selected: Option<String>,
    pub answer: String,
    pub appt_at: String,
    pub appt_place: String,
    pub answer_error: Option<String>,
    /// The answer, time and place as they were when `answer_error` was set: the
    /// message goes as soon as any of them is changed (issue 24: "Vui lòng điền:
    /// Câu trả lời" stayed after the answer was filled in).
    pub answer_error_for: (String, String, String),
    /// The appointment picker is unfolded.
    pub picker_open: bool,
    /// The answer form was just opened: scroll it into sight and focus it.
    pub answer_opened: bool,
    /// Requests ticked for a bulk action (tracking codes).
    pub picked: std::collections::BTreeSet<String>,
    pub enrol_node: String,
    pub enrol_role: Option<Role>,
    pub enrol_name: String,
    pub enrol_place: String,
    pub enrol_error: Option<String>,
    pub invite: Option<String>,
    pub revoke_armed: Option<NodeId>,
    /// Roles the official unticked for the release on the updates screen.
    pub update_skip: Vec<Role>,
}

impl OfficialState {
    pub(super) fn on_saved(&mut self, tag: Tag) {
        match tag {
            Tag::PostNotice | Tag::EditNotice => {
                self.compose = None;
                self.compose_error = None;
            }
            Tag::Answer => {
                self.selected = None;
                self.answer.clear();
                self.appt_at.clear();
                self.appt_place.clear();
                self.answer_error = None;
            }
            Tag::Revoke => self.revoke_armed = None,
            Tag::MarkJunk => self.picked.clear(),
            _ => {}
        }
    }
}

pub fn show(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang, screen: &Screen, now: i64) {
    let id = match screen {
        Screen::Inbox => "official-inbox",
        Screen::Roster => "official-roster",
        _ => "official-notices",
    };
    widgets::scroll_area(id, st.scroll_top).show(ui, |ui| match screen {
        Screen::Inbox => inbox(ui, st, view, lang, now),
        Screen::Roster => {
            // A machine waiting to be paired comes first: someone stands at it.
            super::pairing::new_machines(ui, st, view, lang);
            super::fleet::show(ui, st, view, lang, now);
            roster(ui, st, view, lang)
        }
        _ => notices(ui, st, view, lang, now),
    });
}

// ---- notices ----------------------------------------------------------------------

fn notices(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang, now: i64) {
    if st.official.compose.is_none() {
        if widgets::primary_button(ui, lang.t(S::NewNotice)).clicked() {
            st.official.compose = Some(Compose::default());
            st.official.compose_error = None;
        }
    } else {
        compose(ui, st, lang, now);
    }
    ui.add_space(10.0);
    if view.notices.is_empty() {
        ui.label(lang.t(S::NoNotices));
    }
    let me = view.me;
    let others = view
        .roster
        .members
        .values()
        .filter(|m| m.revoked.is_none() && Some(m.node) != me)
        .count();
    for n in &view.notices {
        let reach: Vec<_> = view
            .reach
            .get(&n.id)
            .map(|r| r.iter().filter(|x| Some(x.node) != me).collect())
            .unwrap_or_default();
        let accent = if n.urgent {
            widgets::RED
        } else {
            widgets::category_color(n.category)
        };
        widgets::card(ui, accent, |ui| {
            ui.horizontal_wrapped(|ui| {
                if n.urgent {
                    ui.label(bold(lang.t(S::Urgent), 18.0).color(widgets::RED));
                }
                ui.label(
                    bold(lang.category(n.category), 18.0)
                        .color(widgets::category_color(n.category)),
                );
                if n.withdrawn {
                    ui.label(bold(lang.t(S::Withdrawn), 18.0).color(widgets::GREY));
                } else if !n.is_live(now) {
                    ui.label(bold(lang.t(S::Expired), 18.0).color(widgets::GREY));
                }
            });
            ui.label(bold(&n.title, 22.0));
            if let Some(line) = super::home::when_where(n, lang) {
                ui.label(line);
            }
            ui.label(
                RichText::new(format!(
                    "{} {}",
                    lang.t(S::Posted),
                    widgets::fmt_time(n.created_at)
                ))
                .size(16.0)
                .color(widgets::GREY),
            );
            ui.horizontal_wrapped(|ui| {
                // Reached means it shows what we show: a node still on an older
                // version (a withdrawn notice still live there) is not counted.
                let current = reach
                    .iter()
                    .filter(|r| matches!(r.version, HeldVersion::Latest | HeldVersion::Newer))
                    .count();
                let count = lang.fill(S::ReachCount, &[&current.to_string(), &others.to_string()]);
                ui.label(bold(&count, 18.0));
                let open = st.official.reach_open.as_ref() == Some(&n.id);
                if widgets::toggle_button(ui, open, lang.t(S::ShowReach)).clicked() {
                    st.official.reach_open = if open { None } else { Some(n.id.clone()) };
                }
                if !n.withdrawn {
                    if widgets::big_button(ui, lang.t(S::Edit)).clicked() {
                        st.official.compose = Some(Compose::from_notice(n));
                        st.official.compose_error = None;
                    }
                    if widgets::big_button(ui, lang.t(S::Withdraw)).clicked() {
                        let id = n.id.clone();
                        st.act(Tag::Withdraw, move |repo| {
                            repo.withdraw_notice(&id).map(|()| String::new())
                        });
                    }
                }
            });
            if st.official.reach_open.as_ref() == Some(&n.id) {
                ui.label(bold(lang.t(S::ReachTitle), 18.0));
                if reach.is_empty() {
                    ui.label(lang.t(S::ReachNone));
                }
                for r in &reach {
                    let (version, color) = match r.version {
                        HeldVersion::Latest => (S::HasLatest, widgets::GREEN),
                        HeldVersion::Older => (S::HasOlder, widgets::RED),
                        HeldVersion::Newer => (S::HasNewer, widgets::GREEN),
                        HeldVersion::Unknown => (S::HasUnknown, widgets::GREY),
                    };
                    ui.horizontal_wrapped(|ui| {
                        ui.label(format!(
                            "{} ({}) — {} {}",
                            r.name,
                            r.place,
                            lang.t(S::Received),
                            widgets::fmt_time(r.since)
                        ));
                        ui.label(bold(lang.t(version), 16.0).color(color));
                    });
                }
            }
        });
        ui.add_space(6.0);
    }
}

/// The line under a time box: what was understood, weekday first, or why not.
fn time_preview(ui: &mut Ui, parsed: Result<Option<i64>, WhenError>, lang: Lang, field: S) {
    match parsed {
        Ok(None) => {}
        Ok(Some(t)) => {
            ui.label(
                RichText::new(describe(t, lang))
                    .size(17.0)
                    .color(widgets::GREEN),
            );
        }
        Err(e) => {
            ui.label(
                RichText::new(e.text(lang, lang.t(field)))
                    .size(17.0)
                    .color(widgets::RED),
            );
        }
    }
}

fn compose(ui: &mut Ui, st: &mut Station, lang: Lang, now: i64) {
    let Some(c) = st.official.compose.as_mut() else {
        return;
    };
    let mut post = false;
    let mut cancel = false;
    widgets::card(ui, widgets::GREEN, |ui| {
        let heading = if c.editing.is_some() {
            S::EditNotice
        } else {
            S::NewNotice
        };
        ui.label(bold(lang.t(heading), 24.0));
        widgets::text_field(ui, lang.t(S::Title), &mut c.title, false, false);
        widgets::text_field(ui, lang.t(S::Body), &mut c.body, true, false);
        ui.label(lang.t(S::Category));
        ui.horizontal_wrapped(|ui| {
            for cat in super::home::ORDER {
                let selected = c.category.unwrap_or(Category::Other) == cat;
                if widgets::choice(ui, selected, lang.category(cat)).clicked() {
                    c.category = Some(cat);
                }
            }
        });
        ui.checkbox(&mut c.urgent, lang.t(S::UrgentFlag));
        ui.label(
            RichText::new(lang.t(S::TimeFormat))
                .size(16.0)
                .color(widgets::GREY),
        );
        ui.columns(2, |cols| {
            widgets::text_field(
                &mut cols[0],
                lang.t(S::StartsField),
                &mut c.starts,
                false,
                false,
            );
            time_preview(&mut cols[0], c.starts(now), lang, S::StartsField);
            widgets::text_field(
                &mut cols[1],
                lang.t(S::PlaceField),
                &mut c.place,
                false,
                false,
            );
        });
        ui.columns(2, |cols| {
            widgets::text_field(
                &mut cols[0],
                lang.t(S::ValidUntilField),
                &mut c.valid_until,
                false,
                false,
            );
            time_preview(&mut cols[0], c.valid_until(now), lang, S::ValidUntilField);
            widgets::text_field(
                &mut cols[1],
                lang.t(S::HamletsField),
                &mut c.hamlets,
                false,
                false,
            );
        });
        if let Some(e) = &st.official.compose_error {
            ui.label(RichText::new(e).color(widgets::RED));
        }
        ui.horizontal(|ui| {
            let label = if c.editing.is_some() {
                S::SaveChanges
            } else {
                S::Post
            };
            post = widgets::primary_button(ui, lang.t(label)).clicked();
            cancel = widgets::big_button(ui, lang.t(S::Cancel)).clicked();
        });
    });
    if cancel {
        st.official.compose = None;
        st.official.compose_error = None;
        return;
    }
    if !post {
        return;
    }
    let Some(c) = st.official.compose.clone() else {
        return;
    };
    match c.draft(lang, now) {
        Err(e) => st.official.compose_error = Some(e),
        Ok(draft) => {
            st.official.compose_error = None;
            match c.editing {
                Some(id) => st.act(Tag::EditNotice, move |repo| {
                    repo.edit_notice(&id, &draft).map(|()| String::new())
                }),
                None => st.act(Tag::PostNotice, move |repo| {
                    repo.post_notice(&draft).map(|id| id.to_string())
                }),
            }
        }
    }
}

// ---- requests -----------------------------------------------------------------------

fn inbox(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang, now: i64) {
    let o = &mut st.official;
    ui.label(lang.t(S::FilterStatus));
    ui.horizontal_wrapped(|ui| {
        if widgets::choice(ui, o.filter_status.is_none(), lang.t(S::All)).clicked() {
            o.filter_status = None;
        }
        for s in Status::ALL {
            let n = view.requests.iter().filter(|r| r.status == *s).count();
            let text = format!("{} ({n})", lang.status(*s));
            if widgets::choice(ui, o.filter_status == Some(*s), &text).clicked() {
                o.filter_status = Some(*s);
            }
        }
    });
    ui.label(lang.t(S::FilterHamlet));
    ui.horizontal_wrapped(|ui| {
        if widgets::choice(
            ui,
            o.filter_hamlet.is_none(),
            &format!("{} ", lang.t(S::All)),
        )
        .clicked()
        {
            o.filter_hamlet = None;
        }
        for h in view.hamlets() {
            if widgets::choice(ui, o.filter_hamlet.as_deref() == Some(&h), &h).clicked() {
                o.filter_hamlet = Some(h);
            }
        }
    });
    ui.add_space(8.0);
    // Junk stays out of sight unless asked for.
    let shown: Vec<&Request> = view
        .requests
        .iter()
        .filter(|r| match o.filter_status {
            None => r.status != Status::Junk,
            Some(s) => r.status == s,
        })
        .filter(|r| o.filter_hamlet.as_ref().is_none_or(|h| &r.hamlet == h))
        .collect();
    if shown.is_empty() {
        ui.label(lang.t(S::NoRequests));
    }
    // Bulk: tick the junk, dismiss it in one go.
    let mut mark = false;
    ui.horizontal_wrapped(|ui| {
        if widgets::big_button(ui, lang.t(S::SelectAllShown)).clicked() {
            o.picked.extend(shown.iter().map(|r| r.code.clone()));
        }
        if !o.picked.is_empty() {
            let text = lang.fill(S::MarkJunk, &[&o.picked.len().to_string()]);
            mark = ui
                .add(
                    egui::Button::new(bold(&text, 20.0).color(egui::Color32::WHITE))
                        .fill(widgets::DARK_RED)
                        .min_size(egui::vec2(widgets::TOUCH, widgets::TOUCH)),
                )
                .clicked();
            if widgets::big_button(ui, lang.t(S::ClearSelection)).clicked() {
                o.picked.clear();
            }
        }
    });
    if mark {
        let codes: Vec<String> = o.picked.iter().cloned().collect();
        st.act(Tag::MarkJunk, move |repo| {
            repo.mark_requests(&codes, Status::Junk)
                .map(|n| n.to_string())
        });
    }
    for r in shown {
        request_card(ui, st, view, lang, r, now);
        ui.add_space(6.0);
    }
}

fn request_card(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang, r: &Request, now: i64) {
    widgets::card(ui, status_color(r.status), |ui| {
        ui.horizontal_wrapped(|ui| {
            let o = &mut st.official;
            let mut picked = o.picked.contains(&r.code);
            let label = lang.fill(S::SelectRequest, &[&r.code]);
            if ui
                .add(egui::Checkbox::new(
                    &mut picked,
                    RichText::new(label).size(18.0),
                ))
                .changed()
            {
                if picked {
                    o.picked.insert(r.code.clone());
                } else {
                    o.picked.remove(&r.code);
                }
            }
            ui.label(bold(&r.code, 22.0));
            ui.label(RichText::new(lang.request_kind(r.kind)).color(widgets::GREY));
            super::icons::status(ui, r.status, 28.0, lang);
            ui.label(bold(lang.status(r.status), 18.0).color(status_color(r.status)));
        });
        let contact = match view.contacts.get(&r.code) {
            Some(Some(c)) => c.clone(),
            _ => lang.t(S::NoContact).to_string(),
        };
        ui.label(format!(
            "{} — {} — {}: {}",
            r.name,
            r.hamlet,
            lang.t(S::Contact),
            contact
        ));
        ui.label(RichText::new(&r.text).italics());
        ui.label(
            RichText::new(widgets::fmt_time(r.created_at))
                .size(15.0)
                .color(widgets::GREY),
        );
        if let Some(ap) = &r.appointment {
            ui.label(format!(
                "{}: {}",
                lang.t(S::Appointment),
                lang.fill(S::AtPlace, &[&widgets::fmt_time(ap.at), &ap.place])
            ));
        }
        for a in &r.answers {
            ui.label(RichText::new(format!("» {}", a.text)).color(widgets::GREEN));
        }
        let o = &mut st.official;
        let selected = o.selected.as_deref() == Some(r.code.as_str());
        if !selected {
            if widgets::big_button(ui, &lang.fill(S::ReplyTo, &[&r.code])).clicked() {
                o.selected = Some(r.code.clone());
                o.answer.clear();
                o.appt_at.clear();
                o.appt_place.clear();
                o.answer_error = None;
                o.answer_opened = true;
            }
            return;
        }
        let top = ui.cursor().top();
        let answer = widgets::text_field(ui, lang.t(S::AnswerField), &mut o.answer, true, false);
        ui.label(
            RichText::new(lang.t(S::TimeFormat))
                .size(16.0)
                .color(widgets::GREY),
        );
        ui.columns(2, |cols| {
            widgets::text_field(
                &mut cols[0],
                lang.t(S::AppointmentAtField),
                &mut o.appt_at,
                false,
                false,
            );
            time_preview(
                &mut cols[0],
                parse_when(&o.appt_at, now, false, false),
                lang,
                S::AppointmentAtField,
            );
            super::dates::picker(&mut cols[0], &mut o.appt_at, &mut o.picker_open, now, lang);
            widgets::text_field(
                &mut cols[1],
                lang.t(S::AppointmentPlaceField),
                &mut o.appt_place,
                false,
                false,
            );
        });
        let inputs = (o.answer.clone(), o.appt_at.clone(), o.appt_place.clone());
        if o.answer_error.is_some() && inputs != o.answer_error_for {
            o.answer_error = None;
        }
        if let Some(e) = &o.answer_error {
            ui.label(RichText::new(e).color(widgets::RED));
        }
        let mut send = None;
        ui.horizontal_wrapped(|ui| {
            if widgets::primary_button(ui, lang.t(S::SendAnswer)).clicked() {
                send = Some(None);
            }
            if widgets::big_button(ui, lang.t(S::MarkResolved)).clicked() {
                send = Some(Some(Status::Resolved));
            }
            if widgets::big_button(ui, lang.t(S::Cancel)).clicked() {
                o.selected = None;
            }
        });
        if std::mem::take(&mut o.answer_opened) {
            // The form opens where the official is looking: scrolled into sight,
            // the cursor in the answer box.
            let form =
                egui::Rect::from_x_y_ranges(ui.max_rect().x_range(), top..=ui.cursor().top());
            ui.scroll_to_rect(form, None);
            answer.request_focus();
        }
        let Some(status) = send else {
            return;
        };
        o.answer_error_for = inputs;
        let place = o.appt_place.trim().to_string();
        let appointment = match parse_when(&o.appt_at, now, false, false) {
            Err(e) => {
                o.answer_error = Some(e.text(lang, lang.t(S::AppointmentAtField)));
                return;
            }
            Ok(Some(_)) if place.is_empty() => {
                o.answer_error = Some(lang.t(S::NeedsPlace).to_string());
                return;
            }
            Ok(None) if !place.is_empty() => {
                o.answer_error = Some(lang.t(S::NeedsTime).to_string());
                return;
            }
            Ok(at) => at.map(|at| Appointment { at, place }),
        };
        let mut text = o.answer.trim().to_string();
        if text.is_empty() && status == Some(Status::Resolved) {
            text = lang.t(S::ResolvedNote).to_string();
        }
        if text.is_empty() {
            o.answer_error = Some(lang.fill(S::PleaseFill, &[lang.t(S::AnswerField)]));
            return;
        }
        let code = r.code.clone();
        st.act(Tag::Answer, move |repo| {
            repo.answer_request(&code, &text, status, appointment)
                .map(|r| r.code)
        });
    });
}

// ---- roster ---------------------------------------------------------------------------

fn roster(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    ui.add_space(10.0);
    ui.label(bold(lang.t(S::RosterTitle), 24.0));
    if view.quarantined > 0 {
        ui.label(
            RichText::new(lang.fill(S::QuarantinedCount, &[&view.quarantined.to_string()]))
                .size(18.0)
                .color(widgets::RED),
        );
    }
    let mut revoke = None;
    // The founder and an official ranked below this one are not ours to revoke: the
    // button would make a change every node refuses.
    let may_revoke = |n: &crate::identity::NodeId| match (view.roster.commune_id, view.me) {
        (Some(c), Some(me)) => crate::verdict::roster::may_revoke(&c, &view.roster, &me, n),
        _ => false,
    };
    let mut members: Vec<_> = view.roster.members.values().collect();
    members.sort_by_key(|m| m.number);
    for m in members {
        let o = &mut st.official;
        widgets::card(
            ui,
            if m.revoked.is_some() {
                widgets::GREY
            } else {
                widgets::GREEN
            },
            |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.label(bold(&m.name, 20.0));
                    ui.label(format!("{} — {}", lang.role(m.role), m.place));
                    ui.label(
                        RichText::new(m.node.short())
                            .monospace()
                            .color(widgets::GREY),
                    );
                    if view.equivocators.contains(&m.node) {
                        ui.label(bold(lang.t(S::Equivocated), 18.0).color(widgets::RED));
                    }
                    if Some(m.node) == view.me {
                        ui.label(lang.t(S::You));
                    } else if m.revoked.is_some() {
                        ui.label(bold(lang.t(S::Revoked), 18.0).color(widgets::RED));
                    } else if Some(m.node) == view.roster.commune_id {
                        // The founder's key is the commune: nobody revokes it.
                    } else if !may_revoke(&m.node) {
                        ui.label(RichText::new(lang.t(S::RevokeSeniorOnly)).color(widgets::GREY));
                    } else if o.revoke_armed == Some(m.node) {
                        let text = lang.fill(S::ConfirmRevoke, &[&m.name]);
                        if ui
                            .add(
                                egui::Button::new(bold(&text, 18.0).color(egui::Color32::WHITE))
                                    .fill(widgets::RED),
                            )
                            .clicked()
                        {
                            revoke = Some(m.node);
                        }
                    } else if widgets::big_button(ui, &format!("{} {}", lang.t(S::Revoke), m.name))
                        .clicked()
                    {
                        o.revoke_armed = Some(m.node);
                    }
                });
            },
        );
        ui.add_space(4.0);
    }
    if let Some(node) = revoke {
        st.act(Tag::Revoke, move |repo| {
            repo.roster_revoke(node).map(|n| n.to_string())
        });
    }
    // While a new machine is being paired, its form is the only one on screen.
    if super::pairing::busy(st) {
        return;
    }
    ui.add_space(10.0);
    widgets::card(ui, widgets::GREEN, |ui| {
        let o = &mut st.official;
        ui.label(bold(lang.t(S::Enrol), 22.0));
        widgets::text_field(ui, lang.t(S::NodeIdField), &mut o.enrol_node, false, false);
        ui.label(lang.t(S::RoleField));
        ui.horizontal_wrapped(|ui| {
            for r in Role::ALL {
                if widgets::choice(ui, o.enrol_role.unwrap_or(Role::Kiosk) == *r, lang.role(*r))
                    .clicked()
                {
                    o.enrol_role = Some(*r);
                }
            }
        });
        ui.columns(2, |cols| {
            widgets::text_field(
                &mut cols[0],
                lang.t(S::DeviceName),
                &mut o.enrol_name,
                false,
                false,
            );
            widgets::text_field(
                &mut cols[1],
                lang.t(S::DevicePlace),
                &mut o.enrol_place,
                false,
                false,
            );
        });
        if let Some(e) = &o.enrol_error {
            ui.label(RichText::new(e).color(widgets::RED));
        }
        if widgets::primary_button(ui, lang.t(S::Enrol)).clicked() {
            match o.enrol_node.trim().parse::<NodeId>() {
                Err(e) => o.enrol_error = Some(format!("{e:#}")),
                Ok(node) => {
                    o.enrol_error = None;
                    o.invite = None;
                    let role = o.enrol_role.unwrap_or(Role::Kiosk);
                    let name = o.enrol_name.clone();
                    let place = o.enrol_place.clone();
                    let addrs = st.addrs.clone();
                    st.act(Tag::Enrol, move |repo| {
                        repo.roster_add(node, role, &name, &place, addrs)
                            .map(|i| i.encode())
                    });
                }
            }
        }
        if let Some(invite) = st.official.invite.clone() {
            let l = ui.label(bold(lang.t(S::InviteIntro), 18.0));
            let mut text = invite.as_str();
            ui.add(
                egui::TextEdit::multiline(&mut text)
                    .font(egui::TextStyle::Monospace)
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(l.id);
            super::pairing::invite_to_usb(ui, st, &invite, lang);
        }
    });
}
