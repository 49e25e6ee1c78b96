//! The day a request creation counts against its author's daily quota — its
//! *effective* day — from causal evidence in the set, not only from the day the
//! creation claims for itself (issue 21, fault 8: 1,800 requests from one kiosk key,
//! each dated another day, all accepted).
//!
//! Every change a node makes names the previous change it made (`ChainMeta::prev`), so
//! one key's changes form a line — a tree where the key signed two changes after one
//! (a fork: an equivocation, flagged). The evidence is the day of each of the key's
//! changes whose validity does not hang on the quota itself: its creations that count,
//! and its changes to notices, procedures, the roster and its health report (not its
//! request edits: a request edit is void when its creation is, and evidence that moved
//! with the verdict it decides could oscillate; not its receipts, a chain of their own).
//!
//! **Rule.** A creation counts on the latest of the day it claims and every evidence
//! day *before it on its line* (its ancestors held here): a key cannot date a
//! creation back past a day its line already reached. A creation that names no
//! previous change starts a line: all such creations of a key count on one day,
//! [`UNLINKED`] (an honest node makes one: its first change, when that is a request),
//! and two chain-format changes naming none are reported like a fork. A line after a
//! change not held here (a gap, or a link to nothing) counts no earlier than every
//! evidence day on the key's rooted lines, and moves nothing there.
//!
//! **Why not more.** Creations on a branch forked from an earlier change of the same
//! key are judged by their own line. Pinning each branch to the newest day of the
//! other closes that too, but a fork is symmetric: the forged branch pins the honest
//! history as much as the reverse, and one forged change dated ahead moved a kiosk's
//! whole history onto one day, voiding all but 300 of its requests (the review of
//! this rule). Nothing in the set tells the honest branch from the forged one, so a
//! fork is flagged as an equivocation for an official to act on.
//!
//! **Horizon.** Forward dating is bounded by the officials' own signed days: evidence
//! past the newest evidence day of any official plus [`HORIZON_DAYS`] is no evidence,
//! and creations dated past it all count on one day, [`AHEAD`] (a kiosk whose clock
//! runs years ahead files its quota once there until its clock is corrected).
//!
//! Pure: a function of the key's changes held, the same on every node that holds them.

use std::collections::{BTreeMap, BTreeSet};

use super::roster::Hash;

/// Days past the newest official evidence day that a change's own day still counts as
/// evidence (a kiosk two weeks without a courier files requests dated each day).
pub const HORIZON_DAYS: i64 = 14;

/// The one day every creation dated past the horizon counts on.
pub const AHEAD: i64 = i64::MAX;

/// The one day every creation that starts a line of its own counts on.
pub const UNLINKED: i64 = i64::MAX - 1;

/// One of a key's changes, as far as its effective days are concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainNode {
    pub hash: Hash,
    /// The previous change of the same key; `None` for its first change and for
    /// changes made before chains.
    pub prev: Option<Hash>,
    /// Its day, when its day is evidence (see the module header).
    pub evidence: Option<i64>,
    /// For a creation that counts: the day it claims.
    pub creation: Option<i64>,
    /// Its message is a chain link (`false`: a creation made before chains). A line
    /// runs through chain links only: no release wrote a link naming a change made
    /// before chains.
    pub chained: bool,
}

/// What one key's changes give.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Days {
    /// The effective day of every creation.
    pub days: BTreeMap<Hash, i64>,
    /// Changes the key signed two successors of (its line forks there).
    pub forks: Vec<Hash>,
    /// For every change, the newest evidence day on its line up to and including it
    /// (`i64::MIN`: none): what a creation appended after it counts on at least.
    pub lines: BTreeMap<Hash, i64>,
    /// The newest evidence day of every change on a line from a start (a first change
    /// or one made before chains): what a line after a gap counts on at least.
    pub rooted_max: i64,
    /// Some line here starts after a change not held (a gap, or a forged link).
    pub orphans: bool,
}

/// The day a creation claiming `claimed` counts on when the line before it reached
/// `line` (`None`: it names no previous change held, it starts a line).
pub fn day_after(claimed: i64, line: Option<i64>, horizon: Option<i64>) -> i64 {
    if horizon.is_some_and(|h| claimed > h) {
        AHEAD
    } else {
        line.map_or(UNLINKED, |l| claimed.max(l))
    }
}

