//! The bait plan: every canary is format-correct, unique, present where its location
//! says, and each persona carries the variables, files and decoy it promises. The decoy
//! is also started for real (python3 on this machine) to check its process name and
//! that it holds its secrets.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use airlock_bait::{
    plan, plan_with_rng, BaitPlan, LeakSearcher, Persona, PlanOptions, MIN_CANARY_LEN,
};
use airlock_events::EventKind;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::rngs::StdRng;
use rand::SeedableRng;
use regex::Regex;

const SINK: &str = "http://198.18.0.2";

fn seeded(persona: Persona, seed: u64) -> BaitPlan {
    plan_with_rng(
        persona,
        &PlanOptions::new(SINK),
        &mut StdRng::seed_from_u64(seed),
    )
}

/// The format each kind of canary must have.
fn format_of(kind: &str) -> &'static str {
    match kind {
        "npm_token" => r"^npm_[A-Za-z0-9]{36}$",
        "github_pat" => r"^ghp_[A-Za-z0-9]{36}$",
        "github_actions_token" => r"^ghs_[A-Za-z0-9]{36}$",
        "github_oauth_token" => r"^gho_[A-Za-z0-9]{36}$",
        "aws_access_key_id" => r"^(AKIA|ASIA)[A-Z2-7]{16}$",
        "aws_secret_access_key" => r"^[A-Za-z0-9+/]{40}$",
        "aws_session_token" => r"^IQoJb3JpZ2luX2Vj[A-Za-z0-9+/]{300,}={0,2}$",
        "openai_api_key" => r"^sk-proj-[A-Za-z0-9_-]{48}T3BlbkFJ[A-Za-z0-9_-]{48}$",
        "anthropic_api_key" => r"^sk-ant-api03-[A-Za-z0-9_-]{93}AA$",
        "database_password" => r"^[A-Za-z0-9]{24}$",
        "stripe_secret_key" => r"^sk_live_[A-Za-z0-9]{48}$",
        "generic_secret" => r"^[0-9a-f]{64}$",
        "ssh_private_key" => r"^[A-Za-z0-9+/]{70}$",
        "docker_pat" => r"^dckr_pat_[A-Za-z0-9_-]{27}$",
        "pypi_token" => r"^pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{100,}$",
        "wallet_vault" => r"^[A-Za-z0-9+/]{300,}={0,2}$",
        "wallet_xprv" => r"^xprv[1-9A-HJ-NP-Za-km-z]{107}$",
        "wallet_seed" => r"^[a-z]+( [a-z]+){11}$",
        "gcp_access_token" => r"^ya29\.c\.[A-Za-z0-9_-]{100,}$",
        "actions_id_token_request_token"
        | "actions_runtime_token"
        | "azure_access_token"
        | "github_oidc_token"
        | "kubernetes_token" => r"^eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{300,}$",
        other => panic!("no format known for canary kind {other}"),
    }
}

