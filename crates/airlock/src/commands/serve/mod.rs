//! `airlock serve`: the pre-ingest service a registry mirror calls before it takes in a
//! version, and (with `--npm-upstream`) a quarantining npm registry proxy.
//!
//! Submissions become jobs in the store's durable, bounded queue (429 beyond the bound,
//! and queued work survives a restart); `--concurrency` workers claim them and run the
//! usual analysis, recording every verdict in the store. The proxy hides every version
//! without a clean verdict from packuments and refuses their tarballs (403 when
//! malicious, 503 + Retry-After while the analysis is pending). The server only ever
//! fetches from its configured upstreams and from webhook URLs the operator allowed.

mod api;
mod metrics;
mod openapi;
mod proxy;
mod worker;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_rules::Ruleset;
use airlock_store::{JobId, Store};
use anyhow::{Context, Result};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::store_glue::StoreArgs;
use crate::PersonaArg;
use airlock_engine::ScanOptions;

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8377")]
    pub listen: SocketAddr,
    /// Proxy mode: the npm registry to proxy (packuments filtered, tarballs quarantined).
    #[arg(long, value_name = "URL")]
    pub npm_upstream: Option<String>,
    /// The npm registry name@version submissions are fetched from (default: the proxy
    /// upstream, else the public registry).
    #[arg(long, value_name = "URL")]
    pub npm_registry: Option<String>,
    /// The PyPI index `pypi` submissions are fetched from.
    #[arg(long, value_name = "URL", default_value = airlock_ecosystem::pypi::DEFAULT_INDEX)]
    pub pypi_index: String,
    /// Require `Authorization: Bearer T` on every endpoint but /healthz and /openapi.json.
    #[arg(long, env = "AIRLOCK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Sandboxes run at once (default: the number of CPUs). 0 only accepts and queues
    /// (another `airlock serve` on the same store runs the jobs).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Most jobs waiting in the queue; submissions beyond get 429.
    #[arg(long, default_value_t = 256)]
    pub queue: u64,
    /// Proxy: pass packuments and tarballs through unfiltered while the analyzer (the
    /// Docker engine) is down, instead of refusing them.
    #[arg(long)]
    pub fail_open: bool,
    /// Proxy: also serve versions judged suspicious.
    #[arg(long)]
    pub allow_suspicious: bool,
    /// URL prefix webhooks may be sent to (repeatable); without one, webhooks are refused.
    #[arg(long = "webhook-allow", value_name = "URL_PREFIX")]
    pub webhook_allow: Vec<String>,
    /// Base URL clients reach this server at, for tarball links in packuments
    /// (default: http://<Host header>).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Largest tarball accepted by POST /v1/analyses, in MiB.
    #[arg(long, default_value_t = 64)]
    pub max_upload_mib: usize,
    /// Proxy: also queue the newest N releases of a package on its first packument
    /// request (besides the versions its dist-tags name).
    #[arg(long, default_value_t = 3)]
    pub prefetch: usize,
    /// Proxy: how long an upstream packument is reused, in seconds.
    #[arg(long, default_value_t = 60)]
    pub packument_ttl: u64,
    /// Where clean tarballs and uploads are kept (default: next to the store).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Rules directory (default: $AIRLOCK_RULES, else the ruleset built into airlock).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Time limit of each sandbox phase, in seconds.
    #[arg(long, default_value_t = 120)]
    pub phase_timeout: u64,
    #[arg(long, value_enum, default_value_t = PersonaArg::Ci)]
    pub persona: PersonaArg,
    #[arg(long, default_value_t = 20)]
    pub time_speedup: u32,
    #[arg(long, env = "AIRLOCK_IMAGE")]
    pub image: Option<String>,
}

/// Shared state of the server.
pub struct App {
    pub args: ServeArgs,
    pub store: Arc<Store>,
    pub rules: Arc<Ruleset>,
    pub scan: ScanOptions,
    pub metrics: metrics::Metrics,
    /// Wakes idle workers when a job is queued.
    pub wake: tokio::sync::Notify,
    /// Analyses queued or running, by `ecosystem:name@version` (the proxy's "pending").
    pub pending: Mutex<HashMap<String, JobId>>,
    /// Whether the Docker engine answered the last health check.
    pub analyzer_up: AtomicBool,
    pub uploads: PathBuf,
    pub tarballs: PathBuf,
    pub packuments: proxy::PackumentCache,
    /// The npm registry name@version analyses fetch from.
    pub npm_registry: String,
}

pub type Shared = Arc<App>;

pub fn pending_key(ecosystem: &str, name: &str, version: &str) -> String {
    format!("{ecosystem}:{name}@{version}")
}

