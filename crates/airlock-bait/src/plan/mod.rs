//! Personas and the bait plan: which environment variables, files and decoy process a
//! run gets, with every planted secret registered as a [`Canary`]. The plan is pure data
//! (no Docker, no filesystem); the orchestrator plants it and writes `canaries` into the
//! trace header.
//!
//! Every location gets its own value, even where two locations imitate the same kind of
//! token (`NPM_TOKEN`, `NODE_AUTH_TOKEN` and `~/.npmrc` hold three different npm
//! tokens), so a leaked value also tells where the package took it from.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use airlock_events::Canary;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::gen;
use crate::BaitError;

mod common;
mod personas;

use common::common;
use personas::{ci, imds, laptop};

/// Who the sandbox pretends to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Persona {
    /// A GitHub Actions job on a GitHub-hosted Ubuntu runner.
    #[default]
    Ci,
    /// A developer's Linux laptop.
    Laptop,
}

impl Persona {
    pub fn as_str(self) -> &'static str {
        match self {
            Persona::Ci => "ci",
            Persona::Laptop => "laptop",
        }
    }
}

impl fmt::Display for Persona {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Persona {
    type Err = BaitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ci" => Ok(Persona::Ci),
            "laptop" => Ok(Persona::Laptop),
            other => Err(BaitError::UnknownPersona {
                name: other.to_string(),
            }),
        }
    }
}

/// Where the plan is planted. Only `sink_base_url` is required; the rest default per
/// persona (CI: user `runner`, home `/home/runner`, workspace
/// `/home/runner/work/<repo>/<repo>`; laptop: user `sam`, home `/home/sam`, workspace
/// `/home/sam/code/<repo>`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlanOptions {
    /// Base URL of the sink for the Actions runtime and OIDC endpoints, e.g.
    /// `http://198.18.0.2` or `https://pipelinesghubeus6.actions.githubusercontent.com`.
    pub sink_base_url: String,
    pub user: Option<String>,
    pub home: Option<String>,
    /// Project checkout; its last path component is the repository name.
    pub workspace: Option<String>,
    /// `owner/name` of the pretend repository.
    pub repository: Option<String>,
}

impl PlanOptions {
    pub fn new(sink_base_url: impl Into<String>) -> Self {
        PlanOptions {
            sink_base_url: sink_base_url.into(),
            ..Default::default()
        }
    }
}

/// A file to plant, with its octal permission bits (`0o600` for secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlantedFile {
    pub path: String,
    pub content: Vec<u8>,
    pub mode: u32,
}

/// A directory to create with specific permissions (e.g. `~/.ssh` as `0o700`). Parent
/// directories of planted files not listed here are created `0o755`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlantedDir {
    pub path: String,
    pub mode: u32,
}

/// A long-running decoy process holding secrets in its memory and environment, started
/// before the package's install as the same user. `argv[0]` is an absolute path to run
/// with execve; the process renames itself so `ps`, `pgrep` and `/proc/<pid>/comm` show
/// `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecoySpec {
    pub name: String,
    pub argv: Vec<String>,
    /// The decoy's complete environment.
    pub env: Vec<(String, String)>,
    pub cwd: String,
}

/// Credentials the sink's metadata services hand out. Field names equal those of the
/// sink's `BaitConfig`, so serializing this struct to JSON yields a valid partial sink
/// config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImdsCreds {
    pub aws_access_key_id: String,
    pub aws_secret_access_key: String,
    pub aws_session_token: String,
    /// IMDSv2 session token (not a canary: it grants nothing).
    pub aws_imds_token: String,
    pub gcp_access_token: String,
    pub azure_access_token: String,
    /// The GitHub Actions OIDC token the sink returns for `ACTIONS_ID_TOKEN_REQUEST_URL`.
    pub actions_id_token: String,
}

