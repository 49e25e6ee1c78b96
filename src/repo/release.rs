//! Software releases the office approved (issue 25): the approval written with the
//! package's chunks, what this node holds of each release, and a complete package,
//! checked again, put where the installer takes it (`<data>/updates/`).
//!
//! An approval is a `release-…` document (`verdict::release` has its rules): its first
//! change holds the release key's signed record, the roles it is for and when it was
//! approved; each other change holds one chunk of the package and builds on the first
//! change alone, so every chunk is readable the moment it arrives, whatever else a
//! short contact brought.

use super::*;
use crate::release::{self as rel, CHUNK, Release};
use crate::verdict::release as vrel;
use automerge::ReadDoc;
use automerge::ScalarValue;
use automerge::transaction::Transactable;

/// One approved release as this node holds it (also its document's cached view).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseView {
    pub id: DocId,
    pub release: Release,
    pub approved_by: Option<NodeId>,
    /// The release key that signed the record (trusted here or not: `stage_verdict`).
    pub key: [u8; 32],
    /// Seconds since the epoch.
    pub approved_at: i64,
    pub roles: Vec<Role>,
    pub withdrawn: bool,
    /// Chunks held, of `release.chunks.len()`.
    pub chunks_held: usize,
}

impl ReleaseView {
    pub fn complete(&self) -> bool {
        self.chunks_held == self.release.chunks.len()
    }
    pub fn is_for(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Why a held release is not put where the installer takes it (logged, and shown on
/// the office's update screen).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotStaged {
    Withdrawn,
    Incomplete {
        held: usize,
        of: usize,
    },
    NotForRole,
    OtherArch(String),
    NotNewer,
    TooOld {
        min_from: String,
    },
    /// Signed by a release key this machine does not trust.
    Untrusted,
    /// The installer refused this version or rolled it back here: never staged again.
    RolledBack,
    Damaged(String),
}

impl std::fmt::Display for NotStaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotStaged::Withdrawn => write!(f, "the approval was withdrawn"),
            NotStaged::Untrusted => {
                write!(f, "signed by a release key this machine does not trust")
            }
            NotStaged::Incomplete { held, of } => write!(f, "{held} of {of} chunks held"),
            NotStaged::NotForRole => write!(f, "approved for other roles than this node's"),
            NotStaged::OtherArch(a) => write!(
                f,
                "a package for {a}, this machine is {}",
                rel::running_arch()
            ),
            NotStaged::NotNewer => write!(f, "not newer than the running version"),
            NotStaged::TooOld { min_from } => write!(
                f,
                "upgrades from {min_from} or newer, this node runs {}",
                rel::running_version()
            ),
            NotStaged::Damaged(why) => write!(f, "package damaged: {why}"),
            NotStaged::RolledBack => write!(
                f,
                "the installer refused it or rolled it back here: not installed again"
            ),
        }
    }
}

/// A package put where the installer takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staged {
    pub id: DocId,
    pub version: String,
    pub path: PathBuf,
}

/// The directory under the data directory where checked packages wait for the
/// installer (ARCHITECTURE.md, "Releases").
pub const UPDATES_DIR: &str = "updates";