fn check_canaries(p: &BaitPlan) {
    let mut ids = HashSet::new();
    let mut values = HashSet::new();
    for c in &p.canaries {
        assert!(ids.insert(&c.id), "duplicate id {}", c.id);
        assert!(values.insert(&c.value), "duplicate value for {}", c.id);
        assert!(c.value.len() >= MIN_CANARY_LEN, "{} too short", c.id);
        let re = Regex::new(format_of(&c.kind)).unwrap();
        assert!(
            re.is_match(&c.value),
            "{} ({}) = {:?} is not format-correct",
            c.id,
            c.kind,
            c.value
        );
        // The value is where the location says.
        if let Some(name) = c.location.strip_prefix("env:") {
            let v = p
                .env_var(name)
                .unwrap_or_else(|| panic!("{}: no env {name}", c.id));
            assert!(v.contains(&c.value), "{}: env {name}={v}", c.id);
        } else if let Some(path) = c.location.strip_prefix("file:") {
            assert!(path.starts_with('/'), "{path}");
            let f = p
                .file(path)
                .unwrap_or_else(|| panic!("{}: no file {path}", c.id));
            let text = String::from_utf8_lossy(&f.content);
            if c.id == "docker-auth-token" || c.id == "checkout-token" {
                // Stored base64-encoded, as Docker (`auth`) and actions/checkout (`extraheader`) do.
                let found = LeakSearcher::new(std::slice::from_ref(c)).scan_file(
                    "/tmp/copy",
                    &f.content,
                    "install",
                    0.0,
                );
                assert!(
                    matches!(&found[..], [e] if matches!(&e.kind, EventKind::CanaryLeaked { encoding, .. } if encoding == "base64")),
                    "{found:?}"
                );
            } else {
                assert!(text.contains(&c.value), "{}: not in {path}", c.id);
            }
        } else if let Some(name) = c.location.strip_prefix("process:") {
            let d = p.decoy.as_ref().unwrap();
            assert_eq!(d.name, name);
            assert!(
                d.env.iter().any(|(_, v)| v == &c.value),
                "{} not in decoy env",
                c.id
            );
            assert!(
                !d.argv.iter().any(|a| a.contains(&c.value)),
                "{} visible in decoy argv",
                c.id
            );
        } else if c.location.starts_with("imds:") {
            let json = serde_json::to_string(&p.imds).unwrap();
            assert!(json.contains(&c.value), "{} not served by the sink", c.id);
        } else {
            panic!("{}: unknown location {}", c.id, c.location);
        }
    }
}

#[test]
fn every_canary_is_format_correct_unique_and_where_it_says() {
    for seed in 0..5 {
        check_canaries(&seeded(Persona::Ci, seed));
        check_canaries(&seeded(Persona::Laptop, seed));
    }
    check_canaries(&plan(Persona::Ci, &PlanOptions::new(SINK)));
}

#[test]
fn two_runs_share_no_secret() {
    let a = plan(Persona::Ci, &PlanOptions::new(SINK));
    let b = plan(Persona::Ci, &PlanOptions::new(SINK));
    let av: HashSet<_> = a.canaries.iter().map(|c| &c.value).collect();
    assert!(b.canaries.iter().all(|c| !av.contains(&c.value)));
    assert_eq!(a.canaries.len(), b.canaries.len());
    // Same seed, same plan: the generator is the only source of values.
    assert_eq!(seeded(Persona::Laptop, 9), seeded(Persona::Laptop, 9));
}

