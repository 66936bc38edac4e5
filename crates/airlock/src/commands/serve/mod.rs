//! `airlock serve`: the pre-ingest service a registry mirror calls before it takes in a
//! version, and (with `--npm-upstream`) a quarantining npm registry proxy.
//!
//! Embedded mode (one host): submissions become jobs in the store's durable, bounded
//! queue (429 beyond the bound, and queued work survives a restart); `--concurrency`
//! workers claim them and run the usual analysis, recording every verdict in the store.
//! Queue mode (`--queue nats://…`, usually with `--database postgres://…`): the service
//! only records and publishes jobs and reads results; `airlock worker`s on any number of
//! hosts run them (commands/worker.rs), and `/metrics` shows the queue engine's depth,
//! in-flight jobs, dead letters and each worker's count. The proxy hides every version
//! without a clean verdict from packuments and refuses their tarballs (403 when
//! malicious, 503 + Retry-After while the analysis is pending); with `--min-age` also
//! every version younger than that (403, queued all the same). The server only ever
//! fetches from its configured upstreams and from webhook URLs the operator allowed.

mod api;
pub mod jobs;
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

use airlock_queue::job::job_key;
use airlock_queue::JobQueue;
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
    /// The work-queue engine, `nats://host:4222` (NATS JetStream): this service then only
    /// records and publishes jobs, and `airlock worker`s run them. (A plain number is the
    /// older spelling of --queue-limit.)
    #[arg(long, env = "AIRLOCK_QUEUE", value_name = "URL", value_parser = parse_queue)]
    pub queue: Option<QueueArg>,
    /// Most jobs waiting in the queue (with an engine: stored, waiting or running);
    /// submissions beyond get 429.
    #[arg(long, default_value_t = 256)]
    pub queue_limit: u64,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
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
    #[command(flatten)]
    pub sandbox: crate::commands::sandbox_args::SandboxArgs,
    /// The mirror's waivers (the proxy's refusals honour them; stored verdicts stay
    /// unwaived, see `airlock_rules::waiver`).
    #[command(flatten)]
    pub waivers: crate::judging::WaiverArgs,
    /// Proxy: the release-age gate (`--min-age`, `--min-age-strict`).
    #[command(flatten)]
    pub release_age: crate::commands::wrap::ReleaseAgeArgs,
}

/// `--queue`: an engine URL, or (older spelling) the queue bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueArg {
    Url(String),
    Limit(u64),
}

fn parse_queue(s: &str) -> Result<QueueArg, String> {
    if let Ok(n) = s.parse::<u64>() {
        return Ok(QueueArg::Limit(n));
    }
    if s.contains("://") {
        return Ok(QueueArg::Url(s.to_string()));
    }
    Err(format!(
        "{s:?} is neither a queue URL (nats://host:port) nor a number"
    ))
}

/// Delivery settings of the queue engine, shared by `serve` and `worker` (whichever
/// connects first creates the consumer with them; later ones use the consumer's).
#[derive(clap::Args, Debug, Clone)]
pub struct DeliveryArgs {
    /// Queue mode: seconds a worker may hold a job without a sign of life (it extends
    /// the deadline while its sandbox runs); then the job goes to another worker.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub ack_wait: u64,
    /// Queue mode: attempts a job gets before it goes to the dead letters.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: u32,
}

impl DeliveryArgs {
    pub fn nats_options(&self, max_queued: Option<u64>) -> airlock_queue::NatsOptions {
        airlock_queue::NatsOptions {
            ack_wait: Duration::from_secs(self.ack_wait.max(1)),
            max_attempts: self.max_attempts.max(1),
            max_queued,
            ..Default::default()
        }
    }
}

/// Shared state of the server.
pub struct App {
    pub args: ServeArgs,
    pub store: Arc<Store>,
    pub rules: Arc<Ruleset>,
    pub metrics: metrics::Metrics,
    /// Wakes idle workers when a job is queued.
    pub wake: tokio::sync::Notify,
    /// Analyses queued or running, by `ecosystem:name@version` (the proxy's "pending").
    pub pending: Mutex<HashMap<String, JobId>>,
    /// Whether the Docker engine answered the last health check.
    pub analyzer_up: AtomicBool,
    /// Runs jobs (embedded mode) and keeps uploads (both modes).
    pub runner: Arc<jobs::Runner>,
    /// The work-queue engine (queue mode).
    pub queue: Option<Arc<dyn JobQueue>>,
    /// The queue bound.
    pub queue_limit: u64,
    pub tarballs: PathBuf,
    pub packuments: proxy::PackumentCache,
    /// `--waivers` (or `airlock.toml` where serve was started), applied when the proxy
    /// decides.
    pub waivers: Option<Arc<airlock_rules::Waivers>>,
}

pub type Shared = Arc<App>;

