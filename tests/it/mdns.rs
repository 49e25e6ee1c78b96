//! Local-network discovery between network namespaces joined by veth "cables"
//! (`lab::netns::Lan`): nodes run `serve` with no configured peer and find each other
//! by mDNS only. Cables start unplugged and are plugged in after every node started,
//! unplugged and re-plugged, with no default route and no multicast route (a cable
//! between a laptop and a kiosk). Needs root (`ip netns`); CI runs as root. Every
//! address is inside namespaces these tests make and delete.
//!
//! Also here: dialing a peer listed behind dead addresses, and the link-up → first
//! byte measure (`CONGLANG_LINKUPS=20` for the figure in BENCHMARKS.md).

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conglang::lab::netns::Lan;

use crate::harness::{CliNode, bin, enrol};

/// A `serve` process whose stderr lines are kept with the instant they arrived.
struct Node {
    child: Child,
    name: String,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Node {
    /// Starts `serve` on `node` inside namespace `ns` (or here if `None`).
    fn start(ns: Option<&str>, node: &CliNode, name: &str, extra: &[&str]) -> Node {
        let exe = bin().get_program().to_owned();
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let mut child = cmd
            .arg("--data")
            .arg(&node.dir)
            .arg("serve")
            .args(extra)
            // `connected` is a debug line; the contact summary is info.
            .env(
                "CONGLANG_LOG",
                "info,conglang::node=debug,iroh=warn,noq=warn,swarm_discovery=error",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let err = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let l2 = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                l2.lock().unwrap().push((Instant::now(), line));
            }
        });
        Node {
            child,
            name: name.into(),
            log,
        }
    }

    /// When a line containing `pat` first appeared at or after `since`.
    fn seen_since(&self, since: Instant, pat: &str) -> Option<Instant> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .find(|(t, l)| *t >= since && l.contains(pat))
            .map(|(t, _)| *t)
    }

    fn dump(&self) -> String {
        let log = self.log.lock().unwrap();
        let tail: Vec<&str> = log
            .iter()
            .rev()
            .take(40)
            .rev()
            .map(|(_, l)| l.as_str())
            .collect();
        format!(
            "--- {} log (last 40 lines) ---\n{}",
            self.name,
            tail.join("\n")
        )
    }

    fn stop(mut self) {
        // SIGTERM, as a service manager would; `Drop` does the rest.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every 200 ms until it holds or `limit` passes; returns the time taken.
fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

fn has_notice(node: &CliNode, id: &str) -> bool {
    node.cmd(&["notice", "show", id]).status.success()
}

fn lan(tag: &str, n: usize) -> Option<Lan> {
    match Lan::create(tag, n) {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!("SKIPPED: cannot create network namespaces here (needs root): {e:#}");
            None
        }
    }
}

/// Office and kiosk, enrolled; the office holds one notice. Returns (office, kiosk, notice id).
fn office_and_kiosk(base: &std::path::Path) -> (CliNode, CliNode, String) {
    let office = CliNode::new(base, "office");
    let kiosk = CliNode::new(base, "kiosk");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    enrol(&office, &kiosk, "kiosk", "Kiosk Nà Khoang");
    let n = office.ok(&[
        "notice",
        "post",
        "--title",
        "Họp dân bàn làm đường",
        "--category",
        "policy",
    ]);
    (office, kiosk, n.trim().to_string())
}

