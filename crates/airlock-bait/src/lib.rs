//! Bait for airlock runs: per-run canary credentials, the CI and laptop personas they
//! are planted in, and the search that proves theft by finding those canaries in
//! captured traffic or staged files.
//!
//! This crate is data only; it never touches Docker. The orchestrator:
//!
//! 1. calls [`plan`] (`plan(Persona::Ci, &PlanOptions::new("http://198.18.0.2"))`),
//!    creates `plan.dirs` and `plan.files` (owned by the install user, with their
//!    modes), runs the install with `plan.env` and `plan.hostname`, starts
//!    `plan.decoy` (if any) before the install, hands `plan.imds` to the sink (its
//!    fields are the sink's `BaitConfig` field names), and writes `plan.canaries` and
//!    `plan.notes` into the trace header;
//! 2. after the run, builds a [`LeakSearcher`] from the header's canaries, calls
//!    [`LeakSearcher::scan_events`] over the sink's events and
//!    [`LeakSearcher::scan_file`] for each file the package wrote outside its own
//!    directory, and appends the returned `canary.leaked` events to the trace.
//!
//! Canary locations are `env:NAME`, `file:/abs/path`, `process:<name>` (the decoy) and
//! `imds:<service>/<field>` (served by the sink). Leak destinations are
//! `https://host/path`, `dns:name`, `tcp:addr:port`, `tls:sni` and `file:/path`;
//! encodings are named outermost first, e.g. `plain`, `base64`, `url(base64(gzip))`.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod gen;
pub mod leak;
mod plan;

pub use leak::{LeakSearcher, Limits, MIN_CANARY_LEN};
pub use plan::{
    plan, plan_with_rng, BaitPlan, DecoySpec, ImdsCreds, Persona, PlanOptions, PlantedDir,
    PlantedFile,
};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum BaitError {
    #[error("unknown persona `{name}` (expected `ci` or `laptop`)")]
    UnknownPersona { name: String },
}
