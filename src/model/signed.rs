//! The signed-change envelope: an Automerge change, the document it belongs to, and
//! the author's ed25519 signature over both.
//!
//! The signature covers the document id as well as the change hash, so a change
//! cannot be replayed into another document. The author is not sent separately: it is
//! the first 32 bytes of the change's actor id, so an actor id cannot be claimed by
//! anyone but the holder of that key (no actor spoofing).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use automerge::{ActorId, Change, ChangeHash, ScalarValue};
use serde::{Deserialize, Serialize};

use super::DocId;
use crate::identity::{Identity, NodeId};

/// Largest encoded change accepted from anyone (a notice body is at most
/// `MAX_TEXT_CHARS`, so honest changes stay far below this).
pub const MAX_CHANGE_BYTES: usize = 128 * 1024;

/// Largest size a change may have once inflated. Automerge compresses large changes
/// with deflate, and its decoder inflates without a bound: a 122 KB change can expand
/// to 120 MiB. We inflate into a counting sink first, so nothing is allocated for a
/// bomb. An honest change (≤ 20,000 characters of text plus its columns) stays far below.
pub const MAX_INFLATED_CHANGE_BYTES: u64 = 512 * 1024;

/// Prefix of the change message that carries the author chain (see `ChainMeta`), in
/// the format before changes named their document.
pub const CHAIN_TAG: &str = "cl/1";
/// Prefix of the change message that names the change's document and its author
/// chain link (`ChainMeta`): what every change made since sync message version 5 says.
pub const CHAIN_TAG_DOC: &str = "cl/2";

/// Actor ids are the author's public key followed by 8 bytes chosen afresh by each
/// process that writes. A fresh suffix means a node restored from an old backup can
/// never reuse an (actor, seq) pair it already sent to peers.
pub const ACTOR_LEN: usize = 40;

const DOMAIN: &[u8] = b"conglang/change/1\0";

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedChange {
    pub doc: DocId,
    #[serde(with = "serde_bytes_vec")]
    pub bytes: Vec<u8>,
    #[serde(with = "serde_sig")]
    pub sig: [u8; 64],
}

impl std::fmt::Debug for SignedChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignedChange({}, {} bytes)", self.doc, self.bytes.len())
    }
}

/// A change whose envelope checked out: well formed, actor bound to the signer,
/// signature valid. Whether the author may make it is `rules`' business.
#[derive(Clone, Debug)]
pub struct VerifiedChange {
    pub signed: SignedChange,
    pub change: Change,
    pub hash: ChangeHash,
    pub author: NodeId,
    /// What the change touches, worked out ahead of time for changes without
    /// dependencies (their analysis does not depend on the document; see
    /// `rules::analyse`), so it can run in parallel with other changes.
    pub facts: Option<Facts>,
    /// The author chain link, or `None` for a change made before chains existed.
    pub chain: Option<ChainMeta>,
}

impl VerifiedChange {
    /// Does the change's message name another document than the one it was signed
    /// for? (One change signed again for a second document: hostile.)
    pub fn names_another_document(&self) -> bool {
        matches!(self.chain, Some(ChainMeta { doc: Some(t), .. }) if t != doc_tag(&self.signed.doc))
    }
}

/// What a change does at the top level of a document (worked out by
/// `verdict::rules::analyse`; defined here, beside the change that carries it, so the
/// data model needs nothing of the rules above it).
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Top-level fields the change writes, directly or inside nested objects.
    pub fields: BTreeSet<String>,
    /// Scalar values the change puts directly at the top level.
    pub root_puts: BTreeMap<String, ScalarValue>,
    /// Top-level fields the change writes inside (ops on nested objects).
    pub nested: BTreeSet<String>,
    /// A limit the change breaks (checked on every path: local, peer, bundle).
    pub too_large: Option<String>,
}

