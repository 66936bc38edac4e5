//! What an analysis job asks for, read from its JSON payload, and the rules about it
//! that the API, the embedded workers and `airlock worker` share: the key that tells two
//! submissions of one version apart from others, and which webhook URLs may be called.

use airlock_events::{Ecosystem, UnknownEcosystem};
use serde_json::Value;

/// The job kind of an analysis.
pub const ANALYZE: &str = "analyze";

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
    /// A tarball uploaded with the submission (a file name in the uploads store).
    Upload { file: String },
}

/// A payload that is not a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad job payload: {0}")]
pub struct BadPayload(pub String);

impl Work {
    pub fn from_payload(p: &Value) -> Result<Work, BadPayload> {
        if let Some(file) = p.get("upload").and_then(|f| f.as_str()) {
            if file.contains('/') || file.contains("..") || file.is_empty() {
                return Err(BadPayload(format!("bad upload name {file:?}")));
            }
            return Ok(Work::Upload {
                file: file.to_string(),
            });
        }
        let s = |k: &str| p.get(k).and_then(|v| v.as_str()).map(String::from);
        let ecosystem = match s("ecosystem") {
            Some(e) => e
                .parse()
                .map_err(|e: UnknownEcosystem| BadPayload(e.to_string()))?,
            None => Ecosystem::default(),
        };
        Ok(Work::Named {
            ecosystem,
            name: s("name").ok_or_else(|| BadPayload("job without a name".into()))?,
            version: s("version").ok_or_else(|| BadPayload("job without a version".into()))?,
            integrity: s("integrity"),
        })
    }
}

/// `ecosystem:name@version`: the key of pending analyses of one version.
pub fn pending_key(ecosystem: &str, name: &str, version: &str) -> String {
    format!("{ecosystem}:{name}@{version}")
}

/// The pending key of a job, for named work.
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert!(
            Work::from_payload(&json!({"ecosystem": "cargo", "name": "a", "version": "1"}))
                .is_err()
        );
        assert_eq!(
            job_key(&json!({"name": "a", "version": "1"})).as_deref(),
            Some("npm:a@1")
        );
    }
}
