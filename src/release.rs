//! Software releases as signed records (issue 25, "the fleet updates itself over the
//! mesh"). No I/O but reading the machine's trusted keys.
//!
//! A release is a small record — version, architecture, size and SHA-256 of the Debian
//! package, the oldest version it upgrades from, release notes in Vietnamese, and the
//! SHA-256 of each [`CHUNK`] of the package — signed by the project's release key. The
//! public half of that key is built into the binary ([`BUILT_IN_KEY`]); the private
//! half is never in the repository. The machine's administrator (root) can trust more
//! keys by putting their hex in `/etc/conglang/release-keys/*.pub`, as apt trusts the
//! keys in `/etc/apt/trusted.gpg.d`: a test fleet's key, or the next release key before
//! a rotation. Only root-owned files that no one else can write count: whoever can
//! write there could replace the binary anyway. Tests trust a test key with [`trust`].
//!
//! The record is the first of two signatures. The second is an official's: the office
//! approves a release for its commune by writing a `release-…` document
//! (`repo::release`) whose first change holds the signed record and whose other
//! changes each hold one chunk, so the package travels as the commune's data does —
//! by sync, urgent things first and packages last, and by USB bundle — and a contact
//! cut short keeps every chunk that arrived whole. The chunk hashes are in the signed
//! record, so a node refuses a chunk that is not the release's on arrival
//! (`verdict::release`) and never forwards it.

use std::sync::RwLock;

use anyhow::{Context, Result, anyhow, bail, ensure};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One chunk of a package: one change of a release document. A batch closes once it
/// holds `sync::BATCH_BYTES` (16 KiB) of changes, so a chunk of exactly that size makes
/// every batch one chunk (~16.6 KB): the window of batches in flight holds what it
/// holds of any backlog (8 × 16 KiB on 2G), not twice that, and a storm warning waits
/// behind a package no longer than behind requests. About 1.7 s of a 2G link
/// (~10 KB/s): a contact cut short loses at most that much; the rest is kept.
pub const CHUNK: usize = 16 * 1024;
/// Chunks of one package at most (16 MiB): each is one change, and a later kind holds
/// at most `model::MAX_LATER_CHANGES` in one causal past — a chunk's past is the record.
pub const MAX_CHUNKS: usize = 1024;
/// A signed record's bytes at most (its chunk hashes are most of it).
pub const MAX_RECORD_BYTES: usize = 48 * 1024;
/// Release notes, in characters.
pub const MAX_NOTES_CHARS: usize = 4_000;
const MAX_VERSION_CHARS: usize = 40;
/// What the release key signs: this, then the record's bytes. A signature made for
/// anything else the key signs cannot pass as a release.
const DOMAIN: &[u8] = b"conglang-release-v1\0";
/// A signed record file (`*.release`) starts with this.
const MAGIC: &[u8] = b"CONGLANG-RELEASE\x01";

/// The project's release key (ed25519, public half). Its private half is kept by the
/// maintainers, off this repository.
pub const BUILT_IN_KEY: &str = "82d05c444806ca68d4199501b33ca8d9067f385cbe2616626f24abe91505e28a";

/// What a release says about its package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The package version (`Version:` of the .deb), digits and dots: `0.3.0`.
    pub version: String,
    /// The Debian architecture (`amd64`, `arm64`, …).
    pub arch: String,
    pub size: u64,
    pub sha256: [u8; 32],
    /// The oldest installed version this package upgrades (data migrations are
    /// tested from there).
    pub min_from: String,
    /// What changes, in Vietnamese, for the office's approval screen.
    pub notes: String,
    pub chunk_size: u32,
    pub chunks: Vec<[u8; 32]>,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    record: Vec<u8>,
    key: [u8; 32],
    sig: Vec<u8>,
}

/// A record whose signature was checked against a trusted key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub release: Release,
    /// The release key that signed it.
    pub key: [u8; 32],
}

