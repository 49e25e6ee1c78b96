//! Pacing on the kiosk: a prankster is slowed, the next resident is not locked out
//! (issue 24, point 3).
//!
//! The old brakes counted over an hour: after one prankster's 18 junk requests the
//! kiosk refused every resident for 53 minutes, and 100 wrong codes blocked every
//! lookup for 10 minutes. Both now pace a *burst*, and recover in minutes:
//!
//! - **Requests.** A burst is the run of requests each sent less than
//!   [`BURST_QUIET_S`] after the one before. The first [`FREE_IN_BURST`] of a burst wait
//!   only the pause after the code screen ([`super::ask::PAUSE_SECONDS`]); after that
//!   the gap before the next doubles from that pause up to the *sustained gap*, one
//!   hour divided by `ui.requests_per_hour` (20 an hour: 3 minutes); a burst ends after
//!   a quiet 10 minutes (or twice the sustained gap, if longer). So a flood gets
//!   at most `requests_per_hour` an hour, 480 a day at the default — the order of the
//!   old hourly cap (which allowed the same 480) — while a resident who comes after
//!   the prankster waits at most the sustained gap, and a quiet 10 minutes starts a
//!   new burst. (The verdicts' daily quota, 300 new requests per device, bounds what
//!   any one kiosk key can add to the commune's store whatever its app does.)
//! - **Lookups.** A streak is the misses since the last lookup that found a request,
//!   or since the idle reset. The first [`FREE_MISSES`] of a streak wait nothing; then
//!   the wait before the next lookup doubles from 10 s up to [`MAX_MISS_GAP_S`] (80 s,
//!   under the hall's 90-s idle reset). A resident with a real code waits at most 80 s
//!   after any prankster and nothing once the kiosk went idle. A guesser who also
//!   waits out the idle reset each time gets three guesses per 90 s — under 3,000 a
//!   day — against codes of 12 random digits: for a kiosk that issued 100,000 codes,
//!   10^7 guesses on average, about 9 years.
//!
//! Pure functions of the times given, tested on a virtual clock.

/// Requests of a burst that wait only the pause after the code screen.
pub const FREE_IN_BURST: usize = 3;
/// A gap this long between two requests ends a burst (or twice the sustained gap,
/// when that is longer: a quiet spell must be longer than the pace it ends).
pub const BURST_QUIET_S: i64 = 600;
/// Lookups that find nothing before the streak starts to wait.
pub const FREE_MISSES: usize = 3;
/// The first wait of a streak of misses, doubling after each further miss.
pub const FIRST_MISS_GAP_S: i64 = 10;
/// The longest wait between two lookups in a streak of misses: under the village
/// hall's idle reset (90 s), which ends the streak anyway.
pub const MAX_MISS_GAP_S: i64 = 80;

/// The gap a sustained flood is held to: one hour over the configured hourly rate.
pub fn sustained_gap_s(requests_per_hour: u32) -> i64 {
    3600 / i64::from(requests_per_hour.max(1))
}

/// Seconds to wait before the next request may be sent, or `None` if it may go now.
/// `sent`: the times (ms) this kiosk sent requests, in any order.
pub fn request_wait(sent: &[i64], now_ms: i64, requests_per_hour: u32) -> Option<i64> {
    let mut times: Vec<i64> = sent.iter().copied().filter(|t| *t <= now_ms).collect();
    times.sort_unstable();
    let last = *times.last()?;
    // The current burst: back from the newest while the gaps stay short.
    let quiet_ms = BURST_QUIET_S.max(2 * sustained_gap_s(requests_per_hour)) * 1000;
    let mut burst = 1;
    for w in times.windows(2).rev() {
        if w[1] - w[0] < quiet_ms {
            burst += 1;
        } else {
            break;
        }
    }
    if now_ms - last >= quiet_ms {
        return None;
    }
    let pause = super::ask::PAUSE_SECONDS;
    let gap = if burst < FREE_IN_BURST {
        pause
    } else {
        let doublings = (burst + 1 - FREE_IN_BURST).min(20) as u32;
        (pause << doublings).min(sustained_gap_s(requests_per_hour).max(pause))
    };
    seconds_left(last, gap, now_ms)
}

/// Seconds to wait before the next lookup may run, or `None` if it may run now.
/// `streak`: the times (ms) of the misses since the last hit or idle reset.
pub fn lookup_wait(streak: &[i64], now_ms: i64) -> Option<i64> {
    if streak.len() < FREE_MISSES {
        return None;
    }
    let last = streak.iter().copied().max()?;
    let doublings = (streak.len() - FREE_MISSES).min(20) as u32;
    let gap = (FIRST_MISS_GAP_S << doublings).min(MAX_MISS_GAP_S);
    seconds_left(last, gap, now_ms)
}

