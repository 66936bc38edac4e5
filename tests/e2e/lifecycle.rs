//! End-to-end proofs that runs do not leak (issue 19): SIGTERM and SIGHUP to a running
//! `airlock scan` remove both containers and the work directory within seconds and exit
//! 128 + the signal; after a `kill -9` the containers stop and vanish by themselves and
//! the next airlock start removes the work directory; the label-based reaper removes
//! what a dead airlock left and nothing else; the work directory is private and the run
//! CA's key is not readable by others, also when airlock is not root; and the engine
//! is the one `DOCKER_HOST` or the Docker context names, or airlock refuses with exit 2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod localreg;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// Containers (id, state) whose `airlock.pid` label is `pid`.
fn containers_of(pid: u32) -> Vec<(String, String)> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=airlock.pid={pid}"),
            "--format",
            "{{.ID}} {{.State}}",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn work_dirs(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("airlock-run-"))
        .map(|e| e.path())
        .collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A running `airlock scan` with its output collected.
struct Scan {
    child: Child,
    output: Collected,
}

impl Scan {
    fn start(mut cmd: Command) -> Scan {
        require_docker();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Collected::start(&mut child);
        Scan { child, output }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr(&self) -> String {
        self.output.stderr()
    }

    /// Waits until the install phase runs in both containers (sink and sandbox).
    fn wait_for_install(&mut self) {
        let pid = self.pid();
        let ok = wait_until(Duration::from_secs(180), || {
            let running = containers_of(pid)
                .iter()
                .filter(|(_, s)| s == "running")
                .count();
            running == 2 && self.stderr().contains("install phase")
        });
        if ok.is_none() {
            let _ = self.child.kill();
            panic!(
                "the install phase did not start; stderr:\n{}",
                self.stderr()
            );
        }
        // The postinstall's own process is up a moment after the phase starts.
        std::thread::sleep(Duration::from_secs(2));
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!(
            "airlock did not exit within {limit:?}; stderr:\n{}",
            self.stderr()
        );
    }
}

impl Drop for Scan {
    /// A test that fails half-way leaves no airlock running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `airlock scan` of the package whose postinstall never ends, with its temp dir in `tmp`.
fn hanging_scan(tmp: &Path) -> Command {
    let mut c = Command::new(airlock_bin());
    c.args([
        "scan",
        "--no-store",
        "--no-import",
        "--phase-timeout",
        "600",
    ])
    .arg(repo().join("tests/packages/hang"))
    .env("TMPDIR", tmp)
    .env("NO_COLOR", "1")
    .env_remove("AIRLOCK_IMAGE")
    .env_remove("DOCKER_HOST")
    .env_remove("DOCKER_CONTEXT");
    c
}

fn signal_cleans_up(sig: &str, expected_code: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let mut scan = Scan::start(hanging_scan(tmp.path()));
    scan.wait_for_install();
    let pid = scan.pid();
    assert_eq!(containers_of(pid).len(), 2, "the sink and the sandbox run");
    assert_eq!(work_dirs(tmp.path()).len(), 1, "one work directory");
    let t0 = Instant::now();
    scan.signal(sig);
    let (code, _) = scan.wait_exit(Duration::from_secs(30));
    let exited = t0.elapsed();
    let stderr = scan.stderr();
    assert_eq!(
        code,
        Some(expected_code),
        "exit 128+signal; stderr:\n{stderr}"
    );
    assert!(stderr.contains(&format!("SIG{sig}")), "{stderr}");
    assert!(
        containers_of(pid).is_empty(),
        "containers left after SIG{sig}: {:?}",
        containers_of(pid)
    );
    assert!(
        work_dirs(tmp.path()).is_empty(),
        "work directory left after SIG{sig}: {:?}",
        work_dirs(tmp.path())
    );
    eprintln!("SIG{sig}: airlock exited after {exited:?} with nothing left");
    assert!(exited < Duration::from_secs(10), "{exited:?}");
}

// Before the fix SIGTERM killed airlock outright: both containers and the work directory
// stayed, and the package kept running until the phase deadline.
#[test]
fn sigterm_removes_both_containers_and_the_work_dir() {
    signal_cleans_up("TERM", 143);
}

#[test]
fn sighup_removes_both_containers_and_the_work_dir() {
    signal_cleans_up("HUP", 129);
}

// Before the fix the containers of a killed airlock ran on (`sleep infinity`) until
// someone ran `airlock gc`.
#[test]
fn after_kill_9_the_containers_stop_by_themselves_and_the_next_start_removes_the_work_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let mut scan = Scan::start(hanging_scan(tmp.path()));
    scan.wait_for_install();
    let pid = scan.pid();
    let ids: Vec<String> = containers_of(pid).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 2);
    scan.signal("KILL");
    scan.wait_exit(Duration::from_secs(10));
    let gone = wait_until(Duration::from_secs(10), || containers_of(pid).is_empty());
    let took = gone.unwrap_or_else(|| {
        panic!(
            "containers of the killed airlock still there after 10 s: {:?}",
            containers_of(pid)
        )
    });
    eprintln!("kill -9: both containers gone {took:?} after the kill");
    // The dead process could not remove its work directory; the next airlock start does.
    assert_eq!(work_dirs(tmp.path()).len(), 1);
    let out = Command::new(airlock_bin())
        .args(["image", "ensure"])
        .env("TMPDIR", tmp.path())
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        work_dirs(tmp.path()).is_empty(),
        "the next start did not remove {:?}",
        work_dirs(tmp.path())
    );
}

