//! `/metrics` in the Prometheus text format: queue depth (read from the store, so it is
//! right across restarts), analyses by verdict, a histogram of sandbox analysis
//! durations, rejected submissions, proxy decisions and webhook deliveries. In queue
//! mode the depth, in-flight jobs and dead letters are the engine's, and the per-worker
//! job counts (whose rate is each worker's throughput) and redeliveries come from the
//! job records that every `airlock worker` writes.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use airlock_events::Verdict;
use airlock_queue::QueueStats;
use airlock_store::WorkerCount;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{blocking, Shared};

/// Upper bounds of the duration histogram, in seconds.
const BUCKETS: [f64; 11] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

#[derive(Default)]
struct Inner {
    by_verdict: BTreeMap<&'static str, u64>,
    failed: u64,
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
    rejected: BTreeMap<&'static str, u64>,
    proxy: BTreeMap<(&'static str, &'static str), u64>,
    webhooks: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        if let Ok(mut i) = self.inner.lock() {
            f(&mut i);
        }
    }

    /// A finished job; `took` is set for real sandbox analyses (not cache hits).
    pub fn analysis(&self, verdict: Verdict, took: Option<Duration>) {
        self.with(|i| {
            *i.by_verdict.entry(verdict.as_str()).or_default() += 1;
            if let Some(d) = took {
                let s = d.as_secs_f64();
                for (b, le) in i.buckets.iter_mut().zip(BUCKETS) {
                    if s <= le {
                        *b += 1;
                    }
                }
                i.sum += s;
                i.count += 1;
            }
        });
    }

    pub fn failed(&self) {
        self.with(|i| i.failed += 1);
    }

    pub fn rejected(&self, reason: &'static str) {
        self.with(|i| *i.rejected.entry(reason).or_default() += 1);
    }

    pub fn proxy(&self, kind: &'static str, outcome: &'static str) {
        self.with(|i| *i.proxy.entry((kind, outcome)).or_default() += 1);
    }

    pub fn webhook(&self, ok: bool) {
        self.with(|i| {
            *i.webhooks
                .entry(if ok { "ok" } else { "failed" })
                .or_default() += 1
        });
    }

    pub fn render(&self, queued: u64, running: u64, analyzer_up: bool) -> String {
        let mut o = String::new();
        let i = match self.inner.lock() {
            Ok(i) => i,
            Err(e) => e.into_inner(),
        };
        let _ = writeln!(
            o,
            "# HELP airlock_queue_depth Jobs in the durable queue by state."
        );
        let _ = writeln!(o, "# TYPE airlock_queue_depth gauge");
        let _ = writeln!(o, "airlock_queue_depth{{state=\"queued\"}} {queued}");
        let _ = writeln!(o, "airlock_queue_depth{{state=\"running\"}} {running}");
        let _ = writeln!(
            o,
            "# HELP airlock_analyzer_up Whether the Docker engine answers."
        );
        let _ = writeln!(o, "# TYPE airlock_analyzer_up gauge");
        let _ = writeln!(o, "airlock_analyzer_up {}", analyzer_up as u8);
        let _ = writeln!(
            o,
            "# HELP airlock_analyses_total Finished jobs by verdict (cache hits included)."
        );
        let _ = writeln!(o, "# TYPE airlock_analyses_total counter");
        for v in [
            "benign",
            "suspicious",
            "malicious",
            "error",
            "timed-out",
            "not-evaluated",
        ] {
            let n = i.by_verdict.get(v).copied().unwrap_or(0);
            let _ = writeln!(o, "airlock_analyses_total{{verdict=\"{v}\"}} {n}");
        }
        let _ = writeln!(
            o,
            "# HELP airlock_jobs_failed_total Jobs that failed without a verdict."
        );
        let _ = writeln!(o, "# TYPE airlock_jobs_failed_total counter");
        let _ = writeln!(o, "airlock_jobs_failed_total {}", i.failed);
        let _ = writeln!(
            o,
            "# HELP airlock_analysis_duration_seconds Sandbox analysis time per job."
        );
        let _ = writeln!(o, "# TYPE airlock_analysis_duration_seconds histogram");
        for (b, le) in i.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                o,
                "airlock_analysis_duration_seconds_bucket{{le=\"{le}\"}} {b}"
            );
        }
        let _ = writeln!(
            o,
            "airlock_analysis_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            i.count
        );
        let _ = writeln!(o, "airlock_analysis_duration_seconds_sum {}", i.sum);
        let _ = writeln!(o, "airlock_analysis_duration_seconds_count {}", i.count);
        let _ = writeln!(
            o,
            "# HELP airlock_submissions_rejected_total Submissions refused, by reason."
        );
        let _ = writeln!(o, "# TYPE airlock_submissions_rejected_total counter");
        let _ = writeln!(
            o,
            "airlock_submissions_rejected_total{{reason=\"queue_full\"}} {}",
            i.rejected.get("queue_full").copied().unwrap_or(0)
        );
        for (r, n) in i.rejected.iter().filter(|(r, _)| **r != "queue_full") {
            let _ = writeln!(
                o,
                "airlock_submissions_rejected_total{{reason=\"{r}\"}} {n}"
            );
        }
        let _ = writeln!(
            o,
            "# HELP airlock_proxy_responses_total Proxy answers by request kind and outcome."
        );
        let _ = writeln!(o, "# TYPE airlock_proxy_responses_total counter");
        for ((k, out), n) in &i.proxy {
            let _ = writeln!(
                o,
                "airlock_proxy_responses_total{{kind=\"{k}\",outcome=\"{out}\"}} {n}"
            );
        }
        let _ = writeln!(
            o,
            "# HELP airlock_webhooks_total Webhook deliveries by result."
        );
        let _ = writeln!(o, "# TYPE airlock_webhooks_total counter");
        for (r, n) in &i.webhooks {
            let _ = writeln!(o, "airlock_webhooks_total{{result=\"{r}\"}} {n}");
        }
        o
    }
}

