//! Pairing without typing an id (issue 13, point 2), between real processes: the new
//! machine runs `conglang pair`, the office `conglang roster pair`, each in its own
//! network namespace joined by a veth cable (`lab::netns::Lan`), finding each other
//! by mDNS only. The test reads the code each prints and types it back as the people
//! would — the right one, a wrong one, or nothing — and checks what the rosters hold.
//! Needs root for the namespaces (skipped with a message otherwise); the re-enrolment
//! case runs on loopback with `--probe`, the path for networks mDNS cannot cross.

use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use conglang::lab::netns::Lan;
use conglang::repo::Repo;

use crate::harness::{CliNode, bin};

/// A pairing process: stdin to type into, stdout lines as they come.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    err: std::path::PathBuf,
}

impl Proc {
    fn start(ns: Option<&str>, node: &CliNode, args: &[&str]) -> Proc {
        std::fs::create_dir_all(&node.dir).unwrap();
        let exe = bin().get_program().to_owned();
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let err = node.dir.with_extension("pair.log");
        let mut child = cmd
            .arg("--data")
            .arg(&node.dir)
            .args(args)
            .env(
                "CONGLANG_LOG",
                "info,iroh=warn,noq=warn,swarm_discovery=error",
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("spawn conglang");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Proc {
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            err,
        }
    }

    /// The first stdout line starting with `prefix`, waiting up to `limit`.
    fn line(&mut self, prefix: &str, limit: Duration) -> Option<String> {
        let t0 = Instant::now();
        loop {
            if let Some(l) = self.seen.iter().find(|l| l.starts_with(prefix)) {
                return Some(l.clone());
            }
            let left = limit.checked_sub(t0.elapsed())?;
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => return None,
            }
        }
    }

    fn code(&mut self) -> String {
        let l = self
            .line("code ", Duration::from_secs(60))
            .unwrap_or_else(|| panic!("no code shown\n{}", self.log()));
        l["code ".len()..].trim().to_string()
    }

    fn type_line(&mut self, s: &str) {
        let i = self.stdin.as_mut().unwrap();
        writeln!(i, "{s}").unwrap();
        i.flush().unwrap();
    }

    /// Waits for the exit; true if it succeeded.
    fn wait(&mut self, limit: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("did not exit within {limit:?}\n{}", self.log());
    }

