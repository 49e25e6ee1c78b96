//! The benchmark harness: every figure in BENCHMARKS.md comes from here.
//!
//!     cargo bench --bench sync            # full run (minutes)
//!     cargo bench --bench sync -- --quick # small sizes
//!     cargo bench --bench sync -- --only w2,w3
//!     cargo bench --bench sync -- --only receipts   # receipts over a year
//!     cargo bench --bench sync -- --only w4be,w8w   # issue 22: urgent by edit; withdrawals
//!     CONGLANG_W7_SIZES=30000 cargo bench --bench sync -- --only w7   # other sizes
//!     CONGLANG_W9_BYTES=8400000 cargo bench --bench sync -- --only w9  # a release over 2G
//!
//! Prints a table on stderr and one JSON document on stdout. Byte and round-trip
//! counts are deterministic; times are medians of repeated runs where cheap.

use std::time::{Duration, Instant};

use rand::SeedableRng;

use conglang::lab::{self, Pair, link::LinkSpec};
use conglang::model::NoticeDraft;
use conglang::repo::Repo;
use serde_json::json;

// Receipts over a year (issue 11, point 6).
#[path = "support/receipts_year.rs"]
mod receipts_year;

struct Args {
    quick: bool,
    only: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        quick: false,
        only: vec![],
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--quick" => a.quick = true,
            "--only" => {
                a.only = it
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            _ => {}
        }
    }
    a
}

fn want(a: &Args, w: &str) -> bool {
    a.only.is_empty() || a.only.iter().any(|o| o == w)
}

/// Runs a command under GNU time, through a fresh shell, so its peak RSS is its own:
/// a child forked straight from this (large) process inherits our high-water mark.
/// Returns (stdout, wall ms, peak RSS KiB).
fn measured(program: &std::path::Path, args: &[&str]) -> anyhow::Result<(Vec<u8>, f64, u64)> {
    let rss_file = tempfile::NamedTempFile::new()?;
    let t = Instant::now();
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"exec /usr/bin/time -f %M -o "$0" "$@""#)
        .arg(rss_file.path())
        .arg(program)
        .args(args)
        .output()?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let rss = std::fs::read_to_string(rss_file.path())?
        .trim()
        .lines()
        .last()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    Ok((out.stdout, ms, rss))
}

/// `conglang --data DIR notice list --json`: (ms, peak RSS KiB).
fn cli_list(dir: &std::path::Path) -> anyhow::Result<(f64, u64)> {
    let d = dir.to_string_lossy();
    let (_, ms, rss) = measured(
        std::path::Path::new(env!("CARGO_BIN_EXE_conglang")),
        &["--data", &d, "notice", "list", "--json"],
    )?;
    Ok((ms, rss))
}

/// W4/W5/W8's backlog: requests of ~1,000 characters until `mb` MiB of changes.
/// Returns (requests, change bytes).
fn load_backlog(p: &mut Pair, mb: usize) -> anyhow::Result<(usize, usize)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let mut changes = Vec::new();
    let mut bytes = 0usize;
    let mut i = 0;
    let mut line = None;
    while bytes < mb * 1024 * 1024 {
        let r = lab::request(&p.filer, None, &mut rng, i, 1000, &mut line);
        bytes += r.iter().map(|c| c.bytes.len()).sum::<usize>();
        changes.extend(r);
        i += 1;
    }
    lab::load(&mut p.office, changes, None)?;
    Ok((i, bytes))
}

/// Bytes of the signed changes a store holds (change bytes only, as the backlog is
/// counted).
fn held_bytes(dir: &std::path::Path) -> anyhow::Result<u64> {
    Ok(Repo::open(dir)?
        .all_changes()?
        .iter()
        .map(|c| c.bytes.len() as u64)
        .sum())
}

/// Copies a data directory (no node has it open).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()?;
    anyhow::ensure!(st.success(), "cp -a failed");
    Ok(())
}

/// The urgent notice the office posts before contact `k` (W8, W9): the first thing
/// that contact must commit.
fn post_urgent(office_dir: &std::path::Path, k: usize) -> anyhow::Result<conglang::model::DocId> {
    Repo::open(office_dir)?.post_notice(&NoticeDraft {
        title: format!("KHẨN: mưa lớn, đợt {k}"),
        body: "Bà con không đi qua ngầm tràn".into(),
        urgent: true,
        ..Default::default()
    })
}