impl Release {
    /// The record for `package`, chunk hashes included.
    pub fn describe(
        package: &[u8],
        version: &str,
        arch: &str,
        min_from: &str,
        notes: &str,
    ) -> Result<Release> {
        let r = Release {
            version: version.to_string(),
            arch: arch.to_string(),
            size: package.len() as u64,
            sha256: Sha256::digest(package).into(),
            min_from: min_from.to_string(),
            notes: crate::model::text::clean("notes", notes, MAX_NOTES_CHARS)?,
            chunk_size: CHUNK as u32,
            chunks: package
                .chunks(CHUNK)
                .map(|c| Sha256::digest(c).into())
                .collect(),
        };
        r.validate()?;
        Ok(r)
    }

    /// The record's own rules: every node checks them, so they bound what a record
    /// may make a node do.
    pub fn validate(&self) -> Result<()> {
        version_parts(&self.version).context("version")?;
        version_parts(&self.min_from).context("minimum version it upgrades from")?;
        ensure!(
            compare_versions(&self.min_from, &self.version) != std::cmp::Ordering::Greater,
            "upgrades from {} to the older {}",
            self.min_from,
            self.version
        );
        ensure!(
            !self.arch.is_empty()
                && self.arch.len() <= 16
                && self
                    .arch
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "architecture {:?} is not a Debian architecture name",
            self.arch
        );
        ensure!(
            self.chunk_size as usize == CHUNK,
            "chunks of {} bytes (this version reads {CHUNK})",
            self.chunk_size
        );
        ensure!(self.size > 0, "an empty package");
        let want = self.size.div_ceil(CHUNK as u64);
        ensure!(
            want <= MAX_CHUNKS as u64,
            "a package of {} bytes (at most {})",
            self.size,
            MAX_CHUNKS * CHUNK
        );
        ensure!(
            self.chunks.len() as u64 == want,
            "{} chunk hashes for {} bytes (want {want})",
            self.chunks.len(),
            self.size
        );
        ensure!(
            self.notes.chars().count() <= MAX_NOTES_CHARS,
            "release notes of {} characters (at most {MAX_NOTES_CHARS})",
            self.notes.chars().count()
        );
        Ok(())
    }

    /// The length chunk `i` must have.
    pub fn chunk_len(&self, i: usize) -> usize {
        let start = i as u64 * CHUNK as u64;
        (self.size.saturating_sub(start)).min(CHUNK as u64) as usize
    }

    /// Whether `bytes` is chunk `i` of this package.
    pub fn chunk_ok(&self, i: usize, bytes: &[u8]) -> bool {
        i < self.chunks.len()
            && bytes.len() == self.chunk_len(i)
            && <[u8; 32]>::from(Sha256::digest(bytes)) == self.chunks[i]
    }

    /// Whether `package` is this release's package, whole.
    pub fn check_package(&self, package: &[u8]) -> Result<()> {
        ensure!(
            package.len() as u64 == self.size,
            "the package has {} bytes, the release says {} (truncated or another file)",
            package.len(),
            self.size
        );
        let h: [u8; 32] = Sha256::digest(package).into();
        ensure!(
            h == self.sha256,
            "the package's SHA-256 is not the release's"
        );
        Ok(())
    }

    /// Signs the record with the release key: the bytes of a `*.release` file.
    pub fn sign(&self, key: &SigningKey) -> Result<Vec<u8>> {
        self.validate()?;
        let record = postcard::to_stdvec(self)?;
        let sig = key.sign(&[DOMAIN, &record].concat());
        let env = Envelope {
            record,
            key: key.verifying_key().to_bytes(),
            sig: sig.to_bytes().to_vec(),
        };
        let mut out = MAGIC.to_vec();
        out.extend(postcard::to_stdvec(&env)?);
        ensure!(
            out.len() <= MAX_RECORD_BYTES,
            "the signed record is {} bytes (at most {MAX_RECORD_BYTES})",
            out.len()
        );
        Ok(out)
    }
}

/// Reads a signed record and checks it: its size, a trusted key, the signature, the
/// record's own rules. The error says which failed, in English (logs, CLI).
pub fn verify(bytes: &[u8]) -> Result<Verified> {
    let v = open(bytes)?;
    ensure!(
        trusted(&v.key),
        "signed by {}, which is not a trusted release key",
        hex::encode(v.key)
    );
    Ok(v)
}

