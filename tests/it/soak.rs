//! Soak: six node processes, each in its own network namespace on a shared bridge,
//! with links going up and down at random (contacts), random SIGKILLs and restarts,
//! and edits made by the CLI while they run. At the end every link is up and all
//! must converge; resident memory is sampled throughout.
//!
//! Short in `cargo test` (20 s); the long run: `CONGLANG_SOAK_SECS=600 cargo test
//! --test it soak -- --nocapture`. Needs root for `ip netns`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};

use crate::harness::{CliNode, bin};

const N: usize = 6;

struct Lab {
    hub: String,
    ns: Vec<String>,
}

impl Lab {
    fn create() -> Option<Lab> {
        let id = std::process::id() % 10_000;
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        let hub = format!("cl-soak-hub-{id}");
        if !ip(&["netns", "add", &hub]) {
            return None;
        }
        let mut lab = Lab {
            hub: hub.clone(),
            ns: Vec::new(),
        };
        assert!(
            ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])
                && ip(&["-n", &hub, "link", "set", "br0", "up"])
        );
        for i in 0..N {
            let ns = format!("cl-soak-{i}-{id}");
            let (v, b) = (format!("cs{id}v{i}"), format!("cs{id}b{i}"));
            assert!(ip(&["netns", "add", &ns]));
            lab.ns.push(ns.clone());
            let addr = format!("10.214.0.{}/24", i + 1);
            let ok = ip(&["link", "add", &v, "type", "veth", "peer", "name", &b])
                && ip(&["link", "set", &v, "netns", &ns])
                && ip(&["link", "set", &b, "netns", &hub])
                && ip(&["-n", &hub, "link", "set", &b, "master", "br0"])
                && ip(&["-n", &hub, "link", "set", &b, "up"])
                && ip(&["-n", &ns, "addr", "add", &addr, "dev", &v])
                && ip(&["-n", &ns, "link", "set", &v, "up"])
                && ip(&["-n", &ns, "link", "set", "lo", "up"]);
            assert!(ok, "namespace setup failed");
        }
        Some(lab)
    }
    fn link(&self, i: usize, up: bool) {
        let id = std::process::id() % 10_000;
        let b = format!("cs{id}b{i}");
        let _ = Command::new("ip")
            .args([
                "-n",
                &self.hub,
                "link",
                "set",
                &b,
                if up { "up" } else { "down" },
            ])
            .status();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in self.ns.iter().chain([&self.hub]) {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn addr(i: usize) -> String {
    format!("10.214.0.{}:7300", i + 1)
}

fn start(lab: &Lab, nodes: &[CliNode], ids: &[String], i: usize) -> Child {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &lab.ns[i]])
        .arg(bin().get_program())
        .arg("--data")
        .arg(&nodes[i].dir);
    c.args(["serve", "--no-mdns", "--listen", &addr(i)]);
    for (j, id) in ids.iter().enumerate() {
        if j != i {
            c.arg("--peer").arg(format!("{id}@{}", addr(j)));
        }
    }
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    // `ip netns exec` execs the node, so the pid is the node's.
    conglang::lab::rss_kib_of(&pid.to_string())
}

#[test]
fn six_nodes_with_random_contacts_and_kills_converge() {
    let secs: u64 = std::env::var("CONGLANG_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let Some(lab) = Lab::create() else {
        eprintln!("SKIPPED: `ip netns add` is not permitted here (needs root)");
        return;
    };
    let base = tempfile::tempdir().unwrap();
    let nodes: Vec<CliNode> = (0..N)
        .map(|i| CliNode::new(base.path(), &format!("n{i}")))
        .collect();
    nodes[0].ok(&["init", "--commune", "Xã Long Môn", "--name", "UBND xã"]);
    let roles = ["official", "kiosk", "kiosk", "courier", "kiosk", "official"];
    let ids: Vec<String> = nodes.iter().map(|n| n.id()).collect();
    for i in 1..N {
        let inv = nodes[0].ok(&[
            "roster",
            "add",
            &ids[i],
            "--role",
            roles[i],
            "--name",
            &format!("Máy {i}"),
        ]);
        nodes[i].ok(&["join", inv.trim()]);
    }
    let mut procs: Vec<Option<Child>> =
        (0..N).map(|i| Some(start(&lab, &nodes, &ids, i))).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let t0 = Instant::now();
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let (mut kills, mut edits, mut cuts) = (0, 0, 0);
    while t0.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(rng.random_range(200..800)));
        let i = rng.random_range(0..N);
        match rng.random_range(0..10) {
            0 => {
                if let Some(mut p) = procs[i].take() {
                    let _ = p.kill();
                    let _ = p.wait();
                    kills += 1;
                } else {
                    procs[i] = Some(start(&lab, &nodes, &ids, i));
                }
            }
            1..=3 => {
                lab.link(i, rng.random_bool(0.5));
                cuts += 1;
            }
            _ => {
                let ok = if roles[i] == "official" && rng.random_bool(0.5) {
                    nodes[i]
                        .cmd(&["notice", "post", "--title", &format!("Thông báo {edits}")])
                        .status
                        .success()
                } else {
                    let name = format!("Người dân {edits}");
                    nodes[i]
                        .cmd(&[
                            "request",
                            "submit",
                            "--hamlet",
                            "Nà Khoang",
                            "--name",
                            &name,
                            "--text",
                            "Hỏi",
                        ])
                        .status
                        .success()
                };
                assert!(ok, "an edit failed on node {i}");
                edits += 1;
            }
        }
        let total: u64 = procs.iter().flatten().map(|p| rss_kib(p.id())).sum();
        let live = procs.iter().flatten().count() as u64;
        if let Some(mean) = total.checked_div(live) {
            samples.push((t0.elapsed().as_secs(), mean));
        }
    }
    // Heal: every link up, every node running.
    for (i, p) in procs.iter_mut().enumerate() {
        lab.link(i, true);
        if p.is_none() {
            *p = Some(start(&lab, &nodes, &ids, i));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let digests = || -> Vec<String> {
        nodes
            .iter()
            .map(|n| n.json(&["status"])["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let mut d = digests();
    while d.iter().any(|x| *x != d[0]) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        d = digests();
    }
    let converge_s = 120 - deadline.saturating_duration_since(Instant::now()).as_secs();
    for p in procs.iter_mut().flatten() {
        let _ = p.kill();
        let _ = p.wait();
    }
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let quarter = samples.get(samples.len() / 4).map(|s| s.1).unwrap_or(0);
    let last = samples.last().map(|s| s.1).unwrap_or(0);
    eprintln!(
        "soak: {N} nodes, {secs} s, {edits} edits, {kills} kills, {cuts} link changes; converged {}s after healing; mean RSS per node KiB: at 1/4 {quarter}, end {last}, peak {peak}",
        converge_s
    );
    let series: Vec<String> = samples
        .iter()
        .step_by((samples.len() / 12).max(1))
        .map(|(t, r)| format!("{t}s:{}MiB", r / 1024))
        .collect();
    eprintln!("soak RSS series: {}", series.join(" "));
    assert!(
        d.iter().all(|x| *x == d[0]),
        "nodes did not converge within 120 s of healing"
    );
    assert!(peak < 200 * 1024, "a node used more than 200 MiB");
}
