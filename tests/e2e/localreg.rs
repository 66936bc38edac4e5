//! A tiny npm registry on loopback for the wrapper and service tests: it serves the
//! packuments and tarballs of packages the test packs itself (from tests/packages or
//! examples), so no test ever reaches the public registry. Also: an isolated npm
//! environment pointing at it, a webhook catcher, and file-tree hashing.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use sha2::Digest;

/// A packed package version.
#[derive(Clone)]
pub struct Packed {
    pub name: String,
    pub version: String,
    pub manifest: serde_json::Value,
    pub tgz: Vec<u8>,
}

impl Packed {
    pub fn integrity(&self) -> String {
        format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&self.tgz))
        )
    }

    pub fn shasum(&self) -> String {
        use sha1::Digest as _;
        hex::encode(sha1::Sha1::digest(&self.tgz))
    }

    pub fn file_name(&self) -> String {
        let base = self.name.rsplit('/').next().unwrap();
        format!("{base}-{}.tgz", self.version)
    }
}

/// Packs a package directory like `npm pack` (entries under `package/`, fixed mtime),
/// after `edit` changes its package.json.
pub fn pack(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> Packed {
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("package.json")).unwrap()).unwrap();
    edit(&mut manifest);
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for entry in walk(dir) {
        let rel = entry
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "package.json" || rel.starts_with("expected") || rel.starts_with("node_modules") {
            continue;
        }
        files.insert(rel, std::fs::read(&entry).unwrap());
    }
    files.insert(
        "package.json".into(),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    {
        let mut tar = tar::Builder::new(&mut gz);
        for (rel, bytes) in &files {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(499_162_500);
            h.set_cksum();
            tar.append_data(&mut h, format!("package/{rel}"), bytes.as_slice())
                .unwrap();
        }
        tar.finish().unwrap();
    }
    let tgz = gz.finish().unwrap();
    Packed {
        name: manifest["name"].as_str().unwrap().to_string(),
        version: manifest["version"].as_str().unwrap().to_string(),
        manifest,
        tgz,
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[derive(Default)]
struct State {
    /// name → version → packed
    packages: BTreeMap<String, BTreeMap<String, Packed>>,
    /// name → dist-tag → version
    tags: BTreeMap<String, BTreeMap<String, String>>,
    /// (name, version) → publish time in the packument's `time` (RFC 3339), or `None`
    /// for a version the registry gives no time for; unset: 2024-01-01.
    times: BTreeMap<(String, String), Option<String>>,
    log: Vec<String>,
    /// The URL clients reach the registry at when it differs from the listener's (a TLS
    /// front): tarball URLs in packuments use it.
    public_url: Option<String>,
    /// (request path, User-Agent) of every request.
    agents: Vec<(String, String)>,
}

/// The registry: serves until dropped (the thread stays parked on accept; tests end).
pub struct Registry {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Registry {
    pub fn start() -> Registry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let (st, base) = (state.clone(), url.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (st, base) = (st.clone(), base.clone());
                std::thread::spawn(move || serve_conn(conn, &st, &base));
            }
        });
        Registry { url, state }
    }

    /// Publishes a version (the newest publish becomes `latest` unless `tag` says else).
    pub fn publish(&self, p: &Packed) {
        let mut s = self.state.lock().unwrap();
        s.packages
            .entry(p.name.clone())
            .or_default()
            .insert(p.version.clone(), p.clone());
        s.tags
            .entry(p.name.clone())
            .or_default()
            .insert("latest".into(), p.version.clone());
    }

    /// Sets a version's publish time in the packument's `time` map (`None`: the registry
    /// gives none), for the release-age gate.
    pub fn set_time(&self, name: &str, version: &str, time: Option<&str>) {
        self.state
            .lock()
            .unwrap()
            .times
            .insert((name.into(), version.into()), time.map(String::from));
    }

    pub fn set_tag(&self, name: &str, tag: &str, version: &str) {
        let mut s = self.state.lock().unwrap();
        s.tags
            .entry(name.into())
            .or_default()
            .insert(tag.into(), version.into());
    }

    /// Tarball URLs in packuments point at `url` (a TLS front) from now on.
    pub fn set_public_url(&self, url: &str) {
        self.state.lock().unwrap().public_url = Some(url.trim_end_matches('/').to_string());
    }

    /// (path, User-Agent) of every request seen so far.
    pub fn agents(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().agents.clone()
    }

    /// Request lines seen so far.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

fn packument(s: &State, name: &str, base: &str) -> Option<serde_json::Value> {
    let versions = s.packages.get(name)?;
    let mut vs = serde_json::Map::new();
    let mut time = serde_json::Map::new();
    for (v, p) in versions {
        let mut doc = p.manifest.clone();
        doc["_id"] = format!("{name}@{v}").into();
        doc["dist"] = serde_json::json!({
            "tarball": format!("{base}/{name}/-/{}", p.file_name()),
            "integrity": p.integrity(),
            "shasum": p.shasum(),
        });
        vs.insert(v.clone(), doc);
        match s.times.get(&(name.to_string(), v.clone())) {
            Some(Some(t)) => {
                time.insert(v.clone(), t.clone().into());
            }
            Some(None) => {}
            None => {
                time.insert(v.clone(), "2024-01-01T00:00:00.000Z".into());
            }
        }
    }
    Some(serde_json::json!({
        "_id": name,
        "name": name,
        "dist-tags": s.tags.get(name).cloned().unwrap_or_default(),
        "versions": vs,
        "time": time,
    }))
}

fn serve_conn(mut conn: TcpStream, st: &Mutex<State>, base: &str) {
    let Ok(clone) = conn.try_clone() else { return };
    let mut reader = BufReader::new(clone);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0usize;
        let mut agent = String::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    content_length = v.trim().parse().unwrap_or(0);
                }
                if k.eq_ignore_ascii_case("user-agent") {
                    agent = v.trim().to_string();
                }
            }
        }
        let mut body = vec![0; content_length];
        let _ = reader.read_exact(&mut body);
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let (status, ctype, bytes) = {
            let mut s = st.lock().unwrap();
            s.log.push(format!("{method} {path}"));
            s.agents.push((path.to_string(), agent));
            let base = s.public_url.clone().unwrap_or_else(|| base.to_string());
            answer(&s, method, path, &base)
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
            bytes.len()
        );
        if conn.write_all(head.as_bytes()).is_err() || conn.write_all(&bytes).is_err() {
            return;
        }
    }
}

