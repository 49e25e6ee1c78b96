//! The lab: workloads, an emulated link and measurement helpers shared by the
//! benchmark harness (`benches/sync.rs`), the reliability suites and their quick
//! versions in `cargo test`. Not used by the node itself.
//!
//! Workloads are generated as signed changes in memory (the same schema writers and
//! signing as real edits) and loaded with `Repo::import`, which commits in batches;
//! making 10,000 notices one CLI command at a time would measure fsync, not sync.

pub mod link;
pub mod netns;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use automerge::{Automerge, AutomergeError, transaction::CommitOptions};
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::identity::{Identity, NodeId};
use crate::model::signed::new_actor;
use crate::model::{self, DocId, Kind, NoticeDraft, RequestDraft, Role, SignedChange, Status};
use crate::repo::Repo;
use crate::sync::window::AckMeter;
use crate::sync::{Event, Msg, Session, wire};

const WORDS: &[&str] = &[
    "thông báo",
    "Ủy ban nhân dân",
    "xã",
    "thôn",
    "bà con",
    "nhân dân",
    "căn cước công dân",
    "đăng ký",
    "khai sinh",
    "hộ khẩu",
    "giấy tờ",
    "mang theo",
    "bản chính",
    "bản sao",
    "chứng thực",
    "lịch",
    "tiêm chủng",
    "trẻ em",
    "người cao tuổi",
    "trợ cấp",
    "bão",
    "lũ quét",
    "sạt lở",
    "sơ tán",
    "an toàn",
    "nhà văn hóa",
    "trạm y tế",
    "hạn chót",
    "thứ Hai",
    "buổi sáng",
    "lúc 8 giờ",
    "đề nghị",
    "các hộ gia đình",
    "thực hiện",
    "nghiêm túc",
    "chính sách",
    "hỗ trợ",
    "vay vốn",
    "ưu đãi",
    "hộ nghèo",
    "cận nghèo",
    "đất đai",
    "sổ đỏ",
    "ruộng bậc thang",
    "mùa vụ",
    "giống lúa",
    "phân bón",
    "phòng chống",
    "dịch bệnh",
    "gia súc",
    "gia cầm",
    "tiêm phòng",
    "dại",
    "đường liên thôn",
    "bê tông hóa",
    "đóng góp",
    "ngày công",
    "trưởng thôn",
    "công an xã",
    "bộ phận một cửa",
];

/// Realistic Vietnamese text of about `chars` characters.
pub fn text(rng: &mut impl rand::Rng, chars: usize) -> String {
    let mut s = String::new();
    while s.chars().count() < chars {
        if !s.is_empty() {
            s.push_str(if rng.random_bool(0.1) { ". " } else { " " });
        }
        s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    s
}

fn make_change(
    author: &Identity,
    id: &DocId,
    base: Option<&Automerge>,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), AutomergeError>,
) -> (Automerge, SignedChange) {
    make_change_at(author, id, base, 1_780_000_000, f)
}

fn make_change_at(
    author: &Identity,
    id: &DocId,
    base: Option<&Automerge>,
    time: i64,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), AutomergeError>,
) -> (Automerge, SignedChange) {
    make_change_in_line(author, id, base, time, None, f)
}

/// As `make_change_at`, naming `line`'s last change as the previous one of its
/// author's line (`model::signed::ChainMeta`) and moving `line` on to it.
fn make_change_in_line(
    author: &Identity,
    id: &DocId,
    base: Option<&Automerge>,
    time: i64,
    line: Option<&mut Option<[u8; 32]>>,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), AutomergeError>,
) -> (Automerge, SignedChange) {
    let mut doc = base.map(|d| d.fork()).unwrap_or_default();
    doc.set_actor(new_actor(&author.node_id()));
    let before = doc.get_heads();
    let message = line
        .as_ref()
        .map(|prev| crate::model::signed::ChainMeta::for_doc(id, **prev).encode());
    doc.transact_with::<_, _, AutomergeError, _>(
        |_| {
            let o = CommitOptions::default().with_time(time);
            match &message {
                Some(m) => o.with_message(m.clone()),
                None => o,
            }
        },
        f,
    )
    .expect("workload edit");
    if let Some(prev) = line {
        *prev = doc.get_heads().first().map(|h| h.0);
    }
    let mut c = doc.get_changes(&before).pop().expect("one change");
    let s = SignedChange::sign(author, id, &mut c);
    (doc, s)
}