#[test]
fn ci_persona_looks_like_a_github_actions_job() {
    let p = seeded(Persona::Ci, 1);
    assert_eq!(p.home, "/home/runner");
    assert!(
        Regex::new(r"^fv-az\d{3}-\d{3}$")
            .unwrap()
            .is_match(&p.hostname),
        "{}",
        p.hostname
    );
    for var in [
        "CI",
        "GITHUB_ACTIONS",
        "GITHUB_REPOSITORY",
        "GITHUB_WORKFLOW",
        "GITHUB_RUN_ID",
        "GITHUB_SHA",
        "GITHUB_REF",
        "GITHUB_WORKSPACE",
        "GITHUB_EVENT_NAME",
        "GITHUB_ACTOR",
        "GITHUB_SERVER_URL",
        "GITHUB_API_URL",
        "RUNNER_OS",
        "RUNNER_TEMP",
        "RUNNER_TOOL_CACHE",
        "RUNNER_NAME",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_RUNTIME_URL",
        "NPM_TOKEN",
        "NODE_AUTH_TOKEN",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "DATABASE_URL",
        "HOME",
        "USER",
    ] {
        assert!(p.env_var(var).is_some(), "missing {var}");
    }
    assert_eq!(p.env_var("CI"), Some("true"));
    assert_eq!(p.env_var("GITHUB_ACTIONS"), Some("true"));
    assert_eq!(p.env_var("RUNNER_OS"), Some("Linux"));
    assert!(Regex::new(r"^[0-9a-f]{40}$")
        .unwrap()
        .is_match(p.env_var("GITHUB_SHA").unwrap()));
    assert!(p
        .env_var("ACTIONS_ID_TOKEN_REQUEST_URL")
        .unwrap()
        .starts_with("http://198.18.0.2/"));
    assert!(p
        .env_var("ACTIONS_RUNTIME_URL")
        .unwrap()
        .starts_with("http://198.18.0.2/"));
    let ws = p.env_var("GITHUB_WORKSPACE").unwrap();
    assert_eq!(ws, p.workspace);
    let repo = p
        .env_var("GITHUB_REPOSITORY")
        .unwrap()
        .split('/')
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(ws, format!("/home/runner/work/{repo}/{repo}"));
    assert!(
        Regex::new(r"^postgres://app:[A-Za-z0-9]{24}@db\.internal:5432/app$")
            .unwrap()
            .is_match(p.env_var("DATABASE_URL").unwrap())
    );
    // The files of every persona plus the checkout.
    let home = |rel: &str| format!("/home/runner/{rel}");
    for path in [
        home(".npmrc"), home(".aws/credentials"), home(".ssh/id_ed25519"), home(".ssh/id_ed25519.pub"),
        home(".ssh/known_hosts"), home(".config/gh/hosts.yml"), home(".git-credentials"),
        home(".docker/config.json"), home(".pypirc"),
        home(".config/google-chrome/Default/Local Extension Settings/nkbihfbeogaeaoehlefnkodbefgpgknn/000003.log"),
        home(".electrum/wallets/default_wallet"),
        format!("{ws}/.env"), format!("{ws}/.git/HEAD"), format!("{ws}/.git/config"),
        format!("{ws}/.git/refs/heads/main"), format!("{ws}/.github/workflows/ci.yml"),
        p.env_var("GITHUB_EVENT_PATH").unwrap().to_string(), p.env_var("GITHUB_ENV").unwrap().to_string(),
    ] {
        assert!(p.file(&path).is_some(), "missing file {path}");
    }
    let git_config =
        String::from_utf8_lossy(&p.file(&format!("{ws}/.git/config")).unwrap().content).to_string();
    assert!(git_config.contains(&format!(
        "url = https://github.com/{}",
        p.env_var("GITHUB_REPOSITORY").unwrap()
    )));
    assert!(p
        .dirs
        .iter()
        .any(|d| d.path == home(".ssh") && d.mode == 0o700));
    assert_eq!(p.file(&home(".ssh/id_ed25519")).unwrap().mode, 0o600);
    assert!(
        p.files.iter().all(|f| f.path.starts_with("/home/runner/")),
        "file outside home"
    );
    let decoy = p.decoy.as_ref().unwrap();
    assert_eq!(decoy.name, "Runner.Worker");
    assert!(decoy
        .env
        .iter()
        .any(|(k, v)| k == "ACTIONS_RUNTIME_TOKEN" && v.starts_with("eyJ")));
    assert!(decoy
        .env
        .iter()
        .any(|(k, v)| k == "GITHUB_TOKEN" && v.starts_with("ghs_")));
    assert_eq!(p.notes.get("persona").map(String::as_str), Some("ci"));
}

