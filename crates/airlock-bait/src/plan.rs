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
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::gen;
use crate::BaitError;

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

fn pick<'a, R: Rng + ?Sized>(rng: &mut R, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

/// GitHub's published SSH host key, as every `known_hosts` that ever cloned has it.
const GITHUB_HOST_KEY: &str =
    "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

/// A few BIP39 words; twelve of them give 72 bits, plenty for a per-run value.
const WORDS: &[&str] = &[
    "abandon", "ability", "absorb", "access", "acoustic", "actor", "adapt", "advice", "aerobic",
    "afford", "agent", "alarm", "album", "alley", "amateur", "anchor", "angle", "antique",
    "arctic", "armor", "arrow", "artwork", "asthma", "atom", "auction", "avocado", "bacon",
    "balcony", "bamboo", "banner", "barrel", "basket", "beach", "benefit", "bicycle", "blanket",
    "blossom", "bounce", "bracket", "breeze", "bridge", "bubble", "buffalo", "cabin", "cactus",
    "canal", "canyon", "carbon", "castle", "cattle", "ceiling", "chalk", "cherry", "chimney",
    "cinnamon", "citizen", "clever", "cluster", "coconut", "comet", "copper", "coral", "cradle",
    "crystal",
];

/// Bait every persona carries: environment tokens and the usual credential files.
fn common<R: Rng + ?Sized>(b: &mut Builder, rng: &mut R) {
    let (user, home) = (b.ctx.user.clone(), b.ctx.home.clone());
    b.env("HOME", home.clone());
    b.env("USER", user.clone());
    b.env("LOGNAME", user.clone());
    b.env("SHELL", "/bin/bash");
    b.env("HOSTNAME", b.ctx.hostname.clone());

    // Environment tokens.
    b.secret_env(
        "env-npm-token",
        "npm_token",
        "NPM_TOKEN",
        gen::npm_token(rng),
        None,
    );
    b.secret_env(
        "env-node-auth-token",
        "npm_token",
        "NODE_AUTH_TOKEN",
        gen::npm_token(rng),
        None,
    );
    let (gh_kind, gh_prefix) = match b.ctx.persona {
        Persona::Ci => ("github_actions_token", "ghs"),
        Persona::Laptop => ("github_pat", "ghp"),
    };
    let gh = gen::github_token(rng, gh_prefix);
    b.secret_env("env-github-token", gh_kind, "GITHUB_TOKEN", gh, None);
    b.secret_env(
        "env-gh-token",
        "github_pat",
        "GH_TOKEN",
        gen::github_token(rng, "ghp"),
        None,
    );
    let key_id = gen::aws_access_key_id(rng, "AKIA");
    b.secret_env(
        "env-aws-access-key-id",
        "aws_access_key_id",
        "AWS_ACCESS_KEY_ID",
        key_id,
        None,
    );
    let secret = gen::aws_secret_access_key(rng);
    b.secret_env(
        "env-aws-secret-access-key",
        "aws_secret_access_key",
        "AWS_SECRET_ACCESS_KEY",
        secret,
        None,
    );
    let session = gen::aws_session_token(rng);
    b.secret_env(
        "env-aws-session-token",
        "aws_session_token",
        "AWS_SESSION_TOKEN",
        session,
        None,
    );
    b.env("AWS_DEFAULT_REGION", "us-east-1");
    b.secret_env(
        "env-openai-api-key",
        "openai_api_key",
        "OPENAI_API_KEY",
        gen::openai_key(rng),
        None,
    );
    b.secret_env(
        "env-anthropic-api-key",
        "anthropic_api_key",
        "ANTHROPIC_API_KEY",
        gen::anthropic_key(rng),
        None,
    );
    let pw = gen::db_password(rng);
    let url = format!("postgres://app:{pw}@db.internal:5432/app");
    b.secret_env(
        "env-database-password",
        "database_password",
        "DATABASE_URL",
        url,
        Some(pw),
    );

    // ~/.npmrc
    let npm = gen::npm_token(rng);
    let path = b.home(".npmrc");
    b.file(
        path.clone(),
        format!("//registry.npmjs.org/:_authToken={npm}\nregistry=https://registry.npmjs.org/\nfund=false\n"),
        0o600,
    );
    b.canary("npmrc-token", "npm_token", format!("file:{path}"), npm);

    // ~/.aws
    let (id, secret) = (
        gen::aws_access_key_id(rng, "AKIA"),
        gen::aws_secret_access_key(rng),
    );
    let path = b.home(".aws/credentials");
    b.file(
        path.clone(),
        format!("[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"),
        0o600,
    );
    b.canary(
        "aws-credentials-access-key-id",
        "aws_access_key_id",
        format!("file:{path}"),
        id,
    );
    b.canary(
        "aws-credentials-secret-access-key",
        "aws_secret_access_key",
        format!("file:{path}"),
        secret,
    );
    b.file(
        b.home(".aws/config"),
        "[default]\nregion = us-east-1\noutput = json\n",
        0o644,
    );

    // ~/.ssh
    b.dir(b.home(".ssh"), 0o700);
    let comment = format!("{user}@{}", b.ctx.hostname);
    let key = gen::ssh_ed25519(rng, &comment);
    let path = b.home(".ssh/id_ed25519");
    b.file(path.clone(), key.private_pem, 0o600);
    b.canary(
        "ssh-private-key",
        "ssh_private_key",
        format!("file:{path}"),
        key.canary_line,
    );
    b.file(b.home(".ssh/id_ed25519.pub"), key.public_line, 0o644);
    let hashed = format!(
        "|1|{}|{} ecdsa-sha2-nistp256 {}\n",
        STANDARD.encode(gen::bytes(rng, 20)),
        STANDARD.encode(gen::bytes(rng, 20)),
        STANDARD.encode(
            [
                &b"\0\0\0\x13ecdsa-sha2-nistp256\0\0\0\x08nistp256\0\0\0\x41\x04"[..],
                &gen::bytes(rng, 64)
            ]
            .concat()
        )
    );
    b.file(
        b.home(".ssh/known_hosts"),
        format!("{GITHUB_HOST_KEY}\n{hashed}"),
        0o644,
    );

    // ~/.config/gh/hosts.yml
    let gho = gen::github_token(rng, "gho");
    let login = b.ctx.login.clone();
    let path = b.home(".config/gh/hosts.yml");
    b.file(
        path.clone(),
        format!(
            "github.com:\n    users:\n        {login}:\n            oauth_token: {gho}\n    git_protocol: https\n    oauth_token: {gho}\n    user: {login}\n"
        ),
        0o600,
    );
    b.canary(
        "gh-hosts-token",
        "github_oauth_token",
        format!("file:{path}"),
        gho,
    );

    // ~/.git-credentials
    let pat = gen::github_token(rng, "ghp");
    let path = b.home(".git-credentials");
    b.file(
        path.clone(),
        format!("https://{login}:{pat}@github.com\n"),
        0o600,
    );
    b.canary(
        "git-credentials-token",
        "github_pat",
        format!("file:{path}"),
        pat,
    );

    // ~/.docker/config.json
    let dckr = gen::docker_pat(rng);
    let path = b.home(".docker/config.json");
    let auth = STANDARD.encode(format!("{login}:{dckr}"));
    let doc = json!({"auths": {"https://index.docker.io/v1/": {"auth": auth}}, "currentContext": "default"});
    b.file(path.clone(), pretty(&doc), 0o600);
    b.canary(
        "docker-auth-token",
        "docker_pat",
        format!("file:{path}"),
        dckr,
    );

    // ~/.pypirc
    let pypi = gen::pypi_token(rng);
    let path = b.home(".pypirc");
    b.file(
        path.clone(),
        format!("[distutils]\nindex-servers =\n    pypi\n\n[pypi]\nusername = __token__\npassword = {pypi}\n"),
        0o600,
    );
    b.canary("pypirc-token", "pypi_token", format!("file:{path}"), pypi);

    // Project .env
    let (pw, stripe, session) = (
        gen::db_password(rng),
        gen::stripe_key(rng),
        gen::hex(rng, 64),
    );
    let path = b.ws(".env");
    b.file(
        path.clone(),
        format!(
            "NODE_ENV=production\nPORT=3000\nDATABASE_URL=postgres://app:{pw}@db.internal:5432/app\nSTRIPE_SECRET_KEY={stripe}\nSESSION_SECRET={session}\n"
        ),
        0o644,
    );
    b.canary(
        "dotenv-database-password",
        "database_password",
        format!("file:{path}"),
        pw,
    );
    b.canary(
        "dotenv-stripe-key",
        "stripe_secret_key",
        format!("file:{path}"),
        stripe,
    );
    b.canary(
        "dotenv-session-secret",
        "generic_secret",
        format!("file:{path}"),
        session,
    );

    // MetaMask extension storage (a LevelDB directory; the log holds the vault).
    let ext = b.home(
        ".config/google-chrome/Default/Local Extension Settings/nkbihfbeogaeaoehlefnkodbefgpgknn",
    );
    let (vault, data) = gen::metamask_vault(rng);
    let value = json!({"KeyringController": {"vault": vault}, "PreferencesController": {"selectedAddress": format!("0x{}", gen::hex(rng, 40))}}).to_string();
    let path = format!("{ext}/000003.log");
    b.file(
        path.clone(),
        leveldb_log(rng, b"data", value.as_bytes()),
        0o644,
    );
    b.file(format!("{ext}/CURRENT"), "MANIFEST-000001\n", 0o644);
    b.file(format!("{ext}/LOCK"), "", 0o644);
    b.file(format!("{ext}/LOG"), "2024/05/02-09:14:07.311 1b1f Reusing MANIFEST /Default/Local Extension Settings/nkbihfbeogaeaoehlefnkodbefgpgknn/MANIFEST-000001\n", 0o644);
    b.file(
        format!("{ext}/MANIFEST-000001"),
        leveldb_log(rng, b"", b"\x01\x1aleveldb.BytewiseComparator"),
        0o644,
    );
    b.canary(
        "metamask-vault",
        "wallet_vault",
        format!("file:{path}"),
        data,
    );

    // Electrum wallet.
    let (xprv, xpub) = (gen::xprv(rng), gen::xpub(rng));
    let seed: Vec<&str> = (0..12).map(|_| pick(rng, WORDS)).collect();
    let seed = seed.join(" ");
    let path = b.home(".electrum/wallets/default_wallet");
    let wallet = json!({
        "addr_history": {}, "seed_version": 52, "seed_type": "segwit", "use_encryption": false,
        "wallet_type": "standard",
        "keystore": {"type": "bip32", "pw_hash_version": 1, "seed": seed, "xprv": xprv, "xpub": xpub},
    });
    b.file(path.clone(), pretty(&wallet), 0o600);
    b.canary("electrum-xprv", "wallet_xprv", format!("file:{path}"), xprv);
    b.canary("electrum-seed", "wallet_seed", format!("file:{path}"), seed);
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .unwrap_or_default()
}

