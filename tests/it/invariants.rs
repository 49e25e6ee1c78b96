//! The architecture's invariants, checked on the source: the sync core does no I/O and
//! reads no clock; only `store` knows SQL; only `net` knows iroh; the UI never awaits.

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
