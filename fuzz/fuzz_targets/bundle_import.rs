//! Bundle import on arbitrary files: no panic, nothing stored that does not verify.
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

use conglang::repo::Repo;
use libfuzzer_sys::fuzz_target;

struct Env {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    file: std::path::PathBuf,
}

fn env() -> &'static Env {
    static E: OnceLock<Env> = OnceLock::new();
    E.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiosk");
        let mut r = Repo::open(&path).unwrap();
        r.init_commune("Xã Long Môn", "UBND xã").unwrap();
        let file = dir.path().join("usb.bundle");
        Env {
            _dir: dir,
            path,
            file,
        }
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
    let e = env();
    let mut bytes = b"CONGLANG-BUNDLE 1\n".to_vec();
    bytes.extend_from_slice(data);
    std::fs::write(&e.file, &bytes).unwrap();
    let mut repo = Repo::open(&e.path).unwrap();
    let _ = conglang::bundle::import(&mut repo, &e.file);
    for c in repo.all_changes().unwrap() {
        assert!(c.verify().is_ok(), "stored a change that does not verify");
    }
    })
});
