//! Node identity: one ed25519 key per node, kept in the data dir.
//!
//! The same 32-byte secret is what iroh uses as the endpoint key (see `net`), so
//! "the peer on this QUIC connection" and "the author of this change" are the same
//! notion. Every Automerge change this node makes carries an actor id that starts
//! with the public key, and is signed with the secret key; see `model::signed`.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// File name of the node key inside the data dir.
pub const KEY_FILE: &str = "node.key";

/// A node's public key, printed as 64 lowercase hex characters (iroh prints the same).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn from_slice(b: &[u8]) -> Option<NodeId> {
        Some(NodeId(b.try_into().ok()?))
    }
    /// First 10 hex characters, for logs and tables.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..5])
    }
    /// Checks `sig` over `msg` with this key. Also rejects keys that are not valid
    /// curve points, so a random 32-byte "author" never verifies.
    pub fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        let Some(key) = verifying_key(&self.0) else {
            return false;
        };
        key.verify(msg, &Signature::from_bytes(sig)).is_ok()
    }
}

/// Keys decompressed once per process. Decompressing a curve point costs about a fifth
/// of a signature check, and an import checks the same few dozen members' keys tens of
/// thousands of times (every signature, every `created_by` read). Bounded: a flood of
/// strangers' keys only empties the cache, it cannot grow it. 1,024 keys (a commune
/// has dozens of devices): an entry is 224 bytes, so the table's one growth past 896
/// keys allocates 0.46 MB. At 4,096 keys that growth was 1.84 MB, charged by the
/// fuzzers' cost oracle to whichever input brought the 3,585th key (twice found in
/// `wire_decode`, never when the input was run alone).
fn verifying_key(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    use std::collections::HashMap;
    use std::sync::{LazyLock, RwLock};
    const MAX_KEYS: usize = 1024;
    static KEYS: LazyLock<RwLock<HashMap<[u8; 32], VerifyingKey>>> =
        LazyLock::new(|| RwLock::new(HashMap::new()));
    if let Ok(keys) = KEYS.read()
        && let Some(k) = keys.get(bytes)
    {
        return Some(*k);
    }
    // Invalid points are not cached: they are refused anyway, and caching them would
    // let anyone fill the cache.
    let key = VerifyingKey::from_bytes(bytes).ok()?;
    if let Ok(mut keys) = KEYS.write() {
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(*bytes, key);
    }
    Some(key)
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.short())
    }
}

impl FromStr for NodeId {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let bytes = hex::decode(s).with_context(|| format!("node id {s:?} is not hex"))?;
        let Some(id) = NodeId::from_slice(&bytes) else {
            bail!(
                "node id must be 64 hex characters (32 bytes), got {}",
                s.len()
            );
        };
        if verifying_key(&id.0).is_none() {
            bail!("node id {s} is not a valid ed25519 public key");
        }
        Ok(id)
    }
}

impl Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The node's secret key.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.node_id().short())
    }
}

impl Identity {
    pub fn from_secret(bytes: [u8; 32]) -> Identity {
        Identity {
            key: SigningKey::from_bytes(&bytes),
        }
    }

    pub fn generate() -> Identity {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Identity::from_secret(bytes)
    }

    /// Loads `DIR/node.key`, creating it (mode 0600, written atomically) if missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Identity> {
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .with_context(|| format!("{} is not a hex key", path.display()))?;
                let arr: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("{} must hold 32 bytes", path.display()))?;
                Ok(Identity::from_secret(arr))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
                let id = Identity::generate();
                write_private(&path, hex::encode(id.secret_bytes()).as_bytes())?;
                Ok(id)
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn node_id(&self) -> NodeId {
        NodeId(self.key.verifying_key().to_bytes())
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    /// The secret that marks this node's session nonces (`sync::own_nonce`): a hash
    /// of a signature over a fixed text (ed25519 signs deterministically), so it is
    /// the same after a restart and known to nobody without the key.
    pub fn nonce_key(&self) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(self.sign(b"conglang session nonce key v1")).into()
    }
}

/// Writes a file readable only by its owner, via a temp file + rename so a power cut
/// leaves either no key or the whole key, never half of one.
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}
