//! "Cập nhật phần mềm" on the office console (issue 25): the releases found on a USB
//! stick (or in `<data>/updates/incoming/`), what each changes, which devices would get
//! it, and the official's approval; then, for each approved release, where every device
//! is with it (receiving, waiting for a quiet moment, installed, rolled back). The
//! courier's exchange screen shows the villages a release has still to be carried to
//! (`carry_line`).
//!
//! The stick is a stranger's filesystem: only regular files (not links) are read, a
//! record up to its bound; a record no trusted key signed is listed with the reason,
//! never offered for approval. The package itself is read and checked in the approval
//! job, on the core thread.

use std::path::{Path, PathBuf};

use egui::{RichText, Ui};

use super::i18n::{Lang, S};
use super::widgets::{self, bold};
use super::{Station, Tag, View};
use crate::model::Role;
use crate::model::health::UpdateReport;
use crate::release::{self as rel, Release};
use crate::repo::{ReleaseView, Repo};

/// A signed release found on a stick, beside its package.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub record: PathBuf,
    pub package: PathBuf,
    /// The release, or why its record cannot be used (English, for the log).
    pub release: Result<Release, String>,
}

/// Where the office looks for releases: the data directory's `updates/incoming/` and
/// every mounted stick (`pair::usb::mounted_dirs`).
pub fn find(repo: &Repo) -> Vec<Found> {
    let mut dirs = vec![
        repo.data_dir()
            .join(crate::repo::UPDATES_DIR)
            .join("incoming"),
    ];
    dirs.extend(crate::pair::usb::mounted_dirs());
    let mut out = Vec::new();
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "release"))
            .collect();
        files.sort();
        for record in files.into_iter().take(16) {
            let package = record.with_extension("deb");
            if !std::fs::symlink_metadata(&package).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let release = read_bounded(&record)
                .and_then(|b| rel::verify(&b))
                .map(|v| v.release)
                .map_err(|e| format!("{e:#}"));
            out.push(Found {
                record,
                package,
                release,
            });
        }
    }
    out
}

fn read_bounded(p: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut b = Vec::new();
    std::fs::File::open(p)?
        .take(rel::MAX_RECORD_BYTES as u64 + 1)
        .read_to_end(&mut b)?;
    Ok(b)
}

/// Where a device is with one release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceState {
    Installed,
    Receiving {
        held: u32,
        of: u32,
    },
    Ready,
    Trying,
    RolledBack,
    /// The installer could not put the previous version back: a technician's visit.
    RollbackFailed,
    Refused,
    NotYet,
}

/// `node`'s state with `release`, from its health report.
pub fn device_state(view: &View, node: &crate::identity::NodeId, release: &Release) -> DeviceState {
    let h = view
        .fleet
        .healths
        .iter()
        .find(|h| h.node.as_ref() == Some(node));
    let runs = h.map(|h| h.version.as_str()).unwrap_or("");
    if rel::compare_versions(runs, &release.version) != std::cmp::Ordering::Less {
        return DeviceState::Installed;
    }
    let upstream = |u: &UpdateReport| u.version.split('-').next().unwrap_or("").to_string();
    match h
        .and_then(|h| h.update.as_ref())
        .filter(|u| upstream(u) == release.version)
    {
        Some(u) => match u.state.as_str() {
            "waiting" => DeviceState::Receiving {
                held: u.held,
                of: u.of,
            },
            "ready" => DeviceState::Ready,
            "trying" => DeviceState::Trying,
            "installed" => DeviceState::Installed,
            "rolled_back" => DeviceState::RolledBack,
            "rollback_failed" => DeviceState::RollbackFailed,
            "refused" => DeviceState::Refused,
            _ => DeviceState::NotYet,
        },
        None => DeviceState::NotYet,
    }
}

/// What a state reads, for a release of version `v`, and how urgent it looks.
pub fn state_words(lang: Lang, s: &DeviceState, v: &str) -> (String, egui::Color32) {
    match s {
        DeviceState::Installed => (lang.fill(S::UpdStInstalled, &[v]), widgets::GREEN),
        DeviceState::Receiving { held, of } => (
            lang.fill(S::UpdStReceiving, &[v, &held.to_string(), &of.to_string()]),
            widgets::GREY,
        ),
        DeviceState::Ready => (lang.fill(S::UpdStReady, &[v]), widgets::GREY),
        DeviceState::Trying => (lang.fill(S::UpdStTrying, &[v]), widgets::GREY),
        DeviceState::RolledBack => (lang.fill(S::UpdStRolledBack, &[v]), widgets::RED),
        DeviceState::RollbackFailed => (lang.fill(S::UpdStRollbackFailed, &[v]), widgets::RED),
        DeviceState::Refused => (lang.fill(S::UpdStRefused, &[v]), widgets::RED),
        DeviceState::NotYet => (lang.fill(S::UpdStNotYet, &[v]), widgets::GREY),
    }
}

