//! Shared test helpers: run the binary on a data dir, build communes through the
//! library, and drive sans-IO sessions between stores in memory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use conglang::model::Role;
use conglang::repo::Repo;
use conglang::sync::{Event, Msg, Session};

/// The binary under test. `CONGLANG_BIN` overrides the one cargo built: several
/// worktrees sharing one target dir overwrite each other's `target/debug/conglang`.
pub fn bin() -> Command {
    let exe =
        std::env::var_os("CONGLANG_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_conglang").into());
    let mut c = Command::new(exe);
    c.env("CONGLANG_LOG", "info,iroh=warn,noq=warn");
    c
}

/// A node as the CLI sees it: a data dir.
pub struct CliNode {
    pub dir: PathBuf,
}

impl CliNode {
    pub fn new(base: &Path, name: &str) -> CliNode {
        CliNode {
            dir: base.join(name),
        }
    }
    pub fn cmd(&self, args: &[&str]) -> Output {
        bin()
            .arg("--data")
            .arg(&self.dir)
            .args(args)
            .output()
            .expect("run conglang")
    }
    /// Runs a command that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd(args);
        assert!(
            o.status.success(),
            "conglang {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8(o.stdout).expect("utf-8 output")
    }
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).expect("json output")
    }
    pub fn id(&self) -> String {
        self.ok(&["id"]).trim().to_string()
    }
    /// Starts `serve` on a loopback port; returns the child and its node id and port.
    pub fn serve(&self, extra: &[&str]) -> Served {
        std::fs::create_dir_all(&self.dir).expect("data dir");
        let mut child = bin()
            .arg("--data")
            .arg(&self.dir)
            .args(["serve", "--listen", "127.0.0.1:0", "--no-mdns"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.dir.with_extension("serve.log")).expect("log file"))
            .spawn()
            .expect("spawn serve");
        use std::io::BufRead;
        let out = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .expect("serve prints its address");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let log =
                std::fs::read_to_string(self.dir.with_extension("serve.log")).unwrap_or_default();
            panic!("serve did not print its address ({e}): {line:?}\n{log}")
        });
        let addr = v["listen"][0].as_str().expect("listen addr").to_string();
        Served {
            child,
            peer: format!("{}@{}", v["node_id"].as_str().expect("node id"), addr),
        }
    }
    pub fn sync_with(&self, s: &Served) -> serde_json::Value {
        let out = self.ok(&[
            "sync",
            "--peer",
            &s.peer,
            "--timeout",
            "60",
            "--listen",
            "127.0.0.1:0",
        ]);
        serde_json::from_str(&out).expect("sync report is json")
    }
}

/// Enrols `node` on `office` with the CLI and joins it with the printed invite.
pub fn enrol(office: &CliNode, node: &CliNode, role: &str, name: &str) {
    let id = node.id();
    let invite = office.ok(&["roster", "add", &id, "--role", role, "--name", name]);
    node.ok(&["join", invite.trim()]);
}

pub struct Served {
    pub child: Child,
    pub peer: String,
}

