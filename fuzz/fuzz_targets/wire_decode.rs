//! The frame reader and message decoder on arbitrary bytes: no panic, no unbounded
//! allocation (the length prefix is checked before anything is allocated).
#![no_main]
#[path = "common/cost.rs"]
mod cost;

#[global_allocator]
static ALLOC: cost::Counting = cost::Counting;

/// What one input may cost here (the fixed part measured on the seed corpus, with room).
const BOUND: cost::Bound = cost::Bound {
    alloc_base: 1 << 20,
    alloc_per_byte: 4096,
    cpu_base: Duration::from_millis(100),
    cpu_per_byte: Duration::from_micros(50),
};
use conglang::sync::wire::FrameReader;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(
    // libfuzzer-sys's panic hook aborts even on panics the code under test catches
    // (`model::signed::guard` turns automerge decoder panics into refusals); the
    // default hook lets them unwind. Uncaught panics still abort: a crash.
    init: {
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| {
    cost::within(&BOUND, data, || {
    let mut r = FrameReader::default();
    r.push(data);
    while let Ok(Some(_)) = r.next_msg() {}
    if !data.is_empty() {
        let _ = conglang::sync::wire::decode(data);
    }
    })
});
