//! The egui app (stub until the screens land).
pub mod keyboard;
pub mod telex;

pub struct AppOptions {
    pub data_dir: std::path::PathBuf,
    pub config: crate::config::Config,
    pub demo: Option<crate::demo::Demo>,
}

pub fn run(_opts: AppOptions) -> anyhow::Result<()> {
    anyhow::bail!("the app is not built yet")
}