impl Served {
    /// Stops with SIGTERM, as a service manager would, and waits.
    pub fn stop(mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A commune built through the library: an office (founder) and members.
pub struct Commune {
    pub base: tempfile::TempDir,
    pub office: Repo,
}

impl Commune {
    pub fn new() -> Commune {
        let base = tempfile::tempdir().expect("tempdir");
        let mut office = Repo::open(&base.path().join("office")).expect("open office");
        office
            .init_commune("Xã Long Môn", "UBND xã Long Môn")
            .expect("init");
        Commune { base, office }
    }
    /// Enrols and joins a new member, and gives it the office's current state.
    pub fn member(&mut self, name: &str, role: Role) -> Repo {
        let mut r = Repo::open(&self.base.path().join(name)).expect("open member");
        let invite = self
            .office
            .roster_add(r.node_id(), role, name, name, vec![])
            .expect("roster add");
        r.join(&invite).expect("join");
        let office_id = self.office.node_id();
        exchange(&mut self.office, &mut r);
        let _ = office_id;
        r
    }
}

/// Runs a sans-IO session between two stores until neither has anything to say.
/// Returns the messages delivered each way.
pub fn exchange(a: &mut Repo, b: &mut Repo) -> (usize, usize) {
    exchange_limited(a, b, usize::MAX).expect("sync completes")
}

/// Like `exchange`, but the link is cut after `limit` messages in total. Returns
/// `None` if cut before both sides were synced.
pub fn exchange_limited(a: &mut Repo, b: &mut Repo, limit: usize) -> Option<(usize, usize)> {
    let commune = a
        .commune_id()
        .unwrap()
        .or(b.commune_id().unwrap())
        .expect("commune");
    let mut sa = Session::new(a.node_id(), b.node_id(), commune, rand::random());
    let mut sb = Session::new(b.node_id(), a.node_id(), commune, rand::random());
    sa.start(a).unwrap();
    sb.start(b).unwrap();
    let (mut n_ab, mut n_ba) = (0, 0);
    let mut delivered = 0;
    loop {
        let mut moved = false;
        while let Some(m) = sa.poll_transmit() {
            if delivered >= limit {
                return None;
            }
            delivered += 1;
            n_ab += 1;
            moved = true;
            let m = roundtrip(m);
            let dbg = format!(
                "{:?}",
                match m.batch() {
                    Some(changes) => changes
                        .iter()
                        .map(|c| c.doc.to_string())
                        .collect::<Vec<_>>(),
                    None => vec![format!("{m:?}").chars().take(300).collect()],
                }
            );
            if let Err(e) = sb.handle_message(m, b) {
                panic!("{e}: a->b {dbg}");
            }
        }
        while let Some(m) = sb.poll_transmit() {
            if delivered >= limit {
                return None;
            }
            delivered += 1;
            n_ba += 1;
            moved = true;
            let m = roundtrip(m);
            let dbg = format!(
                "{:?}",
                match m.batch() {
                    Some(changes) => changes
                        .iter()
                        .map(|c| c.doc.to_string())
                        .collect::<Vec<_>>(),
                    None => vec![format!("{m:?}").chars().take(300).collect()],
                }
            );
            if let Err(e) = sa.handle_message(m, a) {
                panic!("{e}: b->a {dbg}");
            }
        }
        if !moved {
            break;
        }
    }
    let synced = |s: &mut Session| {
        let mut ok = s.is_synced();
        while let Some(e) = s.poll_event() {
            if e == Event::Synced {
                ok = true;
            }
        }
        ok
    };
    let (ya, yb) = (synced(&mut sa), synced(&mut sb));
    assert_eq!(
        a.change_set().unwrap(),
        b.change_set().unwrap(),
        "change sets differ after a complete exchange"
    );
    assert_eq!(
        a.digest().unwrap(),
        b.digest().unwrap(),
        "documents differ after a complete exchange"
    );
    assert!(
        ya && yb,
        "a complete exchange must end in sync on both sides"
    );
    Some((n_ab, n_ba))
}

/// Every message goes through the real wire encoding.
pub fn roundtrip(m: Msg) -> Msg {
    let frame = conglang::sync::wire::encode(&m);
    let n = conglang::sync::wire::frame_len(frame[..4].try_into().unwrap()).unwrap();
    conglang::sync::wire::decode(&frame[4..4 + n]).unwrap()
}

/// Digest of every document's heads: equal when two nodes show the same documents.
pub fn digest_of(r: &Repo) -> [u8; 16] {
    r.digest().unwrap().0
}

/// Writes changes as a USB bundle, without any check (for forged bundles).
pub fn write_bundle(path: &std::path::Path, changes: Vec<conglang::model::SignedChange>) {
    let mut bytes = b"CONGLANG-BUNDLE 2\n".to_vec();
    bytes.extend(conglang::sync::wire::encode(
        &conglang::sync::Msg::Changes { changes },
    ));
    std::fs::write(path, bytes).unwrap();
}

/// The document `id` as `source` holds it (valid changes only).
pub fn doc_of(source: &Repo, id: &conglang::model::DocId) -> automerge::Automerge {
    let mut d = automerge::Automerge::new();
    let changes: Vec<automerge::Change> = source
        .changes_missing(id, &[])
        .unwrap()
        .into_iter()
        .map(|s| automerge::Change::from_bytes(s.bytes).unwrap())
        .collect();
    d.apply_changes(changes).unwrap();
    d
}

/// Makes a change to `doc` as `author` (its real key, a fresh actor) on top of what
/// `source` holds, bypassing every local check — as a tampered binary would.
pub fn forge(
    author: &Repo,
    source: &Repo,
    doc: &conglang::model::DocId,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> conglang::model::SignedChange {
    let mut d = doc_of(source, doc);
    d.set_actor(conglang::model::signed::new_actor(&author.node_id()));
    let before = d.get_heads();
    d.transact::<_, _, automerge::AutomergeError>(|tx| {
        f(tx);
        Ok(())
    })
    .unwrap();
    let mut c = if d.get_heads() == before {
        // A change with no operations at all.
        d.empty_commit(automerge::transaction::CommitOptions::default());
        d.get_last_local_change().unwrap()
    } else {
        d.get_changes(&before).pop().unwrap()
    };
    conglang::model::SignedChange::sign(author.identity(), doc, &mut c)
}

/// A hand-driven peer on a raw iroh endpoint (loopback): it speaks the sync framing
/// (`wire::encode`) but says whatever a test wants, whenever it wants, and reads
/// only when asked — a hostile or broken peer, as the node sees it on the network.
pub struct RawPeer {
    rt: tokio::runtime::Runtime,
    _ep: iroh::Endpoint,
    conn: iroh::endpoint::Connection,
    send: iroh::endpoint::SendStream,
    recv: iroh::endpoint::RecvStream,
}

impl RawPeer {
    /// Dials `peer` ("<node id>@<addr>", as `Served::peer`) on `alpn` with `key`.
    pub fn dial(key: &conglang::identity::Identity, peer: &str, alpn: &[u8]) -> RawPeer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (id, addr) = peer.split_once('@').expect("id@addr");
        let id: conglang::identity::NodeId = id.parse().expect("node id");
        let addr: std::net::SocketAddr = addr.parse().expect("address");
        let (ep, conn, send, recv) = rt.block_on(async {
            let ep = iroh::Endpoint::builder(iroh::endpoint::presets::Minimal)
                .secret_key(iroh::SecretKey::from_bytes(&key.secret_bytes()))
                .relay_mode(iroh::RelayMode::Disabled)
                .clear_ip_transports()
                .bind_addr("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())
                .expect("bind addr")
                .bind()
                .await
                .expect("endpoint");
            let to =
                iroh::EndpointAddr::new(iroh::PublicKey::from_bytes(id.as_bytes()).expect("key"))
                    .with_ip_addr(addr);
            let conn = ep.connect(to, alpn).await.expect("connect");
            let (send, recv) = conn.open_bi().await.expect("stream");
            (ep, conn, send, recv)
        });
        RawPeer {
            rt,
            _ep: ep,
            conn,
            send,
            recv,
        }
    }

    /// Sends one message; `false` once the node has closed the stream or connection.
    pub fn send(&mut self, m: &Msg) -> bool {
        self.send_frame(&conglang::sync::wire::encode(m))
    }

    pub fn send_frame(&mut self, frame: &[u8]) -> bool {
        let send = &mut self.send;
        self.rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(20), send.write_all(frame))
                .await
                .map(|r| r.is_ok())
                .unwrap_or(false)
        })
    }

