//! `/openapi.json`: the service's API described by hand in OpenAPI 3.1, so mirrors can
//! generate a client. A unit test keeps it in step with the router's paths.

use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub fn document() -> Value {
    let err = json!({ "$ref": "#/components/schemas/Error" });
    let err_resp =
        |d: &str| json!({ "description": d, "content": { "application/json": { "schema": err } } });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "airlock pre-ingest API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Submit npm and PyPI packages for sandboxed install-time analysis and read \
                            their verdicts. With --npm-upstream the same server is also an npm \
                            registry proxy that quarantines versions without a clean verdict."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"],
                           "properties": { "error": { "type": "string" } } },
                "Verdict": { "type": "string",
                             "enum": ["benign", "suspicious", "malicious", "error", "timed-out", "not-evaluated"] },
                "Submission": {
                    "type": "object", "required": ["ecosystem", "name", "version"],
                    "additionalProperties": false,
                    "properties": {
                        "ecosystem": { "type": "string", "enum": ["npm", "pypi"] },
                        "name": { "type": "string", "examples": ["left-pad", "@scope/pkg", "requests"] },
                        "version": { "type": "string", "description": "An exact version." },
                        "webhook": { "type": "string", "format": "uri",
                                     "description": "POSTed the job document when the analysis ends; must be under a prefix the operator allowed." }
                    }
                },
                "Accepted": { "type": "object", "required": ["id", "status"],
                              "properties": { "id": { "type": "integer" }, "status": { "const": "queued" } } },
                "Analysis": {
                    "type": "object", "required": ["id", "status"],
                    "properties": {
                        "id": { "type": "integer" },
                        "status": { "type": "string", "enum": ["queued", "running", "done", "failed"] },
                        "attempts": { "type": "integer" },
                        "worker": { "type": "string", "description": "the airlock worker that last ran it (queue mode)" },
                        "submitted_at_ms": { "type": "integer" },
                        "updated_at_ms": { "type": "integer" },
                        "ecosystem": { "type": "string" }, "name": { "type": "string" }, "version": { "type": "string" },
                        "verdict": { "$ref": "#/components/schemas/Verdict" },
                        "score": { "type": "number" },
                        "run_id": { "type": "string" },
                        "ruleset": { "type": "string" },
                        "cached": { "type": "boolean" },
                        "package": { "type": "object" },
                        "findings": { "type": "array", "items": { "type": "object" } },
                        "error": { "type": "string" }
                    }
                },
                "StoredVerdict": {
                    "type": "object",
                    "required": ["ecosystem", "name", "version", "verdict", "score", "ruleset", "run_id"],
                    "properties": {
                        "ecosystem": { "type": "string" }, "name": { "type": "string" }, "version": { "type": "string" },
                        "verdict": { "$ref": "#/components/schemas/Verdict" },
                        "score": { "type": "number" }, "ruleset": { "type": "string" }, "run_id": { "type": "string" },
                        "judged_at_ms": { "type": "integer" },
                        "sha256": { "type": ["string", "null"] }, "integrity": { "type": ["string", "null"] },
                        "findings": { "type": "array", "items": { "type": "object" } }
                    }
                }
            }
        },
        "security": [ { "bearer": [] } ],
        "paths": {
            "/v1/analyses": { "post": {
                "summary": "Queue an analysis",
                "description": "Either a JSON submission (the package is fetched from the server's configured upstream) or the artifact itself as the body (an npm .tgz, a PyPI sdist or wheel); for a body, pass the webhook as ?webhook=.",
                "parameters": [ { "name": "webhook", "in": "query", "required": false, "schema": { "type": "string" } } ],
                "requestBody": { "required": true, "content": {
                    "application/json": { "schema": { "$ref": "#/components/schemas/Submission" } },
                    "application/octet-stream": { "schema": { "type": "string", "format": "binary" } }
                } },
                "responses": {
                    "202": { "description": "Queued", "headers": { "Location": { "schema": { "type": "string" } } },
                             "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Accepted" } } } },
                    "400": err_resp("Invalid submission"),
                    "401": err_resp("Missing or wrong bearer token"),
                    "403": err_resp("Webhook URL not allowed"),
                    "413": { "description": "Body larger than --max-upload-mib" },
                    "415": err_resp("Body is neither JSON nor a package archive"),
                    "429": { "description": "The queue is at its bound; retry after Retry-After seconds",
                             "headers": { "Retry-After": { "schema": { "type": "integer" } } },
                             "content": { "application/json": { "schema": err } } }
                }
            } },
            "/v1/analyses/{id}": { "get": {
                "summary": "Status and verdict of an analysis",
                "parameters": [ { "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } } ],
                "responses": {
                    "200": { "description": "The analysis", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Analysis" } } } },
                    "404": err_resp("No such analysis")
                }
            } },
            "/v1/verdicts/{ecosystem}/{name}/{version}": { "get": {
                "summary": "The stored verdict of a version (under the current ruleset)",
                "parameters": [
                    { "name": "ecosystem", "in": "path", "required": true, "schema": { "type": "string", "enum": ["npm", "pypi"] } },
                    { "name": "name", "in": "path", "required": true, "schema": { "type": "string" },
                      "description": "Scoped npm names as @scope/name or @scope%2fname" },
                    { "name": "version", "in": "path", "required": true, "schema": { "type": "string" } }
                ],
                "responses": {
                    "200": { "description": "The verdict", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/StoredVerdict" } } } },
                    "404": { "description": "No verdict yet", "content": { "application/json": { "schema": {
                        "type": "object", "properties": { "error": { "type": "string" }, "pending": { "type": "boolean" } } } } } }
                }
            } },
            "/metrics": { "get": {
                "summary": "Prometheus metrics (queue depth, analyses by verdict, durations)",
                "responses": { "200": { "description": "Prometheus text format", "content": { "text/plain": {} } } }
            } },
            "/healthz": { "get": {
                "summary": "Liveness and analyzer state", "security": [],
                "responses": { "200": { "description": "ok" } }
            } },
            "/openapi.json": { "get": {
                "summary": "This document", "security": [],
                "responses": { "200": { "description": "OpenAPI 3.1" } }
            } },
            "/{package}": { "get": {
                "summary": "npm proxy: packument with only clean versions, and with --min-age only versions older than that (proxy mode)",
                "parameters": [ { "name": "package", "in": "path", "required": true, "schema": { "type": "string" } } ],
                "responses": { "200": { "description": "Filtered packument" }, "404": err_resp("Unknown package") }
            } },
            "/{package}/-/{file}": { "get": {
                "summary": "npm proxy: tarball of a clean version (proxy mode)",
                "parameters": [
                    { "name": "package", "in": "path", "required": true, "schema": { "type": "string" } },
                    { "name": "file", "in": "path", "required": true, "schema": { "type": "string" } }
                ],
                "responses": {
                    "200": { "description": "The tarball", "content": { "application/octet-stream": {} } },
                    "403": { "description": "Quarantined: the verdict is not clean (with the reason), or the version is younger than --min-age (status too-young, with when it matures)" },
                    "503": { "description": "Analysis pending; retry after Retry-After seconds",
                             "headers": { "Retry-After": { "schema": { "type": "integer" } } } }
                }
            } }
        }
    })
}

pub async fn handler() -> Response {
    axum::Json(document()).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn documents_every_api_path() {
        let d = super::document();
        for p in [
            "/v1/analyses",
            "/v1/analyses/{id}",
            "/v1/verdicts/{ecosystem}/{name}/{version}",
            "/metrics",
            "/healthz",
            "/openapi.json",
        ] {
            assert!(d["paths"].get(p).is_some(), "{p} is not documented");
        }
        assert_eq!(d["openapi"], "3.1.0");
    }
}
