//! Kiosk configuration: a TOML file (see `kiosk-config/`) turned into a validated
//! `Config`. Parsing is strict (unknown keys are errors) so a typo in a village hall
//! config fails loudly at start instead of silently doing the default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::identity::NodeId;
use crate::model::Role;

/// `NODE_ID@IP:PORT`: a peer to dial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddr {
    pub node: NodeId,
    pub addr: SocketAddr,
}

impl FromStr for PeerAddr {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let Some((id, addr)) = s.trim().split_once('@') else {
            bail!("peer {s:?} must look like NODE_ID@IP:PORT");
        };
        Ok(PeerAddr {
            node: id.parse().with_context(|| format!("peer {s:?}"))?,
            addr: addr
                .parse()
                .with_context(|| format!("peer {s:?}: {addr:?} is not IP:PORT"))?,
        })
    }
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.node, self.addr)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    node: RawNode,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    ui: RawUi,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    data_dir: Option<PathBuf>,
    role: Option<String>,
    commune: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    listen: Option<String>,
    #[serde(default)]
    peers: Vec<String>,
    mdns: Option<bool>,
    relay_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUi {
    language: Option<String>,
    zoom: Option<f32>,
    fullscreen: Option<bool>,
    idle_seconds: Option<u64>,
    hamlet: Option<String>,
    requests_per_hour: Option<u32>,
    voice: Option<String>,
    speech_rate: Option<u32>,
    read_urgent_aloud: Option<bool>,
}

/// Validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: Option<PathBuf>,
    /// The role this machine is set up for; checked against the roster once known.
    pub role: Option<Role>,
    /// The commune this machine is installed for (its id, as `conglang roster`
    /// prints it): pairing and USB invites from any other commune are refused.
    /// `None`: any commune whose code the people confirm (see ARCHITECTURE.md,
    /// "Threat model").
    pub commune: Option<NodeId>,
    pub listen: SocketAddr,
    pub peers: Vec<PeerAddr>,
    pub mdns: bool,
    pub relay_url: Option<String>,
    pub ui: UiConfig,
}

#[derive(Clone, Debug)]
pub struct UiConfig {
    pub english: bool,
    pub zoom: f32,
    pub fullscreen: bool,
    pub idle_seconds: u64,
    /// Hamlet pre-filled on the request form of a village-hall kiosk (wins over
    /// the place in the kiosk's roster entry).
    pub hamlet: Option<String>,
    /// The rate a sustained flood of requests is paced to (`ui::pacing`): after a
    /// burst of three, the gap between requests doubles up to one hour over this.
    pub requests_per_hour: u32,
    /// espeak-ng voice for reading aloud: "vi" (Northern), "vi-vn-x-central"
    /// (Central, right for Quảng Ngãi), "vi-vn-x-south".
    pub voice: String,
    /// Words a minute; slower than espeak-ng's 175 for elders.
    pub speech_rate: u32,
    /// Read an urgent notice aloud once, by itself, when it first appears.
    pub read_urgent_aloud: bool,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            english: false,
            zoom: 1.25,
            fullscreen: false,
            idle_seconds: 90,
            hamlet: None,
            requests_per_hour: 20,
            voice: "vi-vn-x-central".into(),
            speech_rate: 130,
            read_urgent_aloud: false,
        }
    }
}

