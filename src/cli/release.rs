//! `conglang release …`: the release builder signs a package (`keygen`, `sign`); an
//! official checks and approves one for the commune (`show`, `approve`, `withdraw`);
//! anyone lists what this node holds and stages (`list`). See ARCHITECTURE.md,
//! "Releases", and README.Debian for the steps.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use crate::model::{DocId, Role};
use crate::release::{self as rel, Release};
use crate::repo::Repo;

#[derive(Subcommand, Debug)]
pub enum ReleaseCmd {
    /// Make a release signing key (for the release builder; keep it off any node).
    Keygen {
        /// Where to write the private key (64 hex digits, mode 0600).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a package: writes the release record (`<package>.release` by default).
    Sign {
        /// The release signing key (from `release keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The Debian package to sign.
        #[arg(long)]
        package: PathBuf,
        /// The package's version, digits and dots (as in its `Version:`).
        #[arg(long)]
        version: String,
        /// The package's Debian architecture.
        #[arg(long, default_value = rel::running_arch())]
        arch: String,
        /// The oldest installed version this package upgrades.
        #[arg(long)]
        min_from: String,
        /// A file holding the release notes, in Vietnamese.
        #[arg(long)]
        notes: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a release record (and its package) and say what it is.
    Show {
        record: PathBuf,
        #[arg(long)]
        package: Option<PathBuf>,
    },
    /// Approve a signed release for this commune (officials): it then travels to
    /// the devices of the roles named, which install it.
    Approve {
        record: PathBuf,
        #[arg(long)]
        package: PathBuf,
        /// Roles whose devices install it (comma-separated).
        #[arg(long, default_value = "kiosk,courier,official", value_delimiter = ',')]
        r#for: Vec<Role>,
    },
    /// Exit 0 if this node holds an official's approval of exactly this record, meant
    /// for it; exit 2 if not (the installer asks before it installs; it checks the
    /// release key itself). `-` reads the record from stdin.
    Check { record: PathBuf },
    /// Withdraw an approval (officials): devices that have not installed it never will.
    Withdraw { id: DocId },
    /// The approved releases this node holds, and what it does with each.
    List,
}

pub fn run(cmd: ReleaseCmd, data: &Path, json: bool) -> Result<()> {
    match cmd {
        ReleaseCmd::Keygen { out } => {
            if out.exists() {
                bail!("{} exists: not overwriting a key", out.display());
            }
            let mut seed = [0u8; 32];
            rand::fill(&mut seed);
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            write_private(&out, &hex::encode(seed))?;
            println!("{}", hex::encode(key.verifying_key().to_bytes()));
        }
        ReleaseCmd::Sign {
            key,
            package,
            version,
            arch,
            min_from,
            notes,
            out,
        } => {
            let key = rel::read_signing_key(&key)?;
            let bytes = read(&package)?;
            let notes = std::fs::read_to_string(&notes)
                .with_context(|| format!("cannot read {}", notes.display()))?;
            let record = Release::describe(&bytes, &version, &arch, &min_from, &notes)?;
            let signed = record.sign(&key)?;
            let out = out.unwrap_or_else(|| package.with_extension("release"));
            std::fs::write(&out, signed)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!("{}", out.display());
        }
        ReleaseCmd::Show { record, package } => {
            let v = rel::verify(&read(&record)?)
                .with_context(|| format!("{} is refused", record.display()))?;
            if let Some(p) = package {
                v.release
                    .check_package(&read(&p)?)
                    .with_context(|| format!("{} is refused", p.display()))?;
            }
            let r = &v.release;
            if json {
                crate::cli::print_json(&serde_json::json!({
                    "version": r.version, "arch": r.arch, "size": r.size,
                    "sha256": hex::encode(r.sha256), "min_from": r.min_from,
                    "notes": r.notes, "key": hex::encode(v.key),
                }))?;
            } else {
                println!(
                    "release {} for {} ({} bytes, upgrades from {}), signed by {}\n{}",
                    r.version,
                    r.arch,
                    r.size,
                    r.min_from,
                    hex::encode(v.key),
                    r.notes
                );
            }
        }
        ReleaseCmd::Approve {
            record,
            package,
            r#for,
        } => {
            let mut repo = Repo::open(data)?;
            let id = repo.approve_release(&read(&record)?, &read(&package)?, &r#for)?;
            println!("{id}");
        }
        ReleaseCmd::Check { record } => {
            let bytes = if record.as_os_str() == "-" {
                use std::io::Read;
                let mut b = Vec::new();
                std::io::stdin()
                    .take(rel::MAX_RECORD_BYTES as u64 + 1)
                    .read_to_end(&mut b)?;
                b
            } else {
                read(&record)?
            };
            let repo = Repo::open(data)?;
            let v = match repo.approved_for_me(&bytes)? {
                Ok(v) => v,
                Err(e) => {
                    // "Not approved" is an answer, not a failure to ask: its own code.
                    eprintln!("error: {e:#}");
                    std::process::exit(2);
                }
            };
            let by = v.approved_by.map(|n| n.short()).unwrap_or_default();
            println!(
                "release {} approved by {by} for this node ({})",
                v.release.version, v.id
            );
        }
        ReleaseCmd::Withdraw { id } => {
            Repo::open(data)?.withdraw_release(&id)?;
        }
        ReleaseCmd::List => {
            let repo = Repo::open(data)?;
            for (r, plan) in repo.release_plan()? {
                let what = match plan {
                    Ok(()) => "ready to install here".to_string(),
                    Err(why) => why.to_string(),
                };
                let by = r.approved_by.map(|n| n.short()).unwrap_or_default();
                println!(
                    "{}  {} {}  approved by {by} for {}  {}/{} chunks  {what}",
                    r.id,
                    r.release.version,
                    r.release.arch,
                    r.roles
                        .iter()
                        .map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    r.chunks_held,
                    r.release.chunks.len(),
                );
            }
        }
    }
    Ok(())
}

/// Commands that never open a node's data (the release builder's, and `show`): no
/// note about which node's data is used.
pub fn data_free(c: &super::Command) -> bool {
    matches!(
        c,
        super::Command::Release(
            ReleaseCmd::Keygen { .. } | ReleaseCmd::Sign { .. } | ReleaseCmd::Show { .. }
        )
    )
}

/// `conglang backup OUT`: a consistent copy of the database (the installer keeps one).
pub fn backup(data: &Path, out: &Path) -> Result<()> {
    Repo::open(data)?.store().backup_to(out)?;
    println!("{}", out.display());
    Ok(())
}

/// After a bundle import: a software update the stick brought goes where the
/// installer takes it (the node does the same after each contact).
pub fn stage_after_import(repo: &Repo) -> Result<()> {
    for s in repo.stage_releases()? {
        eprintln!(
            "software update {} ready to install: {}",
            s.version,
            s.path.display()
        );
    }
    Ok(())
}

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
}

fn write_private(p: &Path, s: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)
        .with_context(|| format!("cannot write {}", p.display()))?;
    writeln!(f, "{s}")?;
    Ok(())
}