const ANY: &[&str] = &["--listen", "0.0.0.0:7300"];
/// Bound on every wait in these tests: far above the ≤ 10 s target, far below "never".
const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn kiosk_finds_office_on_the_lan_by_mdns_and_syncs() {
    let Some(mut lan) = lan("mdns", 2) else {
        return;
    };
    let cable = lan
        .add_link(0, 1, "10.213.0.1/24", "10.213.0.2/24")
        .unwrap();
    lan.up(cable).unwrap();
    let base = tempfile::tempdir().unwrap();
    let (office, kiosk, notice) = office_and_kiosk(base.path());
    let o = Node::start(Some(lan.ns(0)), &office, "office", ANY);
    let k = Node::start(Some(lan.ns(1)), &kiosk, "kiosk", ANY);
    let arrived = wait_until(LIMIT, || has_notice(&kiosk, &notice));
    assert!(
        arrived.is_some(),
        "the kiosk did not find the office by mDNS within {LIMIT:?}\n{}\n{}",
        o.dump(),
        k.dump()
    );
    o.stop();
    k.stop();

    // The kiosk remembered where it reached the office.
    let office_id: conglang::identity::NodeId = office.id().parse().unwrap();
    let peers = conglang::repo::Repo::open(&kiosk.dir)
        .unwrap()
        .peers()
        .unwrap();
    let row = peers
        .iter()
        .find(|p| p.node == office_id)
        .expect("office row");
    assert!(
        row.addrs.starts_with("10.213.0.1:7300"),
        "remembered addresses: {:?}",
        row.addrs
    );

    // With discovery turned off, a kiosk that never met the office finds nothing…
    let fresh = CliNode::new(base.path(), "kiosk2");
    enrol(&office, &fresh, "kiosk", "Kiosk Bản Chang");
    let notice2 = office.ok(&["notice", "post", "--title", "Thông báo thứ hai"]);
    let notice2 = notice2.trim();
    let off = &["--listen", "0.0.0.0:7300", "--no-mdns"];
    let o = Node::start(Some(lan.ns(0)), &office, "office", off);
    let f = Node::start(Some(lan.ns(1)), &fresh, "kiosk2", off);
    std::thread::sleep(Duration::from_secs(8));
    let got = has_notice(&fresh, notice2);
    f.stop();
    assert!(!got, "--no-mdns still discovered the office");
    // …while the kiosk that met it dials the address it remembered.
    let k = Node::start(Some(lan.ns(1)), &kiosk, "kiosk", off);
    assert!(
        wait_until(LIMIT, || has_notice(&kiosk, notice2)).is_some(),
        "the remembered address was not dialed\n{}",
        k.dump()
    );
    o.stop();
    k.stop();
}

/// The first bug: a link that comes up after the nodes started was never used
/// for discovery. Here the cable is a direct one with IPv4 link-local addresses only
/// (no DHCP, no default route, no multicast route), and it is unplugged and
/// re-plugged three times with news posted while it is out.
#[test]
fn link_plugged_in_after_start_is_found_and_replugging_keeps_working() {
    let Some(mut lan) = lan("late", 2) else {
        return;
    };
    let cable = lan
        .add_link(0, 1, "169.254.17.1/16", "169.254.17.2/16")
        .unwrap();
    let base = tempfile::tempdir().unwrap();
    let (office, kiosk, notice) = office_and_kiosk(base.path());
    let o = Node::start(Some(lan.ns(0)), &office, "office", ANY);
    let k = Node::start(Some(lan.ns(1)), &kiosk, "kiosk", ANY);
    // Both running, no link at all.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!has_notice(&kiosk, &notice));
    lan.up(cable).unwrap();
    let took = wait_until(LIMIT, || has_notice(&kiosk, &notice));
    assert!(
        took.is_some(),
        "a cable plugged in after start was not used within {LIMIT:?}\n{}\n{}",
        o.dump(),
        k.dump()
    );
    eprintln!("first plug-in: notice arrived after {:?}", took.unwrap());
    for round in 0..3 {
        lan.down(cable).unwrap();
        let n = office.ok(&[
            "notice",
            "post",
            "--title",
            &format!("Tin số {round} khi mất mạng"),
        ]);
        std::thread::sleep(Duration::from_secs(2));
        assert!(!has_notice(&kiosk, n.trim()), "no cable, yet it arrived");
        lan.up(cable).unwrap();
        let took = wait_until(LIMIT, || has_notice(&kiosk, n.trim()));
        assert!(
            took.is_some(),
            "round {round}: news posted while unplugged did not arrive within {LIMIT:?} of re-plugging\n{}\n{}",
            o.dump(),
            k.dump()
        );
        eprintln!(
            "round {round}: arrived {:?} after re-plugging",
            took.unwrap()
        );
    }
    o.stop();
    k.stop();
}

/// An IPv4 link-local daemon (`avahi-autoipd`, which the Debian package recommends:
/// dhclient's hooks start it when DHCP gets no answer) running on one end of a cable,
/// killed with SIGTERM (it then removes its address) when dropped.
struct AutoIpd(Child);

impl AutoIpd {
    fn start(ns: &str, dev: &str) -> AutoIpd {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "avahi-autoipd", dev])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "cannot run avahi-autoipd (apt-get install avahi-autoipd; .ci/run installs it)",
            );
        AutoIpd(child)
    }
}