/// One LevelDB log record holding a single put of `key` = `value` (CRC not computed:
/// readers that check it see a corrupt tail, which browsers also leave behind).
fn leveldb_log<R: Rng + ?Sized>(rng: &mut R, key: &[u8], value: &[u8]) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut n: usize) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
    let mut batch = Vec::new();
    batch.extend(rng.random_range(1u64..5000).to_le_bytes());
    batch.extend(1u32.to_le_bytes());
    batch.push(1);
    varint(&mut batch, key.len());
    batch.extend(key);
    varint(&mut batch, value.len());
    batch.extend(value);
    let mut out = gen::bytes(rng, 4);
    out.extend((batch.len().min(0xffff) as u16).to_le_bytes());
    out.push(1);
    out.extend(batch);
    out
}

fn ci<R: Rng + ?Sized>(b: &mut Builder, rng: &mut R) {
    let Ctx {
        owner,
        repo,
        home,
        workspace,
        login,
        sink,
        ..
    } = &b.ctx;
    let (owner, repo, home, workspace, login, sink) = (
        owner.clone(),
        repo.clone(),
        home.clone(),
        workspace.clone(),
        login.clone(),
        sink.clone(),
    );
    let full = format!("{owner}/{repo}");
    let sha = gen::hex(rng, 40);
    let run_id = gen::digits(rng, 10);
    let temp = format!("{home}/work/_temp");
    let cmd_dir = format!("{temp}/_runner_file_commands");
    let step = gen::uuid(rng);
    let plan_id = gen::uuid(rng);
    let job_id = gen::uuid(rng);
    let hub = gen::base62(rng, 50);

    b.env("LANG", "C.UTF-8");
    b.env("CI", "true");
    b.env("GITHUB_ACTIONS", "true");
    b.env("GITHUB_REPOSITORY", full.clone());
    b.env("GITHUB_REPOSITORY_OWNER", owner.clone());
    b.env("GITHUB_REPOSITORY_ID", gen::digits(rng, 9));
    b.env("GITHUB_REPOSITORY_OWNER_ID", gen::digits(rng, 8));
    b.env("GITHUB_WORKFLOW", "CI");
    b.env(
        "GITHUB_WORKFLOW_REF",
        format!("{full}/.github/workflows/ci.yml@refs/heads/main"),
    );
    b.env("GITHUB_WORKFLOW_SHA", sha.clone());
    b.env("GITHUB_RUN_ID", run_id.clone());
    b.env(
        "GITHUB_RUN_NUMBER",
        rng.random_range(40..900u32).to_string(),
    );
    b.env("GITHUB_RUN_ATTEMPT", "1");
    b.env("GITHUB_JOB", "build");
    b.env("GITHUB_ACTION", "__run_2");
    b.env("GITHUB_SHA", sha.clone());
    b.env("GITHUB_REF", "refs/heads/main");
    b.env("GITHUB_REF_NAME", "main");
    b.env("GITHUB_REF_TYPE", "branch");
    b.env("GITHUB_REF_PROTECTED", "true");
    b.env("GITHUB_HEAD_REF", "");
    b.env("GITHUB_BASE_REF", "");
    b.env("GITHUB_WORKSPACE", workspace.clone());
    b.env("GITHUB_EVENT_NAME", "push");
    b.env(
        "GITHUB_EVENT_PATH",
        format!("{temp}/_github_workflow/event.json"),
    );
    b.env("GITHUB_ACTOR", login.clone());
    b.env("GITHUB_ACTOR_ID", gen::digits(rng, 8));
    b.env("GITHUB_TRIGGERING_ACTOR", login.clone());
    b.env("GITHUB_SERVER_URL", "https://github.com");
    b.env("GITHUB_API_URL", "https://api.github.com");
    b.env("GITHUB_GRAPHQL_URL", "https://api.github.com/graphql");
    b.env("GITHUB_RETENTION_DAYS", "90");
    for (var, file) in [
        ("GITHUB_ENV", "set_env"),
        ("GITHUB_PATH", "add_path"),
        ("GITHUB_OUTPUT", "set_output"),
        ("GITHUB_STATE", "save_state"),
        ("GITHUB_STEP_SUMMARY", "step_summary"),
    ] {
        let path = format!("{cmd_dir}/{file}_{step}");
        b.env(var, path.clone());
        b.file(path, "", 0o644);
    }
    b.env("RUNNER_OS", "Linux");
    b.env("RUNNER_ARCH", "X64");
    b.env(
        "RUNNER_NAME",
        format!("GitHub Actions {}", rng.random_range(2..400u32)),
    );
    b.env("RUNNER_ENVIRONMENT", "github-hosted");
    b.env("RUNNER_TEMP", temp.clone());
    b.env("RUNNER_TOOL_CACHE", "/opt/hostedtoolcache");
    b.env("RUNNER_WORKSPACE", format!("{home}/work/{repo}"));
    b.env("RUNNER_TRACKING_ID", format!("github_{}", gen::uuid(rng)));
    b.env("RUNNER_PERFLOG", format!("{home}/perflog"));
    b.env("AGENT_TOOLSDIRECTORY", "/opt/hostedtoolcache");
    b.env("ImageOS", "ubuntu22");
    b.env("ImageVersion", "20240422.1.0");
    b.env("DEBIAN_FRONTEND", "noninteractive");
    let id_url = format!(
        "{sink}/{hub}/00000000-0000-0000-0000-000000000000/_apis/distributedtask/hubs/Actions/plans/{plan_id}/jobs/{job_id}/idtoken?api-version=2.0"
    );
    b.env("ACTIONS_ID_TOKEN_REQUEST_URL", id_url);
    let claims = |rng: &mut R, kind: &str| json!({"nameid": "dddddddd-dddd-dddd-dddd-dddddddddddd", "scp": format!("Actions.GenericRead:00000000-0000-0000-0000-000000000000 {kind}:{}", gen::uuid(rng)), "iss": "vstoken.actions.githubusercontent.com", "aud": "vstoken.actions.githubusercontent.com", "nbf": 1714640000, "exp": 1714665200, "ac": "[{\"Scope\":\"refs/heads/main\",\"Permission\":3}]", "orchid": format!("{}.build.__default", gen::uuid(rng))});
    let c = claims(rng, "IdToken.GenerateToken");
    let id_req = gen::jwt(rng, &c);
    b.secret_env(
        "env-actions-id-token-request-token",
        "actions_id_token_request_token",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        id_req,
        None,
    );
    b.env("ACTIONS_RUNTIME_URL", format!("{sink}/{hub}/"));
    b.env("ACTIONS_RESULTS_URL", format!("{sink}/"));
    b.env(
        "ACTIONS_CACHE_URL",
        format!("{sink}/{}/", gen::base62(rng, 50)),
    );
    let c = claims(rng, "Actions.Results");
    let runtime = gen::jwt(rng, &c);
    b.secret_env(
        "env-actions-runtime-token",
        "actions_runtime_token",
        "ACTIONS_RUNTIME_TOKEN",
        runtime,
        None,
    );

    // The event payload.
    let event = json!({
        "ref": "refs/heads/main", "after": sha, "before": gen::hex(rng, 40), "forced": false,
        "repository": {"full_name": full, "name": repo, "private": true, "default_branch": "main",
                        "owner": {"login": owner}, "html_url": format!("https://github.com/{full}")},
        "pusher": {"name": login}, "sender": {"login": login, "type": "User"},
        "head_commit": {"id": sha, "message": "Bump dependencies"},
    });
    b.file(
        format!("{temp}/_github_workflow/event.json"),
        pretty(&event),
        0o644,
    );

    // The checkout, as actions/checkout leaves it (credentials persisted in .git/config).
    let checkout = gen::github_token(rng, "ghs");
    let basic = STANDARD.encode(format!("x-access-token:{checkout}"));
    let git_config = format!(
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n[remote \"origin\"]\n\turl = https://github.com/{full}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n[gc]\n\tauto = 0\n[http \"https://github.com/\"]\n\textraheader = AUTHORIZATION: basic {basic}\n[branch \"main\"]\n\tremote = origin\n\tmerge = refs/heads/main\n"
    );
    git_dir(b, &git_config, &sha);
    let path = b.ws(".git/config");
    b.canary(
        "checkout-token",
        "github_actions_token",
        format!("file:{path}"),
        checkout,
    );
    b.file(
        b.ws(".github/workflows/ci.yml"),
        "name: CI\n\non:\n  push:\n    branches: [main]\n  pull_request:\n\npermissions:\n  contents: read\n  id-token: write\n  packages: write\n\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/setup-node@v4\n        with:\n          node-version: 20\n          registry-url: https://registry.npmjs.org\n      - run: npm ci\n        env:\n          NODE_AUTH_TOKEN: ${{ secrets.NPM_TOKEN }}\n          GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n      - run: npm test\n",
        0o644,
    );

    // The decoy runner worker.
    let worker_token = gen::github_token(rng, "ghs");
    let c = claims(rng, "Actions.Results");
    let worker_runtime = gen::jwt(rng, &c);
    let name = "Runner.Worker";
    b.canary(
        "decoy-github-token",
        "github_actions_token",
        format!("process:{name}"),
        worker_token.clone(),
    );
    b.canary(
        "decoy-actions-runtime-token",
        "actions_runtime_token",
        format!("process:{name}"),
        worker_runtime.clone(),
    );
    b.decoy = Some(decoy(&b.ctx, name, worker_token, worker_runtime));
}

/// The Python the decoy runs: it copies its secrets into a job message shaped like the
/// real runner's (`{"value": ..., "isSecret": true}`, which memory scrapers look for)
/// and then sleeps for ever.
const DECOY_PY: &str = r#"import json, os, time
env = os.environ
job = json.dumps({"messageType": "PipelineAgentJobRequest", "plan": {"planType": "Build"},
    "variables": {"system.github.token": {"value": env.get("GITHUB_TOKEN", ""), "isSecret": True},
                  "system.runtime.token": {"value": env.get("ACTIONS_RUNTIME_TOKEN", ""), "isSecret": True},
                  "system.culture": {"value": "en-US", "isSecret": False}}})
held = [job, job.encode("utf-16-le"), job.encode()]
while True:
    time.sleep(3600)
"#;

fn decoy(ctx: &Ctx, name: &str, token: String, runtime: String) -> DecoySpec {
    let home = &ctx.home;
    let dir = format!("{home}/runners/2.321.0/bin");
    // A symlink named like the worker makes the kernel's comm `Runner.Worker`; `exec -a`
    // sets argv[0]. The program comes on stdin so the command line stays clean.
    let script = format!(
        "d='{dir}'\nif mkdir -p \"$d\" 2>/dev/null && ln -sf \"$(readlink -f \"$(command -v python3)\")\" \"$d/{name}\" 2>/dev/null; then\n  exec -a \"$d/{name}\" \"$d/{name}\" - spawnclient 111 114 <<'AIRLOCK_EOF'\n{DECOY_PY}AIRLOCK_EOF\nfi\nexec -a {name} python3 - spawnclient 111 114 <<'AIRLOCK_EOF'\n{DECOY_PY}AIRLOCK_EOF\n"
    );
    DecoySpec {
        name: name.to_string(),
        argv: vec!["/bin/bash".into(), "-c".into(), script],
        env: vec![
            ("HOME".into(), home.clone()),
            ("USER".into(), ctx.user.clone()),
            (
                "PATH".into(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ),
            ("RUNNER_TEMP".into(), format!("{home}/work/_temp")),
            ("GITHUB_ACTIONS".into(), "true".into()),
            ("GITHUB_TOKEN".into(), token),
            ("ACTIONS_RUNTIME_TOKEN".into(), runtime),
        ],
        cwd: format!("{home}/runners/2.321.0"),
    }
}

fn git_dir(b: &mut Builder, config: &str, sha: &str) {
    b.file(b.ws(".git/HEAD"), "ref: refs/heads/main\n", 0o644);
    b.file(b.ws(".git/config"), config.to_string(), 0o644);
    b.file(
        b.ws(".git/description"),
        "Unnamed repository; edit this file 'description' to name the repository.\n",
        0o644,
    );
    b.file(b.ws(".git/refs/heads/main"), format!("{sha}\n"), 0o644);
    b.file(
        b.ws(".git/refs/remotes/origin/main"),
        format!("{sha}\n"),
        0o644,
    );
    b.file(
        b.ws(".git/packed-refs"),
        format!("# pack-refs with: peeled fully-peeled sorted \n{sha} refs/remotes/origin/main\n"),
        0o644,
    );
    for d in [
        ".git/objects/info",
        ".git/objects/pack",
        ".git/refs/tags",
        ".git/hooks",
        ".git/info",
    ] {
        b.dir(b.ws(d), 0o755);
    }
}

fn laptop<R: Rng + ?Sized>(b: &mut Builder, rng: &mut R) {
    let Ctx {
        owner, repo, user, ..
    } = &b.ctx;
    let (owner, repo, user) = (owner.clone(), repo.clone(), user.clone());
    let full = format!("{owner}/{repo}");
    let name = "Sam Rivera";
    let email = format!("{user}.rivera@proton.me");
    b.env("LANG", "en_US.UTF-8");
    b.env("TERM", "xterm-256color");
    b.env("EDITOR", "code --wait");
    b.env("COLORTERM", "truecolor");
    b.env("XDG_SESSION_TYPE", "wayland");
    b.env("XDG_CURRENT_DESKTOP", "GNOME");
    b.env("DISPLAY", ":0");
    b.env("SSH_AUTH_SOCK", "/run/user/1000/keyring/ssh");
    b.env("NVM_DIR", b.home(".nvm"));

    let hist_key = gen::openai_key(rng);
    let path = b.home(".bash_history");
    let history = format!(
        "cd ~/code/{repo}\ngit pull --rebase\nnpm install\nnpm run dev\ngit status\ngit checkout -b fix/login-redirect\ncode .\nnpm test -- --watch\nexport OPENAI_API_KEY={hist_key}\npython3 scripts/summarize.py\ndocker compose up -d db\npsql postgres://app@localhost:5432/app\naws s3 ls s3://{owner}-assets/\naws sso login --profile prod\nkubectl get pods -n staging\nssh deploy@10.0.4.17\ngh pr create --fill\nnpm version patch\nnpm publish\ngit push --follow-tags\nhtop\nsudo apt update && sudo apt upgrade\nnvm use 20\nls -la ~/.ssh\ncat package.json | jq .scripts\ngit log --oneline | head\n"
    );
    b.file(path.clone(), history, 0o600);
    b.canary(
        "history-openai-api-key",
        "openai_api_key",
        format!("file:{path}"),
        hist_key,
    );
    b.file(
        b.home(".bashrc"),
        "# ~/.bashrc\ncase $- in *i*) ;; *) return;; esac\nHISTCONTROL=ignoreboth\nHISTSIZE=10000\nshopt -s histappend\nalias ll='ls -alF'\nalias gs='git status'\nexport NVM_DIR=\"$HOME/.nvm\"\n[ -s \"$NVM_DIR/nvm.sh\" ] && . \"$NVM_DIR/nvm.sh\"\n",
        0o644,
    );
    b.file(b.home(".profile"), "if [ -n \"$BASH_VERSION\" ] && [ -f \"$HOME/.bashrc\" ]; then . \"$HOME/.bashrc\"; fi\nPATH=\"$HOME/.local/bin:$PATH\"\n", 0o644);
    b.file(
        b.home(".gitconfig"),
        format!("[user]\n\tname = {name}\n\temail = {email}\n[init]\n\tdefaultBranch = main\n[credential]\n\thelper = store\n[pull]\n\trebase = true\n[core]\n\teditor = code --wait\n"),
        0o644,
    );
    b.file(
        b.home(".ssh/config"),
        "Host github.com\n  IdentityFile ~/.ssh/id_ed25519\n\nHost staging\n  HostName 10.0.4.17\n  User deploy\n",
        0o600,
    );
    b.file(
        b.home(".vscode/extensions/extensions.json"),
        r#"[{"identifier":{"id":"dbaeumer.vscode-eslint"},"version":"3.0.10"},{"identifier":{"id":"esbenp.prettier-vscode"},"version":"10.4.0"},{"identifier":{"id":"ms-python.python"},"version":"2024.4.1"},{"identifier":{"id":"github.copilot"},"version":"1.190.0"}]
"#,
        0o644,
    );
    b.file(
        b.home(".config/Code/User/settings.json"),
        "{\n  \"editor.formatOnSave\": true,\n  \"editor.fontSize\": 14,\n  \"workbench.colorTheme\": \"Default Dark Modern\",\n  \"git.autofetch\": true\n}\n",
        0o644,
    );
    b.file(b.ws(".vscode/settings.json"), "{\n  \"editor.defaultFormatter\": \"esbenp.prettier-vscode\",\n  \"eslint.validate\": [\"javascript\", \"typescript\"]\n}\n", 0o644);
    b.file(
        b.ws(".vscode/launch.json"),
        "{\n  \"version\": \"0.2.0\",\n  \"configurations\": [\n    {\"type\": \"node\", \"request\": \"launch\", \"name\": \"Launch dev server\", \"program\": \"${workspaceFolder}/src/index.js\"}\n  ]\n}\n",
        0o644,
    );

    // A kubeconfig with a service-account token.
    let claims = json!({"iss": "kubernetes/serviceaccount", "kubernetes.io/serviceaccount/namespace": "staging", "sub": "system:serviceaccount:staging:deployer", "jti": gen::uuid(rng)});
    let kube = gen::jwt(rng, &claims);
    let path = b.home(".kube/config");
    b.file(
        path.clone(),
        format!("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.4.2:6443\n    insecure-skip-tls-verify: true\n  name: staging\ncontexts:\n- context:\n    cluster: staging\n    user: deployer\n  name: staging\ncurrent-context: staging\nusers:\n- name: deployer\n  user:\n    token: {kube}\n"),
        0o600,
    );
    b.canary(
        "kube-token",
        "kubernetes_token",
        format!("file:{path}"),
        kube,
    );

    let sha = gen::hex(rng, 40);
    let git_config = format!(
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n[remote \"origin\"]\n\turl = git@github.com:{full}.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n[branch \"main\"]\n\tremote = origin\n\tmerge = refs/heads/main\n"
    );
    git_dir(b, &git_config, &sha);
}

fn imds<R: Rng + ?Sized>(b: &mut Builder, rng: &mut R) -> ImdsCreds {
    let claims = json!({"aud": "https://management.azure.com/", "oid": gen::uuid(rng), "tid": gen::uuid(rng)});
    let azure = gen::jwt(rng, &claims);
    let claims = json!({"aud": "https://github.com/", "iss": "https://token.actions.githubusercontent.com", "sub": format!("repo:{}/{}:ref:refs/heads/main", b.ctx.owner, b.ctx.repo), "jti": gen::uuid(rng)});
    let oidc = gen::jwt(rng, &claims);
    let creds = ImdsCreds {
        aws_access_key_id: gen::aws_access_key_id(rng, "ASIA"),
        aws_secret_access_key: gen::aws_secret_access_key(rng),
        aws_session_token: gen::aws_session_token(rng),
        aws_imds_token: format!("AQAEA{}", gen::chars(rng, gen::BASE62, 51)),
        gcp_access_token: gen::gcp_token(rng),
        azure_access_token: azure,
        actions_id_token: oidc,
    };
    for (id, kind, loc, v) in [
        (
            "imds-aws-access-key-id",
            "aws_access_key_id",
            "imds:aws/AccessKeyId",
            &creds.aws_access_key_id,
        ),
        (
            "imds-aws-secret-access-key",
            "aws_secret_access_key",
            "imds:aws/SecretAccessKey",
            &creds.aws_secret_access_key,
        ),
        (
            "imds-aws-session-token",
            "aws_session_token",
            "imds:aws/Token",
            &creds.aws_session_token,
        ),
        (
            "imds-gcp-access-token",
            "gcp_access_token",
            "imds:gcp/access_token",
            &creds.gcp_access_token,
        ),
        (
            "imds-azure-access-token",
            "azure_access_token",
            "imds:azure/access_token",
            &creds.azure_access_token,
        ),
        (
            "actions-id-token",
            "github_oidc_token",
            "imds:actions/idtoken",
            &creds.actions_id_token,
        ),
    ] {
        b.canary(id, kind, loc.to_string(), v.clone());
    }
    creds
}
