//! The pre-ingest API: submit an analysis (a tarball body, or `{ecosystem, name,
//! version}` fetched from the configured upstream — never from a URL in the request),
//! poll it, and read the stored verdict of a version. Submissions become job records in
//! the store and go into the bounded queue (the store's own, or the engine's in queue
//! mode); a full queue answers 429 with Retry-After, so load never turns into memory.

use std::collections::HashMap;

use airlock_events::Ecosystem;
use airlock_store::{ArtifactQuery, JobId, JobState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use airlock_queue::job::{job_key, webhook_allowed, ANALYZE};
use airlock_queue::JobMessage;

use super::{blocking, error, pending_key, Shared};
use crate::store_glue;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub webhook: Option<String>,
}

/// A package name and exact version that are safe to put in a registry path.
fn valid_coordinates(eco: Ecosystem, name: &str, version: &str) -> bool {
    let version_ok = !version.is_empty()
        && version.len() <= 128
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_' | '!'));
    version_ok && airlock_ecosystem::by_id(eco).path_safe_name(name, version)
}

fn parse_ecosystem(s: &str) -> Option<Ecosystem> {
    s.parse().ok()
}

pub async fn submit(
    State(app): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let (mut payload, webhook, upload) = if is_json {
        let s: Submission = match serde_json::from_slice(&body) {
            Ok(s) => s,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad submission: {e}")),
        };
        let Some(eco) = parse_ecosystem(&s.ecosystem) else {
            return error(StatusCode::BAD_REQUEST, "ecosystem must be npm or pypi");
        };
        if !valid_coordinates(eco, &s.name, &s.version) {
            return error(StatusCode::BAD_REQUEST, "invalid package name or version");
        }
        (
            json!({ "ecosystem": eco, "name": s.name, "version": s.version }),
            s.webhook,
            None,
        )
    } else {
        let gzip = body.starts_with(&[0x1f, 0x8b]);
        let zip = body.starts_with(b"PK\x03\x04");
        if !(gzip || zip) {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be an npm .tgz, a PyPI sdist or wheel, or a JSON submission",
            );
        }
        let file = format!(
            "{}.{}",
            super::unique_name(),
            if zip { "zip" } else { "tgz" }
        );
        if let Err(e) = app.runner.uploads.put(&file, body.to_vec()).await {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("storing the upload: {e:#}"),
            );
        }
        (
            json!({ "upload": file, "size": body.len() }),
            q.get("webhook").cloned(),
            Some(file),
        )
    };
    if let Some(w) = &webhook {
        if !webhook_allowed(&app.args.webhook_allow, w) {
            if let Some(f) = &upload {
                app.runner.uploads.remove(f).await;
            }
            app.metrics.rejected("webhook_not_allowed");
            return error(
                StatusCode::FORBIDDEN,
                "webhook URL is not under a prefix the operator allowed (--webhook-allow)",
            );
        }
        payload["webhook"] = Value::String(w.clone());
    }
    enqueue(&app, payload, upload.as_deref()).await
}

/// Queues a job; 202 with its id, or 429 when the queue is at its bound. In queue mode
/// the record is written first and then published; a refused publish fails the record.
pub async fn enqueue(app: &Shared, payload: Value, upload: Option<&str>) -> Response {
    // With an engine, the engine holds the bound.
    let bound = if app.queue.is_some() {
        u64::MAX
    } else {
        app.queue_limit
    };
    let store = app.store.clone();
    let p = payload.clone();
    let r = blocking(move || Ok(store.enqueue(ANALYZE, &p, bound))).await;
    match r {
        Ok(Ok(id)) => {
            if let Some(queue) = &app.queue {
                let msg = JobMessage {
                    job: id.0,
                    kind: ANALYZE.into(),
                    payload: payload.clone(),
                };
                if let Err(e) = queue.publish(&msg).await {
                    let (store, why) = (app.store.clone(), format!("not queued: {e}"));
                    let failed = blocking(move || {
                        store.start_attempt(id, "serve")?;
                        Ok(store.finish(id, Err(&why))?)
                    })
                    .await;
                    if let Err(e) = failed {
                        tracing::warn!(job = %id, error = %format!("{e:#}"), "cannot fail the unqueued job");
                    }
                    if let Some(f) = upload {
                        app.runner.uploads.remove(f).await;
                    }
                    if e.is_full() {
                        return queue_full(app);
                    }
                    return error(StatusCode::SERVICE_UNAVAILABLE, format!("{e}"));
                }
            }
            if let Some(k) = job_key(&payload) {
                if let Ok(mut pending) = app.pending.lock() {
                    pending.entry(k).or_insert(id);
                }
            }
            app.wake.notify_one();
            (
                StatusCode::ACCEPTED,
                [(header::LOCATION, format!("/v1/analyses/{id}"))],
                axum::Json(json!({ "id": id, "status": "queued" })),
            )
                .into_response()
        }
        Ok(Err(e)) if e.is_queue_full() => {
            if let Some(f) = upload {
                app.runner.uploads.remove(f).await;
            }
            queue_full(app)
        }
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, format!("{e}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

fn queue_full(app: &Shared) -> Response {
    app.metrics.rejected("queue_full");
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, "30")],
        axum::Json(json!({ "error": "the analysis queue is full; retry later" })),
    )
        .into_response()
}