/// A change's own evidence day: its evidence day or the day a creation claims, if
/// within the horizon (`i64::MIN`: none).
pub fn own_day(evidence: Option<i64>, creation: Option<i64>, horizon: Option<i64>) -> i64 {
    evidence
        .into_iter()
        .chain(creation)
        .filter(|d| horizon.is_none_or(|h| *d <= h))
        .max()
        .unwrap_or(i64::MIN)
}

/// The effective day of every creation in `nodes` (one key's changes), with `horizon`
/// the last day that counts as evidence (`None`: no official evidence yet, no bound).
pub fn effective_days(nodes: &[ChainNode], horizon: Option<i64>) -> Days {
    let index: BTreeMap<Hash, usize> = nodes.iter().enumerate().map(|(i, n)| (n.hash, i)).collect();
    let own: Vec<i64> = nodes
        .iter()
        .map(|n| own_day(n.evidence, n.creation, horizon))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    // Starts of lines: a first change or one made before chains (rooted), and a
    // change whose previous one is not held here (an orphan: after a gap).
    let (mut rooted, mut orphans, mut firsts) = (Vec::new(), Vec::new(), Vec::new());
    for (i, n) in nodes.iter().enumerate() {
        let held = n
            .prev
            .and_then(|p| index.get(&p))
            .filter(|&&j| j != i && nodes[j].chained && n.chained);
        match (held, n.prev) {
            (Some(&j), _) => children[j].push(i),
            (None, None) => {
                if n.chained {
                    firsts.push(i);
                }
                rooted.push(i);
            }
            (None, Some(_)) => orphans.push(i),
        }
    }
    // Top-down (iterative: a line is as long as a node's history): `before[i]` is the
    // newest evidence day before `i` on its line.
    let mut before = vec![i64::MIN; nodes.len()];
    let mut seen = vec![false; nodes.len()];
    let mut walk = |starts: &[usize], before: &mut Vec<i64>| {
        let mut stack = starts.to_vec();
        let mut reached = Vec::new();
        for &s in starts {
            seen[s] = true;
        }
        while let Some(i) = stack.pop() {
            reached.push(i);
            let from_i = before[i].max(own[i]);
            for &c in &children[i] {
                if !seen[c] {
                    seen[c] = true;
                    before[c] = from_i;
                    stack.push(c);
                }
            }
        }
        reached
    };
    let rooted_nodes = walk(&rooted, &mut before);
    let rooted_max = rooted_nodes
        .iter()
        .map(|&i| own[i])
        .max()
        .unwrap_or(i64::MIN);
    // A line after a gap counts no earlier than everything on the rooted lines (a
    // gap one node happens to have is later in the line than what it holds before
    // it), and moves nothing there.
    for &o in &orphans {
        before[o] = rooted_max;
    }
    walk(&orphans, &mut before);
    let rooted_set: BTreeSet<usize> = rooted.iter().copied().collect();
    let days = nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let claimed = n.creation?;
            let line = (!rooted_set.contains(&i)).then_some(before[i]);
            Some((n.hash, day_after(claimed, line, horizon)))
        })
        .collect();
    // Two changes after one, or two first changes: the key signed two histories.
    let mut forks: Vec<Hash> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| children[*i].len() > 1)
        .map(|(_, n)| n.hash)
        .collect();
    if firsts.len() > 1 {
        forks.extend(firsts.iter().map(|&i| nodes[i].hash));
    }
    let lines = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.hash, before[i].max(own[i])))
        .collect();
    Days {
        days,
        forks,
        lines,
        rooted_max,
        orphans: !orphans.is_empty(),
    }
}

