//! The invite format: what `roster add` prints and `join` reads (commune, role, who
//! to dial, and the official-signed roster that proves the membership offline).
//! Kept apart from the repo's logic because it is a wire format: both versions
//! (`conglang1:` JSON, `conglang2:` deflated JSON) must stay readable.

use super::*;

/// An invitation to join a commune, printed by `roster add` and read by `join`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Invite {
    pub commune_id: NodeId,
    pub commune_name: String,
    pub node: NodeId,
    pub role: Role,
    pub name: String,
    /// Who to dial first: the enrolling official's node.
    pub via: NodeId,
    /// Addresses of `via`, if its config knows them ("IP:PORT").
    #[serde(default)]
    pub addrs: Vec<String>,
    /// The official-signed roster changes that enrol this node (the whole valid
    /// roster as the official held it): the invite is a proof of membership, so the
    /// node is a member at once, offline, and can prove it to any peer.
    #[serde(default)]
    pub roster: Vec<SignedChange>,
}

pub(super) const INVITE_PREFIX: &str = "conglang1:";

/// Invites carrying the roster: deflated JSON.
pub(super) const INVITE2_PREFIX: &str = "conglang2:";

/// Largest invite accepted (the roster of a large commune fits many times over).
pub(super) const MAX_INVITE_BYTES: usize = 4 * 1024 * 1024;

impl Invite {
    pub fn encode(&self) -> String {
        use base64::Engine;
        use std::io::Write;
        let json = serde_json::to_vec(self).expect("invite serialises");
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&json).expect("in memory");
        let packed = z.finish().expect("in memory");
        format!(
            "{INVITE2_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(packed)
        )
    }
    pub fn decode(s: &str) -> Result<Invite> {
        use base64::Engine;
        use std::io::Read;
        if let Some(body) = s.trim().strip_prefix(INVITE2_PREFIX) {
            let packed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(body)
                .map_err(|_| anyhow!("the invite is damaged (not base64)"))?;
            let mut json = Vec::new();
            flate2::read::DeflateDecoder::new(&packed[..])
                .take(MAX_INVITE_BYTES as u64 + 1)
                .read_to_end(&mut json)
                .map_err(|_| anyhow!("the invite is damaged (bad compression)"))?;
            if json.len() > MAX_INVITE_BYTES {
                bail!("the invite is too large");
            }
            return serde_json::from_slice(&json)
                .map_err(|e| anyhow!("the invite is damaged: {e}"));
        }
        let body = s.trim().strip_prefix(INVITE_PREFIX).ok_or_else(|| {
            anyhow!("not a Cổng Làng invite (it must start with {INVITE_PREFIX})")
        })?;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .context("invite is damaged (bad base64)")?;
        serde_json::from_slice(&json).context("invite is damaged (bad contents)")
    }
}
