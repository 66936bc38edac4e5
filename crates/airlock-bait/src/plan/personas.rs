//! Bait that depends on the persona: the CI runner (its environment, event file and a
//! decoy process holding secrets in memory), the laptop (a developer's dotfiles and
//! repositories), and the cloud metadata credentials the sink serves.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::Rng;
use serde_json::json;

use crate::gen;

use super::common::pretty;
use super::*;

pub(super) fn ci<R: Rng + ?Sized>(b: &mut Builder, rng: &mut R) {
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
pub(super) const DECOY_PY: &str = r#"import json, os, time
env = os.environ
job = json.dumps({"messageType": "PipelineAgentJobRequest", "plan": {"planType": "Build"},
    "variables": {"system.github.token": {"value": env.get("GITHUB_TOKEN", ""), "isSecret": True},
                  "system.runtime.token": {"value": env.get("ACTIONS_RUNTIME_TOKEN", ""), "isSecret": True},
                  "system.culture": {"value": "en-US", "isSecret": False}}})
held = [job, job.encode("utf-16-le"), job.encode()]
while True:
    time.sleep(3600)
"#;

pub(super) fn decoy(ctx: &Ctx, name: &str, token: String, runtime: String) -> DecoySpec {
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

pub(super) fn git_dir(b: &mut Builder, config: &str, sha: &str) {
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

pub(super) fn laptop<R: Rng + ?Sized>(b: &mut Builder, rng: &mut R) {
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

pub(super) fn imds<R: Rng + ?Sized>(b: &mut Builder, rng: &mut R) -> ImdsCreds {
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