/// Days whose quota ranking an update of effective days touches: each moved
/// creation's old and new day.
pub fn moved_days(before: &BTreeMap<Hash, i64>, after: &BTreeMap<Hash, i64>) -> BTreeSet<i64> {
    let mut days = BTreeSet::new();
    for (h, d) in after {
        match before.get(h) {
            Some(b) if b == d => {}
            Some(b) => {
                days.insert(*b);
                days.insert(*d);
            }
            None => {
                days.insert(*d);
            }
        }
    }
    for (h, b) in before {
        if !after.contains_key(h) {
            days.insert(*b);
        }
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(i: u32) -> Hash {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_be_bytes());
        b
    }

    fn creation(i: u32, prev: Option<u32>, day: i64) -> ChainNode {
        ChainNode {
            hash: h(i),
            prev: prev.map(h),
            evidence: None,
            creation: Some(day),
            chained: true,
        }
    }

    fn edit(i: u32, prev: Option<u32>, day: i64) -> ChainNode {
        ChainNode {
            hash: h(i),
            prev: prev.map(h),
            evidence: Some(day),
            creation: None,
            chained: true,
        }
    }

    fn days(nodes: &[ChainNode], horizon: Option<i64>) -> BTreeMap<Hash, i64> {
        effective_days(nodes, horizon).days
    }

    #[test]
    fn an_honest_line_counts_each_creation_on_its_own_day() {
        let nodes = vec![
            edit(1, None, 10),
            creation(2, Some(1), 10),
            creation(3, Some(2), 11),
            edit(4, Some(3), 12),
            creation(5, Some(4), 12),
        ];
        let e = effective_days(&nodes, Some(30));
        assert_eq!(e.days[&h(2)], 10);
        assert_eq!(e.days[&h(3)], 11);
        assert_eq!(e.days[&h(5)], 12);
        assert!(e.forks.is_empty());
    }

    #[test]
    fn creations_dated_back_along_a_line_count_on_the_day_already_reached() {
        let mut nodes = vec![edit(0, None, 100)];
        for i in 1..50 {
            nodes.push(creation(i, Some(i - 1), 100 - i as i64));
        }
        let e = days(&nodes, None);
        assert!(e.values().all(|d| *d == 100), "{e:?}");
    }

    #[test]
    fn creations_naming_no_link_share_one_day_and_a_missing_link_counts_after_the_rest() {
        let mut nodes = vec![edit(0, None, 50), edit(1, Some(0), 60)];
        for i in 2..40 {
            // Half claim to be a first change, half name a change nobody holds.
            let prev = if i % 2 == 0 { None } else { Some(9000 + i) };
            nodes.push(creation(i, prev, i as i64));
        }
        let e = effective_days(&nodes, None);
        for i in 2..40 {
            let d = e.days[&h(i)];
            if i % 2 == 0 {
                assert_eq!(d, UNLINKED);
            } else {
                assert!(d >= 60, "{i}: {d}");
            }
        }
        assert!(e.forks.contains(&h(0)), "two first changes are flagged");
    }

    #[test]
    fn a_new_line_started_long_ago_is_flagged_or_counts_after_the_rest() {
        // The honest line reached day 100. A forged line starts at day 1 — as a
        // second first change, or after a change nobody holds — and walks forward.
        for start in [None, Some(7777)] {
            let mut nodes = vec![edit(0, None, 90), creation(1, Some(0), 100)];
            nodes.push(creation(10, start, 1));
            for i in 11..40 {
                nodes.push(creation(i, Some(i - 1), (i - 9) as i64));
            }
            let e = effective_days(&nodes, None);
            match start {
                None => assert!(e.forks.contains(&h(10)), "a second first change is flagged"),
                Some(_) => assert!(
                    (10..40).all(|i| e.days[&h(i)] >= 100),
                    "a line after a gap counts no earlier than the rest: {:?}",
                    e.days
                ),
            }
        }
    }

    #[test]
    fn a_line_after_a_gap_counts_on_its_own_days() {
        // This node lacks change 5 (set aside here); the line goes on after it.
        let nodes = vec![
            edit(1, None, 10),
            creation(2, Some(1), 11),
            edit(6, Some(5), 19),
            creation(7, Some(6), 20),
        ];
        let e = days(&nodes, None);
        assert_eq!(e[&h(2)], 11);
        assert_eq!(e[&h(7)], 20);
    }

    #[test]
    fn a_fork_is_reported_and_pins_neither_branch() {
        let nodes = vec![
            edit(1, None, 10),
            creation(2, Some(1), 11),
            creation(3, Some(2), 12),
            edit(4, Some(1), 500),
        ];
        let e = effective_days(&nodes, None);
        assert_eq!(e.forks, vec![h(1)]);
        assert_eq!(e.days[&h(2)], 11);
        assert_eq!(e.days[&h(3)], 12);
    }

    #[test]
    fn creations_past_the_horizon_share_one_day_and_are_no_evidence() {
        let nodes = vec![
            edit(1, None, 10),
            edit(2, Some(1), 500),
            creation(3, Some(2), 12),
            creation(4, Some(3), 400),
            creation(5, Some(4), 401),
        ];
        let e = days(&nodes, Some(20));
        assert_eq!(e[&h(3)], 12, "evidence past the horizon pins nothing");
        assert_eq!(e[&h(4)], AHEAD);
        assert_eq!(e[&h(5)], AHEAD);
    }

    /// A random tree of one key's changes.
    fn forest() -> impl Strategy<Value = Vec<ChainNode>> {
        prop::collection::vec(
            (
                0usize..64,
                prop::bool::weighted(0.1),
                prop::bool::weighted(0.05),
                0i64..40,
                prop::bool::ANY,
            ),
            1..60,
        )
        .prop_map(|rows| {
            rows.iter()
                .enumerate()
                .map(|(i, &(p, root, orphan, day, is_creation))| {
                    let prev = if root || i == 0 {
                        None
                    } else if orphan {
                        Some(h(10_000 + i as u32))
                    } else {
                        Some(h((p % i) as u32))
                    };
                    let mut n = if is_creation {
                        creation(i as u32, None, day)
                    } else {
                        edit(i as u32, None, day)
                    };
                    n.prev = prev;
                    n
                })
                .collect()
        })
    }

    proptest! {
        /// No creation counts before the day it claims or before any evidence day of
        /// its line; one that names no previous change counts on `UNLINKED`; one after
        /// a gap no earlier than the rooted lines; a fork is reported exactly where a
        /// change has two successors or two changes name none; the order the changes
        /// are listed in changes nothing.
        #[test]
        fn effective_days_follow_the_line_and_ignore_order(nodes in forest(), seed in any::<u64>()) {
            let e = effective_days(&nodes, None);
            let by_hash: BTreeMap<Hash, &ChainNode> = nodes.iter().map(|n| (n.hash, n)).collect();
            let day_of = |n: &ChainNode| n.evidence.into_iter().chain(n.creation).max();
            // Rooted: on a line from a change naming none.
            let rooted = |mut h: Hash| -> bool {
                for _ in 0..=nodes.len() {
                    match by_hash.get(&h).map(|n| n.prev) {
                        Some(None) => return true,
                        Some(Some(p)) if by_hash.contains_key(&p) => h = p,
                        _ => return false,
                    }
                }
                false
            };
            let rooted_max = nodes.iter().filter(|n| rooted(n.hash)).filter_map(day_of).max();
            for n in &nodes {
                let Some(claimed) = n.creation else { continue };
                let d = e.days[&n.hash];
                match n.prev {
                    None => prop_assert_eq!(d, UNLINKED),
                    Some(p) if !by_hash.contains_key(&p) => {
                        prop_assert!(d >= claimed);
                        if let Some(m) = rooted_max {
                            prop_assert!(d >= m, "after a gap, no earlier than the rooted lines");
                        }
                    }
                    Some(mut p) => {
                        prop_assert!(d >= claimed);
                        let mut steps = 0;
                        loop {
                            let a = by_hash[&p];
                            if let Some(ad) = day_of(a) {
                                prop_assert!(d >= ad);
                            }
                            match a.prev.filter(|q| by_hash.contains_key(q)) {
                                Some(q) if steps < nodes.len() => { p = q; steps += 1; }
                                _ => break,
                            }
                        }
                    }
                }
            }
            let mut successors: BTreeMap<Hash, usize> = BTreeMap::new();
            for n in &nodes {
                if let Some(p) = n.prev.filter(|p| by_hash.contains_key(p)) {
                    *successors.entry(p).or_default() += 1;
                }
            }
            let mut forks: Vec<Hash> = successors.into_iter().filter(|(_, k)| *k > 1).map(|(h, _)| h).collect();
            let firsts: Vec<Hash> = nodes.iter().filter(|n| n.prev.is_none()).map(|n| n.hash).collect();
            if firsts.len() > 1 {
                forks.extend(firsts);
            }
            let mut got = e.forks.clone();
            forks.sort();
            got.sort();
            prop_assert_eq!(got, forks);
            let mut shuffled = nodes.clone();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let again = effective_days(&shuffled, None);
            prop_assert_eq!(again.days, e.days);
        }
    }
}