    /// The next message from the node, or `None` (closed, garbage, nothing in `wait`).
    pub fn recv(&mut self, wait: std::time::Duration) -> Option<Msg> {
        let recv = &mut self.recv;
        self.rt.block_on(async {
            tokio::time::timeout(wait, async {
                let mut prefix = [0u8; 4];
                recv.read_exact(&mut prefix).await.ok()?;
                let n = conglang::sync::wire::frame_len(prefix).ok()?;
                let mut body = vec![0u8; n];
                recv.read_exact(&mut body).await.ok()?;
                conglang::sync::wire::decode(&body).ok()
            })
            .await
            .ok()
            .flatten()
        })
    }

    /// Opens `n` more streams of each kind beside the session's own and writes
    /// `bytes` into each, never to be read by the node. Returns how many bytes the
    /// node let us write (what QUIC flow control had it agree to buffer) before
    /// `wait` ran out.
    pub fn park_on_extra_streams(&self, n: usize, bytes: usize, wait: std::time::Duration) -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        let conn = self.conn.clone();
        self.rt.block_on(async move {
            let sent = std::sync::Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            for i in 0..2 * n {
                let (conn, sent) = (conn.clone(), sent.clone());
                tasks.push(tokio::spawn(async move {
                    let mut s = if i % 2 == 0 {
                        conn.open_uni().await.ok()?
                    } else {
                        conn.open_bi().await.ok()?.0
                    };
                    let chunk = vec![0u8; 64 * 1024];
                    let mut left = bytes;
                    while left > 0 {
                        let k = left.min(chunk.len());
                        s.write_all(&chunk[..k]).await.ok()?;
                        sent.fetch_add(k as u64, Relaxed);
                        left -= k;
                    }
                    Some(())
                }));
            }
            let _ = tokio::time::timeout(wait, async {
                for t in tasks.iter_mut() {
                    let _ = t.await;
                }
            })
            .await;
            for t in &tasks {
                t.abort();
            }
            sent.load(Relaxed)
        })
    }

    /// Whether the node closed the connection within `wait`.
    pub fn closed_within(&self, wait: std::time::Duration) -> bool {
        let conn = self.conn.clone();
        self.rt
            .block_on(async { tokio::time::timeout(wait, conn.closed()).await.is_ok() })
    }
}

