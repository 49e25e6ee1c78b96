//! The rules of a release document (`release-<creator><random>`), on top of those every
//! kind a later version adds keeps (`rules::check_change`, `Kind::Other`: only
//! officials write one, its creator named by the id, a bounded causal past). A release
//! document is the office's approval of one signed release for this commune
//! (`crate::release`); version 6 nodes from before it carry it as a later kind.
//!
//! Its creating change holds the record signed by a release key, the roles it is for
//! and when it was approved; each later change holds one chunk of the package that the
//! record names by hash, or withdraws the approval. So a record altered after it was
//! signed, or a chunk that is not the release's, is refused on arrival and never
//! forwarded — by nodes that know releases (ARCHITECTURE.md, "Mixed versions": a later
//! kind's own rules are judged by the versions that know it). Whether the key that
//! signed it is one this machine trusts is not a verdict (it would differ between
//! honest nodes): it decides what is approved, staged and installed (`repo::release`).

use automerge::{Automerge, ScalarValue};

use super::rules::Rejection;
use crate::model::schema::get_bytes;
use crate::model::signed::Facts;
use crate::model::{DocId, Role};

/// The id prefix of release documents.
pub const PREFIX: &str = "release";

/// Whether `id` is a release document.
pub fn is_release(id: &DocId) -> bool {
    id.as_str()
        .split_once('-')
        .is_some_and(|(p, _)| p == PREFIX)
}

/// The roles a release is for, from its `roles` field (`"kiosk courier official"`).
pub fn parse_roles(s: &str) -> Option<Vec<Role>> {
    let roles: Vec<Role> = s
        .split_whitespace()
        .map(|r| r.parse().ok())
        .collect::<Option<_>>()?;
    (!roles.is_empty() && roles.len() <= 8).then_some(roles)
}

/// The chunk index a field names (`c0`, `c1`, …), canonical form only.
pub fn chunk_index(field: &str) -> Option<usize> {
    let n = field.strip_prefix('c')?;
    if n.is_empty() || n.len() > 4 || (n.len() > 1 && n.starts_with('0')) {
        return None;
    }
    n.parse().ok()
}

fn put_str<'a>(facts: &'a Facts, key: &str) -> Option<&'a str> {
    match facts.root_puts.get(key) {
        Some(ScalarValue::Str(s)) => Some(s.as_str()),
        _ => None,
    }
}

fn bad(why: impl Into<String>) -> Rejection {
    Rejection::Release(why.into())
}

/// Fields fixed once the release is approved.
const FIXED: &[&str] = &["kind", "created_by", "record", "roles", "approved_at"];

/// One change to a release document, against `before` (the document at the change's
/// own dependencies); the rules of every later kind are checked already.
///
/// What every node that reads releases agrees on, whatever release keys its
/// administrator trusts (`release::open`, not `verify`): the record is signed by the
/// key it names and keeps its own rules, and each chunk is the one it names. Whether
/// that key is trusted decides what is shown, approved and installed, never what is
/// stored (two honest nodes trusting different keys would otherwise never be in sync).
/// A record of a later format is carried as a later kind is, unjudged; fields this
/// version does not know are let through, for the same reason.
pub fn check(before: &Automerge, facts: &Facts, created_before: bool) -> Result<(), Rejection> {
    if !created_before {
        if put_str(facts, "kind") != Some(PREFIX) {
            return Err(bad("the creating change says kind \"release\""));
        }
        let Some(ScalarValue::Bytes(record)) = facts.root_puts.get("record") else {
            return Err(bad("no signed record"));
        };
        if !crate::release::is_this_format(record) {
            return Ok(());
        }
        crate::release::open(record).map_err(|e| bad(format!("{e:#}")))?;
        match put_str(facts, "roles") {
            Some(r) if parse_roles(r).is_some() => {}
            _ => return Err(bad("roles: one or more of kiosk, courier, official")),
        }
        if !matches!(
            facts.root_puts.get("approved_at"),
            Some(ScalarValue::Int(_) | ScalarValue::Timestamp(_))
        ) {
            return Err(bad("approved_at: a time"));
        }
        return Ok(());
    }
    for f in &facts.fields {
        if FIXED.contains(&f.as_str()) {
            return Err(bad(format!(
                "field {f:?} is fixed once the release is approved"
            )));
        }
    }
    let record = get_bytes(before, &automerge::ROOT, "record").unwrap_or_default();
    if !crate::release::is_this_format(&record) {
        return Ok(());
    }
    let v = crate::release::open(&record).map_err(|e| bad(format!("{e:#}")))?;
    for f in &facts.fields {
        let value = facts.root_puts.get(f);
        if f == "withdrawn" {
            if value != Some(&ScalarValue::Boolean(true)) || facts.nested.contains(f) {
                return Err(bad("withdrawn is only ever set to true"));
            }
            continue;
        }
        let Some(i) = chunk_index(f) else {
            continue;
        };
        match value {
            Some(ScalarValue::Bytes(b))
                if v.release.chunk_ok(i, b) && !facts.nested.contains(f) => {}
            _ => return Err(bad(format!("chunk {i} is not the release's"))),
        }
    }
    Ok(())
}
