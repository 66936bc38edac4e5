//! Running one analysis job, the same way wherever it runs: in `airlock serve`'s own
//! workers (embedded mode, the SQLite store is the queue) or in an `airlock worker`
//! (queue mode). A job that names an artifact the store already judged under the current
//! rules is answered from the store (idempotent by artifact hash: a redelivered job whose
//! verdict was written is a no-op); otherwise it is analyzed in this host's sandbox and
//! the run is recorded. The job's webhook, if any, is called here too.
//!
//! What a job asks for and the webhook rules are `airlock_queue::job`'s; this module
//! only ties them to the pipeline, the store and the one HTTP client.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use airlock_ecosystem::Input;
use airlock_engine::ScanOptions;
use airlock_events::{Ecosystem, Verdict};
use airlock_queue::job::{webhook_allowed, Work};
use airlock_queue::JobQueue;
use airlock_rules::Ruleset;
use airlock_sandbox::{Docker, Tracker};
use airlock_store::{JobId, Store};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::blocking;
use crate::{pipeline, store_glue};

/// Where uploaded tarballs wait for their job.
#[derive(Debug, Clone)]
pub enum Uploads {
    /// A directory on this host (embedded mode).
    Dir(PathBuf),
    /// The queue engine's blob store (queue mode: the worker may be on another host);
    /// a job's tarball is copied to `scratch` while it runs.
    Queue {
        queue: Arc<dyn JobQueue>,
        scratch: PathBuf,
    },
}

impl Uploads {
    /// Stores an upload under `file` (the API's side).
    pub async fn put(&self, file: &str, data: Vec<u8>) -> Result<()> {
        match self {
            Uploads::Dir(d) => {
                let p = d.join(file);
                blocking(move || Ok(std::fs::write(&p, &data)?)).await
            }
            Uploads::Queue { queue, .. } => Ok(queue.put_blob(file, data).await?),
        }
    }

    /// The upload as a local file for the sandbox.
    async fn fetch(&self, file: &str, job: JobId) -> Result<PathBuf> {
        match self {
            Uploads::Dir(d) => {
                let path = d.join(file);
                if !path.is_file() {
                    bail!("the uploaded tarball of job {job} is gone");
                }
                Ok(path)
            }
            Uploads::Queue { queue, scratch } => {
                let data = queue
                    .get_blob(file)
                    .await
                    .with_context(|| format!("the uploaded tarball of job {job}"))?;
                let path = scratch.join(file);
                let p = path.clone();
                blocking(move || Ok(std::fs::write(&p, &data)?)).await?;
                Ok(path)
            }
        }
    }

    /// Forgets an upload once its job is finished (done, or given up).
    pub async fn remove(&self, file: &str) {
        match self {
            Uploads::Dir(d) => {
                let _ = std::fs::remove_file(d.join(file));
            }
            Uploads::Queue { queue, scratch } => {
                let _ = std::fs::remove_file(scratch.join(file));
                if let Err(e) = queue.delete_blob(file).await {
                    tracing::debug!(file, error = %e, "upload not removed from the queue");
                }
            }
        }
    }
}

/// Everything a job needs to run.
pub struct Runner {
    pub store: Arc<Store>,
    pub rules: Arc<Ruleset>,
    pub scan: ScanOptions,
    pub uploads: Uploads,
    pub webhook_allow: Vec<String>,
}

/// A job's result document (what `GET /v1/analyses/{id}` shows) and its verdict.
pub struct Outcome {
    pub doc: Value,
    pub verdict: Verdict,
    /// Answered from the store, no sandbox run.
    pub cached: bool,
}

/// The key under which a job claims its artifact while analyzing it (named work only:
/// `npm:name@version`, plus the pinned integrity when the job has one).
pub fn claim_key(payload: &Value) -> Option<String> {
    let key = airlock_queue::job::job_key(payload)?;
    Some(match payload.get("integrity").and_then(|i| i.as_str()) {
        Some(i) => format!("{key}#{i}"),
        None => key,
    })
}