/// Whether `bytes` look like a record of the format this version reads (a later
/// format is carried as it is, not judged: `verdict::release`).
pub fn is_this_format(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Reads a signed record and checks everything but whether its key is trusted here:
/// the signature by the key it names, the record's own rules. What every node agrees
/// on, whatever keys its administrator trusts (the verdicts use this; installing and
/// approving use [`verify`]).
pub fn open(bytes: &[u8]) -> Result<Verified> {
    ensure!(
        bytes.len() <= MAX_RECORD_BYTES,
        "a release record of {} bytes (at most {MAX_RECORD_BYTES})",
        bytes.len()
    );
    let body = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| anyhow!("not a Cổng Làng release record"))?;
    let env: Envelope =
        postcard::from_bytes(body).map_err(|e| anyhow!("unreadable release record: {e}"))?;
    let vk = VerifyingKey::from_bytes(&env.key).map_err(|_| anyhow!("not a public key"))?;
    let sig = ed25519_dalek::Signature::from_slice(&env.sig)
        .map_err(|_| anyhow!("not an ed25519 signature"))?;
    vk.verify(&[DOMAIN, &env.record].concat(), &sig)
        .map_err(|_| anyhow!("the release key's signature does not match the record"))?;
    let release: Release =
        postcard::from_bytes(&env.record).map_err(|e| anyhow!("unreadable release: {e}"))?;
    release.validate()?;
    Ok(Verified {
        release,
        key: env.key,
    })
}

// ---- versions ----------------------------------------------------------------------

fn version_parts(v: &str) -> Result<Vec<u64>> {
    ensure!(
        !v.is_empty() && v.len() <= MAX_VERSION_CHARS,
        "version {v:?}: 1 to {MAX_VERSION_CHARS} characters"
    );
    v.split('.')
        .map(|p| {
            ensure!(
                !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()),
                "version {v:?}: numbers separated by dots"
            );
            Ok(p.parse()?)
        })
        .collect()
}

/// Orders two valid versions (`0.2.0` < `0.10.0`; `1.0` = `1.0.0`). An invalid one
/// sorts first, so it is never taken as newer.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let (pa, pb) = (version_parts(a).ok(), version_parts(b).ok());
    match (pa, pb) {
        (Some(mut x), Some(mut y)) => {
            let n = x.len().max(y.len());
            x.resize(n, 0);
            y.resize(n, 0);
            x.cmp(&y)
        }
        (x, y) => x.is_some().cmp(&y.is_some()),
    }
}

/// This binary's package version.
pub fn running_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// This machine's Debian architecture name.
pub fn running_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "arm" => "armhf",
        "riscv64" => "riscv64",
        other => other,
    }
}

// ---- trusted keys ------------------------------------------------------------------

/// Where root puts more trusted release keys (hex, one per `*.pub` file).
pub const KEYS_DIR: &str = "/etc/conglang/release-keys";

static EXTRA: RwLock<Option<Vec<[u8; 32]>>> = RwLock::new(None);

/// Whether `key` may sign releases here: the built-in key, a key root trusts in
/// [`KEYS_DIR`], or one a test trusted.
pub fn trusted(key: &[u8; 32]) -> bool {
    if hex::encode(key) == BUILT_IN_KEY {
        return true;
    }
    {
        let g = EXTRA.read().unwrap_or_else(|e| e.into_inner());
        if let Some(keys) = g.as_ref() {
            return keys.contains(key);
        }
    }
    let loaded = load_keys_dir(std::path::Path::new(KEYS_DIR));
    let mut g = EXTRA.write().unwrap_or_else(|e| e.into_inner());
    let keys = g.get_or_insert(loaded);
    keys.contains(key)
}

/// Trusts `key` in this process too (tests; never from user input).
pub fn trust(key: [u8; 32]) {
    let loaded = load_keys_dir(std::path::Path::new(KEYS_DIR));
    let mut g = EXTRA.write().unwrap_or_else(|e| e.into_inner());
    let keys = g.get_or_insert(loaded);
    if !keys.contains(&key) {
        keys.push(key);
    }
}

