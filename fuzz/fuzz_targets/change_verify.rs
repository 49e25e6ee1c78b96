//! Signed-change verification on arbitrary envelopes: never panics, never accepts a
//! change whose signature does not match its author.
#![no_main]
use conglang::model::{DocId, Kind, SignedChange};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    // libfuzzer-sys's panic hook aborts even on panics the code under test catches
    // (`model::signed::guard` turns automerge decoder panics into refusals); the
    // default hook lets them unwind. Uncaught panics still abort: a crash.
    init: {
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| {
    if data.len() < 64 {
        return;
    }
    let (sig, bytes) = data.split_at(64);
    let c = SignedChange {
        doc: DocId::roster(),
        bytes: bytes.to_vec(),
        sig: sig.try_into().unwrap(),
    };
    let _ = c.clone().verify();
    let mut n = c;
    n.doc = DocId::new_random(Kind::Notice);
    let _ = n.verify();
});
