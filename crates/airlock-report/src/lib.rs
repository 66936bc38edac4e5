//! Reports: what a run of airlock tells its reader.
//!
//! [`Report::build`] folds a trace (header + events) and the rule engine's judgement into
//! one versioned, serializable [`Report`] — the JSON contract of `airlock scan --format
//! json` (see DESIGN.md, "Command line"). The renderers turn that one model into every
//! output format: [`render_human`] (terminal), [`render_json`], [`render_sarif`] (SARIF
//! 2.1.0), [`render_osv`] (a draft OSV `MAL-` record) and [`render_html`] (one
//! self-contained page, with an optional event [`Timeline`]).
//!
//! This crate depends on the trace schema only: never on Docker or the rule engine, so a
//! stored trace and a stored judgement can be re-rendered anywhere.
//!
//! Every string that comes from the trace is attacker-controlled. The model replaces
//! planted canary values with `[canary:<id>]`, the human renderer strips terminal control
//! characters, and the HTML renderer escapes everything.

mod html;
mod human;
mod model;
mod osv;
pub mod sarif;
mod text;
mod timeline;

pub use html::render_html;
pub use human::{clean as neutralise, render_human};
pub use model::*;
pub use osv::{render_osv, OSV_SCHEMA_VERSION};
pub use sarif::{render_sarif, SARIF_SCHEMA_URI};
pub use text::rfc3339;
pub use timeline::{
    summarize_event, Timeline, TimelineBuilder, TimelineEntry, DEFAULT_TIMELINE_CAP,
};

/// The report as pretty-printed JSON: the [`Report`] itself, newline-terminated.
pub fn render_json(report: &Report) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(report).map_err(|e| ReportError::Serialize {
        format: "json",
        message: e.to_string(),
    })?;
    s.push('\n');
    Ok(s)
}

/// Errors of the report crate.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A renderer could not serialize its output (in practice: never for valid reports).
    #[error("serializing the {format} report: {message}")]
    Serialize {
        format: &'static str,
        message: String,
    },
    /// A stored report could not be read back.
    #[error("reading report {path}: {message}")]
    Read { path: String, message: String },
}

impl Report {
    /// Reads a report previously written by [`render_json`]; `path` only names the source
    /// in the error.
    pub fn from_json(text: &str, path: &str) -> Result<Report, ReportError> {
        serde_json::from_str(text).map_err(|e| ReportError::Read {
            path: path.to_string(),
            message: e.to_string(),
        })
    }
}