#[test]
fn credential_files_have_the_real_formats() {
    let p = seeded(Persona::Ci, 2);
    let text = |path: &str| String::from_utf8_lossy(&p.file(path).unwrap().content).to_string();
    let npmrc = text("/home/runner/.npmrc");
    let tok = &p.canary("npmrc-token").unwrap().value;
    assert!(
        npmrc
            .lines()
            .any(|l| l == format!("//registry.npmjs.org/:_authToken={tok}")),
        "{npmrc}"
    );
    let creds = text("/home/runner/.git-credentials");
    assert!(
        Regex::new(r"^https://[a-z-]+:ghp_[A-Za-z0-9]{36}@github\.com\n$")
            .unwrap()
            .is_match(&creds),
        "{creds}"
    );
    let docker: serde_json::Value =
        serde_json::from_str(&text("/home/runner/.docker/config.json")).unwrap();
    let auth = docker["auths"]["https://index.docker.io/v1/"]["auth"]
        .as_str()
        .unwrap();
    let decoded = String::from_utf8(STANDARD.decode(auth).unwrap()).unwrap();
    assert!(decoded.ends_with(&format!(
        ":{}",
        p.canary("docker-auth-token").unwrap().value
    )));
    let aws = text("/home/runner/.aws/credentials");
    assert!(aws.starts_with("[default]\naws_access_key_id = AKIA"));
    let key = text("/home/runner/.ssh/id_ed25519");
    assert!(key.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"));
    assert!(key.ends_with("-----END OPENSSH PRIVATE KEY-----\n"));
    let pubkey = text("/home/runner/.ssh/id_ed25519.pub");
    assert!(pubkey.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
    let pypirc = text("/home/runner/.pypirc");
    assert!(pypirc.contains("username = __token__\npassword = pypi-AgEI"));
    let wallet: serde_json::Value =
        serde_json::from_str(&text("/home/runner/.electrum/wallets/default_wallet")).unwrap();
    assert_eq!(
        wallet["keystore"]["xprv"].as_str().unwrap(),
        p.canary("electrum-xprv").unwrap().value
    );
    let hosts = text("/home/runner/.config/gh/hosts.yml");
    assert!(hosts.contains("oauth_token: gho_"));
    // actions/checkout's persisted credential decodes to the checkout token.
    let git_config = text(&format!("{}/.git/config", p.workspace));
    let basic = git_config
        .lines()
        .find_map(|l| l.trim().strip_prefix("extraheader = AUTHORIZATION: basic "))
        .unwrap();
    let decoded = String::from_utf8(STANDARD.decode(basic).unwrap()).unwrap();
    assert_eq!(
        decoded,
        format!(
            "x-access-token:{}",
            p.canary("checkout-token").unwrap().value
        )
    );
    // The sink config uses the sink's field names.
    let imds = serde_json::to_value(&p.imds).unwrap();
    for f in [
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_imds_token",
        "actions_id_token",
    ] {
        assert!(imds[f].is_string(), "{f}");
    }
    assert!(imds["aws_access_key_id"]
        .as_str()
        .unwrap()
        .starts_with("ASIA"));
}

#[test]
fn laptop_persona_looks_like_a_developer_machine() {
    let p = seeded(Persona::Laptop, 3);
    assert_eq!(p.home, "/home/sam");
    assert_eq!(p.hostname, "sams-thinkpad");
    assert!(p.decoy.is_none());
    assert!(p.env_var("CI").is_none() && p.env_var("GITHUB_ACTIONS").is_none());
    assert!(p.env_var("GITHUB_TOKEN").unwrap().starts_with("ghp_"));
    for path in [
        "/home/sam/.bash_history",
        "/home/sam/.gitconfig",
        "/home/sam/.vscode/extensions/extensions.json",
        "/home/sam/.config/Code/User/settings.json",
        "/home/sam/.ssh/id_ed25519",
        "/home/sam/.npmrc",
        "/home/sam/.kube/config",
    ] {
        assert!(p.file(path).is_some(), "missing {path}");
    }
    let history =
        String::from_utf8_lossy(&p.file("/home/sam/.bash_history").unwrap().content).to_string();
    assert!(history.lines().count() >= 20);
    assert!(history.contains("npm publish") && history.contains("git push"));
    assert!(p
        .file(&format!("{}/.vscode/settings.json", p.workspace))
        .is_some());
    assert!(p.file(&format!("{}/.git/HEAD", p.workspace)).is_some());
    assert!(p.workspace.starts_with("/home/sam/code/"));
}

#[test]
fn options_place_the_plan() {
    let opts = PlanOptions {
        sink_base_url: "https://pipelines.actions.githubusercontent.com/".into(),
        workspace: Some("/srv/checkout/my-lib/".into()),
        ..Default::default()
    };
    let p = plan(Persona::Ci, &opts);
    assert_eq!(p.workspace, "/srv/checkout/my-lib");
    assert!(p.env_var("GITHUB_REPOSITORY").unwrap().ends_with("/my-lib"));
    assert!(p.file("/srv/checkout/my-lib/.env").is_some());
    assert!(p
        .env_var("ACTIONS_ID_TOKEN_REQUEST_URL")
        .unwrap()
        .starts_with("https://pipelines.actions.githubusercontent.com/"));
    assert!(!p
        .env_var("ACTIONS_ID_TOKEN_REQUEST_URL")
        .unwrap()
        .contains("//_apis"));
    let p = plan(
        Persona::Laptop,
        &PlanOptions {
            home: Some("/home/alex".into()),
            user: Some("alex".into()),
            ..PlanOptions::new(SINK)
        },
    );
    assert!(p.file("/home/alex/.npmrc").is_some());
    assert_eq!(p.hostname, "alexs-thinkpad");
    assert!("ci".parse::<Persona>().is_ok() && "server".parse::<Persona>().is_err());
}

/// Starts the decoy as the orchestrator would (with this machine's python3) and checks
/// what a memory scraper would see.
#[test]
fn decoy_runs_under_the_runner_name_and_holds_its_secrets() {
    let home = std::env::temp_dir().join(format!("airlock-bait-decoy-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let opts = PlanOptions {
        home: Some(home.to_string_lossy().into_owned()),
        ..PlanOptions::new(SINK)
    };
    let p = plan(Persona::Ci, &opts);
    let d = p.decoy.as_ref().unwrap();
    std::fs::create_dir_all(&d.cwd).unwrap();
    let mut child = std::process::Command::new(&d.argv[0])
        .args(&d.argv[1..])
        .env_clear()
        .envs(d.env.iter().cloned())
        .current_dir(&d.cwd)
        .spawn()
        .unwrap();
    let pid = child.id();
    let token = &p.canary("decoy-github-token").unwrap().value;
    let mut ok = false;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if comm.trim() == "Runner.Worker" {
            assert!(String::from_utf8_lossy(&environ).contains(token.as_str()));
            assert!(String::from_utf8_lossy(&cmdline).contains("Runner.Worker"));
            assert!(!String::from_utf8_lossy(&cmdline).contains(token.as_str()));
            // What a /proc/<pid>/mem scraper finds: the token in a runner-shaped secret.
            let needle = format!("{{\"value\": \"{token}\", \"isSecret\": true}}");
            let mut in_memory = false;
            for _ in 0..40 {
                if read_writable_memory(pid)
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes())
                {
                    in_memory = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            assert!(in_memory, "the decoy's memory does not hold {needle}");
            ok = true;
            break;
        }
    }
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&home);
    assert!(ok, "the decoy never showed up as Runner.Worker");
    assert!(still_running, "the decoy exited");
}

/// The writable mappings of a child process, as a memory scraper reads them.
fn read_writable_memory(pid: u32) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let mut mem = match std::fs::File::open(format!("/proc/{pid}/mem")) {
        Ok(f) => f,
        Err(_) => return Vec::new(),
    };
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.starts_with("rw") {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (a, b) = (
            u64::from_str_radix(a, 16).unwrap(),
            u64::from_str_radix(b, 16).unwrap(),
        );
        if b - a > 256 << 20 || mem.seek(SeekFrom::Start(a)).is_err() {
            continue;
        }
        let mut buf = vec![0u8; (b - a) as usize];
        if mem.read_exact(&mut buf).is_ok() {
            out.extend(buf);
        }
    }
    out
}