impl Repo {
    /// Approves a signed release for this commune: writes the approval and the
    /// package's chunks. Refused unless this node is an official, the record is signed
    /// by a trusted release key and `package` is the record's package, whole.
    pub fn approve_release(
        &mut self,
        record: &[u8],
        package: &[u8],
        roles: &[Role],
    ) -> Result<DocId> {
        self.require_role(&[Role::Official], "approve software updates")?;
        let v = rel::verify(record)?;
        v.release.check_package(package)?;
        let roles_s = roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        vrel::parse_roles(&roles_s).ok_or_else(|| anyhow!("approve it for at least one role"))?;
        if let Some(held) = self
            .releases()?
            .into_iter()
            .find(|r| r.release == v.release && r.key == v.key && !r.withdrawn)
        {
            // Approved already (here, or by another official): nothing new, but the
            // chunks this node lacks (an approval cut short) are written into it.
            return self.write_chunks(&held.id, package).map(|()| held.id);
        }
        let id = DocId::new_later(vrel::PREFIX, &self.node_id());
        let me = self.node_id();
        let now = text::now();
        self.edit(&id, |tx| {
            tx.put(automerge::ROOT, "kind", vrel::PREFIX)?;
            tx.put(automerge::ROOT, "created_by", me.to_string())?;
            tx.put(
                automerge::ROOT,
                "record",
                ScalarValue::Bytes(record.to_vec()),
            )?;
            tx.put(automerge::ROOT, "roles", roles_s.as_str())?;
            tx.put(automerge::ROOT, "approved_at", ScalarValue::Timestamp(now))?;
            Ok(())
        })?;
        self.write_chunks(&id, package)?;
        tracing::info!(release = %id, version = %v.release.version, "release approved");
        Ok(id)
    }

    /// The document `id` at its creating change, when that was made, and its fields.
    fn release_base(&self, id: &DocId) -> Result<(Automerge, i64, BTreeSet<String>)> {
        let db = self.store.read();
        let (doc, _) = load_doc(db, id)?;
        let creation = doc
            .get_changes(&[])
            .into_iter()
            .find(|c| c.deps().is_empty())
            .map(|c| (c.hash(), c.timestamp()))
            .ok_or_else(|| anyhow!("release {id} has no creating change"))?;
        let base = doc.fork_at(&[creation.0])?;
        let fields = doc.keys(automerge::ROOT).collect();
        Ok((base, creation.1, fields))
    }

    /// Writes the chunks of `id` this node does not hold, each on the record alone, a
    /// second after it (so they are sent after it).
    fn write_chunks(&mut self, id: &DocId, package: &[u8]) -> Result<()> {
        let (base, time, held) = self.release_base(id)?;
        let time = time + 1;
        let ctx = self.edit_ctx()?;
        for (i, chunk) in package.chunks(CHUNK).enumerate() {
            let field = format!("c{i}");
            if held.contains(&field) {
                continue;
            }
            let report = self.store.write(|db| {
                ctx.edit_in_at(db, id, Some((&base, time)), |tx| {
                    tx.put(
                        automerge::ROOT,
                        field.as_str(),
                        ScalarValue::Bytes(chunk.to_vec()),
                    )
                })
            })?;
            self.reissue(report.reissue)?;
        }
        Ok(())
    }

    /// Withdraws an approval: nodes that have not installed it yet never will. The
    /// withdrawal builds on the record alone, at the record's own time, so it travels
    /// with the record, ahead of the chunks (a node that got the whole package in one
    /// contact never misses it for lack of the last chunk).
    pub fn withdraw_release(&mut self, id: &DocId) -> Result<()> {
        self.require_role(&[Role::Official], "withdraw software updates")?;
        ensure_release(id)?;
        let (base, time, _) = self.release_base(id)?;
        let ctx = self.edit_ctx()?;
        let report = self.store.write(|db| {
            ctx.edit_in_at(db, id, Some((&base, time)), |tx| {
                tx.put(automerge::ROOT, "withdrawn", true)
            })
        })?;
        self.reissue(report.reissue)
    }