impl Runner {
    /// Analyzes one job (or answers it from the store). The upload of a finished job is
    /// removed; the caller records the outcome in the job record.
    pub async fn run(
        &self,
        docker: &Docker,
        tracker: &Tracker,
        id: JobId,
        payload: &Value,
    ) -> Result<Outcome> {
        let work = Work::from_payload(payload)?;
        let (input, upload) = match &work {
            Work::Named {
                ecosystem,
                name,
                version,
                integrity,
            } => {
                if let Some(o) = self.cached(*ecosystem, name, version, integrity).await? {
                    return Ok(o);
                }
                (
                    airlock_ecosystem::by_id(*ecosystem).registry_input(name, version),
                    None,
                )
            }
            Work::Upload { file } => {
                let path = self.uploads.fetch(file, id).await?;
                (Input::Tarball(path), Some(file.clone()))
            }
        };
        let label = input.label();
        let progress = move |step: &str| tracing::debug!(package = %label, "{step}");
        let analyzed =
            pipeline::analyze(docker, tracker, &input, &self.scan, &self.rules, &progress).await;
        if let Some(f) = &upload {
            match (&analyzed, &self.uploads) {
                // In queue mode another attempt needs the tarball: only the scratch copy
                // goes (the worker removes the upload when it gives the job up).
                (Err(_), Uploads::Queue { scratch, .. }) => {
                    let _ = std::fs::remove_file(scratch.join(f));
                }
                _ => self.uploads.remove(f).await,
            }
        }
        let a = analyzed?;
        let verdict = a.verdict;
        let doc = json!({
            "cached": false,
            "verdict": verdict,
            "score": a.report.score,
            "run_id": a.trace.header.run_id,
            "ruleset": self.rules.hash(),
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
                .map(|got| {
                    format!("the upstream served integrity {got}, the request pinned {want}")
                }),
            _ => None,
        };
        let (store, rules_hash) = (self.store.clone(), self.rules.hash().to_string());
        blocking(move || store_glue::record(&store, &a, &rules_hash).map(|_| ())).await?;
        if let Some(m) = mismatch {
            bail!(m);
        }
        Ok(Outcome {
            doc,
            verdict,
            cached: false,
        })
    }

    /// For a job naming a registry artifact: the store's current verdict for it, if any.
    pub async fn cached_for(&self, payload: &Value) -> Result<Option<Outcome>> {
        match Work::from_payload(payload)? {
            Work::Named {
                ecosystem,
                name,
                version,
                integrity,
            } => self.cached(ecosystem, &name, &version, &integrity).await,
            Work::Upload { .. } => Ok(None),
        }
    }

    /// The store's current verdict for this exact artifact, as a job result.
    async fn cached(
        &self,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        integrity: &Option<String>,
    ) -> Result<Option<Outcome>> {
        let (store, rules) = (self.store.clone(), self.rules.clone());
        let (n, v, h) = (name.to_string(), version.to_string(), integrity.clone());
        let hit = blocking(move || {
            store_glue::lookup_current(&store, &rules, ecosystem, &n, &v, h.as_deref())
        })
        .await?;
        Ok(hit.map(|h| Outcome {
            doc: json!({
                "cached": true,
                "verdict": h.verdict,
                "score": h.score,
                "run_id": h.run_id,
                "ruleset": h.ruleset_hash,
                "package": { "ecosystem": ecosystem, "name": name, "version": version,
                             "sha256": h.sha256, "integrity": h.integrity },
            }),
            verdict: h.verdict,
            cached: true,
        }))
    }

    /// Calls the job's webhook, if it has one; `Some(delivered)` when it had.
    pub async fn webhook(
        &self,
        id: JobId,
        payload: &Value,
        outcome: &Result<Value, String>,
    ) -> Option<bool> {
        let url = payload.get("webhook").and_then(|w| w.as_str())?.to_string();
        if !webhook_allowed(&self.webhook_allow, &url) {
            tracing::warn!(%url, "webhook no longer allowed; not sent");
            return Some(false);
        }
        let body = json!({
            "id": id,
            "status": if outcome.is_ok() { "done" } else { "failed" },
            "result": outcome.as_ref().ok(),
            "error": outcome.as_ref().err(),
        });
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
            Ok(Ok(())) => Some(true),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "webhook failed");
                Some(false)
            }
            Err(e) => {
                tracing::warn!(error = %e, "webhook task failed");
                Some(false)
            }
        }
    }
}