pub async fn run(args: ServeArgs) -> u8 {
    match serve(args).await {
        Ok(()) => 0,
        Err(e) => {
            crate::commands::print_error(&e);
            2
        }
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let rules = crate::judging::load_rules(args.rules.as_deref())?;
    let store_path = args.store.path()?;
    let store = {
        let p = store_path.clone();
        tokio::task::spawn_blocking(move || Store::open(&p))
            .await?
            .with_context(|| format!("opening the store {}", store_path.display()))?
    };
    let data = match &args.data_dir {
        Some(d) => d.clone(),
        None => store_path.with_extension("serve"),
    };
    let uploads = data.join("uploads");
    let tarballs = data.join("tarballs");
    for d in [&uploads, &tarballs] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let requeued = store.requeue_running(3)?;
    if requeued.requeued + requeued.failed > 0 {
        eprintln!(
            "airlock: {} interrupted job(s) queued again, {} given up",
            requeued.requeued, requeued.failed
        );
    }
    let npm_registry = args
        .npm_registry
        .clone()
        .or_else(|| args.npm_upstream.clone())
        .unwrap_or_else(|| airlock_ecosystem::npm::DEFAULT_REGISTRY.to_string())
        .trim_end_matches('/')
        .to_string();
    let scan = ScanOptions {
        registry: npm_registry.clone(),
        pypi_index: args.pypi_index.clone(),
        phase_timeout: Duration::from_secs(args.phase_timeout),
        no_import: false,
        no_network: false,
        persona: Some(match args.persona {
            PersonaArg::Ci => airlock_bait::Persona::Ci,
            PersonaArg::Laptop => airlock_bait::Persona::Laptop,
        }),
        time_speedup: args.time_speedup.max(1),
        bare: false,
        image: args.image.clone(),
        os: Default::default(),
        exercise: Default::default(),
    };
    let mut pending = HashMap::new();
    for j in store.live_jobs()? {
        if let Some(k) = worker::job_key(&j.payload) {
            pending.insert(k, j.id);
        }
    }
    let app: Shared = Arc::new(App {
        metrics: metrics::Metrics::default(),
        wake: tokio::sync::Notify::new(),
        pending: Mutex::new(pending),
        analyzer_up: AtomicBool::new(false),
        packuments: proxy::PackumentCache::new(Duration::from_secs(args.packument_ttl)),
        uploads,
        tarballs,
        npm_registry,
        store: Arc::new(store),
        rules: Arc::new(rules),
        scan,
        args: args.clone(),
    });
    let tracker = airlock_sandbox::Tracker::new();
    tokio::spawn(health(app.clone()));
    let workers = args.concurrency.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let handles: Vec<_> = (0..workers)
        .map(|n| tokio::spawn(worker::run(app.clone(), tracker.clone(), n)))
        .collect();
    let router = router(app.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    eprintln!(
        "airlock: serving on http://{addr} ({workers} worker(s), queue bound {}{})",
        args.queue,
        match &args.npm_upstream {
            Some(u) => format!(", npm proxy of {u}"),
            None => String::new(),
        }
    );
    tokio::spawn(airlock_sandbox::reap_periodically(Duration::from_secs(30)));
    let signal = airlock_sandbox::shutdown_signal();
    let shutdown = async move {
        let _ = signal.await;
        eprintln!("airlock: stopping; removing sandboxes in flight (their jobs stay queued)");
        // Workers first: a job whose sandbox vanished under it would be finished as an
        // error; stopped here it stays `running` and is queued again at the next start.
        for h in &handles {
            h.abort();
        }
        tokio::task::yield_now().await;
        tracker.cleanup().await;
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving")?;
    Ok(())
}

pub fn router(app: Shared) -> Router {
    let limit = app.args.max_upload_mib.saturating_mul(1 << 20);
    let protected = Router::new()
        .route("/v1/analyses", post(api::submit))
        .route("/v1/analyses/{id}", get(api::status))
        .route("/v1/verdicts/{ecosystem}/{*rest}", get(api::verdict))
        .route("/metrics", get(metrics::handler))
        .fallback(proxy::handler)
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(app.clone(), auth));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi::handler))
        .merge(protected)
        .with_state(app)
}

async fn healthz(State(app): State<Shared>) -> Response {
    let up = app.analyzer_up.load(Ordering::Relaxed);
    let body = serde_json::json!({ "status": "ok", "analyzer": if up { "up" } else { "down" } });
    axum::Json(body).into_response()
}

/// Bearer-token check (when `--token` is set), in constant time.
async fn auth(State(app): State<Shared>, req: Request, next: Next) -> Response {
    if let Some(token) = &app.args.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same(given.as_bytes(), token.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(serde_json::json!({"error": "missing or wrong bearer token"})),
            )
                .into_response();
        }
    }
    next.run(req).await
}

fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Keeps `analyzer_up` current: the Docker engine must answer a ping.
async fn health(app: Shared) {
    let mut docker: Option<airlock_sandbox::Docker> = None;
    loop {
        let up = match &docker {
            Some(d) => d.ping().await.is_ok(),
            None => match airlock_sandbox::connect().await {
                Ok(d) => {
                    docker = Some(d);
                    true
                }
                Err(_) => false,
            },
        };
        if !up {
            docker = None;
        }
        let was = app.analyzer_up.swap(up, Ordering::Relaxed);
        if was != up {
            tracing::warn!(up, "analyzer (Docker engine) state changed");
            if up {
                app.wake.notify_waiters();
            }
        }
        tokio::time::sleep(Duration::from_secs(if up { 10 } else { 3 })).await;
    }
}

/// Runs blocking store work off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await?
}

/// A fresh file name for an upload.
pub fn unique_name() -> String {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{nanos:x}-{:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A JSON error response.
pub fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": msg.into() })),
    )
        .into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn token_compare() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