/// The queue-mode section: the engine's view, then each worker's finished jobs.
pub fn render_queue(stats: Option<&QueueStats>, workers: &[WorkerCount]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# HELP airlock_queue_up Whether the queue engine answered this scrape."
    );
    let _ = writeln!(o, "# TYPE airlock_queue_up gauge");
    let _ = writeln!(o, "airlock_queue_up {}", stats.is_some() as u8);
    if let Some(s) = stats {
        let _ = writeln!(
            o,
            "# HELP airlock_queue_in_flight Jobs delivered to a worker and not yet acknowledged."
        );
        let _ = writeln!(o, "# TYPE airlock_queue_in_flight gauge");
        let _ = writeln!(o, "airlock_queue_in_flight {}", s.in_flight);
        let _ = writeln!(
            o,
            "# HELP airlock_queue_redelivered Jobs in flight that are redeliveries."
        );
        let _ = writeln!(o, "# TYPE airlock_queue_redelivered gauge");
        let _ = writeln!(o, "airlock_queue_redelivered {}", s.redelivered);
        let _ = writeln!(
            o,
            "# HELP airlock_queue_dead_letters Jobs in the dead-letter stream."
        );
        let _ = writeln!(o, "# TYPE airlock_queue_dead_letters gauge");
        let _ = writeln!(o, "airlock_queue_dead_letters {}", s.dead_letters);
    }
    let _ = writeln!(
        o,
        "# HELP airlock_worker_jobs_total Jobs each worker finished, by outcome (rate = throughput)."
    );
    let _ = writeln!(o, "# TYPE airlock_worker_jobs_total counter");
    for w in workers {
        let name = w.worker.replace(['\\', '"', '\n'], "_");
        let _ = writeln!(
            o,
            "airlock_worker_jobs_total{{worker=\"{name}\",outcome=\"done\"}} {}",
            w.done
        );
        let _ = writeln!(
            o,
            "airlock_worker_jobs_total{{worker=\"{name}\",outcome=\"failed\"}} {}",
            w.failed
        );
    }
    let _ = writeln!(
        o,
        "# HELP airlock_worker_jobs_per_minute Jobs each worker finished done, per minute over the last 10 minutes."
    );
    let _ = writeln!(o, "# TYPE airlock_worker_jobs_per_minute gauge");
    let window_min = airlock_store::THROUGHPUT_WINDOW_MS as f64 / 60_000.0;
    for w in workers {
        let name = w.worker.replace(['\\', '"', '\n'], "_");
        let _ = writeln!(
            o,
            "airlock_worker_jobs_per_minute{{worker=\"{name}\"}} {}",
            w.done_recently as f64 / window_min
        );
    }
    let _ = writeln!(
        o,
        "# HELP airlock_job_redeliveries_total Deliveries beyond the first, over all jobs."
    );
    let _ = writeln!(o, "# TYPE airlock_job_redeliveries_total counter");
    let _ = writeln!(
        o,
        "airlock_job_redeliveries_total {}",
        workers.iter().map(|w| w.redeliveries).sum::<u64>()
    );
    o
}