pub fn notice(
    author: &Identity,
    rng: &mut impl rand::Rng,
    body_chars: usize,
    urgent: bool,
) -> SignedChange {
    let id = DocId::new_random(Kind::Notice);
    let d = NoticeDraft {
        title: text(rng, 60),
        body: text(rng, body_chars),
        category: Some(if urgent {
            model::Category::Storm
        } else {
            model::Category::Policy
        }),
        urgent,
        ..Default::default()
    };
    let by = author.node_id();
    make_change(author, &id, None, |tx| {
        model::put_header(tx, Kind::Notice, &by, 1_780_000_000)?;
        model::write_notice(tx, &d, 1_780_000_000)
    })
    .1
}

pub fn procedure(author: &Identity, rng: &mut impl rand::Rng) -> SignedChange {
    let id = DocId::new_random(Kind::Procedure);
    let p = model::Procedure {
        id: id.clone(),
        title: text(rng, 40),
        papers: (0..4).map(|_| text(rng, 30)).collect(),
        fee: "50.000 đồng".into(),
        days: Some(3),
        steps: (0..3).map(|_| text(rng, 60)).collect(),
        created_at: 1_780_000_000,
    };
    let by = author.node_id();
    make_change(author, &id, None, |tx| {
        model::put_header(tx, Kind::Procedure, &by, 1_780_000_000)?;
        model::write_procedure(tx, &p)
    })
    .1
}

/// A request by `kiosk` (code from `n`), optionally answered by `official`.
/// The `n`-th request filed at `kiosk`, on its author's line (`line`: the last
/// change it made, moved on to this one), and its official's answer if `official`.
pub fn request(
    kiosk: &Identity,
    official: Option<&Identity>,
    rng: &mut impl rand::Rng,
    n: usize,
    text_chars: usize,
    line: &mut Option<[u8; 32]>,
) -> Vec<SignedChange> {
    let id = DocId::new_random(Kind::Request);
    let d = RequestDraft {
        kind: Some(model::RequestKind::Question),
        hamlet: "Thôn Nà Khoang".into(),
        name: "Đinh Thị Nở".into(),
        text: text(rng, text_chars),
        phone: None,
        public: false,
    };
    let by = kiosk.node_id();
    let code = format!("LM-2{n:06}");
    // Filed five minutes apart on one line, from November 2023 on: a busy kiosk's
    // day (288 a day), under the daily quota of new requests
    // (`verdict::doc::DAILY_REQUEST_QUOTA`), and in the past of every official's
    // day even at W6's 10× (`verdict::quota`'s horizon).
    let filed = 1_700_000_000 + 300 * n as i64;
    let (doc, first) = make_change_in_line(kiosk, &id, None, filed, Some(line), |tx| {
        model::put_header(tx, Kind::Request, &by, 1_780_000_000)?;
        model::write_new_request(tx, &code, &d, None)
    });
    let mut out = vec![first];
    if let Some(o) = official {
        let answer = text(rng, 200);
        let oid = o.node_id();
        out.push(
            make_change(o, &id, Some(&doc), |tx| {
                model::write_answer(tx, &oid, 1_780_000_100, &answer, Status::Answered, None)
            })
            .1,
        );
    }
    out
}

/// An office and a kiosk of one commune, in `base`, plus the key of a second enrolled
/// kiosk (`filer`) to sign residents' requests with, as if they were filed elsewhere.
pub struct Pair {
    pub office: Repo,
    pub kiosk: Repo,
    pub filer: Identity,
}

