//! Session nonces a node can tell for its own later, without remembering them.
//!
//! A `Hello`'s fingerprints are keyed by its sender's nonce. A member that kept our
//! `Hello` of an earlier session and plays it back in a new one sends our own set's
//! fingerprint under a nonce we chose: compared with our set, it matches, and the
//! session would say "Synced" with a peer that holds nothing (issue 21 review). The
//! shell makes every session's nonce with `own_nonce` and has the session refuse any
//! `Hello` whose nonce `is_own_nonce` recognises (`Session::recognise_own_nonces`);
//! the nonce stays 16 bytes on the wire, so older peers see no difference.

/// A session nonce this node can later tell for its own without remembering it:
/// eight random bytes, then the first eight of SHA-256(`key` ‖ those bytes). `key` is
/// the node's secret nonce key (`Identity::nonce_key`). A peer's random nonce passes
/// for ours with probability 2⁻⁶⁴; the nonce stays 16 bytes on the wire.
pub fn own_nonce(key: &[u8; 32], random: [u8; 8]) -> [u8; 16] {
    let mut n = [0u8; 16];
    n[..8].copy_from_slice(&random);
    n[8..].copy_from_slice(&nonce_tag(key, &random));
    n
}

/// Whether `nonce` was made by `own_nonce` with `key`.
pub fn is_own_nonce(key: &[u8; 32], nonce: &[u8; 16]) -> bool {
    let random: [u8; 8] = nonce[..8].try_into().expect("8 bytes");
    nonce[8..] == nonce_tag(key, &random)
}

fn nonce_tag(key: &[u8; 32], random: &[u8; 8]) -> [u8; 8] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"conglang session nonce v1");
    h.update(key);
    h.update(random);
    h.finalize()[..8].try_into().expect("8 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_knows_its_own_nonces_and_no_one_elses() {
        let key = [7u8; 32];
        let mine = own_nonce(&key, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(is_own_nonce(&key, &mine));
        assert!(!is_own_nonce(&[8u8; 32], &mine), "another node's key");
        let mut flipped = mine;
        flipped[3] ^= 1;
        assert!(!is_own_nonce(&key, &flipped), "a changed random part");
        assert!(!is_own_nonce(&key, &[0u8; 16]), "a peer's zero nonce");
    }
}