/// Every change a node makes names the previous change the same node made (in any
/// document), in the change's message — so it is covered by the change hash and the
/// signature. Those links make each node's changes a hash chain, and a revocation can
/// name the revoked node's changes it keeps by a few chain heads instead of a list of
/// every hash (`verdict::roster`). A stolen key cannot add a change to the past of a
/// head it did not make.
///
/// The message also names the change's document (`doc`, a 128-bit tag of its id), so
/// one change — one hash — belongs to one document: the signature covers the pair,
/// but sync and the store know a change by its hash, and without the tag an author
/// could sign one change for two documents and leave two nodes "Synced" over
/// different documents (issue 21, fault 4). A tag that names another document than
/// the envelope is refused as hostile (`VerifiedChange::names_another_document`).
/// Changes from before the tag (`cl/1`) carry none; a second document's copy of one
/// is refused where the first is held (`repo::import::apply`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainMeta {
    pub prev: Option<[u8; 32]>,
    /// `doc_tag` of the change's document; `None` in the format before it.
    pub doc: Option<[u8; DOC_TAG_LEN]>,
}

/// Bytes of a document tag: 128 bits, so finding two document ids with one tag (to
/// sign one change for both) costs ~2^64 hashes.
pub const DOC_TAG_LEN: usize = 16;

/// The tag a change's message carries for its document.
pub fn doc_tag(doc: &DocId) -> [u8; DOC_TAG_LEN] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"conglang/doc-tag/1\0");
    h.update(doc.as_str().as_bytes());
    let d = h.finalize();
    let mut t = [0u8; DOC_TAG_LEN];
    t.copy_from_slice(&d[..DOC_TAG_LEN]);
    t
}

impl ChainMeta {
    /// The link a change to `doc` carries, after `prev`.
    pub fn for_doc(doc: &DocId, prev: Option<[u8; 32]>) -> ChainMeta {
        ChainMeta {
            prev,
            doc: Some(doc_tag(doc)),
        }
    }

    pub fn encode(&self) -> String {
        let mut m = match self.doc {
            Some(t) => format!("{CHAIN_TAG_DOC} {}", hex::encode(t)),
            None => CHAIN_TAG.to_string(),
        };
        if let Some(p) = self.prev {
            m.push(' ');
            m.push_str(&hex::encode(p));
        }
        m
    }

    /// `Ok(None)`: no message, a change from before chains. Any other message must be
    /// exactly a chain link: `cl/2 <doc tag>[ <prev>][ <name>=<value>…]` or, before
    /// tags, `cl/1[ <prev>]`. Words of the form `name=value` after the link are what a
    /// later version adds (for example causal evidence of a creation's day, issue 21
    /// fault 8): this version keeps and forwards such a change without reading them —
    /// the hash and the signature cover them all the same — so adding one needs no
    /// new message version.
    pub fn parse(message: Option<&str>) -> Result<Option<ChainMeta>> {
        let Some(m) = message else {
            return Ok(None);
        };
        let mut words = m.split(' ');
        let (doc, prev) = match words.next() {
            Some(CHAIN_TAG) => (None, words.next()),
            Some(CHAIN_TAG_DOC) => {
                let mut t = [0u8; DOC_TAG_LEN];
                match words.next() {
                    Some(w) if w.len() == 2 * DOC_TAG_LEN => {
                        if hex::decode_to_slice(w, &mut t).is_err() {
                            bail!("change message has a malformed document tag");
                        }
                    }
                    _ => bail!("change message has a malformed document tag"),
                }
                (Some(t), words.next())
            }
            _ => bail!("change message is not a chain link"),
        };
        let (prev, mut rest) = match prev {
            Some(w) if w.contains('=') && doc.is_some() => (None, Some(w)),
            p => (p, words.next()),
        };
        while let Some(w) = rest {
            // Extensions only in the tagged format, each `name=value`, printable ASCII.
            let ok = doc.is_some()
                && w.split_once('=').is_some_and(|(k, v)| {
                    !k.is_empty()
                        && !v.is_empty()
                        && k.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                        && v.bytes().all(|b| b.is_ascii_graphic())
                });
            if !ok {
                bail!("change message is not a chain link");
            }
            rest = words.next();
        }
        let prev = match prev {
            None => None,
            Some(w) => {
                let mut p = [0u8; 32];
                if w.len() != 64 || hex::decode_to_slice(w, &mut p).is_err() {
                    bail!("change message has a malformed chain link");
                }
                Some(p)
            }
        };
        Ok(Some(ChainMeta { prev, doc }))
    }
}