impl Pair {
    pub fn create(base: &Path) -> Result<Pair> {
        let mut office = Repo::open(&base.join("office"))?;
        office.init_commune("Xã Long Môn", "UBND xã Long Môn")?;
        let mut kiosk = Repo::open(&base.join("kiosk"))?;
        let inv = office.roster_add(
            kiosk.node_id(),
            Role::Kiosk,
            "Kiosk Nà Khoang",
            "Thôn Nà Khoang",
            vec![],
        )?;
        kiosk.join(&inv)?;
        let roster = office.changes_missing(&DocId::roster(), &[])?;
        kiosk.import(roster, Some(&office.node_id()))?;
        let filer = Identity::generate();
        office.roster_add(
            filer.node_id(),
            Role::Kiosk,
            "Kiosk Bản Chang",
            "Thôn Bản Chang",
            vec![],
        )?;
        Ok(Pair {
            office,
            kiosk,
            filer,
        })
    }
}

/// Imports changes in batches of 1,000 (one transaction each).
pub fn load(repo: &mut Repo, changes: Vec<SignedChange>, via: Option<&NodeId>) -> Result<usize> {
    let mut n = 0;
    for chunk in changes.chunks(1000) {
        let r = repo.import(chunk.to_vec(), via)?;
        anyhow::ensure!(
            r.rejected.is_empty(),
            "workload change refused: {:?}",
            r.rejected.first()
        );
        n += r.accepted;
    }
    Ok(n)
}

/// W1's content: notices, procedures, answered requests.
pub fn w1_changes(
    office: &Identity,
    kiosk: &Identity,
    notices: usize,
    procedures: usize,
    requests: usize,
    seed: u64,
) -> Vec<SignedChange> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = Vec::new();
    for _ in 0..notices {
        v.push(notice(office, &mut rng, 500, false));
    }
    for _ in 0..procedures {
        v.push(procedure(office, &mut rng));
    }
    let mut line = None;
    for i in 0..requests {
        v.extend(request(kiosk, Some(office), &mut rng, i, 300, &mut line));
    }
    v
}

/// Bytes and round trips of one sync, measured on the protocol's own frames.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Measure {
    pub bytes_a_to_b: u64,
    pub bytes_b_to_a: u64,
    pub msgs: u64,
    /// Flights: times a side had to wait for the other (max of both sides).
    pub round_trips: u64,
    pub changes: u64,
    /// CPU time each side's session spent (this thread's CPU clock around its
    /// `start`, `handle_message`, `poll_transmit` and the frame encoding and
    /// decoding), in microseconds.
    pub cpu_a_us: u64,
    pub cpu_b_us: u64,
    /// The largest send window either side reached (batches; `sync::window`).
    pub max_window: usize,
}

/// This thread's CPU time (user + system), in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measure {
    pub fn bytes(&self) -> u64 {
        self.bytes_a_to_b + self.bytes_b_to_a
    }
}

