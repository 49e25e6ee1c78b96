//! Who may make which change: the permission rules every node applies to every
//! change, whether it was made here, came from a peer, or came from a USB bundle.
//!
//! A change is judged by the top-level fields it actually touches. We read them off
//! the change's own operations rather than diffing the result, so an edit that loses
//! a conflict today (and would surface later) is judged all the same, and nothing has
//! to be applied to a fork first. Nested objects (a member entry, an answer) are
//! traced back to the top-level field that holds them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::{Automerge, ReadDoc, ScalarValue, legacy};

use super::schema::{
    CREATION_FIELDS, OFFICIAL_FIELDS, RESIDENT_FIELDS, Roster, get_str, read_roster,
};
use super::signed::VerifiedChange;
use super::{DocId, Kind, Role};
use crate::identity::NodeId;

/// Why a change was refused. The text goes to logs (English).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("author {0} is not a member of this commune")]
    NotMember(String),
    #[error("author {0} was revoked and this change is not in the history the revocation kept")]
    Revoked(String),
    #[error("a {role} may not change field {field:?} of a {kind}")]
    Forbidden {
        role: Role,
        kind: &'static str,
        field: String,
    },
    #[error("only the creator of this request may change field {0:?}")]
    NotCreator(String),
    #[error("a receipt may only be written by its own node")]
    ForeignReceipt,
    #[error("the document's kind tag does not match its id")]
    KindMismatch,
    #[error("only the commune's founder may start the roster")]
    NotFounder,
    #[error("change touches an object that cannot be traced to a field")]
    Untraceable,
    #[error("unknown field {0:?} for a {1}")]
    UnknownField(String, &'static str),
}

/// What a change does at the top level of a document.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Top-level fields the change writes, directly or inside nested objects.
    pub fields: BTreeSet<String>,
    /// Scalar values the change puts directly at the top level.
    pub root_puts: BTreeMap<String, ScalarValue>,
}

/// Analyses a change that has no dependencies, ahead of applying it.
pub fn pre_analyse(change: &mut VerifiedChange) {
    if change.change.deps().is_empty() {
        change.facts = analyse(&Automerge::new(), change).ok();
    }
}

/// Reads the top-level fields a change touches off its operations. Objects created
/// by the change itself are traced through the change; older objects through
/// `before`, the document the change is about to be applied to.
pub fn analyse(before: &Automerge, change: &VerifiedChange) -> Result<Facts, Rejection> {
    let expanded =
        super::signed::guard(|| change.change.decode()).map_err(|()| Rejection::Untraceable)?;
    let actor = expanded.actor_id.to_string();
    let start = expanded.start_op.get();
    // Object id ("counter@actor") → (parent object, key) for objects made here.
    let mut made: HashMap<String, (legacy::ObjectId, Option<String>)> = HashMap::new();
    for (i, op) in expanded.operations.iter().enumerate() {
        if let legacy::OpType::Make(_) = op.action {
            let key = match &op.key {
                legacy::Key::Map(k) => Some(k.to_string()),
                legacy::Key::Seq(_) => None,
            };
            made.insert(
                format!("{}@{}", start + i as u64, actor),
                (op.obj.clone(), key),
            );
        }
    }
    let mut facts = Facts::default();
    // Many ops share an object (every character of a text, every entry of a receipt):
    // trace each object to its field once.
    let mut traced: HashMap<&legacy::ObjectId, String> = HashMap::new();
    for op in &expanded.operations {
        let field = match &op.obj {
            legacy::ObjectId::Root => top_field(before, &made, &op.obj, &op.key)?,
            obj => match traced.get(obj) {
                Some(f) => f.clone(),
                None => {
                    let f = top_field(before, &made, obj, &op.key)?;
                    traced.insert(obj, f.clone());
                    f
                }
            },
        };
        if op.obj == legacy::ObjectId::Root
            && let legacy::OpType::Put(v) = &op.action
        {
            facts.root_puts.insert(field.clone(), v.clone());
        }
        facts.fields.insert(field);
    }
    Ok(facts)
}

fn top_field(
    before: &Automerge,
    made: &HashMap<String, (legacy::ObjectId, Option<String>)>,
    obj: &legacy::ObjectId,
    key: &legacy::Key,
) -> Result<String, Rejection> {
    let mut obj = obj.clone();
    let mut key = match key {
        legacy::Key::Map(k) => Some(k.to_string()),
        legacy::Key::Seq(_) => None,
    };
    // Bounded walk: a change cannot nest deeper than it has operations.
    for _ in 0..=made.len() {
        let id = match &obj {
            legacy::ObjectId::Root => return key.ok_or(Rejection::Untraceable),
            legacy::ObjectId::Id(id) => id.to_string(),
        };
        if let Some((parent, k)) = made.get(&id) {
            obj = parent.clone();
            key = k.clone();
            continue;
        }
        let Ok((ex, _)) = before.import(&id) else {
            return Err(Rejection::Untraceable);
        };
        let Ok(parents) = before.parents(&ex) else {
            return Err(Rejection::Untraceable);
        };
        return match parents.path().first() {
            Some((_, automerge::Prop::Map(k))) => Ok(k.clone()),
            _ => Err(Rejection::Untraceable),
        };
    }
    Err(Rejection::Untraceable)
}

