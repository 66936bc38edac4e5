//! The quarantining npm registry proxy (`airlock serve --npm-upstream URL`). npm clients
//! point `--registry` at the server; it answers the two requests an install makes:
//!
//! - `GET /<name>` (full or abbreviated packument): the upstream's document with every
//!   version that lacks a clean verdict removed, `dist-tags` repointed to the newest
//!   clean version, and tarball links rewritten to this server. Versions the dist-tags
//!   name and that were never analyzed are queued on first sight.
//! - `GET /<name>/-/<file>.tgz`: served (from a local cache, integrity-checked against
//!   the analyzed artifact) only for a clean version; 403 with the reason when the
//!   verdict is malicious (or otherwise not clean), 503 + Retry-After while pending.
//! - With `--min-age` (the release-age gate), versions published more recently are
//!   hidden like unclean ones and their tarballs refused (403, with when they mature),
//!   whatever their verdict; they are still queued, so their verdict is ready when they
//!   are old enough.
//!
//! Only the configured upstream is ever fetched. Fail closed: without a verdict
//! nothing is served, unless `--fail-open` and the analyzer is down.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_ecosystem::release_age::{ReleaseAge, ReleaseGate};
use airlock_events::{Ecosystem, Verdict};
use airlock_store::ArtifactQuery;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::Digest;

use super::{blocking, error, pending_key, App, Shared};
use crate::store_glue;

/// The ecosystem this registry mirror serves (the stored verdicts it looks up).
const MIRRORED: Ecosystem = Ecosystem::Npm;

const CORGI: &str = "application/vnd.npm.install-v1+json";

/// How long a filtered packument is reused when no verdict changed in this server
/// (verdicts written by other processes sharing the store show up after this).
const FILTERED_TTL: Duration = Duration::from_secs(2);

/// A filtered packument ready to send.
struct Filtered {
    at: Instant,
    epoch: u64,
    upstream: Arc<Value>,
    body: axum::body::Bytes,
}

/// Upstream packuments kept for `--packument-ttl`, by name and document kind, and the
/// filtered documents made from them (valid while the upstream document, this server's
/// verdict epoch and [`FILTERED_TTL`] allow).
pub struct PackumentCache {
    ttl: Duration,
    map: Mutex<HashMap<String, (Instant, Arc<Value>)>>,
    filtered: Mutex<HashMap<String, Filtered>>,
    epoch: AtomicU64,
}

impl PackumentCache {
    pub fn new(ttl: Duration) -> PackumentCache {
        PackumentCache {
            ttl,
            map: Mutex::new(HashMap::new()),
            filtered: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
        }
    }

    /// A verdict changed: filtered documents must be made again.
    pub fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    fn filtered_get(&self, key: &str, upstream: &Arc<Value>) -> Option<axum::body::Bytes> {
        let m = self.filtered.lock().ok()?;
        let f = m.get(key)?;
        (f.at.elapsed() < FILTERED_TTL
            && f.epoch == self.epoch.load(Ordering::SeqCst)
            && Arc::ptr_eq(&f.upstream, upstream))
        .then(|| f.body.clone())
    }

    fn filtered_put(&self, key: String, epoch: u64, upstream: Arc<Value>, body: axum::body::Bytes) {
        if let Ok(mut m) = self.filtered.lock() {
            if m.len() > 10_000 {
                m.retain(|_, f| f.at.elapsed() < FILTERED_TTL);
            }
            m.insert(
                key,
                Filtered {
                    at: Instant::now(),
                    epoch,
                    upstream,
                    body,
                },
            );
        }
    }

    fn get(&self, key: &str) -> Option<Arc<Value>> {
        let m = self.map.lock().ok()?;
        m.get(key)
            .filter(|(t, _)| t.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: String, v: Arc<Value>) {
        if let Ok(mut m) = self.map.lock() {
            if m.len() > 10_000 {
                m.retain(|_, (t, _)| t.elapsed() < self.ttl);
            }
            m.insert(key, (Instant::now(), v));
        }
    }
}

/// What a proxy path asks for.
#[derive(Debug, PartialEq)]
enum Target {
    Packument(String),
    Tarball { name: String, file: String },
}

fn decode_name(s: &str) -> String {
    s.replace("%2f", "/")
        .replace("%2F", "/")
        .replace("%40", "@")
}

fn valid_name(name: &str) -> bool {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '/' | '.' | '-' | '_' | '~'));
    let shape = match name.strip_prefix('@') {
        Some(rest) => {
            rest.matches('/').count() == 1 && !rest.starts_with('/') && !rest.ends_with('/')
        }
        None => !name.contains('/'),
    };
    !name.is_empty() && name.len() <= 214 && ok_chars && shape && !name.contains("..")
}