/// Runs a full sync between two stores in memory through the real wire encoding.
pub fn sync_in_memory(a: &mut Repo, b: &mut Repo) -> Result<Measure> {
    let commune = a
        .commune_id()?
        .ok_or_else(|| anyhow::anyhow!("no commune"))?;
    let mut sa = Session::new(a.node_id(), b.node_id(), commune, rand::random());
    let mut sb = Session::new(b.node_id(), a.node_id(), commune, rand::random());
    let (mut cpu_a, mut cpu_b) = (0u64, 0u64);
    let t = thread_cpu_ns();
    sa.start(a)?;
    let u = thread_cpu_ns();
    sb.start(b)?;
    cpu_a += u - t;
    cpu_b += thread_cpu_ns() - u;
    let mut m = Measure::default();
    // Each side's window from the rate its batches are acknowledged, as `node` sets
    // it. The two sides run here one after the other on one thread, but are two
    // machines: each has its own clock, advanced by the (wall) time its own work takes
    // — commits' fsyncs included — and a message leaves at its sender's time and is
    // handled no earlier; the link has no latency, so the rate is what the receiver's
    // import allows.
    let (mut clock_a, mut clock_b) = (0u64, 0u64);
    let (mut meter_a, mut meter_b) = (AckMeter::new(), AckMeter::new());
    loop {
        let mut moved = false;
        loop {
            // a's side: take a message and encode it; b's side: decode and handle it.
            let (t, w) = (thread_cpu_ns(), Instant::now());
            let Some(msg) = sa.poll_transmit() else {
                cpu_a += thread_cpu_ns() - t;
                break;
            };
            moved = true;
            let f = wire::encode(&msg);
            let u = thread_cpu_ns();
            cpu_a += u - t;
            clock_a += w.elapsed().as_nanos() as u64;
            meter_a.sent(&msg, clock_a / 1000);
            m.bytes_a_to_b += f.len() as u64;
            m.msgs += 1;
            let msg = wire::decode(&f[4..])?;
            clock_b = clock_b.max(clock_a);
            if msg == Msg::Ack {
                sb.set_window(meter_b.acked(clock_b / 1000));
                m.max_window = m.max_window.max(meter_b.window());
            }
            let w = Instant::now();
            sb.handle_message(msg, b)?;
            cpu_b += thread_cpu_ns() - u;
            clock_b += w.elapsed().as_nanos() as u64;
        }
        loop {
            let (t, w) = (thread_cpu_ns(), Instant::now());
            let Some(msg) = sb.poll_transmit() else {
                cpu_b += thread_cpu_ns() - t;
                break;
            };
            moved = true;
            let f = wire::encode(&msg);
            let u = thread_cpu_ns();
            cpu_b += u - t;
            clock_b += w.elapsed().as_nanos() as u64;
            meter_b.sent(&msg, clock_b / 1000);
            m.bytes_b_to_a += f.len() as u64;
            m.msgs += 1;
            let msg = wire::decode(&f[4..])?;
            clock_a = clock_a.max(clock_b);
            if msg == Msg::Ack {
                sa.set_window(meter_a.acked(clock_a / 1000));
                m.max_window = m.max_window.max(meter_a.window());
            }
            let w = Instant::now();
            sa.handle_message(msg, a)?;
            cpu_a += thread_cpu_ns() - u;
            clock_a += w.elapsed().as_nanos() as u64;
        }
        if !moved {
            break;
        }
    }
    m.cpu_a_us = cpu_a / 1000;
    m.cpu_b_us = cpu_b / 1000;
    while sa.poll_event().is_some() {}
    while let Some(e) = sb.poll_event() {
        let _ = e == Event::Synced;
    }
    anyhow::ensure!(a.change_set()? == b.change_set()?, "not converged");
    m.round_trips = sa.stats().round_trips.max(sb.stats().round_trips);
    m.changes = sa.stats().changes_sent + sb.stats().changes_sent;
    Ok(m)
}

/// W7: a first contact between two stores that hold `n` common notices and `diff`
/// more each that the other lacks (loaded separately, as from USB sticks). Returns the
/// contact's measure and the bytes of the changes that differ (change bytes +
/// signature + document id, both directions, receipts included): the data itself.
pub fn w7(base: &Path, n: usize, diff: usize, seed: u64) -> Result<(Measure, u64)> {
    let mut p = Pair::create(base)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let common: Vec<SignedChange> = (0..n)
        .map(|_| notice(p.office.identity(), &mut rng, 200, false))
        .collect();
    load(&mut p.office, common.clone(), None)?;
    load(&mut p.kiosk, common, None)?;
    let only_office: Vec<SignedChange> = (0..diff)
        .map(|_| notice(p.office.identity(), &mut rng, 200, false))
        .collect();
    let only_kiosk: Vec<SignedChange> = (0..diff)
        .map(|_| notice(p.office.identity(), &mut rng, 200, false))
        .collect();
    load(&mut p.office, only_office, None)?;
    load(&mut p.kiosk, only_kiosk, None)?;
    let by_hash = |r: &Repo| -> Result<std::collections::HashMap<[u8; 32], u64>> {
        let mut m = std::collections::HashMap::new();
        for c in r.all_changes()? {
            let size = (c.bytes.len() + 64 + c.doc.as_str().len()) as u64;
            let h = automerge::Change::from_bytes(c.bytes)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .hash()
                .0;
            m.insert(h, size);
        }
        Ok(m)
    };
    let (a, b) = (by_hash(&p.office)?, by_hash(&p.kiosk)?);
    let differing: u64 = a
        .iter()
        .filter(|(h, _)| !b.contains_key(*h))
        .chain(b.iter().filter(|(h, _)| !a.contains_key(*h)))
        .map(|(_, s)| s)
        .sum();
    let m = sync_in_memory(&mut p.office, &mut p.kiosk)?;
    Ok((m, differing))
}