/// Everything to plant for one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaitPlan {
    pub persona: Persona,
    pub user: String,
    pub home: String,
    pub workspace: String,
    pub hostname: String,
    /// Environment of the install phase (bait and persona variables; `PATH` is left to
    /// the orchestrator).
    pub env: Vec<(String, String)>,
    pub dirs: Vec<PlantedDir>,
    pub files: Vec<PlantedFile>,
    /// Every planted secret; goes into the trace header.
    pub canaries: Vec<Canary>,
    pub decoy: Option<DecoySpec>,
    pub imds: ImdsCreds,
    /// Facts for the trace header's `notes`.
    pub notes: BTreeMap<String, String>,
}

impl BaitPlan {
    /// Value of an environment variable of the plan.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The planted file at `path`.
    pub fn file(&self, path: &str) -> Option<&PlantedFile> {
        self.files.iter().find(|f| f.path == path)
    }

    pub fn canary(&self, id: &str) -> Option<&Canary> {
        self.canaries.iter().find(|c| c.id == id)
    }
}

/// Builds a plan with fresh values from the operating system's random source.
pub fn plan(persona: Persona, opts: &PlanOptions) -> BaitPlan {
    let mut rng = StdRng::from_os_rng();
    plan_with_rng(persona, opts, &mut rng)
}

/// Builds a plan drawing every value from `rng` (seed it in tests; use [`plan`] for
/// runs).
pub fn plan_with_rng<R: Rng + ?Sized>(
    persona: Persona,
    opts: &PlanOptions,
    rng: &mut R,
) -> BaitPlan {
    let (default_user, owners, repos): (&str, &[&str], &[&str]) = match persona {
        Persona::Ci => (
            "runner",
            &["acme-corp", "northwind-labs", "globex-dev", "initech-eng"],
            &["web-app", "api-server", "billing-service", "dashboard"],
        ),
        Persona::Laptop => (
            "sam",
            &["samrivera", "acme-corp", "northwind-labs"],
            &["side-project", "web-app", "api-server", "dotfiles-sync"],
        ),
    };
    let user = opts
        .user
        .clone()
        .unwrap_or_else(|| default_user.to_string());
    let home = opts.home.clone().unwrap_or_else(|| format!("/home/{user}"));
    let owner = pick(rng, owners).to_string();
    let (owner, mut repo) = match &opts.repository {
        Some(r) => match r.split_once('/') {
            Some((o, n)) => (o.to_string(), n.to_string()),
            None => (owner, r.clone()),
        },
        None => (owner, pick(rng, repos).to_string()),
    };
    let workspace = match &opts.workspace {
        Some(w) => {
            let w = w.trim_end_matches('/').to_string();
            if opts.repository.is_none() {
                if let Some(name) = w.rsplit('/').next().filter(|n| !n.is_empty()) {
                    repo = name.to_string();
                }
            }
            w
        }
        None => match persona {
            Persona::Ci => format!("{home}/work/{repo}/{repo}"),
            Persona::Laptop => format!("{home}/code/{repo}"),
        },
    };
    let hostname = match persona {
        Persona::Ci => format!("fv-az{}-{}", gen::digits(rng, 3), gen::digits(rng, 3)),
        Persona::Laptop => format!("{user}s-thinkpad"),
    };
    let login = match persona {
        Persona::Ci => format!("{owner}-bot"),
        Persona::Laptop => format!("{user}-dev"),
    };
    let ctx = Ctx {
        persona,
        user,
        home,
        workspace,
        owner,
        repo,
        hostname,
        login,
        sink: opts.sink_base_url.trim_end_matches('/').to_string(),
    };
    let mut b = Builder::new(ctx);
    common(&mut b, rng);
    match persona {
        Persona::Ci => ci(&mut b, rng),
        Persona::Laptop => laptop(&mut b, rng),
    }
    let imds = imds(&mut b, rng);
    b.finish(imds)
}

struct Ctx {
    persona: Persona,
    user: String,
    home: String,
    workspace: String,
    owner: String,
    repo: String,
    hostname: String,
    login: String,
    sink: String,
}

