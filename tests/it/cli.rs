//! The headless CLI flow an official and a kiosk technician use, end to end through
//! the real binary on real data dirs.

use crate::harness::{CliNode, enrol};

#[test]
fn whole_cli_flow_with_vietnamese_round_trip() {
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let kiosk = CliNode::new(base.path(), "kiosk");

    let init = office.json(&[
        "init",
        "--commune",
        "Xã Long Môn",
        "--name",
        "UBND xã Long Môn",
    ]);
    assert_eq!(
        init["node_id"], init["commune_id"],
        "the founder's key is the commune id"
    );
    let office_id = office.id();
    assert_eq!(init["node_id"].as_str().unwrap(), office_id);

    // The key file is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(office.dir.join("node.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let kiosk_id = kiosk.id();
    assert_eq!(kiosk.id(), kiosk_id, "id is stable");
    let invite = office.ok(&[
        "roster",
        "add",
        &kiosk_id,
        "--role",
        "kiosk",
        "--name",
        "Nhà văn hóa thôn Nà Khoang",
    ]);
    kiosk.ok(&["join", invite.trim()]);
    let roster = office.json(&["roster", "list"]);
    assert_eq!(roster.as_array().unwrap().len(), 2);

    // Decomposed input (e + combining marks) is stored as NFC.
    let title = "Thông báo cấp Căn cước công dân";
    let body_nfd = "Bà con mang theo giâ\u{0301}y khai sinh. Việt Nam: ươ ữ ộ ả ệ ỵ";
    let id = office.ok(&[
        "notice",
        "post",
        "--title",
        title,
        "--body",
        body_nfd,
        "--category",
        "schedule",
        "--starts",
        "2026-12-05T08:00:00+07:00",
        "--place",
        "Nhà văn hóa thôn Nà Khoang",
    ]);
    let id = id.trim();
    let shown = office.json(&["notice", "show", id]);
    assert_eq!(shown["title"], title);
    assert!(
        shown["body"].as_str().unwrap().contains("giấy khai sinh"),
        "NFC: {}",
        shown["body"]
    );
    assert_eq!(shown["place"], "Nhà văn hóa thôn Nà Khoang");
    assert_eq!(shown["category"], "schedule");
    let urgent = office.ok(&[
        "notice",
        "post",
        "--title",
        "Cảnh báo lũ quét",
        "--body",
        "Sơ tán ngay",
        "--category",
        "storm",
        "--urgent",
    ]);
    let list = office.json(&["notice", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    office.ok(&["notice", "withdraw", urgent.trim()]);
    assert_eq!(
        office.json(&["notice", "list"]).as_array().unwrap().len(),
        1,
        "withdrawn notices leave the list"
    );
    assert_eq!(
        office
            .json(&["notice", "list", "--all"])
            .as_array()
            .unwrap()
            .len(),
        2
    );

    office.ok(&[
        "procedure",
        "add",
        "--title",
        "Đăng ký khai sinh",
        "--papers",
        "Giấy chứng sinh; CCCD của cha mẹ; Giấy đăng ký kết hôn",
        "--fee",
        "Miễn phí",
        "--days",
        "1",
    ]);
    let procs = office.json(&["procedure", "list"]);
    assert_eq!(procs[0]["papers"].as_array().unwrap().len(), 3);

    // A kiosk may not post notices or answer: clear error, non-zero exit, nothing written.
    let before = kiosk.json(&["status"]);
    let o = kiosk.cmd(&["notice", "post", "--title", "Giả mạo"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not a member") || err.contains("may not"),
        "{err}"
    );
    assert_eq!(kiosk.json(&["status"])["changes"], before["changes"]);

    // Requests: the office files one on a resident's behalf and answers it.
    let code = office.ok(&[
        "request",
        "submit",
        "--hamlet",
        "Nà Khoang",
        "--name",
        "Đinh Thị Nở",
        "--text",
        "Làm căn cước cần giấy tờ gì?",
        "--phone",
        "0912 345 678",
        "--kind",
        "appointment",
    ]);
    let code = code.trim();
    assert!(code.starts_with("LM-1"), "tracking code {code}");
    let r = office.json(&["request", "show", code]);
    assert_eq!(r["status"], "new");
    assert_eq!(r["contact"], "0912 345 678", "officials read the contact");
    office.ok(&[
        "request",
        "answer",
        code,
        "--text",
        "Mang sổ hộ khẩu và giấy khai sinh.",
        "--appointment",
        "2026-12-05T09:00:00+07:00",
        "--place",
        "UBND xã",
    ]);
    let r = office.json(&["request", "show", &code.to_lowercase()]);
    assert_eq!(r["status"], "scheduled");
    assert_eq!(
        r["answers"][0]["text"],
        "Mang sổ hộ khẩu và giấy khai sinh."
    );
    assert_eq!(r["appointment"]["place"], "UBND xã");

    // Survives restart: every command is a fresh process already; check counts.
    let s = office.json(&["status"]);
    assert_eq!(s["role"], "official");
    assert_eq!(s["docs"]["notice"], 2);
    assert_eq!(s["docs"]["procedure"], 1);
    assert_eq!(s["docs"]["request"], 1);

    // Bad input: clear errors, nothing written.
    for bad in [
        vec!["notice", "post", "--title", "x", "--category", "weather"],
        vec![
            "notice", "post", "--title", "x", "--starts", "tomorrow", "--place", "y",
        ],
        vec!["notice", "post", "--title", "   "],
        vec!["request", "answer", "LM-0000", "--text", "x"],
    ] {
        let o = office.cmd(&bad);
        assert!(!o.status.success(), "{bad:?} should fail");
        assert!(!o.stderr.is_empty());
    }
    assert_eq!(office.json(&["status"])["changes"], s["changes"]);
}

#[test]
fn config_files_load_and_bad_ones_are_explained() {
    let base = tempfile::tempdir().unwrap();
    for name in ["commune-office", "village-hall", "courier-laptop"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("kiosk-config")
            .join(format!("{name}.toml"));
        conglang::config::Config::load(&path).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
    let bad = base.path().join("bad.toml");
    std::fs::write(&bad, "[network]\npeers = [\"nobody@somewhere\"]\n").unwrap();
    let o = crate::harness::bin()
        .arg("--config")
        .arg(&bad)
        .arg("status")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("network.peers") && err.contains("bad.toml"),
        "{err}"
    );
}

/// A commune's office and one enrolled village kiosk, both CLI nodes under `base`.
fn office_and_kiosk(base: &std::path::Path) -> (CliNode, CliNode) {
    let office = CliNode::new(base, "office");
    let kiosk = CliNode::new(base, "kiosk");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    enrol(&office, &kiosk, "kiosk", "Kiosk Bản Chang");
    (office, kiosk)
}

#[test]
fn bundle_export_for_a_node_and_import_on_a_usb_stick() {
    let base = tempfile::tempdir().unwrap();
    let (office, kiosk) = office_and_kiosk(base.path());
    let kid = kiosk.id();
    let n = office.ok(&[
        "notice",
        "post",
        "--title",
        "Lịch khám sức khỏe miễn phí",
        "--category",
        "health",
    ]);
    let file = base.path().join("usb.bundle");
    let f = file.to_str().unwrap();
    let exported = office.json(&["bundle", "export", f, "--for", &kid]);
    assert!(exported["changes"].as_u64().unwrap() >= 2);
    let imported = kiosk.json(&["bundle", "import", f]);
    assert_eq!(imported["rejected"], 0);
    assert_eq!(
        kiosk.json(&["notice", "show", n.trim()])["title"],
        "Lịch khám sức khỏe miễn phí"
    );
    // Idempotent.
    let again = kiosk.json(&["bundle", "import", f]);
    assert_eq!(again["accepted"], 0);
    // The kiosk's receipt travels back by bundle too; then the office's next bundle
    // for it leaves out the notice it already holds.
    let back = base.path().join("back.bundle");
    kiosk.json(&["bundle", "export", back.to_str().unwrap()]);
    office.json(&["bundle", "import", back.to_str().unwrap()]);
    let reach = office.json(&["reach", n.trim()]);
    assert!(
        reach
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "Kiosk Bản Chang" && r["version"] == "latest"),
        "{reach}"
    );
    office.json(&["bundle", "export", f, "--for", &kid]);
    let docs = conglang::bundle::doc_ids(&file).unwrap();
    assert!(
        !docs.iter().any(|d| d.as_str() == n.trim()),
        "the notice the kiosk holds is left out: {docs:?}"
    );
    // Garbage is refused with a clear message.
    std::fs::write(&file, b"not a bundle").unwrap();
    let o = kiosk.cmd(&["bundle", "import", f]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a Cổng Làng bundle"));
}

/// Receipts say which version a node holds. A withdrawal is a new version: until the
/// kiosk has it, `reach` says the kiosk still shows the older one and `bundle export
/// --for` carries the notice again; once its receipt comes back, both say so. Decided
/// by content (heads), not by comparing the two nodes' clocks.
#[test]
fn reach_and_bundle_for_follow_the_version_a_kiosk_holds_withdrawals_included() {
    let base = tempfile::tempdir().unwrap();
    let (office, kiosk) = office_and_kiosk(base.path());
    let kid = kiosk.id();
    let n = office.ok(&[
        "notice",
        "post",
        "--title",
        "Họp dân bản",
        "--category",
        "schedule",
    ]);
    let n = n.trim();
    let file = base.path().join("usb.bundle");
    let f = file.to_str().unwrap();
    let back = base.path().join("back.bundle");
    let b = back.to_str().unwrap();
    let round_trip = || {
        office.json(&["bundle", "export", f, "--for", &kid]);
        kiosk.json(&["bundle", "import", f]);
        kiosk.json(&["bundle", "export", b]);
        office.json(&["bundle", "import", b]);
    };
    let kiosk_version = || {
        let reach = office.json(&["reach", n]);
        reach
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "Kiosk Bản Chang")
            .map(|r| r["version"].as_str().unwrap().to_string())
    };
    round_trip();
    assert_eq!(kiosk_version().as_deref(), Some("latest"));
    office.json(&["bundle", "export", f, "--for", &kid]);
    assert!(
        !conglang::bundle::doc_ids(&file)
            .unwrap()
            .iter()
            .any(|d| d.as_str() == n),
        "the kiosk holds this version: left out"
    );
    // Withdrawn at the office: the kiosk still shows it live until it gets the change.
    office.ok(&["notice", "withdraw", n]);
    assert_eq!(kiosk_version().as_deref(), Some("older"));
    let text = String::from_utf8_lossy(&office.cmd(&["reach", n]).stdout).to_string();
    assert!(text.contains("OLDER version"), "{text}");
    office.json(&["bundle", "export", f, "--for", &kid]);
    assert!(
        conglang::bundle::doc_ids(&file)
            .unwrap()
            .iter()
            .any(|d| d.as_str() == n),
        "the withdrawal must go to the kiosk"
    );
    kiosk.json(&["bundle", "import", f]);
    assert_eq!(kiosk.json(&["notice", "show", n])["withdrawn"], true);
    kiosk.json(&["bundle", "export", b]);
    office.json(&["bundle", "import", b]);
    assert_eq!(kiosk_version().as_deref(), Some("latest"));
    office.json(&["bundle", "export", f, "--for", &kid]);
    assert!(
        !conglang::bundle::doc_ids(&file)
            .unwrap()
            .iter()
            .any(|d| d.as_str() == n),
        "the kiosk holds the withdrawal now"
    );
}

/// An installer reads `--help` instead of the source: every option that takes one of a
/// fixed set of words lists them, and a wrong word is refused with the list.
#[test]
fn help_lists_every_choice_of_every_option() {
    use conglang::model::{Category, RequestKind, Role, Status};
    let cases: [(&[&str], &str, Vec<&str>); 4] = [
        (
            &["roster", "add", "--help"],
            "--role",
            Role::ALL.iter().map(|r| r.as_str()).collect(),
        ),
        (
            &["notice", "post", "--help"],
            "--category",
            Category::ALL.iter().map(|c| c.as_str()).collect(),
        ),
        (
            &["request", "submit", "--help"],
            "--kind",
            RequestKind::ALL.iter().map(|k| k.as_str()).collect(),
        ),
        (
            &["request", "answer", "--help"],
            "--status",
            Status::ALL.iter().map(|s| s.as_str()).collect(),
        ),
    ];
    for (args, option, values) in cases {
        let o = crate::harness::bin().args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&o.stdout);
        // The option's own paragraph: its line and the more indented lines below it.
        let mut lines = help
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(&format!("{option} <")));
        let head = lines
            .next()
            .unwrap_or_else(|| panic!("{args:?}: no {option}:\n{help}"));
        let indent = |l: &str| l.len() - l.trim_start().len();
        let body: Vec<&str> = lines
            .take_while(|l| l.trim().is_empty() || indent(l) > indent(head))
            .collect();
        let para = format!("{head}\n{}", body.join("\n"));
        for v in &values {
            assert!(para.contains(v), "{option} help lacks {v:?}:\n{para}");
        }
    }
    let o = crate::harness::bin()
        .args(["notice", "post", "--title", "x", "--category", "flood"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("flood") && err.contains("storm"), "{err}");
}