/// Size of the data itself: every signed change (document id, change bytes,
/// signature) deflated as one stream. The floor any protocol must pay.
pub fn floor_bytes(changes: &[SignedChange]) -> u64 {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    for c in changes {
        e.write_all(c.doc.as_str().as_bytes()).expect("vec");
        e.write_all(&c.bytes).expect("vec");
        e.write_all(&c.sig).expect("vec");
    }
    e.finish().expect("vec").len() as u64
}

/// A document as plain Automerge, rebuilt from the signed changes a store holds.
fn plain_doc(repo: &Repo, id: &DocId) -> Result<Automerge> {
    let changes: Vec<automerge::Change> = repo
        .changes_missing(id, &[])?
        .into_iter()
        .filter_map(|c| automerge::Change::from_bytes(c.bytes).ok())
        .collect();
    let mut doc = Automerge::new();
    doc.apply_changes(changes)?;
    Ok(doc)
}

/// Baseline 1: every document's full `save()` sent.
pub fn baseline_full_save(repo: &Repo) -> Result<u64> {
    let mut total = 0u64;
    for d in repo.doc_heads(0)? {
        let doc = plain_doc(repo, &d.id)?;
        total += doc.save().len() as u64 + d.id.as_str().len() as u64;
    }
    Ok(total)
}

/// Baseline 2: Automerge's own sync protocol, run per document against an empty peer.
pub fn baseline_automerge_sync(repo: &Repo) -> Result<(u64, u64)> {
    use automerge::sync::SyncDoc;
    let (mut bytes, mut rounds) = (0u64, 0u64);
    for d in repo.doc_heads(0)? {
        let mut a = plain_doc(repo, &d.id)?;
        let mut b = Automerge::new();
        let (mut sa, mut sb) = (automerge::sync::State::new(), automerge::sync::State::new());
        let mut r = 0;
        loop {
            let m1 = a.generate_sync_message(&mut sa);
            let m2 = b.generate_sync_message(&mut sb);
            if m1.is_none() && m2.is_none() {
                break;
            }
            r += 1;
            if let Some(m) = m1 {
                let enc = m.encode();
                bytes += enc.len() as u64 + d.id.as_str().len() as u64;
                b.receive_sync_message(&mut sb, automerge::sync::Message::decode(&enc)?)?;
            }
            if let Some(m) = m2 {
                let enc = m.encode();
                bytes += enc.len() as u64 + d.id.as_str().len() as u64;
                a.receive_sync_message(&mut sa, automerge::sync::Message::decode(&enc)?)?;
            }
        }
        rounds = rounds.max(r);
    }
    Ok((bytes, rounds))
}

/// Resident set size of this process, in KiB (Linux).
pub fn rss_kib() -> u64 {
    rss_kib_of("self")
}

/// Resident set size of process `pid` ("self" for this one), in KiB (Linux).
pub fn rss_kib_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

pub fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