    /// Every approved release held, newest version first. Read from the documents'
    /// cached views (a package is megabytes); a document cached before this version
    /// read releases (a courier that carried one as a later kind) is read whole.
    pub fn releases(&self) -> Result<Vec<ReleaseView>> {
        let db = self.store.read();
        let mut out: Vec<ReleaseView> = Vec::new();
        let mut stale = Vec::new();
        for id in db.later_docs(vrel::PREFIX)? {
            let cached = db
                .doc(&id)?
                .and_then(|r| serde_json::from_str::<ReleaseView>(&r.view).ok());
            let v = match cached {
                Some(v) => Some(v),
                None => {
                    let (doc, _) = load_doc(db, &id)?;
                    let v = view_of(&id, &doc);
                    if v.is_some() {
                        stale.push((id.clone(), row_view(&id, &doc)));
                    }
                    v
                }
            };
            out.extend(v);
        }
        // Read whole once: the view is written back, so the next read is cheap.
        // (One statement each, outside any transaction: this is a read path.)
        for (id, (view, _, sort_at, _)) in &stale {
            db.set_doc_view(id, view, *sort_at)?;
        }
        // One approval withdrawn withdraws the release for every approval of it (two
        // officials may have approved the same record).
        let withdrawn: Vec<(Release, [u8; 32])> = out
            .iter()
            .filter(|r| r.withdrawn)
            .map(|r| (r.release.clone(), r.key))
            .collect();
        for r in &mut out {
            r.withdrawn |= withdrawn
                .iter()
                .any(|(w, k)| *w == r.release && *k == r.key);
        }
        out.sort_by(|a, b| {
            rel::compare_versions(&b.release.version, &a.release.version)
                .then(b.approved_at.cmp(&a.approved_at))
        });
        Ok(out)
    }

    /// The package of release `id`, whole and checked against its record again.
    pub fn release_package(&self, id: &DocId) -> Result<Vec<u8>> {
        self.release_files(id).map(|(package, _)| package)
    }

    /// The package of release `id` and its signed record, from one read of the
    /// document, the package checked against the record again.
    fn release_files(&self, id: &DocId) -> Result<(Vec<u8>, Vec<u8>)> {
        ensure_release(id)?;
        let (doc, _) = load_doc(self.store.read(), id)?;
        let view = view_of(id, &doc).ok_or_else(|| anyhow!("no approved release {id} here"))?;
        let mut package = Vec::with_capacity(view.release.size as usize);
        for i in 0..view.release.chunks.len() {
            let c = schema::get_bytes(&doc, &automerge::ROOT, &format!("c{i}"))
                .ok_or_else(|| anyhow!("chunk {i} of {id} is not held yet"))?;
            package.extend_from_slice(&c);
        }
        view.release.check_package(&package)?;
        let record = schema::get_bytes(&doc, &automerge::ROOT, "record")
            .ok_or_else(|| anyhow!("release {id} lost its record"))?;
        Ok((package, record))
    }

    /// What this node would do with each release it holds: put it where the
    /// installer takes it, or not, and why.
    pub fn release_plan(&self) -> Result<Vec<(ReleaseView, Result<(), NotStaged>)>> {
        let role = self.my_role()?;
        let installer = self.update_state();
        let failed = self.update_failed();
        Ok(self
            .releases()?
            .into_iter()
            .map(|r| {
                let name = package_name(&r.release);
                // Refused by the installer: the same package is not staged again.
                let refused = installer.as_ref().is_some_and(|u| {
                    u.state == "refused" && upstream(&u.version) == r.release.version
                });
                // The installer's word on what is installed: the package's version,
                // which a binary rebuilt with the same code does not know.
                let installed = installer.as_ref().is_some_and(|u| {
                    u.state == "installed"
                        && rel::compare_versions(upstream(&u.version), &r.release.version)
                            != std::cmp::Ordering::Less
                });
                let verdict = if failed.contains(&name) || refused {
                    Err(NotStaged::RolledBack)
                } else if installed {
                    Err(NotStaged::NotNewer)
                } else {
                    stage_verdict(&r, role)
                };
                (r, verdict)
            })
            .collect())
    }

