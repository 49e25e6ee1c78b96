//! The frame reader and message decoder on arbitrary bytes: no panic, no unbounded
//! allocation (the length prefix is checked before anything is allocated).
#![no_main]
use conglang::sync::wire::FrameReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    // libfuzzer-sys's panic hook aborts even on panics the code under test catches
    // (`model::signed::guard` turns automerge decoder panics into refusals); the
    // default hook lets them unwind. Uncaught panics still abort: a crash.
    init: {
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| {
    let mut r = FrameReader::default();
    r.push(data);
    while let Ok(Some(_)) = r.next_msg() {}
    if !data.is_empty() {
        let _ = conglang::sync::wire::decode(data);
    }
});