/// Runs a decoder on hostile bytes, turning a panic inside it into an error. The
/// fuzzer found inputs on which automerge's change decoder panics (an op id that
/// overflows); a peer must not be able to crash a kiosk with one.
#[allow(clippy::result_unit_err)]
pub fn guard<T>(f: impl FnOnce() -> T) -> Result<T, ()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| ())
}

pub fn new_actor(id: &NodeId) -> ActorId {
    let mut bytes = Vec::with_capacity(ACTOR_LEN);
    bytes.extend_from_slice(id.as_bytes());
    let mut suffix = [0u8; 8];
    rand::fill(&mut suffix);
    bytes.extend_from_slice(&suffix);
    ActorId::from(bytes)
}

/// The node an actor id belongs to, if it has our shape.
pub fn actor_node(actor: &ActorId) -> Option<NodeId> {
    let b = actor.to_bytes();
    if b.len() != ACTOR_LEN {
        return None;
    }
    NodeId::from_slice(&b[..32])
}

pub(super) fn message(doc: &DocId, hash: &ChangeHash) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + doc.as_str().len() + 33);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(doc.as_str().as_bytes());
    m.push(0);
    m.extend_from_slice(&hash.0);
    m
}

impl SignedChange {
    pub fn sign(identity: &Identity, doc: &DocId, change: &mut Change) -> SignedChange {
        let hash = change.hash();
        SignedChange {
            doc: doc.clone(),
            bytes: change.bytes().into_owned(),
            sig: identity.sign(&message(doc, &hash)),
        }
    }

    /// Checks the envelope. Never panics on hostile bytes.
    pub fn verify(self) -> Result<VerifiedChange> {
        self.measure()?.verify()
    }

    /// Bounds the change's size, compressed and inflated, and the work its encoded
    /// columns declare, without expanding them: the first step of `verify`, on its own so that an import can plan its
    /// memory from the sizes and not measure twice.
    pub fn measure(self) -> Result<Measured> {
        if self.bytes.len() > MAX_CHANGE_BYTES {
            bail!(
                "change of {} bytes exceeds the {} byte limit",
                self.bytes.len(),
                MAX_CHANGE_BYTES
            );
        }
        // What the change declares, read from its headers: a change that would
        // expand beyond the bounds (an operation bomb) is refused before any decoder
        // runs (`model::declared`).
        let declared = super::declared::check(&self.bytes)?;
        Ok(Measured {
            change: self,
            inflated: declared.inflated,
            declared,
        })
    }
}

/// A signed change whose sizes are within the limits (`SignedChange::measure`): safe to
/// decode.
pub struct Measured {
    change: SignedChange,
    /// Its size once inflated, in bytes.
    pub inflated: u64,
    /// What its headers declare (hash, actor, dependencies, work).
    pub declared: super::declared::Declared,
}

impl Measured {
    pub fn doc(&self) -> &DocId {
        &self.change.doc
    }

    /// Decodes the change and checks its signature and actor binding.
    pub fn verify(self) -> Result<VerifiedChange> {
        let Measured {
            change: this,
            declared,
            ..
        } = self;
        // Actor and signature first, from what the headers declare: a change nobody
        // signed costs a hash and a signature check, never a decode.
        let Some(author) = actor_node(&ActorId::from(declared.actor.as_slice())) else {
            bail!("actor id is not bound to a node key");
        };
        let declared_hash = ChangeHash(declared.hash);
        if !author.verify(&message(&this.doc, &declared_hash), &this.sig) {
            bail!(
                "bad signature by {} on change {declared_hash}",
                author.short()
            );
        }
        let bytes = this.bytes.clone();
        let change = match guard(move || Change::from_bytes(bytes)) {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => bail!("malformed change: {e}"),
            Err(()) => bail!("malformed change: the decoder gave up on it"),
        };
        let hash = change.hash();
        if hash != declared_hash || actor_node(change.actor_id()) != Some(author) {
            bail!("malformed change: its headers do not say what it holds");
        }
        let chain = ChainMeta::parse(change.message())?;
        Ok(VerifiedChange {
            signed: this,
            change,
            hash,
            author,
            facts: None,
            chain,
        })
    }
}