    /// Puts each complete release meant for this node into `<data>/updates/` (the
    /// package and its signed record, written whole then renamed), checked again.
    /// Only the newest such release; one already there is left as it is.
    pub fn stage_releases(&self) -> Result<Vec<Staged>> {
        let dir = self.data_dir().join(UPDATES_DIR);
        let mut out = Vec::new();
        let plan = self.release_plan()?;
        // What may stay: the newest release to install and the technician's folder.
        let keep: Option<String> = plan
            .iter()
            .find(|(_, v)| v.is_ok())
            .map(|(r, _)| package_name(&r.release));
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let p = e.path();
                let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                let ours = stem.starts_with("conglang_")
                    && p.extension()
                        .is_some_and(|x| x == "deb" || x == "release" || x == "part");
                if ours && keep.as_deref() != Some(stem) {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
        for (r, verdict) in plan {
            match verdict {
                Err(
                    NotStaged::Incomplete { .. }
                    | NotStaged::NotNewer
                    | NotStaged::NotForRole
                    | NotStaged::Withdrawn
                    | NotStaged::RolledBack,
                ) => continue,
                // What an installer asks about: for this node, and still never installed.
                Err(why) => {
                    tracing::info!(release = %r.id, version = %r.release.version, "release not installed here: {why}");
                    continue;
                }
                Ok(()) => {}
            }
            let name = package_name(&r.release);
            let deb = dir.join(format!("{name}.deb"));
            let rec_path = dir.join(format!("{name}.release"));
            // Staged already, and still the package (a cut write, or someone's edit,
            // is written again).
            if rec_path.exists()
                && std::fs::read(&deb).is_ok_and(|b| r.release.check_package(&b).is_ok())
            {
                break;
            }
            let (package, record) = match self.release_files(&r.id) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(release = %r.id, "release not installed here: {e:#}");
                    continue;
                }
            };
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot make {}", dir.display()))?;
            write_whole(&rec_path, &record)?;
            write_whole(&deb, &package)?;
            tracing::info!(release = %r.id, version = %r.release.version, path = %deb.display(), "release ready to install");
            out.push(Staged {
                id: r.id.clone(),
                version: r.release.version.clone(),
                path: deb,
            });
            break;
        }
        Ok(out)
    }
}

/// The upstream part of a Debian version (`0.3.0-1` → `0.3.0`).
fn upstream(v: &str) -> &str {
    v.rsplit_once('-').map_or(v, |(u, _)| u)
}

/// The file name (without extension) a release is staged under.
pub fn package_name(r: &Release) -> String {
    format!("conglang_{}_{}", r.version, r.arch)
}

fn ensure_release(id: &DocId) -> Result<()> {
    if !vrel::is_release(id) {
        bail!("{id} is not a release");
    }
    Ok(())
}

/// Whether `r` goes to the installer on a node of role `role` running this binary.
pub fn stage_verdict(r: &ReleaseView, role: Option<Role>) -> Result<(), NotStaged> {
    if r.withdrawn {
        return Err(NotStaged::Withdrawn);
    }
    if !rel::trusted(&r.key) {
        return Err(NotStaged::Untrusted);
    }
    if !role.is_some_and(|role| r.is_for(role)) {
        return Err(NotStaged::NotForRole);
    }
    if r.release.arch != rel::running_arch() {
        return Err(NotStaged::OtherArch(r.release.arch.clone()));
    }
    if rel::compare_versions(&r.release.version, rel::running_version())
        != std::cmp::Ordering::Greater
    {
        return Err(NotStaged::NotNewer);
    }
    if rel::compare_versions(&r.release.min_from, rel::running_version())
        == std::cmp::Ordering::Greater
    {
        return Err(NotStaged::TooOld {
            min_from: r.release.min_from.clone(),
        });
    }
    if !r.complete() {
        return Err(NotStaged::Incomplete {
            held: r.chunks_held,
            of: r.release.chunks.len(),
        });
    }
    Ok(())
}

/// The cache row's view of a release document (`docs::build_row_keys`): the
/// release as read, sorted by when it was approved.
pub(super) fn row_view(id: &DocId, doc: &Automerge) -> (String, Option<String>, i64, bool) {
    match view_of(id, doc) {
        Some(v) => (
            serde_json::to_string(&v).unwrap_or_else(|_| "{}".into()),
            None,
            v.approved_at,
            false,
        ),
        None => ("{}".into(), None, 0, false),
    }
}

