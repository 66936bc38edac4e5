//! Bait every persona gets: package-manager, cloud, SSH, git and shell credentials,
//! browser and wallet stores, each a canary of its own.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::Rng;
use serde_json::json;

use crate::gen;

use super::*;

/// Bait every persona carries: environment tokens and the usual credential files.
pub(super) fn common<R: Rng + ?Sized>(b: &mut Builder, rng: &mut R) {
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

pub(super) fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .unwrap_or_default()
}

/// One LevelDB log record holding a single put of `key` = `value` (CRC not computed:
/// readers that check it see a corrupt tail, which browsers also leave behind).
pub(super) fn leveldb_log<R: Rng + ?Sized>(rng: &mut R, key: &[u8], value: &[u8]) -> Vec<u8> {
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
