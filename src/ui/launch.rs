//! Opening the window: the Vietnamese fonts, the kiosk style, and `run`, which starts
//! the node(s) in the background and the app in front. Apart from the app itself
//! because it runs once, before any screen exists.

use super::*;

// ---- fonts and style ------------------------------------------------------------

/// Installs the Vietnamese fonts and the kiosk style. egui's own fonts cannot draw
/// most Vietnamese letters, so Noto Sans goes first in the proportional family and
/// after the monospace font as a fallback.
pub fn setup_context(ctx: &egui::Context) {
    use egui::{FontData, FontDefinitions, FontFamily};
    let mut fonts = FontDefinitions::default();
    fonts.font_data.insert(
        "NotoSans".into(),
        Arc::new(FontData::from_static(include_bytes!(
            "../../assets/fonts/NotoSans-Regular.ttf"
        ))),
    );
    fonts.font_data.insert(
        "NotoSans-Bold".into(),
        Arc::new(FontData::from_static(include_bytes!(
            "../../assets/fonts/NotoSans-Bold.ttf"
        ))),
    );
    fonts
        .families
        .entry(FontFamily::Proportional)
        .or_default()
        .insert(0, "NotoSans".into());
    fonts
        .families
        .entry(FontFamily::Monospace)
        .or_default()
        .push("NotoSans".into());
    fonts.families.insert(
        FontFamily::Name(widgets::BOLD.into()),
        vec!["NotoSans-Bold".into(), "NotoSans".into()],
    );
    ctx.set_fonts(fonts);
    // Bright screens in sunlit village halls: the light theme reads better.
    ctx.set_theme(egui::Theme::Light);
    ctx.all_styles_mut(|style| {
        use egui::{FontId, TextStyle};
        style.text_styles = [
            (TextStyle::Small, FontId::proportional(15.0)),
            (TextStyle::Body, FontId::proportional(20.0)),
            (TextStyle::Button, FontId::proportional(20.0)),
            (TextStyle::Heading, FontId::proportional(28.0)),
            (TextStyle::Monospace, FontId::monospace(16.0)),
        ]
        .into();
        style.spacing.button_padding = vec2(14.0, 10.0);
        style.spacing.interact_size = vec2(48.0, 48.0);
        style.spacing.icon_width = 28.0;
        style.spacing.icon_width_inner = 16.0;
        style.spacing.item_spacing = vec2(10.0, 10.0);
        // A tap on a label must not start a text selection on a touch screen.
        style.interaction.selectable_labels = false;
        style.visuals.panel_fill = Color32::from_rgb(0xf7, 0xf5, 0xf0);
        // Text boxes must show where they are before they are tapped, on a white
        // card as on the panel: a tinted fill and a grey edge (buttons get the
        // edge too, which helps them read as buttons).
        style.visuals.text_edit_bg_color = Some(Color32::from_rgb(0xee, 0xf2, 0xf8));
        style.visuals.widgets.inactive.bg_stroke = egui::Stroke::new(1.5, Color32::from_gray(150));
        // Scroll bars always there and wide enough to grab with a finger.
        style.spacing.scroll = egui::style::ScrollStyle {
            bar_width: 18.0,
            handle_min_length: 48.0,
            bar_inner_margin: 4.0,
            ..egui::style::ScrollStyle::solid()
        };
    });
}

// ---- running it -----------------------------------------------------------------