fn answer(
    s: &State,
    method: &str,
    path: &str,
    base: &str,
) -> (&'static str, &'static str, Vec<u8>) {
    let not_found = (
        "404 Not Found",
        "application/json",
        b"{\"error\":\"not found\"}".to_vec(),
    );
    if method != "GET" {
        return ("405 Method Not Allowed", "text/plain", Vec::new());
    }
    let path = path.split('?').next().unwrap_or("").trim_start_matches('/');
    let path = path
        .replace("%2f", "/")
        .replace("%2F", "/")
        .replace("%40", "@");
    if let Some((name, file)) = path.split_once("/-/") {
        let Some(versions) = s.packages.get(name) else {
            return not_found;
        };
        return match versions.values().find(|p| p.file_name() == file) {
            Some(p) => ("200 OK", "application/octet-stream", p.tgz.clone()),
            None => not_found,
        };
    }
    match packument(s, &path, base) {
        Some(doc) => (
            "200 OK",
            "application/json",
            serde_json::to_vec(&doc).unwrap(),
        ),
        None => not_found,
    }
}

/// Environment for npm (and airlock's npm children) that points at `registry` and
/// keeps npm's cache and config inside `dir`: nothing reaches the public registry or
/// the user's own npm setup.
pub fn npm_env(registry: &str, dir: &Path) -> Vec<(String, String)> {
    let userconfig = dir.join("npmrc");
    if !userconfig.exists() {
        std::fs::write(&userconfig, format!("registry={registry}/\n")).unwrap();
    }
    vec![
        ("npm_config_registry".into(), format!("{registry}/")),
        (
            "npm_config_cache".into(),
            dir.join("npm-cache").display().to_string(),
        ),
        (
            "npm_config_userconfig".into(),
            userconfig.display().to_string(),
        ),
        ("npm_config_audit".into(), "false".into()),
        ("npm_config_fund".into(), "false".into()),
        ("npm_config_update_notifier".into(), "false".into()),
        ("AIRLOCK_NPM_REGISTRY".into(), registry.into()),
    ]
}

/// sha256 of every file under `dir` (relative path → hex), symlinks as their target.
pub fn tree_hashes(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                );
            } else if meta.is_dir() {
                out.insert(format!("{rel}/"), String::new());
                stack.push(p);
            } else {
                out.insert(
                    rel,
                    hex::encode(sha2::Sha256::digest(std::fs::read(&p).unwrap())),
                );
            }
        }
    }
    out
}

