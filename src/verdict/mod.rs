//! Verdicts: which changes are valid. Every node applies the same deterministic
//! function to the same set of signed changes and reaches the same answer, whatever
//! order the changes arrived in (the signed-DAG model of Kleppmann & Howard, "Byzantine
//! Eventual Consistency"). "Why was this change refused" is answered here and only here;
//! `repo` orchestrates storage around these functions.
//!
//! - [`rules`]: the rule table — who may write which field of which kind of document.
//! - [`roster`]: membership, roles and revocations from the set of roster changes.
//! - [`doc`]: the changes of one document in causal order, with equivocation.
//! - [`quota`]: the day a request creation counts against its author's daily quota.

pub mod doc;
pub mod quota;
pub mod release;
pub mod roster;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};

use roster::Hash;

/// One deterministic topological order over a set of changes: Kahn's algorithm with
/// the ready changes taken in hash order, so every node walks the same set the same
/// way. Changes with a dependency outside the set are never yielded.
pub(crate) struct Topo {
    ready: BTreeSet<Hash>,
    waiting_on: BTreeMap<Hash, Vec<Hash>>,
    missing: BTreeMap<Hash, usize>,
}

impl Topo {
    pub(crate) fn new<'a>(
        items: impl Iterator<Item = (Hash, &'a [automerge::ChangeHash])>,
    ) -> Topo {
        let items: BTreeMap<Hash, Vec<Hash>> = items
            .map(|(h, deps)| (h, deps.iter().map(|d| d.0).collect()))
            .collect();
        let mut t = Topo {
            ready: BTreeSet::new(),
            waiting_on: BTreeMap::new(),
            missing: BTreeMap::new(),
        };
        for (h, deps) in &items {
            if deps.iter().any(|d| !items.contains_key(d)) {
                continue;
            }
            for d in deps {
                t.waiting_on.entry(*d).or_default().push(*h);
            }
            if deps.is_empty() {
                t.ready.insert(*h);
            } else {
                t.missing.insert(*h, deps.len());
            }
        }
        t
    }
}

impl Iterator for Topo {
    type Item = Hash;
    /// The next change, whatever the verdict on the ones before (a change after a void
    /// one is still visited, to be judged void in its turn).
    fn next(&mut self) -> Option<Hash> {
        let h = self.ready.pop_first()?;
        if let Some(next) = self.waiting_on.get(&h) {
            for n in next {
                if let Some(m) = self.missing.get_mut(n) {
                    *m -= 1;
                    if *m == 0 {
                        self.missing.remove(n);
                        self.ready.insert(*n);
                    }
                }
            }
        }
        Some(h)
    }
}