/// The sender's address the relay must forward to: the one on the IP it was told to
/// listen on. Its first address is not always that one (iroh also lists others, e.g.
/// IPv6 or loopback inside its namespace), and a relay forwarding there reached
/// nothing: whole contacts passed with 24 unanswered handshake packets.
fn reachable(addrs: &[std::net::SocketAddr], ip: std::net::IpAddr) -> Result<std::net::SocketAddr> {
    addrs
        .iter()
        .find(|a| a.ip() == ip)
        .or(addrs.first())
        .copied()
        .ok_or_else(|| anyhow::anyhow!("the sending node has no address"))
}

/// One sync between two data dirs over real iroh endpoints, through the emulated link.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LinkMeasure {
    /// From the QUIC connection being up to both sides holding the same heads.
    pub catch_up_ms: u64,
    /// From the connection being up to the urgent notice readable, and urgent, on the
    /// receiver (for a notice made urgent by an edit: the edit and its base both held).
    pub urgent_ms: Option<u64>,
    /// Protocol payload bytes (our frames), both ways.
    pub payload_bytes: u64,
    /// UDP payload bytes through the link, both ways (QUIC + TLS + our frames).
    pub udp_bytes: u64,
    pub dropped_packets: u64,
    pub round_trips: u64,
    /// The two nodes ran in separate network namespaces, so every packet crossed the
    /// emulated link. Without root they share loopback and iroh may find the direct
    /// path after the handshake: then only the handshake is shaped.
    pub isolated: bool,
}

/// Syncs `receiver` from `sender` (data dirs) over iroh through a `LinkSpec` relay.
pub async fn sync_over_link(
    sender: &Path,
    receiver: &Path,
    spec: link::LinkSpec,
    urgent: Option<DocId>,
    timeout: Duration,
) -> Result<LinkMeasure> {
    sync_over_link_cut(sender, receiver, spec, urgent, timeout, 0).await
}

/// Like `sync_over_link`, but the link goes dead for good after `cut_after_bytes`
/// (0 = never): the sync then fails by timeout, keeping whatever was committed.
pub async fn sync_over_link_cut(
    sender: &Path,
    receiver: &Path,
    spec: link::LinkSpec,
    urgent: Option<DocId>,
    timeout: Duration,
    cut_after_bytes: u64,
) -> Result<LinkMeasure> {
    use crate::node::{BackgroundNode, NodeEvent, NodeOptions};
    let net = |listen: std::net::SocketAddr| crate::net::NetConfig {
        listen,
        mdns: false,
        relay_url: None,
    };
    let lo: std::net::IpAddr = std::net::Ipv4Addr::LOCALHOST.into();
    let ns = netns::Pair::create("link").ok();
    let (office_ip, kiosk_ip, front_ip, up_ip) = match &ns {
        Some(p) => (p.inner[0], p.inner[1], p.outer[1], p.outer[0]),
        None => (lo, lo, lo, lo),
    };
    let start = |i: usize, dir: std::path::PathBuf, opts: NodeOptions| -> Result<BackgroundNode> {
        match &ns {
            Some(p) => p.run_in(i, move || BackgroundNode::start(dir, opts))?,
            None => BackgroundNode::start(dir, opts),
        }
    };
    let office = start(
        0,
        sender.to_path_buf(),
        NodeOptions {
            net: net(std::net::SocketAddr::new(office_ip, 0)),
            peers: vec![],
            redial: false,
            speak_version: None,
        },
    )?;
    let target = reachable(&office.addrs, office_ip)?;
    let relay = link::Relay::start_on(front_ip, up_ip, target, spec).await?;
    relay
        .state
        .cut_after_bytes
        .store(cut_after_bytes, std::sync::atomic::Ordering::Relaxed);
    let peer = crate::config::PeerAddr {
        node: office.handle.node_id,
        addr: relay.addr,
    };
    let kiosk = start(
        1,
        receiver.to_path_buf(),
        NodeOptions {
            net: net(std::net::SocketAddr::new(kiosk_ip, 0)),
            peers: vec![peer],
            redial: false,
            speak_version: None,
        },
    )?;
    let mut events = kiosk.handle.subscribe();
    let mut m = LinkMeasure {
        isolated: ns.is_some(),
        ..Default::default()
    };
    let reader = Repo::open(receiver)?;
    let res = tokio::time::timeout(timeout, async {
        let mut up: Option<Instant> = None;
        loop {
            let ev = tokio::time::timeout(Duration::from_millis(10), events.recv()).await;
            if let (Some(t), Some(u), None) = (up, &urgent, m.urgent_ms)
                && reader.notice(u)?.is_some()
            {
                m.urgent_ms = Some(t.elapsed().as_millis() as u64);
            }
            match ev {
                Ok(Ok(NodeEvent::Connected { .. })) => up = Some(Instant::now()),
                Ok(Ok(NodeEvent::Synced { report, .. })) => {
                    let t = up.map(|u| u.elapsed()).unwrap_or_default();
                    m.catch_up_ms = t.as_millis() as u64;
                    m.payload_bytes = report.bytes_sent + report.bytes_received;
                    m.round_trips = report.round_trips;
                    if let (Some(u), None) = (&urgent, m.urgent_ms)
                        && reader.notice(u)?.is_some()
                    {
                        m.urgent_ms = Some(m.catch_up_ms);
                    }
                    return anyhow::Ok(());
                }
                Ok(Ok(NodeEvent::Refused { reason, .. })) => anyhow::bail!("refused: {reason}"),
                _ => {}
            }
        }
    })
    .await;
    m.udp_bytes = relay.state.total();
    m.dropped_packets = relay
        .state
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    // Dropping a background node stops it (its thread joins): do it off the runtime.
    tokio::task::spawn_blocking(move || {
        drop(kiosk);
        drop(office);
    })
    .await?;
    drop(ns);
    match res {
        Ok(r) => r.map(|_| m),
        Err(_) => anyhow::bail!("sync over the emulated link did not finish in {timeout:?}"),
    }
}