/// The `airlock.owner` scope of processes of this boot and PID namespace (the format of
/// airlock_sandbox::owner).
fn scope() -> String {
    use sha2::Digest;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let d = sha2::Sha256::digest(format!("{}|{}", boot.trim(), ns.display()).as_bytes());
    hex::encode(&d[..4])
}

fn my_uid() -> u32 {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap())
}

fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

fn image() -> String {
    let out = Command::new(airlock_bin())
        .args(["image", "tag"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn create_labelled(name: &str, owner: &str) -> String {
    let out = Command::new("docker")
        .args(["create", "--name", name, "--label", "airlock=1"])
        .args(["--label", &format!("airlock.owner={owner}")])
        .args(["--label", "airlock.test=lifecycle", "--network", "none"])
        .arg(image())
        .args(["sleep", "60"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn exists(id: &str) -> bool {
    Command::new("docker")
        .args(["inspect", "--format", "{{.Id}}", id])
        .output()
        .unwrap()
        .status
        .success()
}

// What the stdin hold cannot catch (a container created but never started, as when
// airlock dies between create and start) the reaper at the next start removes; it never
// touches a live owner's containers or those of another PID namespace or boot.
#[test]
fn the_reaper_removes_only_containers_of_dead_owners() {
    require_docker();
    let scope = scope();
    let uid = my_uid();
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let me = std::process::id();
    let tag = format!(
        "{me}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let orphan = create_labelled(
        &format!("airlock-test-orphan-{tag}"),
        &format!("{scope}/{dead_pid}/1/{uid}"),
    );
    let recycled = create_labelled(
        &format!("airlock-test-recycled-{tag}"),
        &format!("{scope}/{me}/{}/{uid}", start_time(me) + 1),
    );
    let alive = create_labelled(
        &format!("airlock-test-alive-{tag}"),
        &format!("{scope}/{me}/{}/{uid}", start_time(me)),
    );
    let foreign = create_labelled(
        &format!("airlock-test-foreign-{tag}"),
        &format!("00000000/{dead_pid}/1/{uid}"),
    );
    // another user's airlock: its process may only look dead to us (hidepid)
    let other_user = create_labelled(
        &format!("airlock-test-other-user-{tag}"),
        &format!("{scope}/{dead_pid}/1/{}", uid + 4242),
    );
    let out = Command::new(airlock_bin())
        .args(["image", "ensure"])
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    let ok = out.status.success();
    let (o, r, a, f, u) = (
        exists(&orphan),
        exists(&recycled),
        exists(&alive),
        exists(&foreign),
        exists(&other_user),
    );
    for id in [&orphan, &recycled, &alive, &foreign, &other_user] {
        let _ = Command::new("docker").args(["rm", "-f", id]).output();
    }
    assert!(ok, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!o, "the dead owner's container was not reaped");
    assert!(!r, "a recycled pid kept its predecessor's container");
    assert!(a, "a live owner's container was reaped");
    assert!(f, "a container of another PID namespace or boot was reaped");
    assert!(u, "a container of another user was reaped");
}

/// A package whose postinstall makes one HTTPS request through the sink (which needs the
/// run CA's key) and then waits, so the work directory can be looked at.
fn https_package(dir: &Path) -> PathBuf {
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let script = "require('https').get('https://lifecycle.example.com/hello', r => { r.resume(); \
                  console.log('status ' + r.statusCode); }).on('error', e => console.log('error ' + e.message)); \
                  setTimeout(() => {}, 6000)";
    let manifest = serde_json::json!({
        "name": "airlock-test-lifecycle-https",
        "version": "1.0.0",
        "scripts": { "postinstall": format!("node -e \"{script}\"") },
    });
    std::fs::write(pkg.join("package.json"), manifest.to_string()).unwrap();
    std::fs::set_permissions(&pkg, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        pkg.join("package.json"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    pkg
}

/// Runs the HTTPS package (optionally as another user), checks the work directory's and
/// the key's modes while it runs, and returns the report.
fn scan_https_checking_modes(as_user: Option<(u32, u32)>, key_mode: u32) -> serde_json::Value {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let pkg = https_package(tmp.path());
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = match as_user {
        Some((uid, gid)) => {
            std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
            let docker_gid = std::os::unix::fs::MetadataExt::gid(
                &std::fs::metadata("/var/run/docker.sock").unwrap(),
            );
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                &format!("--groups={docker_gid}"),
                "--inh-caps=-all",
                "--",
            ])
            .arg(airlock_bin());
            c
        }
        None => Command::new(airlock_bin()),
    };
    cmd.args([
        "scan",
        "--format",
        "json",
        "--no-store",
        "--no-import",
        "--time-speedup",
        "1",
    ])
    .arg(&pkg)
    .env("TMPDIR", tmp.path())
    .env("HOME", &home)
    .env("AIRLOCK_RULES", repo().join("rules"))
    .env_remove("AIRLOCK_IMAGE")
    .env_remove("DOCKER_HOST")
    .env_remove("DOCKER_CONTEXT");
    let mut scan = Scan::start(cmd);
    scan.wait_for_install();
    let dirs = work_dirs(tmp.path());
    assert_eq!(dirs.len(), 1, "{}", scan.stderr());
    let work = &dirs[0];
    let (work_mode, key, key_owner) = (
        mode(work),
        mode(&work.join("sink-in/ca.key")),
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(work).unwrap()),
    );
    let (code, _) = scan.wait_exit(Duration::from_secs(180));
    // The collector took the pipes: after the exit its readers drain them (the report
    // is one JSON document on stdout).
    wait_until(Duration::from_secs(10), || {
        serde_json::from_str::<serde_json::Value>(&scan.output.stdout()).is_ok()
    });
    let (stdout, stderr) = (scan.output.stdout(), scan.stderr());
    assert_eq!(work_mode, 0o700, "work dir mode {work_mode:o}");
    assert_eq!(key, key_mode, "ca.key mode {key:o}");
    assert_eq!(key_owner, as_user.map_or(0, |(u, _)| u));
    assert!(work_dirs(tmp.path()).is_empty(), "work dir left behind");
    assert!(
        code == Some(0) || code == Some(1),
        "exit {code:?}: {stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

fn assert_https_recorded(r: &serde_json::Value) {
    let http = r["network"]["http"].as_array().expect("network.http");
    assert!(
        http.iter().any(|h| h["host"] == "lifecycle.example.com"
            && h["tls"] == true
            && h["url"].as_str().unwrap_or("").contains("/hello")),
        "the sink did not decrypt the request (it needs the CA key): {:#}",
        r["network"]
    );
}

// Before the fix the work dir was 0755 and ca.key 0644: any local user could read the
// private key of the CA the sandbox trusts.
#[test]
fn work_dir_is_private_and_the_key_is_owner_only_as_root() {
    let r = scan_https_checking_modes(None, 0o600);
    assert_https_recorded(&r);
}

// As a user in the docker group (not root), the sink (root without CAP_DAC_OVERRIDE)
// reads the key through airlock's group: 0640 inside a 0700 directory.
#[test]
fn work_dir_is_private_and_the_sink_still_reads_the_key_as_a_plain_user() {
    let r = scan_https_checking_modes(Some((65534, 65534)), 0o640);
    assert_https_recorded(&r);
}

fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, Duration) {
    let mut c = Command::new(airlock_bin());
    c.args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH");
    for (k, v) in env {
        c.env(k, v);
    }
    let t0 = Instant::now();
    let out = c.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t0.elapsed(),
    )
}

// Before the fix DOCKER_HOST=tcp://… was ignored and the package ran on the local engine.
#[test]
fn an_unreachable_docker_host_is_an_error_naming_it_never_the_local_engine() {
    require_docker();
    let pkg = repo().join("tests/packages/hang");
    let (code, stderr, _) = run_with_env(
        &["scan", "--no-store", pkg.to_str().unwrap()],
        &[("DOCKER_HOST", "tcp://127.0.0.1:1")],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("DOCKER_HOST=tcp://127.0.0.1:1"), "{stderr}");
    // nothing started anywhere (the local engine is never asked)
    assert!(
        !stderr.contains("starting the sandbox") && !stderr.contains("install phase"),
        "{stderr}"
    );
    // A remote engine is refused before any connection: the run would bind-mount files
    // of this host the remote engine cannot see.
    let (code, stderr, took) = run_with_env(
        &["scan", "--no-store", pkg.to_str().unwrap()],
        &[("DOCKER_HOST", "tcp://192.0.2.10:2375")],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("DOCKER_HOST=tcp://192.0.2.10:2375") && stderr.contains("remote"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    let (code, stderr, _) = run_with_env(&["gc"], &[("DOCKER_HOST", "ssh://me@build-host")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("ssh://"), "{stderr}");
}

#[test]
fn docker_host_unix_socket_is_used() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = repo().join("tests/packages/hang");
    let (code, stderr, _) = run_with_env(
        &[
            "scan",
            "--no-store",
            "--no-import",
            "--phase-timeout",
            "5",
            "--format",
            "json",
            pkg.to_str().unwrap(),
        ],
        &[
            ("DOCKER_HOST", "unix:///var/run/docker.sock"),
            ("TMPDIR", tmp.path().to_str().unwrap()),
        ],
    );
    // the hanging install times out: exit 1 with a report, i.e. the run happened
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("install phase"), "{stderr}");
    let (code, stderr, _) = run_with_env(
        &["gc"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("unix:///nonexistent/docker.sock"),
        "{stderr}"
    );
}

fn write_context(config: &Path, name: &str, host: &str) {
    use sha2::Digest;
    let id = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    let dir = config.join("contexts/meta").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let meta = serde_json::json!({
        "Name": name, "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
    });
    std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
}

#[test]
fn the_current_docker_context_is_honoured() {
    require_docker();
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".docker");
    write_context(&config, "airlock-local", "unix:///var/run/docker.sock");
    write_context(&config, "airlock-broken", "unix:///nonexistent/ctx.sock");
    write_context(&config, "airlock-far", "tcp://198.51.100.7:2376");
    let h = home.path().to_str().unwrap();
    let set = |name: &str| {
        std::fs::write(
            config.join("config.json"),
            format!("{{\"currentContext\":\"{name}\"}}"),
        )
        .unwrap()
    };
    set("airlock-local");
    let (code, stderr, _) = run_with_env(&["gc"], &[("HOME", h)]);
    assert_eq!(code, Some(0), "{stderr}");
    set("airlock-broken");
    let (code, stderr, _) = run_with_env(&["gc"], &[("HOME", h)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("unix:///nonexistent/ctx.sock") && stderr.contains("airlock-broken"),
        "{stderr}"
    );
    set("airlock-far");
    let (code, stderr, _) = run_with_env(&["gc"], &[("HOME", h)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("airlock-far") && stderr.contains("remote"),
        "{stderr}"
    );
    // DOCKER_HOST wins over the context, as with the docker CLI
    let (code, stderr, _) = run_with_env(
        &["gc"],
        &[("HOME", h), ("DOCKER_HOST", "unix:///var/run/docker.sock")],
    );
    assert_eq!(code, Some(0), "{stderr}");
    set("airlock-missing");
    let (code, stderr, _) = run_with_env(&["gc"], &[("HOME", h)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("airlock-missing"), "{stderr}");
}

/// Makes a CA, a server certificate for 127.0.0.1 and a client certificate in `dir`
/// (`ca.pem`, `server.pem`/`server.key`, `cert.pem`/`key.pem`: the DOCKER_CERT_PATH
/// layout) with the openssl command.
fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=airlock test engine CA",
    ]);
    for (name, ext, cert, key) in [
        ("server", "server.ext", "server.pem", "server.key"),
        ("client", "client.ext", "cert.pem", "key.pem"),
    ] {
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "2",
            "-extfile",
            ext,
        ]);
    }
}

/// A loopback TLS endpoint in front of the local engine's socket that requires a client
/// certificate from `ca.pem` (what `dockerd --tlsverify` does). Returns its port.
fn tls_engine_proxy(dir: &Path) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let chain = vec![CertificateDer::from_pem_file(dir.join("server.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    tls_proxy(config, || {
        tokio::net::UnixStream::connect("/var/run/docker.sock")
    })
}

// tcp+TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) is honoured end to end: a whole scan,
// exec and attach streams included, goes through a client-certificate TLS endpoint; a
// client certificate the engine does not trust is an error naming the endpoint.
#[test]
fn docker_host_over_tls_with_client_certificates() {
    require_docker();
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let port = tls_engine_proxy(certs.path());
    let host = format!("tcp://127.0.0.1:{port}");
    let cert_path = certs.path().to_str().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let pkg = repo().join("tests/packages/hang");
    let (code, stderr, _) = run_with_env(
        &[
            "scan",
            "--no-store",
            "--no-import",
            "--phase-timeout",
            "5",
            "--format",
            "json",
            pkg.to_str().unwrap(),
        ],
        &[
            ("DOCKER_HOST", &host),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", &cert_path),
            ("TMPDIR", tmp.path().to_str().unwrap()),
        ],
    );
    assert_eq!(
        code,
        Some(1),
        "the hanging install times out over TLS: {stderr}"
    );
    assert!(stderr.contains("install phase"), "{stderr}");
    // without TLS the same endpoint does not answer HTTP: an error, never the local engine
    let (code, stderr, _) = run_with_env(&["gc"], &[("DOCKER_HOST", &host)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&host), "{stderr}");
    // a client certificate from another CA is refused by the engine
    let other = tempfile::tempdir().unwrap();
    make_certs(other.path());
    std::fs::copy(certs.path().join("ca.pem"), other.path().join("ca.pem")).unwrap();
    let (code, stderr, _) = run_with_env(
        &["gc"],
        &[
            ("DOCKER_HOST", &host),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", other.path().to_str().unwrap()),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&host), "{stderr}");
}

// `serve` runs the orphan reaper every 30 s (a crashed `airlock scan` next to a service
// leaves nothing for long), and stops on SIGTERM like the other commands.
#[test]
fn serve_reaps_orphans_periodically_and_stops_on_sigterm() {
    require_docker();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store.sqlite3");
    let mut cmd = Command::new(airlock_bin());
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--concurrency",
        "0",
        "--store",
    ])
    .arg(&store)
    .env("TMPDIR", tmp.path())
    .env_remove("AIRLOCK_TOKEN")
    .env_remove("DOCKER_HOST")
    .env_remove("DOCKER_CONTEXT");
    let mut serve = Scan::start(cmd);
    let up = wait_until(Duration::from_secs(60), || {
        serve.stderr().contains("serving on")
    });
    assert!(up.is_some(), "serve did not start: {}", serve.stderr());
    // an orphan appears after the service's first sweep
    std::thread::sleep(Duration::from_secs(2));
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let tag = format!("{}-{dead_pid}", std::process::id());
    let orphan = create_labelled(
        &format!("airlock-test-serve-orphan-{tag}"),
        &format!("{}/{dead_pid}/1/{}", scope(), my_uid()),
    );
    let gone = wait_until(Duration::from_secs(45), || !exists(&orphan));
    let _ = Command::new("docker").args(["rm", "-f", &orphan]).output();
    assert!(gone.is_some(), "serve did not reap the orphan within 45 s");
    eprintln!(
        "serve reaped the orphan {:?} after it was created",
        gone.unwrap()
    );
    serve.signal("TERM");
    let (code, took) = serve.wait_exit(Duration::from_secs(30));
    assert_eq!(
        code,
        Some(0),
        "a service stopped by SIGTERM exits 0: {}",
        serve.stderr()
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

// Before the fix a SIGTERM during host-side dependency resolution waited for the host's
// npm to finish, which then re-created the work directory (0755) after airlock had
// removed it: airlock ends its helper processes before it exits.
#[test]
fn sigterm_during_host_resolution_ends_npm_and_leaves_no_work_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        pkg.join("package.json"),
        r#"{"name":"airlock-test-lifecycle-deps","version":"1.0.0","dependencies":{"lodash":"4.17.21","express":"4.21.2"}}"#,
    )
    .unwrap();
    let temp = tmp.path().join("tmp");
    std::fs::create_dir_all(&temp).unwrap();
    let mut cmd = Command::new(airlock_bin());
    cmd.args(["scan", "--no-store", "--no-import"])
        .arg(&pkg)
        .env("TMPDIR", &temp)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT");
    let mut scan = Scan::start(cmd);
    let started = wait_until(Duration::from_secs(60), || {
        scan.stderr().contains("resolving dependencies")
    });
    assert!(started.is_some(), "{}", scan.stderr());
    std::thread::sleep(Duration::from_millis(500));
    let pid = scan.pid();
    scan.signal("TERM");
    let (code, took) = scan.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(143), "{}", scan.stderr());
    assert!(took < Duration::from_secs(10), "{took:?}");
    // nothing comes back later either
    std::thread::sleep(Duration::from_secs(3));
    assert!(work_dirs(&temp).is_empty(), "{:?}", work_dirs(&temp));
    assert!(containers_of(pid).is_empty(), "{:?}", containers_of(pid));
    // no helper of the run (the host's npm works in the work directory) lives on
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            cwd.starts_with(&temp)
                .then(|| format!("{} in {}", e.file_name().to_string_lossy(), cwd.display()))
        })
        .collect();
    assert!(left.is_empty(), "host helpers still running: {left:?}");
}

/// The hanging package as an npm tarball (what a mirror uploads to `serve`).
fn hang_tgz() -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    {
        let mut tar = tar::Builder::new(&mut gz);
        let manifest = std::fs::read(repo().join("tests/packages/hang/package.json")).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(manifest.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "package/package.json", manifest.as_slice())
            .unwrap();
        tar.finish().unwrap();
    }
    gz.finish().unwrap()
}