/// W8: the W5 backlog (plus `withdrawn` notices posted and withdrawn) over the 2G
/// link in contacts of 30 s separated by cuts; before each contact the office posts a
/// new urgent notice, which must be the first thing that contact commits.
fn w8(
    rt: &tokio::runtime::Runtime,
    quick: bool,
    withdrawn: usize,
    name: &str,
) -> anyhow::Result<serde_json::Value> {
    let mb = if quick { 1 } else { 5 };
    let window = Duration::from_secs(
        std::env::var("CONGLANG_W8_WINDOW_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
    );
    let dir = tempfile::tempdir()?;
    let mut p = Pair::create(dir.path())?;
    let (requests, mut backlog) = load_backlog(&mut p, mb)?;
    // Issue 22: notices posted and withdrawn at the office. Each withdrawal is in
    // the urgent class and depends on its notice's creation (a later class): the
    // kiosk must take both in every contact, past the per-author pending cap.
    let before_withdrawn = held_bytes(p.office.data_dir())?;
    for i in 0..withdrawn {
        let id = p.office.post_notice(&NoticeDraft {
            title: format!("Lịch tiêm chủng thôn, đợt {i}"),
            body: "Mang theo sổ tiêm của trẻ".into(),
            ..Default::default()
        })?;
        p.office.withdraw_notice(&id)?;
    }
    backlog += (held_bytes(p.office.data_dir())? - before_withdrawn) as usize;
    let (office_dir, kiosk_dir) = (
        p.office.data_dir().to_path_buf(),
        p.kiosk.data_dir().to_path_buf(),
    );
    drop(p);
    let spec = LinkSpec::two_g(8);
    let line = spec.rate_bps as f64 / 8.0 * window.as_secs_f64();
    let allowed = (backlog as f64 / (0.7 * line)).ceil() as usize + 1;
    let start_held = held_bytes(&kiosk_dir)?;
    let held_count =
        |d: &std::path::Path| -> anyhow::Result<usize> { Ok(Repo::open(d)?.all_changes()?.len()) };
    let office_changes = held_count(&office_dir)?;
    let mut rows = Vec::new();
    let mut done = false;
    for k in 1..=allowed + 5 {
        let urgent = post_urgent(&office_dir, k)?;
        let before = held_bytes(&kiosk_dir)?;
        let before_n = held_count(&kiosk_dir)?;
        let mut s = spec.clone();
        s.seed = 800 + k as u64;
        let m = rt.block_on(lab::contact_over_link(
            &office_dir,
            &kiosk_dir,
            s,
            Some(urgent),
            window,
        ))?;
        let after = held_bytes(&kiosk_dir)?;
        let delivered = after.saturating_sub(before);
        let after_n = held_count(&kiosk_dir)?;
        // A contact that ends early (the backlog is done) is judged on its length.
        let cap = spec.rate_bps as f64 / 8.0 * (m.window_ms as f64 / 1000.0);
        eprintln!(
            "{name} contact {k:>2}: +{} changes (kiosk holds {after_n} of the office's {}), {} ms, connected at {:?} ms, first commit at {:?} ms, urgent {:?} ms after connect; committed {} B of changes ({:.0} % of the line rate × contact), UDP {} B ({} B up; {:.0} % of line capacity), {} dropped{}{}",
            after_n - before_n,
            office_changes + k,
            m.window_ms,
            m.connect_ms,
            m.first_commit_ms,
            m.urgent_after_connect_ms,
            delivered,
            100.0 * delivered as f64 / cap,
            m.udp_bytes,
            m.udp_up_bytes,
            100.0 * m.udp_bytes as f64 / (2.0 * cap),
            m.dropped_packets,
            if m.synced_ms.is_some() {
                ", synced"
            } else {
                ""
            },
            if !m.isolated {
                "; NOT ISOLATED (no network namespaces: only the handshake was shaped)".into()
            } else if m.connect_ms.is_none() {
                format!(
                    "; NEVER CONNECTED (isolated {}, relay to {}, sender listed {}; routes {:?})",
                    m.isolated, m.target, m.sender_addrs, m.routes_at_cut
                )
            } else {
                String::new()
            }
        );
        rows.push(json!({"contact": k, "measure": m, "delivered_change_bytes": delivered, "delivered_changes": after_n - before_n, "kiosk_holds": after_n, "delivered_fraction_of_line": delivered as f64 / cap}));
        if m.synced_ms.is_some() {
            done = true;
            break;
        }
    }
    let got = held_bytes(&kiosk_dir)? - start_held;
    eprintln!(
        "{name}: backlog {backlog} B ({requests} requests, {withdrawn} notices posted and withdrawn); {} contacts of {} s (allowed {allowed}); completed: {done}; {got} B committed",
        rows.len(),
        window.as_secs()
    );
    Ok(
        json!({"backlog_bytes": backlog, "requests": requests, "withdrawn_notices": withdrawn,
        "window_s": window.as_secs(), "allowed_contacts": allowed, "contacts": rows, "completed": done}),
    )
}

/// W9 (issue 25): a release package the office approved, carried over the 2G link in
/// contacts of 30 s separated by cuts, a new urgent notice posted before each contact.
/// How many contacts and how much link time the package takes, the share of the line
/// its chunks used, and whether each contact's warning still went first.
fn w9(rt: &tokio::runtime::Runtime, quick: bool, name: &str) -> anyhow::Result<serde_json::Value> {
    use conglang::release::{self, Release};
    let size: usize = std::env::var("CONGLANG_W9_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 256 * 1024 } else { 1_000_000 });
    let window = Duration::from_secs(30);
    let dir = tempfile::tempdir()?;
    let mut p = Pair::create(dir.path())?;
    // A test release key (the built-in key's private half is not here).
    let key = ed25519_dalek::SigningKey::from_bytes(&[42u8; 32]);
    release::trust(key.verifying_key().to_bytes());
    // Incompressible, like a .deb (xorshift, seeded: the same bytes every run).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let package: Vec<u8> = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let record =
        Release::describe(&package, "9.0.0", release::running_arch(), "0.1.0", "W9")?.sign(&key)?;
    let t = Instant::now();
    p.office
        .approve_release(&record, &package, &[conglang::model::Role::Kiosk])?;
    let approve_ms = t.elapsed().as_millis() as u64;
    let (office_dir, kiosk_dir) = (
        p.office.data_dir().to_path_buf(),
        p.kiosk.data_dir().to_path_buf(),
    );
    drop(p);
    let chunks = size.div_ceil(release::CHUNK);
    let held = |d: &std::path::Path| -> anyhow::Result<usize> {
        Ok(Repo::open(d)?
            .releases()?
            .first()
            .map_or(0, |r| r.chunks_held))
    };
    let spec = LinkSpec::two_g(8);
    let mut rows = Vec::new();
    let mut link_ms = 0u64;
    let mut warnings_first = true;
    let mut done = false;
    for k in 1..=(size / 100_000 + 20) {
        let urgent = post_urgent(&office_dir, k)?;
        let before = held(&kiosk_dir)?;
        let mut s = spec.clone();
        s.seed = 900 + k as u64;
        let m = rt.block_on(lab::contact_over_link(
            &office_dir,
            &kiosk_dir,
            s,
            Some(urgent.clone()),
            window,
        ))?;
        let after = held(&kiosk_dir)?;
        link_ms += m.window_ms;
        let got_warning = Repo::open(&kiosk_dir)?.notice(&urgent)?.is_some();
        warnings_first &= got_warning;
        eprintln!(
            "{name} contact {k:>2}: +{} chunks ({after} of {chunks}), {} ms, urgent {:?} ms after connect{}",
            after - before,
            m.window_ms,
            m.urgent_after_connect_ms,
            if m.isolated { "" } else { "; NOT ISOLATED" }
        );
        rows.push(json!({"contact": k, "chunks": after - before, "held": after, "window_ms": m.window_ms, "urgent_after_connect_ms": m.urgent_after_connect_ms, "isolated": m.isolated}));
        if after == chunks {
            done = true;
            break;
        }
    }
    let goodput = size as f64 / (link_ms as f64 / 1000.0);
    let line = spec.rate_bps as f64 / 8.0;
    eprintln!(
        "{name}: {size} B package ({chunks} chunks), approved in {approve_ms} ms; {} contacts, {:.0} s of link; {:.0} B/s of package ({:.0} % of the line rate); completed {done}; every contact's warning arrived {warnings_first}",
        rows.len(),
        link_ms as f64 / 1000.0,
        goodput,
        100.0 * goodput / line
    );
    Ok(
        json!({"package_bytes": size, "chunks": chunks, "approve_ms": approve_ms,
        "contacts": rows, "link_s": link_ms as f64 / 1000.0, "package_bytes_per_s": goodput,
        "line_bytes_per_s": line, "completed": done, "warnings_arrived": warnings_first}),
    )
}

/// W4b: urgent first into a large store. The kiosk holds 10,000 notices, the office
/// those, 10,000 newer ones and one urgent warning (posted urgent, or `by_edit`: made
/// urgent by an edit of a notice the kiosk lacks); 2G link.
fn w4b(
    rt: &tokio::runtime::Runtime,
    quick: bool,
    by_edit: bool,
    name: &str,
) -> anyhow::Result<serde_json::Value> {
    let n = if quick { 1_000 } else { 10_000 };
    let dir = tempfile::tempdir()?;
    let mut p = Pair::create(dir.path())?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(44);
    let common: Vec<_> = (0..n)
        .map(|_| lab::notice(p.office.identity(), &mut rng, 300, false))
        .collect();
    lab::load(&mut p.office, common.clone(), None)?;
    lab::load(&mut p.kiosk, common, None)?;
    let newer: Vec<_> = (0..n)
        .map(|_| lab::notice(p.office.identity(), &mut rng, 300, false))
        .collect();
    lab::load(&mut p.office, newer, None)?;
    let warning = NoticeDraft {
        title: "KHẨN: bão số 3 đổ bộ".into(),
        body: "Sơ tán ngay khỏi vùng trũng".into(),
        urgent: true,
        ..Default::default()
    };
    let urgent = if by_edit {
        // Issue 22: posted as an ordinary notice (the newest of the notices class,
        // which the kiosk lacks), then made urgent by an edit (urgent class): the
        // edit is readable only with its base, which must travel with it.
        let id = p.office.post_notice(&NoticeDraft {
            urgent: false,
            ..warning.clone()
        })?;
        p.office.edit_notice(&id, &warning)?;
        id
    } else {
        p.office.post_notice(&warning)?
    };
    let (office_dir, kiosk_dir) = (
        p.office.data_dir().to_path_buf(),
        p.kiosk.data_dir().to_path_buf(),
    );
    drop(p);
    // Keying the changes of a freshly loaded store for the sync index (done at
    // node start, or lazily by the first session).
    let refresh = {
        let runs = tempfile::tempdir()?;
        let k = runs.path().join("kiosk");
        copy_dir(&office_dir, &k)?;
        let mut r = Repo::open(&k)?;
        let t = Instant::now();
        r.change_set()?;
        t.elapsed().as_millis() as u64
    };
    eprintln!(
        "{name}: keying the office's {} changes for the sync index: {refresh} ms",
        2 * n + if by_edit { 2 } else { 1 }
    );
    // More runs (and a shorter contact: only the warning is measured) to see the tail
    // that 2 % loss puts on one round trip: CONGLANG_W4B_RUNS=20.
    let n_runs: u64 = std::env::var("CONGLANG_W4B_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let window = Duration::from_secs(if n_runs > 5 { 8 } else { 20 });
    let mut rows = Vec::new();
    for run in 0..n_runs {
        let runs = tempfile::tempdir()?;
        let (o, k) = (runs.path().join("office"), runs.path().join("kiosk"));
        copy_dir(&office_dir, &o)?;
        copy_dir(&kiosk_dir, &k)?;
        let m = rt.block_on(lab::contact_over_link(
            &o,
            &k,
            LinkSpec::two_g(440 + run),
            Some(urgent.clone()),
            window,
        ))?;
        eprintln!(
            "{name} run {run}: connected at {:?} ms; urgent committed {:?} ms after connection up; first commit at {:?} ms",
            m.connect_ms, m.urgent_after_connect_ms, m.first_commit_ms
        );
        rows.push(json!(m));
    }
    Ok(json!({"kiosk_docs": n, "office_docs": 2 * n, "urgent_by_edit": by_edit, "runs": rows}))
}

fn main() -> anyhow::Result<()> {
    let a = args();
    // Logs on stderr only when asked (`CONGLANG_LOG=conglang=debug`): a diagnosis aid.
    if let Ok(f) = tracing_subscriber::EnvFilter::try_from_env("CONGLANG_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(f)
            .with_writer(std::io::stderr)
            .try_init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut out = serde_json::Map::new();
    let s = |n: usize| if a.quick { n / 10 } else { n };

    if want(&a, "w1") {
        let dir = tempfile::tempdir()?;
        let mut p = Pair::create(dir.path())?;
        let changes = lab::w1_changes(p.office.identity(), &p.filer, s(1000), s(200), s(2000), 1);
        lab::load(&mut p.office, changes, None)?;
        let all = p.office.all_changes()?;
        let floor = lab::floor_bytes(&all);
        let full_save = lab::baseline_full_save(&p.office)?;
        let (am_bytes, am_rounds) = lab::baseline_automerge_sync(&p.office)?;
        let m = lab::sync_in_memory(&mut p.office, &mut p.kiosk)?;
        let raw: u64 = all
            .iter()
            .map(|c| c.bytes.len() as u64 + 64 + c.doc.as_str().len() as u64)
            .sum();
        eprintln!(
            "W1 fresh kiosk: {} changes, raw {} B, floor {} B",
            all.len(),
            raw,
            floor
        );
        eprintln!(
            "   ours {} B ({:.3}× floor) in {} RT | full save() {} B ({:.2}×) | automerge sync {} B ({:.2}×, {} RT per doc)",
            m.bytes(),
            m.bytes() as f64 / floor as f64,
            m.round_trips,
            full_save,
            full_save as f64 / floor as f64,
            am_bytes,
            am_bytes as f64 / floor as f64,
            am_rounds
        );
        out.insert(
            "w1".into(),
            json!({
                "changes": all.len(), "raw_bytes": raw, "floor_bytes": floor,
                "ours": m, "ratio_to_floor": m.bytes() as f64 / floor as f64,
                "baseline_full_save_bytes": full_save, "baseline_automerge_sync_bytes": am_bytes,
                "baseline_automerge_sync_rounds_per_doc": am_rounds,
            }),
        );
    }

    if want(&a, "w2") || want(&a, "w3") {
        let sizes: Vec<usize> = match std::env::var("CONGLANG_W2_SIZES") {
            Ok(v) => v.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
            Err(_) if a.quick => vec![100, 1000],
            Err(_) => vec![100, 1000, 10_000, 100_000],
        };
        let mut rows = Vec::new();
        for n in sizes {
            let dir = tempfile::tempdir()?;
            let mut p = Pair::create(dir.path())?;
            let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
            let docs: Vec<_> = (0..n)
                .map(|_| lab::notice(p.office.identity(), &mut rng, 200, false))
                .collect();
            lab::load(&mut p.office, docs.clone(), None)?;
            lab::load(&mut p.kiosk, docs, None)?;
            // First contact after loading: both hold the same documents already.
            let noop = lab::sync_in_memory(&mut p.office, &mut p.kiosk)?;
            let again = lab::sync_in_memory(&mut p.office, &mut p.kiosk)?;
            // W3: one new notice.
            let id = p.office.post_notice(&NoticeDraft {
                title: "Thông báo mới: lịch tiêm chủng".into(),
                body: lab::text(&mut rng, 500),
                ..Default::default()
            })?;
            let change: u64 = p
                .office
                .changes_missing(&id, &[])?
                .iter()
                .map(|c| c.bytes.len() as u64 + 64)
                .sum();
            let one = lab::sync_in_memory(&mut p.office, &mut p.kiosk)?;
            // CPU of a no-op session, each side (median of 5 repeats).
            let mut cpu_a = Vec::new();
            let mut cpu_b = Vec::new();
            for _ in 0..5 {
                let m = lab::sync_in_memory(&mut p.office, &mut p.kiosk)?;
                cpu_a.push(m.cpu_a_us as f64);
                cpu_b.push(m.cpu_b_us as f64);
            }
            let (cpu_a, cpu_b) = (lab::median(&mut cpu_a), lab::median(&mut cpu_b));
            eprintln!(
                "W2 n={n:>6}: first contact after separate loads {} B in {} RT | no-op {} B in {} RT, CPU {} µs / {} µs per side (median of 5: {cpu_a:.0} µs / {cpu_b:.0} µs) | W3 one notice: {} B (change {} B) in {} RT",
                noop.bytes(),
                noop.round_trips,
                again.bytes(),
                again.round_trips,
                again.cpu_a_us,
                again.cpu_b_us,
                one.bytes(),
                change,
                one.round_trips
            );
            rows.push(json!({"docs": n, "w2_noop": noop, "w2_repeat": again, "w3_one_new": one, "w3_change_bytes": change,
                "noop_cpu_us_median_of_5": [cpu_a, cpu_b]}));
        }
        out.insert("w2_w3".into(), json!(rows));
    }

    if want(&a, "w7") {
        // W7: first contact between overlapping stores, `diff` differing on each side.
        let sizes: Vec<usize> = match std::env::var("CONGLANG_W7_SIZES") {
            Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
            Err(_) if a.quick => vec![1000],
            Err(_) => vec![10_000, 100_000],
        };
        let mut rows = Vec::new();
        for n in sizes {
            let dir = tempfile::tempdir()?;
            let diff = 100;
            let t = Instant::now();
            let (m, differing) = lab::w7(dir.path(), n, diff, n as u64)?;
            let bound = 2 * differing + 16 * 1024;
            eprintln!(
                "W7 n={n:>6}, {diff} differ each side: {} B (differing changes {} B, bound {} B) in {} RT, {} changes, window up to {} batches; CPU {} / {} ms [{:.1} s incl. setup]",
                m.bytes(),
                differing,
                bound,
                m.round_trips,
                m.changes,
                m.max_window,
                m.cpu_a_us / 1000,
                m.cpu_b_us / 1000,
                t.elapsed().as_secs_f64()
            );
            rows.push(json!({"docs": n, "differ_each_side": diff, "ours": m, "differing_bytes": differing, "bound": bound}));
        }
        out.insert("w7".into(), json!(rows));
    }

    if want(&a, "w4") || want(&a, "w5") {
        // W4 (perfect link) and W5 (2G link): 5 MB of requests pending, then one urgent notice.
        let mb = if a.quick { 1 } else { 5 };
        for (name, spec) in [
            ("w4_loopback", LinkSpec::perfect()),
            ("w5_2g", LinkSpec::two_g(7)),
        ] {
            let dir = tempfile::tempdir()?;
            let mut p = Pair::create(dir.path())?;
            let (i, _) = load_backlog(&mut p, mb)?;
            let urgent = p.office.post_notice(&NoticeDraft {
                title: "KHẨN: lũ quét".into(),
                body: "Sơ tán ngay".into(),
                urgent: true,
                ..Default::default()
            })?;
            let total: u64 = p
                .office
                .all_changes()?
                .iter()
                .map(|c| c.bytes.len() as u64)
                .sum();
            let (office_dir, kiosk_dir) = (
                p.office.data_dir().to_path_buf(),
                p.kiosk.data_dir().to_path_buf(),
            );
            drop(p);
            let m = rt.block_on(lab::sync_over_link(
                &office_dir,
                &kiosk_dir,
                spec.clone(),
                Some(urgent),
                Duration::from_secs(900),
            ))?;
            let bound_ms = if spec.rate_bps > 0 {
                (1.3 * (m.udp_bytes as f64 * 8.0 / spec.rate_bps as f64) * 1000.0
                    + 5.0 * spec.rtt.as_millis() as f64) as u64
            } else {
                0
            };
            eprintln!(
                "{name}: {} requests ({} B of changes); urgent committed after {:?} ms; catch-up {} ms (bound {} ms); payload {} B, UDP {} B ({:.2}×), {} packets dropped",
                i,
                total,
                m.urgent_ms,
                m.catch_up_ms,
                bound_ms,
                m.payload_bytes,
                m.udp_bytes,
                m.udp_bytes as f64 / m.payload_bytes.max(1) as f64,
                m.dropped_packets
            );
            out.insert(name.into(), json!({"requests": i, "change_bytes": total, "measure": m, "catch_up_bound_ms": bound_ms}));
        }
    }

    if want(&a, "wire") {
        // Wire density of W5/W8's backlog: change bytes per frame byte, batched as the
        // protocol batches them (≤ 16 KiB of stored change bytes), with the bodies as
        // stored (automerge deflates each change on its own) or inflated, so the frame's
        // one deflate stream sees the whole batch.
        use std::io::Write;
        let dir = tempfile::tempdir()?;
        let mut p = Pair::create(dir.path())?;
        let (_, backlog) = load_backlog(&mut p, if a.quick { 1 } else { 5 })?;
        let all = p.office.all_changes()?;
        let mut batches: Vec<Vec<conglang::model::SignedChange>> = vec![vec![]];
        let mut acc = 0;
        for c in all {
            if acc + c.bytes.len() > conglang::sync::BATCH_BYTES && acc > 0 {
                batches.push(vec![]);
                acc = 0;
            }
            acc += c.bytes.len();
            batches.last_mut().unwrap().push(c);
        }
        let deflate = |raw: &[u8], lvl: u32| {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(lvl));
            e.write_all(raw).unwrap();
            e.finish().unwrap().len()
        };
        let (mut stored, mut now, mut infl6, mut infl9, mut rawsz) =
            (0usize, 0usize, 0usize, 0usize, 0usize);
        let mut stream =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        for b in &batches {
            stored += b.iter().map(|c| c.bytes.len()).sum::<usize>();
            now +=
                conglang::sync::wire::encode(&conglang::sync::Msg::Changes { changes: b.clone() })
                    .len();
            let inflated: Vec<_> = b
                .iter()
                .map(|c| {
                    let ch = automerge::Change::from_bytes(c.bytes.clone()).unwrap();
                    conglang::model::SignedChange {
                        doc: c.doc.clone(),
                        bytes: ch.raw_bytes().to_vec(),
                        sig: c.sig,
                    }
                })
                .collect();
            let raw =
                conglang::sync::wire::raw(&conglang::sync::Msg::Changes { changes: inflated });
            rawsz += raw.len();
            infl6 += deflate(&raw, 6) + 5;
            infl9 += deflate(&raw, 9) + 5;
            stream.write_all(&raw).unwrap();
            stream.flush().unwrap();
        }
        let streamed = stream.finish().unwrap().len() + 5 * batches.len();
        eprintln!(
            "wire density: {backlog} B backlog, {} batches, stored {stored} B; frames now {now} B ({:.3} change B per frame B); inflated bodies {rawsz} B raw, deflate-6 {infl6} B ({:.3}), deflate-9 {infl9} B ({:.3}), one stream across batches {streamed} B ({:.3})",
            batches.len(),
            stored as f64 / now as f64,
            stored as f64 / infl6 as f64,
            stored as f64 / infl9 as f64,
            stored as f64 / streamed as f64
        );
    }

    if want(&a, "w8") {
        out.insert("w8".into(), w8(&rt, a.quick, 0, "W8")?);
    }
    if want(&a, "w8w") {
        // Issue 22: the same with 2,020 notices posted and withdrawn (past the
        // per-author pending cap of 2,000): every contact must make progress.
        out.insert("w8w".into(), w8(&rt, a.quick, 2_020, "W8w")?);
    }

    if want(&a, "w9") {
        out.insert("w9".into(), w9(&rt, a.quick, "W9")?);
    }

    if want(&a, "w4b") {
        out.insert("w4b".into(), w4b(&rt, a.quick, false, "W4b")?);
    }
    if want(&a, "w4be") {
        out.insert("w4b_edit".into(), w4b(&rt, a.quick, true, "W4b-edit")?);
    }

    if want(&a, "w5w1") {
        // W5 with W1's content over the 2G link.
        let dir = tempfile::tempdir()?;
        let mut p = Pair::create(dir.path())?;
        let changes = lab::w1_changes(p.office.identity(), &p.filer, s(1000), s(200), s(2000), 1);
        lab::load(&mut p.office, changes, None)?;
        let (o, k) = (
            p.office.data_dir().to_path_buf(),
            p.kiosk.data_dir().to_path_buf(),
        );
        drop(p);
        let spec = LinkSpec::two_g(11);
        let m = rt.block_on(lab::sync_over_link(
            &o,
            &k,
            spec.clone(),
            None,
            Duration::from_secs(1800),
        ))?;
        let bound_ms = (1.3 * (m.udp_bytes as f64 * 8.0 / spec.rate_bps as f64) * 1000.0
            + 5.0 * spec.rtt.as_millis() as f64) as u64;
        eprintln!(
            "w5_w1_2g: catch-up {} ms (bound {} ms), payload {} B, UDP {} B",
            m.catch_up_ms, bound_ms, m.payload_bytes, m.udp_bytes
        );
        out.insert(
            "w5_w1_2g".into(),
            json!({"measure": m, "catch_up_bound_ms": bound_ms}),
        );
    }

    if want(&a, "w6") {
        let scales: Vec<usize> = match std::env::var("CONGLANG_W6_SCALES") {
            Ok(v) => v.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
            Err(_) if a.quick => vec![1],
            Err(_) => vec![1, 2, 5, 10],
        };
        let base_n = if a.quick { 1000 } else { 10_000 };
        let mut rows = Vec::new();
        for x in scales {
            let dir = tempfile::tempdir()?;
            let mut p = Pair::create(dir.path())?;
            let mut rng = rand::rngs::StdRng::seed_from_u64(6);
            let mut changes = Vec::new();
            for _ in 0..base_n * x {
                changes.push(lab::notice(p.office.identity(), &mut rng, 300, false));
            }
            let mut line = None;
            for i in 0..2 * base_n * x {
                changes.extend(lab::request(&p.filer, None, &mut rng, i, 200, &mut line));
            }
            let n = changes.len();
            let (r, took) = lab::time(|| lab::load(&mut p.office, changes, None));
            r?;
            let import_rate = n as f64 / took.as_secs_f64();
            let dir_path = p.office.data_dir().to_path_buf();
            drop(p);
            // Open + home screen in this process, after the import (median of 3); the
            // real binary's time and peak RSS come from `cli_list` below.
            let rss_before = lab::rss_kib();
            let mut opens = Vec::new();
            for _ in 0..3 {
                let t = Instant::now();
                let r = Repo::open(&dir_path)?;
                let now = conglang::model::text::now();
                let home: Vec<_> = r
                    .notices()?
                    .into_iter()
                    .filter(|n| n.is_live(now))
                    .collect();
                std::hint::black_box(home.len());
                opens.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            let rss = lab::rss_kib().max(rss_before);
            let open_ms = lab::median(&mut opens);
            // The real binary a kiosk runs, listing the live notices as JSON.
            let (cli_ms, cli_rss) = cli_list(&dir_path)?;
            eprintln!(
                "W6 {x:>2}×: {} notices + {} requests; import {:.0} changes/s; open + home list {:.0} ms (median of 3, in the harness, harness RSS {} MiB); `conglang notice list --json` {:.0} ms, max RSS {} MiB",
                base_n * x,
                2 * base_n * x,
                import_rate,
                open_ms,
                rss / 1024,
                cli_ms,
                cli_rss / 1024
            );
            rows.push(json!({"scale": x, "notices": base_n * x, "requests": 2 * base_n * x, "changes": n,
                "import_changes_per_s": import_rate, "open_home_ms_median": open_ms, "open_home_rss_kib": rss,
                "cli_list_ms": cli_ms, "cli_list_max_rss_kib": cli_rss}));
            if std::env::var_os("CONGLANG_BENCH_KEEP").is_some() {
                eprintln!("kept {}", dir.keep().display());
            }
        }
        out.insert("w6".into(), json!(rows));
    }

    // Not in the default run: it moves the process clock (`--only receipts`).
    if a.only.iter().any(|o| o == "receipts") {
        out.insert("receipts".into(), receipts_year::run(a.quick)?);
    }

    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