/// One contact of a fixed length over the emulated link (W8, W4b).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ContactMeasure {
    /// Length of the contact: from the receiver starting to dial (the link is up) to
    /// the cut.
    pub window_ms: u64,
    /// From link up to the QUIC connection being up.
    pub connect_ms: Option<u64>,
    /// From link up to the first batch committed on the receiver.
    pub first_commit_ms: Option<u64>,
    /// From the connection being up to the urgent notice readable, and urgent, on the
    /// receiver (for a notice made urgent by an edit: the edit and its base both held).
    pub urgent_after_connect_ms: Option<u64>,
    /// From link up to the session reporting `Synced` (the backlog is done).
    pub synced_ms: Option<u64>,
    /// UDP payload bytes through the link, both ways, during the contact.
    pub udp_bytes: u64,
    /// Of those, what went from the receiver to the sender (the rest came back).
    pub udp_up_bytes: u64,
    pub dropped_packets: u64,
    pub isolated: bool,
    /// Where the relay forwarded to, and the sending node's listed addresses.
    pub target: String,
    pub sender_addrs: String,
    /// For a contact that never connected: this namespace's IPv4 routes and the
    /// namespaces that existed at the cut (a diagnosis aid).
    pub routes_at_cut: Option<String>,
}

/// A contact between two data dirs over real iroh endpoints (each in its own network
/// namespace when root), through the emulated link: the receiver dials, the link
/// carries packets for `window` from that moment, then it is cut and both nodes stop,
/// keeping whatever was committed. Ends early once the two are in sync.
pub async fn contact_over_link(
    sender: &Path,
    receiver: &Path,
    spec: link::LinkSpec,
    urgent: Option<DocId>,
    window: Duration,
) -> Result<ContactMeasure> {
    use crate::node::{BackgroundNode, NodeEvent, NodeOptions};
    let net = |listen: std::net::SocketAddr| crate::net::NetConfig {
        listen,
        mdns: false,
        relay_url: None,
    };
    let lo: std::net::IpAddr = std::net::Ipv4Addr::LOCALHOST.into();
    // Both nodes were running before the link came up: their sync index is current
    // (a node keys what it imported at start, or lazily on its first session).
    Repo::open(sender)?.change_set()?;
    Repo::open(receiver)?.change_set()?;
    let ns = netns::Pair::create("contact").ok();
    let (office_ip, kiosk_ip, front_ip, up_ip) = match &ns {
        Some(p) => (p.inner[0], p.inner[1], p.outer[1], p.outer[0]),
        None => (lo, lo, lo, lo),
    };
    let start = |i: usize, dir: std::path::PathBuf, opts: NodeOptions| -> Result<BackgroundNode> {
        match &ns {
            Some(p) => p.run_in(i, move || BackgroundNode::start(dir, opts))?,
            None => BackgroundNode::start(dir, opts),
        }
    };
    let office = start(
        0,
        sender.to_path_buf(),
        NodeOptions {
            net: net(std::net::SocketAddr::new(office_ip, 0)),
            peers: vec![],
            redial: false,
            speak_version: None,
        },
    )?;
    let target = reachable(&office.addrs, office_ip)?;
    let relay = link::Relay::start_on(front_ip, up_ip, target, spec).await?;
    let (target_s, addrs_s) = (target.to_string(), format!("{:?}", office.addrs));
    let peer = crate::config::PeerAddr {
        node: office.handle.node_id,
        addr: relay.addr,
    };
    let reader = Repo::open(receiver)?;
    let t0 = Instant::now();
    let kiosk = start(
        1,
        receiver.to_path_buf(),
        NodeOptions {
            net: net(std::net::SocketAddr::new(kiosk_ip, 0)),
            peers: vec![peer],
            redial: false,
            speak_version: None,
        },
    )?;
    let mut events = kiosk.handle.subscribe();
    let mut m = ContactMeasure {
        isolated: ns.is_some(),
        target: target_s,
        sender_addrs: addrs_s,
        ..Default::default()
    };
    let ms = |t: Instant| t.elapsed().as_millis() as u64;
    let mut up: Option<Instant> = None;
    while t0.elapsed() < window {
        let left = window.saturating_sub(t0.elapsed());
        let ev = tokio::time::timeout(left.min(Duration::from_millis(10)), events.recv()).await;
        if let (Some(u), Some(doc), None) = (up, &urgent, m.urgent_after_connect_ms)
            && reader.notice(doc)?.is_some_and(|n| n.urgent)
        {
            m.urgent_after_connect_ms = Some(ms(u));
        }
        match ev {
            Ok(Ok(NodeEvent::Connected { .. })) if up.is_none() => {
                up = Some(Instant::now());
                m.connect_ms = Some(ms(t0));
            }
            Ok(Ok(NodeEvent::Received { .. })) if m.first_commit_ms.is_none() => {
                m.first_commit_ms = Some(ms(t0));
            }
            Ok(Ok(NodeEvent::Synced { .. })) => {
                m.synced_ms = Some(ms(t0));
                break;
            }
            Ok(Ok(NodeEvent::Refused { reason, .. })) => anyhow::bail!("refused: {reason}"),
            _ => {}
        }
    }
    if m.connect_ms.is_none() {
        let run = |args: &[&str]| {
            std::process::Command::new("ip")
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        m.routes_at_cut = Some(format!(
            "{} | netns: {}",
            run(&["-4", "route", "show"]).replace('\n', "; "),
            run(&["netns", "list"]).replace('\n', " ")
        ));
    }
    // The cut: nothing more crosses, then both nodes stop.
    relay
        .state
        .cut
        .store(true, std::sync::atomic::Ordering::Relaxed);
    m.window_ms = ms(t0);
    m.udp_bytes = relay.state.total();
    m.udp_up_bytes = relay
        .state
        .up_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    m.dropped_packets = relay
        .state
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    tokio::task::spawn_blocking(move || {
        drop(kiosk);
        drop(office);
    })
    .await?;
    drop(relay);
    drop(ns);
    Ok(m)
}