/// Whole seconds (rounded up) until `gap_s` after `last_ms`, or `None` once past.
fn seconds_left(last_ms: i64, gap_s: i64, now_ms: i64) -> Option<i64> {
    let left_ms = last_ms + gap_s * 1000 - now_ms;
    (left_ms > 0).then(|| (left_ms + 999) / 1000)
}

/// A wait in seconds as (minutes, seconds), for "chờ {m} phút {s} giây".
pub fn minutes_seconds(seconds: i64) -> (i64, i64) {
    (seconds / 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// Sends as fast as the pacing allows from `t0`; returns the send times.
    fn flood(n: usize, t0: i64, per_hour: u32) -> Vec<i64> {
        let mut sent = Vec::new();
        let mut now = t0;
        while sent.len() < n {
            match request_wait(&sent, now, per_hour) {
                None => sent.push(now),
                Some(s) => now += s * 1000,
            }
        }
        sent
    }

    /// Issue 24: a flood of 20 junk requests, then an honest request within 5
    /// minutes succeeds (the old hourly cap refused it for 53 minutes).
    #[test]
    fn an_honest_request_goes_within_minutes_of_a_flood() {
        let sent = flood(20, 0, 20);
        let last = *sent.last().unwrap();
        let wait = request_wait(&sent, last, 20).unwrap();
        assert!(wait <= 180, "at most the sustained gap: {wait} s");
        assert_eq!(request_wait(&sent, last + 5 * MIN, 20), None);
        // Three residents in a row, a minute apart, wait for nothing but the pause.
        let queue = [0, MIN, 2 * MIN];
        assert_eq!(request_wait(&queue[..2], 2 * MIN, 20), None);
        assert_eq!(request_wait(&queue, 3 * MIN, 20), None);
        // A quiet 10 minutes starts a new burst.
        assert_eq!(request_wait(&sent, last + 10 * MIN, 20), None);
        let mut after = sent.clone();
        after.push(last + 10 * MIN);
        assert_eq!(
            request_wait(&after, last + 10 * MIN + 21_000, 20),
            None,
            "the new burst waits only the pause"
        );
    }

    /// A day's flood stays bounded: at most `requests_per_hour` an hour once paced,
    /// 480 a day at the default of 20 (the old hourly cap allowed the same 480).
    #[test]
    fn a_days_flood_is_bounded_by_the_hourly_rate() {
        let day = flood(2_000, 0, 20)
            .into_iter()
            .filter(|t| *t < 24 * 60 * MIN)
            .count();
        assert!(day <= 24 * 20 + FREE_IN_BURST + 3, "{day} in a day");
        assert!(day >= 24 * 20 - 5, "paced, not blocked: {day}");
        let hourly = flood(200, 0, 6)
            .into_iter()
            .filter(|t| *t < 60 * MIN)
            .count();
        assert!(
            hourly <= 6 + FREE_IN_BURST + 2,
            "{hourly} in the first hour at 6/h"
        );
    }

    /// Issue 24: 100 wrong codes blocked every lookup for 10 minutes. Now a streak
    /// waits at most 2 minutes between guesses, and a hit (or the idle reset, which
    /// empties the streak) ends it.
    #[test]
    fn wrong_codes_slow_the_guesser_not_the_next_resident() {
        let mut streak = Vec::new();
        let mut now = 0;
        while streak.len() < 100 {
            match lookup_wait(&streak, now) {
                None => streak.push(now),
                Some(s) => now += s * 1000,
            }
        }
        let wait = lookup_wait(&streak, now).unwrap();
        assert!(wait <= MAX_MISS_GAP_S, "{wait}");
        assert_eq!(lookup_wait(&streak, now + 80_000), None);
        assert_eq!(lookup_wait(&[], now), None, "after a hit or the idle reset");
        assert_eq!(
            lookup_wait(&[0, 1000], 2000),
            None,
            "two slips cost nothing"
        );
        // A day of guessing with no idle reset: one guess per 80 s, 1,080 a day.
        let mut streak = Vec::new();
        let mut now = 0;
        while now < 24 * 60 * MIN {
            match lookup_wait(&streak, now) {
                None => streak.push(now),
                Some(s) => now += s * 1000,
            }
        }
        assert!(
            streak.len() <= 24 * 45 + FREE_MISSES + 8,
            "{}",
            streak.len()
        );
    }
}