/// Opens the window and runs until it is closed, with the node(s) syncing in the
/// background of the same process.
pub fn run(opts: AppOptions) -> Result<()> {
    let config = opts.config;
    let targets: Vec<(Option<String>, PathBuf)> = match &opts.demo {
        Some(d) => d
            .nodes
            .iter()
            .map(|n| (Some(n.label.clone()), n.data_dir.clone()))
            .collect(),
        None => vec![(None, opts.data_dir.clone())],
    };
    // Each node runs on its own thread with its own async runtime; this thread only
    // draws and talks to them by channel.
    let mut nodes: Vec<(Option<String>, BackgroundNode)> = Vec::new();
    for (label, dir) in targets {
        // In the demo every other node dials the first (the office) on loopback, so
        // whatever is done in one view reaches the others within seconds.
        let peers = match nodes.first() {
            None => config.peers.clone(),
            Some((_, first)) => first
                .addrs
                .iter()
                .map(|a| {
                    let mut a = *a;
                    if a.ip().is_unspecified() {
                        a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                    }
                    PeerAddr {
                        node: first.handle.node_id,
                        addr: a,
                    }
                })
                .take(1)
                .collect(),
        };
        let net = NetConfig {
            listen: config.listen,
            mdns: config.mdns,
            relay_url: config.relay_url.clone(),
        };
        let node = match BackgroundNode::start(
            dir.clone(),
            NodeOptions {
                net,
                peers,
                redial: true,
                speak_version: None,
            },
        )
        .with_context(|| format!("cannot start the node on {}", dir.display()))
        {
            Ok(n) => n,
            Err(e) => {
                // A kiosk must not be a black screen that restarts every 2 s with one
                // English line in a log nobody reads (issue 25): the window opens and
                // says in Vietnamese what is wrong and what to do; the log names it.
                tracing::error!("cannot start: {e:#}");
                let fault = StartupFault::of(&e, config.listen);
                drop(nodes);
                return show_fault(fault, &config.ui);
            }
        };
        nodes.push((label, node));
    }

    let ctx = egui::Context::default();
    setup_context(&ctx);
    ctx.set_zoom_factor(config.ui.zoom);
    let mut stations = Vec::new();
    for (label, node) in &nodes {
        let mut station = Station::for_node(label.clone(), node.handle.clone(), Some(ctx.clone()));
        let c = ctx.clone();
        node.handle.pair.on_change(move || c.request_repaint());
        node.handle.pair.set_commune(config.commune);
        station.pair = Some(node.handle.pair.clone());
        station.addrs = node
            .addrs
            .iter()
            .filter(|a| !a.ip().is_unspecified())
            .map(|a| a.to_string())
            .collect();
        stations.push(station);
    }
    let app = KioskApp::new(stations, config.ui.clone(), Clock::system());
    let viewport = egui::ViewportBuilder::default()
        .with_title("Cổng Làng")
        .with_inner_size([1280.0, 800.0])
        .with_min_inner_size([640.0, 480.0])
        .with_fullscreen(config.ui.fullscreen);
    let native = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    let result = eframe::run_native_ext(
        "conglang",
        native,
        Some(ctx),
        Box::new(move |_cc| Ok(Box::new(app))),
    );
    // Dropping the nodes says goodbye to peers and stops their threads.
    drop(nodes);
    result.map_err(|e| anyhow!("the window failed: {e}"))
}

// ---- when the node cannot start -----------------------------------------------------

/// Why the node could not start, as a resident or a hall keeper can act on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartupFault {
    /// The network port is held by another program (most often a second Cổng Làng).
    PortInUse(std::net::SocketAddr),
    /// Anything else (the data folder, the key...): the English detail goes to the log.
    Other,
}

impl StartupFault {
    pub fn of(e: &anyhow::Error, listen: std::net::SocketAddr) -> StartupFault {
        let in_use = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
                || c.to_string().contains("Address already in use")
        });
        if in_use {
            StartupFault::PortInUse(listen)
        } else {
            StartupFault::Other
        }
    }

    /// What the screen says: what is wrong, then what to do.
    pub fn text(&self, lang: Lang) -> (String, String) {
        match self {
            StartupFault::PortInUse(a) => (
                lang.fill(S::StartPortInUse, &[&a.port().to_string()]),
                lang.t(S::StartPortInUseDo).to_string(),
            ),
            StartupFault::Other => (
                lang.t(S::StartFailed).to_string(),
                lang.t(S::StartFailedDo).to_string(),
            ),
        }
    }
}

/// The fault on a screen of its own, in Vietnamese, until the window is closed.
pub fn show_fault_ui(ui: &mut egui::Ui, fault: &StartupFault, lang: Lang) {
    let (what, todo) = fault.text(lang);
    egui::CentralPanel::default().show(ui, |ui| {
        ui.add_space(40.0);
        ui.label(widgets::bold(lang.t(S::AppName), 28.0));
        ui.add_space(20.0);
        ui.add(egui::Label::new(widgets::bold(&what, 26.0).color(widgets::RED)).wrap());
        ui.add_space(12.0);
        ui.add(egui::Label::new(egui::RichText::new(todo).size(22.0)).wrap());
    });
}

fn show_fault(fault: StartupFault, ui_config: &crate::config::UiConfig) -> Result<()> {
    let ctx = egui::Context::default();
    setup_context(&ctx);
    ctx.set_zoom_factor(ui_config.zoom);
    let viewport = egui::ViewportBuilder::default()
        .with_title("Cổng Làng")
        .with_inner_size([1280.0, 800.0])
        .with_fullscreen(ui_config.fullscreen);
    let native = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    struct Fault(StartupFault);
    impl eframe::App for Fault {
        fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
            show_fault_ui(ui, &self.0, Lang::Vi);
        }
    }
    eframe::run_native_ext(
        "conglang",
        native,
        Some(ctx),
        Box::new(move |_cc| Ok(Box::new(Fault(fault)))),
    )
    .map_err(|e| anyhow!("the window failed: {e}"))
}