/// Catches webhook POSTs on loopback.
pub struct Catcher {
    pub url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Catcher {
    pub fn start() -> Catcher {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let b = bodies.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut len = 0usize;
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                if let Ok(v) = serde_json::from_slice(&body) {
                    b.lock().unwrap().push(v);
                }
                let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            }
        });
        Catcher { url, bodies }
    }

    pub fn received(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }
}

/// A static HTTP server on loopback: fixed paths → (content type, bytes). Enough for a
/// PEP 503 simple index and its files.
pub struct Static {
    pub url: String,
}

impl Static {
    pub fn start(routes: BTreeMap<String, (&'static str, Vec<u8>)>) -> Static {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let routes = Arc::new(routes);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let routes = routes.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    let _ = reader.read_line(&mut line);
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/");
                    let path = path.split(['?', '#']).next().unwrap_or("/");
                    let (status, ctype, body) = match routes.get(path) {
                        Some((c, b)) => ("200 OK", *c, b.clone()),
                        None => ("404 Not Found", "text/plain", b"not found".to_vec()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(head.as_bytes());
                    let _ = conn.write_all(&body);
                });
            }
        });
        Static { url }
    }
}

/// Builds a py3-none-any wheel with python's zipfile: `files` are (path in the wheel,
/// text); METADATA, WHEEL and RECORD are added.
pub fn wheel(
    dir: &Path,
    name: &str,
    version: &str,
    requires: &[&str],
    files: &[(&str, &str)],
) -> (String, Vec<u8>) {
    let norm = name.replace('-', "_");
    let file = format!("{norm}-{version}-py3-none-any.whl");
    let di = format!("{norm}-{version}.dist-info");
    let mut meta = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for r in requires {
        meta.push_str(&format!("Requires-Dist: {r}\n"));
    }
    let mut entries: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    entries.push((format!("{di}/METADATA"), meta));
    entries.push((
        format!("{di}/WHEEL"),
        "Wheel-Version: 1.0\nGenerator: airlock-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
            .into(),
    ));
    let mut record: String = entries.iter().map(|(p, _)| format!("{p},,\n")).collect();
    record.push_str(&format!("{di}/RECORD,,\n"));
    entries.push((format!("{di}/RECORD"), record));
    let spec = serde_json::to_string(&entries).unwrap();
    let out = dir.join(&file);
    let script = "import json,sys,zipfile\n\
        z=zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_DEFLATED)\n\
        [z.writestr(zipfile.ZipInfo(p,(2020,1,1,0,0,0)),t) for p,t in json.loads(sys.argv[2])]\n\
        z.close()\n";
    let st = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&out)
        .arg(&spec)
        .status()
        .unwrap();
    assert!(st.success());
    (file, std::fs::read(&out).unwrap())
}

/// A PEP 503 simple index serving `wheels` ((project, file name, bytes)).
pub fn simple_index(wheels: &[(&str, String, Vec<u8>)]) -> Static {
    Static::start(simple_index_routes(wheels))
}

/// The routes of [`simple_index`], for a test that adds its own (the JSON API).
pub fn simple_index_routes(
    wheels: &[(&str, String, Vec<u8>)],
) -> BTreeMap<String, (&'static str, Vec<u8>)> {
    let mut routes: BTreeMap<String, (&'static str, Vec<u8>)> = BTreeMap::new();
    let mut projects: BTreeMap<String, String> = BTreeMap::new();
    for (project, file, bytes) in wheels {
        let sha = hex::encode(sha2::Sha256::digest(bytes));
        projects
            .entry(project.to_string())
            .or_default()
            .push_str(&format!(
                "<a href=\"/files/{file}#sha256={sha}\">{file}</a>\n"
            ));
        routes.insert(
            format!("/files/{file}"),
            ("application/octet-stream", bytes.clone()),
        );
    }
    let mut root = String::from("<!DOCTYPE html><html><body>\n");
    for (project, links) in &projects {
        root.push_str(&format!("<a href=\"/simple/{project}/\">{project}</a>\n"));
        routes.insert(
            format!("/simple/{project}/"),
            (
                "text/html",
                format!("<!DOCTYPE html><html><body>\n{links}</body></html>").into_bytes(),
            ),
        );
    }
    root.push_str("</body></html>");
    routes.insert("/simple/".into(), ("text/html", root.into_bytes()));
    routes
}