/// Default QUIC port of a node.
pub const DEFAULT_PORT: u16 = 7300;

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: None,
            role: None,
            commune: None,
            listen: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            peers: Vec::new(),
            mdns: true,
            relay_url: None,
            ui: UiConfig::default(),
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        Self::parse(&text, path.parent())
            .with_context(|| format!("invalid config {}", path.display()))
    }

    /// Parses config text; a relative `data_dir` is taken relative to `base`.
    pub fn parse(text: &str, base: Option<&Path>) -> Result<Config> {
        let raw: RawConfig = toml::from_str(text)?;
        let mut c = Config::default();
        if let Some(d) = raw.node.data_dir {
            c.data_dir = Some(match base {
                Some(b) if d.is_relative() => b.join(d),
                _ => d,
            });
        }
        if let Some(id) = raw.node.commune.filter(|s| !s.trim().is_empty()) {
            c.commune = Some(
                id.trim()
                    .parse()
                    .with_context(|| format!("node.commune {id:?} is not a commune id"))?,
            );
        }
        if let Some(r) = raw.node.role {
            c.role = Some(r.parse().context("node.role")?);
        }
        if let Some(l) = raw.network.listen {
            c.listen = l
                .parse()
                .with_context(|| format!("network.listen: {l:?} is not IP:PORT"))?;
        }
        for p in raw.network.peers {
            c.peers.push(p.parse().context("network.peers")?);
        }
        if let Some(m) = raw.network.mdns {
            c.mdns = m;
        }
        if let Some(u) = raw.network.relay_url.filter(|u| !u.trim().is_empty()) {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                bail!("network.relay_url: {u:?} must be an http(s) URL");
            }
            c.relay_url = Some(u);
        }
        if let Some(l) = raw.ui.language {
            c.ui.english = match l.as_str() {
                "vi" => false,
                "en" => true,
                _ => bail!("ui.language must be \"vi\" or \"en\", got {l:?}"),
            };
        }
        if let Some(z) = raw.ui.zoom {
            if !(0.5..=4.0).contains(&z) {
                bail!("ui.zoom must be between 0.5 and 4.0, got {z}");
            }
            c.ui.zoom = z;
        }
        if let Some(f) = raw.ui.fullscreen {
            c.ui.fullscreen = f;
        }
        if let Some(i) = raw.ui.idle_seconds {
            if !(10..=3600).contains(&i) {
                bail!("ui.idle_seconds must be between 10 and 3600, got {i}");
            }
            c.ui.idle_seconds = i;
        }
        c.ui.hamlet = raw
            .ui
            .hamlet
            .map(|h| crate::model::text::strip_bidi(h.trim()))
            .filter(|h| !h.is_empty());
        if let Some(n) = raw.ui.requests_per_hour {
            if !(1..=1000).contains(&n) {
                bail!("ui.requests_per_hour must be between 1 and 1000, got {n}");
            }
            c.ui.requests_per_hour = n;
        }
        if let Some(v) = raw.ui.voice {
            if !matches!(v.as_str(), "vi" | "vi-vn-x-central" | "vi-vn-x-south") {
                bail!(
                    "ui.voice must be \"vi\", \"vi-vn-x-central\" or \"vi-vn-x-south\", got {v:?}"
                );
            }
            c.ui.voice = v;
        }
        if let Some(b) = raw.ui.read_urgent_aloud {
            c.ui.read_urgent_aloud = b;
        }
        if let Some(r) = raw.ui.speech_rate {
            if !(80..=400).contains(&r) {
                bail!("ui.speech_rate must be between 80 and 400 words a minute, got {r}");
            }
            c.ui.speech_rate = r;
        }
        Ok(c)
    }
}

/// Where data lives when neither `--data` nor the config says.
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("vn", "conglang", "conglang")
        .map(|p| p.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("conglang-data"))
}

/// The installed package's configuration.
pub const SYSTEM_CONFIG: &str = "/etc/conglang/conglang.toml";

/// On a machine where the package is installed, a command run without `--config`
/// (typically as root) works on this user's own node, not the machine's: says so
/// plainly, and how to reach the machine's (issue 25: `conglang status` as root
/// silently made a second identity under root's home and showed no commune).
pub fn system_config_note(given: bool, data: &Path, system: &Path) -> Option<String> {
    if given || !system.exists() {
        return None;
    }
    Some(format!(
        "note: no --config given: this works on this user's own node in {}, not on this \
         machine's installed node; for that, run as root: runuser -u conglang -- conglang \
         --config {} <command>",
        data.display(),
        system.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_without_config_on_an_installed_machine_says_whose_node_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("conglang.toml");
        let mine = dir.path().join("root-data");
        // Not installed: nothing to say.
        assert_eq!(system_config_note(false, &mine, &system), None);
        std::fs::write(&system, "").unwrap();
        let note = system_config_note(false, &mine, &system).unwrap();
        assert!(note.contains(&mine.display().to_string()), "{note}");
        assert!(
            note.contains(&format!("--config {}", system.display())),
            "{note}"
        );
        assert!(note.contains("runuser -u conglang"), "{note}");
        // With --config (or --data) the user chose: nothing to say.
        assert_eq!(system_config_note(true, &mine, &system), None);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_clear_errors() {
        let e = Config::parse("[network]\nlisten = \"nowhere\"\n", None).unwrap_err();
        assert!(format!("{e:#}").contains("network.listen"), "{e:#}");
        let e = Config::parse("[ui]\nzom = 2.0\n", None).unwrap_err();
        assert!(format!("{e:#}").contains("zom"), "{e:#}");
        let e = Config::parse("[ui]\nrequests_per_hour = 0\n", None).unwrap_err();
        assert!(format!("{e:#}").contains("requests_per_hour"), "{e:#}");
        let e = Config::parse("[node]\ncommune = \"xa-long-mon\"\n", None).unwrap_err();
        assert!(format!("{e:#}").contains("node.commune"), "{e:#}");
        let c = Config::parse("[node]\ncommune = \"\"\n", None).unwrap();
        assert_eq!(c.commune, None, "an empty commune is none set");
        let e = Config::parse("[node]\nrole = \"mayor\"\n", None).unwrap_err();
        assert!(format!("{e:#}").contains("official"), "{e:#}");
    }
}
