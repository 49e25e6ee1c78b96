//! Signed-change verification on arbitrary envelopes: never panics, never accepts a
//! change whose signature does not match its author, and never lets the decoder do
//! more work than the change's headers declared (the cost oracle of issue 21): when
//! `model::declared::check` passes a change, automerge's decoder finds at most the
//! declared operations, and those within the bound.
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
use conglang::model::{DocId, Kind, SignedChange};
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
    if data.len() < 64 {
        return;
    }
    let (sig, bytes) = data.split_at(64);
    if let Ok(d) = conglang::model::declared::check(bytes) {
        assert!(d.ops <= conglang::model::declared::MAX_CHANGE_OPS);
        if let Ok(Ok(c)) =
            conglang::model::signed::guard(|| automerge::Change::from_bytes(bytes.to_vec()))
        {
            assert!(
                c.len() as u64 <= d.ops,
                "decoder found {} ops, headers declared {}",
                c.len(),
                d.ops
            );
        }
    }
    let c = SignedChange {
        doc: DocId::roster(),
        bytes: bytes.to_vec(),
        sig: sig.try_into().unwrap(),
    };
    let _ = c.clone().verify();
    let mut n = c;
    n.doc = DocId::new_random(Kind::Notice);
    let _ = n.verify();
    })
});
