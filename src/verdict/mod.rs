//! Verdicts: which changes are valid. Every node applies the same deterministic
//! function to the same set of signed changes and reaches the same answer, whatever
//! order the changes arrived in (the signed-DAG model of Kleppmann & Howard, "Byzantine
//! Eventual Consistency"). "Why was this change refused" is answered here and only here;
//! `repo` orchestrates storage around these functions.
//!
//! - [`rules`]: the rule table — who may write which field of which kind of document.
//! - [`roster`]: membership, roles and revocations from the set of roster changes.
//! - [`doc`]: the changes of one document in causal order, with equivocation.

pub mod doc;
pub mod roster;
pub mod rules;
