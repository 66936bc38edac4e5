//! End-to-end tests of `airlock serve`: the real binary, real sandbox analyses, npm
//! packages from a registry the test serves on loopback. They prove the service's
//! promises: every submission is answered (202 or 429) and none is lost, the queue bound
//! holds, accepted jobs survive a restart, webhooks go only where allowed, the token is
//! enforced; and the proxy hides a malicious version, serves a clean one (to real npm),
//! answers 503 while an analysis is pending and 200 once it is clean.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod localreg;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use localreg::*;

/// A running `airlock serve`, killed on drop.
struct Server {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        require_docker();
        let bin = assert_cmd::cargo::cargo_bin("airlock");
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("NO_COLOR", "1")
            .env("AIRLOCK_LOG", "airlock=info")
            .env_remove("AIRLOCK_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("serving on ").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                let mut g = l.lock().unwrap();
                g.push_str(&line);
                g.push('\n');
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the server did not start:\n{}", log.lock().unwrap()));
        Server { child, url, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL: the crash the durable queue must survive.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Resp {
    status: u16,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

fn request(method: &str, url: &str, token: Option<&str>, body: Option<(&str, &[u8])>) -> Resp {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(60))
        .build();
    let mut req = agent.request(method, url);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let r = match body {
        Some((ctype, b)) => req.set("Content-Type", ctype).send_bytes(b),
        None => req.call(),
    };
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let retry_after = resp.header("Retry-After").map(String::from);
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).unwrap();
    Resp {
        status,
        retry_after,
        body,
    }
}

/// Polls `f` until it returns Some (a bounded wait, not a timing assertion: analyses
/// take seconds; the bound only keeps a broken build from hanging CI).
fn wait_for<T>(what: &str, server: &Server, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "gave up waiting for {what}; server log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn packages() -> std::path::PathBuf {
    repo().join("tests/packages")
}

#[test]
fn api_bound_holds_nothing_lost_jobs_survive_restart() {
    let reg = Registry::start();
    reg.publish(&pack(&repo().join("examples/benign/plain-lib"), |_| {}));
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store.sqlite3");
    let store_s = store.to_str().unwrap();
    let token = "t0ken-for-tests";
    let catcher = Catcher::start();

    // 1. Queue only (no workers): 50 concurrent submissions against a bound of 10.
    let s1 = Server::start(&[
        "--store",
        store_s,
        "--concurrency",
        "0",
        "--queue",
        "10",
        "--token",
        token,
        "--npm-registry",
        &reg.url,
    ]);
    assert_eq!(
        request(
            "POST",
            &format!("{}/v1/analyses", s1.url),
            None,
            Some(("application/json", b"{}"))
        )
        .status,
        401
    );
    assert_eq!(
        request("GET", &format!("{}/metrics", s1.url), Some("wrong"), None).status,
        401
    );
    assert_eq!(
        request("GET", &format!("{}/openapi.json", s1.url), None, None).status,
        200
    );
    let body = br#"{"ecosystem":"npm","name":"plain-lib","version":"1.0.0"}"#;
    let results: Vec<(u16, Option<String>, serde_json::Value)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..50)
            .map(|_| {
                let url = format!("{}/v1/analyses", s1.url);
                sc.spawn(move || {
                    let r = request("POST", &url, Some(token), Some(("application/json", body)));
                    (r.status, r.retry_after.clone(), r.json())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let accepted: Vec<i64> = results
        .iter()
        .filter(|(s, _, _)| *s == 202)
        .map(|(_, _, j)| j["id"].as_i64().unwrap())
        .collect();
    let refused = results.iter().filter(|(s, _, _)| *s == 429).count();
    assert_eq!(
        accepted.len() + refused,
        50,
        "every submission is answered 202 or 429: {results:?}"
    );
    assert_eq!(
        accepted.len(),
        10,
        "the bound holds exactly with no worker running"
    );
    assert!(results
        .iter()
        .filter(|(s, _, _)| *s == 429)
        .all(|(_, ra, _)| ra.is_some()));
    let mut ids = accepted.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);
    let metrics =
        String::from_utf8(request("GET", &format!("{}/metrics", s1.url), Some(token), None).body)
            .unwrap();
    assert!(
        metrics.contains("airlock_queue_depth{state=\"queued\"} 10"),
        "{metrics}"
    );
    assert!(
        metrics.contains("airlock_submissions_rejected_total{reason=\"queue_full\"} 40"),
        "{metrics}"
    );
    // A webhook outside the allow-list is refused before anything is queued.
    let hooked = format!(
        r#"{{"ecosystem":"npm","name":"plain-lib","version":"1.0.0","webhook":"{}"}}"#,
        catcher.url
    );
    let r = request(
        "POST",
        &format!("{}/v1/analyses", s1.url),
        Some(token),
        Some(("application/json", hooked.as_bytes())),
    );
    assert_eq!(r.status, 403);
    // Bad input never reaches the queue or the network.
    for bad in [
        r#"{"ecosystem":"npm","name":"../../etc","version":"1.0.0"}"#,
        r#"{"ecosystem":"npm","name":"x","version":"1.0.0","url":"http://evil.example/x.tgz"}"#,
        r#"{"ecosystem":"cargo","name":"x","version":"1"}"#,
    ] {
        let r = request(
            "POST",
            &format!("{}/v1/analyses", s1.url),
            Some(token),
            Some(("application/json", bad.as_bytes())),
        );
        assert_eq!(r.status, 400, "{bad}");
    }
    s1.kill();

    // 2. Restart with workers on the same store: the 10 accepted jobs all finish.
    let s2 = Server::start(&[
        "--store",
        store_s,
        "--concurrency",
        "2",
        "--queue",
        "10",
        "--token",
        token,
        "--npm-registry",
        &reg.url,
        "--webhook-allow",
        &catcher.url,
    ]);
    for id in &accepted {
        let url = format!("{}/v1/analyses/{id}", s2.url);
        let done = wait_for(&format!("job {id}"), &s2, || {
            let j = request("GET", &url, Some(token), None).json();
            (j["status"] == "done" || j["status"] == "failed").then_some(j)
        });
        assert_eq!(done["status"], "done", "{done:#}");
        assert_eq!(done["verdict"], "benign", "{done:#}");
        assert_eq!(done["name"], "plain-lib");
    }
    let v = request(
        "GET",
        &format!("{}/v1/verdicts/npm/plain-lib/1.0.0", s2.url),
        Some(token),
        None,
    );
    assert_eq!(v.status, 200);
    assert_eq!(v.json()["verdict"], "benign");
    assert_eq!(
        request(
            "GET",
            &format!("{}/v1/verdicts/npm/never-seen/1.0.0", s2.url),
            Some(token),
            None
        )
        .status,
        404
    );

    // 3. A tarball upload with an allowed webhook: analyzed, judged malicious, reported.
    let stealer = pack(&packages().join("wrap-npmrc-stealer"), |_| {});
    let r = request(
        "POST",
        &format!("{}/v1/analyses?webhook={}", s2.url, catcher.url),
        Some(token),
        Some(("application/octet-stream", &stealer.tgz)),
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_i64().unwrap();
    let url = format!("{}/v1/analyses/{id}", s2.url);
    let done = wait_for("the upload's analysis", &s2, || {
        let j = request("GET", &url, Some(token), None).json();
        (j["status"] == "done" || j["status"] == "failed").then_some(j)
    });
    assert_eq!(done["verdict"], "malicious", "{done:#}");
    assert_eq!(done["package"]["name"], "wrap-npmrc-stealer");
    let hook = wait_for("the webhook", &s2, || {
        catcher.received().into_iter().find(|b| b["id"] == id)
    });
    assert_eq!(hook["result"]["verdict"], "malicious", "{hook:#}");
    let metrics =
        String::from_utf8(request("GET", &format!("{}/metrics", s2.url), Some(token), None).body)
            .unwrap();
    assert!(
        metrics.contains("airlock_analyses_total{verdict=\"malicious\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("airlock_analyses_total{verdict=\"benign\"} 10"),
        "{metrics}"
    );
    assert!(
        metrics.contains("airlock_queue_depth{state=\"queued\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("airlock_webhooks_total{result=\"ok\"} 1"),
        "{metrics}"
    );
}

#[test]
fn proxy_quarantines_until_clean_and_hides_malicious_versions() {
    let reg = Registry::start();
    let good = pack(&repo().join("examples/benign/plain-lib"), |m| {
        m["name"] = "wrap-proxied".into();
        m["version"] = "1.0.0".into();
    });
    let evil = pack(&packages().join("wrap-npmrc-stealer"), |m| {
        m["name"] = "wrap-proxied".into();
        m["version"] = "1.1.0".into();
    });
    reg.publish(&good);
    reg.publish(&evil); // latest
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store.sqlite3");
    let s = Server::start(&[
        "--store",
        store.to_str().unwrap(),
        "--npm-upstream",
        &reg.url,
        "--concurrency",
        "1",
        "--prefetch",
        "0",
    ]);
    let pk = format!("{}/wrap-proxied", s.url);
    let tgz = |v: &str| format!("{}/wrap-proxied/-/wrap-proxied-{v}.tgz", s.url);

    // First sight: nothing analyzed, so nothing is offered (the latest is queued).
    let doc = request("GET", &pk, None, None).json();
    assert!(doc["versions"].as_object().unwrap().is_empty(), "{doc:#}");
    assert!(doc["dist-tags"].as_object().unwrap().is_empty(), "{doc:#}");
    // The clean version's tarball: 503 + Retry-After while pending (and now queued)...
    let r = request("GET", &tgz("1.0.0"), None, None);
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.retry_after.is_some());
    // ...then 200 with the upstream's exact bytes once its analysis is clean.
    let bytes = wait_for("1.0.0 to be served", &s, || {
        let r = request("GET", &tgz("1.0.0"), None, None);
        assert!(
            r.status == 503 || r.status == 200,
            "{} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        (r.status == 200).then_some(r.body)
    });
    assert_eq!(bytes, good.tgz);
    // The malicious latest: judged, hidden, and its tarball refused with the reason.
    let v = wait_for("1.1.0's verdict", &s, || {
        let r = request(
            "GET",
            &format!("{}/v1/verdicts/npm/wrap-proxied/1.1.0", s.url),
            None,
            None,
        );
        (r.status == 200).then(|| r.json())
    });
    assert_eq!(v["verdict"], "malicious", "{v:#}");
    let r = request("GET", &tgz("1.1.0"), None, None);
    assert_eq!(r.status, 403);
    let why = r.json();
    assert_eq!(why["verdict"], "malicious");
    assert!(!why["reason"].as_array().unwrap().is_empty(), "{why:#}");
    let doc = request("GET", &pk, None, None).json();
    let versions: Vec<&String> = doc["versions"].as_object().unwrap().keys().collect();
    assert_eq!(versions, ["1.0.0"]);
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    assert_eq!(doc["versions"]["1.0.0"]["dist"]["tarball"], tgz("1.0.0"));
    assert!(doc["time"].get("1.1.0").is_none());

    // Real npm through the proxy gets the clean version, integrity-checked.
    let project = tmp.path().join("app");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{"name":"app","version":"1.0.0","private":true,"dependencies":{"wrap-proxied":"*"}}"#,
    )
    .unwrap();
    let mut npm = Command::new("npm");
    npm.current_dir(&project)
        .args(["install", "--ignore-scripts"]);
    for (k, v) in npm_env(&s.url, tmp.path()) {
        npm.env(k, v);
    }
    let out = npm.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed: serde_json::Value = serde_json::from_slice(
        &std::fs::read(project.join("node_modules/wrap-proxied/package.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(installed["version"], "1.0.0");
    // npm asking for the malicious version explicitly finds nothing to install.
    let mut npm = Command::new("npm");
    npm.current_dir(&project)
        .args(["install", "--ignore-scripts", "wrap-proxied@1.1.0"]);
    for (k, v) in npm_env(&s.url, tmp.path()) {
        npm.env(k, v);
    }
    let out = npm.output().unwrap();
    assert!(!out.status.success());
    assert!(!Path::new(&project.join("node_modules/wrap-proxied/steal.js")).exists());
    // The proxy only ever talked to the configured upstream.
    assert!(
        reg.log().iter().all(|l| l.starts_with("GET /wrap-proxied")),
        "{:?}",
        reg.log()
    );

    // Waivers (issue 14): the mirror waives every rule that fired for 1.1.0. After a
    // restart on the same store the proxy offers and serves it; the stored verdict is
    // still the unwaived one (a store serves many policies).
    let shown = Command::new(assert_cmd::cargo::cargo_bin("airlock"))
        .args(["cache", "show", "wrap-proxied@1.1.0", "--json", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let mut fired: Vec<String> = shown["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    fired.sort();
    fired.dedup();
    assert!(!fired.is_empty(), "{shown:#}");
    let waivers = tmp.path().join("mirror-waivers.toml");
    let body: String = fired
        .iter()
        .map(|r| {
            format!(
                "[[waiver]]\nrule = \"{r}\"\npackage = \"wrap-proxied@1.1.0\"\n\
                 reason = \"mirror policy test\"\nexpires = 2099-01-01\n\n"
            )
        })
        .collect();
    std::fs::write(&waivers, body).unwrap();
    drop(s);
    let s = Server::start(&[
        "--store",
        store.to_str().unwrap(),
        "--npm-upstream",
        &reg.url,
        "--concurrency",
        "1",
        "--prefetch",
        "0",
        "--waivers",
        waivers.to_str().unwrap(),
    ]);
    let url = format!("{}/wrap-proxied/-/wrap-proxied-1.1.0.tgz", s.url);
    let r = request("GET", &url, None, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, evil.tgz);
    let doc = request("GET", &format!("{}/wrap-proxied", s.url), None, None).json();
    assert!(doc["versions"].get("1.1.0").is_some(), "{doc:#}");
    let v = request(
        "GET",
        &format!("{}/v1/verdicts/npm/wrap-proxied/1.1.0", s.url),
        None,
        None,
    )
    .json();
    assert_eq!(v["verdict"], "malicious", "{v:#}");
}
