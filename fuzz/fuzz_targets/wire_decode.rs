//! The frame reader and message decoder on arbitrary bytes: no panic, no unbounded
//! allocation (the length prefix is checked before anything is allocated).
#![no_main]
use conglang::sync::wire::FrameReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = FrameReader::default();
    r.push(data);
    while let Ok(Some(_)) = r.next_msg() {}
    if !data.is_empty() {
        let _ = conglang::sync::wire::decode(data);
    }
});