/// Resident memory of process `pid` in KiB (`VmRSS` in /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A copy, under `dir`, of the store in `tests/fixtures/<name>` (written by an earlier
/// release's binary), opened — and so migrated — by this one. `schema`: the version
/// the copy must be at before it is opened, checked first (opening it at that version
/// changes nothing).
pub fn fixture_store(dir: &Path, name: &str, schema: Option<usize>) -> Repo {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let to = dir.join(name);
    std::fs::create_dir_all(&to).unwrap();
    for f in ["node.key", conglang::store::DB_FILE] {
        std::fs::copy(fixtures.join(name).join(f), to.join(f)).unwrap();
    }
    if let Some(v) = schema {
        let store =
            conglang::store::Store::open_file(&to.join(conglang::store::DB_FILE), Some(v)).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            v as i64,
            "{name} is at schema {v}"
        );
    }
    Repo::open(&to).unwrap()
}

/// A change to `base` made with `author`'s real key and the given actor, bypassing
/// every local check.
pub fn forge_with(
    author: &conglang::repo::Repo,
    mut base: automerge::Automerge,
    doc: &conglang::model::DocId,
    actor: automerge::ActorId,
    message: Option<String>,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> conglang::model::SignedChange {
    base.set_actor(actor);
    let before = base.get_heads();
    base.transact_with::<_, _, automerge::AutomergeError, _>(
        |_| match &message {
            Some(m) => automerge::transaction::CommitOptions::default().with_message(m.clone()),
            None => automerge::transaction::CommitOptions::default(),
        },
        |tx| {
            f(tx);
            Ok(())
        },
    )
    .unwrap();
    let mut c = if base.get_heads() == before {
        // A change with no operations at all.
        base.empty_commit(automerge::transaction::CommitOptions::default());
        base.get_last_local_change().unwrap()
    } else {
        base.get_changes(&before).pop().unwrap()
    };
    conglang::model::SignedChange::sign(author.identity(), doc, &mut c)
}

/// A change of a later-kind document `id` (a photo, a release) by `author` on `base`,
/// with the chain message every later-kind change carries, bypassing every local
/// check (a tampered binary, or a later version's writer).
pub fn later_kind_change(
    author: &Repo,
    base: automerge::Automerge,
    id: &conglang::model::DocId,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> conglang::model::SignedChange {
    forge_with(
        author,
        base,
        id,
        conglang::model::signed::new_actor(&author.node_id()),
        Some(conglang::model::signed::ChainMeta::for_doc(id, None).encode()),
        f,
    )
}

/// A receipt's `notices` map, made when the document has none yet.
pub fn notices_map(tx: &mut automerge::transaction::Transaction<'_>) -> automerge::ObjId {
    use automerge::{ReadDoc, transaction::Transactable};
    match tx.get(automerge::ROOT, "notices").unwrap() {
        Some((automerge::Value::Object(automerge::ObjType::Map), m)) => m,
        _ => tx
            .put_object(automerge::ROOT, "notices", automerge::ObjType::Map)
            .unwrap(),
    }
}

/// A commune with a kiosk that has written its receipt for the current period.
pub fn kiosk_with_receipt() -> (Commune, conglang::repo::Repo, conglang::model::DocId) {
    let mut c = Commune::new();
    let mut k = c.member("kiosk-1", conglang::model::Role::Kiosk);
    c.office
        .post_notice(&conglang::model::NoticeDraft {
            title: "Họp thôn".into(),
            body: "Tối nay".into(),
            ..Default::default()
        })
        .unwrap();
    exchange(&mut c.office, &mut k);
    let rc = k
        .receipt_docs(&k.node_id())
        .unwrap()
        .into_iter()
        .find(|d| d.receipt_period().is_some())
        .expect("the kiosk wrote a periodic receipt");
    (c, k, rc)
}

/// A request's creating change by `kiosk`'s key, as a tampered binary makes it: dated
/// `time`, with `actor`, holding `text`, signed for `id`, with `message` (a chain link,
/// or none as before chains).
pub fn forged_request(
    kiosk: &Repo,
    id: &conglang::model::DocId,
    actor: automerge::ActorId,
    time: i64,
    text: &str,
    message: Option<String>,
) -> conglang::model::SignedChange {
    use automerge::{ROOT, transaction::Transactable};
    let mut d = automerge::Automerge::new();
    d.set_actor(actor);
    d.transact_with::<_, _, automerge::AutomergeError, _>(
        |_| {
            let o = automerge::transaction::CommitOptions::default().with_time(time);
            match &message {
                Some(m) => o.with_message(m.clone()),
                None => o,
            }
        },
        |tx| {
            tx.put(ROOT, "kind", "request")?;
            tx.put(ROOT, "created_by", kiosk.node_id().to_string())?;
            tx.put(ROOT, "text", text)?;
            Ok(())
        },
    )
    .unwrap();
    let mut ch = d.get_last_local_change().unwrap();
    conglang::model::SignedChange::sign(kiosk.identity(), id, &mut ch)
}
