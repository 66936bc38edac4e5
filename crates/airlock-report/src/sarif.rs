//! SARIF 2.1.0 output, so code-scanning tools (GitHub's among them) list airlock's
//! findings. One run; one result per finding; the package is a logical location and any
//! file an evidence event touched becomes a physical one.

use std::collections::BTreeSet;

use airlock_events::Severity;
use serde_json::{json, Value};

use crate::model::{Report, ReportFinding};
use crate::{ReportError, REPORT_SCHEMA_VERSION};

/// The `$schema` written into every SARIF log.
pub const SARIF_SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Where a reader learns what airlock is (SARIF `tool.driver.informationUri`).
pub const INFORMATION_URI: &str = "https://github.com/airlock-scan/airlock";

/// SARIF `level` of a severity.
pub fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` property (a CVSS-like 0–10 string).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

/// Renders the report as a SARIF 2.1.0 log (pretty JSON, newline-terminated).
pub fn render_sarif(report: &Report) -> Result<String, ReportError> {
    let mut s =
        serde_json::to_string_pretty(&sarif_value(report)).map_err(|e| ReportError::Serialize {
            format: "sarif",
            message: e.to_string(),
        })?;
    s.push('\n');
    Ok(s)
}

/// The SARIF log as a JSON value.
pub fn sarif_value(report: &Report) -> Value {
    // Rules in first-seen order (findings are sorted most severe first).
    let mut rule_ids: Vec<&str> = Vec::new();
    let mut rules = Vec::new();
    for f in &report.findings {
        if rule_ids.contains(&f.rule.as_str()) {
            continue;
        }
        rule_ids.push(&f.rule);
        let mut props = json!({
            "security-severity": security_severity(f.severity),
            "precision": format!("{:?}", f.confidence).to_lowercase(),
        });
        let mut tags = vec!["security".to_string(), "supply-chain".to_string()];
        tags.extend(f.tags.iter().cloned());
        props["tags"] = json!(tags);
        rules.push(json!({
            "id": f.rule,
            "name": rule_name(&f.rule),
            "shortDescription": { "text": f.message },
            "fullDescription": { "text": format!("airlock rule {}: {}", f.rule, f.message) },
            "defaultConfiguration": { "level": sarif_level(f.severity) },
            "properties": props,
        }));
    }

    let pkg = &report.package;
    let fqn = format!(
        "{}:{}",
        pkg.ecosystem
            .map(|e| e.to_string())
            .unwrap_or_else(|| "unknown".into()),
        pkg.spec()
    );
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| result(report, f, &rule_ids, &fqn))
        .collect();

    let run = json!({
            "invocations": [{
                "executionSuccessful": report.error.is_none(),
                "toolExecutionNotifications": report.error.iter().map(|e| json!({
                    "level": "error",
                    "message": { "text": e },
                })).collect::<Vec<_>>(),
            }],
            "results": results,
            "properties": {
                "verdict": report.verdict,
                "score": report.score,
                "ruleset": report.ruleset,
                "package": {
                    "ecosystem": pkg.ecosystem,
                    "name": pkg.name,
                    "version": pkg.version,
                    "sha256": pkg.sha256,
                },
                "traceComplete": report.trace_complete,
                "reportSchemaVersion": REPORT_SCHEMA_VERSION,
            },
    });
    sarif_log(&report.tool.version, rules, results, run)
}

/// A SARIF 2.1.0 log of one airlock run: the only place the envelope (schema, tool
/// driver, rules, results) is written, for scan reports and lockfile audits alike.
/// `run` holds further members of the run object (`invocations`, `properties`).
pub fn sarif_log(version: &str, rules: Vec<Value>, results: Vec<Value>, run: Value) -> Value {
    let mut run = match run {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    run.insert(
        "tool".into(),
        json!({
            "driver": {
                "name": "airlock",
                "version": version,
                "semanticVersion": version,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        }),
    );
    run.insert("results".into(), Value::Array(results));
    json!({
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [Value::Object(run)],
    })
}

/// `canary-leaked` → `CanaryLeaked` (SARIF's `name` is conventionally PascalCase).
fn rule_name(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn result(report: &Report, f: &ReportFinding, rule_ids: &[&str], fqn: &str) -> Value {
    let logical =
        json!([{ "name": report.package.spec(), "fullyQualifiedName": fqn, "kind": "module" }]);
    let mut locations = Vec::new();
    let mut seen = BTreeSet::new();
    for e in &f.evidence {
        let Some(path) = &e.path else { continue };
        if !seen.insert((path.clone(), e.line)) {
            continue;
        }
        let mut phys = json!({ "artifactLocation": { "uri": file_uri(path, report.run.package_dir.as_deref()) } });
        if let Some(line) = e.line.filter(|l| *l > 0) {
            phys["region"] = json!({ "startLine": line });
        }
        locations.push(json!({ "physicalLocation": phys, "logicalLocations": logical }));
    }
    if locations.is_empty() {
        locations.push(json!({ "logicalLocations": logical }));
    }
    let mut text = f.message.clone();
    if let Some(e) = f.evidence.first() {
        text.push_str(&format!(" (evidence: {}", e.summary));
        if let Some(chain) = e.chain() {
            text.push_str(&format!(" by {chain}"));
        }
        text.push(')');
    }
    if f.items.len() > 1 {
        text.push_str(&format!(
            " [{} matches: {}]",
            f.items.len(),
            f.items.join("; ")
        ));
    }
    let mut result = json!({
        "ruleId": f.rule,
        "ruleIndex": rule_ids.iter().position(|r| *r == f.rule).unwrap_or(0),
        "level": sarif_level(f.severity),
        "message": { "text": text },
        "locations": locations,
        "partialFingerprints": {
            "airlockFinding/v1": format!("{}:{}:{}", fqn, f.rule, report.package.sha256.as_deref().unwrap_or("")),
        },
        "properties": {
            "severity": f.severity,
            "confidence": f.confidence,
            "decisive": f.decisive,
            "kind": f.kind,
            "family": f.family,
            "strength": f.strength,
            "actor": f.actor,
            "items": f.items,
            "tags": f.tags,
            "evidence": f.evidence.iter().map(|e| json!({
                "seq": e.seq,
                "phase": e.phase,
                "type": e.event_type,
                "summary": e.summary,
                "process": e.chain(),
                "actor": e.actor,
            })).collect::<Vec<_>>(),
        },
    });
    // A waived finding is a suppressed result (SARIF 2.1.0 §3.35): shown, not counted.
    if let Some(w) = &f.waived {
        result["suppressions"] = json!([{
            "kind": "external",
            "status": "accepted",
            "justification": format!("{} (expires {}; {})", w.reason, w.expires, w.source),
        }]);
    }
    result
}

/// A path inside the package becomes a relative URI; anything else a `file://` URI.
fn file_uri(path: &str, package_dir: Option<&str>) -> String {
    if let Some(dir) = package_dir {
        let dir = dir.trim_end_matches('/');
        if let Some(rel) = path.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) {
            if !rel.is_empty() {
                return percent_encode(rel);
            }
        }
    }
    if path.starts_with('/') {
        format!("file://{}", percent_encode(path))
    } else {
        percent_encode(path)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `/`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        let pkg = Some("/home/u/pkg/");
        assert_eq!(file_uri("/home/u/pkg/lib/a b.js", pkg), "lib/a%20b.js");
        assert_eq!(file_uri("/home/u/.bashrc", pkg), "file:///home/u/.bashrc");
        assert_eq!(file_uri("/home/u/pkgx/a", pkg), "file:///home/u/pkgx/a");
        assert_eq!(file_uri("/home/u/<x>", None), "file:///home/u/%3Cx%3E");
    }

    #[test]
    fn names_and_levels() {
        assert_eq!(rule_name("canary-leaked"), "CanaryLeaked");
        assert_eq!(rule_name("dns.exfil_v2"), "DnsExfilV2");
        assert_eq!(sarif_level(Severity::Critical), "error");
        assert_eq!(sarif_level(Severity::Medium), "warning");
        assert_eq!(sarif_level(Severity::Info), "note");
    }
}