mod serde_bytes_vec {
    use serde::{Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = a.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_bytes(V)
    }
}

mod serde_sig {
    use serde::{Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let v = super::serde_bytes_vec::deserialize(d)?;
        v.try_into()
            .map_err(|_| serde::de::Error::custom("signature must be 64 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{Automerge, ROOT, transaction::Transactable};

    fn change_by(id: &Identity) -> Change {
        let mut doc = Automerge::new().with_actor(new_actor(&id.node_id()));
        doc.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put(ROOT, "title", "Thông báo")?;
            Ok(())
        })
        .unwrap();
        doc.get_last_local_change().unwrap()
    }

    #[test]
    fn signed_change_verifies_and_binds_author() {
        let id = Identity::generate();
        let doc = DocId::new_random(super::super::Kind::Notice);
        let mut c = change_by(&id);
        let v = SignedChange::sign(&id, &doc, &mut c).verify().unwrap();
        assert_eq!(v.author, id.node_id());
    }

    #[test]
    fn signature_does_not_transfer_to_another_doc_or_key() {
        let id = Identity::generate();
        let other = Identity::generate();
        let doc = DocId::new_random(super::super::Kind::Notice);
        let mut c = change_by(&id);
        let mut s = SignedChange::sign(&id, &doc, &mut c);
        s.doc = DocId::new_random(super::super::Kind::Notice);
        assert!(s.clone().verify().is_err());
        // A change whose actor claims `id` but signed by `other`.
        let mut c = change_by(&id);
        let forged = SignedChange::sign(&other, &doc, &mut c);
        assert!(forged.verify().is_err());
    }

    #[test]
    fn chain_links_read_back_in_both_formats_and_later_words_are_kept() {
        let doc = DocId::new_random(super::super::Kind::Notice);
        let prev = [7u8; 32];
        for m in [
            ChainMeta::for_doc(&doc, None),
            ChainMeta::for_doc(&doc, Some(prev)),
            ChainMeta {
                prev: Some(prev),
                doc: None,
            },
            ChainMeta {
                prev: None,
                doc: None,
            },
        ] {
            assert_eq!(ChainMeta::parse(Some(&m.encode())).unwrap(), Some(m));
        }
        let tag = hex::encode(doc_tag(&doc));
        let p = hex::encode(prev);
        // What a later version may add after the link: read, not refused.
        for m in [
            format!("cl/2 {tag} {p} a=0011 day=20430"),
            format!("cl/2 {tag} a=0011"),
        ] {
            let got = ChainMeta::parse(Some(&m)).unwrap().unwrap();
            assert_eq!(got.doc, Some(doc_tag(&doc)), "{m}");
        }
        // Anything else is not a chain link.
        for m in [
            format!("cl/1 {p} a=0011"),
            format!("cl/2 {tag} {p} junk"),
            format!("cl/2 {tag} {p} =x"),
            format!("cl/2 {tag} {p} A=x"),
            format!("cl/2 {tag} {p} {p}"),
            format!("cl/2 {}", &tag[..30]),
            "cl/2".to_string(),
            "cl/3".to_string(),
            format!("cl/2 {tag}  {p}"),
        ] {
            assert!(ChainMeta::parse(Some(&m)).is_err(), "{m}");
        }
        // Another document's tag is seen as such.
        assert_ne!(doc_tag(&doc), doc_tag(&DocId::roster()));
    }
}