fn load_keys_dir(dir: &std::path::Path) -> Vec<[u8; 32]> {
    let mut keys = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return keys;
    };
    if !root_only(dir) {
        tracing::warn!(dir = %dir.display(), "release keys ignored: the directory is not root's alone");
        return keys;
    }
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("pub") {
            continue;
        }
        if !root_only(&p) {
            tracing::warn!(file = %p.display(), "release key ignored: the file is not root's alone");
            continue;
        }
        match std::fs::read_to_string(&p)
            .ok()
            .and_then(|s| parse_public_key(s.trim()).ok())
        {
            Some(k) => keys.push(k),
            None => tracing::warn!(file = %p.display(), "release key ignored: not 64 hex digits"),
        }
    }
    keys
}

/// Owned by root and writable by no one else.
fn root_only(p: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0)
}

pub fn parse_public_key(s: &str) -> Result<[u8; 32]> {
    let mut k = [0u8; 32];
    hex::decode_to_slice(s, &mut k).map_err(|_| anyhow!("a public key is 64 hex digits"))?;
    VerifyingKey::from_bytes(&k).map_err(|_| anyhow!("not an ed25519 public key"))?;
    Ok(k)
}

/// Reads a release signing key file (64 hex digits of the seed).
pub fn read_signing_key(path: &std::path::Path) -> Result<SigningKey> {
    let s = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the release key {}", path.display()))?;
    let mut seed = [0u8; 32];
    if hex::decode_to_slice(s.trim(), &mut seed).is_err() {
        bail!("{}: a release key file holds 64 hex digits", path.display());
    }
    Ok(SigningKey::from_bytes(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        SigningKey::from_bytes(&seed)
    }

    fn package(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn a_release_signed_by_a_trusted_key_verifies_and_names_every_chunk() {
        let k = key();
        trust(k.verifying_key().to_bytes());
        let p = package(3 * CHUNK + 100);
        let r = Release::describe(&p, "0.3.0", "amd64", "0.2.0", "Sửa lỗi").unwrap();
        assert_eq!(r.chunks.len(), 4);
        assert_eq!(r.chunk_len(3), 100);
        let v = verify(&r.sign(&k).unwrap()).unwrap();
        assert_eq!(v.release, r);
        assert!(r.chunk_ok(3, &p[3 * CHUNK..]));
        assert!(!r.chunk_ok(2, &p[3 * CHUNK..]));
        r.check_package(&p).unwrap();
        let err = r.check_package(&p[..p.len() - 1]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn a_record_signed_by_another_key_or_altered_is_refused_with_the_reason() {
        let trusted_key = key();
        trust(trusted_key.verifying_key().to_bytes());
        let p = package(CHUNK);
        let r = Release::describe(&p, "0.3.0", "amd64", "0.2.0", "").unwrap();
        let stranger = r.sign(&key()).unwrap();
        let e = verify(&stranger).unwrap_err().to_string();
        assert!(e.contains("not a trusted release key"), "{e}");
        let mut altered = r.sign(&trusted_key).unwrap();
        let n = altered.len();
        altered[n - 70] ^= 1; // inside the record, before the signature
        assert!(verify(&altered).is_err());
        assert!(verify(b"junk").is_err());
        assert!(verify(&vec![0u8; MAX_RECORD_BYTES + 1]).is_err());
    }

    #[test]
    fn versions_compare_by_number_and_bad_ones_never_count_as_newer() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("0.2.0", "0.10.0"), Less);
        assert_eq!(compare_versions("1.0", "1.0.0"), Equal);
        assert_eq!(compare_versions("x", "0.1"), Less);
        assert!(Release::describe(&package(10), "0.3.0", "amd64", "0.4.0", "").is_err());
        assert!(Release::describe(&package(10), "0.3.0-1", "amd64", "0.2.0", "").is_err());
        assert!(Release::describe(&package(10), "0.3.0", "AMD64", "0.2.0", "").is_err());
    }
}
