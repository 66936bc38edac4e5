//! A draft OSV record (the `MAL-` format of ossf/malicious-packages) for a package airlock
//! judged malicious: what it does, how it triggers, the affected version and the
//! indicators of compromise. It is always a draft for a human to review; for any other
//! verdict the record says plainly that it is not a malicious-package claim.

use std::collections::BTreeSet;

use airlock_events::{Ecosystem, Verdict};
use serde_json::{json, Value};

use crate::model::Report;
use crate::text::rfc3339;
use crate::ReportError;

/// OSV schema version the record follows.
pub const OSV_SCHEMA_VERSION: &str = "1.6.0";

/// Placeholder id: the database assigns the real one.
pub const DRAFT_ID: &str = "MAL-0000-DRAFT";

/// Hosts of the package managers themselves: contacting them is not an indicator.
const NOT_IOCS: &[&str] = &[
    "registry.npmjs.org",
    "pypi.org",
    "files.pythonhosted.org",
    "localhost",
];

/// Renders the draft OSV record; `now` (unix seconds) sets `published` and `modified`.
pub fn render_osv(report: &Report, now: f64) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(&osv_value(report, now)).map_err(|e| {
        ReportError::Serialize {
            format: "osv",
            message: e.to_string(),
        }
    })?;
    s.push('\n');
    Ok(s)
}

fn osv_ecosystem(e: Option<Ecosystem>) -> &'static str {
    match e {
        Some(Ecosystem::Npm) => "npm",
        Some(Ecosystem::Pypi) => "PyPI",
        None => "UNKNOWN",
    }
}

/// Domains, URLs and IP addresses the package contacted.
#[derive(Debug, Default, PartialEq)]
pub struct Iocs {
    pub domains: BTreeSet<String>,
    pub urls: BTreeSet<String>,
    pub ips: BTreeSet<String>,
}

/// Collects the indicators from the report's network section. Addresses count as IP
/// indicators only when the package connected to them without a name (the sink answers
/// names with addresses of its own, which mean nothing outside the run).
pub fn iocs(report: &Report) -> Iocs {
    let n = &report.network;
    let mut i = Iocs::default();
    let mut add_domain = |d: &str| {
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        if !d.is_empty()
            && !NOT_IOCS.contains(&d.as_str())
            && d.parse::<std::net::IpAddr>().is_err()
        {
            i.domains.insert(d);
        }
    };
    n.dns.iter().for_each(|d| add_domain(&d.name));
    n.tls
        .iter()
        .filter_map(|t| t.sni.as_deref())
        .for_each(&mut add_domain);
    n.connections
        .iter()
        .filter_map(|c| c.name.as_deref())
        .for_each(&mut add_domain);
    n.connect_attempts
        .iter()
        .filter_map(|c| c.name.as_deref())
        .for_each(&mut add_domain);
    for h in &n.http {
        let host = h.host.rsplit_once(':').map(|(h, _)| h).unwrap_or(&h.host);
        add_domain(host);
    }
    for h in &n.http {
        let host = h.host.to_ascii_lowercase();
        if !NOT_IOCS
            .iter()
            .any(|x| host == *x || host.starts_with(&format!("{x}:")))
        {
            i.urls.insert(h.url.clone());
        }
    }
    let answered: BTreeSet<&str> = n
        .dns
        .iter()
        .flat_map(|d| d.answers.iter().map(String::as_str))
        .collect();
    let unnamed = n
        .connections
        .iter()
        .filter(|c| c.name.is_none())
        .map(|c| c.addr.as_str())
        .chain(
            n.connect_attempts
                .iter()
                .filter(|c| c.name.is_none())
                .map(|c| c.addr.as_str()),
        );
    for addr in unnamed {
        let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
            continue;
        };
        if !ip.is_loopback() && !ip.is_unspecified() && !answered.contains(addr) {
            i.ips.insert(ip.to_string());
        }
    }
    i
}

/// The record as a JSON value.
pub fn osv_value(report: &Report, now: f64) -> Value {
    let pkg = &report.package;
    let eco = osv_ecosystem(pkg.ecosystem);
    let iocs = iocs(report);
    let time = rfc3339(now);
    json!({
        "schema_version": OSV_SCHEMA_VERSION,
        "id": DRAFT_ID,
        "modified": time,
        "published": time,
        "summary": format!("Malicious code in {} ({eco})", pkg.name),
        "details": details(report, &iocs),
        "affected": [{
            "package": { "ecosystem": eco, "name": pkg.name },
            "versions": [pkg.version],
            "database_specific": { "source": "airlock" },
        }],
        "database_specific": {
            "draft": true,
            "iocs": {
                "domains": iocs.domains,
                "urls": iocs.urls,
                "ips": iocs.ips,
            },
            "artifact": { "sha256": pkg.sha256, "integrity": pkg.integrity },
            "airlock": {
                "verdict": report.verdict,
                "verdict_reason": report.verdict_reason,
                "score": report.score,
                "findings": report.findings.iter().map(|f| json!({
                    "rule": f.rule,
                    "kind": f.kind,
                    "family": f.family,
                    "actor": f.actor,
                    "decisive": f.decisive,
                    "items": f.items,
                    "waived": f.waived,
                })).collect::<Vec<_>>(),
                "ruleset": report.ruleset,
                "rules": report.findings.iter().map(|f| f.rule.as_str()).collect::<BTreeSet<_>>(),
                "run_id": report.run.id,
                "tool_version": report.tool.version,
            },
        },
    })
}

