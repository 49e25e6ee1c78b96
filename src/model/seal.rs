//! Sealed personal data: a resident's phone number, readable only by officials.
//!
//! The kiosk encrypts the contact once under a fresh key, then wraps that key for each
//! official in the roster using X25519 with the official's node key (ed25519 keys
//! convert to X25519). The document, the change log and every node that relays it
//! hold only ciphertext; kiosks and couriers cannot open it. An official enrolled
//! after the request was sent cannot read it either: the kiosk did not know them.

use anyhow::{Result, anyhow, bail};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::{Identity, NodeId};

/// Most officials a contact is sealed to (bounds the size of a request).
pub const MAX_RECIPIENTS: usize = 32;

#[derive(Serialize, Deserialize)]
struct Sealed {
    eph: [u8; 32],
    /// (recipient node id, content key encrypted for them)
    keys: Vec<(NodeId, Vec<u8>)>,
    body: Vec<u8>,
}

fn wrap_key(shared: &MontgomeryPoint, eph: &[u8; 32], recipient: &NodeId) -> Key {
    let mut h = Sha256::new();
    h.update(b"conglang/seal/1");
    h.update(shared.as_bytes());
    h.update(eph);
    h.update(recipient.as_bytes());
    let out: [u8; 32] = h.finalize().into();
    Key::from(out)
}

/// Encrypts `plain` so that only `recipients` can read it.
pub fn seal(plain: &str, recipients: &[NodeId]) -> Result<Vec<u8>> {
    if recipients.is_empty() {
        bail!("no official to seal the contact to");
    }
    let mut eph_secret = [0u8; 32];
    rand::fill(&mut eph_secret);
    let eph = MontgomeryPoint::mul_base_clamped(eph_secret).to_bytes();
    let mut content = [0u8; 32];
    rand::fill(&mut content);
    // Each key is used for exactly one message, so a zero nonce is safe.
    let nonce = Nonce::default();
    let body = ChaCha20Poly1305::new(&Key::from(content))
        .encrypt(&nonce, plain.as_bytes())
        .map_err(|_| anyhow!("encryption failed"))?;
    let mut keys = Vec::new();
    for r in recipients.iter().take(MAX_RECIPIENTS) {
        let vk = VerifyingKey::from_bytes(r.as_bytes())?;
        let shared = vk.to_montgomery().mul_clamped(eph_secret);
        let wrapped = ChaCha20Poly1305::new(&wrap_key(&shared, &eph, r))
            .encrypt(&nonce, &content[..])
            .map_err(|_| anyhow!("encryption failed"))?;
        keys.push((*r, wrapped));
    }
    Ok(postcard::to_stdvec(&Sealed { eph, keys, body })?)
}

/// Opens a sealed contact with this node's key, if it was sealed to this node.
pub fn open(identity: &Identity, sealed: &[u8]) -> Option<String> {
    let s: Sealed = postcard::from_bytes(sealed).ok()?;
    let me = identity.node_id();
    let (_, wrapped) = s.keys.iter().find(|(r, _)| *r == me)?;
    let sk = SigningKey::from_bytes(&identity.secret_bytes());
    let shared = MontgomeryPoint(s.eph).mul_clamped(sk.to_scalar_bytes());
    let nonce = Nonce::default();
    let content = ChaCha20Poly1305::new(&wrap_key(&shared, &s.eph, &me))
        .decrypt(&nonce, wrapped.as_slice())
        .ok()?;
    let content: [u8; 32] = content.try_into().ok()?;
    let plain = ChaCha20Poly1305::new(&Key::from(content))
        .decrypt(&nonce, s.body.as_slice())
        .ok()?;
    String::from_utf8(plain).ok()
}

/// What a kiosk, a courier or the CLI on them shows instead of a sealed contact.
pub const MASKED: &str = "•••• ••• •••";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_recipients_can_open() {
        let off = Identity::generate();
        let off2 = Identity::generate();
        let kiosk = Identity::generate();
        let s = seal("0912 345 678", &[off.node_id(), off2.node_id()]).unwrap();
        assert_eq!(open(&off, &s).as_deref(), Some("0912 345 678"));
        assert_eq!(open(&off2, &s).as_deref(), Some("0912 345 678"));
        assert_eq!(open(&kiosk, &s), None);
        assert!(!s.windows(4).any(|w| w == b"0912"));
    }
}