fn parse_target(path: &str) -> Option<Target> {
    let p = path.strip_prefix('/')?;
    if let Some((name, file)) = p.split_once("/-/") {
        let name = decode_name(name);
        let ok_file = file.ends_with(".tgz")
            && !file.contains('/')
            && !file.contains("..")
            && file
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
        return (valid_name(&name) && ok_file).then(|| Target::Tarball {
            name,
            file: file.to_string(),
        });
    }
    let name = decode_name(p);
    valid_name(&name).then_some(Target::Packument(name))
}

pub async fn handler(State(app): State<Shared>, req: Request) -> Response {
    let Some(upstream) = app.args.npm_upstream.clone() else {
        return error(StatusCode::NOT_FOUND, "not found");
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return error(StatusCode::METHOD_NOT_ALLOWED, "the proxy is read-only");
    }
    let Some(target) = parse_target(req.uri().path()) else {
        return error(StatusCode::NOT_FOUND, "not a packument or tarball path");
    };
    let base = public_base(&app, req.headers());
    let upstream = upstream.trim_end_matches('/').to_string();
    match target {
        Target::Packument(name) => {
            let corgi = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains(CORGI));
            packument(&app, &upstream, &name, corgi, &base).await
        }
        Target::Tarball { name, file } => tarball(&app, &upstream, &name, &file).await,
    }
}

fn public_base(app: &App, headers: &HeaderMap) -> String {
    if let Some(u) = &app.args.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .map(String::from)
        .unwrap_or_else(|| app.args.listen.to_string());
    format!("http://{host}")
}

/// The project's one HTTP client (system CA store, proxy settings), never following a
/// redirect: the upstream's redirect is its answer. Upstream calls get two minutes.
fn upstream_get(url: &str) -> ureq::Request {
    airlock_ecosystem::http::client()
        .agent_no_redirect_for(url)
        .get(url)
        .timeout(Duration::from_secs(120))
}

/// Upstream fetch failure: the status to answer with.
struct Upstream(StatusCode, String);

/// The upstream packument (cached for the TTL).
async fn upstream_packument(
    app: &Shared,
    upstream: &str,
    name: &str,
    corgi: bool,
) -> Result<Arc<Value>, Upstream> {
    let key = format!("{name}|{}", if corgi { "corgi" } else { "full" });
    if let Some(v) = app.packuments.get(&key) {
        return Ok(v);
    }
    let url = format!("{upstream}/{}", name.replace('/', "%2f"));
    let doc = tokio::task::spawn_blocking(move || -> Result<Value, Upstream> {
        let accept = if corgi {
            "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"
        } else {
            "application/json"
        };
        match upstream_get(&url).set("Accept", accept).call() {
            Ok(r) => {
                let mut text = String::new();
                r.into_reader()
                    .take(200 << 20)
                    .read_to_string(&mut text)
                    .map_err(|e| Upstream(StatusCode::BAD_GATEWAY, format!("upstream: {e}")))?;
                serde_json::from_str(&text).map_err(|e| {
                    Upstream(StatusCode::BAD_GATEWAY, format!("upstream packument: {e}"))
                })
            }
            Err(ureq::Error::Status(404, _)) => {
                Err(Upstream(StatusCode::NOT_FOUND, "not found".into()))
            }
            Err(ureq::Error::Status(c, _)) => Err(Upstream(
                StatusCode::BAD_GATEWAY,
                format!("upstream answered {c}"),
            )),
            Err(e) => Err(Upstream(StatusCode::BAD_GATEWAY, format!("upstream: {e}"))),
        }
    })
    .await
    .map_err(|e| Upstream(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let doc = Arc::new(doc);
    app.packuments.put(key, doc.clone());
    Ok(doc)
}

/// The clean-version decision for every version of a packument.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State2 {
    Clean,
    Bad(Verdict),
    Unknown,
}

fn version_states(app: &App, name: &str, doc: &Value) -> anyhow::Result<HashMap<String, State2>> {
    let versions: Vec<(String, Option<String>)> = doc["versions"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(v, d)| (v.clone(), d["dist"]["integrity"].as_str().map(String::from)))
                .collect()
        })
        .unwrap_or_default();
    let queries: Vec<ArtifactQuery> = versions
        .iter()
        .map(|(v, i)| ArtifactQuery {
            ecosystem: MIRRORED,
            name: name.to_string(),
            version: v.clone(),
            hash: i.clone(),
        })
        .collect();
    let hits = app.store.lookup_many(&queries, Some(app.rules.hash()))?;
    let mut out = HashMap::new();
    for ((v, _), hit) in versions.into_iter().zip(hits) {
        let hit = store_glue::refresh(&app.store, &app.rules, hit)?;
        let verdict = match &hit {
            Some(h) => Some(waived_verdict(app, name, &v, h)?),
            None => None,
        };
        let st = match verdict {
            Some(Verdict::Benign) => State2::Clean,
            Some(Verdict::Suspicious) if app.args.allow_suspicious => State2::Clean,
            Some(v) => State2::Bad(v),
            None => State2::Unknown,
        };
        out.insert(v, st);
    }
    Ok(out)
}

