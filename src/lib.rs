//! Cổng Làng: an offline-first mesh sync node for commune kiosks.
//!
//! Layout (see ARCHITECTURE.md for the map and the invariants):
//! - [`clock`]: the wall clock (shiftable for tests) and its error estimated from peers.
//! - [`identity`]: the node's ed25519 key.
//! - [`model`]: document kinds, signed changes, permission rules, sealing (no I/O).
//! - [`store`]: SQLite, the only module that knows SQL.
//! - [`verdict`]: which changes are valid (rules, roster, revocation, equivocation).
//! - [`repo`]: local edits and verified imports over the store.
//! - [`sync`]: the sans-IO sync protocol (no I/O, no clock).
//! - [`net`]: iroh endpoint and ALPN handler, the only module that knows iroh.
//! - [`node`]: the runtime that drives sync over the network and the store.
//! - [`pair`]: pairing a new machine with the office by a short code (sans-IO core + driver).
//! - [`bundle`]: the signed change stream as a file, for USB sticks.
//! - [`release`]: software releases as records signed by the release key.
//! - [`ui`]: the egui app; never blocks, talks to the node by channel.
//! - [`cli`]: headless commands; [`config`]: kiosk-config files.

pub mod bundle;
#[cfg(feature = "full")]
pub mod cli;
pub mod clock;
pub mod config;
#[cfg(feature = "full")]
pub mod demo;
pub mod identity;
#[cfg(feature = "full")]
pub mod lab;
pub mod model;
#[cfg(feature = "full")]
pub mod net;
#[cfg(feature = "full")]
pub mod node;
pub mod pair;
pub mod release;
pub mod repo;
pub mod store;
pub mod sync;
#[cfg(feature = "full")]
pub mod ui;
pub mod verdict;
