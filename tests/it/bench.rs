//! A small, quick run of the benchmark workloads so the harness cannot rot. Only
//! deterministic quantities are asserted (bytes, round trips), never times.

use conglang::lab::{self, Pair};
use conglang::model::NoticeDraft;
use rand::SeedableRng;

#[test]
fn w1_fresh_kiosk_costs_close_to_the_data_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pair::create(dir.path()).unwrap();
    let changes = lab::w1_changes(p.office.identity(), &p.filer, 60, 12, 120, 1);
    lab::load(&mut p.office, changes, None).unwrap();
    let floor = lab::floor_bytes(&p.office.all_changes().unwrap());
    let m = lab::sync_in_memory(&mut p.office, &mut p.kiosk).unwrap();
    let ratio = m.bytes() as f64 / floor as f64;
    assert!(
        ratio <= 1.15,
        "W1: {} bytes for a floor of {floor} ({ratio:.3}×)",
        m.bytes()
    );
    let save = lab::baseline_full_save(&p.office).unwrap();
    let (am, _) = lab::baseline_automerge_sync(&p.office).unwrap();
    assert!(
        am > m.bytes(),
        "Automerge's per-document sync ({am}) should cost more than ours ({})",
        m.bytes()
    );
    assert!(save > 0);
}

#[test]
fn w2_noop_is_one_round_trip_and_under_a_kib_w3_one_notice_is_cheap() {
    for n in [100, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Pair::create(dir.path()).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
        let docs: Vec<_> = (0..n)
            .map(|_| lab::notice(p.office.identity(), &mut rng, 200, false))
            .collect();
        lab::load(&mut p.office, docs.clone(), None).unwrap();
        lab::load(&mut p.kiosk, docs, None).unwrap();
        lab::sync_in_memory(&mut p.office, &mut p.kiosk).unwrap();
        let noop = lab::sync_in_memory(&mut p.office, &mut p.kiosk).unwrap();
        assert_eq!(noop.round_trips, 1, "W2 n={n}: {noop:?}");
        assert!(noop.bytes() <= 1024, "W2 n={n}: {} bytes", noop.bytes());
        let id = p
            .office
            .post_notice(&NoticeDraft {
                title: "Lịch tiêm chủng tháng 12".into(),
                body: lab::text(&mut rng, 500),
                ..Default::default()
            })
            .unwrap();
        let change: u64 = p
            .office
            .changes_missing(&id, &[])
            .unwrap()
            .iter()
            .map(|c| c.bytes.len() as u64 + 64)
            .sum();
        let one = lab::sync_in_memory(&mut p.office, &mut p.kiosk).unwrap();
        assert!(one.round_trips <= 3, "W3 n={n}: {one:?}");
        assert!(
            one.bytes() <= change + 1024,
            "W3 n={n}: {} bytes for a {change} byte change",
            one.bytes()
        );
    }
}

/// W7 at a tenth of the benchmark's size: a first contact between overlapping stores
/// costs about the differing changes, not the store (protocol 1 offered every document).
#[test]
fn w7_first_contact_between_overlapping_stores_costs_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let (m, differing) = lab::w7(dir.path(), 1000, 10, 7).unwrap();
    assert!(
        m.bytes() <= 2 * differing + 16 * 1024,
        "W7: {} bytes for {differing} differing bytes",
        m.bytes()
    );
    assert!(m.round_trips <= 8, "W7: {m:?}");
}
