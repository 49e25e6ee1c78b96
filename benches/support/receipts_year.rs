//! "Receipts over a year" (BENCHMARKS.md; issue 11, point 6): what a kiosk's receipt
//! costs after 10,000 notices posted evenly over 365 days, with receipts per period,
//! against the single receipt of the previous design on the same schedule.
//!
//!     cargo bench --bench sync -- --only receipts
//!
//! Real office and kiosk stores. The clock is the process's fake time source
//! (`clock::set_offset_ms`), moved one simulated day at a time. Each day the office
//! posts that day's notices, withdraws and corrects some, and the kiosk receives the
//! day's changes in one contact (one import: one receipt change, as a courier's daily
//! visit or a short LAN contact gives). The previous design is replayed beside it:
//! one `rc-<node>` document, the same entries written with the same schema functions,
//! signed with the kiosk's key and a chain link, one change per contact, never
//! dropped. Sizes are what each receipt change weighs as an item of the set (document
//! id + change bytes + 64-byte signature): what every node holds and what a sync
//! carries to each peer.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use automerge::{Automerge, AutomergeError, transaction::CommitOptions};
use rand::{RngExt, SeedableRng};
use serde_json::json;

use conglang::lab::{self, Pair};
use conglang::model::signed::{ChainMeta, new_actor};
use conglang::model::{self, DocId, NoticeDraft, SignedChange};
use conglang::repo::Repo;

const DAY: i64 = 86_400;

/// How long a notice stays up, by share of notices: most a month, some a week, a few
/// pinned all year (office hours, fees, the hotline); some of the month-long ones are
/// withdrawn after two days, some corrected the next day.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Life {
    Month,
    Week,
    Pinned,
}

struct Planned {
    day: i64,
    life: Life,
    withdraw_after: Option<i64>,
    correct_after: Option<i64>,
}

fn plan(n: usize, days: i64, seed: u64) -> Vec<Planned> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let x: f64 = rng.random_range(0.0..1.0);
            let life = if x < 0.02 {
                Life::Pinned
            } else if x < 0.15 {
                Life::Week
            } else {
                Life::Month
            };
            let y: f64 = rng.random_range(0.0..1.0);
            Planned {
                day: i as i64 * days / n as i64,
                life,
                withdraw_after: (life == Life::Month && y < 0.05).then_some(2),
                correct_after: (y > 0.95).then_some(1),
            }
        })
        .collect()
}

/// Sets the process clock to `t` (unix seconds).
fn set_clock(t: i64) {
    conglang::clock::set_offset_ms(0);
    let real = conglang::clock::now_ms();
    conglang::clock::set_offset_ms(t * 1000 - real);
}

fn item_bytes(c: &SignedChange) -> u64 {
    (c.doc.as_str().len() + c.bytes.len() + c.sig.len()) as u64
}

/// Bytes of every change of `owner`'s receipts `repo` holds, and their entries.
fn receipts_held(repo: &Repo, owner: &conglang::identity::NodeId) -> Result<(u64, usize, usize)> {
    let mut bytes = 0;
    let docs = repo.receipt_docs(owner)?;
    for d in &docs {
        bytes += repo
            .changes_missing(d, &[])?
            .iter()
            .map(item_bytes)
            .sum::<u64>();
    }
    let entries = repo
        .receipts()?
        .into_iter()
        .find(|(n, _)| n == owner)
        .map_or(0, |(_, r)| r.notices.len());
    Ok((bytes, docs.len(), entries))
}

/// The previous design's receipt: one document, an entry per notice ever held.
struct Legacy {
    doc: Automerge,
    id: DocId,
    prev: [u8; 32],
    first: BTreeMap<DocId, i64>,
    held: u64,
}

impl Legacy {
    fn note(&mut self, kiosk: &Repo, notices: &BTreeSet<DocId>, now: i64) -> Result<u64> {
        let mut entries = Vec::new();
        for n in notices {
            let Some(row) = kiosk.doc_row(n)? else {
                continue;
            };
            let at = *self.first.entry(n.clone()).or_insert(now);
            entries.push((n.clone(), at, model::schema::short_heads(&row.heads)));
        }
        if entries.is_empty() {
            return Ok(0);
        }
        let fresh = self.doc.get_heads().is_empty();
        let me = kiosk.node_id();
        let message = ChainMeta::for_doc(&self.id, Some(self.prev)).encode();
        let before = self.doc.get_heads();
        self.doc
            .transact_with::<_, _, AutomergeError, _>(
                |_| {
                    CommitOptions::default()
                        .with_time(now)
                        .with_message(message.clone())
                },
                |tx| {
                    if fresh {
                        model::put_header(tx, model::Kind::Receipt, &me, now)?;
                        model::write_receipt_header(tx)?;
                    }
                    model::write_receipt_entries(tx, &entries)
                },
            )
            .map_err(|e| anyhow::anyhow!("{}", e.error))?;
        let mut c = self
            .doc
            .get_changes(&before)
            .pop()
            .expect("one change per contact");
        let s = SignedChange::sign(kiosk.identity(), &self.id, &mut c);
        self.prev = c.hash().0;
        let b = item_bytes(&s);
        self.held += b;
        Ok(b)
    }
}

