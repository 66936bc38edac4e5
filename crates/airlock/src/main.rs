//! The `airlock` command line: a thin layer that parses arguments, sets up logging, and
//! maps each command's outcome to the exit-code contract (0 clean, 1 findings at or above
//! `--fail-on`, 2 tool or sandbox error). The work lives in the library crates.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod commands;
mod judging;
mod pipeline;
mod rules;
mod store_glue;

use commands::{audit, cache, diff, scan, serve, wrap};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "airlock",
    version,
    about = "Run a package's install in an instrumented sandbox and judge what it did"
)]
struct Cli {
    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Sarif,
    Osv,
    Html,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PersonaArg {
    Ci,
    Laptop,
}

/// `--os`: which operating systems the run pretends to be besides Linux.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OsArg {
    Linux,
    Windows,
    Macos,
    Auto,
}

impl OsArg {
    pub fn choice(self) -> airlock_ecosystem::OsChoice {
        match self {
            OsArg::Linux => airlock_ecosystem::OsChoice::Linux,
            OsArg::Windows => airlock_ecosystem::OsChoice::Windows,
            OsArg::Macos => airlock_ecosystem::OsChoice::Macos,
            OsArg::Auto => airlock_ecosystem::OsChoice::Auto,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Suspicious,
    Malicious,
}

#[derive(Subcommand)]
enum Command {
    /// Analyze packages: a .tgz, a package directory, or name@version from the registry.
    Scan(ScanArgs),
    /// Re-run the rules on a stored trace (no sandbox).
    Judge(JudgeArgs),
    /// Audit lockfiles: git refs, foreign tarballs, weak integrity, known-malicious
    /// versions (from a local OSV export).
    Audit(audit::AuditArgs),
    /// Decide which dependency install scripts may run (npm allowScripts, pnpm
    /// allowBuilds, Bun trustedDependencies, yarn dependenciesMeta), from verdicts.
    Approve(commands::approve::ApproveArgs),
    /// Compare two versions of a package without running or unpacking them.
    Diff(diff::DiffArgs),
    /// Remove containers left behind by crashed runs.
    Gc {
        /// Remove every airlock container, also those of runs still going.
        #[arg(long)]
        all: bool,
    },
    /// Run the network sink (inside the sink container; not for direct use).
    #[command(hide = true)]
    Sink {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Sandbox image management.
    Image {
        #[command(subcommand)]
        action: ImageAction,
    },
    /// The verdict store: list, show and clear stored verdicts.
    Cache {
        #[command(flatten)]
        store: store_glue::StoreArgs,
        #[command(subcommand)]
        action: cache::CacheAction,
    },
    /// Judge every stored trace again under the current rules (no sandbox).
    Rejudge(cache::RejudgeArgs),
    /// `npm install` / `npm ci` that analyzes every package before installing it.
    Npm(wrap::NpmArgs),
    /// `pip install` that analyzes every distribution before installing it.
    Pip(wrap::PipArgs),
    /// The pre-ingest HTTP service and quarantining npm registry proxy.
    Serve(serve::ServeArgs),
    /// Run the analysis jobs `airlock serve --queue URL` publishes, in this host's sandbox.
    Worker(commands::worker::WorkerArgs),
}

#[derive(Subcommand)]
pub enum ImageAction {
    /// Print the image tag for this build's recipe.
    Tag,
    /// Build the image if it is missing (loads a cached copy when there is one).
    Ensure,
}

#[derive(clap::Args)]
pub struct ScanArgs {
    /// What to analyze.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Write the report here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Write the full trace (JSON Lines) here.
    #[arg(long)]
    pub trace_out: Option<PathBuf>,
    /// Exit 1 when the verdict is at or above this level.
    #[arg(long, value_enum, default_value_t = FailOn::Malicious)]
    pub fail_on: FailOn,
    #[command(flatten)]
    pub sandbox: commands::sandbox_args::SandboxArgs,
    /// npm registry to fetch name@version from (and to resolve dependencies against).
    #[arg(long, env = "AIRLOCK_NPM_REGISTRY", default_value = airlock_ecosystem::npm::DEFAULT_REGISTRY)]
    pub registry: String,
    /// PyPI index for `pypi:` inputs and Python dependencies.
    #[arg(long, env = "AIRLOCK_PYPI_INDEX", default_value = airlock_ecosystem::pypi::DEFAULT_INDEX)]
    pub pypi_index: String,
    /// Benchmark baseline: same image, same offline install, no tracer, sink, bait or
    /// static pass. The verdict means nothing.
    #[arg(long, hide = true)]
    pub bare: bool,
    /// Password of a sample zip (default: `infected` when the zip is encrypted).
    #[arg(long)]
    pub zip_password: Option<String>,
    /// Do not run the import phase.
    #[arg(long)]
    pub no_import: bool,
    /// No network sink: the sandbox gets loopback only (`--network none`).
    #[arg(long)]
    pub no_network: bool,
    /// Plant no bait (no canary credentials, no persona environment).
    #[arg(long)]
    pub no_bait: bool,
    /// Rules directory (default: $AIRLOCK_RULES, else the ruleset built into airlock).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    #[command(flatten)]
    pub store: store_glue::StoreArgs,
    /// Do not record the result in the verdict store.
    #[arg(long)]
    pub no_store: bool,
    #[command(flatten)]
    pub waivers: judging::WaiverArgs,
}

#[derive(clap::Args)]
pub struct JudgeArgs {
    /// A trace written by `scan --trace-out`.
    pub trace: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = FailOn::Malicious)]
    pub fail_on: FailOn,
    #[arg(long)]
    pub rules: Option<PathBuf>,
    #[command(flatten)]
    pub waivers: judging::WaiverArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Sink { args } = cli.command {
        // The sink builds its own runtime and logging.
        let argv = std::iter::once(std::ffi::OsString::from("airlock-sink")).chain(args);
        return airlock_sink::cli::main_from_args(argv);
    }
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("airlock: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Scan(args) => scan::run(args).await,
            Command::Judge(args) => commands::judge::run(args),
            Command::Audit(args) => audit::run(args),
            Command::Approve(args) => commands::approve::run(args).await,
            Command::Diff(args) => tokio::task::block_in_place(|| diff::run(args)),
            Command::Gc { all } => commands::gc::run(all).await,
            Command::Image { action } => commands::image::run(action).await,
            Command::Cache { store, action } => cache::cache(&store, action),
            Command::Rejudge(args) => cache::rejudge(args),
            Command::Npm(args) => wrap::npm(args).await,
            Command::Pip(args) => wrap::pip(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Worker(args) => commands::worker::run(args).await,
            Command::Sink { .. } => 2,
        }
    });
    ExitCode::from(code)
}