struct Builder {
    ctx: Ctx,
    env: Vec<(String, String)>,
    dirs: Vec<PlantedDir>,
    files: Vec<PlantedFile>,
    canaries: Vec<Canary>,
    decoy: Option<DecoySpec>,
    notes: BTreeMap<String, String>,
}

impl Builder {
    fn new(ctx: Ctx) -> Self {
        Builder {
            ctx,
            env: Vec::new(),
            dirs: Vec::new(),
            files: Vec::new(),
            canaries: Vec::new(),
            decoy: None,
            notes: BTreeMap::new(),
        }
    }

    fn env(&mut self, name: &str, value: impl Into<String>) {
        self.env.push((name.to_string(), value.into()));
    }

    /// An environment variable whose value is (or, with `canary_value`, contains) a
    /// canary.
    fn secret_env(
        &mut self,
        id: &str,
        kind: &str,
        name: &str,
        value: String,
        canary_value: Option<String>,
    ) {
        self.canary(
            id,
            kind,
            format!("env:{name}"),
            canary_value.unwrap_or_else(|| value.clone()),
        );
        self.env(name, value);
    }

    fn canary(&mut self, id: &str, kind: &str, location: String, value: String) {
        self.canaries.push(Canary {
            id: id.to_string(),
            kind: kind.to_string(),
            location,
            value,
        });
    }

    fn file(&mut self, path: String, content: impl Into<Vec<u8>>, mode: u32) {
        self.files.push(PlantedFile {
            path,
            content: content.into(),
            mode,
        });
    }

    fn dir(&mut self, path: String, mode: u32) {
        self.dirs.push(PlantedDir { path, mode });
    }

    fn home(&self, rel: &str) -> String {
        format!("{}/{rel}", self.ctx.home)
    }

    fn ws(&self, rel: &str) -> String {
        format!("{}/{rel}", self.ctx.workspace)
    }

    fn finish(mut self, imds: ImdsCreds) -> BaitPlan {
        self.notes
            .insert("persona".into(), self.ctx.persona.to_string());
        self.notes
            .insert("hostname".into(), self.ctx.hostname.clone());
        self.notes
            .insert("bait_canaries".into(), self.canaries.len().to_string());
        if let Some(d) = &self.decoy {
            self.notes.insert("decoy_process".into(), d.name.clone());
        }
        BaitPlan {
            persona: self.ctx.persona,
            user: self.ctx.user,
            home: self.ctx.home,
            workspace: self.ctx.workspace,
            hostname: self.ctx.hostname,
            env: self.env,
            dirs: self.dirs,
            files: self.files,
            canaries: self.canaries,
            decoy: self.decoy,
            imds,
            notes: self.notes,
        }
    }
}

pub(super) fn pick<'a, R: Rng + ?Sized>(rng: &mut R, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

/// GitHub's published SSH host key, as every `known_hosts` that ever cloned has it.
pub(super) const GITHUB_HOST_KEY: &str =
    "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

/// A few BIP39 words; twelve of them give 72 bits, plenty for a per-run value.
pub(super) const WORDS: &[&str] = &[
    "abandon", "ability", "absorb", "access", "acoustic", "actor", "adapt", "advice", "aerobic",
    "afford", "agent", "alarm", "album", "alley", "amateur", "anchor", "angle", "antique",
    "arctic", "armor", "arrow", "artwork", "asthma", "atom", "auction", "avocado", "bacon",
    "balcony", "bamboo", "banner", "barrel", "basket", "beach", "benefit", "bicycle", "blanket",
    "blossom", "bounce", "bracket", "breeze", "bridge", "bubble", "buffalo", "cabin", "cactus",
    "canal", "canyon", "carbon", "castle", "cattle", "ceiling", "chalk", "cherry", "chimney",
    "cinnamon", "citizen", "clever", "cluster", "coconut", "comet", "copper", "coral", "cradle",
    "crystal",
];
