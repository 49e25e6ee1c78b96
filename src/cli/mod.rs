//! Headless commands. Arguments are parsed by clap, then validated into domain values
//! (times, roles, node ids) before anything touches the store, so a bad argument is
//! a clear English error and a non-zero exit with nothing written.

mod release;
mod status;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::config::{Config, PeerAddr};
use crate::identity::{Identity, NodeId};
use crate::model::text::{format_time, parse_time, short_name};
use crate::model::{
    Appointment, Category, DocId, NoticeDraft, RequestDraft, RequestKind, Role, Status,
};
use crate::node::{Node, NodeEvent, NodeOptions};
use crate::repo::{Invite, Repo};

#[derive(Parser, Debug)]
#[command(
    name = "conglang",
    version,
    about = "Cổng Làng: offline-first commune kiosk node"
)]
pub struct Cli {
    /// Data directory (key, database). Default: from --config, else the user data dir.
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Kiosk config file (see kiosk-config/).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Found a commune: this node becomes its first official.
    Init {
        #[arg(long)]
        commune: String,
        #[arg(long)]
        name: String,
    },
    /// Print this node's id (creates the key if missing).
    Id,
    /// Join the commune named in an invite (from `roster add` on an official's node).
    Join {
        /// The invite text (`conglang2:…`).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        invite: Option<String>,
        /// Read the invite from a file (e.g. `<name>.conglang-invite` on a USB stick).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
    },
    /// Wait to join a commune without typing: the office lists this machine, both
    /// screens show one 6-digit code, and once it is typed here the office enrols it.
    Pair(PairArgs),
    /// Who belongs to the commune: list; enrol by invite or pairing, revoke (officials).
    #[command(subcommand)]
    Roster(RosterCmd),
    /// The commune's notices: list, show; post and withdraw (officials).
    #[command(subcommand)]
    Notice(NoticeCmd),
    /// The procedures residents look up: list and add (officials).
    #[command(subcommand)]
    Procedure(ProcedureCmd),
    /// Residents' questions and appointments: submit, list, show; answer (officials).
    #[command(subcommand)]
    Request(RequestCmd),
    /// Node, commune, role and document counts.
    Status,
    /// Run a headless node: accept and dial peers, sync continuously.
    Serve(NetArgs),
    /// Sync once with one peer and print a JSON report.
    Sync {
        #[arg(long, required = true)]
        peer: PeerAddr,
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        #[arg(long, default_value = "0.0.0.0:0")]
        listen: std::net::SocketAddr,
    },
    /// Carry changes on a USB stick: export a bundle here, import it there.
    #[command(subcommand)]
    Bundle(BundleCmd),
    /// Which nodes are known to hold a notice, and since when.
    Reach { notice: DocId },
    /// Copy the database, consistent, to a new file (while the node runs too).
    Backup { out: PathBuf },
    /// Software updates: sign a package (release builder); check, approve or withdraw
    /// one for the commune (officials); list what this node holds.
    #[command(subcommand)]
    Release(release::ReleaseCmd),
    /// Open the app for this node's role (the default without a subcommand).
    Kiosk,
    /// Open the app on a built-in demo commune.
    Demo {
        /// Where to keep the demo's data (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct NetArgs {
    /// Address to listen on (default from config, else 0.0.0.0:7300).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Peer to dial, NODE_ID@IP:PORT (repeatable).
    #[arg(long)]
    pub peer: Vec<PeerAddr>,
    /// Turn off local-network discovery.
    #[arg(long)]
    pub no_mdns: bool,
}

/// Options of both pairing commands.
#[derive(Args, Debug)]
pub struct PairArgs {
    /// Address to listen on (default: any interface, a free port).
    #[arg(long, default_value = "0.0.0.0:0")]
    pub listen: std::net::SocketAddr,
    /// Turn off local-network discovery (then the office needs --probe).
    #[arg(long)]
    pub no_mdns: bool,
    /// Seconds the code comparison may take before the session is cancelled.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

#[derive(Subcommand, Debug)]
pub enum RosterCmd {
    /// Enrol a device (officials only); prints the invite for it.
    Add {
        node: NodeId,
        #[arg(long)]
        role: Role,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        place: String,
    },
    /// Enrol a new machine found on the LAN (officials only): it must be waiting
    /// (`conglang pair` or the app's first screen); both show a code to compare.
    Pair {
        #[arg(long)]
        role: Role,
        /// Name in the roster (default: the machine's label, its host name).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "")]
        place: String,
        /// The machine's label or id prefix, when several are waiting.
        #[arg(long)]
        machine: Option<String>,
        /// Seconds to look for a waiting machine.
        #[arg(long, default_value_t = 60)]
        scan: u64,
        /// Also ask this node directly, NODE_ID@IP:PORT (where mDNS cannot reach).
        #[arg(long)]
        probe: Vec<PeerAddr>,
        #[command(flatten)]
        net: PairArgs,
    },
    /// Revoke a device (officials only).
    Revoke {
        node: NodeId,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum NoticeCmd {
    Post {
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        body: String,
        #[arg(long, default_value = "other")]
        category: Category,
        #[arg(long)]
        urgent: bool,
        #[arg(long, requires = "place")]
        starts: Option<String>,
        #[arg(long)]
        place: Option<String>,
        #[arg(long)]
        valid_until: Option<String>,
        /// Target hamlets, separated by ';' (default: all).
        #[arg(long)]
        hamlets: Option<String>,
    },
    List {
        /// Include withdrawn and expired notices.
        #[arg(long)]
        all: bool,
    },
    Show {
        id: DocId,
    },
    Withdraw {
        id: DocId,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProcedureCmd {
    Add {
        #[arg(long)]
        title: String,
        /// Papers to bring, separated by ';'.
        #[arg(long, default_value = "")]
        papers: String,
        #[arg(long, default_value = "")]
        fee: String,
        #[arg(long)]
        days: Option<i64>,
        #[arg(long, default_value = "")]
        steps: String,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum RequestCmd {
    Submit {
        #[arg(long)]
        hamlet: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        text: String,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long, default_value = "question")]
        kind: RequestKind,
        /// Show the resident's full name on kiosks.
        #[arg(long)]
        public: bool,
    },
    List,
    Show {
        code: String,
    },
    Answer {
        code: String,
        #[arg(long)]
        text: String,
        #[arg(long, requires = "place")]
        appointment: Option<String>,
        #[arg(long)]
        place: Option<String>,
        #[arg(long)]
        status: Option<Status>,
    },
}

#[derive(Subcommand, Debug)]
pub enum BundleCmd {
    /// Write signed changes to a file (only what NODE lacks, if its receipt is known).
    Export {
        file: PathBuf,
        #[arg(long = "for")]
        for_node: Option<NodeId>,
    },
    /// Verify and import a bundle; idempotent.
    Import { file: PathBuf },
}

/// The model's word-valued enums as clap value enums, so `--help` lists every accepted
/// word with what it means, and a wrong word is refused with the list. Implemented here
/// rather than in the model because only the CLI knows clap; the `match` is exhaustive,
/// so a new variant in the model cannot ship without its help line.
macro_rules! value_enum {
    ($t:ident { $($v:ident => $help:literal),+ $(,)? }) => {
        impl clap::ValueEnum for $t {
            fn value_variants<'a>() -> &'a [Self] {
                $t::ALL
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                let help = match self {
                    $($t::$v => $help),+
                };
                Some(clap::builder::PossibleValue::new(self.as_str()).help(help))
            }
        }
    };
}

value_enum!(Role {
    Official => "commune office: posts notices, answers requests, enrols devices",
    Kiosk => "village-hall touch screen: shows notices, takes residents' requests",
    Courier => "laptop carried between office and villages, syncing what it meets",
});
value_enum!(Category {
    Policy => "laws, policies, fees",
    Schedule => "meetings, vaccination days, office hours",
    Storm => "storms, floods, weather warnings",
    Health => "health and disease",
    Other => "anything else",
});
value_enum!(RequestKind {
    Question => "a question for the commune office",
    Appointment => "asks for an appointment at the office",
    HomeVisit => "asks an official to come to the resident's home",
});
value_enum!(Status {
    New => "not answered yet",
    Answered => "answered",
    Scheduled => "answered with an appointment",
    Resolved => "done",
    Junk => "marked as junk by an official (hidden from the inbox and public Q&A)",
});

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(matches!(
        cli.command,
        Some(Command::Serve(_)) | Some(Command::Sync { .. })
    ));
    // A fake wall-clock offset for tests and for reproducing a kiosk's wrong clock.
    if let Err(e) = crate::clock::offset_from_env() {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: bool) {
    let default = if verbose { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONGLANG_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{default},iroh=warn,noq=warn,swarm_discovery=error"
        ))
    });
    // Colour only for a person at a terminal: journald, files and pipes get plain
    // text. NO_COLOR (https://no-color.org) turns it off at a terminal too.
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

pub(crate) fn print_json<T: Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn split_list(s: &str) -> Vec<String> {
    s.split(';')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Resolves config and data dir: `--data` wins, then the config's `node.data_dir`.
fn setup(cli: &Cli) -> Result<(Config, PathBuf)> {
    let config = match &cli.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let data = cli
        .data
        .clone()
        .or_else(|| config.data_dir.clone())
        .unwrap_or_else(crate::config::default_data_dir);
    if cli.command.as_ref().is_some_and(|c| !release::data_free(c))
        && let Some(note) = crate::config::system_config_note(
            cli.config.is_some() || cli.data.is_some(),
            &data,
            Path::new(crate::config::SYSTEM_CONFIG),
        )
    {
        eprintln!("{note}");
    }
    Ok((config, data))
}

pub fn run(cli: Cli) -> Result<()> {
    let (config, data) = setup(&cli)?;
    let json = cli.json;
    let cli_data = cli.data.clone();
    let Some(command) = cli.command else {
        // Nothing configured and nothing founded or joined here: show the demo commune
        // instead of an empty screen, so a newcomer sees it working.
        let fresh = cli.config.is_none()
            && Repo::open(&data)
                .map(|r| r.commune_id().ok().flatten().is_none())
                .unwrap_or(true);
        if fresh {
            return run(Cli {
                data: None,
                config: None,
                json,
                command: Some(Command::Demo { dir: None }),
            });
        }
        return crate::ui::run(crate::ui::AppOptions {
            data_dir: data,
            config,
            demo: None,
        });
    };
    match command {
        Command::Id => {
            let id = Identity::load_or_create(&data)?;
            if json {
                print_json(&serde_json::json!({ "node_id": id.node_id() }))?;
            } else {
                println!("{}", id.node_id());
            }
        }
        Command::Init { commune, name } => {
            let mut repo = Repo::open(&data)?;
            let c = repo.init_commune(&commune, &name)?;
            print_json(&serde_json::json!({ "node_id": repo.node_id(), "commune_id": c }))?;
        }
        Command::Join { invite, file } => {
            let text = match (invite, file) {
                (Some(i), _) => i,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read the invite file {}", f.display()))?,
                (None, None) => bail!("give the invite text or --file PATH"),
            };
            let invite = Invite::decode(&text)?;
            crate::pair::check_commune(config.commune.as_ref(), &invite.commune_id)
                .map_err(|e| anyhow::anyhow!(e))?;
            let mut repo = Repo::open(&data)?;
            repo.join(&invite)?;
            if json {
                print_json(&invite)?;
            } else {
                println!(
                    "joined {} as {} \"{}\"; this node is a member now and proves it to any peer (first peer to dial: {})",
                    invite.commune_name, invite.role, invite.name, invite.via
                );
            }
        }
        Command::Pair(a) => crate::pair::cli::machine(
            &data,
            &config,
            crate::pair::cli::PairOpts {
                listen: a.listen,
                no_mdns: a.no_mdns,
                timeout: Duration::from_secs(a.timeout),
            },
        )?,
        Command::Roster(RosterCmd::Pair {
            role,
            name,
            place,
            machine,
            scan,
            probe,
            net,
        }) => crate::pair::cli::office(
            &data,
            &config,
            crate::pair::cli::PairOpts {
                listen: net.listen,
                no_mdns: net.no_mdns,
                timeout: Duration::from_secs(net.timeout),
            },
            crate::pair::cli::OfficeOpts {
                role,
                name,
                place,
                machine,
                scan: Duration::from_secs(scan),
                probe,
            },
        )?,
        Command::Roster(cmd) => roster(cmd, &data, &config, json)?,
        Command::Notice(cmd) => notice(cmd, &data, json)?,
        Command::Procedure(cmd) => procedure(cmd, &data, json)?,
        Command::Request(cmd) => request(cmd, &data, json)?,
        Command::Release(cmd) => release::run(cmd, &data, json)?,
        Command::Status => {
            let repo = Repo::open(&data)?;
            let s = repo.status()?;
            // How far this machine's clock is from its peers' (fleet health).
            let clock = repo.clock_estimate()?;
            if json {
                let mut v = serde_json::to_value(&s)?;
                v["clock"] = serde_json::to_value(clock)?;
                v["clock"]["wrong"] = clock.wrong().into();
                print_json(&v)?;
            } else {
                status::print(&s, &clock);
            }
        }
        Command::Reach { notice } => {
            let repo = Repo::open(&data)?;
            if repo.notice(&notice)?.is_none() {
                bail!("no notice {notice}");
            }
            let r = repo.reach(&notice)?;
            if json {
                print_json(&r)?;
            } else {
                for x in r {
                    let version = match x.version {
                        crate::repo::HeldVersion::Latest => "has the latest version",
                        crate::repo::HeldVersion::Older => "has an OLDER version",
                        crate::repo::HeldVersion::Newer => "has a newer version than this node",
                        crate::repo::HeldVersion::Unknown => "version unknown (old receipt)",
                    };
                    println!(
                        "{}  {} ({})  since {}  {version}",
                        x.node.short(),
                        x.name,
                        x.place,
                        format_time(x.since)
                    );
                }
            }
        }
        Command::Bundle(BundleCmd::Export { file, for_node }) => {
            let repo = Repo::open(&data)?;
            let r = crate::bundle::export(&repo, &file, for_node.as_ref())?;
            print_json(&r)?;
        }
        Command::Bundle(BundleCmd::Import { file }) => {
            let mut repo = Repo::open(&data)?;
            let r = crate::bundle::import(&mut repo, &file)?;
            for s in &r.skipped {
                eprintln!("warning: {s}");
            }
            release::stage_after_import(&repo)?;
            print_json(&r)?;
        }
        Command::Backup { out } => release::backup(&data, &out)?,
        Command::Serve(args) => serve(&data, &config, args)?,
        Command::Sync {
            peer,
            timeout,
            listen,
        } => sync_once(&data, &config, peer, timeout, listen)?,
        Command::Kiosk => crate::ui::run(crate::ui::AppOptions {
            data_dir: data,
            config,
            demo: None,
        })?,
        Command::Demo { dir } => {
            // `--dir`, else the global `--data`, else a temp dir.
            let base = dir
                .or_else(|| cli_data.clone())
                .unwrap_or_else(|| std::env::temp_dir().join("conglang-demo"));
            let demo = crate::demo::create(&base)?;
            let office = demo
                .nodes
                .first()
                .map(|n| n.data_dir.clone())
                .ok_or_else(|| anyhow!("demo has no nodes"))?;
            let mut config = config;
            config.mdns = false;
            config.listen = "127.0.0.1:0".parse().expect("valid addr");
            crate::ui::run(crate::ui::AppOptions {
                data_dir: office,
                config,
                demo: Some(demo),
            })?;
        }
    }
    Ok(())
}

fn roster(cmd: RosterCmd, data: &std::path::Path, config: &Config, json: bool) -> Result<()> {
    let mut repo = Repo::open(data)?;
    match cmd {
        RosterCmd::Add {
            node,
            role,
            name,
            place,
        } => {
            let addrs = advertised_addrs(config);
            let invite = repo.roster_add(node, role, &name, &place, addrs)?;
            if json {
                print_json(&serde_json::json!({ "invite": invite.encode(), "member": invite }))?;
            } else {
                println!("{}", invite.encode());
            }
        }
        RosterCmd::Pair { .. } => unreachable!("handled in run"),
        RosterCmd::Revoke { node } => {
            let kept = repo.roster_revoke(node)?;
            if json {
                print_json(&serde_json::json!({ "revoked": node, "kept_changes": kept }))?;
            } else {
                println!("revoked {node}; {kept} of its earlier changes stay valid");
            }
        }
        RosterCmd::List => {
            let r = repo.roster()?;
            if json {
                print_json(&r.members.values().collect::<Vec<_>>())?;
            } else {
                for m in r.members.values() {
                    let rv = if m.revoked.is_some() { "  REVOKED" } else { "" };
                    println!(
                        "{:>3} {} {:<9} {} ({}){rv}",
                        m.number,
                        m.node.short(),
                        m.role,
                        m.name,
                        m.place
                    );
                }
            }
        }
    }
    Ok(())
}

/// Addresses an invite tells the new node to dial: the config's listen address if it
/// names a specific IP.
fn advertised_addrs(config: &Config) -> Vec<String> {
    if config.listen.ip().is_unspecified() {
        Vec::new()
    } else {
        vec![config.listen.to_string()]
    }
}

fn notice(cmd: NoticeCmd, data: &std::path::Path, json: bool) -> Result<()> {
    let mut repo = Repo::open(data)?;
    match cmd {
        NoticeCmd::Post {
            title,
            body,
            category,
            urgent,
            starts,
            place,
            valid_until,
            hamlets,
        } => {
            let draft = NoticeDraft {
                title,
                body,
                category: Some(category),
                urgent,
                starts: starts
                    .as_deref()
                    .map(|s| parse_time("--starts", s))
                    .transpose()?,
                place,
                valid_until: valid_until
                    .as_deref()
                    .map(|s| parse_time("--valid-until", s))
                    .transpose()?,
                hamlets: hamlets.as_deref().map(split_list).unwrap_or_default(),
            };
            let id = repo.post_notice(&draft)?;
            if json {
                print_json(&serde_json::json!({ "id": id }))?;
            } else {
                println!("{id}");
            }
        }
        NoticeCmd::List { all } => {
            let now = crate::model::text::now();
            let list: Vec<_> = repo
                .notices()?
                .into_iter()
                .filter(|n| all || n.is_live(now))
                .collect();
            if json {
                print_json(&list)?;
            } else {
                for n in list {
                    let flag = if n.urgent { "KHẨN " } else { "" };
                    let w = if n.withdrawn { " (withdrawn)" } else { "" };
                    println!("{}  [{}] {flag}{}{w}", n.id, n.category, n.title);
                }
            }
        }
        NoticeCmd::Show { id } => {
            let n = repo.notice(&id)?.ok_or_else(|| anyhow!("no notice {id}"))?;
            if json {
                print_json(&n)?;
            } else {
                println!(
                    "{}\n[{}]{}\n\n{}",
                    n.title,
                    n.category,
                    if n.urgent { " KHẨN" } else { "" },
                    n.body
                );
                if let Some(s) = n.starts {
                    println!("\nwhen:  {}", format_time(s));
                }
                if let Some(p) = &n.place {
                    println!("where: {p}");
                }
                if n.withdrawn {
                    println!("(withdrawn)");
                }
            }
        }
        NoticeCmd::Withdraw { id } => {
            repo.withdraw_notice(&id)?;
            if json {
                print_json(&serde_json::json!({ "withdrawn": id }))?;
            } else {
                println!("withdrawn {id}");
            }
        }
    }
    Ok(())
}

fn procedure(cmd: ProcedureCmd, data: &std::path::Path, json: bool) -> Result<()> {
    let mut repo = Repo::open(data)?;
    match cmd {
        ProcedureCmd::Add {
            title,
            papers,
            fee,
            days,
            steps,
        } => {
            let id = repo.add_procedure(
                &title,
                &split_list(&papers),
                &fee,
                days,
                &split_list(&steps),
            )?;
            if json {
                print_json(&serde_json::json!({ "id": id }))?;
            } else {
                println!("{id}");
            }
        }
        ProcedureCmd::List => {
            let list = repo.procedures()?;
            if json {
                print_json(&list)?;
            } else {
                for p in list {
                    println!(
                        "{}  {} — {} — {} day(s)",
                        p.id,
                        p.title,
                        p.papers.join("; "),
                        p.days.unwrap_or(0)
                    );
                }
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct RequestOut {
    #[serde(flatten)]
    request: crate::model::Request,
    /// In clear for officials it was sealed to, masked otherwise.
    contact: Option<String>,
}

fn request(cmd: RequestCmd, data: &std::path::Path, json: bool) -> Result<()> {
    let mut repo = Repo::open(data)?;
    let is_official = repo.my_role()? == Some(Role::Official);
    let show_name = |r: &crate::model::Request| {
        if r.public || is_official {
            r.name.clone()
        } else {
            short_name(&r.name)
        }
    };
    match cmd {
        RequestCmd::Submit {
            hamlet,
            name,
            text,
            phone,
            kind,
            public,
        } => {
            let r = repo.submit_request(&RequestDraft {
                kind: Some(kind),
                hamlet,
                name,
                text,
                phone,
                public,
            })?;
            if json {
                print_json(&serde_json::json!({ "code": r.code, "id": r.id }))?;
            } else {
                println!("{}", r.code);
            }
        }
        RequestCmd::List => {
            let list = repo.requests()?;
            if json {
                let out: Vec<RequestOut> = list
                    .into_iter()
                    .map(|mut r| {
                        r.name = show_name(&r);
                        RequestOut {
                            request: r,
                            contact: None,
                        }
                    })
                    .collect();
                print_json(&out)?;
            } else {
                for r in list {
                    println!(
                        "{:<12} {:<10} {:<12} {} — {}",
                        r.code,
                        r.status,
                        r.kind,
                        show_name(&r),
                        r.hamlet
                    );
                }
            }
        }
        RequestCmd::Show { code } => {
            let mut r = repo
                .request(&code)?
                .ok_or_else(|| anyhow!("no request with tracking code {code}"))?;
            let contact = repo.request_contact(&r)?;
            r.name = show_name(&r);
            if json {
                print_json(&RequestOut {
                    request: r,
                    contact,
                })?;
            } else {
                println!(
                    "{}  [{}] {}\n{} — {}\n\n{}",
                    r.code, r.kind, r.status, r.name, r.hamlet, r.text
                );
                if let Some(c) = contact {
                    println!("contact: {c}");
                }
                for a in &r.answers {
                    println!("\n> {} ({})", a.text, format_time(a.at));
                }
                if let Some(a) = &r.appointment {
                    println!("\nappointment: {} at {}", format_time(a.at), a.place);
                }
            }
        }
        RequestCmd::Answer {
            code,
            text,
            appointment,
            place,
            status,
        } => {
            let appointment = match appointment {
                Some(at) => Some(Appointment {
                    at: parse_time("--appointment", &at)?,
                    place: place.unwrap_or_default(),
                }),
                None => None,
            };
            let r = repo.answer_request(&code, &text, status, appointment)?;
            if json {
                print_json(&r)?;
            } else {
                println!("{} is now {}", r.code, r.status);
            }
        }
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn serve(data: &std::path::Path, config: &Config, args: NetArgs) -> Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let mut peers = config.peers.clone();
        peers.extend(args.peer);
        let opts = NodeOptions {
            net: crate::net::NetConfig {
                listen: args.listen.unwrap_or(config.listen),
                mdns: config.mdns && !args.no_mdns,
                relay_url: config.relay_url.clone(),
            },
            peers,
            redial: true,
            speak_version: None,
        };
        let node = Node::start(data.to_path_buf(), opts).await?;
        let addrs = node.local_addrs();
        // One line on stdout so scripts and tests can find us.
        println!(
            "{}",
            serde_json::json!({ "node_id": node.handle.node_id, "listen": addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>() })
        );
        let _ = std::io::stdout().flush();
        tracing::info!(node = %node.handle.node_id, ?addrs, "serving");
        wait_for_signal().await;
        tracing::info!("stopping");
        node.shutdown().await;
        Ok(())
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn sync_once(
    data: &std::path::Path,
    config: &Config,
    peer: PeerAddr,
    timeout: u64,
    listen: std::net::SocketAddr,
) -> Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let opts = NodeOptions {
            net: crate::net::NetConfig {
                listen,
                mdns: false,
                relay_url: config.relay_url.clone(),
            },
            peers: vec![peer.clone()],
            redial: false,
            speak_version: None,
        };
        let node = Node::start(data.to_path_buf(), opts).await?;
        let mut events = node.handle.subscribe();
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(NodeEvent::Synced { peer: p, report }) if p == peer.node => {
                        return Ok(report);
                    }
                    Ok(NodeEvent::Refused { peer: p, reason }) if p == peer.node => {
                        return Err(anyhow!("peer refused or was refused: {reason}"));
                    }
                    Ok(NodeEvent::Closed { peer: p, reason }) if p == peer.node => {
                        return Err(anyhow!("connection closed before sync finished: {reason}"));
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => return Err(anyhow!("node stopped: {e}")),
                }
            }
        };
        let res = tokio::time::timeout(Duration::from_secs(timeout), wait).await;
        node.shutdown().await;
        match res {
            Ok(Ok(report)) => print_json(&report),
            Ok(Err(e)) => Err(e),
            Err(_) => bail!(
                "sync with {} did not finish within {timeout} s",
                peer.node.short()
            ),
        }
    })
}