pub async fn handler(State(app): State<Shared>) -> Response {
    let store = app.store.clone();
    let queued = app.queue.is_some();
    let r = blocking(move || {
        let workers = if queued {
            store.jobs_by_worker()?
        } else {
            Vec::new()
        };
        Ok((store.queue_depth()?, workers))
    })
    .await;
    let (d, workers) = match r {
        Ok(x) => x,
        Err(e) => return super::error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    };
    let up = app.analyzer_up.load(std::sync::atomic::Ordering::Relaxed);
    let body = match &app.queue {
        None => app.metrics.render(d.queued, d.running, up),
        Some(q) => {
            let stats = q.stats().await.ok();
            // The engine's depth when it answers; the job records' otherwise.
            let (waiting, running) = stats
                .map(|s| (s.waiting, s.in_flight))
                .unwrap_or((d.queued, d.running));
            let mut text = app.metrics.render(waiting, running, up);
            text.push_str(&render_queue(stats.as_ref(), &workers));
            text
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.analysis(Verdict::Benign, Some(Duration::from_secs(3)));
        m.analysis(Verdict::Malicious, Some(Duration::from_secs(40)));
        m.analysis(Verdict::Benign, None);
        let t = m.render(2, 1, true);
        assert!(t.contains("airlock_queue_depth{state=\"queued\"} 2"));
        assert!(t.contains("airlock_analyses_total{verdict=\"benign\"} 2"));
        assert!(t.contains("airlock_analysis_duration_seconds_bucket{le=\"5\"} 1"));
        assert!(t.contains("airlock_analysis_duration_seconds_bucket{le=\"60\"} 2"));
        assert!(t.contains("airlock_analysis_duration_seconds_count 2"));
    }

    #[test]
    fn queue_section() {
        let stats = QueueStats {
            waiting: 4,
            in_flight: 2,
            redelivered: 1,
            dead_letters: 3,
        };
        let w = vec![WorkerCount {
            worker: "host-a\"x".into(),
            done: 7,
            failed: 1,
            redeliveries: 2,
            done_recently: 5,
        }];
        let t = render_queue(Some(&stats), &w);
        assert!(t.contains("airlock_queue_up 1"));
        assert!(t.contains("airlock_queue_in_flight 2"));
        assert!(t.contains("airlock_queue_dead_letters 3"));
        assert!(t.contains("airlock_worker_jobs_total{worker=\"host-a_x\",outcome=\"done\"} 7"));
        assert!(t.contains("airlock_job_redeliveries_total 2"));
        assert!(t.contains("airlock_worker_jobs_per_minute{worker=\"host-a_x\"} 0.5"));
        assert!(render_queue(None, &[]).contains("airlock_queue_up 0"));
    }
}
