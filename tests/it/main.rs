//! The integration tests: one binary, a module per area. Real SQLite files in temp
//! dirs, the real `conglang` binary, real iroh endpoints on loopback.

mod bench;
mod cli;
mod exchange;
mod fleet;
mod hall;
mod harness;
mod invariants;
mod layout;
mod mdns;
mod pair;
mod quota;
mod receipts;
mod releases;
mod reliability;
mod review_s4;
mod roster;
mod roster_attacks;
mod sim;
mod soak;
mod store;
mod sync;
mod trust;
mod ui;
mod verdicts;
mod versions;
