//! The service's workers: each claims the oldest queued job from the store, analyzes it
//! (unless the store already holds a current verdict for that exact artifact), records
//! the run, finishes the job and calls its webhook. A job left running by a stopped
//! service is queued again at start-up, so no accepted submission is lost.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use airlock_events::{Ecosystem, Verdict};
use airlock_sandbox::{Docker, Tracker};
use airlock_store::Job;
use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};

use super::{blocking, pending_key, Shared};
use crate::{pipeline, store_glue};
use airlock_ecosystem::Input;

/// What a job asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// A registry artifact by name; `integrity` pins the bytes when known.
    Named {
        ecosystem: Ecosystem,
        name: String,
        version: String,
        integrity: Option<String>,
    },
    /// A tarball uploaded with the submission (a file in the uploads directory).
    Upload { file: String },
}

impl Work {
    pub fn from_payload(p: &Value) -> Result<Work> {
        if let Some(file) = p.get("upload").and_then(|f| f.as_str()) {
            if file.contains('/') || file.contains("..") || file.is_empty() {
                bail!("bad upload name {file:?}");
            }
            return Ok(Work::Upload {
                file: file.to_string(),
            });
        }
        let s = |k: &str| p.get(k).and_then(|v| v.as_str()).map(String::from);
        let ecosystem = match s("ecosystem").as_deref() {
            Some("npm") | None => Ecosystem::Npm,
            Some("pypi") => Ecosystem::Pypi,
            Some(e) => bail!("unknown ecosystem {e:?}"),
        };
        Ok(Work::Named {
            ecosystem,
            name: s("name").ok_or_else(|| anyhow!("job without a name"))?,
            version: s("version").ok_or_else(|| anyhow!("job without a version"))?,
            integrity: s("integrity"),
        })
    }
}

/// The pending-map key of a job, for named work.
pub fn job_key(payload: &Value) -> Option<String> {
    match Work::from_payload(payload).ok()? {
        Work::Named {
            ecosystem,
            name,
            version,
            ..
        } => Some(pending_key(&ecosystem.to_string(), &name, &version)),
        Work::Upload { .. } => None,
    }
}

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
        let outcome = process(&app, &d, &tracker, &job).await;
        let elapsed = started.elapsed();
        let key = job_key(&job.payload);
        let (result, verdict) = match &outcome {
            Ok((v, verdict)) => (Ok(v.to_string()), Some(*verdict)),
            Err(e) => (Err(format!("{e:#}")), None),
        };
        // Filtered packuments made before this verdict are stale now.
        app.packuments.bump();
        if let Some(k) = &key {
            if let Ok(mut p) = app.pending.lock() {
                if p.get(k) == Some(&job.id) {
                    p.remove(k);
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
        match (&outcome, verdict) {
            (Ok((v, _)), Some(verdict)) => {
                let cached = v.get("cached").and_then(|c| c.as_bool()).unwrap_or(false);
                app.metrics.analysis(verdict, (!cached).then_some(elapsed));
            }
            _ => app.metrics.failed(),
        }
        if let Err(e) = &outcome {
            tracing::warn!(job = %job.id, error = %format!("{e:#}"), "job failed");
        }
        if let Some(hook) = job.payload.get("webhook").and_then(|w| w.as_str()) {
            let body = json!({
                "id": job.id,
                "status": if outcome.is_ok() { "done" } else { "failed" },
                "result": outcome.as_ref().ok().map(|(v, _)| v.clone()),
                "error": outcome.as_ref().err().map(|e| format!("{e:#}")),
            });
            send_webhook(&app, hook.to_string(), body).await;
        }
    }
}

async fn idle(app: &Shared) {
    tokio::select! {
        _ = app.wake.notified() => {}
        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
    }
}

/// Analyzes one job; returns the job's result document and the verdict.
async fn process(
    app: &Shared,
    docker: &Docker,
    tracker: &Tracker,
    job: &Job,
) -> Result<(Value, Verdict)> {
    let work = Work::from_payload(&job.payload)?;
    let mut scan = app.scan.clone();
    let (input, upload) = match &work {
        Work::Named {
            ecosystem,
            name,
            version,
            integrity,
        } => {
            // The store may already know this exact artifact.
            let (store, rules) = (app.store.clone(), app.rules.clone());
            let (n, v, h, e) = (name.clone(), version.clone(), integrity.clone(), *ecosystem);
            let hit = blocking(move || {
                store_glue::lookup_current(&store, &rules, e, &n, &v, h.as_deref())
            })
            .await?;
            if let Some(h) = hit {
                let doc = json!({
                    "cached": true,
                    "verdict": h.verdict,
                    "score": h.score,
                    "run_id": h.run_id,
                    "ruleset": h.ruleset_hash,
                    "package": { "ecosystem": ecosystem, "name": name, "version": version,
                                 "sha256": h.sha256, "integrity": h.integrity },
                });
                return Ok((doc, h.verdict));
            }
            let input = match ecosystem {
                Ecosystem::Npm => {
                    scan.registry = app.npm_registry.clone();
                    Input::Npm {
                        name: name.clone(),
                        version: version.clone(),
                    }
                }
                Ecosystem::Pypi => Input::Pypi {
                    name: name.clone(),
                    version: Some(version.clone()),
                },
            };
            (input, None)
        }
        Work::Upload { file } => {
            let path = app.uploads.join(file);
            if !path.is_file() {
                bail!("the uploaded tarball of job {} is gone", job.id);
            }
            (Input::Tarball(path.clone()), Some(path))
        }
    };
    let label = input.label();
    let progress = move |step: &str| tracing::debug!(package = %label, "{step}");
    let analyzed = pipeline::analyze(docker, tracker, &input, &scan, &app.rules, &progress).await;
    if let Some(p) = &upload {
        let _ = std::fs::remove_file(p);
    }
    let a = analyzed?;
    let verdict = a.verdict;
    let doc = json!({
        "cached": false,
        "verdict": verdict,
        "score": a.report.score,
        "run_id": a.trace.header.run_id,
        "ruleset": app.rules.hash(),
        "package": a.package,
        "findings": a.report.findings.iter().take(5)
            .map(|f| json!({"rule": f.rule, "severity": f.severity, "message": f.message}))
            .collect::<Vec<_>>(),
        "error": a.error,
    });
    let mismatch = match &work {
        Work::Named {
            integrity: Some(want),
            ..
        } => a
            .package
            .integrity
            .as_deref()
            .filter(|got| got != want)
            .map(|got| format!("the upstream served integrity {got}, the request pinned {want}")),
        _ => None,
    };
    let (store, rules_hash) = (app.store.clone(), app.rules.hash().to_string());
    blocking(move || store_glue::record(&store, &a, &rules_hash).map(|_| ())).await?;
    if let Some(m) = mismatch {
        bail!(m);
    }
    Ok((doc, verdict))
}

/// Whether `url` is under one of the operator's allowed webhook prefixes. A prefix
/// matches only at a path boundary, so `https://hooks.example` does not allow
/// `https://hooks.example.evil.com/` or `https://hooks.example@evil.com/`.
pub fn webhook_allowed(allow: &[String], url: &str) -> bool {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return false;
    }
    allow.iter().any(|p| {
        url == p
            || (url.starts_with(p.as_str())
                && (p.ends_with('/') || url[p.len()..].starts_with(['/', '?'])))
    })
}

