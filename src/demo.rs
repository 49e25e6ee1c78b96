//! The built-in demo commune (stub).
pub struct Demo {
    pub base: std::path::PathBuf,
    pub nodes: Vec<DemoNode>,
}
pub struct DemoNode {
    pub label: String,
    pub role: crate::model::Role,
    pub data_dir: std::path::PathBuf,
}
pub fn create(_base: &std::path::Path) -> anyhow::Result<Demo> {
    anyhow::bail!("demo not built yet")
}