/// Is `author` allowed to make changes at all? `roster` is the roster the verdict is
/// made against (the current one; revocations are retroactive, see `repo`).
pub fn check_author(roster: &Roster, change: &VerifiedChange) -> Result<Role, Rejection> {
    let who = change.author.short();
    let Some(m) = roster.member(&change.author) else {
        return Err(Rejection::NotMember(who));
    };
    if let Some(rv) = &m.revoked {
        let h = change.hash.to_string();
        if !rv.cut.contains(&h) {
            return Err(Rejection::Revoked(who));
        }
    }
    Ok(m.role)
}

/// Full check of one change against the document it is about to be applied to.
/// Nothing is applied here, so a refusal leaves no trace.
pub fn check_change(
    doc_id: &DocId,
    commune_id: &NodeId,
    roster: &Roster,
    before: &Automerge,
    change: &VerifiedChange,
) -> Result<(), Rejection> {
    let kind = doc_id.kind();
    let facts = match &change.facts {
        // Without dependencies a change can only touch objects it makes itself (or
        // the root), so its analysis did not need the document.
        Some(f) if change.change.deps().is_empty() => f.clone(),
        _ => analyse(before, change)?,
    };
    if let Some(k) = facts.root_puts.get("kind")
        && k.as_str() != Some(kind.as_str())
    {
        return Err(Rejection::KindMismatch);
    }
    let fields = &facts.fields;

    // The roster bootstraps itself: the founder (whose key is the commune id) writes
    // the first roster change; after that, only officials listed in it.
    if kind == Kind::Roster {
        let current = read_roster(before);
        if current.members.is_empty() {
            return if change.author == *commune_id {
                Ok(())
            } else {
                Err(Rejection::NotFounder)
            };
        }
        let role = check_author(&current, change)?;
        if role != Role::Official {
            return Err(forbidden(role, kind, fields));
        }
        if fields.contains("commune_id") && change.author != *commune_id {
            return Err(Rejection::NotFounder);
        }
        return Ok(());
    }

    let role = check_author(roster, change)?;
    match kind {
        Kind::Roster => unreachable!("handled above"),
        Kind::Notice | Kind::Procedure => {
            if role != Role::Official {
                return Err(forbidden(role, kind, fields));
            }
        }
        Kind::Receipt => {
            if doc_id.receipt_owner() != Some(change.author) {
                return Err(Rejection::ForeignReceipt);
            }
        }
        Kind::Request => {
            let creator_before: Option<NodeId> =
                get_str(before, &automerge::ROOT, "created_by").and_then(|s| s.parse().ok());
            let creator_set: Option<Option<NodeId>> = facts
                .root_puts
                .get("created_by")
                .map(|v| v.as_str().and_then(|s| s.parse().ok()));
            // The creator is whoever wrote `created_by` first, naming themselves.
            let creator = match (creator_before, creator_set) {
                (Some(c), None) => Some(c),
                (Some(c), Some(n)) if n == Some(c) => Some(c),
                (None, Some(n)) => n,
                _ => None,
            };
            for f in fields {
                if RESIDENT_FIELDS.contains(&f.as_str()) {
                    if creator != Some(change.author) {
                        return Err(Rejection::NotCreator(f.clone()));
                    }
                } else if OFFICIAL_FIELDS.contains(&f.as_str()) {
                    let creating = creator_before.is_none() && creator == Some(change.author);
                    if creating && CREATION_FIELDS.contains(&f.as_str()) {
                        continue;
                    }
                    if role != Role::Official {
                        return Err(Rejection::Forbidden {
                            role,
                            kind: kind.as_str(),
                            field: f.clone(),
                        });
                    }
                } else {
                    return Err(Rejection::UnknownField(f.clone(), kind.as_str()));
                }
            }
        }
    }
    Ok(())
}

fn forbidden(role: Role, kind: Kind, fields: &BTreeSet<String>) -> Rejection {
    Rejection::Forbidden {
        role,
        kind: kind.as_str(),
        field: fields.iter().next().cloned().unwrap_or_default(),
    }
}
