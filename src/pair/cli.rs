//! Pairing from the command line, for headless machines and scripts:
//! `conglang pair` on the new machine, `conglang roster pair` at the office.
//!
//! Each runs a node (mDNS on, a port of its own so a running `serve` or app on the
//! same data dir is not disturbed), prints one line per step on stdout
//! (`waiting …`, `machine …`, `code 482913`, `joined …`/`enrolled …`) and reads the
//! confirmation from stdin: the person types the code the *other* screen shows, so
//! the comparison is exact; anything else is a "no" and nothing is enrolled.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};

use super::run::{Enrolment, PairHandle, PairView, Side};
use super::{Phase, format_code, parse_code};
use crate::config::{Config, PeerAddr};
use crate::identity::NodeId;
use crate::model::Role;
use crate::node::{Node, NodeOptions};
use crate::repo::Repo;

/// Options shared by both commands.
pub struct PairOpts {
    pub listen: SocketAddr,
    pub no_mdns: bool,
    /// How long the code comparison may take.
    pub timeout: Duration,
}

/// What the office picks and fills in.
pub struct OfficeOpts {
    pub role: Role,
    pub name: Option<String>,
    pub place: String,
    /// Label or id prefix of the machine to pair with (needed when several wait).
    pub machine: Option<String>,
    /// How long to look for a waiting machine.
    pub scan: Duration,
    /// Nodes to ask directly besides those mDNS finds (`ID@IP:PORT`).
    pub probe: Vec<PeerAddr>,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow!("cannot start the async runtime: {e}"))
}

async fn start(data: &Path, config: &Config, o: &PairOpts) -> Result<Node> {
    let node = Node::start(
        data.to_path_buf(),
        NodeOptions {
            net: crate::net::NetConfig {
                listen: o.listen,
                mdns: config.mdns && !o.no_mdns,
                relay_url: config.relay_url.clone(),
            },
            peers: Vec::new(),
            redial: false,
            speak_version: None,
        },
    )
    .await?;
    node.handle.pair.set_timeout(o.timeout);
    node.handle.pair.set_commune(config.commune);
    Ok(node)
}

/// Lines typed on stdin, read on a thread of their own (stdin blocks).
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for l in std::io::stdin().lock().lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Polls the pairing view until `f` returns something.
async fn until<T>(pair: &PairHandle, mut f: impl FnMut(&PairView) -> Option<T>) -> T {
    loop {
        if let Some(t) = f(&pair.view()) {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Shows the code, takes the typed one, confirms or rejects; returns the outcome.
async fn compare(pair: &PairHandle, side: Side, enrolment: Option<Enrolment>) -> Result<PairView> {
    let mut typed = stdin_lines();
    let mut shown = false;
    loop {
        let v = pair.view();
        let Some(s) = v.session.clone().filter(|s| s.side == side) else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if s.finished() {
            return Ok(v);
        }
        if let (Some(code), false) = (s.code, shown) {
            shown = true;
            say(format!("code {code:06}"));
            eprintln!(
                "Both screens show {}. Type the code the {} shows and press Enter (anything else: they differ, nothing is enrolled):",
                format_code(code),
                if side == Side::Office {
                    "new machine"
                } else {
                    "office"
                }
            );
        }
        tokio::select! {
            l = typed.recv(), if shown && !s.confirmed_here => match l {
                Some(l) if parse_code(&l) == s.code => pair.confirm(enrolment.clone()),
                Some(_) => {
                    eprintln!("The codes differ: cancelling, nothing is enrolled.");
                    pair.reject()
                }
                // stdin closed: wait for the other side or the timeout.
                None => typed = tokio::sync::mpsc::unbounded_channel().1,
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

fn outcome(v: &PairView) -> Result<()> {
    match v.session.as_ref().map(|s| &s.phase) {
        Some(Phase::Done) => Ok(()),
        Some(Phase::Failed(r)) => bail!("pairing failed: {r}"),
        _ => bail!("pairing ended without an outcome"),
    }
}

/// `conglang pair`: wait to join a commune.
pub fn machine(data: &Path, config: &Config, o: PairOpts) -> Result<()> {
    {
        let repo = Repo::open(data)?;
        if let Some(c) = repo.commune_id()? {
            bail!(
                "this node already belongs to a commune ({}); a member is not paired again (another role needs a revocation and a new key)",
                c.short()
            );
        }
    }
    runtime()?.block_on(async {
        let node = start(data, config, &o).await?;
        let pair = node.handle.pair.clone();
        pair.set_waiting(true);
        until(&pair, |v| v.waiting.then_some(())).await;
        let label = pair.view().label;
        say(format!(
            "waiting {} {label} (listening on {})",
            node.handle.node_id,
            node.local_addrs()
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ));
        eprintln!(
            "Waiting to join a commune: at the office, open Thiết bị (Devices) and pick \"{label}\" among the new machines."
        );
        let v = compare(&pair, Side::Machine, None).await;
        node.shutdown().await;
        let v = v?;
        outcome(&v)?;
        if let Some((commune, role)) = v.session.and_then(|s| s.joined) {
            say(format!("joined {commune} as {role}"));
        }
        Ok(())
    })
}

/// `conglang roster pair`: find a waiting machine, compare codes, enrol it.
pub fn office(data: &Path, config: &Config, o: PairOpts, e: OfficeOpts) -> Result<()> {
    {
        let repo = Repo::open(data)?;
        if repo.my_role()? != Some(Role::Official) {
            bail!("only an official's node enrols devices: this node is not an official");
        }
    }
    runtime()?.block_on(async {
        let node = start(data, config, &o).await?;
        let pair = node.handle.pair.clone();
        pair.set_scanning(true);
        for p in &e.probe {
            pair.probe(p.node, vec![p.addr]);
        }
        eprintln!(
            "Looking for new machines on the LAN (up to {} s)…",
            e.scan.as_secs()
        );
        let deadline = Instant::now() + e.scan;
        let wanted = |id: &NodeId, label: &str| match &e.machine {
            None => true,
            Some(m) => label == m || id.to_string().starts_with(&m.to_lowercase()),
        };
        let picked = loop {
            let v = pair.view();
            let found: Vec<_> = v
                .candidates
                .iter()
                .filter(|c| wanted(&c.node, &c.label))
                .cloned()
                .collect();
            if found.len() == 1 {
                break Ok(found[0].clone());
            }
            if found.len() > 1 {
                let list: Vec<String> = found
                    .iter()
                    .map(|c| format!("{} ({})", c.label, c.node.short()))
                    .collect();
                break Err(anyhow!(
                    "several machines are waiting: {}; pick one with --machine LABEL",
                    list.join(", ")
                ));
            }
            if Instant::now() >= deadline {
                break Err(anyhow!(
                    "no machine waiting to join was found on the LAN in {} s",
                    e.scan.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let picked = match picked {
            Ok(p) => p,
            Err(err) => {
                node.shutdown().await;
                return Err(err);
            }
        };
        say(format!("machine {} {}", picked.node, picked.label));
        pair.start(picked.node);
        let enrolment = Enrolment {
            role: e.role,
            name: e.name.clone().unwrap_or_else(|| picked.label.clone()),
            place: e.place.clone(),
            addrs: Vec::new(),
        };
        let v = compare(&pair, Side::Office, Some(enrolment.clone())).await;
        node.shutdown().await;
        let v = v?;
        outcome(&v)?;
        say(format!(
            "enrolled {} as {} \"{}\"",
            picked.node, enrolment.role, enrolment.name
        ));
        Ok(())
    })
}
