//! The architecture's invariants, checked on the source: the sync core does no I/O and
//! reads no clock; only `store` knows SQL; only `net` knows iroh; the UI never awaits;
//! the arrows between modules point down (sync knows no repo or store, the UI no
//! network, the data model no verdicts); no room is over 1,000 lines.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Source text without `#[cfg(test)]` modules' files and without comments.
fn code(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sync_core_does_no_io_and_reads_no_clock() {
    for f in files(&src().join("sync")) {
        if f.ends_with("tests.rs") {
            continue;
        }
        let c = code(&f);
        for banned in [
            "tokio",
            "rusqlite",
            "iroh",
            "std::time",
            "std::fs",
            "std::net",
            "Instant::",
            "SystemTime",
            "thread::",
        ] {
            assert!(!c.contains(banned), "{} uses {banned}", f.display());
        }
    }
}

#[test]
fn only_store_knows_sql_and_only_net_knows_iroh() {
    for f in files(&src()) {
        let rel = f.strip_prefix(src()).unwrap().to_string_lossy().to_string();
        let c = code(&f);
        if !rel.starts_with("store") {
            assert!(!c.contains("rusqlite"), "{rel} uses rusqlite");
            for sql in ["SELECT ", "INSERT INTO", "CREATE TABLE", "DELETE FROM"] {
                assert!(!c.contains(sql), "{rel} contains SQL ({sql})");
            }
        }
        if rel != "net.rs" {
            assert!(
                !c.contains("iroh::")
                    && !c.contains("iroh_mdns")
                    && !c.contains("swarm_discovery::")
                    && !c.contains("netdev::"),
                "{rel} uses iroh, mDNS or the interface list"
            );
        }
    }
}

#[test]
fn ui_never_awaits() {
    for f in files(&src().join("ui")) {
        let c = code(&f);
        assert!(!c.contains(".await"), "{} awaits", f.display());
        assert!(
            !c.contains("block_on"),
            "{} blocks on a future",
            f.display()
        );
    }
}

/// The file's module path below the crate root: `src/sync/recon.rs` → `[sync, recon]`,
/// `src/sync/mod.rs` → `[sync]`.
fn module_path(f: &Path) -> Vec<String> {
    let rel = f.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The leading identifier of `s` (after spaces).
fn ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The crate's top-level modules a file names, however spelled: `crate::x::…`,
/// `super::super::x` from below, `use crate::{x, y::…}`. A path that stays inside the
/// file's own top-level module names that module.
fn modules_named(f: &Path) -> BTreeSet<String> {
    modules_in(&code(f), &module_path(f))
}

/// `modules_named` on source text `c` of the module at `here`.
fn modules_in(c: &str, here: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = c.as_bytes();
    for (i, _) in c.char_indices() {
        // Only where a path starts (not `mycrate::`, nor the second `super::` of two).
        if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || b"_:".contains(&bytes[i - 1])) {
            continue;
        }
        let rest = &c[i..];
        let (base, after) = if let Some(r) = rest.strip_prefix("crate::") {
            (&here[..0], r)
        } else if rest.starts_with("super::") {
            let mut up = 0;
            let mut r = rest;
            while let Some(x) = r.strip_prefix("super::") {
                up += 1;
                r = x;
            }
            (&here[..here.len().saturating_sub(up)], r)
        } else {
            continue;
        };
        if let Some(top) = base.first() {
            out.insert(top.clone());
        } else if let Some(group) = after.strip_prefix('{') {
            // `crate::{a, b::c, …}`: the first segment of each item at the group's top level.
            let (mut depth, mut item) = (0, String::new());
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(ch);
            }
            out.insert(ident(&item));
        } else {
            out.insert(ident(after));
        }
    }
    out.remove("");
    out
}

/// Files under `src/<dir>` (tests included) that name one of `banned` modules.
fn upward_arrows(dir: &str, banned: &[&str]) -> Vec<String> {
    let mut bad = Vec::new();
    for f in files(&src().join(dir)) {
        let named = modules_named(&f);
        for b in banned {
            if named.contains(*b) {
                bad.push(format!("{} imports from `{b}`", f.display()));
            }
        }
    }
    bad
}

#[test]
fn sync_defines_what_it_needs_and_imports_nothing_from_repo_or_store() {
    let bad = upward_arrows("sync", &["repo", "store"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn ui_reaches_the_network_only_through_the_node() {
    let bad = upward_arrows("ui", &["net"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_data_model_imports_nothing_from_the_verdicts() {
    let bad = upward_arrows("model", &["verdict"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

/// The checker itself sees every spelling of an import, and `std::net` is not ours.
#[test]
fn modules_named_sees_every_spelling() {
    let here = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let names = |c: &str, h: &[&str]| modules_in(c, &here(h)).into_iter().collect::<Vec<_>>();
    assert_eq!(names("use crate::repo::ImportReport;", &["sync"]), ["repo"]);
    assert_eq!(
        names("use crate::{model::DocId, store, x::{a, b}};", &["sync"]),
        ["model", "store", "x"]
    );
    assert_eq!(
        names("fn f() -> super::super::net::NetConfig", &["ui", "x"]),
        ["net"]
    );
    assert_eq!(names("use super::Station;", &["ui", "home"]), ["ui"]);
    assert_eq!(
        names("let a = std::net::Ipv4Addr::LOCALHOST;", &["ui"]),
        Vec::<String>::new()
    );
    assert_eq!(names("mycrate::repo::X", &["sync"]), Vec::<String>::new());
}

/// No room so large a newcomer must read it whole to find one thing: no file under
/// `src/` over 1,000 lines, but for the string table and test files.
#[test]
fn no_source_file_is_over_1000_lines() {
    let mut big = Vec::new();
    for f in files(&src()) {
        let rel = f.strip_prefix(src()).unwrap().to_string_lossy().to_string();
        if rel == "ui/i18n.rs" || f.ends_with("tests.rs") {
            continue;
        }
        let n = std::fs::read_to_string(&f).unwrap().lines().count();
        if n > 1000 {
            big.push(format!("{rel}: {n} lines"));
        }
    }
    assert!(big.is_empty(), "split these along their seams: {big:?}");
}