fn view_of(id: &DocId, doc: &Automerge) -> Option<ReleaseView> {
    let record = schema::get_bytes(doc, &automerge::ROOT, "record")?;
    // Signed by the key it names (checked on arrival); whether that key is trusted
    // here is asked where it matters (`stage_verdict`, the screens).
    let v = rel::open(&record).ok()?;
    let chunks_held = doc
        .keys(automerge::ROOT)
        .filter(|k| vrel::chunk_index(k).is_some_and(|i| i < v.release.chunks.len()))
        .count();
    let approved_at = match doc.get(automerge::ROOT, "approved_at").ok().flatten() {
        Some((automerge::Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Timestamp(t) | ScalarValue::Int(t) => *t,
            _ => 0,
        },
        _ => 0,
    };
    Some(ReleaseView {
        id: id.clone(),
        approved_by: schema::get_str(doc, &automerge::ROOT, "created_by")
            .and_then(|s| s.parse().ok()),
        approved_at,
        roles: schema::get_str(doc, &automerge::ROOT, "roles")
            .and_then(|s| vrel::parse_roles(&s))
            .unwrap_or_default(),
        withdrawn: matches!(
            doc.get(automerge::ROOT, "withdrawn").ok().flatten(),
            Some((automerge::Value::Scalar(s), _)) if matches!(s.as_ref(), ScalarValue::Boolean(true))
        ),
        chunks_held,
        release: v.release,
        key: v.key,
    })
}

/// Writes `bytes` to `path` whole: a temporary file beside it, synced, then renamed, so
/// the installer never sees half a package after a power cut.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("part");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

// ---- what the root installer and the node tell each other ---------------------------
//
// Small files in the data directory (ARCHITECTURE.md, "Releases"): the node writes
// `running` (it is up, since when) and `activity` (someone touched the screen); the
// installer (`debian/conglang-update`, root) writes `update-state` (what it did last)
// and `update-failed` (the packages it rolled back, never staged again). The installer
// writes nothing under `updates/`: the node keeps that directory tidy.

/// Written by the node every 10 s it runs: `boot=` (this boot's id), `started_up=` and
/// `up=` (seconds since boot when the node started, and now), `started_at=`, `at=`.
pub const RUNNING_FILE: &str = "running";
/// Touched by the app when someone uses the screen (at most twice a minute).
pub const ACTIVITY_FILE: &str = "activity";
/// Written by the installer: `state=`, `version=`, `at=`, `reason=` lines.
pub const UPDATE_STATE_FILE: &str = "update-state";
/// Written by the installer: the packages it rolled back, one name per line.
pub const UPDATE_FAILED_FILE: &str = "update-failed";

/// What the installer did last on this machine, as it wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateState {
    /// `trying`, `installed`, `rolled_back` or `refused`.
    pub state: String,
    pub version: String,
    pub at: i64,
    pub reason: String,
}

