//! Who may make which change: the permission rules every node applies to every
//! change, whether it was made here, came from a peer, or came from a USB bundle.
//! The table of rules (kind × field × role × creation/edit) is in ARCHITECTURE.md and
//! is enforced here, and only here.
//!
//! A change is judged by the top-level fields it actually touches. We read them off
//! the change's own operations rather than diffing the result, so an edit that loses
//! a conflict today (and would surface later) is judged all the same, and nothing has
//! to be applied to a fork first. Nested objects (a member entry, an answer) are
//! traced back to the top-level field that holds them.

use std::collections::{BTreeMap, HashMap};

use automerge::{Automerge, ReadDoc, ScalarValue, legacy};

use crate::identity::NodeId;
use crate::model::health::{HEALTH_FIELDS, MAX_HEALTH_OPS};
use crate::model::schema::{OFFICIAL_FIELDS, RESIDENT_FIELDS, RawRevocation, Roster, get_str};
use crate::model::signed::VerifiedChange;
use crate::model::text::MAX_TEXT_CHARS;
use crate::model::{DocId, Kind, MAX_RECEIPT_HEADS, Role};

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
    #[error("a health report may only be written by its own node")]
    ForeignHealth,
    #[error("the document's kind tag does not match its id")]
    KindMismatch,
    #[error("only the commune's founder may start the roster")]
    NotFounder,
    #[error("change touches an object that cannot be traced to a field")]
    Untraceable,
    #[error("unknown field {0:?} for a {1}")]
    UnknownField(String, &'static str),
    #[error("a {0} may not write this {1} at all")]
    NoAccess(Role, &'static str),
    #[error("bad creating change: {0}")]
    BadCreation(&'static str),
    #[error("field {0:?} is fixed once the document is created")]
    Immutable(String),
    #[error("change exceeds a size limit: {0}")]
    TooLarge(String),
    #[error("a {0} must keep its shape: {1}")]
    BadShape(&'static str, &'static str),
    #[error("roster rule: {0}")]
    Roster(String),
    #[error("release: {0}")]
    Release(String),
}

/// Every top-level field a receipt may have.
const RECEIPT_FIELDS: &[&str] = &["kind", "created_by", "created_at", "notices"];

/// Most operations one change may carry (a 20,000-character text plus its fields).
pub const MAX_OPS: usize = crate::model::declared::MAX_CHANGE_OPS as usize;
/// Longest map key (field name, member id, record id) in bytes.
pub const MAX_KEY_BYTES: usize = 200;
/// Fields of any document nobody may change after the creating change.
const FIXED_FIELDS: &[&str] = &["kind", "created_by", "created_at", "code", "commune_id"];

// Defined beside `VerifiedChange`, which carries it, so `model` needs nothing of
// `verdict`; worked out here.
pub use crate::model::signed::Facts;

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
    let expanded = crate::model::signed::guard(|| change.change.decode())
        .map_err(|()| Rejection::Untraceable)?;
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
    if expanded.operations.len() > MAX_OPS {
        facts.too_large = Some(format!("{} operations", expanded.operations.len()));
    }
    for op in &expanded.operations {
        if let legacy::Key::Map(k) = &op.key
            && k.len() > MAX_KEY_BYTES
        {
            facts.too_large = Some(format!("a field name of {} bytes", k.len()));
        }
        if let legacy::OpType::Put(ScalarValue::Str(v)) = &op.action
            && v.chars().count() > MAX_TEXT_CHARS
        {
            facts.too_large = Some(format!("a text of {} characters", v.chars().count()));
        }
    }
    if facts.too_large.is_some() {
        return Ok(facts);
    }
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
        if op.obj == legacy::ObjectId::Root {
            if let legacy::OpType::Put(v) = &op.action {
                facts.root_puts.insert(field.clone(), v.clone());
            }
        } else {
            facts.nested.insert(field.clone());
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

fn facts_of(before: &Automerge, change: &VerifiedChange) -> Result<Facts, Rejection> {
    let facts = match &change.facts {
        // Without dependencies a change can only touch objects it makes itself (or
        // the root), so its analysis did not need the document.
        Some(f) if change.change.deps().is_empty() => f.clone(),
        _ => analyse(before, change)?,
    };
    if let Some(t) = &facts.too_large {
        return Err(Rejection::TooLarge(t.clone()));
    }
    Ok(facts)
}

/// Roster fields, and who may write them: only officials, and `commune_id` only
/// the founder.
const ROSTER_FIELDS: &[&str] = &[
    "kind",
    "created_by",
    "created_at",
    "commune_id",
    "commune_name",
    "initials",
    "members",
    "revocations",
];

/// Checks a roster change before it is applied to `before_doc` (the roster as the
/// deterministic walk of `verdict::roster` has built it so far).
pub fn check_roster_change(
    commune_id: &NodeId,
    before: &Roster,
    before_doc: &Automerge,
    change: &VerifiedChange,
) -> Result<(), Rejection> {
    let facts = facts_of(before_doc, change)?;
    if let Some(k) = facts.root_puts.get("kind")
        && k.as_str() != Some(Kind::Roster.as_str())
    {
        return Err(Rejection::KindMismatch);
    }
    for f in &facts.fields {
        if !ROSTER_FIELDS.contains(&f.as_str()) {
            return Err(Rejection::UnknownField(f.clone(), "roster"));
        }
    }
    // The roster bootstraps itself: the founder (whose key is the commune id) writes
    // the first roster change; after that, only officials listed in it.
    if before.members.is_empty() {
        return if change.author == *commune_id {
            Ok(())
        } else {
            Err(Rejection::NotFounder)
        };
    }
    let Some(m) = before.member(&change.author) else {
        return Err(Rejection::NotMember(change.author.short()));
    };
    if m.role != Role::Official {
        return Err(Rejection::NoAccess(m.role, "roster"));
    }
    for f in FIXED_FIELDS {
        if facts.fields.contains(*f) {
            return Err(Rejection::Immutable(f.to_string()));
        }
    }
    Ok(())
}

/// Checks what a roster change did, by comparing the roster before and after it:
/// members are never removed and never change role (a device that should have
/// another role is revoked and enrolled again under a new key); a new member is
/// added by the change's author; revocation records are append-only, written by the
/// change's author, and never target the founder.
pub fn check_roster_diff(
    commune_id: &NodeId,
    author: &NodeId,
    before: &Roster,
    after: &Roster,
    before_revs: &BTreeMap<String, RawRevocation>,
    after_revs: &BTreeMap<String, RawRevocation>,
) -> Result<(), Rejection> {
    let bad = |s: String| Err(Rejection::Roster(s));
    if before.commune_id.is_some() && after.commune_id != before.commune_id {
        return bad("the commune id cannot change".into());
    }
    for (node, m) in &before.members {
        match after.members.get(node) {
            None => return bad(format!("member {} removed", node.short())),
            Some(a) if a.role != m.role => {
                return bad(format!("member {} changed role", node.short()));
            }
            Some(a) if a.number != m.number || a.added_by != m.added_by => {
                return bad(format!("member {} enrolment rewritten", node.short()));
            }
            _ => {}
        }
    }
    for (node, m) in &after.members {
        if !before.members.contains_key(node)
            && !before.members.is_empty()
            && m.added_by != Some(*author)
        {
            {
                return bad(format!(
                    "member {} not added by the change's author",
                    node.short()
                ));
            }
        }
    }
    for (id, r) in before_revs {
        if after_revs.get(id) != Some(r) {
            return bad(format!("revocation {id} altered or removed"));
        }
    }
    for (id, r) in after_revs {
        if before_revs.contains_key(id) {
            continue;
        }
        if r.by != Some(*author) {
            return bad("a revocation must name its author".into());
        }
        if r.target == *commune_id {
            return bad("the founder cannot be revoked".into());
        }
        if !after.members.contains_key(&r.target) {
            return bad("revocation of a node that is not a member".into());
        }
        if !super::roster::may_revoke(commune_id, after, author, &r.target) {
            return bad(format!(
                "official {} may be revoked only by the founder or an official ranked above it",
                r.target.short()
            ));
        }
        if r.cut.len() > super::roster::MAX_CUT_HEADS {
            return bad(format!("revocation cut of {} heads", r.cut.len()));
        }
    }
    Ok(())
}

/// The node whose key prefix a request id carries (ids made since chains exist:
/// `r-` + 8 bytes of the creator's key + 8 random bytes, in hex). Older ids (`r-` + 8
/// random bytes) carry none.
pub fn request_creator_prefix(id: &DocId) -> Option<[u8; 8]> {
    id.as_str().strip_prefix("r-")?;
    creator_prefix(id)
}

/// The creator's key prefix an id of the shape `<prefix>-<32 hex>` carries.
pub fn creator_prefix(id: &DocId) -> Option<[u8; 8]> {
    let (_, hexpart) = id.as_str().split_once('-')?;
    if hexpart.len() != 32 {
        return None;
    }
    let mut b = [0u8; 8];
    hex::decode_to_slice(&hexpart[..16], &mut b).ok()?;
    Some(b)
}

/// Full check of one change to a notice, procedure, request, receipt or health
/// report, by an author
/// of role `role` (already checked: a member, not revoked past its cut), against
/// `before`, the document at the change's own dependencies. Nothing is applied here.
pub fn check_change(
    doc_id: &DocId,
    role: Role,
    before: &Automerge,
    change: &VerifiedChange,
) -> Result<(), Rejection> {
    let kind = doc_id.kind();
    let facts = facts_of(before, change)?;
    // A kind a later version adds names itself, not "other".
    if let Some(k) = facts.root_puts.get("kind")
        && k.as_str() != Some(kind.as_str())
        && kind != Kind::Other
    {
        return Err(Rejection::KindMismatch);
    }
    let fields = &facts.fields;
    let created = get_str(before, &automerge::ROOT, "created_by").is_some()
        || get_str(before, &automerge::ROOT, "kind").is_some();
    if created {
        for f in FIXED_FIELDS {
            if fields.contains(*f) {
                return Err(Rejection::Immutable(f.to_string()));
            }
        }
    } else if let Some(v) = facts.root_puts.get("created_by")
        && v.as_str().and_then(|s| s.parse::<NodeId>().ok()) != Some(change.author)
    {
        // Every kind: the header a creating change writes names its author (a
        // kiosk cannot make a document that says another device made it).
        return Err(Rejection::BadCreation("created_by must name the author"));
    }
    match kind {
        Kind::Roster => Err(Rejection::KindMismatch),
        Kind::Other => {
            // A kind a later version adds (ARCHITECTURE.md, "Mixed versions"): the
            // rules every kind shares (the creating change names its author, above;
            // sizes, on every path), and what this version can judge without reading
            // it — only officials write it (the node the id names creates it), so it
            // needs no quota (whose verdicts it would move on this version and not on
            // the one before, which never holds it) and a member key cannot fill the
            // commune's disks with it; at most `MAX_LATER_CHANGES` changes in one, by
            // its own causal past. A later version accepts whatever these rules accept.
            if role != Role::Official {
                return Err(Rejection::NoAccess(role, kind.as_str()));
            }
            let held = before.stats().num_changes + 1;
            if held > crate::model::MAX_LATER_CHANGES {
                return Err(Rejection::TooLarge(format!(
                    "{held} changes in one document of a later kind (at most {})",
                    crate::model::MAX_LATER_CHANGES
                )));
            }
            let creator_before: Option<NodeId> =
                get_str(before, &automerge::ROOT, "created_by").and_then(|s| s.parse().ok());
            if creator_before.is_none() {
                if creator_prefix(doc_id)
                    != Some(change.author.as_bytes()[..8].try_into().unwrap_or_default())
                {
                    return Err(Rejection::BadCreation("the id names another creator"));
                }
                if facts
                    .root_puts
                    .get("created_by")
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse::<NodeId>().ok())
                    != Some(change.author)
                {
                    return Err(Rejection::BadCreation("created_by must name the author"));
                }
            }
            if super::release::is_release(doc_id) {
                return super::release::check(before, &facts, creator_before.is_some());
            }
            Ok(())
        }
        Kind::Notice | Kind::Procedure => {
            if role != Role::Official {
                return Err(Rejection::NoAccess(role, kind.as_str()));
            }
            Ok(())
        }
        Kind::Receipt => {
            if doc_id.receipt_owner() != Some(change.author) {
                return Err(Rejection::ForeignReceipt);
            }
            // Sized by its own causal past (`before`), so every node agrees.
            let held = before.stats();
            let ops = held.num_ops + change.change.len() as u64;
            if ops > crate::model::MAX_RECEIPT_OPS {
                return Err(Rejection::TooLarge(format!(
                    "{ops} operations in one receipt (at most {})",
                    crate::model::MAX_RECEIPT_OPS
                )));
            }
            if held.num_changes + 1 > crate::model::MAX_RECEIPT_CHANGES {
                return Err(Rejection::TooLarge(format!(
                    "{} changes in one receipt (at most {})",
                    held.num_changes + 1,
                    crate::model::MAX_RECEIPT_CHANGES
                )));
            }
            for f in fields {
                if !RECEIPT_FIELDS.contains(&f.as_str()) {
                    return Err(Rejection::UnknownField(f.clone(), kind.as_str()));
                }
            }
            if facts.nested.contains("notices") || facts.root_puts.contains_key("notices") {
                check_receipt_entries(before, change)?;
            }
            Ok(())
        }
        Kind::Health => {
            // A node's own report, with known fields only, kept small: it travels
            // to every node and lives in every store.
            if doc_id.health_owner() != Some(change.author) {
                return Err(Rejection::ForeignHealth);
            }
            if change.change.len() > MAX_HEALTH_OPS {
                return Err(Rejection::TooLarge(format!(
                    "{} operations in a health report",
                    change.change.len()
                )));
            }
            for f in fields {
                if !HEALTH_FIELDS.contains(&f.as_str()) {
                    return Err(Rejection::UnknownField(f.clone(), kind.as_str()));
                }
            }
            Ok(())
        }
        Kind::Request => {
            let creator_before: Option<NodeId> =
                get_str(before, &automerge::ROOT, "created_by").and_then(|s| s.parse().ok());
            match creator_before {
                None => {
                    // The creating change: by the node the id names (new ids), naming
                    // itself as creator, writing resident fields only.
                    if let Some(prefix) = request_creator_prefix(doc_id)
                        && change.author.as_bytes()[..8] != prefix
                    {
                        return Err(Rejection::BadCreation("the id names another creator"));
                    }
                    let named = facts
                        .root_puts
                        .get("created_by")
                        .and_then(|v| v.as_str())
                        .and_then(|s| s.parse::<NodeId>().ok());
                    if named != Some(change.author) {
                        return Err(Rejection::BadCreation("created_by must name the author"));
                    }
                    if facts.root_puts.get("kind").and_then(|v| v.as_str())
                        != Some(Kind::Request.as_str())
                    {
                        return Err(Rejection::BadCreation("kind must be set"));
                    }
                    for f in fields {
                        // The creating change may start the official fields empty
                        // (status "new", an empty answers list, so that concurrent
                        // first answers land in one list) and nothing more.
                        let empty_start = match f.as_str() {
                            "status" => {
                                facts.root_puts.get("status").and_then(|v| v.as_str())
                                    == Some("new")
                            }
                            "answers" => {
                                !facts.nested.contains("answers")
                                    && !facts.root_puts.contains_key("answers")
                            }
                            _ => false,
                        };
                        if empty_start {
                            continue;
                        }
                        if OFFICIAL_FIELDS.contains(&f.as_str()) {
                            return Err(Rejection::BadCreation("official fields set"));
                        }
                        if !RESIDENT_FIELDS.contains(&f.as_str()) {
                            return Err(Rejection::UnknownField(f.clone(), kind.as_str()));
                        }
                    }
                    Ok(())
                }
                Some(creator) => {
                    let is_creator = creator == change.author;
                    if !is_creator && role != Role::Official {
                        return Err(Rejection::NoAccess(role, kind.as_str()));
                    }
                    for f in fields {
                        if RESIDENT_FIELDS.contains(&f.as_str()) {
                            if !is_creator {
                                return Err(Rejection::NotCreator(f.clone()));
                            }
                        } else if OFFICIAL_FIELDS.contains(&f.as_str()) {
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
                    Ok(())
                }
            }
        }
    }
}

/// A receipt's `notices` map holds only notice ids, each with an entry in the
/// shape `model::schema::receipt_entry` writes: a time (old format: an integer),
/// or `"<seconds> <head>.<head>…"` with 16-hex-digit short heads. Anything else
/// in it (nested objects, other keys, long strings) is refused: receipts travel to
/// every official and courier.
fn check_receipt_entries(before: &Automerge, change: &VerifiedChange) -> Result<(), Rejection> {
    let bad = |what: &'static str| Err(Rejection::BadShape("receipt", what));
    let expanded = crate::model::signed::guard(|| change.change.decode())
        .map_err(|()| Rejection::Untraceable)?;
    let actor = expanded.actor_id.to_string();
    let start = expanded.start_op.get();
    // The notices map(s): made by this change at the root, or already there.
    let existing: Vec<automerge::ObjId> = before
        .get_all(automerge::ROOT, "notices")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(v, id)| matches!(v, automerge::Value::Object(_)).then_some(id))
        .collect();
    let mut made: Vec<String> = Vec::new();
    for (i, op) in expanded.operations.iter().enumerate() {
        if op.obj == legacy::ObjectId::Root {
            if let legacy::Key::Map(k) = &op.key
                && k.as_str() == "notices"
            {
                match op.action {
                    legacy::OpType::Make(automerge::ObjType::Map) => {
                        made.push(format!("{}@{}", start + i as u64, actor))
                    }
                    legacy::OpType::Delete => {}
                    _ => return bad("notices must be a map"),
                }
            }
            continue;
        }
        let legacy::ObjectId::Id(id) = &op.obj else {
            continue;
        };
        let id = id.to_string();
        let in_notices = made.contains(&id)
            || before
                .import(&id)
                .is_ok_and(|(ex, _)| existing.contains(&ex));
        if !in_notices {
            return bad("only entries directly in notices");
        }
        let legacy::Key::Map(key) = &op.key else {
            return bad("notices must be a map");
        };
        if !key.parse::<DocId>().is_ok_and(|d| d.kind() == Kind::Notice) {
            return bad("an entry's key must be a notice id");
        }
        let ok = match &op.action {
            legacy::OpType::Delete => true,
            legacy::OpType::Put(ScalarValue::Int(_) | ScalarValue::Uint(_)) => true,
            legacy::OpType::Put(ScalarValue::Str(v)) => receipt_entry_ok(v),
            _ => false,
        };
        if !ok {
            return bad("an entry must be a time, or a time and the notice's heads");
        }
    }
    Ok(())
}

/// `^-?\d{1,19}( ([0-9a-f]{16}(\.[0-9a-f]{16}){0,31})?)?$`, by hand (an empty
/// head list is what a notice with no heads would write).
fn receipt_entry_ok(v: &str) -> bool {
    let (at, heads) = match v.split_once(' ') {
        Some((a, h)) => (a, Some(h)),
        None => (v, None),
    };
    let digits = at.strip_prefix('-').unwrap_or(at);
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Some(heads) = heads else {
        return true;
    };
    if heads.is_empty() {
        return true;
    }
    let parts: Vec<&str> = heads.split('.').collect();
    parts.len() <= MAX_RECEIPT_HEADS
        && parts.iter().all(|h| {
            h.len() == 2 * crate::model::schema::SHORT_HEAD_BYTES
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}