// Before the fix a SIGTERM to `serve` (systemd's stop) killed it outright and left the
// sandboxes of the jobs in flight running; now they are removed, the job stays queued
// (it is not finished as an error), and the next start picks it up again.
#[test]
fn serve_stopped_mid_job_removes_its_sandboxes_and_keeps_the_job() {
    require_docker();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store.sqlite3");
    let start = |concurrency: &str| {
        let mut cmd = Command::new(airlock_bin());
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--concurrency",
            concurrency,
        ])
        .arg("--store")
        .arg(&store)
        .args(["--phase-timeout", "600"])
        .env("TMPDIR", tmp.path())
        .env_remove("AIRLOCK_TOKEN")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT");
        let serve = Scan::start(cmd);
        let up = wait_until(Duration::from_secs(60), || {
            serve.stderr().contains("serving on")
        });
        assert!(up.is_some(), "serve did not start: {}", serve.stderr());
        let url = serve
            .stderr()
            .split("serving on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap()
            .to_string();
        (serve, url)
    };
    let (mut serve, url) = start("1");
    let resp: serde_json::Value = ureq::post(&format!("{url}/v1/analyses"))
        .set("Content-Type", "application/octet-stream")
        .send_bytes(&hang_tgz())
        .unwrap()
        .into_json()
        .unwrap();
    let id = resp["id"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| resp["id"].to_string());
    let pid = serve.pid();
    let running = wait_until(Duration::from_secs(180), || {
        containers_of(pid)
            .iter()
            .filter(|(_, s)| s == "running")
            .count()
            == 2
    });
    assert!(
        running.is_some(),
        "the job's sandbox did not start: {}",
        serve.stderr()
    );
    std::thread::sleep(Duration::from_secs(3));
    serve.signal("TERM");
    let (code, took) = serve.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", serve.stderr());
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(containers_of(pid).is_empty(), "{:?}", containers_of(pid));
    assert!(
        work_dirs(tmp.path()).is_empty(),
        "{:?}",
        work_dirs(tmp.path())
    );
    // the job was not finished as an error: a new service (no workers) has it queued
    let (_serve2, url2) = start("0");
    let job: serde_json::Value = ureq::get(&format!("{url2}/v1/analyses/{id}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(job["status"], "queued", "{job:#}");
}

// The install wrapper: SIGTERM while a dependency is analyzed removes its sandboxes and
// scratch directories and installs nothing; while it runs, its copy of the project (with
// the project's .npmrc) is private (before: 0755 in /tmp).
#[test]
fn npm_wrapper_scratch_is_private_and_sigterm_installs_nothing() {
    let reg = localreg::Registry::start();
    reg.publish(&localreg::pack(&repo().join("tests/packages/hang"), |_| {}));
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    std::fs::create_dir_all(&project).unwrap();
    let pj = serde_json::json!({
        "name": "victim-app", "version": "1.0.0", "private": true,
        "dependencies": { "airlock-test-hang": "1.0.0" },
    });
    std::fs::write(project.join("package.json"), pj.to_string()).unwrap();
    std::fs::write(
        project.join(".npmrc"),
        "//registry.example.test/:_authToken=npm_lifecycleTokenNotReal\n",
    )
    .unwrap();
    let before = localreg::tree_hashes(&project);
    let temp = tmp.path().join("t");
    std::fs::create_dir_all(&temp).unwrap();
    let mut cmd = Command::new(airlock_bin());
    cmd.current_dir(&project)
        .args(["npm", "--store"])
        .arg(tmp.path().join("s.sqlite3"))
        .args(["--phase-timeout", "600", "install"])
        .env("TMPDIR", &temp)
        .env_remove("CI")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT");
    for (k, v) in localreg::npm_env(&reg.url, tmp.path()) {
        cmd.env(k, v);
    }
    let mut run = Scan::start(cmd);
    let pid = run.pid();
    let up = wait_until(Duration::from_secs(180), || {
        containers_of(pid)
            .iter()
            .filter(|(_, s)| s == "running")
            .count()
            == 2
    });
    assert!(up.is_some(), "no sandbox started: {}", run.stderr());
    std::thread::sleep(Duration::from_secs(2));
    let dirs: Vec<(String, u32)> = std::fs::read_dir(&temp)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("airlock-"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                mode(&e.path()),
            )
        })
        .collect();
    assert!(
        dirs.iter().any(|(n, _)| n.starts_with("airlock-npm-")),
        "{dirs:?}"
    );
    assert!(dirs.iter().all(|(_, m)| *m == 0o700), "{dirs:?}");
    run.signal("TERM");
    let (code, took) = run.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(143), "{}", run.stderr());
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(containers_of(pid).is_empty(), "{:?}", containers_of(pid));
    let left: Vec<_> = std::fs::read_dir(&temp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    assert_eq!(
        localreg::tree_hashes(&project),
        before,
        "the project changed"
    );
}
