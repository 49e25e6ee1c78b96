//! Pairing by USB stick, for a village with no network to the office: the new
//! machine writes its id to the stick (`<label>.conglang-id`), the office reads it,
//! enrols the machine and writes its invite back (`<label>.conglang-invite`), and the
//! new machine joins from the stick — one touch at each end, nothing typed.
//!
//! There is no code to compare here: whoever carries the stick is trusted with it,
//! as with a bundle. The machine only joins an invite made for its own key.
//!
//! A stick is a stranger's filesystem: it may hold symlinks (ext4) that point at the
//! office's own files. Nothing here follows one: directories and files are listed by
//! their own type (a link is neither), files are opened with `O_NOFOLLOW` and read
//! up to a bound, and a file is written by removing whatever sits at its temp name
//! (a link is removed, not its target) and creating it anew (`O_EXCL`).
//!
//! Sticks are looked for where Debian mounts them (`/media/<user>/<label>`,
//! `/run/media/<user>/<label>`, `/media/<label>`, `/mnt`), or under the roots in
//! `CONGLANG_USB_ROOTS` (colon-separated; tests, unusual mounts).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};

use crate::identity::NodeId;
use crate::repo::Invite;

pub const INVITE_EXT: &str = "conglang-invite";
pub const ID_EXT: &str = "conglang-id";
/// Files larger than this are not invites (or ids): not read.
const MAX_FILE: u64 = 8 * 1024 * 1024;

static ROOTS: std::sync::Mutex<Option<Vec<PathBuf>>> = std::sync::Mutex::new(None);

/// Looks for sticks under `roots` instead (tests: a temp dir plays the stick;
/// setting an environment variable from a multi-threaded test would race).
pub fn set_roots(roots: Option<Vec<PathBuf>>) {
    if let Ok(mut r) = ROOTS.lock() {
        *r = roots;
    }
}

/// Where sticks are mounted.
fn roots() -> Vec<PathBuf> {
    if let Some(r) = ROOTS.lock().ok().and_then(|r| r.clone()) {
        return r;
    }
    match std::env::var_os("CONGLANG_USB_ROOTS") {
        Some(v) => std::env::split_paths(&v).collect(),
        None => ["/media", "/run/media", "/mnt"]
            .into_iter()
            .map(PathBuf::from)
            .collect(),
    }
}

/// Mounted directories: each root and its directories two levels down.
pub fn mounted_dirs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let subdirs = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            // The entry's own type: a link to a directory elsewhere is not a stick.
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    };
    for r in roots() {
        if !r.is_dir() {
            continue;
        }
        out.push(r.clone());
        for a in subdirs(&r) {
            out.push(a.clone());
            out.extend(subdirs(&a));
        }
    }
    out
}

fn files_with(ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in mounted_dirs() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            // `DirEntry::metadata` does not follow a link: a link is not a file here.
            let small = e.metadata().map(|m| m.is_file() && m.len() <= MAX_FILE);
            if p.extension().is_some_and(|x| x == ext) && small.unwrap_or(false) {
                out.push(p);
            }
        }
    }
    out
}

/// Reads a small regular file on a stick without following a link to it.
fn read_small(p: &Path) -> Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(p)
        .with_context(|| format!("cannot open {}", p.display()))?;
    if !f.metadata()?.is_file() {
        return Err(anyhow!("{} is not a file", p.display()));
    }
    let mut text = String::new();
    f.take(MAX_FILE + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE {
        return Err(anyhow!("{} is too large", p.display()));
    }
    Ok(text)
}

/// A name for a file: the label's letters and digits, the rest as dashes.
fn file_stem(label: &str, node: &NodeId) -> String {
    let s: String = label
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let s = s.trim_matches('-');
    let s = if s.is_empty() { "may" } else { s };
    format!("{s}-{}", &node.short()[..6])
}

/// Writes `contents` to `dir/name` through a temp file, synced: a stick pulled out
/// right after shows the whole file or none.
fn write_file(dir: &Path, name: &str, contents: &str) -> Result<PathBuf> {
    use std::io::Write;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    // Whatever the stick holds at the temp name (a link to the office's key, left
    // there on purpose) is removed, not followed; `create_new` then fails rather than
    // open anything that reappeared there.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot write to {}", dir.display())),
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("cannot write to {}", dir.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

/// The deepest mounted directory we can write to: `/media/<user>/<stick>` before
/// `/media/<stick>` before `/mnt` itself (a root writable by us is not a stick).
fn writable_dir() -> Result<PathBuf> {
    let mut dirs = mounted_dirs();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        let probe = d.join(".conglang-write-test");
        let _ = std::fs::remove_file(&probe);
        let made = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe);
        if made.is_ok() {
            let _ = std::fs::remove_file(&probe);
            return Ok(d);
        }
    }
    Err(anyhow!(
        "no USB stick found to write to (looked in {})",
        roots()
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// New machine: writes its id and label to the stick.
pub fn write_id(node: &NodeId, label: &str) -> Result<PathBuf> {
    let dir = writable_dir()?;
    write_file(
        &dir,
        &format!("{}.{ID_EXT}", file_stem(label, node)),
        &format!("{node}\n{}\n", super::clean_label(label)),
    )
}

/// A machine's id file found on a stick.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IdFile {
    pub node: NodeId,
    pub label: String,
    pub path: PathBuf,
}

/// Office: the machines' id files on the sticks (unreadable ones skipped).
pub fn find_ids() -> Vec<IdFile> {
    let mut out: Vec<IdFile> = Vec::new();
    for p in files_with(ID_EXT) {
        let Ok(text) = read_small(&p) else {
            continue;
        };
        let mut lines = text.lines();
        let Some(Ok(node)) = lines.next().map(|l| l.parse::<NodeId>()) else {
            tracing::warn!("{} is not a machine id file", p.display());
            continue;
        };
        if out.iter().any(|f| f.node == node) {
            continue;
        }
        let label = super::clean_label(lines.next().unwrap_or(""));
        out.push(IdFile {
            node,
            label,
            path: p,
        });
    }
    out
}

/// Office: writes an invite next to where the machine's id was found (or on the
/// first writable stick).
pub fn write_invite(near: Option<&Path>, label: &str, invite: &Invite) -> Result<PathBuf> {
    let dir = match near.and_then(|p| p.parent()) {
        Some(d) => d.to_path_buf(),
        None => writable_dir()?,
    };
    write_file(
        &dir,
        &format!("{}.{INVITE_EXT}", file_stem(label, &invite.node)),
        &format!("{}\n", invite.encode()),
    )
}

/// New machine: the invite made for `me` on a stick, if there is one. Invites for
/// other machines, and (when the config names one) from another commune than
/// `commune`, are left alone; damaged ones are reported in the log.
pub fn find_invite(me: &NodeId, commune: Option<&NodeId>) -> Option<(PathBuf, Invite)> {
    for p in files_with(INVITE_EXT) {
        let Ok(text) = read_small(&p) else {
            continue;
        };
        match Invite::decode(&text) {
            Ok(i) if i.node == *me => match super::check_commune(commune, &i.commune_id) {
                Ok(()) => return Some((p, i)),
                Err(e) => tracing::warn!("{}: {e}", p.display()),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!("{}: {e:#}", p.display()),
        }
    }
    None
}
