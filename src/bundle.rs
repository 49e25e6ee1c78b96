//! Bundles: the signed change stream as a file, for a USB stick when no laptop can go.
//!
//! A bundle is a header line, then the same frames the network carries (`sync::wire`),
//! each a `Changes` batch. Import verifies every change exactly like sync does, is
//! idempotent, and on a truncated or damaged file keeps every whole batch before the
//! damage and says what it skipped.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::identity::NodeId;
use crate::model::{DocId, Receipt, SignedChange};
use crate::repo::HeldVersion;
use crate::repo::Repo;
use crate::sync::wire::{self, FrameReader, Msg};

/// Format 3: frames of sync protocol 2 whose changes name their document (message
/// version 5, `model::signed::ChainMeta`) — a node of format 2 would refuse each such
/// change as malformed, so it is told at the header to update instead. Format 2 (the
/// same frames, changes in the earlier format) and format 1 (protocol 1's frames) are
/// still read.
const MAGIC: &[u8] = b"CONGLANG-BUNDLE 3\n";
const MAGIC_V2: &[u8] = b"CONGLANG-BUNDLE 2\n";
const MAGIC_V1: &[u8] = b"CONGLANG-BUNDLE 1\n";
const MAGIC_PREFIX: &[u8] = b"CONGLANG-BUNDLE ";

#[derive(Debug, Default, Serialize)]
pub struct ExportReport {
    pub changes: usize,
    pub docs: usize,
    pub bytes: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct BundleImportReport {
    pub batches: usize,
    pub accepted: usize,
    pub duplicates: usize,
    pub pending: usize,
    pub rejected: usize,
    /// What could not be read (damaged or truncated tail), in words.
    pub skipped: Vec<String>,
}

/// Writes every change this node holds, or only what `for_node` lacks according to
/// its receipt: a notice whose version there is ours (same heads) is left out; any
/// other notice, and every other document, goes whole. Decided by content, never by
/// comparing the two nodes' clocks.
///
/// Documents of kinds a later version adds (`Kind::Other`) go last, in batches of
/// their own: a version-5 node refuses such a batch and stops reading there ("damaged
/// after batch N"), having kept every batch before it — everything it can read.
pub fn export(repo: &Repo, path: &Path, for_node: Option<&NodeId>) -> Result<ExportReport> {
    let mut changes: Vec<SignedChange> = Vec::new();
    let mut docs = 0;
    let held: Option<Receipt> = match for_node {
        Some(n) => repo.receipt_of(n)?,
        None => None,
    };
    let mut heads = repo.doc_heads(0)?;
    heads.sort_by_key(|d| d.id.kind() == crate::model::Kind::Other);
    for d in heads {
        if let Some(r) = &held
            && let Some(theirs) = r.versions.get(d.id.as_str())
            && repo.notice_version(&d.id)?.compare(theirs) == HeldVersion::Latest
        {
            continue;
        }
        let c = repo.changes_missing(&d.id, &[])?;
        if !c.is_empty() {
            docs += 1;
        }
        changes.extend(c);
    }
    let tmp = path.with_extension("part");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(MAGIC)?;
    let mut bytes = MAGIC.len() as u64;
    let mut batch: Vec<SignedChange> = Vec::new();
    let mut size = 0;
    let n = changes.len();
    let mut flush = |batch: &mut Vec<SignedChange>, f: &mut std::fs::File| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let frame = wire::encode(&Msg::Changes {
            changes: std::mem::take(batch),
        });
        bytes += frame.len() as u64;
        f.write_all(&frame)?;
        Ok(())
    };
    let mut later_kinds = false;
    for c in changes {
        if !later_kinds && c.doc.kind() == crate::model::Kind::Other {
            later_kinds = true;
            flush(&mut batch, &mut f)?;
            size = 0;
        }
        size += c.bytes.len();
        batch.push(c);
        if size >= crate::sync::BATCH_BYTES * 4 || batch.len() >= 1000 {
            flush(&mut batch, &mut f)?;
            size = 0;
        }
    }
    flush(&mut batch, &mut f)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    let bytes = std::fs::metadata(path)?.len();
    Ok(ExportReport {
        changes: n,
        docs,
        bytes,
    })
}

pub fn import(repo: &mut Repo, path: &Path) -> Result<BundleImportReport> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (body, v1) = if let Some(b) = data.strip_prefix(MAGIC) {
        (b, false)
    } else if let Some(b) = data.strip_prefix(MAGIC_V2) {
        (b, false)
    } else if let Some(b) = data.strip_prefix(MAGIC_V1) {
        (b, true)
    } else if data.starts_with(MAGIC_PREFIX) {
        let line = data.split(|b| *b == b'\n').next().unwrap_or(&[]);
        bail!(
            "{} is a bundle of a newer format ({}) than this Cổng Làng reads (3): update this node",
            path.display(),
            String::from_utf8_lossy(line)
        );
    } else {
        bail!("{} is not a Cổng Làng bundle", path.display());
    };
    let mut reader = FrameReader::default();
    reader.push(body);
    let mut report = BundleImportReport::default();
    loop {
        let next = if v1 {
            reader.next_frame().and_then(|f| {
                f.map(|f| wire::decode_v1_changes(&f).map(|changes| Msg::Changes { changes }))
                    .transpose()
            })
        } else {
            reader.next_msg()
        };
        match next {
            Ok(Some(Msg::Changes { changes })) => {
                report.batches += 1;
                let r = repo.import(changes, None)?;
                report.accepted += r.accepted;
                report.duplicates += r.duplicates;
                report.pending += r.pending;
                report.rejected += r.rejected.len();
            }
            Ok(Some(_)) => {
                report
                    .skipped
                    .push(format!("batch {}: not a change batch", report.batches + 1));
                break;
            }
            Ok(None) => {
                if reader.remaining() > 0 {
                    report.skipped.push(format!(
                        "truncated: the last {} bytes are an incomplete batch",
                        reader.remaining()
                    ));
                }
                break;
            }
            Err(e) => {
                report.skipped.push(format!(
                    "damaged after batch {}: {e}; {} bytes not read",
                    report.batches,
                    reader.remaining()
                ));
                break;
            }
        }
    }
    Ok(report)
}

/// Doc ids in a bundle, for tests and `bundle inspect`-style checks.
pub fn doc_ids(path: &Path) -> Result<Vec<DocId>> {
    let data = std::fs::read(path)?;
    let body = data
        .strip_prefix(MAGIC)
        .or_else(|| data.strip_prefix(MAGIC_V2))
        .unwrap_or(&[]);
    let mut reader = FrameReader::default();
    reader.push(body);
    let mut out = Vec::new();
    while let Ok(Some(Msg::Changes { changes })) = reader.next_msg() {
        out.extend(changes.into_iter().map(|c| c.doc));
    }
    out.dedup();
    Ok(out)
}