/// A stored verdict under the mirror's waivers (`serve --waivers`): the stored trace is
/// judged again with them when one names this version.
fn waived_verdict(
    app: &App,
    name: &str,
    version: &str,
    hit: &airlock_store::CachedVerdict,
) -> anyhow::Result<Verdict> {
    if hit.verdict == Verdict::Benign {
        return Ok(hit.verdict);
    }
    let package = airlock_events::PackageRef {
        ecosystem: Some(MIRRORED),
        name: name.to_string(),
        version: version.to_string(),
        ..Default::default()
    };
    let waivers = app.waivers.as_deref();
    Ok(
        match store_glue::waived(&app.store, &app.rules, waivers, hit.run, &package)? {
            Some((_, verdict)) => verdict,
            None => hit.verdict,
        },
    )
}

async fn packument(app: &Shared, upstream: &str, name: &str, corgi: bool, base: &str) -> Response {
    let doc = match upstream_packument(app, upstream, name, corgi).await {
        Ok(d) => d,
        Err(Upstream(code, msg)) => {
            app.metrics.proxy("packument", "upstream-error");
            return error(code, msg);
        }
    };
    let held = match app.args.release_age.gate() {
        Some(g) => match held_versions(app, upstream, name, &doc, &g).await {
            Ok(h) => h,
            Err(Upstream(code, msg)) => {
                app.metrics.proxy("packument", "upstream-error");
                return error(code, msg);
            }
        },
        None => HashMap::new(),
    };
    let open = app.args.fail_open && !app.analyzer_up.load(Ordering::Relaxed);
    let ctype = if corgi { CORGI } else { "application/json" };
    let key = format!("{name}|{corgi}|{base}|{open}");
    if let Some(body) = app.packuments.filtered_get(&key, &doc) {
        app.metrics.proxy("packument", "cached");
        return ([(header::CONTENT_TYPE, ctype)], body).into_response();
    }
    let epoch = app.packuments.epoch.load(Ordering::SeqCst);
    let (a, n, d, b) = (app.clone(), name.to_string(), doc.clone(), base.to_string());
    let held: HashSet<String> = held.into_keys().collect();
    let r = blocking(move || {
        let states = version_states(&a, &n, &d)?;
        Ok(filter(&n, &d, &states, &held, &b, open, a.args.prefetch))
    })
    .await;
    let (filtered, to_queue) = match r {
        Ok(x) => x,
        Err(e) => {
            app.metrics.proxy("packument", "error");
            return error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"));
        }
    };
    for (v, integrity) in to_queue {
        queue_version(app, name, &v, integrity.as_deref()).await;
    }
    app.metrics
        .proxy("packument", if open { "fail-open" } else { "filtered" });
    match serde_json::to_vec(&filtered) {
        Ok(body) => {
            let body = axum::body::Bytes::from(body);
            app.packuments.filtered_put(key, epoch, doc, body.clone());
            ([(header::CONTENT_TYPE, ctype)], body).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The versions of a packument the release-age gate holds back, each with the gate's
/// decision. Publish times come from the document's `time`, else (an abbreviated
/// document without one) from the full packument.
async fn held_versions(
    app: &Shared,
    upstream: &str,
    name: &str,
    doc: &Arc<Value>,
    gate: &ReleaseGate,
) -> Result<HashMap<String, ReleaseAge>, Upstream> {
    let mut times = airlock_ecosystem::npm::packument::publish_times(doc);
    if times.is_empty() && doc["versions"].as_object().is_some_and(|m| !m.is_empty()) {
        let full = upstream_packument(app, upstream, name, false).await?;
        times = airlock_ecosystem::npm::packument::publish_times(&full);
    }
    Ok(doc["versions"]
        .as_object()
        .map(|m| {
            m.keys()
                .filter_map(|v| {
                    let m = gate.judge(times.get(v).copied());
                    gate.holds(m).then(|| (v.clone(), gate.describe(m)))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Removes versions that are not clean (all but known-bad ones when failing open) and
/// those the release-age gate holds (`held`, whatever their verdict), repoints
/// dist-tags, rewrites tarball links; returns the document and the versions never
/// analyzed that clients ask for next (to queue): the dist-tags' (held ones too, so
/// their verdict is ready when they mature), the newest version a held dist-tag falls
/// back to, and the newest `prefetch` releases.
fn filter(
    name: &str,
    doc: &Value,
    states: &HashMap<String, State2>,
    held: &HashSet<String>,
    base: &str,
    open: bool,
    prefetch: usize,
) -> (Value, Vec<(String, Option<String>)>) {
    let keep = |v: &str| {
        !held.contains(v)
            && match states.get(v).copied().unwrap_or(State2::Unknown) {
                State2::Clean => true,
                State2::Unknown => open,
                State2::Bad(_) => false,
            }
    };
    // Everything but the parts rebuilt below (cloning the whole document first would
    // copy every version's manifest just to drop most of them).
    let mut out = Value::Object(
        doc.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "versions" | "dist-tags" | "time"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    );
    let mut kept: Vec<String> = Vec::new();
    let mut versions = Map::new();
    if let Some(m) = doc["versions"].as_object() {
        for (v, d) in m {
            if !keep(v) {
                continue;
            }
            let mut d = d.clone();
            if let Some(t) = d["dist"]["tarball"].as_str() {
                let file = t.rsplit('/').next().unwrap_or("").to_string();
                d["dist"]["tarball"] = Value::String(format!("{base}/{name}/-/{file}"));
            }
            versions.insert(v.clone(), d);
            kept.push(v.clone());
        }
    }
    out["versions"] = Value::Object(versions);
    let newest = |prerelease_ok: bool| -> Option<String> {
        kept.iter()
            .filter(|v| prerelease_ok || !v.contains('-'))
            .max_by(|a, b| semver_cmp(a, b))
            .cloned()
    };
    let mut to_queue = Vec::new();
    let mut queued: HashSet<String> = HashSet::new();
    let mut tags = Map::new();
    if let Some(t) = doc["dist-tags"].as_object() {
        for (tag, v) in t {
            let Some(v) = v.as_str() else { continue };
            if states.get(v).copied().unwrap_or(State2::Unknown) == State2::Unknown
                && doc["versions"].get(v).is_some()
                && queued.insert(v.to_string())
            {
                let integrity = doc["versions"][v]["dist"]["integrity"]
                    .as_str()
                    .map(String::from);
                to_queue.push((v.to_string(), integrity));
            }
            let target = if keep(v) {
                Some(v.to_string())
            } else {
                newest(false).or_else(|| newest(true))
            };
            if let Some(t) = target {
                tags.insert(tag.clone(), Value::String(t));
            }
        }
    }
    out["dist-tags"] = Value::Object(tags);
    // The newest releases are what clients ask for next: queue those never analyzed.
    let mut releases: Vec<&String> = doc["versions"]
        .as_object()
        .map(|m| m.keys().filter(|v| !v.contains('-')).collect())
        .unwrap_or_default();
    releases.sort_by(|a, b| semver_cmp(b, a));
    let tag_held = doc["dist-tags"].as_object().is_some_and(|t| {
        t.values()
            .any(|v| v.as_str().is_some_and(|v| held.contains(v)))
    });
    // A held dist-tag falls back to the newest release old enough: clients get that.
    let fallback = releases
        .iter()
        .find(|v| !held.contains(v.as_str()))
        .filter(|_| tag_held)
        .map(|v| v.to_string());
    for v in fallback.iter().chain(releases.into_iter().take(prefetch)) {
        if states.get(v.as_str()).copied().unwrap_or(State2::Unknown) == State2::Unknown
            && queued.insert(v.clone())
        {
            let integrity = doc["versions"][v.as_str()]["dist"]["integrity"]
                .as_str()
                .map(String::from);
            to_queue.push((v.clone(), integrity));
        }
    }
    if let Some(time) = doc["time"].as_object() {
        let t: Map<String, Value> = time
            .iter()
            .filter(|(k, _)| matches!(k.as_str(), "created" | "modified") || kept.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out["time"] = Value::Object(t);
    }
    (out, to_queue)
}

/// Compares two semver strings (numeric core, then prerelease: a release is newer).
pub fn semver_cmp(a: &str, b: &str) -> CmpOrdering {
    fn split(v: &str) -> (Vec<u64>, Option<&str>) {
        let v = v.split('+').next().unwrap_or(v);
        let (core, pre) = match v.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (v, None),
        };
        (
            core.split('.').map(|n| n.parse().unwrap_or(0)).collect(),
            pre,
        )
    }
    let (ca, pa) = split(a);
    let (cb, pb) = split(b);
    ca.cmp(&cb).then_with(|| match (pa, pb) {
        (None, None) => CmpOrdering::Equal,
        (None, Some(_)) => CmpOrdering::Greater,
        (Some(_), None) => CmpOrdering::Less,
        (Some(x), Some(y)) => {
            let (xs, ys): (Vec<&str>, Vec<&str>) = (x.split('.').collect(), y.split('.').collect());
            for (p, q) in xs.iter().zip(&ys) {
                let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => CmpOrdering::Less,
                    (Err(_), Ok(_)) => CmpOrdering::Greater,
                    _ => p.cmp(q),
                };
                if o != CmpOrdering::Equal {
                    return o;
                }
            }
            xs.len().cmp(&ys.len())
        }
    })
}

/// Queues the analysis of a version unless it is already pending. Returns false when the
/// queue is full.
async fn queue_version(app: &Shared, name: &str, version: &str, integrity: Option<&str>) -> bool {
    let key = pending_key("npm", name, version);
    if app
        .pending
        .lock()
        .map(|p| p.contains_key(&key))
        .unwrap_or(false)
    {
        return true;
    }
    let mut payload =
        json!({ "ecosystem": "npm", "name": name, "version": version, "source": "proxy" });
    if let Some(i) = integrity {
        payload["integrity"] = Value::String(i.to_string());
    }
    let r = super::api::enqueue(app, payload, None).await;
    if r.status() == StatusCode::TOO_MANY_REQUESTS {
        return false;
    }
    tracing::info!(package = %format!("{name}@{version}"), "queued by the proxy");
    true
}

async fn tarball(app: &Shared, upstream: &str, name: &str, file: &str) -> Response {
    let doc = match upstream_packument(app, upstream, name, true).await {
        Ok(d) => d,
        Err(Upstream(code, msg)) => {
            app.metrics.proxy("tarball", "upstream-error");
            return error(code, msg);
        }
    };
    let found = doc["versions"].as_object().and_then(|m| {
        m.iter().find(|(_, d)| {
            d["dist"]["tarball"]
                .as_str()
                .is_some_and(|t| t.rsplit('/').next() == Some(file))
        })
    });
    let Some((version, vdoc)) = found else {
        app.metrics.proxy("tarball", "not-found");
        return error(
            StatusCode::NOT_FOUND,
            "no version of this package has that tarball",
        );
    };
    let version = version.clone();
    let integrity = vdoc["dist"]["integrity"].as_str().map(String::from);
    let shasum = vdoc["dist"]["shasum"].as_str().map(String::from);
    let upstream_url = vdoc["dist"]["tarball"].as_str().unwrap_or("").to_string();
    let (a, n, v, i) = (
        app.clone(),
        name.to_string(),
        version.clone(),
        integrity.clone(),
    );
    let hit = blocking(move || {
        let mut h = store_glue::lookup_current(&a.store, &a.rules, MIRRORED, &n, &v, i.as_deref())?;
        if let Some(h) = h.as_mut() {
            h.verdict = waived_verdict(&a, &n, &v, h)?;
        }
        let findings = match &h {
            Some(h) if h.verdict != Verdict::Benign => a
                .store
                .show(&ArtifactQuery {
                    ecosystem: MIRRORED,
                    name: n.clone(),
                    version: v.clone(),
                    hash: i.clone(),
                })?
                .map(|d| store_glue::top_findings(&d.report, 5))
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Ok((h, findings))
    })
    .await;
    let (hit, findings) = match hit {
        Ok(x) => x,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    };
    // The release-age gate: a version too young is refused whatever its verdict (unless
    // that verdict refuses it already, with its own reason), and queued meanwhile.
    let clean_or_unknown = match hit.as_ref().map(|h| h.verdict) {
        None | Some(Verdict::Benign) => true,
        Some(Verdict::Suspicious) => app.args.allow_suspicious,
        Some(_) => false,
    };
    if let (Some(g), true) = (app.args.release_age.gate(), clean_or_unknown) {
        let held = match held_versions(app, upstream, name, &doc, &g).await {
            Ok(h) => h,
            Err(Upstream(code, msg)) => {
                app.metrics.proxy("tarball", "upstream-error");
                return error(code, msg);
            }
        };
        if let Some(age) = held.get(&version) {
            if hit.is_none() {
                queue_version(app, name, &version, integrity.as_deref()).await;
            }
            app.metrics.proxy("tarball", "too-young");
            return (
                StatusCode::FORBIDDEN,
                axum::Json(json!({
                    "error": format!(
                        "{name}@{version} is held by the release-age gate (--min-age {}): {}",
                        g.min_age,
                        age.message.as_deref().unwrap_or("too young")
                    ),
                    "status": "too-young",
                    "release": age,
                })),
            )
                .into_response();
        }
    }
    let serve = match hit.as_ref().map(|h| h.verdict) {
        Some(Verdict::Benign) => true,
        Some(Verdict::Suspicious) if app.args.allow_suspicious => true,
        Some(v) => {
            app.metrics.proxy(
                "tarball",
                if v == Verdict::Malicious {
                    "malicious"
                } else {
                    "refused"
                },
            );
            return (
                StatusCode::FORBIDDEN,
                axum::Json(json!({
                    "error": format!("{name}@{version} is quarantined: airlock judged it {v}"),
                    "verdict": v,
                    "reason": findings,
                })),
            )
                .into_response();
        }
        None => {
            let open = app.args.fail_open && !app.analyzer_up.load(Ordering::Relaxed);
            if !open {
                let queued = queue_version(app, name, &version, integrity.as_deref()).await;
                app.metrics.proxy("tarball", "pending");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, if queued { "10" } else { "60" })],
                    axum::Json(json!({
                        "error": format!("{name}@{version} is being analyzed; retry later"),
                        "status": if queued { "pending" } else { "queue-full" },
                    })),
                )
                    .into_response();
            }
            false
        }
    };
    if !serve {
        app.metrics.proxy("tarball", "fail-open");
    }
    let url = if same_origin(&upstream_url, upstream) {
        upstream_url
    } else {
        format!("{upstream}/{name}/-/{file}")
    };
    let cache = app.tarballs.join(format!(
        "{}.tgz",
        hex::encode(sha2::Sha256::digest(
            format!("{name}@{version}|{}", integrity.as_deref().unwrap_or("")).as_bytes()
        ))
    ));
    let r = blocking(move || cached_tarball(&cache, &url, integrity.as_deref(), shasum.as_deref()))
        .await;
    match r {
        Ok(bytes) => {
            if serve {
                app.metrics.proxy("tarball", "served");
            }
            (
                [(header::CONTENT_TYPE, "application/octet-stream")],
                Body::from(bytes),
            )
                .into_response()
        }
        Err(e) => {
            app.metrics.proxy("tarball", "upstream-error");
            error(StatusCode::BAD_GATEWAY, format!("{e:#}"))
        }
    }
}

/// `url` is on the upstream (same scheme, host and port, under its path).
fn same_origin(url: &str, upstream: &str) -> bool {
    url.starts_with(&format!("{upstream}/"))
}

/// The tarball from the local cache, or fetched from the upstream, checked against the
/// packument's integrity (which is what the analysis checked), and cached.
fn cached_tarball(
    cache: &std::path::Path,
    url: &str,
    integrity: Option<&str>,
    shasum: Option<&str>,
) -> anyhow::Result<Vec<u8>> {
    if let Ok(b) = std::fs::read(cache) {
        if check_integrity(&b, integrity, shasum) {
            return Ok(b);
        }
    }
    let resp = upstream_get(url).call()?;
    let mut bytes = Vec::new();
    resp.into_reader().take(512 << 20).read_to_end(&mut bytes)?;
    if !check_integrity(&bytes, integrity, shasum) {
        anyhow::bail!("the upstream tarball {url} does not match the packument's integrity");
    }
    let tmp = cache.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, cache)?;
    Ok(bytes)
}

/// Checks bytes against an SRI string (every hash of a supported algorithm must match)
/// or, failing that, a sha1 hex shasum. No hash at all fails.
pub fn check_integrity(bytes: &[u8], integrity: Option<&str>, shasum: Option<&str>) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(sri) = integrity {
        let mut checked = 0;
        for h in sri.split_whitespace() {
            let Some((alg, digest)) = h.split_once('-') else {
                continue;
            };
            let digest = digest.split('?').next().unwrap_or(digest);
            let got = match alg {
                "sha512" => b64.encode(sha2::Sha512::digest(bytes)),
                "sha384" => b64.encode(sha2::Sha384::digest(bytes)),
                "sha256" => b64.encode(sha2::Sha256::digest(bytes)),
                _ => continue,
            };
            if got != digest {
                return false;
            }
            checked += 1;
        }
        if checked > 0 {
            return true;
        }
    }
    if let Some(sum) = shasum {
        use sha1::Digest as _;
        return hex::encode(sha1::Sha1::digest(bytes)).eq_ignore_ascii_case(sum);
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("/left-pad"),
            Some(Target::Packument("left-pad".into()))
        );
        assert_eq!(
            parse_target("/@s%2fx"),
            Some(Target::Packument("@s/x".into()))
        );
        assert_eq!(
            parse_target("/@s/x"),
            Some(Target::Packument("@s/x".into()))
        );
        assert_eq!(
            parse_target("/@s/x/-/x-1.0.0.tgz"),
            Some(Target::Tarball {
                name: "@s/x".into(),
                file: "x-1.0.0.tgz".into()
            })
        );
        assert_eq!(parse_target("/a/b"), None);
        assert_eq!(parse_target("/../etc/passwd"), None);
        assert_eq!(parse_target("/a/-/../../x.tgz"), None);
        assert_eq!(parse_target("/http:%2f%2fevil"), None);
    }

    #[test]
    fn semver_order() {
        assert_eq!(semver_cmp("1.10.0", "1.9.0"), CmpOrdering::Greater);
        assert_eq!(semver_cmp("1.0.0-beta.2", "1.0.0"), CmpOrdering::Less);
        assert_eq!(
            semver_cmp("1.0.0-beta.10", "1.0.0-beta.2"),
            CmpOrdering::Greater
        );
        assert_eq!(semver_cmp("2.0.0", "2.0.0+build"), CmpOrdering::Equal);
    }

    #[test]
    fn filter_hides_and_repoints() {
        let doc = json!({
            "name": "p",
            "dist-tags": { "latest": "1.1.0", "next": "2.0.0-rc.1" },
            "versions": {
                "1.0.0": { "dist": { "tarball": "http://up/p/-/p-1.0.0.tgz", "integrity": "sha512-a" } },
                "1.1.0": { "dist": { "tarball": "http://up/p/-/p-1.1.0.tgz", "integrity": "sha512-b" } },
                "2.0.0-rc.1": { "dist": { "tarball": "http://up/p/-/p-2.0.0-rc.1.tgz" } }
            },
            "time": { "created": "x", "1.0.0": "t0", "1.1.0": "t1" }
        });
        let mut states = HashMap::new();
        states.insert("1.0.0".to_string(), State2::Clean);
        states.insert("1.1.0".to_string(), State2::Bad(Verdict::Malicious));
        let (out, q) = filter(
            "p",
            &doc,
            &states,
            &HashSet::new(),
            "http://proxy",
            false,
            0,
        );
        assert_eq!(out["dist-tags"]["latest"], "1.0.0");
        assert_eq!(out["dist-tags"]["next"], "1.0.0");
        assert!(out["versions"].get("1.1.0").is_none());
        assert!(out["versions"].get("2.0.0-rc.1").is_none());
        assert_eq!(
            out["versions"]["1.0.0"]["dist"]["tarball"],
            "http://proxy/p/-/p-1.0.0.tgz"
        );
        assert!(out["time"].get("1.1.0").is_none());
        assert_eq!(q, vec![("2.0.0-rc.1".to_string(), None)]);
        // failing open keeps the unknown version, never the malicious one
        let (out, _) = filter("p", &doc, &states, &HashSet::new(), "http://proxy", true, 0);
        assert!(out["versions"].get("2.0.0-rc.1").is_some());
        assert!(out["versions"].get("1.1.0").is_none());
    }

    #[test]
    fn filter_hides_young_versions_and_queues_them() {
        // latest (1.2.0) is clean but too young, 1.1.0 old enough but never analyzed,
        // 1.0.0 old and clean.
        let doc = json!({
            "name": "p",
            "dist-tags": { "latest": "1.2.0" },
            "versions": {
                "1.0.0": { "dist": { "tarball": "http://up/p/-/p-1.0.0.tgz", "integrity": "sha512-a" } },
                "1.1.0": { "dist": { "tarball": "http://up/p/-/p-1.1.0.tgz", "integrity": "sha512-b" } },
                "1.2.0": { "dist": { "tarball": "http://up/p/-/p-1.2.0.tgz", "integrity": "sha512-c" } }
            },
            "time": {
                "created": "2020-01-01T00:00:00Z",
                "1.0.0": "2020-01-01T00:00:00Z",
                "1.1.0": "2026-11-01T00:00:00Z",
                "1.2.0": "2026-12-02T11:00:00Z"
            }
        });
        let gate = ReleaseGate {
            min_age: "2d".parse().unwrap(),
            strict: false,
            now: "2026-12-02T12:00:00Z".parse().unwrap(),
        };
        let times = airlock_ecosystem::npm::packument::publish_times(&doc);
        let held: HashSet<String> = ["1.0.0", "1.1.0", "1.2.0"]
            .into_iter()
            .filter(|v| gate.holds(gate.judge(times.get(*v).copied())))
            .map(String::from)
            .collect();
        assert_eq!(held, HashSet::from(["1.2.0".to_string()]));
        let mut states = HashMap::new();
        states.insert("1.0.0".to_string(), State2::Clean);
        states.insert("1.2.0".to_string(), State2::Clean);
        let (out, q) = filter("p", &doc, &states, &held, "http://proxy", false, 0);
        let versions: Vec<&String> = out["versions"].as_object().unwrap().keys().collect();
        assert_eq!(versions, ["1.0.0"]);
        assert_eq!(out["dist-tags"]["latest"], "1.0.0");
        assert!(out["time"].get("1.2.0").is_none());
        // The young latest has a verdict already; the release it falls back to is queued.
        assert_eq!(q, vec![("1.1.0".to_string(), Some("sha512-b".to_string()))]);
        // Failing open never shows a held version either.
        let (out, _) = filter("p", &doc, &states, &held, "http://proxy", true, 0);
        assert!(out["versions"].get("1.2.0").is_none());
        assert!(out["versions"].get("1.1.0").is_some());
        // Unanalyzed and young: queued all the same, so its verdict is ready in time.
        states.remove("1.2.0");
        let (_, q) = filter("p", &doc, &states, &held, "http://proxy", false, 0);
        assert!(q.iter().any(|(v, _)| v == "1.2.0"), "{q:?}");
    }

    #[test]
    fn integrity() {
        let b = b"hello";
        let sri = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(b))
        );
        assert!(check_integrity(b, Some(&sri), None));
        assert!(!check_integrity(b"other", Some(&sri), None));
        assert!(!check_integrity(b, None, None));
        assert!(check_integrity(
            b,
            None,
            Some("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")
        ));
    }
}
