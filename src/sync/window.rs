//! How many batches a session may have unacknowledged, from how fast the peer
//! acknowledges them. The core has no clock: the I/O shell (`node`, and the in-memory
//! drivers that stand for it in `lab` and the tests) feeds an [`AckMeter`] the batches
//! it sends and the `Ack`s it receives with its own timestamps, and hands the window
//! it computes to [`crate::sync::Session::set_window`].
//!
//! Why: a fixed 8 × 16 KiB in flight is right on 2G (about 10 s of line; more would
//! only queue urgent changes behind backlog) but makes a LAN wait for a round trip
//! per 128 KiB: W7's first contact between two 100,000-document stores moved ~1.1 MB
//! of receipts each way in ~9 sends and took 10 round trips. The window is the
//! delivery rate times [`WINDOW_TIME_MS`], never below [`super::WINDOW`] nor above
//! [`WINDOW_MAX`]. That time is what a change that becomes urgent mid-session may wait
//! behind; 4 s is what the minimum window already costs on 2G (8 packed batches of
//! W8's requests, ~56 KB at 100 kbit/s), so no faster link makes it wait longer, and
//! on 2G the window stays at the minimum.
//!
//! The rate is measured as BBR measures it: for each acknowledged batch, the batches
//! acknowledged since it was sent divided by the time since it was sent, and the
//! largest of the last [`SAMPLES`] such samples. It is counted in batches (each up to
//! [`BATCH_BYTES`] of stored change bytes, whatever form they travel in), so the
//! window is simply rate × time. Acks arrive after the peer has verified and
//! committed a batch, so the rate is the slower of the link and the peer's import.

use std::collections::VecDeque;

#[cfg(doc)]
use super::BATCH_BYTES;
use super::WINDOW;
use crate::sync::Msg;

/// Most batches in flight: 128 × 16 KiB = 2 MiB of stored change bytes, well inside
/// the 8 MiB a connection may queue (`net::MAX_QUEUED_BYTES`).
pub const WINDOW_MAX: usize = 128;
/// The window holds this long of the measured rate (see the module header).
pub const WINDOW_TIME_MS: u64 = 4000;
/// Delivery-rate samples kept (the rate is their maximum).
pub const SAMPLES: usize = 16;

#[derive(Debug, Default)]
pub struct AckMeter {
    /// Batches sent and not yet acknowledged, oldest first: (sent at µs, batches
    /// acknowledged when it was sent).
    in_flight: VecDeque<(u64, u64)>,
    /// Batches acknowledged so far.
    acked: u64,
    /// Recent delivery-rate samples, batches per second.
    samples: VecDeque<f64>,
}

impl AckMeter {
    pub fn new() -> AckMeter {
        AckMeter::default()
    }

    /// A message went out at `now_us` (any monotonic clock, µs); only batches count.
    pub fn sent(&mut self, msg: &Msg, now_us: u64) {
        if msg.batch().is_some() {
            self.in_flight.push_back((now_us, self.acked));
        }
    }

    /// An `Ack` arrived at `now_us` (acks come in the order batches were sent).
    /// Returns the window to use from now on, in batches.
    pub fn acked(&mut self, now_us: u64) -> usize {
        if let Some((at, acked_then)) = self.in_flight.pop_front() {
            self.acked += 1;
            let dt = now_us.saturating_sub(at).max(1) as f64 / 1e6;
            let rate = (self.acked - acked_then) as f64 / dt;
            if self.samples.len() == SAMPLES {
                self.samples.pop_front();
            }
            self.samples.push_back(rate);
        }
        self.window()
    }

    /// Batches per second acknowledged (the largest recent sample), if any yet.
    pub fn rate(&self) -> Option<f64> {
        self.samples.iter().copied().reduce(f64::max)
    }

    /// The window for the measured rate: rate × [`WINDOW_TIME_MS`], between
    /// [`WINDOW`] and [`WINDOW_MAX`] batches.
    pub fn window(&self) -> usize {
        let Some(rate) = self.rate() else {
            return WINDOW;
        };
        let batches = rate * WINDOW_TIME_MS as f64 / 1000.0;
        (batches.ceil() as usize).clamp(WINDOW, WINDOW_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DocId, SignedChange};
    use crate::sync::BATCH_BYTES;

    fn batch(bytes: usize) -> Msg {
        Msg::Changes {
            changes: vec![SignedChange {
                doc: DocId::roster(),
                bytes: vec![0; bytes],
                sig: [0; 64],
            }],
        }
    }

    /// Sends `n` batches at once at `t` and acks them `rtt_us` later, the
    /// acks spread over `spread_us`. Returns the last window.
    fn flight(m: &mut AckMeter, t: u64, n: usize, rtt_us: u64, spread_us: u64) -> usize {
        for _ in 0..n {
            m.sent(&batch(BATCH_BYTES), t);
        }
        let mut w = 0;
        for i in 0..n as u64 {
            w = m.acked(t + rtt_us + spread_us * (i + 1) / n as u64);
        }
        w
    }

    #[test]
    fn the_window_stays_small_on_2g_and_grows_on_a_lan() {
        // 2G: 100 kbit/s ≈ 12.5 KB/s, 400 ms RTT: 8 batches of 16 KiB take ~10 s to
        // acknowledge.
        let mut m = AckMeter::new();
        assert_eq!(m.window(), WINDOW);
        let w = flight(&mut m, 0, 8, 400_000, 10_500_000);
        assert_eq!(w, WINDOW, "rate {:?}", m.rate());
        // Twice 2G's rate with packed batches: still the minimum.
        let mut m = AckMeter::new();
        assert_eq!(flight(&mut m, 0, 8, 400_000, 5_000_000), WINDOW);
        // A LAN whose receiver commits 4 MB/s (250 batches/s): 8 batches acknowledged
        // in 33 ms.
        let mut m = AckMeter::new();
        let w = flight(&mut m, 0, 8, 1_000, 32_000);
        assert!(w >= 100, "{w} batches at {:?}/s", m.rate());
        // Faster still: capped.
        let mut m = AckMeter::new();
        assert_eq!(flight(&mut m, 0, 8, 100, 1_000), WINDOW_MAX);
        // A window-limited flight measures the rate, not the window: 8 batches per
        // 1 s round trip is 8 batches/s, so the window opens to 4 s of it, 32.
        let mut m = AckMeter::new();
        let w = flight(&mut m, 0, 8, 1_000_000, 1_000);
        assert_eq!(w, 32, "{:?}", m.rate());
    }

    #[test]
    fn other_messages_and_stray_acks_change_nothing() {
        let mut m = AckMeter::new();
        m.sent(&Msg::Ack, 0);
        assert_eq!(m.acked(10), WINDOW);
        assert_eq!(m.rate(), None);
    }
}