impl UpdateState {
    pub fn parse(s: &str) -> UpdateState {
        let mut u = UpdateState::default();
        for line in s.lines().take(16) {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v: String = v.chars().take(200).collect();
            match k {
                "state" => u.state = v,
                "version" => u.version = v,
                "at" => u.at = v.parse().unwrap_or(0),
                "reason" => u.reason = v,
                _ => {}
            }
        }
        u
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Repo {
    /// Says that this node is up (the installer's health check): the machine's own
    /// clock, as the installer reads it.
    pub fn note_running(&self, running_for: std::time::Duration) -> Result<()> {
        // Every few seconds: written then renamed, not synced (after a power cut the
        // node starts again and says so; an SD card is spared a flush per note). The
        // installer reads the boot and the seconds since it (`started_up`, `up`): a
        // wall clock set back during an update must not decide it. `started_at` and
        // `at` are for people.
        let up = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| {
                s.split('.')
                    .next()
                    .and_then(|n| n.trim().parse::<u64>().ok())
            })
            .unwrap_or(0);
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .unwrap_or_default()
            .trim()
            .to_string();
        let now = unix_now();
        let path = self.data_dir().join(RUNNING_FILE);
        let tmp = path.with_extension("part");
        let text = format!(
            "boot={boot}\nstarted_up={}\nup={up}\nstarted_at={}\nat={now}\n",
            up.saturating_sub(running_for.as_secs()),
            now - running_for.as_secs() as i64,
        );
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Says that someone is using the screen: no update is installed under them.
    pub fn note_activity(&self) -> Result<()> {
        write_whole(
            &self.data_dir().join(ACTIVITY_FILE),
            format!("at={}\n", unix_now()).as_bytes(),
        )
    }

    /// Where this node is with the newest update meant for it, for its health
    /// report: what the installer did with it, else how much of it is here.
    pub fn update_report(&self) -> Result<Option<crate::model::health::UpdateReport>> {
        use crate::model::health::UpdateReport;
        let installer = self.update_state().filter(|u| !u.state.is_empty());
        let mut pending = None;
        for (r, verdict) in self.release_plan()? {
            let state = match verdict {
                Ok(()) => "ready",
                Err(NotStaged::Incomplete { .. }) => "waiting",
                Err(_) => continue,
            };
            pending = Some(UpdateReport {
                state: state.into(),
                version: r.release.version.clone(),
                at: r.approved_at,
                held: r.chunks_held as u32,
                of: r.release.chunks.len() as u32,
            });
            break;
        }
        // The installer's word wins for the version it handled (and anything older).
        Ok(match (installer, pending) {
            (Some(i), p)
                if p.as_ref().is_none_or(|p| {
                    rel::compare_versions(&p.version, upstream(&i.version))
                        != std::cmp::Ordering::Greater
                }) =>
            {
                Some(UpdateReport {
                    state: i.state,
                    version: i.version,
                    at: i.at,
                    held: 0,
                    of: 0,
                })
            }
            (_, p) => p,
        })
    }

    /// The packages the installer rolled back here (their file names, no extension).
    pub fn update_failed(&self) -> BTreeSet<String> {
        std::fs::read_to_string(self.data_dir().join(UPDATE_FAILED_FILE))
            .unwrap_or_default()
            .lines()
            .take(1000)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// What the installer last did here, if it did anything.
    pub fn update_state(&self) -> Option<UpdateState> {
        let s = std::fs::read_to_string(self.data_dir().join(UPDATE_STATE_FILE)).ok()?;
        Some(UpdateState::parse(&s))
    }

    /// Whether this node holds an approval of exactly `record` that is meant for it:
    /// by an official, not withdrawn, for its role, architecture and version. The
    /// installer asks this before it installs (the release key it checks itself).
    ///
    /// The outer error is a failure to read (the store busy, unreadable): the
    /// installer asks again later. The inner one is the answer "no".
    pub fn approved_for_me(&self, record: &[u8]) -> Result<Result<ReleaseView>> {
        let v = match rel::verify(record) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let role = self.my_role()?;
        let mut why = None;
        for id in self.store.read().later_docs(vrel::PREFIX)? {
            let (doc, _) = load_doc(self.store.read(), &id)?;
            if schema::get_bytes(&doc, &automerge::ROOT, "record").as_deref() != Some(record) {
                continue;
            }
            let Some(view) = view_of(&id, &doc) else {
                continue;
            };
            match stage_verdict(&view, role) {
                Ok(()) => return Ok(Ok(view)),
                Err(e) => why = Some(e),
            }
        }
        Ok(Err(match why {
            Some(e) => anyhow!("release {} is not for this node: {e}", v.release.version),
            None => anyhow!(
                "release {} was not approved by an official of this commune",
                v.release.version
            ),
        }))
    }
}
