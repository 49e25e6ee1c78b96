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
    let (co, cm) = (o.code(), m.code());
    assert_eq!(co, cm, "both screens show one code");
    assert_eq!(co.len(), 6);
    // Each person types the code the other screen shows.
    m.type_line(&co);
    o.type_line(&cm);
    assert!(o.wait(LIMIT), "office failed\n{}", o.log());
    assert!(m.wait(LIMIT), "machine failed\n{}", m.log());
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
