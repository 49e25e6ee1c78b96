//! The sync state machine fed arbitrary frames against a real store: no panic, and
//! every change it stored verifies.
#![no_main]
#[path = "common/cost.rs"]
mod cost;

#[global_allocator]
static ALLOC: cost::Counting = cost::Counting;

/// What one input may cost here (the fixed part measured on the seed corpus, with room).
const BOUND: cost::Bound = cost::Bound {
    alloc_base: 16 << 20,
    alloc_per_byte: 4096,
    cpu_base: Duration::from_millis(500),
    cpu_per_byte: Duration::from_micros(200),
};
use std::sync::OnceLock;
use std::time::Duration;

use conglang::identity::Identity;
use conglang::repo::Repo;
use conglang::sync::{Session, wire::FrameReader};
use libfuzzer_sys::fuzz_target;

struct Env {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

fn env() -> &'static Env {
    static E: OnceLock<Env> = OnceLock::new();
    E.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("office");
        let mut r = Repo::open(&path).unwrap();
        r.init_commune("Xã Long Môn", "UBND xã").unwrap();
        Env { _dir: dir, path }
    })
}

fuzz_target!(
    // libfuzzer-sys's panic hook aborts even on panics the code under test catches
    // (`model::signed::guard` turns automerge decoder panics into refusals); the
    // default hook lets them unwind. Uncaught panics still abort: a crash.
    init: {
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| {
    cost::within(&BOUND, data, || {
    let mut repo = Repo::open(&env().path).unwrap();
    let commune = repo.commune_id().unwrap().unwrap();
    let peer = Identity::from_secret([7; 32]).node_id();
    let mut s = Session::new(repo.node_id(), peer, commune, [7; 16]);
    s.start(&mut repo).unwrap();
    let mut r = FrameReader::default();
    r.push(data);
    while let Ok(Some(m)) = r.next_msg() {
        if s.handle_message(m, &mut repo).is_err() {
            break;
        }
        while s.poll_transmit().is_some() {}
    }
    for c in repo.all_changes().unwrap() {
        assert!(c.verify().is_ok(), "stored a change that does not verify");
    }
    })
});