pub async fn status(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return error(StatusCode::BAD_REQUEST, "the id is a number");
    };
    let store = app.store.clone();
    let job = match blocking(move || Ok(store.job(JobId(id))?)).await {
        Ok(Some(j)) => j,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no analysis {id}")),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    };
    let mut out = json!({
        "id": job.id,
        "status": job.state,
        "attempts": job.attempts,
        "submitted_at_ms": job.created_at_ms,
        "updated_at_ms": job.updated_at_ms,
    });
    if let Some(w) = &job.worker {
        out["worker"] = Value::String(w.clone());
    }
    for k in ["ecosystem", "name", "version"] {
        if let Some(v) = job.payload.get(k) {
            out[k] = v.clone();
        }
    }
    if job.state == JobState::Done {
        if let Some(r) = job
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
        {
            for k in [
                "verdict", "score", "run_id", "ruleset", "package", "findings", "cached",
            ] {
                if let Some(v) = r.get(k) {
                    out[k] = v.clone();
                }
            }
        }
    }
    if let Some(e) = job.error {
        out["error"] = Value::String(e);
    }
    axum::Json(out).into_response()
}

/// `GET /v1/verdicts/{ecosystem}/{name}/{version}`; `name` may be scoped
/// (`@scope/name`, or `@scope%2fname`).
pub async fn verdict(
    State(app): State<Shared>,
    Path((ecosystem, rest)): Path<(String, String)>,
) -> Response {
    let Some(eco) = parse_ecosystem(&ecosystem) else {
        return error(StatusCode::NOT_FOUND, "ecosystem must be npm or pypi");
    };
    let rest = rest.replace("%2f", "/").replace("%2F", "/");
    let Some((name, version)) = rest.rsplit_once('/') else {
        return error(
            StatusCode::NOT_FOUND,
            "expected /v1/verdicts/{ecosystem}/{name}/{version}",
        );
    };
    if !valid_coordinates(eco, name, version) {
        return error(StatusCode::BAD_REQUEST, "invalid package name or version");
    }
    let (store, rules) = (app.store.clone(), app.rules.clone());
    let (n, v) = (name.to_string(), version.to_string());
    let r = blocking(move || {
        let hit = store_glue::lookup_current(&store, &rules, eco, &n, &v, None)?;
        let detail = match &hit {
            Some(_) => store.show(&ArtifactQuery {
                ecosystem: eco,
                name: n.clone(),
                version: v.clone(),
                hash: None,
            })?,
            None => None,
        };
        Ok((hit, detail))
    })
    .await;
    match r {
        Ok((Some(h), detail)) => {
            let findings = detail
                .map(|d| d.report["findings"].clone())
                .unwrap_or(Value::Array(Vec::new()));
            axum::Json(json!({
                "ecosystem": eco,
                "name": name,
                "version": version,
                "verdict": h.verdict,
                "score": h.score,
                "ruleset": h.ruleset_hash,
                "run_id": h.run_id,
                "judged_at_ms": h.judged_at_ms,
                "sha256": h.sha256,
                "integrity": h.integrity,
                "findings": findings,
            }))
            .into_response()
        }
        Ok((None, _)) => {
            let pending = app
                .pending
                .lock()
                .map(|p| p.contains_key(&pending_key(&ecosystem, name, version)))
                .unwrap_or(false);
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({
                    "error": "no verdict for this version",
                    "pending": pending,
                })),
            )
                .into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn coordinates() {
        assert!(valid_coordinates(Ecosystem::Npm, "left-pad", "1.3.0"));
        assert!(valid_coordinates(
            Ecosystem::Npm,
            "@scope/x",
            "1.0.0-beta.1"
        ));
        assert!(!valid_coordinates(Ecosystem::Npm, "../../etc", "1.0.0"));
        assert!(!valid_coordinates(Ecosystem::Npm, "a", "1.0.0/../../x"));
        assert!(!valid_coordinates(Ecosystem::Npm, "http://evil/x", "1"));
        assert!(valid_coordinates(Ecosystem::Pypi, "requests", "2.31.0"));
        assert!(!valid_coordinates(Ecosystem::Pypi, "a b", "1"));
    }
}