/// The newest approved release not withdrawn, if any.
pub fn current(view: &View) -> Option<&ReleaseView> {
    view.releases.iter().find(|r| !r.withdrawn)
}

/// The courier's line: the places a release has still to reach ("Cập nhật 0.3.0:
/// còn cần mang tới Bản Chang, Nà Khoang"); `None` when every device it is for has it.
pub fn carry_line(view: &View, lang: Lang) -> Option<String> {
    let r = current(view)?;
    let mut places: Vec<String> = view
        .roster
        .members
        .values()
        .filter(|m| m.revoked.is_none() && r.is_for(m.role) && view.me != Some(m.node))
        .filter(|m| {
            matches!(
                device_state(view, &m.node, &r.release),
                DeviceState::NotYet | DeviceState::Receiving { .. }
            )
        })
        .map(|m| {
            if m.place.is_empty() {
                m.name.clone()
            } else {
                m.place.clone()
            }
        })
        .collect();
    places.sort();
    places.dedup();
    (!places.is_empty()).then(|| lang.fill(S::UpdCarry, &[&r.release.version, &places.join(", ")]))
}

/// "7,8 MB" (Vietnamese writes a decimal comma), "7.8 MB".
fn mb(lang: Lang, bytes: u64) -> String {
    let s = format!("{:.1} MB", bytes as f64 / 1_000_000.0);
    match lang {
        Lang::Vi => s.replace('.', ","),
        Lang::En => s,
    }
}

/// Why a release file cannot be used, in the official's words (the English reason
/// goes to the log).
fn file_error(lang: Lang, e: &str) -> String {
    tracing::warn!("release file refused: {e}");
    if e.contains("not a trusted release key") {
        lang.t(S::UpdUntrusted).to_string()
    } else if e.contains("truncated") || e.contains("SHA-256") || e.contains("cannot read") {
        lang.t(S::UpdDamaged).to_string()
    } else {
        lang.t(S::UpdInvalid).to_string()
    }
}

/// The error of an approval, in the official's words.
fn approve_error(lang: Lang, e: &str) -> String {
    lang.fill(S::UpdApproveFailed, &[&file_error(lang, e)])
}

pub fn show(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    widgets::scroll_area("official-updates", st.scroll_top).show(ui, |ui| {
        ui.label(bold(lang.t(S::UpdTitle), 26.0));
        ui.label(RichText::new(lang.fill(S::UpdThisMachine, &[rel::running_version()])).size(18.0));
        ui.add_space(8.0);
        found(ui, st, view, lang);
        ui.add_space(12.0);
        approved(ui, st, view, lang);
    });
}

