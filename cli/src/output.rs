//! `-o table|json|yaml`: every command returns a [`Report`] and this prints it.

use serde::Serialize;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Table,
    /// One JSON document (shapes in docs/cli.md).
    Json,
    /// The same document as YAML.
    Yaml,
}

/// What a command prints: the serialised shape for scripts, a table for people.
pub trait Report: Serialize {
    /// The human rendering.
    fn human(&self) -> String;
}

/// Prints `report` to stdout in `format`.
pub fn print(report: &impl Report, format: Format) -> anyhow::Result<()> {
    let text = match format {
        Format::Table => report.human(),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report)?;
            s.push('\n');
            s
        }
        Format::Yaml => serde_yaml::to_string(report)?,
    };
    print!("{text}");
    Ok(())
}
