//! The service's own workers (embedded mode, no `--queue` engine): each claims the oldest
//! queued job from the store, runs it ([`super::jobs::Runner`]), finishes the job record
//! and calls its webhook. A job left running by a stopped service is queued again at
//! start-up, so no accepted submission is lost. With `--queue URL` the service runs no
//! workers; `airlock worker`s do (commands/worker.rs).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use airlock_queue::job::job_key;
use airlock_sandbox::{Docker, Tracker};

use super::{blocking, Shared};

pub async fn run(app: Shared, tracker: Tracker, n: usize) {
    let mut docker: Option<Docker> = None;
    loop {
        if !app.analyzer_up.load(Ordering::Relaxed) {
            docker = None;
            idle(&app).await;
            continue;
        }
        let d = match &docker {
            Some(d) => d.clone(),
            None => match airlock_sandbox::connect().await {
                Ok(d) => {
                    docker = Some(d.clone());
                    d
                }
                Err(e) => {
                    tracing::warn!(worker = n, error = %e, "no Docker engine");
                    idle(&app).await;
                    continue;
                }
            },
        };
        let store = app.store.clone();
        let job = match blocking(move || Ok(store.claim_next()?)).await {
            Ok(Some(j)) => j,
            Ok(None) => {
                idle(&app).await;
                continue;
            }
            Err(e) => {
                tracing::error!(worker = n, error = %e, "cannot claim a job");
                idle(&app).await;
                continue;
            }
        };
        tracing::info!(worker = n, job = %job.id, payload = %job.payload, "job claimed");
        let started = Instant::now();
        let outcome = app.runner.run(&d, &tracker, job.id, &job.payload).await;
        let elapsed = started.elapsed();
        let result = match &outcome {
            Ok(o) => Ok(o.doc.to_string()),
            Err(e) => Err(format!("{e:#}")),
        };
        // Filtered packuments made before this verdict are stale now.
        app.packuments.bump();
        if let Some(k) = job_key(&job.payload) {
            if let Ok(mut p) = app.pending.lock() {
                if p.get(&k) == Some(&job.id) {
                    p.remove(&k);
                }
            }
        }
        let store = app.store.clone();
        let id = job.id;
        let r2 = result.clone();
        let fin =
            blocking(move || Ok(store.finish(id, r2.as_deref().map_err(|e| e.as_str()))?)).await;
        if let Err(e) = fin {
            tracing::error!(job = %job.id, error = %e, "cannot finish the job");
        }
        match &outcome {
            Ok(o) => app
                .metrics
                .analysis(o.verdict, (!o.cached).then_some(elapsed)),
            Err(e) => {
                app.metrics.failed();
                tracing::warn!(job = %job.id, error = %format!("{e:#}"), "job failed");
            }
        }
        let hook = outcome.map(|o| o.doc).map_err(|e| format!("{e:#}"));
        if let Some(ok) = app.runner.webhook(job.id, &job.payload, &hook).await {
            app.metrics.webhook(ok);
        }
    }
}

async fn idle(app: &Shared) {
    tokio::select! {
        _ = app.wake.notified() => {}
        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
    }
}