async fn send_webhook(app: &Shared, url: String, body: Value) {
    if !webhook_allowed(&app.args.webhook_allow, &url) {
        tracing::warn!(%url, "webhook no longer allowed; not sent");
        return;
    }
    let r = tokio::task::spawn_blocking(move || {
        let mut last = String::new();
        for _ in 0..2 {
            let request = airlock_ecosystem::http::client()
                .post_no_redirect(&url)
                .timeout(Duration::from_secs(10));
            match request.send_json(&body) {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Err(last)
    })
    .await;
    match r {
        Ok(Ok(())) => app.metrics.webhook(true),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "webhook failed");
            app.metrics.webhook(false);
        }
        Err(e) => {
            tracing::warn!(error = %e, "webhook task failed");
            app.metrics.webhook(false);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn webhook_prefixes() {
        let allow = vec![
            "https://hooks.example".to_string(),
            "http://127.0.0.1:9/cb/".to_string(),
        ];
        assert!(webhook_allowed(&allow, "https://hooks.example/airlock"));
        assert!(webhook_allowed(&allow, "https://hooks.example"));
        assert!(webhook_allowed(&allow, "http://127.0.0.1:9/cb/x?y=1"));
        assert!(!webhook_allowed(&allow, "https://hooks.example.evil.com/"));
        assert!(!webhook_allowed(&allow, "https://hooks.example@evil.com/"));
        assert!(!webhook_allowed(&allow, "http://127.0.0.1:9/other"));
        assert!(!webhook_allowed(&allow, "file:///etc/passwd"));
        assert!(!webhook_allowed(&[], "https://hooks.example/"));
    }

    #[test]
    fn payloads() {
        let w = Work::from_payload(&json!({"ecosystem": "npm", "name": "a", "version": "1.0.0"}))
            .unwrap();
        assert!(matches!(w, Work::Named { .. }));
        assert!(Work::from_payload(&json!({"upload": "../x"})).is_err());
        assert_eq!(
            job_key(&json!({"name": "a", "version": "1"})).as_deref(),
            Some("npm:a@1")
        );
    }
}