fn found(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    ui.label(bold(lang.t(S::UpdFoundTitle), 22.0));
    if view.release_files.is_empty() {
        ui.add(egui::Label::new(RichText::new(lang.t(S::UpdNoneFound)).size(18.0)).wrap());
    }
    for f in &view.release_files {
        let name = f
            .package
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let r = match &f.release {
            Err(why) => {
                let why = file_error(lang, why);
                widgets::card(ui, widgets::RED, |ui| {
                    ui.add(
                        egui::Label::new(
                            bold(&lang.fill(S::UpdBadFile, &[&name, &why]), 18.0)
                                .color(widgets::RED),
                        )
                        .wrap(),
                    );
                });
                continue;
            }
            Ok(r) => r,
        };
        let held = view
            .releases
            .iter()
            .find(|a| a.release == *r && !a.withdrawn && rel::trusted(&a.key));
        let approved = held.is_some();
        // An approval cut short (a power cut while writing the chunks) is finished
        // from here: approving again writes only what is missing.
        let unfinished = held.is_some_and(|a| !a.complete());
        widgets::card(ui, widgets::GREEN, |ui| {
            ui.label(bold(
                &lang.fill(
                    S::UpdVersionLine,
                    &[&r.version, &r.arch, &mb(lang, r.size), &r.min_from],
                ),
                20.0,
            ));
            ui.label(bold(lang.t(S::UpdNotes), 17.0).color(widgets::GREY));
            ui.add(egui::Label::new(RichText::new(&r.notes).size(18.0)).wrap());
            if approved {
                ui.label(bold(lang.t(S::UpdAlready), 18.0).color(widgets::GREEN));
                if unfinished && widgets::big_button(ui, lang.t(S::UpdContinue)).clicked() {
                    let (record, package) = (f.record.clone(), f.package.clone());
                    approve(st, lang, record, package, vec![Role::Kiosk]);
                }
                return;
            }
            ui.label(bold(lang.t(S::UpdFor), 17.0).color(widgets::GREY));
            // Every role until the official unticks one.
            let skip = &mut st.official.update_skip;
            ui.horizontal_wrapped(|ui| {
                for role in Role::ALL {
                    let on = !skip.contains(role);
                    if widgets::choice(ui, on, lang.role(*role)).clicked() {
                        if on {
                            skip.push(*role);
                        } else {
                            skip.retain(|r| r != role);
                        }
                    }
                }
            });
            let chosen: Vec<Role> = Role::ALL
                .iter()
                .copied()
                .filter(|r| !st.official.update_skip.contains(r))
                .collect();
            let mut devices: Vec<String> = view
                .roster
                .members
                .values()
                .filter(|m| m.revoked.is_none() && chosen.contains(&m.role))
                .map(|m| m.name.clone())
                .collect();
            devices.sort();
            ui.add(
                egui::Label::new(
                    RichText::new(lang.fill(
                        S::UpdDevicesN,
                        &[&devices.len().to_string(), &devices.join(", ")],
                    ))
                    .size(17.0),
                )
                .wrap(),
            );
            if !chosen.is_empty() && widgets::primary_button(ui, lang.t(S::UpdApprove)).clicked() {
                let (record, package) = (f.record.clone(), f.package.clone());
                approve(st, lang, record, package, chosen.clone());
            }
        });
    }
}

/// The approval job (on the core thread: it reads and checks the package).
fn approve(st: &mut Station, lang: Lang, record: PathBuf, package: PathBuf, roles: Vec<Role>) {
    st.act(Tag::ApproveRelease, move |repo| {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
        };
        read(&record)
            .and_then(|rec| Ok((rec, read(&package)?)))
            .and_then(|(rec, pkg)| repo.approve_release(&rec, &pkg, &roles))
            .map(|id| id.to_string())
            .map_err(|e| anyhow::anyhow!(approve_error(lang, &format!("{e:#}"))))
    });
}

fn approved(ui: &mut Ui, st: &mut Station, view: &View, lang: Lang) {
    if view.releases.is_empty() {
        return;
    }
    ui.label(bold(lang.t(S::UpdApproved), 22.0));
    for r in &view.releases {
        let accent = if r.withdrawn {
            widgets::GREY
        } else {
            widgets::GREEN
        };
        widgets::card(ui, accent, |ui| {
            let by = r
                .approved_by
                .map(|n| view.member_name(&n))
                .unwrap_or_default();
            ui.label(bold(
                &lang.fill(
                    S::UpdApprovedBy,
                    &[&r.release.version, &by, &widgets::fmt_time(r.approved_at)],
                ),
                19.0,
            ));
            if r.withdrawn {
                ui.label(bold(lang.t(S::UpdWithdrawn), 18.0).color(widgets::GREY));
                return;
            }
            egui::Grid::new(("rollout", r.id.as_str()))
                .spacing(egui::vec2(16.0, 4.0))
                .show(ui, |ui| {
                    for m in view
                        .roster
                        .members
                        .values()
                        .filter(|m| m.revoked.is_none() && r.is_for(m.role))
                    {
                        ui.label(bold(&m.name, 17.0));
                        ui.label(RichText::new(&m.place).size(16.0).color(widgets::GREY));
                        let (text, color) = state_words(
                            lang,
                            &device_state(view, &m.node, &r.release),
                            &r.release.version,
                        );
                        ui.label(bold(&text, 17.0).color(color));
                        ui.end_row();
                    }
                });
            if widgets::big_button(ui, lang.t(S::UpdWithdraw)).clicked() {
                let id = r.id.clone();
                st.act(Tag::WithdrawRelease, move |repo| {
                    repo.withdraw_release(&id).map(|()| String::new())
                });
            }
        });
        ui.add_space(6.0);
    }
}