/// The human-readable `details`: a draft warning, how the code triggers, what it does.
fn details(r: &Report, iocs: &Iocs) -> String {
    let mut d = String::new();
    if r.verdict == Verdict::Malicious {
        d.push_str(&format!(
            "DRAFT generated by airlock {} from a sandboxed install; review before publishing.\n\n",
            r.tool.version
        ));
    } else {
        d.push_str(&format!(
            "DRAFT ONLY, NOT A MALICIOUS-PACKAGE CLAIM: airlock's verdict for this version is \
             `{}`, not `malicious`. Do not publish this record without independent analysis.\n\n",
            r.verdict
        ));
    }
    let spec = r.package.spec();

    // How it triggers: lifecycle scripts (in order of first appearance), then import.
    let mut lifecycles: Vec<(&str, &str)> = Vec::new();
    for c in &r.notable_commands {
        if let Some(l) = &c.lifecycle {
            if !lifecycles.iter().any(|(x, _)| x == l) {
                lifecycles.push((l, &c.command));
            }
        }
    }
    let import_cmds: Vec<&str> = r
        .notable_commands
        .iter()
        .filter(|c| c.lifecycle.is_none() && c.phase == "import")
        .map(|c| c.command.as_str())
        .collect();
    if lifecycles.is_empty() && import_cmds.is_empty() {
        d.push_str(&format!(
            "When `{spec}` is installed, airlock observed no lifecycle script or import-time \
             process of its own; the findings below come from the rest of the trace.\n"
        ));
    } else {
        d.push_str(&format!(
            "The code runs when `{spec}` is installed or imported, with no user action:\n"
        ));
        for (l, cmd) in &lifecycles {
            d.push_str(&format!("- its `{l}` script runs `{}`\n", md_code(cmd)));
        }
        if let Some(first) = import_cmds.first() {
            d.push_str(&format!("- importing it runs `{}`\n", md_code(first)));
        }
    }

    d.push_str(&format!(
        "\nVerdict: {} ({}).\n",
        r.verdict, r.verdict_reason
    ));
    if !r.findings.is_empty() {
        d.push_str("\nWhat it does:\n");
        for f in &r.findings {
            let waived = if f.waived.is_some() { ", waived" } else { "" };
            d.push_str(&format!(
                "- {} ({} {}, {}, rule `{}`{waived})\n",
                f.message,
                f.kind,
                if f.kind == airlock_events::FindingKind::Proof {
                    "of harm"
                } else {
                    "only"
                },
                f.severity,
                f.rule
            ));
            if f.items.len() > 1 {
                for item in &f.items[1..] {
                    d.push_str(&format!("  - {item}\n"));
                }
            }
        }
    }
    if !r.canaries.leaked.is_empty() {
        d.push_str("\nSecrets it stole (planted canaries found in its traffic):\n");
        for l in &r.canaries.leaked {
            d.push_str(&format!(
                "- {} ({}) sent to {}\n",
                l.kind, l.encoding, l.destination
            ));
        }
    }
    if !iocs.domains.is_empty() || !iocs.urls.is_empty() || !iocs.ips.is_empty() {
        d.push_str("\nIndicators of compromise:\n");
        for x in iocs.domains.iter().chain(&iocs.urls).chain(&iocs.ips) {
            d.push_str(&format!("- `{}`\n", md_code(x)));
        }
    }
    if !r.files.written_outside_package.is_empty() {
        d.push_str("\nFiles it writes outside its own directory:\n");
        for f in r.files.written_outside_package.iter().take(20) {
            let sha = f
                .sha256
                .as_ref()
                .map(|s| format!(" (sha256 {s})"))
                .unwrap_or_default();
            d.push_str(&format!("- `{}`{sha}\n", md_code(&f.path)));
        }
    }
    if let Some(sha) = &r.package.sha256 {
        d.push_str(&format!("\nAnalyzed artifact sha256: {sha}\n"));
    }
    d
}

/// Text safe inside a Markdown code span.
fn md_code(s: &str) -> String {
    s.replace('`', "'").replace('\n', " ")
}