    fn log(&self) -> String {
        format!(
            "stdout: {:?}\nstderr:\n{}",
            self.seen,
            std::fs::read_to_string(&self.err).unwrap_or_default()
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Office (namespace 0) and a new machine (namespace 1) joined by a plugged cable.
fn setup(tag: &str) -> Option<(Lan, tempfile::TempDir, CliNode, CliNode)> {
    let mut lan = match Lan::create(tag, 2) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("SKIPPED: cannot create network namespaces here (needs root): {e:#}");
            return None;
        }
    };
    let cable = lan
        .add_link(0, 1, "10.231.0.1/24", "10.231.0.2/24")
        .unwrap();
    lan.up(cable).unwrap();
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let machine = CliNode::new(base.path(), "machine");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    Some((lan, base, office, machine))
}

fn members(node: &CliNode) -> usize {
    Repo::open(&node.dir)
        .unwrap()
        .roster()
        .unwrap()
        .members
        .len()
}

fn is_member(node: &CliNode) -> bool {
    Repo::open(&node.dir).unwrap().my_role().unwrap().is_some()
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn two_machines_pair_by_the_short_code_with_no_typed_id() {
    let Some((lan, _base, office, machine)) = setup("pair") else {
        return;
    };
    let mut m = Proc::start(Some(lan.ns(1)), &machine, &["pair"]);
    m.line("waiting ", LIMIT).expect("machine waits");
    // The office is told nothing about the machine: it finds it on the LAN.
    let t0 = Instant::now();
    let mut o = Proc::start(
        Some(lan.ns(0)),
        &office,
        &[
            "roster",
            "pair",
            "--role",
            "kiosk",
            "--name",
            "Kiosk Nà Khoang",
            "--place",
            "Thôn Nà Khoang",
        ],
    );
    let found = o
        .line("machine ", LIMIT)
        .unwrap_or_else(|| panic!("office found no machine\n{}\n{}", o.log(), m.log()));
    assert!(found.contains(&machine.id()), "{found}");
    let t_found = t0.elapsed();
    let (co, cm) = (o.code(), m.code());
    let t_code = t0.elapsed();
    assert_eq!(co, cm, "both screens show one code");
    assert_eq!(co.len(), 6);
    // Each person types the code the other screen shows.
    m.type_line(&co);
    o.type_line(&cm);
    assert!(o.wait(LIMIT), "office failed\n{}", o.log());
    assert!(m.wait(LIMIT), "machine failed\n{}", m.log());
    // The figure in the report: office started → machine listed → code shown →
    // both confirmed → member (the codes are typed back at once here).
    eprintln!(
        "pairing in namespaces: listed after {t_found:?}, code after {t_code:?}, joined after {:?}",
        t0.elapsed()
    );
    assert!(o.line("enrolled ", LIMIT).is_some());
    assert!(
        m.line("joined Xã Long Môn as kiosk", LIMIT).is_some(),
        "{}",
        m.log()
    );
    // The machine is a member at once (the invite is a proof), with its place.
    let repo = Repo::open(&machine.dir).unwrap();
    let me = repo.node_id();
    let roster = repo.roster().unwrap();
    let row = roster.member(&me).expect("enrolled");
    assert_eq!(row.name, "Kiosk Nà Khoang");
    assert_eq!(row.place, "Thôn Nà Khoang");
    assert_eq!(repo.my_role().unwrap(), Some(conglang::model::Role::Kiosk));
    assert_eq!(members(&office), 2);
    // A member is not paired again.
    let again = machine.cmd(&["pair"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already belongs"));
}

#[test]
fn a_wrong_code_enrols_nothing() {
    let Some((lan, _base, office, machine)) = setup("pairno") else {
        return;
    };
    let mut m = Proc::start(Some(lan.ns(1)), &machine, &["pair"]);
    m.line("waiting ", LIMIT).expect("machine waits");
    let mut o = Proc::start(
        Some(lan.ns(0)),
        &office,
        &["roster", "pair", "--role", "kiosk", "--name", "Kiosk"],
    );
    let (co, cm) = (o.code(), m.code());
    // The machine's person confirms; the official reads another code.
    m.type_line(&co);
    let wrong = format!("{:06}", (cm.parse::<u32>().unwrap() + 1) % 1_000_000);
    o.type_line(&wrong);
    assert!(!o.wait(LIMIT), "office said it enrolled\n{}", o.log());
    assert!(!m.wait(LIMIT), "machine said it joined\n{}", m.log());
    assert!(
        m.log().contains("the office said the codes differ"),
        "{}",
        m.log()
    );
    assert_eq!(members(&office), 1, "the roster changed");
    assert!(!is_member(&machine));
    assert!(
        Repo::open(&machine.dir)
            .unwrap()
            .commune_id()
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_timeout_enrols_nothing() {
    let Some((lan, _base, office, machine)) = setup("pairtime") else {
        return;
    };
    let mut m = Proc::start(Some(lan.ns(1)), &machine, &["pair"]);
    m.line("waiting ", LIMIT).expect("machine waits");
    let mut o = Proc::start(
        Some(lan.ns(0)),
        &office,
        &[
            "roster",
            "pair",
            "--role",
            "kiosk",
            "--name",
            "Kiosk",
            "--timeout",
            "3",
        ],
    );
    let (co, _) = (o.code(), m.code());
    // The machine's person confirms; nobody answers at the office.
    m.type_line(&co);
    let t0 = Instant::now();
    assert!(!o.wait(LIMIT), "office enrolled\n{}", o.log());
    assert!(!m.wait(LIMIT), "machine joined\n{}", m.log());
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert!(o.log().contains("nobody confirmed"), "{}", o.log());
    assert!(m.log().contains("nobody confirmed"), "{}", m.log());
    assert_eq!(members(&office), 1, "the roster changed");
    assert!(!is_member(&machine));
}

/// A key the roster holds as a kiosk is refused as a courier by pairing (in the
/// office's words on both sides) with the roster unchanged; as a kiosk it gets its
/// invite again and joins. Loopback, the machine named with `--probe`.
#[test]
fn an_enrolled_machine_is_not_enrolled_again_under_another_role() {
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let machine = CliNode::new(base.path(), "machine");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    // Enrolled at the office (say by an invite that never reached it).
    office.ok(&[
        "roster",
        "add",
        &machine.id(),
        "--role",
        "kiosk",
        "--name",
        "Kiosk",
    ]);
    let loopback = ["--listen", "127.0.0.1:0", "--no-mdns"];
    for (role, ok) in [("courier", false), ("kiosk", true)] {
        let mut args = vec!["pair"];
        args.extend(loopback);
        let mut m = Proc::start(None, &machine, &args);
        let w = m.line("waiting ", LIMIT).expect("machine waits");
        let addr = w
            .split("listening on ")
            .nth(1)
            .unwrap()
            .trim_end_matches(')');
        let probe = format!("{}@{addr}", machine.id());
        let mut a = vec![
            "roster", "pair", "--role", role, "--probe", &probe, "--scan", "20",
        ];
        a.extend(loopback);
        let mut o = Proc::start(None, &office, &a);
        let (co, cm) = (o.code(), m.code());
        assert_eq!(co, cm);
        m.type_line(&co);
        o.type_line(&cm);
        assert_eq!(o.wait(LIMIT), ok, "{role}\n{}", o.log());
        assert_eq!(m.wait(LIMIT), ok, "{role}\n{}", m.log());
        if !ok {
            assert!(o.log().contains("already enrolled as kiosk"), "{}", o.log());
            assert!(m.log().contains("already enrolled as kiosk"), "{}", m.log());
            assert!(!is_member(&machine));
        }
        let r = Repo::open(&office.dir).unwrap().roster().unwrap();
        let me: conglang::identity::NodeId = machine.id().parse().unwrap();
        assert_eq!(r.member(&me).unwrap().role, conglang::model::Role::Kiosk);
        assert_eq!(r.members.len(), 2);
    }
    assert!(is_member(&machine));
}

/// A member never answers pairing: the office asking a running member directly finds no
/// machine waiting, and nothing is enrolled or changed; nor does a machine whose
/// `serve` runs with nobody at a screen (it is not waiting).
#[test]
fn members_and_unattended_machines_do_not_pair() {
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let kiosk = CliNode::new(base.path(), "kiosk");
    let fresh = CliNode::new(base.path(), "fresh");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    crate::harness::enrol(&office, &kiosk, "kiosk", "Kiosk");
    for node in [&kiosk, &fresh] {
        let served = node.serve(&[]);
        let o = office.cmd(&[
            "roster",
            "pair",
            "--role",
            "courier",
            "--probe",
            &served.peer,
            "--scan",
            "4",
            "--listen",
            "127.0.0.1:0",
            "--no-mdns",
        ]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("no machine waiting to join was found"),
            "{err}"
        );
        served.stop();
    }
    assert_eq!(members(&office), 2);
    let r = Repo::open(&kiosk.dir).unwrap();
    assert_eq!(r.my_role().unwrap(), Some(conglang::model::Role::Kiosk));
    assert!(!is_member(&fresh));
}

// ---- the app: the waiting screen and the office's list, driven by egui_kittest ----

mod app {
    use std::time::{Duration, Instant};

    use conglang::identity::NodeId;
    use conglang::model::Role;
    use conglang::net::NetConfig;
    use conglang::node::{BackgroundNode, NodeOptions};
    use conglang::pair::format_code;
    use conglang::repo::Repo;
    use conglang::ui::{Clock, KioskApp};
    use egui::accesskit::Role as A11y;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;

    use crate::ui::{T0, app, field, mask};

    /// Taps a button. `run_ok`, not `run`: the nodes write to the stores between
    /// frames, and an app that refreshes a few more frames than kittest's budget is
    /// not a failure here.
    fn tap_button(h: &mut Harness<'static, KioskApp>, label: &str) {
        h.get_by_role_and_label(A11y::Button, label).scroll_to_me();
        h.run_ok();
        h.get_by_role_and_label(A11y::Button, label).click();
        h.run_ok();
    }

    fn type_into(h: &mut Harness<'static, KioskApp>, label: &str, text: &str) {
        field(h, label).click();
        h.run_ok();
        field(h, label).type_text(text);
        h.run_ok();
    }

    fn node(dir: &std::path::Path) -> BackgroundNode {
        BackgroundNode::start(
            dir.to_path_buf(),
            NodeOptions {
                net: NetConfig {
                    listen: "127.0.0.1:0".parse().unwrap(),
                    mdns: false,
                    relay_url: None,
                },
                peers: Vec::new(),
                redial: false,
                speak_version: None,
            },
        )
        .unwrap()
    }

    /// Steps the apps (no `run`: network news arrives between frames) until `f` holds.
    fn until(
        hs: &mut [&mut Harness<'static, KioskApp>],
        what: &str,
        mut f: impl FnMut(&mut [&mut Harness<'static, KioskApp>]) -> bool,
    ) {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            for h in hs.iter_mut() {
                h.step();
            }
            if f(hs) {
                for h in hs.iter_mut() {
                    h.run_ok();
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for: {what}");
    }

    struct Setup {
        _tmp: tempfile::TempDir,
        office_dir: std::path::PathBuf,
        machine_dir: std::path::PathBuf,
        office_node: BackgroundNode,
        machine_node: BackgroundNode,
        office: Harness<'static, KioskApp>,
        machine: Harness<'static, KioskApp>,
        machine_id: NodeId,
        label: String,
    }

    /// An office app and a fresh machine's app, each on a real node on loopback; the
    /// office asked about the machine directly (mDNS is what the namespace tests use).
    fn setup() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let office_dir = tmp.path().join("office");
        let machine_dir = tmp.path().join("machine");
        Repo::open(&office_dir)
            .unwrap()
            .init_commune("Xã Long Môn", "UBND xã Long Môn")
            .unwrap();
        let machine_id = Repo::open(&machine_dir).unwrap().node_id();
        let office_node = node(&office_dir);
        let machine_node = node(&machine_dir);
        let clock = Clock::manual(T0);
        // Tall enough that the office's code card clears the footer: kittest clicks
        // at a button's centre, which a footer can cover at 768 points.
        let mut office =
            crate::ui::app_sized(&office_dir, clock.clone(), egui::vec2(1024.0, 900.0), 1.0);
        let mut machine = app(&machine_dir, clock);
        office.state_mut().stations[0].pair = Some(office_node.handle.pair.clone());
        machine.state_mut().stations[0].pair = Some(machine_node.handle.pair.clone());
        machine.run_ok();
        office.run_ok();
        let label = machine_node.handle.pair.view().label;
        Setup {
            _tmp: tmp,
            office_dir,
            machine_dir,
            office_node,
            machine_node,
            office,
            machine,
            machine_id,
            label,
        }
    }

    /// The machine's waiting screen, the office's list, the code on both screens.
    /// `listed_as`: what the office's list must say about a key it already holds.
    fn to_code(s: &mut Setup, listed_as: Option<&str>) -> String {
        s.machine.get_by_label("Đang chờ gia nhập xã");
        crate::hall::assert_no_english(&s.machine, &mut 0, &[]);
        s.machine
            .get_by_label_contains(&format!("chọn máy này: «{}»", s.label));
        s.machine
            .get_by_role_and_label(A11y::Button, "Đọc tệp mời từ USB");
        let pair = s.machine_node.handle.pair.clone();
        until(&mut [&mut s.machine], "the machine to wait", |_| {
            pair.view().waiting
        });
        tap_button(&mut s.office, "Thiết bị");
        s.office.get_by_label("Máy mới đang chờ gia nhập");
        let addrs: Vec<_> = s.machine_node.addrs.clone();
        s.office_node.handle.pair.probe(s.machine_id, addrs);
        let button = format!("Ghép nối {}", s.label);
        until(
            &mut [&mut s.office],
            "the machine on the office's list",
            |h| {
                h[0].query_by_role_and_label(A11y::Button, &button)
                    .is_some()
            },
        );
        if let Some(l) = listed_as {
            s.office.get_by_label(l);
        }
        tap_button(&mut s.office, &button);
        let op = s.office_node.handle.pair.clone();
        let code = {
            let mut c = None;
            until(
                &mut [&mut s.office, &mut s.machine],
                "the code on both screens",
                |_| {
                    c = op.view().session.and_then(|x| x.code);
                    c.is_some() && pair.view().session.and_then(|x| x.code) == c
                },
            );
            format_code(c.unwrap())
        };
        // The same code, big, on both screens.
        s.office.get_by_label(&code);
        s.machine.get_by_label(&code);
        code
    }

    #[test]
    fn a_new_machine_waits_shows_the_office_code_and_opens_the_kiosk_home() {
        let mut s = setup();
        let code = to_code(&mut s, None);
        let mut results = egui_kittest::SnapshotResults::default();
        let id = s.machine_id.to_string();
        // The code and both keys are new on every run.
        mask(
            &mut s.office,
            &[
                code.clone(),
                s.label.clone(),
                s.office_node.handle.node_id.short(),
            ],
        );
        s.office.snapshot("pair_office_code");
        mask(&mut s.machine, &[code.clone(), s.label.clone(), id]);
        s.machine.snapshot("pair_machine_code");
        results.extend_harness(&mut s.office);
        results.extend_harness(&mut s.machine);
        // The person at the machine confirms, then the official fills in and confirms.
        tap_button(&mut s.machine, "Mã khớp");
        until(
            &mut [&mut s.machine],
            "the machine's wait for the office",
            |h| {
                h[0].query_by_label_contains("Đang chờ cán bộ xã xác nhận")
                    .is_some()
            },
        );
        let op = s.office_node.handle.pair.clone();
        until(&mut [&mut s.office], "the machine's confirmation", |_| {
            op.view().session.is_some_and(|x| x.confirmed_there)
        });
        s.office.get_by_label("Máy mới đã bấm «Mã khớp».");
        type_into(&mut s.office, "Nơi đặt máy", "Thôn Nà Khoang");
        tap_button(&mut s.office, "Mã khớp — thêm máy");
        until(
            &mut [&mut s.office, &mut s.machine],
            "the kiosk home",
            |h| {
                h[1].query_by_role_and_label(A11y::Button, "Gửi câu hỏi")
                    .is_some()
            },
        );
        // The office says so; the machine is a kiosk of the commune, its place set.
        until(&mut [&mut s.office], "the office's outcome", |h| {
            h[0].query_by_label_contains("vào xã").is_some()
        });
        let r = Repo::open(&s.machine_dir).unwrap();
        assert_eq!(r.my_role().unwrap(), Some(Role::Kiosk));
        let roster = Repo::open(&s.office_dir).unwrap().roster().unwrap();
        assert_eq!(
            roster.member(&s.machine_id).unwrap().place,
            "Thôn Nà Khoang"
        );
        results.unwrap();
    }

    #[test]
    fn differing_codes_on_the_office_screen_enrol_nothing_and_say_so_in_vietnamese() {
        let mut s = setup();
        to_code(&mut s, None);
        tap_button(&mut s.machine, "Mã khớp");
        tap_button(&mut s.office, "Không khớp");
        let (op, mp) = (
            s.office_node.handle.pair.clone(),
            s.machine_node.handle.pair.clone(),
        );
        let ended =
            |p: &conglang::pair::run::PairHandle| p.view().session.is_some_and(|x| x.finished());
        until(
            &mut [&mut s.office, &mut s.machine],
            "both sessions to end",
            |_| ended(&op) && ended(&mp),
        );
        let phase = mp.view().session.unwrap().phase;
        assert_eq!(
            phase,
            conglang::pair::Phase::Failed(conglang::pair::Reason::OfficeSaidNo)
        );
        s.machine.get_by_label("Cán bộ xã báo mã không khớp.");
        s.machine.get_by_label("Chưa ghép nối được");
        s.office.get_by_label("Chưa ghép nối được");
        assert_eq!(
            Repo::open(&s.office_dir)
                .unwrap()
                .roster()
                .unwrap()
                .members
                .len(),
            1
        );
        assert!(
            Repo::open(&s.machine_dir)
                .unwrap()
                .commune_id()
                .unwrap()
                .is_none()
        );
        // Dismissed, the machine waits again.
        tap_button(&mut s.machine, "Đóng");
        s.machine.get_by_label_contains("chọn máy này");
    }

    #[test]
    fn another_role_for_an_enrolled_key_is_refused_in_vietnamese() {
        let mut s = setup();
        Repo::open(&s.office_dir)
            .unwrap()
            .roster_add(s.machine_id, Role::Kiosk, "Kiosk", "", vec![])
            .unwrap();
        to_code(&mut s, Some("đã có trong danh sách: Kiosk thôn"));
        tap_button(&mut s.machine, "Mã khớp");
        tap_button(&mut s.office, "Máy mang đi");
        tap_button(&mut s.office, "Mã khớp — thêm máy");
        let refusal = "Máy này đã được thêm với vai trò «Kiosk thôn». Muốn đổi vai trò phải thu hồi máy này rồi cài lại với khóa mới.";
        until(
            &mut [&mut s.office, &mut s.machine],
            "the refusal on both",
            |h| h[0].query_by_label(refusal).is_some() && h[1].query_by_label(refusal).is_some(),
        );
        // The new machine's screen is a kiosk's: Vietnamese only, errors included.
        crate::hall::assert_no_english(&s.machine, &mut 0, &[]);
        let roster = Repo::open(&s.office_dir).unwrap().roster().unwrap();
        assert_eq!(roster.member(&s.machine_id).unwrap().role, Role::Kiosk);
        assert!(
            Repo::open(&s.machine_dir)
                .unwrap()
                .commune_id()
                .unwrap()
                .is_none()
        );
    }
}

/// No network to the office: the new machine writes its id to the stick, the office
/// reads it, enrols the machine and writes the invite beside it, and the machine joins
/// from the stick — each a touch, nothing typed. A stick holding no invite for this
/// machine joins nothing and says so.
#[test]
fn a_usb_stick_carries_the_id_and_the_invite_both_ways() {
    use conglang::ui::Clock;
    use egui::accesskit::Role as A11y;
    use egui_kittest::kittest::Queryable;

    use crate::ui::{T0, app, tap_button};

    let _one = USB_ROOTS.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let stick = tmp.path().join("media").join("kythuat").join("USB");
    std::fs::create_dir_all(&stick).unwrap();
    conglang::pair::usb::set_roots(Some(vec![tmp.path().join("media")]));
    let office_dir = tmp.path().join("office");
    let machine_dir = tmp.path().join("machine");
    Repo::open(&office_dir)
        .unwrap()
        .init_commune("Xã Long Môn", "UBND xã Long Môn")
        .unwrap();
    let me = Repo::open(&machine_dir).unwrap().node_id();
    let clock = Clock::manual(T0);
    // The waiting screen as a village hall's 1280×800 kiosk shows it at its zoom.
    let hall = crate::ui::app_sized(
        &machine_dir,
        clock.clone(),
        crate::ui::hall_size(),
        crate::ui::HALL_ZOOM,
    );
    hall.get_by_label("Đang chờ gia nhập xã");
    let label = conglang::pair::run::host_label();
    hall.get_by_label_contains(&format!("chọn máy này: «{label}»"));
    // The short id the office lists beside the label (review point 11): a forged
    // name can copy the label, not the key.
    hall.get_by_label(&format!("Mã máy: {}", me.short()));
    // Both USB buttons on the first screen, no scrolling.
    for b in ["Ghi mã máy ra USB", "Đọc tệp mời từ USB"] {
        let r = hall.get_by_role_and_label(A11y::Button, b).rect();
        assert!(
            r.max.y <= crate::ui::hall_size().y,
            "{b} is below the screen: {r:?}"
        );
    }
    drop(hall);
    let mut machine = app(&machine_dir, clock.clone());
    let mut office = app(&office_dir, clock);

    tap_button(&mut machine, "Đọc tệp mời từ USB");
    machine.get_by_label("Không thấy tệp mời cho máy này trên USB.");
    tap_button(&mut machine, "Ghi mã máy ra USB");
    machine.get_by_label_contains("— mang USB lên văn phòng xã.");
    let ids: Vec<_> = std::fs::read_dir(&stick).unwrap().flatten().collect();
    assert_eq!(ids.len(), 1, "{ids:?}");

    tap_button(&mut office, "Thiết bị");
    tap_button(&mut office, "Tìm mã máy trên USB");
    tap_button(&mut office, &format!("Ghép nối {label}"));
    tap_button(&mut office, "Máy mang đi");
    tap_button(&mut office, "Thêm và ghi tệp mời ra USB");
    office.get_by_label_contains("mang USB về máy mới");
    let r = Repo::open(&office_dir).unwrap().roster().unwrap();
    assert_eq!(r.member(&me).unwrap().role, conglang::model::Role::Courier);

    tap_button(&mut machine, "Đọc tệp mời từ USB");
    machine.run();
    // A courier's first screen.
    assert_eq!(
        Repo::open(&machine_dir).unwrap().my_role().unwrap(),
        Some(conglang::model::Role::Courier)
    );
    assert!(machine.query_by_label("Đang chờ gia nhập xã").is_none());
    machine.get_by_label_contains("Máy mang đi giữa các thôn");
    conglang::pair::usb::set_roots(None);
}

/// The USB tests point `pair::usb` at their own temp "media" dir: one at a time.
static USB_ROOTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A crafted stick (review point 5): beside a stranger's id file it holds, under the
/// temp name the office writes the invite through, a symlink to a file of the
/// office's own (its key, its database). Enrolling from the stick must write the
/// invite onto the stick, not through the link; and an id file that is itself a
/// link to a file elsewhere is not read.
#[test]
fn a_symlink_on_the_stick_cannot_redirect_the_invite() {
    use crate::ui::{T0, app, tap_button};
    use conglang::ui::Clock;
    use egui_kittest::kittest::Queryable;

    let _one = USB_ROOTS.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let stick = tmp.path().join("media").join("kythuat").join("USB");
    std::fs::create_dir_all(&stick).unwrap();
    conglang::pair::usb::set_roots(Some(vec![tmp.path().join("media")]));
    let office_dir = tmp.path().join("office");
    Repo::open(&office_dir)
        .unwrap()
        .init_commune("Xã Long Môn", "UBND xã Long Môn")
        .unwrap();
    // Stands for /var/lib/conglang/node.key: outside the stick, owned by the office.
    let precious = tmp.path().join("node.key");
    std::fs::write(&precious, b"the office's key").unwrap();
    let stranger = Repo::open(&tmp.path().join("stranger")).unwrap().node_id();
    let stem = format!("x-{}", &stranger.short()[..6]);
    std::fs::write(
        stick.join(format!("{stem}.conglang-id")),
        format!("{stranger}\nx\n"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        &precious,
        stick.join(format!(".{stem}.conglang-invite.tmp")),
    )
    .unwrap();
    // An id file that is a link to a file elsewhere (which happens to hold an id).
    let elsewhere = tmp.path().join("other.txt");
    let other = Repo::open(&tmp.path().join("other")).unwrap().node_id();
    std::fs::write(&elsewhere, format!("{other}\nlinked\n")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, stick.join("linked.conglang-id")).unwrap();

    let mut office = app(&office_dir, Clock::manual(T0));
    tap_button(&mut office, "Thiết bị");
    tap_button(&mut office, "Tìm mã máy trên USB");
    assert!(
        office.query_by_label("Ghép nối linked").is_none(),
        "an id file reached through a link was read"
    );
    tap_button(&mut office, "Ghép nối x");
    tap_button(&mut office, "Máy mang đi");
    tap_button(&mut office, "Thêm và ghi tệp mời ra USB");
    office.get_by_label_contains("mang USB về máy mới");
    conglang::pair::usb::set_roots(None);

    assert_eq!(
        std::fs::read(&precious).unwrap(),
        b"the office's key",
        "the invite was written through the link"
    );
    let invite = stick.join(format!("{stem}.conglang-invite"));
    let meta = std::fs::symlink_metadata(&invite).expect("the invite is on the stick");
    assert!(meta.is_file(), "{meta:?}");
    let text = std::fs::read_to_string(&invite).unwrap();
    assert_eq!(
        conglang::repo::Invite::decode(&text).unwrap().node,
        stranger
    );
}

/// The peak resident memory of a process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Review point 7a: a stranger on the LAN opens many pairing connections to a machine
/// waiting at its screen (`conglang pair`) and pours 4 MiB frames into each, as fast
/// as loopback carries them. The machine's peak memory must stay bounded (it reads
/// a frame only when it wants one, small ones only, a few connections at a time),
/// and it keeps waiting for the real office.
#[test]
fn a_flooding_prober_costs_a_waiting_machine_bounded_memory() {
    use conglang::net::{Net, NetConfig};
    use conglang::pair::{Msg, encode};

    let base = tempfile::tempdir().unwrap();
    let machine = CliNode::new(base.path(), "machine");
    let mut m = Proc::start(
        None,
        &machine,
        &["pair", "--listen", "127.0.0.1:0", "--no-mdns"],
    );
    let w = m.line("waiting ", LIMIT).expect("machine waits");
    let addr: std::net::SocketAddr = w
        .split("listening on ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')')
        .parse()
        .unwrap();
    let node: conglang::identity::NodeId = machine.id().parse().unwrap();
    let pid = m.child.id();
    std::thread::sleep(Duration::from_millis(500));
    let before = peak_rss_kib(pid);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let cfg = NetConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            mdns: false,
            relay_url: None,
        };
        let me = conglang::identity::Identity::generate();
        let net = std::sync::Arc::new(Net::bind(&me, &cfg, tx).await.unwrap());
        let big = vec![b'A'; conglang::pair::MAX_FRAME];
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let net = net.clone();
            let big = big.clone();
            tasks.push(tokio::spawn(async move {
                let Ok(conn) = net.dial_pair(node, &[addr]).await else {
                    return;
                };
                conn.send(encode(&Msg::Probe));
                for _ in 0..24 {
                    conn.send(big.clone());
                }
                // Let them go out; the machine reads (or refuses) at its pace.
                tokio::time::sleep(Duration::from_secs(6)).await;
                drop(conn);
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let after = peak_rss_kib(pid);
    let grew = after.saturating_sub(before);
    eprintln!("flooded machine: peak RSS {before} → {after} KiB");
    assert!(
        grew < 64 * 1024,
        "peak memory grew by {} MiB ({before} → {after} KiB)\n{}",
        grew / 1024,
        m.log()
    );
    assert!(
        m.child.try_wait().unwrap().is_none(),
        "the machine stopped waiting\n{}",
        m.log()
    );
    // And the real office still pairs with it.
    let office = CliNode::new(base.path(), "office");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    let probe = format!("{}@{addr}", machine.id());
    let mut o = Proc::start(
        None,
        &office,
        &[
            "roster",
            "pair",
            "--role",
            "kiosk",
            "--probe",
            &probe,
            "--scan",
            "20",
            "--listen",
            "127.0.0.1:0",
            "--no-mdns",
        ],
    );
    let (co, cm) = (o.code(), m.code());
    assert_eq!(co, cm);
    m.type_line(&co);
    o.type_line(&cm);
    assert!(o.wait(LIMIT), "{}", o.log());
    assert!(m.wait(LIMIT), "{}", m.log());
    assert!(is_member(&machine));
}

/// Review point 10: a kiosk whose config names its commune (`[node] commune`, filled
/// in by the installer) joins no other. A rogue laptop pairs with it and the person
/// at the kiosk confirms the code: the kiosk refuses the foreign invite and stays
/// unjoined; with its own commune named, the same pairing joins. Nor does it take a
/// foreign commune's invite from a USB stick.
#[test]
fn a_configured_commune_refuses_a_foreign_invite() {
    let base = tempfile::tempdir().unwrap();
    let rogue = CliNode::new(base.path(), "rogue");
    let office = CliNode::new(base.path(), "office");
    let machine = CliNode::new(base.path(), "machine");
    rogue.ok(&["init", "--commune", "Xã Giả", "--name", "Kẻ lạ"]);
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    let ours = Repo::open(&office.dir)
        .unwrap()
        .commune_id()
        .unwrap()
        .unwrap();
    let config = base.path().join("conglang.toml");
    std::fs::write(&config, format!("[node]\ncommune = \"{ours}\"\n")).unwrap();
    let cfg = config.to_str().unwrap();
    let loopback = ["--listen", "127.0.0.1:0", "--no-mdns"];
    for (from, ok) in [(&rogue, false), (&office, true)] {
        let mut args = vec!["--config", cfg, "pair"];
        args.extend(loopback);
        let mut m = Proc::start(None, &machine, &args);
        let w = m.line("waiting ", LIMIT).expect("machine waits");
        let addr = w
            .split("listening on ")
            .nth(1)
            .unwrap()
            .trim_end_matches(')');
        let probe = format!("{}@{addr}", machine.id());
        let mut a = vec![
            "roster", "pair", "--role", "kiosk", "--probe", &probe, "--scan", "20",
        ];
        a.extend(loopback);
        let mut o = Proc::start(None, from, &a);
        let (co, cm) = (o.code(), m.code());
        assert_eq!(co, cm);
        m.type_line(&co);
        o.type_line(&cm);
        assert_eq!(m.wait(LIMIT), ok, "{}", m.log());
        o.wait(LIMIT);
        assert_eq!(is_member(&machine), ok, "{}", m.log());
        if !ok {
            assert!(m.log().contains("not the commune"), "{}", m.log());
            let joined = Repo::open(&machine.dir).unwrap().commune_id().unwrap();
            assert_eq!(joined, None);
        }
    }
}

/// The USB half of review point 10: a foreign commune's invite for this machine's
/// key, on a stick, is not taken when the config names another commune.
#[test]
fn a_configured_commune_ignores_a_foreign_invite_on_a_stick() {
    let _one = USB_ROOTS.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let stick = tmp.path().join("media").join("USB");
    std::fs::create_dir_all(&stick).unwrap();
    let mut rogue = Repo::open(&tmp.path().join("rogue")).unwrap();
    rogue.init_commune("Xã Giả", "Kẻ lạ").unwrap();
    let me = Repo::open(&tmp.path().join("machine")).unwrap().node_id();
    let invite = rogue
        .roster_add(me, conglang::model::Role::Kiosk, "Kiosk", "", Vec::new())
        .unwrap();
    std::fs::write(stick.join("k.conglang-invite"), invite.encode()).unwrap();
    let ours = conglang::identity::Identity::generate().node_id();
    conglang::pair::usb::set_roots(Some(vec![tmp.path().join("media")]));
    let foreign = conglang::pair::usb::find_invite(&me, Some(&ours));
    let open = conglang::pair::usb::find_invite(&me, None);
    conglang::pair::usb::set_roots(None);
    assert!(foreign.is_none(), "a foreign commune's invite was taken");
    assert!(
        open.is_some(),
        "with no commune configured the invite is found"
    );
}
