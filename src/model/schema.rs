//! The fields of each document kind, read from and written to Automerge.
//!
//! Readers are total: a document written by a buggy or hostile member still reads
//! (missing or mistyped fields fall back to defaults), because rendering a notice
//! must never crash a kiosk. Writers are used only for local edits, after `rules`
//! has said the local node may make them.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{
    AutomergeError, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable,
};
use serde::{Deserialize, Serialize};

use super::{Category, DocId, Kind, RequestKind, Role, Status};
use crate::identity::NodeId;

// ---- reading helpers -------------------------------------------------------

fn scalar(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<ScalarValue> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => Some(s.into_owned()),
        _ => None,
    }
}

pub fn get_str(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        (Value::Object(ObjType::Text), id) => doc.text(&id).ok(),
        _ => None,
    }
}

fn get_i64(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<i64> {
    match scalar(doc, obj, key)? {
        ScalarValue::Int(i) => Some(i),
        ScalarValue::Uint(u) => i64::try_from(u).ok(),
        ScalarValue::Timestamp(t) => Some(t),
        _ => None,
    }
}

fn get_bool(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> bool {
    matches!(scalar(doc, obj, key), Some(ScalarValue::Boolean(true)))
}

pub fn get_bytes(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<Vec<u8>> {
    match scalar(doc, obj, key)? {
        ScalarValue::Bytes(b) => Some(b),
        _ => None,
    }
}

fn get_obj(doc: &impl ReadDoc, obj: &ObjId, key: &str, ty: ObjType) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (Value::Object(t), id) if t == ty => Some(id),
        _ => None,
    }
}

fn get_str_list(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Vec<String> {
    let Some(list) = get_obj(doc, obj, key, ObjType::List) else {
        return Vec::new();
    };
    (0..doc.length(&list))
        .filter_map(|i| match doc.get(&list, i).ok()?? {
            (Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn get_node(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<NodeId> {
    get_str(doc, obj, key)?.parse().ok()
}

pub fn doc_kind(doc: &impl ReadDoc) -> Option<Kind> {
    Kind::parse(&get_str(doc, &ROOT, "kind")?)
}

// ---- writing helpers -------------------------------------------------------

type TxResult<T = ()> = Result<T, AutomergeError>;

fn put_str_list(tx: &mut impl Transactable, obj: &ObjId, key: &str, items: &[String]) -> TxResult {
    let list = tx.put_object(obj, key, ObjType::List)?;
    for (i, s) in items.iter().enumerate() {
        tx.insert(&list, i, s.as_str())?;
    }
    Ok(())
}

fn put_opt_i64(tx: &mut impl Transactable, key: &str, v: Option<i64>) -> TxResult {
    match v {
        Some(v) => tx.put(ROOT, key, v),
        None => Ok(()),
    }
}

/// Fields every document starts with.
pub fn put_header(tx: &mut impl Transactable, kind: Kind, by: &NodeId, at: i64) -> TxResult {
    tx.put(ROOT, "kind", kind.as_str())?;
    tx.put(ROOT, "created_by", by.to_string())?;
    tx.put(ROOT, "created_at", at)?;
    Ok(())
}

// ---- roster ----------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Revocation {
    pub by: NodeId,
    pub at: i64,
    /// Hex hashes of the revoked node's changes that the revoking official held:
    /// those stay valid, anything else by that node is rejected everywhere.
    pub cut: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Member {
    pub node: NodeId,
    pub name: String,
    pub role: Role,
    pub place: String,
    /// Small number unique in the commune, used in tracking codes.
    pub number: u32,
    pub added_by: Option<NodeId>,
    pub added_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Roster {
    pub commune_id: Option<NodeId>,
    pub commune_name: String,
    pub initials: String,
    pub members: BTreeMap<NodeId, Member>,
}

impl Roster {
    pub fn member(&self, node: &NodeId) -> Option<&Member> {
        self.members.get(node)
    }
    /// An active (not revoked) member's role.
    pub fn active_role(&self, node: &NodeId) -> Option<Role> {
        self.members
            .get(node)
            .filter(|m| m.revoked.is_none())
            .map(|m| m.role)
    }
    pub fn is_official(&self, node: &NodeId) -> bool {
        self.active_role(node) == Some(Role::Official)
    }
    pub fn officials(&self) -> impl Iterator<Item = &Member> {
        self.members
            .values()
            .filter(|m| m.revoked.is_none() && m.role == Role::Official)
    }
    /// A member's place in the line of enrolments: the numbers along the path from
    /// the founder (`commune`) to it; the founder's own line is empty. Lines compare in
    /// order, so a member ranks below whoever enrolled it and the number an official
    /// writes orders only its own enrolees (a puppet "number 0" outranks nobody its
    /// enroller does not).
    pub fn line(&self, commune: &NodeId, node: &NodeId) -> Vec<u32> {
        let mut path = Vec::new();
        let mut at = *node;
        let mut seen = std::collections::BTreeSet::new();
        while at != *commune && seen.insert(at) {
            let Some(m) = self.member(&at) else {
                path.push(u32::MAX);
                break;
            };
            path.push(m.number);
            match m.added_by {
                Some(by) => at = by,
                None => break,
            }
        }
        path.reverse();
        path
    }
    pub fn next_number(&self) -> u32 {
        self.members.values().map(|m| m.number).max().unwrap_or(0) + 1
    }
}

pub fn read_roster(doc: &impl ReadDoc) -> Roster {
    let mut r = Roster {
        commune_id: get_node(doc, &ROOT, "commune_id"),
        commune_name: get_str(doc, &ROOT, "commune_name").unwrap_or_default(),
        initials: get_str(doc, &ROOT, "initials").unwrap_or_default(),
        members: BTreeMap::new(),
    };
    let Some(members) = get_obj(doc, &ROOT, "members", ObjType::Map) else {
        return r;
    };
    // Two enrolments of one key made on rosters that did not hold each other conflict
    // in Automerge, and Automerge's own winner is the larger operation id — which the
    // writer steers by padding its change with operations (issue 21: an official
    // turned another into a kiosk that way). The entry kept is the one its writer's
    // rank gives (`Roster::line`: the founder first, then the line of enrolments, then
    // the key), decided after every unconflicted entry is read.
    let mut conflicted: Vec<(NodeId, Vec<(NodeId, Member)>)> = Vec::new();
    for key in doc.keys(&members) {
        let Ok(node) = key.parse::<NodeId>() else {
            continue;
        };
        let entries: Vec<(NodeId, Member)> = doc
            .get_all(&members, &key)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(v, id)| match (v, &id) {
                (Value::Object(ObjType::Map), ObjId::Id(_, actor, _)) => {
                    let writer = NodeId::from_slice(actor.to_bytes().get(..32)?)?;
                    Some((writer, read_member(doc, &id, node)?))
                }
                _ => None,
            })
            .collect();
        match entries.len() {
            0 => {}
            1 => {
                let (_, m) = entries.into_iter().next().expect("one");
                r.members.insert(node, m);
            }
            _ => conflicted.push((node, entries)),
        }
    }
    let commune = r.commune_id.unwrap_or(NodeId([0; 32]));
    for (node, entries) in conflicted {
        let best = entries
            .into_iter()
            .min_by(|(a, ma), (b, mb)| {
                let rank = |w: &NodeId| (*w != commune, r.line(&commune, w), *w);
                rank(a)
                    .cmp(&rank(b))
                    .then_with(|| (ma.number, ma.added_at).cmp(&(mb.number, mb.added_at)))
            })
            .map(|(_, m)| m)
            .expect("two or more");
        r.members.insert(node, best);
    }
    r
}

fn read_member(doc: &impl ReadDoc, m: &ObjId, node: NodeId) -> Option<Member> {
    let role = get_str(doc, m, "role").and_then(|s| s.parse().ok())?;
    let revoked = get_obj(doc, m, "revoked", ObjType::Map).map(|rv| Revocation {
        by: get_node(doc, &rv, "by").unwrap_or(node),
        at: get_i64(doc, &rv, "at").unwrap_or(0),
        cut: get_str_list(doc, &rv, "cut"),
    });
    Some(Member {
        node,
        name: get_str(doc, m, "name").unwrap_or_default(),
        role,
        place: get_str(doc, m, "place").unwrap_or_default(),
        number: get_i64(doc, m, "number")
            .unwrap_or(0)
            .clamp(0, u32::MAX as i64) as u32,
        added_by: get_node(doc, m, "added_by"),
        added_at: get_i64(doc, m, "added_at").unwrap_or(0),
        revoked,
    })
}

pub fn write_roster_header(
    tx: &mut impl Transactable,
    commune_id: &NodeId,
    name: &str,
    initials: &str,
    at: i64,
) -> TxResult {
    put_header(tx, Kind::Roster, commune_id, at)?;
    tx.put(ROOT, "commune_id", commune_id.to_string())?;
    tx.put(ROOT, "commune_name", name)?;
    tx.put(ROOT, "initials", initials)?;
    tx.put_object(ROOT, "members", ObjType::Map)?;
    tx.put_object(ROOT, "revocations", ObjType::Map)?;
    Ok(())
}

pub fn write_member(tx: &mut impl Transactable, m: &Member) -> TxResult {
    let members = match tx.get(ROOT, "members")? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => tx.put_object(ROOT, "members", ObjType::Map)?,
    };
    let obj = tx.put_object(&members, m.node.to_string(), ObjType::Map)?;
    tx.put(&obj, "name", m.name.as_str())?;
    tx.put(&obj, "role", m.role.as_str())?;
    tx.put(&obj, "place", m.place.as_str())?;
    tx.put(&obj, "number", m.number as i64)?;
    if let Some(by) = &m.added_by {
        tx.put(&obj, "added_by", by.to_string())?;
    }
    tx.put(&obj, "added_at", m.added_at)?;
    Ok(())
}

/// A revocation record as written in the roster, before any verdict on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRevocation {
    pub target: NodeId,
    pub by: Option<NodeId>,
    pub at: i64,
    /// Chain heads of the target that the revoking official held (or, in records
    /// written before chains, every change hash it held).
    pub cut: Vec<[u8; 32]>,
}

fn parse_hashes(items: Vec<String>) -> Vec<[u8; 32]> {
    items
        .iter()
        .filter_map(|h| {
            let mut b = [0u8; 32];
            hex::decode_to_slice(h, &mut b).ok().map(|()| b)
        })
        .collect()
}

/// Every revocation record in the roster document, by record id: the append-only
/// `revocations` map, and the `revoked` entry of members written by older versions
/// (id `legacy:<node>`).
pub fn read_raw_revocations(doc: &impl ReadDoc) -> BTreeMap<String, RawRevocation> {
    let mut out = BTreeMap::new();
    // Two officials may create the `revocations` map concurrently (in a roster from an
    // older version that lacks it): read every conflicting copy, so none is lost.
    let all = doc.get_all(ROOT, "revocations").unwrap_or_default();
    for revs in all.into_iter().filter_map(|(v, id)| match v {
        Value::Object(ObjType::Map) => Some(id),
        _ => None,
    }) {
        for key in doc.keys(&revs) {
            let Some(r) = get_obj(doc, &revs, &key, ObjType::Map) else {
                continue;
            };
            let Some(target) = get_node(doc, &r, "target") else {
                continue;
            };
            out.insert(
                key.clone(),
                RawRevocation {
                    target,
                    by: get_node(doc, &r, "by"),
                    at: get_i64(doc, &r, "at").unwrap_or(0),
                    cut: parse_hashes(get_str_list(doc, &r, "cut")),
                },
            );
        }
    }
    if let Some(members) = get_obj(doc, &ROOT, "members", ObjType::Map) {
        for key in doc.keys(&members) {
            let Ok(node) = key.parse::<NodeId>() else {
                continue;
            };
            let Some(m) = get_obj(doc, &members, &key, ObjType::Map) else {
                continue;
            };
            if let Some(rv) = get_obj(doc, &m, "revoked", ObjType::Map) {
                out.insert(
                    format!("legacy:{node}"),
                    RawRevocation {
                        target: node,
                        by: get_node(doc, &rv, "by"),
                        at: get_i64(doc, &rv, "at").unwrap_or(0),
                        cut: parse_hashes(get_str_list(doc, &rv, "cut")),
                    },
                );
            }
        }
    }
    out
}

/// Appends a revocation record. Records are never edited or removed (the rules
/// refuse it), so concurrent revocations all survive the merge.
pub fn write_revocation(
    tx: &mut impl Transactable,
    node: &NodeId,
    by: &NodeId,
    at: i64,
    cut: &[[u8; 32]],
) -> TxResult {
    let revs = match tx.get(ROOT, "revocations")? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => tx.put_object(ROOT, "revocations", ObjType::Map)?,
    };
    let mut nonce = [0u8; 6];
    rand::fill(&mut nonce);
    let key = format!("{node}:{by}:{}", hex::encode(nonce));
    let obj = tx.put_object(&revs, key, ObjType::Map)?;
    tx.put(&obj, "target", node.to_string())?;
    tx.put(&obj, "by", by.to_string())?;
    tx.put(&obj, "at", at)?;
    let cut: Vec<String> = cut.iter().map(hex::encode).collect();
    put_str_list(tx, &obj, "cut", &cut)?;
    Ok(())
}

// ---- notice ----------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Notice {
    pub id: DocId,
    pub title: String,
    pub body: String,
    pub category: Category,
    pub urgent: bool,
    pub starts: Option<i64>,
    pub place: Option<String>,
    pub valid_until: Option<i64>,
    pub hamlets: Vec<String>,
    pub withdrawn: bool,
    pub created_at: i64,
    pub created_by: Option<NodeId>,
    pub updated_at: i64,
}

impl Notice {
    /// Shown to residents: not withdrawn and not past its validity.
    pub fn is_live(&self, now: i64) -> bool {
        !self.withdrawn && self.valid_until.is_none_or(|v| v > now)
    }
}

/// Fields of a new or edited notice, as typed by an official.
#[derive(Clone, Debug, Default)]
pub struct NoticeDraft {
    pub title: String,
    pub body: String,
    pub category: Option<Category>,
    pub urgent: bool,
    pub starts: Option<i64>,
    pub place: Option<String>,
    pub valid_until: Option<i64>,
    pub hamlets: Vec<String>,
}

pub fn read_notice(id: &DocId, doc: &impl ReadDoc) -> Notice {
    let created_at = get_i64(doc, &ROOT, "created_at").unwrap_or(0);
    Notice {
        id: id.clone(),
        title: get_str(doc, &ROOT, "title").unwrap_or_default(),
        body: get_str(doc, &ROOT, "body").unwrap_or_default(),
        category: get_str(doc, &ROOT, "category")
            .and_then(|c| c.parse().ok())
            .unwrap_or(Category::Other),
        urgent: get_bool(doc, &ROOT, "urgent"),
        starts: get_i64(doc, &ROOT, "starts"),
        place: get_str(doc, &ROOT, "place").filter(|p| !p.is_empty()),
        valid_until: get_i64(doc, &ROOT, "valid_until"),
        hamlets: get_str_list(doc, &ROOT, "hamlets"),
        withdrawn: get_bool(doc, &ROOT, "withdrawn"),
        created_at,
        created_by: get_node(doc, &ROOT, "created_by"),
        updated_at: get_i64(doc, &ROOT, "updated_at").unwrap_or(created_at),
    }
}

pub fn write_notice(tx: &mut impl Transactable, d: &NoticeDraft, at: i64) -> TxResult {
    tx.put(ROOT, "title", d.title.as_str())?;
    // The body is one string: an edit replaces it whole, so two officials editing at
    // once end with one of their versions everywhere, never a character mix of both
    // (a storm warning must read as someone wrote it). It is also one operation where
    // Text costs one per character: a 300-character notice imports ~5× faster and
    // travels smaller. Bodies written as Text by earlier versions stay Text.
    match tx.get(ROOT, "body")? {
        Some((Value::Object(ObjType::Text), t)) => tx.update_text(&t, &d.body)?,
        _ => tx.put(ROOT, "body", d.body.as_str())?,
    }
    tx.put(
        ROOT,
        "category",
        d.category.unwrap_or(Category::Other).as_str(),
    )?;
    tx.put(ROOT, "urgent", d.urgent)?;
    put_opt_i64(tx, "starts", d.starts)?;
    if let Some(p) = &d.place {
        tx.put(ROOT, "place", p.as_str())?;
    }
    put_opt_i64(tx, "valid_until", d.valid_until)?;
    put_str_list(tx, &ROOT, "hamlets", &d.hamlets)?;
    tx.put(ROOT, "withdrawn", false)?;
    tx.put(ROOT, "updated_at", at)?;
    Ok(())
}

pub fn write_withdrawn(tx: &mut impl Transactable, at: i64) -> TxResult {
    tx.put(ROOT, "withdrawn", true)?;
    tx.put(ROOT, "updated_at", at)?;
    Ok(())
}

// ---- procedure -------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Procedure {
    pub id: DocId,
    pub title: String,
    pub papers: Vec<String>,
    pub fee: String,
    pub days: Option<i64>,
    pub steps: Vec<String>,
    pub created_at: i64,
}

pub fn read_procedure(id: &DocId, doc: &impl ReadDoc) -> Procedure {
    Procedure {
        id: id.clone(),
        title: get_str(doc, &ROOT, "title").unwrap_or_default(),
        papers: get_str_list(doc, &ROOT, "papers"),
        fee: get_str(doc, &ROOT, "fee").unwrap_or_default(),
        days: get_i64(doc, &ROOT, "days"),
        steps: get_str_list(doc, &ROOT, "steps"),
        created_at: get_i64(doc, &ROOT, "created_at").unwrap_or(0),
    }
}

pub fn write_procedure(tx: &mut impl Transactable, p: &Procedure) -> TxResult {
    tx.put(ROOT, "title", p.title.as_str())?;
    put_str_list(tx, &ROOT, "papers", &p.papers)?;
    tx.put(ROOT, "fee", p.fee.as_str())?;
    put_opt_i64(tx, "days", p.days)?;
    put_str_list(tx, &ROOT, "steps", &p.steps)?;
    Ok(())
}

// ---- request ---------------------------------------------------------------

/// Fields of a request only its creator may write.
pub const RESIDENT_FIELDS: &[&str] = &[
    "kind",
    "created_by",
    "created_at",
    "code",
    "request_kind",
    "hamlet",
    "name",
    "text",
    "public",
    "contact",
    "satisfaction",
];
/// Fields of a request only officials may write.
pub const OFFICIAL_FIELDS: &[&str] = &["status", "answers", "appointment", "updated_at"];

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Answer {
    pub by: Option<NodeId>,
    pub at: i64,
    pub text: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Appointment {
    pub at: i64,
    pub place: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Request {
    pub id: DocId,
    pub code: String,
    pub kind: RequestKind,
    pub hamlet: String,
    pub name: String,
    pub text: String,
    pub public: bool,
    /// Phone/contact sealed to the commune's officials (see `crate::seal`).
    #[serde(skip)]
    pub contact_sealed: Option<Vec<u8>>,
    pub status: Status,
    pub answers: Vec<Answer>,
    pub appointment: Option<Appointment>,
    pub satisfaction: Option<i64>,
    pub created_at: i64,
    pub created_by: Option<NodeId>,
    pub updated_at: i64,
}

#[derive(Clone, Debug, Default)]
pub struct RequestDraft {
    pub kind: Option<RequestKind>,
    pub hamlet: String,
    pub name: String,
    pub text: String,
    pub phone: Option<String>,
    pub public: bool,
}

pub fn read_request(id: &DocId, doc: &impl ReadDoc) -> Request {
    let answers = match get_obj(doc, &ROOT, "answers", ObjType::List) {
        Some(list) => (0..doc.length(&list))
            .filter_map(|i| match doc.get(&list, i).ok()?? {
                (Value::Object(ObjType::Map), a) => Some(Answer {
                    by: get_node(doc, &a, "by"),
                    at: get_i64(doc, &a, "at").unwrap_or(0),
                    text: get_str(doc, &a, "text").unwrap_or_default(),
                }),
                _ => None,
            })
            .collect(),
        None => Vec::new(),
    };
    let appointment = get_obj(doc, &ROOT, "appointment", ObjType::Map).and_then(|a| {
        Some(Appointment {
            at: get_i64(doc, &a, "at")?,
            place: get_str(doc, &a, "place").unwrap_or_default(),
        })
    });
    let created_at = get_i64(doc, &ROOT, "created_at").unwrap_or(0);
    Request {
        id: id.clone(),
        code: get_str(doc, &ROOT, "code").unwrap_or_default(),
        kind: get_str(doc, &ROOT, "request_kind")
            .and_then(|k| k.parse().ok())
            .unwrap_or(RequestKind::Question),
        hamlet: get_str(doc, &ROOT, "hamlet").unwrap_or_default(),
        name: get_str(doc, &ROOT, "name").unwrap_or_default(),
        text: get_str(doc, &ROOT, "text").unwrap_or_default(),
        public: get_bool(doc, &ROOT, "public"),
        contact_sealed: get_bytes(doc, &ROOT, "contact"),
        status: get_str(doc, &ROOT, "status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(Status::New),
        answers,
        appointment,
        satisfaction: get_i64(doc, &ROOT, "satisfaction"),
        created_at,
        created_by: get_node(doc, &ROOT, "created_by"),
        updated_at: get_i64(doc, &ROOT, "updated_at").unwrap_or(created_at),
    }
}

pub fn write_new_request(
    tx: &mut impl Transactable,
    code: &str,
    d: &RequestDraft,
    contact_sealed: Option<Vec<u8>>,
) -> TxResult {
    tx.put(ROOT, "code", code)?;
    tx.put(
        ROOT,
        "request_kind",
        d.kind.unwrap_or(RequestKind::Question).as_str(),
    )?;
    tx.put(ROOT, "hamlet", d.hamlet.as_str())?;
    tx.put(ROOT, "name", d.name.as_str())?;
    tx.put(ROOT, "text", d.text.as_str())?;
    tx.put(ROOT, "public", d.public)?;
    if let Some(c) = contact_sealed {
        tx.put(ROOT, "contact", ScalarValue::Bytes(c))?;
    }
    // The containers officials append to are made here, once: two officials who
    // each created the list when answering concurrently would make two conflicting
    // lists, and one answer would be lost.
    tx.put(ROOT, "status", Status::New.as_str())?;
    tx.put_object(ROOT, "answers", ObjType::List)?;
    Ok(())
}

/// An official's answer: appended to the thread, status and appointment updated.
pub fn write_answer(
    tx: &mut impl Transactable,
    by: &NodeId,
    at: i64,
    text: &str,
    status: Status,
    appointment: Option<&Appointment>,
) -> TxResult {
    let list = match tx.get(ROOT, "answers")? {
        Some((Value::Object(ObjType::List), id)) => id,
        _ => tx.put_object(ROOT, "answers", ObjType::List)?,
    };
    let n = tx.length(&list);
    let a = tx.insert_object(&list, n, ObjType::Map)?;
    tx.put(&a, "by", by.to_string())?;
    tx.put(&a, "at", at)?;
    tx.put(&a, "text", text)?;
    tx.put(ROOT, "status", status.as_str())?;
    if let Some(ap) = appointment {
        let o = tx.put_object(ROOT, "appointment", ObjType::Map)?;
        tx.put(&o, "at", ap.at)?;
        tx.put(&o, "place", ap.place.as_str())?;
    }
    tx.put(ROOT, "updated_at", at)?;
    Ok(())
}

/// An official's status change without an answer (junk dismissed in bulk).
pub fn write_status(tx: &mut impl Transactable, status: Status, at: i64) -> TxResult {
    tx.put(ROOT, "status", status.as_str())?;
    tx.put(ROOT, "updated_at", at)?;
    Ok(())
}

// ---- receipt ---------------------------------------------------------------

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    /// Notice id → when this node first held it (unix seconds).
    pub notices: BTreeMap<String, i64>,
    /// Notice id → the version this node holds: the short ids (`short_heads`) of the
    /// notice's heads when it wrote the entry. Missing for entries written before
    /// receipts carried versions (nothing can be said of those).
    #[serde(default)]
    pub versions: BTreeMap<String, Vec<String>>,
}

/// Bytes of a head hash kept in a receipt: 8 are plenty to tell versions of one notice
/// apart (a receipt is its author's own claim anyway; nothing trusts it for more).
pub const SHORT_HEAD_BYTES: usize = 8;

/// A change hash as receipts name it.
pub fn short_head(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..SHORT_HEAD_BYTES])
}

/// The short, sorted ids of a document's heads, as receipts record versions.
pub fn short_heads(heads: &[[u8; 32]]) -> Vec<String> {
    let mut v: Vec<String> = heads.iter().map(short_head).collect();
    v.sort();
    v
}

/// One receipt entry as stored: `"<unix seconds> <head>.<head>"`. Entries of earlier
/// versions are a bare integer (the time only).
fn receipt_entry(at: i64, version: &[String]) -> String {
    let kept = &version[..version.len().min(super::MAX_RECEIPT_HEADS)];
    format!("{at} {}", kept.join("."))
}

/// One receipt entry as read: when the node first held the notice and, when the
/// entry records it, the version held (`None`: an entry of before versions).
pub type ReceiptEntry = (i64, Option<Vec<String>>);

impl Receipt {
    /// Adds one entry (replacing any under the same notice id).
    pub fn insert_entry(&mut self, notice: String, (at, version): ReceiptEntry) {
        match version {
            Some(v) => {
                self.versions.insert(notice.clone(), v);
            }
            None => {
                self.versions.remove(&notice);
            }
        }
        self.notices.insert(notice, at);
    }
}

/// The short heads of a stored version, `"<head>.<head>"` (`""`: no heads).
pub fn parse_version(v: &str) -> Vec<String> {
    v.split('.')
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect()
}

/// An entry's stored value read (`receipt_entry` writes them); `None` for anything
/// else, which readers skip.
fn receipt_value(v: &Value<'_>) -> Option<ReceiptEntry> {
    let Value::Scalar(s) = v else {
        return None;
    };
    match s.as_ref() {
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Some((*i, None)),
        ScalarValue::Uint(u) => i64::try_from(*u).ok().map(|t| (t, None)),
        ScalarValue::Str(s) => {
            let (at, v) = s.split_once(' ')?;
            Some((at.parse::<i64>().ok()?, Some(parse_version(v))))
        }
        _ => None,
    }
}

/// The receipt's entries map (the winning one, should two have been made).
fn receipt_map(doc: &impl ReadDoc) -> Option<ObjId> {
    get_obj(doc, &ROOT, "notices", ObjType::Map)
}

/// Every entry of a receipt, in one pass over its map (a kiosk's receipt can hold
/// 100,000 entries: a lookup per key cost ten times more).
pub fn receipt_entries(doc: &impl ReadDoc) -> Vec<(String, ReceiptEntry)> {
    let Some(m) = receipt_map(doc) else {
        return Vec::new();
    };
    doc.map_range(&m, ..)
        .filter_map(|item| {
            let e = receipt_value(&item.value.into_value())?;
            Some((item.key.into_owned(), e))
        })
        .collect()
}

/// The current entries of the given keys (`None`: no readable entry under that
/// key): what a change that wrote those keys leaves, at O(keys · log entries).
pub fn receipt_entries_of(
    doc: &impl ReadDoc,
    keys: impl IntoIterator<Item = String>,
) -> Vec<(String, Option<ReceiptEntry>)> {
    let m = receipt_map(doc);
    keys.into_iter()
        .map(|k| {
            let e = m.as_ref().and_then(|m| match doc.get(m, k.as_str()) {
                Ok(Some((v, _))) => receipt_value(&v),
                _ => None,
            });
            (k, e)
        })
        .collect()
}

/// The entry keys a receipt change writes, read off its operations; `None` when it
/// (re)makes the entries map itself, so the whole receipt must be read again.
pub fn receipt_keys_written(change: &automerge::Change) -> Option<BTreeSet<String>> {
    let expanded = crate::model::signed::guard(|| change.decode()).ok()?;
    let mut keys = BTreeSet::new();
    for op in &expanded.operations {
        let automerge::legacy::Key::Map(k) = &op.key else {
            return None;
        };
        if op.obj == automerge::legacy::ObjectId::Root {
            if k.as_str() == "notices" {
                return None;
            }
        } else {
            keys.insert(k.to_string());
        }
    }
    Some(keys)
}

pub fn read_receipt(doc: &impl ReadDoc) -> Receipt {
    let mut r = Receipt::default();
    for (k, e) in receipt_entries(doc) {
        r.insert_entry(k, e);
    }
    r
}

pub fn write_receipt_header(tx: &mut impl Transactable) -> TxResult {
    tx.put_object(ROOT, "notices", ObjType::Map)?;
    Ok(())
}

pub fn write_receipt_entries(
    tx: &mut impl Transactable,
    entries: &[(DocId, i64, Vec<String>)],
) -> TxResult {
    let m = match tx.get(ROOT, "notices")? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => tx.put_object(ROOT, "notices", ObjType::Map)?,
    };
    for (id, at, version) in entries {
        tx.put(&m, id.as_str(), receipt_entry(*at, version))?;
    }
    Ok(())
}