impl Drop for AutoIpd {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

/// IPv4 addresses on `dev` in namespace `ns`.
fn ipv4_on(ns: &str, dev: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-n", ns, "-4", "-o", "addr", "show", "dev", dev])
        .output()
        .expect("ip addr");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect()
}

/// A laptop and a kiosk joined by a bare cable: no DHCP server, no address configured,
/// both nodes already running when it is plugged in. The kernel gives each end only an
/// IPv6 link-local address, which iroh 1.4.1 cannot use (ARCHITECTURE.md, `src/net.rs`);
/// the IPv4 link-local fallback the package sets up (`avahi-autoipd`, README.Debian)
/// claims a 169.254/16 address on each end, and the nodes find each other by mDNS and
/// sync over it. Nothing here assigns an address but the daemon.
#[test]
fn bare_cable_with_link_local_fallback_is_found_and_syncs() {
    let Some(mut lan) = lan("bare", 2) else {
        return;
    };
    let cable = lan.add_link(0, 1, "", "").unwrap();
    let base = tempfile::tempdir().unwrap();
    let (office, kiosk, notice) = office_and_kiosk(base.path());
    let o = Node::start(Some(lan.ns(0)), &office, "office", ANY);
    let k = Node::start(Some(lan.ns(1)), &kiosk, "kiosk", ANY);
    let t0 = Instant::now();
    lan.up_bare(cable).unwrap();
    let (ns_a, dev_a) = lan.end(cable, 0);
    let (ns_b, dev_b) = lan.end(cable, 1);
    let _daemons = [AutoIpd::start(ns_a, dev_a), AutoIpd::start(ns_b, dev_b)];
    let claimed = wait_until(LIMIT, || {
        !ipv4_on(ns_a, dev_a).is_empty() && !ipv4_on(ns_b, dev_b).is_empty()
    });
    assert!(claimed.is_some(), "avahi-autoipd claimed no address");
    for (ns, dev) in [(ns_a, dev_a), (ns_b, dev_b)] {
        for a in ipv4_on(ns, dev) {
            assert!(a.starts_with("169.254."), "{dev} has {a}, not link-local");
        }
    }
    let arrived = wait_until(LIMIT, || has_notice(&kiosk, &notice));
    assert!(
        arrived.is_some(),
        "no sync over the link-local addresses within {LIMIT:?}\n{}\n{}",
        o.dump(),
        k.dump()
    );
    eprintln!(
        "bare cable: addresses claimed {:?} after plug-in, notice arrived {:?} after plug-in",
        claimed.unwrap(),
        t0.elapsed()
    );
    o.stop();
    k.stop();
    // The kiosk reached the office at its claimed link-local address.
    let office_id: conglang::identity::NodeId = office.id().parse().unwrap();
    let peers = conglang::repo::Repo::open(&kiosk.dir)
        .unwrap()
        .peers()
        .unwrap();
    let row = peers
        .iter()
        .find(|p| p.node == office_id)
        .expect("office row");
    assert!(
        row.addrs.starts_with("169.254."),
        "remembered addresses: {:?}",
        row.addrs
    );
}

/// The courier's day, mDNS only: office, courier laptop and village kiosk each in a
/// namespace; the courier has a road to the office and one to the village, which come
/// up only after all three started and alternate. An urgent notice posted at the
/// office reaches the village through the courier; the village's request comes back
/// to the office the same way. Then both roads at once (two networks on one laptop).
#[test]
fn courier_carries_urgent_notice_to_village_and_request_back() {
    let Some(mut lan) = lan("courier", 3) else {
        return;
    };
    let office_road = lan.add_link(0, 1, "10.71.0.1/24", "10.71.0.2/24").unwrap();
    let village_road = lan.add_link(1, 2, "10.72.0.1/24", "10.72.0.2/24").unwrap();
    let base = tempfile::tempdir().unwrap();
    let office = CliNode::new(base.path(), "office");
    let courier = CliNode::new(base.path(), "courier");
    let village = CliNode::new(base.path(), "village");
    office.ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    enrol(&office, &courier, "courier", "Anh Tâm giao liên");
    enrol(&office, &village, "kiosk", "Kiosk Nà Khoang");
    let o = Node::start(Some(lan.ns(0)), &office, "office", ANY);
    let c = Node::start(Some(lan.ns(1)), &courier, "courier", ANY);
    let v = Node::start(Some(lan.ns(2)), &village, "village", ANY);
    let dump = || format!("{}\n{}\n{}", o.dump(), c.dump(), v.dump());
    let t0 = Instant::now();

    // Posted at the office after everyone started, while no road is up.
    let urgent = office
        .ok(&[
            "notice",
            "post",
            "--title",
            "Khẩn: nước lũ lên, sơ tán bản Nà Khoang",
            "--category",
            "policy",
            "--urgent",
        ])
        .trim()
        .to_string();

    // Morning: the courier at the office.
    lan.up(office_road).unwrap();
    assert!(
        wait_until(LIMIT, || has_notice(&courier, &urgent)).is_some(),
        "the courier did not pick up the urgent notice at the office\n{}",
        dump()
    );
    lan.down(office_road).unwrap();
    // Noon: the courier in the village.
    lan.up(village_road).unwrap();
    assert!(
        wait_until(LIMIT, || has_notice(&village, &urgent)).is_some(),
        "the urgent notice did not reach the village through the courier\n{}",
        dump()
    );
    // The kiosk knows the roster now (it came with the courier): a resident files a
    // request while the courier is still in the hall.
    let code = village
        .ok(&[
            "request",
            "submit",
            "--hamlet",
            "Nà Khoang",
            "--name",
            "Đinh Thị Nở",
            "--text",
            "Xin hỗ trợ thuyền để sơ tán người già.",
        ])
        .trim()
        .to_string();
    assert!(
        wait_until(LIMIT, || courier
            .cmd(&["request", "show", &code])
            .status
            .success())
        .is_some(),
        "the courier did not take the village's request\n{}",
        dump()
    );
    let office_has_request = || office.cmd(&["request", "show", &code]).status.success();
    assert!(
        !office_has_request(),
        "the office has no road to the village"
    );
    lan.down(village_road).unwrap();
    // Evening: back at the office.
    lan.up(office_road).unwrap();
    assert!(
        wait_until(LIMIT, office_has_request).is_some(),
        "the village's request did not come back to the office\n{}",
        dump()
    );
    // The urgent notice went out as urgent.
    let shown = village.json(&["notice", "show", &urgent]);
    assert_eq!(shown["urgent"], true, "{shown}");

    // Both roads at once: news from the office crosses the courier's two networks.
    lan.up(village_road).unwrap();
    let later = office
        .ok(&[
            "notice",
            "post",
            "--title",
            "Đường đã thông, về nhà an toàn",
        ])
        .trim()
        .to_string();
    assert!(
        wait_until(LIMIT, || has_notice(&village, &later)).is_some(),
        "with both links up, the courier did not relay between them\n{}",
        dump()
    );
    eprintln!("courier scenario took {:?}", t0.elapsed());
    // Headless log: one summary line per contact, with the peer's name and what was
    // urgent, and no colour codes (stderr is a pipe here).
    let courier_log = c.log.clone();
    o.stop();
    c.stop();
    v.stop();
    let log = courier_log.lock().unwrap();
    assert!(
        log.iter().all(|(_, l)| !l.contains('\u{1b}')),
        "ANSI escape codes in a log written to a pipe"
    );
    let contacts: Vec<&String> = log
        .iter()
        .map(|(_, l)| l)
        .filter(|l| l.contains("contact with"))
        .collect();
    for l in &contacts {
        eprintln!("courier log: {l}");
    }
    assert!(
        contacts
            .iter()
            .any(|l| l.contains("UBND xã") && l.contains("Khẩn: nước lũ lên")),
        "no contact line naming the office and the urgent notice: {contacts:#?}"
    );
    assert!(
        contacts.iter().any(|l| l.contains("Kiosk Nà Khoang")),
        "no contact line naming the village kiosk: {contacts:#?}"
    );
}

/// The dialing bug: a live peer listed after two addresses that never answer
/// was reached after 61 s. Dead addresses here are UDP sockets on loopback that swallow
/// every packet, so nothing leaves the machine.
#[test]
fn live_peer_behind_two_dead_addresses_is_reached_quickly() {
    let base = tempfile::tempdir().unwrap();
    let (office, kiosk, notice) = office_and_kiosk(base.path());
    let dead: Vec<std::net::UdpSocket> = (0..2)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let served = office.serve(&[]);
    let (id, live) = served.peer.split_once('@').unwrap();
    // Four members who are away (their laptops are off), listed first: a dialer that
    // waits each out in turn reaches the office last four times in five…
    let mut args: Vec<String> = vec!["--listen".into(), "127.0.0.1:0".into(), "--no-mdns".into()];
    for i in 0..4 {
        let away = CliNode::new(base.path(), &format!("away{i}"));
        enrol(&office, &away, "courier", &format!("Giao liên {i}"));
        args.push("--peer".into());
        args.push(format!(
            "{}@{}",
            away.id(),
            dead[i % 2].local_addr().unwrap()
        ));
    }
    // …then the office, at the two dead addresses before its live one.
    for d in &dead {
        args.push("--peer".into());
        args.push(format!("{id}@{}", d.local_addr().unwrap()));
    }
    args.push("--peer".into());
    args.push(format!("{id}@{live}"));
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let t0 = Instant::now();
    let k = Node::start(None, &kiosk, "kiosk", &args);
    let took = wait_until(LIMIT, || k.seen_since(t0, "connected").is_some());
    let reached = k.seen_since(t0, "connected").map(|t| t - t0);
    assert!(
        took.is_some(),
        "the live address was never tried\n{}",
        k.dump()
    );
    let reached = reached.unwrap();
    eprintln!("live peer behind two dead addresses reached after {reached:?} (from process start)");
    // The target (≤ 5 s) is measured in BENCHMARKS.md; this bounds it well below the
    // serial dialing it replaces (one 30 s timeout per dead address).
    assert!(
        reached < Duration::from_secs(15),
        "took {reached:?}: dead addresses are being waited out one by one"
    );
    assert!(wait_until(LIMIT, || has_notice(&kiosk, &notice)).is_some());
    k.stop();
    drop(served);
}

/// Time from plugging a cable in to the first bytes between two nodes that were already
/// running (office and kiosk, mDNS only, no default route). Each round starts both
/// nodes with the cable out, waits 2 s, plugs it in and takes the first `connected`
/// line on either side (the acceptor logs it once the first frame arrived).
/// `CONGLANG_LINKUPS=20` gives the BENCHMARKS.md figure; CI runs 2 rounds.
#[test]
fn link_up_to_first_byte() {
    let rounds: usize = std::env::var("CONGLANG_LINKUPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let Some(mut lan) = lan("linkup", 2) else {
        return;
    };
    let cable = lan
        .add_link(0, 1, "10.214.0.1/24", "10.214.0.2/24")
        .unwrap();
    let base = tempfile::tempdir().unwrap();
    let (office, kiosk, _) = office_and_kiosk(base.path());
    let mut times = Vec::new();
    for round in 0..rounds {
        lan.down(cable).unwrap();
        let o = Node::start(Some(lan.ns(0)), &office, "office", ANY);
        let k = Node::start(Some(lan.ns(1)), &kiosk, "kiosk", ANY);
        std::thread::sleep(Duration::from_secs(2));
        let t0 = Instant::now();
        lan.up(cable).unwrap();
        let ok = wait_until(LIMIT, || {
            o.seen_since(t0, "connected").is_some() || k.seen_since(t0, "connected").is_some()
        });
        assert!(
            ok.is_some(),
            "round {round}: no contact within {LIMIT:?} of the link coming up\n{}\n{}",
            o.dump(),
            k.dump()
        );
        let first = [o.seen_since(t0, "connected"), k.seen_since(t0, "connected")]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        times.push(first - t0);
        o.stop();
        k.stop();
    }
    times.sort();
    let median = times[times.len() / 2];
    let worst = times[times.len() - 1];
    eprintln!(
        "link up → first byte over {rounds} link-ups: median {:.2} s, worst {:.2} s (all: {:?})",
        median.as_secs_f64(),
        worst.as_secs_f64(),
        times
    );
}

/// The back-off bug: a peer that accepts the connection and then refuses us
/// (here the office, which revoked this kiosk) was re-dialed every ~1.2 s forever,
/// because a successful connect reset the back-off. Only a completed sync resets it
/// now, so over 12 s the office sees a handful of attempts (1, 2, 4, 8 s apart, ±25 %)
/// instead of ten.
#[test]
fn peer_that_accepts_then_refuses_is_called_less_and_less() {
    let base = tempfile::tempdir().unwrap();
    let (office, kiosk, _) = office_and_kiosk(base.path());
    let kiosk_id = kiosk.id();
    office.ok(&["roster", "revoke", &kiosk_id]);
    let served = office.serve(&[]);
    let k = Node::start(
        None,
        &kiosk,
        "kiosk",
        &[
            "--listen",
            "127.0.0.1:0",
            "--no-mdns",
            "--peer",
            &served.peer,
        ],
    );
    std::thread::sleep(Duration::from_secs(12));
    k.stop();
    drop(served);
    let log = std::fs::read_to_string(office.dir.with_extension("serve.log")).unwrap();
    let refusals = log
        .lines()
        .filter(|l| l.contains("refused connection"))
        .count();
    eprintln!("office refused the revoked kiosk {refusals} times in 12 s");
    assert!(refusals >= 1, "the kiosk never called:\n{log}");
    assert!(
        refusals <= 6,
        "{refusals} calls in 12 s: the back-off was reset by a connection that was refused"
    );
}