pub use airlock_queue::job::pending_key;

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
    let waivers = args
        .waivers
        .load(&std::env::current_dir()?, &rules)?
        .map(Arc::new);
    let store = {
        let sa = args.store.clone();
        tokio::task::spawn_blocking(move || sa.open()).await??
    };
    let data = match (&args.data_dir, &args.store.database) {
        (Some(d), _) => d.clone(),
        (None, None) => args.store.path()?.with_extension("serve"),
        (None, Some(_)) => args
            .store
            .path()?
            .parent()
            .map(|p| p.join("serve"))
            .unwrap_or_else(|| PathBuf::from("airlock-serve")),
    };
    let uploads = data.join("uploads");
    let tarballs = data.join("tarballs");
    for d in [&uploads, &tarballs] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let (queue_url, queue_limit) = match &args.queue {
        Some(QueueArg::Url(u)) => (Some(u.clone()), args.queue_limit),
        Some(QueueArg::Limit(n)) => (None, *n),
        None => (None, args.queue_limit),
    };
    let queue = match &queue_url {
        Some(url) => Some(
            airlock_queue::connect(url, args.delivery.nats_options(Some(queue_limit)))
                .await
                .with_context(|| format!("connecting to the queue {url}"))?,
        ),
        None => {
            // Embedded mode: this service owns every running job of the store.
            let requeued = store.requeue_running(3)?;
            if requeued.requeued + requeued.failed > 0 {
                eprintln!(
                    "airlock: {} interrupted job(s) queued again, {} given up",
                    requeued.requeued, requeued.failed
                );
            }
            None
        }
    };
    let npm_registry = args
        .npm_registry
        .clone()
        .or_else(|| args.npm_upstream.clone())
        .unwrap_or_else(|| airlock_ecosystem::npm::DEFAULT_REGISTRY.to_string())
        .trim_end_matches('/')
        .to_string();
    let scan = args
        .sandbox
        .scan_options(npm_registry, args.pypi_index.clone());
    let mut pending = HashMap::new();
    for j in store.live_jobs()? {
        if let Some(k) = job_key(&j.payload) {
            pending.insert(k, j.id);
        }
    }
    let store = Arc::new(store);
    let rules = Arc::new(rules);
    let runner = Arc::new(jobs::Runner {
        store: store.clone(),
        rules: rules.clone(),
        scan,
        uploads: match &queue {
            Some(q) => jobs::Uploads::Queue {
                queue: q.clone(),
                scratch: uploads.clone(),
            },
            None => jobs::Uploads::Dir(uploads.clone()),
        },
        webhook_allow: args.webhook_allow.clone(),
    });
    let app: Shared = Arc::new(App {
        metrics: metrics::Metrics::default(),
        wake: tokio::sync::Notify::new(),
        pending: Mutex::new(pending),
        analyzer_up: AtomicBool::new(false),
        packuments: proxy::PackumentCache::new(Duration::from_secs(args.packument_ttl)),
        runner,
        queue: queue.clone(),
        queue_limit,
        tarballs,
        store,
        rules,
        waivers,
        args: args.clone(),
    });
    let tracker = airlock_sandbox::Tracker::new();
    let workers = if app.queue.is_some() {
        tokio::spawn(queue_health(app.clone()));
        tokio::spawn(sync_pending(app.clone()));
        0
    } else {
        tokio::spawn(health(app.clone()));
        args.concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
    };
    let handles: Vec<_> = (0..workers)
        .map(|n| tokio::spawn(worker::run(app.clone(), tracker.clone(), n)))
        .collect();
    let router = router(app.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let mode = match &queue_url {
        Some(u) => format!("jobs on {u} for airlock workers"),
        None => format!("{workers} worker(s)"),
    };
    eprintln!(
        "airlock: serving on http://{addr} ({mode}, verdicts in {}, queue bound {queue_limit}{})",
        app.store.location(),
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

/// Queue mode: `analyzer_up` says whether the queue engine answers (the analyzers are
/// the workers, which the queue feeds).
async fn queue_health(app: Shared) {
    let Some(queue) = app.queue.clone() else {
        return;
    };
    loop {
        let up = queue.stats().await.is_ok();
        let was = app.analyzer_up.swap(up, Ordering::Relaxed);
        if was != up {
            tracing::warn!(up, "queue engine state changed");
        }
        tokio::time::sleep(Duration::from_secs(if up { 5 } else { 2 })).await;
    }
}

/// Queue mode: workers finish jobs elsewhere, so the view of pending analyses is rebuilt
/// from the job records; when one finished, filtered packuments are stale.
async fn sync_pending(app: Shared) {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let store = app.store.clone();
        let live = match blocking(move || Ok(store.live_jobs()?)).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot read the live jobs");
                continue;
            }
        };
        let fresh: HashMap<String, JobId> = live
            .iter()
            .filter_map(|j| job_key(&j.payload).map(|k| (k, j.id)))
            .collect();
        let changed = match app.pending.lock() {
            Ok(mut p) => {
                let gone = p.keys().any(|k| !fresh.contains_key(k));
                *p = fresh;
                gone
            }
            Err(_) => false,
        };
        if changed {
            app.packuments.bump();
        }
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
    fn queue_flag_takes_an_engine_url_or_the_older_bound() {
        assert_eq!(parse_queue("256"), Ok(QueueArg::Limit(256)));
        assert_eq!(
            parse_queue("nats://127.0.0.1:4222"),
            Ok(QueueArg::Url("nats://127.0.0.1:4222".into()))
        );
        assert!(parse_queue("fast").is_err());
    }

    #[test]
    fn token_compare() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
