//! Reliability suites, short versions (the long ones: RELIABILITY.md). Power cuts by
//! SIGKILL, cut and lossy links through the userspace link emulator, hostile bytes,
//! restore from an old backup, a full disk.

use std::process::Stdio;
use std::time::Duration;

use conglang::lab::{self, link::LinkSpec};
use conglang::model::{NoticeDraft, RequestDraft, Role, SignedChange};
use conglang::repo::Repo;
use conglang::sync::wire;
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};

use crate::harness::{CliNode, Commune, bin, digest_of, exchange};

fn iterations(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `args` on `node`, SIGKILLs it after `after`; returns stdout if it had
/// already finished successfully (the user was told "done").
fn run_and_kill(node: &CliNode, args: &[&str], after: Duration) -> Option<String> {
    let child = bin()
        .arg("--data")
        .arg(&node.dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let out = child.wait_with_output().unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

#[test]
fn power_cut_loses_nothing_acknowledged() {
    let n = iterations("CONGLANG_POWERCUT_ITERS", 50);
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let kiosk = CliNode::new(base.path(), "kiosk");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    let kid = kiosk.id();
    let inv = office.ok(&["roster", "add", &kid, "--role", "kiosk", "--name", "Kiosk"]);
    kiosk.ok(&["join", inv.trim()]);
    let s = office.serve(&[]);
    kiosk.sync_with(&s);
    s.stop();

    let mut rng = rand::rngs::StdRng::seed_from_u64(20261129);
    let (mut codes, mut notices) = (Vec::new(), Vec::new());
    for i in 0..n {
        let after = Duration::from_millis(rng.random_range(0..60));
        match rng.random_range(0..3) {
            0 => {
                let name = format!("Người dân {i}");
                if let Some(out) = run_and_kill(
                    &kiosk,
                    &[
                        "request",
                        "submit",
                        "--hamlet",
                        "Nà Khoang",
                        "--name",
                        &name,
                        "--text",
                        "Hỏi",
                    ],
                    after,
                ) {
                    codes.push(out.trim().to_string());
                }
            }
            1 => {
                let title = format!("Thông báo {i}");
                if let Some(out) =
                    run_and_kill(&office, &["notice", "post", "--title", &title], after)
                {
                    notices.push(out.trim().to_string());
                }
            }
            _ => {
                // A sync killed mid-way, on either side.
                let served = office.serve(&[]);
                let peer = served.peer.clone();
                let victim_is_server = rng.random_bool(0.5);
                if victim_is_server {
                    let child = std::thread::spawn({
                        let k = CliNode {
                            dir: kiosk.dir.clone(),
                        };
                        move || {
                            k.cmd(&[
                                "sync",
                                "--peer",
                                &peer,
                                "--timeout",
                                "5",
                                "--listen",
                                "127.0.0.1:0",
                            ])
                        }
                    });
                    std::thread::sleep(after);
                    let mut served = served;
                    let _ = served.child.kill();
                    let _ = child.join();
                } else {
                    run_and_kill(
                        &kiosk,
                        &[
                            "sync",
                            "--peer",
                            &peer,
                            "--timeout",
                            "5",
                            "--listen",
                            "127.0.0.1:0",
                        ],
                        after,
                    );
                    served.stop();
                }
            }
        }
        // After every cut both stores open and are consistent.
        for node in [&office, &kiosk] {
            let r = Repo::open(&node.dir).unwrap();
            assert_eq!(r.store().integrity_check().unwrap(), "ok");
        }
    }
    let k = Repo::open(&kiosk.dir).unwrap();
    for c in &codes {
        assert!(
            k.request(c).unwrap().is_some(),
            "acknowledged request {c} lost"
        );
    }
    let o = Repo::open(&office.dir).unwrap();
    for id in &notices {
        assert!(
            o.notice(&id.parse().unwrap()).unwrap().is_some(),
            "acknowledged notice {id} lost"
        );
    }
    // And the nodes still serve and converge.
    let s = office.serve(&[]);
    kiosk.sync_with(&s);
    s.stop();
    let o = Repo::open(&office.dir).unwrap();
    for c in &codes {
        assert!(
            o.request(c).unwrap().is_some(),
            "request {c} did not reach the office"
        );
    }
    eprintln!(
        "power cut: {n} iterations, {} requests + {} notices acknowledged, 0 lost",
        codes.len(),
        notices.len()
    );
}

#[test]
fn restored_backup_does_not_wedge_sync_or_reuse_codes() {
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    let draft = |n: &str| RequestDraft {
        hamlet: "Nà Khoang".into(),
        name: n.into(),
        text: "Hỏi".into(),
        ..Default::default()
    };
    let a = kiosk.submit_request(&draft("A")).unwrap();
    exchange(&mut kiosk, &mut c.office);
    // Back up the kiosk's data dir.
    let dir = kiosk.data_dir().to_path_buf();
    drop(kiosk);
    let backup = c.base.path().join("kiosk-backup");
    copy_dir(&dir, &backup);
    let mut kiosk = Repo::open(&dir).unwrap();
    let b = kiosk.submit_request(&draft("B")).unwrap();
    exchange(&mut kiosk, &mut c.office);
    // The kiosk's disk dies; it is restored from the older backup.
    drop(kiosk);
    std::fs::remove_dir_all(&dir).unwrap();
    copy_dir(&backup, &dir);
    let mut kiosk = Repo::open(&dir).unwrap();
    assert!(
        kiosk.request(&b.code).unwrap().is_none(),
        "the backup predates B"
    );
    // New writes after the restore use a fresh actor: no (actor, seq) is reused.
    let c2 = kiosk.submit_request(&draft("C")).unwrap();
    exchange(&mut kiosk, &mut c.office);
    for code in [&a.code, &b.code, &c2.code] {
        assert!(kiosk.request(code).unwrap().is_some(), "{code} on kiosk");
        assert!(
            c.office.request(code).unwrap().is_some(),
            "{code} on office"
        );
    }
    assert_eq!(digest_of(&kiosk), digest_of(&c.office));
    assert_eq!(
        kiosk.status().unwrap().rejected,
        0,
        "no change was refused as a duplicate"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn full_disk_gives_a_clear_error_keeps_data_and_recovers() {
    let base = tempfile::tempdir().unwrap();
    let mnt = base.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let office = CliNode::new(&mnt, "office");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    let first = office.ok(&[
        "notice",
        "post",
        "--title",
        "Trước khi đầy đĩa",
        "--body",
        "Nội dung",
    ]);
    // Fill the disk.
    let filler = mnt.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let body = "ạ".repeat(5000);
    let mut failed = None;
    for i in 0..200 {
        let o = office.cmd(&[
            "notice",
            "post",
            "--title",
            &format!("Thông báo {i}"),
            "--body",
            &body,
        ]);
        if !o.status.success() {
            failed = Some(String::from_utf8_lossy(&o.stderr).to_string());
            break;
        }
    }
    let err = failed.expect("writes must fail on a full disk");
    assert!(
        err.contains("disk holding")
            && err.contains("is full")
            && err.contains("nothing was saved"),
        "unclear error: {err}"
    );
    // Space is freed: nothing earlier was lost or corrupted, and writing works again.
    std::fs::remove_file(&filler).unwrap();
    let shown = office.json(&["notice", "show", first.trim()]);
    assert_eq!(shown["title"], "Trước khi đầy đĩa");
    office.ok(&["notice", "post", "--title", "Sau khi dọn đĩa"]);
    let r = Repo::open(&office.dir).unwrap();
    assert_eq!(r.store().integrity_check().unwrap(), "ok");
}

fn link_pair(
    notices: usize,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    usize,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut p = lab::Pair::create(dir.path()).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let changes: Vec<SignedChange> = (0..notices)
        .map(|_| lab::notice(p.office.identity(), &mut rng, 800, false))
        .collect();
    lab::load(&mut p.office, changes, None).unwrap();
    let total = p.office.status().unwrap().changes as usize;
    let (o, k) = (
        p.office.data_dir().to_path_buf(),
        p.kiosk.data_dir().to_path_buf(),
    );
    (dir, o, k, total)
}

#[test]
fn cut_links_keep_what_arrived_and_converge_without_duplicates() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_dir, office, kiosk, _) = link_pair(150);
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut prev = Repo::open(&kiosk).unwrap().status().unwrap().changes;
    for attempt in 0..4 {
        let cut = rng.random_range(5_000..60_000);
        let r = rt.block_on(lab::sync_over_link_cut(
            &office,
            &kiosk,
            LinkSpec::perfect(),
            None,
            Duration::from_secs(4),
            cut,
        ));
        let now = Repo::open(&kiosk).unwrap().status().unwrap().changes;
        assert!(
            now >= prev,
            "attempt {attempt}: changes were lost after a cut ({prev} → {now})"
        );
        prev = now;
        if r.is_ok() {
            break;
        }
    }
    rt.block_on(lab::sync_over_link(
        &office,
        &kiosk,
        LinkSpec::perfect(),
        None,
        Duration::from_secs(60),
    ))
    .unwrap();
    let (o, k) = (Repo::open(&office).unwrap(), Repo::open(&kiosk).unwrap());
    assert_eq!(digest_of(&o), digest_of(&k));
    assert_eq!(o.notices().unwrap().len(), k.notices().unwrap().len());
    // The log has no duplicate: every change once.
    let mut hashes: Vec<_> = k
        .all_changes()
        .unwrap()
        .into_iter()
        .map(|c| c.verify().unwrap().hash)
        .collect();
    let n = hashes.len();
    hashes.sort();
    hashes.dedup();
    assert_eq!(n, hashes.len());
}

#[test]
fn lossy_jittery_link_still_converges() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_dir, office, kiosk, _) = link_pair(30);
    let spec = LinkSpec {
        rtt: Duration::from_millis(100),
        jitter: Duration::from_secs(1),
        loss: 0.10,
        rate_bps: 0,
        seed: 5,
    };
    let m = rt
        .block_on(lab::sync_over_link(
            &office,
            &kiosk,
            spec,
            None,
            Duration::from_secs(240),
        ))
        .unwrap();
    let (o, k) = (Repo::open(&office).unwrap(), Repo::open(&kiosk).unwrap());
    assert_eq!(digest_of(&o), digest_of(&k));
    assert!(m.dropped_packets > 0, "the link really lost packets");
    if m.isolated {
        assert!(
            m.udp_bytes >= m.payload_bytes,
            "all traffic crossed the emulated link: {m:?}"
        );
    }
}

fn valid_frames() -> Vec<Vec<u8>> {
    let mut c = Commune::new();
    let id = c
        .office
        .post_notice(&NoticeDraft {
            title: "Thông báo".into(),
            body: "Nội dung dài ".repeat(30),
            ..Default::default()
        })
        .unwrap();
    let changes = c.office.changes_missing(&id, &[]).unwrap();
    vec![
        wire::encode(&wire::Msg::Changes { changes }),
        wire::encode(&wire::Msg::Hello {
            version: wire::VERSION,
            commune: c.office.node_id(),
            nonce: [3; 16],
            set: [4; 16],
            total: 7,
            classes: vec![wire::ClassSum {
                class: 2,
                count: 7,
                fp: [5; 8],
            }],
            recent: vec![wire::Located {
                class: 2,
                leaf: 0x1234,
                id: [6; 8],
            }],
            wall_ms: Some(1_789_002_000_000),
            upto: Some(wire::UPTO),
            restricted: None,
            later: None,
        }),
        wire::encode(&wire::Msg::Ranges {
            ranges: vec![
                wire::Range::Children {
                    node: conglang::sync::NodeRef::root(2),
                    kids: vec![wire::Kid {
                        nibble: 3,
                        count: 2,
                        fp: [7; 8],
                    }],
                },
                wire::Range::Items {
                    node: conglang::sync::NodeRef::root(4),
                    ids: vec![[8; 8], [9; 8]],
                },
                wire::Range::Want {
                    node: conglang::sync::NodeRef::root(0),
                    ids: vec![[1; 8]],
                },
            ],
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn decoder_survives_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut r = wire::FrameReader::default();
        r.push(&bytes);
        for _ in 0..8 {
            match r.next_msg() {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        let _ = wire::decode(&bytes);
    }

    #[test]
    fn mutated_frames_never_store_junk(idx in 0usize..3, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let frames = valid_frames();
        let mut f = frames[idx].clone();
        for (pos, x) in flips {
            let n = f.len();
            f[pos % n] ^= x | 1;
        }
        let mut r = wire::FrameReader::default();
        r.push(&f);
        if let Ok(Some(wire::Msg::Changes { changes })) = r.next_msg() {
            let mut c = Commune::new();
            let before = c.office.status().unwrap().changes;
            let rep = c.office.import(changes.clone(), None).unwrap();
            // Whatever was accepted verifies; nothing else was stored.
            prop_assert_eq!(c.office.status().unwrap().changes, before + rep.accepted as i64);
            for ch in c.office.all_changes().unwrap() {
                prop_assert!(ch.verify().is_ok());
            }
        }
    }

    #[test]
    fn session_survives_arbitrary_messages(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..512), 1..16)) {
        let mut c = Commune::new();
        let commune = c.office.commune_id().unwrap().unwrap();
        let peer = conglang::identity::Identity::generate().node_id();
        let mut s = conglang::sync::Session::new(c.office.node_id(), peer, commune, [7; 16]);
        s.start(&mut c.office).unwrap();
        let before = c.office.status().unwrap().changes;
        let mut valid = valid_frames();
        valid.extend(frames);
        for f in valid {
            if let Ok(m) = wire::decode(&f[4.min(f.len())..])
                && s.handle_message(m, &mut c.office).is_err()
            {
                break;
            }
            while s.poll_transmit().is_some() {}
        }
        prop_assert!(c.office.status().unwrap().changes >= before);
    }
}

#[test]
fn truncated_and_corrupt_bundles_import_nothing_wrong() {
    let mut c = Commune::new();
    for i in 0..40 {
        c.office
            .post_notice(&NoticeDraft {
                title: format!("Thông báo {i}"),
                body: "Nội dung ".repeat(200),
                ..Default::default()
            })
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usb.bundle");
    conglang::bundle::export(&c.office, &path, None).unwrap();
    let full = std::fs::read(&path).unwrap();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    // Truncated in the middle.
    std::fs::write(&path, &full[..full.len() * 2 / 3]).unwrap();
    let r = conglang::bundle::import(&mut kiosk, &path).unwrap();
    assert!(!r.skipped.is_empty(), "the cut is reported");
    // Corrupt bytes.
    let mut bad = full.clone();
    let n = bad.len();
    for i in (n / 2..n).step_by(97) {
        bad[i] ^= 0x5a;
    }
    std::fs::write(&path, &bad).unwrap();
    let _ = conglang::bundle::import(&mut kiosk, &path).unwrap();
    for ch in kiosk.all_changes().unwrap() {
        ch.verify().unwrap();
    }
    // The whole bundle completes it, and importing twice changes nothing.
    std::fs::write(&path, &full).unwrap();
    conglang::bundle::import(&mut kiosk, &path).unwrap();
    let again = conglang::bundle::import(&mut kiosk, &path).unwrap();
    assert_eq!(again.accepted, 0);
    assert_eq!(kiosk.notices().unwrap().len(), 40);
}

/// Writes the fuzzers' seed corpora (committed under fuzz/corpus):
/// `cargo test --test it write_fuzz_seeds -- --ignored`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let frames = valid_frames();
    let mut c = Commune::new();
    let mut kiosk = c.member("kiosk", Role::Kiosk);
    kiosk
        .submit_request(&RequestDraft {
            hamlet: "Nà Khoang".into(),
            name: "Đinh Thị Nở".into(),
            text: "Hỏi".into(),
            phone: Some("0912".into()),
            ..Default::default()
        })
        .unwrap();
    let all = kiosk.all_changes().unwrap();
    for (target, seeds) in [
        ("wire_decode", frames.clone()),
        ("session", frames.clone()),
        (
            "bundle_import",
            vec![wire::encode(&wire::Msg::Changes {
                changes: all.clone(),
            })],
        ),
        (
            "change_verify",
            all.iter()
                .map(|ch| [ch.sig.to_vec(), ch.bytes.clone()].concat())
                .collect(),
        ),
    ] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), s).unwrap();
        }
    }
}

/// Regression: the change_verify fuzzer found bytes on which automerge's change
/// decoder panics (an op id counter that overflows). Verifying or importing them
/// must refuse them, not crash the node.
#[test]
fn fuzz_found_op_id_overflow_in_change_decoder_is_refused_not_a_crash() {
    let data = include_bytes!("fixtures/fuzz-change-opid-overflow.bin");
    let (sig, bytes) = data.split_at(64);
    let c = SignedChange {
        doc: conglang::model::DocId::roster(),
        bytes: bytes.to_vec(),
        sig: sig.try_into().unwrap(),
    };
    let e = c.clone().verify().unwrap_err();
    assert!(e.to_string().contains("malformed change"), "{e}");
    let mut commune = Commune::new();
    let before = commune.office.status().unwrap().changes;
    let r = commune.office.import(vec![c], None).unwrap();
    assert_eq!((r.accepted, r.rejected.len()), (0, 1));
    assert_eq!(commune.office.status().unwrap().changes, before);
}