pub fn run(quick: bool) -> Result<serde_json::Value> {
    let notices = if quick { 1_000 } else { 10_000 };
    let days = 365i64;
    let dir = tempfile::tempdir()?;
    let mut p = Pair::create(dir.path())?;
    let kid = p.kiosk.node_id();
    let plan = plan(notices, days, 11);
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    // Day 0 starts at 08:00 (UTC+7) at the start of a receipt period, so the year
    // spans 12 period changes whatever day the bench runs.
    let start = (model::receipt_period_of(conglang::model::text::now()) as i64 + 1)
        * model::RECEIPT_PERIOD_SECS
        + 3600;
    let mut legacy = Legacy {
        doc: Automerge::new(),
        id: DocId::receipt(&kid),
        prev: [0; 32],
        first: BTreeMap::new(),
        held: 0,
    };
    legacy.doc.set_actor(new_actor(&kid));
    let mut posted: Vec<(usize, DocId)> = Vec::new();
    let mut seen: BTreeSet<[u8; 32]> = BTreeSet::new();
    let mut daily_new = Vec::new();
    let mut daily_legacy = Vec::new();
    let mut held_max = 0u64;
    let mut monthly = Vec::new();
    let t0 = std::time::Instant::now();
    for day in 0..days {
        let now = start + day * DAY;
        set_clock(now);
        let mut touched: BTreeSet<DocId> = BTreeSet::new();
        for (i, pl) in plan.iter().enumerate().filter(|(_, pl)| pl.day == day) {
            let valid_until = match pl.life {
                Life::Month => Some(now + 30 * DAY),
                Life::Week => Some(now + 7 * DAY),
                Life::Pinned => None,
            };
            let id = p.office.post_notice(&NoticeDraft {
                title: lab::text(&mut rng, 50),
                body: lab::text(&mut rng, 300),
                valid_until,
                ..Default::default()
            })?;
            touched.insert(id.clone());
            posted.push((i, id));
        }
        for (i, id) in &posted {
            let pl = &plan[*i];
            if pl.withdraw_after.map(|d| pl.day + d) == Some(day) {
                p.office.withdraw_notice(id)?;
                touched.insert(id.clone());
            }
            if pl.correct_after.map(|d| pl.day + d) == Some(day)
                && let Some(n) = p.office.notice(id)?
                && !n.withdrawn
            {
                p.office.edit_notice(
                    id,
                    &NoticeDraft {
                        title: n.title,
                        body: format!("{} (đã sửa)", n.body),
                        valid_until: n.valid_until,
                        ..Default::default()
                    },
                )?;
                touched.insert(id.clone());
            }
        }
        // The day's contact: the kiosk receives what changed, in one import.
        let mut changes = Vec::new();
        for id in &touched {
            changes.extend(p.office.changes_missing(id, &[])?);
        }
        p.kiosk.import(changes, Some(&p.office.node_id()))?;
        // What the kiosk's receipts gained today: what the next contact carries.
        let mut added = 0;
        for d in p.kiosk.receipt_docs(&kid)? {
            for c in p.kiosk.changes_missing(&d, &[])? {
                let h: [u8; 32] = automerge::Change::from_bytes(c.bytes.clone())
                    .map(|x| x.hash().0)
                    .unwrap_or_default();
                if seen.insert(h) {
                    added += item_bytes(&c);
                }
            }
        }
        daily_new.push(added);
        daily_legacy.push(legacy.note(&p.kiosk, &touched, now)?);
        let (held, _, _) = receipts_held(&p.kiosk, &kid)?;
        held_max = held_max.max(held);
        if day % 30 == 29 {
            let live = p.kiosk.notices()?.iter().filter(|n| n.is_live(now)).count();
            monthly.push(
                json!({"day": day + 1, "live": live, "held": held, "legacy_held": legacy.held}),
            );
            eprintln!(
                "receipts: day {:>3}: {live} live notices, kiosk receipts {held} B held (single receipt: {} B)",
                day + 1,
                legacy.held
            );
        }
    }
    let now = start + (days - 1) * DAY;
    let (held, docs, entries) = receipts_held(&p.kiosk, &kid)?;
    // The receipts travel to the office like any other change, and it holds the same.
    let m = lab::sync_in_memory(&mut p.office, &mut p.kiosk)?;
    let (office_held, office_docs, _) = receipts_held(&p.office, &kid)?;
    anyhow::ensure!(
        (office_held, office_docs) == (held, docs),
        "the office holds other receipts of the kiosk than the kiosk"
    );
    let live = p.kiosk.notices()?.iter().filter(|n| n.is_live(now)).count();
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len() as f64;
    let max = |v: &[u64]| v.iter().copied().max().unwrap_or(0);
    let out = json!({
        "notices": notices,
        "days": days,
        "live_at_end": live,
        "periodic": {
            "held_bytes_end": held,
            "held_bytes_max": held_max,
            "receipt_docs_end": docs,
            "entries_end": entries,
            "sync_bytes_per_day_mean": mean(&daily_new),
            "sync_bytes_day_max": max(&daily_new),
            "sync_bytes_year": daily_new.iter().sum::<u64>(),
        },
        "single": {
            "held_bytes_end": legacy.held,
            "entries_end": legacy.first.len(),
            "sync_bytes_per_day_mean": mean(&daily_legacy),
            "sync_bytes_day_max": max(&daily_legacy),
            "sync_bytes_year": daily_legacy.iter().sum::<u64>(),
        },
        "final_sync_bytes": m.bytes(),
        "monthly": monthly,
        "wall_s": t0.elapsed().as_secs_f64(),
    });
    conglang::clock::set_offset_ms(0);
    eprintln!(
        "receipts over a year ({notices} notices, {live} live at the end): periodic {held} B held \
         ({docs} receipts, {entries} entries; max {held_max} B), {:.0} B/day to sync (max {} B); \
         single receipt {} B held ({} entries), {:.0} B/day (max {} B)",
        mean(&daily_new),
        max(&daily_new),
        legacy.held,
        legacy.first.len(),
        mean(&daily_legacy),
        max(&daily_legacy)
    );
    Ok(out)
}
