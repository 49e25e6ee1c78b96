//! The wall clock, and what this node knows about how wrong it is.
//!
//! Kiosks in village halls have no internet to set their clocks: they drift, and a
//! PC whose CMOS battery died boots in the year 2000. Every read of the wall clock in
//! the crate goes through [`now_ms`] so that a test (or a technician reproducing a
//! report) can run a node with its clock set years off: the offset comes from the
//! environment variable `CONGLANG_CLOCK_OFFSET` (seconds, may be negative, read by
//! the CLI at start) or from [`set_offset_ms`] — the "fake time source".
//!
//! How wrong the clock is, is learnt from peers: each side of a sync session puts its
//! wall clock in its `Hello` (`sync::wire`; the corrected one when it knows its own
//! is wrong), and the node records, per member peer, the
//! offset `peer clock − our clock` at that contact (`repo::health`). The median of
//! the latest offset of each reference peer (officials' machines when any were met,
//! else every member peer — at least two, or one the officials' signed times agree
//! with, so one stolen courier cannot set a kiosk's clock) is this node's best
//! estimate of its own error; beyond
//! [`WRONG_AFTER_MS`] the clock is called wrong, said so on screen and in the fleet
//! health document, and shown times are corrected by it. No verdict reads the clock
//! (ARCHITECTURE.md, "Clocks").

use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::{Context, Result};

/// The environment variable holding the fake offset, in seconds.
pub const OFFSET_ENV: &str = "CONGLANG_CLOCK_OFFSET";

/// A clock further than this from its peers' median is called wrong (10 minutes:
/// far beyond the error of the estimate, which is at most a round trip, and beyond a
/// PC clock's drift over weeks, but close enough that "valid until 17:00" matters).
pub const WRONG_AFTER_MS: i64 = 10 * 60 * 1000;

static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Shifts every reading of this process's wall clock by `ms` (tests, reproducing a
/// kiosk whose clock is wrong).
pub fn set_offset_ms(ms: i64) {
    OFFSET_MS.store(ms, Ordering::Relaxed);
}

/// The fake offset in force (0 in the field).
pub fn offset_ms() -> i64 {
    OFFSET_MS.load(Ordering::Relaxed)
}

/// Reads [`OFFSET_ENV`] if set: "-946684800" puts the clock 30 years back.
pub fn offset_from_env() -> Result<()> {
    if let Ok(v) = std::env::var(OFFSET_ENV) {
        let secs: i64 = v
            .trim()
            .parse()
            .with_context(|| format!("{OFFSET_ENV}={v:?}: expected whole seconds, e.g. -3600"))?;
        set_offset_ms(secs.saturating_mul(1000));
        tracing::warn!("the wall clock is shifted by {secs} s ({OFFSET_ENV})");
    }
    Ok(())
}

/// This machine's wall clock in unix milliseconds (as set, right or wrong).
pub fn now_ms() -> i64 {
    let sys = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        // A clock before 1970 is possible on a broken PC: count backwards.
        Err(e) => -(e.duration().as_millis() as i64),
    };
    sys.saturating_add(offset_ms())
}

/// What a node knows about its own clock from its peers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Estimate {
    /// Median over peers of (peer clock − our clock), ms; `None` before any contact.
    pub offset_ms: Option<i64>,
    /// How many peers the median is over.
    pub peers: usize,
    /// Enough evidence to call this clock wrong (see `Repo::clock_estimate`: an
    /// office is not told it is wrong by one kiosk).
    pub decisive: bool,
}

impl Estimate {
    /// The median of the offsets (the mean of the two middle ones for an even count).
    pub fn from_offsets(mut offsets: Vec<i64>) -> Estimate {
        offsets.sort_unstable();
        let n = offsets.len();
        let offset_ms = match n {
            0 => None,
            _ if n % 2 == 1 => Some(offsets[n / 2]),
            _ => Some(offsets[n / 2 - 1] / 2 + offsets[n / 2] / 2),
        };
        Estimate {
            offset_ms,
            peers: n,
            decisive: n > 0,
        }
    }
    /// Is this node's clock far from its peers'?
    pub fn wrong(&self) -> bool {
        self.decisive && self.offset_ms.is_some_and(|o| o.abs() > WRONG_AFTER_MS)
    }
    /// What to add to a time read from this node's clock to get its peers' time:
    /// the offset when the clock is wrong, else nothing (small drifts are not
    /// worth moving what the screen shows).
    pub fn correction_ms(&self) -> i64 {
        if self.wrong() {
            self.offset_ms.unwrap_or(0)
        } else {
            0
        }
    }
    /// One line for `conglang status` and logs (English).
    pub fn describe(&self) -> String {
        let Some(o) = self.offset_ms else {
            return "not checked yet (no peer met live, no officials' changes ahead of it)".into();
        };
        let secs = o.unsigned_abs() / 1000;
        let amount = match secs {
            0..120 => format!("{secs} s"),
            120..7_200 => format!("{} min", secs / 60),
            7_200..172_800 => format!("{} h", secs / 3_600),
            _ => format!("{} days", secs / 86_400),
        };
        let way = if o >= 0 { "behind" } else { "ahead of" };
        let basis = if self.peers == 0 {
            "officials' signed times".to_string()
        } else {
            format!("{} peer(s)", self.peers)
        };
        if self.wrong() {
            format!("WRONG: {amount} {way} its peers (by {basis}); set it right")
        } else {
            format!("right ({amount} {way} its peers, by {basis})")
        }
    }
    /// [`Self::correction_ms`] in whole seconds.
    pub fn correction(&self) -> i64 {
        self.correction_ms().div_euclid(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_ignores_one_lying_peer() {
        let e = Estimate::from_offsets(vec![2_000, -1_000, 900_000_000]);
        assert_eq!(e.offset_ms, Some(2_000));
        assert!(!e.wrong());
        assert_eq!(e.correction(), 0);
    }

    #[test]
    fn a_clock_years_behind_every_peer_is_wrong_and_corrected() {
        let years = 3 * 365 * 86_400_000i64;
        let e = Estimate::from_offsets(vec![years, years + 5_000]);
        assert!(e.wrong());
        assert_eq!(e.correction_ms(), years + 2_500);
        assert_eq!(Estimate::from_offsets(vec![]).offset_ms, None);
        assert_eq!(
            e.describe(),
            "WRONG: 1095 days behind its peers (by 2 peer(s)); set it right"
        );
        assert!(!Estimate::from_offsets(vec![]).wrong());
    }
}
